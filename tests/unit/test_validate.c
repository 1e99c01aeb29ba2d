/* test_validate.c - unit tests of gateway/validate.h: the request field
 * checks at the edge. Output buffers are heap blocks of exactly the documented
 * size, so that ASan reports any write past them. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/validate.h"

/* A malloc'd string of n copies of c (caller frees). */
static char *repeat(char c, size_t n) {
    char *s = malloc(n + 1);
    cr_assert_not_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* ---- request ids ---------------------------------------------------------------- */

Test(validate, request_id) {
    cr_expect(validate_request_id("0123456789abcdef0123456789abcdef"));
    cr_expect(validate_request_id("00000000000000000000000000000000"));
    cr_expect(validate_request_id("ffffffffffffffffffffffffffffffff"));
    cr_expect_not(validate_request_id(""));
    cr_expect_not(validate_request_id("0123456789abcdef0123456789abcde"), "31 digits");
    cr_expect_not(validate_request_id("0123456789abcdef0123456789abcdef0"), "33 digits");
    cr_expect_not(validate_request_id("0123456789ABCDEF0123456789abcdef"), "upper case");
    cr_expect_not(validate_request_id("0123456789abcdeg0123456789abcdef"), "g");
    cr_expect_not(validate_request_id("0123456789abcdef 123456789abcdef"), "space");
    cr_expect_not(validate_request_id("0x23456789abcdef0123456789abcdef"), "0x prefix");
    cr_expect_not(validate_request_id("0123456789abcdef-0123456789abcde"), "dash");
    cr_expect_not(validate_request_id("01234567-89ab-cdef-0123-456789abcdef"), "UUID form");
}

/* ---- account ids and names ------------------------------------------------------------- */

Test(validate, account_id) {
    cr_expect(validate_account_id("a"));
    cr_expect(validate_account_id("p-7f3a"));
    cr_expect(validate_account_id("org.Example_01-x"));
    char *max = repeat('a', VALIDATE_ACCOUNT_MAX);
    cr_expect(validate_account_id(max), "%d characters", VALIDATE_ACCOUNT_MAX);
    free(max);
    char *over = repeat('a', VALIDATE_ACCOUNT_MAX + 1);
    cr_expect_not(validate_account_id(over), "%d characters", VALIDATE_ACCOUNT_MAX + 1);
    free(over);
    cr_expect_not(validate_account_id(""));
    static const char *const bad[] = {"a/b", "a b", "a@b", "a+b", "a:b", "a|b", "a,b",
                                      "a\nb", "a\tb", "caf\xc3\xa9", "a%20", "CN-TJ/p-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_not(validate_account_id(bad[i]), "'%s' accepted", bad[i]);
}

Test(validate, account_name_good) {
    char *region = malloc(16), *id = malloc(VALIDATE_ACCOUNT_MAX + 1);
    cr_assert(region && id);
    cr_expect(validate_account_name("CN-TJ/p-7f3a", region, id));
    cr_expect_str_eq(region, "CN-TJ");
    cr_expect_str_eq(id, "p-7f3a");
    cr_expect(validate_account_name("CN-BJ/org.x_1", region, id));
    cr_expect_str_eq(region, "CN-BJ");
    cr_expect_str_eq(id, "org.x_1");
    cr_expect(validate_account_name("FR-75C/a", region, id), "6-byte region");
    cr_expect_str_eq(region, "FR-75C");
    /* the longest id fills the 65-byte buffer exactly */
    char name[8 + VALIDATE_ACCOUNT_MAX];
    char *max = repeat('z', VALIDATE_ACCOUNT_MAX);
    snprintf(name, sizeof name, "CN-HE/%s", max);
    cr_expect(validate_account_name(name, region, id));
    cr_expect_str_eq(id, max);
    free(max);
    free(region);
    free(id);
}

Test(validate, account_name_bad_leaves_outputs_alone) {
    char *region = malloc(16), *id = malloc(VALIDATE_ACCOUNT_MAX + 1);
    cr_assert(region && id);
    char *over = repeat('z', VALIDATE_ACCOUNT_MAX + 1);
    char too_long_id[8 + VALIDATE_ACCOUNT_MAX + 1];
    snprintf(too_long_id, sizeof too_long_id, "CN-TJ/%s", over);
    free(over);
    const char *const bad[] = {
        "",                         /* nothing */
        "p-1",                      /* no region */
        "/p-1",                     /* empty region */
        "CN-TJ/",                   /* empty id */
        "CN-TJ",                    /* no slash */
        "cn-tj/p-1",                /* lower-case region */
        "CN_TJ/p-1",                /* not a region code */
        "CN-TJKL/p-1",              /* subdivision too long */
        "CN-TJ-TOO-LONG-REGION/p",  /* region longer than the 16-byte buffer */
        "ABCDEFGHIJKLMNOP/p",       /* exactly 16 bytes before the slash */
        "CN-TJ/a/b",                /* two slashes */
        "CN-TJ/p 1",                /* space in the id */
        "CN-TJ//p-1",               /* empty segment */
        too_long_id,                /* 65-character id */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        strcpy(region, "untouched");
        strcpy(id, "untouched");
        cr_expect_not(validate_account_name(bad[i], region, id), "'%s' accepted", bad[i]);
        cr_expect_str_eq(region, "untouched", "'%s' wrote the region", bad[i]);
        cr_expect_str_eq(id, "untouched", "'%s' wrote the id", bad[i]);
    }
    free(region);
    free(id);
}

/* ---- free text ---------------------------------------------------------------------- */

Test(validate, text) {
    cr_expect(validate_text("x"));
    cr_expect(validate_text("Tianjin Green Travel 2026 - household #42"));
    cr_expect(validate_text("\xe7\xa2\xb3\xe6\x99\xae\xe6\x83\xa0"), "UTF-8 (碳普惠)");
    cr_expect(validate_text(" leading and trailing spaces "));
    char *max = repeat('t', VALIDATE_TEXT_MAX);
    cr_expect(validate_text(max), "%d bytes", VALIDATE_TEXT_MAX);
    free(max);
    char *over = repeat('t', VALIDATE_TEXT_MAX + 1);
    cr_expect_not(validate_text(over), "%d bytes", VALIDATE_TEXT_MAX + 1);
    free(over);
    cr_expect_not(validate_text(""));
}

/* '|' and ',' are the audit encoding's separators; control bytes never
 * belong in a name. */
Test(validate, text_separators_and_controls) {
    static const char *const bad[] = {
        "a,b", "a|b", ",", "|", "a\tb", "a\nb", "a\rb", "\x01", "a\x1f", "a\x7f", "\x1b[31m",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_not(validate_text(bad[i]), "text #%zu accepted", i);
}

Test(validate, text_length_counts_bytes) {
    /* 42 three-byte characters = 126 bytes: fits; 43 = 129 bytes: too long */
    char buf[3 * 43 + 1];
    for (int n = 42; n <= 43; n++) {
        buf[0] = '\0';
        for (int i = 0; i < n; i++) strcat(buf, "\xe7\xa2\xb3");
        cr_expect_eq(validate_text(buf), 3 * n <= VALIDATE_TEXT_MAX, "%d bytes of UTF-8", 3 * n);
    }
}

/* ---- enumerations and ranges ----------------------------------------------------------- */

Test(validate, holder_kind) {
    static const char *const good[] = {"personal", "household", "firm", "public"};
    for (size_t i = 0; i < 4; i++) cr_expect(validate_holder_kind(good[i]), "%s", good[i]);
    static const char *const bad[] = {"",          "Personal", "PERSONAL", "personal ",
                                      " personal", "persona",  "personals", "org",
                                      "firm\n",    "public\t", "government"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_not(validate_holder_kind(bad[i]), "'%s' accepted", bad[i]);
}

Test(validate, vintage) {
    cr_expect(validate_vintage(VALIDATE_VINTAGE_MIN, 0));
    cr_expect(validate_vintage(VALIDATE_VINTAGE_MAX, 0));
    cr_expect(validate_vintage(2026, 0));
    cr_expect(validate_vintage(2026, 1));
    cr_expect_not(validate_vintage(VALIDATE_VINTAGE_MIN - 1, 0));
    cr_expect_not(validate_vintage(VALIDATE_VINTAGE_MAX + 1, 0));
    cr_expect_not(validate_vintage(VALIDATE_VINTAGE_MIN - 1, 1), "any_allowed only admits 0");
    cr_expect_not(validate_vintage(VALIDATE_VINTAGE_MAX + 1, 1));
    cr_expect_not(validate_vintage(1, 1));
    cr_expect_not(validate_vintage(UINT32_MAX, 1));
    cr_expect_not(validate_vintage(UINT32_MAX, 0));
    cr_expect_eq(validate_vintage(0, 1), 1, "0 means any vintage where allowed");
    cr_expect_eq(validate_vintage(0, 0), 0, "0 refused where a vintage is required");
}
