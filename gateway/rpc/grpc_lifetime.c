/* grpc_lifetime.c - see grpc_lifetime.h. */
#include "gateway/rpc/grpc_lifetime.h"
#include "common/carbon_assert.h"

#include <grpc/grpc.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define GRPC_LIFETIME_POLL_MS 2

void grpc_lifetime_begin(void) {
    /* The first initialization decides whether OpenSSL registers its exit
     * handler; gRPC's own initialization comes after this one. */
    if (OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL) != 1) {
        fprintf(stderr, "OpenSSL could not be initialized\n");
        abort();
    }
    grpc_init();
}

int grpc_lifetime_end(int wait_ms) {
    CARBON_ASSERT(wait_ms >= 0);
    grpc_shutdown();
    /* grpc_is_initialized() takes the lock gRPC's clean-up holds while it
     * runs, so 0 here means the clean-up has finished, not merely begun. */
    const struct timespec poll = {0, GRPC_LIFETIME_POLL_MS * 1000000L};
    for (int waited_ms = 0; grpc_is_initialized(); waited_ms += GRPC_LIFETIME_POLL_MS) {
        if (waited_ms >= wait_ms) return -1;
        nanosleep(&poll, NULL);
    }
    return 0;
}
