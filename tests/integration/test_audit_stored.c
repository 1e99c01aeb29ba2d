/* test_audit_stored.c - stored audit entries (packed by Redis's cmsgpack)
 * give exactly the canonical carbon-audit/3 bytes the scripts wrote before
 * (settlement/audit_stored.h), and a damaged packed entry is named.
 *
 * A real redis-server packs each case with cmsgpack.pack, as the prelude's
 * audit() does, and builds beside it the netstrings with the encoder the
 * scripts used until 2026-12-01 (the reference, kept only here); the C side
 * must turn the first into the second, byte for byte. */
#include "settlement/audit.h"
#include "settlement/audit_stored.h"
#include "settlement/ledger.h"
#include "settlement/store.h"
#include "settlement/store_keys.h"
#include "tests/support/redis_harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static redis_harness_t *g_redis;
static redisContext *g_conn;

static void init(void) {
    g_redis = redis_start(NULL);
    cr_assert_not_null(g_redis, "%s", redis_last_error());
    g_conn = redis_connect(g_redis);
    cr_assert_not_null(g_conn);
}

static void fini(void) {
    if (g_conn != NULL) redisFree(g_conn);
    if (g_redis != NULL) redis_stop(g_redis);
}

/* The reference: the netstring encoder of the scripts before packing. The
 * case (a Lua table constructor: seq, now_ms, event, ids, blocks as
 * {origin, meth, vintage, first, last}, details) is returned packed and
 * encoded. */
static const char *REFERENCE =
    "local function fmt_int(n) return string.format('%d', n) end "
    "local function text_field(s) return fmt_int(#s) .. ':' .. s .. ',' end "
    "local function text_fields(list) local t = {} "
    "  for i, s in ipairs(list) do t[i] = text_field(s) end return table.concat(t) end "
    "local c = loadstring('return ' .. ARGV[1])() "
    "local seq, now_ms, event, ids, blocks, details = c[1], c[2], c[3], c[4], c[5], c[6] "
    "local encoded = {} "
    "for i, b in ipairs(blocks) do encoded[i] = text_field(text_field(b[1]) .. text_field(b[2]) .. "
    "  text_field(fmt_int(b[3])) .. text_field(fmt_int(b[4])) .. text_field(fmt_int(b[5]))) end "
    "local entry = text_field('carbon-audit/3') .. text_field(fmt_int(seq)) .. "
    "  text_field(fmt_int(now_ms)) .. text_field(event) .. text_field(text_fields(ids)) .. "
    "  text_field(table.concat(encoded)) .. text_field(text_fields(details)) "
    "return { cmsgpack.pack({ 3, seq, now_ms, event, ids, blocks, details }), entry }";

/* Packs and encodes the case in Redis, converts the packed bytes in C and
 * compares them with the reference encoding. */
static void expect_same(const char *lua_case) {
    redisReply *r = redisCommand(g_conn, "EVAL %s 0 %s", REFERENCE, lua_case);
    cr_assert(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2, "%s: %s", lua_case,
              r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : "no reply");
    const redisReply *packed = r->element[0], *want = r->element[1];
    cr_assert_eq((unsigned char)packed->str[0], 0x97, "%s: not an array of seven", lua_case);
    char *text = NULL, why[160];
    size_t len = 0;
    cr_assert_eq(audit_stored_canonical(packed->str, packed->len, &text, &len, why, sizeof why), 0,
                 "%s: %s", lua_case, why);
    cr_assert_eq(len, want->len, "%s: %zu bytes, the reference %zu", lua_case, len, want->len);
    cr_assert(memcmp(text, want->str, len) == 0, "%s:\n%s\n%s", lua_case, text, want->str);
    free(text);
    freeReplyObject(r);
}

Test(audit_stored, packed_entries_give_the_bytes_the_scripts_wrote_before, .init = init, .fini = fini) {
    expect_same("{1, 1764567890123, 'issue', {'iss-1', 'acct'}, "
                "{{'CN-TJ', 'TJ-GT-01', 2026, 1, 1000}}, {}}");
    expect_same("{7, 0, 'acked', {}, {}, {}}");
    /* free text: separators, NUL and bytes above 127, taken as they are */
    expect_same("{2, 5, 'resolve', {'t'}, {}, {'C', 'spiffe://x/op', 'a reason, with: | and \\0 \\255'}}");
    /* serials up to 2^50, several blocks, the largest sequence numbers */
    expect_same("{9007199254740991, 4102444800000, 'apply', {'tid', 'BJ/a'}, "
                "{{'CN-TJ', 'm', 2100, 1125899906842623, 1125899906842623}, {'CN-HE', 'HE 1', 2000, 0, 9}}, "
                "{'CN-TJ'}}");
    /* texts of 31, 32, 255, 256 and 70,000 bytes: every MessagePack string size */
    expect_same("{3, 3, 'x', {string.rep('a', 31), string.rep('b', 32), string.rep('c', 255), "
                "string.rep('d', 256)}, {}, {string.rep('e', 70000)}}");
    /* a batch entry's 1,000 ids (a MessagePack array16) */
    expect_same("(function() local ids = {} for i = 1, 1000 do ids[i] = 'tid-' .. i end "
                "return {4, 4, 'batch', ids, {}, {'CN-BJ', '17', '1000|5|ab'}} end)()");
}

/* Packs a Lua expression in Redis and returns its bytes (malloc'd, *len). */
static char *packed(const char *lua_expr, size_t *len) {
    char script[512];
    snprintf(script, sizeof script, "return cmsgpack.pack(%s)", lua_expr);
    redisReply *r = redisCommand(g_conn, "EVAL %s 0", script);
    cr_assert(r != NULL && r->type == REDIS_REPLY_STRING, "%s", lua_expr);
    char *bytes = malloc(r->len + 1);
    memcpy(bytes, r->str, r->len);
    *len = r->len;
    freeReplyObject(r);
    return bytes;
}

/* The stored bytes are refused with a reason naming fault, and kept as they
 * are, so that a reader shows the entry as malformed. */
static void expect_refused(const char *bytes, size_t n, const char *fault) {
    char *text = NULL, why[160];
    size_t len = 0;
    cr_assert_eq(audit_stored_canonical(bytes, n, &text, &len, why, sizeof why), -1, "accepted: %s", text);
    cr_assert(strstr(why, fault) != NULL, "why: %s, want %s", why, fault);
    cr_assert_eq(len, n);
    cr_assert(memcmp(text, bytes, n) == 0);
    audit_entry_t e;
    cr_assert_eq(audit_entry_parse(1, text, len, &e, why, sizeof why), -1, "a damaged entry parsed");
    free(text);
}

Test(audit_stored, a_damaged_packed_entry_is_named_and_kept_as_stored, .init = init, .fini = fini) {
    size_t n = 0;
    char *b = packed("{3, 1, 5, 'hold', {'t'}, {}, {}}", &n);
    char *longer = malloc(n + 1);
    memcpy(longer, b, n);
    longer[n] = 'x';
    expect_refused(longer, n + 1, "bytes after the packed entry");
    expect_refused(b, n - 1, "not MessagePack");
    free(longer);
    free(b);
    static const struct {
        const char *lua;
        const char *fault;
    } cases[] = {
        {"{4, 1, 5, 'hold', {'t'}, {}, {}}", "an unknown version"},
        {"{3, 1, 5.5, 'hold', {'t'}, {}, {}}", "a time that is not an integer"},
        {"{3, 1, 5, 'hold', {7}, {}, {}}", "ids that are not a list of texts"},
        {"{3, 1, 5, 'hold', {'t'}, {{'CN-TJ', 'm', 2026, 1}}, {}}", "blocks that are not lists"},
        {"{3, 1, 5, 'hold', {'t'}, {}, {a = 'b'}}", "details that are not a list of texts"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        b = packed(cases[i].lua, &n);
        expect_refused(b, n, cases[i].fault);
        free(b);
    }
}

Test(audit_stored, an_older_gateways_canonical_entry_is_taken_as_it_is, .init = init, .fini = fini) {
    const char *old = "14:carbon-audit/3,1:1,1:5,4:hold,4:1:t,,0:,0:,";
    char *text = NULL, why[160];
    size_t len = 0;
    cr_assert_eq(audit_stored_canonical(old, strlen(old), &text, &len, why, sizeof why), 0, "%s", why);
    cr_assert_str_eq(text, old);
    audit_entry_t e;
    cr_assert_eq(audit_entry_parse(1, text, len, &e, why, sizeof why), 0, "%s", why);
    cr_assert_str_eq(e.event, "hold");
    audit_entry_free(&e);
    free(text);
}

/* The most arguments of any HMGET in the slow log of c (threshold 0): a
 * logged command shows 31 arguments and then "... (N more arguments)". */
static long most_hmget_arguments(redisContext *c) {
    redisReply *r = redisCommand(c, "SLOWLOG GET -1");
    cr_assert(r != NULL && r->type == REDIS_REPLY_ARRAY);
    long most = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *args = r->element[i]->element[3];
        if (strcasecmp(args->element[0]->str, "HMGET") != 0) continue;
        long argc = (long)args->elements;
        const char *last = args->element[args->elements - 1]->str;
        long more = 0;
        if (sscanf(last, "... (%ld more arguments)", &more) == 1) argc = 31 + more;
        if (argc > most) most = argc;
    }
    freeReplyObject(r);
    return most;
}

/* A long read is made of short commands: one HMGET of thousands of entries
 * held the region's every settlement step behind it for up to 35 ms (issue
 * 16). Entries across the steps' edges come back as they are stored: packed,
 * an older gateway's canonical one, a damaged one, a missing one. */
Test(audit_stored, a_long_read_is_made_of_short_commands, .init = init, .fini = fini) {
    enum { N = 3 * AUDIT_STORED_STEP_MAX + 5, MISSING = AUDIT_STORED_STEP_MAX + 1,
           DAMAGED = 2 * AUDIT_STORED_STEP_MAX, OLDER = 2 * AUDIT_STORED_STEP_MAX + 1 };
    char script[512];
    snprintf(script, sizeof script,
             "for i = 1, tonumber(ARGV[1]) do if i ~= tonumber(ARGV[2]) then "
             "local v = 3 if tonumber(ARGV[3]) == i then v = 4 end "
             "redis.call('HSET', '%s', i, cmsgpack.pack({v, i, 1000 + i, 'hold', {'t' .. i}, {}, {}})) "
             "end end return 1", STORE_KEY_LOG_PACKED);
    redisReply *r = redisCommand(g_conn, "EVAL %s 0 %d %d %d", script, N, MISSING, DAMAGED);
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER, "%s", r != NULL && r->str ? r->str : "");
    freeReplyObject(r);
    const char *older = "14:carbon-audit/3,3:513,1:5,4:hold,4:1:t,,0:,0:,";
    r = redisCommand(g_conn, "HSET %s %d %s", STORE_KEY_LOG_ENTRIES, OLDER, older);
    freeReplyObject(r);
    char err[256] = "";
    store_t *st = redis_store_open(g_redis, err, sizeof err);
    cr_assert_not_null(st, "%s", err);
    freeReplyObject(redisCommand(g_conn, "CONFIG SET slowlog-max-len 100000"));
    freeReplyObject(redisCommand(g_conn, "SLOWLOG RESET"));
    freeReplyObject(redisCommand(g_conn, "CONFIG SET slowlog-log-slower-than 0"));
    char *out[N];
    size_t lens[N];
    int damaged[N];
    cr_assert_eq(audit_stored_read(st, 1, N, out, lens, damaged, err, sizeof err), LEDGER_OK, "%s", err);
    freeReplyObject(redisCommand(g_conn, "CONFIG SET slowlog-log-slower-than 10000"));
    long most = most_hmget_arguments(g_conn);
    cr_expect_eq(most, 2 + AUDIT_STORED_STEP_MAX, "an HMGET of %ld arguments (HMGET, the key and %d entries "
                 "at most)", most, AUDIT_STORED_STEP_MAX);
    for (int i = 0; i < N; i++) {
        int seq = i + 1;
        if (seq == MISSING) {
            cr_expect_null(out[i], "entry %d is not stored", seq);
            continue;
        }
        cr_assert_not_null(out[i], "entry %d", seq);
        cr_expect_eq(damaged[i], seq == DAMAGED, "entry %d damaged %d", seq, damaged[i]);
        if (seq == OLDER) {
            cr_expect_str_eq(out[i], older);
        } else if (seq != DAMAGED) {
            audit_entry_t e;
            char why[160];
            cr_assert_eq(audit_entry_parse((uint64_t)seq, out[i], lens[i], &e, why, sizeof why), 0,
                         "entry %d: %s", seq, why);
            cr_expect_eq(e.time_ms, 1000u + (uint64_t)seq, "entry %d", seq);
            audit_entry_free(&e);
        }
        free(out[i]);
    }
    store_close(st);
}
