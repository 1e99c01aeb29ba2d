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

#define TLS_PEM_BYTES_MAX (256u * 1024u) /* largest certificate/key file read */

/* Reads and checks cert, key (must match cert) and CA. Returns server
 * credentials that require and verify a client certificate, check it against
 * the hashed CRLs in crl_dir, and serve only TLS; NULL with "PATH: reason" in
 * err. The caller owns the result (grpc_server_credentials_release). */
grpc_server_credentials *tls_server_credentials(const char *cert_path, const char *key_path,
                                                const char *ca_path, const char *crl_dir,
                                                char *err, size_t errlen);

/* Client credentials presenting cert/key and trusting ca. cert_path and
 * key_path may both be NULL (no client certificate: used by tests to show
 * that the server refuses). NULL with "PATH: reason" in err. Caller owns it. */
grpc_channel_credentials *tls_channel_credentials(const char *cert_path, const char *key_path,
                                                  const char *ca_path, char *err, size_t errlen);

/* Reads a whole text file (at most TLS_PEM_BYTES_MAX) into a malloc'd,
 * NUL-terminated buffer the caller frees. NULL with "PATH: reason" in err. */
char *tls_read_file(const char *path, char *err, size_t errlen);

#endif
