/* test_decimal.c - integers to decimal text (common/decimal.h): the same
 * text as printf's "%" PRIu64 / PRId64, at the edges and over a sweep. */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/decimal.h"

static void same_as_printf_u64(uint64_t v) {
    char want[32], got[DECIMAL_SIZE];
    int k = snprintf(want, sizeof want, "%" PRIu64, v);
    cr_assert_eq(decimal_u64(got, v), (size_t)k, "%s", want);
    cr_assert_str_eq(got, want);
}

static void same_as_printf_i64(int64_t v) {
    char want[32], got[DECIMAL_SIZE];
    int k = snprintf(want, sizeof want, "%" PRId64, v);
    cr_assert_eq(decimal_i64(got, v), (size_t)k, "%s", want);
    cr_assert_str_eq(got, want);
}

Test(decimal, edges) {
    const uint64_t u[] = {0, 1, 9, 10, 99, 100, 1125899906842623u, UINT64_MAX / 10, UINT64_MAX - 1,
                          UINT64_MAX};
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) same_as_printf_u64(u[i]);
    const int64_t s[] = {0, 1, -1, 9, -9, 10, -10, INT64_MAX, INT64_MIN, INT64_MIN + 1};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) same_as_printf_i64(s[i]);
    char out[DECIMAL_SIZE];
    cr_assert_eq(decimal_i64(out, INT64_MIN), 20);
    cr_assert_str_eq(out, "-9223372036854775808");
}

Test(decimal, every_power_of_ten_and_its_neighbours) {
    uint64_t p = 1;
    for (int i = 0; i < 20; i++) {
        same_as_printf_u64(p - 1);
        same_as_printf_u64(p);
        same_as_printf_u64(p + 1);
        same_as_printf_i64(-(int64_t)(p % (uint64_t)INT64_MAX));
        if (i < 19) p *= 10;
    }
}

Test(decimal, a_sweep) {
    uint64_t v = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 100000; i++) {
        v ^= v << 13, v ^= v >> 7, v ^= v << 17;
        same_as_printf_u64(v >> (i % 64));
        same_as_printf_i64((int64_t)v);
    }
}
