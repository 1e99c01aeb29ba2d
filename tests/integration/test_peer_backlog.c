/* test_peer_backlog.c - a backlog towards one peer drains, and hides no
 * other peer's legs (issue 15, reproduction 4). Real gateways over mutual
 * TLS, batch_legs_max = 64 on every gateway:
 *
 *   - CN-BJ is frozen while CN-TJ sends it more than ENGINE_RECOVERY_SCAN_MAX
 *     (1000) transfers: they abort, and their ABORT decisions wait for BJ.
 *     Before issue 15, recovery looked at the 1000 oldest unacknowledged legs
 *     only, so an abort to CN-HE (frozen a moment, then back) was never
 *     re-sent while BJ's backlog stood; now each peer and state has a share.
 *   - When BJ is back, recovery re-sends the backlog in chunks of at most
 *     BJ's batch_legs_max (64, from its Hello); before, in chunks of up to
 *     1024, which BJ refused (BATCH_TOO_LARGE) forever.
 * The test ends with every leg settled and acknowledged, 0 violations. */
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
#define THREADS 128 /* each transfer waits out its leg expiry: as many at once as the rounds allow */
#define PER_THREAD 9 /* 128 * 9 = 1152 legs to BJ: more than one recovery scan */

static federation_t *fed;

static void stop_all(void) {
    federation_free(fed);
    fed = NULL;
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

TestSuite(peer_backlog, .fini = stop_all, .timeout = 600);

static grpc_channel *reg(int i) { return rc_registry(fed, i); }

typedef struct {
    int aborted, other;
} sender_t;

/* PER_THREAD transfers of 1 kg from tj-a to BJ, one after the other. */
static void *sender_main(void *arg) {
    sender_t *s = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        char tid[33];
        rc_new_id(tid);
        Carbon__V1__TransferResponse *tr = NULL;
        client_status_t st;
        if (rc_transfer(reg(TJ), tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 1, &tr, &st) ==
                GRPC_STATUS_OK &&
            tr->transfer->outcome == CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_ABORTED)
            s->aborted++;
        else
            s->other++;
        if (tr != NULL) protobuf_c_message_free_unpacked(&tr->base, NULL);
    }
    return NULL;
}

/* Whether CN-TJ's source leg tid is acknowledged by its destination. */
static int tj_acked(const char *tid) {
    redisContext *c = redis_connect(federation_redis(fed, TJ));
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, "HGET %s%s%s acked", STORE_KEY_LEG_PREFIX, tid,
                                 STORE_KEY_LEG_SUFFIX);
    int acked = r != NULL && r->type == REDIS_REPLY_STRING && strcmp(r->str, "1") == 0;
    if (r != NULL) freeReplyObject(r);
    redisFree(c);
    return acked;
}

Test(peer_backlog, drains_in_the_peers_chunks_and_hides_no_other_peer) {
    grpc_lifetime_begin();
    federation_options_t o = {.regions_n = 3, .leg_expiry_ms = 1500, .recovery_interval_ms = 300,
                              .peer_timeout_ms = 500,
                              .extra_ini = "[limits]\nbatch_legs_max = 64\n"};
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
    client_status_t st;
    cr_assert_eq(rc_open(reg(TJ), "tj-a", &st), GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(rc_open(reg(BJ), "bj-b", &st), GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(rc_open(reg(HE), "he-c", &st), GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(rc_issue(reg(TJ), "b0000000000000000000000000000001", "tj-a", "TJ-GT-01",
                          100000000, "backlog-activity", NULL, &st),
                 GRPC_STATUS_OK, "%s", st.details);

    /* the backlog: BJ frozen, 1152 transfers abort and their decisions wait */
    cr_assert_eq(federation_sigstop(fed, BJ), 0);
    long long t0 = proc_now_ms();
    pthread_t th[THREADS];
    sender_t s[THREADS];
    memset(s, 0, sizeof s);
    for (int i = 0; i < THREADS; i++) cr_assert_eq(pthread_create(&th[i], NULL, sender_main, &s[i]), 0);
    int aborted = 0, other = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        aborted += s[i].aborted;
        other += s[i].other;
    }
    fprintf(stderr, "backlog: %d transfers to frozen BJ aborted (%d otherwise) in %lld ms\n",
            aborted, other, proc_now_ms() - t0);
    cr_assert_geq(aborted, 1001, "only %d aborted", aborted);

    /* an abort to HE that HE missed (frozen a moment): recovery must re-send it */
    cr_assert_eq(federation_sigstop(fed, HE), 0);
    char he_tid[33];
    rc_new_id(he_tid);
    Carbon__V1__TransferResponse *tr = NULL;
    cr_assert_eq(rc_transfer(reg(TJ), he_tid, "tj-a", "CN-HE", "he-c", "TJ-GT-01", 1, &tr, &st),
                 GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(tr->transfer->outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_ABORTED);
    protobuf_c_message_free_unpacked(&tr->base, NULL);
    proc_sleep_ms(1500); /* past peer_timeout_ms: the first Decide to HE has failed */
    cr_assert(!tj_acked(he_tid));
    cr_assert_eq(federation_sigcont(fed, HE), 0);
    long long t1 = proc_now_ms();
    while (!tj_acked(he_tid) && proc_now_ms() - t1 < 15000) proc_sleep_ms(100);
    fprintf(stderr, "backlog: HE's abort acknowledged after %lld ms (BJ still frozen)\n",
            proc_now_ms() - t1);
    cr_expect(tj_acked(he_tid), "the abort to HE stayed hidden behind BJ's backlog");

    /* BJ back: the backlog drains in BJ's chunks */
    cr_assert_eq(federation_sigcont(fed, BJ), 0);
    long long t2 = proc_now_ms();
    checker_report_t *rep = rc_wait_settled(fed, 60000);
    cr_assert_not_null(rep);
    uint64_t n = rep->violations_n;
    char first[CHECKER_TEXT_MAX];
    snprintf(first, sizeof first, "%s", rep->violations[0]);
    free(rep);
    fprintf(stderr, "backlog: drained in %lld ms, %llu violations\n", proc_now_ms() - t2,
            (unsigned long long)n);
    cr_assert_eq(n, 0, "checker: %llu violations, first: %s", (unsigned long long)n, first);
}

/* ---- batches bounded in bytes ------------------------------------------------ */

#define FRAG_LEGS 8
#define FRAG_BLOCKS 150

typedef struct {
    int i;
    int committed;
    char reason[64];
} frag_t;

/* Transfers 150 kg of account frag-i (about 80 of its blocks) to BJ. */
static void *frag_main(void *arg) {
    frag_t *f = arg;
    char tid[33], acct[16];
    rc_new_id(tid);
    snprintf(acct, sizeof acct, "frag-%d", f->i);
    Carbon__V1__TransferResponse *tr = NULL;
    client_status_t st;
    if (rc_transfer(reg(TJ), tid, acct, "CN-BJ", "bj-b", "TJ-GT-01", FRAG_BLOCKS, &tr, &st) ==
        GRPC_STATUS_OK) {
        f->committed =
            tr->transfer->outcome == CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED;
        snprintf(f->reason, sizeof f->reason, "%s", tr->transfer->reason);
    } else {
        snprintf(f->reason, sizeof f->reason, "%s", st.reason);
    }
    if (tr != NULL) protobuf_c_message_free_unpacked(&tr->base, NULL);
    return NULL;
}

/* Fragmented legs (about 80 blocks of 1,900 g each) whose batch would exceed the
 * peers' max_message_bytes (16 KiB here; 4 MiB by default, which about 120
 * legs of 1024 blocks exceed): the sender splits the batch by bytes, every
 * transfer commits. Before issue 15 the batch was sent whole, refused by the
 * peer's message limit, and every leg ABORTED as PEER_UNAVAILABLE. */
Test(peer_backlog, fragmented_legs_are_split_by_bytes) {
    grpc_lifetime_begin();
    federation_options_t o = {.regions_n = 2, .leg_expiry_ms = 5000, .batch_window_ms = 300,
                              .max_message_bytes = 16384};
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
    client_status_t st;
    cr_assert_eq(rc_open(reg(BJ), "bj-b", &st), GRPC_STATUS_OK, "%s", st.details);
    for (int i = 0; i < FRAG_LEGS; i++) {
        char acct[16];
        snprintf(acct, sizeof acct, "frag-%d", i);
        cr_assert_eq(rc_open(reg(TJ), acct, &st), GRPC_STATUS_OK, "%s", st.details);
        for (int k = 0; k < FRAG_BLOCKS; k++) { /* one block of 1,900 g per issuance */
            char iid[33], fp[48];
            rc_new_id(iid);
            snprintf(fp, sizeof fp, "frag-%s", iid);
            cr_assert_eq(rc_issue(reg(TJ), iid, acct, "TJ-GT-01", 40000, fp, NULL, &st),
                         GRPC_STATUS_OK, "%s", st.details);
        }
    }
    pthread_t th[FRAG_LEGS];
    frag_t f[FRAG_LEGS];
    memset(f, 0, sizeof f);
    for (int i = 0; i < FRAG_LEGS; i++) {
        f[i].i = i;
        cr_assert_eq(pthread_create(&th[i], NULL, frag_main, &f[i]), 0);
    }
    int committed = 0;
    for (int i = 0; i < FRAG_LEGS; i++) {
        pthread_join(th[i], NULL);
        committed += f[i].committed;
        if (!f[i].committed) fprintf(stderr, "fragmented leg %d: %s\n", i, f[i].reason);
    }
    fprintf(stderr, "fragmented: %d of %d legs of %d blocks committed\n", committed, FRAG_LEGS,
            FRAG_BLOCKS);
    cr_expect_eq(committed, FRAG_LEGS);
    checker_report_t *rep = rc_wait_settled(fed, 30000);
    cr_assert_not_null(rep);
    uint64_t n = rep->violations_n;
    free(rep);
    cr_assert_eq(n, 0);
}
