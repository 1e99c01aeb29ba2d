/* checker.h - the conservation checker: reads every region's store and
 * verifies the invariants of DESIGN §9 that state can show:
 *
 *   1. conservation: for each origin region, every serial ever issued is in
 *      exactly one live place across the stores (an account, a hold, a
 *      pending credit of a committed transfer, retired, cancelled), and each
 *      exported tombstone at a source matches the destination's leg;
 *   2. atomicity: both legs of every transfer agree (committed on both, or
 *      aborted on both; a leg still in flight is counted, and is a violation
 *      only when settled_required is set);
 *   3. idempotency: no transfer was held, decided, applied or dropped twice
 *      (counted from the audit log), and no serial is in two places;
 *   4. provenance (DESIGN §6): each given origin's map (origin:map) agrees
 *      with every given region's holdings: serials held at R are where the
 *      map places them, in that state (live, retired, cancelled; at home
 *      when no entry), each range the map places at R is held at R, and
 *      (settled) the origin's index of its own serials is exactly what the
 *      map leaves at home; not settled, a use not yet reported and a range
 *      locked by a leg prepared at its origin are moves in flight; pending
 *      credits are left to the legs' check (2); and every block of a given
 *      origin's serials, wherever held, carries the methodology and vintage
 *      the origin issued them under (serial:labels; an origin whose store
 *      predates them is not checked so);
 *   5. every audit chain verifies (each entry's SHA-256 over prev_hash and
 *      its canonical text, and the chain head).
 *
 * It reads with plain commands (SCAN, HGETALL, LRANGE, ZRANGE): run it on a quiet
 * federation, or expect in-flight legs.
 *
 * Given only some regions' stores, it reports only what those stores prove:
 * serials that a committed transfer exported to a region whose store was not
 * given are "abroad, not checked" (counted in grams_abroad, never "nowhere"),
 * legs of such a region are not compared, and the regions named by legs but
 * not given are listed in unchecked[]. */
#ifndef SETTLEMENT_CHECKER_H
#define SETTLEMENT_CHECKER_H

#include "settlement/store.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CHECKER_REGIONS_MAX 16
#define CHECKER_VIOLATIONS_MAX 1000 /* kept; more are counted only */
#define CHECKER_TEXT_MAX 256

typedef struct {
    char region[CARBON_REGION_SIZE];
    store_t *store; /* borrowed */
} checker_region_t;

typedef struct {
    /* what was counted */
    uint64_t regions;
    uint64_t serials_issued;       /* over all origins */
    uint64_t grams_in_accounts;
    uint64_t grams_held;
    uint64_t grams_pending;
    uint64_t grams_retired;
    uint64_t grams_cancelled;
    uint64_t grams_exported;       /* tombstones at sources of committed transfers */
    uint64_t accounts;
    uint64_t transfers;
    uint64_t transfers_committed;
    uint64_t transfers_aborted;
    uint64_t transfers_in_flight;
    uint64_t audit_entries;
    uint64_t grams_abroad;         /* exported to regions whose store was not given */
    size_t unchecked_n;            /* regions named by legs whose store was not given */
    char unchecked[CHECKER_REGIONS_MAX][CARBON_REGION_SIZE];
    /* what is wrong */
    uint64_t violations_n;
    char violations[CHECKER_VIOLATIONS_MAX][CHECKER_TEXT_MAX];
} checker_report_t;

/* Checks the regions' stores. settled_required: any leg in flight or decided
 * but unacknowledged is a violation (use after recovery has run). Returns 0
 * when the stores could be read (the report says whether the invariants
 * hold), -1 with the reason in err when a store could not be read. The
 * report is large: allocate it on the heap. */
int checker_run(const checker_region_t *regions, size_t n, int settled_required,
                checker_report_t *report, char *err, size_t errlen);

/* Prints the counts and every violation, for people. */
void checker_print(const checker_report_t *report, FILE *out);

#endif
