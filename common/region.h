/* region.h - the size of a region's name, defined once for every floor
 * (issue 12). A region is named by its ISO 3166-2 code ("CN-TJ"; at most
 * 2 letters, '-', 3 alphanumerics, config_region_valid), written in
 * configurations, certificates, catalogs, store records and messages; every
 * buffer that holds one is CARBON_REGION_SIZE bytes, and every check of a
 * name's length is against CARBON_REGION_MAX. The older names
 * (CATALOG_REGION_MAX, LEDGER_REGION_MAX, STORE_REGION_SIZE,
 * CONFIG_REGION_SIZE) are aliases of these. */
#ifndef COMMON_REGION_H
#define COMMON_REGION_H

#define CARBON_REGION_MAX 15                      /* characters of a region's name */
#define CARBON_REGION_SIZE (CARBON_REGION_MAX + 1) /* bytes of a buffer for one, with the NUL */

#endif
