/* audit.c - gwctl audit verify: a region's whole audit log read entry by
 * entry, its Merkle tree recomputed (RFC 9162, gateway/gwctl/proofs.h), and
 * every checkpoint of it checked against the tree: its own and those its
 * peers cosigned. The targets are in targets.c; gwctl trace is in trace.c. */
#include "gateway/gwctl/proofs.h"
#include "gateway/gwctl/gwctl.h"
#include "common/region.h"
#include "gateway/gwctl/targets.h"
#include "gateway/gwctl/replay.h"
#include "gateway/gwctl/model_check.h"
#include "common/carbon_assert.h"

#include "carbon/v1/carbon.pb-c.h"
#include "settlement/audit.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GWCTL_VERIFY_PAGE 1000 /* entries per ReadLog call */
#define GWCTL_PROGRESS_EVERY 5000

static const char audit_usage[] =
    "usage: gwctl audit verify --region REGION --targets REGION=HOST:PORT,... --cert FILE\n"
    "                          --key FILE --ca FILE [--audit-keys DIR] [--timeout-ms N]\n"
    "                          [--json]   (--timeout-ms: each call's deadline, default 30000)\n"
    "       gwctl audit model-check --targets REGION=HOST:PORT,... --cert FILE --key FILE\n"
    "                          --ca FILE [--max-skew-ms N] [--json]   (see its --help: every\n"
    "                          region's log checked against the protocol model)\n"
    "\n"
    "Reads REGION's whole audit log (ReadLog, in pages of 1000 entries), checks that\n"
    "each entry is a well-formed carbon-audit/3 entry with the next sequence\n"
    "number, and recomputes the region's Merkle tree from the entries' bytes\n"
    "(RFC 9162; docs/audit-log.md). Then checks every checkpoint of REGION: its\n"
    "own (GetCheckpoint at REGION) and each one its peers cosigned (GetCheckpoint\n"
    "at each other target). Each must be signed by REGION's pinned key\n"
    "DIR/REGION-audit-signing.pub (default DIR: the folder of --ca); a peer's\n"
    "cosignature must verify with that peer's pinned key; and the checkpoint's\n"
    "root must be the recomputed root at its size. A root that differs names the\n"
    "fork: history rewritten at or before that entry. Memory: one page of entries\n"
    "and one hash per level of the tree (at most 40), whatever the log's length.\n"
    "Progress on stderr. A target that cannot be read is named on stderr (and in\n"
    "--json as \"unreachable_regions\"); everything the others hold is still\n"
    "verified. Then replays the entries to rebuild REGION's ledger and compares\n"
    "it with its store (Audit.ReadState), one line per difference, e.g. \"account\n"
    "A block B: log says present, store says absent\" (docs/audit-log.md section\n"
    "2). --json: one document, entry numbers, sizes and counts as strings.\n"
    "\n"
    "Exit codes: 0 verified, 1 verification failed, 2 bad usage, 3 a target\n"
    "unreachable (after printing what was verified), 4 a target refused, 5 bad\n"
    "local credentials.\n";

/* One checkpoint of the region, as a target holds it. */
typedef struct {
    char held_by[CARBON_REGION_SIZE]; /* the region itself, or the peer that cosigned it */
    int opened;                       /* 1: signature (and the peer's cosignature) verified */
    int compared;                     /* 1: its root was compared with the tree's */
    gwctl_checkpoint_t cp;
} gwctl_verify_cp_t;

typedef struct {
    gwctl_fed_t f;
    gwctl_pins_t pins;
    const char *region;
    size_t home;
    gwctl_verify_cp_t cps[GWCTL_TARGETS_MAX];
    size_t ncp;
    uint64_t head;   /* entries the log says it has */
    uint64_t read;   /* entries read and hashed */
    uint64_t bad;    /* the first entry found bad or rewritten (0: none) */
    int stopped;     /* the walk stopped before the log's end (a gap) */
    merkle_hash_t root; /* the recomputed root at `read` */
    char why[768];
    int failures;
    json_t *replay; /* --json: the replay's member (gwctl/replay.c) */
    long replay_differences; /* its result: differences, or -1 if not compared */
} gwctl_verify_t;

/* A finding: counted, and said on stderr (the first with a seq also becomes v->why). */
static void gwctl_verify_finding(gwctl_verify_t *v, uint64_t seq, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    v->failures++;
    if (seq != 0 && (v->bad == 0 || seq < v->bad)) {
        v->bad = seq;
        snprintf(v->why, sizeof v->why, "%s", msg);
    }
    fprintf(stderr, "gwctl audit verify: %s\n", msg);
}

/* Opens note (cosig: the holder's cosignature line, appended; NULL for the
 * region's own) as a checkpoint of v->region held by target i. */
static void gwctl_verify_take(gwctl_verify_t *v, size_t i, const ProtobufCBinaryData *note,
                              const ProtobufCBinaryData *cosig) {
    CARBON_ASSERT(i < v->f.n && v->ncp < GWCTL_TARGETS_MAX);
    gwctl_verify_cp_t *c = &v->cps[v->ncp++];
    memset(c, 0, sizeof *c);
    /* both live in *v: a copy GCC at -O2 cannot mistake for an overlap */
    const char *held_by = v->f.targets[i].where.region;
    size_t held_by_len = strnlen(held_by, sizeof c->held_by - 1);
    memcpy(c->held_by, held_by, held_by_len);
    c->held_by[held_by_len] = '\0';
    size_t len = note->len + (cosig != NULL ? cosig->len : 0);
    char *text = malloc(len > 0 ? len : 1), why[512] = "";
    if (text == NULL) abort();
    if (note->len > 0) memcpy(text, note->data, note->len);
    if (cosig != NULL && cosig->len > 0) memcpy(text + note->len, cosig->data, cosig->len);
    int rc = gwctl_checkpoint_open(&v->pins, v->region, text, len, &c->cp, why, sizeof why);
    free(text);
    if (rc != 0) {
        gwctl_verify_finding(v, 0, "the checkpoint held by %s: %s", c->held_by, why);
        return;
    }
    int cosigned = cosig == NULL;
    for (size_t k = 0; k < c->cp.cosigners_n && !cosigned; k++) cosigned = !strcmp(c->cp.cosigners[k], c->held_by);
    if (!cosigned) {
        gwctl_verify_finding(v, 0, "%s holds a checkpoint of %s at size %" PRIu64 " without its own valid "
                             "cosignature of it (is %s's key pinned?)", c->held_by, v->region, c->cp.body.size,
                             c->held_by);
        return;
    }
    c->opened = 1;
}

/* Keeps the checkpoints of v->region in target i's answer r: the home
 * target's own, or the one a peer cosigned (the first if it sends more). */
static void gwctl_verify_held(gwctl_verify_t *v, size_t i, const Carbon__V1__GetCheckpointResponse *r) {
    if (i == v->home) {
        if (r->own_checkpoint.len > 0) gwctl_verify_take(v, i, &r->own_checkpoint, NULL);
        else fprintf(stderr, "gwctl audit verify: %s has no checkpoint of its own yet\n", v->region);
        return;
    }
    for (size_t k = 0; k < r->n_witnessed; k++) {
        const Carbon__V1__WitnessedCheckpoint *w = r->witnessed[k];
        if (w == NULL || strcmp(w->region, v->region) != 0) continue;
        gwctl_verify_take(v, i, &w->checkpoint, &w->cosignature);
        return;
    }
}

/* Every checkpoint of the region: its own and those its peers cosigned. */
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
        gwctl_verify_held(v, i, (const Carbon__V1__GetCheckpointResponse *)resp);
        protobuf_c_message_free_unpacked(resp, NULL);
    }
}

/* Compares every opened checkpoint of size v->read with the root there:
 * the peers' first, so a fork is named by the witness that holds it. */
static void gwctl_verify_compare(gwctl_verify_t *v) {
    char have[GWCTL_HASH_B64_SIZE], want[GWCTL_HASH_B64_SIZE];
    for (size_t j = 0; j < 2 * v->ncp; j++) {
        gwctl_verify_cp_t *c = &v->cps[j % v->ncp];
        int own = strcmp(c->held_by, v->region) == 0;
        if (own != (j >= v->ncp)) continue;
        if (!c->opened || c->compared || c->cp.body.size != v->read) continue;
        c->compared = 1;
        if (merkle_hash_equal(&c->cp.root, &v->root)) continue;
        gwctl_hash_b64(&c->cp.root, have);
        gwctl_hash_b64(&v->root, want);
        if (own)
            gwctl_verify_finding(v, v->read, "%s's own checkpoint at size %" PRIu64 " has root %s; the log gives root "
                                 "%s at size %" PRIu64 ": the history was rewritten at or before entry %" PRIu64,
                                 v->region, v->read, have, want, v->read, v->read);
        else
            gwctl_verify_finding(v, v->read, "%s cosigned %s at size %" PRIu64 " with root %s; the log gives root "
                                 "%s at size %" PRIu64 ": the history was rewritten at or before entry %" PRIu64,
                                 c->held_by, v->region, v->read, have, want, v->read, v->read);
    }
}

/* Hashes one entry m (which must be entry v->read + 1) into the tree. 0, or
 * -1 when the walk must stop (a gap, or a tree too large). */
static int gwctl_verify_entry(gwctl_verify_t *v, gwctl_tree_t *tree, const Carbon__V1__AuditEntry *m) {
    uint64_t seq = v->read + 1;
    if (m->seq != seq) {
        gwctl_verify_finding(v, seq, "entry %" PRIu64 " is missing (the log gives entry %" PRIu64 " there)", seq,
                             m->seq);
        v->stopped = 1;
        return -1;
    }
    audit_entry_t d;
    char why[512] = "";
    if (audit_entry_parse(seq, (const char *)m->entry.data, m->entry.len, &d, why, sizeof why) != 0)
        gwctl_verify_finding(v, seq, "entry %" PRIu64 " is not a carbon-audit/3 entry: %s", seq, why);
    else
        audit_entry_free(&d);
    /* a malformed entry is still a leaf: the tree is over the bytes as they are */
    merkle_hash_t leaf;
    if (merkle_leaf_hash(m->entry.data, m->entry.len, &leaf) != MERKLE_OK || gwctl_tree_append(tree, &leaf) != MERKLE_OK ||
        gwctl_tree_root(tree, &v->root) != MERKLE_OK) {
        gwctl_verify_finding(v, seq, "entry %" PRIu64 " cannot be hashed (over 1 MiB, or the tree over 2^40)", seq);
        v->stopped = 1;
        return -1;
    }
    v->read = seq;
    gwctl_verify_compare(v);
    return 0;
}

/* Reads the whole log of the home target page by page into the tree. -1 if
 * it could not be read (the target is then marked unread). */
static int gwctl_verify_walk(gwctl_verify_t *v, int progress) {
    CARBON_ASSERT(v->home < v->f.n);
    gwctl_tree_t tree = {0};
    int more = 1;
    gwctl_tree_root(&tree, &v->root);
    while (more) {
        Carbon__V1__ReadLogRequest req = CARBON__V1__READ_LOG_REQUEST__INIT;
        req.from_seq = v->read + 1;
        req.limit = GWCTL_VERIFY_PAGE;
        ProtobufCMessage *resp = NULL;
        int rc = gwctl_fed_call(&v->f, v->home, "ReadLog", &req.base, &carbon__v1__read_log_response__descriptor,
                                &resp);
        if (rc != 0) {
            gwctl_fed_mark_unread(&v->f, v->home, rc);
            return -1;
        }
        const Carbon__V1__ReadLogResponse *r = (const Carbon__V1__ReadLogResponse *)resp;
        if (v->head < r->head_seq) v->head = r->head_seq;
        more = v->read < v->head && r->n_entries > 0;
        for (size_t k = 0; more && k < r->n_entries; k++) more = gwctl_verify_entry(v, &tree, r->entries[k]) == 0;
        more = more && v->read < v->head;
        if (v->read < v->head && r->n_entries == 0) {
            gwctl_verify_finding(v, v->read + 1, "entry %" PRIu64 " is missing (the log says it has %" PRIu64 ")",
                                 v->read + 1, v->head);
            v->stopped = 1;
        }
        protobuf_c_message_free_unpacked(resp, NULL);
        if (progress && v->read % GWCTL_PROGRESS_EVERY < GWCTL_VERIFY_PAGE && v->read >= GWCTL_PROGRESS_EVERY)
            fprintf(stderr, "\rverified %" PRIu64 " / %" PRIu64 " entries", v->read, v->head);
    }
    if (progress && v->read >= GWCTL_PROGRESS_EVERY) fputc('\n', stderr);
    return 0;
}

/* The checkpoints past the entries read: the log was cut or not all read. */
static void gwctl_verify_past_end(gwctl_verify_t *v) {
    for (size_t k = 0; k < v->ncp; k++) {
        const gwctl_verify_cp_t *c = &v->cps[k];
        if (!c->opened || c->compared) continue;
        if (v->stopped) continue; /* not reached: the gap is the finding */
        gwctl_verify_finding(v, v->read + 1, "%s %s %s at size %" PRIu64 " but the log has only %" PRIu64
                             " entries: the history was truncated",
                             c->held_by, strcmp(c->held_by, v->region) ? "cosigned" : "signed", v->region,
                             c->cp.body.size, v->read);
    }
}

/* The checkpoints compared, as "CN-BJ at 12, CN-HE at 12". */
static void gwctl_verify_list(const gwctl_verify_t *v, char *out, size_t size) {
    size_t used = 0;
    out[0] = '\0';
    for (size_t k = 0; k < v->ncp && used < size; k++)
        if (v->cps[k].compared)
            used += (size_t)snprintf(out + used, size - used, "%s%s at %" PRIu64, used ? ", " : "", v->cps[k].held_by,
                                     v->cps[k].cp.body.size);
}

static size_t gwctl_verify_compared(const gwctl_verify_t *v) {
    size_t n = 0;
    for (size_t k = 0; k < v->ncp; k++) n += (size_t)v->cps[k].compared;
    return n;
}

static void gwctl_verify_print(const gwctl_verify_t *v, int json) {
    int log_read = !v->f.targets[v->home].unread;
    char root[GWCTL_HASH_B64_SIZE], list[512];
    gwctl_hash_b64(&v->root, root);
    gwctl_verify_list(v, list, sizeof list);
    if (json) {
        json_t *cps = json_array();
        for (size_t k = 0; k < v->ncp; k++)
            if (v->cps[k].compared)
                json_array_append_new(cps, json_pack("{s:o, s:o}", "held_by", gwctl_json_text(v->cps[k].held_by),
                                                     "size", gwctl_json_u64(v->cps[k].cp.body.size)));
        json_t *doc = json_pack("{s:s, s:b, s:o, s:s, s:o, s:o, s:o, s:i, s:o, s:o}", "region", v->region,
                                "log_read", log_read, "entries", gwctl_json_u64(v->read), "root", root,
                                "checkpoints", json_integer((json_int_t)gwctl_verify_compared(v)), "checkpoints_verified", cps,
                                "first_bad_entry", gwctl_json_u64(v->bad), "failures", v->failures, "reason",
                                gwctl_json_text(v->why), "unreachable_regions", gwctl_fed_json_unread(&v->f));
        if (v->replay != NULL) json_object_update(doc, v->replay);
        gwctl_json_emit(doc);
    } else if (v->failures > 0) {
        printf("%s: VERIFICATION FAILED: %s\n", v->region,
               v->bad                       ? v->why
               : v->replay_differences > 0 ? "the store is not what the log says (differences above)"
                                           : "a checkpoint does not verify (see above)");
    } else if (!log_read) {
        printf("%s: NOT VERIFIED: its log could not be read; %zu checkpoints read\n", v->region, v->ncp);
    } else {
        printf("%s: %" PRIu64 " entries verified, tree root %s; %zu checkpoints verified (%s)\n", v->region, v->read,
               root, gwctl_verify_compared(v), list[0] ? list : "none held");
    }
    gwctl_fed_print_unread(&v->f, "audit verify", log_read ? "the checkpoints they hold were not compared"
                                                           : "the log itself was not verified");
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

/* Loads the pinned keys; REGION's must be among them. 0 or the exit code. */
static int gwctl_verify_pins(gwctl_verify_t *v) {
    char why[512] = "";
    if (gwctl_pins_load(&v->pins, v->f.keys_dir, why, sizeof why) != 0) {
        fprintf(stderr, "gwctl audit verify: --audit-keys: %s\n", why);
        return GWCTL_EXIT_CREDENTIALS;
    }
    if (gwctl_pin_of(&v->pins, v->region) == NULL) {
        fprintf(stderr, "gwctl audit verify: no pinned key for %s: put %s-audit-signing.pub in %s (--audit-keys)\n",
                v->region, v->region, v->f.keys_dir ? v->f.keys_dir : "a folder");
        return GWCTL_EXIT_CREDENTIALS;
    }
    return 0;
}

int gwctl_audit(int argc, char **argv) {
    CARBON_ASSERT(argc >= 1 && argv != NULL && argv[0] != NULL);
    if (argc >= 2 && strcmp(argv[1], "model-check") == 0) return gwctl_model_check(argc - 1, argv + 1);
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
    if (rc == 0 && v->region != NULL) rc = gwctl_verify_pins(v);
    if (rc == 0 && v->region != NULL && gwctl_fed_connect(&v->f) != 0) rc = GWCTL_EXIT_CREDENTIALS;
    if (rc != 0 || v->region == NULL) {
        gwctl_fed_close(&v->f);
        free(v);
        return rc;
    }
    gwctl_verify_checkpoints(v);
    if (!v->f.targets[v->home].unread && gwctl_verify_walk(v, !json) == 0) gwctl_verify_past_end(v);
    /* the entries replayed into a ledger, compared with the store (gwctl/replay.c) */
    v->replay = json ? json_object() : NULL;
    if (!v->f.targets[v->home].unread) {
        v->replay_differences = gwctl_replay_verify(&v->f, v->home, v->region, v->replay);
        if (v->replay_differences > 0) v->failures++;
    }
    gwctl_verify_print(v, json);
    json_decref(v->replay);
    int exit_code = v->failures > 0 ? GWCTL_EXIT_FINDING : v->f.read_exit != 0 ? v->f.read_exit : GWCTL_EXIT_OK;
    gwctl_fed_close(&v->f);
    free(v);
    return exit_code;
}
