/* grpc_log.h - gRPC's own log messages as JSON lines of the gateway's log
 * (log.h), so that stderr carries nothing but JSON lines.
 *
 * Each gRPC message becomes an event "grpc" at the matching level (gRPC's
 * DEBUG, INFO, ERROR -> debug, info, error) with the fields "grpc_file",
 * "grpc_line" and "message" (cut at GRPC_LOG_MESSAGE_MAX bytes).
 *
 * A TLS handshake that gRPC fails is recognized by gRPC's one message for it
 * (ssl_transport_security.cc: "Handshake failed with fatal error ...") and
 * logged instead as "tls_handshake_refused" (warn) with "verify_error" when
 * the certificate verification failed (OpenSSL's text for the code gRPC logs
 * just before, e.g. "unable to get local issuer certificate" for another CA,
 * "certificate has expired"), and "reason", gRPC's text:
 * "certificate verify failed" for a client certificate from an unknown CA or
 * expired, "peer did not return a certificate", "wrong version number" for a
 * client not speaking TLS; "... alert ..." when the other side refused ours
 * (a connection of this gateway to a peer). gRPC 1.51 names no remote address
 * in any message about a failed handshake (not even at GRPC_VERBOSITY=DEBUG),
 * so the event has none. A certificate refused by the gateway's own verifier
 * (revoked, wrong identity) is logged by tls.h's events instead. */
#ifndef GATEWAY_GRPC_LOG_H
#define GATEWAY_GRPC_LOG_H

#define GRPC_LOG_MESSAGE_MAX 2048 /* bytes of one gRPC message kept */

/* Installs the routing (gpr_set_log_function). Call once, before
 * grpc_init(), from main. */
void grpc_log_route(void);

/* Routes one gRPC message (what the installed function does; for tests).
 * severity is a gpr_log_severity value; file and message may be NULL. */
void grpc_log_one(const char *file, int line, int severity, const char *message);

#endif
