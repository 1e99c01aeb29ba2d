/* hex.h - the one hex codec of the tree (issue 12): bytes to lowercase hex
 * digits and back. Ids, hashes, digests, keys and signatures are all written
 * in lowercase hex; uppercase digits are refused on input, so that one value
 * has one spelling (a request id "AB.." and "ab.." would otherwise be two
 * ids of one transfer). Every function is bounded by its arguments and by
 * HEX_BYTES_MAX; none allocates. */
#ifndef COMMON_HEX_H
#define COMMON_HEX_H

#include <stddef.h>

/* The most bytes one call encodes or decodes: 4 MiB, gRPC's default limit on
 * a message, so no field of a message can exceed it. */
#define HEX_BYTES_MAX (4u << 20)

/* The buffer size, with the NUL, that hex_encode needs for n bytes. */
#define HEX_ENCODED_SIZE(n) (2u * (n) + 1u)

/* Writes the 2n lowercase hex digits of bytes[0..n) and a NUL into
 * out[0..out_size). bytes may be NULL only when n is 0; out must not be NULL.
 * Returns 2n; or -1, with out set to "" when out_size > 0, if out_size <
 * HEX_ENCODED_SIZE(n) or n > HEX_BYTES_MAX. */
int hex_encode(const void *bytes, size_t n, char *out, size_t out_size);

/* Decodes the len hex digits text[0..len) (no NUL needed) into
 * out[0..out_size). Only 0-9 and a-f are digits: uppercase is refused.
 * Returns the number of bytes written, len / 2; or -1 if len is odd, a
 * character is not a digit, len / 2 > out_size or len / 2 > HEX_BYTES_MAX
 * (out's content is then unspecified). */
int hex_decode(const char *text, size_t len, void *out, size_t out_size);

/* 1 if text[0..len) are all lowercase hex digits (0-9, a-f), else 0. len 0
 * gives 1. Reads exactly len bytes of text (no NUL needed). */
int hex_is_lower(const char *text, size_t len);

/* 1 if the NUL-terminated s is exactly len lowercase hex digits, else 0
 * (ids, hashes and digests of a fixed length in requests and records). */
int hex_is_lower_of_len(const char *s, size_t len);

#endif
