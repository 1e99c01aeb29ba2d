/* gwctl_commands.c - gwctl's command table and shared connection code. */
#include "gateway/gwctl.h"

#include "gateway/tls.h"
#include "grpc/health/v1/health.pb-c.h"

#include <getopt.h>
#include <grpc/grpc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GWCTL_MESSAGE_BYTES_MAX (16u << 20)

grpc_channel *gwctl_connect(const gwctl_conn_t *conn) {
    char err[512] = "";
    grpc_channel_credentials *creds =
        tls_channel_credentials(conn->cert, conn->key, conn->ca, err, sizeof err);
    if (creds == NULL) {
        fprintf(stderr, "gwctl: %s\n", err);
        return NULL;
    }
    grpc_channel *ch = client_channel(conn->target, creds, GWCTL_MESSAGE_BYTES_MAX);
    grpc_channel_credentials_release(creds);
    return ch;
}

int gwctl_report_failure(const char *what, const client_status_t *st) {
    fprintf(stderr, "gwctl: %s: %s: %s\n", what, client_status_name(st->code), st->details);
    if (st->code == GRPC_STATUS_UNAVAILABLE || st->code == GRPC_STATUS_DEADLINE_EXCEEDED)
        return GWCTL_EXIT_UNREACHABLE;
    return GWCTL_EXIT_FAILED;
}

/* ---- health ------------------------------------------------------------- */

static void gwctl_health_usage(FILE *out) {
    fprintf(out,
            "usage: gwctl health --target HOST:PORT --cert FILE --key FILE --ca FILE\n"
            "                    [--service NAME] [--timeout-ms N] [--json]\n"
            "\n"
            "Asks a gateway's grpc.health.v1.Health/Check and prints its serving status\n"
            "(SERVING, NOT_SERVING, ...). Any certificate the gateway trusts may ask.\n"
            "\n"
            "  --target HOST:PORT  the gateway\n"
            "  --cert, --key FILE  client certificate and key (PEM)\n"
            "  --ca FILE           CA certificate that signed the gateway's certificate\n"
            "  --service NAME      a service name, e.g. carbon.v1.Registry (default: the server)\n"
            "  --timeout-ms N      give up after N ms (default 5000)\n"
            "  --json              print {\"target\":..., \"status\":...}\n"
            "\n"
            "Exit codes: 0 SERVING, 1 other status or error answer, 2 bad usage,\n"
            "3 unreachable (also when the TLS handshake is refused).\n");
}

/* Parses the shared connection options; returns -1 on bad usage, 1 on --help. */
static int gwctl_parse_conn(int argc, char **argv, gwctl_conn_t *conn, const char **service,
                            void (*usage)(FILE *)) {
    static const struct option opts[] = {
        {"target", required_argument, NULL, 't'}, {"cert", required_argument, NULL, 'c'},
        {"key", required_argument, NULL, 'k'},    {"ca", required_argument, NULL, 'a'},
        {"timeout-ms", required_argument, NULL, 'T'}, {"service", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},         {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    conn->timeout_ms = 5000;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 't': conn->target = optarg; break;
        case 'c': conn->cert = optarg; break;
        case 'k': conn->key = optarg; break;
        case 'a': conn->ca = optarg; break;
        case 's': *service = optarg; break;
        case 'j': conn->json = 1; break;
        case 'T': {
            char *end;
            conn->timeout_ms = strtol(optarg, &end, 10);
            if (*end != '\0' || conn->timeout_ms < 1 || conn->timeout_ms > 3600000) {
                fprintf(stderr, "gwctl: --timeout-ms must be 1..3600000\n");
                return -1;
            }
            break;
        }
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gwctl: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (conn->target == NULL || conn->cert == NULL || conn->key == NULL || conn->ca == NULL) {
        fprintf(stderr, "gwctl: --target, --cert, --key and --ca are required\n");
        usage(stderr);
        return -1;
    }
    return 0;
}

static int gwctl_health(int argc, char **argv) {
    gwctl_conn_t conn = {0};
    const char *service = "";
    int rc = gwctl_parse_conn(argc, argv, &conn, &service, gwctl_health_usage);
    if (rc != 0) return rc > 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_USAGE;
    grpc_init();
    grpc_channel *ch = gwctl_connect(&conn);
    if (ch == NULL) {
        grpc_shutdown();
        return GWCTL_EXIT_USAGE;
    }
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)service;
    ProtobufCMessage *resp = NULL;
    client_status_t st;
    int exit_code;
    if (client_call(ch, "/grpc.health.v1.Health/Check", &req.base,
                    &grpc__health__v1__health_check_response__descriptor, &resp, conn.timeout_ms,
                    &st) != GRPC_STATUS_OK) {
        exit_code = gwctl_report_failure(conn.target, &st);
    } else {
        const Grpc__Health__V1__HealthCheckResponse *r =
            (const Grpc__Health__V1__HealthCheckResponse *)resp;
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
            &grpc__health__v1__health_check_response__serving_status__descriptor, (int)r->status);
        const char *name = v != NULL ? v->name : "UNKNOWN";
        if (conn.json)
            printf("{\"target\":\"%s\",\"status\":\"%s\"}\n", conn.target, name);
        else
            printf("%s %s\n", conn.target, name);
        exit_code = r->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                        ? GWCTL_EXIT_OK
                        : GWCTL_EXIT_FAILED;
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    grpc_channel_destroy(ch);
    grpc_shutdown();
    return exit_code;
}

const gwctl_command_t gwctl_commands[] = {
    {"health", "ask a gateway whether it is serving", gwctl_health},
};
const size_t gwctl_commands_n = sizeof gwctl_commands / sizeof gwctl_commands[0];
