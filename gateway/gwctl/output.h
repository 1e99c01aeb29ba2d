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

/* Text from a gateway, in place: control bytes become '?'. */
void gwctl_text_clean(char *s);

/* Prints s (not NULL) on stdout with its control bytes as '?'. */
void gwctl_print_clean(const char *s);

#endif
