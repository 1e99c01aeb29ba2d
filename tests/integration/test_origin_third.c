/* test_origin_third.c - the origin of a transfer's serials as a second
 * participant of its two-phase commit when it is a third region (issue 15
 * item 1, DESIGN §6 provenance): credits of origin CN-TJ held at CN-HE move
 * to CN-BJ; CN-TJ votes, locks the range while the leg is prepared, and
 * moves it in its map at the commit. Real federation, real mutual TLS.
 *
 *   honest_map_follows     TJ's map follows HE -> BJ, so BJ can send the
 *                          credits home (before: the homecoming was refused
 *                          SERIALS_NOT_AT_SOURCE, the map still said HE)
 *   hostile_origin_...     CN-HE's certificate against CN-TJ as origin:
 *                          serials not at the sender, a locked range, a
 *                          destination that is the origin or the source,
 *                          replays; each refused with its reason, the map,
 *                          locks and legs unchanged
 *   origin_votes_no_...    the origin's no aborts the leg at D and at X
 *   recovery_...           S dies after the Prepares; X keeps its lock past
 *                          the expiry, is restarted, and S answers X's
 *                          QueryDecision; the lock is released once
 *   hostile_source_...     CN-HE's certificate against CN-BJ as destination:
 *                          TJ serials never prepared at TJ, or aborted at TJ,
 *                          then COMMIT at BJ: BJ does not credit them (before:
 *                          it did), lists the leg ORIGIN_DENIED
 *   destination_waits_...  BJ applies the COMMIT only once TJ has its own
 *   forced_commit_...      an operator at BJ cannot force a COMMIT of TJ
 *                          serials that TJ has not committed (before: credited)
 *   relabelled_serials_... CN-HE's certificate sends TJ serials under another
 *                          methodology or vintage, to BJ or home: TJ votes no
 *                          (SERIALS_MISLABELLED; before: yes, and credited)
 *   labels_built_...       a store from before serial:labels gets them at start;
 *                          serials no label knows are not judged */
#include "gateway/rpc/grpc_lifetime.h"
#include "tests/support/gateway_harness.h"
#include "tests/support/proc.h"
#include "tests/support/registry_client.h"

#include "carbon/v1/carbon.pb-c.h"
#include "settlement/store_keys.h"

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TJ 0
#define BJ 1
#define HE 2
#define CALL_TIMEOUT_MS 20000
#define SETTLE_TIMEOUT_MS 40000

static federation_t *fed;

static void start_ini(int leg_expiry_ms, const char *extra_ini) {
    grpc_lifetime_begin();
    federation_options_t o = {.regions_n = 3, .leg_expiry_ms = leg_expiry_ms,
                              .recovery_interval_ms = 300, .extra_ini = extra_ini};
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
}

static void start(int leg_expiry_ms) { start_ini(leg_expiry_ms, NULL); }

static void stop_all(void) {
    federation_free(fed);
    fed = NULL;
    unsetenv("CARBON_FAILPOINT");
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

TestSuite(origin_third, .fini = stop_all, .timeout = 300);

static grpc_channel *reg(int i) { return rc_registry(fed, i); }

static void open_ok(int region, const char *id) {
    client_status_t st;
    cr_assert_eq(rc_open(reg(region), id, &st), GRPC_STATUS_OK, "open %s: %s", id, st.details);
}

static void issue_ok(int region, const char *acct, const char *meth, uint64_t milli) {
    char iid[33], fp[64];
    rc_new_id(iid);
    snprintf(fp, sizeof fp, "origin-third-%s", iid);
    client_status_t st;
    cr_assert_eq(rc_issue(reg(region), iid, acct, meth, milli, fp, NULL, &st), GRPC_STATUS_OK,
                 "issue: %s", st.details);
}

/* A transfer that must end with outcome `want`; returns the first serial of
 * its first block, and its reason into reason (room 64, may be NULL). */
static uint64_t transfer(int region, const char *tid, const char *from, const char *to_region,
                         const char *to, uint64_t units, int want, char *reason) {
    Carbon__V1__TransferResponse *tr = NULL;
    client_status_t st;
    cr_assert_eq(rc_transfer(reg(region), tid, from, to_region, to, "TJ-GT-01", units, &tr, &st),
                 GRPC_STATUS_OK, "transfer: %s", st.details);
    cr_assert_eq(tr->transfer->outcome, want, "transfer %s: outcome %d (%s), want %d", tid,
                 tr->transfer->outcome, tr->transfer->reason, want);
    uint64_t first = tr->transfer->n_blocks > 0 ? tr->transfer->blocks[0]->serial_start : 0;
    if (reason != NULL) snprintf(reason, 64, "%s", tr->transfer->reason);
    protobuf_c_message_free_unpacked(&tr->base, NULL);
    return first;
}

#define COMMITTED CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED
#define ABORTED CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_ABORTED

/* ---- a region's store ------------------------------------------------------ */

/* The reply of one command at region's Redis as text: a string, an integer,
 * or an array's strings joined by ' '. malloc'd. */
static char *redis_text(int region, const char *fmt, const char *a1, const char *a2) {
    redisContext *c = redis_connect(federation_redis(fed, region));
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, fmt, a1, a2);
    cr_assert_not_null(r);
    char *out = calloc(1, 1);
    size_t len = 0;
    for (size_t i = 0; i < (r->type == REDIS_REPLY_ARRAY ? r->elements : 1); i++) {
        const redisReply *e = r->type == REDIS_REPLY_ARRAY ? r->element[i] : r;
        char buf[64];
        const char *s = e->type == REDIS_REPLY_STRING ? e->str : "";
        if (e->type == REDIS_REPLY_INTEGER) {
            snprintf(buf, sizeof buf, "%lld", e->integer);
            s = buf;
        }
        out = realloc(out, len + strlen(s) + 2);
        len += (size_t)sprintf(out + len, "%s%s", len > 0 ? " " : "", s);
    }
    freeReplyObject(r);
    redisFree(c);
    return out;
}

static char *tj_map(void) { return redis_text(TJ, "ZRANGE %s 0 -1", STORE_KEY_ORIGIN_MAP, NULL); }

/* Waits until no region has a use report to TJ still to send: a discount
 * cancelled at BJ or HE reaches TJ's map a moment after the commit
 * (settlement/use_reports.h), so maps are compared once it has. */
static void wait_reports_applied(void) {
    for (int tries = 0; tries < 200; tries++) {
        char *bj = redis_text(BJ, "ZCARD %s", STORE_KEY_REPORTS_OUT_PREFIX "CN-TJ", NULL);
        char *he = redis_text(HE, "ZCARD %s", STORE_KEY_REPORTS_OUT_PREFIX "CN-TJ", NULL);
        int idle = strcmp(bj, "0") == 0 && strcmp(he, "0") == 0;
        free(bj);
        free(he);
        if (idle) return;
        proc_sleep_ms(50);
    }
    cr_assert_fail("use reports to CN-TJ still pending after 10 s");
}
/* HGETALL calls region's Redis has served (each leg read; 0 before the first). */
static long long hgetall_calls(int region) {
    redisContext *c = redis_connect(federation_redis(fed, region));
    cr_assert_not_null(c);
    long long v = redis_command_calls(c, "hgetall");
    redisFree(c);
    cr_assert_geq(v, 0, "INFO commandstats did not answer");
    return v;
}

static char *tj_locks(void) { return redis_text(TJ, "ZRANGE %s 0 -1", STORE_KEY_ORIGIN_LOCKS, NULL); }

/* A field of leg tid at region ("" when absent). malloc'd. */
static char *leg_field(int region, const char *tid, const char *field) {
    char key[80];
    snprintf(key, sizeof key, "%s%s%s", STORE_KEY_LEG_PREFIX, tid, STORE_KEY_LEG_SUFFIX);
    return redis_text(region, "HGET %s %s", key, field);
}

/* Waits until leg tid at region has field == want. */
static void wait_leg_field(int region, const char *tid, const char *field, const char *want,
                           int timeout_ms) {
    char v[128] = "";
    for (int waited = 0;; waited += 50) {
        char *got = leg_field(region, tid, field);
        snprintf(v, sizeof v, "%s", got);
        free(got);
        if (strcmp(v, want) == 0 || waited >= timeout_ms) break;
        proc_sleep_ms(50);
    }
    cr_assert_str_eq(v, want, "leg %s at region %d: %s is '%s', want '%s'", tid, region, field, v, want);
}

/* Audit entries of region holding both event (as its netstring) and tid. */
static int audit_count(int region, const char *event, const char *tid) {
    redisContext *c = redis_connect(federation_redis(fed, region));
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, "GET %s", STORE_KEY_LOG_SIZE);
    cr_assert_not_null(r);
    uint64_t size = r->type == REDIS_REPLY_STRING ? strtoull(r->str, NULL, 10) : 0;
    freeReplyObject(r);
    char ev[64];
    snprintf(ev, sizeof ev, "%zu:%s,", strlen(event), event);
    int n = 0;
    for (uint64_t seq = 1; seq <= size; seq++) {
        size_t len = 0;
        char *entry = redis_log_entry(c, seq, &len);
        if (entry != NULL && strstr(entry, ev) != NULL && strstr(entry, tid) != NULL) n++;
        free(entry);
    }
    redisFree(c);
    return n;
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

/* `gwctl audit verify --region REGION` as CN-TJ's auditor over the three
 * regions: replays the region's log (origin events included) against its
 * store. Returns gwctl's exit status. */
static int audit_verify(const char *region) {
    char targets[160], cert[512], key[512], ca[512];
    snprintf(targets, sizeof targets, "CN-TJ=127.0.0.1:%d,CN-BJ=127.0.0.1:%d,CN-HE=127.0.0.1:%d",
             federation_port(fed, TJ), federation_port(fed, BJ), federation_port(fed, HE));
    snprintf(cert, sizeof cert, "%s/CN-TJ-auditor.crt", harness_pki_dir());
    snprintf(key, sizeof key, "%s/CN-TJ-auditor.key", harness_pki_dir());
    snprintf(ca, sizeof ca, "%s/ca.crt", harness_pki_dir());
    const char *argv[] = {BINARY_DIR "/gwctl", "audit", "verify", "--region", region, "--targets",
                          targets, "--cert", cert, "--key", key, "--ca", ca, NULL};
    int status = -1;
    char *out = NULL, *err = NULL;
    cr_assert_eq(harness_run(argv, 60000, &status, &out, &err), 0, "gwctl did not run");
    if (status != 0) fprintf(stderr, "audit verify %s: %s%s\n", region, out, err);
    free(out);
    free(err);
    return status;
}

/* `gwctl audit model-check` as CN-TJ's auditor: every region's log against
 * the protocol model's transitions (settlement/trace_check.h), the origin's
 * origin-prepare/commit/abort and the source's origin-acked included.
 * --max-skew-ms 0: the gateways share this host's clock. Returns gwctl's
 * exit status (0: no finding); prints its output. */
static int model_check_text(char **text);
static int model_check(void) { return model_check_text(NULL); }

/* The same; *text (may be NULL) gets its stdout, malloc'd. */
static int model_check_text(char **text) {
    char targets[160], cert[512], key[512], ca[512];
    snprintf(targets, sizeof targets, "CN-TJ=127.0.0.1:%d,CN-BJ=127.0.0.1:%d,CN-HE=127.0.0.1:%d",
             federation_port(fed, TJ), federation_port(fed, BJ), federation_port(fed, HE));
    snprintf(cert, sizeof cert, "%s/CN-TJ-auditor.crt", harness_pki_dir());
    snprintf(key, sizeof key, "%s/CN-TJ-auditor.key", harness_pki_dir());
    snprintf(ca, sizeof ca, "%s/ca.crt", harness_pki_dir());
    const char *argv[] = {BINARY_DIR "/gwctl", "audit", "model-check", "--targets", targets, "--cert", cert,
                          "--key", key, "--ca", ca, "--max-skew-ms", "0", NULL};
    int status = -1;
    char *out = NULL, *err = NULL;
    cr_assert_eq(harness_run(argv, 60000, &status, &out, &err), 0, "gwctl did not run");
    fprintf(stderr, "origin_third: model-check (exit %d):\n%s%s", status, out ? out : "", err ? err : "");
    if (text != NULL) *text = out;
    else free(out);
    free(err);
    return status;
}

/* tj-a gets 19,950 g of TJ-GT-01; 10 kg of it go to he-c (TJ's map: at
 * CN-HE). Returns the first serial at HE. */
static uint64_t setup(void) {
    open_ok(TJ, "tj-a");
    open_ok(TJ, "tj-b");
    open_ok(BJ, "bj-b");
    open_ok(HE, "he-c");
    issue_ok(TJ, "tj-a", "TJ-GT-01", 420000);
    char tid[33];
    rc_new_id(tid);
    uint64_t first = transfer(TJ, tid, "tj-a", "CN-HE", "he-c", 10, COMMITTED, NULL);
    cr_assert_eq(rc_wait_arrival(reg(HE), tid, 10000), 0);
    wait_reports_applied();
    return first;
}

/* Honest: HE -> BJ of TJ serials; TJ votes and commits, its map follows;
 * BJ then sends part of them home, which TJ accepts. */
Test(origin_third, honest_map_follows) {
    start(20000);
    uint64_t f = setup();
    char tid[33], want[256];
    rc_new_id(tid);
    /* 50 HE credits of 100 g: 5,000 g, credited 4,500 g at BJ (9/10) */
    uint64_t first = transfer(HE, tid, "he-c", "CN-BJ", "bj-b", 50, COMMITTED, NULL);
    cr_assert_eq(first, f);
    cr_assert_eq(rc_wait_arrival(reg(BJ), tid, 10000), 0);
    wait_leg_field(TJ, tid, "state", "COMMITTED", 10000);
    wait_reports_applied(); /* BJ's discount (500 g) reported cancelled */
    char *role = leg_field(TJ, tid, "role"), *map = tj_map(), *locks = tj_locks();
    snprintf(want, sizeof want,
             "%" PRIu64 ":%" PRIu64 ":CN-BJ:at %" PRIu64 ":%" PRIu64 ":CN-BJ:cancelled %" PRIu64 ":%" PRIu64
             ":CN-HE:at",
             f, f + 4499, f + 4500, f + 4999, f + 5000, f + 9999);
    cr_expect_str_eq(role, "origin");
    cr_expect_str_eq(map, want, "TJ's map: '%s', want '%s'", map, want);
    cr_expect_str_eq(locks, "", "TJ's locks after the commit: '%s'", locks);
    free(role);
    free(map);
    free(locks);
    cr_expect_eq(audit_count(TJ, "origin-prepare", tid), 1);
    cr_expect_eq(audit_count(TJ, "origin-commit", tid), 1);
    wait_leg_field(HE, tid, "acked", "1", 10000); /* BJ and TJ both acknowledged */
    cr_expect_eq(audit_count(HE, "origin-acked", tid), 1);
    /* the homecoming: 100 BJ points of 10 g go back to TJ at ratio 1 */
    char home[33];
    rc_new_id(home);
    cr_expect_eq(transfer(BJ, home, "bj-b", "CN-TJ", "tj-b", 100, COMMITTED, NULL), f);
    cr_assert_eq(rc_wait_arrival(reg(TJ), home, 10000), 0);
    cr_expect_eq(rc_total_g(reg(TJ), "tj-b"), 1000);
    /* figures: HE -> BJ of TJ serials (three parties) against HE serials (two) */
    issue_ok(HE, "he-c", "HE-GT-01", 2000000);
    long long ms[2];
    const char *meths[2] = {"TJ-GT-01", "HE-GT-01"};
    for (int k = 0; k < 2; k++) {
        long long t0 = proc_now_ms();
        for (int i = 0; i < 10; i++) {
            char t[33];
            rc_new_id(t);
            Carbon__V1__TransferResponse *tr = NULL;
            client_status_t ts;
            cr_assert_eq(rc_transfer(reg(HE), t, "he-c", "CN-BJ", "bj-b", meths[k], 1, &tr, &ts),
                         GRPC_STATUS_OK, "%s", ts.details);
            cr_assert_eq(tr->transfer->outcome, COMMITTED);
            protobuf_c_message_free_unpacked(&tr->base, NULL);
        }
        ms[k] = (proc_now_ms() - t0) / 10;
    }
    fprintf(stderr, "origin_third: a transfer HE -> BJ takes %lld ms with TJ as origin participant, "
            "%lld ms between two regions (mean of 10, one at a time)\n", ms[0], ms[1]);
    /* HE -> BJ is not a transfer of TJ's registry */
    Carbon__V1__GetTransferResponse *g = NULL;
    client_status_t st;
    cr_expect_eq(rc_get_transfer(reg(TJ), tid, &g, &st), GRPC_STATUS_NOT_FOUND, "%s", st.details);
    if (g != NULL) protobuf_c_message_free_unpacked(&g->base, NULL);
    checker_clean();
    /* the logs replay to the stores, origin-prepare/commit and origin-acked included */
    cr_expect_eq(audit_verify("CN-TJ"), 0);
    cr_expect_eq(audit_verify("CN-HE"), 0);
    /* every step of the three logs is a step of the model (TJ as origin X) */
    cr_expect_eq(model_check(), 0);
}

/* ---- what the attacker sends ------------------------------------------------ */

static struct {
    char src_digest[65], dst_digest[65], tj_digest[65];
} cat;

/* HE's, BJ's and TJ's catalog digests, from quotes at HE. */
static void read_digests(void) {
    Carbon__V1__QuoteResponse *q = NULL;
    client_status_t st;
    cr_assert_eq(rc_quote(reg(HE), "he-c", "CN-BJ", "TJ-GT-01", 10, &q, &st), GRPC_STATUS_OK,
                 "quote: %s", st.details);
    snprintf(cat.src_digest, sizeof cat.src_digest, "%s", q->quote->source_catalog_digest);
    snprintf(cat.dst_digest, sizeof cat.dst_digest, "%s", q->quote->destination_catalog_digest);
    protobuf_c_message_free_unpacked(&q->base, NULL);
    cr_assert_eq(rc_quote(reg(HE), "he-c", "CN-TJ", "TJ-GT-01", 10, &q, &st), GRPC_STATUS_OK,
                 "quote: %s", st.details);
    snprintf(cat.tj_digest, sizeof cat.tj_digest, "%s", q->quote->destination_catalog_digest);
    protobuf_c_message_free_unpacked(&q->base, NULL);
}

typedef struct {
    Carbon__V1__Leg leg;
    Carbon__V1__CreditBlock b;
    Carbon__V1__CreditBlock *bp[1];
    char tid[33], to[48];
} leg_buf_t;

/* An origin_only leg from CN-HE/he-c to `to` ("REGION/ID") of TJ serials
 * first..last, credited at 9/10 in 10 g units. */
static void leg_make(leg_buf_t *l, const char *tid, const char *to, uint64_t first, uint64_t last) {
    carbon__v1__leg__init(&l->leg);
    carbon__v1__credit_block__init(&l->b);
    snprintf(l->tid, sizeof l->tid, "%s", tid);
    snprintf(l->to, sizeof l->to, "%s", to);
    l->b.origin_region = "CN-TJ";
    l->b.methodology_id = "TJ-GT-01";
    l->b.vintage_year = 2026;
    l->b.serial_start = first;
    l->b.serial_end = last;
    l->bp[0] = &l->b;
    uint64_t g = last - first + 1;
    l->leg.transfer_id = l->tid;
    l->leg.from_account = "CN-HE/he-c";
    l->leg.to_account = l->to;
    l->leg.n_blocks = 1;
    l->leg.blocks = l->bp;
    l->leg.credited_g = g * 9 / 10 / 10 * 10;
    l->leg.discount_g = g - l->leg.credited_g;
    l->leg.destination_methodology_id = "BJ-GT-02";
    l->leg.source_catalog_digest = cat.src_digest;
    l->leg.destination_catalog_digest = cat.dst_digest;
    l->leg.expiry_unix_ms = (uint64_t)time(NULL) * 1000 + 15000;
    l->leg.origin_only = 1;
}

/* CN-HE's gateway certificate talking to region. */
static grpc_channel *as_he(int region) {
    grpc_channel *ch = federation_channel(fed, region, "CN-HE-gateway");
    cr_assert_not_null(ch);
    return ch;
}

static grpc_status_code prepare_at(int region, leg_buf_t *l, char *vote, client_status_t *st);

/* A Prepare from "CN-HE" of one leg; returns the status and the vote ("Y"
 * or the reason) into vote (room 64). */
static grpc_status_code prepare(leg_buf_t *l, char *vote, client_status_t *st) {
    return prepare_at(TJ, l, vote, st);
}

/* The same Prepare sent to region. */
static grpc_status_code prepare_at(int region, leg_buf_t *l, char *vote, client_status_t *st) {
    Carbon__V1__Leg *lp[1] = {&l->leg};
    Carbon__V1__PrepareRequest m = CARBON__V1__PREPARE_REQUEST__INIT;
    m.source_region = "CN-HE";
    m.batch_seq = 0;
    m.n_legs = 1;
    m.legs = lp;
    ProtobufCMessage *resp = NULL;
    client_call(as_he(region), "/carbon.v1.Federation/Prepare", &m.base,
                &carbon__v1__prepare_response__descriptor, &resp, CALL_TIMEOUT_MS, st);
    vote[0] = '\0';
    if (st->code == GRPC_STATUS_OK) {
        Carbon__V1__PrepareResponse *r = (Carbon__V1__PrepareResponse *)resp;
        cr_assert_eq(r->n_votes, 1);
        snprintf(vote, 64, "%s", r->votes[0]->vote == CARBON__V1__VOTE__VOTE_YES ? "Y" : r->votes[0]->reason);
    }
    if (resp != NULL) protobuf_c_message_free_unpacked(resp, NULL);
    return st->code;
}

static void vote_is(leg_buf_t *l, const char *want) {
    char vote[64];
    client_status_t st;
    cr_assert_eq(prepare(l, vote, &st), GRPC_STATUS_OK, "prepare %s: %s", l->tid, st.details);
    cr_expect_str_eq(vote, want, "leg %s voted '%s', want '%s'", l->tid, vote, want);
}

static void refused_malformed(leg_buf_t *l) {
    char vote[64];
    client_status_t st;
    cr_expect_eq(prepare(l, vote, &st), GRPC_STATUS_INVALID_ARGUMENT,
                 "leg to %s: status %d (%s), vote '%s'", l->leg.to_account, st.code, st.details, vote);
}

static char decide_at(int region, const char *tid, int commit, int *mixed);

/* A Decide from "CN-HE" of one leg; returns what TJ applied ('C', 'A', 'U'). */
static char decide(const char *tid, int commit) { return decide_at(TJ, tid, commit, NULL); }

/* The same Decide sent to region; *mixed (may be NULL) gets the ack's
 * heuristic_mixed. */
static char decide_at(int region, const char *tid, int commit, int *mixed) {
    Carbon__V1__LegDecision d = CARBON__V1__LEG_DECISION__INIT;
    Carbon__V1__LegDecision *dp[1] = {&d};
    d.transfer_id = (char *)tid;
    d.decision = commit ? CARBON__V1__DECISION__DECISION_COMMIT : CARBON__V1__DECISION__DECISION_ABORT;
    Carbon__V1__DecideRequest m = CARBON__V1__DECIDE_REQUEST__INIT;
    m.source_region = "CN-HE";
    m.n_decisions = 1;
    m.decisions = dp;
    ProtobufCMessage *resp = NULL;
    client_status_t st;
    client_call(as_he(region), "/carbon.v1.Federation/Decide", &m.base,
                &carbon__v1__decide_response__descriptor, &resp, CALL_TIMEOUT_MS, &st);
    cr_assert_eq(st.code, GRPC_STATUS_OK, "decide: %s", st.details);
    Carbon__V1__DecideResponse *r = (Carbon__V1__DecideResponse *)resp;
    char a = r->acks[0]->applied == CARBON__V1__DECISION__DECISION_COMMIT  ? 'C'
             : r->acks[0]->applied == CARBON__V1__DECISION__DECISION_ABORT ? 'A'
                                                                           : 'U';
    if (mixed != NULL) *mixed = r->acks[0]->heuristic_mixed;
    protobuf_c_message_free_unpacked(resp, NULL);
    return a;
}

/* Hostile: CN-HE's certificate against CN-TJ as the origin. */
Test(origin_third, hostile_origin_prepare) {
    start(20000);
    uint64_t f = setup();  /* f..f+9999 at CN-HE */
    char t_bj[33];
    rc_new_id(t_bj);
    uint64_t g = transfer(TJ, t_bj, "tj-a", "CN-BJ", "bj-b", 5, COMMITTED, NULL); /* at CN-BJ */
    cr_assert_eq(rc_wait_arrival(reg(BJ), t_bj, 10000), 0);
    wait_reports_applied();
    read_digests();
    char *map0 = tj_map();
    leg_buf_t l;
    char ids[9][33];
    for (int i = 0; i < 9; i++) rc_new_id(ids[i]);

    /* serials TJ's map places at BJ, not at HE */
    leg_make(&l, ids[0], "CN-BJ/bj-b", g, g + 999);
    vote_is(&l, "SERIALS_NOT_AT_SOURCE");
    vote_is(&l, "SERIALS_NOT_AT_SOURCE"); /* replayed */
    /* serials that never left TJ (tj-a holds f+10000.. less BJ's five kg) */
    leg_make(&l, ids[6], "CN-BJ/bj-b", f + 19000, f + 19949);
    vote_is(&l, "SERIALS_NOT_AT_SOURCE");
    /* a range half at HE, half at home */
    leg_make(&l, ids[7], "CN-BJ/bj-b", f + 9500, f + 10499);
    vote_is(&l, "SERIALS_NOT_AT_SOURCE");
    /* serials TJ never issued */
    leg_make(&l, ids[8], "CN-BJ/bj-b", f + 1000000, f + 1000999);
    vote_is(&l, "SERIALS_NOT_AT_SOURCE");
    for (int i = 6; i < 9; i++) cr_expect_eq(decide(ids[i], 1), 'A', "a COMMIT of refused leg %d", i);
    /* the destination is the origin itself, or the source */
    leg_make(&l, ids[1], "CN-TJ/tj-b", f, f + 999);
    refused_malformed(&l);
    leg_make(&l, ids[1], "CN-HE/he-c", f, f + 999);
    refused_malformed(&l);
    /* a TJ id TJ holds as a source leg */
    leg_make(&l, t_bj, "CN-BJ/bj-b", f, f + 999);
    vote_is(&l, "ID_REUSED");
    char *map1 = tj_map(), *locks1 = tj_locks(), *st1 = leg_field(TJ, ids[1], "state");
    cr_expect_str_eq(map1, map0, "refusals changed TJ's map");
    cr_expect_str_eq(locks1, "", "refusals locked '%s'", locks1);
    cr_expect_str_eq(st1, "", "a malformed leg left a record");
    free(map1);
    free(locks1);
    free(st1);

    /* two transfers of the same range: the second finds it locked */
    leg_make(&l, ids[2], "CN-BJ/bj-b", f, f + 1999);
    vote_is(&l, "Y");
    vote_is(&l, "Y"); /* replayed: the same vote, one lock */
    leg_make(&l, ids[3], "CN-BJ/bj-b", f + 1000, f + 2999);
    vote_is(&l, "SERIALS_LOCKED");
    char *locks2 = tj_locks();
    char want[128];
    snprintf(want, sizeof want, "%" PRIu64 ":%" PRIu64 ":CN-HE:%s", f, f + 1999, ids[2]);
    cr_expect_str_eq(locks2, want, "TJ's locks: '%s', want '%s'", locks2, want);
    free(locks2);
    /* nor may the locked range come home meanwhile (a destination leg to TJ) */
    leg_make(&l, ids[5], "CN-TJ/tj-b", f + 1000, f + 1999);
    l.leg.origin_only = 0;
    l.leg.credited_g = 1000;
    l.leg.discount_g = 0;
    l.leg.destination_methodology_id = "TJ-GT-01";
    l.leg.destination_catalog_digest = cat.tj_digest;
    vote_is(&l, "SERIALS_LOCKED");
    cr_expect_eq(audit_count(TJ, "origin-prepare", ids[2]), 1);

    /* ABORT unlocks, once; a replay changes nothing; the leg stays aborted */
    cr_expect_eq(decide(ids[2], 0), 'A');
    cr_expect_eq(decide(ids[2], 0), 'A');
    cr_expect_eq(decide(ids[2], 1), 'A', "a COMMIT after the ABORT");
    leg_make(&l, ids[2], "CN-BJ/bj-b", f, f + 1999);
    vote_is(&l, "ABORTED_BY_SOURCE");
    char *locks3 = tj_locks(), *map3 = tj_map();
    cr_expect_str_eq(locks3, "");
    cr_expect_str_eq(map3, map0);
    free(locks3);
    free(map3);
    cr_expect_eq(audit_count(TJ, "origin-abort", ids[2]), 1);

    /* COMMIT moves the range in the map once; a replay changes nothing */
    leg_make(&l, ids[4], "CN-BJ/bj-b", f + 9000, f + 9999);
    vote_is(&l, "Y");
    cr_expect_eq(decide(ids[4], 1), 'C');
    cr_expect_eq(decide(ids[4], 1), 'C');
    cr_expect_eq(decide(ids[4], 0), 'C', "an ABORT after the COMMIT");
    char *map4 = tj_map();
    snprintf(want, sizeof want, "%" PRIu64 ":%" PRIu64 ":CN-BJ:at", f + 9000, f + 9999);
    cr_expect(strstr(map4, want) != NULL, "TJ's map '%s' lacks '%s'", map4, want);
    free(map4);
    cr_expect_eq(audit_count(TJ, "origin-commit", ids[4]), 1);
    free(map0);
}

/* What TJ's store says of its serials and of tj-b: the map, the locks, the
 * serial index of its own serials, the labels and tj-b's grams. malloc'd. */
static char *tj_serials_state(void) {
    char *map = tj_map(), *locks = tj_locks();
    char *index = redis_text(TJ, "ZRANGE %s 0 -1", STORE_KEY_SERIALS_PREFIX "CN-TJ", NULL);
    char *labels = redis_text(TJ, "ZRANGE %s 0 -1", STORE_KEY_SERIAL_LABELS, NULL);
    size_t cap = strlen(map) + strlen(locks) + strlen(index) + strlen(labels) + 128;
    char *out = malloc(cap);
    cr_assert_not_null(out);
    snprintf(out, cap, "map %s\nlocks %s\nindex %s\nlabels %s\ntj-b %" PRIu64 " g", map, locks, index,
             labels, rc_total_g(reg(TJ), "tj-b"));
    free(map);
    free(locks);
    free(index);
    free(labels);
    return out;
}

/* Legs of TJ serials f..f+999 (issued TJ-GT-01, 2026, held at HE) under
 * other labels: to BJ (TJ asked as their origin) and home to TJ. */
static void relabelled_refused(uint64_t f) {
    static const struct {
        const char *meth;
        uint32_t vintage;
    } other[] = {{"TJ-GT-01", 2025}, {"TJ-GT-02", 2026}, {"TJ-EL-01", 2027}};
    leg_buf_t l;
    char tid[33];
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        for (int home = 0; home < 2; home++) {
            rc_new_id(tid);
            leg_make(&l, tid, home ? "CN-TJ/tj-b" : "CN-BJ/bj-b", f, f + 999);
            if (home) {
                l.leg.origin_only = 0;
                l.leg.credited_g = 1000;
                l.leg.discount_g = 0;
                l.leg.destination_methodology_id = (char *)other[i].meth; /* home: itself */
                l.leg.destination_catalog_digest = cat.tj_digest;
            }
            l.b.methodology_id = (char *)other[i].meth;
            l.b.vintage_year = other[i].vintage;
            vote_is(&l, "SERIALS_MISLABELLED");
            vote_is(&l, "SERIALS_MISLABELLED"); /* replayed */
            cr_expect_eq(decide(tid, 1), 'A', "a COMMIT of the relabelled leg %s", tid);
        }
    }
}

/* Hostile: CN-HE's certificate sends TJ serials under another methodology
 * or vintage, to BJ (TJ as their origin) and home to TJ. TJ votes no
 * (SERIALS_MISLABELLED), a COMMIT sent anyway changes nothing, and the same
 * serials under their true labels are still accepted. Before serial:labels
 * TJ voted yes to both and credited tj-b with serials relabelled. */
Test(origin_third, relabelled_serials_refused) {
    start(20000);
    uint64_t f = setup();
    read_digests();
    char *before = tj_serials_state();
    relabelled_refused(f);
    char *after = tj_serials_state();
    cr_expect_str_eq(after, before, "TJ's serials changed:\nbefore\n%s\nafter\n%s", before, after);
    free(before);
    free(after);
    leg_buf_t l;
    char tid[33];
    rc_new_id(tid);
    leg_make(&l, tid, "CN-BJ/bj-b", f, f + 999);
    vote_is(&l, "Y"); /* the true labels */
    cr_expect_eq(decide(tid, 0), 'A');
}

/* A store written before serial:labels (its keys deleted here): TJ builds
 * them at start from its issuance records, and relabelled serials are
 * refused as before. */
Test(origin_third, labels_built_for_an_old_store) {
    start(20000);
    uint64_t f = setup();
    read_digests();
    char *labels0 = redis_text(TJ, "ZRANGE %s 0 -1", STORE_KEY_SERIAL_LABELS, NULL);
    cr_expect_str_eq(labels0, "1:19950:2026:TJ-GT-01", "TJ's one issuance: '%s'", labels0);
    char *del = redis_text(TJ, "DEL %s %s", STORE_KEY_SERIAL_LABELS, STORE_KEY_SERIAL_LABELS_BUILT);
    cr_assert_str_eq(del, "2", "the labels and their mark were there");
    free(del);
    cr_assert_eq(federation_restart(fed, TJ), 0, "%s", federation_last_error());
    char *labels1 = redis_text(TJ, "ZRANGE %s 0 -1", STORE_KEY_SERIAL_LABELS, NULL);
    cr_expect_str_eq(labels1, labels0, "rebuilt '%s', issued '%s'", labels1, labels0);
    free(labels0);
    free(labels1);
    relabelled_refused(f);
    /* serials no label range knows (issued by an older gateway sharing the
     * store, which writes none): not judged, so an honest leg still goes
     * (before: refused SERIALS_MISLABELLED) */
    char *del2 = redis_text(TJ, "ZREMRANGEBYRANK %s 0 -1", STORE_KEY_SERIAL_LABELS, NULL);
    cr_assert_str_eq(del2, "1");
    free(del2);
    leg_buf_t l;
    char tid[33];
    rc_new_id(tid);
    leg_make(&l, tid, "CN-BJ/bj-b", f, f + 999);
    vote_is(&l, "Y");
    cr_expect_eq(decide(tid, 0), 'A');
    /* labels that cut the block in two (by hand): it lies in no one range */
    char mid[32], first_part[64], second_part[64];
    snprintf(mid, sizeof mid, "%" PRIu64, f + 500);
    snprintf(first_part, sizeof first_part, "1:%" PRIu64 ":2026:TJ-GT-01", f + 499);
    snprintf(second_part, sizeof second_part, "%" PRIu64 ":19950:2026:TJ-GT-01", f + 500);
    char *add = redis_text(TJ, "ZADD %s 1 %s", STORE_KEY_SERIAL_LABELS, first_part);
    free(add);
    add = redis_text(TJ, "ZADD " STORE_KEY_SERIAL_LABELS " %s %s", mid, second_part);
    free(add);
    rc_new_id(tid);
    leg_make(&l, tid, "CN-BJ/bj-b", f, f + 999);
    vote_is(&l, "SERIALS_MISLABELLED");
}

/* The origin votes no (a hostile lock holds the range): asked first by the
 * destination, which refuses the leg with the origin's reason and claims
 * nothing; the leg aborts at the source, and the origin keeps no lock. */
Test(origin_third, origin_votes_no_aborts_everywhere) {
    start(20000);
    uint64_t f = setup();
    read_digests();
    leg_buf_t l;
    char lock_id[33], tid[33], reason[64];
    rc_new_id(lock_id);
    rc_new_id(tid);
    leg_make(&l, lock_id, "CN-BJ/bj-b", f, f + 9999);
    vote_is(&l, "Y");
    uint64_t he0 = rc_total_g(reg(HE), "he-c");
    transfer(HE, tid, "he-c", "CN-BJ", "bj-b", 50, ABORTED, reason);
    cr_expect_str_eq(reason, "SERIALS_LOCKED");
    cr_expect_eq(rc_total_g(reg(HE), "he-c"), he0, "HE's credits did not come back");
    char *bj_state = leg_field(BJ, tid, "state");
    cr_expect(strcmp(bj_state, "REFUSED") == 0 || strcmp(bj_state, "") == 0, "BJ's leg: '%s'", bj_state);
    free(bj_state);
    wait_leg_field(HE, tid, "acked", "1", 10000);
    char *state = leg_field(TJ, tid, "state");
    cr_expect(strcmp(state, "REFUSED") == 0 || strcmp(state, "") == 0, "TJ's leg: '%s'", state);
    free(state);
    cr_expect_eq(audit_count(TJ, "origin-prepare", tid), 0);
    cr_expect_eq(decide(lock_id, 0), 'A');
    char *locks = tj_locks();
    cr_expect_str_eq(locks, "");
    free(locks);
    checker_clean();
}

/* While its source is unreachable, TJ lists the origin leg in doubt (role
 * origin) and refuses an operator's forced decision on it. */
static void origin_leg_listed_not_forced(const char *tid) {
    grpc_channel *op = federation_channel(fed, TJ, "CN-TJ-operator");
    cr_assert_not_null(op);
    Carbon__V1__ListInDoubtRequest lr = CARBON__V1__LIST_IN_DOUBT_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    client_status_t st;
    client_call(op, "/carbon.v1.Operations/ListInDoubt", &lr.base,
                &carbon__v1__list_in_doubt_response__descriptor, &resp, CALL_TIMEOUT_MS, &st);
    cr_assert_eq(st.code, GRPC_STATUS_OK, "ListInDoubt: %s", st.details);
    const Carbon__V1__ListInDoubtResponse *l = (const Carbon__V1__ListInDoubtResponse *)resp;
    int listed = 0;
    for (size_t i = 0; i < l->n_legs; i++)
        if (strcmp(l->legs[i]->leg->transfer_id, tid) == 0) {
            listed = 1;
            cr_expect_str_eq(l->legs[i]->role, "origin");
            cr_expect_str_eq(l->legs[i]->leg->to_account, "CN-BJ/bj-b");
        }
    protobuf_c_message_free_unpacked(resp, NULL);
    cr_expect(listed, "the origin leg is not listed in doubt");
    Carbon__V1__ResolveInDoubtRequest rr = CARBON__V1__RESOLVE_IN_DOUBT_REQUEST__INIT;
    rr.transfer_id = (char *)tid;
    rr.decision = CARBON__V1__DECISION__DECISION_COMMIT;
    rr.reason = "test: forcing an origin leg must be refused";
    resp = NULL;
    client_call(op, "/carbon.v1.Operations/ResolveInDoubt", &rr.base,
                &carbon__v1__resolve_in_doubt_response__descriptor, &resp, CALL_TIMEOUT_MS, &st);
    if (resp != NULL) protobuf_c_message_free_unpacked(resp, NULL);
    cr_expect_eq(st.code, GRPC_STATUS_FAILED_PRECONDITION, "ResolveInDoubt: %d %s", st.code, st.details);
    cr_expect(strstr(st.details, "origin") != NULL, "%s", st.details);
}

/* Recovery: HE (the source) dies right after its Prepares to BJ and TJ.
 * TJ keeps the lock past the expiry (it never decides alone), survives its
 * own restart, and once HE is back HE answers TJ's QueryDecision; the lock is
 * released exactly once. */
Test(origin_third, recovery_source_gone_origin_asks) {
    setenv("CARBON_FAILPOINT", "CN-HE:source.after_prepare", 1);
    start(3000);
    uint64_t f = setup();
    char tid[33];
    rc_new_id(tid);
    Carbon__V1__TransferResponse *tr = NULL;
    client_status_t st;
    rc_transfer(reg(HE), tid, "he-c", "CN-BJ", "bj-b", "TJ-GT-01", 50, &tr, &st); /* HE dies */
    if (tr != NULL) protobuf_c_message_free_unpacked(&tr->base, NULL);
    for (int i = 0; i < 100 && proc_alive(federation_pid(fed, HE)); i++) proc_sleep_ms(50);
    unsetenv("CARBON_FAILPOINT");
    wait_leg_field(TJ, tid, "state", "PREPARED", 5000);
    char want[128];
    snprintf(want, sizeof want, "%" PRIu64 ":%" PRIu64 ":CN-HE:%s", f, f + 4999, tid);
    proc_sleep_ms(4000); /* past the expiry: TJ asks the dead source */
    char *locks = tj_locks();
    cr_expect_str_eq(locks, want, "TJ's lock before HE answers: '%s'", locks);
    free(locks);
    origin_leg_listed_not_forced(tid);
    cr_assert_eq(federation_restart(fed, TJ), 0, "%s", federation_last_error());
    wait_leg_field(TJ, tid, "state", "PREPARED", 1000); /* durable across the restart */
    cr_assert_eq(federation_restart(fed, HE), 0, "%s", federation_last_error());
    wait_leg_field(TJ, tid, "state", "ABORTED", 20000);
    /* HE answers TJ for the leg (TJ is its serials' origin) */
    Carbon__V1__QueryDecisionRequest q = CARBON__V1__QUERY_DECISION_REQUEST__INIT;
    char *ids[1] = {tid};
    q.region = "CN-TJ";
    q.n_transfer_ids = 1;
    q.transfer_ids = ids;
    ProtobufCMessage *resp = NULL;
    grpc_channel *as_tj = federation_channel(fed, HE, "CN-TJ-gateway");
    cr_assert_not_null(as_tj);
    cr_assert_eq(harness_channel_wait_ready(as_tj, 10000), 0);
    client_call(as_tj, "/carbon.v1.Federation/QueryDecision", &q.base,
                &carbon__v1__query_decision_response__descriptor, &resp, CALL_TIMEOUT_MS, &st);
    cr_assert_eq(st.code, GRPC_STATUS_OK, "QueryDecision: %s", st.details);
    Carbon__V1__QueryDecisionResponse *qr = (Carbon__V1__QueryDecisionResponse *)resp;
    cr_expect_eq(qr->decisions[0]->decision, CARBON__V1__DECISION__DECISION_ABORT,
                 "HE answered TJ %d", qr->decisions[0]->decision);
    protobuf_c_message_free_unpacked(resp, NULL);
    locks = tj_locks();
    cr_expect_str_eq(locks, "");
    free(locks);
    cr_expect_eq(audit_count(TJ, "origin-abort", tid), 1, "the lock was released more than once");
    wait_leg_field(HE, tid, "acked", "1", 20000);
    checker_clean();
}

/* Recovery at the origin: TJ dies at `failpoint` (after voting yes, before
 * its answer; or after applying the decision, before its acknowledgement),
 * is restarted, and the leg settles the same at HE, BJ and TJ: the lock
 * released once, the map moved at most once, HE's leg done only once TJ
 * acknowledged. */
static void origin_crash(const char *failpoint, const char *tj_event) {
    setenv("CARBON_FAILPOINT", failpoint, 1);
    start(3000);
    uint64_t f = setup();
    char tid[33];
    rc_new_id(tid);
    Carbon__V1__TransferResponse *tr = NULL;
    client_status_t st;
    cr_assert_eq(rc_transfer(reg(HE), tid, "he-c", "CN-BJ", "bj-b", "TJ-GT-01", 50, &tr, &st),
                 GRPC_STATUS_OK, "transfer: %s", st.details);
    int outcome = tr->transfer->outcome;
    protobuf_c_message_free_unpacked(&tr->base, NULL);
    for (int i = 0; i < 100 && proc_alive(federation_pid(fed, TJ)); i++) proc_sleep_ms(50);
    cr_assert(!proc_alive(federation_pid(fed, TJ)), "the failpoint did not fire");
    unsetenv("CARBON_FAILPOINT");
    proc_sleep_ms(1000);
    char *acked = leg_field(HE, tid, "acked");
    cr_expect_str_neq(acked, "1", "HE's leg was done without TJ's acknowledgement");
    free(acked);
    cr_assert_eq(federation_restart(fed, TJ), 0, "%s", federation_last_error());
    wait_leg_field(HE, tid, "acked", "1", 20000);
    wait_leg_field(TJ, tid, "state", outcome == COMMITTED ? "COMMITTED" : "ABORTED", 20000);
    char *locks = tj_locks(), *map = tj_map();
    cr_expect_str_eq(locks, "");
    /* at BJ; the recognition discount (the last 500 g) is cancelled there
     * once BJ's use report has arrived, which may be before or after now */
    char want[64], reported[128];
    snprintf(want, sizeof want, "%" PRIu64 ":%" PRIu64 ":CN-BJ:at", f, f + 4999);
    snprintf(reported, sizeof reported, "%" PRIu64 ":%" PRIu64 ":CN-BJ:at %" PRIu64 ":%" PRIu64
             ":CN-BJ:cancelled", f, f + 4499, f + 4500, f + 4999);
    int at_bj = strstr(map, want) != NULL || strstr(map, reported) != NULL;
    cr_expect(at_bj == (outcome == COMMITTED), "TJ's map '%s'", map);
    free(locks);
    free(map);
    cr_expect_eq(audit_count(TJ, tj_event, tid), 1);
    checker_clean();
    cr_expect_eq(model_check(), 0); /* the origin's recovery took only the model's steps */
}

Test(origin_third, origin_dies_after_voting) {
    /* HE waits for TJ's vote until the leg expires: PEER_UNAVAILABLE, ABORT */
    origin_crash("CN-TJ:origin.after_prepare", "origin-abort");
}

Test(origin_third, origin_dies_before_acknowledging) {
    origin_crash("CN-TJ:dest.after_decide", "origin-commit");
}

/* ---- the destination asks the origin (DESIGN §6 provenance) ------------------- */

/* The state ListInDoubt at region shows for tid, or "" when not listed
 * (into state, room 32). */
static void in_doubt_state(int region, const char *tid, char *state) {
    static const char *const certs[] = {"CN-TJ-operator", "CN-BJ-operator", "CN-HE-operator"};
    grpc_channel *op = federation_channel(fed, region, certs[region]);
    cr_assert_not_null(op);
    Carbon__V1__ListInDoubtRequest lr = CARBON__V1__LIST_IN_DOUBT_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    client_status_t st;
    client_call(op, "/carbon.v1.Operations/ListInDoubt", &lr.base,
                &carbon__v1__list_in_doubt_response__descriptor, &resp, CALL_TIMEOUT_MS, &st);
    cr_assert_eq(st.code, GRPC_STATUS_OK, "ListInDoubt: %s", st.details);
    const Carbon__V1__ListInDoubtResponse *l = (const Carbon__V1__ListInDoubtResponse *)resp;
    state[0] = '\0';
    for (size_t i = 0; i < l->n_legs; i++)
        if (strcmp(l->legs[i]->leg->transfer_id, tid) == 0) snprintf(state, 32, "%s", l->legs[i]->state);
    protobuf_c_message_free_unpacked(resp, NULL);
}

/* The destination leg of leg l at BJ (l as built for TJ, origin_only): BJ votes yes. */
static void prepare_at_bj(leg_buf_t *l) {
    char vote[64];
    client_status_t st;
    l->leg.origin_only = 0;
    cr_assert_eq(prepare_at(BJ, l, vote, &st), GRPC_STATUS_OK, "prepare at BJ: %s", st.details);
    cr_assert_str_eq(vote, "Y", "BJ voted '%s'", vote);
    l->leg.origin_only = 1;
}

/* A COMMIT at BJ that TJ denies: answered HEURISTIC_MIXED (ABORT held),
 * nothing credited, the leg listed ORIGIN_DENIED, one origin-denied entry. */
static void commit_denied(const char *tid, uint64_t bj0) {
    int mixed = 0;
    cr_expect_eq(decide_at(BJ, tid, 1, &mixed), 'A');
    cr_expect(mixed, "the denied COMMIT is not answered heuristic_mixed");
    cr_expect_eq(decide_at(BJ, tid, 1, NULL), 'A'); /* replayed: nothing more */
    cr_expect_eq(rc_total_g(reg(BJ), "bj-b"), bj0, "BJ credited TJ serials TJ did not let go");
    wait_leg_field(BJ, tid, "state", "PREPARED", 1000); /* a pending credit, not spendable */
    wait_leg_field(BJ, tid, "heuristic_outcome", "ORIGIN_DENIED", 1000);
    wait_leg_field(BJ, tid, "origin_denied", "CN-TJ", 1000);
    cr_expect_eq(audit_count(BJ, "origin-denied", tid), 1);
    char state[32];
    in_doubt_state(BJ, tid, state);
    cr_expect_str_eq(state, "HEURISTIC_MIXED", "BJ lists %s as '%s'", tid, state);
}

/* Hostile: CN-HE's certificate against CN-BJ as the destination of TJ
 * serials. Before ConfirmOrigin BJ credited both legs. */
Test(origin_third, hostile_source_third_serials_not_credited) {
    start(20000);
    uint64_t f = setup(); /* f..f+9999 at CN-HE in TJ's map */
    read_digests();
    char *map0 = tj_map();
    uint64_t bj0 = rc_total_g(reg(BJ), "bj-b");
    leg_buf_t l;
    char never[33], split[33];
    rc_new_id(never);
    rc_new_id(split);
    /* TJ serials sent to BJ without a Prepare at TJ, then COMMIT */
    leg_make(&l, never, "CN-BJ/bj-b", f, f + 999);
    prepare_at_bj(&l);
    commit_denied(never, bj0);
    /* prepared at both; ABORT to TJ, COMMIT to BJ */
    leg_make(&l, split, "CN-BJ/bj-b", f + 1000, f + 1999);
    vote_is(&l, "Y");
    prepare_at_bj(&l);
    cr_expect_eq(decide(split, 0), 'A');
    commit_denied(split, bj0);
    char *map1 = tj_map(), *locks = tj_locks();
    cr_expect_str_eq(map1, map0, "TJ's map changed: '%s'", map1);
    cr_expect_str_eq(locks, "", "TJ's locks: '%s'", locks);
    free(map1);
    free(locks);
    /* an ABORT from the source drops the pending credit: source and origin agree */
    cr_expect_eq(decide_at(BJ, split, 0, NULL), 'A');
    wait_leg_field(BJ, split, "state", "ABORTED", 1000);
    char state[32];
    in_doubt_state(BJ, split, state);
    cr_expect_str_eq(state, "", "an aborted leg is still listed as '%s'", state);
    cr_expect_eq(rc_total_g(reg(BJ), "bj-b"), bj0);
    free(map0);
}

/* The origin slow to get its decision: BJ applies the COMMIT only once TJ
 * has committed the same leg, and then credits it. */
Test(origin_third, destination_waits_for_the_origin) {
    start(20000);
    uint64_t f = setup();
    read_digests();
    uint64_t bj0 = rc_total_g(reg(BJ), "bj-b");
    leg_buf_t l;
    char tid[33];
    rc_new_id(tid);
    leg_make(&l, tid, "CN-BJ/bj-b", f, f + 999);
    vote_is(&l, "Y"); /* TJ prepared and locked */
    prepare_at_bj(&l);
    int mixed = 1;
    cr_expect_eq(decide_at(BJ, tid, 1, &mixed), 'U', "BJ applied a COMMIT TJ has not confirmed");
    cr_expect(!mixed);
    cr_expect_eq(rc_total_g(reg(BJ), "bj-b"), bj0);
    wait_leg_field(BJ, tid, "state", "PREPARED", 1000);
    wait_leg_field(BJ, tid, "heuristic_outcome", "", 1000);
    cr_expect_eq(decide(tid, 1), 'C'); /* TJ gets its decision */
    cr_expect_eq(decide_at(BJ, tid, 1, &mixed), 'C');
    cr_expect(!mixed);
    wait_leg_field(BJ, tid, "state", "COMMITTED", 1000);
    cr_expect_eq(rc_total_g(reg(BJ), "bj-b"), bj0 + l.leg.credited_g);
    /* BJ's use report (the 100 g discount cancelled) may reach TJ before
     * or after this point; the map is compared once it has */
    wait_reports_applied();
    char *map = tj_map(), want[192];
    snprintf(want, sizeof want,
             "%" PRIu64 ":%" PRIu64 ":CN-BJ:at %" PRIu64 ":%" PRIu64 ":CN-BJ:cancelled %" PRIu64 ":%" PRIu64
             ":CN-HE:at",
             f, f + 899, f + 900, f + 999, f + 1000, f + 9999);
    cr_expect_str_eq(map, want, "TJ's map '%s', want '%s'", map, want);
    free(map);
    cr_expect_eq(audit_count(BJ, "origin-denied", tid), 0);
}

/* A forced decision at BJ (ResolveInDoubt as CN-BJ's operator): COMMIT if
 * commit, else ABORT; the status into st. */
static void force_decision(const char *tid, int commit, client_status_t *st) {
    grpc_channel *op = federation_channel(fed, BJ, "CN-BJ-operator");
    cr_assert_not_null(op);
    Carbon__V1__ResolveInDoubtRequest rr = CARBON__V1__RESOLVE_IN_DOUBT_REQUEST__INIT;
    rr.transfer_id = (char *)tid;
    rr.decision = commit ? CARBON__V1__DECISION__DECISION_COMMIT : CARBON__V1__DECISION__DECISION_ABORT;
    rr.reason = "test: the coordinator never answers";
    ProtobufCMessage *resp = NULL;
    client_call(op, "/carbon.v1.Operations/ResolveInDoubt", &rr.base,
                &carbon__v1__resolve_in_doubt_response__descriptor, &resp, CALL_TIMEOUT_MS, st);
    if (resp != NULL) protobuf_c_message_free_unpacked(resp, NULL);
}

/* Forces leg tid at BJ (commit or abort) once the guards allow it (first
 * NOT_EXPIRED, then HEURISTIC_TOO_EARLY), within 20 s; the last status
 * into st. */
static void force_when_allowed(const char *tid, int commit, client_status_t *st) {
    for (int waited = 0; waited < 20000; waited += 250) {
        force_decision(tid, commit, st);
        if (st->code != GRPC_STATUS_FAILED_PRECONDITION || strstr(st->details, "ORIGIN_NOT_CONFIRMED") != NULL ||
            strstr(st->details, "COORDINATOR_ANSWERS") != NULL)
            break;
        proc_sleep_ms(250);
    }
}

/* A federation whose operators may force a leg 1 s after its coordinator
 * stopped answering; a source (CN-HE's certificate) prepares TJ serials at
 * TJ (which votes yes) and at BJ under tid, expiring in 2 s, and never
 * decides. Returns bj-b's grams before. */
static uint64_t prepared_unanswered(char tid[33]) {
    start_ini(20000, "[limits]\nheuristic_after_ms = 1000\n");
    uint64_t f = setup();
    read_digests();
    uint64_t bj0 = rc_total_g(reg(BJ), "bj-b");
    leg_buf_t l;
    rc_new_id(tid);
    leg_make(&l, tid, "CN-BJ/bj-b", f, f + 999);
    l.leg.expiry_unix_ms = (uint64_t)time(NULL) * 1000 + 2000;
    vote_is(&l, "Y");
    prepare_at_bj(&l);
    return bj0;
}

/* A source (CN-HE's certificate) prepares TJ serials at TJ and at BJ and
 * never decides (HE's gateway has no record: recovery's QueryDecision gets
 * UNKNOWN). Past the expiry and heuristic_after_ms an operator at BJ may
 * force the leg, but not to COMMIT while TJ has not committed it:
 * ORIGIN_NOT_CONFIRMED, nothing credited, the leg still prepared. */
Test(origin_third, forced_commit_needs_the_origin) {
    char tid[33];
    uint64_t bj0 = prepared_unanswered(tid);
    client_status_t st = {0};
    force_when_allowed(tid, 1, &st);
    cr_expect_eq(st.code, GRPC_STATUS_FAILED_PRECONDITION, "forced COMMIT: %d %s", st.code, st.details);
    cr_expect(strstr(st.details, "ORIGIN_NOT_CONFIRMED") != NULL, "%s", st.details);
    cr_expect_eq(rc_total_g(reg(BJ), "bj-b"), bj0, "a forced COMMIT credited TJ serials TJ did not let go");
    wait_leg_field(BJ, tid, "state", "PREPARED", 1000);
    wait_leg_field(BJ, tid, "heuristic", "", 1000);
    wait_leg_field(TJ, tid, "state", "PREPARED", 1000); /* TJ never decides alone */
}

/* A leg as prepared_unanswered; the source tells TJ (the origin) alone
 * its decision (origin_commits), then an operator at BJ forces the other
 * (forced_commit) once the guards allow it, and is refused: the status
 * into st; the leg still PREPARED, nothing credited. Returns bj-b's grams. */
static uint64_t origin_decided_then_forced(char tid[33], int origin_commits, int forced_commit,
                                           client_status_t *st) {
    uint64_t bj0 = prepared_unanswered(tid);
    cr_assert_eq(decide(tid, origin_commits), origin_commits ? 'C' : 'A'); /* to TJ only */
    wait_leg_field(TJ, tid, "state", origin_commits ? "COMMITTED" : "ABORTED", 1000);
    force_when_allowed(tid, forced_commit, st);
    cr_expect_eq(st->code, GRPC_STATUS_FAILED_PRECONDITION, "forced: %d %s", st->code, st->details);
    wait_leg_field(BJ, tid, "state", "PREPARED", 1000);
    cr_expect_eq(rc_total_g(reg(BJ), "bj-b"), bj0);
    return bj0;
}

/* TJ (the origin) got the source's ABORT: a forced COMMIT at BJ is refused
 * ORIGIN_NOT_CONFIRMED and changes nothing. Before, the store marked the
 * leg ORIGIN_DENIED, listed it HEURISTIC_MIXED, took it out of the legs
 * waiting for their source and wrote an 'origin-denied' entry saying the
 * source sent COMMIT, though only the refused call had. */
Test(origin_third, a_forced_commit_the_origin_denies_changes_nothing) {
    char tid[33];
    client_status_t st = {0};
    origin_decided_then_forced(tid, 0, 1, &st);
    cr_expect(strstr(st.details, "ORIGIN_NOT_CONFIRMED") != NULL, "%s", st.details);
    cr_expect(strstr(st.details, "denies") != NULL, "%s", st.details);
    wait_leg_field(BJ, tid, "heuristic_outcome", "", 1000);
    cr_expect_eq(audit_count(BJ, "origin-denied", tid), 0, "a refused call wrote an origin-denied entry");
    char *mixed = redis_text(BJ, "ZSCORE %s %s", STORE_KEY_LEGS_MIXED, tid);
    cr_expect_str_eq(mixed, "", "a refused call listed the leg HEURISTIC_MIXED");
    free(mixed);
    /* what the operator may do instead: force the ABORT the origin holds */
    force_decision(tid, 0, &st);
    cr_expect_eq(st.code, GRPC_STATUS_OK, "forced ABORT: %s", st.details);
    wait_leg_field(BJ, tid, "state", "ABORTED", 1000);
}

/* TJ (the origin) got the source's COMMIT, and its map places the serials
 * at BJ: a forced ABORT at BJ is refused COORDINATOR_ANSWERS and changes
 * nothing, and a forced COMMIT, which TJ confirms, credits bj-b. Before,
 * the ABORT went through: BJ dropped the pending credit while TJ's map
 * placed the serials at BJ, and no region held them. */
Test(origin_third, a_forced_abort_the_origin_committed_is_refused) {
    char tid[33];
    client_status_t st = {0};
    uint64_t bj0 = origin_decided_then_forced(tid, 1, 0, &st);
    cr_expect(strstr(st.details, "COORDINATOR_ANSWERS") != NULL &&
                  strstr(st.details, "the origin of the leg's serials committed") != NULL,
              "%s", st.details);
    wait_leg_field(BJ, tid, "heuristic", "", 1000);
    force_decision(tid, 1, &st);
    cr_expect_eq(st.code, GRPC_STATUS_OK, "forced COMMIT, the origin confirming: %s", st.details);
    wait_leg_field(BJ, tid, "state", "COMMITTED", 1000);
    cr_expect_gt(rc_total_g(reg(BJ), "bj-b"), bj0);
}

/* Field f of leg tid at BJ, as a number (0 if absent). */
static uint64_t bj_leg_u64(const char *tid, const char *f) {
    char key[80];
    snprintf(key, sizeof key, "%s%s%s", STORE_KEY_LEG_PREFIX, tid, STORE_KEY_LEG_SUFFIX);
    char *v = redis_text(BJ, "HGET %s %s", key, f);
    uint64_t n = strtoull(v, NULL, 10);
    free(v);
    return n;
}

/* The coordinator fails recovery's questions for more than
 * heuristic_after_ms (1 s), then answers COMMIT, which waits for TJ (the
 * origin has not decided). An operator's forced ABORT right after is
 * refused HEURISTIC_TOO_EARLY: the failures before the answer no longer
 * count. Before, they did, and the ABORT was forced against the COMMIT
 * just heard. */
Test(origin_third, an_answer_from_the_coordinator_restarts_the_doubt_window) {
    char tid[33];
    prepared_unanswered(tid);
    uint64_t expiry_ms = bj_leg_u64(tid, "expiry_ms");
    for (int waited = 0; waited < 20000; waited += 100) {
        uint64_t first = bj_leg_u64(tid, "doubt_first_ms"), last = bj_leg_u64(tid, "doubt_last_ms");
        if (first > 0 && last >= first + 1500 && (uint64_t)time(NULL) * 1000 > expiry_ms + 500) break;
        proc_sleep_ms(100);
    }
    cr_assert_geq(bj_leg_u64(tid, "doubt_last_ms"), bj_leg_u64(tid, "doubt_first_ms") + 1500,
                  "recovery recorded no 1.5 s of failed questions");
    int mixed = 1;
    cr_assert_eq(decide_at(BJ, tid, 1, &mixed), 'U', "the COMMIT must wait for TJ");
    client_status_t st = {0};
    force_decision(tid, 0, &st);
    cr_expect_eq(st.code, GRPC_STATUS_FAILED_PRECONDITION, "forced ABORT: %d %s", st.code, st.details);
    cr_expect(strstr(st.details, "HEURISTIC_TOO_EARLY") != NULL, "%s", st.details);
    wait_leg_field(BJ, tid, "state", "PREPARED", 1000);
    wait_leg_field(BJ, tid, "heuristic", "", 1000);
}

/* ---- closing an ORIGIN_DENIED leg; ABORT to D and COMMIT to X ----------------- */

/* `gwctl resolve --transfer tid HOW --reason reason` at BJ as the CN-BJ
 * certificate of role; returns gwctl's exit status, stderr into *err. */
static int resolve_bj(const char *role, const char *tid, const char *how, const char *reason, char **err) {
    char target[64], cert[512], key[512], ca[512];
    snprintf(target, sizeof target, "127.0.0.1:%d", federation_port(fed, BJ));
    snprintf(cert, sizeof cert, "%s/CN-BJ-%s.crt", harness_pki_dir(), role);
    snprintf(key, sizeof key, "%s/CN-BJ-%s.key", harness_pki_dir(), role);
    snprintf(ca, sizeof ca, "%s/ca.crt", harness_pki_dir());
    const char *argv[] = {BINARY_DIR "/gwctl", "resolve", "--transfer", tid, how, "--reason", reason,
                          "--target", target, "--cert", cert, "--key", key, "--ca", ca, NULL};
    int status = -1;
    char *out = NULL;
    cr_assert_eq(harness_run(argv, 60000, &status, &out, err), 0, "gwctl did not run");
    free(out);
    return status;
}

/* The leg's fields and legs:mixed at BJ, as text (what a refusal must not change). */
static char *bj_leg_state(const char *tid) {
    char key[80];
    snprintf(key, sizeof key, "%s%s%s", STORE_KEY_LEG_PREFIX, tid, STORE_KEY_LEG_SUFFIX);
    char *leg = redis_text(BJ, "HGETALL %s", key, NULL), *mixed = redis_text(BJ, "ZRANGE %s 0 -1", STORE_KEY_LEGS_MIXED, NULL);
    char *acct = redis_text(BJ, "HGETALL %s", STORE_KEY_ACCOUNT_PREFIX "bj-b" STORE_KEY_ACCOUNT_INFO_SUFFIX, NULL);
    char *inflight = redis_text(BJ, "HGET %s %s", STORE_KEY_PEER_INFLIGHT, "CN-HE");
    size_t n = strlen(leg) + strlen(mixed) + strlen(acct) + strlen(inflight) + 8;
    char *all = malloc(n);
    snprintf(all, n, "%s | %s | %s | %s", leg, mixed, acct, inflight);
    free(leg), free(mixed), free(acct), free(inflight);
    return all;
}

/* A source (CN-HE's certificate) prepares TJ serials at TJ and at BJ, sends
 * ABORT to TJ and COMMIT to BJ: BJ holds the leg ORIGIN_DENIED. An operator
 * at BJ closes it with `gwctl resolve --close-denied`: a bad reason, the
 * wrong action (--compensate) and another role are refused and change
 * nothing; the close drops the pending credit (nothing was ever credited),
 * the leg ends ABORTED (reason ORIGIN_DENIED, outcome CLOSED, the operator
 * kept), one audited 'heuristic' CLOSED entry, no longer listed; a second
 * close is refused; the source's later COMMIT is answered HEURISTIC_MIXED,
 * its ABORT agrees. `gwctl audit verify` replays BJ's log (the pending
 * dropped) and `gwctl audit model-check` accepts the close. (Before: no
 * operator action closed the leg, which stayed listed for ever.) */
Test(origin_third, an_operator_closes_an_origin_denied_leg) {
    start(20000);
    uint64_t f = setup();
    read_digests();
    uint64_t bj0 = rc_total_g(reg(BJ), "bj-b");
    leg_buf_t l;
    char tid[33];
    rc_new_id(tid);
    leg_make(&l, tid, "CN-BJ/bj-b", f, f + 999);
    vote_is(&l, "Y");
    prepare_at_bj(&l);
    cr_expect_eq(decide(tid, 0), 'A');
    commit_denied(tid, bj0);
    /* the COMMIT sent again is answered from BJ's record: the denial is
     * final, TJ is not asked again (before: once per Decide, on a worker) */
    long long asked = hgetall_calls(TJ);
    for (int i = 0; i < 5; i++) cr_expect_eq(decide_at(BJ, tid, 1, NULL), 'A');
    cr_expect_lt(hgetall_calls(TJ) - asked, 5, "5 re-sent COMMITs made BJ ask TJ %lld times",
                 hgetall_calls(TJ) - asked);
    char *before = bj_leg_state(tid), *err = NULL;
    cr_expect_eq(resolve_bj("operator", tid, "--close-denied", "short", &err), 4, "a 5-byte reason: %s", err);
    free(err);
    cr_expect_eq(resolve_bj("operator", tid, "--compensate", "INC-7: origin denied the leg", &err), 4,
                 "--compensate of a denied leg: %s", err);
    cr_expect(err != NULL && strstr(err, "BAD_DECISION") != NULL, "%s", err);
    free(err);
    cr_expect_eq(resolve_bj("registry", tid, "--close-denied", "INC-7: origin denied the leg", &err), 4,
                 "as the registry role: %s", err);
    free(err);
    char *after = bj_leg_state(tid);
    cr_expect_str_eq(after, before, "a refused close changed BJ's store");
    free(after);
    free(before);
    cr_assert_eq(resolve_bj("operator", tid, "--close-denied", "INC-7: origin denied the leg", &err), 0, "%s", err);
    free(err);
    wait_leg_field(BJ, tid, "state", "ABORTED", 1000);
    wait_leg_field(BJ, tid, "reason", "ORIGIN_DENIED", 1000);
    wait_leg_field(BJ, tid, "heuristic_outcome", "CLOSED", 1000);
    wait_leg_field(BJ, tid, "compensate_reason", "INC-7: origin denied the leg", 1000);
    char *by = leg_field(BJ, tid, "compensated_by");
    cr_expect(strstr(by, "CN-BJ") != NULL, "closed by '%s'", by);
    free(by);
    char state[32];
    in_doubt_state(BJ, tid, state);
    cr_expect_str_eq(state, "", "a closed leg is still listed as '%s'", state);
    char *mixed = redis_text(BJ, "ZRANGE %s 0 -1", STORE_KEY_LEGS_MIXED, NULL);
    cr_expect_str_eq(mixed, "", "legs:mixed: '%s'", mixed);
    free(mixed);
    char *pending = redis_text(BJ, "HGET %s %s", STORE_KEY_ACCOUNT_PREFIX "bj-b" STORE_KEY_ACCOUNT_INFO_SUFFIX, "pending_g");
    cr_expect(strcmp(pending, "0") == 0 || strcmp(pending, "") == 0, "bj-b pending_g '%s'", pending);
    free(pending);
    cr_expect_eq(rc_total_g(reg(BJ), "bj-b"), bj0, "the close credited something");
    cr_expect_eq(audit_count(BJ, "heuristic", tid), 1);
    cr_expect_eq(resolve_bj("operator", tid, "--close-denied", "INC-7: origin denied the leg", &err), 4,
                 "closed twice: %s", err);
    free(err);
    int m = 0;
    cr_expect_eq(decide_at(BJ, tid, 1, &m), 'A');
    cr_expect(m, "the source's COMMIT after the close is not answered HEURISTIC_MIXED");
    cr_expect_eq(decide_at(BJ, tid, 0, &m), 'A');
    cr_expect(!m);
    cr_expect_eq(rc_total_g(reg(BJ), "bj-b"), bj0);
    cr_expect_eq(audit_verify("CN-BJ"), 0, "gwctl audit verify CN-BJ");
    /* the model check reports the hostile source (CN-HE keeps no hold: 3
     * findings at TJ and BJ's prepares and TJ's abort), nothing of BJ's
     * origin-denied or of the operator's close */
    char *mc = NULL;
    cr_expect_eq(model_check_text(&mc), 1, "gwctl audit model-check");
    cr_expect(mc != NULL && strstr(mc, "FOUND 3 STEPS") != NULL && strstr(mc, "(heuristic)") == NULL &&
                  strstr(mc, "(origin-denied)") == NULL, "model-check: %s", mc);
    free(mc);
}

/* The same denial after an operator at BJ forced the leg to ABORT while its
 * source (CN-HE's certificate) did not answer: the forced ABORT drops the
 * pending credit; the source then sends ABORT to TJ and COMMIT to BJ, and
 * TJ denies it, so BJ's leg is ABORTED and ORIGIN_DENIED, listed. `gwctl
 * resolve --close` closes it: outcome CLOSED, no longer listed nor in
 * legs:mixed, nothing dropped a second time (bj-b's info and CN-HE's legs
 * in flight as before), one more 'heuristic' entry; a second close is
 * refused. `gwctl audit verify` and `model-check` accept it. (Before: the
 * close was refused NOT_MIXED, and nothing else closed the leg: it stayed
 * listed and counted for ever.) */
Test(origin_third, an_operator_closes_a_forced_abort_the_origin_denied) {
    char tid[33];
    uint64_t bj0 = prepared_unanswered(tid);
    client_status_t st = {0};
    force_when_allowed(tid, 0, &st);
    cr_assert_eq(st.code, GRPC_STATUS_OK, "forced ABORT: %d %s", st.code, st.details);
    wait_leg_field(BJ, tid, "state", "ABORTED", 1000);
    cr_expect_eq(decide(tid, 0), 'A');
    int m = 0;
    cr_expect_eq(decide_at(BJ, tid, 1, &m), 'A');
    cr_expect(m, "the denied COMMIT is not answered heuristic_mixed");
    wait_leg_field(BJ, tid, "heuristic_outcome", "ORIGIN_DENIED", 1000);
    char state[32];
    in_doubt_state(BJ, tid, state);
    cr_assert_str_eq(state, "HEURISTIC_MIXED", "BJ lists %s as '%s'", tid, state);
    char *info0 = redis_text(BJ, "HGETALL %s", STORE_KEY_ACCOUNT_PREFIX "bj-b" STORE_KEY_ACCOUNT_INFO_SUFFIX, NULL);
    char *inflight0 = redis_text(BJ, "HGET %s %s", STORE_KEY_PEER_INFLIGHT, "CN-HE");
    int heuristic0 = audit_count(BJ, "heuristic", tid);
    char *err = NULL;
    cr_expect_eq(resolve_bj("operator", tid, "--compensate", "INC-8: origin denied a forced abort", &err), 4,
                 "--compensate of a denied leg: %s", err);
    cr_expect(err != NULL && strstr(err, "BAD_DECISION") != NULL, "%s", err);
    free(err);
    cr_assert_eq(resolve_bj("operator", tid, "--close", "INC-8: origin denied a forced abort", &err), 0, "%s", err);
    free(err);
    wait_leg_field(BJ, tid, "state", "ABORTED", 1000);
    wait_leg_field(BJ, tid, "heuristic_outcome", "CLOSED", 1000);
    wait_leg_field(BJ, tid, "compensate_reason", "INC-8: origin denied a forced abort", 1000);
    in_doubt_state(BJ, tid, state);
    cr_expect_str_eq(state, "", "a closed leg is still listed as '%s'", state);
    char *mixed = redis_text(BJ, "ZRANGE %s 0 -1", STORE_KEY_LEGS_MIXED, NULL);
    cr_expect_str_eq(mixed, "", "legs:mixed: '%s'", mixed);
    free(mixed);
    char *info1 = redis_text(BJ, "HGETALL %s", STORE_KEY_ACCOUNT_PREFIX "bj-b" STORE_KEY_ACCOUNT_INFO_SUFFIX, NULL);
    char *inflight1 = redis_text(BJ, "HGET %s %s", STORE_KEY_PEER_INFLIGHT, "CN-HE");
    cr_expect_str_eq(info1, info0, "the close changed bj-b's pending grams again");
    cr_expect_str_eq(inflight1, inflight0, "the close changed CN-HE's legs in flight again");
    free(info0), free(info1), free(inflight0), free(inflight1);
    cr_expect_eq(rc_total_g(reg(BJ), "bj-b"), bj0, "the close credited something");
    cr_expect_eq(audit_count(BJ, "heuristic", tid), heuristic0 + 1);
    cr_expect_eq(resolve_bj("operator", tid, "--close", "INC-8: origin denied a forced abort", &err), 4,
                 "closed twice: %s", err);
    cr_expect(err != NULL && strstr(err, "NOT_MIXED") != NULL, "%s", err);
    free(err);
    cr_expect_eq(federation_log_count(fed, BJ, "\"origin_denied_closed\""), 1);
    cr_expect_eq(decide_at(BJ, tid, 1, &m), 'A');
    cr_expect(m, "the source's COMMIT after the close is not answered HEURISTIC_MIXED");
    cr_expect_eq(audit_verify("CN-BJ"), 0, "gwctl audit verify CN-BJ");
    char *mc = NULL;
    /* the hostile source's 3 findings (as above), nothing of BJ's forced
     * ABORT, its origin-denied or the operator's close */
    cr_expect_eq(model_check_text(&mc), 1, "gwctl audit model-check");
    cr_expect(mc != NULL && strstr(mc, "FOUND 3 STEPS") != NULL && strstr(mc, "(heuristic)") == NULL &&
                  strstr(mc, "(origin-denied)") == NULL && strstr(mc, "(resolve)") == NULL,
              "model-check: %s", mc);
    free(mc);
}

/* The inverse split: the source sends COMMIT to the origin TJ and ABORT to
 * the destination BJ. TJ's map places the range at BJ (it committed the
 * move), BJ drops the pending credit: no credit is created or duplicated
 * (BJ's account and HE's are as before; nothing pending), and the checker
 * reports TJ's map (it places the serials at BJ, which does not hold
 * them). The serials were the source's own holding to lose. */
Test(origin_third, abort_to_destination_commit_to_origin_creates_nothing) {
    start(20000);
    uint64_t f = setup();
    read_digests();
    uint64_t bj0 = rc_total_g(reg(BJ), "bj-b"), he0 = rc_total_g(reg(HE), "he-c");
    leg_buf_t l;
    char tid[33];
    rc_new_id(tid);
    leg_make(&l, tid, "CN-BJ/bj-b", f, f + 999);
    vote_is(&l, "Y");
    prepare_at_bj(&l);
    cr_expect_eq(decide(tid, 1), 'C'); /* TJ: COMMIT, its map moves HE -> BJ */
    int m = 1;
    cr_expect_eq(decide_at(BJ, tid, 0, &m), 'A');
    cr_expect(!m);
    wait_leg_field(BJ, tid, "state", "ABORTED", 1000);
    wait_leg_field(TJ, tid, "state", "COMMITTED", 1000);
    char *map = tj_map(), want[64];
    snprintf(want, sizeof want, "%" PRIu64 ":%" PRIu64 ":CN-BJ:at", f, f + 999);
    cr_expect(strstr(map, want) != NULL, "TJ's map '%s' lacks '%s'", map, want);
    free(map);
    cr_expect_eq(rc_total_g(reg(BJ), "bj-b"), bj0, "BJ credited serials its source aborted");
    cr_expect_eq(rc_total_g(reg(HE), "he-c"), he0);
    char *pending = redis_text(BJ, "HGET %s %s", STORE_KEY_ACCOUNT_PREFIX "bj-b" STORE_KEY_ACCOUNT_INFO_SUFFIX, "pending_g");
    cr_expect(strcmp(pending, "0") == 0 || strcmp(pending, "") == 0, "bj-b pending_g '%s'", pending);
    free(pending);
    checker_report_t *rep = rc_check(fed, 0);
    cr_assert_not_null(rep);
    char range[64];
    snprintf(range, sizeof range, "CN-TJ serials %" PRIu64 "-%" PRIu64 ": CN-TJ's map places them", f, f + 999);
    int reported = 0;
    for (uint64_t i = 0; i < rep->violations_n && i < CHECKER_VIOLATIONS_MAX; i++)
        if (strstr(rep->violations[i], range) != NULL && strstr(rep->violations[i], "CN-BJ") != NULL) reported = 1;
    cr_expect(reported, "the checker does not report TJ's map placing %s at CN-BJ (%" PRIu64 " violations)", range,
              rep->violations_n);
    free(rep);
}
