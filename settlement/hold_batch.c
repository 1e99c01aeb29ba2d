/* hold_batch.c - group commit of holds (hold_batch.h). */
#include "settlement/hold_batch.h"
#include "common/carbon_assert.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOLD_BATCH_QUEUE_MAX 65536

struct hold_batch {
    store_config_t store_cfg;
    uint32_t queue_max;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    hold_batch_entry_t *head, *tail;
    uint32_t queued;
    int stopping, started;
    pthread_t thread;
    hold_batch_stats_t stats; /* under lock */
    ledger_hold_item_t *items[LEDGER_HOLD_BATCH_MAX];   /* the batcher thread's */
    hold_batch_entry_t *entries[LEDGER_HOLD_BATCH_MAX]; /* the batcher thread's */
};

hold_batch_t *hold_batch_create(const store_config_t *store, uint32_t queue_max, char *err,
                                size_t errlen) {
    CARBON_ASSERT(store != NULL && err != NULL);
    if (queue_max < 1 || queue_max > HOLD_BATCH_QUEUE_MAX) {
        snprintf(err, errlen, "hold queue bound %u outside 1..%d", queue_max, HOLD_BATCH_QUEUE_MAX);
        return NULL;
    }
    hold_batch_t *hb = calloc(1, sizeof *hb);
    if (hb == NULL) abort();
    hb->store_cfg = *store;
    hb->queue_max = queue_max;
    pthread_mutex_init(&hb->lock, NULL);
    pthread_cond_init(&hb->wake, NULL);
    return hb;
}

int hold_batch_submit(hold_batch_t *hb, hold_batch_entry_t *e) {
    CARBON_ASSERT(hb != NULL && e != NULL && e->done != NULL && e->item.leg != NULL);
    e->next = NULL;
    pthread_mutex_lock(&hb->lock);
    if (hb->stopping || hb->queued >= hb->queue_max) {
        int rc = hb->stopping ? -2 : -1;
        pthread_mutex_unlock(&hb->lock);
        return rc;
    }
    if (hb->tail != NULL)
        hb->tail->next = e;
    else
        hb->head = e;
    hb->tail = e;
    hb->queued++;
    if (hb->queued == 1) pthread_cond_signal(&hb->wake);
    pthread_mutex_unlock(&hb->lock);
    return 0;
}

/* Takes up to LEDGER_HOLD_BATCH_MAX queued entries into hb->entries, waiting
 * for the first; 0 once stopping with an empty queue. */
static size_t hold_batch_take(hold_batch_t *hb) {
    pthread_mutex_lock(&hb->lock);
    while (hb->queued == 0 && !hb->stopping) pthread_cond_wait(&hb->wake, &hb->lock);
    size_t n = 0;
    while (n < LEDGER_HOLD_BATCH_MAX && hb->head != NULL) {
        hb->entries[n++] = hb->head;
        hb->head = hb->head->next;
    }
    if (hb->head == NULL) hb->tail = NULL;
    CARBON_ASSERT(n <= hb->queued);
    hb->queued -= (uint32_t)n;
    if (n > 0) {
        hb->stats.batches++;
        hb->stats.holds += n;
        if (n > hb->stats.batch_max) hb->stats.batch_max = n;
    }
    pthread_mutex_unlock(&hb->lock);
    return n;
}

/* Holds hb->entries[0..n) in one store call and reports each. */
static void hold_batch_run(hold_batch_t *hb, store_t **st, size_t n) {
    char err[256] = "";
    if (*st == NULL) *st = store_open(&hb->store_cfg, err, sizeof err);
    for (size_t i = 0; i < n; i++) hb->items[i] = &hb->entries[i]->item;
    if (*st != NULL) {
        (void)ledger_hold_batch(*st, hb->items, n, err, sizeof err);
    } else {
        for (size_t i = 0; i < n; i++) {
            hb->items[i]->rc = LEDGER_ESTORE;
            snprintf(hb->items[i]->err, sizeof hb->items[i]->err, "%.120s", err);
        }
    }
    for (size_t i = 0; i < n; i++) {
        hold_batch_entry_t *e = hb->entries[i];
        hb->entries[i] = NULL;
        e->done(e, *st);
    }
}

static void *hold_batch_main(void *arg) {
    hold_batch_t *hb = arg;
    store_t *st = NULL;
    for (;;) {
        size_t n = hold_batch_take(hb);
        if (n == 0) break;
        hold_batch_run(hb, &st, n);
    }
    if (st != NULL) store_close(st);
    return NULL;
}

int hold_batch_start(hold_batch_t *hb, char *err, size_t errlen) {
    CARBON_ASSERT(hb != NULL && !hb->started);
    if (pthread_create(&hb->thread, NULL, hold_batch_main, hb) != 0) {
        snprintf(err, errlen, "cannot start the hold batcher");
        return -1;
    }
    hb->started = 1;
    return 0;
}

void hold_batch_stop(hold_batch_t *hb) {
    CARBON_ASSERT(hb != NULL);
    pthread_mutex_lock(&hb->lock);
    hb->stopping = 1;
    pthread_cond_broadcast(&hb->wake);
    pthread_mutex_unlock(&hb->lock);
    if (hb->started) {
        pthread_join(hb->thread, NULL);
        hb->started = 0;
    }
}

void hold_batch_destroy(hold_batch_t *hb) {
    if (hb == NULL) return;
    hold_batch_stop(hb);
    CARBON_ASSERT(hb->queued == 0);
    pthread_mutex_destroy(&hb->lock);
    pthread_cond_destroy(&hb->wake);
    free(hb);
}

void hold_batch_get_stats(hold_batch_t *hb, hold_batch_stats_t *out) {
    CARBON_ASSERT(hb != NULL && out != NULL);
    pthread_mutex_lock(&hb->lock);
    *out = hb->stats;
    pthread_mutex_unlock(&hb->lock);
}
