/* console.h - gwctl console: a web console served on loopback by gwctl,
 * calling the gateways with the user's own certificate (like kubectl proxy).
 * console.c starts it (options, listen address, token, the HTTP server);
 * console_http.c checks every request (token, Host, Origin, method, sizes)
 * and serves the embedded files; console_api.c answers the JSON API from
 * the gateways' gRPC services; console_metrics.c reads a gateway's /metrics.
 * Nothing here grants anything: a gateway's PERMISSION_DENIED is passed on. */
#ifndef GATEWAY_GWCTL_CONSOLE_H
#define GATEWAY_GWCTL_CONSOLE_H

#include "gateway/gwctl/gwctl.h"
#include "gateway/gwctl/proofs.h"
#include "gateway/gwctl/targets.h"

#include <jansson.h>
#include <limits.h>
#include <stddef.h>

#define CONSOLE_TOKEN_BYTES 16                 /* random bytes; hex in the URL */
#define CONSOLE_TOKEN_HEX (2 * CONSOLE_TOKEN_BYTES + 1)
#define CONSOLE_BODY_BYTES_MAX 8192            /* a POST body, at most */
#define CONSOLE_RESPONSE_BYTES_MAX (8u << 20)  /* a JSON answer, at most */
#define CONSOLE_CONNECTIONS_MAX 32             /* open HTTP connections */
#define CONSOLE_THREADS 4                      /* requests answered at once */
#define CONSOLE_CONNECTION_TIMEOUT_S 60        /* an idle HTTP connection */
#define CONSOLE_TIMEOUT_MS_DEFAULT 5000        /* each gRPC call */
#define CONSOLE_LIST_LIMIT 500                 /* legs, batches listed per call */
#define CONSOLE_CHILD_OUTPUT_MAX (4u << 20)    /* gwctl trace's JSON, at most */
#define CONSOLE_CHILD_TIMEOUT_MS 60000         /* gwctl trace, at most */

/* One gateway of --targets, with its channel and its metrics address. */
typedef struct {
    region_address_t where;
    grpc_channel *ch;
    char metrics[REGION_ADDRESS_ADDRESS_MAX]; /* loopback HOST:PORT of /metrics, or "" */
} console_target_t;

typedef struct {
    console_target_t targets[GWCTL_TARGETS_MAX];
    size_t n;
    const char *targets_list; /* as given, for gwctl trace */
    const char *cert, *key, *ca, *keys_dir, *catalog_dir;
    long timeout_ms;
    char token[CONSOLE_TOKEN_HEX];
    char host[96];   /* the Host header every request must carry: 127.0.0.1:PORT */
    char host2[96];  /* or localhost:PORT */
    char origin[112], origin2[112]; /* the Origins accepted: http:// + host, host2 */
    int port;
    gwctl_pins_t pins;
    char self_exe[PATH_MAX]; /* this gwctl, for gwctl trace */
    char keys_dir_buf[PATH_MAX];
    char catalog_buf[PATH_MAX + 32];
} console_t;

/* An API answer: an HTTP status and a JSON body (owned). */
typedef struct {
    unsigned status;
    json_t *body;
} console_reply_t;

/* Starts the HTTP server for c on fd (a bound, listening loopback socket),
 * which it then owns. NULL with the reason on stderr. */
struct MHD_Daemon *console_http_start(console_t *c, int fd);

/* Answers GET path (after the token and origin checks) with the query
 * parameter getter get(cls, name) (NULL when absent). 404 for an unknown
 * path. Never NULL body. */
console_reply_t console_api_get(console_t *c, const char *path,
                                const char *(*get)(void *cls, const char *name), void *cls);

/* Answers POST path with the JSON body (already parsed, borrowed). */
console_reply_t console_api_post(console_t *c, const char *path, const json_t *body);

/* {"error": {"status", "reason", "message"}} with http status. */
console_reply_t console_error(unsigned http, const char *status, const char *reason,
                              const char *message);

/* The index of region in c->targets, or -1. */
int console_target_of(const console_t *c, const char *region);

/* GET http://ADDR/metrics of target t (loopback, plain HTTP as gatewayd
 * serves it) parsed into {"NAME": "VALUE", ...} (samples without labels
 * and the _sum/_count of histograms; values as text). NULL with why. */
json_t *console_metrics_read(const console_target_t *t, char *why, size_t why_size);

/* Runs this gwctl's trace of subject (checked by the caller) with --json
 * over every target and returns its document with "exit_code" added, or
 * NULL with why. */
json_t *console_trace_run(const console_t *c, const char *subject, char *why, size_t why_size);

/* The user's identity from --cert: {"id": its SPIFFE ID (URI SAN) or
 * subject, "expires": its notAfter}. Never NULL. */
json_t *console_identity(const console_t *c);

/* The embedded static files (console_assets.c, generated at build time from
 * gateway/gwctl/console/ by cmake/embed_console.cmake). */
typedef struct {
    const char *path;         /* "/index.html", "/app.js", ... */
    const char *content_type;
    const unsigned char *data;
    size_t len;
} console_asset_t;
extern const console_asset_t console_assets[];
extern const size_t console_assets_n;

#endif
