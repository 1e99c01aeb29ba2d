/* catalog.h - a region's methodology catalog: parse, digest, look up.
 *
 * A catalog (DESIGN §2, §7) is a reviewed data file, adapters/catalogs/
 * <REGION>.catalog. It names the region's display unit, each methodology
 * with its native unit and exact grams per native unit, and the foreign
 * methodologies the region recognises, each mapped to a local methodology at
 * a ratio r <= 1. The file format is documented at the top of every shipped
 * catalog. In short:
 *
 *   # comment (a line whose first non-blank character is '#')
 *   [catalog]
 *   region          = CN-TJ
 *   version         = 2026.1
 *   status          = illustrative        (or: published)
 *   display_unit    = kg
 *   display_unit_g  = 1000
 *
 *   [methodology TJ-GT-01]
 *   name        = Bus and metro travel
 *   native_unit = km
 *   g_per_unit  = 95/2                    (exact rational NUM/DEN)
 *
 *   [recognize CN-BJ:BJ-GT-01]            (foreign REGION:METHODOLOGY-ID)
 *   local = TJ-GT-01
 *   ratio = 9/10                          (0 < NUM <= DEN)
 *
 * A leading UTF-8 byte order mark is ignored; CRLF line ends are accepted.
 *
 * A parsed catalog_t is a plain value: fixed-size, no pointers, immutable
 * after parsing. Methodologies are kept sorted by id, recognitions by
 * (from_region, foreign_id); lookups are binary searches.
 *
 * The digest is SHA-256 over a canonical form of the parsed values (comments,
 * blank lines, spacing, section order and key order do not matter; any
 * changed value does), as 64 lowercase hex digits. Gateways exchange it in
 * Federation.Hello and stamp legs with it. */
#ifndef ADAPTERS_CATALOG_H
#define ADAPTERS_CATALOG_H

#include "common/region.h"

#include <stddef.h>
#include <stdint.h>

/* Limits. Lengths are in bytes and exclude the terminating NUL. */
#define CATALOG_FILE_MAX_BYTES 65536u  /* whole file */
#define CATALOG_LINE_MAX_BYTES 256u    /* one line, without its newline */
#define CATALOG_METHODOLOGIES_MAX 64u
#define CATALOG_RECOGNITIONS_MAX 128u
#define CATALOG_REGION_MAX CARBON_REGION_MAX /* "CN-TJ": ISO 3166-2 (common/region.h) */
#define CATALOG_ID_MAX 31u             /* "TJ-GT-01" */
#define CATALOG_VERSION_MAX 31u
#define CATALOG_NAME_MAX 95u           /* methodology name, UTF-8 */
#define CATALOG_UNIT_MAX 15u           /* "kWh", "m3", "kg", "point" */
#define CATALOG_PATH_MAX 511u
#define CATALOG_DIGEST_HEX_LEN 64u     /* SHA-256, lowercase hex */

/* An exact positive rational num/den. */
typedef struct {
    uint64_t num;
    uint64_t den;
} catalog_rational_t;

typedef enum {
    CATALOG_STATUS_ILLUSTRATIVE = 0, /* defaults, to be replaced by regulators */
    CATALOG_STATUS_PUBLISHED = 1,    /* the regulator's published factors */
} catalog_status_t;

typedef struct {
    char id[CATALOG_ID_MAX + 1];
    char name[CATALOG_NAME_MAX + 1];
    char native_unit[CATALOG_UNIT_MAX + 1];
    catalog_rational_t g_per_unit; /* grams CO2e per native unit, num > 0 */
    /* what kind of activity it credits, the same word in every region's
     * catalog for the same activity (e.g. "rail-transit"): one activity
     * measured under two regions' methodologies keys to one fingerprint
     * (settlement/activity_key.h); "" when not given: the methodology's own */
    char activity_class[CATALOG_ID_MAX + 1];
    uint32_t line;                 /* of the [methodology ...] header */
} catalog_methodology_t;

typedef struct {
    char from_region[CATALOG_REGION_MAX + 1]; /* the foreign region */
    char foreign_id[CATALOG_ID_MAX + 1];      /* its methodology id */
    char local_id[CATALOG_ID_MAX + 1];        /* a methodology of this catalog */
    catalog_rational_t ratio;                 /* 0 < num <= den */
    uint32_t line;                            /* of the [recognize ...] header */
} catalog_recognition_t;

typedef struct {
    char path[CATALOG_PATH_MAX + 1]; /* as given to the parser, for messages */
    char region[CATALOG_REGION_MAX + 1];
    char version[CATALOG_VERSION_MAX + 1];
    catalog_status_t status;
    char display_unit[CATALOG_UNIT_MAX + 1];
    uint64_t display_unit_g; /* grams per display unit, > 0 */
    uint32_t region_line;    /* line of the region key */
    uint32_t methodologies_n;
    catalog_methodology_t methodologies[CATALOG_METHODOLOGIES_MAX];
    uint32_t recognitions_n;
    catalog_recognition_t recognitions[CATALOG_RECOGNITIONS_MAX];
    char digest_hex[CATALOG_DIGEST_HEX_LEN + 1];
} catalog_t;

/* Parses len bytes of catalog text into *out. name is used in error messages
 * and stored in out->path (e.g. the file path). Returns 0 on success; on
 * error returns -1 and writes "NAME:LINE: reason" to err (truncated to
 * errlen, always NUL-terminated); *out is then unspecified. The caller owns
 * *out (about 30 KB: allocate it on the heap). data need not be
 * NUL-terminated. All arguments except data (when len is 0) must be non-NULL,
 * errlen > 0. */
int catalog_parse_buffer(const char *name, const char *data, size_t len,
                         catalog_t *out, char *err, size_t errlen);

/* Reads the file at path (at most CATALOG_FILE_MAX_BYTES) and parses it as
 * catalog_parse_buffer() does, with path as the name. Returns 0 or -1 with
 * "PATH:LINE: reason" in err (an unreadable file is reported at line 0). */
int catalog_parse_file(const char *path, catalog_t *out, char *err,
                       size_t errlen);

/* Returns the methodology with this id, or NULL. The pointer is into c. */
const catalog_methodology_t *catalog_find_methodology(const catalog_t *c,
                                                      const char *id);

/* Returns the rule by which catalog dst recognises foreign methodology
 * foreign_id of region from_region, or NULL if dst does not recognise it.
 * The pointer is into dst. */
const catalog_recognition_t *catalog_find_recognition(const catalog_t *dst,
                                                      const char *from_region,
                                                      const char *foreign_id);

/* Static name of a status ("illustrative", "published"); never NULL. */
const char *catalog_status_name(catalog_status_t status);

#endif
