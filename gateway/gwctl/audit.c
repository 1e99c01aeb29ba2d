/* audit.c - gwctl audit verify: a region's whole audit chain, link by link,
 * against every checkpoint of it (its own and those its peers hold). The
 * shared chain checks are in chain.c, the targets in targets.c; gwctl trace
 * is in trace.c. */
#include "gateway/gwctl/chain.h"
#include "gateway/gwctl/gwctl.h"
#include "common/region.h"
#include "gateway/gwctl/targets.h"
#include "gateway/gwctl/replay.h"
#include "common/carbon_assert.h"

#include "carbon/v1/carbon.pb-c.h"
#include "settlement/audit.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    "Then replays the entries to rebuild REGION's ledger and compares it with its\n"
    "store (Audit.ReadState), one line per difference, e.g. \"account A block B:\n"
    "log says present, store says absent\" (docs/audit-log.md section 2).\n"
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
    char held_by[GWCTL_TARGETS_MAX][CARBON_REGION_SIZE];
    size_t ncp;
    uint64_t head, bad;
    char why[512];
    int failures;
    json_t *replay; /* --json: the replay's member (gwctl/replay.c) */
} gwctl_verify_t;

/* Keeps the checkpoint of v->region in target i's answer r: the home
 * target's own, or the one a peer holds (the first if a peer sends more:
 * each target adds at most one, so v->ncp stays <= v->f.n). */
static void gwctl_verify_take(gwctl_verify_t *v, size_t i, const Carbon__V1__GetCheckpointResponse *r) {
    CARBON_ASSERT(i < v->f.n && v->ncp < v->f.n && v->f.n <= GWCTL_TARGETS_MAX);
    const Carbon__V1__Checkpoint *cp = i == v->home ? r->own : NULL;
    for (size_t k = 0; i != v->home && cp == NULL && k < r->n_peers; k++)
        if (strcmp(r->peers[k]->region, v->region) == 0) cp = r->peers[k];
    if (cp == NULL) return;
    gwctl_cp_from_pb(cp, &v->cps[v->ncp]);
    snprintf(v->held_by[v->ncp++], sizeof v->held_by[0], "%s", v->f.targets[i].where.region);
}

/* Every checkpoint of the region: its own and those its peers hold. */
static void gwctl_verify_checkpoints(gwctl_verify_t *v) {
    CARBON_ASSERT(v->home < v->f.n && v->ncp == 0);
    for (size_t i = 0; i < v->f.n; i++) {
        Carbon__V1__GetCheckpointRequest creq = CARBON__V1__GET_CHECKPOINT_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        int rc = gwctl_fed_call(&v->f, i, "GetCheckpoint", &creq.base,
                                &carbon__v1__get_checkpoint_response__descriptor, &resp);
        if (rc != 0) {
            gwctl_fed_mark_unread(&v->f, i, rc);
            continue;
        }
        gwctl_verify_take(v, i, (const Carbon__V1__GetCheckpointResponse *)resp);
        protobuf_c_message_free_unpacked(resp, NULL);
    }
}

/* The chain head of the home region; -1 if it could not be read. */
static int gwctl_verify_head(gwctl_verify_t *v) {
    CARBON_ASSERT(v->home < v->f.n);
    Carbon__V1__ReadLogRequest hreq = CARBON__V1__READ_LOG_REQUEST__INIT;
    hreq.from_seq = 1;
    hreq.limit = 1;
    ProtobufCMessage *resp = NULL;
    int rc = gwctl_fed_call(&v->f, v->home, "ReadLog", &hreq.base, &carbon__v1__read_log_response__descriptor, &resp);
    if (rc != 0) {
        gwctl_fed_mark_unread(&v->f, v->home, rc);
        return -1;
    }
    v->head = ((const Carbon__V1__ReadLogResponse *)resp)->head_seq;
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

/* Walks the chain in pieces ending at each checkpoint, so each one is
 * compared. -1 if the log could not be read. */
static int gwctl_verify_walk(gwctl_verify_t *v, int progress) {
    CARBON_ASSERT(v->home < v->f.n && v->ncp <= GWCTL_TARGETS_MAX && v->bad == 0);
    uint64_t from = 1;
    char prev[AUDIT_HASH_HEX + 1];
    gwctl_walk_t w = {.progress = progress, .why = v->why, .whylen = sizeof v->why};
    const char *last = w.last_hash;
    prev[0] = '\0'; /* interim (format 3): no hash chain; the auditor rewrite checks the tree */
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
        v->bad = gwctl_walk(&v->f, v->home, from, stops[s], prev, &w);
        if (v->bad == UINT64_MAX) {
            v->bad = 0;
            gwctl_fed_mark_unread(&v->f, v->home, GWCTL_EXIT_UNREACHABLE);
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
        memcpy(prev, w.last_hash, sizeof prev);
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
    int chain_read = !v->f.targets[v->home].unread;
    if (json) {
        json_t *unread = gwctl_fed_json_unread(&v->f);
        json_t *doc = json_pack("{s:s, s:b, s:o, s:o, s:o, s:i, s:o, s:o}", "region", v->region, "chain_read",
                                chain_read, "entries", gwctl_json_u64(v->head), "checkpoints",
                                json_integer((json_int_t)v->ncp), "first_bad_entry", gwctl_json_u64(v->bad), "failures",
                                v->failures, "reason", gwctl_json_text(v->why), "unreachable_regions", unread);
        if (v->replay != NULL) json_object_update(doc, v->replay);
        gwctl_json_emit(doc);
    } else if (v->failures > 0) {
        printf("%s: VERIFICATION FAILED%s%s\n", v->region, v->bad ? ": " : "", v->bad ? v->why : "");
    } else if (!chain_read) {
        printf("%s: NOT VERIFIED: its chain could not be read; %zu checkpoints read\n", v->region, v->ncp);
    } else {
        printf("%s: %" PRIu64 " entries verified, %zu checkpoints verified (own and held by peers)\n", v->region,
               v->head, v->ncp);
    }
    gwctl_fed_print_unread(&v->f, "audit verify", chain_read ? "the checkpoints they hold were not compared"
                                                             : "the chain itself was not verified");
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
        gwctl_parse_u64(timeout, &t) != 0 || t == 0) {
        fprintf(stderr, "gwctl audit verify: --region, --targets, --cert, --key and --ca are required\n\n%s",
                audit_usage);
        return GWCTL_EXIT_USAGE;
    }
    if (gwctl_fed_parse(&v->f, "audit verify", targets) != 0) return GWCTL_EXIT_USAGE;
    v->f.timeout_ms = (long)t;
    v->home = v->f.n;
    for (size_t i = 0; i < v->f.n; i++)
        if (strcmp(v->f.targets[i].where.region, v->region) == 0) v->home = i;
    if (v->home == v->f.n) {
        fprintf(stderr, "gwctl audit verify: --targets has no address for %s\n", v->region);
        return GWCTL_EXIT_USAGE;
    }
    return 0;
}

int gwctl_audit(int argc, char **argv) {
    CARBON_ASSERT(argc >= 1 && argv != NULL && argv[0] != NULL);
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
    if (rc == 0 && v->region != NULL) gwctl_fed_default_keys_dir(&v->f);
    if (rc == 0 && v->region != NULL && gwctl_fed_connect(&v->f) != 0) rc = GWCTL_EXIT_CREDENTIALS;
    if (rc != 0 || v->region == NULL) {
        gwctl_fed_close(&v->f);
        free(v);
        return rc;
    }
    gwctl_verify_checkpoints(v);
    if (!v->f.targets[v->home].unread && gwctl_verify_head(v) == 0 && gwctl_verify_walk(v, !json) == 0)
        gwctl_verify_signatures(v);
    v->replay = json ? json_object() : NULL;
    if (!v->f.targets[v->home].unread && gwctl_replay_verify(&v->f, v->home, v->region, v->replay) > 0) v->failures++;
    gwctl_verify_print(v, json);
    json_decref(v->replay);
    int exit_code = v->failures > 0 ? GWCTL_EXIT_FINDING : v->f.read_exit != 0 ? v->f.read_exit : GWCTL_EXIT_OK;
    gwctl_fed_close(&v->f);
    free(v);
    return exit_code;
}
