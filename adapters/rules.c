/* rules.c - parser, canonical digest and lookups of rules on use; see rules.h.
 *
 * One pass over the lines (adapters/conf_text.c walks them), a state of the
 * current section and its keys seen, then whole-file checks, sorting and the
 * digest. Canonical form (the digest input), one record per line:
 *     jjj.carbon.rules.v1
 *     rules region=<region>
 *     rules status=<illustrative|published>
 *     rules version=<version>
 *   per purpose, sorted by name (lists sorted, "*" when any):
 *     purpose <name> methodologies=<id id ...>
 *     purpose <name> origins=<region region ...>
 *     purpose <name> share=<num>/<den>            (when given)
 *     purpose <name> share_outside=<num>/<den>    (when given)
 *     purpose <name> vintages=<min>-<max>         (or *)
 *   per inflow, sorted by peer:
 *     inflow <peer> daily_g=<decimal> */
#include "adapters/rules.h"
#include "adapters/conf_text.h"
#include "common/carbon_assert.h"
#include "common/hex.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

const char *const rules_purpose_names[] = {"compliance_offset", "rights_redemption",
                                           "voluntary_neutrality", "voluntary_cancellation",
                                           "ecological_compensation", NULL};

typedef enum { SEC_NONE = 0, SEC_RULES, SEC_PURPOSE, SEC_INFLOW } sec_t;

static const char *const rules_keys[] = {"region", "version", "status", NULL};
static const char *const purpose_keys[] = {"origins", "methodologies", "vintages", "share",
                                           "share_outside", NULL};
static const char *const inflow_keys[] = {"daily_g", NULL};
#define RULES_KEYS_MAX 5

typedef struct {
    const char *name;
    char *err;
    size_t errlen;
    rules_t *r;
    sec_t sec;
    uint32_t sec_line;
    uint32_t key_lines[RULES_KEYS_MAX];
    uint32_t rules_line;
} rparser_t;

__attribute__((format(printf, 3, 4)))
static int rfail(rparser_t *p, uint32_t line, const char *fmt, ...) {
    char msg[RULES_LINE_MAX_BYTES * 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "%s:%u: %s", p->name, (unsigned)line, msg);
    return -1;
}

static const char *const *sec_keys(sec_t s) {
    return s == SEC_RULES ? rules_keys : s == SEC_PURPOSE ? purpose_keys
                                       : s == SEC_INFLOW  ? inflow_keys : NULL;
}

static int is_purpose_name(const char *s) {
    for (size_t i = 0; rules_purpose_names[i] != NULL; i++)
        if (strcmp(rules_purpose_names[i], s) == 0) return 1;
    return 0;
}

/* Closes the current section: its required keys must have been given. */
static int sec_finish(rparser_t *p) {
    const char *const *keys = sec_keys(p->sec);
    if (keys == NULL) return 0;
    for (size_t i = 0; keys[i] != NULL; i++) {
        int optional = p->sec == SEC_PURPOSE && i >= 3;
        if (p->key_lines[i] == 0 && !optional)
            return rfail(p, p->sec_line, "section missing required key '%s'", keys[i]);
    }
    if (p->sec == SEC_PURPOSE) {
        const rules_purpose_t *u = &p->r->purposes[p->r->purposes_n - 1];
        int compliance = strcmp(u->name, "compliance_offset") == 0;
        int given = p->key_lines[3] != 0, given_out = p->key_lines[4] != 0;
        if (compliance && (!given || !given_out))
            return rfail(p, p->sec_line, "[purpose compliance_offset] needs share and share_outside");
        if (!compliance && (given || given_out))
            return rfail(p, given ? p->key_lines[3] : p->key_lines[4],
                         "share and share_outside apply to compliance_offset only");
    }
    return 0;
}

static int begin_purpose(rparser_t *p, uint32_t line, const char *arg) {
    rules_t *r = p->r;
    if (!is_purpose_name(arg))
        return rfail(p, line, "unknown purpose '%s' (want compliance_offset, rights_redemption, "
                     "voluntary_neutrality, voluntary_cancellation or ecological_compensation)", arg);
    for (uint32_t i = 0; i < r->purposes_n; i++)
        if (strcmp(r->purposes[i].name, arg) == 0)
            return rfail(p, line, "duplicate purpose '%s' (first at line %u)", arg,
                         (unsigned)r->purposes[i].line);
    CARBON_ASSERT(r->purposes_n < RULES_PURPOSES_MAX); /* more names than slots is impossible */
    rules_purpose_t *u = &r->purposes[r->purposes_n++];
    memset(u, 0, sizeof *u);
    snprintf(u->name, sizeof u->name, "%s", arg);
    u->line = line;
    p->sec = SEC_PURPOSE;
    return 0;
}

static int begin_inflow(rparser_t *p, uint32_t line, const char *arg) {
    rules_t *r = p->r;
    if (!conf_valid_region(arg)) return rfail(p, line, "invalid region '%s'", arg);
    for (uint32_t i = 0; i < r->inflows_n; i++)
        if (strcmp(r->inflows[i].peer, arg) == 0)
            return rfail(p, line, "duplicate inflow of %s (first at line %u)", arg,
                         (unsigned)r->inflows[i].line);
    if (r->inflows_n == RULES_INFLOWS_MAX)
        return rfail(p, line, "too many inflow sections (max %u)", RULES_INFLOWS_MAX);
    rules_inflow_t *f = &r->inflows[r->inflows_n++];
    memset(f, 0, sizeof *f);
    snprintf(f->peer, sizeof f->peer, "%s", arg);
    f->line = line;
    p->sec = SEC_INFLOW;
    return 0;
}

/* "[kind arg]" or "[rules]": finishes the section before, opens this one. */
static int sec_begin(rparser_t *p, uint32_t line, const char *s, size_t n) {
    if (sec_finish(p) != 0) return -1;
    if (n < 2 || s[n - 1] != ']') return rfail(p, line, "malformed section header");
    char buf[RULES_LINE_MAX_BYTES + 1];
    const char *in = s + 1;
    size_t in_n = n - 2;
    conf_trim(&in, &in_n);
    memcpy(buf, in, in_n);
    buf[in_n] = '\0';
    char *arg = strpbrk(buf, " \t");
    if (arg != NULL) {
        *arg++ = '\0';
        while (*arg == ' ' || *arg == '\t') arg++;
        if (strpbrk(arg, " \t") != NULL) return rfail(p, line, "malformed section header");
    }
    memset(p->key_lines, 0, sizeof p->key_lines);
    p->sec_line = line;
    if (strcmp(buf, "rules") == 0) {
        if (arg != NULL) return rfail(p, line, "section [rules] takes no argument");
        if (p->rules_line != 0)
            return rfail(p, line, "duplicate [rules] section (first at line %u)", (unsigned)p->rules_line);
        p->rules_line = line;
        p->sec = SEC_RULES;
        return 0;
    }
    if (strcmp(buf, "purpose") == 0 || strcmp(buf, "inflow") == 0) {
        if (arg == NULL || *arg == '\0') return rfail(p, line, "section [%s] needs an argument", buf);
        return buf[0] == 'p' ? begin_purpose(p, line, arg) : begin_inflow(p, line, arg);
    }
    return rfail(p, line, "unknown section '%s'", buf);
}

/* Parses "NUM/DEN" with 0 < NUM <= DEN <= RULES_SHARE_DEN_MAX. */
static int parse_share(rparser_t *p, uint32_t line, const char *key, const char *v,
                       rules_share_t *out) {
    const char *slash = strchr(v, '/');
    if (slash == NULL) return rfail(p, line, "%s: malformed share '%s' (want NUM/DEN)", key, v);
    const char *a = v, *b = slash + 1;
    size_t an = (size_t)(slash - v), bn = strlen(b);
    conf_trim(&a, &an);
    conf_trim(&b, &bn);
    if (conf_parse_positive(a, an, &out->num) != CONF_NUM_OK ||
        conf_parse_positive(b, bn, &out->den) != CONF_NUM_OK)
        return rfail(p, line, "%s: malformed share '%s' (want NUM/DEN, both positive)", key, v);
    if (out->den > RULES_SHARE_DEN_MAX || out->num > out->den)
        return rfail(p, line, "%s: share must be at most 1 with a denominator of at most %u", key,
                     RULES_SHARE_DEN_MAX);
    return 0;
}

/* Parses a year of RULES_VINTAGE_MIN..MAX. */
static int parse_year(const char *s, size_t n, uint32_t *out) {
    uint64_t v;
    if (conf_parse_positive(s, n, &v) != CONF_NUM_OK || v < RULES_VINTAGE_MIN || v > RULES_VINTAGE_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_vintages(rparser_t *p, uint32_t line, const char *v, rules_purpose_t *u) {
    if (strcmp(v, "*") == 0) return 0;
    const char *dash = strchr(v, '-');
    size_t an = dash ? (size_t)(dash - v) : strlen(v);
    const char *a = v, *b = dash ? dash + 1 : v;
    size_t bn = dash ? strlen(b) : an;
    conf_trim(&a, &an);
    conf_trim(&b, &bn);
    if (parse_year(a, an, &u->vintage_min) != 0 || parse_year(b, bn, &u->vintage_max) != 0 ||
        u->vintage_min > u->vintage_max)
        return rfail(p, line, "vintages: want YEAR, YEAR-YEAR (%u..%u, ascending) or *, not '%s'",
                     RULES_VINTAGE_MIN, RULES_VINTAGE_MAX, v);
    return 0;
}

/* Parses a blank-separated list of regions (is_region) or methodology ids,
 * or "*" (n = 0), without duplicates, sorted on return. */
static int parse_list(rparser_t *p, uint32_t line, const char *key, const char *v, int is_region,
                      char *items, size_t item_size, uint32_t *n) {
    *n = 0;
    if (strcmp(v, "*") == 0) return 0;
    char buf[RULES_LINE_MAX_BYTES + 1];
    snprintf(buf, sizeof buf, "%s", v);
    char *save = NULL;
    for (char *t = strtok_r(buf, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save)) {
        int ok = is_region ? conf_valid_region(t) : conf_valid_token(t, CATALOG_ID_MAX);
        if (!ok) return rfail(p, line, "%s: invalid %s '%s'", key, is_region ? "region" : "methodology id", t);
        for (uint32_t i = 0; i < *n; i++)
            if (strcmp(items + i * item_size, t) == 0) return rfail(p, line, "%s: '%s' twice", key, t);
        if (*n == RULES_LIST_MAX) return rfail(p, line, "%s: too many items (max %u)", key, RULES_LIST_MAX);
        snprintf(items + (*n)++ * item_size, item_size, "%s", t);
    }
    qsort(items, *n, item_size, (int (*)(const void *, const void *))strcmp);
    return 0;
}

static int set_rules_key(rparser_t *p, uint32_t line, const char *key, const char *v) {
    rules_t *r = p->r;
    if (strcmp(key, "region") == 0) {
        if (!conf_valid_region(v)) return rfail(p, line, "region: invalid region '%s' (want e.g. CN-TJ)", v);
        snprintf(r->region, sizeof r->region, "%s", v);
        r->region_line = line;
        return 0;
    }
    if (strcmp(key, "version") == 0) {
        if (!conf_valid_token(v, CATALOG_VERSION_MAX)) return rfail(p, line, "version: invalid version '%s'", v);
        snprintf(r->version, sizeof r->version, "%s", v);
        return 0;
    }
    if (strcmp(v, "illustrative") == 0) r->status = CATALOG_STATUS_ILLUSTRATIVE;
    else if (strcmp(v, "published") == 0) r->status = CATALOG_STATUS_PUBLISHED;
    else return rfail(p, line, "status: unknown status '%s' (want illustrative or published)", v);
    return 0;
}

static int set_purpose_key(rparser_t *p, uint32_t line, const char *key, const char *v) {
    rules_purpose_t *u = &p->r->purposes[p->r->purposes_n - 1];
    if (strcmp(key, "origins") == 0)
        return parse_list(p, line, key, v, 1, &u->origins[0][0], sizeof u->origins[0], &u->origins_n);
    if (strcmp(key, "methodologies") == 0)
        return parse_list(p, line, key, v, 0, &u->methodologies[0][0], sizeof u->methodologies[0],
                          &u->methodologies_n);
    if (strcmp(key, "vintages") == 0) return parse_vintages(p, line, v, u);
    if (strcmp(key, "share") == 0) return parse_share(p, line, key, v, &u->share);
    if (parse_share(p, line, key, v, &u->share_outside) != 0) return -1;
    return 0;
}

static int set_inflow_key(rparser_t *p, uint32_t line, const char *v) {
    rules_inflow_t *f = &p->r->inflows[p->r->inflows_n - 1];
    if (conf_parse_positive(v, strlen(v), &f->daily_g) != CONF_NUM_OK || f->daily_g >= RULES_DAILY_G_MAX)
        return rfail(p, line, "daily_g: want a positive number of grams under 2^50, not '%s'", v);
    return 0;
}

/* "key = value" in the current section; blank runs in the value become one space. */
static int key_value(rparser_t *p, uint32_t line, const char *s, size_t n) {
    const char *eq = memchr(s, '=', n);
    if (eq == NULL) return rfail(p, line, "expected 'key = value' or '[section]'");
    const char *k = s, *v = eq + 1;
    size_t kn = (size_t)(eq - s), vn = n - kn - 1;
    conf_trim(&k, &kn);
    conf_trim(&v, &vn);
    char key[RULES_LINE_MAX_BYTES + 1], value[RULES_LINE_MAX_BYTES + 1];
    memcpy(key, k, kn);
    key[kn] = '\0';
    if (kn == 0) return rfail(p, line, "expected 'key = value' or '[section]'");
    if (p->sec == SEC_NONE) return rfail(p, line, "key '%s' outside any section", key);
    const char *const *keys = sec_keys(p->sec);
    size_t idx = 0;
    while (keys[idx] != NULL && strcmp(keys[idx], key) != 0) idx++;
    if (keys[idx] == NULL) return rfail(p, line, "unknown key '%s' in this section", key);
    if (p->key_lines[idx] != 0)
        return rfail(p, line, "duplicate key '%s' (first at line %u)", key, (unsigned)p->key_lines[idx]);
    p->key_lines[idx] = line;
    if (vn == 0) return rfail(p, line, "%s: empty value", key);
    size_t out = 0;
    for (size_t i = 0; i < vn; i++) {
        int blank = v[i] == ' ' || v[i] == '\t';
        if (!blank) value[out++] = v[i];
        else if (value[out - 1] != ' ') value[out++] = ' '; /* v[0] is not blank */
    }
    value[out] = '\0';
    if (p->sec == SEC_RULES) return set_rules_key(p, line, key, value);
    if (p->sec == SEC_PURPOSE) return set_purpose_key(p, line, key, value);
    return set_inflow_key(p, line, value);
}

static int rules_line(void *ctx, uint32_t line, const char *s, size_t n) {
    rparser_t *p = ctx;
    return s[0] == '[' ? sec_begin(p, line, s, n) : key_value(p, line, s, n);
}

/* ---- whole-file checks, order, digest ------------------------------------- */

static int cmp_purpose(const void *a, const void *b) {
    return strcmp(((const rules_purpose_t *)a)->name, ((const rules_purpose_t *)b)->name);
}

static int cmp_inflow(const void *a, const void *b) {
    return strcmp(((const rules_inflow_t *)a)->peer, ((const rules_inflow_t *)b)->peer);
}

__attribute__((format(printf, 2, 3)))
static int dline(EVP_MD_CTX *ctx, const char *fmt, ...) {
    char buf[RULES_LINE_MAX_BYTES * 4];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf) return -1;
    return EVP_DigestUpdate(ctx, buf, (size_t)n) == 1 ? 0 : -1;
}

/* Joins n sorted items of item_size with ' ' into out ("*" when n is 0). */
static void join_list(const char *items, size_t item_size, uint32_t n, char *out, size_t outlen) {
    size_t pos = 0;
    out[0] = '\0';
    if (n == 0) snprintf(out, outlen, "*");
    for (uint32_t i = 0; i < n && pos < outlen; i++)
        pos += (size_t)snprintf(out + pos, outlen - pos, "%s%s", i ? " " : "", items + i * item_size);
}

static int digest_purpose(EVP_MD_CTX *ctx, const rules_purpose_t *u) {
    char list[RULES_LIST_MAX * (CATALOG_ID_MAX + 2) + 2];
    join_list(&u->methodologies[0][0], sizeof u->methodologies[0], u->methodologies_n, list, sizeof list);
    if (dline(ctx, "purpose %s methodologies=%s\n", u->name, list) != 0) return -1;
    join_list(&u->origins[0][0], sizeof u->origins[0], u->origins_n, list, sizeof list);
    if (dline(ctx, "purpose %s origins=%s\n", u->name, list) != 0) return -1;
    if (u->share.den != 0 &&
        (dline(ctx, "purpose %s share=%llu/%llu\n", u->name, (unsigned long long)u->share.num,
               (unsigned long long)u->share.den) != 0 ||
         dline(ctx, "purpose %s share_outside=%llu/%llu\n", u->name,
               (unsigned long long)u->share_outside.num, (unsigned long long)u->share_outside.den) != 0))
        return -1;
    if (u->vintage_min == 0) return dline(ctx, "purpose %s vintages=*\n", u->name);
    return dline(ctx, "purpose %s vintages=%u-%u\n", u->name, u->vintage_min, u->vintage_max);
}

static int rules_digest(rules_t *r) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_n = 0;
    int rc = -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL) return -1;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 || dline(ctx, "jjj.carbon.rules.v1\n") != 0 ||
        dline(ctx, "rules region=%s\n", r->region) != 0 ||
        dline(ctx, "rules status=%s\n", catalog_status_name(r->status)) != 0 ||
        dline(ctx, "rules version=%s\n", r->version) != 0)
        goto out;
    for (uint32_t i = 0; i < r->purposes_n; i++)
        if (digest_purpose(ctx, &r->purposes[i]) != 0) goto out;
    for (uint32_t i = 0; i < r->inflows_n; i++)
        if (dline(ctx, "inflow %s daily_g=%llu\n", r->inflows[i].peer,
                  (unsigned long long)r->inflows[i].daily_g) != 0)
            goto out;
    if (EVP_DigestFinal_ex(ctx, md, &md_n) != 1 || md_n * 2 != CATALOG_DIGEST_HEX_LEN) goto out;
    if (hex_encode(md, md_n, r->digest_hex, sizeof r->digest_hex) != CATALOG_DIGEST_HEX_LEN) goto out;
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

static int rules_finish(rparser_t *p, uint32_t last_line) {
    rules_t *r = p->r;
    if (sec_finish(p) != 0) return -1;
    if (p->rules_line == 0) return rfail(p, last_line, "missing [rules] section");
    for (uint32_t i = 0; i < r->purposes_n; i++) {
        const rules_purpose_t *u = &r->purposes[i];
        /* both <= 10^6: the products fit in 64 bits */
        if (u->share.den != 0 && u->share_outside.num * u->share.den > u->share.num * u->share_outside.den)
            return rfail(p, u->line, "share_outside exceeds share");
    }
    for (uint32_t i = 0; i < r->inflows_n; i++)
        if (strcmp(r->inflows[i].peer, r->region) == 0)
            return rfail(p, r->inflows[i].line, "inflow from the rules' own region %s", r->region);
    qsort(r->purposes, r->purposes_n, sizeof r->purposes[0], cmp_purpose);
    qsort(r->inflows, r->inflows_n, sizeof r->inflows[0], cmp_inflow);
    if (rules_digest(r) != 0) return rfail(p, 0, "SHA-256 digest failed");
    return 0;
}

/* ---- public ------------------------------------------------------------------ */

int rules_parse_buffer(const char *name, const char *data, size_t len, rules_t *out,
                       char *err, size_t errlen) {
    CARBON_ASSERT(name != NULL && out != NULL && err != NULL && errlen > 0);
    CARBON_ASSERT(data != NULL || len == 0);
    rparser_t *p = &(rparser_t){.name = name, .err = err, .errlen = errlen, .r = out};
    memset(out, 0, sizeof *out);
    err[0] = '\0';
    if (strlen(name) > CATALOG_PATH_MAX) return rfail(p, 0, "path too long (max %u bytes)", CATALOG_PATH_MAX);
    memcpy(out->path, name, strlen(name) + 1);
    uint32_t line = 0;
    if (conf_text_walk(name, data, len, RULES_FILE_MAX_BYTES, RULES_LINE_MAX_BYTES, rules_line, p,
                       &line, err, errlen) != 0)
        return -1;
    return rules_finish(p, line > 0 ? line : 1);
}

int rules_parse_file(const char *path, rules_t *out, char *err, size_t errlen) {
    CARBON_ASSERT(path != NULL && out != NULL && err != NULL && errlen > 0);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s:0: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char *data = malloc(RULES_FILE_MAX_BYTES + 1); /* one more: the parser sees it exceeded */
    if (data == NULL) {
        fclose(f);
        snprintf(err, errlen, "%s:0: out of memory", path);
        return -1;
    }
    size_t len = fread(data, 1, RULES_FILE_MAX_BYTES + 1, f);
    int failed = ferror(f);
    fclose(f);
    int rc = -1;
    if (failed) snprintf(err, errlen, "%s:0: read error", path);
    else rc = rules_parse_buffer(path, data, len, out, err, errlen);
    free(data);
    return rc;
}

const rules_purpose_t *rules_find_purpose(const rules_t *r, const char *name) {
    CARBON_ASSERT(r != NULL && name != NULL);
    for (uint32_t i = 0; i < r->purposes_n; i++)
        if (strcmp(r->purposes[i].name, name) == 0) return &r->purposes[i];
    return NULL;
}

const rules_inflow_t *rules_find_inflow(const rules_t *r, const char *peer) {
    CARBON_ASSERT(r != NULL && peer != NULL);
    for (uint32_t i = 0; i < r->inflows_n; i++)
        if (strcmp(r->inflows[i].peer, peer) == 0) return &r->inflows[i];
    return NULL;
}
