/* trace.c - gwctl trace: one serial or one transfer followed across every
 * region's audit log, each hop decoded from the entry's own bytes and
 * verified with its inclusion proof against the region's checkpoint, signed
 * by its pinned key and cosigned by its peers (gateway/gwctl/proofs.h);
 * printed as a table, JSON or a graph. */
#include "gateway/gwctl/proofs.h"
#include "gateway/gwctl/gwctl.h"
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
    "                   --key FILE --ca FILE [--audit-keys DIR] [--cosigners N]\n"
    "                   [--catalog-dir DIR] [--timeout-ms N] [--json | --dot]\n"
    "\n"
    "Follows one serial (REGION:NUMBER, e.g. CN-TJ:1042) or one transfer id across\n"
    "every region's audit log and merges the hops into one timeline. Each hop is\n"
    "decoded from the entry's own bytes (docs/audit-log.md) and verified with its\n"
    "RFC 9162 inclusion proof (O(log n) hashes) against the region's checkpoint,\n"
    "whose signature must verify with the region's pinned key\n"
    "DIR/REGION-audit-signing.pub (default DIR: the folder of --ca) and which must\n"
    "carry valid cosignatures of at least N peers (their pinned keys, under\n"
    "jjj.carbon/PEER/witness; default N: every other region whose key is in DIR).\n"
    "The peers that cosigned each region's checkpoint are printed. A hop newer\n"
    "than the checkpoint is shown as \"pending\" (not yet provable). Options and\n"
    "the subject may come in any order. A forced decision (gwctl resolve) shows\n"
    "who forced it and why under its hop. An auditor certificate of any region\n"
    "may ask every gateway. --dot prints a Graphviz graph.\n"
    "\n"
    "Amounts are shown in each region's display unit from the catalogs in the\n"
    "first of: --catalog-dir DIR, $GWCTL_CATALOG_DIR, ../adapters/catalogs next to\n"
    "the gwctl binary (a build or install tree), the source tree gwctl was built\n"
    "from. Without catalogs, amounts are shown in grams only.\n"
    "\n"
    "A region that cannot be read is named on stderr (and in --json as\n"
    "\"unreachable_regions\"); the hops of the other regions are still printed.\n"
    "--json: one document, seq/time/grams/sizes as strings. --timeout-ms N: each\n"
    "call's deadline (default 10000).\n"
    "\n"
    "Exit codes: 0 traced and verified, 1 a proof, an entry, a checkpoint or its\n"
    "cosignatures do not verify, fewer than N peers cosigned, or nothing was\n"
    "found (stderr names the region and entry), 2 bad usage, 3 a gateway\n"
    "unreachable (after printing what the others hold), 4 a gateway refused, 5 bad\n"
    "local credentials.\n";

/* What trace established about one region's checkpoint. */
typedef struct {
    char region[CARBON_REGION_SIZE];
    int state;              /* 0: no hop there, 1: verified, -1: did not verify */
    size_t required;        /* cosignatures required of it */
    gwctl_checkpoint_t cp;  /* when state is 1 */
} gwctl_trace_cp_t;

typedef struct {
    gwctl_fed_t f;
    const char *subject;
    Carbon__V1__TraceRequest req;
    catalog_set_t *cats;
    gwctl_hop_t *hops;
    size_t hops_n, hops_cap;
    int failures;
    int catalog_explicit;                   /* the folder was asked for: it must load */
    gwctl_pins_t pins;                      /* the keys pinned in --audit-keys */
    int cosigners_given;                    /* --cosigners was given: */
    uint64_t cosigners;                     /* its value */
    size_t pending;                         /* hops newer than their region's checkpoint */
    gwctl_trace_cp_t cps[GWCTL_TARGETS_MAX]; /* per target, in --targets order */
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

/* Reads a forced resolve from its decoded entry: the detail texts decision
 * ("C"/"A"), operator, reason. NULL if it is not that; else free with
 * gwctl_resolution_free. */
static gwctl_resolution_t *gwctl_resolution(const audit_entry_t *e) {
    if (e->detail_n != 3 || e->detail_len[0] != 1) return NULL;
    char d = e->detail_text[0][0];
    if (d != 'C' && d != 'A') return NULL;
    gwctl_resolution_t *r = malloc(sizeof *r);
    if (r == NULL) abort();
    r->decision = d == 'C' ? "COMMIT" : "ABORT";
    r->by = gwctl_strndup(e->detail_text[1], e->detail_len[1]);
    r->why = gwctl_strndup(e->detail_text[2], e->detail_len[2]);
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
static uint64_t gwctl_hop_grams(const gwctl_trace_t *t, const audit_entry_t *e) {
    uint64_t grams = 0;
    for (size_t j = 0; j < e->blocks_n; j++) {
        const ledger_block_t *b = &e->blocks[j];
        if (t->req.subject_case == CARBON__V1__TRACE_REQUEST__SUBJECT_SERIAL) {
            const char *colon = strchr(t->subject, ':');
            CARBON_ASSERT(colon != NULL); /* gwctl_trace_request chose SERIAL for it */
            uint64_t serial = strtoull(colon + 1, NULL, 10);
            if (strlen(b->origin) != (size_t)(colon - t->subject) ||
                strncmp(t->subject, b->origin, (size_t)(colon - t->subject)) != 0 || serial < b->first ||
                serial > b->last)
                continue;
        }
        grams += b->last - b->first + 1;
    }
    return grams;
}

/* A new hop of region at the end of t->hops (zeroed but for the region). */
static gwctl_hop_t *gwctl_hop_new(gwctl_trace_t *t, const char *region) {
    CARBON_ASSERT(t->hops != NULL && t->hops_cap > 0 && t->hops_n <= t->hops_cap);
    if (t->hops_n == t->hops_cap) {
        t->hops_cap *= 2;
        t->hops = realloc(t->hops, t->hops_cap * sizeof *t->hops);
        if (t->hops == NULL) abort();
    }
    gwctl_hop_t *h = &t->hops[t->hops_n++];
    memset(h, 0, sizeof *h);
    snprintf(h->region, sizeof h->region, "%s", region);
    gwctl_text_clean(h->region);
    return h;
}

/* Fills hop h from the entry decoded from its own bytes. */
static void gwctl_hop_fill(gwctl_trace_t *t, gwctl_hop_t *h, const audit_entry_t *d) {
    h->seq = d->seq;
    h->time_ms = d->time_ms;
    snprintf(h->event, sizeof h->event, "%s", d->event);
    size_t used = 0;
    for (size_t j = 0; j < d->ids_n && used + 2 < sizeof h->ids; j++)
        used += (size_t)snprintf(h->ids + used, sizeof h->ids - used, "%s%.32s", j ? "," : "", d->ids[j]);
    gwctl_text_clean(h->event);
    gwctl_text_clean(h->ids);
    h->grams = gwctl_hop_grams(t, d);
    if (strcmp(d->event, "resolve") == 0) h->resolution = gwctl_resolution(d);
}

/* A finding about entry seq of region: counted, and said on stderr. */
static void gwctl_trace_finding(gwctl_trace_t *t, const char *region, uint64_t seq, const char *why) {
    t->failures++;
    fprintf(stderr, "gwctl trace: %s entry %" PRIu64 ": %s\n", region, seq, why);
}

/* Verifies one entry m of region (checkpoint c) with its proof p (NULL:
 * none sent) and adds its hop, decoded from its bytes. */
static void gwctl_trace_entry(gwctl_trace_t *t, const gwctl_trace_cp_t *c, const Carbon__V1__AuditEntry *m,
                              const Carbon__V1__InclusionProof *p) {
    gwctl_hop_t *h = gwctl_hop_new(t, c->region);
    audit_entry_t d;
    char why[512] = "";
    h->seq = m->seq;
    h->time_ms = m->time_unix_ms; /* only to place a bad entry in the timeline */
    if (m->entry.len == 0 || audit_entry_parse(m->seq, (const char *)m->entry.data, m->entry.len, &d, why,
                                               sizeof why) != 0) {
        snprintf(h->event, sizeof h->event, "?");
        snprintf(h->verified, sizeof h->verified, "BAD ENTRY");
        char msg[640];
        snprintf(msg, sizeof msg, "its bytes are not a carbon-audit/3 entry: %s", m->entry.len ? why : "none sent");
        gwctl_trace_finding(t, c->region, m->seq, msg);
        return;
    }
    gwctl_hop_fill(t, h, &d);
    int fields_ok = gwctl_entry_fields_match(m, &d);
    audit_entry_free(&d);
    if (!fields_ok) {
        snprintf(h->verified, sizeof h->verified, "BAD FIELDS");
        gwctl_trace_finding(t, c->region, m->seq, "the gateway's decoded fields differ from the entry's bytes");
        return;
    }
    if (c->state != 1) {
        snprintf(h->verified, sizeof h->verified, "NO CHECKPOINT");
        return; /* the region's finding is counted once, by gwctl_trace_checkpoint */
    }
    uint64_t size = c->cp.body.size;
    if (p == NULL || p->tree_size == 0) {
        if (m->seq > size) {
            snprintf(h->verified, sizeof h->verified, "pending (after %" PRIu64 ")", size);
            t->pending++;
            return;
        }
        snprintf(h->verified, sizeof h->verified, "NO PROOF");
        gwctl_trace_finding(t, c->region, m->seq, "no inclusion proof, though the checkpoint covers it");
        return;
    }
    if (gwctl_inclusion_check(&c->cp, m->seq, m->entry.data, m->entry.len, p->leaf_index, p->tree_size,
                              p->hashes, p->n_hashes, why, sizeof why) != 0) {
        snprintf(h->verified, sizeof h->verified, "BAD PROOF");
        gwctl_trace_finding(t, c->region, m->seq, why);
        return;
    }
    snprintf(h->verified, sizeof h->verified, "proof to %" PRIu64, size);
}

/* The cosignatures required of region's checkpoint: --cosigners, or else
 * one per other region whose key is pinned. */
static size_t gwctl_trace_required(const gwctl_trace_t *t, const char *region) {
    if (t->cosigners_given) return (size_t)t->cosigners;
    size_t n = 0;
    for (size_t k = 0; k < t->pins.n; k++) n += strcmp(t->pins.pins[k].region, region) != 0;
    return n;
}

/* Opens region's checkpoint from its Trace answer tr into c: its signature
 * and its cosignatures, at least c->required of them. */
static void gwctl_trace_checkpoint(gwctl_trace_t *t, gwctl_trace_cp_t *c, const Carbon__V1__TraceResponse *tr) {
    char why[512] = "";
    c->state = -1;
    if (gwctl_checkpoint_open(&t->pins, c->region, tr->checkpoint.data, tr->checkpoint.len, &c->cp, why,
                              sizeof why) != 0) {
        t->failures++;
        fprintf(stderr, "gwctl trace: %s: %s\n", c->region, why);
        return;
    }
    c->state = 1;
    if (c->cp.cosigners_n < c->required) {
        t->failures++;
        fprintf(stderr, "gwctl trace: %s: its checkpoint at size %" PRIu64 " has %zu peer cosignatures, %zu required "
                        "(--cosigners)\n", c->region, c->cp.body.size, c->cp.cosigners_n, c->required);
    }
}

/* Reads target i's hops with their proofs and checkpoint and verifies them.
 * 0, or the exit code of the failed call (the region is then marked unread
 * and its hops are left out). */
static int gwctl_trace_region(gwctl_trace_t *t, size_t i) {
    CARBON_ASSERT(i < t->f.n && t->f.targets[i].ch != NULL);
    gwctl_trace_cp_t *c = &t->cps[i];
    snprintf(c->region, sizeof c->region, "%s", t->f.targets[i].where.region);
    c->required = gwctl_trace_required(t, c->region);
    t->req.min_cosignatures = c->required > UINT32_MAX ? UINT32_MAX : (uint32_t)c->required;
    ProtobufCMessage *resp = NULL;
    int rc = gwctl_fed_call(&t->f, i, "Trace", &t->req.base, &carbon__v1__trace_response__descriptor, &resp);
    if (rc == GWCTL_EXIT_FINDING) { /* DATA_LOSS: its log cannot prove its own checkpoint */
        t->failures++;
        fprintf(stderr, "gwctl trace: %s: its log cannot prove the checkpoint it signed: VERIFICATION FAILED\n",
                c->region);
    }
    if (rc != 0) {
        gwctl_fed_mark_unread(&t->f, i, rc);
        return rc;
    }
    const Carbon__V1__TraceResponse *tr = (const Carbon__V1__TraceResponse *)resp;
    if (strcmp(tr->region, c->region) != 0) {
        t->failures++;
        fprintf(stderr, "gwctl trace: the gateway at %s says it is %.16s, not %s\n", t->f.targets[i].where.address,
                tr->region, c->region);
    } else if (tr->n_entries > 0) {
        gwctl_trace_checkpoint(t, c, tr);
        for (size_t k = 0; k < tr->n_entries; k++)
            gwctl_trace_entry(t, c, tr->entries[k], k < tr->n_proofs ? tr->proofs[k] : NULL);
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

/* A hop's resolution as a JSON object {decision, by, reason}. */
static json_t *gwctl_json_resolution(const gwctl_resolution_t *r) {
    json_t *o = json_object();
    json_object_set_new(o, "decision", json_string(r->decision));
    json_object_set_new(o, "by", gwctl_json_text(r->by));
    json_object_set_new(o, "reason", gwctl_json_text(r->why));
    return o;
}

/* Each region's checkpoint that hops were proved against, with its cosigners. */
static json_t *gwctl_trace_json_checkpoints(const gwctl_trace_t *t) {
    json_t *a = json_array();
    for (size_t i = 0; i < t->f.n; i++) {
        const gwctl_trace_cp_t *c = &t->cps[i];
        if (c->state == 0) continue;
        json_t *cos = json_array();
        for (size_t k = 0; c->state == 1 && k < c->cp.cosigners_n; k++)
            json_array_append_new(cos, gwctl_json_text(c->cp.cosigners[k]));
        char root[GWCTL_HASH_B64_SIZE] = "";
        if (c->state == 1) gwctl_hash_b64(&c->cp.root, root);
        json_array_append_new(a, json_pack("{s:o, s:b, s:o, s:s, s:o, s:o}", "region", gwctl_json_text(c->region),
                                           "verified", c->state == 1, "size",
                                           gwctl_json_u64(c->state == 1 ? c->cp.body.size : 0), "root", root,
                                           "cosigners", cos, "cosigners_required", json_integer((json_int_t)c->required)));
    }
    return a;
}

/* One line per region with hops: its checkpoint and who cosigned it. */
static void gwctl_trace_print_checkpoints(const gwctl_trace_t *t) {
    for (size_t i = 0; i < t->f.n; i++) {
        const gwctl_trace_cp_t *c = &t->cps[i];
        if (c->state == 0) continue;
        if (c->state < 0) {
            printf("%s: checkpoint DOES NOT VERIFY (see above)\n", c->region);
            continue;
        }
        char root[GWCTL_HASH_B64_SIZE];
        gwctl_hash_b64(&c->cp.root, root);
        printf("%s: checkpoint size %" PRIu64 " root %s, signed with %s's pinned key; cosigned by ", c->region,
               c->cp.body.size, root, c->region);
        for (size_t k = 0; k < c->cp.cosigners_n; k++) printf("%s%s", k ? ", " : "", c->cp.cosigners[k]);
        printf("%s (%zu of %zu required)%s\n", c->cp.cosigners_n ? "" : "no peer", c->cp.cosigners_n, c->required,
               c->cp.cosigners_n < c->required ? ": TOO FEW" : "");
    }
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
    json_object_set_new(doc, "checkpoints", gwctl_trace_json_checkpoints(t));
    json_object_set_new(doc, "pending", json_integer((json_int_t)t->pending));
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
    gwctl_trace_print_checkpoints(t);
    if (t->pending > 0)
        printf("%zu hops are newer than their region's checkpoint: pending, not yet provable\n", t->pending);
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
    const char *targets = getenv("GWCTL_TARGETS"), *timeout = "10000", *catalog_dir = NULL, *cosigners = NULL;
    const gwctl_opt_t opts[] = {{"targets", 1, &targets, NULL}, {"cert", 1, &t->f.cert, NULL},
                                {"cosigners", 1, &cosigners, NULL},
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
    if (cosigners != NULL && (gwctl_parse_u64(cosigners, &t->cosigners) != 0 || t->cosigners > GWCTL_PINS_MAX)) {
        fprintf(stderr, "gwctl trace: --cosigners must be 0..%d\n", GWCTL_PINS_MAX);
        return GWCTL_EXIT_USAGE;
    }
    t->cosigners_given = cosigners != NULL;
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
    char why[512] = "";
    if (gwctl_pins_load(&t.pins, t.f.keys_dir, why, sizeof why) != 0) {
        fprintf(stderr, "gwctl trace: --audit-keys: %s\n", why);
        return GWCTL_EXIT_CREDENTIALS;
    }
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
