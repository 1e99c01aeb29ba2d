/* gwctl_check.c - gwctl check: the conservation checker over the regions'
 * stores (settlement/checker.h). */
#include "gateway/gwctl.h"

#include "settlement/checker.h"
#include "settlement/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char check_usage[] =
    "usage: gwctl check --stores REGION=HOST:PORT[,REGION=HOST:PORT...] [--settled]\n"
    "                   [--password-file FILE] [--json]\n"
    "\n"
    "Reads every listed region's Redis store and verifies the invariants of\n"
    "DESIGN §9 that the state shows: each serial ever issued is in exactly one\n"
    "live place (account, hold, pending credit, retired, cancelled) across the\n"
    "stores and each exported tombstone matches the destination; both legs of\n"
    "every transfer agree; no transfer was applied twice (from the audit logs);\n"
    "every audit hash chain verifies. Prints what it counted and every violation.\n"
    "\n"
    "  --stores LIST         the regions' stores, e.g. CN-TJ=127.0.0.1:6379,...\n"
    "  --settled             also report legs still in flight or unacknowledged\n"
    "                        (use after recovery has run)\n"
    "  --password-file FILE  Redis password, if the stores require AUTH\n"
    "  --json                print the counts and violations as JSON\n"
    "\n"
    "Exit codes: 0 no violation, 1 violations, 2 bad usage, 3 a store unreachable.\n";

int gwctl_check(int argc, char **argv) {
    const char *stores = NULL, *password_file = NULL;
    int settled = 0, json = 0;
    const gwctl_opt_t opts[] = {{"stores", 1, &stores, NULL},
                                {"settled", 0, NULL, &settled},
                                {"password-file", 1, &password_file, NULL},
                                {"json", 0, NULL, &json},
                                {0}};
    int rc = gwctl_parse(argc, argv, opts, NULL, check_usage);
    if (rc != 0) return rc > 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_USAGE;
    if (stores == NULL) {
        fprintf(stderr, "gwctl check: --stores is required\n\n%s", check_usage);
        return GWCTL_EXIT_USAGE;
    }
    store_config_t base;
    store_config_defaults(&base);
    if (password_file != NULL) {
        FILE *f = fopen(password_file, "r");
        if (f == NULL || fgets(base.password, sizeof base.password, f) == NULL) {
            fprintf(stderr, "gwctl check: %s: cannot read the password\n", password_file);
            if (f) fclose(f);
            return GWCTL_EXIT_USAGE;
        }
        fclose(f);
        base.password[strcspn(base.password, "\r\n")] = '\0';
    }
    checker_region_t regions[CHECKER_REGIONS_MAX];
    size_t n = 0;
    char list[1024];
    snprintf(list, sizeof list, "%s", stores);
    int exit_code = GWCTL_EXIT_OK;
    for (char *save = NULL, *item = strtok_r(list, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '='), *colon = eq ? strrchr(eq, ':') : NULL;
        if (eq == NULL || colon == NULL || n == CHECKER_REGIONS_MAX || eq - item >= 16) {
            fprintf(stderr, "gwctl check: '%s' is not REGION=HOST:PORT\n", item);
            exit_code = GWCTL_EXIT_USAGE;
            break;
        }
        store_config_t cfg = base;
        snprintf(regions[n].region, sizeof regions[n].region, "%.*s", (int)(eq - item), item);
        snprintf(cfg.host, sizeof cfg.host, "%.*s", (int)(colon - eq - 1), eq + 1);
        cfg.port = atoi(colon + 1);
        char err[256];
        regions[n].store = store_open(&cfg, err, sizeof err);
        if (regions[n].store == NULL) {
            fprintf(stderr, "gwctl check: %s: %s\n", regions[n].region, err);
            exit_code = GWCTL_EXIT_UNREACHABLE;
            break;
        }
        n++;
    }
    if (exit_code == GWCTL_EXIT_OK) {
        checker_report_t *rep = malloc(sizeof *rep);
        if (rep == NULL) abort();
        char err[256];
        if (checker_run(regions, n, settled, rep, err, sizeof err) != 0) {
            fprintf(stderr, "gwctl check: %s\n", err);
            exit_code = GWCTL_EXIT_UNREACHABLE;
        } else {
            if (json) {
                printf("{\"serials_issued_g\": %llu, \"in_accounts_g\": %llu, \"held_g\": %llu, "
                       "\"pending_g\": %llu, \"retired_g\": %llu, \"cancelled_g\": %llu, "
                       "\"exported_g\": %llu, \"transfers\": %llu, \"committed\": %llu, "
                       "\"aborted\": %llu, \"in_flight\": %llu, \"audit_entries\": %llu, "
                       "\"violations\": %llu}\n",
                       (unsigned long long)rep->serials_issued,
                       (unsigned long long)rep->grams_in_accounts,
                       (unsigned long long)rep->grams_held, (unsigned long long)rep->grams_pending,
                       (unsigned long long)rep->grams_retired,
                       (unsigned long long)rep->grams_cancelled,
                       (unsigned long long)rep->grams_exported, (unsigned long long)rep->transfers,
                       (unsigned long long)rep->transfers_committed,
                       (unsigned long long)rep->transfers_aborted,
                       (unsigned long long)rep->transfers_in_flight,
                       (unsigned long long)rep->audit_entries, (unsigned long long)rep->violations_n);
                for (uint64_t i = 0; i < rep->violations_n && i < CHECKER_VIOLATIONS_MAX; i++)
                    fprintf(stderr, "VIOLATION %s\n", rep->violations[i]);
            } else {
                checker_print(rep, stdout);
            }
            if (rep->violations_n > 0) exit_code = GWCTL_EXIT_FAILED;
        }
        free(rep);
    }
    for (size_t i = 0; i < n; i++) store_close(regions[i].store);
    return exit_code;
}
