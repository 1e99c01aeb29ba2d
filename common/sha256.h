/* sha256.h - OpenSSL's SHA-256, fetched once per process (issue 16).
 * EVP_sha256() and SHA256() look the algorithm up in OpenSSL 3's provider
 * tables on every use (EVP_MD_fetch, under locks): half of the gateway's
 * hashing of audit entries into the Merkle tree went there. Thread-safe. */
#ifndef COMMON_SHA256_H
#define COMMON_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h> /* EVP_MD, without the whole EVP API */

#define SHA256_BYTES 32

/* The SHA-256 implementation, fetched at the first call that succeeds;
 * NULL if the fetch failed (OpenSSL has none, or no memory: a later call
 * tries again). Not to be freed. */
const EVP_MD *sha256_md(void);

/* out = SHA-256(bytes[0..len)). 0, or -1 if OpenSSL failed (out is then
 * unspecified). bytes may be NULL only when len is 0. */
int sha256_digest(const void *bytes, size_t len, uint8_t out[SHA256_BYTES]);

#endif
