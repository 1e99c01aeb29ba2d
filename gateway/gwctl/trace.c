/* trace.c - gwctl trace: one serial or one transfer followed across every
 * region's audit trail, each hop verified against the region's signed
 * checkpoint (gateway/gwctl/chain.h), printed as a table, JSON or a graph. */
#include "gateway/gwctl/chain.h"
#include "gateway/gwctl/gwctl.h"
#include "common/hex.h"
#include "common/region.h"
#include "gateway/gwctl/targets.h"
#include "common/carbon_assert.h"

#include "adapters/catalog_set.h"
#include "carbon/v1/carbon.pb-c.h"
#include "settlement/audit.h"

#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A forced decision (gwctl resolve) as the audit entry records it. */
typedef struct {
    const char *decision; /* "COMMIT" or "ABORT" */
    char *by;             /* the operator's SPIFFE ID (malloc'd, may be "") */
    char *why;            /* the operator's reason (malloc'd) */
} gwctl_resolution_t;

typedef struct {
    char region[CARBON_REGION_SIZE];
    uint64_t seq, time_ms, grams;
    char event[16];
    char ids[160];
    char verified[48];
    gwctl_resolution_t *resolution; /* malloc'd for a forced resolve, else NULL */
} gwctl_hop_t;

static int gwctl_hop_cmp(const void *a, const void *b) {
    const gwctl_hop_t *x = a, *y = b;
    if (x->time_ms != y->time_ms) return x->time_ms < y->time_ms ? -1 : 1;
    int c = strcmp(x->region, y->region);
    if (c != 0) return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static const char trace_usage[] =
    "usage: gwctl trace SERIAL|TRANSFER-ID --targets REGION=HOST:PORT,... --cert FILE\n"
    "                   --key FILE --ca FILE [--audit-keys DIR] [--catalog-dir DIR]\n"
    "                   [--json | --dot]\n"
    "\n"
    "Follows one serial (REGION:NUMBER, e.g. CN-TJ:1042) or one transfer id across\n"
    "every region's audit trail, merges the hops into one timeline, and verifies\n"
    "each region's chain from each hop up to its latest signed checkpoint (the\n"
    "signature is checked with DIR/REGION-audit-signing.pub; default DIR: the\n"
    "folder of --ca). Options and the subject may come in any order. A forced\n"
    "decision (gwctl resolve) shows who forced it and why under its hop. An\n"
    "auditor certificate of any region may ask every gateway. --dot prints a\n"
    "Graphviz graph.\n"
    "\n"
    "Amounts are shown in each region's display unit from the catalogs in the\n"
    "first of: --catalog-dir DIR, $GWCTL_CATALOG_DIR, ../adapters/catalogs next to\n"
    "the gwctl binary (a build or install tree), the source tree gwctl was built\n"
    "from. Without catalogs, amounts are shown in grams only.\n"
    "\n"
    "A region that cannot be read is named on stderr (and in --json as\n"
    "\"unreachable_regions\"); the hops of the other regions are still printed.\n"
    "--json: one document, seq/time/grams as strings.\n"
    "\n"
    "Exit codes: 0 traced and verified, 1 a chain or checkpoint does not verify or\n"
    "nothing was found, 2 bad usage, 3 a gateway unreachable (after printing what\n"
    "the others hold), 4 a gateway refused, 5 bad local credentials.\n";

typedef struct {
    gwctl_fed_t f;
    const char *subject;
    Carbon__V1__TraceRequest req;
    catalog_set_t *cats;
    gwctl_hop_t *hops;
    size_t hops_n, hops_cap;
    int failures;
    int catalog_explicit;                   /* the folder was asked for: it must load */
} gwctl_trace_t;

/* A malloc'd copy of p[0..n) and a NUL; aborts when out of memory. */
static char *gwctl_strndup(const char *p, size_t n) {
    CARBON_ASSERT(p != NULL);
    char *out = malloc(n + 1);
    if (out == NULL) abort();
    memcpy(out, p, n);
    out[n] = '\0';
    return out;
}

/* Reads a forced resolve from its audit entry: the detail texts decision
 * ("C"/"A"), operator, reason (format v2), or, in entries written before v2,
 * one text "D;WHO: WHY". NULL if it is neither; else free with
 * gwctl_resolution_free. */
static gwctl_resolution_t *gwctl_resolution(const Carbon__V1__AuditEntry *e) {
    const char *d = NULL, *by = "", *why = "";
    size_t by_n = 0;
    if (e->n_detail == 3) {
        d = e->detail[0];
        by = e->detail[1];
        by_n = strlen(by);
        why = e->detail[2];
    } else if (e->n_detail == 1 && e->detail[0][0] != '\0' && e->detail[0][1] == ';') {
        d = e->detail[0];
        const char *text = d + 2, *sep = strstr(text, ": ");
        by = text;
        by_n = sep != NULL ? (size_t)(sep - text) : 0;
        why = sep != NULL ? sep + 2 : text;
    }
    if (d == NULL || (d[0] != 'C' && d[0] != 'A')) return NULL;
    gwctl_resolution_t *r = malloc(sizeof *r);
    if (r == NULL) abort();
    r->decision = d[0] == 'C' ? "COMMIT" : "ABORT";
    r->by = gwctl_strndup(by, by_n);
    r->why = gwctl_strndup(why, strlen(why));
    return r;
}

/* Frees r (NULL is ignored). */
static void gwctl_resolution_free(gwctl_resolution_t *r) {
    if (r == NULL) return;
    free(r->by);
    free(r->why);
    free(r);
}

/* Grams of entry e that concern the subject (every block for a transfer). */
static uint64_t gwctl_hop_grams(const gwctl_trace_t *t, const Carbon__V1__AuditEntry *e) {
    uint64_t grams = 0;
    for (size_t j = 0; j < e->n_blocks; j++) {
        const Carbon__V1__CreditBlock *b = e->blocks[j];
        if (t->req.subject_case == CARBON__V1__TRACE_REQUEST__SUBJECT_SERIAL) {
            const char *colon = strchr(t->subject, ':');
            CARBON_ASSERT(colon != NULL); /* gwctl_trace_request chose SERIAL for it */
            uint64_t serial = strtoull(colon + 1, NULL, 10);
            if (strlen(b->origin_region) != (size_t)(colon - t->subject) ||
                strncmp(t->subject, b->origin_region, (size_t)(colon - t->subject)) != 0 ||
                serial < b->serial_start || serial > b->serial_end)
                continue;
        }
        grams += b->serial_end - b->serial_start + 1;
    }
    return grams;
}

/* Appends region tr's entries to t->hops, each marked with how it was
 * verified (anchored and cp_ok as gwctl_anchor gave them). */
static void gwctl_add_hops(gwctl_trace_t *t, const Carbon__V1__TraceResponse *tr, int anchored, int cp_ok) {
    CARBON_ASSERT(t->hops != NULL && t->hops_cap > 0 && t->hops_n <= t->hops_cap);
    for (size_t k = 0; k < tr->n_entries; k++) {
        const Carbon__V1__AuditEntry *e = tr->entries[k];
        if (t->hops_n == t->hops_cap) {
            t->hops_cap *= 2;
            t->hops = realloc(t->hops, t->hops_cap * sizeof *t->hops);
            if (t->hops == NULL) abort();
        }
        gwctl_hop_t *h = &t->hops[t->hops_n++];
        memset(h, 0, sizeof *h);
        snprintf(h->region, sizeof h->region, "%s", tr->region);
        h->seq = e->seq;
        h->time_ms = e->time_unix_ms;
        snprintf(h->event, sizeof h->event, "%s", e->event);
        size_t used = 0;
        for (size_t j = 0; j < e->n_ids && used + 2 < sizeof h->ids; j++)
            used += (size_t)snprintf(h->ids + used, sizeof h->ids - used, "%s%.32s", j ? "," : "", e->ids[j]);
        gwctl_text_clean(h->region);
        gwctl_text_clean(h->event);
        gwctl_text_clean(h->ids);
        h->grams = gwctl_hop_grams(t, e);
        if (strcmp(e->event, "resolve") == 0) h->resolution = gwctl_resolution(e);
        /* interim (format 3): the hop's entry must parse */
        audit_entry_t parsed;
        char pwhy[160];
        int self_ok = audit_entry_parse(e->seq, (const char *)e->entry.data, e->entry.len, &parsed,
                                        pwhy, sizeof pwhy) == 0;
        if (self_ok) audit_entry_free(&parsed);
        if (!self_ok) t->failures++;
        snprintf(h->verified, sizeof h->verified, "%s",
                 !self_ok ? "BAD HASH" : anchored ? (cp_ok == 2 ? "checkpoint (pinned key)" : "checkpoint")
                                       : cp_ok > 0 ? "after checkpoint" : "no checkpoint");
    }
}

/* Verifies region i's checkpoint and the chain from the first hop up to it:
 * 2 anchored with the pinned key, 1 anchored, 0 not anchored; -1 if the log
 * could not be read. *cp_ok: 2/1 checkpoint verifies (pinned or not), 0 none,
 * -1 bad signature. */
static int gwctl_anchor(gwctl_trace_t *t, size_t i, const Carbon__V1__TraceResponse *tr,
                        const Carbon__V1__GetCheckpointResponse *cr, int *cp_ok) {
    CARBON_ASSERT(i < t->f.n && tr != NULL && cr != NULL && cp_ok != NULL);
    audit_checkpoint_t cp;
    uint8_t pinned[32];
    *cp_ok = 0;
    if (cr->own != NULL) {
        gwctl_cp_from_pb(cr->own, &cp);
        int have_pin = gwctl_pinned_key(&t->f, tr->region, pinned) == 0;
        *cp_ok = audit_checkpoint_verify(&cp, have_pin ? pinned : NULL) ? (have_pin ? 2 : 1) : -1;
    }
    if (*cp_ok < 0) {
        fprintf(stderr, "gwctl trace: %s: the checkpoint's signature does not verify\n", tr->region);
        t->failures++;
    }
    uint64_t first = tr->n_entries > 0 ? tr->entries[0]->seq : 0;
    if (first == 0 || *cp_ok <= 0 || cp.seq < first) return 0;
    char why[256] = "";
    gwctl_walk_t w = {.progress = 0, .why = why, .whylen = sizeof why};
    uint64_t bad = gwctl_walk(&t->f, i, first, cp.seq, tr->entries[0]->prev_hash, &w);
    if (bad == UINT64_MAX) return -1;
    if (bad != 0 || strcmp(w.last_hash, cp.head_hash) != 0) {
        if (why[0] == '\0') snprintf(why, sizeof why, "the chain does not reach the checkpoint's head");
        fprintf(stderr, "gwctl trace: %s: %s\n", tr->region, why);
        t->failures++;
        return 0;
    }
    return 1;
}

/* Reads target i's hops and checkpoint. 0, or the exit code of the failed
 * call (the region is then marked unread and its hops are left out). */
static int gwctl_trace_region(gwctl_trace_t *t, size_t i) {
    CARBON_ASSERT(i < t->f.n && t->f.targets[i].ch != NULL);
    ProtobufCMessage *resp = NULL, *cpresp = NULL;
    int rc = gwctl_fed_call(&t->f, i, "Trace", &t->req.base, &carbon__v1__trace_response__descriptor, &resp);
    if (rc == 0) {
        Carbon__V1__GetCheckpointRequest creq = CARBON__V1__GET_CHECKPOINT_REQUEST__INIT;
        rc = gwctl_fed_call(&t->f, i, "GetCheckpoint", &creq.base,
                              &carbon__v1__get_checkpoint_response__descriptor, &cpresp);
    }
    if (rc == 0) {
        int cp_ok = 0;
        int anchored = gwctl_anchor(t, i, (const Carbon__V1__TraceResponse *)resp,
                                    (const Carbon__V1__GetCheckpointResponse *)cpresp, &cp_ok);
        if (anchored < 0) rc = GWCTL_EXIT_UNREACHABLE;
        else gwctl_add_hops(t, (const Carbon__V1__TraceResponse *)resp, anchored, cp_ok);
    }
    if (resp != NULL) protobuf_c_message_free_unpacked(resp, NULL);
    if (cpresp != NULL) protobuf_c_message_free_unpacked(cpresp, NULL);
    if (rc != 0) gwctl_fed_mark_unread(&t->f, i, rc);
    return rc;
}

/* A hop's resolution as a JSON object {decision, by, reason}. */
static json_t *gwctl_json_resolution(const gwctl_resolution_t *r) {
    json_t *o = json_object();
    json_object_set_new(o, "decision", json_string(r->decision));
    json_object_set_new(o, "by", gwctl_json_text(r->by));
    json_object_set_new(o, "reason", gwctl_json_text(r->why));
    return o;
}

static void gwctl_trace_json(gwctl_trace_t *t) {
    json_t *doc = json_object(), *hops = json_array();
    json_object_set_new(doc, "subject", gwctl_json_text(t->subject));
    for (size_t k = 0; k < t->hops_n; k++) {
        const gwctl_hop_t *h = &t->hops[k];
        const catalog_t *cat = catalog_set_current(t->cats, h->region);
        json_t *ids = json_array();
        char buf[sizeof h->ids];
        snprintf(buf, sizeof buf, "%s", h->ids);
        for (char *save = NULL, *id = strtok_r(buf, ",", &save); id != NULL; id = strtok_r(NULL, ",", &save))
            json_array_append_new(ids, gwctl_json_text(id));
        json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:s}", "region", gwctl_json_text(h->region),
                              "seq", gwctl_json_u64(h->seq), "time_ms", gwctl_json_u64(h->time_ms),
                              "event", gwctl_json_text(h->event), "grams", gwctl_json_u64(h->grams), "units",
                              gwctl_json_u64(cat ? h->grams / cat->display_unit_g : h->grams), "unit",
                              cat ? cat->display_unit : "g", "ids", ids, "verified", h->verified);
        if (h->resolution != NULL) json_object_set_new(o, "resolution", gwctl_json_resolution(h->resolution));
        json_array_append_new(hops, o);
    }
    json_object_set_new(doc, "hops", hops);
    json_object_set_new(doc, "failures", json_integer(t->failures));
    json_object_set_new(doc, "unreachable_regions", gwctl_fed_json_unread(&t->f));
    gwctl_json_emit(doc);
}

/* How many different regions the hops are in. */
static size_t gwctl_trace_regions(const gwctl_trace_t *t) {
    /* a hop's region is what a gateway said: counted up to the number of
     * targets, more cannot be honest */
    const char *seen[GWCTL_TARGETS_MAX];
    size_t n = 0;
    for (size_t k = 0; k < t->hops_n && n < GWCTL_TARGETS_MAX; k++) {
        size_t j = 0;
        while (j < n && strcmp(seen[j], t->hops[k].region) != 0) j++;
        if (j == n) seen[n++] = t->hops[k].region;
    }
    return n;
}

/* The timeline as a table for people, a forced decision under its hop. */
static void gwctl_trace_table(gwctl_trace_t *t, size_t regions_read) {
    static const gwctl_column_t cols[] = {{"TIME_MS", 14, 0, 0}, {"REGION", 6, 0, 0}, {"SEQ", 6, 0, 1},
                                          {"EVENT", 8, 0, 0},    {"AMOUNT", 22, 0, 0}, {"VERIFIED", 25, 0, 0},
                                          {"IDS", 0, 80, 0}};
    const gwctl_table_t table = {cols, sizeof cols / sizeof cols[0], NULL};
    gwctl_table_head(stdout, &table);
    for (size_t k = 0; k < t->hops_n; k++) {
        const gwctl_hop_t *h = &t->hops[k];
        const catalog_t *cat = catalog_set_current(t->cats, h->region);
        char amount[AMOUNT_TEXT_MAX], time_ms[GWCTL_U64_TEXT], seq[GWCTL_U64_TEXT];
        if (h->grams > 0) amount_format_catalog(amount, sizeof amount, h->grams, cat);
        else snprintf(amount, sizeof amount, "-");
        const char *cells[] = {gwctl_u64_text(time_ms, h->time_ms), h->region, gwctl_u64_text(seq, h->seq),
                               h->event, amount, h->verified, h->ids};
        gwctl_table_row(stdout, &table, cells);
        if (h->resolution != NULL) {
            printf("%-14s forced %s by ", "", h->resolution->decision);
            gwctl_print_clean(h->resolution->by[0] ? h->resolution->by : "(not recorded)");
            printf(", reason: ");
            gwctl_print_clean(h->resolution->why);
            putchar('\n');
        }
    }
    printf("%zu hops in %zu regions (%zu regions read), %d verification failures\n", t->hops_n,
           gwctl_trace_regions(t), regions_read, t->failures);
}

static void gwctl_trace_dot(gwctl_trace_t *t) {
    printf("digraph trace {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
    for (size_t k = 0; k < t->hops_n; k++) {
        const gwctl_hop_t *h = &t->hops[k];
        const catalog_t *cat = catalog_set_current(t->cats, h->region);
        char amount[AMOUNT_TEXT_MAX];
        amount_format_catalog(amount, sizeof amount, h->grams, cat);
        printf("  h%zu [label=\"%s #%" PRIu64 "\\n%s\\n%s\"];\n", k, h->region, h->seq, h->event, amount);
        if (k > 0) printf("  h%zu -> h%zu;\n", k - 1, k);
    }
    printf("}\n");
}

/* Takes the subject (the first argument that is neither an option nor an
 * option's value) out of argv, wherever it is: gwctl_parse stops at the
 * first non-option ("+" in its getopt string) and accepts none. rest[0] is
 * the command name. Returns the subject, or NULL if there is none. */
static const char *gwctl_take_subject(int argc, char **argv, const gwctl_opt_t *opts, char **rest, int *rest_n) {
    const char *subject = NULL;
    int n = 0, options_end = 0;
    rest[n++] = argv[0];
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        if (!options_end && strcmp(a, "--") == 0) {
            options_end = 1;
            continue;
        }
        if (options_end || a[0] != '-' || a[1] == '\0') {
            if (subject == NULL) {
                subject = a;
                continue;
            }
            rest[n++] = argv[k];
            continue;
        }
        rest[n++] = argv[k];
        if (a[1] != '-' || strchr(a, '=') != NULL) continue;
        for (const gwctl_opt_t *o = opts; o->name != NULL; o++)
            if (o->has_arg && strcmp(a + 2, o->name) == 0 && k + 1 < argc) rest[n++] = argv[++k];
    }
    rest[n] = NULL;
    *rest_n = n;
    return subject;
}

/* Parses trace's arguments into t. 0, or the exit code to return. */
static int gwctl_trace_args(int argc, char **argv, gwctl_trace_t *t, int *json, int *dot) {
    const char *targets = getenv("GWCTL_TARGETS"), *timeout = "10000", *catalog_dir = NULL;
    const gwctl_opt_t opts[] = {{"targets", 1, &targets, NULL}, {"cert", 1, &t->f.cert, NULL},
                                {"key", 1, &t->f.key, NULL},         {"ca", 1, &t->f.ca, NULL},
                                {"audit-keys", 1, &t->f.keys_dir, NULL}, {"catalog-dir", 1, &catalog_dir, NULL},
                                {"timeout-ms", 1, &timeout, NULL}, {"json", 0, NULL, json},
                                {"dot", 0, NULL, dot},           {0}};
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (rest == NULL) abort();
    int rest_n = 0;
    t->subject = gwctl_take_subject(argc, argv, opts, rest, &rest_n);
    int rc = gwctl_parse(rest_n, rest, opts, NULL, trace_usage);
    free(rest);
    if (rc > 0) t->subject = NULL; /* --help: printed, nothing more to do */
    if (rc != 0) return rc > 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_USAGE;
    uint64_t ms;
    if (t->subject == NULL || targets == NULL || t->f.cert == NULL || t->f.key == NULL || t->f.ca == NULL ||
        gwctl_parse_u64(timeout, &ms) != 0 || ms == 0) {
        fprintf(stderr, "gwctl trace: a subject, --targets, --cert, --key and --ca are required\n\n%s", trace_usage);
        return GWCTL_EXIT_USAGE;
    }
    if (gwctl_fed_parse(&t->f, "trace", targets) != 0) return GWCTL_EXIT_USAGE;
    t->f.timeout_ms = (long)ms;
    static char catalog_buf[PATH_MAX + 32];
    const char *env = getenv("GWCTL_CATALOG_DIR");
    t->catalog_explicit = catalog_dir != NULL || (env != NULL && env[0] != '\0');
    t->f.catalog_dir = gwctl_catalog_dir(catalog_dir, catalog_buf, sizeof catalog_buf);
    return 0;
}

/* Loads the catalogs into t->cats: an explicit folder must load; a default
 * one that does not is reported and amounts are then shown in grams. */
static int gwctl_trace_catalogs(gwctl_trace_t *t) {
    t->cats = catalog_set_new();
    char err[512];
    if (t->f.catalog_dir == NULL) {
        fprintf(stderr, "gwctl trace: no catalog folder found (give --catalog-dir or $GWCTL_CATALOG_DIR); "
                        "amounts in grams\n");
        return 0;
    }
    if (catalog_set_load_dir(t->cats, t->f.catalog_dir, err, sizeof err) < 0) {
        fprintf(stderr, "gwctl trace: %s\n", err);
        if (t->catalog_explicit) return GWCTL_EXIT_USAGE;
        catalog_set_free(t->cats);
        t->cats = catalog_set_new();
    }
    return 0;
}

/* The Trace request of t->subject: a serial (REGION:NUMBER) or a transfer id. */
static void gwctl_trace_request(gwctl_trace_t *t) {
    CARBON_ASSERT(t->subject != NULL);
    Carbon__V1__TraceRequest init = CARBON__V1__TRACE_REQUEST__INIT;
    t->req = init;
    if (strchr(t->subject, ':') != NULL) {
        t->req.subject_case = CARBON__V1__TRACE_REQUEST__SUBJECT_SERIAL;
        t->req.serial = (char *)t->subject;
    } else {
        t->req.subject_case = CARBON__V1__TRACE_REQUEST__SUBJECT_TRANSFER_ID;
        t->req.transfer_id = (char *)t->subject;
    }
}

/* Frees the hops, closes the channels and frees the catalogs. */
static void gwctl_trace_free(gwctl_trace_t *t) {
    CARBON_ASSERT(t->hops_n <= t->hops_cap);
    for (size_t k = 0; k < t->hops_n; k++) gwctl_resolution_free(t->hops[k].resolution);
    free(t->hops);
    gwctl_fed_close(&t->f);
    catalog_set_free(t->cats);
}

int gwctl_trace(int argc, char **argv) {
    CARBON_ASSERT(argc >= 1 && argv != NULL && argv[0] != NULL);
    gwctl_trace_t t = {.f = {.cert = getenv("GWCTL_CERT"), .key = getenv("GWCTL_KEY"), .ca = getenv("GWCTL_CA")}};
    int json = 0, dot = 0;
    int rc = gwctl_trace_args(argc, argv, &t, &json, &dot);
    if (rc != 0 || t.subject == NULL) return rc;
    gwctl_fed_default_keys_dir(&t.f);
    gwctl_trace_request(&t);
    rc = gwctl_trace_catalogs(&t);
    if (rc == 0 && gwctl_fed_connect(&t.f) != 0) rc = GWCTL_EXIT_CREDENTIALS;
    if (rc != 0) {
        gwctl_fed_close(&t.f);
        catalog_set_free(t.cats);
        return rc;
    }
    t.hops_cap = 1024;
    t.hops = calloc(t.hops_cap, sizeof *t.hops);
    if (t.hops == NULL) abort();
    size_t read_n = 0;
    for (size_t i = 0; i < t.f.n; i++) read_n += gwctl_trace_region(&t, i) == 0;
    qsort(t.hops, t.hops_n, sizeof *t.hops, gwctl_hop_cmp);
    if (dot) gwctl_trace_dot(&t);
    else if (json) gwctl_trace_json(&t);
    else gwctl_trace_table(&t, read_n);
    gwctl_fed_print_unread(&t.f, "trace", "the timeline lacks their hops");
    int exit_code = t.failures > 0 ? GWCTL_EXIT_FINDING
                  : t.f.read_exit != 0 ? t.f.read_exit
                  : t.hops_n == 0 ? GWCTL_EXIT_FINDING : GWCTL_EXIT_OK;
    gwctl_trace_free(&t);
    return exit_code;
}
