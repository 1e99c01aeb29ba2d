/* log_tree.h - the region's audit log as a Merkle tree in the store
 * (DESIGN §8; RFC 9162 §2.1; storage after C2SP tlog-tiles): reading
 * entries, integrating them into the tree, and proofs from the stored tree.
 *
 * Sequencing is done by the scripts (settlement/scripts/_prelude.lua,
 * function audit): each appends its entry (stored packed,
 * settlement/audit_stored.h; read as its canonical bytes, format
 * carbon-audit/3, docs/audit-log.md) under the next sequence number, in the same atomic step
 * as the change it records, and computes no hash. Entry seq s (1-based) is
 * leaf s - 1 of the tree.
 *
 * Integration is done in C, by one gateway per region at a time (the holder
 * of the integrator lease): log_tree_integrate reads the entries past the
 * tree's size, hashes them (leaf SHA-256(0x00 || entry), node SHA-256(0x01 ||
 * left || right), merkle.h), and writes the new node hashes and the new size
 * and root in one script, log_advance, that applies only if the stored size
 * is still the one it read and the caller still holds the lease: a crash
 * leaves the tree as it was, a second integrator can never fork it.
 *
 * Storage: every complete node hash of the tree, at every level, in tiles of
 * LOG_TILE_WIDTH hashes: one string per tile, key STORE_KEY_LOG_TILE_PREFIX
 * "LEVEL/INDEX" (decimal), value the concatenated 32-byte hashes of nodes
 * (LEVEL, INDEX * 256 + k) for k = 0.. (a partial tile grows by appending
 * the new hashes only; a node hash, once complete, never changes). Node (l, i) is the root
 * of leaves [i * 2^l, (i + 1) * 2^l). The tree's head (size, root, time) is
 * the hash STORE_KEY_LOG_TREE. Unlike tlog-tiles every level is stored, so
 * any proof reads O(log n) hashes and hashes O(log n) times.
 *
 * Every function returns LEDGER_OK or an error code of ledger.h with a
 * reason in err (LEDGER_STORE_ERROR when the store failed). */
#ifndef SETTLEMENT_LOG_TREE_H
#define SETTLEMENT_LOG_TREE_H

#include "settlement/merkle.h"
#include "settlement/store.h"

#include <stddef.h>
#include <stdint.h>

#define LOG_TILE_WIDTH 256
#define LOG_INTEGRATE_BATCH_MAX 4096 /* entries hashed per log_tree_integrate call */
#define LOG_ENTRY_BYTES_MAX MERKLE_ENTRY_BYTES_MAX

typedef struct {
    uint64_t size;          /* leaves integrated */
    merkle_hash_t root;     /* MTH of the first size entries (SHA-256("") when 0) */
    uint64_t integrated_ms; /* when the size last advanced (0: never) */
} log_tree_head_t;

/* Refuses a store whose audit log is a hash chain written before format
 * carbon-audit/3 (it has STORE_KEY_LEGACY_AUDIT_HEAD): this gateway cannot
 * continue that log, and would silently start a second one beside it.
 * LEDGER_OK, LEDGER_EINVAL with the reason and what to do, or LEDGER_ESTORE. */
int log_tree_check_format(store_t *st, char *err, size_t errlen);

/* Reads the tree's head. An empty store gives size 0 and the empty root. */
int log_tree_head(store_t *st, log_tree_head_t *out, char *err, size_t errlen);

/* The number of entries sequenced (the highest seq), and the time_ms of the
 * oldest entry not yet integrated (0 if none): for the lag metrics. */
int log_tree_lag(store_t *st, uint64_t *sequenced, uint64_t *tree_size, uint64_t *oldest_ms,
                 char *err, size_t errlen);

/* Reads the bytes of entries [from_seq, from_seq + n) (n <= AUDIT_READ_MAX):
 * out[k] malloc'd (free each), lens[k] its length, the canonical bytes
 * (audit_stored_read); an absent entry, or a packed one that does not unpack,
 * gives out[k] NULL. */
int log_tree_entries(store_t *st, uint64_t from_seq, size_t n, char **out, size_t *lens,
                     char *err, size_t errlen);

/* Converts the tiles of a store written when they were one hash
 * (STORE_KEY_LOG_TILES_LEGACY) into one string per tile, once, 128 tiles a
 * script call (log_tiles_migrate.lua; a converted store is left alone). Run at a
 * gateway's start, before integrating: log_advance refuses to write while
 * the hash exists. *converted gets the tiles converted (0: nothing to do).
 * LEDGER_OK or LEDGER_ESTORE. */
int log_tree_migrate_tiles(store_t *st, uint64_t *converted, char *err, size_t errlen);

/* Takes or renews the integrator lease for token (a caller-chosen unique
 * string) for ttl_ms. Sets *held to 1 if the caller holds it now. */
int log_tree_lease(store_t *st, const char *token, uint64_t ttl_ms, int *held, char *err,
                   size_t errlen);

/* Integrates up to LOG_INTEGRATE_BATCH_MAX entries past the tree's size,
 * under the lease held by token. *advanced is the number of leaves added (0:
 * nothing new, or the lease or the size changed under us: nothing written). */
int log_tree_integrate(store_t *st, const char *token, uint64_t now_ms, uint64_t *advanced,
                       char *err, size_t errlen);

/* The root of the tree at size (1 <= size <= the tree's size), from the
 * stored nodes. */
int log_tree_root_at(store_t *st, uint64_t size, merkle_hash_t *root, char *err, size_t errlen);

/* PATH(index, D[size]) from the stored nodes (index < size <= tree size). */
int log_tree_inclusion_proof(store_t *st, uint64_t index, uint64_t size,
                             merkle_hash_t proof[MERKLE_PROOF_MAX], size_t *proof_n, char *err,
                             size_t errlen);

/* PROOF(old_size, new_size) from the stored nodes (1 <= old_size <= new_size
 * <= tree size); empty when equal. */
int log_tree_consistency_proof(store_t *st, uint64_t old_size, uint64_t new_size,
                               merkle_hash_t proof[MERKLE_PROOF_MAX], size_t *proof_n, char *err,
                               size_t errlen);

/* The most entries one log_tree_root_verified call hashes (about 10 s of
 * SHA-256 here): a checkpoint covers at most this many entries more than
 * the one before it, and a region whose history changed under its last
 * checkpoint recomputes at most this many from the start. */
#define LOG_VERIFY_GROWTH_MAX (UINT64_C(1) << 24)

/* The root of the first new_size entries computed without trusting the
 * stored tree: from a size and root the caller trusts (old_size, *old_root:
 * a checkpoint this region signed; 0 and anything for none), the stored
 * nodes of old_size's frontier (checked against *old_root: a stored node that
 * was changed is found here) and the entries (old_size, new_size], hashed
 * here. old_size <= new_size <= old_size + LOG_VERIFY_GROWTH_MAX. LEDGER_OK
 * with *root; LEDGER_CONFLICT with the reason if the stored frontier does not
 * give *old_root (the history under old_size changed); LEDGER_EINVAL if an
 * entry is missing or too long; LEDGER_ESTORE. */
int log_tree_root_verified(store_t *st, uint64_t old_size, const merkle_hash_t *old_root,
                           uint64_t new_size, merkle_hash_t *root, char *err, size_t errlen);

#endif
