/* pbconv.h - conversion between carbon.v1 protobuf messages and the plain
 * structs of settlement/ (the edge of DESIGN §3: gateway/ turns messages into
 * structs and back). Messages built here live in the given arena. */
#ifndef GATEWAY_PBCONV_H
#define GATEWAY_PBCONV_H

#include "adapters/catalog.h"
#include "carbon/v1/carbon.pb-c.h"
#include "gateway/arena.h"
#include "settlement/ledger.h"

Carbon__V1__CreditBlock *pbconv_block(arena_t *a, const ledger_block_t *b);

/* grams expressed in catalog c's display unit (c NULL: plain grams). */
Carbon__V1__Amount *pbconv_amount(arena_t *a, uint64_t grams, const catalog_t *c);

/* A leg as the wire carries it, from the source's record (own_region is the
 * source). */
Carbon__V1__Leg *pbconv_leg(arena_t *a, const ledger_leg_t *leg, const char *own_region);

/* Reads a wire leg arriving at the destination own_region into out (blocks
 * malloc'd: ledger_leg_free). Returns 0, or -1 with the reason in err when
 * it is malformed: bad transfer id, account names, blocks, or amounts that
 * do not add up. */
int pbconv_leg_in(const Carbon__V1__Leg *in, const char *own_region, ledger_leg_t *out, char *err,
                  size_t errlen);

/* Reads wire blocks into a malloc'd array (caller frees); -1 if malformed. */
int pbconv_blocks_in(Carbon__V1__CreditBlock *const *in, size_t n, ledger_block_t **out,
                     char *err, size_t errlen);

/* A decision letter (TRANSFER_DECISION_COMMIT, _ABORT, _UNKNOWN) on the wire:
 * COMMIT, ABORT, or UNKNOWN for any other letter. */
Carbon__V1__Decision pbconv_decision(char letter);

/* A wire decision as a letter: COMMIT and ABORT as such, anything else
 * (UNKNOWN, unspecified, a value this version does not know) as
 * TRANSFER_DECISION_UNKNOWN. */
char pbconv_decision_in(Carbon__V1__Decision d);

/* The n decisions of a Decide into d[0..n) (tids borrowed from the
 * request): each needs a 32-hex transfer id and COMMIT or ABORT, and each
 * id may appear once (as a Prepare's legs). Returns n when all are good;
 * else the index of the first bad one, with *why set (d is then partly
 * filled). */
size_t pbconv_decisions_in(Carbon__V1__LegDecision *const *decisions, size_t n,
                           ledger_dest_decision_t *d, const char **why);

#endif
