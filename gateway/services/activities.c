/* activities.c - one activity, one issuance in the federation
 * (activities.h). */
#include "gateway/region_set.h"
#include "gateway/services/activities.h"

#include "carbon/v1/carbon.pb-c.h"
#include "common/carbon_assert.h"
#include "common/hex.h"
#include "gateway/arena.h"
#include "gateway/log.h"
#include "gateway/peers.h"
#include "gateway/services/federation.h"
#include "settlement/failpoint.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACT_REGIONS_MAX (CONFIG_PEERS_MAX + 1)
#define ACT_EXPIRY_AHEAD_MAX_MS 600000 /* a reservation asked to last longer is refused */
#define ACT_QUEUE_MAX 4096             /* settlements waiting to be sent */
#define ACT_CLAIMS_MAX 4096            /* issuances waiting for their reservation */

/* One issuance's claim, queued for the thread (activities_claim_submit). */
typedef struct act_claim {
    ledger_issue_t in;
    char cls[ACTIVITY_CLASS_MAX + 1];
    activities_claimed_fn done;
    void *ctx;
    activity_claim_t claim;
    int go;       /* 1: to be reserved at claim.home */
    int reason;   /* < 0: not refused */
    char why[256];
} act_claim_t;

struct activities {
    activity_secrets_t secrets;
    char regions[ACT_REGIONS_MAX][LEDGER_REGION_MAX + 1]; /* sorted bytewise */
    size_t regions_n;
    struct act_claim *claims[ACT_CLAIMS_MAX];    /* issuances to reserve (activities_claim_submit) */
    size_t claims_n;
    activity_reservation_t queue[ACT_QUEUE_MAX]; /* settlements to send (activities_settle_later) */
    size_t queue_n;
    pthread_t thread;
    int started, stop;
    pthread_mutex_t lock;
    pthread_cond_t wake;
};

static int act_region_cmp(const void *x, const void *y) { return strcmp(x, y); }

/* The home region of key among the configured regions. */
static const char *act_home(const struct activities *a, const char *key) {
    CARBON_ASSERT(a != NULL && a->regions_n >= 1);
    return a->regions[activity_home_index(key, a->regions_n)];
}

static int act_keyed(const struct gateway *gw) { return gw != NULL && gw->activities != NULL; }

static void act_claims(struct gateway *gw, store_t *st);

/* ---- the home: asks issuers about reservations past their expiry ------------------ */

/* Settles due[0..n) (all of region's) with the issuer's answers. */
static void act_settle_due(struct gateway *gw, store_t *st, const char *region, activity_reservation_t *due,
                           size_t n, const int *issued) {
    for (size_t i = 0; i < n; i++) due[i].issued = issued[i];
    size_t settled = 0;
    char err[256] = "";
    if (activity_settle(st, region, ledger_now_ms(), due, n, &settled, err, sizeof err) != LEDGER_OK)
        log_warn("activity_settle_failed", "{s:s, s:s}", "region", region, "error", err);
    else if (settled > 0)
        log_info("activities_settled", "{s:s, s:i}", "issuer", region, "settled", (int)settled);
    (void)gw;
}

/* Asks issuer region (a peer) about due[0..n). 0 with issued[], or -1. */
static int act_ask_peer(struct gateway *gw, const char *region, const activity_reservation_t *due, size_t n,
                        int *issued) {
    arena_t a = {0};
    Carbon__V1__QueryIssuanceRequest req = CARBON__V1__QUERY_ISSUANCE_REQUEST__INIT;
    req.region = gw->cfg.region;
    req.queries = arena_alloc(&a, n * sizeof *req.queries);
    for (size_t i = 0; i < n; i++) {
        Carbon__V1__IssuanceQuery *q = arena_alloc(&a, sizeof *q);
        carbon__v1__issuance_query__init(q);
        q->activity_key = (char *)due[i].key;
        q->issuance_id = (char *)due[i].iid;
        q->reservation = due[i].rsv;
        req.queries[req.n_queries++] = q;
    }
    ProtobufCMessage *resp = NULL;
    char err[256] = "";
    int rc = peers_call(gw->peers, region, "/carbon.v1.Federation/QueryIssuance", &req.base,
                        &carbon__v1__query_issuance_response__descriptor, &resp, gw->cfg.peer_timeout_ms, err,
                        sizeof err);
    arena_free(&a);
    if (rc != 0) return -1;
    const Carbon__V1__QueryIssuanceResponse *r = (const Carbon__V1__QueryIssuanceResponse *)resp;
    int ok = r->n_issued == n;
    for (size_t i = 0; ok && i < n; i++) issued[i] = r->issued[i] != 0;
    protobuf_c_message_free_unpacked(resp, NULL);
    return ok ? 0 : -1;
}

/* One pass: for each region, its reservations here past their expiry. */
static void act_pass(struct gateway *gw, store_t *st) {
    const struct activities *a = gw->activities;
    activity_reservation_t due[ACTIVITY_BATCH_MAX];
    int issued[ACTIVITY_BATCH_MAX];
    for (size_t r = 0; r < a->regions_n; r++) {
        const char *region = a->regions[r];
        size_t n = 0;
        char err[256] = "";
        if (activity_due(st, ledger_now_ms(), region, due, ACTIVITY_BATCH_MAX, &n, err, sizeof err) != LEDGER_OK)
            return;
        if (n == 0) continue;
        int asked = strcmp(region, gw->cfg.region) == 0 ? activity_query(st, due, n, issued, err, sizeof err)
                                                         : act_ask_peer(gw, region, due, n, issued);
        if (asked == 0) act_settle_due(gw, st, region, due, n, issued);
    }
}

/* Sends settled[0..n) (all homed at home) to their home. */
static void act_send_settled(struct gateway *gw, store_t *st, const char *home, activity_reservation_t *list,
                             size_t n) {
    char err[256] = "";
    if (strcmp(home, gw->cfg.region) == 0) {
        size_t settled = 0;
        (void)activity_settle(st, gw->cfg.region, ledger_now_ms(), list, n, &settled, err, sizeof err);
        return;
    }
    arena_t a = {0};
    Carbon__V1__SettleActivitiesRequest m = CARBON__V1__SETTLE_ACTIVITIES_REQUEST__INIT;
    m.region = gw->cfg.region;
    m.settlements = arena_alloc(&a, n * sizeof *m.settlements);
    for (size_t i = 0; i < n; i++) {
        Carbon__V1__ActivitySettlement *x = arena_alloc(&a, sizeof *x);
        carbon__v1__activity_settlement__init(x);
        x->activity_key = list[i].key;
        x->issuance_id = list[i].iid;
        x->reservation = list[i].rsv;
        x->issued = list[i].issued != 0;
        m.settlements[m.n_settlements++] = x;
    }
    ProtobufCMessage *resp = NULL;
    if (peers_call(gw->peers, home, "/carbon.v1.Federation/SettleActivities", &m.base,
                   &carbon__v1__settle_activities_response__descriptor, &resp, gw->cfg.peer_timeout_ms, err,
                   sizeof err) == 0)
        protobuf_c_message_free_unpacked(resp, NULL);
    arena_free(&a);
}

/* Takes the queued settlements and sends them, per home, in calls of at
 * most ACTIVITY_BATCH_MAX. What fails is left to the home's question. */
static void act_drain(struct gateway *gw, store_t *st) {
    struct activities *a = gw->activities;
    static activity_reservation_t taken[ACT_QUEUE_MAX], list[ACTIVITY_BATCH_MAX];
    pthread_mutex_lock(&a->lock);
    size_t n = a->queue_n;
    memcpy(taken, a->queue, n * sizeof taken[0]);
    a->queue_n = 0;
    pthread_mutex_unlock(&a->lock);
    for (size_t r = 0; r < a->regions_n; r++) {
        size_t k = 0;
        for (size_t i = 0; i <= n; i++) {
            if (i < n && strcmp(act_home(a, taken[i].key), a->regions[r]) == 0) list[k++] = taken[i];
            if (k > 0 && (k == ACTIVITY_BATCH_MAX || i == n)) {
                act_send_settled(gw, st, a->regions[r], list, k);
                k = 0;
            }
        }
    }
}

static void *act_main(void *arg) {
    struct gateway *gw = arg;
    struct activities *a = gw->activities;
    store_t *st = NULL;
    uint64_t last_pass_ms = 0;
    for (;;) {
        pthread_mutex_lock(&a->lock);
        if (!a->stop && a->queue_n == 0 && a->claims_n == 0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)gw->cfg.recovery_interval_ms * 1000000u;
            ts.tv_sec += (time_t)(ns / 1000000000u);
            ts.tv_nsec = (long)(ns % 1000000000u);
            pthread_cond_timedwait(&a->wake, &a->lock, &ts);
        }
        int stop = a->stop;
        pthread_mutex_unlock(&a->lock);
        char err[256];
        if (st == NULL) st = store_open(&gw->store_cfg, err, sizeof err);
        if (stop) { /* the claims queued are answered before the thread ends */
            if (st != NULL) act_claims(gw, st);
            break;
        }
        if (st != NULL) act_claims(gw, st);
        if (st != NULL) act_drain(gw, st);
        uint64_t now_ms = ledger_now_ms();
        if (st != NULL && now_ms - last_pass_ms >= gw->cfg.recovery_interval_ms) {
            act_pass(gw, st);
            last_pass_ms = now_ms;
        }
    }
    store_close(st);
    return NULL;
}

int activities_start(struct gateway *gw, char *err, size_t errlen) {
    CARBON_ASSERT(gw != NULL && gw->activities == NULL && gw->cfg.peers_n < ACT_REGIONS_MAX);
    if (gw->cfg.activity_secret_file[0] == '\0') {
        log_warn("activities_not_keyed", "{s:s}", "consequence",
                 "no [gateway] activity_secret_file: an activity is unique within this region only");
        return 0;
    }
    struct activities *a = calloc(1, sizeof *a);
    if (a == NULL) abort();
    if (activity_secrets_load(gw->cfg.activity_secret_file, &a->secrets, err, errlen) != 0) {
        free(a);
        return -1;
    }
    snprintf(a->regions[a->regions_n++], sizeof a->regions[0], "%s", gw->cfg.region);
    for (size_t i = 0; i < gw->cfg.peers_n; i++)
        snprintf(a->regions[a->regions_n++], sizeof a->regions[0], "%s", gw->cfg.peers[i].region);
    qsort(a->regions, a->regions_n, sizeof a->regions[0], act_region_cmp);
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->wake, NULL);
    gw->activities = a;
    if (pthread_create(&a->thread, NULL, act_main, gw) != 0) {
        snprintf(err, errlen, "cannot start the activities' thread");
        return -1;
    }
    a->started = 1;
    return 0;
}

void activities_stop(struct gateway *gw) {
    CARBON_ASSERT(gw != NULL);
    struct activities *a = gw->activities;
    if (a == NULL || !a->started) return;
    pthread_mutex_lock(&a->lock);
    a->stop = 1;
    pthread_cond_broadcast(&a->wake);
    pthread_mutex_unlock(&a->lock);
    CARBON_ASSERT(pthread_join(a->thread, NULL) == 0);
    a->started = 0;
    /* a claim the thread could not answer (no store): answered here */
    for (size_t i = 0; i < a->claims_n; i++) {
        a->claims[i]->done(a->claims[i]->ctx, NULL, REASON_STORE_UNAVAILABLE, "the gateway is stopping");
        free(a->claims[i]);
    }
    a->claims_n = 0;
}

void activities_destroy(struct gateway *gw) {
    CARBON_ASSERT(gw != NULL);
    struct activities *a = gw->activities;
    if (a == NULL) return;
    activities_stop(gw);
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->wake);
    OPENSSL_cleanse(&a->secrets, sizeof a->secrets);
    free(a);
    gw->activities = NULL;
}

/* ---- the issuer: reserve before issuing, settle after ----------------------------- */


/* The class an activity of methodology m is keyed under. */
static void act_class(const struct gateway *gw, const catalog_methodology_t *m, char out[ACTIVITY_CLASS_MAX + 1]) {
    if (m->activity_class[0] != '\0') snprintf(out, ACTIVITY_CLASS_MAX + 1, "%s", m->activity_class);
    else snprintf(out, ACTIVITY_CLASS_MAX + 1, "%s:%s", gw->cfg.region, m->id);
}

int activities_claim_submit(struct gateway *gw, const ledger_issue_t *in, const catalog_methodology_t *m,
                            activities_claimed_fn done, void *ctx) {
    CARBON_ASSERT(gw != NULL && in != NULL && m != NULL && done != NULL);
    struct activities *a = gw->activities;
    if (a == NULL) return 1;
    act_claim_t *c = calloc(1, sizeof *c);
    if (c == NULL) abort();
    c->in = *in;
    act_class(gw, m, c->cls);
    c->done = done;
    c->ctx = ctx;
    c->reason = -1;
    pthread_mutex_lock(&a->lock);
    int queued = a->claims_n < ACT_CLAIMS_MAX && !a->stop;
    if (queued) {
        a->claims[a->claims_n++] = c;
        pthread_cond_broadcast(&a->wake);
    }
    pthread_mutex_unlock(&a->lock);
    if (!queued) free(c);
    return queued ? 0 : -1;
}

/* Refuses claim c for reason, with a message. */
__attribute__((format(printf, 3, 4))) static void act_claim_refuse(act_claim_t *c, int reason, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
    c->reason = reason;
    c->go = 0;
}

/* Decides whether c needs a reservation (issue.lua would answer it without
 * one: nothing to reserve) and, if so, its key and home. */
static void act_claim_prepare(struct gateway *gw, store_t *st, act_claim_t *c) {
    char err[256] = "";
    int go = activity_issue_precheck(st, c->in.issuance_id, c->in.request_fp, c->in.account, c->in.fingerprint,
                                     err, sizeof err);
    if (go < 0) return act_claim_refuse(c, REASON_STORE_UNAVAILABLE, "%s", err);
    failpoint_pause("issue.after_precheck"); /* the tests' window: an account opened meanwhile */
    if (go == 0) return; /* issue.lua answers it (replay or refusal): nothing to reserve */
    const char *differs = region_set_differing_peer(gw);
    if (differs != NULL)
        return act_claim_refuse(c, REASON_REGIONS_DIFFER,
                                "%s counts other regions than this gateway, so an activity's home would differ: "
                                "no keyed activity is issued until every gateway is configured with the same regions",
                                differs);
    if (strlen(c->in.fingerprint) > ACTIVITY_FP_MAX ||
        activity_key(&gw->activities->secrets, c->in.vintage, c->cls, c->in.fingerprint, c->claim.key) != 0)
        return act_claim_refuse(c, REASON_NO_ACTIVITY_SECRET, "no federation secret covers vintage %u",
                                c->in.vintage);
    snprintf(c->claim.home, sizeof c->claim.home, "%s", act_home(gw->activities, c->claim.key));
    c->go = 1;
}

/* A home's REFUSED result (or one it could not mean) into *res: the home's
 * reason when it is a known one, else ACTIVITY_LIMIT. */
static void act_result_refused(const Carbon__V1__ReservationResult *x, activity_result_t *res) {
    reason_t why;
    res->outcome = ACTIVITY_LIMIT;
    if (x->outcome == CARBON__V1__RESERVATION_OUTCOME__RESERVATION_OUTCOME_REFUSED && reason_lookup(x->reason, &why) &&
        why != REASON_ACTIVITY_LIMIT) {
        res->outcome = ACTIVITY_REFUSED;
        res->reason = (int)why;
    }
}

/* Reserves list[0..n) at home (a peer). 0 with res[], or -1 with err. */
static int act_reserve_at_peer(struct gateway *gw, const char *home, const activity_request_t *req, size_t n,
                               activity_result_t *res, char *err, size_t errlen) {
    arena_t a = {0};
    Carbon__V1__ReserveActivitiesRequest m = CARBON__V1__RESERVE_ACTIVITIES_REQUEST__INIT;
    m.region = gw->cfg.region;
    const char *regions[REGION_SET_MAX];
    region_set_own(gw, regions, &m.n_federation_regions);
    m.federation_regions = (char **)regions;
    m.reservations = arena_alloc(&a, n * sizeof *m.reservations);
    for (size_t i = 0; i < n; i++) {
        Carbon__V1__ActivityReservation *x = arena_alloc(&a, sizeof *x);
        carbon__v1__activity_reservation__init(x);
        x->activity_key = (char *)req[i].key;
        x->issuance_id = (char *)req[i].iid;
        x->expiry_unix_ms = req[i].expiry_ms;
        m.reservations[m.n_reservations++] = x;
    }
    ProtobufCMessage *resp = NULL;
    int rc = peers_call(gw->peers, home, "/carbon.v1.Federation/ReserveActivities", &m.base,
                        &carbon__v1__reserve_activities_response__descriptor, &resp, gw->cfg.peer_timeout_ms, err,
                        errlen);
    arena_free(&a);
    if (rc != 0) return -1;
    const Carbon__V1__ReserveActivitiesResponse *r = (const Carbon__V1__ReserveActivitiesResponse *)resp;
    rc = r->n_results == n ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const Carbon__V1__ReservationResult *x = r->results[i];
        memset(&res[i], 0, sizeof res[i]);
        if (strcmp(x->activity_key, req[i].key) != 0) rc = -1;
        else if (x->outcome == CARBON__V1__RESERVATION_OUTCOME__RESERVATION_OUTCOME_RESERVED && x->reservation > 0)
            res[i].outcome = ACTIVITY_RESERVED, res[i].rsv = x->reservation;
        else if (x->outcome == CARBON__V1__RESERVATION_OUTCOME__RESERVATION_OUTCOME_TAKEN &&
                 strlen(x->holder_region) <= LEDGER_REGION_MAX)
            res[i].outcome = ACTIVITY_TAKEN, snprintf(res[i].holder, sizeof res[i].holder, "%s", x->holder_region);
        else
            act_result_refused(x, &res[i]); /* refused by the home: not reserved */
    }
    if (rc != 0) snprintf(err, errlen, "%s answered other reservations than asked", home);
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

/* What reservation result res means for claim c. */
static void act_claim_result(struct gateway *gw, act_claim_t *c, const activity_result_t *res) {
    if (res->outcome == ACTIVITY_RESERVED) c->claim.rsv = res->rsv;
    else if (res->outcome == ACTIVITY_TAKEN && strcmp(res->holder, gw->cfg.region) == 0)
        c->claim.rsv = 0; /* held by another issuance of this region: issue.lua answers DOUBLE_ISSUANCE */
    else if (res->outcome == ACTIVITY_TAKEN)
        act_claim_refuse(c, REASON_DUPLICATE_ISSUANCE, "the same activity was issued (or is being issued) by %s",
                         res->holder);
    else if (res->outcome == ACTIVITY_REFUSED)
        act_claim_refuse(c, res->reason, "the activity's home %s refused the reservation: %s", c->claim.home,
                         reason_name((reason_t)res->reason));
    else
        act_claim_refuse(c, REASON_ACTIVITY_LIMIT, "%s refused the reservation (at most %d unsettled per region)",
                         c->claim.home, ACTIVITY_PENDING_MAX);
}

/* Reserves the claims list[0..n) (all homed at home, n <= ACTIVITY_BATCH_MAX). */
static void act_claims_reserve(struct gateway *gw, store_t *st, const char *home, act_claim_t **list, size_t n) {
    static activity_request_t req[ACTIVITY_BATCH_MAX];
    static activity_result_t res[ACTIVITY_BATCH_MAX];
    uint64_t now_ms = ledger_now_ms();
    uint64_t ttl_ms = gw->cfg.leg_expiry_ms < ACT_EXPIRY_AHEAD_MAX_MS ? gw->cfg.leg_expiry_ms : ACT_EXPIRY_AHEAD_MAX_MS;
    for (size_t i = 0; i < n; i++) {
        snprintf(req[i].key, sizeof req[i].key, "%s", list[i]->claim.key);
        snprintf(req[i].iid, sizeof req[i].iid, "%s", list[i]->in.issuance_id);
        req[i].expiry_ms = now_ms + ttl_ms; /* as long as a leg: the issuance is one script away */
    }
    char err[256] = "";
    int rc = strcmp(home, gw->cfg.region) == 0
                 ? (activity_reserve(st, home, now_ms, req, n, res, err, sizeof err) == LEDGER_OK ? 0 : -1)
                 : act_reserve_at_peer(gw, home, req, n, res, err, sizeof err);
    for (size_t i = 0; i < n; i++) {
        if (rc != 0) act_claim_refuse(list[i], REASON_ACTIVITY_HOME_UNREACHABLE, "the activity's home %s: %s", home, err);
        else act_claim_result(gw, list[i], &res[i]);
    }
}

/* Takes the queued claims, reserves them per home in batches, and answers
 * each through its callback. */
static void act_claims(struct gateway *gw, store_t *st) {
    struct activities *a = gw->activities;
    static act_claim_t *taken[ACT_CLAIMS_MAX], *list[ACTIVITY_BATCH_MAX];
    pthread_mutex_lock(&a->lock);
    size_t n = a->claims_n;
    memcpy(taken, a->claims, n * sizeof taken[0]);
    a->claims_n = 0;
    pthread_mutex_unlock(&a->lock);
    for (size_t i = 0; i < n; i++) act_claim_prepare(gw, st, taken[i]);
    for (size_t r = 0; r < a->regions_n; r++) {
        size_t k = 0;
        for (size_t i = 0; i <= n; i++) {
            if (i < n && taken[i]->go && strcmp(taken[i]->claim.home, a->regions[r]) == 0) list[k++] = taken[i];
            if (k > 0 && (k == ACTIVITY_BATCH_MAX || i == n)) {
                act_claims_reserve(gw, st, a->regions[r], list, k);
                k = 0;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (taken[i]->reason >= 0) taken[i]->claim.key[0] = '\0';
        taken[i]->done(taken[i]->ctx, &taken[i]->claim, taken[i]->reason, taken[i]->why);
        free(taken[i]);
    }
}

void activities_settle_later(struct gateway *gw, const char *key, uint64_t rsv, const char *iid, int issued) {
    CARBON_ASSERT(gw != NULL && key != NULL && iid != NULL);
    struct activities *a = gw->activities;
    if (a == NULL || key[0] == '\0' || rsv == 0 || !activity_key_valid(key)) return;
    pthread_mutex_lock(&a->lock);
    if (a->queue_n < ACT_QUEUE_MAX) {
        activity_reservation_t *q = &a->queue[a->queue_n++];
        memset(q, 0, sizeof *q);
        snprintf(q->key, sizeof q->key, "%s", key);
        snprintf(q->iid, sizeof q->iid, "%s", iid);
        q->rsv = rsv;
        q->issued = issued != 0;
        pthread_cond_broadcast(&a->wake);
    }
    pthread_mutex_unlock(&a->lock);
}

/* ---- the home: Federation handlers -------------------------------------------------- */

/* 1 if n is 1..the batch limit, else 0 after refusing the call. */
static int act_batch_ok(server_call_t *call, size_t n) {
    struct gateway *gw = server_call_app(call);
    size_t max = gw->cfg.batch_legs_max < ACTIVITY_BATCH_MAX ? gw->cfg.batch_legs_max : ACTIVITY_BATCH_MAX;
    if (n >= 1 && n <= max) return 1;
    server_refuse(call, n == 0 ? REASON_BAD_BATCH_SIZE : REASON_BATCH_TOO_LARGE,
                  "a call holds 1..%zu reservations, settlements or queries, not %zu", max, n);
    return 0;
}

/* 1 if key and iid are well formed, else 0 after refusing the call. */
static int act_ids_ok(server_call_t *call, const char *key, const char *iid) {
    if (activity_key_valid(key) && hex_is_lower_of_len(iid, LEDGER_TID_LEN)) return 1;
    server_refuse(call, REASON_MALFORMED_ACTIVITY,
                  "activity_key must be 64 and issuance_id 32 lowercase hex digits");
    return 0;
}

/* 1 if the caller is a keyed federation member's gateway, the message names
 * its region, and this gateway keys activities; else 0 after answering. */
static int act_call_ok(server_call_t *call, const char *region) {
    if (!federation_region_ok(call, region)) return 0;
    if (act_keyed(server_call_app(call))) return 1;
    server_refuse(call, REASON_NO_ACTIVITY_SECRET, "this gateway has no activity_secret_file");
    return 0;
}

static Carbon__V1__ReservationResult *act_pb_result(arena_t *a, const char *key, const activity_result_t *res,
                                                    const char *refused) {
    Carbon__V1__ReservationResult *m = arena_alloc(a, sizeof *m);
    carbon__v1__reservation_result__init(m);
    m->activity_key = arena_strdup(a, key);
    if (refused != NULL) {
        m->outcome = CARBON__V1__RESERVATION_OUTCOME__RESERVATION_OUTCOME_REFUSED;
        m->reason = (char *)refused;
    } else if (res->outcome == ACTIVITY_RESERVED) {
        m->outcome = CARBON__V1__RESERVATION_OUTCOME__RESERVATION_OUTCOME_RESERVED;
        m->reservation = res->rsv;
    } else if (res->outcome == ACTIVITY_TAKEN) {
        m->outcome = CARBON__V1__RESERVATION_OUTCOME__RESERVATION_OUTCOME_TAKEN;
        m->holder_region = arena_strdup(a, res->holder);
    } else {
        m->outcome = CARBON__V1__RESERVATION_OUTCOME__RESERVATION_OUTCOME_REFUSED;
        m->reason = (char *)REASON(ACTIVITY_LIMIT);
    }
    return m;
}

void federation_reserve_activities(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__ReserveActivitiesRequest *req = (const Carbon__V1__ReserveActivitiesRequest *)request;
    struct gateway *gw = server_call_app(call);
    if (!act_call_ok(call, req->region) || !act_batch_ok(call, req->n_reservations)) return;
    uint64_t now_ms = ledger_now_ms();
    activity_request_t mine[ACTIVITY_BATCH_MAX];
    activity_result_t res[ACTIVITY_BATCH_MAX];
    size_t n = 0;
    for (size_t i = 0; i < req->n_reservations; i++) {
        const Carbon__V1__ActivityReservation *r = req->reservations[i];
        if (!act_ids_ok(call, r->activity_key, r->issuance_id)) return;
        if (r->expiry_unix_ms <= now_ms || r->expiry_unix_ms > now_ms + ACT_EXPIRY_AHEAD_MAX_MS) {
            server_refuse(call, REASON_MALFORMED_ACTIVITY, "expiry_unix_ms must be within %d ms from now",
                          ACT_EXPIRY_AHEAD_MAX_MS);
            return;
        }
        if (strcmp(act_home(gw->activities, r->activity_key), gw->cfg.region) != 0) continue;
        snprintf(mine[n].key, sizeof mine[n].key, "%s", r->activity_key);
        snprintf(mine[n].iid, sizeof mine[n].iid, "%s", r->issuance_id);
        mine[n++].expiry_ms = r->expiry_unix_ms;
    }
    int same = region_set_same(gw, req->federation_regions, req->n_federation_regions);
    region_set_note(gw, req->region, same, req->federation_regions, req->n_federation_regions);
    if (!same) {
        server_refuse(call, REASON_REGIONS_DIFFER,
                      "%s counts other regions than this gateway: an activity's home would differ", req->region);
        return;
    }
    store_t *st = gateway_call_store(call);
    if (st == NULL) return;
    char err[256] = "";
    if (n > 0 && activity_reserve(st, req->region, now_ms, mine, n, res, err, sizeof err) != LEDGER_OK) {
        server_refuse(call, REASON_STORE_UNAVAILABLE, "%s", err);
        return;
    }
    arena_t a = {0};
    Carbon__V1__ReserveActivitiesResponse resp = CARBON__V1__RESERVE_ACTIVITIES_RESPONSE__INIT;
    resp.results = arena_alloc(&a, req->n_reservations * sizeof *resp.results);
    for (size_t i = 0, k = 0; i < req->n_reservations; i++) {
        const char *key = req->reservations[i]->activity_key;
        int here = k < n && strcmp(mine[k].key, key) == 0 && strcmp(mine[k].iid, req->reservations[i]->issuance_id) == 0;
        resp.results[resp.n_results++] =
            act_pb_result(&a, key, here ? &res[k] : NULL, here ? NULL : REASON(NOT_ACTIVITY_HOME));
        k += here;
    }
    server_reply_ok(call, &resp.base);
    arena_free(&a);
}

void federation_settle_activities(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__SettleActivitiesRequest *req = (const Carbon__V1__SettleActivitiesRequest *)request;
    if (!act_call_ok(call, req->region) || !act_batch_ok(call, req->n_settlements)) return;
    activity_reservation_t s[ACTIVITY_BATCH_MAX];
    for (size_t i = 0; i < req->n_settlements; i++) {
        const Carbon__V1__ActivitySettlement *m = req->settlements[i];
        if (!act_ids_ok(call, m->activity_key, m->issuance_id)) return;
        memset(&s[i], 0, sizeof s[i]);
        snprintf(s[i].key, sizeof s[i].key, "%s", m->activity_key);
        snprintf(s[i].iid, sizeof s[i].iid, "%s", m->issuance_id);
        s[i].rsv = m->reservation;
        s[i].issued = m->issued;
    }
    store_t *st = gateway_call_store(call);
    if (st == NULL) return;
    size_t settled = 0;
    char err[256] = "";
    if (activity_settle(st, req->region, ledger_now_ms(), s, req->n_settlements, &settled, err, sizeof err) !=
        LEDGER_OK) {
        server_refuse(call, REASON_STORE_UNAVAILABLE, "%s", err);
        return;
    }
    Carbon__V1__SettleActivitiesResponse resp = CARBON__V1__SETTLE_ACTIVITIES_RESPONSE__INIT;
    resp.settled = (uint32_t)settled;
    server_reply_ok(call, &resp.base);
}

void federation_query_issuance(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__QueryIssuanceRequest *req = (const Carbon__V1__QueryIssuanceRequest *)request;
    struct gateway *gw = server_call_app(call);
    if (!act_call_ok(call, req->region) || !act_batch_ok(call, req->n_queries)) return;
    activity_reservation_t q[ACTIVITY_BATCH_MAX];
    for (size_t i = 0; i < req->n_queries; i++) {
        const Carbon__V1__IssuanceQuery *m = req->queries[i];
        if (!act_ids_ok(call, m->activity_key, m->issuance_id)) return;
        /* only the key's home may ask: the answer "not issued" is final */
        if (strcmp(act_home(gw->activities, m->activity_key), req->region) != 0) {
            server_refuse(call, REASON_NOT_ACTIVITY_HOME, "%s is not the home of activity %.16s...", req->region,
                          m->activity_key);
            return;
        }
        memset(&q[i], 0, sizeof q[i]);
        snprintf(q[i].iid, sizeof q[i].iid, "%s", m->issuance_id);
        q[i].rsv = m->reservation;
    }
    store_t *st = gateway_call_store(call);
    if (st == NULL) return;
    int issued[ACTIVITY_BATCH_MAX];
    char err[256] = "";
    if (activity_query(st, q, req->n_queries, issued, err, sizeof err) != LEDGER_OK) {
        server_refuse(call, REASON_STORE_UNAVAILABLE, "%s", err);
        return;
    }
    arena_t a = {0};
    Carbon__V1__QueryIssuanceResponse resp = CARBON__V1__QUERY_ISSUANCE_RESPONSE__INIT;
    resp.issued = arena_alloc(&a, req->n_queries * sizeof *resp.issued);
    for (size_t i = 0; i < req->n_queries; i++) resp.issued[resp.n_issued++] = issued[i] != 0;
    server_reply_ok(call, &resp.base);
    arena_free(&a);
}
