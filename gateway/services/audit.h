/* audit.h - carbon.v1.Audit (Trace, ReadLog, GetCheckpoint). GetCheckpoint
 * answers this region's newest checkpoint with the cosignature lines its
 * peers returned, and, per peer, the newest checkpoint of that peer this
 * region cosigned (settlement/witness.h; the checkpointer that makes and
 * sends them is services/checkpointer.h). */
#ifndef GATEWAY_AUDIT_SERVICE_H
#define GATEWAY_AUDIT_SERVICE_H

#include "gateway/app.h"
#include "gateway/server.h"

void audit_trace(server_call_t *call, const ProtobufCMessage *request);
void audit_read_log(server_call_t *call, const ProtobufCMessage *request);
void audit_get_checkpoint(server_call_t *call, const ProtobufCMessage *request);
/* PROOF(old_size, new_size) from the stored tree: INVALID_ARGUMENT
 * (OUT_OF_RANGE) unless 1 <= old_size <= new_size <= the tree's size. */
void audit_get_consistency_proof(server_call_t *call, const ProtobufCMessage *request);

/* One page of the region's ledger as records with the log size at the same
 * instant (settlement/state_read.h; docs/audit-log.md §2.2). */
void audit_read_state(server_call_t *call, const ProtobufCMessage *request);

#endif
