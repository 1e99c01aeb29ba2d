/* fuzz_add_checkpoint.c - Federation.AddCheckpoint: unpack, then the checks
 * of federation_add_checkpoint (gateway/services/witnessing.c) without the
 * store: the signed note against a pinned key (the seed's fixed key, as
 * jjj.carbon/CN-BJ/audit), the checkpoint body, the origin, the sizes and the
 * proof, and the witness's decision (settlement/witness.h) against nothing
 * held and against a held head; a cosignature verdict must be backed by a
 * proof that verifies. */
#include "tests/fuzz/fuzz_common.h"

#include "settlement/merkle.h"
#include "settlement/note.h"
#include "settlement/witness.h"

#include <openssl/evp.h>

#include <string.h>

static const uint8_t fuzz_sk[32] = {42, 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                    16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

static void judge_against(const witness_head_t *held, uint64_t old_size, const checkpoint_t *cp,
                          const merkle_hash_t *proof, size_t proof_n) {
    char why[256];
    witness_verdict_t v = witness_judge(held, old_size, cp, proof, proof_n, why, sizeof why);
    merkle_hash_t root;
    memcpy(root.bytes, cp->root_hash, 32);
    if (v == WITNESS_COSIGN_NEW && held->size > 0)
        FUZZ_CHECK(merkle_verify_consistency(held->size, cp->size, &held->root, &root, proof,
                                             proof_n) == MERKLE_OK,
                   "cosigned without a consistency proof that verifies");
    if (v == WITNESS_COSIGN_NEW || v == WITNESS_COSIGN_SAME)
        FUZZ_CHECK(cp->size >= held->size && old_size == held->size, "cosigned going back");
    if (v == WITNESS_COSIGN_SAME) FUZZ_CHECK(merkle_hash_equal(&held->root, &root), "same size, other root");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Carbon__V1__AddCheckpointRequest *req = (Carbon__V1__AddCheckpointRequest *)fuzz_unpack(
        &carbon__v1__add_checkpoint_request__descriptor, data, size);
    if (req == NULL) return 0;
    static note_verifier_t pinned;
    if (pinned.name[0] == '\0') {
        EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, fuzz_sk, sizeof fuzz_sk);
        char name[WITNESS_NAME_SIZE], why[256];
        witness_log_name("CN-BJ", name);
        FUZZ_CHECK(key != NULL && note_verifier_from_key(name, NOTE_TYPE_ED25519, key, &pinned, why,
                                                         sizeof why) == NOTE_OK, "the pinned key");
        EVP_PKEY_free(key);
    }
    note_opened_t opened;
    checkpoint_t cp;
    char why[256], origin[WITNESS_NAME_SIZE];
    witness_log_name("CN-BJ", origin);
    merkle_hash_t proof[MERKLE_PROOF_MAX];
    size_t n = req->n_consistency_proof;
    const char *note = req->checkpoint.data != NULL ? (const char *)req->checkpoint.data : "";
    int ok = note_open(note, req->checkpoint.len, &pinned, 1, &opened, why, sizeof why) == NOTE_OK &&
             checkpoint_parse(opened.text, opened.text_len, &cp, why, sizeof why) == NOTE_OK &&
             strcmp(cp.origin, origin) == 0 && cp.size <= MERKLE_LEAVES_MAX && n <= MERKLE_PROOF_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = merkle_hash_from_bytes(req->consistency_proof[i].data, req->consistency_proof[i].len,
                                    &proof[i]) == MERKLE_OK;
    if (ok) {
        witness_head_t none = {0}, held = {.size = 5};
        memset(held.root.bytes, 0xab, 32);
        judge_against(&none, req->old_size, &cp, proof, n);
        judge_against(&held, req->old_size, &cp, proof, n);
        judge_against(&held, 5, &cp, proof, n);
    }
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return 0;
}
