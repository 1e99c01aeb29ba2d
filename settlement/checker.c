/* checker.c - invariants over every region's store (checker.h). */
#include "settlement/checker.h"
#include "common/carbon_assert.h"

#include "settlement/audit.h"
#include "settlement/log_tree.h"
#include "settlement/ledger.h"
#include "settlement/reasons.h"
#include "settlement/store_keys.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define CHECKER_SCAN_COUNT "1000"

typedef struct {
    char origin[CARBON_REGION_SIZE];
    uint64_t first, last;
    char meth[LEDGER_METH_MAX + 1]; /* "" for a span of an index, a lock or a map */
    uint32_t vintage;
    char place[96];
} checker_span_t;

typedef struct {
    checker_span_t *v;
    size_t n, cap;
} checker_spans_t;

typedef struct {
    uint64_t first, last;
    char region[CARBON_REGION_SIZE];
    char state[16]; /* "at", "retired", "cancelled" */
} checker_map_entry_t;

typedef struct {
    uint64_t first, last;
    uint32_t vintage;
    char meth[LEDGER_METH_MAX + 1];
} checker_label_t; /* serial:labels: what a range of the region's serials was issued as */

typedef struct {
    char region[CARBON_REGION_SIZE];
    ledger_leg_t *legs;
    size_t legs_n, legs_cap;
    uint64_t serial_last;
    checker_map_entry_t *map; /* origin:map, sorted by first (malformed entries left out) */
    size_t map_n;
    checker_spans_t own;   /* serials:REGION of this store: its own serials it holds */
    checker_spans_t locks; /* origin:locks: its serials in legs prepared at it */
    checker_label_t *labels; /* serial:labels, sorted by first (malformed entries left out) */
    size_t labels_n;
    int labels_built; /* meta:serial-labels: else its labels are not checked */
} checker_store_t;

static void checker_violation(checker_report_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void checker_violation(checker_report_t *r, const char *fmt, ...) {
    if (r->violations_n < CHECKER_VIOLATIONS_MAX) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->violations[r->violations_n], CHECKER_TEXT_MAX, fmt, ap);
        va_end(ap);
    }
    r->violations_n++;
}

static void checker_add_span(checker_spans_t *s, const ledger_block_t *b, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void checker_add_span(checker_spans_t *s, const ledger_block_t *b, const char *fmt, ...) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (s->v == NULL) abort();
    }
    checker_span_t *sp = &s->v[s->n++];
    snprintf(sp->origin, sizeof sp->origin, "%s", b->origin);
    sp->first = b->first;
    sp->last = b->last;
    snprintf(sp->meth, sizeof sp->meth, "%s", b->meth);
    sp->vintage = b->vintage;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sp->place, sizeof sp->place, fmt, ap);
    va_end(ap);
}

/* Notes a region named by a leg whose store was not given (once, sorted). */
static void checker_note_unchecked(checker_report_t *r, const char *region) {
    for (size_t i = 0; i < r->unchecked_n; i++)
        if (strcmp(r->unchecked[i], region) == 0) return;
    if (r->unchecked_n == CHECKER_REGIONS_MAX) return;
    size_t at = r->unchecked_n; /* kept sorted */
    while (at > 0 && strcmp(r->unchecked[at - 1], region) > 0) {
        memcpy(r->unchecked[at], r->unchecked[at - 1], sizeof r->unchecked[0]);
        at--;
    }
    snprintf(r->unchecked[at], sizeof r->unchecked[0], "%s", region);
    r->unchecked_n++;
}

/* Reports origin's serials first..last as nowhere, except those covered by
 * abroad (sorted): exported to a region whose store was not given. */
static void checker_gap(checker_report_t *r, const checker_spans_t *abroad, const char *origin,
                        uint64_t first, uint64_t last) {
    uint64_t cur = first;
    for (size_t k = 0; k < abroad->n && cur <= last; k++) {
        const checker_span_t *sp = &abroad->v[k];
        if (strcmp(sp->origin, origin) != 0 || sp->last < cur) continue;
        if (sp->first > last) break;
        if (sp->first > cur)
            checker_violation(r, "%s serials %" PRIu64 "-%" PRIu64 " are nowhere", origin, cur,
                              sp->first - 1);
        if (sp->last == UINT64_MAX) return;
        cur = sp->last + 1;
    }
    if (cur <= last)
        checker_violation(r, "%s serials %" PRIu64 "-%" PRIu64 " are nowhere", origin, cur, last);
}

static int checker_span_cmp(const void *a, const void *b) {
    const checker_span_t *x = a, *y = b;
    int c = strcmp(x->origin, y->origin);
    if (c != 0) return c;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* Runs a command given as a NULL-terminated list of strings. */
static redisReply *checker_cmd(store_t *st, char *err, size_t errlen, ...) {
    const char *argv[8];
    size_t argvlen[8];
    int argc = 0;
    va_list ap;
    va_start(ap, errlen);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < 8) {
        argv[argc] = a;
        argvlen[argc] = strlen(a);
        argc++;
    }
    va_end(ap);
    redisReply *r = NULL;
    if (store_command(st, argc, argv, argvlen, &r, err, errlen) != STORE_OK) return NULL;
    return r;
}

/* Calls fn(key) for every key matching pattern. Returns 0 or -1. */
static int checker_scan(store_t *st, const char *pattern,
                        int (*fn)(void *ctx, store_t *st, const char *key), void *ctx, char *err,
                        size_t errlen) {
    char cursor[32] = "0";
    do {
        redisReply *r = checker_cmd(st, err, errlen, "SCAN", cursor, "MATCH", pattern, "COUNT",
                                    CHECKER_SCAN_COUNT, (const char *)NULL);
        if (r == NULL) return -1;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            snprintf(err, errlen, "SCAN: unexpected reply");
            return -1;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        const redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            if (fn(ctx, st, keys->element[i]->str) != 0) {
                freeReplyObject(r);
                return -1;
            }
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

typedef struct {
    checker_spans_t *spans;
    checker_report_t *report;
    checker_store_t *store;
    char *err;
    size_t errlen;
} checker_ctx_t;

/* Reads an account's set member "METH|VVVV ORIGIN FIRST LAST METH"
 * (store_keys.h: vintage in 4 digits, serials in 16; the methodology in
 * front is the block's own) into b; 0, or -1 if it is malformed or not
 * written the one way the scripts write it (its place in the spending order,
 * or in its methodology's range, would be wrong). */
static int checker_member_block(const char *member, ledger_block_t *b) {
    const char *bar = strchr(member, '|');
    if (bar == NULL) return -1;
    size_t meth_len = (size_t)(bar - member);
    const char *m = bar + 1;
    size_t len = strlen(m);
    const char *sp = len > 5 ? memchr(m + 5, ' ', len - 5) : NULL;
    if (sp == NULL || (size_t)(sp - m) + 35 > len || m[4] != ' ') return -1;
    char text[160];
    int n = snprintf(text, sizeof text, "%.*s|%s|%.4s|%.16s|%.16s", (int)(sp - m - 5), m + 5, sp + 35,
                     m, sp + 1, sp + 18);
    if (n < 0 || (size_t)n >= sizeof text || ledger_block_parse(text, (size_t)n, b) != 0) return -1;
    if (strlen(b->meth) != meth_len || memcmp(b->meth, member, meth_len) != 0) return -1;
    char again[160];
    n = snprintf(again, sizeof again, "%04" PRIu32 " %s %016" PRIu64 " %016" PRIu64 " %s", b->vintage,
                 b->origin, b->first, b->last, b->meth);
    return n > 0 && (size_t)n < sizeof again && strcmp(again, m) == 0 ? 0 : -1;
}

static int checker_on_account(void *vctx, store_t *st, const char *key) {
    checker_ctx_t *c = vctx;
    /* key: STORE_KEY_ACCOUNT_PREFIX ID STORE_KEY_ACCOUNT_BLOCKS_SUFFIX */
    const char *id = key + strlen(STORE_KEY_ACCOUNT_PREFIX);
    size_t id_len = strlen(id) - strlen(STORE_KEY_ACCOUNT_BLOCKS_SUFFIX);
    redisReply *r = checker_cmd(st, c->err, c->errlen, "ZRANGE", key, "0", "-1", (const char *)NULL);
    if (r == NULL) return -1;
    c->report->accounts++;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        ledger_block_t b;
        if (r->element[i]->type != REDIS_REPLY_STRING || checker_member_block(r->element[i]->str, &b) != 0) {
            checker_violation(c->report, "%s: account %.*s has a malformed block '%s'",
                              c->store->region, (int)id_len, id,
                              r->element[i]->type == REDIS_REPLY_STRING ? r->element[i]->str : "?");
            continue;
        }
        c->report->grams_in_accounts += b.last - b.first + 1;
        checker_add_span(c->spans, &b, "%s account %.*s", c->store->region, (int)id_len, id);
    }
    if (r->type != REDIS_REPLY_ARRAY)
        checker_violation(c->report, "%s: account %.*s's blocks are not a sorted set", c->store->region,
                          (int)id_len, id);
    freeReplyObject(r);
    return 0;
}

/* A second set of an account's blocks (the format before 2026-12-02) that
 * account_blocks_migrate.lua left: its two sets differed. */
static int checker_on_old_set(void *vctx, store_t *st, const char *key) {
    checker_ctx_t *c = vctx;
    (void)st;
    checker_violation(c->report, "%s: %s: an account's second set of blocks, not folded into its one set",
                      c->store->region, key);
    return 0;
}

static int checker_on_leg(void *vctx, store_t *st, const char *key) {
    checker_ctx_t *c = vctx;
    /* key: STORE_KEY_LEG_PREFIX TID STORE_KEY_LEG_SUFFIX */
    const size_t prefix_len = sizeof STORE_KEY_LEG_PREFIX - 1;
    char tid[LEDGER_TID_LEN + 1];
    size_t len = strlen(key);
    if (len != prefix_len + LEDGER_TID_LEN + sizeof STORE_KEY_LEG_SUFFIX - 1) return 0; /* not a leg key */
    memcpy(tid, key + prefix_len, LEDGER_TID_LEN);
    tid[LEDGER_TID_LEN] = '\0';
    checker_store_t *s = c->store;
    if (s->legs_n == s->legs_cap) {
        s->legs_cap = s->legs_cap ? s->legs_cap * 2 : 256;
        s->legs = realloc(s->legs, s->legs_cap * sizeof *s->legs);
        if (s->legs == NULL) abort();
    }
    int rc = ledger_leg_get(st, tid, &s->legs[s->legs_n], c->err, c->errlen);
    if (rc == LEDGER_NOT_FOUND) return 0;
    if (rc != LEDGER_OK) {
        checker_violation(c->report, "%s: leg %s cannot be read: %s", s->region, tid, c->err);
        return 0;
    }
    s->legs_n++;
    return 0;
}

/* Reads a list of "ID|block" entries into spans with place label. */
static int checker_list(store_t *st, checker_ctx_t *c, const char *list, const char *what,
                        uint64_t *grams) {
    redisReply *r = checker_cmd(st, c->err, c->errlen, "LRANGE", list, "0", "-1", (const char *)NULL);
    if (r == NULL) return -1;
    for (size_t i = 0; i < r->elements; i++) {
        const char *e = r->element[i]->str;
        const char *bar = strchr(e, '|');
        ledger_block_t b;
        if (bar == NULL || ledger_block_parse(bar + 1, strlen(bar + 1), &b) != 0) {
            checker_violation(c->report, "%s: malformed %s entry '%s'", c->store->region, what, e);
            continue;
        }
        *grams += b.last - b.first + 1;
        checker_add_span(c->spans, &b, "%s %s by %.*s", c->store->region, what, (int)(bar - e), e);
    }
    freeReplyObject(r);
    return 0;
}

/* ---- the serial index (store_keys.h serials:ORIGIN) ----------------------------- */

/* Sorts s and merges its ranges that overlap or touch, per origin. */
static void checker_coalesce(checker_spans_t *s) {
    if (s->n == 0) return;
    qsort(s->v, s->n, sizeof *s->v, checker_span_cmp);
    size_t k = 0;
    for (size_t i = 1; i < s->n; i++) {
        checker_span_t *cur = &s->v[k];
        const checker_span_t *sp = &s->v[i];
        if (strcmp(cur->origin, sp->origin) == 0 && sp->first <= cur->last + 1) {
            if (sp->last > cur->last) cur->last = sp->last;
        } else {
            s->v[++k] = *sp;
        }
    }
    s->n = k + 1;
}

typedef struct {
    checker_spans_t *index;
    checker_report_t *report;
    const char *region;
    char *err;
    size_t errlen;
} checker_index_ctx_t;

/* Reads one serials:ORIGIN key ("FIRST:LAST" members) into the index spans. */
static int checker_on_index(void *vctx, store_t *st, const char *key) {
    checker_index_ctx_t *c = vctx;
    const char *origin = key + strlen(STORE_KEY_SERIALS_PREFIX);
    redisReply *r = checker_cmd(st, c->err, c->errlen, "ZRANGE", key, "0", "-1", (const char *)NULL);
    if (r == NULL) return -1;
    for (size_t i = 0; i < r->elements; i++) {
        ledger_block_t b;
        memset(&b, 0, sizeof b);
        snprintf(b.origin, sizeof b.origin, "%s", origin);
        char *end = NULL;
        b.first = strtoull(r->element[i]->str, &end, 10);
        if (end == NULL || *end != ':' || (b.last = strtoull(end + 1, NULL, 10)) < b.first) {
            checker_violation(c->report, "%s: malformed serial index entry '%s' of %s", c->region,
                              r->element[i]->str, origin);
            continue;
        }
        checker_add_span(c->index, &b, "index");
    }
    freeReplyObject(r);
    return 0;
}

/* The region's serial index must cover exactly what it holds: its accounts,
 * retired and cancelled blocks (spans[from..] as scanned for it), its HELD
 * source legs and PREPARED destination legs. Reports the first difference. */
static int checker_index(store_t *st, checker_ctx_t *c, size_t from) {
    checker_spans_t held = {0}, index = {0};
    for (size_t i = from; i < c->spans->n; i++) {
        ledger_block_t b = {0};
        snprintf(b.origin, sizeof b.origin, "%s", c->spans->v[i].origin);
        b.first = c->spans->v[i].first;
        b.last = c->spans->v[i].last;
        checker_add_span(&held, &b, "held");
    }
    for (size_t k = 0; k < c->store->legs_n; k++) {
        const ledger_leg_t *leg = &c->store->legs[k];
        int source = strcmp(leg->role, "source") == 0;
        int destination = strcmp(leg->role, "destination") == 0; /* not an origin's leg */
        if ((source && leg->state == TRANSFER_STATE_HELD) ||
            (destination && leg->state == TRANSFER_STATE_PREPARED))
            for (size_t b = 0; b < leg->blocks_n; b++) checker_add_span(&held, &leg->blocks[b], "held");
    }
    checker_index_ctx_t ic = {&index, c->report, c->store->region, c->err, c->errlen};
    int rc = checker_scan(st, STORE_KEY_SERIALS_PREFIX "*", checker_on_index, &ic, c->err, c->errlen);
    checker_coalesce(&held);
    checker_coalesce(&index);
    for (size_t i = 0; rc == 0 && (i < held.n || i < index.n); i++) {
        const checker_span_t *h = i < held.n ? &held.v[i] : NULL, *x = i < index.n ? &index.v[i] : NULL;
        if (h != NULL && x != NULL && strcmp(h->origin, x->origin) == 0 && h->first == x->first &&
            h->last == x->last)
            continue;
        /* the first range in order that one side lacks, or the same start with another end */
        int cmp = h == NULL ? 1 : x == NULL ? -1 : checker_span_cmp(h, x);
        const checker_span_t *at = cmp <= 0 ? h : x;
        checker_violation(c->report,
                          "%s: its serial index does not match what it holds, from %s serial %" PRIu64
                          " (%s)", c->store->region, at->origin, at->first,
                          cmp < 0 ? "held, not indexed" : cmp > 0 ? "indexed, not held" : "ranges differ");
        break;
    }
    free(held.v);
    free(index.v);
    return rc;
}

typedef struct {
    char tid[LEDGER_TID_LEN + 1];
    unsigned holds, decisions, prepares, finals, acks;
} checker_events_t;

static checker_events_t *checker_events_of(checker_events_t **ev, size_t *n, size_t *cap,
                                           const char *tid) {
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*ev)[i].tid, tid) == 0) return &(*ev)[i];
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        *ev = realloc(*ev, *cap * sizeof **ev);
        if (*ev == NULL) abort();
    }
    checker_events_t *e = &(*ev)[(*n)++];
    memset(e, 0, sizeof *e);
    snprintf(e->tid, sizeof e->tid, "%.32s", tid);
    return e;
}

/* Counts an entry's events per transfer id (hold, decide, prepare, apply/drop, ack). */
static void checker_count_events(const audit_entry_t *e, checker_events_t **ev, size_t *ev_n,
                                 size_t *ev_cap) {
    static const char *const counted[] = {"hold",    "commit", "abort", "prepare",
                                          "refuse",  "apply",  "drop",  "acked"};
    int kind = -1;
    for (int k = 0; k < 8; k++)
        if (strcmp(e->event, counted[k]) == 0) kind = k;
    if (kind < 0) return;
    for (size_t i = 0; i < e->ids_n; i++) {
        const char *p = e->ids[i];
        if (strlen(p) >= LEDGER_TID_LEN) {
            char tid[LEDGER_TID_LEN + 1];
            memcpy(tid, p, LEDGER_TID_LEN);
            tid[LEDGER_TID_LEN] = '\0';
            checker_events_t *c = checker_events_of(ev, ev_n, ev_cap, tid);
            switch (kind) {
            case 0: c->holds++; break;
            case 1: case 2: c->decisions++; break;
            case 3: case 4: c->prepares++; break;
            case 5: case 6: c->finals++; break;
            default: c->acks++; break;
            }
        }
        /* per-leg entries (hold, commit, abort, prepare, apply) list the
         * transfer, then its accounts; the others list transfers only */
        if (kind != 4 && kind != 6 && kind != 7) break;
    }
}

/* The integrated tree must be the tree of the entries it covers. */
static void checker_audit_tree(checker_report_t *rep, const char *region, const log_tree_head_t *tree,
                               const merkle_hash_t *leaves, int broken) {
    if (broken || tree->size == 0) return;
    merkle_leaf_array_t arr = {leaves, tree->size};
    merkle_hash_t root;
    if (merkle_root(merkle_leaf_array_read, &arr, tree->size, &root) != MERKLE_OK ||
        !merkle_hash_equal(&root, &tree->root))
        checker_violation(rep, "%s: the audit log's tree at size %" PRIu64
                          " is not the tree of its entries", region, tree->size);
}

/* Checks that every entry parses, none is missing, and the integrated tree's
 * root is the root of the entries it covers; counts events per transfer
 * (idempotency). */
static int checker_audit(store_t *st, checker_ctx_t *c) {
    checker_report_t *rep = c->report;
    const char *region = c->store->region;
    uint64_t head_seq = 0;
    log_tree_head_t tree;
    if (audit_log_size(st, &head_seq, c->err, c->errlen) != LEDGER_OK ||
        log_tree_head(st, &tree, c->err, c->errlen) != LEDGER_OK)
        return -1;
    merkle_hash_t *leaves = calloc(tree.size + 1, sizeof *leaves);
    CARBON_ASSERT(leaves != NULL);
    checker_events_t *ev = NULL;
    size_t ev_n = 0, ev_cap = 0;
    int broken = 0;
    for (uint64_t from = 1; from <= head_seq && !broken; from += AUDIT_READ_MAX) {
        size_t want = head_seq - from + 1 < AUDIT_READ_MAX ? (size_t)(head_seq - from + 1) : AUDIT_READ_MAX;
        audit_entry_t *entries = NULL;
        size_t n = 0;
        if (audit_read(st, from, want, &entries, &n, c->err, c->errlen) != LEDGER_OK) {
            free(ev);
            free(leaves);
            return -1;
        }
        for (size_t i = 0; i < n && !broken; i++) {
            rep->audit_entries++;
            const audit_entry_t *e = &entries[i];
            if (e->seq != from + i) {
                checker_violation(rep, "%s: audit entry %" PRIu64 " is missing", region, from + i);
                broken = 1;
            } else if (strcmp(e->event, "malformed") == 0) {
                checker_violation(rep, "%s: audit entry %" PRIu64 " is not a carbon-audit/3 entry",
                                  region, e->seq);
                broken = 1;
            } else {
                if (e->seq <= tree.size &&
                    merkle_leaf_hash(e->entry, e->entry_len, &leaves[e->seq - 1]) != MERKLE_OK)
                    broken = 1;
                checker_count_events(e, &ev, &ev_n, &ev_cap);
            }
        }
        if (!broken && n < want) {
            checker_violation(rep, "%s: audit entry %" PRIu64 " is missing", region, from + n);
            broken = 1;
        }
        for (size_t i = 0; i < n; i++) audit_entry_free(&entries[i]);
        free(entries);
    }
    checker_audit_tree(rep, region, &tree, leaves, broken);
    free(leaves);
    for (size_t i = 0; i < ev_n; i++) {
        const checker_events_t *e = &ev[i];
        if (e->holds > 1 || e->decisions > 1 || e->prepares > 1 || e->finals > 1 || e->acks > 1)
            checker_violation(rep,
                              "%s: transfer %s applied more than once (hold %u, decide %u, "
                              "prepare %u, apply/drop %u, ack %u)",
                              region, e->tid, e->holds, e->decisions, e->prepares, e->finals,
                              e->acks);
    }
    free(ev);
    return 0;
}

/* The leg of transfer tid stored at region in role whose other side is peer:
 * a destination keys its legs by (source, id), so another source's leg of
 * the same id is not this transfer's. NULL if none. */
static const ledger_leg_t *checker_find_leg(const checker_store_t *stores, size_t n,
                                            const char *region, const char *tid, const char *role,
                                            const char *peer) {
    for (size_t i = 0; i < n; i++) {
        if (strcmp(stores[i].region, region) != 0) continue;
        for (size_t k = 0; k < stores[i].legs_n; k++) {
            const ledger_leg_t *l = &stores[i].legs[k];
            if (strcmp(l->tid, tid) == 0 && strcmp(l->role, role) == 0 && strcmp(l->peer, peer) == 0)
                return l;
        }
    }
    return NULL;
}

static int checker_has_region(const checker_store_t *stores, size_t n, const char *region) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(stores[i].region, region) == 0) return 1;
    return 0;
}

static int checker_same_blocks(const ledger_leg_t *a, const ledger_leg_t *b) {
    if (a->blocks_n != b->blocks_n) return 0;
    for (size_t i = 0; i < a->blocks_n; i++)
        if (strcmp(a->blocks[i].origin, b->blocks[i].origin) || a->blocks[i].first != b->blocks[i].first ||
            a->blocks[i].last != b->blocks[i].last || strcmp(a->blocks[i].meth, b->blocks[i].meth))
            return 0;
    return 1;
}

typedef struct {
    const checker_store_t *stores;
    size_t n;
    int settled_required;
    checker_report_t *rep;
    checker_spans_t *spans, *abroad; /* abroad: exported to a region not given */
} checker_pass_t;

/* A source leg HELD at region: its blocks are held there. */
static void checker_held(checker_pass_t *p, const char *region, const ledger_leg_t *leg,
                         const ledger_leg_t *d) {
    checker_report_t *rep = p->rep;
    int settled_required = p->settled_required;
    transfer_state_t dstate = d != NULL ? d->state : TRANSFER_STATE_NONE;
    rep->transfers_in_flight++;
    rep->grams_held += ledger_blocks_grams(leg->blocks, leg->blocks_n);
    for (size_t b = 0; b < leg->blocks_n; b++)
        checker_add_span(p->spans, &leg->blocks[b], "%s hold of %s", region, leg->tid);
    if (dstate == TRANSFER_STATE_COMMITTED)
        checker_violation(rep, "transfer %s: HELD at %s but COMMITTED at %s",
                          leg->tid, region, leg->peer);
    if (settled_required)
        checker_violation(rep, "transfer %s: still HELD at %s", leg->tid, region);
}

/* A source leg COMMITTED at region: its tombstone matches the destination's
 * leg d, or (region not given) its blocks are abroad. */
static void checker_committed(checker_pass_t *p, const char *region, const ledger_leg_t *leg,
                              const ledger_leg_t *d, int peer_known) {
    checker_report_t *rep = p->rep;
    int settled_required = p->settled_required;
    const char *ds = d != NULL ? transfer_state_name(d->state) : "absent";
    transfer_state_t dstate = d != NULL ? d->state : TRANSFER_STATE_NONE;
    rep->transfers_committed++;
    rep->grams_exported += ledger_blocks_grams(leg->blocks, leg->blocks_n);
    if (!peer_known) {
        checker_note_unchecked(rep, leg->peer);
        rep->grams_abroad += ledger_blocks_grams(leg->blocks, leg->blocks_n);
        for (size_t b = 0; b < leg->blocks_n; b++)
            checker_add_span(p->abroad, &leg->blocks[b], "abroad at %s", leg->peer);
        return;
    }
    if (dstate != TRANSFER_STATE_COMMITTED && dstate != TRANSFER_STATE_PREPARED) {
        checker_violation(rep, "transfer %s: COMMITTED at %s but %s at %s",
                          leg->tid, region, ds, leg->peer);
        return;
    }
    if (!checker_same_blocks(leg, d) || leg->credited_g != d->credited_g)
        checker_violation(rep,
                          "transfer %s: the tombstone at %s does not match the "
                          "blocks or credit at %s",
                          leg->tid, region, leg->peer);
    if (dstate == TRANSFER_STATE_PREPARED) {
        rep->grams_pending += ledger_blocks_grams(d->blocks, d->blocks_n);
        for (size_t b = 0; b < d->blocks_n; b++)
            checker_add_span(p->spans, &d->blocks[b], "%s pending of %s", leg->peer,
                             leg->tid);
        if (settled_required)
            checker_violation(rep, "transfer %s: committed but not yet applied at %s",
                              leg->tid, leg->peer);
    } else if (settled_required && !leg->acked) {
        checker_violation(rep, "transfer %s: applied at %s but not acknowledged at %s",
                          leg->tid, leg->peer, region);
    }
}

/* A source leg ABORTED at region: the destination did not commit it. */
static void checker_aborted(checker_pass_t *p, const char *region, const ledger_leg_t *leg,
                            const ledger_leg_t *d, int peer_known) {
    checker_report_t *rep = p->rep;
    int settled_required = p->settled_required;
    transfer_state_t dstate = d != NULL ? d->state : TRANSFER_STATE_NONE;
    rep->transfers_aborted++;
    if (!peer_known) {
        checker_note_unchecked(rep, leg->peer);
        return;
    }
    if (dstate == TRANSFER_STATE_COMMITTED)
        checker_violation(rep, "transfer %s: ABORTED at %s but COMMITTED at %s",
                          leg->tid, region, leg->peer);
    if (settled_required && dstate == TRANSFER_STATE_PREPARED)
        checker_violation(rep, "transfer %s: aborted but still PREPARED at %s",
                          leg->tid, leg->peer);
    if (settled_required && !leg->acked)
        checker_violation(rep, "transfer %s: abort not acknowledged at %s%s", leg->tid, region,
                          d == NULL ? " (no record at the destination)" : "");
}

/* One leg stored at region: both legs of its transfer agree. */
static void checker_leg(checker_pass_t *p, const char *region, const ledger_leg_t *leg) {
    checker_report_t *rep = p->rep;
    const checker_store_t *stores = p->stores;
    size_t n = p->n;
    if (strcmp(leg->heuristic_outcome, "MIXED") == 0) /* alarmed until an operator compensates */
        checker_violation(rep, "transfer %s: HEURISTIC_MIXED at %s (%s leg, %s; %s holds the other outcome)",
                          leg->tid, region, leg->role, transfer_state_name(leg->state), leg->peer);
    if (strcmp(leg->heuristic_outcome, REASON(ORIGIN_DENIED)) == 0) /* the source and the origin disagree */
        checker_violation(rep, "transfer %s: ORIGIN_DENIED at %s (%s sent COMMIT; the serials' origin "
                          "did not commit the leg)", leg->tid, region, leg->peer);
    if (strcmp(leg->role, "source") == 0) {
        rep->transfers++;
        const ledger_leg_t *d = checker_find_leg(stores, n, leg->peer, leg->tid, "destination", region);
        int peer_known = checker_has_region(stores, n, leg->peer);
        if (leg->state == TRANSFER_STATE_HELD)
            checker_held(p, region, leg, d);
        else if (leg->state == TRANSFER_STATE_COMMITTED)
            checker_committed(p, region, leg, d, peer_known);
        else if (leg->state == TRANSFER_STATE_ABORTED)
            checker_aborted(p, region, leg, d, peer_known);
        else
            checker_violation(rep, "transfer %s: unknown state '%s' at %s", leg->tid,
                              transfer_state_name(leg->state), region);
    } else if (strcmp(leg->role, "destination") == 0) {
        if (!checker_has_region(stores, n, leg->peer)) {
            checker_note_unchecked(rep, leg->peer);
            return;
        }
        const ledger_leg_t *s = checker_find_leg(stores, n, leg->peer, leg->tid, "source", region);
        if (s == NULL && (leg->state == TRANSFER_STATE_PREPARED || leg->state == TRANSFER_STATE_COMMITTED))
            checker_violation(rep, "transfer %s: %s at %s but unknown at its source %s", leg->tid,
                              transfer_state_name(leg->state), region, leg->peer);
    }
}

/* Conservation: sorted spans per origin neither overlap nor leave gaps
 * (except gaps covered by serials abroad). */
static void checker_conservation(checker_pass_t *p) {
    if (p->spans->n > 0) qsort(p->spans->v, p->spans->n, sizeof *p->spans->v, checker_span_cmp);
    if (p->abroad->n > 0) qsort(p->abroad->v, p->abroad->n, sizeof *p->abroad->v, checker_span_cmp);
    for (size_t i = 0; i < p->n; i++) {
        const char *origin = p->stores[i].region;
        uint64_t next = 1;
        const checker_span_t *reach = NULL; /* the span that reaches furthest so far (to next - 1) */
        for (size_t k = 0; k < p->spans->n; k++) {
            const checker_span_t *sp = &p->spans->v[k];
            if (strcmp(sp->origin, origin) != 0) continue;
            if (sp->first < next && reach != NULL)
                checker_violation(p->rep, "%s serials %" PRIu64 "-%" PRIu64 " are in two places: %s and %s",
                                  origin, sp->first, next - 1 < sp->last ? next - 1 : sp->last,
                                  reach->place, sp->place);
            else if (sp->first > next)
                checker_gap(p->rep, p->abroad, origin, next, sp->first - 1);
            if (sp->last + 1 > next) {
                next = sp->last + 1;
                reach = sp;
            }
        }
        if (next <= p->stores[i].serial_last)
            checker_gap(p->rep, p->abroad, origin, next, p->stores[i].serial_last);
        if (next > p->stores[i].serial_last + 1)
            checker_violation(p->rep, "%s serials above the last issued (%" PRIu64 ") exist", origin,
                              p->stores[i].serial_last);
    }
}

/* ---- the origins' maps (DESIGN §6 provenance) ------------------------------------ */

static int checker_map_cmp(const void *a, const void *b) {
    const checker_map_entry_t *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* Parses one origin:map member "FIRST:LAST:REGION:STATE" of the store of
 * region own (serials issued up to serial_last). 0, or -1 if malformed. */
static int checker_map_parse(const char *m, const char *own, uint64_t serial_last, checker_map_entry_t *e) {
    char tail[64] = "";
    if (sscanf(m, "%" SCNu64 ":%" SCNu64 ":%63s", &e->first, &e->last, tail) != 3) return -1;
    const char *colon = strchr(tail, ':');
    if (colon == NULL || (size_t)(colon - tail) >= sizeof e->region || strlen(colon + 1) >= sizeof e->state)
        return -1;
    snprintf(e->region, sizeof e->region, "%.*s", (int)(colon - tail), tail);
    snprintf(e->state, sizeof e->state, "%s", colon + 1);
    if (e->first < 1 || e->last < e->first || e->last > serial_last || e->region[0] == '\0' ||
        strcmp(e->region, own) == 0)
        return -1;
    return strcmp(e->state, "at") == 0 || strcmp(e->state, "retired") == 0 ||
                   strcmp(e->state, "cancelled") == 0 ? 0 : -1;
}

/* Reads the sorted members of a zset key of st into a reply. */
static redisReply *checker_zrange(store_t *st, checker_ctx_t *c, const char *key) {
    redisReply *r = checker_cmd(st, c->err, c->errlen, "ZRANGE", key, "0", "-1", (const char *)NULL);
    if (r != NULL && r->type != REDIS_REPLY_ARRAY) {
        snprintf(c->err, c->errlen, "ZRANGE %s: not an array", key);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* Reads the store's map (origin:map; malformed or overlapping entries are
 * violations) and its index of its own serials. 0 or -1. */
static int checker_read_map(store_t *st, checker_ctx_t *c) {
    checker_store_t *s = c->store;
    redisReply *r = checker_zrange(st, c, STORE_KEY_ORIGIN_MAP);
    if (r == NULL) return -1;
    s->map = calloc(r->elements + 1, sizeof *s->map);
    if (s->map == NULL) abort();
    for (size_t i = 0; i < r->elements; i++) {
        if (checker_map_parse(r->element[i]->str, s->region, s->serial_last, &s->map[s->map_n]) == 0)
            s->map_n++;
        else
            checker_violation(c->report, "%s: malformed origin map entry '%s'", s->region, r->element[i]->str);
    }
    freeReplyObject(r);
    qsort(s->map, s->map_n, sizeof *s->map, checker_map_cmp);
    for (size_t k = 1; k < s->map_n; k++)
        if (s->map[k].first <= s->map[k - 1].last)
            checker_violation(c->report, "%s: its map places %s serials %" PRIu64 "-%" PRIu64 " twice: %s at %s and %s at %s",
                              s->region, s->region, s->map[k].first,
                              s->map[k].last < s->map[k - 1].last ? s->map[k].last : s->map[k - 1].last,
                              s->map[k - 1].state, s->map[k - 1].region, s->map[k].state, s->map[k].region);
    char key[sizeof STORE_KEY_SERIALS_PREFIX + CARBON_REGION_SIZE];
    snprintf(key, sizeof key, "%s%.*s", STORE_KEY_SERIALS_PREFIX, (int)CARBON_REGION_MAX, s->region);
    if ((r = checker_zrange(st, c, key)) == NULL) return -1;
    for (size_t i = 0; i < r->elements; i++) {
        ledger_block_t b = {0};
        snprintf(b.origin, sizeof b.origin, "%.*s", (int)(sizeof b.origin - 1), s->region);
        if (sscanf(r->element[i]->str, "%" SCNu64 ":%" SCNu64, &b.first, &b.last) == 2 && b.first <= b.last)
            checker_add_span(&s->own, &b, "index"); /* a malformed one: checker_index said so */
    }
    freeReplyObject(r);
    checker_coalesce(&s->own);
    if ((r = checker_zrange(st, c, STORE_KEY_ORIGIN_LOCKS)) == NULL) return -1;
    for (size_t i = 0; i < r->elements; i++) {
        ledger_block_t b = {0};
        snprintf(b.origin, sizeof b.origin, "%.*s", (int)(sizeof b.origin - 1), s->region);
        if (sscanf(r->element[i]->str, "%" SCNu64 ":%" SCNu64, &b.first, &b.last) == 2 && b.first <= b.last)
            checker_add_span(&s->locks, &b, "lock");
        else
            checker_violation(c->report, "%s: malformed origin lock '%s'", s->region, r->element[i]->str);
    }
    freeReplyObject(r);
    return 0;
}

/* The region and the state of a span's place ("REGION account ID", "REGION
 * hold of TID", "REGION pending of TID", "REGION retired by RID", "REGION
 * cancelled by TID"): "at" (live), "pending", "retired" or "cancelled". */
static const char *checker_place(const checker_span_t *sp, char region[CARBON_REGION_SIZE]) {
    const char *space = strchr(sp->place, ' ');
    size_t n = space != NULL ? (size_t)(space - sp->place) : strlen(sp->place);
    snprintf(region, CARBON_REGION_SIZE, "%.*s", (int)(n < CARBON_REGION_SIZE ? n : CARBON_REGION_SIZE - 1), sp->place);
    const char *word = space != NULL ? space + 1 : "";
    if (strncmp(word, "pending ", 8) == 0) return "pending";
    if (strncmp(word, "retired ", 8) == 0) return "retired";
    if (strncmp(word, "cancelled ", 10) == 0) return "cancelled";
    return "at";
}

/* Whether first..last of o's serials is locked at o by a leg prepared there
 * (origin:locks): then its map follows at that leg's decision. */
static int checker_locked(const checker_store_t *o, uint64_t first, uint64_t last) {
    for (size_t k = 0; k < o->locks.n; k++)
        if (o->locks.v[k].first <= last && o->locks.v[k].last >= first) return 1;
    return 0;
}

/* o's serials a..b, held at region in state (span sp), which o's map places
 * by e (NULL: at home): a violation unless they agree, or, not settled, the
 * difference is a move in flight (a use not reported yet, a locked range). */
static void checker_map_piece(checker_pass_t *p, const checker_store_t *o, const checker_span_t *sp,
                              const char *region, const char *state, const checker_map_entry_t *e,
                              uint64_t a, uint64_t b) {
    int home = strcmp(region, o->region) == 0;
    if (home ? e == NULL : e != NULL && strcmp(e->region, region) == 0 && strcmp(e->state, state) == 0)
        return;
    if (!p->settled_required &&
        ((e != NULL && strcmp(e->region, region) == 0 && strcmp(e->state, "at") == 0) || checker_locked(o, a, b)))
        return;
    char where[64];
    if (e == NULL) snprintf(where, sizeof where, "at home");
    else snprintf(where, sizeof where, "%s at %s", strcmp(e->state, "at") == 0 ? "live" : e->state, e->region);
    checker_violation(p->rep, "%s serials %" PRIu64 "-%" PRIu64 ": %s's map places them %s, but they are %s at %s (%s)",
                      o->region, a, b, o->region, where, strcmp(state, "at") == 0 ? "live" : state, region,
                      sp->place);
}

/* Index of the first of n ranges sorted by first and disjoint (elements of
 * `size` bytes from base, each with its uint64_t last at last_at) whose last
 * is >= x; n if none. The map's entries, spans and labels alike. */
static size_t checker_first_ending_from(const void *base, size_t n, size_t size, size_t last_at,
                                        uint64_t x) {
    CARBON_ASSERT(base != NULL || n == 0);
    CARBON_ASSERT(size >= last_at + sizeof(uint64_t));
    const unsigned char *v = base;
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t last;
        memcpy(&last, v + mid * size + last_at, sizeof last);
        if (last < x) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Index of the first entry of o's map whose last is >= n (map_n if none). */
static size_t checker_map_find(const checker_store_t *o, uint64_t n) {
    return checker_first_ending_from(o->map, o->map_n, sizeof *o->map, offsetof(checker_map_entry_t, last), n);
}

/* Every place holding o's serials agrees with o's map (pending credits of
 * transfers in flight aside: the checker reports those by their legs). */
static void checker_map_forward(checker_pass_t *p, const checker_store_t *o) {
    for (size_t i = 0; i < p->spans->n; i++) {
        const checker_span_t *sp = &p->spans->v[i];
        char region[CARBON_REGION_SIZE];
        const char *state = checker_place(sp, region);
        if (strcmp(sp->origin, o->region) != 0 || strcmp(state, "pending") == 0) continue;
        uint64_t cur = sp->first;
        for (size_t k = checker_map_find(o, cur); cur <= sp->last;) {
            const checker_map_entry_t *e = k < o->map_n && o->map[k].first <= cur ? &o->map[k] : NULL;
            uint64_t end = sp->last;
            if (e != NULL && e->last < end) end = e->last;
            if (e == NULL && k < o->map_n && o->map[k].first - 1 < end) end = o->map[k].first - 1;
            checker_map_piece(p, o, sp, region, state, e, cur, end);
            if (e != NULL && end == e->last) k++;
            if (end == sp->last) break;
            cur = end + 1;
        }
    }
}

/* Index among the given stores of region, or -1. */
static int checker_store_index(const checker_pass_t *p, const char *region) {
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->stores[i].region, region) == 0) return (int)i;
    return -1;
}

/* Every range o's map places at a given region R is held there (live,
 * retired or cancelled: checker_map_forward compares the state), or, not
 * settled, coming (a pending credit). held[i]: o's serials at store i,
 * coalesced. */
static void checker_map_backward(checker_pass_t *p, const checker_store_t *o, const checker_spans_t *held) {
    for (size_t k = 0; k < o->map_n; k++) {
        const checker_map_entry_t *e = &o->map[k];
        int r = checker_store_index(p, e->region);
        if (r < 0) { /* its store was not given: not checked, and said so */
            checker_note_unchecked(p->rep, e->region);
            continue;
        }
        const checker_spans_t *h = &held[r];
        size_t lo = checker_first_ending_from(h->v, h->n, sizeof *h->v, offsetof(checker_span_t, last),
                                              e->first);
        uint64_t cur = e->first;
        for (size_t j = lo; j < h->n && h->v[j].first <= e->last && cur <= e->last; j++) {
            if (h->v[j].first > cur)
                checker_violation(p->rep, "%s serials %" PRIu64 "-%" PRIu64 ": %s's map places them %s at %s, but %s does not hold them",
                                  o->region, cur, h->v[j].first - 1, o->region, strcmp(e->state, "at") == 0 ? "live" : e->state,
                                  e->region, e->region);
            if (h->v[j].last >= e->last) cur = e->last + 1;
            else if (h->v[j].last + 1 > cur) cur = h->v[j].last + 1;
        }
        if (cur <= e->last && (p->settled_required || !checker_locked(o, cur, e->last)))
            checker_violation(p->rep, "%s serials %" PRIu64 "-%" PRIu64 ": %s's map places them %s at %s, but %s does not hold them",
                              o->region, cur, e->last, o->region, strcmp(e->state, "at") == 0 ? "live" : e->state,
                              e->region, e->region);
    }
}

/* Settled: o's index of its own serials is exactly what its map leaves at
 * home (issued serials with no entry). Reports the first difference. */
static void checker_map_home(checker_pass_t *p, const checker_store_t *o) {
    checker_spans_t home = {0};
    uint64_t cur = 1;
    ledger_block_t b = {0};
    snprintf(b.origin, sizeof b.origin, "%.*s", (int)(sizeof b.origin - 1), o->region);
    for (size_t k = 0; k <= o->map_n; k++) {
        uint64_t upto = k < o->map_n ? o->map[k].first - 1 : o->serial_last;
        if (upto >= cur) {
            b.first = cur;
            b.last = upto;
            checker_add_span(&home, &b, "home");
        }
        if (k < o->map_n && o->map[k].last + 1 > cur) cur = o->map[k].last + 1;
    }
    for (size_t i = 0; i < home.n || i < o->own.n; i++) {
        const checker_span_t *h = i < home.n ? &home.v[i] : NULL, *x = i < o->own.n ? &o->own.v[i] : NULL;
        if (h != NULL && x != NULL && h->first == x->first && h->last == x->last) continue;
        uint64_t at = h == NULL ? x->first : x == NULL ? h->first : h->first < x->first ? h->first : x->first;
        int indexed = x != NULL && x->first == at;
        checker_violation(p->rep, "%s: its index of its own serials and its map disagree from serial %" PRIu64
                          " (%s)", o->region, at,
                          indexed && h != NULL && h->first == at ? "ranges differ"
                          : indexed ? "indexed at home, but the map places it abroad"
                                    : "the map leaves it at home, but it is not indexed there");
        break;
    }
    free(home.v);
}

/* ---- the labels of each origin's serials (DESIGN §6 provenance) ------------------- */

static int checker_label_cmp(const void *a, const void *b) {
    const checker_label_t *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* Parses one serial:labels member "FIRST:LAST:VINTAGE:METHODOLOGY". 0, or
 * -1 if malformed. (Its last may pass serial:last as read before: an
 * issuance since may have joined its range.) */
static int checker_label_parse(const char *m, checker_label_t *e) {
    int meth_at = 0;
    if (sscanf(m, "%" SCNu64 ":%" SCNu64 ":%" SCNu32 ":%n", &e->first, &e->last, &e->vintage, &meth_at) != 3 ||
        meth_at == 0)
        return -1;
    const char *meth = m + meth_at;
    if (meth[0] == '\0' || strlen(meth) > LEDGER_METH_MAX) return -1;
    snprintf(e->meth, sizeof e->meth, "%s", meth);
    return e->first >= 1 && e->first <= e->last ? 0 : -1;
}

/* Serials issued (up to serial_last, read before the labels: an issuance
 * writes both in one script) that no label range covers: the scripts do
 * not judge their labels (serial_labels_match), so they are a finding. */
static void checker_labels_gaps(const checker_store_t *s, checker_report_t *rep) {
    uint64_t cur = 1; /* the first serial not yet seen labelled */
    for (size_t k = 0; k <= s->labels_n && cur <= s->serial_last; k++) {
        uint64_t upto = k < s->labels_n ? s->labels[k].first - 1 : s->serial_last;
        if (upto > s->serial_last) upto = s->serial_last;
        if (upto >= cur)
            checker_violation(rep, "%s: serials %" PRIu64 "-%" PRIu64 " were issued but have no labels "
                              "(serial:labels): their methodology and vintage are not checked",
                              s->region, cur, upto);
        if (k < s->labels_n && s->labels[k].last + 1 > cur) cur = s->labels[k].last + 1;
    }
}

/* Reads the store's labels of its own serials, if built (malformed or
 * overlapping entries, and issued serials without labels, are violations).
 * 0 or -1. */
static int checker_read_labels(store_t *st, checker_ctx_t *c) {
    checker_store_t *s = c->store;
    redisReply *r = checker_cmd(st, c->err, c->errlen, "GET", STORE_KEY_SERIAL_LABELS_BUILT, (const char *)NULL);
    if (r == NULL) return -1;
    s->labels_built = r->type == REDIS_REPLY_STRING && strcmp(r->str, "1") == 0;
    freeReplyObject(r);
    if (!s->labels_built) return 0;
    if ((r = checker_zrange(st, c, STORE_KEY_SERIAL_LABELS)) == NULL) return -1;
    s->labels = calloc(r->elements + 1, sizeof *s->labels);
    if (s->labels == NULL) abort();
    for (size_t i = 0; i < r->elements; i++) {
        if (checker_label_parse(r->element[i]->str, &s->labels[s->labels_n]) == 0)
            s->labels_n++;
        else
            checker_violation(c->report, "%s: malformed serial label '%s'", s->region, r->element[i]->str);
    }
    freeReplyObject(r);
    qsort(s->labels, s->labels_n, sizeof *s->labels, checker_label_cmp);
    for (size_t k = 1; k < s->labels_n; k++)
        if (s->labels[k].first <= s->labels[k - 1].last)
            checker_violation(c->report, "%s: its labels name serial %" PRIu64 " twice", s->region,
                              s->labels[k].first);
    checker_labels_gaps(s, c->report);
    return 0;
}

/* Every held block of a given origin's serials (accounts, holds, pending
 * credits, retired, cancelled, at any given region) carries the methodology
 * and vintage its origin issued those serials under: a region cannot say
 * what another region's credits are. A block no label touches is not
 * judged, as the scripts do not (serial_labels_match). */
static void checker_labels(checker_pass_t *p) {
    for (size_t i = 0; i < p->spans->n; i++) {
        const checker_span_t *sp = &p->spans->v[i];
        int oi = sp->meth[0] != '\0' ? checker_store_index(p, sp->origin) : -1;
        if (oi < 0 || !p->stores[oi].labels_built) continue;
        const checker_store_t *o = &p->stores[oi];
        size_t lo = checker_first_ending_from(o->labels, o->labels_n, sizeof *o->labels,
                                              offsetof(checker_label_t, last), sp->first);
        const checker_label_t *e = lo < o->labels_n ? &o->labels[lo] : NULL;
        if (e == NULL || e->first > sp->last) continue; /* unlabelled (serial_labels_match) */
        if (e->first <= sp->first && e->last >= sp->last && e->vintage == sp->vintage &&
            strcmp(e->meth, sp->meth) == 0)
            continue;
        char issued[LEDGER_METH_MAX + 48];
        if (e->first > sp->first || e->last < sp->last)
            snprintf(issued, sizeof issued, "not in one issuance");
        else
            snprintf(issued, sizeof issued, "issued as %s %" PRIu32, e->meth, e->vintage);
        checker_violation(p->rep, "%s serials %" PRIu64 "-%" PRIu64 " (%s) are labelled %s %" PRIu32 ", but %s has them %s",
                          sp->origin, sp->first, sp->last, sp->place, sp->meth, sp->vintage, o->region, issued);
    }
}

/* Each given origin's map against the holdings of every given region. */
static void checker_origin_maps(checker_pass_t *p) {
    for (size_t i = 0; i < p->n; i++) {
        const checker_store_t *o = &p->stores[i];
        checker_spans_t held[CHECKER_REGIONS_MAX];
        memset(held, 0, sizeof held);
        for (size_t k = 0; k < p->spans->n; k++) {
            const checker_span_t *sp = &p->spans->v[k];
            char region[CARBON_REGION_SIZE];
            const char *state = checker_place(sp, region);
            int r = checker_store_index(p, region);
            if (strcmp(sp->origin, o->region) != 0 || r < 0 || (p->settled_required && !strcmp(state, "pending")))
                continue;
            ledger_block_t b = {0};
            snprintf(b.origin, sizeof b.origin, "%s", sp->origin);
            b.first = sp->first;
            b.last = sp->last;
            checker_add_span(&held[r], &b, "held");
        }
        for (size_t r = 0; r < p->n; r++) checker_coalesce(&held[r]);
        checker_map_forward(p, o);
        checker_map_backward(p, o, held);
        if (p->settled_required) checker_map_home(p, o);
        for (size_t r = 0; r < p->n; r++) free(held[r].v);
    }
}

int checker_run(const checker_region_t *regions, size_t n, int settled_required,
                checker_report_t *rep, char *err, size_t errlen) {
    CARBON_ASSERT(n <= CHECKER_REGIONS_MAX);
    memset(rep, 0, sizeof *rep);
    rep->regions = n;
    checker_store_t stores[CHECKER_REGIONS_MAX];
    memset(stores, 0, sizeof stores);
    checker_spans_t spans = {0}, abroad = {0};
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        checker_store_t *s = &stores[i];
        snprintf(s->region, sizeof s->region, "%s", regions[i].region);
        store_t *st = regions[i].store;
        checker_ctx_t c = {&spans, rep, s, err, errlen};
        redisReply *r = checker_cmd(st, err, errlen, "GET", STORE_KEY_SERIAL_LAST, (const char *)NULL);
        if (r == NULL) goto out;
        s->serial_last = r->type == REDIS_REPLY_STRING ? strtoull(r->str, NULL, 10) : 0;
        freeReplyObject(r);
        rep->serials_issued += s->serial_last;
        size_t spans_from = spans.n;
        if (checker_scan(st, STORE_KEY_ACCOUNT_PREFIX "*" STORE_KEY_ACCOUNT_BLOCKS_SUFFIX, checker_on_account, &c, err, errlen) != 0) goto out;
        if (checker_scan(st, STORE_KEY_ACCOUNT_PREFIX "*" STORE_KEY_ACCOUNT_BY_METH_SUFFIX, checker_on_old_set, &c, err, errlen) != 0) goto out;
        if (checker_scan(st, STORE_KEY_LEG_PREFIX "*" STORE_KEY_LEG_SUFFIX, checker_on_leg, &c, err, errlen) != 0) goto out;
        if (checker_list(st, &c, STORE_KEY_RETIRED, "retired", &rep->grams_retired) != 0) goto out;
        if (checker_list(st, &c, STORE_KEY_CANCELLED, "cancelled", &rep->grams_cancelled) != 0) goto out;
        if (checker_index(st, &c, spans_from) != 0) goto out;
        if (checker_read_map(st, &c) != 0) goto out;
        if (checker_read_labels(st, &c) != 0) goto out;
        if (checker_audit(st, &c) != 0) goto out;
    }

    /* Legs: holds, pending credits, exported tombstones; both legs agree. */
    checker_pass_t pass = {stores, n, settled_required, rep, &spans, &abroad};
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < stores[i].legs_n; k++) checker_leg(&pass, stores[i].region, &stores[i].legs[k]);
    checker_labels(&pass);
    checker_conservation(&pass);
    checker_origin_maps(&pass);
    rc = 0;
out:
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < stores[i].legs_n; k++) ledger_leg_free(&stores[i].legs[k]);
        free(stores[i].legs);
        free(stores[i].map);
        free(stores[i].own.v);
        free(stores[i].locks.v);
        free(stores[i].labels);
    }
    free(spans.v);
    free(abroad.v);
    return rc;
}

void checker_print(const checker_report_t *r, FILE *out) {
    fprintf(out, "regions                 %" PRIu64 "\n", r->regions);
    fprintf(out, "serials issued          %" PRIu64 " g\n", r->serials_issued);
    fprintf(out, "  in accounts           %" PRIu64 " g\n", r->grams_in_accounts);
    fprintf(out, "  held (in flight)      %" PRIu64 " g\n", r->grams_held);
    fprintf(out, "  pending (committed)   %" PRIu64 " g\n", r->grams_pending);
    fprintf(out, "  retired               %" PRIu64 " g\n", r->grams_retired);
    fprintf(out, "  cancelled (discount)  %" PRIu64 " g\n", r->grams_cancelled);
    fprintf(out, "exported tombstones     %" PRIu64 " g\n", r->grams_exported);
    fprintf(out, "accounts                %" PRIu64 "\n", r->accounts);
    fprintf(out, "transfers               %" PRIu64 " (committed %" PRIu64 ", aborted %" PRIu64
                 ", in flight %" PRIu64 ")\n",
            r->transfers, r->transfers_committed, r->transfers_aborted, r->transfers_in_flight);
    fprintf(out, "audit entries verified  %" PRIu64 "\n", r->audit_entries);
    if (r->unchecked_n > 0) {
        fprintf(out, "not checked (no store)  ");
        for (size_t i = 0; i < r->unchecked_n; i++) fprintf(out, "%s%s", i ? ", " : "", r->unchecked[i]);
        fprintf(out, "\n  abroad, not checked   %" PRIu64 " g\n", r->grams_abroad);
    }
    fprintf(out, "violations              %" PRIu64 "\n", r->violations_n);
    for (uint64_t i = 0; i < r->violations_n && i < CHECKER_VIOLATIONS_MAX; i++)
        fprintf(out, "  VIOLATION %s\n", r->violations[i]);
    if (r->violations_n > CHECKER_VIOLATIONS_MAX)
        fprintf(out, "  ... and %" PRIu64 " more\n", r->violations_n - CHECKER_VIOLATIONS_MAX);
}
