/* test_entry_times.c - an audit entry is never dated before what it records
 * (docs/audit-log.md §1: time_ms).
 *
 * A gateway takes its time (ledger_now_ms) before its store call runs, and
 * calls of two threads may land in the other order. Where a step sums up
 * what other calls recorded, its entry takes the latest of their times:
 *   - the source's 'acked' (settlement/scripts/source_ack.lua): a leg of
 *     third-region serials is acknowledged by its destination and by the
 *     serials' origin, on different threads (the decider's phase two and
 *     recovery's re-send). The fault run (seed 1883407579639837) found
 *     recovery recording the destination's answer with a later time, then
 *     the decider's call, timed 20 ms earlier, recording the origin's and
 *     writing 'acked' with its own earlier time: the entry said the leg was
 *     done before the destination had applied the decision, and the trace
 *     check (OPT_ACK) refused the log;
 *   - the destination's 'heuristic' settlement (dest_decide.lua): the
 *     coordinator's decision settling an operator's forced one.
 * A destination that answered HEURISTIC_MIXED did not apply the decision,
 * so its leg is done without an 'acked' entry.
 *
 * A real redis-server runs the real scripts; each leg is written as the
 * step before leaves it, and the entries are read back. */
#include "common/carbon_assert.h"
#include "settlement/audit.h"
#include "settlement/heuristic.h"
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
#define TID2 "fedcba9876543210fedcba9876543210"
#define DEST "CN-TJ"
#define ORIGIN "CN-HE"
#define ENTRIES_MAX 16

static redis_fixture_t g_fx;

static void init(void) { cr_assert_eq(redis_fixture_start(&g_fx, 0), 0, "%s", redis_last_error()); }

static void fini(void) { redis_fixture_stop(&g_fx); }

/* Runs the command (hiredis's format) and checks it did not fail. */
static void redis_ok(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(g_fx.conn, fmt, ap);
    va_end(ap);
    cr_assert(r != NULL && r->type != REDIS_REPLY_ERROR, "%s: %s", fmt, r != NULL ? r->str : "no reply");
    freeReplyObject(r);
}

/* Source leg tid committed at 1000 ms towards DEST, listed where
 * source_decide.lua lists one; with_origin: its serials are ORIGIN's, so
 * that both must acknowledge it. */
static void committed_leg(const char *tid, int with_origin) {
    const char *origin = with_origin ? ORIGIN : "";
    redis_ok("HSET " STORE_KEY_LEG_PREFIX "%s" STORE_KEY_LEG_SUFFIX " role source state COMMITTED peer %s "
             "from acct decided_ms 1000 origins %s origins_unacked %s", tid, DEST, origin, origin);
    redis_ok("ZADD " STORE_KEY_LEGS_OPEN " 1000 %s", tid);
    redis_ok("ZADD " STORE_KEY_LEGS_UNACKED_PREFIX DEST " 1000 %s", tid);
    if (with_origin) redis_ok("ZADD " STORE_KEY_LEGS_UNACKED_PREFIX ORIGIN " 1000 %s", tid);
}

/* participant (DEST, ORIGIN, or "": the destination of each leg)
 * acknowledges the decisions of the n legs tids; the caller took its time
 * at now_ms. */
static void ack_legs(const char *participant, const char *const *tids, size_t n, uint64_t now_ms) {
    char err[256] = "";
    cr_assert_eq(ledger_source_ack(g_fx.store, participant, tids, n, now_ms, err, sizeof err), LEDGER_OK, "%s", err);
}

static void ack(const char *participant, uint64_t now_ms) {
    const char *tids[] = {TID};
    ack_legs(participant, tids, 1, now_ms);
}

/* Whether tid is listed in the sorted set key. */
static int listed(const char *key, const char *tid) {
    redisReply *r = redisCommand(g_fx.conn, "ZSCORE %s %s", key, tid);
    cr_assert(r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL));
    int present = r->type == REDIS_REPLY_STRING;
    freeReplyObject(r);
    return present;
}

/* The log holds exactly the n entries want[], each "event@time_ms:ids"
 * (its ids joined by ','). */
static void expect_log(const char *const *want, size_t n) {
    audit_entry_t *entries = NULL;
    size_t got = 0;
    char err[256] = "";
    cr_assert_eq(audit_read(g_fx.store, 1, ENTRIES_MAX, &entries, &got, err, sizeof err), LEDGER_OK, "%s", err);
    cr_expect_eq(got, n, "%zu entries, not %zu", got, n);
    for (size_t i = 0; i < got; i++) {
        char have[160];
        size_t used = (size_t)snprintf(have, sizeof have, "%s@%llu:", entries[i].event,
                                       (unsigned long long)entries[i].time_ms);
        for (size_t k = 0; k < entries[i].ids_n && used < sizeof have; k++)
            used += (size_t)snprintf(have + used, sizeof have - used, "%s%s", k ? "," : "", entries[i].ids[k]);
        if (i < n) cr_expect_str_eq(have, want[i], "entry %zu", i + 1);
        audit_entry_free(&entries[i]);
    }
    free(entries);
}

/* The source leg tid is done: out of every recovery list. */
static void expect_done(const char *tid) {
    cr_expect_not(listed(STORE_KEY_LEGS_OPEN, tid), "%s is still open", tid);
    cr_expect_not(listed(STORE_KEY_LEGS_UNACKED_PREFIX DEST, tid), "%s still waits for " DEST, tid);
    cr_expect_not(listed(STORE_KEY_LEGS_UNACKED_PREFIX ORIGIN, tid), "%s still waits for " ORIGIN, tid);
}

TestSuite(entry_times, .init = init, .fini = fini, .timeout = 60);

/* The interleaving the fault run found: the destination's answer recorded
 * first, timed 2000; the origin's last, by a call timed 1500 before the
 * first ran. The leg was done no earlier than 2000. Fails before acks_ms
 * (the entry said 1500). */
Test(entry_times, the_done_entry_is_not_earlier_than_an_acknowledgement_recorded_before_it) {
    committed_leg(TID, 1);
    ack(DEST, 2000);
    expect_log(NULL, 0); /* the destination alone does not finish the leg */
    cr_expect(listed(STORE_KEY_LEGS_OPEN, TID) && listed(STORE_KEY_LEGS_UNACKED_PREFIX ORIGIN, TID));
    ack(ORIGIN, 1500);
    const char *want[] = {"origin-acked@1500:" TID, "acked@2000:" TID};
    expect_log(want, 2);
    expect_done(TID);
}

/* The same with the roles swapped: the origin's answer timed 3000 first,
 * the destination's last by a call timed 2500. */
Test(entry_times, the_origins_later_time_dates_the_done_entry) {
    committed_leg(TID, 1);
    ack(ORIGIN, 3000);
    ack(DEST, 2500);
    const char *want[] = {"origin-acked@3000:" TID, "acked@3000:" TID};
    expect_log(want, 2);
    expect_done(TID);
}

/* In order, the last call's own time dates the entry. */
Test(entry_times, in_order_the_last_acknowledgement_dates_the_done_entry) {
    committed_leg(TID, 1);
    ack(ORIGIN, 1500);
    ack(DEST, 2000);
    const char *want[] = {"origin-acked@1500:" TID, "acked@2000:" TID};
    expect_log(want, 2);
    expect_done(TID);
}

/* A leg with no third-region serials is done in one call (peer "": the
 * destination of each leg), timed by it; another acknowledgement changes
 * nothing. */
Test(entry_times, a_leg_of_one_participant_is_done_at_its_answer_and_once) {
    committed_leg(TID, 0);
    ack("", 1200);
    ack(DEST, 5000);
    const char *want[] = {"acked@1200:" TID};
    expect_log(want, 1);
    expect_done(TID);
}

/* Two legs done in one call share one 'acked' entry, dated by the latest
 * acknowledgement of either. */
Test(entry_times, legs_done_in_one_call_take_the_latest_time_of_them_all) {
    committed_leg(TID, 1);
    committed_leg(TID2, 0);
    ack(ORIGIN, 2000);
    const char *both[] = {TID, TID2};
    ack_legs("", both, 2, 1500);
    const char *want[] = {"origin-acked@2000:" TID, "acked@2000:" TID "," TID2};
    expect_log(want, 2);
    expect_done(TID);
    expect_done(TID2);
}

/* The destination answered HEURISTIC_MIXED (source_mixed.lua): it holds the
 * other outcome. The origin's acknowledgement then ends the leg's re-sends,
 * and no 'acked' says that every participant applied the decision (the
 * trace check refuses one after MIXED). Fails before: an 'acked' entry. */
Test(entry_times, a_leg_its_destination_answered_mixed_is_done_without_an_acked_entry) {
    committed_leg(TID, 1);
    const char *tids[] = {TID};
    size_t marked = 0;
    char err[256] = "";
    cr_assert_eq(heuristic_source_mixed(g_fx.store, tids, 1, 1200, &marked, err, sizeof err), LEDGER_OK, "%s", err);
    cr_assert_eq(marked, 1);
    cr_expect(listed(STORE_KEY_LEGS_OPEN, TID), "the origin is still owed the decision");
    ack(ORIGIN, 1500);
    const char *want[] = {"heuristic@1200:" TID ",acct", "origin-acked@1500:" TID};
    expect_log(want, 2);
    expect_done(TID);
    cr_expect(listed(STORE_KEY_LEGS_MIXED, TID), "the leg stays listed HEURISTIC_MIXED");
}

/* At a destination, an operator forced a COMMIT at 3000 (ResolveInDoubt);
 * the coordinator's COMMIT, by a call timed 2000 before the force landed,
 * settles it (AGREED) no earlier than the decision it settles. Fails
 * before: heuristic@2000. */
Test(entry_times, a_heuristic_settlement_is_not_earlier_than_the_forced_decision) {
    redis_ok("HSET " STORE_KEY_LEG_PREFIX "%s" STORE_KEY_LEG_SUFFIX " role destination state COMMITTED "
             "peer " DEST " to acct blocks %s credited_g 0 heuristic C heuristic_ms 3000 decided_ms 3000",
             TID, "");
    redis_ok("ZADD " STORE_KEY_LEGS_HEURISTIC " 3000 %s", TID);
    ledger_dest_decision_t d = {.tid = TID, .decision = 'C', .resolved_by = "", .origin_confirm = 'U'};
    char err[256] = "";
    cr_assert_eq(ledger_dest_decide(g_fx.store, DEST, &d, 1, 2000, err, sizeof err), LEDGER_OK, "%s", err);
    cr_expect_eq(d.applied, 'C');
    cr_expect_str_eq(d.heuristic_outcome, "AGREED");
    const char *want[] = {"heuristic@3000:" TID ",acct"};
    expect_log(want, 1);
    cr_expect_not(listed(STORE_KEY_LEGS_HEURISTIC, TID), "settled: no longer waiting");
}
