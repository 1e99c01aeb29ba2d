/* decimal.c - integers to decimal text (decimal.h). */
#include "common/decimal.h"

#include "common/carbon_assert.h"

#include <string.h>

size_t decimal_u64(char out[DECIMAL_SIZE], uint64_t v) {
    CARBON_ASSERT(out != NULL);
    char rev[DECIMAL_SIZE];
    size_t n = 0;
    do {
        rev[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    CARBON_ASSERT(n >= 1 && n < DECIMAL_SIZE);
    for (size_t i = 0; i < n; i++) out[i] = rev[n - 1 - i];
    out[n] = '\0';
    return n;
}

size_t decimal_i64(char out[DECIMAL_SIZE], int64_t v) {
    CARBON_ASSERT(out != NULL);
    if (v >= 0) return decimal_u64(out, (uint64_t)v);
    /* the magnitude without overflow, INT64_MIN included (19 digits) */
    char digits[DECIMAL_SIZE];
    size_t n = decimal_u64(digits, (uint64_t)(-(v + 1)) + 1u);
    CARBON_ASSERT(n + 1 < DECIMAL_SIZE);
    out[0] = '-';
    memcpy(out + 1, digits, n + 1);
    return n + 1;
}
