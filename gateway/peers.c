/* peers.c - channels to the peer gateways and the engine's transport over
 * them (peers.h). gRPC channels reconnect by themselves with backoff; each
 * call carries a deadline. */
#include "gateway/peers.h"
#include "common/carbon_assert.h"

#include "carbon/v1/carbon.pb-c.h"
#include "gateway/arena.h"
#include "gateway/rpc/client.h"
#include "gateway/log.h"
#include "gateway/pbconv.h"
#include "gateway/peer_pace.h"
#include "gateway/region_set.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <time.h>

/* How long after a peer's Hello a call to it waits for its channel to
 * connect rather than fail with the error of the connection before. */
#define PEERS_CAME_BACK_WAIT_MS 2000

struct peers {
    char region[CARBON_REGION_SIZE];
    size_t n;
    char names[CONFIG_PEERS_MAX][CARBON_REGION_SIZE];
    grpc_channel *channels[CONFIG_PEERS_MAX];
    /* 1 from a failed call to the next call that succeeds (peer_down/peer_up) */
    atomic_int down[CONFIG_PEERS_MAX];
    _Atomic int64_t down_since_ms[CONFIG_PEERS_MAX];
    /* when the peer's last Hello came (0: none), peers_reconnect_now */
    _Atomic int64_t came_back_ms[CONFIG_PEERS_MAX];
    peer_pace_t *pace[CONFIG_PEERS_MAX]; /* each peer's announced requests_per_s (peer_pace.h) */
    Carbon__V1__PeerLimits limits; /* this gateway's, sent in Hello */
    const char *regions[REGION_SET_MAX]; /* region and names, sorted: sent in Hello (region_set.h) */
    size_t regions_n;
    peers_regions_fn *on_regions; /* peers_on_regions */
    void *on_regions_app;
};

void peers_on_regions(peers_t *p, peers_regions_fn *fn, void *app) {
    CARBON_ASSERT(p != NULL);
    p->on_regions = fn;
    p->on_regions_app = app;
}

void peers_limits_of(const gateway_config_t *cfg, Carbon__V1__PeerLimits *out) {
    CARBON_ASSERT(cfg != NULL && out != NULL);
    carbon__v1__peer_limits__init(out);
    out->batch_legs_max = cfg->batch_legs_max;
    out->max_message_bytes = cfg->max_message_bytes;
    out->legs_in_flight_max = cfg->peer_legs_in_flight_max;
    out->requests_per_s = cfg->peer_requests_per_s;
}

peers_t *peers_create(const gateway_config_t *cfg, const tls_server_t *tls, char *err,
                      size_t errlen) {
    CARBON_ASSERT(cfg != NULL && tls != NULL);
    peers_t *p = calloc(1, sizeof *p);
    if (p == NULL) abort();
    snprintf(p->region, sizeof p->region, "%s", cfg->region);
    peers_limits_of(cfg, &p->limits);
    for (size_t i = 0; i < cfg->peers_n; i++) {
        /* credentials of its own per peer: each expects that region's gateway */
        grpc_channel_credentials *creds = tls_server_peer_credentials(
            tls, cfg->trust_domain, cfg->peers[i].region, err, errlen);
        if (creds == NULL) {
            peers_destroy(p);
            return NULL;
        }
        snprintf(p->names[i], sizeof p->names[i], "%s", cfg->peers[i].region);
        p->pace[i] = peer_pace_create();
        if (p->pace[i] == NULL) abort();
        p->channels[i] = client_channel(cfg->peers[i].address, creds, cfg->max_message_bytes);
        grpc_channel_credentials_release(creds); /* the channel holds its own reference */
        p->n = i + 1;
    }
    p->regions[p->regions_n++] = p->region;
    for (size_t i = 0; i < p->n; i++) p->regions[p->regions_n++] = p->names[i];
    region_set_sort(p->regions, p->regions_n);
    return p;
}

void peers_destroy(peers_t *p) {
    if (p == NULL) return;
    for (size_t i = 0; i < p->n; i++) {
        grpc_channel_destroy(p->channels[i]);
        peer_pace_destroy(p->pace[i]);
    }
    free(p);
}

static int peers_index(const peers_t *p, const char *region) {
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->names[i], region) == 0) return (int)i;
    return -1;
}

grpc_channel *peers_channel_of(peers_t *p, const char *region) {
    int i = peers_index(p, region);
    return i < 0 ? NULL : p->channels[i];
}

static int64_t peers_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void peers_reconnect_now(peers_t *p, const char *region) {
    CARBON_ASSERT(p != NULL && region != NULL);
    int i = peers_index(p, region);
    if (i < 0) return;
    atomic_store(&p->came_back_ms[i], peers_now_ms());
    grpc_channel_reset_connect_backoff(p->channels[i]);
}

void peers_note_limits(peers_t *p, const char *region, const Carbon__V1__PeerLimits *limits) {
    CARBON_ASSERT(p != NULL && region != NULL);
    int i = peers_index(p, region);
    if (i < 0) return;
    uint32_t per_s = limits != NULL ? limits->requests_per_s : 0;
    if (per_s == peer_pace_rate(p->pace[i])) return;
    peer_pace_set_rate(p->pace[i], per_s);
    log_info("peer_pace", "{s:s, s:i}", "peer", p->names[i], "requests_per_s", (int)per_s);
}

/* Waits for the slot of one call to peer i (peer_pace.h), at most
 * *timeout_ms, which loses the time waited. */
static void peers_pace(peers_t *p, int i, int64_t *timeout_ms) {
    CARBON_ASSERT(p != NULL && i >= 0 && (size_t)i < p->n && *timeout_ms >= 0);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t now_us = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
    uint64_t wait_us = peer_pace_reserve(p->pace[i], now_us);
    if (wait_us == 0) return;
    if (wait_us > (uint64_t)*timeout_ms * 1000u) wait_us = (uint64_t)*timeout_ms * 1000u;
    struct timespec ts = {(time_t)(wait_us / 1000000u), (long)(wait_us % 1000000u) * 1000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    *timeout_ms -= (int64_t)((wait_us + 999u) / 1000u);
    if (*timeout_ms < 0) *timeout_ms = 0;
}

/* Logs a peer's state when it changes: "peer_down" (warn, with the call's
 * status) at the first call that finds it unreachable (UNAVAILABLE,
 * DEADLINE_EXCEEDED), "peer_up" (info, with how long it was down) at the
 * next call it answers, whatever the answer. Each unreachable call is a debug
 * line; a call the peer answered with an error is a warn line each time. */
static void peers_note(peers_t *p, int i, const char *path, const client_status_t *st) {
    int unreachable = st != NULL && (st->code == GRPC_STATUS_UNAVAILABLE ||
                                     st->code == GRPC_STATUS_DEADLINE_EXCEEDED);
    if (st != NULL)
        log_event(unreachable ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN, "peer_call_failed",
                  "{s:s, s:s, s:s, s:s}", "peer", p->names[i], "method", path, "status",
                  client_status_name(st->code), "details", st->details);
    if (!unreachable) {
        if (atomic_exchange(&p->down[i], 0) == 1)
            log_info("peer_up", "{s:s, s:I}", "peer", p->names[i], "down_ms",
                     (json_int_t)(peers_now_ms() - atomic_load(&p->down_since_ms[i])));
        return;
    }
    if (atomic_exchange(&p->down[i], 1) == 0) {
        atomic_store(&p->down_since_ms[i], peers_now_ms());
        log_warn("peer_down", "{s:s, s:s, s:s, s:s}", "peer", p->names[i], "method", path,
                 "status", client_status_name(st->code), "details", st->details);
    }
}

void peers_observe(peers_t *p, const char *region, const char *path, const client_status_t *st) {
    CARBON_ASSERT(p != NULL && region != NULL && path != NULL);
    int i = peers_index(p, region);
    if (i >= 0) peers_note(p, i, path, st);
}

/* A peer that said Hello within the last PEERS_CAME_BACK_WAIT_MS is up: if
 * its channel is still reconnecting (a call would fail at once with the
 * connection error from before), waits for the connection until that
 * window ends, within *timeout_ms, which loses what was waited. */
static void peers_await_came_back(peers_t *p, int i, int64_t *timeout_ms) {
    CARBON_ASSERT(p != NULL && i >= 0 && (size_t)i < p->n && *timeout_ms >= 0);
    int64_t now_ms = peers_now_ms(), came_back_ms = atomic_load(&p->came_back_ms[i]);
    int64_t window_left_ms = came_back_ms + PEERS_CAME_BACK_WAIT_MS - now_ms;
    if (came_back_ms == 0 || window_left_ms <= 0) return;
    if (grpc_channel_check_connectivity_state(p->channels[i], 0) == GRPC_CHANNEL_READY) return;
    client_wait_ready(p->channels[i], *timeout_ms < window_left_ms ? *timeout_ms : window_left_ms);
    int64_t waited_ms = peers_now_ms() - now_ms;
    *timeout_ms = waited_ms >= *timeout_ms ? 0 : *timeout_ms - waited_ms;
}

/* Makes one call; 0 if OK, else -1 with the reason in err (peers.h). */
int peers_call(peers_t *p, const char *peer, const char *path, const ProtobufCMessage *req,
                      const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                      int64_t timeout_ms, char *err, size_t errlen) {
    CARBON_ASSERT(p != NULL && peer != NULL && path != NULL && req != NULL && resp != NULL);
    CARBON_ASSERT(resp_desc != NULL && timeout_ms >= 0 && err != NULL && errlen > 0);
    int i = peers_index(p, peer);
    if (i < 0) {
        snprintf(err, errlen, "%s is not a peer", peer);
        return -1;
    }
    /* the connection first: paced calls held back by it would leave at once */
    peers_await_came_back(p, i, &timeout_ms);
    peers_pace(p, i, &timeout_ms);
    client_status_t st;
    if (client_call(p->channels[i], path, req, resp_desc, resp, timeout_ms, &st) !=
        GRPC_STATUS_OK) {
        snprintf(err, errlen, "%s %s: %s: %s", peer, path, client_status_name(st.code), st.details);
        peers_note(p, i, path, &st);
        return -1;
    }
    peers_note(p, i, path, NULL);
    return 0;
}

/* A peer's vote, as untrusted input: anything but VOTE_YES is a no; a no's
 * reason must be a name of settlement/reasons.h (else REFUSED), and its
 * detail printable ASCII within LEDGER_DETAIL_MAX (else none). */
static void peers_vote_of(const Carbon__V1__LegVote *v, engine_vote_t *out) {
    CARBON_ASSERT(v != NULL && out != NULL);
    out->yes = v->vote == CARBON__V1__VOTE__VOTE_YES;
    out->reason[0] = out->detail[0] = '\0';
    if (out->yes) return;
    int known = v->reason[0] != '\0' && strlen(v->reason) <= LEDGER_REASON_MAX && reason_find(v->reason) != NULL;
    snprintf(out->reason, sizeof out->reason, "%s", known ? v->reason : REASON(REFUSED));
    if (reason_detail_valid(v->detail, LEDGER_DETAIL_MAX))
        snprintf(out->detail, sizeof out->detail, "%s", v->detail);
}

static int peers_prepare(void *ctx, const char *peer, uint64_t batch_seq,
                         const ledger_leg_t *const *legs, size_t n, int64_t timeout_ms,
                         engine_vote_t *votes, char *err, size_t errlen) {
    peers_t *p = ctx;
    CARBON_ASSERT(p != NULL && peer != NULL && legs != NULL && votes != NULL);
    CARBON_ASSERT(n <= LEDGER_BATCH_LEGS_MAX);
    arena_t a = {0};
    Carbon__V1__PrepareRequest req = CARBON__V1__PREPARE_REQUEST__INIT;
    req.source_region = p->region;
    req.batch_seq = batch_seq;
    req.source_records_own_discount = 1; /* source_decide.lua, own_export_record */
    req.legs = arena_alloc(&a, n * sizeof *req.legs);
    for (size_t i = 0; i < n; i++) {
        req.legs[req.n_legs++] = pbconv_leg(&a, legs[i], p->region);
        /* sent to another region than the leg's destination: the origin of its serials */
        req.legs[i]->origin_only = strcmp(peer, legs[i]->peer) != 0;
    }
    ProtobufCMessage *resp = NULL;
    int rc = peers_call(p, peer, "/carbon.v1.Federation/Prepare", &req.base,
                        &carbon__v1__prepare_response__descriptor, &resp, timeout_ms, err, errlen);
    arena_free(&a);
    if (rc != 0) return -1;
    const Carbon__V1__PrepareResponse *r = (const Carbon__V1__PrepareResponse *)resp;
    if (r->n_votes != n) {
        snprintf(err, errlen, "%s answered %zu votes for %zu legs", peer, r->n_votes, n);
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (strcmp(r->votes[i]->transfer_id, legs[i]->tid) != 0) {
            snprintf(err, errlen, "%s answered votes out of order", peer);
            rc = -1;
            break;
        }
        peers_vote_of(r->votes[i], &votes[i]);
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

static int peers_decide(void *ctx, const char *peer, uint64_t batch_seq, const char *const *tids,
                        const char *decisions, size_t n, int64_t timeout_ms, char *applied,
                        char *err, size_t errlen) {
    peers_t *p = ctx;
    CARBON_ASSERT(p != NULL && peer != NULL && tids != NULL && decisions != NULL && applied != NULL);
    CARBON_ASSERT(n <= LEDGER_BATCH_LEGS_MAX);
    arena_t a = {0};
    Carbon__V1__DecideRequest req = CARBON__V1__DECIDE_REQUEST__INIT;
    req.source_region = p->region;
    req.batch_seq = batch_seq;
    req.decisions = arena_alloc(&a, n * sizeof *req.decisions);
    for (size_t i = 0; i < n; i++) {
        Carbon__V1__LegDecision *d = arena_alloc(&a, sizeof *d);
        carbon__v1__leg_decision__init(d);
        d->transfer_id = (char *)tids[i];
        /* the engine decides COMMIT or ABORT only */
        CARBON_ASSERT(decisions[i] == TRANSFER_DECISION_COMMIT || decisions[i] == TRANSFER_DECISION_ABORT);
        d->decision = pbconv_decision(decisions[i]);
        req.decisions[req.n_decisions++] = d;
    }
    ProtobufCMessage *resp = NULL;
    int rc = peers_call(p, peer, "/carbon.v1.Federation/Decide", &req.base,
                        &carbon__v1__decide_response__descriptor, &resp, timeout_ms, err, errlen);
    arena_free(&a);
    if (rc != 0) return -1;
    const Carbon__V1__DecideResponse *r = (const Carbon__V1__DecideResponse *)resp;
    if (r->n_acks != n) {
        snprintf(err, errlen, "%s answered %zu acks for %zu decisions", peer, r->n_acks, n);
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        applied[i] = strcmp(r->acks[i]->transfer_id, tids[i]) == 0
                         ? pbconv_decision_in(r->acks[i]->applied)
                         : TRANSFER_DECISION_UNKNOWN;
        /* the peer recorded the decision, and holds the other outcome
         * after an operator's heuristic decision: HEURISTIC_MIXED ('M') */
        if (applied[i] != TRANSFER_DECISION_UNKNOWN && applied[i] != decisions[i] &&
            r->acks[i]->heuristic_mixed)
            applied[i] = TRANSFER_DECISION_MIXED;
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

static int peers_query(void *ctx, const char *peer, const char *const *tids, size_t n,
                       int64_t timeout_ms, char *decisions, char *err, size_t errlen) {
    peers_t *p = ctx;
    CARBON_ASSERT(p != NULL && peer != NULL && tids != NULL && decisions != NULL);
    CARBON_ASSERT(n <= LEDGER_BATCH_LEGS_MAX);
    Carbon__V1__QueryDecisionRequest req = CARBON__V1__QUERY_DECISION_REQUEST__INIT;
    req.region = p->region;
    req.n_transfer_ids = n;
    req.transfer_ids = (char **)tids;
    ProtobufCMessage *resp = NULL;
    if (peers_call(p, peer, "/carbon.v1.Federation/QueryDecision", &req.base,
                   &carbon__v1__query_decision_response__descriptor, &resp, timeout_ms, err,
                   errlen) != 0)
        return -1;
    const Carbon__V1__QueryDecisionResponse *r = (const Carbon__V1__QueryDecisionResponse *)resp;
    int rc = 0;
    if (r->n_decisions != n) {
        snprintf(err, errlen, "%s answered %zu decisions for %zu ids", peer, r->n_decisions, n);
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        decisions[i] = strcmp(r->decisions[i]->transfer_id, tids[i]) == 0
                           ? pbconv_decision_in(r->decisions[i]->decision)
                           : TRANSFER_DECISION_UNKNOWN;
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

/* ConfirmOrigin (engine.h contract): the destination legs (their source in
 * peer, the account here in to) with their blocks; the origin's answers. */
static int peers_confirm(void *ctx, const char *origin, const ledger_leg_t *const *legs, size_t n,
                         int at_prepare, int64_t timeout_ms, char *answers, char (*why)[LEDGER_REASON_MAX + 1],
                         char *err, size_t errlen) {
    peers_t *p = ctx;
    CARBON_ASSERT(p != NULL && origin != NULL && legs != NULL && answers != NULL);
    CARBON_ASSERT(n >= 1 && n <= LEDGER_BATCH_LEGS_MAX);
    arena_t a = {0};
    Carbon__V1__ConfirmOriginRequest req = CARBON__V1__CONFIRM_ORIGIN_REQUEST__INIT;
    req.region = p->region;
    req.at_prepare = at_prepare != 0;
    req.legs = arena_alloc(&a, n * sizeof *req.legs);
    for (size_t i = 0; i < n; i++) {
        Carbon__V1__OriginQuery *q = arena_alloc(&a, sizeof *q);
        carbon__v1__origin_query__init(q);
        q->transfer_id = (char *)legs[i]->tid;
        q->source_region = (char *)legs[i]->peer;
        q->to_account = arena_printf(&a, "%s/%s", p->region, legs[i]->to);
        q->blocks = arena_alloc(&a, legs[i]->blocks_n * sizeof *q->blocks);
        for (size_t k = 0; k < legs[i]->blocks_n; k++)
            q->blocks[q->n_blocks++] = pbconv_block(&a, &legs[i]->blocks[k]);
        req.legs[req.n_legs++] = q;
    }
    ProtobufCMessage *resp = NULL;
    int rc = peers_call(p, origin, "/carbon.v1.Federation/ConfirmOrigin", &req.base,
                        &carbon__v1__confirm_origin_response__descriptor, &resp, timeout_ms, err, errlen);
    arena_free(&a);
    if (rc != 0) return -1;
    const Carbon__V1__ConfirmOriginResponse *r = (const Carbon__V1__ConfirmOriginResponse *)resp;
    if (at_prepare && !r->at_prepare) { /* a gatewayd older than at_prepare: its ABORTs mean nothing yet */
        protobuf_c_message_free_unpacked(resp, NULL);
        return 1;
    }
    if (r->n_decisions != n) {
        snprintf(err, errlen, "%s answered %zu confirmations for %zu legs", origin, r->n_decisions, n);
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        answers[i] = strcmp(r->decisions[i]->transfer_id, legs[i]->tid) == 0
                         ? pbconv_decision_in(r->decisions[i]->decision)
                         : TRANSFER_DECISION_UNKNOWN;
        if (why != NULL) snprintf(why[i], sizeof why[i], "%.63s", r->decisions[i]->reason);
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

/* Hello with this gateway's limits; the peer's limits into *legs_max and
 * *bytes_max (0 when it sent none: an older peer). */
static int peers_hello(void *ctx, const char *peer, int64_t timeout_ms, uint32_t *legs_max,
                       uint32_t *bytes_max, char *err, size_t errlen) {
    peers_t *p = ctx;
    CARBON_ASSERT(p != NULL && peer != NULL && legs_max != NULL && bytes_max != NULL);
    Carbon__V1__HelloRequest req = CARBON__V1__HELLO_REQUEST__INIT;
    req.protocol_version = 1;
    req.region = p->region;
    req.limits = &p->limits;
    req.n_federation_regions = p->regions_n;
    req.federation_regions = (char **)p->regions;
    ProtobufCMessage *resp = NULL;
    if (peers_call(p, peer, "/carbon.v1.Federation/Hello", &req.base,
                   &carbon__v1__hello_response__descriptor, &resp, timeout_ms, err, errlen) != 0)
        return -1;
    const Carbon__V1__HelloResponse *r = (const Carbon__V1__HelloResponse *)resp;
    peers_note_limits(p, peer, r->limits);
    if (p->on_regions != NULL) p->on_regions(p->on_regions_app, peer, r->federation_regions, r->n_federation_regions);
    *legs_max = r->limits != NULL ? r->limits->batch_legs_max : 0;
    *bytes_max = r->limits != NULL ? r->limits->max_message_bytes : 0;
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

/* ReportUse (use_reports.h contract): the reports with their blocks; each
 * answer's outcome and reason. A refusal is logged (warn): the report stays
 * and is sent again with backoff. */
static int peers_report_use(void *ctx, const char *origin, use_report_t *reports, size_t n,
                            int64_t timeout_ms, char *err, size_t errlen) {
    peers_t *p = ctx;
    CARBON_ASSERT(p != NULL && origin != NULL && reports != NULL);
    CARBON_ASSERT(n >= 1 && n <= LEDGER_BATCH_LEGS_MAX);
    arena_t a = {0};
    Carbon__V1__ReportUseRequest req = CARBON__V1__REPORT_USE_REQUEST__INIT;
    req.region = p->region;
    req.reports = arena_alloc(&a, n * sizeof *req.reports);
    for (size_t i = 0; i < n; i++) {
        Carbon__V1__UseReport *u = arena_alloc(&a, sizeof *u);
        carbon__v1__use_report__init(u);
        u->report_id = reports[i].id;
        u->kind = reports[i].kind;
        u->purpose = reports[i].purpose;
        u->blocks = arena_alloc(&a, reports[i].blocks_n * sizeof *u->blocks);
        for (size_t k = 0; k < reports[i].blocks_n; k++)
            u->blocks[u->n_blocks++] = pbconv_block(&a, &reports[i].blocks[k]);
        req.reports[req.n_reports++] = u;
    }
    ProtobufCMessage *resp = NULL;
    int rc = peers_call(p, origin, "/carbon.v1.Federation/ReportUse", &req.base,
                        &carbon__v1__report_use_response__descriptor, &resp, timeout_ms, err, errlen);
    arena_free(&a);
    if (rc != 0) return -1;
    const Carbon__V1__ReportUseResponse *r = (const Carbon__V1__ReportUseResponse *)resp;
    if (r->n_answers != n) {
        snprintf(err, errlen, "%s answered %zu of %zu use reports", origin, r->n_answers, n);
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const Carbon__V1__UseReportAnswer *ans = r->answers[i];
        int same = strcmp(ans->report_id, reports[i].id) == 0;
        reports[i].outcome = !same ? USE_REPORT_UNANSWERED
                             : ans->outcome == CARBON__V1__USE_REPORT_OUTCOME__USE_REPORT_OUTCOME_APPLIED ? USE_REPORT_APPLIED
                             : ans->outcome == CARBON__V1__USE_REPORT_OUTCOME__USE_REPORT_OUTCOME_ALREADY ? USE_REPORT_ALREADY
                                                                                                        : USE_REPORT_REFUSED;
        snprintf(reports[i].reason, sizeof reports[i].reason, "%s",
                 reports[i].outcome == USE_REPORT_REFUSED ? (ans->reason[0] ? ans->reason : REASON(REFUSED)) : "");
        if (reports[i].outcome == USE_REPORT_REFUSED)
            log_warn("use_report_refused", "{s:s, s:s, s:s, s:s}", "report_id", reports[i].id, "origin",
                     origin, "kind", reports[i].kind, "reason", reports[i].reason);
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

use_reports_transport_t peers_use_reports_transport(peers_t *p) {
    use_reports_transport_t t = {.ctx = p, .send = peers_report_use};
    return t;
}

engine_transport_t peers_transport(peers_t *p) {
    engine_transport_t t = {.ctx = p,
                            .prepare = peers_prepare,
                            .decide = peers_decide,
                            .query = peers_query,
                            .hello = peers_hello,
                            .confirm = peers_confirm};
    return t;
}
