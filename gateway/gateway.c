/* gateway.c - wiring of one region's gateway (gateway.h): configuration,
 * catalogs, the store, the settlement engine, peer channels and the server. */
#include "gateway/gateway.h"
#include "common/carbon_assert.h"

#include "carbon/v1/carbon.pb-c.h"
#include "gateway/app.h"
#include "gateway/integrator.h"
#include "settlement/log_tree.h"
#include "settlement/ledger.h"
#include "settlement/group_commit.h"
#include "settlement/sentinel_watch.h"
#include "gateway/rpc/client.h"
#include "gateway/services/activities.h"
#include "gateway/services/audit.h"
#include "gateway/services/checkpointer.h"
#include "gateway/services/witnessing.h"
#include "gateway/services/federation.h"
#include "gateway/services/health.h"
#include "gateway/log.h"
#include "gateway/metrics.h"
#include "gateway/services/operations.h"
#include "gateway/peer_rate.h"
#include "gateway/peers.h"
#include "gateway/region_set.h"
#include "gateway/services/reflection.h"
#include "gateway/services/reporting.h"
#include "gateway/services/registry.h"
#include "gateway/services/use_rules.h"
#include "gateway/server.h"
#include "gateway/service_table.h"
#include "gateway/rpc/tls_client.h"
#include "gateway/tls.h"
#include "gateway/validate.h"
#include "settlement/failpoint.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GATEWAY_STOP_GRACE_MS 10000
#define GATEWAY_HELLO_TIMEOUT_MS 500
#define GATEWAY_ENGINE_QUEUE_LEGS 8192
/* Transfer, Issue and Retire calls waiting for their store step. */
#define GATEWAY_GROUP_QUEUE 65536

static void *gateway_worker_init(void *app, int index) {
    gateway_worker_t *w = calloc(1, sizeof *w);
    if (w == NULL) abort();
    w->index = index;
    gateway_worker_store(app, w);
    return w;
}

static void gateway_worker_fini(void *app, void *worker) {
    (void)app;
    gateway_worker_t *w = worker;
    store_close(w->store);
    free(w);
}

/* Health: SERVING while this worker can reach the store. */
static void gateway_health(server_call_t *call, const ProtobufCMessage *request) {
    struct gateway *gw = server_call_app(call);
    int store_ok = gateway_worker_store(gw, server_call_worker(call)) != NULL;
    health_check(call, request, store_ok);
}

static int gateway_store_config(struct gateway *gw, char *err, size_t errlen) {
    const gateway_config_t *cfg = &gw->cfg;
    store_config_defaults(&gw->store_cfg);
    snprintf(gw->store_cfg.host, sizeof gw->store_cfg.host, "%s", cfg->store_host);
    gw->store_cfg.port = cfg->store_port;
    snprintf(gw->store_cfg.user, sizeof gw->store_cfg.user, "%s", cfg->store_user);
    gw->store_cfg.connect_timeout_ms = cfg->store_connect_timeout_ms;
    gw->store_cfg.command_timeout_ms = cfg->store_command_timeout_ms;
    gw->store_cfg.min_replicas = cfg->store_min_replicas;
    gw->store_cfg.wait_timeout_ms = cfg->store_wait_timeout_ms;
    snprintf(gw->store_cfg.master_name, sizeof gw->store_cfg.master_name, "%s", cfg->store_master_name);
    if (cfg->store_sentinels[0] != '\0' &&
        store_config_sentinels(&gw->store_cfg, cfg->store_sentinels, err, errlen) != 0)
        return -1;
    /* every connection checks that the store is this region's (store.h) */
    snprintf(gw->store_cfg.region, sizeof gw->store_cfg.region, "%s", cfg->region);
    if (cfg->store_password_file[0] != '\0') {
        char *pw = tls_read_file(cfg->store_password_file, err, errlen);
        if (pw == NULL) return -1;
        pw[strcspn(pw, "\r\n")] = '\0';
        if (strlen(pw) >= sizeof gw->store_cfg.password) {
            snprintf(err, errlen, "%s: password longer than %zu bytes", cfg->store_password_file,
                     sizeof gw->store_cfg.password - 1);
            free(pw);
            return -1;
        }
        snprintf(gw->store_cfg.password, sizeof gw->store_cfg.password, "%s", pw);
        free(pw);
    }
    return 0;
}

/* The engine's decisions and recovery actions: one info line per batch at
 * its commit point (batch_decided: peer, committed, aborted) with a debug
 * line per leg (transfer_committed / transfer_aborted), and one info line
 * per leg for recovery_presumed_abort, recovery_found_decided,
 * recovery_decision_resent, recovery_decision_learned (engine.h);
 * heuristic_settled (warn), and the
 * alarms heuristic_mixed, decision_conflict and leg_damaged (error). */
static void gateway_engine_event(void *ctx, const engine_event_t *ev) {
    (void)ctx;
    static const char *const names[] = {
        [ENGINE_EVENT_DECIDED] = "transfer_decided",
        [ENGINE_EVENT_PRESUMED_ABORT] = "recovery_presumed_abort",
        [ENGINE_EVENT_DECISION_RESENT] = "recovery_decision_resent",
        [ENGINE_EVENT_DECISION_LEARNED] = "recovery_decision_learned",
        [ENGINE_EVENT_HEURISTIC_SETTLED] = "heuristic_settled",
        [ENGINE_EVENT_HEURISTIC_MIXED] = "heuristic_mixed",
        [ENGINE_EVENT_DECISION_CONFLICT] = "decision_conflict",
        [ENGINE_EVENT_BATCH_DECIDED] = "batch_decided",
        [ENGINE_EVENT_FOUND_DECIDED] = "recovery_found_decided",
        [ENGINE_EVENT_LEG_DAMAGED] = "leg_damaged",
    };
    CARBON_ASSERT((size_t)ev->kind < sizeof names / sizeof names[0]);
    const char *event = names[ev->kind];
    if (ev->kind == ENGINE_EVENT_HEURISTIC_MIXED || ev->kind == ENGINE_EVENT_DECISION_CONFLICT) {
        /* an alarm: the two regions hold different outcomes of one transfer */
        log_error(event, "{s:s, s:s, s:s, s:s}", "transfer_id", ev->tid, "peer", ev->peer,
                  "decision", transfer_state_name(ev->state), "action",
                  "an operator must compensate: gwctl indoubt lists the leg");
        return;
    }
    if (ev->kind == ENGINE_EVENT_LEG_DAMAGED) {
        const char *action = ev->state == TRANSFER_STATE_HELD
                                 ? "repair what is named in the store: the leg stays HELD until then"
                                 : "repair what is named in the store: the leg stays as it is here, and the "
                                   "source sends its decision again, until then";
        log_error(event, "{s:s, s:s, s:s, s:s, s:s}", "transfer_id", ev->tid, "peer", ev->peer, "state",
                  transfer_state_name(ev->state), "what", ev->reason, "action", action);
        return;
    }
    if (ev->kind == ENGINE_EVENT_HEURISTIC_SETTLED) {
        log_warn(event, "{s:s, s:s, s:s, s:s}", "transfer_id", ev->tid, "peer", ev->peer, "state",
                 transfer_state_name(ev->state), "outcome", ev->reason);
        return;
    }
    if (ev->kind == ENGINE_EVENT_BATCH_DECIDED) {
        log_info(event, "{s:s, s:I, s:I}", "peer", ev->peer, "committed", (json_int_t)ev->committed_n,
                 "aborted", (json_int_t)ev->aborted_n);
        return;
    }
    log_level_t level = ev->kind == ENGINE_EVENT_DECIDED ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;
    if (ev->kind == ENGINE_EVENT_DECIDED)
        event = ev->state == TRANSFER_STATE_COMMITTED ? "transfer_committed" : "transfer_aborted";
    if (ev->reason[0] != '\0')
        log_event(level, event, "{s:s, s:s, s:s, s:s}", "transfer_id", ev->tid, "peer", ev->peer, "state",
                 transfer_state_name(ev->state), "reason", ev->reason);
    else
        log_event(level, event, "{s:s, s:s, s:s}", "transfer_id", ev->tid, "peer", ev->peer, "state",
                 transfer_state_name(ev->state));
}

static const struct {
    const char *path;
    server_handler_fn fn;
} gateway_handlers[] = {
    {"/grpc.health.v1.Health/Check", gateway_health},
    {"/carbon.v1.Registry/OpenAccount", registry_open_account},
    {"/carbon.v1.Registry/Issue", registry_issue},
    {"/carbon.v1.Registry/Quote", registry_quote_handler},
    {"/carbon.v1.Registry/Transfer", registry_transfer},
    {"/carbon.v1.Registry/GetTransfer", registry_get_transfer},
    {"/carbon.v1.Registry/ListTransfers", registry_list_transfers},
    {"/carbon.v1.Registry/GetAccount", registry_get_account},
    {"/carbon.v1.Registry/Retire", registry_retire},
    {"/carbon.v1.Federation/Hello", federation_hello},
    {"/carbon.v1.Federation/Prepare", federation_prepare},
    {"/carbon.v1.Federation/Decide", federation_decide},
    {"/carbon.v1.Federation/QueryDecision", federation_query_decision},
    {"/carbon.v1.Federation/FetchBatches", federation_fetch_batches},
    {"/carbon.v1.Federation/AddCheckpoint", federation_add_checkpoint},
    {"/carbon.v1.Federation/ReserveActivities", federation_reserve_activities},
    {"/carbon.v1.Federation/SettleActivities", federation_settle_activities},
    {"/carbon.v1.Federation/QueryIssuance", federation_query_issuance},
    {"/carbon.v1.Federation/ReportUse", federation_report_use},
    {"/carbon.v1.Federation/ConfirmOrigin", federation_confirm_origin},
    {"/carbon.v1.Operations/ListBatches", ops_list_batches},
    {"/carbon.v1.Operations/Reconcile", ops_reconcile},
    {"/carbon.v1.Operations/ListInDoubt", ops_list_in_doubt},
    {"/carbon.v1.Operations/ResolveInDoubt", ops_resolve_in_doubt},
    {"/carbon.v1.Operations/ListForks", ops_list_forks},
    {"/carbon.v1.Operations/AcknowledgeFork", ops_acknowledge_fork},
    {"/carbon.v1.Operations/Report", ops_report},
    {"/carbon.v1.Operations/RegisterObligation", ops_register_obligation},
    {"/carbon.v1.Operations/GetObligation", ops_get_obligation},
    {"/carbon.v1.Audit/Trace", audit_trace},
    {"/carbon.v1.Audit/ReadLog", audit_read_log},
    {"/carbon.v1.Audit/GetCheckpoint", audit_get_checkpoint},
    {"/carbon.v1.Audit/GetConsistencyProof", audit_get_consistency_proof},
    {"/carbon.v1.Audit/ReadState", audit_read_state},
    {"/carbon.v1.Audit/ListForks", ops_list_forks}, /* the same records, for auditors */
    {"/carbon.v1.Audit/Report", ops_report},         /* the same report, for auditors */
};

/* Bidirectional streams: server reflection (reflection.h). */
static const char *const gateway_streams[] = {
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
};

/* A name for this process among the region's gateways, for the leases it
 * takes: host:pid:nonce. */
static void gateway_lease_owner(char *out, size_t outlen) {
    char host[64] = "";
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "host");
    host[sizeof host - 1] = '\0';
    snprintf(out, outlen, "%.24s:%d:%" PRIu64, host, (int)getpid(), ledger_now_ms() % 1000000u);
}

/* A gateway with what the configuration names loaded and checked, without
 * opening a socket or connecting anywhere: catalogs, the store password, the
 * audit keys, the TLS certificate, key, CA and CRLs, the peers' credentials
 * (their channels connect at the first call). NULL with the reason. */
static gateway_t *gateway_load(const gateway_config_t *cfg, char *err, size_t errlen) {
    gateway_t *gw = calloc(1, sizeof *gw);
    if (gw == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    gw->cfg = *cfg;
    gateway_lease_owner(gw->lease_owner, sizeof gw->lease_owner);
    for (size_t i = 0; i < gw->cfg.peers_n; i++) gw->peer_regions[i] = gw->cfg.peers[i].region;
    err[0] = '\0';
    gw->catalogs = catalog_set_new();
    if (catalog_set_load_dir(gw->catalogs, cfg->catalog_dir, err, errlen) < 0) goto fail;
    if (catalog_set_current(gw->catalogs, cfg->region) == NULL) {
        snprintf(err, errlen, "%s: no catalog for this gateway's region %s", cfg->catalog_dir,
                 cfg->region);
        goto fail;
    }
    for (size_t i = 0; i < cfg->peers_n; i++)
        if (catalog_set_current(gw->catalogs, cfg->peers[i].region) == NULL) {
            snprintf(err, errlen, "%s: no catalog for peer region %s", cfg->catalog_dir,
                     cfg->peers[i].region);
            goto fail;
        }
    if (gateway_store_config(gw, err, errlen) != 0) goto fail;
    if (reflection_init(services_descriptors, SERVICES_N, err, errlen) != 0) goto fail;
    if (checkpointer_init(gw, err, errlen) != 0) goto fail;

    gw->tls = tls_server_create(cfg->cert_path, cfg->key_path, cfg->ca_path, cfg->crl_dir, err,
                                errlen);
    if (gw->tls == NULL) goto fail;
    gw->creds = tls_server_creds(gw->tls); /* owned by gw->tls */
    /* the same identity, CA and CRLs towards the peers, reloaded with them */
    gw->peers = peers_create(cfg, gw->tls, err, errlen);
    if (gw->peers == NULL) goto fail;
    gw->peer_rate = peer_rate_create(cfg->peer_requests_per_s);
    gw->origin_asks = peer_rate_create(cfg->peer_requests_per_s / 4 > 0 ? cfg->peer_requests_per_s / 4 : 1);
    if (gw->peer_rate == NULL || gw->origin_asks == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    return gw;
fail:
    gateway_destroy(gw);
    return NULL;
}

/* True if listen is an address gRPC can be asked to bind: "unix:PATH", or
 * HOST:PORT with a non-empty host and a port 0..65535. */
static int gateway_listen_valid(const char *listen) {
    if (strncmp(listen, "unix:", 5) == 0) return listen[5] != '\0';
    const char *colon = strrchr(listen, ':');
    if (colon == NULL || colon == listen || colon[1] == '\0' || strlen(colon + 1) > 5) return 0;
    long port = 0;
    for (const char *c = colon + 1; *c != '\0'; c++) {
        if (*c < '0' || *c > '9') return 0;
        port = port * 10 + (*c - '0');
    }
    return port <= 65535;
}

int gateway_check_config(const gateway_config_t *cfg, char *err, size_t errlen) {
    CARBON_ASSERT(cfg != NULL && err != NULL && errlen > 0);
    if (!gateway_listen_valid(cfg->listen)) {
        snprintf(err, errlen, "listen '%s' is not HOST:PORT (port 0..65535) or unix:PATH",
                 cfg->listen);
        return -1;
    }
    gateway_t *gw = gateway_load(cfg, err, errlen);
    if (gw == NULL) return -1;
    gateway_destroy(gw);
    return 0;
}

gateway_t *gateway_create(const gateway_config_t *cfg, char *err, size_t errlen) {
    failpoint_init(cfg->region);
    if (failpoint_clock_init(cfg->region, err, errlen) != 0) return NULL;
    if (failpoint_clock_offset_ms() != 0)
        log_warn("test_clock_offset", "{s:i}", "offset_ms", (int)failpoint_clock_offset_ms());
    gateway_t *gw = gateway_load(cfg, err, errlen);
    if (gw == NULL) return NULL;

    engine_config_t ecfg = {0};
    snprintf(ecfg.region, sizeof ecfg.region, "%s", cfg->region);
    for (size_t i = 0; i < cfg->peers_n; i++)
        snprintf(ecfg.peers[i], sizeof ecfg.peers[i], "%s", cfg->peers[i].region);
    ecfg.peers_n = cfg->peers_n;
    ecfg.store = gw->store_cfg;
    ecfg.batch_legs_max = cfg->batch_legs_max;
    ecfg.message_bytes_max = cfg->max_message_bytes;
    ecfg.batch_window_ms = cfg->batch_window_ms;
    ecfg.peer_timeout_ms = cfg->peer_timeout_ms;
    ecfg.recovery_interval_ms = cfg->recovery_interval_ms;
    ecfg.queue_legs_max = GATEWAY_ENGINE_QUEUE_LEGS;
    ecfg.on_event = gateway_engine_event;
    use_reports_transport_t use_transport = peers_use_reports_transport(gw->peers);
    gw->use_reports = use_reports_create(&use_transport, gw->peer_regions, cfg->peers_n);
    ecfg.use_reports = gw->use_reports;
    gw->metrics = metrics_create(cfg, err, errlen);
    if (gw->metrics == NULL) goto fail;
    engine_transport_t peer_transport = peers_transport(gw->peers);
    engine_transport_t transport = metrics_transport(gw->metrics, &peer_transport);
    gw->engine = engine_create(&ecfg, &transport, err, errlen);
    if (gw->engine == NULL) goto fail;
    engine_set_origin_ask_gate(gw->engine, federation_origin_ask_ok, gw);
    gw->group = group_commit_create(&gw->store_cfg, GATEWAY_GROUP_QUEUE, err, errlen);
    if (gw->group == NULL) goto fail;

    server_options_t opts = {
        .region = gw->cfg.region,
        .trust_domain = gw->cfg.trust_domain,
        .peer_regions = gw->peer_regions,
        .peers_n = gw->cfg.peers_n,
        .listen = gw->cfg.listen,
        .creds = gw->creds,
        .max_message_bytes = gw->cfg.max_message_bytes,
        .workers = gw->cfg.workers,
        .app = gw,
        .worker_init = gateway_worker_init,
        .worker_fini = gateway_worker_fini,
    };
    gw->server = server_create(&opts, services_descriptors, services_kinds, SERVICES_N, err, errlen);
    if (gw->server == NULL) goto fail;
    metrics_attach(gw->metrics, gw->engine, gw->server);
    metrics_attach_group_commit(gw->metrics, gw->group);
    metrics_attach_use_reports(gw->metrics, gw->use_reports);
    for (size_t i = 0; i < sizeof gateway_handlers / sizeof gateway_handlers[0]; i++) {
        int rc = server_handle(gw->server, gateway_handlers[i].path, gateway_handlers[i].fn);
        CARBON_ASSERT(rc == 0);
        (void)rc;
    }
    for (size_t i = 0; i < sizeof gateway_streams / sizeof gateway_streams[0]; i++) {
        int rc = server_handle_stream(gw->server, gateway_streams[i], reflection_stream);
        CARBON_ASSERT(rc == 0);
        (void)rc;
    }
    return gw;
fail:
    gateway_destroy(gw);
    return NULL;
}

/* Logs a peer's Hello answer whose rules on use (by digest) differ from the
 * ones this gateway holds for that peer's region, as catalog digests are. */
static void gateway_hello_rules(gateway_t *gw, const Carbon__V1__HelloResponse *r) {
    const rules_t *theirs = catalog_set_rules(gw->catalogs, r->region);
    int has = theirs == NULL;
    for (size_t k = 0; theirs != NULL && k < r->n_rules_digests; k++)
        if (strcmp(r->rules_digests[k], theirs->digest_hex) == 0) has = 1;
    if (!has)
        log_warn("peer_rules_differ", "{s:s, s:s, s:i}", "peer", r->region, "rules_digest_here",
                 theirs->digest_hex, "rules_digests_there", (int)r->n_rules_digests);
}

/* A peer's Hello answer's regions (peers_regions_fn), noted against this
 * gateway's own (region_set_note). */
static void gateway_peer_regions(void *app, const char *peer, char *const *theirs, size_t n) {
    gateway_t *gw = app;
    CARBON_ASSERT(gw != NULL && peer != NULL);
    region_set_note(gw, peer, region_set_same(gw, theirs, n), theirs, n);
}

/* Hello to every peer: protocol version and catalog digests. A peer that
 * lacks this region's current catalog would vote no on every leg quoted with
 * it, so that is logged as an error; a peer not up yet only as a warning. */
static void gateway_hello_peers(gateway_t *gw) {
    const catalog_t *current[CATALOG_SET_REGIONS_MAX];
    size_t n = catalog_set_snapshot(gw->catalogs, current, CATALOG_SET_REGIONS_MAX);
    if (n > CATALOG_SET_REGIONS_MAX) n = CATALOG_SET_REGIONS_MAX;
    char *digests[CATALOG_SET_REGIONS_MAX];
    for (size_t i = 0; i < n; i++) digests[i] = (char *)current[i]->digest_hex;
    Carbon__V1__HelloRequest req = CARBON__V1__HELLO_REQUEST__INIT;
    req.protocol_version = 1;
    req.region = gw->cfg.region;
    req.n_catalog_digests = n;
    req.catalog_digests = digests;
    const rules_t *rules[CATALOG_SET_REGIONS_MAX];
    char *rules_digests[CATALOG_SET_REGIONS_MAX];
    size_t rn = catalog_set_rules_snapshot(gw->catalogs, rules, CATALOG_SET_REGIONS_MAX);
    if (rn > CATALOG_SET_REGIONS_MAX) rn = CATALOG_SET_REGIONS_MAX;
    for (size_t i = 0; i < rn; i++) rules_digests[i] = (char *)rules[i]->digest_hex;
    req.n_rules_digests = rn;
    req.rules_digests = rules_digests;
    const char *regions[REGION_SET_MAX];
    region_set_own(gw, regions, &req.n_federation_regions);
    req.federation_regions = (char **)regions;
    Carbon__V1__PeerLimits limits;
    peers_limits_of(&gw->cfg, &limits);
    req.limits = &limits;
    const catalog_t *own = catalog_set_current(gw->catalogs, gw->cfg.region);
    for (size_t p = 0; p < gw->cfg.peers_n; p++) {
        ProtobufCMessage *resp = NULL;
        client_status_t st;
        if (client_call(peers_channel_of(gw->peers, gw->cfg.peers[p].region),
                        "/carbon.v1.Federation/Hello", &req.base,
                        &carbon__v1__hello_response__descriptor, &resp, GATEWAY_HELLO_TIMEOUT_MS,
                        &st) != GRPC_STATUS_OK) {
            log_warn("peer_hello_failed", "{s:s, s:s}", "peer", gw->cfg.peers[p].region, "details",
                     st.details);
            continue;
        }
        const Carbon__V1__HelloResponse *r = (const Carbon__V1__HelloResponse *)resp;
        peers_note_limits(gw->peers, gw->cfg.peers[p].region, r->limits);
        if (r->limits != NULL && r->limits->batch_legs_max >= 1)
            engine_set_peer_limits(gw->engine, gw->cfg.peers[p].region, r->limits->batch_legs_max,
                                   r->limits->max_message_bytes);
        int has_own = 0;
        for (size_t k = 0; k < r->n_catalog_digests; k++)
            if (strcmp(r->catalog_digests[k], own->digest_hex) == 0) has_own = 1;
        if (has_own)
            log_info("peer_hello", "{s:s, s:i}", "peer", r->region, "catalogs", (int)r->n_catalog_digests);
        else
            log_error("peer_lacks_catalog", "{s:s, s:s}", "peer", r->region, "catalog_digest",
                      own->digest_hex);
        gateway_hello_rules(gw, r);
        gateway_peer_regions(gw, gw->cfg.peers[p].region, r->federation_regions, r->n_federation_regions);
        protobuf_c_message_free_unpacked(resp, NULL);
    }
}

/* Claims the store for this region, or refuses to go on with a store that
 * names another region (store_region_claim). A store that cannot be reached
 * now is left to the connections' own check (store_config_t.region). */
static int gateway_claim_store(gateway_t *gw, char *err, size_t errlen) {
    store_config_t scfg = gw->store_cfg;
    scfg.region[0] = '\0'; /* claimed below, where a refusal can be told apart */
    char why[512];
    store_t *st = store_open(&scfg, why, sizeof why);
    if (st == NULL) {
        log_warn("store_unreachable", "{s:s, s:s}", "when", "start", "reason", why);
        return 0;
    }
    char owner[STORE_REGION_SIZE + 32];
    int rc = store_region_claim(st, gw->cfg.region, owner, sizeof owner, why, sizeof why);
    int format_rc = rc == 0 ? log_tree_check_format(st, err, errlen) : LEDGER_OK;
    uint64_t ranges = 0, labelled = 0, converted = 0, left = 0, tiles = 0;
    int tiles_rc = rc == 0 && format_rc == LEDGER_OK ? log_tree_migrate_tiles(st, &tiles, why, sizeof why)
                                                      : LEDGER_OK;
    if (tiles_rc != LEDGER_OK) /* the integrator refuses to write and says so until it is done */
        log_warn("audit_tiles_not_converted", "{s:s}", "reason", why);
    else if (tiles > 0)
        log_info("audit_tiles_converted", "{s:i}", "tiles", tiles > INT32_MAX ? INT32_MAX : (int)tiles);
    int blocks_rc = rc == 0 && format_rc == LEDGER_OK
                        ? ledger_account_blocks_migrate(st, &converted, &left, why, sizeof why)
                        : LEDGER_OK;
    if (blocks_rc != LEDGER_OK) /* the next start tries again; the checker names what is left */
        log_warn("account_blocks_not_converted", "{s:s}", "reason", why);
    else if (converted + left > 0)
        log_info("account_blocks_converted", "{s:i, s:i}", "accounts", converted > INT32_MAX ? INT32_MAX : (int)converted,
                 "left_as_they_were", left > INT32_MAX ? INT32_MAX : (int)left);
    if (rc == 0 && format_rc == LEDGER_OK &&
        ledger_serial_index_build(st, &ranges, &labelled, why, sizeof why) == LEDGER_OK &&
        ranges + labelled > 0)
        log_info("serial_index_built", "{s:i, s:i}", "ranges", ranges > INT32_MAX ? INT32_MAX : (int)ranges,
                 "issuances_labelled", labelled > INT32_MAX ? INT32_MAX : (int)labelled);
    store_close(st);
    if (format_rc == LEDGER_EINVAL) {
        log_error("store_log_format", "{s:s}", "reason", err);
        return -1;
    }
    char store_addr[sizeof scfg.host + 8];
    snprintf(store_addr, sizeof store_addr, "%s:%d", scfg.host, scfg.port);
    if (rc == 1) {
        log_error("store_of_another_region", "{s:s, s:s, s:s, s:s}", "store", store_addr,
                  "store_region", owner, "region", gw->cfg.region, "key", STORE_REGION_KEY);
        snprintf(err, errlen,
                 "the store %s belongs to region %s (key %s), not to this gateway's region %s: "
                 "point [store] at %s's own store",
                 store_addr, owner, STORE_REGION_KEY, gw->cfg.region, gw->cfg.region);
        return -1;
    }
    if (rc < 0)
        log_warn("store_unreachable", "{s:s, s:s}", "when", "start", "reason", why);
    else
        log_info("store_region", "{s:s, s:s}", "store", store_addr, "region", gw->cfg.region);
    return 0;
}

/* The Sentinel watcher announced a failover (sentinel_watch.h). */
static void gateway_primary_switched(void *arg, const char *master_name, const char *old_addr,
                                     const char *new_addr) {
    (void)arg;
    log_info("store_primary_switched", "{s:s, s:s, s:s, s:i}", "master_name", master_name, "from",
             old_addr, "to", new_addr, "switches",
             (int)(store_primary_switches() > INT32_MAX ? INT32_MAX : store_primary_switches()));
}

int gateway_start(gateway_t *gw, char *err, size_t errlen) {
    if (gateway_claim_store(gw, err, errlen) != 0) return -1;
    if (gw->store_cfg.sentinels_n > 0) {
        gw->sentinel_watch = sentinel_watch_start(&gw->store_cfg, gateway_primary_switched, gw, err, errlen);
        if (gw->sentinel_watch == NULL) return -1;
    }
    peers_on_regions(gw->peers, gateway_peer_regions, gw); /* the engine's Hellos too */
    if (engine_start(gw->engine, err, errlen) != 0) return -1;
    if (group_commit_start(gw->group, err, errlen) != 0) return -1;
    if (server_start(gw->server, err, errlen) != 0) return -1;
    gw->integrator = integrator_start(&gw->store_cfg, gw->lease_owner, err, errlen);
    if (gw->integrator == NULL) return -1;
    metrics_attach_integrator(gw->metrics, gw->integrator); /* before it serves */
    if (metrics_start(gw->metrics, err, errlen) != 0) return -1;
    if (checkpointer_start(gw, err, errlen) != 0) return -1;
    if (activities_start(gw, err, errlen) != 0) return -1;
    gw->started = 1;
    const catalog_t *cat = catalog_set_current(gw->catalogs, gw->cfg.region);
    log_info("listening", "{s:s, s:s, s:i, s:i, s:s, s:s}", "region", gw->cfg.region, "listen",
             gw->cfg.listen, "port", server_port(gw->server), "workers", gw->cfg.workers,
             "catalog_version", cat->version, "catalog_digest", cat->digest_hex);
    gateway_hello_peers(gw);
    return 0;
}

void gateway_reload(gateway_t *gw) {
    char err[512];
    /* Certificate, key, CA and CRLs (tls.h); it logs the outcome itself. A
     * part that fails keeps its previous state; nothing established is cut. */
    char tls_err[2048];
    (void)tls_server_reload(gw->tls, tls_err, sizeof tls_err);
    int changed = catalog_set_reload(gw->catalogs, err, sizeof err);
    if (changed < 0)
        log_error("catalog_reload_failed", "{s:s}", "reason", err);
    else
        log_info("catalogs_reloaded", "{s:i}", "regions_changed", changed);
}

void gateway_stop(gateway_t *gw) {
    /* No new calls; the engine settles every leg it holds, answering the
     * Transfer calls waiting on them; then the server finishes and goes. */
    metrics_stop(gw->metrics); /* it reads the server and the engine */
    if (gw->server != NULL) server_shutdown_begin(gw->server);
    /* Issuances waiting for their activity's reservation go on to the group
     * commit (or are answered) first. */
    activities_stop(gw);
    /* Writes still queued are made (holds handed to the engine) before it stops. */
    if (gw->group != NULL) group_commit_stop(gw->group);
    if (gw->engine != NULL) engine_stop(gw->engine);
    if (gw->server != NULL) {
        server_stop_and_destroy(gw->server, GATEWAY_STOP_GRACE_MS);
        gw->server = NULL;
    }
    checkpointer_stop(gw);
    integrator_stop(gw->integrator); /* metrics, which read it, stopped first */
    gw->integrator = NULL;
    sentinel_watch_stop(gw->sentinel_watch);
    gw->sentinel_watch = NULL;
}

void gateway_destroy(gateway_t *gw) {
    if (gw == NULL) return;
    gateway_stop(gw);
    group_commit_destroy(gw->group);
    activities_destroy(gw);
    engine_destroy(gw->engine);
    use_reports_destroy(gw->use_reports); /* after the engine: its recovery sends them */
    metrics_destroy(gw->metrics); /* after the engine: it wraps its transport */
    checkpointer_fini(gw);
    peers_destroy(gw->peers);
    peer_rate_destroy(gw->peer_rate);
    peer_rate_destroy(gw->origin_asks);
    tls_server_destroy(gw->tls); /* and the credentials gw->creds */
    if (gw->catalogs != NULL) catalog_set_free(gw->catalogs);
    free(gw);
}
