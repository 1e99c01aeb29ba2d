/* merkle.h - Merkle tree hashing and proofs of RFC 9162 §2.1 (the same
 * hashing as RFC 6962), for the audit log as a transparency log (DESIGN §8).
 *
 * For a list of entries D[0..n):
 *   leaf hash  SHA-256(0x00 || entry)
 *   node hash  SHA-256(0x01 || left || right)
 *   MTH({})    SHA-256("")  (the empty tree)
 *   MTH(D[n])  the leaf hash if n = 1, else the node hash of MTH(D[0:k]) and
 *              MTH(D[k:n]) where k is the largest power of two smaller than n.
 * Inclusion proofs are PATH(m, D[n]) of §2.1.3.1 and consistency proofs
 * PROOF(m, D[n]) of §2.1.4.1, ordered from the leaves up; the verifiers
 * follow §2.1.3.2 and §2.1.4.2 step by step.
 *
 * Every size, index and proof given to this module may come from a hostile
 * peer: each is checked and refused with a merkle_status_t, never by an
 * assertion. (Pointers are the caller's contract: NULL where data is required
 * is a bug, and stops the process.) Nothing here recurses; the hashing keeps
 * a fixed stack of MERKLE_LEVELS_MAX hashes. OpenSSL's SHA-256 through EVP.
 *
 * The generators read leaf hashes through a callback, so the caller decides
 * where they live (an array, the store's tiles) and how much memory that
 * takes; they read O(n) leaves and compute O(n) hashes per call. The
 * *_from_nodes generators read the hashes of complete subtrees (nodes of any
 * level, as a stored tree keeps them) instead: O(log n) reads and hashes per
 * call, and the same results. */
#ifndef SETTLEMENT_MERKLE_H
#define SETTLEMENT_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define MERKLE_HASH_BYTES 32
/* The largest tree this module hashes, proves or verifies: 2^40 entries. */
#define MERKLE_LEAVES_MAX (UINT64_C(1) << 40)
/* The longest entry merkle_leaf_hash takes (1 MiB). */
#define MERKLE_ENTRY_BYTES_MAX (1u << 20)
/* Hashes kept by the hashing stack, and the most hashes in any proof this
 * module accepts or writes. In a tree of at most MERKLE_LEAVES_MAX leaves an
 * inclusion proof has at most 40 hashes and a consistency proof at most 41;
 * 64 bounds what a decoder reads before it looks at the sizes. */
#define MERKLE_LEVELS_MAX 64
#define MERKLE_PROOF_MAX 64

typedef struct {
    uint8_t bytes[MERKLE_HASH_BYTES];
} merkle_hash_t;

typedef enum {
    MERKLE_OK = 0,
    MERKLE_ERR_HASH_LENGTH,   /* a hash that is not MERKLE_HASH_BYTES long */
    MERKLE_ERR_ENTRY_LENGTH,  /* an entry over MERKLE_ENTRY_BYTES_MAX */
    MERKLE_ERR_TREE_SIZE,     /* a size over MERKLE_LEAVES_MAX, or 0 where a leaf is needed */
    MERKLE_ERR_INDEX,         /* inclusion: index >= size; consistency: m = 0 or m > n */
    MERKLE_ERR_PROOF_LENGTH,  /* more than MERKLE_PROOF_MAX hashes, or not the number (m, n) needs */
    MERKLE_ERR_ROOT_MISMATCH, /* a well-formed proof that does not lead to the given root(s) */
    MERKLE_ERR_READ,          /* the caller's leaf or node reader failed */
    MERKLE_ERR_CRYPTO         /* OpenSSL failed (out of memory) */
} merkle_status_t;

/* Reads the hash of leaf index into *out; returns 0, or nonzero if it
 * cannot (the generator then returns MERKLE_ERR_READ). Called only with
 * index < the size the generator was given. */
typedef int (*merkle_leaf_read_fn)(void *ctx, uint64_t index, merkle_hash_t *out);

/* A leaf reader over an array in memory: pass merkle_leaf_array_read and a
 * merkle_leaf_array_t as its ctx. It fails for an index >= count. */
typedef struct {
    const merkle_hash_t *hashes;
    uint64_t count;
} merkle_leaf_array_t;
int merkle_leaf_array_read(void *ctx, uint64_t index, merkle_hash_t *out);

/* A short English text for status (a static string; "unknown status" for a
 * value outside the enum). */
const char *merkle_status_text(merkle_status_t status);

/* 1 if a and b are the same hash, else 0 (in constant time). */
int merkle_hash_equal(const merkle_hash_t *a, const merkle_hash_t *b);

/* Copies len bytes into *out. MERKLE_ERR_HASH_LENGTH (out untouched) unless
 * len is MERKLE_HASH_BYTES; bytes may be NULL only if len is 0. */
merkle_status_t merkle_hash_from_bytes(const void *bytes, size_t len, merkle_hash_t *out);

/* Splits len bytes of concatenated hashes into out[0..*proof_n). Refuses
 * (MERKLE_ERR_HASH_LENGTH, *proof_n = 0) a len that is not a multiple of
 * MERKLE_HASH_BYTES, and (MERKLE_ERR_PROOF_LENGTH) more than
 * MERKLE_PROOF_MAX hashes. */
merkle_status_t merkle_proof_from_bytes(const void *bytes, size_t len,
                                        merkle_hash_t out[MERKLE_PROOF_MAX], size_t *proof_n);

/* *out = SHA-256(0x00 || entry[0..len)). MERKLE_ERR_ENTRY_LENGTH for len over
 * MERKLE_ENTRY_BYTES_MAX; entry may be NULL only if len is 0. */
merkle_status_t merkle_leaf_hash(const void *entry, size_t len, merkle_hash_t *out);

/* *out = SHA-256(0x01 || left || right); out may alias left or right. */
merkle_status_t merkle_node_hash(const merkle_hash_t *left, const merkle_hash_t *right,
                                 merkle_hash_t *out);

/* *root = MTH of the n leaves read through read(ctx, 0..n-1); for n = 0 the
 * empty tree's SHA-256(""). MERKLE_ERR_TREE_SIZE for n > MERKLE_LEAVES_MAX. */
merkle_status_t merkle_root(merkle_leaf_read_fn read, void *ctx, uint64_t n, merkle_hash_t *root);

/* The number of hashes in the inclusion proof of leaf index in a tree of
 * size n, or -1 if index >= n or n > MERKLE_LEAVES_MAX. */
int merkle_inclusion_proof_size(uint64_t index, uint64_t n);

/* The number of hashes in the consistency proof from size m to size n
 * (0 if m = n), or -1 if m = 0, m > n or n > MERKLE_LEAVES_MAX. */
int merkle_consistency_proof_size(uint64_t m, uint64_t n);

/* Writes PATH(index, D[n]) into proof[0..*proof_n), leaves first.
 * MERKLE_ERR_TREE_SIZE (n = 0 or over MERKLE_LEAVES_MAX), MERKLE_ERR_INDEX
 * (index >= n); *proof_n is 0 on any error. */
merkle_status_t merkle_inclusion_proof(merkle_leaf_read_fn read, void *ctx, uint64_t index,
                                       uint64_t n, merkle_hash_t proof[MERKLE_PROOF_MAX],
                                       size_t *proof_n);

/* Writes PROOF(m, D[n]) into proof[0..*proof_n): empty for m = n.
 * MERKLE_ERR_TREE_SIZE (n over MERKLE_LEAVES_MAX), MERKLE_ERR_INDEX (m = 0:
 * nothing to prove from the empty tree; or m > n); *proof_n is 0 on any
 * error. */
merkle_status_t merkle_consistency_proof(merkle_leaf_read_fn read, void *ctx, uint64_t m,
                                         uint64_t n, merkle_hash_t proof[MERKLE_PROOF_MAX],
                                         size_t *proof_n);

/* Reads the hash of node (level, index): the root of the perfect subtree of
 * leaves [index << level, (index + 1) << level) (level 0: the leaf hash),
 * which the generator only asks for when that range lies within the size it
 * was given. Returns 0, or nonzero if it cannot (the generator then returns
 * MERKLE_ERR_READ). */
typedef int (*merkle_node_read_fn)(void *ctx, unsigned level, uint64_t index, merkle_hash_t *out);

/* The generators above, from node hashes: the same results, the same
 * refusals (and *proof_n = 0 on any error), MERKLE_ERR_READ when read fails.
 * Every subtree RFC 9162 needs is D[lo:hi) with lo a multiple of the power
 * of two at or above hi - lo, so it is the right fold of the perfect
 * subtrees of hi - lo's binary decomposition from lo, largest first: one
 * node read per 1 bit of hi - lo. In a proof at most one subtree is not
 * perfect, so a root takes at most 40 reads, a proof at most its length
 * plus 40 (under 2 * 41), and either at most 40 hashes. */
merkle_status_t merkle_root_from_nodes(merkle_node_read_fn read, void *ctx, uint64_t n,
                                       merkle_hash_t *root);
merkle_status_t merkle_inclusion_proof_from_nodes(merkle_node_read_fn read, void *ctx,
                                                  uint64_t index, uint64_t n,
                                                  merkle_hash_t proof[MERKLE_PROOF_MAX],
                                                  size_t *proof_n);
merkle_status_t merkle_consistency_proof_from_nodes(merkle_node_read_fn read, void *ctx,
                                                    uint64_t m, uint64_t n,
                                                    merkle_hash_t proof[MERKLE_PROOF_MAX],
                                                    size_t *proof_n);

/* RFC 9162 §2.1.3.2: MERKLE_OK if proof[0..proof_n) proves that leaf_hash
 * is leaf index of the tree of size n whose root is *root. Otherwise
 * MERKLE_ERR_TREE_SIZE (n = 0 or over MERKLE_LEAVES_MAX), MERKLE_ERR_INDEX
 * (index >= n), MERKLE_ERR_PROOF_LENGTH (proof_n is not
 * merkle_inclusion_proof_size(index, n)), MERKLE_ERR_ROOT_MISMATCH. */
merkle_status_t merkle_verify_inclusion(uint64_t index, uint64_t n, const merkle_hash_t *leaf_hash,
                                        const merkle_hash_t *proof, size_t proof_n,
                                        const merkle_hash_t *root);

/* RFC 9162 §2.1.4.2: MERKLE_OK if proof[0..proof_n) proves that the tree of
 * size m with root *root_m is a prefix of the tree of size n with root
 * *root_n; for m = n, when the proof is empty and the roots are equal.
 * Otherwise MERKLE_ERR_TREE_SIZE (n over MERKLE_LEAVES_MAX), MERKLE_ERR_INDEX
 * (m = 0 or m > n), MERKLE_ERR_PROOF_LENGTH (proof_n is not
 * merkle_consistency_proof_size(m, n)), MERKLE_ERR_ROOT_MISMATCH. */
merkle_status_t merkle_verify_consistency(uint64_t m, uint64_t n, const merkle_hash_t *root_m,
                                          const merkle_hash_t *root_n, const merkle_hash_t *proof,
                                          size_t proof_n);

#endif
