/* test_group_commit.c - group commit (issue 16). Holds: concurrent Transfer
 * calls are held by fewer transfer_hold script calls than there are calls,
 * and each call still gets its own outcome: a duplicate id in the same batch
 * answers the one transfer, an id reused with other content is refused, and
 * a hold that finds the balance taken by another in its batch is refused
 * INSUFFICIENT_BALANCE. A real federation (a redis-server and a gatewayd
 * per region, over mutual TLS); CN-TJ's Redis is paused (SIGSTOP) while the
 * calls arrive, so that they wait for the store together. The script calls
 * are counted in the Redis slow log (threshold 0) by transfer_hold's SHA1.
 * Issue and Retire: while the store is paused, their calls wait without
 * holding a server worker (a Health/Check is answered at once), and each
 * gets its own outcome. A Decide of legs of the source's own serials is
 * applied at the destination without reading a leg one by one. */
#include "gateway/rpc/grpc_lifetime.h"
#include "tests/support/gateway_harness.h"
#include "tests/support/proc.h"
#include "tests/support/registry_client.h"

#include "settlement/store.h"
#include "settlement/store_keys.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TJ 0
#define BJ 1
#define CALLS_N 14
#define SETTLE_TIMEOUT_MS 30000
#define FREEZE_MS 700        /* Issue/Retire: twice, with a Health/Check between */
#define HOLD_FREEZE_MS 1500  /* Transfers: time for every call to reach the gateway */

static federation_t *fed;

typedef struct {
    grpc_channel *ch;
    char tid[33];
    const char *from;
    uint64_t units;
    grpc_status_code code;
    char reason[64];
    int outcome;
    uint64_t first_serial; /* of the first block, when OK */
} call_t;

static void *call_main(void *arg) {
    call_t *c = arg;
    Carbon__V1__TransferResponse *r = NULL;
    client_status_t st;
    c->code = rc_transfer(c->ch, c->tid, c->from, "CN-BJ", "bj-b", "TJ-GT-01", c->units, &r, &st);
    snprintf(c->reason, sizeof c->reason, "%s", st.reason);
    if (c->code == GRPC_STATUS_OK) {
        c->outcome = r->transfer->outcome;
        c->first_serial = r->transfer->n_blocks ? r->transfer->blocks[0]->serial_start : 0;
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    return NULL;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void redis_cmd_ok(redisContext *rc, const char *cmd) {
    redisReply *r = redisCommand(rc, cmd);
    cr_assert(r != NULL && r->type != REDIS_REPLY_ERROR, "%s failed", cmd);
    freeReplyObject(r);
}

/* Logs every command in the slow log, from empty. */
static void slowlog_every_command(redisContext *rc) {
    redis_cmd_ok(rc, "CONFIG SET slowlog-max-len 100000");
    redis_cmd_ok(rc, "CONFIG SET slowlog-log-slower-than 0");
    redis_cmd_ok(rc, "SLOWLOG RESET");
}

/* Starts the federation o and its Registry channels of CN-TJ and CN-BJ
 * (bj NULL: CN-TJ's alone). */
static void start_federation(const federation_options_t *o, grpc_channel **tj, grpc_channel **bj) {
    grpc_lifetime_begin();
    fed = federation_start(o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
    *tj = federation_channel(fed, TJ, "CN-TJ-registry");
    cr_assert_not_null(*tj);
    if (bj == NULL) return;
    *bj = federation_channel(fed, BJ, "CN-BJ-registry");
    cr_assert_not_null(*bj);
}

/* start_federation with the pause points of spec armed (test hook
 * CARBON_FAILPOINT_PAUSE, "REGION:NAME:MS[,...]"). */
static void start_paused(const char *spec, const federation_options_t *o, grpc_channel **tj,
                         grpc_channel **bj) {
    setenv("CARBON_TEST_HOOKS", "1", 1);
    setenv("CARBON_FAILPOINT_PAUSE", spec, 1);
    start_federation(o, tj, bj);
    unsetenv("CARBON_FAILPOINT_PAUSE");
    unsetenv("CARBON_TEST_HOOKS");
}

/* start_federation with CN-TJ's Decide held back (source.before_decide)
 * for pause_ms each time. */
static void start_decide_paused(int pause_ms, const federation_options_t *o, grpc_channel **tj,
                                grpc_channel **bj) {
    char spec[64];
    snprintf(spec, sizeof spec, "CN-TJ:source.before_decide:%d", pause_ms);
    start_paused(spec, o, tj, bj);
}

/* Waits until every leg settled and the checker finds nothing wrong. */
static void expect_settled(void) {
    checker_report_t *rep = rc_wait_settled(fed, SETTLE_TIMEOUT_MS);
    cr_assert_not_null(rep, "the legs did not settle");
    cr_assert_eq(rep->violations_n, 0, "checker: %s", rep->violations[0]);
    free(rep);
}

static void stop_federation(void) {
    federation_free(fed);
    fed = NULL;
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

/* The SHA1 gatewayd runs transfer_hold under (store_script_sha). */
static void hold_sha(const redis_harness_t *h, char out[41]) {
    char err[256];
    store_t *s = redis_store_open(h, err, sizeof err);
    cr_assert_not_null(s, "store_open: %s", err);
    snprintf(out, 41, "%s", store_script_sha(s, store_script_index("transfer_hold")));
    store_close(s);
}

/* Commands named cmd whose first argument starts with arg_prefix, in the
 * slow log (every command logged). */
static size_t slowlog_count(redisContext *rc, const char *cmd, const char *arg_prefix) {
    redisReply *r = redisCommand(rc, "SLOWLOG GET -1");
    cr_assert(r != NULL && r->type == REDIS_REPLY_ARRAY);
    size_t n = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 4) continue;
        const redisReply *args = e->element[3];
        if (args->type == REDIS_REPLY_ARRAY && args->elements >= 2 &&
            strcasecmp(args->element[0]->str, cmd) == 0 &&
            strncmp(args->element[1]->str, arg_prefix, strlen(arg_prefix)) == 0)
            n++;
    }
    freeReplyObject(r);
    return n;
}

/* EVALSHA calls of sha. */
static size_t hold_calls(redisContext *rc, const char *sha) { return slowlog_count(rc, "evalsha", sha); }

static void open_and_issue(grpc_channel *tj, grpc_channel *bj) {
    client_status_t st;
    cr_assert_eq(rc_open(tj, "tj-a", &st), GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(rc_open(tj, "tj-b", &st), GRPC_STATUS_OK, "%s", st.details);
    if (bj != NULL) cr_assert_eq(rc_open(bj, "bj-b", &st), GRPC_STATUS_OK, "%s", st.details);
    const char *accts[] = {"tj-a", "tj-b"};
    for (int i = 0; i < 2; i++) { /* 420 km by metro at 95/2 g/km: 19950 g each */
        char iid[33], fp[64];
        rc_new_id(iid);
        snprintf(fp, sizeof fp, "activity-%s", iid);
        Carbon__V1__IssueResponse *r = NULL;
        cr_assert_eq(rc_issue(tj, iid, accts[i], "TJ-GT-01", 420000, fp, &r, &st), GRPC_STATUS_OK,
                     "%s", st.details);
        cr_assert_eq(r->amount->grams, 19950);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
}

/* calls: 0..7 distinct 1 kg transfers from tj-a; 8 and 9 the same id and
 * content (tj-a, 2 kg); 10 and 11 12 kg each from tj-b's 19.95 kg; 12 and
 * 13 the same id with other content (tj-a, 1 kg and 3 kg). */
static void plan_calls(call_t *calls, grpc_channel *tj) {
    for (int i = 0; i < CALLS_N; i++) {
        calls[i].ch = tj;
        calls[i].from = i < 10 || i >= 12 ? "tj-a" : "tj-b";
        calls[i].units = i < 8 ? 1 : i < 10 ? 2 : i < 12 ? 12 : i == 12 ? 1 : 3;
        rc_new_id(calls[i].tid);
    }
    memcpy(calls[9].tid, calls[8].tid, sizeof calls[9].tid);
    memcpy(calls[13].tid, calls[12].tid, sizeof calls[13].tid);
}

/* Of two calls with one id and different content, one is the transfer and
 * the other is refused ID_REUSED; returns the kilograms of the one held. */
static uint64_t check_id_reused(const call_t *calls) {
    int held = -1, reused = 0;
    for (int i = 12; i < 14; i++) {
        if (calls[i].code == GRPC_STATUS_OK &&
            calls[i].outcome == CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED)
            held = i;
        else if (calls[i].code == GRPC_STATUS_ALREADY_EXISTS &&
                 strcmp(calls[i].reason, "ID_REUSED") == 0)
            reused++;
    }
    cr_assert(held >= 0 && reused == 1, "one id, two contents: held %d, ID_REUSED %d", held, reused);
    return calls[held].units;
}

static void check_outcomes(const call_t *calls) {
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(calls[i].code, GRPC_STATUS_OK, "call %d: status %d %s", i, calls[i].code,
                     calls[i].reason);
        cr_assert_eq(calls[i].outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED,
                     "call %d", i);
    }
    /* the duplicate answers the one transfer: the same blocks */
    cr_assert_eq(calls[8].first_serial, calls[9].first_serial);
    int ok = 0, short_ = 0;
    for (int i = 10; i < 12; i++) {
        if (calls[i].code == GRPC_STATUS_OK &&
            calls[i].outcome == CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED)
            ok++;
        else if (calls[i].code == GRPC_STATUS_FAILED_PRECONDITION &&
                 strcmp(calls[i].reason, "INSUFFICIENT_BALANCE") == 0)
            short_++;
    }
    cr_assert(ok == 1 && short_ == 1, "of two 12 kg transfers from 19.95 kg: %d settled, %d short",
              ok, short_);
}

Test(group_commit, concurrent_transfers_share_hold_script_calls_with_own_outcomes, .timeout = 180) {
    federation_options_t o = {.regions_n = 2, .leg_expiry_ms = 10000, .workers = 2};
    grpc_channel *tj, *bj;
    start_federation(&o, &tj, &bj);
    open_and_issue(tj, bj);
    redis_harness_t *rh = federation_redis(fed, TJ);
    char sha[41];
    hold_sha(rh, sha);
    redisContext *rc = redis_connect(rh);
    cr_assert_not_null(rc);
    slowlog_every_command(rc);

    call_t calls[CALLS_N];
    memset(calls, 0, sizeof calls);
    plan_calls(calls, tj);
    cr_assert_eq(kill(rh->pid, SIGSTOP), 0);
    pthread_t th[CALLS_N];
    for (int i = 0; i < CALLS_N; i++) cr_assert_eq(pthread_create(&th[i], NULL, call_main, &calls[i]), 0);
    sleep_ms(HOLD_FREEZE_MS); /* every call reaches the gateway and waits for the store */
    cr_assert_eq(kill(rh->pid, SIGCONT), 0);
    for (int i = 0; i < CALLS_N; i++) pthread_join(th[i], NULL);

    check_outcomes(calls);
    size_t n = hold_calls(rc, sha);
    fprintf(stderr, "test_group_commit: %d Transfer calls, %zu transfer_hold script calls\n",
            CALLS_N, n);
    /* one call for the first to arrive, one for the rest; half as many at most
     * allows for calls that reached the gateway late on a loaded machine */
    cr_assert(n >= 1 && n <= CALLS_N / 2, "%d concurrent transfers took %zu hold script calls",
              CALLS_N, n);
    redis_cmd_ok(rc, "CONFIG SET slowlog-log-slower-than 10000");
    redisFree(rc);

    uint64_t reused_kg = check_id_reused(calls);
    /* 8 + 2 kg left tj-a once (the duplicate took nothing) and the reused
     * id's one transfer; 12 kg left tj-b once */
    cr_assert_eq(rc_balance_g(tj, "tj-a", "TJ-GT-01"), 19950 - 10000 - reused_kg * 1000);
    cr_assert_eq(rc_balance_g(tj, "tj-b", "TJ-GT-01"), 19950 - 12000);
    checker_report_t *rep = rc_wait_settled(fed, SETTLE_TIMEOUT_MS);
    cr_assert_not_null(rep);
    cr_assert_eq(rep->violations_n, 0, "checker: %s", rep->violations[0]);
    free(rep);
    federation_free(fed);
    fed = NULL;
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

/* A batch whose store call fails answers each of its calls UNAVAILABLE
 * (STORE_UNAVAILABLE); nothing is held, and the same calls again, once the
 * store is back, each move their grams once. */
Test(group_commit, a_failed_batch_fails_each_call_unavailable_and_a_retry_holds_once,
     .timeout = 180) {
    federation_options_t o = {.regions_n = 2, .leg_expiry_ms = 10000, .workers = 2};
    grpc_channel *tj, *bj;
    start_federation(&o, &tj, &bj);
    open_and_issue(tj, bj);
    redis_harness_t *rh = federation_redis(fed, TJ);
    call_t calls[4];
    memset(calls, 0, sizeof calls);
    for (int i = 0; i < 4; i++) {
        calls[i].ch = tj;
        calls[i].from = "tj-a";
        calls[i].units = 2;
        rc_new_id(calls[i].tid);
    }
    cr_assert_eq(redis_kill9(rh), 0, "%s", redis_last_error());
    pthread_t th[4];
    for (int i = 0; i < 4; i++) cr_assert_eq(pthread_create(&th[i], NULL, call_main, &calls[i]), 0);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++)
        cr_assert(calls[i].code == GRPC_STATUS_UNAVAILABLE &&
                      strcmp(calls[i].reason, "STORE_UNAVAILABLE") == 0,
                  "call %d with the store down: status %d %s", i, calls[i].code, calls[i].reason);
    cr_assert_eq(redis_restart(rh), 0, "%s", redis_last_error());
    cr_assert_eq(rc_balance_g(tj, "tj-a", "TJ-GT-01"), 19950, "a failed batch moved grams");
    for (int i = 0; i < 4; i++) cr_assert_eq(pthread_create(&th[i], NULL, call_main, &calls[i]), 0);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++)
        cr_assert(calls[i].code == GRPC_STATUS_OK &&
                      calls[i].outcome == CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED,
                  "retry %d: status %d %s", i, calls[i].code, calls[i].reason);
    cr_assert_eq(rc_balance_g(tj, "tj-a", "TJ-GT-01"), 19950 - 8000);
    checker_report_t *rep = rc_wait_settled(fed, SETTLE_TIMEOUT_MS);
    cr_assert_not_null(rep);
    cr_assert_eq(rep->violations_n, 0, "checker: %s", rep->violations[0]);
    free(rep);
    federation_free(fed);
    fed = NULL;
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

/* ---- Issue and Retire ------------------------------------------------------------ */

typedef struct {
    grpc_channel *ch;
    int retire;            /* 0: Issue, 1: Retire */
    char id[33];
    char fingerprint[64];  /* Issue */
    uint64_t amount;       /* Issue: thousandths of a km; Retire: kg */
    grpc_status_code code;
    char reason[64];
    uint64_t first_serial; /* of the (first) block, when OK */
} write_t;

static void *write_main(void *arg) {
    write_t *w = arg;
    client_status_t st;
    if (!w->retire) {
        Carbon__V1__IssueResponse *r = NULL;
        w->code = rc_issue(w->ch, w->id, "tj-a", "TJ-GT-01", w->amount, w->fingerprint, &r, &st);
        if (w->code == GRPC_STATUS_OK) {
            w->first_serial = r->block->serial_start;
            protobuf_c_message_free_unpacked(&r->base, NULL);
        }
    } else {
        Carbon__V1__RetireResponse *r = NULL;
        w->code = rc_retire(w->ch, w->id, "tj-a", "TJ-GT-01", w->amount, &r, &st);
        if (w->code == GRPC_STATUS_OK) {
            w->first_serial = r->n_blocks ? r->blocks[0]->serial_start : 0;
            protobuf_c_message_free_unpacked(&r->base, NULL);
        }
    }
    snprintf(w->reason, sizeof w->reason, "%s", st.reason);
    return NULL;
}

#define WRITES_N 9

/* 0..3 distinct issuances of 1 km; 4 and 5 one issuance id twice; 6 another
 * id with 0's activity; 7 and 8 retirements of 12 kg each from 19.95 kg and
 * the few grams issued here. */
static void plan_writes(write_t *w, grpc_channel *tj) {
    for (int i = 0; i < WRITES_N; i++) {
        w[i].ch = tj;
        w[i].retire = i >= 7;
        w[i].amount = i >= 7 ? 12 : 1000;
        rc_new_id(w[i].id);
        snprintf(w[i].fingerprint, sizeof w[i].fingerprint, "activity-%s", w[i].id);
    }
    memcpy(w[5].id, w[4].id, sizeof w[5].id);
    memcpy(w[5].fingerprint, w[4].fingerprint, sizeof w[5].fingerprint);
    memcpy(w[6].fingerprint, w[0].fingerprint, sizeof w[6].fingerprint);
}

static void check_writes(const write_t *w) {
    for (int i = 1; i < 6; i++)
        cr_assert_eq(w[i].code, GRPC_STATUS_OK, "write %d: %d %s", i, w[i].code, w[i].reason);
    cr_assert_eq(w[4].first_serial, w[5].first_serial, "one issuance id, two blocks");
    int issued = (w[0].code == GRPC_STATUS_OK) + (w[6].code == GRPC_STATUS_OK);
    int double_ = 0;
    for (int i = 0; i < 7; i += 6)
        double_ += w[i].code == GRPC_STATUS_ALREADY_EXISTS && strcmp(w[i].reason, "DOUBLE_ISSUANCE") == 0;
    cr_assert(issued == 1 && double_ == 1, "one activity, two issuances: %d issued, %d refused",
              issued, double_);
    int retired = (w[7].code == GRPC_STATUS_OK) + (w[8].code == GRPC_STATUS_OK);
    int short_ = 0;
    for (int i = 7; i < 9; i++)
        short_ += w[i].code == GRPC_STATUS_FAILED_PRECONDITION &&
                  strcmp(w[i].reason, "INSUFFICIENT_BALANCE") == 0;
    cr_assert(retired == 1 && short_ == 1, "two 12 kg retirements: %d done, %d short", retired, short_);
}

/* A batch of holds whose reply is lost after Redis ran it (the test hook
 * hold.reply_lost drops the first transfer_hold reply, as a connection that
 * breaks after the script ran would: "the command may have run") is run
 * again by the batcher: the holds it made come back as its own, so every
 * call settles COMMITTED at once (well within the 10 s leg expiry), each
 * moves its grams once, and the same calls again answer the same outcome.
 * Before, each call got UNAVAILABLE, and its leg stayed HELD in no batch
 * until recovery aborted it at its expiry; a retry only waited for that. */
Test(group_commit, a_hold_whose_reply_was_lost_settles_at_once, .timeout = 180) {
    federation_options_t o = {.regions_n = 2, .leg_expiry_ms = 10000, .workers = 2};
    grpc_channel *tj, *bj;
    start_paused("CN-TJ:hold.reply_lost:1", &o, &tj, &bj);
    open_and_issue(tj, bj);
    call_t calls[3];
    memset(calls, 0, sizeof calls);
    pthread_t th[3];
    for (int round = 0; round < 2; round++) { /* the second round: the same ids again */
        long long t0 = proc_now_ms();
        for (int i = 0; i < 3; i++) {
            calls[i].ch = tj;
            calls[i].from = "tj-a";
            calls[i].units = 2;
            if (round == 0) rc_new_id(calls[i].tid);
            cr_assert_eq(pthread_create(&th[i], NULL, call_main, &calls[i]), 0);
        }
        for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
        long long took_ms = proc_now_ms() - t0;
        for (int i = 0; i < 3; i++)
            cr_assert(calls[i].code == GRPC_STATUS_OK &&
                          calls[i].outcome == CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED,
                      "round %d, call %d: status %d %s, outcome %d", round, i, calls[i].code, calls[i].reason,
                      calls[i].outcome);
        cr_assert_lt(took_ms, 5000, "round %d took %lld ms: the legs waited for their expiry", round, took_ms);
    }
    cr_assert_eq(federation_log_count(fed, TJ, "\"failpoint_trip\""), 1, "the reply was not dropped");
    cr_assert_eq(rc_balance_g(tj, "tj-a", "TJ-GT-01"), 19950 - 3 * 2000, "each transfer's grams moved once");
    expect_settled();
    stop_federation();
}

/* One region: no peer's call (recovery, witnessing) can take a worker to
 * the paused store, so a worker is busy only if a Registry call holds it. */
Test(group_commit, issue_and_retire_wait_for_the_store_without_holding_a_worker, .timeout = 180) {
    federation_options_t o = {.regions_n = 1, .workers = 2};
    grpc_channel *tj;
    start_federation(&o, &tj, NULL);
    open_and_issue(tj, NULL);
    uint64_t before_g = rc_balance_g(tj, "tj-a", "TJ-GT-01");
    redis_harness_t *rh = federation_redis(fed, TJ);
    write_t w[WRITES_N];
    memset(w, 0, sizeof w);
    plan_writes(w, tj);
    cr_assert_eq(kill(rh->pid, SIGSTOP), 0);
    pthread_t th[WRITES_N];
    for (int i = 0; i < WRITES_N; i++) cr_assert_eq(pthread_create(&th[i], NULL, write_main, &w[i]), 0);
    sleep_ms(FREEZE_MS);
    /* Nine calls wait for a paused store; the two server workers do not. */
    long long t0 = proc_now_ms();
    int serving = 0;
    grpc_status_code hc = harness_health(tj, 1500, &serving);
    long long health_ms = proc_now_ms() - t0;
    sleep_ms(FREEZE_MS);
    cr_assert_eq(kill(rh->pid, SIGCONT), 0);
    for (int i = 0; i < WRITES_N; i++) pthread_join(th[i], NULL);
    cr_assert(hc == GRPC_STATUS_OK && serving && health_ms < 1000,
              "Health/Check while writes wait for the store: status %d after %lld ms", hc, health_ms);
    check_writes(w);
    uint64_t after_g = rc_balance_g(tj, "tj-a", "TJ-GT-01");
    cr_assert_gt(after_g + 12000, before_g, "more than one retirement left the account");
    cr_assert_lt(after_g, before_g, "no retirement left the account");
    checker_report_t *rep = rc_wait_settled(fed, SETTLE_TIMEOUT_MS);
    cr_assert_not_null(rep);
    cr_assert_eq(rep->violations_n, 0, "checker: %s", rep->violations[0]);
    free(rep);
    federation_free(fed);
    fed = NULL;
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

/* A 1 kg transfer from tj-a to bj-b; returns how long the call took (ms)
 * and asserts it COMMITTED. */
static long long timed_transfer(grpc_channel *tj) {
    call_t c = {.ch = tj, .from = "tj-a", .units = 1};
    rc_new_id(c.tid);
    long long t0 = proc_now_ms();
    call_main(&c);
    long long took_ms = proc_now_ms() - t0;
    cr_assert_eq(c.code, GRPC_STATUS_OK, "transfer: status %d %s", c.code, c.reason);
    cr_assert_eq(c.outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED);
    return took_ms;
}

/* The engine's two phases are a pipeline (issue 16): once a batch's commit
 * point is durable and its callers answered, its Decide goes out on a
 * thread of its own, and the next batch is gathered, prepared and decided
 * meanwhile. CN-TJ's Decide is held back 4 s (test hook
 * CARBON_FAILPOINT_PAUSE at source.before_decide): a second transfer,
 * started while the first one's Decide waits, is answered in well under
 * that. (Before, the batcher sent the Decide itself and the second
 * transfer waited the 4 s.) Both Decides still arrive: every leg settles
 * and the checker finds nothing. */
Test(group_commit, the_next_batch_settles_while_a_decide_is_in_flight, .timeout = 180) {
    federation_options_t o = {.regions_n = 2, .leg_expiry_ms = 20000};
    grpc_channel *tj, *bj;
    start_decide_paused(4000, &o, &tj, &bj);
    open_and_issue(tj, bj);
    long long first_ms = timed_transfer(tj);
    long long until = proc_now_ms() + 5000; /* the first Decide is held back now */
    while (federation_log_count(fed, TJ, "\"failpoint_pause\"") < 1) {
        cr_assert(proc_now_ms() < until, "CN-TJ's Decide never reached the pause point");
        sleep_ms(20);
    }
    long long second_ms = timed_transfer(tj);
    fprintf(stderr, "test_group_commit: first transfer %lld ms, second %lld ms while the "
                    "first Decide waited 4000 ms\n", first_ms, second_ms);
    cr_assert_lt(second_ms, 2500, "the second transfer waited %lld ms for the first's Decide",
                 second_ms);
    expect_settled();
    cr_assert_eq(rc_balance_g(tj, "tj-a", "TJ-GT-01"), 19950 - 2000);
    stop_federation();
}

/* A recovery pass that ran while a batch's Decide was still on its way
 * sent the same decisions again: the destination applied them twice and
 * the source logged a per-leg recovery_decision_resent (seen as a flaky
 * test_gateway_ops, 2 runs in 8). CN-TJ's Decide is held back 1 s
 * (CARBON_FAILPOINT_PAUSE at source.before_decide), well under the 4 s
 * peer_timeout_ms, while recovery runs every 300 ms: it leaves the leg to
 * the batch's Decide, which CN-BJ applies once. */
Test(group_commit, recovery_leaves_a_decide_in_flight_to_its_batch, .timeout = 180) {
    federation_options_t o = {.regions_n = 2, .leg_expiry_ms = 20000, .recovery_interval_ms = 300,
                              .peer_timeout_ms = 4000};
    grpc_channel *tj, *bj;
    start_decide_paused(1000, &o, &tj, &bj);
    open_and_issue(tj, bj);
    timed_transfer(tj);
    expect_settled();
    cr_expect_eq(federation_log_count(fed, TJ, "\"failpoint_pause\""), 1, "the Decide was not held back");
    cr_expect_eq(federation_log_count(fed, TJ, "\"recovery_decision_resent\""), 0,
                 "recovery re-sent a Decide still in flight");
    cr_expect_eq(federation_log_count(fed, BJ, "\"event\":\"decisions_applied\""), 1,
                 "CN-BJ applied the decision more than once");
    stop_federation();
}

/* HGETALL calls of a leg's record (STORE_KEY_LEG_PREFIX). */
static size_t leg_reads(redisContext *rc) { return slowlog_count(rc, "hgetall", STORE_KEY_LEG_PREFIX); }

/* The state of leg tid in the store of rc, into state ("" if none). */
static void leg_state(redisContext *rc, const char *tid, char state[32]) {
    redisReply *r = redisCommand(rc, "HGET " STORE_KEY_LEG_PREFIX "%s" STORE_KEY_LEG_SUFFIX " state", tid);
    cr_assert_not_null(r);
    snprintf(state, 32, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
}

/* Waits until CN-BJ holds leg tid COMMITTED (its Decide applied). */
static void wait_dest_committed(redisContext *bj, const char *tid) {
    long long until = proc_now_ms() + SETTLE_TIMEOUT_MS;
    for (;;) {
        char state[32];
        leg_state(bj, tid, state);
        if (strcmp(state, "COMMITTED") == 0) return;
        cr_assert(proc_now_ms() < until, "CN-BJ never applied the COMMIT of %s", tid);
        sleep_ms(20);
    }
}

/* The leg of CN-TJ waiting for CN-BJ's acknowledgement (the only one). */
static void unacked_leg(redisContext *tj, char tid[64]) {
    long long until = proc_now_ms() + SETTLE_TIMEOUT_MS;
    for (;;) {
        redisReply *r = redisCommand(tj, "ZRANGE " STORE_KEY_LEGS_UNACKED_PREFIX "CN-BJ 0 -1");
        cr_assert_not_null(r);
        int found = r->type == REDIS_REPLY_ARRAY && r->elements == 1;
        if (found) snprintf(tid, 64, "%s", r->element[0]->str);
        freeReplyObject(r);
        if (found) return;
        cr_assert(proc_now_ms() < until, "no leg waits for CN-BJ's acknowledgement");
        sleep_ms(20);
    }
}

/* Recovery leaves a young decision to its batch's Decide, but a decision
 * dated ahead of the recovering gateway's clock (another gateway of the
 * region with its clock ahead) would have waited for that clock to catch
 * up: here ten minutes. CN-TJ's Decide is held back 8 s, its peer_timeout_ms
 * is 6 s; the leg's decided_ms is moved 10 min ahead in CN-TJ's store.
 * Recovery re-sends it at once: CN-BJ applies the COMMIT within 4 s, long
 * before the batch's own Decide or a re-send by age. */
Test(group_commit, recovery_resends_a_decision_dated_ahead_of_its_clock, .timeout = 180) {
    federation_options_t o = {.regions_n = 2, .leg_expiry_ms = 30000, .recovery_interval_ms = 300,
                              .peer_timeout_ms = 6000};
    grpc_channel *tj, *bj;
    start_decide_paused(8000, &o, &tj, &bj);
    open_and_issue(tj, bj);
    redisContext *tj_rc = redis_connect(federation_redis(fed, TJ));
    redisContext *bj_rc = redis_connect(federation_redis(fed, BJ));
    cr_assert(tj_rc != NULL && bj_rc != NULL);
    timed_transfer(tj);
    char tid[64];
    unacked_leg(tj_rc, tid);
    long long ahead_ms = (long long)time(NULL) * 1000 + 600000;
    redisReply *r = redisCommand(tj_rc, "HSET " STORE_KEY_LEG_PREFIX "%s" STORE_KEY_LEG_SUFFIX
                                        " decided_ms %lld", tid, ahead_ms);
    cr_assert_not_null(r);
    freeReplyObject(r);
    long long t0 = proc_now_ms();
    wait_dest_committed(bj_rc, tid);
    long long took_ms = proc_now_ms() - t0;
    cr_expect_lt(took_ms, 4000, "CN-BJ applied the COMMIT %lld ms after the skewed date", took_ms);
    long long until = proc_now_ms() + 5000; /* logged once CN-BJ's answer is recorded */
    while (federation_log_count(fed, TJ, "\"recovery_decision_resent\"") < 1 && proc_now_ms() < until)
        sleep_ms(50);
    cr_expect_geq(federation_log_count(fed, TJ, "\"recovery_decision_resent\""), 1,
                  "the COMMIT did not come from recovery");
    redisFree(tj_rc);
    redisFree(bj_rc);
    expect_settled();
    stop_federation();
}

/* Issue 16: a Decide's COMMITs of CN-TJ's own serials need no word from a
 * third region, so CN-BJ applies them in one script and reads no leg
 * record for them. (Before, it read every committed leg whole, one HGETALL
 * and one round trip each, to find out whether a third region had to
 * confirm it: a third of its gateway's CPU in the benchmark.) The slow log
 * of CN-BJ's Redis (threshold 0) counts the reads. */
Test(group_commit, a_decide_of_own_serials_reads_no_leg_at_the_destination, .timeout = 180) {
    federation_options_t o = {.regions_n = 2, .leg_expiry_ms = 10000};
    grpc_channel *tj, *bj;
    start_federation(&o, &tj, &bj);
    open_and_issue(tj, bj);
    redisContext *rc = redis_connect(federation_redis(fed, BJ));
    cr_assert_not_null(rc);
    slowlog_every_command(rc);
    enum { TRANSFERS_N = 5 };
    for (int i = 0; i < TRANSFERS_N; i++) {
        call_t c = {.ch = tj, .from = "tj-a", .units = 1};
        rc_new_id(c.tid);
        call_main(&c);
        cr_assert_eq(c.code, GRPC_STATUS_OK, "transfer %d: status %d %s", i, c.code, c.reason);
        cr_assert_eq(c.outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED);
        wait_dest_committed(rc, c.tid);
    }
    size_t reads = leg_reads(rc);
    fprintf(stderr, "test_group_commit: %d Decides applied at CN-BJ, %zu leg records read whole\n",
            TRANSFERS_N, reads);
    cr_assert_eq(reads, 0, "CN-BJ read %zu leg records to apply %d COMMITs", reads, TRANSFERS_N);
    redis_cmd_ok(rc, "CONFIG SET slowlog-log-slower-than 10000");
    redisFree(rc);
    expect_settled();
    stop_federation();
}

/* A recovery pass that scanned a leg HELD and past its expiry, and whose
 * presumed abort then found the leg decided by its batch meanwhile, took
 * the leg for one it had just aborted itself (decided_ms 0) and re-sent
 * the batch's decision at once, beside the batch's own Decide. Staged with
 * pauses (CARBON_FAILPOINT_PAUSE): CN-TJ's batch waits 3 s before its
 * commit point, so the leg (expiry 1.5 s) is past its expiry there; CN-TJ's
 * recovery (every 300 ms) scans it then and waits 4 s before its presumed
 * abort, while the batch commits; CN-BJ's recovery waits 5 s before it
 * asks CN-TJ about its expired prepared leg (the question would make CN-TJ
 * presume the abort first). The abort answers COMMITTED with the batch's
 * decided_ms, made before this call: the leg is left to the batch's
 * Decide, and logged recovery_found_decided, not recovery_presumed_abort
 * (which it was before source_decide said who decided). Timed for a
 * gatewayd of its own: skipped under GATEWAY_WRAPPER (valgrind). */
Test(group_commit, recovery_leaves_a_decision_its_batch_made_during_the_pass, .timeout = 180) {
    if (getenv("GATEWAY_WRAPPER") != NULL) cr_skip_test("timed for a gatewayd without a wrapper");
    federation_options_t o = {.regions_n = 2, .leg_expiry_ms = 1500, .recovery_interval_ms = 300,
                              .peer_timeout_ms = 6000};
    grpc_channel *tj, *bj;
    start_paused("CN-TJ:source.before_commit:3000,CN-TJ:recovery.before_presumed_abort:4000,"
                 "CN-BJ:recovery.before_ask:5000",
                 &o, &tj, &bj);
    open_and_issue(tj, bj);
    call_t c = {.ch = tj, .from = "tj-a", .units = 1};
    rc_new_id(c.tid);
    call_main(&c); /* answered at the leg's expiry, before its commit point: PENDING */
    cr_assert_eq(c.code, GRPC_STATUS_OK, "transfer: status %d %s", c.code, c.reason);
    cr_assert(c.outcome == CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_PENDING ||
                  c.outcome == CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED,
              "outcome %d", c.outcome);
    long long until = proc_now_ms() + SETTLE_TIMEOUT_MS; /* the paused pass ends after the commit */
    /* either line ends the pass; the leg's state below tells which race ran */
    while (federation_log_count(fed, TJ, "\"recovery_found_decided\"") < 1 &&
           federation_log_count(fed, TJ, "\"recovery_presumed_abort\"") < 1) {
        cr_assert(proc_now_ms() < until, "no recovery pass met the leg HELD past its expiry");
        sleep_ms(50);
    }
    redisContext *tj_rc = redis_connect(federation_redis(fed, TJ));
    cr_assert_not_null(tj_rc);
    char state[32];
    leg_state(tj_rc, c.tid, state);
    cr_assert_str_eq(state, "COMMITTED",
                     "race not staged: the leg is '%s' at CN-TJ (recovery decided before the commit point)",
                     state);
    redisFree(tj_rc);
    cr_assert_eq(federation_log_count(fed, TJ, "recovery.before_presumed_abort"), 1,
                 "the race was not staged: recovery paused %d times",
                 federation_log_count(fed, TJ, "recovery.before_presumed_abort"));
    redisContext *bj_rc = redis_connect(federation_redis(fed, BJ));
    cr_assert_not_null(bj_rc);
    wait_dest_committed(bj_rc, c.tid); /* the batch committed it, past its expiry */
    redisFree(bj_rc);
    sleep_ms(1000); /* three more passes */
    expect_settled();
    cr_assert_eq(federation_log_count(fed, TJ, "\"recovery_decision_resent\""), 0,
                 "recovery re-sent the batch's decision beside its Decide");
    cr_assert_eq(federation_log_count(fed, TJ, "\"recovery_presumed_abort\""), 0,
                 "a leg its batch committed was logged as recovery's presumed abort");
    cr_assert_geq(federation_log_count(fed, TJ, "\"recovery_found_decided\""), 1,
                  "the leg found committed was not logged recovery_found_decided");
    stop_federation();
}

/* The leg record field of tid in the store of rc, into out ("" if none). */
static void leg_field(redisContext *rc, const char *tid, const char *field, char out[64]) {
    redisReply *r = redisCommand(rc, "HGET " STORE_KEY_LEG_PREFIX "%s" STORE_KEY_LEG_SUFFIX " %s",
                                 tid, field);
    cr_assert_not_null(r);
    snprintf(out, 64, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
}

/* The record of CN-TJ's outgoing batch seq to CN-BJ, into out ("" if none). */
static void batch_out_record(redisContext *rc, int seq, char *out, size_t outlen) {
    redisReply *r = redisCommand(rc, "HGET " STORE_KEY_BATCH_OUT_PREFIX "CN-BJ %d", seq);
    cr_assert_not_null(r);
    snprintf(out, outlen, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
}

/* A leg that waited in the queue past its expiry aborted its whole batch
 * with PEER_UNAVAILABLE, without asking the peer: the Prepare's deadline
 * was the batch's earliest expiry, already past. Staged with CN-TJ's
 * Decide held back 5 s (source.before_decide) behind a batch that aborted a
 * leg (a transfer to an account CN-BJ does not have), so that the next
 * batch waits for that Decide: leg B (expiry 3 s) is queued at once, leg C
 * 3.8 s later. When the batch {B, C} forms, B is past its expiry and C has
 * about 1.8 s left. B is aborted EXPIRED without being sent (CN-BJ never
 * prepares it, the batch record lists C alone); C is asked for and
 * commits. B does not make the next batch wait for this batch's Decide
 * (held back 5 s): D and E, sent next, commit within their 3 s. Recovery is kept
 * out of the way (a pass a minute). */
Test(group_commit, a_stale_leg_does_not_abort_its_batch, .timeout = 180) {
    if (getenv("GATEWAY_WRAPPER") != NULL) cr_skip_test("timed for a gatewayd without a wrapper");
    federation_options_t o = {.regions_n = 2, .leg_expiry_ms = 3000, .recovery_interval_ms = 60000,
                              .peer_timeout_ms = 4000};
    grpc_channel *tj, *bj;
    start_decide_paused(5000, &o, &tj, &bj);
    open_and_issue(tj, bj);
    char refused_tid[33];
    rc_new_id(refused_tid);
    Carbon__V1__TransferResponse *r = NULL;
    client_status_t st;
    cr_assert_eq(rc_transfer(tj, refused_tid, "tj-a", "CN-BJ", "bj-nobody", "TJ-GT-01", 1, &r, &st),
                 GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(r->transfer->outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_ABORTED);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    long long until = proc_now_ms() + 5000; /* its Decide is held back now */
    while (federation_log_count(fed, TJ, "\"failpoint_pause\"") < 1) {
        cr_assert(proc_now_ms() < until, "CN-TJ's Decide never reached the pause point");
        sleep_ms(20);
    }
    call_t b = {.ch = tj, .from = "tj-a", .units = 1}, c = {.ch = tj, .from = "tj-a", .units = 2};
    rc_new_id(b.tid);
    rc_new_id(c.tid);
    pthread_t tb, tc;
    cr_assert_eq(pthread_create(&tb, NULL, call_main, &b), 0);
    sleep_ms(3800);
    cr_assert_eq(pthread_create(&tc, NULL, call_main, &c), 0);
    pthread_join(tb, NULL);
    pthread_join(tc, NULL);
    cr_assert_eq(c.code, GRPC_STATUS_OK, "C: status %d %s", c.code, c.reason);
    cr_assert_eq(c.outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED,
                 "C, with time left, was not committed: outcome %d", c.outcome);
    /* B, never sent, does not hold the next batch behind this one's Decide
     * (held back 5 s, past a new leg's expiry): D and E, two legs as the
     * last batch had, go at once */
    call_t de[2] = {{.ch = tj, .from = "tj-a", .units = 1}, {.ch = tj, .from = "tj-a", .units = 1}};
    pthread_t tde[2];
    long long de_from_ms = proc_now_ms();
    for (int i = 0; i < 2; i++) {
        rc_new_id(de[i].tid);
        cr_assert_eq(pthread_create(&tde[i], NULL, call_main, &de[i]), 0);
    }
    for (int i = 0; i < 2; i++) pthread_join(tde[i], NULL);
    long long de_ms = proc_now_ms() - de_from_ms;
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(de[i].code, GRPC_STATUS_OK, "%c: status %d %s", 'D' + i, de[i].code, de[i].reason);
        cr_assert_eq(de[i].outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED,
                     "%c waited for the Decide of a batch whose only abort was never sent: outcome %d after "
                     "%lld ms", 'D' + i, de[i].outcome, de_ms);
    }
    redisContext *tj_rc = redis_connect(federation_redis(fed, TJ));
    redisContext *bj_rc = redis_connect(federation_redis(fed, BJ));
    cr_assert(tj_rc != NULL && bj_rc != NULL);
    char state[64], reason[64], record[512];
    leg_field(tj_rc, b.tid, "state", state);
    leg_field(tj_rc, b.tid, "reason", reason);
    cr_assert(strcmp(state, "ABORTED") == 0 && strcmp(reason, "EXPIRED") == 0,
              "B (past its expiry) is %s %s at CN-TJ", state, reason);
    batch_out_record(tj_rc, 2, record, sizeof record);
    cr_assert(strstr(record, c.tid) != NULL && strstr(record, b.tid) == NULL,
              "CN-TJ's second batch record is '%s'", record);
    cr_assert_eq(strncmp(record, "1|2000|", 7), 0, "the second batch's totals: '%s'", record);
    wait_dest_committed(bj_rc, c.tid);
    leg_field(bj_rc, b.tid, "state", state);
    cr_assert(strcmp(state, "PREPARED") != 0 && strcmp(state, "COMMITTED") != 0,
              "CN-BJ holds B %s: it was sent", state);
    redisFree(tj_rc);
    redisFree(bj_rc);
    expect_settled();
    cr_assert_eq(rc_balance_g(tj, "tj-a", "TJ-GT-01"), 19950 - 2000 - 2000);
    stop_federation();
}
