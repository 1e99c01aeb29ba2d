/* test_audit_ops.c - batches, reconciliation, the audit chain and its
 * checkpoints, trace, and in-doubt resolution, against a real federation,
 * driven through gwctl as operators and auditors use it (issue 5). */
#include "gateway/rpc/grpc_lifetime.h"
#include "tests/support/gateway_harness.h"
#include "tests/support/proc.h"
#include "tests/support/registry_client.h"

#include "settlement/audit.h"
#include "settlement/store_keys.h"

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TJ 0
#define BJ 1
#define HE 2

static federation_t *fed;

static void start3(int leg_expiry_ms, int recovery_interval_ms) {
    grpc_lifetime_begin();
    federation_options_t o = {.regions_n = 3, .leg_expiry_ms = leg_expiry_ms,
                              .recovery_interval_ms = recovery_interval_ms,
                              .extra_ini = "[limits]\nheuristic_after_ms = 1000\n"};
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
}

static void stop_all(void) {
    federation_free(fed);
    fed = NULL;
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

static grpc_channel *reg(int i) { return rc_registry(fed, i); }

/* Runs gwctl with the given arguments as role of region i (targets all
 * regions for trace/audit). Returns the exit status; *out (malloc'd) is its
 * stdout. */
static int gwctl(int i, const char *role, char **out, const char *a0, const char *a1, const char *a2,
                 const char *a3, const char *a4, const char *a5) {
    char target[64], cert[512], key[512], ca[512], targets[256];
    snprintf(target, sizeof target, "127.0.0.1:%d", federation_port(fed, i));
    snprintf(cert, sizeof cert, "%s/%s-%s.crt", harness_pki_dir(), federation_region(fed, i), role);
    snprintf(key, sizeof key, "%s/%s-%s.key", harness_pki_dir(), federation_region(fed, i), role);
    snprintf(ca, sizeof ca, "%s/ca.crt", harness_pki_dir());
    snprintf(targets, sizeof targets, "CN-TJ=127.0.0.1:%d,CN-BJ=127.0.0.1:%d,CN-HE=127.0.0.1:%d",
             federation_port(fed, TJ), federation_port(fed, BJ), federation_port(fed, HE));
    int multi = a0 != NULL && (!strcmp(a0, "trace") || !strcmp(a0, "audit"));
    const char *argv[24];
    int n = 0;
    argv[n++] = BINARY_DIR "/gwctl";
    const char *args[6] = {a0, a1, a2, a3, a4, a5};
    for (int k = 0; k < 6 && args[k] != NULL; k++) argv[n++] = args[k];
    if (multi) {
        argv[n++] = "--targets";
        argv[n++] = targets;
        if (!strcmp(a0, "trace")) {
            argv[n++] = "--catalog-dir";
            argv[n++] = SOURCE_DIR "/adapters/catalogs";
        }
    } else {
        argv[n++] = "--target";
        argv[n++] = target;
    }
    argv[n++] = "--cert";
    argv[n++] = cert;
    argv[n++] = "--key";
    argv[n++] = key;
    argv[n++] = "--ca";
    argv[n++] = ca;
    argv[n] = NULL;
    int status = -1;
    char *err = NULL;
    cr_assert_eq(harness_run(argv, 60000, &status, out, &err), 0, "gwctl did not run");
    if (status != 0) fprintf(stderr, "gwctl %s exited %d: %s\n", a0, status, err ? err : "");
    free(err);
    return status;
}

static void open_issue(int region, const char *acct, const char *meth, uint64_t milli) {
    client_status_t st;
    cr_assert_eq(rc_open(reg(region), acct, &st), GRPC_STATUS_OK, "%s", st.details);
    char iid[33], fp[64];
    rc_new_id(iid);
    snprintf(fp, sizeof fp, "fp-%s", iid);
    cr_assert_eq(rc_issue(reg(region), iid, acct, meth, milli, fp, NULL, &st), GRPC_STATUS_OK, "%s", st.details);
}

static int region_index(const char *region) {
    return !strcmp(region, "CN-TJ") ? TJ : !strcmp(region, "CN-BJ") ? BJ : HE;
}

/* Transfers and waits until the destination has applied it. */
static void transfer_committed(int region, const char *from, const char *to_region, const char *to,
                               const char *meth, uint64_t units, char tid[33]) {
    rc_new_id(tid);
    Carbon__V1__TransferResponse *r = NULL;
    client_status_t st;
    cr_assert_eq(rc_transfer(reg(region), tid, from, to_region, to, meth, units, &r, &st), GRPC_STATUS_OK,
                 "%s", st.details);
    cr_assert_eq(r->transfer->outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED, "%s",
                 r->transfer->reason);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    cr_assert_eq(rc_wait_arrival(reg(region_index(to_region)), tid, 10000), 0, "never arrived");
}

/* A workload: TJ -> BJ -> HE of the same serials, HE -> TJ, a refusal, a retirement. */
static void mixed_workload(char t1[33], char t2[33]) {
    open_issue(TJ, "tj-a", "TJ-GT-01", 420000); /* 19950 g, serials 1..19950 */
    open_issue(BJ, "bj-b", "BJ-EL-01", 35500);
    open_issue(HE, "he-c", "HE-RC-01", 12000);
    transfer_committed(TJ, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 15, t1);
    transfer_committed(BJ, "bj-b", "CN-HE", "he-c", "TJ-GT-01", 1000, t2);
    char t3[33];
    transfer_committed(HE, "he-c", "CN-TJ", "tj-a", "HE-RC-01", 50, t3);
    char t4[33];
    transfer_committed(TJ, "tj-a", "CN-HE", "he-c", "TJ-GT-01", 1, t4);
    char rid[33];
    rc_new_id(rid);
    client_status_t st;
    cr_assert_eq(rc_retire(reg(HE), rid, "he-c", "TJ-GT-01", 20, NULL, &st), GRPC_STATUS_OK, "%s", st.details);
    checker_report_t *rep = rc_wait_settled(fed, 30000);
    cr_assert_eq(rep->violations_n, 0, "%s", rep->violations[0]);
    free(rep);
    proc_sleep_ms(800); /* checkpoints (every 300 ms) cover the workload */
}

Test(audit_ops, reconcile_and_audit_verify_pass_after_a_mixed_workload, .timeout = 180) {
    start3(10000, 300);
    char t1[33], t2[33];
    mixed_workload(t1, t2);
    const char *regions[] = {"CN-TJ", "CN-BJ", "CN-HE"};
    for (int i = 0; i < 3; i++) {
        for (int p = 0; p < 3; p++) {
            if (p == i) continue;
            char *out = NULL;
            cr_assert_eq(gwctl(i, "operator", &out, "reconcile", "--peer", regions[p], NULL, NULL, NULL), 0,
                         "%s", out);
            cr_assert(strstr(out, "discrepancies 0") != NULL, "%s", out);
            free(out);
        }
        char *out = NULL;
        cr_assert_eq(gwctl(HE, "auditor", &out, "audit", "verify", "--region", regions[i], NULL, NULL), 0,
                     "%s", out);
        cr_assert(strstr(out, "checkpoints verified") != NULL, "%s", out);
        cr_assert(strstr(out, " 0 checkpoints") == NULL, "no checkpoint held: %s", out);
        free(out);
    }
    char *out = NULL;
    cr_assert_eq(gwctl(TJ, "operator", &out, "batches", "--peer", "CN-BJ", NULL, NULL, NULL), 0);
    cr_assert(strstr(out, "1 batches") != NULL, "%s", out);
    free(out);
    stop_all();
}

/* More than 1000 batches between two regions: a reconciliation reads them
 * 1000 at a time (FetchBatches serves no more at once), and gwctl goes on
 * page by page to the latest. It used to ask the peer for 0..1000, a span
 * the peer refuses: no reconciliation at all once a pair passed 999 batches
 * (found by a 30-minute bank run). */
Test(audit_ops, reconcile_pages_through_more_than_1000_batches, .timeout = 240) {
    start3(10000, 300);
    open_issue(TJ, "tj-a", "TJ-GT-01", 30000000); /* 30,000 km: 1,425,000 g */
    client_status_t st;
    cr_assert_eq(rc_open(reg(BJ), "bj-b", &st), GRPC_STATUS_OK, "%s", st.details);
    char tid[33];
    for (int i = 0; i < 1003; i++) { /* one after another: one leg, one batch each */
        Carbon__V1__TransferResponse *r = NULL;
        rc_new_id(tid);
        cr_assert_eq(rc_transfer(reg(TJ), tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 1, &r, &st), GRPC_STATUS_OK,
                     "transfer %d: %s", i, st.details);
        cr_assert_eq(r->transfer->outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED, "%s",
                     r->transfer->reason);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    cr_assert_eq(rc_wait_arrival(reg(BJ), tid, 10000), 0, "never arrived");
    char *out = NULL;
    cr_assert_eq(gwctl(TJ, "operator", &out, "batches", "--peer", "CN-BJ", "--from", "1001", NULL), 0, "%s", out);
    cr_assert(strstr(out, "\n3 batches") != NULL, "batches 1001..1003 exist: %s", out);
    free(out);
    out = NULL;
    cr_assert_eq(gwctl(TJ, "operator", &out, "reconcile", "--peer", "CN-BJ", NULL, NULL, NULL), 0, "%s", out);
    cr_assert(strstr(out, "batches compared 1000, legs compared 1000, discrepancies 0") != NULL, "%s", out);
    cr_assert(strstr(out, "batches compared 3, legs compared 3, discrepancies 0") != NULL, "%s", out);
    free(out);
    /* a range past 1000 batches is paged too, and ends at --to */
    out = NULL;
    cr_assert_eq(gwctl(TJ, "operator", &out, "reconcile", "--peer", "CN-BJ", "--to", "1002", NULL), 0, "%s", out);
    cr_assert(strstr(out, "batches compared 1000, legs compared 1000, discrepancies 0") != NULL, "%s", out);
    cr_assert(strstr(out, "batches compared 2, legs compared 2, discrepancies 0") != NULL, "%s", out);
    free(out);
    stop_all();
}

/* Starts the federation o and settles n transfers of 1 g from CN-TJ to
 * CN-BJ one after another: one leg, one batch each. */
static void start_one_leg_batches(const federation_options_t *o, int n) {
    grpc_lifetime_begin();
    fed = federation_start(o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
    open_issue(TJ, "tj-a", "TJ-GT-01", 3000000); /* 3,000 km: 142,500 g */
    client_status_t st;
    cr_assert_eq(rc_open(reg(BJ), "bj-b", &st), GRPC_STATUS_OK, "%s", st.details);
    char tid[33];
    for (int i = 0; i < n; i++) {
        rc_new_id(tid);
        cr_assert_eq(rc_transfer(reg(TJ), tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 1, NULL, &st), GRPC_STATUS_OK,
                     "transfer %d: %s", i, st.details);
    }
    cr_assert_eq(rc_wait_arrival(reg(BJ), tid, 10000), 0, "never arrived");
}

typedef struct {
    int pages, batches, legs, discrepancies;
} reconcile_sum_t;

/* Runs gwctl reconcile at CN-TJ with CN-BJ, requires exit code want_exit,
 * and adds up its pages' summary lines. */
static reconcile_sum_t reconcile_tj_bj(int want_exit) {
    char *out = NULL;
    cr_assert_eq(gwctl(TJ, "operator", &out, "reconcile", "--peer", "CN-BJ", NULL, NULL, NULL), want_exit, "%s", out);
    reconcile_sum_t sum = {0};
    for (const char *p = strstr(out, "batches compared "); p != NULL; p = strstr(p + 1, "batches compared ")) {
        int b = 0, l = 0, d = 0;
        cr_assert_eq(sscanf(p, "batches compared %d, legs compared %d, discrepancies %d", &b, &l, &d), 3, "%s", p);
        sum.pages++, sum.batches += b, sum.legs += l, sum.discrepancies += d;
    }
    cr_expect(strstr(out, "left out") == NULL, "%s", out);
    free(out);
    return sum;
}

/* Batches whose records with their legs outgrow one message: a
 * reconciliation and a listing page by what fits, not by 1000 batch numbers
 * alone. With max_message_bytes = 16384, 60 one-leg batches are more than
 * one FetchBatches or ListBatches answer can carry; they failed
 * (RESOURCE_EXHAUSTED from the peer, then PEER_UNAVAILABLE) before. */
Test(audit_ops, reconcile_and_batches_page_by_what_fits_a_message, .timeout = 180) {
    federation_options_t o = {.regions_n = 3, .max_message_bytes = 16384};
    start_one_leg_batches(&o, 60);
    reconcile_sum_t sum = reconcile_tj_bj(0);
    cr_expect(sum.pages >= 2, "60 batches in one page of 16 KiB");
    cr_expect(sum.batches == 60 && sum.legs == 60 && sum.discrepancies == 0, "%d batches, %d legs, %d discrepancies",
              sum.batches, sum.legs, sum.discrepancies);
    char *out = NULL;
    cr_assert_eq(gwctl(TJ, "operator", &out, "batches", "--peer", "CN-BJ", NULL, NULL, NULL), 0, "%s", out);
    cr_expect(strstr(out, "\n60 batches") != NULL, "%s", out);
    free(out);
    stop_all();
}

/* Regions that accept different message sizes: each answers a
 * FetchBatches within what the caller announced in its Hello, not only
 * within its own limit. CN-TJ accepts 16 KiB, CN-BJ 1 MiB; CN-TJ's
 * reconciliation failed before (CN-BJ answered 22 KiB: "Received message
 * larger than max", then PEER_UNAVAILABLE). */
Test(audit_ops, a_peer_answers_within_what_the_caller_accepts, .timeout = 180) {
    federation_options_t o = {.regions_n = 2, .region_max_message_bytes = {[TJ] = 16384}};
    start_one_leg_batches(&o, 60);
    reconcile_sum_t sum = reconcile_tj_bj(0);
    cr_expect(sum.pages >= 2, "60 batches in one page that CN-TJ accepts");
    cr_expect(sum.batches == 60 && sum.legs == 60 && sum.discrepancies == 0, "%d batches, %d legs, %d discrepancies",
              sum.batches, sum.legs, sum.discrepancies);
    stop_all();
}

/* Discrepancies that outgrow one Reconcile answer: the page ends before
 * the batch that would not fit, and the next page goes on from it, for the
 * batches only this region records and those only the peer records alike,
 * in the order of their numbers. With max_message_bytes = 8192, 100
 * batches: CN-TJ's record of every fourth gone (the peer's alone: one
 * discrepancy), and of the others the digest changed and CN-BJ's record
 * gone (two). The answer failed whole before (RESOURCE_EXHAUSTED: "Sent
 * message larger than max"); with the first pages cut by CN-TJ's own, the
 * peer's alone were then left out of every page. */
Test(audit_ops, discrepancies_page_by_what_fits_an_answer, .timeout = 180) {
    federation_options_t o = {.regions_n = 2, .max_message_bytes = 8192};
    start_one_leg_batches(&o, 100);
    redisContext *tj = redis_connect(federation_redis(fed, TJ)), *bj = redis_connect(federation_redis(fed, BJ));
    cr_assert(tj != NULL && bj != NULL);
    redisReply *r = redisCommand(tj, "EVAL %s 1 %s",
                                 "local all, n = redis.call('HGETALL', KEYS[1]), 0 "
                                 "for i = 1, #all, 2 do "
                                 "  if tonumber(all[i]) % 4 == 0 then redis.call('HDEL', KEYS[1], all[i]) else "
                                 "    local a, b, _, rest = all[i + 1]:match('^([^|]*)|([^|]*)|([^|]*)|(.*)$') "
                                 "    redis.call('HSET', KEYS[1], all[i], a .. '|' .. b .. '|' .. string.rep('f', 64) .. '|' .. rest) "
                                 "    n = n + 1 "
                                 "  end "
                                 "end return n",
                                 STORE_KEY_BATCH_OUT_PREFIX "CN-BJ");
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 75, "%s", r && r->str ? r->str : "?");
    freeReplyObject(r);
    r = redisCommand(bj, "EVAL %s 1 %s",
                     "local all, n = redis.call('HKEYS', KEYS[1]), 0 "
                     "for _, seq in ipairs(all) do "
                     "  if tonumber(seq) % 4 ~= 0 then redis.call('HDEL', KEYS[1], seq) n = n + 1 end "
                     "end return n",
                     STORE_KEY_BATCH_IN_PREFIX "CN-TJ");
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 75, "%s", r && r->str ? r->str : "?");
    freeReplyObject(r);
    redisFree(tj);
    redisFree(bj);
    reconcile_sum_t sum = reconcile_tj_bj(1);
    cr_expect(sum.pages >= 2, "175 discrepancies in one answer of 8 KiB");
    cr_expect(sum.batches == 75 && sum.discrepancies == 175, "%d batches, %d discrepancies", sum.batches,
              sum.discrepancies);
    stop_all();
}

/* gwctl batches lists every batch, past the 1,000 numbers one answer
 * covers when the records are small. With 1,001 short records (as an old
 * store may hold), it printed 1,000 and stopped before: the answer to
 * "up to the latest" said nothing of the rest. */
Test(audit_ops, batches_go_on_past_one_window_of_numbers, .timeout = 120) {
    federation_options_t o = {.regions_n = 2};
    grpc_lifetime_begin();
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
    redisContext *tj = redis_connect(federation_redis(fed, TJ));
    cr_assert_not_null(tj);
    redisReply *r = redisCommand(tj, "EVAL %s 2 %s %s",
                                 "for i = 1, 1001 do "
                                 "  redis.call('HSET', KEYS[1], i, '0|0|' .. string.rep('0', 64) .. '|1|') "
                                 "end redis.call('SET', KEYS[2], 1001) return 1001",
                                 STORE_KEY_BATCH_OUT_PREFIX "CN-BJ",
                                 STORE_KEY_BATCH_OUT_PREFIX "CN-BJ" STORE_KEY_BATCH_SEQ_SUFFIX);
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1001, "%s", r && r->str ? r->str : "?");
    freeReplyObject(r);
    redisFree(tj);
    char *out = NULL;
    cr_assert_eq(gwctl(TJ, "operator", &out, "batches", "--peer", "CN-BJ", NULL, NULL, NULL), 0, "%s", out);
    cr_expect(strstr(out, "\n1001 batches") != NULL, "%s", strlen(out) > 80 ? out + strlen(out) - 80 : out);
    free(out);
    stop_all();
}

static redisContext *redis_of(int i) {
    redisContext *c = redis_connect(federation_redis(fed, i));
    cr_assert_not_null(c);
    return c;
}

/* Waits at most limit_ms until BJ's record of leg tid shows failed
 * QueryDecision attempts (at least 2) spanning need_ms; returns the span
 * seen last (0 before two attempts), as the gateway's guard counts it. */
static long long doubt_span_wait_ms(const char *tid, long long need_ms, long long limit_ms) {
    redisContext *c = redis_of(BJ);
    long long span = 0;
    for (long long until = proc_now_ms() + limit_ms; span < need_ms && proc_now_ms() < until;) {
        redisReply *r = redisCommand(c, "HMGET %s%s%s doubt_first_ms doubt_last_ms doubt_attempts",
                                     STORE_KEY_LEG_PREFIX, tid, STORE_KEY_LEG_SUFFIX);
        cr_assert(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 3);
        long long first = r->element[0]->type == REDIS_REPLY_STRING ? atoll(r->element[0]->str) : 0;
        long long last = r->element[1]->type == REDIS_REPLY_STRING ? atoll(r->element[1]->str) : 0;
        long long attempts = r->element[2]->type == REDIS_REPLY_STRING ? atoll(r->element[2]->str) : 0;
        freeReplyObject(r);
        span = attempts >= 2 && last > first ? last - first : 0;
        if (span < need_ms) proc_sleep_ms(100);
    }
    redisFree(c);
    return span;
}

Test(audit_ops, tampering_is_reported, .timeout = 180) {
    start3(10000, 300);
    char t1[33], t2[33];
    mixed_workload(t1, t2);

    /* A leg's amount changed on one side: reconcile names the leg with both values. */
    redisContext *bj = redis_of(BJ);
    freeReplyObject(redisCommand(bj, "HSET " STORE_KEY_LEG_PREFIX "%s" STORE_KEY_LEG_SUFFIX " credited_g 13510", t1));
    char *out = NULL;
    cr_assert_eq(gwctl(TJ, "operator", &out, "reconcile", "--peer", "CN-BJ", NULL, NULL, NULL), 1, "%s", out);
    cr_assert(strstr(out, t1) != NULL && strstr(out, "credited_g") != NULL && strstr(out, "13500") != NULL &&
                  strstr(out, "13510") != NULL,
              "%s", out);
    free(out);
    freeReplyObject(redisCommand(bj, "HSET " STORE_KEY_LEG_PREFIX "%s" STORE_KEY_LEG_SUFFIX " credited_g 13500", t1));

    /* A batch deleted on one side. */
    freeReplyObject(redisCommand(bj, "HDEL " STORE_KEY_BATCH_IN_PREFIX "CN-TJ 1"));
    cr_assert_eq(gwctl(TJ, "operator", &out, "reconcile", "--peer", "CN-BJ", NULL, NULL, NULL), 1, "%s", out);
    cr_assert(strstr(out, "missing") != NULL && strstr(out, "absent") != NULL, "%s", out);
    free(out);

    /* An audit entry changed: the tree recomputed from the entries no longer
     * has the root the checkpoints of CN-HE name (its peers cosigned them). */
    redisContext *he = redis_of(HE);
    /* the first issue entry (reservations of activities homed here may
     * come before it) */
    char *changed = NULL, *issue = NULL;
    int seq = 1;
    for (; seq <= 50 && issue == NULL; seq++) {
        size_t len = 0;
        free(changed);
        changed = redis_log_entry(he, (uint64_t)seq, &len);
        cr_assert_not_null(changed, "no entry %d", seq);
        issue = strstr(changed, "5:issue,");
    }
    cr_assert_not_null(issue);
    issue[2] = 'I'; /* "Issue" */
    freeReplyObject(redisCommand(he, "HSET " STORE_KEY_LOG_ENTRIES " %d %s", seq - 1, changed));
    free(changed);
    cr_assert_eq(gwctl(TJ, "auditor", &out, "audit", "verify", "--region", "CN-HE", NULL, NULL), 1, "%s", out);
    cr_assert(strstr(out, "CN-HE: VERIFICATION FAILED: ") != NULL && strstr(out, " cosigned CN-HE at size ") != NULL &&
                  strstr(out, "the history was rewritten at or before entry") != NULL,
              "%s", out);
    free(out);

    /* The tail of CN-TJ's chain rewritten and re-hashed: only the checkpoints
     * its peers hold can expose it. */
    redisContext *tj = redis_of(TJ);
    redisReply *head = redisCommand(tj, "GET " STORE_KEY_LOG_SIZE);
    uint64_t last = strtoull(head->str, NULL, 10);
    freeReplyObject(head);
    cr_assert_geq(last, 4);
    for (uint64_t seq = 3; seq <= last; seq++) {
        size_t len = 0;
        char *entry = redis_log_entry(tj, seq, &len);
        cr_assert_not_null(entry, "no entry %llu", (unsigned long long)seq);
        char *hold = strstr(entry, "4:hold,");
        if (hold != NULL) hold[2] = 'H'; /* rewritten history */
        freeReplyObject(redisCommand(tj, "HSET " STORE_KEY_LOG_ENTRIES " %llu %s", (unsigned long long)seq, entry));
        free(entry);
    }
    cr_assert_eq(gwctl(HE, "auditor", &out, "audit", "verify", "--region", "CN-TJ", NULL, NULL), 1, "%s", out);
    cr_assert(strstr(out, "history was rewritten") != NULL, "%s", out);
    free(out);
    redisFree(bj);
    redisFree(he);
    redisFree(tj);
    stop_all();
}

Test(audit_ops, trace_of_a_serial_across_the_borders_and_its_graph, .timeout = 180) {
    start3(10000, 300);
    char t1[33], t2[33];
    mixed_workload(t1, t2);
    char *out = NULL;
    cr_assert_eq(gwctl(BJ, "auditor", &out, "trace", "CN-TJ:1", NULL, NULL, NULL, NULL), 0, "%s", out);
    /* In time order: issued in CN-TJ, held there, prepared and applied in
     * CN-BJ (1350 points), held there, applied in CN-HE (100 credits), retired. */
    const char *order[] = {"CN-TJ", "issue", "hold     15 kg", "CN-BJ", "apply    1350 point",
                           "hold     1000 point", "apply    100 credit", "retire   20 credit"};
    const char *at = out;
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        const char *hit = strstr(at, order[k]);
        cr_assert_not_null(hit, "'%s' missing or out of order in:\n%s", order[k], out);
        at = hit;
    }
    cr_assert(strstr(out, "0 verification failures") != NULL, "%s", out);
    cr_assert(strstr(out, "proof to ") != NULL && strstr(out, "cosigned by CN-") != NULL, "%s", out);
    free(out);
    cr_assert_eq(gwctl(BJ, "auditor", &out, "trace", t2, "--dot", NULL, NULL, NULL), 0);
    char dotfile[512];
    snprintf(dotfile, sizeof dotfile, "%s/trace.dot", federation_dir(fed));
    FILE *f = fopen(dotfile, "w");
    cr_assert_not_null(f);
    fputs(out, f);
    fclose(f);
    free(out);
    const char *dot[] = {"/usr/bin/dot", "-Tsvg", dotfile, NULL};
    int status = -1;
    char *svg = NULL;
    cr_assert_eq(harness_run(dot, 30000, &status, &svg, NULL), 0);
    cr_assert_eq(status, 0, "dot failed");
    cr_assert(strstr(svg, "<svg") != NULL && strstr(svg, "apply") != NULL, "%s", svg);
    free(svg);
    stop_all();
}

Test(audit_ops, resolve_in_doubt_only_when_the_coordinator_cannot_answer, .timeout = 180) {
    /* Long legs and slow recovery: nothing settles the leg below but the
     * operator. The coordinator dies after holding, before its Prepare. */
    setenv("CARBON_FAILPOINT", "CN-TJ:source.before_prepare", 1);
    start3(60000, 60000);
    open_issue(TJ, "tj-a", "TJ-GT-01", 100000); /* 4750 g */
    client_status_t st;
    cr_assert_eq(rc_open(reg(BJ), "bj-b", &st), GRPC_STATUS_OK);
    char tid[33];
    rc_new_id(tid);
    cr_assert_neq(rc_transfer(reg(TJ), tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 2, NULL, &st), GRPC_STATUS_OK);
    for (int i = 0; i < 100 && proc_alive(federation_pid(fed, TJ)); i++) proc_sleep_ms(50);
    unsetenv("CARBON_FAILPOINT");
    cr_assert_eq(federation_restart(fed, TJ), 0, "%s", federation_last_error());
    Carbon__V1__GetTransferResponse *g = NULL;
    cr_assert_eq(rc_get_transfer(reg(TJ), tid, &g, &st), GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(g->transfer->outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_PENDING);
    Carbon__V1__TransferRecord *rec = g->transfer;
    /* Its Prepare reaches BJ (sent here in its name): prepared, expiring at once. */
    rc_prepare_record(fed, BJ, "CN-TJ", tid, "CN-TJ/tj-a", "CN-BJ/bj-b", rec, 1000);
    protobuf_c_message_free_unpacked(&g->base, NULL);
    proc_sleep_ms(1200);
    Carbon__V1__GetAccountResponse *a = NULL;
    cr_assert_eq(rc_account(reg(BJ), "bj-b", &a, &st), GRPC_STATUS_OK);
    cr_assert_gt(a->pending->grams, 0);
    protobuf_c_message_free_unpacked(&a->base, NULL);
    char *out = NULL;
    cr_assert_eq(gwctl(BJ, "operator", &out, "indoubt", NULL, NULL, NULL, NULL, NULL), 1);
    cr_assert(strstr(out, tid) != NULL, "%s", out);
    free(out);

    /* Refused while the coordinator answers (it still holds the leg: it aborts
     * it now, presumed abort, and answers ABORT). */
    cr_assert_eq(gwctl(BJ, "operator", &out, "resolve", "--transfer", tid, "--abort", "--reason",
                       "incident 42: coordinator lost its store"), 4); /* refused by the gateway */
    free(out);
    cr_assert_eq(rc_total_g(reg(BJ), "bj-b"), 0);

    /* The coordinator's store destroyed: it no longer answers for the leg.
     * BJ's recovery (every 300 ms from now) records each failed attempt; the
     * operator may decide once they span heuristic_after_ms (1 s), not before. */
    redisContext *tj = redis_of(TJ);
    freeReplyObject(redisCommand(tj, "FLUSHALL"));
    redisFree(tj);
    cr_assert_eq(gwctl(BJ, "operator", &out, "resolve", "--transfer", tid, "--abort", "--reason",
                       "incident 42: coordinator lost its store"), 4); /* HEURISTIC_TOO_EARLY: no attempt recorded */
    free(out);
    cr_assert_eq(federation_config_edit(fed, BJ, "recovery_interval_ms", "60000", "300"), 1);
    cr_assert_eq(federation_kill9(fed, BJ), 0);
    redisContext *bj = redis_of(BJ); /* the dead process's recovery lease would last 3 minutes */
    freeReplyObject(redisCommand(bj, "DEL %s", STORE_KEY_LEASE_RECOVERY));
    redisFree(bj);
    cr_assert_eq(federation_restart(fed, BJ), 0, "%s", federation_last_error());
    /* allowed once recovery's failed attempts span 1 s: waited for by the
     * leg's record (recovery's attempts, at most 20 s: a slow restart or
     * slow passes take longer), then required at once */
    long long span_ms = doubt_span_wait_ms(tid, 1000, 20000);
    cr_assert_geq(span_ms, 1000, "BJ's recovery recorded failed attempts over %lld ms only", span_ms);
    int code = gwctl(BJ, "operator", &out, "resolve", "--transfer", tid, "--abort", "--reason",
                     "incident 42: coordinator lost its store");
    cr_assert_eq(code, 0, "%s", out);
    cr_assert(strstr(out, "ABORT applied") != NULL, "%s", out);
    free(out);
    cr_assert_eq(rc_account(reg(BJ), "bj-b", &a, &st), GRPC_STATUS_OK);
    cr_assert_eq(a->pending->grams, 0, "the pending credit was not released");
    cr_assert_eq(a->total->grams, 0);
    protobuf_c_message_free_unpacked(&a->base, NULL);
    /* In the audit trail, with the operator and the reason. */
    Carbon__V1__TraceRequest treq = CARBON__V1__TRACE_REQUEST__INIT;
    treq.subject_case = CARBON__V1__TRACE_REQUEST__SUBJECT_TRANSFER_ID;
    treq.transfer_id = tid;
    ProtobufCMessage *resp = NULL;
    cr_assert_eq(client_call(federation_channel(fed, BJ, "CN-BJ-auditor"), "/carbon.v1.Audit/Trace", &treq.base,
                             &carbon__v1__trace_response__descriptor, &resp, 10000, &st),
                 GRPC_STATUS_OK, "%s", st.details);
    const Carbon__V1__TraceResponse *tr = (const Carbon__V1__TraceResponse *)resp;
    int found = 0;
    for (size_t i = 0; i < tr->n_entries; i++)
        if (!strcmp(tr->entries[i]->event, "resolve") && tr->entries[i]->n_detail == 3 &&
            strstr(tr->entries[i]->detail[2], "incident 42") &&
            !strcmp(tr->entries[i]->detail[1], "spiffe://jjj.carbon/CN-BJ/operator/op1"))
            found = 1;
    cr_assert(found, "no resolve entry with the operator and reason");
    protobuf_c_message_free_unpacked(resp, NULL);
    /* ... and shown by trace under the hop, with who and why (issue 11). */
    cr_assert_neq(gwctl(BJ, "auditor", &out, "trace", tid, NULL, NULL, NULL, NULL), 2);
    cr_assert(strstr(out, "forced ABORT by spiffe://jjj.carbon/CN-BJ/operator/op1, reason: incident 42: "
                          "coordinator lost its store") != NULL, "%s", out);
    free(out);
    cr_assert_neq(gwctl(BJ, "auditor", &out, "trace", tid, "--json", NULL, NULL, NULL), 2);
    cr_assert(strstr(out, "\"resolution\": {\n        \"decision\": \"ABORT\",\n        \"by\": "
                          "\"spiffe://jjj.carbon/CN-BJ/operator/op1\",\n        \"reason\": \"incident 42: "
                          "coordinator lost its store\"") != NULL, "%s", out);
    free(out);
    stop_all();
}
