/* base64.c - canonical RFC 4648 base64 (see base64.h). */
#include "common/base64.h"

#include "common/carbon_assert.h"

#include <stdint.h>

static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The 6-bit value of c, or -1 if c is not in the alphabet ('=' included). */
static int sextet(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int base64_encode(const void *bytes, size_t n, char *out, size_t out_size) {
    CARBON_ASSERT(out != NULL && (bytes != NULL || n == 0));
    if (n > BASE64_BYTES_MAX || out_size < BASE64_ENCODED_LEN(n) + 1) {
        if (out_size > 0) out[0] = '\0';
        return -1;
    }
    const uint8_t *b = bytes;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16;
        if (i + 1 < n) v |= (uint32_t)b[i + 1] << 8;
        if (i + 2 < n) v |= b[i + 2];
        out[o++] = ALPHABET[(v >> 18) & 63];
        out[o++] = ALPHABET[(v >> 12) & 63];
        out[o++] = i + 1 < n ? ALPHABET[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? ALPHABET[v & 63] : '=';
    }
    out[o] = '\0';
    CARBON_ASSERT(o == BASE64_ENCODED_LEN(n));
    return (int)o;
}

/* Decodes the quantum q[0..4), the last one when last; writes its 1-3 bytes
 * at out and returns how many, or -1 if it is not canonical. */
static int decode_quantum(const char *q, int last, uint8_t *out) {
    int pad = 0;
    if (last && q[3] == '=') pad = q[2] == '=' ? 2 : 1;
    uint32_t v = 0;
    for (int k = 0; k < 4 - pad; k++) {
        int s = sextet((unsigned char)q[k]);
        if (s < 0) return -1;
        v = (v << 6) | (uint32_t)s;
    }
    if (pad == 2 && (v & 0x0f) != 0) return -1; /* 12 bits, 4 unused */
    if (pad == 1 && (v & 0x03) != 0) return -1; /* 18 bits, 2 unused */
    v <<= 6 * pad;
    out[0] = (uint8_t)(v >> 16);
    if (pad < 2) out[1] = (uint8_t)(v >> 8);
    if (pad < 1) out[2] = (uint8_t)v;
    return 3 - pad;
}

int base64_decode(const char *text, size_t len, void *out, size_t out_size) {
    CARBON_ASSERT(text != NULL || len == 0);
    CARBON_ASSERT(out != NULL || out_size == 0);
    if (len % 4 != 0 || len / 4 * 3 > BASE64_BYTES_MAX) return -1;
    uint8_t *o = out;
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint8_t quantum[3];
        int got = decode_quantum(text + i, i + 4 == len, quantum);
        if (got < 0 || n + (size_t)got > out_size) return -1;
        for (int k = 0; k < got; k++) o[n++] = quantum[k];
    }
    return (int)n;
}
