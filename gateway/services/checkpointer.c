/* checkpointer.c - this region's checkpoints, signed and sent to its peers
 * for their cosignatures (checkpointer.h). */
#include "gateway/services/checkpointer.h"

#include "carbon/v1/carbon.pb-c.h"
#include "common/carbon_assert.h"
#include "gateway/log.h"
#include "gateway/peers.h"
#include "gateway/rpc/client.h"
#include "gateway/services/witnessing.h"
#include "settlement/failpoint.h"
#include "settlement/ledger.h"
#include "settlement/log_tree.h"
#include "settlement/witness.h"

#include <jansson.h>
#include <openssl/pem.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECKPOINTER_METHOD "/carbon.v1.Federation/AddCheckpoint"
CARBON_STATIC_ASSERT(CONFIG_PEERS_MAX <= WITNESS_PEERS_MAX, "witness_own_add takes every peer");

/* ---- keys ---------------------------------------------------------------------- */

/* An Ed25519 key from the PEM file path: private (want_private) or public.
 * NULL with "PATH: reason" in err. */
static EVP_PKEY *checkpointer_load_key(const char *path, int want_private, char *err, size_t errlen) {
    CARBON_ASSERT(path != NULL && err != NULL);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    EVP_PKEY *key = want_private ? PEM_read_PrivateKey(f, NULL, NULL, NULL)
                                 : PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (key == NULL || EVP_PKEY_id(key) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(key);
        snprintf(err, errlen, "%s: not an Ed25519 %s key (PEM)", path,
                 want_private ? "private" : "public");
        return NULL;
    }
    return key;
}

/* The pinned key of peer i: its log vkey and its witness vkey. */
static int checkpointer_pin_peer(struct gateway *gw, size_t i, char *err, size_t errlen) {
    CARBON_ASSERT(gw != NULL && i < gw->cfg.peers_n);
    const char *region = gw->cfg.peers[i].region;
    if (gw->cfg.audit_keys[i][0] == '\0') {
        snprintf(err, errlen,
                 "[audit_keys] has no key for the peer %s: its checkpoints cannot be witnessed "
                 "without its pinned audit key (add %s = PATH of its Ed25519 public key, PEM)",
                 region, region);
        return -1;
    }
    EVP_PKEY *key = checkpointer_load_key(gw->cfg.audit_keys[i], 0, err, errlen);
    if (key == NULL) return -1;
    char log_name[WITNESS_NAME_SIZE], witness_name[WITNESS_NAME_SIZE], why[256] = "";
    witness_log_name(region, log_name);
    witness_key_name(region, witness_name);
    note_status_t s = note_verifier_from_key(log_name, NOTE_TYPE_ED25519, key,
                                             &gw->peer_log_vkeys[i], why, sizeof why);
    if (s == NOTE_OK)
        s = note_verifier_from_key(witness_name, NOTE_TYPE_COSIGNATURE_V1, key,
                                   &gw->peer_witness_vkeys[i], why, sizeof why);
    EVP_PKEY_free(key);
    if (s != NOTE_OK) {
        snprintf(err, errlen, "%s: %s", gw->cfg.audit_keys[i], why);
        return -1;
    }
    return 0;
}

int checkpointer_init(struct gateway *gw, char *err, size_t errlen) {
    CARBON_ASSERT(gw != NULL && err != NULL && errlen > 0);
    CARBON_ASSERT(gw->cfg.peers_n <= CONFIG_PEERS_MAX);
    pthread_mutex_init(&gw->checkpointer_lock, NULL);
    pthread_cond_init(&gw->checkpointer_wake, NULL);
    if (gw->cfg.audit_signing_key[0] != '\0') {
        gw->audit_key = checkpointer_load_key(gw->cfg.audit_signing_key, 1, err, errlen);
        if (gw->audit_key == NULL) return -1;
    }
    for (size_t i = 0; i < gw->cfg.peers_n; i++)
        if (checkpointer_pin_peer(gw, i, err, errlen) != 0) return -1;
    return 0;
}

/* ---- signing ------------------------------------------------------------------- */

/* What the thread keeps between ticks, to log each change once. */
typedef struct {
    uint64_t refused_size[CONFIG_PEERS_MAX]; /* the size a peer last refused (logged) */
    char not_signed[256];                    /* why the last tree was not signed (logged) */
} checkpointer_t;

/* The newest checkpoint this region signed, from the store, believed only if
 * its signature verifies with the region's own key: *size and *root (size 0
 * and the empty root when there is none). 0, or -1 (logged) when the stored
 * note is not one this region signed. */
static int checkpointer_last_signed(struct gateway *gw, store_t *st, uint64_t *size,
                                    merkle_hash_t *root) {
    char *note = NULL, err[256] = "", why[256] = "";
    size_t note_len = 0;
    *size = 0;
    int rc = witness_own_newest(st, size, &note, &note_len, err, sizeof err);
    if (rc == LEDGER_NOT_FOUND) { /* none, or its note is gone: start from the empty tree */
        *size = 0;
        return 0;
    }
    if (rc != LEDGER_OK) return -1;
    note_verifier_t own;
    note_opened_t opened;
    checkpoint_t cp;
    char name[WITNESS_NAME_SIZE];
    witness_log_name(gw->cfg.region, name);
    int ok = note_verifier_from_key(name, NOTE_TYPE_ED25519, gw->audit_key, &own, why, sizeof why) == NOTE_OK &&
             note_open(note, note_len, &own, 1, &opened, why, sizeof why) == NOTE_OK &&
             checkpoint_parse(opened.text, opened.text_len, &cp, why, sizeof why) == NOTE_OK &&
             cp.size == *size;
    free(note);
    if (!ok) {
        log_error("own_checkpoint_not_ours", "{s:I, s:s}", "size", (json_int_t)*size, "error", why);
        return -1;
    }
    memcpy(root->bytes, cp.root_hash, MERKLE_HASH_BYTES);
    return 0;
}

/* Logs why the tree is not signed, once per reason; 0 when why is empty (resets). */
static void checkpointer_say(checkpointer_t *c, const char *event, uint64_t size, const char *why) {
    if (why[0] != '\0' && strcmp(c->not_signed, why) != 0)
        log_error(event, "{s:I, s:s}", "size", (json_int_t)size, "error", why);
    snprintf(c->not_signed, sizeof c->not_signed, "%s", why);
}

/* The root of the first *size entries, recomputed from them (never the
 * stored tree alone): from the last signed checkpoint (last, *last_root)
 * when the stored tree still agrees with it; else, the history under it
 * having changed, from the first entry, so that the peers see what the log
 * now holds and refuse it as a fork. *size is bounded by
 * LOG_VERIFY_GROWTH_MAX entries of hashing. LEDGER_OK or the error (err). */
static int checkpointer_recompute(store_t *st, checkpointer_t *c,
                                  const log_tree_head_t *head, uint64_t last,
                                  const merkle_hash_t *last_root, uint64_t *size, merkle_hash_t *root,
                                  char *err, size_t errlen) {
    int rc = LEDGER_CONFLICT;
    if (head->size > last) {
        *size = head->size - last <= LOG_VERIFY_GROWTH_MAX ? head->size : last + LOG_VERIFY_GROWTH_MAX;
        rc = log_tree_root_verified(st, last, last_root, *size, root, err, errlen);
    } else {
        snprintf(err, errlen, "the tree (size %" PRIu64 ") is behind the checkpoint this region signed "
                 "at size %" PRIu64 ": the store lost or changed entries", head->size, last);
    }
    if (rc != LEDGER_CONFLICT) return rc;
    checkpointer_say(c, "audit_history_changed", last, err);
    *size = head->size <= LOG_VERIFY_GROWTH_MAX ? head->size : LOG_VERIFY_GROWTH_MAX;
    return log_tree_root_verified(st, 0, NULL, *size, root, err, errlen);
}

/* The size and root to sign next (checkpointer_recompute), checked against
 * the stored tree, from which the peers' proofs are made. 0, or -1 (nothing
 * to sign, or the stored tree is not the tree of the entries: logged). */
static int checkpointer_next(struct gateway *gw, store_t *st, checkpointer_t *c, uint64_t *size,
                             merkle_hash_t *root) {
    log_tree_head_t head;
    merkle_hash_t last_root, stored;
    uint64_t last = 0;
    char err[256] = "";
    if (log_tree_head(st, &head, err, sizeof err) != LEDGER_OK || head.size == 0) return -1;
    if (checkpointer_last_signed(gw, st, &last, &last_root) != 0 || head.size == last) return -1;
    int rc = checkpointer_recompute(st, c, &head, last, &last_root, size, root, err, sizeof err);
    if (rc == LEDGER_OK && *size < head.size) rc = log_tree_root_at(st, *size, &stored, err, sizeof err);
    if (rc == LEDGER_OK && *size == head.size) stored = head.root;
    if (rc == LEDGER_OK && !merkle_hash_equal(&stored, root)) {
        snprintf(err, sizeof err, "the stored tree's root at size %" PRIu64 " is not the root of the "
                 "entries", *size);
        rc = LEDGER_EINVAL;
    }
    if (rc == LEDGER_OK && *size <= last) {
        snprintf(err, sizeof err, "the entries give a tree of %" PRIu64 " entries, not past the "
                 "checkpoint signed at %" PRIu64, *size, last);
        rc = LEDGER_EINVAL;
    }
    if (rc == LEDGER_ESTORE) return -1;
    checkpointer_say(c, "audit_tree_not_signed", *size, rc == LEDGER_OK ? "" : err);
    return rc == LEDGER_OK ? 0 : -1;
}

/* Signs a checkpoint if the tree grew past the newest own checkpoint (of the
 * root checkpointer_next computed), and keeps it. */
static void checkpointer_sign_new(struct gateway *gw, store_t *st, checkpointer_t *c) {
    CARBON_ASSERT(gw != NULL && st != NULL && c != NULL && gw->audit_key != NULL);
    checkpoint_t cp;
    memset(&cp, 0, sizeof cp);
    merkle_hash_t root;
    if (checkpointer_next(gw, st, c, &cp.size, &root) != 0) return;
    witness_log_name(gw->cfg.region, cp.origin);
    memcpy(cp.root_hash, root.bytes, NOTE_HASH_BYTES);
    char body[CHECKPOINT_BODY_BYTES_MAX + 1], note[NOTE_BYTES_MAX + 1], err[256] = "", why[256] = "";
    size_t body_len = 0, note_len = 0;
    if (checkpoint_format(&cp, body, sizeof body, &body_len, why, sizeof why) != NOTE_OK ||
        note_sign(body, body_len, cp.origin, gw->audit_key, note, sizeof note, &note_len, why,
                  sizeof why) != NOTE_OK) {
        log_error("checkpoint_sign_failed", "{s:s}", "error", why);
        return;
    }
    int stored = 0;
    if (witness_own_add(st, cp.size, note, note_len, gw->peer_regions, gw->cfg.peers_n, &stored,
                        err, sizeof err) != LEDGER_OK)
        return;
    if (stored) log_debug("checkpoint", "{s:I}", "size", (json_int_t)cp.size);
}

/* ---- sending ------------------------------------------------------------------- */

/* Checks and keeps peer i's cosignature line of the note of size. */
static void checkpointer_keep_cosig(struct gateway *gw, store_t *st, size_t i, uint64_t size,
                                    const char *note, size_t note_len, const ProtobufCBinaryData *line) {
    CARBON_ASSERT(gw != NULL && st != NULL && note != NULL && line != NULL && i < gw->cfg.peers_n);
    const char *peer = gw->cfg.peers[i].region;
    char why[256] = "", err[256] = "";
    note_opened_t opened;
    note_status_t s = NOTE_ERR_TOO_LARGE;
    char *both = NULL;
    /* exactly one line, so that nothing else is kept with the checkpoint */
    int one_line = line->len > 0 && memchr(line->data, '\n', line->len) == line->data + line->len - 1;
    if (one_line && line->len <= NOTE_SIG_LINE_BYTES_MAX && note_len + line->len <= NOTE_BYTES_MAX) {
        both = malloc(note_len + line->len);
        if (both == NULL) abort();
        memcpy(both, note, note_len);
        memcpy(both + note_len, line->data, line->len);
        s = note_open(both, note_len + line->len, &gw->peer_witness_vkeys[i], 1, &opened, why,
                      sizeof why);
    }
    free(both);
    if (s != NOTE_OK) {
        log_warn("cosignature_refused", "{s:s, s:I, s:s}", "peer", peer, "size", (json_int_t)size,
                 "error", why[0] == '\0' ? "not one cosignature line" : why);
        return;
    }
    int kept = 0;
    if (witness_own_cosigned(st, size, peer, (const char *)line->data, line->len, &kept, err,
                             sizeof err) == LEDGER_OK && kept)
        log_debug("checkpoint_cosigned_by", "{s:s, s:I}", "peer", peer, "size", (json_int_t)size);
}

static Carbon__V1__AddCheckpointResponse *checkpointer_call_proof(struct gateway *gw, size_t i, uint64_t old_size,
                                                                  uint64_t size, const char *note, size_t note_len,
                                                                  merkle_hash_t *proof, size_t proof_n,
                                                                  checkpointer_t *c);

/* One AddCheckpoint to peer i from old_size. Returns the response or NULL
 * (the failure observed and logged). */
static Carbon__V1__AddCheckpointResponse *checkpointer_call(struct gateway *gw, store_t *st, size_t i,
                                                            uint64_t old_size, uint64_t size,
                                                            const char *note, size_t note_len,
                                                            checkpointer_t *c) {
    const char *peer = gw->cfg.peers[i].region;
    merkle_hash_t proof[MERKLE_PROOF_MAX];
    size_t proof_n = 0;
    char err[256] = "";
    if (old_size > 0 && old_size < size &&
        log_tree_consistency_proof(st, old_size, size, proof, &proof_n, err, sizeof err) != LEDGER_OK) {
        log_warn("consistency_proof_failed", "{s:s, s:I, s:I, s:s}", "peer", peer, "old_size",
                 (json_int_t)old_size, "size", (json_int_t)size, "error", err);
        return NULL;
    }
    return checkpointer_call_proof(gw, i, old_size, size, note, note_len, proof, proof_n, c);
}

/* One AddCheckpoint to peer i from old_size with proof[0..proof_n).
 * Returns the response or NULL (the failure observed and logged). */
static Carbon__V1__AddCheckpointResponse *checkpointer_call_proof(struct gateway *gw, size_t i, uint64_t old_size,
                                                                  uint64_t size, const char *note, size_t note_len,
                                                                  merkle_hash_t *proof, size_t proof_n,
                                                                  checkpointer_t *c) {
    CARBON_ASSERT(gw != NULL && note != NULL && proof_n <= MERKLE_PROOF_MAX && c != NULL);
    const char *peer = gw->cfg.peers[i].region;
    ProtobufCBinaryData hashes[MERKLE_PROOF_MAX];
    for (size_t k = 0; k < proof_n; k++) hashes[k] = (ProtobufCBinaryData){MERKLE_HASH_BYTES, proof[k].bytes};
    Carbon__V1__AddCheckpointRequest req = CARBON__V1__ADD_CHECKPOINT_REQUEST__INIT;
    req.old_size = old_size;
    req.n_consistency_proof = proof_n;
    req.consistency_proof = hashes;
    req.checkpoint = (ProtobufCBinaryData){note_len, (uint8_t *)note};
    ProtobufCMessage *resp = NULL;
    client_status_t status;
    memset(&status, 0, sizeof status);
    grpc_channel *ch = peers_channel_of(gw->peers, peer);
    int ok = client_call(ch, CHECKPOINTER_METHOD, &req.base,
                         &carbon__v1__add_checkpoint_response__descriptor, &resp,
                         gw->cfg.peer_timeout_ms, &status) == GRPC_STATUS_OK;
    int unreachable = status.code == GRPC_STATUS_UNAVAILABLE || status.code == GRPC_STATUS_DEADLINE_EXCEEDED;
    /* a peer down is logged once (peer_down); a refusal once per size below */
    peers_observe(gw->peers, peer, CHECKPOINTER_METHOD, ok || !unreachable ? NULL : &status);
    if (!ok && !unreachable && c->refused_size[i] != size) {
        c->refused_size[i] = size;
        log_error("checkpoint_refused_by_peer", "{s:s, s:I, s:s}", "peer", peer, "size",
                  (json_int_t)size, "status", status.details);
    }
    if (!ok && resp != NULL) {
        protobuf_c_message_free_unpacked(resp, NULL);
        resp = NULL;
    }
    return (Carbon__V1__AddCheckpointResponse *)resp;
}

/* The witness of peer i holds a checkpoint of witnessed > size (a sibling
 * gateway of this region sent it while this one was paused): the
 * checkpoint of size is late. Sends it once more with PROOF(size,
 * witnessed) from this region's tree, so that the witness checks it is a
 * prefix (C2SP tlog-witness: a conflict, no alarm) rather than a fork. */
static void checkpointer_late(struct gateway *gw, store_t *st, size_t i, uint64_t size, uint64_t witnessed,
                              const char *note, size_t note_len, checkpointer_t *c) {
    CARBON_ASSERT(gw != NULL && st != NULL && note != NULL && witnessed > size);
    const char *peer = gw->cfg.peers[i].region;
    log_info("checkpoint_late", "{s:s, s:I, s:I}", "peer", peer, "size", (json_int_t)size, "witnessed_size",
             (json_int_t)witnessed);
    merkle_hash_t proof[MERKLE_PROOF_MAX];
    size_t proof_n = 0;
    char err[256] = "";
    if (size == 0 ||
        log_tree_consistency_proof(st, size, witnessed, proof, &proof_n, err, sizeof err) != LEDGER_OK) {
        log_error("witness_ahead_of_log", "{s:s, s:I, s:I, s:s}", "peer", peer, "witnessed_size",
                  (json_int_t)witnessed, "tree_size", (json_int_t)size, "error", err);
        return;
    }
    Carbon__V1__AddCheckpointResponse *r =
        checkpointer_call_proof(gw, i, witnessed, size, note, note_len, proof, proof_n, c);
    if (r != NULL) protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* Sends the newest checkpoint to peer i until it cosigns it, at most
 * CHECKPOINTER_TRIES calls (an OLD_SIZE_MISMATCH gives the size to prove from). */
static void checkpointer_send(struct gateway *gw, store_t *st, size_t i, uint64_t size,
                              const char *note, size_t note_len, checkpointer_t *c) {
    CARBON_ASSERT(gw != NULL && st != NULL && note != NULL && i < gw->cfg.peers_n);
    uint64_t old_size = 0;
    char err[256] = "";
    if (witness_peer_size(st, gw->cfg.peers[i].region, &old_size, err, sizeof err) != LEDGER_OK ||
        old_size >= size)
        return;
    failpoint_pause("checkpoint_send"); /* tests: a lease holder stalled here, its lease expiring */
    for (int tries = 0; tries < CHECKPOINTER_TRIES; tries++) {
        if (old_size > size) {
            checkpointer_late(gw, st, i, size, old_size, note, note_len, c);
            return;
        }
        Carbon__V1__AddCheckpointResponse *r =
            checkpointer_call(gw, st, i, old_size, size, note, note_len, c);
        if (r == NULL) return;
        int mismatch = r->outcome == CARBON__V1__ADD_CHECKPOINT_RESPONSE__OUTCOME__OLD_SIZE_MISMATCH;
        if (r->outcome == CARBON__V1__ADD_CHECKPOINT_RESPONSE__OUTCOME__COSIGNED)
            checkpointer_keep_cosig(gw, st, i, size, note, note_len, &r->cosignature);
        old_size = r->witnessed_size;
        protobuf_c_message_free_unpacked(&r->base, NULL);
        if (!mismatch) return;
    }
}

static void checkpointer_tick(struct gateway *gw, store_t *st, checkpointer_t *c) {
    CARBON_ASSERT(gw != NULL && st != NULL && c != NULL);
    witnessing_refresh_alarm(gw, st);
    /* One gateway of the region signs and sends at a time: two would race,
     * and one's older checkpoint could reach a witness after the other's
     * newer one, which the witness must take for a rollback. */
    uint64_t lease_ms = 3u * gw->cfg.checkpoint_interval_ms < 3000u ? 3000u : 3u * gw->cfg.checkpoint_interval_ms;
    int held = 0;
    char lerr[256] = "";
    if (store_lease_take(st, STORE_KEY_LEASE_CHECKPOINTER, gw->lease_owner, lease_ms, &held, lerr, sizeof lerr) !=
            STORE_OK ||
        !held)
        return;
    checkpointer_sign_new(gw, st, c);
    uint64_t size = 0;
    char *note = NULL, err[256] = "";
    size_t note_len = 0;
    if (witness_own_newest(st, &size, &note, &note_len, err, sizeof err) != LEDGER_OK) return;
    for (size_t i = 0; i < gw->cfg.peers_n; i++) checkpointer_send(gw, st, i, size, note, note_len, c);
    free(note);
}

static void *checkpointer_main(void *arg) {
    struct gateway *gw = arg;
    CARBON_ASSERT(gw != NULL && gw->audit_key != NULL);
    CARBON_ASSERT(gw->cfg.checkpoint_interval_ms >= 1);
    store_t *st = NULL;
    checkpointer_t *c = calloc(1, sizeof *c);
    if (c == NULL) abort();
    for (;;) {
        pthread_mutex_lock(&gw->checkpointer_lock);
        if (!gw->checkpointer_stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)gw->cfg.checkpoint_interval_ms * 1000000u;
            ts.tv_sec += (time_t)(ns / 1000000000u);
            ts.tv_nsec = (long)(ns % 1000000000u);
            pthread_cond_timedwait(&gw->checkpointer_wake, &gw->checkpointer_lock, &ts);
        }
        int stop = gw->checkpointer_stop;
        pthread_mutex_unlock(&gw->checkpointer_lock);
        if (stop) break;
        char err[256];
        if (st == NULL) st = store_open(&gw->store_cfg, err, sizeof err);
        if (st != NULL) checkpointer_tick(gw, st, c);
    }
    free(c);
    store_close(st);
    return NULL;
}

int checkpointer_start(struct gateway *gw, char *err, size_t errlen) {
    CARBON_ASSERT(gw != NULL && err != NULL);
    CARBON_ASSERT(!gw->checkpointer_started);
    if (gw->audit_key == NULL) return 0;
    if (pthread_create(&gw->checkpointer, NULL, checkpointer_main, gw) != 0) {
        snprintf(err, errlen, "cannot start the checkpointer");
        return -1;
    }
    gw->checkpointer_started = 1;
    return 0;
}

void checkpointer_stop(struct gateway *gw) {
    CARBON_ASSERT(gw != NULL);
    if (!gw->checkpointer_started) return;
    pthread_mutex_lock(&gw->checkpointer_lock);
    gw->checkpointer_stop = 1;
    pthread_cond_broadcast(&gw->checkpointer_wake);
    pthread_mutex_unlock(&gw->checkpointer_lock);
    int joined = pthread_join(gw->checkpointer, NULL);
    CARBON_ASSERT(joined == 0);
    (void)joined;
    gw->checkpointer_started = 0;
}

void checkpointer_fini(struct gateway *gw) {
    CARBON_ASSERT(gw != NULL);
    checkpointer_stop(gw);
    EVP_PKEY_free(gw->audit_key);
    gw->audit_key = NULL;
}
