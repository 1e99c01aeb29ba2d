/* store.h - the connection to the region's store (Redis, via hiredis 0.14).
 *
 * Every state transition of the settlement core is one Lua script of
 * settlement/scripts, embedded at build time (script_sources.h) and run by
 * Redis atomically with EVALSHA. This module owns the connection: connect
 * with a timeout, AUTH, SCRIPT LOAD of every embedded script, EVALSHA with
 * reload on NOSCRIPT, reconnect with bounded exponential backoff, and
 * pipelined batches.
 *
 * Threads: a store_t is NOT thread-safe. Use one store_t per thread (or hand
 * it from thread to thread, never used by two at once). store_script_index()
 * and store_config_defaults() are thread-safe.
 *
 * Retry rule. A call is retried inside this module only when Redis certainly
 * did not run it:
 *   - the connection was found dead before anything was written (the server
 *     closed it, or the previous call broke it): reconnect, then send;
 *   - a write failed before a single byte of the batch left;
 *   - Redis answered NOSCRIPT (script cache flushed: reload, retry once), or
 *     LOADING / BUSY / MASTERDOWN (not run: back off, retry), or READONLY
 *     (we reached a replica: reconnect, retry).
 * Once the command may have reached Redis (write completed, then a read
 * error, EOF or timeout), or WAIT found fewer than cfg.min_replicas replicas
 * holding it, the call fails with STORE_EUNAVAILABLE (its err says "may have
 * run": the outcome is uncertain) and the
 * connection is dropped, so that a late reply can never be taken for the
 * reply of a later command. The caller's scripts are idempotent: it decides.
 *
 * The primary: with cfg.sentinels the store follows a failover. A
 * connection lost, a READONLY answer (a demoted primary) or a connection the
 * server closed (Sentinel kills the clients of a primary it demotes) makes
 * the next attempt ask the Sentinels again. Every connection, first or
 * later, claims the store for cfg.region, so a failover to another region's
 * Redis is refused.
 *
 * Reconnect: hiredis 0.14 cannot reuse a context after an error, and its
 * redisReconnect() may close a stale descriptor twice; this module frees the
 * context and connects a fresh one (same effect: timeouts and AUTH are
 * re-applied, and every script is loaded again).
 *
 * SIGPIPE: writes to a socket the server reset are made with SIGPIPE blocked
 * in the calling thread, and a SIGPIPE they raise is consumed, so the process
 * is never killed by it whatever its SIGPIPE disposition.
 */
#ifndef SETTLEMENT_STORE_H
#define SETTLEMENT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "common/region.h"
#include "settlement/store_keys.h"
#include "settlement/script_sources.h"

/* ---- limits --------------------------------------------------------------- */
#define STORE_HOST_MAX 64                  /* bytes incl. NUL (config.host) */
#define STORE_USER_MAX 64                  /* bytes incl. NUL (config.user) */
#define STORE_PASSWORD_MAX 128             /* bytes incl. NUL */
#define STORE_ARGS_MAX 65536               /* keys + args of one call */
#define STORE_ARG_BYTES_MAX (16u << 20)    /* one argument */
#define STORE_CALL_BYTES_MAX (64u << 20)   /* all arguments of one call */
#define STORE_PIPELINE_MAX 4096            /* calls in one store_pipeline_eval */
#define STORE_PIPELINE_BYTES_MAX (256u << 20) /* all arguments of one batch */
#define STORE_SCRIPTS_MAX 256              /* embedded scripts */
#define STORE_TIMEOUT_MS_MAX 600000        /* any configured timeout */
#define STORE_RECONNECT_ATTEMPTS_LIMIT 100 /* config.reconnect_attempts_max */
#define STORE_SHA1_HEX_LEN 40
#define STORE_REGION_SIZE CARBON_REGION_SIZE /* bytes incl. NUL (common/region.h) */
#define STORE_SENTINELS_MAX 8              /* config.sentinels */
#define STORE_MASTER_NAME_MAX 64           /* bytes incl. NUL (config.master_name) */
#define STORE_REPLICAS_MAX 16              /* config.min_replicas */

/* The key that names the region a store belongs to, set at the store's first
 * use by a gateway (store_config_t.region, store_region_claim). Listed with
 * the other key names in settlement/store_keys.h. */
#define STORE_REGION_KEY STORE_KEY_META_REGION

/* ---- result codes --------------------------------------------------------- */
typedef enum {
    STORE_OK = 0,
    STORE_EUNAVAILABLE = -1, /* Redis unreachable, timed out, loading or busy
                                past the retry budget; a call may or may not
                                have run (see the retry rule above) */
    STORE_ESCRIPT = -2,      /* Redis answered with an error reply (a script's
                                redis.error_reply, a runtime error, a wrong
                                type...): the message is in err */
    STORE_EPROTO = -3,       /* protocol error, out of memory, or a script SHA1
                                that does not match the local one */
    STORE_EINVAL = -4,       /* bad argument or over a limit: nothing sent */
} store_rc_t;

typedef struct {
    char host[STORE_HOST_MAX];         /* IPv4/IPv6 literal or host name (name
                                          resolution is not bounded by
                                          connect_timeout_ms: prefer literals) */
    int port;                          /* 1..65535 */
    char user[STORE_USER_MAX];         /* ACL user; "" = AUTH password only */
    char password[STORE_PASSWORD_MAX]; /* "" = no AUTH */
    int connect_timeout_ms;            /* per connect attempt, 1..TIMEOUT_MS_MAX */
    int command_timeout_ms;            /* per reply read / write, 1..TIMEOUT_MS_MAX */
    int reconnect_attempts_max;        /* per call, 1..RECONNECT_ATTEMPTS_LIMIT */
    int reconnect_backoff_ms_initial;  /* sleep before the 2nd attempt, 0..max */
    int reconnect_backoff_ms_max;      /* doubling is capped here, ..TIMEOUT_MS_MAX */
    char region[STORE_REGION_SIZE];     /* "" = no check (tools). Else every
                                          connection, first and reconnections,
                                          claims the store for this region
                                          (store_region_claim) and a store that
                                          names another region is refused like
                                          a failed AUTH: not retried,
                                          STORE_EUNAVAILABLE, both regions in err */
    /* Sentinel (sentinels_n > 0): host/port above are ignored; every
       connection asks the Sentinels in turn (SENTINEL get-master-addr-by-name
       master_name), connects to the primary named, and confirms with ROLE
       that it is a master before AUTH'd use; a replica or an unreachable
       address counts as one failed attempt (backoff, next Sentinel first).
       Sentinels are asked without AUTH (keep them on a private link). */
    char sentinel_host[STORE_SENTINELS_MAX][STORE_HOST_MAX];
    int sentinel_port[STORE_SENTINELS_MAX];
    size_t sentinels_n;                /* 0..STORE_SENTINELS_MAX; 0: host:port */
    char master_name[STORE_MASTER_NAME_MAX]; /* required when sentinels_n > 0 */
    /* WAIT: after a call that runs a commit-point script (store_script_waits)
       the store sends WAIT min_replicas wait_timeout_ms on the same connection
       and fails the call with STORE_EUNAVAILABLE (outcome uncertain) when
       fewer replicas confirm. 0 = never WAIT (one machine). */
    int min_replicas;                  /* 0..STORE_REPLICAS_MAX */
    int wait_timeout_ms;               /* 1..command_timeout_ms-1 when min_replicas > 0 */
    const script_source_t *extra_scripts; /* NULL: none (the daemon). Scripts
                                          beyond the embedded ones, for tests
                                          and tools: loaded with them by every
                                          connection, indexed after them
                                          (store_script_find); borrowed, must
                                          outlive every store opened with it */
    size_t extra_scripts_n;            /* embedded + extra <= STORE_SCRIPTS_MAX */
} store_config_t;

/* One call of a pipelined batch: EVALSHA <sha of script_index> nkeys argv...
 * argv holds the nkeys keys first, then the arguments (argc in all).
 * argvlen may be NULL: every argv[i] is then a NUL-terminated string. */
typedef struct {
    int script_index;
    int nkeys;
    int argc;
    const char **argv;
    const size_t *argvlen;
} store_call_t;

typedef struct store store_t;

/* Fills *cfg with defaults: 127.0.0.1:6379, no AUTH, connect timeout 1000 ms,
 * command timeout 5000 ms, 5 reconnect attempts, backoff 50 ms doubling to
 * 1000 ms. */
void store_config_defaults(store_config_t *cfg);

/* Connects (one attempt, within cfg->connect_timeout_ms), sets the command
 * timeout, sends AUTH if cfg->password is set (AUTH user password when
 * cfg->user is set too), and SCRIPT LOADs every embedded script and every
 * cfg->extra_scripts, checking that the SHA1 Redis returns equals the one
 * computed locally.
 * Returns a new store owned by the caller (store_close), or NULL with a
 * message in err (always NUL-terminated when errlen > 0; err may be NULL).
 * The store copies *cfg. */
store_t *store_open(const store_config_t *cfg, char *err, size_t errlen);

/* Closes the connection and frees the store. NULL is a no-op. Replies already
 * handed to the caller stay valid (they are the caller's). */
void store_close(store_t *s);

/* True if the script named name is a commit point or its result is reported
 * in an answer (hold, decision, vote, apply, ack, issue, retire, account
 * open, batch record, doubt, compensation): store_eval and
 * store_pipeline_eval then WAIT for cfg.min_replicas replicas before they
 * return (one WAIT per call, one per batch). Thread-safe. */
bool store_script_waits(const char *name);

/* Parses "HOST:PORT,HOST:PORT,..." (1..STORE_SENTINELS_MAX entries, HOST an
 * IPv4 literal or name without ':', or [IPv6]) into cfg's sentinel fields.
 * Returns 0, or -1 with the reason in err (cfg's sentinels then unchanged). */
int store_config_sentinels(store_config_t *cfg, const char *list, char *err, size_t errlen);

/* The address of the server s is connected to now, "HOST:PORT" ("" while
 * disconnected): the primary the Sentinels named, or cfg.host:port. */
const char *store_address(const store_t *s);

/* Index of the embedded script named name (file name without .lua) in
 * script_sources, or -1 if there is none. Thread-safe. */
int store_script_index(const char *name);

/* Index of the script named name among s's scripts: the embedded ones (the
 * same index as store_script_index), then cfg.extra_scripts; -1 if none. */
int store_script_find(const store_t *s, const char *name);

/* Runs EVALSHA sha(script_index) nkeys argv[0..argc) (keys first).
 * argvlen may be NULL (NUL-terminated strings).
 * On STORE_OK, *reply_out is a reply that is not an error reply, owned by the
 * caller (freeReplyObject). On any other result *reply_out is NULL and err
 * holds a message; on STORE_ESCRIPT it is Redis's error message, and the
 * error reply has been freed. Nothing is sent on STORE_EINVAL. */
int store_eval(store_t *s, int script_index, int nkeys, int argc,
               const char **argv, const size_t *argvlen,
               redisReply **reply_out, char *err, size_t errlen);

/* Runs n EVALSHA calls in one pipeline (one write, then n replies read in
 * order), 1 <= n <= STORE_PIPELINE_MAX.
 * Returns STORE_OK when all n replies are ordinary replies, STORE_ESCRIPT
 * when at least one is an error reply (err holds the first one's message,
 * prefixed with its call index). In both cases replies_out[0..n) are all set,
 * each owned by the caller (freeReplyObject), error replies included.
 * On any other result every replies_out[i] is NULL; on STORE_EUNAVAILABLE
 * some of the calls may have run.
 * Calls retried after NOSCRIPT/LOADING/BUSY run after the others of the batch:
 * do not batch calls that depend on each other's order. */
int store_pipeline_eval(store_t *s, size_t n, const store_call_t *calls,
                        redisReply **replies_out, char *err, size_t errlen);

/* Runs one plain command argv[0..argc) (e.g. "SCRIPT", "FLUSH"), with the
 * same connection and retry rules (no NOSCRIPT reload). For tests and tools.
 * Ownership and results as store_eval. */
int store_command(store_t *s, int argc, const char **argv,
                  const size_t *argvlen, redisReply **reply_out,
                  char *err, size_t errlen);

/* SHA1 (40 lowercase hex digits, NUL-terminated) of s's script script_index
 * (embedded, then extra), valid while s is open; NULL if the index is out of
 * range. */
const char *store_script_sha(const store_t *s, int script_index);

/* Counters, monotonic since store_open, for metrics. calls counts commands
 * asked for (a batch of n counts n); errors counts those that ended without
 * an ordinary reply (error reply, unavailable, invalid); reconnects counts
 * successful reconnections after the first connection. */
uint64_t store_calls(const store_t *s);
uint64_t store_errors(const store_t *s);
uint64_t store_reconnects(const store_t *s);
/* Whether s's last call failed after sending something (its reply lost,
 * timed out or unreadable, or its WAIT short): Redis may have run it.
 * False after a call that succeeded, was refused, or sent nothing. */
bool store_last_call_may_have_run(const store_t *s);
/* The same calls and errors summed over every store_t of the process, open
 * or closed (one atomic counter each, updated next to the per-store ones).
 * Thread-safe. */
uint64_t store_process_calls(void);
uint64_t store_process_errors(void);

/* A failover was announced (sentinel_watch.h): every store_t of the process
 * that uses Sentinels drops its connection before its next command and
 * reconnects through the Sentinels (ROLE confirms the new primary), instead of
 * first sending that command to the old primary. A command already sent is
 * not affected. store_primary_switches() counts the announcements.
 * Thread-safe. */
void store_primary_switched(void);
uint64_t store_primary_switches(void);

/* Claims the store for region at its first use: SET STORE_REGION_KEY region
 * NX GET, one atomic command (Redis >= 7.0). Returns 0 if the store now names
 * region (set just now or already), 1 if it names another region, copied into
 * owner (ownerlen bytes, NUL-terminated; a value that is not a region code is
 * shown as "(not a region code)"), or a negative store_rc_t with err. region
 * must be 1..STORE_REGION_SIZE-1 bytes. */
int store_region_claim(store_t *s, const char *region, char *owner, size_t ownerlen, char *err,
                       size_t errlen);

/* Takes the lease key for owner for ttl_ms (SET NX PX), or renews it if
 * owner holds it already (GET, PEXPIRE). Sets *held to 1 if owner holds it
 * now. The renewal is not atomic: a lease that expired between the two
 * commands may be extended for its new holder, so whatever a lease guards
 * must also be guarded by a compare-and-set in its script. Returns STORE_OK
 * or the store's error with err. */
int store_lease_take(store_t *s, const char *key, const char *owner, uint64_t ttl_ms, int *held,
                     char *err, size_t errlen);

/* A static English name for a store_rc_t value ("STORE_ESCRIPT"...). */
const char *store_rc_name(int rc);

#endif
