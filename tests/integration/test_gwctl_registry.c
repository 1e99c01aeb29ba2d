/* test_gwctl_registry.c - gwctl as a registry uses it, against a real
 * federation (issue 11, items 1, 2, 5, 11): request ids printed before the
 * call and safe to repeat, transfer outcomes and deadlines, the uniform exit
 * codes (1 finding, 3 unreachable, 4 refused, 5 bad local credentials),
 * --json with amounts as strings, and --version. */
#include "gateway/config.h"
#include "gateway/rpc/grpc_lifetime.h"
#include "gateway/gwctl/gwctl.h"
#include "gateway/rpc/pbjson.h"
#include "tests/support/gateway_harness.h"
#include "tests/support/proc.h"
#include "tests/support/registry_client.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TJ 0
#define BJ 1
/* The exit codes are a contract with scripts: the numbers, not gwctl.h's names. */
#define EXIT_FINDING 1
#define EXIT_UNREACHABLE 3
#define EXIT_REFUSED 4
#define EXIT_CREDENTIALS 5
#define ARGS_MAX 40
#define RUN_TIMEOUT_MS 90000

static federation_t *fed;

static void start(int regions_n, int leg_expiry_ms) {
    grpc_lifetime_begin();
    federation_options_t o = {.regions_n = regions_n, .leg_expiry_ms = leg_expiry_ms};
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
}

static void stop_all(void) {
    federation_free(fed);
    fed = NULL;
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

typedef struct {
    int status;
    char *out;
    char *err;
} run_t;

static void run_free(run_t *r) {
    free(r->out);
    free(r->err);
}

/* Runs BINARY_DIR/gwctl with the NULL-terminated arguments. */
static run_t run_argv(const char *const *args) {
    const char *argv[ARGS_MAX + 2];
    int n = 0;
    argv[n++] = BINARY_DIR "/gwctl";
    for (; args[n - 1] != NULL; n++) {
        cr_assert_lt(n, ARGS_MAX);
        argv[n] = args[n - 1];
    }
    argv[n] = NULL;
    run_t r = {-1, NULL, NULL};
    cr_assert_eq(harness_run(argv, RUN_TIMEOUT_MS, &r.status, &r.out, &r.err), 0, "gwctl did not run");
    return r;
}

/* gwctl COMMAND ARGS... --target 127.0.0.1:port --cert C --key K --ca PKI/ca.crt,
 * with C and K as given (full paths). The argument list ends with NULL. */
static run_t gwctl_with(int port, const char *cert, const char *key, const char *a0, ...) {
    const char *args[ARGS_MAX];
    int n = 0;
    args[n++] = a0;
    va_list ap;
    va_start(ap, a0);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        cr_assert_lt(n, ARGS_MAX - 10);
        args[n++] = a;
    }
    va_end(ap);
    static char target[64], ca[512];
    snprintf(target, sizeof target, "127.0.0.1:%d", port);
    snprintf(ca, sizeof ca, "%s/ca.crt", harness_pki_dir());
    args[n++] = "--target";
    args[n++] = target;
    args[n++] = "--cert";
    args[n++] = cert;
    args[n++] = "--key";
    args[n++] = key;
    args[n++] = "--ca";
    args[n++] = ca;
    args[n] = NULL;
    return run_argv(args);
}

/* PKI/<base>.crt or .key into a static buffer (two rotating slots each). */
static const char *pki_file(const char *base, const char *ext) {
    static char bufs[4][512];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, 512, "%s/%s.%s", harness_pki_dir(), base, ext);
    return b;
}

#define AS(role_base) pki_file(role_base, "crt"), pki_file(role_base, "key")

/* The 32-hex id printed on stderr after "<what> id ". */
static void id_from_stderr(const run_t *r, const char *what, char id[33]) {
    char needle[64];
    snprintf(needle, sizeof needle, "%s id ", what);
    const char *p = r->err != NULL ? strstr(r->err, needle) : NULL;
    cr_assert_not_null(p, "no '%s' on stderr: %s", needle, r->err ? r->err : "");
    p += strlen(needle);
    cr_assert_eq(strspn(p, "0123456789abcdef"), 32, "not an id: %.40s", p);
    memcpy(id, p, 32);
    id[32] = '\0';
}

static json_t *parse_one_document(const char *text) {
    json_error_t e;
    json_t *j = json_loads(text, 0, &e); /* fails on anything after the document */
    cr_assert_not_null(j, "not one JSON document (%s): %s", e.text, text);
    return j;
}

static void open_account(int i, const char *id) {
    client_status_t st;
    grpc_channel *ch = federation_channel(fed, i, i == TJ ? "CN-TJ-registry" : "CN-BJ-registry");
    cr_assert_eq(rc_open(ch, id, &st), GRPC_STATUS_OK, "%s", st.details);
}

/* gwctl issue of 420 units of TJ-GT-01 (19950 g) to acct with fingerprint
 * fp, with --id id unless it is NULL, and --json if json. */
static run_t issue(int port, const char *acct, const char *fp, const char *id, int json) {
    const char *opt1 = id != NULL ? "--id" : json ? "--json" : NULL;
    const char *opt2 = id != NULL ? id : NULL;
    const char *opt3 = id != NULL && json ? "--json" : NULL;
    return gwctl_with(port, AS("CN-TJ-registry"), "issue", "--account", acct, "--methodology",
                      "TJ-GT-01", "--vintage", "2026", "--quantity", "420", "--fingerprint", fp,
                      opt1, opt2, opt3, NULL);
}

/* ---- item 1: idempotency from gwctl --------------------------------------------- */

Test(gwctl_registry, issue_prints_its_id_before_calling_and_a_retry_returns_the_same_issuance,
     .timeout = 120) {
    start(1, 0);
    open_account(TJ, "acct-1");
    /* Nothing listens: the id is on stderr all the same, so a lost answer can be retried. */
    int dead = proc_free_tcp_port();
    run_t r = issue(dead, "acct-1", "fp-lost", NULL, 0);
    cr_assert_eq(r.status, EXIT_UNREACHABLE, "%d: %s", r.status, r.err);
    char id[33];
    id_from_stderr(&r, "issuance", id);
    cr_assert(strstr(r.err, "nothing accepts connections") != NULL, "%s", r.err);
    run_free(&r);

    /* The same id sent to the gateway: issued once, then the same answer. */
    int port = federation_port(fed, TJ);
    r = issue(port, "acct-1", "fp-lost", id, 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, id) != NULL, "the answer does not show the id: %s", r.out);
    /* One amount format for people, as gwctl trace and the README show it. */
    cr_assert(strstr(r.out, "issued 19 kg (19950 g) as block ") != NULL, "%s", r.out);
    char *first = strdup(r.out);
    run_free(&r);
    r = issue(port, "acct-1", "fp-lost", id, 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, first, "a retry with the same id gave another issuance");
    run_free(&r);
    free(first);
    grpc_channel *ch = federation_channel(fed, TJ, "CN-TJ-registry");
    cr_assert_eq(rc_total_g(ch, "acct-1"), 19950, "issued more than once");

    /* --json without --id: the id is on stderr before the call and in the document. */
    r = issue(port, "acct-1", "fp-json", NULL, 1);
    cr_assert_eq(r.status, 0, "%s", r.err);
    id_from_stderr(&r, "issuance", id);
    json_t *doc = parse_one_document(r.out);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "issuance_id")), id, "%s", r.out);
    json_t *amount = json_object_get(doc, "amount");
    cr_assert(json_is_string(json_object_get(amount, "grams")), "grams not a string: %s", r.out);
    cr_assert_str_eq(json_string_value(json_object_get(amount, "grams")), "19950");
    json_decref(doc);
    run_free(&r);
    stop_all();
}

Test(gwctl_registry, retire_prints_its_id_before_calling_and_a_retry_retires_once, .timeout = 120) {
    start(1, 0);
    open_account(TJ, "acct-r");
    int port = federation_port(fed, TJ);
    run_t r = issue(port, "acct-r", "fp-r", NULL, 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    int dead = proc_free_tcp_port();
    r = gwctl_with(dead, AS("CN-TJ-registry"), "retire", "--account", "acct-r", "--amount", "5",
                   "--purpose", "voluntary_neutrality", "--beneficiary", "Acme", NULL);
    cr_assert_eq(r.status, EXIT_UNREACHABLE, "%d: %s", r.status, r.err);
    char id[33];
    id_from_stderr(&r, "retirement", id);
    cr_assert(strstr(r.err, "--id") != NULL, "%s", r.err);
    run_free(&r);
    grpc_channel *ch = federation_channel(fed, TJ, "CN-TJ-registry");
    uint64_t before = rc_total_g(ch, "acct-r");
    char *first = NULL;
    for (int k = 0; k < 2; k++) {
        r = gwctl_with(port, AS("CN-TJ-registry"), "retire", "--account", "acct-r", "--amount", "5",
                       "--purpose", "voluntary_neutrality", "--beneficiary", "Acme", "--id", id,
                       "--json", NULL);
        cr_assert_eq(r.status, 0, "%s", r.err);
        json_t *doc = parse_one_document(r.out);
        cr_assert_str_eq(json_string_value(json_object_get(doc, "retirement_id")), id);
        cr_assert(json_is_string(json_object_get(json_object_get(doc, "amount"), "grams")), "%s", r.out);
        json_decref(doc);
        if (k == 0)
            first = strdup(r.out);
        else
            cr_assert_str_eq(r.out, first, "the retry answered differently");
        run_free(&r);
    }
    free(first);
    uint64_t after = rc_total_g(ch, "acct-r");
    cr_assert_lt(after, before);
    cr_assert_eq(before - after, 5000, "retired %llu g, not once 5 kg", (unsigned long long)(before - after));
    stop_all();
}

Test(gwctl_registry, transfer_json_exits_1_on_aborted_and_shows_its_id, .timeout = 120) {
    start(2, 0);
    open_account(TJ, "tj-a");
    int port = federation_port(fed, TJ);
    run_t r = issue(port, "tj-a", "fp-t", NULL, 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    /* bj-nobody is not open in CN-BJ: the destination votes no. */
    r = gwctl_with(port, AS("CN-TJ-registry"), "transfer", "--from", "tj-a", "--to-region", "CN-BJ",
                   "--to", "bj-nobody", "--methodology", "TJ-GT-01", "--amount", "1", "--json", NULL);
    cr_assert_eq(r.status, EXIT_FINDING, "ABORTED must exit 1 under --json: %d %s", r.status, r.out);
    char id[33];
    id_from_stderr(&r, "transfer", id);
    json_t *doc = parse_one_document(r.out);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "transfer_id")), id);
    json_t *t = json_object_get(doc, "transfer");
    cr_assert_str_eq(json_string_value(json_object_get(t, "outcome")), "TRANSFER_OUTCOME_ABORTED", "%s", r.out);
    cr_assert(json_is_string(json_object_get(json_object_get(t, "quote"), "credited_g")), "%s", r.out);
    json_decref(doc);
    run_free(&r);
    stop_all();
}

/* ---- item 2: deadlines ---------------------------------------------------------------- */

Test(gwctl_registry, transfer_default_deadline_outlasts_the_leg_expiry) {
#ifndef GWCTL_TRANSFER_TIMEOUT_MS_DEFAULT
    cr_assert_fail("gwctl has no transfer deadline of its own (GWCTL_TRANSFER_TIMEOUT_MS_DEFAULT)");
#else
    gateway_config_t cfg;
    config_defaults(&cfg);
    cr_assert_gt(GWCTL_TRANSFER_TIMEOUT_MS_DEFAULT,
                 (long)CONFIG_LEG_EXPIRY_MS_MAX + (long)cfg.peer_timeout_ms,
                 "gwctl transfer would give up before a leg of the longest expiry is decided");
    cr_assert_geq(GWCTL_TIMEOUT_MS_MAX, GWCTL_TRANSFER_TIMEOUT_MS_DEFAULT);
    const char *args[] = {"transfer", "--help", NULL};
    run_t r = run_argv(args);
    cr_assert_eq(r.status, 0);
    char want[32];
    snprintf(want, sizeof want, "%ld ms", (long)GWCTL_TRANSFER_TIMEOUT_MS_DEFAULT);
    cr_assert(strstr(r.out, want) != NULL, "--help does not state the default: %s", r.out);
    run_free(&r);
#endif
}

Test(gwctl_registry, transfer_with_a_peer_down_waits_for_its_outcome_or_says_how_to_ask,
     .timeout = 180) {
    start(2, 12000); /* longer than the old 10 s default deadline */
    open_account(TJ, "tj-a");
    open_account(BJ, "bj-b");
    int port = federation_port(fed, TJ);
    run_t r = issue(port, "tj-a", "fp-d", NULL, 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    cr_assert_eq(federation_kill9(fed, BJ), 0);

    /* A short deadline: exit 3, "may still be pending", and the exact command to ask.
     * (Sent first, so that its leg expires while the next transfer waits.) */
    r = gwctl_with(port, AS("CN-TJ-registry"), "transfer", "--from", "tj-a", "--to-region", "CN-BJ",
                   "--to", "bj-b", "--methodology", "TJ-GT-01", "--amount", "1", "--timeout-ms",
                   "1000", NULL);
    cr_assert_eq(r.status, EXIT_UNREACHABLE, "%d: %s", r.status, r.err);
    char id[33];
    id_from_stderr(&r, "transfer", id);
    cr_assert(strstr(r.err, "DEADLINE_EXCEEDED") != NULL && strstr(r.err, "may still be pending") != NULL,
              "%s", r.err);
    const char *cmd = strstr(r.err, "gwctl get-transfer --id ");
    cr_assert_not_null(cmd, "no get-transfer command: %s", r.err);
    char line[2048];
    size_t len = strcspn(cmd, "\n");
    cr_assert_lt(len, sizeof line);
    memcpy(line, cmd, len);
    line[len] = '\0';
    cr_assert(strstr(line, id) != NULL, "%s", line);
    run_free(&r);

    /* The default deadline is not cut short: the leg expires, the outcome is ABORTED. */
    long long t0 = proc_now_ms();
    r = gwctl_with(port, AS("CN-TJ-registry"), "transfer", "--from", "tj-a", "--to-region", "CN-BJ",
                   "--to", "bj-b", "--methodology", "TJ-GT-01", "--amount", "1", NULL);
    cr_assert_eq(r.status, EXIT_FINDING, "%d after %lld ms: %s%s", r.status, proc_now_ms() - t0,
                 r.out, r.err);
    cr_assert(strstr(r.out, "ABORTED reason PEER_UNAVAILABLE") != NULL, "%s", r.out);
    run_free(&r);

    /* The printed command, as printed (no word needs quoting here), after the expiry. */
    const char *words[ARGS_MAX];
    int n = 0;
    for (char *save = NULL, *w = strtok_r(line + strlen("gwctl "), " ", &save); w != NULL;
         w = strtok_r(NULL, " ", &save)) {
        cr_assert_lt(n, ARGS_MAX - 1);
        words[n++] = w;
    }
    words[n] = NULL;
    /* Its leg expired about when the transfer above ended: ask until the abort
     * is recorded (at most 30 s more). */
    long long until = proc_now_ms() + 30000;
    for (r = run_argv(words); r.status == 0 && strstr(r.out, "ABORTED") == NULL && proc_now_ms() < until;
         r = run_argv(words)) {
        run_free(&r);
        proc_sleep_ms(250);
    }
    cr_assert_eq(r.status, 0, "%d: %s", r.status, r.err);
    cr_assert(strstr(r.out, id) != NULL && strstr(r.out, "ABORTED") != NULL, "%s", r.out);
    run_free(&r);
    stop_all();
}

/* ---- items 5, 11: exit codes -------------------------------------------------------- */

/* Runs `gwctl account` with cert/key; expects exit 5, a message holding
 * `says`, and nothing from gRPC's internals. */
static void expect_bad_credentials(const char *cert, const char *key, const char *says) {
    run_t r = gwctl_with(federation_port(fed, TJ), cert, key, "account", "--id", "acct-1", NULL);
    cr_assert_eq(r.status, EXIT_CREDENTIALS, "%s: exit %d: %s", cert, r.status, r.err);
    cr_assert(strstr(r.err, says) != NULL, "%s: expected '%s' in: %s", cert, says, r.err);
    cr_assert(strstr(r.err, "UNAVAILABLE") == NULL && strstr(r.err, ".cc:") == NULL,
              "gRPC's own output: %s", r.err);
    run_free(&r);
}

Test(gwctl_registry, bad_local_credentials_exit_5_and_say_what_is_wrong, .timeout = 120) {
    start(1, 0);
    open_account(TJ, "acct-1");
    expect_bad_credentials(AS("expired-registry"), "expired on");
    expect_bad_credentials(pki_file("CN-TJ-registry", "crt"), pki_file("CN-TJ-operator", "key"),
                           "does not belong to the certificate");
    expect_bad_credentials(AS("untrusted-registry"), "does not verify against the CA");
    expect_bad_credentials(pki_file("no-such", "crt"), pki_file("CN-TJ-registry", "key"),
                           "No such file or directory");
    expect_bad_credentials(pki_file("CN-TJ-registry", "key"), pki_file("CN-TJ-registry", "key"),
                           "not a PEM certificate");
    /* The good pair works, so the failures above were the credentials. */
    run_t r = gwctl_with(federation_port(fed, TJ), AS("CN-TJ-registry"), "account", "--id", "acct-1",
                         "--json", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    json_t *doc = parse_one_document(r.out);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "total"), "grams")), "0");
    json_decref(doc);
    run_free(&r);
    stop_all();
}

Test(gwctl_registry, refusals_exit_4_and_a_refused_handshake_is_not_an_outage, .timeout = 120) {
    start(1, 0);
    int port = federation_port(fed, TJ);
    /* An operator certificate may not call Registry: PERMISSION_DENIED. */
    run_t r = gwctl_with(port, AS("CN-TJ-operator"), "account", "--id", "acct-1", NULL);
    cr_assert_eq(r.status, EXIT_REFUSED, "%d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "PERMISSION_DENIED") != NULL, "%s", r.err);
    run_free(&r);
    /* An account that is not open: NOT_FOUND, with --json as one error document. */
    r = gwctl_with(port, AS("CN-TJ-registry"), "account", "--id", "nobody", "--json", NULL);
    cr_assert_eq(r.status, EXIT_REFUSED, "%d: %s", r.status, r.err);
    json_t *doc = parse_one_document(r.out);
    json_t *e = json_object_get(doc, "error");
    cr_assert_not_null(e, "%s", r.out);
    cr_assert_eq(json_integer_value(json_object_get(e, "exit_code")), EXIT_REFUSED);
    json_decref(doc);
    run_free(&r);
    /* A revoked certificate passes the local checks; the gateway refuses the
     * handshake: refused (4) with the likely causes, not "unreachable" (3). */
    r = gwctl_with(port, AS("revoked-registry"), "account", "--id", "acct-1", NULL);
    cr_assert_eq(r.status, EXIT_REFUSED, "%d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "TLS handshake failed") != NULL && strstr(r.err, "revoked") != NULL, "%s",
              r.err);
    run_free(&r);
    /* The same with nothing listening: unreachable. */
    r = gwctl_with(proc_free_tcp_port(), AS("CN-TJ-registry"), "account", "--id", "acct-1", NULL);
    cr_assert_eq(r.status, EXIT_UNREACHABLE, "%d: %s", r.status, r.err);
    run_free(&r);
    stop_all();
}

Test(gwctl_registry, version_is_printed) {
    const char *a1[] = {"--version", NULL};
    const char *a2[] = {"version", NULL};
    run_t r1 = run_argv(a1), r2 = run_argv(a2);
    cr_assert_eq(r1.status, 0);
    cr_assert_eq(r2.status, 0);
    cr_assert(strncmp(r1.out, "gwctl ", 6) == 0 && strlen(r1.out) > 7, "%s", r1.out);
    cr_assert_str_eq(r1.out, r2.out);
    /* --json: one JSON document, like every other command */
    const char *a3[] = {"version", "--json", NULL};
    run_t r3 = run_argv(a3);
    cr_assert_eq(r3.status, 0, "%s", r3.err);
    json_error_t jerr;
    json_t *doc = json_loads(r3.out, 0, &jerr);
    cr_assert_not_null(doc, "not JSON: %s", r3.out);
    cr_assert(strstr(r1.out, json_string_value(json_object_get(doc, "version"))) != NULL, "%s", r3.out);
    json_decref(doc);
    run_free(&r1);
    run_free(&r2);
    run_free(&r3);
}

/* ---- item 11: the JSON printer ---------------------------------------------------------- */

Test(gwctl_registry, json_printer_nests_repeats_and_prints_64_bit_integers_as_strings) {
    Carbon__V1__Amount total = CARBON__V1__AMOUNT__INIT, bal_amount = CARBON__V1__AMOUNT__INIT;
    total.grams = UINT64_MAX;
    total.unit = "kg";
    bal_amount.grams = 19950;
    Carbon__V1__Balance b0 = CARBON__V1__BALANCE__INIT, b1 = CARBON__V1__BALANCE__INIT;
    b0.origin_region = "CN-TJ";
    b0.vintage_year = 2026;
    b0.amount = &bal_amount;
    b1.origin_region = "CN-BJ";
    Carbon__V1__Balance *balances[] = {&b0, &b1};
    Carbon__V1__GetAccountResponse r = CARBON__V1__GET_ACCOUNT_RESPONSE__INIT;
    r.account = "CN-TJ/a";
    r.total = &total;
    r.n_balances = 2;
    r.balances = balances;
    json_t *j = pbjson_message(&r.base);
    char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    cr_assert_str_eq(text,
                     "{\"account\":\"CN-TJ/a\",\"holder_kind\":\"\","
                     "\"total\":{\"grams\":\"18446744073709551615\",\"units\":\"0\","
                     "\"remainder_g\":\"0\",\"unit\":\"kg\",\"unit_g\":\"0\"},"
                     "\"balances\":[{\"origin_region\":\"CN-TJ\",\"methodology_id\":\"\","
                     "\"vintage_year\":2026,\"amount\":{\"grams\":\"19950\",\"units\":\"0\","
                     "\"remainder_g\":\"0\",\"unit\":\"\",\"unit_g\":\"0\"}},"
                     "{\"origin_region\":\"CN-BJ\",\"methodology_id\":\"\",\"vintage_year\":0,"
                     "\"amount\":null}],"
                     "\"blocks\":[],\"held\":null,\"pending\":null,\"blocks_truncated\":false}");
    free(text);
    json_decref(j);
}
