/* amount_format.h - the one way an amount is written for people, by gwctl
 * and in the gateway's messages: whole display units of the region, then the
 * exact grams, e.g. "19 kg (19950 g)" (README, gwctl trace). The units are
 * rounded down; the grams are always shown, so nothing is hidden. Amounts
 * for programs are not formatted here: JSON carries grams as strings. */
#ifndef ADAPTERS_AMOUNT_FORMAT_H
#define ADAPTERS_AMOUNT_FORMAT_H

#include "adapters/catalog.h"

#include <stddef.h>
#include <stdint.h>

/* Enough for "18446744073709551615 UNIT (18446744073709551615 g)". */
#define AMOUNT_TEXT_MAX (2 * 20 + CATALOG_UNIT_MAX + 8)

/* Writes grams as "UNITS UNIT (GRAMS g)" into buf (AMOUNT_TEXT_MAX bytes
 * always suffice; a shorter buf gets a cut, NUL-terminated text), where
 * UNITS = grams / unit_g, or as "GRAMS g" when unit is NULL or empty or
 * unit_g <= 1. Integers only. Returns buf. buf must not be NULL; len > 0. */
char *amount_format(char *buf, size_t len, uint64_t grams, const char *unit, uint64_t unit_g);

/* The same in catalog c's display unit; grams only when c is NULL. */
char *amount_format_catalog(char *buf, size_t len, uint64_t grams, const catalog_t *c);

#endif
