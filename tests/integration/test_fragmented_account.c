/* test_fragmented_account.c - a hold or a retirement reads only the blocks
 * it takes, not every block of the account (issue 16 item 2, issue 15 item
 * 2). One account at CN-BJ holds 10,000 one-gram blocks, made by 10,000
 * Issue calls through its gateway (25 thousandths of a km by bus at 41 g/km:
 * one gram each). A retirement of one point (10 g: ten blocks; any
 * methodology: the ranges of the account's methodologies merged, here one)
 * and a transfer to CN-HE of ten points (100 g, a credit of Hebei; one
 * methodology: its range of the account's set) each run through the gateway
 * with Redis logging every command in its slow log, the commands the scripts
 * run included. Every command on the account's blocks must then be a
 * ZRANGEBYLEX with a LIMIT (reading at most 2 x n + 4 members in all to
 * take n blocks), a ZREM or a ZADD: nothing
 * reads the whole account (before the sorted sets: HGETALL and a sort of
 * all 10,000 blocks on every take). The blocks taken are the oldest. */
#include "gateway/rpc/grpc_lifetime.h"
#include "tests/support/gateway_harness.h"
#include "tests/support/registry_client.h"

#include "settlement/store_keys.h"

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TJ 0
#define BJ 1
#define HE 2
#define FRAG_BLOCKS 10000
#define FRAG_THREADS 8
#define FRAG_ACCOUNT "bj-frag"
#define FRAG_BLOCKS_KEY STORE_KEY_ACCOUNT_PREFIX FRAG_ACCOUNT STORE_KEY_ACCOUNT_BLOCKS_SUFFIX

static federation_t *fed;

static grpc_channel *reg(int i) { return rc_registry(fed, i); }

static void open_ok(int region, const char *id) {
    client_status_t st;
    cr_assert_eq(rc_open(reg(region), id, &st), GRPC_STATUS_OK, "open %s: %s", id, st.details);
}

/* Issues FRAG_BLOCKS / FRAG_THREADS one-gram blocks; returns NULL or an error. */
static void *issue_ones(void *arg) {
    grpc_channel *ch = arg;
    for (int i = 0; i < FRAG_BLOCKS / FRAG_THREADS; i++) {
        char iid[33], fp[64];
        rc_new_id(iid);
        snprintf(fp, sizeof fp, "frag-%s", iid);
        Carbon__V1__IssueResponse *r = NULL;
        client_status_t st;
        grpc_status_code c = rc_issue(ch, iid, FRAG_ACCOUNT, "BJ-GT-01", 25, fp, &r, &st);
        int one_gram = c == GRPC_STATUS_OK && r != NULL && r->amount != NULL && r->amount->grams == 1;
        if (r != NULL) protobuf_c_message_free_unpacked(&r->base, NULL);
        if (!one_gram) return "an Issue of 25 thousandths of BJ-GT-01 did not give one gram";
    }
    return NULL;
}

static redisContext *bj_redis(void) {
    redisContext *c = redis_connect(federation_redis(fed, BJ));
    cr_assert_not_null(c);
    return c;
}

static void redis_ok(redisContext *c, const char *text) {
    redisReply *r = redisCommand(c, text);
    cr_assert(r != NULL && r->type != REDIS_REPLY_ERROR, "%s: %s", text, r != NULL ? r->str : "");
    freeReplyObject(r);
}

/* The number of blocks of the account, whatever the type of its key. */
static long long blocks_n(redisContext *c) {
    redisReply *t = redisCommand(c, "TYPE " FRAG_BLOCKS_KEY);
    cr_assert(t != NULL && t->type == REDIS_REPLY_STATUS);
    redisReply *r = redisCommand(c, !strcmp(t->str, "hash") ? "HLEN " FRAG_BLOCKS_KEY : "ZCARD " FRAG_BLOCKS_KEY);
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER);
    long long n = r->integer;
    freeReplyObject(r);
    freeReplyObject(t);
    return n;
}

typedef struct {
    int commands;      /* commands on the account's blocks keys */
    long long limit_n; /* members asked for by ZRANGEBYLEX ... LIMIT, summed */
    int removed;       /* ZREM */
    char other[256];   /* the commands that are none of the allowed ones, each once */
} block_reads_t;

/* Reads the slow log (every command logged) for the commands on the
 * account's blocks key. */
static block_reads_t block_reads(redisContext *c) {
    block_reads_t out = {0};
    redisReply *log = redisCommand(c, "SLOWLOG GET 100000");
    cr_assert(log != NULL && log->type == REDIS_REPLY_ARRAY);
    for (size_t i = 0; i < log->elements; i++) {
        redisReply *args = log->element[i]->element[3];
        if (args->elements < 2 || strcmp(args->element[1]->str, FRAG_BLOCKS_KEY) != 0) continue;
        const char *cmd = args->element[0]->str;
        out.commands++;
        if (!strcasecmp(cmd, "ZRANGEBYLEX") && args->elements == 7 &&
            !strcasecmp(args->element[4]->str, "LIMIT") && !strcmp(args->element[5]->str, "0"))
            out.limit_n += atoll(args->element[6]->str);
        else if (!strcasecmp(cmd, "ZREM"))
            out.removed++;
        else if (strcasecmp(cmd, "ZADD") != 0 && strstr(out.other, cmd) == NULL &&
                 strlen(out.other) + strlen(cmd) + 2 < sizeof out.other)
            strcat(strcat(out.other, out.other[0] ? " " : ""), cmd);
    }
    freeReplyObject(log);
    return out;
}

static void check_reads(redisContext *c, long long zrangebylex_before, const char *what, int take_blocks) {
    block_reads_t b = block_reads(c);
    long long now_calls = redis_command_calls(c, "zrangebylex");
    cr_assert(now_calls >= 0 && zrangebylex_before >= 0, "INFO commandstats did not answer");
    long long pages = now_calls - zrangebylex_before;
    cr_assert_str_eq(b.other, "", "%s ran %s on the account's blocks (a ZRANGEBYLEX without a LIMIT reads all)",
                     what, b.other);
    cr_assert(b.commands > 0, "%s ran no command on the account's blocks", what);
    cr_assert(pages >= 1 && pages <= 8, "%s: %lld ZRANGEBYLEX calls", what, pages);
    cr_assert(b.limit_n >= take_blocks && b.limit_n <= 2 * take_blocks + 4,
              "%s read %lld members of ZRANGEBYLEX to take %d blocks", what, b.limit_n, take_blocks);
    /* each block taken leaves the account's one set */
    cr_assert_eq(b.removed, take_blocks, "%s: %d ZREM", what, b.removed);
}

static void stop_all(void) {
    federation_free(fed);
    fed = NULL;
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

static void slowlog_every_command(redisContext *c) {
    redis_ok(c, "CONFIG SET slowlog-max-len 100000");
    redis_ok(c, "CONFIG SET slowlog-log-slower-than 0");
    redis_ok(c, "SLOWLOG RESET");
}

Test(fragmented_account, a_take_reads_only_the_blocks_it_takes, .fini = stop_all, .timeout = 900) {
    grpc_lifetime_begin();
    federation_options_t o = {.regions_n = 3, .leg_expiry_ms = 20000, .recovery_interval_ms = 300};
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
    open_ok(BJ, FRAG_ACCOUNT);
    open_ok(HE, "he-c");
    pthread_t th[FRAG_THREADS];
    for (int i = 0; i < FRAG_THREADS; i++) cr_assert_eq(pthread_create(&th[i], NULL, issue_ones, reg(BJ)), 0);
    for (int i = 0; i < FRAG_THREADS; i++) {
        void *err = NULL;
        pthread_join(th[i], &err);
        cr_assert_null(err, "%s", (const char *)err);
    }
    redisContext *c = bj_redis();
    cr_assert_eq(blocks_n(c), FRAG_BLOCKS);

    /* A retirement of one point, any methodology. */
    slowlog_every_command(c);
    long long before = redis_command_calls(c, "zrangebylex");
    char rid[33];
    rc_new_id(rid);
    client_status_t st;
    Carbon__V1__RetireResponse *rr = NULL;
    cr_assert_eq(rc_retire(reg(BJ), rid, FRAG_ACCOUNT, "", 1, &rr, &st), GRPC_STATUS_OK, "retire: %s", st.details);
    redis_ok(c, "CONFIG SET slowlog-log-slower-than 10000");
    cr_assert_eq(rr->n_blocks, 10);
    for (size_t i = 0; i < rr->n_blocks; i++) /* the oldest: serials 1..10 */
        cr_assert(rr->blocks[i]->serial_start == i + 1 && rr->blocks[i]->serial_end == i + 1,
                  "block %zu: %llu-%llu", i, (unsigned long long)rr->blocks[i]->serial_start,
                  (unsigned long long)rr->blocks[i]->serial_end);
    protobuf_c_message_free_unpacked(&rr->base, NULL);
    check_reads(c, before, "a retirement", 10);

    /* A transfer (its hold, and its commit) of ten points of BJ-GT-01. */
    slowlog_every_command(c);
    before = redis_command_calls(c, "zrangebylex");
    char tid[33];
    rc_new_id(tid);
    Carbon__V1__TransferResponse *tr = NULL;
    cr_assert_eq(rc_transfer(reg(BJ), tid, FRAG_ACCOUNT, "CN-HE", "he-c", "BJ-GT-01", 10, &tr, &st), GRPC_STATUS_OK,
                 "transfer: %s", st.details);
    redis_ok(c, "CONFIG SET slowlog-log-slower-than 10000");
    cr_assert_eq(tr->transfer->outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED, "reason %s",
                 tr->transfer->reason);
    cr_assert_eq(tr->transfer->n_blocks, 100);
    cr_assert_eq(tr->transfer->blocks[0]->serial_start, 11);
    cr_assert_eq(tr->transfer->blocks[99]->serial_end, 110);
    protobuf_c_message_free_unpacked(&tr->base, NULL);
    check_reads(c, before, "a transfer", 100);
    cr_assert_eq(blocks_n(c), FRAG_BLOCKS - 110);
    redisFree(c);

    checker_report_t *rep = rc_wait_settled(fed, 30000);
    cr_assert_not_null(rep);
    cr_assert_eq(rep->violations_n, 0, "checker: %s", rep->violations[0]);
    free(rep);
}
