/* ha_harness.h - a region's replicated store on loopback: a Redis primary,
 * a replica, and three Redis Sentinels watching them, for the failover tests
 * (issue 17).
 *
 * ha_store_start() starts the primary and the replica (redis_harness.h, AOF
 * always, each in its own temp dir), waits until the replica is in sync, then
 * starts three `redis-server FILE --sentinel` (quorum 2) on free ports and
 * waits until each of them knows the primary and the replica. Sentinel's
 * timeouts are short for tests (down-after-milliseconds and failover-timeout
 * are options). Every child gets PR_SET_PDEATHSIG (proc.h).
 *
 * Errors: functions return NULL or -1 and ha_last_error() says why. Not
 * thread-safe. */
#ifndef TESTS_SUPPORT_HA_HARNESS_H
#define TESTS_SUPPORT_HA_HARNESS_H

#include <limits.h>
#include <sys/types.h>

#include "tests/support/redis_harness.h"

#define HA_SENTINELS 3
#define HA_REDIS 2
#define HA_SENTINEL_START_MS 15000  /* until a Sentinel knows both servers */
#define HA_MASTER_NAME_MAX 64

typedef struct {
    int down_after_ms;          /* [500] Sentinel's down-after-milliseconds */
    int failover_timeout_ms;    /* [2000] Sentinel's failover-timeout */
    const char *const *redis_args; /* NULL-terminated extra arguments of both
                                      Redis servers (e.g. min-replicas-to-write);
                                      NULL: none */
} ha_options_t;

typedef struct {
    char master_name[HA_MASTER_NAME_MAX];
    redis_harness_t *redis[HA_REDIS];  /* [0] started as primary, [1] as replica */
    int sentinel_port[HA_SENTINELS];
    pid_t sentinel_pid[HA_SENTINELS];  /* 0 when stopped */
    char dir[PATH_MAX];                /* the Sentinels' temp dir */
    char sentinels_text[256];          /* "127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3" */
} ha_store_t;

/* Starts a replicated store named master_name (opts may be NULL: defaults).
 * Returns it (ha_store_stop), or NULL with everything it started stopped. */
ha_store_t *ha_store_start(const char *master_name, const ha_options_t *opts);

/* Stops the Sentinels and both Redis servers (SIGCONT first for a stopped
 * one), removes the temp dirs and frees ha. NULL: no-op. */
void ha_store_stop(ha_store_t *ha);

/* The port of the primary that Sentinel sentinel (0..2) names now, or -1. */
int ha_sentinel_primary_port(const ha_store_t *ha, int sentinel);

/* Waits until every Sentinel names a primary other than old_port and that
 * server answers ROLE master. Returns the index (0, 1) in ha->redis of the
 * new primary, or -1 at timeout_ms. */
int ha_wait_failover(const ha_store_t *ha, int old_port, int timeout_ms);

/* Index in ha->redis of the server on port, or -1. */
int ha_redis_index(const ha_store_t *ha, int port);

/* Waits until the server ha->redis[i] says ROLE slave with its link up
 * (master_link_status up). 0, or -1 at timeout_ms. */
int ha_wait_replica(const ha_store_t *ha, int i, int timeout_ms);

/* Sends cmd (a printf-free command line, e.g. "SENTINEL REMOVE tj") to every
 * Sentinel. 0 if each answered without an error, else -1. */
int ha_sentinels_command(const ha_store_t *ha, const char *const argv[], int argc);

/* Why the last call failed ("" if none did). */
const char *ha_last_error(void);

#endif
