/* fuzz_fetch_batches.c - Federation.FetchBatches: unpack, then the checks
 * of federation_fetch_batches (gateway/services/federation.c, with
 * ops_batch_range_ok of operations.c) before batch_list. */
#include "tests/fuzz/fuzz_common.h"

#include "settlement/batch.h"

#include <string.h>

static void fetch_at(const Carbon__V1__FetchBatchesRequest *req, const char *caller) {
    if (strcmp(caller, req->region) != 0) return;                               /* REGION_MISMATCH */
    if (req->to_seq != 0 &&
        (req->to_seq < req->from_seq || req->to_seq - req->from_seq >= BATCH_LIST_MAX))
        return;                                                                 /* BAD_RANGE */
    if (req->to_seq != 0)
        FUZZ_CHECK(req->to_seq - req->from_seq + 1 <= BATCH_LIST_MAX, "range of %llu batches",
                   (unsigned long long)(req->to_seq - req->from_seq + 1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Carbon__V1__FetchBatchesRequest *req = (Carbon__V1__FetchBatchesRequest *)fuzz_unpack(
        &carbon__v1__fetch_batches_request__descriptor, data, size);
    if (req == NULL) return 0;
    for (int r = 0; r < FUZZ_REGIONS_N; r++) fetch_at(req, fuzz_regions[r]);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return 0;
}
