/* fuzz_retire.c - Registry.Retire: unpack, then registry_retire
 * (gateway/services/registry.c) for a registry of each region, up to the
 * ledger_retire_t it would store. */
#include "tests/fuzz/fuzz_common.h"

#include "adapters/convert.h"
#include "gateway/validate.h"

#include <inttypes.h>
#include <string.h>

static void retire_as(const Carbon__V1__RetireRequest *req, const char *own) {
    static const char *const purposes[] = {NULL, "compliance_offset", "rights_redemption",
                                           "voluntary_neutrality", "voluntary_cancellation",
                                           "ecological_compensation"};
    catalog_set_t *set = fuzz_catalogs();
    if (!validate_request_id(req->retirement_id)) return;                 /* BAD_ID */
    if (!validate_account_id(req->account_id)) return;                    /* BAD_ACCOUNT_ID */
    if ((int)req->purpose < 1 || (int)req->purpose > 5) return;           /* BAD_PURPOSE */
    int compliance = req->purpose == 1;
    if (compliance ? req->compliance_year < 2000 || req->compliance_year > 2100 : req->compliance_year != 0)
        return;                                                           /* BAD_PURPOSE */
    if (!validate_text(req->beneficiary)) return;                         /* BAD_BENEFICIARY */
    if (!validate_vintage(req->vintage_year, 1) || strlen(req->methodology_id) > LEDGER_METH_MAX)
        return;                                                           /* BAD_SELECTION */
    char origin[CATALOG_REGION_MAX + 1];
    if (req->methodology_id[0] != '\0' && quote_origin_of(set, req->methodology_id, origin) != 0)
        return;                                                           /* UNKNOWN_METHODOLOGY */
    const catalog_t *cat = catalog_set_current(set, own);
    FUZZ_CHECK(cat != NULL, "no catalog of %s", own);
    uint64_t amount_g = 0;
    if (req->amount_units == 0 ||
        conv_units_to_g(req->amount_units, cat->display_unit_g, &amount_g) != CONV_OK ||
        amount_g >= LEDGER_AMOUNT_G_MAX)
        return;                                                           /* BAD_AMOUNT */
    FUZZ_CHECK((unsigned __int128)req->amount_units * cat->display_unit_g == amount_g &&
                   amount_g > 0,
               "%" PRIu64 " units gave %" PRIu64 " g", req->amount_units, amount_g);
    ledger_retire_t in = {0};
    FUZZ_COPY(in.retirement_id, "%s", req->retirement_id);
    FUZZ_COPY(in.account, "%s", req->account_id);
    FUZZ_COPY(in.meth, "%s", req->methodology_id);
    in.vintage = req->vintage_year;
    in.amount_g = amount_g;
    FUZZ_COPY(in.purpose, "%s", purposes[req->purpose]);
    FUZZ_COPY(in.beneficiary, "%s", req->beneficiary);
    FUZZ_CHECK(strchr(in.meth, '|') == NULL && strchr(in.meth, ',') == NULL,
               "methodology selection with an audit separator");
    fuzz_check_text_field(in.beneficiary);
    char year[16] = "";
    if (req->compliance_year != 0) snprintf(year, sizeof year, "|%u", req->compliance_year);
    fuzz_check_request_fp("retire|%s|%s|%u|%" PRIu64 "|%s|%s%s", req->account_id,
                          req->methodology_id, req->vintage_year, req->amount_units, in.purpose,
                          req->beneficiary, year);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Carbon__V1__RetireRequest *req =
        (Carbon__V1__RetireRequest *)fuzz_unpack(&carbon__v1__retire_request__descriptor, data, size);
    if (req == NULL) return 0;
    for (int r = 0; r < FUZZ_REGIONS_N; r++) retire_as(req, fuzz_regions[r]);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return 0;
}
