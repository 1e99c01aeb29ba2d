/* fuzz_query_decision.c - Federation.QueryDecision: unpack, then the checks
 * of federation_query_decision (gateway/services/federation.c) before the store. */
#include "tests/fuzz/fuzz_common.h"

#include "gateway/validate.h"

#include <string.h>

static void query_at(const Carbon__V1__QueryDecisionRequest *req, const char *caller) {
    if (strcmp(caller, req->region) != 0) return;                                /* REGION_MISMATCH */
    if (req->n_transfer_ids < 1 || req->n_transfer_ids > FUZZ_BATCH_LEGS_MAX) return;
    size_t n = req->n_transfer_ids;
    for (size_t i = 0; i < n; i++)
        if (!validate_request_id(req->transfer_ids[i])) return;                  /* BAD_ID */
    /* the handler callocs n answers, decisions and indexes, reads each leg */
    ledger_source_decision_t *d = calloc(n, sizeof *d);
    FUZZ_CHECK(d != NULL, "calloc");
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(strlen(req->transfer_ids[i]) == LEDGER_TID_LEN, "id %zu", i);
        d[i].tid = req->transfer_ids[i];
        d[i].decision = 'A';
        d[i].reason = "PRESUMED_ABORT";
    }
    free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Carbon__V1__QueryDecisionRequest *req = (Carbon__V1__QueryDecisionRequest *)fuzz_unpack(
        &carbon__v1__query_decision_request__descriptor, data, size);
    if (req == NULL) return 0;
    for (int r = 0; r < FUZZ_REGIONS_N; r++) query_at(req, fuzz_regions[r]);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return 0;
}
