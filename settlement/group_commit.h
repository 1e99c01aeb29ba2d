/* group_commit.h - group commit of the Registry's writes (DESIGN §10, issue 16).
 *
 * Concurrent Registry.Transfer, Issue and Retire calls hand their store
 * step to one batcher thread instead of each running its own script on a
 * server worker: the batcher takes everything queued (up to
 * LEDGER_HOLD_BATCH_MAX) and runs it with one store call per kind: the holds
 * in one transfer_hold script (ledger_hold_batch), the issuances and the
 * retirements each in one pipeline (ledger_issue_many, ledger_retire_many);
 * Redis makes each call durable with one fsync. Then it reports each
 * entry's own outcome, in the order they were queued. While a batch runs the
 * next gathers, so a batch costs no waiting when the load is light and
 * holds many when it is heavy. No outcome is reported before the store
 * answered for it, so an answer built on it reports only what is durable. */
#ifndef SETTLEMENT_GROUP_COMMIT_H
#define SETTLEMENT_GROUP_COMMIT_H

#include "common/carbon_assert.h"
#include "settlement/ledger.h"
#include "settlement/store.h"

#include <stdint.h>

CARBON_STATIC_ASSERT(LEDGER_HOLD_BATCH_MAX <= LEDGER_GROUP_MAX, "a batch fits every kind's call");

/* Times a batch of holds whose store call may have run is run again (each
 * run waits for the store as any call does: its reconnect budget). */
#define GROUP_COMMIT_HOLD_RERUNS 2

typedef struct group_commit group_commit_t;
typedef struct group_commit_entry group_commit_entry_t;

typedef enum { GROUP_COMMIT_HOLD, GROUP_COMMIT_ISSUE, GROUP_COMMIT_RETIRE } group_commit_kind_t;

/* Called once per entry, on the batcher thread, after its batch: the item
 * of its kind carries the outcome (rc LEDGER_ESTORE when the batch's call
 * failed or the store could not be reached). st is the batcher's store
 * connection (NULL if unreachable) for a follow-up read; the entry then
 * belongs to the caller again. */
typedef void (*group_commit_done_fn)(group_commit_entry_t *e, store_t *st);

/* One queued store step; the caller owns it (usually inside its own
 * context) and fills kind, the item of that kind, and done. */
struct group_commit_entry {
    group_commit_kind_t kind;
    ledger_hold_item_t hold;     /* GROUP_COMMIT_HOLD: leg, request_fp, now_ms */
    ledger_issue_item_t issue;   /* GROUP_COMMIT_ISSUE: in, now_ms */
    ledger_retire_item_t retire; /* GROUP_COMMIT_RETIRE: in, now_ms */
    group_commit_done_fn done;
    group_commit_entry_t *next;  /* the batcher's */
};

typedef struct {
    uint64_t batches;   /* batches run */
    uint64_t entries;   /* entries answered */
    uint64_t batch_max; /* most entries in one batch */
    uint64_t hold_reruns;   /* hold calls run again because the one before may have run */
    uint64_t holds_unknown; /* holds answered unavailable after a call that may have run and
                               every rerun: HELD or not, recovery settles them at expiry */
} group_commit_stats_t;

/* Creates the batcher (no thread yet) with its store settings and queue
 * bound (1..65536 entries waiting). NULL with the reason in err. */
group_commit_t *group_commit_create(const store_config_t *store, uint32_t queue_max, char *err,
                                    size_t errlen);

/* Starts the batcher thread. 0, or -1 with the reason in err. */
int group_commit_start(group_commit_t *gc, char *err, size_t errlen);

/* Queues e. 0: e->done will be called exactly once. -1: the queue is full;
 * -2: the batcher is stopping; then e is not queued and done is not called. */
int group_commit_submit(group_commit_t *gc, group_commit_entry_t *e);

/* Stops taking entries, runs what is queued, and joins the thread. */
void group_commit_stop(group_commit_t *gc);

/* Stops (group_commit_stop) and frees. NULL is allowed. */
void group_commit_destroy(group_commit_t *gc);

/* Copies the batcher's counters (since create) into out. Thread-safe. */
void group_commit_get_stats(group_commit_t *gc, group_commit_stats_t *out);

#endif
