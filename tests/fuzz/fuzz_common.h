/* fuzz_common.h - shared by the libFuzzer targets of tests/fuzz.
 *
 * Each request target unpacks its input with protobuf-c exactly as
 * gateway/server.c does, then runs the request through the same validation
 * path as its handler in gateway/services/registry.c or
 * gateway/services/federation.c, up to the point where the
 * handler would call the store: the gateway/validate.h checks, pbconv_leg_in,
 * quote_compute / quote_check_leg over the shipped catalogs, adapters/convert.h.
 * What the handler would hand to settlement/ (ledger_issue_t, ledger_leg_t,
 * ...) is then checked against its contract (FUZZ_CHECK): any violation, and
 * any crash, leak or undefined behaviour, is a finding.
 *
 * Every request is tried as seen by each of the three regions (CN-TJ, CN-BJ,
 * CN-HE, each with the two others as peers, as the harness configures them),
 * so one input exercises every catalog.
 *
 * Nothing here talks to a store or to gRPC. */
#ifndef TESTS_FUZZ_FUZZ_COMMON_H
#define TESTS_FUZZ_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "adapters/catalog_set.h"
#include "carbon/v1/carbon.pb-c.h"

#define FUZZ_REGIONS_N 3
/* gatewayd's defaults (gateway/config.c), which the harness keeps. */
#define FUZZ_BATCH_LEGS_MAX 256u
#define FUZZ_MAX_MESSAGE_BYTES (1u << 20)

extern const char *const fuzz_regions[FUZZ_REGIONS_N];

/* The shipped catalogs (adapters/catalogs, or $FUZZ_CATALOG_DIR), loaded on
 * first use and kept for the process. Aborts if they do not load. */
catalog_set_t *fuzz_catalogs(void);

/* 1 if region is a configured peer of own (one of the other two regions). */
int fuzz_is_peer(const char *own, const char *region);

/* A finding: prints where and why, then aborts (libFuzzer saves the input). */
#define FUZZ_CHECK(cond, ...)                                                            \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "\nFUZZ_CHECK failed at %s:%d: %s\n  ", __FILE__, __LINE__, \
                    #cond);                                                              \
            fprintf(stderr, __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                         \
            abort();                                                                     \
        }                                                                                \
    } while (0)

/* The handlers copy validated strings into fixed-size fields with snprintf;
 * for a validated request that must never truncate. */
#define FUZZ_COPY(field, ...)                                                            \
    do {                                                                                 \
        int fuzz_n_ = snprintf((field), sizeof(field), __VA_ARGS__);                     \
        FUZZ_CHECK(fuzz_n_ >= 0 && (size_t)fuzz_n_ < sizeof(field),                      \
                   "a validated value does not fit %s (%d bytes)", #field, fuzz_n_);     \
    } while (0)

/* 1 if s is NUL-terminated within cap bytes. */
int fuzz_terminated(const char *s, size_t cap);

/* gateway/server.c's unpack: NULL when the bytes are not a valid message
 * (MALFORMED) or longer than the server's limit (RESOURCE_EXHAUSTED). */
ProtobufCMessage *fuzz_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                              size_t size);

/* Packs m and unpacks it again with its own descriptor; the copy must
 * unpack (a response the gateway builds must be readable by its client).
 * Returns the copy (protobuf_c_message_free_unpacked). */
ProtobufCMessage *fuzz_roundtrip(const ProtobufCMessage *m);

/* The length of registry.c's canonical request text (registry_request_fp):
 * it asserts the text fits 1024 bytes. Checks it here. */
void fuzz_check_request_fp(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A validated free text (settlement/textfield.h) encodes into one field that
 * decodes to the same bytes. */
void fuzz_check_text_field(const char *text);

#endif

/* ---- shared validation paths --------------------------------------------------- */

#include "settlement/ledger.h"
#include "settlement/quote.h"

/* gateway/services/registry.c registry_quote() for a registry of region own: 0 with
 * *q when the handler would go on (after checking the quote's contract:
 * DESIGN §7 identities, under 2^50 g, and that the destination's
 * quote_check_leg accepts exactly these numbers), -1 when it refuses. */
int fuzz_registry_quote(const char *own, const char *to_region, const char *meth,
                        uint64_t amount_units, quote_t *q);

/* The destination's verdict on a leg that pbconv_leg_in accepted at own from
 * source (gateway/services/federation.c federation_prepare): quote_check_leg's reason
 * or NULL. When it is NULL, checks what acceptance implies: the numbers are
 * exactly conv_quote(debited_g) under the rule the digests name. */
const char *fuzz_dest_verdict(const char *own, const char *source, const ledger_leg_t *leg);

/* Checks a ledger_leg_t that pbconv_leg_in produced at own: terminated
 * strings, bounded blocks, amounts that add up, the account names' parts. */
void fuzz_check_leg_in(const ledger_leg_t *leg, const char *own);
