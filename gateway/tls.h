/* tls.h - mutual-TLS credentials for the gateway's server and its clients.
 *
 * Files are PEM. Before handing them to gRPC they are checked with OpenSSL so
 * that a bad file is a one-line error naming it (gRPC itself would only fail
 * the handshake later). Private key text is wiped from memory after use. */
#ifndef GATEWAY_TLS_H
#define GATEWAY_TLS_H

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <stddef.h>


/* ---- reloadable server credentials (SIGHUP) ----------------------------------
 *
 * gRPC 1.51 cannot swap the credentials of a running grpc_server (the port is
 * bound with them), so the reload happens inside them:
 *  - certificate, key and CA: tls_server_create/tls_server_reload read and
 *    check the files (cert parses and has not expired, key matches it, CA
 *    parses), then publish their text in memory (memfd) where gRPC's
 *    file-watcher certificate provider reads it every TLS_REFRESH_INTERVAL_S
 *    seconds: new handshakes use the new identity and trust bundle within that
 *    interval. Nothing is written to disk and a bad file is never handed to
 *    gRPC: the previous certificate/key (or CA) stays in use. Key and chain
 *    share one memfd, replaced with one dup3; gRPC opens it twice (key, then
 *    chain), so a reload landing between those two reads can give it a
 *    mismatched pair, which fails new handshakes until its next read (at most
 *    one interval later).
 *  - revocation: an external certificate verifier, run by gRPC after its own
 *    chain verification (which stays on: an unknown CA or an expired
 *    certificate fails the handshake before the verifier runs), refuses a peer
 *    whose certificate (or a certificate of its chain) is listed in the CRL of
 *    its issuer. The CRLs are every *.r<N>, *.crl and *.pem file in crl_dir,
 *    each of which must verify against a CA of the CA file; the newest CRL per
 *    CA is used; an expired one refuses that CA's certificates (as OpenSSL
 *    does); a CA without a CRL is not checked. The set is replaced at once on
 *    reload, or, if any file is unreadable or does not verify, not at all.
 *    gRPC's own crl_directory check stays on as well (it sees CRL changes only
 *    when it rebuilds its TLS context, e.g. after a certificate change).
 * Established connections and calls are never torn down: the checks apply to
 * new handshakes. Reloads and refusals are logged as JSON lines (log.h). */

#define TLS_REFRESH_INTERVAL_S 1u            /* gRPC re-reads the published files */
#define TLS_CRL_BYTES_MAX (16u * 1024u * 1024u) /* largest CRL file read */

typedef struct tls_server tls_server_t;

/* Loads and checks everything as described above and builds the server
 * credentials (client certificate required and verified, TLS only). NULL
 * with "PATH: reason" in err (a bad CRL file included). Logs "tls_loaded". */
tls_server_t *tls_server_create(const char *cert_path, const char *key_path, const char *ca_path,
                                const char *crl_dir, char *err, size_t errlen);

/* The credentials for grpc_server_add_http2_port; owned by t. */
grpc_server_credentials *tls_server_creds(const tls_server_t *t);

/* Re-reads certificate+key, CA and the CRLs from the same paths. Each part
 * that fails keeps its previous state; the others are replaced. Returns 0 if
 * every part loaded, -1 with the reasons in err. Logs one line per call:
 * "tls_reloaded" (info) or "tls_reload_failed" (error), with counts. Call
 * from one thread at a time; handshakes may run meanwhile. */
int tls_server_reload(tls_server_t *t, char *err, size_t errlen);

/* Client credentials for the channel to the peer gateway of peer_region.
 * They present the certificate and key t publishes and trust its CA, read by
 * the same gRPC file watcher as the server's: a reload (tls_server_reload) reaches
 * new connections to peers within TLS_REFRESH_INTERVAL_S, as it reaches the
 * server's new handshakes; established connections are kept. The peer's
 * certificate must chain to the CA, not be revoked (t's CRL set, reloaded
 * with it), name the address it is reached at (gRPC's host-name check), and
 * carry exactly one SPIFFE ID, of role gateway and region peer_region in
 * trust_domain; a refusal is logged as "peer_identity_refused" or
 * "peer_revoked". NULL with a reason in err. Caller releases them
 * (grpc_channel_credentials_release) before destroying t; channels made with
 * them hold their own reference. */
grpc_channel_credentials *tls_server_peer_credentials(const tls_server_t *t,
                                                      const char *trust_domain,
                                                      const char *peer_region, char *err,
                                                      size_t errlen);

/* Releases the credentials (after the server using them is destroyed). */
void tls_server_destroy(tls_server_t *t);

#endif
