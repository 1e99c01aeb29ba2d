/* reporting.c - Operations.Report / Audit.Report (reporting.h). */
#include "gateway/services/reporting.h"

#include "carbon/v1/carbon.pb-c.h"
#include "common/carbon_assert.h"
#include "gateway/app.h"
#include "gateway/arena.h"
#include "settlement/audit.h"
#include "settlement/year_report.h"

#include <stdlib.h>
#include <string.h>

/* Entries one report may read: about 1 µs each, so a worker is busy for at
 * most about a minute. */
#define REPORT_ENTRIES_MAX 50000000ULL
#define REPORT_READ_CHUNK 5000
CARBON_STATIC_ASSERT(REPORT_READ_CHUNK <= AUDIT_READ_MAX, "one read is at most AUDIT_READ_MAX entries");

/* Feeds the log to r up to the end of its year. 0; 1 after refusing the call. */
static int report_read_log(server_call_t *call, store_t *st, year_report_t *r) {
    uint64_t size = 0;
    char err[256] = "";
    if (audit_log_size(st, &size, err, sizeof err) != 0) {
        server_refuse(call, REASON_STORE_UNAVAILABLE, "%s", err);
        return 1;
    }
    for (uint64_t from = 1; from <= size; from += REPORT_READ_CHUNK) {
        if (from > REPORT_ENTRIES_MAX) {
            server_refuse(call, REASON_REPORT_TOO_LARGE, "the log has more than %llu entries before the year's end",
                          (unsigned long long)REPORT_ENTRIES_MAX);
            return 1;
        }
        audit_entry_t *es = NULL;
        size_t n = 0;
        /* no further than size: entries appended while the read goes on
         * (in steps, audit_stored.h) would come after a gap */
        size_t chunk = size - from + 1 < REPORT_READ_CHUNK ? (size_t)(size - from + 1) : REPORT_READ_CHUNK;
        if (audit_read(st, from, chunk, &es, &n, err, sizeof err) != 0) {
            server_refuse(call, REASON_STORE_UNAVAILABLE, "%s", err);
            return 1;
        }
        int done = 0;
        for (size_t i = 0; i < n && done == 0; i++) {
            if (strcmp(es[i].event, "malformed") == 0) year_report_unreadable(r, es[i].seq, "malformed entry");
            else done = year_report_entry(r, &es[i]);
        }
        for (size_t i = 0; i < n; i++) audit_entry_free(&es[i]);
        free(es);
        if (done < 0) {
            server_refuse(call, REASON_REPORT_TOO_LARGE, "more than %d rows", YEAR_REPORT_ROWS_MAX);
            return 1;
        }
        if (done > 0) break;
    }
    return 0;
}

static Carbon__V1__ReportRow *report_pb_row(arena_t *a, const year_report_row_t *row) {
    Carbon__V1__ReportRow *m = arena_alloc(a, sizeof *m);
    carbon__v1__report_row__init(m);
    m->section = (char *)year_report_section_name(row->section);
    m->origin = arena_strdup(a, row->origin);
    m->methodology_id = arena_strdup(a, row->meth);
    m->vintage_year = row->vintage;
    m->peer_region = arena_strdup(a, row->peer);
    m->purpose = arena_strdup(a, row->purpose);
    m->beneficiary = arena_strdup(a, row->beneficiary);
    m->first_transfer = row->first_transfer != 0;
    m->amount_g = row->amount_g;
    m->count = row->count;
    return m;
}

void ops_report(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__ReportRequest *req = (const Carbon__V1__ReportRequest *)request;
    struct gateway *gw = server_call_app(call);
    if (req->year < YEAR_REPORT_YEAR_MIN || req->year > YEAR_REPORT_YEAR_MAX) {
        server_refuse(call, REASON_BAD_YEAR, "year must be %d..%d (it is %u)", YEAR_REPORT_YEAR_MIN,
                      YEAR_REPORT_YEAR_MAX, req->year);
        return;
    }
    store_t *st = gateway_call_store(call);
    if (st == NULL) return;
    year_report_t *r = year_report_new(gw->cfg.region, req->year);
    int refused = report_read_log(call, st, r);
    if (!refused && year_report_finish(r) != 0) {
        server_refuse(call, REASON_REPORT_TOO_LARGE, "more than %d rows", YEAR_REPORT_ROWS_MAX);
        refused = 1;
    }
    if (refused) {
        year_report_free(r);
        return;
    }
    size_t n = 0;
    const year_report_row_t *rows = year_report_rows(r, &n);
    arena_t a = {0};
    Carbon__V1__ReportResponse resp = CARBON__V1__REPORT_RESPONSE__INIT;
    resp.region = gw->cfg.region;
    resp.year = req->year;
    resp.period_start_unix_ms = year_report_year_start_ms(req->year);
    resp.period_end_unix_ms = year_report_year_start_ms(req->year + 1);
    resp.entries_read = year_report_entries(r);
    resp.log_findings = year_report_log_findings(r);
    resp.rows = arena_alloc(&a, (n > 0 ? n : 1) * sizeof *resp.rows);
    for (size_t i = 0; i < n; i++) resp.rows[resp.n_rows++] = report_pb_row(&a, &rows[i]);
    server_reply_ok(call, &resp.base);
    arena_free(&a);
    year_report_free(r);
}
