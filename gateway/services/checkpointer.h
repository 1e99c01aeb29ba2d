/* checkpointer.h - the log side of witnessing (DESIGN §8, docs/audit-log.md
 * §4): a thread that, every checkpoint_interval_ms, signs a checkpoint of
 * this region's audit log (tlog-checkpoint body, origin
 * jjj.carbon/REGION/audit, as a signed note by the region's audit key) when
 * the tree has grown, keeps it (settlement/witness.h, WITNESS_OWN_KEPT), and
 * sends the newest to every peer (Federation.AddCheckpoint) with a
 * consistency proof from the size that peer last cosigned, until the peer
 * cosigns it; each cosignature line is verified against the peer's pinned
 * key (jjj.carbon/PEER/witness) before it is kept with the checkpoint. It
 * also refreshes the fork alarm's metric (services/witnessing.h).
 *
 * The keys: [audit] signing_key (the region's Ed25519 key; without it the
 * gateway neither signs nor cosigns) and [audit_keys] PEER = PEM of each
 * peer's public key, required for every peer. */
#ifndef GATEWAY_CHECKPOINTER_H
#define GATEWAY_CHECKPOINTER_H

#include "gateway/app.h"

#include <stddef.h>

#define CHECKPOINTER_TRIES 3 /* AddCheckpoint calls per peer and interval (OLD_SIZE_MISMATCH) */

/* Loads the signing key and every peer's pinned key (their log and witness
 * vkeys). 0, or -1 with "PATH: reason" (or the peer without a key) in err. */
int checkpointer_init(struct gateway *gw, char *err, size_t errlen);

/* Starts / stops the thread (no-op without a signing key). */
int checkpointer_start(struct gateway *gw, char *err, size_t errlen);
void checkpointer_stop(struct gateway *gw);

/* Stops the thread and frees the keys. */
void checkpointer_fini(struct gateway *gw);

#endif
