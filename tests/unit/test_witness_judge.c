/* test_witness_judge.c - the witness's decision on an offered checkpoint
 * (settlement/witness.h witness_judge), over a tree of the test's own
 * (settlement/merkle.h), and the names of a region's log and witness keys. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "settlement/merkle.h"
#include "settlement/witness.h"

#define LEAVES 16

static merkle_hash_t leaves[LEAVES];

/* Entries "e0".."e15"; entry `changed` (if < LEAVES) "x" instead. */
static void make_leaves(size_t changed) {
    for (size_t k = 0; k < LEAVES; k++) {
        char e[16];
        int n = k == changed ? snprintf(e, sizeof e, "x%zu", k) : snprintf(e, sizeof e, "e%zu", k);
        cr_assert_eq(merkle_leaf_hash(e, (size_t)n, &leaves[k]), MERKLE_OK);
    }
}

static checkpoint_t cp_of(uint64_t size) {
    checkpoint_t cp;
    memset(&cp, 0, sizeof cp);
    snprintf(cp.origin, sizeof cp.origin, "jjj.carbon/CN-BJ/audit");
    cp.size = size;
    merkle_leaf_array_t arr = {leaves, LEAVES};
    merkle_hash_t root;
    cr_assert_eq(merkle_root(merkle_leaf_array_read, &arr, size, &root), MERKLE_OK);
    memcpy(cp.root_hash, root.bytes, 32);
    return cp;
}

static witness_head_t head_of(uint64_t size) {
    checkpoint_t cp = cp_of(size);
    witness_head_t h = {.size = size};
    memcpy(h.root.bytes, cp.root_hash, 32);
    return h;
}

static size_t proof_of(uint64_t m, uint64_t n, merkle_hash_t *proof) {
    merkle_leaf_array_t arr = {leaves, LEAVES};
    size_t proof_n = 0;
    cr_assert_eq(merkle_consistency_proof(merkle_leaf_array_read, &arr, m, n, proof, &proof_n), MERKLE_OK);
    return proof_n;
}

Test(witness_judge, verdicts) {
    char why[256];
    merkle_hash_t proof[MERKLE_PROOF_MAX];
    make_leaves(LEAVES);
    witness_head_t none = {0}, held = head_of(6);
    checkpoint_t c6 = cp_of(6), c11 = cp_of(11), c3 = cp_of(3);
    size_t n = proof_of(6, 11, proof);
    cr_expect_eq(witness_judge(&none, 0, &c6, NULL, 0, why, sizeof why), WITNESS_COSIGN_NEW, "%s", why);
    cr_expect_eq(witness_judge(&none, 0, &c6, proof, 1, why, sizeof why), WITNESS_BAD_PROOF, "%s", why);
    cr_expect_eq(witness_judge(&none, 4, &c6, NULL, 0, why, sizeof why), WITNESS_OLD_SIZE_MISMATCH, "%s", why);
    cr_expect_eq(witness_judge(&held, 6, &c11, proof, n, why, sizeof why), WITNESS_COSIGN_NEW, "%s", why);
    cr_expect_eq(witness_judge(&held, 6, &c11, proof, n - 1, why, sizeof why), WITNESS_BAD_PROOF, "%s", why);
    cr_expect_eq(witness_judge(&held, 0, &c11, proof, n, why, sizeof why), WITNESS_OLD_SIZE_MISMATCH, "%s", why);
    cr_expect_eq(witness_judge(&held, 6, &c6, NULL, 0, why, sizeof why), WITNESS_COSIGN_SAME, "%s", why);
    cr_expect_eq(witness_judge(&held, 6, &c3, NULL, 0, why, sizeof why), WITNESS_REPLAY, "%s", why);
    cr_expect_eq(witness_judge(&held, 0, &c3, NULL, 0, why, sizeof why), WITNESS_REPLAY, "%s", why);
    /* older, with PROOF(3, 6) from the size held: a late prefix (C2SP tlog-witness: a conflict) */
    size_t n3 = proof_of(3, 6, proof);
    cr_expect_eq(witness_judge(&held, 6, &c3, proof, n3, why, sizeof why), WITNESS_STALE, "%s", why);
    cr_expect_eq(witness_judge(&held, 6, &c3, proof, n3 - 1, why, sizeof why), WITNESS_BAD_PROOF, "%s", why);
    cr_expect_eq(witness_judge(&held, 4, &c3, proof, n3, why, sizeof why), WITNESS_REPLAY, "%s", why);
    /* history rewritten at entry 2: same size another root; a proof from the other tree */
    make_leaves(2);
    checkpoint_t f6 = cp_of(6), f11 = cp_of(11);
    n = proof_of(6, 11, proof);
    cr_expect_eq(witness_judge(&held, 6, &f6, NULL, 0, why, sizeof why), WITNESS_FORK, "%s", why);
    cr_expect_eq(witness_judge(&held, 6, &f11, proof, n, why, sizeof why), WITNESS_FORK, "%s", why);
    checkpoint_t f3 = cp_of(3);
    n = proof_of(3, 6, proof);
    cr_expect_eq(witness_judge(&held, 6, &f3, proof, n, why, sizeof why), WITNESS_FORK, "%s", why);
    /* rewritten after the size held: consistent, cosigned */
    make_leaves(9);
    checkpoint_t g11 = cp_of(11);
    n = proof_of(6, 11, proof);
    cr_expect_eq(witness_judge(&held, 6, &g11, proof, n, why, sizeof why), WITNESS_COSIGN_NEW, "%s", why);
}

/* Size 0 held reads as nothing held: a checkpoint of size 0 must carry the
 * empty tree's root, or a witness would cosign a new root for size 0 each
 * time (before: any root, cosigned again and again). */
Test(witness_judge, size_zero_has_the_empty_tree_root) {
    char why[256];
    witness_head_t none = {0};
    checkpoint_t c0 = cp_of(0), other = cp_of(0);
    other.root_hash[0] ^= 1;
    cr_expect_eq(witness_judge(&none, 0, &c0, NULL, 0, why, sizeof why), WITNESS_COSIGN_NEW, "%s", why);
    cr_expect_eq(witness_judge(&none, 0, &other, NULL, 0, why, sizeof why), WITNESS_BAD_PROOF, "%s", why);
    cr_expect(strstr(why, "empty tree") != NULL, "%s", why);
}

Test(witness_judge, names) {
    char name[WITNESS_NAME_SIZE];
    witness_log_name("CN-TJ", name);
    cr_expect_str_eq(name, "jjj.carbon/CN-TJ/audit");
    witness_key_name("CN-HE", name);
    cr_expect_str_eq(name, "jjj.carbon/CN-HE/witness");
    cr_expect(witness_fork_id_valid("1") && witness_fork_id_valid("18446744073709551615"));
    cr_expect(!witness_fork_id_valid("") && !witness_fork_id_valid("01") && !witness_fork_id_valid("1a") &&
              !witness_fork_id_valid("123456789012345678901") && !witness_fork_id_valid(NULL));
}
