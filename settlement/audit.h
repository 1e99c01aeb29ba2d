/* audit.h - the region's audit hash chain (DESIGN §8): reading entries,
 * verifying them, and signed checkpoints of the chain head.
 *
 * Every state-changing script appends an entry in the same script
 * (settlement/scripts/_prelude.lua, function audit). Format version 2:
 *   canonical = v2|seq|time_ms|event|id,id,...|block,block,...|detail
 *   detail    = zero or more text fields (settlement/textfield.h), each
 *               "LEN:BYTES,", so a detail may hold any text, '|' and ','
 *               included; what they are depends on the event:
 *                 open: holder kind; issue: activity fingerprint;
 *                 retire: purpose, beneficiary; resolve: decision (C/A),
 *                 operator SPIFFE ID, reason; apply, cancel, drop: source
 *                 region; prepare, refuse: source region, batch seq;
 *                 batch: peer, seq, digest; hold, commit, abort, acked: none
 *   hash      = SHA-256(prev_hash || canonical), hex
 * Ids (request ids, account ids, "tid:REASON") and blocks are structured and
 * validated, never free text, so ',' and '|' separate them unambiguously.
 * Version 1 (entries written before version 2; no "v2|" prefix, canonical
 * starts with seq) had the detail as raw text; it is read as one field.
 * Stored as "prev_hash hash canonical" under STORE_KEY_AUDIT[seq], head in
 * STORE_KEY_AUDIT_HEAD (settlement/store_keys.h). A checkpoint is the head (seq, hash) signed with the
 * region's Ed25519 audit key (separate from its TLS key); peers keep the
 * checkpoints they receive, so rewriting history contradicts them. */
#ifndef SETTLEMENT_AUDIT_H
#define SETTLEMENT_AUDIT_H

#include "settlement/ledger.h"
#include "settlement/store.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define AUDIT_READ_MAX 10000        /* entries per read */
#define AUDIT_HASH_HEX 64
#define AUDIT_CHECKPOINTS_KEPT 1000 /* history kept per region */
#define AUDIT_DETAIL_FIELDS_MAX 8   /* text fields of one entry's detail */

typedef struct {
    uint64_t seq;
    uint64_t time_ms;
    char event[16];
    char prev_hash[AUDIT_HASH_HEX + 1];
    char hash[AUDIT_HASH_HEX + 1];
    char *canonical;       /* malloc'd: exactly the bytes hashed after prev_hash */
    const char *ids;       /* into canonical: "id,id,..." up to the next '|' */
    size_t ids_len;
    const char *detail;    /* into canonical: the rest after the blocks (encoded) */
    int version;           /* 1 or 2: the format the entry was written in */
    size_t detail_n;       /* the detail's texts, decoded: */
    const char *detail_text[AUDIT_DETAIL_FIELDS_MAX]; /* into canonical, not NUL-terminated */
    size_t detail_len[AUDIT_DETAIL_FIELDS_MAX];
    size_t blocks_n;
    ledger_block_t *blocks; /* malloc'd */
} audit_entry_t;

void audit_entry_free(audit_entry_t *e);

/* Parses a stored entry text for seq (either format version) and decodes
 * its detail. 0, or -1 if malformed (a detail that is not a list of at most
 * AUDIT_DETAIL_FIELDS_MAX text fields included). */
int audit_entry_parse(uint64_t seq, const char *text, size_t len, audit_entry_t *out);

/* 1 if e->hash == SHA-256(prev || e->canonical) and e->prev_hash == prev. */
int audit_entry_verify(const audit_entry_t *e, const char *prev);

/* SHA-256 of prev||canonical as hex into out[65]. */
void audit_hash(const char *prev, const char *canonical, size_t len, char out[AUDIT_HASH_HEX + 1]);

/* The genesis prev_hash: 64 zeros. */
extern const char audit_genesis[AUDIT_HASH_HEX + 1];

/* Reads the head (seq 0 and genesis hash when the log is empty). */
int audit_head(store_t *st, uint64_t *seq, char hash[AUDIT_HASH_HEX + 1], char *err, size_t errlen);

/* Reads entries [from_seq, from_seq+limit) that exist (limit <= AUDIT_READ_MAX).
 * *out malloc'd (audit_entry_free each, then free). A stored entry that does
 * not parse is returned with event "malformed" and an empty canonical. */
int audit_read(store_t *st, uint64_t from_seq, size_t limit, audit_entry_t **out, size_t *n,
               char *err, size_t errlen);

/* True if the entry names id among its ids (or as "id:..." for refusals). */
int audit_entry_has_id(const audit_entry_t *e, const char *id);
/* True if one of the entry's blocks holds serial of origin. */
int audit_entry_has_serial(const audit_entry_t *e, const char *origin, uint64_t serial);

typedef struct {
    char region[CARBON_REGION_SIZE];
    uint64_t seq;
    char head_hash[AUDIT_HASH_HEX + 1];
    uint64_t time_ms;
    uint8_t public_key[32];
    uint8_t signature[64];
} audit_checkpoint_t;

/* The signed message: "carbon.v1.checkpoint|region|seq|head_hash|time_ms". */
int audit_checkpoint_message(const audit_checkpoint_t *cp, char *buf, size_t buflen);

/* Loads an Ed25519 private key (PEM). NULL with "PATH: reason" in err. */
EVP_PKEY *audit_load_signing_key(const char *path, char *err, size_t errlen);
/* Loads an Ed25519 public key (PEM) into out. 0 or -1 with the reason. */
int audit_load_public_key(const char *path, uint8_t out[32], char *err, size_t errlen);

/* Fills public_key and signature of cp with key. 0 or -1. */
int audit_checkpoint_sign(audit_checkpoint_t *cp, EVP_PKEY *key);
/* 1 if cp's signature verifies with cp->public_key (and equals pinned when
 * pinned is not NULL). */
int audit_checkpoint_verify(const audit_checkpoint_t *cp, const uint8_t *pinned);

/* Stores cp as the latest of `owner` ("own" or a peer region) and appends it
 * to its history (capped at AUDIT_CHECKPOINTS_KEPT). */
int audit_checkpoint_store(store_t *st, const char *owner, const audit_checkpoint_t *cp,
                           char *err, size_t errlen);
/* Loads the latest checkpoint of owner; LEDGER_NOT_FOUND if none. */
int audit_checkpoint_load(store_t *st, const char *owner, audit_checkpoint_t *cp, char *err,
                          size_t errlen);

#endif
