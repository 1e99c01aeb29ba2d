/* redis_harness.c - a real redis-server for one test; see redis_harness.h. */
#include "tests/support/redis_harness.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/proc.h"
#include "settlement/audit_stored.h"
#include "settlement/store.h"
#include "settlement/store_keys.h"
#include "tests/support/test_scripts.h"

#define REDIS_ERR_MAX 4096
#define REDIS_LOG_TAIL_BYTES 1500
#define REDIS_ARGV_MAX (40 + REDIS_EXTRA_ARGS_MAX)
#define REDIS_PROBE_MS 200
#define REDIS_POLL_MS 20

static char redis_err[REDIS_ERR_MAX];

const char *redis_last_error(void) { return redis_err; }

__attribute__((format(printf, 1, 2)))
static void redis_errf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(redis_err, sizeof redis_err, fmt, ap);
    va_end(ap);
}

/* Appends text to redis_err, truncating. */
static void redis_err_append(const char *text) {
    size_t used = strlen(redis_err);
    size_t room = sizeof redis_err - 1 - used;
    size_t n = strlen(text);
    if (n > room) n = room;
    memcpy(redis_err + used, text, n);
    redis_err[used + n] = '\0';
}

/* Appends the tail of the Redis log to redis_err. */
static void redis_err_add_log(const redis_harness_t *h) {
    int fd = open(h->log_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    char tail[REDIS_LOG_TAIL_BYTES + 1];
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > REDIS_LOG_TAIL_BYTES ? size - REDIS_LOG_TAIL_BYTES : 0;
    ssize_t n = pread(fd, tail, REDIS_LOG_TAIL_BYTES, from);
    close(fd);
    if (n <= 0) return;
    tail[n] = '\0';
    redis_err_append("\n--- tail of ");
    redis_err_append(h->log_path);
    redis_err_append(" ---\n");
    redis_err_append(tail);
}

static bool redis_log_says(const redis_harness_t *h, const char *needle) {
    FILE *f = fopen(h->log_path, "r");
    if (f == NULL) return false;
    char line[1024];
    bool found = false;
    int lines = 0;
    while (!found && lines++ < 100000 && fgets(line, sizeof line, f) != NULL) {
        found = strstr(line, needle) != NULL;
    }
    fclose(f);
    return found;
}

static int redis_rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

/* Asks Redis for PONG. 1: ready, 0: not yet (refused, loading), -1: bad. */
static int redis_probe(const redis_harness_t *h) {
    struct timeval tv = {.tv_sec = 0, .tv_usec = REDIS_PROBE_MS * 1000};
    redisContext *c = redisConnectWithTimeout(h->host, h->port, tv);
    if (c == NULL) return 0;
    if (c->err != 0 || redisSetTimeout(c, tv) != REDIS_OK) {
        redisFree(c);
        return 0;
    }
    int ready = 0;
    redisReply *r = NULL;
    if (h->password[0] != '\0') {
        r = redisCommand(c, "AUTH %s", h->password);
        if (r == NULL) goto out;
        if (r->type == REDIS_REPLY_ERROR) {
            redis_errf("redis :%d: AUTH of the harness rejected: %s", h->port, r->str);
            ready = -1;
            goto out;
        }
        freeReplyObject(r);
    }
    r = redisCommand(c, "PING");
    if (r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0) ready = 1;
out:
    if (r != NULL) freeReplyObject(r);
    redisFree(c);
    return ready;
}

/* Runs redis-server on h->port and waits for PONG. 0, or -1 with *port_taken
 * set when Redis could not bind the port. */
static int redis_launch(redis_harness_t *h, bool *port_taken) {
    assert(h->pid == 0);
    *port_taken = false;
    const char *server = getenv("REDIS_SERVER");
    if (server == NULL || *server == '\0') server = "redis-server";
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", h->port);
    const char *argv[REDIS_ARGV_MAX + 1];
    int argc = 0;
#define ARG(x) (argv[argc++] = (x))
    ARG(server);
    ARG("--port"); ARG(port_text);
    ARG("--bind"); ARG(h->host);
    ARG("--protected-mode"); ARG("yes");
    ARG("--daemonize"); ARG("no");
    ARG("--save"); ARG("");
    ARG("--appendonly"); ARG("yes");
    ARG("--appendfsync"); ARG("always");
    ARG("--dir"); ARG(h->dir);
    ARG("--logfile"); ARG("");
    ARG("--loglevel"); ARG("notice");
    if (h->password[0] != '\0') {
        ARG("--requirepass"); ARG(h->password);
    }
    for (int i = 0; i < h->extra_n; i++) ARG(h->extra[i]);
#undef ARG
    assert(argc <= REDIS_ARGV_MAX);
    argv[argc] = NULL;

    char err[512];
    pid_t pid = proc_spawn(argv, NULL, h->log_path, err, sizeof err);
    if (pid < 0) {
        redis_errf("redis_start: %s", err);
        return -1;
    }
    h->pid = pid;
    long long deadline = proc_now_ms() + REDIS_START_TIMEOUT_MS;
    for (;;) {
        if (!proc_alive(h->pid)) {
            int status = 0;
            proc_wait(h->pid, 1000, &status);
            h->pid = 0;
            *port_taken = redis_log_says(h, "Address already in use");
            redis_errf("redis-server on port %d exited before answering PING (status 0x%x)",
                       h->port, (unsigned)status);
            redis_err_add_log(h);
            return -1;
        }
        int ready = redis_probe(h);
        if (ready == 1) return 0;
        if (ready < 0 || proc_now_ms() >= deadline) {
            if (ready == 0) {
                redis_errf("redis-server on port %d did not answer PING within %d ms",
                           h->port, REDIS_START_TIMEOUT_MS);
            }
            redis_err_add_log(h);
            proc_kill9(h->pid);
            h->pid = 0;
            return -1;
        }
        proc_sleep_ms(REDIS_POLL_MS);
    }
}

static void redis_free(redis_harness_t *h) {
    for (int i = 0; i < h->extra_n; i++) free(h->extra[i]);
    free(h);
}

redis_harness_t *redis_start(const char *dir_or_NULL) {
    redis_options_t opts = {.dir = dir_or_NULL, .password = NULL, .extra_args = NULL};
    return redis_start_opts(&opts);
}

redis_harness_t *redis_start_opts(const redis_options_t *opts) {
    redis_options_t none = {NULL, NULL, NULL};
    if (opts == NULL) opts = &none;
    redis_err[0] = '\0';
    redis_harness_t *h = calloc(1, sizeof *h);
    if (h == NULL) {
        redis_errf("redis_start: out of memory");
        return NULL;
    }
    snprintf(h->host, sizeof h->host, "%s", "127.0.0.1");
    if (opts->password != NULL) {
        if (strlen(opts->password) >= sizeof h->password) {
            redis_errf("redis_start: password longer than %d bytes", REDIS_PASSWORD_MAX - 1);
            goto fail;
        }
        snprintf(h->password, sizeof h->password, "%s", opts->password);
    }
    for (int i = 0; opts->extra_args != NULL && opts->extra_args[i] != NULL; i++) {
        if (h->extra_n >= REDIS_EXTRA_ARGS_MAX) {
            redis_errf("redis_start: more than %d extra arguments", REDIS_EXTRA_ARGS_MAX);
            goto fail;
        }
        h->extra[h->extra_n] = strdup(opts->extra_args[i]);
        if (h->extra[h->extra_n] == NULL) {
            redis_errf("redis_start: out of memory");
            goto fail;
        }
        h->extra_n++;
    }
    if (opts->dir != NULL) {
        if (strlen(opts->dir) >= sizeof h->dir) {
            redis_errf("redis_start: dir path too long");
            goto fail;
        }
        snprintf(h->dir, sizeof h->dir, "%s", opts->dir);
        if (mkdir(h->dir, 0700) != 0 && errno != EEXIST) {
            redis_errf("redis_start: mkdir %s: %s", h->dir, strerror(errno));
            goto fail;
        }
    } else {
        const char *tmp = getenv("TMPDIR");
        if (tmp == NULL || *tmp == '\0') tmp = "/tmp";
        int n = snprintf(h->dir, sizeof h->dir, "%s/redis-test-XXXXXX", tmp);
        if (n < 0 || (size_t)n >= sizeof h->dir || mkdtemp(h->dir) == NULL) {
            redis_errf("redis_start: mkdtemp in %s: %s", tmp, strerror(errno));
            goto fail;
        }
        h->own_dir = true;
    }
    int n = snprintf(h->log_path, sizeof h->log_path, "%s/redis.log", h->dir);
    if (n < 0 || (size_t)n >= sizeof h->log_path) {
        redis_errf("redis_start: log path too long");
        goto fail;
    }
    for (int attempt = 0; attempt < REDIS_PORT_TRIES_MAX; attempt++) {
        h->port = proc_free_tcp_port();
        if (h->port < 0) {
            redis_errf("redis_start: no free TCP port on 127.0.0.1: %s", strerror(errno));
            goto fail;
        }
        bool port_taken = false;
        if (redis_launch(h, &port_taken) == 0) return h;
        if (!port_taken) goto fail;
    }
fail:
    if (h->own_dir && h->dir[0] != '\0') nftw(h->dir, redis_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    redis_free(h);
    return NULL;
}

int redis_restart(redis_harness_t *h) {
    assert(h != NULL);
    redis_err[0] = '\0';
    if (h->pid > 0) {
        int status = 0;
        if (proc_stop(h->pid, REDIS_STOP_TIMEOUT_MS, &status) != 0) {
            redis_errf("redis_restart: could not stop pid %d", (int)h->pid);
            return -1;
        }
        h->pid = 0;
    }
    /* the same port: the store under test must find it again */
    for (int attempt = 0; attempt < REDIS_PORT_TRIES_MAX; attempt++) {
        bool port_taken = false;
        if (redis_launch(h, &port_taken) == 0) return 0;
        if (!port_taken) return -1;
        proc_sleep_ms(200);
    }
    return -1;
}

int redis_kill9(redis_harness_t *h) {
    assert(h != NULL);
    redis_err[0] = '\0';
    if (h->pid <= 0) {
        redis_errf("redis_kill9: Redis is not running");
        return -1;
    }
    int rc = proc_kill9(h->pid);
    if (rc != 0) redis_errf("redis_kill9: could not kill pid %d", (int)h->pid);
    h->pid = 0;
    return rc;
}

int redis_stop(redis_harness_t *h) {
    if (h == NULL) return 0;
    int rc = 0;
    if (h->pid > 0) {
        int status = 0;
        if (proc_stop(h->pid, REDIS_STOP_TIMEOUT_MS, &status) != 0) {
            redis_errf("redis_stop: could not stop pid %d", (int)h->pid);
            rc = -1;
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            redis_errf("redis_stop: redis-server ended with status 0x%x", (unsigned)status);
            redis_err_add_log(h);
            rc = -1;
        }
        h->pid = 0;
    }
    if (h->own_dir && nftw(h->dir, redis_rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        redis_errf("redis_stop: could not remove %s: %s", h->dir, strerror(errno));
        rc = -1;
    }
    redis_free(h);
    return rc;
}

/* store_open on h's Redis with the defaults, and the tests' scripts too if with_test_scripts. */
static struct store *redis_store_open_cfg(const redis_harness_t *h, int with_test_scripts, char *err,
                                          size_t errlen) {
    assert(h != NULL && err != NULL && errlen >= 1);
    store_config_t cfg;
    store_config_defaults(&cfg);
    if (with_test_scripts) test_scripts_use(&cfg);
    snprintf(cfg.host, sizeof cfg.host, "%s", h->host);
    cfg.port = h->port;
    snprintf(cfg.password, sizeof cfg.password, "%s", h->password);
    return store_open(&cfg, err, errlen);
}

struct store *redis_store_open(const redis_harness_t *h, char *err, size_t errlen) {
    return redis_store_open_cfg(h, 0, err, errlen);
}

struct store *redis_store_open_test_scripts(const redis_harness_t *h, char *err, size_t errlen) {
    return redis_store_open_cfg(h, 1, err, errlen);
}

int redis_fixture_start(redis_fixture_t *f, int with_test_scripts) {
    assert(f != NULL);
    memset(f, 0, sizeof *f);
    f->redis = redis_start(NULL);
    if (f->redis == NULL) return -1;
    f->conn = redis_connect(f->redis);
    char err[256] = "";
    if (f->conn != NULL) f->store = redis_store_open_cfg(f->redis, with_test_scripts, err, sizeof err);
    if (f->conn != NULL && f->store == NULL) redis_errf("redis_fixture_start: store_open: %s", err);
    if (f->store != NULL) return 0;
    redis_fixture_stop(f);
    return -1;
}

void redis_fixture_stop(redis_fixture_t *f) {
    assert(f != NULL);
    if (f->store != NULL) store_close(f->store);
    if (f->conn != NULL) redisFree(f->conn);
    if (f->redis != NULL) redis_stop(f->redis);
    memset(f, 0, sizeof *f);
}

long long redis_command_calls(redisContext *c, const char *cmd) {
    assert(c != NULL && cmd != NULL && strlen(cmd) < 48);
    redisReply *r = redisCommand(c, "INFO commandstats");
    if (r == NULL || r->type != REDIS_REPLY_STRING) {
        if (r != NULL) freeReplyObject(r);
        return -1;
    }
    char needle[64];
    snprintf(needle, sizeof needle, "cmdstat_%s:calls=", cmd);
    const char *at = strstr(r->str, needle);
    long long n = at != NULL ? atoll(at + strlen(needle)) : 0;
    freeReplyObject(r);
    return n;
}

redisContext *redis_connect(const redis_harness_t *h) {
    assert(h != NULL);
    struct timeval ctv = {.tv_sec = 1, .tv_usec = 0};
    struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
    redisContext *c = redisConnectWithTimeout(h->host, h->port, ctv);
    if (c == NULL || c->err != 0) {
        redis_errf("redis_connect :%d: %s", h->port, c != NULL ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        redis_errf("redis_connect :%d: set timeout: %s", h->port, c->errstr);
        redisFree(c);
        return NULL;
    }
    if (h->password[0] != '\0') {
        redisReply *r = redisCommand(c, "AUTH %s", h->password);
        bool ok = r != NULL && r->type != REDIS_REPLY_ERROR;
        if (!ok) redis_errf("redis_connect :%d: AUTH failed: %s", h->port,
                            r != NULL ? r->str : c->errstr);
        if (r != NULL) freeReplyObject(r);
        if (!ok) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

int redis_delete_log_tree(redisContext *c) {
    assert(c != NULL);
    /* one script: no integration can run between the tree's and the tiles' deletion */
    redisReply *r = redisCommand(c, "EVAL %s 0",
                                 "for _, k in ipairs(redis.call('KEYS', '" STORE_KEY_LOG_TILE_PREFIX
                                 "*')) do redis.call('DEL', k) end "
                                 "return redis.call('DEL', '" STORE_KEY_LOG_TREE "')");
    int rc = r != NULL && r->type == REDIS_REPLY_INTEGER ? 0 : -1;
    if (r != NULL) freeReplyObject(r);
    return rc;
}

char *redis_log_entry(redisContext *c, uint64_t seq, size_t *len) {
    assert(c != NULL && len != NULL);
    static const char *const keys[] = {STORE_KEY_LOG_ENTRIES, STORE_KEY_LOG_PACKED};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        redisReply *r = redisCommand(c, "HGET %s %llu", keys[k], (unsigned long long)seq);
        if (r != NULL && r->type == REDIS_REPLY_STRING) {
            char *text = NULL, why[160];
            (void)audit_stored_canonical(r->str, r->len, &text, len, why, sizeof why);
            freeReplyObject(r);
            return text;
        }
        if (r != NULL) freeReplyObject(r);
    }
    return NULL;
}

int redis_flushall(redis_harness_t *h) {
    assert(h != NULL);
    redisContext *c = redis_connect(h);
    if (c == NULL) return -1;
    redisReply *r = redisCommand(c, "FLUSHALL");
    int rc = (r != NULL && r->type == REDIS_REPLY_STATUS) ? 0 : -1;
    if (rc != 0) redis_errf("FLUSHALL :%d: %s", h->port,
                            r != NULL ? r->str : c->errstr);
    if (r != NULL) freeReplyObject(r);
    redisFree(c);
    return rc;
}
