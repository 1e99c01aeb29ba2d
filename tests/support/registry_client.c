/* registry_client.c - test-side Registry calls and checker (registry_client.h). */
#include "tests/support/registry_client.h"

#include "settlement/ledger.h"
#include "tests/support/proc.h"
#include <criterion/criterion.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void rc_new_id(char out[33]) {
    static atomic_uint_fast64_t counter;
    static uint32_t salt;
    if (salt == 0) salt = (uint32_t)getpid() * 2654435761u ^ (uint32_t)proc_now_ms();
    uint64_t n = atomic_fetch_add(&counter, 1) + 1;
    snprintf(out, 33, "%08x%08x%016llx", salt, (uint32_t)(proc_now_ms() & 0xffffffffu),
             (unsigned long long)n);
}

#define RC_CALL(ch, method, req, desc, out, st)                                                  \
    client_call((ch), "/carbon.v1.Registry/" method, &(req).base, (desc),                        \
                (ProtobufCMessage **)(out), RC_TIMEOUT_MS, (st))

grpc_status_code rc_open(grpc_channel *ch, const char *id, client_status_t *st) {
    Carbon__V1__OpenAccountRequest req = CARBON__V1__OPEN_ACCOUNT_REQUEST__INIT;
    req.account_id = (char *)id;
    req.holder_kind = "personal";
    ProtobufCMessage *resp = NULL;
    grpc_status_code c =
        RC_CALL(ch, "OpenAccount", req, &carbon__v1__open_account_response__descriptor, &resp, st);
    if (resp) protobuf_c_message_free_unpacked(resp, NULL);
    return c;
}

grpc_status_code rc_issue(grpc_channel *ch, const char *iid, const char *acct, const char *meth,
                          uint64_t quantity_milli, const char *fingerprint,
                          Carbon__V1__IssueResponse **out, client_status_t *st) {
    Carbon__V1__IssueRequest req = CARBON__V1__ISSUE_REQUEST__INIT;
    req.issuance_id = (char *)iid;
    req.account_id = (char *)acct;
    req.methodology_id = (char *)meth;
    req.vintage_year = 2026;
    req.quantity_milli = quantity_milli;
    req.activity_fingerprint = (char *)fingerprint;
    Carbon__V1__IssueResponse *tmp = NULL;
    grpc_status_code c =
        RC_CALL(ch, "Issue", req, &carbon__v1__issue_response__descriptor, &tmp, st);
    if (out) *out = tmp;
    else if (tmp) protobuf_c_message_free_unpacked(&tmp->base, NULL);
    return c;
}

grpc_status_code rc_quote(grpc_channel *ch, const char *from, const char *to_region,
                          const char *meth, uint64_t amount_units, Carbon__V1__QuoteResponse **out,
                          client_status_t *st) {
    Carbon__V1__QuoteRequest req = CARBON__V1__QUOTE_REQUEST__INIT;
    req.from_account_id = (char *)from;
    req.to_region = (char *)to_region;
    req.methodology_id = (char *)meth;
    req.amount_units = amount_units;
    Carbon__V1__QuoteResponse *tmp = NULL;
    grpc_status_code c = RC_CALL(ch, "Quote", req, &carbon__v1__quote_response__descriptor, &tmp, st);
    if (out) *out = tmp;
    else if (tmp) protobuf_c_message_free_unpacked(&tmp->base, NULL);
    return c;
}

grpc_status_code rc_transfer(grpc_channel *ch, const char *tid, const char *from,
                             const char *to_region, const char *to, const char *meth,
                             uint64_t amount_units, Carbon__V1__TransferResponse **out,
                             client_status_t *st) {
    Carbon__V1__TransferRequest req = CARBON__V1__TRANSFER_REQUEST__INIT;
    req.transfer_id = (char *)tid;
    req.from_account_id = (char *)from;
    req.to_region = (char *)to_region;
    req.to_account_id = (char *)to;
    req.methodology_id = (char *)meth;
    req.amount_units = amount_units;
    Carbon__V1__TransferResponse *tmp = NULL;
    grpc_status_code c =
        RC_CALL(ch, "Transfer", req, &carbon__v1__transfer_response__descriptor, &tmp, st);
    if (out) *out = tmp;
    else if (tmp) protobuf_c_message_free_unpacked(&tmp->base, NULL);
    return c;
}

grpc_status_code rc_get_transfer(grpc_channel *ch, const char *tid,
                                 Carbon__V1__GetTransferResponse **out, client_status_t *st) {
    Carbon__V1__GetTransferRequest req = CARBON__V1__GET_TRANSFER_REQUEST__INIT;
    req.transfer_id = (char *)tid;
    Carbon__V1__GetTransferResponse *tmp = NULL;
    grpc_status_code c =
        RC_CALL(ch, "GetTransfer", req, &carbon__v1__get_transfer_response__descriptor, &tmp, st);
    if (out) *out = tmp;
    else if (tmp) protobuf_c_message_free_unpacked(&tmp->base, NULL);
    return c;
}

grpc_channel *rc_registry(federation_t *f, int i) {
    char cert[64];
    snprintf(cert, sizeof cert, "%s-registry", federation_region(f, i));
    grpc_channel *ch = federation_channel(f, i, cert);
    cr_assert_not_null(ch, "registry channel %d: %s", i, federation_last_error());
    return ch;
}

void rc_leg_init(Carbon__V1__Leg *leg, const char *tid, const char *from_account, const char *to_account,
                 Carbon__V1__CreditBlock **blocks, size_t n_blocks, const Carbon__V1__TransferQuote *quote,
                 uint64_t expiry_ms) {
    cr_assert(leg != NULL && tid != NULL && from_account != NULL && to_account != NULL && quote != NULL);
    carbon__v1__leg__init(leg);
    leg->transfer_id = (char *)tid;
    leg->from_account = (char *)from_account;
    leg->to_account = (char *)to_account;
    leg->n_blocks = n_blocks;
    leg->blocks = blocks;
    leg->credited_g = quote->credited_g;
    leg->discount_g = quote->discount_g;
    leg->destination_methodology_id = quote->destination_methodology_id;
    leg->source_catalog_digest = quote->source_catalog_digest;
    leg->destination_catalog_digest = quote->destination_catalog_digest;
    leg->expiry_unix_ms = expiry_ms;
}

grpc_status_code rc_prepare(grpc_channel *ch, const char *source_region, Carbon__V1__Leg *leg,
                            Carbon__V1__Vote *vote, char *reason, size_t reasonlen, client_status_t *st) {
    cr_assert(ch != NULL && source_region != NULL && leg != NULL && vote != NULL && st != NULL);
    Carbon__V1__Leg *legs[1] = {leg};
    Carbon__V1__PrepareRequest prep = CARBON__V1__PREPARE_REQUEST__INIT;
    prep.source_region = (char *)source_region;
    prep.n_legs = 1;
    prep.legs = legs;
    ProtobufCMessage *resp = NULL;
    grpc_status_code c = client_call(ch, "/carbon.v1.Federation/Prepare", &prep.base,
                                     &carbon__v1__prepare_response__descriptor, &resp, RC_TIMEOUT_MS, st);
    if (c != GRPC_STATUS_OK) return c;
    const Carbon__V1__PrepareResponse *p = (const Carbon__V1__PrepareResponse *)resp;
    cr_assert_eq(p->n_votes, 1, "%zu votes for one leg", p->n_votes);
    *vote = p->votes[0]->vote;
    if (reasonlen > 0) snprintf(reason, reasonlen, "%s", p->votes[0]->reason != NULL ? p->votes[0]->reason : "");
    protobuf_c_message_free_unpacked(resp, NULL);
    return c;
}

grpc_status_code rc_decide(grpc_channel *ch, const char *source_region, const char *tid, int commit,
                           Carbon__V1__Decision *applied, client_status_t *st) {
    cr_assert(ch != NULL && source_region != NULL && tid != NULL && applied != NULL && st != NULL);
    Carbon__V1__LegDecision d = CARBON__V1__LEG_DECISION__INIT;
    d.transfer_id = (char *)tid;
    d.decision = commit ? CARBON__V1__DECISION__DECISION_COMMIT : CARBON__V1__DECISION__DECISION_ABORT;
    Carbon__V1__LegDecision *dp[1] = {&d};
    Carbon__V1__DecideRequest m = CARBON__V1__DECIDE_REQUEST__INIT;
    m.source_region = (char *)source_region;
    m.batch_seq = 1;
    m.n_decisions = 1;
    m.decisions = dp;
    ProtobufCMessage *resp = NULL;
    grpc_status_code c = client_call(ch, "/carbon.v1.Federation/Decide", &m.base,
                                     &carbon__v1__decide_response__descriptor, &resp, RC_TIMEOUT_MS, st);
    if (c != GRPC_STATUS_OK) return c;
    const Carbon__V1__DecideResponse *r = (const Carbon__V1__DecideResponse *)resp;
    cr_assert_eq(r->n_acks, 1, "%zu acknowledgements for one decision", r->n_acks);
    *applied = r->acks[0]->applied;
    protobuf_c_message_free_unpacked(resp, NULL);
    return c;
}

void rc_prepare_record(federation_t *f, int dest, const char *source_region, const char *tid,
                       const char *from_account, const char *to_account, const Carbon__V1__TransferRecord *rec,
                       uint64_t expiry_in_ms) {
    cr_assert(f != NULL && rec != NULL && rec->quote != NULL);
    Carbon__V1__Leg leg;
    rc_leg_init(&leg, tid, from_account, to_account, rec->blocks, rec->n_blocks, rec->quote,
                ledger_now_ms() + expiry_in_ms);
    char cert[64], why[128];
    snprintf(cert, sizeof cert, "%s-gateway", source_region);
    grpc_channel *ch = federation_channel(f, dest, cert);
    cr_assert_not_null(ch, "%s", federation_last_error());
    Carbon__V1__Vote vote;
    client_status_t st;
    cr_assert_eq(rc_prepare(ch, source_region, &leg, &vote, why, sizeof why, &st), GRPC_STATUS_OK, "%s",
                 st.details);
    cr_assert_eq(vote, CARBON__V1__VOTE__VOTE_YES, "voted no: %s", why);
}

grpc_status_code rc_account(grpc_channel *ch, const char *id, Carbon__V1__GetAccountResponse **out,
                            client_status_t *st) {
    Carbon__V1__GetAccountRequest req = CARBON__V1__GET_ACCOUNT_REQUEST__INIT;
    req.account_id = (char *)id;
    return RC_CALL(ch, "GetAccount", req, &carbon__v1__get_account_response__descriptor, out, st);
}

grpc_status_code rc_retire(grpc_channel *ch, const char *rid, const char *acct, const char *meth,
                           uint64_t amount_units, Carbon__V1__RetireResponse **out,
                           client_status_t *st) {
    Carbon__V1__RetireRequest req = CARBON__V1__RETIRE_REQUEST__INIT;
    req.retirement_id = (char *)rid;
    req.account_id = (char *)acct;
    req.methodology_id = (char *)meth;
    req.amount_units = amount_units;
    req.purpose = CARBON__V1__RETIREMENT_PURPOSE__RETIREMENT_PURPOSE_VOLUNTARY_NEUTRALITY;
    req.beneficiary = "test beneficiary";
    Carbon__V1__RetireResponse *tmp = NULL;
    grpc_status_code c = RC_CALL(ch, "Retire", req, &carbon__v1__retire_response__descriptor, &tmp, st);
    if (out) *out = tmp;
    else if (tmp) protobuf_c_message_free_unpacked(&tmp->base, NULL);
    return c;
}

int rc_wait_arrival(grpc_channel *ch, const char *tid, int timeout_ms) {
    long long until = proc_now_ms() + timeout_ms;
    for (;;) {
        Carbon__V1__GetTransferResponse *g = NULL;
        client_status_t st;
        int done = rc_get_transfer(ch, tid, &g, &st) == GRPC_STATUS_OK && g->transfer->arrival &&
                   g->transfer->outcome == CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED;
        if (g != NULL) protobuf_c_message_free_unpacked(&g->base, NULL);
        if (done) return 0;
        if (proc_now_ms() >= until) return -1;
        proc_sleep_ms(20);
    }
}

uint64_t rc_total_g(grpc_channel *ch, const char *id) {
    Carbon__V1__GetAccountResponse *a = NULL;
    client_status_t st;
    if (rc_account(ch, id, &a, &st) != GRPC_STATUS_OK) return UINT64_MAX;
    uint64_t g = a->total->grams;
    protobuf_c_message_free_unpacked(&a->base, NULL);
    return g;
}

uint64_t rc_balance_g(grpc_channel *ch, const char *id, const char *meth) {
    Carbon__V1__GetAccountResponse *a = NULL;
    client_status_t st;
    if (rc_account(ch, id, &a, &st) != GRPC_STATUS_OK) return UINT64_MAX;
    uint64_t g = 0;
    for (size_t i = 0; i < a->n_balances; i++)
        if (strcmp(a->balances[i]->methodology_id, meth) == 0) g += a->balances[i]->amount->grams;
    protobuf_c_message_free_unpacked(&a->base, NULL);
    return g;
}

/* One checker pass into rep; 0, or -1 if a store could not be read. */
static int rc_check_once(federation_t *f, int settled_required, checker_report_t *rep) {
    int n = federation_regions(f);
    checker_region_t regions[FEDERATION_REGIONS_MAX];
    int opened = 0, rc = -1;
    char err[256];
    for (int i = 0; i < n; i++) {
        redis_harness_t *r = federation_redis(f, i);
        store_config_t cfg;
        store_config_defaults(&cfg);
        snprintf(cfg.host, sizeof cfg.host, "%s", r->host);
        cfg.port = r->port;
        snprintf(regions[i].region, sizeof regions[i].region, "%s", federation_region(f, i));
        regions[i].store = store_open(&cfg, err, sizeof err);
        if (regions[i].store == NULL) {
            fprintf(stderr, "rc_check: %s: %s\n", regions[i].region, err);
            goto out;
        }
        opened++;
    }
    rc = checker_run(regions, (size_t)n, settled_required, rep, err, sizeof err);
    if (rc != 0) fprintf(stderr, "rc_check: %s\n", err);
out:
    for (int i = 0; i < opened; i++) store_close(regions[i].store);
    return rc;
}

checker_report_t *rc_check(federation_t *f, int settled_required) {
    checker_report_t *rep = malloc(sizeof *rep);
    if (rep == NULL) abort();
    if (rc_check_once(f, settled_required, rep) != 0) {
        free(rep);
        return NULL;
    }
    if (rep->violations_n > 0) checker_print(rep, stderr);
    return rep;
}

checker_report_t *rc_wait_settled(federation_t *f, int timeout_ms) {
    long long until = proc_now_ms() + timeout_ms;
    checker_report_t *rep = malloc(sizeof *rep);
    if (rep == NULL) abort();
    for (;;) {
        int ok = rc_check_once(f, 1, rep) == 0;
        if (!ok) {
            memset(rep, 0, sizeof *rep);
            rep->violations_n = 1;
            snprintf(rep->violations[0], CHECKER_TEXT_MAX, "a store could not be read");
        }
        if (ok && rep->violations_n == 0) return rep;
        if (proc_now_ms() >= until) {
            if (ok) checker_print(rep, stderr);
            return rep;
        }
        proc_sleep_ms(200);
    }
}
