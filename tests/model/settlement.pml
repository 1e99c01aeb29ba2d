/* settlement.pml - the settlement protocol of DESIGN §6 as a Promela model.
 *
 * Two-phase commit with presumed abort between three regions, with the
 * serial provenance of DESIGN §6 (the origin region X is a second participant
 * when it is a third party). Every transition is one atomic step named after
 * the Lua script or C handler that implements it (tests/model/README.md has
 * the table). Durable state (what a region's store holds) is kept apart from
 * volatile state (what a gateway holds in memory); a crash loses the latter.
 *
 * Transfers (both over the same serial block, origin X):
 *   T1 (t=0): S -> D; X is the third-party origin: a second participant.
 *   T2 (t=1): S -> X (coming home; competes with T1 for the serial), or with
 *             -DCHAIN: D -> X (the serial goes home after T1 brought it to D).
 *
 * The environment (proctype Env) loses and duplicates messages (budget
 * NET_FAULTS), reorders them (a channel is a bag: any message may be taken
 * first), crashes gateways (budget CRASHES), lets each region observe each
 * leg's expiry at its own time, lets the recovery lease of region S expire
 * (budget LEASE_TTLS), retires the serial where it is, lets a hostile or
 * store-damaged source hold a serial it does not have (budget FORGES), lets
 * a hostile source send the destination D a COMMIT of T1 it never decided
 * (budget FORGE_DECIDES), and lets an operator force a prepared
 * destination's leg past its expiry (budget HEURISTICS; never the origin's:
 * ResolveInDoubt refuses an origin's leg).
 *
 * The destination's confirmation (ConfirmOrigin): D applies a COMMIT of
 * T1 (X's serials, X a third region) only if X committed the same leg; X
 * still prepared: D changes nothing (unknown); X aborted, refused or never
 * prepared it: D marks its leg L_DENIED (ORIGIN_DENIED: the pending credit
 * stays, not spendable) until the source's ABORT drops it or a COMMIT X
 * confirms applies it.
 *
 * Compile-time switches (spin -D...):
 *   CHAIN              T2 is D -> X instead of S -> X
 *   LIVE               the environment may turn calm (no more faults) and the
 *                      claim live (weak fairness) asks that every transfer
 *                      then becomes final; use with pan -a -f -N live
 *   NAIVE_ORIGIN       the origin checks only that its map places the range at
 *                      the sender, not that no prepared leg has it locked
 *                      (the provenance design as first written: fails)
 *   Mutations, each must yield a counterexample:
 *   MUT_DECIDE_ALONE   a participant that voted yes aborts alone at expiry
 *   MUT_SKIP_ORIGIN    the origin's check is skipped
 *   MUT_PA_AFTER       presumed abort is applied to a leg already decided
 *   MUT_NO_HEUR_FLAG   a forced decision is recorded without the heuristic flag
 *   MUT_NO_CONFIRM     D credits a third region's serials without the
 *                      origin's confirmation (use with FORGE_DECIDES)
 *   MUT_NO_RESEND      recovery never re-sends a decision (liveness fails)
 */

#ifndef NET_FAULTS
#define NET_FAULTS 2
#endif
#ifndef CRASHES
#define CRASHES 2
#endif
#ifndef FORGES
#ifdef CHAIN
#define FORGES 0
#else
#define FORGES 1
#endif
#endif
#ifndef HEURISTICS
#define HEURISTICS 1
#endif
#ifndef RETIRES
#define RETIRES 1
#endif
#ifndef FORGE_DECIDES
#define FORGE_DECIDES 0
#endif
#ifndef SEE_OK
#define SEE_OK 1 /* unused */
#endif
#define CAP 2 /* copies of one message a channel holds */

/* regions */
#define S 0
#define D 1
#define X 2
#define NOBODY 3
#define ORIGIN X

/* transfers */
#define NT 2
#define SRC(t) ((t) == 0 -> S : T2_SRC)
#ifdef CHAIN
#define T2_SRC D
#else
#define T2_SRC S
#endif
#define DST(t) ((t) == 0 -> D : X)
#define THIRD(t) ((t) == 0 -> X : NOBODY)
/* participant slot pi of t: 0 the destination, 1 the third-party origin */
#define PART(t, pi) ((pi) == 0 -> DST(t) : THIRD(t))
#define NPART(t) ((t) == 0 -> 2 : 1)

/* leg states, one per (transfer, region) in that region's store */
#define L_NONE 0
#define L_HELD 1      /* source: hold (transfer_hold) */
#define L_COMMITTED 2
#define L_ABORTED 3
#define L_PREPARED 4  /* participant: voted yes, pending */
#define L_REFUSED 5   /* participant: voted no */
#define L_HC 6        /* participant: forced COMMIT, flagged heuristic */
#define L_HA 7        /* participant: forced ABORT, flagged heuristic */
#define L_MIXED 8     /* HEURISTIC_MIXED: listed and alarmed */
#define L_DENIED 9    /* participant D: prepared, its COMMIT denied by the origin (ORIGIN_DENIED) */

/* transfer progress at its source (Registry.Transfer) */
#define T_NEW 0
#define T_STARTED 1
#define T_FAILED 2 /* INSUFFICIENT_BALANCE: nothing held */

/* message kinds: a channel is (transfer, participant slot, kind), a bag */
#define K_PREP 0
#define K_VOTE_Y 1
#define K_VOTE_N 2
#define K_DEC_C 3
#define K_DEC_A 4
#define K_ACK_C 5
#define K_ACK_A 6
#define K_ACK_U 7
#define K_QRY 8
#define K_ANS_C 9
#define K_ANS_A 10
#define K_ANS_U 11
#define NK 12
#define NI(t, pi, k) ((((t) * 2) + (pi)) * NK + (k))
#define NNET (NT * 2 * NK)

/* gateways: 0 and 1 share region S's store; 2 is D's, 3 is X's */
#define NG 4
/* The gateway whose Registry.Transfer takes T's hold (symmetry: which of
 * S's two gateways it is does not matter; T1 and T2 are in different ones) */
#define HOLDER_GW(T) ((T) == 0 -> 0 : (T2_SRC == S -> 1 : 2))
#define REGION_OF(g) ((g) < 2 -> S : (g) - 1)

/* ---- durable state: the stores ---- */
byte leg[NT * 3];     /* leg[t*3+r] */
bit acked[NT * 2];    /* source store: participant slot acknowledged the decision */
bit acct[3];          /* the serial is in an account of region r */
bit retired[3];       /* the serial is retired at region r (spent) */
byte map = S;         /* the origin X's map: where its serial is (a region) */
byte lock = 0;        /* X's map entry locked by the prepared leg of transfer lock-1 */

/* ---- ghost state (not in any store; for the properties) ---- */
byte tst[NT];         /* T_NEW / T_STARTED / T_FAILED */
bit forged[NT];       /* the source held a serial it did not have */
bit forged_dec;       /* a hostile source sent D a COMMIT of T1 it did not decide */
bit voted_yes[NT * 2];
byte spends;          /* retirements of the serial, over all regions */
bit calm;             /* LIVE: faults have stopped */
bit all_final = 1;    /* ALL_FINAL, kept after each step for the claim live */

/* ---- volatile state: gateway memory ---- */
byte cph[NT];         /* the batch of t is running (engine_run_batch) */
byte cgw[NT];         /* the gateway whose memory holds that batch */
bit vyes[NT * 2];     /* votes received by the batch */
bit vno[NT];
bit expired[NT];      /* the tick: t's expiry has passed (each region may see it late) */

/* ---- the network ---- */
byte net[NNET];

/* ---- budgets ---- */
byte net_faults = NET_FAULTS;
byte crashes = CRASHES;
byte forges = FORGES;
byte heuristics = HEURISTICS;
byte retires = RETIRES;
byte forge_decides = FORGE_DECIDES;

#define LEG(t, r) leg[(t) * 3 + (r)]
#define SEEN(t, r) expired[t] /* region r may have seen it: every use is optional */
#define SEND(i) net[i] = (net[i] < CAP -> net[i] + 1 : net[i])
#define IDLE2(t, pi, a, b) (net[NI(t, pi, a)] == 0 && net[NI(t, pi, b)] == 0)
#define IS_HEUR(s) ((s) == L_HC || (s) == L_HA || (s) == L_MIXED)
#define DECIDED(s) ((s) == L_COMMITTED || (s) == L_ABORTED)

/* Where the serial is, counted as DESIGN §9.1 and settlement/checker.c count
 * it over the three stores: accounts, retired, holds, and pending credits
 * of transfers their source committed. */
#define PENDING_AT_D(t) (LEG(t, DST(t)) == L_PREPARED || LEG(t, DST(t)) == L_DENIED)
#define PENDING_LIVE(t) (!forged[t] && LEG(t, SRC(t)) == L_COMMITTED && PENDING_AT_D(t))
#define HELD_LIVE(t) (!forged[t] && LEG(t, SRC(t)) == L_HELD)
#define PLACES (acct[S] + acct[D] + acct[X] + retired[S] + retired[D] + retired[X] + \
                HELD_LIVE(0) + HELD_LIVE(1) + PENDING_LIVE(0) + PENDING_LIVE(1))
/* a forced decision is open (not yet met by the coordinator's) or MIXED */
#define HEUR_ANY (IS_HEUR(LEG(0, D)) || IS_HEUR(LEG(0, X)) || IS_HEUR(LEG(1, X)))
#define MIXED_ANY (LEG(0, D) == L_MIXED || LEG(0, X) == L_MIXED || LEG(1, X) == L_MIXED)
bit heur_flagged; /* a forced decision met the coordinator's (closed or converged): for the trail */

/* The region the serial is in, if one place holds it. */
#define HOLDER (acct[S] || retired[S] || HELD_LIVE(0) || (HELD_LIVE(1) && SRC(1) == S) -> S : \
               (acct[D] || retired[D] || PENDING_LIVE(0) || (HELD_LIVE(1) && SRC(1) == D) -> D : X))

/* Participant slot pi of t: voted yes and decided, so its source decided the same. */
#define ALONE_OK(t, pi) (!voted_yes[(t) * 2 + (pi)] || \
    !(LEG(t, PART(t, pi)) == L_COMMITTED || LEG(t, PART(t, pi)) == L_ABORTED) || \
    LEG(t, SRC(t)) == LEG(t, PART(t, pi)))
/* Source decided and every participant acknowledged: all legs agree or MIXED. */
#define ATOMIC_OK(t) (!(DECIDED(LEG(t, SRC(t))) && acked[(t) * 2] && (NPART(t) == 1 || acked[(t) * 2 + 1])) || \
    ((LEG(t, DST(t)) == LEG(t, SRC(t)) || LEG(t, DST(t)) == L_MIXED || \
      (LEG(t, SRC(t)) == L_ABORTED && (LEG(t, DST(t)) == L_REFUSED))) && \
     (NPART(t) == 1 || LEG(t, X) == LEG(t, SRC(t)) || LEG(t, X) == L_MIXED || \
      (LEG(t, SRC(t)) == L_ABORTED && LEG(t, X) == L_REFUSED))))
#define FINAL(t) (tst[t] != T_STARTED || (DECIDED(LEG(t, SRC(t))) && acked[(t) * 2] && \
    (NPART(t) == 1 || acked[(t) * 2 + 1]) && ATOMIC_OK(t)))
#define ALL_FINAL (FINAL(0) && FINAL(1))

/* The safety properties, checked after every transition (tests/model/README.md). */
/* A source that held a serial it did not have (hostile, or its store lost
 * writes) is not trusted to keep its own store right: then the honest
 * regions' stores count. */
#define FORGED_ANY (forged[0] || forged[1] || forged_dec)
#define PEND_AT(t) (LEG(t, SRC(t)) == L_COMMITTED && PENDING_AT_D(t))
#define HONEST_PLACES (acct[D] + acct[X] + retired[D] + retired[X] + PEND_AT(0) + PEND_AT(1))
#define P1_ATOMIC (ATOMIC_OK(0) && ATOMIC_OK(1))
#define P2_ONE_PLACE (HEUR_ANY || (FORGED_ANY -> HONEST_PLACES <= 1 : PLACES == 1))
#define P3_SPENT_ONCE (HEUR_ANY || (FORGED_ANY -> retired[D] + retired[X] <= 1 : spends <= 1))
/* a move of the serial is in flight at the origin: one of its legs is prepared */
#define X_IN_FLIGHT (LEG(0, X) == L_PREPARED || LEG(1, X) == L_PREPARED)
#define P4_MAP (X_IN_FLIGHT || HEUR_ANY || FORGED_ANY || PLACES != 1 || map == HOLDER)
/* (a hostile source's forged COMMIT is a decision D did not take alone:
 * what it may cost is P2's business, D's confirmation by X its defence) */
#define P5_NOT_ALONE (ALONE_OK(0, 0) && ALONE_OK(0, 1) && ALONE_OK(1, 0) || forged_dec)
#define CHECK \
    all_final = ALL_FINAL; \
    if :: !P1_ATOMIC -> printf("MODEL VIOLATION: P1 legs disagree and no HEURISTIC_MIXED\n"); assert(false) :: else fi; \
    if :: !P2_ONE_PLACE -> printf("MODEL VIOLATION: P2 the serial is not in exactly one place\n"); assert(false) :: else fi; \
    if :: !P3_SPENT_ONCE -> printf("MODEL VIOLATION: P3 the serial is spent twice\n"); assert(false) :: else fi; \
    if :: !P4_MAP -> printf("MODEL VIOLATION: P4 the origins map disagrees with the holdings\n"); assert(false) :: else fi; \
    if :: !P5_NOT_ALONE -> printf("MODEL VIOLATION: P5 a participant decided alone after voting yes\n"); assert(false) :: else fi

/* ---- source side --------------------------------------------------------- */

/* transfer_hold.lua (Registry.Transfer, engine_submit): moves the serial from
 * the account into a hold; the batch that will prepare it lives in gateway
 * g's memory. */
inline transfer_hold(t, g) {
    if
    :: acct[SRC(t)] -> acct[SRC(t)] = 0; LEG(t, SRC(t)) = L_HELD; tst[t] = T_STARTED
    :: !acct[SRC(t)] && forges > 0 && t == 1 && !calm ->
       forges--; forged[t] = 1; LEG(t, SRC(t)) = L_HELD; tst[t] = T_STARTED
    :: else -> tst[t] = T_FAILED
    fi;
    if
    :: tst[t] == T_STARTED -> cph[t] = 1; cgw[t] = g
    :: else
    fi
}

/* Drops the votes addressed to a batch that no longer exists. */
inline votes_purge(t) {
    net[NI(t, 0, K_VOTE_Y)] = 0; net[NI(t, 0, K_VOTE_N)] = 0;
    net[NI(t, 1, K_VOTE_Y)] = 0; net[NI(t, 1, K_VOTE_N)] = 0;
    vyes[(t) * 2] = 0; vyes[(t) * 2 + 1] = 0; vno[t] = 0
}

/* source_decide.lua: the commit point, a compare-and-set on HELD. ABORTED
 * returns the hold to the account. */
inline source_decide(t, commit) {
    if
    :: LEG(t, SRC(t)) == L_HELD && commit -> LEG(t, SRC(t)) = L_COMMITTED
    :: LEG(t, SRC(t)) == L_HELD && !commit ->
       LEG(t, SRC(t)) = L_ABORTED; acct[SRC(t)] = (forged[t] -> acct[SRC(t)] : 1)
    :: else
    fi
}

/* engine_send_decisions: Federation.Decide with the decision as recorded. */
inline send_decision(t, pi) {
    if
    :: LEG(t, SRC(t)) == L_COMMITTED -> SEND(NI(t, pi, K_DEC_C))
    :: LEG(t, SRC(t)) == L_ABORTED -> SEND(NI(t, pi, K_DEC_A))
    fi
}

/* ---- participant side ------------------------------------------------------ */

/* dest_prepare.lua (Federation.Prepare handler): a new leg is checked and
 * recorded PREPARED (vote yes) or REFUSED (vote no); a known leg gets the
 * same vote again. At the destination: not expired by its clock, and no
 * overlap with what it holds. At the origin X (DESIGN §6 provenance): its
 * map places the range at the sender, and no prepared leg has it locked. */
#define PP PART(t, pi)
#define DEST_REFUSES (PP == DST(t) && (acct[PP] || retired[PP]))
#define EXPIRY_REFUSES (PP == DST(t) && SEEN(t, PP)) /* an option: it may not have seen it yet */
#ifdef MUT_SKIP_ORIGIN
#define ORIGIN_REFUSES 0
#elif defined(NAIVE_ORIGIN)
#define ORIGIN_REFUSES (PP == ORIGIN && map != SRC(t))
#else
#define ORIGIN_REFUSES (PP == ORIGIN && (map != SRC(t) || lock != 0))
#endif
inline dest_prepare(t, pi) {
    if
    :: LEG(t, PP) == L_NONE && !DEST_REFUSES && !ORIGIN_REFUSES ->
       LEG(t, PP) = L_PREPARED; voted_yes[(t) * 2 + (pi)] = 1;
       if :: PP == ORIGIN -> lock = t + 1 :: else fi;
       SEND(NI(t, pi, K_VOTE_Y))
    :: LEG(t, PP) == L_NONE && (DEST_REFUSES || ORIGIN_REFUSES || EXPIRY_REFUSES) ->
       LEG(t, PP) = L_REFUSED; SEND(NI(t, pi, K_VOTE_N))
    :: LEG(t, PP) == L_PREPARED || LEG(t, PP) == L_COMMITTED || LEG(t, PP) == L_HC || LEG(t, PP) == L_DENIED ->
       SEND(NI(t, pi, K_VOTE_Y))
    :: else -> SEND(NI(t, pi, K_VOTE_N))
    fi
}

/* The effect of a decision on participant slot pi's store: the destination's
 * pending credit goes to the account or is dropped; the origin's map moves
 * to the destination (or home) and its lock is released. */
inline apply_effect(t, pi, commit) {
    if
    :: commit && PP == DST(t) -> acct[PP] = 1
    :: else
    fi;
    if
    :: commit && PP == ORIGIN -> map = DST(t)
    :: else
    fi;
    if
    :: PP == ORIGIN && lock == t + 1 -> lock = 0
    :: else
    fi
}

/* engine_confirm_origins -> federation_confirm_origin at X (ConfirmOrigin):
 * before D applies a COMMIT of T1, X's word: 2 committed (or no third
 * region), 1 unknown (X still prepared), 0 denied (aborted, refused, never
 * prepared). MUT_NO_CONFIRM: D never asks. */
#ifdef MUT_NO_CONFIRM
#define CONFIRM(t) 2
#else
#define CONFIRM(t) (THIRD(t) == NOBODY -> 2 : (LEG(t, X) == L_COMMITTED -> 2 : (LEG(t, X) == L_PREPARED -> 1 : 0)))
#endif
/* a COMMIT at D that waits for, or is denied by, X */
#define GATED(t, commit) (commit && PP == DST(t) && CONFIRM(t) != 2)

/* dest_decide.lua (Federation.Decide handler, and recovery's application
 * of a QueryDecision answer): applies the coordinator's decision to a
 * prepared leg; records an ABORT for a leg never seen; a decided leg keeps
 * its state. A heuristic leg (DESIGN §6 heuristic decisions): agreement
 * closes it, disagreement converges where the credits are still there,
 * otherwise HEURISTIC_MIXED. ans gets what the participant now holds. */
inline dest_decide(t, pi, commit) {
    if
    :: LEG(t, PP) == L_NONE && !commit -> LEG(t, PP) = L_ABORTED; ans = K_ACK_A
    :: LEG(t, PP) == L_NONE && commit -> ans = K_ACK_U
    :: (LEG(t, PP) == L_PREPARED || LEG(t, PP) == L_DENIED) && !GATED(t, commit) ->
       apply_effect(t, pi, commit);
       LEG(t, PP) = (commit -> L_COMMITTED : L_ABORTED);
       ans = (commit -> K_ACK_C : K_ACK_A)
    :: (LEG(t, PP) == L_PREPARED || LEG(t, PP) == L_DENIED) && GATED(t, commit) ->
       /* origin_gate: unknown, nothing changes; denied: ORIGIN_DENIED, the
        * pending stays (the source's ack is HEURISTIC_MIXED; the model's
        * source ignores it: only a hostile source is ever denied) */
       if :: CONFIRM(t) == 0 -> LEG(t, PP) = L_DENIED :: else fi;
       ans = K_ACK_U
    :: LEG(t, PP) == L_COMMITTED -> ans = K_ACK_C
    :: LEG(t, PP) == L_ABORTED || LEG(t, PP) == L_REFUSED -> ans = K_ACK_A
    :: LEG(t, PP) == L_HC && commit -> LEG(t, PP) = L_COMMITTED; heur_flagged = 1; ans = K_ACK_C
    :: LEG(t, PP) == L_HC && !commit ->
       if
       :: PP == DST(t) && !acct[PP] -> LEG(t, PP) = L_MIXED   /* spent or moved on */
       :: else -> /* converge: take the forced credit back */
          if :: PP == DST(t) -> acct[PP] = 0 :: else fi;
          if :: PP == ORIGIN -> map = SRC(t) :: else fi;
          LEG(t, PP) = L_ABORTED; heur_flagged = 1
       fi;
       ans = K_ACK_A
    :: LEG(t, PP) == L_HA && !commit -> LEG(t, PP) = L_ABORTED; heur_flagged = 1; ans = K_ACK_A
    :: LEG(t, PP) == L_HA && GATED(t, commit) -> ans = K_ACK_U /* re-applying needs X's word */
    :: LEG(t, PP) == L_HA && commit && !GATED(t, commit) -> /* converge: credit from the leg's record */
       if :: PP == DST(t) -> acct[PP] = 1 :: else fi;
       if :: PP == ORIGIN -> map = DST(t) :: else fi;
       LEG(t, PP) = L_COMMITTED; heur_flagged = 1; ans = K_ACK_C
    :: LEG(t, PP) == L_MIXED -> ans = (commit -> K_ACK_C : K_ACK_A)
    fi
}

/* ---- gateways ------------------------------------------------------------------ */

/* The options of a gateway, one per leg (transfer T, participant slot PI):
 * each is one atomic step, named after what implements it. */

/* engine_batch_prepare: Federation.Prepare, in one round to every
 * participant that has not voted and has no earlier Prepare or vote in
 * flight (a retry after a timeout), until the commit point decides. */
#define PREP_IDLE(T, PI) (!vyes[T * 2 + PI] && net[NI(T, PI, K_PREP)] == 0 && IDLE2(T, PI, K_VOTE_Y, K_VOTE_N))
#define OPT_PREPARE_SEND(T) \
    :: atomic { SRC(T) == r && cph[T] && cgw[T] == g && !vno[T] && \
                (PREP_IDLE(T, 0) || (NPART(T) == 2 && PREP_IDLE(T, 1))) -> \
                if :: PREP_IDLE(T, 0) -> SEND(NI(T, 0, K_PREP)) :: else fi; \
                if :: NPART(T) == 2 && PREP_IDLE(T, 1) -> SEND(NI(T, 1, K_PREP)) :: else fi }

/* engine_batch_prepare: a vote (the Prepare's reply) reaches the batch. */
#define OPT_VOTE(T, PI) \
    :: atomic { SRC(T) == r && cph[T] && cgw[T] == g && net[NI(T, PI, K_VOTE_Y)] > 0 -> \
                net[NI(T, PI, K_VOTE_Y)]--; vyes[T * 2 + PI] = 1 } \
    :: atomic { SRC(T) == r && cph[T] && cgw[T] == g && net[NI(T, PI, K_VOTE_N)] > 0 -> \
                net[NI(T, PI, K_VOTE_N)]--; vno[T] = 1 }

/* engine_batch_commit -> source_decide.lua (the commit point: commit on
 * every yes, abort on a no or at the expiry), then engine_send_decisions. */
#define OPT_COMMIT_POINT(T) \
    :: atomic { SRC(T) == r && cph[T] && cgw[T] == g && \
                (vno[T] || SEEN(T, r) || (vyes[T * 2] && (NPART(T) == 1 || vyes[T * 2 + 1]))) -> \
                source_decide(T, (!vno[T] && vyes[T * 2] && (NPART(T) == 1 || vyes[T * 2 + 1]))); \
                cph[T] = 0; votes_purge(T); \
                send_decision(T, 0); \
                if :: NPART(T) == 2 -> send_decision(T, 1) :: else fi; \
                CHECK }

/* engine_send_decisions: the Decide's reply -> source_ack.lua, when the
 * participant applied the decision sent. */
#define OPT_ACK(T, PI) \
    :: atomic { SRC(T) == r && net[NI(T, PI, K_ACK_C)] > 0 -> net[NI(T, PI, K_ACK_C)]--; \
                if :: LEG(T, r) == L_COMMITTED -> acked[T * 2 + PI] = 1 :: else fi; CHECK } \
    :: atomic { SRC(T) == r && net[NI(T, PI, K_ACK_A)] > 0 -> net[NI(T, PI, K_ACK_A)]--; \
                if :: LEG(T, r) == L_ABORTED -> acked[T * 2 + PI] = 1 :: else fi; CHECK } \
    :: atomic { SRC(T) == r && net[NI(T, PI, K_ACK_U)] > 0 -> net[NI(T, PI, K_ACK_U)]-- }

/* federation_query_decision: answers from the record; a HELD leg is aborted
 * first (presumed abort, source_decide.lua). */
#define OPT_QUERY_DECISION(T, PI) \
    :: atomic { SRC(T) == r && net[NI(T, PI, K_QRY)] > 0 -> net[NI(T, PI, K_QRY)]--; \
                source_decide(T, 0); \
                if \
                :: LEG(T, r) == L_COMMITTED -> SEND(NI(T, PI, K_ANS_C)) \
                :: LEG(T, r) == L_ABORTED -> SEND(NI(T, PI, K_ANS_A)) \
                :: else -> SEND(NI(T, PI, K_ANS_U)) \
                fi; CHECK }

#ifdef MUT_PA_AFTER
#define OPT_PA_AFTER(T) \
    :: atomic { SRC(T) == r && SEEN(T, r) && LEG(T, r) == L_COMMITTED && \
                !(acked[T * 2] && (NPART(T) == 1 || acked[T * 2 + 1])) -> \
                LEG(T, r) = L_ABORTED; acct[r] = (forged[T] -> acct[r] : 1); CHECK }
#else
#define OPT_PA_AFTER(T)
#endif

/* engine_recover_expired_holds -> source_decide.lua (only_if_expired), by
 * the holder of region S's recovery lease. */
#define OPT_PRESUMED_ABORT(T) \
    :: atomic { SRC(T) == r && SEEN(T, r) && LEG(T, r) == L_HELD -> \
                source_decide(T, 0); CHECK } \
    OPT_PA_AFTER(T)

/* engine_recover_resend: a decision not acknowledged is sent again (when the
 * previous one is no longer in flight: a timeout). */
#ifdef MUT_NO_RESEND
#define RESENDS 0
#else
#define RESENDS 1
#endif
#define OPT_RESEND(T, PI) \
    :: atomic { RESENDS && SRC(T) == r && DECIDED(LEG(T, r)) && !acked[T * 2 + PI] && \
                IDLE2(T, PI, K_DEC_C, K_DEC_A) && IDLE2(T, PI, K_ACK_C, K_ACK_A) && \
                net[NI(T, PI, K_ACK_U)] == 0 -> send_decision(T, PI) }

/* federation_prepare -> dest_prepare.lua */
#define OPT_PREPARE(T, PI) \
    :: atomic { PART(T, PI) == r && net[NI(T, PI, K_PREP)] > 0 -> net[NI(T, PI, K_PREP)]--; \
                dest_prepare(T, PI); CHECK }

/* federation_decide -> dest_decide.lua, and the ack */
#define OPT_DECIDE(T, PI) \
    :: atomic { PART(T, PI) == r && net[NI(T, PI, K_DEC_C)] > 0 -> net[NI(T, PI, K_DEC_C)]--; \
                dest_decide(T, PI, 1); SEND(NI(T, PI, ans)); ans = 0; CHECK } \
    :: atomic { PART(T, PI) == r && net[NI(T, PI, K_DEC_A)] > 0 -> net[NI(T, PI, K_DEC_A)]--; \
                dest_decide(T, PI, 0); SEND(NI(T, PI, ans)); ans = 0; CHECK }

/* engine_recover_ask: QueryDecision for an expired prepared leg, one
 * question in flight at a time. */
#ifdef MUT_DECIDE_ALONE
#define ALONE(T, PI) \
    :: atomic { PART(T, PI) == r && LEG(T, r) == L_PREPARED && SEEN(T, r) -> \
                apply_effect(T, PI, 0); LEG(T, r) = L_ABORTED; CHECK }
#else
#define ALONE(T, PI)
#endif
#define OPT_ASK(T, PI) \
    :: atomic { PART(T, PI) == r && LEG(T, r) == L_PREPARED && SEEN(T, r) && \
                net[NI(T, PI, K_QRY)] == 0 && IDLE2(T, PI, K_ANS_C, K_ANS_A) && \
                net[NI(T, PI, K_ANS_U)] == 0 -> SEND(NI(T, PI, K_QRY)) } \
    ALONE(T, PI)

/* engine_recover_ask_chunk -> dest_decide.lua with the coordinator's answer */
#define OPT_LEARN(T, PI) \
    :: atomic { PART(T, PI) == r && net[NI(T, PI, K_ANS_C)] > 0 -> net[NI(T, PI, K_ANS_C)]--; \
                dest_decide(T, PI, 1); ans = 0; CHECK } \
    :: atomic { PART(T, PI) == r && net[NI(T, PI, K_ANS_A)] > 0 -> net[NI(T, PI, K_ANS_A)]--; \
                dest_decide(T, PI, 0); ans = 0; CHECK } \
    :: atomic { PART(T, PI) == r && net[NI(T, PI, K_ANS_U)] > 0 -> net[NI(T, PI, K_ANS_U)]-- }

#define LEG_OPTS(T, PI) OPT_VOTE(T, PI) OPT_ACK(T, PI) \
    OPT_QUERY_DECISION(T, PI) OPT_RESEND(T, PI) OPT_PREPARE(T, PI) OPT_DECIDE(T, PI) \
    OPT_ASK(T, PI) OPT_LEARN(T, PI)
#define TRANSFER_OPTS(T) OPT_PREPARE_SEND(T) OPT_COMMIT_POINT(T) OPT_PRESUMED_ABORT(T) \
    :: atomic { SRC(T) == r && g == HOLDER_GW(T) && tst[T] == T_NEW -> transfer_hold(T, g); CHECK }

/* One gateway g of region r: its batcher (engine_run_batch), its recovery
 * thread (engine_recover_once; in region S under the lease) and its
 * Federation handlers. Gateways 0 and 1 share region S's store. */
proctype Gateway(byte g; byte r) {
    byte ans;
end:
    do
    TRANSFER_OPTS(0)
    TRANSFER_OPTS(1)
    LEG_OPTS(0, 0)
    LEG_OPTS(0, 1)
    LEG_OPTS(1, 0)
    od
}

/* ---- the environment -------------------------------------------------------------- */

#define NET_FAULT(i) \
    :: atomic { !calm && net_faults > 0 && net[i] > 0 -> net[i]--; net_faults-- } \
    :: atomic { !calm && net_faults > 0 && net[i] == 1 -> net[i] = 2; net_faults-- }
#define NET_FAULTS_LEG(T, PI) \
    NET_FAULT(NI(T, PI, 0)) NET_FAULT(NI(T, PI, 1)) NET_FAULT(NI(T, PI, 2)) \
    NET_FAULT(NI(T, PI, 3)) NET_FAULT(NI(T, PI, 4)) NET_FAULT(NI(T, PI, 5)) \
    NET_FAULT(NI(T, PI, 6)) NET_FAULT(NI(T, PI, 7)) NET_FAULT(NI(T, PI, 8)) \
    NET_FAULT(NI(T, PI, 9)) NET_FAULT(NI(T, PI, 10)) NET_FAULT(NI(T, PI, 11))

/* a gateway crashes and restarts: its memory (the batch) is gone; what its
 * store holds stays. Only a crash that loses something is a state of its
 * own: a gateway that holds no batch loses nothing but the replies it was
 * about to send, which is a message loss (NET_FAULTS). */
#define CRASH(G) \
    :: atomic { !calm && crashes > 0 && ((cph[0] && cgw[0] == G) || (cph[1] && cgw[1] == G)) -> crashes--; \
                if :: cph[0] && cgw[0] == G -> cph[0] = 0; votes_purge(0) :: else fi; \
                if :: cph[1] && cgw[1] == G -> cph[1] = 0; votes_purge(1) :: else fi }

/* the tick: T's expiry passes (a region sees it when it next looks, any
 * time later: the guards that use it are options, not obligations) */
#define TICK(T) \
    :: atomic { !expired[T] && tst[T] == T_STARTED -> expired[T] = 1 }

/* Registry.Retire (retire.lua): the serial is spent where it is */
#define RETIRE(R) \
    :: atomic { retires > 0 && acct[R] && !retired[R] -> acct[R] = 0; retired[R] = 1; spends++; retires--; CHECK }

/* Operations.ResolveInDoubt (ops_resolve_in_doubt -> dest_decide.lua with
 * resolved_by): past the expiry, the coordinator unreachable, an operator
 * forces a prepared leg; recorded as heuristic. */
#ifdef MUT_NO_HEUR_FLAG
#define FORCED_C L_COMMITTED
#define FORCED_A L_ABORTED
#else
#define FORCED_C L_HC
#define FORCED_A L_HA
#endif
#define FORCE(T, PI) \
    :: atomic { !calm && heuristics > 0 && LEG(T, PART(T, PI)) == L_PREPARED && SEEN(T, PART(T, PI)) -> \
                heuristics--; apply_effect(T, PI, 1); LEG(T, PART(T, PI)) = FORCED_C; CHECK } \
    :: atomic { !calm && heuristics > 0 && LEG(T, PART(T, PI)) == L_PREPARED && SEEN(T, PART(T, PI)) -> \
                heuristics--; apply_effect(T, PI, 0); LEG(T, PART(T, PI)) = FORCED_A; CHECK }

proctype Env() {
end:
    do
    NET_FAULTS_LEG(0, 0)
    NET_FAULTS_LEG(0, 1)
    NET_FAULTS_LEG(1, 0)
    CRASH(0) CRASH(1) CRASH(2) CRASH(3)
    TICK(0) TICK(1)
    RETIRE(S) RETIRE(D) RETIRE(X)
    FORCE(0, 0) FORCE(1, 0) /* never FORCE(0, 1): no operator decides an origin's leg */
    :: atomic { !calm && forge_decides > 0 && LEG(0, D) == L_PREPARED -> /* a hostile source */
                forge_decides--; forged_dec = 1; SEND(NI(0, 0, K_DEC_C)) }
#ifdef LIVE
    :: atomic { !calm -> calm = 1 }
#endif
    od
}

/* When nothing can move any more, every transfer is final (P1 at the end). */
active proctype Quiet() {
    timeout -> if :: !ALL_FINAL -> printf("MODEL VIOLATION: P1 a transfer is stuck before it is final\n"); assert(false) :: else fi
}

init {
    atomic {
        acct[S] = 1;
#ifdef ONE_TRANSFER
        tst[1] = T_FAILED;
#endif
        run Gateway(0, S); run Gateway(1, S); run Gateway(2, D); run Gateway(3, X); run Env()
    }
}

#ifdef LIVE
ltl live { [] (calm -> <> all_final) }
#endif
