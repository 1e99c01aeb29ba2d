/* proofs.h - what an auditor's gwctl checks in a region's transparency log
 * (docs/audit-log.md), shared by gwctl trace and gwctl audit verify: the
 * pinned keys, a checkpoint and its cosignatures (C2SP signed-note,
 * tlog-checkpoint, tlog-cosignature), an entry's inclusion proof (RFC 9162
 * §2.1.3), and a tree recomputed from the entries in O(log n) memory.
 *
 * Everything a gateway sends is hostile: every function here checks it and
 * says what is wrong in one sentence; nothing here talks to a gateway. */
#ifndef GATEWAY_GWCTL_PROOFS_H
#define GATEWAY_GWCTL_PROOFS_H

#include "carbon/v1/carbon.pb-c.h"
#include "common/base64.h"
#include "common/region.h"
#include "settlement/audit.h"
#include "settlement/merkle.h"
#include "settlement/note.h"

#include <protobuf-c/protobuf-c.h>

#include <stddef.h>
#include <stdint.h>

/* Regions whose keys an auditor pins at most (files read from the folder). */
#define GWCTL_PINS_MAX 16
/* The key names of docs/audit-log.md §4: a region's log signs its
 * checkpoints as "jjj.carbon/REGION/audit", and cosigns its peers'
 * checkpoints as "jjj.carbon/REGION/witness", with the same Ed25519 key. */
#define GWCTL_LOG_NAME_FMT "jjj.carbon/%s/audit"
#define GWCTL_WITNESS_NAME_FMT "jjj.carbon/%s/witness"

/* One region's pinned key, as the two verifiers of its two names. */
typedef struct {
    char region[CARBON_REGION_SIZE];
    note_verifier_t log;     /* type 0x01, GWCTL_LOG_NAME_FMT */
    note_verifier_t witness; /* type 0x04 (cosignature/v1), GWCTL_WITNESS_NAME_FMT */
} gwctl_pin_t;

typedef struct {
    size_t n;
    gwctl_pin_t pins[GWCTL_PINS_MAX];
} gwctl_pins_t;

/* Loads every DIR/REGION-audit-signing.pub (an Ed25519 public key, PEM) of a
 * valid region name into *p, in name order (at most GWCTL_PINS_MAX; more
 * files, or one that is not such a key, is an error). dir may be NULL (no
 * key pinned). 0, or -1 with the reason in why. */
int gwctl_pins_load(gwctl_pins_t *p, const char *dir, char *why, size_t why_size);

/* The pin of region, or NULL when its key is not pinned. */
const gwctl_pin_t *gwctl_pin_of(const gwctl_pins_t *p, const char *region);

/* A checkpoint of one region that verified. */
typedef struct {
    checkpoint_t body;
    merkle_hash_t root;
    size_t cosigners_n;                               /* peers whose cosignature verified */
    char cosigners[GWCTL_PINS_MAX][CARBON_REGION_SIZE]; /* in the order of the pins */
    uint64_t cosigned_s[GWCTL_PINS_MAX];              /* each cosignature's time */
} gwctl_checkpoint_t;

/* Opens note[0..len) as a checkpoint of region's log: a signed note whose
 * body is a tlog-checkpoint with origin "jjj.carbon/REGION/audit", signed by
 * region's pinned key under that name; every cosignature line by a pinned
 * key of another region (name "jjj.carbon/PEER/witness") must verify (one
 * that fails refuses the whole note) and is listed in out->cosigners. Lines
 * of unknown keys are ignored (and not counted). 0, or -1 with the reason
 * in why (region not pinned, no or a bad log signature, wrong origin, a
 * malformed note or body). */
int gwctl_checkpoint_open(const gwctl_pins_t *p, const char *region, const void *note, size_t len,
                          gwctl_checkpoint_t *out, char *why, size_t why_size);

/* Checks that entry[0..entry_len) is entry seq (leaf seq - 1) of the tree
 * of cp: leaf_index must be seq - 1, tree_size cp's size and
 * hashes[0..hashes_n) (as a gateway sent them: any lengths) an RFC 9162
 * inclusion proof of the entry's leaf hash to cp's root. 0, or -1 with the
 * reason in why. */
int gwctl_inclusion_check(const gwctl_checkpoint_t *cp, uint64_t seq, const void *entry,
                          size_t entry_len, uint64_t leaf_index, uint64_t tree_size,
                          const ProtobufCBinaryData *hashes, size_t hashes_n, char *why,
                          size_t why_size);

/* 1 if the fields a gateway decoded for an entry (m: seq, time, event, ids,
 * blocks, details) are exactly what the entry's own bytes say (d, from
 * audit_entry_parse of m->entry), else 0. */
int gwctl_entry_fields_match(const Carbon__V1__AuditEntry *m, const audit_entry_t *d);

/* A Merkle tree grown one leaf at a time, keeping only the roots of its
 * complete subtrees (one per bit of size): its root at any size is the
 * RFC 9162 MTH of the leaves appended so far, in O(log n) memory. Start
 * from all zeroes. */
typedef struct {
    uint64_t size;
    size_t depth;
    merkle_hash_t stack[MERKLE_LEVELS_MAX];
} gwctl_tree_t;

/* Appends the leaf hash *leaf. MERKLE_ERR_TREE_SIZE past MERKLE_LEAVES_MAX. */
merkle_status_t gwctl_tree_append(gwctl_tree_t *t, const merkle_hash_t *leaf);

/* *root = MTH of the t->size leaves appended (SHA-256("") for none). */
merkle_status_t gwctl_tree_root(const gwctl_tree_t *t, merkle_hash_t *root);

/* Writes h in base64 (as a checkpoint writes its root) and a NUL. */
#define GWCTL_HASH_B64_SIZE (BASE64_ENCODED_LEN(MERKLE_HASH_BYTES) + 1)
void gwctl_hash_b64(const merkle_hash_t *h, char out[GWCTL_HASH_B64_SIZE]);

#endif
