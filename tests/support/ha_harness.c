/* ha_harness.c - a primary, a replica and three Sentinels; see ha_harness.h. */
#include "tests/support/ha_harness.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/support/proc.h"

#define HA_ERR_MAX 2048
#define HA_POLL_MS 50
#define HA_ARGS_MAX 24

static char ha_err[HA_ERR_MAX];

const char *ha_last_error(void) { return ha_err; }

__attribute__((format(printf, 1, 2)))
static void ha_errf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ha_err, sizeof ha_err, fmt, ap);
    va_end(ap);
}

static redisContext *ha_connect(int port) {
    struct timeval tv = {.tv_sec = 0, .tv_usec = 500 * 1000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c == NULL) return NULL;
    if (c->err != 0 || redisSetTimeout(c, tv) != REDIS_OK) {
        redisFree(c);
        return NULL;
    }
    return c;
}

int ha_sentinel_primary_port(const ha_store_t *ha, int sentinel) {
    redisContext *c = ha_connect(ha->sentinel_port[sentinel]);
    if (c == NULL) return -1;
    redisReply *r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", ha->master_name);
    int port = -1;
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[1]->type == REDIS_REPLY_STRING)
        port = atoi(r->element[1]->str);
    if (r != NULL) freeReplyObject(r);
    redisFree(c);
    return port;
}

/* The first word of ROLE on port ("master", "slave"), or "" if no answer. */
static void ha_role(int port, char *role, size_t rolelen) {
    role[0] = '\0';
    redisContext *c = ha_connect(port);
    if (c == NULL) return;
    redisReply *r = redisCommand(c, "ROLE");
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
        r->element[0]->type == REDIS_REPLY_STRING)
        snprintf(role, rolelen, "%s", r->element[0]->str);
    if (r != NULL) freeReplyObject(r);
    redisFree(c);
}

int ha_redis_index(const ha_store_t *ha, int port) {
    for (int i = 0; i < HA_REDIS; i++)
        if (ha->redis[i] != NULL && ha->redis[i]->port == port) return i;
    return -1;
}

int ha_wait_replica(const ha_store_t *ha, int i, int timeout_ms) {
    long long deadline = proc_now_ms() + timeout_ms;
    while (proc_now_ms() < deadline) {
        redisContext *c = ha_connect(ha->redis[i]->port);
        redisReply *r = c != NULL ? redisCommand(c, "INFO replication") : NULL;
        int up = r != NULL && r->type == REDIS_REPLY_STRING &&
                 strstr(r->str, "role:slave") != NULL && strstr(r->str, "master_link_status:up") != NULL;
        if (r != NULL) freeReplyObject(r);
        if (c != NULL) redisFree(c);
        if (up) return 0;
        proc_sleep_ms(HA_POLL_MS);
    }
    ha_errf("redis :%d is not an up-to-date replica after %d ms", ha->redis[i]->port, timeout_ms);
    return -1;
}

int ha_wait_failover(const ha_store_t *ha, int old_port, int timeout_ms) {
    long long deadline = proc_now_ms() + timeout_ms;
    while (proc_now_ms() < deadline) {
        int port = ha_sentinel_primary_port(ha, 0);
        int same = port > 0 && port != old_port;
        for (int s = 1; same && s < HA_SENTINELS; s++)
            same = ha->sentinel_pid[s] == 0 || ha_sentinel_primary_port(ha, s) == port;
        char role[16];
        if (same) ha_role(port, role, sizeof role);
        if (same && strcmp(role, "master") == 0) return ha_redis_index(ha, port);
        proc_sleep_ms(HA_POLL_MS);
    }
    ha_errf("no failover away from :%d within %d ms", old_port, timeout_ms);
    return -1;
}

/* True when Sentinel s knows the primary and one replica. */
static int ha_sentinel_ready(const ha_store_t *ha, int s) {
    redisContext *c = ha_connect(ha->sentinel_port[s]);
    if (c == NULL) return 0;
    redisReply *r = redisCommand(c, "SENTINEL replicas %s", ha->master_name);
    int ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 1;
    if (r != NULL) freeReplyObject(r);
    redisFree(c);
    return ok && ha_sentinel_primary_port(ha, s) == ha->redis[0]->port;
}

/* Writes Sentinel s's configuration and starts it. 0 or -1. */
static int ha_sentinel_launch(ha_store_t *ha, int s, const ha_options_t *o) {
    char conf[PATH_MAX + 32], log[PATH_MAX + 32];
    snprintf(conf, sizeof conf, "%s/sentinel-%d.conf", ha->dir, s);
    snprintf(log, sizeof log, "%s/sentinel-%d.log", ha->dir, s);
    FILE *f = fopen(conf, "w");
    if (f == NULL) {
        ha_errf("%s: %s", conf, strerror(errno));
        return -1;
    }
    ha->sentinel_port[s] = proc_free_tcp_port();
    fprintf(f, "port %d\nbind 127.0.0.1\ndaemonize no\ndir %s\n"
               "sentinel monitor %s 127.0.0.1 %d 2\n"
               "sentinel down-after-milliseconds %s %d\n"
               "sentinel failover-timeout %s %d\n"
               "sentinel parallel-syncs %s 1\n",
            ha->sentinel_port[s], ha->dir, ha->master_name, ha->redis[0]->port, ha->master_name,
            o->down_after_ms, ha->master_name, o->failover_timeout_ms, ha->master_name);
    fclose(f);
    const char *server = getenv("REDIS_SERVER");
    const char *argv[] = {server != NULL && *server ? server : "redis-server", conf, "--sentinel", NULL};
    char err[256];
    ha->sentinel_pid[s] = proc_spawn(argv, NULL, log, err, sizeof err);
    if (ha->sentinel_pid[s] < 0) {
        ha->sentinel_pid[s] = 0;
        ha_errf("sentinel %d: %s", s, err);
        return -1;
    }
    return 0;
}

static int ha_rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
    (void)sb, (void)type, (void)ftw;
    return remove(path);
}

void ha_store_stop(ha_store_t *ha) {
    if (ha == NULL) return;
    for (int s = 0; s < HA_SENTINELS; s++)
        if (ha->sentinel_pid[s] > 0) proc_stop(ha->sentinel_pid[s], 5000, NULL);
    for (int i = 0; i < HA_REDIS; i++) {
        if (ha->redis[i] != NULL && ha->redis[i]->pid > 0) kill(ha->redis[i]->pid, SIGCONT);
        redis_stop(ha->redis[i]);
    }
    if (ha->dir[0] != '\0' && getenv("KEEP_TEST_DIRS") == NULL)
        nftw(ha->dir, ha_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(ha);
}

/* Starts the primary and the replica and waits for the replica's link. */
static int ha_start_servers(ha_store_t *ha, const ha_options_t *o) {
    const char *args[HA_ARGS_MAX + 4];
    int n = 0;
    for (int i = 0; o->redis_args != NULL && o->redis_args[i] != NULL && n < HA_ARGS_MAX; i++)
        args[n++] = o->redis_args[i];
    args[n] = NULL;
    redis_options_t ro = {.dir = NULL, .password = NULL, .extra_args = args};
    ha->redis[0] = redis_start_opts(&ro);
    if (ha->redis[0] == NULL) {
        ha_errf("primary: %s", redis_last_error());
        return -1;
    }
    char port[16];
    snprintf(port, sizeof port, "%d", ha->redis[0]->port);
    args[n] = "--replicaof", args[n + 1] = "127.0.0.1", args[n + 2] = port, args[n + 3] = NULL;
    ha->redis[1] = redis_start_opts(&ro);
    if (ha->redis[1] == NULL) {
        ha_errf("replica: %s", redis_last_error());
        return -1;
    }
    return ha_wait_replica(ha, 1, 10000);
}

ha_store_t *ha_store_start(const char *master_name, const ha_options_t *opts) {
    ha_options_t o = {.down_after_ms = 500, .failover_timeout_ms = 2000, .redis_args = NULL};
    if (opts != NULL) {
        if (opts->down_after_ms > 0) o.down_after_ms = opts->down_after_ms;
        if (opts->failover_timeout_ms > 0) o.failover_timeout_ms = opts->failover_timeout_ms;
        o.redis_args = opts->redis_args;
    }
    ha_err[0] = '\0';
    ha_store_t *ha = calloc(1, sizeof *ha);
    if (ha == NULL || strlen(master_name) >= sizeof ha->master_name) {
        ha_errf("ha_store_start: out of memory or name too long");
        free(ha);
        return NULL;
    }
    snprintf(ha->master_name, sizeof ha->master_name, "%s", master_name);
    const char *tmp = getenv("TMPDIR");
    snprintf(ha->dir, sizeof ha->dir, "%s/sentinels-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
    if (mkdtemp(ha->dir) == NULL) {
        ha_errf("mkdtemp %s: %s", ha->dir, strerror(errno));
        ha->dir[0] = '\0';
        goto fail;
    }
    if (ha_start_servers(ha, &o) != 0) goto fail;
    size_t used = 0;
    for (int s = 0; s < HA_SENTINELS; s++) {
        if (ha_sentinel_launch(ha, s, &o) != 0) goto fail;
        used += (size_t)snprintf(ha->sentinels_text + used, sizeof ha->sentinels_text - used, "%s127.0.0.1:%d",
                                 s ? "," : "", ha->sentinel_port[s]);
    }
    long long deadline = proc_now_ms() + HA_SENTINEL_START_MS;
    for (int s = 0; s < HA_SENTINELS; s++) {
        while (!ha_sentinel_ready(ha, s)) {
            if (proc_now_ms() >= deadline || !proc_alive(ha->sentinel_pid[s])) {
                ha_errf("sentinel %d (:%d) did not see the primary and the replica in time (log in %s)",
                        s, ha->sentinel_port[s], ha->dir);
                goto fail;
            }
            proc_sleep_ms(HA_POLL_MS);
        }
    }
    return ha;
fail:;
    char saved[HA_ERR_MAX];
    snprintf(saved, sizeof saved, "%s", ha_err);
    ha_store_stop(ha);
    snprintf(ha_err, sizeof ha_err, "%s", saved);
    return NULL;
}

int ha_sentinels_command(const ha_store_t *ha, const char *const argv[], int argc) {
    int rc = 0;
    for (int s = 0; s < HA_SENTINELS; s++) {
        if (ha->sentinel_pid[s] == 0) continue;
        redisContext *c = ha_connect(ha->sentinel_port[s]);
        redisReply *r = c != NULL ? redisCommandArgv(c, argc, (const char **)argv, NULL) : NULL;
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            ha_errf("sentinel :%d: %s %s", ha->sentinel_port[s], argv[0],
                    r != NULL ? r->str : "no answer");
            rc = -1;
        }
        if (r != NULL) freeReplyObject(r);
        if (c != NULL) redisFree(c);
    }
    return rc;
}
