/* sentinel_watch.c - following +switch-master; see sentinel_watch.h. */
#include "settlement/sentinel_watch.h"
#include "common/carbon_assert.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "settlement/sentinel.h"

#define SW_ADDR_MAX (SENTINEL_HOST_MAX + 8)
#define SW_FIELDS 5 /* NAME OLDHOST OLDPORT NEWHOST NEWPORT */

struct sentinel_watch {
    store_config_t cfg;
    sentinel_watch_fn on_switch;
    void *arg;
    pthread_t thread;
    atomic_bool stop;
    _Atomic uint64_t switches;
    char known[SW_ADDR_MAX]; /* the primary last named, "" before the first answer */
    size_t next;             /* the Sentinel tried next */
};

/* Splits payload into SW_FIELDS space-separated fields of printable bytes,
 * each shorter than cap. 0, or -1 if malformed. */
static int sw_fields(const char *p, size_t len, char f[SW_FIELDS][SENTINEL_HOST_MAX], size_t cap) {
    CARBON_ASSERT(p != NULL && cap == SENTINEL_HOST_MAX);
    size_t k = 0, n = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || p[i] == ' ') {
            if (n == 0 || k >= SW_FIELDS) return -1;
            f[k++][n] = '\0';
            n = 0;
            continue;
        }
        if (p[i] <= ' ' || p[i] > '~' || n + 1 >= cap || k >= SW_FIELDS) return -1;
        f[k][n++] = p[i];
    }
    return k == SW_FIELDS ? 0 : -1;
}

static bool sw_port_ok(const char *s) {
    CARBON_ASSERT(s != NULL);
    size_t n = strlen(s);
    if (n < 1 || n > 5) return false;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

int sentinel_watch_parse(const char *payload, size_t len, const char *master_name,
                         char *old_addr, char *new_addr, size_t addrlen) {
    CARBON_ASSERT(payload != NULL && master_name != NULL && old_addr != NULL && new_addr != NULL);
    CARBON_ASSERT(addrlen > 0);
    if (len == 0 || len > SENTINEL_WATCH_MESSAGE_MAX) return -1;
    char f[SW_FIELDS][SENTINEL_HOST_MAX];
    if (sw_fields(payload, len, f, SENTINEL_HOST_MAX) != 0) return -1;
    if (!sw_port_ok(f[2]) || !sw_port_ok(f[4])) return -1;
    if (strcmp(f[0], master_name) != 0) return 0;
    int a = snprintf(old_addr, addrlen, "%s:%s", f[1], f[2]);
    int b = snprintf(new_addr, addrlen, "%s:%s", f[3], f[4]);
    if (a < 0 || (size_t)a >= addrlen || b < 0 || (size_t)b >= addrlen) return -1;
    return 1;
}

/* Records new_addr as the primary; a change from a known one is a switch:
 * every store reconnects, the callback is told. */
static void sw_switched(sentinel_watch_t *w, const char *new_addr) {
    CARBON_ASSERT(w != NULL && new_addr != NULL);
    if (strcmp(w->known, new_addr) == 0) return;
    char old[SW_ADDR_MAX];
    snprintf(old, sizeof old, "%s", w->known);
    snprintf(w->known, sizeof w->known, "%s", new_addr);
    if (old[0] == '\0') return; /* the first answer: nothing switched */
    store_primary_switched();
    atomic_fetch_add(&w->switches, 1);
    if (w->on_switch != NULL) w->on_switch(w->arg, w->cfg.master_name, old, new_addr);
}

/* Asks Sentinel i for the primary now (a switch missed while unsubscribed):
 * 0, or -1 if it did not answer with an address. */
static int sw_ask(sentinel_watch_t *w, size_t i) {
    CARBON_ASSERT(w != NULL && i < w->cfg.sentinels_n);
    char host[SENTINEL_HOST_MAX], why[128], addr[SW_ADDR_MAX];
    int port = 0;
    if (sentinel_ask(w->cfg.sentinel_host[i], w->cfg.sentinel_port[i], w->cfg.master_name,
                     w->cfg.connect_timeout_ms, host, sizeof host, &port, why, sizeof why) != 0)
        return -1;
    snprintf(addr, sizeof addr, "%s:%d", host, port);
    sw_switched(w, addr);
    return 0;
}

static long long sw_now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Connects to Sentinel i and subscribes to +switch-master: the context, or NULL. */
static redisContext *sw_subscribe(const sentinel_watch_t *w, size_t i) {
    CARBON_ASSERT(w != NULL && i < w->cfg.sentinels_n);
    int ms = w->cfg.connect_timeout_ms;
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(w->cfg.sentinel_host[i], w->cfg.sentinel_port[i], tv);
    if (c == NULL) return NULL;
    if (c->err != 0 || redisSetTimeout(c, tv) != REDIS_OK) {
        redisFree(c);
        return NULL;
    }
    redisReply *r = redisCommand(c, "SUBSCRIBE +switch-master");
    bool ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 3;
    if (r != NULL) freeReplyObject(r);
    if (!ok) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* One published message: ["message", "+switch-master", payload]. */
static void sw_message(sentinel_watch_t *w, const redisReply *r) {
    CARBON_ASSERT(w != NULL && r != NULL);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) return;
    const redisReply *kind = r->element[0], *payload = r->element[2];
    if (kind->type != REDIS_REPLY_STRING || kind->len != 7 || memcmp(kind->str, "message", 7) != 0 ||
        payload->type != REDIS_REPLY_STRING)
        return;
    char old_addr[SW_ADDR_MAX], new_addr[SW_ADDR_MAX];
    if (sentinel_watch_parse(payload->str, payload->len, w->cfg.master_name, old_addr, new_addr,
                             sizeof new_addr) == 1)
        sw_switched(w, new_addr);
}

/* Reads messages from Sentinel i's connection c until stop, an error, end
 * of file, or a periodic ask that this Sentinel no longer answers (a frozen
 * Sentinel would otherwise keep a silent subscription). */
static void sw_listen(sentinel_watch_t *w, redisContext *c, size_t i) {
    CARBON_ASSERT(w != NULL && c != NULL && i < w->cfg.sentinels_n);
    long long asked_ms = sw_now_ms();
    while (!atomic_load(&w->stop)) {
        if (sw_now_ms() - asked_ms >= SENTINEL_WATCH_ASK_MS) {
            if (sw_ask(w, i) != 0) return;
            asked_ms = sw_now_ms();
        }
        struct pollfd p = {.fd = c->fd, .events = POLLIN, .revents = 0};
        int n = poll(&p, 1, SENTINEL_WATCH_POLL_MS);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return;
        if (n == 0) continue;
        if (redisBufferRead(c) != REDIS_OK) return;
        void *reply = NULL;
        while (redisGetReplyFromReader(c, &reply) == REDIS_OK && reply != NULL) {
            sw_message(w, reply);
            freeReplyObject(reply);
            reply = NULL;
        }
        if (c->err != 0) return;
    }
}

/* Sleeps ms in steps of at most the poll bound, returning early on stop. */
static void sw_sleep_ms(sentinel_watch_t *w, int ms) {
    CARBON_ASSERT(w != NULL && ms >= 0);
    while (ms > 0 && !atomic_load(&w->stop)) {
        int step = ms < SENTINEL_WATCH_POLL_MS ? ms : SENTINEL_WATCH_POLL_MS;
        struct timespec t = {.tv_sec = 0, .tv_nsec = (long)step * 1000000L};
        nanosleep(&t, NULL);
        ms -= step;
    }
}

static void *sw_main(void *arg) {
    sentinel_watch_t *w = arg;
    CARBON_ASSERT(w != NULL && w->cfg.sentinels_n >= 1);
    int initial = w->cfg.reconnect_backoff_ms_initial;
    if (initial < SENTINEL_WATCH_BACKOFF_MS_MIN) initial = SENTINEL_WATCH_BACKOFF_MS_MIN;
    int cap = w->cfg.reconnect_backoff_ms_max < initial ? initial : w->cfg.reconnect_backoff_ms_max;
    int backoff_ms = initial;
    while (!atomic_load(&w->stop)) {
        size_t i = w->next;
        w->next = (w->next + 1) % w->cfg.sentinels_n;
        redisContext *c = sw_subscribe(w, i);
        if (c != NULL) {
            backoff_ms = initial;
            w->next = i; /* stay with a Sentinel that answered */
            (void)sw_ask(w, i); /* after SUBSCRIBE: no switch falls between the two */
            sw_listen(w, c, i);
            redisFree(c);
            w->next = (i + 1) % w->cfg.sentinels_n;
        }
        sw_sleep_ms(w, backoff_ms);
        backoff_ms = backoff_ms * 2 > cap ? cap : backoff_ms * 2;
    }
    return NULL;
}

sentinel_watch_t *sentinel_watch_start(const store_config_t *cfg, sentinel_watch_fn on_switch,
                                       void *arg, char *err, size_t errlen) {
    CARBON_ASSERT(cfg != NULL && cfg->sentinels_n >= 1 && cfg->sentinels_n <= STORE_SENTINELS_MAX);
    sentinel_watch_t *w = calloc(1, sizeof *w);
    if (w == NULL) {
        if (err != NULL && errlen > 0) snprintf(err, errlen, "sentinel watch: out of memory");
        return NULL;
    }
    w->cfg = *cfg;
    w->on_switch = on_switch;
    w->arg = arg;
    atomic_init(&w->stop, false);
    atomic_init(&w->switches, 0);
    int rc = pthread_create(&w->thread, NULL, sw_main, w);
    if (rc != 0) {
        if (err != NULL && errlen > 0) snprintf(err, errlen, "sentinel watch: thread: %s", strerror(rc));
        free(w);
        return NULL;
    }
    return w;
}

void sentinel_watch_stop(sentinel_watch_t *w) {
    if (w == NULL) return;
    atomic_store(&w->stop, true);
    pthread_join(w->thread, NULL);
    free(w);
}

uint64_t sentinel_watch_switches(const sentinel_watch_t *w) {
    CARBON_ASSERT(w != NULL);
    return atomic_load(&((sentinel_watch_t *)w)->switches);
}
