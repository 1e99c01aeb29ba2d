/* heuristic.h - heuristic decisions at the destination and what follows them
 * (DESIGN §6, "Heuristic decisions"): the record of a coordinator's failed
 * QueryDecision attempts that guards an operator's forced decision, the scan
 * recovery uses to ask coordinators about forced legs, the coordinator-side
 * record of a HEURISTIC_MIXED answer, and the operator's compensation that
 * closes a HEURISTIC_MIXED leg.
 *
 * The forced decision itself and the settling of it when the coordinator
 * answers are part of the destination's decide script (ledger_dest_decide,
 * dest_decide.lua), since the coordinator's Decide reaches that script. */
#ifndef SETTLEMENT_HEURISTIC_H
#define SETTLEMENT_HEURISTIC_H

#include "settlement/ledger.h"
#include "settlement/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HEURISTIC_SCAN_MAX LEDGER_BATCH_LEGS_MAX /* forced legs asked about per pass */

/* A leg's record of failed attempts to learn its coordinator's decision. */
typedef struct {
    uint64_t first_ms;  /* first failed attempt recorded (0: the leg is not a PREPARED leg of source) */
    uint64_t last_ms;   /* the latest */
    uint64_t attempts;
} heuristic_doubt_t;

/* Records one failed attempt (unreachable, timeout, or the coordinator has no
 * record) at now_ms on each of the n tids that is a PREPARED destination leg
 * from source (others are left alone, out[i] zeroed). out may be NULL.
 * 1 <= n <= LEDGER_BATCH_LEGS_MAX. LEDGER_OK or LEDGER_ESTORE. */
int heuristic_record_doubt(store_t *st, const char *source, const char *const *tids, size_t n,
                           uint64_t now_ms, heuristic_doubt_t *out, char *err, size_t errlen);

/* The legs forced by an operator whose coordinator has not answered yet,
 * oldest first (at most limit, 1..HEURISTIC_SCAN_MAX; state is left NONE),
 * and the number of HEURISTIC_MIXED legs kept in the store. With mixed not
 * NULL (room for limit), also the oldest HEURISTIC_MIXED legs' tids
 * (*mixed_listed of them; peer and state left empty). */
int heuristic_scan(store_t *st, size_t limit, ledger_pending_leg_t *legs, size_t *n,
                   uint64_t *mixed_n, ledger_pending_leg_t *mixed, size_t *mixed_listed,
                   char *err, size_t errlen);

/* Coordinator side: the destination answered these n decided source legs
 * HEURISTIC_MIXED. Marks them acknowledged (no more re-sends) and
 * HEURISTIC_MIXED (listed, alarmed) with a 'heuristic' audit entry each.
 * *marked (may be NULL) gets the number newly marked. */
int heuristic_source_mixed(store_t *st, const char *const *tids, size_t n, uint64_t now_ms,
                           size_t *marked, char *err, size_t errlen);

/* What heuristic_compensate found or did (see there). */
typedef struct {
    uint64_t have_g;    /* LEDGER_INSUFFICIENT: the grams the destination account holds (0 at the source) */
    char needed;        /* LEDGER_CONFLICT: the decision the leg needs */
    char holds;         /* LEDGER_OK: the decision the leg now holds */
    bool closed_denied; /* LEDGER_OK: an ORIGIN_DENIED leg was closed (else a HEURISTIC_MIXED one) */
} heuristic_compensation_t;

/* Closes the HEURISTIC_MIXED leg tid with the operator's compensating
 * action (heuristic_compensate.lua says which, per role), decision
 * TRANSFER_DECISION_COMMIT, or at the source, decision
 * TRANSFER_DECISION_ABORT, closes its ABORTED MIXED leg as it is (its
 * destination compensated); or closes the ORIGIN_DENIED destination leg tid
 * as ABORTED (its pending credit dropped, unless a forced ABORT dropped it
 * before), decision TRANSFER_DECISION_ABORT; audited with operator and
 * reason. LEDGER_OK; LEDGER_NOT_FOUND if tid is neither here;
 * LEDGER_CONFLICT if decision is not one the leg takes (out->needed gets
 * the one it needs); LEDGER_INSUFFICIENT (out->have_g: the grams the
 * destination account holds; 0 at the source: its account no longer holds
 * every block of the leg); LEDGER_TOO_FRAGMENTED (the grams span more than
 * LEDGER_LEG_BLOCKS_MAX of the account's blocks); LEDGER_DAMAGED (the
 * destination account's blocks are out of the store's format; why in err);
 * LEDGER_ESTORE. A refusal changes nothing. On LEDGER_OK out->holds gets
 * the decision the leg now holds: TRANSFER_DECISION_ABORT for a closed
 * ORIGIN_DENIED leg (out->closed_denied), for a destination's forced ABORT
 * that was not re-applied (dest_decide.lua reapply_conflict) and for a
 * source's ABORTED leg closed as it is, else COMMIT. */
int heuristic_compensate(store_t *st, const char *tid, char decision, const char *operator_id,
                         const char *reason, uint64_t now_ms, heuristic_compensation_t *out, char *err,
                         size_t errlen);

#endif
