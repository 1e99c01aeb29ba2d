/* gwctl_commands.c - gwctl's command table and what commands share. */
#include "gateway/gwctl.h"

#include "gateway/pbjson.h"
#include "gateway/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grpc/grpc.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GWCTL_MESSAGE_BYTES_MAX (16u << 20)
#define GWCTL_TIMEOUT_MS_DEFAULT 10000

const gwctl_command_t gwctl_commands[] = {
    {"health", "ask a gateway whether it is serving", gwctl_health},
    {"catalog", "show a region's methodology catalog and its digest (local files)", gwctl_catalog},
    {"open-account", "registry: open an account in the gateway's region", gwctl_open_account},
    {"issue", "registry: issue credits from a measured activity", gwctl_issue},
    {"quote", "registry: what a transfer to another region would credit", gwctl_quote},
    {"transfer", "registry: move credits to an account in another region", gwctl_transfer},
    {"get-transfer", "registry: one transfer and its outcome", gwctl_get_transfer},
    {"transfers", "registry: departures and arrivals after a cursor", gwctl_transfers},
    {"account", "registry: balances and blocks of an account", gwctl_account},
    {"retire", "registry: retire credits for a purpose and a beneficiary", gwctl_retire},
    {"batches", "operator: settlement batches exchanged with a peer", gwctl_batches},
    {"reconcile", "operator: reconcile the batches sent to a peer with its records", gwctl_reconcile},
    {"indoubt", "operator: legs waiting for a decision", gwctl_indoubt},
    {"resolve", "operator: force the decision of a leg its coordinator cannot answer for", gwctl_resolve},
    {"trace", "auditor: follow a serial or a transfer across every region, verified", gwctl_trace},
    {"audit", "auditor: verify a region's whole audit chain and its checkpoints", gwctl_audit},
    {"check", "auditor: verify conservation and atomicity over the regions' stores", gwctl_check},
};
const size_t gwctl_commands_n = sizeof gwctl_commands / sizeof gwctl_commands[0];

int gwctl_parse(int argc, char **argv, const gwctl_opt_t *opts, gwctl_conn_t *conn,
                const char *usage) {
    struct option lopts[GWCTL_OPTS_MAX + 8];
    size_t n = 0;
    for (; opts != NULL && opts[n].name != NULL; n++) {
        if (n >= GWCTL_OPTS_MAX) abort();
        lopts[n] = (struct option){opts[n].name, opts[n].has_arg ? required_argument : no_argument,
                                   NULL, (int)(1000 + n)};
    }
    size_t k = n;
    static const char *const conn_names[] = {"target", "cert", "key", "ca", "timeout-ms", "json"};
    if (conn != NULL) {
        for (int i = 0; i < 6; i++)
            lopts[k++] = (struct option){conn_names[i], i == 5 ? no_argument : required_argument,
                                         NULL, 2000 + i};
        conn->target = getenv("GWCTL_TARGET");
        conn->cert = getenv("GWCTL_CERT");
        conn->key = getenv("GWCTL_KEY");
        conn->ca = getenv("GWCTL_CA");
        conn->timeout_ms = GWCTL_TIMEOUT_MS_DEFAULT;
        conn->json = 0;
    }
    lopts[k++] = (struct option){"help", no_argument, NULL, 'h'};
    lopts[k] = (struct option){NULL, 0, NULL, 0};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+h", lopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return 1;
        }
        if (c >= 1000 && c < 1000 + (int)n) {
            const gwctl_opt_t *o = &opts[c - 1000];
            if (o->has_arg)
                *o->value = optarg;
            else
                *o->flag = 1;
        } else if (c >= 2000 && c < 2006 && conn != NULL) {
            switch (c - 2000) {
            case 0: conn->target = optarg; break;
            case 1: conn->cert = optarg; break;
            case 2: conn->key = optarg; break;
            case 3: conn->ca = optarg; break;
            case 4: {
                char *end;
                errno = 0;
                conn->timeout_ms = strtol(optarg, &end, 10);
                if (*end != '\0' || errno || conn->timeout_ms < 1 || conn->timeout_ms > 3600000) {
                    fprintf(stderr, "gwctl %s: --timeout-ms must be 1..3600000\n", argv[0]);
                    return -1;
                }
                break;
            }
            case 5: conn->json = 1; break;
            }
        } else {
            fprintf(stderr, "gwctl %s: unknown or incomplete option '%s'\n\n", argv[0],
                    argv[optind - 1]);
            fputs(usage, stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gwctl %s: unexpected argument '%s'\n\n", argv[0], argv[optind]);
        fputs(usage, stderr);
        return -1;
    }
    if (conn != NULL &&
        (conn->target == NULL || conn->cert == NULL || conn->key == NULL || conn->ca == NULL)) {
        fprintf(stderr, "gwctl %s: --target, --cert, --key and --ca are required (or GWCTL_TARGET, "
                        "GWCTL_CERT, GWCTL_KEY, GWCTL_CA)\n\n", argv[0]);
        fputs(usage, stderr);
        return -1;
    }
    return 0;
}

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

void gwctl_disconnect(grpc_channel *ch) {
    if (ch != NULL) grpc_channel_destroy(ch);
}

int gwctl_report_failure(const char *what, const client_status_t *st) {
    fprintf(stderr, "gwctl: %s: %s: %s\n", what, client_status_name(st->code), st->details);
    if (st->code == GRPC_STATUS_UNAVAILABLE || st->code == GRPC_STATUS_DEADLINE_EXCEEDED)
        return GWCTL_EXIT_UNREACHABLE;
    return GWCTL_EXIT_FAILED;
}

int gwctl_call(grpc_channel *ch, const gwctl_conn_t *conn, const char *path,
               const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
               ProtobufCMessage **resp) {
    client_status_t st;
    if (client_call(ch, path, req, resp_desc, resp, conn->timeout_ms, &st) != GRPC_STATUS_OK)
        return gwctl_report_failure(conn->target, &st);
    return 0;
}

int gwctl_service_call(const gwctl_conn_t *conn, const char *service, const char *method,
                       const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                       int (*print)(const ProtobufCMessage *resp),
                       int (*verdict)(const ProtobufCMessage *resp)) {
    grpc_channel *ch = gwctl_connect(conn);
    if (ch == NULL) return GWCTL_EXIT_USAGE;
    char path[96];
    snprintf(path, sizeof path, "/carbon.v1.%s/%s", service, method);
    ProtobufCMessage *resp = NULL;
    int exit_code = gwctl_call(ch, conn, path, req, resp_desc, &resp);
    if (exit_code == 0) {
        if (conn->json) {
            gwctl_print_json(resp);
            exit_code = verdict != NULL ? verdict(resp) : GWCTL_EXIT_OK;
        } else {
            exit_code = print(resp);
        }
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    gwctl_disconnect(ch);
    return exit_code;
}

void gwctl_print_json(const ProtobufCMessage *msg) {
    json_t *j = pbjson_message(msg);
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text != NULL) printf("%s\n", text);
    free(text);
    json_decref(j);
}

void gwctl_random_id(char out[33]) {
    unsigned char raw[16] = {0};
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0 || read(fd, raw, sizeof raw) != (ssize_t)sizeof raw) {
        fprintf(stderr, "gwctl: cannot read /dev/urandom\n");
        exit(GWCTL_EXIT_FAILED);
    }
    close(fd);
    for (int i = 0; i < 16; i++) sprintf(out + 2 * i, "%02x", raw[i]);
}

int gwctl_parse_u64(const char *s, uint64_t *out) {
    if (s == NULL || *s == '\0') return -1;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int gwctl_parse_milli(const char *s, uint64_t *out) {
    if (s == NULL || *s == '\0' || *s == '.') return -1;
    const char *dot = strchr(s, '.');
    char whole[24];
    size_t wl = dot ? (size_t)(dot - s) : strlen(s);
    if (wl == 0 || wl >= sizeof whole) return -1;
    memcpy(whole, s, wl);
    whole[wl] = '\0';
    uint64_t w;
    if (gwctl_parse_u64(whole, &w) != 0 || w > UINT64_MAX / 1000) return -1;
    uint64_t frac = 0;
    if (dot != NULL) {
        size_t fl = strlen(dot + 1);
        if (fl == 0 || fl > 3) return -1;
        for (size_t i = 0; i < 3; i++) {
            char c = i < fl ? dot[1 + i] : '0';
            if (c < '0' || c > '9') return -1;
            frac = frac * 10 + (uint64_t)(c - '0');
        }
    }
    if (w * 1000 > UINT64_MAX - frac) return -1;
    *out = w * 1000 + frac;
    return 0;
}
