/* peers.h - mutual-TLS channels to the peer gateways, presenting this
 * gateway's own certificate, and the settlement engine's transport on them. */
#ifndef GATEWAY_PEERS_H
#define GATEWAY_PEERS_H

#include "carbon/v1/carbon.pb-c.h"
#include "gateway/app.h"
#include "gateway/rpc/client.h"
#include "gateway/config.h"
#include "gateway/tls.h"
#include "settlement/engine.h"

/* One channel per configured peer, with credentials that present tls's
 * identity and accept only that peer region's gateway
 * (tls_server_peer_credentials). tls must outlive the result. NULL with the
 * reason in err. */
peers_t *peers_create(const gateway_config_t *cfg, const tls_server_t *tls, char *err,
                      size_t errlen);
void peers_destroy(peers_t *p);

/* What a peer's Hello answer said of the regions it counts (theirs[0..n)),
 * told to the gateway (region_set.h) whichever Hello asked: the gateway's
 * own at start, or the engine's later one to a peer that did not answer
 * that. */
typedef void peers_regions_fn(void *app, const char *peer, char *const *theirs, size_t n);

/* Sets the function given each Hello answer's regions (NULL: none), before
 * the engine starts. */
void peers_on_regions(peers_t *p, peers_regions_fn *fn, void *app);

/* The channel to region, or NULL if it is not a peer. Borrowed. */
grpc_channel *peers_channel_of(peers_t *p, const char *region);

/* Region has just reached this gateway (its Hello): the channel to it stops
 * waiting out its reconnect backoff and connects now, and peers_call's (and
 * the transport's) calls to it in the next 2 s wait (within their deadline)
 * for that connection instead of failing at once with the error of the one
 * before, so a peer that came back is reached at once. No-op for a region
 * that is not a peer. */
void peers_reconnect_now(peers_t *p, const char *region);

/* Records the outcome of a call made to region on its channel outside the
 * transport (st NULL: it succeeded). The transport's calls and these keep one
 * state per peer, logged only when it changes: "peer_down" at the first call
 * that finds the peer unreachable (UNAVAILABLE, DEADLINE_EXCEEDED), "peer_up"
 * at the next call it answers; a call answered with another error is logged
 * "peer_call_failed" (warn). Thread-safe. */
void peers_observe(peers_t *p, const char *region, const char *path, const client_status_t *st);

/* Keeps this gateway's calls to region (peers_call and the transport) within
 * the requests_per_s region announced in its limits (from a Hello, either
 * way; NULL or 0: unknown, not paced), so that they are not refused
 * PEER_RATE_LIMITED (gateway/peer_pace.h). Logs "peer_pace" (info) when the
 * rate changes. Thread-safe. */
void peers_note_limits(peers_t *p, const char *region, const Carbon__V1__PeerLimits *limits);

/* Calls path on peer's channel with req, waiting at most timeout_ms (first,
 * within 2 s of the peer's Hello, for its channel to connect,
 * peers_reconnect_now; then for the call's slot within the peer's rate,
 * peers_note_limits); the outcome is recorded as by peers_observe. 0 with
 * *resp (free with protobuf_c_message_free_unpacked), or -1 with the reason
 * in err (not a peer, or the call failed). */
int peers_call(peers_t *p, const char *peer, const char *path, const ProtobufCMessage *req,
               const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, int64_t timeout_ms,
               char *err, size_t errlen);

/* Prepare, Decide and QueryDecision over the channels (engine.h contract),
 * their outcomes recorded as by peers_observe. */
engine_transport_t peers_transport(peers_t *p);

/* ReportUse over the channels (settlement/use_reports.h contract). */
use_reports_transport_t peers_use_reports_transport(peers_t *p);

/* This gateway's limits as it announces them in Hello (proto PeerLimits). */
void peers_limits_of(const gateway_config_t *cfg, Carbon__V1__PeerLimits *out);

#endif
