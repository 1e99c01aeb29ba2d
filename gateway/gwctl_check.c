/* gwctl_check.c - gwctl check: the conservation checker over the regions'
 * stores (settlement/checker.h). */
#include "gateway/gwctl.h"

#include "settlement/checker.h"
#include "settlement/store.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef GWCTL_EXIT_FINDING
#define GWCTL_EXIT_FINDING 1
#endif

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
    "Given only some regions' stores, it reports only what they prove: serials\n"
    "exported to a region whose store is not listed are \"abroad, not checked\",\n"
    "and the regions named by transfers but not listed are printed as not checked.\n"
    "\n"
    "  --stores LIST         the regions' stores, e.g. CN-TJ=127.0.0.1:6379,...\n"
    "  --settled             also report legs still in flight or unacknowledged\n"
    "                        (use after recovery has run)\n"
    "  --password-file FILE  Redis password, if the stores require AUTH\n"
    "  --json                one JSON document on stdout: counts and grams as strings,\n"
    "                        \"violations\" and \"unchecked_regions\" as arrays\n"
    "\n"
    "Exit codes: 0 no violation, 1 violations, 2 bad usage, 3 a store unreachable.\n";

static json_t *check_u64(uint64_t v) {
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return json_string(buf);
}

/* The report as one JSON document on stdout: counts and grams as strings,
 * the violations and the regions not checked inside it. */
static void check_print_json(const checker_report_t *rep) {
    json_t *doc = json_object();
    static const char *const names[] = {"regions", "serials_issued_g", "in_accounts_g", "held_g",
                                        "pending_g", "retired_g", "cancelled_g", "exported_g",
                                        "abroad_g", "accounts", "transfers", "committed",
                                        "aborted", "in_flight", "audit_entries", "violations_n"};
    const uint64_t values[] = {rep->regions, rep->serials_issued, rep->grams_in_accounts, rep->grams_held,
                               rep->grams_pending, rep->grams_retired, rep->grams_cancelled,
                               rep->grams_exported, rep->grams_abroad, rep->accounts, rep->transfers,
                               rep->transfers_committed, rep->transfers_aborted,
                               rep->transfers_in_flight, rep->audit_entries, rep->violations_n};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        json_object_set_new(doc, names[i], check_u64(values[i]));
    json_t *unchecked = json_array(), *violations = json_array();
    for (size_t i = 0; i < rep->unchecked_n; i++) json_array_append_new(unchecked, json_string(rep->unchecked[i]));
    for (uint64_t i = 0; i < rep->violations_n && i < CHECKER_VIOLATIONS_MAX; i++)
        json_array_append_new(violations, json_string(rep->violations[i]));
    json_object_set_new(doc, "unchecked_regions", unchecked);
    json_object_set_new(doc, "violations", violations);
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(doc);
}

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
                check_print_json(rep);
            } else {
                checker_print(rep, stdout);
            }
            if (!json && rep->unchecked_n > 0) {
                fprintf(stderr, "gwctl check: not checked (no store given):");
                for (size_t i = 0; i < rep->unchecked_n; i++) fprintf(stderr, " %s", rep->unchecked[i]);
                fprintf(stderr, "\n");
            }
            if (rep->violations_n > 0) exit_code = GWCTL_EXIT_FINDING;
        }
        free(rep);
    }
    for (size_t i = 0; i < n; i++) store_close(regions[i].store);
    return exit_code;
}
