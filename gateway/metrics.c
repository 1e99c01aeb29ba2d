/* metrics.c - Prometheus text exposition over libmicrohttpd (metrics.h). */
#include "gateway/metrics.h"
#include "gateway/integrator.h"
#include "common/version.h"
#include "common/carbon_assert.h"

#include "gateway/log.h"
#include "settlement/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define METRICS_LISTEN_BACKLOG 16
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef enum { METRICS_RPC_PREPARE, METRICS_RPC_DECIDE, METRICS_RPC_QUERY, METRICS_RPCS } metrics_rpc_t;

static const char *const metrics_rpc_names[METRICS_RPCS] = {"Prepare", "Decide", "QueryDecision"};

typedef struct {
    char region[CONFIG_REGION_SIZE];
    _Atomic uint64_t calls[METRICS_RPCS];
    _Atomic uint64_t failures[METRICS_RPCS];
    _Atomic uint64_t forks_unacknowledged; /* services/witnessing.c */
} metrics_peer_t;

struct metrics {
    char region[CONFIG_REGION_SIZE];
    char listen[CONFIG_ADDRESS_MAX];
    int fd;   /* bound listening socket until MHD owns it; -1 otherwise */
    int port; /* 0: no endpoint */
    struct MHD_Daemon *daemon;
    engine_transport_t inner;
    engine_t *engine;
    group_commit_t *group;
    server_t *server;
    metrics_peer_t peers[CONFIG_PEERS_MAX];
    size_t peers_n;
    struct integrator *integrator; /* gateway/integrator.h; NULL: none */
    const use_reports_t *use_reports; /* settlement/use_reports.h; NULL: none */
};

/* ---- the listen address ------------------------------------------------------ */

/* Binds and listens; returns the socket and sets *port, or -1 with err. */
static int metrics_bind(const char *listen_addr, int *port, char *err, size_t errlen) {
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    if (config_metrics_listen_parse(listen_addr, &ss, &sslen) != 0) {
        snprintf(err, errlen,
                 "metrics listen '%s': not a loopback HOST:PORT (127.0.0.1:9101 or [::1]:9101)",
                 listen_addr);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "metrics listen %s: socket: %s", listen_addr, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sslen) != 0 || listen(fd, METRICS_LISTEN_BACKLOG) != 0) {
        snprintf(err, errlen, "metrics listen %s: %s", listen_addr, strerror(errno));
        close(fd);
        return -1;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (getsockname(fd, (struct sockaddr *)&bound, &blen) != 0) {
        snprintf(err, errlen, "metrics listen %s: getsockname: %s", listen_addr, strerror(errno));
        close(fd);
        return -1;
    }
    *port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    return fd;
}

/* ---- lifecycle ------------------------------------------------------------------ */

metrics_t *metrics_create(const gateway_config_t *cfg, char *err, size_t errlen) {
    metrics_t *m = calloc(1, sizeof *m);
    if (m == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->fd = -1;
    snprintf(m->region, sizeof m->region, "%s", cfg->region);
    snprintf(m->listen, sizeof m->listen, "%s", cfg->metrics_listen);
    CARBON_ASSERT(cfg->peers_n <= CONFIG_PEERS_MAX);
    for (size_t i = 0; i < cfg->peers_n; i++)
        snprintf(m->peers[i].region, sizeof m->peers[i].region, "%s", cfg->peers[i].region);
    m->peers_n = cfg->peers_n;
    if (m->listen[0] != '\0') {
        m->fd = metrics_bind(m->listen, &m->port, err, errlen);
        if (m->fd < 0) {
            free(m);
            return NULL;
        }
    }
    return m;
}

void metrics_attach(metrics_t *m, engine_t *engine, server_t *server) {
    CARBON_ASSERT(m->daemon == NULL);
    m->engine = engine;
    m->server = server;
}

void metrics_attach_group_commit(metrics_t *m, group_commit_t *gc) {
    CARBON_ASSERT(m != NULL);
    m->group = gc;
}

void metrics_attach_use_reports(metrics_t *m, const use_reports_t *u) {
    CARBON_ASSERT(m->daemon == NULL);
    m->use_reports = u;
}

void metrics_attach_integrator(metrics_t *m, struct integrator *it) {
    CARBON_ASSERT(m->daemon == NULL);
    m->integrator = it;
}

static void metrics_mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char line[256];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_warn("metrics_http_error", "{s:s}", "reason", line);
}

static enum MHD_Result metrics_on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                          const char *method, const char *version,
                                          const char *upload_data, size_t *upload_data_size,
                                          void **con_cls);

int metrics_start(metrics_t *m, char *err, size_t errlen) {
    if (m->fd < 0) return 0;
    CARBON_ASSERT(m->daemon == NULL);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (config_metrics_listen_parse(m->listen, &ss, &sslen) == 0 && ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    m->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, metrics_on_request, m, MHD_OPTION_EXTERNAL_LOGGER,
        metrics_mhd_log, (void *)m, MHD_OPTION_LISTEN_SOCKET, m->fd, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)METRICS_CONNECTIONS_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)METRICS_CONNECTION_TIMEOUT_S, MHD_OPTION_END);
    if (m->daemon == NULL) {
        snprintf(err, errlen, "metrics listen %s: libmicrohttpd did not start", m->listen);
        return -1;
    }
    m->fd = -1; /* MHD closes it in MHD_stop_daemon */
    log_info("metrics_listening", "{s:s, s:s, s:i}", "region", m->region, "listen", m->listen,
             "port", m->port);
    return 0;
}

void metrics_stop(metrics_t *m) {
    if (m == NULL || m->daemon == NULL) return;
    MHD_stop_daemon(m->daemon);
    m->daemon = NULL;
}

void metrics_destroy(metrics_t *m) {
    if (m == NULL) return;
    metrics_stop(m);
    if (m->fd >= 0) close(m->fd);
    free(m);
}

/* ---- peer RPCs: the engine's transport, counted ------------------------------ */

static void metrics_count_rpc(metrics_t *m, const char *peer, metrics_rpc_t rpc, int rc) {
    for (size_t i = 0; i < m->peers_n; i++) {
        if (strcmp(m->peers[i].region, peer) != 0) continue;
        atomic_fetch_add(&m->peers[i].calls[rpc], 1);
        if (rc != 0) atomic_fetch_add(&m->peers[i].failures[rpc], 1);
        return;
    }
}

static int metrics_prepare(void *ctx, const char *peer, uint64_t batch_seq,
                           const ledger_leg_t *const *legs, size_t n, int64_t timeout_ms,
                           engine_vote_t *votes, char *err, size_t errlen) {
    metrics_t *m = ctx;
    int rc = m->inner.prepare(m->inner.ctx, peer, batch_seq, legs, n, timeout_ms, votes, err,
                              errlen);
    metrics_count_rpc(m, peer, METRICS_RPC_PREPARE, rc);
    return rc;
}

static int metrics_decide(void *ctx, const char *peer, uint64_t batch_seq,
                          const char *const *tids, const char *decisions, size_t n,
                          int64_t timeout_ms, char *applied, char *err, size_t errlen) {
    metrics_t *m = ctx;
    int rc = m->inner.decide(m->inner.ctx, peer, batch_seq, tids, decisions, n, timeout_ms,
                             applied, err, errlen);
    metrics_count_rpc(m, peer, METRICS_RPC_DECIDE, rc);
    return rc;
}

static int metrics_query(void *ctx, const char *peer, const char *const *tids, size_t n,
                         int64_t timeout_ms, char *decisions, char *err, size_t errlen) {
    metrics_t *m = ctx;
    int rc = m->inner.query(m->inner.ctx, peer, tids, n, timeout_ms, decisions, err, errlen);
    metrics_count_rpc(m, peer, METRICS_RPC_QUERY, rc);
    return rc;
}

static int metrics_hello(void *ctx, const char *peer, int64_t timeout_ms, uint32_t *legs_max,
                         uint32_t *bytes_max, char *err, size_t errlen) {
    metrics_t *m = ctx;
    return m->inner.hello(m->inner.ctx, peer, timeout_ms, legs_max, bytes_max, err, errlen);
}

void metrics_set_forks_unacknowledged(metrics_t *m, const char *region, uint64_t n) {
    if (m == NULL) return;
    CARBON_ASSERT(region != NULL && m->peers_n <= CONFIG_PEERS_MAX);
    for (size_t i = 0; i < m->peers_n; i++)
        if (strcmp(m->peers[i].region, region) == 0) atomic_store(&m->peers[i].forks_unacknowledged, n);
}

/* ConfirmOrigin passes through (not one of the counted RPCs). */
static int metrics_confirm(void *ctx, const char *origin, const ledger_leg_t *const *legs, size_t n,
                           int at_prepare, int64_t timeout_ms, char *answers, char (*why)[LEDGER_REASON_MAX + 1],
                           char *err, size_t errlen) {
    metrics_t *m = ctx;
    return m->inner.confirm(m->inner.ctx, origin, legs, n, at_prepare, timeout_ms, answers, why, err, errlen);
}

engine_transport_t metrics_transport(metrics_t *m, const engine_transport_t *inner) {
    m->inner = *inner;
    engine_transport_t t = {
        .ctx = m, .prepare = metrics_prepare, .decide = metrics_decide, .query = metrics_query,
        .hello = inner->hello != NULL ? metrics_hello : NULL,
        .confirm = inner->confirm != NULL ? metrics_confirm : NULL};
    return t;
}

/* ---- rendering ------------------------------------------------------------------ */

typedef struct {
    char *buf;
    size_t cap, len;
    int overflow;
} metrics_out_t;

__attribute__((format(printf, 2, 3))) static void mo_printf(metrics_out_t *o, const char *fmt,
                                                              ...) {
    if (o->overflow) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->cap - o->len) {
        o->overflow = 1;
        return;
    }
    o->len += (size_t)n;
}

static void mo_header(metrics_out_t *o, const char *name, const char *type, const char *help) {
    mo_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family of one unlabelled series: its header and its value. */
static void mo_scalar(metrics_out_t *o, const char *name, const char *type, const char *help,
                      uint64_t value) {
    mo_header(o, name, type, help);
    mo_printf(o, "%s %" PRIu64 "\n", name, value);
}

/* A label value with \, " and newline escaped (text format 0.0.4). */
static void metrics_escape(char *dst, size_t dstlen, const char *src) {
    size_t k = 0;
    for (; *src != '\0' && k + 3 < dstlen; src++) {
        char c = *src;
        if (c == '\\' || c == '"') {
            dst[k++] = '\\';
            dst[k++] = c;
        } else if (c == '\n') {
            dst[k++] = '\\';
            dst[k++] = 'n';
        } else {
            dst[k++] = c;
        }
    }
    dst[k] = '\0';
}

/* Microseconds as decimal seconds, from integers: 2500 -> "0.0025". */
static void metrics_seconds(char out[32], uint64_t us) {
    uint64_t whole = us / 1000000u, frac = us % 1000000u;
    if (frac == 0) {
        snprintf(out, 32, "%" PRIu64, whole);
        return;
    }
    int n = snprintf(out, 32, "%" PRIu64 ".%06" PRIu64, whole, frac);
    while (n > 0 && out[n - 1] == '0') out[--n] = '\0';
}

/* A histogram from per-bucket counts (n bounds, counts[n] is +Inf). */
static void mo_histogram(metrics_out_t *o, const char *name, const char *help,
                         const uint64_t *bounds, const uint64_t *counts, size_t n, uint64_t sum,
                         int micro_to_seconds) {
    mo_header(o, name, "histogram", help);
    uint64_t cumulative = 0;
    char le[32];
    for (size_t i = 0; i < n; i++) {
        cumulative += counts[i];
        if (micro_to_seconds)
            metrics_seconds(le, bounds[i]);
        else
            snprintf(le, sizeof le, "%" PRIu64, bounds[i]);
        mo_printf(o, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name, le, cumulative);
    }
    cumulative += counts[n];
    mo_printf(o, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cumulative);
    if (micro_to_seconds) {
        char s[32];
        metrics_seconds(s, sum);
        mo_printf(o, "%s_sum %s\n", name, s);
    } else {
        mo_printf(o, "%s_sum %" PRIu64 "\n", name, sum);
    }
    mo_printf(o, "%s_count %" PRIu64 "\n", name, cumulative);
}

/* The audit log's integration figures. */
static void metrics_render_log(metrics_out_t *o, const struct integrator *it) {
    integrator_stats_t is;
    integrator_get_stats(it, &is);
    mo_scalar(o, "carbon_audit_log_unintegrated_entries", "gauge",
              "Audit log entries sequenced and not yet integrated into the Merkle tree.",
              is.unintegrated);
    mo_scalar(o, "carbon_audit_log_unintegrated_age_ms", "gauge",
              "Age of the oldest audit log entry not yet integrated (0: none).",
              is.unintegrated_age_ms);
    mo_scalar(o, "carbon_audit_log_integration_lag_max_ms", "gauge",
              "Since start: the longest an entry this gateway integrated waited for it.",
              is.lag_max_ms);
    mo_scalar(o, "carbon_audit_log_tree_size", "gauge", "Entries in the audit log's Merkle tree.",
              is.tree_size);
    mo_header(o, "carbon_audit_log_integrator", "gauge",
              "1 if this gateway holds the region's integrator lease.");
    mo_printf(o, "carbon_audit_log_integrator %d\n", is.lease_held);
    mo_scalar(o, "carbon_audit_log_integration_errors_total", "counter",
              "Integration passes of this gateway that failed (store, lease lost, a hole).",
              is.errors_total);
}

/* carbon_audit_forks_unacknowledged{region}, one series per peer. */
static void mo_forks(metrics_out_t *o, metrics_t *m) {
    CARBON_ASSERT(o != NULL && m != NULL && m->peers_n <= CONFIG_PEERS_MAX);
    mo_header(o, "carbon_audit_forks_unacknowledged", "gauge",
              "Forks of a peer's audit log this region witnessed (a checkpoint inconsistent with "
              "the one it cosigned) that no operator acknowledged yet: an alarm when above 0.");
    for (size_t i = 0; i < m->peers_n; i++)
        mo_printf(o, "carbon_audit_forks_unacknowledged{region=\"%s\"} %" PRIu64 "\n",
                  m->peers[i].region, atomic_load(&m->peers[i].forks_unacknowledged));
}

/* Use reports not yet acknowledged, per peer (settlement/use_reports.h). */
static void mo_use_reports(metrics_out_t *o, const metrics_t *m) {
    mo_header(o, "carbon_use_reports_pending", "gauge",
              "Use reports (retirements and discount cancellations here of a peer's serials) "
              "not yet acknowledged by that peer, their origin (from the last recovery pass).");
    for (size_t i = 0; i < m->peers_n; i++)
        mo_printf(o, "carbon_use_reports_pending{peer=\"%s\"} %" PRIu64 "\n", m->peers[i].region,
                  m->use_reports != NULL ? use_reports_pending(m->use_reports, m->peers[i].region) : 0);
}

/* The time the batches sent as source spent in each step (engine_phase_t). */
static void metrics_batch_phases(metrics_out_t *o, const engine_stats_t *es) {
    CARBON_ASSERT(o != NULL && es != NULL);
    mo_header(o, "carbon_batch_phase_microseconds_total", "counter",
              "Time the batches sent as source spent in each step: wait (the batcher, once a leg "
              "is queued, waiting for more or for the previous Decide), open, prepare, commit, "
              "answer (the callers), hand (to the decider), decide (phase two).");
    for (size_t i = 0; i < ENGINE_PHASES; i++)
        mo_printf(o, "carbon_batch_phase_microseconds_total{phase=\"%s\"} %" PRIu64 "\n",
                  engine_phase_name((engine_phase_t)i), es->phase_us[i]);
}

/* The heuristic decisions' alarm and conflict counter (DESIGN §6). */
static void metrics_heuristic(metrics_out_t *o, const engine_stats_t *es) {
    CARBON_ASSERT(o != NULL && es != NULL);
    mo_scalar(o, "carbon_legs_heuristic_mixed", "gauge",
              "Legs HEURISTIC_MIXED in this region's store (either role): an operator's heuristic "
              "decision that the coordinator contradicted after the credits moved on; alarmed "
              "until an operator compensates (from the last recovery pass).",
              es->legs_heuristic_mixed);
    mo_scalar(o, "carbon_decision_conflicts_total", "counter",
              "Decide answers in which a peer held the other outcome than this region decided.",
              es->decision_conflicts);
}

/* The Registry's group commit (settlement/group_commit.h). */
static void mo_group_commit(metrics_out_t *o, const metrics_t *m) {
    CARBON_ASSERT(o != NULL && m != NULL);
    group_commit_stats_t gs;
    memset(&gs, 0, sizeof gs);
    if (m->group != NULL) group_commit_get_stats(m->group, &gs);
    mo_scalar(o, "carbon_group_commit_batches_total", "counter",
              "Batches of Registry writes (holds, issuances, retirements) run by the group commit.",
              gs.batches);
    mo_scalar(o, "carbon_group_commit_entries_total", "counter",
              "Registry writes the group commit ran and answered.", gs.entries);
    mo_scalar(o, "carbon_group_commit_hold_reruns_total", "counter",
              "Batches of holds run again because the store may have run the call before (its "
              "reply lost, timed out, or its WAIT short).",
              gs.hold_reruns);
    mo_scalar(o, "carbon_group_commit_holds_unknown_total", "counter",
              "Holds answered unavailable whose store call may have run after every rerun: "
              "recovery aborts any of them held at its expiry.",
              gs.holds_unknown);
}

/* The store's counters, over every connection of the process. */
static void mo_store(metrics_out_t *o) {
    CARBON_ASSERT(o != NULL);
    mo_scalar(o, "carbon_store_calls_total", "counter",
              "Store (Redis) commands and scripts asked for, over every connection.",
              store_process_calls());
    mo_scalar(o, "carbon_store_errors_total", "counter",
              "Store calls that ended without an ordinary reply, over every connection.",
              store_process_errors());
    mo_scalar(o, "carbon_store_primary_switches_total", "counter",
              "Failovers of the store announced by Sentinel (+switch-master) and followed.",
              store_primary_switches());
}

int metrics_render(metrics_t *m, char *buf, size_t buflen) {
    CARBON_ASSERT(buf != NULL && buflen > 0);
    metrics_out_t o = {buf, buflen, 0, 0};
    buf[0] = '\0';
    char version[128], region[2 * CONFIG_REGION_SIZE];
    metrics_escape(version, sizeof version, carbon_build_version());
    metrics_escape(region, sizeof region, m->region);

    mo_header(&o, "carbon_build_info", "gauge", "Build of this gatewayd; always 1.");
    mo_printf(&o, "carbon_build_info{version=\"%s\",region=\"%s\"} 1\n", version, region);

    engine_stats_t es;
    memset(&es, 0, sizeof es);
    if (m->engine != NULL) engine_get_stats(m->engine, &es);
    mo_header(&o, "carbon_transfers_total", "counter",
              "Transfers this gateway coordinated to a durable decision, by outcome.");
    mo_printf(&o, "carbon_transfers_total{outcome=\"committed\"} %" PRIu64 "\n", es.legs_committed);
    mo_printf(&o, "carbon_transfers_total{outcome=\"aborted\"} %" PRIu64 "\n", es.legs_aborted);
    mo_histogram(&o, "carbon_settlement_latency_seconds",
                 "Time from the hold to the durable decision of a transfer, at the source.",
                 engine_latency_bounds_us, es.latency_us_buckets, ENGINE_LATENCY_BUCKETS,
                 es.latency_us_sum, 1);
    mo_histogram(&o, "carbon_batch_legs", "Legs per Prepare batch sent to a peer.",
                 engine_batch_bounds_legs, es.batch_legs_buckets, ENGINE_BATCH_BUCKETS,
                 es.batch_legs_sum, 0);
    metrics_batch_phases(&o, &es);
    mo_scalar(&o, "carbon_legs_in_doubt", "gauge",
              "Legs the last recovery scan found unresolved: destination legs prepared past "
              "their expiry plus source legs decided but not acknowledged by then.",
              es.legs_in_doubt);
    metrics_heuristic(&o, &es);
    mo_scalar(&o, "carbon_recovery_settled_total", "counter",
              "Legs the recovery passes settled or re-sent.",
              es.recovered);

    mo_store(&o);
    mo_group_commit(&o, m);

    mo_header(&o, "carbon_peer_rpcs_total", "counter", "Federation RPCs sent to peers.");
    for (size_t i = 0; i < m->peers_n; i++)
        for (int r = 0; r < METRICS_RPCS; r++)
            mo_printf(&o, "carbon_peer_rpcs_total{peer=\"%s\",method=\"%s\"} %" PRIu64 "\n",
                      m->peers[i].region, metrics_rpc_names[r],
                      atomic_load(&m->peers[i].calls[r]));
    mo_header(&o, "carbon_peer_rpc_failures_total", "counter",
              "Federation RPCs to peers that got no answer (unreachable, deadline, error status).");
    for (size_t i = 0; i < m->peers_n; i++)
        for (int r = 0; r < METRICS_RPCS; r++)
            mo_printf(&o, "carbon_peer_rpc_failures_total{peer=\"%s\",method=\"%s\"} %" PRIu64 "\n",
                      m->peers[i].region, metrics_rpc_names[r],
                      atomic_load(&m->peers[i].failures[r]));

    mo_forks(&o, m);
    mo_use_reports(&o, m);

    server_stats_t ss = {0, 0};
    if (m->server != NULL) server_get_stats(m->server, &ss);
    mo_scalar(&o, "carbon_grpc_calls_total", "counter", "gRPC calls served.", ss.calls_total);
    mo_scalar(&o, "carbon_grpc_calls_failed_total", "counter",
              "gRPC calls served with a status other than OK.",
              ss.calls_failed);
    metrics_render_log(&o, m->integrator);
    return o.overflow ? -1 : (int)o.len;
}

/* ---- HTTP -------------------------------------------------------------------------- */

static enum MHD_Result metrics_reply(struct MHD_Connection *conn, unsigned status, char *body,
                                     size_t len, int must_free) {
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        if (must_free) free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            status == MHD_HTTP_OK ? METRICS_CONTENT_TYPE
                                                  : "text/plain; charset=utf-8");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(r, "Allow", "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result metrics_on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                          const char *method, const char *version,
                                          const char *upload_data, size_t *upload_data_size,
                                          void **con_cls) {
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    metrics_t *m = cls;
    static char not_allowed[] = "only GET and HEAD\n";
    static char not_found[] = "not found: the metrics are at /metrics\n";
    static char too_big[] = "the metrics do not fit the response limit\n";
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return metrics_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed,
                             sizeof not_allowed - 1, 0);
    if (strcmp(url, "/metrics") != 0)
        return metrics_reply(conn, MHD_HTTP_NOT_FOUND, not_found, sizeof not_found - 1, 0);
    char *body = malloc(METRICS_BODY_BYTES_MAX);
    if (body == NULL) return MHD_NO;
    int len = metrics_render(m, body, METRICS_BODY_BYTES_MAX);
    if (len < 0) {
        free(body);
        log_error("metrics_too_big", "{s:i}", "limit_bytes", (int)METRICS_BODY_BYTES_MAX);
        return metrics_reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, too_big, sizeof too_big - 1, 0);
    }
    return metrics_reply(conn, MHD_HTTP_OK, body, (size_t)len, 1);
}
