/* use_reports.h - reports of use abroad (DESIGN §6 provenance). A retirement
 * or a recognition-discount cancellation here of serials another region X
 * issued is written, in the same script as the use, as a report to X
 * (_prelude.lua use_report_add: reports:out:X). Recovery sends the reports
 * due to each peer (Federation.ReportUse), within the peer's limits, and
 * keeps each one until X answers APPLIED or ALREADY; a refusal or no answer
 * makes it due again after a backoff doubling from USE_REPORTS_BACKOFF_MIN_MS
 * to USE_REPORTS_BACKOFF_MAX_MS. At X, use_reports_apply moves the serials
 * in X's map from "at R" to retired/cancelled at R (use_report_apply.lua).
 * No gRPC here: the gateway implements use_reports_transport_t. */
#ifndef SETTLEMENT_USE_REPORTS_H
#define SETTLEMENT_USE_REPORTS_H

#include "settlement/ledger.h"
#include "settlement/store.h"

#include <stddef.h>
#include <stdint.h>

#define USE_REPORTS_BACKOFF_MIN_MS 1000u
#define USE_REPORTS_BACKOFF_MAX_MS 300000u
#define USE_REPORTS_MESSAGES_PER_PASS 4  /* ReportUse calls per peer per recovery pass */
#define USE_REPORTS_PEERS_MAX 16
#define USE_REPORT_KIND_MAX 15
#define USE_REPORT_PURPOSE_MAX 31

/* A report's outcome at its origin (use_report_t.outcome). */
#define USE_REPORT_UNANSWERED 'U'
#define USE_REPORT_APPLIED 'P'
#define USE_REPORT_ALREADY 'D'
#define USE_REPORT_REFUSED 'R'

typedef struct {
    char id[LEDGER_TID_LEN + 1];              /* the retirement or transfer id */
    char kind[USE_REPORT_KIND_MAX + 1];       /* "retired" or "cancelled" */
    char purpose[USE_REPORT_PURPOSE_MAX + 1]; /* a retirement's purpose, "" */
    ledger_block_t *blocks;                   /* malloc'd: use_report_free */
    size_t blocks_n;                          /* 1..LEDGER_LEG_BLOCKS_MAX */
    char outcome;                             /* USE_REPORT_* */
    char reason[LEDGER_REASON_MAX + 1];       /* for USE_REPORT_REFUSED */
} use_report_t;

/* Frees r's blocks (r itself is the caller's). */
void use_report_free(use_report_t *r);

/* How reports reach their origin. send fills every report's outcome and
 * reason and returns 0 when the origin answered, or -1 with the reason in
 * err when nothing is known (the outcomes are then left as they were).
 * Called from the recovery thread. */
typedef struct {
    void *ctx;
    int (*send)(void *ctx, const char *origin, use_report_t *reports, size_t n,
                int64_t timeout_ms, char *err, size_t errlen);
} use_reports_transport_t;

typedef struct use_reports use_reports_t;

/* The sender for peers[0..peers_n) (peers_n <= USE_REPORTS_PEERS_MAX);
 * transport is copied. */
use_reports_t *use_reports_create(const use_reports_transport_t *transport,
                                  const char *const *peers, size_t peers_n);
void use_reports_destroy(use_reports_t *u);

/* Sends the reports due to origin at now_ms: at most
 * USE_REPORTS_MESSAGES_PER_PASS messages of at most items_max reports
 * (>= 1) and about bytes_max bytes (0: no limit; a report larger than that
 * goes alone), and records the answers. Returns the reports acknowledged,
 * or -1 when the store failed (err). Precondition: one caller at a time per
 * store (the recovery lease holder). */
int use_reports_send_due(use_reports_t *u, store_t *st, const char *origin, size_t items_max,
                         uint64_t bytes_max, int64_t timeout_ms, uint64_t now_ms, char *err,
                         size_t errlen);

/* Reports to origin not yet acknowledged, as the last pass found them
 * (0 before one; for metrics). Thread-safe. */
uint64_t use_reports_pending(const use_reports_t *u, const char *origin);

/* At the origin: applies n (1..LEDGER_BATCH_LEGS_MAX) well-formed reports
 * from reporter (blocks of this region's issue, disjoint within a report),
 * filling each one's outcome (APPLIED, ALREADY or REFUSED with the reason).
 * LEDGER_OK, or LEDGER_ESTORE with err (nothing known). */
int use_reports_apply(store_t *st, const char *reporter, use_report_t *reports, size_t n,
                      uint64_t now_ms, char *err, size_t errlen);

#endif
