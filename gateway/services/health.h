/* health.h - grpc.health.v1.Health/Check. */
#ifndef GATEWAY_HEALTH_H
#define GATEWAY_HEALTH_H

#include "gateway/server.h"

/* Answers SERVING (or NOT_SERVING when serving is 0, e.g. the store is
 * unreachable) for "" and for every carbon.v1 service this gateway serves,
 * NOT_FOUND for any other service name. */
void health_check(server_call_t *call, const ProtobufCMessage *request, int serving);

#endif
