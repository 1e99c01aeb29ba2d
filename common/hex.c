/* hex.c - lowercase hex encoding and decoding (hex.h). */
#include "common/hex.h"
#include "common/carbon_assert.h"

#include <stdint.h>

CARBON_STATIC_ASSERT(HEX_ENCODED_SIZE((size_t)HEX_BYTES_MAX) <= (size_t)INT32_MAX,
                     "an encoded length fits the int hex_encode returns");

static const char hex_digits[] = "0123456789abcdef";

/* The value of the lowercase hex digit c, or -1. */
static int hex_value(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int hex_encode(const void *bytes, size_t n, char *out, size_t out_size) {
    CARBON_ASSERT(out != NULL);
    CARBON_ASSERT(bytes != NULL || n == 0);
    if (n > HEX_BYTES_MAX || out_size < HEX_ENCODED_SIZE(n)) {
        if (out_size > 0) out[0] = '\0';
        return -1;
    }
    const unsigned char *b = bytes;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex_digits[b[i] >> 4];
        out[2 * i + 1] = hex_digits[b[i] & 0xf];
    }
    out[2 * n] = '\0';
    return (int)(2 * n);
}

int hex_decode(const char *text, size_t len, void *out, size_t out_size) {
    CARBON_ASSERT(text != NULL || len == 0);
    CARBON_ASSERT(out != NULL || out_size == 0);
    if (len % 2 != 0 || len / 2 > out_size || len / 2 > HEX_BYTES_MAX) return -1;
    unsigned char *o = out;
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hex_value((unsigned char)text[2 * i]);
        int lo = hex_value((unsigned char)text[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        o[i] = (unsigned char)(hi << 4 | lo);
    }
    return (int)(len / 2);
}

int hex_is_lower(const char *text, size_t len) {
    CARBON_ASSERT(text != NULL || len == 0);
    for (size_t i = 0; i < len; i++)
        if (hex_value((unsigned char)text[i]) < 0) return 0;
    return 1;
}

int hex_is_lower_of_len(const char *s, size_t len) {
    CARBON_ASSERT(s != NULL);
    for (size_t i = 0; i < len; i++) /* a NUL is not a digit: stops at the end of s */
        if (hex_value((unsigned char)s[i]) < 0) return 0;
    return s[len] == '\0';
}
