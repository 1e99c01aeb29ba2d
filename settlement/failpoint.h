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

/* Reads CARBON_FAILPOINT once; region is this process's region. */
void failpoint_init(const char *region);

/* SIGKILLs the process if name is the armed failpoint. */
void failpoint_hit(const char *name);

#endif
