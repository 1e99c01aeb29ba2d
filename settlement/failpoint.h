/* failpoint.h - crash points for the fault tests.
 *
 * The crash tests must kill a real gatewayd at an exact step of the protocol
 * (after holding, after Prepare, after deciding, after voting). A failpoint
 * is a named place in the code; when the environment variable
 * CARBON_FAILPOINT is "REGION:NAME" for this process's region and this
 * failpoint, the process kills itself with SIGKILL there, as a crash would.
 * Unset (always, in production) it costs one pointer comparison. */
#ifndef SETTLEMENT_FAILPOINT_H
#define SETTLEMENT_FAILPOINT_H

#include <stdbool.h>
#include <stddef.h>

/* Reads CARBON_FAILPOINT once; region is this process's region. */
void failpoint_init(const char *region);

/* SIGKILLs the process if name is the armed failpoint. */
void failpoint_hit(const char *name);

/* A pause point for the tests (a thread of a gateway paused at an exact
 * step, e.g. a lease holder that stalls past its lease):
 * CARBON_FAILPOINT_PAUSE is "REGION:NAME:MS" (MS 1..FAILPOINT_PAUSE_MS_MAX),
 * or several separated by commas (no spaces), at most FAILPOINT_PAUSES_MAX
 * per region, honoured only with CARBON_TEST_HOOKS=1, read by
 * failpoint_init; a thread that reaches failpoint_pause(NAME) in that
 * region's gateway sleeps MS milliseconds there, each time (logged
 * "failpoint_pause" with the name). An entry of the region that is
 * malformed, or one too many, is logged "failpoint_pause_ignored" and left
 * out. Unset: nothing. */
#define FAILPOINT_PAUSE_MS_MAX 60000
#define FAILPOINT_PAUSES_MAX 4
void failpoint_pause(const char *name);
/* A trip point for the tests, armed through the same list: an entry
 * "REGION:NAME:N" of CARBON_FAILPOINT_PAUSE (with CARBON_TEST_HOOKS=1)
 * makes failpoint_trip(NAME) answer true the first N times it is reached
 * (logged "failpoint_trip"), then false; a name is either a pause point or
 * a trip point. Unset: false. Thread-safe. */
bool failpoint_trip(const char *name);

/* A skewed wall clock for the fault tests (clocks that disagree between
 * regions). CARBON_TEST_CLOCK_OFFSET_MS is "REGION:MS[,REGION:MS]..." with MS
 * a signed integer, |MS| <= FAILPOINT_CLOCK_OFFSET_MS_MAX; this process's
 * region's entry shifts ledger_now_ms(), the only wall clock of the value
 * path. It is a test hook: honoured only when CARBON_TEST_HOOKS is "1" too.
 * Unset: returns 0 and the offset stays 0. Set without CARBON_TEST_HOOKS=1,
 * or malformed: returns -1 with err (gatewayd refuses to start). Call once,
 * before any thread reads the clock. */
#define FAILPOINT_CLOCK_OFFSET_MS_MAX 60000
int failpoint_clock_init(const char *region, char *err, size_t errlen);

/* The offset set by failpoint_clock_init (0 unless a test asked for one). */
long long failpoint_clock_offset_ms(void);

#endif
