/* test_rules.c - unit tests of adapters/rules.c: the shipped rules parse, the
 * digest ignores form and follows values, and bad files are refused with
 * FILE:LINE and a reason. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "adapters/catalog_set.h"
#include "adapters/rules.h"

#include <stdlib.h>
#include <unistd.h>

#ifndef SOURCE_DIR
#error "the test build defines SOURCE_DIR as the repository root"
#endif

#define ERR_LEN 512

static const char good[] =
    "[rules]\nregion = CN-BJ\nversion = 1\nstatus = illustrative\n"
    "[purpose compliance_offset]\norigins = CN-TJ CN-BJ\nmethodologies = *\n"
    "vintages = 2025-2026\nshare = 5/100\nshare_outside = 1/40\n"
    "[purpose voluntary_cancellation]\norigins = *\nmethodologies = BJ-GT-02 BJ-GT-01\nvintages = 2026\n"
    "[inflow CN-TJ]\ndaily_g = 1000\n";

static int parse(const char *text, rules_t *r, char *err) {
    return rules_parse_buffer("t.rules", text, strlen(text), r, err, ERR_LEN);
}

Test(rules, shipped_files_parse) {
    static const char *const regions[] = {"CN-TJ", "CN-BJ", "CN-HE"};
    for (size_t i = 0; i < 3; i++) {
        char path[512], err[ERR_LEN];
        rules_t r;
        snprintf(path, sizeof path, "%s/adapters/catalogs/%s.rules", SOURCE_DIR, regions[i]);
        cr_assert_eq(rules_parse_file(path, &r, err, sizeof err), 0, "%s", err);
        cr_assert_str_eq(r.region, regions[i]);
        cr_assert_eq(r.status, CATALOG_STATUS_ILLUSTRATIVE);
        cr_assert_eq(strlen(r.digest_hex), 64);
    }
}

Test(rules, good_values) {
    rules_t r;
    char err[ERR_LEN];
    cr_assert_eq(parse(good, &r, err), 0, "%s", err);
    const rules_purpose_t *c = rules_find_purpose(&r, "compliance_offset");
    cr_assert_not_null(c);
    cr_assert_eq(c->origins_n, 2);
    cr_assert_str_eq(c->origins[0], "CN-BJ"); /* sorted */
    cr_assert_eq(c->methodologies_n, 0);
    cr_assert_eq(c->vintage_min, 2025);
    cr_assert_eq(c->vintage_max, 2026);
    cr_assert_eq(c->share.num, 5);
    cr_assert_eq(c->share.den, 100);
    cr_assert_eq(c->share_outside.den, 40);
    const rules_purpose_t *v = rules_find_purpose(&r, "voluntary_cancellation");
    cr_assert_eq(v->vintage_min, 2026);
    cr_assert_eq(v->vintage_max, 2026);
    cr_assert_str_eq(v->methodologies[0], "BJ-GT-01");
    cr_assert_null(rules_find_purpose(&r, "rights_redemption"));
    cr_assert_eq(rules_find_inflow(&r, "CN-TJ")->daily_g, 1000);
    cr_assert_null(rules_find_inflow(&r, "CN-HE"));
}

Test(rules, digest_ignores_form_follows_values) {
    static const char reordered[] =
        "# a comment\r\n[inflow CN-TJ]\r\ndaily_g=1000\r\n\r\n"
        "[purpose voluntary_cancellation]\nvintages = 2026\nmethodologies =  BJ-GT-01   BJ-GT-02\norigins = *\n"
        "[rules]\nstatus = illustrative\nversion = 1\nregion = CN-BJ\n"
        "[purpose compliance_offset]\nshare_outside = 1 / 40\nshare = 5/100\norigins = CN-BJ CN-TJ\n"
        "methodologies = *\nvintages = 2025 - 2026\n";
    rules_t a, b;
    char err[ERR_LEN];
    cr_assert_eq(parse(good, &a, err), 0, "%s", err);
    cr_assert_eq(parse(reordered, &b, err), 0, "%s", err);
    cr_assert_str_eq(a.digest_hex, b.digest_hex);
    char changed[sizeof good];
    memcpy(changed, good, sizeof good);
    char *at = strstr(changed, "share = 5/100");
    at[8] = '6';
    cr_assert_eq(parse(changed, &b, err), 0, "%s", err);
    cr_assert_str_neq(a.digest_hex, b.digest_hex);
}

/* Each bad file is refused at the line named, with the reason. */
Test(rules, bad_files_name_file_and_line) {
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"[rules]\nregion = CN-BJ\nversion = 1\n", "t.rules:1: section missing required key 'status'"},
        {"x = 1\n", "t.rules:1: key 'x' outside any section"},
        {"[rules]\nregion = CN-BJ\nversion = 1\nstatus = draft\n", "t.rules:4: status: unknown status"},
        {"[rules]\nregion = XX\n", "t.rules:2: region: invalid region"},
        {"[purpose offsetting]\n", "t.rules:1: unknown purpose 'offsetting'"},
        {"[purpose voluntary_cancellation]\norigins = *\norigins = *\n", "t.rules:3: duplicate key 'origins' (first at line 2)"},
        {"[purpose voluntary_cancellation]\norigins = CN-TJ CN-TJ\n", "t.rules:2: origins: 'CN-TJ' twice"},
        {"[purpose voluntary_cancellation]\norigins = cn-tj\n", "t.rules:2: origins: invalid region 'cn-tj'"},
        {"[purpose voluntary_cancellation]\nvintages = 2027-2026\n", "t.rules:2: vintages: want YEAR"},
        {"[purpose voluntary_cancellation]\nvintages = 1999\n", "t.rules:2: vintages: want YEAR"},
        {"[purpose voluntary_cancellation]\nshare = 1/2\norigins = *\nmethodologies = *\nvintages = *\n", "t.rules:2: share and share_outside apply to compliance_offset only"},
        {"[purpose compliance_offset]\norigins = *\nmethodologies = *\nvintages = *\nshare = 1/2\n",
         "t.rules:1: [purpose compliance_offset] needs share and share_outside"},
        {"[purpose compliance_offset]\nshare = 3/2\n", "t.rules:2: share: share must be at most 1"},
        {"[purpose compliance_offset]\nshare = 1/2000000\n", "t.rules:2: share: share must be at most 1"},
        {"[purpose compliance_offset]\nshare = 0.05\n", "t.rules:2: share: malformed share"},
        {"[purpose compliance_offset]\nshare = -1/2\n", "t.rules:2: share: malformed share"},
        {"[inflow CN-TJ]\ndaily_g = 0\n", "t.rules:2: daily_g: want a positive number"},
        {"[inflow CN-TJ]\ndaily_g = 1125899906842624\n", "t.rules:2: daily_g: want a positive number"},
        {"[inflow CN-TJ]\ndaily_g = 1\n[inflow CN-TJ]\n", "t.rules:3: duplicate inflow of CN-TJ (first at line 1)"},
        {"[rules]\nregion = CN-BJ\nversion = 1\nstatus = illustrative\n[inflow CN-BJ]\ndaily_g = 1\n",
         "t.rules:5: inflow from the rules' own region CN-BJ"},
        {"[rules]\nregion = CN-BJ\nversion = 1\nstatus = illustrative\n[purpose compliance_offset]\n"
         "origins = *\nmethodologies = *\nvintages = *\nshare = 1/100\nshare_outside = 1/50\n",
         "t.rules:5: share_outside exceeds share"},
        {"[inflow CN-TJ]\ndaily_g = 1\n", "t.rules:2: missing [rules] section"},
        {"[bogus]\n", "t.rules:1: unknown section 'bogus'"},
        {"[rules]\nregion = CN-BJ\x01\n", "t.rules:2: control character 0x01"},
        {"[rules]\nversion = \xC3\x28\n", "t.rules:2: invalid UTF-8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rules_t r;
        char err[ERR_LEN];
        cr_assert_eq(parse(cases[i].text, &r, err), -1, "case %zu accepted", i);
        cr_assert(strncmp(err, cases[i].want, strlen(cases[i].want)) == 0, "case %zu: got '%s', want '%s'",
                  i, err, cases[i].want);
    }
}

Test(rules, limits) {
    static char big[RULES_FILE_MAX_BYTES + 2];
    memset(big, '#', sizeof big - 1);
    for (size_t i = 100; i < sizeof big - 1; i += 100) big[i] = '\n';
    rules_t r;
    char err[ERR_LEN];
    cr_assert_eq(parse(big, &r, err), -1);
    cr_assert(strstr(err, "file too large") != NULL, "%s", err);
    char longline[400];
    memset(longline, 'a', sizeof longline - 1);
    longline[sizeof longline - 1] = '\0';
    cr_assert_eq(parse(longline, &r, err), -1);
    cr_assert_str_eq(err, "t.rules:1: line too long (max 256 bytes)");
    cr_assert_eq(rules_parse_file("/nonexistent/x.rules", &r, err, sizeof err), -1);
    cr_assert(strncmp(err, "/nonexistent/x.rules:0: cannot open", 35) == 0, "%s", err);
}

/* The rules load and reload with the catalogs, all or nothing. */
static void copy_shipped(const char *dir, const char *name, const char *append) {
    char path[1024];
    snprintf(path, sizeof path, "%s/adapters/catalogs/%s", SOURCE_DIR, name);
    FILE *in = fopen(path, "rb");
    cr_assert_not_null(in, "%s", path);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *out = fopen(path, "wb");
    cr_assert_not_null(out, "%s", path);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
    if (append != NULL) fputs(append, out);
    fclose(in);
    fclose(out);
}

Test(rules, loaded_and_reloaded_with_the_catalogs) {
    char dir[] = "/tmp/test_rules_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    static const char *const names[] = {"CN-TJ.catalog", "CN-BJ.catalog", "CN-HE.catalog", "CN-TJ.rules"};
    for (size_t i = 0; i < 4; i++) copy_shipped(dir, names[i], NULL);
    catalog_set_t *set = catalog_set_new();
    char err[ERR_LEN];
    cr_assert_geq(catalog_set_load_dir(set, dir, err, sizeof err), 0, "%s", err);
    const rules_t *tj = catalog_set_rules(set, "CN-TJ");
    cr_assert_not_null(tj);
    cr_assert_null(catalog_set_rules(set, "CN-BJ")); /* no file: nothing restricted */
    const rules_t *all[CATALOG_SET_REGIONS_MAX];
    cr_assert_eq(catalog_set_rules_snapshot(set, all, CATALOG_SET_REGIONS_MAX), 1);
    /* a bad rules file fails the reload with FILE:LINE; the old rules stay */
    copy_shipped(dir, "CN-BJ.rules", "[purpose offsetting]\n");
    cr_assert_eq(catalog_set_reload(set, err, sizeof err), -1);
    cr_assert(strstr(err, "CN-BJ.rules:") != NULL && strstr(err, "unknown purpose 'offsetting'") != NULL,
              "%s", err);
    cr_assert_eq(catalog_set_rules(set, "CN-TJ"), tj);
    cr_assert_null(catalog_set_rules(set, "CN-BJ"));
    /* rules of another region than the file's catalog are refused */
    copy_shipped(dir, "CN-BJ.rules", NULL);
    char path[1024];
    snprintf(path, sizeof path, "%s/CN-HE.rules", dir);
    FILE *f = fopen(path, "wb");
    fputs("[rules]\nregion = CN-TJ\nversion = 1\nstatus = illustrative\n", f);
    fclose(f);
    cr_assert_eq(catalog_set_reload(set, err, sizeof err), -1);
    cr_assert(strstr(err, "CN-HE.rules:2: region 'CN-TJ' is not its catalog's CN-HE") != NULL, "%s", err);
    unlink(path);
    /* a good one: one region changed, the old pointer is still valid */
    cr_assert_eq(catalog_set_reload(set, err, sizeof err), 1, "%s", err);
    const rules_t *bj = catalog_set_rules(set, "CN-BJ");
    cr_assert_not_null(bj);
    cr_assert_eq(catalog_set_rules(set, "CN-TJ"), tj);
    cr_assert_str_neq(bj->digest_hex, tj->digest_hex);
    catalog_set_free(set);
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/CN-BJ.rules", dir);
    unlink(path);
    rmdir(dir);
}
