/* arena.c - per-request allocation pool (arena.h). */
#include "gateway/arena.h"
#include "common/carbon_assert.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *arena_alloc(arena_t *a, size_t size) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        if (cap > ARENA_ALLOCS_MAX) abort();
        void **ptrs = realloc(a->ptrs, cap * sizeof *ptrs);
        if (ptrs == NULL) abort();
        a->ptrs = ptrs;
        a->cap = cap;
    }
    void *p = calloc(1, size > 0 ? size : 1);
    if (p == NULL) abort();
    a->ptrs[a->n++] = p;
    return p;
}

char *arena_strdup(arena_t *a, const char *s) {
    size_t len = strlen(s);
    char *p = arena_alloc(a, len + 1);
    memcpy(p, s, len);
    return p;
}

char *arena_printf(arena_t *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    CARBON_ASSERT(n >= 0);
    char *p = arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void arena_free(arena_t *a) {
    for (size_t i = 0; i < a->n; i++) free(a->ptrs[i]);
    free(a->ptrs);
    a->ptrs = NULL;
    a->n = a->cap = 0;
}
