/* activity_key.c - keyed fingerprints and their home regions
 * (activity_key.h), with OpenSSL's HMAC. */
#include "settlement/activity_key.h"
#include "common/carbon_assert.h"
#include "common/hex.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACTIVITY_DOMAIN "jjj.carbon/activity/1"

/* Reads the file (at most ACTIVITY_FILE_BYTES_MAX) into buf. 0 or -1. */
static int ak_read(const char *path, char *buf, size_t cap, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t n = fread(buf, 1, cap - 1, f);
    int too_big = n == cap - 1 && fgetc(f) != EOF;
    int bad = ferror(f);
    fclose(f);
    if (bad || too_big) {
        snprintf(err, errlen, "%s: %s", path, bad ? "read error" : "larger than 8192 bytes");
        return -1;
    }
    buf[n] = '\0';
    return 0;
}

/* Parses one line "VINTAGE_FROM HEX" into *s. 0, or -1 with the reason. */
static int ak_line(char *line, activity_secret_t *s, const char **why) {
    char *space = strchr(line, ' ');
    if (space == NULL) return (*why = "want VINTAGE_FROM HEX"), -1;
    *space = '\0';
    const char *hex = space + 1;
    while (*hex == ' ') hex++;
    char *end = NULL;
    unsigned long v = strtoul(line, &end, 10);
    if (end == line || *end != '\0' || v < 1 || v > 9999) return (*why = "VINTAGE_FROM is not a year"), -1;
    size_t hex_n = strlen(hex);
    while (hex_n > 0 && (hex[hex_n - 1] == ' ' || hex[hex_n - 1] == '\r')) hex_n--;
    if (hex_n < 2 * ACTIVITY_SECRET_BYTES_MIN || hex_n > 2 * ACTIVITY_SECRET_BYTES_MAX)
        return (*why = "the secret must be 32..64 bytes in lowercase hex"), -1;
    int got = hex_decode(hex, hex_n, s->key, sizeof s->key);
    if (got < ACTIVITY_SECRET_BYTES_MIN) return (*why = "the secret is not lowercase hex"), -1;
    s->key_len = (size_t)got;
    s->vintage_from = (uint32_t)v;
    return 0;
}

int activity_secrets_load(const char *path, activity_secrets_t *out, char *err, size_t errlen) {
    CARBON_ASSERT(path != NULL && out != NULL && err != NULL && errlen > 0);
    static char buf[ACTIVITY_FILE_BYTES_MAX + 1];
    memset(out, 0, sizeof *out);
    if (ak_read(path, buf, sizeof buf, err, errlen) != 0) return -1;
    unsigned line_no = 0;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        line_no++;
        while (*line == ' ' || *line == '\t') line++;
        if (*line == '#' || *line == '\0' || *line == '\r') continue;
        const char *why = NULL;
        if (out->n == ACTIVITY_SECRETS_MAX) why = "more than 16 secrets";
        else if (ak_line(line, &out->v[out->n], &why) == 0 && out->n > 0 &&
                 out->v[out->n].vintage_from <= out->v[out->n - 1].vintage_from)
            why = "VINTAGE_FROM must ascend";
        if (why != NULL) {
            snprintf(err, errlen, "%s:%u: %s", path, line_no, why);
            OPENSSL_cleanse(buf, sizeof buf);
            return -1;
        }
        out->n++;
    }
    OPENSSL_cleanse(buf, sizeof buf);
    if (out->n == 0) {
        snprintf(err, errlen, "%s: no secret in the file", path);
        return -1;
    }
    return 0;
}

/* The normalised fingerprint (activity_key.h) into out (>= strlen(fp)+1). */
static size_t ak_normalise(const char *fp, char *out) {
    size_t n = 0;
    int space = 0;
    for (const unsigned char *p = (const unsigned char *)fp; *p != '\0'; p++) {
        if (isspace(*p) && *p < 0x80) {
            space = n > 0;
            continue;
        }
        if (space) out[n++] = ' ';
        space = 0;
        out[n++] = (char)(*p < 0x80 ? tolower(*p) : *p);
    }
    out[n] = '\0';
    return n;
}

int activity_key(const activity_secrets_t *s, uint32_t vintage, const char *activity_class,
                 const char *fingerprint, char out[ACTIVITY_KEY_HEX + 1]) {
    CARBON_ASSERT(s != NULL && activity_class != NULL && fingerprint != NULL && out != NULL);
    size_t class_n = strlen(activity_class), fp_n = strlen(fingerprint);
    CARBON_ASSERT(class_n >= 1 && class_n <= ACTIVITY_CLASS_MAX && fp_n <= ACTIVITY_FP_MAX);
    const activity_secret_t *secret = NULL;
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].vintage_from <= vintage) secret = &s->v[i];
    if (secret == NULL) return -1;
    char msg[sizeof ACTIVITY_DOMAIN + ACTIVITY_CLASS_MAX + ACTIVITY_FP_MAX + 2];
    size_t n = 0;
    memcpy(msg, ACTIVITY_DOMAIN, sizeof ACTIVITY_DOMAIN); /* with its NUL: the separator */
    n += sizeof ACTIVITY_DOMAIN;
    memcpy(msg + n, activity_class, class_n);
    n += class_n;
    msg[n++] = '\0';
    n += ak_normalise(fingerprint, msg + n);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_n = 0;
    unsigned char *ok = HMAC(EVP_sha256(), secret->key, (int)secret->key_len, (const unsigned char *)msg, n, mac,
                             &mac_n);
    CARBON_ASSERT(ok != NULL && mac_n == ACTIVITY_KEY_HEX / 2);
    CARBON_ASSERT(hex_encode(mac, mac_n, out, ACTIVITY_KEY_HEX + 1) == ACTIVITY_KEY_HEX);
    return 0;
}

int activity_key_valid(const char *key) {
    return key != NULL && hex_is_lower_of_len(key, ACTIVITY_KEY_HEX);
}

size_t activity_home_index(const char *key, size_t regions_n) {
    CARBON_ASSERT(activity_key_valid(key) && regions_n >= 1);
    uint64_t v = 0;
    for (size_t i = 0; i < 16; i++) v = (v << 4) | (uint64_t)(key[i] <= '9' ? key[i] - '0' : key[i] - 'a' + 10);
    return (size_t)(v % regions_n);
}
