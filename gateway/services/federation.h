/* federation.h - handlers of carbon.v1.Federation (see federation.c). */
#ifndef GATEWAY_FEDERATION_H
#define GATEWAY_FEDERATION_H

#include "gateway/server.h"

/* 1 if region, as a Federation message names it, is the caller's
 * certificate region and the caller is within its peer_requests_per_s;
 * else 0 after answering the call (PERMISSION_DENIED REGION_MISMATCH, or
 * RESOURCE_EXHAUSTED PEER_RATE_LIMITED). */
int federation_region_ok(server_call_t *call, const char *region);

/* 1 if the caller (an authenticated peer gateway) is within its
 * peer_requests_per_s, taking one request from it; else 0 after answering
 * the call RESOURCE_EXHAUSTED PEER_RATE_LIMITED. For Federation calls whose
 * message names no region (AddCheckpoint) or checks it itself. */
int federation_rate_ok(server_call_t *call);

/* The engine's gate on calls to a serials' origin made on source's behalf
 * (engine_set_origin_ask_gate; app is the gateway): 1 while source's
 * Prepares and Decides have made this region ask origins at most a quarter
 * of peer_requests_per_s times a second, else 0 (logged
 * origin_asks_limited), so that a source cannot spend this region's own
 * budget at that origin. Thread-safe. */
int federation_origin_ask_ok(void *app, const char *source);

void federation_hello(server_call_t *call, const ProtobufCMessage *request);
void federation_prepare(server_call_t *call, const ProtobufCMessage *request);
void federation_decide(server_call_t *call, const ProtobufCMessage *request);
void federation_query_decision(server_call_t *call, const ProtobufCMessage *request);
/* The caller's batches as this region recorded them (operations.c). */
void federation_fetch_batches(server_call_t *call, const ProtobufCMessage *request);

/* Use reports of this region's serials from the caller (use_reports.h). */
void federation_report_use(server_call_t *call, const ProtobufCMessage *request);

/* A destination asks whether this region, the origin of a leg's serials,
 * committed the same leg (proto ConfirmOrigin; engine_confirm_origins). */
void federation_confirm_origin(server_call_t *call, const ProtobufCMessage *request);

#endif
