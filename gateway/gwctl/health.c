/* health.c - gwctl health: the gRPC health check of a gateway. */
#include "gateway/gwctl/gwctl.h"
#include "common/carbon_assert.h"

#include "grpc/health/v1/health.pb-c.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

static const char gwctl_health_usage[] =
    "usage: gwctl health [--service NAME] [connection options]\n"
    "\n"
    "Asks a gateway's grpc.health.v1.Health/Check and prints its serving status:\n"
    "SERVING, or NOT_SERVING while the gateway cannot reach its store. Any\n"
    "certificate the gateway trusts may ask.\n"
    "\n"
    "  --service NAME      a service, e.g. carbon.v1.Registry (default: the server)\n" GWCTL_CONN_HELP
    "\n" GWCTL_EXIT_HELP
    "health: 0 SERVING, 1 another serving status.\n";

int gwctl_health(int argc, char **argv) {
    CARBON_ASSERT(argc >= 1 && argv != NULL && argv[0] != NULL);
    const char *service = "";
    gwctl_conn_t conn;
    const gwctl_opt_t opts[] = {{"service", 1, &service, NULL}, {NULL, 0, NULL, NULL}};
    int rc = gwctl_parse(argc, argv, opts, &conn, gwctl_health_usage);
    if (rc != 0) return rc > 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_USAGE;
    grpc_channel *ch = gwctl_connect(&conn);
    if (ch == NULL) return GWCTL_EXIT_CREDENTIALS;
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)service;
    ProtobufCMessage *resp = NULL;
    client_status_t st;
    int exit_code = GWCTL_EXIT_OK;
    if (client_call(ch, "/grpc.health.v1.Health/Check", &req.base,
                    &grpc__health__v1__health_check_response__descriptor, &resp, conn.timeout_ms,
                    &st) != GRPC_STATUS_OK) {
        exit_code = gwctl_report_failure(conn.target, &st);
        if (conn.json)
            gwctl_print_json_error(client_status_name(st.code), st.reason, st.details, exit_code,
                                   NULL);
    } else {
        const Grpc__Health__V1__HealthCheckResponse *r =
            (const Grpc__Health__V1__HealthCheckResponse *)resp;
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
            &grpc__health__v1__health_check_response__serving_status__descriptor, (int)r->status);
        const char *name = v != NULL ? v->name : "UNKNOWN";
        if (conn.json) {
            json_t *doc = json_object();
            json_object_set_new(doc, "target", gwctl_json_text(conn.target));
            json_object_set_new(doc, "service", gwctl_json_text(service));
            json_object_set_new(doc, "status", json_string(name));
            gwctl_json_emit(doc);
        } else
            printf("%s %s\n", conn.target, name);
        exit_code = r->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                        ? GWCTL_EXIT_OK
                        : GWCTL_EXIT_FINDING;
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    gwctl_disconnect(ch);
    return exit_code;
}
