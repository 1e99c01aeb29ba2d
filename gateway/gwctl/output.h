/* output.h - how gwctl prints, for every command: JSON documents built with
 * jansson and written by gwctl_json_emit (no JSON is printed by hand), and
 * text for people: amounts in one format (adapters/amount_format.h), text
 * from a gateway with its control bytes neutralized. Under --json, stdout
 * holds exactly one document; diagnostics go to stderr. */
#ifndef GATEWAY_GWCTL_OUTPUT_H
#define GATEWAY_GWCTL_OUTPUT_H

#include "adapters/amount_format.h"
#include "adapters/catalog.h"
#include "carbon/v1/carbon.pb-c.h"

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

/* Prints doc (consumed; NULL prints nothing) as one indented JSON document
 * and a newline on stdout, keys in insertion order, and flushes. */
void gwctl_json_emit(json_t *doc);

/* A new JSON string of the decimal digits of v (64-bit numbers and amounts
 * are strings in gwctl's JSON). */
json_t *gwctl_json_u64(uint64_t v);

/* A new JSON string of s (not NULL), text from a gateway: bytes that are not
 * valid UTF-8 become '?' rather than losing the value. */
json_t *gwctl_json_text(const char *s);

/* Prints msg (not NULL) as one JSON document (gateway/rpc/pbjson.h) with
 * extra's members (consumed, may be NULL) first. */
void gwctl_print_json(const ProtobufCMessage *msg, json_t *extra);

/* Prints the document {"error": {"status", "reason", "message",
 * "exit_code"}} of a failed call, with extra's members (consumed, may be
 * NULL) beside "error". status must not be NULL. */
void gwctl_print_json_error(const char *status, const char *reason, const char *message,
                            int exit_code, json_t *extra);

/* A catalog as a new JSON object (README "gwctl catalog show"):
 *   {"region", "version", "status", "digest", "path",
 *    "display_unit": {"name", "unit_g"},
 *    "methodologies": [{"id", "name", "native_unit", "g_per_unit": {"num", "den"}}],
 *    "recognitions": [{"from_region", "foreign_id", "local_id", "ratio": {"num", "den"}}]}
 * with 64-bit integers as strings. c must not be NULL. */
json_t *gwctl_json_catalog(const catalog_t *c);

/* An Amount message for people into buf (AMOUNT_TEXT_MAX bytes): "-" for
 * NULL, else amount_format of its grams in its unit. Returns buf. */
char *gwctl_amount_text(char *buf, size_t len, const Carbon__V1__Amount *a);

/* ---- tables for people ---------------------------------------------------- */

#define GWCTL_CELL_MAX 256 /* bytes of a cell shown, at most */
#define GWCTL_U64_TEXT 21  /* "18446744073709551615" and its NUL */

/* A column of a table: its heading, the width its cells are padded to
 * (longer cells are not cut), the most bytes of a cell shown (0: up to
 * GWCTL_CELL_MAX - 1), and its alignment (numbers to the right). */
typedef struct {
    const char *heading;
    unsigned width;
    unsigned max;
    int right;
} gwctl_column_t;

/* A table: n columns (1..GWCTL_COLUMNS_MAX), each row starting with indent. */
#define GWCTL_COLUMNS_MAX 8
typedef struct {
    const gwctl_column_t *cols;
    size_t n;
    const char *indent;
} gwctl_table_t;

/* Prints t's headings as one row on out. Neither may be NULL. */
void gwctl_table_head(FILE *out, const gwctl_table_t *t);

/* Prints cells[0..t->n) as one row of t on out: one space apart, each cell
 * padded to its column (the last one, if left-aligned, not padded), cut at
 * its column's max with "..." after it, control bytes shown as '?' (cells
 * are often text from a gateway). No argument may be NULL; a NULL cell
 * prints as "-". */
void gwctl_table_row(FILE *out, const gwctl_table_t *t, const char *const *cells);

/* The decimal digits of v into buf; returns buf (for a table cell). */
char *gwctl_u64_text(char buf[GWCTL_U64_TEXT], uint64_t v);

/* Text from a gateway, in place: control bytes become '?'. */
void gwctl_text_clean(char *s);

/* Prints s (not NULL) on stdout with its control bytes as '?'. */
void gwctl_print_clean(const char *s);

#endif
