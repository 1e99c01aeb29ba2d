/* test_year_report.c - the yearly report from audit entries
 * (settlement/year_report.h): the year's bounds in China Standard Time, the
 * log cut by sequence at the first entry of the next year, holdings at the
 * end of the year, actions of the year only. */
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "settlement/year_report.h"

/* 2026-01-01T00:00:00+08:00 and 2027-01-01T00:00:00+08:00, in ms. */
#define Y2026_MS 1767196800000ULL
#define Y2027_MS 1798732800000ULL

/* Feeds one entry at time_ms: ids "a,b", blocks "o|m|v|f|l,..." ("" none),
 * details NULL-terminated. Returns year_report_entry's answer. */
static int feed(year_report_t *r, uint64_t seq, uint64_t time_ms, const char *event, const char *ids,
                const char *blocks, ...) {
    audit_entry_t e;
    memset(&e, 0, sizeof e);
    e.seq = seq;
    e.time_ms = time_ms;
    snprintf(e.event, sizeof e.event, "%s", event);
    char copy[256], *ptrs[4], *save = NULL;
    snprintf(copy, sizeof copy, "%s", ids);
    for (char *t = strtok_r(copy, ",", &save); t != NULL && e.ids_n < 4; t = strtok_r(NULL, ",", &save))
        ptrs[e.ids_n++] = t;
    e.ids = ptrs;
    cr_assert_eq(ledger_blocks_parse(blocks, 16, &e.blocks, &e.blocks_n), 0, "%s", blocks);
    va_list ap;
    va_start(ap, blocks);
    for (const char *d = va_arg(ap, const char *); d != NULL && e.detail_n < 4; d = va_arg(ap, const char *)) {
        e.detail_text[e.detail_n] = d;
        e.detail_len[e.detail_n++] = strlen(d);
    }
    va_end(ap);
    int rc = year_report_entry(r, &e);
    free(e.blocks);
    return rc;
}

/* Grams of the row of section with origin and peer ("" any), 0 if none. */
static uint64_t grams(year_report_t *r, const char *section, const char *origin, const char *peer) {
    size_t n = 0;
    const year_report_row_t *rows = year_report_rows(r, &n);
    uint64_t g = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(year_report_section_name(rows[i].section), section) == 0 &&
            strcmp(rows[i].origin, origin) == 0 && (peer[0] == '\0' || strcmp(rows[i].peer, peer) == 0))
            g += rows[i].amount_g;
    return g;
}

Test(year_report, the_year_is_the_calendar_year_in_china_standard_time) {
    cr_assert_eq(year_report_year_start_ms(2026), Y2026_MS);
    cr_assert_eq(year_report_year_start_ms(2027), Y2027_MS);
    cr_assert_eq(year_report_year_start_ms(2000), 946656000000ULL); /* 1999-12-31T16:00Z */
}

Test(year_report, holdings_at_the_end_and_only_the_years_actions) {
    year_report_t *r = year_report_new("CN-TJ", 2026);
    /* 2025: an account, 1000 g issued, 100 g sent to BJ (before the year). */
    cr_assert_eq(feed(r, 1, Y2026_MS - 5000, "open", "a", "", "person", NULL), 0);
    cr_assert_eq(feed(r, 2, Y2026_MS - 4000, "issue", "i1,a", "CN-TJ|TJ-GT-01|2025|1|1000", "fp", NULL), 0);
    cr_assert_eq(feed(r, 3, Y2026_MS - 3000, "hold", "t1,a,CN-BJ/b", "CN-TJ|TJ-GT-01|2025|1|100", NULL), 0);
    cr_assert_eq(feed(r, 4, Y2026_MS - 1, "commit", "t1,a", "CN-TJ|TJ-GT-01|2025|1|100", NULL), 0);
    /* 2026: 200 g sent to HE, 50 g retired, 30 g of BJ's credited from BJ
     * (plus 10 g cancelled as its discount); one entry stamped a little
     * early by a slow clock still counts: the cut is by sequence. */
    cr_assert_eq(feed(r, 5, Y2026_MS, "hold", "t2,a,CN-HE/c", "CN-TJ|TJ-GT-01|2025|101|300", NULL), 0);
    cr_assert_eq(feed(r, 6, Y2026_MS - 10, "commit", "t2,a", "CN-TJ|TJ-GT-01|2025|101|300", NULL), 0);
    cr_assert_eq(feed(r, 7, Y2026_MS + 10, "retire", "r1,a", "CN-TJ|TJ-GT-01|2025|301|350",
                      "compliance_offset", "天津市某某有限公司", NULL), 0);
    cr_assert_eq(feed(r, 8, Y2026_MS + 20, "prepare", "t3,a,CN-BJ/b", "CN-BJ|BJ-EL-01|2026|1|40", "CN-BJ", "1",
                      "30", NULL), 0);
    cr_assert_eq(feed(r, 9, Y2026_MS + 30, "apply", "t3,a", "CN-BJ|BJ-EL-01|2026|1|30", "CN-BJ", NULL), 0);
    cr_assert_eq(feed(r, 10, Y2026_MS + 30, "cancel", "t3,a", "CN-BJ|BJ-EL-01|2026|31|40", "CN-BJ", NULL), 0);
    /* BJ reports that 20 g of the serials TJ sent it were retired there, and
     * 5 g cancelled as a discount (the origin's map: use-reported) */
    cr_assert_eq(feed(r, 11, Y2026_MS + 35, "use-reported", "rid-1,CN-BJ", "CN-TJ|TJ-GT-01|2025|1|20",
                      "retired", "compliance_offset", NULL), 0);
    cr_assert_eq(feed(r, 12, Y2026_MS + 36, "use-reported", "tid-1,CN-BJ", "CN-TJ|TJ-GT-01|2025|21|25",
                      "cancelled", "", NULL), 0);
    /* 2027: the first entry of the next year ends the report; later ones are not read. */
    cr_assert_eq(feed(r, 13, Y2027_MS, "retire", "r2,a", "CN-TJ|TJ-GT-01|2025|351|400", "x", "y", NULL), 1);
    cr_assert_eq(feed(r, 14, Y2026_MS + 40, "retire", "r3,a", "CN-TJ|TJ-GT-01|2025|401|450", "x", "y", NULL), 1);
    cr_assert_eq(year_report_finish(r), 0);

    cr_assert_eq(year_report_entries(r), 12);
    cr_assert_eq(year_report_log_findings(r), 0);
    cr_assert_eq(grams(r, "issued", "CN-TJ", ""), 0, "issued in 2025, not in 2026");
    cr_assert_eq(grams(r, "out", "CN-TJ", "CN-BJ"), 0, "sent in 2025");
    cr_assert_eq(grams(r, "out", "CN-TJ", "CN-HE"), 200);
    cr_assert_eq(grams(r, "retired", "CN-TJ", ""), 50);
    cr_assert_eq(grams(r, "in", "CN-BJ", "CN-BJ"), 30);
    cr_assert_eq(grams(r, "cancelled", "CN-BJ", "CN-BJ"), 10);
    cr_assert_eq(grams(r, "holding", "CN-TJ", ""), 1000 - 100 - 200 - 50, "r2 and r3 are 2027's");
    cr_assert_eq(grams(r, "holding", "CN-BJ", ""), 30);
    cr_assert_eq(grams(r, "used-abroad", "CN-TJ", "CN-BJ"), 25);
    size_t n = 0;
    const year_report_row_t *rows = year_report_rows(r, &n);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (rows[i].section != YEAR_REPORT_RETIRED) continue;
        cr_assert_str_eq(rows[i].purpose, "compliance_offset");
        cr_assert_str_eq(rows[i].beneficiary, "天津市某某有限公司");
        cr_assert_eq(rows[i].count, 1);
        seen++;
    }
    cr_assert_eq(seen, 1);
    for (size_t i = 0; i < n; i++)
        if (rows[i].section == YEAR_REPORT_OUT) cr_assert(rows[i].first_transfer, "TJ's own serials leaving");
    year_report_free(r);
}

Test(year_report, a_log_that_contradicts_itself_is_counted) {
    year_report_t *r = year_report_new("CN-TJ", 2026);
    cr_assert_eq(feed(r, 1, Y2026_MS, "commit", "t9,a", "CN-TJ|TJ-GT-01|2025|1|10", NULL), 0);
    year_report_unreadable(r, 2, "malformed");
    cr_assert_eq(year_report_finish(r), 0);
    cr_assert_eq(year_report_log_findings(r), 2);
    year_report_free(r);
}
