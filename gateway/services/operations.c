/* operations.c - carbon.v1.Operations (ListBatches, Reconcile, ListInDoubt,
 * ResolveInDoubt), and the batch records that ListBatches and
 * Federation.FetchBatches (federation.c), the peer side of a reconciliation,
 * both answer with (DESIGN §8). */
#include "gateway/services/operations.h"

#include "carbon/v1/carbon.pb-c.h"
#include "common/carbon_assert.h"
#include "gateway/arena.h"
#include "gateway/rpc/client.h"
#include "gateway/log.h"
#include "gateway/pbconv.h"
#include "gateway/peers.h"
#include "gateway/validate.h"
#include "settlement/batch.h"
#include "settlement/heuristic.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPS_INDOUBT_LIMIT_DEFAULT 100
#define OPS_INDOUBT_LIMIT_MAX 1000
#define OPS_REASON_MIN 10
#define OPS_REASON_MAX 512
#define OPS_DISCREPANCIES_MAX 10000
#define OPS_VARINT_BYTES_MAX 5     /* a record's length prefix: records are under 4 GiB */

static int ops_peer_ok(server_call_t *call, const char *peer) {
    CARBON_ASSERT(call != NULL && peer != NULL);
    struct gateway *gw = server_call_app(call);
    if (config_peer_address(&gw->cfg, peer) != NULL) return 1;
    server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(UNKNOWN_REGION),
                       "'%.16s' is not a peer of %s", peer, gw->cfg.region);
    return 0;
}

static Carbon__V1__Decision ops_decision_of(transfer_state_t state) {
    if (state == TRANSFER_STATE_COMMITTED) return CARBON__V1__DECISION__DECISION_COMMIT;
    if (state == TRANSFER_STATE_ABORTED || state == TRANSFER_STATE_REFUSED) return CARBON__V1__DECISION__DECISION_ABORT;
    return CARBON__V1__DECISION__DECISION_UNKNOWN;
}

/* The legs of a stored batch as this side records them now (missing legs
 * are left zeroed with tid set). legs[] malloc'd; ledger_leg_free each. */
static int ops_batch_legs(store_t *st, const batch_record_t *b, ledger_leg_t **legs, char *err,
                          size_t errlen) {
    CARBON_ASSERT(st != NULL && b != NULL && legs != NULL && err != NULL);
    CARBON_ASSERT(b->tids != NULL || b->tids_n == 0);
    *legs = calloc(b->tids_n > 0 ? b->tids_n : 1, sizeof **legs);
    if (*legs == NULL) abort();
    for (size_t i = 0; i < b->tids_n; i++) {
        int rc = ledger_leg_get(st, b->tids[i], &(*legs)[i], err, errlen);
        if (rc == LEDGER_ESTORE) {
            for (size_t k = 0; k < i; k++) ledger_leg_free(&(*legs)[k]);
            free(*legs);
            *legs = NULL;
            return -1;
        }
        if (rc == LEDGER_NOT_FOUND) snprintf((*legs)[i].tid, sizeof (*legs)[i].tid, "%s", b->tids[i]);
    }
    return 0;
}

/* A BatchRecord: totals recomputed from the legs as recorded now. */
static Carbon__V1__BatchRecord *ops_pb_batch(arena_t *a, struct gateway *gw, const char *peer,
                                             int outgoing, const batch_record_t *b,
                                             const ledger_leg_t *legs, int with_legs) {
    CARBON_ASSERT(a != NULL && gw != NULL && peer != NULL && b != NULL);
    CARBON_ASSERT(legs != NULL || b->tids_n == 0);
    Carbon__V1__BatchRecord *m = arena_alloc(a, sizeof *m);
    carbon__v1__batch_record__init(m);
    m->source_region = arena_strdup(a, outgoing ? gw->cfg.region : peer);
    m->destination_region = arena_strdup(a, outgoing ? peer : gw->cfg.region);
    m->batch_seq = b->seq;
    m->time_unix_ms = b->time_ms;
    const ledger_leg_t **view = arena_alloc(a, (b->tids_n ? b->tids_n : 1) * sizeof *view);
    for (size_t i = 0; i < b->tids_n; i++) view[i] = &legs[i];
    batch_totals_t t;
    if (outgoing)
        batch_totals_source(gw->cfg.region, view, b->tids_n, &t);
    else
        batch_totals_destination(gw->cfg.region, view, b->tids_n, &t);
    m->leg_count = t.count;
    m->sum_g = t.sum_g;
    m->digest = arena_strdup(a, t.digest);
    if (with_legs) {
        m->legs = arena_alloc(a, b->tids_n * sizeof *m->legs);
        m->decisions = arena_alloc(a, b->tids_n * sizeof *m->decisions);
        for (size_t i = 0; i < b->tids_n; i++) {
            const ledger_leg_t *l = &legs[i];
            Carbon__V1__Leg *pl;
            if (outgoing) {
                pl = pbconv_leg(a, l, gw->cfg.region);
            } else {
                pl = pbconv_leg(a, l, gw->cfg.region);
                pl->from_account = arena_strdup(a, l->from);
                pl->to_account = arena_printf(a, "%s/%s", gw->cfg.region, l->to);
            }
            m->legs[m->n_legs++] = pl;
            Carbon__V1__LegDecision *d = arena_alloc(a, sizeof *d);
            carbon__v1__leg_decision__init(d);
            d->transfer_id = arena_strdup(a, b->tids[i]);
            d->decision = ops_decision_of(l->state);
            m->decisions[m->n_decisions++] = d;
        }
        CARBON_ASSERT(m->n_legs == b->tids_n && m->n_decisions == b->tids_n);
    }
    return m;
}

int ops_batch_range_ok(server_call_t *call, uint64_t from_seq, uint64_t to_seq) {
    CARBON_ASSERT(call != NULL);
    if (to_seq == 0 || (to_seq >= from_seq && to_seq - from_seq < BATCH_LIST_MAX)) return 1;
    server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_RANGE),
                       "from_seq..to_seq spans at most %d batches", BATCH_LIST_MAX);
    return 0;
}

/* The bytes a message adds to a repeated field of an answer (a batch
 * record, a discrepancy): the message, its field tag and its length. */
static size_t ops_repeated_bytes(const ProtobufCMessage *m) {
    CARBON_ASSERT(m != NULL);
    return protobuf_c_message_get_packed_size(m) + 1 + OPS_VARINT_BYTES_MAX;
}

/* The bytes an answer to an operator may have: this gateway's
 * max_message_bytes, and no more than gwctl and its console accept. */
static size_t ops_operator_answer_bytes(const struct gateway *gw) {
    CARBON_ASSERT(gw != NULL);
    uint32_t n = gw->cfg.max_message_bytes;
    return n < CLIENT_OPERATOR_ANSWER_BYTES_MAX ? n : CLIENT_OPERATOR_ANSWER_BYTES_MAX;
}

int ops_batch_records(server_call_t *call, arena_t *a, const char *peer, int outgoing, size_t answer_bytes_max,
                      uint64_t from, uint64_t to, int with_legs, Carbon__V1__BatchRecord ***out,
                      size_t *out_n, uint64_t *next_seq) {
    CARBON_ASSERT(call != NULL && a != NULL && peer != NULL && out != NULL && out_n != NULL);
    CARBON_ASSERT(next_seq != NULL && answer_bytes_max > OPS_ANSWER_OTHER_BYTES);
    struct gateway *gw = server_call_app(call);
    store_t *st = gateway_call_store(call);
    if (st == NULL) return -1;
    batch_record_t *recs = NULL;
    size_t n = 0;
    char err[256] = "";
    if (batch_list(st, peer, outgoing, from, to, &recs, &n, err, sizeof err) != LEDGER_OK) {
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE), "%s", err);
        return -1;
    }
    CARBON_ASSERT(n <= BATCH_LIST_MAX); /* before filling *out */
    *out = arena_alloc(a, n * sizeof **out);
    *out_n = 0;
    *next_seq = 0;
    /* room for the records: the answer's limit less its other fields */
    size_t room = answer_bytes_max - OPS_ANSWER_OTHER_BYTES, used = 0, legs_read = 0;
    int failed = 0;
    for (size_t i = 0; i < n && !failed; i++) {
        legs_read += recs[i].tids_n;
        if (i > 0 && legs_read > OPS_RECORDS_LEGS_MAX) { /* even without legs: each is read */
            *next_seq = recs[i].seq;
            break;
        }
        ledger_leg_t *legs = NULL;
        if (ops_batch_legs(st, &recs[i], &legs, err, sizeof err) != 0) {
            failed = 1;
            break;
        }
        Carbon__V1__BatchRecord *m = ops_pb_batch(a, gw, peer, outgoing, &recs[i], legs, with_legs);
        for (size_t j = 0; j < recs[i].tids_n; j++) ledger_leg_free(&legs[j]);
        free(legs);
        used += ops_repeated_bytes(&m->base);
        if (i > 0 && used > room) { /* the first always goes: it fitted a Prepare */
            *next_seq = recs[i].seq;
            break;
        }
        (*out)[(*out_n)++] = m;
    }
    /* to 0 (the latest) read one window of BATCH_LIST_MAX numbers
     * (batch_list): one read to its end says to go on after it */
    uint64_t window_end = (from == 0 ? 1 : from) + BATCH_LIST_MAX - 1;
    if (!failed && *next_seq == 0 && to == 0 && n > 0 && recs[n - 1].seq == window_end) *next_seq = window_end + 1;
    for (size_t i = 0; i < n; i++) batch_record_free(&recs[i]);
    free(recs);
    if (failed) {
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE), "%s", err);
        return -1;
    }
    CARBON_ASSERT(*out_n == n || (*next_seq != 0 && *out_n >= 1 && *out_n < n));
    CARBON_ASSERT(*next_seq == 0 || *next_seq > from);
    return 0;
}

void ops_list_batches(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__ListBatchesRequest *req = (const Carbon__V1__ListBatchesRequest *)request;
    if (!ops_peer_ok(call, req->peer_region)) return;
    if (!ops_batch_range_ok(call, req->from_seq, req->to_seq)) return;
    arena_t a = {0};
    Carbon__V1__ListBatchesResponse resp = CARBON__V1__LIST_BATCHES_RESPONSE__INIT;
    struct gateway *gw = server_call_app(call);
    if (ops_batch_records(call, &a, req->peer_region, req->outgoing, ops_operator_answer_bytes(gw), req->from_seq,
                          req->to_seq, 1,
                          &resp.batches, &resp.n_batches, &resp.next_from_seq) == 0) {
        CARBON_ASSERT(resp.n_batches <= BATCH_LIST_MAX);
        server_reply_ok(call, &resp.base);
    }
    arena_free(&a);
}

/* ---- Reconcile ------------------------------------------------------------------ */

typedef struct {
    arena_t *a;
    Carbon__V1__Discrepancy **v;
    size_t n;
    size_t bytes, bytes_max; /* v's bytes in an answer, and what one answer may hold */
    uint64_t left_out;       /* found and not kept: past OPS_DISCREPANCIES_MAX or bytes_max */
} ops_found_t;

static void ops_discrepancy(ops_found_t *f, const char *stage, uint64_t seq, const char *tid,
                            const char *field, const char *local, const char *peer) {
    CARBON_ASSERT(f != NULL && f->v != NULL && stage != NULL && tid != NULL);
    CARBON_ASSERT(field != NULL && local != NULL && peer != NULL);
    Carbon__V1__Discrepancy probe = CARBON__V1__DISCREPANCY__INIT;
    probe.stage = (char *)stage, probe.batch_seq = seq, probe.transfer_id = (char *)tid;
    probe.field = (char *)field, probe.local_value = (char *)local, probe.peer_value = (char *)peer;
    size_t size = ops_repeated_bytes(&probe.base);
    if (f->n >= OPS_DISCREPANCIES_MAX || f->bytes + size > f->bytes_max) {
        f->left_out++;
        return;
    }
    CARBON_ASSERT(f->n < OPS_DISCREPANCIES_MAX); /* f->v holds OPS_DISCREPANCIES_MAX */
    f->bytes += size;
    Carbon__V1__Discrepancy *d = arena_alloc(f->a, sizeof *d);
    carbon__v1__discrepancy__init(d);
    d->stage = arena_strdup(f->a, stage);
    d->batch_seq = seq;
    d->transfer_id = arena_strdup(f->a, tid);
    d->field = arena_strdup(f->a, field);
    d->local_value = arena_strdup(f->a, local);
    d->peer_value = arena_strdup(f->a, peer);
    f->v[f->n++] = d;
}

static void ops_u64_discrepancy(ops_found_t *f, const char *stage, uint64_t seq, const char *tid,
                                const char *field, uint64_t local, uint64_t peer) {
    if (local == peer) return;
    char l[24], p[24];
    snprintf(l, sizeof l, "%" PRIu64, local);
    snprintf(p, sizeof p, "%" PRIu64, peer);
    ops_discrepancy(f, stage, seq, tid, field, l, p);
}

static const Carbon__V1__BatchRecord *ops_find_batch(const Carbon__V1__FetchBatchesResponse *r,
                                                     uint64_t seq) {
    for (size_t i = 0; r != NULL && i < r->n_batches; i++)
        if (r->batches[i]->batch_seq == seq) return r->batches[i];
    return NULL;
}

static uint64_t ops_blocks_grams(Carbon__V1__CreditBlock *const *b, size_t n) {
    CARBON_ASSERT(b != NULL || n == 0);
    uint64_t g = 0;
    for (size_t i = 0; i < n; i++)
        if (b[i]->serial_end >= b[i]->serial_start) g += b[i]->serial_end - b[i]->serial_start + 1;
    return g;
}

/* Compares one batch leg by leg (stage "legs") and by outcome (stage "trail"). */
static void ops_compare_legs(ops_found_t *f, struct gateway *gw, uint64_t seq,
                             const ledger_leg_t *legs, size_t n,
                             const Carbon__V1__BatchRecord *peer) {
    CARBON_ASSERT(f != NULL && peer != NULL);
    CARBON_ASSERT(legs != NULL || n == 0);
    for (size_t i = 0; i < n; i++) {
        const ledger_leg_t *l = &legs[i];
        const Carbon__V1__Leg *pl = NULL;
        const Carbon__V1__LegDecision *pd = NULL;
        for (size_t k = 0; k < peer->n_legs; k++)
            if (strcmp(peer->legs[k]->transfer_id, l->tid) == 0) {
                pl = peer->legs[k];
                if (k < peer->n_decisions) pd = peer->decisions[k];
            }
        if (pl == NULL) {
            ops_discrepancy(f, "legs", seq, l->tid, "missing", "present", "absent");
            continue;
        }
        ops_u64_discrepancy(f, "legs", seq, l->tid, "debited_g", l->debited_g,
                            ops_blocks_grams(pl->blocks, pl->n_blocks));
        ops_u64_discrepancy(f, "legs", seq, l->tid, "credited_g", l->credited_g, pl->credited_g);
        ops_u64_discrepancy(f, "legs", seq, l->tid, "discount_g", l->discount_g, pl->discount_g);
        char to[96];
        snprintf(to, sizeof to, "%s", l->to);
        if (strcmp(to, pl->to_account) != 0) ops_discrepancy(f, "legs", seq, l->tid, "to_account", to, pl->to_account);
        int blocks_differ = pl->n_blocks != l->blocks_n;
        for (size_t k = 0; !blocks_differ && k < l->blocks_n; k++)
            blocks_differ = pl->blocks[k]->serial_start != l->blocks[k].first ||
                            pl->blocks[k]->serial_end != l->blocks[k].last ||
                            strcmp(pl->blocks[k]->origin_region, l->blocks[k].origin) != 0;
        if (blocks_differ) ops_discrepancy(f, "legs", seq, l->tid, "blocks", "differ", "differ");
        if (strcmp(l->heuristic_outcome, "MIXED") == 0) /* alarmed until compensated */
            ops_discrepancy(f, "trail", seq, l->tid, "heuristic", "HEURISTIC_MIXED",
                            "holds the other outcome after a heuristic decision");
        if (strcmp(l->heuristic_outcome, REASON(ORIGIN_DENIED)) == 0) /* listed until closed */
            ops_discrepancy(f, "trail", seq, l->tid, "heuristic", REASON(ORIGIN_DENIED),
                            "sent COMMIT; the serials' origin did not commit the leg");
        Carbon__V1__Decision mine = ops_decision_of(l->state);
        Carbon__V1__Decision theirs = pd != NULL ? pd->decision : CARBON__V1__DECISION__DECISION_UNKNOWN;
        if (mine != theirs) {
            const ProtobufCEnumValue *pv =
                protobuf_c_enum_descriptor_get_value(&carbon__v1__decision__descriptor, (int)theirs);
            ops_discrepancy(f, "trail", seq, l->tid, "outcome", l->state != TRANSFER_STATE_NONE ? transfer_state_name(l->state) : "absent",
                            pv != NULL ? pv->name : "?");
        }
    }
    for (size_t k = 0; k < peer->n_legs; k++) {
        int known = 0;
        for (size_t i = 0; i < n && !known; i++) known = strcmp(legs[i].tid, peer->legs[k]->transfer_id) == 0;
        if (!known) ops_discrepancy(f, "legs", seq, peer->legs[k]->transfer_id, "missing", "absent", "present");
    }
    (void)gw;
}

/* 1 if a batch has legs and every one is ABORTED here: a batch the peer
 * never received (its Prepare was lost with the peer) moved nothing, and the
 * peer having no record of it is no discrepancy. */
static int ops_all_aborted(const ledger_leg_t *legs, size_t n) {
    CARBON_ASSERT(legs != NULL || n == 0);
    for (size_t i = 0; i < n; i++)
        if (legs[i].state != TRANSFER_STATE_ABORTED) return 0;
    return n > 0;
}

/* Asks peer for its records of the batches this region sent it, from..to
 * with their legs. 0 with *presp (protobuf_c_message_free_unpacked), or -1
 * with the call's status in *status. */
static int ops_fetch_peer_batches(struct gateway *gw, const char *peer, uint64_t from, uint64_t to,
                                  ProtobufCMessage **presp, client_status_t *status) {
    CARBON_ASSERT(gw != NULL && peer != NULL && presp != NULL && status != NULL);
    Carbon__V1__FetchBatchesRequest freq = CARBON__V1__FETCH_BATCHES_REQUEST__INIT;
    freq.region = gw->cfg.region;
    freq.from_seq = from;
    freq.to_seq = to;
    freq.with_legs = 1;
    *presp = NULL;
    if (client_call(peers_channel_of(gw->peers, peer), "/carbon.v1.Federation/FetchBatches",
                    &freq.base, &carbon__v1__fetch_batches_response__descriptor, presp,
                    gw->cfg.peer_timeout_ms, status) != GRPC_STATUS_OK)
        return -1;
    CARBON_ASSERT(*presp != NULL);
    return 0;
}

/* Compares one batch this region sent (b) with the peer's records: stage
 * one, totals (our record against our legs, then against the peer), then
 * stages two and three, legs and trail. Counts it in resp. 0, or -1 with
 * err when the store did not answer. */
static int ops_compare_batch(ops_found_t *found, struct gateway *gw, store_t *st,
                             const batch_record_t *b, const Carbon__V1__FetchBatchesResponse *peer,
                             Carbon__V1__ReconcileResponse *resp, char *err, size_t errlen) {
    CARBON_ASSERT(found != NULL && b != NULL && resp != NULL);
    CARBON_ASSERT(gw != NULL && st != NULL && err != NULL);
    ledger_leg_t *legs = NULL;
    if (ops_batch_legs(st, b, &legs, err, errlen) != 0) return -1;
    resp->batches_compared++;
    resp->legs_compared += b->tids_n;
    const ledger_leg_t **view = calloc(b->tids_n ? b->tids_n : 1, sizeof *view);
    if (view == NULL) abort();
    for (size_t k = 0; k < b->tids_n; k++) view[k] = &legs[k];
    batch_totals_t now;
    batch_totals_source(gw->cfg.region, view, b->tids_n, &now);
    free(view);
    /* Stage one, totals: our record against our legs, then against the peer. */
    if (strcmp(now.digest, b->totals.digest) != 0)
        ops_discrepancy(found, "totals", b->seq, "", "local_record", b->totals.digest, now.digest);
    const Carbon__V1__BatchRecord *pb = ops_find_batch(peer, b->seq);
    if (pb == NULL && ops_all_aborted(legs, b->tids_n)) {
        resp->batches_undelivered++; /* never reached the peer: nothing moved */
    } else if (pb == NULL) {
        ops_discrepancy(found, "totals", b->seq, "", "missing", "present", "absent");
    } else {
        ops_u64_discrepancy(found, "totals", b->seq, "", "leg_count", now.count, pb->leg_count);
        ops_u64_discrepancy(found, "totals", b->seq, "", "sum_g", now.sum_g, pb->sum_g);
        if (strcmp(now.digest, pb->digest) != 0)
            ops_discrepancy(found, "totals", b->seq, "", "digest", now.digest, pb->digest);
        /* Stages two and three, legs and trail: always, so outcomes are compared too. */
        ops_compare_legs(found, gw, b->seq, legs, b->tids_n, pb);
    }
    for (size_t k = 0; k < b->tids_n; k++) ledger_leg_free(&legs[k]);
    free(legs);
    return 0;
}

static int ops_u64_cmp(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

static int ops_seq_cmp(const void *key, const void *rec) {
    uint64_t a = *(const uint64_t *)key, b = ((const batch_record_t *)rec)->seq;
    return a < b ? -1 : a > b;
}

/* The numbers in from..to of the batches the peer records and this region
 * does not (recs[0..n), sorted by seq), sorted and each once, into seqs
 * (room for the peer's count of records, whatever it sent); their count. */
static size_t ops_peer_only_seqs(const batch_record_t *recs, size_t n, const Carbon__V1__FetchBatchesResponse *peer,
                                 uint64_t from, uint64_t to, uint64_t *seqs) {
    CARBON_ASSERT((recs != NULL || n == 0) && n <= BATCH_LIST_MAX && peer != NULL && seqs != NULL);
    size_t m = 0;
    for (size_t i = 0; i < peer->n_batches; i++) {
        uint64_t seq = peer->batches[i]->batch_seq;
        if (seq < from || seq > to) continue; /* another page's, or not asked for */
        if (n == 0 || bsearch(&seq, recs, n, sizeof *recs, ops_seq_cmp) == NULL) seqs[m++] = seq;
    }
    qsort(seqs, m, sizeof *seqs, ops_u64_cmp);
    size_t k = 0;
    for (size_t i = 0; i < m; i++)
        if (k == 0 || seqs[i] != seqs[k - 1]) seqs[k++] = seqs[i];
    return k;
}

/* The page of a reconciliation: batch_list read recs[0..n) (sorted by seq)
 * from want_from (0: the first) up, at most BATCH_LIST_MAX sequence numbers.
 * Sets *from..*to to the numbers the page covers, as FetchBatches serves them
 * at once, and returns where the next page starts: 0 when this one reaches
 * want_to (0: the latest batch). */
static uint64_t ops_reconcile_page(const batch_record_t *recs, size_t n, uint64_t want_from, uint64_t want_to,
                                   uint64_t *from, uint64_t *to) {
    CARBON_ASSERT(n <= BATCH_LIST_MAX && from != NULL && to != NULL && (recs != NULL || n == 0));
    uint64_t first = want_from == 0 ? 1 : want_from, cap = first + BATCH_LIST_MAX - 1;
    *from = first;
    *to = want_to != 0 && want_to < cap ? want_to : cap;
    if (n == 0 || recs[n - 1].seq < cap || (want_to != 0 && want_to <= cap)) return 0;
    CARBON_ASSERT(recs[0].seq >= first && recs[n - 1].seq == cap);
    return cap + 1;
}

/* Where the peer's FetchBatches answer stopped short of *to (its
 * next_from_seq: the next record would have outgrown a message), the page
 * ends before it: *to and *next move back to it and *n drops the local
 * records past it (recs sorted by seq). -1 when that number is not after
 * from and at most *to: an answer this page cannot be cut to. */
static int ops_reconcile_cut(const Carbon__V1__FetchBatchesResponse *peer, uint64_t from, uint64_t *to,
                             uint64_t *next, const batch_record_t *recs, size_t *n) {
    CARBON_ASSERT(peer != NULL && to != NULL && next != NULL && n != NULL && *n <= BATCH_LIST_MAX);
    uint64_t stop = peer->next_from_seq;
    if (stop == 0) return 0;
    if (stop <= from || stop > *to) return -1;
    *to = stop - 1;
    *next = stop;
    while (*n > 0 && recs[*n - 1].seq > *to) (*n)--;
    return 0;
}

/* Compares the page's batches from..*to, ours recs[0..*n) (sorted by seq)
 * and those only the peer records (only[0..m), sorted), in the order of
 * their numbers, into found and resp. Where a batch's discrepancies
 * outgrow what one answer holds (found->bytes_max), the page ends before
 * it (not the first: its overflow is counted in found->left_out): *n, *to
 * and *next move back to it. 0, or -1 with err when the store did not
 * answer. */
static int ops_compare_page(ops_found_t *found, struct gateway *gw, store_t *st, const batch_record_t *recs,
                            size_t *n, const uint64_t *only, size_t m,
                            const Carbon__V1__FetchBatchesResponse *peer, uint64_t *to, uint64_t *next,
                            Carbon__V1__ReconcileResponse *resp, char *err, size_t errlen) {
    CARBON_ASSERT(found != NULL && n != NULL && *n <= BATCH_LIST_MAX && to != NULL && next != NULL);
    CARBON_ASSERT(only != NULL || m == 0);
    uint64_t last_seq = 0;
    for (size_t i = 0, k = 0; i < *n || k < m;) {
        int ours = k >= m || (i < *n && recs[i].seq < only[k]);
        uint64_t seq = ours ? recs[i].seq : only[k];
        ops_found_t before = *found;
        Carbon__V1__ReconcileResponse resp_before = *resp;
        if (!ours)
            ops_discrepancy(found, "totals", seq, "", "missing", "absent", "present");
        else if (ops_compare_batch(found, gw, st, &recs[i], peer, resp, err, errlen) != 0)
            return -1;
        if (i + k > 0 && found->left_out > before.left_out) { /* the next page starts at seq */
            CARBON_ASSERT(seq > last_seq); /* both lists rise, and share no number */
            *found = before;
            *resp = resp_before;
            *to = seq - 1;
            *next = seq;
            *n = i;
            return 0;
        }
        last_seq = seq;
        if (ours) i++;
        else k++;
    }
    return 0;
}

void ops_reconcile(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__ReconcileRequest *req = (const Carbon__V1__ReconcileRequest *)request;
    struct gateway *gw = server_call_app(call);
    if (!ops_peer_ok(call, req->peer_region)) return;
    if (req->to_seq != 0 && req->to_seq < req->from_seq) { /* any span: one page per call */
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_RANGE), "to_seq is before from_seq");
        return;
    }
    store_t *st = gateway_call_store(call);
    if (st == NULL) return;
    char err[256] = "";
    batch_record_t *recs = NULL;
    size_t n = 0;
    if (batch_list(st, req->peer_region, 1, req->from_seq, req->to_seq, &recs, &n, err, sizeof err) !=
        LEDGER_OK) {
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE), "%s", err);
        return;
    }
    CARBON_ASSERT(n <= BATCH_LIST_MAX);
    uint64_t from = 0, to = 0, next = ops_reconcile_page(recs, n, req->from_seq, req->to_seq, &from, &to);
    /* The peer's records of the batches this region sent it. */
    ProtobufCMessage *presp = NULL;
    client_status_t status;
    if (ops_fetch_peer_batches(gw, req->peer_region, from, to, &presp, &status) != 0) {
        for (size_t i = 0; i < n; i++) batch_record_free(&recs[i]);
        free(recs);
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(PEER_UNAVAILABLE),
                           "%s did not answer FetchBatches: %s", req->peer_region, status.details);
        return;
    }
    const Carbon__V1__FetchBatchesResponse *peer = (const Carbon__V1__FetchBatchesResponse *)presp;
    size_t n_all = n;
    if (ops_reconcile_cut(peer, from, &to, &next, recs, &n) != 0) {
        for (size_t i = 0; i < n_all; i++) batch_record_free(&recs[i]);
        free(recs);
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(PEER_UNAVAILABLE),
                           "%s answered FetchBatches %" PRIu64 "..%" PRIu64 " with next_from_seq %" PRIu64
                           ", not within the range", req->peer_region, from, to, peer->next_from_seq);
        protobuf_c_message_free_unpacked(presp, NULL);
        return;
    }
    arena_t a = {0};
    ops_found_t found = {&a, arena_alloc(&a, OPS_DISCREPANCIES_MAX * sizeof *found.v), 0, 0,
                         ops_operator_answer_bytes(gw) - OPS_ANSWER_OTHER_BYTES, 0};
    Carbon__V1__ReconcileResponse resp = CARBON__V1__RECONCILE_RESPONSE__INIT;
    uint64_t *only = calloc(peer->n_batches ? peer->n_batches : 1, sizeof *only);
    if (only == NULL) abort();
    size_t m = ops_peer_only_seqs(recs, n, peer, from, to, only);
    int failed = ops_compare_page(&found, gw, st, recs, &n, only, m, peer, &to, &next, &resp, err, sizeof err) != 0;
    free(only);
    for (size_t i = 0; i < n_all; i++) batch_record_free(&recs[i]);
    free(recs);
    protobuf_c_message_free_unpacked(presp, NULL);
    if (failed) {
        arena_free(&a);
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE), "%s", err);
        return;
    }
    CARBON_ASSERT(found.n <= OPS_DISCREPANCIES_MAX);
    resp.next_from_seq = next;
    resp.discrepancies_left_out = found.left_out;
    resp.n_discrepancies = found.n;
    resp.discrepancies = found.v;
    server_reply_ok(call, &resp.base);
    arena_free(&a);
}

/* ---- in doubt ------------------------------------------------------------------- */

/* What is known of a leg the recovery scan found in doubt (a source leg:
 * held past expiry or not acknowledged; a destination leg: prepared, with
 * its recorded failed QueryDecision attempts), into d. */
static void ops_in_doubt_known(arena_t *a, struct gateway *gw, Carbon__V1__InDoubtLeg *d,
                               const ledger_leg_t *leg, int source) {
    CARBON_ASSERT(a != NULL && gw != NULL && d != NULL && leg != NULL);
    uint64_t doubt_ms = leg->doubt_last_ms > leg->doubt_first_ms ? leg->doubt_last_ms - leg->doubt_first_ms : 0;
    if (source && leg->state == TRANSFER_STATE_HELD)
        d->known = arena_printf(a, "held past its expiry; recovery aborts it (presumed abort)");
    else if (source)
        d->known = arena_printf(a, "decided %s; %s has not acknowledged it yet", transfer_state_name(leg->state),
                                leg->peer);
    else
        d->known = arena_printf(a, "prepared; waiting for the decision of %s (asked by recovery; %" PRIu64
                                   " failed attempts over %" PRIu64 " ms, forcing allowed after %" PRIu32 " ms)",
                                leg->peer, leg->doubt_attempts, doubt_ms, gw->cfg.heuristic_after_ms);
    d->doubt_attempts = source ? 0 : leg->doubt_attempts;
    d->doubt_ms = source ? 0 : doubt_ms;
}

/* An InDoubtLeg for a leg an operator decided here whose coordinator has
 * not answered yet, or a HEURISTIC_MIXED leg (either role). */
static Carbon__V1__InDoubtLeg *ops_heuristic_leg(arena_t *a, struct gateway *gw,
                                                 const ledger_leg_t *leg, uint64_t now) {
    CARBON_ASSERT(a != NULL && gw != NULL && leg != NULL);
    int dest = strcmp(leg->role, "destination") == 0;
    int denied = strcmp(leg->heuristic_outcome, REASON(ORIGIN_DENIED)) == 0;
    int mixed = denied || strcmp(leg->heuristic_outcome, "MIXED") == 0;
    const char *forced = leg->heuristic == TRANSFER_DECISION_COMMIT ? "COMMIT"
                         : leg->heuristic == TRANSFER_DECISION_ABORT ? "ABORT" : "";
    Carbon__V1__InDoubtLeg *d = arena_alloc(a, sizeof *d);
    carbon__v1__in_doubt_leg__init(d);
    d->leg = pbconv_leg(a, leg, gw->cfg.region);
    if (dest) {
        d->leg->from_account = arena_strdup(a, leg->from);
        d->leg->to_account = arena_printf(a, "%s/%s", gw->cfg.region, leg->to);
    }
    d->role = arena_strdup(a, dest ? "destination" : "source");
    d->state = arena_strdup(a, mixed ? "HEURISTIC_MIXED" : transfer_state_name(leg->state));
    d->age_ms = now > leg->created_ms ? now - leg->created_ms : 0;
    d->heuristic = arena_strdup(a, forced);
    d->heuristic_outcome = arena_strdup(a, leg->heuristic_outcome);
    if (denied)
        d->known = arena_printf(a, "%s sent COMMIT, but the serials' origin does not confirm that it "
                                   "committed this leg (ORIGIN_DENIED): %s; investigate %s and the origin, "
                                   "then close the leg (gwctl resolve --close)", leg->peer,
                                leg->state == TRANSFER_STATE_PREPARED ? "the credit stays pending, not spendable"
                                                                      : "forced ABORT here: nothing is pending",
                                leg->peer);
    else if (mixed && dest)
        d->known = arena_printf(a, "forced %s here; %s decided the other: the credits are no longer all "
                                   "in the account; compensate (gwctl resolve --compensate)", forced, leg->peer);
    else if (mixed && leg->state == TRANSFER_STATE_ABORTED)
        d->known = arena_printf(a, "decided ABORT; %s holds COMMIT (an operator's heuristic decision, "
                                   "HEURISTIC_MIXED): compensate at one side, never both: if %s compensated, "
                                   "close here (gwctl resolve --close); else compensate here while the "
                                   "account holds the serials (gwctl resolve --compensate)", leg->peer, leg->peer);
    else if (mixed)
        d->known = arena_printf(a, "decided %s; %s holds the other outcome after an operator's heuristic "
                                   "decision there (HEURISTIC_MIXED): it compensates; close here with "
                                   "gwctl resolve --compensate", transfer_state_name(leg->state), leg->peer);
    else
        d->known = arena_printf(a, "forced %s here (heuristic); waiting for the decision of %s "
                                   "(asked by recovery)", forced, leg->peer);
    return d;
}

/* Appends to resp (room for limit legs) the HEURISTIC_MIXED legs, then the
 * legs decided heuristically here and not settled by their coordinator yet:
 * the alarms first, so that no number of legs merely waiting crowds them out
 * of a list (ops_list_in_doubt). -1 when the store did not answer. */
static int ops_list_heuristic(store_t *st, arena_t *a, struct gateway *gw,
                              Carbon__V1__ListInDoubtResponse *resp, size_t limit, uint64_t now) {
    CARBON_ASSERT(st != NULL && a != NULL && resp != NULL && limit <= OPS_INDOUBT_LIMIT_MAX);
    ledger_pending_leg_t *forced = calloc(limit, sizeof *forced), *mixed = calloc(limit, sizeof *mixed);
    if (forced == NULL || mixed == NULL) abort();
    size_t forced_n = 0, mixed_n = 0;
    uint64_t mixed_total = 0;
    char err[256];
    int rc = heuristic_scan(st, limit, forced, &forced_n, &mixed_total, mixed, &mixed_n, err, sizeof err);
    for (size_t pass = 0; rc == LEDGER_OK && pass < 2; pass++) {
        const ledger_pending_leg_t *list = pass == 0 ? mixed : forced;
        size_t count = pass == 0 ? mixed_n : forced_n;
        for (size_t i = 0; i < count && resp->n_legs < limit; i++) {
            ledger_leg_t leg;
            if (ledger_leg_get(st, list[i].tid, &leg, err, sizeof err) != LEDGER_OK) continue;
            resp->legs[resp->n_legs++] = ops_heuristic_leg(a, gw, &leg, now);
            ledger_leg_free(&leg);
        }
    }
    free(forced);
    free(mixed);
    return rc == LEDGER_OK ? 0 : -1;
}

/* Appends to resp (room for limit legs) the legs recovery's scan found in
 * doubt: src (source legs) and dst (destination and origin legs). */
static void ops_list_pending(store_t *st, arena_t *a, struct gateway *gw, Carbon__V1__ListInDoubtResponse *resp,
                             size_t limit, uint64_t now, const ledger_pending_leg_t *src, size_t src_n,
                             const ledger_pending_leg_t *dst, size_t dst_n) {
    CARBON_ASSERT(st != NULL && a != NULL && gw != NULL && resp != NULL && limit <= OPS_INDOUBT_LIMIT_MAX);
    char err[256];
    for (size_t pass = 0; pass < 2; pass++) {
        const ledger_pending_leg_t *list = pass == 0 ? src : dst;
        size_t count = pass == 0 ? src_n : dst_n;
        for (size_t i = 0; i < count && resp->n_legs < limit; i++) {
            ledger_leg_t leg;
            if (ledger_leg_get(st, list[i].tid, &leg, err, sizeof err) != LEDGER_OK) continue;
            Carbon__V1__InDoubtLeg *d = arena_alloc(a, sizeof *d);
            carbon__v1__in_doubt_leg__init(d);
            d->leg = pbconv_leg(a, &leg, gw->cfg.region);
            int origin = strcmp(leg.role, "origin") == 0; /* its to is already "REGION/ID" */
            if (pass == 1) {
                d->leg->from_account = arena_strdup(a, leg.from);
                d->leg->to_account = origin ? arena_strdup(a, leg.to)
                                            : arena_printf(a, "%s/%s", gw->cfg.region, leg.to);
            }
            d->role = arena_strdup(a, pass == 0 ? "source" : origin ? "origin" : "destination");
            d->state = arena_strdup(a, transfer_state_name(leg.state));
            d->age_ms = now > leg.created_ms ? now - leg.created_ms : 0;
            ops_in_doubt_known(a, gw, d, &leg, pass == 0);
            resp->legs[resp->n_legs++] = d;
            ledger_leg_free(&leg);
        }
    }
}

void ops_list_in_doubt(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__ListInDoubtRequest *req = (const Carbon__V1__ListInDoubtRequest *)request;
    struct gateway *gw = server_call_app(call);
    if (req->limit > OPS_INDOUBT_LIMIT_MAX) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_LIMIT), "limit must be 0..%d",
                           OPS_INDOUBT_LIMIT_MAX);
        return;
    }
    size_t limit = req->limit ? req->limit : OPS_INDOUBT_LIMIT_DEFAULT;
    CARBON_ASSERT(limit >= 1 && limit <= OPS_INDOUBT_LIMIT_MAX);
    store_t *st = gateway_call_store(call);
    if (st == NULL) return;
    ledger_pending_leg_t *src = calloc(limit, sizeof *src), *dst = calloc(limit, sizeof *dst);
    if (src == NULL || dst == NULL) abort();
    size_t src_n = 0, dst_n = 0;
    char err[256] = "";
    uint64_t now = ledger_now_ms();
    arena_t a = {0};
    Carbon__V1__ListInDoubtResponse resp = CARBON__V1__LIST_IN_DOUBT_RESPONSE__INIT;
    resp.legs = arena_alloc(&a, limit * sizeof *resp.legs);
    /* the alarms first: HEURISTIC_MIXED and forced legs, then those waiting */
    int failed = ops_list_heuristic(st, &a, gw, &resp, limit, now) != 0;
    if (!failed && resp.n_legs < limit) {
        failed = ledger_recovery_scan(st, now, limit, src, &src_n, dst, &dst_n, err, sizeof err) != LEDGER_OK;
        CARBON_ASSERT(src_n <= limit && dst_n <= limit); /* before reading src[], dst[] */
        if (!failed) ops_list_pending(st, &a, gw, &resp, limit, now, src, src_n, dst, dst_n);
    }
    free(src);
    free(dst);
    if (failed) {
        arena_free(&a);
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE), "the store did not answer");
        return;
    }
    CARBON_ASSERT(resp.n_legs <= limit);
    server_reply_ok(call, &resp.base);
    arena_free(&a);
}

/* Checks a ResolveInDoubt's transfer id, decision and reason; 1, or 0
 * after refusing the call. */
static int ops_resolve_fields_ok(server_call_t *call, const Carbon__V1__ResolveInDoubtRequest *req) {
    CARBON_ASSERT(call != NULL && req != NULL && req->reason != NULL);
    if (!gateway_require_request_id(call, req->transfer_id, "transfer_id")) return 0;
    if (req->decision != CARBON__V1__DECISION__DECISION_COMMIT &&
        req->decision != CARBON__V1__DECISION__DECISION_ABORT) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_DECISION), "decision must be COMMIT or ABORT");
        return 0;
    }
    if (!validate_free_text(req->reason, OPS_REASON_MIN, OPS_REASON_MAX)) {
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_REASON),
                           "reason must be %d..%d bytes of UTF-8 text without control "
                           "characters (it has %zu bytes)",
                           OPS_REASON_MIN, OPS_REASON_MAX, strlen(req->reason));
        return 0;
    }
    size_t reason_len = strlen(req->reason); /* the limit the resolution's record relies on */
    CARBON_ASSERT(reason_len >= OPS_REASON_MIN && reason_len <= OPS_REASON_MAX);
    return 1;
}

/* 1 after refusing the call (FAILED_PRECONDITION) when the coordinator
 * answers COMMIT or ABORT for tid: recovery applies its answer, not an
 * operator. 0 when it is unreachable or does not know. */
static int ops_coordinator_answers(server_call_t *call, const char *coordinator, const char *tid) {
    struct gateway *gw = server_call_app(call);
    CARBON_ASSERT(gw != NULL && coordinator != NULL && tid != NULL);
    engine_transport_t t = peers_transport(gw->peers);
    const char *ids[1] = {tid};
    char answer = TRANSFER_DECISION_UNKNOWN;
    char err[256] = "";
    int asked = t.query(t.ctx, coordinator, ids, 1, gw->cfg.peer_timeout_ms, &answer, err, sizeof err);
    CARBON_ASSERT(answer == TRANSFER_DECISION_COMMIT || answer == TRANSFER_DECISION_ABORT ||
                  answer == TRANSFER_DECISION_UNKNOWN);
    if (asked == 0 && answer != TRANSFER_DECISION_UNKNOWN) {
        server_reply_error(call, GRPC_STATUS_FAILED_PRECONDITION, REASON(COORDINATOR_ANSWERS),
                           "%s answers %s for this transfer; recovery applies it", coordinator,
                           answer == TRANSFER_DECISION_COMMIT ? "COMMIT" : "ABORT");
        return 1;
    }
    return 0;
}

/* 1 when the coordinator has failed recovery's recorded QueryDecision
 * attempts on leg for at least heuristic_after_ms (from the first failed
 * attempt to the latest); else 0 after refusing the call
 * (HEURISTIC_TOO_EARLY) with how long remains. */
static int ops_unreachable_long_enough(server_call_t *call, const ledger_leg_t *leg) {
    struct gateway *gw = server_call_app(call);
    CARBON_ASSERT(gw != NULL && leg != NULL && gw->cfg.heuristic_after_ms >= 1000);
    uint64_t need = gw->cfg.heuristic_after_ms;
    uint64_t span = leg->doubt_attempts >= 2 && leg->doubt_last_ms > leg->doubt_first_ms
                        ? leg->doubt_last_ms - leg->doubt_first_ms
                        : 0;
    if (span >= need) return 1;
    server_reply_error(call, GRPC_STATUS_FAILED_PRECONDITION, REASON(HEURISTIC_TOO_EARLY),
                       "%s has failed %" PRIu64 " recorded QueryDecision attempts over %" PRIu64
                       " ms; a decision may be forced after %" PRIu64
                       " ms of failed attempts (heuristic_after_ms): %" PRIu64 " ms remain",
                       leg->peer, leg->doubt_attempts, span, need, need - span);
    return 0;
}

/* ResolveInDoubt with compensate: closes a HEURISTIC_MIXED leg here
 * (decision COMMIT; at the source, ABORT closes its ABORTED leg as it is,
 * once its destination compensated), or an ORIGIN_DENIED destination leg
 * as ABORTED (decision ABORT; nothing was credited): heuristic_compensate,
 * audited with the operator and reason. */
static void ops_compensate(server_call_t *call, store_t *st, const Carbon__V1__ResolveInDoubtRequest *req) {
    CARBON_ASSERT(call != NULL && st != NULL && req != NULL);
    int commit = req->decision == CARBON__V1__DECISION__DECISION_COMMIT;
    const identity_t *op = server_call_caller(call);
    const char *who = op != NULL ? op->spiffe_id : "operator";
    heuristic_compensation_t out;
    char err[256] = "";
    int rc = heuristic_compensate(st, req->transfer_id, commit ? TRANSFER_DECISION_COMMIT : TRANSFER_DECISION_ABORT,
                                  who, req->reason, ledger_now_ms(), &out, err, sizeof err);
    if (rc == LEDGER_NOT_FOUND)
        server_reply_error(call, GRPC_STATUS_FAILED_PRECONDITION, REASON(NOT_MIXED),
                           "transfer %s is neither HEURISTIC_MIXED nor ORIGIN_DENIED here", req->transfer_id);
    else if (rc == LEDGER_CONFLICT)
        server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_DECISION),
                           "%s", out.needed == TRANSFER_DECISION_ABORT
                                     ? "an ORIGIN_DENIED leg is closed ABORTED (nothing was credited): send ABORT "
                                       "(gwctl resolve --close)"
                                     : "a compensation leaves the HEURISTIC_MIXED leg COMMITTED on both sides: "
                                       "send COMMIT (gwctl resolve --compensate); only a source's ABORTED leg "
                                       "closes as it is (gwctl resolve --close)");
    else if (rc == LEDGER_INSUFFICIENT)
        server_reply_error(call, GRPC_STATUS_FAILED_PRECONDITION, REASON(INSUFFICIENT_BALANCE),
                           "the account holds %" PRIu64 " g, or (at the source) no longer every block of the "
                           "leg: compensate at the other region (then, at the source, gwctl resolve --close)",
                           out.have_g);
    else if (rc == LEDGER_TOO_FRAGMENTED)
        server_reply_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, REASON(TOO_FRAGMENTED),
                           "the leg's grams span more than %d of the account's blocks (or the account "
                           "holds blocks of more than 256 methodologies)", LEDGER_LEG_BLOCKS_MAX);
    else if (rc == LEDGER_DAMAGED) {
        log_error("account_damaged", "{s:s, s:s}", "method", server_call_path(call), "error", err);
        server_reply_error(call, GRPC_STATUS_DATA_LOSS, REASON(ACCOUNT_DAMAGED), "%s", err);
    } else if (rc != LEDGER_OK)
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE), "%s", err);
    if (rc != LEDGER_OK) return;
    log_warn(out.closed_denied ? "origin_denied_closed" : commit ? "heuristic_compensated" : "heuristic_closed",
             "{s:s, s:s, s:s}", "transfer_id", req->transfer_id, "operator", who, "reason", req->reason);
    Carbon__V1__LegAck ack = CARBON__V1__LEG_ACK__INIT;
    ack.transfer_id = (char *)req->transfer_id;
    ack.applied = out.holds == TRANSFER_DECISION_ABORT ? CARBON__V1__DECISION__DECISION_ABORT
                                                       : CARBON__V1__DECISION__DECISION_COMMIT;
    Carbon__V1__ResolveInDoubtResponse resp = CARBON__V1__RESOLVE_IN_DOUBT_RESPONSE__INIT;
    resp.applied = &ack;
    server_reply_ok(call, &resp.base);
}

/* A leg prepared here only as the origin of its serials (origin_prepare.lua)
 * is never forced: its coordinator alone decides it. 1 after refusing the
 * call (leg freed), else 0. */
static int ops_refuse_origin_leg(server_call_t *call, ledger_leg_t *leg) {
    CARBON_ASSERT(call != NULL && leg != NULL);
    if (strcmp(leg->role, "origin") != 0) return 0;
    server_reply_error(call, GRPC_STATUS_FAILED_PRECONDITION, REASON(NOT_IN_DOUBT),
                       "transfer %s is prepared here only as the origin of its serials: its "
                       "coordinator alone decides it (no heuristic decision at the origin)",
                       leg->tid);
    ledger_leg_free(leg);
    return 1;
}

/* Before a forced ABORT of a leg holding a third region's serials: that
 * origin is a participant too (DESIGN 6), and if it committed the leg, the
 * coordinator decided COMMIT and the origin's map places the serials here;
 * an ABORT would drop them where no map has them. 1 after refusing the call
 * (COORDINATOR_ANSWERS) then; 0 when the origin has not committed it, or
 * cannot be asked (the ABORT goes ahead as before). */
static int ops_origin_committed(server_call_t *call, store_t *st, const char *coordinator,
                                const ledger_dest_decision_t *d) {
    struct gateway *gw = server_call_app(call);
    CARBON_ASSERT(d->decision == TRANSFER_DECISION_ABORT);
    if (gw->engine == NULL) return 0;
    ledger_dest_decision_t probe = *d;
    probe.decision = TRANSFER_DECISION_COMMIT; /* what engine_confirm_origins asks about */
    engine_confirm_origins(gw->engine, st, coordinator, &probe, 1, gw->cfg.peer_timeout_ms);
    if (probe.origin_confirm != TRANSFER_DECISION_COMMIT) return 0;
    server_reply_error(call, GRPC_STATUS_FAILED_PRECONDITION, REASON(COORDINATOR_ANSWERS),
                       "the origin of the leg's serials committed transfer %s, so %s decided COMMIT: "
                       "force COMMIT instead, or let recovery apply it; nothing was changed",
                       d->tid, coordinator);
    return 1;
}

/* Records the operator's forced decision d of a leg of coordinator: a
 * COMMIT of third-region serials only once their origin confirms it
 * committed the same leg (engine_confirm_origins). 1, or 0 after refusing
 * the call (STORE_UNAVAILABLE, LEG_DAMAGED, ORIGIN_NOT_CONFIRMED). */
static int ops_resolve_decide(server_call_t *call, store_t *st, const char *coordinator,
                              ledger_dest_decision_t *d) {
    CARBON_ASSERT(call != NULL && st != NULL && coordinator != NULL && d != NULL);
    struct gateway *gw = server_call_app(call);
    char err[256] = "";
    if (d->decision == TRANSFER_DECISION_ABORT && ops_origin_committed(call, st, coordinator, d)) return 0;
    if (gw->engine != NULL)
        engine_confirm_origins(gw->engine, st, coordinator, d, 1, gw->cfg.peer_timeout_ms);
    /* refused before the store sees it: given the origin's ABORT, the store
     * would mark the leg ORIGIN_DENIED, as if the coordinator had sent the
     * COMMIT (dest_decide.lua origin_gate), and a refused call changes nothing */
    if (d->origin_confirm != 0 && d->origin_confirm != TRANSFER_DECISION_COMMIT) {
        server_reply_error(call, GRPC_STATUS_FAILED_PRECONDITION, REASON(ORIGIN_NOT_CONFIRMED),
                           "the origin of the leg's serials %s that it committed this leg; nothing was changed",
                           d->origin_confirm == TRANSFER_DECISION_ABORT ? "denies" : "has not confirmed");
        return 0;
    }
    if (ledger_dest_decide(st, coordinator, d, 1, ledger_now_ms(), err, sizeof err) != LEDGER_OK) {
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE), "%s", err);
        return 0;
    }
    if (d->damaged[0] != '\0') { /* left as it was (dest_decide.lua) */
        log_error("leg_damaged", "{s:s, s:s, s:s, s:s, s:s}", "transfer_id", d->tid, "peer", coordinator, "state",
                  transfer_state_name(d->damaged_state), "what", d->damaged, "action",
                  "repair what is named in the store, then decide again");
        server_reply_error(call, GRPC_STATUS_DATA_LOSS, REASON(LEG_DAMAGED),
                           "the store cannot take this decision of transfer %s: %s; repair it in the store first",
                           d->tid, d->damaged);
        return 0;
    }
    return 1;
}

void ops_resolve_in_doubt(server_call_t *call, const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL && request != NULL);
    const Carbon__V1__ResolveInDoubtRequest *req = (const Carbon__V1__ResolveInDoubtRequest *)request;
    if (!ops_resolve_fields_ok(call, req)) return;
    store_t *st = gateway_call_store(call);
    if (st == NULL) return;
    if (req->compensate) {
        ops_compensate(call, st, req);
        return;
    }
    ledger_leg_t leg;
    char err[256] = "";
    int rc = ledger_leg_get(st, req->transfer_id, &leg, err, sizeof err);
    if (rc == LEDGER_ESTORE) {
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE), "%s", err);
        return;
    }
    if (rc == LEDGER_OK && ops_refuse_origin_leg(call, &leg)) return;
    if (rc == LEDGER_NOT_FOUND || strcmp(leg.role, "destination") != 0 ||
        leg.state != TRANSFER_STATE_PREPARED) {
        if (rc == LEDGER_OK) ledger_leg_free(&leg);
        server_reply_error(call, GRPC_STATUS_FAILED_PRECONDITION, REASON(NOT_IN_DOUBT),
                           "transfer %s is not a prepared leg waiting here for a decision",
                           req->transfer_id);
        return;
    }
    char coordinator[CARBON_REGION_SIZE];
    snprintf(coordinator, sizeof coordinator, "%s", leg.peer);
    uint64_t expiry = leg.expiry_ms;
    if (ledger_now_ms() < expiry) {
        ledger_leg_free(&leg);
        server_reply_error(call, GRPC_STATUS_FAILED_PRECONDITION, REASON(NOT_EXPIRED),
                           "the leg expires in %" PRIu64 " ms; its coordinator still decides",
                           expiry - ledger_now_ms());
        return;
    }
    /* Refused while the coordinator can answer for the leg now, and unless
     * it has failed for heuristic_after_ms of recorded attempts. */
    if (ops_coordinator_answers(call, coordinator, req->transfer_id) ||
        !ops_unreachable_long_enough(call, &leg)) {
        ledger_leg_free(&leg);
        return;
    }
    ledger_leg_free(&leg);
    CARBON_ASSERT(req->decision == CARBON__V1__DECISION__DECISION_COMMIT ||
                  req->decision == CARBON__V1__DECISION__DECISION_ABORT);
    const identity_t *op = server_call_caller(call);
    ledger_dest_decision_t d = {.tid = req->transfer_id,
                                .decision = pbconv_decision_in(req->decision), /* COMMIT or ABORT */
                                .resolved_by = op != NULL ? op->spiffe_id : "operator",
                                .resolve_reason = req->reason};
    if (!ops_resolve_decide(call, st, coordinator, &d)) return;
    log_warn("in_doubt_resolved", "{s:s, s:s, s:s, s:s}", "transfer_id", req->transfer_id, "decision",
             d.decision == TRANSFER_DECISION_COMMIT ? "COMMIT" : "ABORT", "operator", op != NULL ? op->spiffe_id : "",
             "reason", req->reason);
    Carbon__V1__LegAck ack = CARBON__V1__LEG_ACK__INIT;
    ack.transfer_id = (char *)req->transfer_id;
    ack.applied = pbconv_decision(d.applied);
    Carbon__V1__ResolveInDoubtResponse resp = CARBON__V1__RESOLVE_IN_DOUBT_RESPONSE__INIT;
    resp.applied = &ack;
    server_reply_ok(call, &resp.base);
}
