/* base64.h - the standard base64 of RFC 4648 section 4 ("A-Za-z0-9+/", '='
 * padding), as signed notes and checkpoints write keys, hashes and
 * signatures (C2SP signed-note). Decoding is canonical only: padding is
 * required, the unused bits of the last character must be zero, and no
 * whitespace or other character is skipped, so that one value has exactly
 * one spelling (as common/hex.h does for hex). Nothing here allocates. */
#ifndef COMMON_BASE64_H
#define COMMON_BASE64_H

#include <stddef.h>

/* The most bytes one call encodes or decodes (a bound, not a need). */
#define BASE64_BYTES_MAX (1u << 20)

/* Characters (without a NUL) of the encoding of n bytes. */
#define BASE64_ENCODED_LEN(n) ((((n) + 2u) / 3u) * 4u)

/* Writes the encoding of bytes[0..n) and a NUL into out[0..out_size).
 * bytes may be NULL only when n is 0. Returns the number of characters
 * written (without the NUL), or -1 (out set to "" when out_size > 0) if
 * n > BASE64_BYTES_MAX or out_size < BASE64_ENCODED_LEN(n) + 1. */
int base64_encode(const void *bytes, size_t n, char *out, size_t out_size);

/* Decodes text[0..len) (no NUL needed) into out[0..out_size). Returns the
 * number of bytes written; or -1 (out's content unspecified) if len is not a
 * multiple of 4, a character is outside the alphabet, '=' appears other than
 * as one or two final characters, the padding bits are not zero, the result
 * exceeds out_size, or len / 4 * 3 > BASE64_BYTES_MAX. len 0 gives 0. */
int base64_decode(const char *text, size_t len, void *out, size_t out_size);

#endif
