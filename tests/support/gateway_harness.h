/* gateway_harness.h - a real federation of gatewayd processes on loopback.
 *
 * federation_start() runs, for each of regions_n regions (CN-TJ, CN-BJ, CN-HE
 * in that order): a redis-server (redis_harness.h, appendfsync always), and
 * BINARY_DIR/gatewayd --config FILE with a configuration written into the
 * federation's temp dir, then waits until every gateway answers
 * grpc.health.v1.Health/Check SERVING over mutual TLS. Ports are chosen before
 * any gateway starts, so each [peers] section names the others.
 *
 * Instances: index 0..regions_n-1 are the regions' first gateways (index ==
 * region index). federation_start_second() adds more instances (index >=
 * regions_n) of one region on the same store. Every function taking "i"
 * takes an instance index unless it says region.
 *
 * Lifetime: federation_stop() (or federation_free()) stops everything,
 * whatever state the processes are in (frozen, killed, running), and removes
 * the temp dir unless the
 * environment has KEEP_TEST_DIRS set (the path is then printed on stderr).
 * Children get PR_SET_PDEATHSIG (proc.h): if the test process dies, they die;
 * so start and stop a federation from the test's own thread.
 *
 * gRPC: federation_start() takes its own grpc_init() reference and
 * federation_stop() releases it (after destroying the cached channels), so
 * the order of the test's grpc_init/grpc_shutdown and federation_stop does not
 * matter. Nothing here runs at load time (Criterion forks each test).
 *
 * Errors: functions return NULL or -1 and federation_last_error() says why,
 * with the tail of the gateway log when a gateway failed. Not thread-safe. */
#ifndef TESTS_SUPPORT_GATEWAY_HARNESS_H
#define TESTS_SUPPORT_GATEWAY_HARNESS_H

#include <grpc/grpc.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tests/support/redis_harness.h"

#define FEDERATION_REGIONS_MAX 3
#define FEDERATION_INSTANCES_MAX 8        /* first gateways + second instances */
#define FEDERATION_HEALTH_TIMEOUT_MS 15000 /* start or restart until SERVING */
#define FEDERATION_STOP_TIMEOUT_MS 15000   /* SIGTERM before SIGKILL (gatewayd's grace is 10 s) */
#define FEDERATION_ZERO (-1)               /* an option value meaning "0", since 0 means default */

typedef struct federation federation_t;

/* Zero fields take the defaults in brackets; FEDERATION_ZERO asks for 0
 * where the configuration allows it (batch_window_ms). */
typedef struct {
    int regions_n;                 /* 1..3 [1] */
    int leg_expiry_ms;             /* [5000] */
    int batch_window_ms;           /* [2] */
    int recovery_interval_ms;      /* [500] */
    int peer_timeout_ms;           /* [2000] */
    int workers;                   /* [2] */
    int max_message_bytes;         /* [1 MiB] */
    int region_max_message_bytes[FEDERATION_REGIONS_MAX]; /* one region's, instead [max_message_bytes] */
    const char *extra_ini;         /* appended to every gatewayd config; may
                                      open sections, e.g. "[limits]\nbatch_legs_max = 8\n" */
    /* A replicated store per region, run by the caller (ha_harness.h): for a
       region r with store_sentinels[r] set, the federation starts no Redis;
       its gateways get [store] sentinels = store_sentinels[r], master_name =
       store_master_name[r] and min_replicas = store_min_replicas, and
       federation_redis() answers store_redis[r] (its primary at start; see
       federation_set_redis). The strings and servers must outlive f;
       federation_stop() leaves them running. NULL: a single Redis. */
    const char *store_sentinels[FEDERATION_REGIONS_MAX];
    const char *store_master_name[FEDERATION_REGIONS_MAX];
    redis_harness_t *store_redis[FEDERATION_REGIONS_MAX];
    int store_min_replicas;        /* 0..16 [0] */
} federation_options_t;

/* Starts a federation (opts may be NULL: one region, defaults). Returns NULL
 * on failure, with everything it started stopped again. */
federation_t *federation_start(const federation_options_t *opts);

/* Stops every gateway (SIGCONT first for a stopped one, SIGTERM, then
 * SIGKILL after FEDERATION_STOP_TIMEOUT_MS) and records their exit statuses,
 * destroys the cached channels, stops the Redis servers and removes the temp
 * dir. f stays allocated so that exit statuses can be read; calling it again
 * does nothing. Returns 0 if every gateway stopped (whatever its status) and
 * every Redis stopped cleanly, else -1. NULL: no-op. */
int federation_stop(federation_t *f);

/* federation_stop() if not done yet, then frees f. NULL: no-op. Safe in a
 * Criterion .fini whatever the test did. */
void federation_free(federation_t *f);

/* The exit status of instance i after it stopped: its exit code, 128+signal
 * if a signal killed it, -1 while it runs or if it was never reaped. */
int federation_exit_status(const federation_t *f, int i);

/* SIGKILL instance i (a crash) and reap it. 0 or -1. */
int federation_kill9(federation_t *f, int i);

/* Stops instance i if it runs (SIGTERM, then SIGKILL), starts it again with
 * the same configuration and port, and waits until it is SERVING. 0 or -1. */
int federation_restart(federation_t *f, int i);

/* SIGSTOP / SIGCONT instance i (a frozen process), and wait until the kernel
 * reports it stopped / continued (waitpid WUNTRACED / WCONTINUED), so that a
 * frozen gateway answers nothing once this returns. 0 or -1. */
int federation_sigstop(federation_t *f, int i);
int federation_sigcont(federation_t *f, int i);

/* Starts another gatewayd of region `region` (a region index) on the same
 * store, on a new port, with the same peers, and waits until it is SERVING.
 * Returns its instance index (>= regions_n), or -1. */
int federation_start_second(federation_t *f, int region);

/* Number of regions / instances started so far. */
int federation_regions(const federation_t *f);
int federation_instances(const federation_t *f);

/* Accessors for instance i. */
redis_harness_t *federation_redis(const federation_t *f, int i); /* its region's Redis */
int federation_port(const federation_t *f, int i);
pid_t federation_pid(const federation_t *f, int i);               /* 0 when not running */
const char *federation_region(const federation_t *f, int i);      /* "CN-TJ" ... */
const char *federation_log_path(const federation_t *f, int i);    /* gatewayd stderr+stdout */
const char *federation_config_path(const federation_t *f, int i);
const char *federation_dir(const federation_t *f);                /* the temp dir */

/* For a region whose store the caller runs (store_sentinels): the server
 * federation_redis() answers from now on, e.g. the new primary after a
 * failover. Ignored (-1) for a Redis the federation started. 0 or -1. */
int federation_set_redis(federation_t *f, int region, redis_harness_t *primary);

/* Edits instance i's configuration file in place (the instance reads it at
 * its next restart): in every line that starts with line_prefix, the first
 * `from` becomes `to`. Returns the number of lines changed, -1 on an I/O
 * error or a file over 64 KiB (federation_last_error says which). */
int federation_config_edit(const federation_t *f, int i, const char *line_prefix, const char *from,
                           const char *to);

/* A mutual-TLS channel to instance i presenting BINARY_DIR/pki/<cert_base>.crt
 * and .key (e.g. "CN-TJ-registry"), trusting pki/ca.crt. Cached per (i,
 * cert_base) and destroyed by federation_stop(); never destroy it yourself.
 * NULL (with the error) if the files cannot be read. */
grpc_channel *federation_channel(federation_t *f, int i, const char *cert_base);

/* A one-off channel to 127.0.0.1:port: mutual TLS with pki/<cert_base>.crt/.key,
 * or TLS without a client certificate when cert_base is NULL. The caller
 * destroys it (grpc_channel_destroy). Needs grpc_init(). NULL on error.
 * Both kinds of channel send messages of any size (the server enforces its
 * limit), receive up to 64 MiB, and reconnect after 100 ms..1 s of backoff. */
grpc_channel *harness_channel_to(int port, const char *cert_base_or_NULL);

/* A plaintext channel to 127.0.0.1:port (grpc_insecure_credentials). The
 * caller destroys it. */
grpc_channel *harness_insecure_channel_to(int port);

/* BINARY_DIR "/pki" (made by the dev_pki target). */
const char *harness_pki_dir(void);

/* Waits until ch is READY (connecting it if idle), at most timeout_ms.
 * Returns 0 or -1. Use it after a gateway restarts: gRPC calls are not
 * wait-for-ready, so a channel in reconnect backoff fails calls at once with
 * UNAVAILABLE, and without a pending call or watch its reconnection is only
 * driven by gRPC's 5 s backup poller. (For a channel whose handshake the
 * server refuses, this simply times out.) */
int harness_channel_wait_ready(grpc_channel *ch, int timeout_ms);

/* Health/Check of service "" on ch: returns the gRPC status; on OK, *serving
 * (may be NULL) is the ServingStatus enum value (1 SERVING). */
grpc_status_code harness_health(grpc_channel *ch, int64_t timeout_ms, int *serving);

/* A description of the region's store state that changes when any key is
 * added, removed or changed, except the coordination lease keys
 * (STORE_KEY_LEASE_PREFIX) and the audit checkpoints and witness records
 * (STORE_KEY_CHECKPOINT_PREFIX, settlement/witness.h), which gateways write on their
 * own timers: "KEYS n\n" then one line per key, sorted, "key type size
 * fnv64" of its content read in a canonical order. malloc'd (caller frees),
 * or NULL with the error. */
char *federation_store_snapshot(const federation_t *f, int i);

/* federation_store_snapshot leaving out also the keys that start with one
 * of prefixes (NULL-terminated, at most 16; NULL: none), for a test whose
 * store has other writers on their own timers (a refused use report
 * retried, say) that the step under test does not touch. */
char *federation_store_snapshot_except(const federation_t *f, int i, const char *const *prefixes);

/* Number of lines of instance i's log holding needle (-1 if unreadable). */
int federation_log_count(const federation_t *f, int i, const char *needle);

/* The last `bytes` bytes of a file, malloc'd ("" if unreadable). */
char *harness_file_tail(const char *path, size_t bytes);

/* Runs argv (argv[0] a path) to completion with stdin /dev/null and stdout
 * and stderr captured separately; kills it after timeout_ms. Returns 0 with
 * *status_out as federation_exit_status() counts it, and *out / *err
 * malloc'd NUL-terminated (either may be NULL if unwanted), or -1. */
int harness_run(const char *const argv[], int timeout_ms, int *status_out, char **out,
                char **err);

/* Why the last call failed ("" if none did). */
const char *federation_last_error(void);

#endif
