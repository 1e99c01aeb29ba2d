/* test_console.c - gwctl console (issue 19) against a real federation: its
 * security rules over plain HTTP (no token, a wrong token, a foreign Origin
 * or Host, a POST without the header token or the typed confirmation, an
 * oversized body, an auditor's console trying an operator action, a
 * non-loopback --listen), and its pages loaded in Debian's chromium
 * (headless --dump-dom and --screenshot; screenshots into
 * BINARY_DIR/console-screens/). */
#include "gateway/rpc/grpc_lifetime.h"
#include "tests/support/gateway_harness.h"
#include "tests/support/proc.h"
#include "tests/support/registry_client.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TJ 0
#define BJ 1
#define HE 2
#define HTTP_BYTES_MAX (8u << 20)

static federation_t *fed;

typedef struct {
    pid_t pid;
    int port;
    char token[33];
    char log[512];
} console_run_t;

static void start3(void) {
    grpc_lifetime_begin();
    federation_options_t o = {.regions_n = 3, .extra_ini = "[metrics]\nlisten = 127.0.0.1:0\n"};
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
}

static void stop_all(void) {
    federation_free(fed);
    fed = NULL;
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

static grpc_channel *reg(int i) {
    static const char *const certs[] = {"CN-TJ-registry", "CN-BJ-registry", "CN-HE-registry"};
    return federation_channel(fed, i, certs[i]);
}

/* The metrics port instance i logged ("metrics_listening" ... "port": N). */
static int logged_metrics_port(int i) {
    long long until = proc_now_ms() + 5000;
    for (;;) {
        char *log = harness_file_tail(federation_log_path(fed, i), 1 << 20);
        const char *line = strstr(log, "\"metrics_listening\"");
        const char *pp = line != NULL ? strstr(line, "\"port\":") : NULL;
        int port = pp != NULL ? atoi(pp + 7 + (pp[7] == ' ')) : 0;
        free(log);
        if (port > 0) return port;
        cr_assert(proc_now_ms() < until, "instance %d logged no metrics_listening", i);
        proc_sleep_ms(100);
    }
}

/* Starts gwctl console as cert_base (e.g. "CN-TJ-auditor") on listen and
 * waits for the URL it prints. Returns 0, or its exit status if it ended
 * (e.g. refused the listen address) with *c->pid 0. */
static int console_start(console_run_t *c, const char *cert_base, const char *listen) {
    char targets[256], metrics[256], cert[512], key[512], ca[512];
    snprintf(targets, sizeof targets, "CN-TJ=127.0.0.1:%d,CN-BJ=127.0.0.1:%d,CN-HE=127.0.0.1:%d",
             federation_port(fed, TJ), federation_port(fed, BJ), federation_port(fed, HE));
    snprintf(metrics, sizeof metrics, "CN-TJ=127.0.0.1:%d,CN-BJ=127.0.0.1:%d,CN-HE=127.0.0.1:%d",
             logged_metrics_port(TJ), logged_metrics_port(BJ), logged_metrics_port(HE));
    snprintf(cert, sizeof cert, "%s/%s.crt", harness_pki_dir(), cert_base);
    snprintf(key, sizeof key, "%s/%s.key", harness_pki_dir(), cert_base);
    snprintf(ca, sizeof ca, "%s/ca.crt", harness_pki_dir());
    snprintf(c->log, sizeof c->log, "%s/console-%s.log", federation_dir(fed), cert_base);
    const char *argv[] = {BINARY_DIR "/gwctl", "console", "--listen", listen, "--targets", targets,
                          "--metrics", metrics, "--cert", cert, "--key", key, "--ca", ca,
                          "--catalog-dir", SOURCE_DIR "/adapters/catalogs", NULL};
    char err[256];
    c->pid = proc_spawn(argv, NULL, c->log, err, sizeof err);
    cr_assert_gt(c->pid, 0, "%s", err);
    for (long long until = proc_now_ms() + 20000; proc_now_ms() < until; proc_sleep_ms(50)) {
        int status;
        if (proc_wait(c->pid, 0, &status) == 0) {
            c->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
        }
        char *log = harness_file_tail(c->log, 1 << 16);
        const char *url = strstr(log, "open http://127.0.0.1:");
        int ok = url != NULL && sscanf(url, "open http://127.0.0.1:%d/?token=%32[0-9a-f]", &c->port, c->token) == 2;
        free(log);
        if (ok) return 0;
    }
    cr_assert_fail("gwctl console printed no URL: %s", harness_file_tail(c->log, 4096));
    return -1;
}

static void console_stop(console_run_t *c) {
    if (c->pid > 0) cr_expect_eq(proc_stop(c->pid, 5000, NULL), 0);
    c->pid = 0;
}

/* One HTTP/1.0 request to 127.0.0.1:port with extra header lines (each
 * ending in \r\n; may be "") and body (may be NULL). Returns the status
 * code; *out (may be NULL) gets the body, malloc'd. */
static int http(int port, const char *method, const char *path, const char *headers, const char *body, char **out) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0, "connect: %s", strerror(errno));
    size_t blen = body != NULL ? strlen(body) : 0;
    char *req = malloc(4096 + blen);
    cr_assert_not_null(req);
    int n = snprintf(req, 4096, "%s %s HTTP/1.0\r\n%sContent-Length: %zu\r\n\r\n", method, path, headers, blen);
    memcpy(req + n, body != NULL ? body : "", blen);
    cr_assert_eq(send(fd, req, (size_t)n + blen, MSG_NOSIGNAL), (ssize_t)((size_t)n + blen));
    free(req);
    char *buf = malloc(HTTP_BYTES_MAX + 1);
    cr_assert_not_null(buf);
    size_t len = 0;
    for (ssize_t r; (r = recv(fd, buf + len, HTTP_BYTES_MAX - len, 0)) != 0 && len < HTTP_BYTES_MAX;) {
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    close(fd);
    int status = 0;
    sscanf(buf, "HTTP/1.%*d %d", &status);
    char *b = strstr(buf, "\r\n\r\n");
    if (out != NULL) *out = strdup(b != NULL ? b + 4 : "");
    free(buf);
    return status;
}

/* A GET with the right Host and the token given as X-Console-Token. */
static int get(const console_run_t *c, const char *path, char **out) {
    char h[256];
    snprintf(h, sizeof h, "Host: 127.0.0.1:%d\r\nX-Console-Token: %s\r\n", c->port, c->token);
    return http(c->port, "GET", path, h, NULL, out);
}

/* A POST of body as the page sends it (Host, Origin, header token, JSON). */
static int post(const console_run_t *c, const char *path, const char *body, char **out) {
    char h[320];
    snprintf(h, sizeof h, "Host: 127.0.0.1:%d\r\nOrigin: http://127.0.0.1:%d\r\nX-Console-Token: %s\r\n"
                          "Content-Type: application/json\r\n", c->port, c->port, c->token);
    return http(c->port, "POST", path, h, body, out);
}

/* body is passed by address: it is filled by the call in got's argument. */
static void expect_refused(int got, int want, char **body, const char *needle) {
    cr_expect_eq(got, want, "status %d, not %d: %s", got, want, *body);
    cr_expect(strstr(*body, needle) != NULL, "no %s in %s", needle, *body);
    free(*body);
    *body = NULL;
}

Test(console, refuses_requests_without_this_runs_token_host_or_origin, .init = start3, .fini = stop_all,
     .timeout = 120) {
    console_run_t aud = {0};
    cr_assert_eq(console_start(&aud, "CN-TJ-auditor", "127.0.0.1:0"), 0);
    char h[320], *body;
    /* No token, on a page and on the API. */
    snprintf(h, sizeof h, "Host: 127.0.0.1:%d\r\n", aud.port);
    expect_refused(http(aud.port, "GET", "/", h, NULL, &body), 401, &body, "TOKEN_MISSING");
    expect_refused(http(aud.port, "GET", "/api/federation", h, NULL, &body), 401, &body, "TOKEN_MISSING");
    /* A wrong token, in the query and in the header. */
    char path[128];
    snprintf(path, sizeof path, "/api/config?token=%.31s%c", aud.token, aud.token[31] == '0' ? '1' : '0');
    expect_refused(http(aud.port, "GET", path, h, NULL, &body), 403, &body, "TOKEN_WRONG");
    snprintf(h, sizeof h, "Host: 127.0.0.1:%d\r\nX-Console-Token: 0123456789abcdef0123456789abcdef\r\n", aud.port);
    expect_refused(http(aud.port, "GET", "/api/config", h, NULL, &body), 403, &body, "TOKEN_WRONG");
    /* The right token from a foreign Origin, or for a foreign Host (DNS rebinding). */
    snprintf(h, sizeof h, "Host: 127.0.0.1:%d\r\nOrigin: http://evil.example\r\nX-Console-Token: %s\r\n", aud.port,
             aud.token);
    expect_refused(http(aud.port, "GET", "/api/config", h, NULL, &body), 403, &body, "ORIGIN_REFUSED");
    snprintf(h, sizeof h, "Host: evil.example:%d\r\nX-Console-Token: %s\r\n", aud.port, aud.token);
    expect_refused(http(aud.port, "GET", "/api/config", h, NULL, &body), 403, &body, "HOST_REFUSED");
    snprintf(h, sizeof h, "Host: 127.0.0.1:%d\r\nSec-Fetch-Site: cross-site\r\nX-Console-Token: %s\r\n", aud.port,
             aud.token);
    expect_refused(http(aud.port, "GET", "/api/config", h, NULL, &body), 403, &body, "ORIGIN_REFUSED");
    /* The right token, Host and Origin: the page (token written into its
     * links) and the API, as the user's certificate sees the federation. */
    snprintf(path, sizeof path, "/?token=%s", aud.token);
    snprintf(h, sizeof h, "Host: 127.0.0.1:%d\r\n", aud.port);
    cr_assert_eq(http(aud.port, "GET", path, h, NULL, &body), 200);
    cr_expect(strstr(body, aud.token) != NULL && strstr(body, "__CONSOLE_TOKEN__") == NULL, "%s", body);
    free(body);
    cr_assert_eq(get(&aud, "/api/config", &body), 200, "%s", body);
    cr_expect(strstr(body, "spiffe://") != NULL && strstr(body, "/CN-TJ/auditor/") != NULL, "%s", body);
    free(body);
    cr_assert_eq(get(&aud, "/api/federation", &body), 200, "%s", body);
    cr_expect(strstr(body, "\"region\":\"CN-HE\"") != NULL && strstr(body, "\"SERVING\"") != NULL, "%s", body);
    free(body);
    console_stop(&aud);
}

Test(console, write_actions_need_post_the_header_token_a_confirmation_and_the_right_certificate,
     .init = start3, .fini = stop_all, .timeout = 120) {
    console_run_t aud = {0}, op = {0};
    cr_assert_eq(console_start(&aud, "CN-BJ-auditor", "127.0.0.1:0"), 0);
    cr_assert_eq(console_start(&op, "CN-BJ-operator", "127.0.0.1:0"), 0);
    const char *tid = "0123456789abcdef0123456789abcdef";
    char body_ok[512], h[320], path[128], *body;
    snprintf(body_ok, sizeof body_ok, "{\"region\":\"CN-BJ\",\"transfer_id\":\"%s\",\"action\":\"abort\","
                                      "\"reason\":\"incident 42: test\",\"confirm\":\"%s\"}", tid, tid);
    /* Not by GET, not with the token in the query only, not as a form. */
    snprintf(path, sizeof path, "/api/resolve?token=%s", op.token);
    expect_refused(get(&op, "/api/resolve", &body), 405, &body, "METHOD_NOT_ALLOWED");
    snprintf(h, sizeof h, "Host: 127.0.0.1:%d\r\nContent-Type: application/json\r\n", op.port);
    expect_refused(http(op.port, "POST", path, h, body_ok, &body), 401, &body, "TOKEN_MISSING");
    snprintf(h, sizeof h, "Host: 127.0.0.1:%d\r\nX-Console-Token: %s\r\nContent-Type: application/x-www-form-urlencoded\r\n",
             op.port, op.token);
    expect_refused(http(op.port, "POST", "/api/resolve", h, body_ok, &body), 415, &body, "BAD_CONTENT_TYPE");
    /* Without the typed confirmation, or with another id typed. */
    char bad[512];
    snprintf(bad, sizeof bad, "{\"region\":\"CN-BJ\",\"transfer_id\":\"%s\",\"action\":\"abort\","
                              "\"reason\":\"incident 42: test\",\"confirm\":\"%.31s\"}", tid, tid);
    expect_refused(post(&op, "/api/resolve", bad, &body), 400, &body, "NOT_CONFIRMED");
    /* A body over the limit, and one that is not JSON. */
    char *big = malloc(9001);
    cr_assert_not_null(big);
    memset(big, ' ', 9000);
    big[9000] = '\0';
    big[0] = '{';
    big[8999] = '}';
    expect_refused(post(&op, "/api/resolve", big, &body), 413, &body, "BODY_TOO_LARGE");
    free(big);
    expect_refused(post(&op, "/api/resolve", "{\"region\":", &body), 400, &body, "BAD_JSON");
    /* An auditor's console asking an operator's action: the gateway refuses it. */
    expect_refused(post(&aud, "/api/resolve", body_ok, &body), 403, &body, "PERMISSION_DENIED");
    /* The operator's own region answers for itself: no such leg (nothing changed). */
    cr_assert_neq(post(&op, "/api/resolve", body_ok, &body), 200, "%s", body);
    cr_expect(strstr(body, "PERMISSION_DENIED") == NULL, "%s", body);
    free(body);
    cr_assert_eq(get(&op, "/api/indoubt", &body), 200);
    cr_expect(strstr(body, tid) == NULL, "%s", body);
    free(body);
    console_stop(&op);
    console_stop(&aud);
}

Test(console, listens_on_loopback_only, .init = start3, .fini = stop_all, .timeout = 60) {
    static const char *const refused[] = {"0.0.0.0:0", "192.168.1.10:0", "[::]:0", "example.com:80", "127.0.0.1:x"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        console_run_t c = {0};
        cr_expect_eq(console_start(&c, "CN-TJ-auditor", refused[i]), 2, "--listen %s was not refused", refused[i]);
        console_stop(&c);
    }
}

static void open_issue(int region, const char *acct, const char *meth, uint64_t milli) {
    client_status_t st;
    cr_assert_eq(rc_open(reg(region), acct, &st), GRPC_STATUS_OK, "%s", st.details);
    char iid[33], fp[64];
    rc_new_id(iid);
    snprintf(fp, sizeof fp, "fp-%s", iid);
    cr_assert_eq(rc_issue(reg(region), iid, acct, meth, milli, fp, NULL, &st), GRPC_STATUS_OK, "%s", st.details);
}

/* Loads page (the part after '#') of console c in headless chromium: its
 * DOM once the page has settled (malloc'd), and a screenshot into
 * BINARY_DIR/console-screens/NAME.png when name is not NULL. */
static char *browse(const console_run_t *c, const char *page, const char *name) {
    char url[512], profile[512], shot[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/?token=%s#%s", c->port, c->token, page);
    snprintf(profile, sizeof profile, "--user-data-dir=%s/chromium", federation_dir(fed));
    const char *argv[] = {"/usr/bin/chromium", "--headless", "--disable-gpu", "--no-sandbox", profile,
                          "--virtual-time-budget=8000", "--window-size=1280,1000", "--dump-dom", url, NULL};
    char *dom = NULL;
    int status = -1;
    cr_assert_eq(harness_run(argv, 90000, &status, &dom, NULL), 0, "chromium did not run");
    cr_assert_eq(status, 0, "chromium exited %d", status);
    if (name != NULL) {
        mkdir(BINARY_DIR "/console-screens", 0755);
        snprintf(shot, sizeof shot, "--screenshot=" BINARY_DIR "/console-screens/%s.png", name);
        argv[7] = shot;
        cr_assert_eq(harness_run(argv, 90000, &status, NULL, NULL), 0);
        cr_expect_eq(status, 0, "chromium --screenshot exited %d", status);
    }
    return dom;
}

static void expect_in(const char *dom, const char *needle) {
    cr_expect(strstr(dom, needle) != NULL, "no '%s' in the page:\n%s", needle, dom);
}

Test(console, pages_in_chromium_show_the_federation_a_trace_batches_in_doubt_and_metrics, .init = start3,
     .fini = stop_all, .timeout = 300) {
    open_issue(TJ, "tj-a", "TJ-GT-01", 420000); /* 19950 g */
    client_status_t st;
    cr_assert_eq(rc_open(reg(BJ), "bj-b", &st), GRPC_STATUS_OK, "%s", st.details);
    char tid[33];
    rc_new_id(tid);
    Carbon__V1__TransferResponse *r = NULL;
    cr_assert_eq(rc_transfer(reg(TJ), tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 15, &r, &st), GRPC_STATUS_OK,
                 "%s", st.details);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    cr_assert_eq(rc_wait_arrival(reg(BJ), tid, 10000), 0, "never arrived");
    proc_sleep_ms(1500); /* checkpoints, cosigned, cover it */
    console_run_t aud = {0}, op = {0};
    cr_assert_eq(console_start(&aud, "CN-TJ-auditor", "127.0.0.1:0"), 0);
    cr_assert_eq(console_start(&op, "CN-TJ-operator", "127.0.0.1:0"), 0);
    long long t0 = proc_now_ms();
    char *dom = browse(&aud, "federation", "federation");
    expect_in(dom, "data-region=\"CN-BJ\"");
    expect_in(dom, "SERVING");
    expect_in(dom, "cosigned by CN-");
    expect_in(dom, "No open alarm");
    free(dom);
    char page[64];
    snprintf(page, sizeof page, "trace=%s", tid);
    dom = browse(&aud, page, "trace");
    expect_in(dom, "id=\"trace-svg\"");
    expect_in(dom, tid);
    expect_in(dom, "CN-BJ #");
    expect_in(dom, "proof to");
    expect_in(dom, "every proof verified");
    free(dom);
    dom = browse(&op, "batches=CN-TJ,CN-BJ", "batches");
    expect_in(dom, "1 batches");
    free(dom);
    dom = browse(&op, "batches=CN-TJ,CN-BJ,reconcile", NULL);
    expect_in(dom, "discrepancies 0");
    free(dom);
    dom = browse(&op, "indoubt", "indoubt");
    expect_in(dom, "No leg in doubt at CN-TJ");
    expect_in(dom, "not allowed for your certificate (PERMISSION_DENIED");
    free(dom);
    dom = browse(&aud, "metrics", "metrics");
    expect_in(dom, "settled per second");
    expect_in(dom, "transfers committed: 1");
    free(dom);
    fprintf(stderr, "console pages in chromium: %lld ms\n", proc_now_ms() - t0);
    console_stop(&op);
    console_stop(&aud);
}
