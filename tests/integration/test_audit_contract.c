/* test_audit_contract.c - the prelude's audit() (settlement/scripts/
 * _prelude.lua) writes an entry only from texts and integers: an id or a
 * detail that is not a text, an event that is not one, a number that is not
 * an integer (a text of digits, a fraction, NaN, an infinity), a block
 * without its origin or methodology, details that are not a list. Each is
 * refused before the entry takes a sequence number, so the log is as it
 * was; a good entry is packed exactly as cmsgpack packs its fields, and a
 * list is taken up to its first hole. Its checks make no call into C
 * (issue 16); this pins the contract they keep.
 *
 * A real redis-server runs tests/support/scripts/audit_contract_test.lua,
 * the settlement prelude and a few lines; the log is read back directly. */
#include "settlement/store.h"
#include "settlement/store_keys.h"
#include "tests/support/redis_harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static redis_fixture_t g_fx;
static int g_script;

static void init(void) {
    cr_assert_eq(redis_fixture_start(&g_fx, 1), 0, "%s", redis_last_error());
    g_script = store_script_find(g_fx.store, "audit_contract_test");
    cr_assert_geq(g_script, 0, "audit_contract_test.lua is not loaded");
}

static void fini(void) { redis_fixture_stop(&g_fx); }

TestSuite(audit_contract, .init = init, .fini = fini, .timeout = 60);

#define BLOCK "{ origin = 'CN-TJ', meth = 'M', vintage = 2024, first = 1, last = 10 }"

/* Calls audit with the arguments args (a Lua expression list); the seq on
 * success, -1 on a refusal with its message in err. */
static long long call_audit(const char *args, char *err, size_t errlen) {
    const char *argv[] = {args};
    redisReply *r = NULL;
    err[0] = '\0';
    int st = store_eval(g_fx.store, g_script, 0, 1, argv, NULL, &r, err, errlen);
    long long seq = -1;
    if (st == STORE_OK) {
        cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER, "%s: not a seq", args);
        seq = r->integer;
    }
    if (r != NULL) freeReplyObject(r);
    return seq;
}

/* The log's size (0 if never written) and its number of packed entries. */
static long long log_size(void) {
    redisReply *r = redisCommand(g_fx.conn, "GET %s", STORE_KEY_LOG_SIZE);
    cr_assert(r != NULL && (r->type == REDIS_REPLY_NIL || r->type == REDIS_REPLY_STRING));
    long long n = r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
    freeReplyObject(r);
    r = redisCommand(g_fx.conn, "HLEN %s", STORE_KEY_LOG_PACKED);
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER);
    cr_assert_eq(r->integer, n, "log:packed holds %lld entries, log:size says %lld", r->integer, n);
    freeReplyObject(r);
    return n;
}

/* audit refuses args, with a message containing want ("" for Lua's own),
 * and the log is as it was. */
static void expect_refused(const char *args, const char *want) {
    char err[512];
    long long before = log_size();
    cr_expect_eq(call_audit(args, err, sizeof err), -1, "audit took %s", args);
    cr_expect(strstr(err, want) != NULL, "the refusal of %s: %s", args, err);
    cr_expect_eq(log_size(), before, "the log after refusing %s", args);
}

/* The entry stored under seq equals cmsgpack.pack(fields), fields a Lua table constructor. */
static void expect_packed(long long seq, const char *fields) {
    char script[1024];
    snprintf(script, sizeof script, "return redis.call('HGET', KEYS[1], ARGV[1]) == cmsgpack.pack(%s) and 1 or 0",
             fields);
    char seq_text[24];
    snprintf(seq_text, sizeof seq_text, "%lld", seq);
    redisReply *r = redisCommand(g_fx.conn, "EVAL %s 1 %s %s", script, STORE_KEY_LOG_PACKED, seq_text);
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER, "%s", r != NULL && r->str != NULL ? r->str : "no reply");
    cr_expect_eq(r->integer, 1, "entry %lld is not %s", seq, fields);
    freeReplyObject(r);
}

Test(audit_contract, a_good_entry_is_packed_as_cmsgpack_packs_its_fields) {
    char err[512];
    long long seq = call_audit("1700000000000, 'hold', { 't1', 'a1', 'b1' }, { " BLOCK " }, { 'x' }", err,
                               sizeof err);
    cr_assert_eq(seq, 1, "%s", err);
    expect_packed(1, "{ 3, 1, 1700000000000, 'hold', { 't1', 'a1', 'b1' }, { { 'CN-TJ', 'M', 2024, 1, 10 } }, "
                     "{ 'x' } }");
    cr_expect_eq(log_size(), 1);
}

Test(audit_contract, a_list_is_taken_up_to_its_first_hole) {
    char err[512];
    long long seq = call_audit("5, 'acked', { 'a', nil, 'c' }, {}, {}", err, sizeof err);
    cr_assert_eq(seq, 1, "%s", err);
    expect_packed(1, "{ 3, 1, 5, 'acked', { 'a' }, {}, {} }");
}

Test(audit_contract, ids_and_details_must_be_texts) {
    expect_refused("1, 'hold', { 't1', 5 }, {}, {}", "must be texts");
    expect_refused("1, 'hold', { 't1' }, {}, { 7 }", "must be texts");
    expect_refused("1, 'hold', { 't1', {} }, {}, {}", "");
    expect_refused("1, 'hold', { 't1' }, {}, { true }", "");
    expect_refused("1, 'hold', { 't1' }, {}, 'x'", "details must be a list");
    /* a text indexes as a list of nothing (its metatable): refused, not logged with no ids */
    expect_refused("1, 'hold', 't1', {}, {}", "ids must be a list");
}

Test(audit_contract, the_event_must_be_a_text) {
    expect_refused("1, 5, { 't1' }, {}, {}", "the event must be a text");
    expect_refused("1, nil, { 't1' }, {}, {}", "the event must be a text");
    expect_refused("1, {}, { 't1' }, {}, {}", "");
}

Test(audit_contract, numbers_must_be_integers) {
    expect_refused("'5', 'hold', { 't1' }, {}, {}", "must be integers");
    expect_refused("1.5, 'hold', { 't1' }, {}, {}", "must be integers");
    expect_refused("0/0, 'hold', { 't1' }, {}, {}", "must be integers");
    expect_refused("1/0, 'hold', { 't1' }, {}, {}", "must be integers");
    expect_refused("'x', 'hold', { 't1' }, {}, {}", "");
    expect_refused("1, 'hold', { 't1' }, { { origin = 'CN-TJ', meth = 'M', vintage = '2024', first = 1, last = 10 } }, {}",
                   "must be integers");
    expect_refused("1, 'hold', { 't1' }, { { origin = 'CN-TJ', meth = 'M', vintage = 2024, first = 1.5, last = 10 } }, {}",
                   "must be integers");
    expect_refused("1, 'hold', { 't1' }, { { origin = 'CN-TJ', meth = 'M', vintage = 2024, first = 1, last = 1/0 } }, {}",
                   "must be integers");
}

Test(audit_contract, a_block_needs_its_origin_and_methodology_as_texts) {
    expect_refused("1, 'hold', { 't1' }, { { meth = 'M', vintage = 2024, first = 1, last = 10 } }, {}",
                   "without its origin or methodology");
    expect_refused("1, 'hold', { 't1' }, { { origin = 'CN-TJ', vintage = 2024, first = 1, last = 10 } }, {}",
                   "without its origin or methodology");
    expect_refused("1, 'hold', { 't1' }, { { origin = 'CN-TJ', meth = 7, vintage = 2024, first = 1, last = 10 } }, {}",
                   "without its origin or methodology");
    /* a good block after a bad one: still nothing written */
    expect_refused("1, 'hold', { 't1' }, { " BLOCK ", { origin = 5, meth = 'M', vintage = 2024, first = 11, "
                   "last = 12 } }, {}",
                   "without its origin or methodology");
}
