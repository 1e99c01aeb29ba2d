/* batch.h - settlement batches as records (DESIGN §8): every Prepare
 * between two gateways is a batch with a per-pair sequence number and a
 * digest over its legs, stored on both sides, so operators can reconcile. */
#ifndef SETTLEMENT_BATCH_H
#define SETTLEMENT_BATCH_H

#include "settlement/ledger.h"
#include "settlement/store.h"

#include <stddef.h>
#include <stdint.h>

#define BATCH_RECORD_LEGS_MAX LEDGER_BATCH_LEGS_MAX
#define BATCH_LIST_MAX 1000 /* batches returned by one read */

/* The canonical encoding of one leg, the same on both sides:
 * "tid|SRC/from|DST/to|block,block,...|debited_g|credited_g|discount_g".
 * from_account/to_account are full "REGION/ID" names. Returns the length,
 * or -1 if buf is too small. */
int batch_leg_canonical(const char *tid, const char *from_account, const char *to_account,
                        const ledger_block_t *blocks, size_t blocks_n, uint64_t debited_g,
                        uint64_t credited_g, uint64_t discount_g, char *buf, size_t buflen);

/* Digest of a batch: SHA-256 (hex) over the canonical legs in order, each
 * followed by '\n'. legs[i] is the source's view (from = account id, to =
 * "REGION/ID") when source_region is given for from; see batch.c. */
typedef struct {
    uint32_t count;
    uint64_t sum_g;            /* sum of debited grams */
    char digest[65];
} batch_totals_t;

/* Totals of legs as the source records them (from = account id of src_region). */
void batch_totals_source(const char *src_region, const ledger_leg_t *const *legs, size_t n,
                         batch_totals_t *out);
/* Totals of legs as the destination records them (from = "REGION/ID", to = account id of dst_region). */
void batch_totals_destination(const char *dst_region, const ledger_leg_t *const *legs, size_t n,
                              batch_totals_t *out);

/* A batch as one side stored it. */
typedef struct {
    uint64_t seq;
    batch_totals_t totals;     /* as stored when the batch was made */
    uint64_t time_ms;
    size_t tids_n;
    char (*tids)[LEDGER_TID_LEN + 1]; /* malloc'd */
} batch_record_t;

void batch_record_free(batch_record_t *b);

/* Records an outgoing batch to peer before it is sent: allocates its
 * sequence number (into *seq) and stores totals and transfer ids, with an
 * audit entry, in one script. LEDGER_OK or LEDGER_ESTORE. */
int batch_open(store_t *st, const char *peer, const batch_totals_t *t, const char *const *tids,
               size_t n, uint64_t now_ms, uint64_t *seq, char *err, size_t errlen);

/* Reads batches [from_seq, to_seq] (to_seq 0: up to the latest) of the
 * pair: outgoing (this region sent to peer) or incoming (peer sent here).
 * *out is malloc'd (batch_record_free each, then free). At most
 * BATCH_LIST_MAX. Missing sequence numbers are simply absent. */
int batch_list(store_t *st, const char *peer, int outgoing, uint64_t from_seq, uint64_t to_seq,
               batch_record_t **out, size_t *n, char *err, size_t errlen);

#endif
