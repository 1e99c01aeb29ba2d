/* test_source_ack.c - the source's record of its participants'
 * acknowledgements (settlement/scripts/source_ack.lua, DESIGN §6 step 6).
 *
 * A leg of third-region serials has two participants to acknowledge its
 * decision: the destination and the serials' origin. Their answers reach the
 * source on different threads (the decider's phase two and recovery's
 * re-send), and each thread takes its time (ledger_now_ms) before its store
 * call runs. The fault run (seed 1883407579639837) found the interleaving
 * tested here: recovery recorded the destination's answer with a later time,
 * then the decider's call, timed 20 ms earlier, recorded the origin's and
 * wrote the leg's 'acked' entry with its own earlier time, so that the
 * entry said the leg was done before the destination had applied the
 * decision. The trace check (OPT_ACK) refused the log.
 *
 * A real redis-server runs the real scripts; the leg is written as
 * source_decide.lua leaves a committed one, and the entries are read back. */
#include "common/carbon_assert.h"
#include "settlement/audit.h"
#include "settlement/ledger.h"
#include "settlement/store.h"
#include "settlement/store_keys.h"
#include "tests/support/redis_harness.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TID "0123456789abcdef0123456789abcdef"
#define DEST "CN-TJ"
#define ORIGIN "CN-HE"

static redis_harness_t *g_redis;
static redisContext *g_conn;
static store_t *g_store;

static void init(void) {
    g_redis = redis_start(NULL);
    cr_assert_not_null(g_redis, "%s", redis_last_error());
    g_conn = redis_connect(g_redis);
    cr_assert_not_null(g_conn);
    char err[256] = "";
    g_store = redis_store_open(g_redis, err, sizeof err);
    cr_assert_not_null(g_store, "%s", err);
}

static void fini(void) {
    if (g_store != NULL) store_close(g_store);
    if (g_conn != NULL) redisFree(g_conn);
    if (g_redis != NULL) redis_stop(g_redis);
}

/* Runs the command (hiredis's format) and checks it did not fail. */
static void redis_ok(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(g_conn, fmt, ap);
    va_end(ap);
    cr_assert(r != NULL && r->type != REDIS_REPLY_ERROR, "%s: %s", fmt, r != NULL ? r->str : "no reply");
    freeReplyObject(r);
}

/* A source leg committed at 1000 ms towards DEST, listed where
 * source_decide.lua lists one; with_origin: its serials are ORIGIN's, so
 * that both must acknowledge it. */
static void committed_leg(int with_origin) {
    const char *origin = with_origin ? ORIGIN : "";
    redis_ok("HSET " STORE_KEY_LEG_PREFIX "%s" STORE_KEY_LEG_SUFFIX " role source state COMMITTED peer %s "
             "decided_ms 1000 origins %s", TID, DEST, origin);
    redis_ok("HSET " STORE_KEY_LEG_PREFIX "%s" STORE_KEY_LEG_SUFFIX " origins_unacked %s", TID, origin);
    redis_ok("ZADD " STORE_KEY_LEGS_OPEN " 1000 %s", TID);
    redis_ok("ZADD " STORE_KEY_LEGS_UNACKED_PREFIX DEST " 1000 %s", TID);
    if (with_origin) redis_ok("ZADD " STORE_KEY_LEGS_UNACKED_PREFIX ORIGIN " 1000 %s", TID);
}

/* participant (DEST or ORIGIN) acknowledges the leg's decision; the
 * caller took its time at now_ms. */
static void ack(const char *participant, uint64_t now_ms) {
    const char *tids[] = {TID};
    char err[256] = "";
    cr_assert_eq(ledger_source_ack(g_store, participant, tids, 1, now_ms, err, sizeof err), LEDGER_OK, "%s", err);
}

/* Whether the leg is listed in the sorted set key. */
static int listed(const char *key) {
    redisReply *r = redisCommand(g_conn, "ZSCORE %s %s", key, TID);
    cr_assert(r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL));
    int present = r->type == REDIS_REPLY_STRING;
    freeReplyObject(r);
    return present;
}

/* The log holds exactly the n entries want[] ("event@time_ms"), each of
 * the leg, and the leg is done: out of every recovery list. */
static void expect_log_and_done(const char *const *want, size_t n) {
    audit_entry_t *entries = NULL;
    size_t got = 0;
    char err[256] = "";
    cr_assert_eq(audit_read(g_store, 1, 16, &entries, &got, err, sizeof err), LEDGER_OK, "%s", err);
    cr_assert_eq(got, n, "%zu entries, not %zu", got, n);
    for (size_t i = 0; i < got; i++) {
        char have[64];
        snprintf(have, sizeof have, "%s@%llu", entries[i].event, (unsigned long long)entries[i].time_ms);
        cr_expect_str_eq(have, want[i], "entry %zu", i + 1);
        cr_expect(audit_entry_has_id(&entries[i], TID), "entry %zu is not of the leg", i + 1);
        audit_entry_free(&entries[i]);
    }
    free(entries);
    cr_expect_not(listed(STORE_KEY_LEGS_OPEN), "the leg is still open");
    cr_expect_not(listed(STORE_KEY_LEGS_UNACKED_PREFIX DEST), "still waits for " DEST);
    cr_expect_not(listed(STORE_KEY_LEGS_UNACKED_PREFIX ORIGIN), "still waits for " ORIGIN);
}

TestSuite(source_ack, .init = init, .fini = fini, .timeout = 60);

/* The interleaving the fault run found: the destination's answer recorded
 * first, timed 2000; the origin's last, by a call timed 1500 before the
 * first ran. The leg was done no earlier than 2000. Fails before acks_ms
 * (the entry said 1500). */
Test(source_ack, the_done_entry_is_not_earlier_than_an_acknowledgement_recorded_before_it) {
    committed_leg(1);
    ack(DEST, 2000);
    audit_entry_t *entries = NULL;
    size_t got = 0;
    char err[256] = "";
    cr_assert_eq(audit_read(g_store, 1, 16, &entries, &got, err, sizeof err), LEDGER_OK, "%s", err);
    cr_assert_eq(got, 0, "the destination alone does not finish the leg");
    free(entries);
    cr_expect(listed(STORE_KEY_LEGS_OPEN) && listed(STORE_KEY_LEGS_UNACKED_PREFIX ORIGIN));
    ack(ORIGIN, 1500);
    const char *want[] = {"origin-acked@1500", "acked@2000"};
    expect_log_and_done(want, 2);
}

/* The same with the roles swapped: the origin's answer timed 3000 first,
 * the destination's last by a call timed 2500. */
Test(source_ack, the_origins_later_time_dates_the_done_entry) {
    committed_leg(1);
    ack(ORIGIN, 3000);
    ack(DEST, 2500);
    const char *want[] = {"origin-acked@3000", "acked@3000"};
    expect_log_and_done(want, 2);
}

/* In order, the last call's own time dates the entry. */
Test(source_ack, in_order_the_last_acknowledgement_dates_the_done_entry) {
    committed_leg(1);
    ack(ORIGIN, 1500);
    ack(DEST, 2000);
    const char *want[] = {"origin-acked@1500", "acked@2000"};
    expect_log_and_done(want, 2);
}

/* A leg with no third-region serials is done in one call, timed by it, and
 * a second acknowledgement changes nothing. */
Test(source_ack, a_leg_of_one_participant_is_done_at_its_answer_and_once) {
    committed_leg(0);
    ack(DEST, 1200);
    ack(DEST, 5000);
    const char *want[] = {"acked@1200"};
    expect_log_and_done(want, 1);
}
