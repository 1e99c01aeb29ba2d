/* model_check.c - gwctl audit model-check (model_check.h): reads every
 * target region's whole log with Audit.ReadLog (gwctl_log_read, the reader
 * of gwctl audit verify, and its one parser), feeds it to the trace checker
 * and prints what is not a step of the model. */
#include "gateway/gwctl/model_check.h"
#include "gateway/gwctl/gwctl.h"
#include "gateway/gwctl/replay.h"
#include "gateway/gwctl/targets.h"
#include "common/carbon_assert.h"

#include "settlement/ledger.h"
#include "settlement/trace_check.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GWCTL_MC_SKEW_MS_DEFAULT "1000"
#define GWCTL_MC_SKEW_MS_MAX 3600000u
_Static_assert(GWCTL_TARGETS_MAX <= TRACE_CHECK_REGIONS_MAX, "every target's region fits the checker");

static const char model_check_usage[] =
    "usage: gwctl audit model-check --targets REGION=HOST:PORT,... --cert FILE --key FILE\n"
    "                               --ca FILE [--max-skew-ms N] [--timeout-ms N] [--json]\n"
    "\n"
    "Reads the whole audit log of every region in --targets (ReadLog, in pages of\n"
    "1000 entries, as gwctl audit verify does) and checks every transfer's legs\n"
    "against the settlement protocol model's transitions (tests/model/settlement.pml;\n"
    "tests/model/README.md says what is checked). Each entry must be a step the\n"
    "model allows from the leg's state in that region (no apply of a leg never\n"
    "prepared, no second commit, a resolve only with the decision it forced, ...),\n"
    "and the regions' steps must agree: a destination applies only what its source\n"
    "committed and drops only what it aborted (unless an operator forced it), a\n"
    "source commits only after the destination's prepare (its yes vote) and is\n"
    "acknowledged only for what the destination holds, the origin of a third\n"
    "region's serials (origin-prepare, origin-commit, origin-abort) decides only as\n"
    "the source did and is acknowledged (origin-acked) only once it did, a heuristic\n"
    "settlement names the coordinator's decision. One line per finding: region,\n"
    "entry, transfer, event, the leg's state, the model's transition and why; then\n"
    "a summary (entries, transfers, time taken). An event the model has no\n"
    "transition for is a finding.\n"
    "\n"
    "The logs are read one after the other: on a busy federation a step that needs\n"
    "an entry of a region newer than the moment that region's log was read is not\n"
    "judged (counted as \"too recent\"). A step more than --max-skew-ms (default\n"
    "1000, the most two gateways' clocks may differ) before the step it follows is\n"
    "a finding. A region whose log cannot be read is named on stderr (and in --json\n"
    "as \"unreachable_regions\"); the others are still checked, and nothing that\n"
    "needs its log is judged. An auditor certificate of any region may ask every\n"
    "gateway. --json: one document; entry numbers, log lengths and times as strings,\n"
    "counts of transfers, legs and findings as numbers.\n"
    "\n"
    "Exit codes: 0 every step is a step of the model, 1 a finding, 2 bad usage,\n"
    "3 a target unreachable (after checking the others), 4 a target refused, 5 bad\n"
    "local credentials.\n";

typedef struct {
    gwctl_fed_t f;
    trace_check_t *tc;
    uint64_t skew_ms;
    int json;
    int idx[GWCTL_TARGETS_MAX]; /* each target's region in the checker */
    json_t *list;            /* --json: the findings */
    uint64_t check_ns;       /* time spent checking (not reading) */
} gwctl_mc_t;

typedef struct {
    gwctl_mc_t *m;
    int r;
} gwctl_mc_sink_t;

static uint64_t gwctl_mc_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void gwctl_mc_entry(void *ctx, const audit_entry_t *e) {
    gwctl_mc_sink_t *s = ctx;
    uint64_t t0 = gwctl_mc_now_ns();
    trace_check_entry(s->m->tc, s->r, e);
    s->m->check_ns += gwctl_mc_now_ns() - t0;
}

static void gwctl_mc_unreadable(void *ctx, uint64_t seq, const char *why) {
    gwctl_mc_sink_t *s = ctx;
    trace_check_unreadable(s->m->tc, s->r, seq, why);
}

static void gwctl_mc_emit(void *ctx, const trace_check_finding_t *f) {
    gwctl_mc_t *m = ctx;
    if (m->list == NULL) {
        char line[sizeof f->text];
        snprintf(line, sizeof line, "%s", f->text);
        gwctl_text_clean(line);
        printf("  %s\n", line);
        return;
    }
    json_t *j = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "region", gwctl_json_text(f->region), "seq",
                          gwctl_json_u64(f->seq), "transfer_id", gwctl_json_text(f->tid), "event",
                          gwctl_json_text(f->event), "state", gwctl_json_text(f->state), "rule",
                          gwctl_json_text(f->rule), "text", gwctl_json_text(f->text));
    if (j == NULL) abort();
    json_array_append_new(m->list, j);
}

/* Reads target i's whole log into the checker. An unread log (or one cut
 * short) judges nothing that needs it (its horizon is 0). */
static void gwctl_mc_read(gwctl_mc_t *m, size_t i) {
    gwctl_mc_sink_t s = {.m = m, .r = m->idx[i]};
    trace_check_horizon(m->tc, s.r, ledger_now_ms());
    gwctl_log_sink_t sink = {gwctl_mc_entry, gwctl_mc_unreadable, &s};
    uint64_t log_size = 0;
    int rc = gwctl_log_read(&m->f, i, &log_size, &sink);
    if (rc != 0) {
        gwctl_fed_mark_unread(&m->f, i, rc);
        trace_check_horizon(m->tc, s.r, 0);
    }
    if (!m->json) fprintf(stderr, "%s: %" PRIu64 " entries read%s\n", m->f.targets[i].where.region, log_size,
                          rc != 0 ? " (then the read failed)" : "");
}

/* Parses the arguments into m. 0, or the exit code to return. */
static int gwctl_mc_args(int argc, char **argv, gwctl_mc_t *m) {
    const char *targets = getenv("GWCTL_TARGETS"), *timeout = "30000", *skew = GWCTL_MC_SKEW_MS_DEFAULT;
    const gwctl_opt_t opts[] = {{"targets", 1, &targets, NULL},  {"cert", 1, &m->f.cert, NULL},
                                {"key", 1, &m->f.key, NULL},         {"ca", 1, &m->f.ca, NULL},
                                {"timeout-ms", 1, &timeout, NULL},   {"max-skew-ms", 1, &skew, NULL},
                                {"json", 0, NULL, &m->json},         {0}};
    int rc = gwctl_parse(argc, argv, opts, NULL, model_check_usage);
    if (rc != 0) return rc > 0 ? -1 : GWCTL_EXIT_USAGE;
    uint64_t t = 0;
    if (targets == NULL || m->f.cert == NULL || m->f.key == NULL || m->f.ca == NULL ||
        gwctl_parse_u64(timeout, &t) != 0 || t == 0 || t > GWCTL_TIMEOUT_MS_MAX ||
        gwctl_parse_u64(skew, &m->skew_ms) != 0 || m->skew_ms > GWCTL_MC_SKEW_MS_MAX) {
        fprintf(stderr, "gwctl audit model-check: --targets, --cert, --key and --ca are required; --timeout-ms "
                        "1..%ld, --max-skew-ms 0..%u\n\n%s", GWCTL_TIMEOUT_MS_MAX, GWCTL_MC_SKEW_MS_MAX,
                model_check_usage);
        return GWCTL_EXIT_USAGE;
    }
    if (gwctl_fed_parse(&m->f, "audit model-check", targets) != 0) return GWCTL_EXIT_USAGE;
    m->f.timeout_ms = (long)t;
    for (size_t i = 0; i < m->f.n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(m->f.targets[i].where.region, m->f.targets[j].where.region) == 0) {
                fprintf(stderr, "gwctl audit model-check: --targets names %s twice\n", m->f.targets[i].where.region);
                return GWCTL_EXIT_USAGE;
            }
    return 0;
}

/* The summary: --json's document, or lines for people. */
static void gwctl_mc_print(gwctl_mc_t *m, size_t found, uint64_t elapsed_ms) {
    trace_check_stats_t s;
    trace_check_stats(m->tc, &s);
    uint64_t check_ms = m->check_ns / 1000000u;
    if (m->json) {
        /* log lengths and times as strings, counts of things as numbers (README) */
        json_t *doc = json_pack("{s:o, s:o, s:I, s:I, s:I, s:I, s:o, s:o, s:I, s:o, s:o}", "entries",
                                gwctl_json_u64(s.entries), "leg_entries", gwctl_json_u64(s.leg_entries), "transfers",
                                (json_int_t)s.transfers, "legs", (json_int_t)s.legs, "unpaired_legs",
                                (json_int_t)s.unpaired, "too_recent", (json_int_t)s.too_recent, "check_ms",
                                gwctl_json_u64(check_ms), "elapsed_ms", gwctl_json_u64(elapsed_ms), "findings_n",
                                (json_int_t)found, "findings", m->list, "unreachable_regions",
                                gwctl_fed_json_unread(&m->f));
        if (doc == NULL) abort();
        m->list = NULL; /* the document owns it */
        gwctl_json_emit(doc);
        return;
    }
    printf("model check: %" PRIu64 " entries (%" PRIu64 " steps of legs) of %zu regions, %zu transfers (%zu legs) "
           "checked against the model's transitions in %" PRIu64 " ms (%" PRIu64 " ms with reading)\n",
           s.entries, s.leg_entries, m->f.n, s.transfers, s.legs, check_ms, elapsed_ms);
    if (s.unpaired > 0 || s.too_recent > 0)
        printf("  not judged across regions: %zu legs whose peer's log was not read, %zu steps too recent\n",
               s.unpaired, s.too_recent);
    if (found == 0) printf("model check: every step is a step of the model\n");
    else printf("MODEL CHECK FOUND %zu STEPS THE MODEL DOES NOT ALLOW (above)\n", found);
    gwctl_fed_print_unread(&m->f, "audit model-check", "nothing that needs their logs was judged");
}

int gwctl_model_check(int argc, char **argv) {
    CARBON_ASSERT(argc >= 1 && argv != NULL && argv[0] != NULL);
    gwctl_mc_t *m = calloc(1, sizeof *m);
    if (m == NULL) abort();
    m->f.cert = getenv("GWCTL_CERT");
    m->f.key = getenv("GWCTL_KEY");
    m->f.ca = getenv("GWCTL_CA");
    int rc = gwctl_mc_args(argc, argv, m);
    if (rc == 0 && gwctl_fed_connect(&m->f) != 0) rc = GWCTL_EXIT_CREDENTIALS;
    if (rc != 0) {
        gwctl_fed_close(&m->f);
        free(m);
        return rc < 0 ? GWCTL_EXIT_OK : rc;
    }
    uint64_t t0 = gwctl_mc_now_ns();
    m->tc = trace_check_new(m->skew_ms);
    for (size_t i = 0; i < m->f.n; i++) {
        m->idx[i] = trace_check_region(m->tc, m->f.targets[i].where.region);
        CARBON_ASSERT(m->idx[i] >= 0); /* distinct (gwctl_mc_args), at most TRACE_CHECK_REGIONS_MAX */
    }
    for (size_t i = 0; i < m->f.n; i++) gwctl_mc_read(m, i);
    m->list = m->json ? json_array() : NULL;
    uint64_t f0 = gwctl_mc_now_ns();
    size_t found = trace_check_finish(m->tc, gwctl_mc_emit, m);
    m->check_ns += gwctl_mc_now_ns() - f0;
    gwctl_mc_print(m, found, (gwctl_mc_now_ns() - t0) / 1000000u);
    json_decref(m->list);
    int exit_code = found > 0 ? GWCTL_EXIT_FINDING : m->f.read_exit != 0 ? m->f.read_exit : GWCTL_EXIT_OK;
    trace_check_free(m->tc);
    gwctl_fed_close(&m->f);
    free(m);
    return exit_code;
}
