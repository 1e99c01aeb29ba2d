/* fuzz_quote.c - Registry.Quote: unpack, then registry_quote_handler
 * (gateway/services/registry.c) for a registry of each region: quote_compute over the
 * shipped catalogs, the quote's contract (fuzz_registry_quote) and the
 * answer it builds. */
#include "tests/fuzz/fuzz_common.h"

#include "gateway/arena.h"
#include "gateway/pbconv.h"
#include "gateway/validate.h"

#include <string.h>

static void quote_as(const Carbon__V1__QuoteRequest *req, const char *own) {
    if (!validate_account_id(req->from_account_id)) return; /* BAD_ACCOUNT_ID */
    quote_t q;
    if (fuzz_registry_quote(own, req->to_region, req->methodology_id, req->amount_units, &q) != 0)
        return;
    arena_t a = {0};
    Carbon__V1__TransferQuote m = CARBON__V1__TRANSFER_QUOTE__INIT;
    m.requested_g = q.q.requested_g;
    m.credited_g = q.q.credited_g;
    m.debited_g = q.q.debited_g;
    m.discount_g = q.q.discount_g;
    m.remainder_g = q.q.remainder_g;
    m.ratio_num = q.ratio_num;
    m.ratio_den = q.ratio_den;
    m.destination_methodology_id = q.dest_meth;
    m.credited = pbconv_amount(&a, q.q.credited_g, q.dst);
    m.debited = pbconv_amount(&a, q.q.debited_g, q.src);
    m.source_catalog_digest = (char *)q.src->digest_hex;
    m.destination_catalog_digest = (char *)q.dst->digest_hex;
    FUZZ_CHECK(m.credited->remainder_g == 0, "credited %llu g is not whole %s",
               (unsigned long long)q.q.credited_g, q.dst->display_unit);
    Carbon__V1__QuoteResponse resp = CARBON__V1__QUOTE_RESPONSE__INIT;
    resp.quote = &m;
    Carbon__V1__QuoteResponse *copy = (Carbon__V1__QuoteResponse *)fuzz_roundtrip(&resp.base);
    FUZZ_CHECK(copy->quote != NULL && copy->quote->credited_g == q.q.credited_g,
               "quote lost in the answer");
    protobuf_c_message_free_unpacked(&copy->base, NULL);
    arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Carbon__V1__QuoteRequest *req =
        (Carbon__V1__QuoteRequest *)fuzz_unpack(&carbon__v1__quote_request__descriptor, data, size);
    if (req == NULL) return 0;
    for (int r = 0; r < FUZZ_REGIONS_N; r++) quote_as(req, fuzz_regions[r]);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return 0;
}
