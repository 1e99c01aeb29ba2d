/* catalog.c - gwctl catalog show: a region's catalog from local files. */
#include "gateway/gwctl/gwctl.h"

#include "adapters/catalog_print.h"
#include "adapters/catalog_set.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char gwctl_catalog_usage[] =
    "usage: gwctl catalog show --region REGION [--dir DIR] [--json]\n"
    "       gwctl catalog show --all [--dir DIR] [--json]\n"
    "\n"
    "Loads the catalogs in DIR (default adapters/catalogs, or $GWCTL_CATALOG_DIR)\n"
    "exactly as gatewayd does, checks them, and prints a region's methodologies,\n"
    "units, grams per unit, recognition rules, version and digest. The digest is\n"
    "the SHA-256 of the catalog's canonical form, which gateways exchange in Hello.\n"
    "\n"
    "Exit codes: 0 shown, 1 a catalog is invalid or the region has none, 2 bad usage.\n";

int gwctl_catalog(int argc, char **argv) {
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
    if (dir == NULL) dir = "adapters/catalogs";
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
    int exit_code = GWCTL_EXIT_OK;
    if (json && all) printf("[\n");
    for (size_t i = 0; i < n; i++) {
        int w = json ? catalog_print_json(list[i], stdout) : catalog_print_table(list[i], stdout);
        if (w != 0) exit_code = GWCTL_EXIT_FINDING;
        if (json && all && i + 1 < n) printf(",\n");
        if (!json && i + 1 < n) printf("\n");
    }
    if (json && all) printf("]\n");
    catalog_set_free(set);
    return exit_code;
}
