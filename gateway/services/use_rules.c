/* use_rules.c - rules on use at the API; see use_rules.h. */
#include "gateway/services/use_rules.h"

#include "adapters/amount_format.h"
#include "carbon/v1/carbon.pb-c.h"
#include "common/carbon_assert.h"
#include "gateway/app.h"
#include "gateway/log.h"
#include "gateway/validate.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* " A B " from n items of size item_size, or "*" when n is 0. */
static void use_rules_list(char *out, size_t outlen, const char *items, size_t item_size, uint32_t n) {
    CARBON_ASSERT(outlen >= 2);
    if (n == 0) {
        snprintf(out, outlen, "*");
        return;
    }
    size_t pos = (size_t)snprintf(out, outlen, " ");
    for (uint32_t i = 0; i < n && pos < outlen; i++)
        pos += (size_t)snprintf(out + pos, outlen - pos, "%s ", items + i * item_size);
}

const rules_t *use_rules_arm(server_call_t *call, ledger_retire_t *in, int *refused) {
    CARBON_ASSERT(call != NULL && in != NULL && refused != NULL);
    struct gateway *gw = server_call_app(call);
    *refused = 0;
    const rules_t *r = catalog_set_rules(gw->catalogs, gw->cfg.region);
    if (r == NULL) return NULL;
    const rules_purpose_t *u = rules_find_purpose(r, in->purpose);
    if (u == NULL) {
        server_reply_error(call, GRPC_STATUS_FAILED_PRECONDITION, REASON(PURPOSE_NOT_ALLOWED),
                           "rules %s %s (%s) allow no retirement for %s in %s", r->region, r->version,
                           catalog_status_name(r->status), in->purpose, r->region);
        *refused = 1;
        return r;
    }
    CARBON_STATIC_ASSERT(RULES_LIST_MAX * (CATALOG_ID_MAX + 1) + 2 <= LEDGER_RULES_LIST_MAX, "lists fit");
    in->rules_on = 1;
    use_rules_list(in->origins, sizeof in->origins, &u->origins[0][0], sizeof u->origins[0], u->origins_n);
    use_rules_list(in->meths, sizeof in->meths, &u->methodologies[0][0], sizeof u->methodologies[0],
                   u->methodologies_n);
    in->vintage_min = u->vintage_min;
    in->vintage_max = u->vintage_max;
    in->share_num = u->share.num;
    in->share_den = u->share.den;
    in->outside_num = u->share_outside.num;
    in->outside_den = u->share_outside.den;
    return r;
}

void use_rules_reply_refusal(server_call_t *call, int rc, const ledger_rules_refusal_t *why,
                             const ledger_retire_t *in, const rules_t *r, const catalog_t *cat) {
    CARBON_ASSERT(call != NULL && why != NULL && in != NULL && cat != NULL);
    const char *region = r != NULL ? r->region : "", *version = r != NULL ? r->version : "";
    const rules_purpose_t *u = r != NULL ? rules_find_purpose(r, in->purpose) : NULL;
    if (rc == LEDGER_PURPOSE_NOT_ALLOWED) {
        server_reply_error(call, GRPC_STATUS_FAILED_PRECONDITION, REASON(PURPOSE_NOT_ALLOWED),
                           "rules %s %s [purpose %s] (line %u) do not accept the %s of credit %s",
                           region, version, in->purpose, u != NULL ? (unsigned)u->line : 0u, why->what,
                           why->block);
        return;
    }
    CARBON_ASSERT(rc == LEDGER_QUOTA_EXCEEDED);
    char room[AMOUNT_TEXT_MAX], asked[AMOUNT_TEXT_MAX];
    amount_format_catalog(room, sizeof room, why->room_g, cat);
    amount_format_catalog(asked, sizeof asked, in->amount_g, cat);
    if (strcmp(why->what, "obligation") == 0) {
        server_reply_error(call, GRPC_STATUS_FAILED_PRECONDITION, REASON(QUOTA_EXCEEDED),
                           "rules %s %s [purpose compliance_offset]: no obligation of '%s' for %u is "
                           "registered; room left 0 g (Operations.RegisterObligation)",
                           region, version, in->beneficiary, in->compliance_year);
        return;
    }
    int outside = strcmp(why->what, "share_outside") == 0;
    server_reply_error(call, GRPC_STATUS_FAILED_PRECONDITION, REASON(QUOTA_EXCEEDED),
                       "rules %s %s [purpose compliance_offset] %s %" PRIu64 "/%" PRIu64
                       " of the obligation of '%s' for %u%s: room left %s of a cap of %"
                       PRIu64 " g, %" PRIu64 " g used; asked %s",
                       region, version, why->what, outside ? in->outside_num : in->share_num,
                       outside ? in->outside_den : in->share_den, in->beneficiary, in->compliance_year,
                       outside ? " from outside the region" : "", room, why->cap_g,
                       why->used_g, asked);
}

uint64_t use_rules_inflow_g(struct gateway *gw, const char *peer) {
    CARBON_ASSERT(gw != NULL && peer != NULL);
    const rules_t *r = catalog_set_rules(gw->catalogs, gw->cfg.region);
    const rules_inflow_t *f = r != NULL ? rules_find_inflow(r, peer) : NULL;
    return f != NULL ? f->daily_g : 0;
}

/* ---- Operations.RegisterObligation / GetObligation ------------------------------ */

#define USE_RULES_YEAR_MIN 2000u
#define USE_RULES_YEAR_MAX 2100u

/* Checks a beneficiary and a compliance year; 1, or 0 after refusing the call. */
static int use_rules_subject_ok(server_call_t *call, const char *beneficiary, uint32_t year) {
    if (!validate_text(beneficiary)) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_BENEFICIARY),
                           "beneficiary must be 1..%d bytes of UTF-8 text without control characters",
                           VALIDATE_TEXT_MAX);
        return 0;
    }
    if (year < USE_RULES_YEAR_MIN || year > USE_RULES_YEAR_MAX) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_YEAR),
                           "compliance_year must be %u..%u (it is %u)", USE_RULES_YEAR_MIN,
                           USE_RULES_YEAR_MAX, year);
        return 0;
    }
    return 1;
}

/* floor(a * num / den) without overflow (a < 2^50, num <= den <= 10^6). */
static uint64_t use_rules_share_of(uint64_t a, uint64_t num, uint64_t den) {
    CARBON_ASSERT(den > 0 && num <= den);
    return (a / den) * num + (a % den) * num / den;
}

/* Answers an ObligationResponse from the store's record. */
static void use_rules_reply_obligation(server_call_t *call, store_t *st, const char *beneficiary,
                                       uint32_t year, const char *outcome) {
    struct gateway *gw = server_call_app(call);
    char err[256] = "";
    int registered = 0;
    uint64_t obligation_g = 0, offset_g = 0, outside_g = 0;
    if (ledger_obligation_get(st, year, beneficiary, &registered, &obligation_g, &offset_g, &outside_g,
                              err, sizeof err) != LEDGER_OK) {
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE), "%s", err);
        return;
    }
    Carbon__V1__ObligationResponse resp = CARBON__V1__OBLIGATION_RESPONSE__INIT;
    resp.beneficiary = (char *)beneficiary;
    resp.compliance_year = year;
    resp.registered = registered != 0;
    resp.obligation_g = obligation_g;
    resp.offset_g = offset_g;
    resp.offset_outside_g = outside_g;
    resp.outcome = (char *)outcome;
    const rules_t *r = catalog_set_rules(gw->catalogs, gw->cfg.region);
    const rules_purpose_t *u = r != NULL ? rules_find_purpose(r, "compliance_offset") : NULL;
    if (u != NULL && registered) {
        uint64_t cap = use_rules_share_of(obligation_g, u->share.num, u->share.den);
        uint64_t cap_out = use_rules_share_of(obligation_g, u->share_outside.num, u->share_outside.den);
        resp.room_g = cap > offset_g ? cap - offset_g : 0;
        resp.room_outside_g = cap_out > outside_g ? cap_out - outside_g : 0;
        if (resp.room_outside_g > resp.room_g) resp.room_outside_g = resp.room_g;
    }
    server_reply_ok(call, &resp.base);
}

void ops_register_obligation(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__RegisterObligationRequest *req = (const Carbon__V1__RegisterObligationRequest *)request;
    struct gateway *gw = server_call_app(call);
    if (!use_rules_subject_ok(call, req->beneficiary, req->compliance_year)) return;
    if (req->obligation_g == 0 || req->obligation_g >= LEDGER_AMOUNT_G_MAX) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_AMOUNT),
                           "obligation_g must be 1 .. 2^50-1 grams");
        return;
    }
    store_t *st = gateway_call_store(call);
    if (st == NULL) return;
    const identity_t *op = server_call_caller(call);
    char outcome[16] = "", err[256] = "";
    uint64_t previous_g = 0;
    if (ledger_obligation_register(st, req->compliance_year, req->beneficiary, req->obligation_g,
                                   op != NULL ? op->spiffe_id : "operator", ledger_now_ms(), outcome,
                                   &previous_g, err, sizeof err) != LEDGER_OK) {
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE), "%s", err);
        return;
    }
    const char *said = strcmp(outcome, "DUP") == 0 ? "unchanged"
                       : strcmp(outcome, "REPLACED") == 0 ? "replaced" : "registered";
    log_info("obligation_registered", "{s:s, s:i, s:s, s:s}", "region", gw->cfg.region, "compliance_year",
             (int)req->compliance_year, "outcome", said, "operator", op != NULL ? op->spiffe_id : "");
    use_rules_reply_obligation(call, st, req->beneficiary, req->compliance_year, said);
}

void ops_get_obligation(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__GetObligationRequest *req = (const Carbon__V1__GetObligationRequest *)request;
    if (!use_rules_subject_ok(call, req->beneficiary, req->compliance_year)) return;
    store_t *st = gateway_call_store(call);
    if (st == NULL) return;
    use_rules_reply_obligation(call, st, req->beneficiary, req->compliance_year, "");
}
