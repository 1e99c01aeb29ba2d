/* audit.c - gwctl commands for auditors: trace (a serial or a transfer
 * across every region, verified against the signed checkpoints) and audit
 * verify (a whole chain). */
#include "gateway/gwctl/gwctl.h"

#include "adapters/amount_format.h"
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


#define GWCTL_TARGETS_MAX 16
#define GWCTL_PROGRESS_EVERY 5000

typedef struct {
    char region[16];
    char address[128];
    grpc_channel *ch;
} gwctl_target_t;

typedef struct {
    const char *cert, *key, *ca, *keys_dir, *catalog_dir;
    long timeout_ms;
    gwctl_target_t targets[GWCTL_TARGETS_MAX];
    size_t n;
} gwctl_fed_t;

/* Parses "REGION=HOST:PORT,..." into f; -1 on a malformed item. */
static int gwctl_parse_targets(const char *list, gwctl_fed_t *f) {
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *item = strtok_r(buf, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (eq == NULL || eq - item >= 16 || f->n == GWCTL_TARGETS_MAX) return -1;
        gwctl_target_t *t = &f->targets[f->n++];
        snprintf(t->region, sizeof t->region, "%.*s", (int)(eq - item), item);
        snprintf(t->address, sizeof t->address, "%s", eq + 1);
    }
    return f->n > 0 ? 0 : -1;
}

static int gwctl_fed_connect(gwctl_fed_t *f) {
    for (size_t i = 0; i < f->n; i++) {
        gwctl_conn_t c = {.target = f->targets[i].address, .cert = f->cert, .key = f->key, .ca = f->ca};
        f->targets[i].ch = gwctl_connect(&c);
        if (f->targets[i].ch == NULL) return -1;
    }
    return 0;
}

static void gwctl_fed_close(gwctl_fed_t *f) {
    for (size_t i = 0; i < f->n; i++)
        if (f->targets[i].ch != NULL) gwctl_disconnect(f->targets[i].ch);
}

static int gwctl_audit_call(gwctl_fed_t *f, size_t i, const char *method, const ProtobufCMessage *req,
                            const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp) {
    char path[96];
    snprintf(path, sizeof path, "/carbon.v1.Audit/%s", method);
    client_status_t st;
    if (client_call(f->targets[i].ch, path, req, desc, resp, f->timeout_ms, &st) != GRPC_STATUS_OK)
        return gwctl_report_failure(f->targets[i].address, &st);
    return 0;
}

/* The pinned public key of region from keys_dir/REGION-audit-signing.pub. */
static int gwctl_pinned_key(const gwctl_fed_t *f, const char *region, uint8_t out[32]) {
    if (f->keys_dir == NULL) return -1;
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/%s-audit-signing.pub", f->keys_dir, region);
    return audit_load_public_key(path, out, err, sizeof err);
}

static void gwctl_cp_from_pb(const Carbon__V1__Checkpoint *m, audit_checkpoint_t *cp) {
    memset(cp, 0, sizeof *cp);
    snprintf(cp->region, sizeof cp->region, "%s", m->region);
    cp->seq = m->seq;
    snprintf(cp->head_hash, sizeof cp->head_hash, "%s", m->head_hash);
    cp->time_ms = m->time_unix_ms;
    if (m->public_key.len == 32) memcpy(cp->public_key, m->public_key.data, 32);
    if (m->signature.len == 64) memcpy(cp->signature, m->signature.data, 64);
}

/* Walks region i's chain over [from, to] checking every link, and returns
 * the hash of entry `to` in last_hash. Returns the seq of the first bad
 * entry, 0 if all verify, UINT64_MAX if the log could not be read. The
 * entry before `from` must have hash prev (genesis when from is 1). */
static uint64_t gwctl_walk(gwctl_fed_t *f, size_t i, uint64_t from, uint64_t to, const char *prev_in,
                           char last_hash[AUDIT_HASH_HEX + 1], int progress, char *why, size_t whylen) {
    char prev[AUDIT_HASH_HEX + 1];
    snprintf(prev, sizeof prev, "%s", prev_in);
    for (uint64_t seq = from; seq <= to;) {
        Carbon__V1__ReadLogRequest req = CARBON__V1__READ_LOG_REQUEST__INIT;
        req.from_seq = seq;
        req.limit = (uint32_t)(to - seq + 1 < AUDIT_READ_MAX ? to - seq + 1 : AUDIT_READ_MAX);
        ProtobufCMessage *resp = NULL;
        if (gwctl_audit_call(f, i, "ReadLog", &req.base, &carbon__v1__read_log_response__descriptor, &resp) != 0)
            return UINT64_MAX;
        const Carbon__V1__ReadLogResponse *r = (const Carbon__V1__ReadLogResponse *)resp;
        uint64_t bad = 0;
        for (size_t k = 0; k < r->n_entries && !bad; k++, seq++) {
            const Carbon__V1__AuditEntry *e = r->entries[k];
            char h[AUDIT_HASH_HEX + 1];
            if (e->seq != seq) {
                snprintf(why, whylen, "entry %" PRIu64 " is missing", seq);
                bad = seq;
                break;
            }
            audit_hash(prev, e->canonical, strlen(e->canonical), h);
            if (strcmp(e->prev_hash, prev) != 0 || strcmp(h, e->hash) != 0) {
                snprintf(why, whylen, "entry %" PRIu64 " does not verify: its hash is %.16s..., "
                         "SHA-256 of the previous hash and its content is %.16s...",
                         seq, e->hash, h);
                bad = seq;
                break;
            }
            memcpy(prev, e->hash, sizeof prev);
            if (progress && seq % GWCTL_PROGRESS_EVERY == 0)
                fprintf(stderr, "\rverified %" PRIu64 " / %" PRIu64 " entries", seq, to);
        }
        if (!bad && r->n_entries == 0) {
            snprintf(why, whylen, "entry %" PRIu64 " is missing", seq);
            bad = seq;
        }
        protobuf_c_message_free_unpacked(resp, NULL);
        if (bad) return bad;
    }
    if (progress && to >= GWCTL_PROGRESS_EVERY) fprintf(stderr, "\rverified %" PRIu64 " / %" PRIu64 " entries\n", to, to);
    snprintf(last_hash, AUDIT_HASH_HEX + 1, "%s", prev);
    return 0;
}

/* ---- trace -------------------------------------------------------------------------- */

/* A forced decision (gwctl resolve) as the audit entry records it. */
typedef struct {
    const char *decision; /* "COMMIT" or "ABORT" */
    char *by;             /* the operator's SPIFFE ID (malloc'd, may be "") */
    char *why;            /* the operator's reason (malloc'd) */
} gwctl_resolution_t;

typedef struct {
    char region[16];
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
    int read_exit;                          /* worst exit code of a region not read */
    int unread[GWCTL_TARGETS_MAX];          /* 1: region i could not be read */
    int catalog_explicit;                   /* the folder was asked for: it must load */
} gwctl_trace_t;

static char *gwctl_strndup(const char *p, size_t n) {
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

static void gwctl_resolution_free(gwctl_resolution_t *r) {
    if (r == NULL) return;
    free(r->by);
    free(r->why);
    free(r);
}

/* Text from a gateway, in place: control bytes become '?'. */
static void gwctl_clean(char *s) {
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

/* Text from a gateway for a terminal: control bytes become '?'. */
static void gwctl_print_clean(const char *s) {
    for (; *s != '\0'; s++) putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

/* A JSON string of text from a gateway; bytes that are not valid UTF-8
 * become '?' rather than losing the value. */
static json_t *gwctl_json_text(const char *s) {
    json_t *j = json_string(s);
    if (j != NULL) return j;
    char *copy = gwctl_strndup(s, strlen(s));
    for (char *p = copy; *p != '\0'; p++)
        if ((unsigned char)*p >= 0x80) *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

/* Grams of entry e that concern the subject (every block for a transfer). */
static uint64_t gwctl_hop_grams(const gwctl_trace_t *t, const Carbon__V1__AuditEntry *e) {
    uint64_t grams = 0;
    for (size_t j = 0; j < e->n_blocks; j++) {
        const Carbon__V1__CreditBlock *b = e->blocks[j];
        if (t->req.subject_case == CARBON__V1__TRACE_REQUEST__SUBJECT_SERIAL) {
            const char *colon = strchr(t->subject, ':');
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

static void gwctl_add_hops(gwctl_trace_t *t, const Carbon__V1__TraceResponse *tr, int anchored, int cp_ok) {
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
        gwctl_clean(h->region);
        gwctl_clean(h->event);
        gwctl_clean(h->ids);
        h->grams = gwctl_hop_grams(t, e);
        if (strcmp(e->event, "resolve") == 0) h->resolution = gwctl_resolution(e);
        char h2[AUDIT_HASH_HEX + 1];
        audit_hash(e->prev_hash, e->canonical, strlen(e->canonical), h2);
        int self_ok = strcmp(h2, e->hash) == 0;
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
    char why[256] = "", last[AUDIT_HASH_HEX + 1];
    uint64_t bad = gwctl_walk(&t->f, i, first, cp.seq, tr->entries[0]->prev_hash, last, 0, why, sizeof why);
    if (bad == UINT64_MAX) return -1;
    if (bad != 0 || strcmp(last, cp.head_hash) != 0) {
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
    ProtobufCMessage *resp = NULL, *cpresp = NULL;
    int rc = gwctl_audit_call(&t->f, i, "Trace", &t->req.base, &carbon__v1__trace_response__descriptor, &resp);
    if (rc == 0) {
        Carbon__V1__GetCheckpointRequest creq = CARBON__V1__GET_CHECKPOINT_REQUEST__INIT;
        rc = gwctl_audit_call(&t->f, i, "GetCheckpoint", &creq.base,
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
    if (rc != 0) {
        t->unread[i] = 1;
        if (t->read_exit == 0 || rc == GWCTL_EXIT_UNREACHABLE) t->read_exit = rc;
    }
    return rc;
}

static json_t *gwctl_json_u64(uint64_t v) {
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return json_string(buf);
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
    json_t *doc = json_object(), *hops = json_array(), *unread = json_array();
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
    for (size_t i = 0; i < t->f.n; i++)
        if (t->unread[i]) json_array_append_new(unread, json_string(t->f.targets[i].region));
    json_object_set_new(doc, "hops", hops);
    json_object_set_new(doc, "failures", json_integer(t->failures));
    json_object_set_new(doc, "unreachable_regions", unread);
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(doc);
}

static void gwctl_trace_table(gwctl_trace_t *t, size_t regions_read) {
    printf("%-14s %-6s %6s %-8s %-22s %-25s %s\n", "TIME_MS", "REGION", "SEQ", "EVENT", "AMOUNT", "VERIFIED", "IDS");
    for (size_t k = 0; k < t->hops_n; k++) {
        const gwctl_hop_t *h = &t->hops[k];
        const catalog_t *cat = catalog_set_current(t->cats, h->region);
        char amount[AMOUNT_TEXT_MAX];
        if (h->grams > 0) amount_format_catalog(amount, sizeof amount, h->grams, cat);
        else snprintf(amount, sizeof amount, "-");
        printf("%-14" PRIu64 " %-6s %6" PRIu64 " %-8s %-22s %-25s %.80s\n", h->time_ms, h->region, h->seq,
               h->event, amount, h->verified, h->ids);
        if (h->resolution != NULL) {
            printf("%-14s forced %s by ", "", h->resolution->decision);
            gwctl_print_clean(h->resolution->by[0] ? h->resolution->by : "(not recorded)");
            printf(", reason: ");
            gwctl_print_clean(h->resolution->why);
            putchar('\n');
        }
    }
    printf("%zu hops in %zu regions, %d verification failures\n", t->hops_n, regions_read, t->failures);
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

/* The catalog folder: --catalog-dir, $GWCTL_CATALOG_DIR, then
 * <dir of the gwctl binary>/../adapters/catalogs, then the source tree's
 * (compiled in as CARBON_SOURCE_DIR), then NULL (amounts in grams). */
static const char *gwctl_catalog_dir(const char *given, char *buf, size_t buflen) {
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
    if (rc != 0) return rc > 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_USAGE;
    uint64_t ms;
    if (t->subject == NULL || targets == NULL || t->f.cert == NULL || t->f.key == NULL || t->f.ca == NULL ||
        gwctl_parse_targets(targets, &t->f) != 0 || gwctl_parse_u64(timeout, &ms) != 0 || ms == 0) {
        fprintf(stderr, "gwctl trace: a subject, --targets, --cert, --key and --ca are required\n\n%s", trace_usage);
        return GWCTL_EXIT_USAGE;
    }
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

int gwctl_trace(int argc, char **argv) {
    gwctl_trace_t t = {.f = {.cert = getenv("GWCTL_CERT"), .key = getenv("GWCTL_KEY"), .ca = getenv("GWCTL_CA")}};
    int json = 0, dot = 0;
    int rc = gwctl_trace_args(argc, argv, &t, &json, &dot);
    if (rc != 0 || t.subject == NULL) return rc;
    char keys_dir[512];
    if (t.f.keys_dir == NULL) {
        const char *slash = strrchr(t.f.ca, '/');
        snprintf(keys_dir, sizeof keys_dir, "%.*s", slash ? (int)(slash - t.f.ca) : 1, slash ? t.f.ca : ".");
        t.f.keys_dir = keys_dir;
    }
    Carbon__V1__TraceRequest init = CARBON__V1__TRACE_REQUEST__INIT;
    t.req = init;
    if (strchr(t.subject, ':') != NULL) {
        t.req.subject_case = CARBON__V1__TRACE_REQUEST__SUBJECT_SERIAL;
        t.req.serial = (char *)t.subject;
    } else {
        t.req.subject_case = CARBON__V1__TRACE_REQUEST__SUBJECT_TRANSFER_ID;
        t.req.transfer_id = (char *)t.subject;
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
    if (read_n < t.f.n) {
        fprintf(stderr, "gwctl trace: not read:");
        for (size_t i = 0; i < t.f.n; i++)
            if (t.unread[i]) fprintf(stderr, " %s (%s)", t.f.targets[i].region, t.f.targets[i].address);
        fprintf(stderr, "; the timeline lacks their hops\n");
    }
    int exit_code = t.failures > 0 ? GWCTL_EXIT_FINDING
                  : t.read_exit != 0 ? t.read_exit
                  : t.hops_n == 0 ? GWCTL_EXIT_FINDING : GWCTL_EXIT_OK;
    for (size_t k = 0; k < t.hops_n; k++) gwctl_resolution_free(t.hops[k].resolution);
    free(t.hops);
    gwctl_fed_close(&t.f);
    catalog_set_free(t.cats);
    return exit_code;
}

/* ---- audit verify -------------------------------------------------------------------- */

static const char audit_usage[] =
    "usage: gwctl audit verify --region REGION --targets REGION=HOST:PORT,... --cert FILE\n"
    "                          --key FILE --ca FILE [--audit-keys DIR] [--json]\n"
    "\n"
    "Walks REGION's whole audit chain, checking every entry's SHA-256 link, then\n"
    "every checkpoint of REGION: its own and those its peers keep (each target's\n"
    "GetCheckpoint). A checkpoint must carry a valid Ed25519 signature by\n"
    "DIR/REGION-audit-signing.pub (default DIR: the folder of --ca) and name the\n"
    "hash the chain has at its sequence number: history rewritten after a\n"
    "checkpoint contradicts it. Prints the first bad entry. Progress on stderr.\n"
    "A target that cannot be read is named on stderr (and in --json as\n"
    "\"unreachable_regions\"); everything the others hold is still verified.\n"
    "--json: one document, entry numbers and counts as strings.\n"
    "\n"
    "Exit codes: 0 verified, 1 verification failed, 2 bad usage, 3 a target\n"
    "unreachable (after printing what was verified), 4 a target refused, 5 bad\n"
    "local credentials.\n";

typedef struct {
    gwctl_fed_t f;
    const char *region;
    size_t home;
    audit_checkpoint_t cps[GWCTL_TARGETS_MAX];
    char held_by[GWCTL_TARGETS_MAX][16];
    size_t ncp;
    int unread[GWCTL_TARGETS_MAX]; /* 1: target i could not be read */
    int read_exit;                 /* worst exit code of a target not read */
    uint64_t head, bad;
    char why[512];
    int failures;
} gwctl_verify_t;

static void gwctl_verify_unread(gwctl_verify_t *v, size_t i, int rc) {
    v->unread[i] = 1;
    if (v->read_exit == 0 || rc == GWCTL_EXIT_UNREACHABLE) v->read_exit = rc;
}

/* Every checkpoint of the region: its own and those its peers hold. */
static void gwctl_verify_checkpoints(gwctl_verify_t *v) {
    for (size_t i = 0; i < v->f.n; i++) {
        Carbon__V1__GetCheckpointRequest creq = CARBON__V1__GET_CHECKPOINT_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        int rc = gwctl_audit_call(&v->f, i, "GetCheckpoint", &creq.base,
                                  &carbon__v1__get_checkpoint_response__descriptor, &resp);
        if (rc != 0) {
            gwctl_verify_unread(v, i, rc);
            continue;
        }
        const Carbon__V1__GetCheckpointResponse *r = (const Carbon__V1__GetCheckpointResponse *)resp;
        if (i == v->home && r->own != NULL) {
            gwctl_cp_from_pb(r->own, &v->cps[v->ncp]);
            snprintf(v->held_by[v->ncp++], 16, "%s", v->region);
        }
        for (size_t k = 0; i != v->home && k < r->n_peers && v->ncp < GWCTL_TARGETS_MAX; k++)
            if (strcmp(r->peers[k]->region, v->region) == 0) {
                gwctl_cp_from_pb(r->peers[k], &v->cps[v->ncp]);
                snprintf(v->held_by[v->ncp++], 16, "%s", v->f.targets[i].region);
            }
        protobuf_c_message_free_unpacked(resp, NULL);
    }
}

/* The chain head of the home region; -1 if it could not be read. */
static int gwctl_verify_head(gwctl_verify_t *v) {
    Carbon__V1__ReadLogRequest hreq = CARBON__V1__READ_LOG_REQUEST__INIT;
    hreq.from_seq = 1;
    hreq.limit = 1;
    ProtobufCMessage *resp = NULL;
    int rc = gwctl_audit_call(&v->f, v->home, "ReadLog", &hreq.base, &carbon__v1__read_log_response__descriptor, &resp);
    if (rc != 0) {
        gwctl_verify_unread(v, v->home, rc);
        return -1;
    }
    v->head = ((const Carbon__V1__ReadLogResponse *)resp)->head_seq;
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

/* Walks the chain in pieces ending at each checkpoint, so each one is
 * compared. -1 if the log could not be read. */
static int gwctl_verify_walk(gwctl_verify_t *v, int progress) {
    uint64_t from = 1;
    char prev[AUDIT_HASH_HEX + 1], last[AUDIT_HASH_HEX + 1] = "";
    snprintf(prev, sizeof prev, "%s", audit_genesis);
    uint64_t stops[GWCTL_TARGETS_MAX + 1];
    size_t nstops = 0;
    for (size_t k = 0; k < v->ncp; k++)
        if (v->cps[k].seq <= v->head) stops[nstops++] = v->cps[k].seq;
    stops[nstops++] = v->head;
    for (size_t a = 0; a < nstops; a++)
        for (size_t b = a + 1; b < nstops; b++)
            if (stops[b] < stops[a]) { uint64_t x = stops[a]; stops[a] = stops[b]; stops[b] = x; }
    for (size_t s = 0; s < nstops && !v->bad; s++) {
        if (stops[s] < from) continue;
        v->bad = gwctl_walk(&v->f, v->home, from, stops[s], prev, last, progress, v->why, sizeof v->why);
        if (v->bad == UINT64_MAX) {
            v->bad = 0;
            gwctl_verify_unread(v, v->home, GWCTL_EXIT_UNREACHABLE);
            return -1;
        }
        if (v->bad) break;
        for (size_t k = 0; k < v->ncp; k++)
            if (v->cps[k].seq == stops[s] && strcmp(v->cps[k].head_hash, last) != 0) {
                snprintf(v->why, sizeof v->why, "the checkpoint at entry %" PRIu64 " held by %s names hash %.16s..., "
                         "the chain has %.16s...: history was rewritten at or before entry %" PRIu64,
                         v->cps[k].seq, v->held_by[k], v->cps[k].head_hash, last, v->cps[k].seq);
                v->bad = v->cps[k].seq;
            }
        memcpy(prev, last, sizeof prev);
        from = stops[s] + 1;
    }
    if (v->bad) v->failures++;
    return 0;
}

/* Each checkpoint's signature with the pinned key, and none past the head. */
static void gwctl_verify_signatures(gwctl_verify_t *v) {
    uint8_t pinned[32];
    int have_pin = gwctl_pinned_key(&v->f, v->region, pinned) == 0;
    for (size_t k = 0; k < v->ncp; k++) {
        if (!audit_checkpoint_verify(&v->cps[k], have_pin ? pinned : NULL)) {
            fprintf(stderr, "gwctl audit verify: the checkpoint at %" PRIu64 " held by %s has a bad signature\n",
                    v->cps[k].seq, v->held_by[k]);
            v->failures++;
        }
        if (v->cps[k].seq > v->head) {
            fprintf(stderr, "gwctl audit verify: the checkpoint held by %s names entry %" PRIu64
                    " but the chain ends at %" PRIu64 ": history was truncated\n", v->held_by[k], v->cps[k].seq,
                    v->head);
            v->failures++;
        }
    }
}

static void gwctl_verify_print(const gwctl_verify_t *v, int json) {
    int chain_read = !v->unread[v->home];
    if (json) {
        json_t *unread = json_array();
        for (size_t i = 0; i < v->f.n; i++)
            if (v->unread[i]) json_array_append_new(unread, json_string(v->f.targets[i].region));
        json_t *doc = json_pack("{s:s, s:b, s:o, s:o, s:o, s:i, s:s, s:o}", "region", v->region, "chain_read",
                                chain_read, "entries", gwctl_json_u64(v->head), "checkpoints",
                                gwctl_json_u64(v->ncp), "first_bad_entry", gwctl_json_u64(v->bad), "failures",
                                v->failures, "reason", v->why, "unreachable_regions", unread);
        json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
        json_decref(doc);
    } else if (v->failures > 0) {
        printf("%s: VERIFICATION FAILED%s%s\n", v->region, v->bad ? ": " : "", v->bad ? v->why : "");
    } else if (!chain_read) {
        printf("%s: NOT VERIFIED: its chain could not be read; %zu checkpoints read\n", v->region, v->ncp);
    } else {
        printf("%s: %" PRIu64 " entries verified, %zu checkpoints verified (own and held by peers)\n", v->region,
               v->head, v->ncp);
    }
    if (v->read_exit != 0) {
        fprintf(stderr, "gwctl audit verify: not read:");
        for (size_t i = 0; i < v->f.n; i++)
            if (v->unread[i]) fprintf(stderr, " %s (%s)", v->f.targets[i].region, v->f.targets[i].address);
        fprintf(stderr, "; %s\n", chain_read ? "the checkpoints they hold were not compared"
                                             : "the chain itself was not verified");
    }
}

/* Parses audit verify's arguments into v. 0, or the exit code to return. */
static int gwctl_verify_args(int argc, char **argv, gwctl_verify_t *v, int *json) {
    const char *targets = getenv("GWCTL_TARGETS"), *timeout = "30000";
    const gwctl_opt_t opts[] = {{"region", 1, &v->region, NULL},  {"targets", 1, &targets, NULL},
                                {"cert", 1, &v->f.cert, NULL},     {"key", 1, &v->f.key, NULL},
                                {"ca", 1, &v->f.ca, NULL},         {"audit-keys", 1, &v->f.keys_dir, NULL},
                                {"timeout-ms", 1, &timeout, NULL}, {"json", 0, NULL, json}, {0}};
    int rc = gwctl_parse(argc - 1, argv + 1, opts, NULL, audit_usage);
    if (rc != 0) return rc > 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_USAGE;
    uint64_t t;
    if (v->region == NULL || targets == NULL || v->f.cert == NULL || v->f.key == NULL || v->f.ca == NULL ||
        gwctl_parse_targets(targets, &v->f) != 0 || gwctl_parse_u64(timeout, &t) != 0 || t == 0) {
        fprintf(stderr, "gwctl audit verify: --region, --targets, --cert, --key and --ca are required\n\n%s",
                audit_usage);
        return GWCTL_EXIT_USAGE;
    }
    v->f.timeout_ms = (long)t;
    v->home = v->f.n;
    for (size_t i = 0; i < v->f.n; i++)
        if (strcmp(v->f.targets[i].region, v->region) == 0) v->home = i;
    if (v->home == v->f.n) {
        fprintf(stderr, "gwctl audit verify: --targets has no address for %s\n", v->region);
        return GWCTL_EXIT_USAGE;
    }
    return 0;
}

int gwctl_audit(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "verify") != 0) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            fputs(audit_usage, stdout);
            return GWCTL_EXIT_OK;
        }
        fputs(audit_usage, stderr);
        return GWCTL_EXIT_USAGE;
    }
    gwctl_verify_t *v = calloc(1, sizeof *v);
    if (v == NULL) abort();
    v->f.cert = getenv("GWCTL_CERT");
    v->f.key = getenv("GWCTL_KEY");
    v->f.ca = getenv("GWCTL_CA");
    int json = 0;
    int rc = gwctl_verify_args(argc, argv, v, &json);
    char keys_dir[512];
    if (rc == 0 && v->region != NULL && v->f.keys_dir == NULL) {
        const char *slash = strrchr(v->f.ca, '/');
        snprintf(keys_dir, sizeof keys_dir, "%.*s", slash ? (int)(slash - v->f.ca) : 1, slash ? v->f.ca : ".");
        v->f.keys_dir = keys_dir;
    }
    if (rc == 0 && v->region != NULL && gwctl_fed_connect(&v->f) != 0) rc = GWCTL_EXIT_CREDENTIALS;
    if (rc != 0 || v->region == NULL) {
        gwctl_fed_close(&v->f);
        free(v);
        return rc;
    }
    gwctl_verify_checkpoints(v);
    if (!v->unread[v->home] && gwctl_verify_head(v) == 0 && gwctl_verify_walk(v, !json) == 0)
        gwctl_verify_signatures(v);
    gwctl_verify_print(v, json);
    int exit_code = v->failures > 0 ? GWCTL_EXIT_FINDING : v->read_exit != 0 ? v->read_exit : GWCTL_EXIT_OK;
    gwctl_fed_close(&v->f);
    free(v);
    return exit_code;
}
