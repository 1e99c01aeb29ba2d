/* catalog_set.h - every region's catalog, current and past versions.
 *
 * A gateway loads a directory of catalogs (one <REGION>.catalog per region)
 * at start-up and reloads it on SIGHUP. A reload is all or nothing: if any
 * file fails to parse or cross-check, the previous state stays current.
 *
 * Every catalog version that was ever current stays in the set, retrievable
 * by digest, until the set is destroyed: a leg prepared under an older
 * digest can still be validated after a reload, and every const catalog_t *
 * handed out remains valid for the lifetime of the set. Catalogs are
 * immutable once loaded, so readers need no lock after they got the pointer.
 *
 * Thread safety: all functions may be called concurrently from any thread,
 * except catalog_set_free(). Loads are serialized; readers see either the
 * old or the new set of current catalogs, never a mixture. */
#ifndef ADAPTERS_CATALOG_SET_H
#define ADAPTERS_CATALOG_SET_H

#include <stddef.h>

#include "adapters/catalog.h"
#include "adapters/rules.h"

#define CATALOG_SET_REGIONS_MAX 16u   /* *.catalog files in the directory */
#define CATALOG_SET_VERSIONS_MAX 256u /* versions retained over all reloads */
#define CATALOG_SET_SUFFIX ".catalog"

typedef struct catalog_set catalog_set_t;

/* Returns a new empty set, or NULL if out of memory. The caller owns it and
 * releases it with catalog_set_free(). */
catalog_set_t *catalog_set_new(void);

/* Frees the set and every catalog version it ever held; pointers obtained
 * from it become invalid. NULL is a no-op. No other call may run on the set
 * concurrently. */
void catalog_set_free(catalog_set_t *set);

/* Loads every DIR/<REGION>.catalog (hidden files are skipped), checks each
 * file's region against its file name, and checks every recognition rule
 * whose foreign region is among the files against that region's catalog
 * (the foreign methodology must exist). On success the loaded catalogs
 * become current, dir is remembered for catalog_set_reload(), and the number
 * of regions whose current version changed is returned (0 if nothing did;
 * an unchanged file keeps its digest and its catalog_t). A region whose file
 * disappeared is no longer current (its versions stay retrievable by digest).
 * On error returns -1 with "FILE:LINE: reason" (or "DIR: reason" for errors
 * about the directory itself) in err, and the set is unchanged. */
int catalog_set_load_dir(catalog_set_t *set, const char *dir, char *err,
                         size_t errlen);

/* Re-reads the directory of the last successful catalog_set_load_dir(), with
 * its return values and all-or-nothing semantics. Returns -1 with a message
 * if nothing was loaded yet. */
int catalog_set_reload(catalog_set_t *set, char *err, size_t errlen);

/* Returns the current catalog of region, or NULL if none is loaded. */
const catalog_t *catalog_set_current(catalog_set_t *set, const char *region);

/* Returns the catalog version with this digest (64 lowercase hex digits),
 * current or past, or NULL if the set never held it. */
const catalog_t *catalog_set_by_digest(catalog_set_t *set, const char *digest_hex);

/* Iteration over the current regions: copies up to cap current catalogs,
 * sorted by region, to out and returns how many regions are current (which
 * may exceed cap; cap CATALOG_SET_REGIONS_MAX always suffices). The copy is
 * one consistent snapshot. */
size_t catalog_set_snapshot(catalog_set_t *set, const catalog_t **out, size_t cap);

/* Rules on use (adapters/rules.h): DIR/<REGION>.rules beside a catalog, when
 * present, is loaded and reloaded with it, all or nothing (a bad rules file
 * fails the load with FILE:LINE); a changed rules file counts as a changed
 * region. Returns the current rules of region, or NULL when it has none (no
 * rules file: nothing is restricted). Versions stay valid like catalogs. */
const rules_t *catalog_set_rules(catalog_set_t *set, const char *region);

/* Copies up to cap current rules (sorted by region) to out; returns how many
 * regions have rules (may exceed cap; CATALOG_SET_REGIONS_MAX suffices). */
size_t catalog_set_rules_snapshot(catalog_set_t *set, const rules_t **out, size_t cap);

/* Returns how many distinct catalog versions the set holds (current and
 * past). */
size_t catalog_set_versions_n(catalog_set_t *set);

#endif
