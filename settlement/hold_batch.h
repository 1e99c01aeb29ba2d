/* hold_batch.h - group commit of holds (DESIGN §10, issue 16).
 *
 * Concurrent Registry.Transfer calls hand their holds to one batcher thread
 * instead of each running its own script on a server worker: the batcher
 * takes everything queued (up to LEDGER_HOLD_BATCH_MAX) and holds it with one
 * store call (ledger_hold_batch: one script, one fsync), then reports each
 * hold's own outcome. While a batch runs, the next gathers, so a batch
 * costs no waiting when the load is light and holds many when it is heavy.
 * No outcome is reported before the store answered for it, so an answer
 * built on it reports only what is durable. */
#ifndef SETTLEMENT_HOLD_BATCH_H
#define SETTLEMENT_HOLD_BATCH_H

#include "settlement/ledger.h"
#include "settlement/store.h"

#include <stdint.h>

typedef struct hold_batch hold_batch_t;
typedef struct hold_batch_entry hold_batch_entry_t;

/* Called once per entry, on the batcher thread, after its batch: e->item.rc
 * and the leg carry the outcome (LEDGER_ESTORE when the batch's call failed
 * or the store could not be reached). st is the batcher's store connection
 * (NULL if unreachable) for a follow-up read; the entry then belongs to the
 * caller again. */
typedef void (*hold_batch_done_fn)(hold_batch_entry_t *e, store_t *st);

/* One queued hold; the caller owns it (usually inside its own context) and
 * fills item (leg, request_fp, now_ms) and done. */
struct hold_batch_entry {
    ledger_hold_item_t item;
    hold_batch_done_fn done;
    hold_batch_entry_t *next; /* the batcher's */
};

typedef struct {
    uint64_t batches;  /* store calls made */
    uint64_t holds;    /* entries answered */
    uint64_t batch_max; /* most entries in one call */
} hold_batch_stats_t;

/* Creates the batcher (no thread yet) with its store settings and queue
 * bound (1..65536 entries waiting). NULL with the reason in err. */
hold_batch_t *hold_batch_create(const store_config_t *store, uint32_t queue_max, char *err,
                                size_t errlen);

/* Starts the batcher thread. 0, or -1 with the reason in err. */
int hold_batch_start(hold_batch_t *hb, char *err, size_t errlen);

/* Queues e. 0: e->done will be called exactly once. -1: the queue is full;
 * -2: the batcher is stopping; then e is not queued and done is not called. */
int hold_batch_submit(hold_batch_t *hb, hold_batch_entry_t *e);

/* Stops taking entries, runs what is queued, and joins the thread. */
void hold_batch_stop(hold_batch_t *hb);

/* Stops (hold_batch_stop) and frees. NULL is allowed. */
void hold_batch_destroy(hold_batch_t *hb);

void hold_batch_get_stats(hold_batch_t *hb, hold_batch_stats_t *out);

#endif
