/* operations.c - gwctl commands for operators (batches, reconcile, indoubt,
 * resolve) over carbon.v1.Operations. */
#include "gateway/gwctl/gwctl.h"
#include "common/carbon_assert.h"

#include "carbon/v1/carbon.pb-c.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define GWCTL_OPERATOR_NOTE \
    "The certificate must be an operator certificate of the gateway's region.\n" GWCTL_EXIT_HELP


/* ---- batches ----------------------------------------------------------------------- */

static const char batches_usage[] =
    "usage: gwctl batches --peer REGION [--incoming] [--from SEQ] [--to SEQ]\n"
    "                     [connection options]\n"
    "\n"
    "Lists the settlement batches exchanged with a peer: outgoing (this region\n"
    "coordinated; the default) or incoming, with their per-pair sequence number,\n"
    "leg count, sum of grams and digest (SHA-256 over the legs in order, as the\n"
    "legs are recorded now). A gateway answers at most 1000 batches, and fewer\n"
    "when their records outgrow one message; gwctl asks again from where it\n"
    "stopped until it has them all. --json: the first answer only (64-bit\n"
    "counters as strings); a next_from_seq other than \"0\" says to ask again\n"
    "with --from it.\n"
    "\n" GWCTL_CONN_HELP GWCTL_OPERATOR_NOTE;

#define GWCTL_BATCHES_PAGES_MAX 1000 /* answers gwctl batches asks for */

/* Over the pages of one gwctl batches: the batches printed, and where the
 * last answer said the next starts (0: none). */
static size_t batches_printed;
static uint64_t batches_next_from;

static int print_batches(const ProtobufCMessage *m) {
    const Carbon__V1__ListBatchesResponse *r = (const Carbon__V1__ListBatchesResponse *)m;
    static const gwctl_column_t cols[] = {{"SEQ", 6, 0, 0},  {"FROM", 6, 0, 0},   {"TO", 6, 0, 0},
                                          {"LEGS", 5, 0, 1}, {"SUM_G", 12, 0, 1}, {"DIGEST", 0, 16, 0}};
    const gwctl_table_t table = {cols, sizeof cols / sizeof cols[0], NULL};
    if (batches_printed == 0) gwctl_table_head(stdout, &table);
    batches_next_from = r->next_from_seq;
    batches_printed += r->n_batches;
    for (size_t i = 0; i < r->n_batches; i++) {
        const Carbon__V1__BatchRecord *b = r->batches[i];
        char seq[GWCTL_U64_TEXT], legs[GWCTL_U64_TEXT], sum[GWCTL_U64_TEXT];
        const char *cells[] = {gwctl_u64_text(seq, b->batch_seq), b->source_region, b->destination_region,
                               gwctl_u64_text(legs, b->leg_count), gwctl_u64_text(sum, b->sum_g), b->digest};
        gwctl_table_row(stdout, &table, cells);
    }
    return GWCTL_EXIT_OK;
}

int gwctl_batches(int argc, char **argv) {
    CARBON_ASSERT(argc >= 1 && argv != NULL && argv[0] != NULL);
    const char *peer = NULL, *from = "0", *to = "0";
    int incoming = 0;
    gwctl_conn_t conn;
    const gwctl_opt_t opts[] = {{"peer", 1, &peer, NULL}, {"from", 1, &from, NULL},
                                {"to", 1, &to, NULL},     {"incoming", 0, NULL, &incoming}, {0}};
    int rc = gwctl_parse(argc, argv, opts, &conn, batches_usage);
    if (rc != 0) return rc > 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_USAGE;
    uint64_t f, t;
    if (peer == NULL || gwctl_parse_u64(from, &f) != 0 || gwctl_parse_u64(to, &t) != 0) {
        fprintf(stderr, "gwctl batches: --peer is required; --from and --to are numbers\n");
        return GWCTL_EXIT_USAGE;
    }
    Carbon__V1__ListBatchesRequest req = CARBON__V1__LIST_BATCHES_REQUEST__INIT;
    req.peer_region = (char *)peer;
    req.outgoing = !incoming;
    req.from_seq = f;
    req.to_seq = t;
    const gwctl_reply_t reply = {.print = print_batches}; /* --json: the first answer only, exit 0 */
    for (int page = 0; page < GWCTL_BATCHES_PAGES_MAX; page++) {
        batches_next_from = 0;
        rc = gwctl_service_call(&conn, "Operations", "ListBatches", &req.base,
                                &carbon__v1__list_batches_response__descriptor, &reply, NULL);
        if (rc != GWCTL_EXIT_OK || conn.json) return rc;
        if (batches_next_from <= req.from_seq) { /* 0: the last answer; else after from */
            printf("%zu batches\n", batches_printed);
            return GWCTL_EXIT_OK;
        }
        req.from_seq = batches_next_from;
    }
    printf("%zu batches\n", batches_printed);
    fprintf(stderr, "gwctl batches: stopped after %d answers; go on with --from %" PRIu64 "\n",
            GWCTL_BATCHES_PAGES_MAX, req.from_seq);
    return GWCTL_EXIT_OK;
}

/* ---- reconcile ---------------------------------------------------------------------- */

static const char reconcile_usage[] =
    "usage: gwctl reconcile --peer REGION [--from SEQ] [--to SEQ] [connection options]\n"
    "\n"
    "Reconciles the batches this region sent to a peer with the peer's records of\n"
    "them, in the stages of the ITL: totals (count, sum of grams, digest; a batch\n"
    "missing on either side; a local record that no longer matches its legs),\n"
    "then legs (amounts, blocks, accounts) and the trail (each leg's outcome on\n"
    "both sides). Every discrepancy is printed with both sides' values. Run it on\n"
    "each gateway to cover both directions of a pair. A batch the peer has no\n"
    "record of whose legs were all aborted here (its Prepare was lost in a peer\n"
    "outage) moved nothing: it is counted as never delivered, not a discrepancy,\n"
    "so after recovery settles a reconcile ends with 0 discrepancies (exit 0).\n"
    "A gateway compares at most 1000 batches per call, and fewer where their\n"
    "discrepancies would outgrow one answer (its max_message_bytes); gwctl calls\n"
    "again from where it stopped until it reaches --to (0: the latest batch),\n"
    "printing each page. Discrepancies a page found and could not carry (more\n"
    "than 10,000, or more than one answer holds in one batch) are counted as\n"
    "left out. --json: one ReconcileResponse, the first page only (64-bit counters as\n"
    "strings); a next_from_seq other than \"0\" says to call again with --from it.\n"
    "\n" GWCTL_CONN_HELP GWCTL_OPERATOR_NOTE
    "reconcile: 0 no discrepancy, 1 discrepancies.\n";

/* Where the last page answered said the next one starts (0: none). */
static uint64_t reconcile_next_from;

/* Any discrepancy fails the command, with or without --json. */
static int verdict_reconcile(const ProtobufCMessage *m) {
    reconcile_next_from = ((const Carbon__V1__ReconcileResponse *)m)->next_from_seq;
    const Carbon__V1__ReconcileResponse *r = (const Carbon__V1__ReconcileResponse *)m;
    return r->n_discrepancies == 0 && r->discrepancies_left_out == 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_FINDING;
}

#define GWCTL_RECONCILE_PAGES_MAX 100000 /* of 1000 batches each */

static int print_reconcile(const ProtobufCMessage *m) {
    const Carbon__V1__ReconcileResponse *r = (const Carbon__V1__ReconcileResponse *)m;
    printf("batches compared %" PRIu64 ", legs compared %" PRIu64 ", discrepancies %zu\n",
           r->batches_compared, r->legs_compared, r->n_discrepancies);
    if (r->batches_undelivered > 0)
        printf("%" PRIu64 " of the batches never reached the peer and all their legs were aborted "
               "here (nothing moved; not a discrepancy)\n", r->batches_undelivered);
    if (r->discrepancies_left_out > 0)
        printf("%" PRIu64 " more discrepancies were found and left out: more than one answer holds\n",
               r->discrepancies_left_out);
    static const gwctl_column_t cols[] = {{"STAGE", 7, 0, 0}, {"BATCH", 6, 0, 0},  {"TRANSFER", 32, 0, 0},
                                          {"FIELD", 13, 0, 0}, {"HERE", 24, 64, 0}, {"PEER", 0, 64, 0}};
    const gwctl_table_t table = {cols, sizeof cols / sizeof cols[0], NULL};
    if (r->n_discrepancies > 0) gwctl_table_head(stdout, &table);
    for (size_t i = 0; i < r->n_discrepancies; i++) {
        const Carbon__V1__Discrepancy *d = r->discrepancies[i];
        char batch[GWCTL_U64_TEXT];
        const char *cells[] = {d->stage, gwctl_u64_text(batch, d->batch_seq),
                               d->transfer_id[0] ? d->transfer_id : "-", d->field, d->local_value,
                               d->peer_value};
        gwctl_table_row(stdout, &table, cells);
    }
    return verdict_reconcile(m);
}

int gwctl_reconcile(int argc, char **argv) {
    CARBON_ASSERT(argc >= 1 && argv != NULL && argv[0] != NULL);
    const char *peer = NULL, *from = "0", *to = "0";
    gwctl_conn_t conn;
    const gwctl_opt_t opts[] = {{"peer", 1, &peer, NULL}, {"from", 1, &from, NULL}, {"to", 1, &to, NULL}, {0}};
    int rc = gwctl_parse(argc, argv, opts, &conn, reconcile_usage);
    if (rc != 0) return rc > 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_USAGE;
    uint64_t f, t;
    if (peer == NULL || gwctl_parse_u64(from, &f) != 0 || gwctl_parse_u64(to, &t) != 0) {
        fprintf(stderr, "gwctl reconcile: --peer is required; --from and --to are numbers\n");
        return GWCTL_EXIT_USAGE;
    }
    Carbon__V1__ReconcileRequest req = CARBON__V1__RECONCILE_REQUEST__INIT;
    req.peer_region = (char *)peer;
    req.from_seq = f;
    req.to_seq = t;
    const gwctl_reply_t reply = {.print = print_reconcile, .verdict = verdict_reconcile};
    int worst = GWCTL_EXIT_OK;
    for (int page = 0; page < GWCTL_RECONCILE_PAGES_MAX; page++) {
        reconcile_next_from = 0;
        rc = gwctl_service_call(&conn, "Operations", "Reconcile", &req.base,
                                &carbon__v1__reconcile_response__descriptor, &reply, NULL);
        if (rc != GWCTL_EXIT_OK && rc != GWCTL_EXIT_FINDING) return rc;
        if (rc == GWCTL_EXIT_FINDING) worst = rc;
        if (conn.json || reconcile_next_from == 0 || reconcile_next_from <= req.from_seq) return worst;
        req.from_seq = reconcile_next_from;
    }
    fprintf(stderr, "gwctl reconcile: stopped after %d pages; go on with --from %" PRIu64 "\n",
            GWCTL_RECONCILE_PAGES_MAX, req.from_seq);
    return worst;
}

/* ---- indoubt, resolve ----------------------------------------------------------------- */

static const char indoubt_usage[] =
    "usage: gwctl indoubt [--limit N] [connection options]\n"
    "\n"
    "Lists legs waiting for a decision: prepared legs here past their expiry whose\n"
    "coordinator has not answered, held legs past expiry, and decisions a peer has\n"
    "not acknowledged yet; with their age and what is known. Also the legs an\n"
    "operator decided here (FORCED COMMIT/ABORT) whose coordinator has not answered\n"
    "yet, and every HEURISTIC_MIXED leg (the two regions hold different outcomes;\n"
    "alarmed until an operator compensates or closes it: gwctl resolve --compensate\n"
    "or --close).\n"
    "\n" GWCTL_CONN_HELP GWCTL_OPERATOR_NOTE
    "indoubt: 0 nothing in doubt, 1 legs in doubt.\n";

/* A leg in doubt fails the command, with or without --json. */
static int verdict_indoubt(const ProtobufCMessage *m) {
    return ((const Carbon__V1__ListInDoubtResponse *)m)->n_legs == 0 ? GWCTL_EXIT_OK
                                                                      : GWCTL_EXIT_FINDING;
}

static int print_indoubt(const ProtobufCMessage *m) {
    const Carbon__V1__ListInDoubtResponse *r = (const Carbon__V1__ListInDoubtResponse *)m;
    static const gwctl_column_t cols[] = {{"TRANSFER", 32, 0, 0}, {"ROLE", 11, 0, 0}, {"STATE", 15, 0, 0},
                                          {"FORCED", 6, 0, 0},    {"AGE_S", 9, 0, 1},  {"KNOWN", 0, 0, 0}};
    const gwctl_table_t table = {cols, sizeof cols / sizeof cols[0], NULL};
    gwctl_table_head(stdout, &table);
    for (size_t i = 0; i < r->n_legs; i++) {
        const Carbon__V1__InDoubtLeg *l = r->legs[i];
        char age[GWCTL_U64_TEXT];
        const char *cells[] = {l->leg != NULL ? l->leg->transfer_id : "-", l->role, l->state,
                               l->heuristic[0] != '\0' ? l->heuristic : "-",
                               gwctl_u64_text(age, l->age_ms / 1000), l->known};
        gwctl_table_row(stdout, &table, cells);
    }
    printf("%zu legs in doubt\n", r->n_legs);
    return verdict_indoubt(m);
}

int gwctl_indoubt(int argc, char **argv) {
    CARBON_ASSERT(argc >= 1 && argv != NULL && argv[0] != NULL);
    const char *limit = "0";
    gwctl_conn_t conn;
    const gwctl_opt_t opts[] = {{"limit", 1, &limit, NULL}, {0}};
    int rc = gwctl_parse(argc, argv, opts, &conn, indoubt_usage);
    if (rc != 0) return rc > 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_USAGE;
    uint64_t l;
    if (gwctl_parse_u64(limit, &l) != 0 || l > 1000) {
        fprintf(stderr, "gwctl indoubt: --limit is 0..1000\n");
        return GWCTL_EXIT_USAGE;
    }
    Carbon__V1__ListInDoubtRequest req = CARBON__V1__LIST_IN_DOUBT_REQUEST__INIT;
    req.limit = (uint32_t)l;
    const gwctl_reply_t reply = {.print = print_indoubt, .verdict = verdict_indoubt};
    return gwctl_service_call(&conn, "Operations", "ListInDoubt", &req.base,
                              &carbon__v1__list_in_doubt_response__descriptor, &reply, NULL);
}

static const char resolve_usage[] =
    "usage: gwctl resolve --transfer HEX32 --commit|--abort|--compensate|--close\n"
    "                     --reason TEXT [connection options]\n"
    "\n"
    "Forces the decision of a prepared leg at this (destination) gateway when its\n"
    "coordinator can no longer answer for it (its store was lost, or it is gone).\n"
    "Refused before the leg expires, until the coordinator has failed recovery's\n"
    "QueryDecision attempts for [limits] heuristic_after_ms (HEURISTIC_TOO_EARLY\n"
    "says how long remains), and while it answers. For a leg holding a third\n"
    "region's serials that origin is asked too: COMMIT only once it confirms it\n"
    "committed the leg (ORIGIN_NOT_CONFIRMED), ABORT not once it has\n"
    "(COORDINATOR_ANSWERS).\n"
    "A refused call changes nothing. The decision is recorded as\n"
    "heuristic: when the coordinator answers later, agreement closes the leg,\n"
    "disagreement converges on its decision where the credits are still there,\n"
    "otherwise the leg is HEURISTIC_MIXED (gwctl indoubt). The operator's identity\n"
    "and reason go into the audit trail.\n"
    "\n"
    "  --transfer HEX32  the transfer id\n"
    "  --commit|--abort  the decision to apply\n"
    "  --compensate      close a HEURISTIC_MIXED leg instead: at the source, its\n"
    "                    serials (back in the account) leave again and the source\n"
    "                    converges on COMMIT; at the destination, the leg's\n"
    "                    credited grams are cancelled from the account.\n"
    "                    Compensate at one side only\n"
    "  --close           close a leg where nothing is left to move here:\n"
    "                    an ORIGIN_DENIED leg (the source sent COMMIT, the serials'\n"
    "                    origin did not commit it): nothing was credited, so its\n"
    "                    pending credit is dropped (if a forced ABORT has not\n"
    "                    dropped it) and the leg ends ABORTED, no longer listed;\n"
    "                    or, at the source, an ABORTED HEURISTIC_MIXED leg whose\n"
    "                    destination compensated: nothing moves, it holds ABORT\n"
    "                    (--close-denied is the older name of --close)\n"
    "  --reason TEXT     why (10..512 bytes), e.g. an incident number\n" GWCTL_CONN_HELP
    GWCTL_OPERATOR_NOTE;

static int print_resolve(const ProtobufCMessage *m) {
    const Carbon__V1__ResolveInDoubtResponse *r = (const Carbon__V1__ResolveInDoubtResponse *)m;
    printf("transfer %s: %s applied\n", r->applied->transfer_id,
               r->applied->applied == CARBON__V1__DECISION__DECISION_COMMIT ? "COMMIT" : "ABORT");
    return GWCTL_EXIT_OK;
}

int gwctl_resolve(int argc, char **argv) {
    CARBON_ASSERT(argc >= 1 && argv != NULL && argv[0] != NULL);
    const char *tid = NULL, *reason = NULL;
    int commit = 0, abort_ = 0, compensate = 0, close_ = 0;
    gwctl_conn_t conn;
    const gwctl_opt_t opts[] = {{"transfer", 1, &tid, NULL},     {"reason", 1, &reason, NULL},
                                {"commit", 0, NULL, &commit},    {"abort", 0, NULL, &abort_},
                                {"compensate", 0, NULL, &compensate},
                                {"close", 0, NULL, &close_},
                                {"close-denied", 0, NULL, &close_}, {0}};
    int rc = gwctl_parse(argc, argv, opts, &conn, resolve_usage);
    if (rc != 0) return rc > 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_USAGE;
    if (tid == NULL || reason == NULL || commit + abort_ + compensate + close_ != 1) {
        fprintf(stderr, "gwctl resolve: --transfer, --reason and one of --commit, --abort, --compensate, "
                        "--close are required\n");
        return GWCTL_EXIT_USAGE;
    }
    Carbon__V1__ResolveInDoubtRequest req = CARBON__V1__RESOLVE_IN_DOUBT_REQUEST__INIT;
    req.transfer_id = (char *)tid;
    req.decision = commit || compensate ? CARBON__V1__DECISION__DECISION_COMMIT : CARBON__V1__DECISION__DECISION_ABORT;
    req.compensate = compensate != 0 || close_ != 0;
    req.reason = (char *)reason;
    const gwctl_reply_t reply = {.print = print_resolve};
    return gwctl_service_call(&conn, "Operations", "ResolveInDoubt", &req.base,
                              &carbon__v1__resolve_in_doubt_response__descriptor, &reply, NULL);
}
