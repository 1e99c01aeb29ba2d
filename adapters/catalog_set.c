/* catalog_set.c - current and retained catalog versions; see catalog_set.h.
 *
 * Two locks: load_mu serializes loaders (file I/O and parsing happen under
 * it, outside mu), mu guards the current[] and versions[] arrays and is held
 * only to read them or to swap in a fully checked new state. */
#include "adapters/catalog_set.h"
#include "common/carbon_assert.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct catalog_set {
    pthread_mutex_t load_mu;
    pthread_mutex_t mu;
    int loaded;                            /* dir is valid */
    char dir[CATALOG_PATH_MAX + 1];        /* of the last successful load */
    size_t current_n;
    catalog_t *current[CATALOG_SET_REGIONS_MAX]; /* sorted by region */
    size_t versions_n;
    catalog_t *versions[CATALOG_SET_VERSIONS_MAX]; /* owned, load order */
    rules_t *current_rules[CATALOG_SET_REGIONS_MAX]; /* beside current[]; NULL: none */
    size_t rules_versions_n;
    rules_t *rules_versions[CATALOG_SET_VERSIONS_MAX]; /* owned, load order */
};

catalog_set_t *catalog_set_new(void) {
    catalog_set_t *set = calloc(1, sizeof *set);
    if (set == NULL) return NULL;
    if (pthread_mutex_init(&set->load_mu, NULL) != 0) {
        free(set);
        return NULL;
    }
    if (pthread_mutex_init(&set->mu, NULL) != 0) {
        pthread_mutex_destroy(&set->load_mu);
        free(set);
        return NULL;
    }
    return set;
}

void catalog_set_free(catalog_set_t *set) {
    if (set == NULL) return;
    CARBON_ASSERT(set->versions_n <= CATALOG_SET_VERSIONS_MAX);
    for (size_t i = 0; i < set->versions_n; i++) free(set->versions[i]);
    for (size_t i = 0; i < set->rules_versions_n; i++) free(set->rules_versions[i]);
    pthread_mutex_destroy(&set->mu);
    pthread_mutex_destroy(&set->load_mu);
    free(set);
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A loading in progress: file names found and catalogs parsed, all owned. */
typedef struct {
    size_t names_n;
    char *names[CATALOG_SET_REGIONS_MAX];
    size_t loaded_n;
    catalog_t *loaded[CATALOG_SET_REGIONS_MAX]; /* same order as names */
    rules_t *rules[CATALOG_SET_REGIONS_MAX];    /* same order; NULL: no .rules file */
} load_t;

static void load_release(load_t *l) {
    for (size_t i = 0; i < l->names_n; i++) free(l->names[i]);
    for (size_t i = 0; i < l->loaded_n; i++) free(l->loaded[i]);
    for (size_t i = 0; i < CATALOG_SET_REGIONS_MAX; i++) free(l->rules[i]);
    memset(l, 0, sizeof *l);
}

/* Collects the sorted names of the directory's .catalog files into l. */
static int load_list(load_t *l, const char *dir, char *err, size_t errlen) {
    DIR *d = opendir(dir);
    if (d == NULL) {
        snprintf(err, errlen, "%s: cannot open directory: %s", dir, strerror(errno));
        return -1;
    }
    const size_t suffix_n = strlen(CATALOG_SET_SUFFIX);
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (e == NULL) {
            if (errno != 0) {
                snprintf(err, errlen, "%s: cannot read directory: %s", dir, strerror(errno));
                rc = -1;
            }
            break;
        }
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || n <= suffix_n ||
            strcmp(e->d_name + n - suffix_n, CATALOG_SET_SUFFIX) != 0)
            continue;
        if (l->names_n == CATALOG_SET_REGIONS_MAX) {
            snprintf(err, errlen, "%s: too many catalogs (max %u)", dir,
                     CATALOG_SET_REGIONS_MAX);
            rc = -1;
            break;
        }
        if ((l->names[l->names_n] = strdup(e->d_name)) == NULL) {
            snprintf(err, errlen, "%s: out of memory", dir);
            rc = -1;
            break;
        }
        l->names_n++;
    }
    closedir(d);
    if (rc == 0 && l->names_n == 0) {
        snprintf(err, errlen, "%s: no *%s files", dir, CATALOG_SET_SUFFIX);
        rc = -1;
    }
    if (rc == 0) qsort(l->names, l->names_n, sizeof l->names[0], cmp_name);
    return rc;
}

/* Parses DIR/<REGION>.rules beside catalog i (path: its catalog's, stem_n
 * bytes before the suffix) when the file exists; its region must be the
 * catalog's. */
static int load_rules(load_t *l, size_t i, const char *path, size_t stem_n, const char *region,
                      char *err, size_t errlen) {
    char rpath[CATALOG_PATH_MAX + 8];
    snprintf(rpath, sizeof rpath, "%.*s%s", (int)stem_n, path, RULES_SUFFIX);
    if (access(rpath, F_OK) != 0) return 0;
    if (strlen(rpath) > CATALOG_PATH_MAX) {
        snprintf(err, errlen, "%s: path too long", rpath);
        return -1;
    }
    rules_t *r = malloc(sizeof *r);
    if (r == NULL) {
        snprintf(err, errlen, "%s:0: out of memory", rpath);
        return -1;
    }
    l->rules[i] = r;
    if (rules_parse_file(rpath, r, err, errlen) != 0) return -1;
    if (strcmp(r->region, region) != 0) {
        snprintf(err, errlen, "%s:%u: region '%s' is not its catalog's %s", rpath,
                 (unsigned)r->region_line, r->region, region);
        return -1;
    }
    return 0;
}

/* Parses every listed file; each region must match its file name. */
static int load_parse(load_t *l, const char *dir, char *err, size_t errlen) {
    const size_t suffix_n = strlen(CATALOG_SET_SUFFIX);
    for (size_t i = 0; i < l->names_n; i++) {
        char path[CATALOG_PATH_MAX + 1];
        int n = snprintf(path, sizeof path, "%s/%s", dir, l->names[i]);
        if (n < 0 || (size_t)n >= sizeof path) {
            snprintf(err, errlen, "%s: path of %s too long (max %u bytes)", dir,
                     l->names[i], CATALOG_PATH_MAX);
            return -1;
        }
        catalog_t *c = malloc(sizeof *c);
        if (c == NULL) {
            snprintf(err, errlen, "%s:0: out of memory", path);
            return -1;
        }
        l->loaded[l->loaded_n++] = c;
        if (catalog_parse_file(path, c, err, errlen) != 0) return -1;
        size_t stem_n = strlen(l->names[i]) - suffix_n;
        if (strlen(c->region) != stem_n || memcmp(c->region, l->names[i], stem_n) != 0) {
            snprintf(err, errlen, "%s:%u: region '%s' does not match file name '%s'",
                     path, (unsigned)c->region_line, c->region, l->names[i]);
            return -1;
        }
        if (load_rules(l, i, path, strlen(path) - suffix_n, c->region, err, errlen) != 0) return -1;
    }
    return 0;
}

static const catalog_t *find_region(catalog_t *const *cats, size_t n,
                                    const char *region) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(cats[i]->region, region) == 0) return cats[i];
    return NULL;
}

/* Every recognition of a loaded foreign region must name a methodology that
 * region defines. Rules about regions not in the directory are kept: the
 * gateway cannot check them and a peer never sends what it does not hold. */
static int load_cross_check(const load_t *l, char *err, size_t errlen) {
    for (size_t i = 0; i < l->loaded_n; i++) {
        const catalog_t *c = l->loaded[i];
        for (uint32_t k = 0; k < c->recognitions_n; k++) {
            const catalog_recognition_t *r = &c->recognitions[k];
            const catalog_t *f = find_region(l->loaded, l->loaded_n, r->from_region);
            if (f != NULL && catalog_find_methodology(f, r->foreign_id) == NULL) {
                snprintf(err, errlen,
                         "%s:%u: recognition of %s:%s: no methodology '%s' in %s",
                         c->path, (unsigned)r->line, r->from_region, r->foreign_id,
                         r->foreign_id, f->path);
                return -1;
            }
        }
    }
    return 0;
}

static catalog_t *find_version_locked(catalog_set_t *set, const char *digest_hex) {
    for (size_t i = 0; i < set->versions_n; i++)
        if (strcmp(set->versions[i]->digest_hex, digest_hex) == 0) return set->versions[i];
    return NULL;
}

static rules_t *find_rules_locked(catalog_set_t *set, const char *digest_hex) {
    for (size_t i = 0; i < set->rules_versions_n; i++)
        if (strcmp(set->rules_versions[i]->digest_hex, digest_hex) == 0) return set->rules_versions[i];
    return NULL;
}

/* Makes l's rules current beside the catalogs next[0..l->loaded_n) (mu held,
 * room checked), keeping a version already held; rules_changed[i] tells
 * whether next[i]'s region's rules changed. Call before current[] is swapped. */
static void load_commit_rules_locked(catalog_set_t *set, load_t *l, catalog_t *const *next,
                                     int *rules_changed) {
    rules_t *now[CATALOG_SET_REGIONS_MAX] = {0};
    for (size_t i = 0; i < l->loaded_n; i++) {
        if (l->rules[i] != NULL) {
            rules_t *old = find_rules_locked(set, l->rules[i]->digest_hex);
            if (old != NULL) {
                free(l->rules[i]);
                now[i] = old;
            } else {
                set->rules_versions[set->rules_versions_n++] = l->rules[i];
                now[i] = l->rules[i];
            }
            l->rules[i] = NULL;
        }
        const rules_t *was = NULL;
        for (size_t k = 0; k < set->current_n; k++)
            if (strcmp(set->current[k]->region, next[i]->region) == 0) was = set->current_rules[k];
        rules_changed[i] = was != now[i];
    }
    memcpy(set->current_rules, now, sizeof now);
}

/* Swaps the parsed catalogs in as current. Versions already held (same
 * digest) are reused and the fresh copy freed, so an unchanged file keeps its
 * pointer. Takes ownership of l->loaded on success. */
static int load_commit(catalog_set_t *set, load_t *l, const char *dir, char *err,
                       size_t errlen) {
    pthread_mutex_lock(&set->mu);
    size_t fresh = 0;
    for (size_t i = 0; i < l->loaded_n; i++)
        fresh += find_version_locked(set, l->loaded[i]->digest_hex) == NULL;
    for (size_t i = 0; i < l->loaded_n; i++)
        fresh += l->rules[i] != NULL && find_rules_locked(set, l->rules[i]->digest_hex) == NULL;
    if (set->versions_n + fresh > CATALOG_SET_VERSIONS_MAX ||
        set->rules_versions_n + fresh > CATALOG_SET_VERSIONS_MAX) {
        pthread_mutex_unlock(&set->mu);
        snprintf(err, errlen, "%s: too many catalog versions retained (max %u); "
                 "restart the gateway to release old versions", dir,
                 CATALOG_SET_VERSIONS_MAX);
        return -1;
    }
    catalog_t *next[CATALOG_SET_REGIONS_MAX];
    for (size_t i = 0; i < l->loaded_n; i++) {
        catalog_t *old = find_version_locked(set, l->loaded[i]->digest_hex);
        if (old != NULL) {
            free(l->loaded[i]);
            next[i] = old;
        } else {
            set->versions[set->versions_n++] = l->loaded[i];
            next[i] = l->loaded[i];
        }
        l->loaded[i] = NULL;
    }
    int changed = 0, rules_changed[CATALOG_SET_REGIONS_MAX];
    load_commit_rules_locked(set, l, next, rules_changed);
    for (size_t i = 0; i < l->loaded_n; i++)
        changed += find_region(set->current, set->current_n, next[i]->region) != next[i] ||
                   rules_changed[i];
    for (size_t i = 0; i < set->current_n; i++)
        changed += find_region(next, l->loaded_n, set->current[i]->region) == NULL;
    /* names were sorted, and each stem is the region: next is sorted. */
    memcpy(set->current, next, l->loaded_n * sizeof next[0]);
    set->current_n = l->loaded_n;
    l->loaded_n = 0;
    if (set->dir != dir) snprintf(set->dir, sizeof set->dir, "%s", dir);
    set->loaded = 1;
    pthread_mutex_unlock(&set->mu);
    return changed;
}

/* load_mu must be held. */
static int load_dir_locked(catalog_set_t *set, const char *dir, char *err,
                           size_t errlen) {
    if (strlen(dir) > CATALOG_PATH_MAX) {
        snprintf(err, errlen, "%s: directory path too long (max %u bytes)", dir,
                 CATALOG_PATH_MAX);
        return -1;
    }
    load_t *l = calloc(1, sizeof *l);
    if (l == NULL) {
        snprintf(err, errlen, "%s: out of memory", dir);
        return -1;
    }
    int rc = load_list(l, dir, err, errlen);
    if (rc == 0) rc = load_parse(l, dir, err, errlen);
    if (rc == 0) rc = load_cross_check(l, err, errlen);
    if (rc == 0) rc = load_commit(set, l, dir, err, errlen);
    load_release(l);
    free(l);
    return rc;
}

int catalog_set_load_dir(catalog_set_t *set, const char *dir, char *err,
                         size_t errlen) {
    CARBON_ASSERT(set != NULL && dir != NULL && err != NULL && errlen > 0);
    err[0] = '\0';
    pthread_mutex_lock(&set->load_mu);
    int rc = load_dir_locked(set, dir, err, errlen);
    pthread_mutex_unlock(&set->load_mu);
    return rc;
}

int catalog_set_reload(catalog_set_t *set, char *err, size_t errlen) {
    CARBON_ASSERT(set != NULL && err != NULL && errlen > 0);
    err[0] = '\0';
    pthread_mutex_lock(&set->load_mu);
    int rc;
    if (!set->loaded) { /* written only under load_mu, which we hold */
        snprintf(err, errlen, "catalog set: nothing loaded yet, nothing to reload");
        rc = -1;
    } else {
        rc = load_dir_locked(set, set->dir, err, errlen);
    }
    pthread_mutex_unlock(&set->load_mu);
    return rc;
}

const catalog_t *catalog_set_current(catalog_set_t *set, const char *region) {
    CARBON_ASSERT(set != NULL && region != NULL);
    pthread_mutex_lock(&set->mu);
    const catalog_t *c = find_region(set->current, set->current_n, region);
    pthread_mutex_unlock(&set->mu);
    return c;
}

const catalog_t *catalog_set_by_digest(catalog_set_t *set, const char *digest_hex) {
    CARBON_ASSERT(set != NULL && digest_hex != NULL);
    pthread_mutex_lock(&set->mu);
    const catalog_t *c = find_version_locked(set, digest_hex);
    pthread_mutex_unlock(&set->mu);
    return c;
}

size_t catalog_set_snapshot(catalog_set_t *set, const catalog_t **out, size_t cap) {
    CARBON_ASSERT(set != NULL && (out != NULL || cap == 0));
    pthread_mutex_lock(&set->mu);
    size_t n = set->current_n;
    for (size_t i = 0; i < n && i < cap; i++) out[i] = set->current[i];
    pthread_mutex_unlock(&set->mu);
    return n;
}

size_t catalog_set_versions_n(catalog_set_t *set) {
    CARBON_ASSERT(set != NULL);
    pthread_mutex_lock(&set->mu);
    size_t n = set->versions_n;
    pthread_mutex_unlock(&set->mu);
    return n;
}

const rules_t *catalog_set_rules(catalog_set_t *set, const char *region) {
    CARBON_ASSERT(set != NULL && region != NULL);
    pthread_mutex_lock(&set->mu);
    const rules_t *r = NULL;
    for (size_t i = 0; i < set->current_n; i++)
        if (strcmp(set->current[i]->region, region) == 0) r = set->current_rules[i];
    pthread_mutex_unlock(&set->mu);
    return r;
}

size_t catalog_set_rules_snapshot(catalog_set_t *set, const rules_t **out, size_t cap) {
    CARBON_ASSERT(set != NULL && (out != NULL || cap == 0));
    pthread_mutex_lock(&set->mu);
    size_t n = 0;
    for (size_t i = 0; i < set->current_n; i++) {
        if (set->current_rules[i] == NULL) continue;
        if (n < cap) out[n] = set->current_rules[i];
        n++;
    }
    pthread_mutex_unlock(&set->mu);
    return n;
}
