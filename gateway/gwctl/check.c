/* check.c - gwctl check: the conservation checker over the regions'
 * stores (settlement/checker.h). */
#include "gateway/gwctl/gwctl.h"
#include "common/carbon_assert.h"
#include "gateway/rpc/region_address.h"

#include "settlement/checker.h"
#include "settlement/store.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef struct check_stores {
    checker_region_t regions[CHECKER_REGIONS_MAX];
    size_t n;
    char unreachable[CHECKER_REGIONS_MAX][CARBON_REGION_SIZE]; /* listed stores that could not be opened */
    size_t unreachable_n;
} check_stores_t;

static const char check_usage[] =
    "usage: gwctl check --stores REGION=HOST:PORT[,REGION=HOST:PORT...] [--settled]\n"
    "                   [--password-file FILE] [--json]\n"
    "\n"
    "Reads every listed region's Redis store and verifies the invariants of\n"
    "DESIGN §9 that the state shows: each serial ever issued is in exactly one\n"
    "live place (account, hold, pending credit, retired, cancelled) across the\n"
    "stores and each exported tombstone matches the destination; both legs of\n"
    "every transfer agree; no transfer was applied twice (from the audit logs);\n"
    "each origin's map of its serials agrees with where every listed region\n"
    "holds them (live, retired, cancelled); every audit hash chain verifies.\n"
    "Prints what it counted and every violation.\n"
    "Given only some regions' stores, it reports only what they prove: serials\n"
    "exported to a region whose store is not listed are \"abroad, not checked\",\n"
    "and the regions named by transfers but not listed are printed as not checked.\n"
    "\n"
    "  --stores LIST         the regions' stores, e.g. CN-TJ=127.0.0.1:6379,...\n"
    "  --settled             also report legs still in flight or unacknowledged,\n"
    "                        and uses not yet reported to their origin\n"
    "                        (use after recovery has run)\n"
    "  --password-file FILE  Redis password, if the stores require AUTH\n"
    "  --json                one JSON document on stdout: counts and grams as strings,\n"
    "                        \"violations\" and \"unchecked_regions\" as arrays\n"
    "\n"
    "A listed store that cannot be reached is named on stderr (and in --json as\n"
    "\"unreachable_regions\"), and the others are still checked.\n"
    "\n"
    "Exit codes: 0 no violation, 1 violations, 2 bad usage, 3 a store unreachable\n"
    "(after checking the others), 5 the password file cannot be read.\n";

/* The report as one JSON document on stdout: grams as strings, counts as numbers,
 * the violations and the regions not checked inside it. */
static void check_print_json(const checker_report_t *rep, const check_stores_t *s) {
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
    /* grams and the audit log's length are strings, counts of things numbers
     * (README: gwctl's JSON) */
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        size_t len = strlen(names[i]);
        int as_string = (len > 2 && strcmp(names[i] + len - 2, "_g") == 0) ||
                        strcmp(names[i], "audit_entries") == 0;
        json_object_set_new(doc, names[i], as_string ? gwctl_json_u64(values[i])
                                                     : json_integer((json_int_t)values[i]));
    }
    json_t *unchecked = json_array(), *violations = json_array();
    for (size_t i = 0; i < rep->unchecked_n; i++) json_array_append_new(unchecked, gwctl_json_text(rep->unchecked[i]));
    for (uint64_t i = 0; i < rep->violations_n && i < CHECKER_VIOLATIONS_MAX; i++)
        json_array_append_new(violations, gwctl_json_text(rep->violations[i]));
    json_t *unreachable = json_array();
    for (size_t i = 0; i < s->unreachable_n; i++) json_array_append_new(unreachable, json_string(s->unreachable[i]));
    json_object_set_new(doc, "unchecked_regions", unchecked);
    json_object_set_new(doc, "unreachable_regions", unreachable);
    json_object_set_new(doc, "violations", violations);
    gwctl_json_emit(doc);
}

/* Opens every store of "REGION=HOST:PORT,..." (gateway/rpc/region_address.h);
 * one that cannot be opened is named on stderr and left out (checked as if
 * not listed). 0, or GWCTL_EXIT_USAGE for a malformed list. */
static int check_open_stores(const char *stores, const store_config_t *base, check_stores_t *s) {
    CARBON_ASSERT(stores != NULL && base != NULL && s != NULL && s->n == 0);
    region_address_t list[CHECKER_REGIONS_MAX];
    size_t n = 0;
    char err[256];
    CARBON_STATIC_ASSERT(CHECKER_REGIONS_MAX <= REGION_ADDRESS_LIST_MAX, "--stores fits one list");
    if (region_address_parse_list(stores, list, CHECKER_REGIONS_MAX, &n, err, sizeof err) != 0) {
        fprintf(stderr, "gwctl check: --stores: %s\n", err);
        return GWCTL_EXIT_USAGE;
    }
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i].host) >= STORE_HOST_MAX) {
            fprintf(stderr, "gwctl check: --stores: the host of %s is longer than %d bytes\n",
                    list[i].region, STORE_HOST_MAX - 1);
            return GWCTL_EXIT_USAGE;
        }
    for (size_t i = 0; i < n; i++) {
        store_config_t cfg = *base;
        checker_region_t *r = &s->regions[s->n];
        /* the parser bounds a region to REGION_ADDRESS_REGION_SIZE (< sizeof r->region) */
        snprintf(r->region, sizeof r->region, "%.*s", (int)(sizeof r->region - 1), list[i].region);
        memcpy(cfg.host, list[i].host, strlen(list[i].host) + 1); /* < STORE_HOST_MAX, above */
        cfg.port = list[i].port;
        r->store = store_open(&cfg, err, sizeof err);
        if (r->store == NULL) {
            fprintf(stderr, "gwctl check: %s: %s\n", r->region, err);
            /* from list, not r->region: both live in *s (gcc -O2 -Werror=restrict) */
            snprintf(s->unreachable[s->unreachable_n++], sizeof s->unreachable[0], "%.*s",
                     (int)(sizeof s->unreachable[0] - 1), list[i].region);
            continue;
        }
        s->n++;
    }
    return 0;
}

/* Reads the password file into base. 0, or -1 after saying why. */
static int check_password(const char *path, store_config_t *base) {
    FILE *f = fopen(path, "r");
    if (f == NULL || fgets(base->password, sizeof base->password, f) == NULL) {
        fprintf(stderr, "gwctl check: %s: cannot read the password\n", path);
        if (f) fclose(f);
        return -1;
    }
    fclose(f);
    base->password[strcspn(base->password, "\r\n")] = '\0';
    return 0;
}

/* True if region is one of the listed stores that could not be opened. */
static int check_unreachable(const check_stores_t *s, const char *region) {
    CARBON_ASSERT(s->unreachable_n <= CHECKER_REGIONS_MAX);
    for (size_t i = 0; i < s->unreachable_n; i++)
        if (strcmp(s->unreachable[i], region) == 0) return 1;
    return 0;
}

/* Names on stderr each region not checked, once, and why. */
static void check_print_unchecked(const checker_report_t *rep, const check_stores_t *s) {
    CARBON_ASSERT(rep->unchecked_n <= CHECKER_REGIONS_MAX);
    fprintf(stderr, "gwctl check: not checked:");
    const char *sep = " ";
    for (size_t i = 0; i < rep->unchecked_n; i++) {
        if (check_unreachable(s, rep->unchecked[i])) continue;
        fprintf(stderr, "%s%s (no store given)", sep, rep->unchecked[i]);
        sep = ", ";
    }
    for (size_t i = 0; i < s->unreachable_n; i++) {
        fprintf(stderr, "%s%s (its store could not be read)", sep, s->unreachable[i]);
        sep = ", ";
    }
    fprintf(stderr, "\n");
}

/* Runs the checker over the open stores and prints the report. Exit code. */
static int check_report(const check_stores_t *s, int settled, int json) {
    checker_report_t *rep = malloc(sizeof *rep);
    if (rep == NULL) abort();
    char err[256];
    int exit_code = GWCTL_EXIT_OK;
    if (checker_run(s->regions, s->n, settled, rep, err, sizeof err) != 0) {
        fprintf(stderr, "gwctl check: %s\n", err);
        free(rep);
        return GWCTL_EXIT_UNREACHABLE;
    }
    if (json) check_print_json(rep, s);
    else checker_print(rep, stdout);
    if (rep->unchecked_n > 0 || s->unreachable_n > 0) check_print_unchecked(rep, s);
    if (rep->violations_n > 0) exit_code = GWCTL_EXIT_FINDING;
    else if (s->unreachable_n > 0) exit_code = GWCTL_EXIT_UNREACHABLE;
    free(rep);
    return exit_code;
}

int gwctl_check(int argc, char **argv) {
    CARBON_ASSERT(argc >= 1 && argv != NULL && argv[0] != NULL);
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
    if (password_file != NULL && check_password(password_file, &base) != 0) return GWCTL_EXIT_CREDENTIALS;
    check_stores_t *s = calloc(1, sizeof *s);
    if (s == NULL) abort();
    int exit_code = check_open_stores(stores, &base, s);
    if (exit_code == 0 && s->n == 0) exit_code = GWCTL_EXIT_UNREACHABLE;
    if (exit_code == 0) exit_code = check_report(s, settled, json);
    for (size_t i = 0; i < s->n; i++) store_close(s->regions[i].store);
    free(s);
    return exit_code;
}
