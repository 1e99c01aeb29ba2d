/* fuzz_hello.c - Federation.Hello: unpack, then federation_hello
 * (gateway/services/federation.c) at each region, called by each of its peers, and
 * the answer it builds. */
#include "tests/fuzz/fuzz_common.h"

#include "gateway/arena.h"

#include <string.h>

#define FEDERATION_PROTOCOL_VERSION 1 /* gateway/services/federation.c */

static void hello_at(const Carbon__V1__HelloRequest *req, const char *own, const char *caller) {
    if (strcmp(caller, req->region) != 0) return;                           /* REGION_MISMATCH */
    if (req->protocol_version != FEDERATION_PROTOCOL_VERSION) return;       /* PROTOCOL_VERSION */
    const catalog_t *current[CATALOG_SET_REGIONS_MAX];
    size_t n = catalog_set_snapshot(fuzz_catalogs(), current, CATALOG_SET_REGIONS_MAX);
    if (n > CATALOG_SET_REGIONS_MAX) n = CATALOG_SET_REGIONS_MAX;
    arena_t a = {0};
    Carbon__V1__HelloResponse resp = CARBON__V1__HELLO_RESPONSE__INIT;
    resp.protocol_version = FEDERATION_PROTOCOL_VERSION;
    resp.region = (char *)own;
    resp.catalog_digests = arena_alloc(&a, n * sizeof *resp.catalog_digests);
    for (size_t i = 0; i < n; i++)
        resp.catalog_digests[resp.n_catalog_digests++] = arena_strdup(&a, current[i]->digest_hex);
    Carbon__V1__HelloResponse *copy = (Carbon__V1__HelloResponse *)fuzz_roundtrip(&resp.base);
    FUZZ_CHECK(copy->n_catalog_digests == FUZZ_REGIONS_N, "%zu digests", copy->n_catalog_digests);
    for (size_t i = 0; i < copy->n_catalog_digests; i++)
        FUZZ_CHECK(strlen(copy->catalog_digests[i]) == CATALOG_DIGEST_HEX_LEN, "digest %zu", i);
    protobuf_c_message_free_unpacked(&copy->base, NULL);
    arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Carbon__V1__HelloRequest *req =
        (Carbon__V1__HelloRequest *)fuzz_unpack(&carbon__v1__hello_request__descriptor, data, size);
    if (req == NULL) return 0;
    for (int r = 0; r < FUZZ_REGIONS_N; r++)
        for (int c = 0; c < FUZZ_REGIONS_N; c++)
            if (c != r) hello_at(req, fuzz_regions[r], fuzz_regions[c]);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return 0;
}
