/* test_replay.c - rebuilding a ledger from audit entries and comparing it
 * with the store's records (settlement/replay.h): what each event does,
 * differences named serial by serial, and a log that contradicts itself
 * reported entry by entry, never asserted. */
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settlement/replay.h"

#define DIFFS_MAX 32

typedef struct {
    size_t n;
    char text[DIFFS_MAX][512];
} diffs_t;

static void collect(void *ctx, const replay_diff_t *d) {
    diffs_t *ds = ctx;
    if (ds->n < DIFFS_MAX) snprintf(ds->text[ds->n++], sizeof ds->text[0], "%s", d->text);
}

static int has(const diffs_t *ds, const char *needle) {
    for (size_t i = 0; i < ds->n; i++)
        if (strstr(ds->text[i], needle) != NULL) return 1;
    return 0;
}

static const char *all(const diffs_t *ds) {
    static char buf[DIFFS_MAX * 520];
    buf[0] = '\0';
    for (size_t i = 0; i < ds->n; i++) {
        strcat(buf, ds->text[i]);
        strcat(buf, "\n");
    }
    return buf;
}

/* Replays one entry: ids "a,b,c", blocks "o|m|v|f|l,..." ("" none), then the
 * details (NULL-terminated). The only place that builds an audit_entry_t. */
static void entry(replay_t *r, uint64_t seq, const char *event, const char *ids, const char *blocks, ...) {
    audit_entry_t e;
    memset(&e, 0, sizeof e);
    e.seq = seq;
    snprintf(e.event, sizeof e.event, "%s", event);
    char copy[512], *ptrs[8], *save = NULL;
    snprintf(copy, sizeof copy, "%s", ids);
    for (char *t = strtok_r(copy, ",", &save); t != NULL && e.ids_n < 8; t = strtok_r(NULL, ",", &save))
        ptrs[e.ids_n++] = t;
    e.ids = ptrs;
    cr_assert_eq(ledger_blocks_parse(blocks, 1024, &e.blocks, &e.blocks_n), 0, "%s", blocks);
    va_list ap;
    va_start(ap, blocks);
    for (const char *d = va_arg(ap, const char *); d != NULL; d = va_arg(ap, const char *)) {
        e.detail_text[e.detail_n] = d;
        e.detail_len[e.detail_n++] = strlen(d);
    }
    va_end(ap);
    replay_entry(r, &e);
    free(e.blocks);
}

static void store(replay_t *r, const char *kind, const char *owner, const char *blocks, const char *d0,
                  const char *d1, const char *d2) {
    ledger_block_t *b = NULL;
    size_t n = 0;
    cr_assert_eq(ledger_blocks_parse(blocks, 1024, &b, &n), 0);
    const char *detail[] = {d0, d1, d2};
    size_t dn = d0 == NULL ? 0 : d1 == NULL ? 1 : d2 == NULL ? 2 : 3;
    cr_assert_eq(replay_store_record(r, kind, owner, b, n, detail, dn), 0, "%s %s", kind, owner);
    free(b);
}

#define T1 "00000000000000000000000000000001"
#define T2 "00000000000000000000000000000002"
#define T3 "00000000000000000000000000000003"

/* A history touching every event: issue 1000 g to a; hold 300 (T1) and
 * commit; hold 100 (T2) and abort; a pending credit of 50 of 60 g (T3)
 * applied with 10 g cancelled; a retirement of 200 g. */
static replay_t *history(void) {
    replay_t *r = replay_new();
    entry(r, 1, "open", "a", "", "personal", NULL);
    entry(r, 2, "open", "b", "", "firm", NULL);
    entry(r, 3, "issue", "i1,a", "CN-TJ|M|2024|1|1000", "fp", NULL);
    entry(r, 4, "hold", T1 ",a,CN-BJ/x", "CN-TJ|M|2024|1|300", NULL);
    entry(r, 5, "batch", T1, "", "CN-BJ", "1", "digest", NULL);
    entry(r, 6, "commit", T1 ",a", "CN-TJ|M|2024|1|300", NULL);
    entry(r, 7, "acked", T1, "", NULL);
    entry(r, 8, "hold", T2 ",a,CN-BJ/x", "CN-TJ|M|2024|301|400", NULL);
    entry(r, 9, "abort", T2 ",a", "CN-TJ|M|2024|301|400", "EXPIRED", NULL);
    entry(r, 10, "prepare", T3 ",b,CN-HE/h", "CN-HE|W|2023|5|64", "CN-HE", "3", "50", NULL);
    entry(r, 11, "apply", T3 ",b", "CN-HE|W|2023|5|54", "CN-HE", NULL);
    entry(r, 12, "cancel", T3 ",b", "CN-HE|W|2023|55|64", "CN-HE", NULL);
    entry(r, 13, "retire", "r1,a", "CN-TJ|M|2024|301|400,CN-TJ|M|2024|401|500", "purpose", "Acme", NULL);
    return r;
}

/* The store that history() makes, in the store's own fragmentation. */
static void history_store(replay_t *r, const char *a_blocks) {
    store(r, "account", "a", a_blocks, "personal", "0", "0");
    store(r, "account", "b", "CN-HE|W|2023|5|54", "firm", "0", "0");
    store(r, "exported", T1, "CN-TJ|M|2024|1|300", "a", "CN-BJ/x", NULL);
    store(r, "cancelled", T3, "CN-HE|W|2023|55|64", NULL, NULL, NULL);
    store(r, "retired", "r1", "CN-TJ|M|2024|301|400", "a", NULL, NULL);
    store(r, "retired", "r1", "CN-TJ|M|2024|401|500", "a", NULL, NULL);
}

Test(replay, every_event_rebuilds_what_the_store_holds) {
    replay_t *r = history();
    /* the same serials, cut differently: not a difference */
    history_store(r, "CN-TJ|M|2024|501|700,CN-TJ|M|2024|701|1000");
    diffs_t ds = {0};
    cr_assert_eq(replay_compare(r, collect, &ds), 0, "%s", all(&ds));
    cr_assert_eq(replay_entries(r), 13);
    cr_assert_eq(replay_records(r, 0), 5);
    cr_assert_eq(replay_records(r, 1), 5);
    replay_free(r);
}

#define T4 "00000000000000000000000000000004"
#define T5 "00000000000000000000000000000005"

/* Heuristic decisions (docs/audit-log.md §2.1, 'heuristic'): a forced
 * COMMIT taken back (REVERSED, T3), a forced ABORT re-applied (REAPPLIED,
 * T5), and a coordinator that compensates a HEURISTIC_MIXED leg (T4: its
 * aborted blocks leave again as the exported tombstone). */
Test(replay, heuristic_entries_move_blocks_back_forth_and_out) {
    replay_t *r = history();
    entry(r, 14, "resolve", T3, "", "C", "spiffe://op", "why", NULL);
    entry(r, 15, "heuristic", T3 ",b", "CN-HE|W|2023|5|54,CN-HE|W|2023|55|64", "CN-HE", "REVERSED", "A", "1", NULL);
    entry(r, 16, "hold", T4 ",a,CN-BJ/x", "CN-TJ|M|2024|501|600", NULL);
    entry(r, 17, "abort", T4 ",a", "CN-TJ|M|2024|501|600", "PRESUMED_ABORT", NULL);
    entry(r, 18, "heuristic", T4 ",a", "", "CN-BJ", "MIXED", "A", "0", NULL);
    entry(r, 19, "heuristic", T4 ",a,CN-BJ/x", "CN-TJ|M|2024|501|600", "CN-BJ", "COMPENSATED", "C", "0",
          "spiffe://op", "incident", NULL);
    entry(r, 20, "prepare", T5 ",b,CN-HE/h", "CN-HE|W|2023|100|109", "CN-HE", "4", "8", NULL);
    entry(r, 21, "drop", T5, "", "CN-HE", NULL);
    entry(r, 22, "heuristic", T5 ",b", "CN-HE|W|2023|100|107,CN-HE|W|2023|108|109", "CN-HE", "REAPPLIED", "C",
          "1", NULL);
    store(r, "account", "a", "CN-TJ|M|2024|601|1000", "personal", "0", "0");
    store(r, "account", "b", "CN-HE|W|2023|100|107", "firm", "0", "0");
    store(r, "exported", T1, "CN-TJ|M|2024|1|300", "a", "CN-BJ/x", NULL);
    store(r, "exported", T4, "CN-TJ|M|2024|501|600", "a", "CN-BJ/x", NULL);
    store(r, "cancelled", T5, "CN-HE|W|2023|108|109", NULL, NULL, NULL);
    store(r, "retired", "r1", "CN-TJ|M|2024|301|500", "a", NULL, NULL);
    diffs_t ds = {0};
    cr_assert_eq(replay_compare(r, collect, &ds), 0, "%s", all(&ds));
    cr_assert_eq(replay_records(r, 0), 6);
    replay_free(r);
    /* at the destination, a compensation cancels grams of the account under the transfer */
    r = history();
    entry(r, 14, "heuristic", T3 ",b", "", "CN-HE", "MIXED", "A", "1", NULL);
    entry(r, 15, "heuristic", T3 ",b", "CN-HE|W|2023|5|54", "CN-HE", "COMPENSATED", "C", "0", "spiffe://op",
          "incident", NULL);
    store(r, "account", "a", "CN-TJ|M|2024|501|1000", "personal", "0", "0");
    store(r, "account", "b", "", "firm", "0", "0");
    store(r, "exported", T1, "CN-TJ|M|2024|1|300", "a", "CN-BJ/x", NULL);
    store(r, "cancelled", T3, "CN-HE|W|2023|5|64", NULL, NULL, NULL);
    store(r, "retired", "r1", "CN-TJ|M|2024|301|500", "a", NULL, NULL);
    ds.n = 0;
    cr_assert_eq(replay_compare(r, collect, &ds), 0, "%s", all(&ds));
    replay_free(r);
    /* a block taken back that the account does not hold is a finding */
    r = history();
    entry(r, 14, "heuristic", T3 ",b", "CN-HE|W|2023|1|4", "CN-HE", "REVERSED", "A", "1", NULL);
    ds.n = 0;
    cr_assert_geq(replay_compare(r, collect, &ds), 1);
    cr_assert(has(&ds, "taken back is not there"), "%s", all(&ds));
    replay_free(r);
}

Test(replay, serials_that_differ_are_named_exactly) {
    replay_t *r = history();
    history_store(r, "CN-TJ|M|2024|501|600,CN-TJ|M|2024|651|1000,CN-TJ|M|2024|2000|2000");
    diffs_t ds = {0};
    cr_assert_eq(replay_compare(r, collect, &ds), 2, "%s", all(&ds));
    cr_assert(has(&ds, "account a block CN-TJ|M|2024|601|650: log says present, store says absent"), "%s", all(&ds));
    cr_assert(has(&ds, "account a block CN-TJ|M|2024|2000|2000: log says absent, store says present"), "%s",
              all(&ds));
    replay_free(r);
}

Test(replay, holds_pending_credits_and_balances_are_compared) {
    replay_t *r = replay_new();
    entry(r, 1, "open", "a", "", "personal", NULL);
    entry(r, 2, "issue", "i1,a", "CN-TJ|M|2024|1|100", "fp", NULL);
    entry(r, 3, "hold", T1 ",a,CN-BJ/x", "CN-TJ|M|2024|1|40", NULL);
    entry(r, 4, "prepare", T2 ",a,CN-HE/h", "CN-HE|W|2023|1|10", "CN-HE", "1", "9", NULL);
    store(r, "account", "a", "CN-TJ|M|2024|41|100", "personal", "40", "5");
    store(r, "pending", T2, "CN-HE|W|2023|1|10", "a", "CN-HE/h", "7");
    diffs_t ds = {0};
    cr_assert_eq(replay_compare(r, collect, &ds), 3, "%s", all(&ds));
    cr_assert(has(&ds, "account a pending_g: log says 9, store says 5"), "%s", all(&ds));
    cr_assert(has(&ds, "pending " T2 " credited_g: log says 9, store says 7"), "%s", all(&ds));
    cr_assert(has(&ds, "hold " T1 ": log says present (1 blocks, 40 g), store says absent"), "%s", all(&ds));
    replay_free(r);
}

Test(replay, a_log_that_contradicts_itself_is_reported_entry_by_entry) {
    replay_t *r = replay_new();
    entry(r, 1, "open", "a", "", "personal", NULL);
    entry(r, 2, "open", "a", "", "personal", NULL);                      /* twice */
    entry(r, 3, "commit", T1 ",a", "CN-TJ|M|2024|1|10", NULL);            /* never held */
    entry(r, 4, "hold", T2 ",a,CN-BJ/x", "CN-TJ|M|2024|1|10", NULL);      /* a holds nothing */
    entry(r, 5, "apply", T3 ",a", "CN-TJ|M|2024|1|10", "CN-HE", NULL);    /* never prepared */
    entry(r, 6, "issue", "i1,nobody", "CN-TJ|M|2024|1|10", "fp", NULL);   /* no such account */
    entry(r, 7, "mint", "a", "", NULL);                                   /* no such event */
    entry(r, 8, "prepare", T3 ",a,CN-HE/h", "CN-HE|W|2023|1|10", NULL);   /* no credited_g */
    replay_entry_unreadable(r, 9, "does not parse");
    store(r, "account", "a", "", "personal", "0", "0");
    store(r, "hold", T2, "", "a", "CN-BJ/x", "0");
    diffs_t ds = {0};
    cr_assert_eq(replay_compare(r, collect, &ds), 8, "%s", all(&ds));
    cr_assert(has(&ds, "log entry 2 (open): account a opened again"), "%s", all(&ds));
    cr_assert(has(&ds, "log entry 3 (commit): transfer " T1 " has no hold"), "%s", all(&ds));
    cr_assert(has(&ds, "log entry 4 (hold): hold " T2 " does not hold block")
              || has(&ds, "log entry 4 (hold): account a does not hold block CN-TJ|M|2024|1|10"), "%s", all(&ds));
    cr_assert(has(&ds, "log entry 5 (apply): transfer " T3 " has no pending credit"), "%s", all(&ds));
    cr_assert(has(&ds, "log entry 6 (issue): issued into account nobody was never opened"), "%s", all(&ds));
    cr_assert(has(&ds, "log entry 7 (mint): unknown event"), "%s", all(&ds));
    cr_assert(has(&ds, "log entry 8 (prepare): transfer " T3 ": detail 3 is not the grams credited"), "%s", all(&ds));
    cr_assert(has(&ds, "log entry 9 (unreadable): does not parse"), "%s", all(&ds));
    replay_free(r);
}

Test(replay, bad_store_records_are_refused) {
    replay_t *r = replay_new();
    const char *d[] = {"personal", "x", "0"};
    cr_assert_eq(replay_store_record(r, "account", "a", NULL, 0, d, 3), -1, "held_g not a number");
    cr_assert_eq(replay_store_record(r, "account", "a", NULL, 0, d, 1), -1, "too few details");
    cr_assert_eq(replay_store_record(r, "vault", "a", NULL, 0, d, 3), -1, "no such kind");
    cr_assert_eq(replay_store_record(r, "cancelled", "", NULL, 0, d, 0), -1, "no owner");
    cr_assert_eq(replay_records(r, 1), 0);
    const char *m[] = {"account block 'garbage|x'"};
    cr_assert_eq(replay_store_record(r, "malformed", "acct-1", NULL, 0, m, 1), -1);
    diffs_t ds = {0};
    cr_assert_eq(replay_compare(r, collect, &ds), 5, "each is a finding:\n%s", all(&ds));
    cr_assert(has(&ds, "the store holds a malformed malformed record acct-1: account block 'garbage|x'"),
              "%s", all(&ds));
    replay_free(r);
}
