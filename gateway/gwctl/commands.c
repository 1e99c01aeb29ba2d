/* commands.c - gwctl's command table and what commands share. */
#include "gateway/gwctl/gwctl.h"
#include "common/carbon_assert.h"
#include "common/hex.h"

#include "gateway/rpc/tls_client.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grpc/grpc.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GWCTL_PROBE_TIMEOUT_MS 2000 /* TCP connect after a failed handshake */

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
    {"indoubt", "operator: legs waiting for a decision, forced ones, HEURISTIC_MIXED ones", gwctl_indoubt},
    {"resolve", "operator: force the decision of a leg its coordinator cannot answer for, compensate a HEURISTIC_MIXED one, or close an ORIGIN_DENIED one", gwctl_resolve},
    {"obligation", "operator: register or show a key emitter's obligation for a compliance year (rules on use)", gwctl_obligation},
    {"forks", "operator: forks of the peers' audit logs witnessed here (the alarm); ack them", gwctl_forks},
    {"console", "operator, auditor: a web console on loopback, calling the gateways as you", gwctl_console},
    {"trace", "auditor: follow a serial or a transfer across every region, verified", gwctl_trace},
    {"audit", "auditor: verify a region's audit chain and checkpoints; check the logs against the protocol model", gwctl_audit},
    {"check", "auditor: verify conservation and atomicity over the regions' stores", gwctl_check},
    {"report", "auditor: the yearly report of every region, cross-checked between them", gwctl_report},
};
const size_t gwctl_commands_n = sizeof gwctl_commands / sizeof gwctl_commands[0];

/* --timeout-ms ARG into conn. 0, or -1 after saying what is wrong. */
static int gwctl_parse_timeout(const char *cmd, const char *arg, gwctl_conn_t *conn) {
    char *end;
    errno = 0;
    long ms = strtol(arg, &end, 10);
    if (*end != '\0' || errno || ms < 1 || ms > GWCTL_TIMEOUT_MS_MAX) {
        fprintf(stderr, "gwctl %s: --timeout-ms must be 1..%ld\n", cmd, GWCTL_TIMEOUT_MS_MAX);
        return -1;
    }
    conn->timeout_ms = ms;
    conn->timeout_given = 1;
    return 0;
}

#define GWCTL_OPT_OWN 1000  /* getopt value of opts[i]: GWCTL_OPT_OWN + i */
#define GWCTL_OPT_CONN 2000 /* getopt value of conn_names[i]: GWCTL_OPT_CONN + i */

static const char *const conn_names[] = {"target", "cert", "key", "ca", "timeout-ms", "json"};
#define GWCTL_CONN_OPTS (sizeof conn_names / sizeof conn_names[0])

/* The getopt_long table of opts (NULL-name terminated, at most
 * GWCTL_OPTS_MAX), the connection options if with_conn, and --help, into
 * lopts[GWCTL_OPTS_MAX + GWCTL_CONN_OPTS + 2]. Returns the number of opts. */
static size_t gwctl_long_options(const gwctl_opt_t *opts, int with_conn, struct option *lopts) {
    size_t n = 0;
    for (; opts != NULL && opts[n].name != NULL; n++) {
        CARBON_ASSERT(n < GWCTL_OPTS_MAX);
        lopts[n] = (struct option){opts[n].name, opts[n].has_arg ? required_argument : no_argument,
                                   NULL, (int)(GWCTL_OPT_OWN + n)};
    }
    size_t k = n;
    for (size_t i = 0; with_conn && i < GWCTL_CONN_OPTS; i++)
        lopts[k++] = (struct option){conn_names[i], i == 5 ? no_argument : required_argument,
                                     NULL, (int)(GWCTL_OPT_CONN + i)};
    lopts[k++] = (struct option){"help", no_argument, NULL, 'h'};
    lopts[k] = (struct option){NULL, 0, NULL, 0};
    return n;
}

/* Applies connection option i (an index of conn_names) with value arg to
 * conn. 0, or -1 after saying what is wrong. */
static int gwctl_conn_option(const char *cmd, size_t i, const char *arg, gwctl_conn_t *conn) {
    CARBON_ASSERT(i < GWCTL_CONN_OPTS);
    switch (i) {
    case 0: conn->target = arg; break;
    case 1: conn->cert = arg; break;
    case 2: conn->key = arg; break;
    case 3: conn->ca = arg; break;
    case 4: return gwctl_parse_timeout(cmd, arg, conn);
    default: conn->json = 1; break;
    }
    return 0;
}

/* After the options: no operand left, and a complete connection. 0, or -1
 * after printing the problem and usage on stderr. */
static int gwctl_parse_rest(int argc, char **argv, const gwctl_conn_t *conn, const char *usage) {
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

int gwctl_parse(int argc, char **argv, const gwctl_opt_t *opts, gwctl_conn_t *conn,
                const char *usage) {
    CARBON_ASSERT(argc >= 1 && argv != NULL && argv[0] != NULL && usage != NULL);
    struct option lopts[GWCTL_OPTS_MAX + GWCTL_CONN_OPTS + 2];
    size_t n = gwctl_long_options(opts, conn != NULL, lopts);
    if (conn != NULL)
        *conn = (gwctl_conn_t){.target = getenv("GWCTL_TARGET"), .cert = getenv("GWCTL_CERT"),
                               .key = getenv("GWCTL_KEY"), .ca = getenv("GWCTL_CA"),
                               .timeout_ms = GWCTL_TIMEOUT_MS_DEFAULT};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+h", lopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return 1;
        }
        if (c >= GWCTL_OPT_OWN && c < GWCTL_OPT_OWN + (int)n) {
            const gwctl_opt_t *o = &opts[c - GWCTL_OPT_OWN];
            if (o->has_arg) *o->value = optarg;
            else *o->flag = 1;
        } else if (conn != NULL && c >= GWCTL_OPT_CONN && c < GWCTL_OPT_CONN + (int)GWCTL_CONN_OPTS) {
            if (gwctl_conn_option(argv[0], (size_t)(c - GWCTL_OPT_CONN), optarg, conn) != 0) return -1;
        } else {
            fprintf(stderr, "gwctl %s: unknown or incomplete option '%s'\n\n", argv[0],
                    argv[optind - 1]);
            fputs(usage, stderr);
            return -1;
        }
    }
    return gwctl_parse_rest(argc, argv, conn, usage);
}

grpc_channel *gwctl_connect_err(const gwctl_conn_t *conn, char *err, size_t errlen) {
    CARBON_ASSERT(conn != NULL && err != NULL && errlen > 0);
    err[0] = '\0';
    if (gwctl_check_credentials(conn->cert, conn->key, conn->ca, err, errlen) != 0) return NULL;
    grpc_channel_credentials *creds =
        tls_channel_credentials(conn->cert, conn->key, conn->ca, err, errlen);
    if (creds == NULL) return NULL;
    grpc_channel *ch = client_channel(conn->target, creds, CLIENT_OPERATOR_ANSWER_BYTES_MAX);
    grpc_channel_credentials_release(creds);
    return ch;
}

grpc_channel *gwctl_connect(const gwctl_conn_t *conn) {
    CARBON_ASSERT(conn != NULL);
    char err[768];
    grpc_channel *ch = gwctl_connect_err(conn, err, sizeof err);
    if (ch == NULL) fprintf(stderr, "gwctl: bad local credentials: %s\n", err);
    return ch;
}

void gwctl_disconnect(grpc_channel *ch) {
    if (ch != NULL) grpc_channel_destroy(ch);
}

int gwctl_report_failure(const char *target, const client_status_t *st) {
    CARBON_ASSERT(target != NULL && st != NULL && st->code != GRPC_STATUS_OK);
    fprintf(stderr, "gwctl: %s: %s: %s\n", target, client_status_name(st->code), st->details);
    if (st->code == GRPC_STATUS_DEADLINE_EXCEEDED) return GWCTL_EXIT_UNREACHABLE;
    if (st->code == GRPC_STATUS_DATA_LOSS) return GWCTL_EXIT_FINDING; /* the gateway's own data fails */
    if (st->code != GRPC_STATUS_UNAVAILABLE) return GWCTL_EXIT_REFUSED;
    if (st->reason[0] != '\0') return GWCTL_EXIT_UNREACHABLE; /* the gateway answered it */
    int listens = gwctl_target_listens(target, GWCTL_PROBE_TIMEOUT_MS);
    if (listens == 1) {
        fprintf(stderr,
                "gwctl: %s accepts TCP connections but the TLS handshake failed: the gateway\n"
                "  refused our certificate, or we refused its. Likely causes: our certificate\n"
                "  is revoked, or from a CA the gateway does not trust; the gateway's\n"
                "  certificate is not from --ca or does not name this address; or this is not\n"
                "  a gateway. (A certificate of the wrong role or region is refused with\n"
                "  PERMISSION_DENIED instead.)\n",
                target);
        return GWCTL_EXIT_REFUSED;
    }
    fprintf(stderr, "gwctl: %s: %s\n", target,
            listens == 0 ? "nothing accepts connections there: is the gateway running, and is "
                           "this its address?"
                         : "this address cannot be resolved");
    return GWCTL_EXIT_UNREACHABLE;
}

int gwctl_call(grpc_channel *ch, const gwctl_conn_t *conn, const char *path,
               const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
               ProtobufCMessage **resp) {
    CARBON_ASSERT(ch != NULL && conn != NULL && path != NULL && req != NULL && resp != NULL);
    client_status_t st;
    if (client_call(ch, path, req, resp_desc, resp, conn->timeout_ms, &st) != GRPC_STATUS_OK)
        return gwctl_report_failure(conn->target, &st);
    return 0;
}

/* {"ID_KEY": id} or NULL. */
static json_t *gwctl_reply_extra(const gwctl_reply_t *reply) {
    if (reply->id_key == NULL || reply->id == NULL) return NULL;
    json_t *extra = json_object();
    json_object_set_new(extra, reply->id_key, json_string(reply->id));
    return extra;
}

/* After a call that got no answer: the same id is safe to send again. */
static void gwctl_retry_hint(const gwctl_reply_t *reply, grpc_status_code code) {
    if (reply->id == NULL) return;
    if (code != GRPC_STATUS_UNAVAILABLE && code != GRPC_STATUS_DEADLINE_EXCEEDED) return;
    fprintf(stderr, "gwctl: repeating the same command with --id %s is safe: the gateway "
                    "applies one id at most once\n", reply->id);
}

int gwctl_service_call(const gwctl_conn_t *conn, const char *service, const char *method,
                       const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                       const gwctl_reply_t *reply, grpc_status_code *code_out) {
    CARBON_ASSERT(conn != NULL && reply != NULL && reply->print != NULL);
    if (code_out != NULL) *code_out = GRPC_STATUS_UNKNOWN;
    char err[768];
    grpc_channel *ch = gwctl_connect_err(conn, err, sizeof err);
    if (ch == NULL) {
        fprintf(stderr, "gwctl: bad local credentials: %s\n", err);
        if (conn->json)
            gwctl_print_json_error("BAD_LOCAL_CREDENTIALS", "", err, GWCTL_EXIT_CREDENTIALS,
                                   gwctl_reply_extra(reply));
        return GWCTL_EXIT_CREDENTIALS;
    }
    char path[96];
    snprintf(path, sizeof path, "/carbon.v1.%s/%s", service, method);
    ProtobufCMessage *resp = NULL;
    client_status_t st;
    int exit_code = GWCTL_EXIT_OK;
    if (client_call(ch, path, req, resp_desc, &resp, conn->timeout_ms, &st) != GRPC_STATUS_OK) {
        exit_code = gwctl_report_failure(conn->target, &st);
        gwctl_retry_hint(reply, st.code);
        if (conn->json)
            gwctl_print_json_error(client_status_name(st.code), st.reason, st.details, exit_code,
                                   gwctl_reply_extra(reply));
    } else if (conn->json) {
        gwctl_print_json(resp, gwctl_reply_extra(reply));
        exit_code = reply->verdict != NULL ? reply->verdict(resp) : GWCTL_EXIT_OK;
    } else {
        exit_code = reply->print(resp);
    }
    if (code_out != NULL) *code_out = st.code;
    if (resp != NULL) protobuf_c_message_free_unpacked(resp, NULL);
    gwctl_disconnect(ch);
    return exit_code;
}

void gwctl_random_id(char out[33]) {
    unsigned char raw[16] = {0};
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0 || read(fd, raw, sizeof raw) != (ssize_t)sizeof raw) {
        fprintf(stderr, "gwctl: cannot read /dev/urandom\n");
        exit(GWCTL_EXIT_USAGE);
    }
    close(fd);
    int hex_len = hex_encode(raw, sizeof raw, out, 33);
    CARBON_ASSERT(hex_len == 32);
}

int gwctl_parse_u64(const char *s, uint64_t *out) {
    CARBON_ASSERT(out != NULL);
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
    CARBON_ASSERT(out != NULL);
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
