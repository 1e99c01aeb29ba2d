/* test_origin_map.c - the origin's map, two-party part (DESIGN §6
 * provenance; issue 15 item 1): CN-TJ records where its own serials are
 * abroad, and accepts them back only from the region its map places them
 * at, unlocked. Real gateways over real mutual TLS; the attacker is a client
 * holding CN-HE's (or CN-BJ's) real gateway certificate.
 *
 *   not_at_source_refused   HE sends home TJ serials that TJ exported to BJ:
 *                           voted no (SERIALS_NOT_AT_SOURCE), a COMMIT sent
 *                           anyway changes nothing. Before the map (e96392c~1)
 *                           TJ voted yes and credited them: minted credits.
 *   honest_homecoming       BJ sends them home: the map entry is gone, the
 *                           credits are at TJ.
 *   concurrent_homecomings  two homecomings of the same range from BJ: the
 *                           second is refused, the map is unchanged.
 *   partial_homecoming      part of an exported range comes home: the map
 *                           keeps the rest at BJ, split correctly.
 *   own_discount_recorded_at_the_commit
 *                           the discount of TJ's serials is cancelled at BJ
 *                           in TJ's map from TJ's commit, with no report.
 *   the_discount_is_reported_only_to_a_source_that_does_not_record_it
 *                           an older source (no source_records_own_discount
 *                           in its Prepare) still gets BJ's report. */
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
#define MAP_TEXT_MAX 4096

static federation_t *fed;

static void start(void) {
    grpc_lifetime_begin();
    federation_options_t o = {.regions_n = 3, .leg_expiry_ms = 20000, .recovery_interval_ms = 300};
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
}

static void stop_all(void) {
    federation_free(fed);
    fed = NULL;
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

TestSuite(origin_map, .fini = stop_all, .timeout = 300);

static grpc_channel *reg(int i) { return rc_registry(fed, i); }

/* A peer's gateway certificate talking Federation to region `to`. */
static grpc_channel *peer_to(int to, const char *region) {
    char base[40];
    snprintf(base, sizeof base, "%s-gateway", region);
    grpc_channel *ch = federation_channel(fed, to, base);
    cr_assert_not_null(ch);
    return ch;
}

static grpc_channel *peer_to_tj(const char *region) { return peer_to(TJ, region); }

static void open_ok(int region, const char *id) {
    client_status_t st;
    cr_assert_eq(rc_open(reg(region), id, &st), GRPC_STATUS_OK, "open %s: %s", id, st.details);
}

static void issue_ok(int region, const char *acct, const char *meth, uint64_t milli) {
    char iid[33], fp[64];
    rc_new_id(iid);
    snprintf(fp, sizeof fp, "omap-%s", iid);
    client_status_t st;
    cr_assert_eq(rc_issue(reg(region), iid, acct, meth, milli, fp, NULL, &st), GRPC_STATUS_OK,
                 "issue: %s", st.details);
}

static void setup_accounts(void) {
    open_ok(TJ, "tj-a");
    open_ok(TJ, "tj-b");
    open_ok(BJ, "bj-b");
    open_ok(HE, "he-c");
    issue_ok(TJ, "tj-a", "TJ-GT-01", 840000); /* 39,900 g */
    issue_ok(HE, "he-c", "HE-GT-01", 2000000);
}

/* ---- CN-TJ's store ---------------------------------------------------------- */

/* The members of a sorted set of TJ's store, in score order, joined by ' '. */
static void tj_zset(const char *key, char *out, size_t cap) {
    redisContext *c = redis_connect(federation_redis(fed, TJ));
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, "ZRANGE %s 0 -1", key);
    cr_assert(r != NULL && r->type == REDIS_REPLY_ARRAY);
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < r->elements; i++)
        n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%s", i ? " " : "", r->element[i]->str);
    cr_assert_lt(n, cap);
    freeReplyObject(r);
    redisFree(c);
}

/* TJ's map with adjacent entries of the same region and state merged (how
 * the map cuts its entries is its own business), "FIRST:LAST:REGION:STATE"
 * joined by ' '. */
static void tj_map(char *out) {
    char raw[MAP_TEXT_MAX];
    tj_zset(STORE_KEY_ORIGIN_MAP, raw, sizeof raw);
    uint64_t f = 0, l = 0;
    char where[64] = "";
    size_t n = 0;
    out[0] = '\0';
    for (char *save = NULL, *e = strtok_r(raw, " ", &save);; e = strtok_r(NULL, " ", &save)) {
        uint64_t ef = 0, el = 0;
        char ew[64] = "";
        if (e != NULL) cr_assert_eq(sscanf(e, "%" SCNu64 ":%" SCNu64 ":%63s", &ef, &el, ew), 3, "entry %s", e);
        if (e != NULL && where[0] != '\0' && ef == l + 1 && strcmp(ew, where) == 0) {
            l = el;
            continue;
        }
        if (where[0] != '\0')
            n += (size_t)snprintf(out + n, MAP_TEXT_MAX - n, "%s%" PRIu64 ":%" PRIu64 ":%s", n ? " " : "",
                                  f, l, where);
        if (e == NULL) break;
        f = ef, l = el;
        snprintf(where, sizeof where, "%s", ew);
    }
}

/* The integer reply of "cmd key" at region (ZCARD, HLEN...). */
static long long redis_count(int region, const char *cmd, const char *key) {
    redisContext *c = redis_connect(federation_redis(fed, region));
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, "%s %s", cmd, key);
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER, "%s %s", cmd, key);
    long long v = r->integer;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

/* Waits at most ms for key's ZCARD at region to reach 0; the last count. */
static long long wait_zcard_zero(int region, const char *key, long long ms) {
    long long left = redis_count(region, "ZCARD", key);
    for (long long until = proc_now_ms() + ms; left > 0 && proc_now_ms() < until;) {
        proc_sleep_ms(50);
        left = redis_count(region, "ZCARD", key);
    }
    return left;
}

/* TJ's store without the keys that expire (refusal records) and without the
 * keys gateways write on their own timers (federation_store_snapshot): what
 * a peer's messages could change for good. malloc'd. */
static char *tj_lasting_state(void) {
    /* TJ acknowledges its own transfers once BJ has answered their Decide,
     * after BJ credited them: waited for, so that no ack lands between
     * two states a test compares (at most 5 s; a leg left open stays so) */
    long long open_n = wait_zcard_zero(TJ, STORE_KEY_LEGS_OPEN, 5000);
    if (open_n != 0) fprintf(stderr, "tj_lasting_state: %lld of TJ's legs still open after 5 s\n", open_n);
    char *snap = federation_store_snapshot(fed, TJ);
    cr_assert_not_null(snap, "%s", federation_last_error());
    redisContext *c = redis_connect(federation_redis(fed, TJ));
    cr_assert_not_null(c);
    char *out = calloc(1, strlen(snap) + 1);
    cr_assert_not_null(out);
    size_t n = 0;
    for (char *line = strtok(snap, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char key[512];
        if (sscanf(line, "%511s", key) != 1 || strcmp(key, "KEYS") == 0) continue;
        redisReply *t = redisCommand(c, "PTTL %s", key);
        cr_assert_not_null(t);
        int lasting = t->type == REDIS_REPLY_INTEGER && t->integer == -1;
        freeReplyObject(t);
        if (lasting) n += (size_t)sprintf(out + n, "%s\n", line);
    }
    redisFree(c);
    free(snap);
    return out;
}

/* ---- transfers ---------------------------------------------------------------- */

typedef struct {
    uint64_t first, last;
} range_t;

/* A committed transfer through the Registry API; its one block's range. */
static range_t transfer_one_block(int from_region, const char *from, const char *to_region,
                                  const char *to, const char *meth, uint64_t units) {
    char tid[33];
    rc_new_id(tid);
    Carbon__V1__TransferResponse *tr = NULL;
    client_status_t st;
    cr_assert_eq(rc_transfer(reg(from_region), tid, from, to_region, to, meth, units, &tr, &st),
                 GRPC_STATUS_OK, "transfer: %s", st.details);
    cr_assert_eq(tr->transfer->outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED,
                 "transfer: %s", tr->transfer->reason);
    cr_assert_eq(tr->transfer->n_blocks, 1, "one block expected, got %zu", tr->transfer->n_blocks);
    range_t r = {tr->transfer->blocks[0]->serial_start, tr->transfer->blocks[0]->serial_end};
    protobuf_c_message_free_unpacked(&tr->base, NULL);
    int dst = strcmp(to_region, "CN-TJ") == 0 ? TJ : strcmp(to_region, "CN-BJ") == 0 ? BJ : HE;
    cr_assert_eq(rc_wait_arrival(reg(dst), tid, 10000), 0, "arrival of %s", tid);
    return r;
}

static struct {
    char src_digest[65], dst_digest[65];
} cat;

/* The catalog digests of a transfer from `from_region` to CN-TJ. */
static void read_digests(int from_region, const char *from) {
    Carbon__V1__QuoteResponse *q = NULL;
    client_status_t st;
    cr_assert_eq(rc_quote(reg(from_region), from, "CN-TJ", "TJ-GT-01", 1000, &q, &st),
                 GRPC_STATUS_OK, "quote: %s", st.details);
    snprintf(cat.src_digest, sizeof cat.src_digest, "%s", q->quote->source_catalog_digest);
    snprintf(cat.dst_digest, sizeof cat.dst_digest, "%s", q->quote->destination_catalog_digest);
    protobuf_c_message_free_unpacked(&q->base, NULL);
}

/* A leg from `source` (account "SOURCE/from") bringing TJ serials r home to
 * CN-TJ/to at ratio 1. */
typedef struct {
    Carbon__V1__Leg leg;
    Carbon__V1__CreditBlock b;
    Carbon__V1__CreditBlock *bp;
    char tid[33], to[40], from[40];
} leg_buf_t;

static void home_leg(leg_buf_t *l, const char *source, const char *from, const char *to, range_t r) {
    carbon__v1__leg__init(&l->leg);
    carbon__v1__credit_block__init(&l->b);
    rc_new_id(l->tid);
    snprintf(l->to, sizeof l->to, "CN-TJ/%s", to);
    snprintf(l->from, sizeof l->from, "%s/%s", source, from);
    l->b.origin_region = "CN-TJ";
    l->b.methodology_id = "TJ-GT-01";
    l->b.vintage_year = 2026;
    l->b.serial_start = r.first;
    l->b.serial_end = r.last;
    l->bp = &l->b;
    l->leg.transfer_id = l->tid;
    l->leg.from_account = l->from;
    l->leg.to_account = l->to;
    l->leg.n_blocks = 1;
    l->leg.blocks = &l->bp;
    l->leg.credited_g = r.last - r.first + 1;
    l->leg.discount_g = 0;
    l->leg.destination_methodology_id = "TJ-GT-01";
    l->leg.source_catalog_digest = cat.src_digest;
    l->leg.destination_catalog_digest = cat.dst_digest;
    l->leg.expiry_unix_ms = (uint64_t)time(NULL) * 1000 + 15000;
}

/* A Prepare of one leg from `source` to region `to`, saying whether the
 * source records the discount of its own serials at its commit; the vote
 * ("Y" or the reason). */
static void prepare_to(int to, const char *source, leg_buf_t *l, int records_own_discount, char vote[32]) {
    Carbon__V1__Leg *lp = &l->leg;
    Carbon__V1__PrepareRequest m = CARBON__V1__PREPARE_REQUEST__INIT;
    m.source_region = (char *)source;
    static uint64_t seq = 7000;
    m.batch_seq = ++seq;
    m.n_legs = 1;
    m.legs = &lp;
    m.source_records_own_discount = records_own_discount;
    ProtobufCMessage *resp = NULL;
    client_status_t st;
    client_call(peer_to(to, source), "/carbon.v1.Federation/Prepare", &m.base,
                &carbon__v1__prepare_response__descriptor, &resp, CALL_TIMEOUT_MS, &st);
    cr_assert_eq(st.code, GRPC_STATUS_OK, "prepare: %s", st.details);
    Carbon__V1__PrepareResponse *r = (Carbon__V1__PrepareResponse *)resp;
    cr_assert_eq(r->n_votes, 1);
    snprintf(vote, 32, "%s",
             r->votes[0]->vote == CARBON__V1__VOTE__VOTE_YES ? "Y" : r->votes[0]->reason);
    protobuf_c_message_free_unpacked(resp, NULL);
}

/* A Prepare of one leg from `source` to CN-TJ, as sources before
 * 2026-12-01 send it. */
static void prepare(const char *source, leg_buf_t *l, char vote[32]) { prepare_to(TJ, source, l, 0, vote); }

/* A Decide of one leg from `source` to region `to`. */
static void decide_to(int to, const char *source, const char *tid, int commit) {
    Carbon__V1__LegDecision d = CARBON__V1__LEG_DECISION__INIT;
    Carbon__V1__LegDecision *dp = &d;
    d.transfer_id = (char *)tid;
    d.decision = commit ? CARBON__V1__DECISION__DECISION_COMMIT : CARBON__V1__DECISION__DECISION_ABORT;
    Carbon__V1__DecideRequest m = CARBON__V1__DECIDE_REQUEST__INIT;
    m.source_region = (char *)source;
    m.batch_seq = 1;
    m.n_decisions = 1;
    m.decisions = &dp;
    ProtobufCMessage *resp = NULL;
    client_status_t st;
    client_call(peer_to(to, source), "/carbon.v1.Federation/Decide", &m.base,
                &carbon__v1__decide_response__descriptor, &resp, CALL_TIMEOUT_MS, &st);
    cr_assert_eq(st.code, GRPC_STATUS_OK, "decide: %s", st.details);
    if (resp != NULL) protobuf_c_message_free_unpacked(resp, NULL);
}

static void decide(const char *source, const char *tid, int commit) { decide_to(TJ, source, tid, commit); }

static void checker_clean(void) {
    checker_report_t *rep = rc_wait_settled(fed, SETTLE_TIMEOUT_MS);
    cr_assert_not_null(rep);
    uint64_t n = rep->violations_n;
    char first[CHECKER_TEXT_MAX];
    snprintf(first, sizeof first, "%s", rep->violations[0]);
    free(rep);
    cr_assert_eq(n, 0, "checker: %" PRIu64 " violations, first: %s", n, first);
}

/* Waits (at most 10 s: use reports travel with recovery) until TJ's map is
 * want, then checks it. */
static void map_expect(const char *want) {
    char map[MAP_TEXT_MAX];
    long long until = proc_now_ms() + 10000;
    for (tj_map(map); strcmp(map, want) != 0 && proc_now_ms() < until; tj_map(map))
        proc_sleep_ms(100);
    cr_expect_str_eq(map, want, "TJ's map: \"%s\", want \"%s\"", map, want);
}

/* What TJ's map says of an exported block's discount tail, cancelled at BJ
 * (since TJ's commit: own_discount_recorded_at_the_commit). */
#define TAIL_STATE "cancelled"

/* Appends "F:L:CN-BJ:STATE" to want (n: its length so far). */
static size_t want_add(char *want, size_t n, uint64_t f, uint64_t l, const char *state) {
    return n + (size_t)snprintf(want + n, MAP_TEXT_MAX - n, "%s%" PRIu64 ":%" PRIu64 ":CN-BJ:%s",
                                n ? " " : "", f, l, state);
}

/* ---- the tests ------------------------------------------------------------------- */

/* TJ exports `units` kg of tj-a to BJ's bj-b; the exported range in *r and
 * the grams BJ credited (the head of the range; the rest, the recognition
 * discount, is cancelled at BJ) in *head_g. */
static void export_to_bj(uint64_t units, range_t *r, uint64_t *head_g) {
    uint64_t b0 = rc_balance_g(reg(BJ), "bj-b", "TJ-GT-01");
    *r = transfer_one_block(TJ, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", units);
    *head_g = rc_balance_g(reg(BJ), "bj-b", "TJ-GT-01") - b0;
    cr_assert(*head_g >= 1 && *head_g <= r->last - r->first + 1);
}

/* TJ's map after export_to_bj: the head at BJ, the tail cancelled there. */
static void export_want(range_t r, uint64_t head_g, char *want) {
    size_t n = want_add(want, 0, r.first, r.first + head_g - 1, "at");
    if (r.first + head_g <= r.last) {
        if (strcmp(TAIL_STATE, "at") == 0) want_add(want, 0, r.first, r.last, "at");
        else want_add(want, n, r.first + head_g, r.last, TAIL_STATE);
    }
}

/* (a) TJ exports a range to BJ; HE, which never held it, prepares it home:
 * SERIALS_NOT_AT_SOURCE, and a COMMIT sent anyway changes nothing lasting
 * (map, serial index, accounts, legs). */
Test(origin_map, not_at_source_refused) {
    start();
    setup_accounts();
    range_t r;
    uint64_t head_g;
    export_to_bj(10, &r, &head_g);
    char want[MAP_TEXT_MAX];
    export_want(r, head_g, want);
    map_expect(want);
    read_digests(HE, "he-c");
    uint64_t b0 = rc_total_g(reg(TJ), "tj-b");
    char *before = tj_lasting_state();
    for (int round = 0; round < 2; round++) { /* round 1: the same attack replayed */
        leg_buf_t l;
        home_leg(&l, "CN-HE", "he-c", "tj-b", (range_t){r.first, r.first + head_g - 1});
        char vote[32];
        prepare("CN-HE", &l, vote);
        cr_expect_str_eq(vote, "SERIALS_NOT_AT_SOURCE", "round %d: voted %s", round, vote);
        decide("CN-HE", l.tid, 1);
    }
    cr_expect_eq(rc_total_g(reg(TJ), "tj-b"), b0, "tj-b was credited");
    char *after = tj_lasting_state();
    cr_expect_str_eq(after, before, "TJ's lasting state changed:\nbefore\n%s\nafter\n%s", before, after);
    free(before);
    free(after);
    map_expect(want);
    checker_clean();
}

/* (b) BJ sends what it holds of the range home honestly: the map has no
 * entry for it any more and the credits are at TJ. */
Test(origin_map, honest_homecoming) {
    start();
    setup_accounts();
    range_t r;
    uint64_t head_g;
    export_to_bj(10, &r, &head_g);
    uint64_t b0 = rc_total_g(reg(TJ), "tj-b");
    range_t back = transfer_one_block(BJ, "bj-b", "CN-TJ", "tj-b", "TJ-GT-01", head_g / 10);
    cr_expect(back.first == r.first && back.last == r.first + head_g - 1,
              "came home %" PRIu64 "-%" PRIu64, back.first, back.last);
    char want[MAP_TEXT_MAX] = "";
    if (head_g <= r.last - r.first) want_add(want, 0, r.first + head_g, r.last, TAIL_STATE);
    map_expect(want);
    cr_expect_eq(rc_total_g(reg(TJ), "tj-b"), b0 + head_g);
    cr_expect_eq(rc_balance_g(reg(BJ), "bj-b", "TJ-GT-01"), 0);
    checker_clean();
}

/* (c) Two homecomings of the same range from BJ, the first still prepared:
 * the second is refused; aborting the first leaves the map as it was. */
Test(origin_map, concurrent_homecomings) {
    start();
    setup_accounts();
    range_t r;
    uint64_t head_g;
    export_to_bj(10, &r, &head_g);
    char want[MAP_TEXT_MAX];
    export_want(r, head_g, want);
    map_expect(want);
    read_digests(BJ, "bj-b");
    char *before = tj_lasting_state();
    leg_buf_t one, two;
    home_leg(&one, "CN-BJ", "bj-b", "tj-b", (range_t){r.first, r.first + head_g - 1});
    home_leg(&two, "CN-BJ", "bj-b", "tj-a", (range_t){r.first, r.first + head_g - 1});
    char v1[32], v2[32];
    prepare("CN-BJ", &one, v1);
    prepare("CN-BJ", &two, v2);
    cr_expect_str_eq(v1, "Y");
    cr_expect(strcmp(v2, "SERIALS_OVERLAP") == 0 || strcmp(v2, "SERIALS_LOCKED") == 0,
              "the second homecoming voted %s", v2);
    decide("CN-BJ", two.tid, 1); /* refused: its COMMIT finds nothing */
    decide("CN-BJ", one.tid, 0); /* BJ still holds them: abort */
    map_expect(want);
    char idx[MAP_TEXT_MAX] = " ", part[64];
    tj_zset(STORE_KEY_SERIALS_PREFIX "CN-TJ", idx + 1, sizeof idx - 1);
    snprintf(part, sizeof part, " %" PRIu64 ":", r.first);
    cr_expect(strstr(idx, part) == NULL, "TJ's index holds %s again: %s", part, idx);
    cr_expect_eq(rc_total_g(reg(TJ), "tj-b"), 0);
    cr_expect_eq(rc_balance_g(reg(BJ), "bj-b", "TJ-GT-01"), head_g);
    free(before);
    checker_clean();
}

/* (d) Part of an exported range comes home: the map keeps the rest at BJ,
 * on both sides of the part; then the rest comes home too. */
Test(origin_map, partial_homecoming) {
    start();
    setup_accounts();
    range_t r;
    uint64_t head_g;
    export_to_bj(20, &r, &head_g);
    range_t back = transfer_one_block(BJ, "bj-b", "CN-TJ", "tj-b", "TJ-GT-01", 200);
    uint64_t head_last = r.first + head_g - 1;
    cr_assert(back.first >= r.first && back.last <= head_last && back.last - back.first + 1 == 2000,
              "came home %" PRIu64 "-%" PRIu64 " of %" PRIu64 "-%" PRIu64, back.first, back.last,
              r.first, head_last);
    char want[MAP_TEXT_MAX];
    size_t n = 0;
    if (back.first > r.first) n = want_add(want, n, r.first, back.first - 1, "at");
    if (strcmp(TAIL_STATE, "at") == 0 || head_last == r.last) {
        if (back.last < r.last) n = want_add(want, n, back.last + 1, r.last, "at");
    } else {
        if (back.last < head_last) n = want_add(want, n, back.last + 1, head_last, "at");
        n = want_add(want, n, head_last + 1, r.last, TAIL_STATE);
    }
    map_expect(want);
    /* the rest of the head comes home too: only the tail stays at BJ */
    transfer_one_block(BJ, "bj-b", "CN-TJ", "tj-b", "TJ-GT-01", (head_g - 2000) / 10);
    want[0] = '\0';
    if (head_last < r.last) want_add(want, 0, head_last + 1, r.last, TAIL_STATE);
    map_expect(want);
    checker_clean();
}

/* ---- use reports ---------------------------------------------------------------- */

/* The vintage report_use gives its blocks (the serials' own: 2026). */
static uint32_t report_vintage = 2026;

/* A ReportUse of one report from `reporter` to CN-TJ of TJ serials r (kind,
 * purpose); returns the status, and the outcome ('P' applied, 'D' already,
 * 'R' refused) with the reason in why. */
static grpc_status_code report_use(const char *reporter, const char *id, const char *kind,
                                   const char *purpose, const char *origin, range_t *r, size_t n,
                                   char *outcome, char why[64], client_status_t *st) {
    Carbon__V1__CreditBlock b[4];
    Carbon__V1__CreditBlock *bp[4];
    cr_assert(n >= 1 && n <= 4);
    for (size_t i = 0; i < n; i++) {
        carbon__v1__credit_block__init(&b[i]);
        b[i].origin_region = (char *)origin;
        b[i].methodology_id = strcmp(origin, "CN-TJ") == 0 ? "TJ-GT-01" : "HE-GT-01";
        b[i].vintage_year = report_vintage;
        b[i].serial_start = r[i].first;
        b[i].serial_end = r[i].last;
        bp[i] = &b[i];
    }
    Carbon__V1__UseReport u = CARBON__V1__USE_REPORT__INIT;
    Carbon__V1__UseReport *up = &u;
    u.report_id = (char *)id;
    u.kind = (char *)kind;
    u.purpose = (char *)purpose;
    u.n_blocks = n;
    u.blocks = bp;
    Carbon__V1__ReportUseRequest m = CARBON__V1__REPORT_USE_REQUEST__INIT;
    m.region = (char *)reporter;
    m.n_reports = 1;
    m.reports = &up;
    ProtobufCMessage *resp = NULL;
    client_call(peer_to_tj(reporter), "/carbon.v1.Federation/ReportUse", &m.base,
                &carbon__v1__report_use_response__descriptor, &resp, CALL_TIMEOUT_MS, st);
    *outcome = '\0';
    why[0] = '\0';
    if (st->code == GRPC_STATUS_OK) {
        Carbon__V1__ReportUseResponse *a = (Carbon__V1__ReportUseResponse *)resp;
        cr_assert_eq(a->n_answers, 1);
        cr_assert_str_eq(a->answers[0]->report_id, id);
        *outcome = a->answers[0]->outcome == CARBON__V1__USE_REPORT_OUTCOME__USE_REPORT_OUTCOME_APPLIED   ? 'P'
                   : a->answers[0]->outcome == CARBON__V1__USE_REPORT_OUTCOME__USE_REPORT_OUTCOME_ALREADY ? 'D'
                                                                                                          : 'R';
        snprintf(why, 64, "%s", a->answers[0]->reason);
    }
    if (resp != NULL) protobuf_c_message_free_unpacked(resp, NULL);
    return st->code;
}

/* BJ retires TJ serials it received: BJ reports the use, TJ's map says
 * retired at BJ, BJ's outbox empties; the same report sent again is
 * ALREADY and changes nothing; its id with other content is ID_REUSED. */
Test(origin_map, retirement_reported) {
    start();
    setup_accounts();
    range_t r;
    uint64_t head_g;
    export_to_bj(10, &r, &head_g);
    char rid[33];
    rc_new_id(rid);
    Carbon__V1__RetireResponse *rr = NULL;
    client_status_t st;
    cr_assert_eq(rc_retire(reg(BJ), rid, "bj-b", "TJ-GT-01", 300, &rr, &st), GRPC_STATUS_OK, "retire: %s",
                 st.details);
    cr_assert_eq(rr->n_blocks, 1);
    long long retired_ms = proc_now_ms();
    range_t used = {rr->blocks[0]->serial_start, rr->blocks[0]->serial_end};
    protobuf_c_message_free_unpacked(&rr->base, NULL);
    uint64_t head_last = r.first + head_g - 1;
    cr_assert(used.first >= r.first && used.last <= head_last && used.last - used.first + 1 == 3000);
    char want[MAP_TEXT_MAX];
    size_t n = 0;
    if (used.first > r.first) n = want_add(want, n, r.first, used.first - 1, "at");
    n = want_add(want, n, used.first, used.last, "retired");
    if (used.last < head_last) n = want_add(want, n, used.last + 1, head_last, "at");
    if (head_last < r.last) n = want_add(want, n, head_last + 1, r.last, "cancelled");
    map_expect(want);
    fprintf(stderr, "retirement_reported: TJ's map said retired at BJ %lld ms after BJ's Retire answered "
            "(recovery every 300 ms, map polled every 100 ms)\n", proc_now_ms() - retired_ms);
    /* TJ applies the report before it answers; BJ empties its outbox once
     * the answer is back, a moment after the map changed */
    cr_expect_eq(wait_zcard_zero(BJ, STORE_KEY_REPORTS_OUT_PREFIX "CN-TJ", 5000), 0, "BJ's outbox is not empty");
    cr_expect_eq(redis_count(TJ, "HLEN", STORE_KEY_REPORTS_IN_PREFIX "CN-BJ"), head_last < r.last ? 2 : 1);
    /* the same report again (as a re-send after a lost answer): ALREADY */
    char *before = tj_lasting_state();
    char outcome, why[64];
    cr_assert_eq(report_use("CN-BJ", rid, "retired", "voluntary_neutrality", "CN-TJ", &used, 1, &outcome, why, &st),
                 GRPC_STATUS_OK, "%s", st.details);
    cr_expect_eq(outcome, 'D', "a re-sent report: %c %s", outcome, why);
    /* the same id, other serials: ID_REUSED */
    range_t other = {used.last + 1, used.last + 1000};
    cr_assert_eq(report_use("CN-BJ", rid, "retired", "voluntary_neutrality", "CN-TJ", &other, 1, &outcome, why, &st),
                 GRPC_STATUS_OK, "%s", st.details);
    cr_expect(outcome == 'R' && strcmp(why, "ID_REUSED") == 0, "id reused: %c %s", outcome, why);
    char *after = tj_lasting_state();
    cr_expect_str_eq(after, before, "TJ's lasting state changed");
    free(before);
    free(after);
    map_expect(want);
    checker_clean();
}

/* A discount of TJ's own serials, TJ coordinating: TJ's map places the
 * tail cancelled at BJ as soon as TJ's Transfer answers COMMITTED (its
 * commit records it, with the report seen), BJ's outbox never holds a
 * report of it, and the report an older BJ would still send is ALREADY and
 * changes nothing. Before (bfcbbf4) BJ reported it after applying and TJ's
 * map said "at" until the report arrived. */
Test(origin_map, own_discount_recorded_at_the_commit) {
    start();
    setup_accounts();
    uint64_t b0 = rc_balance_g(reg(BJ), "bj-b", "TJ-GT-01");
    char tid[33];
    rc_new_id(tid);
    Carbon__V1__TransferResponse *tr = NULL;
    client_status_t st;
    cr_assert_eq(rc_transfer(reg(TJ), tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 10, &tr, &st), GRPC_STATUS_OK,
                 "transfer: %s", st.details);
    cr_assert_eq(tr->transfer->outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED);
    cr_assert_eq(tr->transfer->n_blocks, 1);
    range_t r = {tr->transfer->blocks[0]->serial_start, tr->transfer->blocks[0]->serial_end};
    protobuf_c_message_free_unpacked(&tr->base, NULL);
    char at_commit[MAP_TEXT_MAX];
    tj_map(at_commit);
    cr_assert_eq(rc_wait_arrival(reg(BJ), tid, 10000), 0, "arrival of %s", tid);
    uint64_t head_g = rc_balance_g(reg(BJ), "bj-b", "TJ-GT-01") - b0;
    cr_assert(head_g >= 1 && head_g < r.last - r.first + 1, "no discount: %" PRIu64 " g of %" PRIu64,
              head_g, r.last - r.first + 1);
    char want[MAP_TEXT_MAX];
    export_want(r, head_g, want);
    cr_expect_str_eq(at_commit, want, "TJ's map when its Transfer answered: \"%s\", want \"%s\"", at_commit, want);
    cr_expect_eq(redis_count(BJ, "ZCARD", STORE_KEY_REPORTS_OUT_PREFIX "CN-TJ"), 0, "BJ's outbox holds a report");
    cr_expect_eq(redis_count(TJ, "HLEN", STORE_KEY_REPORTS_IN_PREFIX "CN-BJ"), 1, "TJ has no report seen");
    char *before = tj_lasting_state();
    range_t tail = {r.first + head_g, r.last};
    char outcome, why[64];
    cr_assert_eq(report_use("CN-BJ", tid, "cancelled", "", "CN-TJ", &tail, 1, &outcome, why, &st), GRPC_STATUS_OK,
                 "%s", st.details);
    cr_expect_eq(outcome, 'D', "BJ's report of the discount: %c %s", outcome, why);
    char *after = tj_lasting_state();
    cr_expect_str_eq(after, before, "TJ's lasting state changed");
    free(before);
    free(after);
    checker_clean();
}

/* A leg of TJ serials from `first` on, as TJ's Quote of `units` kg from
 * tj-a to CN-BJ says (its debited_g serials; only TJ's certificate vouches
 * for them: BJ checks that it holds none of them), to CN-BJ/bj-b. The
 * digests are kept in l's own buffers. */
typedef struct {
    leg_buf_t l;
    char meth[32], src[65], dst[65];
} export_leg_t;

static void export_leg(export_leg_t *e, uint64_t units, uint64_t first) {
    Carbon__V1__QuoteResponse *q = NULL;
    client_status_t st;
    cr_assert_eq(rc_quote(reg(TJ), "tj-a", "CN-BJ", "TJ-GT-01", units, &q, &st), GRPC_STATUS_OK, "quote: %s",
                 st.details);
    cr_assert(q->quote->discount_g > 0, "no discount in the quote");
    home_leg(&e->l, "CN-TJ", "tj-a", "bj-b", (range_t){first, first + q->quote->debited_g - 1});
    snprintf(e->l.to, sizeof e->l.to, "CN-BJ/bj-b");
    snprintf(e->meth, sizeof e->meth, "%s", q->quote->destination_methodology_id);
    snprintf(e->src, sizeof e->src, "%s", q->quote->source_catalog_digest);
    snprintf(e->dst, sizeof e->dst, "%s", q->quote->destination_catalog_digest);
    e->l.leg.credited_g = q->quote->credited_g;
    e->l.leg.discount_g = q->quote->discount_g;
    e->l.leg.destination_methodology_id = e->meth;
    e->l.leg.source_catalog_digest = e->src;
    e->l.leg.destination_catalog_digest = e->dst;
    protobuf_c_message_free_unpacked(&q->base, NULL);
}

/* Whether BJ's outbox holds a use report to TJ named tid. */
static int bj_reports_to_tj(const char *tid) {
    redisContext *c = redis_connect(federation_redis(fed, BJ));
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, "ZSCORE %s %s", STORE_KEY_REPORTS_OUT_PREFIX "CN-TJ", tid);
    cr_assert(r != NULL && (r->type == REDIS_REPLY_NIL || r->type == REDIS_REPLY_STRING));
    int held = r->type == REDIS_REPLY_STRING;
    freeReplyObject(r);
    redisFree(c);
    return held;
}

/* BJ, applying the COMMIT of a discounted leg of its source's own serials,
 * reports the discount to the source only if the source's Prepare did not
 * say that it records it itself (source_records_own_discount: sources
 * before 2026-12-01, whose maps learn it only from the report). Fails on
 * daa691a (no report either way: an older source's map kept the tail "at"
 * BJ) and on bfcbbf4 (a report either way). */
Test(origin_map, the_discount_is_reported_only_to_a_source_that_does_not_record_it) {
    start();
    setup_accounts();
    export_leg_t older, newer;
    export_leg(&older, 10, 900000001);
    export_leg(&newer, 10, 900100001);
    char vote[32];
    prepare_to(BJ, "CN-TJ", &older.l, 0, vote);
    cr_assert_str_eq(vote, "Y");
    prepare_to(BJ, "CN-TJ", &newer.l, 1, vote);
    cr_assert_str_eq(vote, "Y");
    decide_to(BJ, "CN-TJ", older.l.tid, 1);
    decide_to(BJ, "CN-TJ", newer.l.tid, 1);
    cr_expect(bj_reports_to_tj(older.l.tid), "no report of the discount to a source that does not record it");
    cr_expect(!bj_reports_to_tj(newer.l.tid), "a report of the discount to a source that records it");
}

/* Hostile reports: HE reports TJ serials that are at BJ, or at home; BJ
 * reports serials it is sending home (locked at TJ); malformed reports.
 * Each is refused with its reason and TJ's lasting state does not change. */
Test(origin_map, hostile_reports_refused) {
    start();
    setup_accounts();
    range_t r;
    uint64_t head_g;
    export_to_bj(10, &r, &head_g);
    char want[MAP_TEXT_MAX];
    export_want(r, head_g, want);
    map_expect(want);
    range_t head = {r.first, r.first + head_g - 1};
    read_digests(BJ, "bj-b");
    leg_buf_t home;
    home_leg(&home, "CN-BJ", "bj-b", "tj-b", head);
    char vote[32];
    prepare("CN-BJ", &home, vote);
    cr_assert_str_eq(vote, "Y");
    char *before = tj_lasting_state();
    char id[33], outcome, why[64];
    client_status_t st;
    struct {
        const char *reporter, *kind, *purpose, *origin;
        range_t r[2];
        size_t n;
        grpc_status_code code;
        const char *reason;
    } cases[] = {
        {"CN-HE", "retired", "voluntary_neutrality", "CN-TJ", {head}, 1, GRPC_STATUS_OK, "USE_NOT_AT_REPORTER"},
        {"CN-HE", "cancelled", "", "CN-TJ", {{r.last + 1, r.last + 1000}}, 1, GRPC_STATUS_OK, "USE_NOT_AT_REPORTER"},
        {"CN-BJ", "retired", "compliance_offset", "CN-TJ", {head}, 1, GRPC_STATUS_OK, "SERIALS_LOCKED"},
        {"CN-BJ", "retired", "", "CN-TJ", {head}, 1, GRPC_STATUS_INVALID_ARGUMENT, "MALFORMED_REPORT"},
        {"CN-BJ", "lost", "", "CN-TJ", {head}, 1, GRPC_STATUS_INVALID_ARGUMENT, "MALFORMED_REPORT"},
        {"CN-BJ", "cancelled", "", "CN-HE", {head}, 1, GRPC_STATUS_INVALID_ARGUMENT, "MALFORMED_REPORT"},
        {"CN-BJ", "cancelled", "", "CN-TJ", {head, {head.last, head.last}}, 2, GRPC_STATUS_INVALID_ARGUMENT,
         "MALFORMED_REPORT"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rc_new_id(id);
        grpc_status_code c = report_use(cases[i].reporter, id, cases[i].kind, cases[i].purpose, cases[i].origin,
                                        cases[i].r, cases[i].n, &outcome, why, &st);
        cr_expect_eq(c, cases[i].code, "case %zu: status %d (%s)", i, c, st.details);
        const char *got = c == GRPC_STATUS_OK ? why : st.reason;
        cr_expect_str_eq(got, cases[i].reason, "case %zu: %s, want %s", i, got, cases[i].reason);
        cr_expect(c != GRPC_STATUS_OK || outcome == 'R', "case %zu: outcome %c", i, outcome);
    }
    char *after = tj_lasting_state();
    cr_expect_str_eq(after, before, "TJ's lasting state changed:\nbefore\n%s\nafter\n%s", before, after);
    free(before);
    free(after);
    decide("CN-BJ", home.tid, 0);
    /* unlocked now: live at BJ, but reported under another vintage */
    report_vintage = 2025;
    rc_new_id(id);
    cr_expect_eq(report_use("CN-BJ", id, "retired", "voluntary_neutrality", "CN-TJ", &head, 1, &outcome,
                            why, &st),
                 GRPC_STATUS_OK, "relabelled report: %s", st.details);
    report_vintage = 2026;
    cr_expect(outcome == 'R' && strcmp(why, "SERIALS_MISLABELLED") == 0, "relabelled report: %c %s",
              outcome, why);
    map_expect(want);
    checker_clean();
}
