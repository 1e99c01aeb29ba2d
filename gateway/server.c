/* server.c - completion-queue gRPC server with a method table (server.h). */
#include "gateway/server.h"
#include "common/carbon_assert.h"

#include "gateway/log.h"
#include "gateway/validate.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    char path[128];
    identity_service_t service;
    const ProtobufCMessageDescriptor *request_desc;
    server_handler_fn handler;
    server_stream_fn stream; /* a bidirectional stream instead of handler */
} server_method_t;

typedef struct server_worker server_worker_t;

typedef enum { TAG_NEW_CALL, TAG_RECV, TAG_DONE, TAG_STREAM_RECV, TAG_STREAM_SENT } server_tag_kind_t;

typedef struct {
    server_tag_kind_t kind;
    server_call_t *call;
} server_tag_t;

struct server_call {
    server_t *server;
    server_worker_t *worker;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array request_md;
    grpc_byte_buffer *request_bb;
    int cancelled;
    server_tag_t tag_new, tag_recv, tag_done;
    const server_method_t *method;
    identity_t caller;
    int caller_known;
    ProtobufCMessage *request;
    atomic_int replied;
    char path[128];
    /* Kept alive until TAG_DONE: gRPC reads them during the batch. */
    grpc_metadata trailing;
    grpc_slice reason_key, reason_value, details_slice;
    grpc_byte_buffer *response_bb;
    /* bidirectional streams only (server_handle_stream) */
    server_tag_t tag_stream_recv, tag_stream_sent;
    int initial_md_sent;
    uint32_t stream_received;
    int64_t stream_expiry_ms;           /* monotonic; cancelled past it */
    int stream_cancelled;
    server_call_t *stream_prev, *stream_next; /* the worker's open streams */
};

struct server_worker {
    server_t *server;
    int index;
    grpc_completion_queue *cq;
    pthread_t thread;
    void *ctx;
    server_call_t *streams; /* open streams, touched by this thread only */
};

struct server {
    server_options_t opts;
    grpc_server *grpc;
    int port;
    server_method_t methods[SERVER_METHODS_MAX];
    size_t methods_n;
    server_worker_t *workers;
    int started;
    grpc_completion_queue *shutdown_cq; /* set by server_shutdown_begin */
    int shutdown_tag;
    atomic_int stopping; /* set by server_shutdown_begin: the sweep ends open streams */
    atomic_int streams_open; /* begun and not yet freed */
    atomic_uint_fast64_t calls_total;
    atomic_uint_fast64_t calls_failed;
};

/* ---- method table ---------------------------------------------------------*/

static int server_method_cmp(const void *a, const void *b) {
    return strcmp(((const server_method_t *)a)->path, ((const server_method_t *)b)->path);
}

static const server_method_t *server_find_method(const server_t *s, const char *path) {
    server_method_t key;
    snprintf(key.path, sizeof key.path, "%s", path);
    return bsearch(&key, s->methods, s->methods_n, sizeof key, server_method_cmp);
}

int server_handle(server_t *s, const char *path, server_handler_fn handler) {
    CARBON_ASSERT(!s->started);
    server_method_t *m = (server_method_t *)server_find_method(s, path);
    if (m == NULL) return -1;
    m->handler = handler;
    return 0;
}

int server_handle_stream(server_t *s, const char *path, server_stream_fn fn) {
    CARBON_ASSERT(!s->started && fn != NULL);
    server_method_t *m = (server_method_t *)server_find_method(s, path);
    if (m == NULL) return -1;
    m->stream = fn;
    return 0;
}

/* ---- replies ----------------------------------------------------------- */

static void server_send_final(server_call_t *c, grpc_status_code code, const char *reason,
                              const char *details, const ProtobufCMessage *msg) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&c->replied, &expected, 1)) {
        CARBON_ASSERT(!"a call was answered twice");
        return;
    }
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    if (!c->initial_md_sent) { /* a stream may have sent it with its first message */
        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        n++;
    }
    if (code == GRPC_STATUS_OK && msg != NULL) {
        size_t len = protobuf_c_message_get_packed_size(msg);
        grpc_slice slice = grpc_slice_malloc(len);
        protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(slice));
        c->response_bb = grpc_raw_byte_buffer_create(&slice, 1);
        grpc_slice_unref(slice);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n].data.send_message.send_message = c->response_bb;
        n++;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = code;
    if (code != GRPC_STATUS_OK) {
        c->details_slice = grpc_slice_from_copied_string(details);
        ops[n].data.send_status_from_server.status_details = &c->details_slice;
        if (reason != NULL) {
            c->reason_key = grpc_slice_from_static_string("carbon-reason");
            c->reason_value = grpc_slice_from_copied_string(reason);
            c->trailing.key = c->reason_key;
            c->trailing.value = c->reason_value;
            ops[n].data.send_status_from_server.trailing_metadata_count = 1;
            ops[n].data.send_status_from_server.trailing_metadata = &c->trailing;
        }
    }
    n++;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n].data.recv_close_on_server.cancelled = &c->cancelled;
    n++;
    if (code != GRPC_STATUS_OK) atomic_fetch_add(&c->server->calls_failed, 1);
    grpc_call_error e = grpc_call_start_batch(c->call, ops, n, &c->tag_done, NULL);
    if (e != GRPC_CALL_OK) {
        log_error("reply_failed", "{s:s, s:i}", "method", c->path, "grpc_call_error", (int)e);
        /* The tag will never come back: nothing else can free the call. */
        abort();
    }
}

void server_reply_ok(server_call_t *call, const ProtobufCMessage *msg) {
    CARBON_ASSERT(call != NULL && msg != NULL);
    server_send_final(call, GRPC_STATUS_OK, NULL, NULL, msg);
}

/* The table's statuses (settlement/reasons.h, no gRPC there) are gRPC's. */
_Static_assert((int)GRPC_STATUS_OK == REASON_STATUS_OK, "grpc status");
_Static_assert((int)GRPC_STATUS_INVALID_ARGUMENT == REASON_STATUS_INVALID_ARGUMENT, "grpc status");
_Static_assert((int)GRPC_STATUS_DEADLINE_EXCEEDED == REASON_STATUS_DEADLINE_EXCEEDED, "grpc status");
_Static_assert((int)GRPC_STATUS_NOT_FOUND == REASON_STATUS_NOT_FOUND, "grpc status");
_Static_assert((int)GRPC_STATUS_ALREADY_EXISTS == REASON_STATUS_ALREADY_EXISTS, "grpc status");
_Static_assert((int)GRPC_STATUS_PERMISSION_DENIED == REASON_STATUS_PERMISSION_DENIED, "grpc status");
_Static_assert((int)GRPC_STATUS_RESOURCE_EXHAUSTED == REASON_STATUS_RESOURCE_EXHAUSTED, "grpc status");
_Static_assert((int)GRPC_STATUS_FAILED_PRECONDITION == REASON_STATUS_FAILED_PRECONDITION, "grpc status");
_Static_assert((int)GRPC_STATUS_UNIMPLEMENTED == REASON_STATUS_UNIMPLEMENTED, "grpc status");
_Static_assert((int)GRPC_STATUS_UNAVAILABLE == REASON_STATUS_UNAVAILABLE, "grpc status");
_Static_assert((int)GRPC_STATUS_DATA_LOSS == REASON_STATUS_DATA_LOSS, "grpc status");

static void server_reply_errorv(server_call_t *call, grpc_status_code code, const char *reason,
                                const char *fmt, va_list ap) {
    CARBON_ASSERT(call != NULL && code != GRPC_STATUS_OK && reason != NULL);
    char sentence[SERVER_DETAILS_MAX];
    vsnprintf(sentence, sizeof sentence, fmt, ap);
    char details[SERVER_DETAILS_MAX + SERVER_REASON_MAX + 2];
    snprintf(details, sizeof details, "%s: %s", reason, sentence);
    log_info("call_refused", "{s:s, s:s, s:i, s:s, s:s}", "method", call->path, "reason", reason,
             "code", (int)code, "caller", call->caller_known ? call->caller.spiffe_id : "",
             "details", sentence);
    server_send_final(call, code, reason, details, NULL);
}

void server_reply_error(server_call_t *call, grpc_status_code code, const char *reason,
                        const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    server_reply_errorv(call, code, reason, fmt, ap);
    va_end(ap);
}

void server_refuse(server_call_t *call, reason_t reason, const char *fmt, ...) {
    const reason_info_t *r = reason_info(reason);
    CARBON_ASSERT(r->where != REASON_WHERE_LEG); /* leg-only reasons never refuse a call */
    va_list ap;
    va_start(ap, fmt);
    server_reply_errorv(call, (grpc_status_code)r->status, r->name, fmt, ap);
    va_end(ap);
}

const identity_t *server_call_caller(const server_call_t *call) {
    return call->caller_known ? &call->caller : NULL;
}
void *server_call_app(const server_call_t *call) { return call->server->opts.app; }
void *server_call_worker(const server_call_t *call) { return call->worker->ctx; }
const char *server_call_path(const server_call_t *call) { return call->path; }

int64_t server_call_deadline_left_ms(const server_call_t *call) {
    gpr_timespec deadline = gpr_convert_clock_type(call->details.deadline, GPR_CLOCK_MONOTONIC);
    if (gpr_time_cmp(deadline, gpr_inf_future(GPR_CLOCK_MONOTONIC)) == 0) return INT64_MAX;
    gpr_timespec now = gpr_now(GPR_CLOCK_MONOTONIC);
    gpr_timespec left = gpr_time_sub(deadline, now);
    return (int64_t)left.tv_sec * 1000 + left.tv_nsec / 1000000;
}

/* ---- strings on the wire ------------------------------------------------------ */

#define SERVER_WIRE_DEPTH_MAX 8 /* nesting of the carbon.v1 messages is at most 4 */

/* Reads a varint at *p (bounded by end); 0 on success. */
static int server_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

typedef enum { STRINGS_CLEAN, STRINGS_NUL, STRINGS_NOT_UTF8 } server_strings_t;

/* Checks every string field of the message in [data, data+len) and of the
 * messages nested in it. protobuf-c checks neither thing protobuf asks of a
 * string: a NUL inside one would make the handlers read it cut there
 * ("tj-a\0x" as "tj-a"), and bytes that are not UTF-8 would be stored and
 * handed on to peers and auditors whose decoders refuse them; either way the
 * request is refused as malformed. The bytes have already been unpacked by
 * protobuf-c, so their framing is sound; anything odd in it here is treated
 * as clean. Walks with an explicit stack, no recursion. */
static server_strings_t server_strings_check(const ProtobufCMessageDescriptor *desc,
                                             const uint8_t *data, size_t len) {
    struct {
        const ProtobufCMessageDescriptor *desc;
        const uint8_t *p, *end;
    } stack[SERVER_WIRE_DEPTH_MAX];
    int depth = 0;
    stack[0].desc = desc;
    stack[0].p = data;
    stack[0].end = data + len;
    while (depth >= 0) {
        if (stack[depth].p >= stack[depth].end) {
            depth--;
            continue;
        }
        uint64_t key, n;
        if (server_varint(&stack[depth].p, stack[depth].end, &key) != 0) return STRINGS_CLEAN;
        unsigned wire = (unsigned)(key & 7);
        if (wire == 0) {
            if (server_varint(&stack[depth].p, stack[depth].end, &n) != 0) return STRINGS_CLEAN;
        } else if (wire == 1 || wire == 5) {
            size_t skip = wire == 1 ? 8 : 4;
            if ((size_t)(stack[depth].end - stack[depth].p) < skip) return STRINGS_CLEAN;
            stack[depth].p += skip;
        } else if (wire == 2) {
            if (server_varint(&stack[depth].p, stack[depth].end, &n) != 0 ||
                n > (uint64_t)(stack[depth].end - stack[depth].p))
                return STRINGS_CLEAN;
            const uint8_t *field = stack[depth].p;
            stack[depth].p += n;
            const ProtobufCFieldDescriptor *f =
                protobuf_c_message_descriptor_get_field(stack[depth].desc, (unsigned)(key >> 3));
            if (f == NULL) continue; /* unknown field: kept by protobuf-c, read by nobody */
            if (f->type == PROTOBUF_C_TYPE_STRING && memchr(field, 0, (size_t)n) != NULL)
                return STRINGS_NUL;
            if (f->type == PROTOBUF_C_TYPE_STRING && !validate_utf8(field, (size_t)n))
                return STRINGS_NOT_UTF8;
            if (f->type == PROTOBUF_C_TYPE_MESSAGE && depth + 1 < SERVER_WIRE_DEPTH_MAX) {
                depth++;
                stack[depth].desc = f->descriptor;
                stack[depth].p = field;
                stack[depth].end = field + n;
            }
        } else {
            return STRINGS_CLEAN;
        }
    }
    return STRINGS_CLEAN;
}

/* ---- bidirectional streams (server_handle_stream) ------------------------ */
/* One operation at a time is pending on a stream: a read, a write or the
 * final status. The handler answers each event with exactly one next step,
 * so the worker never waits; a stream open longer than SERVER_STREAM_MS_MAX
 * is cancelled by the worker's sweep (server_stream_sweep). */

static void server_call_free(server_call_t *c);

static int64_t server_now_ms(void) {
    gpr_timespec t = gpr_now(GPR_CLOCK_MONOTONIC);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void server_start_batch(server_call_t *c, grpc_op *ops, size_t n, server_tag_t *tag) {
    grpc_call_error e = grpc_call_start_batch(c->call, ops, n, tag, NULL);
    if (e != GRPC_CALL_OK) {
        log_error("stream_batch_failed", "{s:s, s:i}", "method", c->path, "grpc_call_error", (int)e);
        abort(); /* the tag would never come back: nothing else could free the call */
    }
}

/* Hands one received message (bb, consumed; NULL: the client half-closed)
 * to the stream's handler, unpacked and checked like a unary request. */
static void server_stream_deliver(server_call_t *c, grpc_byte_buffer *bb) {
    if (bb == NULL) {
        c->method->stream(c, SERVER_STREAM_END, NULL);
        return;
    }
    c->stream_received++;
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, bb)) {
        grpc_byte_buffer_destroy(bb);
        server_reply_error(c, GRPC_STATUS_INVALID_ARGUMENT, REASON(MALFORMED),
                           "a stream message could not be decompressed");
        return;
    }
    grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    grpc_byte_buffer_destroy(bb);
    const ProtobufCMessageDescriptor *desc = c->method->request_desc;
    ProtobufCMessage *req = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(all),
                                                      GRPC_SLICE_START_PTR(all));
    server_strings_t strings = req == NULL ? STRINGS_CLEAN
                                           : server_strings_check(desc, GRPC_SLICE_START_PTR(all),
                                                                  GRPC_SLICE_LENGTH(all));
    grpc_slice_unref(all);
    if (req == NULL || strings != STRINGS_CLEAN) {
        if (req != NULL) protobuf_c_message_free_unpacked(req, NULL);
        server_reply_error(c, GRPC_STATUS_INVALID_ARGUMENT, REASON(MALFORMED),
                           "stream message %u is not a valid %s", (unsigned)c->stream_received,
                           desc->name);
        return;
    }
    c->method->stream(c, SERVER_STREAM_MESSAGE, req);
    protobuf_c_message_free_unpacked(req, NULL);
}

/* The first message has arrived and the caller passed every check. */
static void server_stream_begin(server_call_t *c) {
    server_worker_t *w = c->worker;
    if (atomic_fetch_add(&c->server->streams_open, 1) >= SERVER_STREAMS_MAX) {
        atomic_fetch_sub(&c->server->streams_open, 1);
        server_reply_error(c, GRPC_STATUS_RESOURCE_EXHAUSTED, REASON(TOO_MANY_STREAMS),
                           "%d streams are open on this gateway; retry later", SERVER_STREAMS_MAX);
        return;
    }
    c->stream_expiry_ms = server_now_ms() + SERVER_STREAM_MS_MAX;
    c->stream_next = w->streams;
    if (w->streams != NULL) w->streams->stream_prev = c;
    w->streams = c;
    grpc_byte_buffer *bb = c->request_bb;
    c->request_bb = NULL;
    server_stream_deliver(c, bb);
}

static void server_stream_unlink(server_call_t *c) {
    if (c->stream_expiry_ms == 0) return; /* never began, or unlinked */
    c->stream_expiry_ms = 0;
    atomic_fetch_sub(&c->server->streams_open, 1);
    if (c->stream_prev != NULL)
        c->stream_prev->stream_next = c->stream_next;
    else
        c->worker->streams = c->stream_next;
    if (c->stream_next != NULL) c->stream_next->stream_prev = c->stream_prev;
    c->stream_prev = c->stream_next = NULL;
}

/* A read or write failed: the client went away or cancelled, its deadline
 * or ours passed, or the server is stopping. The call is over on the wire
 * and nothing is pending on it, so it is freed without another batch (one
 * could find the worker's queue already shut down). */
static void server_stream_failed(server_call_t *c) {
    atomic_fetch_add(&c->server->calls_failed, 1);
    server_stream_unlink(c);
    server_call_free(c);
}

/* Cancels this worker's streams open longer than SERVER_STREAM_MS_MAX, and
 * all of them once the server is stopping (an idle client would otherwise
 * hold the shutdown for its whole grace); their pending operation then
 * fails and ends the call (server_stream_failed). */
static void server_stream_sweep(server_worker_t *w) {
    int64_t now_ms = server_now_ms();
    int stopping = atomic_load(&w->server->stopping);
    for (server_call_t *c = w->streams; c != NULL; c = c->stream_next) {
        if (c->stream_cancelled) continue;
        if (stopping) {
            c->stream_cancelled = 1;
            grpc_call_cancel_with_status(c->call, GRPC_STATUS_UNAVAILABLE,
                                         "STOPPING: the gateway is stopping; call again later",
                                         NULL);
            continue;
        }
        if (now_ms < c->stream_expiry_ms) continue;
        c->stream_cancelled = 1;
        log_info("stream_expired", "{s:s, s:s, s:i}", "method", c->path, "caller",
                 c->caller_known ? c->caller.spiffe_id : "", "limit_ms", SERVER_STREAM_MS_MAX);
        char why[128];
        snprintf(why, sizeof why, "%s: a stream may stay open at most %d ms",
                 REASON(STREAM_TOO_LONG), SERVER_STREAM_MS_MAX);
        grpc_call_cancel_with_status(c->call, GRPC_STATUS_DEADLINE_EXCEEDED, why, NULL);
    }
}

void server_stream_read(server_call_t *call) {
    CARBON_ASSERT(call != NULL && call->method->stream != NULL && !atomic_load(&call->replied));
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &call->request_bb;
    server_start_batch(call, &op, 1, &call->tag_stream_recv);
}

void server_stream_send(server_call_t *call, const ProtobufCMessage *msg) {
    CARBON_ASSERT(call != NULL && msg != NULL && call->method->stream != NULL);
    CARBON_ASSERT(!atomic_load(&call->replied));
    size_t len = protobuf_c_message_get_packed_size(msg);
    if (len > call->server->opts.max_message_bytes) {
        server_reply_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, REASON(RESPONSE_TOO_LARGE),
                           "the answer would be %zu bytes, over the limit of %u", len,
                           (unsigned)call->server->opts.max_message_bytes);
        return;
    }
    if (call->response_bb != NULL) grpc_byte_buffer_destroy(call->response_bb); /* sent */
    grpc_slice slice = grpc_slice_malloc(len);
    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(slice));
    call->response_bb = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    if (!call->initial_md_sent) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        call->initial_md_sent = 1;
    }
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = call->response_bb;
    server_start_batch(call, ops, n, &call->tag_stream_sent);
}

void server_stream_finish(server_call_t *call) {
    CARBON_ASSERT(call != NULL && call->method->stream != NULL);
    server_send_final(call, GRPC_STATUS_OK, NULL, NULL, NULL);
}

uint32_t server_stream_received(const server_call_t *call) { return call->stream_received; }

/* ---- the call's life ------------------------------------------------------ */

static void server_arm(server_worker_t *w) {
    server_call_t *c = calloc(1, sizeof *c);
    if (c == NULL) abort();
    c->server = w->server;
    c->worker = w;
    c->tag_new = (server_tag_t){TAG_NEW_CALL, c};
    c->tag_recv = (server_tag_t){TAG_RECV, c};
    c->tag_done = (server_tag_t){TAG_DONE, c};
    c->tag_stream_recv = (server_tag_t){TAG_STREAM_RECV, c};
    c->tag_stream_sent = (server_tag_t){TAG_STREAM_SENT, c};
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->request_md);
    grpc_call_error e = grpc_server_request_call(w->server->grpc, &c->call, &c->details,
                                                 &c->request_md, w->cq, w->cq, &c->tag_new);
    if (e != GRPC_CALL_OK) {
        grpc_call_details_destroy(&c->details);
        grpc_metadata_array_destroy(&c->request_md);
        free(c);
    }
}

static void server_call_free(server_call_t *c) {
    if (c->request != NULL) protobuf_c_message_free_unpacked(c->request, NULL);
    if (c->request_bb != NULL) grpc_byte_buffer_destroy(c->request_bb);
    if (c->response_bb != NULL) grpc_byte_buffer_destroy(c->response_bb);
    if (atomic_load(&c->replied)) {
        grpc_slice_unref(c->details_slice);
        grpc_slice_unref(c->reason_value);
    }
    if (c->call != NULL) grpc_call_unref(c->call);
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->request_md);
    free(c);
}

/* Reads the caller's SPIFFE ID from the auth context. */
static void server_read_caller(server_call_t *c) {
    grpc_auth_context *auth = grpc_call_auth_context(c->call);
    if (auth == NULL) return;
    grpc_auth_property_iterator it =
        grpc_auth_context_find_properties_by_name(auth, "peer_spiffe_id");
    const grpc_auth_property *prop = grpc_auth_property_iterator_next(&it);
    if (prop != NULL && prop->value_length < IDENTITY_SPIFFE_MAX) {
        char spiffe[IDENTITY_SPIFFE_MAX];
        memcpy(spiffe, prop->value, prop->value_length);
        spiffe[prop->value_length] = '\0';
        char err[256];
        if (identity_parse(spiffe, c->server->opts.trust_domain, &c->caller, err, sizeof err) == 0)
            c->caller_known = 1;
        else
            log_info("identity_rejected", "{s:s}", "reason", err);
    }
    grpc_auth_context_release(auth);
}

static void server_dispatch(server_call_t *c) {
    server_t *s = c->server;
    atomic_fetch_add(&s->calls_total, 1);
    size_t plen = GRPC_SLICE_LENGTH(c->details.method);
    if (plen >= sizeof c->path) plen = sizeof c->path - 1;
    memcpy(c->path, GRPC_SLICE_START_PTR(c->details.method), plen);
    c->path[plen] = '\0';

    c->method = server_find_method(s, c->path);
    server_read_caller(c);
    if (c->method == NULL) {
        server_reply_error(c, GRPC_STATUS_UNIMPLEMENTED, REASON(UNKNOWN_METHOD), "no method %s", c->path);
        return;
    }
    char why[256];
    if (!identity_authorize(server_call_caller(c), c->method->service, s->opts.region,
                            s->opts.peer_regions, s->opts.peers_n, why, sizeof why)) {
        server_reply_error(c, GRPC_STATUS_PERMISSION_DENIED, REASON(NOT_AUTHORIZED), "%s", why);
        return;
    }
    if (c->method->handler == NULL && c->method->stream == NULL) {
        server_reply_error(c, GRPC_STATUS_UNIMPLEMENTED, REASON(NOT_IMPLEMENTED),
                           "%s is not implemented in this version", c->path);
        return;
    }
    if (server_call_deadline_left_ms(c) <= 0) {
        server_reply_error(c, GRPC_STATUS_DEADLINE_EXCEEDED, REASON(DEADLINE_EXCEEDED),
                           "the deadline passed before the call was served");
        return;
    }
    if (c->method->stream != NULL) {
        server_stream_begin(c);
        return;
    }
    if (c->request_bb == NULL) {
        server_reply_error(c, GRPC_STATUS_INVALID_ARGUMENT, REASON(NO_MESSAGE),
                           "the call carried no request message");
        return;
    }
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, c->request_bb)) {
        server_reply_error(c, GRPC_STATUS_INVALID_ARGUMENT, REASON(MALFORMED),
                           "the request could not be decompressed");
        return;
    }
    grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    /* gRPC has enforced max_message_bytes already; this is the unpack bound. */
    CARBON_ASSERT(GRPC_SLICE_LENGTH(all) <= s->opts.max_message_bytes);
    c->request = protobuf_c_message_unpack(c->method->request_desc, NULL, GRPC_SLICE_LENGTH(all),
                                           GRPC_SLICE_START_PTR(all));
    server_strings_t strings = c->request == NULL
                                   ? STRINGS_CLEAN
                                   : server_strings_check(c->method->request_desc,
                                                          GRPC_SLICE_START_PTR(all),
                                                          GRPC_SLICE_LENGTH(all));
    grpc_slice_unref(all);
    if (strings != STRINGS_CLEAN) {
        server_reply_error(c, GRPC_STATUS_INVALID_ARGUMENT, REASON(MALFORMED),
                           "a string field of the %s %s", c->method->request_desc->name,
                           strings == STRINGS_NUL ? "holds a NUL byte" : "is not UTF-8");
        return;
    }
    if (c->request == NULL) {
        server_reply_error(c, GRPC_STATUS_INVALID_ARGUMENT, REASON(MALFORMED),
                           "the request is not a valid %s", c->method->request_desc->name);
        return;
    }
    c->method->handler(c, c->request);
}

static void server_on_new_call(server_call_t *c) {
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->request_bb;
    grpc_call_error e = grpc_call_start_batch(c->call, &op, 1, &c->tag_recv, NULL);
    if (e != GRPC_CALL_OK) {
        log_error("recv_failed", "{s:i}", "grpc_call_error", (int)e);
        abort();
    }
}

static void *server_worker_main(void *arg) {
    server_worker_t *w = arg;
    server_t *s = w->server;
    if (s->opts.worker_init != NULL) w->ctx = s->opts.worker_init(s->opts.app, w->index);
    for (int i = 0; i < SERVER_CALLS_ARMED_PER_WORKER; i++) server_arm(w);
    int64_t sweep_ms = 0;
    for (;;) {
        /* with streams open, wake at least every SERVER_STREAM_SWEEP_MS */
        gpr_timespec wait = w->streams == NULL
                                ? gpr_inf_future(GPR_CLOCK_REALTIME)
                                : gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                               gpr_time_from_millis(SERVER_STREAM_SWEEP_MS,
                                                                    GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_next(w->cq, wait, NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
        if (w->streams != NULL && server_now_ms() >= sweep_ms) {
            server_stream_sweep(w);
            sweep_ms = server_now_ms() + SERVER_STREAM_SWEEP_MS;
        }
        if (ev.type != GRPC_OP_COMPLETE) continue;
        server_tag_t *tag = ev.tag;
        server_call_t *c = tag->call;
        switch (tag->kind) {
        case TAG_NEW_CALL:
            if (!ev.success) { /* server shutting down: never armed again */
                grpc_call_details_destroy(&c->details);
                grpc_metadata_array_destroy(&c->request_md);
                if (c->call != NULL) grpc_call_unref(c->call);
                free(c);
                break;
            }
            server_arm(w);
            server_on_new_call(c);
            break;
        case TAG_RECV:
            server_dispatch(c);
            break;
        case TAG_STREAM_RECV: {
            grpc_byte_buffer *bb = c->request_bb;
            c->request_bb = NULL;
            if (!ev.success) {
                if (bb != NULL) grpc_byte_buffer_destroy(bb);
                server_stream_failed(c);
            } else {
                server_stream_deliver(c, bb);
            }
            break;
        }
        case TAG_STREAM_SENT:
            if (!ev.success)
                server_stream_failed(c);
            else
                c->method->stream(c, SERVER_STREAM_SENT, NULL);
            break;
        case TAG_DONE:
            server_stream_unlink(c);
            server_call_free(c);
            break;
        }
    }
    if (s->opts.worker_fini != NULL) s->opts.worker_fini(s->opts.app, w->ctx);
    return NULL;
}

/* ---- lifecycle ---------------------------------------------------------- */

server_t *server_create(const server_options_t *opts,
                        const ProtobufCServiceDescriptor *const *services,
                        const identity_service_t *service_kinds, size_t services_n, char *err,
                        size_t errlen) {
    CARBON_ASSERT(opts != NULL && opts->creds != NULL && opts->workers > 0);
    server_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->opts = *opts;
    for (size_t i = 0; i < services_n; i++) {
        const ProtobufCServiceDescriptor *sd = services[i];
        for (unsigned m = 0; m < sd->n_methods; m++) {
            CARBON_ASSERT(s->methods_n < SERVER_METHODS_MAX);
            server_method_t *mt = &s->methods[s->methods_n++];
            snprintf(mt->path, sizeof mt->path, "/%s/%s", sd->name, sd->methods[m].name);
            mt->service = service_kinds[i];
            mt->request_desc = sd->methods[m].input;
        }
    }
    qsort(s->methods, s->methods_n, sizeof s->methods[0], server_method_cmp);

    grpc_arg args[5];
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = (int)opts->max_message_bytes;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[1].value.integer = (int)opts->max_message_bytes;
    /* gRPC sets SO_REUSEPORT by default: two gateways would then share a port
     * silently. A port in use must be an error. */
    args[2].type = GRPC_ARG_INTEGER;
    args[2].key = GRPC_ARG_ALLOW_REUSEPORT;
    args[2].value.integer = 0;
    /* Revocation is checked at the handshake: a connection lives at most this
     * long, so a client revoked since is cut off and must handshake again. */
    args[3].type = GRPC_ARG_INTEGER;
    args[3].key = GRPC_ARG_MAX_CONNECTION_AGE_MS;
    args[3].value.integer = SERVER_CONNECTION_AGE_MS_MAX;
    args[4].type = GRPC_ARG_INTEGER;
    args[4].key = GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS;
    args[4].value.integer = SERVER_CONNECTION_AGE_GRACE_MS;
    grpc_channel_args cargs = {5, args};
    s->grpc = grpc_server_create(&cargs, NULL);
    s->port = grpc_server_add_http2_port(s->grpc, opts->listen, opts->creds);
    if (s->port == 0) {
        snprintf(err, errlen, "cannot listen on %s (address in use or invalid)", opts->listen);
        grpc_server_destroy(s->grpc);
        free(s);
        return NULL;
    }
    s->workers = calloc((size_t)opts->workers, sizeof *s->workers);
    if (s->workers == NULL) abort();
    for (int i = 0; i < opts->workers; i++) {
        s->workers[i].server = s;
        s->workers[i].index = i;
        s->workers[i].cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(s->grpc, s->workers[i].cq, NULL);
    }
    return s;
}

int server_port(const server_t *s) { return s->port; }

int server_start(server_t *s, char *err, size_t errlen) {
    grpc_server_start(s->grpc);
    s->started = 1;
    for (int i = 0; i < s->opts.workers; i++) {
        if (pthread_create(&s->workers[i].thread, NULL, server_worker_main, &s->workers[i]) != 0) {
            snprintf(err, errlen, "cannot start worker thread %d", i);
            return -1;
        }
    }
    return 0;
}

void server_shutdown_begin(server_t *s) {
    if (s->shutdown_cq != NULL) return;
    atomic_store(&s->stopping, 1);
    s->shutdown_cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_server_shutdown_and_notify(s->grpc, s->shutdown_cq, &s->shutdown_tag);
}

void server_stop_and_destroy(server_t *s, int grace_ms) {
    server_shutdown_begin(s);
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                         gpr_time_from_millis(grace_ms, GPR_TIMESPAN));
    grpc_event ev = grpc_completion_queue_pluck(s->shutdown_cq, &s->shutdown_tag, deadline, NULL);
    if (ev.type == GRPC_QUEUE_TIMEOUT) {
        log_warn("shutdown_grace_expired", "{s:i}", "grace_ms", grace_ms);
        grpc_server_cancel_all_calls(s->grpc);
        grpc_completion_queue_pluck(s->shutdown_cq, &s->shutdown_tag,
                                    gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    }
    /* The sweep has cancelled the open streams; each is freed when its
     * pending operation fails, which must come before the queues close. */
    for (int waited_ms = 0; atomic_load(&s->streams_open) > 0 && waited_ms < grace_ms;
         waited_ms += 10)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    for (int i = 0; i < s->opts.workers; i++) grpc_completion_queue_shutdown(s->workers[i].cq);
    for (int i = 0; i < s->opts.workers; i++) {
        if (s->started) {
            pthread_join(s->workers[i].thread, NULL);
        } else { /* never served: drain the queue ourselves */
            while (grpc_completion_queue_next(s->workers[i].cq, gpr_inf_future(GPR_CLOCK_REALTIME),
                                              NULL).type != GRPC_QUEUE_SHUTDOWN) {
            }
        }
    }
    grpc_server_destroy(s->grpc);
    for (int i = 0; i < s->opts.workers; i++) grpc_completion_queue_destroy(s->workers[i].cq);
    grpc_completion_queue_shutdown(s->shutdown_cq);
    grpc_completion_queue_destroy(s->shutdown_cq);
    free(s->workers);
    free(s);
}

void server_get_stats(const server_t *s, server_stats_t *out) {
    out->calls_total = atomic_load(&s->calls_total);
    out->calls_failed = atomic_load(&s->calls_failed);
}
