/* fuzz_open_account.c - Registry.OpenAccount: unpack, then the checks of
 * registry_open_account (gateway/services/registry.c) and its answer. */
#include "tests/fuzz/fuzz_common.h"

#include "gateway/arena.h"
#include "gateway/validate.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Carbon__V1__OpenAccountRequest *req = (Carbon__V1__OpenAccountRequest *)fuzz_unpack(
        &carbon__v1__open_account_request__descriptor, data, size);
    if (req == NULL) return 0;
    if (validate_account_id(req->account_id) && validate_holder_kind(req->holder_kind)) {
        /* ledger_open_account(st, account_id, holder_kind, ...) */
        FUZZ_CHECK(strlen(req->account_id) <= LEDGER_ID_MAX, "account id of %zu bytes",
                   strlen(req->account_id));
        FUZZ_CHECK(strlen(req->holder_kind) < 16, "holder kind does not fit ledger_account_t");
        for (int r = 0; r < FUZZ_REGIONS_N; r++) {
            arena_t a = {0};
            Carbon__V1__OpenAccountResponse resp = CARBON__V1__OPEN_ACCOUNT_RESPONSE__INIT;
            resp.account = arena_printf(&a, "%s/%s", fuzz_regions[r], req->account_id);
            resp.created = 1;
            Carbon__V1__OpenAccountResponse *copy =
                (Carbon__V1__OpenAccountResponse *)fuzz_roundtrip(&resp.base);
            char region[CARBON_REGION_SIZE], id[VALIDATE_ACCOUNT_MAX + 1];
            FUZZ_CHECK(validate_account_name(copy->account, region, id) &&
                           strcmp(region, fuzz_regions[r]) == 0 &&
                           strcmp(id, req->account_id) == 0,
                       "answered account '%s' does not name %s/%s", copy->account,
                       fuzz_regions[r], req->account_id);
            protobuf_c_message_free_unpacked(&copy->base, NULL);
            arena_free(&a);
        }
    }
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return 0;
}
