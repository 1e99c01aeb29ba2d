/* test_checker.c - the conservation checker on stores written by hand
 * (real redis-server, no gateway): what it used to miss or mislabel
 * (issue 15, reproduction 6), and the serial index it now verifies. */
#include "settlement/checker.h"
#include "settlement/store.h"
#include "settlement/store_keys.h"
#include "tests/support/redis_harness.h"

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static redis_harness_t *g_redis;
static store_t *g_store;

static void fini(void) {
    store_close(g_store);
    g_store = NULL;
    redis_stop(g_redis);
    g_redis = NULL;
}

TestSuite(checker, .fini = fini, .timeout = 60);

static void start(void) {
    g_redis = redis_start(NULL);
    cr_assert_not_null(g_redis, "redis_start: %s", redis_last_error());
    store_config_t cfg;
    store_config_defaults(&cfg);
    snprintf(cfg.host, sizeof cfg.host, "%s", g_redis->host);
    cfg.port = g_redis->port;
    char err[256] = "";
    g_store = store_open(&cfg, err, sizeof err);
    cr_assert_not_null(g_store, "store_open: %s", err);
}

/* Runs one command given as text (no spaces inside arguments). */
static void cmd(const char *text) {
    redisContext *c = redis_connect(g_redis);
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, text);
    cr_assert(r != NULL && r->type != REDIS_REPLY_ERROR, "%s: %s", text, r != NULL ? r->str : "");
    freeReplyObject(r);
    redisFree(c);
}

/* Puts block CN-TJ|TJ-GT-01|2026|first|last into account acct as a script
 * would (both sorted sets, store_keys.h). */
static void block_add(const char *acct, unsigned first, unsigned last) {
    redisContext *c = redis_connect(g_redis);
    cr_assert_not_null(c);
    char member[96];
    snprintf(member, sizeof member, "2026 CN-TJ %016u %016u TJ-GT-01", first, last);
    redisReply *r = redisCommand(c, "ZADD " STORE_KEY_ACCOUNT_PREFIX "%s" STORE_KEY_ACCOUNT_BLOCKS_SUFFIX " 0 %s",
                                 acct, member);
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    r = redisCommand(c, "ZADD " STORE_KEY_ACCOUNT_PREFIX "%s" STORE_KEY_ACCOUNT_BY_METH_SUFFIX " 0 TJ-GT-01|%s",
                     acct, member);
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    redisFree(c);
}

static checker_report_t *check(int settled_required) {
    checker_region_t reg = {.store = g_store};
    snprintf(reg.region, sizeof reg.region, "CN-TJ");
    checker_report_t *rep = calloc(1, sizeof *rep);
    cr_assert_not_null(rep);
    char err[256] = "";
    cr_assert_eq(checker_run(&reg, 1, settled_required, rep, err, sizeof err), 0, "%s", err);
    return rep;
}

static int has_violation(const checker_report_t *rep, const char *text) {
    for (uint64_t i = 0; i < rep->violations_n && i < CHECKER_VIOLATIONS_MAX; i++)
        if (strstr(rep->violations[i], text) != NULL) return 1;
    return 0;
}

static void dump(const checker_report_t *rep) {
    for (uint64_t i = 0; i < rep->violations_n && i < CHECKER_VIOLATIONS_MAX; i++)
        fprintf(stderr, "  %s\n", rep->violations[i]);
}

/* Three accounts: 1-2000, 1801-1900 and 1950-2100. The overlaps are
 * 1801-1900 and 1950-2000, both with the first account (it used to print
 * "1950-1900" and name the second). The index matches. */
Test(checker, overlaps_are_labelled_by_the_span_that_holds_them) {
    start();
    cmd("SET " STORE_KEY_SERIAL_LAST " 2100");
    block_add("x", 1, 2000);
    block_add("y", 1801, 1900);
    block_add("z", 1950, 2100);
    cmd("ZADD " STORE_KEY_SERIALS_PREFIX "CN-TJ 1 1:2100");
    checker_report_t *rep = check(0);
    dump(rep);
    cr_expect(has_violation(rep, "serials 1801-1900 are in two places: CN-TJ account x and CN-TJ account y"));
    cr_expect(has_violation(rep, "serials 1950-2000 are in two places: CN-TJ account x and CN-TJ account z"));
    cr_expect_eq(rep->violations_n, 2);
    free(rep);
}

/* An ABORTED source leg never acknowledged, whose destination holds no
 * record: with settled_required it is a violation (it used to be skipped). */
Test(checker, an_unacknowledged_abort_without_a_destination_record_is_seen) {
    start();
    cmd("HSET " STORE_KEY_LEG_PREFIX "0123456789abcdef0123456789abcdef" STORE_KEY_LEG_SUFFIX
        " role source state ABORTED peer CN-TJ from a to CN-TJ/b acked 0 blocks CN-TJ|TJ-GT-01|2026|1|10");
    checker_report_t *rep = check(1);
    dump(rep);
    cr_expect(has_violation(rep, "abort not acknowledged at CN-TJ (no record at the destination)"));
    free(rep);
}

/* The serial index must cover exactly what the region holds. */
Test(checker, a_serial_index_that_differs_from_the_holdings_is_a_violation) {
    start();
    cmd("SET " STORE_KEY_SERIAL_LAST " 100");
    block_add("x", 1, 100);
    checker_report_t *rep = check(0);
    cr_expect(has_violation(rep, "serial index does not match what it holds, from CN-TJ serial 1 (held, not indexed)"));
    free(rep);
    cmd("ZADD " STORE_KEY_SERIALS_PREFIX "CN-TJ 1 1:100");
    rep = check(0);
    dump(rep);
    cr_expect_eq(rep->violations_n, 0);
    free(rep);
    cmd("ZADD " STORE_KEY_SERIALS_PREFIX "CN-HE 5 5:9");
    rep = check(0);
    cr_expect(has_violation(rep, "from CN-HE serial 5 (indexed, not held)"));
    free(rep);
}

/* The by-methodology set (what a filtered take reads) must mirror the
 * account's blocks: a member only there is a violation. */
Test(checker, blocks_by_methodology_that_differ_from_the_blocks_are_a_violation) {
    start();
    cmd("SET " STORE_KEY_SERIAL_LAST " 100");
    cmd("ZADD " STORE_KEY_SERIALS_PREFIX "CN-TJ 1 1:100");
    block_add("x", 1, 50);
    block_add("x", 51, 100);
    checker_report_t *rep = check(0);
    dump(rep);
    cr_expect_eq(rep->violations_n, 0);
    free(rep);
    cmd("ZADD " STORE_KEY_ACCOUNT_PREFIX "x" STORE_KEY_ACCOUNT_BY_METH_SUFFIX
        " 0 TJ-GT-01|2026|CN-TJ|0000000000000101");
    rep = check(0);
    dump(rep);
    cr_expect(has_violation(rep, "account x's blocks by methodology are not its blocks"));
    free(rep);
}
