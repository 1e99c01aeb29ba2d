/* test_gateway_ops.c - what an operator meets running gatewayd (issue 11):
 * a store records its region and a gateway refuses another region's store;
 * --check-config next to a running gateway; --version; the log is JSON lines
 * only, gRPC's messages and refused TLS handshakes included; decisions,
 * recovery actions and a peer's outage are logged once each.
 *
 * Real redis-server and real gatewayd processes over mutual TLS on loopback
 * (tests/support/gateway_harness.h); each test's .fini stops what it started. */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/rpc/grpc_lifetime.h"
#include "settlement/store.h"
#include "tests/support/gateway_harness.h"
#include "tests/support/proc.h"
#include "tests/support/registry_client.h"

#define GATEWAYD BINARY_DIR "/gatewayd"
#define RUN_TIMEOUT_MS 30000
#define LOG_WAIT_MS 20000
#define TJ 0
#define BJ 1

static federation_t *g_fed;
static redis_harness_t *g_redis;

static void suite_init(void) { grpc_lifetime_begin(); }

static void suite_fini(void) {
    federation_free(g_fed);
    g_fed = NULL;
    redis_stop(g_redis);
    g_redis = NULL;
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

TestSuite(gateway_ops, .init = suite_init, .fini = suite_fini, .timeout = 180);

/* ---- helpers ------------------------------------------------------------------ */

static federation_t *start(int regions_n, int leg_expiry_ms) {
    federation_options_t o = {.regions_n = regions_n, .leg_expiry_ms = leg_expiry_ms,
                              .recovery_interval_ms = 300};
    g_fed = federation_start(&o);
    cr_assert_not_null(g_fed, "federation_start: %s", federation_last_error());
    return g_fed;
}

typedef struct {
    int status;
    char *out, *err;
} run_t;

static run_t run(const char *const argv[]) {
    run_t r = {-1, NULL, NULL};
    cr_assert_eq(harness_run(argv, RUN_TIMEOUT_MS, &r.status, &r.out, &r.err), 0, "%s did not run",
                 argv[0]);
    return r;
}

static void run_free(run_t *r) {
    free(r->out);
    free(r->err);
}

/* Writes a copy of instance i's configuration to dir/name with each pair
 * (from, to) of edits replaced once (NULL-terminated list); returns the path
 * in out. */
static void config_variant(int i, const char *name, const char *const edits[], char *out,
                           size_t outlen) {
    char *text = harness_file_tail(federation_config_path(g_fed, i), 1 << 16);
    cr_assert(text[0] != '\0');
    for (size_t k = 0; edits != NULL && edits[k] != NULL; k += 2) {
        char *at = strstr(text, edits[k]);
        cr_assert_not_null(at, "config of %d lacks '%s'", i, edits[k]);
        size_t from_n = strlen(edits[k]), to_n = strlen(edits[k + 1]), n = strlen(text);
        char *next = malloc(n - from_n + to_n + 1);
        cr_assert_not_null(next);
        size_t head = (size_t)(at - text);
        memcpy(next, text, head);
        memcpy(next + head, edits[k + 1], to_n);
        memcpy(next + head + to_n, at + from_n, n - head - from_n + 1);
        free(text);
        text = next;
    }
    snprintf(out, outlen, "%s/%s", federation_dir(g_fed), name);
    FILE *f = fopen(out, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
    free(text);
}

/* Waits until instance i's log has at least n lines holding needle; returns
 * the count then (or at the timeout). */
static int wait_log(int i, const char *needle, int n, int timeout_ms) {
    long long until = proc_now_ms() + timeout_ms;
    int got = federation_log_count(g_fed, i, needle);
    while (got < n && proc_now_ms() < until) {
        proc_sleep_ms(100);
        got = federation_log_count(g_fed, i, needle);
    }
    return got;
}

static grpc_channel *reg(int i) { return rc_registry(g_fed, i); }

static void open_ok(int i, const char *id) {
    client_status_t st;
    cr_assert_eq(rc_open(reg(i), id, &st), GRPC_STATUS_OK, "open %s: %s", id, st.details);
}

static void issue_ok(int i, const char *acct, const char *meth, uint64_t milli) {
    char iid[33], fp[64];
    rc_new_id(iid);
    snprintf(fp, sizeof fp, "activity-%s", iid);
    client_status_t st;
    cr_assert_eq(rc_issue(reg(i), iid, acct, meth, milli, fp, NULL, &st), GRPC_STATUS_OK,
                 "issue: %s", st.details);
}

/* Transfers 1 unit tj-a -> CN-BJ bj-b and returns the outcome. */
static Carbon__V1__TransferOutcome transfer(const char *tid) {
    Carbon__V1__TransferResponse *r = NULL;
    client_status_t st;
    cr_assert_eq(rc_transfer(reg(TJ), tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 1, &r, &st),
                 GRPC_STATUS_OK, "transfer: %s", st.details);
    Carbon__V1__TransferOutcome o = r->transfer->outcome;
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return o;
}

/* ---- a store records its region (issue 11 item 10) ------------------------------ */

Test(gateway_ops, gateway_refuses_a_store_of_another_region) {
    start(2, 0);
    redis_harness_t *tj_redis = federation_redis(g_fed, TJ);
    redis_harness_t *bj_redis = federation_redis(g_fed, BJ);
    /* the running gateways claimed their stores at start */
    redisContext *c = redis_connect(tj_redis);
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, "GET %s", STORE_REGION_KEY);
    cr_assert(r != NULL && r->type == REDIS_REPLY_STRING, "no %s in CN-TJ's store",
              STORE_REGION_KEY);
    cr_assert_str_eq(r->str, "CN-TJ");
    freeReplyObject(r);
    redisFree(c);

    /* CN-BJ's gateway pointed at CN-TJ's store (on a port of its own) */
    char bj_store[64], tj_store[64], bj_listen[64], path[1024];
    snprintf(bj_store, sizeof bj_store, "port = %d\n", bj_redis->port);
    snprintf(tj_store, sizeof tj_store, "port = %d\n", tj_redis->port);
    snprintf(bj_listen, sizeof bj_listen, "listen = 127.0.0.1:%d\n", federation_port(g_fed, BJ));
    const char *const edits[] = {bj_store, tj_store, bj_listen, "listen = 127.0.0.1:0\n", NULL};
    config_variant(BJ, "bj-on-tj-store.ini", edits, path, sizeof path);
    char *before = federation_store_snapshot(g_fed, TJ);
    cr_assert_not_null(before, "%s", federation_last_error());

    const char *argv[] = {GATEWAYD, "--config", path, NULL};
    run_t out = run(argv);
    cr_expect_eq(out.status, 1, "status %d, want 1; stderr:\n%s", out.status, out.err);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", tj_redis->port);
    cr_expect_not_null(strstr(out.err, "\"event\":\"store_of_another_region\""), "%s", out.err);
    cr_expect_not_null(strstr(out.err, addr), "the store address is not named:\n%s", out.err);
    cr_expect_not_null(strstr(out.err, "\"store_region\":\"CN-TJ\""), "%s", out.err);
    cr_expect_not_null(strstr(out.err, "\"region\":\"CN-BJ\""), "%s", out.err);
    cr_expect_null(strstr(out.err, "\"event\":\"listening\""), "it served:\n%s", out.err);
    run_free(&out);

    char *after = federation_store_snapshot(g_fed, TJ);
    cr_assert_not_null(after);
    cr_expect_str_eq(after, before, "CN-TJ's store changed");
    free(before);
    free(after);

    /* the same region restarts on its own store */
    cr_assert_eq(federation_restart(g_fed, TJ), 0, "%s", federation_last_error());
    cr_expect_eq(federation_log_count(g_fed, TJ, "store_of_another_region"), 0);
}

/* A reconnection checks too: a store that now names another region is
 * refused, with both regions in the reason (store.h, store_config_t.region). */
Test(gateway_ops, store_connection_refuses_another_regions_store_on_reconnect) {
    g_redis = redis_start(NULL);
    cr_assert_not_null(g_redis, "%s", redis_last_error());
    store_config_t cfg;
    store_config_defaults(&cfg);
    cfg.port = g_redis->port;
    cfg.reconnect_attempts_max = 2;
    snprintf(cfg.region, sizeof cfg.region, "CN-BJ");
    char err[512];
    store_t *s = store_open(&cfg, err, sizeof err);
    cr_assert_not_null(s, "%s", err);
    char owner[32];
    cr_assert_eq(store_region_claim(s, "CN-BJ", owner, sizeof owner, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(store_region_claim(s, "CN-TJ", owner, sizeof owner, err, sizeof err), 1);
    cr_assert_str_eq(owner, "CN-BJ");

    /* the store is now CN-TJ's and every connection is cut */
    redisContext *c = redis_connect(g_redis);
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, "SET %s CN-TJ", STORE_REGION_KEY);
    cr_assert_not_null(r);
    freeReplyObject(r);
    r = redisCommand(c, "CLIENT KILL TYPE normal SKIPME yes");
    cr_assert_not_null(r);
    freeReplyObject(r);
    const char *ping[] = {"PING"};
    redisReply *pong = NULL;
    int rc = store_command(s, 1, ping, NULL, &pong, err, sizeof err);
    cr_expect_eq(rc, STORE_EUNAVAILABLE, "%s: %s", store_rc_name(rc), err);
    cr_expect_not_null(strstr(err, "belongs to region CN-TJ"), "%s", err);
    cr_expect_not_null(strstr(err, "CN-BJ"), "%s", err);
    store_close(s);
    cr_expect_null(store_open(&cfg, err, sizeof err));
    r = redisCommand(c, "GET %s", STORE_REGION_KEY);
    cr_assert(r != NULL && r->type == REDIS_REPLY_STRING);
    cr_expect_str_eq(r->str, "CN-TJ", "the refused gateway changed the key");
    freeReplyObject(r);
    redisFree(c);
}

/* ---- --check-config, --version (issue 11 items 6 and 11) ------------------------ */

Test(gateway_ops, check_config_works_next_to_the_running_gateway) {
    start(1, 0);
    const char *argv[] = {GATEWAYD, "--check-config", "--config",
                          federation_config_path(g_fed, TJ), NULL};
    run_t r = run(argv);
    cr_expect_eq(r.status, 0, "status %d; stderr:\n%s", r.status, r.err);
    cr_expect_str_eq(r.out, "ok\n");
    run_free(&r);

    /* a broken one fails with the reason: a key that is not the certificate's */
    char path[1024];
    const char *const edits[] = {"CN-TJ-gateway.key", "CN-BJ-gateway.key", NULL};
    config_variant(TJ, "wrong-key.ini", edits, path, sizeof path);
    const char *bad[] = {GATEWAYD, "--check-config", "--config", path, NULL};
    r = run(bad);
    cr_expect_eq(r.status, 2, "status %d; stdout %s", r.status, r.out);
    cr_expect_not_null(strstr(r.err, "CN-BJ-gateway.key"), "the reason names no file:\n%s", r.err);
    cr_expect_str_eq(r.out, "");
    run_free(&r);

    /* and so does a missing CA file */
    const char *const edits2[] = {"/ca.crt", "/no-such-ca.crt", NULL};
    config_variant(TJ, "no-ca.ini", edits2, path, sizeof path);
    r = run(bad);
    cr_expect_eq(r.status, 2, "status %d", r.status);
    cr_expect_not_null(strstr(r.err, "no-such-ca.crt"), "%s", r.err);
    run_free(&r);
    /* the running gateway is untouched */
    int serving = 0;
    cr_expect_eq(harness_health(reg(TJ), 5000, &serving), GRPC_STATUS_OK);
    cr_expect_eq(serving, 1);
}

Test(gateway_ops, version_and_help) {
    const char *v[] = {GATEWAYD, "--version", NULL};
    run_t r = run(v);
    cr_expect_eq(r.status, 0);
    cr_expect_eq(strncmp(r.out, "gatewayd ", 9), 0, "%s", r.out);
    cr_expect_gt(strlen(r.out), 10, "no version: %s", r.out);
    run_free(&r);
    const char *h[] = {GATEWAYD, "--help", NULL};
    r = run(h);
    cr_expect_eq(r.status, 0);
    cr_expect_not_null(strstr(r.out, "--version"), "%s", r.out);
    cr_expect_not_null(strstr(r.out, "without binding the port"), "%s", r.out);
    run_free(&r);
}

/* ---- logs (issue 11 items 5 and 9) ------------------------------------------------ */

/* Every line of instance i's log is a JSON object (but the harness's own
 * "--- harness: ..." lines); returns how many. */
static int expect_json_lines(int i) {
    char *text = harness_file_tail(federation_log_path(g_fed, i), 4u << 20);
    int n = 0;
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (strncmp(line, "--- harness: ", 13) == 0) continue;
        json_error_t jerr;
        json_t *j = json_loads(line, 0, &jerr);
        cr_expect(j != NULL && json_is_object(j), "not a JSON line: %.300s", line);
        json_decref(j);
        n++;
    }
    free(text);
    return n;
}

Test(gateway_ops, refused_handshakes_are_json_events) {
    start(1, 0);
    int port = federation_port(g_fed, TJ);
    /* a certificate from another CA, an expired one, then no certificate */
    const char *bases[] = {"untrusted-registry", "expired-registry", NULL};
    for (size_t k = 0; k < 3; k++) {
        grpc_channel *ch = harness_channel_to(port, bases[k]);
        cr_assert_not_null(ch);
        int serving = 0;
        cr_expect_neq(harness_health(ch, 3000, &serving), GRPC_STATUS_OK);
        grpc_channel_destroy(ch);
    }
    cr_expect_geq(wait_log(TJ, "\"event\":\"tls_handshake_refused\"", 3, LOG_WAIT_MS), 3);
    cr_expect_geq(federation_log_count(g_fed, TJ, "certificate verify failed"), 1);
    cr_expect_eq(federation_log_count(g_fed, TJ,
                                      "\"verify_error\":\"unable to get local issuer certificate\""),
                 1);
    cr_expect_eq(federation_log_count(g_fed, TJ, "\"verify_error\":\"certificate has expired\""),
                 1);
    cr_expect_eq(federation_log_count(g_fed, TJ, "peer did not return a certificate"), 1);
    cr_expect_eq(federation_log_count(g_fed, TJ, "\"level\":\"error\""), 0,
                 "a refused client is not the gateway's error");
    cr_expect_gt(expect_json_lines(TJ), 0);
}

Test(gateway_ops, decisions_and_a_peer_outage_are_logged_once) {
    start(2, 1500);
    open_ok(TJ, "tj-a");
    open_ok(BJ, "bj-b");
    issue_ok(TJ, "tj-a", "TJ-GT-01", 100000);
    char tid[33], needle[128];
    rc_new_id(tid);
    cr_assert_eq(transfer(tid), CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED);
    /* at info, one line per batch at each end; the per-leg lines are debug */
    const char *batch_committed = "\"event\":\"batch_decided\",\"peer\":\"CN-BJ\",\"committed\":1,\"aborted\":0";
    cr_expect_eq(wait_log(TJ, batch_committed, 1, LOG_WAIT_MS), 1, "no batch line for %s", tid);
    const char *applied = "\"event\":\"decisions_applied\",\"source\":\"CN-TJ\",\"legs\":1,\"committed\":1";
    cr_expect_eq(wait_log(BJ, applied, 1, LOG_WAIT_MS), 1, "CN-BJ logged no decision for %s", tid);
    snprintf(needle, sizeof needle, "\"transfer_id\":\"%s\"", tid);
    cr_expect_eq(federation_log_count(g_fed, TJ, needle), 0, "a per-leg line at info for %s", tid);
    cr_expect_eq(federation_log_count(g_fed, BJ, needle), 0, "a per-leg line at info for %s", tid);

    const char *down = "\"event\":\"peer_down\",\"peer\":\"CN-BJ\"";
    const char *up = "\"event\":\"peer_up\",\"peer\":\"CN-BJ\"";
    cr_assert_eq(federation_log_count(g_fed, TJ, down), federation_log_count(g_fed, TJ, up),
                 "CN-BJ is not up before the outage");
    int down0 = federation_log_count(g_fed, TJ, down), up0 = federation_log_count(g_fed, TJ, up);

    /* CN-BJ down for about 6 s, with a transfer to it (aborted at expiry, then
     * the abort re-sent by recovery every 300 ms until CN-BJ is back) */
    long long t0 = proc_now_ms();
    cr_assert_eq(federation_kill9(g_fed, BJ), 0);
    char tid2[33];
    rc_new_id(tid2);
    cr_assert_eq(transfer(tid2), CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_ABORTED);
    const char *batch_aborted = "\"event\":\"batch_decided\",\"peer\":\"CN-BJ\",\"committed\":0,\"aborted\":1";
    cr_expect_eq(wait_log(TJ, batch_aborted, 1, LOG_WAIT_MS), 1, "no abort batch line for %s", tid2);
    long long left = 6000 - (proc_now_ms() - t0);
    if (left > 0) proc_sleep_ms((int)left);
    cr_expect_eq(federation_log_count(g_fed, TJ, down), down0 + 1);
    cr_expect_eq(federation_log_count(g_fed, TJ, up), up0);
    cr_assert_eq(federation_restart(g_fed, BJ), 0, "%s", federation_last_error());
    cr_expect_eq(wait_log(TJ, up, up0 + 1, LOG_WAIT_MS), up0 + 1, "no peer_up after the restart");
    snprintf(needle, sizeof needle, "\"event\":\"recovery_decision_resent\",\"transfer_id\":\"%s\"",
             tid2);
    cr_expect_geq(wait_log(TJ, needle, 1, LOG_WAIT_MS), 1, "no recovery event for %s", tid2);
    proc_sleep_ms(1000); /* a repeated line would come within a recovery interval */
    cr_expect_eq(federation_log_count(g_fed, TJ, down), down0 + 1, "peer_down repeated");
    cr_expect_eq(federation_log_count(g_fed, TJ, up), up0 + 1, "peer_up repeated");
    cr_expect_eq(federation_log_count(g_fed, TJ, "peer_call_failed"), 0);
    cr_expect_gt(expect_json_lines(TJ), 0);
}

/* The size of a checkpoint instance i's store holds: for owner "own" its
 * newest own checkpoint, for "peer:REGION" the one it cosigned for REGION as
 * its witness (settlement/store_keys.h); 0 if none. */
static unsigned long long checkpoint_seq(int i, const char *owner) {
    redisContext *c = redis_connect(federation_redis(g_fed, i));
    cr_assert_not_null(c);
    redisReply *r = strcmp(owner, "own") == 0
                        ? redisCommand(c, "ZREVRANGE %s 0 0", STORE_KEY_CHECKPOINT_OWN_SIZES)
                        : redisCommand(c, "HGET %s%s size", STORE_KEY_CHECKPOINT_WITNESS_PREFIX, owner + 5);
    unsigned long long seq = 0;
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 1)
        seq = strtoull(r->element[0]->str, NULL, 10);
    else if (r != NULL && r->type == REDIS_REPLY_STRING)
        seq = strtoull(r->str, NULL, 10);
    freeReplyObject(r);
    redisFree(c);
    return seq;
}

/* A peer that was down while the chain moved gets the newest checkpoint as
 * soon as it is back, with no new traffic, and its return is logged then
 * (found by a review: it waited for the chain to move again, and the log
 * said the peer was down for minutes after it was back). */
Test(gateway_ops, a_peer_back_gets_the_checkpoint_it_missed_without_new_traffic) {
    start(2, 1500);
    open_ok(TJ, "tj-a");
    issue_ok(TJ, "tj-a", "TJ-GT-01", 100000);
    const char *up = "\"event\":\"peer_up\",\"peer\":\"CN-BJ\"";
    cr_assert_eq(federation_kill9(g_fed, BJ), 0);
    open_ok(TJ, "tj-b"); /* the chain moves while CN-BJ is down */
    unsigned long long own = 0;
    for (int k = 0; k < 50; k++) { /* until CN-TJ signed a checkpoint covering it */
        proc_sleep_ms(100);
        own = checkpoint_seq(TJ, "own");
        if (own > 0 && federation_log_count(g_fed, TJ, "\"event\":\"peer_down\"") > 0) break;
    }
    cr_assert_gt(own, 0);
    proc_sleep_ms(1000);
    own = checkpoint_seq(TJ, "own");
    cr_assert_lt(checkpoint_seq(BJ, "peer:CN-TJ"), own, "CN-BJ already holds it");
    int up0 = federation_log_count(g_fed, TJ, up);
    cr_assert_eq(federation_restart(g_fed, BJ), 0, "%s", federation_last_error());
    /* from here on nobody calls CN-TJ and its chain stays where it is */
    cr_expect_eq(wait_log(TJ, up, up0 + 1, 5000), up0 + 1, "CN-BJ's return was not noticed");
    unsigned long long held = 0;
    for (int k = 0; k < 50 && held < own; k++) {
        proc_sleep_ms(100);
        held = checkpoint_seq(BJ, "peer:CN-TJ");
    }
    cr_expect_eq(held, checkpoint_seq(TJ, "own"), "CN-BJ holds CN-TJ's checkpoint %llu, not the newest",
                 held);
}
