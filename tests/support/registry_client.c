/* registry_client.c - test-side Registry calls and checker (registry_client.h). */
#include "tests/support/registry_client.h"

#include "tests/support/proc.h"

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
