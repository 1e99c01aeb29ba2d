/* tls_client.h - files, PEM checks and client credentials for mutual TLS,
 * shared by gatewayd (peer channels, server identity) and gwctl. */
#ifndef GATEWAY_RPC_TLS_CLIENT_H
#define GATEWAY_RPC_TLS_CLIENT_H

#include <grpc/grpc_security.h>
#include <openssl/x509.h>
#include <stddef.h>

/* The largest PEM file read (certificate chain, key, CA bundle). */
#define TLS_PEM_BYTES_MAX (256u * 1024u)

/* Reads a whole text file (at most TLS_PEM_BYTES_MAX) into a malloc'd,
 * NUL-terminated buffer the caller frees. NULL with "PATH: reason" in err. */
char *tls_read_file(const char *path, char *err, size_t errlen);

/* Wipes and frees a secret read by tls_read_file (NULL is ignored). */
void tls_free_secret(char *s);

/* Parses the first certificate of pem (read from path, named in errors).
 * NULL with "PATH: not a PEM certificate" in err; caller frees with X509_free. */
X509 *tls_parse_cert(const char *path, const char *pem, char *err, size_t errlen);

/* Checks a certificate's text (not expired) and, when key_pem is not NULL,
 * that the key is a PEM private key matching it. 1 if usable, else 0 with
 * the reason in err. */
int tls_check_pair(const char *cert_path, const char *cert_pem, const char *key_path,
                   const char *key_pem, char *err, size_t errlen);

/* The most certificates read from one PEM file (a CA bundle, a chain). */
#define TLS_BUNDLE_CERTS_MAX 64

/* Every certificate of the PEM text read from path (named in errors), at
 * most certs_max (1..TLS_BUNDLE_CERTS_MAX). NULL with "PATH: not a PEM
 * certificate" when there is none; caller frees with sk_X509_pop_free. */
STACK_OF(X509) *tls_parse_bundle(const char *path, const char *text, size_t certs_max, char *err,
                                 size_t errlen);

/* Client credentials presenting cert/key and trusting ca. cert_path and
 * key_path may both be NULL (no client certificate: used by tests to show
 * that the server refuses). NULL with "PATH: reason" in err. Caller owns it. */
grpc_channel_credentials *tls_channel_credentials(const char *cert_path, const char *key_path,
                                                  const char *ca_path, char *err, size_t errlen);

#endif
