/* engine.h - the settlement engine: group commit of held legs per peer
 * (two-phase commit, coordinator side) and recovery (DESIGN.md §6).
 *
 * Per peer region one batcher thread gathers held legs (up to
 * batch_legs_max, or batch_window_ms after the first, whichever first) and
 * runs phase one of the batch: one Prepare to the peer, one store script
 * recording every decision (the commit point), the callers' completions.
 * It then hands the batch to the peer's decider thread for phase two (one
 * Decide to the peer, one store script marking the acknowledged legs done)
 * and goes on with the next batch: a batch is prepared while the previous
 * one's Decide is in flight, and at most one batch waits for phase two.
 *
 * The engine knows nothing of gRPC: it reaches peers through an
 * engine_transport_t that the gateway implements. */
#ifndef SETTLEMENT_ENGINE_H
#define SETTLEMENT_ENGINE_H

#include "settlement/ledger.h"
#include "settlement/store.h"
#include "settlement/use_reports.h"

#include <stddef.h>
#include <stdint.h>

#define ENGINE_PEERS_MAX 16
#define ENGINE_QUEUE_LEGS_MAX 65536     /* held legs waiting per peer, upper bound of the setting */
#define ENGINE_WAITERS_MAX 4096         /* callers waiting on a replayed transfer */
#define ENGINE_RECOVERY_SCAN_MAX 1000   /* legs looked at per recovery pass */
#define ENGINE_STORE_RETRIES_MAX 5      /* attempts of a batch script before giving up */

/* Histograms for metrics (fixed buckets, atomic counters, integers only).
 * Bucket i counts values <= bounds[i] (and > bounds[i-1]); bucket N counts
 * the rest (+Inf). Settlement latency runs from the hold (engine_submit) to
 * the durable decision (the commit-point script answered), in microseconds;
 * batch size is the legs of one Prepare sent by a batcher. */
#define ENGINE_LATENCY_BUCKETS 16
#define ENGINE_BATCH_BUCKETS 11
extern const uint64_t engine_latency_bounds_us[ENGINE_LATENCY_BUCKETS];
extern const uint64_t engine_batch_bounds_legs[ENGINE_BATCH_BUCKETS];

/* What the engine reports for the gateway's log (engine_config_t.on_event),
 * one call per leg, after the store recorded it. */
typedef enum {
    ENGINE_EVENT_DECIDED,          /* a batch's commit point: state COMMITTED or ABORTED */
    ENGINE_EVENT_PRESUMED_ABORT,   /* recovery aborted an expired hold (state ABORTED) */
    ENGINE_EVENT_DECISION_RESENT,  /* recovery re-sent a decision; the peer applied it */
    ENGINE_EVENT_DECISION_LEARNED, /* recovery decided a prepared destination leg
                                      from its coordinator's answer */
    ENGINE_EVENT_HEURISTIC_SETTLED, /* the coordinator answered for a leg an operator
                                       decided here; reason: AGREED, REAPPLIED, REVERSED */
    ENGINE_EVENT_HEURISTIC_MIXED,   /* HEURISTIC_MIXED: the destination holds the other
                                       outcome than the coordinator's (either side) */
    ENGINE_EVENT_DECISION_CONFLICT, /* a peer answered a decision with the other one
                                       without recording it HEURISTIC_MIXED */
    ENGINE_EVENT_BATCH_DECIDED,     /* once per batch after its legs' DECIDED events: tid "",
                                       committed_n and aborted_n of the batch to peer */
    ENGINE_EVENT_FOUND_DECIDED,     /* recovery meant to abort an expired hold and found it
                                       decided before (state as recorded): by its batch, a
                                       QueryDecision's presumed abort or another gateway */
    ENGINE_EVENT_LEG_DAMAGED,       /* the commit point or recovery left a HELD leg as it is,
                                       or a destination's decision a PREPARED one (state): its
                                       record, or what its decision writes first, is out of
                                       the store's format (reason: what) */
} engine_event_kind_t;

typedef struct {
    engine_event_kind_t kind;
    const char *tid;
    const char *peer;   /* the other region of the leg */
    transfer_state_t state; /* COMMITTED, ABORTED (or, for a presumed abort that
                               found the leg decided already, what it found) */
    const char *reason; /* "" or the abort reason */
    size_t committed_n, aborted_n; /* BATCH_DECIDED only */
} engine_event_t;

/* Called from engine threads, concurrently: must be thread-safe and must not
 * call back into the engine. ev and its strings are borrowed for the call. */
typedef void (*engine_event_fn)(void *ctx, const engine_event_t *ev);

typedef struct {
    char region[CARBON_REGION_SIZE];
    char peers[ENGINE_PEERS_MAX][CARBON_REGION_SIZE];
    size_t peers_n;
    store_config_t store;
    uint32_t batch_legs_max;     /* 1..LEDGER_BATCH_LEGS_MAX */
    uint32_t batch_window_ms;
    uint32_t peer_timeout_ms;
    uint32_t recovery_interval_ms;
    uint32_t queue_legs_max;     /* per peer, 1..ENGINE_QUEUE_LEGS_MAX */
    uint32_t message_bytes_max;  /* a Prepare's bytes at most (0: no limit); a peer's
                                    own limit, learned by hello, may lower it */
    engine_event_fn on_event;    /* NULL: nothing reported */
    void *event_ctx;
    use_reports_t *use_reports;  /* NULL: none; else recovery sends each peer the use
                                    reports due to it, within its limits (borrowed) */
} engine_config_t;

typedef struct {
    int yes;
    char reason[LEDGER_REASON_MAX + 1]; /* a name of settlement/reasons.h ("" for yes) */
    char detail[LEDGER_DETAIL_MAX + 1]; /* "" or the no's detail (reason_detail_valid) */
} engine_vote_t;

/* How the engine reaches peers. Each function returns 0 when the peer
 * answered (results filled, one per leg, in order), or -1 with the reason in
 * err when nothing is known (unreachable, timeout, error status). They are
 * called from engine threads, concurrently for different peers. */
typedef struct {
    void *ctx;
    int (*prepare)(void *ctx, const char *peer, uint64_t batch_seq,
                   const ledger_leg_t *const *legs, size_t n, int64_t timeout_ms,
                   engine_vote_t *votes, char *err, size_t errlen);
    /* decisions[i] is 'C' or 'A'; applied[i] gets 'C', 'A' or 'U'. */
    int (*decide)(void *ctx, const char *peer, uint64_t batch_seq, const char *const *tids,
                  const char *decisions, size_t n, int64_t timeout_ms, char *applied, char *err,
                  size_t errlen);
    /* decisions[i] gets 'C', 'A' or 'U' (the peer has no record). */
    int (*query)(void *ctx, const char *peer, const char *const *tids, size_t n,
                 int64_t timeout_ms, char *decisions, char *err, size_t errlen);
    /* Optional (NULL: none). Asks the peer's limits: *legs_max items per
     * message and *bytes_max bytes per message (0: the peer did not say). */
    int (*hello)(void *ctx, const char *peer, int64_t timeout_ms, uint32_t *legs_max,
                 uint32_t *bytes_max, char *err, size_t errlen);
    /* Optional (NULL: never confirmed). Asks origin whether it committed
     * each of the n destination legs (legs[i]->peer their source, ->to the
     * account here, every block of origin's issue): answers[i] gets 'C'
     * (committed the same leg), 'A' (aborted, refused, never prepared, other
     * content) or 'U' (prepared, undecided). at_prepare: asked before this
     * region votes on them; a leg the origin has no record of is then 'U'
     * if the origin could still vote yes to it, 'A' if not, and why[i] (why
     * may be NULL) gets the origin's reason for an 'A' ("" if it gave none).
     * Returns 0 (answers filled), 1 (at_prepare asked of an origin too old to
     * honour it: no answers) or -1 (no answer; err says why). */
    int (*confirm)(void *ctx, const char *origin, const ledger_leg_t *const *legs, size_t n,
                   int at_prepare, int64_t timeout_ms, char *answers, char (*why)[LEDGER_REASON_MAX + 1],
                   char *err, size_t errlen);
} engine_transport_t;

/* Called once per submitted or awaited leg, from an engine thread, with the
 * leg's state: COMMITTED or ABORTED (with reason) when decided; HELD when a
 * wait ran out of time; "" with reason STORE_UNAVAILABLE when the decision
 * could not be recorded (recovery will settle it). leg is borrowed. */
typedef void (*engine_done_fn)(void *arg, const ledger_leg_t *leg);

typedef struct engine engine_t;

/* Creates the engine (no threads yet). NULL with the reason in err. cfg and
 * transport are copied. */
engine_t *engine_create(const engine_config_t *cfg, const engine_transport_t *transport,
                        char *err, size_t errlen);

/* Starts the batcher and recovery threads (they open their own store
 * connections). 0, or -1 with the reason. */
int engine_start(engine_t *e, char *err, size_t errlen);

/* Reserves room for one leg to peer before holding it, so that a full queue
 * refuses the transfer before any state changes. 0, -1 unknown peer, -2 full. */
int engine_reserve(engine_t *e, const char *peer);
/* Gives a reservation back (the hold was refused). */
void engine_unreserve(engine_t *e, const char *peer);

/* Hands a freshly HELD leg (moved in: the engine frees its blocks) to its
 * peer's batcher, using a reservation. done is called exactly once. */
void engine_submit(engine_t *e, ledger_leg_t *leg, engine_done_fn done, void *arg);

/* Calls done when leg tid is decided (by this engine, another process or
 * recovery) or when deadline_ms (wall clock) passes. Returns -1 if too many
 * callers wait already (done is not called then). */
int engine_wait(engine_t *e, const char *tid, uint64_t deadline_ms, engine_done_fn done,
                void *arg);

/* Runs one recovery pass now, in the caller's thread, with the given store
 * connection. Returns the number of legs it settled or re-sent.
 * Precondition: no other pass runs at the same time (the pass uses the
 * engine's recovery arrays, allocated once by engine_create); the engine's
 * recovery thread is the only caller in gatewayd, and a broken
 * precondition stops the process (CARBON_ASSERT). */
int engine_recover_once(engine_t *e, store_t *st);

/* Records what peer accepts (from its Hello): at most legs_max legs,
 * decisions or ids and bytes_max bytes per message (0: not said, the
 * engine's own limit). Every batch and every recovery message to peer stays
 * within the lower of these and the engine's own batch_legs_max and
 * message_bytes_max. Unknown peers are ignored. Thread-safe. */
void engine_set_peer_limits(engine_t *e, const char *peer, uint32_t legs_max, uint32_t bytes_max);

/* The bytes a message to peer may have: the lower of the engine's
 * message_bytes_max and what peer announced in its Hello (an announcement
 * below 1 KiB is ignored, as for Prepares); 0 when neither says (no limit).
 * Unknown peers: the engine's own. Thread-safe. */
uint32_t engine_peer_message_bytes_max(engine_t *e, const char *peer);

/* Destination (DESIGN §6 provenance): before the n decisions d from source
 * are applied (ledger_dest_decide), asks the origin X of each COMMIT whose
 * leg here holds a third region's serials (X neither source nor this
 * region) whether X committed the same leg: one call per X per chunk of
 * X's limits, each waiting at most timeout_ms. Sets d[i].origin_confirm to
 * 'C', 'A' or 'U' (X undecided, or unreachable) for those legs; leaves it 0
 * for the others. A leg whose store read fails stays 0 (the decide script
 * then keeps it waiting). Thread-safe; st is the caller's connection. */
void engine_confirm_origins(engine_t *e, store_t *st, const char *source, ledger_dest_decision_t *d,
                            size_t n, int64_t timeout_ms);

/* Destination (DESIGN §6 provenance), before it votes on a Prepare from
 * source: asks the origin X of each leg p[i] whose serials are a third
 * region's (X neither source nor this region; precheck still "") whether X
 * could still vote yes to it (ConfirmOrigin at_prepare: X's map places the
 * serials live at source, unlocked, under their labels; or X prepared or
 * committed the same leg). One call per X per chunk of X's limits, all
 * within timeout_ms, and only if the origin-ask gate lets source
 * (engine_set_origin_ask_gate). A leg X answers ABORT gets precheck X's
 * reason (SERIALS_NOT_AT_SOURCE, SERIALS_LOCKED or SERIALS_MISLABELLED;
 * another text: SERIALS_NOT_AT_SOURCE), one X does not answer (or the gate
 * stops) PEER_UNAVAILABLE: voted no, it claims nothing here. An X too old
 * to honour at_prepare leaves the legs as they were. So a source cannot
 * make this region claim, in its serial index, a third region's serials
 * the source does not hold at that moment (which refused every honest
 * transfer of them here, SERIALS_OVERLAP, until that leg was resolved).
 * X locks nothing for it: a source that holds them may still have them
 * claimed here and then move them on (see README). Thread-safe. */
void engine_vouch_origins(engine_t *e, const char *source, ledger_prepare_t *p, size_t n, int64_t timeout_ms);

/* Sets the gate on the calls to a serials' origin made on a source's behalf
 * (engine_vouch_origins, engine_dest_decide, recovery's): ok(arg, source)
 * is asked once before each round of them; 0 skips the round (its legs are
 * left as unanswered: voted no PEER_UNAVAILABLE at prepare, left undecided
 * at a decision). ok NULL: no gate. Call before the engine serves. */
void engine_set_origin_ask_gate(engine_t *e, int (*ok)(void *arg, const char *source), void *arg);

/* Destination: applies the n decisions d from source (ledger_dest_decide),
 * asking the serials' origin only where the store needs its word. The
 * first script runs every decision with origin_confirm unset, so a COMMIT
 * of a leg holding a third region's serials changes nothing there and is
 * answered 'U' (or 'M' if its origin denied it before) with origin_wait;
 * only those legs are then read (engine_confirm_origins) and, where the
 * origin answered, decided again with its word. A batch of no such leg
 * costs one script and no read per leg, whatever its ids. d[i].applied and
 * heuristic_outcome are the outcome; d[i].origin_confirm is what the origin
 * answered ('C', 'A', 'U') or 0 if it was not asked. LEDGER_OK, or the
 * first script's store error (nothing applied by this call then). Should
 * the second script fail, its legs are answered 'U' (not asked: 0), the
 * call is LEDGER_OK with err set (the caller logs it; "" otherwise), and
 * the source sends those decisions again. A leg the store left PREPARED
 * because its record or account is out of the store's format (d[i].damaged)
 * is answered 'U' and reported as ENGINE_EVENT_LEG_DAMAGED. Thread-safe; st
 * is the caller's connection. */
int engine_dest_decide(engine_t *e, store_t *st, const char *source, ledger_dest_decision_t *d,
                       size_t n, int64_t timeout_ms, char *err, size_t errlen);

/* Stops taking legs, settles every queued one, stops the threads. */
void engine_stop(engine_t *e);
void engine_destroy(engine_t *e);

/* The steps of a batch at its source, each timed by the thread that runs
 * it (engine_stats_t.phase_us): where a batch's time goes. */
typedef enum {
    ENGINE_PHASE_WAIT,    /* the batcher, once a leg is queued, waiting for more legs or for
                           * the previous batch's Decide (engine_batch_gather; not idle time) */
    ENGINE_PHASE_OPEN,    /* numbering and recording the batch before its Prepare (batch_open) */
    ENGINE_PHASE_PREPARE, /* the Prepare to the peer and to the origins of third-region
                           * serials, retries included, until they vote */
    ENGINE_PHASE_COMMIT,  /* the commit point's script */
    ENGINE_PHASE_ANSWER,  /* answering the batch's callers */
    ENGINE_PHASE_HAND,    /* waiting for the decider to take the batch (the previous
                           * batch's Decide still out) */
    ENGINE_PHASE_DECIDE,  /* phase two, on the decider: the Decide to the origins and the
                           * peer, and recording their acknowledgements */
    ENGINE_PHASES
} engine_phase_t;

/* The metric label of phase ("wait", "open", ...). */
const char *engine_phase_name(engine_phase_t phase);

typedef struct {
    uint64_t batches;
    uint64_t legs_committed;
    uint64_t legs_aborted;
    uint64_t prepare_failures;
    uint64_t decide_failures;
    uint64_t recovered;
    /* histograms: per-bucket counts (not cumulative), [N] is +Inf */
    uint64_t latency_us_buckets[ENGINE_LATENCY_BUCKETS + 1];
    uint64_t latency_us_sum;
    uint64_t batch_legs_buckets[ENGINE_BATCH_BUCKETS + 1];
    uint64_t batch_legs_sum;
    /* microseconds spent in each step of the batches this engine sent as
     * source, since start (engine_phase_t) */
    uint64_t phase_us[ENGINE_PHASES];
    /* legs in doubt found by this engine's last recovery scan: PREPARED
     * destination legs past their expiry plus decided source legs past their
     * expiry and not yet acknowledged (0 before the first scan; only the
     * lease holder scans; at most 2 * ENGINE_RECOVERY_SCAN_MAX) */
    uint64_t legs_in_doubt;
    /* HEURISTIC_MIXED legs kept in the store, either role (from the last
     * recovery pass; only the lease holder scans) */
    uint64_t legs_heuristic_mixed;
    /* Decide answers that held the other outcome than the decision sent
     * (HEURISTIC_MIXED or not), since start */
    uint64_t decision_conflicts;
} engine_stats_t;
void engine_get_stats(engine_t *e, engine_stats_t *out);

#endif
