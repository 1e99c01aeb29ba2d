/* test_rules_on_use.c - the region's rules on use (issue 18 part 2;
 * adapters/catalogs/<REGION>.rules, README "Rules on use"), enforced in the
 * retirement's own script: compliance offsetting capped at shares of the
 * beneficiary's registered obligation, overall and from outside the region,
 * refused QUOTA_EXCEEDED with the room left and nothing changed; a purpose
 * not accepted for a credit's origin or vintage refused PURPOSE_NOT_ALLOWED;
 * obligations registered by operators, idempotently. Real Redis, real
 * gateways over mutual TLS, the shipped (ILLUSTRATIVE) rules: CN-BJ offsets
 * at most 5/100 of the obligation, 25/1000 with serials of other regions.
 * Also: a transfer retried after its region's catalogs changed gets its
 * recorded outcome, not a refusal by the new catalogs. */
#include "gateway/rpc/grpc_lifetime.h"
#include "tests/support/gateway_harness.h"
#include "settlement/store_keys.h"
#include "tests/support/redis_harness.h"
#include "tests/support/registry_client.h"

#include <hiredis/hiredis.h>

#include <criterion/criterion.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#define TJ 0
#define BJ 1
#define CALL_TIMEOUT_MS 10000
#define COMPLIANCE CARBON__V1__RETIREMENT_PURPOSE__RETIREMENT_PURPOSE_COMPLIANCE_OFFSET
#define ECOLOGICAL CARBON__V1__RETIREMENT_PURPOSE__RETIREMENT_PURPOSE_ECOLOGICAL_COMPENSATION

static federation_t *fed;

static void start(void) {
    grpc_lifetime_begin();
    federation_options_t o = {.regions_n = 2};
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
}

static void stop_all(void) {
    federation_free(fed);
    fed = NULL;
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

static grpc_channel *as(int i, const char *role) {
    char cert[64];
    snprintf(cert, sizeof cert, "%s-%s", federation_region(fed, i), role);
    grpc_channel *ch = federation_channel(fed, i, cert);
    cr_assert_not_null(ch, "%s", federation_last_error());
    return ch;
}

/* A Retire in CN-BJ from bj-a; the status, with st. */
static grpc_status_code retire(const char *meth, uint64_t points, int purpose, uint32_t year,
                               const char *beneficiary, client_status_t *st) {
    char rid[33];
    rc_new_id(rid);
    Carbon__V1__RetireRequest req = CARBON__V1__RETIRE_REQUEST__INIT;
    req.retirement_id = rid;
    req.account_id = "bj-a";
    req.methodology_id = (char *)meth;
    req.amount_units = points;
    req.purpose = (Carbon__V1__RetirementPurpose)purpose;
    req.compliance_year = year;
    req.beneficiary = (char *)beneficiary;
    ProtobufCMessage *resp = NULL;
    grpc_status_code c = client_call(as(BJ, "registry"), "/carbon.v1.Registry/Retire", &req.base,
                                     &carbon__v1__retire_response__descriptor, &resp, CALL_TIMEOUT_MS, st);
    if (resp != NULL) protobuf_c_message_free_unpacked(resp, NULL);
    return c;
}

/* Operations.RegisterObligation (obligation_g > 0) or GetObligation in CN-BJ. */
static Carbon__V1__ObligationResponse *obligation(const char *beneficiary, uint32_t year,
                                                  uint64_t obligation_g, client_status_t *st) {
    ProtobufCMessage *resp = NULL;
    if (obligation_g > 0) {
        Carbon__V1__RegisterObligationRequest req = CARBON__V1__REGISTER_OBLIGATION_REQUEST__INIT;
        req.beneficiary = (char *)beneficiary;
        req.compliance_year = year;
        req.obligation_g = obligation_g;
        client_call(as(BJ, "operator"), "/carbon.v1.Operations/RegisterObligation", &req.base,
                    &carbon__v1__obligation_response__descriptor, &resp, CALL_TIMEOUT_MS, st);
    } else {
        Carbon__V1__GetObligationRequest req = CARBON__V1__GET_OBLIGATION_REQUEST__INIT;
        req.beneficiary = (char *)beneficiary;
        req.compliance_year = year;
        client_call(as(BJ, "operator"), "/carbon.v1.Operations/GetObligation", &req.base,
                    &carbon__v1__obligation_response__descriptor, &resp, CALL_TIMEOUT_MS, st);
    }
    return (Carbon__V1__ObligationResponse *)resp;
}

/* Opens bj-a in CN-BJ with 10600 g of BJ-GT-02 (Beijing's own) and 9000 g of
 * TJ-GT-01 (from Tianjin, by a committed transfer). */
static void fund_bj_a(void) {
    client_status_t st;
    char id[33];
    cr_assert_eq(rc_open(as(BJ, "registry"), "bj-a", &st), GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(rc_open(as(TJ, "registry"), "tj-a", &st), GRPC_STATUS_OK, "%s", st.details);
    rc_new_id(id);
    cr_assert_eq(rc_issue(as(BJ, "registry"), id, "bj-a", "BJ-GT-02", 200000, id, NULL, &st),
                 GRPC_STATUS_OK, "%s", st.details);
    rc_new_id(id);
    cr_assert_eq(rc_issue(as(TJ, "registry"), id, "tj-a", "TJ-GT-01", 420000, id, NULL, &st),
                 GRPC_STATUS_OK, "%s", st.details);
    Carbon__V1__TransferResponse *tr = NULL;
    rc_new_id(id);
    cr_assert_eq(rc_transfer(as(TJ, "registry"), id, "tj-a", "CN-BJ", "bj-a", "TJ-GT-01", 10, &tr, &st),
                 GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(tr->transfer->outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED, "%s",
                 tr->transfer->reason);
    protobuf_c_message_free_unpacked(&tr->base, NULL);
    cr_assert_eq(rc_wait_arrival(as(BJ, "registry"), id, 10000), 0);
    cr_assert_eq(rc_balance_g(as(BJ, "registry"), "bj-a", "BJ-GT-02"), 10600);
    cr_assert_eq(rc_balance_g(as(BJ, "registry"), "bj-a", "TJ-GT-01"), 9000);
}

/* A refusal of the rules: FAILED_PRECONDITION, the reason, and each of the
 * texts in the message. */
static void assert_refused(grpc_status_code c, const client_status_t *st, const char *reason,
                           const char *text1, const char *text2) {
    cr_assert_eq(c, GRPC_STATUS_FAILED_PRECONDITION, "status %d: %s", c, st->details);
    cr_assert(strncmp(st->details, reason, strlen(reason)) == 0, "want %s: %s", reason, st->details);
    cr_assert(strstr(st->details, text1) != NULL, "want '%s' in: %s", text1, st->details);
    cr_assert(text2 == NULL || strstr(st->details, text2) != NULL, "want '%s' in: %s", text2, st->details);
}

/* A refused retirement leaves the account and the offsets as they were. */
static void assert_unchanged(uint64_t total_g, uint64_t offset_g, uint64_t outside_g) {
    client_status_t st;
    cr_assert_eq(rc_total_g(as(BJ, "registry"), "bj-a"), total_g);
    Carbon__V1__ObligationResponse *o = obligation("Acme 钢铁", 2026, 0, &st);
    cr_assert_not_null(o, "%s", st.details);
    cr_assert_eq(o->offset_g, offset_g);
    cr_assert_eq(o->offset_outside_g, outside_g);
    protobuf_c_message_free_unpacked(&o->base, NULL);
}

Test(rules_on_use, compliance_offset_capped_by_obligation_shares, .timeout = 120) {
    start();
    fund_bj_a();
    client_status_t st;
    /* no obligation registered: nothing may be offset */
    assert_refused(retire("BJ-GT-02", 1, COMPLIANCE, 2026, "Acme 钢铁", &st), &st, "QUOTA_EXCEEDED",
                   "no obligation of 'Acme 钢铁' for 2026", "room left 0 g");
    /* a compliance offset names its compliance year */
    cr_assert_eq(retire("BJ-GT-02", 1, COMPLIANCE, 0, "Acme 钢铁", &st), GRPC_STATUS_INVALID_ARGUMENT);
    cr_assert_str_eq(st.reason, "BAD_PURPOSE");

    Carbon__V1__ObligationResponse *o = obligation("Acme 钢铁", 2026, 100000, &st);
    cr_assert_not_null(o, "%s", st.details);
    cr_assert_str_eq(o->outcome, "registered");
    cr_assert_eq(o->room_g, 5000);        /* 5/100 */
    cr_assert_eq(o->room_outside_g, 2500); /* 25/1000 */
    protobuf_c_message_free_unpacked(&o->base, NULL);

    /* from outside: 300 points = 3000 g > 2500 g */
    assert_refused(retire("TJ-GT-01", 300, COMPLIANCE, 2026, "Acme 钢铁", &st), &st, "QUOTA_EXCEEDED",
                   "share_outside 25/1000", "room left 250 point (2500 g)");
    cr_assert(strstr(st.details, "CN-BJ 2026.1") != NULL, "names the rules: %s", st.details);
    assert_unchanged(19600, 0, 0);
    cr_assert_eq(retire("TJ-GT-01", 250, COMPLIANCE, 2026, "Acme 钢铁", &st), GRPC_STATUS_OK, "%s", st.details);
    assert_unchanged(17100, 2500, 2500);
    /* overall: 2500 g used of 5000 g; 300 points = 3000 g are too many */
    assert_refused(retire("BJ-GT-02", 300, COMPLIANCE, 2026, "Acme 钢铁", &st), &st, "QUOTA_EXCEEDED",
                   "share 5/100", "room left 250 point (2500 g)");
    assert_unchanged(17100, 2500, 2500);
    cr_assert_eq(retire("BJ-GT-02", 250, COMPLIANCE, 2026, "Acme 钢铁", &st), GRPC_STATUS_OK, "%s", st.details);
    assert_unchanged(14600, 5000, 2500);
    assert_refused(retire("BJ-GT-02", 1, COMPLIANCE, 2026, "Acme 钢铁", &st), &st, "QUOTA_EXCEEDED",
                   "room left 0 point (0 g)", NULL);
    /* another compliance year, another obligation: its own room */
    assert_refused(retire("BJ-GT-02", 1, COMPLIANCE, 2027, "Acme 钢铁", &st), &st, "QUOTA_EXCEEDED",
                   "for 2027", NULL);
    /* other purposes are not capped by the obligation */
    cr_assert_eq(retire("BJ-GT-02", 10, CARBON__V1__RETIREMENT_PURPOSE__RETIREMENT_PURPOSE_VOLUNTARY_CANCELLATION,
                        0, "Acme 钢铁", &st), GRPC_STATUS_OK, "%s", st.details);
    assert_unchanged(14500, 5000, 2500);
    stop_all();
}

Test(rules_on_use, purpose_not_allowed_for_origin_or_vintage, .timeout = 120) {
    start();
    fund_bj_a();
    client_status_t st;
    /* ecological compensation in Beijing: Beijing's own credits only */
    assert_refused(retire("TJ-GT-01", 10, ECOLOGICAL, 0, "Restoration fund", &st), &st,
                   "PURPOSE_NOT_ALLOWED", "[purpose ecological_compensation]", "origin of credit CN-TJ|TJ-GT-01");
    assert_unchanged(19600, 0, 0);
    cr_assert_eq(retire("BJ-GT-02", 10, ECOLOGICAL, 0, "Restoration fund", &st), GRPC_STATUS_OK, "%s",
                 st.details);
    /* compliance offsetting in Beijing accepts vintages 2024-2030: a 2023 credit is refused */
    char id[33];
    rc_new_id(id);
    Carbon__V1__IssueRequest req = CARBON__V1__ISSUE_REQUEST__INIT;
    req.issuance_id = id;
    req.account_id = "bj-a";
    req.methodology_id = "BJ-GT-03";
    req.vintage_year = 2023;
    req.quantity_milli = 10000;
    req.activity_fingerprint = id;
    ProtobufCMessage *resp = NULL;
    cr_assert_eq(client_call(as(BJ, "registry"), "/carbon.v1.Registry/Issue", &req.base,
                             &carbon__v1__issue_response__descriptor, &resp, CALL_TIMEOUT_MS, &st),
                 GRPC_STATUS_OK, "%s", st.details);
    protobuf_c_message_free_unpacked(resp, NULL);
    protobuf_c_message_free_unpacked(&obligation("Acme", 2026, 1000000, &st)->base, NULL);
    uint64_t total = rc_total_g(as(BJ, "registry"), "bj-a");
    assert_refused(retire("BJ-GT-03", 1, COMPLIANCE, 2026, "Acme", &st), &st, "PURPOSE_NOT_ALLOWED",
                   "vintage of credit CN-BJ|BJ-GT-03|2023", NULL);
    cr_assert_eq(rc_total_g(as(BJ, "registry"), "bj-a"), total);
    stop_all();
}

Test(rules_on_use, obligations_registered_idempotently_by_operators, .timeout = 60) {
    start();
    client_status_t st;
    Carbon__V1__ObligationResponse *o = obligation("Beta Power", 2026, 0, &st);
    cr_assert_not_null(o, "%s", st.details);
    cr_assert(!o->registered);
    protobuf_c_message_free_unpacked(&o->base, NULL);
    static const char *const outcomes[] = {"registered", "unchanged", "replaced", "unchanged"};
    static const uint64_t values[] = {700000, 700000, 800000, 800000};
    for (size_t i = 0; i < 4; i++) {
        o = obligation("Beta Power", 2026, values[i], &st);
        cr_assert_not_null(o, "%s", st.details);
        cr_assert_str_eq(o->outcome, outcomes[i]);
        cr_assert(o->registered);
        cr_assert_eq(o->obligation_g, values[i]);
        protobuf_c_message_free_unpacked(&o->base, NULL);
    }
    /* every registration is logged */
    cr_assert_eq(federation_log_count(fed, BJ, "obligation_registered"), 4);
    /* bad input refused, nothing registered */
    cr_assert_null(obligation("Beta Power", 1999, 5, &st));
    cr_assert_str_eq(st.reason, "BAD_YEAR");
    cr_assert_null(obligation("", 2026, 5, &st));
    cr_assert_str_eq(st.reason, "BAD_BENEFICIARY");
    cr_assert_null(obligation("Beta Power", 2026, (uint64_t)1 << 50, &st));
    cr_assert_str_eq(st.reason, "BAD_AMOUNT");
    /* a registry certificate is not an operator's */
    Carbon__V1__GetObligationRequest req = CARBON__V1__GET_OBLIGATION_REQUEST__INIT;
    req.beneficiary = "Beta Power";
    req.compliance_year = 2026;
    ProtobufCMessage *resp = NULL;
    cr_assert_eq(client_call(as(BJ, "registry"), "/carbon.v1.Operations/GetObligation", &req.base,
                             &carbon__v1__obligation_response__descriptor, &resp, CALL_TIMEOUT_MS, &st),
                 GRPC_STATUS_PERMISSION_DENIED);
    if (resp != NULL) protobuf_c_message_free_unpacked(resp, NULL);
    stop_all();
}

/* Copies SOURCE_DIR/adapters/catalogs/NAME into dir, with the first `from`
 * replaced by `to` (NULL: as it is). */
static void copy_catalog_file(const char *dir, const char *name, const char *from, const char *to) {
    char path[1024];
    snprintf(path, sizeof path, "%s/adapters/catalogs/%s", SOURCE_DIR, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    static char buf[70000];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *at = from != NULL ? strstr(buf, from) : NULL;
    cr_assert(from == NULL || at != NULL, "'%s' not in %s", from, path);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    if (at == NULL) {
        fwrite(buf, 1, n, f);
    } else {
        fwrite(buf, 1, (size_t)(at - buf), f);
        fputs(to, f);
        fputs(at + strlen(from), f);
    }
    fclose(f);
}

/* A copy of the shipped catalogs and rules in federation_dir/sub (its path
 * into dir), the file `changed` with its first `from` replaced by `to`. */
static void catalogs_copy(const char *sub, const char *changed, const char *from, const char *to, char *dir,
                          size_t dir_size) {
    snprintf(dir, dir_size, "%s/%s", federation_dir(fed), sub);
    cr_assert_eq(mkdir(dir, 0700), 0);
    static const char *const names[] = {"CN-TJ.catalog", "CN-BJ.catalog", "CN-HE.catalog",
                                        "CN-TJ.rules",   "CN-BJ.rules",   "CN-HE.rules"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int is_changed = strcmp(names[i], changed) == 0;
        copy_catalog_file(dir, names[i], is_changed ? from : NULL, is_changed ? to : NULL);
    }
}

/* The reason_detail of the last transfer_to_bj. */
static char last_detail[256];

/* A TJ -> BJ transfer of kg; its outcome and reason into *outcome and reason
 * (and its reason_detail into last_detail). */
static void transfer_to_bj(uint64_t kg, int *outcome, char reason[64]) {
    client_status_t st;
    char id[33];
    rc_new_id(id);
    Carbon__V1__TransferResponse *tr = NULL;
    cr_assert_eq(rc_transfer(as(TJ, "registry"), id, "tj-a", "CN-BJ", "bj-a", "TJ-GT-01", kg, &tr, &st),
                 GRPC_STATUS_OK, "%s", st.details);
    *outcome = tr->transfer->outcome;
    snprintf(reason, 64, "%s", tr->transfer->reason);
    snprintf(last_detail, sizeof last_detail, "%s", tr->transfer->reason_detail);
    protobuf_c_message_free_unpacked(&tr->base, NULL);
    if (*outcome == CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED)
        cr_assert_eq(rc_wait_arrival(as(BJ, "registry"), id, 10000), 0);
}

/* Transfer q at CN-TJ; its status, and on OK the recorded outcome and the grams credited. */
static grpc_status_code transfer_as_asked(Carbon__V1__TransferRequest *q, int *outcome, uint64_t *credited_g,
                                          client_status_t *st) {
    ProtobufCMessage *m = NULL;
    grpc_status_code c = client_call(as(TJ, "registry"), "/carbon.v1.Registry/Transfer", &q->base,
                                     &carbon__v1__transfer_response__descriptor, &m, RC_TIMEOUT_MS, st);
    if (c != GRPC_STATUS_OK) return c;
    Carbon__V1__TransferResponse *r = (Carbon__V1__TransferResponse *)m;
    *outcome = r->transfer->outcome;
    *credited_g = r->transfer->quote != NULL ? r->transfer->quote->credited_g : 0;
    protobuf_c_message_free_unpacked(m, NULL);
    return c;
}

/* Issue ir at CN-TJ; its status, and on OK the block's first serial. */
static grpc_status_code issue_as_asked(Carbon__V1__IssueRequest *ir, uint64_t *first, client_status_t *st) {
    ProtobufCMessage *m = NULL;
    grpc_status_code c = client_call(as(TJ, "registry"), "/carbon.v1.Registry/Issue", &ir->base,
                                     &carbon__v1__issue_response__descriptor, &m, RC_TIMEOUT_MS, st);
    if (c != GRPC_STATUS_OK) return c;
    *first = ((Carbon__V1__IssueResponse *)m)->block->serial_start;
    protobuf_c_message_free_unpacked(m, NULL);
    return c;
}

/* A transfer answered, the answer lost, then CN-TJ restarted with other
 * catalogs (CN-BJ recognises TJ-GT-01 at 1/2, not 9/10): the client's retry
 * with the same id and the same expected credit gets the recorded outcome,
 * COMMITTED with 9000 g. Before, it was refused QUOTE_CHANGED, which says
 * the transfer never happened and invites a second one under a new id. A
 * new transfer expecting the old credit is still refused QUOTE_CHANGED.
 * The same for an issuance that named CN-TJ's catalog (changed too): its
 * retry gets its block, not CATALOG_CHANGED. */
Test(rules_on_use, a_retry_after_the_catalogs_changed_gets_the_recorded_outcome, .timeout = 120) {
    start();
    client_status_t st;
    char id[33], tid[33];
    cr_assert_eq(rc_open(as(BJ, "registry"), "bj-a", &st), GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(rc_open(as(TJ, "registry"), "tj-a", &st), GRPC_STATUS_OK, "%s", st.details);
    rc_new_id(id);
    Carbon__V1__IssueResponse *issued = NULL;
    cr_assert_eq(rc_issue(as(TJ, "registry"), id, "tj-a", "TJ-GT-01", 420000, id, &issued, &st), GRPC_STATUS_OK,
                 "%s", st.details);
    Carbon__V1__IssueRequest ir = CARBON__V1__ISSUE_REQUEST__INIT;
    char iid[33], digest[65];
    rc_new_id(iid);
    snprintf(digest, sizeof digest, "%s", issued->catalog_digest);
    protobuf_c_message_free_unpacked(&issued->base, NULL);
    ir.issuance_id = iid, ir.account_id = "tj-a", ir.methodology_id = "TJ-GT-01", ir.vintage_year = 2026;
    ir.quantity_milli = 20000, ir.activity_fingerprint = iid, ir.catalog_digest = digest;
    uint64_t first = 0, again = 0;
    cr_assert_eq(issue_as_asked(&ir, &first, &st), GRPC_STATUS_OK, "%s", st.details);
    rc_new_id(tid);
    Carbon__V1__TransferRequest q = CARBON__V1__TRANSFER_REQUEST__INIT;
    q.transfer_id = tid, q.from_account_id = "tj-a", q.to_region = "CN-BJ", q.to_account_id = "bj-a";
    q.methodology_id = "TJ-GT-01", q.amount_units = 10, q.expected_credited_g = 9000;
    int outcome = 0;
    uint64_t credited = 0;
    cr_assert_eq(transfer_as_asked(&q, &outcome, &credited, &st), GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED);
    cr_assert_eq(rc_wait_arrival(as(BJ, "registry"), tid, 10000), 0);
    char dir[1024];
    catalogs_copy("other-catalogs", "CN-BJ.catalog", "[recognize CN-TJ:TJ-GT-01]\nlocal = BJ-GT-02\nratio = 9/10",
                  "[recognize CN-TJ:TJ-GT-01]\nlocal = BJ-GT-02\nratio = 1/2", dir, sizeof dir);
    copy_catalog_file(dir, "CN-TJ.catalog", "[recognize CN-BJ:BJ-GT-02]\nlocal = TJ-GT-01\nratio = 1/1",
                      "[recognize CN-BJ:BJ-GT-02]\nlocal = TJ-GT-01\nratio = 1/2");
    cr_assert_eq(federation_config_edit(fed, TJ, "catalog_dir", SOURCE_DIR "/adapters/catalogs", dir), 1, "%s",
                 federation_last_error());
    cr_assert_eq(federation_restart(fed, TJ), 0, "%s", federation_last_error());
    cr_assert_eq(transfer_as_asked(&q, &outcome, &credited, &st), GRPC_STATUS_OK, "the retry: %s", st.details);
    cr_assert_eq(outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED);
    cr_assert_eq(credited, 9000);
    rc_new_id(tid);
    q.transfer_id = tid;
    cr_assert_eq(transfer_as_asked(&q, &outcome, &credited, &st), GRPC_STATUS_FAILED_PRECONDITION, "%s",
                 st.details);
    cr_assert_str_eq(st.reason, "QUOTE_CHANGED");
    cr_assert_eq(rc_total_g(as(BJ, "registry"), "bj-a"), 9000, "one transfer credited, once");
    uint64_t tj_g = rc_total_g(as(TJ, "registry"), "tj-a");
    cr_assert_eq(issue_as_asked(&ir, &again, &st), GRPC_STATUS_OK, "the issuance's retry: %s", st.details);
    cr_assert_eq(again, first, "the retry answers the block issued");
    cr_assert_eq(rc_total_g(as(TJ, "registry"), "tj-a"), tj_g, "issued twice");
    rc_new_id(iid);
    cr_assert_eq(issue_as_asked(&ir, &again, &st), GRPC_STATUS_FAILED_PRECONDITION, "%s", st.details);
    cr_assert_str_eq(st.reason, "CATALOG_CHANGED");
    stop_all();
}

/* With CN-BJ rules of its own (a copy of the catalogs, SIGHUP-free: a restart):
 * a daily inflow limit from CN-TJ, and no rights redemption. */
Test(rules_on_use, daily_inflow_limit_aborts_the_transfer, .timeout = 120) {
    start();
    /* CN-BJ's rules with an inflow of at most 10000 g a day from CN-TJ */
    char dir[1024];
    /* ...and without rights redemption */
    catalogs_copy("rules-catalogs", "CN-BJ.rules",
                      "[purpose rights_redemption]\norigins       = CN-BJ\nmethodologies = *\nvintages      = *\n\n"
                      "[inflow CN-TJ]\ndaily_g = 1000000000000",
                      "[inflow CN-TJ]\ndaily_g = 10000", dir, sizeof dir);
    cr_assert_eq(federation_config_edit(fed, BJ, "catalog_dir", SOURCE_DIR "/adapters/catalogs", dir), 1,
                 "%s", federation_last_error());
    cr_assert_eq(federation_restart(fed, BJ), 0, "%s", federation_last_error());
    client_status_t st;
    char id[33];
    cr_assert_eq(rc_open(as(BJ, "registry"), "bj-a", &st), GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(rc_open(as(TJ, "registry"), "tj-a", &st), GRPC_STATUS_OK, "%s", st.details);
    rc_new_id(id);
    cr_assert_eq(rc_issue(as(TJ, "registry"), id, "tj-a", "TJ-GT-01", 420000, id, NULL, &st),
                 GRPC_STATUS_OK, "%s", st.details);
    int outcome;
    char reason[64];
    transfer_to_bj(10, &outcome, reason); /* credits 9000 g */
    cr_assert_eq(outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED, "%s", reason);
    transfer_to_bj(5, &outcome, reason); /* 4500 g more would pass 10000 g */
    cr_assert_eq(outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_ABORTED);
    cr_assert_str_eq(reason, "QUOTA_EXCEEDED");
    /* the refusal names the rule and the room left (the source keeps CN-BJ's detail) */
    cr_assert(strstr(last_detail, "inflow CN-TJ: room left 1000 g of 10000 g on UTC day ") == last_detail,
              "%s", last_detail);
    cr_assert(strstr(last_detail, ", asked 4500 g") != NULL, "%s", last_detail);
    cr_assert_eq(rc_total_g(as(BJ, "registry"), "bj-a"), 9000);
    cr_assert_eq(rc_total_g(as(TJ, "registry"), "tj-a"), 19950 - 10000);
    transfer_to_bj(1, &outcome, reason); /* 900 g: within the room left */
    cr_assert_eq(outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED, "%s", reason);
    cr_assert_eq(rc_total_g(as(BJ, "registry"), "bj-a"), 9900);
    /* a purpose the rules do not name is refused whatever the credit */
    char rid[33];
    rc_new_id(rid);
    Carbon__V1__RetireRequest rr = CARBON__V1__RETIRE_REQUEST__INIT;
    rr.retirement_id = rid;
    rr.account_id = "bj-a";
    rr.amount_units = 1;
    rr.purpose = CARBON__V1__RETIREMENT_PURPOSE__RETIREMENT_PURPOSE_RIGHTS_REDEMPTION;
    rr.beneficiary = "Zhao";
    ProtobufCMessage *resp = NULL;
    cr_assert_eq(client_call(as(BJ, "registry"), "/carbon.v1.Registry/Retire", &rr.base,
                             &carbon__v1__retire_response__descriptor, &resp, CALL_TIMEOUT_MS, &st),
                 GRPC_STATUS_FAILED_PRECONDITION, "%s", st.details);
    cr_assert_str_eq(st.reason, "PURPOSE_NOT_ALLOWED");
    cr_assert(strstr(st.details, "allow no retirement for rights_redemption") != NULL, "%s", st.details);
    cr_assert_eq(rc_total_g(as(BJ, "registry"), "bj-a"), 9900);
    /* SIGHUP reloads the rules with the catalogs: a limit of 20000 g lets 4500 g more in */
    copy_catalog_file(dir, "CN-BJ.rules",
                      "[purpose rights_redemption]\norigins       = CN-BJ\nmethodologies = *\nvintages      = *\n\n"
                      "[inflow CN-TJ]\ndaily_g = 1000000000000",
                      "[inflow CN-TJ]\ndaily_g = 20000");
    cr_assert_eq(kill(federation_pid(fed, BJ), SIGHUP), 0);
    int reloaded = 0;
    for (int k = 0; k < 100 && !reloaded; k++) {
        reloaded = federation_log_count(fed, BJ, "catalogs_reloaded") > 0;
        if (!reloaded) usleep(50000);
    }
    cr_assert(reloaded, "CN-BJ did not reload its rules");
    transfer_to_bj(5, &outcome, reason);
    cr_assert_eq(outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED, "%s", reason);
    cr_assert_eq(rc_total_g(as(BJ, "registry"), "bj-a"), 14400);
    /* Hello: CN-TJ holds the shipped CN-BJ rules, CN-BJ answers with its own */
    cr_assert_eq(federation_log_count(fed, TJ, "peer_rules_differ"), 0);
    cr_assert_eq(federation_restart(fed, TJ), 0, "%s", federation_last_error());
    int logged = 0;
    for (int k = 0; k < 100 && !logged; k++) {
        logged = federation_log_count(fed, TJ, "peer_rules_differ") > 0;
        if (!logged) usleep(50000);
    }
    cr_assert(logged, "CN-TJ did not log CN-BJ's other rules digest");
    stop_all();
}

/* gwctl ARGS... as role of CN-BJ (args NULL-terminated, at most 16);
 * exit status and stdout/stderr (caller frees). */
static int gwctl_bj(const char *role, char **out, char **err, const char *const *args) {
    static char target[64], ca[512], cert[512], key[512];
    snprintf(target, sizeof target, "127.0.0.1:%d", federation_port(fed, BJ));
    snprintf(ca, sizeof ca, "%s/ca.crt", harness_pki_dir());
    snprintf(cert, sizeof cert, "%s/CN-BJ-%s.crt", harness_pki_dir(), role);
    snprintf(key, sizeof key, "%s/CN-BJ-%s.key", harness_pki_dir(), role);
    const char *argv[32];
    int n = 0;
    argv[n++] = BINARY_DIR "/gwctl";
    for (; args[n - 1] != NULL && n < 20; n++) argv[n] = args[n - 1];
    const char *conn[] = {"--target", target, "--cert", cert, "--key", key, "--ca", ca, NULL};
    for (int k = 0; conn[k] != NULL; k++) argv[n++] = conn[k];
    argv[n] = NULL;
    int status = -1;
    cr_assert_eq(harness_run(argv, 30000, &status, out, err), 0, "gwctl did not run");
    return status;
}

Test(rules_on_use, gwctl_obligation_and_an_over_quota_offset, .timeout = 120) {
    start();
    fund_bj_a();
    char *out = NULL, *err = NULL;
    const char *reg[] = {"obligation", "register", "--beneficiary", "Acme", "--year", "2026",
                         "--obligation-g", "100000", NULL};
    cr_assert_eq(gwctl_bj("operator", &out, &err, reg), 0, "%s", err);
    cr_assert(strstr(out, "registered") != NULL && strstr(out, "room left 5000 g") != NULL, "%s", out);
    free(out);
    free(err);
    cr_assert_eq(gwctl_bj("operator", &out, &err, reg), 0, "%s", err);
    cr_assert(strstr(out, "unchanged") != NULL, "%s", out);
    free(out);
    free(err);
    /* 600 points = 6000 g > 5000 g: refused (exit 4), the room left named */
    const char *over[] = {"retire", "--account", "bj-a", "--amount", "600", "--purpose", "compliance_offset",
                          "--compliance-year", "2026", "--beneficiary", "Acme", NULL};
    cr_assert_eq(gwctl_bj("registry", &out, &err, over), 4, "%s%s", out, err);
    cr_assert(strstr(err, "QUOTA_EXCEEDED") != NULL && strstr(err, "room left 500 point (5000 g)") != NULL,
              "%s", err);
    free(out);
    free(err);
    const char *show[] = {"obligation", "show", "--beneficiary", "Acme", "--year", "2026", "--json", NULL};
    cr_assert_eq(gwctl_bj("operator", &out, &err, show), 0, "%s", err);
    cr_assert(strstr(out, "\"offset_g\"") == NULL || strstr(out, "\"offset_g\": \"0\"") != NULL, "%s", out);
    cr_assert(strstr(out, "\"room_g\": \"5000\"") != NULL, "%s", out);
    free(out);
    free(err);
    /* the log with its 'obligation' entry verifies, replays and fits the protocol model */
    char targets[128], ca[512], cert[512], key[512];
    snprintf(targets, sizeof targets, "CN-TJ=127.0.0.1:%d,CN-BJ=127.0.0.1:%d", federation_port(fed, TJ),
             federation_port(fed, BJ));
    snprintf(ca, sizeof ca, "%s/ca.crt", harness_pki_dir());
    snprintf(cert, sizeof cert, "%s/CN-BJ-auditor.crt", harness_pki_dir());
    snprintf(key, sizeof key, "%s/CN-BJ-auditor.key", harness_pki_dir());
    const char *verify[] = {BINARY_DIR "/gwctl", "audit", "verify", "--region", "CN-BJ", "--targets", targets,
                            "--cert", cert, "--key", key, "--ca", ca, NULL};
    const char *model[] = {BINARY_DIR "/gwctl", "audit", "model-check", "--targets", targets,
                           "--cert", cert, "--key", key, "--ca", ca, NULL};
    int status = -1;
    cr_assert_eq(harness_run(verify, 60000, &status, &out, &err), 0);
    cr_assert_eq(status, 0, "audit verify: %s%s", out, err);
    free(out);
    free(err);
    cr_assert_eq(harness_run(model, 60000, &status, &out, &err), 0);
    cr_assert_eq(status, 0, "audit model-check: %s%s", out, err);
    free(out);
    free(err);
    /* usage errors exit 2 */
    const char *bad[] = {"obligation", "register", "--beneficiary", "Acme", "--year", "2026", NULL};
    cr_assert_eq(gwctl_bj("operator", &out, &err, bad), 2);
    free(out);
    free(err);
    stop_all();
}

#define RACERS 20

typedef struct {
    grpc_channel *ch;
    grpc_status_code code;
    char reason[64];
} racer_t;

static void *racer_main(void *arg) {
    racer_t *r = arg;
    char rid[33];
    rc_new_id(rid);
    Carbon__V1__RetireRequest req = CARBON__V1__RETIRE_REQUEST__INIT;
    req.retirement_id = rid;
    req.account_id = "bj-a";
    req.methodology_id = "BJ-GT-02";
    req.amount_units = 30; /* 300 g */
    req.purpose = COMPLIANCE;
    req.compliance_year = 2026;
    req.beneficiary = "Racer Co";
    ProtobufCMessage *resp = NULL;
    client_status_t st;
    r->code = client_call(r->ch, "/carbon.v1.Registry/Retire", &req.base, &carbon__v1__retire_response__descriptor,
                          &resp, CALL_TIMEOUT_MS, &st);
    snprintf(r->reason, sizeof r->reason, "%s", st.reason);
    if (resp != NULL) protobuf_c_message_free_unpacked(resp, NULL);
    return NULL;
}

/* Concurrent offsets (one group commit, one pipeline) never pass the cap:
 * 5000 g of room, 20 calls of 300 g: 16 retire, 4 are refused. */
Test(rules_on_use, concurrent_offsets_stay_within_the_cap, .timeout = 120) {
    start();
    fund_bj_a();
    client_status_t st;
    protobuf_c_message_free_unpacked(&obligation("Racer Co", 2026, 100000, &st)->base, NULL);
    racer_t r[RACERS];
    pthread_t th[RACERS];
    grpc_channel *ch = as(BJ, "registry");
    for (int i = 0; i < RACERS; i++) {
        r[i] = (racer_t){.ch = ch};
        cr_assert_eq(pthread_create(&th[i], NULL, racer_main, &r[i]), 0);
    }
    int ok = 0, quota = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(th[i], NULL);
        ok += r[i].code == GRPC_STATUS_OK;
        quota += r[i].code == GRPC_STATUS_FAILED_PRECONDITION && strcmp(r[i].reason, "QUOTA_EXCEEDED") == 0;
    }
    cr_assert_eq(ok, 16);
    cr_assert_eq(quota, 4);
    Carbon__V1__ObligationResponse *o = obligation("Racer Co", 2026, 0, &st);
    cr_assert_not_null(o, "%s", st.details);
    cr_assert_eq(o->offset_g, 4800);
    protobuf_c_message_free_unpacked(&o->base, NULL);
    cr_assert_eq(rc_total_g(as(BJ, "registry"), "bj-a"), 19600 - 4800);
    stop_all();
}

/* ZCARD of key in region's store. */
static long long zcard(int region, const char *key) {
    redisContext *c = redis_connect(federation_redis(fed, region));
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, "ZCARD %s", key);
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER, "ZCARD %s", key);
    long long v = r->integer;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

/* A retirement of another region's serials for a new purpose is reported to
 * their origin, which accepts the report: the outbox empties. */
Test(rules_on_use, new_purposes_are_reported_to_the_origin, .timeout = 120) {
    start();
    fund_bj_a();
    client_status_t st;
    cr_assert_eq(retire("TJ-GT-01", 10, CARBON__V1__RETIREMENT_PURPOSE__RETIREMENT_PURPOSE_VOLUNTARY_CANCELLATION,
                        0, "Zhao family", &st), GRPC_STATUS_OK, "%s", st.details);
    long long left = 1;
    for (int k = 0; k < 200 && left > 0; k++) {
        left = zcard(BJ, STORE_KEY_REPORTS_OUT_PREFIX "CN-TJ");
        if (left > 0) usleep(50000);
    }
    cr_assert_eq(left, 0, "CN-TJ did not accept the use report of a voluntary cancellation");
    stop_all();
}
