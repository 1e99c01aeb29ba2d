/* arena.h - a per-request pool: many small allocations that share one
 * lifetime (building a response message) are freed together. */
#ifndef GATEWAY_ARENA_H
#define GATEWAY_ARENA_H

#include <stddef.h>

#define ARENA_ALLOCS_MAX 1000000 /* allocations in one arena */

typedef struct {
    void **ptrs;
    size_t n, cap;
} arena_t;

/* Zeroed memory that lives until arena_free. Aborts when out of memory or
 * past ARENA_ALLOCS_MAX (a request that large is a bug: inputs are bounded). */
void *arena_alloc(arena_t *a, size_t size);
char *arena_strdup(arena_t *a, const char *s);
char *arena_printf(arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void arena_free(arena_t *a);

#endif
