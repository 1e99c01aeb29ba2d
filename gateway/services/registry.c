/* registry.c - the carbon.v1.Registry service: what a region's registry
 * calls (DESIGN §4). Amounts are in the region's display unit; each handler
 * validates its request fully before anything is stored, so a refused
 * request changes nothing. */
#include "gateway/services/registry.h"
#include "gateway/services/use_rules.h"
#include "gateway/services/activities.h"
#include "common/carbon_assert.h"
#include "common/hex.h"
#include "common/sha256.h"

#include "adapters/amount_format.h"
#include "adapters/convert.h"
#include "gateway/app.h"
#include "gateway/arena.h"
#include "gateway/log.h"
#include "gateway/pbconv.h"
#include "gateway/validate.h"
#include "settlement/failpoint.h"
#include "settlement/group_commit.h"
#include "settlement/quote.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REGISTRY_LIST_LIMIT_DEFAULT 100
#define REGISTRY_LIST_LIMIT_MAX 1000
#define REGISTRY_BLOCKS_LIMIT_DEFAULT 1000
#define REGISTRY_WAIT_MARGIN_MS 50

/* Hex SHA-256 of a printf-formatted canonical request, the idempotency
 * fingerprint: the same id with another fingerprint is ALREADY_EXISTS. The
 * fields before the last are structured (no '|' inside); a request's one
 * free text (fingerprint, beneficiary) goes last, so a '|' in it cannot make
 * two different requests give the same text. */
#define REGISTRY_FP_TEXT_MAX 1024
/* Any canonical request text fits: a name, two accounts, a region, a
 * methodology, three numbers, a purpose and one free text, with separators. */
CARBON_STATIC_ASSERT(16 + 2 * VALIDATE_ACCOUNT_MAX + CARBON_REGION_MAX + LEDGER_METH_MAX + 3 * 20 + 32 +
                             VALIDATE_TEXT_MAX + 16 < REGISTRY_FP_TEXT_MAX,
                     "registry_request_fp's buffer holds every request's canonical text");

static void registry_request_fp(char out[LEDGER_DIGEST_HEX + 1], const char *fmt, ...) {
    char text[REGISTRY_FP_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    CARBON_ASSERT(n > 0 && (size_t)n < sizeof text);
    uint8_t md[SHA256_BYTES];
    if (sha256_digest(text, (size_t)n, md) != 0) abort(); /* OpenSSL without SHA-256 */
    int hex_len = hex_encode(md, sizeof md, out, LEDGER_DIGEST_HEX + 1);
    CARBON_ASSERT(hex_len == LEDGER_DIGEST_HEX);
}

/* Answers a ledger refusal with the matching status. */
static void registry_reply_ledger(server_call_t *call, int rc, const char *err) {
    switch (rc) {
    case LEDGER_CONFLICT:
        server_reply_error(call, GRPC_STATUS_ALREADY_EXISTS, REASON(ID_REUSED),
                           "the id was used before with other content");
        return;
    case LEDGER_NO_ACCOUNT:
    case LEDGER_NOT_FOUND:
        server_reply_error(call, GRPC_STATUS_NOT_FOUND, REASON(UNKNOWN_ACCOUNT), "%s",
                           err[0] ? err : "no such account");
        return;
    case LEDGER_EXISTS:
        server_reply_error(call, GRPC_STATUS_ALREADY_EXISTS, REASON(ACCOUNT_EXISTS), "%s", err);
        return;
    case LEDGER_SERIALS_EXHAUSTED:
        server_reply_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, REASON(SERIALS_EXHAUSTED),
                           "the region's serial space (2^50) is used up");
        return;
    case LEDGER_EINVAL:
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(OUT_OF_RANGE), "%s", err);
        return;
    case LEDGER_TOO_FRAGMENTED:
        server_reply_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, REASON(TOO_FRAGMENTED), "%s", err);
        return;
    case LEDGER_DAMAGED:
        log_error("account_damaged", "{s:s, s:s}", "method", server_call_path(call), "error", err);
        server_reply_error(call, GRPC_STATUS_DATA_LOSS, REASON(ACCOUNT_DAMAGED), "%s", err);
        return;
    default:
        log_warn("store_error", "{s:s, s:s}", "method", server_call_path(call), "error", err);
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE),
                           "the store did not answer; retry (a request with an id: with the same id)");
        return;
    }
}

/* ---- OpenAccount ------------------------------------------------------------- */

void registry_open_account(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__OpenAccountRequest *req = (const Carbon__V1__OpenAccountRequest *)request;
    struct gateway *gw = server_call_app(call);
    if (!gateway_require_account_id(call, req->account_id, "account_id")) return;
    if (!validate_holder_kind(req->holder_kind)) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_HOLDER_KIND),
                           "holder_kind must be personal, household, firm or public");
        return;
    }
    store_t *st = gateway_call_store(call);
    if (st == NULL) return;
    int created = 0;
    char err[256] = "";
    int rc = ledger_open_account(st, req->account_id, req->holder_kind, ledger_now_ms(), &created,
                                 err, sizeof err);
    if (rc != LEDGER_OK && rc != LEDGER_REPLAY) {
        registry_reply_ledger(call, rc, err);
        return;
    }
    arena_t a = {0};
    Carbon__V1__OpenAccountResponse resp = CARBON__V1__OPEN_ACCOUNT_RESPONSE__INIT;
    resp.account = arena_printf(&a, "%s/%s", gw->cfg.region, req->account_id);
    resp.created = created;
    server_reply_ok(call, &resp.base);
    arena_free(&a);
}

/* ---- Issue ---------------------------------------------------------------------- */

/* Checks an Issue's ids, vintage and fingerprint; 1, or 0 after refusing
 * the call. */
static int registry_issue_fields_ok(server_call_t *call, const Carbon__V1__IssueRequest *req) {
    if (!gateway_require_request_id(call, req->issuance_id, "issuance_id")) return 0;
    if (!gateway_require_account_id(call, req->account_id, "account_id")) return 0;
    if (!validate_vintage(req->vintage_year, 0)) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_VINTAGE),
                           "vintage_year must be %d..%d", VALIDATE_VINTAGE_MIN,
                           VALIDATE_VINTAGE_MAX);
        return 0;
    }
    if (!validate_text(req->activity_fingerprint)) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_FINGERPRINT),
                           "activity_fingerprint must be 1..%d bytes of UTF-8 text without "
                           "control characters (it has %zu bytes)",
                           VALIDATE_TEXT_MAX, strlen(req->activity_fingerprint));
        return 0;
    }
    return 1;
}

/* The grams quantity_milli thousandths of methodology m's unit yield, in
 * *amount_g (1..LEDGER_AMOUNT_G_MAX-1). 1, or 0 after refusing the call. */
static int registry_issue_amount(server_call_t *call, const Carbon__V1__IssueRequest *req,
                                 const catalog_methodology_t *m, uint64_t *amount_g_out) {
    uint64_t amount_g = 0;
    int crc = req->quantity_milli == 0
                  ? CONV_EINVAL
                  : conv_issue_g(req->quantity_milli, m->g_per_unit.num, m->g_per_unit.den,
                                 &amount_g);
    if (crc != CONV_OK || amount_g == 0 || amount_g >= LEDGER_AMOUNT_G_MAX) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_QUANTITY),
                           "%" PRIu64 " thousandths of %s yield %s", req->quantity_milli,
                           m->native_unit,
                           crc != CONV_OK ? conv_strerror(crc)
                           : amount_g == 0 ? "less than one gram"
                                           : "more than 2^50 grams");
        return 0;
    }
    *amount_g_out = amount_g;
    return 1;
}

/* An Issue or a Retire waiting for its store step in the group commit
 * (settlement/group_commit.h): the worker goes back to its completion queue,
 * and the batcher's thread answers once the outcome is durable. */
typedef struct {
    group_commit_entry_t entry; /* first: the batcher hands it back */
    server_call_t *call;
    const catalog_t *cat; /* the region's catalog the request was read with */
    const rules_t *rules; /* Retire: the region's rules on use it was armed with, or NULL */
    ledger_issue_t issue;
    ledger_retire_t retire;
} registry_write_t;

/* Queues the call's Issue (issue) or Retire (retire) for the group commit;
 * done answers it. Answers the call itself if the queue refuses it. */
static void registry_write_submit(server_call_t *call, group_commit_kind_t kind,
                                  const ledger_issue_t *issue, const ledger_retire_t *retire,
                                  const catalog_t *cat, group_commit_done_fn done) {
    CARBON_ASSERT(kind == GROUP_COMMIT_ISSUE ? issue != NULL : retire != NULL);
    struct gateway *gw = server_call_app(call);
    registry_write_t *w = calloc(1, sizeof *w);
    if (w == NULL) abort();
    w->call = call;
    w->cat = cat;
    w->entry.kind = kind;
    w->entry.done = done;
    if (kind == GROUP_COMMIT_ISSUE) {
        w->issue = *issue;
        w->entry.issue.in = &w->issue;
        w->entry.issue.now_ms = ledger_now_ms();
    } else {
        w->retire = *retire;
        w->rules = catalog_set_rules(gw->catalogs, gw->cfg.region);
        w->entry.retire.in = &w->retire;
        w->entry.retire.now_ms = ledger_now_ms();
    }
    int rc = group_commit_submit(gw->group, &w->entry);
    if (rc == 0) return;
    free(w);
    if (rc == -1)
        server_reply_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, REASON(QUEUE_FULL),
                           "too many calls wait for the store; retry");
    else
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE),
                           "the gateway is stopping; retry with the same id");
}

/* Answers an issuance with its block, in cat's unit. */
static void registry_issue_reply(server_call_t *call, const ledger_block_t *block, const catalog_t *cat) {
    CARBON_ASSERT(call != NULL && block != NULL && cat != NULL && block->last >= block->first);
    arena_t a = {0};
    Carbon__V1__IssueResponse resp = CARBON__V1__ISSUE_RESPONSE__INIT;
    resp.block = pbconv_block(&a, block);
    resp.amount = pbconv_amount(&a, block->last - block->first + 1, cat);
    resp.catalog_digest = arena_strdup(&a, cat->digest_hex);
    server_reply_ok(call, &resp.base);
    arena_free(&a);
}

/* Answers an Issue from its durable outcome (the batcher's thread). */
static void registry_issue_done(group_commit_entry_t *e, store_t *st) {
    registry_write_t *w = (registry_write_t *)e;
    CARBON_ASSERT(&w->entry == e && e->kind == GROUP_COMMIT_ISSUE);
    (void)st;
    const ledger_issue_item_t *it = &e->issue;
    struct gateway *gw = server_call_app(w->call);
    if (w->issue.reservation > 0 && it->rc == LEDGER_OK) failpoint_hit("issue.before_settle");
    if (it->rc != LEDGER_ESTORE) /* an unknown outcome is left to the home's question */
        activities_settle_later(gw, w->issue.activity_key, w->issue.reservation, w->issue.issuance_id,
                                it->rc == LEDGER_OK || it->rc == LEDGER_REPLAY);
    if (it->rc == LEDGER_DOUBLE_ISSUANCE) {
        server_reply_error(w->call, GRPC_STATUS_ALREADY_EXISTS, REASON(DOUBLE_ISSUANCE),
                           it->other_id[0] != '\0' ? "activity '%s' was issued already by issuance %s"
                                                    : "activity '%s' is being issued by another issuance "
                                                      "of this region%s",
                           w->issue.fingerprint, it->other_id);
    } else if (it->rc == LEDGER_RESERVATION_LOST) {
        server_refuse(w->call, REASON_RESERVATION_LOST, "retry with the same issuance id");
    } else if (it->rc != LEDGER_OK && it->rc != LEDGER_REPLAY) {
        registry_reply_ledger(w->call, it->rc, it->err);
    } else {
        registry_issue_reply(w->call, &it->block, w->cat);
    }
    free(w);
}

/* An Issue waiting for its activity's reservation (activities_claim_submit). */
typedef struct {
    server_call_t *call;
    const catalog_t *cat;
    ledger_issue_t in;
} registry_issue_claim_t;

/* The reservation's outcome: refused (answered now) or the issuance goes
 * on to the group commit with its reservation. */
static void registry_issue_claimed(void *ctx, const activity_claim_t *claim, int reason, const char *why) {
    registry_issue_claim_t *c = ctx;
    if (reason >= 0) {
        server_refuse(c->call, (reason_t)reason, "%s", why);
    } else {
        snprintf(c->in.activity_key, sizeof c->in.activity_key, "%s", claim->key);
        c->in.reservation = claim->rsv;
        /* no key: the precheck found nothing to reserve (activities.c) */
        c->in.answer_only = claim->key[0] == '\0';
        if (claim->rsv > 0) failpoint_hit("issue.after_reserve");
        registry_write_submit(c->call, GROUP_COMMIT_ISSUE, &c->in, NULL, c->cat, registry_issue_done);
    }
    free(c);
}

/* The hash of an Issue's content (the methodology by the id it names;
 * its other fields checked by registry_issue_fields_ok). 0, or -1 when the
 * methodology id is longer than any catalog's: no issuance has it. */
static int registry_issue_fp(char out[LEDGER_DIGEST_HEX + 1], const Carbon__V1__IssueRequest *req) {
    if (strlen(req->methodology_id) > LEDGER_METH_MAX) return -1; /* the fp's text has room for one */
    registry_request_fp(out, "issue|%s|%s|%u|%" PRIu64 "|%s", req->account_id, req->methodology_id,
                        req->vintage_year, req->quantity_milli, req->activity_fingerprint);
    return 0;
}

/* An Issue the current catalog refuses (its methodology gone, or another
 * catalog than the one it names) whose id already holds this same request:
 * the retry of an issuance answered before the catalog was reloaded.
 * Answers the recorded block, as a replay is answered, rather than a
 * refusal that would say nothing was issued; 1 when the call is answered
 * (or the store cannot be read: UNAVAILABLE, retry), 0 for the refusal. */
static int registry_issue_recorded(server_call_t *call, const catalog_t *cat, const Carbon__V1__IssueRequest *req) {
    char fp[LEDGER_DIGEST_HEX + 1], had[LEDGER_DIGEST_HEX + 1] = "", err[256] = "";
    if (cat == NULL || registry_issue_fp(fp, req) != 0) return 0;
    store_t *st = gateway_call_store(call);
    if (st == NULL) return 1;
    ledger_block_t block;
    int rc = ledger_issuance_get(st, req->issuance_id, had, &block, err, sizeof err);
    if (rc == LEDGER_NOT_FOUND || (rc == LEDGER_OK && strcmp(had, fp) != 0)) return 0;
    if (rc != LEDGER_OK) registry_reply_ledger(call, LEDGER_ESTORE, err);
    else registry_issue_reply(call, &block, cat);
    return 1;
}

void registry_issue(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__IssueRequest *req = (const Carbon__V1__IssueRequest *)request;
    struct gateway *gw = server_call_app(call);
    if (!registry_issue_fields_ok(call, req)) return;
    const catalog_t *cat = catalog_set_current(gw->catalogs, gw->cfg.region);
    const catalog_methodology_t *m = cat ? catalog_find_methodology(cat, req->methodology_id) : NULL;
    if (m == NULL) {
        if (!registry_issue_recorded(call, cat, req))
            server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(UNKNOWN_METHODOLOGY),
                               "%s's catalog has no methodology '%.40s'", gw->cfg.region, req->methodology_id);
        return;
    }
    if (req->catalog_digest[0] != '\0' && strcmp(req->catalog_digest, cat->digest_hex) != 0) {
        if (!registry_issue_recorded(call, cat, req))
            server_reply_error(call, GRPC_STATUS_FAILED_PRECONDITION, REASON(CATALOG_CHANGED),
                               "the catalog is now %s", cat->digest_hex);
        return;
    }
    uint64_t amount_g = 0;
    if (!registry_issue_amount(call, req, m, &amount_g)) return;
    ledger_issue_t in = {0};
    snprintf(in.issuance_id, sizeof in.issuance_id, "%s", req->issuance_id);
    snprintf(in.account, sizeof in.account, "%s", req->account_id);
    snprintf(in.meth, sizeof in.meth, "%s", m->id);
    snprintf(in.fingerprint, sizeof in.fingerprint, "%s", req->activity_fingerprint);
    snprintf(in.origin, sizeof in.origin, "%s", gw->cfg.region);
    in.vintage = req->vintage_year;
    in.amount_g = amount_g;
    int fp_ok = registry_issue_fp(in.request_fp, req) == 0;
    CARBON_ASSERT(fp_ok); /* the id of a methodology the catalog has */
    (void)fp_ok;
    /* one activity, one issuance in the federation (services/activities.h):
     * reserved at its home before the issuance is recorded, by the
     * activities' thread (no worker waits for the home), settled after it
     * (registry_issue_done) */
    registry_issue_claim_t *c = calloc(1, sizeof *c);
    if (c == NULL) abort();
    c->call = call;
    c->cat = cat;
    c->in = in;
    int rc = activities_claim_submit(gw, &in, m, registry_issue_claimed, c);
    if (rc == 0) return;
    free(c);
    if (rc > 0) registry_write_submit(call, GROUP_COMMIT_ISSUE, &in, NULL, cat, registry_issue_done);
    else
        server_reply_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, REASON(QUEUE_FULL),
                           "too many issuances wait for their activity's reservation; retry");
}

/* ---- Quote and Transfer ----------------------------------------------------------- */

/* Why a request is refused: its reason and message (server_refuse). */
typedef struct {
    reason_t reason;
    char why[256];
} registry_refusal_t;

/* Computes the quote; or returns -1 with the refusal in *no (nothing answered). */
static int registry_quote(struct gateway *gw, const char *to_region, const char *meth, uint64_t amount_units,
                          quote_t *q, registry_refusal_t *no) {
    CARBON_ASSERT(gw != NULL && to_region != NULL && meth != NULL && q != NULL && no != NULL);
    if (strcmp(to_region, gw->cfg.region) == 0 || config_peer_address(&gw->cfg, to_region) == NULL) {
        no->reason = REASON_UNKNOWN_REGION;
        snprintf(no->why, sizeof no->why, "'%.16s' is not another region of the federation", to_region);
        return -1;
    }
    if (amount_units == 0) {
        no->reason = REASON_BAD_AMOUNT;
        snprintf(no->why, sizeof no->why, "amount_units must be at least 1");
        return -1;
    }
    int rc = quote_compute(gw->catalogs, gw->cfg.region, to_region, meth, amount_units, q, no->why,
                           sizeof no->why);
    if (rc == QUOTE_OK && q->q.debited_g >= LEDGER_AMOUNT_G_MAX) {
        rc = QUOTE_OVERFLOW;
        snprintf(no->why, sizeof no->why, "more than 2^50 grams in one transfer");
    }
    if (rc == QUOTE_OK) return 0;
    no->reason = quote_rc_reason(rc);
    return -1;
}

static Carbon__V1__TransferQuote *registry_pb_quote(arena_t *a, const ledger_leg_t *leg,
                                                    const catalog_t *src, const catalog_t *dst) {
    Carbon__V1__TransferQuote *m = arena_alloc(a, sizeof *m);
    carbon__v1__transfer_quote__init(m);
    m->requested_g = leg->requested_g;
    m->credited_g = leg->credited_g;
    m->debited_g = leg->debited_g;
    m->discount_g = leg->discount_g;
    m->remainder_g = leg->remainder_g;
    m->ratio_num = leg->ratio_num;
    m->ratio_den = leg->ratio_den;
    m->destination_methodology_id = arena_strdup(a, leg->dest_meth);
    m->credited = pbconv_amount(a, leg->credited_g, dst);
    m->debited = pbconv_amount(a, leg->debited_g, src);
    m->source_catalog_digest = arena_strdup(a, leg->src_digest);
    m->destination_catalog_digest = arena_strdup(a, leg->dst_digest);
    return m;
}

static Carbon__V1__TransferOutcome registry_outcome(transfer_state_t state) {
    if (state == TRANSFER_STATE_COMMITTED) return CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED;
    if (state == TRANSFER_STATE_ABORTED || state == TRANSFER_STATE_REFUSED)
        return CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_ABORTED;
    return CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_PENDING;
}

/* A TransferRecord from either side's leg. */
static Carbon__V1__TransferRecord *registry_pb_record(arena_t *a, struct gateway *gw,
                                                      const ledger_leg_t *leg) {
    Carbon__V1__TransferRecord *m = arena_alloc(a, sizeof *m);
    carbon__v1__transfer_record__init(m);
    int arrival = strcmp(leg->role, "destination") == 0;
    const char *src_region = arrival ? leg->peer : gw->cfg.region;
    const char *dst_region = arrival ? gw->cfg.region : leg->peer;
    const catalog_t *src = catalog_set_by_digest(gw->catalogs, leg->src_digest);
    const catalog_t *dst = catalog_set_by_digest(gw->catalogs, leg->dst_digest);
    if (src == NULL) src = catalog_set_current(gw->catalogs, src_region);
    if (dst == NULL) dst = catalog_set_current(gw->catalogs, dst_region);
    m->transfer_id = arena_strdup(a, leg->tid);
    m->from_account = arrival ? arena_strdup(a, leg->from)
                              : arena_printf(a, "%s/%s", gw->cfg.region, leg->from);
    m->to_account = arrival ? arena_printf(a, "%s/%s", gw->cfg.region, leg->to)
                            : arena_strdup(a, leg->to);
    m->outcome = registry_outcome(leg->state);
    m->reason = arena_strdup(a, leg->reason);
    m->reason_detail = arena_strdup(a, leg->reason_detail);
    m->quote = registry_pb_quote(a, leg, src, dst);
    m->n_blocks = leg->blocks_n;
    m->blocks = arena_alloc(a, leg->blocks_n * sizeof *m->blocks);
    for (size_t i = 0; i < leg->blocks_n; i++) m->blocks[i] = pbconv_block(a, &leg->blocks[i]);
    m->created_unix_ms = leg->created_ms;
    m->decided_unix_ms = leg->decided_ms;
    m->arrival = arrival;
    m->cursor = leg->cursor;
    return m;
}

void registry_quote_handler(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__QuoteRequest *req = (const Carbon__V1__QuoteRequest *)request;
    struct gateway *gw = server_call_app(call);
    if (!gateway_require_account_id(call, req->from_account_id, "from_account_id")) return;
    quote_t q;
    registry_refusal_t no;
    if (registry_quote(gw, req->to_region, req->methodology_id, req->amount_units, &q, &no) != 0) {
        server_refuse(call, no.reason, "%s", no.why);
        return;
    }
    ledger_leg_t leg = {0};
    int filled = quote_fill_leg(&q, &leg);
    CARBON_ASSERT(filled == 0);
    (void)filled;
    arena_t a = {0};
    Carbon__V1__QuoteResponse resp = CARBON__V1__QUOTE_RESPONSE__INIT;
    resp.quote = registry_pb_quote(&a, &leg, q.src, q.dst);
    (void)gw;
    server_reply_ok(call, &resp.base);
    arena_free(&a);
}

/* Answers a Transfer (or a replay of one) from the leg's state. */
static void registry_transfer_reply(server_call_t *call, const ledger_leg_t *leg) {
    struct gateway *gw = server_call_app(call);
    if (leg->state == TRANSFER_STATE_NONE) {
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE),
                           "the decision could not be recorded yet; ask GetTransfer or retry "
                           "with the same transfer_id");
        return;
    }
    arena_t a = {0};
    Carbon__V1__TransferResponse resp = CARBON__V1__TRANSFER_RESPONSE__INIT;
    resp.transfer = registry_pb_record(&a, gw, leg);
    server_reply_ok(call, &resp.base);
    arena_free(&a);
}

static void registry_transfer_done(void *arg, const ledger_leg_t *leg) {
    registry_transfer_reply(arg, leg);
}

/* Checks a Transfer's ids, accounts and vintage; 1, or 0 after refusing the
 * call. */
static int registry_transfer_fields_ok(server_call_t *call, const Carbon__V1__TransferRequest *req) {
    if (!gateway_require_request_id(call, req->transfer_id, "transfer_id")) return 0;
    if (!validate_account_id(req->from_account_id) || !validate_account_id(req->to_account_id)) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_ACCOUNT_ID),
                           "account ids must be 1..64 of [A-Za-z0-9._-]");
        return 0;
    }
    if (!validate_vintage(req->vintage_year, 1)) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_VINTAGE),
                           "vintage_year must be 0 (any) or %d..%d", VALIDATE_VINTAGE_MIN,
                           VALIDATE_VINTAGE_MAX);
        return 0;
    }
    return 1;
}

/* The source leg a Transfer holds: ids, accounts, the quote's numbers and
 * an expiry leg_expiry_ms after now_ms. */
static void registry_transfer_leg(struct gateway *gw, const Carbon__V1__TransferRequest *req,
                                  const quote_t *q, uint64_t now_ms, ledger_leg_t *leg) {
    snprintf(leg->tid, sizeof leg->tid, "%s", req->transfer_id);
    snprintf(leg->role, sizeof leg->role, "source");
    snprintf(leg->from, sizeof leg->from, "%s", req->from_account_id);
    snprintf(leg->to, sizeof leg->to, "%s/%s", req->to_region, req->to_account_id);
    snprintf(leg->peer, sizeof leg->peer, "%s", req->to_region);
    snprintf(leg->meth, sizeof leg->meth, "%s", req->methodology_id);
    leg->vintage = req->vintage_year;
    int filled = quote_fill_leg(q, leg);
    CARBON_ASSERT(filled == 0);
    (void)filled;
    leg->expiry_ms = now_ms + gw->cfg.leg_expiry_ms;
}

/* Answers the same transfer again from its record rec: its outcome, or
 * once decided, waiting (at most twice leg_expiry_ms, within the call's
 * deadline) while it is in flight. */
static void registry_transfer_replay(server_call_t *call, const ledger_leg_t *rec) {
    struct gateway *gw = server_call_app(call);
    CARBON_ASSERT(gw != NULL && rec != NULL);
    if (rec->state != TRANSFER_STATE_HELD) {
        registry_transfer_reply(call, rec);
        return;
    }
    int64_t left = server_call_deadline_left_ms(call);
    uint64_t wait_ms = left == INT64_MAX || left > (int64_t)(gw->cfg.leg_expiry_ms * 2)
                           ? gw->cfg.leg_expiry_ms * 2
                           : (uint64_t)(left > REGISTRY_WAIT_MARGIN_MS ? left - REGISTRY_WAIT_MARGIN_MS : 0);
    if (engine_wait(gw->engine, rec->tid, ledger_now_ms() + wait_ms, registry_transfer_done, call) != 0)
        server_reply_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, REASON(TOO_MANY_WAITERS),
                           "too many callers wait on transfers; ask GetTransfer later");
}

/* Answers a Transfer whose hold returned rc (not LEDGER_OK): too little
 * balance, a replay (its recorded outcome, waiting for it while in flight),
 * or the ledger's refusal. */
static void registry_transfer_not_held(server_call_t *call, store_t *st,
                                       const Carbon__V1__TransferRequest *req, const quote_t *q,
                                       int rc, uint64_t have_g, char *err, size_t errlen) {
    struct gateway *gw = server_call_app(call);
    if (rc == LEDGER_INSUFFICIENT) {
        char have[AMOUNT_TEXT_MAX], need[AMOUNT_TEXT_MAX];
        server_reply_error(call, GRPC_STATUS_FAILED_PRECONDITION, REASON(INSUFFICIENT_BALANCE),
                           "account %s/%s holds %s of %s%s, the transfer needs %s",
                           gw->cfg.region, req->from_account_id,
                           amount_format_catalog(have, sizeof have, have_g, q->src),
                           req->methodology_id, req->vintage_year ? " of that vintage" : "",
                           amount_format_catalog(need, sizeof need, q->q.debited_g, q->src));
    } else if (rc == LEDGER_REPLAY) {
        ledger_leg_t rec;
        if (ledger_leg_get(st, req->transfer_id, &rec, err, errlen) != LEDGER_OK) {
            registry_reply_ledger(call, LEDGER_ESTORE, err);
            return;
        }
        registry_transfer_replay(call, &rec);
        ledger_leg_free(&rec);
    } else {
        registry_reply_ledger(call, rc, err);
    }
}

/* A Transfer waiting for its hold in the group commit (settlement/group_commit.h). */
typedef struct {
    group_commit_entry_t entry; /* first: the batcher hands it back */
    server_call_t *call;
    const Carbon__V1__TransferRequest *req; /* the call's, alive until it is answered */
    quote_t q;
    ledger_leg_t leg;
    char fp[LEDGER_DIGEST_HEX + 1];
} registry_hold_t;

/* The hold's outcome is durable (or the batch failed): hands a held leg to
 * the engine, which answers once decided, or answers the refusal now. Runs
 * on the hold batcher's thread; st is its store connection (NULL if down). */
static void registry_transfer_held(group_commit_entry_t *e, store_t *st) {
    registry_hold_t *h = (registry_hold_t *)e;
    CARBON_ASSERT(&h->entry == e && h->entry.hold.leg == &h->leg);
    struct gateway *gw = server_call_app(h->call);
    if (e->hold.rc == LEDGER_OK) {
        engine_submit(gw->engine, &h->leg, registry_transfer_done, h->call);
        free(h);
        return;
    }
    engine_unreserve(gw->engine, h->req->to_region);
    int rc = e->hold.rc;
    if (st == NULL && rc == LEDGER_REPLAY) rc = LEDGER_ESTORE;
    registry_transfer_not_held(h->call, st, h->req, &h->q, rc, e->hold.have_g, e->hold.err,
                               sizeof e->hold.err);
    ledger_leg_free(&h->leg);
    free(h);
}

/* The hash of a Transfer's content (its accounts checked by
 * registry_transfer_fields_ok). 0, or -1 when its region or methodology id
 * is longer than any the federation has: no transfer has them. */
static int registry_transfer_fp(char out[LEDGER_DIGEST_HEX + 1], const Carbon__V1__TransferRequest *req) {
    if (strlen(req->to_region) > CARBON_REGION_MAX || strlen(req->methodology_id) > LEDGER_METH_MAX) return -1;
    registry_request_fp(out, "transfer|%s|%s|%s|%s|%u|%" PRIu64 "|%" PRIu64, req->from_account_id, req->to_region,
                        req->to_account_id, req->methodology_id, req->vintage_year, req->amount_units,
                        req->expected_credited_g);
    return 0;
}

/* A Transfer the current catalogs refuse (no quote, or not the credit it
 * expects) whose id already holds this same request (fp): the retry of a
 * transfer answered before the catalogs were reloaded. Answers its recorded
 * outcome, as a replay, rather than a refusal that would say it never
 * happened; 1 when the call is answered (or the store cannot be read: then
 * UNAVAILABLE, retry), 0 for the refusal. */
static int registry_transfer_recorded(server_call_t *call, const Carbon__V1__TransferRequest *req,
                                      const char *fp) {
    store_t *st = gateway_call_store(call);
    if (st == NULL) return 1;
    ledger_leg_t rec;
    char err[256] = "";
    int rc = ledger_leg_get(st, req->transfer_id, &rec, err, sizeof err);
    if (rc == LEDGER_NOT_FOUND) return 0;
    if (rc != LEDGER_OK) {
        registry_reply_ledger(call, LEDGER_ESTORE, err);
        return 1;
    }
    int same = strcmp(rec.role, "source") == 0 && strcmp(rec.request_fp, fp) == 0;
    if (same) registry_transfer_replay(call, &rec);
    ledger_leg_free(&rec);
    return same;
}

void registry_transfer(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__TransferRequest *req = (const Carbon__V1__TransferRequest *)request;
    struct gateway *gw = server_call_app(call);
    if (!registry_transfer_fields_ok(call, req)) return;
    char fp[LEDGER_DIGEST_HEX + 1] = "";
    int fp_ok = registry_transfer_fp(fp, req) == 0;
    quote_t q;
    registry_refusal_t no;
    int refused = registry_quote(gw, req->to_region, req->methodology_id, req->amount_units, &q, &no) != 0;
    if (!refused && req->expected_credited_g != 0 && req->expected_credited_g != q.q.credited_g) {
        no.reason = REASON_QUOTE_CHANGED;
        snprintf(no.why, sizeof no.why, "the quote now credits %" PRIu64 " g, not %" PRIu64 " g (catalog %s)",
                 q.q.credited_g, req->expected_credited_g, q.dst->digest_hex);
        refused = 1;
    }
    if (refused) {
        if (!fp_ok || !registry_transfer_recorded(call, req, fp)) server_refuse(call, no.reason, "%s", no.why);
        return;
    }
    CARBON_ASSERT(fp_ok); /* the quote found the region and the methodology */
    if (engine_reserve(gw->engine, req->to_region) != 0) {
        server_reply_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, REASON(QUEUE_FULL),
                           "too many transfers to %s in flight; retry", req->to_region);
        return;
    }
    registry_hold_t *h = calloc(1, sizeof *h);
    if (h == NULL) abort();
    h->call = call;
    h->req = req;
    h->q = q;
    uint64_t now = ledger_now_ms();
    registry_transfer_leg(gw, req, &q, now, &h->leg);
    snprintf(h->fp, sizeof h->fp, "%s", fp);
    h->entry.kind = GROUP_COMMIT_HOLD;
    h->entry.hold.leg = &h->leg;
    h->entry.hold.request_fp = h->fp;
    h->entry.hold.now_ms = now;
    h->entry.done = registry_transfer_held;
    /* The worker goes back to the completion queue; the batcher answers. */
    int rc = group_commit_submit(gw->group, &h->entry);
    if (rc == 0) return;
    engine_unreserve(gw->engine, req->to_region);
    free(h);
    if (rc == -1)
        server_reply_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, REASON(QUEUE_FULL),
                           "too many transfers wait for their hold; retry");
    else
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE),
                           "the gateway is stopping; retry with the same transfer_id");
}

/* ---- GetTransfer, ListTransfers ------------------------------------------------------ */

void registry_get_transfer(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__GetTransferRequest *req = (const Carbon__V1__GetTransferRequest *)request;
    struct gateway *gw = server_call_app(call);
    if (!gateway_require_request_id(call, req->transfer_id, "transfer_id")) return;
    store_t *st = gateway_call_store(call);
    if (st == NULL) return;
    ledger_leg_t leg;
    char err[256] = "";
    int rc = ledger_leg_get(st, req->transfer_id, &leg, err, sizeof err);
    /* a leg this region holds only as the origin of its serials is not its transfer */
    if (rc == LEDGER_NOT_FOUND ||
        (rc == LEDGER_OK && (leg.from[0] == '\0' || strcmp(leg.role, "origin") == 0))) {
        if (rc == LEDGER_OK) ledger_leg_free(&leg);
        server_reply_error(call, GRPC_STATUS_NOT_FOUND, REASON(UNKNOWN_TRANSFER),
                           "no transfer %s in %s", req->transfer_id, gw->cfg.region);
        return;
    }
    if (rc != LEDGER_OK) {
        registry_reply_ledger(call, rc, err);
        return;
    }
    arena_t a = {0};
    Carbon__V1__GetTransferResponse resp = CARBON__V1__GET_TRANSFER_RESPONSE__INIT;
    resp.transfer = registry_pb_record(&a, gw, &leg);
    server_reply_ok(call, &resp.base);
    arena_free(&a);
    ledger_leg_free(&leg);
}

/* Bytes of a ListTransfers answer besides its records (next_cursor), and
 * the most a record's tag and length add. */
#define REGISTRY_ANSWER_OTHER_BYTES 64
#define REGISTRY_RECORD_FRAME_BYTES 11

/* Fills resp (room for n) with the records of entries[0..n) that fit in
 * bytes_max (the first always: a leg's record is far below any limit) and
 * its next cursor: read_to when all fit (past entries read that did not
 * match a filter too), else the cursor of the last record it holds. 0, or
 * -1 with err (a leg the feed names could not be read). */
static int registry_feed_page(store_t *st, struct gateway *gw, arena_t *a, const ledger_feed_entry_t *entries,
                              size_t n, uint64_t read_to, size_t bytes_max,
                              Carbon__V1__ListTransfersResponse *resp, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && gw != NULL && a != NULL && resp != NULL && resp->n_transfers == 0);
    size_t used = 0;
    resp->next_cursor = read_to;
    for (size_t i = 0; i < n; i++) {
        ledger_leg_t leg;
        if (ledger_leg_get(st, entries[i].tid, &leg, err, errlen) != LEDGER_OK) return -1;
        Carbon__V1__TransferRecord *r = registry_pb_record(a, gw, &leg);
        ledger_leg_free(&leg);
        r->cursor = entries[i].cursor; /* position of this entry in the feed */
        used += protobuf_c_message_get_packed_size(&r->base) + REGISTRY_RECORD_FRAME_BYTES;
        if (i > 0 && used > bytes_max) {
            resp->next_cursor = entries[i - 1].cursor;
            break;
        }
        resp->transfers[resp->n_transfers++] = r;
    }
    return 0;
}

void registry_list_transfers(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__ListTransfersRequest *req = (const Carbon__V1__ListTransfersRequest *)request;
    struct gateway *gw = server_call_app(call);
    if (req->limit > REGISTRY_LIST_LIMIT_MAX || (req->arrivals_only && req->departures_only)) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_LIMIT),
                           "limit must be 0..%d and at most one of arrivals_only, departures_only",
                           REGISTRY_LIST_LIMIT_MAX);
        return;
    }
    size_t limit = req->limit ? req->limit : REGISTRY_LIST_LIMIT_DEFAULT;
    store_t *st = gateway_call_store(call);
    if (st == NULL) return;
    ledger_feed_entry_t *entries = calloc(limit, sizeof *entries);
    if (entries == NULL) abort();
    size_t n = 0;
    char err[256] = "";
    char kind = req->arrivals_only ? 'A' : req->departures_only ? 'D' : 0;
    uint64_t read_to = 0;
    int rc = ledger_feed_list(st, req->after_cursor, limit, kind, entries, &n, &read_to, err, sizeof err);
    if (rc != LEDGER_OK) {
        free(entries);
        registry_reply_ledger(call, rc, err);
        return;
    }
    arena_t a = {0};
    Carbon__V1__ListTransfersResponse resp = CARBON__V1__LIST_TRANSFERS_RESPONSE__INIT;
    resp.transfers = arena_alloc(&a, n * sizeof *resp.transfers);
    CARBON_ASSERT(gw->cfg.max_message_bytes > REGISTRY_ANSWER_OTHER_BYTES);
    if (registry_feed_page(st, gw, &a, entries, n, read_to, gw->cfg.max_message_bytes - REGISTRY_ANSWER_OTHER_BYTES,
                           &resp, err, sizeof err) == 0)
        server_reply_ok(call, &resp.base);
    else
        registry_reply_ledger(call, LEDGER_ESTORE, err);
    arena_free(&a);
    free(entries);
}

/* ---- GetAccount ----------------------------------------------------------------- */

void registry_get_account(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__GetAccountRequest *req = (const Carbon__V1__GetAccountRequest *)request;
    struct gateway *gw = server_call_app(call);
    if (!gateway_require_account_id(call, req->account_id, "account_id")) return;
    if (req->blocks_limit > LEDGER_ACCOUNT_BLOCKS_MAX) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_LIMIT),
                           "blocks_limit must be 0..%d", LEDGER_ACCOUNT_BLOCKS_MAX);
        return;
    }
    store_t *st = gateway_call_store(call);
    if (st == NULL) return;
    size_t limit = req->blocks_limit ? req->blocks_limit : REGISTRY_BLOCKS_LIMIT_DEFAULT;
    ledger_account_t acct;
    char err[256] = "";
    int rc = ledger_account_get(st, req->account_id, limit, &acct, err, sizeof err);
    if (rc != LEDGER_OK) {
        if (rc == LEDGER_NOT_FOUND)
            snprintf(err, sizeof err, "no account %s/%s", gw->cfg.region, req->account_id);
        registry_reply_ledger(call, rc == LEDGER_NOT_FOUND ? LEDGER_NO_ACCOUNT : rc, err);
        return;
    }
    const catalog_t *cat = catalog_set_current(gw->catalogs, gw->cfg.region);
    arena_t a = {0};
    Carbon__V1__GetAccountResponse resp = CARBON__V1__GET_ACCOUNT_RESPONSE__INIT;
    resp.account = arena_printf(&a, "%s/%s", gw->cfg.region, req->account_id);
    resp.holder_kind = arena_strdup(&a, acct.kind);
    uint64_t total = 0;
    resp.balances = arena_alloc(&a, acct.balances_n * sizeof *resp.balances);
    for (size_t i = 0; i < acct.balances_n; i++) {
        const ledger_balance_t *b = &acct.balances[i];
        Carbon__V1__Balance *bal = arena_alloc(&a, sizeof *bal);
        carbon__v1__balance__init(bal);
        bal->origin_region = arena_strdup(&a, b->origin);
        bal->methodology_id = arena_strdup(&a, b->meth);
        bal->vintage_year = b->vintage;
        bal->amount = pbconv_amount(&a, b->grams, cat);
        resp.balances[resp.n_balances++] = bal;
        total += b->grams;
    }
    resp.total = pbconv_amount(&a, total, cat);
    resp.held = pbconv_amount(&a, acct.held_g, cat);
    resp.pending = pbconv_amount(&a, acct.pending_g, cat);
    resp.blocks = arena_alloc(&a, acct.blocks_n * sizeof *resp.blocks);
    for (size_t i = 0; i < acct.blocks_n; i++)
        resp.blocks[resp.n_blocks++] = pbconv_block(&a, &acct.blocks[i]);
    resp.blocks_truncated = acct.blocks_total > acct.blocks_n;
    server_reply_ok(call, &resp.base);
    arena_free(&a);
    ledger_account_free(&acct);
}

/* ---- Retire --------------------------------------------------------------------- */

/* Checks a Retire's ids, purpose, beneficiary and selection; 1, or 0 after
 * refusing the call. */
static int registry_retire_fields_ok(server_call_t *call, const Carbon__V1__RetireRequest *req) {
    if (!gateway_require_request_id(call, req->retirement_id, "retirement_id")) return 0;
    if (!gateway_require_account_id(call, req->account_id, "account_id")) return 0;
    if ((int)req->purpose < 1 || (int)req->purpose > 5) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_PURPOSE),
                           "purpose must be compliance offset, rights redemption, voluntary "
                           "neutrality, voluntary cancellation or ecological compensation");
        return 0;
    }
    int compliance = req->purpose == CARBON__V1__RETIREMENT_PURPOSE__RETIREMENT_PURPOSE_COMPLIANCE_OFFSET;
    if (compliance ? req->compliance_year < 2000 || req->compliance_year > 2100 : req->compliance_year != 0) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_PURPOSE),
                           "compliance_year must be 2000..2100 for a compliance offset and 0 otherwise "
                           "(it is %u)", req->compliance_year);
        return 0;
    }
    if (!validate_text(req->beneficiary)) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_BENEFICIARY),
                           "beneficiary must be 1..%d bytes of UTF-8 text without control "
                           "characters (it has %zu bytes)",
                           VALIDATE_TEXT_MAX, strlen(req->beneficiary));
        return 0;
    }
    if (!validate_vintage(req->vintage_year, 1) || strlen(req->methodology_id) > LEDGER_METH_MAX) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_SELECTION),
                           "vintage_year must be 0 or %d..%d, methodology_id at most %d bytes",
                           VALIDATE_VINTAGE_MIN, VALIDATE_VINTAGE_MAX, LEDGER_METH_MAX);
        return 0;
    }
    return 1;
}

/* Replies a RetireResponse: the retired blocks and their amount in cat's units. */
static void registry_reply_retired(server_call_t *call, const char *retirement_id,
                                   const ledger_block_t *blocks, size_t blocks_n,
                                   const catalog_t *cat) {
    arena_t a = {0};
    Carbon__V1__RetireResponse resp = CARBON__V1__RETIRE_RESPONSE__INIT;
    resp.retirement_id = arena_strdup(&a, retirement_id);
    resp.blocks = arena_alloc(&a, blocks_n * sizeof *resp.blocks);
    for (size_t i = 0; i < blocks_n; i++) resp.blocks[resp.n_blocks++] = pbconv_block(&a, &blocks[i]);
    resp.amount = pbconv_amount(&a, ledger_blocks_grams(blocks, blocks_n), cat);
    server_reply_ok(call, &resp.base);
    arena_free(&a);
}

/* Answers a Retire from its durable outcome (the batcher's thread). */
static void registry_retire_done(group_commit_entry_t *e, store_t *st) {
    registry_write_t *w = (registry_write_t *)e;
    CARBON_ASSERT(&w->entry == e && e->kind == GROUP_COMMIT_RETIRE);
    (void)st;
    ledger_retire_item_t *it = &e->retire;
    struct gateway *gw = server_call_app(w->call);
    if (it->rc == LEDGER_INSUFFICIENT) {
        char have[AMOUNT_TEXT_MAX], asked[AMOUNT_TEXT_MAX];
        server_reply_error(w->call, GRPC_STATUS_FAILED_PRECONDITION, REASON(INSUFFICIENT_BALANCE),
                           "account %s/%s holds %s of the selection, %s asked", gw->cfg.region,
                           w->retire.account,
                           amount_format_catalog(have, sizeof have, it->have_g, w->cat),
                           amount_format_catalog(asked, sizeof asked, w->retire.amount_g, w->cat));
    } else if (it->rc == LEDGER_PURPOSE_NOT_ALLOWED || it->rc == LEDGER_QUOTA_EXCEEDED) {
        use_rules_reply_refusal(w->call, it->rc, &it->rules, &w->retire, w->rules, w->cat);
    } else if (it->rc != LEDGER_OK && it->rc != LEDGER_REPLAY) {
        registry_reply_ledger(w->call, it->rc, it->err);
    } else {
        registry_reply_retired(w->call, w->retire.retirement_id, it->blocks, it->blocks_n, w->cat);
    }
    free(it->blocks);
    free(w);
}

void registry_retire(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__RetireRequest *req = (const Carbon__V1__RetireRequest *)request;
    struct gateway *gw = server_call_app(call);
    static const char *const purposes[] = {NULL, "compliance_offset", "rights_redemption",
                                           "voluntary_neutrality", "voluntary_cancellation",
                                           "ecological_compensation"};
    if (!registry_retire_fields_ok(call, req)) return;
    char origin[CATALOG_REGION_MAX + 1];
    if (req->methodology_id[0] != '\0' && quote_origin_of(gw->catalogs, req->methodology_id, origin) != 0) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(UNKNOWN_METHODOLOGY),
                           "no catalog defines methodology '%.40s'", req->methodology_id);
        return;
    }
    const catalog_t *cat = catalog_set_current(gw->catalogs, gw->cfg.region);
    uint64_t amount_g = 0;
    if (req->amount_units == 0 ||
        conv_units_to_g(req->amount_units, cat->display_unit_g, &amount_g) != CONV_OK ||
        amount_g >= LEDGER_AMOUNT_G_MAX) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_AMOUNT),
                           "amount_units must be 1 or more %s and under 2^50 g", cat->display_unit);
        return;
    }
    ledger_retire_t in = {0};
    snprintf(in.retirement_id, sizeof in.retirement_id, "%s", req->retirement_id);
    snprintf(in.account, sizeof in.account, "%s", req->account_id);
    snprintf(in.meth, sizeof in.meth, "%s", req->methodology_id);
    in.vintage = req->vintage_year;
    in.amount_g = amount_g;
    snprintf(in.purpose, sizeof in.purpose, "%s", purposes[req->purpose]);
    snprintf(in.beneficiary, sizeof in.beneficiary, "%s", req->beneficiary);
    in.compliance_year = req->compliance_year;
    int refused = 0;
    use_rules_arm(call, &in, &refused);
    if (refused) return;
    /* the compliance year only when given, so that earlier fingerprints stay */
    char year[16] = "";
    if (req->compliance_year != 0) snprintf(year, sizeof year, "|%u", req->compliance_year);
    registry_request_fp(in.request_fp, "retire|%s|%s|%u|%" PRIu64 "|%s|%s%s", req->account_id,
                        req->methodology_id, req->vintage_year, req->amount_units, in.purpose,
                        req->beneficiary, year);
    registry_write_submit(call, GROUP_COMMIT_RETIRE, NULL, &in, cat, registry_retire_done);
}
