/* report.c - gwctl report --year Y: every region's yearly report
 * (Audit.Report; settlement/year_report.h) and the cross-check of each
 * pair's exports against the peer's imports. */
#include "gateway/gwctl/gwctl.h"
#include "common/carbon_assert.h"
#include "gateway/gwctl/output.h"
#include "gateway/gwctl/targets.h"
#include "gateway/rpc/pbjson.h"

#include "carbon/v1/carbon.pb-c.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char report_usage[] =
    "usage: gwctl report --year Y --targets REGION=HOST:PORT,... [--csv | --json]\n"
    "                    [--cert F --key F --ca F] [--timeout-ms N]\n"
    "\n"
    "The yearly report of each region named in --targets (or $GWCTL_TARGETS),\n"
    "computed by its gateway from its audit log (Audit.Report), and a cross-check:\n"
    "for each pair of regions read, the grams of serials one exported to the other\n"
    "in the year against the grams the other received from it (credited plus the\n"
    "recognition discount it cancelled), marked consistent or INCONSISTENT.\n"
    "\n"
    "The year is the calendar year in China Standard Time (UTC+8). Sections:\n"
    "  holding, held, pending   at the end of the year: in accounts, in holds of\n"
    "                           outgoing transfers, prepared incoming credits\n"
    "  issued, out, in, cancelled, retired, heuristic   the year's actions\n"
    "  used-abroad              the region's own serials retired or cancelled in\n"
    "                           another region (peer), as reported to its map\n"
    "Columns: region, section, origin, methodology, vintage, peer, purpose,\n"
    "beneficiary, first (the serials leave their origin region: a first\n"
    "transfer), amount_g (grams), count (entries; holdings: blocks).\n"
    "\n"
    "  --year Y        2000..2999\n"
    "  --targets LIST  the regions' gateways (or $GWCTL_TARGETS)\n"
    "  --csv           the rows as CSV (RFC 4180), then the cross-check rows\n"
    "  --json          one JSON document: the reports and the cross-check\n"
    "  --cert, --key, --ca FILE  an auditor's or operator's credentials (or\n"
    "                  $GWCTL_CERT, $GWCTL_KEY, $GWCTL_CA)\n"
    "  --timeout-ms N  per call (default 60000)\n"
    "\n" GWCTL_EXIT_HELP
    "report: 1 when a pair is INCONSISTENT or a region's log has findings.\n";

typedef struct {
    gwctl_fed_t f;
    uint32_t year;
    Carbon__V1__ReportResponse *reports[GWCTL_TARGETS_MAX];
    int csv, json;
    size_t inconsistent;
} report_run_t;

/* Grams in rep's rows of section with peer (NULL: any). */
static uint64_t report_sum(const Carbon__V1__ReportResponse *rep, const char *section, const char *peer) {
    uint64_t g = 0;
    for (size_t i = 0; i < rep->n_rows; i++) {
        const Carbon__V1__ReportRow *row = rep->rows[i];
        if (strcmp(row->section, section) == 0 && (peer == NULL || strcmp(row->peer_region, peer) == 0))
            g += row->amount_g;
    }
    return g;
}

/* Writes s as one CSV field (RFC 4180: quoted, quotes doubled). */
static void report_csv_field(const char *s) {
    putchar('"');
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '"') putchar('"');
        putchar((unsigned char)*p < 0x20 ? ' ' : *p);
    }
    putchar('"');
}

static void report_print_rows(const report_run_t *r, const Carbon__V1__ReportResponse *rep) {
    if (!r->csv)
        printf("\n%s, year %u: %" PRIu64 " entries read, %" PRIu64 " log findings\n"
               "%-10s %-6s %-12s %-7s %-6s %-20s %-24s %-5s %14s %8s\n",
               rep->region, rep->year, rep->entries_read, rep->log_findings, "section", "origin",
               "methodology", "vintage", "peer", "purpose", "beneficiary", "first", "amount_g", "count");
    for (size_t i = 0; i < rep->n_rows; i++) {
        const Carbon__V1__ReportRow *w = rep->rows[i];
        if (r->csv) {
            const char *texts[] = {rep->region, w->section, w->origin, w->methodology_id};
            for (size_t k = 0; k < 4; k++) report_csv_field(texts[k]), putchar(',');
            printf("%u,", w->vintage_year);
            report_csv_field(w->peer_region), putchar(',');
            report_csv_field(w->purpose), putchar(',');
            report_csv_field(w->beneficiary);
            printf(",%d,%" PRIu64 ",%" PRIu64 "\r\n", w->first_transfer ? 1 : 0, w->amount_g, w->count);
        } else {
            printf("%-10s %-6s %-12s %-7u %-6s %-20s %-24.24s %-5s %14" PRIu64 " %8" PRIu64 "\n", w->section,
                   w->origin, w->methodology_id, w->vintage_year, w->peer_region, w->purpose, w->beneficiary,
                   w->first_transfer ? "yes" : "", w->amount_g, w->count);
        }
    }
}

/* The cross-check of every ordered pair of regions read; counts the
 * inconsistent ones into r and adds them to arr (may be NULL). */
static void report_cross_check(report_run_t *r, json_t *arr) {
    if (!r->csv && arr == NULL) printf("\ncross-check (grams of serials, year %u)\n", r->year);
    for (size_t a = 0; a < r->f.n; a++) {
        for (size_t b = 0; b < r->f.n; b++) {
            const Carbon__V1__ReportResponse *ra = r->reports[a], *rb = r->reports[b];
            if (a == b || ra == NULL || rb == NULL) continue;
            uint64_t out_g = report_sum(ra, "out", rb->region);
            uint64_t in_g = report_sum(rb, "in", ra->region) + report_sum(rb, "cancelled", ra->region);
            int ok = out_g == in_g;
            r->inconsistent += !ok;
            if (arr != NULL) {
                json_array_append_new(arr, json_pack("{s:o,s:o,s:o,s:o,s:b}", "from", gwctl_json_text(ra->region),
                                                     "to", gwctl_json_text(rb->region), "exported_g",
                                                     gwctl_json_u64(out_g), "received_g", gwctl_json_u64(in_g),
                                                     "consistent", ok));
            } else if (r->csv) {
                printf("\"cross-check\",\"%s\",\"%s\",%" PRIu64 ",%" PRIu64 ",%s\r\n", ra->region, rb->region, out_g,
                       in_g, ok ? "consistent" : "INCONSISTENT");
            } else {
                printf("  %-6s -> %-6s exported %14" PRIu64 "  received %14" PRIu64 "  %s\n", ra->region,
                       rb->region, out_g, in_g, ok ? "consistent" : "INCONSISTENT");
            }
        }
    }
}

/* Parses the arguments into r. 0, or the exit code to return. */
static int report_args(int argc, char **argv, report_run_t *r) {
    const char *targets = getenv("GWCTL_TARGETS"), *timeout = "60000", *year = NULL;
    r->f.cert = getenv("GWCTL_CERT");
    r->f.key = getenv("GWCTL_KEY");
    r->f.ca = getenv("GWCTL_CA");
    const gwctl_opt_t opts[] = {{"year", 1, &year, NULL},        {"targets", 1, &targets, NULL},
                                {"cert", 1, &r->f.cert, NULL},   {"key", 1, &r->f.key, NULL},
                                {"ca", 1, &r->f.ca, NULL},       {"timeout-ms", 1, &timeout, NULL},
                                {"csv", 0, NULL, &r->csv},       {"json", 0, NULL, &r->json}, {0}};
    int rc = gwctl_parse(argc, argv, opts, NULL, report_usage);
    if (rc != 0) return rc > 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_USAGE;
    uint64_t t = 0, y = 0;
    if (year == NULL || targets == NULL || r->f.cert == NULL || r->f.key == NULL || r->f.ca == NULL ||
        gwctl_parse_u64(year, &y) != 0 || y < 2000 || y > 2999 || gwctl_parse_u64(timeout, &t) != 0 || t == 0 ||
        t > GWCTL_TIMEOUT_MS_MAX || (r->csv && r->json)) {
        fprintf(stderr, "gwctl report: --year (2000..2999), --targets, --cert, --key and --ca are required; "
                        "--csv and --json exclude each other\n\n%s", report_usage);
        return GWCTL_EXIT_USAGE;
    }
    r->year = (uint32_t)y;
    r->f.timeout_ms = (long)t;
    return gwctl_fed_parse(&r->f, "report", targets) != 0 ? GWCTL_EXIT_USAGE : 0;
}

/* Reads every region's report into r->reports (NULL where unread). */
static void report_read_all(report_run_t *r) {
    Carbon__V1__ReportRequest req = CARBON__V1__REPORT_REQUEST__INIT;
    req.year = r->year;
    for (size_t i = 0; i < r->f.n; i++) {
        ProtobufCMessage *resp = NULL;
        int rc = gwctl_fed_call(&r->f, i, "Report", &req.base, &carbon__v1__report_response__descriptor, &resp);
        if (rc != 0) gwctl_fed_mark_unread(&r->f, i, rc);
        else r->reports[i] = (Carbon__V1__ReportResponse *)resp;
    }
}

static void report_print_json(report_run_t *r) {
    json_t *regions = json_array(), *cross = json_array();
    for (size_t i = 0; i < r->f.n; i++)
        if (r->reports[i] != NULL) json_array_append_new(regions, pbjson_message(&r->reports[i]->base));
    report_cross_check(r, cross);
    gwctl_json_emit(json_pack("{s:o,s:o,s:o,s:o}", "year", gwctl_json_u64(r->year), "reports", regions,
                              "cross_check", cross, "unreachable_regions", gwctl_fed_json_unread(&r->f)));
}

int gwctl_report(int argc, char **argv) {
    CARBON_ASSERT(argc >= 1 && argv != NULL && argv[0] != NULL);
    report_run_t *r = calloc(1, sizeof *r);
    if (r == NULL) abort();
    int rc = report_args(argc, argv, r); /* --help: 0 and no year */
    if (rc == 0 && r->year != 0 && gwctl_fed_connect(&r->f) != 0) rc = GWCTL_EXIT_CREDENTIALS;
    if (rc == 0 && r->year != 0) {
        report_read_all(r);
        uint64_t findings = 0;
        for (size_t i = 0; i < r->f.n; i++) findings += r->reports[i] != NULL ? r->reports[i]->log_findings : 0;
        if (r->json) {
            report_print_json(r);
        } else {
            if (r->csv)
                printf("region,section,origin,methodology,vintage,peer,purpose,beneficiary,first,amount_g,count\r\n");
            for (size_t i = 0; i < r->f.n; i++)
                if (r->reports[i] != NULL) report_print_rows(r, r->reports[i]);
            report_cross_check(r, NULL);
        }
        gwctl_fed_print_unread(&r->f, "report", "their reports and cross-checks are missing");
        rc = r->inconsistent > 0 || findings > 0 ? GWCTL_EXIT_FINDING : r->f.read_exit;
    }
    for (size_t i = 0; i < r->f.n; i++)
        if (r->reports[i] != NULL) protobuf_c_message_free_unpacked(&r->reports[i]->base, NULL);
    gwctl_fed_close(&r->f);
    free(r);
    return rc;
}
