/* test_console.c - gwctl console (issue 19) against a real federation: its
 * security rules over plain HTTP (no token, a wrong token, a foreign Origin
 * or Host, a POST without the header token or the typed confirmation, an
 * oversized body, an auditor's console trying an operator action, a
 * non-loopback --listen). Its pages in a real browser:
 * tests/console/test_console_browser.c. */
#include "gateway/rpc/grpc_lifetime.h"
#include "tests/support/console_harness.h"
#include "tests/support/gateway_harness.h"
#include "tests/support/registry_client.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static federation_t *fed;

static void start3(void) {
    grpc_lifetime_begin();
    federation_options_t o = {.regions_n = 3};
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
}

/* Two regions whose gateways serve /metrics on a loopback port of their own. */
static void start2_metrics(void) {
    grpc_lifetime_begin();
    federation_options_t o = {.regions_n = 2, .extra_ini = "[metrics]\nlisten = 127.0.0.1:0\n"};
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
}

static void stop_all(void) {
    federation_free(fed);
    fed = NULL;
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

static void start_console(console_run_t *c, const char *cert_base) {
    cr_assert_eq(console_start(fed, c, cert_base, "127.0.0.1:0", 0), 0, "gwctl console did not start");
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
    start_console(&aud, "CN-TJ-auditor");
    char h[320], *body;
    /* No token, on a page and on the API. */
    snprintf(h, sizeof h, "Host: 127.0.0.1:%d\r\n", aud.port);
    expect_refused(console_http(aud.port, "GET", "/", h, NULL, &body), 401, &body, "TOKEN_MISSING");
    expect_refused(console_http(aud.port, "GET", "/api/federation", h, NULL, &body), 401, &body, "TOKEN_MISSING");
    /* A wrong token, in the query and in the header. */
    char path[128];
    snprintf(path, sizeof path, "/api/config?token=%.31s%c", aud.token, aud.token[31] == '0' ? '1' : '0');
    expect_refused(console_http(aud.port, "GET", path, h, NULL, &body), 403, &body, "TOKEN_WRONG");
    snprintf(h, sizeof h, "Host: 127.0.0.1:%d\r\nX-Console-Token: 0123456789abcdef0123456789abcdef\r\n", aud.port);
    expect_refused(console_http(aud.port, "GET", "/api/config", h, NULL, &body), 403, &body, "TOKEN_WRONG");
    /* The right token from a foreign Origin, or for a foreign Host (DNS rebinding). */
    snprintf(h, sizeof h, "Host: 127.0.0.1:%d\r\nOrigin: http://evil.example\r\nX-Console-Token: %s\r\n", aud.port,
             aud.token);
    expect_refused(console_http(aud.port, "GET", "/api/config", h, NULL, &body), 403, &body, "ORIGIN_REFUSED");
    snprintf(h, sizeof h, "Host: evil.example:%d\r\nX-Console-Token: %s\r\n", aud.port, aud.token);
    expect_refused(console_http(aud.port, "GET", "/api/config", h, NULL, &body), 403, &body, "HOST_REFUSED");
    snprintf(h, sizeof h, "Host: 127.0.0.1:%d\r\nSec-Fetch-Site: cross-site\r\nX-Console-Token: %s\r\n", aud.port,
             aud.token);
    expect_refused(console_http(aud.port, "GET", "/api/config", h, NULL, &body), 403, &body, "ORIGIN_REFUSED");
    /* The right token, Host and Origin: the page (token written into its
     * links) and the API, as the user's certificate sees the federation. */
    snprintf(path, sizeof path, "/?token=%s", aud.token);
    snprintf(h, sizeof h, "Host: 127.0.0.1:%d\r\n", aud.port);
    cr_assert_eq(console_http(aud.port, "GET", path, h, NULL, &body), 200);
    cr_expect(strstr(body, aud.token) != NULL && strstr(body, "__CONSOLE_TOKEN__") == NULL, "%s", body);
    free(body);
    cr_assert_eq(console_get(&aud, "/api/config", &body), 200, "%s", body);
    cr_expect(strstr(body, "spiffe://") != NULL && strstr(body, "/CN-TJ/auditor/") != NULL, "%s", body);
    free(body);
    cr_assert_eq(console_get(&aud, "/api/federation", &body), 200, "%s", body);
    cr_expect(strstr(body, "\"region\":\"CN-HE\"") != NULL && strstr(body, "\"SERVING\"") != NULL, "%s", body);
    free(body);
    cr_expect_eq(console_stop(&aud), 0);
}

Test(console, write_actions_need_post_the_header_token_a_confirmation_and_the_right_certificate,
     .init = start3, .fini = stop_all, .timeout = 120) {
    console_run_t aud = {0}, op = {0};
    start_console(&aud, "CN-BJ-auditor");
    start_console(&op, "CN-BJ-operator");
    const char *tid = "0123456789abcdef0123456789abcdef";
    char body_ok[512], h[320], path[128], *body;
    snprintf(body_ok, sizeof body_ok, "{\"region\":\"CN-BJ\",\"transfer_id\":\"%s\",\"action\":\"abort\","
                                      "\"reason\":\"incident 42: test\",\"confirm\":\"%s\"}", tid, tid);
    /* Not by GET, not with the token in the query only, not as a form. */
    snprintf(path, sizeof path, "/api/resolve?token=%s", op.token);
    expect_refused(console_get(&op, "/api/resolve", &body), 405, &body, "METHOD_NOT_ALLOWED");
    snprintf(h, sizeof h, "Host: 127.0.0.1:%d\r\nContent-Type: application/json\r\n", op.port);
    expect_refused(console_http(op.port, "POST", path, h, body_ok, &body), 401, &body, "TOKEN_MISSING");
    snprintf(h, sizeof h, "Host: 127.0.0.1:%d\r\nX-Console-Token: %s\r\nContent-Type: application/x-www-form-urlencoded\r\n",
             op.port, op.token);
    expect_refused(console_http(op.port, "POST", "/api/resolve", h, body_ok, &body), 415, &body, "BAD_CONTENT_TYPE");
    /* Without the typed confirmation, or with another id typed. */
    char bad[512];
    snprintf(bad, sizeof bad, "{\"region\":\"CN-BJ\",\"transfer_id\":\"%s\",\"action\":\"abort\","
                              "\"reason\":\"incident 42: test\",\"confirm\":\"%.31s\"}", tid, tid);
    expect_refused(console_post(&op, "/api/resolve", bad, &body), 400, &body, "NOT_CONFIRMED");
    /* A body over the limit, and one that is not JSON. */
    char *big = malloc(9001);
    cr_assert_not_null(big);
    memset(big, ' ', 9000);
    big[9000] = '\0';
    big[0] = '{';
    big[8999] = '}';
    expect_refused(console_post(&op, "/api/resolve", big, &body), 413, &body, "BODY_TOO_LARGE");
    free(big);
    expect_refused(console_post(&op, "/api/resolve", "{\"region\":", &body), 400, &body, "BAD_JSON");
    /* An auditor's console asking an operator's action: the gateway refuses it. */
    expect_refused(console_post(&aud, "/api/resolve", body_ok, &body), 403, &body, "PERMISSION_DENIED");
    /* The operator's own region answers for itself: no such leg (nothing changed). */
    cr_assert_neq(console_post(&op, "/api/resolve", body_ok, &body), 200, "%s", body);
    cr_expect(strstr(body, "PERMISSION_DENIED") == NULL, "%s", body);
    free(body);
    cr_assert_eq(console_get(&op, "/api/indoubt", &body), 200);
    cr_expect(strstr(body, tid) == NULL, "%s", body);
    free(body);
    cr_expect_eq(console_stop(&op), 0);
    cr_expect_eq(console_stop(&aud), 0);
}

Test(console, listens_on_loopback_only, .init = start3, .fini = stop_all, .timeout = 60) {
    static const char *const refused[] = {"0.0.0.0:0", "192.168.1.10:0", "[::]:0", "example.com:80", "127.0.0.1:x"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        console_run_t c = {0};
        cr_expect_eq(console_start(fed, &c, "CN-TJ-auditor", refused[i], 0), 2, "--listen %s was not refused", refused[i]);
        console_stop(&c);
    }
}

/* --metrics takes localhost as --listen does: the console starts and reads
 * the gateway's /metrics there (it was refused, exit 2, before). */
Test(console, metrics_addresses_may_say_localhost, .init = start2_metrics, .fini = stop_all, .timeout = 60) {
    console_run_t c = {0};
    cr_assert_eq(console_start(fed, &c, "CN-TJ-auditor", "127.0.0.1:0", CONSOLE_METRICS_LOCALHOST), 0,
                 "gwctl console refused --metrics REGION=localhost:PORT");
    char *body = NULL;
    cr_expect_eq(console_get(&c, "/api/metrics?region=CN-BJ", &body), 200, "%s", body);
    cr_expect(body != NULL && strstr(body, "carbon_") != NULL, "no metrics read: %s", body);
    free(body);
    cr_expect_eq(console_stop(&c), 0);
}

Test(console, bad_usage_exits_2_and_bad_credentials_exit_5, .init = start3, .fini = stop_all, .timeout = 60) {
    console_run_t c = {0};
    cr_expect_eq(console_start(fed, &c, "no-such-certificate", "127.0.0.1:0", 0), 5);
    console_stop(&c);
    char targets[128];
    snprintf(targets, sizeof targets, "CN-TJ=127.0.0.1:%d", federation_port(fed, 0));
    const char *const cases[][14] = {
        {BINARY_DIR "/gwctl", "console", "--targets", targets, NULL}, /* no credentials */
        {BINARY_DIR "/gwctl", "console", "--targets", targets, "--cert", "a", "--key", "b", "--ca", "c",
         "--metrics", "CN-BJ=127.0.0.1:9"}, /* metrics of a region that is not a target */
        {BINARY_DIR "/gwctl", "console", "--targets", targets, "--cert", "a", "--key", "b", "--ca", "c",
         "--metrics", "CN-TJ=192.168.1.10:9"}, /* metrics off loopback */
        {BINARY_DIR "/gwctl", "console", "--targets", targets, "--cert", "a", "--key", "b", "--ca", "c",
         "--timeout-ms", "0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int status = -1;
        cr_assert_eq(harness_run(cases[i], 20000, &status, NULL, NULL), 0);
        cr_expect_eq(status, 2, "case %zu exited %d", i, status);
    }
}

/* Batches and Reconcile go a page of at most 1000 batches at a time: from=
 * picks the page (the page itself loops over them), and a bad from= or
 * incoming= is refused. Two transfers one after the other make two batches
 * from CN-TJ to CN-BJ. */
Test(console, batches_and_reconcile_page_from_a_batch_number, .init = start3, .fini = stop_all,
     .timeout = 120) {
    client_status_t st;
    cr_assert_eq(rc_open(rc_registry(fed, 0), "tj-a", &st), GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(rc_open(rc_registry(fed, 1), "bj-b", &st), GRPC_STATUS_OK, "%s", st.details);
    char id[33];
    rc_new_id(id);
    cr_assert_eq(rc_issue(rc_registry(fed, 0), id, "tj-a", "TJ-GT-01", 100000, "console-paging", NULL, &st),
                 GRPC_STATUS_OK, "%s", st.details);
    for (int i = 0; i < 2; i++) {
        rc_new_id(id);
        cr_assert_eq(rc_transfer(rc_registry(fed, 0), id, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 1, NULL, &st),
                     GRPC_STATUS_OK, "%s", st.details);
    }
    console_run_t op = {0};
    start_console(&op, "CN-TJ-operator");
    char *body;
    cr_assert_eq(console_get(&op, "/api/batches?region=CN-TJ&peer=CN-BJ&incoming=0&from=2", &body), 200, "%s", body);
    cr_expect(strstr(body, "\"batch_seq\":\"2\"") != NULL && strstr(body, "\"batch_seq\":\"1\"") == NULL, "%s", body);
    free(body);
    cr_assert_eq(console_get(&op, "/api/batches?region=CN-TJ&peer=CN-BJ&incoming=0", &body), 200, "%s", body);
    cr_expect(strstr(body, "\"batch_seq\":\"1\"") != NULL && strstr(body, "\"batch_seq\":\"2\"") != NULL, "%s", body);
    free(body);
    cr_assert_eq(console_get(&op, "/api/reconcile?region=CN-TJ&peer=CN-BJ&from=2", &body), 200, "%s", body);
    cr_expect(strstr(body, "\"batches_compared\":\"1\"") != NULL, "%s", body);
    free(body);
    expect_refused(console_get(&op, "/api/batches?region=CN-TJ&peer=CN-BJ&from=x1", &body), 400, &body, "BAD_FROM");
    expect_refused(console_get(&op, "/api/reconcile?region=CN-TJ&peer=CN-BJ&from=-1", &body), 400, &body,
                   "BAD_FROM");
    expect_refused(console_get(&op, "/api/batches?region=CN-TJ&peer=CN-BJ&incoming=yes", &body), 400, &body,
                   "BAD_DIRECTION");
    cr_expect_eq(console_stop(&op), 0);
}
