/* catalog_print.h - a catalog for people (aligned tables); `gwctl catalog
 * show --region R` prints with it. Its JSON form (--json) is built with
 * jansson by gwctl (gateway/gwctl/output.h, gwctl_json_catalog). */
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

#endif
