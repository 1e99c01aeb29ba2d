/* trace_check.h - the audit logs of every region of one federation checked
 * against the settlement protocol model's transition relation (issue 14
 * item 5; tests/model/settlement.pml, tests/model/README.md "What the trace
 * check checks"). A trace check, not a proof: every observed step must be a
 * step the model allows.
 *
 * Per (region, transfer id) a leg runs the model's abstract state machine:
 *   source (coordinator)  NONE -hold-> HELD -commit/abort-> COMMITTED/ABORTED
 *                         -acked-> (acknowledged); heuristic MIXED; the
 *                         operator's compensation (ABORTED -> COMMITTED)
 *   destination           NONE -prepare-> PREPARED -apply/drop-> COMMITTED/
 *                         ABORTED; an operator's forced decision (apply/drop
 *                         plus resolve) -> HC/HA; the coordinator's decision
 *                         settles it (heuristic AGREED/REAPPLIED/REVERSED/MIXED)
 *   origin (third party)  the origin X of a third region's serials: NONE
 *                         -origin-prepare-> PREPARED (locked) -origin-commit/
 *                         origin-abort-> COMMITTED/ABORTED; no operator
 *                         decides it. At the source, origin-acked (once per
 *                         origin) after the decision, and acked only after
 *                         every origin of the hold's third-region serials
 *                         acknowledged (origin-acked)
 * Each entry's event must be allowed from its leg's state at that region
 * (trace_check_entry). After every log, trace_check_finish checks what the
 * model enforces across regions: a destination's apply needs its source's
 * commit, a drop its source's abort (never a commit); a commit needs the
 * destination's prepare (its yes vote); an acked needs the destination to
 * hold that decision (or never to have known the leg, for an abort); a
 * heuristic settlement names a decision the coordinator recorded; a source's
 * heuristic MIXED needs the destination's MIXED. The same for the origin X:
 * its origin-commit needs the source's commit, its origin-abort the
 * source's abort (no participant decides alone); a commit needs every
 * origin's origin-prepare; an origin-prepare needs the source's hold of X's
 * serials; an origin-acked needs X to hold that decision (or never to have
 * known the leg, for an abort). So no participant decides a
 * prepared leg without the coordinator's decision or an operator's resolve.
 * Where the entries' clocks order them (time_ms; both sides' gateways), a
 * step taken more than max_skew_ms before the step it needs is a finding too.
 *
 * A finding names the region, the entry's seq, the transfer, the event, the
 * leg's state and why the model has no such step; findings are never asserts
 * (a log is hostile input). Entries of events that are no leg's step (open,
 * issue, retire, ack-fork, use-report, use-reported, act-reserve,
 * act-issued, act-release) are counted and not checked.
 *
 * Limits: TRACE_CHECK_REGIONS_MAX regions (those whose logs are given and
 * the peers they name), TRACE_CHECK_LEGS_MAX legs (past it one finding says
 * so and the rest is not checked), TRACE_CHECK_FINDINGS_MAX findings kept
 * (more are counted). Memory: a leg is about 150 bytes and the table is
 * kept at most half full, so at most about 300 bytes per leg: about 650 MB
 * at the limit (1 GB while the table doubles), plus 56 bytes per
 * origin-acked (at most TRACE_CHECK_LEGS_MAX of them). No recursion. Not
 * thread-safe. */
#ifndef SETTLEMENT_TRACE_CHECK_H
#define SETTLEMENT_TRACE_CHECK_H

#include "common/region.h"
#include "settlement/audit.h"

#include <stddef.h>
#include <stdint.h>

#define TRACE_CHECK_REGIONS_MAX 16
#define TRACE_CHECK_LEGS_MAX (1u << 21)
#define TRACE_CHECK_FINDINGS_MAX 10000
#define TRACE_CHECK_TID_LEN 32 /* a transfer id: 32 lowercase hex digits */

typedef struct trace_check trace_check_t;

/* One step of a log that is not a step of the model. */
typedef struct {
    char region[CARBON_REGION_SIZE];  /* whose log */
    uint64_t seq;                     /* the entry (0: not about one entry) */
    char tid[TRACE_CHECK_TID_LEN + 1]; /* the transfer ("" if none) */
    char event[16];
    char state[16];                   /* the leg's state there before the entry */
    char rule[96];                    /* the model's transition it was checked against */
    char text[640];                   /* the whole finding, for people */
} trace_check_finding_t;

typedef void (*trace_check_emit_fn)(void *ctx, const trace_check_finding_t *f);

typedef struct {
    uint64_t entries;      /* entries given (every region) */
    uint64_t leg_entries;  /* ... that are steps of a leg */
    size_t legs;           /* (region, transfer) legs */
    size_t transfers;      /* distinct transfers (source legs, and destination legs whose source was not read) */
    size_t unpaired;       /* legs whose peer's log was not given: not checked across regions */
    size_t too_recent;     /* cross-region checks skipped: newer than the peer's horizon */
} trace_check_stats_t;

/* A new checker. max_skew_ms: how far two regions' clocks may disagree
 * (ordering checks allow that much). Never NULL (aborts on out of memory). */
trace_check_t *trace_check_new(uint64_t max_skew_ms);
void trace_check_free(trace_check_t *tc);

/* Declares that region's whole log will be given (entries 1..n in seq
 * order). Returns its index (for trace_check_entry), or -1 if the name is
 * empty or too long, was declared before, or TRACE_CHECK_REGIONS_MAX
 * regions are known. Declare every region before its first entry. */
int trace_check_region(trace_check_t *tc, const char *region);

/* The log of region index r was read at horizon_ms (its clock): an entry
 * written after it may be missing, so checks that need an entry of r for a
 * step newer than horizon_ms - max_skew_ms are skipped (counted as
 * too_recent). Default: no horizon (the logs are complete, e.g. at rest). */
void trace_check_horizon(trace_check_t *tc, int r, uint64_t horizon_ms);

/* Checks entry e, the next entry of region index r's log. tc, e not NULL. */
void trace_check_entry(trace_check_t *tc, int r, const audit_entry_t *e);

/* Notes that entry seq of region r could not be read or parsed (a finding). */
void trace_check_unreadable(trace_check_t *tc, int r, uint64_t seq, const char *why);

/* After every log: the checks across regions, then emits every finding
 * (per-entry ones in the order found, then the cross-region ones). Returns
 * how many there are, including those past TRACE_CHECK_FINDINGS_MAX (counted,
 * not emitted). Call once. */
size_t trace_check_finish(trace_check_t *tc, trace_check_emit_fn emit, void *ctx);

/* What was checked (after trace_check_finish for transfers, unpaired, too_recent). */
void trace_check_stats(const trace_check_t *tc, trace_check_stats_t *out);

#endif
