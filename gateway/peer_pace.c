/* peer_pace.c - GCRA pacing of the calls to one peer (peer_pace.h). */
#include "gateway/peer_pace.h"
#include "common/carbon_assert.h"

#include <pthread.h>
#include <stdlib.h>

struct peer_pace {
    pthread_mutex_t lock;
    uint32_t per_s;       /* 0: no pacing */
    uint64_t interval_us; /* 1e6 / per_s, rounded up: never faster than the peer allows */
    uint64_t tolerance_us;/* (burst - 1) * interval_us */
    uint64_t tat_us;      /* theoretical arrival time of the next call */
};

peer_pace_t *peer_pace_create(void) {
    peer_pace_t *p = calloc(1, sizeof *p);
    if (p == NULL) return NULL;
    pthread_mutex_init(&p->lock, NULL);
    return p;
}

void peer_pace_destroy(peer_pace_t *p) {
    if (p == NULL) return;
    pthread_mutex_destroy(&p->lock);
    free(p);
}

void peer_pace_set_rate(peer_pace_t *p, uint32_t per_s) {
    CARBON_ASSERT(p != NULL);
    pthread_mutex_lock(&p->lock);
    if (per_s != p->per_s) {
        p->per_s = per_s;
        /* in 64 bits: a peer may announce any uint32 (UINT32_MAX must not wrap) */
        p->interval_us = per_s > 0 ? (1000000ull + (uint64_t)per_s - 1u) / per_s : 0;
        uint64_t burst = per_s / 2 > 0 ? (uint64_t)per_s / 2 : 1; /* half the peer's bucket */
        p->tolerance_us = (burst - 1) * p->interval_us;
        CARBON_ASSERT(per_s == 0 || (p->interval_us >= 1 && p->interval_us <= 1000000u));
    }
    pthread_mutex_unlock(&p->lock);
}

uint32_t peer_pace_rate(peer_pace_t *p) {
    CARBON_ASSERT(p != NULL);
    pthread_mutex_lock(&p->lock);
    uint32_t per_s = p->per_s;
    pthread_mutex_unlock(&p->lock);
    return per_s;
}

uint64_t peer_pace_reserve(peer_pace_t *p, uint64_t now_us) {
    CARBON_ASSERT(p != NULL);
    pthread_mutex_lock(&p->lock);
    uint64_t wait_us = 0;
    if (p->per_s > 0) {
        /* The call conforms at tat - tolerance; it is sent then or now, and
         * the next one's tat moves one interval past the later of tat and now. */
        uint64_t base = p->tat_us > now_us ? p->tat_us : now_us;
        if (p->tat_us > now_us + p->tolerance_us) wait_us = p->tat_us - p->tolerance_us - now_us;
        if (wait_us > PEER_PACE_WAIT_US_MAX) {
            wait_us = PEER_PACE_WAIT_US_MAX; /* callers piled up: no longer, the peer may refuse */
        } else {
            p->tat_us = base + p->interval_us;
        }
    }
    pthread_mutex_unlock(&p->lock);
    CARBON_ASSERT(wait_us <= PEER_PACE_WAIT_US_MAX);
    return wait_us;
}
