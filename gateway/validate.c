/* validate.c - request field checks (validate.h). */
#include "gateway/validate.h"
#include "common/carbon_assert.h"
#include "common/hex.h"

#include "gateway/config.h"

#include <ctype.h>
#include <string.h>

int validate_hex(const char *s, size_t len) { return hex_is_lower_of_len(s, len); }

int validate_request_id(const char *s) { return validate_hex(s, VALIDATE_ID_HEX_LEN); }

int validate_account_id(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > VALIDATE_ACCOUNT_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-') return 0;
    }
    return 1;
}

int validate_account_name(const char *s, char *region, char *id) {
    const char *slash = strchr(s, '/');
    if (slash == NULL || (size_t)(slash - s) >= CARBON_REGION_SIZE) return 0;
    char r[CARBON_REGION_SIZE];
    memcpy(r, s, (size_t)(slash - s));
    r[slash - s] = '\0';
    if (!config_region_valid(r) || !validate_account_id(slash + 1)) return 0;
    memcpy(region, r, sizeof r);
    memcpy(id, slash + 1, strlen(slash + 1) + 1);
    return 1;
}

int validate_free_text(const char *s, size_t min_bytes, size_t max_bytes) {
    CARBON_ASSERT(s != NULL && min_bytes <= max_bytes);
    size_t n = strlen(s);
    if (n < min_bytes || n > max_bytes) return 0;
    if (!validate_utf8((const uint8_t *)s, n)) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) return 0;
        /* C1 controls U+0080..U+009F are encoded 0xc2 0x80..0x9f */
        if (c == 0xc2 && (unsigned char)s[i + 1] <= 0x9f) return 0;
    }
    return 1;
}

int validate_text(const char *s) { return validate_free_text(s, 1, VALIDATE_TEXT_MAX); }

int validate_holder_kind(const char *s) {
    return !strcmp(s, "personal") || !strcmp(s, "household") || !strcmp(s, "firm") ||
           !strcmp(s, "public");
}

int validate_vintage(uint32_t v, int any_allowed) {
    if (v == 0) return any_allowed;
    return v >= VALIDATE_VINTAGE_MIN && v <= VALIDATE_VINTAGE_MAX;
}

int validate_utf8(const uint8_t *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t more;
        uint8_t lo = 0x80, hi = 0xbf; /* the range of the byte after the lead */
        if (c >= 0xc2 && c <= 0xdf) {
            more = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            more = 2;
            if (c == 0xe0) lo = 0xa0; /* overlong */
            if (c == 0xed) hi = 0x9f; /* surrogates U+D800..U+DFFF */
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3;
            if (c == 0xf0) lo = 0x90; /* overlong */
            if (c == 0xf4) hi = 0x8f; /* above U+10FFFF */
        } else {
            return 0; /* a continuation byte, 0xc0/0xc1 or 0xf5.. */
        }
        if (n - i - 1 < more) return 0;
        if (p[i + 1] < lo || p[i + 1] > hi) return 0;
        for (size_t k = 2; k <= more; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xbf) return 0;
        i += more + 1;
    }
    return 1;
}
