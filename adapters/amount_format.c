/* amount_format.c - "19 kg (19950 g)"; see amount_format.h. */
#include "adapters/amount_format.h"
#include "common/carbon_assert.h"

#include <inttypes.h>
#include <stdio.h>

char *amount_format(char *buf, size_t len, uint64_t grams, const char *unit, uint64_t unit_g) {
    CARBON_ASSERT(buf != NULL && len > 0);
    if (unit == NULL || unit[0] == '\0' || unit_g <= 1)
        snprintf(buf, len, "%" PRIu64 " g", grams);
    else
        snprintf(buf, len, "%" PRIu64 " %.*s (%" PRIu64 " g)", grams / unit_g,
                 (int)CATALOG_UNIT_MAX, unit, grams);
    return buf;
}

char *amount_format_catalog(char *buf, size_t len, uint64_t grams, const catalog_t *c) {
    CARBON_ASSERT(buf != NULL && len > 0);
    if (c == NULL) return amount_format(buf, len, grams, NULL, 1);
    return amount_format(buf, len, grams, c->display_unit, c->display_unit_g);
}
