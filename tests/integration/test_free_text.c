/* test_free_text.c - ordinary text in the free-text fields (issue 11 item 3).
 *
 * Beneficiaries, activity fingerprints and operators' reasons holding ',',
 * '|', ':', quotes and Chinese are accepted up to their byte limits, stored
 * and audited byte for byte (length-prefixed text fields,
 * settlement/textfield.h) and read back through Audit.ReadLog, Audit.Trace
 * and the store; fingerprints that differ only after a separator are
 * different activities. Text over a limit, with a control character or not
 * UTF-8 is refused with a reason and changes nothing. Real Redis, real
 * gateways over mutual TLS (tests/support). */
#include "gateway/rpc/grpc_lifetime.h"
#include "settlement/audit.h"
#include "settlement/ledger.h"
#include "settlement/store.h"
#include "settlement/textfield.h"
#include "settlement/store_keys.h"
#include "tests/support/gateway_harness.h"
#include "tests/support/proc.h"
#include "tests/support/registry_client.h"
#include "tests/support/test_scripts.h"

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TJ 0
#define BJ 1
#define CALL_TIMEOUT_MS 10000

static federation_t *fed;

static void start(int regions_n) {
    grpc_lifetime_begin();
    federation_options_t o = {.regions_n = regions_n,
                              .extra_ini = "[limits]\nheuristic_after_ms = 1000\n"};
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

static Carbon__V1__RetireResponse *retire(const char *rid, const char *beneficiary,
                                          client_status_t *st) {
    Carbon__V1__RetireRequest req = CARBON__V1__RETIRE_REQUEST__INIT;
    req.retirement_id = (char *)rid;
    req.account_id = "tj-a";
    req.amount_units = 1;
    req.purpose = CARBON__V1__RETIREMENT_PURPOSE__RETIREMENT_PURPOSE_VOLUNTARY_NEUTRALITY;
    req.beneficiary = (char *)beneficiary;
    ProtobufCMessage *resp = NULL;
    client_call(as(TJ, "registry"), "/carbon.v1.Registry/Retire", &req.base,
                &carbon__v1__retire_response__descriptor, &resp, CALL_TIMEOUT_MS, st);
    return (Carbon__V1__RetireResponse *)resp;
}

static grpc_status_code issue(const char *iid, const char *fingerprint, client_status_t *st) {
    return rc_issue(as(TJ, "registry"), iid, "tj-a", "TJ-GT-01", 420000, fingerprint, NULL, st);
}

/* Opens tj-a in CN-TJ with 19950 g (19 kg) of TJ-GT-01. */
static void open_tj_a(void) {
    client_status_t st;
    cr_assert_eq(rc_open(as(TJ, "registry"), "tj-a", &st), GRPC_STATUS_OK, "%s", st.details);
    char iid[33];
    rc_new_id(iid);
    cr_assert_eq(issue(iid, "seed-activity", &st), GRPC_STATUS_OK, "%s", st.details);
}

/* The whole audit log of instance i, read as its auditor. */
static Carbon__V1__ReadLogResponse *read_log(int i) {
    Carbon__V1__ReadLogRequest req = CARBON__V1__READ_LOG_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    client_status_t st;
    cr_assert_eq(client_call(as(i, "auditor"), "/carbon.v1.Audit/ReadLog", &req.base,
                             &carbon__v1__read_log_response__descriptor, &resp, CALL_TIMEOUT_MS, &st),
                 GRPC_STATUS_OK, "ReadLog: %s", st.details);
    return (Carbon__V1__ReadLogResponse *)resp;
}

static Carbon__V1__TraceResponse *trace(int i, const char *tid, const char *serial) {
    Carbon__V1__TraceRequest req = CARBON__V1__TRACE_REQUEST__INIT;
    req.subject_case = tid ? CARBON__V1__TRACE_REQUEST__SUBJECT_TRANSFER_ID
                           : CARBON__V1__TRACE_REQUEST__SUBJECT_SERIAL;
    if (tid) req.transfer_id = (char *)tid;
    else req.serial = (char *)serial;
    ProtobufCMessage *resp = NULL;
    client_status_t st;
    cr_assert_eq(client_call(as(i, "auditor"), "/carbon.v1.Audit/Trace", &req.base,
                             &carbon__v1__trace_response__descriptor, &resp, CALL_TIMEOUT_MS, &st),
                 GRPC_STATUS_OK, "Trace: %s", st.details);
    return (Carbon__V1__TraceResponse *)resp;
}

/* The entry of `event` whose first id is id, or NULL. */
static const Carbon__V1__AuditEntry *find_entry(Carbon__V1__AuditEntry **entries, size_t n,
                                                const char *event, const char *id) {
    for (size_t k = 0; k < n; k++)
        if (!strcmp(entries[k]->event, event) && entries[k]->n_ids > 0 &&
            !strcmp(entries[k]->ids[0], id))
            return entries[k];
    return NULL;
}

/* HGET key field from instance i's store, malloc'd, or NULL if absent. */
static char *store_hget(int i, const char *key, const char *field) {
    redisContext *c = redis_connect(federation_redis(fed, i));
    cr_assert_not_null(c, "%s", redis_last_error());
    redisReply *r = redisCommand(c, "HGET %s %s", key, field);
    cr_assert_not_null(r);
    char *v = r->type == REDIS_REPLY_STRING ? strndup(r->str, r->len) : NULL;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

/* Runs gwctl as CN-TJ's auditor against the one-region federation; returns
 * its exit status, *out its stdout (malloc'd). */
static int gwctl_auditor(char **out, const char *a0, const char *a1, const char *a2, const char *a3) {
    char targets[64], cert[512], key[512], ca[512];
    snprintf(targets, sizeof targets, "CN-TJ=127.0.0.1:%d", federation_port(fed, TJ));
    snprintf(cert, sizeof cert, "%s/CN-TJ-auditor.crt", harness_pki_dir());
    snprintf(key, sizeof key, "%s/CN-TJ-auditor.key", harness_pki_dir());
    snprintf(ca, sizeof ca, "%s/ca.crt", harness_pki_dir());
    const char *argv[20] = {BINARY_DIR "/gwctl", a0, a1};
    int n = 3;
    if (a2 != NULL) argv[n++] = a2;
    if (a3 != NULL) argv[n++] = a3;
    if (!strcmp(a0, "trace")) {
        argv[n++] = "--catalog-dir";
        argv[n++] = SOURCE_DIR "/adapters/catalogs";
    }
    const char *conn[] = {"--targets", targets, "--cert", cert, "--key", key, "--ca", ca, NULL};
    for (int k = 0; conn[k] != NULL; k++) argv[n++] = conn[k];
    argv[n] = NULL;
    int status = -1;
    char *err = NULL;
    cr_assert_eq(harness_run(argv, 60000, &status, out, &err), 0, "gwctl did not run");
    if (status != 0) fprintf(stderr, "gwctl %s %s exited %d: %s\n", a0, a1, status, err ? err : "");
    free(err);
    return status;
}

static const char *const ordinary[] = {
    "Acme Co., Ltd.",
    "\xe5\xa4\xa9\xe6\xb4\xa5\xe5\xb8\x82\xe6\x9f\x90\xe6\x9f\x90\xe6\x9c\x89\xe9\x99\x90\xe5"
    "\x85\xac\xe5\x8f\xb8, \xe7\xac\xac" "1|2\xe9\x83\xa8", /* 天津市某某有限公司, 第1|2部 */
    "\"Li & Sons\" 'trading', a:b|c;d \\ e",
    "12:looks,like|a field,",
    "  spaces at both ends  ",
};
#define ORDINARY_N (sizeof ordinary / sizeof ordinary[0])

Test(free_text, retire_keeps_ordinary_text_byte_for_byte, .timeout = 120) {
    start(1);
    open_tj_a();
    char rids[ORDINARY_N][33];
    uint64_t serials[ORDINARY_N];
    for (size_t k = 0; k < ORDINARY_N; k++) {
        rc_new_id(rids[k]);
        client_status_t st;
        Carbon__V1__RetireResponse *r = retire(rids[k], ordinary[k], &st);
        cr_assert_eq(st.code, GRPC_STATUS_OK, "'%s' refused: %s", ordinary[k], st.details);
        cr_assert_eq(r->n_blocks, 1);
        serials[k] = r->blocks[0]->serial_start;
        protobuf_c_message_free_unpacked(&r->base, NULL);
        /* A replay is the same retirement; the same id for another beneficiary is not. */
        r = retire(rids[k], ordinary[k], &st);
        cr_assert_eq(st.code, GRPC_STATUS_OK, "replay: %s", st.details);
        protobuf_c_message_free_unpacked(&r->base, NULL);
        cr_assert_null(retire(rids[k], "Acme Co., Ltd", &st));
        cr_assert_eq(st.code, GRPC_STATUS_ALREADY_EXISTS, "%s", st.details);
    }
    Carbon__V1__ReadLogResponse *log = read_log(TJ);
    for (size_t k = 0; k < ORDINARY_N; k++) {
        const Carbon__V1__AuditEntry *e = find_entry(log->entries, log->n_entries, "retire", rids[k]);
        cr_assert_not_null(e, "no retire entry for '%s'", ordinary[k]);
        cr_assert_eq(e->n_detail, 2, "'%s': %zu detail texts in %s", ordinary[k], e->n_detail,
                     e->event);
        cr_assert_str_eq(e->detail[0], "voluntary_neutrality");
        cr_assert_str_eq(e->detail[1], ordinary[k], "audit log: '%s' != '%s'", e->detail[1],
                         ordinary[k]);
        cr_assert(e->entry.len > 18 && memcmp(e->entry.data, "14:carbon-audit/3,", 18) == 0,
                  "entry %" PRIu64 " is not format 3", e->seq);
        char key[200];
        snprintf(key, sizeof key, STORE_KEY_RETIREMENT_PREFIX "%s" STORE_KEY_RETIREMENT_SUFFIX, rids[k]);
        char *stored = store_hget(TJ, key, "beneficiary");
        cr_assert_str_eq(stored, ordinary[k], "store: '%s'", stored);
        free(stored);
        /* Trace by one of the retired serials finds it, with the same text. */
        char serial[48];
        snprintf(serial, sizeof serial, "CN-TJ:%" PRIu64, serials[k]);
        Carbon__V1__TraceResponse *tr = trace(TJ, NULL, serial);
        e = find_entry(tr->entries, tr->n_entries, "retire", rids[k]);
        cr_assert_not_null(e, "trace %s: no retire entry", serial);
        cr_assert_eq(e->n_detail, 2);
        cr_assert_str_eq(e->detail[1], ordinary[k], "trace: '%s'", e->detail[1]);
        protobuf_c_message_free_unpacked(&tr->base, NULL);
    }
    protobuf_c_message_free_unpacked(&log->base, NULL);
    /* Every reader of the log still verifies it: the checker, gwctl trace and audit verify. */
    checker_report_t *rep = rc_check(fed, 0);
    cr_assert_not_null(rep);
    cr_assert_eq(rep->violations_n, 0, "%s", rep->violations_n ? rep->violations[0] : "");
    cr_assert_gt(rep->audit_entries, ORDINARY_N);
    free(rep);
    char *out = NULL;
    cr_assert_eq(gwctl_auditor(&out, "audit", "verify", "--region", "CN-TJ"), 0, "%s", out);
    cr_assert(strstr(out, "entries verified") != NULL, "%s", out);
    free(out);
    char serial[48];
    snprintf(serial, sizeof serial, "CN-TJ:%" PRIu64, serials[1]);
    /* one region: no peer can cosign its checkpoints; its first checkpoint
     * may be a checkpoint interval away (without one, trace fails) */
    int status = -1;
    for (int k = 0; k < 40 && status != 0; k++) {
        if (k > 0) {
            free(out);
            proc_sleep_ms(100);
        }
        status = gwctl_auditor(&out, "trace", serial, "--cosigners", "0");
    }
    cr_assert_eq(status, 0, "%s", out);
    cr_assert(strstr(out, "retire") != NULL && strstr(out, "0 verification failures") != NULL, "%s",
              out);
    free(out);
    stop_all();
}

Test(free_text, fingerprints_with_separators_are_distinct_and_issued_once, .timeout = 120) {
    start(1);
    client_status_t st;
    cr_assert_eq(rc_open(as(TJ, "registry"), "tj-a", &st), GRPC_STATUS_OK, "%s", st.details);
    static const char *const fps[] = {
        "card,7|2026-11-24", "card,7|2026-11-25", "card,7", "card", "card|7,2026-11-24",
        "\xe5\x8d\xa1,7|\xe7\xac\xac" "2 \"x\":y", /* 卡,7|第2 "x":y */
    };
    size_t n = sizeof fps / sizeof fps[0];
    char iids[6][33];
    for (size_t k = 0; k < n; k++) {
        rc_new_id(iids[k]);
        cr_assert_eq(issue(iids[k], fps[k], &st), GRPC_STATUS_OK, "'%s' refused: %s", fps[k],
                     st.details);
    }
    /* The same activity again, under a new issuance id: refused, nothing changes. */
    char *before = federation_store_snapshot(fed, TJ);
    cr_assert_not_null(before, "%s", federation_last_error());
    for (size_t k = 0; k < n; k++) {
        char again[33];
        rc_new_id(again);
        cr_assert_eq(issue(again, fps[k], &st), GRPC_STATUS_ALREADY_EXISTS, "'%s': %s", fps[k],
                     st.details);
        cr_assert_str_eq(st.reason, "DOUBLE_ISSUANCE", "%s", st.details);
        cr_assert(strstr(st.details, iids[k]) != NULL, "names the earlier issuance: %s", st.details);
        cr_assert(strstr(st.details, fps[k]) != NULL, "names the activity whole: %s", st.details);
    }
    char *after = federation_store_snapshot(fed, TJ);
    cr_assert_str_eq(before, after, "a refused issuance changed the store");
    free(before);
    free(after);
    Carbon__V1__ReadLogResponse *log = read_log(TJ);
    for (size_t k = 0; k < n; k++) {
        const Carbon__V1__AuditEntry *e = find_entry(log->entries, log->n_entries, "issue", iids[k]);
        cr_assert_not_null(e);
        cr_assert_eq(e->n_detail, 1, "%s", e->event);
        cr_assert_str_eq(e->detail[0], fps[k]);
        char *owner = store_hget(TJ, STORE_KEY_FINGERPRINTS, fps[k]);
        cr_assert_str_eq(owner, iids[k], "fingerprint '%s'", fps[k]);
        free(owner);
    }
    protobuf_c_message_free_unpacked(&log->base, NULL);
    stop_all();
}

/* A leg prepared at CN-BJ in CN-TJ's name for a transfer CN-TJ never
 * recorded: CN-TJ answers UNKNOWN to every query, so only an operator can
 * settle it once it expired. */
static void prepare_orphan_leg(const char *tid) {
    client_status_t st;
    cr_assert_eq(rc_open(as(BJ, "registry"), "bj-b", &st), GRPC_STATUS_OK, "%s", st.details);
    open_tj_a();
    Carbon__V1__QuoteResponse *q = NULL;
    cr_assert_eq(rc_quote(as(TJ, "registry"), "tj-a", "CN-BJ", "TJ-GT-01", 2, &q, &st),
                 GRPC_STATUS_OK, "%s", st.details);
    Carbon__V1__CreditBlock block = CARBON__V1__CREDIT_BLOCK__INIT;
    block.origin_region = "CN-TJ";
    block.methodology_id = "TJ-GT-01";
    block.vintage_year = 2026;
    block.serial_start = 100000;
    block.serial_end = 100000 + q->quote->debited_g - 1;
    Carbon__V1__CreditBlock *blocks[1] = {&block};
    Carbon__V1__Leg leg;
    rc_leg_init(&leg, tid, "CN-TJ/tj-a", "CN-BJ/bj-b", blocks, 1, q->quote, ledger_now_ms() + 1000);
    Carbon__V1__Vote vote;
    char why[128];
    cr_assert_eq(rc_prepare(federation_channel(fed, BJ, "CN-TJ-gateway"), "CN-TJ", &leg, &vote, why, sizeof why, &st),
                 GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(vote, CARBON__V1__VOTE__VOTE_YES, "voted no: %s", why);
    protobuf_c_message_free_unpacked(&q->base, NULL);
    proc_sleep_ms(1200); /* past its expiry */
}

static grpc_status_code resolve(int i, const char *tid, const char *reason, client_status_t *st) {
    Carbon__V1__ResolveInDoubtRequest req = CARBON__V1__RESOLVE_IN_DOUBT_REQUEST__INIT;
    req.transfer_id = (char *)tid;
    req.decision = CARBON__V1__DECISION__DECISION_ABORT;
    req.reason = (char *)reason;
    ProtobufCMessage *resp = NULL;
    grpc_status_code c = client_call(as(i, "operator"), "/carbon.v1.Operations/ResolveInDoubt",
                                     &req.base, &carbon__v1__resolve_in_doubt_response__descriptor,
                                     &resp, CALL_TIMEOUT_MS, st);
    if (resp) protobuf_c_message_free_unpacked(resp, NULL);
    return c;
}

Test(free_text, resolve_reason_with_separators_is_recorded_and_shown, .timeout = 120) {
    start(2);
    char tid[33];
    rc_new_id(tid);
    prepare_orphan_leg(tid);
    /* incident 7, step 1|2: "forced" by 值班员 张三 */
    static const char reason[] = "incident 7, step 1|2: \"forced\" by \xe5\x80\xbc\xe7\x8f\xad"
                                 "\xe5\x91\x98 \xe5\xbc\xa0\xe4\xb8\x89";
    client_status_t st;
    /* forced once recovery's failed questions to CN-TJ (it has no record of
     * the leg) span heuristic_after_ms (1 s); refused before */
    grpc_status_code rc;
    long long until = proc_now_ms() + 15000;
    while ((rc = resolve(BJ, tid, reason, &st)) == GRPC_STATUS_FAILED_PRECONDITION &&
           strstr(st.details, "HEURISTIC_TOO_EARLY") != NULL && proc_now_ms() < until)
        proc_sleep_ms(300);
    cr_assert_eq(rc, GRPC_STATUS_OK, "%s", st.details);
    Carbon__V1__TraceResponse *tr = trace(BJ, tid, NULL);
    const Carbon__V1__AuditEntry *e = find_entry(tr->entries, tr->n_entries, "resolve", tid);
    cr_assert_not_null(e, "no resolve entry");
    cr_assert_eq(e->n_detail, 3, "%s", e->event);
    cr_assert_str_eq(e->detail[0], "A");
    cr_assert_str_eq(e->detail[1], "spiffe://jjj.carbon/CN-BJ/operator/op1");
    cr_assert_str_eq(e->detail[2], reason, "trace shows '%s'", e->detail[2]);
    protobuf_c_message_free_unpacked(&tr->base, NULL);
    char key[64];
    snprintf(key, sizeof key, STORE_KEY_LEG_PREFIX "%s" STORE_KEY_LEG_SUFFIX, tid);
    char *stored = store_hget(BJ, key, "resolve_reason");
    cr_assert_str_eq(stored, reason);
    free(stored);
    stored = store_hget(BJ, key, "resolved_by");
    cr_assert_str_eq(stored, "spiffe://jjj.carbon/CN-BJ/operator/op1");
    free(stored);
    checker_report_t *rep = rc_check(fed, 0);
    cr_assert_not_null(rep);
    cr_assert_eq(rep->violations_n, 0, "%s", rep->violations_n ? rep->violations[0] : "");
    free(rep);
    stop_all();
}

/* n bytes of text: "天" (3 bytes) repeated, then 'x' to make up n. */
static char *text_of_bytes(size_t n) {
    char *s = malloc(n + 1);
    cr_assert_not_null(s);
    size_t k = 0;
    for (; k + 3 <= n; k += 3) memcpy(s + k, "\xe5\xa4\xa9", 3);
    for (; k < n; k++) s[k] = 'x';
    s[n] = '\0';
    return s;
}

Test(free_text, bad_text_is_refused_with_a_reason_and_changes_nothing, .timeout = 120) {
    start(1);
    open_tj_a();
    char *before = federation_store_snapshot(fed, TJ);
    cr_assert_not_null(before, "%s", federation_last_error());
    char *too_long = text_of_bytes(257), *longest = text_of_bytes(256);
    char *reason_too_long = text_of_bytes(513);
    const struct {
        const char *text;
        grpc_status_code want;
        const char *reason;
    } bad[] = {
        {too_long, GRPC_STATUS_INVALID_ARGUMENT, "BAD"},
        {"", GRPC_STATUS_INVALID_ARGUMENT, "BAD"},
        {"Acme\nLtd", GRPC_STATUS_INVALID_ARGUMENT, "BAD"},
        {"Acme\tLtd", GRPC_STATUS_INVALID_ARGUMENT, "BAD"},
        {"Acme\x7f", GRPC_STATUS_INVALID_ARGUMENT, "BAD"},
        {"Acme\xc2\x85Ltd", GRPC_STATUS_INVALID_ARGUMENT, "BAD"}, /* U+0085, a C1 control */
        {"\x1b[31mred", GRPC_STATUS_INVALID_ARGUMENT, "BAD"},
        {"Acme\xff", GRPC_STATUS_INVALID_ARGUMENT, "MALFORMED"},         /* not UTF-8 */
        {"Acme\xe5\xa4", GRPC_STATUS_INVALID_ARGUMENT, "MALFORMED"},     /* cut */
        {"Acme\xc0\xaf", GRPC_STATUS_INVALID_ARGUMENT, "MALFORMED"},     /* overlong '/' */
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char id[33];
        rc_new_id(id);
        client_status_t st;
        cr_assert_null(retire(id, bad[k].text, &st));
        cr_expect_eq(st.code, bad[k].want, "beneficiary #%zu: %s", k, st.details);
        const char *want = !strcmp(bad[k].reason, "BAD") ? "BAD_BENEFICIARY" : bad[k].reason;
        cr_expect_str_eq(st.reason, want, "beneficiary #%zu: %s", k, st.details);
        rc_new_id(id);
        cr_expect_eq(issue(id, bad[k].text, &st), bad[k].want, "fingerprint #%zu: %s", k, st.details);
        want = !strcmp(bad[k].reason, "BAD") ? "BAD_FINGERPRINT" : bad[k].reason;
        cr_expect_str_eq(st.reason, want, "fingerprint #%zu: %s", k, st.details);
        rc_new_id(id);
        cr_expect_eq(resolve(TJ, id, k == 0 ? reason_too_long : bad[k].text, &st), bad[k].want,
                     "reason #%zu: %s", k, st.details);
        want = !strcmp(bad[k].reason, "BAD") ? "BAD_REASON" : bad[k].reason;
        cr_expect_str_eq(st.reason, want, "reason #%zu: %s", k, st.details);
    }
    client_status_t st;
    char id[33];
    rc_new_id(id);
    cr_assert_null(retire(id, too_long, &st));
    cr_assert(strstr(st.details, "256") != NULL && strstr(st.details, "257 bytes") != NULL,
              "the reason says the limit and the length: %s", st.details);
    char *after = federation_store_snapshot(fed, TJ);
    cr_assert_str_eq(before, after, "a refused request changed the store");
    free(before);
    free(after);
    /* The longest texts are accepted, and come back whole. */
    rc_new_id(id);
    Carbon__V1__RetireResponse *r = retire(id, longest, &st);
    cr_assert_eq(st.code, GRPC_STATUS_OK, "256 bytes refused: %s", st.details);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    char iid[33];
    rc_new_id(iid);
    cr_assert_eq(issue(iid, longest, &st), GRPC_STATUS_OK, "256 bytes refused: %s", st.details);
    char again[33];
    rc_new_id(again);
    cr_assert_eq(issue(again, longest, &st), GRPC_STATUS_ALREADY_EXISTS, "%s", st.details);
    cr_assert(strstr(st.details, longest) != NULL, "the activity is named whole: %s", st.details);
    Carbon__V1__ReadLogResponse *log = read_log(TJ);
    const Carbon__V1__AuditEntry *e = find_entry(log->entries, log->n_entries, "retire", id);
    cr_assert(e != NULL && e->n_detail == 2 && !strcmp(e->detail[1], longest));
    e = find_entry(log->entries, log->n_entries, "issue", iid);
    cr_assert(e != NULL && e->n_detail == 1 && !strcmp(e->detail[0], longest));
    protobuf_c_message_free_unpacked(&log->base, NULL);
    free(too_long);
    free(longest);
    free(reason_too_long);
    stop_all();
}

/* ---- the two encoders agree ---------------------------------------------------- */

static redisReply *textfield_script(store_t *s, int argc, const char **argv) {
    int idx = store_script_find(s, "textfield_test");
    cr_assert_geq(idx, 0, "textfield_test.lua is not loaded");
    redisReply *r = NULL;
    char err[256] = "";
    cr_assert_eq(store_eval(s, idx, 0, argc, argv, NULL, &r, err, sizeof err), STORE_OK, "%s", err);
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    return r;
}

Test(free_text, lua_and_c_encode_and_decode_text_fields_alike, .timeout = 60) {
    redis_harness_t *h = redis_start(NULL);
    cr_assert_not_null(h, "%s", redis_last_error());
    store_config_t cfg;
    store_config_defaults(&cfg);
    test_scripts_use(&cfg); /* textfield_test.lua */
    snprintf(cfg.host, sizeof cfg.host, "%s", h->host);
    cfg.port = h->port;
    char err[256] = "";
    store_t *s = store_open(&cfg, err, sizeof err);
    cr_assert_not_null(s, "%s", err);
    const char *argv[ORDINARY_N + 2] = {"encode"};
    char c_fields[1024] = "";
    size_t used = 0;
    for (size_t k = 0; k < ORDINARY_N; k++) {
        argv[k + 1] = ordinary[k];
        int w = textfield_encode(ordinary[k], strlen(ordinary[k]), c_fields + used,
                                 sizeof c_fields - used);
        cr_assert_gt(w, 0);
        used += (size_t)w;
    }
    redisReply *r = textfield_script(s, (int)ORDINARY_N + 1, argv);
    cr_assert_eq(r->elements, 1);
    cr_assert_eq(r->element[0]->len, used);
    cr_assert(memcmp(r->element[0]->str, c_fields, used) == 0, "Lua '%s' != C '%s'",
              r->element[0]->str, c_fields);
    freeReplyObject(r);
    /* Lua decodes what C encoded, and C decodes it too. */
    const char *dec[2] = {"decode", c_fields};
    r = textfield_script(s, 2, dec);
    cr_assert_eq(r->elements, ORDINARY_N);
    size_t pos = 0;
    for (size_t k = 0; k < ORDINARY_N; k++) {
        cr_assert_str_eq(r->element[k]->str, ordinary[k]);
        const char *t = NULL;
        size_t tlen = 0;
        cr_assert_eq(textfield_next(c_fields, used, &pos, &t, &tlen), 0);
        cr_assert(tlen == strlen(ordinary[k]) && memcmp(t, ordinary[k], tlen) == 0);
    }
    cr_assert_eq(pos, used);
    freeReplyObject(r);
    /* Both refuse the same malformed fields. */
    static const char *const bad[] = {"01:a,", "1:ab,", "2:a,", ":a,", "1:a", "1a,",
                                      "4097:x,", "99999:x,", "-1:a,", "1:a,x"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        const char *d[2] = {"decode", bad[k]};
        r = textfield_script(s, 2, d);
        cr_expect(r->elements == 1 && !strcmp(r->element[0]->str, "MALFORMED"), "Lua took '%s'",
                  bad[k]);
        freeReplyObject(r);
        size_t p = 0, len = strlen(bad[k]);
        const char *t = NULL;
        size_t tlen = 0;
        int ok = 1;
        while (ok && p < len) ok = textfield_next(bad[k], len, &p, &t, &tlen) == 0;
        cr_expect(!ok, "C took '%s'", bad[k]);
    }
    store_close(s);
    cr_assert_eq(redis_stop(h), 0, "%s", redis_last_error());
}

