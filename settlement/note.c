/* note.c - C2SP signed notes, checkpoints and Ed25519 cosignatures (see
 * note.h). Parsing is a single forward pass over bounded input; no recursion,
 * no allocation but the one message buffer a cosignature check needs. */
#include "settlement/note.h"

#include "common/base64.h"
#include "common/carbon_assert.h"
#include "common/sha256.h"

#include <openssl/evp.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EM_DASH "\xe2\x80\x94" /* U+2014, 3 bytes in UTF-8 */
#define SIG_PREFIX EM_DASH " "
#define SIG_PREFIX_LEN 4
#define COSIG_HEADER "cosignature/v1\ntime "
#define TIMESTAMP_BYTES 8
/* Bytes a decoded signature may have: the longest line's base64, decoded. */
#define SIG_DECODED_MAX (NOTE_SIG_LINE_BYTES_MAX / 4 * 3)

CARBON_STATIC_ASSERT(NOTE_SIGS_MAX <= NOTE_BYTES_MAX / 8, "a signature line takes more than 8 bytes");
CARBON_STATIC_ASSERT(CHECKPOINT_BODY_BYTES_MAX < NOTE_BYTES_MAX, "a checkpoint fits in a note");

/* Writes a reason into why[0..why_size) (when why_size > 0) and returns s. */
static note_status_t fail(note_status_t s, char *why, size_t why_size, const char *fmt, ...) {
    if (why != NULL && why_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_size, fmt, ap);
        va_end(ap);
    }
    return s;
}

const char *note_status_name(note_status_t s) {
    switch (s) {
    case NOTE_OK: return "ok";
    case NOTE_ERR_MALFORMED: return "malformed";
    case NOTE_ERR_TOO_LARGE: return "too_large";
    case NOTE_ERR_BAD_KEY: return "bad_key";
    case NOTE_ERR_BAD_SIGNATURE: return "bad_signature";
    case NOTE_ERR_UNVERIFIED: return "unverified";
    case NOTE_ERR_NO_SPACE: return "no_space";
    case NOTE_ERR_INTERNAL: return "internal";
    }
    return "unknown";
}

/* ---- characters ------------------------------------------------------------ */

/* Decodes the UTF-8 sequence at s[*i] within s[0..len) and moves *i past it.
 * Returns the code point, or -1 for an invalid, overlong, truncated or
 * surrogate sequence or one above U+10FFFF (*i then unspecified). */
static long utf8_next(const uint8_t *s, size_t len, size_t *i) {
    uint8_t c = s[*i];
    size_t n;
    long cp, min;
    if (c < 0x80) { *i += 1; return c; }
    if (c >= 0xc2 && c <= 0xdf) { n = 1; cp = c & 0x1f; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { n = 2; cp = c & 0x0f; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 3; cp = c & 0x07; min = 0x10000; }
    else return -1;
    if (len - *i < n + 1) return -1;
    for (size_t k = 1; k <= n; k++) {
        uint8_t t = s[*i + k];
        if ((t & 0xc0) != 0x80) return -1;
        cp = (cp << 6) | (t & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
    *i += n + 1;
    return cp;
}

/* NOTE_OK if s[0..len) is valid UTF-8 with no ASCII control character but
 * newline ("those below U+0020", signed-note; DEL is allowed, as in Go's
 * note.Open); else NOTE_ERR_MALFORMED with the offset in why. */
static note_status_t check_chars(const char *s, size_t len, char *why, size_t why_size) {
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0;
    while (i < len) {
        size_t at = i;
        long cp = utf8_next(u, len, &i);
        if (cp < 0) return fail(NOTE_ERR_MALFORMED, why, why_size, "invalid UTF-8 at byte %zu", at);
        if (cp < 0x20 && cp != '\n')
            return fail(NOTE_ERR_MALFORMED, why, why_size, "control character 0x%02lx at byte %zu", cp,
                        at);
    }
    return NOTE_OK;
}

/* 1 if cp is a Unicode White_Space character (Go's unicode.IsSpace). */
static int is_unicode_space(long cp) {
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0d) || cp == 0x85 || cp == 0xa0 || cp == 0x1680) return 1;
    if ((cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029) return 1;
    return cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

/* 1 if name[0..len) is a valid key name: 1..NOTE_NAME_BYTES_MAX bytes of
 * UTF-8 without control characters, Unicode spaces or '+'. */
static int name_ok(const char *name, size_t len) {
    if (len == 0 || len > NOTE_NAME_BYTES_MAX) return 0;
    const uint8_t *u = (const uint8_t *)name;
    size_t i = 0;
    while (i < len) {
        long cp = utf8_next(u, len, &i);
        if (cp < 0x20 || cp == '+' || is_unicode_space(cp)) return 0;
    }
    return 1;
}

/* NOTE_OK if every line of s[0..len) (which ends in '\n') is at most
 * max_bytes long without its newline, else NOTE_ERR_TOO_LARGE. */
static note_status_t check_line_lengths(const char *s, size_t len, size_t max_bytes, char *why,
                                        size_t why_size) {
    size_t start = 0, line = 1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\n') continue;
        if (i - start > max_bytes)
            return fail(NOTE_ERR_TOO_LARGE, why, why_size, "line %zu is %zu bytes, over %zu", line,
                        i - start, max_bytes);
        start = i + 1;
        line++;
    }
    return NOTE_OK;
}

/* NOTE_OK if text[0..len) is a note text we sign: non-empty, ends in "\n",
 * characters and line lengths within the rules. */
static note_status_t check_text(const char *text, size_t len, char *why, size_t why_size) {
    if (len > NOTE_BYTES_MAX)
        return fail(NOTE_ERR_TOO_LARGE, why, why_size, "text is %zu bytes, over %d", len, NOTE_BYTES_MAX);
    if (len == 0 || text[len - 1] != '\n')
        return fail(NOTE_ERR_MALFORMED, why, why_size, "text does not end in a newline");
    note_status_t s = check_chars(text, len, why, why_size);
    if (s != NOTE_OK) return s;
    return check_line_lengths(text, len, NOTE_TEXT_LINE_BYTES_MAX, why, why_size);
}

/* ---- keys ------------------------------------------------------------------ */

note_status_t note_key_id(const char *name, size_t name_len, uint8_t type,
                          const uint8_t public_key[NOTE_ED25519_PUBLIC_BYTES], uint32_t *key_id) {
    CARBON_ASSERT(name != NULL && public_key != NULL && key_id != NULL);
    const uint8_t sep[2] = {'\n', type};
    uint8_t md[EVP_MAX_MD_SIZE];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    const EVP_MD *sha256 = sha256_md();
    int ok = ctx != NULL && sha256 != NULL && EVP_DigestInit_ex(ctx, sha256, NULL) == 1 &&
             EVP_DigestUpdate(ctx, name, name_len) == 1 && EVP_DigestUpdate(ctx, sep, 2) == 1 &&
             EVP_DigestUpdate(ctx, public_key, NOTE_ED25519_PUBLIC_BYTES) == 1 &&
             EVP_DigestFinal_ex(ctx, md, NULL) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) return NOTE_ERR_INTERNAL;
    *key_id = (uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 | (uint32_t)md[2] << 8 | md[3];
    return NOTE_OK;
}

/* Reads 8 lowercase hex digits at s into *v; 0 if any is not one. */
static int parse_hex32(const char *s, uint32_t *v) {
    uint32_t x = 0;
    for (int i = 0; i < 8; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return 0;
        x = x << 4 | (uint32_t)d;
    }
    *v = x;
    return 1;
}

note_status_t note_verifier_parse(const char *text, size_t len, note_verifier_t *out, char *why,
                                  size_t why_size) {
    CARBON_ASSERT(out != NULL && (text != NULL || len == 0));
    if (len >= NOTE_VKEY_SIZE)
        return fail(NOTE_ERR_TOO_LARGE, why, why_size, "vkey is %zu bytes, over %d", len,
                    NOTE_VKEY_SIZE - 1);
    const char *plus1 = memchr(text, '+', len);
    if (plus1 == NULL) return fail(NOTE_ERR_BAD_KEY, why, why_size, "vkey has no '+'");
    size_t name_len = (size_t)(plus1 - text);
    if (!name_ok(text, name_len)) return fail(NOTE_ERR_BAD_KEY, why, why_size, "vkey name is invalid");
    size_t rest = len - name_len - 1;
    uint32_t claimed;
    if (rest < 9 || plus1[9] != '+' || !parse_hex32(plus1 + 1, &claimed))
        return fail(NOTE_ERR_BAD_KEY, why, why_size, "vkey key ID is not 8 lowercase hex digits");
    uint8_t key[1 + NOTE_ED25519_PUBLIC_BYTES + 2];
    int n = base64_decode(plus1 + 10, rest - 9, key, sizeof key);
    if (n != 1 + NOTE_ED25519_PUBLIC_BYTES)
        return fail(NOTE_ERR_BAD_KEY, why, why_size, "vkey key is not base64 of 33 bytes");
    if (key[0] != NOTE_TYPE_ED25519 && key[0] != NOTE_TYPE_COSIGNATURE_V1)
        return fail(NOTE_ERR_BAD_KEY, why, why_size, "vkey signature type 0x%02x is not supported", key[0]);
    memcpy(out->name, text, name_len);
    out->name[name_len] = '\0';
    out->type = key[0];
    memcpy(out->public_key, key + 1, NOTE_ED25519_PUBLIC_BYTES);
    if (note_key_id(out->name, name_len, out->type, out->public_key, &out->key_id) != NOTE_OK)
        return fail(NOTE_ERR_INTERNAL, why, why_size, "SHA-256 failed");
    if (out->key_id != claimed)
        return fail(NOTE_ERR_BAD_KEY, why, why_size, "vkey key ID %08x does not match the key (%08x)",
                    claimed, out->key_id);
    return NOTE_OK;
}

note_status_t note_verifier_from_key(const char *name, uint8_t type, EVP_PKEY *key,
                                     note_verifier_t *out, char *why, size_t why_size) {
    CARBON_ASSERT(name != NULL && key != NULL && out != NULL);
    size_t name_len = strlen(name);
    if (!name_ok(name, name_len)) return fail(NOTE_ERR_BAD_KEY, why, why_size, "key name is invalid");
    if (type != NOTE_TYPE_ED25519 && type != NOTE_TYPE_COSIGNATURE_V1)
        return fail(NOTE_ERR_BAD_KEY, why, why_size, "signature type 0x%02x is not supported", type);
    size_t pub_len = NOTE_ED25519_PUBLIC_BYTES;
    if (EVP_PKEY_id(key) != EVP_PKEY_ED25519 ||
        EVP_PKEY_get_raw_public_key(key, out->public_key, &pub_len) != 1 ||
        pub_len != NOTE_ED25519_PUBLIC_BYTES)
        return fail(NOTE_ERR_BAD_KEY, why, why_size, "key is not an Ed25519 key");
    memcpy(out->name, name, name_len + 1);
    out->type = type;
    if (note_key_id(name, name_len, type, out->public_key, &out->key_id) != NOTE_OK)
        return fail(NOTE_ERR_INTERNAL, why, why_size, "SHA-256 failed");
    return NOTE_OK;
}

int note_verifier_format(const note_verifier_t *v, char *out, size_t out_size) {
    CARBON_ASSERT(v != NULL && out != NULL);
    uint8_t key[1 + NOTE_ED25519_PUBLIC_BYTES];
    key[0] = v->type;
    memcpy(key + 1, v->public_key, NOTE_ED25519_PUBLIC_BYTES);
    char b64[BASE64_ENCODED_LEN(sizeof key) + 1];
    CARBON_ASSERT(base64_encode(key, sizeof key, b64, sizeof b64) > 0);
    int n = snprintf(out, out_size, "%s+%08x+%s", v->name, v->key_id, b64);
    if (n < 0 || (size_t)n >= out_size) {
        if (out_size > 0) out[0] = '\0';
        return -1;
    }
    return n;
}

/* ---- Ed25519 ---------------------------------------------------------------- */

/* Signs msg[0..len) with the Ed25519 private key into sig (64 bytes).
 * Returns 1, or 0 if the key cannot sign. */
static int ed25519_sign(EVP_PKEY *key, const void *msg, size_t len, uint8_t sig[NOTE_ED25519_SIG_BYTES]) {
    size_t sig_len = NOTE_ED25519_SIG_BYTES;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestSign(ctx, sig, &sig_len, msg, len) == 1 && sig_len == NOTE_ED25519_SIG_BYTES;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* 1 if sig is a valid Ed25519 signature of msg[0..len) by public_key, 0 if
 * not, -1 if OpenSSL failed for another reason (no memory). */
static int ed25519_verify(const uint8_t public_key[NOTE_ED25519_PUBLIC_BYTES], const void *msg,
                          size_t len, const uint8_t sig[NOTE_ED25519_SIG_BYTES]) {
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, public_key,
                                               NOTE_ED25519_PUBLIC_BYTES);
    if (pk == NULL) return 0; /* not a point on the curve: no signature verifies */
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = -1;
    if (ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1)
        rc = EVP_DigestVerify(ctx, sig, NOTE_ED25519_SIG_BYTES, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return rc;
}

/* ---- signature lines ------------------------------------------------------- */

typedef struct {
    const char *name;
    size_t name_len;
    uint32_t key_id;
    const uint8_t *sig; /* after the key ID */
    size_t sig_len;
} sig_line_t;

/* Parses the signature line line[0..len) (without its newline), decoding its
 * base64 into buf[0..SIG_DECODED_MAX); out->name points into line and
 * out->sig into buf. Returns NOTE_OK, NOTE_ERR_TOO_LARGE or
 * NOTE_ERR_MALFORMED with a reason. */
static note_status_t parse_sig_line(const char *line, size_t len, uint8_t buf[SIG_DECODED_MAX],
                                    sig_line_t *out, char *why, size_t why_size) {
    if (len > NOTE_SIG_LINE_BYTES_MAX)
        return fail(NOTE_ERR_TOO_LARGE, why, why_size, "signature line is %zu bytes, over %d", len,
                    NOTE_SIG_LINE_BYTES_MAX);
    if (len < SIG_PREFIX_LEN || memcmp(line, SIG_PREFIX, SIG_PREFIX_LEN) != 0)
        return fail(NOTE_ERR_MALFORMED, why, why_size, "signature line does not start with \"— \"");
    const char *name = line + SIG_PREFIX_LEN;
    const char *space = memchr(name, ' ', len - SIG_PREFIX_LEN);
    if (space == NULL) return fail(NOTE_ERR_MALFORMED, why, why_size, "signature line has no signature");
    out->name = name;
    out->name_len = (size_t)(space - name);
    if (!name_ok(name, out->name_len))
        return fail(NOTE_ERR_MALFORMED, why, why_size, "signature line has an invalid key name");
    const char *b64 = space + 1;
    int n = base64_decode(b64, (size_t)(line + len - b64), buf, SIG_DECODED_MAX);
    if (n < 0) return fail(NOTE_ERR_MALFORMED, why, why_size, "signature is not canonical base64");
    if (n <= NOTE_KEY_ID_BYTES)
        return fail(NOTE_ERR_MALFORMED, why, why_size, "signature has %d bytes, at most a key ID", n);
    out->key_id = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
    out->sig = buf + NOTE_KEY_ID_BYTES;
    out->sig_len = (size_t)n - NOTE_KEY_ID_BYTES;
    return NOTE_OK;
}

/* Writes "— NAME BASE64(key_id || sig[0..sig_len))\n" and a NUL into line. */
static note_status_t write_sig_line(const char *name, uint32_t key_id, const uint8_t *sig, size_t sig_len,
                                    char *line, size_t line_size, size_t *line_len, char *why,
                                    size_t why_size) {
    uint8_t raw[NOTE_KEY_ID_BYTES + TIMESTAMP_BYTES + NOTE_ED25519_SIG_BYTES];
    CARBON_ASSERT(sig_len <= sizeof raw - NOTE_KEY_ID_BYTES);
    raw[0] = (uint8_t)(key_id >> 24);
    raw[1] = (uint8_t)(key_id >> 16);
    raw[2] = (uint8_t)(key_id >> 8);
    raw[3] = (uint8_t)key_id;
    memcpy(raw + NOTE_KEY_ID_BYTES, sig, sig_len);
    char b64[BASE64_ENCODED_LEN(sizeof raw) + 1];
    CARBON_ASSERT(base64_encode(raw, NOTE_KEY_ID_BYTES + sig_len, b64, sizeof b64) > 0);
    int n = snprintf(line, line_size, SIG_PREFIX "%s %s\n", name, b64);
    if (n < 0 || (size_t)n >= line_size) {
        if (line_size > 0) line[0] = '\0';
        return fail(NOTE_ERR_NO_SPACE, why, why_size, "signature line needs %d bytes", n + 1);
    }
    *line_len = (size_t)n;
    return NOTE_OK;
}

/* The checks common to signing: the name and an Ed25519 key that signs. */
static note_status_t check_signer(const char *name, EVP_PKEY *key, char *why, size_t why_size) {
    if (!name_ok(name, strlen(name))) return fail(NOTE_ERR_BAD_KEY, why, why_size, "key name is invalid");
    if (EVP_PKEY_id(key) != EVP_PKEY_ED25519)
        return fail(NOTE_ERR_BAD_KEY, why, why_size, "key is not an Ed25519 key");
    return NOTE_OK;
}

note_status_t note_sign_line(const char *text, size_t text_len, const char *name, EVP_PKEY *key,
                             char *line, size_t line_size, size_t *line_len, char *why,
                             size_t why_size) {
    CARBON_ASSERT(text != NULL && name != NULL && key != NULL && line != NULL && line_len != NULL);
    note_status_t s = check_text(text, text_len, why, why_size);
    if (s == NOTE_OK) s = check_signer(name, key, why, why_size);
    if (s != NOTE_OK) return s;
    note_verifier_t v;
    s = note_verifier_from_key(name, NOTE_TYPE_ED25519, key, &v, why, why_size);
    if (s != NOTE_OK) return s;
    uint8_t sig[NOTE_ED25519_SIG_BYTES];
    if (!ed25519_sign(key, text, text_len, sig))
        return fail(NOTE_ERR_BAD_KEY, why, why_size, "the key cannot sign (not a private key?)");
    return write_sig_line(name, v.key_id, sig, sizeof sig, line, line_size, line_len, why, why_size);
}

note_status_t note_sign(const char *text, size_t text_len, const char *name, EVP_PKEY *key,
                        char *out, size_t out_size, size_t *out_len, char *why, size_t why_size) {
    CARBON_ASSERT(text != NULL && out != NULL && out_len != NULL);
    char line[NOTE_OWN_SIG_LINE_SIZE];
    size_t line_len = 0;
    note_status_t s = note_sign_line(text, text_len, name, key, line, sizeof line, &line_len, why, why_size);
    if (s != NOTE_OK) return s;
    size_t need = text_len + 1 + line_len + 1;
    if (need > out_size) {
        if (out_size > 0) out[0] = '\0';
        return fail(NOTE_ERR_NO_SPACE, why, why_size, "the note needs %zu bytes", need);
    }
    memcpy(out, text, text_len);
    out[text_len] = '\n';
    memcpy(out + text_len + 1, line, line_len + 1);
    *out_len = need - 1;
    return NOTE_OK;
}

/* ---- cosignatures ------------------------------------------------------------ */

long note_cosignature_message(uint64_t timestamp_s, const char *body, size_t body_len, char *out,
                              size_t out_size) {
    CARBON_ASSERT(body != NULL && out != NULL);
    if (timestamp_s > (uint64_t)NOTE_TIMESTAMP_MAX) return -1;
    char head[sizeof COSIG_HEADER + 21];
    int h = snprintf(head, sizeof head, COSIG_HEADER "%llu\n", (unsigned long long)timestamp_s);
    CARBON_ASSERT(h > 0 && (size_t)h < sizeof head);
    if (body_len > NOTE_BYTES_MAX || (size_t)h + body_len > out_size) return -1;
    memcpy(out, head, (size_t)h);
    memcpy(out + h, body, body_len);
    return (long)((size_t)h + body_len);
}

/* Signs the cosignature message of body at timestamp_s into sig (timestamp
 * big-endian, then the Ed25519 signature). */
static note_status_t cosign_bytes(const char *body, size_t body_len, EVP_PKEY *key, uint64_t timestamp_s,
                                  uint8_t sig[TIMESTAMP_BYTES + NOTE_ED25519_SIG_BYTES], char *why,
                                  size_t why_size) {
    size_t cap = sizeof COSIG_HEADER + 21 + body_len;
    char *msg = malloc(cap);
    if (msg == NULL) return fail(NOTE_ERR_INTERNAL, why, why_size, "out of memory");
    long m = note_cosignature_message(timestamp_s, body, body_len, msg, cap);
    CARBON_ASSERT(m > 0);
    for (int i = 0; i < TIMESTAMP_BYTES; i++) sig[i] = (uint8_t)(timestamp_s >> (56 - 8 * i));
    int ok = ed25519_sign(key, msg, (size_t)m, sig + TIMESTAMP_BYTES);
    free(msg);
    if (!ok) return fail(NOTE_ERR_BAD_KEY, why, why_size, "the key cannot sign (not a private key?)");
    return NOTE_OK;
}

note_status_t note_cosign_line(const char *body, size_t body_len, const char *name, EVP_PKEY *key,
                               uint64_t timestamp_s, char *line, size_t line_size,
                               size_t *line_len, char *why, size_t why_size) {
    CARBON_ASSERT(body != NULL && name != NULL && key != NULL && line != NULL && line_len != NULL);
    if (timestamp_s > (uint64_t)NOTE_TIMESTAMP_MAX)
        return fail(NOTE_ERR_MALFORMED, why, why_size, "timestamp is over 2^63 - 1");
    checkpoint_t cp;
    note_status_t s = checkpoint_parse(body, body_len, &cp, why, why_size);
    if (s == NOTE_OK) s = check_signer(name, key, why, why_size);
    if (s != NOTE_OK) return s;
    note_verifier_t v;
    s = note_verifier_from_key(name, NOTE_TYPE_COSIGNATURE_V1, key, &v, why, why_size);
    if (s != NOTE_OK) return s;
    uint8_t sig[TIMESTAMP_BYTES + NOTE_ED25519_SIG_BYTES];
    s = cosign_bytes(body, body_len, key, timestamp_s, sig, why, why_size);
    if (s != NOTE_OK) return s;
    return write_sig_line(name, v.key_id, sig, sizeof sig, line, line_size, line_len, why, why_size);
}

/* The timestamp of the cosignature bytes sig (at least 8 bytes). */
static uint64_t read_timestamp(const uint8_t *sig) {
    uint64_t t = 0;
    for (int i = 0; i < TIMESTAMP_BYTES; i++) t = t << 8 | sig[i];
    return t;
}

note_status_t note_cosignature_timestamp(const char *line, size_t len, uint64_t *timestamp_s,
                                         char *why, size_t why_size) {
    CARBON_ASSERT(timestamp_s != NULL && (line != NULL || len == 0));
    if (len > 0 && line[len - 1] == '\n') len--;
    note_status_t s = check_chars(line, len, why, why_size);
    if (s != NOTE_OK) return s;
    if (memchr(line, '\n', len) != NULL) return fail(NOTE_ERR_MALFORMED, why, why_size, "more than one line");
    uint8_t buf[SIG_DECODED_MAX];
    sig_line_t sl;
    s = parse_sig_line(line, len, buf, &sl, why, why_size);
    if (s != NOTE_OK) return s;
    if (sl.sig_len != TIMESTAMP_BYTES + NOTE_ED25519_SIG_BYTES)
        return fail(NOTE_ERR_MALFORMED, why, why_size, "not a cosignature: %zu signature bytes", sl.sig_len);
    *timestamp_s = read_timestamp(sl.sig);
    if (*timestamp_s > (uint64_t)NOTE_TIMESTAMP_MAX)
        return fail(NOTE_ERR_MALFORMED, why, why_size, "timestamp is over 2^63 - 1");
    return NOTE_OK;
}

/* ---- opening a note --------------------------------------------------------- */

/* Checks one signature of a known verifier over text: NOTE_OK and
 * *timestamp_s set, NOTE_ERR_BAD_SIGNATURE, or NOTE_ERR_INTERNAL. */
static note_status_t verify_known(const note_verifier_t *v, const sig_line_t *sl, const char *text,
                                  size_t text_len, uint64_t *timestamp_s, char *why, size_t why_size) {
    *timestamp_s = 0;
    int rc;
    if (v->type == NOTE_TYPE_ED25519) {
        if (sl->sig_len != NOTE_ED25519_SIG_BYTES)
            return fail(NOTE_ERR_BAD_SIGNATURE, why, why_size, "signature by %s is %zu bytes, not 64",
                        v->name, sl->sig_len);
        rc = ed25519_verify(v->public_key, text, text_len, sl->sig);
    } else {
        CARBON_ASSERT(v->type == NOTE_TYPE_COSIGNATURE_V1);
        if (sl->sig_len != TIMESTAMP_BYTES + NOTE_ED25519_SIG_BYTES)
            return fail(NOTE_ERR_BAD_SIGNATURE, why, why_size, "cosignature by %s is %zu bytes, not 72",
                        v->name, sl->sig_len);
        *timestamp_s = read_timestamp(sl->sig);
        size_t cap = sizeof COSIG_HEADER + 21 + text_len;
        char *msg = malloc(cap);
        if (msg == NULL) return fail(NOTE_ERR_INTERNAL, why, why_size, "out of memory");
        long m = note_cosignature_message(*timestamp_s, text, text_len, msg, cap);
        rc = m < 0 ? 0 : ed25519_verify(v->public_key, msg, (size_t)m, sl->sig + TIMESTAMP_BYTES);
        free(msg);
    }
    if (rc < 0) return fail(NOTE_ERR_INTERNAL, why, why_size, "Ed25519 verification failed to run");
    if (rc == 0)
        return fail(NOTE_ERR_BAD_SIGNATURE, why, why_size, "invalid signature for key %s+%08x", v->name,
                    v->key_id);
    return NOTE_OK;
}

/* Finds the verifier of sl: sets *index and returns NOTE_OK; returns
 * NOTE_ERR_UNVERIFIED when none matches (the line is ignored) and
 * NOTE_ERR_BAD_KEY when more than one does. */
static note_status_t find_verifier(const note_verifier_t *verifiers, size_t n, const sig_line_t *sl,
                                   size_t *index, char *why, size_t why_size) {
    size_t found = 0;
    for (size_t i = 0; i < n; i++) {
        const note_verifier_t *v = &verifiers[i];
        if (v->key_id != sl->key_id || strlen(v->name) != sl->name_len ||
            memcmp(v->name, sl->name, sl->name_len) != 0)
            continue;
        if (found++ > 0)
            return fail(NOTE_ERR_BAD_KEY, why, why_size, "ambiguous key %s+%08x", v->name, v->key_id);
        *index = i;
    }
    return found == 0 ? NOTE_ERR_UNVERIFIED : NOTE_OK;
}

/* Records that verifier index signed (once per verifier). */
static void record_verified(note_opened_t *out, size_t index, uint64_t timestamp_s) {
    for (size_t k = 0; k < out->verified_n; k++)
        if (out->verified[k].verifier == index) return;
    CARBON_ASSERT(out->verified_n < NOTE_SIGS_MAX);
    out->verified[out->verified_n].verifier = index;
    out->verified[out->verified_n].timestamp_s = timestamp_s;
    out->verified_n++;
}

/* Checks the whole note's bytes and splits it: *text_len is the text's
 * length (final newline included); the signature lines start at
 * text_len + 1 and run to len. */
static note_status_t split_note(const char *note, size_t len, size_t *text_len, char *why,
                                size_t why_size) {
    if (len > NOTE_BYTES_MAX)
        return fail(NOTE_ERR_TOO_LARGE, why, why_size, "note is %zu bytes, over %d", len, NOTE_BYTES_MAX);
    note_status_t s = check_chars(note, len, why, why_size);
    if (s != NOTE_OK) return s;
    if (len == 0 || note[len - 1] != '\n')
        return fail(NOTE_ERR_MALFORMED, why, why_size, "note does not end in a newline");
    size_t i = len - 1;
    while (i > 0 && !(note[i - 1] == '\n' && note[i] == '\n')) i--;
    if (i == 0) return fail(NOTE_ERR_MALFORMED, why, why_size, "note has no blank line before its signatures");
    /* note[i - 1..i] is the last "\n\n": the text ends at i, the blank line is note[i]. */
    if (i + 1 == len) return fail(NOTE_ERR_MALFORMED, why, why_size, "note has no signature lines");
    *text_len = i;
    return check_line_lengths(note, i, NOTE_TEXT_LINE_BYTES_MAX, why, why_size);
}

/* Counts the lines of the signature block s[0..len) (ending in '\n'). */
static size_t count_lines(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += s[i] == '\n';
    return n;
}

/* Verifies one signature line of a note against the verifiers. */
static note_status_t open_line(const char *line, size_t line_len, const note_verifier_t *verifiers,
                               size_t n, note_opened_t *out, char *why, size_t why_size) {
    uint8_t buf[SIG_DECODED_MAX];
    sig_line_t sl;
    note_status_t s = parse_sig_line(line, line_len, buf, &sl, why, why_size);
    if (s != NOTE_OK) return s;
    size_t index = 0;
    s = find_verifier(verifiers, n, &sl, &index, why, why_size);
    if (s == NOTE_ERR_UNVERIFIED) return NOTE_OK; /* an unknown key: ignored */
    if (s != NOTE_OK) return s;
    uint64_t timestamp_s = 0;
    s = verify_known(&verifiers[index], &sl, out->text, out->text_len, &timestamp_s, why, why_size);
    if (s != NOTE_OK) return s;
    record_verified(out, index, timestamp_s);
    if (out->first_verified == NULL) {
        out->first_verified = line;
        out->first_verified_len = line_len;
    }
    return NOTE_OK;
}

note_status_t note_open(const char *note, size_t len, const note_verifier_t *verifiers, size_t n,
                        note_opened_t *out, char *why, size_t why_size) {
    CARBON_ASSERT(out != NULL && (note != NULL || len == 0) && (verifiers != NULL || n == 0));
    memset(out, 0, sizeof *out);
    size_t text_len = 0;
    note_status_t s = split_note(note, len, &text_len, why, why_size);
    if (s != NOTE_OK) return s;
    const char *sigs = note + text_len + 1;
    size_t sigs_len = len - text_len - 1;
    out->sig_lines = count_lines(sigs, sigs_len);
    if (out->sig_lines > NOTE_SIGS_MAX)
        return fail(NOTE_ERR_TOO_LARGE, why, why_size, "note has %zu signatures, over %d", out->sig_lines,
                    NOTE_SIGS_MAX);
    out->text = note;
    out->text_len = text_len;
    for (size_t start = 0; start < sigs_len;) {
        const char *nl = memchr(sigs + start, '\n', sigs_len - start);
        CARBON_ASSERT(nl != NULL); /* the note ends in '\n' */
        size_t line_len = (size_t)(nl - (sigs + start));
        s = open_line(sigs + start, line_len, verifiers, n, out, why, why_size);
        if (s != NOTE_OK) return s;
        start += line_len + 1;
    }
    if (out->verified_n == 0)
        return fail(NOTE_ERR_UNVERIFIED, why, why_size, "note has no verifiable signatures");
    return NOTE_OK;
}

/* ---- checkpoints ------------------------------------------------------------ */

/* Parses the decimal tree size s[0..len): no sign, no leading zero (but "0"),
 * at most UINT64_MAX. */
static note_status_t parse_size(const char *s, size_t len, uint64_t *size, char *why, size_t why_size) {
    if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
        return fail(NOTE_ERR_MALFORMED, why, why_size, "tree size is not a decimal without leading zeros");
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return fail(NOTE_ERR_MALFORMED, why, why_size, "tree size is not a decimal number");
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return fail(NOTE_ERR_MALFORMED, why, why_size, "tree size is over 2^64 - 1");
        v = v * 10 + d;
    }
    *size = v;
    return NOTE_OK;
}

/* Checks the extension lines s[0..len) (each ending in '\n') and copies them
 * into out. */
static note_status_t parse_extensions(const char *s, size_t len, checkpoint_t *out, char *why,
                                      size_t why_size) {
    if (len > CHECKPOINT_EXTENSIONS_BYTES_MAX)
        return fail(NOTE_ERR_TOO_LARGE, why, why_size, "extension lines are %zu bytes, over %d", len,
                    CHECKPOINT_EXTENSIONS_BYTES_MAX);
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\n') continue;
        if (i == 0 || s[i - 1] == '\n')
            return fail(NOTE_ERR_MALFORMED, why, why_size, "checkpoint has an empty extension line");
        lines++;
    }
    if (lines > CHECKPOINT_EXTENSION_LINES_MAX)
        return fail(NOTE_ERR_TOO_LARGE, why, why_size, "checkpoint has %zu extension lines, over %d", lines,
                    CHECKPOINT_EXTENSION_LINES_MAX);
    memcpy(out->extensions, s, len);
    out->extensions[len] = '\0';
    out->extensions_len = len;
    return NOTE_OK;
}

/* Finds the next line of s[*pos..len): sets *line, *line_len (without the
 * newline) and moves *pos past it; 0 if no newline is left. */
static int next_line(const char *s, size_t len, size_t *pos, const char **line, size_t *line_len) {
    const char *nl = memchr(s + *pos, '\n', len - *pos);
    if (nl == NULL) return 0;
    *line = s + *pos;
    *line_len = (size_t)(nl - *line);
    *pos += *line_len + 1;
    return 1;
}

note_status_t checkpoint_parse(const char *text, size_t len, checkpoint_t *out, char *why,
                               size_t why_size) {
    CARBON_ASSERT(out != NULL && (text != NULL || len == 0));
    if (len > CHECKPOINT_BODY_BYTES_MAX)
        return fail(NOTE_ERR_TOO_LARGE, why, why_size, "checkpoint is %zu bytes, over %d", len,
                    CHECKPOINT_BODY_BYTES_MAX);
    note_status_t s = check_text(text, len, why, why_size);
    if (s != NOTE_OK) return s;
    size_t pos = 0, n[3];
    const char *l[3];
    for (int k = 0; k < 3; k++)
        if (!next_line(text, len, &pos, &l[k], &n[k]))
            return fail(NOTE_ERR_MALFORMED, why, why_size, "checkpoint has fewer than 3 lines");
    if (n[0] == 0) return fail(NOTE_ERR_MALFORMED, why, why_size, "checkpoint origin is empty");
    if (n[0] > CHECKPOINT_ORIGIN_BYTES_MAX)
        return fail(NOTE_ERR_TOO_LARGE, why, why_size, "checkpoint origin is %zu bytes, over %d", n[0],
                    CHECKPOINT_ORIGIN_BYTES_MAX);
    memcpy(out->origin, l[0], n[0]);
    out->origin[n[0]] = '\0';
    s = parse_size(l[1], n[1], &out->size, why, why_size);
    if (s != NOTE_OK) return s;
    uint8_t hash[NOTE_HASH_BYTES + 2];
    if (base64_decode(l[2], n[2], hash, sizeof hash) != NOTE_HASH_BYTES)
        return fail(NOTE_ERR_MALFORMED, why, why_size, "root hash is not canonical base64 of 32 bytes");
    memcpy(out->root_hash, hash, NOTE_HASH_BYTES);
    return parse_extensions(text + pos, len - pos, out, why, why_size);
}

note_status_t checkpoint_format(const checkpoint_t *cp, char *out, size_t out_size,
                                size_t *out_len, char *why, size_t why_size) {
    CARBON_ASSERT(cp != NULL && out != NULL && out_len != NULL);
    CARBON_ASSERT(cp->extensions_len <= CHECKPOINT_EXTENSIONS_BYTES_MAX);
    char hash[BASE64_ENCODED_LEN(NOTE_HASH_BYTES) + 1];
    CARBON_ASSERT(base64_encode(cp->root_hash, NOTE_HASH_BYTES, hash, sizeof hash) > 0);
    size_t origin_len = strnlen(cp->origin, sizeof cp->origin);
    if (origin_len == sizeof cp->origin)
        return fail(NOTE_ERR_TOO_LARGE, why, why_size, "checkpoint origin is not NUL-terminated in bounds");
    char size[24];
    int sl = snprintf(size, sizeof size, "%llu", (unsigned long long)cp->size);
    CARBON_ASSERT(sl > 0 && (size_t)sl < sizeof size);
    size_t need = origin_len + 1 + (size_t)sl + 1 + strlen(hash) + 1 + cp->extensions_len;
    if (need + 1 > out_size) {
        if (out_size > 0) out[0] = '\0';
        return fail(NOTE_ERR_NO_SPACE, why, why_size, "checkpoint needs %zu bytes", need + 1);
    }
    int w = snprintf(out, out_size, "%s\n%s\n%s\n", cp->origin, size, hash);
    CARBON_ASSERT(w > 0 && (size_t)w + cp->extensions_len == need);
    memcpy(out + w, cp->extensions, cp->extensions_len);
    out[need] = '\0';
    checkpoint_t back;
    note_status_t s = checkpoint_parse(out, need, &back, why, why_size);
    if (s == NOTE_OK && (strcmp(back.origin, cp->origin) != 0 || back.extensions_len != cp->extensions_len ||
                         memcmp(back.extensions, cp->extensions, cp->extensions_len) != 0))
        s = fail(NOTE_ERR_MALFORMED, why, why_size, "checkpoint origin or extensions would not read back");
    if (s != NOTE_OK) {
        out[0] = '\0';
        return s;
    }
    *out_len = need;
    return NOTE_OK;
}
