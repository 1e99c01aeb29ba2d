/* fuzz_prepare.c - Federation.Prepare: unpack, then federation_prepare
 * (gateway/services/federation.c) at each region, called by each of its peers:
 * pbconv_leg_in for every leg, the batch checks, quote_check_leg over the
 * shipped catalogs, and the batch totals, up to the ledger_prepare_t array it
 * would hand to ledger_dest_prepare. */
#include "tests/fuzz/fuzz_common.h"

#include "gateway/pbconv.h"
#include "settlement/batch.h"

#include <inttypes.h>
#include <string.h>

static void prepare_at(const Carbon__V1__PrepareRequest *req, const char *own, const char *caller) {
    if (strcmp(caller, req->source_region) != 0) return;                   /* REGION_MISMATCH */
    if (req->n_legs < 1 || req->n_legs > FUZZ_BATCH_LEGS_MAX) return;     /* BAD_BATCH_SIZE, BATCH_TOO_LARGE */
    size_t n = req->n_legs;
    ledger_leg_t *legs = calloc(n, sizeof *legs);
    ledger_prepare_t *p = calloc(n, sizeof *p);
    FUZZ_CHECK(legs != NULL && p != NULL, "calloc");
    char err[256] = "";
    size_t parsed = 0;
    for (; parsed < n; parsed++) {
        if (pbconv_leg_in(req->legs[parsed], own, &legs[parsed], err, sizeof err) != 0) {
            FUZZ_CHECK(fuzz_terminated(err, sizeof err) && err[0] != '\0',
                       "pbconv_leg_in refused without a reason");
            break;
        }
        fuzz_check_leg_in(&legs[parsed], own);
        if (strcmp(legs[parsed].peer, req->source_region) != 0) {
            ledger_leg_free(&legs[parsed]);
            break;
        }
        int dup = 0;
        for (size_t j = 0; j < parsed; j++) dup |= strcmp(legs[j].tid, legs[parsed].tid) == 0;
        if (dup) {
            ledger_leg_free(&legs[parsed]);
            break;
        }
        p[parsed].leg = &legs[parsed];
        const char *why = fuzz_dest_verdict(own, req->source_region, &legs[parsed]);
        p[parsed].precheck = why != NULL ? why : "";
    }
    if (parsed == n) {
        /* MALFORMED_LEG otherwise; here the batch goes to the store */
        const ledger_leg_t **view = calloc(n, sizeof *view);
        FUZZ_CHECK(view != NULL, "calloc");
        unsigned __int128 sum = 0;
        for (size_t i = 0; i < n; i++) {
            view[i] = &legs[i];
            sum += legs[i].debited_g;
        }
        batch_totals_t totals;
        batch_totals_destination(own, view, n, &totals);
        free(view);
        FUZZ_CHECK(totals.count == n && totals.sum_g == sum && strlen(totals.digest) == 64,
                   "batch totals %u|%" PRIu64 "|%s of %zu legs", totals.count, totals.sum_g,
                   totals.digest, n);
        char batch_text[128];
        int w = snprintf(batch_text, sizeof batch_text, "%" PRIu32 "|%" PRIu64 "|%s", totals.count,
                         totals.sum_g, totals.digest);
        FUZZ_CHECK(w > 0 && (size_t)w < sizeof batch_text, "batch text of %d bytes", w);
    }
    for (size_t i = 0; i < parsed && i < n; i++) ledger_leg_free(&legs[i]);
    free(legs);
    free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Carbon__V1__PrepareRequest *req = (Carbon__V1__PrepareRequest *)fuzz_unpack(
        &carbon__v1__prepare_request__descriptor, data, size);
    if (req == NULL) return 0;
    for (int r = 0; r < FUZZ_REGIONS_N; r++)
        for (int c = 0; c < FUZZ_REGIONS_N; c++)
            if (c != r) prepare_at(req, fuzz_regions[r], fuzz_regions[c]);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return 0;
}
