/* peer_rate.h - per-peer request rate limit of the Federation service: a
 * token bucket per calling region (DESIGN §6, "every peer message is
 * untrusted input"). Each bucket holds at most per_s requests and refills at
 * per_s per second; integer arithmetic (milli-requests), no floating point.
 * Thread-safe: the server's workers share one limiter. */
#ifndef GATEWAY_PEER_RATE_H
#define GATEWAY_PEER_RATE_H

#include <stddef.h>
#include <stdint.h>

#define PEER_RATE_REGIONS_MAX 8 /* buckets; callers beyond that share the last one */

typedef struct peer_rate peer_rate_t;

/* A limiter allowing per_s (>= 1) requests per second per region, a burst
 * of as many. NULL on allocation failure. */
peer_rate_t *peer_rate_create(uint32_t per_s);

/* Frees r (NULL: no-op). */
void peer_rate_destroy(peer_rate_t *r);

/* Takes one request of region's bucket at now_ms (a monotonic clock).
 * Returns 1 if allowed, 0 if the bucket is empty (refuse the call). */
int peer_rate_take(peer_rate_t *r, const char *region, uint64_t now_ms);

#endif
