/* activity.h - reservations of keyed activity fingerprints in a region's
 * store (DESIGN §6 "Issuance across regions"; settlement/activity_key.h for
 * the keys): at an activity's home region, reserve, settle and list the
 * reservations due; at the issuing region, answer whether an issuance
 * happened under a reservation. Each call is one script
 * (settlement/scripts/activity_*.lua), so each is atomic and idempotent. */
#ifndef SETTLEMENT_ACTIVITY_H
#define SETTLEMENT_ACTIVITY_H

#include "settlement/activity_key.h"
#include "settlement/ledger.h"
#include "settlement/store.h"

#include <stddef.h>
#include <stdint.h>

#define ACTIVITY_BATCH_MAX 256           /* reservations, settlements or queries per call */
#define ACTIVITY_PENDING_MAX 10000       /* reservations one region may hold unsettled at a home */

typedef struct {
    char key[ACTIVITY_KEY_HEX + 1];
    char iid[LEDGER_TID_LEN + 1];
    uint64_t expiry_ms;
} activity_request_t;

/* REFUSED: a peer home's refusal for another reason than ACTIVITY_LIMIT. */
typedef enum { ACTIVITY_RESERVED = 1, ACTIVITY_TAKEN = 2, ACTIVITY_LIMIT = 3, ACTIVITY_REFUSED = 4 } activity_outcome_t;

typedef struct {
    activity_outcome_t outcome;
    uint64_t rsv;                          /* RESERVED: the reservation number */
    char holder[LEDGER_REGION_MAX + 1];    /* TAKEN: who holds it */
    int reason;                            /* REFUSED: the home's reason (reason_t) */
} activity_result_t;

typedef struct {
    char key[ACTIVITY_KEY_HEX + 1];
    char region[LEDGER_REGION_MAX + 1];    /* the issuing region */
    char iid[LEDGER_TID_LEN + 1];
    uint64_t rsv;
    int issued;                            /* settle: 1 issued, 0 released */
} activity_reservation_t;

/* At the home: reserves req[0..n) (1..ACTIVITY_BATCH_MAX, keys valid) for
 * region's issuances; out[i] says what each got. LEDGER_OK or LEDGER_ESTORE. */
int activity_reserve(store_t *st, const char *region, uint64_t now_ms, const activity_request_t *req, size_t n,
                     activity_result_t *out, char *err, size_t errlen);

/* At the home: settles r[0..n) of region (1..ACTIVITY_BATCH_MAX; each
 * r[i].region is ignored: region is the caller's). *settled gets how many
 * changed. LEDGER_OK or LEDGER_ESTORE. */
int activity_settle(store_t *st, const char *region, uint64_t now_ms, const activity_reservation_t *r, size_t n,
                    size_t *settled, char *err, size_t errlen);

/* At the home: up to cap (<= ACTIVITY_BATCH_MAX) reservations of region's
 * issuances past their expiry, oldest first, into out[0..*n). LEDGER_OK or
 * LEDGER_ESTORE. */
int activity_due(store_t *st, uint64_t now_ms, const char *region, activity_reservation_t *out, size_t cap,
                 size_t *n, char *err, size_t errlen);

/* At the issuer: issued[i] = 1 if issuance q[i].iid happened under
 * reservation q[i].rsv, else 0, and then it never will (recorded
 * abandoned). n in 1..ACTIVITY_BATCH_MAX. LEDGER_OK or LEDGER_ESTORE. */
int activity_query(store_t *st, const activity_reservation_t *q, size_t n, int *issued, char *err, size_t errlen);

/* At the issuer, before reserving: 1 if issuance iid (request_fp, to
 * account, fingerprint) would be recorded by issue.lua; 0 if issue.lua will
 * answer without it (a replay, a reused id, an unknown account, a
 * fingerprint issued here already): then nothing is reserved. LEDGER_ESTORE
 * (negative) if the store did not answer. */
int activity_issue_precheck(store_t *st, const char *iid, const char *request_fp, const char *account,
                            const char *fingerprint, char *err, size_t errlen);

#endif
