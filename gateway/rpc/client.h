/* client.h - blocking unary gRPC calls over mutual TLS, for gwctl, peer
 * channels and tests. Each call uses its own completion queue, so any number
 * of threads may call concurrently on one channel. */
#ifndef GATEWAY_CLIENT_H
#define GATEWAY_CLIENT_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#define CLIENT_DETAILS_MAX 512
#define CLIENT_RECONNECT_BACKOFF_MS_INITIAL 100
#define CLIENT_RECONNECT_BACKOFF_MS_MAX 2000

typedef struct {
    grpc_status_code code;
    char details[CLIENT_DETAILS_MAX]; /* status message, e.g. "REASON: sentence" */
    char reason[64];                  /* trailing "carbon-reason", or empty */
} client_status_t;

/* What gwctl and its console accept in one answer; a gateway's answers to
 * operators that grow with the data (ListBatches, Reconcile) stay within
 * it whatever their max_message_bytes. */
#define CLIENT_OPERATOR_ANSWER_BYTES_MAX (16u << 20)

/* Opens a channel to target ("HOST:PORT") with creds (borrowed).
 * max_message_bytes bounds what the channel receives. Never NULL. */
grpc_channel *client_channel(const char *target, grpc_channel_credentials *creds,
                             uint32_t max_message_bytes);

/* Calls path with request and waits at most timeout_ms. On OK, *response is
 * unpacked with response_desc (caller frees with
 * protobuf_c_message_free_unpacked). Returns the status code (also in st);
 * a response that does not decode gives GRPC_STATUS_INTERNAL. If
 * parent is not NULL, the call is a child of that server call (deadline and
 * cancellation propagate). */
grpc_status_code client_call(grpc_channel *ch, const char *path, const ProtobufCMessage *request,
                             const ProtobufCMessageDescriptor *response_desc,
                             ProtobufCMessage **response, int64_t timeout_ms,
                             client_status_t *st);

/* Same, with raw request bytes (tests send malformed or oversized bytes). */
grpc_status_code client_call_raw(grpc_channel *ch, const char *path, const uint8_t *bytes,
                                 size_t len, const ProtobufCMessageDescriptor *response_desc,
                                 ProtobufCMessage **response, int64_t timeout_ms,
                                 client_status_t *st);

/* Waits at most max_ms (>= 0) for ch to be connected, asking it to connect
 * now if it is idle. 1 once it is READY, 0 if it is not within max_ms (or
 * is shut down). A call made on a channel that is reconnecting fails at once
 * with the last connection error; this lets a caller that knows the server
 * is up wait for the connection instead. */
int client_wait_ready(grpc_channel *ch, int64_t max_ms);

/* "OK", "INVALID_ARGUMENT", ... */
const char *client_status_name(grpc_status_code code);

#endif
