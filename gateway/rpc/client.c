/* client.c - blocking unary calls (client.h). */
#include "gateway/rpc/client.h"
#include "common/carbon_assert.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* State changes client_wait_ready follows before it gives up (a channel
 * going IDLE, CONNECTING, TRANSIENT_FAILURE, CONNECTING ... within its
 * wait). */
#define CLIENT_WAIT_READY_CHANGES_MAX 16

grpc_channel *client_channel(const char *target, grpc_channel_credentials *creds,
                             uint32_t max_message_bytes) {
    grpc_arg args[4];
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = (int)max_message_bytes;
    /* Tests send oversized requests on purpose; the server enforces its limit. */
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[1].value.integer = -1;
    /* A peer that comes back is reached within seconds, not gRPC's default 120 s. */
    args[2].type = GRPC_ARG_INTEGER;
    args[2].key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS;
    args[2].value.integer = CLIENT_RECONNECT_BACKOFF_MS_MAX;
    args[3].type = GRPC_ARG_INTEGER;
    args[3].key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS;
    args[3].value.integer = CLIENT_RECONNECT_BACKOFF_MS_INITIAL;
    grpc_channel_args cargs = {4, args};
    return grpc_channel_create(target, creds, &cargs);
}

int client_wait_ready(grpc_channel *ch, int64_t max_ms) {
    CARBON_ASSERT(ch != NULL && max_ms >= 0);
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(max_ms, GPR_TIMESPAN));
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    int ready = 0, tag = 0;
    for (int changes = 0; changes < CLIENT_WAIT_READY_CHANGES_MAX; changes++) {
        grpc_connectivity_state state = grpc_channel_check_connectivity_state(ch, 1);
        ready = state == GRPC_CHANNEL_READY;
        if (ready || state == GRPC_CHANNEL_SHUTDOWN) break;
        grpc_channel_watch_connectivity_state(ch, state, deadline, cq, &tag);
        grpc_event ev = grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        CARBON_ASSERT(ev.type == GRPC_OP_COMPLETE);
        if (!ev.success) break; /* the deadline came before the state changed */
    }
    grpc_completion_queue_shutdown(cq); /* every watch was plucked: nothing is pending */
    grpc_completion_queue_destroy(cq);
    return ready;
}

static const char *const status_names[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED"};

const char *client_status_name(grpc_status_code code) {
    if ((int)code < 0 || (size_t)code >= sizeof status_names / sizeof status_names[0])
        return "?";
    return status_names[code];
}

/* The call's outcome into st: its code, its details and the server's
 * carbon-reason trailer, each cut to its field. */
static void client_status_fill(client_status_t *st, grpc_status_code status, grpc_slice details,
                               const grpc_metadata_array *trailing_md) {
    CARBON_ASSERT(st != NULL && trailing_md != NULL);
    st->code = status;
    size_t dlen = GRPC_SLICE_LENGTH(details);
    if (dlen >= sizeof st->details) dlen = sizeof st->details - 1;
    memcpy(st->details, GRPC_SLICE_START_PTR(details), dlen);
    st->details[dlen] = '\0';
    for (size_t i = 0; i < trailing_md->count; i++) {
        if (grpc_slice_str_cmp(trailing_md->metadata[i].key, "carbon-reason") == 0) {
            size_t rlen = GRPC_SLICE_LENGTH(trailing_md->metadata[i].value);
            if (rlen >= sizeof st->reason) rlen = sizeof st->reason - 1;
            memcpy(st->reason, GRPC_SLICE_START_PTR(trailing_md->metadata[i].value), rlen);
            st->reason[rlen] = '\0';
        }
    }
}

/* Unpacks an OK call's response message (resp_bb, NULL if none came) into
 * *response; a missing or unreadable one turns st into INTERNAL. */
static void client_unpack_response(grpc_byte_buffer *resp_bb,
                                   const ProtobufCMessageDescriptor *response_desc,
                                   ProtobufCMessage **response, client_status_t *st) {
    CARBON_ASSERT(response_desc != NULL && response != NULL && st != NULL);
    if (resp_bb == NULL) {
        st->code = GRPC_STATUS_INTERNAL;
        snprintf(st->details, sizeof st->details, "OK without a response message");
        return;
    }
    grpc_byte_buffer_reader reader;
    grpc_byte_buffer_reader_init(&reader, resp_bb);
    grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    *response = protobuf_c_message_unpack(response_desc, NULL, GRPC_SLICE_LENGTH(all),
                                          GRPC_SLICE_START_PTR(all));
    grpc_slice_unref(all);
    if (*response == NULL) {
        st->code = GRPC_STATUS_INTERNAL;
        snprintf(st->details, sizeof st->details, "the response is not a valid %s",
                 response_desc->name);
    }
}

grpc_status_code client_call_raw(grpc_channel *ch, const char *path, const uint8_t *bytes,
                                 size_t len, const ProtobufCMessageDescriptor *response_desc,
                                 ProtobufCMessage **response, int64_t timeout_ms,
                                 client_status_t *st) {
    CARBON_ASSERT(ch != NULL && path != NULL && st != NULL);
    memset(st, 0, sizeof *st);
    if (response != NULL) *response = NULL;
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                                         gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
    grpc_slice method = grpc_slice_from_copied_string(path);
    grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method,
                                               NULL, deadline, NULL);
    grpc_slice_unref(method);

    grpc_slice req_slice = grpc_slice_from_copied_buffer((const char *)bytes, len);
    grpc_byte_buffer *req_bb = grpc_raw_byte_buffer_create(&req_slice, 1);
    grpc_slice_unref(req_slice);
    grpc_metadata_array initial_md, trailing_md;
    grpc_metadata_array_init(&initial_md);
    grpc_metadata_array_init(&trailing_md);
    grpc_byte_buffer *resp_bb = NULL;
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();

    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = req_bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &resp_bb;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;
    int tag = 0;
    grpc_call_error e = grpc_call_start_batch(call, ops, 6, &tag, NULL);
    CARBON_ASSERT(e == GRPC_CALL_OK);
    (void)e;
    grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);

    client_status_fill(st, status, details, &trailing_md);
    if (status == GRPC_STATUS_OK && response != NULL && response_desc != NULL)
        client_unpack_response(resp_bb, response_desc, response, st);
    if (resp_bb != NULL) grpc_byte_buffer_destroy(resp_bb);
    grpc_byte_buffer_destroy(req_bb);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&initial_md);
    grpc_metadata_array_destroy(&trailing_md);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_destroy(cq);
    return st->code;
}

grpc_status_code client_call(grpc_channel *ch, const char *path, const ProtobufCMessage *request,
                             const ProtobufCMessageDescriptor *response_desc,
                             ProtobufCMessage **response, int64_t timeout_ms,
                             client_status_t *st) {
    size_t len = protobuf_c_message_get_packed_size(request);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL) abort();
    protobuf_c_message_pack(request, buf);
    grpc_status_code code =
        client_call_raw(ch, path, buf, len, response_desc, response, timeout_ms, st);
    free(buf);
    return code;
}
