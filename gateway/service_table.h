/* service_table.h - the services gatewayd serves and who may call them. */
#ifndef GATEWAY_SERVICE_TABLE_H
#define GATEWAY_SERVICE_TABLE_H

#include "gateway/identity.h"

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#define SERVICES_N 7

/* The service descriptors (carbon.v1, grpc.health.v1 and server reflection
 * v1 and v1alpha) and, at the same index, the authorization class of each.
 * Static data. */
extern const ProtobufCServiceDescriptor *const services_descriptors[SERVICES_N];
extern const identity_service_t services_kinds[SERVICES_N];

#endif
