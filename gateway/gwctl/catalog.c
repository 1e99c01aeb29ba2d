/* catalog.c - gwctl catalog show: a region's catalog from local files. */
#include "gateway/gwctl/gwctl.h"
#include "common/carbon_assert.h"

#include "adapters/catalog_print.h"
#include "adapters/catalog_set.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char gwctl_catalog_usage[] =
    "usage: gwctl catalog show --region REGION [--dir DIR] [--json]\n"
    "       gwctl catalog show --all [--dir DIR] [--json]\n"
    "\n"
    "Loads the catalogs in DIR (default: $GWCTL_CATALOG_DIR, else ../adapters/catalogs\n"
    "next to the gwctl binary, else the source tree gwctl was built from)\n"
    "exactly as gatewayd does, checks them, and prints a region's methodologies,\n"
    "units, grams per unit, recognition rules, version and digest. The digest is\n"
    "the SHA-256 of the catalog's canonical form, which gateways exchange in Hello.\n"
    "\n"
    "Exit codes: 0 shown, 1 a catalog is invalid or the region has none, 2 bad usage.\n";

/* Prints list[0..n) as tables for people, a blank line apart. Exit code. */
static int gwctl_catalog_text(const catalog_t *const *list, size_t n) {
    CARBON_ASSERT(n <= CATALOG_SET_REGIONS_MAX);
    int exit_code = GWCTL_EXIT_OK;
    for (size_t i = 0; i < n; i++) {
        if (catalog_print_table(list[i], stdout) != 0) exit_code = GWCTL_EXIT_FINDING;
        if (i + 1 < n) printf("\n");
    }
    return exit_code;
}

/* Prints list[0..n) as one JSON document: the catalog, or with --all an
 * array of them (gwctl_json_catalog). Exit code. */
static int gwctl_catalog_json(const catalog_t *const *list, size_t n, int all) {
    CARBON_ASSERT(n <= CATALOG_SET_REGIONS_MAX && (all || n == 1));
    json_t *doc = all ? json_array() : gwctl_json_catalog(list[0]);
    for (size_t i = 0; all && i < n; i++) json_array_append_new(doc, gwctl_json_catalog(list[i]));
    gwctl_json_emit(doc);
    return ferror(stdout) ? GWCTL_EXIT_FINDING : GWCTL_EXIT_OK;
}

const char *gwctl_catalog_dir(const char *given, char *buf, size_t buflen) {
    if (given != NULL) return given;
    const char *env = getenv("GWCTL_CATALOG_DIR");
    if (env != NULL && env[0] != '\0') return env;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash != NULL) *slash = '\0';
        snprintf(buf, buflen, "%s/../adapters/catalogs", exe);
        struct stat sb;
        if (stat(buf, &sb) == 0 && S_ISDIR(sb.st_mode)) return buf;
    }
#ifdef CARBON_SOURCE_DIR
    snprintf(buf, buflen, "%s/adapters/catalogs", CARBON_SOURCE_DIR);
    struct stat sb;
    if (stat(buf, &sb) == 0 && S_ISDIR(sb.st_mode)) return buf;
#endif
    return NULL;
}

int gwctl_catalog(int argc, char **argv) {
    CARBON_ASSERT(argc >= 1 && argv != NULL && argv[0] != NULL);
    if (argc < 2 || strcmp(argv[1], "show") != 0) {
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            fputs(gwctl_catalog_usage, stdout);
            return GWCTL_EXIT_OK;
        }
        fputs(gwctl_catalog_usage, stderr);
        return GWCTL_EXIT_USAGE;
    }
    const char *region = NULL, *dir = getenv("GWCTL_CATALOG_DIR");
    int json = 0, all = 0;
    const gwctl_opt_t opts[] = {{"region", 1, &region, NULL},
                                {"dir", 1, &dir, NULL},
                                {"json", 0, NULL, &json},
                                {"all", 0, NULL, &all},
                                {NULL, 0, NULL, NULL}};
    int rc = gwctl_parse(argc - 1, argv + 1, opts, NULL, gwctl_catalog_usage);
    if (rc != 0) return rc > 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_USAGE;
    if ((region == NULL) == !all) {
        fprintf(stderr, "gwctl catalog show: give --region REGION or --all\n");
        return GWCTL_EXIT_USAGE;
    }
    char dir_buf[PATH_MAX];
    if (dir == NULL || dir[0] == '\0') dir = gwctl_catalog_dir(NULL, dir_buf, sizeof dir_buf);
    if (dir == NULL) {
        fprintf(stderr, "gwctl catalog show: no catalog folder found (give --dir or "
                        "$GWCTL_CATALOG_DIR)\n");
        return GWCTL_EXIT_USAGE;
    }
    catalog_set_t *set = catalog_set_new();
    char err[512];
    if (catalog_set_load_dir(set, dir, err, sizeof err) < 0) {
        fprintf(stderr, "gwctl catalog show: %s\n", err);
        catalog_set_free(set);
        return GWCTL_EXIT_FINDING;
    }
    const catalog_t *list[CATALOG_SET_REGIONS_MAX];
    size_t n = 0;
    if (all) {
        n = catalog_set_snapshot(set, list, CATALOG_SET_REGIONS_MAX);
        if (n > CATALOG_SET_REGIONS_MAX) n = CATALOG_SET_REGIONS_MAX;
    } else {
        list[0] = catalog_set_current(set, region);
        if (list[0] == NULL) {
            fprintf(stderr, "gwctl catalog show: %s has no catalog for %s\n", dir, region);
            catalog_set_free(set);
            return GWCTL_EXIT_FINDING;
        }
        n = 1;
    }
    int exit_code = json ? gwctl_catalog_json(list, n, all) : gwctl_catalog_text(list, n);
    catalog_set_free(set);
    return exit_code;
}
