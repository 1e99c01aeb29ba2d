/* console_harness.c - see console_harness.h. */
#include "tests/support/console_harness.h"
#include "tests/support/proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int console_metrics_port(const federation_t *f, int i) {
    for (long long until = proc_now_ms() + 5000; proc_now_ms() < until; proc_sleep_ms(100)) {
        char *log = harness_file_tail(federation_log_path(f, i), 1 << 20);
        const char *line = NULL; /* the last start's */
        for (const char *p = strstr(log, "\"metrics_listening\""); p != NULL; p = strstr(p + 1, "\"metrics_listening\""))
            line = p;
        const char *pp = line != NULL ? strstr(line, "\"port\":") : NULL;
        int port = pp != NULL ? atoi(pp + 7 + (pp[7] == ' ')) : 0;
        free(log);
        if (port > 0) return port;
    }
    return -1;
}

/* Waits for the URL line in c->log: 0, the exit code if the console ended,
 * or -1 at the timeout. */
static int console_wait_url(console_run_t *c) {
    for (long long until = proc_now_ms() + 20000; proc_now_ms() < until; proc_sleep_ms(50)) {
        int status;
        if (proc_wait(c->pid, 0, &status) == 0) {
            c->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
        }
        char *log = harness_file_tail(c->log, 1 << 16);
        const char *url = strstr(log, "open http://127.0.0.1:");
        int ok = url != NULL &&
                 sscanf(url, "open http://127.0.0.1:%d/?token=%32[0-9a-f]", &c->port, c->token) == 2;
        free(log);
        if (ok) return 0;
    }
    fprintf(stderr, "gwctl console printed no URL (log %s)\n", c->log);
    console_stop(c);
    return -1;
}

int console_start(federation_t *f, console_run_t *c, const char *cert_base, const char *listen,
                  int with_metrics) {
    char targets[256] = "", metrics[256] = "", cert[512], key[512], ca[512];
    for (int i = 0; i < federation_regions(f); i++) {
        size_t t = strlen(targets), m = strlen(metrics);
        snprintf(targets + t, sizeof targets - t, "%s%s=127.0.0.1:%d", i ? "," : "", federation_region(f, i),
                 federation_port(f, i));
        if (with_metrics)
            snprintf(metrics + m, sizeof metrics - m, "%s%s=%s:%d", i ? "," : "", federation_region(f, i),
                     with_metrics == CONSOLE_METRICS_LOCALHOST ? "localhost" : "127.0.0.1",
                     console_metrics_port(f, i));
    }
    snprintf(cert, sizeof cert, "%s/%s.crt", harness_pki_dir(), cert_base);
    snprintf(key, sizeof key, "%s/%s.key", harness_pki_dir(), cert_base);
    snprintf(ca, sizeof ca, "%s/ca.crt", harness_pki_dir());
    snprintf(c->log, sizeof c->log, "%s/console-%s.log", federation_dir(f), cert_base);
    const char *argv[20] = {BINARY_DIR "/gwctl", "console", "--listen", listen, "--targets", targets,
                            "--cert", cert, "--key", key, "--ca", ca,
                            "--catalog-dir", SOURCE_DIR "/adapters/catalogs"};
    int n = 14;
    if (with_metrics) {
        argv[n++] = "--metrics";
        argv[n++] = metrics;
    }
    argv[n] = NULL;
    char err[256];
    c->pid = proc_spawn(argv, NULL, c->log, err, sizeof err);
    if (c->pid <= 0) {
        fprintf(stderr, "gwctl console: %s\n", err);
        c->pid = 0;
        return -1;
    }
    return console_wait_url(c);
}

int console_stop(console_run_t *c) {
    if (c->pid <= 0) return 0;
    int status = -1;
    int rc = proc_stop(c->pid, 5000, &status);
    c->pid = 0;
    if (rc == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
        fprintf(stderr, "gwctl console ended with status %d (log %s)\n", status, c->log);
        return -1;
    }
    return rc;
}

/* Sends the whole request; connects first. The socket or -1. */
static int console_send(int port, const char *req, size_t len) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct timeval tv = {60, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    return fd;
}

int console_http(int port, const char *method, const char *path, const char *headers,
                 const char *body, char **out) {
    size_t blen = body != NULL ? strlen(body) : 0;
    char *req = malloc(4096 + blen);
    if (req == NULL) abort();
    int n = snprintf(req, 4096, "%s %s HTTP/1.0\r\n%sContent-Length: %zu\r\n\r\n", method, path, headers, blen);
    memcpy(req + n, body != NULL ? body : "", blen);
    int fd = console_send(port, req, (size_t)n + blen);
    free(req);
    if (out != NULL) *out = strdup("");
    if (fd < 0) return -1;
    char *buf = malloc(CONSOLE_HTTP_BYTES_MAX + 1);
    if (buf == NULL) abort();
    size_t len = 0;
    for (ssize_t r; len < CONSOLE_HTTP_BYTES_MAX && (r = recv(fd, buf + len, CONSOLE_HTTP_BYTES_MAX - len, 0)) != 0;) {
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    close(fd);
    int status = -1;
    sscanf(buf, "HTTP/1.%*d %d", &status);
    char *b = strstr(buf, "\r\n\r\n");
    if (out != NULL) {
        free(*out);
        *out = strdup(b != NULL ? b + 4 : "");
    }
    free(buf);
    return status;
}

int console_get(const console_run_t *c, const char *path, char **out) {
    char h[256];
    snprintf(h, sizeof h, "Host: 127.0.0.1:%d\r\nX-Console-Token: %s\r\n", c->port, c->token);
    return console_http(c->port, "GET", path, h, NULL, out);
}

int console_post(const console_run_t *c, const char *path, const char *body, char **out) {
    char h[320];
    snprintf(h, sizeof h, "Host: 127.0.0.1:%d\r\nOrigin: http://127.0.0.1:%d\r\nX-Console-Token: %s\r\n"
                          "Content-Type: application/json\r\n", c->port, c->port, c->token);
    return console_http(c->port, "POST", path, h, body, out);
}
