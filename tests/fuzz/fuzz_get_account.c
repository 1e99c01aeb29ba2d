/* fuzz_get_account.c - Registry.GetAccount: unpack, then the checks of
 * registry_get_account (gateway/services/registry.c) before ledger_account_get. */
#include "tests/fuzz/fuzz_common.h"

#include "gateway/validate.h"

#include <string.h>

#define REGISTRY_BLOCKS_LIMIT_DEFAULT 1000 /* gateway/services/registry.c */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Carbon__V1__GetAccountRequest *req = (Carbon__V1__GetAccountRequest *)fuzz_unpack(
        &carbon__v1__get_account_request__descriptor, data, size);
    if (req == NULL) return 0;
    if (validate_account_id(req->account_id) && req->blocks_limit <= LEDGER_ACCOUNT_BLOCKS_MAX) {
        size_t limit = req->blocks_limit ? req->blocks_limit : REGISTRY_BLOCKS_LIMIT_DEFAULT;
        FUZZ_CHECK(limit >= 1 && limit <= LEDGER_ACCOUNT_BLOCKS_MAX, "limit %zu", limit);
        FUZZ_CHECK(strlen(req->account_id) <= LEDGER_ID_MAX, "id of %zu bytes",
                   strlen(req->account_id));
    }
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return 0;
}
