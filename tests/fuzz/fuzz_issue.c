/* fuzz_issue.c - Registry.Issue: unpack, then the checks of registry_issue
 * (gateway/services/registry.c) for a registry of each region, up to the
 * ledger_issue_t it would store, and its answer. */
#include "tests/fuzz/fuzz_common.h"

#include "adapters/convert.h"
#include "gateway/arena.h"
#include "gateway/pbconv.h"
#include "gateway/validate.h"

#include <inttypes.h>
#include <string.h>

static void issue_as(const Carbon__V1__IssueRequest *req, const char *own) {
    catalog_set_t *set = fuzz_catalogs();
    if (!validate_request_id(req->issuance_id)) return;        /* BAD_ID */
    if (!validate_account_id(req->account_id)) return;         /* BAD_ACCOUNT_ID */
    if (!validate_vintage(req->vintage_year, 0)) return;       /* BAD_VINTAGE */
    if (!validate_text(req->activity_fingerprint)) return;     /* BAD_FINGERPRINT */
    const catalog_t *cat = catalog_set_current(set, own);
    const catalog_methodology_t *m = cat ? catalog_find_methodology(cat, req->methodology_id) : NULL;
    if (m == NULL) return;                                     /* UNKNOWN_METHODOLOGY */
    if (req->catalog_digest[0] != '\0' && strcmp(req->catalog_digest, cat->digest_hex) != 0)
        return;                                                /* CATALOG_CHANGED */
    uint64_t amount_g = 0;
    int crc = req->quantity_milli == 0
                  ? CONV_EINVAL
                  : conv_issue_g(req->quantity_milli, m->g_per_unit.num, m->g_per_unit.den,
                                 &amount_g);
    if (crc != CONV_OK || amount_g == 0 || amount_g >= LEDGER_AMOUNT_G_MAX) return; /* BAD_QUANTITY */

    unsigned __int128 want =
        (unsigned __int128)req->quantity_milli * m->g_per_unit.num /
        ((unsigned __int128)m->g_per_unit.den * CONV_QUANTITY_SCALE);
    FUZZ_CHECK(want == amount_g, "%" PRIu64 " milli of %s gave %" PRIu64 " g", req->quantity_milli,
               m->id, amount_g);
    ledger_issue_t in = {0};
    FUZZ_COPY(in.issuance_id, "%s", req->issuance_id);
    FUZZ_COPY(in.account, "%s", req->account_id);
    FUZZ_COPY(in.meth, "%s", m->id);
    FUZZ_COPY(in.fingerprint, "%s", req->activity_fingerprint);
    FUZZ_COPY(in.origin, "%s", own);
    in.vintage = req->vintage_year;
    in.amount_g = amount_g;
    fuzz_check_text_field(in.fingerprint);
    fuzz_check_request_fp("issue|%s|%s|%u|%" PRIu64 "|%s", req->account_id, m->id,
                          req->vintage_year, req->quantity_milli, req->activity_fingerprint);

    /* the answer, for a block the ledger would issue */
    ledger_block_t block = {.vintage = in.vintage, .first = 1, .last = amount_g};
    FUZZ_COPY(block.origin, "%s", own);
    FUZZ_COPY(block.meth, "%s", m->id);
    char text[128];
    FUZZ_CHECK(ledger_block_format(&block, text, sizeof text) > 0, "block does not format");
    arena_t a = {0};
    Carbon__V1__IssueResponse resp = CARBON__V1__ISSUE_RESPONSE__INIT;
    resp.block = pbconv_block(&a, &block);
    resp.amount = pbconv_amount(&a, amount_g, cat);
    resp.catalog_digest = arena_strdup(&a, cat->digest_hex);
    Carbon__V1__IssueResponse *copy = (Carbon__V1__IssueResponse *)fuzz_roundtrip(&resp.base);
    const Carbon__V1__Amount *am = copy->amount;
    FUZZ_CHECK(am->grams == amount_g && am->unit_g == cat->display_unit_g &&
                   (unsigned __int128)am->units * am->unit_g + am->remainder_g == am->grams &&
                   am->remainder_g < am->unit_g,
               "amount %" PRIu64 " g = %" PRIu64 " x %" PRIu64 " + %" PRIu64, am->grams, am->units,
               am->unit_g, am->remainder_g);
    protobuf_c_message_free_unpacked(&copy->base, NULL);
    arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Carbon__V1__IssueRequest *req =
        (Carbon__V1__IssueRequest *)fuzz_unpack(&carbon__v1__issue_request__descriptor, data, size);
    if (req == NULL) return 0;
    for (int r = 0; r < FUZZ_REGIONS_N; r++) issue_as(req, fuzz_regions[r]);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return 0;
}
