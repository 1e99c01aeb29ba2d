/* test_settlement.c - cross-region settlement against a real federation:
 * three redis-server and three gatewayd over mutual TLS on loopback
 * (issue 4). Every test ends with the conservation checker: no violation. */
#include "gateway/rpc/grpc_lifetime.h"
#include "tests/support/gateway_harness.h"
#include "tests/support/proc.h"
#include "tests/support/registry_client.h"

#include "settlement/ledger.h"
#include "settlement/store_keys.h"

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TJ 0
#define BJ 1
#define HE 2
#define SETTLE_TIMEOUT_MS 30000

static federation_t *fed;

static void start3(int leg_expiry_ms) {
    grpc_lifetime_begin();
    federation_options_t o = {.regions_n = 3, .leg_expiry_ms = leg_expiry_ms,
                              .recovery_interval_ms = 300};
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
}

static void stop_all(void) {
    federation_free(fed);
    fed = NULL;
    unsetenv("CARBON_FAILPOINT");
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

static grpc_channel *reg(int i) { return rc_registry(fed, i); }

static void open_ok(int region, const char *id) {
    client_status_t st;
    cr_assert_eq(rc_open(reg(region), id, &st), GRPC_STATUS_OK, "open %s: %s", id, st.details);
}

/* Issues and returns the grams issued. */
static uint64_t issue_ok(int region, const char *acct, const char *meth, uint64_t milli) {
    char iid[33], fp[64];
    rc_new_id(iid);
    snprintf(fp, sizeof fp, "activity-%s", iid);
    Carbon__V1__IssueResponse *r = NULL;
    client_status_t st;
    cr_assert_eq(rc_issue(reg(region), iid, acct, meth, milli, fp, &r, &st), GRPC_STATUS_OK,
                 "issue: %s", st.details);
    uint64_t g = r->amount->grams;
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return g;
}

/* Transfers and returns the response (caller frees); asserts the call is OK. */
static Carbon__V1__TransferResponse *transfer_ok(int from_region, const char *tid, const char *from,
                                                 const char *to_region, const char *to,
                                                 const char *meth, uint64_t units) {
    Carbon__V1__TransferResponse *r = NULL;
    client_status_t st;
    cr_assert_eq(rc_transfer(reg(from_region), tid, from, to_region, to, meth, units, &r, &st),
                 GRPC_STATUS_OK, "transfer: %s", st.details);
    return r;
}

static void expect_settled_clean(void) {
    checker_report_t *rep = rc_wait_settled(fed, SETTLE_TIMEOUT_MS);
    cr_assert_not_null(rep);
    cr_assert_eq(rep->violations_n, 0, "checker: %llu violations, first: %s",
                 (unsigned long long)rep->violations_n, rep->violations[0]);
    cr_assert_gt(rep->audit_entries, 0);
    free(rep);
}

/* ---- transfers around the triangle --------------------------------------------- */

Test(settlement, triangle_and_chain_of_the_same_serials, .init = NULL, .timeout = 120) {
    start3(10000);
    open_ok(TJ, "tj-a");
    open_ok(BJ, "bj-b");
    open_ok(HE, "he-c");
    /* 420 km by metro at 95/2 g/km; 35.5 kWh at 581 g; 12 kg at 1100 g. */
    cr_assert_eq(issue_ok(TJ, "tj-a", "TJ-GT-01", 420000), 19950);
    cr_assert_eq(issue_ok(BJ, "bj-b", "BJ-EL-01", 35500), 20625);
    cr_assert_eq(issue_ok(HE, "he-c", "HE-RC-01", 12000), 13200);

    /* TJ -> BJ: 15 kg, recognized as BJ-GT-02 at 9/10, in 10 g points. */
    char t1[33];
    rc_new_id(t1);
    Carbon__V1__TransferResponse *r = transfer_ok(TJ, t1, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 15);
    cr_assert_eq(r->transfer->outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED,
                 "reason %s", r->transfer->reason);
    Carbon__V1__TransferQuote *q = r->transfer->quote;
    cr_assert_eq(q->requested_g, 15000);
    cr_assert_eq(q->credited_g, 13500);
    cr_assert_eq(q->debited_g, 15000);
    cr_assert_eq(q->discount_g, 1500);
    cr_assert_eq(q->remainder_g, 0);
    cr_assert_eq(q->credited->units, 1350);
    cr_assert_str_eq(q->credited->unit, "point");
    cr_assert_str_eq(q->destination_methodology_id, "BJ-GT-02");
    protobuf_c_message_free_unpacked(&r->base, NULL);
    cr_assert_eq(rc_wait_arrival(reg(BJ), t1, 10000), 0);
    cr_assert_eq(rc_balance_g(reg(TJ), "tj-a", "TJ-GT-01"), 4950);
    cr_assert_eq(rc_balance_g(reg(BJ), "bj-b", "TJ-GT-01"), 13500);

    /* BJ -> HE: 1000 points of the same Tianjin serials (HE recognizes TJ-GT-01 at 1/1). */
    char t2[33];
    rc_new_id(t2);
    r = transfer_ok(BJ, t2, "bj-b", "CN-HE", "he-c", "TJ-GT-01", 1000);
    cr_assert_eq(r->transfer->outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED);
    cr_assert_eq(r->transfer->quote->credited_g, 10000);
    cr_assert_eq(r->transfer->quote->credited->units, 100);
    cr_assert_str_eq(r->transfer->quote->credited->unit, "credit");
    cr_assert_eq(r->transfer->n_blocks, 1);
    cr_assert_str_eq(r->transfer->blocks[0]->origin_region, "CN-TJ");
    cr_assert_eq(r->transfer->blocks[0]->serial_start, 1);
    cr_assert_eq(r->transfer->blocks[0]->serial_end, 10000);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    cr_assert_eq(rc_wait_arrival(reg(HE), t2, 10000), 0);

    /* HE -> TJ: 50 credits of HE-RC-01, recognized in Tianjin at 2/3, whole kg. */
    char t3[33];
    rc_new_id(t3);
    r = transfer_ok(HE, t3, "he-c", "CN-TJ", "tj-a", "HE-RC-01", 50);
    cr_assert_eq(r->transfer->outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED);
    q = r->transfer->quote;
    cr_assert_eq(q->requested_g, 5000);
    cr_assert_eq(q->credited_g, 3000);
    cr_assert_eq(q->debited_g, 4500);
    cr_assert_eq(q->discount_g, 1500);
    cr_assert_eq(q->remainder_g, 500);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    cr_assert_eq(rc_wait_arrival(reg(TJ), t3, 10000), 0);

    /* Balances on every side, in grams and display units. */
    cr_assert_eq(rc_balance_g(reg(HE), "he-c", "TJ-GT-01"), 10000);
    cr_assert_eq(rc_balance_g(reg(HE), "he-c", "HE-RC-01"), 8700);
    cr_assert_eq(rc_balance_g(reg(BJ), "bj-b", "TJ-GT-01"), 3500);
    cr_assert_eq(rc_balance_g(reg(TJ), "tj-a", "HE-RC-01"), 3000);
    Carbon__V1__GetAccountResponse *acct = NULL;
    client_status_t st;
    cr_assert_eq(rc_account(reg(TJ), "tj-a", &acct, &st), GRPC_STATUS_OK);
    cr_assert_eq(acct->total->grams, 4950 + 3000);
    cr_assert_eq(acct->total->units, 7);
    cr_assert_eq(acct->total->remainder_g, 950);
    cr_assert_str_eq(acct->total->unit, "kg");
    protobuf_c_message_free_unpacked(&acct->base, NULL);

    /* The destination sees the arrival in its feed and by id. */
    Carbon__V1__GetTransferResponse *g = NULL;
    cr_assert_eq(rc_get_transfer(reg(HE), t2, &g, &st), GRPC_STATUS_OK, "%s", st.details);
    cr_assert(g->transfer->arrival);
    cr_assert_eq(g->transfer->outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED);
    cr_assert_str_eq(g->transfer->from_account, "CN-BJ/bj-b");
    protobuf_c_message_free_unpacked(&g->base, NULL);

    checker_report_t *rep = rc_wait_settled(fed, SETTLE_TIMEOUT_MS);
    cr_assert_eq(rep->violations_n, 0, "%s", rep->violations[0]);
    cr_assert_eq(rep->transfers_committed, 3);
    cr_assert_eq(rep->grams_cancelled, 3000);
    cr_assert_eq(rep->serials_issued, 19950 + 20625 + 13200);
    free(rep);
    stop_all();
}

/* ---- refusals change nothing ---------------------------------------------------- */

Test(settlement, refused_requests_change_nothing, .timeout = 120) {
    start3(10000);
    open_ok(TJ, "tj-a");
    open_ok(BJ, "bj-b");
    open_ok(HE, "he-c");
    issue_ok(TJ, "tj-a", "TJ-GT-01", 100000); /* 4750 g */
    issue_ok(HE, "he-c", "HE-WA-01", 100000); /* 100 t of water: 15000 g */
    char *before_tj = federation_store_snapshot(fed, TJ);
    char *before_he = federation_store_snapshot(fed, HE);
    char *before_bj = federation_store_snapshot(fed, BJ);
    cr_assert_not_null(before_tj);
    char tid[33];
    client_status_t st;

    rc_new_id(tid); /* more than the account holds */
    cr_assert_eq(rc_transfer(reg(TJ), tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 5, NULL, &st),
                 GRPC_STATUS_FAILED_PRECONDITION);
    cr_assert_str_eq(st.reason, "INSUFFICIENT_BALANCE");
    rc_new_id(tid); /* Beijing does not recognize Hebei's water saving */
    cr_assert_eq(rc_transfer(reg(HE), tid, "he-c", "CN-BJ", "bj-b", "HE-WA-01", 10, NULL, &st),
                 GRPC_STATUS_FAILED_PRECONDITION);
    cr_assert_str_eq(st.reason, "UNRECOGNIZED_METHODOLOGY");
    rc_new_id(tid); /* not a region of the federation */
    cr_assert_eq(rc_transfer(reg(TJ), tid, "tj-a", "CN-SH", "x", "TJ-GT-01", 1, NULL, &st),
                 GRPC_STATUS_INVALID_ARGUMENT);
    cr_assert_str_eq(st.reason, "UNKNOWN_REGION");
    cr_assert_eq(rc_transfer(reg(TJ), "not-hex", "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 1, NULL, &st),
                 GRPC_STATUS_INVALID_ARGUMENT);
    rc_new_id(tid); /* an amount that yields less than one destination unit */
    cr_assert_eq(rc_transfer(reg(TJ), tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 0, NULL, &st),
                 GRPC_STATUS_INVALID_ARGUMENT);
    rc_new_id(tid); /* unknown source account */
    cr_assert_eq(rc_transfer(reg(TJ), tid, "nobody", "CN-BJ", "bj-b", "TJ-GT-01", 1, NULL, &st),
                 GRPC_STATUS_NOT_FOUND);
    char iid[33];
    rc_new_id(iid); /* issuance to an unknown methodology, to an unknown account */
    cr_assert_eq(rc_issue(reg(TJ), iid, "tj-a", "BJ-GT-01", 1000, "fp-x", NULL, &st),
                 GRPC_STATUS_INVALID_ARGUMENT);
    cr_assert_eq(rc_issue(reg(TJ), iid, "nobody", "TJ-GT-01", 1000, "fp-y", NULL, &st),
                 GRPC_STATUS_NOT_FOUND);

    char *after_tj = federation_store_snapshot(fed, TJ);
    char *after_he = federation_store_snapshot(fed, HE);
    char *after_bj = federation_store_snapshot(fed, BJ);
    cr_assert_str_eq(before_tj, after_tj, "CN-TJ's store changed");
    cr_assert_str_eq(before_he, after_he, "CN-HE's store changed");
    cr_assert_str_eq(before_bj, after_bj, "CN-BJ's store changed");
    free(before_tj), free(after_tj), free(before_he), free(after_he), free(before_bj), free(after_bj);

    /* An unknown destination account: the destination votes no, the transfer
     * is ABORTED with the reason and the hold returns to the account. */
    rc_new_id(tid);
    Carbon__V1__TransferResponse *r =
        transfer_ok(TJ, tid, "tj-a", "CN-BJ", "nobody-here", "TJ-GT-01", 2);
    cr_assert_eq(r->transfer->outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_ABORTED);
    cr_assert_str_eq(r->transfer->reason, "UNKNOWN_ACCOUNT");
    protobuf_c_message_free_unpacked(&r->base, NULL);
    cr_assert_eq(rc_total_g(reg(TJ), "tj-a"), 4750);
    Carbon__V1__GetAccountResponse *a = NULL;
    cr_assert_eq(rc_account(reg(TJ), "tj-a", &a, &st), GRPC_STATUS_OK);
    cr_assert_eq(a->held->grams, 0);
    protobuf_c_message_free_unpacked(&a->base, NULL);
    expect_settled_clean();
    stop_all();
}

Test(settlement, destination_down_past_expiry_aborts_and_releases_the_hold, .timeout = 120) {
    start3(1500);
    open_ok(TJ, "tj-a");
    open_ok(BJ, "bj-b");
    issue_ok(TJ, "tj-a", "TJ-GT-01", 100000);
    cr_assert_eq(federation_sigstop(fed, BJ), 0);
    char tid[33];
    rc_new_id(tid);
    long long t0 = proc_now_ms();
    Carbon__V1__TransferResponse *r = transfer_ok(TJ, tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 2);
    cr_assert_eq(r->transfer->outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_ABORTED);
    cr_assert_str_eq(r->transfer->reason, "PEER_UNAVAILABLE");
    cr_assert_geq(proc_now_ms() - t0, 1000, "aborted before the leg expired");
    protobuf_c_message_free_unpacked(&r->base, NULL);
    cr_assert_eq(rc_total_g(reg(TJ), "tj-a"), 4750);
    cr_assert_eq(federation_sigcont(fed, BJ), 0);
    expect_settled_clean();
    cr_assert_eq(rc_total_g(reg(BJ), "bj-b"), 0);
    stop_all();
}

/* ---- replays -------------------------------------------------------------------- */

Test(settlement, replayed_transfer_applies_once, .timeout = 120) {
    start3(10000);
    open_ok(TJ, "tj-a");
    open_ok(BJ, "bj-b");
    issue_ok(TJ, "tj-a", "TJ-GT-01", 100000); /* 4750 g */
    char tid[33];
    rc_new_id(tid);
    Carbon__V1__TransferResponse *r1 = transfer_ok(TJ, tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 2);
    Carbon__V1__TransferResponse *r2 = transfer_ok(TJ, tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 2);
    cr_assert_eq(r1->transfer->outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED);
    cr_assert_eq(r2->transfer->outcome, r1->transfer->outcome);
    cr_assert_eq(r2->transfer->quote->credited_g, r1->transfer->quote->credited_g);
    cr_assert_eq(r2->transfer->blocks[0]->serial_start, r1->transfer->blocks[0]->serial_start);
    uint64_t credited = r1->transfer->quote->credited_g;
    protobuf_c_message_free_unpacked(&r1->base, NULL);
    protobuf_c_message_free_unpacked(&r2->base, NULL);
    cr_assert_eq(rc_total_g(reg(TJ), "tj-a"), 2750);
    cr_assert_eq(rc_wait_arrival(reg(BJ), tid, 10000), 0);
    cr_assert_eq(rc_total_g(reg(BJ), "bj-b"), credited);
    client_status_t st;
    cr_assert_eq(rc_transfer(reg(TJ), tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 1, NULL, &st),
                 GRPC_STATUS_ALREADY_EXISTS);
    cr_assert_str_eq(st.reason, "ID_REUSED");
    char iid[33];
    rc_new_id(iid);
    cr_assert_eq(rc_issue(reg(TJ), iid, "tj-a", "TJ-GT-01", 1000, "fp-same", NULL, &st), GRPC_STATUS_OK);
    cr_assert_eq(rc_issue(reg(TJ), iid, "tj-a", "TJ-GT-01", 1000, "fp-same", NULL, &st), GRPC_STATUS_OK);
    char iid2[33];
    rc_new_id(iid2);
    cr_assert_eq(rc_issue(reg(TJ), iid2, "tj-a", "TJ-GT-01", 1000, "fp-same", NULL, &st),
                 GRPC_STATUS_ALREADY_EXISTS);
    cr_assert_str_eq(st.reason, "DOUBLE_ISSUANCE");
    cr_assert_eq(rc_total_g(reg(TJ), "tj-a"), 2750 + 47);
    expect_settled_clean();
    stop_all();
}

/* ListTransfers at BJ, arrivals only, after cursor: the answer (caller frees). */
static Carbon__V1__ListTransfersResponse *bj_arrivals_after(uint64_t cursor) {
    Carbon__V1__ListTransfersRequest q = CARBON__V1__LIST_TRANSFERS_REQUEST__INIT;
    q.after_cursor = cursor;
    q.limit = 100;
    q.arrivals_only = 1;
    ProtobufCMessage *resp = NULL;
    client_status_t st;
    cr_assert_eq(client_call(reg(BJ), "/carbon.v1.Registry/ListTransfers", &q.base,
                             &carbon__v1__list_transfers_response__descriptor, &resp, RC_TIMEOUT_MS, &st),
                 GRPC_STATUS_OK, "ListTransfers: %s", st.details);
    return (Carbon__V1__ListTransfersResponse *)resp;
}

/* A registry polling arrivals behind 25,000 departures: before, one call
 * read the whole feed in one script (Redis held for all of it, again at
 * every poll while nothing matched). Now a call reads at most 10,000
 * entries and its cursor moves past those that did not match. */
Test(settlement, polling_arrivals_reads_a_bounded_part_of_the_feed, .timeout = 120) {
    start3(10000);
    open_ok(TJ, "tj-a");
    open_ok(BJ, "bj-b");
    issue_ok(TJ, "tj-a", "TJ-GT-01", 100000);
    redisContext *c = redis_connect(federation_redis(fed, BJ));
    cr_assert_not_null(c);
    for (int i = 1; i <= 25000; i++)
        redisAppendCommand(c, "ZADD " STORE_KEY_FEED " %d D:departure-%05d", i, i);
    redisAppendCommand(c, "SET " STORE_KEY_FEED_SEQ " 25000");
    for (int i = 0; i <= 25000; i++) {
        redisReply *r = NULL;
        cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        cr_assert(r->type != REDIS_REPLY_ERROR, "%s", r->str);
        freeReplyObject(r);
    }
    redisFree(c);
    char tid[33];
    rc_new_id(tid);
    Carbon__V1__TransferResponse *t = transfer_ok(TJ, tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 2);
    protobuf_c_message_free_unpacked(&t->base, NULL);
    cr_assert_eq(rc_wait_arrival(reg(BJ), tid, SETTLE_TIMEOUT_MS), 0);
    uint64_t cursor = 0, expect_next[] = {10000, 20000};
    for (int page = 0; page < 2; page++) {
        Carbon__V1__ListTransfersResponse *r = bj_arrivals_after(cursor);
        cr_assert_eq(r->n_transfers, 0, "page %d listed a departure or read past 10,000 entries", page);
        cr_assert_eq(r->next_cursor, expect_next[page], "page %d: next cursor %" PRIu64, page, r->next_cursor);
        cursor = r->next_cursor;
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    Carbon__V1__ListTransfersResponse *r = bj_arrivals_after(cursor);
    cr_assert_eq(r->n_transfers, 1);
    cr_assert_str_eq(r->transfers[0]->transfer_id, tid);
    cr_assert_gt(r->transfers[0]->cursor, 25000);
    cursor = r->next_cursor;
    cr_assert_eq(cursor, r->transfers[0]->cursor);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    r = bj_arrivals_after(cursor);
    cr_assert_eq(r->n_transfers, 0);
    cr_assert_eq(r->next_cursor, cursor, "the end: the cursor stays");
    protobuf_c_message_free_unpacked(&r->base, NULL);
    stop_all();
}

/* ListTransfers at CN-BJ whose records outgrow its max_message_bytes (16 KiB
 * here, 80 arrivals of about 400 bytes): each answer holds the records that
 * fit, and its next_cursor follows the last of them, so the pages together
 * list every arrival once. Before, the call failed whole with gRPC's bare
 * RESOURCE_EXHAUSTED (no reason, no cursor to go on from). */
Test(settlement, arrivals_page_by_what_fits_a_message, .timeout = 120) {
    grpc_lifetime_begin();
    federation_options_t o = {.regions_n = 2, .leg_expiry_ms = 10000, .recovery_interval_ms = 300};
    o.region_max_message_bytes[BJ] = 16384;
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
    open_ok(TJ, "tj-a");
    open_ok(BJ, "bj-b");
    issue_ok(TJ, "tj-a", "TJ-GT-01", 2000000); /* 95,000 g */
    enum { TRANSFERS = 80 };
    char tids[TRANSFERS][33];
    for (int i = 0; i < TRANSFERS; i++) {
        rc_new_id(tids[i]);
        Carbon__V1__TransferResponse *t = transfer_ok(TJ, tids[i], "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 1);
        protobuf_c_message_free_unpacked(&t->base, NULL);
    }
    cr_assert_eq(rc_wait_arrival(reg(BJ), tids[TRANSFERS - 1], SETTLE_TIMEOUT_MS), 0);
    int seen = 0, pages = 0;
    uint64_t cursor = 0;
    for (; pages < TRANSFERS; pages++) {
        Carbon__V1__ListTransfersResponse *r = bj_arrivals_after(cursor);
        cr_assert(r->n_transfers < TRANSFERS, "a page of %zu records within 16 KiB", r->n_transfers);
        for (size_t k = 0; k < r->n_transfers; k++) {
            cr_assert_str_eq(r->transfers[k]->transfer_id, tids[seen], "page %d, record %zu", pages, k);
            seen++;
        }
        int end = r->next_cursor == cursor;
        if (r->n_transfers > 0) cr_assert_eq(r->next_cursor, r->transfers[r->n_transfers - 1]->cursor);
        cursor = r->next_cursor;
        protobuf_c_message_free_unpacked(&r->base, NULL);
        if (end) break;
    }
    cr_assert_eq(seen, TRANSFERS);
    cr_assert_geq(pages, 2, "80 records of about 400 bytes in %d pages of 16 KiB", pages);
    stop_all();
}

/* A command on CN-TJ's Redis, its reply freed; the integer it answers (0 if
 * none), and its text into text[0..textlen) when text is not NULL ("" if none). */
static long long tj_redis_into(char *text, size_t textlen, const char *fmt, const char *a1,
                               const char *a2) {
    redisContext *c = redis_connect(federation_redis(fed, TJ));
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, fmt, a1, a2);
    cr_assert(r != NULL && r->type != REDIS_REPLY_ERROR, "%s: %s", fmt, r != NULL ? r->str : "no reply");
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    int is_text = r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
    if (text != NULL) snprintf(text, textlen, "%s", is_text ? r->str : "");
    freeReplyObject(r);
    redisFree(c);
    return v;
}

static long long tj_redis(const char *fmt, const char *a1, const char *a2) {
    return tj_redis_into(NULL, 0, fmt, a1, a2);
}

/* GetTransfer at CN-TJ answers the quote q was given, and the leg's creation time. */
static void expect_stored_quote(const char *tid, const Carbon__V1__TransferQuote *q, uint64_t created_ms) {
    Carbon__V1__GetTransferResponse *g = NULL;
    client_status_t st;
    cr_assert_eq(rc_get_transfer(reg(TJ), tid, &g, &st), GRPC_STATUS_OK, "GetTransfer: %s", st.details);
    const Carbon__V1__TransferQuote *s = g->transfer->quote;
    cr_assert_eq(s->requested_g, q->requested_g);
    cr_assert_eq(s->credited_g, q->credited_g);
    cr_assert_eq(s->debited_g, q->debited_g);
    cr_assert_eq(s->discount_g, q->discount_g);
    cr_assert_eq(s->remainder_g, q->remainder_g);
    cr_assert_eq(s->ratio_num, q->ratio_num);
    cr_assert_eq(s->ratio_den, q->ratio_den);
    cr_assert_str_eq(s->destination_methodology_id, q->destination_methodology_id);
    cr_assert_str_eq(s->source_catalog_digest, q->source_catalog_digest);
    cr_assert_str_eq(s->destination_catalog_digest, q->destination_catalog_digest);
    if (created_ms != 0) cr_assert_eq(g->transfer->created_unix_ms, created_ms);
    cr_assert_gt(g->transfer->created_unix_ms, 0);
    protobuf_c_message_free_unpacked(&g->base, NULL);
}

/* A source leg keeps the terms only gatewayd reads back in one field (issue
 * 16: eleven fields fewer per hold), in a record that stays a listpack; it
 * reads back whole, a leg written in the form before reads the same, and a
 * malformed one is refused, not half read. */
Test(settlement, a_source_leg_keeps_its_terms_in_one_field, .timeout = 120) {
    start3(10000);
    open_ok(TJ, "tj-a");
    open_ok(BJ, "bj-b");
    issue_ok(TJ, "tj-a", "TJ-GT-01", 420000);
    char tid[33], key[80];
    rc_new_id(tid);
    snprintf(key, sizeof key, STORE_KEY_LEG_PREFIX "%s" STORE_KEY_LEG_SUFFIX, tid);
    Carbon__V1__TransferResponse *r = transfer_ok(TJ, tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 15);
    const Carbon__V1__TransferQuote *q = r->transfer->quote;
    cr_assert_eq(q->discount_g, 1500); /* 9/10: every term differs from its neighbours */
    cr_assert_eq(tj_redis("HEXISTS %s %s", key, "terms"), 1);
    cr_assert_eq(tj_redis("HEXISTS %s %s", key, "ratio_num"), 0);
    cr_assert_eq(tj_redis("HEXISTS %s %s", key, "meth"), 0);
    cr_assert_lt(tj_redis("HLEN %s", key, NULL), 20);
    char encoding[32];
    tj_redis_into(encoding, sizeof encoding, "OBJECT ENCODING %s", key, NULL);
    cr_assert_str_eq(encoding, "listpack");
    expect_stored_quote(tid, q, 0);

    /* the form before: each term a field of its own */
    tj_redis("HDEL %s %s", key, "terms");
    tj_redis("HSET %s meth TJ-GT-01 vintage 0 created_ms %s", key, "1700000000123");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "HSET %%s requested_g %" PRIu64 " discount_g %" PRIu64
             " remainder_g %" PRIu64 " ratio_num %" PRIu64 " ratio_den %" PRIu64 " dest_meth %%s",
             q->requested_g, q->discount_g, q->remainder_g, q->ratio_num, q->ratio_den);
    tj_redis(cmd, key, q->destination_methodology_id);
    expect_stored_quote(tid, q, 1700000000123ULL);

    /* malformed: refused with the reason, and the gateway still answers */
    static const char *const bad[] = {"TJ-GT-01|0|15000", "TJ-GT-01|0|x|1500|0|9|10|BJ-GT-02|1",
                                      "TJ-GT-01|10000|15000|1500|0|9|10|BJ-GT-02|1",
                                      "TJ-GT-01|0|15000|1500|0|9|10|BJ-GT-02|1|extra"};
    int logged = federation_log_count(fed, TJ, "malformed terms");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tj_redis("HSET %s terms %s", key, bad[i]);
        client_status_t st;
        cr_assert_eq(rc_get_transfer(reg(TJ), tid, NULL, &st), GRPC_STATUS_UNAVAILABLE, "%s", bad[i]);
        cr_assert_str_eq(st.reason, "STORE_UNAVAILABLE");
    }
    cr_assert_eq(federation_log_count(fed, TJ, "malformed terms"), logged + 4, "each logged with its reason");
    tj_redis("HDEL %s %s", key, "terms");
    expect_stored_quote(tid, q, 1700000000123ULL);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    expect_settled_clean();
    stop_all();
}

/* Calls a Federation method on BJ as the CN-TJ gateway. */
static grpc_status_code fed_call(const char *method, const ProtobufCMessage *req,
                                 const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp) {
    grpc_channel *ch = federation_channel(fed, BJ, "CN-TJ-gateway");
    char path[96];
    snprintf(path, sizeof path, "/carbon.v1.Federation/%s", method);
    client_status_t st;
    return client_call(ch, path, req, desc, resp, RC_TIMEOUT_MS, &st);
}

Test(settlement, duplicated_and_reordered_federation_messages_change_nothing, .timeout = 120) {
    start3(10000);
    open_ok(TJ, "tj-a");
    open_ok(BJ, "bj-b");
    issue_ok(TJ, "tj-a", "TJ-GT-01", 100000);
    char tid[33];
    rc_new_id(tid);
    Carbon__V1__TransferResponse *r = transfer_ok(TJ, tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 2);
    cr_assert_eq(r->transfer->outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED);
    checker_report_t *rep = rc_wait_settled(fed, SETTLE_TIMEOUT_MS);
    cr_assert_eq(rep->violations_n, 0);
    free(rep);
    char *before = federation_store_snapshot(fed, BJ);

    /* The same Prepare again, as the source would re-send it. */
    Carbon__V1__Leg leg = CARBON__V1__LEG__INIT;
    leg.transfer_id = tid;
    leg.from_account = "CN-TJ/tj-a";
    leg.to_account = "CN-BJ/bj-b";
    leg.n_blocks = r->transfer->n_blocks;
    leg.blocks = r->transfer->blocks;
    leg.credited_g = r->transfer->quote->credited_g;
    leg.discount_g = r->transfer->quote->discount_g;
    leg.destination_methodology_id = r->transfer->quote->destination_methodology_id;
    leg.source_catalog_digest = r->transfer->quote->source_catalog_digest;
    leg.destination_catalog_digest = r->transfer->quote->destination_catalog_digest;
    leg.expiry_unix_ms = ledger_now_ms() + 10000;
    Carbon__V1__Leg *legs[1] = {&leg};
    Carbon__V1__PrepareRequest prep = CARBON__V1__PREPARE_REQUEST__INIT;
    prep.source_region = "CN-TJ";
    prep.batch_seq = 1;
    prep.n_legs = 1;
    prep.legs = legs;
    ProtobufCMessage *resp = NULL;
    cr_assert_eq(fed_call("Prepare", &prep.base, &carbon__v1__prepare_response__descriptor, &resp),
                 GRPC_STATUS_OK);
    cr_assert_eq(((Carbon__V1__PrepareResponse *)resp)->votes[0]->vote, CARBON__V1__VOTE__VOTE_YES);
    protobuf_c_message_free_unpacked(resp, NULL);

    /* The same Decide again. */
    Carbon__V1__LegDecision dec = CARBON__V1__LEG_DECISION__INIT;
    dec.transfer_id = tid;
    dec.decision = CARBON__V1__DECISION__DECISION_COMMIT;
    Carbon__V1__LegDecision *decs[1] = {&dec};
    Carbon__V1__DecideRequest decide = CARBON__V1__DECIDE_REQUEST__INIT;
    decide.source_region = "CN-TJ";
    decide.n_decisions = 1;
    decide.decisions = decs;
    cr_assert_eq(fed_call("Decide", &decide.base, &carbon__v1__decide_response__descriptor, &resp),
                 GRPC_STATUS_OK);
    cr_assert_eq(((Carbon__V1__DecideResponse *)resp)->acks[0]->applied,
                 CARBON__V1__DECISION__DECISION_COMMIT);
    protobuf_c_message_free_unpacked(resp, NULL);
    char *after = federation_store_snapshot(fed, BJ);
    cr_assert_str_eq(before, after, "a replayed Prepare or Decide changed the store");
    free(before);
    free(after);

    /* Reordered: an ABORT arrives before its Prepare; the late Prepare is refused. */
    char other[33];
    rc_new_id(other);
    dec.transfer_id = other;
    dec.decision = CARBON__V1__DECISION__DECISION_ABORT;
    cr_assert_eq(fed_call("Decide", &decide.base, &carbon__v1__decide_response__descriptor, &resp),
                 GRPC_STATUS_OK);
    cr_assert_eq(((Carbon__V1__DecideResponse *)resp)->acks[0]->applied,
                 CARBON__V1__DECISION__DECISION_ABORT);
    protobuf_c_message_free_unpacked(resp, NULL);
    leg.transfer_id = other;
    cr_assert_eq(fed_call("Prepare", &prep.base, &carbon__v1__prepare_response__descriptor, &resp),
                 GRPC_STATUS_OK);
    cr_assert_eq(((Carbon__V1__PrepareResponse *)resp)->votes[0]->vote, CARBON__V1__VOTE__VOTE_NO);
    protobuf_c_message_free_unpacked(resp, NULL);
    cr_assert_eq(rc_total_g(reg(BJ), "bj-b"), r->transfer->quote->credited_g);

    /* A gateway may not speak for another region. */
    prep.source_region = "CN-HE";
    cr_assert_eq(fed_call("Prepare", &prep.base, &carbon__v1__prepare_response__descriptor, &resp),
                 GRPC_STATUS_PERMISSION_DENIED);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    expect_settled_clean();
    stop_all();
}

/* ---- double use: racing transfers from two gateways of one region ---------------- */

typedef struct {
    grpc_channel *ch;
    int committed;
    int refused;
    int other;
} racer_t;

static void *racer_main(void *arg) {
    racer_t *r = arg;
    for (int i = 0; i < 6; i++) {
        char tid[33];
        rc_new_id(tid);
        Carbon__V1__TransferResponse *resp = NULL;
        client_status_t st;
        grpc_status_code c =
            rc_transfer(r->ch, tid, "tj-rich", "CN-BJ", "bj-b", "TJ-EL-01", 1, &resp, &st);
        if (c == GRPC_STATUS_OK &&
            resp->transfer->outcome == CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED)
            r->committed++;
        else if (c == GRPC_STATUS_FAILED_PRECONDITION && !strcmp(st.reason, "INSUFFICIENT_BALANCE"))
            r->refused++;
        else
            r->other++;
        if (resp) protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    return NULL;
}

Test(settlement, racing_transfers_never_move_more_than_there_is, .timeout = 180) {
    start3(10000);
    int second = federation_start_second(fed, TJ);
    cr_assert_geq(second, 3, "%s", federation_last_error());
    open_ok(TJ, "tj-rich");
    open_ok(BJ, "bj-b");
    /* 35.07 kWh at 570.3 g/kWh = 20000 g: room for exactly 20 transfers of 1 kg. */
    cr_assert_eq(issue_ok(TJ, "tj-rich", "TJ-EL-01", 35070), 20000);
    enum { RACERS = 8 };
    racer_t racers[RACERS];
    pthread_t threads[RACERS];
    for (int i = 0; i < RACERS; i++) {
        racers[i] = (racer_t){0};
        racers[i].ch = federation_channel(fed, i % 2 ? second : TJ, "CN-TJ-registry");
        pthread_create(&threads[i], NULL, racer_main, &racers[i]);
    }
    int committed = 0, refused = 0, other = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(threads[i], NULL);
        committed += racers[i].committed;
        refused += racers[i].refused;
        other += racers[i].other;
    }
    cr_assert_eq(other, 0, "unexpected answers: %d", other);
    cr_assert_eq(committed, 20, "committed %d of 48 racing transfers over 20 kg", committed);
    cr_assert_eq(refused, 48 - 20);
    expect_settled_clean();
    cr_assert_eq(rc_total_g(reg(TJ), "tj-rich"), 0);
    cr_assert_eq(rc_total_g(reg(BJ), "bj-b"), 20000); /* TJ-EL-01 is recognized at 1/1 */
    stop_all();
}

/* ---- crashes: kill -9 at each step, restart, recover ------------------------------ */

/* Runs one transfer TJ -> BJ with a failpoint armed in `region`; the process
 * dies there. Restarts it and waits until everything is settled. Returns the
 * final outcome at the source. */
static Carbon__V1__TransferOutcome crash_at(const char *failpoint, int crash_index) {
    setenv("CARBON_FAILPOINT", failpoint, 1);
    start3(3000);
    open_ok(TJ, "tj-a");
    open_ok(BJ, "bj-b");
    issue_ok(TJ, "tj-a", "TJ-GT-01", 100000); /* 4750 g */
    char tid[33];
    rc_new_id(tid);
    Carbon__V1__TransferResponse *r = NULL;
    client_status_t st;
    grpc_status_code c = rc_transfer(reg(TJ), tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 2, &r, &st);
    int answered_committed =
        c == GRPC_STATUS_OK &&
        r->transfer->outcome == CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED;
    if (r) protobuf_c_message_free_unpacked(&r->base, NULL);
    /* The armed process died: wait for it, restart it without the failpoint. */
    for (int i = 0; i < 100 && federation_pid(fed, crash_index) != 0 &&
                    proc_alive(federation_pid(fed, crash_index));
         i++)
        proc_sleep_ms(50);
    unsetenv("CARBON_FAILPOINT");
    cr_assert_eq(federation_restart(fed, crash_index), 0, "restart: %s", federation_last_error());
    expect_settled_clean();
    Carbon__V1__GetTransferResponse *g = NULL;
    cr_assert_eq(rc_get_transfer(reg(TJ), tid, &g, &st), GRPC_STATUS_OK, "%s", st.details);
    Carbon__V1__TransferOutcome out = g->transfer->outcome;
    uint64_t credited = g->transfer->quote->credited_g;
    protobuf_c_message_free_unpacked(&g->base, NULL);
    if (answered_committed)
        cr_assert_eq(out, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED,
                     "a COMMITTED answer was not kept");
    if (out == CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED) {
        cr_assert_eq(rc_total_g(reg(TJ), "tj-a"), 2750);
        cr_assert_eq(rc_total_g(reg(BJ), "bj-b"), credited);
    } else {
        cr_assert_eq(out, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_ABORTED);
        cr_assert_eq(rc_total_g(reg(TJ), "tj-a"), 4750);
        cr_assert_eq(rc_total_g(reg(BJ), "bj-b"), 0);
    }
    cr_assert_eq(federation_log_count(fed, crash_index, "\"failpoint\""), 1,
                 "the failpoint did not fire exactly once");
    return out;
}

Test(crash, source_after_hold_before_prepare, .timeout = 180) {
    cr_assert_eq(crash_at("CN-TJ:source.before_prepare", TJ),
                 CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_ABORTED);
    stop_all();
}

Test(crash, source_after_prepare_before_deciding, .timeout = 180) {
    cr_assert_eq(crash_at("CN-TJ:source.after_prepare", TJ),
                 CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_ABORTED);
    stop_all();
}

Test(crash, source_after_deciding_before_decide, .timeout = 180) {
    cr_assert_eq(crash_at("CN-TJ:source.after_decide", TJ),
                 CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED);
    stop_all();
}

Test(crash, destination_after_voting, .timeout = 180) {
    crash_at("CN-BJ:dest.after_prepare", BJ); /* either outcome, agreed on both sides */
    stop_all();
}

Test(crash, destination_after_applying_before_ack, .timeout = 180) {
    cr_assert_eq(crash_at("CN-BJ:dest.after_decide", BJ),
                 CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED);
    stop_all();
}

Test(crash, redis_restart_keeps_every_acknowledged_outcome, .timeout = 180) {
    start3(5000);
    open_ok(TJ, "tj-a");
    open_ok(BJ, "bj-b");
    issue_ok(TJ, "tj-a", "TJ-GT-01", 1000000); /* 47500 g */
    int committed = 0;
    for (int i = 0; i < 10; i++) {
        if (i == 3) cr_assert_eq(redis_restart(federation_redis(fed, BJ)), 0);
        if (i == 6) cr_assert_eq(redis_restart(federation_redis(fed, TJ)), 0);
        char tid[33];
        rc_new_id(tid);
        Carbon__V1__TransferResponse *r = NULL;
        client_status_t st;
        if (rc_transfer(reg(TJ), tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 1, &r, &st) ==
                GRPC_STATUS_OK &&
            r->transfer->outcome == CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED)
            committed++;
        if (r) protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    cr_assert_geq(committed, 5, "only %d of 10 transfers committed around Redis restarts", committed);
    checker_report_t *rep = rc_wait_settled(fed, SETTLE_TIMEOUT_MS);
    cr_assert_eq(rep->violations_n, 0, "%s", rep->violations[0]);
    cr_assert_geq(rep->transfers_committed, (uint64_t)committed);
    free(rep);
    /* 1 kg at 9/10 in 10 g points: 900 g credited per committed transfer. */
    cr_assert_eq(rc_total_g(reg(BJ), "bj-b") % 900, 0);
    cr_assert_geq(rc_total_g(reg(BJ), "bj-b"), (uint64_t)committed * 900);
    stop_all();
}

/* Regression (found by the bank test): a destination holding more expired
 * prepared legs than source legs must recover them without overrunning its
 * buffers. Two legs travel in one batch; the coordinator dies after both are
 * prepared; the destination's recovery asks about both while it has no
 * source leg of its own. */
typedef struct {
    char tid[33];
    grpc_status_code code;
} pair_transfer_t;

static void *pair_transfer_main(void *arg) {
    pair_transfer_t *t = arg;
    client_status_t st;
    t->code = rc_transfer(reg(TJ), t->tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 1, NULL, &st);
    return NULL;
}

Test(crash, destination_recovers_more_prepared_legs_than_it_has_source_legs, .timeout = 180) {
    setenv("CARBON_FAILPOINT", "CN-TJ:source.after_prepare", 1);
    grpc_lifetime_begin();
    federation_options_t o = {.regions_n = 2, .leg_expiry_ms = 1500, .recovery_interval_ms = 300,
                              .batch_window_ms = 300};
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
    open_ok(TJ, "tj-a");
    open_ok(BJ, "bj-b");
    issue_ok(TJ, "tj-a", "TJ-GT-01", 100000);
    pair_transfer_t t[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        rc_new_id(t[i].tid);
        pthread_create(&th[i], NULL, pair_transfer_main, &t[i]);
    }
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 100 && proc_alive(federation_pid(fed, TJ)); i++) proc_sleep_ms(50);
    unsetenv("CARBON_FAILPOINT");
    proc_sleep_ms(3000); /* past the expiry: BJ's recovery asks the dead coordinator, twice over */
    cr_assert(proc_alive(federation_pid(fed, BJ)), "the destination died in recovery");
    cr_assert_eq(federation_log_count(fed, BJ, "AddressSanitizer"), 0);
    cr_assert_eq(federation_restart(fed, TJ), 0, "%s", federation_last_error());
    expect_settled_clean();
    cr_assert_eq(rc_total_g(reg(TJ), "tj-a"), 4750, "both transfers were presumed aborted");
    stop_all();
}
