/* fuzz_transfer.c - Registry.Transfer: unpack, then registry_transfer
 * (gateway/services/registry.c) for a registry of each region, up to the
 * ledger_leg_t it would hold; then that leg as the destination would receive
 * it (pbconv_leg in a PrepareRequest, packed, unpacked, pbconv_leg_in,
 * quote_check_leg), which must accept it exactly. */
#include "tests/fuzz/fuzz_common.h"

#include "gateway/arena.h"
#include "gateway/pbconv.h"
#include "gateway/validate.h"

#include <inttypes.h>
#include <string.h>

#define FUZZ_LEG_EXPIRY_MS 30000u
#define FUZZ_NOW_MS 1767225600000ull /* 2026-01-01 */

/* The destination's side of a leg the source holds (federation_prepare). */
static void arrive(const ledger_leg_t *held, const char *own, const char *to_region) {
    arena_t a = {0};
    Carbon__V1__PrepareRequest prep = CARBON__V1__PREPARE_REQUEST__INIT;
    prep.source_region = (char *)own;
    prep.batch_seq = 1;
    prep.n_legs = 1;
    prep.legs = arena_alloc(&a, sizeof *prep.legs);
    prep.legs[0] = pbconv_leg(&a, held, own);
    Carbon__V1__PrepareRequest *got = (Carbon__V1__PrepareRequest *)fuzz_roundtrip(&prep.base);
    FUZZ_CHECK(got->n_legs == 1 && strcmp(got->source_region, own) == 0, "batch lost");
    ledger_leg_t in;
    char err[256] = "";
    int rc = pbconv_leg_in(got->legs[0], to_region, &in, err, sizeof err);
    FUZZ_CHECK(rc == 0, "%s refuses the leg %s holds: %s", to_region, own, err);
    fuzz_check_leg_in(&in, to_region);
    FUZZ_CHECK(strcmp(in.peer, own) == 0, "leg arrives from '%s', not %s", in.peer, own);
    FUZZ_CHECK(strcmp(in.tid, held->tid) == 0 && in.credited_g == held->credited_g &&
                   in.debited_g == held->debited_g && in.discount_g == held->discount_g &&
                   strcmp(in.meth, held->meth) == 0 && strcmp(in.dest_meth, held->dest_meth) == 0,
               "the leg changed on the wire");
    const char *why = fuzz_dest_verdict(to_region, own, &in);
    FUZZ_CHECK(why == NULL, "%s votes no on a leg %s quoted: %s", to_region, own, why);
    ledger_leg_free(&in);
    protobuf_c_message_free_unpacked(&got->base, NULL);
    arena_free(&a);
}

static void transfer_as(const Carbon__V1__TransferRequest *req, const char *own) {
    if (!validate_request_id(req->transfer_id)) return;                            /* BAD_ID */
    if (!validate_account_id(req->from_account_id) || !validate_account_id(req->to_account_id))
        return;                                                                   /* BAD_ACCOUNT_ID */
    if (!validate_vintage(req->vintage_year, 1)) return;                           /* BAD_VINTAGE */
    quote_t q;
    if (fuzz_registry_quote(own, req->to_region, req->methodology_id, req->amount_units, &q) != 0)
        return;
    if (req->expected_credited_g != 0 && req->expected_credited_g != q.q.credited_g)
        return;                                                                   /* QUOTE_CHANGED */
    /* engine_reserve, the store: not here. The leg ledger_hold gets: */
    ledger_leg_t leg = {0};
    FUZZ_COPY(leg.tid, "%s", req->transfer_id);
    FUZZ_COPY(leg.role, "source");
    FUZZ_COPY(leg.from, "%s", req->from_account_id);
    FUZZ_COPY(leg.to, "%s/%s", req->to_region, req->to_account_id);
    FUZZ_COPY(leg.peer, "%s", req->to_region);
    FUZZ_COPY(leg.meth, "%s", req->methodology_id);
    leg.vintage = req->vintage_year;
    FUZZ_CHECK(quote_fill_leg(&q, &leg) == 0,
               "the quote's methodology or digests do not fit the leg");
    leg.expiry_ms = FUZZ_NOW_MS + FUZZ_LEG_EXPIRY_MS;
    fuzz_check_request_fp("transfer|%s|%s|%s|%s|%u|%" PRIu64 "|%" PRIu64, req->from_account_id,
                          req->to_region, req->to_account_id, req->methodology_id,
                          req->vintage_year, req->amount_units, req->expected_credited_g);
    /* The hold takes debited_g grams of serials of that methodology: here one
     * block (the ledger may split it; pbconv_leg_in sums them). */
    ledger_block_t block = {.vintage = leg.vintage ? leg.vintage : 2026, .first = 1,
                            .last = leg.debited_g};
    FUZZ_COPY(block.origin, "%s", q.origin);
    FUZZ_COPY(block.meth, "%s", leg.meth);
    leg.blocks = &block;
    leg.blocks_n = 1;
    arrive(&leg, own, req->to_region);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Carbon__V1__TransferRequest *req = (Carbon__V1__TransferRequest *)fuzz_unpack(
        &carbon__v1__transfer_request__descriptor, data, size);
    if (req == NULL) return 0;
    for (int r = 0; r < FUZZ_REGIONS_N; r++) transfer_as(req, fuzz_regions[r]);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return 0;
}
