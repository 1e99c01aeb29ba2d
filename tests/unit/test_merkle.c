/* test_merkle.c - RFC 9162 Merkle tree hashing and proofs (settlement/merkle.h).
 *
 * Known answers come from transparency-dev/merkle
 * (https://github.com/transparency-dev/merkle, Apache-2.0), the Go library
 * behind Trillian and Tessera, at commit
 * 417fb0c314750d94e53942e9f92e79b6d35915db:
 *   - testonly/constants.go: the 8 leaf inputs, the hashes of every complete
 *     subtree (NodeHashes) and the roots of the trees of size 0..8
 *     (RootHashes);
 *   - testdata/inclusion/ and testdata/consistency/: 196 golden probes (the
 *     happy paths and tampered variants with the expected verdict), turned
 *     into tests/unit/fixtures/merkle_probes.inc by tests/tools/merkle_probes.py;
 *     their happy paths are also the proofs our generator must write.
 * Trees of up to 70 leaves are checked against an independent recursive
 * implementation of the RFC's definitions in Python (hashlib), whose output
 * is pasted below (test reference_70). The property tests then generate and
 * verify every inclusion proof (m < n <= 70) and every consistency proof
 * (1 <= m <= n <= 70), and check that each tampered byte is refused. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "settlement/merkle.h"

static void assert_hash(const merkle_hash_t *got, const char *want_hex, const char *what) {
    char got_hex[HEX_ENCODED_SIZE(MERKLE_HASH_BYTES)];
    cr_assert_eq(hex_encode(got->bytes, MERKLE_HASH_BYTES, got_hex, sizeof got_hex), 64);
    cr_assert_str_eq(got_hex, want_hex, "%s", what);
}

/* ---- the 8 leaves of transparency-dev/merkle testonly/constants.go ------ */

static const char *const leaf_inputs_hex[8] = {
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
};
/* NodeHashes(): level 0 (leaves) to level 3 (the root of 8). */
static const char *const node_hashes_hex[4][8] = {
    {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
     "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
     "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
     "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
     "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
     "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
     "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
     "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"},
    {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
     "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
     "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"},
    {"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
     "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"},
    {"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"},
};
/* RootHashes(): the trees of size 0..8. */
static const char *const root_hashes_hex[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static merkle_hash_t kat_leaves[8];
static merkle_leaf_array_t kat_array = {kat_leaves, 8};

static void hash_kat_leaves(void) {
    for (int i = 0; i < 8; i++) {
        unsigned char entry[16];
        size_t len = strlen(leaf_inputs_hex[i]) / 2;
        cr_assert_eq(hex_decode(leaf_inputs_hex[i], 2 * len, entry, sizeof entry), (int)len);
        cr_assert_eq(merkle_leaf_hash(len ? entry : NULL, len, &kat_leaves[i]), MERKLE_OK);
    }
}

Test(merkle_kat, leaf_and_node_hashes) {
    hash_kat_leaves();
    merkle_hash_t level[8];
    for (int i = 0; i < 8; i++) {
        assert_hash(&kat_leaves[i], node_hashes_hex[0][i], "leaf hash");
        level[i] = kat_leaves[i];
    }
    for (int height = 1, width = 4; height <= 3; height++, width /= 2) {
        for (int i = 0; i < width; i++) {
            cr_assert_eq(merkle_node_hash(&level[2 * i], &level[2 * i + 1], &level[i]), MERKLE_OK);
            assert_hash(&level[i], node_hashes_hex[height][i], "node hash");
        }
    }
}

Test(merkle_kat, roots_of_sizes_0_to_8) {
    hash_kat_leaves();
    for (uint64_t n = 0; n <= 8; n++) {
        merkle_hash_t root;
        cr_assert_eq(merkle_root(merkle_leaf_array_read, &kat_array, n, &root), MERKLE_OK);
        assert_hash(&root, root_hashes_hex[n], "root");
    }
}

/* ---- the golden probes of testdata/inclusion and testdata/consistency ---- */

typedef struct {
    const char *name;
    int consistency;        /* 0: inclusion probe, 1: consistency probe */
    uint64_t a, b;          /* leafIdx, treeSize; or size1, size2 */
    const char *h1, *h2;    /* leafHash, root; or root1, root2 */
    size_t proof_n;
    const char *proof[4];
    int want_err;
} probe_t;

static const probe_t probes[] = {
#include "tests/unit/fixtures/merkle_probes.inc"
};
#define PROBES_N (sizeof probes / sizeof probes[0])

/* Decodes a probe's hex as a hash arriving from a peer would be: through
 * merkle_hash_from_bytes, which refuses the wrong length. */
static merkle_status_t decode_hash(const char *hex, merkle_hash_t *out) {
    unsigned char bytes[64];
    int len = hex_decode(hex, strlen(hex), bytes, sizeof bytes);
    cr_assert(len >= 0, "probe hex %s", hex);
    return merkle_hash_from_bytes(len ? bytes : NULL, (size_t)len, out);
}

static merkle_status_t run_probe(const probe_t *p) {
    merkle_hash_t h1, h2, proof[4];
    merkle_status_t st = decode_hash(p->h1, &h1);
    if (st == MERKLE_OK) st = decode_hash(p->h2, &h2);
    for (size_t i = 0; i < p->proof_n && st == MERKLE_OK; i++) st = decode_hash(p->proof[i], &proof[i]);
    if (st != MERKLE_OK) return st;
    if (p->consistency) return merkle_verify_consistency(p->a, p->b, &h1, &h2, proof, p->proof_n);
    return merkle_verify_inclusion(p->a, p->b, &h1, proof, p->proof_n, &h2);
}

/* The one probe where we are stricter than transparency-dev on purpose: it
 * accepts roots of any length ("don't care", 12 bytes) when size1 = size2;
 * here a hash is 32 bytes or it is refused before any verification. */
static const char stricter_probe[] =
    "testdata/consistency/additional/sizes-are-equal-one-and-proof-is-empty.json";

Test(merkle_kat, golden_probes) {
    size_t happy = 0, refused = 0;
    cr_assert_eq(PROBES_N, 196, "the fixture holds every probe");
    for (size_t i = 0; i < PROBES_N; i++) {
        merkle_status_t st = run_probe(&probes[i]);
        if (strcmp(probes[i].name, stricter_probe) == 0)
            cr_assert_eq(st, MERKLE_ERR_HASH_LENGTH, "%s", probes[i].name);
        else if (probes[i].want_err)
            cr_assert_neq(st, MERKLE_OK, "%s: accepted, must be refused", probes[i].name);
        else
            cr_assert_eq(st, MERKLE_OK, "%s: %s", probes[i].name, merkle_status_text(st));
        if (st == MERKLE_OK) happy++;
        else refused++;
    }
    cr_log_info("golden probes: %zu verified, %zu refused", happy, refused);
    cr_assert_eq(happy, 11, "5 inclusion and 5 consistency happy paths, one single-entry tree");
}

/* Our generator writes exactly the happy-path proofs of the 8-leaf tree. */
Test(merkle_kat, generated_proofs_are_the_golden_ones) {
    hash_kat_leaves();
    size_t checked = 0;
    for (size_t i = 0; i < PROBES_N; i++) {
        const probe_t *p = &probes[i];
        if (p->want_err || strstr(p->name, "/happy-path.json") == NULL) continue;
        merkle_hash_t proof[MERKLE_PROOF_MAX];
        size_t proof_n = 99;
        merkle_status_t st = p->consistency
            ? merkle_consistency_proof(merkle_leaf_array_read, &kat_array, p->a, p->b, proof, &proof_n)
            : merkle_inclusion_proof(merkle_leaf_array_read, &kat_array, p->a, p->b, proof, &proof_n);
        cr_assert_eq(st, MERKLE_OK, "%s", p->name);
        cr_assert_eq(proof_n, p->proof_n, "%s: %zu hashes", p->name, proof_n);
        for (size_t j = 0; j < proof_n; j++) assert_hash(&proof[j], p->proof[j], p->name);
        checked++;
    }
    cr_assert_eq(checked, 10);
}

/* ---- an independent implementation: RFC 9162's recursive definitions in
 * Python over the entries "entry 0" .. "entry 69":
 *   H=lambda b: hashlib.sha256(b).digest(); leaf(e)=H(b'\0'+e);
 *   node(l,r)=H(b'\1'+l+r); mth, path and subproof exactly as §2.1.1,
 *   §2.1.3.1 and §2.1.4.1 write them. */

static merkle_hash_t ref_leaves[70];
static merkle_leaf_array_t ref_array = {ref_leaves, 70};

static void hash_ref_leaves(void) {
    for (int i = 0; i < 70; i++) {
        char entry[16];
        int len = snprintf(entry, sizeof entry, "entry %d", i);
        cr_assert_eq(merkle_leaf_hash(entry, (size_t)len, &ref_leaves[i]), MERKLE_OK);
    }
}

static void assert_proof(const merkle_hash_t *proof, size_t proof_n, const char *const *want,
                         size_t want_n, const char *what) {
    cr_assert_eq(proof_n, want_n, "%s: %zu hashes", what, proof_n);
    for (size_t i = 0; i < want_n; i++) assert_hash(&proof[i], want[i], what);
}

Test(merkle_kat, reference_70) {
    static const struct { uint64_t n; const char *root; } roots[] = {
        {13, "c0c1289f00605f8d7d8780b9f4264c736ccfb84ce91708c2b27e6426bfc7d8a8"},
        {64, "5cbcc083e8000afd157308cca3eb54947a391878cc03736b0fc471bdcd9c4c1c"},
        {65, "afb49a97d20d93db5be319883024c71a024e5a655d42f46cb3541f96df3a994e"},
        {70, "e6e3e845c0aa23367d8fe1498ba9733b4dffa3df21362d42401dcbbfb3909c12"},
    };
    static const char *const path_37_70[] = {
        "b1b3f5d712f262d62acd3abeb78410f3effb9a29af54bbfaeb7aba2a50508043",
        "cc1e62b544742f49d179b0bfd99bb649747082c11538585d9fd3e6fe2e238d56",
        "ba49a594b8eaddcdebb44a4fc06acac780126a4d5efa31fe25eb18f22e96e0bf",
        "8c30f2f0df81b58ab5e997d3b35282ac8713ca2d73f5df464c92cdbbb044fe32",
        "ebaf99abdcbaf1e80d48514a4b0efd4a8246ecb0d83440a691aa8c3d9deb9edb",
        "1a03bd9e0d1e263be168ea07a6b2e7d34c564bda3b73da6a0c8da42fb56d2760",
        "ddc353973849c47e93bd6e80d98f5a5d4c9ffbb71d979deecb56c415b212539b",
    };
    static const char *const proof_13_70[] = {
        "59152c64f690fe6e9940b3ac5c85c37e1ddbd525f817bf99e0e4e2d823d3cf0f",
        "3690d1709a372b003ec8a8652bd055bb189ddc9d5c4096ffca878f43d7012630",
        "dcd5b258be851fec53293ba6f0942e576b825b83ab97526dae04e177291c7926",
        "c146a781cf32be4b9c22deac1fac55bf8f2f3cfe7cf0f081a95fa74ce2d9d3fc",
        "b69732ce5c914162ca9accfaf4e95d3f9874d68805437088aaff184a4db96773",
        "14ac03bb1a8b799a7e1ca3571c7e82732b87134edd4c169a232c049c664053f6",
        "4c93ece1f7ff5b6630eaf7f4431b915a1fe36fafee15ad9d7be2a5eca3d3c95d",
        "ddc353973849c47e93bd6e80d98f5a5d4c9ffbb71d979deecb56c415b212539b",
    };
    hash_ref_leaves();
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
        merkle_hash_t root;
        cr_assert_eq(merkle_root(merkle_leaf_array_read, &ref_array, roots[i].n, &root), MERKLE_OK);
        assert_hash(&root, roots[i].root, "reference root");
    }
    merkle_hash_t proof[MERKLE_PROOF_MAX];
    size_t proof_n;
    cr_assert_eq(merkle_inclusion_proof(merkle_leaf_array_read, &ref_array, 37, 70, proof, &proof_n),
                 MERKLE_OK);
    assert_proof(proof, proof_n, path_37_70, 7, "PATH(37, D[70])");
    cr_assert_eq(merkle_consistency_proof(merkle_leaf_array_read, &ref_array, 13, 70, proof, &proof_n),
                 MERKLE_OK);
    assert_proof(proof, proof_n, proof_13_70, 8, "PROOF(13, D[70])");
}

/* ---- properties over every tree of up to 70 leaves ---------------------- */

static merkle_hash_t ref_roots[71];

static void compute_ref_roots(void) {
    hash_ref_leaves();
    for (uint64_t n = 0; n <= 70; n++)
        cr_assert_eq(merkle_root(merkle_leaf_array_read, &ref_array, n, &ref_roots[n]), MERKLE_OK);
}

/* Flips each byte of h in turn (all its bits) and counts how many of the
 * tampered verifications were refused; restores h. */
#define EACH_BYTE_FLIPPED(h, refused, verify_call)                                  \
    for (size_t byte_ = 0; byte_ < MERKLE_HASH_BYTES; byte_++) {                    \
        (h).bytes[byte_] ^= 0xff;                                                    \
        if ((verify_call) == MERKLE_ERR_ROOT_MISMATCH) (refused)++;                  \
        (h).bytes[byte_] ^= 0xff;                                                    \
    }

static size_t inclusion_tampered(uint64_t m, uint64_t n, merkle_hash_t *proof, size_t proof_n) {
    merkle_hash_t leaf = ref_leaves[m], root = ref_roots[n];
    size_t refused = 0, tries = 0;
    for (size_t i = 0; i < proof_n; i++, tries += MERKLE_HASH_BYTES)
        EACH_BYTE_FLIPPED(proof[i], refused, merkle_verify_inclusion(m, n, &leaf, proof, proof_n, &root));
    EACH_BYTE_FLIPPED(leaf, refused, merkle_verify_inclusion(m, n, &leaf, proof, proof_n, &root));
    EACH_BYTE_FLIPPED(root, refused, merkle_verify_inclusion(m, n, &leaf, proof, proof_n, &root));
    tries += 2 * MERKLE_HASH_BYTES;
    cr_assert_eq(refused, tries, "PATH(%llu, D[%llu]): a tampered byte was accepted",
                 (unsigned long long)m, (unsigned long long)n);
    /* Another leaf, index, length: refused too. */
    for (uint64_t other = 0; other < n; other++)
        if (other != m) {
            cr_assert_neq(merkle_verify_inclusion(other, n, &leaf, proof, proof_n, &root), MERKLE_OK);
            cr_assert_neq(merkle_verify_inclusion(m, n, &ref_leaves[other], proof, proof_n, &root),
                          MERKLE_OK);
            tries += 2;
        }
    cr_assert_eq(merkle_verify_inclusion(m, n, &leaf, proof, proof_n + 1, &root), MERKLE_ERR_PROOF_LENGTH);
    if (proof_n > 0)
        cr_assert_eq(merkle_verify_inclusion(m, n, &leaf, proof, proof_n - 1, &root),
                     MERKLE_ERR_PROOF_LENGTH);
    return tries + 2;
}

Test(merkle_property, every_inclusion_proof_to_70, .timeout = 120) {
    compute_ref_roots();
    size_t proofs = 0, tampered = 0;
    for (uint64_t n = 1; n <= 70; n++)
        for (uint64_t m = 0; m < n; m++) {
            merkle_hash_t proof[MERKLE_PROOF_MAX];
            size_t proof_n = 99;
            cr_assert_eq(merkle_inclusion_proof(merkle_leaf_array_read, &ref_array, m, n, proof, &proof_n),
                         MERKLE_OK);
            cr_assert_eq((int)proof_n, merkle_inclusion_proof_size(m, n));
            cr_assert_eq(merkle_verify_inclusion(m, n, &ref_leaves[m], proof, proof_n, &ref_roots[n]),
                         MERKLE_OK, "PATH(%llu, D[%llu])", (unsigned long long)m, (unsigned long long)n);
            tampered += inclusion_tampered(m, n, proof, proof_n);
            proofs++;
        }
    cr_assert_eq(proofs, 70 * 71 / 2);
    fprintf(stderr, "merkle_property: %zu inclusion proofs verified, %zu tampered ones refused\n",
            proofs, tampered);
}

static size_t consistency_tampered(uint64_t m, uint64_t n, merkle_hash_t *proof, size_t proof_n) {
    merkle_hash_t root_m = ref_roots[m], root_n = ref_roots[n];
    size_t refused = 0, tries = 0;
    for (size_t i = 0; i < proof_n; i++, tries += MERKLE_HASH_BYTES)
        EACH_BYTE_FLIPPED(proof[i], refused,
                          merkle_verify_consistency(m, n, &root_m, &root_n, proof, proof_n));
    EACH_BYTE_FLIPPED(root_m, refused, merkle_verify_consistency(m, n, &root_m, &root_n, proof, proof_n));
    EACH_BYTE_FLIPPED(root_n, refused, merkle_verify_consistency(m, n, &root_m, &root_n, proof, proof_n));
    tries += 2 * MERKLE_HASH_BYTES;
    cr_assert_eq(refused, tries, "PROOF(%llu, D[%llu]): a tampered byte was accepted",
                 (unsigned long long)m, (unsigned long long)n);
    /* The same proof claimed for another first size: refused. */
    for (uint64_t other = 1; other <= n; other++)
        if (other != m) {
            cr_assert_neq(merkle_verify_consistency(other, n, &root_m, &root_n, proof, proof_n), MERKLE_OK,
                          "PROOF(%llu, D[%llu]) accepted as from %llu", (unsigned long long)m,
                          (unsigned long long)n, (unsigned long long)other);
            tries++;
        }
    cr_assert_eq(merkle_verify_consistency(m, n, &root_m, &root_n, proof, proof_n + 1),
                 MERKLE_ERR_PROOF_LENGTH);
    if (proof_n > 0)
        cr_assert_eq(merkle_verify_consistency(m, n, &root_m, &root_n, proof, proof_n - 1),
                     MERKLE_ERR_PROOF_LENGTH);
    return tries + 2;
}

Test(merkle_property, every_consistency_proof_to_70, .timeout = 120) {
    compute_ref_roots();
    size_t proofs = 0, tampered = 0;
    for (uint64_t n = 1; n <= 70; n++)
        for (uint64_t m = 1; m <= n; m++) {
            merkle_hash_t proof[MERKLE_PROOF_MAX];
            size_t proof_n = 99;
            cr_assert_eq(merkle_consistency_proof(merkle_leaf_array_read, &ref_array, m, n, proof, &proof_n),
                         MERKLE_OK);
            cr_assert_eq((int)proof_n, merkle_consistency_proof_size(m, n));
            cr_assert_eq(merkle_verify_consistency(m, n, &ref_roots[m], &ref_roots[n], proof, proof_n),
                         MERKLE_OK, "PROOF(%llu, D[%llu])", (unsigned long long)m, (unsigned long long)n);
            tampered += consistency_tampered(m, n, proof, proof_n);
            proofs++;
        }
    cr_assert_eq(proofs, 70 * 71 / 2);
    fprintf(stderr, "merkle_property: %zu consistency proofs verified, %zu tampered ones refused\n",
            proofs, tampered);
}

/* ---- hostile input: every refusal has its code, none asserts ------------ */

static int failing_read(void *ctx, uint64_t index, merkle_hash_t *out) {
    (void)ctx;
    (void)out;
    return index == 5 ? -1 : merkle_leaf_array_read(&kat_array, index, out);
}

Test(merkle_hostile, sizes_and_indexes) {
    hash_kat_leaves();
    merkle_hash_t h = kat_leaves[0], proof[MERKLE_PROOF_MAX];
    size_t proof_n = 99;
    memset(proof, 0, sizeof proof);
    cr_assert_eq(merkle_verify_inclusion(0, 0, &h, proof, 0, &h), MERKLE_ERR_TREE_SIZE);
    cr_assert_eq(merkle_verify_inclusion(0, MERKLE_LEAVES_MAX + 1, &h, proof, 41, &h), MERKLE_ERR_TREE_SIZE);
    cr_assert_eq(merkle_verify_inclusion(0, UINT64_MAX, &h, proof, 64, &h), MERKLE_ERR_TREE_SIZE);
    cr_assert_eq(merkle_verify_inclusion(1, 1, &h, proof, 0, &h), MERKLE_ERR_INDEX);
    cr_assert_eq(merkle_verify_inclusion(UINT64_MAX, 8, &h, proof, 3, &h), MERKLE_ERR_INDEX);
    cr_assert_eq(merkle_verify_inclusion(0, 8, &h, proof, 2, &h), MERKLE_ERR_PROOF_LENGTH);
    cr_assert_eq(merkle_verify_inclusion(0, 8, &h, proof, 65, &h), MERKLE_ERR_PROOF_LENGTH);
    cr_assert_eq(merkle_verify_inclusion(0, 8, &h, proof, SIZE_MAX, &h), MERKLE_ERR_PROOF_LENGTH);
    /* The largest tree: a well-formed proof of 40 hashes is checked, not refused for size. */
    cr_assert_eq(merkle_inclusion_proof_size(MERKLE_LEAVES_MAX - 1, MERKLE_LEAVES_MAX), 40);
    cr_assert_eq(merkle_verify_inclusion(MERKLE_LEAVES_MAX - 1, MERKLE_LEAVES_MAX, &h, proof, 40, &h),
                 MERKLE_ERR_ROOT_MISMATCH);
    cr_assert_eq(merkle_verify_consistency(0, 8, &h, &h, proof, 0), MERKLE_ERR_INDEX);
    cr_assert_eq(merkle_verify_consistency(0, 0, &h, &h, proof, 0), MERKLE_ERR_INDEX);
    cr_assert_eq(merkle_verify_consistency(9, 8, &h, &h, proof, 0), MERKLE_ERR_INDEX);
    cr_assert_eq(merkle_verify_consistency(1, UINT64_MAX, &h, &h, proof, 3), MERKLE_ERR_TREE_SIZE);
    cr_assert_eq(merkle_verify_consistency(3, 8, &h, &h, proof, 0), MERKLE_ERR_PROOF_LENGTH);
    cr_assert_eq(merkle_verify_consistency(8, 8, &h, &h, proof, 1), MERKLE_ERR_PROOF_LENGTH);
    cr_assert_eq(merkle_verify_consistency(3, 8, &h, &h, proof, 65), MERKLE_ERR_PROOF_LENGTH);
    cr_assert_eq(merkle_consistency_proof_size(MERKLE_LEAVES_MAX - 1, MERKLE_LEAVES_MAX), 41);
    cr_assert_eq(merkle_verify_consistency(MERKLE_LEAVES_MAX - 1, MERKLE_LEAVES_MAX, &h, &h, proof, 41),
                 MERKLE_ERR_ROOT_MISMATCH);
    cr_assert_eq(merkle_inclusion_proof_size(0, 0), -1);
    cr_assert_eq(merkle_consistency_proof_size(0, 5), -1);
    cr_assert_eq(merkle_consistency_proof_size(6, 5), -1);
    /* The generators refuse the same way and write nothing. */
    cr_assert_eq(merkle_inclusion_proof(merkle_leaf_array_read, &kat_array, 0, 0, proof, &proof_n),
                 MERKLE_ERR_TREE_SIZE);
    cr_assert_eq(proof_n, 0);
    cr_assert_eq(merkle_inclusion_proof(merkle_leaf_array_read, &kat_array, 8, 8, proof, &proof_n),
                 MERKLE_ERR_INDEX);
    cr_assert_eq(merkle_consistency_proof(merkle_leaf_array_read, &kat_array, 0, 8, proof, &proof_n),
                 MERKLE_ERR_INDEX);
    cr_assert_eq(merkle_consistency_proof(merkle_leaf_array_read, &kat_array, 4, 3, proof, &proof_n),
                 MERKLE_ERR_INDEX);
    cr_assert_eq(merkle_consistency_proof(merkle_leaf_array_read, &kat_array, 1, MERKLE_LEAVES_MAX + 1,
                                          proof, &proof_n),
                 MERKLE_ERR_TREE_SIZE);
    cr_assert_eq(merkle_root(merkle_leaf_array_read, &kat_array, MERKLE_LEAVES_MAX + 1, &h),
                 MERKLE_ERR_TREE_SIZE);
}

Test(merkle_hostile, reader_failures) {
    hash_kat_leaves();
    merkle_hash_t root, proof[MERKLE_PROOF_MAX];
    size_t proof_n = 99;
    cr_assert_eq(merkle_root(failing_read, NULL, 8, &root), MERKLE_ERR_READ);
    cr_assert_eq(merkle_root(failing_read, NULL, 5, &root), MERKLE_OK, "leaf 5 is not read");
    cr_assert_eq(merkle_inclusion_proof(failing_read, NULL, 0, 8, proof, &proof_n), MERKLE_ERR_READ);
    cr_assert_eq(proof_n, 0);
    cr_assert_eq(merkle_consistency_proof(failing_read, NULL, 3, 8, proof, &proof_n), MERKLE_ERR_READ);
    cr_assert_eq(proof_n, 0);
    /* The array reader refuses what it does not hold: a tree larger than the array. */
    cr_assert_eq(merkle_root(merkle_leaf_array_read, &kat_array, 9, &root), MERKLE_ERR_READ);
}

Test(merkle_hostile, lengths) {
    unsigned char bytes[MERKLE_HASH_BYTES * (MERKLE_PROOF_MAX + 1) + 1];
    merkle_hash_t h, proof[MERKLE_PROOF_MAX];
    size_t proof_n = 99;
    memset(bytes, 7, sizeof bytes);
    cr_assert_eq(merkle_hash_from_bytes(bytes, 31, &h), MERKLE_ERR_HASH_LENGTH);
    cr_assert_eq(merkle_hash_from_bytes(bytes, 33, &h), MERKLE_ERR_HASH_LENGTH);
    cr_assert_eq(merkle_hash_from_bytes(NULL, 0, &h), MERKLE_ERR_HASH_LENGTH);
    cr_assert_eq(merkle_hash_from_bytes(bytes, 32, &h), MERKLE_OK);
    cr_assert_eq(merkle_proof_from_bytes(bytes, 33, proof, &proof_n), MERKLE_ERR_HASH_LENGTH);
    cr_assert_eq(proof_n, 0);
    cr_assert_eq(merkle_proof_from_bytes(bytes, 32 * 65, proof, &proof_n), MERKLE_ERR_PROOF_LENGTH);
    cr_assert_eq(proof_n, 0);
    cr_assert_eq(merkle_proof_from_bytes(bytes, 32 * 64, proof, &proof_n), MERKLE_OK);
    cr_assert_eq(proof_n, 64);
    cr_assert_eq(merkle_proof_from_bytes(NULL, 0, proof, &proof_n), MERKLE_OK);
    cr_assert_eq(proof_n, 0);
    unsigned char *entry = calloc(MERKLE_ENTRY_BYTES_MAX + 1, 1);
    cr_assert(entry != NULL);
    cr_assert_eq(merkle_leaf_hash(entry, MERKLE_ENTRY_BYTES_MAX + 1, &h), MERKLE_ERR_ENTRY_LENGTH);
    cr_assert_eq(merkle_leaf_hash(entry, MERKLE_ENTRY_BYTES_MAX, &h), MERKLE_OK);
    free(entry);
}

Test(merkle_hostile, status_texts) {
    for (int s = MERKLE_OK; s <= MERKLE_ERR_CRYPTO; s++)
        cr_assert_str_neq(merkle_status_text((merkle_status_t)s), "unknown status");
    cr_assert_str_eq(merkle_status_text((merkle_status_t)99), "unknown status");
}

/* ---- the generators from node hashes (a stored tree's read path) --------
 * Every level of a tree of random leaves is built in memory; the node
 * reader counts its reads, fails on request, and refuses (and records) any
 * node whose leaves reach past the size the generator was given. The node
 * generators must give exactly what the leaf generators give. */

#define NODES_LEAVES_MAX 5000

typedef struct {
    merkle_hash_t *level[MERKLE_LEVELS_MAX]; /* level[l][i] = node (l, i) */
    uint64_t width[MERKLE_LEVELS_MAX];       /* nodes complete at level l */
    unsigned levels;
    uint64_t limit;   /* the size the generator was given */
    uint64_t reads;   /* reads so far */
    uint64_t fail_at; /* the read (counted from 0) that fails; UINT64_MAX: none */
    int outside;      /* 1 once a node past limit (or not built) was asked for */
} node_tree_t;

static int node_tree_read(void *ctx, unsigned level, uint64_t index, merkle_hash_t *out) {
    node_tree_t *t = ctx;
    uint64_t read = t->reads++;
    if (level >= t->levels || index >= t->width[level] || ((index + 1) << level) > t->limit) {
        t->outside = 1;
        return -1;
    }
    if (read == t->fail_at) return -1;
    *out = t->level[level][index];
    return 0;
}

/* Fills leaves[0..n) with the hashes of random entries (a fixed xorshift
 * seed: the same tree each run) and builds every complete node above. */
static void node_tree_build(node_tree_t *t, merkle_hash_t *leaves, uint64_t n) {
    uint64_t x = 0x9e3779b97f4a7c15u;
    memset(t, 0, sizeof *t);
    for (uint64_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        cr_assert_eq(merkle_leaf_hash(&x, sizeof x, &leaves[i]), MERKLE_OK);
    }
    t->level[0] = leaves;
    t->width[0] = n;
    for (t->levels = 1; t->width[t->levels - 1] >= 2; t->levels++) {
        unsigned l = t->levels;
        t->width[l] = t->width[l - 1] / 2;
        t->level[l] = calloc(t->width[l], sizeof(merkle_hash_t));
        cr_assert(t->level[l] != NULL);
        for (uint64_t i = 0; i < t->width[l]; i++)
            cr_assert_eq(merkle_node_hash(&t->level[l - 1][2 * i], &t->level[l - 1][2 * i + 1],
                                          &t->level[l][i]),
                         MERKLE_OK);
    }
}

static void node_tree_free(node_tree_t *t) {
    for (unsigned l = 1; l < t->levels; l++) free(t->level[l]);
}

/* Arms the reader for a generator given size limit. */
static node_tree_t *node_tree_arm(node_tree_t *t, uint64_t limit) {
    t->limit = limit;
    t->reads = 0;
    t->fail_at = UINT64_MAX;
    t->outside = 0;
    return t;
}

static int bit_len(uint64_t x) {
    int bits = 0;
    for (; x != 0; x >>= 1) bits++;
    return bits;
}

/* Both generators of one kind on (a, n): the same status, proof and length;
 * the node reader stays within n and reads at most proof_n + bit_len(n)
 * nodes (one non-perfect subtree at most: one read per 1 bit of its size,
 * which is below n, plus one read per other proof hash). */
static void assert_same_proof(node_tree_t *t, int consistency, uint64_t a, uint64_t n) {
    merkle_leaf_array_t array = {t->level[0], t->width[0]};
    merkle_hash_t want[MERKLE_PROOF_MAX], got[MERKLE_PROOF_MAX];
    size_t want_n = 99, got_n = 99;
    merkle_status_t want_st, got_st;
    node_tree_arm(t, n);
    if (consistency) {
        want_st = merkle_consistency_proof(merkle_leaf_array_read, &array, a, n, want, &want_n);
        got_st = merkle_consistency_proof_from_nodes(node_tree_read, t, a, n, got, &got_n);
    } else {
        want_st = merkle_inclusion_proof(merkle_leaf_array_read, &array, a, n, want, &want_n);
        got_st = merkle_inclusion_proof_from_nodes(node_tree_read, t, a, n, got, &got_n);
    }
    const char *what = consistency ? "PROOF" : "PATH";
    cr_assert_eq(got_st, want_st, "%s(%llu, D[%llu]) status", what, (unsigned long long)a,
                 (unsigned long long)n);
    cr_assert_eq(got_n, want_n, "%s(%llu, D[%llu]) length", what, (unsigned long long)a,
                 (unsigned long long)n);
    cr_assert(want_n == 0 || memcmp(got, want, want_n * sizeof want[0]) == 0,
              "%s(%llu, D[%llu]) hashes", what, (unsigned long long)a, (unsigned long long)n);
    cr_assert_eq(t->outside, 0, "a node past %llu was read", (unsigned long long)n);
    cr_assert_leq(t->reads, got_n + (uint64_t)bit_len(n), "%s(%llu, D[%llu]): %llu reads", what,
                  (unsigned long long)a, (unsigned long long)n, (unsigned long long)t->reads);
}

static void assert_same_root(node_tree_t *t, uint64_t n) {
    merkle_leaf_array_t array = {t->level[0], t->width[0]};
    merkle_hash_t want, got;
    cr_assert_eq(merkle_root(merkle_leaf_array_read, &array, n, &want), MERKLE_OK);
    cr_assert_eq(merkle_root_from_nodes(node_tree_read, node_tree_arm(t, n), n, &got), MERKLE_OK);
    cr_assert(merkle_hash_equal(&got, &want), "root of %llu", (unsigned long long)n);
    cr_assert_eq(t->outside, 0);
    cr_assert_eq(t->reads, (uint64_t)__builtin_popcountll(n), "root of %llu: one read per 1 bit",
                 (unsigned long long)n);
}

/* Every (a, n) up to 130 (trees of 8 levels; about 3 s under ASan, where 300
 * took 34 s: the cost grows with n^3); larger trees are sampled below. */
Test(merkle_nodes, same_as_leaves_to_130, .timeout = 600) {
    static merkle_hash_t leaves[130];
    node_tree_t t;
    node_tree_build(&t, leaves, 130);
    for (uint64_t n = 0; n <= 130; n++) {
        assert_same_root(&t, n);
        for (uint64_t a = 0; a <= n; a++) {
            assert_same_proof(&t, 0, a, n); /* a = n: refused alike */
            assert_same_proof(&t, 1, a, n); /* a = 0: refused alike */
        }
    }
    node_tree_free(&t);
}

Test(merkle_nodes, same_as_leaves_to_5000_sampled, .timeout = 600) {
    static merkle_hash_t leaves[NODES_LEAVES_MAX];
    static const uint64_t sizes[] = {131, 255, 256, 257, 300, 301, 511, 512, 513, 1000, 1023, 1024, 1025, 2047, 2048,
                                     2049, 3071, 3333, 4095, 4096, 4097, 4999, 5000};
    node_tree_t t;
    node_tree_build(&t, leaves, NODES_LEAVES_MAX);
    uint64_t x = 12345;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        uint64_t n = sizes[s];
        assert_same_root(&t, n);
        uint64_t picks[12] = {0, 1, 2, n / 2, n / 2 + 1, n - 2, n - 1, n,
                              (uint64_t)1 << (bit_len(n) - 1)};
        for (int i = 9; i < 12; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            picks[i] = x % (n + 1);
        }
        for (int i = 0; i < 12; i++) {
            assert_same_proof(&t, 0, picks[i], n);
            assert_same_proof(&t, 1, picks[i], n);
        }
    }
    node_tree_free(&t);
}

/* A tree of up to MERKLE_LEAVES_MAX equal leaves: node (l, i) is the same
 * hash for every i, so the largest trees can be proven and verified without
 * holding them. The reader still refuses any node past the given size. */
typedef struct {
    merkle_hash_t level[41];
    uint64_t limit, reads;
    int outside;
} flat_tree_t;

static int flat_tree_read(void *ctx, unsigned level, uint64_t index, merkle_hash_t *out) {
    flat_tree_t *t = ctx;
    t->reads++;
    if (level > 40 || index >= (MERKLE_LEAVES_MAX >> level) || ((index + 1) << level) > t->limit) {
        t->outside = 1;
        return -1;
    }
    *out = t->level[level];
    return 0;
}

static flat_tree_t *flat_tree_arm(flat_tree_t *t, uint64_t limit) {
    t->limit = limit;
    t->reads = 0;
    t->outside = 0;
    return t;
}

/* Inclusion of index and consistency from m in the flat tree of size n:
 * generated from nodes, accepted by the verifiers, within 2 * 41 reads. */
static void flat_tree_check(flat_tree_t *t, uint64_t index, uint64_t m, uint64_t n) {
    merkle_hash_t root_n, root_m, proof[MERKLE_PROOF_MAX];
    size_t proof_n;
    cr_assert_eq(merkle_root_from_nodes(flat_tree_read, flat_tree_arm(t, n), n, &root_n), MERKLE_OK);
    cr_assert_leq(t->reads, 40);
    cr_assert_eq(merkle_root_from_nodes(flat_tree_read, flat_tree_arm(t, m), m, &root_m), MERKLE_OK);
    cr_assert_eq(merkle_inclusion_proof_from_nodes(flat_tree_read, flat_tree_arm(t, n), index, n,
                                                   proof, &proof_n),
                 MERKLE_OK);
    cr_assert(t->outside == 0 && t->reads <= proof_n + (uint64_t)bit_len(n) && t->reads <= 2 * 41,
              "PATH(%llu, D[%llu]): %llu reads", (unsigned long long)index, (unsigned long long)n,
              (unsigned long long)t->reads);
    cr_assert_eq(merkle_verify_inclusion(index, n, &t->level[0], proof, proof_n, &root_n), MERKLE_OK);
    cr_assert_eq(merkle_consistency_proof_from_nodes(flat_tree_read, flat_tree_arm(t, n), m, n,
                                                     proof, &proof_n),
                 MERKLE_OK);
    cr_assert(t->outside == 0 && t->reads <= proof_n + (uint64_t)bit_len(n) && t->reads <= 2 * 41,
              "PROOF(%llu, D[%llu]): %llu reads", (unsigned long long)m, (unsigned long long)n,
              (unsigned long long)t->reads);
    cr_assert_eq(merkle_verify_consistency(m, n, &root_m, &root_n, proof, proof_n), MERKLE_OK);
}

Test(merkle_nodes, largest_trees_in_log_reads) {
    flat_tree_t t;
    cr_assert_eq(merkle_leaf_hash("x", 1, &t.level[0]), MERKLE_OK);
    for (int l = 1; l <= 40; l++)
        cr_assert_eq(merkle_node_hash(&t.level[l - 1], &t.level[l - 1], &t.level[l]), MERKLE_OK);
    const uint64_t max = MERKLE_LEAVES_MAX;
    flat_tree_check(&t, max - 1, max - 1, max);
    flat_tree_check(&t, 0, 1, max);
    flat_tree_check(&t, max - 2, max - 2, max - 1); /* 40 one bits: the most reads */
    flat_tree_check(&t, 0, 1, max - 1);
    flat_tree_check(&t, 12345, (max >> 1) + 1, max - 1);
    uint64_t x = 777;
    for (int i = 0; i < 2000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t n = 1 + x % max;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t index = x % n;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        flat_tree_check(&t, index, 1 + x % n, n);
    }
}

Test(merkle_nodes, reader_failures) {
    static merkle_hash_t leaves[100];
    node_tree_t t;
    node_tree_build(&t, leaves, 100);
    merkle_hash_t root, proof[MERKLE_PROOF_MAX];
    size_t proof_n;
    /* Each read of each generator in turn fails: MERKLE_ERR_READ, no proof. */
    for (uint64_t k = 0; k < 3; k++) {
        node_tree_arm(&t, 99)->fail_at = k;
        cr_assert_eq(merkle_root_from_nodes(node_tree_read, &t, 99, &root), MERKLE_ERR_READ);
    }
    for (uint64_t k = 0;; k++) {
        proof_n = 99;
        node_tree_arm(&t, 99)->fail_at = k;
        merkle_status_t st = merkle_inclusion_proof_from_nodes(node_tree_read, &t, 3, 99, proof, &proof_n);
        if (k == t.reads) { /* no read k: done */
            cr_assert_eq(st, MERKLE_OK);
            cr_assert(proof_n > 0 && k >= proof_n);
            break;
        }
        cr_assert_eq(st, MERKLE_ERR_READ);
        cr_assert_eq(proof_n, 0);
    }
    for (uint64_t k = 0;; k++) {
        proof_n = 99;
        node_tree_arm(&t, 99)->fail_at = k;
        merkle_status_t st = merkle_consistency_proof_from_nodes(node_tree_read, &t, 37, 99, proof, &proof_n);
        if (k == t.reads) {
            cr_assert_eq(st, MERKLE_OK);
            cr_assert(proof_n > 0 && k >= proof_n);
            break;
        }
        cr_assert_eq(st, MERKLE_ERR_READ);
        cr_assert_eq(proof_n, 0);
    }
    /* A reader holding fewer nodes than the size claimed fails, never crashes. */
    node_tree_arm(&t, 101);
    cr_assert_eq(merkle_root_from_nodes(node_tree_read, &t, 101, &root), MERKLE_ERR_READ);
    cr_assert_eq(merkle_consistency_proof_from_nodes(node_tree_read, &t, 100, 101, proof, &proof_n),
                 MERKLE_ERR_READ);
    cr_assert_eq(proof_n, 0);
    node_tree_free(&t);
}

Test(merkle_nodes, bad_arguments_read_nothing) {
    static merkle_hash_t leaves[8];
    node_tree_t t;
    node_tree_build(&t, leaves, 8);
    merkle_hash_t root, proof[MERKLE_PROOF_MAX];
    size_t proof_n = 99;
    const uint64_t big = MERKLE_LEAVES_MAX + 1;
    node_tree_arm(&t, 8);
    cr_assert_eq(merkle_root_from_nodes(node_tree_read, &t, big, &root), MERKLE_ERR_TREE_SIZE);
    cr_assert_eq(merkle_root_from_nodes(node_tree_read, &t, UINT64_MAX, &root), MERKLE_ERR_TREE_SIZE);
    cr_assert_eq(merkle_root_from_nodes(node_tree_read, &t, 0, &root), MERKLE_OK);
    assert_hash(&root, root_hashes_hex[0], "the empty tree");
    cr_assert_eq(merkle_inclusion_proof_from_nodes(node_tree_read, &t, 0, 0, proof, &proof_n),
                 MERKLE_ERR_TREE_SIZE);
    cr_assert_eq(proof_n, 0);
    proof_n = 99;
    cr_assert_eq(merkle_inclusion_proof_from_nodes(node_tree_read, &t, 0, big, proof, &proof_n),
                 MERKLE_ERR_TREE_SIZE);
    cr_assert_eq(proof_n, 0);
    cr_assert_eq(merkle_inclusion_proof_from_nodes(node_tree_read, &t, 8, 8, proof, &proof_n),
                 MERKLE_ERR_INDEX);
    cr_assert_eq(merkle_inclusion_proof_from_nodes(node_tree_read, &t, UINT64_MAX, 8, proof, &proof_n),
                 MERKLE_ERR_INDEX);
    cr_assert_eq(merkle_consistency_proof_from_nodes(node_tree_read, &t, 0, 8, proof, &proof_n),
                 MERKLE_ERR_INDEX);
    cr_assert_eq(merkle_consistency_proof_from_nodes(node_tree_read, &t, 9, 8, proof, &proof_n),
                 MERKLE_ERR_INDEX);
    cr_assert_eq(merkle_consistency_proof_from_nodes(node_tree_read, &t, 1, big, proof, &proof_n),
                 MERKLE_ERR_TREE_SIZE);
    cr_assert_eq(proof_n, 0);
    cr_assert_eq(t.reads, 0, "a refused call reads nothing");
    cr_assert_eq(merkle_consistency_proof_from_nodes(node_tree_read, &t, 8, 8, proof, &proof_n),
                 MERKLE_OK);
    cr_assert_eq(proof_n, 0);
    cr_assert_eq(t.reads, 0, "PROOF(n, D[n]) is empty and reads nothing");
    node_tree_free(&t);
}
