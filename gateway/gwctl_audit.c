/* gwctl_audit.c - gwctl commands for auditors: trace (a serial or a transfer
 * across every region, verified against the signed checkpoints) and audit
 * verify (a whole chain). */
#include "gateway/gwctl.h"

#include "adapters/catalog_set.h"
#include "carbon/v1/carbon.pb-c.h"
#include "settlement/audit.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

typedef struct {
    char region[16];
    uint64_t seq, time_ms, grams;
    char event[16];
    char ids[160];
    char verified[48];
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
    "folder of --ca). Amounts are shown in each region's display unit from the\n"
    "catalogs (default adapters/catalogs). An auditor certificate of any region\n"
    "may ask every gateway. --dot prints a Graphviz graph.\n"
    "\n"
    "Exit codes: 0 traced and verified, 1 a chain or checkpoint does not verify or\n"
    "nothing was found, 2 bad usage, 3 a gateway unreachable.\n";

int gwctl_trace(int argc, char **argv) {
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            fputs(trace_usage, stdout);
            return GWCTL_EXIT_OK;
        }
        fputs(trace_usage, stderr);
        return GWCTL_EXIT_USAGE;
    }
    const char *subject = argv[1];
    const char *targets = getenv("GWCTL_TARGETS"), *timeout = "10000";
    gwctl_fed_t f = {.cert = getenv("GWCTL_CERT"), .key = getenv("GWCTL_KEY"), .ca = getenv("GWCTL_CA"),
                     .catalog_dir = "adapters/catalogs"};
    int json = 0, dot = 0;
    const gwctl_opt_t opts[] = {{"targets", 1, &targets, NULL}, {"cert", 1, &f.cert, NULL},
                                {"key", 1, &f.key, NULL},         {"ca", 1, &f.ca, NULL},
                                {"audit-keys", 1, &f.keys_dir, NULL}, {"catalog-dir", 1, &f.catalog_dir, NULL},
                                {"timeout-ms", 1, &timeout, NULL}, {"json", 0, NULL, &json},
                                {"dot", 0, NULL, &dot},           {0}};
    int rc = gwctl_parse(argc - 1, argv + 1, opts, NULL, trace_usage);
    if (rc != 0) return rc > 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_USAGE;
    uint64_t t;
    if (targets == NULL || f.cert == NULL || f.key == NULL || f.ca == NULL ||
        gwctl_parse_targets(targets, &f) != 0 || gwctl_parse_u64(timeout, &t) != 0 || t == 0) {
        fprintf(stderr, "gwctl trace: --targets, --cert, --key and --ca are required\n\n%s", trace_usage);
        return GWCTL_EXIT_USAGE;
    }
    f.timeout_ms = (long)t;
    char keys_dir[512];
    if (f.keys_dir == NULL) {
        const char *slash = strrchr(f.ca, '/');
        snprintf(keys_dir, sizeof keys_dir, "%.*s", slash ? (int)(slash - f.ca) : 1, slash ? f.ca : ".");
        f.keys_dir = keys_dir;
    }
    Carbon__V1__TraceRequest req = CARBON__V1__TRACE_REQUEST__INIT;
    if (strchr(subject, ':') != NULL) {
        req.subject_case = CARBON__V1__TRACE_REQUEST__SUBJECT_SERIAL;
        req.serial = (char *)subject;
    } else {
        req.subject_case = CARBON__V1__TRACE_REQUEST__SUBJECT_TRANSFER_ID;
        req.transfer_id = (char *)subject;
    }
    catalog_set_t *cats = catalog_set_new();
    char err[512];
    if (catalog_set_load_dir(cats, f.catalog_dir, err, sizeof err) < 0) {
        fprintf(stderr, "gwctl trace: %s\n", err);
        catalog_set_free(cats);
        return GWCTL_EXIT_USAGE;
    }
    if (gwctl_fed_connect(&f) != 0) {
        gwctl_fed_close(&f);
        catalog_set_free(cats);
        return GWCTL_EXIT_USAGE;
    }
    size_t hops_cap = 1024, hops_n = 0;
    gwctl_hop_t *hops = calloc(hops_cap, sizeof *hops);
    if (hops == NULL) abort();
    int exit_code = GWCTL_EXIT_OK, failures = 0;
    for (size_t i = 0; i < f.n && exit_code == GWCTL_EXIT_OK; i++) {
        ProtobufCMessage *resp = NULL, *cpresp = NULL;
        exit_code = gwctl_audit_call(&f, i, "Trace", &req.base, &carbon__v1__trace_response__descriptor, &resp);
        if (exit_code != 0) break;
        Carbon__V1__GetCheckpointRequest creq = CARBON__V1__GET_CHECKPOINT_REQUEST__INIT;
        exit_code = gwctl_audit_call(&f, i, "GetCheckpoint", &creq.base,
                                     &carbon__v1__get_checkpoint_response__descriptor, &cpresp);
        if (exit_code != 0) {
            protobuf_c_message_free_unpacked(resp, NULL);
            break;
        }
        const Carbon__V1__TraceResponse *tr = (const Carbon__V1__TraceResponse *)resp;
        const Carbon__V1__GetCheckpointResponse *cr = (const Carbon__V1__GetCheckpointResponse *)cpresp;
        const catalog_t *cat = catalog_set_current(cats, tr->region);
        /* The checkpoint: signature with the pinned key. */
        audit_checkpoint_t cp;
        int cp_ok = 0;
        uint8_t pinned[32];
        if (cr->own != NULL) {
            gwctl_cp_from_pb(cr->own, &cp);
            int have_pin = gwctl_pinned_key(&f, tr->region, pinned) == 0;
            cp_ok = audit_checkpoint_verify(&cp, have_pin ? pinned : NULL) ? (have_pin ? 2 : 1) : -1;
        }
        /* The segment from the first hop to the checkpoint. */
        char why[256] = "", last[AUDIT_HASH_HEX + 1];
        uint64_t first = tr->n_entries > 0 ? tr->entries[0]->seq : 0;
        int anchored = 0;
        if (first > 0 && cp_ok > 0 && cp.seq >= first) {
            uint64_t bad = gwctl_walk(&f, i, first, cp.seq, tr->entries[0]->prev_hash, last, 0, why, sizeof why);
            if (bad == UINT64_MAX) exit_code = GWCTL_EXIT_UNREACHABLE;
            else if (bad != 0 || strcmp(last, cp.head_hash) != 0) {
                if (why[0] == '\0') snprintf(why, sizeof why, "the chain does not reach the checkpoint's head");
                fprintf(stderr, "gwctl trace: %s: %s\n", tr->region, why);
                failures++;
            } else {
                anchored = 1;
            }
        }
        if (cp_ok < 0) {
            fprintf(stderr, "gwctl trace: %s: the checkpoint's signature does not verify\n", tr->region);
            failures++;
        }
        for (size_t k = 0; k < tr->n_entries; k++) {
            const Carbon__V1__AuditEntry *e = tr->entries[k];
            if (hops_n == hops_cap) {
                hops_cap *= 2;
                hops = realloc(hops, hops_cap * sizeof *hops);
                if (hops == NULL) abort();
            }
            gwctl_hop_t *h = &hops[hops_n++];
            memset(h, 0, sizeof *h);
            snprintf(h->region, sizeof h->region, "%s", tr->region);
            h->seq = e->seq;
            h->time_ms = e->time_unix_ms;
            snprintf(h->event, sizeof h->event, "%s", e->event);
            size_t used = 0;
            for (size_t j = 0; j < e->n_ids && used + 2 < sizeof h->ids; j++)
                used += (size_t)snprintf(h->ids + used, sizeof h->ids - used, "%s%.32s", j ? "," : "", e->ids[j]);
            for (size_t j = 0; j < e->n_blocks; j++) {
                const Carbon__V1__CreditBlock *b = e->blocks[j];
                if (req.subject_case == CARBON__V1__TRACE_REQUEST__SUBJECT_SERIAL) {
                    char want[48];
                    snprintf(want, sizeof want, "%s:", b->origin_region);
                    uint64_t serial = strtoull(strchr(subject, ':') + 1, NULL, 10);
                    if (strncmp(subject, want, strlen(want)) != 0 || serial < b->serial_start || serial > b->serial_end)
                        continue;
                }
                h->grams += b->serial_end - b->serial_start + 1;
            }
            char h2[AUDIT_HASH_HEX + 1];
            audit_hash(e->prev_hash, e->canonical, strlen(e->canonical), h2);
            int self_ok = strcmp(h2, e->hash) == 0;
            if (!self_ok) failures++;
            snprintf(h->verified, sizeof h->verified, "%s",
                     !self_ok ? "BAD HASH" : anchored ? (cp_ok == 2 ? "checkpoint (pinned key)" : "checkpoint")
                                           : cp_ok > 0 ? "after checkpoint" : "no checkpoint");
            (void)cat;
        }
        protobuf_c_message_free_unpacked(resp, NULL);
        protobuf_c_message_free_unpacked(cpresp, NULL);
    }
    qsort(hops, hops_n, sizeof *hops, gwctl_hop_cmp);
    if (exit_code == GWCTL_EXIT_OK) {
        if (dot) {
            printf("digraph trace {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
            for (size_t k = 0; k < hops_n; k++) {
                const catalog_t *cat = catalog_set_current(cats, hops[k].region);
                printf("  h%zu [label=\"%s #%" PRIu64 "\\n%s\\n%" PRIu64 " g = %" PRIu64 " %s\"];\n", k,
                       hops[k].region, hops[k].seq, hops[k].event, hops[k].grams,
                       cat ? hops[k].grams / cat->display_unit_g : hops[k].grams, cat ? cat->display_unit : "g");
                if (k > 0) printf("  h%zu -> h%zu;\n", k - 1, k);
            }
            printf("}\n");
        } else if (json) {
            printf("{\"subject\": \"%s\", \"hops\": [", subject);
            for (size_t k = 0; k < hops_n; k++) {
                const catalog_t *cat = catalog_set_current(cats, hops[k].region);
                printf("%s\n  {\"region\": \"%s\", \"seq\": %" PRIu64 ", \"time_ms\": %" PRIu64
                       ", \"event\": \"%s\", \"grams\": %" PRIu64 ", \"units\": %" PRIu64
                       ", \"unit\": \"%s\", \"ids\": \"%s\", \"verified\": \"%s\"}",
                       k ? "," : "", hops[k].region, hops[k].seq, hops[k].time_ms, hops[k].event, hops[k].grams,
                       cat ? hops[k].grams / cat->display_unit_g : hops[k].grams, cat ? cat->display_unit : "g",
                       hops[k].ids, hops[k].verified);
            }
            printf("\n], \"failures\": %d}\n", failures);
        } else {
            printf("%-14s %-6s %6s %-8s %-22s %-25s %s\n", "TIME_MS", "REGION", "SEQ", "EVENT", "AMOUNT", "VERIFIED", "IDS");
            for (size_t k = 0; k < hops_n; k++) {
                const catalog_t *cat = catalog_set_current(cats, hops[k].region);
                char amount[64];
                if (cat != NULL && hops[k].grams > 0)
                    snprintf(amount, sizeof amount, "%" PRIu64 " %s (%" PRIu64 " g)",
                             hops[k].grams / cat->display_unit_g, cat->display_unit, hops[k].grams);
                else
                    snprintf(amount, sizeof amount, "-");
                printf("%-14" PRIu64 " %-6s %6" PRIu64 " %-8s %-22s %-25s %.80s\n", hops[k].time_ms,
                       hops[k].region, hops[k].seq, hops[k].event, amount, hops[k].verified, hops[k].ids);
            }
            printf("%zu hops in %zu regions, %d verification failures\n", hops_n, f.n, failures);
        }
        if (failures > 0 || hops_n == 0) exit_code = GWCTL_EXIT_FAILED;
    }
    free(hops);
    gwctl_fed_close(&f);
    catalog_set_free(cats);
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
    "\n"
    "Exit codes: 0 verified, 1 verification failed, 2 bad usage, 3 unreachable.\n";

int gwctl_audit(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "verify") != 0) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            fputs(audit_usage, stdout);
            return GWCTL_EXIT_OK;
        }
        fputs(audit_usage, stderr);
        return GWCTL_EXIT_USAGE;
    }
    const char *region = NULL, *targets = getenv("GWCTL_TARGETS"), *timeout = "30000";
    gwctl_fed_t f = {.cert = getenv("GWCTL_CERT"), .key = getenv("GWCTL_KEY"), .ca = getenv("GWCTL_CA")};
    int json = 0;
    const gwctl_opt_t opts[] = {{"region", 1, &region, NULL},  {"targets", 1, &targets, NULL},
                                {"cert", 1, &f.cert, NULL},     {"key", 1, &f.key, NULL},
                                {"ca", 1, &f.ca, NULL},         {"audit-keys", 1, &f.keys_dir, NULL},
                                {"timeout-ms", 1, &timeout, NULL}, {"json", 0, NULL, &json}, {0}};
    int rc = gwctl_parse(argc - 1, argv + 1, opts, NULL, audit_usage);
    if (rc != 0) return rc > 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_USAGE;
    uint64_t t;
    if (region == NULL || targets == NULL || f.cert == NULL || f.key == NULL || f.ca == NULL ||
        gwctl_parse_targets(targets, &f) != 0 || gwctl_parse_u64(timeout, &t) != 0 || t == 0) {
        fprintf(stderr, "gwctl audit verify: --region, --targets, --cert, --key and --ca are required\n\n%s",
                audit_usage);
        return GWCTL_EXIT_USAGE;
    }
    f.timeout_ms = (long)t;
    char keys_dir[512];
    if (f.keys_dir == NULL) {
        const char *slash = strrchr(f.ca, '/');
        snprintf(keys_dir, sizeof keys_dir, "%.*s", slash ? (int)(slash - f.ca) : 1, slash ? f.ca : ".");
        f.keys_dir = keys_dir;
    }
    size_t home = f.n;
    for (size_t i = 0; i < f.n; i++)
        if (strcmp(f.targets[i].region, region) == 0) home = i;
    if (home == f.n) {
        fprintf(stderr, "gwctl audit verify: --targets has no address for %s\n", region);
        return GWCTL_EXIT_USAGE;
    }
    if (gwctl_fed_connect(&f) != 0) {
        gwctl_fed_close(&f);
        return GWCTL_EXIT_USAGE;
    }
    int exit_code = GWCTL_EXIT_OK;
    /* Every checkpoint of the region: its own and those its peers hold. */
    audit_checkpoint_t cps[GWCTL_TARGETS_MAX];
    char held_by[GWCTL_TARGETS_MAX][16];
    size_t ncp = 0;
    for (size_t i = 0; i < f.n && exit_code == GWCTL_EXIT_OK; i++) {
        Carbon__V1__GetCheckpointRequest creq = CARBON__V1__GET_CHECKPOINT_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        exit_code = gwctl_audit_call(&f, i, "GetCheckpoint", &creq.base,
                                     &carbon__v1__get_checkpoint_response__descriptor, &resp);
        if (exit_code != 0) break;
        const Carbon__V1__GetCheckpointResponse *r = (const Carbon__V1__GetCheckpointResponse *)resp;
        if (i == home && r->own != NULL) {
            gwctl_cp_from_pb(r->own, &cps[ncp]);
            snprintf(held_by[ncp++], 16, "%s", region);
        }
        for (size_t k = 0; i != home && k < r->n_peers && ncp < GWCTL_TARGETS_MAX; k++)
            if (strcmp(r->peers[k]->region, region) == 0) {
                gwctl_cp_from_pb(r->peers[k], &cps[ncp]);
                snprintf(held_by[ncp++], 16, "%s", f.targets[i].region);
            }
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    uint64_t head = 0, bad = 0;
    char why[512] = "", last[AUDIT_HASH_HEX + 1] = "";
    int failures = 0;
    if (exit_code == GWCTL_EXIT_OK) {
        Carbon__V1__ReadLogRequest hreq = CARBON__V1__READ_LOG_REQUEST__INIT;
        hreq.from_seq = 1;
        hreq.limit = 1;
        ProtobufCMessage *resp = NULL;
        exit_code = gwctl_audit_call(&f, home, "ReadLog", &hreq.base, &carbon__v1__read_log_response__descriptor, &resp);
        if (exit_code == 0) {
            head = ((const Carbon__V1__ReadLogResponse *)resp)->head_seq;
            protobuf_c_message_free_unpacked(resp, NULL);
        }
    }
    if (exit_code == GWCTL_EXIT_OK) {
        /* Walk in pieces ending at each checkpoint, so each one is compared. */
        uint64_t from = 1;
        char prev[AUDIT_HASH_HEX + 1];
        snprintf(prev, sizeof prev, "%s", audit_genesis);
        uint64_t stops[GWCTL_TARGETS_MAX + 1];
        size_t nstops = 0;
        for (size_t k = 0; k < ncp; k++)
            if (cps[k].seq <= head) stops[nstops++] = cps[k].seq;
        stops[nstops++] = head;
        for (size_t a = 0; a < nstops; a++)
            for (size_t b = a + 1; b < nstops; b++)
                if (stops[b] < stops[a]) { uint64_t x = stops[a]; stops[a] = stops[b]; stops[b] = x; }
        for (size_t s = 0; s < nstops && !bad && exit_code == GWCTL_EXIT_OK; s++) {
            if (stops[s] < from) continue;
            bad = gwctl_walk(&f, home, from, stops[s], prev, last, !json, why, sizeof why);
            if (bad == UINT64_MAX) exit_code = GWCTL_EXIT_UNREACHABLE;
            if (bad) break;
            for (size_t k = 0; k < ncp; k++)
                if (cps[k].seq == stops[s] && strcmp(cps[k].head_hash, last) != 0) {
                    snprintf(why, sizeof why, "the checkpoint at entry %" PRIu64 " held by %s names hash %.16s..., "
                             "the chain has %.16s...: history was rewritten at or before entry %" PRIu64,
                             cps[k].seq, held_by[k], cps[k].head_hash, last, cps[k].seq);
                    bad = cps[k].seq;
                }
            memcpy(prev, last, sizeof prev);
            from = stops[s] + 1;
        }
        uint8_t pinned[32];
        int have_pin = gwctl_pinned_key(&f, region, pinned) == 0;
        for (size_t k = 0; k < ncp && exit_code == GWCTL_EXIT_OK; k++) {
            if (!audit_checkpoint_verify(&cps[k], have_pin ? pinned : NULL)) {
                fprintf(stderr, "gwctl audit verify: the checkpoint at %" PRIu64 " held by %s has a bad signature\n",
                        cps[k].seq, held_by[k]);
                failures++;
            }
            if (cps[k].seq > head) {
                fprintf(stderr, "gwctl audit verify: the checkpoint held by %s names entry %" PRIu64
                        " but the chain ends at %" PRIu64 ": history was truncated\n", held_by[k], cps[k].seq, head);
                failures++;
            }
        }
        if (bad && bad != UINT64_MAX) failures++;
    }
    if (exit_code == GWCTL_EXIT_OK) {
        if (json)
            printf("{\"region\": \"%s\", \"entries\": %" PRIu64 ", \"checkpoints\": %zu, \"first_bad_entry\": %" PRIu64
                   ", \"failures\": %d, \"reason\": \"%s\"}\n", region, head, ncp, bad, failures, why);
        else if (failures == 0)
            printf("%s: %" PRIu64 " entries verified, %zu checkpoints verified (own and held by peers)\n",
                   region, head, ncp);
        else
            printf("%s: VERIFICATION FAILED%s%s\n", region, bad ? ": " : "", bad ? why : "");
        if (failures > 0) exit_code = GWCTL_EXIT_FAILED;
    }
    gwctl_fed_close(&f);
    return exit_code;
}
