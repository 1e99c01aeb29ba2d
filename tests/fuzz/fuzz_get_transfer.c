/* fuzz_get_transfer.c - Registry.GetTransfer: unpack, then the checks of
 * registry_get_transfer (gateway/services/registry.c) before ledger_leg_get. */
#include "tests/fuzz/fuzz_common.h"

#include "gateway/validate.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Carbon__V1__GetTransferRequest *req = (Carbon__V1__GetTransferRequest *)fuzz_unpack(
        &carbon__v1__get_transfer_request__descriptor, data, size);
    if (req == NULL) return 0;
    if (validate_request_id(req->transfer_id)) {
        /* ledger_leg_get(st, transfer_id, ...): a key STORE_KEY_LEG_PREFIX <tid> STORE_KEY_LEG_SUFFIX */
        FUZZ_CHECK(strlen(req->transfer_id) == LEDGER_TID_LEN, "tid of %zu bytes",
                   strlen(req->transfer_id));
        for (size_t i = 0; i < LEDGER_TID_LEN; i++)
            FUZZ_CHECK((req->transfer_id[i] >= '0' && req->transfer_id[i] <= '9') ||
                           (req->transfer_id[i] >= 'a' && req->transfer_id[i] <= 'f'),
                       "tid byte %zu is 0x%02x", i, (unsigned char)req->transfer_id[i]);
    }
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return 0;
}
