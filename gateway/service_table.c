/* service_table.c - the table of served services (service_table.h): the one
 * place that names every service the daemon wires in. */
#include "gateway/service_table.h"

#include "carbon/v1/carbon.pb-c.h"
#include "gateway/services/reflection.h"
#include "grpc/health/v1/health.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"

const ProtobufCServiceDescriptor *const services_descriptors[SERVICES_N] = {
    &grpc__health__v1__health__descriptor,   &carbon__v1__registry__descriptor,
    &carbon__v1__federation__descriptor,     &carbon__v1__operations__descriptor,
    &carbon__v1__audit__descriptor,
    &grpc__reflection__v1__server_reflection__descriptor, &reflection_v1alpha_descriptor,
};

const identity_service_t services_kinds[SERVICES_N] = {
    SERVICE_HEALTH, SERVICE_REGISTRY, SERVICE_FEDERATION, SERVICE_OPERATIONS, SERVICE_AUDIT,
    /* reflection: to anyone with an accepted certificate, like Health */
    SERVICE_HEALTH, SERVICE_HEALTH,
};
