/* sha256.c - SHA-256 fetched once (sha256.h). */
#include "common/sha256.h"

#include "common/carbon_assert.h"

#include <pthread.h>

static EVP_MD *sha256_fetched;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

/* Kept for the life of the process (reachable from here, so no leak). */
static void sha256_fetch(void) { sha256_fetched = EVP_MD_fetch(NULL, "SHA256", NULL); }

const EVP_MD *sha256_md(void) {
    int rc = pthread_once(&sha256_once, sha256_fetch);
    CARBON_ASSERT(rc == 0);
    return sha256_fetched;
}

int sha256_digest(const void *bytes, size_t len, uint8_t out[SHA256_BYTES]) {
    CARBON_ASSERT(out != NULL && (bytes != NULL || len == 0));
    const EVP_MD *md = sha256_md();
    unsigned int out_len = 0;
    if (md == NULL || EVP_Digest(len > 0 ? bytes : "", len, out, &out_len, md, NULL) != 1) return -1;
    CARBON_ASSERT(out_len == SHA256_BYTES);
    return 0;
}
