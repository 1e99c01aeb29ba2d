/* activity_key.h - an activity's keyed fingerprint and its home region
 * (DESIGN §6 "Issuance across regions"; README "One activity, one
 * issuance"). Raw fingerprints never leave a region: what crosses a border is
 *   HMAC-SHA-256(secret of the vintage, "jjj.carbon/activity/1" 0x00 CLASS 0x00 FP)
 * in lowercase hex, where CLASS is the methodology's catalog activity class
 * (the methodology's own "REGION:ID" when it has none) and FP the
 * fingerprint normalised: ASCII letters lowercased, leading and trailing
 * white space removed, every run of inner white space one space. So one
 * intercity ride reported to two regions' platforms under "rail-transit"
 * keys to one value everywhere.
 *
 * The federation secret is a file every region holds the same copy of: one
 * line per secret, "VINTAGE_FROM HEX" (32..64 bytes in hex), ascending; a
 * secret applies to vintages from VINTAGE_FROM until the next line's. A new
 * line rotates the secret for later vintages; an activity has one vintage,
 * so it always keys to the same value. '#' lines are comments.
 *
 * The home region of a key: the regions' names sorted (bytewise), indexed by
 * the key's first 16 hex digits (a 64-bit number) modulo their count. Every
 * gateway must be configured with the same regions. */
#ifndef SETTLEMENT_ACTIVITY_KEY_H
#define SETTLEMENT_ACTIVITY_KEY_H

#include <stddef.h>
#include <stdint.h>

#define ACTIVITY_KEY_HEX 64
#define ACTIVITY_SECRETS_MAX 16
#define ACTIVITY_SECRET_BYTES_MIN 32
#define ACTIVITY_SECRET_BYTES_MAX 64
#define ACTIVITY_FILE_BYTES_MAX 8192
#define ACTIVITY_CLASS_MAX 64      /* bytes of a class ("REGION:ID" included) */
#define ACTIVITY_FP_MAX 256        /* bytes of a fingerprint */

typedef struct {
    uint32_t vintage_from;
    uint8_t key[ACTIVITY_SECRET_BYTES_MAX];
    size_t key_len;
} activity_secret_t;

typedef struct {
    activity_secret_t v[ACTIVITY_SECRETS_MAX];
    size_t n;
} activity_secrets_t;

/* Reads the secrets file at path into *out. 0, or -1 with "PATH:LINE: what"
 * in err (missing, unreadable, too large, a malformed line, a key too short
 * or long, vintages not ascending, more than ACTIVITY_SECRETS_MAX). */
int activity_secrets_load(const char *path, activity_secrets_t *out, char *err, size_t errlen);

/* The keyed fingerprint of fingerprint (NUL-terminated, at most
 * ACTIVITY_FP_MAX bytes) under class (1..ACTIVITY_CLASS_MAX bytes) for
 * vintage, as ACTIVITY_KEY_HEX lowercase hex digits and a NUL into out.
 * 0, or -1 when no secret covers vintage (every secret starts later). */
int activity_key(const activity_secrets_t *s, uint32_t vintage, const char *activity_class,
                 const char *fingerprint, char out[ACTIVITY_KEY_HEX + 1]);

/* 1 if key is ACTIVITY_KEY_HEX lowercase hex digits (NUL-terminated). */
int activity_key_valid(const char *key);

/* The index of key's home among regions_n regions sorted bytewise
 * (regions_n >= 1). key must be valid. */
size_t activity_home_index(const char *key, size_t regions_n);

#endif
