/* conf_text.c - line walker and validators of the catalog/rules format; see
 * conf_text.h. */
#include "adapters/conf_text.h"
#include "common/carbon_assert.h"

#include <stdio.h>
#include <string.h>

static int is_blank(char ch) { return ch == ' ' || ch == '\t'; }
static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }
static int is_upper(char ch) { return ch >= 'A' && ch <= 'Z'; }
static int is_alnum(char ch) {
    return is_digit(ch) || is_upper(ch) || (ch >= 'a' && ch <= 'z');
}

void conf_trim(const char **s, size_t *n) {
    CARBON_ASSERT(s != NULL && n != NULL);
    while (*n > 0 && is_blank(**s)) { (*s)++; (*n)--; }
    while (*n > 0 && is_blank((*s)[*n - 1])) (*n)--;
}

int conf_valid_token(const char *s, size_t max) {
    CARBON_ASSERT(s != NULL);
    size_t n = strlen(s);
    if (n == 0 || n > max || !is_alnum(s[0])) return 0;
    for (size_t i = 1; i < n; i++)
        if (!is_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-') return 0;
    return 1;
}

int conf_valid_region(const char *s) {
    CARBON_ASSERT(s != NULL);
    size_t n = strlen(s);
    if (n < 4 || n > 6 || !is_upper(s[0]) || !is_upper(s[1]) || s[2] != '-') return 0;
    for (size_t i = 3; i < n; i++)
        if (!is_upper(s[i]) && !is_digit(s[i])) return 0;
    return 1;
}

/* No overlongs, no surrogates, nothing above U+10FFFF. */
int conf_valid_utf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char b = s[i];
        size_t more;
        uint32_t cp, min;
        if (b < 0x80) { i++; continue; }
        if ((b & 0xE0) == 0xC0) { more = 1; cp = b & 0x1F; min = 0x80; }
        else if ((b & 0xF0) == 0xE0) { more = 2; cp = b & 0x0F; min = 0x800; }
        else if ((b & 0xF8) == 0xF0) { more = 3; cp = b & 0x07; min = 0x10000; }
        else return 0;
        if (n - i <= more) return 0;
        for (size_t k = 1; k <= more; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += more + 1;
    }
    return 1;
}

/* An optional '-', then digits with no leading zero (except "0" itself).
 * Negative values and zero yield CONF_NUM_NOT_POSITIVE. */
conf_num_rc_t conf_parse_positive(const char *s, size_t n, uint64_t *out) {
    int neg = 0;
    if (n > 0 && s[0] == '-') { neg = 1; s++; n--; }
    if (n == 0 || (n > 1 && s[0] == '0')) return CONF_NUM_MALFORMED;
    uint64_t v = 0;
    int range = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i])) return CONF_NUM_MALFORMED;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) range = 1;
        else v = v * 10 + d;
    }
    if (neg || (!range && v == 0)) return CONF_NUM_NOT_POSITIVE;
    if (range) return CONF_NUM_RANGE;
    *out = v;
    return CONF_NUM_OK;
}

/* Checks one raw line (without its end) for length, control bytes, UTF-8. */
static const char *line_problem(const char *s, size_t n, size_t line_max, char *buf,
                                size_t buflen) {
    if (n > line_max) {
        snprintf(buf, buflen, "line too long (max %zu bytes)", line_max);
        return buf;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7F) {
            snprintf(buf, buflen, "control character 0x%02x", ch);
            return buf;
        }
    }
    if (!conf_valid_utf8((const unsigned char *)s, n)) return "invalid UTF-8";
    return NULL;
}

int conf_text_walk(const char *name, const char *data, size_t len, size_t file_max,
                   size_t line_max, conf_line_fn fn, void *ctx, uint32_t *last_line,
                   char *err, size_t errlen) {
    CARBON_ASSERT(name != NULL && fn != NULL && last_line != NULL && err != NULL && errlen > 0);
    CARBON_ASSERT(data != NULL || len == 0);
    if (len > file_max) {
        uint32_t line = 1;
        for (size_t i = 0; i < file_max; i++) line += data[i] == '\n';
        snprintf(err, errlen, "%s:%u: file too large (max %zu bytes)", name, (unsigned)line, file_max);
        return -1;
    }
    size_t pos = 0;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) pos = 3; /* UTF-8 BOM */
    uint32_t line = 0;
    while (pos < len) {
        line++;
        const char *s = data + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t n = nl != NULL ? (size_t)(nl - s) : len - pos;
        pos += n + (nl != NULL);
        if (n > 0 && s[n - 1] == '\r') n--; /* CRLF */
        char why[64];
        const char *bad = line_problem(s, n, line_max, why, sizeof why);
        if (bad != NULL) {
            snprintf(err, errlen, "%s:%u: %s", name, (unsigned)line, bad);
            return -1;
        }
        conf_trim(&s, &n);
        if (n == 0 || s[0] == '#') continue;
        if (fn(ctx, line, s, n) != 0) return -1;
    }
    *last_line = line;
    return 0;
}
