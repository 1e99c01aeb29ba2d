/* test_reload.c - SIGHUP reloads gatewayd's certificate, key, CA and CRLs
 * (gateway/tls.h) without cutting what is established (issue 6 item 3).
 *
 * Each test starts a federation (tests/support/gateway_harness.h), gives the
 * CN-TJ gateway a private copy of the development PKI (so that revoking in it
 * touches no other test), points its [tls] settings at the copy and restarts
 * it (the test of peer connections gives CN-BJ the same copy). Revocations
 * use certs/revoke.sh, as an operator would. Clients still present the files
 * of BINARY_DIR/pki: the same certificates as in the copy. */
#include <criterion/criterion.h>

#include <grpc/grpc_security.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "carbon/v1/carbon.pb-c.h"
#include "gateway/rpc/client.h"
#include "gateway/rpc/grpc_lifetime.h"
#include "tests/support/registry_client.h"
#include "tests/support/gateway_harness.h"
#include "tests/support/proc.h"

#define TEST_TIMEOUT_S 90
#define CALL_TIMEOUT_MS 5000
#define RELOAD_TIMEOUT_MS 10000
/* gateway/tls.h TLS_REFRESH_INTERVAL_S is 1: a published certificate is in
 * use within about a second; allow for a slow (sanitized) machine. */
#define IDENTITY_TIMEOUT_MS 8000
#define SERVING 1

#define TJ 0
#define BJ 1

static federation_t *g_fed;
static char g_pki[4096]; /* the CN-TJ gateway's private PKI copy */

static void suite_init(void) { grpc_lifetime_begin(); }

static void suite_fini(void) {
    federation_free(g_fed);
    g_fed = NULL;
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

TestSuite(reload, .init = suite_init, .fini = suite_fini, .timeout = TEST_TIMEOUT_S);

/* ---- helpers -------------------------------------------------------------------- */

/* Runs a bash script; asserts it exits 0. */
static void sh(const char *script) {
    const char *argv[] = {"/bin/bash", "-c", script, NULL};
    int status = -1;
    char *out = NULL, *err = NULL;
    int rc = harness_run(argv, 30000, &status, &out, &err);
    cr_assert_eq(rc, 0, "harness_run: %s", federation_last_error());
    cr_assert_eq(status, 0, "script failed (%d):\n%s\nstdout:\n%s\nstderr:\n%s", status, script,
                 out ? out : "", err ? err : "");
    free(out);
    free(err);
}

static void shf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void shf(const char *fmt, ...) {
    char script[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(script, sizeof script, fmt, ap);
    va_end(ap);
    cr_assert(n > 0 && (size_t)n < sizeof script, "script too long");
    sh(script);
}

static int log_count(int i, const char *needle) {
    int n = federation_log_count(g_fed, i, needle);
    cr_assert_geq(n, 0, "cannot read %s", federation_log_path(g_fed, i));
    return n;
}

/* Copies BINARY_DIR/pki into the federation dir (once per federation),
 * points instance i's [tls] cert, key, ca and crl_dir at the copy and
 * restarts it. */
static void use_private_pki(int i) {
    snprintf(g_pki, sizeof g_pki, "%s/pki-copy", federation_dir(g_fed));
    if (access(g_pki, F_OK) != 0) shf("cp -a '%s' '%s'", harness_pki_dir(), g_pki);
    static const char *const keys[] = {"cert = ", "key = ", "ca = ", "crl_dir = "};
    int rewritten = 0;
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        int n = federation_config_edit(g_fed, i, keys[k], harness_pki_dir(), g_pki);
        cr_assert_geq(n, 0, "%s", federation_last_error());
        rewritten += n;
    }
    cr_assert_eq(rewritten, 4, "%s: rewrote %d of the 4 [tls] paths",
                 federation_config_path(g_fed, i), rewritten);
    cr_assert_eq(federation_restart(g_fed, i), 0, "restart: %s", federation_last_error());
    cr_assert_eq(log_count(i, "\"event\":\"tls_loaded\""), 2, "no tls_loaded line after restart");
}

static federation_t *start(int regions_n) {
    federation_options_t o = {.regions_n = regions_n};
    g_fed = federation_start(&o);
    cr_assert_not_null(g_fed, "federation_start: %s", federation_last_error());
    use_private_pki(TJ);
    return g_fed;
}

/* Writes a new key and certificate for the CN-TJ gateway into the copy under
 * the same names (same identity, a new serial), keeping the previous
 * certificate as pki-copy/old.crt; gatewayd is not told. */
static void rotate_tj_gateway_certificate(void) {
    shf("set -e; cd '%s'\n"
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
        " -keyout new.key -out new.crt -CA ca.crt -CAkey ca.key -days 30"
        " -subj '/O=JJJ Carbon/OU=CN-TJ/CN=CN-TJ gateway (rotated)'"
        " -addext 'basicConstraints=critical,CA:false'"
        " -addext 'keyUsage=critical,digitalSignature'"
        " -addext 'extendedKeyUsage=serverAuth,clientAuth'"
        " -addext 'subjectAltName=URI:spiffe://jjj.carbon/CN-TJ/gateway/gw1,DNS:localhost,IP:127.0.0.1'"
        " 2>/dev/null\n"
        "cp CN-TJ-gateway.crt old.crt; cp new.key CN-TJ-gateway.key; cp new.crt CN-TJ-gateway.crt",
        g_pki);
}

/* Revokes pki-copy/<base>.crt with certs/revoke.sh. */
static void revoke_cert(const char *base) {
    shf("'%s/certs/revoke.sh' '%s' '%s/%s.crt' >/dev/null", SOURCE_DIR, g_pki, g_pki, base);
}

/* SIGHUP to instance i; waits until the whole reload is logged (TLS, then
 * the catalogs); returns 1 if TLS logged "tls_reloaded", 0 if
 * "tls_reload_failed". */
static int sighup(int i) {
    int ok0 = log_count(i, "\"event\":\"tls_reloaded\"");
    int bad0 = log_count(i, "\"event\":\"tls_reload_failed\"");
    int cat0 = log_count(i, "\"event\":\"catalog");
    cr_assert_eq(kill(federation_pid(g_fed, i), SIGHUP), 0);
    long long deadline = proc_now_ms() + RELOAD_TIMEOUT_MS;
    for (;;) {
        int ok = log_count(i, "\"event\":\"tls_reloaded\"");
        int bad = log_count(i, "\"event\":\"tls_reload_failed\"");
        int cat = log_count(i, "\"event\":\"catalog");
        if ((ok > ok0 || bad > bad0) && cat > cat0) return ok > ok0;
        cr_assert_lt(proc_now_ms(), deadline, "no TLS reload logged after SIGHUP");
        usleep(20 * 1000);
    }
}

/* Health/Check on a NEW connection presenting cert_base. */
static grpc_status_code health_new(int i, const char *cert_base) {
    grpc_channel *ch = harness_channel_to(federation_port(g_fed, i), cert_base);
    cr_assert_not_null(ch, "%s", federation_last_error());
    int serving = -1;
    grpc_status_code code = harness_health(ch, CALL_TIMEOUT_MS, &serving);
    if (code == GRPC_STATUS_OK) cr_expect_eq(serving, SERVING, "%s: not SERVING", cert_base);
    grpc_channel_destroy(ch);
    return code;
}

static void expect_new_connection(int i, const char *cert_base, grpc_status_code want,
                                  const char *when) {
    grpc_status_code code = health_new(i, cert_base);
    cr_expect_eq(code, want, "%s: a new connection with %s: Health/Check %s, want %s", when,
                 cert_base, client_status_name(code), client_status_name(want));
}

/* An established connection, and a watch on its state: if the connection is
 * ever cut, the watch fires. */
typedef struct {
    grpc_channel *ch;
    grpc_completion_queue *cq;
} established_t;

static established_t establish(int i, const char *cert_base) {
    established_t e = {harness_channel_to(federation_port(g_fed, i), cert_base),
                       grpc_completion_queue_create_for_next(NULL)};
    cr_assert_not_null(e.ch);
    int serving = -1;
    cr_assert_eq(harness_health(e.ch, CALL_TIMEOUT_MS, &serving), GRPC_STATUS_OK);
    cr_assert_eq(grpc_channel_check_connectivity_state(e.ch, 0), GRPC_CHANNEL_READY);
    grpc_channel_watch_connectivity_state(e.ch, GRPC_CHANNEL_READY,
                                          gpr_inf_future(GPR_CLOCK_MONOTONIC), e.cq, NULL);
    return e;
}

/* Expects e never left READY and still serves calls; then closes it. */
static void expect_still_established(established_t *e, const char *what) {
    grpc_event ev = grpc_completion_queue_next(e->cq, gpr_time_0(GPR_CLOCK_MONOTONIC), NULL);
    cr_expect_eq(ev.type, GRPC_QUEUE_TIMEOUT, "%s: the established connection changed state", what);
    cr_expect_eq(grpc_channel_check_connectivity_state(e->ch, 0), GRPC_CHANNEL_READY,
                 "%s: the established connection is no longer READY", what);
    int serving = -1;
    grpc_status_code code = harness_health(e->ch, CALL_TIMEOUT_MS, &serving);
    cr_expect_eq(code, GRPC_STATUS_OK, "%s: a call on the established connection: %s", what,
                 client_status_name(code));
    ev = grpc_completion_queue_next(e->cq, gpr_time_0(GPR_CLOCK_MONOTONIC), NULL);
    cr_expect_eq(ev.type, GRPC_QUEUE_TIMEOUT, "%s: the established connection reconnected", what);
    grpc_channel_destroy(e->ch); /* completes the watch */
    grpc_completion_queue_shutdown(e->cq);
    while (grpc_completion_queue_next(e->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(e->cq);
}

/* The certificate the gateway presents on a new connection (PEM, malloc'd). */
static char *server_certificate(int i) {
    grpc_channel *ch = harness_channel_to(federation_port(g_fed, i), "CN-TJ-operator");
    cr_assert_not_null(ch);
    cr_assert_eq(harness_channel_wait_ready(ch, CALL_TIMEOUT_MS), 0, "no connection");
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_slice method = grpc_slice_from_static_string("/grpc.health.v1.Health/Check");
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                                         gpr_time_from_millis(CALL_TIMEOUT_MS, GPR_TIMESPAN));
    grpc_call *call =
        grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL, deadline, NULL);
    grpc_slice empty = grpc_empty_slice();
    grpc_byte_buffer *req = grpc_raw_byte_buffer_create(&empty, 1);
    grpc_metadata_array md, trailing;
    grpc_metadata_array_init(&md);
    grpc_metadata_array_init(&trailing);
    grpc_byte_buffer *resp = NULL;
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = req;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &resp;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;
    int tag = 0;
    cr_assert_eq(grpc_call_start_batch(call, ops, 6, &tag, NULL), GRPC_CALL_OK);
    grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    cr_assert_eq(status, GRPC_STATUS_OK, "Health/Check: %s", client_status_name(status));
    char *pem = NULL;
    grpc_auth_context *ctx = grpc_call_auth_context(call);
    cr_assert_not_null(ctx);
    grpc_auth_property_iterator it =
        grpc_auth_context_find_properties_by_name(ctx, GRPC_X509_PEM_CERT_PROPERTY_NAME);
    const grpc_auth_property *p = grpc_auth_property_iterator_next(&it);
    cr_assert_not_null(p, "no x509_pem_cert of the server");
    pem = strndup(p->value, p->value_length);
    grpc_auth_context_release(ctx);
    if (resp != NULL) grpc_byte_buffer_destroy(resp);
    grpc_byte_buffer_destroy(req);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&md);
    grpc_metadata_array_destroy(&trailing);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_destroy(cq);
    grpc_channel_destroy(ch);
    return pem;
}

static X509 *pem_cert(const char *pem) {
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *c = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    cr_assert_not_null(c, "not a PEM certificate");
    return c;
}

/* 1 if the gateway presents the certificate in file path. */
static int serves_certificate(int i, const char *path) {
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    X509 *want = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    cr_assert_not_null(want, "%s", path);
    char *pem = server_certificate(i);
    X509 *got = pem_cert(pem);
    int same = X509_cmp(want, got) == 0;
    X509_free(want);
    X509_free(got);
    free(pem);
    return same;
}

static void stop_expecting_clean_exits(void) {
    cr_assert_eq(federation_stop(g_fed), 0, "federation_stop: %s", federation_last_error());
    for (int i = 0; i < federation_instances(g_fed); i++)
        cr_expect_eq(federation_exit_status(g_fed, i), 0,
                     "%s (instance %d) ended with status %d (KEEP_TEST_DIRS=1 keeps its log)",
                     federation_region(g_fed, i), i, federation_exit_status(g_fed, i));
}

/* ---- revocation --------------------------------------------------------------------- */

Test(reload, revoked_on_sighup_refuses_new_connections_keeps_established) {
    start(1);
    expect_new_connection(TJ, "CN-TJ-registry", GRPC_STATUS_OK, "before revocation");
    expect_new_connection(TJ, "revoked-registry", GRPC_STATUS_UNAVAILABLE, "before revocation");
    established_t op = establish(TJ, "CN-TJ-operator");

    revoke_cert("CN-TJ-registry");
    int refused0 = log_count(TJ, "\"event\":\"peer_revoked\"");
    cr_assert(sighup(TJ), "the reload failed");
    cr_expect_eq(log_count(TJ, "\"revoked_serials\":2"), 1, "the reload did not count 2 revoked");
    cr_expect_eq(log_count(TJ, "\"event\":\"catalogs_reloaded\""), 1, "catalogs not reloaded");

    expect_new_connection(TJ, "CN-TJ-registry", GRPC_STATUS_UNAVAILABLE, "after SIGHUP");
    cr_expect_gt(log_count(TJ, "\"event\":\"peer_revoked\""), refused0,
                 "the refusal was not the gateway's CRL check");
    cr_expect_geq(log_count(TJ, "spiffe://jjj.carbon/CN-TJ/registry/reg1"), 1,
                  "the refusal does not name the peer");
    /* the others are still served, the one revoked before too stays refused */
    expect_new_connection(TJ, "CN-TJ-auditor", GRPC_STATUS_OK, "after SIGHUP");
    expect_new_connection(TJ, "CN-TJ-operator", GRPC_STATUS_OK, "after SIGHUP");
    expect_new_connection(TJ, "revoked-registry", GRPC_STATUS_UNAVAILABLE, "after SIGHUP");
    expect_new_connection(TJ, "untrusted-registry", GRPC_STATUS_UNAVAILABLE, "after SIGHUP");
    expect_new_connection(TJ, "expired-registry", GRPC_STATUS_UNAVAILABLE, "after SIGHUP");
    /* nothing established was cut */
    expect_still_established(&op, "CN-TJ-operator across the reload");
    stop_expecting_clean_exits();
}

Test(reload, bad_crl_keeps_previous_set) {
    start(1);
    revoke_cert("CN-TJ-registry");
    cr_assert(sighup(TJ), "the first reload failed");
    expect_new_connection(TJ, "CN-TJ-registry", GRPC_STATUS_UNAVAILABLE, "after revocation");

    /* 1. a corrupt CRL file in place of the good one */
    shf("cd '%s/crl' && for f in *.r0; do printf 'not a CRL\\n' > \"$f\"; done", g_pki);
    int refused0 = log_count(TJ, "\"event\":\"peer_revoked\"");
    cr_expect_not(sighup(TJ), "a corrupt CRL was accepted");
    cr_expect_eq(log_count(TJ, "not a CRL (PEM or DER)"), 1, "the error does not say why");
    cr_expect_eq(log_count(TJ, "\"crl\":\"kept\""), 1, "the failure does not say the CRLs were kept");
    /* the previous set is still enforced: by the gateway's own check (gRPC's
     * cached CRL never listed CN-TJ-registry) */
    expect_new_connection(TJ, "CN-TJ-registry", GRPC_STATUS_UNAVAILABLE, "after a corrupt CRL");
    cr_expect_gt(log_count(TJ, "\"event\":\"peer_revoked\""), refused0,
                 "the kept CRL set did not refuse CN-TJ-registry");
    expect_new_connection(TJ, "CN-TJ-operator", GRPC_STATUS_OK, "after a corrupt CRL");

    /* 2. a CRL signed by another CA, next to a good one */
    shf("set -e; p='%s'; cp \"$p/ca.crl\" \"$p/crl/$(openssl crl -in \"$p/ca.crl\" -noout -hash).r0\"\n"
        "x=\"$p/other-ca\"; mkdir \"$x\"; cp \"$p/untrusted-ca.crt\" \"$x/ca.crt\";"
        " cp \"$p/untrusted-ca.key\" \"$x/ca.key\"\n"
        "'%s/certs/revoke.sh' \"$x\" \"$p/untrusted-registry.crt\" >/dev/null\n"
        "cp \"$x/ca.crl\" \"$p/crl/other.crl\"",
        g_pki, SOURCE_DIR);
    cr_expect_not(sighup(TJ), "a CRL of an unknown CA was accepted");
    cr_expect_eq(log_count(TJ, "is not signed by a CA of the CA file"), 1,
                 "the error does not say why");
    expect_new_connection(TJ, "CN-TJ-registry", GRPC_STATUS_UNAVAILABLE, "after a foreign CRL");

    /* 3. fixed: the next SIGHUP loads the directory again */
    shf("rm -f '%s/crl/other.crl'", g_pki);
    cr_expect(sighup(TJ), "the fixed directory did not load");
    expect_new_connection(TJ, "CN-TJ-registry", GRPC_STATUS_UNAVAILABLE, "after the fix");
    expect_new_connection(TJ, "CN-TJ-operator", GRPC_STATUS_OK, "after the fix");
    stop_expecting_clean_exits();
}

Test(reload, revoked_peer_gateway_is_refused) {
    start(2);
    client_status_t st;
    Carbon__V1__HelloRequest req = CARBON__V1__HELLO_REQUEST__INIT;
    req.protocol_version = 1;
    req.region = "CN-BJ";
    grpc_channel *ch = harness_channel_to(federation_port(g_fed, TJ), "CN-BJ-gateway");
    client_call(ch, "/carbon.v1.Federation/Hello", &req.base,
                &carbon__v1__hello_response__descriptor, NULL, CALL_TIMEOUT_MS, &st);
    cr_expect_eq(st.code, GRPC_STATUS_OK, "Hello from CN-BJ-gateway: %s (%s)",
                 client_status_name(st.code), st.details);
    grpc_channel_destroy(ch);

    revoke_cert("CN-BJ-gateway");
    cr_assert(sighup(TJ), "the reload failed");
    ch = harness_channel_to(federation_port(g_fed, TJ), "CN-BJ-gateway");
    client_call(ch, "/carbon.v1.Federation/Hello", &req.base,
                &carbon__v1__hello_response__descriptor, NULL, CALL_TIMEOUT_MS, &st);
    cr_expect_eq(st.code, GRPC_STATUS_UNAVAILABLE, "Hello from revoked CN-BJ-gateway: %s (%s)",
                 client_status_name(st.code), st.details);
    grpc_channel_destroy(ch);
    cr_expect_geq(log_count(TJ, "spiffe://jjj.carbon/CN-BJ/gateway/gw1"), 1,
                  "the refusal does not name the peer");
    expect_new_connection(TJ, "CN-TJ-registry", GRPC_STATUS_OK, "after revoking CN-BJ-gateway");
    stop_expecting_clean_exits();
}

/* ---- certificate, key and CA ------------------------------------------------------------ */

Test(reload, certificate_key_and_ca_reload_on_sighup_only) {
    start(1);
    char crt[4200], key[4200];
    snprintf(crt, sizeof crt, "%s/CN-TJ-gateway.crt", g_pki);
    snprintf(key, sizeof key, "%s/CN-TJ-gateway.key", g_pki);
    cr_assert(serves_certificate(TJ, crt), "the gateway does not present its certificate");
    established_t op = establish(TJ, "CN-TJ-operator");

    /* A new key and certificate for the gateway (same names), and a CA bundle
     * that also trusts the "untrusted" CA, written without telling gatewayd. */
    rotate_tj_gateway_certificate();
    shf("cat '%s/untrusted-ca.crt' >> '%s/ca.crt'", g_pki, g_pki);
    sleep(2); /* > TLS_REFRESH_INTERVAL_S: gRPC would have seen files it watched */
    char old[4200];
    snprintf(old, sizeof old, "%s/old.crt", g_pki);
    cr_expect(serves_certificate(TJ, old), "the certificate changed before SIGHUP");
    expect_new_connection(TJ, "untrusted-registry", GRPC_STATUS_UNAVAILABLE, "before SIGHUP");

    cr_assert(sighup(TJ), "the reload failed");
    cr_expect_eq(log_count(TJ, "\"certificate\":\"updated\",\"ca\":\"updated\""), 1,
                 "the reload does not say certificate and CA were updated");
    long long deadline = proc_now_ms() + IDENTITY_TIMEOUT_MS;
    while (!serves_certificate(TJ, crt)) {
        cr_assert_lt(proc_now_ms(), deadline, "the new certificate is not in use after SIGHUP");
        usleep(200 * 1000);
    }
    expect_new_connection(TJ, "untrusted-registry", GRPC_STATUS_OK, "after the CA reload");
    expect_new_connection(TJ, "CN-TJ-registry", GRPC_STATUS_OK, "after the reload");

    /* A key that does not match the certificate is refused: the rotated pair
     * stays in use, new connections still work. */
    shf("cp '%s/CN-HE-gateway.key' '%s'", g_pki, key);
    cr_expect_not(sighup(TJ), "a mismatched key was accepted");
    cr_expect_eq(log_count(TJ, "private key does not match certificate"), 1,
                 "the error does not say why");
    cr_expect_eq(log_count(TJ, "\"certificate\":\"kept\""), 1, "the failure does not say kept");
    sleep(2);
    cr_expect(serves_certificate(TJ, crt), "the gateway stopped presenting its certificate");
    expect_new_connection(TJ, "CN-TJ-registry", GRPC_STATUS_OK, "after a bad key");
    expect_still_established(&op, "CN-TJ-operator across the reloads");
    stop_expecting_clean_exits();
}

/* ---- the gateway's own certificate towards its peers ------------------------------------ */

/* Transfers 1 kg from CN-TJ/tj-a to CN-BJ/bj-b and returns the outcome. */
static int transfer_tj_to_bj(grpc_channel *reg_tj) {
    char tid[33];
    rc_new_id(tid);
    Carbon__V1__TransferResponse *r = NULL;
    client_status_t st;
    cr_assert_eq(rc_transfer(reg_tj, tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 1, &r, &st),
                 GRPC_STATUS_OK, "transfer: %s", st.details);
    int outcome = r->transfer->outcome;
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return outcome;
}

/* After a rotation and SIGHUP, the gateway presents its new certificate on
 * its new connections to peers too, not only as a server: with the old one
 * revoked at the peer, transfers to that peer still settle. */
Test(reload, peer_connections_present_the_reloaded_certificate) {
    federation_options_t o = {.regions_n = 2, .leg_expiry_ms = 10000};
    g_fed = federation_start(&o);
    cr_assert_not_null(g_fed, "federation_start: %s", federation_last_error());
    use_private_pki(TJ);
    use_private_pki(BJ); /* the same copy: BJ's CRLs are where the revocation goes */
    grpc_channel *reg_tj = federation_channel(g_fed, TJ, "CN-TJ-registry");
    grpc_channel *reg_bj = federation_channel(g_fed, BJ, "CN-BJ-registry");
    cr_assert(reg_tj != NULL && reg_bj != NULL, "%s", federation_last_error());
    client_status_t st;
    cr_assert_eq(rc_open(reg_tj, "tj-a", &st), GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(rc_open(reg_bj, "bj-b", &st), GRPC_STATUS_OK, "%s", st.details);
    char iid[33];
    rc_new_id(iid);
    cr_assert_eq(rc_issue(reg_tj, iid, "tj-a", "TJ-GT-01", 1000000, "reload-peer-fp", NULL, &st),
                 GRPC_STATUS_OK, "issue: %s", st.details);
    cr_assert_eq(transfer_tj_to_bj(reg_tj), CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED,
                 "a transfer before the rotation did not commit");

    /* Rotate Tianjin's certificate, revoke the old one, reload both. */
    rotate_tj_gateway_certificate();
    char old[4200];
    snprintf(old, sizeof old, "%s/old.crt", g_pki);
    shf("'%s/certs/revoke.sh' '%s' '%s' >/dev/null", SOURCE_DIR, g_pki, old);
    cr_assert(sighup(TJ), "CN-TJ's reload failed");
    cr_assert(sighup(BJ), "CN-BJ's reload failed");
    char crt[4200];
    snprintf(crt, sizeof crt, "%s/CN-TJ-gateway.crt", g_pki);
    long long deadline = proc_now_ms() + IDENTITY_TIMEOUT_MS;
    while (!serves_certificate(TJ, crt)) {
        cr_assert_lt(proc_now_ms(), deadline, "the new certificate is not in use after SIGHUP");
        usleep(200 * 1000);
    }
    sleep(2); /* > TLS_REFRESH_INTERVAL_S for the peer channels' file watcher too */
    /* The old certificate is refused at Beijing on a new connection... */
    grpc_channel *ch = harness_channel_to(federation_port(g_fed, BJ), "CN-TJ-gateway");
    cr_assert_not_null(ch, "%s", federation_last_error());
    Carbon__V1__HelloRequest hello = CARBON__V1__HELLO_REQUEST__INIT;
    hello.protocol_version = 1;
    hello.region = "CN-TJ";
    client_call(ch, "/carbon.v1.Federation/Hello", &hello.base,
                &carbon__v1__hello_response__descriptor, NULL, CALL_TIMEOUT_MS, &st);
    cr_expect_eq(st.code, GRPC_STATUS_UNAVAILABLE, "Hello with the revoked certificate: %s (%s)",
                 client_status_name(st.code), st.details);
    grpc_channel_destroy(ch);

    /* ...so after Beijing restarts (Tianjin's connection to it is new), a
     * transfer settles only if Tianjin presents the rotated certificate. */
    cr_assert_eq(federation_restart(g_fed, BJ), 0, "restart: %s", federation_last_error());
    cr_expect_eq(transfer_tj_to_bj(reg_tj), CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED,
                 "a transfer after the rotation did not commit: Tianjin presented its old "
                 "certificate to Beijing");
    stop_expecting_clean_exits();
}

