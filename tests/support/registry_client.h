/* registry_client.h - test-side calls of carbon.v1.Registry and the
 * conservation checker over a harness federation. Each call returns the gRPC
 * status and fills st; responses are freed by the caller with
 * protobuf_c_message_free_unpacked. */
#ifndef TESTS_SUPPORT_REGISTRY_CLIENT_H
#define TESTS_SUPPORT_REGISTRY_CLIENT_H

#include "carbon/v1/carbon.pb-c.h"
#include "gateway/rpc/client.h"
#include "settlement/checker.h"
#include "tests/support/gateway_harness.h"

#include <stdint.h>

#define RC_TIMEOUT_MS 20000

/* A fresh request id: 32 lowercase hex digits, unique within the process. */
void rc_new_id(char out[33]);

grpc_status_code rc_open(grpc_channel *ch, const char *id, client_status_t *st);
grpc_status_code rc_issue(grpc_channel *ch, const char *iid, const char *acct, const char *meth,
                          uint64_t quantity_milli, const char *fingerprint,
                          Carbon__V1__IssueResponse **out, client_status_t *st);
grpc_status_code rc_quote(grpc_channel *ch, const char *from, const char *to_region,
                          const char *meth, uint64_t amount_units, Carbon__V1__QuoteResponse **out,
                          client_status_t *st);
grpc_status_code rc_transfer(grpc_channel *ch, const char *tid, const char *from,
                             const char *to_region, const char *to, const char *meth,
                             uint64_t amount_units, Carbon__V1__TransferResponse **out,
                             client_status_t *st);
grpc_status_code rc_get_transfer(grpc_channel *ch, const char *tid,
                                 Carbon__V1__GetTransferResponse **out, client_status_t *st);
grpc_status_code rc_account(grpc_channel *ch, const char *id, Carbon__V1__GetAccountResponse **out,
                            client_status_t *st);
grpc_status_code rc_retire(grpc_channel *ch, const char *rid, const char *acct, const char *meth,
                           uint64_t amount_units, Carbon__V1__RetireResponse **out,
                           client_status_t *st);

/* The registry channel of instance i: federation_channel with the
 * certificate "<region of i>-registry". Asserts (criterion) that it opens. */
grpc_channel *rc_registry(federation_t *f, int i);

/* Fills leg (a Carbon__V1__Leg) for a Prepare sent by hand: transfer tid
 * from from_account to to_account ("REGION/ID"), blocks[0..n_blocks) at
 * quote's terms, expiring at expiry_ms. Every pointer is borrowed. */
void rc_leg_init(Carbon__V1__Leg *leg, const char *tid, const char *from_account, const char *to_account,
                 Carbon__V1__CreditBlock **blocks, size_t n_blocks, const Carbon__V1__TransferQuote *quote,
                 uint64_t expiry_ms);

/* Sends the Prepare of one leg to the gateway behind ch in the name of
 * source_region (ch presents that region's gateway certificate). Returns
 * the call's status; on OK, *vote gets the leg's vote and reason (reasonlen
 * bytes, NUL-terminated) its reason. */
grpc_status_code rc_prepare(grpc_channel *ch, const char *source_region, Carbon__V1__Leg *leg,
                            Carbon__V1__Vote *vote, char *reason, size_t reasonlen, client_status_t *st);

/* Sends the Decide of one leg (commit 1: COMMIT, 0: ABORT) to the gateway
 * behind ch in the name of source_region. Returns the call's status; on OK
 * *applied gets what the destination acknowledged it holds. */
grpc_status_code rc_decide(grpc_channel *ch, const char *source_region, const char *tid, int commit,
                           Carbon__V1__Decision *applied, client_status_t *st);

/* The Prepare of source_region's pending transfer rec (tid, from_account to
 * to_account, "REGION/ID"), sent by hand to instance dest in
 * source_region's name (its gateway certificate), the leg expiring
 * expiry_in_ms from now. Asserts (criterion) that dest votes YES. */
void rc_prepare_record(federation_t *f, int dest, const char *source_region, const char *tid,
                       const char *from_account, const char *to_account, const Carbon__V1__TransferRecord *rec,
                       uint64_t expiry_in_ms);

/* Waits until the destination (channel ch) shows transfer tid as an arrival
 * that is COMMITTED: a Transfer answers once the decision is durable at the
 * source, and the destination applies it a moment later. 0, or -1 on timeout. */
int rc_wait_arrival(grpc_channel *ch, const char *tid, int timeout_ms);

/* Total grams of an account, or UINT64_MAX if it cannot be read. */
uint64_t rc_total_g(grpc_channel *ch, const char *id);
/* Grams of an account's balance of one origin methodology (all vintages). */
uint64_t rc_balance_g(grpc_channel *ch, const char *id, const char *meth);

/* Runs the conservation checker over the federation's regions' stores.
 * Returns a malloc'd report (caller frees), or NULL if a store is unreadable.
 * Prints the report on stderr when it has violations. */
checker_report_t *rc_check(federation_t *f, int settled_required);

/* Waits until the checker finds every leg settled and no violation, at most
 * timeout_ms. Returns the last report (caller frees). */
checker_report_t *rc_wait_settled(federation_t *f, int timeout_ms);

#endif
