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
