/* store.c - the connection to the region's store; see store.h. */
#include "settlement/store.h"
#include "common/carbon_assert.h"
#include "common/hex.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "settlement/script_sources.h"
#include "settlement/sentinel.h"

#define STORE_RAW_COMMAND INT_MIN  /* store_call_t.script_index: not EVALSHA */
#define STORE_EVALSHA_PREFIX_ARGS 3 /* EVALSHA sha nkeys */
#define STORE_NKEYS_TEXT_MAX 16
#define STORE_WHY_MAX 256          /* local error text */

struct store {
    store_config_t cfg;
    redisContext *ctx; /* NULL while disconnected */
    char addr_host[STORE_HOST_MAX]; /* the server connected to (or last tried) */
    int addr_port;
    char addr_text[STORE_HOST_MAX + 8]; /* "HOST:PORT" while connected */
    size_t sentinel_next;   /* the Sentinel asked first: the last that answered */
    bool *waits;            /* [scripts_n]: WAIT after this script (store_script_waits) */
    size_t scripts_n;
    char (*sha)[STORE_SHA1_HEX_LEN + 1]; /* [scripts_n], computed locally */
    /* scratch, allocated once by store_open */
    const char **argv;      /* [STORE_EVALSHA_PREFIX_ARGS + STORE_ARGS_MAX] */
    size_t *argvlen;        /* [STORE_EVALSHA_PREFIX_ARGS + STORE_ARGS_MAX] */
    size_t *pending;        /* [STORE_PIPELINE_MAX] call indices to send */
    size_t *retry;          /* [STORE_PIPELINE_MAX] call indices to resend */
    redisReply **got;       /* [STORE_PIPELINE_MAX] replies of one exchange */
    uint64_t calls;
    uint64_t errors;
    bool may_have_run; /* store_last_call_may_have_run */
    uint64_t reconnects;
    uint64_t primary_epoch; /* store_primary_epoch_n when this connection was made */
};

/* The same counts over every store of the process (store_process_calls). */
static _Atomic uint64_t store_process_calls_n, store_process_errors_n;
/* Switches of the primary announced to the process (store_primary_switched). */
static _Atomic uint64_t store_primary_epoch_n;

/* ---- small helpers -------------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static void store_errf(char *err, size_t errlen, const char *fmt, ...) {
    if (err == NULL || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static struct timeval store_tv_from_ms(int ms) {
    CARBON_ASSERT(ms >= 0 && ms <= STORE_TIMEOUT_MS_MAX);
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

static void store_sleep_ms(int ms) {
    CARBON_ASSERT(ms >= 0 && ms <= STORE_TIMEOUT_MS_MAX);
    struct timespec left = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    /* bounded: each EINTR leaves less time */
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
}

/* A reply length as a printf precision (error messages are short). */
static int store_len_int(size_t len) {
    return len > INT_MAX ? INT_MAX : (int)len;
}

static bool store_str_ok(const char *s, size_t cap) {
    CARBON_ASSERT(s != NULL && cap > 0);
    return memchr(s, '\0', cap) != NULL;
}

static bool store_prefix(const redisReply *r, const char *prefix) {
    CARBON_ASSERT(r != NULL && prefix != NULL);
    size_t n = strlen(prefix);
    return r->str != NULL && (size_t)r->len >= n && memcmp(r->str, prefix, n) == 0;
}

static int store_sha1_hex(const char *src, size_t len, char out[STORE_SHA1_HEX_LEN + 1]) {
    CARBON_ASSERT(src != NULL && out != NULL);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_Digest(src, len, md, &md_len, EVP_sha1(), NULL) != 1 || md_len != 20) return -1;
    return hex_encode(md, md_len, out, STORE_SHA1_HEX_LEN + 1) == STORE_SHA1_HEX_LEN ? 0 : -1;
}

const char *store_rc_name(int rc) {
    switch (rc) {
    case STORE_OK: return "STORE_OK";
    case STORE_EUNAVAILABLE: return "STORE_EUNAVAILABLE";
    case STORE_ESCRIPT: return "STORE_ESCRIPT";
    case STORE_EPROTO: return "STORE_EPROTO";
    case STORE_EINVAL: return "STORE_EINVAL";
    default: return "STORE_(unknown)";
    }
}

/* ---- configuration -------------------------------------------------------- */

void store_config_defaults(store_config_t *cfg) {
    CARBON_ASSERT(cfg != NULL);
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->host, sizeof cfg->host, "%s", "127.0.0.1");
    cfg->port = 6379;
    cfg->connect_timeout_ms = 1000;
    cfg->command_timeout_ms = 5000;
    cfg->reconnect_attempts_max = 5;
    cfg->reconnect_backoff_ms_initial = 50;
    cfg->reconnect_backoff_ms_max = 1000;
}

/* The Sentinel and WAIT fields of cfg (store_config_check). */
static bool store_config_check_ha(const store_config_t *cfg, char *err, size_t errlen) {
    CARBON_ASSERT(cfg != NULL);
    if (cfg->sentinels_n > STORE_SENTINELS_MAX) {
        store_errf(err, errlen, "store config: %zu sentinels, limit %d", cfg->sentinels_n, STORE_SENTINELS_MAX);
        return false;
    }
    for (size_t i = 0; i < cfg->sentinels_n; i++) {
        if (!store_str_ok(cfg->sentinel_host[i], STORE_HOST_MAX) || cfg->sentinel_host[i][0] == '\0' ||
            cfg->sentinel_port[i] < 1 || cfg->sentinel_port[i] > 65535) {
            store_errf(err, errlen, "store config: sentinel %zu: empty host or port out of 1..65535", i);
            return false;
        }
    }
    if (!store_str_ok(cfg->master_name, sizeof cfg->master_name) ||
        (cfg->sentinels_n > 0 && cfg->master_name[0] == '\0')) {
        store_errf(err, errlen, "store config: sentinels need a master_name of 1..%d bytes",
                   STORE_MASTER_NAME_MAX - 1);
        return false;
    }
    if (cfg->min_replicas < 0 || cfg->min_replicas > STORE_REPLICAS_MAX) {
        store_errf(err, errlen, "store config: min_replicas %d out of 0..%d", cfg->min_replicas,
                   STORE_REPLICAS_MAX);
        return false;
    }
    if (cfg->min_replicas > 0 &&
        (cfg->wait_timeout_ms < 1 || cfg->wait_timeout_ms >= cfg->command_timeout_ms)) {
        store_errf(err, errlen, "store config: wait_timeout_ms %d out of 1..command_timeout_ms-1 (%d)",
                   cfg->wait_timeout_ms, cfg->command_timeout_ms - 1);
        return false;
    }
    return true;
}

/* One "HOST:PORT" or "[V6]:PORT" of a Sentinel list, len bytes at item. */
static int store_sentinel_item(const char *item, size_t len, char host[STORE_HOST_MAX], int *port) {
    CARBON_ASSERT(item != NULL && host != NULL && port != NULL);
    const char *colon = NULL;
    for (size_t i = len; i > 0; i--) {
        if (item[i - 1] == ':') {
            colon = item + i - 1;
            break;
        }
    }
    if (colon == NULL || colon == item) return -1;
    size_t digits = len - (size_t)(colon - item) - 1;
    if (digits < 1 || digits > 5) return -1;
    int p = 0;
    for (size_t i = 0; i < digits; i++) {
        char c = colon[1 + i];
        if (c < '0' || c > '9') return -1;
        p = p * 10 + (c - '0');
    }
    const char *h = item;
    size_t hlen = (size_t)(colon - item);
    if (h[0] == '[') {
        if (hlen < 3 || h[hlen - 1] != ']') return -1;
        h++;
        hlen -= 2;
    }
    if (p < 1 || p > 65535 || hlen >= STORE_HOST_MAX) return -1;
    for (size_t i = 0; i < hlen; i++) {
        if (h[i] <= ' ' || h[i] > '~' || h[i] == ',' || (h[i] == ':' && item[0] != '[')) return -1;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = p;
    return 0;
}

int store_config_sentinels(store_config_t *cfg, const char *list, char *err, size_t errlen) {
    CARBON_ASSERT(cfg != NULL && list != NULL);
    char hosts[STORE_SENTINELS_MAX][STORE_HOST_MAX];
    int ports[STORE_SENTINELS_MAX];
    size_t n = 0;
    const char *p = list;
    for (int guard = 0; guard <= STORE_SENTINELS_MAX; guard++) {
        while (*p == ' ') p++;
        size_t len = strcspn(p, ",");
        size_t trimmed = len;
        while (trimmed > 0 && p[trimmed - 1] == ' ') trimmed--;
        if (n == STORE_SENTINELS_MAX) {
            store_errf(err, errlen, "sentinels: more than %d", STORE_SENTINELS_MAX);
            return -1;
        }
        if (store_sentinel_item(p, trimmed, hosts[n], &ports[n]) != 0) {
            store_errf(err, errlen, "sentinels: entry %zu is not HOST:PORT (port 1..65535, host "
                       "under %d bytes, IPv6 in brackets)", n + 1, STORE_HOST_MAX);
            return -1;
        }
        n++;
        if (p[len] == '\0') break;
        p += len + 1;
    }
    CARBON_ASSERT(n >= 1 && n <= STORE_SENTINELS_MAX);
    memcpy(cfg->sentinel_host, hosts, sizeof hosts);
    memcpy(cfg->sentinel_port, ports, sizeof ports);
    cfg->sentinels_n = n;
    return 0;
}

static bool store_config_check(const store_config_t *cfg, char *err, size_t errlen) {
    CARBON_ASSERT(cfg != NULL);
    if (!store_str_ok(cfg->host, sizeof cfg->host) || cfg->host[0] == '\0') {
        store_errf(err, errlen, "store config: host empty or longer than %d bytes", STORE_HOST_MAX - 1);
        return false;
    }
    if (!store_str_ok(cfg->user, sizeof cfg->user) ||
        !store_str_ok(cfg->password, sizeof cfg->password)) {
        store_errf(err, errlen, "store config: user or password not NUL-terminated");
        return false;
    }
    if (!store_str_ok(cfg->region, sizeof cfg->region)) {
        store_errf(err, errlen, "store config: region longer than %d bytes", STORE_REGION_SIZE - 1);
        return false;
    }
    for (size_t i = 0; i < cfg->extra_scripts_n; i++) {
        if (cfg->extra_scripts == NULL || cfg->extra_scripts[i].name == NULL ||
            cfg->extra_scripts[i].source == NULL) {
            store_errf(err, errlen, "store config: extra script %zu has no name or source", i);
            return false;
        }
    }
    if (cfg->user[0] != '\0' && cfg->password[0] == '\0') {
        store_errf(err, errlen, "store config: user \"%s\" set without a password", cfg->user);
        return false;
    }
    if (cfg->port < 1 || cfg->port > 65535) {
        store_errf(err, errlen, "store config: port %d out of 1..65535", cfg->port);
        return false;
    }
    if (cfg->connect_timeout_ms < 1 || cfg->connect_timeout_ms > STORE_TIMEOUT_MS_MAX ||
        cfg->command_timeout_ms < 1 || cfg->command_timeout_ms > STORE_TIMEOUT_MS_MAX) {
        store_errf(err, errlen, "store config: connect_timeout_ms %d / command_timeout_ms %d out of 1..%d",
                   cfg->connect_timeout_ms, cfg->command_timeout_ms, STORE_TIMEOUT_MS_MAX);
        return false;
    }
    if (cfg->reconnect_attempts_max < 1 || cfg->reconnect_attempts_max > STORE_RECONNECT_ATTEMPTS_LIMIT) {
        store_errf(err, errlen, "store config: reconnect_attempts_max %d out of 1..%d",
                   cfg->reconnect_attempts_max, STORE_RECONNECT_ATTEMPTS_LIMIT);
        return false;
    }
    if (cfg->reconnect_backoff_ms_max < 0 || cfg->reconnect_backoff_ms_max > STORE_TIMEOUT_MS_MAX ||
        cfg->reconnect_backoff_ms_initial < 0 ||
        cfg->reconnect_backoff_ms_initial > cfg->reconnect_backoff_ms_max) {
        store_errf(err, errlen, "store config: need 0 <= reconnect_backoff_ms_initial (%d) <= "
                   "reconnect_backoff_ms_max (%d) <= %d", cfg->reconnect_backoff_ms_initial,
                   cfg->reconnect_backoff_ms_max, STORE_TIMEOUT_MS_MAX);
        return false;
    }
    CARBON_ASSERT(cfg->extra_scripts_n == 0 || cfg->extra_scripts != NULL);
    return store_config_check_ha(cfg, err, errlen);
}

/* ---- scripts -------------------------------------------------------------- */

int store_script_index(const char *name) {
    CARBON_ASSERT(name != NULL);
    CARBON_ASSERT(script_sources_n <= STORE_SCRIPTS_MAX);
    for (size_t i = 0; i < script_sources_n; i++) {
        if (strcmp(script_sources[i].name, name) == 0) return (int)i;
    }
    return -1;
}

/* The scripts after which the store WAITs for replicas (store.h): commit
 * points and every script whose result an answer reports, and
 * recovery_scan: recovery sends the decisions it reads to peers, and one
 * may be a decision whose own WAIT failed (on another connection); the
 * write before each WAIT (store_wait_replicas) makes it cover that. Other
 * read-only scripts and the background ones (audit
 * log integration, witness records, the serial index) are not listed: what
 * they write is rebuilt or re-sent. */
static const char *const store_wait_scripts[] = {
    "account_open", "batch_open",  "dest_decide",   "dest_doubt",    "dest_prepare",
    "heuristic_compensate", "issue", "retire", "source_ack", "source_decide",
    "source_mixed", "transfer_hold", "obligation_register", "recovery_scan",
    /* answers to peers that they rely on: an origin's vote, a use applied to
     * its map, an activity reserved, settled or declared never issued, a
     * cosignature (a witness never goes back on one) and a fork's evidence */
    "origin_prepare", "use_report_apply", "use_report_ack", "activity_reserve", "activity_settle",
    "activity_query", "witness_advance", "witness_fork", "witness_fork_ack", "witness_own_add",
};

bool store_script_waits(const char *name) {
    CARBON_ASSERT(name != NULL);
    size_t n = sizeof store_wait_scripts / sizeof store_wait_scripts[0];
    for (size_t i = 0; i < n; i++) {
        if (strcmp(store_wait_scripts[i], name) == 0) return true;
    }
    return false;
}

const char *store_address(const store_t *s) {
    CARBON_ASSERT(s != NULL);
    return s->addr_text;
}

/* Script i of s: the embedded ones first, then cfg.extra_scripts. */
static const script_source_t *store_script_at(const store_t *s, size_t i) {
    CARBON_ASSERT(s != NULL && i < s->scripts_n);
    CARBON_ASSERT(s->scripts_n == script_sources_n + s->cfg.extra_scripts_n);
    return i < script_sources_n ? &script_sources[i] : &s->cfg.extra_scripts[i - script_sources_n];
}

int store_script_find(const store_t *s, const char *name) {
    CARBON_ASSERT(s != NULL && name != NULL);
    CARBON_ASSERT(s->scripts_n <= STORE_SCRIPTS_MAX);
    for (size_t i = 0; i < s->scripts_n; i++) {
        if (strcmp(store_script_at(s, i)->name, name) == 0) return (int)i;
    }
    return -1;
}

const char *store_script_sha(const store_t *s, int script_index) {
    CARBON_ASSERT(s->scripts_n <= STORE_SCRIPTS_MAX);
    CARBON_ASSERT(s != NULL);
    if (script_index < 0 || (size_t)script_index >= s->scripts_n) return NULL;
    return s->sha[script_index];
}

/* ---- connection ----------------------------------------------------------- */

static void store_disconnect(store_t *s) {
    CARBON_ASSERT(s != NULL);
    if (s->ctx != NULL) {
        redisFree(s->ctx);
        s->ctx = NULL;
    }
    s->addr_text[0] = '\0';
}

/* True if the idle connection is readable or broken. With no command in
 * flight Redis sends nothing, so readable means EOF (server closed it, e.g.
 * restart or timeout) or a reset: sending on it would be wasted. */
static bool store_conn_stale(const store_t *s) {
    CARBON_ASSERT(s->ctx != NULL);
    if (s->ctx->err != 0 || s->ctx->fd < 0) return true;
    struct pollfd p = {.fd = s->ctx->fd, .events = POLLIN | POLLRDHUP, .revents = 0};
    int r;
    int tries = 0;
    do {
        r = poll(&p, 1, 0);
    } while (r < 0 && errno == EINTR && ++tries < 100);
    CARBON_ASSERT(tries <= 100);
    return r != 0;
}

/* Writes the context's whole output buffer. *sent_any tells whether at least
 * one byte left (if not, Redis cannot have run any of it). SIGPIPE is blocked
 * in this thread during the write and a SIGPIPE it raised is consumed. */
static int store_flush(store_t *s, bool *sent_any) {
    CARBON_ASSERT(s != NULL && s->ctx != NULL && sent_any != NULL);
    redisContext *c = s->ctx;
    CARBON_ASSERT(c->obuf != NULL);
    size_t len0 = sdslen(c->obuf);
    sigset_t pipe_set, old_set, pending_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
    bool was_pending = sigpending(&pending_set) == 0 && sigismember(&pending_set, SIGPIPE) == 1;

    int done = 0;
    int rc = REDIS_OK;
    /* bounded: each successful write shrinks the buffer, a failure ends it */
    while (rc == REDIS_OK && !done) rc = redisBufferWrite(c, &done);
    int saved_errno = errno;

    if (!was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old_set, NULL);
    *sent_any = (rc == REDIS_OK) ? len0 > 0 : sdslen(c->obuf) != len0;
    errno = saved_errno;
    return rc;
}

/* Describes the context's error after a failed write or read. */
static int store_io_error(store_t *s, bool after_send, int saved_errno, char *err, size_t errlen) {
    CARBON_ASSERT(s != NULL && s->ctx != NULL);
    CARBON_ASSERT(err == NULL || errlen > 0);
    redisContext *c = s->ctx;
    int rc = STORE_EUNAVAILABLE;
    const char *maybe = after_send ? "; the command may have run" : "; nothing was sent";
    bool timed_out = saved_errno == EAGAIN || saved_errno == EWOULDBLOCK ||
                     strstr(c->errstr, "temporarily unavailable") != NULL;
    if (c->err == REDIS_ERR_IO && timed_out) {
        store_errf(err, errlen, "redis %s:%d: no answer within command_timeout_ms %d%s",
                   s->addr_host, s->addr_port, s->cfg.command_timeout_ms, maybe);
    } else if (c->err == REDIS_ERR_IO || c->err == REDIS_ERR_EOF) {
        store_errf(err, errlen, "redis %s:%d: connection lost (%s)%s",
                   s->addr_host, s->addr_port, c->errstr, maybe);
    } else {
        rc = STORE_EPROTO;
        store_errf(err, errlen, "redis %s:%d: %s (hiredis error %d)",
                   s->addr_host, s->addr_port, c->errstr, c->err);
    }
    store_disconnect(s);
    return rc;
}

/* Sends what was appended to the context and reads n replies into got[0..n).
 * On failure frees what was read, sets got[] to NULL, drops the connection
 * and says in *sent_any whether anything may have reached Redis. */
static int store_exchange(store_t *s, size_t n, redisReply **got, bool *sent_any,
                          char *err, size_t errlen) {
    CARBON_ASSERT(s->ctx != NULL);
    CARBON_ASSERT(n >= 1 && n <= STORE_PIPELINE_MAX + STORE_SCRIPTS_MAX);
    for (size_t i = 0; i < n; i++) got[i] = NULL;
    if (store_flush(s, sent_any) != REDIS_OK) {
        return store_io_error(s, *sent_any, errno, err, errlen);
    }
    for (size_t i = 0; i < n; i++) {
        void *r = NULL;
        errno = 0;
        if (redisGetReply(s->ctx, &r) != REDIS_OK || r == NULL) {
            int saved_errno = errno;
            for (size_t j = 0; j < i; j++) {
                freeReplyObject(got[j]);
                got[j] = NULL;
            }
            if (r != NULL) freeReplyObject(r);
            if (s->ctx->err == 0) {
                store_errf(err, errlen, "redis %s:%d: no reply", s->addr_host, s->addr_port);
                store_disconnect(s);
                return STORE_EPROTO;
            }
            return store_io_error(s, true, saved_errno, err, errlen);
        }
        got[i] = r;
    }
    return STORE_OK;
}

/* SCRIPT LOADs every embedded script in one pipeline and checks each SHA1.
 * *retryable is false when trying again cannot help (auth, mismatch). */
static int store_load_scripts(store_t *s, bool *retryable, char *err, size_t errlen) {
    CARBON_ASSERT(s->ctx != NULL);
    CARBON_ASSERT(s->scripts_n <= STORE_SCRIPTS_MAX);
    *retryable = true;
    if (s->scripts_n == 0) return STORE_OK;
    for (size_t i = 0; i < s->scripts_n; i++) {
        const char *src = store_script_at(s, i)->source;
        const char *argv[3] = {"SCRIPT", "LOAD", src};
        size_t argvlen[3] = {6, 4, strlen(src)};
        if (redisAppendCommandArgv(s->ctx, 3, argv, argvlen) != REDIS_OK) {
            store_errf(err, errlen, "SCRIPT LOAD: out of memory");
            store_disconnect(s);
            return STORE_EPROTO;
        }
    }
    redisReply *got[STORE_SCRIPTS_MAX];
    bool sent_any = false;
    int rc = store_exchange(s, s->scripts_n, got, &sent_any, err, errlen);
    if (rc != STORE_OK) return rc;
    for (size_t i = 0; i < s->scripts_n && rc == STORE_OK; i++) {
        const redisReply *r = got[i];
        if (r->type == REDIS_REPLY_ERROR) {
            bool transient = store_prefix(r, "LOADING") || store_prefix(r, "BUSY ") ||
                             store_prefix(r, "MASTERDOWN");
            *retryable = transient; /* NOAUTH, NOPERM...: trying again cannot help */
            rc = STORE_EUNAVAILABLE;
            store_errf(err, errlen, "redis %s:%d: SCRIPT LOAD %s: %.*s", s->addr_host, s->addr_port,
                       store_script_at(s, i)->name, store_len_int(r->len), r->str);
        } else if (r->type != REDIS_REPLY_STRING || r->len != STORE_SHA1_HEX_LEN ||
                   memcmp(r->str, s->sha[i], STORE_SHA1_HEX_LEN) != 0) {
            *retryable = false;
            rc = STORE_EPROTO;
            store_errf(err, errlen, "redis %s:%d: SCRIPT LOAD %s: SHA1 mismatch (local %s)",
                       s->addr_host, s->addr_port, store_script_at(s, i)->name, s->sha[i]);
        }
    }
    for (size_t i = 0; i < s->scripts_n; i++) freeReplyObject(got[i]);
    if (rc != STORE_OK) store_disconnect(s);
    return rc;
}

/* Reads the answer to SET STORE_REGION_KEY region NX GET: 0 ours (nil: set
 * now, or the same name), 1 another region's (copied into owner), -1 not an
 * answer to that command (message in err). */
static int store_region_reply(const store_t *s, const redisReply *r, const char *region,
                              char *owner, size_t ownerlen, char *err, size_t errlen) {
    CARBON_ASSERT(s != NULL && r != NULL && region != NULL && owner != NULL);
    CARBON_ASSERT(ownerlen > 0);
    owner[0] = '\0';
    if (r->type == REDIS_REPLY_NIL) return 0;
    if (r->type != REDIS_REPLY_STRING) {
        store_errf(err, errlen, "redis %s:%d: SET %s NX GET: %.*s", s->addr_host, s->addr_port,
                   STORE_REGION_KEY, r->type == REDIS_REPLY_ERROR ? store_len_int(r->len) : 18,
                   r->type == REDIS_REPLY_ERROR ? r->str : "unexpected answer");
        return -1;
    }
    if ((size_t)r->len == strlen(region) && memcmp(r->str, region, r->len) == 0) return 0;
    bool printable = r->len > 0 && (size_t)r->len < STORE_REGION_SIZE;
    for (size_t i = 0; printable && i < (size_t)r->len; i++)
        printable = (r->str[i] >= 'A' && r->str[i] <= 'Z') || (r->str[i] >= '0' && r->str[i] <= '9') ||
                    r->str[i] == '-';
    if (printable)
        snprintf(owner, ownerlen, "%.*s", store_len_int(r->len), r->str);
    else
        snprintf(owner, ownerlen, "%s", "(not a region code)");
    return 1;
}

/* Sends one command on a fresh connection and reads its reply into *reply
 * (the caller frees it); what names the command in errors. STORE_OK, or an
 * error code with the connection closed. */
static int store_round_trip(store_t *s, int argc, const char **argv, const size_t *argvlen,
                            const char *what, redisReply **reply, char *err, size_t errlen) {
    CARBON_ASSERT(s != NULL && s->ctx != NULL && reply != NULL && what != NULL);
    CARBON_ASSERT(argc >= 1 && argv != NULL && argvlen != NULL);
    *reply = NULL;
    if (redisAppendCommandArgv(s->ctx, argc, argv, argvlen) != REDIS_OK) {
        store_errf(err, errlen, "%s: out of memory", what);
        store_disconnect(s);
        return STORE_EPROTO;
    }
    bool sent_any = false;
    return store_exchange(s, 1, reply, &sent_any, err, errlen);
}

/* On a fresh connection: reads the store's region (GET), and only when it
 * has none claims it (SET NX GET), so that a primary refusing writes
 * (NOREPLICAS) still serves reads. Refuses, not retryable, a store that
 * names another region; a claim refused for a passing reason (NOREPLICAS,
 * LOADING, BUSY, MASTERDOWN) is a retryable failed attempt. */
static int store_connect_claim(store_t *s, bool *retryable, char *err, size_t errlen) {
    CARBON_ASSERT(s != NULL && s->ctx != NULL && retryable != NULL);
    CARBON_ASSERT(s->cfg.region[0] != '\0' && strlen(s->cfg.region) < STORE_REGION_SIZE);
    const char *argv[5] = {"SET", STORE_REGION_KEY, s->cfg.region, "NX", "GET"};
    size_t argvlen[5] = {3, strlen(STORE_REGION_KEY), strlen(s->cfg.region), 2, 3};
    const char *get[2] = {"GET", STORE_REGION_KEY};
    size_t getlen[2] = {3, strlen(STORE_REGION_KEY)};
    redisReply *r = NULL;
    int rc = store_round_trip(s, 2, get, getlen, "GET " STORE_REGION_KEY, &r, err, errlen);
    if (rc == STORE_OK && r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        r = NULL;
        rc = store_round_trip(s, 5, argv, argvlen, "SET " STORE_REGION_KEY, &r, err, errlen);
    }
    if (rc != STORE_OK) return rc;
    if (r->type == REDIS_REPLY_ERROR && (store_prefix(r, "NOREPLICAS") || store_prefix(r, "LOADING") ||
                                         store_prefix(r, "BUSY ") || store_prefix(r, "MASTERDOWN"))) {
        store_errf(err, errlen, "redis %s:%d: claiming the store for %s: %.*s", s->addr_host,
                   s->addr_port, s->cfg.region, store_len_int(r->len), r->str);
        freeReplyObject(r);
        store_disconnect(s);
        return STORE_EUNAVAILABLE;
    }
    char owner[STORE_REGION_SIZE + 32];
    int got = store_region_reply(s, r, s->cfg.region, owner, sizeof owner, err, errlen);
    freeReplyObject(r);
    if (got == 0) return STORE_OK;
    if (got == 1)
        store_errf(err, errlen, "redis %s:%d belongs to region %s (%s), not to this gateway's "
                   "region %s", s->addr_host, s->addr_port, owner, STORE_REGION_KEY, s->cfg.region);
    *retryable = false;
    store_disconnect(s);
    return got == 1 ? STORE_EUNAVAILABLE : STORE_EPROTO;
}

/* Without a password: one PING first, so that a store that wants one
 * answers NOAUTH clearly. (Redis 7 closes the connection of an
 * unauthenticated client that sends a bulk over 16 KiB, as a SCRIPT LOAD of a
 * larger script would be, and the reason would be lost.) */
static int store_check_open_access(store_t *s, bool *retryable, char *err, size_t errlen) {
    CARBON_ASSERT(s->ctx != NULL && s->cfg.password[0] == '\0');
    const char *argv[1] = {"PING"};
    size_t argvlen[1] = {4};
    redisReply *r = NULL;
    int rc = store_round_trip(s, 1, argv, argvlen, "PING", &r, err, errlen);
    if (rc != STORE_OK) return rc;
    if (r->type == REDIS_REPLY_ERROR) {
        *retryable = store_prefix(r, "LOADING") || store_prefix(r, "BUSY ") ||
                     store_prefix(r, "MASTERDOWN");
        store_errf(err, errlen, "redis %s:%d: %.*s%s", s->addr_host, s->addr_port,
                   store_len_int(r->len), r->str,
                   store_prefix(r, "NOAUTH") ? " (set [store] password_file)" : "");
        rc = STORE_EUNAVAILABLE;
        store_disconnect(s);
    }
    freeReplyObject(r);
    return rc;
}

/* Picks the server to connect to: cfg.host:port, or with Sentinels the
 * primary the first Sentinel that answers names (starting with the last one
 * that answered). Sets s->addr_host / addr_port. STORE_OK, or
 * STORE_EUNAVAILABLE with every Sentinel's failure summed up in err. */
static int store_pick_server(store_t *s, char *err, size_t errlen) {
    CARBON_ASSERT(s != NULL && s->cfg.sentinels_n <= STORE_SENTINELS_MAX);
    const store_config_t *cfg = &s->cfg;
    if (cfg->sentinels_n == 0) {
        snprintf(s->addr_host, sizeof s->addr_host, "%s", cfg->host);
        s->addr_port = cfg->port;
        return STORE_OK;
    }
    char why[STORE_WHY_MAX] = "";
    for (size_t k = 0; k < cfg->sentinels_n; k++) {
        size_t i = (s->sentinel_next + k) % cfg->sentinels_n;
        char host[SENTINEL_HOST_MAX];
        int port = 0;
        if (sentinel_ask(cfg->sentinel_host[i], cfg->sentinel_port[i], cfg->master_name,
                         cfg->connect_timeout_ms, host, sizeof host, &port, why, sizeof why) == 0) {
            CARBON_ASSERT(sizeof host <= sizeof s->addr_host);
            snprintf(s->addr_host, sizeof s->addr_host, "%s", host);
            s->addr_port = port;
            s->sentinel_next = i;
            return STORE_OK;
        }
    }
    store_errf(err, errlen, "no Sentinel of %zu named the primary of %s (last: %s)",
               cfg->sentinels_n, cfg->master_name, why);
    return STORE_EUNAVAILABLE;
}

/* Connects to s->addr_host:addr_port with the configured timeouts and
 * keepalive: s->ctx set, or STORE_EUNAVAILABLE. */
static int store_connect_tcp(store_t *s, char *err, size_t errlen) {
    CARBON_ASSERT(s != NULL && s->ctx == NULL);
    CARBON_ASSERT(s->addr_host[0] != '\0' && s->addr_port >= 1 && s->addr_port <= 65535);
    const store_config_t *cfg = &s->cfg;
    redisContext *c = redisConnectWithTimeout(s->addr_host, s->addr_port,
                                              store_tv_from_ms(cfg->connect_timeout_ms));
    if (c == NULL) {
        store_errf(err, errlen, "connect %s:%d: out of memory", s->addr_host, s->addr_port);
        return STORE_EUNAVAILABLE;
    }
    if (c->err != 0) {
        store_errf(err, errlen, "connect %s:%d: %s", s->addr_host, s->addr_port, c->errstr);
        redisFree(c);
        return STORE_EUNAVAILABLE;
    }
    s->ctx = c;
    if (redisSetTimeout(c, store_tv_from_ms(cfg->command_timeout_ms)) != REDIS_OK ||
        redisEnableKeepAlive(c) != REDIS_OK) {
        store_errf(err, errlen, "connect %s:%d: socket options: %s", s->addr_host, s->addr_port,
                   c->errstr);
        store_disconnect(s);
        return STORE_EUNAVAILABLE;
    }
    return STORE_OK;
}

/* AUTH with cfg.user / cfg.password; a refusal is not retryable. */
static int store_auth(store_t *s, bool *retryable, char *err, size_t errlen) {
    CARBON_ASSERT(s != NULL && s->ctx != NULL && retryable != NULL);
    const store_config_t *cfg = &s->cfg;
    CARBON_ASSERT(cfg->password[0] != '\0');
    const char *argv[3] = {"AUTH", cfg->user, cfg->password};
    size_t argvlen[3] = {4, strlen(cfg->user), strlen(cfg->password)};
    int argc = 3;
    if (cfg->user[0] == '\0') {
        argv[1] = cfg->password;
        argvlen[1] = argvlen[2];
        argc = 2;
    }
    redisReply *r = NULL;
    int rc = store_round_trip(s, argc, argv, argvlen, "AUTH", &r, err, errlen);
    if (rc != STORE_OK) return rc;
    if (r->type == REDIS_REPLY_ERROR) {
        /* the password itself is never echoed */
        store_errf(err, errlen, "redis %s:%d: AUTH%s%s rejected: %.*s", s->addr_host, s->addr_port,
                   cfg->user[0] ? " as " : "", cfg->user, store_len_int(r->len), r->str);
        *retryable = false;
        freeReplyObject(r);
        store_disconnect(s);
        return STORE_EUNAVAILABLE;
    }
    freeReplyObject(r);
    return STORE_OK;
}

/* With Sentinels: ROLE must say master (a Sentinel may name a primary that
 * was demoted a moment ago); anything else is one failed, retryable attempt. */
static int store_confirm_master(store_t *s, char *err, size_t errlen) {
    CARBON_ASSERT(s != NULL && s->ctx != NULL && s->cfg.sentinels_n > 0);
    const char *argv[1] = {"ROLE"};
    size_t argvlen[1] = {4};
    redisReply *r = NULL;
    int rc = store_round_trip(s, 1, argv, argvlen, "ROLE", &r, err, errlen);
    if (rc != STORE_OK) return rc;
    char role[32];
    int master = sentinel_role_reply(r, role, sizeof role);
    if (master != 1) {
        if (r->type == REDIS_REPLY_ERROR)
            snprintf(role, sizeof role, "%.*s", store_len_int(r->len > 24 ? 24 : r->len), r->str);
        store_errf(err, errlen, "redis %s:%d, named primary of %s by a Sentinel, says ROLE %s",
                   s->addr_host, s->addr_port, s->cfg.master_name, master < 0 ? "(no answer)" : role);
        rc = STORE_EUNAVAILABLE;
        store_disconnect(s);
    }
    freeReplyObject(r);
    return rc;
}

/* One connection attempt: find the server, connect, timeouts, keepalive,
 * AUTH, ROLE (with Sentinels), scripts, the region claim. */
static int store_connect_once(store_t *s, bool *retryable, char *err, size_t errlen) {
    CARBON_ASSERT(s != NULL && retryable != NULL);
    CARBON_ASSERT(store_str_ok(s->cfg.host, sizeof s->cfg.host) && s->cfg.host[0] != '\0');
    store_disconnect(s);
    *retryable = true;
    /* read before asking a Sentinel: a switch announced meanwhile reconnects again */
    s->primary_epoch = atomic_load(&store_primary_epoch_n);
    int rc = store_pick_server(s, err, errlen);
    if (rc != STORE_OK) return rc;
    rc = store_connect_tcp(s, err, errlen);
    if (rc == STORE_OK && s->cfg.password[0] != '\0') rc = store_auth(s, retryable, err, errlen);
    if (rc == STORE_OK && s->cfg.password[0] == '\0')
        rc = store_check_open_access(s, retryable, err, errlen);
    if (rc == STORE_OK && s->cfg.sentinels_n > 0) rc = store_confirm_master(s, err, errlen);
    if (rc == STORE_OK) rc = store_load_scripts(s, retryable, err, errlen);
    if (rc == STORE_OK && s->cfg.region[0] != '\0') rc = store_connect_claim(s, retryable, err, errlen);
    if (rc == STORE_OK)
        snprintf(s->addr_text, sizeof s->addr_text, "%s:%d", s->addr_host, s->addr_port);
    else if (s->cfg.sentinels_n > 0) /* ask another Sentinel first next time */
        s->sentinel_next = (s->sentinel_next + 1) % s->cfg.sentinels_n;
    return rc;
}

/* Makes sure there is a live connection, reconnecting with backoff. Each
 * connect attempt spends one unit of *budget; the sleep between attempts
 * starts at *backoff_ms and doubles up to the configured maximum. */
static int store_ensure_connected(store_t *s, int *budget, int *backoff_ms,
                                  char *err, size_t errlen) {
    CARBON_ASSERT(s != NULL && budget != NULL && backoff_ms != NULL);
    CARBON_ASSERT(*budget <= STORE_RECONNECT_ATTEMPTS_LIMIT && *backoff_ms >= 0);
    if (s->ctx != NULL) {
        bool switched = s->cfg.sentinels_n > 0 &&
                        s->primary_epoch != atomic_load(&store_primary_epoch_n);
        if (!switched && !store_conn_stale(s)) return STORE_OK;
        store_disconnect(s);
    }
    char why[STORE_WHY_MAX] = "no attempt left";
    int rc = STORE_EUNAVAILABLE;
    int attempts = 0;
    while (*budget > 0) {
        CARBON_ASSERT(attempts <= STORE_RECONNECT_ATTEMPTS_LIMIT);
        if (attempts > 0) {
            store_sleep_ms(*backoff_ms);
            int next = *backoff_ms * 2;
            *backoff_ms = next > s->cfg.reconnect_backoff_ms_max ? s->cfg.reconnect_backoff_ms_max : next;
        }
        (*budget)--;
        attempts++;
        bool retryable = true;
        rc = store_connect_once(s, &retryable, why, sizeof why);
        if (rc == STORE_OK) {
            s->reconnects++;
            return STORE_OK;
        }
        if (!retryable) break;
    }
    store_errf(err, errlen, "store unavailable after %d reconnect attempt%s: %s",
               attempts, attempts == 1 ? "" : "s", why);
    return rc == STORE_OK ? STORE_EUNAVAILABLE : rc;
}

/* ---- open / close --------------------------------------------------------- */

store_t *store_open(const store_config_t *cfg, char *err, size_t errlen) {
    CARBON_ASSERT(cfg != NULL);
    if (err != NULL && errlen > 0) err[0] = '\0';
    if (!store_config_check(cfg, err, errlen)) return NULL;
    if (script_sources_n + cfg->extra_scripts_n > STORE_SCRIPTS_MAX) {
        store_errf(err, errlen, "%zu embedded and %zu extra scripts, limit %d", script_sources_n,
                   cfg->extra_scripts_n, STORE_SCRIPTS_MAX);
        return NULL;
    }
    store_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        store_errf(err, errlen, "store_open: out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    s->scripts_n = script_sources_n + cfg->extra_scripts_n;
    CARBON_ASSERT(s->scripts_n <= STORE_SCRIPTS_MAX);
    size_t argv_cap = STORE_EVALSHA_PREFIX_ARGS + STORE_ARGS_MAX;
    s->sha = calloc(s->scripts_n > 0 ? s->scripts_n : 1, sizeof *s->sha);
    s->argv = calloc(argv_cap, sizeof *s->argv);
    s->argvlen = calloc(argv_cap, sizeof *s->argvlen);
    s->pending = calloc(STORE_PIPELINE_MAX, sizeof *s->pending);
    s->retry = calloc(STORE_PIPELINE_MAX, sizeof *s->retry);
    s->got = calloc(STORE_PIPELINE_MAX, sizeof *s->got);
    s->waits = calloc(s->scripts_n > 0 ? s->scripts_n : 1, sizeof *s->waits);
    if (s->sha == NULL || s->argv == NULL || s->argvlen == NULL || s->pending == NULL ||
        s->retry == NULL || s->got == NULL || s->waits == NULL) {
        store_errf(err, errlen, "store_open: out of memory");
        store_close(s);
        return NULL;
    }
    for (size_t i = 0; i < s->scripts_n; i++) {
        const char *src = store_script_at(s, i)->source;
        s->waits[i] = store_script_waits(store_script_at(s, i)->name);
        if (store_sha1_hex(src, strlen(src), s->sha[i]) != 0) {
            store_errf(err, errlen, "store_open: SHA1 of script %s failed", store_script_at(s, i)->name);
            store_close(s);
            return NULL;
        }
    }
    bool retryable = true;
    if (store_connect_once(s, &retryable, err, errlen) != STORE_OK) {
        store_close(s);
        return NULL;
    }
    return s;
}

void store_close(store_t *s) {
    CARBON_ASSERT(s == NULL || s->scripts_n <= STORE_SCRIPTS_MAX);
    if (s == NULL) return;
    store_disconnect(s);
    free(s->sha);
    free(s->argv);
    free(s->argvlen);
    free(s->pending);
    free(s->retry);
    free(s->got);
    free(s->waits);
    free(s);
}

uint64_t store_calls(const store_t *s) { CARBON_ASSERT(s != NULL); return s->calls; }
uint64_t store_errors(const store_t *s) { CARBON_ASSERT(s != NULL); return s->errors; }
uint64_t store_reconnects(const store_t *s) { CARBON_ASSERT(s != NULL); return s->reconnects; }
bool store_last_call_may_have_run(const store_t *s) { CARBON_ASSERT(s != NULL); return s->may_have_run; }
uint64_t store_process_calls(void) { return atomic_load(&store_process_calls_n); }
uint64_t store_process_errors(void) { return atomic_load(&store_process_errors_n); }
void store_primary_switched(void) { atomic_fetch_add(&store_primary_epoch_n, 1); }
uint64_t store_primary_switches(void) { return atomic_load(&store_primary_epoch_n); }

/* ---- calls ---------------------------------------------------------------- */

static int store_check_call(const store_t *s, size_t i, const store_call_t *call,
                            size_t *batch_bytes, char *err, size_t errlen) {
    CARBON_ASSERT(s != NULL && call != NULL && batch_bytes != NULL);
    CARBON_ASSERT(i < STORE_PIPELINE_MAX && *batch_bytes <= STORE_PIPELINE_BYTES_MAX);
    bool raw = call->script_index == STORE_RAW_COMMAND;
    if (!raw && (call->script_index < 0 || (size_t)call->script_index >= s->scripts_n)) {
        store_errf(err, errlen, "call %zu: script index %d out of 0..%zu", i,
                   call->script_index, s->scripts_n);
        return STORE_EINVAL;
    }
    if (call->argc < (raw ? 1 : 0) || call->argc > STORE_ARGS_MAX ||
        (call->argc > 0 && call->argv == NULL)) {
        store_errf(err, errlen, "call %zu: argc %d out of %d..%d", i, call->argc, raw ? 1 : 0,
                   STORE_ARGS_MAX);
        return STORE_EINVAL;
    }
    if (!raw && (call->nkeys < 0 || call->nkeys > call->argc)) {
        store_errf(err, errlen, "call %zu: nkeys %d out of 0..argc (%d)", i, call->nkeys, call->argc);
        return STORE_EINVAL;
    }
    size_t call_bytes = 0;
    for (int a = 0; a < call->argc; a++) {
        if (call->argv[a] == NULL) {
            store_errf(err, errlen, "call %zu: argv[%d] is NULL", i, a);
            return STORE_EINVAL;
        }
        size_t len = call->argvlen != NULL ? call->argvlen[a] : strlen(call->argv[a]);
        if (len > STORE_ARG_BYTES_MAX || call_bytes + len > STORE_CALL_BYTES_MAX) {
            store_errf(err, errlen, "call %zu: argument %d makes the call longer than its limit "
                       "(%u per argument, %u per call)", i, a, STORE_ARG_BYTES_MAX, STORE_CALL_BYTES_MAX);
            return STORE_EINVAL;
        }
        call_bytes += len;
    }
    if (*batch_bytes + call_bytes > STORE_PIPELINE_BYTES_MAX) {
        store_errf(err, errlen, "call %zu: batch longer than %u bytes", i, STORE_PIPELINE_BYTES_MAX);
        return STORE_EINVAL;
    }
    *batch_bytes += call_bytes;
    return STORE_OK;
}

static int store_append_call(store_t *s, const store_call_t *call) {
    CARBON_ASSERT(s != NULL && s->ctx != NULL && call != NULL);
    if (call->script_index == STORE_RAW_COMMAND) {
        return redisAppendCommandArgv(s->ctx, call->argc, call->argv, call->argvlen);
    }
    CARBON_ASSERT(call->argc <= STORE_ARGS_MAX);
    char nkeys_text[STORE_NKEYS_TEXT_MAX];
    int nkeys_len = snprintf(nkeys_text, sizeof nkeys_text, "%d", call->nkeys);
    CARBON_ASSERT(nkeys_len > 0 && (size_t)nkeys_len < sizeof nkeys_text);
    s->argv[0] = "EVALSHA";
    s->argvlen[0] = 7;
    s->argv[1] = s->sha[call->script_index];
    s->argvlen[1] = STORE_SHA1_HEX_LEN;
    s->argv[2] = nkeys_text;
    s->argvlen[2] = (size_t)nkeys_len;
    for (int a = 0; a < call->argc; a++) {
        s->argv[STORE_EVALSHA_PREFIX_ARGS + a] = call->argv[a];
        s->argvlen[STORE_EVALSHA_PREFIX_ARGS + a] =
            call->argvlen != NULL ? call->argvlen[a] : strlen(call->argv[a]);
    }
    /* hiredis copies the arguments into its output buffer */
    return redisAppendCommandArgv(s->ctx, STORE_EVALSHA_PREFIX_ARGS + call->argc, s->argv, s->argvlen);
}

typedef enum {
    STORE_REPLY_FINAL,     /* an answer, error or not: hand it over */
    STORE_REPLY_NOSCRIPT,  /* script cache empty: reload, resend */
    STORE_REPLY_TRANSIENT, /* not run (loading, busy, no replicas): back off, resend */
    STORE_REPLY_READONLY,  /* not run, reached a replica: reconnect, resend */
} store_reply_kind_t;

static store_reply_kind_t store_reply_kind(const redisReply *r) {
    CARBON_ASSERT(r != NULL);
    if (r->type != REDIS_REPLY_ERROR) return STORE_REPLY_FINAL;
    if (store_prefix(r, "NOSCRIPT")) return STORE_REPLY_NOSCRIPT;
    /* NOREPLICAS (min-replicas-to-write): the script's first write was refused,
       so it changed nothing (Redis refuses only before a script's first write;
       the scripts that catch errors, with_later and checked.refusal in
       _prelude.lua, raise these again unchanged) */
    if (store_prefix(r, "LOADING") || store_prefix(r, "BUSY ") || store_prefix(r, "MASTERDOWN") ||
        store_prefix(r, "NOREPLICAS"))
        return STORE_REPLY_TRANSIENT;
    if (store_prefix(r, "READONLY")) return STORE_REPLY_READONLY;
    return STORE_REPLY_FINAL;
}

/* What one round of store_run left to do: the calls to send again (in
 * s->retry[0..nretry)) and why. */
typedef struct {
    size_t nretry;
    bool need_reload;    /* a NOSCRIPT: load the scripts again */
    bool need_backoff;   /* LOADING / BUSY / MASTERDOWN: sleep, spend budget */
    bool need_reconnect; /* READONLY: drop the connection */
    char why[STORE_WHY_MAX]; /* the first transient error reply */
} store_round_t;

/* Counts n calls that ended without an ordinary reply, in the store's and
 * the process's error counters. */
static void store_count_errors(store_t *s, size_t n) {
    CARBON_ASSERT(s != NULL && n <= STORE_PIPELINE_MAX);
    s->errors += n;
    atomic_fetch_add(&store_process_errors_n, n);
}

/* Appends the npending calls named by s->pending to the context's output
 * buffer. On failure (out of memory) drops the connection: STORE_EPROTO. */
static int store_append_pending(store_t *s, size_t npending, const store_call_t *calls,
                                char *err, size_t errlen) {
    CARBON_ASSERT(s != NULL && s->ctx != NULL && calls != NULL);
    CARBON_ASSERT(npending >= 1 && npending <= STORE_PIPELINE_MAX);
    for (size_t k = 0; k < npending; k++) {
        if (store_append_call(s, &calls[s->pending[k]]) != REDIS_OK) {
            store_errf(err, errlen, "redis: out of memory appending a command");
            store_disconnect(s);
            return STORE_EPROTO;
        }
    }
    return STORE_OK;
}

/* Sorts the npending replies of one exchange (s->got) into replies[] by call
 * index; those that ask for a retry (NOSCRIPT before the single reload, or
 * a call not run) are freed, listed in s->retry and described in *round. */
static void store_sort_replies(store_t *s, size_t npending, const store_call_t *calls,
                               redisReply **replies, bool reloaded, store_round_t *round) {
    CARBON_ASSERT(s != NULL && calls != NULL && replies != NULL && round != NULL);
    CARBON_ASSERT(npending >= 1 && npending <= STORE_PIPELINE_MAX);
    memset(round, 0, sizeof *round);
    const redisReply *transient = NULL;
    for (size_t k = 0; k < npending; k++) {
        size_t idx = s->pending[k];
        redisReply *r = s->got[k];
        s->got[k] = NULL;
        store_reply_kind_t kind = store_reply_kind(r);
        if (kind == STORE_REPLY_NOSCRIPT && (reloaded || calls[idx].script_index == STORE_RAW_COMMAND))
            kind = STORE_REPLY_FINAL;
        replies[idx] = r;
        if (kind == STORE_REPLY_FINAL) continue;
        s->retry[round->nretry++] = idx;
        round->need_reload |= kind == STORE_REPLY_NOSCRIPT;
        round->need_backoff |= kind == STORE_REPLY_TRANSIENT;
        round->need_reconnect |= kind == STORE_REPLY_READONLY;
        if (kind != STORE_REPLY_NOSCRIPT && transient == NULL) transient = r;
    }
    if (transient != NULL) {
        snprintf(round->why, sizeof round->why, "%.*s", store_len_int(transient->len),
                 transient->str);
    }
    for (size_t k = 0; k < round->nretry; k++) {
        freeReplyObject(replies[s->retry[k]]);
        replies[s->retry[k]] = NULL;
    }
}

/* Gets ready to resend the calls of round: gives up when calls were not run
 * and *budget is spent; reconnects, reloads the scripts (once: *reloaded),
 * or backs off (*backoff_ms doubles up to the maximum, one unit of *budget)
 * as round asks; makes s->retry the new s->pending. */
static int store_prepare_retry(store_t *s, const store_round_t *round, int *budget,
                               int *backoff_ms, bool *reloaded, char *err, size_t errlen) {
    CARBON_ASSERT(s != NULL && round != NULL && budget != NULL && backoff_ms != NULL);
    CARBON_ASSERT(round->nretry >= 1 && round->nretry <= STORE_PIPELINE_MAX);
    if ((round->need_backoff || round->need_reconnect) && *budget <= 0) {
        store_errf(err, errlen, "redis %s:%d: still refusing after %d attempts: %s",
                   s->addr_host, s->addr_port, s->cfg.reconnect_attempts_max, round->why);
        return STORE_EUNAVAILABLE;
    }
    if (round->need_reconnect) {
        store_disconnect(s); /* the next connection loads every script */
    } else if (round->need_reload) {
        bool retryable = true;
        int rc = store_load_scripts(s, &retryable, err, errlen);
        if (rc != STORE_OK) return rc;
    }
    *reloaded |= round->need_reload; /* a second NOSCRIPT is final */
    if (round->need_backoff) {
        store_sleep_ms(*backoff_ms);
        int next = *backoff_ms * 2;
        *backoff_ms = next > s->cfg.reconnect_backoff_ms_max ? s->cfg.reconnect_backoff_ms_max : next;
        (*budget)--;
    }
    memcpy(s->pending, s->retry, round->nretry * sizeof *s->pending);
    return STORE_OK;
}

/* Sends the n checked calls with the retry rule of store.h until every one
 * has a final reply in replies[] (STORE_OK) or the call fails (another
 * result; replies[] may then hold some replies, which the caller frees). */
static int store_run_rounds(store_t *s, size_t n, const store_call_t *calls, redisReply **replies,
                            char *err, size_t errlen) {
    CARBON_ASSERT(s != NULL && calls != NULL && replies != NULL);
    CARBON_ASSERT(n >= 1 && n <= STORE_PIPELINE_MAX);
    size_t npending = n;
    for (size_t i = 0; i < n; i++) s->pending[i] = i;
    int budget = s->cfg.reconnect_attempts_max;
    int backoff_ms = s->cfg.reconnect_backoff_ms_initial;
    bool reloaded = false;
    /* every round spends budget, or the single reload, or ends the loop */
    const int rounds_max = STORE_RECONNECT_ATTEMPTS_LIMIT * 2 + 4;
    for (int round_i = 0;; round_i++) {
        CARBON_ASSERT(round_i < rounds_max);
        int rc = store_ensure_connected(s, &budget, &backoff_ms, err, errlen);
        if (rc != STORE_OK) return rc;
        rc = store_append_pending(s, npending, calls, err, errlen);
        if (rc != STORE_OK) return rc;
        bool sent_any = false;
        rc = store_exchange(s, npending, s->got, &sent_any, err, errlen);
        if (rc != STORE_OK) {
            if (rc == STORE_EUNAVAILABLE && !sent_any && budget > 0) continue; /* not run */
            s->may_have_run = sent_any; /* its reply lost, timed out or unreadable */
            return rc;
        }
        store_round_t round;
        store_sort_replies(s, npending, calls, replies, reloaded, &round);
        if (round.nretry == 0) return STORE_OK;
        rc = store_prepare_retry(s, &round, &budget, &backoff_ms, &reloaded, err, errlen);
        if (rc != STORE_OK) return rc;
        npending = round.nretry;
    }
}

/* The result of n calls that all have a reply: STORE_ESCRIPT if any is an
 * error reply (each counted as an error; err holds the first one's message,
 * prefixed with its index when index_in_err), else STORE_OK. */
static int store_run_result(store_t *s, size_t n, redisReply *const *replies, bool index_in_err,
                            char *err, size_t errlen) {
    CARBON_ASSERT(s != NULL && replies != NULL);
    CARBON_ASSERT(n >= 1 && n <= STORE_PIPELINE_MAX);
    int rc = STORE_OK;
    for (size_t i = 0; i < n; i++) {
        CARBON_ASSERT(replies[i] != NULL);
        if (replies[i]->type != REDIS_REPLY_ERROR) continue;
        store_count_errors(s, 1);
        if (rc == STORE_OK) {
            rc = STORE_ESCRIPT;
            if (index_in_err)
                store_errf(err, errlen, "call %zu: %.*s", i, store_len_int(replies[i]->len), replies[i]->str);
            else
                store_errf(err, errlen, "%.*s", store_len_int(replies[i]->len), replies[i]->str);
        }
    }
    return rc;
}

/* True if one of the n calls runs a script after which the store WAITs. */
static bool store_batch_waits(const store_t *s, size_t n, const store_call_t *calls) {
    CARBON_ASSERT(s != NULL && calls != NULL && n <= STORE_PIPELINE_MAX);
    if (s->cfg.min_replicas == 0) return false;
    for (size_t i = 0; i < n; i++) {
        int idx = calls[i].script_index;
        if (idx != STORE_RAW_COMMAND && idx >= 0 && (size_t)idx < s->scripts_n && s->waits[idx])
            return true;
    }
    return false;
}

/* Why store_wait_replicas failed, from its replies got[0] (the write) and
 * got[1] (WAIT), into err. */
static void store_wait_error(const store_t *s, size_t n, redisReply *const got[2], char *err, size_t errlen) {
    CARBON_ASSERT(s != NULL && got[0] != NULL && got[1] != NULL);
    const redisReply *b = got[0], *r = got[1];
    if (b->type != REDIS_REPLY_INTEGER)
        store_errf(err, errlen, "redis %s:%d: the write before WAIT: %.*s; the %zu call%s ran but may be "
                   "lost by a failover (outcome uncertain: read the state again)", s->addr_host, s->addr_port,
                   b->type == REDIS_REPLY_ERROR ? store_len_int(b->len) : 17,
                   b->type == REDIS_REPLY_ERROR ? b->str : "not an integer", n, n == 1 ? "" : "s");
    else if (r->type == REDIS_REPLY_INTEGER)
        store_errf(err, errlen, "redis %s:%d: WAIT: %lld of min_replicas %d replicas confirmed "
                   "within %d ms; the %zu call%s ran but may be lost by a failover (outcome "
                   "uncertain: read the state again)", s->addr_host, s->addr_port, r->integer,
                   s->cfg.min_replicas, s->cfg.wait_timeout_ms, n, n == 1 ? "" : "s");
    else
        store_errf(err, errlen, "redis %s:%d: WAIT: %.*s; the calls may have run", s->addr_host,
                   s->addr_port, r->type == REDIS_REPLY_ERROR ? store_len_int(r->len) : 17,
                   r->type == REDIS_REPLY_ERROR ? r->str : "not an integer");
}

/* WAIT min_replicas wait_timeout_ms on the connection that just ran n
 * calls: STORE_OK when enough replicas have every write made so far, else
 * STORE_EUNAVAILABLE (the calls ran; whether a failover keeps them is
 * uncertain) with the count in err. WAIT covers the writes up to the
 * offset Redis keeps for the connection: Debian's 7.0 sets it after each
 * command, reads included, later versions only after a command that wrote.
 * A call that only read (recovery_scan), or found its work done (a replay
 * answering what another connection wrote, maybe after that connection's
 * WAIT failed), may have written nothing; so one write comes first (INCR
 * STORE_KEY_META_WAIT_BARRIER): replication is one stream, and covering it
 * covers everything written before it, on any version. */
static int store_wait_replicas(store_t *s, size_t n, char *err, size_t errlen) {
    CARBON_ASSERT(s != NULL && s->ctx != NULL && s->cfg.min_replicas > 0);
    CARBON_ASSERT(n >= 1 && n <= STORE_PIPELINE_MAX);
    const char *barrier[2] = {"INCR", STORE_KEY_META_WAIT_BARRIER};
    size_t barrier_len[2] = {4, sizeof STORE_KEY_META_WAIT_BARRIER - 1};
    char want[16], timeout[16];
    int want_len = snprintf(want, sizeof want, "%d", s->cfg.min_replicas);
    int timeout_len = snprintf(timeout, sizeof timeout, "%d", s->cfg.wait_timeout_ms);
    const char *wait[3] = {"WAIT", want, timeout};
    size_t wait_len[3] = {4, (size_t)want_len, (size_t)timeout_len};
    /* the write and the WAIT in one round trip */
    if (redisAppendCommandArgv(s->ctx, 2, barrier, barrier_len) != REDIS_OK ||
        redisAppendCommandArgv(s->ctx, 3, wait, wait_len) != REDIS_OK) {
        store_errf(err, errlen, "WAIT: out of memory");
        store_disconnect(s);
        return STORE_EPROTO;
    }
    redisReply *got[2] = {NULL, NULL};
    bool sent_any = false;
    int rc = store_exchange(s, 2, got, &sent_any, err, errlen);
    if (rc != STORE_OK) return rc == STORE_EPROTO ? rc : STORE_EUNAVAILABLE;
    bool ok = got[0]->type == REDIS_REPLY_INTEGER && got[1]->type == REDIS_REPLY_INTEGER &&
              got[1]->integer >= s->cfg.min_replicas;
    if (!ok) store_wait_error(s, n, got, err, errlen);
    freeReplyObject(got[0]);
    freeReplyObject(got[1]);
    return ok ? STORE_OK : STORE_EUNAVAILABLE;
}

/* Runs n calls (EVALSHA or raw) with the retry rule of store.h. On STORE_OK
 * or STORE_ESCRIPT, replies[0..n) are all set (caller owns them); otherwise
 * all are NULL. On STORE_ESCRIPT err holds the first error reply's message,
 * prefixed with its index when index_in_err. */
static int store_run(store_t *s, size_t n, const store_call_t *calls, redisReply **replies,
                     bool index_in_err, char *err, size_t errlen) {
    CARBON_ASSERT(s != NULL && calls != NULL && replies != NULL);
    CARBON_ASSERT(n >= 1 && n <= STORE_PIPELINE_MAX);
    if (err != NULL && errlen > 0) err[0] = '\0';
    for (size_t i = 0; i < n; i++) replies[i] = NULL;
    s->may_have_run = false;
    s->calls += n;
    atomic_fetch_add(&store_process_calls_n, n);

    size_t batch_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = store_check_call(s, i, &calls[i], &batch_bytes, err, errlen);
        if (rc != STORE_OK) {
            store_count_errors(s, n);
            return rc;
        }
    }
    int rc = store_run_rounds(s, n, calls, replies, err, errlen);
    if (rc == STORE_OK && store_batch_waits(s, n, calls)) {
        rc = store_wait_replicas(s, n, err, errlen);
        s->may_have_run = rc != STORE_OK; /* the calls ran; not confirmed durable */
    }
    if (rc == STORE_OK) return store_run_result(s, n, replies, index_in_err, err, errlen);
    for (size_t i = 0; i < n; i++) {
        if (replies[i] != NULL) freeReplyObject(replies[i]);
        replies[i] = NULL;
    }
    store_count_errors(s, n);
    return rc;
}

/* Turns store_run's single reply into store_eval's contract. */
static int store_run_one(store_t *s, const store_call_t *call, redisReply **reply_out,
                         char *err, size_t errlen) {
    CARBON_ASSERT(s != NULL && call != NULL && reply_out != NULL);
    redisReply *r = NULL;
    int rc = store_run(s, 1, call, &r, false, err, errlen);
    if (rc == STORE_ESCRIPT) {
        freeReplyObject(r); /* message already in err */
        r = NULL;
    }
    *reply_out = r;
    return rc;
}

int store_eval(store_t *s, int script_index, int nkeys, int argc,
               const char **argv, const size_t *argvlen,
               redisReply **reply_out, char *err, size_t errlen) {
    CARBON_ASSERT(s != NULL && reply_out != NULL);
    *reply_out = NULL;
    if (script_index == STORE_RAW_COMMAND) script_index = -1; /* never a raw command */
    store_call_t call = {script_index, nkeys, argc, argv, argvlen};
    return store_run_one(s, &call, reply_out, err, errlen);
}

int store_command(store_t *s, int argc, const char **argv, const size_t *argvlen,
                  redisReply **reply_out, char *err, size_t errlen) {
    CARBON_ASSERT(s != NULL && reply_out != NULL);
    *reply_out = NULL;
    store_call_t call = {STORE_RAW_COMMAND, 0, argc, argv, argvlen};
    return store_run_one(s, &call, reply_out, err, errlen);
}

int store_region_claim(store_t *s, const char *region, char *owner, size_t ownerlen, char *err,
                       size_t errlen) {
    CARBON_ASSERT(s != NULL && region != NULL && owner != NULL && ownerlen > 0);
    CARBON_ASSERT(region[0] != '\0' && strlen(region) < STORE_REGION_SIZE);
    const char *argv[5] = {"SET", STORE_REGION_KEY, region, "NX", "GET"};
    redisReply *r = NULL;
    int rc = store_command(s, 5, argv, NULL, &r, err, errlen);
    if (rc != STORE_OK) return rc;
    int got = store_region_reply(s, r, region, owner, ownerlen, err, errlen);
    freeReplyObject(r);
    return got < 0 ? STORE_EPROTO : got;
}

int store_pipeline_eval(store_t *s, size_t n, const store_call_t *calls,
                        redisReply **replies_out, char *err, size_t errlen) {
    CARBON_ASSERT(s->scripts_n <= STORE_SCRIPTS_MAX);
    CARBON_ASSERT(s != NULL && replies_out != NULL);
    if (n < 1 || n > STORE_PIPELINE_MAX || calls == NULL) {
        for (size_t i = 0; i < n && i < STORE_PIPELINE_MAX; i++) replies_out[i] = NULL;
        store_errf(err, errlen, "store_pipeline_eval: %zu calls, need 1..%d", n, STORE_PIPELINE_MAX);
        s->calls += n;
        s->errors += n;
        atomic_fetch_add(&store_process_calls_n, n);
        atomic_fetch_add(&store_process_errors_n, n);
        return STORE_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (calls[i].script_index == STORE_RAW_COMMAND) {
            for (size_t j = 0; j < n; j++) replies_out[j] = NULL;
            store_errf(err, errlen, "call %zu: script index %d out of range", i, calls[i].script_index);
            s->calls += n;
            s->errors += n;
            atomic_fetch_add(&store_process_calls_n, n);
            atomic_fetch_add(&store_process_errors_n, n);
            return STORE_EINVAL;
        }
    }
    return store_run(s, n, calls, replies_out, true, err, errlen);
}

int store_lease_take(store_t *s, const char *key, const char *owner, uint64_t ttl_ms, int *held,
                     char *err, size_t errlen) {
    CARBON_ASSERT(s != NULL && key != NULL && owner != NULL && owner[0] != '\0' && held != NULL);
    CARBON_ASSERT(ttl_ms >= 1);
    *held = 0;
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%" PRIu64, ttl_ms);
    const char *set[6] = {"SET", key, owner, "NX", "PX", ttl};
    redisReply *r = NULL;
    int rc = store_command(s, 6, set, NULL, &r, err, errlen);
    if (rc != STORE_OK) return rc;
    *held = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    if (*held) return STORE_OK;
    const char *get[2] = {"GET", key};
    if ((rc = store_command(s, 2, get, NULL, &r, err, errlen)) != STORE_OK) return rc;
    *held = r->type == REDIS_REPLY_STRING && strcmp(r->str, owner) == 0;
    freeReplyObject(r);
    if (!*held) return STORE_OK;
    const char *ext[3] = {"PEXPIRE", key, ttl};
    if ((rc = store_command(s, 3, ext, NULL, &r, err, errlen)) != STORE_OK) return rc;
    freeReplyObject(r);
    return STORE_OK;
}
