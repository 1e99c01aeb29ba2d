/* metrics.h - the gateway's counters in the Prometheus text format (0.0.4),
 * served over plain HTTP by libmicrohttpd on a loopback address
 * ([metrics] listen = 127.0.0.1:PORT; empty: no endpoint, counting goes on).
 *
 * GET /metrics answers:
 *   carbon_build_info{version,region}          gauge, always 1
 *   carbon_transfers_total{outcome}            committed | aborted, by this gateway's engine
 *   carbon_settlement_latency_seconds          histogram, hold -> durable decision (engine)
 *   carbon_batch_legs                          histogram, legs per Prepare sent
 *   carbon_legs_in_doubt                       gauge, from the engine's last recovery scan
 *   carbon_recovery_settled_total              legs recovery settled or re-sent
 *   carbon_store_calls_total, carbon_store_errors_total   every store connection of the process
 *   carbon_group_commit_batches_total, carbon_group_commit_entries_total
 *                                              the Registry's writes, batched (group_commit.h)
 *   carbon_group_commit_hold_reruns_total      hold batches run again after a lost reply
 *   carbon_group_commit_holds_unknown_total    holds whose outcome stayed unknown after reruns
 *   carbon_peer_rpcs_total{peer,method}, carbon_peer_rpc_failures_total{peer,method}
 *                                              Federation Prepare, Decide, QueryDecision sent
 *   carbon_grpc_calls_total, carbon_grpc_calls_failed_total   calls served (any status but OK)
 *   carbon_audit_log_unintegrated_entries      gauge, entries sequenced not yet in the tree
 *   carbon_audit_log_unintegrated_age_ms       gauge, age of the oldest of them
 *   carbon_audit_log_integration_lag_max_ms    gauge, since start: the longest an entry waited
 *                                              to be integrated by this gateway
 *   carbon_audit_log_tree_size                 gauge, entries in the log's Merkle tree
 *   carbon_audit_log_integrator                gauge, 1 if this gateway holds the lease
 *   carbon_audit_log_integration_errors_total  counter, integration passes that failed
 *   carbon_audit_forks_unacknowledged{region}  gauge, forks of that peer's log witnessed here
 *                                              and not acknowledged (services/witnessing.h)
 * Values are read from atomic integer counters; no label names an account.
 *
 * Lifecycle: metrics_create (binds the socket, so a bad or busy address is an
 * error before anything serves) -> metrics_transport / metrics_attach ->
 * metrics_start (serves from libmicrohttpd's own thread) -> metrics_stop ->
 * metrics_destroy. Not thread-safe itself: call these from one thread. */
#ifndef GATEWAY_METRICS_H
#define GATEWAY_METRICS_H

#include "gateway/config.h"
#include "gateway/server.h"
#include "settlement/engine.h"
#include "settlement/group_commit.h"

#include <stddef.h>

#define METRICS_CONNECTIONS_MAX 16      /* concurrent HTTP connections */
#define METRICS_CONNECTION_TIMEOUT_S 10 /* idle HTTP connection */
#define METRICS_BODY_BYTES_MAX (64u * 1024u)

typedef struct metrics metrics_t;
struct integrator; /* gateway/integrator.h */

/* Creates the counters for cfg's region and peers and, when
 * cfg->metrics_listen is set, binds its address ("IPv4:PORT" or "[::1]:PORT",
 * loopback only; port 0 picks a free one). Returns NULL with the reason in
 * err (e.g. "metrics listen 127.0.0.1:9100: Address already in use"). */
metrics_t *metrics_create(const gateway_config_t *cfg, char *err, size_t errlen);

/* Wraps the engine's transport to count each peer RPC by peer and method.
 * The result's ctx is m: m must outlive the engine. */
engine_transport_t metrics_transport(metrics_t *m, const engine_transport_t *inner);

/* The sources read on each scrape (either may be NULL); borrowed, and must
 * stay valid until metrics_stop(). */
void metrics_attach(metrics_t *m, engine_t *engine, server_t *server);

/* Makes m read the group commit's counters (settlement/group_commit.h; may
 * be NULL); before metrics_start. */
void metrics_attach_group_commit(metrics_t *m, group_commit_t *gc);

/* Makes m read the use reports pending per peer (settlement/use_reports.h);
 * before metrics_start. */
void metrics_attach_use_reports(metrics_t *m, const use_reports_t *u);

/* Makes m read the integrator's figures (gateway/integrator.h); before
 * metrics_start. */
void metrics_attach_integrator(metrics_t *m, struct integrator *it);
/* Sets carbon_audit_forks_unacknowledged{region} (a peer's region; another
 * is ignored) to n. m may be NULL. Thread-safe. */
void metrics_set_forks_unacknowledged(metrics_t *m, const char *region, uint64_t n);

/* Starts serving (no-op without a listen address). 0, or -1 with the reason. */
int metrics_start(metrics_t *m, char *err, size_t errlen);

/* Stops serving and waits for the HTTP thread; idempotent. */
void metrics_stop(metrics_t *m);

/* Stops if needed and frees m. NULL is a no-op. */
void metrics_destroy(metrics_t *m);

/* Writes the exposition into buf (at most buflen bytes including the NUL).
 * Returns its length, or -1 if it did not fit. Thread-safe. */
int metrics_render(metrics_t *m, char *buf, size_t buflen);

#endif
