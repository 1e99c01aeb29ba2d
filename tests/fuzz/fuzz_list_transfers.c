/* fuzz_list_transfers.c - Registry.ListTransfers: unpack, then the checks of
 * registry_list_transfers (gateway/services/registry.c) before ledger_feed_list. */
#include "tests/fuzz/fuzz_common.h"

#define REGISTRY_LIST_LIMIT_DEFAULT 100 /* gateway/services/registry.c */
#define REGISTRY_LIST_LIMIT_MAX 1000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Carbon__V1__ListTransfersRequest *req = (Carbon__V1__ListTransfersRequest *)fuzz_unpack(
        &carbon__v1__list_transfers_request__descriptor, data, size);
    if (req == NULL) return 0;
    if (!(req->limit > REGISTRY_LIST_LIMIT_MAX || (req->arrivals_only && req->departures_only))) {
        size_t limit = req->limit ? req->limit : REGISTRY_LIST_LIMIT_DEFAULT;
        FUZZ_CHECK(limit >= 1 && limit <= REGISTRY_LIST_LIMIT_MAX, "limit %zu", limit);
        /* the handler callocs limit feed entries */
        ledger_feed_entry_t *entries = calloc(limit, sizeof *entries);
        FUZZ_CHECK(entries != NULL, "calloc of %zu entries", limit);
        char kind = req->arrivals_only ? 'A' : req->departures_only ? 'D' : 0;
        FUZZ_CHECK(kind == 0 || kind == 'A' || kind == 'D', "kind %d", kind);
        free(entries);
    }
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return 0;
}
