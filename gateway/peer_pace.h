/* peer_pace.h - the calling side of a peer's request rate (DESIGN §6): this
 * gateway keeps its Federation calls to a peer within the requests_per_s the
 * peer announces in Hello (PeerLimits), instead of sending them as fast as
 * it can and being refused PEER_RATE_LIMITED (gateway/peer_rate.h), which
 * costs the engine a backoff of 50 ms per refusal and leaves Decides
 * unacknowledged until recovery re-sends them.
 *
 * GCRA (virtual scheduling) in integer microseconds, no floating point: in
 * the long run at most per_s calls a second, and a burst of half the peer's
 * bucket (which holds per_s), leaving the other half to this region's other
 * gateways and to calls made outside the pace (the Hello at start). While a
 * caller waits for its slot, the engine's queue gathers more legs, so a
 * limited peer gets fewer, larger batches. Thread-safe. */
#ifndef GATEWAY_PEER_PACE_H
#define GATEWAY_PEER_PACE_H

#include <stdint.h>

#define PEER_PACE_WAIT_US_MAX 10000000u /* a reservation never waits longer (10 s) */

typedef struct peer_pace peer_pace_t;

/* A pace with no rate (calls are not held back) until peer_pace_set_rate.
 * NULL on allocation failure. */
peer_pace_t *peer_pace_create(void);

/* Frees p (NULL: no-op). */
void peer_pace_destroy(peer_pace_t *p);

/* Sets the peer's announced requests per second; 0 (unknown, or an older
 * peer) stops pacing. A new rate applies from the next reservation on. */
void peer_pace_set_rate(peer_pace_t *p, uint32_t per_s);

/* The rate set last (0: none). */
uint32_t peer_pace_rate(peer_pace_t *p);

/* Reserves the slot of one call made at now_us or later (a monotonic clock)
 * and returns how many microseconds from now_us the caller must wait before
 * making it: 0 when within the rate and burst, at most
 * PEER_PACE_WAIT_US_MAX. */
uint64_t peer_pace_reserve(peer_pace_t *p, uint64_t now_us);

#endif
