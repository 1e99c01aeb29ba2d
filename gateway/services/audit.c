/* audit.c - the carbon.v1.Audit service (audit.h). */
#include "gateway/services/audit.h"

#include "carbon/v1/carbon.pb-c.h"
#include "common/carbon_assert.h"
#include "gateway/arena.h"
#include "gateway/rpc/client.h"
#include "gateway/log.h"
#include "gateway/pbconv.h"
#include "gateway/peers.h"
#include "gateway/validate.h"
#include "settlement/audit.h"
#include "settlement/log_tree.h"
#include "settlement/state_read.h"
#include "common/hex.h"
#include "settlement/witness.h"

#include <jansson.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AUDIT_TRACE_LIMIT_DEFAULT 1000
#define AUDIT_TRACE_SCAN_CHUNK 1000
#define AUDIT_READ_LIMIT_DEFAULT 1000
#define AUDIT_READ_LOG_FRAME_BYTES 8 /* an entry's tag and length in ReadLogResponse, with room to spare */
CARBON_STATIC_ASSERT(AUDIT_TRACE_LIMIT_DEFAULT <= AUDIT_READ_MAX &&
                         AUDIT_TRACE_SCAN_CHUNK <= AUDIT_READ_MAX,
                     "Trace reads at most AUDIT_READ_MAX entries at a time");

static Carbon__V1__AuditEntry *audit_pb_entry(arena_t *a, const audit_entry_t *e) {
    CARBON_ASSERT(a != NULL && e != NULL);
    CARBON_ASSERT((e->blocks != NULL || e->blocks_n == 0) && (e->ids != NULL || e->ids_n == 0));
    Carbon__V1__AuditEntry *m = arena_alloc(a, sizeof *m);
    carbon__v1__audit_entry__init(m);
    m->seq = e->seq;
    m->time_unix_ms = e->time_ms;
    m->event = arena_strdup(a, e->event);
    m->ids = arena_alloc(a, e->ids_n * sizeof *m->ids);
    for (size_t i = 0; i < e->ids_n; i++) m->ids[m->n_ids++] = arena_strdup(a, e->ids[i]);
    m->blocks = arena_alloc(a, e->blocks_n * sizeof *m->blocks);
    for (size_t i = 0; i < e->blocks_n; i++) m->blocks[m->n_blocks++] = pbconv_block(a, &e->blocks[i]);
    m->entry.data = arena_alloc(a, e->entry_len + 1);
    if (e->entry_len > 0) memcpy(m->entry.data, e->entry, e->entry_len);
    m->entry.len = e->entry_len;
    m->detail = arena_alloc(a, e->detail_n * sizeof *m->detail);
    for (size_t i = 0; i < e->detail_n; i++)
        m->detail[m->n_detail++] = arena_printf(a, "%.*s", (int)e->detail_len[i], e->detail_text[i]);
    return m;
}

static void audit_free_entries(audit_entry_t *entries, size_t n) {
    CARBON_ASSERT(entries != NULL || n == 0);
    for (size_t i = 0; i < n; i++) audit_entry_free(&entries[i]);
    free(entries);
}

/* ---- proofs: Trace's checkpoint and inclusion proofs, GetConsistencyProof ---- */

/* The checkpoint Trace proves against: the newest own checkpoint kept with
 * at least min_cosignatures peer cosignatures, else the newest kept. *note
 * (malloc'd; NULL and *size 0 when none is kept yet) is its signed note with
 * the cosignature lines kept for it. LEDGER_OK or the store's error. */
static int audit_trace_checkpoint(struct gateway *gw, store_t *st, uint32_t min_cosignatures,
                                  char **note, size_t *note_len, uint64_t *size, char *err,
                                  size_t errlen) {
    CARBON_ASSERT(gw != NULL && st != NULL && note != NULL && note_len != NULL && size != NULL);
    CARBON_ASSERT(gw->cfg.peers_n <= CONFIG_PEERS_MAX);
    *note = NULL;
    *note_len = 0;
    *size = 0;
    /* more cosignatures than peers: none qualifies, the newest is the answer */
    size_t max = min_cosignatures > gw->cfg.peers_n ? 1 : WITNESS_OWN_KEPT;
    uint64_t *sizes = malloc(max * sizeof *sizes);
    if (sizes == NULL) abort();
    size_t n = 0;
    int rc = witness_own_sizes(st, sizes, max, &n, err, errlen);
    CARBON_ASSERT(rc != LEDGER_OK || n <= max);
    for (size_t k = 0; rc == LEDGER_OK && k < n; k++) { /* newest first */
        char *text = NULL;
        size_t len = 0, cosigners = 0;
        rc = witness_own_cosigned_note(st, sizes[k], gw->peer_regions, gw->cfg.peers_n, &text, &len,
                                       &cosigners, err, errlen);
        if (rc == LEDGER_NOT_FOUND) { /* dropped since the sizes were read */
            rc = LEDGER_OK;
            continue;
        }
        if (rc != LEDGER_OK) break;
        int enough = cosigners >= min_cosignatures;
        if (*note == NULL || enough) {
            free(*note);
            *note = text;
            *note_len = len;
            *size = sizes[k];
        } else {
            free(text);
        }
        if (enough) break;
    }
    free(sizes);
    if (rc != LEDGER_OK) {
        free(*note);
        *note = NULL;
        *size = 0;
    }
    return rc;
}

/* The InclusionProof of entry seq to the tree of size (tree_size 0, no
 * hashes, when the entry is past it). NULL with err and *rc: LEDGER_ESTORE
 * if the store failed, LEDGER_EINVAL if the stored tree cannot prove the
 * checkpoint (it is smaller than the checkpoint's size: the store lost or
 * changed what was signed). */
static Carbon__V1__InclusionProof *audit_pb_inclusion(arena_t *a, store_t *st, uint64_t seq,
                                                      uint64_t size, int *rc, char *err, size_t errlen) {
    CARBON_ASSERT(a != NULL && st != NULL && seq >= 1);
    Carbon__V1__InclusionProof *m = arena_alloc(a, sizeof *m);
    carbon__v1__inclusion_proof__init(m);
    m->leaf_index = seq - 1;
    if (seq > size) return m;
    merkle_hash_t proof[MERKLE_PROOF_MAX];
    size_t n = 0;
    if ((*rc = log_tree_inclusion_proof(st, seq - 1, size, proof, &n, err, errlen)) != LEDGER_OK) return NULL;
    CARBON_ASSERT(n <= MERKLE_PROOF_MAX);
    m->tree_size = size;
    m->hashes = arena_alloc(a, (n > 0 ? n : 1) * sizeof *m->hashes);
    for (size_t k = 0; k < n; k++) {
        uint8_t *h = arena_alloc(a, MERKLE_HASH_BYTES);
        memcpy(h, proof[k].bytes, MERKLE_HASH_BYTES);
        m->hashes[m->n_hashes++] = (ProtobufCBinaryData){MERKLE_HASH_BYTES, h};
    }
    return m;
}

/* Fills resp's checkpoint and one proof per entry in resp (as min_cosignatures
 * chooses the checkpoint). LEDGER_OK, or the store's error in err. */
static int audit_trace_prove(struct gateway *gw, store_t *st, arena_t *a, uint32_t min_cosignatures,
                             Carbon__V1__TraceResponse *resp, char *err, size_t errlen) {
    CARBON_ASSERT(gw != NULL && st != NULL && a != NULL && resp != NULL);
    char *note = NULL;
    size_t note_len = 0;
    uint64_t size = 0;
    int rc = audit_trace_checkpoint(gw, st, min_cosignatures, &note, &note_len, &size, err, errlen);
    if (rc != LEDGER_OK) return rc;
    if (note != NULL) {
        uint8_t *copy = arena_alloc(a, note_len > 0 ? note_len : 1);
        memcpy(copy, note, note_len);
        resp->checkpoint = (ProtobufCBinaryData){note_len, copy};
        free(note);
    }
    resp->proofs = arena_alloc(a, (resp->n_entries > 0 ? resp->n_entries : 1) * sizeof *resp->proofs);
    for (size_t k = 0; k < resp->n_entries; k++) {
        Carbon__V1__InclusionProof *p = audit_pb_inclusion(a, st, resp->entries[k]->seq, size, &rc, err, errlen);
        if (p == NULL) return rc;
        resp->proofs[resp->n_proofs++] = p;
    }
    return LEDGER_OK;
}

void audit_get_consistency_proof(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__GetConsistencyProofRequest *req =
        (const Carbon__V1__GetConsistencyProofRequest *)request;
    if (req->old_size == 0 || req->old_size > req->new_size || req->new_size > MERKLE_LEAVES_MAX) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(OUT_OF_RANGE),
                           "old_size must be 1..new_size and new_size at most 2^40");
        return;
    }
    store_t *st = gateway_call_store(call);
    if (st == NULL) return;
    log_tree_head_t head;
    char err[256] = "";
    if (log_tree_head(st, &head, err, sizeof err) != LEDGER_OK) {
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE), "%s", err);
        return;
    }
    if (req->new_size > head.size) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(OUT_OF_RANGE),
                           "new_size %" PRIu64 " is past the tree's size %" PRIu64, req->new_size,
                           head.size);
        return;
    }
    merkle_hash_t proof[MERKLE_PROOF_MAX];
    size_t n = 0;
    if (log_tree_consistency_proof(st, req->old_size, req->new_size, proof, &n, err, sizeof err) !=
        LEDGER_OK) {
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE), "%s", err);
        return;
    }
    CARBON_ASSERT(n <= MERKLE_PROOF_MAX);
    ProtobufCBinaryData hashes[MERKLE_PROOF_MAX];
    for (size_t k = 0; k < n; k++) hashes[k] = (ProtobufCBinaryData){MERKLE_HASH_BYTES, proof[k].bytes};
    Carbon__V1__GetConsistencyProofResponse resp = CARBON__V1__GET_CONSISTENCY_PROOF_RESPONSE__INIT;
    resp.n_hashes = n;
    resp.hashes = hashes;
    server_reply_ok(call, &resp.base);
}

void audit_read_log(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__ReadLogRequest *req = (const Carbon__V1__ReadLogRequest *)request;
    struct gateway *gw = server_call_app(call);
    if (req->limit > AUDIT_READ_MAX) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_LIMIT),
                           "limit must be 0..%d", AUDIT_READ_MAX);
        return;
    }
    CARBON_STATIC_ASSERT(AUDIT_READ_LIMIT_DEFAULT <= AUDIT_READ_MAX,
                         "the default ReadLog limit is one audit_read may return");
    store_t *st = gateway_call_store(call);
    if (st == NULL) return;
    uint64_t head = 0;
    log_tree_head_t tree;
    char err[256] = "";
    audit_entry_t *entries = NULL;
    size_t n = 0;
    uint64_t from = req->from_seq ? req->from_seq : 1;
    size_t limit = req->limit ? req->limit : AUDIT_READ_LIMIT_DEFAULT;
    if (audit_log_size(st, &head, err, sizeof err) != LEDGER_OK ||
        log_tree_head(st, &tree, err, sizeof err) != LEDGER_OK) {
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE), "%s", err);
        return;
    }
    if (from <= head) {
        if (head - from + 1 < limit) limit = (size_t)(head - from + 1);
        if (audit_read(st, from, limit, &entries, &n, err, sizeof err) != LEDGER_OK) {
            server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE), "%s", err);
            return;
        }
    }
    CARBON_ASSERT(n <= limit && limit <= AUDIT_READ_MAX); /* before filling resp.entries */
    arena_t a = {0};
    Carbon__V1__ReadLogResponse resp = CARBON__V1__READ_LOG_RESPONSE__INIT;
    resp.region = gw->cfg.region;
    resp.head_seq = head;
    resp.tree_size = tree.size;
    resp.entries = arena_alloc(&a, n * sizeof *resp.entries);
    /* As many as fit in one message (the client asks again from the next
     * seq); always the first, which alone may be refused as too large. */
    size_t bytes = protobuf_c_message_get_packed_size(&resp.base) + AUDIT_READ_LOG_FRAME_BYTES;
    for (size_t i = 0; i < n; i++) {
        Carbon__V1__AuditEntry *m = audit_pb_entry(&a, &entries[i]);
        bytes += protobuf_c_message_get_packed_size(&m->base) + AUDIT_READ_LOG_FRAME_BYTES;
        if (i > 0 && bytes > gw->cfg.max_message_bytes) break;
        resp.entries[resp.n_entries++] = m;
    }
    server_reply_ok(call, &resp.base);
    arena_free(&a);
    audit_free_entries(entries, n);
}

/* Appends to resp->entries (room for limit) the entries 1..head that
 * concern transfer tid (if not NULL) or else serial of origin, oldest first,
 * up to limit. LEDGER_OK, or the store's error in err. */
static int audit_trace_scan(store_t *st, uint64_t head, const char *tid, const char *origin,
                            uint64_t serial, size_t limit, arena_t *a,
                            Carbon__V1__TraceResponse *resp, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && a != NULL && resp != NULL && (tid != NULL || origin != NULL));
    for (uint64_t from = 1; from <= head && resp->n_entries < limit; from += AUDIT_TRACE_SCAN_CHUNK) {
        audit_entry_t *entries = NULL;
        size_t n = 0;
        size_t chunk = head - from + 1 < AUDIT_TRACE_SCAN_CHUNK ? (size_t)(head - from + 1)
                                                                : AUDIT_TRACE_SCAN_CHUNK;
        int rc = audit_read(st, from, chunk, &entries, &n, err, errlen);
        if (rc != LEDGER_OK) return rc;
        CARBON_ASSERT(n <= chunk);
        for (size_t i = 0; i < n && resp->n_entries < limit; i++) {
            int hit = tid != NULL ? audit_entry_has_id(&entries[i], tid)
                                  : audit_entry_has_serial(&entries[i], origin, serial);
            if (hit) resp->entries[resp->n_entries++] = audit_pb_entry(a, &entries[i]);
        }
        audit_free_entries(entries, n);
    }
    return LEDGER_OK;
}

void audit_trace(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__TraceRequest *req = (const Carbon__V1__TraceRequest *)request;
    struct gateway *gw = server_call_app(call);
    char origin[CARBON_REGION_SIZE] = "";
    uint64_t serial = 0;
    const char *tid = NULL;
    if (req->subject_case == CARBON__V1__TRACE_REQUEST__SUBJECT_TRANSFER_ID) {
        if (!gateway_require_request_id(call, req->transfer_id, "transfer_id")) return;
        tid = req->transfer_id;
    } else if (req->subject_case == CARBON__V1__TRACE_REQUEST__SUBJECT_SERIAL) {
        const char *colon = strchr(req->serial, ':');
        char *end = NULL;
        if (colon == NULL || colon - req->serial >= (long)sizeof origin) goto bad_serial;
        memcpy(origin, req->serial, (size_t)(colon - req->serial));
        origin[colon - req->serial] = '\0';
        errno = 0;
        serial = strtoull(colon + 1, &end, 10);
        if (!config_region_valid(origin) || *end != '\0' || errno || serial == 0 ||
            serial > LEDGER_SERIAL_MAX)
            goto bad_serial;
    } else {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(NO_SUBJECT),
                           "give a transfer_id or a serial");
        return;
    }
    if (req->limit > AUDIT_READ_MAX) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_LIMIT), "limit must be 0..%d",
                           AUDIT_READ_MAX);
        return;
    }
    store_t *st = gateway_call_store(call);
    if (st == NULL) return;
    size_t limit = req->limit ? req->limit : AUDIT_TRACE_LIMIT_DEFAULT;
    CARBON_ASSERT(limit >= 1 && limit <= AUDIT_READ_MAX); /* resp.entries holds limit */
    uint64_t head = 0;
    char err[256] = "";
    if (audit_log_size(st, &head, err, sizeof err) != LEDGER_OK) {
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE), "%s", err);
        return;
    }
    arena_t a = {0};
    Carbon__V1__TraceResponse resp = CARBON__V1__TRACE_RESPONSE__INIT;
    resp.region = gw->cfg.region;
    resp.entries = arena_alloc(&a, limit * sizeof *resp.entries);
    int rc = audit_trace_scan(st, head, tid, origin, serial, limit, &a, &resp, err, sizeof err);
    if (rc == LEDGER_OK) rc = audit_trace_prove(gw, st, &a, req->min_cosignatures, &resp, err, sizeof err);
    if (rc != LEDGER_OK) {
        arena_free(&a);
        if (rc == LEDGER_EINVAL)
            server_reply_error(call, GRPC_STATUS_DATA_LOSS, REASON(LOG_INCONSISTENT),
                               "the region's tree cannot prove its own checkpoint: %s", err);
        else
            server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE), "%s", err);
        return;
    }
    server_reply_ok(call, &resp.base);
    arena_free(&a);
    return;
bad_serial:
    server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_SERIAL),
                       "serial must be REGION:NUMBER, e.g. CN-TJ:1042");
}

/* What this region holds as the witness of peer region i: its newest
 * cosigned checkpoint and this region's cosignature line. 0 (nothing held
 * leaves *out NULL), or -1 on a store error with err. */
static int audit_pb_witnessed(arena_t *a, store_t *st, const char *region,
                              Carbon__V1__WitnessedCheckpoint **out, char *err, size_t errlen) {
    CARBON_ASSERT(a != NULL && st != NULL && region != NULL && out != NULL);
    *out = NULL;
    witness_held_t held;
    if (witness_held_load(st, region, &held, err, errlen) != LEDGER_OK) return -1;
    if (held.head.size > 0 && held.note_len > 0) {
        Carbon__V1__WitnessedCheckpoint *m = arena_alloc(a, sizeof *m);
        carbon__v1__witnessed_checkpoint__init(m);
        m->region = arena_strdup(a, region);
        m->checkpoint.data = (uint8_t *)arena_strdup(a, held.note);
        m->checkpoint.len = held.note_len;
        m->cosignature.data = (uint8_t *)arena_strdup(a, held.cosig);
        m->cosignature.len = held.cosig_len;
        *out = m;
    }
    witness_held_free(&held);
    return 0;
}

void audit_get_checkpoint(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL);
    (void)request;
    struct gateway *gw = server_call_app(call);
    CARBON_ASSERT(gw->cfg.peers_n <= CONFIG_PEERS_MAX);
    store_t *st = gateway_call_store(call);
    if (st == NULL) return;
    arena_t a = {0};
    Carbon__V1__GetCheckpointResponse resp = CARBON__V1__GET_CHECKPOINT_RESPONSE__INIT;
    char err[256] = "", *note = NULL;
    size_t note_len = 0, cosigners = 0;
    int rc = witness_own_cosigned_note(st, 0, gw->peer_regions, gw->cfg.peers_n, &note, &note_len,
                                       &cosigners, err, sizeof err);
    if (rc == LEDGER_ESTORE) goto unavailable;
    if (rc == LEDGER_OK) {
        resp.own_checkpoint.data = (uint8_t *)arena_strdup(&a, note);
        resp.own_checkpoint.len = note_len;
        free(note);
    }
    resp.witnessed = arena_alloc(&a, (gw->cfg.peers_n > 0 ? gw->cfg.peers_n : 1) * sizeof *resp.witnessed);
    for (size_t i = 0; i < gw->cfg.peers_n; i++) {
        Carbon__V1__WitnessedCheckpoint *w = NULL;
        if (audit_pb_witnessed(&a, st, gw->cfg.peers[i].region, &w, err, sizeof err) != 0)
            goto unavailable;
        if (w != NULL) resp.witnessed[resp.n_witnessed++] = w;
    }
    CARBON_ASSERT(resp.n_witnessed <= gw->cfg.peers_n);
    server_reply_ok(call, &resp.base);
    arena_free(&a);
    return;
unavailable:
    arena_free(&a);
    server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE), "%s", err);
}

/* ---- ReadState: the ledger as records (settlement/state_read.h) ------------------------ */

static Carbon__V1__StateRecord *audit_pb_state_record(arena_t *a, const state_record_t *rec) {
    CARBON_ASSERT(a != NULL && rec != NULL && rec->detail_n <= STATE_DETAILS_MAX);
    Carbon__V1__StateRecord *m = arena_alloc(a, sizeof *m);
    carbon__v1__state_record__init(m);
    m->kind = arena_strdup(a, rec->kind);
    m->owner = arena_strdup(a, rec->owner);
    m->blocks = arena_alloc(a, rec->blocks_n * sizeof *m->blocks);
    for (size_t i = 0; i < rec->blocks_n; i++) m->blocks[m->n_blocks++] = pbconv_block(a, &rec->blocks[i]);
    m->detail = arena_alloc(a, rec->detail_n * sizeof *m->detail);
    for (size_t i = 0; i < rec->detail_n; i++) m->detail[m->n_detail++] = arena_strdup(a, rec->detail[i]);
    return m;
}

void audit_read_state(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__ReadStateRequest *req = (const Carbon__V1__ReadStateRequest *)request;
    const identity_t *caller = server_call_caller(call);
    if (caller == NULL || caller->role != ROLE_AUDITOR) { /* the whole ledger: auditors only */
        server_reply_error(call, GRPC_STATUS_PERMISSION_DENIED, REASON(NOT_AUTHORIZED),
                           "ReadState is for auditors of the federation");
        return;
    }
    if (req->limit > STATE_READ_LIMIT_MAX) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_LIMIT), "limit must be 0..%d",
                           STATE_READ_LIMIT_MAX);
        return;
    }
    if (strlen(req->cursor) >= STATE_CURSOR_MAX || !state_cursor_valid(req->cursor)) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_CURSOR),
                           "cursor must be \"\" or a next_cursor ReadState returned");
        return;
    }
    store_t *st = gateway_call_store(call);
    if (st == NULL) return;
    state_page_t page;
    char err[256] = "";
    int rc = state_read_page(st, req->cursor, req->limit ? req->limit : STATE_READ_LIMIT_DEFAULT, &page, err,
                             sizeof err);
    if (rc != LEDGER_OK) {
        if (rc == LEDGER_EINVAL)
            server_reply_error(call, GRPC_STATUS_FAILED_PRECONDITION, REASON(STATE_TOO_LARGE), "%s", err);
        else
            server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE), "%s", err);
        return;
    }
    arena_t a = {0};
    Carbon__V1__ReadStateResponse resp = CARBON__V1__READ_STATE_RESPONSE__INIT;
    resp.log_size = page.log_size;
    resp.next_cursor = page.next_cursor;
    resp.records = arena_alloc(&a, page.n * sizeof *resp.records);
    for (size_t i = 0; i < page.n; i++) resp.records[resp.n_records++] = audit_pb_state_record(&a, &page.records[i]);
    server_reply_ok(call, &resp.base);
    arena_free(&a);
    state_page_free(&page);
}
