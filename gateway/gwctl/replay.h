/* replay.h - the replay part of gwctl audit verify: rebuilds a region's
 * ledger from its whole audit log (Audit.ReadLog) and compares it with its
 * store (Audit.ReadState), naming every difference (settlement/replay.h). */
#ifndef GATEWAY_GWCTL_REPLAY_H
#define GATEWAY_GWCTL_REPLAY_H

#include "gateway/gwctl/targets.h"
#include "settlement/audit.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define GWCTL_REPLAY_ATTEMPTS 5 /* reads of the state while the log moves */

/* Replays region's log read from target home (< f->n) and compares it with
 * the store. Without json: one line per difference on stdout ("KIND OWNER
 * ...: log says X, store says Y"), then a summary line. With json (an
 * object): sets its member "replay" (entries, records, differences) and
 * prints nothing on stdout. Returns the number of differences (0: the store
 * is what the log says), or -1 when the target could not be read (marked
 * unread in f, named on stderr) or the state kept moving. */
long gwctl_replay_verify(gwctl_fed_t *f, size_t home, const char *region, json_t *json);

/* Where gwctl_log_read puts what it reads: each entry, parsed, in seq order
 * (entry), or the seq of one missing or not a carbon-audit/3 entry and why
 * (unreadable). */
typedef struct {
    void (*entry)(void *ctx, const audit_entry_t *e);
    void (*unreadable)(void *ctx, uint64_t seq, const char *why);
    void *ctx;
} gwctl_log_sink_t;

/* Reads entries 1..*log_size of target home's log (Audit.ReadLog, pages of
 * 1000) into sink; *log_size 0: up to the head the first page names (set
 * then; an empty log reads nothing). Entries are parsed by the one parser,
 * audit_entry_parse. 0, or the exit code of a failed call (after printing
 * it). */
int gwctl_log_read(gwctl_fed_t *f, size_t home, uint64_t *log_size, const gwctl_log_sink_t *sink);

#endif
