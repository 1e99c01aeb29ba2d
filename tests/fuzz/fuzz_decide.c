/* fuzz_decide.c - Federation.Decide: unpack, then federation_decide
 * (gateway/services/federation.c) at each region, called by each of its peers, up to
 * the ledger_dest_decision_t array it would hand to ledger_dest_decide. */
#include "tests/fuzz/fuzz_common.h"

#include "gateway/validate.h"

#include <string.h>

static void decide_at(const Carbon__V1__DecideRequest *req, const char *caller) {
    if (strcmp(caller, req->source_region) != 0) return;                       /* REGION_MISMATCH */
    if (req->n_decisions < 1 || req->n_decisions > FUZZ_BATCH_LEGS_MAX) return; /* BAD_BATCH_SIZE, BATCH_TOO_LARGE */
    size_t n = req->n_decisions;
    ledger_dest_decision_t *d = calloc(n, sizeof *d);
    FUZZ_CHECK(d != NULL, "calloc");
    size_t i = 0;
    for (; i < n; i++) {
        const Carbon__V1__LegDecision *ld = req->decisions[i];
        if (!validate_request_id(ld->transfer_id) ||
            (ld->decision != CARBON__V1__DECISION__DECISION_COMMIT &&
             ld->decision != CARBON__V1__DECISION__DECISION_ABORT))
            break;                                                              /* MALFORMED_DECISION */
        d[i].tid = ld->transfer_id;
        d[i].decision = ld->decision == CARBON__V1__DECISION__DECISION_COMMIT ? 'C' : 'A';
        d[i].resolved_by = "";
    }
    if (i == n)
        for (size_t k = 0; k < n; k++)
            FUZZ_CHECK(strlen(d[k].tid) == LEDGER_TID_LEN &&
                           (d[k].decision == 'C' || d[k].decision == 'A'),
                       "decision %zu", k);
    free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Carbon__V1__DecideRequest *req =
        (Carbon__V1__DecideRequest *)fuzz_unpack(&carbon__v1__decide_request__descriptor, data, size);
    if (req == NULL) return 0;
    for (int r = 0; r < FUZZ_REGIONS_N; r++) decide_at(req, fuzz_regions[r]);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return 0;
}
