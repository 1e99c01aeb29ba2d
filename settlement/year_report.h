/* year_report.h - a region's yearly report (issue 18 part 3) computed from
 * its audit log: holdings at the end of the year, and the year's actions
 * (issuances, transfers out and in with first transfers marked, retirements
 * by purpose and beneficiary, recognition-discount cancellations, heuristic
 * corrections). The layout of an Article 6.2 "agreed electronic format"
 * report: holdings by origin, methodology and vintage; actions with the
 * counterpart region and purpose.
 *
 * The year is the calendar year in China Standard Time (UTC+8, no daylight
 * saving): year Y is [Y-01-01T00:00+08:00, (Y+1)-01-01T00:00+08:00). The log
 * is cut by sequence, not sorted by time (gateways' clocks may differ): the
 * year's actions are the entries from the first one stamped at or after the
 * start up to (not including) the first one stamped at or after the end;
 * the holdings are the ledger replayed (settlement/replay.h) up to that same
 * last entry. So the holdings at the end of Y-1, plus Y's actions, are Y's
 * holdings, to the gram.
 *
 * Amounts are grams of serials (integers). Limits: YEAR_REPORT_ROWS_MAX rows;
 * past it the report stops adding and year_report_entry returns -1. Not
 * thread-safe; no recursion. */
#ifndef SETTLEMENT_YEAR_REPORT_H
#define SETTLEMENT_YEAR_REPORT_H

#include "settlement/audit.h"
#include "settlement/ledger.h"

#include <stddef.h>
#include <stdint.h>

#define YEAR_REPORT_ROWS_MAX 65536
#define YEAR_REPORT_YEAR_MIN 2000
#define YEAR_REPORT_YEAR_MAX 2999
#define YEAR_REPORT_UTC_OFFSET_MS (8LL * 3600 * 1000) /* China Standard Time */
#define YEAR_REPORT_PURPOSE_MAX 31

typedef enum {
    YEAR_REPORT_HOLDING,   /* in accounts at the end of the year */
    YEAR_REPORT_HELD,      /* in holds of outgoing transfers not decided at the end */
    YEAR_REPORT_PENDING,   /* incoming, prepared and not decided at the end */
    YEAR_REPORT_ISSUED,    /* issued in the year */
    YEAR_REPORT_OUT,       /* left for peer (committed export) in the year */
    YEAR_REPORT_IN,        /* credited from peer in the year */
    YEAR_REPORT_CANCELLED, /* cancelled here as a recognition discount of a transfer from peer */
    YEAR_REPORT_RETIRED,   /* retired here in the year, by purpose and beneficiary */
    YEAR_REPORT_HEURISTIC, /* moved by an operator's heuristic decision being settled (purpose: outcome) */
    YEAR_REPORT_USED_ABROAD, /* this region's own serials retired or cancelled at peer in the year, as
                                peer reported them to this origin's map (purpose: the retirement's
                                purpose, or "cancelled"): what a corresponding adjustment needs */
    YEAR_REPORT_SECTIONS_N
} year_report_section_t;

typedef struct {
    year_report_section_t section;
    char origin[LEDGER_REGION_MAX + 1];
    char meth[LEDGER_METH_MAX + 1];
    uint32_t vintage;
    char peer[LEDGER_REGION_MAX + 1];        /* out: destination; in, cancelled, heuristic: source;
                                                used-abroad: where they were used */
    char purpose[YEAR_REPORT_PURPOSE_MAX + 1]; /* retired: purpose; heuristic: outcome */
    char beneficiary[LEDGER_TEXT_MAX + 1];   /* retired */
    int first_transfer;                      /* out/in: the serials' origin is the sending region */
    uint64_t amount_g;
    uint64_t count;                          /* entries (issuances, transfers, ...) adding to it */
    uint64_t last_seq;                       /* the newest entry counted (count once per entry) */
} year_report_row_t;

typedef struct year_report year_report_t;

/* "holding", "held", ... for s < YEAR_REPORT_SECTIONS_N. */
const char *year_report_section_name(year_report_section_t s);

/* The first ms of year (UTC+8) since the epoch; year in
 * YEAR_REPORT_YEAR_MIN..YEAR_REPORT_YEAR_MAX. */
uint64_t year_report_year_start_ms(uint32_t year);

/* A new report of region home for year (in the range above). Never NULL
 * (aborts on out of memory). */
year_report_t *year_report_new(const char *home, uint32_t year);
void year_report_free(year_report_t *r);

/* Feeds entry e, the next in seq order. 0; 1 when e is the first entry past
 * the year (e is not used; the report is complete: stop reading); -1 when a
 * limit was reached (the report is incomplete: say so, do not use it). */
int year_report_entry(year_report_t *r, const audit_entry_t *e);

/* Notes that entry seq could not be read or parsed: a log finding. */
void year_report_unreadable(year_report_t *r, uint64_t seq, const char *why);

/* Adds the holdings at the end of the year (call once, after the last
 * entry). 0, or -1 when a limit was reached. */
int year_report_finish(year_report_t *r);

/* The rows, sorted by section, then origin, methodology, vintage, peer,
 * purpose, beneficiary (valid until year_report_free). */
const year_report_row_t *year_report_rows(year_report_t *r, size_t *n);

/* Entries read, and inconsistencies of the log found by the replay (each
 * means the holdings may be wrong; the report says how many). */
uint64_t year_report_entries(const year_report_t *r);
size_t year_report_log_findings(year_report_t *r);

#endif
