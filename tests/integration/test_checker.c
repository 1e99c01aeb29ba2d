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

static redis_harness_t *g_redis, *g_redis_bj;
static store_t *g_store, *g_store_bj;

static void fini(void) {
    store_close(g_store);
    g_store = NULL;
    redis_stop(g_redis);
    g_redis = NULL;
    store_close(g_store_bj);
    g_store_bj = NULL;
    redis_stop(g_redis_bj);
    g_redis_bj = NULL;
}

TestSuite(checker, .fini = fini, .timeout = 60);

static void start(void) {
    g_redis = redis_start(NULL);
    cr_assert_not_null(g_redis, "redis_start: %s", redis_last_error());
    char err[256] = "";
    g_store = redis_store_open(g_redis, err, sizeof err);
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
 * would (its sorted set, store_keys.h). */
static void block_add_on(redis_harness_t *redis, const char *acct, unsigned first, unsigned last) {
    redisContext *c = redis_connect(redis);
    cr_assert_not_null(c);
    char member[96];
    snprintf(member, sizeof member, "2026 CN-TJ %016u %016u TJ-GT-01", first, last);
    redisReply *r = redisCommand(c, "ZADD " STORE_KEY_ACCOUNT_PREFIX "%s" STORE_KEY_ACCOUNT_BLOCKS_SUFFIX
                                    " 0 TJ-GT-01|%s",
                                 acct, member);
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    redisFree(c);
}

static void block_add(const char *acct, unsigned first, unsigned last) { block_add_on(g_redis, acct, first, last); }

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

/* ZADD key 0 member, as a hand edit would. */
static void zadd_member(const char *key, const char *member) {
    redisContext *c = redis_connect(g_redis);
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, "ZADD %s 0 %s", key, member);
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    redisFree(c);
}

/* Each member of an account's set is its block behind the block's own
 * methodology (what a take of that methodology reads): a member under
 * another methodology, or without one, is a violation; so is a second set
 * of the format before 2026-12-02 that the conversion left. */
Test(checker, a_block_under_another_methodology_or_a_second_set_is_a_violation) {
    start();
    cmd("SET " STORE_KEY_SERIAL_LAST " 100");
    cmd("ZADD " STORE_KEY_SERIALS_PREFIX "CN-TJ 1 1:100");
    block_add("x", 1, 50);
    block_add("x", 51, 100);
    checker_report_t *rep = check(0);
    dump(rep);
    cr_expect_eq(rep->violations_n, 0);
    free(rep);
    zadd_member(STORE_KEY_ACCOUNT_PREFIX "y" STORE_KEY_ACCOUNT_BLOCKS_SUFFIX,
                "TJ-GT-02|2026 CN-TJ 0000000000000101 0000000000000101 TJ-GT-01");
    zadd_member(STORE_KEY_ACCOUNT_PREFIX "z" STORE_KEY_ACCOUNT_BLOCKS_SUFFIX,
                "2026 CN-TJ 0000000000000102 0000000000000102 TJ-GT-01");
    zadd_member(STORE_KEY_ACCOUNT_PREFIX "x" STORE_KEY_ACCOUNT_BY_METH_SUFFIX,
                "TJ-GT-01|2026 CN-TJ 0000000000000001 0000000000000050 TJ-GT-01");
    rep = check(0);
    dump(rep);
    cr_expect(has_violation(rep, "account y has a malformed block 'TJ-GT-02|2026 CN-TJ"));
    cr_expect(has_violation(rep, "account z has a malformed block '2026 CN-TJ"));
    cr_expect(has_violation(rep, "an account's second set of blocks, not folded into its one set"));
    free(rep);
}

/* ---- the origin's map against every region's holdings (issue 15 item 5) ---- */

/* A second store, CN-BJ's. */
static void start_bj(void) {
    g_redis_bj = redis_start(NULL);
    cr_assert_not_null(g_redis_bj, "redis_start: %s", redis_last_error());
    char err[256] = "";
    g_store_bj = redis_store_open(g_redis_bj, err, sizeof err);
    cr_assert_not_null(g_store_bj, "store_open: %s", err);
}

static void cmd_bj(const char *text) {
    redisContext *c = redis_connect(g_redis_bj);
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, text);
    cr_assert(r != NULL && r->type != REDIS_REPLY_ERROR, "%s: %s", text, r != NULL ? r->str : "");
    freeReplyObject(r);
    redisFree(c);
}

static checker_report_t *check_two(int settled_required) {
    checker_region_t reg[2] = {{.store = g_store}, {.store = g_store_bj}};
    snprintf(reg[0].region, sizeof reg[0].region, "CN-TJ");
    snprintf(reg[1].region, sizeof reg[1].region, "CN-BJ");
    checker_report_t *rep = calloc(1, sizeof *rep);
    cr_assert_not_null(rep);
    char err[256] = "";
    cr_assert_eq(checker_run(reg, 2, settled_required, rep, err, sizeof err), 0, "%s", err);
    return rep;
}

#define MAP_LIVE "1001:2000:CN-BJ:at"
#define MAP_RETIRED "2001:2500:CN-BJ:retired"
#define MAP_CANCELLED "2501:3000:CN-BJ:cancelled"

/* TJ issued 1-3000: 1-1000 at home, 1001-2000 live at BJ, 2001-2500 retired
 * and 2501-3000 cancelled there (reported). Consistent: no finding. Then
 * each corruption of TJ's map in Redis is found, with the range and what
 * each side says. */
static void two_regions_consistent(void) {
    start();
    start_bj();
    cmd("SET " STORE_KEY_SERIAL_LAST " 3000");
    block_add("x", 1, 1000);
    cmd("ZADD " STORE_KEY_SERIALS_PREFIX "CN-TJ 1 1:1000");
    cmd("ZADD " STORE_KEY_ORIGIN_MAP " 1001 " MAP_LIVE " 2001 " MAP_RETIRED " 2501 " MAP_CANCELLED);
    block_add_on(g_redis_bj, "y", 1001, 2000);
    cmd_bj("RPUSH " STORE_KEY_RETIRED " 0123456789abcdef0123456789abcdef|CN-TJ|TJ-GT-01|2026|2001|2500");
    cmd_bj("RPUSH " STORE_KEY_CANCELLED " fedcba9876543210fedcba9876543210|CN-TJ|TJ-GT-01|2026|2501|3000");
    cmd_bj("ZADD " STORE_KEY_SERIALS_PREFIX "CN-TJ 1001 1001:3000");
}

Test(checker, the_origin_map_is_checked_against_every_region) {
    two_regions_consistent();
    checker_report_t *rep = check_two(1);
    dump(rep);
    cr_assert_eq(rep->violations_n, 0, "a consistent federation has findings");
    free(rep);

    /* part of the live range placed at another region */
    cmd("ZREM " STORE_KEY_ORIGIN_MAP " " MAP_LIVE);
    cmd("ZADD " STORE_KEY_ORIGIN_MAP " 1001 1001:1800:CN-BJ:at 1801 1801:2000:CN-HE:at");
    rep = check_two(1);
    dump(rep);
    cr_expect(has_violation(rep, "CN-TJ serials 1801-2000: CN-TJ's map places them live at CN-HE, but they are "
                                 "live at CN-BJ (CN-BJ account y)"));
    cr_expect_eq(rep->violations_n, 1);
    free(rep);
    cmd("ZREM " STORE_KEY_ORIGIN_MAP " 1001:1800:CN-BJ:at 1801:2000:CN-HE:at");
    cmd("ZADD " STORE_KEY_ORIGIN_MAP " 1001 " MAP_LIVE);

    /* a retirement the map still places live there: settled, a finding; not
     * settled, a report in flight */
    cmd("ZREM " STORE_KEY_ORIGIN_MAP " " MAP_RETIRED);
    cmd("ZADD " STORE_KEY_ORIGIN_MAP " 2001 2001:2500:CN-BJ:at");
    rep = check_two(1);
    dump(rep);
    cr_expect(has_violation(rep, "CN-TJ serials 2001-2500: CN-TJ's map places them live at CN-BJ, but they are "
                                 "retired at CN-BJ (CN-BJ retired by 0123456789abcdef0123456789abcdef)"));
    cr_expect_eq(rep->violations_n, 1);
    free(rep);
    rep = check_two(0);
    cr_expect_eq(rep->violations_n, 0);
    free(rep);
    cmd("ZREM " STORE_KEY_ORIGIN_MAP " 2001:2500:CN-BJ:at");
    cmd("ZADD " STORE_KEY_ORIGIN_MAP " 2001 " MAP_RETIRED);

    /* an entry lost: the map leaves them at home, where TJ holds nothing */
    cmd("ZREM " STORE_KEY_ORIGIN_MAP " " MAP_CANCELLED);
    rep = check_two(1);
    dump(rep);
    cr_expect(has_violation(rep, "CN-TJ serials 2501-3000: CN-TJ's map places them at home, but they are "
                                 "cancelled at CN-BJ (CN-BJ cancelled by fedcba9876543210fedcba9876543210)"));
    cr_expect(has_violation(rep, "CN-TJ: its index of its own serials and its map disagree from serial 2501 "
                                 "(the map leaves it at home, but it is not indexed there)"));
    free(rep);

    /* an entry for serials BJ does not hold (they are at TJ) */
    cmd("ZADD " STORE_KEY_ORIGIN_MAP " 2501 " MAP_CANCELLED " 1 1:10:CN-BJ:at");
    rep = check_two(1);
    dump(rep);
    cr_expect(has_violation(rep, "CN-TJ serials 1-10: CN-TJ's map places them live at CN-BJ, but CN-BJ does not hold them"));
    cr_expect(has_violation(rep, "CN-TJ serials 1-10: CN-TJ's map places them live at CN-BJ, but they are live at "
                                 "CN-TJ (CN-TJ account x)"));
    free(rep);
    cmd("ZREM " STORE_KEY_ORIGIN_MAP " 1:10:CN-BJ:at");
    cmd("ZADD " STORE_KEY_ORIGIN_MAP " 999999 999999:1000000:CN-BJ:at 2600 2600:2700:CN-HE:lost");
    rep = check_two(1);
    cr_expect(has_violation(rep, "CN-TJ: malformed origin map entry '999999:1000000:CN-BJ:at'"));
    cr_expect(has_violation(rep, "CN-TJ: malformed origin map entry '2600:2700:CN-HE:lost'"));
    cr_expect_eq(rep->violations_n, 2);
    free(rep);
}

/* The same federation, TJ's serials issued as TJ-GT-01 2026 (serial:labels):
 * no finding. A block BJ holds under another vintage, or across two
 * issuances, is a finding; an origin without labels (a store from before
 * them) is not checked so; issued serials no label covers are a finding,
 * and blocks of them are not judged. */
Test(checker, blocks_must_carry_their_origins_labels) {
    two_regions_consistent();
    cmd("ZADD " STORE_KEY_SERIAL_LABELS " 1 1:3000:2026:TJ-GT-01");
    cmd("SET " STORE_KEY_SERIAL_LABELS_BUILT " 1");
    checker_report_t *rep = check_two(1);
    dump(rep);
    cr_assert_eq(rep->violations_n, 0, "honest labels have findings");
    free(rep);

    cmd_bj("LSET " STORE_KEY_RETIRED " 0 0123456789abcdef0123456789abcdef|CN-TJ|TJ-GT-01|2025|2001|2500");
    rep = check_two(1);
    dump(rep);
    cr_expect(has_violation(rep, "CN-TJ serials 2001-2500 (CN-BJ retired by 0123456789abcdef0123456789abcdef) are "
                                 "labelled TJ-GT-01 2025, but CN-TJ has them issued as TJ-GT-01 2026"));
    cr_expect_eq(rep->violations_n, 1);
    free(rep);

    cmd("ZREM " STORE_KEY_SERIAL_LABELS " 1:3000:2026:TJ-GT-01");
    cmd("ZADD " STORE_KEY_SERIAL_LABELS " 1 1:1500:2026:TJ-GT-01 1501 1501:3000:2025:TJ-GT-01");
    rep = check_two(1);
    dump(rep);
    cr_expect(has_violation(rep, "CN-TJ serials 1001-2000 (CN-BJ account y) are labelled TJ-GT-01 2026, but "
                                 "CN-TJ has them not in one issuance"));
    cr_expect(has_violation(rep, "CN-TJ serials 2501-3000 (CN-BJ cancelled by fedcba9876543210fedcba9876543210) are "
                                 "labelled TJ-GT-01 2026, but CN-TJ has them issued as TJ-GT-01 2025"));
    cr_expect_eq(rep->violations_n, 2);
    free(rep);

    /* the same findings without the labels' mark: none */
    cmd("DEL " STORE_KEY_SERIAL_LABELS_BUILT);
    rep = check_two(1);
    cr_expect_eq(rep->violations_n, 0, "labels checked without their mark");
    free(rep);
    cmd("SET " STORE_KEY_SERIAL_LABELS_BUILT " 1");

    /* labels that know only 1-1000 (the rest issued by an older gateway,
     * which writes none): the blocks no label touches are not judged, not
     * even BJ's retirement under 2025, but the serials without labels are
     * a finding of their own */
    cmd("ZREM " STORE_KEY_SERIAL_LABELS " 1:1500:2026:TJ-GT-01 1501:3000:2025:TJ-GT-01");
    cmd("ZADD " STORE_KEY_SERIAL_LABELS " 1 1:1000:2026:TJ-GT-01");
    rep = check_two(1);
    dump(rep);
    cr_expect(has_violation(rep, "CN-TJ: serials 1001-3000 were issued but have no labels (serial:labels): "
                                 "their methodology and vintage are not checked"));
    cr_expect_eq(rep->violations_n, 1, "unlabelled serials judged");
    free(rep);
}
