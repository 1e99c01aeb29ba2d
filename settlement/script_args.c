/* script_args.c - see script_args.h. */
#include "settlement/script_args.h"

#include "common/carbon_assert.h"
#include "common/decimal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for len more bytes and their NUL in a->bytes. */
static void script_args_reserve(script_args_t *a, size_t len) {
    CARBON_ASSERT(a->used <= a->bytes_cap && len < SCRIPT_ARGS_BYTES_MAX - a->used);
    if (a->used + len + 1 <= a->bytes_cap) return;
    size_t cap = a->bytes_cap ? a->bytes_cap : 4096;
    while (cap < a->used + len + 1) cap *= 2;
    a->bytes = realloc(a->bytes, cap);
    if (a->bytes == NULL) abort();
    a->bytes_cap = cap;
}

void script_args_add(script_args_t *a, const char *s, size_t len) {
    CARBON_ASSERT(a != NULL && (s != NULL || len == 0));
    CARBON_ASSERT(a->n <= a->cap && a->n < STORE_ARGS_MAX);
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 32;
        a->off = realloc(a->off, a->cap * sizeof *a->off);
        a->len = realloc(a->len, a->cap * sizeof *a->len);
        if (a->off == NULL || a->len == NULL) abort();
    }
    script_args_reserve(a, len);
    if (len > 0) memcpy(a->bytes + a->used, s, len);
    a->bytes[a->used + len] = '\0';
    a->off[a->n] = a->used;
    a->len[a->n] = len;
    a->used += len + 1;
    a->n++;
}

void script_args_str(script_args_t *a, const char *s) {
    CARBON_ASSERT(s != NULL);
    script_args_add(a, s, strlen(s));
}

void script_args_u64(script_args_t *a, uint64_t v) {
    char buf[DECIMAL_SIZE];
    script_args_add(a, buf, decimal_u64(buf, v));
}

const char **script_args_argv(const script_args_t *a) {
    CARBON_ASSERT(a != NULL && a->n <= a->cap);
    const char **argv = malloc((a->n ? a->n : 1) * sizeof *argv);
    if (argv == NULL) abort();
    for (size_t i = 0; i < a->n; i++) argv[i] = a->bytes + a->off[i];
    return argv;
}

void script_args_free(script_args_t *a) {
    CARBON_ASSERT(a != NULL && a->n <= a->cap);
    free(a->off);
    free(a->len);
    free(a->bytes);
    memset(a, 0, sizeof *a);
}

int script_args_run(store_t *st, const char *name, script_args_t *a, int want_array, redisReply **reply,
                    char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && name != NULL && a != NULL && reply != NULL);
    CARBON_ASSERT(a->n <= STORE_ARGS_MAX);
    int idx = store_script_index(name);
    CARBON_ASSERT(idx >= 0); /* every script run is embedded */
    const char **argv = script_args_argv(a);
    int rc = store_eval(st, idx, 0, (int)a->n, argv, a->len, reply, err, errlen);
    free(argv);
    script_args_free(a);
    if (rc != STORE_OK) {
        *reply = NULL;
        return -1;
    }
    if (want_array && (*reply)->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "%s: unexpected reply type %d", name, (*reply)->type);
        freeReplyObject(*reply);
        *reply = NULL;
        return -1;
    }
    return 0;
}

const char *script_reply_str(const redisReply *r, size_t i) {
    CARBON_ASSERT(r != NULL && r->type == REDIS_REPLY_ARRAY);
    if (i >= r->elements) return "";
    const redisReply *e = r->element[i];
    if (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS) return e->str;
    return "";
}

uint64_t script_reply_u64(const redisReply *r, size_t i) {
    CARBON_ASSERT(r != NULL && r->type == REDIS_REPLY_ARRAY);
    if (i >= r->elements) return 0;
    const redisReply *e = r->element[i];
    if (e->type == REDIS_REPLY_INTEGER) return e->integer < 0 ? 0 : (uint64_t)e->integer;
    if (e->type != REDIS_REPLY_STRING || e->len == 0 || e->len > 20) return 0;
    uint64_t v = 0;
    for (size_t k = 0; k < e->len; k++) {
        if (e->str[k] < '0' || e->str[k] > '9') return 0;
        uint64_t d = (uint64_t)(e->str[k] - '0');
        if (v > (UINT64_MAX - d) / 10) return 0;
        v = v * 10 + d;
    }
    return v;
}
