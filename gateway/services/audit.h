/* audit.h - carbon.v1.Audit (Trace, ReadLog, GetCheckpoint) and the
 * checkpointer that signs the chain head and gives it to the peers (their
 * Federation.ShareCheckpoint, federation.c, keeps it). */
#ifndef GATEWAY_AUDIT_SERVICE_H
#define GATEWAY_AUDIT_SERVICE_H

#include "gateway/app.h"
#include "gateway/server.h"

void audit_trace(server_call_t *call, const ProtobufCMessage *request);
void audit_read_log(server_call_t *call, const ProtobufCMessage *request);
void audit_get_checkpoint(server_call_t *call, const ProtobufCMessage *request);
/* One page of the region's ledger as records with the log size at the same
 * instant (settlement/state_read.h; docs/audit-log.md §2.2). */
void audit_read_state(server_call_t *call, const ProtobufCMessage *request);

/* Loads the signing key and the peers' public keys from the configuration.
 * 0, or -1 with "PATH: reason" in err. */
int audit_service_init(struct gateway *gw, char *err, size_t errlen);

/* Starts / stops the checkpointer thread (no-op without a signing key). */
int audit_checkpointer_start(struct gateway *gw, char *err, size_t errlen);
void audit_checkpointer_stop(struct gateway *gw);
void audit_service_fini(struct gateway *gw);

#endif
