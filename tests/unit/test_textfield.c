/* test_textfield.c - the free-text field encoding (settlement/textfield.h). */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "settlement/textfield.h"

Test(textfield, encodes_as_a_netstring) {
    char buf[64];
    cr_assert_eq(textfield_encode("Acme Co., Ltd.", 14, buf, sizeof buf), 18);
    cr_assert_str_eq(buf, "14:Acme Co., Ltd.,");
    cr_assert_eq(textfield_encode("", 0, buf, sizeof buf), 3);
    cr_assert_str_eq(buf, "0:,");
    cr_assert_eq(textfield_encode("a|b", 3, buf, 6), -1, "needs 7 bytes with the NUL");
    cr_assert_eq(textfield_encode("a|b", 3, buf, 7), 6);
    cr_assert_str_eq(buf, "3:a|b,");
}

Test(textfield, limits) {
    size_t cap = TEXTFIELD_ENCODED_MAX(TEXTFIELD_BYTES_MAX + 1) + 1;
    char *text = malloc(TEXTFIELD_BYTES_MAX + 1), *buf = malloc(cap);
    cr_assert(text != NULL && buf != NULL);
    memset(text, ',', TEXTFIELD_BYTES_MAX + 1);
    int w = textfield_encode(text, TEXTFIELD_BYTES_MAX, buf, cap);
    cr_assert_eq(w, TEXTFIELD_BYTES_MAX + 6);
    size_t pos = 0, len = 0;
    const char *t = NULL;
    cr_assert_eq(textfield_next(buf, (size_t)w, &pos, &t, &len), 0);
    cr_assert(len == TEXTFIELD_BYTES_MAX && t == buf + 5 && pos == (size_t)w);
    cr_assert_eq(textfield_encode(text, TEXTFIELD_BYTES_MAX + 1, buf, cap), -1);
    free(text);
    free(buf);
}

Test(textfield, decodes_fields_one_after_another) {
    static const char s[] = "1:|,0:,5:a:b,c,";
    size_t pos = 0, len = 0;
    const char *t = NULL;
    cr_assert_eq(textfield_next(s, sizeof s - 1, &pos, &t, &len), 0);
    cr_assert(len == 1 && t[0] == '|');
    cr_assert_eq(textfield_next(s, sizeof s - 1, &pos, &t, &len), 0);
    cr_assert_eq(len, 0);
    cr_assert_eq(textfield_next(s, sizeof s - 1, &pos, &t, &len), 0);
    cr_assert(len == 5 && memcmp(t, "a:b,c", 5) == 0);
    cr_assert_eq(pos, sizeof s - 1);
    cr_assert_eq(textfield_next(s, sizeof s - 1, &pos, &t, &len), -1, "nothing left");
}

Test(textfield, refuses_malformed_fields_and_changes_nothing) {
    static const char *const bad[] = {"",      ":a,",    "01:a,",   "00:,",  "1:ab,", "2:a,",
                                      "1:a",   "1a,",    "-1:a,",   "4097:x,", "99999:x,", "1:a;"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t pos = 0, len = 7;
        const char *t = "untouched";
        cr_expect_eq(textfield_next(bad[i], strlen(bad[i]), &pos, &t, &len), -1, "'%s' taken", bad[i]);
        cr_expect(pos == 0 && len == 7 && !strcmp(t, "untouched"), "'%s' changed the outputs", bad[i]);
    }
}
