/* validate.c - request field checks (validate.h). */
#include "gateway/validate.h"

#include "gateway/config.h"

#include <ctype.h>
#include <string.h>

int validate_request_id(const char *s) {
    if (strlen(s) != VALIDATE_ID_HEX_LEN) return 0;
    for (size_t i = 0; i < VALIDATE_ID_HEX_LEN; i++)
        if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f')) return 0;
    return 1;
}

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
    if (slash == NULL || (size_t)(slash - s) >= 16) return 0;
    char r[16];
    memcpy(r, s, (size_t)(slash - s));
    r[slash - s] = '\0';
    if (!config_region_valid(r) || !validate_account_id(slash + 1)) return 0;
    memcpy(region, r, sizeof r);
    memcpy(id, slash + 1, strlen(slash + 1) + 1);
    return 1;
}

int validate_text(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > VALIDATE_TEXT_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '|' || c == ',') return 0;
    }
    return 1;
}

int validate_holder_kind(const char *s) {
    return !strcmp(s, "personal") || !strcmp(s, "household") || !strcmp(s, "firm") ||
           !strcmp(s, "public");
}

int validate_vintage(uint32_t v, int any_allowed) {
    if (v == 0) return any_allowed;
    return v >= VALIDATE_VINTAGE_MIN && v <= VALIDATE_VINTAGE_MAX;
}
