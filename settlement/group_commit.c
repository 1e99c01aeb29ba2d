/* group_commit.c - group commit of the Registry's writes (group_commit.h). */
#include "settlement/group_commit.h"
#include "common/carbon_assert.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROUP_COMMIT_QUEUE_MAX 65536

struct group_commit {
    store_config_t store_cfg;
    uint32_t queue_max;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    group_commit_entry_t *head, *tail;
    uint32_t queued;
    int stopping, started;
    pthread_t thread;
    group_commit_stats_t stats; /* under lock */
    /* the batcher thread's */
    group_commit_entry_t *entries[LEDGER_HOLD_BATCH_MAX];
    ledger_hold_item_t *holds[LEDGER_HOLD_BATCH_MAX];
    ledger_issue_item_t *issues[LEDGER_HOLD_BATCH_MAX];
    ledger_retire_item_t *retires[LEDGER_HOLD_BATCH_MAX];
};

group_commit_t *group_commit_create(const store_config_t *store, uint32_t queue_max, char *err,
                                    size_t errlen) {
    CARBON_ASSERT(store != NULL && err != NULL);
    if (queue_max < 1 || queue_max > GROUP_COMMIT_QUEUE_MAX) {
        snprintf(err, errlen, "group commit queue bound %u outside 1..%d", queue_max,
                 GROUP_COMMIT_QUEUE_MAX);
        return NULL;
    }
    group_commit_t *gc = calloc(1, sizeof *gc);
    if (gc == NULL) abort();
    gc->store_cfg = *store;
    gc->queue_max = queue_max;
    pthread_mutex_init(&gc->lock, NULL);
    pthread_cond_init(&gc->wake, NULL);
    return gc;
}

int group_commit_submit(group_commit_t *gc, group_commit_entry_t *e) {
    CARBON_ASSERT(gc != NULL && e != NULL && e->done != NULL);
    CARBON_ASSERT(e->kind != GROUP_COMMIT_HOLD || e->hold.leg != NULL);
    CARBON_ASSERT(e->kind != GROUP_COMMIT_ISSUE || e->issue.in != NULL);
    CARBON_ASSERT(e->kind != GROUP_COMMIT_RETIRE || e->retire.in != NULL);
    e->next = NULL;
    pthread_mutex_lock(&gc->lock);
    if (gc->stopping || gc->queued >= gc->queue_max) {
        int rc = gc->stopping ? -2 : -1;
        pthread_mutex_unlock(&gc->lock);
        return rc;
    }
    if (gc->tail != NULL)
        gc->tail->next = e;
    else
        gc->head = e;
    gc->tail = e;
    gc->queued++;
    if (gc->queued == 1) pthread_cond_signal(&gc->wake);
    pthread_mutex_unlock(&gc->lock);
    return 0;
}

/* Takes up to LEDGER_HOLD_BATCH_MAX queued entries into gc->entries, waiting
 * for the first; 0 once stopping with an empty queue. */
static size_t group_commit_take(group_commit_t *gc) {
    pthread_mutex_lock(&gc->lock);
    while (gc->queued == 0 && !gc->stopping) pthread_cond_wait(&gc->wake, &gc->lock);
    size_t n = 0;
    while (n < LEDGER_HOLD_BATCH_MAX && gc->head != NULL) {
        gc->entries[n++] = gc->head;
        gc->head = gc->head->next;
    }
    if (gc->head == NULL) gc->tail = NULL;
    CARBON_ASSERT(n <= gc->queued);
    gc->queued -= (uint32_t)n;
    if (n > 0) {
        gc->stats.batches++;
        gc->stats.entries += n;
        if (n > gc->stats.batch_max) gc->stats.batch_max = n;
    }
    pthread_mutex_unlock(&gc->lock);
    return n;
}

/* Marks every entry of the batch failed: the store could not be reached. */
static void group_commit_fail_all(group_commit_t *gc, size_t n, const char *why) {
    for (size_t i = 0; i < n; i++) {
        group_commit_entry_t *e = gc->entries[i];
        switch (e->kind) {
        case GROUP_COMMIT_HOLD:
            e->hold.rc = LEDGER_ESTORE;
            snprintf(e->hold.err, sizeof e->hold.err, "%.120s", why);
            break;
        case GROUP_COMMIT_ISSUE:
            e->issue.rc = LEDGER_ESTORE;
            snprintf(e->issue.err, sizeof e->issue.err, "%.120s", why);
            break;
        case GROUP_COMMIT_RETIRE:
            e->retire.rc = LEDGER_ESTORE;
            snprintf(e->retire.err, sizeof e->retire.err, "%.120s", why);
            break;
        }
    }
}

/* Holds the n items in one store call. A call that failed after Redis may
 * have run it (its reply lost, timed out, or its WAIT short) runs again, at
 * most GROUP_COMMIT_HOLD_RERUNS times: the holds it made come back as this
 * attempt's own (ledger_hold_item_t's hold_token), LEDGER_OK, and go on to
 * their batch, and the others are made now. Without it a hold whose reply
 * was lost stayed HELD, in no batch, until recovery aborted it at its
 * expiry, and a retry with the same id only waited for that. */
static void group_commit_holds(group_commit_t *gc, store_t *st, ledger_hold_item_t *const *holds,
                               size_t n) {
    char err[256] = "";
    bool may_have_run = false;
    int rc = ledger_hold_batch(st, holds, n, &may_have_run, err, sizeof err);
    int rerun = 0;
    for (; rc != LEDGER_OK && may_have_run && rerun < GROUP_COMMIT_HOLD_RERUNS; rerun++)
        rc = ledger_hold_batch(st, holds, n, &may_have_run, err, sizeof err);
    bool unknown = rc != LEDGER_OK && may_have_run; /* still, after every rerun */
    if (rerun == 0 && !unknown) return;
    pthread_mutex_lock(&gc->lock);
    gc->stats.hold_reruns += (uint64_t)rerun;
    if (unknown) gc->stats.holds_unknown += n;
    pthread_mutex_unlock(&gc->lock);
}

/* Runs gc->entries[0..n): one store call per kind present. */
static void group_commit_store(group_commit_t *gc, store_t *st, size_t n) {
    size_t nh = 0, ni = 0, nr = 0;
    for (size_t i = 0; i < n; i++) {
        group_commit_entry_t *e = gc->entries[i];
        if (e->kind == GROUP_COMMIT_HOLD) gc->holds[nh++] = &e->hold;
        if (e->kind == GROUP_COMMIT_ISSUE) gc->issues[ni++] = &e->issue;
        if (e->kind == GROUP_COMMIT_RETIRE) gc->retires[nr++] = &e->retire;
    }
    CARBON_ASSERT(nh + ni + nr == n);
    char err[256] = "";
    if (nh > 0) group_commit_holds(gc, st, gc->holds, nh);
    if (ni > 0) (void)ledger_issue_many(st, gc->issues, ni, err, sizeof err);
    if (nr > 0) (void)ledger_retire_many(st, gc->retires, nr, err, sizeof err);
}

/* Runs gc->entries[0..n) and reports each, in order. */
static void group_commit_run(group_commit_t *gc, store_t **st, size_t n) {
    char err[256] = "";
    if (*st == NULL) *st = store_open(&gc->store_cfg, err, sizeof err);
    if (*st != NULL)
        group_commit_store(gc, *st, n);
    else
        group_commit_fail_all(gc, n, err);
    for (size_t i = 0; i < n; i++) {
        group_commit_entry_t *e = gc->entries[i];
        gc->entries[i] = NULL;
        e->done(e, *st);
    }
}

static void *group_commit_main(void *arg) {
    group_commit_t *gc = arg;
    store_t *st = NULL;
    for (;;) {
        size_t n = group_commit_take(gc);
        if (n == 0) break;
        group_commit_run(gc, &st, n);
    }
    if (st != NULL) store_close(st);
    return NULL;
}

int group_commit_start(group_commit_t *gc, char *err, size_t errlen) {
    CARBON_ASSERT(gc != NULL && !gc->started);
    if (pthread_create(&gc->thread, NULL, group_commit_main, gc) != 0) {
        snprintf(err, errlen, "cannot start the group commit thread");
        return -1;
    }
    gc->started = 1;
    return 0;
}

void group_commit_stop(group_commit_t *gc) {
    CARBON_ASSERT(gc != NULL);
    pthread_mutex_lock(&gc->lock);
    gc->stopping = 1;
    pthread_cond_broadcast(&gc->wake);
    pthread_mutex_unlock(&gc->lock);
    if (gc->started) {
        pthread_join(gc->thread, NULL);
        gc->started = 0;
    }
}

void group_commit_destroy(group_commit_t *gc) {
    if (gc == NULL) return;
    group_commit_stop(gc);
    CARBON_ASSERT(gc->queued == 0);
    pthread_mutex_destroy(&gc->lock);
    pthread_cond_destroy(&gc->wake);
    free(gc);
}

void group_commit_get_stats(group_commit_t *gc, group_commit_stats_t *out) {
    CARBON_ASSERT(gc != NULL && out != NULL);
    pthread_mutex_lock(&gc->lock);
    *out = gc->stats;
    pthread_mutex_unlock(&gc->lock);
}
