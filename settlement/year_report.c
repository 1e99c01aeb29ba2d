/* year_report.c - a region's yearly report from its audit log
 * (year_report.h). The holdings come from a replay of the log
 * (settlement/replay.h); the actions from the year's entries, summed into
 * rows found by an open-addressing index on the row's key. */
#include "settlement/year_report.h"
#include "common/carbon_assert.h"
#include "settlement/replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define YR_INDEX_CAP (2 * YEAR_REPORT_ROWS_MAX) /* a power of two, twice the rows */

struct year_report {
    char home[LEDGER_REGION_MAX + 1];
    uint64_t start_ms, end_ms;
    int in_year, past_year, full, sorted;
    uint64_t entries;
    replay_t *replay;
    year_report_row_t *rows;
    size_t rows_n;
    uint32_t *index; /* row number + 1, 0: empty */
};

static const char *const yr_section_names[YEAR_REPORT_SECTIONS_N] = {
    "holding", "held", "pending", "issued", "out", "in", "cancelled", "retired", "heuristic", "used-abroad"};

const char *year_report_section_name(year_report_section_t s) {
    CARBON_ASSERT(s < YEAR_REPORT_SECTIONS_N);
    return yr_section_names[s];
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (H. Hinnant's days_from_civil), integers only. */
static int64_t yr_days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

uint64_t year_report_year_start_ms(uint32_t year) {
    CARBON_ASSERT(year >= YEAR_REPORT_YEAR_MIN && year <= YEAR_REPORT_YEAR_MAX);
    int64_t ms = yr_days_from_civil(year, 1, 1) * 86400000LL - YEAR_REPORT_UTC_OFFSET_MS;
    CARBON_ASSERT(ms > 0);
    return (uint64_t)ms;
}

year_report_t *year_report_new(const char *home, uint32_t year) {
    CARBON_ASSERT(home != NULL && strlen(home) <= LEDGER_REGION_MAX);
    year_report_t *r = calloc(1, sizeof *r);
    CARBON_ASSERT(r != NULL);
    snprintf(r->home, sizeof r->home, "%s", home);
    r->start_ms = year_report_year_start_ms(year);
    r->end_ms = year_report_year_start_ms(year + 1);
    r->replay = replay_new();
    r->index = calloc(YR_INDEX_CAP, sizeof *r->index);
    CARBON_ASSERT(r->index != NULL);
    return r;
}

void year_report_free(year_report_t *r) {
    if (r == NULL) return;
    replay_free(r->replay);
    free(r->rows);
    free(r->index);
    free(r);
}

static uint64_t yr_hash(const year_report_row_t *k) {
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)k->section ^ ((uint64_t)k->vintage << 8) ^
                 ((uint64_t)k->first_transfer << 40);
    const char *parts[] = {k->origin, k->meth, k->peer, k->purpose, k->beneficiary};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        for (const unsigned char *p = (const unsigned char *)parts[i]; *p != '\0'; p++)
            h = (h ^ *p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL; /* a separator: "ab","c" is not "a","bc" */
    }
    return h;
}

static int yr_same(const year_report_row_t *a, const year_report_row_t *b) {
    return a->section == b->section && a->vintage == b->vintage && a->first_transfer == b->first_transfer &&
           strcmp(a->origin, b->origin) == 0 && strcmp(a->meth, b->meth) == 0 &&
           strcmp(a->peer, b->peer) == 0 && strcmp(a->purpose, b->purpose) == 0 &&
           strcmp(a->beneficiary, b->beneficiary) == 0;
}

/* The row with key k's key fields, made (amount 0) if new; NULL at the limit. */
static year_report_row_t *yr_row(year_report_t *r, const year_report_row_t *k) {
    CARBON_ASSERT(!r->sorted && r->rows_n <= YEAR_REPORT_ROWS_MAX);
    size_t i = (size_t)yr_hash(k) & (YR_INDEX_CAP - 1);
    for (; r->index[i] != 0; i = (i + 1) & (YR_INDEX_CAP - 1))
        if (yr_same(&r->rows[r->index[i] - 1], k)) return &r->rows[r->index[i] - 1];
    if (r->rows_n == YEAR_REPORT_ROWS_MAX) {
        r->full = 1;
        return NULL;
    }
    if (r->rows == NULL) {
        r->rows = calloc(YEAR_REPORT_ROWS_MAX, sizeof *r->rows);
        CARBON_ASSERT(r->rows != NULL);
    }
    year_report_row_t *row = &r->rows[r->rows_n++];
    *row = *k;
    row->amount_g = row->count = row->last_seq = 0;
    r->index[i] = (uint32_t)r->rows_n;
    return row;
}

/* Adds block b of entry seq to the row of section and the key fields given. */
static void yr_add(year_report_t *r, year_report_section_t section, const ledger_block_t *b, const char *peer,
                   const char *purpose, const char *beneficiary, uint64_t seq) {
    CARBON_ASSERT(b != NULL && b->last >= b->first && b->last - b->first < LEDGER_AMOUNT_G_MAX);
    year_report_row_t k = {.section = section, .vintage = b->vintage};
    snprintf(k.origin, sizeof k.origin, "%s", b->origin);
    snprintf(k.meth, sizeof k.meth, "%s", b->meth);
    snprintf(k.peer, sizeof k.peer, "%s", peer != NULL ? peer : "");
    snprintf(k.purpose, sizeof k.purpose, "%s", purpose != NULL ? purpose : "");
    snprintf(k.beneficiary, sizeof k.beneficiary, "%s", beneficiary != NULL ? beneficiary : "");
    k.first_transfer = (section == YEAR_REPORT_OUT && strcmp(b->origin, r->home) == 0) ||
                       (section == YEAR_REPORT_IN && peer != NULL && strcmp(b->origin, peer) == 0);
    year_report_row_t *row = yr_row(r, &k);
    if (row == NULL) return;
    row->amount_g += b->last - b->first + 1;
    if (row->last_seq != seq || seq == 0) row->count++;
    row->last_seq = seq;
}

/* Detail i of e as text into out (truncated to fit), "" if absent. */
static void yr_detail(const audit_entry_t *e, size_t i, char *out, size_t out_size) {
    CARBON_ASSERT(out != NULL && out_size > 0);
    out[0] = '\0';
    if (i >= e->detail_n) return;
    size_t n = e->detail_len[i] < out_size - 1 ? e->detail_len[i] : out_size - 1;
    memcpy(out, e->detail_text[i], n);
    out[n] = '\0';
}

/* The region of a "REGION/ID" text into out. */
static void yr_region_of(const char *region_id, char out[LEDGER_REGION_MAX + 1]) {
    const char *slash = strchr(region_id, '/');
    size_t n = slash != NULL ? (size_t)(slash - region_id) : strlen(region_id);
    if (n > LEDGER_REGION_MAX) n = LEDGER_REGION_MAX;
    memcpy(out, region_id, n);
    out[n] = '\0';
}

static void yr_add_all(year_report_t *r, year_report_section_t section, const audit_entry_t *e, const char *peer,
                       const char *purpose, const char *beneficiary, size_t from, size_t to) {
    for (size_t i = from; i < to && i < e->blocks_n; i++)
        yr_add(r, section, &e->blocks[i], peer, purpose, beneficiary, e->seq);
}

/* The year's action that entry e (already replayed) records, if any. */
static void yr_action(year_report_t *r, const audit_entry_t *e) {
    char peer[LEDGER_REGION_MAX + 1] = "", purpose[YEAR_REPORT_PURPOSE_MAX + 1] = "";
    char beneficiary[LEDGER_TEXT_MAX + 1] = "";
    if (strcmp(e->event, "issue") == 0) {
        yr_add_all(r, YEAR_REPORT_ISSUED, e, NULL, NULL, NULL, 0, e->blocks_n);
    } else if (strcmp(e->event, "retire") == 0) {
        yr_detail(e, 0, purpose, sizeof purpose);
        yr_detail(e, 1, beneficiary, sizeof beneficiary);
        yr_add_all(r, YEAR_REPORT_RETIRED, e, NULL, purpose, beneficiary, 0, e->blocks_n);
    } else if (strcmp(e->event, "commit") == 0 && e->ids_n >= 1) {
        replay_record_t ex;
        if (replay_log_find(r->replay, REPLAY_EXPORTED, e->ids[0], &ex)) yr_region_of(ex.b, peer);
        yr_add_all(r, YEAR_REPORT_OUT, e, peer, NULL, NULL, 0, e->blocks_n);
    } else if (strcmp(e->event, "apply") == 0 || strcmp(e->event, "cancel") == 0) {
        yr_detail(e, 0, peer, sizeof peer);
        yr_add_all(r, e->event[0] == 'a' ? YEAR_REPORT_IN : YEAR_REPORT_CANCELLED, e, peer, NULL, NULL, 0,
                   e->blocks_n);
    } else if (strcmp(e->event, "use-reported") == 0 && e->ids_n >= 2) {
        /* ids: report id, reporter; details: kind, purpose (use_report_apply.lua) */
        yr_region_of(e->ids[1], peer);
        yr_detail(e, 0, purpose, sizeof purpose);
        if (strcmp(purpose, "retired") == 0) yr_detail(e, 1, purpose, sizeof purpose);
        yr_add_all(r, YEAR_REPORT_USED_ABROAD, e, peer, purpose, NULL, 0, e->blocks_n);
    } else if (strcmp(e->event, "heuristic") == 0) {
        yr_detail(e, 0, peer, sizeof peer);
        yr_detail(e, 1, purpose, sizeof purpose);
        yr_add_all(r, YEAR_REPORT_HEURISTIC, e, peer, purpose, NULL, 0, e->blocks_n);
    }
}

int year_report_entry(year_report_t *r, const audit_entry_t *e) {
    CARBON_ASSERT(r != NULL && e != NULL && !r->sorted);
    if (r->past_year) return 1;
    if (e->time_ms >= r->end_ms) {
        r->past_year = 1;
        return 1;
    }
    if (e->time_ms >= r->start_ms) r->in_year = 1;
    r->entries++;
    replay_entry(r->replay, e);
    if (r->in_year) yr_action(r, e);
    return r->full ? -1 : 0;
}

void year_report_unreadable(year_report_t *r, uint64_t seq, const char *why) {
    CARBON_ASSERT(r != NULL && why != NULL);
    replay_entry_unreadable(r->replay, seq, why);
}

static void yr_holding(void *ctx, const replay_record_t *rec) {
    year_report_t *r = ctx;
    year_report_section_t s = rec->kind == REPLAY_ACCOUNT ? YEAR_REPORT_HOLDING
                              : rec->kind == REPLAY_HOLD  ? YEAR_REPORT_HELD
                              : rec->kind == REPLAY_PENDING ? YEAR_REPORT_PENDING
                                                            : YEAR_REPORT_SECTIONS_N;
    if (s == YEAR_REPORT_SECTIONS_N) return;
    for (size_t i = 0; i < rec->blocks_n; i++) yr_add(r, s, &rec->blocks[i], NULL, NULL, NULL, 0);
}

int year_report_finish(year_report_t *r) {
    CARBON_ASSERT(r != NULL && !r->sorted);
    replay_log_each(r->replay, yr_holding, r);
    return r->full ? -1 : 0;
}

static int yr_cmp(const void *x, const void *y) {
    const year_report_row_t *a = x, *b = y;
    int c;
    if (a->section != b->section) return a->section < b->section ? -1 : 1;
    if ((c = strcmp(a->origin, b->origin)) != 0) return c;
    if ((c = strcmp(a->meth, b->meth)) != 0) return c;
    if (a->vintage != b->vintage) return a->vintage < b->vintage ? -1 : 1;
    if ((c = strcmp(a->peer, b->peer)) != 0) return c;
    if ((c = strcmp(a->purpose, b->purpose)) != 0) return c;
    if ((c = strcmp(a->beneficiary, b->beneficiary)) != 0) return c;
    return a->first_transfer - b->first_transfer;
}

const year_report_row_t *year_report_rows(year_report_t *r, size_t *n) {
    CARBON_ASSERT(r != NULL && n != NULL);
    if (!r->sorted && r->rows_n > 0) qsort(r->rows, r->rows_n, sizeof *r->rows, yr_cmp);
    r->sorted = 1;
    *n = r->rows_n;
    return r->rows;
}

uint64_t year_report_entries(const year_report_t *r) {
    CARBON_ASSERT(r != NULL);
    return r->entries;
}

size_t year_report_log_findings(year_report_t *r) {
    CARBON_ASSERT(r != NULL);
    return replay_log_findings(r->replay);
}
