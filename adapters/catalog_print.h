/* catalog_print.h - a catalog for humans (aligned table) and for programs
 * (JSON); `gwctl catalog show --region R [--json]` prints with these. */
#ifndef ADAPTERS_CATALOG_PRINT_H
#define ADAPTERS_CATALOG_PRINT_H

#include <stdio.h>

#include "adapters/catalog.h"

/* Writes c to out as aligned text tables: a header (region, version, status,
 * digest, display unit), one row per methodology (id, name, native unit,
 * grams per unit as num/den) and one row per recognition (from region,
 * foreign id, local id, ratio). Column widths follow the widest cell (wide
 * CJK characters count two columns). Returns 0, or -1 if a write to out
 * failed. Neither argument may be NULL; out stays open. */
int catalog_print_table(const catalog_t *c, FILE *out);

/* Writes c to out as one JSON object followed by a newline:
 *   {"region", "version", "status", "digest", "path",
 *    "display_unit": {"name", "unit_g"},
 *    "methodologies": [{"id", "name", "native_unit",
 *                       "g_per_unit": {"num", "den"}}, ...],
 *    "recognitions": [{"from_region", "foreign_id", "local_id",
 *                      "ratio": {"num", "den"}}, ...]}
 * 64-bit integers are written as decimal strings (as in the proto3 JSON
 * mapping), so no consumer loses precision. Strings are escaped per RFC 8259.
 * Returns 0, or -1 if a write to out failed. Neither argument may be NULL. */
int catalog_print_json(const catalog_t *c, FILE *out);

#endif
