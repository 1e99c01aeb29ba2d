/* test_activities.c - one activity, one issuance in the federation (issue 18
 * part 1; gateway/services/activities.h): the same activities issued at once
 * in Tianjin and Beijing under their own methodologies of one activity
 * class, with fingerprints that differ only in case and spacing, give one
 * issuance each; an issuer killed between its reservation and its issuance,
 * or between its issuance and the settlement, leaves no reservation without
 * its issuance once the home has asked; a peer cannot mark another region's
 * issuance abandoned. Real federation, real mutual TLS. */
#include "gateway/rpc/client.h"
#include "gateway/rpc/grpc_lifetime.h"
#include "settlement/activity_key.h"
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
#define RACES 24

static federation_t *fed;
static const char *const regions[3] = {"CN-TJ", "CN-BJ", "CN-HE"};

static void start3(int leg_expiry_ms) {
    grpc_lifetime_begin();
    federation_options_t o = {.regions_n = 3, .leg_expiry_ms = leg_expiry_ms, .recovery_interval_ms = 200};
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
}

static void stop_all(void) {
    federation_free(fed);
    fed = NULL;
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

static grpc_channel *reg(int i) { return rc_registry(fed, i); }

/* The home region (index) of the public-transit activity fp, vintage 2026. */
static int home_of(const char *fp) {
    activity_secrets_t s;
    char err[256], path[512], key[ACTIVITY_KEY_HEX + 1];
    snprintf(path, sizeof path, "%s/federation-activity.secret", harness_pki_dir());
    cr_assert_eq(activity_secrets_load(path, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(activity_key(&s, 2026, "public-transit", fp, key), 0);
    const char *sorted[3] = {"CN-BJ", "CN-HE", "CN-TJ"};
    const char *home = sorted[activity_home_index(key, 3)];
    for (int i = 0; i < 3; i++)
        if (strcmp(regions[i], home) == 0) return i;
    cr_assert_fail("no home");
    return -1;
}

/* A fingerprint of ride n whose home is not the region `not`. */
static void fp_not_at(int n, int not, char *out, size_t out_size) {
    for (int k = 0; k < 100; k++) {
        snprintf(out, out_size, "card-%d-%d 2026-11-24", n, k);
        if (home_of(out) != not) return;
    }
    cr_assert_fail("no fingerprint away from %s", regions[not]);
}

typedef struct {
    int region, n;
    const char *meth, *format;
    grpc_status_code code[RACES];
    char reason[RACES][64], details[RACES][512];
} racer_t;

static void *race(void *arg) {
    racer_t *r = arg;
    for (int i = 0; i < r->n; i++) {
        char iid[33], fp[64];
        rc_new_id(iid);
        snprintf(fp, sizeof fp, r->format, i);
        client_status_t st;
        r->code[i] = rc_issue(reg(r->region), iid, r->region == TJ ? "tj-a" : "bj-b", r->meth, 10000, fp, NULL, &st);
        snprintf(r->reason[i], sizeof r->reason[i], "%s", st.reason);
        snprintf(r->details[i], sizeof r->details[i], "%s", st.details);
    }
    return NULL;
}

/* The first reservation in region i's store not settled issued ("I|..."),
 * copied to out; "" when there is none. */
static void first_reservation_left(int i, char *out, size_t out_size) {
    redisContext *c = redis_connect(federation_redis(fed, i));
    cr_assert_not_null(c);
    redisReply *x = redisCommand(c, "HVALS " STORE_KEY_ACTIVITIES);
    cr_assert(x != NULL && x->type == REDIS_REPLY_ARRAY);
    out[0] = '\0';
    for (size_t k = 0; k < x->elements && out[0] == '\0'; k++)
        if (x->element[k]->str[0] != 'I') snprintf(out, out_size, "%s", x->element[k]->str);
    freeReplyObject(x);
    redisFree(c);
}

/* Every reservation in region i's store is settled issued within 15 s: the
 * issuer settles at the home after answering its client (a queue), or the
 * home asks once the reservation expires. */
static void expect_no_reservation_left(int i) {
    char left[256] = "";
    for (int tries = 0; tries < 150; tries++) {
        first_reservation_left(i, left, sizeof left);
        if (left[0] == '\0') return;
        proc_sleep_ms(100);
    }
    cr_expect_fail("%s holds a reservation left behind after 15 s: %s", regions[i], left);
}

Test(activities, the_same_activities_issued_at_once_in_two_regions_are_issued_once, .timeout = 240) {
    start3(5000);
    client_status_t st;
    cr_assert_eq(rc_open(reg(TJ), "tj-a", &st), GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(rc_open(reg(BJ), "bj-b", &st), GRPC_STATUS_OK, "%s", st.details);
    /* Tianjin's bus-and-metro and Beijing's metro methodology: one class */
    racer_t tj = {.region = TJ, .n = RACES, .meth = "TJ-GT-01", .format = "Card-%d 2026-11-24"};
    racer_t bj = {.region = BJ, .n = RACES, .meth = "BJ-GT-02", .format = "  card-%d   2026-11-24 "};
    pthread_t a, b;
    cr_assert_eq(pthread_create(&a, NULL, race, &tj), 0);
    cr_assert_eq(pthread_create(&b, NULL, race, &bj), 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    int tj_won = 0, bj_won = 0;
    for (int i = 0; i < RACES; i++) {
        int one = (tj.code[i] == GRPC_STATUS_OK) + (bj.code[i] == GRPC_STATUS_OK);
        cr_assert_eq(one, 1, "ride %d: TJ %d %s, BJ %d %s", i, tj.code[i], tj.details[i], bj.code[i], bj.details[i]);
        racer_t *lost = tj.code[i] == GRPC_STATUS_OK ? &bj : &tj;
        const char *winner = tj.code[i] == GRPC_STATUS_OK ? "CN-TJ" : "CN-BJ";
        cr_assert_eq(lost->code[i], GRPC_STATUS_ALREADY_EXISTS, "ride %d: %s", i, lost->details[i]);
        cr_assert_str_eq(lost->reason[i], "DUPLICATE_ISSUANCE", "ride %d: %s", i, lost->details[i]);
        cr_assert(strstr(lost->details[i], winner) != NULL, "ride %d names %s: %s", i, winner, lost->details[i]);
        tj_won += tj.code[i] == GRPC_STATUS_OK;
        bj_won += bj.code[i] == GRPC_STATUS_OK;
    }
    cr_log_info("rides won: Tianjin %d, Beijing %d", tj_won, bj_won);
    for (int i = 0; i < 3; i++) expect_no_reservation_left(i);
    /* A region still refuses its own duplicate as before (DOUBLE_ISSUANCE). */
    for (int i = 0; i < RACES; i++) {
        if (tj.code[i] != GRPC_STATUS_OK) continue;
        char iid[33], fp[64];
        rc_new_id(iid);
        snprintf(fp, sizeof fp, "card-%d 2026-11-24", i); /* the same ride, spelt as Beijing's platform does */
        cr_assert_eq(rc_issue(reg(TJ), iid, "tj-a", "TJ-GT-01", 10000, fp, NULL, &st), GRPC_STATUS_ALREADY_EXISTS,
                     "%s", st.details);
        cr_assert_str_eq(st.reason, "DOUBLE_ISSUANCE", "%s", st.details);
        break;
    }
    stop_all();
}

/* Tianjin is killed at failpoint fp while issuing ride n (home elsewhere);
 * afterwards Beijing issues the same ride: it may only when Tianjin's
 * issuance never happened. */
static void crash_then_recover(const char *failpoint, int issued_before_crash) {
    start3(2000);
    client_status_t st;
    cr_assert_eq(rc_open(reg(TJ), "tj-a", &st), GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(rc_open(reg(BJ), "bj-b", &st), GRPC_STATUS_OK, "%s", st.details);
    char fp[64], iid[33], iid2[33];
    fp_not_at(7, TJ, fp, sizeof fp);
    int home = home_of(fp);
    cr_assert_eq(federation_kill9(fed, TJ), 0);
    setenv("CARBON_FAILPOINT", failpoint, 1);
    cr_assert_eq(federation_restart(fed, TJ), 0, "%s", federation_last_error());
    unsetenv("CARBON_FAILPOINT");
    rc_new_id(iid);
    cr_assert_neq(rc_issue(reg(TJ), iid, "tj-a", "TJ-GT-01", 10000, fp, NULL, &st), GRPC_STATUS_OK);
    for (int i = 0; i < 100 && proc_alive(federation_pid(fed, TJ)); i++) proc_sleep_ms(50);
    cr_assert(!proc_alive(federation_pid(fed, TJ)), "the failpoint did not kill Tianjin");
    /* while the reservation stands, nobody else may issue the ride */
    rc_new_id(iid2);
    cr_assert_eq(rc_issue(reg(BJ), iid2, "bj-b", "BJ-GT-02", 10000, fp, NULL, &st), GRPC_STATUS_ALREADY_EXISTS,
                 "%s", st.details);
    cr_assert_eq(federation_restart(fed, TJ), 0, "%s", federation_last_error());
    /* the home asks Tianjin once the reservation expires (2 s) and settles it */
    grpc_status_code bj_code = GRPC_STATUS_UNKNOWN;
    for (int i = 0; i < 80; i++) {
        proc_sleep_ms(250);
        rc_new_id(iid2);
        bj_code = rc_issue(reg(BJ), iid2, "bj-b", "BJ-GT-02", 10000, fp, NULL, &st);
        if (bj_code == GRPC_STATUS_OK || (issued_before_crash && i > 20)) break;
    }
    if (issued_before_crash) {
        cr_assert_eq(bj_code, GRPC_STATUS_ALREADY_EXISTS, "Tianjin issued it before the crash: %s", st.details);
        /* Tianjin's own retry with the same id answers the recorded issuance */
        cr_assert_eq(rc_issue(reg(TJ), iid, "tj-a", "TJ-GT-01", 10000, fp, NULL, &st), GRPC_STATUS_OK, "%s",
                     st.details);
    } else {
        cr_assert_eq(bj_code, GRPC_STATUS_OK, "released after the home asked: %s", st.details);
        /* Tianjin's retry with the same id now finds the ride issued by Beijing */
        cr_assert_eq(rc_issue(reg(TJ), iid, "tj-a", "TJ-GT-01", 10000, fp, NULL, &st),
                     GRPC_STATUS_ALREADY_EXISTS, "%s", st.details);
        cr_assert(strstr(st.details, "CN-BJ") != NULL, "%s", st.details);
    }
    expect_no_reservation_left(home);
    stop_all();
}

/* One Issue in Tianjin, run on a thread of its own. */
typedef struct {
    const char *iid, *acct, *fp;
    grpc_status_code code;
    client_status_t st;
} issue_call_t;

static void *issue_in_tj(void *arg) {
    issue_call_t *c = arg;
    c->code = rc_issue(reg(TJ), c->iid, c->acct, "TJ-GT-01", 10000, c->fp, NULL, &c->st);
    return NULL;
}

/* An issuance checked before its account existed (activity_precheck.lua:
 * nothing to reserve) while the account opens (the check paused 1.5 s):
 * before, the issuance then went through with no reservation at the
 * activity's home, and the same ride could be issued again in Beijing. Now
 * it is refused as the check saw it, changes nothing, and its retry
 * reserves. */
Test(activities, an_account_opened_while_its_issuance_is_checked_gets_nothing_unreserved, .timeout = 120) {
    setenv("CARBON_TEST_HOOKS", "1", 1);
    setenv("CARBON_FAILPOINT_PAUSE", "CN-TJ:issue.after_precheck:1500", 1);
    start3(5000);
    unsetenv("CARBON_FAILPOINT_PAUSE");
    unsetenv("CARBON_TEST_HOOKS");
    client_status_t st;
    cr_assert_eq(rc_open(reg(BJ), "bj-b", &st), GRPC_STATUS_OK, "%s", st.details);
    char fp[64], iid[33], iid2[33];
    fp_not_at(11, TJ, fp, sizeof fp);
    rc_new_id(iid);
    issue_call_t c = {.iid = iid, .acct = "tj-new", .fp = fp};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, issue_in_tj, &c), 0);
    proc_sleep_ms(500); /* the issuance is past its check, paused */
    cr_assert_eq(rc_open(reg(TJ), "tj-new", &st), GRPC_STATUS_OK, "%s", st.details);
    pthread_join(t, NULL);
    cr_assert_eq(c.code, GRPC_STATUS_NOT_FOUND, "issued without a reservation: %d %s %s", c.code, c.st.reason,
                 c.st.details);
    cr_assert_str_eq(c.st.reason, "UNKNOWN_ACCOUNT");
    cr_assert(strstr(c.st.details, "send the issuance again") != NULL, "%s", c.st.details);
    cr_assert_eq(rc_total_g(reg(TJ), "tj-new"), 0, "a refused issuance changed the account");
    /* the retry reserves at the home and issues; Beijing's same ride is refused */
    cr_assert_eq(rc_issue(reg(TJ), iid, "tj-new", "TJ-GT-01", 10000, fp, NULL, &st), GRPC_STATUS_OK, "%s",
                 st.details);
    cr_assert_gt(rc_total_g(reg(TJ), "tj-new"), 0);
    rc_new_id(iid2);
    cr_assert_eq(rc_issue(reg(BJ), iid2, "bj-b", "BJ-GT-02", 10000, fp, NULL, &st), GRPC_STATUS_ALREADY_EXISTS,
                 "the ride was issued in Tianjin: %s", st.details);
    expect_no_reservation_left(home_of(fp));
    stop_all();
}

Test(activities, an_issuer_killed_after_reserving_leaves_nothing_reserved, .timeout = 240) {
    crash_then_recover("CN-TJ:issue.after_reserve", 0);
}

Test(activities, an_issuer_killed_after_issuing_is_settled_issued, .timeout = 240) {
    crash_then_recover("CN-TJ:issue.before_settle", 1);
}

Test(activities, a_peer_cannot_abandon_another_homes_reservation_nor_send_malformed_ones, .timeout = 120) {
    start3(5000);
    char fp[64];
    fp_not_at(3, HE, fp, sizeof fp); /* HE is not this ride's home */
    activity_secrets_t s;
    char err[256], path[512], key[ACTIVITY_KEY_HEX + 1], iid[33];
    snprintf(path, sizeof path, "%s/federation-activity.secret", harness_pki_dir());
    cr_assert_eq(activity_secrets_load(path, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(activity_key(&s, 2026, "public-transit", fp, key), 0);
    rc_new_id(iid);
    grpc_channel *he_to_tj = federation_channel(fed, TJ, "CN-HE-gateway");
    Carbon__V1__IssuanceQuery q = CARBON__V1__ISSUANCE_QUERY__INIT;
    q.activity_key = key;
    q.issuance_id = iid;
    q.reservation = 1;
    Carbon__V1__IssuanceQuery *list[1] = {&q};
    Carbon__V1__QueryIssuanceRequest req = CARBON__V1__QUERY_ISSUANCE_REQUEST__INIT;
    req.region = "CN-HE";
    req.queries = list;
    req.n_queries = 1;
    ProtobufCMessage *resp = NULL;
    client_status_t st;
    cr_assert_eq(client_call(he_to_tj, "/carbon.v1.Federation/QueryIssuance", &req.base,
                             &carbon__v1__query_issuance_response__descriptor, &resp, 5000, &st),
                 GRPC_STATUS_FAILED_PRECONDITION, "%s", st.details);
    cr_assert_str_eq(st.reason, "NOT_ACTIVITY_HOME");
    redisContext *c = redis_connect(federation_redis(fed, TJ));
    redisReply *x = redisCommand(c, "EXISTS " STORE_KEY_ACTIVITIES_ABANDONED_PREFIX "%s", iid);
    cr_assert(x != NULL && x->type == REDIS_REPLY_INTEGER && x->integer == 0, "an abandoned mark was written");
    freeReplyObject(x);
    /* another region's name in the message: refused */
    req.region = "CN-BJ";
    cr_assert_eq(client_call(he_to_tj, "/carbon.v1.Federation/QueryIssuance", &req.base,
                             &carbon__v1__query_issuance_response__descriptor, &resp, 5000, &st),
                 GRPC_STATUS_PERMISSION_DENIED, "%s", st.details);
    /* a malformed reservation: refused whole, nothing kept */
    Carbon__V1__ActivityReservation r = CARBON__V1__ACTIVITY_RESERVATION__INIT;
    r.activity_key = "not-a-key";
    r.issuance_id = iid;
    r.expiry_unix_ms = (uint64_t)proc_now_ms() + 1000;
    Carbon__V1__ActivityReservation *rl[1] = {&r};
    Carbon__V1__ReserveActivitiesRequest rr = CARBON__V1__RESERVE_ACTIVITIES_REQUEST__INIT;
    rr.region = "CN-HE";
    char *set[3] = {"CN-BJ", "CN-HE", "CN-TJ"};
    rr.federation_regions = set;
    rr.n_federation_regions = 3;
    rr.reservations = rl;
    rr.n_reservations = 1;
    cr_assert_eq(client_call(he_to_tj, "/carbon.v1.Federation/ReserveActivities", &rr.base,
                             &carbon__v1__reserve_activities_response__descriptor, &resp, 5000, &st),
                 GRPC_STATUS_INVALID_ARGUMENT, "%s", st.details);
    cr_assert_str_eq(st.reason, "MALFORMED_ACTIVITY");
    x = redisCommand(c, "HLEN " STORE_KEY_ACTIVITIES);
    cr_assert(x != NULL && x->type == REDIS_REPLY_INTEGER && x->integer == 0);
    freeReplyObject(x);
    /* a well-formed reservation from a peer that counts other regions: refused whole, nothing kept */
    fp_not_at(4, HE, fp, sizeof fp);
    cr_assert_eq(activity_key(&s, 2026, "public-transit", fp, key), 0);
    r.activity_key = key;
    r.expiry_unix_ms = (uint64_t)time(NULL) * 1000 + 60000; /* wall clock */
    rr.n_federation_regions = 2;
    set[0] = "CN-HE", set[1] = "CN-TJ";
    cr_assert_eq(client_call(he_to_tj, "/carbon.v1.Federation/ReserveActivities", &rr.base,
                             &carbon__v1__reserve_activities_response__descriptor, &resp, 5000, &st),
                 GRPC_STATUS_FAILED_PRECONDITION, "%s", st.details);
    cr_assert_str_eq(st.reason, "REGIONS_DIFFER");
    x = redisCommand(c, "HLEN " STORE_KEY_ACTIVITIES);
    cr_assert(x != NULL && x->type == REDIS_REPLY_INTEGER && x->integer == 0);
    freeReplyObject(x);
    redisFree(c);
    stop_all();
}

/* Waits up to 10 s for needle in region i's log; 1 if it came. */
static int log_shows(int i, const char *needle) {
    for (int k = 0; k < 200; k++) {
        if (federation_log_count(fed, i, needle) > 0) return 1;
        proc_sleep_ms(50);
    }
    return 0;
}

/* A gateway whose Hello at start found its peer frozen learns the peer's
 * regions from the engine's later Hello: CN-HE, restarted without CN-BJ
 * while CN-TJ was stopped, saw the difference only from CN-TJ's side
 * before (the later Hello's answer was read for its limits alone), and
 * went on issuing keyed activities homed among two regions. */
Test(activities, a_peer_frozen_at_start_still_shows_other_regions, .timeout = 120) {
    start3(5000);
    cr_assert_eq(federation_config_edit(fed, HE, "", "CN-BJ = 127.0.0.1", ";CN-BJ = 127.0.0.1"), 1, "%s",
                 federation_last_error());
    cr_assert_eq(federation_config_edit(fed, HE, "", "CN-BJ = /", ";CN-BJ = /"), 1, "%s", federation_last_error());
    cr_assert_eq(federation_sigstop(fed, TJ), 0, "%s", federation_last_error());
    cr_assert_eq(federation_restart(fed, HE), 0, "%s", federation_last_error());
    proc_sleep_ms(1500); /* past its Hellos at start (500 ms each), which may follow SERVING */
    cr_assert_eq(federation_sigcont(fed, TJ), 0, "%s", federation_last_error());
    cr_assert_geq(federation_log_count(fed, HE, "\"peer_hello_failed\""), 1, "CN-HE's Hello at start reached CN-TJ (%s)",
                  federation_log_path(fed, HE));
    cr_assert(log_shows(HE, "peer_regions_differ"), "CN-HE did not see CN-TJ's other regions");
    stop_all();
}

/* Every gateway must count the same regions. CN-HE configured without CN-BJ
 * homes activities among two regions where the others home them among
 * three: a ride homed at CN-HE there and at CN-TJ or CN-BJ here would be
 * reserved at both homes and issued twice. Hello shows the difference, and
 * neither side issues a keyed activity until it is mended. */
Test(activities, gateways_that_count_other_regions_issue_no_keyed_activity, .timeout = 240) {
    start3(5000);
    client_status_t st;
    cr_assert_eq(rc_open(reg(TJ), "tj-a", &st), GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(rc_open(reg(HE), "he-a", &st), GRPC_STATUS_OK, "%s", st.details);
    /* CN-HE without CN-BJ: its peer line and its pinned audit key commented out */
    cr_assert_eq(federation_config_edit(fed, HE, "", "CN-BJ = 127.0.0.1", ";CN-BJ = 127.0.0.1"), 1, "%s",
                 federation_last_error());
    cr_assert_eq(federation_config_edit(fed, HE, "", "CN-BJ = /", ";CN-BJ = /"), 1, "%s", federation_last_error());
    cr_assert_eq(federation_restart(fed, HE), 0, "%s", federation_last_error());
    cr_assert(log_shows(HE, "peer_regions_differ"), "CN-HE did not see CN-TJ's other regions");
    cr_assert(log_shows(TJ, "peer_regions_differ"), "CN-TJ did not see CN-HE's other regions");
    int refused = 0;
    for (int i = 0; i < 12; i++) {
        char iid[33], fp[64];
        snprintf(fp, sizeof fp, "card-%d 2026-11-30", i);
        for (int r = 0; r < 3; r += 2) { /* TJ, then HE: the same ride */
            rc_new_id(iid);
            grpc_status_code code = rc_issue(reg(r), iid, r == TJ ? "tj-a" : "he-a", r == TJ ? "TJ-GT-01" : "HE-GT-01",
                                             10000, fp, NULL, &st);
            cr_assert_eq(code, GRPC_STATUS_FAILED_PRECONDITION, "ride %d at %s: %d %s", i, regions[r], code,
                         st.details);
            cr_assert_str_eq(st.reason, "REGIONS_DIFFER", "%s", st.details);
            refused++;
        }
    }
    cr_assert_eq(refused, 24);
    cr_assert_eq(rc_total_g(reg(TJ), "tj-a"), 0);
    cr_assert_eq(rc_total_g(reg(HE), "he-a"), 0);
    for (int i = 0; i < 3; i++) expect_no_reservation_left(i);
    /* mended: CN-HE's Hello clears the refusal on both sides */
    cr_assert_eq(federation_config_edit(fed, HE, "", ";CN-BJ = 127.0.0.1", "CN-BJ = 127.0.0.1"), 1, "%s",
                 federation_last_error());
    cr_assert_eq(federation_config_edit(fed, HE, "", ";CN-BJ = /", "CN-BJ = /"), 1, "%s", federation_last_error());
    cr_assert_eq(federation_restart(fed, HE), 0, "%s", federation_last_error());
    cr_assert(log_shows(TJ, "peer_regions_agree"), "CN-TJ did not see CN-HE agree again");
    char iid[33];
    rc_new_id(iid);
    /* (the ride's home may be CN-HE, which CN-TJ's channel reaches again once
     * its reconnection backoff from the restart ends: retried with the same id) */
    grpc_status_code code = GRPC_STATUS_UNKNOWN;
    for (int k = 0; k < 100; k++) {
        code = rc_issue(reg(TJ), iid, "tj-a", "TJ-GT-01", 10000, "card-0 2026-11-30", NULL, &st);
        if (code == GRPC_STATUS_OK || strcmp(st.reason, "ACTIVITY_HOME_UNREACHABLE") != 0) break;
        proc_sleep_ms(100);
    }
    cr_assert_eq(code, GRPC_STATUS_OK, "%s", st.details);
    stop_all();
}

/* A home that comes back is reached at once: its Hello resets the issuer's
 * reconnect backoff to it, and a call in the next 2 s waits for the new
 * connection (peers_reconnect_now), so the first issuance after the home
 * serves again is answered, not refused ACTIVITY_HOME_UNREACHABLE while the
 * channel waits out a backoff grown while the home was down or is still
 * connecting. */
Test(activities, a_home_that_came_back_is_reached_at_once, .timeout = 120) {
    start3(5000);
    client_status_t st;
    cr_assert_eq(rc_open(reg(TJ), "tj-a", &st), GRPC_STATUS_OK, "%s", st.details);
    char fp[64];
    int k = 0;
    do snprintf(fp, sizeof fp, "card-home-%d 2026-11-30", k++);
    while (home_of(fp) != BJ && k < 100);
    cr_assert_eq(home_of(fp), BJ);
    cr_assert_eq(federation_kill9(fed, BJ), 0);
    /* calls while the home is down grow the channel's backoff to its maximum */
    for (long long until = proc_now_ms() + 5000; proc_now_ms() < until; proc_sleep_ms(200)) {
        char iid[33];
        rc_new_id(iid);
        cr_assert_neq(rc_issue(reg(TJ), iid, "tj-a", "TJ-GT-01", 10000, fp, NULL, &st), GRPC_STATUS_OK);
    }
    int hellos = federation_log_count(fed, BJ, "\"peer_hello\"");
    cr_assert_eq(federation_restart(fed, BJ), 0, "%s", federation_last_error());
    /* (up to 10 s: an ASan gateway beside other tests may take over 2 s to say them) */
    for (int i = 0; i < 500 && federation_log_count(fed, BJ, "\"peer_hello\"") < hellos + 2; i++) proc_sleep_ms(20);
    cr_assert_geq(federation_log_count(fed, BJ, "\"peer_hello\""), hellos + 2, "CN-BJ said no Hello");
    char iid[33];
    rc_new_id(iid);
    cr_assert_eq(rc_issue(reg(TJ), iid, "tj-a", "TJ-GT-01", 10000, fp, NULL, &st), GRPC_STATUS_OK, "%s: %s",
                 st.reason, st.details);
    stop_all();
}
