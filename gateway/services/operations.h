/* operations.h - carbon.v1.Operations handlers and Federation.FetchBatches. */
#ifndef GATEWAY_OPERATIONS_H
#define GATEWAY_OPERATIONS_H

#include "gateway/app.h"
#include "gateway/server.h"

void ops_list_batches(server_call_t *call, const ProtobufCMessage *request);
void ops_reconcile(server_call_t *call, const ProtobufCMessage *request);
void ops_list_in_doubt(server_call_t *call, const ProtobufCMessage *request);
void ops_resolve_in_doubt(server_call_t *call, const ProtobufCMessage *request);
/* Federation.FetchBatches: the caller's batches as this region recorded them. */
void ops_fetch_batches(server_call_t *call, const ProtobufCMessage *request);

#endif
