/* test_activity_key.c - keyed activity fingerprints (settlement/activity_key.h):
 * normalisation, classes, secrets by vintage, the secrets file's checks,
 * and the home region. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "settlement/activity_key.h"

#define S1 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define S2 "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

static char path[64];

/* Writes text to a fresh file; returns its path. */
static const char *file_of(const char *text) {
    snprintf(path, sizeof path, "/tmp/test_activity_key.XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void load(const char *text, activity_secrets_t *s) {
    char err[256] = "";
    int rc = activity_secrets_load(file_of(text), s, err, sizeof err);
    unlink(path);
    cr_assert_eq(rc, 0, "%s", err);
}

static void refused(const char *text, const char *needle) {
    activity_secrets_t s;
    char err[256] = "";
    int rc = activity_secrets_load(file_of(text), &s, err, sizeof err);
    unlink(path);
    cr_assert_eq(rc, -1, "accepted: %s", text);
    cr_assert(strstr(err, needle) != NULL, "%s", err);
}

Test(activity_key, one_activity_keys_alike_whatever_its_spelling) {
    activity_secrets_t s;
    load("# comment\n2000 " S1 "\n", &s);
    char a[ACTIVITY_KEY_HEX + 1], b[ACTIVITY_KEY_HEX + 1], c[ACTIVITY_KEY_HEX + 1], d[ACTIVITY_KEY_HEX + 1];
    cr_assert_eq(activity_key(&s, 2026, "public-transit", "Card-7 2026-11-24", a), 0);
    cr_assert_eq(activity_key(&s, 2026, "public-transit", "  card-7 \t 2026-11-24  ", b), 0);
    cr_assert_str_eq(a, b);
    cr_assert(activity_key_valid(a));
    cr_assert_eq(activity_key(&s, 2026, "cycling", "Card-7 2026-11-24", c), 0);
    cr_assert_str_neq(a, c, "another class is another activity");
    cr_assert_eq(activity_key(&s, 2026, "public-transit", "Card-72026-11-24", d), 0);
    cr_assert_str_neq(a, d, "inner spaces separate");
    /* non-ASCII text is kept byte for byte */
    cr_assert_eq(activity_key(&s, 2026, "public-transit", "天津卡 7", c), 0);
    cr_assert_eq(activity_key(&s, 2026, "public-transit", "天津卡  7 ", d), 0);
    cr_assert_str_eq(c, d);
}

Test(activity_key, secrets_rotate_by_vintage) {
    activity_secrets_t s;
    load("2020 " S1 "\n2027 " S2 "\n", &s);
    char a[ACTIVITY_KEY_HEX + 1], b[ACTIVITY_KEY_HEX + 1], c[ACTIVITY_KEY_HEX + 1];
    cr_assert_eq(activity_key(&s, 2026, "x", "fp", a), 0);
    cr_assert_eq(activity_key(&s, 2027, "x", "fp", b), 0);
    cr_assert_str_neq(a, b);
    cr_assert_eq(activity_key(&s, 2019, "x", "fp", c), -1, "no secret before 2020");
}

Test(activity_key, the_secrets_file_is_checked) {
    refused("", "no secret");
    refused("2000\n", "want VINTAGE_FROM HEX");
    refused("2000 abcd\n", "32..64 bytes");
    refused("2000 " S1 "\n2000 " S2 "\n", "must ascend");
    refused("year " S1 "\n", "not a year");
    refused("2000 " "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff" "\n", "not lowercase hex");
    activity_secrets_t s;
    char err[256];
    cr_assert_eq(activity_secrets_load("/nonexistent/secret", &s, err, sizeof err), -1);
}

Test(activity_key, the_home_is_spread_over_the_regions) {
    activity_secrets_t s;
    load("2000 " S1 "\n", &s);
    int seen[3] = {0};
    for (int i = 0; i < 300; i++) {
        char fp[32], k[ACTIVITY_KEY_HEX + 1];
        snprintf(fp, sizeof fp, "ride %d", i);
        cr_assert_eq(activity_key(&s, 2026, "public-transit", fp, k), 0);
        size_t h = activity_home_index(k, 3);
        cr_assert(h < 3);
        seen[h]++;
    }
    for (int r = 0; r < 3; r++) cr_assert(seen[r] > 50, "region %d is home of %d of 300", r, seen[r]);
    cr_assert_eq(activity_home_index("ffffffffffffffff" "000000000000000000000000000000000000000000000000", 1), 0);
}
