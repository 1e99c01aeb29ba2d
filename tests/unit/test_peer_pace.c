/* test_peer_pace.c - pacing of the calls to a peer within its announced
 * requests_per_s (gateway/peer_pace.h), against the peer's own token bucket
 * (gateway/peer_rate.h) on one simulated clock. */
#include <criterion/criterion.h>

#include <stdint.h>

#include "gateway/peer_pace.h"
#include "gateway/peer_rate.h"

/* Sends calls as fast as the pace lets a caller that wants one every
 * gap_us, for secs simulated seconds, into the peer's bucket of per_s;
 * returns the refusals and the calls made (*made). */
static int refusals_at(uint32_t per_s, uint64_t gap_us, int secs, int *made) {
    peer_pace_t *pace = peer_pace_create();
    peer_rate_t *rate = peer_rate_create(per_s);
    cr_assert(pace != NULL && rate != NULL);
    peer_pace_set_rate(pace, per_s);
    uint64_t now_us = 5000000u, end_us = now_us + (uint64_t)secs * 1000000u;
    int refused = 0;
    *made = 0;
    while (now_us < end_us) {
        now_us += peer_pace_reserve(pace, now_us); /* the caller waits its slot */
        if (!peer_rate_take(rate, "CN-TJ", now_us / 1000u)) refused++;
        (*made)++;
        now_us += gap_us;
    }
    peer_pace_destroy(pace);
    peer_rate_destroy(rate);
    return refused;
}

Test(peer_pace, no_rate_no_wait) {
    peer_pace_t *p = peer_pace_create();
    cr_assert(p != NULL);
    for (uint64_t t = 0; t < 1000; t++) cr_assert_eq(peer_pace_reserve(p, t), 0);
    cr_assert_eq(peer_pace_rate(p), 0);
    peer_pace_destroy(p);
}

Test(peer_pace, burst_of_half_the_bucket_then_one_per_interval) {
    peer_pace_t *p = peer_pace_create();
    peer_pace_set_rate(p, 500); /* 2000 us apart, a burst of 250 */
    cr_assert_eq(peer_pace_rate(p), 500);
    uint64_t now_us = 1000000u;
    for (int i = 0; i < 250; i++) cr_assert_eq(peer_pace_reserve(p, now_us), 0, "call %d", i);
    cr_assert_eq(peer_pace_reserve(p, now_us), 2000, "the burst is spent: one interval");
    cr_assert_eq(peer_pace_reserve(p, now_us), 4000, "and the next one more");
    cr_assert_eq(peer_pace_reserve(p, now_us + 1000000u), 0, "a second later: room again");
    peer_pace_set_rate(p, 0);
    cr_assert_eq(peer_pace_reserve(p, now_us), 0, "rate 0: no pacing");
    peer_pace_destroy(p);
}

/* A peer announces any uint32 (untrusted): the largest paces nothing in
 * practice and does not wrap; the rate is the peer's own calls' business. */
Test(peer_pace, any_announced_rate_is_safe) {
    peer_pace_t *p = peer_pace_create();
    peer_pace_set_rate(p, UINT32_MAX);
    cr_assert_eq(peer_pace_rate(p), UINT32_MAX);
    for (int i = 0; i < 100000; i++) cr_assert_eq(peer_pace_reserve(p, 1000u), 0, "call %d", i);
    peer_pace_set_rate(p, 1000001u); /* an interval below 1 us rounds up to 1 */
    for (int i = 0; i < 1000; i++) cr_assert_eq(peer_pace_reserve(p, 1000u), 0);
    peer_pace_destroy(p);
}

Test(peer_pace, rate_one_is_one_a_second) {
    peer_pace_t *p = peer_pace_create();
    peer_pace_set_rate(p, 1);
    cr_assert_eq(peer_pace_reserve(p, 0), 0);
    cr_assert_eq(peer_pace_reserve(p, 0), 1000000u);
    cr_assert_eq(peer_pace_reserve(p, 1000000u), 1000000u);
    peer_pace_destroy(p);
}

/* A caller that wants a call every 1.9 ms (what one transfer in flight
 * makes: a Prepare and a Decide every 3.8 ms) against a peer allowing 500 a
 * second: paced, the peer refuses none of them, over 5 s. */
Test(peer_pace, the_peer_refuses_no_paced_call) {
    int made = 0;
    int refused = refusals_at(500, 1900, 5, &made);
    cr_expect_eq(refused, 0, "%d of %d paced calls refused", refused, made);
    cr_expect_geq(made, 5 * 500 - 10, "paced to the peer's rate: %d calls in 5 s", made);
    cr_expect_leq(made, 5 * 500 + 250 + 1, "not above rate and burst: %d calls in 5 s", made);
    for (uint32_t per_s = 1; per_s <= 100000; per_s *= 7) {
        refused = refusals_at(per_s, 0, 3, &made);
        cr_expect_eq(refused, 0, "rate %u: %d of %d refused", per_s, refused, made);
    }
}
