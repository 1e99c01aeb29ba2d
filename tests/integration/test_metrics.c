/* test_metrics.c - the Prometheus endpoint of gatewayd (issue 7), scraped
 * over plain HTTP from real gateways: the exposition format, that counters
 * move after calls, transfers, and the legs-in-doubt gauge. */
#include "gateway/rpc/grpc_lifetime.h"
#include "tests/support/gateway_harness.h"
#include "tests/support/proc.h"
#include "tests/support/registry_client.h"

#include "settlement/store_keys.h"

#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TJ 0
#define BJ 1
#define SCRAPE_BYTES_MAX (1 << 20)

static federation_t *fed;

static void start(int regions_n, const char *extra_ini, int leg_expiry_ms) {
    grpc_lifetime_begin();
    federation_options_t o = {.regions_n = regions_n, .extra_ini = extra_ini,
                              .leg_expiry_ms = leg_expiry_ms, .recovery_interval_ms = 300};
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
}

static void stop_all(void) {
    federation_free(fed);
    fed = NULL;
    unsetenv("CARBON_FAILPOINT");
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

static grpc_channel *reg(int i) { return rc_registry(fed, i); }

/* Sends one raw HTTP request to 127.0.0.1:port; returns the whole response
 * (status line, headers, body), malloc'd, or NULL. */
static char *http(int port, const char *method, const char *path) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return NULL;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char *buf = NULL;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) goto fail;
    char req[256];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", method, path);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) goto fail;
    buf = malloc(SCRAPE_BYTES_MAX + 1);
    cr_assert_not_null(buf);
    size_t len = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + len, SCRAPE_BYTES_MAX - len, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) goto fail;
        if (r == 0 || (len += (size_t)r) == SCRAPE_BYTES_MAX) break;
    }
    buf[len] = '\0';
    close(fd);
    return buf;
fail:
    free(buf);
    close(fd);
    return NULL;
}

/* GET /metrics; asserts 200 and returns the body (malloc'd). */
static char *scrape(int port) {
    char *r = http(port, "GET", "/metrics");
    cr_assert_not_null(r, "no answer from the metrics port %d", port);
    cr_assert(strncmp(r, "HTTP/1.", 7) == 0 && strncmp(r + 8, " 200", 4) == 0, "status: %.40s", r);
    cr_assert_not_null(strstr(r, "text/plain; version=0.0.4"), "content type: %.300s", r);
    char *body = strstr(r, "\r\n\r\n");
    cr_assert_not_null(body);
    char *out = strdup(body + 4);
    free(r);
    return out;
}

/* The value of the series (exact "name" or "name{labels}"); asserts it exists. */
static unsigned long long value(const char *body, const char *series) {
    size_t n = strlen(series);
    for (const char *line = body; line != NULL && *line != '\0';) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ') return strtoull(line + n + 1, NULL, 10);
        const char *eol = strchr(line, '\n');
        line = eol != NULL ? eol + 1 : NULL;
    }
    cr_assert_fail("no series %s in:\n%s", series, body);
    return 0;
}

static unsigned long long scrape_value(int port, const char *series) {
    char *b = scrape(port);
    unsigned long long v = value(b, series);
    free(b);
    return v;
}

/* Waits until the series reaches at least min (at most timeout_ms); returns its last value. */
static unsigned long long wait_at_least(int port, const char *series, unsigned long long min,
                                        int timeout_ms) {
    long long until = proc_now_ms() + timeout_ms;
    unsigned long long v;
    while ((v = scrape_value(port, series)) < min && proc_now_ms() < until) proc_sleep_ms(100);
    return v;
}

/* The metrics port instance i logged ("metrics_listening" ... "port": N). */
static int logged_metrics_port(int i) {
    long long until = proc_now_ms() + 5000;
    for (;;) {
        char *log = harness_file_tail(federation_log_path(fed, i), 1 << 20);
        const char *line = NULL;
        for (const char *p = strstr(log, "\"metrics_listening\""); p != NULL;
             p = strstr(p + 1, "\"metrics_listening\""))
            line = p; /* the last start */
        int port = 0;
        if (line != NULL) {
            const char *eol = strchr(line, '\n');
            const char *pp = strstr(line, "\"port\":");
            if (pp != NULL && (eol == NULL || pp < eol)) port = atoi(pp + 7 + (pp[7] == ' '));
        }
        free(log);
        if (port > 0) return port;
        cr_assert(proc_now_ms() < until, "instance %d logged no metrics_listening", i);
        proc_sleep_ms(100);
    }
}

static void open_ok(int region, const char *id) {
    client_status_t st;
    cr_assert_eq(rc_open(reg(region), id, &st), GRPC_STATUS_OK, "open %s: %s", id, st.details);
}

static void issue_ok(int region, const char *acct, const char *meth, uint64_t milli) {
    char iid[33], fp[64];
    rc_new_id(iid);
    snprintf(fp, sizeof fp, "activity-%s", iid);
    client_status_t st;
    cr_assert_eq(rc_issue(reg(region), iid, acct, meth, milli, fp, NULL, &st), GRPC_STATUS_OK,
                 "issue: %s", st.details);
}

static Carbon__V1__TransferOutcome transfer(const char *to, client_status_t *st) {
    char tid[33];
    rc_new_id(tid);
    Carbon__V1__TransferResponse *r = NULL;
    grpc_status_code c = rc_transfer(reg(TJ), tid, "tj-a", "CN-BJ", to, "TJ-GT-01", 1, &r, st);
    Carbon__V1__TransferOutcome out =
        c == GRPC_STATUS_OK ? r->transfer->outcome
                            : CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_UNSPECIFIED;
    if (r != NULL) protobuf_c_message_free_unpacked(&r->base, NULL);
    return out;
}

/* ---- one gateway: the endpoint itself ------------------------------------------ */

/* The steps of a batch at its source (settlement/engine.h engine_phase_t). */
#define PHASES_N 7
static const char *const phases[PHASES_N] = {"wait", "open", "prepare", "commit",
                                             "answer", "hand", "decide"};

static unsigned long long phase_us(const char *body, const char *phase) {
    char series[96];
    snprintf(series, sizeof series, "carbon_batch_phase_microseconds_total{phase=\"%s\"}", phase);
    return value(body, series);
}

Test(metrics, endpoint_serves_the_exposition_and_counts_calls, .timeout = 120) {
    int port = proc_free_tcp_port();
    cr_assert_gt(port, 0);
    char ini[128];
    snprintf(ini, sizeof ini, "[metrics]\nlisten = 127.0.0.1:%d\n", port);
    start(1, ini, 0);
    cr_assert_eq(logged_metrics_port(TJ), port);

    char *b = scrape(port);
    static const char *const families[] = {
        "carbon_build_info gauge", "carbon_transfers_total counter",
        "carbon_settlement_latency_seconds histogram", "carbon_batch_legs histogram",
        "carbon_legs_in_doubt gauge", "carbon_store_calls_total counter",
        "carbon_store_errors_total counter", "carbon_peer_rpcs_total counter",
        "carbon_peer_rpc_failures_total counter", "carbon_grpc_calls_total counter",
        "carbon_grpc_calls_failed_total counter", "carbon_batch_phase_microseconds_total counter",
        "carbon_group_commit_batches_total counter", "carbon_group_commit_entries_total counter",
        "carbon_group_commit_hold_reruns_total counter",
        "carbon_group_commit_holds_unknown_total counter"};
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        char want[128];
        snprintf(want, sizeof want, "# TYPE %s\n", families[i]);
        cr_expect_not_null(strstr(b, want), "missing %s", want);
    }
    cr_assert_not_null(strstr(b, "carbon_build_info{version=\""));
    cr_assert_not_null(strstr(b, ",region=\"CN-TJ\"} 1\n"));
    cr_assert_eq(value(b, "carbon_transfers_total{outcome=\"committed\"}"), 0);
    cr_assert_eq(value(b, "carbon_transfers_total{outcome=\"aborted\"}"), 0);
    cr_assert_eq(value(b, "carbon_settlement_latency_seconds_bucket{le=\"+Inf\"}"),
                 value(b, "carbon_settlement_latency_seconds_count"));
    cr_assert_not_null(strstr(b, "carbon_settlement_latency_seconds_bucket{le=\"0.00025\"} 0\n"));
    cr_assert_not_null(strstr(b, "carbon_settlement_latency_seconds_bucket{le=\"2.5\"} 0\n"));
    cr_assert_not_null(strstr(b, "carbon_batch_legs_bucket{le=\"256\"} 0\n"));
    for (size_t i = 0; i < PHASES_N; i++) {
        char want[96];
        snprintf(want, sizeof want, "carbon_batch_phase_microseconds_total{phase=\"%s\"} 0\n", phases[i]);
        cr_expect_not_null(strstr(b, want), "missing %s", want);
    }
    cr_assert_null(strstr(b, "account"), "no label may name an account");
    unsigned long long calls0 = value(b, "carbon_grpc_calls_total");
    unsigned long long failed0 = value(b, "carbon_grpc_calls_failed_total");
    unsigned long long store0 = value(b, "carbon_store_calls_total");
    free(b);

    /* Health checks are gRPC calls served. */
    for (int i = 0; i < 5; i++) {
        int serving = 0;
        cr_assert_eq(harness_health(reg(TJ), 5000, &serving), GRPC_STATUS_OK);
    }
    /* A refused call (a Beijing registry on Tianjin's Registry) is a failed one. */
    grpc_channel *wrong = federation_channel(fed, TJ, "CN-BJ-registry");
    cr_assert_not_null(wrong);
    client_status_t st;
    cr_assert_eq(rc_open(wrong, "x-1", &st), GRPC_STATUS_PERMISSION_DENIED, "%s", st.details);
    /* A store call from a worker connection. */
    open_ok(TJ, "tj-a");

    b = scrape(port);
    cr_assert_geq(value(b, "carbon_grpc_calls_total"), calls0 + 7);
    cr_assert_geq(value(b, "carbon_grpc_calls_failed_total"), failed0 + 1);
    cr_assert_gt(value(b, "carbon_store_calls_total"), store0);
    cr_assert_eq(value(b, "carbon_store_errors_total"), 0);
    free(b);

    /* Only GET/HEAD of /metrics. */
    char *r = http(port, "GET", "/");
    cr_assert_not_null(r);
    cr_assert(strncmp(r + 8, " 404", 4) == 0, "%.40s", r);
    free(r);
    r = http(port, "POST", "/metrics");
    cr_assert_not_null(r);
    cr_assert(strncmp(r + 8, " 405", 4) == 0, "%.40s", r);
    free(r);

    /* --check-config refuses a non-loopback address (it binds nothing, so a
     * busy port is found only when the gateway starts). */
    char path[1024], cmd_out[64];
    snprintf(path, sizeof path, "%s/metrics-check.ini", federation_dir(fed));
    const char *cases[] = {"0.0.0.0:9", "10.1.2.3:9100", "127.0.0.1:http"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *conf = harness_file_tail(federation_config_path(fed, TJ), 1 << 16);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        /* another port for gRPC so that only the metrics address can fail */
        char *listen = strstr(conf, "\nlisten = ");
        cr_assert_not_null(listen);
        fwrite(conf, 1, (size_t)(listen - conf), f);
        fprintf(f, "\nlisten = 127.0.0.1:0%s", strchr(listen + 1, '\n'));
        fprintf(f, "\n[metrics]\nlisten = %s\n", cases[i]);
        fclose(f);
        free(conf);
        const char *argv[] = {BINARY_DIR "/gatewayd", "--check-config", "--config", path, NULL};
        int status = -1;
        char *out = NULL, *err = NULL;
        cr_assert_eq(harness_run(argv, 20000, &status, &out, &err), 0);
        snprintf(cmd_out, sizeof cmd_out, "%s", out);
        cr_expect_eq(status, 2, "listen %s: status %d, stdout %s, stderr %s", cases[i], status,
                     cmd_out, err);
        cr_expect_not_null(strstr(err, "metrics listen"), "stderr: %s", err);
        free(out);
        free(err);
    }
    stop_all();
}

/* ---- two regions: transfers, latency, batches, peer RPCs ------------------------- */

Test(metrics, transfers_move_the_settlement_counters, .timeout = 120) {
    /* Port 0: every gateway binds its own free port and logs it. */
    start(2, "[metrics]\nlisten = 127.0.0.1:0\n", 0);
    int tj = logged_metrics_port(TJ), bj = logged_metrics_port(BJ);
    cr_assert_neq(tj, bj);
    open_ok(TJ, "tj-a");
    open_ok(BJ, "bj-b");
    issue_ok(TJ, "tj-a", "TJ-GT-01", 100000); /* 4750 g */

    char *b0 = scrape(tj);
    unsigned long long tj_store0 = value(b0, "carbon_store_calls_total");
    unsigned long long prepare0 = value(b0, "carbon_peer_rpcs_total{peer=\"CN-BJ\",method=\"Prepare\"}");
    unsigned long long prepare_failed0 =
        value(b0, "carbon_peer_rpc_failures_total{peer=\"CN-BJ\",method=\"Prepare\"}");
    unsigned long long decide0 = value(b0, "carbon_peer_rpcs_total{peer=\"CN-BJ\",method=\"Decide\"}");
    free(b0);
    unsigned long long bj_store0 = scrape_value(bj, "carbon_store_calls_total");
    unsigned long long bj_calls0 = scrape_value(bj, "carbon_grpc_calls_total");

    /* idle: the batcher's wait for a first leg is not a batch's time */
    proc_sleep_ms(1200);
    client_status_t st;
    cr_assert_eq(transfer("bj-b", &st), CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED,
                 "%s", st.details);
    /* An unknown destination account: Beijing votes no, Tianjin aborts. */
    cr_assert_eq(transfer("bj-nobody", &st), CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_ABORTED,
                 "%s", st.details);

    /* Decide goes out after the answer: wait for it. */
    cr_assert_geq(wait_at_least(tj, "carbon_peer_rpcs_total{peer=\"CN-BJ\",method=\"Decide\"}",
                                decide0 + 1, 5000),
                  decide0 + 1);
    char *b = scrape(tj);
    cr_assert_eq(value(b, "carbon_transfers_total{outcome=\"committed\"}"), 1);
    cr_assert_eq(value(b, "carbon_transfers_total{outcome=\"aborted\"}"), 1);
    cr_assert_eq(value(b, "carbon_settlement_latency_seconds_count"), 2);
    cr_assert_eq(value(b, "carbon_settlement_latency_seconds_bucket{le=\"+Inf\"}"), 2);
    cr_assert_eq(value(b, "carbon_settlement_latency_seconds_bucket{le=\"30\"}"), 2);
    cr_assert_eq(value(b, "carbon_batch_legs_sum"), 2);
    unsigned long long batches = value(b, "carbon_batch_legs_count");
    cr_assert(batches == 1 || batches == 2, "%llu batches", batches);
    cr_assert_eq(value(b, "carbon_batch_legs_bucket{le=\"2\"}"), batches);
    /* one answered Prepare per batch (a channel still in reconnect backoff
     * from the Hello at start may fail one first: it is counted as failed) */
    unsigned long long prepared =
        value(b, "carbon_peer_rpcs_total{peer=\"CN-BJ\",method=\"Prepare\"}") - prepare0;
    unsigned long long prepare_failed =
        value(b, "carbon_peer_rpc_failures_total{peer=\"CN-BJ\",method=\"Prepare\"}") -
        prepare_failed0;
    cr_assert_eq(prepared - prepare_failed, batches, "%llu Prepare, %llu failed, %llu batches",
                 prepared, prepare_failed, batches);
    /* at least a hold per transfer, a decision and an ack */
    cr_assert_geq(value(b, "carbon_store_calls_total"), tj_store0 + 4);
    cr_assert_eq(value(b, "carbon_store_errors_total"), 0);
    /* each batch was numbered, prepared over TLS and decided by a script:
     * time in each of those steps; the idle second before is in none */
    cr_expect_gt(phase_us(b, "open"), 0);
    cr_expect_gt(phase_us(b, "prepare"), 0);
    cr_expect_gt(phase_us(b, "commit"), 0);
    cr_expect_lt(phase_us(b, "wait"), 1000000ull, "idle time counted as waiting: %llu us",
                 phase_us(b, "wait"));
    free(b);
    /* phase two's time is counted once the peer's answer is recorded */
    cr_expect_gt(wait_at_least(tj, "carbon_batch_phase_microseconds_total{phase=\"decide\"}", 1, 5000),
                 0);

    b = scrape(bj);
    /* the destination coordinates nothing: its engine counts no transfer */
    cr_assert_eq(value(b, "carbon_transfers_total{outcome=\"committed\"}"), 0);
    cr_assert_eq(value(b, "carbon_batch_legs_count"), 0);
    for (size_t i = 0; i < PHASES_N; i++) cr_expect_eq(phase_us(b, phases[i]), 0, "%s", phases[i]);
    cr_assert_geq(value(b, "carbon_store_calls_total"), bj_store0 + 2); /* prepare, decide */
    cr_assert_geq(value(b, "carbon_grpc_calls_total"), bj_calls0 + 2);  /* Prepare, Decide */
    free(b);

    checker_report_t *rep = rc_wait_settled(fed, 30000);
    cr_assert_not_null(rep);
    cr_assert_eq(rep->violations_n, 0, "checker: %s", rep->violations[0]);
    free(rep);
    cr_assert_eq(scrape_value(tj, "carbon_legs_in_doubt"), 0);
    /* The audit log: every entry integrated into the tree (a pass every
     * 100 ms), each region's gateway holding its integrator lease. */
    for (int r = 0; r < 2; r++) {
        int port = r == 0 ? tj : bj;
        cr_assert_geq(wait_at_least(port, "carbon_audit_log_tree_size", 3, 5000), 3);
        long long until = proc_now_ms() + 5000;
        while (scrape_value(port, "carbon_audit_log_unintegrated_entries") != 0 && proc_now_ms() < until)
            proc_sleep_ms(100);
        b = scrape(port);
        cr_assert_eq(value(b, "carbon_audit_log_unintegrated_entries"), 0, "%s", b);
        cr_assert_eq(value(b, "carbon_audit_log_unintegrated_age_ms"), 0, "%s", b);
        cr_assert_eq(value(b, "carbon_audit_log_integrator"), 1, "%s", b);
        cr_assert_eq(value(b, "carbon_audit_log_integration_errors_total"), 0, "%s", b);
        cr_assert_leq(value(b, "carbon_audit_log_integration_lag_max_ms"), 1000, "%s", b);
        free(b);
    }
    stop_all();
}

/* ---- the legs-in-doubt gauge ------------------------------------------------------ */

Test(metrics, a_prepared_leg_whose_coordinator_is_down_is_in_doubt, .timeout = 120) {
    /* Tianjin dies right after Beijing voted yes: Beijing's leg stays PREPARED
     * past its expiry and QueryDecision cannot reach Tianjin. */
    setenv("CARBON_FAILPOINT", "CN-TJ:source.after_prepare", 1);
    start(2, "[metrics]\nlisten = 127.0.0.1:0\n", 1500);
    int bj = logged_metrics_port(BJ);
    open_ok(TJ, "tj-a");
    open_ok(BJ, "bj-b");
    issue_ok(TJ, "tj-a", "TJ-GT-01", 100000);
    cr_assert_eq(scrape_value(bj, "carbon_legs_in_doubt"), 0);
    client_status_t st;
    transfer("bj-b", &st); /* Tianjin dies during the call */
    for (int i = 0; i < 100 && federation_pid(fed, TJ) != 0 && proc_alive(federation_pid(fed, TJ));
         i++)
        proc_sleep_ms(50);
    unsetenv("CARBON_FAILPOINT");

    cr_assert_geq(wait_at_least(bj, "carbon_legs_in_doubt", 1, 15000), 1);
    cr_assert_geq(
        wait_at_least(bj, "carbon_peer_rpc_failures_total{peer=\"CN-TJ\",method=\"QueryDecision\"}",
                      1, 5000),
        1);

    /* Tianjin back: it aborts the expired hold, Beijing learns it, nothing is in doubt. */
    cr_assert_eq(federation_restart(fed, TJ), 0, "restart: %s", federation_last_error());
    long long until = proc_now_ms() + 20000;
    while (scrape_value(bj, "carbon_legs_in_doubt") != 0 && proc_now_ms() < until)
        proc_sleep_ms(100);
    cr_assert_eq(scrape_value(bj, "carbon_legs_in_doubt"), 0);
    checker_report_t *rep = rc_wait_settled(fed, 30000);
    cr_assert_not_null(rep);
    cr_assert_eq(rep->violations_n, 0, "checker: %s", rep->violations[0]);
    free(rep);
    stop_all();
}

/* ---- use reports pending per peer ---------------------------------------------- */

/* BJ retires TJ serials while TJ is down: the report waits in BJ's outbox
 * (carbon_use_reports_pending{peer="CN-TJ"} 1 at BJ) and is re-sent until TJ,
 * back, acknowledges it (0); TJ's map then places the serials retired at BJ. */
Test(metrics, use_reports_pending_until_the_origin_answers, .timeout = 120) {
    start(2, "[metrics]\nlisten = 127.0.0.1:0\n", 0);
    open_ok(TJ, "tj-a");
    open_ok(BJ, "bj-b");
    issue_ok(TJ, "tj-a", "TJ-GT-01", 100000); /* 4750 g */
    char tid[33], rid[33];
    rc_new_id(tid);
    rc_new_id(rid);
    client_status_t st;
    cr_assert_eq(rc_transfer(reg(TJ), tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 4, NULL, &st),
                 GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(rc_wait_arrival(reg(BJ), tid, 10000), 0);
    int bj = logged_metrics_port(BJ);
    const char *series = "carbon_use_reports_pending{peer=\"CN-TJ\"}";
    redisContext *c = redis_connect(federation_redis(fed, TJ));
    cr_assert_not_null(c);
    long long until = proc_now_ms() + 10000, applied = 0; /* the discount's cancellation, reported */
    while (applied != 1 && proc_now_ms() < until) {
        redisReply *h = redisCommand(c, "HLEN %s", STORE_KEY_REPORTS_IN_PREFIX "CN-BJ");
        cr_assert(h != NULL && h->type == REDIS_REPLY_INTEGER);
        applied = h->integer;
        freeReplyObject(h);
        if (applied != 1) proc_sleep_ms(100);
    }
    redisFree(c);
    cr_assert_eq(applied, 1, "TJ applied %lld use reports from BJ", applied);
    cr_assert_eq(federation_kill9(fed, TJ), 0, "%s", federation_last_error());
    cr_assert_eq(rc_retire(reg(BJ), rid, "bj-b", "TJ-GT-01", 100, NULL, &st), GRPC_STATUS_OK, "%s",
                 st.details);
    cr_assert_geq(wait_at_least(bj, series, 1, 10000), 1, "the report is not pending at BJ");
    proc_sleep_ms(1500); /* a few recovery passes fail to reach TJ: still pending */
    unsigned long long still = scrape_value(bj, series);
    cr_assert_eq(still, 1, "pending %llu", still);
    cr_assert_eq(federation_restart(fed, TJ), 0, "%s", federation_last_error());
    until = proc_now_ms() + 20000; /* within the backoff (up to a few seconds here) */
    while (scrape_value(bj, series) != 0 && proc_now_ms() < until) proc_sleep_ms(200);
    cr_expect_eq(scrape_value(bj, series), 0, "the report was not acknowledged after TJ came back");
    c = redis_connect(federation_redis(fed, TJ));
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, "ZRANGE %s 0 -1", STORE_KEY_ORIGIN_MAP);
    cr_assert(r != NULL && r->type == REDIS_REPLY_ARRAY);
    int retired = 0;
    for (size_t i = 0; i < r->elements; i++) retired |= strstr(r->element[i]->str, ":CN-BJ:retired") != NULL;
    cr_expect(retired, "TJ's map has no range retired at BJ");
    freeReplyObject(r);
    redisFree(c);
    stop_all();
}

/* ---- the group commit's counters ----------------------------------------------- */

/* Tianjin's hold replies are lost three times (the test hook hold.reply_lost):
 * the first transfer's batch is run again twice, then answered unavailable
 * with its outcome unknown (carbon_group_commit_holds_unknown_total 1): the
 * hold it made stays HELD until recovery aborts it at its expiry, and a retry
 * with the same id gets that outcome; nothing moved. The next transfer's
 * reply comes back: committed, no rerun. */
Test(metrics, holds_run_again_and_holds_left_unknown_are_counted, .timeout = 120) {
    setenv("CARBON_TEST_HOOKS", "1", 1);
    setenv("CARBON_FAILPOINT_PAUSE", "CN-TJ:hold.reply_lost:3", 1);
    start(2, "[metrics]\nlisten = 127.0.0.1:0\n", 2000);
    unsetenv("CARBON_FAILPOINT_PAUSE");
    unsetenv("CARBON_TEST_HOOKS");
    int tj = logged_metrics_port(TJ);
    open_ok(TJ, "tj-a");
    open_ok(BJ, "bj-b");
    issue_ok(TJ, "tj-a", "TJ-GT-01", 100000); /* 4750 g */
    uint64_t before_g = rc_balance_g(reg(TJ), "tj-a", "TJ-GT-01");
    char *b = scrape(tj);
    cr_assert_eq(value(b, "carbon_group_commit_hold_reruns_total"), 0);
    cr_assert_eq(value(b, "carbon_group_commit_holds_unknown_total"), 0);
    unsigned long long batches0 = value(b, "carbon_group_commit_batches_total");
    unsigned long long entries0 = value(b, "carbon_group_commit_entries_total");
    cr_assert_geq(entries0, 1, "the issuance went through the group commit");
    free(b);

    char tid[33];
    rc_new_id(tid);
    client_status_t st;
    cr_assert_eq(rc_transfer(reg(TJ), tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 1, NULL, &st),
                 GRPC_STATUS_UNAVAILABLE, "%s", st.details);
    b = scrape(tj);
    cr_assert_eq(value(b, "carbon_group_commit_hold_reruns_total"), 2);
    cr_assert_eq(value(b, "carbon_group_commit_holds_unknown_total"), 1);
    cr_assert_eq(value(b, "carbon_group_commit_batches_total"), batches0 + 1);
    cr_assert_eq(value(b, "carbon_group_commit_entries_total"), entries0 + 1);
    free(b);
    /* the retry waits for the hold's outcome: recovery's abort at its expiry */
    Carbon__V1__TransferResponse *r = NULL;
    cr_assert_eq(rc_transfer(reg(TJ), tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 1, &r, &st),
                 GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(r->transfer->outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_ABORTED);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    cr_assert_eq(rc_balance_g(reg(TJ), "tj-a", "TJ-GT-01"), before_g, "the unknown hold moved grams");

    cr_assert_eq(transfer("bj-b", &st), CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED,
                 "%s", st.details);
    b = scrape(tj);
    cr_assert_eq(value(b, "carbon_group_commit_hold_reruns_total"), 2);
    cr_assert_eq(value(b, "carbon_group_commit_holds_unknown_total"), 1);
    free(b);
    checker_report_t *rep = rc_wait_settled(fed, 30000);
    cr_assert_not_null(rep);
    cr_assert_eq(rep->violations_n, 0, "checker: %s", rep->violations[0]);
    free(rep);
    stop_all();
}
