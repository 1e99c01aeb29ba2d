/* audit.c - the carbon.v1.Audit service and the checkpointer (audit.h). */
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
    for (size_t i = 0; i < n; i++) resp.entries[resp.n_entries++] = audit_pb_entry(&a, &entries[i]);
    server_reply_ok(call, &resp.base);
    arena_free(&a);
    audit_free_entries(entries, n);
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
    for (uint64_t from = 1; from <= head && resp.n_entries < limit; from += AUDIT_TRACE_SCAN_CHUNK) {
        audit_entry_t *entries = NULL;
        size_t n = 0;
        size_t chunk = head - from + 1 < AUDIT_TRACE_SCAN_CHUNK ? (size_t)(head - from + 1)
                                                                : AUDIT_TRACE_SCAN_CHUNK;
        if (audit_read(st, from, chunk, &entries, &n, err, sizeof err) != LEDGER_OK) {
            arena_free(&a);
            server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE), "%s", err);
            return;
        }
        CARBON_ASSERT(n <= chunk);
        for (size_t i = 0; i < n && resp.n_entries < limit; i++) {
            int hit = tid != NULL ? audit_entry_has_id(&entries[i], tid)
                                  : audit_entry_has_serial(&entries[i], origin, serial);
            if (hit) resp.entries[resp.n_entries++] = audit_pb_entry(&a, &entries[i]);
        }
        audit_free_entries(entries, n);
    }
    server_reply_ok(call, &resp.base);
    arena_free(&a);
    return;
bad_serial:
    server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_SERIAL),
                       "serial must be REGION:NUMBER, e.g. CN-TJ:1042");
}

static Carbon__V1__Checkpoint *audit_pb_checkpoint(arena_t *a, const audit_checkpoint_t *cp) {
    CARBON_ASSERT(a != NULL && cp != NULL);
    CARBON_ASSERT(memchr(cp->region, '\0', sizeof cp->region) != NULL &&
                  memchr(cp->head_hash, '\0', sizeof cp->head_hash) != NULL);
    Carbon__V1__Checkpoint *m = arena_alloc(a, sizeof *m);
    carbon__v1__checkpoint__init(m);
    m->region = arena_strdup(a, cp->region);
    m->seq = cp->seq;
    m->head_hash = arena_strdup(a, cp->head_hash);
    m->time_unix_ms = cp->time_ms;
    uint8_t *pub = arena_alloc(a, 32), *sig = arena_alloc(a, 64);
    memcpy(pub, cp->public_key, 32);
    memcpy(sig, cp->signature, 64);
    m->public_key = (ProtobufCBinaryData){32, pub};
    m->signature = (ProtobufCBinaryData){64, sig};
    return m;
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
    audit_checkpoint_t cp;
    char err[256] = "";
    int rc = audit_checkpoint_load(st, "own", &cp, err, sizeof err);
    if (rc == LEDGER_ESTORE) goto unavailable;
    if (rc == LEDGER_OK) resp.own = audit_pb_checkpoint(&a, &cp);
    resp.peers = arena_alloc(&a, gw->cfg.peers_n * sizeof *resp.peers);
    for (size_t i = 0; i < gw->cfg.peers_n; i++) {
        char owner[32];
        snprintf(owner, sizeof owner, "peer:%s", gw->cfg.peers[i].region);
        rc = audit_checkpoint_load(st, owner, &cp, err, sizeof err);
        if (rc == LEDGER_ESTORE) goto unavailable;
        if (rc == LEDGER_OK) resp.peers[resp.n_peers++] = audit_pb_checkpoint(&a, &cp);
    }
    CARBON_ASSERT(resp.n_peers <= gw->cfg.peers_n);
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

/* ---- the checkpointer -------------------------------------------------------------- */

int audit_service_init(struct gateway *gw, char *err, size_t errlen) {
    CARBON_ASSERT(gw != NULL && err != NULL && errlen > 0);
    CARBON_ASSERT(gw->cfg.peers_n <= CONFIG_PEERS_MAX); /* peer_audit_keys[] holds that many */
    pthread_mutex_init(&gw->checkpointer_lock, NULL);
    pthread_cond_init(&gw->checkpointer_wake, NULL);
    if (gw->cfg.audit_signing_key[0] != '\0') {
        gw->audit_key = audit_load_signing_key(gw->cfg.audit_signing_key, err, errlen);
        if (gw->audit_key == NULL) return -1;
    }
    for (size_t i = 0; i < gw->cfg.peers_n; i++) {
        if (gw->cfg.audit_keys[i][0] == '\0') continue;
        if (audit_load_public_key(gw->cfg.audit_keys[i], gw->peer_audit_keys[i], err, errlen) != 0)
            return -1;
        gw->peer_audit_key_set[i] = 1;
    }
    return 0;
}

/* What the checkpointer thread keeps between ticks: its newest signed
 * checkpoint and, per peer (the order of cfg.peers), the newest seq that
 * peer accepted. */
typedef struct {
    audit_checkpoint_t latest; /* seq 0: none signed yet */
    uint64_t delivered_seq[CONFIG_PEERS_MAX];
} audit_checkpointer_t;

/* Signs the head if it moved past the newest checkpoint and stores it. */
static void audit_checkpoint_sign_new(struct gateway *gw, store_t *st, audit_checkpointer_t *c) {
    CARBON_ASSERT(gw != NULL && st != NULL && c != NULL);
    CARBON_ASSERT(gw->audit_key != NULL); /* the checkpointer runs only with a signing key */
    audit_checkpoint_t cp = {0};
    char err[256];
    log_tree_head_t tree;
    if (log_tree_head(st, &tree, err, sizeof err) != LEDGER_OK) return;
    cp.seq = tree.size;
    hex_encode(tree.root.bytes, sizeof tree.root.bytes, cp.head_hash, sizeof cp.head_hash);
    if (cp.seq == 0 || cp.seq == c->latest.seq) return;
    snprintf(cp.region, sizeof cp.region, "%s", gw->cfg.region);
    cp.time_ms = ledger_now_ms();
    if (audit_checkpoint_sign(&cp, gw->audit_key) != 0) {
        log_error("checkpoint_sign_failed", NULL);
        return;
    }
    if (audit_checkpoint_store(st, "own", &cp, err, sizeof err) != LEDGER_OK) return;
    c->latest = cp;
    log_debug("checkpoint", "{s:I, s:s}", "seq", (json_int_t)cp.seq, "head", cp.head_hash);
}

/* Gives the newest checkpoint to every peer that has not accepted it yet, so
 * a peer that was down gets it as soon as it is back, also when the chain
 * has not moved since (and its return is logged then: peer_up). */
static void audit_checkpoint_share(struct gateway *gw, audit_checkpointer_t *c) {
    CARBON_ASSERT(gw != NULL && c != NULL);
    CARBON_ASSERT(gw->cfg.peers_n <= CONFIG_PEERS_MAX);
    if (c->latest.seq == 0) return;
    arena_t a = {0};
    Carbon__V1__ShareCheckpointRequest req = CARBON__V1__SHARE_CHECKPOINT_REQUEST__INIT;
    req.checkpoint = audit_pb_checkpoint(&a, &c->latest);
    for (size_t i = 0; i < gw->cfg.peers_n; i++) {
        if (c->delivered_seq[i] == c->latest.seq) continue;
        grpc_channel *ch = peers_channel_of(gw->peers, gw->cfg.peers[i].region);
        ProtobufCMessage *resp = NULL;
        client_status_t status;
        int ok = client_call(ch, "/carbon.v1.Federation/ShareCheckpoint", &req.base,
                             &carbon__v1__share_checkpoint_response__descriptor, &resp,
                             gw->cfg.peer_timeout_ms, &status) == GRPC_STATUS_OK;
        if (ok) c->delivered_seq[i] = c->latest.seq;
        /* a peer down is logged once (peer_down), not at every checkpoint */
        peers_observe(gw->peers, gw->cfg.peers[i].region, "/carbon.v1.Federation/ShareCheckpoint",
                      ok ? NULL : &status);
        if (resp != NULL) protobuf_c_message_free_unpacked(resp, NULL);
    }
    arena_free(&a);
}

static void *audit_checkpointer_main(void *arg) {
    struct gateway *gw = arg;
    CARBON_ASSERT(gw != NULL && gw->audit_key != NULL);
    CARBON_ASSERT(gw->cfg.checkpoint_interval_ms >= 1);
    store_t *st = NULL;
    audit_checkpointer_t *c = calloc(1, sizeof *c);
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
        if (st != NULL) audit_checkpoint_sign_new(gw, st, c);
        audit_checkpoint_share(gw, c);
    }
    free(c);
    store_close(st);
    return NULL;
}

int audit_checkpointer_start(struct gateway *gw, char *err, size_t errlen) {
    CARBON_ASSERT(gw != NULL && err != NULL);
    CARBON_ASSERT(!gw->checkpointer_started);
    if (gw->audit_key == NULL) return 0;
    if (pthread_create(&gw->checkpointer, NULL, audit_checkpointer_main, gw) != 0) {
        snprintf(err, errlen, "cannot start the checkpointer");
        return -1;
    }
    gw->checkpointer_started = 1;
    return 0;
}

void audit_checkpointer_stop(struct gateway *gw) {
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

void audit_service_fini(struct gateway *gw) {
    CARBON_ASSERT(gw != NULL);
    audit_checkpointer_stop(gw);
    EVP_PKEY_free(gw->audit_key);
    gw->audit_key = NULL;
}
