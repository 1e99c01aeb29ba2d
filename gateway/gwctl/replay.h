/* replay.h - the replay part of gwctl audit verify: rebuilds a region's
 * ledger from its whole audit log (Audit.ReadLog) and compares it with its
 * store (Audit.ReadState), naming every difference (settlement/replay.h). */
#ifndef GATEWAY_GWCTL_REPLAY_H
#define GATEWAY_GWCTL_REPLAY_H

#include "gateway/gwctl/targets.h"

#include <jansson.h>
#include <stddef.h>

#define GWCTL_REPLAY_ATTEMPTS 5 /* reads of the state while the log moves */

/* Replays region's log read from target home (< f->n) and compares it with
 * the store. Without json: one line per difference on stdout ("KIND OWNER
 * ...: log says X, store says Y"), then a summary line. With json (an
 * object): sets its member "replay" (entries, records, differences) and
 * prints nothing on stdout. Returns the number of differences (0: the store
 * is what the log says), or -1 when the target could not be read (marked
 * unread in f, named on stderr) or the state kept moving. */
long gwctl_replay_verify(gwctl_fed_t *f, size_t home, const char *region, json_t *json);

#endif
