/* witness.h - checkpoints and witnesses of the regions' audit logs (DESIGN
 * §8, docs/audit-log.md §4; C2SP tlog-witness, over gRPC): what a region
 * keeps of its own checkpoints and of the cosignatures its peers returned,
 * what it keeps as the witness of each peer's log, the decision a witness
 * takes on a checkpoint offered to it, and the fork records.
 *
 * Names: the log of region R is named (origin line and key name)
 * "jjj.carbon/R/audit"; R's witness key name is "jjj.carbon/R/witness". Both
 * are R's one Ed25519 audit key: type 0x01 signatures of its checkpoints,
 * type 0x04 (tlog-cosignature/v1) cosignatures of its peers' checkpoints.
 *
 * Store (settlement/store_keys.h, the STORE_KEY_CHECKPOINT_ keys): every
 * write is one script, witness_*.lua, that computes no hash; every read is
 * a plain command. Bounds: WITNESS_OWN_KEPT own checkpoints, WITNESS_HISTORY_KEPT
 * cosigned checkpoints per peer region, WITNESS_FORKS_KEPT fork records per
 * peer region (records are never deleted: past the bound a fork is still
 * refused and alarmed on, its evidence is not kept again).
 *
 * Every function returns LEDGER_OK, LEDGER_NOT_FOUND where it says, or
 * LEDGER_ESTORE with a reason in err. */
#ifndef SETTLEMENT_WITNESS_H
#define SETTLEMENT_WITNESS_H

#include "common/region.h"
#include "settlement/merkle.h"
#include "settlement/note.h"
#include "settlement/store.h"

#include <stddef.h>
#include <stdint.h>

#define WITNESS_NAME_PREFIX "jjj.carbon/"
#define WITNESS_NAME_SIZE 64            /* "jjj.carbon/REGION/witness" and a NUL, at most */
#define WITNESS_OWN_KEPT 1000           /* own checkpoints kept, with their cosignatures */
#define WITNESS_HISTORY_KEPT 1000       /* checkpoints cosigned kept per peer region */
#define WITNESS_FORKS_KEPT 100          /* fork records kept per peer region */
#define WITNESS_FORKS_LIST_MAX (WITNESS_FORKS_KEPT * WITNESS_PEERS_MAX) /* every record kept */
#define WITNESS_FORK_ID_SIZE 21         /* a fork id: 1..20 decimal digits and a NUL */
#define WITNESS_ACTOR_SIZE 256          /* an operator's SPIFFE ID and a NUL */
#define WITNESS_REASON_SIZE 513         /* an acknowledgement's reason (512 bytes) and a NUL */
#define WITNESS_PEERS_MAX 16            /* peers of one region (CONFIG_PEERS_MAX at most) */

/* "jjj.carbon/REGION/audit" (the log's origin and key name) and
 * "jjj.carbon/REGION/witness" into out[WITNESS_NAME_SIZE]. region must be a
 * region code (asserted). */
void witness_log_name(const char *region, char out[WITNESS_NAME_SIZE]);
void witness_key_name(const char *region, char out[WITNESS_NAME_SIZE]);

/* ---- the witness's decision ---------------------------------------------- */

typedef enum {
    WITNESS_COSIGN_NEW,        /* consistent and newer: store it (CAS), cosign */
    WITNESS_COSIGN_SAME,       /* the checkpoint held: cosign again, nothing changes */
    WITNESS_OLD_SIZE_MISMATCH, /* old_size is not the size held: nothing changes */
    WITNESS_REPLAY,            /* smaller than the size held, no prefix proof: the caller
                                  looks it up in the history (replay, fork, or stale) */
    WITNESS_STALE,             /* smaller than the size held and proved a prefix of it:
                                  a late checkpoint, answered with the size held, no alarm */
    WITNESS_BAD_PROOF,         /* the proof has not the length (old_size, size) needs */
    WITNESS_FORK,              /* same size, other root; or the proof fails: a fork */
} witness_verdict_t;

/* What a witness holds for a region: size 0 is "nothing cosigned yet". */
typedef struct {
    uint64_t size;
    merkle_hash_t root;
} witness_head_t;

/* Decides on the checkpoint cp (already parsed, its signature verified,
 * cp->size <= MERKLE_LEAVES_MAX), offered with old_size and the proof
 * proof[0..proof_n) (proof_n <= MERKLE_PROOF_MAX), against what the witness
 * holds. A size under the one held (C2SP tlog-witness: a conflict, not a
 * fork, when it is a prefix): with old_size = the size held and a proof, the
 * proof must show cp a prefix of the checkpoint held (PROOF(cp size, size
 * held), RFC 9162 §2.1.4.2): STALE if it does, FORK if the roots disagree,
 * BAD_PROOF for a wrong length; without a proof REPLAY (the caller compares
 * it with the checkpoints it cosigned). Otherwise old_size must be the size
 * held; then, from nothing held the proof must be empty; at the size held
 * the root must be the one held; past it the proof must verify. Writes a
 * sentence in why. */
witness_verdict_t witness_judge(const witness_head_t *held, uint64_t old_size,
                                const checkpoint_t *cp, const merkle_hash_t *proof,
                                size_t proof_n, char *why, size_t why_size);

/* ---- the witness's store: what it cosigned for each peer ------------------ */

typedef struct {
    witness_head_t head;  /* size 0: nothing cosigned yet (the rest empty) */
    char *note;           /* malloc'd, NUL-terminated: the signed note as received */
    size_t note_len;
    char cosig[NOTE_OWN_SIG_LINE_SIZE]; /* this witness's cosignature line */
    size_t cosig_len;
    uint64_t time_ms;
} witness_held_t;

/* Reads what this region holds for peer region. size 0 if nothing. */
int witness_held_load(store_t *st, const char *region, witness_held_t *out, char *err,
                      size_t errlen);
void witness_held_free(witness_held_t *h);

/* Stores the cosigned checkpoint (size, root, note, cosignature line) for
 * region if the size held is still expected_size (compare-and-set; never
 * going back) and appends it to the region's history (WITNESS_HISTORY_KEPT).
 * *applied 1 if stored; else 0 and *held_size is the size held now. */
int witness_held_advance(store_t *st, const char *region, uint64_t expected_size,
                         const witness_head_t *head, const char *note, size_t note_len,
                         const char *cosig, size_t cosig_len, uint64_t now_ms, int *applied,
                         uint64_t *held_size, char *err, size_t errlen);

/* A checkpoint of region smaller than the one held, never cosigned here and
 * sent without a prefix proof: *since_ms = when the first such arrived since
 * this witness last cosigned or saw proven a checkpoint of region (now_ms if
 * this is the first). A log that went back can never prove it; a paused
 * sibling's late one is proven at once (witness_late_clear). LEDGER_OK or
 * LEDGER_ESTORE. */
int witness_late_since(store_t *st, const char *region, uint64_t now_ms, uint64_t *since_ms, char *err,
                       size_t errlen);

/* Sets witness_late_since's time for region to now_ms (a first arrival
 * again: the one kept was left long ago by a late checkpoint never proven). */
int witness_late_restart(store_t *st, const char *region, uint64_t now_ms, char *err, size_t errlen);

/* Region proved its late checkpoint a prefix: forgets witness_late_since's
 * time (witness_advance.lua forgets it when cosigning). */
int witness_late_clear(store_t *st, const char *region, char *err, size_t errlen);

/* Looks for the checkpoint of size among the ones this region cosigned for
 * region (its history, WITNESS_HISTORY_KEPT): *found 1 and *root its root,
 * or *found 0. LEDGER_OK or LEDGER_ESTORE. */
int witness_history_root(store_t *st, const char *region, uint64_t size, int *found,
                         merkle_hash_t *root, char *err, size_t errlen);

/* ---- fork records ------------------------------------------------------------- */

typedef struct {
    char id[WITNESS_FORK_ID_SIZE];
    char region[CARBON_REGION_SIZE];
    char *cosigned;        /* malloc'd signed note this witness had cosigned */
    size_t cosigned_len;
    char *conflicting;     /* malloc'd signed note refused */
    size_t conflicting_len;
    uint8_t *proof;        /* malloc'd concatenated 32-byte hashes (may be empty) */
    size_t proof_len;
    uint64_t detected_ms;
    int acknowledged;
    char acknowledged_by[WITNESS_ACTOR_SIZE];
    char ack_reason[WITNESS_REASON_SIZE];
    uint64_t acknowledged_ms;
} witness_fork_t;

void witness_fork_free(witness_fork_t *f);

/* Keeps the evidence of a fork of region's log (one record per conflicting
 * note). *id gets the record's id; *is_new 1 if made just now, 0 if the same
 * note was recorded before, -1 if the region has WITNESS_FORKS_KEPT records
 * already (nothing kept, *id empty). */
int witness_fork_record(store_t *st, const char *region, const char *cosigned, size_t cosigned_len,
                        const char *conflicting, size_t conflicting_len, const merkle_hash_t *proof,
                        size_t proof_n, uint64_t now_ms, char id[WITNESS_FORK_ID_SIZE],
                        int *is_new, char *err, size_t errlen);

/* The fork records, oldest first, at most WITNESS_FORKS_LIST_MAX, only those
 * not acknowledged unless include_acknowledged. *out malloc'd
 * (witness_fork_free each, then free). */
int witness_fork_list(store_t *st, int include_acknowledged, witness_fork_t **out, size_t *n,
                      char *err, size_t errlen);

/* Reads one record; LEDGER_NOT_FOUND if there is none of that id. */
int witness_fork_get(store_t *st, const char *id, witness_fork_t *out, char *err, size_t errlen);

/* Acknowledges record id by the operator with the reason (validated by the
 * caller), at now_ms, and writes an "ack-fork" entry in this region's log.
 * *already 1 if it was acknowledged before (nothing changes).
 * LEDGER_NOT_FOUND if there is no such record. */
int witness_fork_ack(store_t *st, const char *id, const char *by, const char *reason,
                     uint64_t now_ms, int *already, char *err, size_t errlen);

/* The number of records of region not acknowledged. */
int witness_forks_open(store_t *st, const char *region, uint64_t *n, char *err, size_t errlen);

/* 1 if s is a fork id (1..20 decimal digits, no leading zero). */
int witness_fork_id_valid(const char *s);

/* ---- this region's own checkpoints (the log side) -------------------------- */

/* Keeps the signed note of this region's checkpoint of size (never going
 * back: a size under the newest kept is not stored; *stored 0 then, and for
 * a size kept already). peers[0..peers_n) are the peer regions, whose
 * cosignatures are dropped with the oldest checkpoints. */
int witness_own_add(store_t *st, uint64_t size, const char *note, size_t note_len,
                    const char *const *peers, size_t peers_n, int *stored, char *err,
                    size_t errlen);

/* The newest own checkpoint's size and signed note (*note malloc'd,
 * NUL-terminated). LEDGER_NOT_FOUND if none. */
int witness_own_newest(store_t *st, uint64_t *size, char **note, size_t *note_len, char *err,
                       size_t errlen);

/* The signed note of the own checkpoint of size with the cosignature lines
 * kept for it from peers[0..peers_n) appended, in that order (*note malloc'd,
 * NUL-terminated); *cosigners the number appended. size 0: the newest.
 * LEDGER_NOT_FOUND if not kept. */
int witness_own_cosigned_note(store_t *st, uint64_t size, const char *const *peers, size_t peers_n,
                              char **note, size_t *note_len, size_t *cosigners, char *err,
                              size_t errlen);

/* The sizes of the own checkpoints kept, newest first, at most max. */
int witness_own_sizes(store_t *st, uint64_t *sizes, size_t max, size_t *n, char *err,
                      size_t errlen);

/* Keeps peer's cosignature line (verified by the caller) of the own
 * checkpoint of size, and raises the size peer last cosigned to size.
 * *kept 0 if that checkpoint is no longer kept (nothing stored). */
int witness_own_cosigned(store_t *st, uint64_t size, const char *peer, const char *cosig,
                         size_t cosig_len, int *kept, char *err, size_t errlen);

/* The size peer last cosigned (0: none). */
int witness_peer_size(store_t *st, const char *peer, uint64_t *size, char *err, size_t errlen);

#endif
