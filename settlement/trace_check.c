/* trace_check.c - the regions' audit logs against the protocol model's
 * transitions (trace_check.h). One table of legs, an open-addressing hash
 * on (region, transfer id); a table of steps (tc_steps) that says, per
 * event, which model transition it is and from which states it is allowed. */
#include "settlement/trace_check.h"
#include "common/carbon_assert.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TC_CAP_MIN 1024
#define TC_NOBODY 0xff /* a peer that is not in the region table */
#define TC_SAME 0xff   /* a step that leaves the state as it is */
#define B(s) (1u << (s))

/* The leg states: the model's L_* (tests/model/settlement.pml), and the one
 * state the model leaves out (an operator's compensation of a MIXED leg). */
enum { TC_NONE, TC_HELD, TC_COMMITTED, TC_ABORTED, TC_PREPARED, TC_REFUSED, TC_HC, TC_HA, TC_MIXED,
       TC_COMPENSATED, TC_STATES_N };
static const char *const tc_state_names[TC_STATES_N] = {"NONE", "HELD",  "COMMITTED", "ABORTED", "PREPARED",
                                                        "REFUSED", "HC", "HA", "MIXED", "COMPENSATED"};

/* The roles of a region in a transfer. TC_ORIGIN: the origin region of a
 * leg's serials as a third-party participant (DESIGN §6 provenance, issue 15):
 * the model's X, NONE -origin-prepare-> PREPARED (locked) -origin-commit/
 * origin-abort-> COMMITTED/ABORTED, by the coordinator's decision only. */
enum { TC_OTHER, TC_SOURCE, TC_DEST, TC_ORIGIN };
static const char *const tc_role_names[] = {"no", "source", "destination", "origin"};

typedef struct {
    char tid[TRACE_CHECK_TID_LEN + 1];
    uint8_t live, region, peer, role, state;
    char decision;       /* 'C'/'A' taken: source commit/abort, destination apply/drop; 0 none */
    uint8_t forced;      /* destination: decided by an operator (resolve) */
    uint8_t prepared;    /* destination: voted yes (a prepare entry) */
    uint8_t ack_open;    /* source: decided, not acknowledged yet */
    uint8_t mixed;       /* source: heuristic MIXED; destination: became MIXED */
    uint8_t compensated; /* source: compensated to COMMITTED (or its COMMITTED MIXED leg closed) */
    uint8_t closed;      /* source: its ABORTED MIXED leg closed as it is (its destination compensated) */
    char ack_decision;   /* source: the decision its last acked acknowledged */
    char settled;        /* destination: the coordinator's decision that settled a forced leg */
    uint8_t settled_from; /* destination: HC or HA, before that settlement */
    uint8_t agreed;      /* destination: a MIXED leg closed by the coordinator (AGREED) */
    uint8_t denied;      /* destination: the serials' origin denied the COMMIT (origin-denied) */
    uint16_t origins;       /* source: bit i: region i is a third-region origin of its serials (a participant) */
    uint16_t origins_acked; /* source: bit i: origin i acknowledged (origin-acked) */
    uint64_t first_seq, first_ms;     /* hold / prepare */
    uint64_t decided_seq, decided_ms; /* commit, abort / apply, drop */
    uint64_t acked_seq, acked_ms, mixed_seq, mixed_ms, settled_seq, agreed_seq, closed_seq;
    uint64_t outcome_ms; /* destination: when what it holds last changed */
} tc_leg_t;
_Static_assert(sizeof(tc_leg_t) <= 160, "trace_check.h's memory figure");
_Static_assert(TRACE_CHECK_REGIONS_MAX <= 16, "a region is a bit of tc_leg_t's origins");

/* An origin's acknowledgement at the source (origin-acked), checked at
 * trace_check_finish against the origin's leg. */
typedef struct {
    char tid[TRACE_CHECK_TID_LEN + 1];
    uint8_t source, origin;
    char decision; /* the source's decision acknowledged */
    uint64_t seq, ms;
} tc_oack_t;

typedef struct {
    char name[CARBON_REGION_SIZE];
    int has_log;
    uint64_t horizon_ms, last_seq;
} tc_region_t;

struct trace_check {
    uint64_t skew_ms;
    tc_region_t regions[TRACE_CHECK_REGIONS_MAX];
    size_t regions_n;
    tc_leg_t *slot;
    size_t cap, live;
    int full;
    tc_oack_t *oacks;
    size_t oacks_n, oacks_cap;
    trace_check_finding_t *findings;
    size_t findings_n, findings_lost;
    trace_check_stats_t stats;
    int finished;
};

/* The entry being checked and the transfer of it being stepped. */
typedef struct tc_step tc_step_t;
typedef struct {
    trace_check_t *tc;
    int r;
    const audit_entry_t *e;
    const tc_step_t *step;
    const char *tid;
} tc_at_t;

struct tc_step {
    const char *event;
    uint8_t role;  /* the role of the legs it is a step of (TC_OTHER: none) */
    uint8_t ids;   /* TC_IDS_*: which ids are transfers */
    uint16_t from; /* the states it is allowed from (0: its `then` decides) */
    uint8_t to;    /* the state after it, or TC_SAME */
    const char *rule;
    void (*then)(tc_at_t *at, tc_leg_t *leg); /* what else it records or checks, or NULL */
};
enum { TC_IDS_NONE, TC_IDS_FIRST, TC_IDS_ALL, TC_IDS_REFUSALS };

/* ---- the checker, regions, findings ------------------------------------------------ */

trace_check_t *trace_check_new(uint64_t max_skew_ms) {
    trace_check_t *tc = calloc(1, sizeof *tc);
    if (tc == NULL) abort();
    tc->skew_ms = max_skew_ms;
    return tc;
}

void trace_check_free(trace_check_t *tc) {
    if (tc == NULL) return;
    free(tc->slot);
    free(tc->oacks);
    free(tc->findings);
    free(tc);
}

/* The index of region name[0..len), added (without a log) if new; TC_NOBODY
 * if it is not a region name or the table is full. */
static int tc_region_index(trace_check_t *tc, const char *name, size_t len) {
    if (len == 0 || len > CARBON_REGION_MAX || memchr(name, '\0', len) != NULL) return TC_NOBODY;
    for (size_t i = 0; i < tc->regions_n; i++)
        if (strlen(tc->regions[i].name) == len && memcmp(tc->regions[i].name, name, len) == 0) return (int)i;
    if (tc->regions_n == TRACE_CHECK_REGIONS_MAX) return TC_NOBODY;
    tc_region_t *g = &tc->regions[tc->regions_n];
    memcpy(g->name, name, len);
    g->name[len] = '\0';
    g->horizon_ms = UINT64_MAX;
    return (int)tc->regions_n++;
}

int trace_check_region(trace_check_t *tc, const char *region) {
    CARBON_ASSERT(tc != NULL && region != NULL);
    size_t before = tc->regions_n;
    int i = tc_region_index(tc, region, strlen(region));
    if (i == TC_NOBODY || (tc->regions[i].has_log && (size_t)i < before)) return -1;
    tc->regions[i].has_log = 1;
    return i;
}

void trace_check_horizon(trace_check_t *tc, int r, uint64_t horizon_ms) {
    CARBON_ASSERT(tc != NULL && r >= 0 && (size_t)r < tc->regions_n);
    tc->regions[r].horizon_ms = horizon_ms;
}

static const char *tc_region_name(const trace_check_t *tc, int i) {
    return i >= 0 && (size_t)i < tc->regions_n ? tc->regions[i].name : "(a region past the limit)";
}

/* Records a finding: region r's entry seq, transfer tid (or NULL), the event,
 * the leg's state, the model's rule, and why (printf). */
static void tc_finding(trace_check_t *tc, int r, uint64_t seq, const char *tid, const char *event, const char *state,
                       const char *rule, const char *fmt, ...) __attribute__((format(printf, 8, 9)));
static void tc_finding(trace_check_t *tc, int r, uint64_t seq, const char *tid, const char *event, const char *state,
                       const char *rule, const char *fmt, ...) {
    if (tc->findings_n == TRACE_CHECK_FINDINGS_MAX) {
        tc->findings_lost++;
        return;
    }
    if (tc->findings == NULL) {
        tc->findings = calloc(TRACE_CHECK_FINDINGS_MAX, sizeof *tc->findings);
        if (tc->findings == NULL) abort();
    }
    trace_check_finding_t *f = &tc->findings[tc->findings_n++];
    memset(f, 0, sizeof *f);
    snprintf(f->region, sizeof f->region, "%.*s", (int)(sizeof f->region - 1), tc_region_name(tc, r));
    f->seq = seq;
    snprintf(f->tid, sizeof f->tid, "%s", tid ? tid : "");
    snprintf(f->event, sizeof f->event, "%s", event);
    snprintf(f->state, sizeof f->state, "%s", state);
    snprintf(f->rule, sizeof f->rule, "%s", rule);
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    snprintf(f->text, sizeof f->text, "%s entry %" PRIu64 " (%s) transfer %s, leg %s: not a step of the model: %s: %s",
             f->region, seq, f->event, f->tid[0] ? f->tid : "-", f->state, f->rule, why);
}

/* ---- the legs ------------------------------------------------------------------------ */

static uint64_t tc_hash(int r, const char *tid) {
    uint64_t h = 1469598103934665603u ^ (uint64_t)r;
    for (const unsigned char *p = (const unsigned char *)tid; *p; p++) h = (h ^ *p) * 1099511628211u;
    return h;
}

/* The slot of (r, tid): live with that key, else the empty slot where it would go. */
static tc_leg_t *tc_slot(tc_leg_t *slot, size_t cap, int r, const char *tid) {
    CARBON_ASSERT(cap > 0 && (cap & (cap - 1)) == 0);
    size_t i = (size_t)tc_hash(r, tid) & (cap - 1);
    for (;;) {
        tc_leg_t *s = &slot[i];
        if (!s->live || (s->region == r && strcmp(s->tid, tid) == 0)) return s;
        i = (i + 1) & (cap - 1);
    }
}

static tc_leg_t *tc_find(trace_check_t *tc, int r, const char *tid) {
    if (tc->cap == 0 || r == TC_NOBODY) return NULL;
    tc_leg_t *s = tc_slot(tc->slot, tc->cap, r, tid);
    return s->live ? s : NULL;
}

static void tc_grow(trace_check_t *tc) {
    size_t cap = tc->cap ? tc->cap * 2 : TC_CAP_MIN;
    tc_leg_t *slot = calloc(cap, sizeof *slot);
    if (slot == NULL) abort();
    for (size_t i = 0; i < tc->cap; i++)
        if (tc->slot[i].live) *tc_slot(slot, cap, tc->slot[i].region, tc->slot[i].tid) = tc->slot[i];
    free(tc->slot);
    tc->slot = slot;
    tc->cap = cap;
}

/* A new leg (r, tid) of role, state NONE; NULL at TRACE_CHECK_LEGS_MAX (said
 * once). May move every leg. */
static tc_leg_t *tc_make(tc_at_t *at, uint8_t role) {
    trace_check_t *tc = at->tc;
    if (tc->live >= TRACE_CHECK_LEGS_MAX) {
        if (!tc->full)
            tc_finding(tc, at->r, at->e->seq, at->tid, at->e->event, "NONE", "limit",
                       "more than %u legs: the rest of the logs is not checked", TRACE_CHECK_LEGS_MAX);
        tc->full = 1;
        return NULL;
    }
    if ((tc->live + 1) * 2 > tc->cap) tc_grow(tc);
    tc_leg_t *s = tc_slot(tc->slot, tc->cap, at->r, at->tid);
    memset(s, 0, sizeof *s);
    s->live = 1;
    s->region = (uint8_t)at->r;
    s->peer = TC_NOBODY;
    s->role = role;
    memcpy(s->tid, at->tid, TRACE_CHECK_TID_LEN + 1);
    tc->live++;
    return s;
}

/* ---- reading an entry ----------------------------------------------------------------- */

/* Detail i of e as a region index (added if new); TC_NOBODY if none. */
static int tc_detail_region(trace_check_t *tc, const audit_entry_t *e, size_t i) {
    if (i >= e->detail_n) return TC_NOBODY;
    return tc_region_index(tc, e->detail_text[i], e->detail_len[i]);
}

/* The letter of detail i of e if it is exactly "C" or "A", else 0. */
static char tc_detail_letter(const audit_entry_t *e, size_t i) {
    if (i >= e->detail_n || e->detail_len[i] != 1) return 0;
    char c = e->detail_text[i][0];
    return c == 'C' || c == 'A' ? c : 0;
}

static int tc_detail_is(const audit_entry_t *e, size_t i, const char *text) {
    return i < e->detail_n && e->detail_len[i] == strlen(text) && memcmp(e->detail_text[i], text, e->detail_len[i]) == 0;
}

static int tc_is_tid(const char *s, size_t len) {
    if (len != TRACE_CHECK_TID_LEN) return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

static const char *tc_state_of(const tc_leg_t *leg) { return tc_state_names[leg ? leg->state : TC_NONE]; }

/* A finding about the entry and transfer at at: the leg's state, the step's rule, why. */
#define TC_AT_FINDING(at, leg, ...) TC_AT_FINDING_RULE(at, leg, (at)->step->rule, __VA_ARGS__)
#define TC_AT_FINDING_RULE(at, leg, rule, ...) \
    tc_finding((at)->tc, (at)->r, (at)->e->seq, (at)->tid, (at)->e->event, tc_state_of(leg), rule, __VA_ARGS__)

/* ---- what each step records, and the steps' own checks ---------------------------- */

/* Detail di of the entry must name the leg's peer (the source of a
 * destination's step, the destination of a batch). */
static void tc_same_peer(tc_at_t *at, tc_leg_t *leg, size_t di) {
    int p = tc_detail_region(at->tc, at->e, di);
    if (p != leg->peer)
        TC_AT_FINDING(at, leg, "it names region %s (detail %zu), the leg's peer is %s",
                      p == TC_NOBODY ? "(none)" : tc_region_name(at->tc, p), di + 1, tc_region_name(at->tc, leg->peer));
}

/* hold: ids TID, ACCT, REGION/ID: the destination region is the peer. */
static void tc_then_hold(tc_at_t *at, tc_leg_t *leg) {
    const audit_entry_t *e = at->e;
    const char *to = e->ids_n >= 3 ? e->ids[2] : "";
    const char *slash = strchr(to, '/');
    leg->peer = (uint8_t)tc_region_index(at->tc, to, slash ? (size_t)(slash - to) : 0);
    if (leg->peer == TC_NOBODY) TC_AT_FINDING(at, leg, "its third id '%.64s' names no destination region", to);
    for (size_t i = 0; i < e->blocks_n; i++) { /* source_decide.lua origins_record */
        const char *o = e->blocks[i].origin;
        int x = tc_region_index(at->tc, o, strlen(o));
        if (x != TC_NOBODY && x != at->r && x != leg->peer) leg->origins |= (uint16_t)(1u << x);
    }
    leg->first_seq = e->seq;
    leg->first_ms = e->time_ms;
}

static void tc_then_batch(tc_at_t *at, tc_leg_t *leg) { tc_same_peer(at, leg, 0); }

/* commit, abort at the source: the coordinator's decision. */
static void tc_then_source_decide(tc_at_t *at, tc_leg_t *leg) {
    leg->decision = strcmp(at->e->event, "commit") == 0 ? 'C' : 'A';
    leg->decided_seq = at->e->seq;
    leg->decided_ms = at->e->time_ms;
    leg->ack_open = 1;
}

/* prepare: details source region, batch seq, credited_g: the source is the peer. */
static void tc_then_prepare(tc_at_t *at, tc_leg_t *leg) {
    leg->peer = (uint8_t)tc_detail_region(at->tc, at->e, 0);
    if (leg->peer == TC_NOBODY) TC_AT_FINDING(at, leg, "its first detail names no source region");
    leg->prepared = 1;
    leg->first_seq = at->e->seq;
    leg->first_ms = leg->outcome_ms = at->e->time_ms;
}

/* refuse (gateways before issue 15): "TID:REASON", details source region. */
static void tc_then_refuse(tc_at_t *at, tc_leg_t *leg) {
    leg->peer = (uint8_t)tc_detail_region(at->tc, at->e, 0);
    leg->first_seq = at->e->seq;
    leg->first_ms = leg->outcome_ms = at->e->time_ms;
}

/* apply, drop of a prepared leg: the participant's decision. */
static void tc_then_dest_decide(tc_at_t *at, tc_leg_t *leg) {
    tc_same_peer(at, leg, 0);
    leg->denied = 0; /* a decision applied or dropped it: no longer denied */
    leg->decision = strcmp(at->e->event, "apply") == 0 ? 'C' : 'A';
    leg->decided_seq = at->e->seq;
    leg->decided_ms = leg->outcome_ms = at->e->time_ms;
}

/* cancel: the discount part of an apply, in the same step (dest_decide.lua). */
static void tc_then_cancel(tc_at_t *at, tc_leg_t *leg) {
    if (leg == NULL || leg->state != TC_COMMITTED || leg->decision != 'C' || leg->forced ||
        leg->decided_ms != at->e->time_ms || leg->decided_seq >= at->e->seq)
        TC_AT_FINDING(at, leg, "a cancel comes only with the apply of the same step");
    else
        tc_same_peer(at, leg, 0);
}

/* resolve: details C/A, operator, reason. An operator forced the decision
 * whose apply or drop came earlier in the same step: FORCE, to HC or HA. */
static void tc_then_resolve(tc_at_t *at, tc_leg_t *leg) {
    char d = tc_detail_letter(at->e, 0);
    int same_step = leg != NULL && leg->role == TC_DEST && !leg->forced && leg->decided_ms == at->e->time_ms &&
                    leg->decided_seq < at->e->seq && leg->decision == d && d != 0 &&
                    leg->state == (d == 'C' ? TC_COMMITTED : TC_ABORTED);
    if (!same_step) {
        TC_AT_FINDING(at, leg, "a resolve %s must follow the %s of a prepared leg in the same step",
                      d ? (d == 'C' ? "C" : "A") : "without a decision", d == 'A' ? "drop" : "apply");
        return;
    }
    leg->forced = 1;
    leg->state = d == 'C' ? TC_HC : TC_HA;
}

/* acked: the participant applied the decision sent (OPT_ACK), once per
 * decision (again only after an operator's compensation changed it). */
static void tc_then_acked(tc_at_t *at, tc_leg_t *leg) {
    if (leg == NULL || leg->role != TC_SOURCE || (leg->state != TC_COMMITTED && leg->state != TC_ABORTED) ||
        !leg->ack_open) {
        if (leg != NULL && leg->acked_seq != 0)
            TC_AT_FINDING(at, leg, "acknowledged again (first at entry %" PRIu64 ") with no new decision",
                          leg->acked_seq);
        else
            TC_AT_FINDING(at, leg, "only a decided source leg is acknowledged");
        return;
    }
    uint16_t missing = (uint16_t)(leg->origins & ~leg->origins_acked);
    for (int x = 0; missing != 0 && x < TRACE_CHECK_REGIONS_MAX; x++)
        if (missing & (1u << x))
            TC_AT_FINDING(at, leg, "%s, an origin of its serials and a participant, never acknowledged the "
                          "decision (no origin-acked entry before it)", tc_region_name(at->tc, x));
    leg->ack_open = 0;
    leg->ack_decision = leg->state == TC_COMMITTED ? 'C' : 'A';
    leg->acked_seq = at->e->seq;
    leg->acked_ms = at->e->time_ms;
}

/* origin-prepare at X (ids TID, destination REGION/ID, source REGION/ID;
 * the blocks, X's own serials; details: source region): X voted yes and
 * locked the blocks in its map. The source is the peer. */
static void tc_then_origin_prepare(tc_at_t *at, tc_leg_t *leg) {
    const audit_entry_t *e = at->e;
    leg->peer = (uint8_t)tc_detail_region(at->tc, e, 0);
    const char *from = e->ids_n >= 3 ? e->ids[2] : "";
    const char *slash = strchr(from, '/');
    int fr = tc_region_index(at->tc, from, slash ? (size_t)(slash - from) : 0);
    if (leg->peer == TC_NOBODY || fr != leg->peer)
        TC_AT_FINDING(at, leg, "its first detail must name the source region, that of its third id '%.64s'", from);
    for (size_t i = 0; i < e->blocks_n; i++)
        if (strcmp(e->blocks[i].origin, tc_region_name(at->tc, at->r)) != 0) {
            TC_AT_FINDING(at, leg, "block %zu is of origin %s: an origin prepares only its own serials", i + 1,
                          e->blocks[i].origin);
            break;
        }
    leg->prepared = 1;
    leg->first_seq = e->seq;
    leg->first_ms = leg->outcome_ms = e->time_ms;
}

/* origin-commit, origin-abort at X: the coordinator's decision applied. */
static void tc_then_origin_decide(tc_at_t *at, tc_leg_t *leg) {
    tc_same_peer(at, leg, 0);
    leg->decision = strcmp(at->e->event, "origin-commit") == 0 ? 'C' : 'A';
    leg->decided_seq = at->e->seq;
    leg->decided_ms = leg->outcome_ms = at->e->time_ms;
}

/* origin-acked at the source (details: the origin region): that origin of
 * the leg's serials applied the decision; once per origin. Kept for the
 * check against the origin's leg (tc_cross_oack). */
static void tc_then_origin_acked(tc_at_t *at, tc_leg_t *leg) {
    trace_check_t *tc = at->tc;
    int x = tc_detail_region(tc, at->e, 0);
    if (leg == NULL || (leg->state != TC_COMMITTED && leg->state != TC_ABORTED)) {
        TC_AT_FINDING(at, leg, "only a decided source leg is acknowledged");
        return;
    }
    if (x == TC_NOBODY || !(leg->origins & (1u << x))) {
        TC_AT_FINDING(at, leg, "%s is not a third-region origin of the serials its hold took",
                      x == TC_NOBODY ? "(no region)" : tc_region_name(tc, x));
        return;
    }
    if (leg->origins_acked & (1u << x)) {
        TC_AT_FINDING(at, leg, "%s acknowledged again", tc_region_name(tc, x));
        return;
    }
    if (tc->oacks_n >= TRACE_CHECK_LEGS_MAX) {
        if (!tc->full) TC_AT_FINDING(at, leg, "more than %u origin-acked: the rest of the logs is not checked",
                                     TRACE_CHECK_LEGS_MAX);
        tc->full = 1;
        return;
    }
    leg->origins_acked |= (uint16_t)(1u << x);
    if (tc->oacks_n == tc->oacks_cap) {
        size_t cap = tc->oacks_cap ? tc->oacks_cap * 2 : 256;
        tc_oack_t *o = realloc(tc->oacks, cap * sizeof *o);
        if (o == NULL) abort();
        tc->oacks = o;
        tc->oacks_cap = cap;
    }
    tc_oack_t *k = &tc->oacks[tc->oacks_n++];
    memcpy(k->tid, at->tid, TRACE_CHECK_TID_LEN + 1);
    k->source = (uint8_t)at->r;
    k->origin = (uint8_t)x;
    k->decision = leg->state == TC_COMMITTED ? 'C' : 'A';
    k->seq = at->e->seq;
    k->ms = at->e->time_ms;
}

#define TC_RULE_SOURCE_MIXED "OPT_ACK answered HEURISTIC_MIXED (source_mixed.lua)"
#define TC_RULE_SETTLE "dest_decide of a forced leg, L_HC/L_HA (dest_decide.lua heuristic_settle)"
#define TC_RULE_COMPENSATE "an operator's compensation (heuristic_compensate.lua; outside the model)"

/* heuristic at the source: MIXED (the participant answered HEURISTIC_MIXED:
 * acknowledged as such) or COMPENSATED (an operator turned an ABORTED MIXED
 * leg into COMMITTED, to be sent again). d: the decision detail. */
static void tc_heuristic_source(tc_at_t *at, tc_leg_t *leg, char d) {
    const audit_entry_t *e = at->e;
    if (tc_detail_is(e, 1, "MIXED")) {
        char holds = leg->state == TC_COMMITTED ? 'C' : 'A';
        if ((leg->state != TC_COMMITTED && leg->state != TC_ABORTED) || leg->mixed || d != holds) {
            TC_AT_FINDING_RULE(at, leg, TC_RULE_SOURCE_MIXED, "a decided leg not yet MIXED, with its own decision");
            return;
        }
        leg->mixed = 1;
        leg->ack_open = 0;
        leg->mixed_seq = e->seq;
        leg->mixed_ms = e->time_ms;
    } else if (tc_detail_is(e, 1, "COMPENSATED") && e->ids_n == 2 && e->blocks_n == 0) {
        /* a MIXED leg closed as it is, nothing moves: COMMITTED, its
         * destination did not re-apply a forced ABORT (dest_decide.lua
         * reapply_conflict); or ABORTED, its destination compensated */
        char holds = leg->state == TC_COMMITTED ? 'C' : 'A';
        if ((leg->state != TC_COMMITTED && leg->state != TC_ABORTED) || !leg->mixed || leg->compensated ||
            leg->closed || d != holds) {
            TC_AT_FINDING_RULE(at, leg, TC_RULE_COMPENSATE, "only a MIXED leg is closed without blocks, "
                                                            "holding its decision");
            return;
        }
        if (holds == 'C') {
            leg->compensated = 1;
        } else { /* it holds ABORT: not a COMMIT the destination may settle on */
            leg->closed = 1;
            leg->closed_seq = e->seq;
        }
    } else if (tc_detail_is(e, 1, "COMPENSATED") && e->ids_n == 3) {
        if (leg->state != TC_ABORTED || !leg->mixed || leg->compensated || leg->closed || d != 'C') {
            TC_AT_FINDING_RULE(at, leg, TC_RULE_COMPENSATE, "only an ABORTED MIXED leg is compensated, to C");
            return;
        }
        leg->state = TC_COMMITTED;
        leg->compensated = 1;
        leg->ack_open = 1;
    } else {
        TC_AT_FINDING_RULE(at, leg, TC_RULE_SOURCE_MIXED, "a source's heuristic entry is MIXED or COMPENSATED "
                                                          "(with three ids)");
    }
}

/* How the coordinator's decision settles a forced leg at the destination
 * (the model's dest_decide from L_HC/L_HA), and the compensation of a MIXED one. */
static const struct {
    const char *outcome;
    uint8_t from;
    char decision;
    uint8_t to;
} tc_settles[] = {
    {"AGREED", TC_HC, 'C', TC_COMMITTED},   {"AGREED", TC_HA, 'A', TC_ABORTED},
    {"REAPPLIED", TC_HA, 'C', TC_COMMITTED}, {"REVERSED", TC_HC, 'A', TC_ABORTED},
    {"MIXED", TC_HC, 'A', TC_MIXED},        {"AGREED", TC_MIXED, 'C', TC_COMMITTED},
    {"COMPENSATED", TC_MIXED, 'C', TC_COMPENSATED},
    /* a forced ABORT the coordinator committed, whose serials the region
     * holds again (a coordinator that sent them twice): not re-applied
     * (dest_decide.lua reapply_conflict; outside the model) */
    {"MIXED", TC_HA, 'C', TC_MIXED},
    /* and closed by an operator: it credited nothing, it holds ABORT */
    {"COMPENSATED", TC_MIXED, 'A', TC_COMPENSATED},
    /* an operator closes an ORIGIN_DENIED leg: nothing was credited, the
     * pending credit is dropped (heuristic_compensate.lua; outside the model) */
    {"CLOSED", TC_PREPARED, 'A', TC_COMPENSATED},
    /* or one it had forced to ABORT before the origin denied the COMMIT:
     * nothing is pending any more */
    {"CLOSED", TC_HA, 'A', TC_COMPENSATED},
};

static void tc_heuristic_dest(tc_at_t *at, tc_leg_t *leg, char d) {
    const audit_entry_t *e = at->e;
    size_t k = 0, n = sizeof tc_settles / sizeof tc_settles[0];
    while (k < n && !(tc_detail_is(e, 1, tc_settles[k].outcome) && tc_settles[k].from == leg->state &&
                      tc_settles[k].decision == d))
        k++;
    int closed = tc_detail_is(e, 1, "CLOSED");
    int compensate = tc_detail_is(e, 1, "COMPENSATED") || closed;
    if (k < n && closed && !leg->denied) {
        TC_AT_FINDING_RULE(at, leg, TC_RULE_COMPENSATE, "a prepared leg closed, but its origin never denied it "
                                                        "(no origin-denied entry)");
        return;
    }
    if (k < n && closed && leg->state == TC_HA && e->blocks_n != 0) {
        TC_AT_FINDING_RULE(at, leg, TC_RULE_COMPENSATE, "a forced ABORT left nothing pending: its close drops "
                                                        "no blocks");
        return;
    }
    if (k < n && !closed && leg->denied) { /* dest_decide answers such a leg and writes nothing */
        TC_AT_FINDING_RULE(at, leg, TC_RULE_SETTLE, "a leg its origin denied is settled only by an operator's "
                                                    "close");
        return;
    }
    if (k == n) {
        TC_AT_FINDING_RULE(at, leg, compensate ? TC_RULE_COMPENSATE : TC_RULE_SETTLE,
                           "no such settlement from %s with the coordinator's decision %c", tc_state_of(leg),
                           d ? d : '?');
        return;
    }
    tc_same_peer(at, leg, 0);
    if (leg->state == TC_MIXED && !compensate) {
        leg->agreed = 1;
        leg->agreed_seq = e->seq;
    } else if (!compensate) {
        leg->settled = d;
        leg->settled_from = leg->state;
        leg->settled_seq = e->seq;
    }
    if (tc_settles[k].to == TC_MIXED) leg->mixed = 1;
    leg->state = tc_settles[k].to;
    leg->outcome_ms = e->time_ms;
}

/* origin-denied: the leg stays as it is (prepared, or ABORTED by an
 * operator's forced ABORT, HA), closable by an operator (CLOSED). */
static void tc_then_origin_denied(tc_at_t *at, tc_leg_t *leg) {
    (void)at;
    if (leg != NULL) leg->denied = 1;
}

/* heuristic: details peer, outcome, decision, k[, operator, reason]. */
static void tc_then_heuristic(tc_at_t *at, tc_leg_t *leg) {
    char d = tc_detail_letter(at->e, 2);
    if (leg == NULL) {
        TC_AT_FINDING_RULE(at, leg, TC_RULE_SETTLE, "a heuristic entry for a leg this region never had");
        return;
    }
    if (leg->role == TC_ORIGIN) {
        TC_AT_FINDING_RULE(at, leg, TC_RULE_SETTLE, "no operator decides an origin's leg: nothing to settle");
        return;
    }
    if (leg->role == TC_SOURCE) tc_heuristic_source(at, leg, d);
    else tc_heuristic_dest(at, leg, d);
}

/* ---- the steps ------------------------------------------------------------------------ */

/* Per event: the model transition it is (tests/model/README.md's table),
 * the role of its legs, the states it is allowed from and the state after.
 * from 0: its `then` checks the state itself. A step allowed from NONE
 * creates the leg. An event not listed is a finding. */
static const struct tc_step_row {
    tc_step_t s;
    uint8_t none_ok; /* from NONE: a step of a leg never seen, which keeps nothing */
} tc_steps[] = {
    /* the coordinator (the source region) */
    {{"hold", TC_SOURCE, TC_IDS_FIRST, B(TC_NONE), TC_HELD, "transfer_hold (transfer_hold.lua)", tc_then_hold}, 0},
    {{"batch", TC_SOURCE, TC_IDS_ALL, B(TC_HELD) | B(TC_ABORTED), TC_SAME,
      "OPT_PREPARE_SEND (engine_batch_open, batch_open.lua)", tc_then_batch}, 0},
    {{"commit", TC_SOURCE, TC_IDS_FIRST, B(TC_HELD), TC_COMMITTED,
      "OPT_COMMIT_POINT: source_decide commit (source_decide.lua)", tc_then_source_decide}, 0},
    {{"abort", TC_SOURCE, TC_IDS_FIRST, B(TC_HELD), TC_ABORTED,
      "source_decide abort: OPT_COMMIT_POINT, OPT_PRESUMED_ABORT or OPT_QUERY_DECISION", tc_then_source_decide}, 0},
    {{"acked", TC_SOURCE, TC_IDS_ALL, 0, TC_SAME, "OPT_ACK (source_ack.lua)", tc_then_acked}, 0},
    /* the participant (the destination region) */
    {{"prepare", TC_DEST, TC_IDS_FIRST, B(TC_NONE), TC_PREPARED, "OPT_PREPARE: dest_prepare votes yes (dest_prepare.lua)",
      tc_then_prepare}, 0},
    {{"refuse", TC_DEST, TC_IDS_REFUSALS, B(TC_NONE), TC_REFUSED, "OPT_PREPARE: dest_prepare votes no (before issue 15)",
      tc_then_refuse}, 0},
    {{"apply", TC_DEST, TC_IDS_FIRST, B(TC_PREPARED), TC_COMMITTED,
      "OPT_DECIDE/OPT_LEARN: dest_decide commit (dest_decide.lua)", tc_then_dest_decide}, 0},
    {{"cancel", TC_DEST, TC_IDS_FIRST, 0, TC_SAME, "dest_decide commit, its discount (dest_decide.lua)", tc_then_cancel}, 0},
    {{"drop", TC_DEST, TC_IDS_ALL, B(TC_PREPARED), TC_ABORTED, "OPT_DECIDE/OPT_LEARN: dest_decide abort (dest_decide.lua)",
      tc_then_dest_decide}, 1},
    {{"resolve", TC_DEST, TC_IDS_FIRST, 0, TC_SAME, "FORCE: ops_resolve_in_doubt, dest_decide with resolved_by",
      tc_then_resolve}, 0},
    /* the destination asked the origin before crediting its serials and was
     * denied (the model's L_DENIED: the pending credit stays): checked as
     * still prepared, marked denied, which an operator may then close */
    {{"origin-denied", TC_DEST, TC_IDS_FIRST, B(TC_PREPARED) | B(TC_HA), TC_SAME,
      "dest_decide commit held back: the origin did not confirm (ConfirmOrigin)", tc_then_origin_denied}, 0},
    /* either role: settled by the leg's role */
    {{"heuristic", TC_OTHER, TC_IDS_FIRST, 0, TC_SAME, TC_RULE_SETTLE, tc_then_heuristic}, 0},
    /* the origin of a leg's serials as a third-party participant (the model's
     * X; DESIGN §6 provenance, issue 15): dest_prepare's map check and lock
     * at X, the decision's map move; no operator decides it */
    {{"origin-prepare", TC_ORIGIN, TC_IDS_FIRST, B(TC_NONE), TC_PREPARED,
      "OPT_PREPARE at X: origin_prepare votes yes and locks (origin_prepare.lua)", tc_then_origin_prepare}, 0},
    {{"origin-commit", TC_ORIGIN, TC_IDS_FIRST, B(TC_PREPARED), TC_COMMITTED,
      "OPT_DECIDE/OPT_LEARN at X: origin_decide commit (dest_decide.lua)", tc_then_origin_decide}, 0},
    {{"origin-abort", TC_ORIGIN, TC_IDS_FIRST, B(TC_PREPARED), TC_ABORTED,
      "OPT_DECIDE/OPT_LEARN at X: origin_decide abort (dest_decide.lua)", tc_then_origin_decide}, 0},
    {{"origin-acked", TC_SOURCE, TC_IDS_ALL, 0, TC_SAME, "OPT_ACK of the origin X (source_ack.lua)",
      tc_then_origin_acked}, 0},
    /* no leg's step: the ledger's own and the witness's */
    {{"open", TC_OTHER, TC_IDS_NONE, 0, TC_SAME, "", NULL}, 0},
    {{"issue", TC_OTHER, TC_IDS_NONE, 0, TC_SAME, "", NULL}, 0},
    {{"retire", TC_OTHER, TC_IDS_NONE, 0, TC_SAME, "", NULL}, 0},
    {{"ack-fork", TC_OTHER, TC_IDS_NONE, 0, TC_SAME, "", NULL}, 0},
    /* use reports to the serials' origin (settlement/use_reports.h): the
     * origin's map, no leg's step */
    {{"use-report", TC_OTHER, TC_IDS_NONE, 0, TC_SAME, "", NULL}, 0},
    {{"use-reported", TC_OTHER, TC_IDS_NONE, 0, TC_SAME, "", NULL}, 0},
    /* activity reservations (gateway/services/activities.h): no transfer */
    {{"act-reserve", TC_OTHER, TC_IDS_NONE, 0, TC_SAME, "", NULL}, 0},
    {{"act-issued", TC_OTHER, TC_IDS_NONE, 0, TC_SAME, "", NULL}, 0},
    {{"act-release", TC_OTHER, TC_IDS_NONE, 0, TC_SAME, "", NULL}, 0},
    /* a compliance obligation registered (rules on use, obligation_register.lua): no transfer */
    {{"obligation", TC_OTHER, TC_IDS_NONE, 0, TC_SAME, "", NULL}, 0},
};

/* The states of the set `from`, as "HELD or ABORTED", into out. */
static void tc_states_text(uint16_t from, char *out, size_t outlen) {
    size_t used = 0;
    out[0] = '\0';
    for (int s = 0; s < TC_STATES_N && used < outlen; s++)
        if (from & B(s)) used += (size_t)snprintf(out + used, outlen - used, "%s%s", used ? " or " : "", tc_state_names[s]);
}

/* One step (row) of the transfer at->tid at region at->r. */
static void tc_step_one(tc_at_t *at, const struct tc_step_row *row) {
    const tc_step_t *st = &row->s;
    tc_leg_t *leg = tc_find(at->tc, at->r, at->tid);
    if (leg != NULL && st->role != TC_OTHER && leg->role != st->role) {
        TC_AT_FINDING(at, leg, "a step of a %s leg; this region's leg of the transfer is a %s leg",
                      tc_role_names[st->role], tc_role_names[leg->role]);
        return;
    }
    if (st->from == 0) {
        st->then(at, leg);
        return;
    }
    if (leg == NULL && row->none_ok) return;
    if (!(st->from & B(leg ? leg->state : TC_NONE))) {
        char allowed[96];
        tc_states_text(st->from, allowed, sizeof allowed);
        TC_AT_FINDING(at, leg, "allowed only from %s", allowed);
        return;
    }
    if (leg == NULL && (leg = tc_make(at, st->role)) == NULL) return;
    if (st->then != NULL) st->then(at, leg);
    if (st->to != TC_SAME) leg->state = st->to;
}

/* Steps the transfer of id i of the entry (for refusals "TID:REASON"). */
static void tc_step_id(tc_at_t *at, const struct tc_step_row *row, size_t i) {
    const char *id = at->e->ids[i];
    size_t len = strlen(id);
    if (row->s.ids == TC_IDS_REFUSALS && strchr(id, ':') != NULL) len = (size_t)(strchr(id, ':') - id);
    char tid[TRACE_CHECK_TID_LEN + 1];
    at->tid = "";
    if (!tc_is_tid(id, len)) {
        TC_AT_FINDING(at, NULL, "id %zu '%.40s' is not a transfer id", i + 1, id);
        return;
    }
    memcpy(tid, id, len);
    tid[len] = '\0';
    at->tid = tid;
    tc_step_one(at, row);
    at->tid = "";
}

void trace_check_entry(trace_check_t *tc, int r, const audit_entry_t *e) {
    CARBON_ASSERT(tc != NULL && e != NULL && !tc->finished);
    CARBON_ASSERT(r >= 0 && (size_t)r < tc->regions_n && tc->regions[r].has_log);
    tc->stats.entries++;
    tc_region_t *g = &tc->regions[r];
    if (e->seq != g->last_seq + 1)
        tc_finding(tc, r, e->seq, NULL, e->event, "-", "the log", "entry %" PRIu64 " comes after entry %" PRIu64,
                   e->seq, g->last_seq);
    if (e->seq > g->last_seq) g->last_seq = e->seq;
    size_t k = 0, n = sizeof tc_steps / sizeof tc_steps[0];
    while (k < n && strcmp(tc_steps[k].s.event, e->event) != 0) k++;
    if (k == n) {
        tc_finding(tc, r, e->seq, e->ids_n > 0 ? e->ids[0] : NULL, e->event, "-", "(none)",
                   "an unknown event: no transition of the model writes it");
        return;
    }
    if (tc_steps[k].s.ids == TC_IDS_NONE || tc->full) return;
    tc->stats.leg_entries++;
    tc_at_t at = {.tc = tc, .r = r, .e = e, .step = &tc_steps[k].s, .tid = ""};
    if (e->ids_n == 0) TC_AT_FINDING(&at, NULL, "it names no transfer");
    size_t ids = tc_steps[k].s.ids == TC_IDS_FIRST && e->ids_n > 1 ? 1 : e->ids_n;
    for (size_t i = 0; i < ids && !tc->full; i++) tc_step_id(&at, &tc_steps[k], i);
}

void trace_check_unreadable(trace_check_t *tc, int r, uint64_t seq, const char *why) {
    CARBON_ASSERT(tc != NULL && why != NULL && r >= 0 && (size_t)r < tc->regions_n);
    tc->stats.entries++;
    tc_finding(tc, r, seq, NULL, "unreadable", "-", "the log", "%s", why);
    if (seq > tc->regions[r].last_seq) tc->regions[r].last_seq = seq;
}

/* ---- across regions ------------------------------------------------------------------- */

/* 1 if region p's log holds every entry a step at step_ms needs (an entry
 * the step follows is at most step_ms + skew by p's clock); else counted as
 * too recent. */
static int tc_visible(trace_check_t *tc, int p, uint64_t step_ms) {
    uint64_t h = tc->regions[p].horizon_ms;
    if (h == UINT64_MAX || (step_ms <= h && h - step_ms > tc->skew_ms)) return 1;
    tc->stats.too_recent++;
    return 0;
}

/* The leg of leg's transfer at its peer, of role (and whose peer is leg's
 * region: the same transfer), or NULL. */
static tc_leg_t *tc_peer_leg(trace_check_t *tc, const tc_leg_t *leg, uint8_t role) {
    tc_leg_t *o = tc_find(tc, leg->peer, leg->tid);
    return o != NULL && o->role == role && o->peer == leg->region ? o : NULL;
}

/* What a destination leg holds: 'C', 'A' (also never known, or refused),
 * 'M' (HEURISTIC_MIXED) or '?' (still prepared). */
static char tc_holds(const tc_leg_t *d) {
    if (d == NULL) return 'A';
    switch (d->state) {
    case TC_COMMITTED: case TC_HC: return 'C';
    case TC_PREPARED: return '?';
    case TC_MIXED: case TC_COMPENSATED: return 'M';
    default: return 'A';
    }
}

static const char *tc_decision_name(char d) { return d == 'C' ? "COMMIT" : d == 'A' ? "ABORT" : "no decision"; }

#define TC_LEG_FINDING(tc, leg, seq, event, state, rule, ...) \
    tc_finding(tc, (leg)->region, seq, (leg)->tid, event, state, rule, __VA_ARGS__)

/* 1 if the destination prepared d after its source s's abort was
 * acknowledged: it answered ABORT for a leg it did not know, which the model
 * records (L_NONE -> L_ABORTED, and a later Prepare is voted no) and the
 * code does not (dest_decide.lua keeps nothing). Named at the prepare. */
static int tc_prepared_after_abort(const trace_check_t *tc, const tc_leg_t *d, const tc_leg_t *s) {
    return d != NULL && s != NULL && d->prepared && s->acked_seq != 0 && s->ack_decision == 'A' &&
           d->first_ms > s->acked_ms + tc->skew_ms;
}

static int tc_has_log(const trace_check_t *tc, int p) {
    return p != TC_NOBODY && (size_t)p < tc->regions_n && tc->regions[p].has_log;
}

static void tc_cross_decided(trace_check_t *tc, const tc_leg_t *d, const tc_leg_t *s);

/* The source leg of an origin leg x's transfer (its peer's), or NULL. */
static tc_leg_t *tc_source_of(trace_check_t *tc, const tc_leg_t *x) {
    tc_leg_t *s = tc_find(tc, x->peer, x->tid);
    return s != NULL && s->role == TC_SOURCE ? s : NULL;
}

/* A source's commit against every third-region origin of its serials: each
 * voted yes (origin-prepare) before it. */
static void tc_cross_source_origins(trace_check_t *tc, const tc_leg_t *s) {
    for (int i = 0; i < TRACE_CHECK_REGIONS_MAX; i++) {
        if (!(s->origins & (1u << i)) || !tc_has_log(tc, i) || !tc_visible(tc, i, s->decided_ms)) continue;
        const tc_leg_t *x = tc_find(tc, i, s->tid);
        if (x != NULL && x->role != TC_ORIGIN) x = NULL;
        if (x == NULL || !x->prepared)
            TC_LEG_FINDING(tc, s, s->decided_seq, "commit", "HELD", "OPT_COMMIT_POINT commits on every yes vote",
                           "%s, the origin of its serials, never prepared it (no origin-prepare entry: no yes "
                           "vote)", tc_region_name(tc, i));
        else if (x->first_ms > s->decided_ms + tc->skew_ms)
            TC_LEG_FINDING(tc, s, s->decided_seq, "commit", "HELD", "OPT_COMMIT_POINT commits on every yes vote",
                           "committed at %" PRIu64 " ms, %s (origin) prepared it only at %" PRIu64 " ms",
                           s->decided_ms, tc_region_name(tc, i), x->first_ms);
    }
}

/* An origin leg against its source's: it prepared a hold of its serials and
 * decided as the coordinator did (no operator decides it). */
static void tc_cross_origin(trace_check_t *tc, const tc_leg_t *x) {
    const char *peer = tc_region_name(tc, x->peer);
    tc_leg_t *s = tc_source_of(tc, x);
    if (x->prepared && tc_visible(tc, x->peer, x->first_ms)) {
        if (s == NULL || s->first_ms > x->first_ms + tc->skew_ms)
            TC_LEG_FINDING(tc, x, x->first_seq, "origin-prepare", "NONE", "OPT_PREPARE at X of a leg its "
                           "coordinator holds", "%s has no earlier hold of this transfer", peer);
        else if (!(s->origins & (1u << x->region)))
            TC_LEG_FINDING(tc, x, x->first_seq, "origin-prepare", "NONE", "OPT_PREPARE at X of a leg its "
                           "coordinator holds", "%s's hold of this transfer takes no serials of this region", peer);
    }
    if (x->decision != 0 && x->prepared && tc_visible(tc, x->peer, x->decided_ms)) tc_cross_decided(tc, x, s);
}

/* An origin's acknowledgement at the source against the origin's leg: the
 * origin holds the decision acknowledged (or, for an abort, never knew the
 * leg), took it before, and did not prepare the leg after an ABORT it
 * acknowledged (the model records that abort; the code keeps nothing). */
static void tc_cross_oack(trace_check_t *tc, const tc_oack_t *k) {
    if (!tc_has_log(tc, k->origin) || !tc_visible(tc, k->origin, k->ms)) return;
    const char *xn = tc_region_name(tc, k->origin);
    const tc_leg_t *x = tc_find(tc, k->origin, k->tid);
    if (x != NULL && x->role != TC_ORIGIN) x = NULL;
    const char *st = k->decision == 'C' ? "COMMITTED" : "ABORTED";
    const char *rule = "OPT_ACK once the origin X applied the decision";
    char holds = x == NULL || x->state == TC_ABORTED ? 'A' : x->state == TC_COMMITTED ? 'C' : '?';
    if (x != NULL && x->prepared && k->decision == 'A' && x->first_ms > k->ms + tc->skew_ms)
        tc_finding(tc, k->origin, x->first_seq, k->tid, "origin-prepare", "ABORTED",
                   "OPT_PREPARE at X votes no after origin_decide abort",
                   "%s's ABORT was acknowledged at %" PRIu64 " ms (this region answered ABORT for a leg it did "
                   "not know: the model records it), yet it prepared the leg at %" PRIu64 " ms",
                   tc_region_name(tc, k->source), k->ms, x->first_ms);
    else if (holds != k->decision)
        tc_finding(tc, k->source, k->seq, k->tid, "origin-acked", st, rule, "%s holds %s (leg %s), not the %s "
                   "acknowledged", xn, holds == '?' ? "no decision" : tc_decision_name(holds), tc_state_of(x),
                   tc_decision_name(k->decision));
    else if (x != NULL && x->outcome_ms > k->ms + tc->skew_ms)
        tc_finding(tc, k->source, k->seq, k->tid, "origin-acked", st, rule, "acknowledged at %" PRIu64 " ms, %s "
                   "took the decision only at %" PRIu64 " ms", k->ms, xn, x->outcome_ms);
}

/* A source leg against its destination's: the commit had a yes vote, the
 * acked acknowledges what the destination holds, MIXED is mutual. */
static void tc_cross_source(trace_check_t *tc, const tc_leg_t *s) {
    const char *peer = tc_region_name(tc, s->peer);
    tc_leg_t *d = tc_peer_leg(tc, s, TC_DEST);
    if (s->decision == 'C' && tc_visible(tc, s->peer, s->decided_ms)) {
        if (d == NULL || !d->prepared)
            TC_LEG_FINDING(tc, s, s->decided_seq, "commit", "HELD", "OPT_COMMIT_POINT commits on every yes vote",
                           "%s never prepared it (no prepare entry: no yes vote)", peer);
        else if (d->first_ms > s->decided_ms + tc->skew_ms)
            TC_LEG_FINDING(tc, s, s->decided_seq, "commit", "HELD", "OPT_COMMIT_POINT commits on every yes vote",
                           "committed at %" PRIu64 " ms, %s prepared it only at %" PRIu64 " ms", s->decided_ms, peer,
                           d->first_ms);
    }
    if (s->acked_seq != 0 && !tc_prepared_after_abort(tc, d, s) && tc_visible(tc, s->peer, s->acked_ms)) {
        char holds = tc_holds(d);
        const char *st = s->ack_decision == 'C' ? "COMMITTED" : "ABORTED";
        if (holds != s->ack_decision)
            TC_LEG_FINDING(tc, s, s->acked_seq, "acked", st, "OPT_ACK once the participant applied the decision",
                           "%s holds %s (leg %s), not the %s acknowledged", peer,
                           holds == '?' ? "no decision" : holds == 'M' ? "HEURISTIC_MIXED" : tc_decision_name(holds),
                           tc_state_of(d), tc_decision_name(s->ack_decision));
        else if (d != NULL && d->outcome_ms > s->acked_ms + tc->skew_ms)
            TC_LEG_FINDING(tc, s, s->acked_seq, "acked", st, "OPT_ACK once the participant applied the decision",
                           "acknowledged at %" PRIu64 " ms, %s took the decision only at %" PRIu64 " ms", s->acked_ms,
                           peer, d->outcome_ms);
    }
    if (s->decision == 'C' && s->origins != 0) tc_cross_source_origins(tc, s);
    if (s->mixed_seq != 0 && tc_visible(tc, s->peer, s->mixed_ms) && (d == NULL || !d->mixed))
        TC_LEG_FINDING(tc, s, s->mixed_seq, "heuristic", tc_decision_name(s->decision), TC_RULE_SOURCE_MIXED,
                       "%s never recorded the leg HEURISTIC_MIXED", peer);
    if (s->closed && (d == NULL || d->state != TC_COMPENSATED))
        TC_LEG_FINDING(tc, s, s->closed_seq, "heuristic", "ABORTED", TC_RULE_COMPENSATE,
                       "closed as it is (its destination compensates), but %s has not compensated the leg: "
                       "the grams the heuristic COMMIT credited there are still in circulation", peer);
}

/* A destination's decision of a prepared leg against its coordinator's:
 * no participant decides alone after voting yes. */
static void tc_cross_decided(trace_check_t *tc, const tc_leg_t *d, const tc_leg_t *s) {
    const char *peer = tc_region_name(tc, d->peer);
    int c = d->decision == 'C', x = d->role == TC_ORIGIN;
    const char *ev = x ? (c ? "origin-commit" : "origin-abort") : (c ? "apply" : "drop");
    const char *rule = x ? (c ? "OPT_DECIDE/OPT_LEARN at X: origin_decide commit (the coordinator's decision)"
                              : "OPT_DECIDE/OPT_LEARN at X: origin_decide abort (the coordinator's decision)")
                         : (c ? "OPT_DECIDE/OPT_LEARN: dest_decide commit (the coordinator's decision)"
                              : "OPT_DECIDE/OPT_LEARN: dest_decide abort (the coordinator's decision)");
    char have = s != NULL ? s->decision : 0;
    if (have != d->decision)
        TC_LEG_FINDING(tc, d, d->decided_seq, ev, "PREPARED", rule, "%s %s: %s", peer,
                       have == 'C' ? "committed it" : have == 'A' ? "aborted it" : "never decided it",
                       have ? "the legs disagree" : "a participant decided alone after voting yes");
    else if (s->decided_ms > d->decided_ms + tc->skew_ms)
        TC_LEG_FINDING(tc, d, d->decided_seq, ev, "PREPARED", rule,
                       "decided at %" PRIu64 " ms, %s decided only at %" PRIu64 " ms: a participant decided alone "
                       "after voting yes", d->decided_ms, peer, s->decided_ms);
}

/* A destination leg against its source's: prepared a hold, decided as the
 * coordinator did (unless an operator forced it), settled a forced decision
 * with a decision the coordinator recorded. */
static void tc_cross_dest(trace_check_t *tc, const tc_leg_t *d) {
    const char *peer = tc_region_name(tc, d->peer);
    tc_leg_t *s = tc_peer_leg(tc, d, TC_SOURCE);
    if (d->prepared && tc_visible(tc, d->peer, d->first_ms) && (s == NULL || s->first_ms > d->first_ms + tc->skew_ms))
        TC_LEG_FINDING(tc, d, d->first_seq, "prepare", "NONE", "OPT_PREPARE of a leg its coordinator holds",
                       "%s has no earlier hold of this transfer towards %s", peer, tc_region_name(tc, d->region));
    if (tc_prepared_after_abort(tc, d, s))
        TC_LEG_FINDING(tc, d, d->first_seq, "prepare", "ABORTED", "OPT_PREPARE votes no after dest_decide abort",
                       "%s's ABORT was acknowledged at %" PRIu64 " ms (this region answered ABORT for a leg it "
                       "did not know: the model records it), yet it prepared the leg at %" PRIu64 " ms",
                       peer, s->acked_ms, d->first_ms);
    if (d->decision != 0 && d->prepared && !d->forced && tc_visible(tc, d->peer, d->decided_ms))
        tc_cross_decided(tc, d, s);
    int c_recorded = s != NULL && (s->decision == 'C' || s->compensated);
    if (d->settled != 0 && (s == NULL || !(s->decision == d->settled || (d->settled == 'C' && c_recorded))))
        TC_LEG_FINDING(tc, d, d->settled_seq, "heuristic", tc_state_names[d->settled_from], TC_RULE_SETTLE,
                       "settled with the coordinator's %s, but %s recorded %s", tc_decision_name(d->settled), peer,
                       tc_decision_name(s ? s->decision : 0));
    if (d->agreed && !c_recorded)
        TC_LEG_FINDING(tc, d, d->agreed_seq, "heuristic", "MIXED", TC_RULE_SETTLE,
                       "closed as AGREED on COMMIT, but %s never recorded a COMMIT", peer);
}

size_t trace_check_finish(trace_check_t *tc, trace_check_emit_fn emit, void *ctx) {
    CARBON_ASSERT(tc != NULL && emit != NULL && !tc->finished);
    tc->finished = 1;
    for (size_t i = 0; i < tc->cap && !tc->full; i++) {
        const tc_leg_t *l = &tc->slot[i];
        if (!l->live) continue;
        tc->stats.legs++;
        int paired = tc_has_log(tc, l->peer);
        const tc_leg_t *src = l->role == TC_ORIGIN ? tc_source_of(tc, l) : tc_peer_leg(tc, l, TC_SOURCE);
        if (l->role == TC_SOURCE || !paired || src == NULL) tc->stats.transfers++;
        if (!paired) {
            tc->stats.unpaired++;
            continue;
        }
        if (l->role == TC_SOURCE) tc_cross_source(tc, l);
        else if (l->role == TC_DEST) tc_cross_dest(tc, l);
        else if (l->role == TC_ORIGIN) tc_cross_origin(tc, l);
    }
    for (size_t i = 0; i < tc->oacks_n && !tc->full; i++) tc_cross_oack(tc, &tc->oacks[i]);
    CARBON_ASSERT(tc->findings_n <= TRACE_CHECK_FINDINGS_MAX);
    for (size_t i = 0; i < tc->findings_n; i++) emit(ctx, &tc->findings[i]);
    return tc->findings_n + tc->findings_lost;
}

void trace_check_stats(const trace_check_t *tc, trace_check_stats_t *out) {
    CARBON_ASSERT(tc != NULL && out != NULL);
    *out = tc->stats;
}
