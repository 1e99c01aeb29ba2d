/* registry.h - handlers of carbon.v1.Registry (see registry.c). Each takes
 * the unpacked request and answers the call exactly once. */
#ifndef GATEWAY_REGISTRY_H
#define GATEWAY_REGISTRY_H

#include "gateway/server.h"

void registry_open_account(server_call_t *call, const ProtobufCMessage *request);
void registry_issue(server_call_t *call, const ProtobufCMessage *request);
void registry_quote_handler(server_call_t *call, const ProtobufCMessage *request);
void registry_transfer(server_call_t *call, const ProtobufCMessage *request);
void registry_get_transfer(server_call_t *call, const ProtobufCMessage *request);
void registry_list_transfers(server_call_t *call, const ProtobufCMessage *request);
void registry_get_account(server_call_t *call, const ProtobufCMessage *request);
void registry_retire(server_call_t *call, const ProtobufCMessage *request);

#endif
