/* federation.c - the carbon.v1.Federation service: what peer gateways call
 * (DESIGN §6): Hello, Prepare, Decide and QueryDecision of the transfers,
 * and FetchBatches (a peer's batches as this region recorded them, built by
 * operations.c for Reconcile too). AddCheckpoint, this region witnessing a
 * peer's audit log, is in witnessing.c. The region
 * a message names must be the caller's certificate region; every handler is
 * idempotent. */
#include "gateway/region_set.h"
#include "gateway/services/federation.h"
#include "gateway/services/use_rules.h"

#include "common/carbon_assert.h"
#include "gateway/app.h"
#include "gateway/arena.h"
#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/pbconv.h"
#include "gateway/peer_rate.h"
#include "gateway/peers.h"
#include "gateway/services/operations.h"
#include "gateway/validate.h"
#include "settlement/audit.h"
#include "settlement/batch.h"
#include "settlement/failpoint.h"
#include "settlement/quote.h"
#include "settlement/use_reports.h"

#include <jansson.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FEDERATION_PROTOCOL_VERSION 1
/* A leg whose expiry lies further ahead than the longest leg_expiry_ms any
 * gateway may be configured with (plus a minute for the clocks' difference)
 * is voted no: prepared, it would wait that long for its decision before
 * recovery asks the source, and its expiry would not survive the store's
 * numbers (doubles, exact to 2^53). */
#define FEDERATION_EXPIRY_HORIZON_MS ((uint64_t)CONFIG_LEG_EXPIRY_MS_MAX + 60000u)
#define FEDERATION_ANSWER_MARGIN_MS 200 /* kept of a call's deadline to answer it */
/* ConfirmOrigin, internally: no record of the id here (never on the wire) */
#define FEDERATION_ANSWER_NO_RECORD 'N'

static uint64_t federation_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Takes one request from the caller's peer_requests_per_s (else
 * RESOURCE_EXHAUSTED, PEER_RATE_LIMITED). (federation.h) */
int federation_rate_ok(server_call_t *call) {
    CARBON_ASSERT(call != NULL);
    const identity_t *caller = server_call_caller(call);
    CARBON_ASSERT(caller != NULL); /* Federation callers are authenticated peer gateways */
    struct gateway *gw = server_call_app(call);
    if (peer_rate_take(gw->peer_rate, caller->region, federation_mono_ms())) return 1;
    server_refuse(call, REASON_PEER_RATE_LIMITED, "more than %u Federation requests per second",
                  gw->cfg.peer_requests_per_s);
    return 0;
}

/* Checks that the region named in the message is the caller's, then the
 * caller's rate (federation_rate_ok). (federation.h) */
int federation_region_ok(server_call_t *call, const char *region) {
    CARBON_ASSERT(call != NULL && region != NULL);
    const identity_t *caller = server_call_caller(call);
    if (caller != NULL && strcmp(caller->region, region) == 0) return federation_rate_ok(call);
    server_reply_error(call, GRPC_STATUS_PERMISSION_DENIED, REASON(REGION_MISMATCH),
                       "the message names region '%.16s' but the caller is %s", region,
                       caller != NULL ? caller->region : "unknown");
    return 0;
}

static int federation_batch_size_ok(server_call_t *call, size_t n) {
    struct gateway *gw = server_call_app(call);
    CARBON_ASSERT(gw != NULL && gw->cfg.batch_legs_max <= CONFIG_BATCH_LEGS_MAX);
    if (n >= 1 && n <= gw->cfg.batch_legs_max) return 1;
    server_refuse(call, n == 0 ? REASON_BAD_BATCH_SIZE : REASON_BATCH_TOO_LARGE,
                  "a batch holds 1..%u legs, not %zu", gw->cfg.batch_legs_max, n);
    return 0;
}

void federation_hello(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__HelloRequest *req = (const Carbon__V1__HelloRequest *)request;
    struct gateway *gw = server_call_app(call);
    if (!federation_region_ok(call, req->region)) return;
    if (req->protocol_version != FEDERATION_PROTOCOL_VERSION) {
        server_reply_error(call, GRPC_STATUS_FAILED_PRECONDITION, REASON(PROTOCOL_VERSION),
                           "this gateway speaks protocol %d, not %u", FEDERATION_PROTOCOL_VERSION,
                           req->protocol_version);
        return;
    }
    const catalog_t *current[CATALOG_SET_REGIONS_MAX];
    size_t n = catalog_set_snapshot(gw->catalogs, current, CATALOG_SET_REGIONS_MAX);
    if (n > CATALOG_SET_REGIONS_MAX) n = CATALOG_SET_REGIONS_MAX;
    CARBON_ASSERT(n <= CATALOG_SET_REGIONS_MAX); /* current[] holds that many */
    arena_t a = {0};
    Carbon__V1__HelloResponse resp = CARBON__V1__HELLO_RESPONSE__INIT;
    resp.protocol_version = FEDERATION_PROTOCOL_VERSION;
    resp.region = gw->cfg.region;
    Carbon__V1__PeerLimits limits;
    peers_limits_of(&gw->cfg, &limits);
    resp.limits = &limits;
    if (gw->peers != NULL) {
        peers_reconnect_now(gw->peers, req->region); /* it is up: no need to wait out a backoff */
        peers_note_limits(gw->peers, req->region, req->limits);
    }
    if (req->limits != NULL && req->limits->batch_legs_max >= 1 && gw->engine != NULL)
        engine_set_peer_limits(gw->engine, req->region, req->limits->batch_legs_max,
                               req->limits->max_message_bytes);
    resp.catalog_digests = arena_alloc(&a, n * sizeof *resp.catalog_digests);
    for (size_t i = 0; i < n; i++)
        resp.catalog_digests[resp.n_catalog_digests++] = arena_strdup(&a, current[i]->digest_hex);
    CARBON_ASSERT(resp.n_catalog_digests == n);
    const rules_t *rules[CATALOG_SET_REGIONS_MAX]; /* rules on use: their digests, like catalogs' */
    size_t rn = catalog_set_rules_snapshot(gw->catalogs, rules, CATALOG_SET_REGIONS_MAX);
    resp.rules_digests = arena_alloc(&a, (rn > 0 ? rn : 1) * sizeof *resp.rules_digests);
    for (size_t i = 0; i < rn && i < CATALOG_SET_REGIONS_MAX; i++)
        resp.rules_digests[resp.n_rules_digests++] = arena_strdup(&a, rules[i]->digest_hex);
    const char *regions[REGION_SET_MAX];
    region_set_own(gw, regions, &resp.n_federation_regions);
    resp.federation_regions = (char **)regions;
    region_set_note(gw, req->region, region_set_same(gw, req->federation_regions, req->n_federation_regions),
                    req->federation_regions, req->n_federation_regions);
    server_reply_ok(call, &resp.base);
    arena_free(&a);
}

/* Checks leg i of a Prepare from source and fills legs[i] and its verdict
 * p[i] (precheck: "" or the reason to vote no). 1, or 0 with the reason in
 * err (the request is malformed; legs[i] is left freed). */
static int federation_leg_in(struct gateway *gw, const Carbon__V1__PrepareRequest *req, size_t i,
                             ledger_leg_t *legs, ledger_prepare_t *p, uint64_t now_ms, char *err,
                             size_t errlen) {
    CARBON_ASSERT(gw != NULL && req != NULL && legs != NULL && p != NULL && err != NULL);
    CARBON_ASSERT(i < req->n_legs && i < gw->cfg.batch_legs_max);
    if (pbconv_leg_in(req->legs[i], gw->cfg.region, &legs[i], err, errlen) != 0) return 0;
    if (strcmp(legs[i].peer, req->source_region) != 0) {
        snprintf(err, errlen, "leg %s comes from %s, not from %s", legs[i].tid, legs[i].peer,
                 req->source_region);
        ledger_leg_free(&legs[i]);
        return 0;
    }
    for (size_t j = 0; j < i; j++)
        if (strcmp(legs[j].tid, legs[i].tid) == 0) {
            snprintf(err, errlen, "transfer %s appears twice in the batch", legs[j].tid);
            ledger_leg_free(&legs[i]);
            return 0;
        }
    p[i].leg = &legs[i];
    const char *why = quote_check_leg(gw->catalogs, gw->cfg.region, req->source_region,
                                      legs[i].blocks[0].origin, legs[i].meth, legs[i].dest_meth,
                                      legs[i].credited_g, legs[i].debited_g, legs[i].src_digest,
                                      legs[i].dst_digest);
    if (why == NULL && legs[i].expiry_ms > now_ms + FEDERATION_EXPIRY_HORIZON_MS)
        why = REASON(EXPIRY_TOO_FAR);
    p[i].precheck = why != NULL ? why : "";
    return 1;
}

/* The destination's batch text "COUNT|SUM_G|DIGEST" of n legs (ledger_dest_prepare). */
static void federation_batch_text(const char *region, const ledger_leg_t *legs, size_t n,
                                  char *text, size_t textlen) {
    CARBON_ASSERT(region != NULL && legs != NULL);
    CARBON_ASSERT(n >= 1 && n <= CONFIG_BATCH_LEGS_MAX && text != NULL && textlen > 0);
    const ledger_leg_t **view = calloc(n, sizeof *view);
    if (view == NULL) abort();
    for (size_t i = 0; i < n; i++) view[i] = &legs[i];
    batch_totals_t totals;
    batch_totals_destination(region, view, n, &totals);
    free(view);
    snprintf(text, textlen, "%" PRIu32 "|%" PRIu64 "|%s", totals.count, totals.sum_g,
             totals.digest);
}

/* Replies a PrepareResponse: one vote per leg, in the request's order. */
static void federation_reply_votes(server_call_t *call, const ledger_leg_t *legs,
                                   const ledger_prepare_t *p, size_t n) {
    CARBON_ASSERT(legs != NULL && p != NULL);
    arena_t a = {0};
    Carbon__V1__PrepareResponse resp = CARBON__V1__PREPARE_RESPONSE__INIT;
    resp.votes = arena_alloc(&a, n * sizeof *resp.votes);
    for (size_t i = 0; i < n; i++) {
        Carbon__V1__LegVote *v = arena_alloc(&a, sizeof *v);
        carbon__v1__leg_vote__init(v);
        v->transfer_id = arena_strdup(&a, legs[i].tid);
        v->vote = p[i].vote_yes ? CARBON__V1__VOTE__VOTE_YES : CARBON__V1__VOTE__VOTE_NO;
        v->reason = arena_strdup(&a, p[i].reason);
        v->detail = arena_strdup(&a, p[i].detail);
        resp.votes[resp.n_votes++] = v;
    }
    CARBON_ASSERT(resp.n_votes == n);
    server_reply_ok(call, &resp.base);
    arena_free(&a);
}

/* ---- the origin of third-region serials (DESIGN §6 provenance) ------------------- */

/* Checks origin_only leg i of a Prepare from source (this region is the
 * origin of its serials, neither source nor destination) and fills legs[i]
 * (to: the destination account "REGION/ID") and its precheck. 1, or 0 with
 * the reason in err (malformed; legs[i] left freed). */
static int federation_origin_leg_in(struct gateway *gw, const Carbon__V1__PrepareRequest *req,
                                    size_t i, ledger_leg_t *legs, ledger_prepare_t *p,
                                    uint64_t now_ms, char *err, size_t errlen) {
    CARBON_ASSERT(gw != NULL && req != NULL && legs != NULL && p != NULL && err != NULL);
    CARBON_ASSERT(i < req->n_legs && i < gw->cfg.batch_legs_max);
    char dest[CARBON_REGION_SIZE], id[VALIDATE_ACCOUNT_MAX + 1];
    const Carbon__V1__Leg *in = req->legs[i];
    if (!validate_account_name(in->to_account, dest, id) || strcmp(dest, gw->cfg.region) == 0 ||
        strcmp(dest, req->source_region) == 0) {
        snprintf(err, errlen, "origin leg %zu: to_account '%.80s' is not an account of a third region",
                 i, in->to_account);
        return 0;
    }
    if (pbconv_leg_in(in, dest, &legs[i], err, errlen) != 0) return 0;
    snprintf(legs[i].to, sizeof legs[i].to, "%s/%s", dest, id);
    const char *why = NULL;
    if (strcmp(legs[i].peer, req->source_region) != 0)
        why = "comes from another region than the source";
    for (size_t b = 0; why == NULL && b < legs[i].blocks_n; b++)
        if (strcmp(legs[i].blocks[b].origin, gw->cfg.region) != 0) why = "has blocks of another origin";
    for (size_t j = 0; why == NULL && j < i; j++)
        if (strcmp(legs[j].tid, legs[i].tid) == 0) why = "appears twice in the batch";
    if (why != NULL) {
        snprintf(err, errlen, "origin leg %s %s", legs[i].tid, why);
        ledger_leg_free(&legs[i]);
        return 0;
    }
    p[i].leg = &legs[i];
    p[i].precheck = legs[i].expiry_ms > now_ms + FEDERATION_EXPIRY_HORIZON_MS ? REASON(EXPIRY_TOO_FAR) : "";
    return 1;
}

static void federation_reply_votes(server_call_t *call, const ledger_leg_t *legs,
                                   const ledger_prepare_t *p, size_t n);

/* A Prepare of origin_only legs (every leg is; the caller checked): votes
 * as the origin (ledger_origin_prepare). Malformed: INVALID_ARGUMENT
 * MALFORMED_LEG, nothing changes. */
static void federation_prepare_origin(server_call_t *call, struct gateway *gw,
                                      const Carbon__V1__PrepareRequest *req) {
    size_t n = req->n_legs;
    CARBON_ASSERT(n >= 1 && n <= gw->cfg.batch_legs_max);
    ledger_leg_t *legs = calloc(n, sizeof *legs);
    ledger_prepare_t *p = calloc(n, sizeof *p);
    if (legs == NULL || p == NULL) abort();
    char err[256] = "";
    uint64_t now_ms = ledger_now_ms();
    size_t parsed = 0;
    while (parsed < n && federation_origin_leg_in(gw, req, parsed, legs, p, now_ms, err, sizeof err))
        parsed++;
    store_t *st = parsed == n ? gateway_call_store(call) : NULL;
    if (parsed < n) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(MALFORMED_LEG), "%s", err);
    } else if (st != NULL && ledger_origin_prepare(st, req->source_region, p, n,
                                                   gw->cfg.peer_legs_in_flight_max, now_ms, err,
                                                   sizeof err) != LEDGER_OK) {
        log_warn("store_error", "{s:s, s:s}", "method", "Prepare", "error", err);
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE),
                           "the store did not answer; send the batch again");
    } else if (st != NULL) {
        failpoint_hit("origin.after_prepare");
        federation_reply_votes(call, legs, p, n);
    }
    for (size_t i = 0; i < parsed; i++) ledger_leg_free(&legs[i]);
    free(legs);
    free(p);
}

/* Routes a Prepare: 1 if its legs are origin_only (handled here), 0 if none
 * is (a destination's Prepare); a mix is refused MALFORMED_LEG (1). */
static int federation_prepare_routed(server_call_t *call, struct gateway *gw,
                                     const Carbon__V1__PrepareRequest *req) {
    size_t origin_only = 0;
    for (size_t i = 0; i < req->n_legs; i++) origin_only += req->legs[i]->origin_only ? 1 : 0;
    if (origin_only == 0) return 0;
    if (origin_only != req->n_legs)
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(MALFORMED_LEG),
                           "a Prepare holds origin_only legs only, or none");
    else
        federation_prepare_origin(call, gw, req);
    return 1;
}

/* True if region takes part in source leg `leg` as the origin of its
 * third-region serials (neither this region, own, nor the destination). */
static int federation_leg_has_origin(const ledger_leg_t *leg, const char *region, const char *own) {
    CARBON_ASSERT(leg != NULL && region != NULL && own != NULL);
    if (strcmp(region, own) == 0 || strcmp(region, leg->peer) == 0) return 0;
    for (size_t i = 0; i < leg->blocks_n; i++)
        if (strcmp(leg->blocks[i].origin, region) == 0) return 1;
    return 0;
}

int federation_origin_ask_ok(void *app, const char *source) {
    struct gateway *gw = app;
    CARBON_ASSERT(gw != NULL && source != NULL);
    if (peer_rate_take(gw->origin_asks, source, federation_mono_ms())) return 1;
    log_warn("origin_asks_limited", "{s:s, s:s}", "source", source, "action",
             "its legs of a third region's serials wait (a Decide) or are voted no (a Prepare)");
    return 0;
}

/* How long a handler of a call may wait for a serials' origin in all: half
 * of peer_timeout_ms, within the call's own deadline (less a margin for the
 * answer). */
static int64_t federation_origin_wait_ms(server_call_t *call, struct gateway *gw) {
    int64_t want_ms = gw->cfg.peer_timeout_ms / 2;
    int64_t left = server_call_deadline_left_ms(call);
    if (left != INT64_MAX) left = left > FEDERATION_ANSWER_MARGIN_MS ? left - FEDERATION_ANSWER_MARGIN_MS : 0;
    return left < want_ms ? left : want_ms;
}

void federation_prepare(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__PrepareRequest *req = (const Carbon__V1__PrepareRequest *)request;
    struct gateway *gw = server_call_app(call);
    if (!federation_region_ok(call, req->source_region)) return;
    if (!federation_batch_size_ok(call, req->n_legs)) return;
    if (federation_prepare_routed(call, gw, req)) return; /* legs where this region is the origin */
    size_t n = req->n_legs;
    CARBON_ASSERT(n >= 1 && n <= gw->cfg.batch_legs_max);
    ledger_leg_t *legs = calloc(n, sizeof *legs);
    ledger_prepare_t *p = calloc(n, sizeof *p);
    if (legs == NULL || p == NULL) abort();
    char err[256] = "";
    char batch_text[128];
    uint64_t now_ms = ledger_now_ms();
    size_t parsed = 0;
    while (parsed < n && federation_leg_in(gw, req, parsed, legs, p, now_ms, err, sizeof err))
        parsed++;
    if (parsed < n) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(MALFORMED_LEG), "%s", err);
        goto out;
    }
    /* a third region's serials: only those their origin vouches for may be
     * claimed here (at most half the source's usual deadline for it) */
    if (gw->engine != NULL)
        engine_vouch_origins(gw->engine, req->source_region, p, n, federation_origin_wait_ms(call, gw));
    failpoint_pause("dest.before_prepare"); /* the tests' stand-in for an origin answering late */
    /* the clock again: a leg that expired during that wait is refused
     * EXPIRED (dest_prepare.lua), as its source may have aborted it since */
    now_ms = ledger_now_ms();
    store_t *st = gateway_call_store(call);
    if (st == NULL) goto out;
    federation_batch_text(gw->cfg.region, legs, n, batch_text, sizeof batch_text);
    if (ledger_dest_prepare(st, req->source_region, req->batch_seq, batch_text, p, n,
                            gw->cfg.peer_legs_in_flight_max, use_rules_inflow_g(gw, req->source_region),
                            req->source_records_own_discount != 0, now_ms, err, sizeof err) != LEDGER_OK) {
        log_warn("store_error", "{s:s, s:s}", "method", "Prepare", "error", err);
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE),
                           "the store did not answer; send the batch again");
        goto out;
    }
    failpoint_hit("dest.after_prepare");
    federation_reply_votes(call, legs, p, n);
out:
    for (size_t i = 0; i < parsed && i < n; i++) ledger_leg_free(&legs[i]);
    free(legs);
    free(p);
}

/* Logs what the destination did with decision d from source: a forced
 * leg settled, a decision applied (debug: the Decide's summary line is
 * info), a COMMIT its serials' origin denies (error: ORIGIN_DENIED,
 * listed) or has not confirmed yet. */
static void federation_log_applied(const ledger_dest_decision_t *d, const char *source) {
    CARBON_ASSERT(d != NULL && source != NULL);
    if (d->heuristic_outcome[0] != '\0' && d->applied != TRANSFER_DECISION_MIXED)
        log_warn("heuristic_settled", "{s:s, s:s, s:s}", "transfer_id", d->tid, "peer", source,
                 "outcome", d->heuristic_outcome);
    if (d->applied == TRANSFER_DECISION_COMMIT || d->applied == TRANSFER_DECISION_ABORT)
        log_debug("transfer_decision_applied", "{s:s, s:s, s:s}", "transfer_id", d->tid, "source",
                 source, "state", transfer_state_name(transfer_state_of_decision(d->applied)));
    if (d->origin_confirm == TRANSFER_DECISION_ABORT)
        log_error("origin_denied", "{s:s, s:s, s:s}", "transfer_id", d->tid, "source", source, "action",
                  "the serials' origin did not commit this leg: the credit stays pending; gwctl indoubt lists it");
    else if (d->applied == TRANSFER_DECISION_UNKNOWN && d->origin_confirm != 0)
        log_info("origin_confirmation_pending", "{s:s, s:s}", "transfer_id", d->tid, "source", source);
}

/* One info line per Decide: how many of its n legs were applied committed
 * and aborted here (the per-leg lines are debug). */
static void federation_log_decide(const ledger_dest_decision_t *d, size_t n, const char *source) {
    CARBON_ASSERT(d != NULL && source != NULL);
    json_int_t committed = 0, aborted = 0;
    for (size_t i = 0; i < n; i++) {
        committed += d[i].applied == TRANSFER_DECISION_COMMIT;
        aborted += d[i].applied == TRANSFER_DECISION_ABORT;
    }
    log_info("decisions_applied", "{s:s, s:I, s:I, s:I}", "source", source, "legs", (json_int_t)n, "committed",
             committed, "aborted", aborted);
}

/* The decisions of a Decide, checked: each a 32-hex id, COMMIT or ABORT,
 * each id once (as a Prepare's legs). Malloc'd (the caller frees it), or
 * NULL after refusing the call INVALID_ARGUMENT. */
static ledger_dest_decision_t *federation_decisions_in(server_call_t *call,
                                                       const Carbon__V1__DecideRequest *req) {
    size_t n = req->n_decisions;
    CARBON_ASSERT(n >= 1 && n <= CONFIG_BATCH_LEGS_MAX); /* before filling d[] */
    ledger_dest_decision_t *d = calloc(n, sizeof *d);
    if (d == NULL) abort();
    const char *why = NULL;
    size_t bad = pbconv_decisions_in(req->decisions, n, d, &why);
    if (bad == n) return d;
    free(d);
    server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(MALFORMED_DECISION), "decision %zu %s",
                       bad, why);
    return NULL;
}

void federation_decide(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__DecideRequest *req = (const Carbon__V1__DecideRequest *)request;
    if (!federation_region_ok(call, req->source_region)) return;
    if (!federation_batch_size_ok(call, req->n_decisions)) return;
    size_t n = req->n_decisions;
    ledger_dest_decision_t *d = federation_decisions_in(call, req);
    if (d == NULL) return;
    store_t *st = gateway_call_store(call);
    if (st == NULL) {
        free(d);
        return;
    }
    struct gateway *gw = server_call_app(call);
    /* third-region serials: their origin must confirm each COMMIT first
     * (waiting at most half the source's usual deadline for it) */
    char err[256] = "";
    int rc = gw->engine != NULL
                 ? engine_dest_decide(gw->engine, st, req->source_region, d, n,
                                      federation_origin_wait_ms(call, gw), err, sizeof err)
                 : ledger_dest_decide(st, req->source_region, d, n, ledger_now_ms(), err, sizeof err);
    if (rc == LEDGER_OK && err[0] != '\0') /* the legs held back for an origin: answered UNKNOWN */
        log_warn("store_error", "{s:s, s:s}", "method", "Decide (legs of third-region serials)", "error", err);
    if (rc != LEDGER_OK) {
        free(d);
        log_warn("store_error", "{s:s, s:s}", "method", "Decide", "error", err);
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE),
                           "the store did not answer; send the decisions again");
        return;
    }
    arena_t a = {0};
    Carbon__V1__DecideResponse resp = CARBON__V1__DECIDE_RESPONSE__INIT;
    resp.acks = arena_alloc(&a, n * sizeof *resp.acks);
    failpoint_hit("dest.after_decide");
    for (size_t i = 0; i < n; i++) {
        federation_log_applied(&d[i], req->source_region);
        Carbon__V1__LegAck *ack = arena_alloc(&a, sizeof *ack);
        carbon__v1__leg_ack__init(ack);
        ack->transfer_id = arena_strdup(&a, d[i].tid);
        if (d[i].applied == TRANSFER_DECISION_MIXED) { /* HEURISTIC_MIXED here: holds the other outcome */
            log_error("heuristic_mixed", "{s:s, s:s, s:s, s:s}", "transfer_id", d[i].tid, "peer",
                      req->source_region, "decision", d[i].decision == TRANSFER_DECISION_COMMIT ? "COMMIT" : "ABORT",
                      "action", "an operator must compensate: gwctl indoubt lists the leg");
            ack->applied = pbconv_decision(d[i].decision == TRANSFER_DECISION_COMMIT ? TRANSFER_DECISION_ABORT
                                                                                    : TRANSFER_DECISION_COMMIT);
            ack->heuristic_mixed = 1;
        } else {
            ack->applied = pbconv_decision(d[i].applied);
        }
        resp.acks[resp.n_acks++] = ack;
    }
    CARBON_ASSERT(resp.n_acks == n);
    server_reply_ok(call, &resp.base);
    federation_log_decide(d, n, req->source_region);
    arena_free(&a);
    free(d);
}

/* Replies for each of the n ids its answer[i], 'C' (COMMIT), 'A' (ABORT) or
 * 'U' (UNKNOWN). why NULL: a QueryDecisionResponse; else a
 * ConfirmOriginResponse with each ABORT's reason and at_prepare set (this
 * gateway honours it). The two share field 1, so the bytes of the first are
 * those of the second with field 2 unset. */
static void federation_reply_decisions(server_call_t *call, char *const *ids, const char *answer,
                                       char (*why)[LEDGER_REASON_MAX + 1], size_t n) {
    CARBON_ASSERT(call != NULL && ids != NULL && answer != NULL);
    CARBON_ASSERT(n >= 1 && n <= CONFIG_BATCH_LEGS_MAX);
    arena_t a = {0};
    Carbon__V1__ConfirmOriginResponse resp = CARBON__V1__CONFIRM_ORIGIN_RESPONSE__INIT;
    resp.at_prepare = why != NULL;
    resp.decisions = arena_alloc(&a, n * sizeof *resp.decisions);
    for (size_t i = 0; i < n; i++) {
        Carbon__V1__LegDecision *ld = arena_alloc(&a, sizeof *ld);
        carbon__v1__leg_decision__init(ld);
        ld->transfer_id = arena_strdup(&a, ids[i]);
        ld->decision = pbconv_decision(answer[i]);
        if (why != NULL && why[i][0] != '\0') ld->reason = arena_strdup(&a, why[i]);
        resp.decisions[resp.n_decisions++] = ld;
    }
    CARBON_ASSERT(resp.n_decisions == n);
    server_reply_ok(call, &resp.base);
    arena_free(&a);
}

void federation_query_decision(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__QueryDecisionRequest *req = (const Carbon__V1__QueryDecisionRequest *)request;
    struct gateway *gw = server_call_app(call);
    if (!federation_region_ok(call, req->region)) return;
    if (!federation_batch_size_ok(call, req->n_transfer_ids)) return;
    size_t n = req->n_transfer_ids;
    CARBON_ASSERT(n >= 1 && n <= CONFIG_BATCH_LEGS_MAX); /* before filling answer[], d[], index[] */
    for (size_t i = 0; i < n; i++)
        if (!validate_request_id(req->transfer_ids[i])) {
            server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_ID),
                               "transfer id %zu is not 32 lowercase hex digits", i);
            return;
        }
    store_t *st = gateway_call_store(call);
    if (st == NULL) return;
    /* Only legs this region coordinates with the caller as a participant
     * (their destination, or the origin of their third-region serials) are
     * answered; a HELD one has no decision yet and is aborted first
     * (presumed abort). */
    char *answer = calloc(n, 1);
    ledger_source_decision_t *d = calloc(n, sizeof *d);
    size_t *index = calloc(n, sizeof *index);
    if (answer == NULL || d == NULL || index == NULL) abort();
    size_t nd = 0;
    char err[256] = "";
    int failed = 0;
    for (size_t i = 0; i < n && !failed; i++) {
        ledger_leg_t leg;
        int rc = ledger_leg_get(st, req->transfer_ids[i], &leg, err, sizeof err);
        answer[i] = TRANSFER_DECISION_UNKNOWN;
        if (rc == LEDGER_ESTORE) failed = 1;
        if (rc != LEDGER_OK) continue;
        if (strcmp(leg.role, "source") == 0 &&
            (strcmp(leg.peer, req->region) == 0 ||
             federation_leg_has_origin(&leg, req->region, gw->cfg.region))) {
            d[nd].tid = req->transfer_ids[i];
            d[nd].decision = TRANSFER_DECISION_ABORT;
            d[nd].reason = REASON(PRESUMED_ABORT);
            d[nd].only_if_expired = 0;
            index[nd++] = i;
        }
        ledger_leg_free(&leg);
    }
    CARBON_ASSERT(nd <= n);
    if (!failed && nd > 0 && ledger_source_decide(st, d, nd, ledger_now_ms(), err, sizeof err) != LEDGER_OK)
        failed = 1;
    if (failed) {
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE),
                           "the store did not answer; ask again");
    } else {
        for (size_t k = 0; k < nd; k++)
            answer[index[k]] = transfer_decision_of(d[k].state);
        federation_reply_decisions(call, req->transfer_ids, answer, NULL, n);
    }
    free(answer);
    free(d);
    free(index);
}

/* ---- ConfirmOrigin: this region as the origin of a leg's serials ----------------- */

/* Whether origin leg `leg` (read here) is the leg q describes: the same
 * source, destination account and blocks. */
static int federation_same_leg(const ledger_leg_t *leg, const Carbon__V1__OriginQuery *q,
                               const ledger_block_t *blocks, size_t blocks_n) {
    CARBON_ASSERT(leg != NULL && q != NULL && (blocks != NULL || blocks_n == 0));
    if (strcmp(leg->role, "origin") != 0 || strcmp(leg->peer, q->source_region) != 0 ||
        strcmp(leg->to, q->to_account) != 0 || leg->blocks_n != blocks_n)
        return 0;
    for (size_t i = 0; i < blocks_n; i++) {
        const ledger_block_t *a = &leg->blocks[i], *b = &blocks[i];
        if (strcmp(a->origin, b->origin) != 0 || strcmp(a->meth, b->meth) != 0 ||
            a->vintage != b->vintage || a->first != b->first || a->last != b->last)
            return 0;
    }
    return 1;
}

/* Checks query i from destination dest and reads its blocks (*blocks
 * malloc'd). 0, or -1 with the reason in err (malformed). */
static int federation_origin_query_in(struct gateway *gw, const char *dest,
                                      const Carbon__V1__OriginQuery *q, size_t i,
                                      ledger_block_t **blocks, char *err, size_t errlen) {
    CARBON_ASSERT(gw != NULL && dest != NULL && q != NULL && blocks != NULL);
    char region[CARBON_REGION_SIZE], id[VALIDATE_ACCOUNT_MAX + 1];
    *blocks = NULL;
    if (!validate_request_id(q->transfer_id) || q->source_region[0] == '\0' ||
        strlen(q->source_region) > CARBON_REGION_MAX || strcmp(q->source_region, dest) == 0 ||
        strcmp(q->source_region, gw->cfg.region) == 0 ||
        !validate_account_name(q->to_account, region, id) || strcmp(region, dest) != 0 ||
        q->n_blocks < 1 || q->n_blocks > LEDGER_LEG_BLOCKS_MAX) {
        snprintf(err, errlen, "query %zu needs a 32-hex id, a third region as source, an account of "
                 "the caller and 1..%d blocks", i, LEDGER_LEG_BLOCKS_MAX);
        return -1;
    }
    if (pbconv_blocks_in(q->blocks, q->n_blocks, blocks, err, errlen) != 0) return -1;
    for (size_t k = 0; k < q->n_blocks; k++)
        if (strcmp((*blocks)[k].origin, gw->cfg.region) != 0) {
            snprintf(err, errlen, "query %zu: a block is not of %s's issue", i, gw->cfg.region);
            free(*blocks);
            *blocks = NULL;
            return -1;
        }
    return 0;
}

/* The answer for a well-formed query: 'C' this region committed the same
 * leg as its origin, 'U' it is prepared and undecided, 'N' it has no record
 * of the id, 'A' anything else (aborted, refused, other content, the id in
 * another role); 0 when the store did not answer. */
static char federation_confirm_answer(store_t *st, const Carbon__V1__OriginQuery *q,
                                      const ledger_block_t *blocks, size_t blocks_n) {
    CARBON_ASSERT(st != NULL && q != NULL);
    ledger_leg_t leg;
    char err[256];
    int rc = ledger_leg_get(st, q->transfer_id, &leg, err, sizeof err);
    if (rc == LEDGER_ESTORE) return 0;
    if (rc == LEDGER_NOT_FOUND) return FEDERATION_ANSWER_NO_RECORD;
    if (rc != LEDGER_OK) return TRANSFER_DECISION_ABORT;
    char answer = TRANSFER_DECISION_ABORT;
    if (federation_same_leg(&leg, q, blocks, blocks_n) && leg.state == TRANSFER_STATE_COMMITTED)
        answer = TRANSFER_DECISION_COMMIT;
    else if (federation_same_leg(&leg, q, blocks, blocks_n) && leg.state == TRANSFER_STATE_PREPARED)
        answer = TRANSFER_DECISION_UNKNOWN;
    ledger_leg_free(&leg);
    return answer;
}

/* Answers the queries of req with no record here (answer[i]
 * FEDERATION_ANSWER_NO_RECORD): at
 * prepare, 'U' for those this region could still vote yes to as their
 * origin (ledger_origin_placeable), else 'A' with the reason in why[]
 * (n entries, "" for the others); after it, 'A' (never prepared). 0, or -1
 * when the store did not answer. */
static int federation_unrecorded_answers(store_t *st, const Carbon__V1__ConfirmOriginRequest *req,
                                         ledger_block_t *const *blocks, char *answer,
                                         char (*why)[LEDGER_REASON_MAX + 1]) {
    CARBON_ASSERT(st != NULL && req != NULL && blocks != NULL && answer != NULL && why != NULL);
    size_t n = req->n_legs, k = 0;
    CARBON_ASSERT(n >= 1 && n <= LEDGER_BATCH_LEGS_MAX);
    const char *sources[LEDGER_BATCH_LEGS_MAX];
    ledger_block_t *asked[LEDGER_BATCH_LEGS_MAX];
    size_t blocks_n[LEDGER_BATCH_LEGS_MAX], index[LEDGER_BATCH_LEGS_MAX];
    char refusal[LEDGER_BATCH_LEGS_MAX][LEDGER_REASON_MAX + 1]; /* "": it could vote yes */
    for (size_t i = 0; i < n; i++) {
        why[i][0] = '\0';
        if (answer[i] != FEDERATION_ANSWER_NO_RECORD) continue;
        answer[i] = TRANSFER_DECISION_ABORT;
        if (!req->at_prepare) continue;
        sources[k] = req->legs[i]->source_region;
        asked[k] = blocks[i];
        blocks_n[k] = req->legs[i]->n_blocks;
        index[k++] = i;
    }
    if (k == 0) return 0;
    char err[256];
    if (ledger_origin_placeable(st, sources, asked, blocks_n, k, refusal, err, sizeof err) != LEDGER_OK) {
        log_warn("store_error", "{s:s, s:s}", "method", "ConfirmOrigin (at prepare)", "error", err);
        return -1;
    }
    for (size_t j = 0; j < k; j++) {
        answer[index[j]] = refusal[j][0] == '\0' ? TRANSFER_DECISION_UNKNOWN : TRANSFER_DECISION_ABORT;
        memcpy(why[index[j]], refusal[j], sizeof why[0]);
    }
    return 0;
}

void federation_confirm_origin(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__ConfirmOriginRequest *req = (const Carbon__V1__ConfirmOriginRequest *)request;
    struct gateway *gw = server_call_app(call);
    if (!federation_region_ok(call, req->region)) return;
    if (!federation_batch_size_ok(call, req->n_legs)) return;
    size_t n = req->n_legs;
    CARBON_ASSERT(n >= 1 && n <= CONFIG_BATCH_LEGS_MAX); /* before filling answer[], ids[] */
    ledger_block_t **blocks = calloc(n, sizeof *blocks);
    char *answer = calloc(n, 1);
    char **ids = calloc(n, sizeof *ids);
    char (*why)[LEDGER_REASON_MAX + 1] = calloc(n, sizeof *why);
    if (blocks == NULL || answer == NULL || ids == NULL || why == NULL) abort();
    char err[256] = "";
    size_t parsed = 0;
    while (parsed < n && federation_origin_query_in(gw, req->region, req->legs[parsed], parsed,
                                                    &blocks[parsed], err, sizeof err) == 0)
        parsed++;
    store_t *st = parsed == n ? gateway_call_store(call) : NULL;
    for (size_t i = 0; st != NULL && i < n; i++) {
        ids[i] = req->legs[i]->transfer_id;
        answer[i] = federation_confirm_answer(st, req->legs[i], blocks[i], req->legs[i]->n_blocks);
        if (answer[i] == 0) st = NULL;
    }
    if (st != NULL && federation_unrecorded_answers(st, req, blocks, answer, why) != 0) st = NULL;
    if (parsed < n)
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(MALFORMED_LEG), "%s", err);
    else if (st == NULL)
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE),
                           "the store did not answer; ask again");
    else
        federation_reply_decisions(call, ids, answer, why, n);
    for (size_t i = 0; i < parsed; i++) free(blocks[i]);
    free(blocks);
    free(answer);
    free(ids);
    free(why);
}

/* ---- the peers' batch records ----------------------------------------------------- */

void federation_fetch_batches(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__FetchBatchesRequest *req = (const Carbon__V1__FetchBatchesRequest *)request;
    const identity_t *caller = server_call_caller(call);
    if (caller == NULL || strcmp(caller->region, req->region) != 0) {
        server_reply_error(call, GRPC_STATUS_PERMISSION_DENIED, REASON(REGION_MISMATCH),
                           "a gateway may fetch only the batches it sent");
        return;
    }
    if (!federation_rate_ok(call)) return;
    if (!ops_batch_range_ok(call, req->from_seq, req->to_seq)) return;
    arena_t a = {0};
    Carbon__V1__FetchBatchesResponse resp = CARBON__V1__FETCH_BATCHES_RESPONSE__INIT;
    /* The caller sent these batches: here they are incoming. The answer
     * fits what the caller accepts too (its Hello), when it accepts less. */
    struct gateway *gw = server_call_app(call);
    uint32_t bytes_max = gw->engine != NULL ? engine_peer_message_bytes_max(gw->engine, req->region) : 0;
    if (bytes_max == 0 || bytes_max > gw->cfg.max_message_bytes) bytes_max = gw->cfg.max_message_bytes;
    if (ops_batch_records(call, &a, req->region, 0, bytes_max, req->from_seq, req->to_seq, req->with_legs,
                          &resp.batches, &resp.n_batches, &resp.next_from_seq) == 0) {
        CARBON_ASSERT(resp.n_batches <= BATCH_LIST_MAX);
        server_reply_ok(call, &resp.base);
    }
    arena_free(&a);
}

/* ---- ReportUse: use abroad of this region's serials (DESIGN §6 provenance) --- */

static int federation_block_cmp(const void *a, const void *b) {
    const ledger_block_t *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* Reads report i into out: a 32-hex id, kind retired (with a retirement
 * purpose) or cancelled (no purpose), 1..LEDGER_LEG_BLOCKS_MAX disjoint
 * blocks of this region's own methodologies. 0, or -1 with the reason in err
 * (out freed). */
static int federation_report_in(struct gateway *gw, const Carbon__V1__UseReport *in, size_t i,
                                use_report_t *out, char *err, size_t errlen) {
    CARBON_ASSERT(gw != NULL && in != NULL && out != NULL);
    int retired = strcmp(in->kind, "retired") == 0, ok_purpose = !retired && in->purpose[0] == '\0';
    for (size_t k = 0; retired && rules_purpose_names[k] != NULL; k++) /* every purpose (adapters/rules.h) */
        ok_purpose |= strcmp(in->purpose, rules_purpose_names[k]) == 0;
    if (!validate_request_id(in->report_id) || (!retired && strcmp(in->kind, "cancelled") != 0) || !ok_purpose) {
        snprintf(err, errlen, "report %zu needs a 32-hex id, kind retired or cancelled, and a purpose for its kind", i);
        return -1;
    }
    if (pbconv_blocks_in(in->blocks, in->n_blocks, &out->blocks, err, errlen) != 0) return -1;
    out->blocks_n = in->n_blocks;
    ledger_block_t *sorted = malloc(out->blocks_n * sizeof *sorted);
    if (sorted == NULL) abort();
    memcpy(sorted, out->blocks, out->blocks_n * sizeof *sorted);
    qsort(sorted, out->blocks_n, sizeof *sorted, federation_block_cmp);
    for (size_t k = 0; k < out->blocks_n && err[0] == '\0'; k++) {
        char origin[CATALOG_REGION_MAX + 1] = "";
        if (strcmp(sorted[k].origin, gw->cfg.region) != 0 ||
            quote_origin_of(gw->catalogs, sorted[k].meth, origin) != 0 || strcmp(origin, gw->cfg.region) != 0)
            snprintf(err, errlen, "report %s: a block is not of %s's issue", in->report_id, gw->cfg.region);
        else if (k > 0 && sorted[k].first <= sorted[k - 1].last)
            snprintf(err, errlen, "report %s: blocks overlap", in->report_id);
    }
    free(sorted);
    snprintf(out->id, sizeof out->id, "%s", in->report_id);
    snprintf(out->kind, sizeof out->kind, "%s", in->kind);
    snprintf(out->purpose, sizeof out->purpose, "%s", in->purpose);
    if (err[0] == '\0') return 0;
    use_report_free(out);
    return -1;
}

static void federation_reply_use(server_call_t *call, const use_report_t *r, size_t n) {
    arena_t a = {0};
    Carbon__V1__ReportUseResponse resp = CARBON__V1__REPORT_USE_RESPONSE__INIT;
    resp.answers = arena_alloc(&a, n * sizeof *resp.answers);
    for (size_t i = 0; i < n; i++) {
        Carbon__V1__UseReportAnswer *ans = arena_alloc(&a, sizeof *ans);
        carbon__v1__use_report_answer__init(ans);
        ans->report_id = arena_strdup(&a, r[i].id);
        ans->outcome = r[i].outcome == USE_REPORT_APPLIED   ? CARBON__V1__USE_REPORT_OUTCOME__USE_REPORT_OUTCOME_APPLIED
                       : r[i].outcome == USE_REPORT_ALREADY ? CARBON__V1__USE_REPORT_OUTCOME__USE_REPORT_OUTCOME_ALREADY
                                                            : CARBON__V1__USE_REPORT_OUTCOME__USE_REPORT_OUTCOME_REFUSED;
        ans->reason = arena_strdup(&a, r[i].reason);
        resp.answers[resp.n_answers++] = ans;
    }
    CARBON_ASSERT(resp.n_answers == n);
    server_reply_ok(call, &resp.base);
    arena_free(&a);
}

void federation_report_use(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__ReportUseRequest *req = (const Carbon__V1__ReportUseRequest *)request;
    struct gateway *gw = server_call_app(call);
    if (!federation_region_ok(call, req->region)) return;
    if (!federation_batch_size_ok(call, req->n_reports)) return;
    size_t n = req->n_reports, parsed = 0;
    CARBON_ASSERT(n >= 1 && n <= gw->cfg.batch_legs_max);
    use_report_t *r = calloc(n, sizeof *r);
    if (r == NULL) abort();
    char err[256] = "";
    while (parsed < n && federation_report_in(gw, req->reports[parsed], parsed, &r[parsed], err, sizeof err) == 0)
        parsed++;
    store_t *st = NULL;
    if (parsed < n) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(MALFORMED_REPORT), "%s", err);
    } else if ((st = gateway_call_store(call)) != NULL) {
        if (use_reports_apply(st, req->region, r, n, ledger_now_ms(), err, sizeof err) != LEDGER_OK) {
            log_warn("store_error", "{s:s, s:s}", "method", "ReportUse", "error", err);
            server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE),
                               "the store did not answer; send the reports again");
        } else {
            /* one line per call, not per report (issue 16): each report's
             * application is in the audit log, entry 'use-reported' */
            json_int_t applied = 0;
            for (size_t i = 0; i < n; i++) applied += r[i].outcome == USE_REPORT_APPLIED;
            if (applied > 0)
                log_info("use_reports_applied", "{s:s, s:I, s:I}", "reporter", req->region, "reports", (json_int_t)n,
                         "applied", applied);
            federation_reply_use(call, r, n);
        }
    }
    for (size_t i = 0; i < parsed; i++) use_report_free(&r[i]);
    free(r);
}
