/* bank_ops.h - an operator's calls for the bank test (tests/fault/test_bank.c):
 * carbon.v1.Operations ListInDoubt, ResolveInDoubt (forced and compensating)
 * and Reconcile over a channel presenting the region's operator certificate,
 * and one series of a gateway's Prometheus metrics. Blocking; thread-safe as
 * client_call is. */
#ifndef TESTS_FAULT_BANK_OPS_H
#define TESTS_FAULT_BANK_OPS_H

#include "carbon/v1/carbon.pb-c.h"
#include "gateway/rpc/client.h"

#include <stddef.h>
#include <stdint.h>

#define BANK_OPS_CALL_MS 10000
#define BANK_OPS_LIST_MAX 1000 /* ListInDoubt's own maximum */

/* One leg listed by ListInDoubt, flattened. */
typedef struct {
    char tid[33];
    char role[16];          /* "source" / "destination" */
    char state[24];         /* HELD, COMMITTED, ABORTED, PREPARED, HEURISTIC_MIXED */
    char peer[16];          /* the other region: the destination of a source leg, the source of a destination leg */
    char heuristic[8];      /* "", "COMMIT", "ABORT" */
    char heuristic_outcome[16];
    char account[40];       /* this region's account of the leg (the ID of "REGION/ID") */
    char methodology[32];   /* the origin methodology of its first block */
} bank_indoubt_t;

/* ListInDoubt (limit BANK_OPS_LIST_MAX) at ch, whose region is region.
 * Returns the number of legs written to out (at most cap), or -1 with st set. */
int bank_list_in_doubt(grpc_channel *ch, const char *region, bank_indoubt_t *out, size_t cap,
                       client_status_t *st);

/* ResolveInDoubt{tid, decision (CARBON__V1__DECISION__...), reason, compensate}.
 * Returns the status code (st filled). */
grpc_status_code bank_resolve(grpc_channel *ch, const char *tid, Carbon__V1__Decision decision,
                              int compensate, const char *reason, client_status_t *st);

/* Reconcile with peer_region over every batch: 1 if a discrepancy names tid
 * with field "heuristic", 0 if none does, -1 if the call failed (st). */
int bank_reconcile_names(grpc_channel *ch, const char *peer_region, const char *tid,
                         client_status_t *st);

/* ListForks (unacknowledged only) at ch: the number of fork alarms, or -1
 * (st). */
int bank_forks(grpc_channel *ch, client_status_t *st);

/* The metrics port a gateway logged last ("metrics_listening" ... "port": N)
 * in log_path, 0 if none. */
int bank_metrics_port(const char *log_path);

/* The value of an unlabelled series at 127.0.0.1:port/metrics, or -1. */
long long bank_metric(int port, const char *series);

#endif
