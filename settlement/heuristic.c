/* heuristic.c - heuristic decisions' records and scans (heuristic.h). */
#include "settlement/heuristic.h"
#include "settlement/script_args.h"
#include "common/carbon_assert.h"
#include "common/hex.h"
#include "settlement/reasons.h"

#include <hiredis/hiredis.h>
#include <openssl/rand.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs script name with a's arguments (freed); *r is an array reply (caller frees). LEDGER_OK or LEDGER_ESTORE. */
static int heuristic_run(store_t *st, const char *name, script_args_t *a, redisReply **r,
                         char *err, size_t errlen) {
    return script_args_run(st, name, a, 1, r, err, errlen) == 0 ? LEDGER_OK : LEDGER_ESTORE;
}

static uint64_t heuristic_u64(const redisReply *r) {
    CARBON_ASSERT(r != NULL);
    if (r->type == REDIS_REPLY_INTEGER) return r->integer < 0 ? 0 : (uint64_t)r->integer;
    if (r->type == REDIS_REPLY_STRING) return strtoull(r->str, NULL, 10);
    return 0;
}

int heuristic_record_doubt(store_t *st, const char *source, const char *const *tids, size_t n,
                           uint64_t now_ms, heuristic_doubt_t *out, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && source != NULL && tids != NULL);
    CARBON_ASSERT(n >= 1 && n <= LEDGER_BATCH_LEGS_MAX);
    script_args_t a = {0};
    script_args_u64(&a, now_ms);
    script_args_str(&a, source);
    script_args_u64(&a, n);
    for (size_t i = 0; i < n; i++) script_args_str(&a, tids[i]);
    redisReply *r;
    if (heuristic_run(st, "dest_doubt", &a, &r, err, errlen) != LEDGER_OK) return LEDGER_ESTORE;
    if (r->elements != 3 * n) {
        snprintf(err, errlen, "dest_doubt: %zu results for %zu legs", r->elements, n);
        freeReplyObject(r);
        return LEDGER_ESTORE;
    }
    for (size_t i = 0; out != NULL && i < n; i++) {
        out[i].first_ms = heuristic_u64(r->element[3 * i]);
        out[i].last_ms = heuristic_u64(r->element[3 * i + 1]);
        out[i].attempts = heuristic_u64(r->element[3 * i + 2]);
    }
    freeReplyObject(r);
    return LEDGER_OK;
}

/* Copies the tids of array reply l (at most limit) into out, *n of them. */
static void heuristic_tids(const redisReply *l, size_t limit, ledger_pending_leg_t *out, size_t *n) {
    CARBON_ASSERT(l != NULL && out != NULL && n != NULL);
    *n = 0;
    for (size_t i = 0; l->type == REDIS_REPLY_ARRAY && i < l->elements && *n < limit; i++) {
        ledger_pending_leg_t *p = &out[(*n)++];
        memset(p, 0, sizeof *p);
        if (l->element[i]->type == REDIS_REPLY_STRING)
            snprintf(p->tid, sizeof p->tid, "%s", l->element[i]->str);
    }
}

int heuristic_scan(store_t *st, size_t limit, ledger_pending_leg_t *legs, size_t *n,
                   uint64_t *mixed_n, ledger_pending_leg_t *mixed, size_t *mixed_listed,
                   char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && legs != NULL && n != NULL && mixed_n != NULL);
    CARBON_ASSERT(limit >= 1 && limit <= HEURISTIC_SCAN_MAX);
    *n = 0;
    *mixed_n = 0;
    script_args_t a = {0};
    script_args_u64(&a, limit);
    redisReply *r;
    if (heuristic_run(st, "heuristic_scan", &a, &r, err, errlen) != LEDGER_OK) return LEDGER_ESTORE;
    if (r->elements != 3 || r->element[0]->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "heuristic_scan: unexpected reply");
        freeReplyObject(r);
        return LEDGER_ESTORE;
    }
    const redisReply *l = r->element[0];
    for (size_t i = 0; i + 1 < l->elements && *n < limit; i += 2) {
        ledger_pending_leg_t *p = &legs[(*n)++];
        memset(p, 0, sizeof *p);
        if (l->element[i]->type == REDIS_REPLY_STRING)
            snprintf(p->tid, sizeof p->tid, "%s", l->element[i]->str);
        if (l->element[i + 1]->type == REDIS_REPLY_STRING)
            snprintf(p->peer, sizeof p->peer, "%s", l->element[i + 1]->str);
    }
    *mixed_n = heuristic_u64(r->element[1]);
    if (mixed != NULL && mixed_listed != NULL) heuristic_tids(r->element[2], limit, mixed, mixed_listed);
    freeReplyObject(r);
    return LEDGER_OK;
}

int heuristic_source_mixed(store_t *st, const char *const *tids, size_t n, uint64_t now_ms,
                           size_t *marked, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && tids != NULL);
    CARBON_ASSERT(n >= 1 && n <= LEDGER_BATCH_LEGS_MAX);
    script_args_t a = {0};
    script_args_u64(&a, now_ms);
    script_args_u64(&a, n);
    for (size_t i = 0; i < n; i++) script_args_str(&a, tids[i]);
    redisReply *r;
    if (script_args_run(st, "source_mixed", &a, 0, &r, err, errlen) != 0) return LEDGER_ESTORE;
    if (marked != NULL) *marked = (size_t)heuristic_u64(r);
    freeReplyObject(r);
    return LEDGER_OK;
}

/* Whether heuristic_compensate's reply r (status: its first element) is
 * {"OK", the decision held ("C" or "A"), "COMPENSATED" or "CLOSED"}. */
static bool heuristic_compensated_ok(const redisReply *r, const char *status) {
    CARBON_ASSERT(r != NULL && status != NULL);
    if (strcmp(status, "OK") != 0 || r->elements != 3) return false;
    const redisReply *holds = r->element[1], *outcome = r->element[2];
    if (holds->type != REDIS_REPLY_STRING || holds->len != 1 || outcome->type != REDIS_REPLY_STRING) return false;
    if (holds->str[0] != TRANSFER_DECISION_COMMIT && holds->str[0] != TRANSFER_DECISION_ABORT) return false;
    return strcmp(outcome->str, "COMPENSATED") == 0 || strcmp(outcome->str, "CLOSED") == 0;
}

int heuristic_compensate(store_t *st, const char *tid, char decision, const char *operator_id,
                         const char *reason, uint64_t now_ms, heuristic_compensation_t *out, char *err,
                         size_t errlen) {
    CARBON_ASSERT(st != NULL && tid != NULL && operator_id != NULL && reason != NULL);
    CARBON_ASSERT(out != NULL && strlen(tid) <= LEDGER_TID_LEN);
    CARBON_ASSERT(decision == TRANSFER_DECISION_COMMIT || decision == TRANSFER_DECISION_ABORT);
    *out = (heuristic_compensation_t){0};
    const char d[2] = {decision, '\0'};
    unsigned char raw[16];
    char report_id[33];
    if (RAND_bytes(raw, (int)sizeof raw) != 1) {
        snprintf(err, errlen, "no random id for the use report (RAND_bytes failed)");
        return LEDGER_ESTORE;
    }
    hex_encode(raw, sizeof raw, report_id, sizeof report_id);
    script_args_t a = {0};
    script_args_u64(&a, now_ms);
    script_args_str(&a, tid);
    script_args_str(&a, operator_id);
    script_args_str(&a, reason);
    script_args_str(&a, d);
    script_args_str(&a, report_id); /* a cancellation's report to other regions' origins */
    redisReply *r;
    if (heuristic_run(st, "heuristic_compensate", &a, &r, err, errlen) != LEDGER_OK) return LEDGER_ESTORE;
    const char *status = r->elements >= 1 && r->element[0]->type == REDIS_REPLY_STRING ? r->element[0]->str : "";
    int rc;
    if (heuristic_compensated_ok(r, status)) {
        rc = LEDGER_OK;
        out->holds = r->element[1]->str[0];
        out->closed_denied = strcmp(r->element[2]->str, "CLOSED") == 0;
    } else if (strcmp(status, REASON(NOT_MIXED)) == 0)
        rc = LEDGER_NOT_FOUND;
    else if (strcmp(status, REASON(BAD_DECISION)) == 0 && r->elements == 2 &&
             r->element[1]->type == REDIS_REPLY_STRING && r->element[1]->len == 1) {
        rc = LEDGER_CONFLICT;
        out->needed = r->element[1]->str[0];
    } else if (status[0] == '\0' || strcmp(status, "DUP") == 0 || strcmp(status, "OK") == 0) {
        snprintf(err, errlen, "heuristic_compensate: unexpected status '%s'", status);
        rc = LEDGER_ESTORE;
    } else /* INSUFFICIENT_BALANCE, TOO_FRAGMENTED, ACCOUNT_DAMAGED: as a hold's */
        rc = ledger_refusal(r, "heuristic_compensate", &out->have_g, NULL, err, errlen);
    freeReplyObject(r);
    return rc;
}
