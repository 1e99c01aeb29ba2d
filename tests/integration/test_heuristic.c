/* test_heuristic.c - heuristic decisions are never silent (issue 15,
 * reproduction 2 and "What to build" 3), against a real federation of two
 * regions over mutual TLS, driven through gwctl as operators use it.
 *
 * The set-up of both tests: a transfer CN-TJ -> CN-BJ whose coordinator
 * (CN-TJ) dies before its Prepare and restarts with the leg HELD (60 s
 * expiry); its Prepare reaches CN-BJ (sent here in CN-TJ's name) with an
 * expiry 1 s away; then CN-TJ is paused (SIGSTOP). CN-BJ holds a prepared
 * leg past its expiry whose coordinator does not answer. */
#include "gateway/rpc/grpc_lifetime.h"
#include "tests/support/gateway_harness.h"
#include "tests/support/proc.h"
#include "tests/support/registry_client.h"

#include "settlement/ledger.h"
#include "settlement/store_keys.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TJ 0
#define BJ 1
#define HE 2
#define HEURISTIC_AFTER_MS 3000
#define REASON_TEXT "incident 77: CN-TJ unreachable since the storm"

static federation_t *fed;
static int regions_started = 2; /* start2's federation: CN-TJ, CN-BJ (and CN-HE at 3) */

static void start2(int leg_expiry_ms) {
    grpc_lifetime_begin();
    federation_options_t o = {.regions_n = regions_started, .leg_expiry_ms = leg_expiry_ms, .recovery_interval_ms = 300,
                              .peer_timeout_ms = 500,
                              .extra_ini = "[limits]\nheuristic_after_ms = 3000\n"
                                           "[metrics]\nlisten = 127.0.0.1:0\n"};
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

/* Runs gwctl a0.. (NULL-terminated, at most 8) as role of region i; returns
 * its exit status, *out its stdout and *err its stderr (malloc'd; may be NULL). */
static int gwctl(int i, const char *role, char **out, char **err, const char *const *args) {
    char target[64], targets[128], cert[512], key[512], ca[512];
    snprintf(target, sizeof target, "127.0.0.1:%d", federation_port(fed, i));
    snprintf(targets, sizeof targets, "CN-TJ=127.0.0.1:%d,CN-BJ=127.0.0.1:%d", federation_port(fed, TJ),
             federation_port(fed, BJ));
    snprintf(cert, sizeof cert, "%s/%s-%s.crt", harness_pki_dir(), federation_region(fed, i), role);
    snprintf(key, sizeof key, "%s/%s-%s.key", harness_pki_dir(), federation_region(fed, i), role);
    snprintf(ca, sizeof ca, "%s/ca.crt", harness_pki_dir());
    const char *argv[24];
    int n = 0;
    argv[n++] = BINARY_DIR "/gwctl";
    for (int k = 0; k < 8 && args[k] != NULL; k++) argv[n++] = args[k];
    int audit = !strcmp(args[0], "audit");
    argv[n++] = audit ? "--targets" : "--target";
    argv[n++] = audit ? targets : target;
    argv[n++] = "--cert";
    argv[n++] = cert;
    argv[n++] = "--key";
    argv[n++] = key;
    argv[n++] = "--ca";
    argv[n++] = ca;
    argv[n] = NULL;
    int status = -1;
    char *e = NULL;
    cr_assert_eq(harness_run(argv, 60000, &status, out, &e), 0, "gwctl did not run");
    if (err != NULL)
        *err = e;
    else
        free(e);
    return status;
}

static int resolve(int i, const char *tid, const char *how, char **err) {
    const char *args[] = {"resolve", "--transfer", tid, how, "--reason", REASON_TEXT, NULL};
    char *out = NULL;
    int rc = gwctl(i, "operator", &out, err, args);
    free(out);
    return rc;
}

static redisContext *redis_of(int i) {
    redisContext *c = redis_connect(federation_redis(fed, i));
    cr_assert_not_null(c);
    return c;
}

/* The field of leg tid in region i's store ("" if none), into out. */
static void leg_field(int i, const char *tid, const char *field, char *out, size_t outlen) {
    redisContext *c = redis_of(i);
    redisReply *r = redisCommand(c, "HGET " STORE_KEY_LEG_PREFIX "%s" STORE_KEY_LEG_SUFFIX " %s", tid, field);
    snprintf(out, outlen, "%s", r != NULL && r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
    redisFree(c);
}

/* Waits until leg tid's field in region i is want (at most timeout_ms). */
static void wait_leg_field(int i, const char *tid, const char *field, const char *want, int timeout_ms) {
    long long until = proc_now_ms() + timeout_ms;
    char v[64];
    for (;;) {
        leg_field(i, tid, field, v, sizeof v);
        if (!strcmp(v, want)) return;
        cr_assert(proc_now_ms() < until, "leg %s at %s: %s is '%s', never '%s'", tid,
                  federation_region(fed, i), field, v, want);
        proc_sleep_ms(100);
    }
}

/* A federation (legs expiring after leg_expiry_ms) where tj-a, issued
 * 4750 g under activity fp, transfers 2 kg to bj-b as tid while CN-TJ is
 * armed to die at failpoint ("CN-TJ:NAME"); returns once CN-TJ is dead,
 * with the Transfer's status. */
static grpc_status_code transfer_as_tj_dies(const char *failpoint, int leg_expiry_ms, const char *fp, char tid[33]) {
    setenv("CARBON_FAILPOINT", failpoint, 1);
    start2(leg_expiry_ms);
    client_status_t st;
    cr_assert_eq(rc_open(reg(TJ), "tj-a", &st), GRPC_STATUS_OK, "%s", st.details);
    char iid[33];
    rc_new_id(iid);
    cr_assert_eq(rc_issue(reg(TJ), iid, "tj-a", "TJ-GT-01", 100000, fp, NULL, &st), GRPC_STATUS_OK, "%s",
                 st.details); /* 4750 g */
    cr_assert_eq(rc_open(reg(BJ), "bj-b", &st), GRPC_STATUS_OK);
    rc_new_id(tid);
    grpc_status_code trc = rc_transfer(reg(TJ), tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 2, NULL, &st);
    for (int i = 0; i < 100 && proc_alive(federation_pid(fed, TJ)); i++) proc_sleep_ms(50);
    cr_assert(!proc_alive(federation_pid(fed, TJ)), "CN-TJ did not stop at its failpoint");
    unsetenv("CARBON_FAILPOINT");
    return trc;
}

/* A transfer tj-a -> bj-b held at CN-TJ, which was killed before its
 * Prepare and restarted: its record (caller frees the answer *g), the
 * transfer id in tid. */
static Carbon__V1__TransferRecord *held_transfer(char tid[33], Carbon__V1__GetTransferResponse **g) {
    grpc_status_code trc = transfer_as_tj_dies("CN-TJ:source.before_prepare", 60000, "fp-heuristic", tid);
    cr_assert(trc == GRPC_STATUS_UNAVAILABLE || trc == GRPC_STATUS_DEADLINE_EXCEEDED || trc == GRPC_STATUS_UNKNOWN ||
                  trc == GRPC_STATUS_CANCELLED || trc == GRPC_STATUS_INTERNAL,
              "transfer: %d", trc);
    cr_assert_eq(federation_restart(fed, TJ), 0, "%s", federation_last_error());
    *g = NULL;
    client_status_t st;
    cr_assert_eq(rc_get_transfer(reg(TJ), tid, g, &st), GRPC_STATUS_OK, "%s", st.details);
    return (*g)->transfer;
}

/* The set-up (file comment): returns the transfer id in tid. */
static void prepared_leg_with_coordinator_paused(char tid[33]) {
    Carbon__V1__GetTransferResponse *g = NULL;
    Carbon__V1__TransferRecord *rec = held_transfer(tid, &g);
    rc_prepare_record(fed, BJ, "CN-TJ", tid, "CN-TJ/tj-a", "CN-BJ/bj-b", rec, 1000);
    protobuf_c_message_free_unpacked(&g->base, NULL);
    cr_assert_eq(federation_sigstop(fed, TJ), 0, "%s", federation_last_error());
    proc_sleep_ms(1200); /* past the leg's expiry */
}

/* A Prepare whose leg expires while the destination holds it before its
 * store call (a pause of 1.5 s there, standing in for the origin of
 * third-region serials answering late: up to half the source's deadline)
 * is voted no, EXPIRED, and nothing is prepared. Before, the store judged
 * the leg by the clock read before the wait and prepared it past its
 * expiry, when its source may already have aborted it. */
Test(heuristic, a_leg_that_expires_while_the_destination_waits_is_voted_no, .timeout = 120) {
    setenv("CARBON_TEST_HOOKS", "1", 1);
    setenv("CARBON_FAILPOINT_PAUSE", "CN-BJ:dest.before_prepare:1500", 1);
    char tid[33];
    Carbon__V1__GetTransferResponse *g = NULL;
    Carbon__V1__TransferRecord *rec = held_transfer(tid, &g);
    cr_assert_eq(federation_sigstop(fed, TJ), 0, "%s", federation_last_error()); /* it sends nothing itself */
    Carbon__V1__Leg leg;
    rc_leg_init(&leg, tid, "CN-TJ/tj-a", "CN-BJ/bj-b", rec->blocks, rec->n_blocks, rec->quote,
                ledger_now_ms() + 700);
    Carbon__V1__Vote vote = CARBON__V1__VOTE__VOTE_YES;
    char why[128] = "";
    client_status_t st;
    cr_assert_eq(rc_prepare(federation_channel(fed, BJ, "CN-TJ-gateway"), "CN-TJ", &leg, &vote, why, sizeof why,
                            &st),
                 GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(vote, CARBON__V1__VOTE__VOTE_NO, "a leg expired during the wait was prepared");
    cr_assert_str_eq(why, "EXPIRED");
    char v[32];
    leg_field(BJ, tid, "state", v, sizeof v);
    cr_assert_neq(strcmp(v, "PREPARED"), 0, "the leg is prepared at CN-BJ");
    cr_assert_eq(federation_log_count(fed, BJ, "\"failpoint_pause\""), 1, "the pause did not happen");
    protobuf_c_message_free_unpacked(&g->base, NULL);
    unsetenv("CARBON_FAILPOINT_PAUSE");
    unsetenv("CARBON_TEST_HOOKS");
    stop_all();
}

/* Forces COMMIT at BJ: refused (HEURISTIC_TOO_EARLY, nothing changes) until
 * the coordinator has failed recorded attempts for HEURISTIC_AFTER_MS, then
 * applied and recorded as heuristic. Returns the grams credited. */
static uint64_t force_when_allowed(const char *tid, int commit) {
    const char *how = commit ? "--commit" : "--abort";
    char *err = NULL;
    cr_assert_eq(resolve(BJ, tid, how, &err), 4, "a forced decision after one timeout was accepted");
    cr_assert(strstr(err, "HEURISTIC_TOO_EARLY") != NULL && strstr(err, "ms remain") != NULL, "%s", err);
    free(err);
    cr_assert_eq(rc_total_g(reg(BJ), "bj-b"), 0, "a refused resolve changed the account");
    const char *list[] = {"indoubt", NULL};
    char *shown = NULL;
    cr_assert_eq(gwctl(BJ, "operator", &shown, NULL, list), 1);
    cr_assert(strstr(shown, tid) != NULL && strstr(shown, "failed attempts over") != NULL, "%s", shown);
    free(shown);
    long long first_refusal = proc_now_ms(), allowed_at = 0;
    while (allowed_at == 0 && proc_now_ms() < first_refusal + 30000) {
        proc_sleep_ms(400);
        int rc = resolve(BJ, tid, how, &err);
        cr_assert(rc == 0 || (rc == 4 && strstr(err, "HEURISTIC_TOO_EARLY") != NULL), "exit %d: %s", rc, err);
        free(err);
        if (rc == 0) allowed_at = proc_now_ms();
    }
    cr_assert_neq(allowed_at, 0, "never allowed");
    /* the recorded attempts span the configured time (first attempt after the expiry) */
    char v[32];
    leg_field(BJ, tid, "doubt_attempts", v, sizeof v);
    cr_assert_geq(atoi(v), 2, "attempts recorded: %s", v);
    char first[32], last[32];
    leg_field(BJ, tid, "doubt_first_ms", first, sizeof first);
    leg_field(BJ, tid, "doubt_last_ms", last, sizeof last);
    cr_assert_geq(strtoull(last, NULL, 10) - strtoull(first, NULL, 10), HEURISTIC_AFTER_MS,
                  "forced after %s..%s", first, last);
    leg_field(BJ, tid, "heuristic", v, sizeof v);
    cr_assert_str_eq(v, commit ? "C" : "A", "the forced decision is not recorded as heuristic");
    uint64_t credited = rc_total_g(reg(BJ), "bj-b");
    cr_assert(commit ? credited > 0 : credited == 0, "%llu g", (unsigned long long)credited);
    /* listed while the coordinator has not answered, with the forced decision */
    const char *args[] = {"indoubt", NULL};
    char *out = NULL;
    cr_assert_eq(gwctl(BJ, "operator", &out, NULL, args), 1);
    cr_assert(strstr(out, tid) != NULL && strstr(out, commit ? "COMMIT" : "ABORT") != NULL, "%s", out);
    free(out);
    return credited;
}

Test(heuristic, forced_commit_waits_and_converges_when_the_coordinator_aborts, .timeout = 240) {
    char tid[33];
    prepared_leg_with_coordinator_paused(tid);
    force_when_allowed(tid, 1);

    /* The coordinator resumes: asked again, it presumes abort. The credits are
     * still in the account: taken back; never silently kept. */
    cr_assert_eq(federation_sigcont(fed, TJ), 0);
    wait_leg_field(BJ, tid, "heuristic_outcome", "REVERSED", 20000);
    cr_assert_eq(rc_total_g(reg(BJ), "bj-b"), 0, "credits created at CN-BJ");
    cr_assert_eq(rc_total_g(reg(TJ), "tj-a"), 4750);
    wait_leg_field(TJ, tid, "acked", "1", 20000); /* its Decide ABORT was acknowledged */
    checker_report_t *rep = rc_wait_settled(fed, 20000);
    cr_assert_eq(rep->violations_n, 0, "%s", rep->violations[0]);
    free(rep);
    cr_assert_geq(federation_log_count(fed, BJ, "\"heuristic_settled\""), 1);
    /* the forced COMMIT's report of its discount cancellation to CN-TJ is
     * withdrawn with it (CN-TJ's map never placed those serials at CN-BJ) */
    redisContext *c = redis_of(BJ);
    redisReply *z = redisCommand(c, "ZCARD " STORE_KEY_REPORTS_OUT_PREFIX "CN-TJ");
    cr_assert(z != NULL && z->type == REDIS_REPLY_INTEGER);
    cr_expect_eq(z->integer, 0, "CN-BJ still has %lld use reports for CN-TJ", z->integer);
    freeReplyObject(z);
    redisFree(c);
    /* the audit log replays to the store (the 'heuristic' entry moved the blocks back) */
    const char *verify[] = {"audit", "verify", "--region", "CN-BJ", NULL};
    char *out = NULL;
    cr_assert_eq(gwctl(BJ, "auditor", &out, NULL, verify), 0, "%s", out);
    free(out);
    const char *indoubt[] = {"indoubt", NULL};
    cr_assert_eq(gwctl(BJ, "operator", &out, NULL, indoubt), 0, "%s", out);
    free(out);
    stop_all();
}

/* ---- metrics --------------------------------------------------------------- */

/* The value of series in instance i's /metrics (port from its log), or -1. */
static long long metric(int i, const char *series) {
    char *log = harness_file_tail(federation_log_path(fed, i), 1 << 20);
    const char *p = NULL; /* the last start's */
    for (const char *q = strstr(log, "\"metrics_listening\""); q != NULL; q = strstr(q + 1, "\"metrics_listening\""))
        p = q;
    const char *pp = p != NULL ? strstr(p, "\"port\":") : NULL;
    int port = pp != NULL ? atoi(pp + 7 + (pp[7] == ' ')) : 0;
    free(log);
    if (port <= 0) return -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static char buf[1 << 18];
    size_t len = 0;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        send(fd, "GET /metrics HTTP/1.0\r\n\r\n", 25, MSG_NOSIGNAL) == 25) {
        ssize_t r;
        while (len < sizeof buf - 1 && ((r = recv(fd, buf + len, sizeof buf - 1 - len, 0)) > 0 || errno == EINTR))
            if (r > 0) len += (size_t)r;
    }
    if (fd >= 0) close(fd);
    buf[len] = '\0';
    char needle[128];
    snprintf(needle, sizeof needle, "\n%s ", series);
    const char *v = strstr(buf, needle);
    return v != NULL ? atoll(v + strlen(needle)) : -1;
}

/* The set-up, a forced COMMIT, the credits partly retired at CN-BJ, then
 * CN-TJ resumes and presumes abort: both legs end HEURISTIC_MIXED. Returns
 * the grams credited. */
static uint64_t mixed_leg(char tid[33]) {
    prepared_leg_with_coordinator_paused(tid);
    uint64_t credited = force_when_allowed(tid, 1);
    /* The credits move on at CN-BJ before the coordinator answers. */
    char rid[33];
    rc_new_id(rid);
    client_status_t st;
    cr_assert_eq(rc_retire(reg(BJ), rid, "bj-b", "TJ-GT-01", 1, NULL, &st), GRPC_STATUS_OK, "%s", st.details);
    cr_assert_lt(rc_total_g(reg(BJ), "bj-b"), credited);
    cr_assert_eq(federation_sigcont(fed, TJ), 0);
    wait_leg_field(BJ, tid, "heuristic_outcome", "MIXED", 20000);
    /* The coordinator's Decide ABORT is answered HEURISTIC_MIXED: recorded,
     * alarmed, no longer re-sent. */
    wait_leg_field(TJ, tid, "heuristic_outcome", "MIXED", 20000);
    return credited;
}

Test(heuristic, forced_commit_spent_is_heuristic_mixed_until_compensated, .timeout = 240) {
    char tid[33];
    (void)mixed_leg(tid);
    redisContext *c = redis_of(TJ);
    redisReply *r = redisCommand(c, "ZSCORE " STORE_KEY_LEGS_OPEN " %s", tid);
    cr_assert(r != NULL && r->type == REDIS_REPLY_NIL, "CN-TJ still re-sends its decision");
    freeReplyObject(r);
    r = redisCommand(c, "ZSCORE " STORE_KEY_LEGS_UNACKED_PREFIX "CN-BJ %s", tid);
    cr_assert(r != NULL && r->type == REDIS_REPLY_NIL, "CN-TJ's recovery still re-sends its decision to CN-BJ");
    freeReplyObject(r);
    redisFree(c);
    /* and CN-BJ stops hearing it: its alarm line is not repeated pass after pass */
    int mixed_lines = federation_log_count(fed, BJ, "\"heuristic_mixed\"");
    proc_sleep_ms(2000); /* several recovery passes (300 ms) */
    cr_assert_leq(federation_log_count(fed, BJ, "\"heuristic_mixed\""), mixed_lines + 1,
                  "CN-TJ keeps sending its decision for a HEURISTIC_MIXED leg");
    const char *indoubt[] = {"indoubt", NULL};
    char *out = NULL;
    for (int i = TJ; i <= BJ; i++) {
        cr_assert_eq(gwctl(i, "operator", &out, NULL, indoubt), 1);
        cr_assert(strstr(out, tid) != NULL && strstr(out, "HEURISTIC_MIXED") != NULL, "%s", out);
        free(out);
    }
    cr_assert_geq(federation_log_count(fed, BJ, "\"heuristic_mixed\""), 1);
    cr_assert_geq(federation_log_count(fed, TJ, "\"heuristic_mixed\""), 1);
    long long until = proc_now_ms() + 10000;
    while (metric(BJ, "carbon_legs_heuristic_mixed") != 1 && proc_now_ms() < until) proc_sleep_ms(200);
    cr_assert_eq(metric(BJ, "carbon_legs_heuristic_mixed"), 1);
    cr_assert_geq(metric(TJ, "carbon_decision_conflicts_total"), 1);
    checker_report_t *rep = rc_check(fed, 0);
    int named = 0;
    for (uint64_t i = 0; i < rep->violations_n && i < CHECKER_VIOLATIONS_MAX; i++)
        named |= strstr(rep->violations[i], "HEURISTIC_MIXED") != NULL && strstr(rep->violations[i], tid) != NULL;
    cr_assert(named, "the checker does not name the HEURISTIC_MIXED leg");
    free(rep);

    /* Compensation: CN-TJ still holds the serials its abort returned, so they
     * leave again and CN-TJ converges on COMMIT, which closes CN-BJ's leg. */
    char *err = NULL;
    cr_assert_eq(resolve(BJ, tid, "--abort", &err), 4, "forced again");
    free(err);
    cr_assert_eq(resolve(TJ, tid, "--compensate", &err), 0, "%s", err);
    free(err);
    cr_assert_eq(resolve(TJ, tid, "--compensate", &err), 4, "compensated twice");
    cr_assert(strstr(err, "NOT_MIXED") != NULL, "%s", err);
    free(err);
    wait_leg_field(BJ, tid, "heuristic_outcome", "AGREED", 20000);
    rep = rc_wait_settled(fed, 20000);
    cr_assert_eq(rep->violations_n, 0, "%s", rep->violations[0]);
    free(rep);
    char debited[32];
    leg_field(TJ, tid, "debited_g", debited, sizeof debited);
    cr_assert_eq(rc_total_g(reg(TJ), "tj-a"), 4750 - strtoull(debited, NULL, 10));
    for (int i = TJ; i <= BJ; i++) {
        cr_assert_eq(gwctl(i, "operator", &out, NULL, indoubt), 0, "%s", out);
        free(out);
        const char *verify[] = {"audit", "verify", "--region", federation_region(fed, i), NULL};
        cr_assert_eq(gwctl(i, "auditor", &out, NULL, verify), 0, "%s", out);
        free(out);
    }
    stop_all();
}

/* A HEURISTIC_MIXED leg heads gwctl indoubt however many legs merely wait:
 * with --limit 1 and a decision CN-BJ has not acknowledged (CN-BJ paused, a
 * settled leg put back among CN-TJ's unacknowledged ones), CN-TJ lists the
 * MIXED leg. It listed the waiting leg alone before: past the limit's worth
 * of ordinary legs in doubt (500 for the console), the alarm was hidden. */
Test(heuristic, a_mixed_leg_heads_the_in_doubt_list_before_legs_merely_waiting, .timeout = 240) {
    char tid[33], t2[33];
    (void)mixed_leg(tid);
    client_status_t st;
    rc_new_id(t2);
    cr_assert_eq(rc_transfer(reg(TJ), t2, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 1, NULL, &st), GRPC_STATUS_OK,
                 "%s", st.details);
    cr_assert_eq(federation_sigstop(fed, BJ), 0, "%s", federation_last_error());
    redisContext *c = redis_of(TJ);
    redisReply *r = redisCommand(c, "ZADD " STORE_KEY_LEGS_UNACKED_PREFIX "CN-BJ 1 %s", t2);
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    redisFree(c);
    const char *one[] = {"indoubt", "--limit", "1", NULL};
    char *out = NULL;
    int rc = gwctl(TJ, "operator", &out, NULL, one);
    cr_assert_eq(federation_sigcont(fed, BJ), 0, "%s", federation_last_error());
    cr_assert_eq(rc, 1, "%s", out);
    cr_expect(strstr(out, tid) != NULL && strstr(out, "HEURISTIC_MIXED") != NULL,
              "the MIXED leg is not listed: %s", out);
    free(out);
    const char *all[] = {"indoubt", NULL};
    out = NULL;
    cr_assert_eq(gwctl(TJ, "operator", &out, NULL, all), 1);
    cr_expect(strstr(out, tid) != NULL, "%s", out);
    free(out);
    stop_all();
}

/* A forced ABORT against a coordinator that committed (issue 15, reproduction
 * 2, second half): CN-TJ dies right after its commit point, before its
 * Decide; CN-BJ's prepared leg expires and CN-TJ fails recovery's questions.
 * The forced ABORT drops the pending credit; when CN-TJ comes back, its
 * Decide COMMIT re-applies it: no credits lost. */
Test(heuristic, forced_abort_is_reapplied_when_the_coordinator_committed, .timeout = 240) {
    char tid[33];
    (void)transfer_as_tj_dies("CN-TJ:source.after_decide", 2000, "fp-heuristic-a", tid);
    char v[32];
    leg_field(TJ, tid, "state", v, sizeof v);
    cr_assert_str_eq(v, "COMMITTED");
    leg_field(BJ, tid, "state", v, sizeof v);
    cr_assert_str_eq(v, "PREPARED");
    proc_sleep_ms(2200); /* past the leg's expiry */
    force_when_allowed(tid, 0);
    cr_assert_eq(rc_total_g(reg(BJ), "bj-b"), 0);

    cr_assert_eq(federation_restart(fed, TJ), 0, "%s", federation_last_error());
    wait_leg_field(BJ, tid, "heuristic_outcome", "REAPPLIED", 20000);
    wait_leg_field(TJ, tid, "acked", "1", 20000);
    char debited[32];
    leg_field(TJ, tid, "debited_g", debited, sizeof debited);
    cr_assert_eq(rc_total_g(reg(TJ), "tj-a"), 4750 - strtoull(debited, NULL, 10));
    cr_assert_gt(rc_total_g(reg(BJ), "bj-b"), 0, "credits lost");
    checker_report_t *rep = rc_wait_settled(fed, 20000);
    cr_assert_eq(rep->violations_n, 0, "%s", rep->violations[0]);
    free(rep);
    const char *verify[] = {"audit", "verify", "--region", "CN-BJ", NULL};
    char *out = NULL;
    cr_assert_eq(gwctl(BJ, "auditor", &out, NULL, verify), 0, "%s", out);
    free(out);
    stop_all();
}

/* Closes the MIXED leg tid at instance i (gwctl resolve HOW: --compensate
 * or --close): it is COMPENSATED, still in state, and acct's grams did not
 * move. */
static void close_moves_nothing(int i, const char *tid, const char *how, const char *acct, const char *state) {
    uint64_t before = rc_total_g(reg(i), acct);
    char *err = NULL;
    cr_assert_eq(resolve(i, tid, how, &err), 0, "%s", err);
    free(err);
    char v[32];
    leg_field(i, tid, "heuristic_outcome", v, sizeof v);
    cr_assert_str_eq(v, "COMPENSATED");
    leg_field(i, tid, "state", v, sizeof v);
    cr_assert_str_eq(v, state);
    cr_assert_eq(rc_total_g(reg(i), acct), before, "closing the leg at %s moved credits",
                 federation_region(fed, i));
}

/* A coordinator that sends the serials of a leg BJ's operator aborted by
 * force in a second leg, and then commits the first: BJ does not credit
 * them twice. The first leg stays ABORTED and is HEURISTIC_MIXED on both
 * sides; closed at each side, nothing moves, and neither lists it any
 * more. Before, BJ re-applied the first leg over the second: the same
 * serials twice in bj-b. */
Test(heuristic, a_forced_abort_is_not_reapplied_over_serials_a_coordinator_sent_twice, .timeout = 240) {
    setenv("CARBON_FAILPOINT", "CN-TJ:source.after_decide", 1);
    start2(2000);
    client_status_t st;
    cr_assert_eq(rc_open(reg(TJ), "tj-a", &st), GRPC_STATUS_OK, "%s", st.details);
    char iid[33], tid[33], tid2[33];
    rc_new_id(iid);
    cr_assert_eq(rc_issue(reg(TJ), iid, "tj-a", "TJ-GT-01", 100000, "fp-heuristic-twice", NULL, &st),
                 GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(rc_open(reg(BJ), "bj-b", &st), GRPC_STATUS_OK);
    Carbon__V1__QuoteResponse *q = NULL;
    cr_assert_eq(rc_quote(reg(TJ), "tj-a", "CN-BJ", "TJ-GT-01", 2, &q, &st), GRPC_STATUS_OK, "%s", st.details);
    rc_new_id(tid);
    rc_transfer(reg(TJ), tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 2, NULL, &st); /* TJ stops after its commit */
    for (int i = 0; i < 100 && proc_alive(federation_pid(fed, TJ)); i++) proc_sleep_ms(50);
    cr_assert(!proc_alive(federation_pid(fed, TJ)), "CN-TJ did not stop at its failpoint");
    unsetenv("CARBON_FAILPOINT");
    char text[512];
    leg_field(TJ, tid, "blocks", text, sizeof text);
    ledger_block_t *lb = NULL;
    size_t n = 0;
    cr_assert_eq(ledger_blocks_parse(text, 8, &lb, &n), 0, "blocks '%s'", text);
    cr_assert(n >= 1);
    Carbon__V1__CreditBlock cb[8], *cbp[8];
    for (size_t i = 0; i < n; i++) {
        carbon__v1__credit_block__init(&cb[i]);
        cb[i].origin_region = lb[i].origin;
        cb[i].methodology_id = lb[i].meth;
        cb[i].vintage_year = lb[i].vintage;
        cb[i].serial_start = lb[i].first;
        cb[i].serial_end = lb[i].last;
        cbp[i] = &cb[i];
    }
    proc_sleep_ms(2200); /* past the leg's expiry */
    force_when_allowed(tid, 0);

    /* The same serials again, in a second leg TJ's certificate sends by hand. */
    grpc_channel *as_tj = federation_channel(fed, BJ, "CN-TJ-gateway");
    rc_new_id(tid2);
    Carbon__V1__Leg leg;
    rc_leg_init(&leg, tid2, "CN-TJ/tj-a", "CN-BJ/bj-b", cbp, n, q->quote, ledger_now_ms() + 60000);
    Carbon__V1__Vote vote;
    char why[128];
    cr_assert_eq(rc_prepare(as_tj, "CN-TJ", &leg, &vote, why, sizeof why, &st), GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(vote, CARBON__V1__VOTE__VOTE_YES, "voted no: %s", why);
    Carbon__V1__Decision applied;
    cr_assert_eq(rc_decide(as_tj, "CN-TJ", tid2, 1, &applied, &st), GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(applied, CARBON__V1__DECISION__DECISION_COMMIT);
    uint64_t once = rc_total_g(reg(BJ), "bj-b");
    cr_assert_eq(once, q->quote->credited_g);

    /* TJ comes back and sends its COMMIT of the first leg. */
    cr_assert_eq(federation_restart(fed, TJ), 0, "%s", federation_last_error());
    wait_leg_field(BJ, tid, "heuristic_outcome", "MIXED", 20000);
    cr_assert_eq(rc_total_g(reg(BJ), "bj-b"), once, "the serials credited twice");
    char v[32];
    leg_field(BJ, tid, "state", v, sizeof v);
    cr_assert_str_eq(v, "ABORTED");
    wait_leg_field(TJ, tid, "heuristic_outcome", "MIXED", 20000);
    close_moves_nothing(BJ, tid, "--compensate", "bj-b", "ABORTED");
    cr_assert_eq(rc_total_g(reg(BJ), "bj-b"), once, "closing the leg took credits");
    /* TJ's side, COMMITTED and MIXED, closes too, and nothing moves */
    close_moves_nothing(TJ, tid, "--compensate", "tj-a", "COMMITTED");
    const char *indoubt[] = {"indoubt", NULL};
    char *out = NULL;
    for (int i = TJ; i <= BJ; i++) {
        cr_assert_eq(gwctl(i, "operator", &out, NULL, indoubt), 0, "still listed: %s", out);
        free(out);
        const char *verify[] = {"audit", "verify", "--region", federation_region(fed, i), NULL};
        cr_assert_eq(gwctl(i, "auditor", &out, NULL, verify), 0, "%s", out);
        free(out);
    }
    free(lb);
    protobuf_c_message_free_unpacked(&q->base, NULL);
    stop_all();
}

/* BJ's use reports to TJ still to send, without what their retries
 * change (due time, tries, last reason): "id kind|purpose|blocks|created_ms"
 * per line, by id (the outbox's order is the due time, which retries
 * change). malloc'd. */
static char *bj_reports_to_tj(void) {
    redisContext *c = redis_of(BJ);
    redisReply *ids = redisCommand(c, "SORT %sCN-TJ ALPHA", STORE_KEY_REPORTS_OUT_PREFIX);
    cr_assert(ids != NULL && ids->type == REDIS_REPLY_ARRAY);
    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&out, &len);
    cr_assert_not_null(m);
    for (size_t k = 0; k < ids->elements && k < 1000; k++) {
        redisReply *r = redisCommand(c, "HMGET %sCN-TJ:%s%s kind purpose blocks created_ms", STORE_KEY_REPORT_OUT_PREFIX,
                                     ids->element[k]->str, STORE_KEY_REPORT_OUT_SUFFIX);
        cr_assert(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 4);
        fprintf(m, "%s", ids->element[k]->str);
        for (size_t f = 0; f < 4; f++)
            fprintf(m, "%c%s", f == 0 ? ' ' : '|', r->element[f]->type == REDIS_REPLY_STRING ? r->element[f]->str : "");
        fputc('\n', m);
        freeReplyObject(r);
    }
    fclose(m);
    freeReplyObject(ids);
    redisFree(c);
    return out;
}

/* A block of vintage 2000 (first in bj-b's spending order) whose last serial
 * a hand edit wrote as 1e20: it parses, but is no block. */
#define BJ_B_BLOCKS_KEY STORE_KEY_ACCOUNT_PREFIX "bj-b" STORE_KEY_ACCOUNT_BLOCKS_SUFFIX
#define BJ_B_BAD_MEMBER "BJ-EL-01|2000 CN-BJ 0000000000000001 1e20             BJ-EL-01"

/* Adds (add 1) or removes the damaged member in bj-b's blocks. */
static void bj_b_damage(int add) {
    redisContext *c = redis_of(BJ);
    redisReply *r = redisCommand(c, add ? "ZADD " BJ_B_BLOCKS_KEY " 0 %s" : "ZREM " BJ_B_BLOCKS_KEY " %s",
                                 BJ_B_BAD_MEMBER);
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1, "%s the damaged member",
              add ? "adding" : "removing");
    freeReplyObject(r);
    redisFree(c);
}

/* An operator's take-back at the destination (the MIXED leg tid) from an
 * account a hand edit damaged is refused ACCOUNT_DAMAGED (gwctl exits 1, as
 * for other data found damaged) and changes nothing; the account repaired,
 * it goes on. */
static void damaged_take_back_refused(const char *tid) {
    bj_b_damage(1);
    const char *const retried[] = {STORE_KEY_REPORTS_OUT_PREFIX, STORE_KEY_REPORT_OUT_PREFIX, NULL};
    char *snap = federation_store_snapshot_except(fed, BJ, retried), *err = NULL;
    cr_assert_eq(resolve(BJ, tid, "--compensate", &err), 1, "compensated from a damaged account: %s", err);
    cr_assert(strstr(err, "ACCOUNT_DAMAGED") != NULL && strstr(err, "nothing taken") != NULL, "%s", err);
    free(err);
    char *snap2 = federation_store_snapshot_except(fed, BJ, retried);
    cr_assert(snap != NULL && snap2 != NULL && strcmp(snap, snap2) == 0, "a refused take-back changed the store");
    free(snap);
    free(snap2);
    char v[32];
    leg_field(BJ, tid, "heuristic_outcome", v, sizeof v);
    cr_assert_str_eq(v, "MIXED");
    bj_b_damage(0);
}

/* The coordinator's side of a MIXED leg whose destination compensated:
 * CN-TJ still lists it, naming --close, until its operator closes it as it
 * is (`gwctl resolve --close`: it holds ABORT, nothing moves, tj-a as
 * before); then nothing is listed on either side nor counted at TJ, a
 * second close is refused, and TJ's log verifies. (Before: no action
 * closed it; --compensate there is refused INSUFFICIENT_BALANCE, and would
 * cancel the grams a second time where it is not.) */
static void coordinator_closes_as_it_is(const char *tid) {
    const char *indoubt[] = {"indoubt", NULL};
    char *out = NULL, *err = NULL;
    cr_assert_eq(gwctl(TJ, "operator", &out, NULL, indoubt), 1, "%s", out);
    cr_assert(strstr(out, tid) != NULL && strstr(out, "--close") != NULL, "%s", out);
    free(out);
    close_moves_nothing(TJ, tid, "--close", "tj-a", "ABORTED");
    cr_assert_eq(federation_log_count(fed, TJ, "\"heuristic_closed\""), 1);
    cr_assert_eq(resolve(TJ, tid, "--close", &err), 4, "closed twice");
    cr_assert(strstr(err, "NOT_MIXED") != NULL, "%s", err);
    free(err);
    long long until = proc_now_ms() + 10000;
    while (metric(TJ, "carbon_legs_heuristic_mixed") != 0 && proc_now_ms() < until) proc_sleep_ms(200);
    cr_assert_eq(metric(TJ, "carbon_legs_heuristic_mixed"), 0);
    for (int i = TJ; i <= BJ; i++) {
        cr_assert_eq(gwctl(i, "operator", &out, NULL, indoubt), 0, "%s", out);
        free(out);
    }
    const char *verify[] = {"audit", "verify", "--region", "CN-TJ", NULL};
    cr_assert_eq(gwctl(TJ, "auditor", &out, NULL, verify), 0, "%s", out);
    free(out);
    const char *model[] = {"audit", "model-check", "--max-skew-ms", "0", NULL};
    cr_assert_eq(gwctl(TJ, "auditor", &out, NULL, model), 0, "%s", out);
    free(out);
}

/* When the coordinator no longer holds the serials its abort gave back, it
 * cannot compensate; the destination does, by cancelling the leg's grams. */
Test(heuristic, a_mixed_leg_is_compensated_at_the_destination_when_the_source_spent_its_copy, .timeout = 240) {
    char tid[33];
    uint64_t credited = mixed_leg(tid);
    char rid[33];
    rc_new_id(rid);
    client_status_t st;
    cr_assert_eq(rc_retire(reg(TJ), rid, "tj-a", "TJ-GT-01", 4, NULL, &st), GRPC_STATUS_OK, "%s", st.details); /* 4 kg, oldest serials first */
    char *err = NULL;
    cr_assert_eq(resolve(TJ, tid, "--compensate", &err), 4, "compensated without the serials");
    cr_assert(strstr(err, "INSUFFICIENT_BALANCE") != NULL, "%s", err);
    free(err);
    /* bj-b holds less than the leg credited (part was retired): refused,
     * nothing changes; with Beijing's own credits too, the grams are there */
    /* BJ's report of the retirement to TJ (mixed_leg) is refused by TJ,
     * whose abort took the serials home, and retried on its own timer
     * (1, 3, 7, 15 s...): its outbox entry changes whenever it falls due */
    const char *const retried[] = {STORE_KEY_REPORTS_OUT_PREFIX, STORE_KEY_REPORT_OUT_PREFIX, NULL};
    char *snap = federation_store_snapshot_except(fed, BJ, retried), *reports = bj_reports_to_tj();
    cr_assert_eq(resolve(BJ, tid, "--compensate", &err), 4, "compensated beyond the account");
    cr_assert(strstr(err, "INSUFFICIENT_BALANCE") != NULL, "%s", err);
    free(err);
    char *snap2 = federation_store_snapshot_except(fed, BJ, retried);
    cr_assert(snap != NULL && snap2 != NULL && strcmp(snap, snap2) == 0, "a refused compensation changed the store");
    free(snap);
    free(snap2);
    char *reports2 = bj_reports_to_tj();
    cr_assert_str_eq(reports2, reports, "a refused compensation changed BJ's reports to TJ");
    free(reports);
    free(reports2);
    char iid[33];
    rc_new_id(iid);
    cr_assert_eq(rc_issue(reg(BJ), iid, "bj-b", "BJ-EL-01", 35500, "fp-bj-own", NULL, &st), GRPC_STATUS_OK, "%s",
                 st.details);
    uint64_t before = rc_total_g(reg(BJ), "bj-b");
    cr_assert_gt(before, credited);
    damaged_take_back_refused(tid);
    cr_assert_eq(resolve(BJ, tid, "--compensate", &err), 0, "%s", err);
    free(err);
    cr_assert_eq(rc_total_g(reg(BJ), "bj-b"), before - credited);
    char v[32];
    leg_field(BJ, tid, "heuristic_outcome", v, sizeof v);
    cr_assert_str_eq(v, "COMPENSATED");
    const char *indoubt[] = {"indoubt", NULL};
    char *out = NULL;
    cr_assert_eq(gwctl(BJ, "operator", &out, NULL, indoubt), 0, "%s", out);
    free(out);
    const char *verify[] = {"audit", "verify", "--region", "CN-BJ", NULL};
    cr_assert_eq(gwctl(BJ, "auditor", &out, NULL, verify), 0, "%s", out);
    free(out);
    coordinator_closes_as_it_is(tid);
    stop_all();
}

/* How many of CN-HE's serials its map places cancelled at CN-BJ
 * (members "FIRST:LAST:CN-BJ:cancelled"). */
static uint64_t he_serials_cancelled_at_bj(void) {
    redisContext *c = redis_of(HE);
    redisReply *r = redisCommand(c, "ZRANGE %s 0 -1", STORE_KEY_ORIGIN_MAP);
    cr_assert(r != NULL && r->type == REDIS_REPLY_ARRAY);
    uint64_t n = 0;
    for (size_t k = 0; k < r->elements; k++) {
        unsigned long long first = 0, last = 0;
        char where[32] = "";
        if (sscanf(r->element[k]->str, "%llu:%llu:%31s", &first, &last, where) == 3 &&
            strcmp(where, "CN-BJ:cancelled") == 0 && last >= first)
            n += last - first + 1;
    }
    freeReplyObject(r);
    redisFree(c);
    return n;
}

/* BJ's use reports to CN-TJ waiting to be sent or acknowledged. */
static long long bj_reports_to_tj_pending(void) {
    redisContext *c = redis_of(BJ);
    redisReply *r = redisCommand(c, "ZCARD %s", STORE_KEY_REPORTS_OUT_PREFIX "CN-TJ");
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER);
    long long n = r->integer;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

/* A compensation at the destination takes the leg's grams from bj-b's
 * oldest blocks: first CN-HE's serials that arrived before ("CN-HE" sorts
 * before "CN-TJ"), then the leg's own CN-TJ serials. It cancels them, and
 * reports CN-HE's to CN-HE, as a retirement is reported, so CN-HE's map
 * places them cancelled at CN-BJ; not the leg's own to CN-TJ, whose map has
 * them where the coordinator's ABORT put them (it would refuse the report).
 * Before, nothing was reported, and CN-HE's map kept them live at CN-BJ for
 * good. */
Test(heuristic, a_compensation_reports_the_other_regions_serials_it_cancels, .timeout = 240) {
    regions_started = 3;
    char tid[33];
    uint64_t credited = mixed_leg(tid);
    client_status_t st;
    cr_assert_eq(rc_open(reg(HE), "he-c", &st), GRPC_STATUS_OK, "%s", st.details);
    char iid[33], t2[33];
    rc_new_id(iid);
    cr_assert_eq(rc_issue(reg(HE), iid, "he-c", "HE-GT-01", 100000, "fp-he-ride", NULL, &st), GRPC_STATUS_OK,
                 "%s", st.details);
    rc_new_id(t2);
    cr_assert_eq(rc_transfer(reg(HE), t2, "he-c", "CN-BJ", "bj-b", "HE-GT-01", 5, NULL, &st), GRPC_STATUS_OK,
                 "%s", st.details);
    cr_assert_eq(rc_wait_arrival(reg(BJ), t2, 30000), 0);
    uint64_t he_g = rc_balance_g(reg(BJ), "bj-b", "HE-GT-01"), cancelled = 0;
    cr_assert(he_g > 0 && he_g < credited, "CN-HE's serials at bj-b: %" PRIu64 " g of %" PRIu64, he_g, credited);
    for (int tries = 0; tries < 50; tries++) { /* the transfer's discount, reported at its commit */
        proc_sleep_ms(200);
        uint64_t now = he_serials_cancelled_at_bj();
        if (tries > 5 && now == cancelled) break;
        cancelled = now;
    }
    long long to_tj = bj_reports_to_tj_pending(); /* mixed_leg's retirement, refused by CN-TJ and retried */
    char *err = NULL;
    cr_assert_eq(resolve(BJ, tid, "--compensate", &err), 0, "%s", err);
    free(err);
    cr_assert_eq(rc_balance_g(reg(BJ), "bj-b", "HE-GT-01"), 0, "the take left CN-HE's serials");
    uint64_t after = cancelled;
    for (int tries = 0; tries < 150 && after < cancelled + he_g; tries++) {
        proc_sleep_ms(200);
        after = he_serials_cancelled_at_bj();
    }
    cr_assert_eq(after, cancelled + he_g,
                 "CN-HE's map places %" PRIu64 " of its serials cancelled at CN-BJ, want %" PRIu64 " + %" PRIu64,
                 after, cancelled, he_g);
    cr_assert_leq(bj_reports_to_tj_pending(), to_tj, "the leg's own serials were reported to CN-TJ");
    stop_all();
}

/* A forced decision that the store cannot take (the account's pending_g
 * is not an integer: an edit of the store outside the gateway) is refused
 * DATA_LOSS with the reason LEG_DAMAGED and what is wrong, logged
 * leg_damaged, and changes nothing; once the operator repairs the account,
 * the same decision is accepted. Before, dest_decide raised: the operator
 * got STORE_UNAVAILABLE ("retry"), and each try wrote part of the leg
 * (the heuristic fields, then the failing pending_g). */
Test(heuristic, a_forced_decision_the_store_cannot_take_is_refused_and_changes_nothing, .timeout = 240) {
    char tid[33];
    prepared_leg_with_coordinator_paused(tid);
    const char *info = STORE_KEY_ACCOUNT_PREFIX "bj-b" STORE_KEY_ACCOUNT_INFO_SUFFIX;
    redisContext *c = redis_of(BJ);
    redisReply *r = redisCommand(c, "HGET %s pending_g", info);
    cr_assert(r != NULL && r->type == REDIS_REPLY_STRING && atoll(r->str) > 0);
    char pending[32];
    snprintf(pending, sizeof pending, "%s", r->str);
    freeReplyObject(r);
    r = redisCommand(c, "HSET %s pending_g garbage", info);
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    char *err = NULL;
    int rc;
    long long until = proc_now_ms() + 30000;
    while ((rc = resolve(BJ, tid, "--commit", &err)) != 0 && strstr(err, "HEURISTIC_TOO_EARLY") != NULL) {
        cr_assert(proc_now_ms() < until, "still too early: %s", err);
        free(err);
        proc_sleep_ms(400);
    }
    cr_assert(rc != 0 && strstr(err, "LEG_DAMAGED") != NULL && strstr(err, "pending_g") != NULL, "exit %d: %s", rc,
              err);
    free(err);
    char v[32];
    leg_field(BJ, tid, "state", v, sizeof v);
    cr_assert_str_eq(v, "PREPARED");
    leg_field(BJ, tid, "heuristic", v, sizeof v);
    cr_assert_str_eq(v, "", "the refused decision was recorded as heuristic");
    r = redisCommand(c, "HGET %s pending_g", info);
    cr_assert(r != NULL && r->type == REDIS_REPLY_STRING);
    cr_assert_str_eq(r->str, "garbage");
    freeReplyObject(r);
    cr_assert_eq(rc_total_g(reg(BJ), "bj-b"), 0, "a refused resolve credited the account");
    cr_assert_geq(federation_log_count(fed, BJ, "\"leg_damaged\""), 1, "no alarm leg_damaged at CN-BJ");

    r = redisCommand(c, "HSET %s pending_g %s", info, pending); /* the operator's repair */
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    redisFree(c);
    cr_assert_eq(resolve(BJ, tid, "--commit", &err), 0, "after the repair: %s", err);
    free(err);
    leg_field(BJ, tid, "heuristic", v, sizeof v);
    cr_assert_str_eq(v, "C");
    cr_assert_gt(rc_total_g(reg(BJ), "bj-b"), 0, "the forced COMMIT credited nothing");
    cr_assert_eq(federation_sigcont(fed, TJ), 0);
    stop_all();
}
