/* fuzz_convert.c - the exact conversions of adapters/convert.h against an
 * independent unsigned __int128 reference, on every input (DESIGN §7):
 *
 *   conv_quote(g, num, den, unit), when it succeeds:
 *     credited + discount + remainder == requested, debited == credited + discount
 *     credited % unit == 0, credited > 0, debited <= requested
 *     credited * den <= debited * num            (debited buys credited)
 *     (debited - 1) * num < credited * den       (debited is the least)
 *     (credited + unit) * den > requested * num  (credited is the most; checked
 *                                                as g*num - c*den < unit*den, which
 *                                                cannot overflow 128 bits)
 *   and it fails exactly when it must: EINVAL for a zero or r > 1, ETOO_SMALL
 *   when not one unit results; conv_quote_verify accepts its result and
 *   rejects every neighbour; any quote conv_quote_verify accepts is the one
 *   conv_quote computes.
 *   conv_issue_g, conv_units_to_g: the reference value, or EOVERFLOW when it
 *   does not fit 64 bits (never a wrapped value), outputs untouched on error.
 *   conv_g_to_units: units * unit + remainder == amount, remainder < unit.
 *
 * Input: values of 9 bytes each (a shift byte, then 8 little-endian bytes
 * shifted right by it, so small and huge magnitudes are equally likely);
 * missing bytes are zero. */
#include "tests/fuzz/fuzz_common.h"

#include "adapters/convert.h"

#include <string.h>

typedef unsigned __int128 u128;
#define U(x) ((unsigned long long)(x))

static uint64_t take(const uint8_t **data, size_t *size) {
    uint8_t raw[9] = {0};
    size_t n = *size < 9 ? *size : 9;
    memcpy(raw, *data, n);
    *data += n;
    *size -= n;
    uint64_t v = 0;
    for (int i = 8; i >= 1; i--) v = v << 8 | raw[i];
    return v >> (raw[0] & 63);
}

static void check_quote(uint64_t g, uint64_t num, uint64_t den, uint64_t unit) {
    conv_quote_t q;
    memset(&q, 0xA5, sizeof q);
    conv_quote_t untouched = q;
    int rc = conv_quote(g, num, den, unit, &q);
    int invalid = g == 0 || unit == 0 || num == 0 || den == 0 || num > den;
    if (invalid) {
        FUZZ_CHECK(rc == CONV_EINVAL, "quote(%llu, %llu/%llu, %llu): rc %d, want EINVAL", U(g),
                   U(num), U(den), U(unit), rc);
        FUZZ_CHECK(memcmp(&q, &untouched, sizeof q) == 0, "output written on error");
        return;
    }
    u128 units = (u128)g * num / ((u128)den * unit);
    if (units == 0) {
        FUZZ_CHECK(rc == CONV_ETOO_SMALL, "quote(%llu, %llu/%llu, %llu): rc %d, want TOO_SMALL",
                   U(g), U(num), U(den), U(unit), rc);
        FUZZ_CHECK(memcmp(&q, &untouched, sizeof q) == 0, "output written on error");
        return;
    }
    FUZZ_CHECK(rc == CONV_OK, "quote(%llu, %llu/%llu, %llu): rc %d", U(g), U(num), U(den),
               U(unit), rc);
    u128 c = q.credited_g, d = q.debited_g;
    FUZZ_CHECK(q.requested_g == g, "requested %llu != %llu", U(q.requested_g), U(g));
    FUZZ_CHECK(c == units * unit, "credited %llu, want %llu units of %llu", U(c), U(units), U(unit));
    FUZZ_CHECK((u128)q.credited_g + q.discount_g + q.remainder_g == g,
               "credited %llu + discount %llu + remainder %llu != requested %llu", U(c),
               U(q.discount_g), U(q.remainder_g), U(g));
    FUZZ_CHECK((u128)q.credited_g + q.discount_g == d, "debited %llu != credited + discount", U(d));
    FUZZ_CHECK(c % unit == 0 && c > 0, "credited %llu not whole units of %llu", U(c), U(unit));
    FUZZ_CHECK(d <= g, "debited %llu > requested %llu", U(d), U(g));
    FUZZ_CHECK(c * den <= d * num, "debited %llu does not buy credited %llu at %llu/%llu", U(d),
               U(c), U(num), U(den));
    FUZZ_CHECK(d > 0 && (d - 1) * num < c * den, "debited %llu is not the least for %llu", U(d),
               U(c));
    /* (c + unit) * den > g * num, without the left side's 2^128 overflow
     * (c * den <= d * num <= g * num, checked above) */
    FUZZ_CHECK((u128)g * num - c * den < (u128)unit * den, "credited %llu is not the most of %llu",
               U(c), U(g));
    FUZZ_CHECK(conv_quote_verify(&q, num, den, unit) == CONV_OK, "verify rejects its own quote");
    /* neighbours: one more or less credited unit, one more or less debited gram,
     * with the sums kept consistent, are not the quote */
    conv_quote_t n = q;
    if (q.remainder_g > 0 && q.discount_g < UINT64_MAX) {
        n.discount_g++, n.debited_g++, n.remainder_g--;
        FUZZ_CHECK(conv_quote_verify(&n, num, den, unit) != CONV_OK, "verify accepts debited+1");
        n = q;
    }
    if (q.discount_g > 0) {
        n.discount_g--, n.debited_g--, n.remainder_g++;
        FUZZ_CHECK(conv_quote_verify(&n, num, den, unit) != CONV_OK, "verify accepts debited-1");
        n = q;
    }
    if (q.credited_g >= unit) {
        n.credited_g -= unit, n.debited_g -= unit, n.remainder_g += unit;
        FUZZ_CHECK(conv_quote_verify(&n, num, den, unit) != CONV_OK, "verify accepts a unit less");
        n = q;
    }
    if (q.remainder_g >= unit) {
        n.credited_g += unit, n.debited_g += unit, n.remainder_g -= unit;
        FUZZ_CHECK(conv_quote_verify(&n, num, den, unit) != CONV_OK, "verify accepts a unit more");
    }
}

/* Any quote that conv_quote_verify accepts is the one conv_quote computes. */
static void check_verify(const conv_quote_t *q, uint64_t num, uint64_t den, uint64_t unit) {
    if (conv_quote_verify(q, num, den, unit) != CONV_OK) return;
    conv_quote_t ref;
    int rc = conv_quote(q->requested_g, num, den, unit, &ref);
    FUZZ_CHECK(rc == CONV_OK && memcmp(&ref, q, sizeof ref) == 0,
               "verify accepts %llu/%llu/%llu/%llu/%llu at %llu/%llu unit %llu; conv_quote "
               "(rc %d) gives %llu/%llu/%llu/%llu/%llu",
               U(q->requested_g), U(q->credited_g), U(q->debited_g), U(q->discount_g),
               U(q->remainder_g), U(num), U(den), U(unit), rc, U(ref.requested_g),
               U(ref.credited_g), U(ref.debited_g), U(ref.discount_g), U(ref.remainder_g));
}

static void check_issue(uint64_t qty, uint64_t num, uint64_t den) {
    uint64_t out = 0x5A5A5A5A5A5A5A5Aull;
    int rc = conv_issue_g(qty, num, den, &out);
    if (qty == 0 || num == 0 || den == 0) {
        FUZZ_CHECK(rc == CONV_EINVAL && out == 0x5A5A5A5A5A5A5A5Aull, "issue: rc %d", rc);
        return;
    }
    u128 want = (u128)qty * num / ((u128)den * CONV_QUANTITY_SCALE);
    if (want > UINT64_MAX) {
        FUZZ_CHECK(rc == CONV_EOVERFLOW && out == 0x5A5A5A5A5A5A5A5Aull,
                   "issue(%llu, %llu/%llu): rc %d out %llu, want EOVERFLOW", U(qty), U(num), U(den),
                   rc, U(out));
        return;
    }
    FUZZ_CHECK(rc == CONV_OK && out == want, "issue(%llu, %llu/%llu): rc %d out %llu want %llu",
               U(qty), U(num), U(den), rc, U(out), U(want));
}

static void check_units(uint64_t units, uint64_t unit_g) {
    uint64_t g = 0x5A5A5A5A5A5A5A5Aull;
    int rc = conv_units_to_g(units, unit_g, &g);
    if (unit_g == 0) {
        FUZZ_CHECK(rc == CONV_EINVAL && g == 0x5A5A5A5A5A5A5A5Aull, "units_to_g: rc %d", rc);
    } else if ((u128)units * unit_g > UINT64_MAX) {
        FUZZ_CHECK(rc == CONV_EOVERFLOW && g == 0x5A5A5A5A5A5A5A5Aull,
                   "units_to_g(%llu, %llu): rc %d g %llu, want EOVERFLOW", U(units), U(unit_g), rc,
                   U(g));
    } else {
        FUZZ_CHECK(rc == CONV_OK && g == units * unit_g, "units_to_g(%llu, %llu): rc %d g %llu",
                   U(units), U(unit_g), rc, U(g));
    }
    uint64_t u = 7, rem = 7;
    rc = conv_g_to_units(units, unit_g, &u, &rem);
    if (unit_g == 0) {
        FUZZ_CHECK(rc == CONV_EINVAL && u == 7 && rem == 7, "g_to_units: rc %d", rc);
    } else {
        FUZZ_CHECK(rc == CONV_OK && (u128)u * unit_g + rem == units && rem < unit_g,
                   "g_to_units(%llu, %llu) = %llu rem %llu", U(units), U(unit_g), U(u), U(rem));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint64_t g = take(&data, &size), num = take(&data, &size), den = take(&data, &size);
    uint64_t unit = take(&data, &size);
    check_quote(g, num, den, unit);
    check_quote(g, num, den > num ? den : num, unit ? unit : 1); /* a valid ratio too */
    check_issue(g, num, den);
    check_units(g, unit);
    /* a quote straight from the input */
    conv_quote_t q = {.requested_g = g, .credited_g = take(&data, &size)};
    q.debited_g = take(&data, &size);
    q.discount_g = take(&data, &size);
    q.remainder_g = take(&data, &size);
    check_verify(&q, num, den, unit);
    /* and one consistent by construction, so verify's deeper checks are reached */
    if (q.credited_g <= q.debited_g && q.debited_g <= g) {
        conv_quote_t c = {g, q.credited_g, q.debited_g, q.debited_g - q.credited_g,
                          g - q.debited_g};
        check_verify(&c, num, den, unit);
    }
    return 0;
}
