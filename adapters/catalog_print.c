/* catalog_print.c - a catalog as text tables; see catalog_print.h. */
#include "adapters/catalog_print.h"
#include "common/carbon_assert.h"

#include <string.h>

#define PRINT_RATIONAL_MAX 48u /* "18446744073709551615/18446744073709551615" */
#define PRINT_COLUMNS_MAX 4u

/* East Asian Wide and Fullwidth ranges (Unicode 15, abridged): two columns. */
static const struct {
    uint32_t lo, hi;
} wide_ranges[] = {
    {0x1100, 0x115F},  {0x2E80, 0x303E},  {0x3041, 0x33FF}, {0x3400, 0x4DBF},
    {0x4E00, 0x9FFF},  {0xA000, 0xA4CF},  {0xAC00, 0xD7A3}, {0xF900, 0xFAFF},
    {0xFE30, 0xFE4F},  {0xFF00, 0xFF60},  {0xFFE0, 0xFFE6}, {0x1F300, 0x1F64F},
    {0x20000, 0x3FFFD},
};

/* Terminal columns of a well-formed UTF-8 string (the parser checked it). */
static size_t text_width(const char *s) {
    const unsigned char *u = (const unsigned char *)s;
    size_t width = 0;
    while (*u != '\0') {
        uint32_t cp;
        size_t more;
        if (*u < 0x80) { cp = *u; more = 0; }
        else if ((*u & 0xE0) == 0xC0) { cp = *u & 0x1F; more = 1; }
        else if ((*u & 0xF0) == 0xE0) { cp = *u & 0x0F; more = 2; }
        else { cp = *u & 0x07; more = 3; }
        u++;
        for (size_t k = 0; k < more && (*u & 0xC0) == 0x80; k++, u++)
            cp = (cp << 6) | (*u & 0x3F);
        size_t w = 1;
        for (size_t i = 0; i < sizeof wide_ranges / sizeof wide_ranges[0]; i++)
            if (cp >= wide_ranges[i].lo && cp <= wide_ranges[i].hi) w = 2;
        width += w;
    }
    return width;
}

static void rational_text(catalog_rational_t r, char buf[PRINT_RATIONAL_MAX]) {
    snprintf(buf, PRINT_RATIONAL_MAX, "%llu/%llu", (unsigned long long)r.num,
             (unsigned long long)r.den);
}

/* Prints cells[0..n) padded to widths, two spaces apart, no trailing blanks. */
static void print_row(FILE *out, const char *const *cells, const size_t *widths,
                      size_t n) {
    CARBON_ASSERT(n <= PRINT_COLUMNS_MAX);
    for (size_t i = 0; i < n; i++) {
        fputs(cells[i], out);
        if (i + 1 == n) break;
        for (size_t w = text_width(cells[i]); w < widths[i] + 2; w++) fputc(' ', out);
    }
    fputc('\n', out);
}

static void widen(size_t *widths, const char *const *cells, size_t n) {
    for (size_t i = 0; i < n; i++) {
        size_t w = text_width(cells[i]);
        if (w > widths[i]) widths[i] = w;
    }
}

int catalog_print_table(const catalog_t *c, FILE *out) {
    CARBON_ASSERT(c != NULL && out != NULL);
    CARBON_ASSERT(c->methodologies_n <= CATALOG_METHODOLOGIES_MAX);
    CARBON_ASSERT(c->recognitions_n <= CATALOG_RECOGNITIONS_MAX);
    char num[PRINT_RATIONAL_MAX];

    fprintf(out, "catalog  %s  version %s\n", c->region, c->version);
    if (c->status == CATALOG_STATUS_ILLUSTRATIVE)
        fputs("status   ILLUSTRATIVE DEFAULTS, to be replaced by the regulator's "
              "published factors\n", out);
    else
        fputs("status   published\n", out);
    fprintf(out, "digest   %s\n", c->digest_hex);
    fprintf(out, "unit     1 %s = %llu g CO2e\n\n", c->display_unit,
            (unsigned long long)c->display_unit_g);

    static const char *const mhead[] = {"ID", "NAME", "NATIVE UNIT", "G/UNIT"};
    size_t mw[PRINT_COLUMNS_MAX] = {0};
    widen(mw, mhead, 4);
    for (uint32_t i = 0; i < c->methodologies_n; i++) {
        const catalog_methodology_t *m = &c->methodologies[i];
        rational_text(m->g_per_unit, num);
        const char *row[] = {m->id, m->name, m->native_unit, num};
        widen(mw, row, 4);
    }
    print_row(out, mhead, mw, 4);
    for (uint32_t i = 0; i < c->methodologies_n; i++) {
        const catalog_methodology_t *m = &c->methodologies[i];
        rational_text(m->g_per_unit, num);
        const char *row[] = {m->id, m->name, m->native_unit, num};
        print_row(out, row, mw, 4);
    }

    fputc('\n', out);
    if (c->recognitions_n == 0) {
        fputs("recognizes no foreign methodologies\n", out);
    } else {
        static const char *const rhead[] = {"FROM", "FOREIGN ID", "LOCAL ID", "RATIO"};
        size_t rw[PRINT_COLUMNS_MAX] = {0};
        widen(rw, rhead, 4);
        for (uint32_t i = 0; i < c->recognitions_n; i++) {
            const catalog_recognition_t *r = &c->recognitions[i];
            rational_text(r->ratio, num);
            const char *row[] = {r->from_region, r->foreign_id, r->local_id, num};
            widen(rw, row, 4);
        }
        print_row(out, rhead, rw, 4);
        for (uint32_t i = 0; i < c->recognitions_n; i++) {
            const catalog_recognition_t *r = &c->recognitions[i];
            rational_text(r->ratio, num);
            const char *row[] = {r->from_region, r->foreign_id, r->local_id, num};
            print_row(out, row, rw, 4);
        }
    }
    return ferror(out) ? -1 : 0;
}
