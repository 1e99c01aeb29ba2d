/* console_harness.h - gwctl console (issue 19) run by a test against a
 * harness federation, and plain HTTP/1.0 requests to it over loopback. */
#ifndef TESTS_SUPPORT_CONSOLE_HARNESS_H
#define TESTS_SUPPORT_CONSOLE_HARNESS_H

#include "tests/support/gateway_harness.h"

#include <sys/types.h>

#define CONSOLE_HTTP_BYTES_MAX (8u << 20) /* an answer read, at most */

typedef struct {
    pid_t pid; /* 0 when not running */
    int port;
    char token[33];
    char log[512]; /* its stdout and stderr */
} console_run_t;

#define CONSOLE_METRICS_NONE 0      /* console_start: no --metrics */
#define CONSOLE_METRICS_LOOPBACK 1  /* --metrics REGION=127.0.0.1:PORT,... */
#define CONSOLE_METRICS_LOCALHOST 2 /* --metrics REGION=localhost:PORT,... */

/* Starts BINARY_DIR/gwctl console as cert_base (e.g. "CN-TJ-auditor", from
 * harness_pki_dir()) on listen, with every region of f as --targets, their
 * logged metrics ports as --metrics (with_metrics: a CONSOLE_METRICS_ value;
 * f's gateways have a [metrics] listen), and the source tree's catalogs;
 * waits for the URL
 * it prints. Returns 0 (c filled, running), the exit code of a console that
 * ended at once (c->pid 0), or -1 with the reason on stderr. */
int console_start(federation_t *f, console_run_t *c, const char *cert_base, const char *listen,
                  int with_metrics);

/* SIGTERM (then SIGKILL after 5 s) and reap. 0 if it exited 0 (so no
 * sanitizer report), else -1. No-op when c->pid 0. */
int console_stop(console_run_t *c);

/* One HTTP/1.0 request to 127.0.0.1:port with extra header lines (each
 * ending in "\r\n"; may be "") and body (may be NULL). Returns the status
 * code (-1 when no answer); *out (may be NULL) gets the body, malloc'd. */
int console_http(int port, const char *method, const char *path, const char *headers,
                 const char *body, char **out);

/* A GET as the page sends it: right Host, token in X-Console-Token. */
int console_get(const console_run_t *c, const char *path, char **out);

/* A POST of a JSON body as the page sends it (Host, Origin, header token). */
int console_post(const console_run_t *c, const char *path, const char *body, char **out);

/* The metrics port instance i logged last ("metrics_listening" ...
 * "port": N; a restart picks a new one), waiting up to 5 s; -1 if none. */
int console_metrics_port(const federation_t *f, int i);

#endif
