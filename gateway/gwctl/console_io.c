/* console_io.c - what gwctl console reads besides gRPC (console.h): the
 * user's identity from the certificate, a gateway's /metrics over loopback
 * HTTP, and gwctl trace --json run as a child (the same verification as the
 * command, not a second copy of it). */
#include "gateway/gwctl/console.h"
#include "common/carbon_assert.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CONSOLE_METRICS_BYTES_MAX (1u << 20)
#define CONSOLE_METRICS_SAMPLES_MAX 2000
#define CONSOLE_METRICS_TIMEOUT_MS 3000

extern char **environ;

json_t *console_identity(const console_t *c) {
    CARBON_ASSERT(c != NULL && c->cert != NULL);
    char id[512] = "?", expires[64] = "?";
    FILE *f = fopen(c->cert, "r");
    X509 *x = f != NULL ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f != NULL) fclose(f);
    if (x != NULL) {
        X509_NAME_oneline(X509_get_subject_name(x), id, sizeof id);
        GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
        for (int k = 0; sans != NULL && k < sk_GENERAL_NAME_num(sans); k++) {
            const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, k);
            if (g->type != GEN_URI) continue;
            const ASN1_IA5STRING *u = g->d.uniformResourceIdentifier;
            snprintf(id, sizeof id, "%.*s", u->length, (const char *)u->data);
            break;
        }
        GENERAL_NAMES_free(sans);
        BIO *b = BIO_new(BIO_s_mem());
        if (b != NULL && ASN1_TIME_print(b, X509_get0_notAfter(x)) == 1) {
            int n = BIO_read(b, expires, sizeof expires - 1);
            expires[n > 0 ? n : 0] = '\0';
        }
        BIO_free(b);
        X509_free(x);
    }
    return json_pack("{s:o, s:o}", "id", gwctl_json_text(id), "expires", gwctl_json_text(expires));
}

/* Connects to ADDR (IPv4 HOST:PORT, checked loopback by console.c) with a
 * send and receive timeout. The socket or -1. */
static int console_dial(const char *addr) {
    char host[64];
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || (size_t)(colon - addr) >= sizeof host) return -1;
    snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {CONSOLE_METRICS_TIMEOUT_MS / 1000, 0};
    if (fd < 0) return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads until EOF, at most max bytes, into a malloc'd NUL-terminated
 * buffer; NULL when over max or on an error. */
static char *console_read_all(int fd, size_t max, size_t *len) {
    char *buf = malloc(max + 1);
    if (buf == NULL) abort();
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, max - n);
        if (r == 0) break;
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 || n + (size_t)r >= max) {
            free(buf);
            return NULL;
        }
        n += (size_t)r;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The samples of a Prometheus text body into obj: "series value" lines. */
static void console_metrics_parse(char *body, json_t *obj) {
    size_t samples = 0;
    for (char *save = NULL, *line = strtok_r(body, "\n", &save); line != NULL && samples < CONSOLE_METRICS_SAMPLES_MAX;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#' || line[0] == '\0') continue;
        char *sp = strrchr(line, ' ');
        if (sp == NULL || sp == line || strlen(line) > 256) continue;
        *sp = '\0';
        json_object_set_new(obj, line, gwctl_json_text(sp + 1));
        samples++;
    }
}

json_t *console_metrics_read(const console_target_t *t, char *why, size_t why_size) {
    CARBON_ASSERT(t != NULL && why != NULL && t->metrics[0] != '\0');
    int fd = console_dial(t->metrics);
    if (fd < 0) {
        snprintf(why, why_size, "%s: cannot connect: %s", t->metrics, strerror(errno));
        return NULL;
    }
    char req[256];
    int n = snprintf(req, sizeof req, "GET /metrics HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n", t->metrics);
    size_t len = 0;
    char *resp = write(fd, req, (size_t)n) == n ? console_read_all(fd, CONSOLE_METRICS_BYTES_MAX, &len) : NULL;
    close(fd);
    char *body = resp != NULL ? strstr(resp, "\r\n\r\n") : NULL;
    if (body == NULL || strncmp(resp, "HTTP/1.", 7) != 0 || strncmp(resp + 8, " 200", 4) != 0) {
        snprintf(why, why_size, "%s: no valid /metrics answer (or over 1 MiB)", t->metrics);
        free(resp);
        return NULL;
    }
    json_t *obj = json_object();
    console_metrics_parse(body + 4, obj);
    free(resp);
    return obj;
}

/* Waits for pid at most until deadline_ms (CLOCK_MONOTONIC), then kills it.
 * Its exit code, or -1 if it was killed or failed. */
static int console_child_wait(pid_t pid, long long deadline_ms) {
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 > deadline_ms) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        usleep(20 * 1000);
    }
}

/* Reads the child's stdout from fd until EOF or the limit (then stops
 * reading, so that the child is cut off). Returns the bytes, NUL-ended. */
static char *console_child_read(int fd, size_t *len, int *over) {
    char *buf = malloc(CONSOLE_CHILD_OUTPUT_MAX + 1);
    if (buf == NULL) abort();
    size_t n = 0;
    *over = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (poll(&p, 1, CONSOLE_CHILD_TIMEOUT_MS) == 1) {
        ssize_t r = read(fd, buf + n, CONSOLE_CHILD_OUTPUT_MAX - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
        if (n == CONSOLE_CHILD_OUTPUT_MAX) {
            *over = 1;
            break;
        }
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Starts gwctl trace SUBJECT --json ... with its stdout on a pipe (*out_fd)
 * and stderr to /dev/null. The pid, or -1. */
static pid_t console_child_start(const console_t *c, const char *subject, int *out_fd) {
    char timeout[24];
    snprintf(timeout, sizeof timeout, "%ld", c->timeout_ms);
    const char *argv[24] = {c->self_exe, "trace", "--json", "--targets", c->targets_list, "--cert", c->cert,
                            "--key", c->key, "--ca", c->ca, "--audit-keys", c->keys_dir, "--timeout-ms", timeout};
    int n = 15;
    if (c->catalog_dir != NULL) {
        argv[n++] = "--catalog-dir";
        argv[n++] = c->catalog_dir;
    }
    argv[n++] = "--";
    argv[n++] = subject;
    argv[n] = NULL;
    int p[2];
    if (pipe(p) != 0) return -1;
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, c->self_exe, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (rc != 0) {
        close(p[0]);
        return -1;
    }
    *out_fd = p[0];
    return pid;
}

json_t *console_trace_run(const console_t *c, const char *subject, char *why, size_t why_size) {
    CARBON_ASSERT(c != NULL && subject != NULL && why != NULL);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long deadline = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + CONSOLE_CHILD_TIMEOUT_MS;
    int fd;
    pid_t pid = console_child_start(c, subject, &fd);
    if (pid < 0) {
        snprintf(why, why_size, "cannot run %s trace: %s", c->self_exe, strerror(errno));
        return NULL;
    }
    size_t len;
    int over;
    char *out = console_child_read(fd, &len, &over);
    close(fd);
    int code = console_child_wait(pid, deadline);
    json_error_t jerr;
    json_t *doc = over || code < 0 ? NULL : json_loadb(out, len, 0, &jerr);
    free(out);
    if (doc == NULL || !json_is_object(doc)) {
        json_decref(doc);
        snprintf(why, why_size, "gwctl trace gave no JSON document (exit %d%s)", code, over ? ", output over 4 MiB" : "");
        return NULL;
    }
    json_object_set_new(doc, "exit_code", json_integer(code));
    return doc;
}
