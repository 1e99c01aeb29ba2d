/* witnessing.h - this gateway as the witness of its peers' audit logs
 * (DESIGN §8, docs/audit-log.md §4): Federation.AddCheckpoint, and the fork
 * alarm: Operations.ListForks and Operations.AcknowledgeFork, the metric
 * carbon_audit_forks_unacknowledged{region} and the `error` log event
 * audit_fork. The log side (this region's checkpoints sent to its peers) is
 * services/checkpointer.c. */
#ifndef GATEWAY_WITNESSING_H
#define GATEWAY_WITNESSING_H

#include "gateway/app.h"
#include "gateway/server.h"

/* A peer region's checkpoint (signed note) with a consistency proof from
 * the size this witness last cosigned for it: refused with a status and a
 * reason (the store unchanged, but for the evidence of a fork), or answered
 * OLD_SIZE_MISMATCH, or stored (compare-and-set, never going back) and
 * cosigned (tlog-cosignature/v1 by jjj.carbon/SELF/witness). */
void federation_add_checkpoint(server_call_t *call, const ProtobufCMessage *request);

/* The fork records (unacknowledged only unless include_acknowledged). */
void ops_list_forks(server_call_t *call, const ProtobufCMessage *request);

/* Acknowledges a fork record with the operator's reason (10..512 bytes of
 * UTF-8): who, when and why are recorded, the evidence stays, the alarm of
 * its region goes down when none is left; an ack-fork entry in the log. */
void ops_acknowledge_fork(server_call_t *call, const ProtobufCMessage *request);

/* Sets the metric carbon_audit_forks_unacknowledged of every peer from the
 * store st (the checkpointer calls it each interval, so that every gateway
 * of the region shows a fork another one detected). 0, or -1 on a store error. */
int witnessing_refresh_alarm(struct gateway *gw, store_t *st);

#endif
