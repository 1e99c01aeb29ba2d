/* gwctl.h - the commands of gwctl and what they share (the files of gateway/gwctl/). */
#ifndef GATEWAY_GWCTL_H
#define GATEWAY_GWCTL_H

#include "gateway/gwctl/output.h"
#include "gateway/rpc/client.h"

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes, the same for every command (README "gwctl exit codes"). */
#define GWCTL_EXIT_OK 0          /* done */
#define GWCTL_EXIT_FINDING 1     /* a finding: discrepancy, failed verification, ABORTED */
#define GWCTL_EXIT_FAILED GWCTL_EXIT_FINDING /* old name, until every command uses FINDING */
#define GWCTL_EXIT_USAGE 2       /* bad usage */
#define GWCTL_EXIT_UNREACHABLE 3 /* no answer: UNAVAILABLE, DEADLINE_EXCEEDED, no connection */
#define GWCTL_EXIT_REFUSED 4     /* the server refused: any other gRPC status, or the handshake */
#define GWCTL_EXIT_CREDENTIALS 5 /* our certificate, key or CA is missing, unreadable or invalid */
#define GWCTL_OPTS_MAX 24

/* Deadlines. A Transfer answers once its leg is decided, at the latest when
 * the leg expires (gatewayd's leg_expiry_ms: 30 s by default, at most
 * CONFIG_LEG_EXPIRY_MS_MAX, a day) plus a peer timeout and the store write;
 * so `transfer` waits that long plus a margin by default and is never cut
 * short by gwctl while the gateway works. Every other call answers without
 * waiting for a peer and keeps a short default. */
#define GWCTL_TIMEOUT_MS_DEFAULT 10000
#define GWCTL_TRANSFER_MARGIN_MS 60000
#define GWCTL_TRANSFER_TIMEOUT_MS_DEFAULT (86400000L + GWCTL_TRANSFER_MARGIN_MS)
#define GWCTL_TIMEOUT_MS_MAX (2L * 86400000L)

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
    int timeout_given; /* --timeout-ms was on the command line */
    int json;
} gwctl_conn_t;

/* A command's own option: a string value (has_arg) or a flag. */
typedef struct {
    const char *name;
    int has_arg;
    const char **value; /* has_arg */
    int *flag;          /* !has_arg */
} gwctl_opt_t;

#define GWCTL_CONN_HELP_TLS                                                                \
    "  --target HOST:PORT  the gateway (or $GWCTL_TARGET)\n"                               \
    "  --cert, --key FILE  client certificate and key, PEM (or $GWCTL_CERT, $GWCTL_KEY)\n" \
    "  --ca FILE           CA that signed the gateway's certificate (or $GWCTL_CA)\n"
#define GWCTL_JSON_HELP                                                                   \
    "  --json              print the answer as one JSON document; amounts and 64-bit\n"   \
    "                      numbers as strings of digits (grams)\n"
#define GWCTL_CONN_HELP                                                                    \
    GWCTL_CONN_HELP_TLS                                                                    \
    "  --timeout-ms N      give up after N ms (default 10000)\n" GWCTL_JSON_HELP

/* The exit codes every command shares, for its --help. */
#define GWCTL_EXIT_HELP                                                                   \
    "Exit codes: 0 done, 1 a finding (e.g. ABORTED), 2 bad usage, 3 unreachable (no\n"   \
    "answer: UNAVAILABLE, DEADLINE_EXCEEDED, nothing listens), 4 refused by the gateway\n" \
    "(an error status, or our certificate refused in the handshake), 5 bad local\n"       \
    "credentials (certificate, key or CA missing, unreadable, expired, not matching,\n"  \
    "or not from that CA).\n"

/* Parses argv (argv[0] the command's name) with opts (NULL-name terminated,
 * at most GWCTL_OPTS_MAX; may be NULL) plus the connection options when conn
 * is not NULL (then filled, defaults from the environment). Accepts no
 * operand. Returns 0, 1 after printing usage for --help, or -1 after
 * printing the problem and usage on stderr. */
int gwctl_parse(int argc, char **argv, const gwctl_opt_t *opts, gwctl_conn_t *conn,
                const char *usage);

/* Checks conn's certificate, key and CA (gwctl_check_credentials), then
 * opens a channel. NULL with the problem on stderr: the command exits
 * GWCTL_EXIT_CREDENTIALS. gRPC is initialized by main for the whole run. */
grpc_channel *gwctl_connect(const gwctl_conn_t *conn);
/* Same, with the problem in err (for --json) instead of on stderr. */
grpc_channel *gwctl_connect_err(const gwctl_conn_t *conn, char *err, size_t errlen);

/* Checks gwctl's own credentials before it dials: the three files exist and
 * parse (PEM), the certificate is valid now (not expired, not before its
 * start), the key belongs to the certificate, and the certificate (with the
 * rest of its file as intermediates) verifies against the CA file. 0, or -1
 * with one sentence "PATH: what is wrong" in err. Revocation and the role
 * are only known to the gateway. */
int gwctl_check_credentials(const char *cert_path, const char *key_path, const char *ca_path,
                            char *err, size_t errlen);

/* 1 if a TCP connection to target ("HOST:PORT") completes within timeout_ms,
 * 0 if not, -1 if target cannot be resolved. Tells a refused TLS handshake
 * (something listens) from a gateway that is down. */
int gwctl_target_listens(const char *target, int timeout_ms);
/* Destroys the channel (NULL is ignored). */
void gwctl_disconnect(grpc_channel *ch);

/* One call; on failure prints it and returns the exit code, else 0 with
 * *resp set (caller frees with protobuf_c_message_free_unpacked). */
int gwctl_call(grpc_channel *ch, const gwctl_conn_t *conn, const char *path,
               const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
               ProtobufCMessage **resp);

/* How a command answers (gwctl_service_call). */
typedef struct {
    /* Prints the answer for people; returns the exit code. */
    int (*print)(const ProtobufCMessage *resp);
    /* The exit code of an answer under --json (NULL: GWCTL_EXIT_OK). */
    int (*verdict)(const ProtobufCMessage *resp);
    /* An idempotency key the request carries (NULL: none): its JSON name
     * (e.g. "issuance_id"), added to the --json document, success or not;
     * after a call that got no answer, a hint says the same --id is safe. */
    const char *id_key;
    const char *id;
} gwctl_reply_t;

/* Connects, calls /carbon.v1.SERVICE/METHOD and answers for the command:
 * without --json reply->print(resp) prints the answer for people and returns
 * the exit code; with --json the answer is printed as JSON and the exit code
 * is reply->verdict(resp). A failure is printed on stderr and, with --json,
 * as {"error": ...} on stdout; its exit code as gwctl_report_failure, or
 * GWCTL_EXIT_CREDENTIALS. *code_out (may be NULL) gets the call's status. */
int gwctl_service_call(const gwctl_conn_t *conn, const char *service, const char *method,
                       const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                       const gwctl_reply_t *reply, grpc_status_code *code_out);

/* Prints a failed call to target ("HOST:PORT") on stderr and returns its exit
 * code: UNAVAILABLE and DEADLINE_EXCEEDED give GWCTL_EXIT_UNREACHABLE, any
 * other status GWCTL_EXIT_REFUSED. An UNAVAILABLE without a gateway reason
 * while a TCP connection to target succeeds is a refused TLS handshake: it
 * says so, with the likely causes, and gives GWCTL_EXIT_REFUSED. */
int gwctl_report_failure(const char *target, const client_status_t *st);

/* 32 random lowercase hex digits (a request id) into out[33]. */
void gwctl_random_id(char out[33]);

/* Parses an unsigned decimal with at most 3 fraction digits ("12.5") into
 * thousandths, exactly. Returns 0 or -1. */
int gwctl_parse_milli(const char *s, uint64_t *out);
/* Parses an unsigned integer; returns 0 or -1. */
int gwctl_parse_u64(const char *s, uint64_t *out);

/* The commands (gwctl_commands[]). Each takes its own argv, argv[0] being
 * the command's name (argc >= 1), parses its options, calls the gateways or
 * reads the local files it names, prints the answer (one JSON document on
 * stdout under --json, diagnostics on stderr) and returns its exit code
 * (GWCTL_EXIT_*). None exits the process; gRPC must be initialized (main).
 * Their --help texts are their full contracts. */
/* The catalog folder, the first that exists of: given (when not NULL),
 * $GWCTL_CATALOG_DIR, <folder of the gwctl binary>/../adapters/catalogs, the
 * source tree gwctl was built from. Returns given, the variable's value or
 * buf (filled), or NULL when there is none. */
const char *gwctl_catalog_dir(const char *given, char *buf, size_t buflen);

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
int gwctl_obligation(int argc, char **argv);
int gwctl_check(int argc, char **argv);
int gwctl_report(int argc, char **argv);
int gwctl_batches(int argc, char **argv);
int gwctl_reconcile(int argc, char **argv);
int gwctl_indoubt(int argc, char **argv);
int gwctl_resolve(int argc, char **argv);
int gwctl_forks(int argc, char **argv);
int gwctl_console(int argc, char **argv);
int gwctl_trace(int argc, char **argv);
int gwctl_audit(int argc, char **argv);
int gwctl_version(int argc, char **argv);

#endif
