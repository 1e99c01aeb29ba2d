/* fuzz_catalog.c - the catalog parser (adapters/catalog.h,
 * catalog_parse_buffer) on arbitrary bytes. A catalog it accepts must keep
 * its documented contract (terminated fields within limits, sorted, positive
 * rationals, ratios <= 1, recognitions naming local methodologies, a hex
 * digest), be found by its own lookups, print, and survive a round trip:
 * written back as a catalog file it parses to the same values and digest. */
#include "tests/fuzz/fuzz_common.h"

#include "adapters/catalog.h"
#include "adapters/catalog_print.h"

#include <string.h>

#define NAME "fuzz.catalog"

static int hex_digest(const char *s) {
    if (strlen(s) != CATALOG_DIGEST_HEX_LEN) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
    return 1;
}

static void check_contract(const catalog_t *c) {
    FUZZ_CHECK(fuzz_terminated(c->region, sizeof c->region) && strlen(c->region) >= 4,
               "region");
    FUZZ_CHECK(fuzz_terminated(c->version, sizeof c->version) && c->version[0], "version");
    FUZZ_CHECK(fuzz_terminated(c->display_unit, sizeof c->display_unit) && c->display_unit[0],
               "display unit");
    FUZZ_CHECK(c->display_unit_g > 0, "display_unit_g 0");
    FUZZ_CHECK(c->status == CATALOG_STATUS_ILLUSTRATIVE || c->status == CATALOG_STATUS_PUBLISHED,
               "status %d", (int)c->status);
    FUZZ_CHECK(c->methodologies_n >= 1 && c->methodologies_n <= CATALOG_METHODOLOGIES_MAX,
               "%u methodologies", c->methodologies_n);
    FUZZ_CHECK(c->recognitions_n <= CATALOG_RECOGNITIONS_MAX, "%u recognitions",
               c->recognitions_n);
    FUZZ_CHECK(hex_digest(c->digest_hex), "digest '%s'", c->digest_hex);
    for (uint32_t i = 0; i < c->methodologies_n; i++) {
        const catalog_methodology_t *m = &c->methodologies[i];
        FUZZ_CHECK(fuzz_terminated(m->id, sizeof m->id) && m->id[0], "methodology %u id", i);
        FUZZ_CHECK(fuzz_terminated(m->name, sizeof m->name) && m->name[0], "name of %s", m->id);
        FUZZ_CHECK(fuzz_terminated(m->native_unit, sizeof m->native_unit) && m->native_unit[0],
                   "unit of %s", m->id);
        FUZZ_CHECK(m->g_per_unit.num > 0 && m->g_per_unit.den > 0, "g_per_unit of %s", m->id);
        FUZZ_CHECK(i == 0 || strcmp(c->methodologies[i - 1].id, m->id) < 0, "not sorted at %s",
                   m->id);
        FUZZ_CHECK(catalog_find_methodology(c, m->id) == m, "lookup of %s", m->id);
    }
    for (uint32_t i = 0; i < c->recognitions_n; i++) {
        const catalog_recognition_t *r = &c->recognitions[i];
        FUZZ_CHECK(fuzz_terminated(r->from_region, sizeof r->from_region) &&
                       fuzz_terminated(r->foreign_id, sizeof r->foreign_id) &&
                       fuzz_terminated(r->local_id, sizeof r->local_id),
                   "recognition %u", i);
        FUZZ_CHECK(strcmp(r->from_region, c->region) != 0, "recognizes its own region");
        FUZZ_CHECK(r->ratio.num > 0 && r->ratio.num <= r->ratio.den, "ratio %llu/%llu",
                   (unsigned long long)r->ratio.num, (unsigned long long)r->ratio.den);
        FUZZ_CHECK(catalog_find_methodology(c, r->local_id) != NULL, "local '%s' unknown",
                   r->local_id);
        if (i > 0) {
            const catalog_recognition_t *q = &c->recognitions[i - 1];
            int d = strcmp(q->from_region, r->from_region);
            FUZZ_CHECK(d < 0 || (d == 0 && strcmp(q->foreign_id, r->foreign_id) < 0),
                       "recognitions not sorted at %s:%s", r->from_region, r->foreign_id);
        }
        FUZZ_CHECK(catalog_find_recognition(c, r->from_region, r->foreign_id) == r,
                   "lookup of %s:%s", r->from_region, r->foreign_id);
    }
}

/* The catalog as a file, in the documented format. */
static size_t write_back(const catalog_t *c, char *buf, size_t cap) {
    FILE *f = fmemopen(buf, cap, "w");
    FUZZ_CHECK(f != NULL, "fmemopen");
    fprintf(f, "[catalog]\nregion = %s\nversion = %s\nstatus = %s\ndisplay_unit = %s\n"
               "display_unit_g = %llu\n",
            c->region, c->version, catalog_status_name(c->status), c->display_unit,
            (unsigned long long)c->display_unit_g);
    for (uint32_t i = c->methodologies_n; i-- > 0;) { /* another order: must not matter */
        const catalog_methodology_t *m = &c->methodologies[i];
        fprintf(f, "[methodology %s]\ng_per_unit = %llu / %llu\nnative_unit = %s\nname = %s\n",
                m->id, (unsigned long long)m->g_per_unit.num,
                (unsigned long long)m->g_per_unit.den, m->native_unit, m->name);
    }
    for (uint32_t i = 0; i < c->recognitions_n; i++) {
        const catalog_recognition_t *r = &c->recognitions[i];
        fprintf(f, "[recognize %s:%s]\nratio = %llu/%llu\nlocal = %s\n", r->from_region,
                r->foreign_id, (unsigned long long)r->ratio.num,
                (unsigned long long)r->ratio.den, r->local_id);
    }
    long n = ftell(f);
    FUZZ_CHECK(fclose(f) == 0 && n > 0 && (size_t)n < cap, "write-back of %ld bytes", n);
    return (size_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static catalog_t c, again;
    static char text[CATALOG_FILE_MAX_BYTES + 1];
    static FILE *devnull;
    char err[512];
    if (devnull == NULL) devnull = fopen("/dev/null", "w");
    FUZZ_CHECK(devnull != NULL, "/dev/null");
    if (catalog_parse_buffer(NAME, (const char *)data, size, &c, err, sizeof err) != 0) {
        FUZZ_CHECK(fuzz_terminated(err, sizeof err) && strncmp(err, NAME ":", strlen(NAME ":")) == 0,
                   "error '%s' does not start with the name", err);
        return 0;
    }
    FUZZ_CHECK(strcmp(c.path, NAME) == 0, "path '%s'", c.path);
    check_contract(&c);
    FUZZ_CHECK(catalog_print_table(&c, devnull) == 0, "print_table failed");

    size_t n = write_back(&c, text, sizeof text);
    int rc = catalog_parse_buffer("again", text, n, &again, err, sizeof err);
    FUZZ_CHECK(rc == 0, "the catalog written back does not parse: %s\n%.*s", err, (int)n, text);
    FUZZ_CHECK(strcmp(again.digest_hex, c.digest_hex) == 0, "digest changed on the round trip");
    FUZZ_CHECK(again.methodologies_n == c.methodologies_n &&
                   again.recognitions_n == c.recognitions_n &&
                   again.display_unit_g == c.display_unit_g && again.status == c.status &&
                   strcmp(again.region, c.region) == 0 && strcmp(again.version, c.version) == 0 &&
                   strcmp(again.display_unit, c.display_unit) == 0,
               "header changed on the round trip");
    for (uint32_t i = 0; i < c.methodologies_n; i++) {
        const catalog_methodology_t *a = &c.methodologies[i], *b = &again.methodologies[i];
        FUZZ_CHECK(strcmp(a->id, b->id) == 0 && strcmp(a->name, b->name) == 0 &&
                       strcmp(a->native_unit, b->native_unit) == 0 &&
                       a->g_per_unit.num == b->g_per_unit.num &&
                       a->g_per_unit.den == b->g_per_unit.den,
                   "methodology %s changed on the round trip", a->id);
    }
    for (uint32_t i = 0; i < c.recognitions_n; i++) {
        const catalog_recognition_t *a = &c.recognitions[i], *b = &again.recognitions[i];
        FUZZ_CHECK(strcmp(a->from_region, b->from_region) == 0 &&
                       strcmp(a->foreign_id, b->foreign_id) == 0 &&
                       strcmp(a->local_id, b->local_id) == 0 && a->ratio.num == b->ratio.num &&
                       a->ratio.den == b->ratio.den,
                   "recognition %s:%s changed on the round trip", a->from_region, a->foreign_id);
    }
    return 0;
}
