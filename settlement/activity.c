/* activity.c - reservations of keyed activity fingerprints (activity.h):
 * each call is one of settlement/scripts/activity_*.lua. */
#include "settlement/activity.h"
#include "common/carbon_assert.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AC_ARGS_MAX (4 + 4 * ACTIVITY_BATCH_MAX)

typedef struct {
    const char *v[AC_ARGS_MAX];
    size_t len[AC_ARGS_MAX];
    char num[AC_ARGS_MAX][24]; /* the text of numeric arguments */
    size_t n;
} ac_args_t;

static ac_args_t *ac_args_new(void) {
    ac_args_t *a = calloc(1, sizeof *a);
    if (a == NULL) abort();
    return a;
}

static void ac_str(ac_args_t *a, const char *s) {
    CARBON_ASSERT(a->n < AC_ARGS_MAX && s != NULL);
    a->v[a->n] = s;
    a->len[a->n] = strlen(s);
    a->n++;
}

static void ac_u64(ac_args_t *a, uint64_t v) {
    CARBON_ASSERT(a->n < AC_ARGS_MAX);
    snprintf(a->num[a->n], sizeof a->num[0], "%" PRIu64, v);
    ac_str(a, a->num[a->n]);
}

/* Runs script with a's arguments; the reply must be an array of n elements
 * (n = SIZE_MAX: any array), or an integer when n is 0. Frees a. */
static int ac_run(store_t *st, const char *script, ac_args_t *a, size_t n, redisReply **r, char *err,
                  size_t errlen) {
    int idx = store_script_index(script);
    CARBON_ASSERT(idx >= 0); /* every activity_*.lua is embedded */
    int rc = store_eval(st, idx, 0, (int)a->n, a->v, a->len, r, err, errlen);
    free(a);
    if (rc != STORE_OK) return LEDGER_ESTORE;
    int ok = n == 0 ? (*r)->type == REDIS_REPLY_INTEGER
                    : (*r)->type == REDIS_REPLY_ARRAY && (n == SIZE_MAX || (*r)->elements == n);
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
    ac_args_t *a = ac_args_new();
    ac_u64(a, now_ms);
    ac_str(a, region);
    ac_u64(a, ACTIVITY_PENDING_MAX);
    ac_u64(a, n);
    for (size_t i = 0; i < n; i++) {
        CARBON_ASSERT(activity_key_valid(req[i].key));
        ac_str(a, req[i].key);
        ac_str(a, req[i].iid);
        ac_u64(a, req[i].expiry_ms);
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
    ac_args_t *a = ac_args_new();
    ac_u64(a, now_ms);
    ac_str(a, region);
    ac_u64(a, n);
    for (size_t i = 0; i < n; i++) {
        ac_str(a, res[i].key);
        ac_str(a, res[i].iid);
        ac_u64(a, res[i].rsv);
        ac_str(a, res[i].issued ? "1" : "0");
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
    ac_args_t *a = ac_args_new();
    ac_u64(a, now_ms);
    ac_str(a, region);
    ac_u64(a, cap);
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
    ac_args_t *a = ac_args_new();
    ac_u64(a, n);
    for (size_t i = 0; i < n; i++) {
        ac_str(a, q[i].iid);
        ac_u64(a, q[i].rsv);
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
    ac_args_t *a = ac_args_new();
    ac_str(a, iid);
    ac_str(a, request_fp);
    ac_str(a, account);
    ac_str(a, fingerprint);
    int idx = store_script_index("activity_precheck");
    CARBON_ASSERT(idx >= 0);
    redisReply *r = NULL;
    int rc = store_eval(st, idx, 0, (int)a->n, a->v, a->len, &r, err, errlen);
    free(a);
    if (rc != STORE_OK) return LEDGER_ESTORE;
    int go = (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) && strcmp(r->str, "GO") == 0;
    freeReplyObject(r);
    return go;
}
