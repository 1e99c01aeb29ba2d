/* test_hex.c - the one hex codec (common/hex.h). */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "common/hex.h"

Test(hex, encodes_lowercase) {
    const unsigned char b[] = {0x00, 0x01, 0xab, 0xcd, 0xef, 0xff, 0x10, 0x9a};
    char out[HEX_ENCODED_SIZE(sizeof b)];
    cr_assert_eq(hex_encode(b, sizeof b, out, sizeof out), 16);
    cr_assert_str_eq(out, "0001abcdefff109a");
    cr_assert_eq(hex_encode(NULL, 0, out, 1), 0, "no bytes: the empty string");
    cr_assert_str_eq(out, "");
}

Test(hex, round_trip_of_every_byte) {
    unsigned char b[256], back[256];
    for (int i = 0; i < 256; i++) b[i] = (unsigned char)i;
    char text[HEX_ENCODED_SIZE(256)];
    cr_assert_eq(hex_encode(b, sizeof b, text, sizeof text), 512);
    cr_assert_eq(hex_decode(text, 512, back, sizeof back), 256);
    cr_assert_eq(memcmp(b, back, sizeof b), 0);
}

Test(hex, output_limits) {
    const unsigned char b[4] = {1, 2, 3, 4};
    char out[9];
    memset(out, 'x', sizeof out);
    cr_assert_eq(hex_encode(b, 4, out, 8), -1, "needs 9 bytes with the NUL");
    cr_assert_str_eq(out, "", "a refused encoding leaves the empty string");
    cr_assert_eq(hex_encode(b, 4, out, 9), 8);
    cr_assert_str_eq(out, "01020304");
    cr_assert_eq(hex_encode(b, 1, out, 0), -1, "no room at all: nothing written");
    unsigned char d[2];
    cr_assert_eq(hex_decode("010203", 6, d, sizeof d), -1, "3 bytes do not fit in 2");
    cr_assert_eq(hex_decode("0102", 4, d, sizeof d), 2);
    cr_assert(d[0] == 1 && d[1] == 2);
}

Test(hex, limit_on_length) {
    size_t n = HEX_BYTES_MAX + 1;
    unsigned char *b = calloc(n, 1);
    char *text = malloc(HEX_ENCODED_SIZE(n));
    cr_assert(b != NULL && text != NULL);
    cr_assert_eq(hex_encode(b, n, text, HEX_ENCODED_SIZE(n)), -1);
    cr_assert_eq(hex_encode(b, n - 1, text, HEX_ENCODED_SIZE(n)), (int)(2 * (n - 1)));
    cr_assert_eq(hex_decode(text, 2 * (n - 1), b, n), (int)(n - 1));
    memset(text, '0', 2 * n);
    cr_assert_eq(hex_decode(text, 2 * n, b, n), -1, "more than HEX_BYTES_MAX");
    free(b);
    free(text);
}

Test(hex, odd_length_refused) {
    unsigned char d[4];
    cr_assert_eq(hex_decode("abc", 3, d, sizeof d), -1);
    cr_assert_eq(hex_decode("a", 1, d, sizeof d), -1);
    cr_assert_eq(hex_decode("", 0, d, sizeof d), 0);
}

Test(hex, bad_digits_refused) {
    unsigned char d[4];
    const char *bad[] = {"0g", "g0", "0 ", " 0", "-1", "0x", "zz", "0:", "/0", "`0", "a\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(hex_decode(bad[i], 2, d, sizeof d), -1, "'%s'", bad[i]);
        cr_assert_eq(hex_is_lower(bad[i], 2), 0, "'%s'", bad[i]);
    }
    cr_assert_eq(hex_decode("0\0", 2, d, sizeof d), -1, "a NUL is not a digit");
}

Test(hex, uppercase_refused_everywhere) {
    /* Every caller wants one spelling per value: ids, hashes, digests, keys. */
    unsigned char d[4];
    cr_assert_eq(hex_decode("AB", 2, d, sizeof d), -1);
    cr_assert_eq(hex_decode("aB", 2, d, sizeof d), -1);
    cr_assert_eq(hex_is_lower("ABCDEF", 6), 0);
    cr_assert_eq(hex_is_lower("abcdef0123456789", 16), 1);
    cr_assert_eq(hex_is_lower_of_len("0123456789ABCDEF", 16), 0);
}

Test(hex, exact_length_of_a_string) {
    cr_assert_eq(hex_is_lower_of_len("00ff", 4), 1);
    cr_assert_eq(hex_is_lower_of_len("00ff", 3), 0, "longer than asked");
    cr_assert_eq(hex_is_lower_of_len("00f", 4), 0, "shorter than asked");
    cr_assert_eq(hex_is_lower_of_len("", 0), 1);
    cr_assert_eq(hex_is_lower_of_len("0", 0), 0);
    cr_assert_eq(hex_is_lower("", 0), 1);
}
