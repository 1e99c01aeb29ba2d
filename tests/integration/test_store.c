/* test_store.c - settlement/store against a real redis-server.
 * Every test starts its own Redis (fixture or test body) and .fini stops it;
 * Criterion forks each test, and a crashed test's Redis dies with it
 * (PR_SET_PDEATHSIG). */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "settlement/store.h"
#include "tests/support/proc.h"
#include "tests/support/redis_harness.h"
#include "tests/support/test_scripts.h"

#define ERR_MAX 512
#define TEST_TIMEOUT_S 60

static redis_harness_t *g_redis;
static store_t *g_store;
static int g_ping;

static void fixture_fini(void) {
    store_close(g_store);
    g_store = NULL;
    int rc = redis_stop(g_redis);
    g_redis = NULL;
    cr_expect_eq(rc, 0, "redis_stop: %s", redis_last_error());
}

static void start_redis_opts(const redis_options_t *opts) {
    g_redis = redis_start_opts(opts);
    cr_assert_not_null(g_redis, "redis_start: %s", redis_last_error());
}

static void store_cfg_for(store_config_t *cfg, const redis_harness_t *h) {
    store_config_defaults(cfg);
    test_scripts_use(cfg); /* ping_test.lua */
    snprintf(cfg->host, sizeof cfg->host, "%s", h->host);
    cfg->port = h->port;
    cfg->connect_timeout_ms = 1000;
    cfg->command_timeout_ms = 3000;
    cfg->reconnect_attempts_max = 5;
    cfg->reconnect_backoff_ms_initial = 20;
    cfg->reconnect_backoff_ms_max = 200;
}

static store_t *open_store_cfg(const store_config_t *cfg) {
    char err[ERR_MAX] = "";
    store_t *s = store_open(cfg, err, sizeof err);
    cr_assert_not_null(s, "store_open %s:%d: %s", cfg->host, cfg->port, err);
    g_ping = store_script_find(s, "ping_test");
    cr_assert_geq(g_ping, 0, "ping_test.lua is not loaded");
    return s;
}

static void fixture_init(void) {
    start_redis_opts(NULL);
    store_config_t cfg;
    store_cfg_for(&cfg, g_redis);
    g_store = open_store_cfg(&cfg);
}

/* ping_test(key, arg): asserts the reply {key, arg, counter} and returns the
 * counter; or asserts rc and returns -1. */
static long long ping(store_t *s, const char *key, const char *arg, int want_rc) {
    const char *argv[2] = {key, arg};
    redisReply *r = NULL;
    char err[ERR_MAX] = "";
    int rc = store_eval(s, g_ping, 1, 2, argv, NULL, &r, err, sizeof err);
    cr_assert_eq(rc, want_rc, "store_eval: %s (want %s): %s", store_rc_name(rc),
                 store_rc_name(want_rc), err);
    if (rc != STORE_OK) {
        cr_assert_null(r);
        return -1;
    }
    cr_assert_not_null(r);
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 3);
    cr_assert_eq(r->element[0]->type, REDIS_REPLY_STRING);
    cr_assert_str_eq(r->element[0]->str, key);
    cr_assert_str_eq(r->element[1]->str, arg);
    cr_assert_eq(r->element[2]->type, REDIS_REPLY_INTEGER);
    long long n = r->element[2]->integer;
    freeReplyObject(r);
    return n;
}

static redisReply *command(store_t *s, int argc, const char **argv) {
    redisReply *r = NULL;
    char err[ERR_MAX] = "";
    int rc = store_command(s, argc, argv, NULL, &r, err, sizeof err);
    cr_assert_eq(rc, STORE_OK, "store_command %s: %s: %s", argv[0], store_rc_name(rc), err);
    return r;
}

static void script_flush(store_t *s) {
    const char *argv[] = {"SCRIPT", "FLUSH"};
    freeReplyObject(command(s, 2, argv));
}

static long long script_exists(store_t *s, int index) {
    const char *argv[] = {"SCRIPT", "EXISTS", store_script_sha(s, index)};
    redisReply *r = command(s, 3, argv);
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 1);
    long long v = r->element[0]->integer;
    freeReplyObject(r);
    return v;
}

/* ---- scripts and EVALSHA --------------------------------------------------- */

Test(store, script_index_and_sha, .init = fixture_init, .fini = fixture_fini, .timeout = TEST_TIMEOUT_S) {
    cr_assert_eq(store_script_index("no_such_script"), -1);
    /* the tests' scripts are loaded through extra_scripts, not embedded */
    cr_assert_eq(store_script_index("ping_test"), -1, "ping_test.lua is embedded in the daemon");
    cr_assert_eq(store_script_index("textfield_test"), -1);
    cr_assert_eq(store_script_find(g_store, "no_such_script"), -1);
    cr_assert_eq(store_script_find(g_store, "transfer_hold"), store_script_index("transfer_hold"));
    const char *sha = store_script_sha(g_store, g_ping);
    cr_assert_not_null(sha);
    cr_assert_eq(strlen(sha), STORE_SHA1_HEX_LEN);
    cr_assert_null(store_script_sha(g_store, -1));
    cr_assert_eq(script_exists(g_store, g_ping), 1, "store_open loaded the script");
}

Test(store, evalsha_returns_reply, .init = fixture_init, .fini = fixture_fini, .timeout = TEST_TIMEOUT_S) {
    cr_assert_eq(ping(g_store, "k:evalsha", "hello", STORE_OK), 1);
    cr_assert_eq(ping(g_store, "k:evalsha", "again", STORE_OK), 2);
    /* binary-safe arguments through argvlen */
    const char bin[] = {'a', '\0', 'b'};
    const char *argv[2] = {"k:bin", bin};
    const size_t argvlen[2] = {5, sizeof bin};
    redisReply *r = NULL;
    char err[ERR_MAX] = "";
    int rc = store_eval(g_store, g_ping, 1, 2, argv, argvlen, &r, err, sizeof err);
    cr_assert_eq(rc, STORE_OK, "%s", err);
    cr_assert_eq(r->element[1]->len, sizeof bin);
    cr_assert_eq(memcmp(r->element[1]->str, bin, sizeof bin), 0);
    freeReplyObject(r);
    cr_assert_eq(store_calls(g_store), 3);
    cr_assert_eq(store_errors(g_store), 0);
    cr_assert_eq(store_reconnects(g_store), 0);
}

Test(store, noscript_reload_after_script_flush, .init = fixture_init, .fini = fixture_fini,
     .timeout = TEST_TIMEOUT_S) {
    cr_assert_eq(ping(g_store, "k:noscript", "a", STORE_OK), 1);
    script_flush(g_store);
    cr_assert_eq(script_exists(g_store, g_ping), 0);
    cr_assert_eq(ping(g_store, "k:noscript", "b", STORE_OK), 2, "reloaded, ran exactly once");
    cr_assert_eq(script_exists(g_store, g_ping), 1);
    cr_assert_eq(store_errors(g_store), 0);
    cr_assert_eq(store_reconnects(g_store), 0);
}

/* ---- error replies --------------------------------------------------------- */

Test(store, error_reply_is_escript, .init = fixture_init, .fini = fixture_fini, .timeout = TEST_TIMEOUT_S) {
    /* redis.error_reply from the script */
    const char *argv[3] = {"k:err", "x1", "error"};
    redisReply *r = (redisReply *)1;
    char err[ERR_MAX] = "";
    int rc = store_eval(g_store, g_ping, 1, 3, argv, NULL, &r, err, sizeof err);
    cr_assert_eq(rc, STORE_ESCRIPT, "%s: %s", store_rc_name(rc), err);
    cr_assert_null(r);
    cr_assert(strstr(err, "PINGTEST requested error for x1") != NULL, "err: %s", err);

    /* a runtime error inside the script: INCR of a non-integer */
    const char *set[] = {"SET", "k:str", "not-a-number"};
    freeReplyObject(command(g_store, 3, set));
    const char *argv2[2] = {"k:str", "x2"};
    rc = store_eval(g_store, g_ping, 1, 2, argv2, NULL, &r, err, sizeof err);
    cr_assert_eq(rc, STORE_ESCRIPT, "%s: %s", store_rc_name(rc), err);
    cr_assert(strstr(err, "not an integer") != NULL, "err: %s", err);

    /* a plain command error */
    const char *bad[] = {"NOSUCHCOMMAND"};
    rc = store_command(g_store, 1, bad, NULL, &r, err, sizeof err);
    cr_assert_eq(rc, STORE_ESCRIPT);
    cr_assert(strstr(err, "unknown command") != NULL, "err: %s", err);

    /* the connection is still good and the counters add up */
    cr_assert_eq(ping(g_store, "k:err", "ok", STORE_OK), 1);
    cr_assert_eq(store_calls(g_store), 5);
    cr_assert_eq(store_errors(g_store), 3);
    cr_assert_eq(store_reconnects(g_store), 0);
}

Test(store, invalid_arguments_send_nothing, .init = fixture_init, .fini = fixture_fini,
     .timeout = TEST_TIMEOUT_S) {
    const char *argv[2] = {"k:inval", "x"};
    redisReply *r = NULL;
    char err[ERR_MAX] = "";
    cr_assert_eq(store_eval(g_store, -1, 1, 2, argv, NULL, &r, err, sizeof err), STORE_EINVAL);
    cr_assert(strstr(err, "script index") != NULL, "err: %s", err);
    cr_assert_eq(store_eval(g_store, 9999, 1, 2, argv, NULL, &r, err, sizeof err), STORE_EINVAL);
    cr_assert_eq(store_eval(g_store, g_ping, 3, 2, argv, NULL, &r, err, sizeof err), STORE_EINVAL);
    cr_assert_eq(store_eval(g_store, g_ping, -1, 2, argv, NULL, &r, err, sizeof err), STORE_EINVAL);
    cr_assert_eq(store_eval(g_store, g_ping, 0, STORE_ARGS_MAX + 1, argv, NULL, &r, err, sizeof err),
                 STORE_EINVAL);
    const char *null_arg[2] = {"k:inval", NULL};
    cr_assert_eq(store_eval(g_store, g_ping, 1, 2, null_arg, NULL, &r, err, sizeof err), STORE_EINVAL);
    cr_assert_eq(store_command(g_store, 0, argv, NULL, &r, err, sizeof err), STORE_EINVAL);
    const size_t huge[2] = {7, (size_t)STORE_ARG_BYTES_MAX + 1};
    cr_assert_eq(store_eval(g_store, g_ping, 1, 2, argv, huge, &r, err, sizeof err), STORE_EINVAL);
    cr_assert_null(r);
    redisReply *replies[1];
    cr_assert_eq(store_pipeline_eval(g_store, 0, NULL, replies, err, sizeof err), STORE_EINVAL);
    /* none of it reached Redis */
    const char *get[] = {"EXISTS", "k:inval"};
    r = command(g_store, 2, get);
    cr_assert_eq(r->integer, 0);
    freeReplyObject(r);
}

Test(store, config_is_checked) {
    store_config_t cfg;
    char err[ERR_MAX] = "";
    store_config_defaults(&cfg);
    cfg.port = 0;
    cr_assert_null(store_open(&cfg, err, sizeof err));
    cr_assert(strstr(err, "port") != NULL, "err: %s", err);
    store_config_defaults(&cfg);
    cfg.reconnect_backoff_ms_initial = 500;
    cfg.reconnect_backoff_ms_max = 100;
    cr_assert_null(store_open(&cfg, err, sizeof err));
    cr_assert(strstr(err, "backoff") != NULL, "err: %s", err);
    store_config_defaults(&cfg);
    snprintf(cfg.user, sizeof cfg.user, "alice");
    cr_assert_null(store_open(&cfg, err, sizeof err));
    cr_assert(strstr(err, "without a password") != NULL, "err: %s", err);
}

/* ---- unreachable ----------------------------------------------------------- */

Test(store, closed_port_fails_fast, .timeout = TEST_TIMEOUT_S) {
    int port = proc_free_tcp_port();
    cr_assert_gt(port, 0);
    store_config_t cfg;
    store_config_defaults(&cfg);
    cfg.port = port;
    cfg.connect_timeout_ms = 500;
    char err[ERR_MAX] = "";
    long long t0 = proc_now_ms();
    store_t *s = store_open(&cfg, err, sizeof err);
    long long elapsed_ms = proc_now_ms() - t0;
    cr_assert_null(s);
    cr_assert_leq(elapsed_ms, cfg.connect_timeout_ms, "took %lld ms", elapsed_ms);
    char where[64];
    snprintf(where, sizeof where, "127.0.0.1:%d", port);
    cr_assert(strstr(err, where) != NULL, "err: %s", err);
    cr_assert(strstr(err, "refused") != NULL, "err: %s", err);
}

/* ---- restarts and crashes -------------------------------------------------- */

Test(store, restart_keeps_data_and_reconnects, .init = fixture_init, .fini = fixture_fini,
     .timeout = TEST_TIMEOUT_S) {
    cr_assert_eq(ping(g_store, "k:restart", "a", STORE_OK), 1);
    cr_assert_eq(ping(g_store, "k:restart", "b", STORE_OK), 2);
    cr_assert_eq(redis_restart(g_redis), 0, "redis_restart: %s", redis_last_error());
    /* the dead connection is noticed before sending: no error for the caller */
    cr_assert_eq(ping(g_store, "k:restart", "c", STORE_OK), 3, "AOF kept the counter");
    cr_assert_eq(store_reconnects(g_store), 1);
    cr_assert_eq(store_errors(g_store), 0);
    cr_assert_eq(script_exists(g_store, g_ping), 1, "reconnect reloaded the scripts");
}

Test(store, kill9_unavailable_then_recovers, .init = fixture_init, .fini = fixture_fini,
     .timeout = TEST_TIMEOUT_S) {
    cr_assert_eq(ping(g_store, "k:kill9", "a", STORE_OK), 1);
    cr_assert_eq(redis_kill9(g_redis), 0, "redis_kill9: %s", redis_last_error());

    const char *argv[2] = {"k:kill9", "b"};
    redisReply *r = NULL;
    char err[ERR_MAX] = "";
    long long t0 = proc_now_ms();
    int rc = store_eval(g_store, g_ping, 1, 2, argv, NULL, &r, err, sizeof err);
    long long elapsed_ms = proc_now_ms() - t0;
    cr_assert_eq(rc, STORE_EUNAVAILABLE, "%s: %s", store_rc_name(rc), err);
    cr_assert_null(r);
    cr_assert(strstr(err, "5 reconnect attempts") != NULL, "err: %s", err);
    /* 5 attempts: sleeps 20+40+80+160 ms between them, connects refused at once */
    cr_assert_geq(elapsed_ms, 250, "backoff too short: %lld ms", elapsed_ms);
    cr_assert_leq(elapsed_ms, 3000, "backoff too long: %lld ms", elapsed_ms);

    cr_assert_eq(redis_restart(g_redis), 0, "redis_restart: %s", redis_last_error());
    cr_assert_eq(ping(g_store, "k:kill9", "c", STORE_OK), 2, "appendfsync always kept the INCR");
    cr_assert_eq(store_reconnects(g_store), 1);
    cr_assert_eq(store_errors(g_store), 1);
}

typedef struct {
    store_t *store;
    int rc;
    long long counter;
    char err[ERR_MAX];
} eval_job_t;

static void *eval_job(void *arg) {
    eval_job_t *job = arg;
    const char *argv[2] = {"k:backoff", "b"};
    redisReply *r = NULL;
    job->rc = store_eval(job->store, g_ping, 1, 2, argv, NULL, &r, job->err, sizeof job->err);
    if (job->rc == STORE_OK && r->type == REDIS_REPLY_ARRAY && r->elements == 3)
        job->counter = r->element[2]->integer;
    if (r != NULL) freeReplyObject(r);
    return NULL;
}

Test(store, reconnects_while_redis_comes_back, .timeout = TEST_TIMEOUT_S, .fini = fixture_fini) {
    start_redis_opts(NULL);
    store_config_t cfg;
    store_cfg_for(&cfg, g_redis);
    cfg.reconnect_attempts_max = 60;
    cfg.reconnect_backoff_ms_initial = 10;
    cfg.reconnect_backoff_ms_max = 100;
    g_store = open_store_cfg(&cfg);
    cr_assert_eq(ping(g_store, "k:backoff", "a", STORE_OK), 1);
    cr_assert_eq(redis_kill9(g_redis), 0, "redis_kill9: %s", redis_last_error());

    /* the store is used by the worker alone until join; the harness stays on
     * this thread (PDEATHSIG follows the spawning thread) */
    eval_job_t job = {.store = g_store, .rc = 99, .counter = -1, .err = ""};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, eval_job, &job), 0);
    proc_sleep_ms(300);
    int restart_rc = redis_restart(g_redis);
    pthread_join(t, NULL);
    cr_assert_eq(restart_rc, 0, "redis_restart: %s", redis_last_error());
    cr_assert_eq(job.rc, STORE_OK, "%s: %s", store_rc_name(job.rc), job.err);
    cr_assert_eq(job.counter, 2);
    cr_assert_eq(store_reconnects(g_store), 1);
}

Test(store, command_timeout_is_unavailable_without_desync, .fini = fixture_fini,
     .timeout = TEST_TIMEOUT_S) {
    const char *extra[] = {"--enable-debug-command", "local", NULL};
    redis_options_t opts = {.dir = NULL, .password = NULL, .extra_args = extra};
    start_redis_opts(&opts);
    store_config_t cfg;
    store_cfg_for(&cfg, g_redis);
    cfg.command_timeout_ms = 300;
    cfg.reconnect_attempts_max = 20;
    g_store = open_store_cfg(&cfg);

    const char *sleep_argv[] = {"DEBUG", "SLEEP", "1"};
    redisReply *r = NULL;
    char err[ERR_MAX] = "";
    long long t0 = proc_now_ms();
    int rc = store_command(g_store, 3, sleep_argv, NULL, &r, err, sizeof err);
    long long elapsed_ms = proc_now_ms() - t0;
    cr_assert_eq(rc, STORE_EUNAVAILABLE, "%s: %s", store_rc_name(rc), err);
    cr_assert_null(r);
    cr_assert(strstr(err, "may have run") != NULL, "err: %s", err);
    cr_assert_leq(elapsed_ms, 900, "the timeout did not fire: %lld ms", elapsed_ms);

    /* the late +OK of DEBUG SLEEP must not be read as this call's reply */
    cr_assert_eq(ping(g_store, "k:timeout", "a", STORE_OK), 1);
    cr_assert_geq(store_reconnects(g_store), 1);
}

/* ---- AUTH ------------------------------------------------------------------ */

Test(store, auth_password, .fini = fixture_fini, .timeout = TEST_TIMEOUT_S) {
    redis_options_t opts = {.dir = NULL, .password = "s3cret-pw", .extra_args = NULL};
    start_redis_opts(&opts);
    store_config_t cfg;
    store_cfg_for(&cfg, g_redis);
    char err[ERR_MAX] = "";

    /* no password: refused clearly */
    cr_assert_null(store_open(&cfg, err, sizeof err));
    cr_assert(strstr(err, "NOAUTH") != NULL, "err: %s", err);

    /* wrong password: refused clearly, and the password is not echoed */
    snprintf(cfg.password, sizeof cfg.password, "%s", "wrong-pw");
    cr_assert_null(store_open(&cfg, err, sizeof err));
    cr_assert(strstr(err, "AUTH") != NULL && strstr(err, "rejected") != NULL, "err: %s", err);
    cr_assert(strstr(err, "wrong-pw") == NULL, "err echoes the password: %s", err);

    /* right password: works, also after a restart (AUTH re-sent) */
    snprintf(cfg.password, sizeof cfg.password, "%s", "s3cret-pw");
    g_store = open_store_cfg(&cfg);
    cr_assert_eq(ping(g_store, "k:auth", "a", STORE_OK), 1);
    cr_assert_eq(redis_restart(g_redis), 0, "redis_restart: %s", redis_last_error());
    cr_assert_eq(ping(g_store, "k:auth", "b", STORE_OK), 2);
    cr_assert_eq(store_reconnects(g_store), 1);
}

Test(store, auth_acl_user, .fini = fixture_fini, .timeout = TEST_TIMEOUT_S) {
    const char *extra[] = {"--user", "gateway", "on", ">gw-pw", "~*", "&*", "+@all", NULL};
    redis_options_t opts = {.dir = NULL, .password = "admin-pw", .extra_args = extra};
    start_redis_opts(&opts);
    store_config_t cfg;
    store_cfg_for(&cfg, g_redis);
    char err[ERR_MAX] = "";
    snprintf(cfg.user, sizeof cfg.user, "%s", "gateway");
    snprintf(cfg.password, sizeof cfg.password, "%s", "admin-pw");
    cr_assert_null(store_open(&cfg, err, sizeof err));
    cr_assert(strstr(err, "as gateway rejected") != NULL && strstr(err, "WRONGPASS") != NULL,
              "err: %s", err);
    snprintf(cfg.password, sizeof cfg.password, "%s", "gw-pw");
    g_store = open_store_cfg(&cfg);
    cr_assert_eq(ping(g_store, "k:acl", "a", STORE_OK), 1);
    const char *whoami[] = {"ACL", "WHOAMI"};
    redisReply *r = command(g_store, 2, whoami);
    cr_assert_str_eq(r->str, "gateway");
    freeReplyObject(r);
}

/* ---- pipelines ------------------------------------------------------------- */

#define PIPE_N 100

static void pipeline_calls(store_call_t *calls, const char *(*argv)[3], char (*text)[24],
                           size_t n, size_t error_at) {
    for (size_t i = 0; i < n; i++) {
        snprintf(text[i], sizeof text[i], "%zu", i);
        argv[i][0] = "k:pipe";
        argv[i][1] = text[i];
        argv[i][2] = "error";
        calls[i] = (store_call_t){.script_index = g_ping, .nkeys = 1,
                                  .argc = i == error_at ? 3 : 2, .argv = argv[i], .argvlen = NULL};
    }
}

Test(store, pipeline_100_calls, .init = fixture_init, .fini = fixture_fini, .timeout = TEST_TIMEOUT_S) {
    static store_call_t calls[PIPE_N];
    static const char *argv[PIPE_N][3];
    static char text[PIPE_N][24];
    static redisReply *replies[PIPE_N];
    char err[ERR_MAX] = "";
    pipeline_calls(calls, argv, text, PIPE_N, PIPE_N);

    int rc = store_pipeline_eval(g_store, PIPE_N, calls, replies, err, sizeof err);
    cr_assert_eq(rc, STORE_OK, "%s: %s", store_rc_name(rc), err);
    for (size_t i = 0; i < PIPE_N; i++) {
        cr_assert_not_null(replies[i]);
        cr_assert_eq(replies[i]->type, REDIS_REPLY_ARRAY);
        cr_assert_str_eq(replies[i]->element[1]->str, text[i]);
        cr_assert_eq(replies[i]->element[2]->integer, (long long)i + 1, "in order");
        freeReplyObject(replies[i]);
    }
    cr_assert_eq(store_calls(g_store), PIPE_N);

    /* after SCRIPT FLUSH: every call NOSCRIPT, reloaded, resent once */
    script_flush(g_store);
    rc = store_pipeline_eval(g_store, PIPE_N, calls, replies, err, sizeof err);
    cr_assert_eq(rc, STORE_OK, "%s: %s", store_rc_name(rc), err);
    for (size_t i = 0; i < PIPE_N; i++) {
        cr_assert_eq(replies[i]->element[2]->integer, PIPE_N + (long long)i + 1);
        freeReplyObject(replies[i]);
    }

    /* one error reply among them: STORE_ESCRIPT, every reply handed over */
    pipeline_calls(calls, argv, text, PIPE_N, 42);
    rc = store_pipeline_eval(g_store, PIPE_N, calls, replies, err, sizeof err);
    cr_assert_eq(rc, STORE_ESCRIPT, "%s: %s", store_rc_name(rc), err);
    cr_assert(strstr(err, "call 42: PINGTEST requested error for 42") != NULL, "err: %s", err);
    for (size_t i = 0; i < PIPE_N; i++) {
        cr_assert_not_null(replies[i]);
        cr_assert_eq(replies[i]->type, i == 42 ? REDIS_REPLY_ERROR : REDIS_REPLY_ARRAY);
        freeReplyObject(replies[i]);
    }
    cr_assert_eq(store_errors(g_store), 1);
    cr_assert_eq(store_reconnects(g_store), 0);
}

Test(store, pipeline_after_restart, .init = fixture_init, .fini = fixture_fini, .timeout = TEST_TIMEOUT_S) {
    static store_call_t calls[PIPE_N];
    static const char *argv[PIPE_N][3];
    static char text[PIPE_N][24];
    static redisReply *replies[PIPE_N];
    char err[ERR_MAX] = "";
    pipeline_calls(calls, argv, text, PIPE_N, PIPE_N);
    cr_assert_eq(redis_restart(g_redis), 0, "redis_restart: %s", redis_last_error());
    int rc = store_pipeline_eval(g_store, PIPE_N, calls, replies, err, sizeof err);
    cr_assert_eq(rc, STORE_OK, "%s: %s", store_rc_name(rc), err);
    for (size_t i = 0; i < PIPE_N; i++) {
        cr_assert_eq(replies[i]->element[2]->integer, (long long)i + 1);
        freeReplyObject(replies[i]);
    }
    cr_assert_eq(store_reconnects(g_store), 1);
}

/* ---- harness ---------------------------------------------------------------- */

Test(harness, flushall_and_stop, .timeout = TEST_TIMEOUT_S) {
    redis_harness_t *h = redis_start(NULL);
    cr_assert_not_null(h, "redis_start: %s", redis_last_error());
    cr_assert_eq(proc_wait_tcp_port(h->host, h->port, 1000), 0);
    redisContext *c = redis_connect(h);
    cr_assert_not_null(c, "%s", redis_last_error());
    redisReply *r = redisCommand(c, "SET k v");
    cr_assert_not_null(r);
    freeReplyObject(r);
    cr_assert_eq(redis_flushall(h), 0, "%s", redis_last_error());
    r = redisCommand(c, "DBSIZE");
    cr_assert_eq(r->integer, 0);
    freeReplyObject(r);
    r = redisCommand(c, "CONFIG GET appendfsync");
    cr_assert_eq(r->elements, 2);
    cr_assert_str_eq(r->element[1]->str, "always");
    freeReplyObject(r);
    redisFree(c);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", h->dir);
    pid_t pid = h->pid;
    cr_assert_eq(redis_stop(h), 0, "%s", redis_last_error());
    cr_assert_not(proc_alive(pid));
    cr_assert_neq(access(dir, F_OK), 0, "temp dir removed");
}
