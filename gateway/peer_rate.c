/* peer_rate.c - per-peer token buckets (peer_rate.h). */
#include "gateway/peer_rate.h"
#include "common/carbon_assert.h"
#include "common/region.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char region[CARBON_REGION_SIZE];
    uint64_t milli;   /* tokens, in thousandths of a request */
    uint64_t last_ms; /* when milli was last refilled */
} peer_bucket_t;

struct peer_rate {
    pthread_mutex_t lock;
    uint64_t per_s;
    peer_bucket_t b[PEER_RATE_REGIONS_MAX];
    size_t n;
};

peer_rate_t *peer_rate_create(uint32_t per_s) {
    CARBON_ASSERT(per_s >= 1);
    peer_rate_t *r = calloc(1, sizeof *r);
    if (r == NULL) return NULL;
    pthread_mutex_init(&r->lock, NULL);
    r->per_s = per_s;
    return r;
}

void peer_rate_destroy(peer_rate_t *r) {
    if (r == NULL) return;
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* region's bucket (made full at its first use); r->lock held. */
static peer_bucket_t *peer_rate_bucket(peer_rate_t *r, const char *region, uint64_t now_ms) {
    CARBON_ASSERT(r->n <= PEER_RATE_REGIONS_MAX);
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->b[i].region, region) == 0) return &r->b[i];
    if (r->n == PEER_RATE_REGIONS_MAX) return &r->b[PEER_RATE_REGIONS_MAX - 1];
    peer_bucket_t *b = &r->b[r->n++];
    size_t len = strnlen(region, sizeof b->region - 1);
    memcpy(b->region, region, len);
    b->region[len] = '\0';
    b->milli = r->per_s * 1000u;
    b->last_ms = now_ms;
    return b;
}

int peer_rate_take(peer_rate_t *r, const char *region, uint64_t now_ms) {
    CARBON_ASSERT(r != NULL && region != NULL);
    pthread_mutex_lock(&r->lock);
    peer_bucket_t *b = peer_rate_bucket(r, region, now_ms);
    uint64_t cap = r->per_s * 1000u;
    if (now_ms > b->last_ms) {
        uint64_t elapsed_ms = now_ms - b->last_ms;
        if (elapsed_ms > 1000) elapsed_ms = 1000; /* a full bucket at most */
        b->milli += elapsed_ms * r->per_s;        /* per_s requests per 1000 ms */
        if (b->milli > cap) b->milli = cap;
        b->last_ms = now_ms;
    }
    int ok = b->milli >= 1000;
    if (ok) b->milli -= 1000;
    pthread_mutex_unlock(&r->lock);
    return ok;
}
