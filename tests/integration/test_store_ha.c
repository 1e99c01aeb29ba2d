/* test_store_ha.c - the store follows a Redis failover (issue 17): a real
 * primary, replica and three Sentinels on loopback (tests/support/ha_harness.h),
 * the store configured with the Sentinels, WAIT after commit points.
 *
 * The "client" is a loop that opens accounts (account_open, a commit-point
 * script, idempotent by id) and retries a failed call with the same id, as a
 * gateway's client retries a transfer with the same id. An id is
 * "acknowledged" when a call returned STORE_OK; at the end every acknowledged
 * id must still exist on the primary of the moment.
 *
 * In the default suite: all but the paused primary (about 40 s); with
 * STORE_HA_LONG=1 (scripts/run-ha-tests.sh) that one too. */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settlement/ledger.h"
#include "settlement/sentinel_watch.h"
#include "settlement/store.h"
#include "tests/support/ha_harness.h"
#include "tests/support/proc.h"
#include "tests/support/redis_harness.h"

#define ERR_MAX 512
#define TEST_TIMEOUT_S 90
#define IDS_MAX 4000

static ha_store_t *g_ha;
static redis_harness_t *g_other;
static store_t *g_store;

static void fini(void) {
    store_close(g_store);
    g_store = NULL;
    ha_store_stop(g_ha);
    g_ha = NULL;
    redis_stop(g_other);
    g_other = NULL;
}

static void start_ha(const char *name, const ha_options_t *opts) {
    g_ha = ha_store_start(name, opts);
    cr_assert_not_null(g_ha, "ha_store_start: %s", ha_last_error());
}

static void cfg_for_sentinels(store_config_t *cfg, const char *region, int min_replicas) {
    store_config_defaults(cfg);
    char err[ERR_MAX] = "";
    cr_assert_eq(store_config_sentinels(cfg, g_ha->sentinels_text, err, sizeof err), 0, "%s", err);
    snprintf(cfg->master_name, sizeof cfg->master_name, "%s", g_ha->master_name);
    snprintf(cfg->region, sizeof cfg->region, "%s", region);
    cfg->connect_timeout_ms = 500;
    cfg->command_timeout_ms = 2000;
    cfg->reconnect_attempts_max = 3;
    cfg->reconnect_backoff_ms_initial = 20;
    cfg->reconnect_backoff_ms_max = 200;
    cfg->min_replicas = min_replicas;
    cfg->wait_timeout_ms = 1000;
}

/* account_open(id): STORE_OK with "OK" or "ACCOUNT_EXISTS" in *created
 * (1 created, 0 existed), or another store result with err. */
static int open_account(store_t *s, const char *id, int *created, char *err, size_t errlen) {
    int idx = store_script_index("account_open");
    cr_assert_geq(idx, 0);
    const char *argv[3] = {id, "personal", "1767225600000"};
    redisReply *r = NULL;
    int rc = store_eval(s, idx, 0, 3, argv, NULL, &r, err, errlen);
    if (rc != STORE_OK) return rc;
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements >= 1);
    *created = strcmp(r->element[0]->str, "OK") == 0;
    freeReplyObject(r);
    return STORE_OK;
}

typedef struct {
    int acked;             /* ids 0..acked-1 were acknowledged */
    int failed_calls;
    int reached;           /* a call ran on a primary (STORE_OK, or only WAIT failed) */
} load_t;

/* One call for id load->acked (the same id again after a failure). */
static void load_step(store_t *s, load_t *load) {
    char id[32], err[ERR_MAX] = "";
    snprintf(id, sizeof id, "ha-%d", load->acked);
    int created = 0;
    int rc = open_account(s, id, &created, err, sizeof err);
    if (rc == STORE_OK) {
        load->acked++;
        load->reached = 1;
        return;
    }
    cr_assert_eq(rc, STORE_EUNAVAILABLE, "%s: %s", store_rc_name(rc), err);
    load->failed_calls++;
    load->reached |= strstr(err, "of min_replicas") != NULL;
    proc_sleep_ms(20);
}

/* Opens ids load->acked.. until `more` more are acknowledged, retrying each
 * failed call with the same id; stops at deadline_ms. */
static void load_run(store_t *s, load_t *load, int more, long long deadline_ms) {
    int target = load->acked + more;
    cr_assert_leq(target, IDS_MAX);
    while (load->acked < target && proc_now_ms() < deadline_ms) load_step(s, load);
    cr_assert_eq(load->acked, target, "only %d of %d acknowledged before the deadline", load->acked, target);
}

/* Every acknowledged id still exists: account_open answers ACCOUNT_EXISTS. */
static void expect_all_kept(store_t *s, const load_t *load) {
    for (int i = 0; i < load->acked; i++) {
        char id[32], err[ERR_MAX] = "";
        snprintf(id, sizeof id, "ha-%d", i);
        int created = -1;
        int rc = STORE_EUNAVAILABLE;
        for (int t = 0; t < 50 && rc != STORE_OK; t++) {
            rc = open_account(s, id, &created, err, sizeof err);
            if (rc != STORE_OK) proc_sleep_ms(100);
        }
        cr_assert_eq(rc, STORE_OK, "%s", err);
        cr_assert_eq(created, 0, "acknowledged account %s was lost by the failover", id);
    }
}

Test(store_ha, sentinel_list_parsing) {
    store_config_t cfg;
    store_config_defaults(&cfg);
    char err[ERR_MAX];
    cr_assert_eq(store_config_sentinels(&cfg, "127.0.0.1:26379, 10.0.0.2:26380,[::1]:1", err, sizeof err), 0, "%s", err);
    cr_assert_eq(cfg.sentinels_n, 3);
    cr_assert_str_eq(cfg.sentinel_host[1], "10.0.0.2");
    cr_assert_eq(cfg.sentinel_port[1], 26380);
    cr_assert_str_eq(cfg.sentinel_host[2], "::1");
    const char *bad[] = {"", "host", "host:", "host:0", "host:65536", "a:1,,b:2", ":1", "a b:1",
                         "::1:5", "a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8,i:9", "a:12x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg.sentinels_n = 3;
        cr_expect_eq(store_config_sentinels(&cfg, bad[i], err, sizeof err), -1, "accepted \"%s\"", bad[i]);
        cr_expect_eq(cfg.sentinels_n, 3, "\"%s\" changed the configuration", bad[i]);
    }
    store_config_t c2;
    store_config_defaults(&c2);
    c2.sentinels_n = 1;
    snprintf(c2.sentinel_host[0], sizeof c2.sentinel_host[0], "127.0.0.1");
    c2.sentinel_port[0] = 1;
    cr_expect_null(store_open(&c2, err, sizeof err), "sentinels without master_name accepted");
    cr_expect(strstr(err, "master_name") != NULL, "%s", err);
    store_config_defaults(&c2);
    c2.min_replicas = 1;
    c2.wait_timeout_ms = c2.command_timeout_ms;
    cr_expect_null(store_open(&c2, err, sizeof err), "wait_timeout_ms >= command_timeout_ms accepted");
}

/* WAIT: with min_replicas 1 and no replica, a commit-point script runs but
 * the call is STORE_EUNAVAILABLE with the reason; a retry with the same id
 * reads the outcome. A read-only script does not WAIT. */
Test(store_ha, wait_without_replica_is_unavailable, .fini = fini, .timeout = TEST_TIMEOUT_S) {
    g_other = redis_start(NULL);
    cr_assert_not_null(g_other, "%s", redis_last_error());
    store_config_t cfg;
    store_config_defaults(&cfg);
    cfg.port = g_other->port;
    cfg.min_replicas = 1;
    cfg.wait_timeout_ms = 200;
    char err[ERR_MAX] = "";
    g_store = store_open(&cfg, err, sizeof err);
    cr_assert_not_null(g_store, "%s", err);
    int created = -1;
    int rc = open_account(g_store, "w-1", &created, err, sizeof err);
    cr_assert_eq(rc, STORE_EUNAVAILABLE, "%s: %s", store_rc_name(rc), err);
    cr_assert(strstr(err, "0 of min_replicas 1") != NULL && strstr(err, "uncertain") != NULL, "%s", err);
    const char *get_argv[2] = {"w-1", "1"};
    redisReply *r = NULL;
    rc = store_eval(g_store, store_script_index("account_get"), 0, 2, get_argv, NULL, &r, err, sizeof err);
    cr_assert_eq(rc, STORE_OK, "a read-only script waited: %s", err);
    cr_assert_str_eq(r->element[0]->str, "OK", "the script ran before WAIT: the account exists");
    freeReplyObject(r);
    /* the same store without WAIT: the retry with the same id reads the outcome */
    store_close(g_store);
    cfg.min_replicas = 0;
    g_store = store_open(&cfg, err, sizeof err);
    cr_assert_not_null(g_store, "%s", err);
    cr_assert_eq(open_account(g_store, "w-1", &created, err, sizeof err), STORE_OK, "%s", err);
    cr_assert_eq(created, 0);
}

/* What one connection wrote and could not get onto the replica (its WAIT
 * failed) is not handed on as durable by another: recovery's scan, whose
 * decided legs recovery sends to peers, WAITs too, and fails while the
 * replica is behind; before, it did not WAIT at all (a reviewer's finding:
 * a COMMIT could reach the destination and then be lost by a failover to
 * the replica, where the leg was still held). A replay that finds the
 * account and writes nothing fails alike: Redis sets a connection's WAIT
 * offset after each of its commands, so its WAIT covers the other
 * connection's write (this part passed before too). */
Test(store_ha, a_write_not_on_the_replica_is_not_read_as_durable, .fini = fini, .timeout = TEST_TIMEOUT_S) {
    start_ha("mymaster-barrier", NULL);
    store_config_t cfg;
    cfg_for_sentinels(&cfg, "CN-TJ", 1);
    char err[ERR_MAX] = "";
    g_store = store_open(&cfg, err, sizeof err);
    cr_assert_not_null(g_store, "%s", err);
    int created = 0;
    cr_assert_eq(open_account(g_store, "b-1", &created, err, sizeof err), STORE_OK, "%s", err);
    store_t *other = store_open(&cfg, err, sizeof err); /* a gateway's other connection, open before */
    cr_assert_not_null(other, "%s", err);
    /* its last write, on the replica (WAIT passed) */
    cr_assert_eq(open_account(other, "b-0", &created, err, sizeof err), STORE_OK, "%s", err);
    cr_assert_eq(created, 1);
    cr_assert_eq(kill(g_ha->redis[1]->pid, SIGSTOP), 0);
    int rc = open_account(g_store, "b-2", &created, err, sizeof err);
    cr_assert_eq(rc, STORE_EUNAVAILABLE, "%s: %s", store_rc_name(rc), err);
    rc = open_account(other, "b-2", &created, err, sizeof err);
    cr_expect_eq(rc, STORE_EUNAVAILABLE, "a replay read b-2 as durable: %s %s", store_rc_name(rc), err);
    ledger_pending_leg_t src[4], dst[4];
    size_t src_n = 0, dst_n = 0;
    cr_expect_eq(ledger_recovery_scan(other, 1767225600000ull, 4, src, &src_n, dst, &dst_n, err, sizeof err),
                 LEDGER_ESTORE, "recovery read the store as durable");
    cr_assert_eq(kill(g_ha->redis[1]->pid, SIGCONT), 0);
    int ok = STORE_EUNAVAILABLE;
    for (int i = 0; i < 50 && ok != STORE_OK; i++) {
        ok = open_account(other, "b-2", &created, err, sizeof err);
        if (ok != STORE_OK) proc_sleep_ms(100);
    }
    cr_assert_eq(ok, STORE_OK, "the replica caught up, still: %s", err);
    cr_assert_eq(created, 0);
    cr_assert_eq(ledger_recovery_scan(other, 1767225600000ull, 4, src, &src_n, dst, &dst_n, err, sizeof err),
                 LEDGER_OK, "%s", err);
    store_close(other);
}

/* kill -9 of the primary under load (min_replicas 0: the window of failed
 * calls is what Sentinel's failover costs); every acknowledged id survives
 * with min_replicas 1 once the old primary is back as a replica. */
Test(store_ha, follows_failover_of_killed_primary, .fini = fini, .timeout = TEST_TIMEOUT_S) {
    start_ha("tj", NULL);
    store_config_t cfg;
    cfg_for_sentinels(&cfg, "CN-TJ", 1);
    char err[ERR_MAX] = "";
    g_store = store_open(&cfg, err, sizeof err);
    cr_assert_not_null(g_store, "%s", err);
    char first[80];
    snprintf(first, sizeof first, "%s", store_address(g_store));
    cr_assert_eq(ha_redis_index(g_ha, atoi(strchr(first, ':') + 1)), 0, "connected to %s", first);
    load_t load = {0};
    load_run(g_store, &load, 50, proc_now_ms() + 20000);
    int old_port = g_ha->redis[0]->port;
    long long killed_ms = proc_now_ms();
    cr_assert_eq(redis_kill9(g_ha->redis[0]), 0);
    load.reached = 0;
    while (!load.reached && proc_now_ms() < killed_ms + 20000) load_step(g_store, &load);
    cr_assert(load.reached, "the store never reached the new primary");
    long long followed_ms = proc_now_ms() - killed_ms;
    /* the new primary has no replica until the old one is back: WAIT 1
       refuses meanwhile, so bring it back once Sentinel has failed over */
    cr_assert_eq(ha_wait_failover(g_ha, old_port, 20000), 1, "%s", ha_last_error());
    cr_assert_eq(redis_restart(g_ha->redis[0]), 0, "%s", redis_last_error());
    load_run(g_store, &load, 50, proc_now_ms() + 40000);
    fprintf(stderr, "store_ha: kill -9 of the primary: the store ran calls on the new primary "
            "after %lld ms (Sentinel down-after 500 ms); acknowledged again (WAIT 1: the old "
            "primary restarted, turned into a replica by Sentinel) after %lld ms; %d failed calls\n",
            followed_ms, proc_now_ms() - killed_ms, load.failed_calls);
    cr_assert_neq(strcmp(store_address(g_store), first), 0, "still on %s", first);
    cr_assert_geq(store_reconnects(g_store), 1);
    expect_all_kept(g_store, &load);
}

/* +switch-master (sentinel_watch.h): the primary is paused (SIGSTOP), so its
 * connection looks alive and a command sent to it would hang until the
 * command timeout with an uncertain outcome. Once the watcher has heard the
 * announcement, the store's next call goes straight to the new primary: no
 * error, well within the command timeout. */
Test(store_ha, follows_switch_master_before_any_call, .fini = fini, .timeout = TEST_TIMEOUT_S) {
    start_ha("tj", NULL);
    store_config_t cfg;
    cfg_for_sentinels(&cfg, "CN-TJ", 0);
    char err[ERR_MAX] = "";
    g_store = store_open(&cfg, err, sizeof err);
    cr_assert_not_null(g_store, "%s", err);
    sentinel_watch_t *w = sentinel_watch_start(&cfg, NULL, NULL, err, sizeof err);
    cr_assert_not_null(w, "%s", err);
    load_t load = {0};
    load_run(g_store, &load, 5, proc_now_ms() + 20000);
    int old_port = g_ha->redis[0]->port;
    uint64_t errors0 = store_errors(g_store), switches0 = store_primary_switches();
    cr_assert_eq(proc_signal(g_ha->redis[0]->pid, SIGSTOP), 0);
    long long paused_ms = proc_now_ms();
    cr_assert_eq(ha_wait_failover(g_ha, old_port, 20000), 1, "%s", ha_last_error());
    long long named_ms = proc_now_ms();
    while (sentinel_watch_switches(w) == 0 && proc_now_ms() < named_ms + 5000) proc_sleep_ms(10);
    long long heard_ms = proc_now_ms();
    cr_assert_eq(sentinel_watch_switches(w), 1, "no +switch-master heard 5 s after the failover");
    cr_assert_gt(store_primary_switches(), switches0);
    char id[32];
    snprintf(id, sizeof id, "ha-%d", load.acked);
    int created = 0;
    long long call_ms = proc_now_ms();
    int rc = open_account(g_store, id, &created, err, sizeof err);
    long long took_ms = proc_now_ms() - call_ms;
    sentinel_watch_stop(w);
    cr_assert_eq(rc, STORE_OK, "the first call after +switch-master: %s", err);
    cr_assert_eq(store_errors(g_store), errors0, "a call failed on the old primary first");
    cr_assert_lt(took_ms, cfg.command_timeout_ms, "the call waited on the paused primary");
    cr_assert_eq(ha_redis_index(g_ha, atoi(strchr(store_address(g_store), ':') + 1)), 1,
                 "on %s", store_address(g_store));
    fprintf(stderr, "store_ha: +switch-master: Sentinels agreed %lld ms after SIGSTOP of the "
            "primary (down-after 500 ms); the watcher had it %lld ms later; the next call took "
            "%lld ms, on the new primary\n", named_ms - paused_ms, heard_ms - named_ms, took_ms);
    cr_assert_eq(proc_signal(g_ha->redis[0]->pid, SIGCONT), 0);
}

/* The Sentinel the watcher listens to freezes (SIGSTOP) and then the primary
 * is paused: the other two Sentinels fail over, and the watcher, whose
 * periodic ask of its Sentinel gets no answer, moves to another one and
 * learns the switch there, before any call is sent to the paused primary. */
Test(store_ha, watcher_leaves_a_frozen_sentinel, .fini = fini, .timeout = TEST_TIMEOUT_S) {
    if (getenv("STORE_HA_LONG") == NULL)
        cr_skip_test("about 20 s: run with STORE_HA_LONG=1 (scripts/run-ha-tests.sh)");
    start_ha("tj", NULL);
    store_config_t cfg;
    cfg_for_sentinels(&cfg, "CN-TJ", 0);
    char err[ERR_MAX] = "";
    g_store = store_open(&cfg, err, sizeof err);
    cr_assert_not_null(g_store, "%s", err);
    sentinel_watch_t *w = sentinel_watch_start(&cfg, NULL, NULL, err, sizeof err);
    cr_assert_not_null(w, "%s", err);
    load_t load = {0};
    load_run(g_store, &load, 5, proc_now_ms() + 20000);
    proc_sleep_ms(500); /* subscribed to the first Sentinel by now */
    int old_port = g_ha->redis[0]->port;
    uint64_t errors0 = store_errors(g_store);
    cr_assert_eq(proc_signal(g_ha->sentinel_pid[0], SIGSTOP), 0);
    cr_assert_eq(proc_signal(g_ha->redis[0]->pid, SIGSTOP), 0);
    long long paused_ms = proc_now_ms(), named_ms = 0;
    while (named_ms == 0 && proc_now_ms() < paused_ms + 20000) {
        int port = ha_sentinel_primary_port(g_ha, 1);
        if (port > 0 && port != old_port) named_ms = proc_now_ms();
        else proc_sleep_ms(20);
    }
    while (sentinel_watch_switches(w) == 0 && proc_now_ms() < paused_ms + 30000) proc_sleep_ms(10);
    long long heard_ms = proc_now_ms();
    int created = 0, rc = STORE_EUNAVAILABLE;
    long long took_ms = -1;
    if (sentinel_watch_switches(w) == 1) {
        char id[32];
        snprintf(id, sizeof id, "ha-%d", load.acked);
        long long call_ms = proc_now_ms();
        rc = open_account(g_store, id, &created, err, sizeof err);
        took_ms = proc_now_ms() - call_ms;
    }
    sentinel_watch_stop(w);
    cr_assert_eq(proc_signal(g_ha->sentinel_pid[0], SIGCONT), 0);
    cr_assert_eq(proc_signal(g_ha->redis[0]->pid, SIGCONT), 0);
    cr_assert_gt(named_ms, 0, "no failover by the two Sentinels left");
    cr_assert_eq(took_ms >= 0, 1, "the watcher never heard the switch from another Sentinel");
    cr_assert_eq(rc, STORE_OK, "the first call after the switch: %s", err);
    cr_assert_eq(store_errors(g_store), errors0, "a call failed on the old primary first");
    cr_assert_lt(took_ms, cfg.command_timeout_ms, "the call waited on the paused primary");
    fprintf(stderr, "store_ha: frozen Sentinel: the others named the new primary %lld ms after "
            "the pause; the watcher had it %lld ms later (ask every %d ms)\n",
            named_ms - paused_ms, heard_ms - named_ms, SENTINEL_WATCH_ASK_MS);
}

/* A hostile or foreign +switch-master payload changes nothing. */
Test(store_ha, switch_master_payload_parsing) {
    char o[72], n[72];
    const char *good = "tj 127.0.0.1 7001 127.0.0.1 7002";
    cr_assert_eq(sentinel_watch_parse(good, strlen(good), "tj", o, n, sizeof n), 1);
    cr_assert_str_eq(o, "127.0.0.1:7001");
    cr_assert_str_eq(n, "127.0.0.1:7002");
    cr_assert_eq(sentinel_watch_parse(good, strlen(good), "bj", o, n, sizeof n), 0);
    const char *bad[] = {"", "tj", "tj 127.0.0.1 7001 127.0.0.1", "tj 127.0.0.1 7001 127.0.0.1 7002 x",
                         "tj  127.0.0.1 7001 127.0.0.1 7002", "tj 127.0.0.1 7001 127.0.0.1 0",
                         "tj 127.0.0.1 7001 127.0.0.1 65536", "tj 127.0.0.1 7001 127.0.0.1 7a02",
                         "tj 127.0.0.1 7001 127.0.0.1 7002 ", "tj 127.0.0.1\t7001 127.0.0.1 7002"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(sentinel_watch_parse(bad[i], strlen(bad[i]), "tj", o, n, sizeof n), -1, "%s", bad[i]);
    char big[SENTINEL_WATCH_MESSAGE_MAX + 2];
    memset(big, 'a', sizeof big);
    cr_assert_eq(sentinel_watch_parse(big, sizeof big, "tj", o, n, sizeof n), -1);
    char nul[] = "tj 127.0.0.1 7001 127.0\0.1 7002";
    cr_assert_eq(sentinel_watch_parse(nul, sizeof nul - 1, "tj", o, n, sizeof n), -1);
}

/* SIGSTOP of the primary past Sentinel's failover, then SIGCONT: it comes
 * back as a replica; with min_replicas 1 nothing acknowledged is lost. */
Test(store_ha, paused_primary_loses_nothing_acknowledged, .fini = fini, .timeout = TEST_TIMEOUT_S) {
    if (getenv("STORE_HA_LONG") == NULL)
        cr_skip_test("about 25 s: run with STORE_HA_LONG=1 (scripts/run-ha-tests.sh)");
    start_ha("tj", NULL);
    store_config_t cfg;
    cfg_for_sentinels(&cfg, "CN-TJ", 1);
    char err[ERR_MAX] = "";
    g_store = store_open(&cfg, err, sizeof err);
    cr_assert_not_null(g_store, "%s", err);
    load_t load = {0};
    load_run(g_store, &load, 50, proc_now_ms() + 20000);
    int old_port = g_ha->redis[0]->port;
    cr_assert_eq(proc_signal(g_ha->redis[0]->pid, SIGSTOP), 0);
    load_t during = load;
    /* calls now time out (uncertain) or find no replica to WAIT for */
    long long until = proc_now_ms() + 1500;
    while (proc_now_ms() < until) {
        char id[32];
        snprintf(id, sizeof id, "ha-%d", during.acked);
        int created = 0;
        if (open_account(g_store, id, &created, err, sizeof err) == STORE_OK) during.acked++;
    }
    cr_assert_eq(ha_wait_failover(g_ha, old_port, 20000), 1, "%s", ha_last_error());
    cr_assert_eq(proc_signal(g_ha->redis[0]->pid, SIGCONT), 0);
    cr_assert_eq(ha_wait_replica(g_ha, 0, 20000), 0, "%s", ha_last_error());
    load = during;
    load_run(g_store, &load, 50, proc_now_ms() + 40000);
    expect_all_kept(g_store, &load);
}

/* A store that names another region is refused at open and after a
 * failover that leads the Sentinels to another region's Redis. */
Test(store_ha, primary_of_another_region_refused, .fini = fini, .timeout = TEST_TIMEOUT_S) {
    start_ha("tj", NULL);
    g_other = redis_start(NULL); /* CN-BJ's store */
    cr_assert_not_null(g_other, "%s", redis_last_error());
    redisContext *c = redis_connect(g_other);
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, "SET %s CN-BJ", STORE_REGION_KEY);
    cr_assert_not_null(r);
    freeReplyObject(r);
    redisFree(c);

    store_config_t cfg;
    char err[ERR_MAX] = "";
    cfg_for_sentinels(&cfg, "CN-TJ", 0);
    g_store = store_open(&cfg, err, sizeof err); /* the first use claims it for CN-TJ */
    cr_assert_not_null(g_store, "%s", err);
    store_config_t he;
    cfg_for_sentinels(&he, "CN-HE", 0);
    cr_assert_null(store_open(&he, err, sizeof err), "a store of another region was accepted");
    cr_assert(strstr(err, "belongs to region CN-TJ") != NULL, "%s", err);
    int created = 0;
    cr_assert_eq(open_account(g_store, "x-1", &created, err, sizeof err), STORE_OK, "%s", err);
    /* the Sentinels are led to BJ's Redis as "tj"; the TJ primary dies */
    char port[16];
    snprintf(port, sizeof port, "%d", g_other->port);
    const char *rm[] = {"SENTINEL", "REMOVE", "tj"};
    const char *mon[] = {"SENTINEL", "MONITOR", "tj", "127.0.0.1", port, "2"};
    cr_assert_eq(ha_sentinels_command(g_ha, rm, 3), 0, "%s", ha_last_error());
    cr_assert_eq(ha_sentinels_command(g_ha, mon, 6), 0, "%s", ha_last_error());
    cr_assert_eq(redis_kill9(g_ha->redis[0]), 0);
    int rc = open_account(g_store, "x-2", &created, err, sizeof err);
    cr_assert_eq(rc, STORE_EUNAVAILABLE, "%s: %s", store_rc_name(rc), err);
    cr_assert(strstr(err, "belongs to region CN-BJ") != NULL, "%s", err);
    c = redis_connect(g_other);
    r = redisCommand(c, "EXISTS %s", STORE_KEY_ACCOUNT_PREFIX "x-2" STORE_KEY_ACCOUNT_INFO_SUFFIX);
    cr_assert_eq(r->integer, 0, "the refused store was written");
    freeReplyObject(r);
    r = redisCommand(c, "GET %s", STORE_REGION_KEY);
    cr_assert_str_eq(r->str, "CN-BJ");
    freeReplyObject(r);
    redisFree(c);
}

/* A primary that refuses writes (min-replicas-to-write 1, its replica gone)
 * still serves reads: the store reads its region key instead of writing it,
 * and a script refused with NOREPLICAS (not run) is retried within the
 * budget, then STORE_EUNAVAILABLE, not a script error. */
Test(store_ha, primary_without_replica_serves_reads, .fini = fini, .timeout = TEST_TIMEOUT_S) {
    g_other = redis_start(NULL);
    cr_assert_not_null(g_other, "%s", redis_last_error());
    redisContext *c = redis_connect(g_other);
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, "SET %s CN-TJ", STORE_REGION_KEY);
    freeReplyObject(r);
    r = redisCommand(c, "CONFIG SET min-replicas-to-write 1");
    cr_assert(r != NULL && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    redisFree(c);
    store_config_t cfg;
    store_config_defaults(&cfg);
    cfg.port = g_other->port;
    snprintf(cfg.region, sizeof cfg.region, "CN-TJ");
    cfg.reconnect_attempts_max = 2;
    cfg.reconnect_backoff_ms_initial = 10;
    cfg.reconnect_backoff_ms_max = 20;
    char err[ERR_MAX] = "";
    g_store = store_open(&cfg, err, sizeof err);
    cr_assert_not_null(g_store, "a primary refusing writes was not opened for reads: %s", err);
    const char *get_argv[2] = {"r-1", "1"};
    cr_assert_eq(store_eval(g_store, store_script_index("account_get"), 0, 2, get_argv, NULL, &r, err,
                            sizeof err), STORE_OK, "%s", err);
    freeReplyObject(r);
    int created = 0;
    int rc = open_account(g_store, "r-1", &created, err, sizeof err);
    cr_assert_eq(rc, STORE_EUNAVAILABLE, "%s: %s", store_rc_name(rc), err);
    cr_assert(strstr(err, "NOREPLICAS") != NULL, "%s", err);
}
