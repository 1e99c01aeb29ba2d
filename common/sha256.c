/* sha256.c - SHA-256 fetched once (sha256.h). */
#include "common/sha256.h"

#include "common/carbon_assert.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdatomic.h>

/* Kept for the life of the process once fetched (reachable from here, so
 * no leak); a failed fetch is not kept: the next call tries again. */
static _Atomic(EVP_MD *) sha256_fetched;

const EVP_MD *sha256_md(void) {
    EVP_MD *md = atomic_load(&sha256_fetched);
    if (md != NULL) return md;
    EVP_MD *got = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (got == NULL) {
        ERR_clear_error(); /* this thread's queue: the caller reports the failure */
        return NULL;
    }
    EVP_MD *none = NULL;
    if (atomic_compare_exchange_strong(&sha256_fetched, &none, got)) return got;
    EVP_MD_free(got); /* another thread's fetch came first: keep that one */
    return none;
}

int sha256_digest(const void *bytes, size_t len, uint8_t out[SHA256_BYTES]) {
    CARBON_ASSERT(out != NULL && (bytes != NULL || len == 0));
    const EVP_MD *md = sha256_md();
    unsigned int out_len = 0;
    if (md == NULL || EVP_Digest(len > 0 ? bytes : "", len, out, &out_len, md, NULL) != 1) return -1;
    CARBON_ASSERT(out_len == SHA256_BYTES);
    return 0;
}
