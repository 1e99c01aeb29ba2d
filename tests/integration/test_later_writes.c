/* test_later_writes.c - the prelude's deferred writes (with_later and
 * friends, settlement/scripts/_prelude.lua): a batch script's writes to the
 * keys every leg shares are made at the end of the batch, one command per
 * key, and come out as the same writes made one by one would have left the
 * store: same members, same order, the same audit entries under the same
 * sequence numbers. When the batch fails half-way, what its legs wrote
 * before the failure is kept, entries included.
 *
 * A real redis-server runs tests/support/scripts/later_test.lua, which is
 * the settlement prelude and a few lines; the state is read back directly. */
#include "common/carbon_assert.h"
#include "settlement/audit.h"
#include "settlement/ledger.h"
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
    g_script = store_script_find(g_fx.store, "later_test");
    cr_assert_geq(g_script, 0, "later_test.lua is not loaded");
}

static void fini(void) { redis_fixture_stop(&g_fx); }

/* Runs later_test.lua with mode, legs and fail_after; STORE_OK or the
 * store's error (its message in err). */
static int later_run(const char *mode, const char *legs, const char *fail_after, redisReply **r, char *err,
                     size_t errlen) {
    const char *argv[] = {"t:set", "t:list", "t:hash", mode, legs, fail_after};
    return store_eval(g_fx.store, g_script, 3, 6, argv, NULL, r, err, errlen);
}

static long long redis_int(const char *fmt, const char *key) {
    redisReply *r = redisCommand(g_fx.conn, fmt, key);
    cr_assert(r != NULL && (r->type == REDIS_REPLY_INTEGER || r->type == REDIS_REPLY_STRING ||
                            r->type == REDIS_REPLY_NIL));
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : r->type == REDIS_REPLY_STRING ? atoll(r->str) : -1;
    freeReplyObject(r);
    return v;
}

/* The members of the set (in score order) or the list, joined by ','. */
static void redis_members(const char *cmd, const char *key, char *out, size_t size) {
    CARBON_ASSERT(size >= 1);
    redisReply *r = redisCommand(g_fx.conn, "%s %s 0 -1", cmd, key);
    cr_assert(r != NULL && r->type == REDIS_REPLY_ARRAY);
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < r->elements; i++)
        used += (size_t)snprintf(out + used, size - used, "%s%s", i ? "," : "", r->element[i]->str);
    cr_assert_lt(used, size);
    freeReplyObject(r);
}

/* The set and the list hold the legs' numbers joined by ',' (want), the
 * feed one entry per leg, and its counter the number of legs (n). */
static void expect_legs_written(const char *want, const char *feed, long long n) {
    char got[256];
    redis_members("ZRANGE", "t:set", got, sizeof got);
    cr_expect_str_eq(got, want);
    redis_members("LRANGE", "t:list", got, sizeof got);
    cr_expect_str_eq(got, want);
    redis_members("ZRANGE", STORE_KEY_FEED, got, sizeof got);
    cr_expect_str_eq(got, feed);
    cr_expect_eq(redis_int("GET %s", STORE_KEY_FEED_SEQ), n);
}

/* The audit log holds entries 1..n, entry k being the 'later-test' entry of
 * leg k (ids: its number), and nothing after. */
static void expect_log_of_legs(long long n) {
    cr_assert_eq(redis_int("GET %s", STORE_KEY_LOG_SIZE), n, "the log's size");
    cr_assert_eq(redis_int("HLEN %s", STORE_KEY_LOG_PACKED), n, "entries stored");
    audit_entry_t *entries = NULL;
    size_t got = 0;
    char err[256] = "";
    cr_assert_eq(audit_read(g_fx.store, 1, (size_t)n + 1, &entries, &got, err, sizeof err), LEDGER_OK, "%s", err);
    cr_assert_eq(got, (size_t)n);
    for (size_t k = 0; k < got; k++) {
        char want[24];
        snprintf(want, sizeof want, "%zu", k + 1);
        cr_expect_eq(entries[k].seq, k + 1);
        cr_expect_str_eq(entries[k].event, "later-test");
        cr_expect(entries[k].ids_n == 1 && strcmp(entries[k].ids[0], want) == 0, "entry %zu is not leg %s", k + 1,
                  want);
        audit_entry_free(&entries[k]);
    }
    free(entries);
}

TestSuite(later_writes, .init = init, .fini = fini, .timeout = 60);

Test(later_writes, a_batch_leaves_what_writes_one_by_one_leave) {
    redisReply *cnt = redisCommand(g_fx.conn, "HSET t:hash f 3");
    freeReplyObject(cnt);
    redisReply *r = NULL;
    char err[256] = "";
    cr_assert_eq(later_run("legs", "5", "0", &r, err, sizeof err), STORE_OK, "%s", err);
    cr_assert_eq(r->elements, 5);
    for (size_t i = 0; i < 5; i++) cr_expect_eq(r->element[i]->integer, (long long)i + 1, "the seq of leg %zu", i + 1);
    freeReplyObject(r);
    expect_legs_written("1,2,3,4,5", "T:1,T:2,T:3,T:4,T:5", 5);
    /* five decrements of 3, each floored at 0 */
    cr_expect_eq(redis_int("HGET %s f", "t:hash"), 0);
    expect_log_of_legs(5);
    /* a second batch numbers on from the first */
    cr_assert_eq(later_run("legs", "2", "0", &r, err, sizeof err), STORE_OK, "%s", err);
    cr_expect_eq(r->element[0]->integer, 6);
    freeReplyObject(r);
    cr_expect_eq(redis_int("GET %s", STORE_KEY_LOG_SIZE), 7);
    cr_expect_eq(redis_int("GET %s", STORE_KEY_FEED_SEQ), 7);
}

Test(later_writes, writes_to_one_key_keep_their_order) {
    redisReply *r = NULL;
    char err[256] = "";
    cr_assert_eq(later_run("order", "0", "0", &r, err, sizeof err), STORE_OK, "%s", err);
    freeReplyObject(r);
    char got[256];
    redis_members("ZRANGE", "t:set", got, sizeof got);
    cr_expect_str_eq(got, "b", "ZADD a, ZREM a, ZADD b");
    redis_members("LRANGE", "t:list", got, sizeof got);
    cr_expect_str_eq(got, "y", "RPUSH x, LREM x, RPUSH y");
}

Test(later_writes, a_batch_failing_half_way_keeps_the_legs_before_with_their_entries) {
    redisReply *r = NULL;
    char err[256] = "";
    cr_assert_eq(later_run("fail", "5", "3", &r, err, sizeof err), STORE_ESCRIPT);
    cr_expect(strstr(err, "failing after leg 3") != NULL, "%s", err);
    expect_legs_written("1,2,3", "T:1,T:2,T:3", 3);
    expect_log_of_legs(3);
}

Test(later_writes, nesting_is_refused) {
    redisReply *r = NULL;
    char err[256] = "";
    cr_assert_eq(later_run("nested", "0", "0", &r, err, sizeof err), STORE_ESCRIPT);
    cr_expect(strstr(err, "with_later does not nest") != NULL, "%s", err);
}

Test(later_writes, a_command_refused_mid_leg_keeps_what_was_written_before_it) {
    redisReply *cnt = redisCommand(g_fx.conn, "HSET t:hash f 9");
    freeReplyObject(cnt);
    redisReply *r = NULL;
    char err[256] = "";
    cr_assert_eq(later_run("fail_call", "5", "2", &r, err, sizeof err), STORE_ESCRIPT);
    cr_expect(strstr(err, "WRONGTYPE") != NULL, "Redis's own error is the one raised: %s", err);
    char got[256];
    /* leg 3 added itself to the set before the refused command, as an
     * immediate ZADD would have; the rest of leg 3 never ran */
    redis_members("ZRANGE", "t:set", got, sizeof got);
    cr_expect_str_eq(got, "1,2,3");
    redis_members("LRANGE", "t:list", got, sizeof got);
    cr_expect_str_eq(got, "1,2");
    cr_expect_eq(redis_int("HGET %s f", "t:hash"), 7, "two decrements made");
    expect_log_of_legs(2);
}

Test(later_writes, a_batch_longer_than_one_command_is_written_whole) {
    redisReply *r = NULL;
    char err[256] = "";
    /* 700 legs: 1,400 arguments to ZADD and to the log's HSET, more than one command takes */
    cr_assert_eq(later_run("legs", "700", "0", &r, err, sizeof err), STORE_OK, "%s", err);
    cr_assert_eq(r->elements, 700);
    cr_expect_eq(r->element[699]->integer, 700);
    freeReplyObject(r);
    cr_expect_eq(redis_int("ZCARD %s", "t:set"), 700);
    cr_expect_eq(redis_int("LLEN %s", "t:list"), 700);
    cr_expect_eq(redis_int("ZCARD %s", STORE_KEY_FEED), 700);
    redisReply *first = redisCommand(g_fx.conn, "LINDEX t:list 0"), *last = redisCommand(g_fx.conn, "LINDEX t:list -1");
    cr_expect(first != NULL && last != NULL && strcmp(first->str, "1") == 0 && strcmp(last->str, "700") == 0,
              "the list keeps the legs' order");
    freeReplyObject(first);
    freeReplyObject(last);
    cr_expect_eq(redis_int("GET %s", STORE_KEY_LOG_SIZE), 700);
    cr_expect_eq(redis_int("HLEN %s", STORE_KEY_LOG_PACKED), 700);
}

Test(later_writes, a_log_size_that_is_not_a_counter_numbers_no_entry) {
    redisReply *set = redisCommand(g_fx.conn, "SET %s 1e3", STORE_KEY_LOG_SIZE);
    freeReplyObject(set);
    redisReply *r = NULL;
    char err[256] = "";
    cr_assert_eq(later_run("legs", "3", "0", &r, err, sizeof err), STORE_ESCRIPT);
    cr_expect(strstr(err, "is not a counter") != NULL, "%s", err);
    cr_expect_eq(redis_int("HLEN %s", STORE_KEY_LOG_PACKED), 0, "no entry numbered from a guess");
    redisReply *size = redisCommand(g_fx.conn, "GET %s", STORE_KEY_LOG_SIZE);
    cr_expect(size != NULL && size->type == REDIS_REPLY_STRING && strcmp(size->str, "1e3") == 0);
    freeReplyObject(size);
}
