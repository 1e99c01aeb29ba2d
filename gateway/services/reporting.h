/* reporting.h - Operations.Report and Audit.Report: the yearly report of
 * this region (settlement/year_report.h), read from its audit log. */
#ifndef GATEWAY_REPORTING_H
#define GATEWAY_REPORTING_H

#include "gateway/server.h"

/* Reads the region's audit log up to the end of the requested year and
 * answers its ReportResponse. Refuses INVALID_ARGUMENT (BAD_YEAR) a year
 * outside 2000..2999, RESOURCE_EXHAUSTED (REPORT_TOO_LARGE) past a limit,
 * UNAVAILABLE (STORE_UNAVAILABLE) when the store does not answer. */
void ops_report(server_call_t *call, const ProtobufCMessage *request);

#endif
