/* witnessing.c - this gateway as its peers' witness, and the fork alarm
 * (witnessing.h; settlement/witness.h keeps the state). */
#include "gateway/services/witnessing.h"
#include "gateway/services/federation.h"

#include "carbon/v1/carbon.pb-c.h"
#include "common/carbon_assert.h"
#include "common/hex.h"
#include "gateway/arena.h"
#include "gateway/log.h"
#include "gateway/metrics.h"
#include "gateway/validate.h"
#include "settlement/ledger.h"
#include "settlement/witness.h"

#include <jansson.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WITNESSING_REASON_MIN 10
#define WITNESSING_LATE_FORGOTTEN_GRACES 10 /* a late_ms this old is a new start */
#define WITNESSING_REASON_MAX 512
CARBON_STATIC_ASSERT(WITNESSING_REASON_MAX < WITNESS_REASON_SIZE, "a reason fits a fork record");

/* A checkpoint offered by a peer, parsed and authenticated. */
typedef struct {
    const char *region; /* the caller's region (its certificate) */
    const char *note;   /* the signed note as kept: its text and the log's verified line (kept) */
    size_t note_len;
    char kept[NOTE_BYTES_MAX + 1];
    note_opened_t opened;
    checkpoint_t cp;
    merkle_hash_t proof[MERKLE_PROOF_MAX];
    size_t proof_n;
} witnessing_offer_t;

/* The pinned log key (jjj.carbon/REGION/audit) of peer region, or NULL. */
static const note_verifier_t *witnessing_pinned(const struct gateway *gw, const char *region) {
    CARBON_ASSERT(gw != NULL && region != NULL && gw->cfg.peers_n <= CONFIG_PEERS_MAX);
    for (size_t i = 0; i < gw->cfg.peers_n; i++)
        if (strcmp(gw->cfg.peers[i].region, region) == 0 && gw->peer_log_vkeys[i].name[0] != '\0')
            return &gw->peer_log_vkeys[i];
    return NULL;
}

/* Makes o's note the one kept and served (audit.c `witnessed`): its text
 * and the log's line this witness checked, no other. A line it did not
 * check (a peer's old cosignature, junk under other names) would reach the
 * auditors beside its own cosignature and break their check of the log.
 * o->opened must be a note that opened with at least one verified line. */
static void witnessing_keep_checked(witnessing_offer_t *o) {
    CARBON_ASSERT(o->opened.first_verified != NULL &&
                  o->opened.text_len + o->opened.first_verified_len + 2 <= o->note_len);
    memcpy(o->kept, o->opened.text, o->opened.text_len);
    o->kept[o->opened.text_len] = '\n';
    memcpy(o->kept + o->opened.text_len + 1, o->opened.first_verified, o->opened.first_verified_len);
    o->note_len = o->opened.text_len + 1 + o->opened.first_verified_len + 1;
    o->kept[o->note_len - 1] = '\n';
    o->kept[o->note_len] = '\0';
    o->note = o->kept;
    o->opened.text = o->kept; /* the same bytes, in the copy kept */
}

/* The signature, the body, the origin and the sizes of an AddCheckpoint:
 * 1 with *o filled, or 0 after refusing the call. */
static int witnessing_offer_in(server_call_t *call, const Carbon__V1__AddCheckpointRequest *req,
                               witnessing_offer_t *o) {
    struct gateway *gw = server_call_app(call);
    const identity_t *caller = server_call_caller(call);
    CARBON_ASSERT(caller != NULL); /* Federation callers are authenticated peer gateways */
    o->region = caller->region;
    if (gw->audit_key == NULL) {
        server_refuse(call, REASON_NO_WITNESS_KEY, "%s has no audit signing key", gw->cfg.region);
        return 0;
    }
    const note_verifier_t *pinned = witnessing_pinned(gw, caller->region);
    if (pinned == NULL) {
        server_refuse(call, REASON_NOT_SIGNED_BY_REGION, "no audit key of %s is pinned here",
                      caller->region);
        return 0;
    }
    char why[256] = "";
    o->note = req->checkpoint.data != NULL ? (const char *)req->checkpoint.data : "";
    o->note_len = req->checkpoint.len;
    note_status_t s = note_open(o->note, o->note_len, pinned, 1, &o->opened, why, sizeof why);
    if (s == NOTE_ERR_MALFORMED || s == NOTE_ERR_TOO_LARGE) {
        server_refuse(call, REASON_MALFORMED_CHECKPOINT, "%s", why);
        return 0;
    }
    if (s != NOTE_OK) {
        server_refuse(call, REASON_NOT_SIGNED_BY_REGION, "no valid signature by %s: %s", pinned->name,
                      why);
        return 0;
    }
    witnessing_keep_checked(o);
    if (checkpoint_parse(o->opened.text, o->opened.text_len, &o->cp, why, sizeof why) != NOTE_OK) {
        server_refuse(call, REASON_MALFORMED_CHECKPOINT, "%s", why);
        return 0;
    }
    if (o->cp.extensions_len > 0) { /* docs/audit-log.md section 4: a region's checkpoint has none */
        server_refuse(call, REASON_MALFORMED_CHECKPOINT, "a checkpoint of this federation has no extension lines");
        return 0;
    }
    char origin[WITNESS_NAME_SIZE];
    witness_log_name(caller->region, origin);
    if (strcmp(o->cp.origin, origin) != 0) {
        server_refuse(call, REASON_WRONG_ORIGIN, "the origin is not %s", origin);
        return 0;
    }
    if (o->cp.size > MERKLE_LEAVES_MAX) {
        server_refuse(call, REASON_CHECKPOINT_TOO_LARGE, "size %" PRIu64 " is over 2^40", o->cp.size);
        return 0;
    }
    for (size_t i = 0; i < req->n_consistency_proof && i < MERKLE_PROOF_MAX; i++)
        if (merkle_hash_from_bytes(req->consistency_proof[i].data, req->consistency_proof[i].len,
                                   &o->proof[i]) != MERKLE_OK) {
            server_refuse(call, REASON_BAD_PROOF, "hash %zu of the proof is not 32 bytes", i);
            return 0;
        }
    if (req->n_consistency_proof > MERKLE_PROOF_MAX) {
        server_refuse(call, REASON_BAD_PROOF, "a proof has at most %d hashes", MERKLE_PROOF_MAX);
        return 0;
    }
    o->proof_n = req->n_consistency_proof;
    return 1;
}

static void witnessing_reply(server_call_t *call, Carbon__V1__AddCheckpointResponse__Outcome outcome,
                             const char *cosig, size_t cosig_len, uint64_t witnessed_size) {
    Carbon__V1__AddCheckpointResponse resp = CARBON__V1__ADD_CHECKPOINT_RESPONSE__INIT;
    resp.outcome = outcome;
    resp.cosignature.data = (uint8_t *)cosig;
    resp.cosignature.len = cosig != NULL ? cosig_len : 0;
    resp.witnessed_size = witnessed_size;
    server_reply_ok(call, &resp.base);
}

/* Cosigns the offer, stores it with a compare-and-set on the size held
 * (store_it) and answers COSIGNED; OLD_SIZE_MISMATCH if the size held
 * changed meanwhile (another call or gateway of this region). */
static void witnessing_cosign(server_call_t *call, store_t *st, const witnessing_offer_t *o,
                              const witness_held_t *held, int store_it) {
    struct gateway *gw = server_call_app(call);
    char name[WITNESS_NAME_SIZE], why[256] = "", err[256] = "";
    witness_key_name(gw->cfg.region, name);
    char line[NOTE_OWN_SIG_LINE_SIZE];
    size_t line_len = 0;
    uint64_t now_ms = ledger_now_ms();
    if (note_cosign_line(o->opened.text, o->opened.text_len, name, gw->audit_key, now_ms / 1000,
                         line, sizeof line, &line_len, why, sizeof why) != NOTE_OK) {
        log_error("cosign_failed", "{s:s, s:s}", "region", o->region, "error", why);
        server_refuse(call, REASON_NO_WITNESS_KEY, "cosigning failed: %s", why);
        return;
    }
    uint64_t held_now = held->head.size;
    int applied = 1;
    if (store_it) {
        witness_head_t head = {.size = o->cp.size};
        memcpy(head.root.bytes, o->cp.root_hash, MERKLE_HASH_BYTES);
        if (witness_held_advance(st, o->region, held->head.size, &head, o->note, o->note_len, line,
                                 line_len, now_ms, &applied, &held_now, err,
                                 sizeof err) != LEDGER_OK) {
            server_refuse(call, REASON_STORE_UNAVAILABLE, "%s", err);
            return;
        }
    }
    if (!applied) {
        witnessing_reply(call, CARBON__V1__ADD_CHECKPOINT_RESPONSE__OUTCOME__OLD_SIZE_MISMATCH, NULL,
                         0, held_now);
        return;
    }
    log_debug("checkpoint_cosigned", "{s:s, s:I}", "region", o->region, "size",
              (json_int_t)o->cp.size);
    witnessing_reply(call, CARBON__V1__ADD_CHECKPOINT_RESPONSE__OUTCOME__COSIGNED, line, line_len,
                     o->cp.size);
}

/* Sets the alarm metric of region from the store. */
static void witnessing_alarm(struct gateway *gw, store_t *st, const char *region) {
    uint64_t open = 0;
    char err[256];
    if (witness_forks_open(st, region, &open, err, sizeof err) == LEDGER_OK)
        metrics_set_forks_unacknowledged(gw->metrics, region, open);
}

/* A fork: keeps the evidence, raises the alarm and refuses the checkpoint. */
static void witnessing_fork(server_call_t *call, store_t *st, const witnessing_offer_t *o,
                            const witness_held_t *held, const char *why) {
    struct gateway *gw = server_call_app(call);
    char id[WITNESS_FORK_ID_SIZE] = "", err[256] = "";
    int is_new = 0;
    if (witness_fork_record(st, o->region, held->note, held->note_len, o->note, o->note_len,
                            o->proof, o->proof_n, ledger_now_ms(), id, &is_new, err,
                            sizeof err) != LEDGER_OK) {
        server_refuse(call, REASON_STORE_UNAVAILABLE, "%s", err);
        return;
    }
    char held_root[HEX_ENCODED_SIZE(MERKLE_HASH_BYTES)], offered_root[HEX_ENCODED_SIZE(MERKLE_HASH_BYTES)];
    hex_encode(held->head.root.bytes, MERKLE_HASH_BYTES, held_root, sizeof held_root);
    hex_encode(o->cp.root_hash, MERKLE_HASH_BYTES, offered_root, sizeof offered_root);
    if (is_new != 0)
        log_error("audit_fork", "{s:s, s:s, s:I, s:s, s:I, s:s, s:s, s:b}", "region", o->region,
                  "fork_id", id, "cosigned_size", (json_int_t)held->head.size, "cosigned_root",
                  held_root, "offered_size", (json_int_t)o->cp.size, "offered_root", offered_root,
                  "why", why, "evidence_kept", is_new == 1);
    witnessing_alarm(gw, st, o->region);
    if (is_new < 0)
        server_refuse(call, REASON_CHECKPOINT_FORK, "%s (evidence not kept: %d fork records of %s "
                      "are held already)", why, WITNESS_FORKS_KEPT, o->region);
    else
        server_refuse(call, REASON_CHECKPOINT_FORK, "%s; kept as fork %s", why, id);
}

/* A late checkpoint (older than the one held, and a prefix of it, or not
 * comparable without a proof): C2SP tlog-witness answers a conflict with
 * the size it holds (here OK, OLD_SIZE_MISMATCH, witnessed_size), nothing
 * changes and no alarm: a sibling gateway of the caller's region sent a
 * larger checkpoint first (a paused lease holder), or the call crossed it. */
static void witnessing_stale(server_call_t *call, const witnessing_offer_t *o, const witness_held_t *held,
                             const char *why) {
    log_info("checkpoint_stale", "{s:s, s:I, s:I, s:s}", "region", o->region, "size",
             (json_int_t)o->cp.size, "witnessed_size", (json_int_t)held->head.size, "why", why);
    witnessing_reply(call, CARBON__V1__ADD_CHECKPOINT_RESPONSE__OUTCOME__OLD_SIZE_MISMATCH, NULL, 0,
                     held->head.size);
}

/* How long a log may leave a smaller checkpoint unproven: three of this
 * gateway's checkpoint intervals (the federation's interval), at least 1 s.
 * An honest log proves a late one a prefix in the same round. */
static uint64_t witnessing_late_grace_ms(const struct gateway *gw) {
    uint64_t grace_ms = 3u * (uint64_t)gw->cfg.checkpoint_interval_ms;
    return grace_ms < 1000u ? 1000u : grace_ms;
}

/* A smaller checkpoint this witness never cosigned, sent without a prefix
 * proof: a paused sibling gateway's late one (its log proves it a prefix at
 * once, witnessing_stale) or a log that went back (lost or rolled-back
 * entries, which can never prove it). The first is answered as late and its
 * time kept; one still unproven witnessing_late_grace_ms after the first,
 * with nothing cosigned or proven meanwhile, is a fork: the two signed
 * checkpoints are the evidence. */
static void witnessing_unproven(server_call_t *call, store_t *st, const witnessing_offer_t *o,
                                const witness_held_t *held, const char *why) {
    struct gateway *gw = server_call_app(call);
    uint64_t now_ms = ledger_now_ms(), since_ms = 0;
    char err[256] = "", fork_why[400];
    if (witness_late_since(st, o->region, now_ms, &since_ms, err, sizeof err) != LEDGER_OK) {
        server_refuse(call, REASON_STORE_UNAVAILABLE, "%s", err);
        return;
    }
    /* 0: a concurrent cosign or proof cleared it between the two reads; a
     * sibling's clock may be ahead: both are no wait at all */
    uint64_t waited_ms = since_ms != 0 && now_ms > since_ms ? now_ms - since_ms : 0;
    uint64_t grace_ms = witnessing_late_grace_ms(gw);
    if (waited_ms >= WITNESSING_LATE_FORGOTTEN_GRACES * grace_ms) {
        /* left by a late checkpoint whose proof never came (its sender was
         * killed): a log that went back resends every interval and is caught
         * one grace after this new start */
        if (witness_late_restart(st, o->region, now_ms, err, sizeof err) != LEDGER_OK) {
            server_refuse(call, REASON_STORE_UNAVAILABLE, "%s", err);
            return;
        }
        waited_ms = 0;
    }
    if (waited_ms < grace_ms) {
        witnessing_stale(call, o, held, why);
        return;
    }
    snprintf(fork_why, sizeof fork_why, "%s, and for %" PRIu64 " ms the log has sent only checkpoints below it "
             "and proven none a prefix: the log went back", why, waited_ms);
    witnessing_fork(call, st, o, held, fork_why);
}

/* A checkpoint smaller than the one held, without a prefix proof: a replay
 * if this witness cosigned exactly it (same size, same root, in its
 * history); a fork if it cosigned another root at that size; otherwise
 * unproven (witnessing_unproven): the log may send it again with
 * PROOF(its size, the size held), which settles stale or fork. */
static void witnessing_smaller(server_call_t *call, store_t *st, const witnessing_offer_t *o,
                               const witness_held_t *held, const char *why) {
    merkle_hash_t root;
    int found = 0;
    char err[256] = "", fork_why[400];
    if (witness_history_root(st, o->region, o->cp.size, &found, &root, err, sizeof err) != LEDGER_OK) {
        server_refuse(call, REASON_STORE_UNAVAILABLE, "%s", err);
        return;
    }
    if (found && memcmp(root.bytes, o->cp.root_hash, MERKLE_HASH_BYTES) == 0) {
        server_refuse(call, REASON_CHECKPOINT_REPLAYED, "%s", why);
        return;
    }
    if (!found) {
        witnessing_unproven(call, st, o, held, why);
        return;
    }
    snprintf(fork_why, sizeof fork_why, "%s, and is not the checkpoint of that size cosigned (another "
             "root): the log went back", why);
    witnessing_fork(call, st, o, held, fork_why);
}

void federation_add_checkpoint(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__AddCheckpointRequest *req = (const Carbon__V1__AddCheckpointRequest *)request;
    witnessing_offer_t o;
    memset(&o, 0, sizeof o);
    if (!federation_rate_ok(call)) return;
    if (!witnessing_offer_in(call, req, &o)) return;
    store_t *st = gateway_call_store(call);
    if (st == NULL) return;
    witness_held_t held;
    char why[256] = "", err[256] = "";
    if (witness_held_load(st, o.region, &held, err, sizeof err) != LEDGER_OK) {
        server_refuse(call, REASON_STORE_UNAVAILABLE, "%s", err);
        return;
    }
    switch (witness_judge(&held.head, req->old_size, &o.cp, o.proof, o.proof_n, why, sizeof why)) {
    case WITNESS_OLD_SIZE_MISMATCH:
        witnessing_reply(call, CARBON__V1__ADD_CHECKPOINT_RESPONSE__OUTCOME__OLD_SIZE_MISMATCH,
                         NULL, 0, held.head.size);
        break;
    case WITNESS_REPLAY:
        witnessing_smaller(call, st, &o, &held, why);
        break;
    case WITNESS_STALE: /* proven a prefix: the log has not gone back */
        if (witness_late_clear(st, o.region, err, sizeof err) != LEDGER_OK) {
            server_refuse(call, REASON_STORE_UNAVAILABLE, "%s", err);
            break;
        }
        witnessing_stale(call, &o, &held, why);
        break;
    case WITNESS_BAD_PROOF:
        server_refuse(call, REASON_BAD_PROOF, "%s", why);
        break;
    case WITNESS_FORK:
        witnessing_fork(call, st, &o, &held, why);
        break;
    case WITNESS_COSIGN_SAME:
        if (held.cosig_len > 0)
            witnessing_reply(call, CARBON__V1__ADD_CHECKPOINT_RESPONSE__OUTCOME__COSIGNED,
                             held.cosig, held.cosig_len, held.head.size);
        else
            witnessing_cosign(call, st, &o, &held, 1);
        break;
    case WITNESS_COSIGN_NEW:
        witnessing_cosign(call, st, &o, &held, 1);
        break;
    }
    witness_held_free(&held);
}

/* ---- the alarm: Operations.ListForks, AcknowledgeFork ----------------------------- */

int witnessing_refresh_alarm(struct gateway *gw, store_t *st) {
    CARBON_ASSERT(gw != NULL && st != NULL && gw->cfg.peers_n <= CONFIG_PEERS_MAX);
    for (size_t i = 0; i < gw->cfg.peers_n; i++) {
        uint64_t open = 0;
        char err[256];
        if (witness_forks_open(st, gw->cfg.peers[i].region, &open, err, sizeof err) != LEDGER_OK)
            return -1;
        metrics_set_forks_unacknowledged(gw->metrics, gw->cfg.peers[i].region, open);
    }
    return 0;
}

static Carbon__V1__Fork *witnessing_pb_fork(arena_t *a, const witness_fork_t *f) {
    CARBON_ASSERT(a != NULL && f != NULL && f->proof_len % MERKLE_HASH_BYTES == 0);
    Carbon__V1__Fork *m = arena_alloc(a, sizeof *m);
    carbon__v1__fork__init(m);
    m->id = arena_strdup(a, f->id);
    m->region = arena_strdup(a, f->region);
    m->cosigned_checkpoint = (ProtobufCBinaryData){f->cosigned_len, (uint8_t *)f->cosigned};
    m->conflicting_checkpoint = (ProtobufCBinaryData){f->conflicting_len, (uint8_t *)f->conflicting};
    size_t n = f->proof_len / MERKLE_HASH_BYTES;
    m->consistency_proof = arena_alloc(a, (n > 0 ? n : 1) * sizeof *m->consistency_proof);
    for (size_t i = 0; i < n; i++)
        m->consistency_proof[m->n_consistency_proof++] =
            (ProtobufCBinaryData){MERKLE_HASH_BYTES, f->proof + i * MERKLE_HASH_BYTES};
    m->detected_unix_ms = f->detected_ms;
    m->acknowledged = f->acknowledged;
    m->acknowledged_by = arena_strdup(a, f->acknowledged_by);
    m->acknowledge_reason = arena_strdup(a, f->ack_reason);
    m->acknowledged_unix_ms = f->acknowledged_ms;
    return m;
}

void ops_list_forks(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__ListForksRequest *req = (const Carbon__V1__ListForksRequest *)request;
    store_t *st = gateway_call_store(call);
    if (st == NULL) return;
    witness_fork_t *forks = NULL;
    size_t n = 0;
    char err[256] = "";
    if (witness_fork_list(st, req->include_acknowledged, &forks, &n, err, sizeof err) != LEDGER_OK) {
        server_refuse(call, REASON_STORE_UNAVAILABLE, "%s", err);
        return;
    }
    CARBON_ASSERT(n <= WITNESS_FORKS_LIST_MAX);
    arena_t a = {0};
    Carbon__V1__ListForksResponse resp = CARBON__V1__LIST_FORKS_RESPONSE__INIT;
    resp.forks = arena_alloc(&a, (n > 0 ? n : 1) * sizeof *resp.forks);
    for (size_t i = 0; i < n; i++) resp.forks[resp.n_forks++] = witnessing_pb_fork(&a, &forks[i]);
    server_reply_ok(call, &resp.base);
    arena_free(&a);
    for (size_t i = 0; i < n; i++) witness_fork_free(&forks[i]);
    free(forks);
}

void ops_acknowledge_fork(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__AcknowledgeForkRequest *req = (const Carbon__V1__AcknowledgeForkRequest *)request;
    struct gateway *gw = server_call_app(call);
    if (!witness_fork_id_valid(req->id)) {
        server_refuse(call, REASON_UNKNOWN_FORK, "a fork id is a decimal number (gwctl forks list)");
        return;
    }
    if (!validate_free_text(req->reason, WITNESSING_REASON_MIN, WITNESSING_REASON_MAX)) {
        server_refuse(call, REASON_BAD_REASON,
                      "reason must be %d..%d bytes of UTF-8 text without control characters "
                      "(it has %zu bytes)", WITNESSING_REASON_MIN, WITNESSING_REASON_MAX,
                      strlen(req->reason));
        return;
    }
    store_t *st = gateway_call_store(call);
    if (st == NULL) return;
    const identity_t *op = server_call_caller(call);
    const char *by = op != NULL ? op->spiffe_id : "operator";
    char err[256] = "";
    int already = 0;
    int rc = witness_fork_ack(st, req->id, by, req->reason, ledger_now_ms(), &already, err, sizeof err);
    witness_fork_t f;
    if (rc == LEDGER_OK) rc = witness_fork_get(st, req->id, &f, err, sizeof err);
    if (rc == LEDGER_NOT_FOUND) {
        server_refuse(call, REASON_UNKNOWN_FORK, "no fork %s here", req->id);
        return;
    }
    if (rc != LEDGER_OK) {
        server_refuse(call, REASON_STORE_UNAVAILABLE, "%s", err);
        return;
    }
    if (!already)
        log_warn("audit_fork_acknowledged", "{s:s, s:s, s:s, s:s}", "fork_id", f.id, "region",
                 f.region, "operator", by, "reason", req->reason);
    witnessing_alarm(gw, st, f.region);
    arena_t a = {0};
    Carbon__V1__AcknowledgeForkResponse resp = CARBON__V1__ACKNOWLEDGE_FORK_RESPONSE__INIT;
    resp.fork = witnessing_pb_fork(&a, &f);
    server_reply_ok(call, &resp.base);
    arena_free(&a);
    witness_fork_free(&f);
}
