/* engine.c - group commit and recovery (engine.h). */
#include "settlement/engine.h"
#include "common/carbon_assert.h"

#include "settlement/batch.h"
#include "settlement/failpoint.h"
#include "settlement/reasons.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ENGINE_BACKOFF_MS_INITIAL 50
#define ENGINE_BACKOFF_MS_MAX 2000
#define ENGINE_WAITER_TICK_MS 50

typedef struct engine_item {
    ledger_leg_t leg;
    uint64_t held_us; /* monotonic, at engine_submit (the hold just ended): metrics */
    engine_done_fn done;
    void *arg;
    struct engine_item *next;
} engine_item_t;

typedef struct engine_waiter {
    char tid[LEDGER_TID_LEN + 1];
    uint64_t deadline_ms;
    engine_done_fn done;
    void *arg;
    struct engine_waiter *next;
} engine_waiter_t;

typedef struct {
    engine_t *engine;
    char region[CARBON_REGION_SIZE];
    pthread_t thread;
    int started;
    /* queue, under engine->lock */
    engine_item_t *head, *tail;
    size_t queued;
    size_t reserved;
    uint64_t first_enqueued_ms;
    int exited; /* the batcher has stopped */
    pthread_cond_t wake;
} engine_peer_t;

struct engine {
    engine_config_t cfg;
    engine_transport_t transport;
    engine_peer_t peers[ENGINE_PEERS_MAX];
    pthread_mutex_t lock;
    int stopping;
    pthread_t recovery_thread;
    int recovery_started;
    pthread_cond_t recovery_wake;
    engine_waiter_t *waiters;
    size_t waiters_n;
    char lease_owner[48];
    _Atomic uint64_t batches, committed, aborted, prepare_failures, decide_failures, recovered;
    /* metrics (engine_stats_t) */
    _Atomic uint64_t latency_us_n[ENGINE_LATENCY_BUCKETS + 1], latency_us_sum;
    _Atomic uint64_t batch_legs_n[ENGINE_BATCH_BUCKETS + 1], batch_legs_sum, legs_in_doubt;
};

static uint64_t engine_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t engine_mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- metrics: fixed-bucket histograms (engine.h) ------------------------------- */

const uint64_t engine_latency_bounds_us[ENGINE_LATENCY_BUCKETS] = {
    250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000, 30000000};
const uint64_t engine_batch_bounds_legs[ENGINE_BATCH_BUCKETS] = {1,  2,   4,   8,   16,  32,
                                                                  64, 128, 256, 512, 1024};

/* Counts v in the bucket of the first bound >= v (or +Inf), and in the sum. */
static void engine_observe(_Atomic uint64_t *buckets, _Atomic uint64_t *sum,
                           const uint64_t *bounds, size_t n, uint64_t v) {
    size_t i = 0;
    while (i < n && v > bounds[i]) i++;
    atomic_fetch_add(&buckets[i], 1);
    atomic_fetch_add(sum, v);
}

static void engine_sleep_ms(uint64_t ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Absolute CLOCK_REALTIME timespec ms from now, for pthread_cond_timedwait. */
static struct timespec engine_abstime(uint64_t ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static engine_peer_t *engine_peer(engine_t *e, const char *region) {
    for (size_t i = 0; i < e->cfg.peers_n; i++)
        if (strcmp(e->peers[i].region, region) == 0) return &e->peers[i];
    return NULL;
}

/* ---- waiters ------------------------------------------------------------------- */

/* Calls and removes the waiters of leg->tid. */
static void engine_notify(engine_t *e, const ledger_leg_t *leg) {
    engine_waiter_t *hit = NULL;
    pthread_mutex_lock(&e->lock);
    engine_waiter_t **pp = &e->waiters;
    while (*pp != NULL) {
        engine_waiter_t *w = *pp;
        if (strcmp(w->tid, leg->tid) == 0) {
            *pp = w->next;
            w->next = hit;
            hit = w;
            e->waiters_n--;
        } else {
            pp = &w->next;
        }
    }
    pthread_mutex_unlock(&e->lock);
    while (hit != NULL) {
        engine_waiter_t *next = hit->next;
        hit->done(hit->arg, leg);
        free(hit);
        hit = next;
    }
}

int engine_wait(engine_t *e, const char *tid, uint64_t deadline_ms, engine_done_fn done,
                void *arg) {
    engine_waiter_t *w = calloc(1, sizeof *w);
    if (w == NULL) return -1;
    snprintf(w->tid, sizeof w->tid, "%s", tid);
    w->deadline_ms = deadline_ms;
    w->done = done;
    w->arg = arg;
    pthread_mutex_lock(&e->lock);
    if (e->waiters_n >= ENGINE_WAITERS_MAX) {
        pthread_mutex_unlock(&e->lock);
        free(w);
        return -1;
    }
    w->next = e->waiters;
    e->waiters = w;
    e->waiters_n++;
    pthread_cond_signal(&e->recovery_wake);
    pthread_mutex_unlock(&e->lock);
    return 0;
}

/* Answers waiters whose leg is decided in the store or whose time is up. */
static void engine_poll_waiters(engine_t *e, store_t *st, int all) {
    pthread_mutex_lock(&e->lock);
    size_t n = e->waiters_n;
    char (*tids)[LEDGER_TID_LEN + 1] = n > 0 ? calloc(n, sizeof *tids) : NULL;
    size_t k = 0;
    for (engine_waiter_t *w = e->waiters; w != NULL && k < n; w = w->next)
        memcpy(tids[k++], w->tid, sizeof tids[0]);
    pthread_mutex_unlock(&e->lock);
    uint64_t now = ledger_now_ms();
    for (size_t i = 0; i < k; i++) {
        ledger_leg_t leg;
        char err[256];
        int rc = ledger_leg_get(st, tids[i], &leg, err, sizeof err);
        if (rc == LEDGER_OK && transfer_state_decided(leg.state)) {
            engine_notify(e, &leg);
        } else {
            /* Time up (or stopping): answer with what is known. */
            engine_waiter_t *late = NULL;
            pthread_mutex_lock(&e->lock);
            engine_waiter_t **pp = &e->waiters;
            while (*pp != NULL) {
                engine_waiter_t *w = *pp;
                if (strcmp(w->tid, tids[i]) == 0 && (all || w->deadline_ms <= now)) {
                    *pp = w->next;
                    w->next = late;
                    late = w;
                    e->waiters_n--;
                } else {
                    pp = &w->next;
                }
            }
            pthread_mutex_unlock(&e->lock);
            if (rc != LEDGER_OK) {
                memset(&leg, 0, sizeof leg);
                snprintf(leg.tid, sizeof leg.tid, "%s", tids[i]);
                snprintf(leg.reason, sizeof leg.reason, "%s", REASON(STORE_UNAVAILABLE));
            }
            while (late != NULL) {
                engine_waiter_t *next = late->next;
                late->done(late->arg, &leg);
                free(late);
                late = next;
            }
        }
        ledger_leg_free(&leg);
    }
    free(tids);
}

/* ---- batches ----------------------------------------------------------------- */

/* Reports one leg to cfg.on_event, if set. */
static void engine_event(const engine_t *e, engine_event_kind_t kind, const char *tid,
                         const char *peer, transfer_state_t state, const char *reason) {
    if (e->cfg.on_event == NULL) return;
    engine_event_t ev = {kind, tid, peer, state, reason != NULL ? reason : ""};
    e->cfg.on_event(e->cfg.event_ctx, &ev);
}

/* Sends decisions for decided legs to peer and marks the acknowledged ones
 * (reported as ENGINE_EVENT_DECISION_RESENT when recovery sends them).
 * tids/decisions are parallel arrays of n. Returns 0 if the peer answered. */
static int engine_send_decisions(engine_t *e, store_t *st, const char *peer, uint64_t batch_seq,
                                 const char *const *tids, const char *decisions, size_t n,
                                 int recovery) {
    char *applied = calloc(n, 1);
    const char **acked = calloc(n, sizeof *acked);
    if (applied == NULL || acked == NULL) abort();
    char err[256];
    int rc = e->transport.decide(e->transport.ctx, peer, batch_seq, tids, decisions, n,
                                 e->cfg.peer_timeout_ms, applied, err, sizeof err);
    if (rc != 0) {
        atomic_fetch_add(&e->decide_failures, 1);
    } else {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (applied[i] == decisions[i]) acked[k++] = tids[i];
        if (k > 0) ledger_source_ack(st, acked, k, ledger_now_ms(), err, sizeof err);
        for (size_t i = 0; recovery && i < n; i++)
            if (applied[i] == decisions[i])
                engine_event(e, ENGINE_EVENT_DECISION_RESENT, tids[i], peer,
                             transfer_state_of_decision(decisions[i]), "");
    }
    free(applied);
    free(acked);
    return rc;
}

static void engine_run_batch(engine_t *e, engine_peer_t *p, store_t *st, engine_item_t **items,
                             size_t n) {
    CARBON_ASSERT(n >= 1 && n <= LEDGER_BATCH_LEGS_MAX);
    atomic_fetch_add(&e->batches, 1);
    engine_observe(e->batch_legs_n, &e->batch_legs_sum, engine_batch_bounds_legs,
                   ENGINE_BATCH_BUCKETS, n);
    failpoint_hit("source.before_prepare");
    const ledger_leg_t **legs = calloc(n, sizeof *legs);
    const char **batch_tids = calloc(n, sizeof *batch_tids);
    engine_vote_t *votes = calloc(n, sizeof *votes);
    ledger_source_decision_t *d = calloc(n, sizeof *d);
    if (legs == NULL || batch_tids == NULL || votes == NULL || d == NULL) abort();
    uint64_t min_expiry = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        legs[i] = &items[i]->leg;
        batch_tids[i] = items[i]->leg.tid;
        if (items[i]->leg.expiry_ms < min_expiry) min_expiry = items[i]->leg.expiry_ms;
    }
    /* Number and record the batch before it leaves (0: store unreachable; the
     * peer still votes, the legs settle, the batch is not numbered). */
    batch_totals_t totals;
    batch_totals_source(e->cfg.region, legs, n, &totals);
    uint64_t batch_seq = 0;
    char err0[256];
    if (batch_open(st, p->region, &totals, batch_tids, n, ledger_now_ms(), &batch_seq, err0,
                   sizeof err0) != LEDGER_OK)
        batch_seq = 0;
    free(batch_tids);

    /* Phase one: ask the peer, until it answers or the earliest leg expires. */
    int answered = 0;
    uint64_t backoff_ms = ENGINE_BACKOFF_MS_INITIAL;
    char err[256] = "";
    for (;;) {
        uint64_t now = ledger_now_ms();
        if (now >= min_expiry) break;
        int64_t timeout_ms = (int64_t)(min_expiry - now);
        if (timeout_ms > (int64_t)e->cfg.peer_timeout_ms) timeout_ms = e->cfg.peer_timeout_ms;
        if (e->transport.prepare(e->transport.ctx, p->region, batch_seq, legs, n, timeout_ms,
                                 votes, err, sizeof err) == 0) {
            answered = 1;
            break;
        }
        atomic_fetch_add(&e->prepare_failures, 1);
        now = ledger_now_ms();
        if (now + backoff_ms >= min_expiry) {
            if (now < min_expiry) engine_sleep_ms(min_expiry - now);
            break;
        }
        engine_sleep_ms(backoff_ms);
        backoff_ms = backoff_ms * 2 > ENGINE_BACKOFF_MS_MAX ? ENGINE_BACKOFF_MS_MAX : backoff_ms * 2;
    }
    if (answered) failpoint_hit("source.after_prepare");
    for (size_t i = 0; i < n; i++) {
        d[i].tid = items[i]->leg.tid;
        if (answered && votes[i].yes) {
            d[i].decision = TRANSFER_DECISION_COMMIT;
            d[i].reason = "";
        } else {
            d[i].decision = TRANSFER_DECISION_ABORT;
            d[i].reason = answered ? votes[i].reason : REASON(PEER_UNAVAILABLE);
        }
        d[i].only_if_expired = 0;
    }

    /* The commit point: one script for the whole batch. */
    int rc = LEDGER_ESTORE;
    backoff_ms = ENGINE_BACKOFF_MS_INITIAL;
    for (int attempt = 0; attempt < ENGINE_STORE_RETRIES_MAX; attempt++) {
        rc = ledger_source_decide(st, d, n, ledger_now_ms(), err, sizeof err);
        if (rc == LEDGER_OK) break;
        engine_sleep_ms(backoff_ms);
        backoff_ms *= 2;
    }
    const char **tids = calloc(n, sizeof *tids);
    char *decisions = calloc(n, 1);
    if (tids == NULL || decisions == NULL) abort();
    size_t decided = 0;
    uint64_t decided_us = engine_mono_us(); /* the decisions are durable now */
    for (size_t i = 0; i < n; i++) {
        ledger_leg_t *leg = &items[i]->leg;
        if (rc != LEDGER_OK) {
            leg->state = TRANSFER_STATE_NONE;
            snprintf(leg->reason, sizeof leg->reason, "%s", REASON(STORE_UNAVAILABLE));
        } else {
            leg->state = d[i].state;
            snprintf(leg->reason, sizeof leg->reason, "%s", d[i].final_reason);
            leg->decided_ms = d[i].decided_ms;
            if (transfer_state_decided(d[i].state)) {
                tids[decided] = leg->tid;
                decisions[decided] = transfer_decision_of(d[i].state);
                decided++;
                atomic_fetch_add(d[i].state == TRANSFER_STATE_COMMITTED ? &e->committed : &e->aborted, 1);
                engine_event(e, ENGINE_EVENT_DECIDED, leg->tid, p->region, d[i].state,
                             d[i].final_reason);
                uint64_t held_us = items[i]->held_us;
                engine_observe(e->latency_us_n, &e->latency_us_sum, engine_latency_bounds_us,
                               ENGINE_LATENCY_BUCKETS,
                               decided_us > held_us ? decided_us - held_us : 0);
            }
        }
        items[i]->done(items[i]->arg, leg);
        engine_notify(e, leg);
    }

    if (rc == LEDGER_OK) failpoint_hit("source.after_decide");
    /* Phase two: tell the peer; what it does not acknowledge, recovery re-sends. */
    if (decided > 0)
        engine_send_decisions(e, st, p->region, batch_seq, tids, decisions, decided, 0);

    for (size_t i = 0; i < n; i++) {
        ledger_leg_free(&items[i]->leg);
        free(items[i]);
    }
    free(tids);
    free(decisions);
    free(legs);
    free(votes);
    free(d);
}

static void *engine_batcher_main(void *arg) {
    engine_peer_t *p = arg;
    engine_t *e = p->engine;
    char err[256];
    store_t *st = NULL;
    while (st == NULL) {
        st = store_open(&e->cfg.store, err, sizeof err);
        if (st != NULL) break;
        pthread_mutex_lock(&e->lock);
        int stop = e->stopping && p->queued == 0;
        pthread_mutex_unlock(&e->lock);
        if (stop) return NULL;
        engine_sleep_ms(ENGINE_BACKOFF_MS_MAX / 4);
    }
    size_t max = e->cfg.batch_legs_max;
    engine_item_t **items = calloc(max, sizeof *items);
    if (items == NULL) abort();
    for (;;) {
        pthread_mutex_lock(&e->lock);
        while (p->queued == 0 && !e->stopping) pthread_cond_wait(&p->wake, &e->lock);
        if (p->queued == 0 && e->stopping) {
            p->exited = 1; /* later submissions are answered by engine_submit itself */
            pthread_mutex_unlock(&e->lock);
            break;
        }
        /* Group commit: wait for more legs, at most batch_window_ms after the first. */
        while (p->queued < max && !e->stopping) {
            uint64_t now = engine_mono_ms();
            uint64_t until = p->first_enqueued_ms + e->cfg.batch_window_ms;
            if (now >= until) break;
            struct timespec ts = engine_abstime(until - now);
            pthread_cond_timedwait(&p->wake, &e->lock, &ts);
        }
        size_t n = 0;
        while (n < max && p->head != NULL) {
            engine_item_t *it = p->head;
            p->head = it->next;
            if (p->head == NULL) p->tail = NULL;
            items[n++] = it;
        }
        p->queued -= n;
        p->reserved -= n;
        p->first_enqueued_ms = engine_mono_ms();
        pthread_mutex_unlock(&e->lock);
        engine_run_batch(e, p, st, items, n);
    }
    free(items);
    store_close(st);
    return NULL;
}

int engine_reserve(engine_t *e, const char *peer) {
    engine_peer_t *p = engine_peer(e, peer);
    if (p == NULL) return -1;
    pthread_mutex_lock(&e->lock);
    int rc = 0;
    if (e->stopping || p->reserved >= e->cfg.queue_legs_max)
        rc = -2;
    else
        p->reserved++;
    pthread_mutex_unlock(&e->lock);
    return rc;
}

void engine_unreserve(engine_t *e, const char *peer) {
    engine_peer_t *p = engine_peer(e, peer);
    CARBON_ASSERT(p != NULL);
    pthread_mutex_lock(&e->lock);
    CARBON_ASSERT(p->reserved > p->queued);
    p->reserved--;
    pthread_mutex_unlock(&e->lock);
}

void engine_submit(engine_t *e, ledger_leg_t *leg, engine_done_fn done, void *arg) {
    engine_peer_t *p = engine_peer(e, leg->peer);
    CARBON_ASSERT(p != NULL);
    engine_item_t *it = calloc(1, sizeof *it);
    if (it == NULL) abort();
    it->leg = *leg;
    memset(leg, 0, sizeof *leg); /* blocks moved */
    it->done = done;
    it->arg = arg;
    it->held_us = engine_mono_us();
    pthread_mutex_lock(&e->lock);
    CARBON_ASSERT(p->reserved > p->queued);
    if (p->exited) {
        /* Stopping: the leg stays HELD; recovery settles it after restart. */
        p->reserved--;
        pthread_mutex_unlock(&e->lock);
        done(arg, &it->leg);
        ledger_leg_free(&it->leg);
        free(it);
        return;
    }
    if (p->queued == 0) p->first_enqueued_ms = engine_mono_ms();
    if (p->tail != NULL)
        p->tail->next = it;
    else
        p->head = it;
    p->tail = it;
    p->queued++;
    if (p->queued == 1 || p->queued >= e->cfg.batch_legs_max) pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&e->lock);
}

/* ---- recovery ---------------------------------------------------------------- */

/* Takes or renews the recovery lease; 1 if this engine holds it. */
static int engine_lease(engine_t *e, store_t *st) {
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%" PRIu32, e->cfg.recovery_interval_ms * 3);
    const char *set[6] = {"SET", STORE_KEY_LEASE_RECOVERY, e->lease_owner, "NX", "PX", ttl};
    size_t setlen[6] = {3, 17, strlen(e->lease_owner), 2, 2, strlen(ttl)};
    redisReply *r = NULL;
    char err[128];
    if (store_command(st, 6, set, setlen, &r, err, sizeof err) != STORE_OK) return 0;
    int held = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    if (held) return 1;
    const char *get[2] = {"GET", STORE_KEY_LEASE_RECOVERY};
    size_t getlen[2] = {3, 17};
    if (store_command(st, 2, get, getlen, &r, err, sizeof err) != STORE_OK) return 0;
    held = r->type == REDIS_REPLY_STRING && strcmp(r->str, e->lease_owner) == 0;
    freeReplyObject(r);
    if (held) {
        const char *ext[3] = {"PEXPIRE", STORE_KEY_LEASE_RECOVERY, ttl};
        size_t extlen[3] = {7, 17, strlen(ttl)};
        if (store_command(st, 3, ext, extlen, &r, err, sizeof err) == STORE_OK) freeReplyObject(r);
    }
    return held;
}

int engine_recover_once(engine_t *e, store_t *st) {
    size_t max = ENGINE_RECOVERY_SCAN_MAX;
    ledger_pending_leg_t *src = calloc(max, sizeof *src), *dst = calloc(max, sizeof *dst);
    if (src == NULL || dst == NULL) abort();
    size_t src_n = 0, dst_n = 0;
    char err[256];
    int settled = 0;
    uint64_t now = ledger_now_ms();
    if (ledger_recovery_scan(st, now, max, src, &src_n, dst, &dst_n, err, sizeof err) != LEDGER_OK)
        goto out;
    /* metrics: what this scan found unresolved past the legs' expiry (a source
     * leg decided a moment ago is normally being acknowledged right now) */
    size_t in_doubt = dst_n;
    for (size_t i = 0; i < src_n; i++)
        if (transfer_state_decided(src[i].state) &&
            src[i].expiry_ms <= now)
            in_doubt++;
    atomic_store(&e->legs_in_doubt, (uint64_t)in_doubt);

    /* Source: presumed abort of expired holds. */
    ledger_source_decision_t *d = calloc(src_n > 0 ? src_n : 1, sizeof *d);
    if (d == NULL) abort();
    size_t nd = 0;
    for (size_t i = 0; i < src_n; i++) {
        if (src[i].state != TRANSFER_STATE_HELD) continue;
        d[nd].tid = src[i].tid;
        d[nd].decision = TRANSFER_DECISION_ABORT;
        d[nd].reason = REASON(EXPIRED);
        d[nd].only_if_expired = 1;
        nd++;
    }
    for (size_t off = 0; off < nd; off += LEDGER_BATCH_LEGS_MAX) {
        size_t k = nd - off < LEDGER_BATCH_LEGS_MAX ? nd - off : LEDGER_BATCH_LEGS_MAX;
        if (ledger_source_decide(st, d + off, k, now, err, sizeof err) != LEDGER_OK) break;
        for (size_t i = 0; i < k; i++) {
            for (size_t j = 0; j < src_n; j++)
                if (strcmp(src[j].tid, d[off + i].tid) == 0) {
                    src[j].state = d[off + i].state;
                    engine_event(e, ENGINE_EVENT_PRESUMED_ABORT, src[j].tid, src[j].peer,
                                 d[off + i].state, d[off + i].final_reason);
                }
            ledger_leg_t leg;
            if (ledger_leg_get(st, d[off + i].tid, &leg, err, sizeof err) == LEDGER_OK) {
                engine_notify(e, &leg);
                ledger_leg_free(&leg);
            }
            settled++;
        }
    }
    free(d);

    /* Source: re-send decisions not yet acknowledged, per peer. */
    /* Room for either list: the source legs re-sent, then the destination legs asked about. */
    size_t room = src_n > dst_n ? src_n : dst_n;
    if (room == 0) room = 1;
    const char **tids = calloc(room, sizeof *tids);
    char *decisions = calloc(room, 1);
    if (tids == NULL || decisions == NULL) abort();
    for (size_t pi = 0; pi < e->cfg.peers_n; pi++) {
        size_t k = 0;
        for (size_t i = 0; i < src_n; i++) {
            if (strcmp(src[i].peer, e->peers[pi].region) != 0) continue;
            if (!transfer_state_decided(src[i].state)) continue;
            tids[k] = src[i].tid;
            decisions[k] = transfer_decision_of(src[i].state);
            k++;
        }
        for (size_t off = 0; off < k; off += LEDGER_BATCH_LEGS_MAX) {
            size_t m = k - off < LEDGER_BATCH_LEGS_MAX ? k - off : LEDGER_BATCH_LEGS_MAX;
            if (engine_send_decisions(e, st, e->peers[pi].region, 0, tids + off, decisions + off,
                                      m, 1) == 0)
                settled += (int)m;
        }
    }

    /* Destination: ask the coordinator about expired prepared legs. */
    for (size_t pi = 0; pi < e->cfg.peers_n; pi++) {
        size_t k = 0;
        for (size_t i = 0; i < dst_n; i++)
            if (strcmp(dst[i].peer, e->peers[pi].region) == 0) tids[k++] = dst[i].tid;
        for (size_t off = 0; off < k; off += LEDGER_BATCH_LEGS_MAX) {
            size_t m = k - off < LEDGER_BATCH_LEGS_MAX ? k - off : LEDGER_BATCH_LEGS_MAX;
            char *answers = calloc(m, 1);
            ledger_dest_decision_t *dd = calloc(m, sizeof *dd);
            if (answers == NULL || dd == NULL) abort();
            if (e->transport.query(e->transport.ctx, e->peers[pi].region, tids + off, m,
                                   e->cfg.peer_timeout_ms, answers, err, sizeof err) == 0) {
                size_t nd2 = 0;
                for (size_t i = 0; i < m; i++) {
                    if (answers[i] != TRANSFER_DECISION_COMMIT && answers[i] != TRANSFER_DECISION_ABORT)
                        continue; /* stays in doubt */
                    dd[nd2].tid = tids[off + i];
                    dd[nd2].decision = answers[i];
                    dd[nd2].resolved_by = "";
                    nd2++;
                }
                if (nd2 > 0 &&
                    ledger_dest_decide(st, e->peers[pi].region, dd, nd2, ledger_now_ms(), err,
                                       sizeof err) == LEDGER_OK) {
                    settled += (int)nd2;
                    for (size_t i = 0; i < nd2; i++)
                        if (dd[i].applied == TRANSFER_DECISION_COMMIT || dd[i].applied == TRANSFER_DECISION_ABORT)
                            engine_event(e, ENGINE_EVENT_DECISION_LEARNED, dd[i].tid,
                                         e->peers[pi].region,
                                         transfer_state_of_decision(dd[i].applied), "");
                }
            }
            free(answers);
            free(dd);
        }
    }
    free(tids);
    free(decisions);
out:
    free(src);
    free(dst);
    if (settled > 0) atomic_fetch_add(&e->recovered, (uint64_t)settled);
    return settled;
}

static void *engine_recovery_main(void *arg) {
    engine_t *e = arg;
    char err[256];
    store_t *st = NULL;
    uint64_t next_pass_ms = 0; /* at start: at once */
    for (;;) {
        pthread_mutex_lock(&e->lock);
        if (e->stopping) {
            pthread_mutex_unlock(&e->lock);
            break;
        }
        uint64_t wait_ms = e->waiters_n > 0 ? ENGINE_WAITER_TICK_MS : e->cfg.recovery_interval_ms;
        uint64_t now = engine_mono_ms();
        if (next_pass_ms > now && next_pass_ms - now < wait_ms) wait_ms = next_pass_ms - now;
        if (next_pass_ms > now) {
            struct timespec ts = engine_abstime(wait_ms);
            pthread_cond_timedwait(&e->recovery_wake, &e->lock, &ts);
        }
        int stop = e->stopping;
        pthread_mutex_unlock(&e->lock);
        if (stop) break;
        if (st == NULL) st = store_open(&e->cfg.store, err, sizeof err);
        if (st == NULL) continue;
        engine_poll_waiters(e, st, 0);
        now = engine_mono_ms();
        if (now >= next_pass_ms) {
            next_pass_ms = now + e->cfg.recovery_interval_ms;
            if (engine_lease(e, st)) engine_recover_once(e, st);
        }
    }
    if (st != NULL) {
        engine_poll_waiters(e, st, 1);
        store_close(st);
    }
    return NULL;
}

/* ---- lifecycle -------------------------------------------------------------------- */

engine_t *engine_create(const engine_config_t *cfg, const engine_transport_t *transport,
                        char *err, size_t errlen) {
    if (cfg->batch_legs_max < 1 || cfg->batch_legs_max > LEDGER_BATCH_LEGS_MAX ||
        cfg->queue_legs_max < 1 || cfg->queue_legs_max > ENGINE_QUEUE_LEGS_MAX ||
        cfg->peers_n > ENGINE_PEERS_MAX || cfg->recovery_interval_ms < 1) {
        snprintf(err, errlen, "engine: setting out of range");
        return NULL;
    }
    engine_t *e = calloc(1, sizeof *e);
    if (e == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->cfg = *cfg;
    e->transport = *transport;
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->recovery_wake, NULL);
    for (size_t i = 0; i < cfg->peers_n; i++) {
        e->peers[i].engine = e;
        snprintf(e->peers[i].region, sizeof e->peers[i].region, "%s", cfg->peers[i]);
        pthread_cond_init(&e->peers[i].wake, NULL);
    }
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    snprintf(e->lease_owner, sizeof e->lease_owner, "%.24s:%d:%" PRIu64, host, (int)getpid(),
             ledger_now_ms() % 1000000u);
    return e;
}

int engine_start(engine_t *e, char *err, size_t errlen) {
    for (size_t i = 0; i < e->cfg.peers_n; i++) {
        if (pthread_create(&e->peers[i].thread, NULL, engine_batcher_main, &e->peers[i]) != 0) {
            snprintf(err, errlen, "cannot start the batcher of %s", e->peers[i].region);
            return -1;
        }
        e->peers[i].started = 1;
    }
    if (pthread_create(&e->recovery_thread, NULL, engine_recovery_main, e) != 0) {
        snprintf(err, errlen, "cannot start the recovery thread");
        return -1;
    }
    e->recovery_started = 1;
    return 0;
}

void engine_stop(engine_t *e) {
    pthread_mutex_lock(&e->lock);
    e->stopping = 1;
    for (size_t i = 0; i < e->cfg.peers_n; i++) pthread_cond_broadcast(&e->peers[i].wake);
    pthread_cond_broadcast(&e->recovery_wake);
    pthread_mutex_unlock(&e->lock);
    for (size_t i = 0; i < e->cfg.peers_n; i++)
        if (e->peers[i].started) {
            pthread_join(e->peers[i].thread, NULL);
            e->peers[i].started = 0;
        }
    if (e->recovery_started) {
        pthread_join(e->recovery_thread, NULL);
        e->recovery_started = 0;
    }
}

void engine_destroy(engine_t *e) {
    if (e == NULL) return;
    engine_stop(e);
    while (e->waiters != NULL) {
        engine_waiter_t *w = e->waiters;
        e->waiters = w->next;
        free(w);
    }
    for (size_t i = 0; i < e->cfg.peers_n; i++) pthread_cond_destroy(&e->peers[i].wake);
    pthread_cond_destroy(&e->recovery_wake);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

void engine_get_stats(engine_t *e, engine_stats_t *out) {
    out->batches = atomic_load(&e->batches);
    out->legs_committed = atomic_load(&e->committed);
    out->legs_aborted = atomic_load(&e->aborted);
    out->prepare_failures = atomic_load(&e->prepare_failures);
    out->decide_failures = atomic_load(&e->decide_failures);
    out->recovered = atomic_load(&e->recovered);
    for (size_t i = 0; i <= ENGINE_LATENCY_BUCKETS; i++)
        out->latency_us_buckets[i] = atomic_load(&e->latency_us_n[i]);
    out->latency_us_sum = atomic_load(&e->latency_us_sum);
    for (size_t i = 0; i <= ENGINE_BATCH_BUCKETS; i++)
        out->batch_legs_buckets[i] = atomic_load(&e->batch_legs_n[i]);
    out->batch_legs_sum = atomic_load(&e->batch_legs_sum);
    out->legs_in_doubt = atomic_load(&e->legs_in_doubt);
}
