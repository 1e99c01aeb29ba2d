/* test_adapters.c - unit tests of adapters/: exact conversion (DESIGN §7),
 * the catalog parser and digest, printing, and the versioned catalog set.
 *
 * The property test draws its inputs from a seeded generator: the seed is
 * ADAPTERS_SEED from the environment, else the time; it is printed on stderr
 * so that a failure can be replayed with ADAPTERS_SEED=<seed>. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "adapters/amount_format.h"
#include "adapters/catalog.h"
#include "adapters/catalog_print.h"
#include "adapters/catalog_set.h"
#include "adapters/convert.h"
#include "gateway/gwctl/output.h"

#ifndef SOURCE_DIR
#error "the test build defines SOURCE_DIR as the repository root"
#endif
#define SHIPPED_DIR SOURCE_DIR "/adapters/catalogs"
#define FIXTURE_DIR SOURCE_DIR "/tests/unit/fixtures/catalogs"

typedef unsigned __int128 u128;

#define ERR_LEN 1024
#define PROPERTY_ITERATIONS 200000u

/* ---- helpers -------------------------------------------------------------------- */

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "open %s: %s", path, strerror(errno));
    char *buf = malloc(CATALOG_FILE_MAX_BYTES + 1);
    cr_assert_not_null(buf);
    size_t n = fread(buf, 1, CATALOG_FILE_MAX_BYTES, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void write_text(const char *dir, const char *name, const char *text) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "create %s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    cr_assert_eq(fclose(f), 0);
}

/* Returns a malloc'd copy of s with the first occurrence of from replaced. */
static char *replace_first(const char *s, const char *from, const char *to) {
    const char *at = strstr(s, from);
    cr_assert_not_null(at, "'%s' not found", from);
    size_t n = strlen(s) - strlen(from) + strlen(to);
    char *out = malloc(n + 1);
    cr_assert_not_null(out);
    size_t head = (size_t)(at - s);
    memcpy(out, s, head);
    memcpy(out + head, to, strlen(to));
    strcpy(out + head + strlen(to), at + strlen(from));
    return out;
}

static void make_temp_dir(char dir[64]) {
    strcpy(dir, "/tmp/test_adapters-XXXXXX");
    cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
}

static void remove_temp_dir(const char *dir) {
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* Copies the three shipped catalogs into dir. */
static void copy_shipped(const char *dir) {
    static const char *const names[] = {"CN-BJ.catalog", "CN-HE.catalog", "CN-TJ.catalog"};
    for (size_t i = 0; i < 3; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", SHIPPED_DIR, names[i]);
        char *text = read_text(path);
        write_text(dir, names[i], text);
        free(text);
    }
}

static catalog_t *new_catalog(void) {
    catalog_t *c = calloc(1, sizeof *c);
    cr_assert_not_null(c);
    return c;
}

/* Parses text as "t.catalog"; returns the parser's return code. */
static int parse_text(const char *text, catalog_t *c, char err[ERR_LEN]) {
    return catalog_parse_buffer("t.catalog", text, strlen(text), c, err, ERR_LEN);
}

/* Parses text that must be valid and returns its digest (static buffer). */
static const char *digest_of(const char *text) {
    static char digest[CATALOG_DIGEST_HEX_LEN + 1];
    catalog_t *c = new_catalog();
    char err[ERR_LEN];
    cr_assert_eq(parse_text(text, c, err), 0, "unexpected error: %s", err);
    strcpy(digest, c->digest_hex);
    free(c);
    return digest;
}

/* A small valid catalog. Line numbers matter to the rejection tests. */
#define HDR                                                                    \
    "[catalog]\n"              /* 1 */                                         \
    "region = CN-TJ\n"         /* 2 */                                         \
    "version = 2026.1\n"       /* 3 */                                         \
    "status = illustrative\n"  /* 4 */                                         \
    "display_unit = kg\n"      /* 5 */                                         \
    "display_unit_g = 1000\n"  /* 6 */
#define M1                                                                     \
    "[methodology TJ-GT-01]\n" /* 7 */                                         \
    "name = Bus and metro\n"   /* 8 */                                         \
    "native_unit = km\n"       /* 9 */                                         \
    "g_per_unit = 95/2\n"      /* 10 */
#define M2                                                                     \
    "[methodology TJ-EL-01]\n"                                                 \
    "name = Electricity saving\n"                                              \
    "native_unit = kWh\n"                                                      \
    "g_per_unit = 5703/10\n"
#define R1                                                                     \
    "[recognize CN-BJ:BJ-GT-01]\n"                                             \
    "local = TJ-GT-01\n"                                                       \
    "ratio = 9/10\n"
#define VALID HDR M1 M2 R1

/* ---- conversion: table tests -------------------------------------------------- */

Test(convert, strerror_names_every_code) {
    cr_assert_str_eq(conv_strerror(CONV_OK), "ok");
    cr_assert_str_eq(conv_strerror(CONV_EINVAL), "invalid argument");
    cr_assert_str_eq(conv_strerror(CONV_EOVERFLOW), "result does not fit in 64 bits");
    cr_assert_str_eq(conv_strerror(CONV_ETOO_SMALL),
                     "amount too small to yield one destination unit");
    cr_assert_str_eq(conv_strerror(-99), "unknown conversion error");
    cr_assert_lt(CONV_EINVAL, 0);
    cr_assert_lt(CONV_EOVERFLOW, 0);
    cr_assert_lt(CONV_ETOO_SMALL, 0);
}

Test(convert, issue_table) {
    static const struct {
        uint64_t q_milli, num, den;
        int rc;
        uint64_t g;
    } cases[] = {
        {1000, 1, 1, CONV_OK, 1},                      /* one unit, one gram */
        {1, 1, 1, CONV_OK, 0},                         /* 0.001 g: floor 0, caller decides */
        {999, 1, 1, CONV_OK, 0},
        {1000, 1, 2, CONV_OK, 0},                      /* half a gram */
        {2000, 1, 2, CONV_OK, 1},
        {1500, 95, 2, CONV_OK, 71},                    /* 1.5 km x 47.5 g = 71.25 */
        {12500, 95, 2, CONV_OK, 593},                  /* 12.5 km: 593.75 */
        {1000, 5703, 10, CONV_OK, 570},                /* 1 kWh x 570.3 g */
        {3000, 10, 3, CONV_OK, 10},                    /* 3 points x 10/3 g: exact */
        {2999, 10, 3, CONV_OK, 9},
        {UINT64_MAX, 1, 1, CONV_OK, UINT64_MAX / 1000},
        {UINT64_MAX, 1000, 1, CONV_OK, UINT64_MAX},    /* largest result */
        {UINT64_MAX, 1001, 1, CONV_EOVERFLOW, 0},
        {1000, UINT64_MAX, 1, CONV_OK, UINT64_MAX},
        {2000, UINT64_MAX, 1, CONV_EOVERFLOW, 0},
        {1001, UINT64_MAX, 1, CONV_EOVERFLOW, 0},
        {UINT64_MAX, UINT64_MAX, UINT64_MAX, CONV_OK, UINT64_MAX / 1000},
        {UINT64_MAX, UINT64_MAX, 1, CONV_EOVERFLOW, 0},
        {1, 1, UINT64_MAX, CONV_OK, 0},
        {0, 1, 1, CONV_EINVAL, 0},                     /* zero quantity */
        {1000, 0, 1, CONV_EINVAL, 0},
        {1000, 1, 0, CONV_EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t g = 0xDEADBEEF;
        int rc = conv_issue_g(cases[i].q_milli, cases[i].num, cases[i].den, &g);
        cr_expect_eq(rc, cases[i].rc, "case %zu: rc %d", i, rc);
        if (cases[i].rc == CONV_OK)
            cr_expect_eq(g, cases[i].g, "case %zu: %" PRIu64 " g", i, g);
        else
            cr_expect_eq(g, 0xDEADBEEF, "case %zu: output touched on error", i);
    }
}

Test(convert, units_to_g_table) {
    static const struct {
        uint64_t units, unit_g;
        int rc;
        uint64_t g;
    } cases[] = {
        {0, 1, CONV_OK, 0},
        {0, 1000, CONV_OK, 0},
        {1, 1, CONV_OK, 1},
        {5, 10, CONV_OK, 50},
        {3, 1000, CONV_OK, 3000},
        {UINT64_MAX, 1, CONV_OK, UINT64_MAX},
        {UINT64_MAX / 10, 10, CONV_OK, UINT64_MAX / 10 * 10},
        {UINT64_MAX / 10 + 1, 10, CONV_EOVERFLOW, 0},
        {UINT64_MAX / 1000 + 1, 1000, CONV_EOVERFLOW, 0},
        {1, UINT64_MAX, CONV_OK, UINT64_MAX},
        {2, UINT64_MAX, CONV_EOVERFLOW, 0},
        {UINT64_MAX, UINT64_MAX, CONV_EOVERFLOW, 0},
        {1, 0, CONV_EINVAL, 0},
        {0, 0, CONV_EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t g = 0xDEADBEEF;
        int rc = conv_units_to_g(cases[i].units, cases[i].unit_g, &g);
        cr_expect_eq(rc, cases[i].rc, "case %zu: rc %d", i, rc);
        cr_expect_eq(g, cases[i].rc == CONV_OK ? cases[i].g : 0xDEADBEEF, "case %zu", i);
    }
}

Test(convert, g_to_units_table) {
    static const struct {
        uint64_t g, unit_g;
        int rc;
        uint64_t units, rem_g;
    } cases[] = {
        {0, 10, CONV_OK, 0, 0},
        {1, 1, CONV_OK, 1, 0},
        {1, 10, CONV_OK, 0, 1},
        {9, 10, CONV_OK, 0, 9},
        {10, 10, CONV_OK, 1, 0},
        {1234, 1000, CONV_OK, 1, 234},
        {999, 1000, CONV_OK, 0, 999},
        {UINT64_MAX, 1, CONV_OK, UINT64_MAX, 0},
        {UINT64_MAX, 10, CONV_OK, UINT64_MAX / 10, 5},
        {UINT64_MAX, 1000, CONV_OK, UINT64_MAX / 1000, 615},
        {UINT64_MAX, UINT64_MAX, CONV_OK, 1, 0},
        {UINT64_MAX - 1, UINT64_MAX, CONV_OK, 0, UINT64_MAX - 1},
        {5, 0, CONV_EINVAL, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t units = 0xDEADBEEF, rem = 0xDEADBEEF;
        int rc = conv_g_to_units(cases[i].g, cases[i].unit_g, &units, &rem);
        cr_expect_eq(rc, cases[i].rc, "case %zu: rc %d", i, rc);
        if (cases[i].rc != CONV_OK) {
            cr_expect_eq(units, 0xDEADBEEF, "case %zu", i);
            continue;
        }
        cr_expect_eq(units, cases[i].units, "case %zu: units %" PRIu64, i, units);
        cr_expect_eq(rem, cases[i].rem_g, "case %zu: remainder %" PRIu64, i, rem);
    }
}

Test(convert, quote_table) {
    static const struct {
        uint64_t g, num, den, unit_g;
        int rc;
        uint64_t credited, debited, discount, remainder;
    } cases[] = {
        /* ratio 1/1 */
        {1, 1, 1, 1, CONV_OK, 1, 1, 0, 0},                   /* one gram */
        {9, 1, 1, 10, CONV_ETOO_SMALL, 0, 0, 0, 0},
        {10, 1, 1, 10, CONV_OK, 10, 10, 0, 0},
        {19, 1, 1, 10, CONV_OK, 10, 10, 0, 9},
        {999, 1, 1, 1000, CONV_ETOO_SMALL, 0, 0, 0, 0},
        {2500, 1, 1, 1000, CONV_OK, 2000, 2000, 0, 500},
        /* ratio 9/10 */
        {1, 9, 10, 1, CONV_ETOO_SMALL, 0, 0, 0, 0},          /* 0.9 g */
        {2, 9, 10, 1, CONV_OK, 1, 2, 1, 0},                  /* ceil(10/9) = 2 */
        {10, 9, 10, 10, CONV_ETOO_SMALL, 0, 0, 0, 0},        /* 9 g < one unit */
        {12, 9, 10, 10, CONV_OK, 10, 12, 2, 0},              /* ceil(100/9) = 12 */
        {100, 9, 10, 10, CONV_OK, 90, 100, 10, 0},
        {105, 9, 10, 10, CONV_OK, 90, 100, 10, 5},
        {1000, 9, 10, 1000, CONV_ETOO_SMALL, 0, 0, 0, 0},
        {1112, 9, 10, 1000, CONV_OK, 1000, 1112, 112, 0},
        {1111, 9, 10, 1000, CONV_ETOO_SMALL, 0, 0, 0, 0},    /* 999.9 g */
        /* ratio 1/3 */
        {2, 1, 3, 1, CONV_ETOO_SMALL, 0, 0, 0, 0},
        {3, 1, 3, 1, CONV_OK, 1, 3, 2, 0},
        {10, 1, 3, 1, CONV_OK, 3, 9, 6, 1},
        {29, 1, 3, 10, CONV_ETOO_SMALL, 0, 0, 0, 0},
        {31, 1, 3, 10, CONV_OK, 10, 30, 20, 1},
        {3000, 1, 3, 1000, CONV_OK, 1000, 3000, 2000, 0},
        {3001, 1, 3, 1000, CONV_OK, 1000, 3000, 2000, 1},
        /* ratio 2/7 */
        {3, 2, 7, 1, CONV_ETOO_SMALL, 0, 0, 0, 0},           /* 6/7 g */
        {4, 2, 7, 1, CONV_OK, 1, 4, 3, 0},                   /* ceil(7/2) = 4 */
        {7, 2, 7, 1, CONV_OK, 2, 7, 5, 0},
        {10, 2, 7, 1, CONV_OK, 2, 7, 5, 3},
        {100, 2, 7, 10, CONV_OK, 20, 70, 50, 30},
        {UINT64_MAX, 2, 7, 1000, CONV_OK, 5270498306774157000u,
         18446744073709549500u, 13176245766935392500u, 2115},
        /* UINT64_MAX and extreme ratios */
        {UINT64_MAX, 1, 1, 1, CONV_OK, UINT64_MAX, UINT64_MAX, 0, 0},
        {UINT64_MAX, 1, 1, 1000, CONV_OK, 18446744073709551000u, 18446744073709551000u, 0, 615},
        {UINT64_MAX, 9, 10, 1, CONV_OK, 16602069666338596453u, UINT64_MAX,
         1844674407370955162u, 0},
        {UINT64_MAX, 1, 3, 10, CONV_OK, 6148914691236517200u, 18446744073709551600u,
         12297829382473034400u, 15},
        {UINT64_MAX, UINT64_MAX - 1, UINT64_MAX, 1, CONV_OK, UINT64_MAX - 1, UINT64_MAX, 1, 0},
        {UINT64_MAX, 1, UINT64_MAX, 1, CONV_OK, 1, UINT64_MAX, UINT64_MAX - 1, 0},
        {UINT64_MAX - 1, 1, UINT64_MAX, 1, CONV_ETOO_SMALL, 0, 0, 0, 0},
        {UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX, CONV_OK, UINT64_MAX, UINT64_MAX, 0, 0},
        {UINT64_MAX - 1, 1, 1, UINT64_MAX, CONV_ETOO_SMALL, 0, 0, 0, 0},
        /* invalid arguments */
        {0, 1, 1, 1, CONV_EINVAL, 0, 0, 0, 0},               /* zero amount */
        {10, 1, 1, 0, CONV_EINVAL, 0, 0, 0, 0},              /* zero unit */
        {10, 0, 1, 1, CONV_EINVAL, 0, 0, 0, 0},              /* r = 0 */
        {10, 1, 0, 1, CONV_EINVAL, 0, 0, 0, 0},              /* den 0 */
        {10, 0, 0, 1, CONV_EINVAL, 0, 0, 0, 0},
        {10, 11, 10, 1, CONV_EINVAL, 0, 0, 0, 0},            /* r > 1 inflates */
        {10, UINT64_MAX, UINT64_MAX - 1, 1, CONV_EINVAL, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        conv_quote_t q;
        memset(&q, 0xAB, sizeof q);
        int rc = conv_quote(cases[i].g, cases[i].num, cases[i].den, cases[i].unit_g, &q);
        cr_expect_eq(rc, cases[i].rc, "case %zu: rc %d (%s)", i, rc, conv_strerror(rc));
        if (cases[i].rc != CONV_OK) {
            cr_expect_eq(q.credited_g, 0xABABABABABABABABu, "case %zu: touched", i);
            continue;
        }
        cr_expect_eq(q.requested_g, cases[i].g, "case %zu", i);
        cr_expect_eq(q.credited_g, cases[i].credited, "case %zu: credited %" PRIu64, i,
                     q.credited_g);
        cr_expect_eq(q.debited_g, cases[i].debited, "case %zu: debited %" PRIu64, i,
                     q.debited_g);
        cr_expect_eq(q.discount_g, cases[i].discount, "case %zu: discount %" PRIu64, i,
                     q.discount_g);
        cr_expect_eq(q.remainder_g, cases[i].remainder, "case %zu: remainder %" PRIu64, i,
                     q.remainder_g);
        cr_expect_eq(conv_quote_verify(&q, cases[i].num, cases[i].den, cases[i].unit_g), 0,
                     "case %zu: verify", i);
    }
}

Test(convert, quote_verify_rejects_every_tampering) {
    conv_quote_t q;
    cr_assert_eq(conv_quote(105, 9, 10, 10, &q), 0); /* 90 / 100 / 10 / 5 */
    cr_assert_eq(conv_quote_verify(&q, 9, 10, 10), 0);
    conv_quote_t t;
    t = q; t.credited_g += 10; t.discount_g -= 10;   /* more than g*r */
    cr_expect_eq(conv_quote_verify(&t, 9, 10, 10), CONV_EINVAL);
    t = q; t.credited_g -= 10; t.discount_g += 10;   /* not the most */
    cr_expect_eq(conv_quote_verify(&t, 9, 10, 10), CONV_EINVAL);
    t = q; t.debited_g += 1; t.discount_g += 1; t.remainder_g -= 1; /* not least */
    cr_expect_eq(conv_quote_verify(&t, 9, 10, 10), CONV_EINVAL);
    t = q; t.debited_g -= 1; t.discount_g -= 1; t.remainder_g += 1; /* too little */
    cr_expect_eq(conv_quote_verify(&t, 9, 10, 10), CONV_EINVAL);
    t = q; t.remainder_g += 1;                       /* sum broken */
    cr_expect_eq(conv_quote_verify(&t, 9, 10, 10), CONV_EINVAL);
    t = q; t.credited_g += 1; t.discount_g -= 1;     /* not whole units */
    cr_expect_eq(conv_quote_verify(&t, 9, 10, 10), CONV_EINVAL);
    t = q; t.discount_g += 1; t.remainder_g -= 1;    /* debited != credited + discount */
    cr_expect_eq(conv_quote_verify(&t, 9, 10, 10), CONV_EINVAL);
    cr_expect_eq(conv_quote_verify(&q, 4, 5, 10), CONV_EINVAL);  /* other ratio */
    cr_expect_eq(conv_quote_verify(&q, 9, 10, 1), CONV_EINVAL);  /* other unit */
    cr_expect_eq(conv_quote_verify(&q, 11, 10, 10), CONV_EINVAL);
    cr_expect_eq(conv_quote_verify(&q, 9, 10, 0), CONV_EINVAL);
    memset(&t, 0, sizeof t);
    cr_expect_eq(conv_quote_verify(&t, 1, 1, 1), CONV_EINVAL);   /* zero quote */
    /* Extremes verify without overflow in the checker itself. */
    cr_assert_eq(conv_quote(UINT64_MAX, 1, UINT64_MAX, 1, &q), 0);
    cr_expect_eq(conv_quote_verify(&q, 1, UINT64_MAX, 1), 0);
    cr_assert_eq(conv_quote(UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX, &q), 0);
    cr_expect_eq(conv_quote_verify(&q, UINT64_MAX, UINT64_MAX, UINT64_MAX), 0);
}

/* ---- conversion: seeded property test ------------------------------------------ */

static uint64_t rng_state;

static uint64_t rng_next(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t n) { return n == 0 ? 0 : rng_next() % n; }

/* A value from a mix of ranges, so that boundaries are hit often. */
static uint64_t rng_amount(void) {
    switch (rng_below(6)) {
    case 0: return rng_below(16);
    case 1: return rng_below(100000);
    case 2: return rng_next() >> 32;
    case 3: return rng_next();
    case 4: return UINT64_MAX - rng_below(1000);
    default: return rng_next() >> rng_below(64);
    }
}

static uint64_t rng_unit(void) {
    static const uint64_t common[] = {1, 10, 100, 1000};
    switch (rng_below(4)) {
    case 0: case 1: return common[rng_below(4)];
    case 2: return 1 + rng_below(1000000);
    default: return 1 + (rng_next() >> rng_below(64));
    }
}

static void rng_ratio(uint64_t *num, uint64_t *den) {
    static const uint64_t fixed[][2] = {{1, 1}, {9, 10}, {4, 5}, {2, 3}, {1, 3}, {2, 7}};
    switch (rng_below(4)) {
    case 0: {
        size_t k = (size_t)rng_below(6);
        *num = fixed[k][0];
        *den = fixed[k][1];
        return;
    }
    case 1: *den = 1 + rng_below(1000); break;
    case 2: *den = 1 + (rng_next() >> 1); break;
    default: *den = UINT64_MAX - rng_below(3); break;
    }
    switch (rng_below(4)) {
    case 0: *num = *den; break;
    case 1: *num = 1; break;
    default: *num = 1 + rng_below(*den); break;
    }
}

Test(convert, property_quote_invariants) {
    const char *env = getenv("ADAPTERS_SEED");
    uint64_t seed = env != NULL ? strtoull(env, NULL, 0)
                                : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    fprintf(stderr, "test_adapters: property seed ADAPTERS_SEED=%" PRIu64 "\n", seed);
    cr_log_info("property seed ADAPTERS_SEED=%" PRIu64, seed);
    rng_state = seed;

    size_t ok_n = 0, small_n = 0;
    for (uint32_t i = 0; i < PROPERTY_ITERATIONS; i++) {
        uint64_t g = rng_amount(), num, den, unit_g = rng_unit();
        rng_ratio(&num, &den);
        conv_quote_t q;
        int rc = conv_quote(g, num, den, unit_g, &q);
        if (g == 0) {
            cr_assert_eq(rc, CONV_EINVAL, "seed %" PRIu64 " i %u", seed, i);
            continue;
        }
        /* Too small exactly when g * r < unit_g. */
        int expect_small = (u128)g * num < (u128)unit_g * den;
        if (expect_small) {
            cr_assert_eq(rc, CONV_ETOO_SMALL, "seed %" PRIu64 " i %u g %" PRIu64
                         " r %" PRIu64 "/%" PRIu64 " unit %" PRIu64, seed, i, g, num,
                         den, unit_g);
            small_n++;
            continue;
        }
        cr_assert_eq(rc, CONV_OK, "seed %" PRIu64 " i %u rc %d g %" PRIu64 " r %" PRIu64
                     "/%" PRIu64 " unit %" PRIu64, seed, i, rc, g, num, den, unit_g);
        ok_n++;
        u128 c = q.credited_g, d = q.debited_g;
        cr_assert_eq(q.requested_g, g);
        cr_assert(c > 0, "credited 0");
        cr_assert_eq((u128)q.credited_g + q.discount_g + q.remainder_g, (u128)g,
                     "sum, seed %" PRIu64 " i %u", seed, i);
        cr_assert_eq(d, c + q.discount_g, "seed %" PRIu64 " i %u", seed, i);
        cr_assert_eq(q.credited_g % unit_g, 0, "whole units, seed %" PRIu64 " i %u", seed, i);
        cr_assert(c * den <= d * num, "debited buys credited, seed %" PRIu64 " i %u", seed, i);
        cr_assert((d - 1) * num < c * den, "debited least, seed %" PRIu64 " i %u", seed, i);
        cr_assert(d <= g, "debited <= requested, seed %" PRIu64 " i %u", seed, i);
        cr_assert(c <= d, "never inflates, seed %" PRIu64 " i %u", seed, i);
        /* Credited is the most whole units g * r allows. */
        cr_assert_eq(c / unit_g, ((u128)g * num) / ((u128)den * unit_g),
                     "credited most, seed %" PRIu64 " i %u", seed, i);
        cr_assert_eq(conv_quote_verify(&q, num, den, unit_g), 0,
                     "verify, seed %" PRIu64 " i %u", seed, i);

        /* Display units round trip, and issuance against a reference. */
        uint64_t units, rem, back;
        cr_assert_eq(conv_g_to_units(g, unit_g, &units, &rem), 0);
        cr_assert_eq(conv_units_to_g(units, unit_g, &back), 0);
        cr_assert_eq((u128)back + rem, (u128)g);
        cr_assert_lt(rem, unit_g);
        uint64_t issued;
        u128 ref = ((u128)g * num) / ((u128)den * 1000);
        rc = conv_issue_g(g, num, den, &issued);
        cr_assert_eq(rc, ref > UINT64_MAX ? CONV_EOVERFLOW : CONV_OK);
        if (rc == CONV_OK) cr_assert_eq(issued, (uint64_t)ref);
    }
    /* The generator must exercise both outcomes, or the test proves little. */
    cr_assert_gt(ok_n, PROPERTY_ITERATIONS / 4);
    cr_assert_gt(small_n, PROPERTY_ITERATIONS / 100);
}

/* ---- catalog parser: acceptance ---------------------------------------------- */

Test(catalog, parses_valid_catalog) {
    catalog_t *c = new_catalog();
    char err[ERR_LEN];
    cr_assert_eq(parse_text(VALID, c, err), 0, "%s", err);
    cr_expect_str_eq(c->path, "t.catalog");
    cr_expect_str_eq(c->region, "CN-TJ");
    cr_expect_eq(c->region_line, 2);
    cr_expect_str_eq(c->version, "2026.1");
    cr_expect_eq(c->status, CATALOG_STATUS_ILLUSTRATIVE);
    cr_expect_str_eq(c->display_unit, "kg");
    cr_expect_eq(c->display_unit_g, 1000);
    cr_assert_eq(c->methodologies_n, 2);
    /* Sorted by id, whatever the file order. */
    cr_expect_str_eq(c->methodologies[0].id, "TJ-EL-01");
    cr_expect_str_eq(c->methodologies[1].id, "TJ-GT-01");
    const catalog_methodology_t *m = catalog_find_methodology(c, "TJ-GT-01");
    cr_assert_not_null(m);
    cr_expect_str_eq(m->name, "Bus and metro");
    cr_expect_str_eq(m->native_unit, "km");
    cr_expect_eq(m->g_per_unit.num, 95);
    cr_expect_eq(m->g_per_unit.den, 2);
    cr_expect_eq(m->line, 7);
    cr_expect_null(catalog_find_methodology(c, "TJ-XX-01"));
    cr_expect_null(catalog_find_methodology(c, ""));
    cr_assert_eq(c->recognitions_n, 1);
    const catalog_recognition_t *r = catalog_find_recognition(c, "CN-BJ", "BJ-GT-01");
    cr_assert_not_null(r);
    cr_expect_str_eq(r->local_id, "TJ-GT-01");
    cr_expect_eq(r->ratio.num, 9);
    cr_expect_eq(r->ratio.den, 10);
    cr_expect_null(catalog_find_recognition(c, "CN-HE", "BJ-GT-01"));
    cr_expect_null(catalog_find_recognition(c, "CN-BJ", "BJ-GT-02"));
    cr_expect_eq(strlen(c->digest_hex), CATALOG_DIGEST_HEX_LEN);
    cr_expect_eq(strspn(c->digest_hex, "0123456789abcdef"), CATALOG_DIGEST_HEX_LEN);
    free(c);
}

Test(catalog, accepts_boundaries) {
    catalog_t *c = new_catalog();
    char err[ERR_LEN];
    /* Largest numbers, ratio exactly 1, name of exactly the maximum length,
     * an id of exactly 31 bytes, published status, CRLF line ends. */
    char name[CATALOG_NAME_MAX + 1];
    memset(name, 'n', CATALOG_NAME_MAX);
    name[CATALOG_NAME_MAX] = '\0';
    char text[4096];
    snprintf(text, sizeof text,
             "[catalog]\r\nregion = CN-TJ\r\nversion = v1\r\nstatus = published\r\n"
             "display_unit = t\r\ndisplay_unit_g = 18446744073709551615\r\n"
             "[methodology ABCDEFGHIJKLMNOPQRSTUVWXYZ01234]\r\nname = %s\r\n"
             "native_unit = fifteen-chars-x\r\n"
             "g_per_unit = 18446744073709551615/18446744073709551615\r\n"
             "[recognize CN-B:X]\r\nlocal = ABCDEFGHIJKLMNOPQRSTUVWXYZ01234\r\n"
             "ratio = 18446744073709551615/18446744073709551615\r\n",
             name);
    cr_assert_eq(parse_text(text, c, err), 0, "%s", err);
    cr_expect_eq(c->status, CATALOG_STATUS_PUBLISHED);
    cr_expect_eq(c->display_unit_g, UINT64_MAX);
    cr_expect_str_eq(c->methodologies[0].name, name);
    cr_expect_str_eq(c->methodologies[0].native_unit, "fifteen-chars-x");
    cr_expect_eq(c->recognitions[0].ratio.num, UINT64_MAX);
    free(c);
}

Test(catalog, accepts_limits_exactly) {
    catalog_t *c = new_catalog();
    char err[ERR_LEN];
    size_t cap = CATALOG_FILE_MAX_BYTES + 1024;
    char *text = malloc(cap);
    cr_assert_not_null(text);

    /* CATALOG_METHODOLOGIES_MAX methodologies, defined in reverse order. */
    size_t n = (size_t)snprintf(text, cap, "%s", HDR);
    for (unsigned i = CATALOG_METHODOLOGIES_MAX; i > 0; i--)
        n += (size_t)snprintf(text + n, cap - n,
                              "[methodology M-%02u]\nname = m\nnative_unit = km\n"
                              "g_per_unit = %u/1\n", i, i);
    cr_assert_eq(parse_text(text, c, err), 0, "%s", err);
    cr_assert_eq(c->methodologies_n, CATALOG_METHODOLOGIES_MAX);
    for (unsigned i = 1; i <= CATALOG_METHODOLOGIES_MAX; i++) {
        char id[16];
        snprintf(id, sizeof id, "M-%02u", i);
        const catalog_methodology_t *m = catalog_find_methodology(c, id);
        cr_assert_not_null(m, "%s", id);
        cr_expect_eq(m->g_per_unit.num, i);
    }

    /* CATALOG_RECOGNITIONS_MAX recognitions. */
    n = (size_t)snprintf(text, cap, "%s", HDR M1);
    for (unsigned i = 0; i < CATALOG_RECOGNITIONS_MAX; i++)
        n += (size_t)snprintf(text + n, cap - n,
                              "[recognize CN-BJ:BJ-%03u]\nlocal = TJ-GT-01\nratio = 1/2\n", i);
    cr_assert_eq(parse_text(text, c, err), 0, "%s", err);
    cr_assert_eq(c->recognitions_n, CATALOG_RECOGNITIONS_MAX);
    for (unsigned i = 0; i < CATALOG_RECOGNITIONS_MAX; i++) {
        char id[16];
        snprintf(id, sizeof id, "BJ-%03u", i);
        cr_assert_not_null(catalog_find_recognition(c, "CN-BJ", id), "%s", id);
    }

    /* A line of exactly CATALOG_LINE_MAX_BYTES (plus CR LF), and a file of
     * exactly CATALOG_FILE_MAX_BYTES. */
    n = (size_t)snprintf(text, cap, "%s", VALID);
    memset(text + n, '#', CATALOG_LINE_MAX_BYTES);
    n += CATALOG_LINE_MAX_BYTES;
    n += (size_t)snprintf(text + n, cap - n, "\r\n");
    while (n < CATALOG_FILE_MAX_BYTES) {
        size_t line = CATALOG_FILE_MAX_BYTES - n < 101 ? CATALOG_FILE_MAX_BYTES - n : 101;
        memset(text + n, '#', line - 1);
        text[n + line - 1] = '\n';
        n += line;
    }
    text[n] = '\0';
    cr_assert_eq(n, CATALOG_FILE_MAX_BYTES);
    cr_assert_eq(parse_text(text, c, err), 0, "%s", err);
    cr_expect_str_eq(c->digest_hex, digest_of(VALID));
    free(text);
    free(c);
}

/* ---- catalog parser: every rejection, with its exact message --------------------- */

#define MG(v) "[methodology TJ-GT-01]\nname = Bus\nnative_unit = km\ng_per_unit = " v "\n"
#define HDRG(v)                                                                \
    "[catalog]\nregion = CN-TJ\nversion = 1\nstatus = illustrative\n"          \
    "display_unit = kg\ndisplay_unit_g = " v "\n"
#define MR(v) HDR M1 "[recognize CN-BJ:BJ-GT-01]\nlocal = TJ-GT-01\nratio = " v "\n"

static const struct {
    const char *text;
    const char *message;
} rejections[] = {
    /* structure */
    {HDR M1 "foo = 1\n", "t.catalog:11: unknown key 'foo' in [methodology TJ-GT-01]"},
    {"[catalog]\nregion = CN-TJ\ncolour = green\n",
     "t.catalog:3: unknown key 'colour' in [catalog]"},
    {HDR M1 R1 "weight = 1\n",
     "t.catalog:14: unknown key 'weight' in [recognize CN-BJ:BJ-GT-01]"},
    {HDR M1 "[thing X]\n", "t.catalog:11: unknown section 'thing'"},
    {HDR M1 "[]\n", "t.catalog:11: unknown section ''"},
    {"region = CN-TJ\n" HDR M1, "t.catalog:1: key 'region' outside any section"},
    {HDR "[methodology TJ-GT-01]\nname = Bus\nnative_unit = km\n",
     "t.catalog:7: [methodology TJ-GT-01] missing required key 'g_per_unit'"},
    {HDR "[methodology TJ-GT-01]\nname = Bus\n" M2,
     "t.catalog:7: [methodology TJ-GT-01] missing required key 'native_unit'"},
    {"[catalog]\nregion = CN-TJ\nversion = 1\nstatus = illustrative\ndisplay_unit = kg\n" M1,
     "t.catalog:1: [catalog] missing required key 'display_unit_g'"},
    {HDR M1 "[recognize CN-BJ:BJ-GT-01]\nlocal = TJ-GT-01\n",
     "t.catalog:11: [recognize CN-BJ:BJ-GT-01] missing required key 'ratio'"},
    {HDR M1 M1, "t.catalog:11: duplicate methodology 'TJ-GT-01' (first at line 7)"},
    {HDR M1 "name = Again\n", "t.catalog:11: duplicate key 'name' (first at line 8)"},
    {HDR M1 "[catalog]\n", "t.catalog:11: duplicate [catalog] section (first at line 1)"},
    {"[catalog x]\n", "t.catalog:1: section [catalog] takes no argument"},
    {HDR "[methodology TJ-GT-01\n", "t.catalog:7: malformed section header"},
    {HDR "[methodology TJ GT]\n", "t.catalog:7: malformed section header"},
    {HDR "[methodology]\n", "t.catalog:7: missing methodology id"},
    {HDR "[methodology TJ/GT]\n", "t.catalog:7: invalid methodology id 'TJ/GT'"},
    {HDR "[methodology -TJ]\n", "t.catalog:7: invalid methodology id '-TJ'"},
    {HDR "[methodology ABCDEFGHIJKLMNOPQRSTUVWXYZ012345]\n",
     "t.catalog:7: invalid methodology id 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345'"},
    {HDR M1 "[recognize]\n", "t.catalog:11: missing recognized REGION:METHODOLOGY-ID"},
    {HDR M1 "[recognize BJ-GT-01]\n",
     "t.catalog:11: malformed recognition 'BJ-GT-01' (want REGION:METHODOLOGY-ID)"},
    {HDR M1 "[recognize cn-bj:BJ-GT-01]\n", "t.catalog:11: invalid region 'cn-bj'"},
    {HDR M1 "[recognize CN-BJ:]\n", "t.catalog:11: invalid methodology id ''"},
    {HDR M1 "[recognize CN-BJ:BJ:GT]\n", "t.catalog:11: invalid methodology id 'BJ:GT'"},
    {HDR "just words\n", "t.catalog:7: expected 'key = value' or '[section]'"},
    {HDR " = value\n", "t.catalog:7: expected 'key = value' or '[section]'"},
    {HDR "[methodology TJ-GT-01]\nname =\n", "t.catalog:8: name: empty value"},
    {"", "t.catalog:1: missing [catalog] section"},
    {"# only a comment\n", "t.catalog:1: missing [catalog] section"},
    {M1, "t.catalog:4: missing [catalog] section"},
    {HDR, "t.catalog:1: catalog defines no methodologies"},
    /* bytes */
    {HDR "name\x01 = x\n", "t.catalog:7: control character 0x01"},
    {HDR "# \x7f\n", "t.catalog:7: control character 0x7f"},
    {HDR "[catalog]\rregion = CN-TJ\n", "t.catalog:7: control character 0x0d"},
    {HDR "[methodology TJ-GT-01]\nname = \xff\n", "t.catalog:8: invalid UTF-8"},
    {HDR "# \xc0\xaf overlong\n", "t.catalog:7: invalid UTF-8"},
    {HDR "# \xed\xa0\x80 surrogate\n", "t.catalog:7: invalid UTF-8"},
    {HDR "# \xe5\x85\n", "t.catalog:7: invalid UTF-8"},
    {HDR "# \xf4\x90\x80\x80 above U+10FFFF\n", "t.catalog:7: invalid UTF-8"},
    /* [catalog] values */
    {"[catalog]\nregion = Tianjin\n",
     "t.catalog:2: region: invalid region 'Tianjin' (want e.g. CN-TJ)"},
    {"[catalog]\nregion = CN-TIANJIN-CITY-X\n",
     "t.catalog:2: region: value too long (max 15 bytes)"},
    {"[catalog]\nversion = 2026 1\n", "t.catalog:2: version: invalid version '2026 1'"},
    {"[catalog]\nstatus = draft\n",
     "t.catalog:2: status: unknown status 'draft' (want illustrative or published)"},
    {"[catalog]\ndisplay_unit = \xe5\x85\x8b\n",
     "t.catalog:2: display_unit: invalid unit '\xe5\x85\x8b'"},
    {HDRG("0"), "t.catalog:6: display_unit_g: value must be positive"},
    {HDRG("-10"), "t.catalog:6: display_unit_g: value must be positive"},
    {HDRG("1e3"), "t.catalog:6: display_unit_g: malformed number '1e3'"},
    {HDRG("1 000"), "t.catalog:6: display_unit_g: malformed number '1 000'"},
    {HDRG("18446744073709551616"),
     "t.catalog:6: display_unit_g: number '18446744073709551616' out of range"},
    /* [methodology] values */
    {HDR "[methodology TJ-GT-01]\nname = Bus\nnative_unit = k g\n",
     "t.catalog:9: native_unit: invalid unit 'k g'"},
    {HDR "[methodology TJ-GT-01]\nnative_unit = sixteen-chars-xx\n",
     "t.catalog:8: native_unit: value too long (max 15 bytes)"},
    {HDR "[methodology TJ-GT-01]\nname = "
         "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\n",
     "t.catalog:8: name: value too long (max 95 bytes)"},
    {HDR MG("95/0"), "t.catalog:10: g_per_unit: denominator must be positive"},
    {HDR MG("95/-2"), "t.catalog:10: g_per_unit: denominator must be positive"},
    {HDR MG("0/2"), "t.catalog:10: g_per_unit: numerator must be positive"},
    {HDR MG("-95/2"), "t.catalog:10: g_per_unit: numerator must be positive"},
    {HDR MG("-0/2"), "t.catalog:10: g_per_unit: numerator must be positive"},
    {HDR MG("9x/2"), "t.catalog:10: g_per_unit: malformed number '9x'"},
    {HDR MG("1.5/2"), "t.catalog:10: g_per_unit: malformed number '1.5'"},
    {HDR MG("095/2"), "t.catalog:10: g_per_unit: malformed number '095'"},
    {HDR MG("+95/2"), "t.catalog:10: g_per_unit: malformed number '+95'"},
    {HDR MG("--1/2"), "t.catalog:10: g_per_unit: malformed number '--1'"},
    {HDR MG("95/"), "t.catalog:10: g_per_unit: malformed number ''"},
    {HDR MG("/2"), "t.catalog:10: g_per_unit: malformed number ''"},
    {HDR MG("95/2x"), "t.catalog:10: g_per_unit: malformed number '2x'"},
    {HDR MG("95"), "t.catalog:10: g_per_unit: malformed rational '95' (want NUM/DEN)"},
    {HDR MG("1/2/3"), "t.catalog:10: g_per_unit: malformed rational '1/2/3' (want NUM/DEN)"},
    {HDR MG("18446744073709551616/1"),
     "t.catalog:10: g_per_unit: number '18446744073709551616' out of range"},
    {HDR MG("1/99999999999999999999999"),
     "t.catalog:10: g_per_unit: number '99999999999999999999999' out of range"},
    /* [recognize] values and rules */
    {MR("3/2"), "t.catalog:13: ratio: 3/2 exceeds 1 (recognition never inflates)"},
    {MR("11/10"), "t.catalog:13: ratio: 11/10 exceeds 1 (recognition never inflates)"},
    {MR("18446744073709551615/18446744073709551614"),
     "t.catalog:13: ratio: 18446744073709551615/18446744073709551614 exceeds 1 "
     "(recognition never inflates)"},
    {MR("0/1"), "t.catalog:13: ratio: numerator must be positive"},
    {MR("1/0"), "t.catalog:13: ratio: denominator must be positive"},
    {MR("-1/2"), "t.catalog:13: ratio: numerator must be positive"},
    {MR("0.9"), "t.catalog:13: ratio: malformed rational '0.9' (want NUM/DEN)"},
    {HDR M1 "[recognize CN-BJ:BJ-GT-01]\nlocal = TJ GT\n",
     "t.catalog:12: local: invalid methodology id 'TJ GT'"},
    {HDR M1 "[recognize CN-BJ:BJ-GT-01]\nlocal = TJ-XX-01\nratio = 1/1\n",
     "t.catalog:12: recognition of CN-BJ:BJ-GT-01: no local methodology 'TJ-XX-01'"},
    {HDR M1 R1 R1, "t.catalog:14: duplicate recognition of CN-BJ:BJ-GT-01 (first at line 11)"},
    {HDR M1 "[recognize CN-TJ:TJ-GT-01]\nlocal = TJ-GT-01\nratio = 1/1\n",
     "t.catalog:11: recognition of own region's methodology CN-TJ:TJ-GT-01"},
};

Test(catalog, rejects_every_bad_catalog_with_file_line_reason) {
    catalog_t *c = new_catalog();
    for (size_t i = 0; i < sizeof rejections / sizeof rejections[0]; i++) {
        char err[ERR_LEN];
        int rc = parse_text(rejections[i].text, c, err);
        cr_expect_eq(rc, -1, "case %zu accepted: %s", i, rejections[i].message);
        cr_expect_str_eq(err, rejections[i].message, "case %zu", i);
    }
    free(c);
}

Test(catalog, rejects_nul_byte) {
    catalog_t *c = new_catalog();
    char err[ERR_LEN];
    static const char text[] = "[catalog]\nregion = CN\0TJ\n";
    cr_assert_eq(catalog_parse_buffer("t.catalog", text, sizeof text - 1, c, err, ERR_LEN), -1);
    cr_expect_str_eq(err, "t.catalog:2: control character 0x00");
    free(c);
}

Test(catalog, rejects_limits_exceeded) {
    catalog_t *c = new_catalog();
    char err[ERR_LEN], want[ERR_LEN];
    size_t cap = CATALOG_FILE_MAX_BYTES * 2;
    char *text = malloc(cap);
    cr_assert_not_null(text);

    /* One methodology too many: its header is on line 6 + 64 * 4 + 1. */
    size_t n = (size_t)snprintf(text, cap, "%s", HDR);
    for (unsigned i = 0; i <= CATALOG_METHODOLOGIES_MAX; i++)
        n += (size_t)snprintf(text + n, cap - n,
                              "[methodology M-%02u]\nname = m\nnative_unit = km\n"
                              "g_per_unit = 1/1\n", i);
    cr_expect_eq(parse_text(text, c, err), -1);
    snprintf(want, sizeof want, "t.catalog:%u: too many methodologies (max %u)",
             6 + CATALOG_METHODOLOGIES_MAX * 4 + 1, CATALOG_METHODOLOGIES_MAX);
    cr_expect_str_eq(err, want);

    /* One recognition too many: its header is on line 10 + 128 * 3 + 1. */
    n = (size_t)snprintf(text, cap, "%s", HDR M1);
    for (unsigned i = 0; i <= CATALOG_RECOGNITIONS_MAX; i++)
        n += (size_t)snprintf(text + n, cap - n,
                              "[recognize CN-BJ:BJ-%03u]\nlocal = TJ-GT-01\nratio = 1/2\n", i);
    cr_expect_eq(parse_text(text, c, err), -1);
    snprintf(want, sizeof want, "t.catalog:%u: too many recognitions (max %u)",
             10 + CATALOG_RECOGNITIONS_MAX * 3 + 1, CATALOG_RECOGNITIONS_MAX);
    cr_expect_str_eq(err, want);

    /* A line one byte too long. */
    n = (size_t)snprintf(text, cap, "%s", HDR);
    memset(text + n, '#', CATALOG_LINE_MAX_BYTES + 1);
    n += CATALOG_LINE_MAX_BYTES + 1;
    snprintf(text + n, cap - n, "\n%s", M1);
    cr_expect_eq(parse_text(text, c, err), -1);
    snprintf(want, sizeof want, "t.catalog:7: line too long (max %u bytes)",
             CATALOG_LINE_MAX_BYTES);
    cr_expect_str_eq(err, want);

    /* A file one byte too large: 100-byte comment lines after VALID; the
     * error names the line holding byte CATALOG_FILE_MAX_BYTES + 1. */
    n = (size_t)snprintf(text, cap, "%s", VALID);
    size_t lines = 17; /* VALID has 17 lines */
    size_t want_line = 0;
    while (n <= CATALOG_FILE_MAX_BYTES) {
        memset(text + n, '#', 99);
        text[n + 99] = '\n';
        n += 100;
        lines++;
        if (want_line == 0 && n > CATALOG_FILE_MAX_BYTES) want_line = lines;
    }
    text[n] = '\0';
    cr_expect_eq(parse_text(text, c, err), -1);
    snprintf(want, sizeof want, "t.catalog:%zu: file too large (max %u bytes)", want_line,
             CATALOG_FILE_MAX_BYTES);
    cr_expect_str_eq(err, want);

    /* The same through a file: the reader must not stop at the limit. */
    char dir[64];
    make_temp_dir(dir);
    write_text(dir, "big.catalog", text);
    char path[256];
    snprintf(path, sizeof path, "%s/big.catalog", dir);
    cr_expect_eq(catalog_parse_file(path, c, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:%zu: file too large (max %u bytes)", path, want_line,
             CATALOG_FILE_MAX_BYTES);
    cr_expect_str_eq(err, want);
    remove_temp_dir(dir);
    free(text);
    free(c);
}

Test(catalog, rejects_unreadable_files_and_long_names) {
    catalog_t *c = new_catalog();
    char err[ERR_LEN];
    cr_expect_eq(catalog_parse_file("/nonexistent/CN-TJ.catalog", c, err, sizeof err), -1);
    cr_expect_str_eq(err, "/nonexistent/CN-TJ.catalog:0: cannot open: No such file or directory");
    char dir[64], want[ERR_LEN];
    make_temp_dir(dir);
    cr_expect_eq(catalog_parse_file(dir, c, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:0: read error: Is a directory", dir);
    cr_expect_str_eq(err, want);
    remove_temp_dir(dir);

    char name[CATALOG_PATH_MAX + 2];
    memset(name, 'p', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    cr_expect_eq(catalog_parse_buffer(name, VALID, strlen(VALID), c, err, sizeof err), -1);
    cr_expect(strstr(err, ":0: path too long (max 511 bytes)") != NULL, "%s", err);

    /* A short error buffer is truncated, never overrun. */
    char small[16];
    cr_expect_eq(catalog_parse_buffer("t.catalog", HDR, strlen(HDR), c, small, sizeof small), -1);
    cr_expect_str_eq(small, "t.catalog:1: ca");
    free(c);
}

Test(catalog, rejects_fixture_files) {
    static const struct {
        const char *file;
        unsigned line;
        const char *reason;
    } fixtures[] = {
        {"bad-ratio.catalog", 19, "ratio: 5/4 exceeds 1 (recognition never inflates)"},
        {"bad-local.catalog", 18, "recognition of CN-HE:HE-RC-01: no local methodology 'TJ-RC-09'"},
        {"bad-duplicate.catalog", 17, "duplicate methodology 'TJ-GT-01' (first at line 12)"},
    };
    catalog_t *c = new_catalog();
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        char path[512], want[ERR_LEN], err[ERR_LEN];
        snprintf(path, sizeof path, "%s/%s", FIXTURE_DIR, fixtures[i].file);
        snprintf(want, sizeof want, "%s:%u: %s", path, fixtures[i].line, fixtures[i].reason);
        cr_expect_eq(catalog_parse_file(path, c, err, sizeof err), -1, "%s", path);
        cr_expect_str_eq(err, want);
    }
    free(c);
}

/* ---- digest ---------------------------------------------------------------------- */

Test(digest, pins_the_canonical_form) {
    static const char canonical[] =
        "jjj.carbon.catalog.v1\n"
        "catalog display_unit=kg\n"
        "catalog display_unit_g=1000\n"
        "catalog region=CN-TJ\n"
        "catalog status=illustrative\n"
        "catalog version=2026.1\n"
        "methodology TJ-EL-01 g_per_unit=5703/10\n"
        "methodology TJ-EL-01 name=Electricity saving\n"
        "methodology TJ-EL-01 native_unit=kWh\n"
        "methodology TJ-GT-01 g_per_unit=95/2\n"
        "methodology TJ-GT-01 name=Bus and metro\n"
        "methodology TJ-GT-01 native_unit=km\n"
        "recognize CN-BJ:BJ-GT-01 local=TJ-GT-01\n"
        "recognize CN-BJ:BJ-GT-01 ratio=9/10\n";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_n = 0;
    cr_assert_eq(EVP_Digest(canonical, sizeof canonical - 1, md, &md_n, EVP_sha256(), NULL), 1);
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned i = 0; i < md_n; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    cr_expect_str_eq(digest_of(VALID), hex);
}

Test(digest, stable_under_reformatting) {
    char want[CATALOG_DIGEST_HEX_LEN + 1];
    strcpy(want, digest_of(VALID));
    static const char *const variants[] = {
        /* comments, blank lines, odd spacing, tabs */
        "# a comment\n\n" HDR "\n   # indented comment\n" M1 "\n\n" M2 R1 "# end\n",
        "  [catalog]  \nregion=CN-TJ\n\tversion\t=\t2026.1\nstatus =   illustrative\n"
        "display_unit = kg   \ndisplay_unit_g    = 1000\n"
        "[ methodology   TJ-GT-01 ]\nname = Bus   and\tmetro\nnative_unit = km\n"
        "g_per_unit = 95 / 2\n" M2 "[recognize CN-BJ:BJ-GT-01]\nlocal=TJ-GT-01\nratio= 9 /10\n",
        /* sections and keys reordered */
        R1 M2 "[methodology TJ-GT-01]\ng_per_unit = 95/2\nnative_unit = km\n"
              "name = Bus and metro\n"
              "[catalog]\ndisplay_unit_g = 1000\ndisplay_unit = kg\nstatus = illustrative\n"
              "version = 2026.1\nregion = CN-TJ\n",
        /* a UTF-8 byte order mark */
        "\xEF\xBB\xBF" VALID,
        /* CRLF line ends, no final newline */
        "[catalog]\r\nregion = CN-TJ\r\nversion = 2026.1\r\nstatus = illustrative\r\n"
        "display_unit = kg\r\ndisplay_unit_g = 1000\r\n" M1 M2
        "[recognize CN-BJ:BJ-GT-01]\r\nlocal = TJ-GT-01\r\nratio = 9/10",
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
        cr_expect_str_eq(digest_of(variants[i]), want, "variant %zu", i);
}

Test(digest, changes_with_every_value) {
    static const struct {
        const char *from, *to;
    } edits[] = {
        {"ratio = 9/10", "ratio = 4/5"},
        {"ratio = 9/10", "ratio = 18/20"}, /* same value, other fraction: a change */
        {"g_per_unit = 95/2", "g_per_unit = 96/2"},
        {"g_per_unit = 5703/10", "g_per_unit = 5703/11"},
        {"name = Bus and metro", "name = Bus and Metro"},
        {"native_unit = km", "native_unit = mi"},
        {"version = 2026.1", "version = 2026.2"},
        {"status = illustrative", "status = published"},
        {"display_unit = kg", "display_unit = kilo"},
        {"display_unit_g = 1000", "display_unit_g = 100"},
        {"local = TJ-GT-01", "local = TJ-EL-01"},
        {"[recognize CN-BJ:BJ-GT-01]", "[recognize CN-BJ:BJ-GT-02]"},
        {"[recognize CN-BJ:BJ-GT-01]", "[recognize CN-HE:BJ-GT-01]"},
        {"[methodology TJ-EL-01]", "[methodology TJ-EL-02]"},
        {R1, ""},                          /* a rule removed */
        {M2, M2 "[methodology TJ-EL-02]\nname = e\nnative_unit = kWh\ng_per_unit = 1/1\n"},
    };
    char base[CATALOG_DIGEST_HEX_LEN + 1];
    strcpy(base, digest_of(VALID));
    char seen[sizeof edits / sizeof edits[0]][CATALOG_DIGEST_HEX_LEN + 1];
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char *text = replace_first(VALID, edits[i].from, edits[i].to);
        strcpy(seen[i], digest_of(text));
        free(text);
        cr_expect_str_neq(seen[i], base, "edit %zu", i);
        for (size_t k = 0; k < i; k++)
            cr_expect_str_neq(seen[i], seen[k], "edits %zu and %zu collide", k, i);
    }
}

/* ---- shipped catalogs ------------------------------------------------------------ */

static void check_shipped(const char *region, const char *unit, uint64_t unit_g,
                          const char *prefix) {
    char path[512], err[ERR_LEN];
    snprintf(path, sizeof path, "%s/%s.catalog", SHIPPED_DIR, region);
    catalog_t *c = new_catalog();
    cr_assert_eq(catalog_parse_file(path, c, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(c->region, region);
    cr_expect_eq(c->status, CATALOG_STATUS_ILLUSTRATIVE);
    cr_expect_str_eq(c->display_unit, unit);
    cr_expect_eq(c->display_unit_g, unit_g);
    /* The plan's areas: green travel (at least two), electricity, water, gas,
     * waste sorting, recycling. */
    static const char *const areas[] = {"GT-01", "GT-02", "EL-01", "WA-01",
                                        "GS-01", "WS-01", "RC-01"};
    for (size_t i = 0; i < sizeof areas / sizeof areas[0]; i++) {
        char id[32];
        snprintf(id, sizeof id, "%s-%s", prefix, areas[i]);
        cr_expect_not_null(catalog_find_methodology(c, id), "%s lacks %s", region, id);
    }
    cr_expect_gt(c->recognitions_n, 8);
    for (uint32_t i = 0; i < c->recognitions_n; i++) {
        const catalog_recognition_t *r = &c->recognitions[i];
        cr_expect_leq(r->ratio.num, r->ratio.den);
        cr_expect_not_null(catalog_find_methodology(c, r->local_id));
    }
    free(c);
}

Test(shipped, tianjin_loads) { check_shipped("CN-TJ", "kg", 1000, "TJ"); }
Test(shipped, beijing_loads) { check_shipped("CN-BJ", "point", 10, "BJ"); }
Test(shipped, hebei_loads) { check_shipped("CN-HE", "credit", 100, "HE"); }

Test(shipped, load_as_a_set_and_cross_check) {
    catalog_set_t *set = catalog_set_new();
    cr_assert_not_null(set);
    char err[ERR_LEN];
    cr_assert_eq(catalog_set_load_dir(set, SHIPPED_DIR, err, sizeof err), 3, "%s", err);
    const catalog_t *cur[CATALOG_SET_REGIONS_MAX];
    cr_assert_eq(catalog_set_snapshot(set, cur, CATALOG_SET_REGIONS_MAX), 3);
    cr_expect_str_eq(cur[0]->region, "CN-BJ");
    cr_expect_str_eq(cur[1]->region, "CN-HE");
    cr_expect_str_eq(cur[2]->region, "CN-TJ");
    /* Every rule names a real foreign methodology; every region recognises
     * something of each other region; regions differ in units and digests. */
    for (size_t i = 0; i < 3; i++) {
        size_t from_each[3] = {0};
        for (uint32_t k = 0; k < cur[i]->recognitions_n; k++) {
            const catalog_recognition_t *r = &cur[i]->recognitions[k];
            const catalog_t *f = catalog_set_current(set, r->from_region);
            cr_assert_not_null(f, "%s", r->from_region);
            cr_expect_not_null(catalog_find_methodology(f, r->foreign_id), "%s", r->foreign_id);
            for (size_t j = 0; j < 3; j++) from_each[j] += f == cur[j];
        }
        for (size_t j = 0; j < 3; j++)
            if (j != i) cr_expect_gt(from_each[j], 0, "%s from %s", cur[i]->region,
                                     cur[j]->region);
        for (size_t j = 0; j < i; j++) {
            cr_expect_neq(cur[i]->display_unit_g, cur[j]->display_unit_g);
            cr_expect_str_neq(cur[i]->digest_hex, cur[j]->digest_hex);
        }
    }
    catalog_set_free(set);
}

Test(shipped, issue_in_tianjin_transfer_to_beijing) {
    catalog_set_t *set = catalog_set_new();
    char err[ERR_LEN];
    cr_assert_eq(catalog_set_load_dir(set, SHIPPED_DIR, err, sizeof err), 3, "%s", err);
    const catalog_t *tj = catalog_set_current(set, "CN-TJ");
    const catalog_t *bj = catalog_set_current(set, "CN-BJ");
    cr_assert(tj != NULL && bj != NULL);
    /* 12.5 km by bus or metro in Tianjin at 95/2 g/km: 593.75 -> 593 g. */
    const catalog_methodology_t *m = catalog_find_methodology(tj, "TJ-GT-01");
    cr_assert_not_null(m);
    uint64_t g;
    cr_assert_eq(conv_issue_g(12500, m->g_per_unit.num, m->g_per_unit.den, &g), 0);
    cr_expect_eq(g, 593);
    /* Beijing credits it as metro travel at 9/10, in points of 10 g:
     * 533.7 g -> 53 points = 530 g; debited ceil(530 * 10 / 9) = 589. */
    const catalog_recognition_t *r = catalog_find_recognition(bj, "CN-TJ", "TJ-GT-01");
    cr_assert_not_null(r);
    cr_expect_str_eq(r->local_id, "BJ-GT-02");
    conv_quote_t q;
    cr_assert_eq(conv_quote(g, r->ratio.num, r->ratio.den, bj->display_unit_g, &q), 0);
    cr_expect_eq(q.credited_g, 530);
    cr_expect_eq(q.debited_g, 589);
    cr_expect_eq(q.discount_g, 59);
    cr_expect_eq(q.remainder_g, 4);
    uint64_t points, rem;
    cr_assert_eq(conv_g_to_units(q.credited_g, bj->display_unit_g, &points, &rem), 0);
    cr_expect_eq(points, 53);
    cr_expect_eq(rem, 0);
    /* Beijing does not recognise Hebei's water saving. */
    cr_expect_null(catalog_find_recognition(bj, "CN-HE", "HE-WA-01"));
    catalog_set_free(set);
}

/* ---- printing --------------------------------------------------------------------- */

static char *print_to_string(int (*print)(const catalog_t *, FILE *), const catalog_t *c) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    cr_assert_not_null(f);
    cr_assert_eq(print(c, f), 0);
    cr_assert_eq(fclose(f), 0);
    return buf;
}

Test(print, table_is_aligned) {
    catalog_t *c = new_catalog();
    char err[ERR_LEN];
    cr_assert_eq(parse_text(VALID, c, err), 0, "%s", err);
    char *out = print_to_string(catalog_print_table, c);
    char want[2048];
    snprintf(want, sizeof want,
             "catalog  CN-TJ  version 2026.1\n"
             "status   ILLUSTRATIVE DEFAULTS, to be replaced by the regulator's published "
             "factors\n"
             "digest   %s\n"
             "unit     1 kg = 1000 g CO2e\n"
             "\n"
             "ID        NAME                NATIVE UNIT  G/UNIT\n"
             "TJ-EL-01  Electricity saving  kWh          5703/10\n"
             "TJ-GT-01  Bus and metro       km           95/2\n"
             "\n"
             "FROM   FOREIGN ID  LOCAL ID  RATIO\n"
             "CN-BJ  BJ-GT-01    TJ-GT-01  9/10\n",
             c->digest_hex);
    cr_expect_str_eq(out, want);
    free(out);

    /* Wide characters count two columns; no rules, published. */
    cr_assert_eq(parse_text("[catalog]\nregion = CN-TJ\nversion = 2\nstatus = published\n"
                            "display_unit = kg\ndisplay_unit_g = 1000\n"
                            "[methodology A]\nname = 公交出行\nnative_unit = km\n"
                            "g_per_unit = 1/1\n"
                            "[methodology B]\nname = Bus trip\nnative_unit = km\n"
                            "g_per_unit = 2/1\n", c, err), 0, "%s", err);
    out = print_to_string(catalog_print_table, c);
    cr_expect(strstr(out, "status   published\n") != NULL, "%s", out);
    cr_expect(strstr(out, "ID  NAME      NATIVE UNIT  G/UNIT\n"
                          "A   公交出行  km           1/1\n"
                          "B   Bus trip  km           2/1\n") != NULL, "%s", out);
    cr_expect(strstr(out, "\nrecognizes no foreign methodologies\n") != NULL, "%s", out);
    free(out);
    free(c);
}

/* The JSON form of a catalog is built with jansson by gwctl
 * (gateway/gwctl/output.h): the same document as before, parsed back. */
static json_t *catalog_json_roundtrip(const catalog_t *c) {
    json_t *doc = gwctl_json_catalog(c);
    cr_assert_not_null(doc);
    char *text = json_dumps(doc, JSON_PRESERVE_ORDER);
    json_decref(doc);
    cr_assert_not_null(text);
    json_error_t jerr;
    json_t *back = json_loads(text, 0, &jerr);
    cr_assert_not_null(back, "line %d: %s\n%s", jerr.line, jerr.text, text);
    free(text);
    return back;
}

Test(print, json_is_exact_and_escaped) {
    catalog_t *c = new_catalog();
    char err[ERR_LEN];
    cr_assert_eq(parse_text(HDR "[methodology TJ-GT-01]\nname = Say \"hi\" \\ 公交\n"
                            "native_unit = km\ng_per_unit = 18446744073709551615/2\n" R1,
                            c, err), 0, "%s", err);
    json_t *got = catalog_json_roundtrip(c);
    json_error_t jerr;
    json_t *want = json_pack_ex(&jerr, 0,
        "{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s},"
        " s:[{s:s, s:s, s:s, s:{s:s, s:s}}], s:[{s:s, s:s, s:s, s:{s:s, s:s}}]}",
        "region", "CN-TJ", "version", "2026.1", "status", "illustrative", "digest", c->digest_hex,
        "path", "t.catalog", "display_unit", "name", "kg", "unit_g", "1000",
        "methodologies", "id", "TJ-GT-01", "name", "Say \"hi\" \\ 公交", "native_unit", "km",
        "g_per_unit", "num", "18446744073709551615", "den", "2",
        "recognitions", "from_region", "CN-BJ", "foreign_id", "BJ-GT-01", "local_id", "TJ-GT-01",
        "ratio", "num", "9", "den", "10");
    cr_assert_not_null(want, "%s", jerr.text);
    cr_expect(json_equal(got, want), "%s", json_dumps(got, 0));
    json_decref(want);
    json_decref(got);

    /* No recognitions: an empty array. */
    cr_assert_eq(parse_text(HDR M1, c, err), 0, "%s", err);
    got = catalog_json_roundtrip(c);
    json_t *rec = json_object_get(got, "recognitions");
    cr_expect(json_is_array(rec) && json_array_size(rec) == 0);
    json_decref(got);
    free(c);
}

Test(print, json_of_shipped_catalogs_parses) {
    static const char *const regions[] = {"CN-TJ", "CN-BJ", "CN-HE"};
    catalog_t *c = new_catalog();
    for (size_t i = 0; i < 3; i++) {
        char path[512], err[ERR_LEN];
        snprintf(path, sizeof path, "%s/%s.catalog", SHIPPED_DIR, regions[i]);
        cr_assert_eq(catalog_parse_file(path, c, err, sizeof err), 0, "%s", err);
        json_t *root = catalog_json_roundtrip(c);
        cr_expect_str_eq(json_string_value(json_object_get(root, "region")), regions[i]);
        cr_expect_str_eq(json_string_value(json_object_get(root, "digest")), c->digest_hex);
        cr_expect_eq(json_array_size(json_object_get(root, "methodologies")),
                     c->methodologies_n);
        cr_expect_eq(json_array_size(json_object_get(root, "recognitions")),
                     c->recognitions_n);
        json_t *m0 = json_array_get(json_object_get(root, "methodologies"), 0);
        cr_expect_str_eq(json_string_value(json_object_get(m0, "name")),
                         c->methodologies[0].name);
        json_decref(root);
        char *out = print_to_string(catalog_print_table, c);
        cr_expect(strstr(out, "ILLUSTRATIVE DEFAULTS") != NULL);
        free(out);
    }
    free(c);
}

Test(print, reports_write_errors) {
    catalog_t *c = new_catalog();
    char err[ERR_LEN];
    cr_assert_eq(parse_text(VALID, c, err), 0, "%s", err);
    FILE *full = fopen("/dev/full", "w");
    cr_assert_not_null(full);
    setvbuf(full, NULL, _IONBF, 0);
    cr_expect_eq(catalog_print_table(c, full), -1);
    fclose(full);
    free(c);
}

/* ---- catalog set -------------------------------------------------------------------- */

Test(catalog_set, reload_keeps_every_version_retrievable) {
    char dir[64], err[ERR_LEN];
    make_temp_dir(dir);
    copy_shipped(dir);
    write_text(dir, "README", "not a catalog\n");
    write_text(dir, ".CN-XX.catalog.swp", "editor swap file\n");
    catalog_set_t *set = catalog_set_new();
    cr_assert_not_null(set);
    cr_assert_eq(catalog_set_load_dir(set, dir, err, sizeof err), 3, "%s", err);
    cr_expect_eq(catalog_set_versions_n(set), 3);
    const catalog_t *tj1 = catalog_set_current(set, "CN-TJ");
    const catalog_t *bj1 = catalog_set_current(set, "CN-BJ");
    cr_assert(tj1 != NULL && bj1 != NULL);
    cr_expect_null(catalog_set_current(set, "CN-XX"));
    cr_expect_eq(catalog_set_by_digest(set, bj1->digest_hex), bj1);
    char bj1_digest[CATALOG_DIGEST_HEX_LEN + 1];
    strcpy(bj1_digest, bj1->digest_hex);

    /* Unchanged files: nothing changes, no duplicate versions. */
    cr_expect_eq(catalog_set_reload(set, err, sizeof err), 0, "%s", err);
    cr_expect_eq(catalog_set_versions_n(set), 3);
    cr_expect_eq(catalog_set_current(set, "CN-BJ"), bj1);

    /* Only a comment changed: same digest, same catalog. */
    char path[256];
    snprintf(path, sizeof path, "%s/CN-BJ.catalog", dir);
    char *orig = read_text(path);
    char *commented = replace_first(orig, "\n[catalog]\n", "\n# reviewed again\n\n[catalog]\n");
    write_text(dir, "CN-BJ.catalog", commented);
    cr_expect_eq(catalog_set_reload(set, err, sizeof err), 0, "%s", err);
    cr_expect_eq(catalog_set_current(set, "CN-BJ"), bj1);

    /* A value changed: new digest current, old one still retrievable. */
    char *changed = replace_first(orig, "display_unit_g = 10\n", "display_unit_g = 20\n");
    write_text(dir, "CN-BJ.catalog", changed);
    cr_expect_eq(catalog_set_reload(set, err, sizeof err), 1, "%s", err);
    const catalog_t *bj2 = catalog_set_current(set, "CN-BJ");
    cr_assert_not_null(bj2);
    cr_expect_neq(bj2, bj1);
    cr_expect_str_neq(bj2->digest_hex, bj1_digest);
    cr_expect_eq(bj2->display_unit_g, 20);
    cr_expect_eq(catalog_set_by_digest(set, bj1_digest), bj1);
    cr_expect_eq(bj1->display_unit_g, 10); /* the old pointer is still valid */
    cr_expect_str_eq(bj1->digest_hex, bj1_digest);
    cr_expect_eq(catalog_set_current(set, "CN-TJ"), tj1);
    cr_expect_eq(catalog_set_versions_n(set), 4);

    /* Back to the original: the old version becomes current again. */
    write_text(dir, "CN-BJ.catalog", orig);
    cr_expect_eq(catalog_set_reload(set, err, sizeof err), 1, "%s", err);
    cr_expect_eq(catalog_set_current(set, "CN-BJ"), bj1);
    cr_expect_eq(catalog_set_versions_n(set), 4);
    cr_expect_eq(catalog_set_by_digest(set, bj2->digest_hex), bj2);

    /* A file removed: its region is no longer current, its versions stay. */
    unlink(path);
    cr_expect_eq(catalog_set_reload(set, err, sizeof err), 1, "%s", err);
    cr_expect_null(catalog_set_current(set, "CN-BJ"));
    cr_expect_eq(catalog_set_by_digest(set, bj1_digest), bj1);
    const catalog_t *cur[CATALOG_SET_REGIONS_MAX];
    cr_expect_eq(catalog_set_snapshot(set, cur, CATALOG_SET_REGIONS_MAX), 2);
    cr_expect_eq(catalog_set_snapshot(set, cur, 1), 2); /* count beyond cap */
    cr_expect_str_eq(cur[0]->region, "CN-HE");
    cr_expect_null(catalog_set_by_digest(set, "00"));

    free(orig);
    free(commented);
    free(changed);
    catalog_set_free(set);
    remove_temp_dir(dir);
}

Test(catalog_set, failed_reload_keeps_previous_state) {
    char dir[64], err[ERR_LEN], want[ERR_LEN];
    make_temp_dir(dir);
    copy_shipped(dir);
    catalog_set_t *set = catalog_set_new();
    cr_assert_eq(catalog_set_load_dir(set, dir, err, sizeof err), 3, "%s", err);
    const catalog_t *before[CATALOG_SET_REGIONS_MAX];
    cr_assert_eq(catalog_set_snapshot(set, before, CATALOG_SET_REGIONS_MAX), 3);
    char path[256];
    snprintf(path, sizeof path, "%s/CN-TJ.catalog", dir);
    char *orig = read_text(path);

    static const struct {
        const char *from, *to;
        const char *reason; /* after "PATH:LINE: " */
    } breaks[] = {
        {"ratio = 2/3", "ratio = 3/2", "ratio: 3/2 exceeds 1 (recognition never inflates)"},
        {"region         = CN-TJ", "region         = CN-XX",
         "region 'CN-XX' does not match file name 'CN-TJ.catalog'"},
        {"[recognize CN-BJ:BJ-GT-03]", "[recognize CN-BJ:BJ-GT-09]",
         "recognition of CN-BJ:BJ-GT-09: no methodology 'BJ-GT-09' in "},
    };
    for (size_t i = 0; i < sizeof breaks / sizeof breaks[0]; i++) {
        char *bad = replace_first(orig, breaks[i].from, breaks[i].to);
        write_text(dir, "CN-TJ.catalog", bad);
        /* The line the message must name: where the edit is. */
        unsigned line = 1;
        for (const char *p = orig; p < strstr(orig, breaks[i].from); p++) line += *p == '\n';
        snprintf(want, sizeof want, "%s:%u: %s", path, line, breaks[i].reason);
        if (i == 2) snprintf(want + strlen(want), sizeof want - strlen(want),
                             "%s/CN-BJ.catalog", dir);
        cr_expect_eq(catalog_set_reload(set, err, sizeof err), -1, "break %zu", i);
        cr_expect_str_eq(err, want, "break %zu", i);
        const catalog_t *after[CATALOG_SET_REGIONS_MAX];
        cr_expect_eq(catalog_set_snapshot(set, after, CATALOG_SET_REGIONS_MAX), 3);
        for (size_t k = 0; k < 3; k++) cr_expect_eq(after[k], before[k], "break %zu", i);
        cr_expect_eq(catalog_set_versions_n(set), 3);
        free(bad);
    }
    /* A rule about a region that is not loaded cannot be checked: accepted. */
    char *tj_only = replace_first(orig, "[recognize CN-BJ:BJ-GT-03]", "[recognize CN-XX:XX-1]");
    char solo[64];
    make_temp_dir(solo);
    write_text(solo, "CN-TJ.catalog", tj_only);
    cr_expect_eq(catalog_set_load_dir(set, solo, err, sizeof err), 3, "%s", err);
    cr_expect_eq(catalog_set_snapshot(set, before, CATALOG_SET_REGIONS_MAX), 1);
    /* The set now reloads the new directory. */
    cr_expect_eq(catalog_set_reload(set, err, sizeof err), 0, "%s", err);
    remove_temp_dir(solo);
    free(tj_only);
    free(orig);
    catalog_set_free(set);
    remove_temp_dir(dir);
}

Test(catalog_set, rejects_bad_directories) {
    char err[ERR_LEN], want[ERR_LEN];
    catalog_set_t *set = catalog_set_new();
    cr_assert_eq(catalog_set_reload(set, err, sizeof err), -1);
    cr_expect_str_eq(err, "catalog set: nothing loaded yet, nothing to reload");
    cr_expect_eq(catalog_set_load_dir(set, "/nonexistent", err, sizeof err), -1);
    cr_expect_str_eq(err, "/nonexistent: cannot open directory: No such file or directory");
    char dir[64];
    make_temp_dir(dir);
    write_text(dir, "notes.txt", "x\n");
    cr_expect_eq(catalog_set_load_dir(set, dir, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: no *.catalog files", dir);
    cr_expect_str_eq(err, want);
    for (unsigned i = 0; i <= CATALOG_SET_REGIONS_MAX; i++) {
        char name[32];
        snprintf(name, sizeof name, "CN-%u.catalog", i);
        write_text(dir, name, VALID);
    }
    cr_expect_eq(catalog_set_load_dir(set, dir, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: too many catalogs (max %u)", dir, CATALOG_SET_REGIONS_MAX);
    cr_expect_str_eq(err, want);
    cr_expect_eq(catalog_set_versions_n(set), 0);
    catalog_set_free(set);
    remove_temp_dir(dir);
    catalog_set_free(NULL);
}

Test(catalog_set, version_limit_is_enforced) {
    char dir[64], err[ERR_LEN], want[ERR_LEN];
    make_temp_dir(dir);
    catalog_set_t *set = catalog_set_new();
    for (unsigned v = 1; v <= CATALOG_SET_VERSIONS_MAX; v++) {
        char ver[32];
        snprintf(ver, sizeof ver, "version = %u", v);
        char *t = replace_first(VALID, "version = 2026.1", ver);
        write_text(dir, "CN-TJ.catalog", t);
        free(t);
        cr_assert_eq(catalog_set_load_dir(set, dir, err, sizeof err), 1, "v%u: %s", v, err);
    }
    cr_expect_eq(catalog_set_versions_n(set), CATALOG_SET_VERSIONS_MAX);
    const catalog_t *last = catalog_set_current(set, "CN-TJ");
    write_text(dir, "CN-TJ.catalog", VALID);
    cr_expect_eq(catalog_set_reload(set, err, sizeof err), -1);
    snprintf(want, sizeof want,
             "%s: too many catalog versions retained (max %u); restart the gateway to "
             "release old versions", dir, CATALOG_SET_VERSIONS_MAX);
    cr_expect_str_eq(err, want);
    cr_expect_eq(catalog_set_current(set, "CN-TJ"), last);
    /* A version already held needs no room. */
    char *t = replace_first(VALID, "version = 2026.1", "version = 7");
    write_text(dir, "CN-TJ.catalog", t);
    free(t);
    cr_expect_eq(catalog_set_reload(set, err, sizeof err), 1, "%s", err);
    cr_expect_str_eq(catalog_set_current(set, "CN-TJ")->version, "7");
    catalog_set_free(set);
    remove_temp_dir(dir);
}

typedef struct {
    catalog_set_t *set;
    const char *digest_a;
    int stop; /* __atomic */
    unsigned long reads;
} reader_ctx_t;

static void *reader(void *arg) {
    reader_ctx_t *ctx = arg;
    while (!__atomic_load_n(&ctx->stop, __ATOMIC_ACQUIRE)) {
        const catalog_t *c = catalog_set_current(ctx->set, "CN-TJ");
        if (c == NULL || c->methodologies_n != 2) abort();
        const catalog_t *a = catalog_set_by_digest(ctx->set, ctx->digest_a);
        if (a == NULL || strcmp(a->version, "2026.1") != 0) abort();
        const catalog_t *snap[CATALOG_SET_REGIONS_MAX];
        if (catalog_set_snapshot(ctx->set, snap, CATALOG_SET_REGIONS_MAX) != 1) abort();
        __atomic_add_fetch(&ctx->reads, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

Test(catalog_set, readers_run_during_reloads) {
    char dir[64], err[ERR_LEN];
    make_temp_dir(dir);
    char *other = replace_first(VALID, "version = 2026.1", "version = 2026.2");
    write_text(dir, "CN-TJ.catalog", VALID);
    catalog_set_t *set = catalog_set_new();
    cr_assert_eq(catalog_set_load_dir(set, dir, err, sizeof err), 1, "%s", err);
    char digest_a[CATALOG_DIGEST_HEX_LEN + 1];
    strcpy(digest_a, catalog_set_current(set, "CN-TJ")->digest_hex);
    reader_ctx_t ctx = {.set = set, .digest_a = digest_a};
    pthread_t th[2];
    for (size_t i = 0; i < 2; i++) cr_assert_eq(pthread_create(&th[i], NULL, reader, &ctx), 0);
    for (unsigned i = 0; i < 200; i++) {
        write_text(dir, "CN-TJ.catalog", i % 2 ? VALID : other);
        cr_assert_eq(catalog_set_reload(set, err, sizeof err), 1, "%s", err);
    }
    __atomic_store_n(&ctx.stop, 1, __ATOMIC_RELEASE);
    for (size_t i = 0; i < 2; i++) pthread_join(th[i], NULL);
    cr_expect_eq(catalog_set_versions_n(set), 2);
    cr_expect_gt(ctx.reads, 0);
    free(other);
    catalog_set_free(set);
    remove_temp_dir(dir);
}

/* ---- amounts for people (adapters/amount_format.h) ----------------------------- */

Test(amount_format, whole_units_then_exact_grams) {
    char buf[AMOUNT_TEXT_MAX];
    cr_expect_str_eq(amount_format(buf, sizeof buf, 19950, "kg", 1000), "19 kg (19950 g)");
    cr_expect_str_eq(amount_format(buf, sizeof buf, 15000, "kg", 1000), "15 kg (15000 g)");
    cr_expect_str_eq(amount_format(buf, sizeof buf, 950, "kg", 1000), "0 kg (950 g)");
    cr_expect_str_eq(amount_format(buf, sizeof buf, 0, "kg", 1000), "0 kg (0 g)");
    cr_expect_str_eq(amount_format(buf, sizeof buf, 13500, "point", 10), "1350 point (13500 g)");
    /* grams only: no unit, or a unit of one gram (or none) */
    cr_expect_str_eq(amount_format(buf, sizeof buf, 19950, NULL, 1000), "19950 g");
    cr_expect_str_eq(amount_format(buf, sizeof buf, 19950, "", 1000), "19950 g");
    cr_expect_str_eq(amount_format(buf, sizeof buf, 19950, "g", 1), "19950 g");
    cr_expect_str_eq(amount_format(buf, sizeof buf, 19950, "kg", 0), "19950 g");
}

Test(amount_format, limits) {
    char buf[AMOUNT_TEXT_MAX];
    /* the longest texts fit AMOUNT_TEXT_MAX, exactly (no floating point) */
    char unit[CATALOG_UNIT_MAX + 1];
    memset(unit, 'u', CATALOG_UNIT_MAX);
    unit[CATALOG_UNIT_MAX] = '\0';
    char want[AMOUNT_TEXT_MAX + 8];
    snprintf(want, sizeof want, "18446744073709551 %s (18446744073709551615 g)", unit);
    cr_expect_str_eq(amount_format(buf, sizeof buf, UINT64_MAX, unit, 1000), want);
    cr_expect_str_eq(amount_format(buf, sizeof buf, UINT64_MAX, unit, 2),
                     "9223372036854775807 uuuuuuuuuuuuuuu (18446744073709551615 g)");
    /* a short buffer gets a cut, terminated text */
    char small[6];
    cr_expect_str_eq(amount_format(small, sizeof small, 19950, "kg", 1000), "19 kg");
}

Test(amount_format, in_a_catalogs_unit) {
    catalog_t *c = new_catalog();
    char err[ERR_LEN], buf[AMOUNT_TEXT_MAX];
    cr_assert_eq(parse_text(VALID, c, err), 0, "%s", err);
    cr_expect_str_eq(amount_format_catalog(buf, sizeof buf, 19950, c), "19 kg (19950 g)");
    cr_expect_str_eq(amount_format_catalog(buf, sizeof buf, 19950, NULL), "19950 g");
    free(c);
}
