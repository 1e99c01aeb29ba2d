/* test_audit_replay.c - gwctl audit verify replays a region's log and names
 * every difference with its store (issue 13 item 6): after issuance,
 * transfers committed (one with a recognition discount) and aborted, a
 * retirement, a hold and a pending credit in flight, the replay matches
 * exactly; a block moved between accounts in Redis without an entry, a hold
 * deleted and a pending credit changed are each named. Real federation, real
 * gwctl processes over mutual TLS. */
#include "gateway/rpc/grpc_lifetime.h"
#include "settlement/store_keys.h"
#include "tests/support/gateway_harness.h"
#include "tests/support/proc.h"
#include "tests/support/registry_client.h"

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TJ 0
#define BJ 1
#define HE 2

static federation_t *fed;

static grpc_channel *reg(int i) { return rc_registry(fed, i); }

/* gwctl audit verify --region REGION [--json] as CN-BJ's auditor; exit status,
 * *out its stdout (malloc'd). */
static int verify(const char *region, int json, char **out) {
    char cert[512], key[512], ca[512], targets[256];
    snprintf(cert, sizeof cert, "%s/CN-BJ-auditor.crt", harness_pki_dir());
    snprintf(key, sizeof key, "%s/CN-BJ-auditor.key", harness_pki_dir());
    snprintf(ca, sizeof ca, "%s/ca.crt", harness_pki_dir());
    snprintf(targets, sizeof targets, "CN-TJ=127.0.0.1:%d,CN-BJ=127.0.0.1:%d,CN-HE=127.0.0.1:%d",
             federation_port(fed, TJ), federation_port(fed, BJ), federation_port(fed, HE));
    const char *argv[] = {BINARY_DIR "/gwctl", "audit", "verify", "--region", region, "--targets", targets,
                          "--cert", cert, "--key", key, "--ca", ca, json ? "--json" : NULL, NULL};
    int status = -1;
    char *err = NULL;
    cr_assert_eq(harness_run(argv, 60000, &status, out, &err), 0, "gwctl did not run");
    fprintf(stderr, "gwctl audit verify --region %s: exit %d\n%s%s", region, status, *out, err ? err : "");
    free(err);
    return status;
}

static redisContext *redis_of(int i) {
    redisContext *c = redis_connect(federation_redis(fed, i));
    cr_assert_not_null(c);
    return c;
}

static void transfer(int from_region, const char *from, const char *to_region, int to_index, const char *to,
                     const char *meth, uint64_t units, int committed) {
    char tid[33];
    rc_new_id(tid);
    Carbon__V1__TransferResponse *r = NULL;
    client_status_t st;
    cr_assert_eq(rc_transfer(reg(from_region), tid, from, to_region, to, meth, units, &r, &st), GRPC_STATUS_OK,
                 "%s", st.details);
    cr_assert_eq(r->transfer->outcome == CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED, committed, "%s",
                 r->transfer->reason);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    if (committed) cr_assert_eq(rc_wait_arrival(reg(to_index), tid, 10000), 0, "never arrived");
}

/* CN-TJ dies right after CN-BJ voted yes on transfer `tid` (failpoint), and
 * comes back: with a long leg expiry the hold stays at CN-TJ and the pending
 * credit at CN-BJ while the test runs. */
static void start_with_a_leg_in_flight(char tid[33]) {
    grpc_lifetime_begin();
    setenv("CARBON_FAILPOINT", "CN-TJ:source.after_prepare", 1);
    federation_options_t o = {.regions_n = 3, .leg_expiry_ms = 120000, .recovery_interval_ms = 300};
    fed = federation_start(&o);
    unsetenv("CARBON_FAILPOINT");
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
    client_status_t st;
    const char *accounts[][2] = {{"0", "tj-a"}, {"0", "tj-b"}, {"1", "bj-b"}, {"2", "he-c"}};
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(rc_open(reg(accounts[i][0][0] - '0'), accounts[i][1], &st), GRPC_STATUS_OK, "%s", st.details);
    char iid[33];
    rc_new_id(iid);
    cr_assert_eq(rc_issue(reg(TJ), iid, "tj-a", "TJ-GT-01", 420000, "fp-replay-1", NULL, &st), GRPC_STATUS_OK, "%s",
                 st.details); /* 19950 g */
    rc_new_id(tid);
    Carbon__V1__TransferResponse *r = NULL;
    if (rc_transfer(reg(TJ), tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 2, &r, &st) == GRPC_STATUS_OK)
        protobuf_c_message_free_unpacked(&r->base, NULL);
    for (int i = 0; i < 100 && proc_alive(federation_pid(fed, TJ)); i++) proc_sleep_ms(50);
    cr_assert_eq(federation_restart(fed, TJ), 0, "restart: %s", federation_last_error());
}

static void *concurrent_transfer(void *arg) {
    (void)arg;
    transfer(TJ, "tj-a", "CN-BJ", BJ, "bj-b", "TJ-GT-01", 1, 1);
    return NULL;
}

#define CONCURRENT 6

/* The rest of the history: committed transfers both ways (TJ -> BJ is
 * recognized at 9/10: a discount cancelled at BJ), some at once (batches of
 * several legs: one entry per leg), one aborted (no such account at BJ), a
 * retirement. */
static void history(void) {
    transfer(TJ, "tj-a", "CN-BJ", BJ, "bj-b", "TJ-GT-01", 5, 1);
    pthread_t t[CONCURRENT];
    for (int i = 0; i < CONCURRENT; i++) cr_assert_eq(pthread_create(&t[i], NULL, concurrent_transfer, NULL), 0);
    for (int i = 0; i < CONCURRENT; i++) pthread_join(t[i], NULL);
    redisContext *c = redis_of(TJ);
    redisReply *b = redisCommand(c, "HVALS " STORE_KEY_BATCH_OUT_PREFIX "CN-BJ");
    int multi = 0; /* "count|sum_g|digest|time_ms|TID,..." */
    for (size_t i = 0; b != NULL && b->type == REDIS_REPLY_ARRAY && i < b->elements; i++)
        multi += atoi(b->element[i]->str) > 1;
    fprintf(stderr, "batches of several legs: %d\n", multi);
    freeReplyObject(b);
    redisFree(c);
    transfer(TJ, "tj-a", "CN-HE", HE, "he-c", "TJ-GT-01", 2, 1);
    transfer(HE, "he-c", "CN-TJ", TJ, "tj-b", "TJ-GT-01", 10, 1);
    transfer(TJ, "tj-a", "CN-BJ", BJ, "bj-nobody", "TJ-GT-01", 1, 0);
    char rid[33];
    rc_new_id(rid);
    client_status_t st;
    Carbon__V1__RetireResponse *rr = NULL;
    cr_assert_eq(rc_retire(reg(TJ), rid, "tj-a", "TJ-GT-01", 1, &rr, &st), GRPC_STATUS_OK, "%s", st.details);
    protobuf_c_message_free_unpacked(&rr->base, NULL);
}

/* Moves one block of tj-a to tj-b in CN-TJ's Redis, without an entry.
 * Writes the block's text ("origin|meth|vintage|first|last") into block. */
static void move_a_block(char block[128]) {
    redisContext *c = redis_of(TJ);
    redisReply *all = redisCommand(c, "ZRANGE " STORE_KEY_ACCOUNT_PREFIX "tj-a" STORE_KEY_ACCOUNT_BLOCKS_SUFFIX " 0 0");
    cr_assert(all != NULL && all->type == REDIS_REPLY_ARRAY && all->elements == 1, "tj-a holds no block");
    /* member "METH|VVVV ORIGIN FIRST LAST METH" (store_keys.h) */
    const char *m = all->element[0]->str;
    const char *bar = strchr(m, '|');
    cr_assert_not_null(bar, "%s", m);
    char origin[16], meth[32];
    unsigned vintage;
    unsigned long long first, last;
    cr_assert_eq(sscanf(bar + 1, "%4u %15s %llu %llu %31s", &vintage, origin, &first, &last, meth), 5, "%s", m);
    snprintf(block, 128, "%s|%s|%u|%llu|%llu", origin, meth, vintage, first, last);
    freeReplyObject(redisCommand(c, "ZREM %s %s", STORE_KEY_ACCOUNT_PREFIX "tj-a" STORE_KEY_ACCOUNT_BLOCKS_SUFFIX, m));
    freeReplyObject(redisCommand(c, "ZADD %s 0 %s", STORE_KEY_ACCOUNT_PREFIX "tj-b" STORE_KEY_ACCOUNT_BLOCKS_SUFFIX, m));
    freeReplyObject(all);
    redisFree(c);
}

Test(audit_replay, the_store_is_what_the_log_says_until_redis_is_edited_behind_its_back, .timeout = 300) {
    char in_flight[33];
    start_with_a_leg_in_flight(in_flight);
    history();
    const char *regions[] = {"CN-TJ", "CN-BJ", "CN-HE"};
    char *out = NULL;
    /* The tree, every checkpoint and the replay agree: exit 0. */
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(verify(regions[i], 0, &out), 0, "%s", out);
        cr_assert(strstr(out, "the store holds exactly the ledger they make") != NULL, "%s", out);
        cr_assert(strstr(out, "REPLAY FOUND") == NULL, "%s", out);
        free(out);
    }
    verify("CN-BJ", 1, &out);
    cr_assert(strstr(out, "\"differences_n\": 0") != NULL && strstr(out, "\"replay\"") != NULL, "%s", out);
    free(out);

    /* A block moved from tj-a to tj-b with HDEL/HSET: named on both sides. */
    char block[128];
    move_a_block(block);
    cr_assert_eq(verify("CN-TJ", 0, &out), 1, "%s", out);
    char want[256];
    snprintf(want, sizeof want, "account tj-a block %s: log says present, store says absent", block);
    cr_assert(strstr(out, want) != NULL, "no '%s' in:\n%s", want, out);
    snprintf(want, sizeof want, "account tj-b block %s: log says absent, store says present", block);
    cr_assert(strstr(out, want) != NULL, "no '%s' in:\n%s", want, out);
    free(out);
    cr_assert_eq(verify("CN-TJ", 1, &out), 1, "%s", out);
    cr_assert(strstr(out, "\"differences_n\": 2") != NULL && strstr(out, "\"owner\": \"tj-b\"") != NULL, "%s", out);
    free(out);

    /* The hold of the leg in flight deleted at CN-TJ. */
    redisContext *c = redis_of(TJ);
    freeReplyObject(redisCommand(c, "DEL " STORE_KEY_LEG_PREFIX "%s" STORE_KEY_LEG_SUFFIX, in_flight));
    redisFree(c);
    cr_assert_eq(verify("CN-TJ", 0, &out), 1, "%s", out);
    snprintf(want, sizeof want, "hold %s: log says present", in_flight);
    cr_assert(strstr(out, want) != NULL && strstr(out, "store says absent") != NULL, "no '%s' in:\n%s", want, out);
    free(out);

    /* What no script writes, in an account of CN-HE. */
    c = redis_of(HE);
    freeReplyObject(redisCommand(c, "ZADD " STORE_KEY_ACCOUNT_PREFIX "he-c" STORE_KEY_ACCOUNT_BLOCKS_SUFFIX
                                    " 0 garbage"));
    redisFree(c);
    /* and blocks of an account no script opened */
    c = redis_of(HE);
    freeReplyObject(redisCommand(c, "ZADD " STORE_KEY_ACCOUNT_PREFIX "ghost" STORE_KEY_ACCOUNT_BLOCKS_SUFFIX
                                    " 0 %s", "HE-RC-01|2026 CN-HE 0000000000900000 0000000000900009 HE-RC-01"));
    redisFree(c);
    cr_assert_eq(verify("CN-HE", 0, &out), 1, "%s", out);
    cr_assert(strstr(out, "the store holds a malformed malformed record he-c: account block 'garbage'") !=
                  NULL, "%s", out);
    cr_assert(strstr(out, "account ghost: log says absent, store says present (1 blocks, 10 g)") != NULL, "%s", out);
    free(out);

    /* Its pending credit at CN-BJ changed. */
    c = redis_of(BJ);
    freeReplyObject(redisCommand(c, "HSET " STORE_KEY_LEG_PREFIX "%s" STORE_KEY_LEG_SUFFIX " credited_g 1", in_flight));
    redisFree(c);
    cr_assert_eq(verify("CN-BJ", 0, &out), 1, "%s", out);
    snprintf(want, sizeof want, "pending %s credited_g: log says ", in_flight);
    cr_assert(strstr(out, want) != NULL && strstr(out, "store says 1") != NULL, "no '%s' in:\n%s", want, out);
    free(out);
    federation_free(fed);
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

/* One ReadState call as cert_base; the status, *resp set on OK. */
static grpc_status_code read_state(const char *cert_base, const char *cursor, uint32_t limit,
                                   Carbon__V1__ReadStateResponse **resp, client_status_t *st) {
    Carbon__V1__ReadStateRequest req = CARBON__V1__READ_STATE_REQUEST__INIT;
    req.cursor = (char *)cursor;
    req.limit = limit;
    *resp = NULL;
    return client_call(federation_channel(fed, TJ, cert_base), "/carbon.v1.Audit/ReadState", &req.base,
                       &carbon__v1__read_state_response__descriptor, (ProtobufCMessage **)resp, 10000, st);
}

Test(audit_replay, read_state_pages_agree_and_bad_requests_are_refused_without_a_change, .timeout = 120) {
    grpc_lifetime_begin();
    federation_options_t o = {.regions_n = 1};
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
    client_status_t st;
    enum { ACCOUNTS = 70 };
    for (int i = 0; i < ACCOUNTS; i++) {
        char id[16];
        snprintf(id, sizeof id, "acct-%02d", i);
        cr_assert_eq(rc_open(reg(TJ), id, &st), GRPC_STATUS_OK, "%s", st.details);
    }
    /* Pages of 4 records: every account once (a SCAN repeat aside), one log size. */
    char cursor[256] = "";
    int pages = 0, seen[ACCOUNTS] = {0};
    uint64_t size = 0;
    do {
        Carbon__V1__ReadStateResponse *r = NULL;
        cr_assert_eq(read_state("CN-TJ-auditor", cursor, 4, &r, &st), GRPC_STATUS_OK, "%s", st.details);
        cr_assert_leq(r->n_records, 4);
        cr_assert(pages == 0 || r->log_size == size, "the log size moved without a change");
        size = r->log_size;
        for (size_t k = 0; k < r->n_records; k++) {
            int n = -1;
            cr_assert_str_eq(r->records[k]->kind, "account");
            cr_assert_eq(sscanf(r->records[k]->owner, "acct-%d", &n), 1);
            cr_assert(n >= 0 && n < ACCOUNTS && r->records[k]->n_detail == 3);
            seen[n] = 1;
        }
        snprintf(cursor, sizeof cursor, "%s", r->next_cursor);
        protobuf_c_message_free_unpacked(&r->base, NULL);
        pages++;
    } while (cursor[0] != '\0' && pages < 200);
    cr_assert_eq(cursor[0], '\0', "never done");
    cr_assert_eq(size, ACCOUNTS, "one entry per account opened");
    for (int i = 0; i < ACCOUNTS; i++) cr_assert(seen[i], "acct-%02d missing", i);

    char *before = federation_store_snapshot(fed, TJ);
    const char *bad_cursors[] = {"x:0:", "a:", "a:1", "a:1:2:3", "a:-1:", "a:1:ab ", "a:123456789012345678901:",
                                 "r:0:\n", "a:0:abc", "a:0:AB", "t:0:zz"};
    for (size_t i = 0; i < sizeof bad_cursors / sizeof bad_cursors[0]; i++) {
        Carbon__V1__ReadStateResponse *r = NULL;
        cr_assert_eq(read_state("CN-TJ-auditor", bad_cursors[i], 0, &r, &st), GRPC_STATUS_INVALID_ARGUMENT, "%s",
                     bad_cursors[i]);
        cr_assert_str_eq(st.reason, "BAD_CURSOR");
    }
    Carbon__V1__ReadStateResponse *r = NULL;
    cr_assert_eq(read_state("CN-TJ-auditor", "", 10001, &r, &st), GRPC_STATUS_INVALID_ARGUMENT);
    cr_assert_str_eq(st.reason, "BAD_LIMIT");
    const char *not_auditors[] = {"CN-TJ-registry", "CN-TJ-operator"};
    for (size_t i = 0; i < 2; i++)
        cr_assert_eq(read_state(not_auditors[i], "", 0, &r, &st), GRPC_STATUS_PERMISSION_DENIED, "%s",
                     not_auditors[i]);
    char *after = federation_store_snapshot(fed, TJ);
    cr_assert_str_eq(before, after, "a refused ReadState changed the store");
    free(before);
    free(after);
    /* An account over the page's block limit is named, not sent in pieces. */
    redisContext *c = redis_of(TJ);
    freeReplyObject(redisCommand(c, "EVAL %s 1 %s 20001",
                                 "for i = 1, tonumber(ARGV[1]) do redis.call('ZADD', KEYS[1], 0, "
                                 "string.format('TJ-GT-01|2026 CN-TJ %016d %016d TJ-GT-01', 2 * i, 2 * i)) end",
                                 STORE_KEY_ACCOUNT_PREFIX "acct-07" STORE_KEY_ACCOUNT_BLOCKS_SUFFIX));
    redisFree(c);
    cr_assert_eq(read_state("CN-TJ-auditor", "", 0, &r, &st), GRPC_STATUS_FAILED_PRECONDITION, "%s", st.details);
    cr_assert_str_eq(st.reason, "STATE_TOO_LARGE");
    cr_assert(strstr(st.details, "acct-07") != NULL, "%s", st.details);
    federation_free(fed);
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}
