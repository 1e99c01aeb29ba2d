/* activity.c - reservations of keyed activity fingerprints (activity.h):
 * each call is one of settlement/scripts/activity_*.lua. */
#include "settlement/activity.h"
#include "settlement/script_args.h"
#include "common/carbon_assert.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs script with a's arguments (freed); the reply must be an array of n
 * string elements (n = SIZE_MAX: any array), or an integer when n is 0. */
static int ac_run(store_t *st, const char *script, script_args_t *a, size_t n, redisReply **r, char *err,
                  size_t errlen) {
    if (script_args_run(st, script, a, n != 0, r, err, errlen) != 0) return LEDGER_ESTORE;
    int ok = n == 0 ? (*r)->type == REDIS_REPLY_INTEGER : (n == SIZE_MAX || (*r)->elements == n);
    for (size_t i = 0; ok && n != 0 && i < (*r)->elements; i++) ok = (*r)->element[i]->type == REDIS_REPLY_STRING;
    if (!ok) {
        snprintf(err, errlen, "%s: unexpected reply", script);
        freeReplyObject(*r);
        *r = NULL;
        return LEDGER_ESTORE;
    }
    return LEDGER_OK;
}

int activity_reserve(store_t *st, const char *region, uint64_t now_ms, const activity_request_t *req, size_t n,
                     activity_result_t *out, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && region != NULL && req != NULL && out != NULL);
    CARBON_ASSERT(n >= 1 && n <= ACTIVITY_BATCH_MAX);
    script_args_t args = {0}, *a = &args;
    script_args_u64(a, now_ms);
    script_args_str(a, region);
    script_args_u64(a, ACTIVITY_PENDING_MAX);
    script_args_u64(a, n);
    for (size_t i = 0; i < n; i++) {
        CARBON_ASSERT(activity_key_valid(req[i].key));
        script_args_str(a, req[i].key);
        script_args_str(a, req[i].iid);
        script_args_u64(a, req[i].expiry_ms);
    }
    redisReply *r = NULL;
    if (ac_run(st, "activity_reserve", a, n, &r, err, errlen) != LEDGER_OK) return LEDGER_ESTORE;
    for (size_t i = 0; i < n; i++) {
        const char *s = r->element[i]->str;
        memset(&out[i], 0, sizeof out[i]);
        if (s[0] == 'R' && s[1] == '|') {
            out[i].outcome = ACTIVITY_RESERVED;
            out[i].rsv = strtoull(s + 2, NULL, 10);
        } else if (s[0] == 'T' && s[1] == '|') {
            out[i].outcome = ACTIVITY_TAKEN;
            snprintf(out[i].holder, sizeof out[i].holder, "%s", s + 2);
        } else {
            out[i].outcome = ACTIVITY_LIMIT;
        }
    }
    freeReplyObject(r);
    return LEDGER_OK;
}

int activity_settle(store_t *st, const char *region, uint64_t now_ms, const activity_reservation_t *res, size_t n,
                    size_t *settled, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && region != NULL && res != NULL && settled != NULL);
    CARBON_ASSERT(n >= 1 && n <= ACTIVITY_BATCH_MAX);
    script_args_t args = {0}, *a = &args;
    script_args_u64(a, now_ms);
    script_args_str(a, region);
    script_args_u64(a, n);
    for (size_t i = 0; i < n; i++) {
        script_args_str(a, res[i].key);
        script_args_str(a, res[i].iid);
        script_args_u64(a, res[i].rsv);
        script_args_str(a, res[i].issued ? "1" : "0");
    }
    redisReply *r = NULL;
    if (ac_run(st, "activity_settle", a, 0, &r, err, errlen) != LEDGER_OK) return LEDGER_ESTORE;
    *settled = r->integer > 0 ? (size_t)r->integer : 0;
    freeReplyObject(r);
    return LEDGER_OK;
}

int activity_due(store_t *st, uint64_t now_ms, const char *region, activity_reservation_t *out, size_t cap,
                 size_t *n, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && region != NULL && out != NULL && n != NULL);
    CARBON_ASSERT(cap >= 1 && cap <= ACTIVITY_BATCH_MAX);
    script_args_t args = {0}, *a = &args;
    script_args_u64(a, now_ms);
    script_args_str(a, region);
    script_args_u64(a, cap);
    redisReply *r = NULL;
    *n = 0;
    if (ac_run(st, "activity_due", a, SIZE_MAX, &r, err, errlen) != LEDGER_OK) return LEDGER_ESTORE;
    for (size_t i = 0; i + 3 < r->elements && *n < cap; i += 4) {
        activity_reservation_t *o = &out[*n];
        memset(o, 0, sizeof *o);
        snprintf(o->key, sizeof o->key, "%s", r->element[i]->str);
        snprintf(o->region, sizeof o->region, "%s", r->element[i + 1]->str);
        snprintf(o->iid, sizeof o->iid, "%s", r->element[i + 2]->str);
        o->rsv = strtoull(r->element[i + 3]->str, NULL, 10);
        if (activity_key_valid(o->key)) (*n)++;
    }
    freeReplyObject(r);
    return LEDGER_OK;
}

int activity_query(store_t *st, const activity_reservation_t *q, size_t n, int *issued, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && q != NULL && issued != NULL && n >= 1 && n <= ACTIVITY_BATCH_MAX);
    script_args_t args = {0}, *a = &args;
    script_args_u64(a, n);
    for (size_t i = 0; i < n; i++) {
        script_args_str(a, q[i].iid);
        script_args_u64(a, q[i].rsv);
    }
    redisReply *r = NULL;
    if (ac_run(st, "activity_query", a, n, &r, err, errlen) != LEDGER_OK) return LEDGER_ESTORE;
    for (size_t i = 0; i < n; i++) issued[i] = strcmp(r->element[i]->str, "1") == 0;
    freeReplyObject(r);
    return LEDGER_OK;
}

int activity_issue_precheck(store_t *st, const char *iid, const char *request_fp, const char *account,
                            const char *fingerprint, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && iid != NULL && request_fp != NULL && account != NULL && fingerprint != NULL);
    script_args_t args = {0}, *a = &args;
    script_args_str(a, iid);
    script_args_str(a, request_fp);
    script_args_str(a, account);
    script_args_str(a, fingerprint);
    redisReply *r = NULL;
    if (script_args_run(st, "activity_precheck", a, 0, &r, err, errlen) != 0) return LEDGER_ESTORE;
    int go = (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) && strcmp(r->str, "GO") == 0;
    freeReplyObject(r);
    return go;
}
