/* test_hostile_peer.c - a peer that is buggy or compromised (issue 15): a
 * client holding CN-HE's real gateway certificate speaks Federation to
 * CN-TJ's real gateway over mutual TLS and attacks it. Each attack must be
 * refused with its reason, CN-TJ's store must stay within a stated bound,
 * honest transfers must keep settling, and the conservation checker must
 * find 0 violations at the end. Figures (keys, bytes, times) go to stderr.
 *
 * Reproductions of issue 15 (each failed on the code before the fix):
 *   overlap_refused        1: a block overlapping an account's was credited,
 *                             and one with the same start key overwrote it
 *   reused_id_aborts       3: a second source's transfer reusing an id was
 *                             COMMITTED at the source and lost
 *   unknown_decisions_...  5: every Decide ABORT of an unknown id and every
 *                             refused Prepare wrote a permanent record
 *   peer_limits            5: no per-peer limit on legs in flight or rate
 * And (issue 16): a flood of COMMITs for unknown ids reads no leg, and a
 * Decide naming one transfer twice is refused. */
#include "gateway/rpc/grpc_lifetime.h"
#include "tests/support/gateway_harness.h"
#include "tests/support/proc.h"
#include "tests/support/registry_client.h"

#include "carbon/v1/carbon.pb-c.h"
#include "settlement/store_keys.h"

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TJ 0
#define BJ 1
#define HE 2
#define CALL_TIMEOUT_MS 20000
#define SETTLE_TIMEOUT_MS 40000
#define HOSTILE_CERT "CN-HE-gateway"
#define HE_FRESH_SERIAL 1000000000000ull /* far above anything HE issues in a test */

static federation_t *fed;

static void start(const char *extra_ini) {
    grpc_lifetime_begin();
    federation_options_t o = {.regions_n = 3, .leg_expiry_ms = 20000, .recovery_interval_ms = 300,
                              .extra_ini = extra_ini};
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
}

static void stop_all(void) {
    federation_free(fed);
    fed = NULL;
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

TestSuite(hostile_peer, .fini = stop_all, .timeout = 300);

static grpc_channel *reg(int i) { return rc_registry(fed, i); }

/* The attacker: CN-HE's gateway certificate, talking to CN-TJ. */
static grpc_channel *hostile(void) {
    grpc_channel *ch = federation_channel(fed, TJ, HOSTILE_CERT);
    cr_assert_not_null(ch);
    return ch;
}

static void open_ok(int region, const char *id) {
    client_status_t st;
    cr_assert_eq(rc_open(reg(region), id, &st), GRPC_STATUS_OK, "open %s: %s", id, st.details);
}

static void issue_ok(int region, const char *acct, const char *meth, uint64_t milli) {
    char iid[33], fp[64];
    rc_new_id(iid);
    snprintf(fp, sizeof fp, "hostile-%s", iid);
    client_status_t st;
    cr_assert_eq(rc_issue(reg(region), iid, acct, meth, milli, fp, NULL, &st), GRPC_STATUS_OK,
                 "issue: %s", st.details);
}

/* ---- CN-TJ's store ---------------------------------------------------------- */

static long long redis_int(int region, const char *fmt, const char *arg) {
    redisContext *c = redis_connect(federation_redis(fed, region));
    cr_assert_not_null(c);
    redisReply *r = arg != NULL ? redisCommand(c, fmt, arg) : redisCommand(c, fmt);
    cr_assert_not_null(r);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer
                  : r->type == REDIS_REPLY_STRING ? atoll(r->str)
                                                   : 0;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

static long long tj_keys(void) { return redis_int(TJ, "DBSIZE", NULL); }
static long long tj_log_size(void) { return redis_int(TJ, "GET %s", STORE_KEY_LOG_SIZE); }

/* The number after "field" in CN-TJ's INFO section, or -1 if absent. */
static long long tj_info(const char *section, const char *field) {
    redisContext *c = redis_connect(federation_redis(fed, TJ));
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, "INFO %s", section);
    cr_assert_not_null(r);
    const char *p = strstr(r->str, field);
    long long v = p != NULL ? atoll(p + strlen(field)) : -1;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

/* used_memory of CN-TJ's Redis, in bytes. */
static long long tj_memory_bytes(void) { return tj_info("memory", "used_memory:"); }

/* HGETALL calls CN-TJ's Redis has served (0 before the first). */
static long long tj_hgetall_calls(void) {
    redisContext *c = redis_connect(federation_redis(fed, TJ));
    cr_assert_not_null(c);
    long long v = redis_command_calls(c, "hgetall");
    redisFree(c);
    return v < 0 ? 0 : v;
}

/* Transfer records (STORE_KEY_LEG_PREFIX) of CN-TJ's store without an expiry: what
 * peers' messages can make a region keep. (Other keys come and go with the
 * gateways' own timers: checkpoints, leases.) */
static long long tj_lasting_keys(void) {
    redisContext *c = redis_connect(federation_redis(fed, TJ));
    cr_assert_not_null(c);
    long long n = 0;
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s* COUNT 1000", cursor, STORE_KEY_LEG_PREFIX);
        cr_assert_not_null(r);
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            redisReply *t = redisCommand(c, "PTTL %s", r->element[1]->element[i]->str);
            if (t->integer == -1) n++;
            freeReplyObject(t);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    redisFree(c);
    return n;
}

/* ---- legs the attacker sends ---------------------------------------------- */

static struct {
    char src_digest[65], dst_digest[65];
} cat;

/* HE's and TJ's catalog digests, from a quote at HE. */
static void read_digests(void) {
    Carbon__V1__QuoteResponse *q = NULL;
    client_status_t st;
    cr_assert_eq(rc_quote(reg(HE), "he-c", "CN-TJ", "HE-GT-01", 1000, &q, &st), GRPC_STATUS_OK,
                 "quote: %s", st.details);
    snprintf(cat.src_digest, sizeof cat.src_digest, "%s", q->quote->source_catalog_digest);
    snprintf(cat.dst_digest, sizeof cat.dst_digest, "%s", q->quote->destination_catalog_digest);
    protobuf_c_message_free_unpacked(&q->base, NULL);
}

typedef struct {
    const char *origin, *meth;
    uint64_t first, last;
} blk_t;

/* One leg of n blocks (at most 4) to CN-TJ/to: home TJ-GT-01 blocks at ratio
 * 1, HE-GT-01 at 9/10 (10 kg debited credit 9 kg). Storage in l. */
typedef struct {
    Carbon__V1__Leg leg;
    Carbon__V1__CreditBlock b[4];
    Carbon__V1__CreditBlock *bp[4];
    char tid[33], to[40];
} leg_buf_t;

static void leg_make(leg_buf_t *l, const char *tid, const char *to, const blk_t *blocks, size_t n) {
    cr_assert(n >= 1 && n <= 4);
    carbon__v1__leg__init(&l->leg);
    snprintf(l->tid, sizeof l->tid, "%.32s", tid);
    snprintf(l->to, sizeof l->to, "CN-TJ/%s", to);
    uint64_t g = 0;
    for (size_t i = 0; i < n; i++) {
        carbon__v1__credit_block__init(&l->b[i]);
        l->b[i].origin_region = (char *)blocks[i].origin;
        l->b[i].methodology_id = (char *)blocks[i].meth;
        l->b[i].vintage_year = 2026;
        l->b[i].serial_start = blocks[i].first;
        l->b[i].serial_end = blocks[i].last;
        l->bp[i] = &l->b[i];
        g += blocks[i].last - blocks[i].first + 1;
    }
    int home = strcmp(blocks[0].origin, "CN-TJ") == 0;
    l->leg.transfer_id = l->tid;
    l->leg.from_account = "CN-HE/he-c";
    l->leg.to_account = l->to;
    l->leg.n_blocks = n;
    l->leg.blocks = l->bp;
    l->leg.credited_g = home ? g : g / 10 * 9 / 1000 * 1000;
    l->leg.discount_g = g - l->leg.credited_g;
    l->leg.destination_methodology_id = "TJ-GT-01";
    l->leg.source_catalog_digest = cat.src_digest;
    l->leg.destination_catalog_digest = cat.dst_digest;
    l->leg.expiry_unix_ms = (uint64_t)time(NULL) * 1000 + 15000;
}

/* Sends a Prepare of n legs from "CN-HE"; returns the status; votes[i] is
 * "Y" or the reason of a NO vote (caller's room, n entries of 32). */
static grpc_status_code prepare(leg_buf_t *legs, size_t n, char (*votes)[32], client_status_t *st) {
    Carbon__V1__Leg *lp[300];
    cr_assert(n <= 300);
    for (size_t i = 0; i < n; i++) lp[i] = &legs[i].leg;
    Carbon__V1__PrepareRequest m = CARBON__V1__PREPARE_REQUEST__INIT;
    m.source_region = "CN-HE";
    static uint64_t seq = 5000;
    m.batch_seq = ++seq;
    m.n_legs = n;
    m.legs = lp;
    ProtobufCMessage *resp = NULL;
    client_call(hostile(), "/carbon.v1.Federation/Prepare", &m.base,
                &carbon__v1__prepare_response__descriptor, &resp, CALL_TIMEOUT_MS, st);
    if (st->code == GRPC_STATUS_OK) {
        Carbon__V1__PrepareResponse *r = (Carbon__V1__PrepareResponse *)resp;
        cr_assert_eq(r->n_votes, n);
        for (size_t i = 0; i < n; i++)
            snprintf(votes[i], 32, "%s",
                     r->votes[i]->vote == CARBON__V1__VOTE__VOTE_YES ? "Y" : r->votes[i]->reason);
    }
    if (resp != NULL) protobuf_c_message_free_unpacked(resp, NULL);
    return st->code;
}

/* Sends a Decide from "CN-HE" for n ids, all COMMIT or all ABORT. */
static grpc_status_code decide(char (*tids)[33], size_t n, int commit, client_status_t *st) {
    Carbon__V1__LegDecision d[256];
    Carbon__V1__LegDecision *dp[256];
    cr_assert(n >= 1 && n <= 256);
    for (size_t i = 0; i < n; i++) {
        carbon__v1__leg_decision__init(&d[i]);
        d[i].transfer_id = tids[i];
        d[i].decision = commit ? CARBON__V1__DECISION__DECISION_COMMIT
                               : CARBON__V1__DECISION__DECISION_ABORT;
        dp[i] = &d[i];
    }
    Carbon__V1__DecideRequest m = CARBON__V1__DECIDE_REQUEST__INIT;
    m.source_region = "CN-HE";
    m.batch_seq = 1;
    m.n_decisions = n;
    m.decisions = dp;
    ProtobufCMessage *resp = NULL;
    client_call(hostile(), "/carbon.v1.Federation/Decide", &m.base,
                &carbon__v1__decide_response__descriptor, &resp, CALL_TIMEOUT_MS, st);
    if (resp != NULL) protobuf_c_message_free_unpacked(resp, NULL);
    return st->code;
}

static void decide_one(const char *tid, int commit) {
    char t[1][33];
    snprintf(t[0], sizeof t[0], "%.32s", tid);
    client_status_t st;
    cr_assert_eq(decide(t, 1, commit, &st), GRPC_STATUS_OK, "decide: %s", st.details);
}

/* The first block of an account (its lowest serial), from GetAccount. */
static void first_block(int region, const char *acct, uint64_t *first, uint64_t *last) {
    Carbon__V1__GetAccountResponse *a = NULL;
    client_status_t st;
    cr_assert_eq(rc_account(reg(region), acct, &a, &st), GRPC_STATUS_OK, "account: %s", st.details);
    cr_assert(a->n_blocks >= 1);
    *first = a->blocks[0]->serial_start;
    *last = a->blocks[0]->serial_end;
    protobuf_c_message_free_unpacked(&a->base, NULL);
}

static void checker_clean(void) {
    checker_report_t *rep = rc_wait_settled(fed, SETTLE_TIMEOUT_MS);
    cr_assert_not_null(rep);
    uint64_t n = rep->violations_n;
    char first[CHECKER_TEXT_MAX];
    snprintf(first, sizeof first, "%s", rep->violations[0]);
    free(rep);
    cr_assert_eq(n, 0, "checker: %" PRIu64 " violations, first: %s", n, first);
}

static void setup_accounts(void) {
    open_ok(TJ, "tj-a");
    open_ok(TJ, "tj-b");
    open_ok(BJ, "bj-b");
    open_ok(HE, "he-c");
    issue_ok(TJ, "tj-a", "TJ-GT-01", 420000); /* 19,950 g at 47.5 g/km */
    issue_ok(HE, "he-c", "HE-GT-01", 2000000);
    issue_ok(BJ, "bj-b", "BJ-GT-01", 2000000);
    read_digests();
}

/* Repro 1 (the parts that need no origin map): blocks overlapping what
 * Tianjin holds, or Tianjin serials it never issued, are refused; nothing is
 * overwritten; a replay gets the same votes and changes nothing. */
Test(hostile_peer, overlap_refused) {
    start(NULL);
    setup_accounts();
    uint64_t a_first, a_last;
    first_block(TJ, "tj-a", &a_first, &a_last);
    uint64_t a_total = rc_total_g(reg(TJ), "tj-a");
    cr_assert(a_last - a_first + 1 >= 1000 && a_total == a_last - a_first + 1);
    /* an honest HE -> TJ transfer puts HE serials at tj-b */
    char honest[33];
    rc_new_id(honest);
    Carbon__V1__TransferResponse *tr = NULL;
    client_status_t st;
    cr_assert_eq(rc_transfer(reg(HE), honest, "he-c", "CN-TJ", "tj-b", "HE-GT-01", 100, &tr, &st),
                 GRPC_STATUS_OK, "transfer: %s", st.details);
    cr_assert_eq(tr->transfer->outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED);
    uint64_t he_first = tr->transfer->blocks[0]->serial_start;
    protobuf_c_message_free_unpacked(&tr->base, NULL);
    cr_assert_eq(rc_wait_arrival(reg(TJ), honest, 10000), 0);
    uint64_t b_total = rc_total_g(reg(TJ), "tj-b");

    leg_buf_t l[5];
    char ids[5][33];
    for (int i = 0; i < 5; i++) rc_new_id(ids[i]);
    /* same start key as tj-a's block (the overwrite), inside it, never issued, HE serials
     * at tj-b, two blocks of one leg overlapping each other */
    blk_t same[] = {{"CN-TJ", "TJ-GT-01", a_first, a_first + 999}};
    blk_t inside[] = {{"CN-TJ", "TJ-GT-01", a_first + 1000, a_first + 1999}};
    blk_t unissued[] = {{"CN-TJ", "TJ-GT-01", a_last + 1000000, a_last + 1000999}};
    blk_t he_dup[] = {{"CN-HE", "HE-GT-01", he_first + 5, he_first + 10004}};
    blk_t self[] = {{"CN-HE", "HE-GT-01", HE_FRESH_SERIAL, HE_FRESH_SERIAL + 4999},
                    {"CN-HE", "HE-GT-01", HE_FRESH_SERIAL + 4000, HE_FRESH_SERIAL + 8999}};
    leg_make(&l[0], ids[0], "tj-a", same, 1);
    leg_make(&l[1], ids[1], "tj-b", inside, 1);
    leg_make(&l[2], ids[2], "tj-b", unissued, 1);
    leg_make(&l[3], ids[3], "tj-a", he_dup, 1);
    leg_make(&l[4], ids[4], "tj-a", self, 2);
    long long keys0 = tj_keys(), log0 = tj_log_size(), lasting0 = tj_lasting_keys();
    char votes[5][32];
    const char *want[5] = {"SERIALS_OVERLAP", "SERIALS_OVERLAP", "SERIALS_NOT_ISSUED",
                           "SERIALS_OVERLAP", "SERIALS_OVERLAP"};
    for (int round = 0; round < 2; round++) { /* round 1: the same request replayed */
        cr_assert_eq(prepare(l, 5, votes, &st), GRPC_STATUS_OK, "prepare: %s", st.details);
        for (int i = 0; i < 5; i++)
            cr_expect_str_eq(votes[i], want[i], "round %d leg %d voted %s, want NO %s", round, i,
                             votes[i], want[i]);
        for (int i = 0; i < 5; i++) decide_one(ids[i], 1); /* and the attacker commits anyway */
    }
    cr_expect_eq(rc_total_g(reg(TJ), "tj-a"), a_total, "tj-a's credits changed");
    cr_expect_eq(rc_total_g(reg(TJ), "tj-b"), b_total, "tj-b's credits changed");
    uint64_t f2, l2;
    first_block(TJ, "tj-a", &f2, &l2);
    cr_expect(f2 == a_first && l2 == a_last, "tj-a's block is now %" PRIu64 "-%" PRIu64, f2, l2);
    cr_expect_eq(tj_log_size(), log0, "refusals wrote %lld audit entries", tj_log_size() - log0);
    cr_expect_eq(tj_lasting_keys(), lasting0, "refusals left %lld lasting keys",
                 tj_lasting_keys() - lasting0);
    fprintf(stderr, "overlap_refused: %lld keys before, %lld after (refusal records expire)\n",
            keys0, tj_keys());
    checker_clean();
}

/* Repro 3: after HE -> TJ with id X, BJ -> TJ with the same X must not be
 * answered COMMITTED: TJ votes no (ID_REUSED), BJ aborts, nothing is lost. */
Test(hostile_peer, reused_id_aborts) {
    start(NULL);
    setup_accounts();
    char x[33];
    rc_new_id(x);
    Carbon__V1__TransferResponse *tr = NULL;
    client_status_t st;
    cr_assert_eq(rc_transfer(reg(HE), x, "he-c", "CN-TJ", "tj-b", "HE-GT-01", 100, &tr, &st),
                 GRPC_STATUS_OK, "transfer: %s", st.details);
    cr_assert_eq(tr->transfer->outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED);
    protobuf_c_message_free_unpacked(&tr->base, NULL);
    cr_assert_eq(rc_wait_arrival(reg(TJ), x, 10000), 0);
    uint64_t bj0 = rc_total_g(reg(BJ), "bj-b"), tj0 = rc_total_g(reg(TJ), "tj-a");
    cr_assert_eq(rc_transfer(reg(BJ), x, "bj-b", "CN-TJ", "tj-a", "BJ-GT-01", 2000, &tr, &st),
                 GRPC_STATUS_OK, "transfer: %s", st.details);
    cr_expect_eq(tr->transfer->outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_ABORTED,
                 "BJ -> TJ reusing HE's id: outcome %d", tr->transfer->outcome);
    cr_expect_str_eq(tr->transfer->reason, "ID_REUSED");
    protobuf_c_message_free_unpacked(&tr->base, NULL);
    cr_expect_eq(rc_total_g(reg(BJ), "bj-b"), bj0, "BJ was debited");
    cr_expect_eq(rc_total_g(reg(TJ), "tj-a"), tj0, "TJ credited");
    /* the same id from HE again with other content: no, and nothing changes */
    leg_buf_t l;
    blk_t other[] = {{"CN-HE", "HE-GT-01", HE_FRESH_SERIAL, HE_FRESH_SERIAL + 9999}};
    leg_make(&l, x, "tj-a", other, 1);
    char votes[1][32];
    cr_assert_eq(prepare(&l, 1, votes, &st), GRPC_STATUS_OK, "prepare: %s", st.details);
    cr_expect_str_eq(votes[0], "ID_REUSED");
    checker_clean();
}

/* A leg prepared once and then replayed in Prepares of ever new batch
 * numbers gets its yes again, and no batch record: before, each replay
 * left one more (STORE_KEY_BATCH_IN_PREFIX CN-HE), without bound. */
Test(hostile_peer, a_replayed_prepare_records_no_new_batch) {
    start(NULL);
    setup_accounts();
    leg_buf_t l;
    char tid[33], votes[1][32];
    rc_new_id(tid);
    blk_t fresh[] = {{"CN-HE", "HE-GT-01", HE_FRESH_SERIAL, HE_FRESH_SERIAL + 9999}};
    leg_make(&l, tid, "tj-a", fresh, 1);
    client_status_t st;
    cr_assert_eq(prepare(&l, 1, votes, &st), GRPC_STATUS_OK, "prepare: %s", st.details);
    cr_assert_str_eq(votes[0], "Y");
    long long batches = redis_int(TJ, "HLEN %s", STORE_KEY_BATCH_IN_PREFIX "CN-HE");
    cr_assert_eq(batches, 1);
    long long log_size = tj_log_size();
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(prepare(&l, 1, votes, &st), GRPC_STATUS_OK, "replay %d: %s", i, st.details);
        cr_assert_str_eq(votes[0], "Y", "replay %d", i);
    }
    cr_expect_eq(redis_int(TJ, "HLEN %s", STORE_KEY_BATCH_IN_PREFIX "CN-HE"), batches, "replays recorded batches");
    cr_expect_eq(tj_log_size(), log_size, "replays were audited");
    decide_one(tid, 0);
    checker_clean();
}

/* ---- floods ------------------------------------------------------------------ */

static long long now_ms(void) { return proc_now_ms(); }

/* n honest BJ -> TJ transfers of 2,000 g, one after the other; returns the
 * mean time of one, in ms. */
static long long honest_transfers_ms(int n) {
    long long t0 = now_ms();
    for (int i = 0; i < n; i++) {
        char tid[33];
        rc_new_id(tid);
        Carbon__V1__TransferResponse *tr = NULL;
        client_status_t st;
        cr_assert_eq(rc_transfer(reg(BJ), tid, "bj-b", "CN-TJ", "tj-a", "BJ-GT-01", 200, &tr, &st),
                     GRPC_STATUS_OK, "honest transfer: %s", st.details);
        cr_assert_eq(tr->transfer->outcome,
                     CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED,
                     "honest transfer %d: %s", i, tr->transfer->reason);
        protobuf_c_message_free_unpacked(&tr->base, NULL);
    }
    return (now_ms() - t0) / n;
}

#define FLOOD_DECISIONS 100000
#define FLOOD_REFUSED 2000

typedef struct {
    long long decide_calls, decide_refused, prepare_calls, elapsed_ms;
    int decisions_sent;
} flood_t;

/* The attacker: FLOOD_DECISIONS decisions (ABORT and COMMIT) for ids TJ never
 * saw, in batches of 256, and FLOOD_REFUSED legs TJ refuses (to an unknown
 * account), in batches of 100; calls refused for the rate are sent again. */
static void *flood_main(void *arg) {
    flood_t *f = arg;
    long long t0 = now_ms();
    static char ids[256][33];
    while (f->decisions_sent < FLOOD_DECISIONS) {
        int sent = f->decisions_sent;
        size_t n = FLOOD_DECISIONS - sent < 256 ? (size_t)(FLOOD_DECISIONS - sent) : 256;
        for (size_t i = 0; i < n; i++) rc_new_id(ids[i]);
        client_status_t st;
        f->decide_calls++;
        if (decide(ids, n, (sent / 256) % 2, &st) == GRPC_STATUS_OK)
            f->decisions_sent += (int)n;
        else if (st.code == GRPC_STATUS_RESOURCE_EXHAUSTED)
            f->decide_refused++;
        else
            break;
    }
    static leg_buf_t l[100];
    blk_t b[] = {{"CN-HE", "HE-GT-01", HE_FRESH_SERIAL, HE_FRESH_SERIAL + 9999}};
    for (int sent = 0; sent < FLOOD_REFUSED;) {
        for (int i = 0; i < 100; i++) {
            char tid[33];
            rc_new_id(tid);
            leg_make(&l[i], tid, "nobody", b, 1);
        }
        char votes[100][32];
        client_status_t st;
        f->prepare_calls++;
        if (prepare(l, 100, votes, &st) == GRPC_STATUS_OK) sent += 100;
        else if (st.code != GRPC_STATUS_RESOURCE_EXHAUSTED) break;
    }
    f->elapsed_ms = now_ms() - t0;
    return NULL;
}

/* Repro 5: decisions for unknown ids and refused Prepares leave nothing
 * lasting (the store stays within a bound), and honest transfers keep
 * settling meanwhile. */
Test(hostile_peer, unknown_decisions_leave_nothing) {
    start(NULL);
    setup_accounts();
    long long alone_ms = honest_transfers_ms(10);
    long long keys0 = tj_lasting_keys(), log0 = tj_log_size(), mem0 = tj_memory_bytes();
    long long reads0 = tj_hgetall_calls();
    flood_t f = {0};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, flood_main, &f), 0);
    long long during_ms = honest_transfers_ms(10);
    pthread_join(th, NULL);
    long long keys1 = tj_lasting_keys(), log1 = tj_log_size(), mem1 = tj_memory_bytes();
    long long reads1 = tj_hgetall_calls();
    fprintf(stderr,
            "unknown_decisions: %d decisions in %lld calls (%lld refused for rate) and %d refused "
            "legs in %lld calls, %lld ms; TJ lasting keys %lld -> %lld (10 honest legs), log "
            "%lld -> %lld, used_memory %lld -> %lld bytes, HGETALL calls %lld; honest transfer "
            "%lld ms alone, %lld ms during the flood\n",
            FLOOD_DECISIONS, f.decide_calls, f.decide_refused, FLOOD_REFUSED, f.prepare_calls,
            f.elapsed_ms, keys0, keys1, log0, log1, mem0, mem1, reads1 - reads0, alone_ms, during_ms);
    cr_assert_eq(f.decisions_sent, FLOOD_DECISIONS, "the flood stopped after %d decisions", f.decisions_sent);
    cr_expect_eq(keys1, keys0 + 10, "the flood left %lld lasting keys", keys1 - keys0 - 10);
    cr_expect_leq(log1 - log0, 10 * 3, "the flood wrote %lld audit entries", log1 - log0);
    /* a COMMIT of an unknown id costs the Decide's one script, no read of
     * its own (before: one HGETALL each, 50,000 here); the honest legs and
     * the gateway's own passes read a few */
    cr_expect_lt(reads1 - reads0, 1000, "the flood's COMMITs took %lld leg reads", reads1 - reads0);
    checker_clean();
}

/* The state of CN-TJ's record of transfer tid, "" if none (at most 31 chars). */
static void tj_leg_field(const char *tid, const char *field, char out[32]) {
    redisContext *c = redis_connect(federation_redis(fed, TJ));
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, "HGET " STORE_KEY_LEG_PREFIX "%s" STORE_KEY_LEG_SUFFIX " %s", tid, field);
    cr_assert_not_null(r);
    snprintf(out, 32, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
    redisFree(c);
}

static void tj_leg_state(const char *tid, char out[32]) { tj_leg_field(tid, "state", out); }

/* A Decide naming one transfer twice is refused whole, as a Prepare that
 * does (INVALID_ARGUMENT, MALFORMED_DECISION), and changes nothing: the
 * store would otherwise apply the decisions in an order the source did
 * not choose (engine_dest_decide applies those waiting for an origin's
 * word last). Fails on the code before it (the Decide was applied). */
Test(hostile_peer, a_decide_naming_a_transfer_twice_is_refused) {
    start(NULL);
    setup_accounts();
    leg_buf_t l[1];
    char ids[3][33];
    for (int i = 0; i < 3; i++) rc_new_id(ids[i]);
    memcpy(ids[2], ids[0], sizeof ids[2]);
    blk_t fresh[] = {{"CN-HE", "HE-GT-01", HE_FRESH_SERIAL, HE_FRESH_SERIAL + 9999}};
    leg_make(&l[0], ids[0], "tj-a", fresh, 1);
    char votes[1][32], state[32];
    client_status_t st;
    cr_assert_eq(prepare(l, 1, votes, &st), GRPC_STATUS_OK, "prepare: %s", st.details);
    cr_assert_str_eq(votes[0], "Y");
    long long log0 = tj_log_size();
    cr_assert_eq(decide(ids, 3, 0, &st), GRPC_STATUS_INVALID_ARGUMENT, "%s", st.details);
    cr_assert_str_eq(st.reason, "MALFORMED_DECISION", "%s", st.details);
    cr_assert_not_null(strstr(st.details, "decision 2 names a transfer already in the Decide"), "%s",
                       st.details);
    tj_leg_state(ids[0], state);
    cr_assert_str_eq(state, "PREPARED", "the refused Decide changed the leg");
    cr_assert_eq(tj_log_size(), log0, "the refused Decide wrote %lld audit entries", tj_log_size() - log0);
    decide_one(ids[0], 0); /* the same decision once: applied */
    tj_leg_state(ids[0], state);
    cr_assert_str_eq(state, "ABORTED");
    checker_clean();
}

/* HE prepares at TJ a leg of BJ serials HE does not hold, covering every
 * serial BJ issued: TJ asks BJ, their origin, before it votes, and votes
 * no (SERIALS_NOT_AT_SOURCE) without claiming them in its serial index; a
 * leg of serials BJ never issued likewise. BJ's own transfer of its serials
 * to TJ then settles. (Before, TJ voted yes and claimed the range, and
 * refused every honest transfer of those serials, SERIALS_OVERLAP, until
 * an operator stepped in: one Prepare of a hostile peer blocked a third
 * region's credits.) */
Test(hostile_peer, a_third_regions_serials_the_source_does_not_hold_are_not_claimed) {
    start(NULL);
    setup_accounts();
    const char *index_key = STORE_KEY_SERIALS_PREFIX "CN-BJ";
    long long index0 = redis_int(TJ, "ZCARD %s", index_key);
    static const uint64_t ranges[][2] = {{1, 1000000000ull}, {HE_FRESH_SERIAL, HE_FRESH_SERIAL + 999}};
    for (size_t i = 0; i < 2; i++) {
        leg_buf_t l[1];
        char tid[33], votes[1][32];
        rc_new_id(tid);
        blk_t b[] = {{"CN-BJ", "BJ-GT-01", ranges[i][0], ranges[i][1]}};
        leg_make(&l[0], tid, "tj-b", b, 1);
        l[0].leg.credited_g = ranges[i][1] - ranges[i][0] + 1;
        l[0].leg.discount_g = 0;
        client_status_t st;
        cr_assert_eq(prepare(l, 1, votes, &st), GRPC_STATUS_OK, "prepare: %s", st.details);
        cr_assert_str_eq(votes[0], "SERIALS_NOT_AT_SOURCE", "range %zu", i);
        cr_assert_eq(redis_int(TJ, "ZCARD %s", index_key), index0, "TJ claimed BJ serials for HE");
        char state[32];
        tj_leg_state(tid, state);
        cr_assert_str_neq(state, "PREPARED", "TJ recorded the refused leg as prepared");
    }
    char tid[33];
    rc_new_id(tid);
    client_status_t st;
    Carbon__V1__TransferResponse *r = NULL;
    cr_assert_eq(rc_transfer(reg(BJ), tid, "bj-b", "CN-TJ", "tj-b", "BJ-GT-01", 500, &r, &st), GRPC_STATUS_OK,
                 "%s", st.details);
    cr_assert_eq(r->transfer->outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED, "%s %s",
                 r->transfer->reason, st.details);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    checker_clean();
}

/* HE sends TJ Prepares of BJ serials as fast as its own rate allows: TJ
 * asks BJ, their origin, on HE's behalf at most a quarter of
 * peer_requests_per_s times a second (10 here); the legs beyond are voted
 * no without asking (PEER_UNAVAILABLE), so HE cannot spend TJ's budget at
 * BJ (or tie up TJ's workers on calls to BJ). Nothing is claimed. */
Test(hostile_peer, origin_asks_on_a_sources_behalf_are_limited) {
    start("[limits]\npeer_requests_per_s = 40\n");
    setup_accounts();
    proc_sleep_ms(1100); /* HE's buckets full again */
    const char *index_key = STORE_KEY_SERIALS_PREFIX "CN-BJ";
    long long index0 = redis_int(TJ, "ZCARD %s", index_key);
    int asked = 0, unasked = 0, other = 0;
    long long t0 = proc_now_ms();
    for (int i = 0; i < 30; i++) {
        leg_buf_t l[1];
        char tid[33], votes[1][32];
        rc_new_id(tid);
        blk_t b[] = {{"CN-BJ", "BJ-GT-01", HE_FRESH_SERIAL + (uint64_t)i * 1000, HE_FRESH_SERIAL + (uint64_t)i * 1000 + 999}};
        leg_make(&l[0], tid, "tj-b", b, 1);
        l[0].leg.credited_g = 1000;
        l[0].leg.discount_g = 0;
        client_status_t st;
        cr_assert_eq(prepare(l, 1, votes, &st), GRPC_STATUS_OK, "prepare %d: %s", i, st.details);
        if (strcmp(votes[0], "SERIALS_NOT_AT_SOURCE") == 0) asked++;
        else if (strcmp(votes[0], "PEER_UNAVAILABLE") == 0) unasked++;
        else other++;
    }
    long long took_ms = proc_now_ms() - t0;
    fprintf(stderr, "origin asks: 30 Prepares in %lld ms: %d asked BJ, %d voted no unasked, %d other\n", took_ms,
            asked, unasked, other);
    cr_assert_eq(other, 0);
    long long allowed = 10 + 10 * took_ms / 1000 + 1;
    cr_expect_leq(asked, allowed, "%d asks of BJ in %lld ms, at most %lld allowed", asked, took_ms, allowed);
    cr_expect(unasked > 0 || took_ms >= 1500, "all 30 asked BJ in %lld ms", took_ms);
    cr_assert_eq(redis_int(TJ, "ZCARD %s", index_key), index0, "TJ claimed BJ serials for HE");
    cr_expect_geq(federation_log_count(fed, TJ, "\"origin_asks_limited\""), 1);
}

/* One call of method (Hello, FetchBatches or AddCheckpoint) from HE to TJ,
 * well formed enough to reach its handler; st gets its status. */
static void federation_call_once(const char *method, client_status_t *st) {
    Carbon__V1__HelloRequest h = CARBON__V1__HELLO_REQUEST__INIT;
    Carbon__V1__FetchBatchesRequest f = CARBON__V1__FETCH_BATCHES_REQUEST__INIT;
    Carbon__V1__AddCheckpointRequest c = CARBON__V1__ADD_CHECKPOINT_REQUEST__INIT;
    const ProtobufCMessage *msg = &h.base;
    const ProtobufCMessageDescriptor *out = &carbon__v1__hello_response__descriptor;
    h.protocol_version = 1;
    h.region = "CN-HE";
    f.region = "CN-HE";
    f.from_seq = 1;
    f.to_seq = 1;
    if (strcmp(method, "FetchBatches") == 0) {
        msg = &f.base;
        out = &carbon__v1__fetch_batches_response__descriptor;
    } else if (strcmp(method, "AddCheckpoint") == 0) {
        msg = &c.base; /* no checkpoint: MALFORMED_CHECKPOINT, once past the limit */
        out = &carbon__v1__add_checkpoint_response__descriptor;
    }
    char path[64];
    snprintf(path, sizeof path, "/carbon.v1.Federation/%s", method);
    ProtobufCMessage *resp = NULL;
    client_call(hostile(), path, msg, out, &resp, CALL_TIMEOUT_MS, st);
    if (resp != NULL) protobuf_c_message_free_unpacked(resp, NULL);
}

/* 200 calls of method from HE at once, with peer_requests_per_s = 50: no
 * more are answered than a burst of 50 and 50 a second allow, the rest
 * are PEER_RATE_LIMITED. */
static void flood_is_limited(const char *method) {
    int answered = 0, limited = 0;
    client_status_t st;
    long long flood_start_ms = proc_now_ms();
    for (int i = 0; i < 200; i++) {
        federation_call_once(method, &st);
        if (st.code == GRPC_STATUS_RESOURCE_EXHAUSTED && strcmp(st.reason, "PEER_RATE_LIMITED") == 0)
            limited++;
        else
            answered++;
    }
    long long flood_ms = proc_now_ms() - flood_start_ms;
    fprintf(stderr, "peer_limits: 200 %s in %lld ms: %d answered, %d PEER_RATE_LIMITED\n", method, flood_ms,
            answered, limited);
    /* a burst of 50, then 50 a second: what the limit lets through in the
     * time the calls took (a slow machine sends fewer a second) */
    long long allowed = 50 + 50 * flood_ms / 1000 + 1;
    cr_expect_leq(answered, allowed, "%s: %d of 200 calls answered in %lld ms, at most %lld allowed", method,
                  answered, flood_ms, allowed);
    cr_expect(limited > 0 || flood_ms >= 3000, "%s: none of 200 calls in %lld ms was limited", method, flood_ms);
    if (flood_ms >= 3000)
        fprintf(stderr, "peer_limits: the calls took %lld ms: too slow to show that any is limited\n", flood_ms);
}

/* Per-peer limits: legs in flight (PEER_LEGS_LIMIT votes) and requests per
 * second (RESOURCE_EXHAUSTED, PEER_RATE_LIMITED); another peer is not
 * affected. */
Test(hostile_peer, peer_limits) {
    start("[limits]\npeer_legs_in_flight_max = 20\npeer_requests_per_s = 50\n");
    setup_accounts();
    leg_buf_t l[25];
    char ids[25][33];
    for (int i = 0; i < 25; i++) {
        rc_new_id(ids[i]);
        blk_t b[] = {{"CN-HE", "HE-GT-01", HE_FRESH_SERIAL + (uint64_t)i * 10000,
                      HE_FRESH_SERIAL + (uint64_t)i * 10000 + 9999}};
        leg_make(&l[i], ids[i], "tj-a", b, 1);
    }
    char votes[25][32];
    client_status_t st;
    cr_assert_eq(prepare(l, 25, votes, &st), GRPC_STATUS_OK, "prepare: %s", st.details);
    for (int i = 0; i < 25; i++)
        cr_expect_str_eq(votes[i], i < 20 ? "Y" : "PEER_LEGS_LIMIT", "leg %d", i);
    cr_assert_eq(decide(ids, 20, 0, &st), GRPC_STATUS_OK, "decide: %s", st.details);
    /* the 20 aborted: room again */
    rc_new_id(ids[0]);
    blk_t b[] = {{"CN-HE", "HE-GT-01", HE_FRESH_SERIAL, HE_FRESH_SERIAL + 9999}};
    leg_make(&l[0], ids[0], "tj-a", b, 1);
    cr_assert_eq(prepare(l, 1, votes, &st), GRPC_STATUS_OK, "prepare: %s", st.details);
    cr_expect_str_eq(votes[0], "Y");
    cr_assert_eq(decide(ids, 1, 0, &st), GRPC_STATUS_OK, "decide: %s", st.details);
    /* requests per second, of every kind of Federation call (the bucket is
     * shared: each flood starts after it filled up again) */
    static const char *const methods[] = {"Hello", "FetchBatches", "AddCheckpoint"};
    for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
        proc_sleep_ms(1100);
        flood_is_limited(methods[m]);
    }
    honest_transfers_ms(2); /* BJ is not limited by HE's flood */
    checker_clean();
}

/* A 4 MiB Prepare of one-gram blocks: refused whole by the message limit
 * (RESOURCE_EXHAUSTED), nothing changes. */
Test(hostile_peer, huge_prepare_refused) {
    start(NULL);
    setup_accounts();
    enum { LEGS = 120, BLOCKS = 1024 };
    Carbon__V1__Leg *lp[LEGS];
    Carbon__V1__CreditBlock *blocks = calloc((size_t)LEGS * BLOCKS, sizeof *blocks);
    Carbon__V1__CreditBlock **bp = calloc((size_t)LEGS * BLOCKS, sizeof *bp);
    leg_buf_t *l = calloc(LEGS, sizeof *l);
    cr_assert(blocks != NULL && bp != NULL && l != NULL);
    blk_t one[] = {{"CN-HE", "HE-GT-01", HE_FRESH_SERIAL, HE_FRESH_SERIAL}};
    for (int i = 0; i < LEGS; i++) {
        char tid[33];
        rc_new_id(tid);
        leg_make(&l[i], tid, "tj-a", one, 1);
        for (int k = 0; k < BLOCKS; k++) {
            Carbon__V1__CreditBlock *c = &blocks[(size_t)i * BLOCKS + (size_t)k];
            carbon__v1__credit_block__init(c);
            c->origin_region = "CN-HE";
            c->methodology_id = "HE-GT-01";
            c->vintage_year = 2026;
            c->serial_start = c->serial_end = HE_FRESH_SERIAL + (uint64_t)i * BLOCKS + (uint64_t)k;
            bp[(size_t)i * BLOCKS + (size_t)k] = c;
        }
        l[i].leg.n_blocks = BLOCKS;
        l[i].leg.blocks = &bp[(size_t)i * BLOCKS];
        l[i].leg.credited_g = 0;
        l[i].leg.discount_g = BLOCKS;
        lp[i] = &l[i].leg;
    }
    Carbon__V1__PrepareRequest m = CARBON__V1__PREPARE_REQUEST__INIT;
    m.source_region = "CN-HE";
    m.batch_seq = 1;
    m.n_legs = LEGS;
    m.legs = lp;
    size_t bytes = protobuf_c_message_get_packed_size(&m.base);
    long long keys0 = tj_lasting_keys(), log0 = tj_log_size();
    client_status_t st;
    client_call(hostile(), "/carbon.v1.Federation/Prepare", &m.base,
                &carbon__v1__prepare_response__descriptor, NULL, CALL_TIMEOUT_MS, &st);
    fprintf(stderr, "huge_prepare: %zu bytes, %d legs of %d one-gram blocks: %s %s\n", bytes, LEGS,
            BLOCKS, client_status_name(st.code), st.reason);
    cr_expect_geq(bytes, 4u << 20);
    cr_expect_eq(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED, "got %s (%s)",
                 client_status_name(st.code), st.details);
    cr_expect_eq(tj_lasting_keys(), keys0);
    cr_expect_eq(tj_log_size(), log0);
    free(blocks);
    free(bp);
    free(l);
    checker_clean();
}

/* A store written before the serial index (its keys deleted here): the
 * gateway builds the index at start, overlaps are refused, the checker finds
 * the index complete. */
Test(hostile_peer, index_built_for_an_old_store) {
    start(NULL);
    setup_accounts();
    uint64_t a_first, a_last;
    first_block(TJ, "tj-a", &a_first, &a_last);
    redisContext *c = redis_connect(federation_redis(fed, TJ));
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, "DEL %sCN-TJ %s", STORE_KEY_SERIALS_PREFIX, STORE_KEY_SERIALS_BUILT);
    cr_assert(r != NULL && r->integer == 2, "the index and its mark were there");
    freeReplyObject(r);
    redisFree(c);
    cr_assert_eq(federation_restart(fed, TJ), 0, "%s", federation_last_error());
    cr_assert_eq(harness_channel_wait_ready(hostile(), 5000), 0);
    leg_buf_t l;
    char id[33];
    rc_new_id(id);
    blk_t same[] = {{"CN-TJ", "TJ-GT-01", a_first, a_first + 999}};
    leg_make(&l, id, "tj-b", same, 1);
    char votes[1][32];
    client_status_t st;
    cr_assert_eq(prepare(&l, 1, votes, &st), GRPC_STATUS_OK, "prepare: %s", st.details);
    cr_expect_str_eq(votes[0], "SERIALS_OVERLAP");
    checker_clean();
}
