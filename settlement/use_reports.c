/* use_reports.c - reports of use abroad (use_reports.h). */
#include "settlement/use_reports.h"
#include "settlement/script_args.h"

#include "common/carbon_assert.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct use_reports {
    use_reports_transport_t transport;
    size_t peers_n;
    char peers[USE_REPORTS_PEERS_MAX][LEDGER_REGION_MAX + 1];
    _Atomic uint64_t pending[USE_REPORTS_PEERS_MAX];
};

void use_report_free(use_report_t *r) {
    if (r == NULL) return;
    free(r->blocks);
    r->blocks = NULL;
    r->blocks_n = 0;
}

use_reports_t *use_reports_create(const use_reports_transport_t *transport,
                                  const char *const *peers, size_t peers_n) {
    CARBON_ASSERT(transport != NULL && transport->send != NULL);
    CARBON_ASSERT(peers != NULL && peers_n <= USE_REPORTS_PEERS_MAX);
    use_reports_t *u = calloc(1, sizeof *u);
    if (u == NULL) abort();
    u->transport = *transport;
    for (size_t i = 0; i < peers_n; i++) snprintf(u->peers[i], sizeof u->peers[i], "%s", peers[i]);
    u->peers_n = peers_n;
    return u;
}

void use_reports_destroy(use_reports_t *u) { free(u); }

static int use_reports_peer(const use_reports_t *u, const char *origin) {
    for (size_t i = 0; i < u->peers_n; i++)
        if (strcmp(u->peers[i], origin) == 0) return (int)i;
    return -1;
}

uint64_t use_reports_pending(const use_reports_t *u, const char *origin) {
    CARBON_ASSERT(u != NULL && origin != NULL);
    int i = use_reports_peer(u, origin);
    return i < 0 ? 0 : atomic_load(&u->pending[i]);
}

/* ---- script arguments ---------------------------------------------------------- */

/* Runs script name with a's arguments (freed); *r is an array reply. */
static int ur_run(store_t *st, const char *name, script_args_t *a, redisReply **r, char *err,
                  size_t errlen) {
    return script_args_run(st, name, a, 1, r, err, errlen) == 0 ? LEDGER_OK : LEDGER_ESTORE;
}

/* A comma-separated block list of reports[i] (malloc'd). */
static char *ur_blocks_text(const use_report_t *rep) {
    CARBON_ASSERT(rep->blocks_n >= 1 && rep->blocks_n <= LEDGER_LEG_BLOCKS_MAX);
    char *t = malloc(rep->blocks_n * LEDGER_BLOCK_TEXT_MAX + 1);
    if (t == NULL) abort();
    size_t n = 0;
    for (size_t i = 0; i < rep->blocks_n; i++) {
        if (i > 0) t[n++] = ',';
        int k = ledger_block_format(&rep->blocks[i], t + n, LEDGER_BLOCK_TEXT_MAX);
        CARBON_ASSERT(k > 0 && k < LEDGER_BLOCK_TEXT_MAX);
        n += (size_t)k;
    }
    t[n] = '\0';
    return t;
}

/* ---- at the origin ----------------------------------------------------------------- */

int use_reports_apply(store_t *st, const char *reporter, use_report_t *reports, size_t n,
                      uint64_t now_ms, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && reporter != NULL && reports != NULL);
    CARBON_ASSERT(n >= 1 && n <= LEDGER_BATCH_LEGS_MAX);
    script_args_t a = {0};
    script_args_u64(&a, now_ms);
    script_args_str(&a, reporter);
    script_args_u64(&a, n);
    for (size_t i = 0; i < n; i++) {
        script_args_str(&a, reports[i].id);
        script_args_str(&a, reports[i].kind);
        script_args_str(&a, reports[i].purpose);
        char *t = ur_blocks_text(&reports[i]);
        script_args_str(&a, t);
        free(t);
    }
    redisReply *r;
    if (ur_run(st, "use_report_apply", &a, &r, err, errlen) != LEDGER_OK) return LEDGER_ESTORE;
    int rc = LEDGER_OK;
    if (r->elements != n) {
        snprintf(err, errlen, "use_report_apply: %zu answers for %zu reports", r->elements, n);
        rc = LEDGER_ESTORE;
    }
    for (size_t i = 0; rc == LEDGER_OK && i < n; i++) {
        const char *s = script_reply_str(r, i);
        reports[i].outcome = s[0] == USE_REPORT_APPLIED || s[0] == USE_REPORT_ALREADY ? s[0] : USE_REPORT_REFUSED;
        snprintf(reports[i].reason, sizeof reports[i].reason, "%s",
                 reports[i].outcome == USE_REPORT_REFUSED && s[0] == 'R' && s[1] == '|' ? s + 2 : "");
    }
    freeReplyObject(r);
    return rc;
}

/* ---- at the reporter ------------------------------------------------------------- */

/* An upper bound of a report's bytes in a ReportUse message. */
static uint64_t ur_report_bytes(const use_report_t *rep) {
    uint64_t n = 16 + LEDGER_TID_LEN + USE_REPORT_KIND_MAX + USE_REPORT_PURPOSE_MAX;
    for (size_t i = 0; i < rep->blocks_n; i++)
        n += 8 + strlen(rep->blocks[i].origin) + strlen(rep->blocks[i].meth) + 3 * 11;
    return n;
}

/* Reads at most max due reports to origin into reps (*n of them, within
 * bytes_max) and the pending count. LEDGER_OK or LEDGER_ESTORE. */
static int ur_due(store_t *st, const char *origin, size_t max, uint64_t bytes_max, uint64_t now_ms,
                  use_report_t *reps, size_t *n, uint64_t *pending, char *err, size_t errlen) {
    script_args_t a = {0};
    script_args_u64(&a, now_ms);
    script_args_str(&a, origin);
    script_args_u64(&a, max);
    redisReply *r;
    if (ur_run(st, "use_report_due", &a, &r, err, errlen) != LEDGER_OK) return LEDGER_ESTORE;
    *pending = r->elements > 0 && r->element[0]->type == REDIS_REPLY_INTEGER && r->element[0]->integer > 0
                   ? (uint64_t)r->element[0]->integer : 0;
    uint64_t bytes = 0;
    *n = 0;
    for (size_t i = 1; i + 3 < r->elements + 0 && *n < max; i += 4) {
        use_report_t *rep = &reps[*n];
        memset(rep, 0, sizeof *rep);
        snprintf(rep->id, sizeof rep->id, "%s", script_reply_str(r, i));
        snprintf(rep->kind, sizeof rep->kind, "%s", script_reply_str(r, i + 1));
        snprintf(rep->purpose, sizeof rep->purpose, "%s", script_reply_str(r, i + 2));
        rep->outcome = USE_REPORT_UNANSWERED;
        if (ledger_blocks_parse(script_reply_str(r, i + 3), LEDGER_LEG_BLOCKS_MAX, &rep->blocks, &rep->blocks_n) != 0 ||
            rep->blocks_n == 0) {
            use_report_free(rep);
            continue; /* cannot be: written by use_report_add */
        }
        uint64_t b = ur_report_bytes(rep);
        if (*n > 0 && bytes_max != 0 && bytes + b > bytes_max) {
            use_report_free(rep);
            break;
        }
        bytes += b;
        (*n)++;
    }
    freeReplyObject(r);
    return LEDGER_OK;
}

/* Records the outcomes of reps[0..n) (UNANSWERED ones are due again later).
 * Returns the reports done, or -1. */
static int ur_ack(store_t *st, const char *origin, const use_report_t *reps, size_t n,
                  uint64_t now_ms, uint64_t *pending, char *err, size_t errlen) {
    script_args_t a = {0};
    script_args_u64(&a, now_ms);
    script_args_str(&a, origin);
    script_args_u64(&a, USE_REPORTS_BACKOFF_MIN_MS);
    script_args_u64(&a, USE_REPORTS_BACKOFF_MAX_MS);
    script_args_u64(&a, n);
    for (size_t i = 0; i < n; i++) {
        char o[2] = {reps[i].outcome, '\0'};
        script_args_str(&a, reps[i].id);
        script_args_str(&a, o);
        script_args_str(&a, reps[i].reason);
    }
    redisReply *r;
    if (ur_run(st, "use_report_ack", &a, &r, err, errlen) != LEDGER_OK) return -1;
    int done = -1;
    if (r->elements == 2 && r->element[0]->type == REDIS_REPLY_INTEGER &&
        r->element[1]->type == REDIS_REPLY_INTEGER) {
        *pending = r->element[0]->integer > 0 ? (uint64_t)r->element[0]->integer : 0;
        done = (int)r->element[1]->integer;
    } else {
        snprintf(err, errlen, "use_report_ack: odd reply");
    }
    freeReplyObject(r);
    return done;
}

int use_reports_send_due(use_reports_t *u, store_t *st, const char *origin, size_t items_max,
                         uint64_t bytes_max, int64_t timeout_ms, uint64_t now_ms, char *err,
                         size_t errlen) {
    CARBON_ASSERT(u != NULL && st != NULL && origin != NULL && items_max >= 1);
    int pi = use_reports_peer(u, origin);
    if (pi < 0) return 0;
    if (items_max > LEDGER_BATCH_LEGS_MAX) items_max = LEDGER_BATCH_LEGS_MAX;
    use_report_t *reps = calloc(items_max, sizeof *reps);
    if (reps == NULL) abort();
    int total = 0;
    for (int m = 0; m < USE_REPORTS_MESSAGES_PER_PASS; m++) {
        size_t n = 0;
        uint64_t pending = 0;
        if (ur_due(st, origin, items_max, bytes_max, now_ms, reps, &n, &pending, err, errlen) != LEDGER_OK) {
            total = -1;
            break;
        }
        atomic_store(&u->pending[pi], pending);
        if (n == 0) break;
        char why[256] = "";
        int answered = u->transport.send(u->transport.ctx, origin, reps, n, timeout_ms, why, sizeof why) == 0;
        for (size_t i = 0; !answered && i < n; i++) reps[i].outcome = USE_REPORT_UNANSWERED;
        int done = ur_ack(st, origin, reps, n, now_ms, &pending, err, errlen);
        for (size_t i = 0; i < n; i++) use_report_free(&reps[i]);
        if (done < 0) {
            total = -1;
            break;
        }
        atomic_store(&u->pending[pi], pending);
        total += done;
        if (!answered || (size_t)done < n) break; /* the rest waits for its backoff */
    }
    free(reps);
    return total;
}
