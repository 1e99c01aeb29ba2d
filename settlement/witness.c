/* witness.c - checkpoints and witnesses of the regions' audit logs (witness.h). */
#include "settlement/witness.h"

#include "common/carbon_assert.h"
#include "common/hex.h"
#include "common/sha256.h"
#include "settlement/ledger.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WITNESS_KEY_SIZE 96      /* a store key of this module, with its NUL */
#define WITNESS_NUM_SIZE 24      /* a uint64_t in decimal, with its NUL */
#define WITNESS_FORK_FIELDS 9

CARBON_STATIC_ASSERT(sizeof WITNESS_NAME_PREFIX - 1 + CARBON_REGION_SIZE + sizeof "/witness" <=
                         WITNESS_NAME_SIZE,
                     "a key name fits WITNESS_NAME_SIZE");

static void witness_name(const char *region, const char *kind, char out[WITNESS_NAME_SIZE]) {
    CARBON_ASSERT(region != NULL && strlen(region) > 0 && strlen(region) < CARBON_REGION_SIZE);
    int n = snprintf(out, WITNESS_NAME_SIZE, WITNESS_NAME_PREFIX "%s/%s", region, kind);
    CARBON_ASSERT(n > 0 && n < WITNESS_NAME_SIZE);
    (void)n;
}

void witness_log_name(const char *region, char out[WITNESS_NAME_SIZE]) {
    witness_name(region, "audit", out);
}

void witness_key_name(const char *region, char out[WITNESS_NAME_SIZE]) {
    witness_name(region, "witness", out);
}

/* ---- the decision ------------------------------------------------------------- */

static witness_verdict_t witness_judge_extension(const witness_head_t *held, const checkpoint_t *cp,
                                                 const merkle_hash_t *proof, size_t proof_n,
                                                 char *why, size_t why_size) {
    merkle_hash_t root;
    memcpy(root.bytes, cp->root_hash, MERKLE_HASH_BYTES);
    merkle_status_t s =
        merkle_verify_consistency(held->size, cp->size, &held->root, &root, proof, proof_n);
    if (s == MERKLE_OK) {
        snprintf(why, why_size, "consistent with size %" PRIu64, held->size);
        return WITNESS_COSIGN_NEW;
    }
    if (s == MERKLE_ERR_ROOT_MISMATCH) {
        snprintf(why, why_size,
                 "the consistency proof from size %" PRIu64 " to %" PRIu64
                 " does not lead from the root cosigned to this root",
                 held->size, cp->size);
        return WITNESS_FORK;
    }
    snprintf(why, why_size, "a consistency proof from %" PRIu64 " to %" PRIu64 " has %d hashes, not %zu",
             held->size, cp->size, merkle_consistency_proof_size(held->size, cp->size), proof_n);
    return WITNESS_BAD_PROOF;
}

/* cp is older than the checkpoint held; proof claims PROOF(cp->size,
 * held->size): a late checkpoint of the same log (STALE) or a fork. */
static witness_verdict_t witness_judge_prefix(const witness_head_t *held, const checkpoint_t *cp,
                                              const merkle_hash_t *proof, size_t proof_n, char *why,
                                              size_t why_size) {
    CARBON_ASSERT(cp->size < held->size && proof_n > 0);
    merkle_hash_t root;
    memcpy(root.bytes, cp->root_hash, MERKLE_HASH_BYTES);
    merkle_status_t s =
        merkle_verify_consistency(cp->size, held->size, &root, &held->root, proof, proof_n);
    if (s == MERKLE_OK) {
        snprintf(why, why_size, "size %" PRIu64 " is a prefix of the size %" PRIu64
                 " cosigned: a late checkpoint", cp->size, held->size);
        return WITNESS_STALE;
    }
    if (s == MERKLE_ERR_ROOT_MISMATCH) {
        snprintf(why, why_size, "the consistency proof from size %" PRIu64 " to the size %" PRIu64
                 " cosigned does not lead from this root to the root cosigned", cp->size, held->size);
        return WITNESS_FORK;
    }
    snprintf(why, why_size, "a consistency proof from %" PRIu64 " to %" PRIu64 " has %d hashes, not %zu",
             cp->size, held->size, cp->size == 0 ? 0 : merkle_consistency_proof_size(cp->size, held->size),
             proof_n);
    return WITNESS_BAD_PROOF;
}

witness_verdict_t witness_judge(const witness_head_t *held, uint64_t old_size,
                                const checkpoint_t *cp, const merkle_hash_t *proof,
                                size_t proof_n, char *why, size_t why_size) {
    CARBON_ASSERT(held != NULL && cp != NULL && why != NULL && why_size > 0);
    CARBON_ASSERT(cp->size <= MERKLE_LEAVES_MAX && held->size <= MERKLE_LEAVES_MAX);
    CARBON_ASSERT(proof_n <= MERKLE_PROOF_MAX && (proof != NULL || proof_n == 0));
    uint8_t empty_root[SHA256_BYTES]; /* MTH({}) = SHA-256(""), RFC 9162 2.1.1 */
    int hashed = sha256_digest("", 0, empty_root);
    CARBON_ASSERT(hashed == 0);
    if (cp->size == 0 && memcmp(cp->root_hash, empty_root, SHA256_BYTES) != 0) {
        /* else any number of roots would be cosigned at size 0 (held size 0
         * reads as nothing held) */
        snprintf(why, why_size, "a checkpoint of size 0 has the empty tree's root, SHA-256 of nothing");
        return WITNESS_BAD_PROOF;
    }
    if (cp->size < held->size && old_size == held->size && proof_n > 0)
        return witness_judge_prefix(held, cp, proof, proof_n, why, why_size);
    if (cp->size < held->size) {
        snprintf(why, why_size, "size %" PRIu64 " is older than the size %" PRIu64 " cosigned",
                 cp->size, held->size);
        return WITNESS_REPLAY;
    }
    if (old_size != held->size) {
        snprintf(why, why_size, "old_size %" PRIu64 " is not the size %" PRIu64 " held", old_size,
                 held->size);
        return WITNESS_OLD_SIZE_MISMATCH;
    }
    if (held->size == 0 || cp->size == held->size) {
        if (proof_n != 0) {
            snprintf(why, why_size, "no consistency proof is needed from size %" PRIu64
                     " to %" PRIu64 ", %zu hashes sent", held->size, cp->size, proof_n);
            return WITNESS_BAD_PROOF;
        }
        if (held->size == 0) {
            snprintf(why, why_size, "the first checkpoint cosigned");
            return WITNESS_COSIGN_NEW;
        }
        if (memcmp(held->root.bytes, cp->root_hash, MERKLE_HASH_BYTES) == 0) {
            snprintf(why, why_size, "the checkpoint cosigned already");
            return WITNESS_COSIGN_SAME;
        }
        snprintf(why, why_size, "size %" PRIu64 " was cosigned with another root", cp->size);
        return WITNESS_FORK;
    }
    return witness_judge_extension(held, cp, proof, proof_n, why, why_size);
}

/* ---- store helpers --------------------------------------------------------------- */

static int witness_eval(store_t *st, const char *script, size_t argc, const char **argv,
                        const size_t *argvlen, redisReply **r, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && script != NULL && argv != NULL && argvlen != NULL && r != NULL);
    int idx = store_script_index(script);
    CARBON_ASSERT(idx >= 0); /* every witness_*.lua is embedded */
    if (store_eval(st, idx, 0, (int)argc, argv, argvlen, r, err, errlen) != STORE_OK)
        return LEDGER_ESTORE;
    if ((*r)->type != REDIS_REPLY_ARRAY || (*r)->elements < 1 ||
        ((*r)->element[0]->type != REDIS_REPLY_STATUS &&
         (*r)->element[0]->type != REDIS_REPLY_STRING)) {
        snprintf(err, errlen, "%s: unexpected reply", script);
        freeReplyObject(*r);
        *r = NULL;
        return LEDGER_ESTORE;
    }
    return LEDGER_OK;
}

/* 1 if element i of r is a string equal to s. */
static int witness_reply_is(const redisReply *r, size_t i, const char *s) {
    return r != NULL && r->type == REDIS_REPLY_ARRAY && i < r->elements &&
           r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, s) == 0;
}

/* Copies a string reply (or "" for nil) into a new malloc'd buffer. */
static char *witness_dup(const redisReply *e, size_t *len) {
    size_t n = e != NULL && e->type == REDIS_REPLY_STRING ? e->len : 0;
    char *out = malloc(n + 1);
    if (out == NULL) abort();
    if (n > 0) memcpy(out, e->str, n);
    out[n] = '\0';
    if (len != NULL) *len = n;
    return out;
}

/* A decimal string reply as a number (0 for nil or junk). */
static uint64_t witness_u64(const redisReply *e) {
    if (e == NULL || e->type != REDIS_REPLY_STRING || e->len == 0 || e->len > 20) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < e->len; i++) {
        if (e->str[i] < '0' || e->str[i] > '9') return 0;
        v = v * 10 + (uint64_t)(e->str[i] - '0');
    }
    return v;
}

static void witness_copy_text(const redisReply *e, char *out, size_t out_size) {
    CARBON_ASSERT(out != NULL && out_size > 0);
    out[0] = '\0';
    if (e != NULL && e->type == REDIS_REPLY_STRING && e->len < out_size) {
        memcpy(out, e->str, e->len);
        out[e->len] = '\0';
    }
}

/* HMGET key fields[0..n): *r an array of n elements. */
static int witness_hmget(store_t *st, const char *key, const char *const *fields, size_t n,
                         redisReply **r, char *err, size_t errlen) {
    CARBON_ASSERT(n >= 1 && n <= WITNESS_FORK_FIELDS);
    const char *argv[WITNESS_FORK_FIELDS + 2] = {"HMGET", key};
    for (size_t i = 0; i < n; i++) argv[i + 2] = fields[i];
    if (store_command(st, (int)n + 2, argv, NULL, r, err, errlen) != STORE_OK) return LEDGER_ESTORE;
    if ((*r)->type != REDIS_REPLY_ARRAY || (*r)->elements != n) {
        snprintf(err, errlen, "HMGET %s: unexpected reply", key);
        freeReplyObject(*r);
        *r = NULL;
        return LEDGER_ESTORE;
    }
    return LEDGER_OK;
}

/* ---- what the witness holds ----------------------------------------------------- */

int witness_held_load(store_t *st, const char *region, witness_held_t *out, char *err,
                      size_t errlen) {
    CARBON_ASSERT(st != NULL && region != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    char key[WITNESS_KEY_SIZE];
    snprintf(key, sizeof key, STORE_KEY_CHECKPOINT_WITNESS_PREFIX "%s", region);
    static const char *const fields[] = {"size", "root", "note", "cosig", "time_ms"};
    redisReply *r = NULL;
    if (witness_hmget(st, key, fields, 5, &r, err, errlen) != LEDGER_OK) return LEDGER_ESTORE;
    out->head.size = witness_u64(r->element[0]);
    if (out->head.size > MERKLE_LEAVES_MAX) {
        snprintf(err, errlen, "%s: the size held is over 2^40", key);
        freeReplyObject(r);
        return LEDGER_ESTORE;
    }
    const redisReply *root = r->element[1];
    if (out->head.size > 0 &&
        (root->type != REDIS_REPLY_STRING || root->len != 2 * MERKLE_HASH_BYTES ||
         hex_decode(root->str, root->len, out->head.root.bytes, MERKLE_HASH_BYTES) !=
             MERKLE_HASH_BYTES)) {
        snprintf(err, errlen, "%s: the root held is not %d hex digits", key, 2 * MERKLE_HASH_BYTES);
        freeReplyObject(r);
        return LEDGER_ESTORE;
    }
    out->note = witness_dup(r->element[2], &out->note_len);
    witness_copy_text(r->element[3], out->cosig, sizeof out->cosig);
    out->cosig_len = strlen(out->cosig);
    out->time_ms = witness_u64(r->element[4]);
    freeReplyObject(r);
    return LEDGER_OK;
}

void witness_held_free(witness_held_t *h) {
    if (h == NULL) return;
    free(h->note);
    h->note = NULL;
}

int witness_held_advance(store_t *st, const char *region, uint64_t expected_size,
                         const witness_head_t *head, const char *note, size_t note_len,
                         const char *cosig, size_t cosig_len, uint64_t now_ms, int *applied,
                         uint64_t *held_size, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && region != NULL && head != NULL && note != NULL && cosig != NULL);
    CARBON_ASSERT(applied != NULL && held_size != NULL && head->size >= expected_size);
    char expected[WITNESS_NUM_SIZE], size[WITNESS_NUM_SIZE], now[WITNESS_NUM_SIZE],
        kept[WITNESS_NUM_SIZE], root[HEX_ENCODED_SIZE(MERKLE_HASH_BYTES)];
    snprintf(expected, sizeof expected, "%" PRIu64, expected_size);
    snprintf(size, sizeof size, "%" PRIu64, head->size);
    snprintf(now, sizeof now, "%" PRIu64, now_ms);
    snprintf(kept, sizeof kept, "%d", WITNESS_HISTORY_KEPT);
    int hexed = hex_encode(head->root.bytes, MERKLE_HASH_BYTES, root, sizeof root);
    CARBON_ASSERT(hexed == 2 * MERKLE_HASH_BYTES);
    (void)hexed;
    const char *argv[8] = {region, expected, size, root, note, cosig, now, kept};
    size_t argvlen[8] = {strlen(region), strlen(expected), strlen(size), strlen(root),
                         note_len, cosig_len, strlen(now), strlen(kept)};
    redisReply *r = NULL;
    if (witness_eval(st, "witness_advance", 8, argv, argvlen, &r, err, errlen) != LEDGER_OK)
        return LEDGER_ESTORE;
    *applied = witness_reply_is(r, 0, "OK");
    *held_size = *applied ? head->size : witness_u64(r->elements > 1 ? r->element[1] : NULL);
    freeReplyObject(r);
    return LEDGER_OK;
}

/* ---- fork records ----------------------------------------------------------------- */

void witness_fork_free(witness_fork_t *f) {
    if (f == NULL) return;
    free(f->cosigned);
    free(f->conflicting);
    free(f->proof);
    f->cosigned = f->conflicting = NULL;
    f->proof = NULL;
}

int witness_fork_id_valid(const char *s) {
    if (s == NULL) return 0;
    size_t n = strlen(s);
    if (n < 1 || n >= WITNESS_FORK_ID_SIZE || s[0] == '0') return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

/* SHA-256 hex of the note: the record's dedup id (computed here, not in Lua). */
static int witness_note_digest(const char *note, size_t len, char out[65]) {
    uint8_t md[SHA256_BYTES];
    if (sha256_digest(note, len, md) != 0) return -1;
    return hex_encode(md, SHA256_BYTES, out, 65) == 64 ? 0 : -1;
}

int witness_fork_record(store_t *st, const char *region, const char *cosigned, size_t cosigned_len,
                        const char *conflicting, size_t conflicting_len, const merkle_hash_t *proof,
                        size_t proof_n, uint64_t now_ms, char id[WITNESS_FORK_ID_SIZE],
                        int *is_new, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && region != NULL && cosigned != NULL && conflicting != NULL);
    CARBON_ASSERT(proof_n <= MERKLE_PROOF_MAX && (proof != NULL || proof_n == 0));
    CARBON_ASSERT(id != NULL && is_new != NULL);
    char seen[65], now[WITNESS_NUM_SIZE], kept[WITNESS_NUM_SIZE];
    if (witness_note_digest(conflicting, conflicting_len, seen) != 0) {
        snprintf(err, errlen, "SHA-256 failed");
        return LEDGER_ESTORE;
    }
    snprintf(now, sizeof now, "%" PRIu64, now_ms);
    snprintf(kept, sizeof kept, "%d", WITNESS_FORKS_KEPT);
    uint8_t proof_bytes[MERKLE_PROOF_MAX * MERKLE_HASH_BYTES];
    for (size_t i = 0; i < proof_n; i++)
        memcpy(proof_bytes + i * MERKLE_HASH_BYTES, proof[i].bytes, MERKLE_HASH_BYTES);
    const char *argv[7] = {region, seen, cosigned, conflicting, (const char *)proof_bytes, now, kept};
    size_t argvlen[7] = {strlen(region), 64, cosigned_len, conflicting_len,
                         proof_n * MERKLE_HASH_BYTES, strlen(now), strlen(kept)};
    redisReply *r = NULL;
    if (witness_eval(st, "witness_fork", 7, argv, argvlen, &r, err, errlen) != LEDGER_OK)
        return LEDGER_ESTORE;
    id[0] = '\0';
    *is_new = witness_reply_is(r, 0, "new") ? 1 : witness_reply_is(r, 0, "known") ? 0 : -1;
    if (*is_new >= 0 && r->elements > 1) witness_copy_text(r->element[1], id, WITNESS_FORK_ID_SIZE);
    freeReplyObject(r);
    return LEDGER_OK;
}

int witness_fork_get(store_t *st, const char *id, witness_fork_t *out, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && out != NULL && witness_fork_id_valid(id));
    memset(out, 0, sizeof *out);
    char key[WITNESS_KEY_SIZE];
    snprintf(key, sizeof key, STORE_KEY_CHECKPOINT_FORK_PREFIX "%s", id);
    static const char *const fields[WITNESS_FORK_FIELDS] = {
        "region", "cosigned", "conflicting", "proof", "detected_ms",
        "acked", "acked_by", "ack_reason", "acked_ms"};
    redisReply *r = NULL;
    if (witness_hmget(st, key, fields, WITNESS_FORK_FIELDS, &r, err, errlen) != LEDGER_OK)
        return LEDGER_ESTORE;
    if (r->element[0]->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return LEDGER_NOT_FOUND;
    }
    snprintf(out->id, sizeof out->id, "%s", id);
    witness_copy_text(r->element[0], out->region, sizeof out->region);
    out->cosigned = witness_dup(r->element[1], &out->cosigned_len);
    out->conflicting = witness_dup(r->element[2], &out->conflicting_len);
    out->proof = (uint8_t *)witness_dup(r->element[3], &out->proof_len);
    out->detected_ms = witness_u64(r->element[4]);
    out->acknowledged = witness_u64(r->element[5]) == 1;
    witness_copy_text(r->element[6], out->acknowledged_by, sizeof out->acknowledged_by);
    witness_copy_text(r->element[7], out->ack_reason, sizeof out->ack_reason);
    out->acknowledged_ms = witness_u64(r->element[8]);
    freeReplyObject(r);
    return LEDGER_OK;
}

int witness_fork_list(store_t *st, int include_acknowledged, witness_fork_t **out, size_t *n,
                      char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && out != NULL && n != NULL);
    *out = NULL;
    *n = 0;
    char stop[WITNESS_NUM_SIZE];
    snprintf(stop, sizeof stop, "%d", WITNESS_FORKS_LIST_MAX - 1);
    const char *argv[4] = {"ZRANGE", STORE_KEY_CHECKPOINT_FORKS, "0", stop};
    redisReply *r = NULL;
    if (store_command(st, 4, argv, NULL, &r, err, errlen) != STORE_OK) return LEDGER_ESTORE;
    size_t ids = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
    CARBON_ASSERT(ids <= WITNESS_FORKS_LIST_MAX);
    *out = calloc(ids > 0 ? ids : 1, sizeof **out);
    if (*out == NULL) abort();
    int rc = LEDGER_OK;
    for (size_t i = 0; i < ids && rc == LEDGER_OK; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING || !witness_fork_id_valid(e->str)) continue;
        rc = witness_fork_get(st, e->str, &(*out)[*n], err, errlen);
        if (rc == LEDGER_NOT_FOUND) {
            rc = LEDGER_OK;
            continue;
        }
        if (rc != LEDGER_OK) break;
        if (!include_acknowledged && (*out)[*n].acknowledged) witness_fork_free(&(*out)[*n]);
        else (*n)++;
    }
    freeReplyObject(r);
    if (rc != LEDGER_OK) {
        for (size_t i = 0; i < *n; i++) witness_fork_free(&(*out)[i]);
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

int witness_fork_ack(store_t *st, const char *id, const char *by, const char *reason,
                     uint64_t now_ms, int *already, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && witness_fork_id_valid(id) && by != NULL && reason != NULL);
    CARBON_ASSERT(already != NULL && strlen(reason) < WITNESS_REASON_SIZE);
    char now[WITNESS_NUM_SIZE];
    snprintf(now, sizeof now, "%" PRIu64, now_ms);
    const char *argv[4] = {id, by, reason, now};
    size_t argvlen[4] = {strlen(id), strlen(by), strlen(reason), strlen(now)};
    redisReply *r = NULL;
    if (witness_eval(st, "witness_fork_ack", 4, argv, argvlen, &r, err, errlen) != LEDGER_OK)
        return LEDGER_ESTORE;
    int rc = witness_reply_is(r, 0, "not_found") ? LEDGER_NOT_FOUND : LEDGER_OK;
    *already = witness_reply_is(r, 0, "already");
    freeReplyObject(r);
    return rc;
}

/* *out = the decimal in field of the hash key (0 if absent). */
static int witness_hget_u64(store_t *st, const char *key, const char *field, uint64_t *out, char *err,
                            size_t errlen) {
    const char *argv[3] = {"HGET", key, field};
    redisReply *r = NULL;
    if (store_command(st, 3, argv, NULL, &r, err, errlen) != STORE_OK) return LEDGER_ESTORE;
    *out = witness_u64(r);
    freeReplyObject(r);
    return LEDGER_OK;
}

int witness_forks_open(store_t *st, const char *region, uint64_t *n, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && region != NULL && n != NULL);
    return witness_hget_u64(st, STORE_KEY_CHECKPOINT_FORKS_OPEN, region, n, err, errlen);
}

/* ---- own checkpoints ------------------------------------------------------------- */

int witness_own_add(store_t *st, uint64_t size, const char *note, size_t note_len,
                    const char *const *peers, size_t peers_n, int *stored, char *err,
                    size_t errlen) {
    CARBON_ASSERT(st != NULL && note != NULL && stored != NULL);
    CARBON_ASSERT(peers_n <= WITNESS_PEERS_MAX && (peers != NULL || peers_n == 0));
    char sz[WITNESS_NUM_SIZE], kept[WITNESS_NUM_SIZE];
    snprintf(sz, sizeof sz, "%" PRIu64, size);
    snprintf(kept, sizeof kept, "%d", WITNESS_OWN_KEPT);
    const char *argv[3 + WITNESS_PEERS_MAX] = {sz, note, kept};
    size_t argvlen[3 + WITNESS_PEERS_MAX] = {strlen(sz), note_len, strlen(kept)};
    for (size_t i = 0; i < peers_n; i++) {
        argv[3 + i] = peers[i];
        argvlen[3 + i] = strlen(peers[i]);
    }
    redisReply *r = NULL;
    if (witness_eval(st, "witness_own_add", 3 + peers_n, argv, argvlen, &r, err, errlen) !=
        LEDGER_OK)
        return LEDGER_ESTORE;
    *stored = witness_reply_is(r, 0, "OK");
    freeReplyObject(r);
    return LEDGER_OK;
}

int witness_own_sizes(store_t *st, uint64_t *sizes, size_t max, size_t *n, char *err,
                      size_t errlen) {
    CARBON_ASSERT(st != NULL && sizes != NULL && max >= 1 && max <= WITNESS_OWN_KEPT && n != NULL);
    char stop[WITNESS_NUM_SIZE];
    snprintf(stop, sizeof stop, "%zu", max - 1);
    const char *argv[4] = {"ZREVRANGE", STORE_KEY_CHECKPOINT_OWN_SIZES, "0", stop};
    redisReply *r = NULL;
    if (store_command(st, 4, argv, NULL, &r, err, errlen) != STORE_OK) return LEDGER_ESTORE;
    *n = 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements && *n < max; i++)
        sizes[(*n)++] = witness_u64(r->element[i]);
    freeReplyObject(r);
    return LEDGER_OK;
}

int witness_own_newest(store_t *st, uint64_t *size, char **note, size_t *note_len, char *err,
                       size_t errlen) {
    CARBON_ASSERT(st != NULL && size != NULL && note != NULL && note_len != NULL);
    *note = NULL;
    size_t n = 0;
    if (witness_own_sizes(st, size, 1, &n, err, errlen) != LEDGER_OK) return LEDGER_ESTORE;
    if (n == 0) return LEDGER_NOT_FOUND;
    char sz[WITNESS_NUM_SIZE];
    snprintf(sz, sizeof sz, "%" PRIu64, *size);
    const char *argv[3] = {"HGET", STORE_KEY_CHECKPOINT_OWN_NOTES, sz};
    redisReply *r = NULL;
    if (store_command(st, 3, argv, NULL, &r, err, errlen) != STORE_OK) return LEDGER_ESTORE;
    int found = r->type == REDIS_REPLY_STRING;
    if (found) *note = witness_dup(r, note_len);
    freeReplyObject(r);
    return found ? LEDGER_OK : LEDGER_NOT_FOUND;
}

/* Appends src[0..len) to the malloc'd *buf of *buf_len bytes (keeps a NUL). */
static void witness_append(char **buf, size_t *buf_len, const char *src, size_t len) {
    char *grown = realloc(*buf, *buf_len + len + 1);
    if (grown == NULL) abort();
    memcpy(grown + *buf_len, src, len);
    *buf_len += len;
    grown[*buf_len] = '\0';
    *buf = grown;
}

int witness_own_cosigned_note(store_t *st, uint64_t size, const char *const *peers, size_t peers_n,
                              char **note, size_t *note_len, size_t *cosigners, char *err,
                              size_t errlen) {
    CARBON_ASSERT(st != NULL && note != NULL && note_len != NULL && cosigners != NULL);
    CARBON_ASSERT(peers_n <= WITNESS_PEERS_MAX && (peers != NULL || peers_n == 0));
    *note = NULL;
    *cosigners = 0;
    if (size == 0) {
        int rc = witness_own_newest(st, &size, note, note_len, err, errlen);
        if (rc != LEDGER_OK) return rc;
    } else {
        char sz[WITNESS_NUM_SIZE];
        snprintf(sz, sizeof sz, "%" PRIu64, size);
        const char *argv[3] = {"HGET", STORE_KEY_CHECKPOINT_OWN_NOTES, sz};
        redisReply *r = NULL;
        if (store_command(st, 3, argv, NULL, &r, err, errlen) != STORE_OK) return LEDGER_ESTORE;
        int found = r->type == REDIS_REPLY_STRING;
        if (found) *note = witness_dup(r, note_len);
        freeReplyObject(r);
        if (!found) return LEDGER_NOT_FOUND;
    }
    for (size_t i = 0; i < peers_n; i++) {
        char field[WITNESS_NUM_SIZE + CARBON_REGION_SIZE + 1];
        snprintf(field, sizeof field, "%" PRIu64 "|%s", size, peers[i]);
        const char *argv[3] = {"HGET", STORE_KEY_CHECKPOINT_OWN_COSIGS, field};
        redisReply *r = NULL;
        if (store_command(st, 3, argv, NULL, &r, err, errlen) != STORE_OK) {
            free(*note);
            *note = NULL;
            return LEDGER_ESTORE;
        }
        if (r->type == REDIS_REPLY_STRING && r->len > 0) {
            witness_append(note, note_len, r->str, r->len);
            (*cosigners)++;
        }
        freeReplyObject(r);
    }
    return LEDGER_OK;
}

int witness_own_cosigned(store_t *st, uint64_t size, const char *peer, const char *cosig,
                         size_t cosig_len, int *kept, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && peer != NULL && cosig != NULL && kept != NULL);
    char sz[WITNESS_NUM_SIZE];
    snprintf(sz, sizeof sz, "%" PRIu64, size);
    const char *argv[3] = {sz, peer, cosig};
    size_t argvlen[3] = {strlen(sz), strlen(peer), cosig_len};
    redisReply *r = NULL;
    if (witness_eval(st, "witness_own_cosigned", 3, argv, argvlen, &r, err, errlen) != LEDGER_OK)
        return LEDGER_ESTORE;
    *kept = witness_reply_is(r, 0, "OK");
    freeReplyObject(r);
    return LEDGER_OK;
}

int witness_peer_size(store_t *st, const char *peer, uint64_t *size, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && peer != NULL && size != NULL);
    return witness_hget_u64(st, STORE_KEY_CHECKPOINT_WITNESSED_BY, peer, size, err, errlen);
}

/* Runs `command` (HSETNX, HSET or HDEL) on the late_ms field of region's
 * witness record, with now_ms as the value unless HDEL. */
static int witness_late_write(store_t *st, const char *region, const char *command, uint64_t now_ms,
                              char key[WITNESS_KEY_SIZE], char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && region != NULL && command != NULL);
    char now[WITNESS_NUM_SIZE];
    int n = snprintf(key, WITNESS_KEY_SIZE, STORE_KEY_CHECKPOINT_WITNESS_PREFIX "%s", region);
    CARBON_ASSERT(n > 0 && (size_t)n < WITNESS_KEY_SIZE);
    snprintf(now, sizeof now, "%" PRIu64, now_ms);
    const char *argv[4] = {command, key, "late_ms", now};
    redisReply *r = NULL;
    if (store_command(st, strcmp(command, "HDEL") == 0 ? 3 : 4, argv, NULL, &r, err, errlen) != STORE_OK)
        return LEDGER_ESTORE;
    freeReplyObject(r);
    return LEDGER_OK;
}

int witness_late_since(store_t *st, const char *region, uint64_t now_ms, uint64_t *since_ms, char *err,
                       size_t errlen) {
    CARBON_ASSERT(since_ms != NULL);
    char key[WITNESS_KEY_SIZE];
    if (witness_late_write(st, region, "HSETNX", now_ms, key, err, errlen) != LEDGER_OK) return LEDGER_ESTORE;
    return witness_hget_u64(st, key, "late_ms", since_ms, err, errlen);
}

int witness_late_restart(store_t *st, const char *region, uint64_t now_ms, char *err, size_t errlen) {
    char key[WITNESS_KEY_SIZE];
    return witness_late_write(st, region, "HSET", now_ms, key, err, errlen);
}

int witness_late_clear(store_t *st, const char *region, char *err, size_t errlen) {
    char key[WITNESS_KEY_SIZE];
    return witness_late_write(st, region, "HDEL", 0, key, err, errlen);
}

int witness_history_root(store_t *st, const char *region, uint64_t size, int *found,
                         merkle_hash_t *root, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && region != NULL && found != NULL && root != NULL);
    char key[WITNESS_KEY_SIZE];
    int n = snprintf(key, sizeof key, STORE_KEY_CHECKPOINT_WITNESS_PREFIX "%s" STORE_KEY_CHECKPOINT_HISTORY_SUFFIX,
                     region);
    CARBON_ASSERT(n > 0 && (size_t)n < sizeof key);
    const char *argv[4] = {"LRANGE", key, "0", "-1"};
    redisReply *r = NULL;
    *found = 0;
    if (store_command(st, 4, argv, NULL, &r, err, errlen) != STORE_OK) return LEDGER_ESTORE;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements && !*found; i++) {
        const redisReply *e = r->element[i];
        const char *blank = e->type == REDIS_REPLY_STRING ? memmem(e->str, e->len, "\n\n", 2) : NULL;
        checkpoint_t cp;
        char why[128];
        if (blank != NULL &&
            checkpoint_parse(e->str, (size_t)(blank - e->str) + 1, &cp, why, sizeof why) == NOTE_OK &&
            cp.size == size) {
            memcpy(root->bytes, cp.root_hash, MERKLE_HASH_BYTES);
            *found = 1;
        }
    }
    freeReplyObject(r);
    return LEDGER_OK;
}
