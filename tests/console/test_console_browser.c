/* test_console_browser.c - gwctl console's pages (issue 19) in Debian's
 * chromium, headless, against a real federation that has a committed
 * transfer, a leg in doubt whose coordinator lost its store, and so a fork
 * of that coordinator's audit log: each page is loaded with --dump-dom and
 * its DOM checked for what only a working page shows, screenshots go to
 * BINARY_DIR/console-screens/, and the in-doubt leg is resolved by hand in
 * the In doubt page over the DevTools protocol (cdp_resolve.mjs). */
#include "gateway/rpc/grpc_lifetime.h"
#include "settlement/ledger.h"
#include "tests/support/console_harness.h"
#include "tests/support/gateway_harness.h"
#include "tests/support/proc.h"
#include "tests/support/registry_client.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TJ 0
#define BJ 1
#define HE 2
#define SCREENS BINARY_DIR "/console-screens"

static federation_t *fed;

static grpc_channel *reg(int i) { return rc_registry(fed, i); }

static void open_issue(int region, const char *acct, const char *meth, uint64_t milli) {
    client_status_t st;
    cr_assert_eq(rc_open(reg(region), acct, &st), GRPC_STATUS_OK, "%s", st.details);
    char iid[33], fp[64];
    rc_new_id(iid);
    snprintf(fp, sizeof fp, "fp-%s", iid);
    cr_assert_eq(rc_issue(reg(region), iid, acct, meth, milli, fp, NULL, &st), GRPC_STATUS_OK, "%s", st.details);
}

/* The Prepare of TJ's pending transfer rec, sent to BJ in TJ's name, its
 * leg expiring in 1 s. */
static void prepare_at_bj(const char *tid, const Carbon__V1__TransferRecord *rec) {
    rc_prepare_record(fed, BJ, "CN-TJ", tid, "CN-TJ/tj-a", "CN-BJ/bj-b", rec, 1000);
}

/* Waits until witness w has cosigned a checkpoint of TJ's log (so that TJ's
 * log, lost and grown again, is a fork to it). */
static void tj_cosigned_by(int w) {
    static const char *const auditors[] = {"CN-TJ-auditor", "CN-BJ-auditor", "CN-HE-auditor"};
    Carbon__V1__GetCheckpointRequest req = CARBON__V1__GET_CHECKPOINT_REQUEST__INIT;
    for (long long until = proc_now_ms() + 15000;; proc_sleep_ms(100)) {
        ProtobufCMessage *resp = NULL;
        client_status_t st;
        cr_assert_eq(client_call(federation_channel(fed, w, auditors[w]), "/carbon.v1.Audit/GetCheckpoint", &req.base,
                                 &carbon__v1__get_checkpoint_response__descriptor, &resp, 10000, &st),
                     GRPC_STATUS_OK, "%s", st.details);
        const Carbon__V1__GetCheckpointResponse *r = (const Carbon__V1__GetCheckpointResponse *)resp;
        int cosigned = 0;
        for (size_t k = 0; k < r->n_witnessed; k++)
            cosigned |= strcmp(r->witnessed[k]->region, "CN-TJ") == 0 && r->witnessed[k]->checkpoint.len > 0;
        protobuf_c_message_free_unpacked(resp, NULL);
        if (cosigned) return;
        cr_assert(proc_now_ms() < until, "%s never cosigned a checkpoint of CN-TJ", federation_region(fed, w));
    }
}

/* A leg prepared at BJ whose coordinator, TJ, died after holding it and
 * then lost its store: only an operator can decide it (as in
 * test_audit_ops). Its transfer id into tid. */
static void leg_in_doubt_at_bj(char tid[33]) {
    open_issue(TJ, "tj-a", "TJ-GT-01", 100000);
    client_status_t st;
    cr_assert_eq(rc_open(reg(BJ), "bj-b", &st), GRPC_STATUS_OK);
    rc_new_id(tid);
    cr_assert_neq(rc_transfer(reg(TJ), tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 2, NULL, &st), GRPC_STATUS_OK);
    for (int i = 0; i < 100 && proc_alive(federation_pid(fed, TJ)); i++) proc_sleep_ms(50);
    unsetenv("CARBON_FAILPOINT");
    cr_assert_eq(federation_restart(fed, TJ), 0, "%s", federation_last_error());
    tj_cosigned_by(BJ);
    tj_cosigned_by(HE);
    Carbon__V1__GetTransferResponse *g = NULL;
    cr_assert_eq(rc_get_transfer(reg(TJ), tid, &g, &st), GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(g->transfer->outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_PENDING);
    prepare_at_bj(tid, g->transfer);
    protobuf_c_message_free_unpacked(&g->base, NULL);
    redisContext *tj = redis_connect(federation_redis(fed, TJ));
    cr_assert_not_null(tj);
    freeReplyObject(redisCommand(tj, "FLUSHALL"));
    redisFree(tj);
    /* TJ's new log is a fork to its witnesses: below the size cosigned and never
     * proven a prefix (an alarm a grace later), or grown past it (at once) */
    static const char *const accts[] = {"tj-w", "tj-x", "tj-y", "tj-z"};
    for (size_t i = 0; i < sizeof accts / sizeof accts[0]; i++) open_issue(TJ, accts[i], "TJ-GT-01", 1000);
}

static void start(void) {
    grpc_lifetime_begin();
    setenv("CARBON_FAILPOINT", "CN-TJ:source.before_prepare", 1);
    federation_options_t o = {.regions_n = 3, .leg_expiry_ms = 60000, .recovery_interval_ms = 300,
                              .extra_ini = "[limits]\nheuristic_after_ms = 1000\n[metrics]\nlisten = 127.0.0.1:0\n"};
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
}

static void stop_all(void) {
    unsetenv("CARBON_FAILPOINT");
    federation_free(fed);
    fed = NULL;
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

/* Loads page (the part after '#') of console c in headless chromium: its
 * DOM once the page has settled (malloc'd), and a screenshot into
 * SCREENS/NAME.png when name is not NULL. */
static char *browse(const console_run_t *c, const char *page, const char *name) {
    char url[512], profile[512], shot[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/?token=%s#%s", c->port, c->token, page);
    snprintf(profile, sizeof profile, "--user-data-dir=%s/chromium", federation_dir(fed));
    const char *argv[] = {"/usr/bin/chromium", "--headless", "--disable-gpu", "--no-sandbox", profile,
                          "--virtual-time-budget=6000", "--window-size=1280,1000", "--dump-dom", url, NULL};
    char *dom = NULL;
    int status = -1;
    cr_assert_eq(harness_run(argv, 90000, &status, &dom, NULL), 0, "chromium did not run (is it installed?)");
    cr_assert_eq(status, 0, "chromium exited %d", status);
    if (name != NULL) {
        mkdir(SCREENS, 0755);
        snprintf(shot, sizeof shot, "--screenshot=" SCREENS "/%s.png", name);
        argv[7] = shot;
        cr_assert_eq(harness_run(argv, 90000, &status, NULL, NULL), 0);
        cr_expect_eq(status, 0, "chromium --screenshot exited %d", status);
    }
    return dom;
}

static void expect_in(const char *dom, const char *needle) {
    cr_expect(strstr(dom, needle) != NULL, "no '%s' in the page:\n%s", needle, dom);
}

/* Federation, Trace and Metrics as CN-HE's auditor: every region readable. */
static void auditor_pages(const console_run_t *aud, const char *tid) {
    char *dom = browse(aud, "federation", "federation");
    expect_in(dom, "data-region=\"CN-BJ\"");
    expect_in(dom, "SERVING");
    expect_in(dom, "cosigned by CN-");
    expect_in(dom, "FORK: CN-TJ's audit log forked");
    expect_in(dom, "legs in doubt: <span class=\"warn\">1</span><span class=\"muted\"> (from its /metrics");
    free(dom);
    char page[64];
    snprintf(page, sizeof page, "trace=%s", tid);
    dom = browse(aud, page, "trace");
    expect_in(dom, "id=\"trace-svg\"");
    expect_in(dom, tid);
    expect_in(dom, "CN-BJ #");
    expect_in(dom, "CN-HE #");
    expect_in(dom, "proof to");
    expect_in(dom, "every proof verified");
    free(dom);
    /* a subject found nowhere: gwctl trace exits 1, and the page says so */
    dom = browse(aud, "trace=ffffffffffffffffffffffffffffffff", NULL);
    expect_in(dom, "nothing found for this subject");
    cr_expect_null(strstr(dom, "every proof verified"), "a trace that found nothing shows as verified");
    free(dom);
    dom = browse(aud, "metrics", "metrics");
    expect_in(dom, "settled per second");
    expect_in(dom, "transfers committed: 1");
    free(dom);
}

/* Whether dom shows "FORK: N unacknowledged forks ... witnessed by
 * witness (from its /metrics)" with N >= 1: a witness records one fork per
 * conflicting checkpoint it was offered, and how many TJ offered before its
 * alarm is timing. */
static int shows_metrics_fork_alarm(const char *dom, const char *witness) {
    char tail[160];
    snprintf(tail, sizeof tail, " unacknowledged forks of peers' audit logs witnessed by %s (from its /metrics)",
             witness);
    for (const char *at = strstr(dom, tail); at != NULL; at = strstr(at + 1, tail)) {
        const char *digits = at;
        while (digits > dom && isdigit((unsigned char)digits[-1])) digits--;
        if (digits == at || digits - dom < 6 || strncmp(digits - 6, "FORK: ", 6) != 0) continue;
        if (strtoull(digits, NULL, 10) >= 1) return 1;
    }
    return 0;
}

/* The open forks /api/federation's body shows for witness region, -1 when
 * the body or the region has none. */
static long long forks_open_at(const char *body, const char *region) {
    json_t *doc = json_loads(body, 0, NULL);
    long long open = -1;
    json_t *r;
    size_t i;
    json_array_foreach(json_object_get(doc, "regions"), i, r) {
        const char *name = json_string_value(json_object_get(r, "region"));
        json_t *n = json_object_get(json_object_get(r, "forks"), "open");
        if (name != NULL && strcmp(name, region) == 0 && json_is_integer(n)) open = json_integer_value(n);
    }
    json_decref(doc);
    return open;
}

/* Batches and In doubt as CN-BJ's operator, and the resolve by hand. */
static void operator_pages(const console_run_t *op, const char *doubt_tid) {
    char *dom = browse(op, "federation", NULL);
    cr_expect(shows_metrics_fork_alarm(dom, "CN-HE"), "no fork alarm from CN-HE's /metrics in: %.4000s", dom);
    free(dom);
    dom = browse(op, "batches=CN-BJ,CN-HE,incoming", "batches");
    expect_in(dom, "batches 1 to 1");
    expect_in(dom, "CN-HE</td><td>CN-BJ");
    free(dom);
    dom = browse(op, "batches=CN-BJ,CN-TJ,reconcile", NULL);
    expect_in(dom, "discrepancies 0");
    free(dom);
    dom = browse(op, "indoubt", "indoubt");
    expect_in(dom, doubt_tid);
    expect_in(dom, "not allowed for your certificate (PERMISSION_DENIED");
    free(dom);
    char url[256], out_shot[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/?token=%s#indoubt", op->port, op->token);
    snprintf(out_shot, sizeof out_shot, SCREENS "/indoubt-resolved.png");
    const char *argv[] = {"/usr/bin/node", SOURCE_DIR "/tests/console/cdp_resolve.mjs",
                          url, doubt_tid, "incident 42: coordinator lost its store", out_shot, NULL};
    int status = -1;
    char *out = NULL, *err = NULL;
    cr_assert_eq(harness_run(argv, 120000, &status, &out, &err), 0);
    cr_expect_eq(status, 0, "the resolve in the page failed (exit %d): %s%s", status, out, err);
    free(err);
    cr_expect(strstr(out, "wrong confirmation: NOT_CONFIRMED") != NULL, "%s", out);
    cr_expect(strstr(out, "right confirmation: applied ABORT") != NULL, "%s", out);
    free(out);
}

Test(console_browser, pages_show_the_federation_a_trace_batches_metrics_and_resolve_a_leg_in_doubt, .init = start,
     .fini = stop_all, .timeout = 400) {
    char doubt_tid[33], tid[33];
    leg_in_doubt_at_bj(doubt_tid);
    open_issue(HE, "he-c", "HE-RC-01", 12000);
    client_status_t st;
    rc_new_id(tid);
    Carbon__V1__TransferResponse *r = NULL;
    cr_assert_eq(rc_transfer(reg(HE), tid, "he-c", "CN-BJ", "bj-b", "HE-RC-01", 5, &r, &st), GRPC_STATUS_OK,
                 "%s", st.details);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    cr_assert_eq(rc_wait_arrival(reg(BJ), tid, 10000), 0, "never arrived");
    proc_sleep_ms(2000); /* checkpoints, cosigned, cover it; TJ's new log is a fork to its witnesses */
    console_run_t aud = {0}, op = {0};
    cr_assert_eq(console_start(fed, &aud, "CN-HE-auditor", "127.0.0.1:0", CONSOLE_METRICS_LOOPBACK), 0);
    cr_assert_eq(console_start(fed, &op, "CN-BJ-operator", "127.0.0.1:0", CONSOLE_METRICS_LOOPBACK), 0);
    char *body = NULL;
    long long until = proc_now_ms() + 30000;
    for (; console_get(&aud, "/api/federation", &body) == 200 &&
           (forks_open_at(body, "CN-BJ") < 1 || forks_open_at(body, "CN-HE") < 1) && proc_now_ms() < until;
         proc_sleep_ms(300))
        free(body);
    int both = forks_open_at(body, "CN-BJ") >= 1 && forks_open_at(body, "CN-HE") >= 1;
    if (!both) /* the assertion's message is cut short: the whole of it */
        fprintf(stderr, "console_browser: /api/federation after 30 s: %s\n", body);
    cr_assert(both, "TJ's witnesses did not both see a fork: %s", body);
    free(body);
    long long t0 = proc_now_ms();
    auditor_pages(&aud, tid);
    operator_pages(&op, doubt_tid);
    fprintf(stderr, "console pages in chromium: %lld ms\n", proc_now_ms() - t0);
    cr_assert_eq(console_get(&op, "/api/indoubt", &body), 200);
    cr_expect(strstr(body, "\"state\":\"ABORTED\",") != NULL && strstr(body, "\"heuristic\":\"ABORT\"") != NULL,
              "not forced ABORT after the resolve: %s", body);
    free(body);
    Carbon__V1__GetAccountResponse *a = NULL;
    cr_assert_eq(rc_account(reg(BJ), "bj-b", &a, &st), GRPC_STATUS_OK);
    cr_expect_eq(a->pending->grams, 0, "the aborted leg's pending credit was not released");
    protobuf_c_message_free_unpacked(&a->base, NULL);
    cr_expect_eq(console_stop(&op), 0);
    cr_expect_eq(console_stop(&aud), 0);
}
