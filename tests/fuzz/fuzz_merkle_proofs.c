/* fuzz_merkle_proofs.c - the two proof verifiers of settlement/merkle.h
 * (merkle_verify_inclusion, merkle_verify_consistency) on arbitrary bytes.
 *
 * The first byte chooses how the rest is read:
 *   even: raw. Two sizes (8 bytes each, little-endian; bit 1 of the first
 *     byte folds them below 256 so that the interesting small trees are
 *     reached), two 32-byte hashes, then a proof decoded by
 *     merkle_proof_from_bytes (which may refuse it). Both verifiers run on
 *     the same material; whatever they say, it must be a known status, and
 *     an acceptance must be one the contract allows (sizes in range, the
 *     proof the length merkle_*_proof_size gives, equal roots for m = n).
 *   odd: oracle. A tree of 1..70 leaves, a leaf index and a first size are
 *     taken from the next bytes; the real proofs are generated and must
 *     verify. Then the rest is a list of edits (offset, xor mask) on the
 *     verifier's input (leaf or first root, root, proof hashes), and a
 *     last byte may cut or lengthen the proof: a verifier that accepts the
 *     edited input must have been given the original one back (or, for
 *     m = n or a tree of one leaf, two equal hashes and no proof).
 *     Before the edits, every level of the tree is built and the generators
 *     from nodes (merkle_*_from_nodes) must give exactly the roots and the
 *     proof the generators from leaves gave, reading only nodes within the
 *     size they were given.
 * Any crash, sanitizer report or failed FUZZ_CHECK is a finding. */
#include "tests/fuzz/fuzz_common.h"

#include "settlement/merkle.h"

#include <string.h>

#define ORACLE_LEAVES_MAX 70

typedef struct {
    const uint8_t *data;
    size_t size, pos;
} reader_t;

static uint8_t next_byte(reader_t *r) {
    return r->pos < r->size ? r->data[r->pos++] : 0;
}

static uint64_t next_u64(reader_t *r) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)next_byte(r) << (8 * i);
    return v;
}

static void next_hash(reader_t *r, merkle_hash_t *h) {
    for (size_t i = 0; i < MERKLE_HASH_BYTES; i++) h->bytes[i] = next_byte(r);
}

static int known_status(merkle_status_t st) {
    return st >= MERKLE_OK && st <= MERKLE_ERR_CRYPTO;
}

static void fuzz_raw(reader_t *r, uint8_t mode) {
    uint64_t a = next_u64(r), n = next_u64(r);
    if (mode & 2) {
        a &= 0xff;
        n &= 0xff;
    }
    merkle_hash_t h1, h2, proof[MERKLE_PROOF_MAX];
    next_hash(r, &h1);
    next_hash(r, &h2);
    size_t proof_n = 0;
    merkle_status_t st = merkle_proof_from_bytes(r->data + r->pos, r->size - r->pos, proof, &proof_n);
    FUZZ_CHECK(known_status(st), "proof_from_bytes status %d", (int)st);
    if (st != MERKLE_OK) {
        FUZZ_CHECK(proof_n == 0, "a refused proof has %zu hashes", proof_n);
        return;
    }
    FUZZ_CHECK(proof_n <= MERKLE_PROOF_MAX && proof_n * MERKLE_HASH_BYTES == r->size - r->pos,
               "decoded %zu hashes from %zu bytes", proof_n, r->size - r->pos);
    st = merkle_verify_inclusion(a, n, &h1, proof, proof_n, &h2);
    FUZZ_CHECK(known_status(st), "inclusion status %d", (int)st);
    if (st == MERKLE_OK)
        FUZZ_CHECK(a < n && n <= MERKLE_LEAVES_MAX &&
                       (int)proof_n == merkle_inclusion_proof_size(a, n),
                   "inclusion accepted for index %llu size %llu with %zu hashes",
                   (unsigned long long)a, (unsigned long long)n, proof_n);
    st = merkle_verify_consistency(a, n, &h1, &h2, proof, proof_n);
    FUZZ_CHECK(known_status(st), "consistency status %d", (int)st);
    if (st == MERKLE_OK)
        FUZZ_CHECK(a > 0 && a <= n && n <= MERKLE_LEAVES_MAX &&
                       (int)proof_n == merkle_consistency_proof_size(a, n) &&
                       (a != n || merkle_hash_equal(&h1, &h2)),
                   "consistency accepted from %llu to %llu with %zu hashes",
                   (unsigned long long)a, (unsigned long long)n, proof_n);
}

/* Every level of a tree of at most ORACLE_LEAVES_MAX leaves, and the size
 * the generator reading it was given. */
typedef struct {
    merkle_hash_t level[8][ORACLE_LEAVES_MAX]; /* 2^7 > ORACLE_LEAVES_MAX */
    uint64_t width[8];
    uint64_t limit;
} node_levels_t;

static void build_levels(node_levels_t *t, const merkle_hash_t *leaves, uint64_t n) {
    memcpy(t->level[0], leaves, n * sizeof leaves[0]);
    t->width[0] = n;
    for (unsigned l = 1; l < 8; l++) {
        t->width[l] = t->width[l - 1] / 2;
        for (uint64_t i = 0; i < t->width[l]; i++)
            FUZZ_CHECK(merkle_node_hash(&t->level[l - 1][2 * i], &t->level[l - 1][2 * i + 1],
                                        &t->level[l][i]) == MERKLE_OK,
                       "node hash");
    }
}

static int levels_read(void *ctx, unsigned level, uint64_t index, merkle_hash_t *out) {
    const node_levels_t *t = ctx;
    FUZZ_CHECK(level < 8 && index < t->width[level] && ((index + 1) << level) <= t->limit,
               "node (%u, %llu) read for size %llu", level, (unsigned long long)index,
               (unsigned long long)t->limit);
    *out = t->level[level][index];
    return 0;
}

/* The generators from nodes agree with *real, made from leaves: the root
 * of n (and of m), and the proof. */
static void check_from_nodes(const merkle_hash_t *leaves, uint64_t n, uint64_t index, uint64_t m,
                             int consistency, const merkle_hash_t real[2 + MERKLE_PROOF_MAX],
                             size_t real_n) {
    static node_levels_t t;
    merkle_hash_t root, proof[MERKLE_PROOF_MAX];
    size_t proof_n = 0;
    merkle_status_t st;
    build_levels(&t, leaves, n);
    t.limit = n;
    FUZZ_CHECK(merkle_root_from_nodes(levels_read, &t, n, &root) == MERKLE_OK &&
                   merkle_hash_equal(&root, &real[1]),
               "root of %llu from nodes", (unsigned long long)n);
    if (consistency) {
        t.limit = m;
        FUZZ_CHECK(merkle_root_from_nodes(levels_read, &t, m, &root) == MERKLE_OK &&
                       merkle_hash_equal(&root, &real[0]),
                   "root of %llu from nodes", (unsigned long long)m);
        t.limit = n;
        st = merkle_consistency_proof_from_nodes(levels_read, &t, m, n, proof, &proof_n);
    } else {
        st = merkle_inclusion_proof_from_nodes(levels_read, &t, index, n, proof, &proof_n);
    }
    FUZZ_CHECK(st == MERKLE_OK && proof_n == real_n &&
                   (real_n == 0 || memcmp(proof, &real[2], real_n * sizeof proof[0]) == 0),
               "%s proof from nodes (m %llu, index %llu, n %llu) differs: %s",
               consistency ? "consistency" : "inclusion", (unsigned long long)m,
               (unsigned long long)index, (unsigned long long)n, merkle_status_text(st));
}

/* The verifier's input as one buffer: two hashes, then the proof. */
typedef struct {
    merkle_hash_t hashes[2 + MERKLE_PROOF_MAX];
    size_t proof_n;
} material_t;

/* Applies the edits left in r to a copy of *m; returns 1 if the copy
 * differs from *m. */
static int edit(reader_t *r, const material_t *m, material_t *out) {
    *out = *m;
    uint8_t *bytes = (uint8_t *)out->hashes;
    size_t len = (2 + m->proof_n) * MERKLE_HASH_BYTES;
    while (r->size - r->pos >= 3) {
        size_t at = ((size_t)next_byte(r) << 8 | next_byte(r)) % len;
        bytes[at] ^= next_byte(r);
    }
    uint8_t cut = next_byte(r);
    if (cut & 0x80) out->proof_n = (size_t)(cut & 0x7f) % (MERKLE_PROOF_MAX + 1);
    return out->proof_n != m->proof_n ||
           memcmp(out->hashes, m->hashes, (2 + m->proof_n) * MERKLE_HASH_BYTES) != 0;
}

static void fuzz_oracle(reader_t *r) {
    static merkle_hash_t leaves[ORACLE_LEAVES_MAX];
    uint8_t salt = next_byte(r);
    uint64_t n = 1 + next_byte(r) % ORACLE_LEAVES_MAX, index = next_byte(r) % n;
    uint64_t m = 1 + next_byte(r) % n;
    int consistency = next_byte(r) & 1;
    for (uint64_t i = 0; i < n; i++) {
        uint8_t entry[2] = {salt, (uint8_t)i};
        FUZZ_CHECK(merkle_leaf_hash(entry, sizeof entry, &leaves[i]) == MERKLE_OK, "leaf hash");
    }
    merkle_leaf_array_t array = {leaves, n};
    material_t real, edited;
    merkle_status_t st;
    memset(&real, 0, sizeof real);
    FUZZ_CHECK(merkle_root(merkle_leaf_array_read, &array, n, &real.hashes[1]) == MERKLE_OK, "root");
    if (consistency) {
        FUZZ_CHECK(merkle_root(merkle_leaf_array_read, &array, m, &real.hashes[0]) == MERKLE_OK, "root m");
        st = merkle_consistency_proof(merkle_leaf_array_read, &array, m, n, &real.hashes[2], &real.proof_n);
    } else {
        real.hashes[0] = leaves[index];
        st = merkle_inclusion_proof(merkle_leaf_array_read, &array, index, n, &real.hashes[2], &real.proof_n);
    }
    FUZZ_CHECK(st == MERKLE_OK, "generating a proof: %s", merkle_status_text(st));
    check_from_nodes(leaves, n, index, m, consistency, real.hashes, real.proof_n);
    int changed = edit(r, &real, &edited);
    const merkle_hash_t *h = edited.hashes;
    st = consistency ? merkle_verify_consistency(m, n, &h[0], &h[1], &h[2], edited.proof_n)
                     : merkle_verify_inclusion(index, n, &h[0], &h[2], edited.proof_n, &h[1]);
    FUZZ_CHECK(known_status(st), "status %d", (int)st);
    /* An edit may leave a true statement: for m = n (or a tree of one leaf)
     * with no proof, equal roots (leaf and root) are all there is to check. */
    int trivial = edited.proof_n == 0 && merkle_hash_equal(&h[0], &h[1]) &&
                  (consistency ? m == n : n == 1);
    FUZZ_CHECK((st == MERKLE_OK) == (!changed || trivial),
               "%s proof (m %llu, index %llu, n %llu): %s input %s",
               consistency ? "consistency" : "inclusion", (unsigned long long)m,
               (unsigned long long)index, (unsigned long long)n, changed ? "edited" : "real",
               st == MERKLE_OK ? "accepted" : merkle_status_text(st));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    reader_t r = {data, size, 0};
    uint8_t mode = next_byte(&r);
    if (mode & 1) fuzz_oracle(&r);
    else fuzz_raw(&r, mode);
    return 0;
}
