/* redis_harness.h - a real redis-server for one test.
 *
 * redis_start() runs `redis-server` (or $REDIS_SERVER) in the foreground on
 * 127.0.0.1 and a free port, with durability as shipped (AOF on, appendfsync
 * always, no RDB snapshots), protected mode on, its log in <dir>/redis.log,
 * and waits until it answers PING. The child gets PR_SET_PDEATHSIG (see
 * proc.h): if the test dies, its Redis dies too. Call redis_stop() in the
 * test's .fini or at its end.
 *
 * Errors: functions return NULL or -1, and redis_last_error() says why (with
 * the tail of the Redis log when Redis itself failed). Not thread-safe; use
 * a harness from the thread that started it (PDEATHSIG follows that thread).
 */
#ifndef TESTS_SUPPORT_REDIS_HARNESS_H
#define TESTS_SUPPORT_REDIS_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <hiredis/hiredis.h>

#define REDIS_EXTRA_ARGS_MAX 32
#define REDIS_START_TIMEOUT_MS 15000 /* until PING answers */
#define REDIS_STOP_TIMEOUT_MS 10000  /* SIGTERM before SIGKILL */
#define REDIS_PORT_TRIES_MAX 5       /* fresh ports tried when one is taken */
#define REDIS_PASSWORD_MAX 128

typedef struct {
    const char *dir;                /* data dir; NULL: a fresh temp dir,
                                       removed by redis_stop */
    const char *password;           /* --requirepass; NULL or "": none */
    const char *const *extra_args;  /* NULL-terminated extra redis-server
                                       arguments, e.g. {"--user", "...", NULL};
                                       NULL: none */
} redis_options_t;

typedef struct {
    char host[64];                  /* "127.0.0.1" */
    int port;
    char dir[PATH_MAX];
    char log_path[PATH_MAX];
    char password[REDIS_PASSWORD_MAX];
    pid_t pid;                      /* 0 while not running */
    bool own_dir;
    int extra_n;
    char *extra[REDIS_EXTRA_ARGS_MAX];
} redis_harness_t;

/* Starts Redis with defaults (no password) in dir_or_NULL (NULL: temp dir).
 * Returns a harness owned by the caller (redis_stop), or NULL. */
redis_harness_t *redis_start(const char *dir_or_NULL);

/* Same with options (opts may be NULL). */
redis_harness_t *redis_start_opts(const redis_options_t *opts);

/* Stops Redis if it runs (SIGTERM: a clean shutdown, then SIGKILL after
 * REDIS_STOP_TIMEOUT_MS) and starts it again on the same port, dir and
 * arguments; data comes back from the AOF. Also restarts after redis_kill9.
 * Returns 0, or -1. */
int redis_restart(redis_harness_t *h);

/* SIGKILL, as a crash: no shutdown, only what the AOF fsynced survives.
 * Returns 0, or -1. */
int redis_kill9(redis_harness_t *h);

/* Stops Redis, removes the dir if the harness made it, frees h. NULL is a
 * no-op. Returns 0, or -1 if Redis did not stop cleanly (h is freed anyway). */
int redis_stop(redis_harness_t *h);

/* FLUSHALL. Returns 0, or -1. */
int redis_flushall(redis_harness_t *h);

/* Deletes the audit log's integrated tree through c: its head and every
 * tile (settlement/log_tree.h), as an operator rewriting history would, so
 * that the integrator hashes the whole log again. Returns 0, or -1. */
int redis_delete_log_tree(redisContext *c);

/* The canonical carbon-audit/3 bytes of audit-log entry seq as stored in
 * the Redis of c (settlement/audit_stored.h: scripts store entries packed in
 * log:packed), malloc'd with a NUL after them, their length in *len; NULL if
 * there is no such entry. A test that rewrites history edits these bytes
 * and stores them in log:entries (HSET), which readers take first. */
char *redis_log_entry(redisContext *c, uint64_t seq, size_t *len);

/* A new hiredis connection to h (authenticated if h has a password), for
 * checks from the test; the caller frees it (redisFree). NULL on error. */
redisContext *redis_connect(const redis_harness_t *h);

/* The region's store (settlement/store.h) on h's Redis: store_open with
 * the defaults (the embedded scripts, no region claim) and h's address and
 * password. NULL with err saying why. The caller store_close()s it. */
struct store;
struct store *redis_store_open(const redis_harness_t *h, char *err, size_t errlen);

/* As redis_store_open, with the tests' own scripts loaded beside the
 * settlement scripts (tests/support/test_scripts.h): find one with
 * store_script_find. */
struct store *redis_store_open_test_scripts(const redis_harness_t *h, char *err, size_t errlen);

/* A Redis of a test's own, a connection to it and the region's store on
 * it: what a test of the store's scripts starts in its init. */
typedef struct {
    redis_harness_t *redis;
    redisContext *conn;
    struct store *store;
} redis_fixture_t;

/* Starts f: redis_start(NULL), redis_connect, and redis_store_open (or
 * redis_store_open_test_scripts if with_test_scripts). 0, or -1 with
 * redis_last_error() saying why, and what it started stopped again. */
int redis_fixture_start(redis_fixture_t *f, int with_test_scripts);

/* Stops what redis_fixture_start started (each part only if there). */
void redis_fixture_stop(redis_fixture_t *f);

/* How many times the Redis of c ran cmd (lower case, as INFO commandstats
 * names it) since it started or CONFIG RESETSTAT; 0 if never. -1 if c
 * gave no INFO. */
long long redis_command_calls(redisContext *c, const char *cmd);

/* Why the last harness call failed ("" if none did). */
const char *redis_last_error(void);

#endif
