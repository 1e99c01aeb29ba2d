/* sentinel.c - asking Redis Sentinel where the primary is; see sentinel.h. */
#include "settlement/sentinel.h"
#include "common/carbon_assert.h"

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

__attribute__((format(printf, 3, 4)))
static void sentinel_errf(char *err, size_t errlen, const char *fmt, ...) {
    if (err == NULL || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int sentinel_len_int(size_t len) { return len > 200 ? 200 : (int)len; }

/* A port number from a reply string of at most 5 digits: 1..65535, or -1. */
static int sentinel_port_parse(const redisReply *r) {
    CARBON_ASSERT(r != NULL);
    if (r->type != REDIS_REPLY_STRING || r->len < 1 || r->len > 5) return -1;
    int port = 0;
    for (size_t i = 0; i < (size_t)r->len; i++) {
        if (r->str[i] < '0' || r->str[i] > '9') return -1;
        port = port * 10 + (r->str[i] - '0');
    }
    return port >= 1 && port <= 65535 ? port : -1;
}

/* A host from a reply string: printable, no spaces, shorter than hostlen. */
static bool sentinel_host_ok(const redisReply *r, size_t hostlen) {
    CARBON_ASSERT(r != NULL && hostlen > 0);
    if (r->type != REDIS_REPLY_STRING || r->len < 1 || (size_t)r->len >= hostlen) return false;
    for (size_t i = 0; i < (size_t)r->len; i++) {
        if (r->str[i] <= ' ' || r->str[i] > '~') return false;
    }
    return true;
}

/* Reads the answer to get-master-addr-by-name into host_out/port_out. */
static int sentinel_addr_reply(const redisReply *r, const char *where, const char *master_name,
                               char *host_out, size_t hostlen, int *port_out, char *err,
                               size_t errlen) {
    CARBON_ASSERT(r != NULL && where != NULL && host_out != NULL && port_out != NULL);
    if (r->type == REDIS_REPLY_NIL) {
        sentinel_errf(err, errlen, "sentinel %s does not know master %s", where, master_name);
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        sentinel_errf(err, errlen, "sentinel %s: %.*s", where, sentinel_len_int(r->len), r->str);
        return -1;
    }
    int port = -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && sentinel_host_ok(r->element[0], hostlen))
        port = sentinel_port_parse(r->element[1]);
    if (port < 0) {
        sentinel_errf(err, errlen, "sentinel %s: get-master-addr-by-name %s: not an address",
                      where, master_name);
        return -1;
    }
    snprintf(host_out, hostlen, "%.*s", (int)r->element[0]->len, r->element[0]->str);
    *port_out = port;
    return 0;
}

int sentinel_ask(const char *host, int port, const char *master_name, int timeout_ms,
                 char *host_out, size_t hostlen, int *port_out, char *err, size_t errlen) {
    CARBON_ASSERT(host != NULL && master_name != NULL && host_out != NULL && port_out != NULL);
    CARBON_ASSERT(hostlen > 0 && timeout_ms >= 1 && timeout_ms <= SENTINEL_TIMEOUT_MS_MAX);
    char where[SENTINEL_HOST_MAX + 16];
    snprintf(where, sizeof where, "%s:%d", host, port);
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (c == NULL || c->err != 0) {
        sentinel_errf(err, errlen, "sentinel %s: %s", where, c != NULL ? c->errstr : "out of memory");
        if (c != NULL) redisFree(c);
        return -1;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        sentinel_errf(err, errlen, "sentinel %s: %s", where, c->errstr);
        redisFree(c);
        return -1;
    }
    const char *argv[3] = {"SENTINEL", "get-master-addr-by-name", master_name};
    size_t argvlen[3] = {8, 23, strlen(master_name)};
    redisReply *r = redisCommandArgv(c, 3, argv, argvlen);
    if (r == NULL) {
        sentinel_errf(err, errlen, "sentinel %s: %s", where, c->errstr[0] ? c->errstr : "no answer");
        redisFree(c);
        return -1;
    }
    int rc = sentinel_addr_reply(r, where, master_name, host_out, hostlen, port_out, err, errlen);
    freeReplyObject(r);
    redisFree(c);
    return rc;
}

int sentinel_role_reply(const redisReply *r, char *role, size_t rolelen) {
    CARBON_ASSERT(r != NULL && role != NULL && rolelen > 0);
    role[0] = '\0';
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != REDIS_REPLY_STRING)
        return -1;
    const redisReply *name = r->element[0];
    snprintf(role, rolelen, "%.*s", sentinel_len_int(name->len), name->str);
    return name->len == 6 && memcmp(name->str, "master", 6) == 0 ? 1 : 0;
}
