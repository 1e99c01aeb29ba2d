/* integrator.h - the thread that integrates the region's audit log into its
 * Merkle tree (settlement/log_tree.h; DESIGN §8): one gateway of a region at
 * a time, the holder of the integrator lease, hashes the entries the scripts
 * sequenced and advances the tree by compare-and-set; the others stand by and
 * take over when the lease expires. Every gateway measures the lag (entries
 * not yet integrated and the age of the oldest) for its metrics.
 *
 * Limits: a pass every INTEGRATOR_INTERVAL_MS, at most
 * LOG_INTEGRATE_BATCH_MAX entries a call, passes repeated while a full batch
 * was integrated; the lease lasts INTEGRATOR_LEASE_MS and is renewed each
 * pass. */
#ifndef GATEWAY_INTEGRATOR_H
#define GATEWAY_INTEGRATOR_H

#include "settlement/store.h"

#include <stddef.h>
#include <stdint.h>

#define INTEGRATOR_INTERVAL_MS 100
#define INTEGRATOR_LEASE_MS 3000

typedef struct integrator integrator_t;

typedef struct {
    uint64_t unintegrated;       /* entries sequenced, not yet in the tree (last pass) */
    uint64_t unintegrated_age_ms; /* age of the oldest of them (0: none) */
    uint64_t lag_max_ms;         /* since start: the longest an entry this gateway integrated
                                    waited, from its time_ms to the end of its pass */
    uint64_t tree_size;          /* the tree's size at the last pass */
    uint64_t integrated_total;   /* entries this gateway integrated */
    uint64_t errors_total;       /* passes that failed (store, lease lost, a hole) */
    int lease_held;              /* 1 if this gateway integrated at the last pass */
} integrator_stats_t;

/* Starts the thread, with its own store connection from cfg (copied), as
 * lease owner owner (unique among the region's gateways; copied). NULL with
 * err if the thread cannot start. */
integrator_t *integrator_start(const store_config_t *cfg, const char *owner, char *err,
                               size_t errlen);

/* Stops and joins the thread; frees it (NULL is a no-op). */
void integrator_stop(integrator_t *it);

/* Copies the latest figures (thread-safe; zeros for NULL). */
void integrator_get_stats(const integrator_t *it, integrator_stats_t *out);

#endif
