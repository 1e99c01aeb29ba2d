/* quote.h - what a transfer of credits to another region yields (DESIGN §7),
 * from the regions' catalogs, and the destination's check of a prepared leg.
 * Pure functions over the catalog set; no store, no gRPC. */
#ifndef SETTLEMENT_QUOTE_H
#define SETTLEMENT_QUOTE_H

#include "adapters/catalog.h"
#include "adapters/catalog_set.h"
#include "adapters/convert.h"
#include "settlement/ledger.h"
#include "settlement/reasons.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    QUOTE_OK = 0,
    QUOTE_UNKNOWN_METHODOLOGY = -1,    /* no loaded catalog defines it */
    QUOTE_UNRECOGNIZED = -2,           /* the destination does not recognize it */
    QUOTE_NO_CATALOG = -3,             /* a region's catalog is not loaded */
    QUOTE_TOO_SMALL = -4,              /* does not yield one destination unit */
    QUOTE_OVERFLOW = -5,               /* amount too large */
} quote_rc_t;

typedef struct {
    conv_quote_t q;
    uint64_t ratio_num, ratio_den;
    char origin[CATALOG_REGION_MAX + 1];    /* region whose catalog defines meth */
    char dest_meth[CATALOG_ID_MAX + 1];
    const catalog_t *src;                   /* current catalogs used (owned by the set) */
    const catalog_t *dst;
} quote_t;

/* Region whose current catalog defines methodology meth; 0, or -1 if none. */
int quote_origin_of(catalog_set_t *set, const char *meth, char origin[CATALOG_REGION_MAX + 1]);

/* Quote for moving amount_units display units of src_region (methodology meth,
 * of any origin) to dst_region. Returns a quote_rc_t; on error a sentence in
 * err. */
int quote_compute(catalog_set_t *set, const char *src_region, const char *dst_region,
                  const char *meth, uint64_t amount_units, quote_t *out, char *err,
                  size_t errlen);

/* Copies what a quote fixes for a source leg into leg: the grams (requested,
 * credited, debited, discount, remainder), the recognition ratio, the
 * destination methodology and both catalog digests. The other fields are
 * left as they are. Returns 0, or -1 if a string does not fit its field
 * (never for a quote from quote_compute). */
int quote_fill_leg(const quote_t *q, ledger_leg_t *leg);

/* The reason (settlement/reasons.h) of a refusing quote_rc_t, or
 * REASON_COUNT for QUOTE_OK or an unknown rc. */
reason_t quote_rc_reason(int rc);

/* A short machine-readable name of a quote_rc_t: "OK", its reason's name
 * ("UNRECOGNIZED_METHODOLOGY"...), or "?". */
const char *quote_rc_name(int rc);

/* The destination's check of a prepared leg against its own catalogs
 * (catalog versions by digest, so a leg quoted under an older catalog is
 * judged by it): the destination catalog must be a version of own_region's,
 * the source catalog a version of source_region's; meth must be recognized
 * as dest_meth; the blocks' origin (block_origin) must be the region whose
 * catalog defines meth; credited/debited must be exactly what the rule yields.
 * Returns NULL if the leg is acceptable, else the reason to vote no. */
const char *quote_check_leg(catalog_set_t *set, const char *own_region,
                            const char *source_region, const char *block_origin, const char *meth,
                            const char *dest_meth, uint64_t credited_g, uint64_t debited_g,
                            const char *src_digest, const char *dst_digest);

#endif
