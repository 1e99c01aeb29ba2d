/* health.c - the standard health check (health.h). */
#include "gateway/services/health.h"
#include "common/carbon_assert.h"

#include "grpc/health/v1/health.pb-c.h"

#include <string.h>

static const char *const health_services[] = {
    "", "carbon.v1.Registry", "carbon.v1.Federation", "carbon.v1.Operations", "carbon.v1.Audit",
};

void health_check(server_call_t *call, const ProtobufCMessage *request, int serving) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Grpc__Health__V1__HealthCheckRequest *req =
        (const Grpc__Health__V1__HealthCheckRequest *)request;
    for (size_t i = 0; i < sizeof health_services / sizeof health_services[0]; i++) {
        if (strcmp(req->service, health_services[i]) == 0) {
            Grpc__Health__V1__HealthCheckResponse resp =
                GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
            resp.status = serving ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                                  : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
            server_reply_ok(call, &resp.base);
            return;
        }
    }
    server_reply_error(call, GRPC_STATUS_NOT_FOUND, REASON(UNKNOWN_SERVICE), "no service '%.64s'",
                       req->service);
}
