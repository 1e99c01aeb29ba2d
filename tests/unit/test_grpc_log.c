/* test_grpc_log.c - gRPC's messages become JSON lines (gateway/grpc_log.h):
 * the level is kept, a failed TLS handshake is one tls_handshake_refused
 * event with OpenSSL's text for the verify code, and any message, however
 * long or strange, still gives one valid JSON line. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include <grpc/support/log.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/grpc_log.h"
#include "gateway/log.h"

#define TSI "/build/grpc/src/core/tsi/ssl_transport_security.cc"

static void setup(void) {
    cr_redirect_stderr();
    log_set_level(LOG_LEVEL_INFO);
}

TestSuite(grpc_log, .init = setup);

/* Reads what was logged: every line must be a JSON object; returns them as
 * a JSON array (caller decrefs). */
static json_t *logged_lines(void) {
    fflush(stderr);
    FILE *f = cr_get_redirected_stderr();
    cr_assert_not_null(f);
    json_t *all = json_array();
    char line[8192];
    while (fgets(line, sizeof line, f) != NULL) {
        json_error_t jerr;
        json_t *j = json_loads(line, 0, &jerr);
        cr_assert(j != NULL && json_is_object(j), "not a JSON line: %s (%s)", line, jerr.text);
        json_array_append_new(all, j);
    }
    return all;
}

static const char *field(json_t *line, const char *key) {
    const char *v = json_string_value(json_object_get(line, key));
    return v != NULL ? v : "";
}

Test(grpc_log, levels_are_kept_and_debug_is_dropped_at_info) {
    grpc_log_one("src/core/lib/surface/server.cc", 10, GPR_LOG_SEVERITY_ERROR, "an error");
    grpc_log_one("src/core/lib/surface/server.cc", 11, GPR_LOG_SEVERITY_INFO, "some info");
    grpc_log_one("src/core/lib/surface/server.cc", 12, GPR_LOG_SEVERITY_DEBUG, "chatter");
    json_t *all = logged_lines();
    cr_assert_eq(json_array_size(all), 2);
    json_t *e = json_array_get(all, 0), *i = json_array_get(all, 1);
    cr_expect_str_eq(field(e, "event"), "grpc");
    cr_expect_str_eq(field(e, "level"), "error");
    cr_expect_str_eq(field(e, "grpc_file"), "server.cc");
    cr_expect_eq(json_integer_value(json_object_get(e, "grpc_line")), 10);
    cr_expect_str_eq(field(e, "message"), "an error");
    cr_expect_str_eq(field(i, "level"), "info");
    json_decref(all);
}

Test(grpc_log, a_failed_handshake_is_one_refusal_event_with_the_verify_error) {
    grpc_log_one(TSI, 2006, GPR_LOG_SEVERITY_ERROR, "Certificate verify failed with code 10");
    grpc_log_one(TSI, 1501, GPR_LOG_SEVERITY_ERROR,
                 "Handshake failed with fatal error SSL_ERROR_SSL: error:0A000086:SSL "
                 "routines::certificate verify failed.");
    /* without a verify code before it: no verify_error */
    grpc_log_one(TSI, 1501, GPR_LOG_SEVERITY_ERROR,
                 "Handshake failed with fatal error SSL_ERROR_SSL: error:0A0000C7:SSL "
                 "routines::peer did not return a certificate.");
    json_t *all = logged_lines();
    cr_assert_eq(json_array_size(all), 2, "the verify code line was logged on its own");
    json_t *a = json_array_get(all, 0), *b = json_array_get(all, 1);
    cr_expect_str_eq(field(a, "event"), "tls_handshake_refused");
    cr_expect_str_eq(field(a, "level"), "warn");
    cr_expect_str_eq(field(a, "verify_error"), "certificate has expired");
    cr_expect_not_null(strstr(field(a, "reason"), "certificate verify failed"));
    cr_expect_str_eq(field(b, "event"), "tls_handshake_refused");
    cr_expect_null(json_object_get(b, "verify_error"));
    cr_expect_not_null(strstr(field(b, "reason"), "peer did not return a certificate"));
    json_decref(all);
}

Test(grpc_log, any_message_gives_one_valid_line) {
    size_t n = GRPC_LOG_MESSAGE_MAX * 3;
    char *big = malloc(n + 1);
    cr_assert_not_null(big);
    for (size_t i = 0; i < n; i++) big[i] = (char)(i % 7 == 0 ? 0xff : i % 5 == 0 ? '\n' : 'x');
    big[n] = '\0';
    grpc_log_one(NULL, 0, GPR_LOG_SEVERITY_ERROR, big);
    grpc_log_one("x.cc", 1, GPR_LOG_SEVERITY_ERROR, NULL);
    free(big);
    json_t *all = logged_lines();
    cr_assert_eq(json_array_size(all), 2);
    const char *m = field(json_array_get(all, 0), "message");
    cr_expect_eq(strlen(m), GRPC_LOG_MESSAGE_MAX);
    cr_expect_eq(strchr(m, '\n'), NULL);
    cr_expect_eq(m[0], '?');
    cr_expect_str_eq(field(json_array_get(all, 1), "message"), "");
    json_decref(all);
}
