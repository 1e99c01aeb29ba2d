/* fuzz_decide.c - Federation.Decide: unpack, then federation_decide
 * (gateway/services/federation.c) at each region, called by each of its peers, up to
 * the ledger_dest_decision_t array it would hand to ledger_dest_decide. */
#include "tests/fuzz/fuzz_common.h"

#include "gateway/pbconv.h"

#include <string.h>

static void decide_at(const Carbon__V1__DecideRequest *req, const char *caller) {
    if (strcmp(caller, req->source_region) != 0) return;                       /* REGION_MISMATCH */
    if (req->n_decisions < 1 || req->n_decisions > FUZZ_BATCH_LEGS_MAX) return; /* BAD_BATCH_SIZE, BATCH_TOO_LARGE */
    size_t n = req->n_decisions;
    ledger_dest_decision_t *d = calloc(n, sizeof *d);
    FUZZ_CHECK(d != NULL, "calloc");
    const char *why = NULL;
    size_t bad = pbconv_decisions_in(req->decisions, n, d, &why); /* MALFORMED_DECISION */
    FUZZ_CHECK(bad <= n && (bad == n) == (why == NULL), "decision %zu", bad);
    if (bad == n)
        for (size_t k = 0; k < n; k++) {
            FUZZ_CHECK(strlen(d[k].tid) == LEDGER_TID_LEN &&
                           (d[k].decision == 'C' || d[k].decision == 'A'),
                       "decision %zu", k);
            for (size_t j = 0; j < k; j++) FUZZ_CHECK(strcmp(d[j].tid, d[k].tid) != 0, "id twice");
        }
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
