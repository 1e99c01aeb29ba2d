/* test_damaged_account.c - an account whose blocks an edit of the store
 * outside the gateway left out of the store's format refuses its own
 * Transfer and Retire with DATA_LOSS and the reason ACCOUNT_DAMAGED, through
 * real gateways over mutual TLS, and nothing changes in either region's
 * store; the other accounts of the region transfer as before.
 *
 * Until 2026-12-03 the take raised inside the batch's one hold script: the
 * caller got UNAVAILABLE / STORE_UNAVAILABLE ("retry"), and so did every
 * other transfer batched with it, on every retry. */
#include "tests/support/gateway_harness.h"
#include "tests/support/registry_client.h"

#include "gateway/rpc/grpc_lifetime.h"
#include "settlement/store_keys.h"

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TJ 0
#define BJ 1
#define BAD_ACCOUNT "tj-bad"
#define BAD_BLOCKS_KEY STORE_KEY_ACCOUNT_PREFIX BAD_ACCOUNT STORE_KEY_ACCOUNT_BLOCKS_SUFFIX
/* a block of vintage 2000, first in the account's spending order, whose last
 * serial a hand edit wrote as 1e20: it parses, but is no block */
#define BAD_MEMBER "TJ-GT-01|2000 CN-TJ 0000000000000001 1e20             TJ-GT-01"

static federation_t *fed;

static void stop_all(void) {
    federation_free(fed);
    fed = NULL;
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

static grpc_channel *reg(int i) { return rc_registry(fed, i); }

/* Opens acct at region and issues it 100 units of TJ-GT-01 (4,750 g; region TJ). */
static void open_and_issue(int region, const char *acct) {
    client_status_t st;
    cr_assert_eq(rc_open(reg(region), acct, &st), GRPC_STATUS_OK, "open %s: %s", acct, st.details);
    if (region != TJ) return;
    char iid[33], fp[64];
    rc_new_id(iid);
    snprintf(fp, sizeof fp, "damaged-%s", iid);
    cr_assert_eq(rc_issue(reg(TJ), iid, acct, "TJ-GT-01", 100000, fp, NULL, &st), GRPC_STATUS_OK, "issue: %s",
                 st.details);
}

/* Both regions' stores, each as federation_store_snapshot (taken again if
 * a key went away while it was read); freed by the caller. */
static void snapshots(char *out[2]) {
    for (int i = 0; i < 2; i++) {
        out[i] = NULL;
        for (int tries = 0; out[i] == NULL && tries < 10; tries++) out[i] = federation_store_snapshot(fed, i);
        cr_assert_not_null(out[i], "snapshot: %s", federation_last_error());
    }
}

Test(damaged_account, refuses_its_own_transfer_and_retire_and_changes_nothing, .fini = stop_all,
     .timeout = 300) {
    grpc_lifetime_begin();
    federation_options_t o = {.regions_n = 2, .leg_expiry_ms = 20000, .recovery_interval_ms = 300};
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
    open_and_issue(TJ, "tj-ok");
    open_and_issue(TJ, BAD_ACCOUNT);
    open_and_issue(BJ, "bj-to");
    redisContext *c = redis_connect(federation_redis(fed, TJ));
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, "ZADD " BAD_BLOCKS_KEY " 0 %s", BAD_MEMBER);
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1);
    freeReplyObject(r);
    redisFree(c);

    char *before[2], *after[2];
    snapshots(before);
    char tid[33], rid[33];
    rc_new_id(tid);
    client_status_t st;
    cr_expect_eq(rc_transfer(reg(TJ), tid, BAD_ACCOUNT, "CN-BJ", "bj-to", "TJ-GT-01", 1, NULL, &st),
                 GRPC_STATUS_DATA_LOSS, "transfer: %d %s", st.code, st.details);
    cr_expect_str_eq(st.reason, "ACCOUNT_DAMAGED", "transfer: %s", st.details);
    rc_new_id(rid);
    cr_expect_eq(rc_retire(reg(TJ), rid, BAD_ACCOUNT, "", 1, NULL, &st), GRPC_STATUS_DATA_LOSS, "retire: %d %s",
                 st.code, st.details);
    cr_expect_str_eq(st.reason, "ACCOUNT_DAMAGED", "retire: %s", st.details);
    snapshots(after);
    for (int i = 0; i < 2; i++) {
        cr_expect_str_eq(after[i], before[i], "region %d's store changed", i);
        free(before[i]);
        free(after[i]);
    }
    cr_expect_eq(rc_get_transfer(reg(TJ), tid, NULL, &st), GRPC_STATUS_NOT_FOUND, "a leg was recorded: %s",
                 st.details);

    /* The region's other accounts transfer as before. */
    Carbon__V1__TransferResponse *tr = NULL;
    rc_new_id(tid);
    cr_assert_eq(rc_transfer(reg(TJ), tid, "tj-ok", "CN-BJ", "bj-to", "TJ-GT-01", 1, &tr, &st), GRPC_STATUS_OK,
                 "%s", st.details);
    cr_expect_eq(tr->transfer->outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED, "reason %s",
                 tr->transfer->reason);
    protobuf_c_message_free_unpacked(&tr->base, NULL);
}
