/* catalog.c - catalog parser, canonical digest and lookups; see catalog.h.
 *
 * Parsing is one pass over the lines with a small state machine (current
 * section and which of its keys were seen), then a post-pass over the whole
 * catalog for the checks that depend on other sections (a recognition's
 * local methodology may be defined further down), then sorting and the
 * digest. No allocation: the catalog is fixed-size and owned by the caller.
 *
 * Canonical form (the digest input), one record per line, each ending in
 * '\n', in this order:
 *     jjj.carbon.catalog.v1
 *     catalog display_unit=<unit>
 *     catalog display_unit_g=<decimal>
 *     catalog region=<region>
 *     catalog status=<illustrative|published>
 *     catalog version=<version>
 *   then per methodology, sorted by id:
 *     methodology <id> g_per_unit=<num>/<den>
 *     methodology <id> name=<name, whitespace runs collapsed to one space>
 *     methodology <id> native_unit=<unit>
 *   then per recognition, sorted by (region, id):
 *     recognize <region>:<id> local=<local id>
 *     recognize <region>:<id> ratio=<num>/<den>
 * Numbers are plain decimal (the parser rejects leading zeros and signs), so
 * every catalog has exactly one canonical form. */
#include "adapters/catalog.h"
#include "adapters/conf_text.h"
#include "common/carbon_assert.h"
#include "common/hex.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define CATALOG_SECTION_KEYS_MAX 5u
#define CATALOG_CANON_MAGIC "jjj.carbon.catalog.v1\n"

typedef enum {
    SECTION_NONE = 0,
    SECTION_CATALOG,
    SECTION_METHODOLOGY,
    SECTION_RECOGNIZE,
} section_kind_t;

/* Keys of each section, in the order missing ones are named: all required
 * but the methodology's last one (activity_class, METHODOLOGY_KEYS_REQUIRED). */
static const char *const catalog_keys[] = {
    "region", "version", "status", "display_unit", "display_unit_g"};
static const char *const methodology_keys[] = {"name", "native_unit", "g_per_unit", "activity_class"};
#define METHODOLOGY_KEYS_REQUIRED 3
static const char *const recognize_keys[] = {"local", "ratio"};

typedef struct {
    const char *name; /* file name for messages */
    char *err;
    size_t errlen;
    catalog_t *c;

    section_kind_t kind;                          /* current section */
    uint32_t section_line;                        /* its header line */
    char section_label[2 * CATALOG_LINE_MAX_BYTES + 4]; /* "[methodology X]" */
    uint32_t key_lines[CATALOG_SECTION_KEYS_MAX]; /* 0: key not seen yet */

    uint32_t catalog_line; /* first [catalog] header, 0 if none yet */
    uint32_t recognition_local_lines[CATALOG_RECOGNITIONS_MAX];
} parser_t;

__attribute__((format(printf, 3, 4)))
static int parse_fail(parser_t *p, uint32_t line, const char *fmt, ...) {
    char msg[CATALOG_LINE_MAX_BYTES * 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "%s:%u: %s", p->name, (unsigned)line, msg);
    return -1;
}

/* ---- character classes and small validators ------------------------------ */

static int is_blank(char ch) { return ch == ' ' || ch == '\t'; }

/* ---- numbers ---------------------------------------------------------------- */

static int number_fail(parser_t *p, uint32_t line, const char *key,
                       const char *what, const char *s, size_t n, conf_num_rc_t rc) {
    switch (rc) {
    case CONF_NUM_MALFORMED:
        return parse_fail(p, line, "%s: malformed number '%.*s'", key, (int)n, s);
    case CONF_NUM_RANGE:
        return parse_fail(p, line, "%s: number '%.*s' out of range", key, (int)n, s);
    case CONF_NUM_NOT_POSITIVE:
        return parse_fail(p, line, "%s: %s must be positive", key, what);
    case CONF_NUM_OK:
        break;
    }
    CARBON_ASSERT(0 && "number_fail without an error");
    return -1;
}

/* Parses "NUM/DEN" (blanks allowed around '/') with both parts positive. */
static int parse_rational(parser_t *p, uint32_t line, const char *key,
                          const char *value, catalog_rational_t *out) {
    const char *slash = strchr(value, '/');
    if (slash == NULL || strchr(slash + 1, '/') != NULL)
        return parse_fail(p, line, "%s: malformed rational '%s' (want NUM/DEN)", key, value);
    const char *a = value, *b = slash + 1;
    size_t an = (size_t)(slash - value), bn = strlen(b);
    conf_trim(&a, &an);
    conf_trim(&b, &bn);
    conf_num_rc_t rc = conf_parse_positive(a, an, &out->num);
    if (rc != CONF_NUM_OK) return number_fail(p, line, key, "numerator", a, an, rc);
    rc = conf_parse_positive(b, bn, &out->den);
    if (rc != CONF_NUM_OK) return number_fail(p, line, key, "denominator", b, bn, rc);
    return 0;
}

/* ---- sections ------------------------------------------------------------- */

static const char *const *section_keys(section_kind_t kind, size_t *n) {
    switch (kind) {
    case SECTION_CATALOG:
        *n = sizeof catalog_keys / sizeof catalog_keys[0];
        return catalog_keys;
    case SECTION_METHODOLOGY:
        *n = sizeof methodology_keys / sizeof methodology_keys[0];
        return methodology_keys;
    case SECTION_RECOGNIZE:
        *n = sizeof recognize_keys / sizeof recognize_keys[0];
        return recognize_keys;
    case SECTION_NONE:
        break;
    }
    *n = 0;
    return NULL;
}

/* Closes the current section: every key must have been given. */
static int section_finish(parser_t *p) {
    size_t n;
    const char *const *keys = section_keys(p->kind, &n);
    CARBON_ASSERT(n <= CATALOG_SECTION_KEYS_MAX);
    if (p->kind == SECTION_METHODOLOGY) n = METHODOLOGY_KEYS_REQUIRED;
    for (size_t i = 0; i < n; i++)
        if (p->key_lines[i] == 0)
            return parse_fail(p, p->section_line, "%s missing required key '%s'",
                              p->section_label, keys[i]);
    return 0;
}

static const catalog_methodology_t *methodology_find_linear(const catalog_t *c,
                                                            const char *id) {
    for (uint32_t i = 0; i < c->methodologies_n; i++)
        if (strcmp(c->methodologies[i].id, id) == 0) return &c->methodologies[i];
    return NULL;
}

/* Opens a [catalog] section at line (arg_n: length of its argument, which
 * must be empty): at most one per file. */
static int section_begin_catalog(parser_t *p, uint32_t line, size_t arg_n) {
    CARBON_ASSERT(p != NULL && line >= 1);
    if (arg_n != 0)
        return parse_fail(p, line, "section [catalog] takes no argument");
    if (p->catalog_line != 0)
        return parse_fail(p, line, "duplicate [catalog] section (first at line %u)",
                          (unsigned)p->catalog_line);
    p->catalog_line = line;
    p->kind = SECTION_CATALOG;
    return 0;
}

/* Opens a [methodology ID] section at line: id (arg_n bytes, NUL-terminated)
 * must be a valid token, new in this catalog, and within the methodologies'
 * limit; appends the methodology. */
static int section_begin_methodology(parser_t *p, uint32_t line, const char *id, size_t arg_n) {
    CARBON_ASSERT(p != NULL && id != NULL && id[arg_n] == '\0');
    CARBON_ASSERT(arg_n <= CATALOG_LINE_MAX_BYTES);
    catalog_t *c = p->c;
    if (arg_n == 0) return parse_fail(p, line, "missing methodology id");
    if (!conf_valid_token(id, CATALOG_ID_MAX))
        return parse_fail(p, line, "invalid methodology id '%s'", id);
    const catalog_methodology_t *dup = methodology_find_linear(c, id);
    if (dup != NULL)
        return parse_fail(p, line, "duplicate methodology '%s' (first at line %u)",
                          id, (unsigned)dup->line);
    if (c->methodologies_n == CATALOG_METHODOLOGIES_MAX)
        return parse_fail(p, line, "too many methodologies (max %u)",
                          CATALOG_METHODOLOGIES_MAX);
    catalog_methodology_t *m = &c->methodologies[c->methodologies_n++];
    memset(m, 0, sizeof *m);
    memcpy(m->id, id, arg_n + 1);
    m->line = line;
    p->kind = SECTION_METHODOLOGY;
    return 0;
}

/* Opens a [recognize REGION:METHODOLOGY-ID] section at line: argbuf (arg_n
 * bytes, NUL-terminated, cut in place at the colon) must name a valid region
 * and methodology id, new in this catalog, within the recognitions' limit;
 * appends the recognition. */
static int section_begin_recognize(parser_t *p, uint32_t line, char *argbuf, size_t arg_n) {
    CARBON_ASSERT(p != NULL && argbuf != NULL && argbuf[arg_n] == '\0');
    CARBON_ASSERT(arg_n <= CATALOG_LINE_MAX_BYTES);
    catalog_t *c = p->c;
    if (arg_n == 0) return parse_fail(p, line, "missing recognized REGION:METHODOLOGY-ID");
    char *colon = strchr(argbuf, ':');
    if (colon == NULL)
        return parse_fail(p, line,
                          "malformed recognition '%s' (want REGION:METHODOLOGY-ID)",
                          argbuf);
    *colon = '\0';
    const char *region = argbuf, *id = colon + 1;
    if (!conf_valid_region(region))
        return parse_fail(p, line, "invalid region '%s'", region);
    if (!conf_valid_token(id, CATALOG_ID_MAX))
        return parse_fail(p, line, "invalid methodology id '%s'", id);
    for (uint32_t i = 0; i < c->recognitions_n; i++) {
        const catalog_recognition_t *r = &c->recognitions[i];
        if (strcmp(r->from_region, region) == 0 && strcmp(r->foreign_id, id) == 0)
            return parse_fail(p, line,
                              "duplicate recognition of %s:%s (first at line %u)",
                              region, id, (unsigned)r->line);
    }
    if (c->recognitions_n == CATALOG_RECOGNITIONS_MAX)
        return parse_fail(p, line, "too many recognitions (max %u)",
                          CATALOG_RECOGNITIONS_MAX);
    catalog_recognition_t *r = &c->recognitions[c->recognitions_n++];
    memset(r, 0, sizeof *r);
    /* Both were validated above, so they fit. */
    memcpy(r->from_region, region, strlen(region) + 1);
    memcpy(r->foreign_id, id, strlen(id) + 1);
    r->line = line;
    p->kind = SECTION_RECOGNIZE;
    return 0;
}

/* Starts the section whose header "[KIND ARG]" (n bytes, no newline) is at
 * line, after finishing the one before: splits the header, records it for
 * messages, and opens the section of its kind. */
static int section_begin(parser_t *p, uint32_t line, const char *s, size_t n) {
    CARBON_ASSERT(n >= 1 && s[0] == '[');
    CARBON_ASSERT(n <= CATALOG_LINE_MAX_BYTES);
    if (section_finish(p) != 0) return -1;
    if (s[n - 1] != ']' || n < 2)
        return parse_fail(p, line, "malformed section header");
    const char *kind = s + 1;
    size_t inner_n = n - 2;
    conf_trim(&kind, &inner_n);
    size_t kind_n = 0;
    while (kind_n < inner_n && !is_blank(kind[kind_n])) kind_n++;
    const char *arg = kind + kind_n;
    size_t arg_n = inner_n - kind_n;
    conf_trim(&arg, &arg_n);
    for (size_t i = 0; i < arg_n; i++)
        if (is_blank(arg[i])) return parse_fail(p, line, "malformed section header");
    char argbuf[CATALOG_LINE_MAX_BYTES + 1];
    CARBON_ASSERT(arg_n < sizeof argbuf);
    memcpy(argbuf, arg, arg_n);
    argbuf[arg_n] = '\0';

    memset(p->key_lines, 0, sizeof p->key_lines);
    p->section_line = line;
    snprintf(p->section_label, sizeof p->section_label, "[%.*s%s%s]", (int)kind_n,
             kind, arg_n ? " " : "", argbuf);

    if (kind_n == 7 && memcmp(kind, "catalog", 7) == 0)
        return section_begin_catalog(p, line, arg_n);
    if (kind_n == 11 && memcmp(kind, "methodology", 11) == 0)
        return section_begin_methodology(p, line, argbuf, arg_n);
    if (kind_n == 9 && memcmp(kind, "recognize", 9) == 0)
        return section_begin_recognize(p, line, argbuf, arg_n);
    return parse_fail(p, line, "unknown section '%.*s'", (int)kind_n, kind);
}

/* Copies a value into a fixed field, failing if it does not fit. */
static int copy_value(parser_t *p, uint32_t line, const char *key, char *dst,
                      size_t max, const char *value) {
    size_t n = strlen(value);
    if (n > max)
        return parse_fail(p, line, "%s: value too long (max %zu bytes)", key, max);
    memcpy(dst, value, n + 1);
    return 0;
}

static int copy_token(parser_t *p, uint32_t line, const char *key, char *dst,
                      size_t max, const char *value, const char *what) {
    if (copy_value(p, line, key, dst, max, value) != 0) return -1;
    if (!conf_valid_token(value, max))
        return parse_fail(p, line, "%s: invalid %s '%s'", key, what, value);
    return 0;
}

static int set_catalog_key(parser_t *p, uint32_t line, const char *key,
                           const char *value) {
    catalog_t *c = p->c;
    if (strcmp(key, "region") == 0) {
        if (copy_value(p, line, key, c->region, CATALOG_REGION_MAX, value) != 0) return -1;
        if (!conf_valid_region(value))
            return parse_fail(p, line, "region: invalid region '%s' (want e.g. CN-TJ)", value);
        c->region_line = line;
        return 0;
    }
    if (strcmp(key, "version") == 0)
        return copy_token(p, line, key, c->version, CATALOG_VERSION_MAX, value, "version");
    if (strcmp(key, "status") == 0) {
        if (strcmp(value, "illustrative") == 0) c->status = CATALOG_STATUS_ILLUSTRATIVE;
        else if (strcmp(value, "published") == 0) c->status = CATALOG_STATUS_PUBLISHED;
        else
            return parse_fail(p, line,
                              "status: unknown status '%s' (want illustrative or published)",
                              value);
        return 0;
    }
    if (strcmp(key, "display_unit") == 0)
        return copy_token(p, line, key, c->display_unit, CATALOG_UNIT_MAX, value, "unit");
    CARBON_ASSERT(strcmp(key, "display_unit_g") == 0);
    conf_num_rc_t rc = conf_parse_positive(value, strlen(value), &c->display_unit_g);
    if (rc != CONF_NUM_OK) return number_fail(p, line, key, "value", value, strlen(value), rc);
    return 0;
}

static int set_methodology_key(parser_t *p, uint32_t line, const char *key,
                               const char *value) {
    CARBON_ASSERT(p->c->methodologies_n > 0);
    catalog_methodology_t *m = &p->c->methodologies[p->c->methodologies_n - 1];
    if (strcmp(key, "name") == 0)
        return copy_value(p, line, key, m->name, CATALOG_NAME_MAX, value);
    if (strcmp(key, "native_unit") == 0)
        return copy_token(p, line, key, m->native_unit, CATALOG_UNIT_MAX, value, "unit");
    if (strcmp(key, "activity_class") == 0)
        return copy_token(p, line, key, m->activity_class, CATALOG_ID_MAX, value, "activity class");
    CARBON_ASSERT(strcmp(key, "g_per_unit") == 0);
    return parse_rational(p, line, key, value, &m->g_per_unit);
}

static int set_recognize_key(parser_t *p, uint32_t line, const char *key,
                             const char *value) {
    uint32_t i = p->c->recognitions_n - 1;
    CARBON_ASSERT(p->c->recognitions_n > 0);
    catalog_recognition_t *r = &p->c->recognitions[i];
    if (strcmp(key, "local") == 0) {
        p->recognition_local_lines[i] = line;
        return copy_token(p, line, key, r->local_id, CATALOG_ID_MAX, value,
                          "methodology id");
    }
    CARBON_ASSERT(strcmp(key, "ratio") == 0);
    if (parse_rational(p, line, key, value, &r->ratio) != 0) return -1;
    if (r->ratio.num > r->ratio.den)
        return parse_fail(p, line, "ratio: %llu/%llu exceeds 1 (recognition never inflates)",
                          (unsigned long long)r->ratio.num,
                          (unsigned long long)r->ratio.den);
    return 0;
}

/* Handles "key = value" within the current section. */
static int key_value(parser_t *p, uint32_t line, const char *s, size_t n) {
    const char *eq = memchr(s, '=', n);
    if (eq == NULL) return parse_fail(p, line, "expected 'key = value' or '[section]'");
    const char *k = s, *v = eq + 1;
    size_t kn = (size_t)(eq - s), vn = n - kn - 1;
    conf_trim(&k, &kn);
    conf_trim(&v, &vn);
    if (kn == 0) return parse_fail(p, line, "expected 'key = value' or '[section]'");
    char key[CATALOG_LINE_MAX_BYTES + 1];
    memcpy(key, k, kn);
    key[kn] = '\0';
    if (p->kind == SECTION_NONE)
        return parse_fail(p, line, "key '%s' outside any section", key);

    size_t keys_n, idx;
    const char *const *keys = section_keys(p->kind, &keys_n);
    for (idx = 0; idx < keys_n; idx++)
        if (strcmp(keys[idx], key) == 0) break;
    if (idx == keys_n)
        return parse_fail(p, line, "unknown key '%s' in %s", key, p->section_label);
    if (p->key_lines[idx] != 0)
        return parse_fail(p, line, "duplicate key '%s' (first at line %u)", key,
                          (unsigned)p->key_lines[idx]);
    p->key_lines[idx] = line;
    if (vn == 0) return parse_fail(p, line, "%s: empty value", key);

    /* Normalize: runs of blanks inside the value become one space. */
    char value[CATALOG_LINE_MAX_BYTES + 1];
    size_t out = 0;
    for (size_t i = 0; i < vn; i++) {
        if (is_blank(v[i])) {
            if (value[out - 1] != ' ') value[out++] = ' '; /* v[0] is not blank */
        } else {
            value[out++] = v[i];
        }
    }
    value[out] = '\0';

    switch (p->kind) {
    case SECTION_CATALOG: return set_catalog_key(p, line, key, value);
    case SECTION_METHODOLOGY: return set_methodology_key(p, line, key, value);
    case SECTION_RECOGNIZE: return set_recognize_key(p, line, key, value);
    case SECTION_NONE: break;
    }
    CARBON_ASSERT(0 && "unreachable");
    return -1;
}

/* ---- whole-catalog checks, order, digest --------------------------------- */

static int cmp_methodology(const void *a, const void *b) {
    return strcmp(((const catalog_methodology_t *)a)->id,
                  ((const catalog_methodology_t *)b)->id);
}

static int cmp_recognition(const void *a, const void *b) {
    const catalog_recognition_t *x = a, *y = b;
    int d = strcmp(x->from_region, y->from_region);
    return d != 0 ? d : strcmp(x->foreign_id, y->foreign_id);
}

__attribute__((format(printf, 3, 4)))
static int digest_line(EVP_MD_CTX *ctx, char *buf, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, CATALOG_LINE_MAX_BYTES * 2, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= CATALOG_LINE_MAX_BYTES * 2) return -1;
    return EVP_DigestUpdate(ctx, buf, (size_t)n) == 1 ? 0 : -1;
}

/* Computes c->digest_hex over the canonical form (see the top of the file).
 * c must be sorted. Returns 0, or -1 if OpenSSL fails. */
static int catalog_digest(catalog_t *c) {
    char buf[CATALOG_LINE_MAX_BYTES * 2];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_n = 0;
    int rc = -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL) return -1;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) goto out;
    if (digest_line(ctx, buf, "%s", CATALOG_CANON_MAGIC) != 0) goto out;
    if (digest_line(ctx, buf, "catalog display_unit=%s\n", c->display_unit) != 0 ||
        digest_line(ctx, buf, "catalog display_unit_g=%llu\n",
                    (unsigned long long)c->display_unit_g) != 0 ||
        digest_line(ctx, buf, "catalog region=%s\n", c->region) != 0 ||
        digest_line(ctx, buf, "catalog status=%s\n", catalog_status_name(c->status)) != 0 ||
        digest_line(ctx, buf, "catalog version=%s\n", c->version) != 0)
        goto out;
    for (uint32_t i = 0; i < c->methodologies_n; i++) {
        const catalog_methodology_t *m = &c->methodologies[i];
        /* only when given, so catalogs without it keep their digests */
        if (m->activity_class[0] != '\0' &&
            digest_line(ctx, buf, "methodology %s activity_class=%s\n", m->id, m->activity_class) != 0)
            goto out;
        if (digest_line(ctx, buf, "methodology %s g_per_unit=%llu/%llu\n", m->id,
                        (unsigned long long)m->g_per_unit.num,
                        (unsigned long long)m->g_per_unit.den) != 0 ||
            digest_line(ctx, buf, "methodology %s name=%s\n", m->id, m->name) != 0 ||
            digest_line(ctx, buf, "methodology %s native_unit=%s\n", m->id,
                        m->native_unit) != 0)
            goto out;
    }
    for (uint32_t i = 0; i < c->recognitions_n; i++) {
        const catalog_recognition_t *r = &c->recognitions[i];
        if (digest_line(ctx, buf, "recognize %s:%s local=%s\n", r->from_region,
                        r->foreign_id, r->local_id) != 0 ||
            digest_line(ctx, buf, "recognize %s:%s ratio=%llu/%llu\n", r->from_region,
                        r->foreign_id, (unsigned long long)r->ratio.num,
                        (unsigned long long)r->ratio.den) != 0)
            goto out;
    }
    if (EVP_DigestFinal_ex(ctx, md, &md_n) != 1 || md_n * 2 != CATALOG_DIGEST_HEX_LEN)
        goto out;
    if (hex_encode(md, md_n, c->digest_hex, sizeof c->digest_hex) != CATALOG_DIGEST_HEX_LEN) goto out;
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

static int catalog_finish(parser_t *p, uint32_t last_line) {
    catalog_t *c = p->c;
    if (section_finish(p) != 0) return -1;
    if (p->catalog_line == 0)
        return parse_fail(p, last_line, "missing [catalog] section");
    if (c->methodologies_n == 0)
        return parse_fail(p, p->catalog_line, "catalog defines no methodologies");
    for (uint32_t i = 0; i < c->recognitions_n; i++) {
        const catalog_recognition_t *r = &c->recognitions[i];
        if (strcmp(r->from_region, c->region) == 0)
            return parse_fail(p, r->line, "recognition of own region's methodology %s:%s",
                              r->from_region, r->foreign_id);
        if (methodology_find_linear(c, r->local_id) == NULL)
            return parse_fail(p, p->recognition_local_lines[i],
                              "recognition of %s:%s: no local methodology '%s'",
                              r->from_region, r->foreign_id, r->local_id);
    }
    qsort(c->methodologies, c->methodologies_n, sizeof c->methodologies[0],
          cmp_methodology);
    qsort(c->recognitions, c->recognitions_n, sizeof c->recognitions[0],
          cmp_recognition);
    if (catalog_digest(c) != 0) return parse_fail(p, 0, "SHA-256 digest failed");
    return 0;
}

/* One meaningful line: a section header or a key. */
static int catalog_line(void *ctx, uint32_t line, const char *s, size_t n) {
    parser_t *p = ctx;
    return s[0] == '[' ? section_begin(p, line, s, n) : key_value(p, line, s, n);
}

/* ---- public ------------------------------------------------------------------ */

int catalog_parse_buffer(const char *name, const char *data, size_t len,
                         catalog_t *out, char *err, size_t errlen) {
    CARBON_ASSERT(name != NULL && out != NULL && err != NULL && errlen > 0);
    CARBON_ASSERT(data != NULL || len == 0);
    parser_t *p = &(parser_t){.name = name, .err = err, .errlen = errlen, .c = out};
    memset(out, 0, sizeof *out);
    err[0] = '\0';

    if (strlen(name) > CATALOG_PATH_MAX)
        return parse_fail(p, 0, "path too long (max %u bytes)", CATALOG_PATH_MAX);
    memcpy(out->path, name, strlen(name) + 1);
    uint32_t line = 0;
    if (conf_text_walk(name, data, len, CATALOG_FILE_MAX_BYTES, CATALOG_LINE_MAX_BYTES,
                       catalog_line, p, &line, err, errlen) != 0)
        return -1;
    return catalog_finish(p, line > 0 ? line : 1);
}

int catalog_parse_file(const char *path, catalog_t *out, char *err,
                       size_t errlen) {
    CARBON_ASSERT(path != NULL && out != NULL && err != NULL && errlen > 0);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s:0: cannot open: %s", path, strerror(errno));
        return -1;
    }
    /* One byte more than the limit, so that the parser can see it exceeded. */
    char *data = malloc(CATALOG_FILE_MAX_BYTES + 1);
    if (data == NULL) {
        fclose(f);
        snprintf(err, errlen, "%s:0: out of memory", path);
        return -1;
    }
    size_t len = fread(data, 1, CATALOG_FILE_MAX_BYTES + 1, f);
    int read_errno = errno;
    int failed = ferror(f);
    fclose(f);
    int rc;
    if (failed) {
        snprintf(err, errlen, "%s:0: read error: %s", path, strerror(read_errno));
        rc = -1;
    } else {
        rc = catalog_parse_buffer(path, data, len, out, err, errlen);
    }
    free(data);
    return rc;
}

const catalog_methodology_t *catalog_find_methodology(const catalog_t *c,
                                                      const char *id) {
    CARBON_ASSERT(c != NULL && id != NULL);
    uint32_t lo = 0, hi = c->methodologies_n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int d = strcmp(id, c->methodologies[mid].id);
        if (d == 0) return &c->methodologies[mid];
        if (d < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

const catalog_recognition_t *catalog_find_recognition(const catalog_t *dst,
                                                      const char *from_region,
                                                      const char *foreign_id) {
    CARBON_ASSERT(dst != NULL && from_region != NULL && foreign_id != NULL);
    uint32_t lo = 0, hi = dst->recognitions_n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const catalog_recognition_t *r = &dst->recognitions[mid];
        int d = strcmp(from_region, r->from_region);
        if (d == 0) d = strcmp(foreign_id, r->foreign_id);
        if (d == 0) return r;
        if (d < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

const char *catalog_status_name(catalog_status_t status) {
    return status == CATALOG_STATUS_PUBLISHED ? "published" : "illustrative";
}
