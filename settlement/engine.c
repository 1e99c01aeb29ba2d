/* engine.c - group commit and recovery (engine.h). */
#include "settlement/engine.h"
#include "common/carbon_assert.h"

#include "settlement/batch.h"
#include "settlement/failpoint.h"
#include "settlement/heuristic.h"
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
#define ENGINE_PEER_BYTES_MIN 1024 /* a peer's max_message_bytes below this is ignored */
#define ENGINE_PIPELINE_DEPTH 2     /* a batch in phase one, the one before in phase two */
#define ENGINE_SEND_LEFT_MIN_MS 50  /* a leg with less time left than this is not sent */

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

/* Room for one Decide call and its acknowledgement: the peer's answers and
 * the tids it applied, cap entries each. */
typedef struct {
    size_t cap;
    char *applied;
    const char **acked;
} engine_ack_buf_t;

/* A batch's working arrays, cap (= cfg.batch_legs_max) entries each,
 * allocated once by engine_create. Each peer has ENGINE_PIPELINE_DEPTH of
 * them: the batcher runs phase one of a batch in one while the peer's
 * decider runs phase two of the previous one in the other (no lock: a batch
 * belongs to one thread at a time, handed over under engine_t.lock). */
typedef struct {
    size_t cap;
    engine_item_t **items;               /* the legs taken from the queue */
    const ledger_leg_t **legs;           /* their legs, for the Prepare */
    const char **open_tids;              /* their tids, for batch_open */
    engine_vote_t *votes;                /* the peer's votes */
    ledger_source_decision_t *decisions; /* the commit point's input and output */
    const char **decided_tids;           /* legs decided, for the Decide */
    char *verdicts;                      /* 'C'/'A', parallel to decided_tids */
    engine_ack_buf_t ack;
    /* what phase two needs, set by phase one */
    size_t n;         /* legs in items */
    size_t decided;   /* legs in decided_tids */
    int commit_rc;    /* what the commit point's script returned */
    uint64_t seq;     /* the batch's number (0: not numbered) */
    int ordered;      /* the next batch waits for this one's phase two (engine_batch_gather) */
} engine_batch_t;

/* Recovery's working arrays, allocated once by engine_create; one pass at a
 * time uses them (engine_t.recovering). */
typedef struct {
    ledger_pending_leg_t *src, *dst;   /* [ENGINE_RECOVERY_SCAN_MAX] what the scan found */
    ledger_source_decision_t *aborts;  /* [ENGINE_RECOVERY_SCAN_MAX] presumed aborts */
    const char **tids;                 /* [ENGINE_RECOVERY_SCAN_MAX] one peer's legs */
    char *verdicts;                    /* [ENGINE_RECOVERY_SCAN_MAX] parallel to tids */
    char *answers;                     /* [LEDGER_BATCH_LEGS_MAX] a coordinator's answers */
    ledger_dest_decision_t *learned;   /* [LEDGER_BATCH_LEGS_MAX] what they decide */
    engine_ack_buf_t ack;              /* [LEDGER_BATCH_LEGS_MAX] */
} engine_recovery_t;

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
    engine_batch_t slots[ENGINE_PIPELINE_DEPTH];
    engine_batch_t *batch;        /* the slot the batcher fills next */
    /* phase two, under engine->lock: the batch the decider holds (NULL: none) */
    engine_batch_t *phase_two;
    int phase_one_done;           /* the batcher has exited: the decider may too */
    size_t last_batch_n;          /* legs of the batch gathered last */
    uint64_t gather_from_us;      /* when the batcher last found a leg queued (batcher only) */
    pthread_cond_t phase_two_wake; /* a batch handed over, or taken back free */
    pthread_t decider;
    int decider_started;
    /* what the peer accepts (engine_set_peer_limits); 0: not known yet */
    _Atomic uint32_t legs_max, bytes_max;
} engine_peer_t;

struct engine {
    engine_config_t cfg;
    engine_transport_t transport;
    engine_peer_t peers[ENGINE_PEERS_MAX];
    pthread_mutex_t lock; /* through engine_lock / engine_unlock only */
    int stopping;
    pthread_t recovery_thread;
    int recovery_started;
    pthread_cond_t recovery_wake;
    engine_waiter_t *waiters;
    size_t waiters_n;
    char lease_owner[48];
    engine_recovery_t recovery;
    atomic_int recovering; /* a recovery pass is using engine_t.recovery */
    int (*origin_ask_ok)(void *arg, const char *source); /* engine_set_origin_ask_gate; NULL: none */
    void *origin_ask_arg;
    _Atomic uint64_t batches, committed, aborted, prepare_failures, decide_failures, recovered;
    /* metrics (engine_stats_t) */
    _Atomic uint64_t latency_us_n[ENGINE_LATENCY_BUCKETS + 1], latency_us_sum;
    _Atomic uint64_t batch_legs_n[ENGINE_BATCH_BUCKETS + 1], batch_legs_sum, legs_in_doubt;
    _Atomic uint64_t legs_heuristic_mixed, decision_conflicts;
    _Atomic uint64_t phase_us[ENGINE_PHASES];
};

/* The engine whose lock this thread holds (NULL: none). The lock is taken
 * only through engine_lock, so helpers that need it can assert it. */
static _Thread_local const engine_t *engine_lock_holder;

/* Takes e->lock; the thread must not hold it already. */
static void engine_lock(engine_t *e) {
    CARBON_ASSERT(e != NULL && engine_lock_holder == NULL);
    pthread_mutex_lock(&e->lock);
    engine_lock_holder = e;
}

/* Releases e->lock, which this thread holds. */
static void engine_unlock(engine_t *e) {
    CARBON_ASSERT(e != NULL && engine_lock_holder == e);
    engine_lock_holder = NULL;
    pthread_mutex_unlock(&e->lock);
}

/* True if this thread holds e->lock. */
static int engine_locked(const engine_t *e) { return e != NULL && engine_lock_holder == e; }

/* Waits on cond (with e->lock held), until abstime if not NULL. */
static void engine_cond_wait(engine_t *e, pthread_cond_t *cond, const struct timespec *abstime) {
    CARBON_ASSERT(engine_locked(e) && cond != NULL);
    engine_lock_holder = NULL; /* released while waiting */
    if (abstime != NULL)
        pthread_cond_timedwait(cond, &e->lock, abstime);
    else
        pthread_cond_wait(cond, &e->lock);
    engine_lock_holder = e;
}

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

const char *engine_phase_name(engine_phase_t phase) {
    static const char *const names[ENGINE_PHASES] = {
        [ENGINE_PHASE_WAIT] = "wait",     [ENGINE_PHASE_OPEN] = "open",
        [ENGINE_PHASE_PREPARE] = "prepare", [ENGINE_PHASE_COMMIT] = "commit",
        [ENGINE_PHASE_ANSWER] = "answer", [ENGINE_PHASE_HAND] = "hand",
        [ENGINE_PHASE_DECIDE] = "decide",
    };
    CARBON_ASSERT((unsigned)phase < ENGINE_PHASES);
    return names[phase];
}

/* Adds the time since *since_us to phase's total and moves *since_us to now. */
static void engine_phase_end(engine_t *e, engine_phase_t phase, uint64_t *since_us) {
    CARBON_ASSERT(e != NULL && since_us != NULL && (unsigned)phase < ENGINE_PHASES);
    uint64_t now_us = engine_mono_us();
    if (now_us > *since_us) atomic_fetch_add(&e->phase_us[phase], now_us - *since_us);
    *since_us = now_us;
}

/* ---- a peer's limits ------------------------------------------------------------ */

static engine_peer_t *engine_peer(engine_t *e, const char *region);

/* Items (legs, decisions, ids) per message to p: the lower of the engine's
 * batch_legs_max and the peer's own (when known); at least 1. */
static size_t engine_legs_max(const engine_t *e, engine_peer_t *p) {
    CARBON_ASSERT(e != NULL && p != NULL && e->cfg.batch_legs_max >= 1);
    uint32_t theirs = atomic_load(&p->legs_max);
    uint32_t n = e->cfg.batch_legs_max;
    if (theirs >= 1 && theirs < n) n = theirs;
    CARBON_ASSERT(n >= 1 && n <= LEDGER_BATCH_LEGS_MAX);
    return n;
}

/* The lower of the engine's message_bytes_max and p's announced one (when
 * at least ENGINE_PEER_BYTES_MIN); 0: neither says. */
static uint32_t engine_bytes_lower(const engine_t *e, engine_peer_t *p) {
    CARBON_ASSERT(e != NULL && p != NULL);
    uint32_t theirs = atomic_load(&p->bytes_max), n = e->cfg.message_bytes_max;
    if (theirs >= ENGINE_PEER_BYTES_MIN && (n == 0 || theirs < n)) n = theirs;
    return n;
}

/* Bytes a Prepare to p may fill: three quarters of the lower of the engine's
 * message_bytes_max and the peer's (room for the encoding's overhead, which
 * engine_leg_bytes does not count exactly); 0: no limit. */
static uint64_t engine_bytes_budget(const engine_t *e, engine_peer_t *p) {
    return engine_bytes_lower(e, p) / 4 * 3;
}

/* An upper bound of a leg's bytes in a Prepare (protobuf): its strings with
 * their tags and lengths, and per block its origin, methodology and three
 * varints of at most 10 bytes. */
static uint64_t engine_leg_bytes(const ledger_leg_t *leg) {
    CARBON_ASSERT(leg != NULL);
    uint64_t n = 64 + strlen(leg->tid) + 2 * (CARBON_REGION_SIZE + LEDGER_ID_MAX + 3) +
                 strlen(leg->dest_meth) + 2 * LEDGER_DIGEST_HEX + 6 * 11;
    for (size_t i = 0; i < leg->blocks_n; i++)
        n += 8 + strlen(leg->blocks[i].origin) + strlen(leg->blocks[i].meth) + 3 * 11;
    return n;
}

uint32_t engine_peer_message_bytes_max(engine_t *e, const char *peer) {
    CARBON_ASSERT(e != NULL && peer != NULL);
    engine_peer_t *p = engine_peer(e, peer);
    return p == NULL ? e->cfg.message_bytes_max : engine_bytes_lower(e, p);
}

void engine_set_peer_limits(engine_t *e, const char *peer, uint32_t legs_max, uint32_t bytes_max) {
    CARBON_ASSERT(e != NULL && peer != NULL);
    engine_peer_t *p = engine_peer(e, peer);
    if (p == NULL) return;
    atomic_store(&p->legs_max, legs_max);
    atomic_store(&p->bytes_max, bytes_max);
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
    CARBON_ASSERT(buckets != NULL && sum != NULL && bounds != NULL);
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

/* The peer named region, or NULL if it is not one of cfg.peers. */
static engine_peer_t *engine_peer(engine_t *e, const char *region) {
    CARBON_ASSERT(e != NULL && region != NULL);
    CARBON_ASSERT(e->cfg.peers_n <= ENGINE_PEERS_MAX);
    for (size_t i = 0; i < e->cfg.peers_n; i++)
        if (strcmp(e->peers[i].region, region) == 0) return &e->peers[i];
    return NULL;
}


/* ---- waiters ------------------------------------------------------------------- */

/* Moves the waiters of tid out of e->waiters (all of them, or with
 * only_due those whose deadline is <= now_ms unless all is set) into a
 * list it returns. e->lock must be held. */
static engine_waiter_t *engine_waiters_take(engine_t *e, const char *tid, int only_due, int all,
                                            uint64_t now_ms) {
    CARBON_ASSERT(engine_locked(e));
    CARBON_ASSERT(tid != NULL);
    engine_waiter_t *taken = NULL;
    engine_waiter_t **pp = &e->waiters;
    while (*pp != NULL) {
        engine_waiter_t *w = *pp;
        if (strcmp(w->tid, tid) == 0 && (!only_due || all || w->deadline_ms <= now_ms)) {
            *pp = w->next;
            w->next = taken;
            taken = w;
            CARBON_ASSERT(e->waiters_n > 0);
            e->waiters_n--;
        } else {
            pp = &w->next;
        }
    }
    return taken;
}

/* Calls and frees every waiter of the list with leg (borrowed). */
static void engine_waiters_answer(engine_waiter_t *list, const ledger_leg_t *leg) {
    CARBON_ASSERT(leg != NULL);
    while (list != NULL) {
        engine_waiter_t *next = list->next;
        CARBON_ASSERT(list->done != NULL);
        list->done(list->arg, leg);
        free(list);
        list = next;
    }
}

/* Calls and removes the waiters of leg->tid. */
static void engine_notify(engine_t *e, const ledger_leg_t *leg) {
    CARBON_ASSERT(e != NULL && leg != NULL);
    engine_lock(e);
    engine_waiter_t *hit = engine_waiters_take(e, leg->tid, 0, 0, 0);
    engine_unlock(e);
    engine_waiters_answer(hit, leg);
}

int engine_wait(engine_t *e, const char *tid, uint64_t deadline_ms, engine_done_fn done,
                void *arg) {
    CARBON_ASSERT(e != NULL && tid != NULL && done != NULL);
    CARBON_ASSERT(strlen(tid) <= LEDGER_TID_LEN);
    engine_waiter_t *w = calloc(1, sizeof *w);
    if (w == NULL) return -1;
    snprintf(w->tid, sizeof w->tid, "%s", tid);
    w->deadline_ms = deadline_ms;
    w->done = done;
    w->arg = arg;
    engine_lock(e);
    if (e->waiters_n >= ENGINE_WAITERS_MAX) {
        engine_unlock(e);
        free(w);
        return -1;
    }
    w->next = e->waiters;
    e->waiters = w;
    e->waiters_n++;
    pthread_cond_signal(&e->recovery_wake);
    engine_unlock(e);
    return 0;
}

/* Answers waiters whose leg is decided in the store or whose time is up. */
static void engine_poll_waiters(engine_t *e, store_t *st, int all) {
    CARBON_ASSERT(e != NULL && st != NULL);
    engine_lock(e);
    size_t n = e->waiters_n;
    CARBON_ASSERT(n <= ENGINE_WAITERS_MAX);
    char (*tids)[LEDGER_TID_LEN + 1] = n > 0 ? calloc(n, sizeof *tids) : NULL;
    if (n > 0 && tids == NULL) abort();
    size_t k = 0;
    for (engine_waiter_t *w = e->waiters; w != NULL && k < n; w = w->next)
        memcpy(tids[k++], w->tid, sizeof tids[0]);
    engine_unlock(e);
    uint64_t now = ledger_now_ms();
    for (size_t i = 0; i < k; i++) {
        ledger_leg_t leg;
        char err[256];
        int rc = ledger_leg_get(st, tids[i], &leg, err, sizeof err);
        if (rc == LEDGER_OK && transfer_state_decided(leg.state)) {
            engine_notify(e, &leg);
        } else {
            /* Time up (or stopping): answer with what is known. */
            engine_lock(e);
            engine_waiter_t *late = engine_waiters_take(e, tids[i], 1, all, now);
            engine_unlock(e);
            if (rc != LEDGER_OK) {
                memset(&leg, 0, sizeof leg);
                snprintf(leg.tid, sizeof leg.tid, "%s", tids[i]);
                snprintf(leg.reason, sizeof leg.reason, "%s", REASON(STORE_UNAVAILABLE));
            }
            engine_waiters_answer(late, &leg);
        }
        ledger_leg_free(&leg);
    }
    free(tids);
}

/* ---- batches ----------------------------------------------------------------- */

/* Reports one leg to cfg.on_event, if set. */
static void engine_event(const engine_t *e, engine_event_kind_t kind, const char *tid,
                         const char *peer, transfer_state_t state, const char *reason) {
    CARBON_ASSERT(e != NULL && tid != NULL && peer != NULL);
    if (e->cfg.on_event == NULL) return;
    engine_event_t ev = {kind, tid, peer, state, reason != NULL ? reason : "", 0, 0};
    e->cfg.on_event(e->cfg.event_ctx, &ev);
}

/* The answers of a Decide that hold the other outcome than the decision
 * sent: 'M' (the peer recorded this decision as HEURISTIC_MIXED after an
 * operator's heuristic decision there) marks the leg HEURISTIC_MIXED here,
 * which ends its re-sends; any other conflict is counted and reported, and
 * re-sent by recovery. Uses ack->acked as room. */
static void engine_note_conflicts(engine_t *e, store_t *st, const char *peer,
                                  const char *const *tids, const char *decisions, size_t n,
                                  engine_ack_buf_t *ack) {
    CARBON_ASSERT(e != NULL && st != NULL && peer != NULL && ack != NULL && n <= ack->cap);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char a = ack->applied[i];
        int other = (a == TRANSFER_DECISION_COMMIT || a == TRANSFER_DECISION_ABORT) && a != decisions[i];
        if (a != TRANSFER_DECISION_MIXED && !other) continue;
        atomic_fetch_add(&e->decision_conflicts, 1);
        if (a == TRANSFER_DECISION_MIXED) ack->acked[k++] = tids[i];
        else
            engine_event(e, ENGINE_EVENT_DECISION_CONFLICT, tids[i], peer,
                         transfer_state_of_decision(decisions[i]), "");
    }
    char err[256];
    size_t marked = 0;
    if (k == 0 || heuristic_source_mixed(st, ack->acked, k, ledger_now_ms(), &marked, err,
                                         sizeof err) != LEDGER_OK)
        return;
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < n; j++)
            if (ack->acked[i] == tids[j])
                engine_event(e, ENGINE_EVENT_HEURISTIC_MIXED, tids[j], peer,
                             transfer_state_of_decision(decisions[j]), "HEURISTIC_MIXED");
}

/* Sends decisions for decided legs to peer and marks the acknowledged ones
 * (reported as ENGINE_EVENT_DECISION_RESENT when recovery sends them).
 * tids/decisions are parallel arrays of n, 1 <= n <= ack->cap; ack is the
 * caller's room for the answers. Returns 0 if the peer answered. */
static int engine_send_decisions(engine_t *e, store_t *st, const char *peer, uint64_t batch_seq,
                                 const char *const *tids, const char *decisions, size_t n,
                                 int recovery, engine_ack_buf_t *ack) {
    CARBON_ASSERT(e != NULL && st != NULL && peer != NULL && tids != NULL && decisions != NULL);
    CARBON_ASSERT(ack != NULL && n >= 1 && n <= ack->cap && n <= LEDGER_BATCH_LEGS_MAX);
    memset(ack->applied, 0, n);
    char err[256];
    int rc = e->transport.decide(e->transport.ctx, peer, batch_seq, tids, decisions, n,
                                 e->cfg.peer_timeout_ms, ack->applied, err, sizeof err);
    if (rc != 0) {
        atomic_fetch_add(&e->decide_failures, 1);
        return rc;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (ack->applied[i] == decisions[i]) ack->acked[k++] = tids[i];
    if (k > 0) ledger_source_ack(st, peer, ack->acked, k, ledger_now_ms(), err, sizeof err);
    engine_note_conflicts(e, st, peer, tids, decisions, n, ack);
    for (size_t i = 0; recovery && i < n; i++)
        if (ack->applied[i] == decisions[i])
            engine_event(e, ENGINE_EVENT_DECISION_RESENT, tids[i], peer,
                         transfer_state_of_decision(decisions[i]), "");
    return rc;
}

/* Fills the batch's legs and tids from its n items, numbers and records the
 * batch (batch_open) and returns its number: 0 when the store was
 * unreachable (the peer still votes, the legs settle, the batch is not
 * numbered). *min_expiry_ms gets the earliest expiry of the legs. */
static uint64_t engine_batch_open(engine_t *e, engine_peer_t *p, store_t *st, size_t n,
                                  uint64_t *min_expiry_ms) {
    engine_batch_t *b = p->batch;
    CARBON_ASSERT(e != NULL && st != NULL && min_expiry_ms != NULL);
    CARBON_ASSERT(n >= 1 && n <= b->cap);
    uint64_t min_expiry = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        b->legs[i] = &b->items[i]->leg;
        b->open_tids[i] = b->items[i]->leg.tid;
        if (b->items[i]->leg.expiry_ms < min_expiry) min_expiry = b->items[i]->leg.expiry_ms;
    }
    *min_expiry_ms = min_expiry;
    batch_totals_t totals;
    batch_totals_source(e->cfg.region, b->legs, n, &totals);
    uint64_t batch_seq = 0;
    char err[256];
    if (batch_open(st, p->region, &totals, b->open_tids, n, ledger_now_ms(), &batch_seq, err,
                   sizeof err) != LEDGER_OK)
        batch_seq = 0;
    return batch_seq;
}

/* Phase one: asks the peer for its votes on the batch's n legs (into
 * b->votes), retrying with backoff until it answers or the earliest leg
 * expires at min_expiry_ms. Returns 1 if the peer answered. */
static int engine_batch_prepare(engine_t *e, engine_peer_t *p, uint64_t batch_seq, size_t n,
                                uint64_t min_expiry_ms) {
    engine_batch_t *b = p->batch;
    CARBON_ASSERT(e != NULL && n >= 1 && n <= b->cap);
    uint64_t backoff_ms = ENGINE_BACKOFF_MS_INITIAL;
    char err[256] = "";
    for (;;) {
        uint64_t now = ledger_now_ms();
        if (now >= min_expiry_ms) return 0;
        int64_t timeout_ms = (int64_t)(min_expiry_ms - now);
        if (timeout_ms > (int64_t)e->cfg.peer_timeout_ms) timeout_ms = e->cfg.peer_timeout_ms;
        if (e->transport.prepare(e->transport.ctx, p->region, batch_seq, b->legs, n, timeout_ms,
                                 b->votes, err, sizeof err) == 0)
            return 1;
        atomic_fetch_add(&e->prepare_failures, 1);
        now = ledger_now_ms();
        if (now + backoff_ms >= min_expiry_ms) {
            if (now < min_expiry_ms) engine_sleep_ms(min_expiry_ms - now);
            return 0;
        }
        engine_sleep_ms(backoff_ms);
        CARBON_ASSERT(backoff_ms <= ENGINE_BACKOFF_MS_MAX);
        backoff_ms = backoff_ms * 2 > ENGINE_BACKOFF_MS_MAX ? ENGINE_BACKOFF_MS_MAX : backoff_ms * 2;
    }
}

/* The commit point: decides the batch's n legs from the votes (commit a yes
 * of a peer that answered, abort the rest; the legs from sent on were not
 * sent, being at or near their expiry, and abort EXPIRED) in one script,
 * retried up to ENGINE_STORE_RETRIES_MAX times. Returns the last ledger_rc_t; on
 * LEDGER_OK b->decisions hold what the store recorded. */
static int engine_batch_commit(engine_peer_t *p, store_t *st, size_t n, size_t sent, int answered) {
    engine_batch_t *b = p->batch;
    CARBON_ASSERT(st != NULL && n >= 1 && n <= b->cap && sent <= n);
    CARBON_ASSERT(answered == 0 || (answered == 1 && sent >= 1));
    for (size_t i = 0; i < n; i++) {
        ledger_source_decision_t *d = &b->decisions[i];
        d->tid = b->items[i]->leg.tid;
        if (i >= sent) { /* at or near its expiry before it could be sent */
            d->decision = TRANSFER_DECISION_ABORT;
            d->reason = REASON(EXPIRED);
            d->detail = "";
        } else if (answered && b->votes[i].yes) {
            d->decision = TRANSFER_DECISION_COMMIT;
            d->reason = "";
        } else {
            d->decision = TRANSFER_DECISION_ABORT;
            d->reason = answered ? b->votes[i].reason : REASON(PEER_UNAVAILABLE);
            d->detail = answered ? b->votes[i].detail : "";
        }
        d->only_if_expired = 0;
    }
    int rc = LEDGER_ESTORE;
    uint64_t backoff_ms = ENGINE_BACKOFF_MS_INITIAL;
    char err[256] = "";
    for (int attempt = 0; attempt < ENGINE_STORE_RETRIES_MAX; attempt++) {
        rc = ledger_source_decide(st, b->decisions, n, ledger_now_ms(), err, sizeof err);
        if (rc == LEDGER_OK) break;
        engine_sleep_ms(backoff_ms);
        backoff_ms *= 2;
    }
    return rc;
}

/* Reports a leg that source_decide left HELD for a record out of the
 * store's format (reason LEG_DAMAGED, detail what is wrong): nobody else
 * would, since it stays HELD and undecided until an operator repairs it. */
static void engine_note_damaged(const engine_t *e, const ledger_source_decision_t *d,
                                const char *peer) {
    CARBON_ASSERT(e != NULL && d != NULL && peer != NULL);
    if (d->state == TRANSFER_STATE_HELD && strcmp(d->final_reason, REASON(LEG_DAMAGED)) == 0)
        engine_event(e, ENGINE_EVENT_LEG_DAMAGED, d->tid, peer, d->state, d->final_detail);
}

/* Records a decided leg i of the batch (durable since decided_us) for the
 * Decide (b->decided_tids/verdicts at *decided), the counters, the latency
 * histogram and the event log. */
static void engine_batch_count_decided(engine_t *e, engine_peer_t *p, size_t i,
                                       uint64_t decided_us, size_t *decided) {
    engine_batch_t *b = p->batch;
    const ledger_source_decision_t *d = &b->decisions[i];
    CARBON_ASSERT(i < b->cap && *decided <= i);
    CARBON_ASSERT(transfer_state_decided(d->state));
    const ledger_leg_t *leg = &b->items[i]->leg;
    b->decided_tids[*decided] = leg->tid;
    b->verdicts[*decided] = transfer_decision_of(d->state);
    (*decided)++;
    atomic_fetch_add(d->state == TRANSFER_STATE_COMMITTED ? &e->committed : &e->aborted, 1);
    engine_event(e, ENGINE_EVENT_DECIDED, leg->tid, p->region, d->state, d->final_reason);
    uint64_t held_us = b->items[i]->held_us;
    engine_observe(e->latency_us_n, &e->latency_us_sum, engine_latency_bounds_us,
                   ENGINE_LATENCY_BUCKETS, decided_us > held_us ? decided_us - held_us : 0);
}

/* Gives every caller of the batch its leg as the commit point left it (rc:
 * what ledger_source_decide returned) and answers the leg's waiters.
 * Returns how many legs were decided (listed for the Decide). */
static size_t engine_batch_complete(engine_t *e, engine_peer_t *p, size_t n, int rc) {
    engine_batch_t *b = p->batch;
    CARBON_ASSERT(e != NULL && n >= 1 && n <= b->cap);
    size_t decided = 0;
    uint64_t decided_us = engine_mono_us(); /* the decisions are durable now */
    for (size_t i = 0; i < n; i++) {
        ledger_leg_t *leg = &b->items[i]->leg;
        const ledger_source_decision_t *d = &b->decisions[i];
        if (rc != LEDGER_OK) {
            leg->state = TRANSFER_STATE_NONE;
            snprintf(leg->reason, sizeof leg->reason, "%s", REASON(STORE_UNAVAILABLE));
        } else {
            leg->state = d->state;
            snprintf(leg->reason, sizeof leg->reason, "%s", d->final_reason);
            snprintf(leg->reason_detail, sizeof leg->reason_detail, "%s", d->final_detail);
            leg->decided_ms = d->decided_ms;
            if (transfer_state_decided(d->state))
                engine_batch_count_decided(e, p, i, decided_us, &decided);
            engine_note_damaged(e, d, p->region);
        }
        b->items[i]->done(b->items[i]->arg, leg);
        engine_notify(e, leg);
    }
    CARBON_ASSERT(decided <= n);
    if (decided > 0 && e->cfg.on_event != NULL) {
        size_t committed_n = 0;
        for (size_t j = 0; j < decided; j++) committed_n += b->verdicts[j] == TRANSFER_DECISION_COMMIT;
        engine_event_t ev = {ENGINE_EVENT_BATCH_DECIDED, "", p->region, TRANSFER_STATE_NONE, "",
                             committed_n, decided - committed_n};
        e->cfg.on_event(e->cfg.event_ctx, &ev);
    }
    return decided;
}

/* ---- third-region origins (DESIGN §6 provenance) ------------------------------ */

/* The origin of leg's serials when it is a third region, a participant beside
 * the destination: neither this region nor the destination. NULL when the
 * leg has none. (A leg's blocks have one origin: the wire refuses others.) */
static const char *engine_leg_origin(const engine_t *e, const ledger_leg_t *leg) {
    CARBON_ASSERT(e != NULL && leg != NULL && leg->blocks_n <= LEDGER_LEG_BLOCKS_MAX);
    for (size_t i = 0; i < leg->blocks_n; i++) {
        const char *o = leg->blocks[i].origin;
        if (strcmp(o, e->cfg.region) != 0 && strcmp(o, leg->peer) != 0) return o;
    }
    return NULL;
}

/* Phase one at a participant: sends the n legs to region (batch_seq 0 when
 * it is not their destination) until it answers or min_expiry_ms passes,
 * with backoff. Returns 1 if it answered (votes filled). */
static int engine_prepare_until(engine_t *e, const char *region, uint64_t batch_seq,
                                const ledger_leg_t *const *legs, size_t n,
                                uint64_t min_expiry_ms, engine_vote_t *votes) {
    CARBON_ASSERT(e != NULL && region != NULL && legs != NULL && votes != NULL);
    CARBON_ASSERT(n >= 1 && n <= LEDGER_BATCH_LEGS_MAX);
    uint64_t backoff_ms = ENGINE_BACKOFF_MS_INITIAL;
    char err[256] = "";
    for (;;) {
        uint64_t now = ledger_now_ms();
        if (now >= min_expiry_ms) return 0;
        int64_t timeout_ms = (int64_t)(min_expiry_ms - now);
        if (timeout_ms > (int64_t)e->cfg.peer_timeout_ms) timeout_ms = e->cfg.peer_timeout_ms;
        if (e->transport.prepare(e->transport.ctx, region, batch_seq, legs, n, timeout_ms, votes,
                                 err, sizeof err) == 0)
            return 1;
        atomic_fetch_add(&e->prepare_failures, 1);
        now = ledger_now_ms();
        if (now + backoff_ms >= min_expiry_ms) return 0;
        engine_sleep_ms(backoff_ms);
        backoff_ms = backoff_ms * 2 > ENGINE_BACKOFF_MS_MAX ? ENGINE_BACKOFF_MS_MAX : backoff_ms * 2;
    }
}

/* Room for one origin's legs of a batch, n entries each. */
typedef struct {
    const ledger_leg_t **legs;
    engine_vote_t *votes;
    size_t *index;  /* the leg's place in the batch */
    const char **tids;
    char *verdicts;
} engine_origin_buf_t;

static void engine_origin_buf_alloc(engine_origin_buf_t *o, size_t n) {
    CARBON_ASSERT(o != NULL && n >= 1 && n <= LEDGER_BATCH_LEGS_MAX);
    o->legs = calloc(n, sizeof *o->legs);
    o->votes = calloc(n, sizeof *o->votes);
    o->index = calloc(n, sizeof *o->index);
    o->tids = calloc(n, sizeof *o->tids);
    o->verdicts = calloc(n, 1);
    if (!o->legs || !o->votes || !o->index || !o->tids || !o->verdicts) abort();
}

static void engine_origin_buf_free(engine_origin_buf_t *o) {
    CARBON_ASSERT(o != NULL);
    free(o->legs);
    free(o->votes);
    free(o->index);
    free(o->tids);
    free(o->verdicts);
}

/* Asks origin x (its peer xp; NULL: not a peer) for its votes on k legs of
 * the batch (o->legs, o->index), in messages within its limits; a leg it
 * votes no on, or that it does not answer for before the leg's expiry,
 * becomes a no in the batch's votes (the leg aborts with that reason). */
static void engine_origin_votes(engine_t *e, engine_peer_t *p, const char *x, engine_peer_t *xp,
                                engine_origin_buf_t *o, size_t k) {
    engine_batch_t *b = p->batch;
    CARBON_ASSERT(e != NULL && x != NULL && o != NULL && k >= 1 && k <= b->cap);
    size_t chunk = xp != NULL ? engine_legs_max(e, xp) : k;
    uint64_t budget = xp != NULL ? engine_bytes_budget(e, xp) : 0;
    for (size_t off = 0; off < k;) {
        size_t m = 0;
        uint64_t bytes = 0, min_expiry = UINT64_MAX;
        while (off + m < k && m < chunk) {
            bytes += engine_leg_bytes(o->legs[off + m]);
            if (m > 0 && budget > 0 && bytes > budget) break;
            if (o->legs[off + m]->expiry_ms < min_expiry) min_expiry = o->legs[off + m]->expiry_ms;
            m++;
        }
        CARBON_ASSERT(m >= 1 && off + m <= k);
        int answered = xp != NULL && engine_prepare_until(e, x, 0, o->legs + off, m, min_expiry,
                                                          o->votes + off);
        for (size_t j = off; j < off + m; j++) {
            engine_vote_t *v = &b->votes[o->index[j]];
            if (answered && o->votes[j].yes) continue;
            v->yes = 0;
            snprintf(v->reason, sizeof v->reason, "%s",
                     answered ? o->votes[j].reason : REASON(PEER_UNAVAILABLE));
            snprintf(v->detail, sizeof v->detail, "%s", answered ? o->votes[j].detail : "");
        }
        off += m;
    }
}

/* Phase one at the origins: the legs of the batch the destination voted
 * yes on whose serials come from a third region X are prepared at X too
 * (origin_only, one message per X within its limits). The leg commits only
 * if the destination and its origin vote yes. Runs after the destination's
 * vote, so an origin locks nothing for a leg the destination refused. */
static void engine_batch_prepare_origins(engine_t *e, engine_peer_t *p, size_t n) {
    engine_batch_t *b = p->batch;
    CARBON_ASSERT(e != NULL && n >= 1 && n <= b->cap);
    char *done = calloc(n, 1);
    if (done == NULL) abort();
    engine_origin_buf_t o = {0};
    for (size_t i = 0; i < n; i++) {
        const char *x = engine_leg_origin(e, &b->items[i]->leg);
        if (done[i] || x == NULL || !b->votes[i].yes) continue;
        if (o.legs == NULL) engine_origin_buf_alloc(&o, n);
        size_t k = 0;
        for (size_t j = i; j < n; j++) {
            const char *xj = engine_leg_origin(e, &b->items[j]->leg);
            if (done[j] || xj == NULL || strcmp(xj, x) != 0 || !b->votes[j].yes) continue;
            done[j] = 1;
            o.legs[k] = &b->items[j]->leg;
            o.index[k++] = j;
        }
        engine_origin_votes(e, p, x, engine_peer(e, x), &o, k);
    }
    engine_origin_buf_free(&o);
    free(done);
}

/* Phase two at the origins: each origin X of batch b's decided legs gets
 * their decisions (as the destination did), within its limits; what it does
 * not acknowledge, recovery re-sends (legs:unacked:X). Nothing when the
 * commit point failed. */
static void engine_batch_decide_origins(engine_t *e, engine_batch_t *b, store_t *st) {
    CARBON_ASSERT(e != NULL && b != NULL && st != NULL);
    size_t n = b->n;
    CARBON_ASSERT(n >= 1 && n <= b->cap);
    if (b->commit_rc != LEDGER_OK) return;
    char *done = calloc(n, 1);
    if (done == NULL) abort();
    engine_origin_buf_t o = {0};
    for (size_t i = 0; i < n; i++) {
        const char *x = engine_leg_origin(e, &b->items[i]->leg);
        if (done[i] || x == NULL || !transfer_state_decided(b->decisions[i].state)) continue;
        if (o.legs == NULL) engine_origin_buf_alloc(&o, n);
        size_t k = 0;
        for (size_t j = i; j < n; j++) {
            const char *xj = engine_leg_origin(e, &b->items[j]->leg);
            if (done[j] || xj == NULL || strcmp(xj, x) != 0 ||
                !transfer_state_decided(b->decisions[j].state))
                continue;
            done[j] = 1;
            o.tids[k] = b->items[j]->leg.tid;
            o.verdicts[k++] = transfer_decision_of(b->decisions[j].state);
        }
        engine_peer_t *xp = engine_peer(e, x);
        size_t chunk = xp != NULL ? engine_legs_max(e, xp) : 0;
        for (size_t off = 0; xp != NULL && off < k; off += chunk) {
            size_t m = k - off < chunk ? k - off : chunk;
            if (engine_send_decisions(e, st, x, 0, o.tids + off, o.verdicts + off, m, 0, &b->ack) != 0)
                break; /* unreachable: recovery re-sends */
        }
    }
    engine_origin_buf_free(&o);
    free(done);
}

/* ---- the destination's check with a third origin (DESIGN §6 provenance) -------- */

void engine_set_origin_ask_gate(engine_t *e, int (*ok)(void *arg, const char *source), void *arg) {
    CARBON_ASSERT(e != NULL);
    e->origin_ask_ok = ok;
    e->origin_ask_arg = arg;
}

/* Whether a round of calls to a serials' origin may be made on source's
 * behalf now (the gate of engine_set_origin_ask_gate). */
static int engine_origin_ask_allowed(engine_t *e, const char *source) {
    CARBON_ASSERT(e != NULL && source != NULL);
    return e->origin_ask_ok == NULL || e->origin_ask_ok(e->origin_ask_arg, source);
}

/* The reason to vote no to a leg its origin could not vote yes to, from
 * the origin's own (a peer's text: only one of these is taken as it is). */
static const char *engine_origin_no(const char *origin_reason) {
    static const reason_t known[] = {REASON_SERIALS_NOT_AT_SOURCE, REASON_SERIALS_LOCKED,
                                     REASON_SERIALS_MISLABELLED};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(origin_reason, reason_name(known[i])) == 0) return reason_name(known[i]);
    return REASON(SERIALS_NOT_AT_SOURCE);
}

/* The legs from i on (of n) whose origin[] is origin[i] (not NULL): their
 * indexes into index[], in order. Returns how many (at least 1). */
static size_t engine_same_origin(const char *const *origin, size_t i, size_t n, size_t *index) {
    CARBON_ASSERT(origin != NULL && index != NULL && i < n && origin[i] != NULL);
    size_t k = 0;
    for (size_t j = i; j < n; j++)
        if (origin[j] != NULL && strcmp(origin[j], origin[i]) == 0) index[k++] = j;
    CARBON_ASSERT(k >= 1 && k <= n);
    return k;
}

/* Asks origin x (a peer) about the k legs ask[] (at_prepare: before this
 * region votes on them) in messages within x's limits, all of them within
 * timeout_ms; answers[j] gets 'C', 'A' or 'U' from a message x answers, 0
 * from one it does not; why[j] (why may be NULL) x's reason for an 'A' at
 * prepare. */
static void engine_origin_ask(engine_t *e, const char *x, const ledger_leg_t *const *ask, size_t k,
                              int at_prepare, int64_t timeout_ms, char *answers,
                              char (*why)[LEDGER_REASON_MAX + 1]) {
    CARBON_ASSERT(e != NULL && x != NULL && ask != NULL && answers != NULL && e->transport.confirm != NULL);
    CARBON_ASSERT(k >= 1 && k <= LEDGER_BATCH_LEGS_MAX);
    memset(answers, 0, k);
    engine_peer_t *xp = engine_peer(e, x);
    if (xp == NULL) return; /* not a peer: nobody answers */
    size_t chunk = engine_legs_max(e, xp);
    uint64_t budget = engine_bytes_budget(e, xp), end_ms = ledger_now_ms() + (uint64_t)timeout_ms;
    char err[256];
    for (size_t off = 0; off < k;) {
        size_t m = 0;
        uint64_t bytes = 0, now_ms = ledger_now_ms();
        while (off + m < k && m < chunk) {
            bytes += engine_leg_bytes(ask[off + m]);
            if (m > 0 && budget > 0 && bytes > budget) break;
            m++;
        }
        CARBON_ASSERT(m >= 1 && off + m <= k);
        if (now_ms >= end_ms) break; /* the rest unanswered: timeout_ms is for every message */
        int rc = e->transport.confirm(e->transport.ctx, x, ask + off, m, at_prepare, (int64_t)(end_ms - now_ms),
                                      answers + off, why != NULL ? why + off : NULL, err, sizeof err);
        if (rc == 1) /* an origin older than at_prepare: the legs are voted on the source's word, as before it */
            memset(answers + off, TRANSFER_DECISION_UNKNOWN, m);
        else if (rc != 0)
            memset(answers + off, 0, m);
        off += m;
    }
}

/* Asks origin x (a peer) about the k legs ask[] (their decisions d[index[j]]);
 * an answer C or A sets origin_confirm of its leg, none leaves it 'U'. */
static void engine_confirm_ask(engine_t *e, const char *x, const ledger_leg_t **ask,
                               const size_t *index, size_t k, ledger_dest_decision_t *d,
                               int64_t timeout_ms) {
    CARBON_ASSERT(e != NULL && x != NULL && ask != NULL && index != NULL && d != NULL);
    char answers[LEDGER_BATCH_LEGS_MAX];
    engine_origin_ask(e, x, ask, k, 0, timeout_ms, answers, NULL);
    for (size_t j = 0; j < k; j++)
        if (answers[j] == TRANSFER_DECISION_COMMIT || answers[j] == TRANSFER_DECISION_ABORT)
            d[index[j]].origin_confirm = answers[j];
}

void engine_vouch_origins(engine_t *e, const char *source, ledger_prepare_t *p, size_t n, int64_t timeout_ms) {
    CARBON_ASSERT(e != NULL && source != NULL && p != NULL);
    CARBON_ASSERT(n >= 1 && n <= LEDGER_BATCH_LEGS_MAX && timeout_ms >= 0);
    const char *origin[LEDGER_BATCH_LEGS_MAX];
    const ledger_leg_t *ask[LEDGER_BATCH_LEGS_MAX];
    size_t index[LEDGER_BATCH_LEGS_MAX];
    char answers[LEDGER_BATCH_LEGS_MAX], why[LEDGER_BATCH_LEGS_MAX][LEDGER_REASON_MAX + 1];
    size_t asking = 0;
    for (size_t i = 0; i < n; i++) {
        CARBON_ASSERT(p[i].leg != NULL && p[i].precheck != NULL);
        CARBON_ASSERT(strcmp(p[i].leg->peer, source) == 0);
        origin[i] = p[i].precheck[0] == '\0' ? engine_leg_origin(e, p[i].leg) : NULL;
        asking += origin[i] != NULL;
    }
    int allowed = asking > 0 && e->transport.confirm != NULL && engine_origin_ask_allowed(e, source);
    uint64_t end_ms = ledger_now_ms() + (uint64_t)timeout_ms;
    for (size_t i = 0; i < n; i++) {
        if (origin[i] == NULL) continue;
        const char *x = origin[i];
        size_t k = engine_same_origin(origin, i, n, index);
        for (size_t j = 0; j < k; j++) ask[j] = p[index[j]].leg;
        memset(why, 0, k * sizeof why[0]);
        uint64_t now_ms = ledger_now_ms();
        if (allowed && now_ms < end_ms) engine_origin_ask(e, x, ask, k, 1, (int64_t)(end_ms - now_ms), answers, why);
        else memset(answers, 0, k);
        for (size_t j = 0; j < k; j++) {
            origin[index[j]] = NULL;
            if (answers[j] == TRANSFER_DECISION_ABORT) p[index[j]].precheck = engine_origin_no(why[j]);
            else if (answers[j] == 0) p[index[j]].precheck = REASON(PEER_UNAVAILABLE);
        }
    }
}

/* Whether leg (read here for a COMMIT from source) is one whose COMMIT
 * waits for its serials' origin: a prepared destination leg of source, or
 * one an operator aborted that the coordinator's COMMIT would re-apply.
 * Returns that origin (a third region), or NULL. */
static const char *engine_confirm_needed(const engine_t *e, const char *source,
                                         const ledger_leg_t *leg) {
    CARBON_ASSERT(e != NULL && source != NULL && leg != NULL);
    if (strcmp(leg->role, "destination") != 0 || strcmp(leg->peer, source) != 0) return NULL;
    int waiting = leg->state == TRANSFER_STATE_PREPARED ||
                  (leg->heuristic == TRANSFER_DECISION_ABORT && leg->heuristic_outcome[0] == '\0');
    return waiting ? engine_leg_origin(e, leg) : NULL;
}

void engine_confirm_origins(engine_t *e, store_t *st, const char *source, ledger_dest_decision_t *d,
                            size_t n, int64_t timeout_ms) {
    CARBON_ASSERT(e != NULL && st != NULL && source != NULL && d != NULL);
    CARBON_ASSERT(n >= 1 && n <= LEDGER_BATCH_LEGS_MAX && timeout_ms >= 0);
    if (e->transport.confirm == NULL) return;
    ledger_leg_t *legs = calloc(n, sizeof *legs);
    const char **origin = calloc(n, sizeof *origin); /* into legs[i]'s blocks */
    const ledger_leg_t **ask = calloc(n, sizeof *ask);
    size_t *index = calloc(n, sizeof *index);
    if (legs == NULL || origin == NULL || ask == NULL || index == NULL) abort();
    char err[256];
    for (size_t i = 0; i < n; i++) {
        d[i].origin_confirm = 0;
        if (d[i].decision != TRANSFER_DECISION_COMMIT ||
            ledger_leg_get(st, d[i].tid, &legs[i], err, sizeof err) != LEDGER_OK)
            continue;
        origin[i] = engine_confirm_needed(e, source, &legs[i]);
        if (origin[i] != NULL) d[i].origin_confirm = 'U';
    }
    for (size_t i = 0; i < n; i++) {
        if (origin[i] == NULL) continue;
        const char *x = origin[i];
        size_t k = engine_same_origin(origin, i, n, index);
        for (size_t j = 0; j < k; j++) ask[j] = &legs[index[j]];
        engine_confirm_ask(e, x, ask, index, k, d, timeout_ms);
        for (size_t j = 0; j < k; j++) origin[index[j]] = NULL;
    }
    for (size_t i = 0; i < n; i++) ledger_leg_free(&legs[i]);
    free(legs);
    free(origin);
    free(ask);
    free(index);
}

/* Whether the store held d back for want of its origin's word
 * (dest_decide.lua origin_gate), its origin not asked yet. */
static int engine_may_wait_for_origin(const ledger_dest_decision_t *d) {
    return d->decision == TRANSFER_DECISION_COMMIT && d->origin_confirm == 0 && d->origin_wait;
}

/* Reports each of the n legs the store left PREPARED because it could not
 * decide them (dest_decide.lua: d->damaged says why) as leg_damaged. */
static void engine_report_damaged(engine_t *e, const char *source, const ledger_dest_decision_t *d, size_t n) {
    CARBON_ASSERT(e != NULL && source != NULL && d != NULL);
    for (size_t i = 0; i < n; i++)
        if (d[i].damaged[0] != '\0')
            engine_event(e, ENGINE_EVENT_LEG_DAMAGED, d[i].tid, source, d[i].damaged_state, d[i].damaged);
}

int engine_dest_decide(engine_t *e, store_t *st, const char *source, ledger_dest_decision_t *d,
                       size_t n, int64_t timeout_ms, char *err, size_t errlen) {
    CARBON_ASSERT(e != NULL && st != NULL && source != NULL && d != NULL && err != NULL);
    CARBON_ASSERT(n >= 1 && n <= LEDGER_BATCH_LEGS_MAX && timeout_ms >= 0);
    for (size_t i = 0; i < n; i++) d[i].origin_confirm = 0; /* not asked: the gate holds */
    int rc = ledger_dest_decide(st, source, d, n, ledger_now_ms(), err, errlen);
    if (rc != LEDGER_OK) return rc;
    if (e->transport.confirm == NULL) {
        engine_report_damaged(e, source, d, n);
        return LEDGER_OK;
    }
    ledger_dest_decision_t *again = calloc(n, sizeof *again);
    size_t *index = calloc(n, sizeof *index);
    if (again == NULL || index == NULL) abort();
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (engine_may_wait_for_origin(&d[i])) {
            again[k] = d[i];
            index[k++] = i;
        }
    if (k > 0 && engine_origin_ask_allowed(e, source)) engine_confirm_origins(e, st, source, again, k, timeout_ms);
    size_t m = 0; /* those whose origin answered: decided again with its word */
    for (size_t j = 0; j < k; j++) {
        if (again[j].origin_confirm != TRANSFER_DECISION_COMMIT &&
            again[j].origin_confirm != TRANSFER_DECISION_ABORT) {
            d[index[j]].origin_confirm = again[j].origin_confirm; /* asked, no word: held back */
            continue;
        }
        again[m] = again[j];
        index[m++] = index[j];
    }
    err[0] = '\0';
    int failed = m > 0 && ledger_dest_decide(st, source, again, m, ledger_now_ms(), err, errlen) != LEDGER_OK;
    if (!failed) {
        for (size_t j = 0; j < m; j++) {
            ledger_dest_decision_t *o = &d[index[j]];
            o->origin_confirm = again[j].origin_confirm;
            o->applied = again[j].applied;
            o->origin_wait = again[j].origin_wait;
            memcpy(o->heuristic_outcome, again[j].heuristic_outcome, sizeof o->heuristic_outcome);
            memcpy(o->damaged, again[j].damaged, sizeof o->damaged);
            o->damaged_state = again[j].damaged_state;
        }
    } else {
        /* the second script failed (err says why): those legs are answered
         * UNKNOWN, also one the first answered 'M', so that the source sends
         * their decisions again rather than taking them for mixed */
        for (size_t j = 0; j < m; j++) d[index[j]].applied = TRANSFER_DECISION_UNKNOWN;
    }
    free(again);
    free(index);
    engine_report_damaged(e, source, d, n);
    return LEDGER_OK;
}

/* Moves the batch's legs past their expiry at now_ms, or within
 * ENGINE_SEND_LEFT_MIN_MS of it, behind the others, each group in its
 * order, and returns how many are left in front. Only those are numbered
 * and sent: a Prepare's deadline is the earliest expiry of its legs, so one
 * stale leg among them (one that waited in the queue behind a slow batch)
 * would abort them all, unasked or after a Prepare cut short. */
static size_t engine_batch_live_first(engine_batch_t *b, size_t n, uint64_t now_ms) {
    CARBON_ASSERT(b != NULL && n >= 1 && n <= b->cap);
    uint64_t live_after_ms = now_ms + ENGINE_SEND_LEFT_MIN_MS;
    size_t live = 0;
    for (size_t i = 0; i < n; i++) live += b->items[i]->leg.expiry_ms > live_after_ms;
    if (live == n) return n;
    engine_item_t **stale = calloc(n - live, sizeof *stale);
    if (stale == NULL) abort();
    size_t front = 0, back = 0;
    for (size_t i = 0; i < n; i++) {
        engine_item_t *it = b->items[i];
        if (it->leg.expiry_ms > live_after_ms) b->items[front++] = it;
        else stale[back++] = it;
    }
    CARBON_ASSERT(front == live && back == n - live);
    memcpy(b->items + live, stale, back * sizeof *stale);
    free(stale);
    for (size_t i = live; i < n; i++) b->votes[i].yes = 0; /* not asked */
    return live;
}

/* Phase one of a batch of the n legs in p->batch->items (taken from the
 * queue): numbers it, asks the peer (and the origins of third-region
 * serials) for votes, runs the commit point and answers the callers. Leaves
 * in the batch what phase two needs (engine_batch_phase_two). */
static void engine_batch_phase_one(engine_t *e, engine_peer_t *p, store_t *st, size_t n) {
    CARBON_ASSERT(e != NULL && p != NULL && st != NULL);
    CARBON_ASSERT(n >= 1 && n <= p->batch->cap && n <= LEDGER_BATCH_LEGS_MAX);
    engine_batch_t *b = p->batch;
    atomic_fetch_add(&e->batches, 1);
    engine_observe(e->batch_legs_n, &e->batch_legs_sum, engine_batch_bounds_legs,
                   ENGINE_BATCH_BUCKETS, n);
    failpoint_hit("source.before_prepare");
    uint64_t min_expiry_ms = 0, since_us = engine_mono_us();
    size_t sent = engine_batch_live_first(b, n, ledger_now_ms());
    uint64_t batch_seq = sent > 0 ? engine_batch_open(e, p, st, sent, &min_expiry_ms) : 0;
    engine_phase_end(e, ENGINE_PHASE_OPEN, &since_us);

    /* Phase one: ask the peer, until it answers or the earliest leg expires. */
    int answered = sent > 0 && engine_batch_prepare(e, p, batch_seq, sent, min_expiry_ms);
    if (answered) engine_batch_prepare_origins(e, p, n); /* third-region serials */
    if (answered) failpoint_hit("source.after_prepare");
    engine_phase_end(e, ENGINE_PHASE_PREPARE, &since_us);

    /* The commit point: one script for the whole batch. */
    failpoint_pause("source.before_commit"); /* tests: a commit point late, its legs expired */
    int rc = engine_batch_commit(p, st, n, sent, answered);
    engine_phase_end(e, ENGINE_PHASE_COMMIT, &since_us);
    b->decided = engine_batch_complete(e, p, n, rc);
    engine_phase_end(e, ENGINE_PHASE_ANSWER, &since_us);
    b->n = n;
    b->commit_rc = rc;
    b->seq = batch_seq;
    /* An aborted leg may be prepared at the peer or locked at an origin until
     * its Decide arrives; a client's retry of it in the next batch must not
     * reach them first (it would be refused SERIALS_OVERLAP or
     * SERIALS_LOCKED), so the next batch waits for this phase two. */
    b->ordered = rc != LEDGER_OK;
    for (size_t i = 0; i < sent && !b->ordered; i++) /* the rest reached neither */
        b->ordered = b->decisions[i].state != TRANSFER_STATE_COMMITTED;
    if (rc == LEDGER_OK) failpoint_hit("source.after_decide");
}

/* Phase two of batch b, on the peer's decider thread (st: its store
 * connection, NULL if unreachable): tells the origins of third-region
 * serials first (the destination applies a COMMIT of their serials only
 * once their origin confirms it), then the peer; what they do not
 * acknowledge, recovery re-sends (the legs wait in legs:unacked). Then
 * frees the batch's items. */
static void engine_batch_phase_two(engine_t *e, engine_peer_t *p, engine_batch_t *b, store_t *st) {
    CARBON_ASSERT(e != NULL && p != NULL && b != NULL);
    CARBON_ASSERT(b->n >= 1 && b->n <= b->cap && b->decided <= b->n);
    failpoint_pause("source.before_decide"); /* tests: a Decide slow to leave */
    if (st != NULL) {
        uint64_t since_us = engine_mono_us();
        engine_batch_decide_origins(e, b, st);
        if (b->decided > 0)
            engine_send_decisions(e, st, p->region, b->seq, b->decided_tids, b->verdicts,
                                  b->decided, 0, &b->ack);
        engine_phase_end(e, ENGINE_PHASE_DECIDE, &since_us);
    }
    for (size_t i = 0; i < b->n; i++) {
        ledger_leg_free(&b->items[i]->leg);
        free(b->items[i]);
        b->items[i] = NULL;
    }
    b->n = b->decided = 0;
}

/* Hands the batch whose phase one just ended to the decider (e->lock held),
 * first waiting until the decider has finished the one before, and points
 * the batcher at the other slot, which that makes free. So a batch's
 * Prepare and commit point run while the previous batch's Decide is in
 * flight, and at most one batch waits for phase two. */
static void engine_phase_two_hand(engine_t *e, engine_peer_t *p) {
    CARBON_ASSERT(engine_locked(e));
    CARBON_ASSERT(p->batch >= p->slots && p->batch < p->slots + ENGINE_PIPELINE_DEPTH);
    while (p->phase_two != NULL) engine_cond_wait(e, &p->phase_two_wake, NULL);
    p->phase_two = p->batch;
    size_t next = ((size_t)(p->batch - p->slots) + 1) % ENGINE_PIPELINE_DEPTH;
    p->batch = &p->slots[next];
    CARBON_ASSERT(p->batch->n == 0);
    pthread_cond_broadcast(&p->phase_two_wake);
}

/* The batcher has exited (e->lock not held): the decider ends once it has
 * finished what it holds. */
static void engine_phase_one_end(engine_t *e, engine_peer_t *p) {
    engine_lock(e);
    p->phase_one_done = 1;
    pthread_cond_broadcast(&p->phase_two_wake);
    engine_unlock(e);
}

/* A peer's decider thread: runs phase two of each batch the batcher hands
 * over (engine_phase_two_hand), until the batcher has exited and nothing
 * is left. Opens its store connection when it first needs it (up to
 * ENGINE_STORE_RETRIES_MAX tries, with backoff, per batch; a batch that gets
 * none sends no Decide: recovery sends it, the legs waiting in
 * legs:unacked). */
static void *engine_decider_main(void *arg) {
    engine_peer_t *p = arg;
    CARBON_ASSERT(p != NULL && p->engine != NULL);
    engine_t *e = p->engine;
    store_t *st = NULL;
    char err[256];
    for (;;) {
        engine_lock(e);
        while (p->phase_two == NULL && !p->phase_one_done)
            engine_cond_wait(e, &p->phase_two_wake, NULL);
        engine_batch_t *b = p->phase_two;
        engine_unlock(e);
        if (b == NULL) break;
        for (int attempt = 0; st == NULL && attempt < ENGINE_STORE_RETRIES_MAX; attempt++) {
            st = store_open(&e->cfg.store, err, sizeof err);
            if (st == NULL) engine_sleep_ms(ENGINE_BACKOFF_MS_INITIAL << attempt);
        }
        engine_batch_phase_two(e, p, b, st);
        engine_lock(e);
        p->phase_two = NULL;
        pthread_cond_broadcast(&p->phase_two_wake);
        pthread_cond_signal(&p->wake); /* a batcher waiting for this (engine_batch_gather) */
        engine_unlock(e);
    }
    if (st != NULL) store_close(st);
    return NULL;
}

/* Waits (e->lock held) for a batch to gather: at least one leg queued (and,
 * while the previous batch is in phase two, as many as the last batch or
 * that phase's end; its end if it did not commit a leg it sent: ordered),
 * then up to the batch's room or batch_window_ms after the first. Returns
 * the number of legs it moved from the queue into p->batch->items, 0 when the
 * engine stops with an empty queue (the batcher then exits). */
static size_t engine_batch_gather(engine_t *e, engine_peer_t *p) {
    CARBON_ASSERT(engine_locked(e));
    CARBON_ASSERT(p->batch->cap == e->cfg.batch_legs_max && p->batch->n == 0);
    size_t max = engine_legs_max(e, p);
    CARBON_ASSERT(max <= p->batch->cap);
    while (p->queued == 0 && !e->stopping) engine_cond_wait(e, &p->wake, NULL);
    p->gather_from_us = engine_mono_us(); /* ENGINE_PHASE_WAIT counts from here: not idle time */
    /* While the previous batch is in phase two, wait for it to end or for
     * as many legs as the last batch had: under load the batches keep their
     * size (each batch's fixed cost, its scripts and fsyncs, spread over as
     * many legs as before), while a light load goes at once. */
    size_t want = p->last_batch_n < max ? p->last_batch_n : max;
    while (p->phase_two != NULL && (p->queued < want || p->phase_two->ordered) && !e->stopping)
        engine_cond_wait(e, &p->wake, NULL);
    if (p->queued == 0 && e->stopping) {
        p->exited = 1; /* later submissions are answered by engine_submit itself */
        return 0;
    }
    /* Group commit: wait for more legs, at most batch_window_ms after the first. */
    while (p->queued < max && !e->stopping) {
        uint64_t now = engine_mono_ms();
        uint64_t until = p->first_enqueued_ms + e->cfg.batch_window_ms;
        if (now >= until) break;
        struct timespec ts = engine_abstime(until - now);
        engine_cond_wait(e, &p->wake, &ts);
    }
    /* At most max legs and (after the first) the peer's bytes: a batch of
     * fragmented legs is split rather than refused whole. */
    size_t n = 0;
    uint64_t budget = engine_bytes_budget(e, p), bytes = 0;
    while (n < max && p->head != NULL) {
        engine_item_t *it = p->head;
        bytes += engine_leg_bytes(&it->leg);
        if (n > 0 && budget > 0 && bytes > budget) break;
        p->head = it->next;
        if (p->head == NULL) p->tail = NULL;
        p->batch->items[n++] = it;
    }
    CARBON_ASSERT(n >= 1 && n <= p->queued && n <= p->reserved);
    p->queued -= n;
    p->reserved -= n;
    p->first_enqueued_ms = engine_mono_ms();
    p->last_batch_n = n;
    return n;
}

/* A peer's batcher thread: opens its store connection (retrying until the
 * engine stops with nothing queued), then gathers and runs batches until
 * the engine stops and the queue is empty. */
static void *engine_batcher_main(void *arg) {
    engine_peer_t *p = arg;
    CARBON_ASSERT(p != NULL && p->engine != NULL);
    CARBON_ASSERT(p->batch != NULL && p->batch->cap == p->engine->cfg.batch_legs_max);
    engine_t *e = p->engine;
    char err[256];
    store_t *st = NULL;
    while (st == NULL) {
        st = store_open(&e->cfg.store, err, sizeof err);
        if (st != NULL) break;
        engine_lock(e);
        int stop = e->stopping && p->queued == 0;
        engine_unlock(e);
        if (stop) {
            engine_phase_one_end(e, p);
            return NULL;
        }
        engine_sleep_ms(ENGINE_BACKOFF_MS_MAX / 4);
    }
    for (;;) {
        engine_lock(e);
        size_t n = engine_batch_gather(e, p);
        engine_unlock(e);
        if (n == 0) break;
        uint64_t since_us = p->gather_from_us;
        engine_phase_end(e, ENGINE_PHASE_WAIT, &since_us);
        engine_batch_phase_one(e, p, st, n);
        since_us = engine_mono_us();
        engine_lock(e);
        engine_phase_two_hand(e, p);
        engine_unlock(e);
        engine_phase_end(e, ENGINE_PHASE_HAND, &since_us);
    }
    store_close(st);
    engine_phase_one_end(e, p);
    return NULL;
}

int engine_reserve(engine_t *e, const char *peer) {
    CARBON_ASSERT(e != NULL && peer != NULL);
    engine_peer_t *p = engine_peer(e, peer);
    if (p == NULL) return -1;
    engine_lock(e);
    int rc = 0;
    if (e->stopping || p->reserved >= e->cfg.queue_legs_max)
        rc = -2;
    else
        p->reserved++;
    CARBON_ASSERT(p->reserved <= e->cfg.queue_legs_max);
    engine_unlock(e);
    return rc;
}

void engine_unreserve(engine_t *e, const char *peer) {
    CARBON_ASSERT(e != NULL && peer != NULL);
    engine_peer_t *p = engine_peer(e, peer);
    CARBON_ASSERT(p != NULL);
    engine_lock(e);
    CARBON_ASSERT(p->reserved > p->queued);
    p->reserved--;
    engine_unlock(e);
}

void engine_submit(engine_t *e, ledger_leg_t *leg, engine_done_fn done, void *arg) {
    CARBON_ASSERT(e != NULL && leg != NULL && done != NULL);
    engine_peer_t *p = engine_peer(e, leg->peer);
    CARBON_ASSERT(p != NULL);
    engine_item_t *it = calloc(1, sizeof *it);
    if (it == NULL) abort();
    it->leg = *leg;
    memset(leg, 0, sizeof *leg); /* blocks moved */
    it->done = done;
    it->arg = arg;
    it->held_us = engine_mono_us();
    engine_lock(e);
    CARBON_ASSERT(p->reserved > p->queued);
    if (p->exited) {
        /* Stopping: the leg stays HELD; recovery settles it after restart. */
        p->reserved--;
        engine_unlock(e);
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
    if (p->queued == 1 || p->queued == p->last_batch_n || p->queued >= engine_legs_max(e, p))
        pthread_cond_signal(&p->wake);
    engine_unlock(e);
}

/* ---- recovery ---------------------------------------------------------------- */

/* Takes or renews the recovery lease; 1 if this engine holds it. */
static int engine_lease(engine_t *e, store_t *st) {
    CARBON_ASSERT(e != NULL && st != NULL);
    CARBON_ASSERT(e->lease_owner[0] != '\0');
    char err[128];
    int held = 0;
    if (store_lease_take(st, STORE_KEY_LEASE_RECOVERY, e->lease_owner,
                         (uint64_t)e->cfg.recovery_interval_ms * 3, &held, err, sizeof err) != STORE_OK)
        return 0;
    return held;
}

/* Publishes for metrics what the scan found unresolved past the legs'
 * expiry (a source leg decided a moment ago is normally being acknowledged
 * right now): every expired prepared destination leg, and the decided
 * source legs past their expiry. */
static void engine_recovery_count_in_doubt(engine_t *e, size_t src_n, size_t dst_n,
                                           uint64_t now_ms) {
    const engine_recovery_t *r = &e->recovery;
    CARBON_ASSERT(src_n <= ENGINE_RECOVERY_SCAN_MAX && dst_n <= ENGINE_RECOVERY_SCAN_MAX);
    size_t in_doubt = dst_n;
    for (size_t i = 0; i < src_n; i++)
        if (transfer_state_decided(r->src[i].state) &&
            r->src[i].expiry_ms <= now_ms)
            in_doubt++;
    CARBON_ASSERT(in_doubt <= 2 * ENGINE_RECOVERY_SCAN_MAX);
    atomic_store(&e->legs_in_doubt, (uint64_t)in_doubt);
}

/* Records the k presumed aborts r->aborts[off..off+k), just run, in the
 * scan's source legs (their new state), reports them and answers their
 * waiters. A leg this call aborted (decided_here) keeps decided_ms 0 and is
 * sent at once, reported recovery_presumed_abort. A leg the call found
 * decided already (by its batch since the scan, by a QueryDecision's
 * presumed abort, or by another gateway of the region) keeps the recorded
 * decided_ms, so that engine_recover_resend leaves it to the Decide on its
 * way, and is reported recovery_found_decided. A leg left HELD (not past
 * its expiry after all) or gone is not reported. */
static void engine_recovery_note_aborts(engine_t *e, store_t *st, size_t src_n, size_t off,
                                        size_t k) {
    engine_recovery_t *r = &e->recovery;
    CARBON_ASSERT(src_n <= ENGINE_RECOVERY_SCAN_MAX && off + k <= src_n);
    CARBON_ASSERT(k <= LEDGER_BATCH_LEGS_MAX);
    char err[256];
    for (size_t i = 0; i < k; i++) {
        const ledger_source_decision_t *d = &r->aborts[off + i];
        CARBON_ASSERT(!d->decided_here || d->state == TRANSFER_STATE_ABORTED);
        for (size_t j = 0; j < src_n; j++)
            if (strcmp(r->src[j].tid, d->tid) == 0) {
                engine_note_damaged(e, d, r->src[j].peer);
                r->src[j].state = d->state;
                r->src[j].decided_ms = d->decided_here ? 0 : d->decided_ms;
                if (transfer_state_decided(d->state))
                    engine_event(e, d->decided_here ? ENGINE_EVENT_PRESUMED_ABORT
                                                    : ENGINE_EVENT_FOUND_DECIDED,
                                 r->src[j].tid, r->src[j].peer, d->state, d->final_reason);
            }
        ledger_leg_t leg;
        if (ledger_leg_get(st, d->tid, &leg, err, sizeof err) == LEDGER_OK) {
            engine_notify(e, &leg);
            ledger_leg_free(&leg);
        }
    }
}

/* Source: presumed abort of the expired holds among the scan's src_n source
 * legs (the script leaves a hold alone unless its expiry passed), in chunks
 * of a batch script. Returns the number of legs it aborted itself (not
 * those it found decided). */
static int engine_recover_expired_holds(engine_t *e, store_t *st, size_t src_n, uint64_t now_ms) {
    engine_recovery_t *r = &e->recovery;
    CARBON_ASSERT(st != NULL && src_n <= ENGINE_RECOVERY_SCAN_MAX);
    CARBON_ASSERT(atomic_load(&e->recovering) == 1);
    size_t nd = 0;
    for (size_t i = 0; i < src_n; i++) {
        if (r->src[i].state != TRANSFER_STATE_HELD) continue;
        ledger_source_decision_t *d = &r->aborts[nd++];
        memset(d, 0, sizeof *d);
        d->tid = r->src[i].tid;
        d->decision = TRANSFER_DECISION_ABORT;
        d->reason = REASON(EXPIRED);
        d->only_if_expired = 1;
    }
    int settled = 0;
    char err[256];
    if (nd > 0) failpoint_pause("recovery.before_presumed_abort"); /* tests: a batch decides first */
    for (size_t off = 0; off < nd; off += LEDGER_BATCH_LEGS_MAX) {
        size_t k = nd - off < LEDGER_BATCH_LEGS_MAX ? nd - off : LEDGER_BATCH_LEGS_MAX;
        if (ledger_source_decide(st, r->aborts + off, k, now_ms, err, sizeof err) != LEDGER_OK)
            break;
        engine_recovery_note_aborts(e, st, src_n, off, k);
        for (size_t i = 0; i < k; i++) settled += r->aborts[off + i].decided_here;
    }
    return settled;
}

/* 1 if source leg p was decided less than peer_timeout_ms before now_ms:
 * its batch's own Decide is most likely still in flight (the decider sends
 * it after the commit point, usually well within that deadline), so
 * recovery leaves it to a later pass instead of sending it twice. A Decide
 * held up longer (behind the previous batch's, or the origins') may still
 * go twice; the peer applies it once. A leg this pass presumed aborted has
 * decided_ms 0 (it was HELD when scanned): sent at once. A leg scanned HELD
 * that its batch decided before the pass's abort has the batch's decided_ms
 * (engine_recovery_note_aborts): left to that Decide. A leg whose
 * decided_ms is ahead of now_ms (another gateway of the region with its
 * clock ahead) is sent at once: skew never holds a re-send back. */
static int engine_decide_may_be_in_flight(const engine_t *e, const ledger_pending_leg_t *p,
                                          uint64_t now_ms) {
    CARBON_ASSERT(e != NULL && p != NULL);
    return p->decided_ms != 0 && p->decided_ms <= now_ms &&
           now_ms - p->decided_ms < e->cfg.peer_timeout_ms;
}

/* Source: re-sends to each peer the decisions of the scan's decided source
 * legs not yet acknowledged (but those whose batch's Decide may still be in
 * flight at now_ms), in chunks of a batch. Returns the number of legs the
 * peers answered for. */
static int engine_recover_resend(engine_t *e, store_t *st, size_t src_n, uint64_t now_ms) {
    engine_recovery_t *r = &e->recovery;
    CARBON_ASSERT(st != NULL && src_n <= ENGINE_RECOVERY_SCAN_MAX);
    CARBON_ASSERT(atomic_load(&e->recovering) == 1);
    int settled = 0;
    for (size_t pi = 0; pi < e->cfg.peers_n; pi++) {
        const char *peer = e->peers[pi].region;
        size_t k = 0;
        for (size_t i = 0; i < src_n; i++) {
            if (strcmp(r->src[i].peer, peer) != 0) continue;
            if (!transfer_state_decided(r->src[i].state) ||
                engine_decide_may_be_in_flight(e, &r->src[i], now_ms))
                continue;
            r->tids[k] = r->src[i].tid;
            r->verdicts[k] = transfer_decision_of(r->src[i].state);
            k++;
        }
        size_t chunk = engine_legs_max(e, &e->peers[pi]); /* what the peer accepts */
        for (size_t off = 0; off < k; off += chunk) {
            size_t m = k - off < chunk ? k - off : chunk;
            if (engine_send_decisions(e, st, peer, 0, r->tids + off, r->verdicts + off, m, 1,
                                      &r->ack) != 0)
                break; /* unreachable: the next pass tries again, the other peers now */
            settled += (int)m;
        }
    }
    return settled;
}

/* Reports the nd decisions learned from coordinator peer and recorded:
 * a leg an operator had decided that this call settled as heuristic_settled
 * or heuristic_mixed (the alarm), a prepared leg as decision learned. */
static void engine_report_learned(engine_t *e, const char *peer, const ledger_dest_decision_t *learned,
                                  size_t nd) {
    CARBON_ASSERT(e != NULL && peer != NULL && (learned != NULL || nd == 0));
    for (size_t i = 0; i < nd; i++) {
        const ledger_dest_decision_t *dd = &learned[i];
        transfer_state_t st = transfer_state_of_decision(dd->decision);
        if (dd->applied == TRANSFER_DECISION_MIXED)
            engine_event(e, ENGINE_EVENT_HEURISTIC_MIXED, dd->tid, peer, st, "HEURISTIC_MIXED");
        else if (dd->heuristic_outcome[0] != '\0')
            engine_event(e, ENGINE_EVENT_HEURISTIC_SETTLED, dd->tid, peer, st, dd->heuristic_outcome);
        else if (dd->applied == TRANSFER_DECISION_COMMIT || dd->applied == TRANSFER_DECISION_ABORT)
            engine_event(e, ENGINE_EVENT_DECISION_LEARNED, dd->tid, peer, st, "");
    }
}

/* Destination: asks the coordinator peer about m expired prepared legs
 * (tids) and records the decisions it knows. Returns the number recorded. */
static int engine_recover_ask_chunk(engine_t *e, store_t *st, const char *peer,
                                    const char *const *tids, size_t m) {
    engine_recovery_t *r = &e->recovery;
    CARBON_ASSERT(st != NULL && peer != NULL && tids != NULL);
    CARBON_ASSERT(m >= 1 && m <= LEDGER_BATCH_LEGS_MAX);
    char err[256];
    memset(r->answers, 0, m);
    if (e->transport.query(e->transport.ctx, peer, tids, m, e->cfg.peer_timeout_ms, r->answers,
                           err, sizeof err) != 0) {
        /* a failed attempt, recorded: it guards an operator's heuristic decision */
        heuristic_record_doubt(st, peer, tids, m, ledger_now_ms(), NULL, err, sizeof err);
        return 0;
    }
    size_t nd = 0;
    for (size_t i = 0; i < m; i++) {
        if (r->answers[i] != TRANSFER_DECISION_COMMIT && r->answers[i] != TRANSFER_DECISION_ABORT) {
            heuristic_record_doubt(st, peer, &tids[i], 1, ledger_now_ms(), NULL, err, sizeof err);
            continue; /* stays in doubt: the coordinator has no record */
        }
        ledger_dest_decision_t *dd = &r->learned[nd++];
        memset(dd, 0, sizeof *dd);
        dd->tid = tids[i];
        dd->decision = r->answers[i];
        dd->resolved_by = "";
    }
    if (nd == 0 || engine_dest_decide(e, st, peer, r->learned, nd, e->cfg.peer_timeout_ms, err,
                                      sizeof err) != LEDGER_OK)
        return 0;
    engine_report_learned(e, peer, r->learned, nd);
    return (int)nd;
}

/* Destination: asks each coordinator about the scan's dst_n expired
 * prepared legs of its region, in chunks of a batch. Returns the number of
 * legs decided. */
static int engine_recover_ask(engine_t *e, store_t *st, size_t dst_n) {
    engine_recovery_t *r = &e->recovery;
    CARBON_ASSERT(st != NULL && dst_n <= ENGINE_RECOVERY_SCAN_MAX);
    CARBON_ASSERT(atomic_load(&e->recovering) == 1);
    int settled = 0;
    if (dst_n > 0) failpoint_pause("recovery.before_ask"); /* tests: a participant slow to ask */
    for (size_t pi = 0; pi < e->cfg.peers_n; pi++) {
        const char *peer = e->peers[pi].region;
        size_t k = 0;
        for (size_t i = 0; i < dst_n; i++)
            if (strcmp(r->dst[i].peer, peer) == 0) r->tids[k++] = r->dst[i].tid;
        size_t chunk = engine_legs_max(e, &e->peers[pi]); /* what the peer accepts */
        for (size_t off = 0; off < k; off += chunk) {
            size_t m = k - off < chunk ? k - off : chunk;
            settled += engine_recover_ask_chunk(e, st, peer, r->tids + off, m);
        }
    }
    return settled;
}

/* Destination: asks coordinator peer about m legs an operator decided here
 * (tids) and gives the decisions it knows to the decide script, which
 * settles each forced leg (agreed, re-applied, reversed, or HEURISTIC_MIXED).
 * Returns the number settled. */
static int engine_recover_heuristic_chunk(engine_t *e, store_t *st, const char *peer,
                                          const char *const *tids, size_t m) {
    engine_recovery_t *r = &e->recovery;
    CARBON_ASSERT(st != NULL && peer != NULL && tids != NULL);
    CARBON_ASSERT(m >= 1 && m <= LEDGER_BATCH_LEGS_MAX);
    char err[256];
    memset(r->answers, 0, m);
    if (e->transport.query(e->transport.ctx, peer, tids, m, e->cfg.peer_timeout_ms, r->answers,
                           err, sizeof err) != 0)
        return 0;
    size_t nd = 0;
    for (size_t i = 0; i < m; i++) {
        if (r->answers[i] != TRANSFER_DECISION_COMMIT && r->answers[i] != TRANSFER_DECISION_ABORT)
            continue; /* the coordinator does not know: the forced decision stands, listed */
        ledger_dest_decision_t *dd = &r->learned[nd++];
        memset(dd, 0, sizeof *dd);
        dd->tid = tids[i];
        dd->decision = r->answers[i];
        dd->resolved_by = "";
    }
    if (nd == 0 || engine_dest_decide(e, st, peer, r->learned, nd, e->cfg.peer_timeout_ms, err,
                                      sizeof err) != LEDGER_OK)
        return 0;
    engine_report_learned(e, peer, r->learned, nd);
    return (int)nd;
}

/* Destination: asks each coordinator about the legs operators decided here
 * that it has not answered for yet, and publishes the number of
 * HEURISTIC_MIXED legs for the metrics. Returns the number settled. */
static int engine_recover_heuristic(engine_t *e, store_t *st) {
    engine_recovery_t *r = &e->recovery;
    CARBON_ASSERT(e != NULL && st != NULL && atomic_load(&e->recovering) == 1);
    size_t limit = ENGINE_RECOVERY_SCAN_MAX < HEURISTIC_SCAN_MAX ? ENGINE_RECOVERY_SCAN_MAX
                                                                 : HEURISTIC_SCAN_MAX;
    ledger_pending_leg_t *legs = calloc(limit, sizeof *legs);
    if (legs == NULL) return 0;
    size_t n = 0;
    uint64_t mixed_n = 0;
    char err[256];
    int settled = 0;
    if (heuristic_scan(st, limit, legs, &n, &mixed_n, NULL, NULL, err, sizeof err) == LEDGER_OK) {
        CARBON_ASSERT(n <= limit);
        for (size_t pi = 0; pi < e->cfg.peers_n; pi++) {
            const char *peer = e->peers[pi].region;
            size_t k = 0;
            for (size_t i = 0; i < n; i++)
                if (strcmp(legs[i].peer, peer) == 0) r->tids[k++] = legs[i].tid;
            size_t chunk = engine_legs_max(e, &e->peers[pi]); /* what the peer accepts */
            for (size_t off = 0; off < k; off += chunk) {
                size_t m = k - off < chunk ? k - off : chunk;
                settled += engine_recover_heuristic_chunk(e, st, peer, r->tids + off, m);
            }
        }
        if (settled > 0 && heuristic_scan(st, 1, legs, &n, &mixed_n, NULL, NULL, err, sizeof err) != LEDGER_OK)
            mixed_n = atomic_load(&e->legs_heuristic_mixed);
        atomic_store(&e->legs_heuristic_mixed, mixed_n);
    }
    free(legs);
    return settled;
}

/* A gateway without the recovery lease still publishes its store's number
 * of HEURISTIC_MIXED legs: the metric is the region's, whichever of its
 * gateways is scraped. */
static void engine_refresh_mixed(engine_t *e, store_t *st) {
    CARBON_ASSERT(e != NULL && st != NULL);
    ledger_pending_leg_t leg;
    size_t n = 0;
    uint64_t mixed_n = 0;
    char err[256];
    if (heuristic_scan(st, 1, &leg, &n, &mixed_n, NULL, NULL, err, sizeof err) == LEDGER_OK)
        atomic_store(&e->legs_heuristic_mixed, mixed_n);
}

/* Asks each peer whose limits are not known yet for them (transport.hello). */
static void engine_recover_hello(engine_t *e) {
    CARBON_ASSERT(e != NULL && e->cfg.peers_n <= ENGINE_PEERS_MAX);
    if (e->transport.hello == NULL) return;
    for (size_t pi = 0; pi < e->cfg.peers_n; pi++) {
        engine_peer_t *p = &e->peers[pi];
        if (atomic_load(&p->legs_max) != 0) continue;
        uint32_t legs_max = 0, bytes_max = 0;
        char err[256];
        if (e->transport.hello(e->transport.ctx, p->region, e->cfg.peer_timeout_ms, &legs_max,
                               &bytes_max, err, sizeof err) == 0 && legs_max >= 1)
            engine_set_peer_limits(e, p->region, legs_max, bytes_max);
    }
}

/* Sends each peer the use reports due to it (use_reports.h), within the
 * items and bytes it accepts (not legs: not counted as settled). A store
 * error leaves them due: the next pass tries again. */
static void engine_recover_use_reports(engine_t *e, store_t *st) {
    CARBON_ASSERT(e != NULL && st != NULL);
    if (e->cfg.use_reports == NULL) return;
    for (size_t pi = 0; pi < e->cfg.peers_n; pi++) {
        engine_peer_t *p = &e->peers[pi];
        char err[256] = "";
        use_reports_send_due(e->cfg.use_reports, st, p->region, engine_legs_max(e, p),
                             engine_bytes_budget(e, p), e->cfg.peer_timeout_ms, ledger_now_ms(), err,
                             sizeof err);
    }
}

int engine_recover_once(engine_t *e, store_t *st) {
    CARBON_ASSERT(e != NULL && st != NULL);
    engine_recover_hello(e);
    int was_recovering = atomic_exchange(&e->recovering, 1);
    CARBON_ASSERT(was_recovering == 0); /* one pass at a time uses e->recovery */
    engine_recovery_t *r = &e->recovery;
    size_t src_n = 0, dst_n = 0;
    char err[256];
    int settled = 0;
    uint64_t now = ledger_now_ms();
    ledger_serial_index_build(st, NULL, NULL, err, sizeof err); /* a store from before the index */
    const char *peers[ENGINE_PEERS_MAX];
    CARBON_ASSERT(e->cfg.peers_n <= ENGINE_PEERS_MAX && ENGINE_PEERS_MAX <= LEDGER_SCAN_PEERS_MAX);
    for (size_t i = 0; i < e->cfg.peers_n; i++) peers[i] = e->peers[i].region;
    if (ledger_recovery_scan_peers(st, now, ENGINE_RECOVERY_SCAN_MAX, peers, e->cfg.peers_n,
                                   r->src, &src_n, r->dst, &dst_n,
                             err, sizeof err) == LEDGER_OK) {
        CARBON_ASSERT(src_n <= ENGINE_RECOVERY_SCAN_MAX && dst_n <= ENGINE_RECOVERY_SCAN_MAX);
        engine_recovery_count_in_doubt(e, src_n, dst_n, now);
        settled += engine_recover_expired_holds(e, st, src_n, now);
        /* the clock read again: the presumed aborts may have taken a while,
         * and a decision this gateway's batch made meanwhile is not ahead
         * of this clock */
        settled += engine_recover_resend(e, st, src_n, ledger_now_ms());
        settled += engine_recover_ask(e, st, dst_n);
    }
    settled += engine_recover_heuristic(e, st);
    engine_recover_use_reports(e, st);
    if (settled > 0) atomic_fetch_add(&e->recovered, (uint64_t)settled);
    atomic_store(&e->recovering, 0);
    return settled;
}

/* The recovery thread: answers waiters every ENGINE_WAITER_TICK_MS while
 * there are some, and runs a recovery pass every recovery_interval_ms while
 * it holds the lease, until the engine stops. */
static void *engine_recovery_main(void *arg) {
    engine_t *e = arg;
    CARBON_ASSERT(e != NULL && e->cfg.recovery_interval_ms >= 1);
    CARBON_ASSERT(e->recovery.src != NULL && e->recovery.ack.cap == LEDGER_BATCH_LEGS_MAX);
    char err[256];
    store_t *st = NULL;
    uint64_t next_pass_ms = 0; /* at start: at once */
    for (;;) {
        engine_lock(e);
        if (e->stopping) {
            engine_unlock(e);
            break;
        }
        uint64_t wait_ms = e->waiters_n > 0 ? ENGINE_WAITER_TICK_MS : e->cfg.recovery_interval_ms;
        uint64_t now = engine_mono_ms();
        if (next_pass_ms > now && next_pass_ms - now < wait_ms) wait_ms = next_pass_ms - now;
        if (next_pass_ms > now) {
            struct timespec ts = engine_abstime(wait_ms);
            engine_cond_wait(e, &e->recovery_wake, &ts);
        }
        int stop = e->stopping;
        engine_unlock(e);
        if (stop) break;
        if (st == NULL) st = store_open(&e->cfg.store, err, sizeof err);
        if (st == NULL) continue;
        engine_poll_waiters(e, st, 0);
        now = engine_mono_ms();
        if (now >= next_pass_ms) {
            next_pass_ms = now + e->cfg.recovery_interval_ms;
            if (engine_lease(e, st))
                engine_recover_once(e, st);
            else
                engine_refresh_mixed(e, st);
        }
    }
    if (st != NULL) {
        engine_poll_waiters(e, st, 1);
        store_close(st);
    }
    return NULL;
}

/* ---- lifecycle -------------------------------------------------------------------- */

/* Allocates a batcher's arrays for cap legs (1..LEDGER_BATCH_LEGS_MAX). 0, or
 * -1 when out of memory (what was allocated is freed by engine_batch_free). */
static int engine_batch_alloc(engine_batch_t *b, size_t cap) {
    CARBON_ASSERT(b != NULL && b->items == NULL);
    CARBON_ASSERT(cap >= 1 && cap <= LEDGER_BATCH_LEGS_MAX);
    b->cap = cap;
    b->items = calloc(cap, sizeof *b->items);
    b->legs = calloc(cap, sizeof *b->legs);
    b->open_tids = calloc(cap, sizeof *b->open_tids);
    b->votes = calloc(cap, sizeof *b->votes);
    b->decisions = calloc(cap, sizeof *b->decisions);
    b->decided_tids = calloc(cap, sizeof *b->decided_tids);
    b->verdicts = calloc(cap, 1);
    b->ack.cap = cap;
    b->ack.applied = calloc(cap, 1);
    b->ack.acked = calloc(cap, sizeof *b->ack.acked);
    return b->items && b->legs && b->open_tids && b->votes && b->decisions && b->decided_tids &&
                   b->verdicts && b->ack.applied && b->ack.acked
               ? 0
               : -1;
}

static void engine_batch_free(engine_batch_t *b) {
    CARBON_ASSERT(b != NULL);
    CARBON_ASSERT(b->cap <= LEDGER_BATCH_LEGS_MAX && b->ack.cap == b->cap);
    free(b->items);
    free(b->legs);
    free(b->open_tids);
    free(b->votes);
    free(b->decisions);
    free(b->decided_tids);
    free(b->verdicts);
    free(b->ack.applied);
    free(b->ack.acked);
    memset(b, 0, sizeof *b);
}

/* Allocates recovery's arrays, sized by ENGINE_RECOVERY_SCAN_MAX and
 * LEDGER_BATCH_LEGS_MAX. 0, or -1 when out of memory (engine_recovery_free
 * frees what was allocated). */
static int engine_recovery_alloc(engine_recovery_t *r) {
    CARBON_ASSERT(r != NULL && r->src == NULL);
    CARBON_ASSERT(r->ack.applied == NULL && r->ack.cap == 0);
    size_t scan = ENGINE_RECOVERY_SCAN_MAX, chunk = LEDGER_BATCH_LEGS_MAX;
    r->src = calloc(scan, sizeof *r->src);
    r->dst = calloc(scan, sizeof *r->dst);
    r->aborts = calloc(scan, sizeof *r->aborts);
    r->tids = calloc(scan, sizeof *r->tids);
    r->verdicts = calloc(scan, 1);
    r->answers = calloc(chunk, 1);
    r->learned = calloc(chunk, sizeof *r->learned);
    r->ack.cap = chunk;
    r->ack.applied = calloc(chunk, 1);
    r->ack.acked = calloc(chunk, sizeof *r->ack.acked);
    return r->src && r->dst && r->aborts && r->tids && r->verdicts && r->answers && r->learned &&
                   r->ack.applied && r->ack.acked
               ? 0
               : -1;
}

static void engine_recovery_free(engine_recovery_t *r) {
    CARBON_ASSERT(r != NULL);
    CARBON_ASSERT(r->ack.cap == 0 || r->ack.cap == LEDGER_BATCH_LEGS_MAX);
    free(r->src);
    free(r->dst);
    free(r->aborts);
    free(r->tids);
    free(r->verdicts);
    free(r->answers);
    free(r->learned);
    free(r->ack.applied);
    free(r->ack.acked);
    memset(r, 0, sizeof *r);
}

/* Frees e and every array it owns (threads stopped or never started). */
static void engine_free(engine_t *e) {
    CARBON_ASSERT(e != NULL && !e->recovery_started);
    for (size_t i = 0; i < e->cfg.peers_n; i++) {
        CARBON_ASSERT(!e->peers[i].started);
        CARBON_ASSERT(!e->peers[i].decider_started);
        for (size_t k = 0; k < ENGINE_PIPELINE_DEPTH; k++) engine_batch_free(&e->peers[i].slots[k]);
        pthread_cond_destroy(&e->peers[i].wake);
        pthread_cond_destroy(&e->peers[i].phase_two_wake);
    }
    engine_recovery_free(&e->recovery);
    pthread_cond_destroy(&e->recovery_wake);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

engine_t *engine_create(const engine_config_t *cfg, const engine_transport_t *transport,
                        char *err, size_t errlen) {
    CARBON_ASSERT(cfg != NULL && transport != NULL && err != NULL && errlen > 0);
    CARBON_ASSERT(transport->prepare != NULL && transport->decide != NULL && transport->query != NULL);
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
    int alloc_rc = engine_recovery_alloc(&e->recovery);
    for (size_t i = 0; i < cfg->peers_n; i++) {
        e->peers[i].engine = e;
        snprintf(e->peers[i].region, sizeof e->peers[i].region, "%s", cfg->peers[i]);
        pthread_cond_init(&e->peers[i].wake, NULL);
        pthread_cond_init(&e->peers[i].phase_two_wake, NULL);
        e->peers[i].batch = &e->peers[i].slots[0];
        for (size_t k = 0; k < ENGINE_PIPELINE_DEPTH; k++)
            if (engine_batch_alloc(&e->peers[i].slots[k], cfg->batch_legs_max) != 0) alloc_rc = -1;
    }
    if (alloc_rc != 0) {
        engine_free(e);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    snprintf(e->lease_owner, sizeof e->lease_owner, "%.24s:%d:%" PRIu64, host, (int)getpid(),
             ledger_now_ms() % 1000000u);
    return e;
}

int engine_start(engine_t *e, char *err, size_t errlen) {
    CARBON_ASSERT(e != NULL && err != NULL && errlen > 0);
    CARBON_ASSERT(!e->recovery_started && e->cfg.peers_n <= ENGINE_PEERS_MAX);
    for (size_t i = 0; i < e->cfg.peers_n; i++) { /* the decider first: a batcher hands to it */
        if (pthread_create(&e->peers[i].decider, NULL, engine_decider_main, &e->peers[i]) != 0) {
            snprintf(err, errlen, "cannot start the decider of %s", e->peers[i].region);
            return -1;
        }
        e->peers[i].decider_started = 1;
        if (pthread_create(&e->peers[i].thread, NULL, engine_batcher_main, &e->peers[i]) != 0) {
            snprintf(err, errlen, "cannot start the batcher of %s", e->peers[i].region);
            engine_phase_one_end(e, &e->peers[i]); /* its decider ends at once */
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
    CARBON_ASSERT(e != NULL && !engine_locked(e));
    CARBON_ASSERT(e->cfg.peers_n <= ENGINE_PEERS_MAX);
    engine_lock(e);
    e->stopping = 1;
    for (size_t i = 0; i < e->cfg.peers_n; i++) pthread_cond_broadcast(&e->peers[i].wake);
    pthread_cond_broadcast(&e->recovery_wake);
    engine_unlock(e);
    for (size_t i = 0; i < e->cfg.peers_n; i++)
        if (e->peers[i].started) {
            pthread_join(e->peers[i].thread, NULL);
            e->peers[i].started = 0;
        }
    for (size_t i = 0; i < e->cfg.peers_n; i++)
        if (e->peers[i].decider_started) { /* ends after the batcher: it finishes phase two */
            pthread_join(e->peers[i].decider, NULL);
            e->peers[i].decider_started = 0;
        }
    if (e->recovery_started) {
        pthread_join(e->recovery_thread, NULL);
        e->recovery_started = 0;
    }
}

void engine_destroy(engine_t *e) {
    if (e == NULL) return;
    engine_stop(e);
    CARBON_ASSERT(!e->recovery_started && atomic_load(&e->recovering) == 0);
    CARBON_ASSERT(e->waiters_n <= ENGINE_WAITERS_MAX);
    while (e->waiters != NULL) {
        engine_waiter_t *w = e->waiters;
        e->waiters = w->next;
        free(w);
    }
    engine_free(e);
}

void engine_get_stats(engine_t *e, engine_stats_t *out) {
    CARBON_ASSERT(e != NULL && out != NULL);
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
    for (size_t i = 0; i < ENGINE_PHASES; i++) out->phase_us[i] = atomic_load(&e->phase_us[i]);
    out->legs_in_doubt = atomic_load(&e->legs_in_doubt);
    out->legs_heuristic_mixed = atomic_load(&e->legs_heuristic_mixed);
    out->decision_conflicts = atomic_load(&e->decision_conflicts);
}
