/* server.h - the gateway's gRPC server: a completion-queue loop per worker
 * thread and a method table keyed by the full method path.
 *
 * Every call goes through the same steps before a handler sees it:
 *   1. the TLS layer has verified the client certificate (CA, expiry, CRL);
 *   2. the path is looked up: unknown → UNIMPLEMENTED, known but without a
 *      handler yet → UNIMPLEMENTED;
 *   3. the caller's SPIFFE ID is read from the auth context and checked
 *      against the role/region table (identity.h) → PERMISSION_DENIED;
 *   4. an expired deadline → DEADLINE_EXCEEDED;
 *   5. the request bytes are unpacked with the method's descriptor:
 *      malformed → INVALID_ARGUMENT. (Oversized messages never arrive: gRPC
 *      answers RESOURCE_EXHAUSTED from the max_message_bytes limit.)
 * A handler then answers exactly once, with server_reply_ok() or
 * server_reply_error(), from its own thread or later from another thread
 * (e.g. when a settlement decision is durable). */
#ifndef GATEWAY_SERVER_H
#define GATEWAY_SERVER_H

#include "gateway/identity.h"
#include "settlement/reasons.h"

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#define SERVER_METHODS_MAX 64
#define SERVER_CALLS_ARMED_PER_WORKER 32 /* outstanding request_call per queue */
#define SERVER_REASON_MAX 64
#define SERVER_DETAILS_MAX 512
#define SERVER_CONNECTION_AGE_MS_MAX (10 * 60 * 1000) /* then the client reconnects */
#define SERVER_CONNECTION_AGE_GRACE_MS (60 * 1000)  /* for calls in flight */

typedef struct server server_t;
typedef struct server_call server_call_t;

typedef void (*server_handler_fn)(server_call_t *call, const ProtobufCMessage *request);

/* Bidirectional streams (issue 11, server reflection). The handler is called
 * in the worker thread for each event and answers it at once with exactly
 * one next step, so at most one operation is pending on the stream:
 *   SERVER_STREAM_MESSAGE  a request arrived (request: borrowed for the
 *                          call): server_stream_send(), server_stream_finish()
 *                          or server_reply_error();
 *   SERVER_STREAM_SENT     the last send went out (request NULL):
 *                          server_stream_read(), _finish() or _reply_error();
 *   SERVER_STREAM_END      the client half-closed (request NULL):
 *                          server_stream_finish() or server_reply_error().
 * A failed read or send (client gone, cancelled, deadline) ends the call
 * without the handler. A stream open longer than SERVER_STREAM_MS_MAX is
 * cancelled with DEADLINE_EXCEEDED, and every open stream with UNAVAILABLE
 * once server_shutdown_begin() was called (within SERVER_STREAM_SWEEP_MS).
 * Beyond SERVER_STREAMS_MAX open at once, a new stream is refused with
 * RESOURCE_EXHAUSTED (reason TOO_MANY_STREAMS). Messages are checked as for unary calls
 * (size, UTF-8) before the handler sees them. */
typedef enum { SERVER_STREAM_MESSAGE, SERVER_STREAM_SENT, SERVER_STREAM_END } server_stream_event_t;
typedef void (*server_stream_fn)(server_call_t *call, server_stream_event_t event,
                                 const ProtobufCMessage *request);
#define SERVER_STREAM_MS_MAX 60000  /* longest life of a stream */
#define SERVER_STREAMS_MAX 256      /* open at once on a server; then RESOURCE_EXHAUSTED */
#define SERVER_STREAM_SWEEP_MS 1000 /* how often a worker looks for expired ones */

typedef struct {
    const char *region;               /* this gateway's region */
    const char *trust_domain;         /* e.g. "jjj.carbon" */
    const char *const *peer_regions;  /* regions allowed on Federation */
    size_t peers_n;
    const char *listen;               /* "127.0.0.1:7001"; port 0 picks a free one */
    grpc_server_credentials *creds;   /* borrowed; only TLS is ever served */
    uint32_t max_message_bytes;
    int workers;                      /* threads, each with its own completion queue */
    void *app;                        /* handed to handlers via server_call_app() */
    /* Called once in each worker thread before it serves; its result is
     * handed to handlers via server_call_worker(). May be NULL. */
    void *(*worker_init)(void *app, int index);
    void (*worker_fini)(void *app, void *worker);
} server_options_t;

/* Creates a server with a method table built from the service descriptors
 * (every method of every service, with its request type). Returns NULL with
 * the reason in err (e.g. address in use). Nothing is served before
 * server_start(). */
server_t *server_create(const server_options_t *opts,
                        const ProtobufCServiceDescriptor *const *services,
                        const identity_service_t *service_kinds, size_t services_n, char *err,
                        size_t errlen);

/* Registers a handler for a method path like "/carbon.v1.Registry/Issue".
 * Returns 0, or -1 if the path is not in the table. Before server_start(). */
int server_handle(server_t *s, const char *path, server_handler_fn handler);

/* Registers a bidirectional stream handler for a method path (see
 * server_stream_fn). Returns 0, or -1 if the path is not in the table.
 * Before server_start(). */
int server_handle_stream(server_t *s, const char *path, server_stream_fn fn);

/* Stream steps, for a stream handler answering an event (server_stream_fn).
 * _send packs msg (borrowed) and sends it, or, if it is over
 * max_message_bytes, ends the call with RESOURCE_EXHAUSTED; _read asks for
 * the next message; _finish ends the call with OK. */
void server_stream_send(server_call_t *call, const ProtobufCMessage *msg);
void server_stream_read(server_call_t *call);
void server_stream_finish(server_call_t *call);
/* Messages received on this stream so far, the current one included. */
uint32_t server_stream_received(const server_call_t *call);

/* The bound port (useful when listen asked for port 0). */
int server_port(const server_t *s);

/* Starts the worker threads. Returns 0 or -1 with the reason in err. */
int server_start(server_t *s, char *err, size_t errlen);

/* Stops accepting calls; calls in flight go on (their handlers may still
 * answer from other threads). Idempotent. */
void server_shutdown_begin(server_t *s);

/* Stops accepting calls (if not yet), lets in-flight calls finish (at most
 * grace_ms, then cancels them), joins the workers and frees everything. A
 * handler that answers later than that would touch freed memory: finish
 * whatever answers deferred calls (the settlement engine) before this. */
void server_stop_and_destroy(server_t *s, int grace_ms);

/* Answers the call with OK and msg (borrowed; packed before return). */
void server_reply_ok(server_call_t *call, const ProtobufCMessage *msg);

/* Answers with status code, a machine-readable reason (e.g.
 * "INSUFFICIENT_BALANCE") and a printf-style sentence. The status message is
 * "REASON: sentence"; the reason also goes in trailing metadata "carbon-reason". */
void server_reply_error(server_call_t *call, grpc_status_code code, const char *reason,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Answers with the reason's status from the table (settlement/reasons.h) and
 * a printf-style sentence, as server_reply_error. reason refuses calls (its
 * where is CALL or BOTH). */
void server_refuse(server_call_t *call, reason_t reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Accessors for handlers. */
const identity_t *server_call_caller(const server_call_t *call);
void *server_call_app(const server_call_t *call);
void *server_call_worker(const server_call_t *call);
const char *server_call_path(const server_call_t *call);
/* Milliseconds left before the client's deadline (INT64_MAX if none). */
int64_t server_call_deadline_left_ms(const server_call_t *call);

/* Per-process counters for metrics and tests. */
typedef struct {
    uint64_t calls_total;
    uint64_t calls_failed;
} server_stats_t;
void server_get_stats(const server_t *s, server_stats_t *out);

#endif
