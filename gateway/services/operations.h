/* operations.h - carbon.v1.Operations handlers, and the batch records they
 * share with Federation.FetchBatches (federation.c). */
#ifndef GATEWAY_OPERATIONS_H
#define GATEWAY_OPERATIONS_H

#include "carbon/v1/carbon.pb-c.h"
#include "gateway/app.h"
#include "gateway/arena.h"
#include "gateway/server.h"

#include <stddef.h>
#include <stdint.h>

#define OPS_RECORDS_LEGS_MAX 16384 /* legs read for one batch list answer (each a store call) */

void ops_list_batches(server_call_t *call, const ProtobufCMessage *request);
void ops_reconcile(server_call_t *call, const ProtobufCMessage *request);
void ops_list_in_doubt(server_call_t *call, const ProtobufCMessage *request);
void ops_resolve_in_doubt(server_call_t *call, const ProtobufCMessage *request);

/* 1 if from_seq..to_seq (to_seq 0: up to the newest) spans at most
 * BATCH_LIST_MAX batches; otherwise replies INVALID_ARGUMENT (BAD_RANGE) and
 * returns 0. */
int ops_batch_range_ok(server_call_t *call, uint64_t from_seq, uint64_t to_seq);

#define OPS_ANSWER_OTHER_BYTES 64  /* a batch list or Reconcile answer besides its repeated field */

/* The batches this region exchanged with peer (outgoing: those it sent) in
 * from..to, as BatchRecords allocated in a (totals recomputed from the legs
 * as recorded now; with_legs adds each leg and its decision), as many as fit
 * one answer of answer_bytes_max bytes (> OPS_ANSWER_OTHER_BYTES: the lower
 * of what this gateway and the caller accept) and as many as have
 * OPS_RECORDS_LEGS_MAX legs in all (at least one): *next_seq
 * gets the number of the first record left out, 0 when none was. 0 with
 * *out and *out_n, or -1 after replying UNAVAILABLE (the store did not
 * answer). */
int ops_batch_records(server_call_t *call, arena_t *a, const char *peer, int outgoing, size_t answer_bytes_max,
                      uint64_t from, uint64_t to, int with_legs, Carbon__V1__BatchRecord ***out,
                      size_t *out_n, uint64_t *next_seq);

#endif
