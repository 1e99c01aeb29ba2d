/* output.c - JSON through jansson and text for people; see output.h. */
#include "gateway/gwctl/output.h"
#include "common/carbon_assert.h"

#include "gateway/rpc/pbjson.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gwctl_json_emit(json_t *doc) {
    if (doc == NULL) return;
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text != NULL) printf("%s\n", text);
    fflush(stdout);
    free(text);
    json_decref(doc);
}

json_t *gwctl_json_u64(uint64_t v) {
    char buf[GWCTL_U64_TEXT];
    return json_string(gwctl_u64_text(buf, v));
}

json_t *gwctl_json_text(const char *s) {
    CARBON_ASSERT(s != NULL);
    json_t *j = json_string(s);
    if (j != NULL) return j;
    char *copy = strdup(s);
    if (copy == NULL) abort();
    for (char *p = copy; *p != '\0'; p++)
        if ((unsigned char)*p >= 0x80) *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

void gwctl_print_json(const ProtobufCMessage *msg, json_t *extra) {
    CARBON_ASSERT(msg != NULL);
    json_t *body = pbjson_message(msg);
    if (extra == NULL) {
        gwctl_json_emit(body);
        return;
    }
    json_object_update(extra, body); /* extra's keys first */
    json_decref(body);
    gwctl_json_emit(extra);
}

void gwctl_print_json_error(const char *status, const char *reason, const char *message,
                            int exit_code, json_t *extra) {
    CARBON_ASSERT(status != NULL);
    json_t *doc = extra != NULL ? extra : json_object();
    json_t *e = json_object();
    json_object_set_new(e, "status", json_string(status));
    json_object_set_new(e, "reason", gwctl_json_text(reason != NULL ? reason : ""));
    json_t *m = json_string(message != NULL ? message : "");
    json_object_set_new(e, "message", m != NULL ? m : json_string("(invalid UTF-8)"));
    json_object_set_new(e, "exit_code", json_integer(exit_code));
    json_object_set_new(doc, "error", e);
    gwctl_json_emit(doc);
}

/* {"num": "N", "den": "D"} */
static json_t *gwctl_json_rational(catalog_rational_t r) {
    json_t *o = json_object();
    json_object_set_new(o, "num", gwctl_json_u64(r.num));
    json_object_set_new(o, "den", gwctl_json_u64(r.den));
    return o;
}

/* The catalog's methodologies as a JSON array. */
static json_t *gwctl_json_methodologies(const catalog_t *c) {
    json_t *a = json_array();
    for (uint32_t i = 0; i < c->methodologies_n; i++) {
        const catalog_methodology_t *m = &c->methodologies[i];
        json_t *o = json_object();
        json_object_set_new(o, "id", gwctl_json_text(m->id));
        json_object_set_new(o, "name", gwctl_json_text(m->name));
        json_object_set_new(o, "native_unit", gwctl_json_text(m->native_unit));
        json_object_set_new(o, "g_per_unit", gwctl_json_rational(m->g_per_unit));
        json_array_append_new(a, o);
    }
    return a;
}

/* The catalog's recognitions as a JSON array. */
static json_t *gwctl_json_recognitions(const catalog_t *c) {
    json_t *a = json_array();
    for (uint32_t i = 0; i < c->recognitions_n; i++) {
        const catalog_recognition_t *r = &c->recognitions[i];
        json_t *o = json_object();
        json_object_set_new(o, "from_region", gwctl_json_text(r->from_region));
        json_object_set_new(o, "foreign_id", gwctl_json_text(r->foreign_id));
        json_object_set_new(o, "local_id", gwctl_json_text(r->local_id));
        json_object_set_new(o, "ratio", gwctl_json_rational(r->ratio));
        json_array_append_new(a, o);
    }
    return a;
}

json_t *gwctl_json_catalog(const catalog_t *c) {
    CARBON_ASSERT(c != NULL);
    CARBON_ASSERT(c->methodologies_n <= CATALOG_METHODOLOGIES_MAX);
    CARBON_ASSERT(c->recognitions_n <= CATALOG_RECOGNITIONS_MAX);
    json_t *doc = json_object();
    json_object_set_new(doc, "region", gwctl_json_text(c->region));
    json_object_set_new(doc, "version", gwctl_json_text(c->version));
    json_object_set_new(doc, "status", json_string(catalog_status_name(c->status)));
    json_object_set_new(doc, "digest", gwctl_json_text(c->digest_hex));
    json_object_set_new(doc, "path", gwctl_json_text(c->path));
    json_t *unit = json_object();
    json_object_set_new(unit, "name", gwctl_json_text(c->display_unit));
    json_object_set_new(unit, "unit_g", gwctl_json_u64(c->display_unit_g));
    json_object_set_new(doc, "display_unit", unit);
    json_object_set_new(doc, "methodologies", gwctl_json_methodologies(c));
    json_object_set_new(doc, "recognitions", gwctl_json_recognitions(c));
    return doc;
}

char *gwctl_amount_text(char *buf, size_t len, const Carbon__V1__Amount *a) {
    CARBON_ASSERT(buf != NULL && len > 0);
    if (a == NULL) {
        snprintf(buf, len, "-");
        return buf;
    }
    return amount_format(buf, len, a->grams, a->unit, a->unit_g);
}

void gwctl_text_clean(char *s) {
    CARBON_ASSERT(s != NULL);
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

void gwctl_print_clean(const char *s) {
    CARBON_ASSERT(s != NULL);
    for (; *s != '\0'; s++) putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

/* Prints text under column c, padded to its width if pad: cut at c->max
 * bytes (on a UTF-8 character boundary, then "..."), control bytes as '?'. */
static void gwctl_table_cell(FILE *out, const gwctl_column_t *c, const char *text, int pad) {
    char buf[GWCTL_CELL_MAX + 4];
    size_t limit = c->max > 0 && c->max < GWCTL_CELL_MAX ? c->max : GWCTL_CELL_MAX - 1;
    if (text == NULL) text = "-";
    size_t n = strnlen(text, limit + 1);
    int cut = n > limit;
    if (cut) {
        n = limit;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80) n--; /* not inside a character */
    }
    memcpy(buf, text, n);
    memcpy(buf + n, cut ? "..." : "", cut ? 4 : 1);
    gwctl_text_clean(buf);
    fprintf(out, c->right ? "%*s" : "%-*s", pad ? (int)c->width : 0, buf);
}

void gwctl_table_row(FILE *out, const gwctl_table_t *t, const char *const *cells) {
    CARBON_ASSERT(out != NULL && t != NULL && cells != NULL && t->cols != NULL);
    CARBON_ASSERT(t->n >= 1 && t->n <= GWCTL_COLUMNS_MAX);
    if (t->indent != NULL) fputs(t->indent, out);
    for (size_t i = 0; i < t->n; i++) {
        if (i > 0) fputc(' ', out);
        gwctl_table_cell(out, &t->cols[i], cells[i], i + 1 < t->n || t->cols[i].right);
    }
    fputc('\n', out);
}

void gwctl_table_head(FILE *out, const gwctl_table_t *t) {
    CARBON_ASSERT(out != NULL && t != NULL && t->n >= 1 && t->n <= GWCTL_COLUMNS_MAX);
    const char *heads[GWCTL_COLUMNS_MAX];
    for (size_t i = 0; i < t->n; i++) heads[i] = t->cols[i].heading;
    gwctl_table_row(out, t, heads);
}

char *gwctl_u64_text(char buf[GWCTL_U64_TEXT], uint64_t v) {
    CARBON_ASSERT(buf != NULL);
    snprintf(buf, GWCTL_U64_TEXT, "%" PRIu64, v);
    return buf;
}
