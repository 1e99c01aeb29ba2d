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

/* Ordinary text: separators of any kind, quotes, Chinese. Free text is stored
 * length-prefixed, so nothing in it needs to be refused (issue 11 item 3). */
Test(validate, text_accepts_ordinary_text) {
    static const char *const good[] = {
        "Acme Co., Ltd.",
        "\xe5\xa4\xa9\xe6\xb4\xa5\xe5\xb8\x82\xe6\x9f\x90\xe6\x9f\x90\xe6\x9c\x89\xe9\x99\x90"
        "\xe5\x85\xac\xe5\x8f\xb8, \xe7\xac\xac" "1|2\xe9\x83\xa8", /* 天津市某某有限公司, 第1|2部 */
        "a,b", "a|b", ",", "|", ":", "12:x,", "\"quoted\"", "'single'", "back\\slash",
        "\xc2\xa0no-break space", "\xe2\x80\xa8", /* U+00A0, U+2028: not control characters */
        "\xf0\x9f\x8c\xb3 tree",                  /* 4-byte UTF-8 */
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_expect(validate_text(good[i]), "text #%zu '%s' refused", i, good[i]);
}

/* Control characters never belong in a name or a reason: C0 (NUL cannot
 * even be sent), DEL, and C1 U+0080..U+009F. Bytes that are not UTF-8 are
 * refused too. */
Test(validate, text_refuses_controls_and_bytes_that_are_not_utf8) {
    static const char *const bad[] = {
        "a\tb", "a\nb", "a\rb", "\x01", "a\x1f", "a\x7f", "\x1b[31m",
        "a\xc2\x80", "a\xc2\x85" "b", "\xc2\x9f", /* C1 controls */
        "a\xff", "\xe5\xa4", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_not(validate_text(bad[i]), "text #%zu accepted", i);
}

Test(validate, text_length_counts_bytes) {
    /* 85 three-byte characters = 255 bytes: fits; 86 = 258 bytes: too long */
    char buf[3 * 86 + 1];
    for (int n = 85; n <= 86; n++) {
        buf[0] = '\0';
        for (int i = 0; i < n; i++) strcat(buf, "\xe7\xa2\xb3");
        cr_expect_eq(validate_text(buf), 3 * n <= VALIDATE_TEXT_MAX, "%d bytes of UTF-8", 3 * n);
    }
}

Test(validate, free_text_bounds) {
    cr_expect_not(validate_free_text("123456789", 10, 512), "9 bytes, 10 wanted");
    cr_expect(validate_free_text("incident 7", 10, 512));
    char *max = repeat('r', 512);
    cr_expect(validate_free_text(max, 10, 512));
    free(max);
    char *over = repeat('r', 513);
    cr_expect_not(validate_free_text(over, 10, 512));
    free(over);
    cr_expect(validate_free_text("", 0, 0), "empty allowed when min is 0");
    cr_expect_not(validate_free_text("x", 0, 0));
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

/* ---- hex ------------------------------------------------------------------------ */

Test(validate, hex) {
    cr_expect(validate_hex("0123456789abcdef", 16));
    cr_expect(validate_hex("", 0));
    cr_expect_not(validate_hex("0123456789ABCDEF", 16), "uppercase is another spelling");
    cr_expect_not(validate_hex("0123456789abcdeg", 16));
    cr_expect_not(validate_hex("0123456789abcde", 16), "one digit short");
    cr_expect_not(validate_hex("0123456789abcdef0", 16), "one digit over");
    cr_expect_not(validate_hex("01234567 9abcdef", 16));
    char *h = repeat('f', 64);
    cr_expect(validate_hex(h, 64), "a SHA-256 in hex");
    h[63] = 'x';
    cr_expect_not(validate_hex(h, 64));
    free(h);
}

/* ---- UTF-8 ---------------------------------------------------------------------- */

/* 1 if the bytes of the string literal (without its NUL) are valid UTF-8. The
 * bytes are copied to a heap block of exactly that size, so a read past the
 * end is an ASan report. */
static int utf8_ok(const char *lit, size_t n) {
    uint8_t *b = malloc(n ? n : 1);
    cr_assert_not_null(b);
    memcpy(b, lit, n);
    int ok = validate_utf8(b, n);
    free(b);
    return ok;
}
#define UTF8_OK(lit) utf8_ok(lit, sizeof lit - 1)

Test(validate, utf8_accepts_well_formed) {
    cr_expect(UTF8_OK(""));
    cr_expect(UTF8_OK("tj-a CN-TJ/x"));
    cr_expect(UTF8_OK("\x7f"), "U+007F, the last one-byte code point");
    cr_expect(UTF8_OK("\xc2\x80"), "U+0080, the first two-byte code point");
    cr_expect(UTF8_OK("\xdf\xbf"), "U+07FF");
    cr_expect(UTF8_OK("\xe0\xa0\x80"), "U+0800, the first three-byte code point");
    cr_expect(UTF8_OK("\xed\x9f\xbf"), "U+D7FF, just below the surrogates");
    cr_expect(UTF8_OK("\xee\x80\x80"), "U+E000, just above the surrogates");
    cr_expect(UTF8_OK("\xef\xbf\xbf"), "U+FFFF");
    cr_expect(UTF8_OK("\xf0\x90\x80\x80"), "U+10000, the first four-byte code point");
    cr_expect(UTF8_OK("\xf4\x8f\xbf\xbf"), "U+10FFFF, the last code point");
    cr_expect(UTF8_OK("\xe7\xa2\xb3\xe6\x99\xae\xe6\x83\xa0"), "碳普惠");
    cr_expect(UTF8_OK("\xe5\xa4\xa9\xe6\xb4\xa5 tianjin"), "天津 and ASCII mixed");
}

Test(validate, utf8_refuses_malformed) {
    cr_expect_not(UTF8_OK("\x80"), "a lone continuation byte");
    cr_expect_not(UTF8_OK("a\xbf"), "a continuation byte after ASCII");
    cr_expect_not(UTF8_OK("\xc0\x80"), "overlong NUL");
    cr_expect_not(UTF8_OK("\xc1\xbf"), "overlong U+007F");
    cr_expect_not(UTF8_OK("\xe0\x9f\xbf"), "overlong U+07FF in three bytes");
    cr_expect_not(UTF8_OK("\xf0\x8f\xbf\xbf"), "overlong U+FFFF in four bytes");
    cr_expect_not(UTF8_OK("\xed\xa0\x80"), "U+D800, a surrogate");
    cr_expect_not(UTF8_OK("\xed\xbf\xbf"), "U+DFFF, a surrogate");
    cr_expect_not(UTF8_OK("\xf4\x90\x80\x80"), "U+110000, above the last code point");
    cr_expect_not(UTF8_OK("\xf5\x80\x80\x80"), "lead byte 0xf5");
    cr_expect_not(UTF8_OK("\xff"), "0xff never appears");
    cr_expect_not(UTF8_OK("\xc2"), "cut after the lead byte");
    cr_expect_not(UTF8_OK("\xe7\xa2"), "cut inside a three-byte sequence");
    cr_expect_not(UTF8_OK("\xf0\x90\x80"), "cut inside a four-byte sequence");
    cr_expect_not(UTF8_OK("\xe7\x41\xb3"), "ASCII where a continuation belongs");
    cr_expect_not(UTF8_OK("\xc2\xc2\x80"), "a lead byte where a continuation belongs");
    cr_expect_not(UTF8_OK("ok\xe7\xa2\xb3\xe6\x99"), "valid text then a cut sequence");
}
