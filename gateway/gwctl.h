/* gwctl.h - the commands of gwctl and what they share (gwctl_*.c). */
#ifndef GATEWAY_GWCTL_H
#define GATEWAY_GWCTL_H

#include "gateway/client.h"

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#define GWCTL_EXIT_OK 0
#define GWCTL_EXIT_FAILED 1
#define GWCTL_EXIT_USAGE 2
#define GWCTL_EXIT_UNREACHABLE 3
#define GWCTL_OPTS_MAX 24

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
} gwctl_command_t;

extern const gwctl_command_t gwctl_commands[];
extern const size_t gwctl_commands_n;

/* Connection options shared by every command that calls a gateway. Each
 * defaults to an environment variable: GWCTL_TARGET, GWCTL_CERT, GWCTL_KEY,
 * GWCTL_CA. */
typedef struct {
    const char *target; /* HOST:PORT */
    const char *cert;
    const char *key;
    const char *ca;
    long timeout_ms;
    int json;
} gwctl_conn_t;

/* A command's own option: a string value (has_arg) or a flag. */
typedef struct {
    const char *name;
    int has_arg;
    const char **value; /* has_arg */
    int *flag;          /* !has_arg */
} gwctl_opt_t;

#define GWCTL_CONN_HELP                                                                    \
    "  --target HOST:PORT  the gateway (or $GWCTL_TARGET)\n"                               \
    "  --cert, --key FILE  client certificate and key, PEM (or $GWCTL_CERT, $GWCTL_KEY)\n" \
    "  --ca FILE           CA that signed the gateway's certificate (or $GWCTL_CA)\n"      \
    "  --timeout-ms N      give up after N ms (default 10000)\n"                           \
    "  --json              print the answer as JSON\n"

/* Parses argv with opts (NULL-name terminated) plus the connection options
 * when conn is not NULL. Returns 0, 1 after printing usage for --help, or -1
 * after printing the problem and usage on stderr. */
int gwctl_parse(int argc, char **argv, const gwctl_opt_t *opts, gwctl_conn_t *conn,
                const char *usage);

/* Opens a channel from conn; NULL with a message on stderr. gRPC is
 * initialized by main for the whole run. */
grpc_channel *gwctl_connect(const gwctl_conn_t *conn);
/* Destroys the channel (NULL is ignored). */
void gwctl_disconnect(grpc_channel *ch);

/* One call; on failure prints it and returns the exit code, else 0 with
 * *resp set (caller frees with protobuf_c_message_free_unpacked). */
int gwctl_call(grpc_channel *ch, const gwctl_conn_t *conn, const char *path,
               const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
               ProtobufCMessage **resp);

/* Connects, calls /carbon.v1.SERVICE/METHOD and answers for the command:
 * without --json print(resp) prints the answer for people and returns the
 * exit code; with --json the answer is printed as JSON and the exit code is
 * verdict(resp), or 0 when verdict is NULL. Failures as gwctl_call. */
int gwctl_service_call(const gwctl_conn_t *conn, const char *service, const char *method,
                       const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                       int (*print)(const ProtobufCMessage *resp),
                       int (*verdict)(const ProtobufCMessage *resp));

/* Prints msg as indented JSON on stdout. */
void gwctl_print_json(const ProtobufCMessage *msg);

/* Maps a failed call's status to an exit code and prints it on stderr. */
int gwctl_report_failure(const char *what, const client_status_t *st);

/* 32 random lowercase hex digits (a request id) into out[33]. */
void gwctl_random_id(char out[33]);

/* Parses an unsigned decimal with at most 3 fraction digits ("12.5") into
 * thousandths, exactly. Returns 0 or -1. */
int gwctl_parse_milli(const char *s, uint64_t *out);
/* Parses an unsigned integer; returns 0 or -1. */
int gwctl_parse_u64(const char *s, uint64_t *out);

int gwctl_health(int argc, char **argv);
int gwctl_catalog(int argc, char **argv);
int gwctl_open_account(int argc, char **argv);
int gwctl_issue(int argc, char **argv);
int gwctl_quote(int argc, char **argv);
int gwctl_transfer(int argc, char **argv);
int gwctl_get_transfer(int argc, char **argv);
int gwctl_transfers(int argc, char **argv);
int gwctl_account(int argc, char **argv);
int gwctl_retire(int argc, char **argv);
int gwctl_check(int argc, char **argv);
int gwctl_batches(int argc, char **argv);
int gwctl_reconcile(int argc, char **argv);
int gwctl_indoubt(int argc, char **argv);
int gwctl_resolve(int argc, char **argv);
int gwctl_trace(int argc, char **argv);
int gwctl_audit(int argc, char **argv);

#endif
