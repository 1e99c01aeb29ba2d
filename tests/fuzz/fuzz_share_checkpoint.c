/* fuzz_share_checkpoint.c - Federation.ShareCheckpoint: unpack, then the
 * checks of federation_share_checkpoint (gateway/services/federation.c) up to
 * the signature check, with and without a pinned key. */
#include "tests/fuzz/fuzz_common.h"

#include "settlement/audit.h"

#include <string.h>

static void share_at(const Carbon__V1__ShareCheckpointRequest *req, const char *caller) {
    const Carbon__V1__Checkpoint *m = req->checkpoint;
    if (m == NULL || strcmp(m->region, caller) != 0) return;                     /* REGION_MISMATCH */
    if (m->public_key.len != 32 || m->signature.len != 64 || strlen(m->head_hash) != AUDIT_HASH_HEX)
        return;                                                                 /* MALFORMED_CHECKPOINT */
    audit_checkpoint_t cp = {0};
    FUZZ_COPY(cp.region, "%s", m->region);
    cp.seq = m->seq;
    FUZZ_COPY(cp.head_hash, "%s", m->head_hash);
    cp.time_ms = m->time_unix_ms;
    memcpy(cp.public_key, m->public_key.data, 32);
    memcpy(cp.signature, m->signature.data, 64);
    char msg[256];
    FUZZ_CHECK(audit_checkpoint_message(&cp, msg, sizeof msg) > 0, "the signed text does not fit");
    int ok = audit_checkpoint_verify(&cp, NULL);
    int pinned_ok = audit_checkpoint_verify(&cp, cp.public_key);
    FUZZ_CHECK(ok == pinned_ok, "pinning the checkpoint's own key changed the verdict");
    static const uint8_t other[32] = {1};
    if (memcmp(cp.public_key, other, 32) != 0)
        FUZZ_CHECK(!audit_checkpoint_verify(&cp, other), "verified under another pinned key");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Carbon__V1__ShareCheckpointRequest *req = (Carbon__V1__ShareCheckpointRequest *)fuzz_unpack(
        &carbon__v1__share_checkpoint_request__descriptor, data, size);
    if (req == NULL) return 0;
    for (int r = 0; r < FUZZ_REGIONS_N; r++) share_at(req, fuzz_regions[r]);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return 0;
}
