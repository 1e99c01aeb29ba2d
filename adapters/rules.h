/* rules.h - a region's rules on the use of credits: parse, digest, look up.
 *
 * Rules on use (DESIGN §6) are a reviewed data file beside the region's
 * catalog, adapters/catalogs/<REGION>.rules, in the catalog's line/section
 * format (adapters/conf_text.h). They say which retirement purposes exist;
 * for each, which origins, methodologies and vintages it accepts; for
 * compliance offsetting, the share of a beneficiary's registered obligation
 * for a compliance year that may be offset, overall and from outside the
 * region; and the daily inflow limit per peer region. The format is
 * documented at the top of every shipped rules file and in README.md:
 *
 *   [rules]
 *   region  = CN-BJ                     (must match the file name)
 *   version = 2026.1
 *   status  = illustrative              (or: published)
 *
 *   [purpose compliance_offset]         (a purpose name, see rules_purpose_names)
 *   origins       = CN-BJ CN-TJ         (regions, blank-separated; * any)
 *   methodologies = *                   (methodology ids; * any)
 *   vintages      = 2024-2026           (YEAR, YEAR-YEAR or *)
 *   share         = 1/20                (compliance_offset only, required:
 *   share_outside = 1/100                of the obligation; outside <= share)
 *
 *   [inflow CN-TJ]                      (a peer region)
 *   daily_g = 50000000                  (grams credited from it per UTC day)
 *
 * A purpose without a section is not allowed; a peer without an [inflow]
 * section has no daily limit. A parsed rules_t is a plain fixed-size value.
 * The digest is SHA-256 over a canonical form (comments, spacing, order of
 * sections, keys and list items do not matter), 64 lowercase hex digits;
 * gateways exchange it in Federation.Hello. */
#ifndef ADAPTERS_RULES_H
#define ADAPTERS_RULES_H

#include "adapters/catalog.h"

#include <stddef.h>
#include <stdint.h>

#define RULES_FILE_MAX_BYTES 16384u
#define RULES_LINE_MAX_BYTES CATALOG_LINE_MAX_BYTES
#define RULES_PURPOSES_MAX 8u
#define RULES_LIST_MAX 16u          /* origins or methodologies of a purpose */
#define RULES_INFLOWS_MAX 16u
#define RULES_PURPOSE_NAME_MAX 31u
#define RULES_SHARE_DEN_MAX 1000000u /* keeps obligation_g * num exact in the store */
#define RULES_DAILY_G_MAX (1ull << 50)
#define RULES_VINTAGE_MIN 2000u
#define RULES_VINTAGE_MAX 2100u
#define RULES_SUFFIX ".rules"

/* The purposes a rules file may name, NULL-terminated; the same texts as the
 * retirement records' purpose (gateway/services/registry.c). */
extern const char *const rules_purpose_names[];

/* A rational 0 <= num/den <= 1 (den == 0: not given). */
typedef struct {
    uint64_t num;
    uint64_t den;
} rules_share_t;

typedef struct {
    char name[RULES_PURPOSE_NAME_MAX + 1];
    uint32_t origins_n; /* 0: any ("*") */
    char origins[RULES_LIST_MAX][CATALOG_REGION_MAX + 1];
    uint32_t methodologies_n; /* 0: any */
    char methodologies[RULES_LIST_MAX][CATALOG_ID_MAX + 1];
    uint32_t vintage_min, vintage_max; /* 0, 0: any */
    rules_share_t share, share_outside; /* compliance_offset only */
    uint32_t line;                      /* of the [purpose ...] header */
} rules_purpose_t;

typedef struct {
    char peer[CATALOG_REGION_MAX + 1];
    uint64_t daily_g;
    uint32_t line;
} rules_inflow_t;

typedef struct {
    char path[CATALOG_PATH_MAX + 1];
    char region[CATALOG_REGION_MAX + 1];
    char version[CATALOG_VERSION_MAX + 1];
    catalog_status_t status;
    uint32_t region_line;
    uint32_t purposes_n;
    rules_purpose_t purposes[RULES_PURPOSES_MAX]; /* sorted by name */
    uint32_t inflows_n;
    rules_inflow_t inflows[RULES_INFLOWS_MAX]; /* sorted by peer */
    char digest_hex[CATALOG_DIGEST_HEX_LEN + 1];
} rules_t;

/* Parses len bytes of rules text into *out (name for messages and
 * out->path). Returns 0, or -1 with "NAME:LINE: reason" in err (always
 * NUL-terminated); *out is then unspecified. All pointers non-NULL except
 * data when len is 0; errlen > 0. */
int rules_parse_buffer(const char *name, const char *data, size_t len, rules_t *out,
                       char *err, size_t errlen);

/* Reads the file at path (at most RULES_FILE_MAX_BYTES) and parses it.
 * Returns 0, or -1 with "PATH:LINE: reason" (unreadable: line 0). */
int rules_parse_file(const char *path, rules_t *out, char *err, size_t errlen);

/* The purpose named name, or NULL when the rules do not allow it. */
const rules_purpose_t *rules_find_purpose(const rules_t *r, const char *name);

/* The daily inflow limit from peer, or NULL when there is none. */
const rules_inflow_t *rules_find_inflow(const rules_t *r, const char *peer);

#endif
