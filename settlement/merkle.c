/* merkle.c - RFC 9162 Merkle tree hashing and proofs (merkle.h). */
#include "settlement/merkle.h"
#include "common/carbon_assert.h"
#include "common/sha256.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

static const uint8_t PREFIX_LEAF = 0x00;
static const uint8_t PREFIX_NODE = 0x01;

/* A tree of MERKLE_LEAVES_MAX leaves is 40 levels high: the hashing stack
 * (one hash per level, plus the one being pushed) and every proof fit. */
CARBON_STATIC_ASSERT(MERKLE_LEAVES_MAX <= (UINT64_C(1) << 62), "sizes stay far from overflow");
CARBON_STATIC_ASSERT(MERKLE_LEVELS_MAX >= 42 && MERKLE_PROOF_MAX >= 42,
                     "the stack and proofs hold a tree of MERKLE_LEAVES_MAX leaves");
CARBON_STATIC_ASSERT(sizeof(merkle_hash_t) == MERKLE_HASH_BYTES, "a hash is its bytes");

const char *merkle_status_text(merkle_status_t status) {
    switch (status) {
    case MERKLE_OK: return "ok";
    case MERKLE_ERR_HASH_LENGTH: return "a hash is not 32 bytes long";
    case MERKLE_ERR_ENTRY_LENGTH: return "the entry is too long";
    case MERKLE_ERR_TREE_SIZE: return "the tree size is 0 or too large";
    case MERKLE_ERR_INDEX: return "the index or first size is out of range for the tree size";
    case MERKLE_ERR_PROOF_LENGTH: return "the proof has the wrong number of hashes";
    case MERKLE_ERR_ROOT_MISMATCH: return "the proof does not lead to the root hash";
    case MERKLE_ERR_READ: return "a leaf or node hash could not be read";
    case MERKLE_ERR_CRYPTO: return "SHA-256 failed";
    }
    return "unknown status";
}

int merkle_hash_equal(const merkle_hash_t *a, const merkle_hash_t *b) {
    CARBON_ASSERT(a != NULL && b != NULL);
    return CRYPTO_memcmp(a->bytes, b->bytes, MERKLE_HASH_BYTES) == 0;
}

merkle_status_t merkle_hash_from_bytes(const void *bytes, size_t len, merkle_hash_t *out) {
    CARBON_ASSERT(out != NULL && (bytes != NULL || len == 0));
    if (len != MERKLE_HASH_BYTES) return MERKLE_ERR_HASH_LENGTH;
    memcpy(out->bytes, bytes, MERKLE_HASH_BYTES);
    return MERKLE_OK;
}

merkle_status_t merkle_proof_from_bytes(const void *bytes, size_t len,
                                        merkle_hash_t out[MERKLE_PROOF_MAX], size_t *proof_n) {
    CARBON_ASSERT(out != NULL && proof_n != NULL && (bytes != NULL || len == 0));
    *proof_n = 0;
    if (len % MERKLE_HASH_BYTES != 0) return MERKLE_ERR_HASH_LENGTH;
    if (len / MERKLE_HASH_BYTES > MERKLE_PROOF_MAX) return MERKLE_ERR_PROOF_LENGTH;
    if (len > 0) memcpy(out, bytes, len);
    *proof_n = len / MERKLE_HASH_BYTES;
    return MERKLE_OK;
}

/* *out = SHA-256(prefix || a[0..a_len) || b[0..b_len)), without the
 * prefix byte if prefix is NULL; out may alias a or b (the digest is copied
 * out last). */
static merkle_status_t sha256_parts(const uint8_t *prefix, const void *a, size_t a_len,
                                    const void *b, size_t b_len, merkle_hash_t *out) {
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    const EVP_MD *sha256 = sha256_md();
    int ok = md != NULL && sha256 != NULL && EVP_DigestInit_ex(md, sha256, NULL) == 1 &&
             (prefix == NULL || EVP_DigestUpdate(md, prefix, 1) == 1) &&
             (a_len == 0 || EVP_DigestUpdate(md, a, a_len) == 1) &&
             (b_len == 0 || EVP_DigestUpdate(md, b, b_len) == 1) &&
             EVP_DigestFinal_ex(md, digest, &digest_len) == 1;
    EVP_MD_CTX_free(md);
    if (!ok) return MERKLE_ERR_CRYPTO;
    CARBON_ASSERT(digest_len == MERKLE_HASH_BYTES);
    memcpy(out->bytes, digest, MERKLE_HASH_BYTES);
    return MERKLE_OK;
}

merkle_status_t merkle_leaf_hash(const void *entry, size_t len, merkle_hash_t *out) {
    CARBON_ASSERT(out != NULL && (entry != NULL || len == 0));
    if (len > MERKLE_ENTRY_BYTES_MAX) return MERKLE_ERR_ENTRY_LENGTH;
    return sha256_parts(&PREFIX_LEAF, entry, len, NULL, 0, out);
}

merkle_status_t merkle_node_hash(const merkle_hash_t *left, const merkle_hash_t *right,
                                 merkle_hash_t *out) {
    CARBON_ASSERT(left != NULL && right != NULL && out != NULL);
    return sha256_parts(&PREFIX_NODE, left->bytes, MERKLE_HASH_BYTES, right->bytes,
                        MERKLE_HASH_BYTES, out);
}

int merkle_leaf_array_read(void *ctx, uint64_t index, merkle_hash_t *out) {
    const merkle_leaf_array_t *array = ctx;
    CARBON_ASSERT(array != NULL && out != NULL);
    if (index >= array->count || array->hashes == NULL) return -1;
    *out = array->hashes[index];
    return 0;
}

/* The largest power of two smaller than size (size >= 2): RFC 9162's k. */
static uint64_t split_point(uint64_t size) {
    CARBON_ASSERT(size >= 2);
    uint64_t k = 1;
    while ((k << 1) < size) k <<= 1;
    return k;
}

/* Number of bits needed to write x (0 for 0). */
static int bit_length(uint64_t x) {
    int bits = 0;
    for (; x != 0; x >>= 1) bits++;
    return bits;
}

static int popcount(uint64_t x) {
    int ones = 0;
    for (; x != 0; x >>= 1) ones += (int)(x & 1);
    return ones;
}

static int trailing_zeros(uint64_t x) {
    CARBON_ASSERT(x != 0);
    int zeros = 0;
    for (; (x & 1) == 0; x >>= 1) zeros++;
    return zeros;
}

/* Replaces the two hashes on top of the stack (*depth >= 2) by their node. */
static merkle_status_t stack_merge(merkle_hash_t stack[MERKLE_LEVELS_MAX], size_t *depth) {
    CARBON_ASSERT(*depth >= 2 && *depth <= MERKLE_LEVELS_MAX);
    merkle_status_t st = merkle_node_hash(&stack[*depth - 2], &stack[*depth - 1], &stack[*depth - 2]);
    if (st == MERKLE_OK) (*depth)--;
    return st;
}

/* *out = MTH(D[lo:hi]) for 0 <= lo < hi <= MERKLE_LEAVES_MAX, without
 * recursion. The stack holds the roots of the perfect subtrees of the leaves
 * read so far, largest first; after leaf i (counted from lo) the subtrees
 * whose size divides i + 1 merge. At the end folding them from the right
 * splits at the largest power of two each time, as MTH does. */
static merkle_status_t range_root(merkle_leaf_read_fn read, void *ctx, uint64_t lo, uint64_t hi,
                                  merkle_hash_t *out) {
    CARBON_ASSERT(read != NULL && lo < hi && hi <= MERKLE_LEAVES_MAX);
    merkle_hash_t stack[MERKLE_LEVELS_MAX];
    size_t depth = 0;
    merkle_status_t st = MERKLE_OK;
    for (uint64_t i = 0; i < hi - lo; i++) {
        CARBON_ASSERT(depth < MERKLE_LEVELS_MAX);
        if (read(ctx, lo + i, &stack[depth]) != 0) return MERKLE_ERR_READ;
        depth++;
        for (uint64_t done = i + 1; (done & 1) == 0 && st == MERKLE_OK; done >>= 1)
            st = stack_merge(stack, &depth);
        if (st != MERKLE_OK) return st;
    }
    while (depth > 1 && st == MERKLE_OK) st = stack_merge(stack, &depth);
    if (st == MERKLE_OK) *out = stack[0];
    return st;
}

merkle_status_t merkle_root(merkle_leaf_read_fn read, void *ctx, uint64_t n, merkle_hash_t *root) {
    CARBON_ASSERT(read != NULL && root != NULL);
    if (n > MERKLE_LEAVES_MAX) return MERKLE_ERR_TREE_SIZE;
    if (n == 0) return sha256_parts(NULL, NULL, 0, NULL, 0, root); /* MTH({}) = SHA-256() */
    return range_root(read, ctx, 0, n, root);
}

/* *out = MTH(D[lo:hi]) from node hashes, for 0 <= lo < hi <=
 * MERKLE_LEAVES_MAX with lo a multiple of the power of two at or above
 * hi - lo (the ranges RFC 9162's recursions split off). The perfect subtrees
 * of hi - lo's binary decomposition, largest first from lo, are nodes; MTH
 * splits at the largest power of two below the size, which is the first of
 * them unless it is the whole range, so MTH is their fold from the right. */
static merkle_status_t nodes_range_root(merkle_node_read_fn read, void *ctx, uint64_t lo,
                                        uint64_t hi, merkle_hash_t *out) {
    CARBON_ASSERT(read != NULL && lo < hi && hi <= MERKLE_LEAVES_MAX);
    uint64_t size = hi - lo;
    int top = bit_length(size) - 1;
    uint64_t span = (UINT64_C(1) << top) == size ? size : UINT64_C(1) << (top + 1);
    CARBON_ASSERT((lo & (span - 1)) == 0);
    merkle_hash_t stack[MERKLE_LEVELS_MAX];
    size_t depth = 0;
    uint64_t at = lo;
    for (int level = top; level >= 0; level--) {
        uint64_t width = UINT64_C(1) << level;
        if ((size & width) == 0) continue;
        CARBON_ASSERT(depth < MERKLE_LEVELS_MAX && at + width <= hi);
        if (read(ctx, (unsigned)level, at >> level, &stack[depth]) != 0) return MERKLE_ERR_READ;
        depth++;
        at += width;
    }
    merkle_status_t st = MERKLE_OK;
    while (depth > 1 && st == MERKLE_OK) st = stack_merge(stack, &depth);
    if (st == MERKLE_OK) *out = stack[0];
    return st;
}

/* Where the proof generators get subtree roots: leaves (leaf != NULL) or
 * nodes (node != NULL), and the reader's ctx. */
typedef struct {
    merkle_leaf_read_fn leaf;
    merkle_node_read_fn node;
    void *ctx;
} source_t;

/* *out = MTH(D[lo:hi]) from src, for ranges as nodes_range_root takes. */
static merkle_status_t source_root(const source_t *src, uint64_t lo, uint64_t hi,
                                   merkle_hash_t *out) {
    CARBON_ASSERT((src->leaf == NULL) != (src->node == NULL));
    if (src->node != NULL) return nodes_range_root(src->node, src->ctx, lo, hi, out);
    return range_root(src->leaf, src->ctx, lo, hi, out);
}

merkle_status_t merkle_root_from_nodes(merkle_node_read_fn read, void *ctx, uint64_t n,
                                       merkle_hash_t *root) {
    CARBON_ASSERT(read != NULL && root != NULL);
    if (n > MERKLE_LEAVES_MAX) return MERKLE_ERR_TREE_SIZE;
    if (n == 0) return sha256_parts(NULL, NULL, 0, NULL, 0, root); /* MTH({}) = SHA-256() */
    return nodes_range_root(read, ctx, 0, n, root);
}

int merkle_inclusion_proof_size(uint64_t index, uint64_t n) {
    if (n > MERKLE_LEAVES_MAX || index >= n) return -1;
    /* Below the level where the paths to index and to n - 1 part, one hash
     * per level; above it, one per left sibling, i.e. per 1 bit of index. */
    int inner = bit_length(index ^ (n - 1));
    return inner + popcount(index >> inner);
}

int merkle_consistency_proof_size(uint64_t m, uint64_t n) {
    if (n > MERKLE_LEAVES_MAX || m == 0 || m > n) return -1;
    if (m == n) return 0;
    /* The inclusion path of leaf m - 1 in the tree of size n, less the
     * levels inside the perfect subtree that ends at m (its root is sent
     * once, and not at all when it is the whole old tree, m a power of 2). */
    int inner = bit_length((m - 1) ^ (n - 1));
    int border = popcount((m - 1) >> inner);
    int shift = trailing_zeros(m);
    CARBON_ASSERT(shift < inner);
    int seed = (m >> shift) == 1 ? 0 : 1;
    return seed + (inner - shift) + border;
}

/* Copies the count hashes of top_down (collected from the root down) into
 * proof leaves first, as RFC 9162 orders them. */
static void write_leaves_first(const merkle_hash_t *top_down, size_t count,
                               merkle_hash_t proof[MERKLE_PROOF_MAX], size_t *proof_n) {
    CARBON_ASSERT(count <= MERKLE_PROOF_MAX);
    for (size_t i = 0; i < count; i++) proof[i] = top_down[count - 1 - i];
    *proof_n = count;
}

/* Writes PATH(index, D[n]) from src into proof, for index < n <=
 * MERKLE_LEAVES_MAX; *proof_n is left 0 on an error. */
static merkle_status_t inclusion_path(const source_t *src, uint64_t index, uint64_t n,
                                      merkle_hash_t proof[MERKLE_PROOF_MAX], size_t *proof_n) {
    CARBON_ASSERT(index < n && n <= MERKLE_LEAVES_MAX);
    /* PATH(m, D[lo:hi]) from the top: the sibling of the half holding the
     * leaf, then descend into that half. */
    merkle_hash_t top_down[MERKLE_PROOF_MAX];
    size_t count = 0;
    uint64_t lo = 0, hi = n;
    while (hi - lo > 1) {
        uint64_t k = split_point(hi - lo);
        merkle_status_t st;
        CARBON_ASSERT(count < MERKLE_PROOF_MAX);
        if (index < lo + k) {
            st = source_root(src, lo + k, hi, &top_down[count]);
            hi = lo + k;
        } else {
            st = source_root(src, lo, lo + k, &top_down[count]);
            lo += k;
        }
        if (st != MERKLE_OK) return st;
        count++;
    }
    write_leaves_first(top_down, count, proof, proof_n);
    return MERKLE_OK;
}

/* Writes PROOF(m, D[n]) from src into proof, for 0 < m <= n <=
 * MERKLE_LEAVES_MAX; *proof_n is left 0 on an error. */
static merkle_status_t consistency_subproof(const source_t *src, uint64_t m, uint64_t n,
                                            merkle_hash_t proof[MERKLE_PROOF_MAX],
                                            size_t *proof_n) {
    CARBON_ASSERT(m > 0 && m <= n && n <= MERKLE_LEAVES_MAX);
    /* SUBPROOF(m, D[lo:hi], whole) from the top; whole stays 1 while the old
     * tree D[0:m] is the left edge of D[lo:hi], and then its root is known
     * to the verifier and not sent. */
    merkle_hash_t top_down[MERKLE_PROOF_MAX];
    size_t count = 0;
    uint64_t lo = 0, hi = n;
    int whole = 1;
    merkle_status_t st = MERKLE_OK;
    while (m - lo != hi - lo && st == MERKLE_OK) {
        uint64_t k = split_point(hi - lo);
        CARBON_ASSERT(count < MERKLE_PROOF_MAX);
        if (m - lo <= k) {
            st = source_root(src, lo + k, hi, &top_down[count++]);
            hi = lo + k;
        } else {
            st = source_root(src, lo, lo + k, &top_down[count++]);
            lo += k;
            whole = 0;
        }
    }
    if (st == MERKLE_OK && !whole) {
        CARBON_ASSERT(count < MERKLE_PROOF_MAX);
        st = source_root(src, lo, hi, &top_down[count++]);
    }
    if (st != MERKLE_OK) return st;
    write_leaves_first(top_down, count, proof, proof_n);
    return MERKLE_OK;
}

merkle_status_t merkle_inclusion_proof(merkle_leaf_read_fn read, void *ctx, uint64_t index,
                                       uint64_t n, merkle_hash_t proof[MERKLE_PROOF_MAX],
                                       size_t *proof_n) {
    CARBON_ASSERT(read != NULL && proof != NULL && proof_n != NULL);
    *proof_n = 0;
    if (n == 0 || n > MERKLE_LEAVES_MAX) return MERKLE_ERR_TREE_SIZE;
    if (index >= n) return MERKLE_ERR_INDEX;
    const source_t src = {read, NULL, ctx};
    return inclusion_path(&src, index, n, proof, proof_n);
}

merkle_status_t merkle_inclusion_proof_from_nodes(merkle_node_read_fn read, void *ctx,
                                                  uint64_t index, uint64_t n,
                                                  merkle_hash_t proof[MERKLE_PROOF_MAX],
                                                  size_t *proof_n) {
    CARBON_ASSERT(read != NULL && proof != NULL && proof_n != NULL);
    *proof_n = 0;
    if (n == 0 || n > MERKLE_LEAVES_MAX) return MERKLE_ERR_TREE_SIZE;
    if (index >= n) return MERKLE_ERR_INDEX;
    const source_t src = {NULL, read, ctx};
    return inclusion_path(&src, index, n, proof, proof_n);
}

merkle_status_t merkle_consistency_proof(merkle_leaf_read_fn read, void *ctx, uint64_t m,
                                         uint64_t n, merkle_hash_t proof[MERKLE_PROOF_MAX],
                                         size_t *proof_n) {
    CARBON_ASSERT(read != NULL && proof != NULL && proof_n != NULL);
    *proof_n = 0;
    if (n > MERKLE_LEAVES_MAX) return MERKLE_ERR_TREE_SIZE;
    if (m == 0 || m > n) return MERKLE_ERR_INDEX;
    const source_t src = {read, NULL, ctx};
    return consistency_subproof(&src, m, n, proof, proof_n);
}

merkle_status_t merkle_consistency_proof_from_nodes(merkle_node_read_fn read, void *ctx,
                                                    uint64_t m, uint64_t n,
                                                    merkle_hash_t proof[MERKLE_PROOF_MAX],
                                                    size_t *proof_n) {
    CARBON_ASSERT(read != NULL && proof != NULL && proof_n != NULL);
    *proof_n = 0;
    if (n > MERKLE_LEAVES_MAX) return MERKLE_ERR_TREE_SIZE;
    if (m == 0 || m > n) return MERKLE_ERR_INDEX;
    const source_t src = {NULL, read, ctx};
    return consistency_subproof(&src, m, n, proof, proof_n);
}

/* RFC 9162 §2.1.3.2 step 4.b.ii and §2.1.4.2 steps 4 and 6.b.iii: shift fn
 * and sn right together while LSB(fn) is not set and fn is not 0. */
static void shift_while_even(uint64_t *fn, uint64_t *sn) {
    while ((*fn & 1) == 0 && *fn != 0) {
        *fn >>= 1;
        *sn >>= 1;
    }
}

merkle_status_t merkle_verify_inclusion(uint64_t index, uint64_t n, const merkle_hash_t *leaf_hash,
                                        const merkle_hash_t *proof, size_t proof_n,
                                        const merkle_hash_t *root) {
    CARBON_ASSERT(leaf_hash != NULL && root != NULL && (proof != NULL || proof_n == 0));
    if (n == 0 || n > MERKLE_LEAVES_MAX) return MERKLE_ERR_TREE_SIZE;
    if (index >= n) return MERKLE_ERR_INDEX;
    if (proof_n > MERKLE_PROOF_MAX || proof_n != (size_t)merkle_inclusion_proof_size(index, n))
        return MERKLE_ERR_PROOF_LENGTH;
    uint64_t fn = index, sn = n - 1;
    merkle_hash_t r = *leaf_hash;
    for (size_t i = 0; i < proof_n; i++) {
        merkle_status_t st;
        if (sn == 0) return MERKLE_ERR_ROOT_MISMATCH;
        if ((fn & 1) != 0 || fn == sn) {
            st = merkle_node_hash(&proof[i], &r, &r);
            if ((fn & 1) == 0) shift_while_even(&fn, &sn);
        } else {
            st = merkle_node_hash(&r, &proof[i], &r);
        }
        if (st != MERKLE_OK) return st;
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && merkle_hash_equal(&r, root) ? MERKLE_OK : MERKLE_ERR_ROOT_MISMATCH;
}

/* §2.1.4.2 steps 3 to 7 over path[0..path_n) (the proof, with root_m in
 * front when m is a power of two), for 0 < m < n. */
static merkle_status_t consistency_walk(uint64_t m, uint64_t n, const merkle_hash_t *const *path,
                                        size_t path_n, const merkle_hash_t *root_m,
                                        const merkle_hash_t *root_n) {
    CARBON_ASSERT(m > 0 && m < n && path_n >= 1);
    uint64_t fn = m - 1, sn = n - 1;
    while ((fn & 1) != 0) {
        fn >>= 1;
        sn >>= 1;
    }
    merkle_hash_t fr = *path[0], sr = *path[0];
    for (size_t i = 1; i < path_n; i++) {
        merkle_status_t st;
        if (sn == 0) return MERKLE_ERR_ROOT_MISMATCH;
        if ((fn & 1) != 0 || fn == sn) {
            st = merkle_node_hash(path[i], &fr, &fr);
            if (st == MERKLE_OK) st = merkle_node_hash(path[i], &sr, &sr);
            if ((fn & 1) == 0) shift_while_even(&fn, &sn);
        } else {
            st = merkle_node_hash(&sr, path[i], &sr);
        }
        if (st != MERKLE_OK) return st;
        fn >>= 1;
        sn >>= 1;
    }
    int ok = merkle_hash_equal(&fr, root_m) & merkle_hash_equal(&sr, root_n);
    return ok && sn == 0 ? MERKLE_OK : MERKLE_ERR_ROOT_MISMATCH;
}

merkle_status_t merkle_verify_consistency(uint64_t m, uint64_t n, const merkle_hash_t *root_m,
                                          const merkle_hash_t *root_n, const merkle_hash_t *proof,
                                          size_t proof_n) {
    CARBON_ASSERT(root_m != NULL && root_n != NULL && (proof != NULL || proof_n == 0));
    if (n > MERKLE_LEAVES_MAX) return MERKLE_ERR_TREE_SIZE;
    if (m == 0 || m > n) return MERKLE_ERR_INDEX;
    if (proof_n > MERKLE_PROOF_MAX || proof_n != (size_t)merkle_consistency_proof_size(m, n))
        return MERKLE_ERR_PROOF_LENGTH;
    if (m == n) return merkle_hash_equal(root_m, root_n) ? MERKLE_OK : MERKLE_ERR_ROOT_MISMATCH;
    /* Step 1 (an empty proof fails) holds: proof_n >= 1 for m < n. Step 2:
     * if m is a power of two, root_m is the first value of the path. */
    const merkle_hash_t *path[MERKLE_PROOF_MAX + 1];
    size_t path_n = 0;
    if ((m & (m - 1)) == 0) path[path_n++] = root_m;
    for (size_t i = 0; i < proof_n; i++) path[path_n++] = &proof[i];
    return consistency_walk(m, n, path, path_n, root_m, root_n);
}
