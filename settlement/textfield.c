/* textfield.c - netstring fields for free text (textfield.h). */
#include "settlement/textfield.h"
#include "common/carbon_assert.h"
#include "settlement/ledger.h"

#include <stdio.h>
#include <string.h>

/* The length prefix has room for the longest text (the Lua decoder in
 * _prelude.lua applies the same two limits; test_free_text checks both
 * sides refuse one byte more), and the ledger's free texts (beneficiary,
 * activity fingerprint) fit one field. */
CARBON_STATIC_ASSERT(TEXTFIELD_LEN_DIGITS_MAX == 4 && TEXTFIELD_BYTES_MAX <= 9999,
                     "a text's length is at most TEXTFIELD_LEN_DIGITS_MAX digits");
CARBON_STATIC_ASSERT(LEDGER_TEXT_MAX <= TEXTFIELD_BYTES_MAX, "a ledger text fits one text field");

int textfield_encode(const char *text, size_t n, char *buf, size_t cap) {
    CARBON_ASSERT(text != NULL || n == 0);
    CARBON_ASSERT(buf != NULL);
    if (n > TEXTFIELD_BYTES_MAX) return -1;
    char len[TEXTFIELD_LEN_DIGITS_MAX + 2];
    int digits = snprintf(len, sizeof len, "%zu:", n);
    CARBON_ASSERT(digits > 1 && (size_t)digits < sizeof len);
    size_t total = (size_t)digits + n + 1;
    if (total + 1 > cap) return -1;
    memcpy(buf, len, (size_t)digits);
    if (n > 0) memcpy(buf + digits, text, n);
    buf[total - 1] = ',';
    buf[total] = '\0';
    return (int)total;
}

int textfield_next_within(const char *s, size_t len, size_t *pos, const char **field,
                          size_t *field_len, size_t max_bytes) {
    CARBON_ASSERT(s != NULL && pos != NULL && field != NULL && field_len != NULL);
    CARBON_ASSERT(max_bytes <= TEXTFIELD_WITHIN_MAX);
    size_t i = *pos, n = 0, digits = 0;
    if (i >= len) return -1;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        if (digits == 1 && n == 0) return -1; /* a leading zero */
        n = n * 10 + (size_t)(s[i] - '0');
        if (n > max_bytes) return -1; /* also bounds the digits read */
        digits++;
        i++;
    }
    if (digits == 0 || i >= len || s[i] != ':') return -1;
    i++;
    if (len - i < n + 1 || s[i + n] != ',') return -1;
    *field = s + i;
    *field_len = n;
    *pos = i + n + 1;
    return 0;
}

int textfield_next(const char *s, size_t len, size_t *pos, const char **field, size_t *field_len) {
    return textfield_next_within(s, len, pos, field, field_len, TEXTFIELD_BYTES_MAX);
}
