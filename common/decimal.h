/* decimal.h - integers to decimal text without printf (issue 16): the
 * gateway writes a number into every script argument and every netstring
 * of an audit entry it integrates, and snprintf's format machinery was a
 * tenth of its CPU there. The same digits as "%" PRIu64 / PRId64: no sign
 * for 0 and positives, no leading zeros. None allocates. */
#ifndef COMMON_DECIMAL_H
#define COMMON_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

/* The buffer size, with the NUL, that any 64-bit integer needs:
 * "-9223372036854775808" is 20 characters. */
#define DECIMAL_SIZE 21

/* Writes v in decimal and a NUL into out[0..DECIMAL_SIZE). Returns the
 * number of digits (1..20). */
size_t decimal_u64(char out[DECIMAL_SIZE], uint64_t v);

/* Writes v in decimal (a '-' first if negative) and a NUL into
 * out[0..DECIMAL_SIZE). Returns the length (1..20). */
size_t decimal_i64(char out[DECIMAL_SIZE], int64_t v);

#endif
