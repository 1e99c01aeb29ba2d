/* test_trace_check.c - the regions' audit logs against the protocol model's
 * transitions (settlement/trace_check.h, issue 14 item 5). The entries are
 * written as the scripts write them (carbon-audit/3 bytes, docs/audit-log.md)
 * and parsed by the one parser (audit_entry_parse). A legal federation
 * trace passes; each illegal one is named: apply without commit, a decision
 * of a prepare never made, a second commit, acked before apply, a drop after
 * the source committed, and more; and for the origin of third-region serials
 * (a second participant): origin-commit without the source's commit or after
 * origin-abort, an origin decision without origin-prepare, origin-acked
 * before the origin applied, acked without every origin's origin-acked. */
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settlement/trace_check.h"

#define FOUND_MAX 32
#define ENTRY_MAX 4096

enum { TJ, BJ, HE, NREG };
static const char *const REGION[NREG] = {"CN-TJ", "CN-BJ", "CN-HE"};

typedef struct {
    trace_check_t *tc;
    int r[NREG];
    uint64_t seq[NREG];
    size_t n;
    trace_check_finding_t f[FOUND_MAX];
} run_t;

static void run_start(run_t *x, uint64_t skew_ms) {
    memset(x, 0, sizeof *x);
    x->tc = trace_check_new(skew_ms);
    for (int i = 0; i < NREG; i++) {
        x->r[i] = trace_check_region(x->tc, REGION[i]);
        cr_assert_geq(x->r[i], 0);
    }
}

/* Appends the netstring of text to out (at *len). */
static void field(char *out, size_t *len, const char *text, size_t n) {
    int w = snprintf(out + *len, ENTRY_MAX - *len, "%zu:", n);
    cr_assert(w > 0 && *len + (size_t)w + n + 1 < ENTRY_MAX);
    *len += (size_t)w;
    memcpy(out + *len, text, n);
    *len += n;
    out[(*len)++] = ',';
    out[*len] = '\0';
}

/* The fields of list ("a,b,c"; sep splits it) concatenated into out; each
 * item of a block list ("o|m|v|f|l") is itself five fields. */
static void list(char *out, size_t *len, const char *items, int blocks) {
    char copy[1024], *save = NULL;
    snprintf(copy, sizeof copy, "%s", items);
    for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        if (!blocks) {
            field(out, len, t, strlen(t));
            continue;
        }
        char inner[256] = "", *s2 = NULL;
        size_t il = 0;
        for (char *p = strtok_r(t, "|", &s2); p != NULL; p = strtok_r(NULL, "|", &s2)) field(inner, &il, p, strlen(p));
        field(out, len, inner, il);
    }
}

/* Region i's next entry, as a script writes it: time_ms, the event, ids
 * "a,b", blocks "o|m|v|f|l,..." ("" none), then the details (NULL-ended). */
static void put(run_t *x, int i, uint64_t time_ms, const char *event, const char *ids, const char *blocks, ...) {
    char entry[ENTRY_MAX] = "", part[ENTRY_MAX], num[24];
    size_t len = 0, pl = 0;
    uint64_t seq = ++x->seq[i];
    field(entry, &len, "carbon-audit/3", 14);
    snprintf(num, sizeof num, "%llu", (unsigned long long)seq);
    field(entry, &len, num, strlen(num));
    snprintf(num, sizeof num, "%llu", (unsigned long long)time_ms);
    field(entry, &len, num, strlen(num));
    field(entry, &len, event, strlen(event));
    list(part, &pl, ids, 0);
    field(entry, &len, part, pl);
    pl = 0;
    part[0] = '\0';
    list(part, &pl, blocks, 1);
    field(entry, &len, part, pl);
    pl = 0;
    part[0] = '\0';
    va_list ap;
    va_start(ap, blocks);
    for (const char *d = va_arg(ap, const char *); d != NULL; d = va_arg(ap, const char *)) field(part, &pl, d, strlen(d));
    va_end(ap);
    field(entry, &len, part, pl);
    audit_entry_t e;
    char why[200] = "";
    cr_assert_eq(audit_entry_parse(seq, entry, len, &e, why, sizeof why), 0, "%s: %s", entry, why);
    trace_check_entry(x->tc, x->r[i], &e);
    audit_entry_free(&e);
}

static void collect(void *ctx, const trace_check_finding_t *f) {
    run_t *x = ctx;
    if (x->n < FOUND_MAX) x->f[x->n++] = *f;
}

static size_t finish(run_t *x) {
    size_t n = trace_check_finish(x->tc, collect, x);
    cr_assert_eq(n, x->n);
    return n;
}

static const char *all(const run_t *x) {
    static char buf[FOUND_MAX * 700];
    buf[0] = '\0';
    for (size_t i = 0; i < x->n; i++) {
        strcat(buf, x->f[i].text);
        strcat(buf, "\n");
    }
    return buf;
}

/* The one finding x holds must be about region's entry seq, with event,
 * state, and text holding needle. */
static void one(const run_t *x, int region, uint64_t seq, const char *event, const char *state, const char *needle) {
    cr_assert_eq(x->n, 1, "%zu findings:\n%s", x->n, all(x));
    const trace_check_finding_t *f = &x->f[0];
    cr_assert_str_eq(f->region, REGION[region], "%s", f->text);
    cr_assert_eq(f->seq, seq, "%s", f->text);
    cr_assert_str_eq(f->event, event, "%s", f->text);
    cr_assert_str_eq(f->state, state, "%s", f->text);
    cr_assert(strstr(f->text, needle) != NULL, "'%s' not in: %s", needle, f->text);
}

#define T1 "6f1d0c3a9b8e4f2a8c7d6e5f4a3b2c1d"
#define T2 "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
#define T3 "fedcba9876543210fedcba9876543210"
#define T4 "1234567890abcdef1234567890abcdef"
#define BLK "CN-TJ|TJ-EL-01|2026|1001|1500"
#define BLK_HEAD "CN-TJ|TJ-EL-01|2026|1001|1450"
#define BLK_TAIL "CN-TJ|TJ-EL-01|2026|1451|1500"

/* The coordinator's steps of a transfer from tj-0 to peer's account. */
static void hold_batch(run_t *x, uint64_t t, const char *tid, const char *to, const char *peer) {
    put(x, TJ, t, "hold", to, BLK, NULL);
    put(x, TJ, t + 1, "batch", tid, "", peer, "7", "digest", NULL);
}

/* T1 committed at CN-BJ with a discount; T2 refused by CN-HE (no entry
 * there) and aborted; T3 prepared at CN-BJ, presumed aborted at the source
 * (QueryDecision) and dropped; T4 forced COMMIT by an operator at CN-BJ,
 * then the coordinator's COMMIT agrees. */
static void legal_trace(run_t *x) {
    put(x, TJ, 1000, "open", "tj-0", "", "personal", NULL);
    put(x, TJ, 1001, "issue", "iss1,tj-0", "CN-TJ|TJ-EL-01|2026|1|9000", "fp-1", NULL);
    put(x, BJ, 1002, "open", "bj-0", "", "firm", NULL);
    put(x, HE, 1003, "open", "he-0", "", "firm", NULL);
    hold_batch(x, 2000, T1, T1 ",tj-0,CN-BJ/bj-0", "CN-BJ");
    put(x, BJ, 2010, "prepare", T1 ",bj-0,CN-TJ/tj-0", BLK, "CN-TJ", "7", "450", NULL);
    put(x, TJ, 2020, "commit", T1 ",tj-0", BLK, NULL);
    put(x, BJ, 2030, "apply", T1 ",bj-0", BLK_HEAD, "CN-TJ", NULL);
    put(x, BJ, 2030, "cancel", T1 ",bj-0", BLK_TAIL, "CN-TJ", NULL);
    put(x, TJ, 2040, "acked", T1, "", NULL);
    hold_batch(x, 3000, T2, T2 ",tj-0,CN-HE/he-9", "CN-HE");
    put(x, TJ, 3010, "abort", T2 ",tj-0", BLK, "UNKNOWN_ACCOUNT", NULL);
    put(x, TJ, 3020, "acked", T2, "", NULL);
    hold_batch(x, 4000, T3, T3 ",tj-0,CN-BJ/bj-0", "CN-BJ");
    put(x, BJ, 4010, "prepare", T3 ",bj-0,CN-TJ/tj-0", BLK, "CN-TJ", "8", "500", NULL);
    put(x, TJ, 9000, "abort", T3 ",tj-0", BLK, "PRESUMED_ABORT", NULL);
    put(x, BJ, 9010, "drop", T3, "", "CN-TJ", NULL);
    put(x, TJ, 9020, "acked", T3, "", NULL);
    hold_batch(x, 10000, T4, T4 ",tj-0,CN-BJ/bj-0", "CN-BJ");
    put(x, BJ, 10010, "prepare", T4 ",bj-0,CN-TJ/tj-0", BLK, "CN-TJ", "9", "500", NULL);
    put(x, BJ, 40000, "apply", T4 ",bj-0", BLK, "CN-TJ", NULL);
    put(x, BJ, 40000, "resolve", T4, "", "C", "spiffe://jjj.carbon/CN-BJ/operator/op1", "coordinator down", NULL);
    put(x, TJ, 50000, "commit", T4 ",tj-0", BLK, NULL);
    put(x, BJ, 50010, "heuristic", T4 ",bj-0", "", "CN-TJ", "AGREED", "C", "0", NULL);
    put(x, TJ, 50020, "acked", T4, "", NULL);
}

Test(trace_check, a_legal_federation_trace_passes) {
    run_t x;
    run_start(&x, 0);
    legal_trace(&x);
    cr_assert_eq(finish(&x), 0, "%s", all(&x));
    trace_check_stats_t s;
    trace_check_stats(x.tc, &s);
    cr_assert_eq(s.entries, 29);
    cr_assert_eq(s.leg_entries, 25);
    cr_assert_eq(s.transfers, 4);
    cr_assert_eq(s.legs, 7); /* 4 at the source, 3 at CN-BJ (T2 was never prepared) */
    cr_assert_eq(s.unpaired, 0);
    trace_check_free(x.tc);
}

/* An operator forced COMMIT at CN-BJ; the coordinator aborted: MIXED on
 * both sides; the source's operator compensated (the source converges on
 * COMMIT) and the coordinator's COMMIT closes the leg as AGREED. */
Test(trace_check, a_mixed_leg_and_its_compensation_are_steps) {
    run_t x;
    run_start(&x, 0);
    hold_batch(&x, 1000, T1, T1 ",tj-0,CN-BJ/bj-0", "CN-BJ");
    put(&x, BJ, 1010, "prepare", T1 ",bj-0,CN-TJ/tj-0", BLK, "CN-TJ", "1", "500", NULL);
    put(&x, BJ, 9000, "apply", T1 ",bj-0", BLK, "CN-TJ", NULL);
    put(&x, BJ, 9000, "resolve", T1, "", "C", "spiffe://jjj.carbon/CN-BJ/operator/op1", "coordinator down", NULL);
    put(&x, TJ, 9500, "abort", T1 ",tj-0", BLK, "EXPIRED", NULL);
    put(&x, BJ, 9600, "heuristic", T1 ",bj-0", "", "CN-TJ", "MIXED", "A", "1", NULL);
    put(&x, TJ, 9700, "heuristic", T1 ",tj-0", "", "CN-BJ", "MIXED", "A", "0", NULL);
    put(&x, TJ, 9800, "heuristic", T1 ",tj-0,CN-BJ/bj-0", BLK, "CN-BJ", "COMPENSATED", "C", "0", "op", "why", NULL);
    put(&x, BJ, 9900, "heuristic", T1 ",bj-0", "", "CN-TJ", "AGREED", "C", "0", NULL);
    put(&x, TJ, 9910, "acked", T1, "", NULL);
    cr_assert_eq(finish(&x), 0, "%s", all(&x));
    trace_check_free(x.tc);
}

Test(trace_check, apply_without_the_coordinators_commit_is_a_finding) {
    run_t x;
    run_start(&x, 0);
    hold_batch(&x, 1000, T1, T1 ",tj-0,CN-BJ/bj-0", "CN-BJ");
    put(&x, BJ, 1010, "prepare", T1 ",bj-0,CN-TJ/tj-0", BLK, "CN-TJ", "1", "500", NULL);
    put(&x, BJ, 1020, "apply", T1 ",bj-0", BLK, "CN-TJ", NULL); /* CN-TJ is still HELD */
    finish(&x);
    one(&x, BJ, 2, "apply", "PREPARED", "CN-TJ never decided it: a participant decided alone after voting yes");
    cr_assert_str_eq(x.f[0].tid, T1);
    cr_assert(strstr(x.f[0].rule, "dest_decide commit") != NULL, "%s", x.f[0].rule);
    trace_check_free(x.tc);

    /* the coordinator aborted it */
    run_start(&x, 0);
    hold_batch(&x, 1000, T1, T1 ",tj-0,CN-BJ/bj-0", "CN-BJ");
    put(&x, BJ, 1010, "prepare", T1 ",bj-0,CN-TJ/tj-0", BLK, "CN-TJ", "1", "500", NULL);
    put(&x, TJ, 1015, "abort", T1 ",tj-0", BLK, "EXPIRED", NULL);
    put(&x, BJ, 1020, "apply", T1 ",bj-0", BLK, "CN-TJ", NULL);
    finish(&x);
    one(&x, BJ, 2, "apply", "PREPARED", "CN-TJ aborted it: the legs disagree");
    trace_check_free(x.tc);
}

Test(trace_check, a_decision_of_a_prepare_never_made_is_a_finding) {
    run_t x;
    run_start(&x, 0);
    hold_batch(&x, 1000, T1, T1 ",tj-0,CN-BJ/bj-0", "CN-BJ");
    put(&x, TJ, 1020, "commit", T1 ",tj-0", BLK, NULL);
    put(&x, BJ, 1030, "apply", T1 ",bj-0", BLK, "CN-TJ", NULL);
    finish(&x);
    /* the apply from NONE, and the commit without a yes vote */
    cr_assert_eq(x.n, 2, "%s", all(&x));
    cr_assert_str_eq(x.f[0].region, "CN-BJ");
    cr_assert_eq(x.f[0].seq, 1);
    cr_assert_str_eq(x.f[0].state, "NONE");
    cr_assert(strstr(x.f[0].text, "allowed only from PREPARED") != NULL, "%s", x.f[0].text);
    cr_assert_str_eq(x.f[1].region, "CN-TJ");
    cr_assert_eq(x.f[1].seq, 3);
    cr_assert(strstr(x.f[1].text, "CN-BJ never prepared it (no prepare entry: no yes vote)") != NULL, "%s",
              x.f[1].text);
    trace_check_free(x.tc);
}

Test(trace_check, a_second_commit_is_a_finding) {
    run_t x;
    run_start(&x, 0);
    hold_batch(&x, 1000, T1, T1 ",tj-0,CN-BJ/bj-0", "CN-BJ");
    put(&x, BJ, 1010, "prepare", T1 ",bj-0,CN-TJ/tj-0", BLK, "CN-TJ", "1", "500", NULL);
    put(&x, TJ, 1020, "commit", T1 ",tj-0", BLK, NULL);
    put(&x, TJ, 1021, "commit", T1 ",tj-0", BLK, NULL);
    finish(&x);
    one(&x, TJ, 4, "commit", "COMMITTED", "allowed only from HELD");
    cr_assert(strstr(x.f[0].rule, "OPT_COMMIT_POINT") != NULL, "%s", x.f[0].rule);
    trace_check_free(x.tc);
}

Test(trace_check, acked_before_the_participant_applied_is_a_finding) {
    run_t x;
    run_start(&x, 100);
    hold_batch(&x, 1000, T1, T1 ",tj-0,CN-BJ/bj-0", "CN-BJ");
    put(&x, BJ, 1010, "prepare", T1 ",bj-0,CN-TJ/tj-0", BLK, "CN-TJ", "1", "500", NULL);
    put(&x, TJ, 1020, "commit", T1 ",tj-0", BLK, NULL);
    put(&x, TJ, 1030, "acked", T1, "", NULL);
    put(&x, BJ, 5000, "apply", T1 ",bj-0", BLK, "CN-TJ", NULL); /* 3970 ms later: beyond any skew */
    finish(&x);
    one(&x, TJ, 4, "acked", "COMMITTED", "acknowledged at 1030 ms, CN-BJ took the decision only at 5000 ms");
    trace_check_free(x.tc);

    /* never applied at all */
    run_start(&x, 100);
    hold_batch(&x, 1000, T1, T1 ",tj-0,CN-BJ/bj-0", "CN-BJ");
    put(&x, BJ, 1010, "prepare", T1 ",bj-0,CN-TJ/tj-0", BLK, "CN-TJ", "1", "500", NULL);
    put(&x, TJ, 1020, "commit", T1 ",tj-0", BLK, NULL);
    put(&x, TJ, 1030, "acked", T1, "", NULL);
    finish(&x);
    one(&x, TJ, 4, "acked", "COMMITTED", "CN-BJ holds no decision (leg PREPARED), not the COMMIT acknowledged");
    trace_check_free(x.tc);
}

Test(trace_check, a_drop_after_the_source_committed_is_a_finding) {
    run_t x;
    run_start(&x, 0);
    hold_batch(&x, 1000, T1, T1 ",tj-0,CN-BJ/bj-0", "CN-BJ");
    put(&x, BJ, 1010, "prepare", T1 ",bj-0,CN-TJ/tj-0", BLK, "CN-TJ", "1", "500", NULL);
    put(&x, TJ, 1020, "commit", T1 ",tj-0", BLK, NULL);
    put(&x, BJ, 1030, "drop", T1, "", "CN-TJ", NULL);
    finish(&x);
    one(&x, BJ, 2, "drop", "PREPARED", "CN-TJ committed it: the legs disagree");
    trace_check_free(x.tc);
}

/* The model records the ABORT a participant answers for a leg it never saw
 * (L_NONE -> L_ABORTED) and votes no on a later Prepare; dest_decide.lua
 * keeps nothing, so a late Prepare may still be prepared there: named. */
Test(trace_check, a_prepare_after_the_abort_was_acknowledged_is_a_finding) {
    run_t x;
    run_start(&x, 100);
    hold_batch(&x, 1000, T1, T1 ",tj-0,CN-BJ/bj-0", "CN-BJ");
    put(&x, TJ, 1500, "abort", T1 ",tj-0", BLK, "PEER_UNAVAILABLE", NULL);
    put(&x, TJ, 1600, "acked", T1, "", NULL); /* CN-BJ answered ABORT, knowing nothing */
    put(&x, BJ, 2000, "prepare", T1 ",bj-0,CN-TJ/tj-0", BLK, "CN-TJ", "1", "500", NULL);
    put(&x, BJ, 5000, "drop", T1, "", "CN-TJ", NULL);
    finish(&x);
    one(&x, BJ, 1, "prepare", "ABORTED", "CN-TJ's ABORT was acknowledged at 1600 ms");
    trace_check_free(x.tc);
}

Test(trace_check, a_forced_decision_needs_its_resolve_in_the_same_step) {
    run_t x;
    run_start(&x, 0);
    hold_batch(&x, 1000, T1, T1 ",tj-0,CN-BJ/bj-0", "CN-BJ");
    put(&x, BJ, 1010, "prepare", T1 ",bj-0,CN-TJ/tj-0", BLK, "CN-TJ", "1", "500", NULL);
    put(&x, BJ, 9000, "drop", T1, "", "CN-TJ", NULL);
    put(&x, BJ, 9999, "resolve", T1, "", "A", "spiffe://jjj.carbon/CN-BJ/operator/op1", "later", NULL);
    finish(&x);
    /* the resolve of another step, and so a drop the coordinator never took */
    cr_assert_eq(x.n, 2, "%s", all(&x));
    cr_assert(strstr(x.f[0].text, "entry 3 (resolve)") != NULL && strstr(x.f[0].text, "same step") != NULL, "%s",
              all(&x));
    cr_assert(strstr(x.f[1].text, "entry 2 (drop)") != NULL && strstr(x.f[1].text, "decided alone") != NULL, "%s",
              all(&x));
    trace_check_free(x.tc);
}

Test(trace_check, a_heuristic_settlement_must_name_the_coordinators_decision) {
    run_t x;
    run_start(&x, 0);
    hold_batch(&x, 1000, T1, T1 ",tj-0,CN-BJ/bj-0", "CN-BJ");
    put(&x, BJ, 1010, "prepare", T1 ",bj-0,CN-TJ/tj-0", BLK, "CN-TJ", "1", "500", NULL);
    put(&x, BJ, 9000, "drop", T1, "", "CN-TJ", NULL);
    put(&x, BJ, 9000, "resolve", T1, "", "A", "spiffe://jjj.carbon/CN-BJ/operator/op1", "down", NULL);
    put(&x, TJ, 9500, "abort", T1 ",tj-0", BLK, "EXPIRED", NULL);
    put(&x, BJ, 9600, "heuristic", T1 ",bj-0", BLK, "CN-TJ", "REAPPLIED", "C", "1", NULL);
    finish(&x);
    one(&x, BJ, 4, "heuristic", "HA", "settled with the coordinator's COMMIT, but CN-TJ recorded ABORT");
    trace_check_free(x.tc);
}

Test(trace_check, unknown_events_and_bad_ids_are_findings_not_crashes) {
    run_t x;
    run_start(&x, 0);
    put(&x, HE, 1000, "origin-move", T1 ",he-0", "", "CN-TJ", NULL);
    put(&x, HE, 1001, "apply", "not-a-transfer,he-0", "", "CN-TJ", NULL);
    put(&x, HE, 1002, "acked", "", "", NULL);
    put(&x, HE, 1003, "hold", T2 ",he-0,nowhere", BLK, NULL);
    finish(&x);
    cr_assert_eq(x.n, 4, "%s", all(&x));
    cr_assert(strstr(x.f[0].text, "an unknown event") != NULL, "%s", all(&x));
    cr_assert(strstr(x.f[1].text, "is not a transfer id") != NULL, "%s", all(&x));
    cr_assert(strstr(x.f[2].text, "names no transfer") != NULL, "%s", all(&x));
    cr_assert(strstr(x.f[3].text, "names no destination region") != NULL, "%s", all(&x));
    trace_check_free(x.tc);
}

Test(trace_check, a_step_newer_than_the_peers_horizon_is_not_judged) {
    run_t x;
    run_start(&x, 100);
    trace_check_horizon(x.tc, x.r[BJ], 1050); /* CN-BJ's log was read at 1050 ms */
    hold_batch(&x, 1000, T1, T1 ",tj-0,CN-BJ/bj-0", "CN-BJ");
    put(&x, BJ, 1010, "prepare", T1 ",bj-0,CN-TJ/tj-0", BLK, "CN-TJ", "1", "500", NULL);
    put(&x, TJ, 1020, "commit", T1 ",tj-0", BLK, NULL);
    put(&x, TJ, 1030, "acked", T1, "", NULL); /* CN-BJ's apply may be after its read */
    cr_assert_eq(finish(&x), 0, "%s", all(&x));
    trace_check_stats_t s;
    trace_check_stats(x.tc, &s);
    cr_assert_eq(s.too_recent, 2); /* the commit's and the acked's needs */
    trace_check_free(x.tc);
}

Test(trace_check, regions_are_declared_once_and_limited) {
    trace_check_t *tc = trace_check_new(0);
    cr_assert_eq(trace_check_region(tc, "CN-TJ"), 0);
    cr_assert_eq(trace_check_region(tc, "CN-TJ"), -1);
    cr_assert_eq(trace_check_region(tc, ""), -1);
    cr_assert_eq(trace_check_region(tc, "A-REGION-NAME-TOO-LONG"), -1);
    char name[16];
    for (int i = 1; i < TRACE_CHECK_REGIONS_MAX; i++) {
        snprintf(name, sizeof name, "R-%d", i);
        cr_assert_eq(trace_check_region(tc, name), i);
    }
    cr_assert_eq(trace_check_region(tc, "R-X"), -1);
    trace_check_free(tc);
}

/* ---- the origin of a leg's serials as a third-party participant ----------- */

/* Serials of CN-HE, moved CN-TJ -> CN-BJ: CN-HE is the third party. */
#define HBLK "CN-HE|HE-FO-01|2026|1|500"

/* CN-TJ holds HBLK for tid towards CN-BJ; CN-BJ and CN-HE vote yes. */
static void three_party_prepared(run_t *x, uint64_t t, const char *tid) {
    char ids[128];
    snprintf(ids, sizeof ids, "%s,tj-0,CN-BJ/bj-0", tid);
    put(x, TJ, t, "hold", ids, HBLK, NULL);
    put(x, TJ, t + 1, "batch", tid, "", "CN-BJ", "7", "digest", NULL);
    snprintf(ids, sizeof ids, "%s,bj-0,CN-TJ/tj-0", tid);
    put(x, BJ, t + 10, "prepare", ids, HBLK, "CN-TJ", "7", "500", NULL);
    snprintf(ids, sizeof ids, "%s,CN-BJ/bj-0,CN-TJ/tj-0", tid);
    put(x, HE, t + 12, "origin-prepare", ids, HBLK, "CN-TJ", NULL);
}

/* T1 committed on all three legs; T2 aborted after both votes; T3 aborted
 * before CN-HE heard of it (CN-BJ voted no): CN-HE answers ABORT and keeps
 * nothing, and is acknowledged. */
Test(trace_check, a_legal_three_party_trace_passes) {
    run_t x;
    run_start(&x, 0);
    three_party_prepared(&x, 1000, T1);
    put(&x, TJ, 1020, "commit", T1 ",tj-0", HBLK, NULL);
    put(&x, BJ, 1030, "apply", T1 ",bj-0", HBLK, "CN-TJ", NULL);
    put(&x, HE, 1031, "origin-commit", T1 ",CN-BJ/bj-0", HBLK, "CN-TJ", NULL);
    put(&x, TJ, 1040, "origin-acked", T1, "", "CN-HE", NULL);
    put(&x, TJ, 1040, "acked", T1, "", NULL);
    three_party_prepared(&x, 2000, T2);
    put(&x, TJ, 2020, "abort", T2 ",tj-0", HBLK, "PREPARE_FAILED", NULL);
    put(&x, HE, 2025, "origin-abort", T2 ",CN-BJ/bj-0", HBLK, "CN-TJ", NULL);
    put(&x, TJ, 2026, "origin-acked", T2, "", "CN-HE", NULL);
    put(&x, BJ, 2030, "drop", T2, "", "CN-TJ", NULL);
    put(&x, TJ, 2040, "acked", T2, "", NULL);
    put(&x, TJ, 3000, "hold", T3 ",tj-0,CN-BJ/bj-0", HBLK, NULL);
    put(&x, TJ, 3010, "abort", T3 ",tj-0", HBLK, "REFUSED", NULL);
    put(&x, TJ, 3020, "origin-acked", T3, "", "CN-HE", NULL);
    put(&x, TJ, 3020, "acked", T3, "", NULL);
    cr_assert_eq(finish(&x), 0, "%s", all(&x));
    trace_check_stats_t s;
    trace_check_stats(x.tc, &s);
    cr_assert_eq(s.transfers, 3);
    cr_assert_eq(s.legs, 7); /* 3 at the source, 2 at CN-BJ, 2 at CN-HE */
    cr_assert_eq(s.unpaired, 0);
    trace_check_free(x.tc);
}

Test(trace_check, an_origin_commit_needs_the_sources_commit) {
    run_t x;
    run_start(&x, 0);
    three_party_prepared(&x, 1000, T1);
    put(&x, HE, 1030, "origin-commit", T1 ",CN-BJ/bj-0", HBLK, "CN-TJ", NULL);
    finish(&x);
    one(&x, HE, 2, "origin-commit", "PREPARED", "never decided it: a participant decided alone after voting yes");
    trace_check_free(x.tc);
}

Test(trace_check, an_origin_commit_against_the_sources_abort_is_named) {
    run_t x;
    run_start(&x, 0);
    three_party_prepared(&x, 1000, T1);
    put(&x, TJ, 1020, "abort", T1 ",tj-0", HBLK, "EXPIRED", NULL);
    put(&x, HE, 1030, "origin-commit", T1 ",CN-BJ/bj-0", HBLK, "CN-TJ", NULL);
    finish(&x);
    one(&x, HE, 2, "origin-commit", "PREPARED", "CN-TJ aborted it: the legs disagree");
    trace_check_free(x.tc);
}

Test(trace_check, an_origin_commit_after_its_abort_is_named) {
    run_t x;
    run_start(&x, 0);
    three_party_prepared(&x, 1000, T1);
    put(&x, TJ, 1020, "abort", T1 ",tj-0", HBLK, "EXPIRED", NULL);
    put(&x, HE, 1030, "origin-abort", T1 ",CN-BJ/bj-0", HBLK, "CN-TJ", NULL);
    put(&x, HE, 1040, "origin-commit", T1 ",CN-BJ/bj-0", HBLK, "CN-TJ", NULL);
    finish(&x);
    one(&x, HE, 3, "origin-commit", "ABORTED", "allowed only from PREPARED");
    trace_check_free(x.tc);
}

Test(trace_check, an_origin_decision_without_its_prepare_is_named) {
    run_t x;
    run_start(&x, 0);
    put(&x, TJ, 1000, "hold", T1 ",tj-0,CN-BJ/bj-0", HBLK, NULL);
    put(&x, TJ, 1020, "abort", T1 ",tj-0", HBLK, "EXPIRED", NULL);
    put(&x, HE, 1030, "origin-abort", T1 ",CN-BJ/bj-0", HBLK, "CN-TJ", NULL);
    finish(&x);
    one(&x, HE, 1, "origin-abort", "NONE", "allowed only from PREPARED");
    trace_check_free(x.tc);
}

Test(trace_check, origin_acked_before_the_origin_applied_is_named) {
    run_t x;
    run_start(&x, 0);
    three_party_prepared(&x, 1000, T1);
    put(&x, TJ, 1020, "commit", T1 ",tj-0", HBLK, NULL);
    put(&x, BJ, 1030, "apply", T1 ",bj-0", HBLK, "CN-TJ", NULL);
    put(&x, TJ, 1040, "origin-acked", T1, "", "CN-HE", NULL);
    put(&x, TJ, 1040, "acked", T1, "", NULL);
    put(&x, HE, 1050, "origin-commit", T1 ",CN-BJ/bj-0", HBLK, "CN-TJ", NULL);
    finish(&x);
    one(&x, TJ, 4, "origin-acked", "COMMITTED", "acknowledged at 1040 ms, CN-HE took the decision only at 1050 ms");
    trace_check_free(x.tc);
}

Test(trace_check, origin_acked_of_a_leg_the_origin_still_holds_prepared_is_named) {
    run_t x;
    run_start(&x, 0);
    three_party_prepared(&x, 1000, T1);
    put(&x, TJ, 1020, "commit", T1 ",tj-0", HBLK, NULL);
    put(&x, TJ, 1040, "origin-acked", T1, "", "CN-HE", NULL);
    put(&x, BJ, 1050, "apply", T1 ",bj-0", HBLK, "CN-TJ", NULL);
    finish(&x);
    one(&x, TJ, 4, "origin-acked", "COMMITTED", "CN-HE holds no decision (leg PREPARED), not the COMMIT acknowledged");
    trace_check_free(x.tc);
}

Test(trace_check, acked_needs_every_origins_acknowledgement) {
    run_t x;
    run_start(&x, 0);
    three_party_prepared(&x, 1000, T1);
    put(&x, TJ, 1020, "commit", T1 ",tj-0", HBLK, NULL);
    put(&x, BJ, 1030, "apply", T1 ",bj-0", HBLK, "CN-TJ", NULL);
    put(&x, HE, 1031, "origin-commit", T1 ",CN-BJ/bj-0", HBLK, "CN-TJ", NULL);
    put(&x, TJ, 1040, "acked", T1, "", NULL);
    put(&x, TJ, 1041, "origin-acked", T1, "", "CN-BJ", NULL); /* the destination is no origin */
    finish(&x);
    cr_assert_eq(x.n, 2, "%s", all(&x));
    cr_assert(strstr(x.f[0].text, "entry 4 (acked)") != NULL &&
                  strstr(x.f[0].text, "CN-HE, an origin of its serials and a participant, never acknowledged") != NULL,
              "%s", all(&x));
    cr_assert(strstr(x.f[1].text, "entry 5 (origin-acked)") != NULL &&
                  strstr(x.f[1].text, "CN-BJ is not a third-region origin") != NULL,
              "%s", all(&x));
    trace_check_free(x.tc);
}

Test(trace_check, a_commit_needs_the_origins_yes_vote) {
    run_t x;
    run_start(&x, 0);
    put(&x, TJ, 1000, "hold", T1 ",tj-0,CN-BJ/bj-0", HBLK, NULL);
    put(&x, BJ, 1010, "prepare", T1 ",bj-0,CN-TJ/tj-0", HBLK, "CN-TJ", "7", "500", NULL);
    put(&x, TJ, 1020, "commit", T1 ",tj-0", HBLK, NULL);
    put(&x, BJ, 1030, "apply", T1 ",bj-0", HBLK, "CN-TJ", NULL);
    finish(&x);
    one(&x, TJ, 2, "commit", "HELD", "CN-HE, the origin of its serials, never prepared it (no origin-prepare entry");
    trace_check_free(x.tc);
}

Test(trace_check, an_origin_prepare_of_foreign_serials_or_no_hold_is_named) {
    run_t x;
    run_start(&x, 0);
    put(&x, HE, 1000, "origin-prepare", T1 ",CN-BJ/bj-0,CN-TJ/tj-0", BLK, "CN-TJ", NULL);
    finish(&x);
    cr_assert_eq(x.n, 2, "%s", all(&x));
    cr_assert(strstr(x.f[0].text, "block 1 is of origin CN-TJ: an origin prepares only its own serials") != NULL,
              "%s", all(&x));
    cr_assert(strstr(x.f[1].text, "CN-TJ has no earlier hold of this transfer") != NULL, "%s", all(&x));
    trace_check_free(x.tc);
}

Test(trace_check, no_operator_decides_an_origins_leg) {
    run_t x;
    run_start(&x, 0);
    three_party_prepared(&x, 1000, T1);
    put(&x, HE, 9000, "resolve", T1, "", "A", "spiffe://jjj.carbon/CN-HE/operator/op1", "down", NULL);
    put(&x, HE, 9001, "heuristic", T1 ",CN-BJ/bj-0", "", "CN-TJ", "AGREED", "A", "0", NULL);
    put(&x, TJ, 9100, "abort", T1 ",tj-0", HBLK, "EXPIRED", NULL);
    put(&x, HE, 9200, "origin-abort", T1 ",CN-BJ/bj-0", HBLK, "CN-TJ", NULL);
    finish(&x);
    cr_assert_eq(x.n, 2, "%s", all(&x));
    cr_assert(strstr(x.f[0].text, "entry 2 (resolve)") != NULL, "%s", all(&x));
    cr_assert(strstr(x.f[1].text, "no operator decides an origin's leg") != NULL, "%s", all(&x));
    trace_check_free(x.tc);
}

Test(trace_check, use_reports_and_activity_reservations_are_no_legs_steps) {
    run_t x;
    run_start(&x, 0);
    put(&x, BJ, 1000, "use-report", "r-1,CN-HE", HBLK, "retired", "voluntary_neutrality", NULL);
    put(&x, HE, 1010, "use-reported", "r-1,CN-BJ", HBLK, "retired", "voluntary_neutrality", NULL);
    put(&x, HE, 1020, "act-reserve", "k-1,CN-TJ,iss-1", "", "1", "5000", NULL);
    put(&x, HE, 1030, "act-issued", "k-1,CN-TJ,iss-1", "", "1", NULL);
    put(&x, HE, 1040, "act-release", "k-2,CN-TJ,iss-2", "", "2", NULL);
    cr_assert_eq(finish(&x), 0, "%s", all(&x));
    trace_check_stats_t s;
    trace_check_stats(x.tc, &s);
    cr_assert_eq(s.entries, 5);
    cr_assert_eq(s.leg_entries, 0);
    cr_assert_eq(s.legs, 0);
    trace_check_free(x.tc);
}

/* An operator closes a destination leg its origin denied (origin-denied:
 * the source sent COMMIT, the origin aborted): a step (heuristic CLOSED,
 * ABORT, from PREPARED). The same close of a leg no origin denied is named. */
Test(trace_check, closing_an_origin_denied_leg_is_a_step_only_after_the_denial) {
    run_t x;
    run_start(&x, 0);
    three_party_prepared(&x, 1000, T1);
    put(&x, TJ, 1020, "abort", T1 ",tj-0", HBLK, "EXPIRED", NULL);
    put(&x, HE, 1025, "origin-abort", T1 ",CN-BJ/bj-0", HBLK, "CN-TJ", NULL);
    put(&x, BJ, 1030, "origin-denied", T1 ",bj-0", HBLK, "CN-TJ", "CN-HE", NULL);
    put(&x, BJ, 9000, "heuristic", T1 ",bj-0", HBLK, "CN-TJ", "CLOSED", "A", "0", "op", "origin denied", NULL);
    cr_assert_eq(finish(&x), 0, "%s", all(&x));
    trace_check_free(x.tc);

    run_start(&x, 0);
    three_party_prepared(&x, 1000, T1);
    put(&x, BJ, 9000, "heuristic", T1 ",bj-0", HBLK, "CN-TJ", "CLOSED", "A", "0", "op", "no denial", NULL);
    finish(&x);
    cr_assert_geq(x.n, 1, "a close without a denial passed");
    cr_assert(strstr(all(&x), "its origin never denied it") != NULL, "%s", all(&x));
    trace_check_free(x.tc);
}

/* The coordinator's MIXED leg (it aborted a leg an operator forced to
 * COMMIT at CN-BJ) that it closes as it is, holding ABORT: a step once
 * CN-BJ compensated (it cancelled the grams it credited). Closed while
 * CN-BJ did not compensate, it is named; and the close is no COMMIT of the
 * coordinator, on which CN-BJ could settle its leg AGREED. */
static void mixed_abort_closed_at_the_source(run_t *x, int dest_compensates) {
    run_start(x, 0);
    hold_batch(x, 1000, T1, T1 ",tj-0,CN-BJ/bj-0", "CN-BJ");
    put(x, BJ, 1010, "prepare", T1 ",bj-0,CN-TJ/tj-0", BLK, "CN-TJ", "1", "500", NULL);
    put(x, BJ, 9000, "apply", T1 ",bj-0", BLK, "CN-TJ", NULL);
    put(x, BJ, 9000, "resolve", T1, "", "C", "spiffe://jjj.carbon/CN-BJ/operator/op1", "coordinator down", NULL);
    put(x, TJ, 9500, "abort", T1 ",tj-0", BLK, "EXPIRED", NULL);
    put(x, BJ, 9600, "heuristic", T1 ",bj-0", "", "CN-TJ", "MIXED", "A", "1", NULL);
    put(x, TJ, 9700, "heuristic", T1 ",tj-0", "", "CN-BJ", "MIXED", "A", "0", NULL);
    if (dest_compensates)
        put(x, BJ, 9800, "heuristic", T1 ",bj-0", BLK, "CN-TJ", "COMPENSATED", "C", "0", "op", "why", NULL);
    put(x, TJ, 9900, "heuristic", T1 ",tj-0", "", "CN-BJ", "COMPENSATED", "A", "0", "op", "bj compensated", NULL);
}

Test(trace_check, a_coordinators_close_holding_abort_needs_the_destinations_compensation) {
    run_t x;
    mixed_abort_closed_at_the_source(&x, 1);
    cr_assert_eq(finish(&x), 0, "%s", all(&x));
    trace_check_free(x.tc);

    mixed_abort_closed_at_the_source(&x, 0);
    finish(&x);
    cr_assert_geq(x.n, 1, "a close without the destination's compensation passed");
    cr_assert(strstr(all(&x), "has not compensated the leg") != NULL, "%s", all(&x));
    trace_check_free(x.tc);

    mixed_abort_closed_at_the_source(&x, 0);
    put(&x, BJ, 9950, "heuristic", T1 ",bj-0", "", "CN-TJ", "AGREED", "C", "0", NULL);
    finish(&x);
    cr_assert(strstr(all(&x), "never recorded a COMMIT") != NULL, "%s", all(&x));
    trace_check_free(x.tc);
}

/* A destination leg forced to ABORT and then denied by its origin is
 * closed without blocks (nothing is pending); a close that names blocks,
 * or a settlement by the coordinator's COMMIT, is named. */
Test(trace_check, a_forced_abort_the_origin_denied_is_closed_without_blocks) {
    run_t x;
    for (int variant = 0; variant < 3; variant++) {
        run_start(&x, 0);
        three_party_prepared(&x, 1000, T1);
        put(&x, BJ, 9000, "drop", T1, "", "CN-TJ", NULL);
        put(&x, BJ, 9000, "resolve", T1, "", "A", "spiffe://jjj.carbon/CN-BJ/operator/op1", "coordinator down",
            NULL);
        put(&x, BJ, 9100, "origin-denied", T1 ",bj-0", HBLK, "CN-TJ", "CN-HE", NULL);
        if (variant == 0)
            put(&x, BJ, 9200, "heuristic", T1 ",bj-0", "", "CN-TJ", "CLOSED", "A", "0", "op", "denied", NULL);
        else if (variant == 1)
            put(&x, BJ, 9200, "heuristic", T1 ",bj-0", HBLK, "CN-TJ", "CLOSED", "A", "0", "op", "denied", NULL);
        else
            put(&x, BJ, 9200, "heuristic", T1 ",bj-0", HBLK, "CN-TJ", "REAPPLIED", "C", "1", NULL);
        size_t found = finish(&x);
        const char *needle = variant == 1 ? "its close drops no blocks" : "settled only by an operator's close";
        /* the source (CN-TJ) never decided: its own findings come with every variant */
        if (variant == 0) {
            for (size_t i = 0; i < found; i++)
                cr_assert(strcmp(x.f[i].region, "CN-BJ") != 0, "CN-BJ's steps: %s", all(&x));
        } else
            cr_assert(strstr(all(&x), needle) != NULL, "variant %d: %s", variant, all(&x));
        trace_check_free(x.tc);
    }
}
