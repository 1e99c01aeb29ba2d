/* replay.c - rebuilds a region's ledger from its audit log and compares it
 * with the store's (replay.h). Two tables of records, one per side, each an
 * open-addressing hash on (kind, owner); blocks per record in a growing
 * array. */
#include "settlement/replay.h"
#include "common/carbon_assert.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RP_TABLE_CAP_MIN 1024
#define RP_LOG 0
#define RP_STORE 1

typedef struct {
    ledger_block_t *v;
    size_t n, cap;
} rp_blocks_t;

typedef struct {
    uint8_t state; /* 0 empty, 1 live, 2 deleted */
    uint8_t kind;
    char owner[REPLAY_TEXT_MAX + 1];
    char a[REPLAY_TEXT_MAX + 1], b[REPLAY_TEXT_MAX + 1]; /* per kind: replay.h */
    uint64_t g1, g2;
    rp_blocks_t blocks;
} rp_rec_t;

typedef struct {
    rp_rec_t *slot;
    size_t cap, live, used; /* used: live + deleted slots */
    size_t blocks_n;
    int full; /* a limit was reached: this side is incomplete */
} rp_table_t;

struct replay {
    rp_table_t side[2];
    uint64_t entries;
    uint64_t seq; /* the entry being replayed */
    const char *event;
    replay_diff_t *findings;
    size_t findings_n, findings_lost;
};

static const char *const rp_kind_names[REPLAY_KINDS_N] = {"account", "hold",      "pending",
                                                          "retired", "cancelled", "exported"};

/* What a, b, g1, g2 mean per kind (NULL: not used, not compared). */
static const struct {
    const char *a, *b, *g1, *g2;
} rp_attrs[REPLAY_KINDS_N] = {
    {"holder", NULL, "held_g", "pending_g"}, {"from", "to", "debited_g", NULL}, {"to", "from", "credited_g", NULL},
    {"account", NULL, NULL, NULL},           {NULL, NULL, NULL, NULL},          {"from", "to", NULL, NULL},
};

const char *replay_kind_name(replay_kind_t k) {
    CARBON_ASSERT(k < REPLAY_KINDS_N);
    return rp_kind_names[k];
}

int replay_kind_parse(const char *name, replay_kind_t *out) {
    CARBON_ASSERT(name != NULL && out != NULL);
    for (int k = 0; k < REPLAY_KINDS_N; k++)
        if (strcmp(name, rp_kind_names[k]) == 0) {
            *out = (replay_kind_t)k;
            return 0;
        }
    return -1;
}

replay_t *replay_new(void) {
    replay_t *r = calloc(1, sizeof *r);
    if (r == NULL) abort();
    return r;
}

static void rp_table_free(rp_table_t *t) {
    for (size_t i = 0; i < t->cap; i++) free(t->slot[i].blocks.v);
    free(t->slot);
    memset(t, 0, sizeof *t);
}

void replay_free(replay_t *r) {
    if (r == NULL) return;
    rp_table_free(&r->side[RP_LOG]);
    rp_table_free(&r->side[RP_STORE]);
    free(r->findings);
    free(r);
}

uint64_t replay_entries(const replay_t *r) {
    CARBON_ASSERT(r != NULL);
    return r->entries;
}

size_t replay_records(const replay_t *r, int store_side) {
    CARBON_ASSERT(r != NULL);
    return r->side[store_side ? RP_STORE : RP_LOG].live;
}

/* ---- findings ------------------------------------------------------------------- */

/* Records a finding about the entry being replayed (or about seq 0: a side
 * that hit a limit). */
static void rp_finding(replay_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rp_finding(replay_t *r, const char *fmt, ...) {
    CARBON_ASSERT(r != NULL && fmt != NULL);
    if (r->findings_n == REPLAY_FINDINGS_MAX) {
        r->findings_lost++;
        return;
    }
    if (r->findings == NULL) {
        r->findings = calloc(REPLAY_FINDINGS_MAX, sizeof *r->findings);
        if (r->findings == NULL) abort();
    }
    replay_diff_t *d = &r->findings[r->findings_n++];
    memset(d, 0, sizeof *d);
    d->seq = r->seq;
    d->kind = "log";
    snprintf(d->what, sizeof d->what, "%s", r->event ? r->event : "limit");
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->seq > 0)
        snprintf(d->text, sizeof d->text, "log entry %" PRIu64 " (%s): %s", r->seq, d->what, msg);
    else
        snprintf(d->text, sizeof d->text, "%s", msg);
    snprintf(d->log, sizeof d->log, "%.127s", msg);
}

/* ---- the tables ---------------------------------------------------------------- */

static uint64_t rp_hash(int kind, const char *owner) {
    uint64_t h = 1469598103934665603u ^ (uint64_t)kind;
    for (const unsigned char *p = (const unsigned char *)owner; *p; p++) h = (h ^ *p) * 1099511628211u;
    return h;
}

/* The slot of (kind, owner): live or deleted with that key, else the empty
 * slot where it would go. t->cap > t->used (the table is never full). */
static rp_rec_t *rp_slot(rp_table_t *t, int kind, const char *owner) {
    CARBON_ASSERT(t->cap > t->used && (t->cap & (t->cap - 1)) == 0);
    size_t i = (size_t)rp_hash(kind, owner) & (t->cap - 1);
    for (;;) {
        rp_rec_t *s = &t->slot[i];
        if (s->state == 0 || (s->kind == kind && strcmp(s->owner, owner) == 0)) return s;
        i = (i + 1) & (t->cap - 1);
    }
}

static void rp_grow(rp_table_t *t) {
    size_t cap = t->cap ? t->cap * 2 : RP_TABLE_CAP_MIN;
    rp_table_t n = {.slot = calloc(cap, sizeof(rp_rec_t)), .cap = cap, .blocks_n = t->blocks_n, .full = t->full};
    if (n.slot == NULL) abort();
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slot[i].state != 1) {
            free(t->slot[i].blocks.v);
            continue;
        }
        *rp_slot(&n, t->slot[i].kind, t->slot[i].owner) = t->slot[i];
        n.used++;
        n.live++;
    }
    free(t->slot);
    *t = n;
}

/* The live record (kind, owner) of t, or NULL. */
static rp_rec_t *rp_find(rp_table_t *t, int kind, const char *owner) {
    if (t->cap == 0) return NULL;
    rp_rec_t *s = rp_slot(t, kind, owner);
    return s->state == 1 ? s : NULL;
}

/* The record (kind, owner), made live and empty if it was not; NULL when
 * the side is at REPLAY_RECORDS_MAX. May move every record: pointers taken
 * before are stale. */
static rp_rec_t *rp_make(replay_t *r, int side, int kind, const char *owner) {
    rp_table_t *t = &r->side[side];
    rp_rec_t *s = rp_find(t, kind, owner);
    if (s != NULL) return s;
    if (t->live >= REPLAY_RECORDS_MAX) {
        if (!t->full) rp_finding(r, "the %s side holds more than %u records: not compared",
                                 side == RP_LOG ? "log" : "store", REPLAY_RECORDS_MAX);
        t->full = 1;
        return NULL;
    }
    if ((t->used + 1) * 2 > t->cap) rp_grow(t);
    s = rp_slot(t, kind, owner);
    if (s->state == 0) t->used++;
    free(s->blocks.v);
    memset(s, 0, sizeof *s);
    s->state = 1;
    s->kind = (uint8_t)kind;
    snprintf(s->owner, sizeof s->owner, "%s", owner);
    t->live++;
    return s;
}

static void rp_delete(rp_table_t *t, rp_rec_t *s) {
    CARBON_ASSERT(s->state == 1 && t->live > 0 && t->blocks_n >= s->blocks.n);
    t->blocks_n -= s->blocks.n;
    free(s->blocks.v);
    memset(&s->blocks, 0, sizeof s->blocks);
    s->state = 2;
    t->live--;
}

/* ---- blocks -------------------------------------------------------------------- */

static int rp_same_kind(const ledger_block_t *x, const ledger_block_t *y) {
    return strcmp(x->origin, y->origin) == 0 && strcmp(x->meth, y->meth) == 0 && x->vintage == y->vintage;
}

/* Appends b to s (a record of side). 0, or -1 at REPLAY_BLOCKS_MAX. */
static int rp_add(replay_t *r, int side, rp_rec_t *s, const ledger_block_t *b) {
    rp_table_t *t = &r->side[side];
    if (t->blocks_n >= REPLAY_BLOCKS_MAX) {
        if (!t->full) rp_finding(r, "the %s side holds more than %u blocks: not compared",
                                 side == RP_LOG ? "log" : "store", REPLAY_BLOCKS_MAX);
        t->full = 1;
        return -1;
    }
    if (s->blocks.n == s->blocks.cap) {
        s->blocks.cap = s->blocks.cap ? s->blocks.cap * 2 : 4;
        s->blocks.v = realloc(s->blocks.v, s->blocks.cap * sizeof *s->blocks.v);
        if (s->blocks.v == NULL) abort();
    }
    s->blocks.v[s->blocks.n++] = *b;
    t->blocks_n++;
    return 0;
}

/* Takes the serials of b out of the log record s: they must lie within one
 * of its blocks, which is cut around them. 0, or -1 if s does not hold them. */
static int rp_take(replay_t *r, rp_rec_t *s, const ledger_block_t *b) {
    for (size_t i = 0; i < s->blocks.n; i++) {
        ledger_block_t *h = &s->blocks.v[i];
        if (!rp_same_kind(h, b) || h->first > b->first || h->last < b->last) continue;
        ledger_block_t left = *h, right = *h;
        left.last = b->first - 1;
        right.first = b->last + 1;
        int has_left = h->first < b->first, has_right = b->last < h->last;
        s->blocks.v[i] = s->blocks.v[--s->blocks.n];
        r->side[RP_LOG].blocks_n--;
        if (has_left && rp_add(r, RP_LOG, s, &left) != 0) return 0;
        if (has_right) rp_add(r, RP_LOG, s, &right);
        return 0;
    }
    return -1;
}

static void rp_block_text(const ledger_block_t *b, char *out, size_t outlen) {
    if (ledger_block_format(b, out, outlen) < 0) snprintf(out, outlen, "(block too long)");
}

static uint64_t rp_grams(const rp_blocks_t *bs) {
    return ledger_blocks_grams(bs->v, bs->n);
}

/* ---- reading an entry (the only functions that know audit_entry_t's ids and details) -- */

static size_t rp_ids_n(const audit_entry_t *e) { return e->ids_n; }

/* Id i of e into out (NUL-terminated). 0, or -1 if there is none or it is
 * longer than REPLAY_TEXT_MAX. */
static int rp_id(const audit_entry_t *e, size_t i, char out[REPLAY_TEXT_MAX + 1]) {
    if (i >= e->ids_n || strlen(e->ids[i]) > REPLAY_TEXT_MAX) return -1;
    memcpy(out, e->ids[i], strlen(e->ids[i]) + 1);
    return 0;
}

/* Detail text i of e into out (NUL-terminated). 0, or -1 if none or too long. */
static int rp_detail(const audit_entry_t *e, size_t i, char *out, size_t outlen) {
    if (i >= e->detail_n || e->detail_len[i] >= outlen) return -1;
    memcpy(out, e->detail_text[i], e->detail_len[i]);
    out[e->detail_len[i]] = '\0';
    return 0;
}

/* The first n ids of e into ids (n <= 3); a finding if e has fewer. */
static int rp_need_ids(replay_t *r, const audit_entry_t *e, size_t n, char ids[3][REPLAY_TEXT_MAX + 1]) {
    CARBON_ASSERT(n <= 3);
    for (size_t i = 0; i < n; i++)
        if (rp_id(e, i, ids[i]) != 0) {
            rp_finding(r, "has no id %zu (expected %zu ids of at most %d bytes)", i + 1, n, REPLAY_TEXT_MAX);
            return -1;
        }
    return 0;
}

static int rp_parse_u64(const char *s, uint64_t *out) {
    char *end = NULL;
    if (s[0] < '0' || s[0] > '9' || (s[0] == '0' && s[1] != '\0')) return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || v > LEDGER_AMOUNT_G_MAX) return -1;
    *out = v;
    return 0;
}

/* ---- the events (docs/audit-log.md §2.1) ---------------------------------------- */

/* The account id of the log side, or NULL after a finding naming why. */
static rp_rec_t *rp_account(replay_t *r, const char *id, const char *as) {
    rp_rec_t *a = rp_find(&r->side[RP_LOG], REPLAY_ACCOUNT, id);
    if (a == NULL) rp_finding(r, "%s account %s was never opened", as, id);
    return a;
}

/* Moves e's blocks from `from` into `to` (both log records; to may be NULL:
 * the blocks only leave). A block `from` does not hold is a finding. */
static void rp_move(replay_t *r, const audit_entry_t *e, rp_rec_t *from, rp_rec_t *to) {
    for (size_t i = 0; i < e->blocks_n; i++) {
        char bt[LEDGER_BLOCK_TEXT_MAX];
        if (rp_take(r, from, &e->blocks[i]) != 0) {
            rp_block_text(&e->blocks[i], bt, sizeof bt);
            rp_finding(r, "%s %s does not hold block %s", rp_kind_names[from->kind], from->owner, bt);
            continue;
        }
        if (to != NULL) rp_add(r, RP_LOG, to, &e->blocks[i]);
    }
}

/* 1 if e's blocks are exactly s's (same blocks, same order). */
static int rp_same_blocks(const audit_entry_t *e, const rp_rec_t *s) {
    if (e->blocks_n != s->blocks.n) return 0;
    for (size_t i = 0; i < e->blocks_n; i++)
        if (!rp_same_kind(&e->blocks[i], &s->blocks.v[i]) || e->blocks[i].first != s->blocks.v[i].first ||
            e->blocks[i].last != s->blocks.v[i].last)
            return 0;
    return 1;
}

static void rp_ev_open(replay_t *r, const audit_entry_t *e) {
    char ids[3][REPLAY_TEXT_MAX + 1], kind[REPLAY_TEXT_MAX + 1];
    if (rp_need_ids(r, e, 1, ids) != 0) return;
    if (rp_detail(e, 0, kind, sizeof kind) != 0) snprintf(kind, sizeof kind, "?");
    if (rp_find(&r->side[RP_LOG], REPLAY_ACCOUNT, ids[0]) != NULL) {
        rp_finding(r, "account %s opened again", ids[0]);
        return;
    }
    rp_rec_t *a = rp_make(r, RP_LOG, REPLAY_ACCOUNT, ids[0]);
    if (a != NULL) snprintf(a->a, sizeof a->a, "%s", kind);
}

static void rp_ev_issue(replay_t *r, const audit_entry_t *e) {
    char ids[3][REPLAY_TEXT_MAX + 1];
    if (rp_need_ids(r, e, 2, ids) != 0) return;
    rp_rec_t *a = rp_account(r, ids[1], "issued into");
    for (size_t i = 0; a != NULL && i < e->blocks_n; i++) rp_add(r, RP_LOG, a, &e->blocks[i]);
}

static void rp_ev_retire(replay_t *r, const audit_entry_t *e) {
    char ids[3][REPLAY_TEXT_MAX + 1];
    if (rp_need_ids(r, e, 2, ids) != 0 || rp_account(r, ids[1], "retired from") == NULL) return;
    if (rp_find(&r->side[RP_LOG], REPLAY_RETIRED, ids[0]) != NULL) {
        rp_finding(r, "retirement %s made again", ids[0]);
        return;
    }
    rp_rec_t *ret = rp_make(r, RP_LOG, REPLAY_RETIRED, ids[0]);
    if (ret == NULL) return;
    snprintf(ret->a, sizeof ret->a, "%s", ids[1]);
    rp_move(r, e, rp_find(&r->side[RP_LOG], REPLAY_ACCOUNT, ids[1]), ret);
}

static void rp_ev_hold(replay_t *r, const audit_entry_t *e) {
    char ids[3][REPLAY_TEXT_MAX + 1];
    if (rp_need_ids(r, e, 3, ids) != 0 || rp_account(r, ids[1], "held from") == NULL) return;
    if (rp_find(&r->side[RP_LOG], REPLAY_HOLD, ids[0]) != NULL ||
        rp_find(&r->side[RP_LOG], REPLAY_EXPORTED, ids[0]) != NULL) {
        rp_finding(r, "transfer %s held again", ids[0]);
        return;
    }
    rp_rec_t *h = rp_make(r, RP_LOG, REPLAY_HOLD, ids[0]);
    if (h == NULL) return;
    snprintf(h->a, sizeof h->a, "%s", ids[1]);
    snprintf(h->b, sizeof h->b, "%s", ids[2]);
    rp_rec_t *a = rp_find(&r->side[RP_LOG], REPLAY_ACCOUNT, ids[1]);
    rp_move(r, e, a, h);
    h->g1 = rp_grams(&h->blocks);
    a->g1 += h->g1;
}

/* The hold of the transfer e decides (id 1), its account's held_g lowered;
 * NULL after a finding. */
static rp_rec_t *rp_decided_hold(replay_t *r, const audit_entry_t *e, char tid[REPLAY_TEXT_MAX + 1]) {
    char ids[3][REPLAY_TEXT_MAX + 1];
    if (rp_need_ids(r, e, 1, ids) != 0) return NULL;
    memcpy(tid, ids[0], sizeof ids[0]);
    rp_rec_t *h = rp_find(&r->side[RP_LOG], REPLAY_HOLD, tid);
    if (h == NULL) {
        rp_finding(r, "transfer %s has no hold (never held, or already decided)", tid);
        return NULL;
    }
    if (!rp_same_blocks(e, h)) rp_finding(r, "the blocks named are not those held for transfer %s", tid);
    rp_rec_t *a = rp_account(r, h->a, "held from");
    if (a != NULL && a->g1 < h->g1) rp_finding(r, "account %s would hold less than 0 g", h->a);
    if (a != NULL) a->g1 = a->g1 >= h->g1 ? a->g1 - h->g1 : 0;
    return h;
}

static void rp_ev_commit(replay_t *r, const audit_entry_t *e) {
    char tid[REPLAY_TEXT_MAX + 1];
    if (rp_decided_hold(r, e, tid) == NULL) return;
    rp_rec_t *x = rp_make(r, RP_LOG, REPLAY_EXPORTED, tid);
    rp_rec_t *h = rp_find(&r->side[RP_LOG], REPLAY_HOLD, tid); /* rp_make may have moved it */
    CARBON_ASSERT(h != NULL); /* rp_decided_hold found it; rp_make moves records, never drops one */
    if (x != NULL) {
        memcpy(x->a, h->a, sizeof x->a);
        memcpy(x->b, h->b, sizeof x->b);
        x->blocks = h->blocks; /* moved: the side's count is unchanged */
        memset(&h->blocks, 0, sizeof h->blocks);
    }
    rp_delete(&r->side[RP_LOG], h);
}

static void rp_ev_abort(replay_t *r, const audit_entry_t *e) {
    char tid[REPLAY_TEXT_MAX + 1];
    rp_rec_t *h = rp_decided_hold(r, e, tid);
    if (h == NULL) return;
    rp_rec_t *a = rp_find(&r->side[RP_LOG], REPLAY_ACCOUNT, h->a);
    for (size_t i = 0; a != NULL && i < h->blocks.n; i++) rp_add(r, RP_LOG, a, &h->blocks.v[i]);
    rp_delete(&r->side[RP_LOG], h);
}

static void rp_ev_prepare(replay_t *r, const audit_entry_t *e) {
    char ids[3][REPLAY_TEXT_MAX + 1], credited[24];
    uint64_t credited_g = 0;
    if (rp_need_ids(r, e, 3, ids) != 0 || rp_account(r, ids[1], "credited to") == NULL) return;
    if (rp_detail(e, 2, credited, sizeof credited) != 0 || rp_parse_u64(credited, &credited_g) != 0) {
        rp_finding(r, "transfer %s: detail 3 is not the grams credited", ids[0]);
        return;
    }
    if (rp_find(&r->side[RP_LOG], REPLAY_PENDING, ids[0]) != NULL) {
        rp_finding(r, "transfer %s prepared again", ids[0]);
        return;
    }
    rp_rec_t *p = rp_make(r, RP_LOG, REPLAY_PENDING, ids[0]);
    if (p == NULL) return;
    snprintf(p->a, sizeof p->a, "%s", ids[1]);
    snprintf(p->b, sizeof p->b, "%s", ids[2]);
    p->g1 = credited_g;
    for (size_t i = 0; i < e->blocks_n; i++) rp_add(r, RP_LOG, p, &e->blocks[i]);
    if (credited_g > rp_grams(&p->blocks))
        rp_finding(r, "transfer %s credits %" PRIu64 " g out of blocks of %" PRIu64 " g", ids[0], credited_g,
                   rp_grams(&p->blocks));
    rp_find(&r->side[RP_LOG], REPLAY_ACCOUNT, ids[1])->g2 += credited_g;
}

/* The pending credit of the transfer e names (id 1), or NULL after a finding;
 * with settle, its credited_g leaves its account's pending_g. */
static rp_rec_t *rp_pending_of(replay_t *r, const audit_entry_t *e, int settle, char tid[REPLAY_TEXT_MAX + 1]) {
    char ids[3][REPLAY_TEXT_MAX + 1];
    if (rp_need_ids(r, e, 1, ids) != 0) return NULL;
    memcpy(tid, ids[0], sizeof ids[0]);
    rp_rec_t *p = rp_find(&r->side[RP_LOG], REPLAY_PENDING, tid);
    if (p == NULL) {
        rp_finding(r, "transfer %s has no pending credit (never prepared, or already decided)", tid);
        return NULL;
    }
    if (rp_id(e, 1, ids[1]) == 0 && strcmp(ids[1], p->a) != 0)
        rp_finding(r, "transfer %s names account %s, it was prepared for %s", tid, ids[1], p->a);
    rp_rec_t *a = rp_account(r, p->a, "credited to");
    if (settle && a != NULL) {
        if (a->g2 < p->g1) rp_finding(r, "account %s would have less than 0 g pending", p->a);
        a->g2 = a->g2 >= p->g1 ? a->g2 - p->g1 : 0;
        p->g1 = 0;
    }
    return p;
}

static void rp_ev_apply(replay_t *r, const audit_entry_t *e) {
    char tid[REPLAY_TEXT_MAX + 1];
    rp_rec_t *p = rp_pending_of(r, e, 1, tid);
    if (p == NULL) return;
    rp_move(r, e, p, rp_find(&r->side[RP_LOG], REPLAY_ACCOUNT, p->a));
    if (p->blocks.n == 0) rp_delete(&r->side[RP_LOG], p);
}

static void rp_ev_cancel(replay_t *r, const audit_entry_t *e) {
    char tid[REPLAY_TEXT_MAX + 1];
    rp_rec_t *p = rp_pending_of(r, e, 1, tid);
    if (p == NULL) return;
    rp_rec_t *c = rp_make(r, RP_LOG, REPLAY_CANCELLED, tid);
    p = rp_find(&r->side[RP_LOG], REPLAY_PENDING, tid); /* rp_make may have moved it */
    rp_move(r, e, p, c);
    if (p->blocks.n == 0) rp_delete(&r->side[RP_LOG], p);
}

/* drop: every transfer named leaves pending (one never prepared is an abort
 * recorded before its Prepare: nothing to undo). */
static void rp_ev_drop(replay_t *r, const audit_entry_t *e) {
    size_t n = rp_ids_n(e);
    for (size_t i = 0; i < n; i++) {
        char tid[REPLAY_TEXT_MAX + 1];
        if (rp_id(e, i, tid) != 0) continue;
        rp_rec_t *p = rp_find(&r->side[RP_LOG], REPLAY_PENDING, tid);
        if (p == NULL) continue;
        rp_rec_t *a = rp_find(&r->side[RP_LOG], REPLAY_ACCOUNT, p->a);
        if (a != NULL) a->g2 = a->g2 >= p->g1 ? a->g2 - p->g1 : 0;
        rp_delete(&r->side[RP_LOG], p);
    }
}

/* One block of a heuristic entry: REAPPLIED adds it to rec, REVERSED takes
 * it from rec, COMPENSATED takes it from the account acct and adds it to rec. */
static void rp_heuristic_block(replay_t *r, const char *outcome, rp_rec_t *acct, rp_rec_t *rec,
                               const ledger_block_t *b) {
    char bt[LEDGER_BLOCK_TEXT_MAX];
    rp_block_text(b, bt, sizeof bt);
    if (strcmp(outcome, "REAPPLIED") == 0) {
        if (rec != NULL) rp_add(r, RP_LOG, rec, b);
    } else if (strcmp(outcome, "REVERSED") == 0) {
        if (rec == NULL || rp_take(r, rec, b) != 0) rp_finding(r, "block %s taken back is not there", bt);
    } else if (acct == NULL || rp_take(r, acct, b) != 0) {
        rp_finding(r, "account does not hold compensating block %s", bt);
    } else if (rec != NULL) {
        rp_add(r, RP_LOG, rec, b);
    }
}

/* heuristic: the coordinator's decision settled a leg an operator decided
 * (AGREED, MIXED: nothing moves; REAPPLIED: blocks [0, k) to account ACCT,
 * the rest to cancelled TID; REVERSED: the same taken back), or an operator
 * compensated a HEURISTIC_MIXED leg (COMPENSATED: every block leaves account
 * ACCT, to exported TID from ACCT to the third id at the source, else to
 * cancelled TID; none when the leg moved nothing), or closed an
 * ORIGIN_DENIED one (CLOSED: its pending credit is dropped, as by drop).
 * details: peer, outcome, decision, k, ... */
static void rp_ev_heuristic(replay_t *r, const audit_entry_t *e) {
    char ids[3][REPLAY_TEXT_MAX + 1], outcome[16], kt[24];
    uint64_t k = 0;
    if (rp_need_ids(r, e, 2, ids) != 0) return;
    if (rp_detail(e, 1, outcome, sizeof outcome) != 0 || rp_detail(e, 3, kt, sizeof kt) != 0 ||
        rp_parse_u64(kt, &k) != 0) {
        rp_finding(r, "transfer %s: details 2 and 4 are not an outcome and a block count", ids[0]);
        return;
    }
    if (strcmp(outcome, "CLOSED") == 0) { /* an ORIGIN_DENIED leg closed: its pending credit dropped */
        rp_ev_drop(r, e);
        return;
    }
    int moves = !strcmp(outcome, "REAPPLIED") || !strcmp(outcome, "REVERSED") || !strcmp(outcome, "COMPENSATED");
    if (!moves) {
        if (strcmp(outcome, "AGREED") != 0 && strcmp(outcome, "MIXED") != 0)
            rp_finding(r, "transfer %s: unknown heuristic outcome '%s'", ids[0], outcome);
        else if (e->blocks_n != 0)
            rp_finding(r, "transfer %s: %s moves no blocks", ids[0], outcome);
        return;
    }
    /* a forced ABORT that was not re-applied (dest_decide.lua
     * reapply_conflict), closed at either side: nothing moves */
    if (!strcmp(outcome, "COMPENSATED") && e->blocks_n == 0) return;
    if (rp_account(r, ids[1], "heuristic for") == NULL) return;
    int exported = !strcmp(outcome, "COMPENSATED") && rp_id(e, 2, ids[2]) == 0;
    rp_rec_t *other = !strcmp(outcome, "REVERSED") ? rp_find(&r->side[RP_LOG], REPLAY_CANCELLED, ids[0])
                      : rp_make(r, RP_LOG, exported ? REPLAY_EXPORTED : REPLAY_CANCELLED, ids[0]);
    if (exported && other != NULL) {
        snprintf(other->a, sizeof other->a, "%s", ids[1]);
        snprintf(other->b, sizeof other->b, "%s", ids[2]);
    }
    rp_rec_t *acct = rp_find(&r->side[RP_LOG], REPLAY_ACCOUNT, ids[1]); /* after rp_make */
    for (size_t i = 0; i < e->blocks_n; i++) {
        int in_account = i < k && strcmp(outcome, "COMPENSATED") != 0;
        rp_heuristic_block(r, outcome, acct, in_account ? acct : other, &e->blocks[i]);
    }
    if (!strcmp(outcome, "REVERSED") && other != NULL && other->blocks.n == 0)
        rp_delete(&r->side[RP_LOG], other);
}

static void rp_ev_none(replay_t *r, const audit_entry_t *e) {
    (void)r;
    (void)e;
}

static const struct {
    const char *event;
    void (*apply)(replay_t *r, const audit_entry_t *e);
} rp_events[] = {
    {"open", rp_ev_open},       {"issue", rp_ev_issue},   {"retire", rp_ev_retire}, {"hold", rp_ev_hold},
    {"commit", rp_ev_commit},   {"abort", rp_ev_abort},   {"prepare", rp_ev_prepare}, {"apply", rp_ev_apply},
    {"cancel", rp_ev_cancel},   {"drop", rp_ev_drop},     {"refuse", rp_ev_none},   {"acked", rp_ev_none},
    {"batch", rp_ev_none},      {"resolve", rp_ev_none},  {"ack-fork", rp_ev_none},
    {"act-reserve", rp_ev_none},  {"act-issued", rp_ev_none}, {"act-release", rp_ev_none},
    {"heuristic", rp_ev_heuristic},
    /* the origin's part in a third region's transfer (DESIGN §6 provenance):
     * its map and locks, which are not ledger records (§2.1) */
    {"origin-prepare", rp_ev_none}, {"origin-commit", rp_ev_none}, {"origin-abort", rp_ev_none},
    {"origin-acked", rp_ev_none},
    {"origin-denied", rp_ev_none}, /* the pending stays as it is, listed (dest_decide.lua) */
    {"use-report", rp_ev_none},  {"use-reported", rp_ev_none}, /* the origin's map, not the ledger */
    {"obligation", rp_ev_none}, /* a compliance obligation (rules on use), not a ledger record */
};

void replay_entry(replay_t *r, const audit_entry_t *e) {
    CARBON_ASSERT(r != NULL && e != NULL);
    CARBON_ASSERT(e->blocks != NULL || e->blocks_n == 0);
    r->seq = e->seq;
    r->event = e->event;
    r->entries++;
    size_t k = 0, n = sizeof rp_events / sizeof rp_events[0];
    while (k < n && strcmp(rp_events[k].event, e->event) != 0) k++;
    if (k == n) rp_finding(r, "unknown event");
    else if (!r->side[RP_LOG].full) rp_events[k].apply(r, e);
    r->seq = 0;
    r->event = NULL;
}

void replay_entry_unreadable(replay_t *r, uint64_t seq, const char *why) {
    CARBON_ASSERT(r != NULL && why != NULL);
    r->seq = seq;
    r->event = "unreadable";
    r->entries++;
    rp_finding(r, "%s", why);
    r->seq = 0;
    r->event = NULL;
}

/* ---- the store's records ------------------------------------------------------ */

/* How many details each kind's record carries (docs/audit-log.md §2.2). */
static const size_t rp_store_details[REPLAY_KINDS_N] = {3, 3, 3, 1, 0, 2};

int replay_store_record(replay_t *r, const char *kind, const char *owner, const ledger_block_t *blocks,
                        size_t blocks_n, const char *const *detail, size_t detail_n) {
    CARBON_ASSERT(r != NULL && kind != NULL && owner != NULL);
    CARBON_ASSERT((blocks != NULL || blocks_n == 0) && (detail != NULL || detail_n == 0));
    replay_kind_t k;
    uint64_t g1 = 0, g2 = 0;
    int ok = replay_kind_parse(kind, &k) == 0 && owner[0] != '\0' && strlen(owner) <= REPLAY_TEXT_MAX &&
             detail_n >= rp_store_details[k];
    for (size_t i = 0; ok && i < rp_store_details[k]; i++) ok = strlen(detail[i]) <= REPLAY_TEXT_MAX;
    if (ok && rp_attrs[k].g1 != NULL) ok = rp_parse_u64(detail[k == REPLAY_ACCOUNT ? 1 : 2], &g1) == 0;
    if (ok && rp_attrs[k].g2 != NULL) ok = rp_parse_u64(detail[2], &g2) == 0;
    if (!ok) {
        r->event = "store";
        rp_finding(r, "the store holds a malformed %.16s record %.64s%s%.200s", kind, owner, detail_n ? ": " : "",
                   detail_n ? detail[0] : "");
        r->event = NULL;
        return -1;
    }
    int merge = k == REPLAY_RETIRED || k == REPLAY_CANCELLED;
    if (rp_find(&r->side[RP_STORE], (int)k, owner) != NULL && !merge) return 0; /* SCAN's repeat */
    int fresh = rp_find(&r->side[RP_STORE], (int)k, owner) == NULL;
    rp_rec_t *s = rp_make(r, RP_STORE, (int)k, owner);
    if (s == NULL) return -1;
    if (fresh) {
        if (rp_store_details[k] >= 1) snprintf(s->a, sizeof s->a, "%s", detail[0]);
        if (rp_attrs[k].b != NULL) snprintf(s->b, sizeof s->b, "%s", detail[1]);
        s->g1 = g1;
        s->g2 = g2;
    }
    for (size_t i = 0; i < blocks_n; i++)
        if (rp_add(r, RP_STORE, s, &blocks[i]) != 0) return -1;
    return 0;
}

/* ---- comparing ---------------------------------------------------------------- */

static int rp_block_cmp(const void *x, const void *y) {
    const ledger_block_t *a = x, *b = y;
    int c = strcmp(a->origin, b->origin);
    if (c == 0) c = strcmp(a->meth, b->meth);
    if (c == 0) c = a->vintage < b->vintage ? -1 : a->vintage > b->vintage;
    if (c == 0) c = a->first < b->first ? -1 : a->first > b->first;
    return c;
}

typedef struct {
    replay_emit_fn emit;
    void *ctx;
    size_t n;
} rp_out_t;

/* Emits one difference about record s (kind and owner): what, and what each
 * side says; block may be NULL. */
static void rp_diff(rp_out_t *o, const rp_rec_t *s, const char *what, const ledger_block_t *block,
                    const char *log, const char *store) {
    replay_diff_t d;
    memset(&d, 0, sizeof d);
    d.kind = rp_kind_names[s->kind];
    snprintf(d.owner, sizeof d.owner, "%s", s->owner);
    snprintf(d.what, sizeof d.what, "%s", what);
    if (block != NULL) rp_block_text(block, d.block, sizeof d.block);
    snprintf(d.log, sizeof d.log, "%s", log);
    snprintf(d.store, sizeof d.store, "%s", store);
    const char *sep = strcmp(what, "record") == 0 ? "" : " ";
    snprintf(d.text, sizeof d.text, "%s %s%s%s%s: log says %s, store says %s", d.kind, d.owner, sep,
             block != NULL ? "block " : sep[0] ? what : "", d.block, d.log, d.store);
    o->emit(o->ctx, &d);
    o->n++;
}

/* A sorted copy of s's blocks with adjacent ones merged (malloc'd, *n set);
 * serials held twice are named (side says whose). */
static ledger_block_t *rp_normal(rp_out_t *o, const rp_rec_t *s, int side, size_t *n) {
    ledger_block_t *v = malloc((s->blocks.n ? s->blocks.n : 1) * sizeof *v);
    if (v == NULL) abort();
    if (s->blocks.n > 0) memcpy(v, s->blocks.v, s->blocks.n * sizeof *v);
    qsort(v, s->blocks.n, sizeof *v, rp_block_cmp);
    size_t m = 0;
    for (size_t i = 0; i < s->blocks.n; i++) {
        if (m > 0 && rp_same_kind(&v[m - 1], &v[i]) && v[i].first <= v[m - 1].last + 1) {
            if (v[i].first <= v[m - 1].last)
                rp_diff(o, s, "twice", &v[i], side == RP_LOG ? "held twice" : "-",
                        side == RP_STORE ? "held twice" : "-");
            if (v[i].last > v[m - 1].last) v[m - 1].last = v[i].last;
            continue;
        }
        v[m++] = v[i];
    }
    *n = m;
    return v;
}

/* Emits the serials of a (sorted, merged) that b (same) lacks, as blocks
 * that "log says"/"store says" present on the side of a. */
static void rp_minus(rp_out_t *o, const rp_rec_t *s, const ledger_block_t *a, size_t na, const ledger_block_t *b,
                     size_t nb, int a_is_log) {
    size_t j = 0;
    for (size_t i = 0; i < na; i++) {
        ledger_block_t cut = a[i];
        uint64_t from = a[i].first;
        while (j < nb && (rp_block_cmp(&b[j], &a[i]) < 0 && !(rp_same_kind(&b[j], &a[i]) && b[j].last >= from)))
            j++;
        for (size_t k = j; k < nb && rp_same_kind(&b[k], &a[i]) && b[k].first <= a[i].last && from <= a[i].last;
             k++) {
            if (b[k].last < from) continue;
            if (b[k].first > from) {
                cut.first = from;
                cut.last = b[k].first - 1;
                rp_diff(o, s, "block", &cut, a_is_log ? "present" : "absent", a_is_log ? "absent" : "present");
            }
            from = b[k].last + 1;
        }
        if (from <= a[i].last) {
            cut.first = from;
            cut.last = a[i].last;
            rp_diff(o, s, "block", &cut, a_is_log ? "present" : "absent", a_is_log ? "absent" : "present");
        }
    }
}

static void rp_compare_blocks(rp_out_t *o, const rp_rec_t *l, const rp_rec_t *s) {
    size_t nl = 0, ns = 0;
    ledger_block_t *vl = rp_normal(o, l, RP_LOG, &nl), *vs = rp_normal(o, s, RP_STORE, &ns);
    rp_minus(o, l, vl, nl, vs, ns, 1);
    rp_minus(o, l, vs, ns, vl, nl, 0);
    free(vl);
    free(vs);
}

static void rp_compare_attrs(rp_out_t *o, const rp_rec_t *l, const rp_rec_t *s) {
    char x[32], y[32];
    if (rp_attrs[l->kind].a != NULL && strcmp(l->a, s->a) != 0) rp_diff(o, l, rp_attrs[l->kind].a, NULL, l->a, s->a);
    if (rp_attrs[l->kind].b != NULL && strcmp(l->b, s->b) != 0) rp_diff(o, l, rp_attrs[l->kind].b, NULL, l->b, s->b);
    if (rp_attrs[l->kind].g1 != NULL && l->g1 != s->g1) {
        snprintf(x, sizeof x, "%" PRIu64, l->g1);
        snprintf(y, sizeof y, "%" PRIu64, s->g1);
        rp_diff(o, l, rp_attrs[l->kind].g1, NULL, x, y);
    }
    if (rp_attrs[l->kind].g2 != NULL && l->g2 != s->g2) {
        snprintf(x, sizeof x, "%" PRIu64, l->g2);
        snprintf(y, sizeof y, "%" PRIu64, s->g2);
        rp_diff(o, l, rp_attrs[l->kind].g2, NULL, x, y);
    }
}

/* Every live record of `side` missing on the other side, or (side log only)
 * differing from its counterpart. */
static void rp_compare_side(replay_t *r, rp_out_t *o, int side) {
    rp_table_t *t = &r->side[side], *other = &r->side[!side];
    for (size_t i = 0; i < t->cap; i++) {
        const rp_rec_t *s = &t->slot[i];
        if (s->state != 1) continue;
        const rp_rec_t *c = rp_find(other, s->kind, s->owner);
        if (c == NULL) {
            char says[128];
            snprintf(says, sizeof says, "present (%zu blocks, %" PRIu64 " g)", s->blocks.n, rp_grams(&s->blocks));
            rp_diff(o, s, "record", NULL, side == RP_LOG ? says : "absent", side == RP_STORE ? says : "absent");
        } else if (side == RP_LOG) {
            rp_compare_attrs(o, s, c);
            rp_compare_blocks(o, s, c);
        }
    }
}

size_t replay_compare(replay_t *r, replay_emit_fn emit, void *ctx) {
    CARBON_ASSERT(r != NULL && emit != NULL);
    CARBON_ASSERT(r->findings_n <= REPLAY_FINDINGS_MAX);
    for (size_t i = 0; i < r->findings_n; i++) emit(ctx, &r->findings[i]);
    rp_out_t o = {.emit = emit, .ctx = ctx, .n = r->findings_n + r->findings_lost};
    if (r->side[RP_LOG].full || r->side[RP_STORE].full) return o.n; /* said by a finding */
    rp_compare_side(r, &o, RP_LOG);
    rp_compare_side(r, &o, RP_STORE);
    return o.n;
}

static void rp_record_out(const rp_rec_t *s, replay_record_t *out) {
    CARBON_ASSERT(s != NULL && out != NULL && s->kind < REPLAY_KINDS_N);
    out->kind = (replay_kind_t)s->kind;
    out->owner = s->owner;
    out->a = s->a;
    out->b = s->b;
    out->blocks = s->blocks.v;
    out->blocks_n = s->blocks.n;
}

void replay_log_each(const replay_t *r, replay_record_fn fn, void *ctx) {
    CARBON_ASSERT(r != NULL && fn != NULL);
    const rp_table_t *t = &r->side[RP_LOG];
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slot[i].state != 1) continue;
        replay_record_t rec;
        rp_record_out(&t->slot[i], &rec);
        fn(ctx, &rec);
    }
}

int replay_log_find(const replay_t *r, replay_kind_t kind, const char *owner, replay_record_t *out) {
    CARBON_ASSERT(r != NULL && owner != NULL && out != NULL && kind < REPLAY_KINDS_N);
    const rp_rec_t *s = rp_find((rp_table_t *)&r->side[RP_LOG], (int)kind, owner);
    if (s == NULL) return 0;
    rp_record_out(s, out);
    return 1;
}

size_t replay_log_findings(const replay_t *r) {
    CARBON_ASSERT(r != NULL);
    return r->findings_n + r->findings_lost;
}
