/* test_bank.c - a bank-style nemesis test (issue 8, item 1).
 *
 * A real three-region federation (redis-server + gatewayd per region, mutual
 * TLS on loopback). Every region opens FAULT_ACCOUNTS accounts and issues
 * household-electricity credits into each (TJ-EL-01, BJ-EL-01, HE-EL-01: every
 * region recognizes the other two, so credits can go around the triangle and
 * back). FAULT_CLIENTS worker threads make random transfers between accounts
 * of all three regions: random amounts (also more than the balance), random
 * origin methodology, now and then an unknown destination account, replays of
 * earlier transfer ids with the same content (must answer the recorded
 * outcome) and with other content (must answer ALREADY_EXISTS). Every answer
 * is recorded per transfer id.
 *
 * Meanwhile the test's main thread (the harness wants processes started and
 * stopped from the thread that spawned them) is the nemesis, driven by a
 * printed seed: kill -9 a gateway and restart it (at once or after a random
 * downtime), SIGSTOP a gateway past the leg expiry then SIGCONT it, restart a
 * region's Redis (graceful; AOF with appendfsync always), and with
 * FAULT_REDIS_KILL9=1 also kill -9 a Redis and start it again. Faults overlap.
 *
 * Harder (issue 15, item 5), each switchable:
 *   - two gateways per region on one store (FAULT_GATEWAYS=2): clients send
 *     each call to either at random; the nemesis kills and pauses either;
 *   - clocks skewed (FAULT_CLOCK_SKEW_MS): one region's clock half the skew
 *     ahead, another as much behind, the third in between, through gatewayd's
 *     test-only hook CARBON_TEST_CLOCK_OFFSET_MS (settlement/failpoint.h,
 *     refused without CARBON_TEST_HOOKS=1); the leg expiry defaults to
 *     2500 ms + the skew, so that legs towards a clock running ahead can commit;
 *   - backlog episodes (FAULT_BACKLOGS): every gateway of one region is
 *     killed, FAULT_BACKLOG_LEGS transfers go towards it (twice, if the
 *     first burst left too few), their holds expire and are aborted, and
 *     more than 4 x batch_legs_max decided legs must be listed waiting for
 *     it (batch_legs_max is FAULT_BATCH_LEGS_MAX, small);
 *     it comes back and they must drain within 90 s;
 *   - third-region serials (FAULT_THIRD_PCT of fresh transfers): a credit of
 *     origin X moving from S to D, all different; counted when committed;
 *   - forced-decision episodes (FAULT_FORCED): every gateway of a coordinator
 *     region is frozen the moment a peer voted yes on one of its legs; the
 *     peers' operators call Operations.ResolveInDoubt (as gwctl resolve) on
 *     each such leg, COMMIT and ABORT in turn, until the guard (expiry, then
 *     heuristic_after_ms = FAULT_HEURISTIC_AFTER_MS of failed QueryDecision)
 *     lets them; 3 in 4 forced COMMITs have their credits spent at once (moved
 *     to the third region); then the coordinator is killed and restarted if
 *     credits were spent (it presumes abort, which finds them gone:
 *     HEURISTIC_MIXED), else it resumes (it commits the legs whose yes votes
 *     it holds) or is killed and restarted, at random;
 *   - at the end, before the conservation check: every HEURISTIC_MIXED leg
 *     must be listed by ListInDoubt on both sides, named by Reconcile and
 *     counted by carbon_legs_heuristic_mixed, and was forced by the test; an
 *     operator compensates it (ResolveInDoubt compensate, as gwctl resolve
 *     --compensate) at the coordinator, or at the destination when the
 *     coordinator's account no longer holds the serials; the latter leaves
 *     the checker's "serials in two places" by design (README, "Heuristic
 *     decisions"), which is then the only violation allowed.
 * Episodes are spread evenly over the run; random faults wait while one runs.
 *
 * Replicated stores (issue 17, item 4), FAULT_HA=1 (off by default; not in
 * the default suite): each region's store is a primary, a replica and three
 * redis-sentinel on loopback (tests/support/ha_harness.h; both servers with
 * min-replicas-to-write 1, as deploy/redis/redis-production.conf), and the
 * gateways find the primary through the Sentinels ([store] sentinels,
 * master_name) and WAIT for one replica (min_replicas = 1) before answering.
 * A store fault then picks, at random:
 *   - kill -9 of the region's current primary: the Sentinels promote the
 *     replica (the test waits until every Sentinel names it and it answers
 *     ROLE master: the failover window, measured), the old server is
 *     restarted from its AOF and must be back as a replica of the new primary
 *     (Sentinel demotes it) within 60 s;
 *   - SIGSTOP of the primary past Sentinel's down-after
 *     (FAULT_HA_DOWN_AFTER_MS), until the failover, and up to 1.5 s more;
 *     then SIGCONT: it must come back as a replica;
 *   - the plain "redis restart" / "redis kill -9" faults, on the replica (it
 *     must resync).
 * A failover Sentinel makes on its own is counted and followed. The test
 * waits for each store fault to heal (gateway faults go on meanwhile), so a
 * region never loses both servers. Every end check above holds unchanged:
 * with min_replicas = 1 no acknowledged outcome may be lost to a failover.
 *
 * At the end: clients stop, every gateway runs again, recovery settles
 * everything, and every invariant of DESIGN §9 is checked:
 *   - the conservation checker (settled mode) finds no violation: every serial
 *     in exactly one place, both legs agree, nothing in doubt, nothing applied
 *     twice, every audit chain verifies;
 *   - every COMMITTED answer is COMMITTED at the source and arrived COMMITTED
 *     at the destination with the same credited grams; every ABORTED answer is
 *     ABORTED at the source and ABORTED (or never known) at the destination;
 *   - a transfer that was only ever refused left no record (a rejected request
 *     changes nothing); every replay answered the recorded outcome; a replay
 *     with other content got ALREADY_EXISTS;
 *   - bank total: grams issued == grams in all accounts + recognition
 *     discounts of the committed transfers (and nothing held or pending);
 *   - liveness: after the faults every region can issue and transfer to every
 *     other region; every gateway exits 0 on SIGTERM (no sanitizer report).
 *
 * Environment (all optional):
 *   FAULT_SECONDS      duration of the fault phase (60); it goes on, for at
 *                      most as long again, until FAULT_MIN_FAULTS faults were
 *                      injected (the episodes take much of a short run)
 *   FAULT_SEED         the seed (default: time and pid; always printed)
 *   FAULT_MIN_FAULTS   fail if fewer faults were injected (5)
 *   FAULT_MAX_FAULTS   stop injecting after this many (100000)
 *   FAULT_CLIENTS      client threads (4)
 *   FAULT_ACCOUNTS     accounts per region (4)
 *   FAULT_CALL_MS      deadline of a client call (4000)
 *   FAULT_LEG_EXPIRY_MS  the gateways' leg_expiry_ms (2500)
 *   FAULT_REDIS_KILL9  1: also kill -9 Redis servers (0)
 *   FAULT_GATEWAYS     gateways per region sharing its store, 1..2 (2)
 *   FAULT_CLOCK_SKEW_MS  largest clock difference between regions, 0 off (5000)
 *   FAULT_LEG_EXPIRY_MS  the gateways' leg_expiry_ms (2500 + the skew)
 *   FAULT_BACKLOGS     peer-down backlog episodes, 0 off (1)
 *   FAULT_BATCH_LEGS_MAX  the gateways' batch_legs_max (8)
 *   FAULT_BACKLOG_LEGS transfers sent towards the down peer per burst (6 x batch_legs_max)
 *   FAULT_THIRD_PCT    % of fresh transfers of third-region serials (40)
 *   FAULT_FORCED       forced-decision episodes, 0 off (1)
 *   FAULT_HEURISTIC_AFTER_MS  the gateways' heuristic_after_ms (1000, the least allowed)
 *   FAULT_HA           1: replicated stores with Sentinel and the HA faults (0)
 *   FAULT_HA_DOWN_AFTER_MS  Sentinel's down-after-milliseconds with FAULT_HA (1000)
 *
 * Short run: ctest -R fault_bank_short. Long run with every fault (not in the
 * default suite): scripts/run-bank.sh (FAULT_SECONDS=1800, Redis kill -9, an
 * episode of each kind every 150 s); FAULT_HA=1 scripts/run-bank.sh 300 adds
 * the replicated stores and their faults.
 */
#include "gateway/rpc/grpc_lifetime.h"
#include "tests/fault/bank_ops.h"
#include "tests/support/gateway_harness.h"
#include "tests/support/ha_harness.h"
#include "tests/support/proc.h"
#include "tests/support/registry_client.h"
#include "settlement/ledger.h"
#include "settlement/store_keys.h"

#include <hiredis/hiredis.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NREG 3
#define ACCOUNTS_MAX 16
#define CLIENTS_MAX 16
#define NOBODY 255                  /* dst_acct of a transfer to an unknown account */
#define SETTLE_TIMEOUT_MS 180000
#define VERIFY_CALL_MS 10000
#define PROBLEMS_KEPT 40
#define GATEWAYS_MAX 2              /* per region */
#define NINST_MAX (NREG * GATEWAYS_MAX)
#define SKEW_MS_MAX 30000

static const char *const REGION[NREG] = {"CN-TJ", "CN-BJ", "CN-HE"};
static const char *const REG_CERT[NREG] = {"CN-TJ-registry", "CN-BJ-registry", "CN-HE-registry"};
static const char *const OP_CERT[NREG] = {"CN-TJ-operator", "CN-BJ-operator", "CN-HE-operator"};
static const char *const PREFIX[NREG] = {"tj", "bj", "he"};
/* Household electricity saving: each region recognizes the other two's. */
static const char *const METH[NREG] = {"TJ-EL-01", "BJ-EL-01", "HE-EL-01"};
/* Display units: kg, point, credit. */
static const uint64_t UNIT_G[NREG] = {1000, 10, 100};
#define ISSUE_MILLI_KWH 100000      /* 100 kWh: 57030 g, 58100 g, 59420 g */
#define MAX_TRANSFER_G 40000        /* random amounts: 1 unit .. this many grams */

/* ---- configuration ------------------------------------------------------------- */

typedef struct {
    long seconds, min_faults, max_faults, clients, accounts, call_ms, leg_expiry_ms, redis_kill9;
    long gateways;          /* gatewayd processes per region, sharing its store (1..2) */
    long skew_ms;           /* the largest clock difference between two regions (0: none) */
    long backlogs;          /* peer-down episodes that build a backlog */
    long batch_legs_max;    /* the gateways' [limits] batch_legs_max */
    long backlog_legs;      /* legs sent towards the down peer per episode */
    long third_pct;         /* % of fresh transfers of a third region's serials */
    long forced;            /* episodes of operators forcing legs of a paused coordinator */
    long heuristic_after_ms;/* the gateways' [limits] heuristic_after_ms */
    long ha;                /* 1: each region's store is a primary, a replica and 3 Sentinels */
    long ha_down_after_ms;  /* Sentinel's down-after-milliseconds in that mode */
    uint64_t seed;
} cfg_t;

static cfg_t cfg;

static long env_long(const char *name, long def, long min, long max) {
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') return def;
    char *end = NULL;
    long x = strtol(v, &end, 10);
    if (end == v || *end != '\0' || x < min || x > max) {
        fprintf(stderr, "test_bank: %s=%s is not in %ld..%ld, using %ld\n", name, v, min, max, def);
        return def;
    }
    return x;
}

static void cfg_load(void) {
    cfg.seconds = env_long("FAULT_SECONDS", 60, 1, 7 * 24 * 3600);
    cfg.min_faults = env_long("FAULT_MIN_FAULTS", 5, 0, 100000000);
    cfg.max_faults = env_long("FAULT_MAX_FAULTS", 100000, 0, 100000000);
    cfg.clients = env_long("FAULT_CLIENTS", 4, 1, CLIENTS_MAX);
    cfg.accounts = env_long("FAULT_ACCOUNTS", 4, 2, ACCOUNTS_MAX);
    cfg.call_ms = env_long("FAULT_CALL_MS", 4000, 500, 600000);
    cfg.redis_kill9 = env_long("FAULT_REDIS_KILL9", 0, 0, 1);
    cfg.gateways = env_long("FAULT_GATEWAYS", 2, 1, GATEWAYS_MAX);
    cfg.skew_ms = env_long("FAULT_CLOCK_SKEW_MS", 5000, 0, SKEW_MS_MAX);
    /* A leg must outlive the skew, or every leg towards a region whose clock
     * runs ahead arrives expired (voted no, EXPIRED: safe, but nothing moves). */
    cfg.leg_expiry_ms = env_long("FAULT_LEG_EXPIRY_MS", 2500 + cfg.skew_ms, 500, 600000);
    cfg.backlogs = env_long("FAULT_BACKLOGS", 1, 0, 1000);
    cfg.batch_legs_max = env_long("FAULT_BATCH_LEGS_MAX", 8, 1, 1024);
    cfg.backlog_legs = env_long("FAULT_BACKLOG_LEGS", 6 * cfg.batch_legs_max, 1, 100000);
    cfg.third_pct = env_long("FAULT_THIRD_PCT", 40, 0, 100);
    cfg.forced = env_long("FAULT_FORCED", 1, 0, 1000);
    cfg.heuristic_after_ms = env_long("FAULT_HEURISTIC_AFTER_MS", 1000, 1000, 600000);
    cfg.ha = env_long("FAULT_HA", 0, 0, 1);
    cfg.ha_down_after_ms = env_long("FAULT_HA_DOWN_AFTER_MS", 1000, 100, 60000);
    const char *s = getenv("FAULT_SEED");
    if (s != NULL && *s != '\0')
        cfg.seed = strtoull(s, NULL, 0);
    else
        cfg.seed = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ (uint64_t)proc_now_ms();
}

/* ---- random numbers (splitmix64) -------------------------------------------------- */

static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t *s, uint64_t n) { return n == 0 ? 0 : rng_next(s) % n; }

/* ---- problems: anything that breaks an invariant or the protocol --------------------- */

static pthread_mutex_t problems_lock = PTHREAD_MUTEX_INITIALIZER;
static char problems[PROBLEMS_KEPT][384];
static atomic_int problems_n;

__attribute__((format(printf, 1, 2))) static void problem(const char *fmt, ...) {
    char text[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fprintf(stderr, "test_bank: PROBLEM: %s\n", text);
    pthread_mutex_lock(&problems_lock);
    int n = atomic_fetch_add(&problems_n, 1);
    if (n < PROBLEMS_KEPT) snprintf(problems[n], sizeof problems[n], "%s", text);
    pthread_mutex_unlock(&problems_lock);
}

/* ---- counters ------------------------------------------------------------------------- */

static atomic_ullong n_attempts;       /* fresh transfers sent */
static atomic_ullong n_committed;      /* COMMITTED answers (fresh and replays) */
static atomic_ullong n_aborted;        /* ABORTED answers */
static atomic_ullong n_refused;        /* FAILED_PRECONDITION / INVALID_ARGUMENT */
static atomic_ullong n_busy;           /* RESOURCE_EXHAUSTED (queue full, too fragmented, ...) */
static atomic_ullong n_unknown;        /* UNAVAILABLE / DEADLINE_EXCEEDED */
static atomic_ullong n_pending;        /* OK with outcome PENDING (a replay's wait ran out) */
static atomic_ullong n_replays_same;   /* replays with the same content */
static atomic_ullong n_replays_checked;/* ... of a known outcome that answered an outcome */
static atomic_ullong n_replays_diff;   /* replays with other content */
static atomic_ullong n_replays_diff_ok;/* ... answered ALREADY_EXISTS */
static atomic_ullong n_nobody;         /* transfers to an unknown destination account */
static atomic_ullong n_issues;         /* issuances sent by clients (with retries) */
static atomic_ullong n_issues_unknown; /* ... whose answer left the outcome unknown */
static atomic_ullong n_third;          /* fresh transfers of a third region's serials */

/* Reasons of ABORTED answers. */
#define REASONS_MAX 16
static pthread_mutex_t reasons_lock = PTHREAD_MUTEX_INITIALIZER;
static char reason_name[REASONS_MAX][40];
static unsigned long reason_count[REASONS_MAX];

static void count_reason(const char *reason) {
    pthread_mutex_lock(&reasons_lock);
    for (int i = 0; i < REASONS_MAX; i++) {
        if (reason_name[i][0] == '\0') snprintf(reason_name[i], sizeof reason_name[i], "%s", reason[0] ? reason : "(none)");
        if (strcmp(reason_name[i], reason[0] ? reason : "(none)") == 0) {
            reason_count[i]++;
            break;
        }
    }
    pthread_mutex_unlock(&reasons_lock);
}

enum { F_KILL9, F_PAUSE, F_REDIS_RESTART, F_REDIS_KILL9, F_HA_KILL9, F_HA_PAUSE, F_KINDS };
static const char *const FAULT_NAME[F_KINDS] = {"gateway kill -9", "gateway SIGSTOP",
                                                "redis restart", "redis kill -9",
                                                "primary kill -9", "primary SIGSTOP"};
static unsigned long faults[F_KINDS];

/* The faults injected so far, of every kind. */
static unsigned long faults_injected(void) {
    unsigned long n = 0;
    for (int k = 0; k < F_KINDS; k++) n += faults[k];
    return n;
}
static unsigned long unexpected_deaths;

/* FAULT_HA=1: each region's replicated store, and what its faults showed. */
static ha_store_t *ha[NREG];
static int ha_primary[NREG];        /* index in ha[r]->redis of the primary the test knows */
static const char *const HA_NAME[NREG] = {"tj", "bj", "he"};
#define HA_FAILOVER_TIMEOUT_MS 30000
#define HA_REJOIN_TIMEOUT_MS 60000

static struct {
    unsigned long failovers;         /* planned: after a primary kill -9 or SIGSTOP */
    unsigned long unplanned;         /* Sentinel failed over without a fault on the primary */
    long long window_ms_max, window_ms_sum; /* fault -> every Sentinel names a new primary, ROLE master */
    long long rejoin_ms_max;         /* old primary restarted/continued -> replica, link up */
    long long replica_ms_max;        /* replica restarted -> link up again */
} has;

/* ---- the federation and its accounts --------------------------------------------------- */

static federation_t *fed;
static char acct_name[NREG][ACCOUNTS_MAX][24];
static char probe_name[NREG][24];
static uint64_t issued_g; /* every gram issued, from the Issue answers */

/* What the episodes did (main thread). */
typedef struct {
    unsigned long backlogs, forced_episodes;
    unsigned long backlog_max;       /* the largest backlog listed towards a down peer */
    long long drain_ms_max;          /* the longest drain after it came back */
    unsigned long forced_ok, forced_commit, forced_too_early, forced_nothing;
    unsigned long spent;             /* forced COMMITs whose credits the test moved on at once */
    unsigned long mixed, comp_source, comp_dest;
} episodes_t;

static episodes_t ep;

/* Legs an operator forced, and how their HEURISTIC_MIXED ones were closed. */
#define FORCED_MAX 4096
#define FORCED_BLOCKS_MAX LEDGER_LEG_BLOCKS_MAX /* a leg's blocks at most */
typedef enum { COMP_NONE = 0, COMP_SOURCE, COMP_DEST } comp_t;
typedef struct {
    char origin[8];
    uint64_t first, last;
} forced_block_t;
typedef struct {
    char tid[33];
    uint8_t dest;
    uint8_t decision;      /* Carbon__V1__Decision */
    uint8_t mixed;         /* listed HEURISTIC_MIXED at the end */
    uint8_t comp;          /* comp_t */
    uint16_t blocks_n;     /* COMP_DEST: the leg's serials, which stay in two places */
    forced_block_t *blocks; /* blocks_n of them, malloc'd (freed by fini) */
} forced_t;

static forced_t forced_legs[FORCED_MAX];
static size_t forced_n;
#define BACKLOG_DRAIN_MS 90000
#define FORCE_WAIT_MS 30000
#define FORCE_ATTEMPTS 5
static forced_t *forced_find(const char *tid);

/* ---- clients ------------------------------------------------------------------------- */

typedef enum { OUT_NONE = 0, OUT_COMMITTED, OUT_ABORTED } out_t;

typedef struct {
    char tid[33];
    uint8_t src, dst, src_acct, dst_acct, meth;
    uint64_t amount;         /* in the source's display unit */
    out_t outcome;           /* first definitive answer */
    uint64_t credited_g;     /* of that answer */
    uint32_t answers, refused, unknown, pending, busy;
} rec_t;

/* An issuance by a client (the accounts would drain through the recognition
 * discounts otherwise). */
typedef struct {
    char iid[33];
    char fp[48];
    uint8_t region, acct;
    uint64_t grams;          /* from the first OK answer; 0 while unknown */
    uint64_t serial_start;
    uint32_t unknown;
} iss_t;

typedef struct {
    int index;
    uint64_t rng;
    pthread_t thread;
    int started;
    grpc_channel *ch[NINST_MAX]; /* by instance: region r's gateways are r, r + NREG */
    rec_t *recs;
    size_t n, cap;
    long last_unknown;       /* record whose last answer left the outcome unknown, or -1 */
    iss_t *iss;
    size_t iss_n, iss_cap;
    long last_unknown_iss;   /* issuance whose last answer was unknown, or -1 */
    /* verification */
    uint64_t v_committed, v_aborted, v_absent, v_discount_g, v_resolved, v_issued_g;
    uint64_t v_third_committed;  /* committed transfers of a third region's serials */
    uint64_t v_heuristic;        /* transfers an operator forced at the destination */
    uint64_t v_comp_cancelled_g; /* grams cancelled by compensations at destinations */
    int call_ms;                 /* its calls' deadline (0: FAULT_CALL_MS) */
} client_t;

static client_t clients[CLIENTS_MAX];
static client_t episode_client; /* the main thread's bursts of the episodes (same records) */
static atomic_int stop_clients;
static atomic_int episode_src = -1; /* >= 0: fresh transfers leave from this region only */

static const char *out_name(out_t o) {
    return o == OUT_COMMITTED ? "COMMITTED" : o == OUT_ABORTED ? "ABORTED" : "none";
}

static out_t out_of(Carbon__V1__TransferOutcome o) {
    if (o == CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED) return OUT_COMMITTED;
    if (o == CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_ABORTED) return OUT_ABORTED;
    return OUT_NONE;
}

static const char *dst_name(const rec_t *r) {
    return r->dst_acct == NOBODY ? "nobody-here" : acct_name[r->dst][r->dst_acct];
}

typedef enum { K_SAME, K_DIFF } replay_kind_t;

/* One of region's gateways, at random: clients spread over both. */
static grpc_channel *client_ch(client_t *c, int region) {
    int k = (int)rng_below(&c->rng, (uint64_t)cfg.gateways);
    return c->ch[region + NREG * k];
}

/* Sends one Transfer for r (with `amount`; other than r->amount for a
 * replay with other content) and records the answer. */
static void client_send(client_t *c, rec_t *r, uint64_t amount, int replay, replay_kind_t kind) {
    Carbon__V1__TransferRequest req = CARBON__V1__TRANSFER_REQUEST__INIT;
    req.transfer_id = r->tid;
    req.from_account_id = acct_name[r->src][r->src_acct];
    req.to_region = (char *)REGION[r->dst];
    req.to_account_id = (char *)dst_name(r);
    req.methodology_id = (char *)METH[r->meth];
    req.amount_units = amount;
    ProtobufCMessage *resp = NULL;
    client_status_t st;
    memset(&st, 0, sizeof st);
    grpc_channel *ch = client_ch(c, r->src);
    grpc_status_code code =
        client_call(ch, "/carbon.v1.Registry/Transfer", &req.base,
                    &carbon__v1__transfer_response__descriptor, &resp,
                    c->call_ms ? c->call_ms : cfg.call_ms, &st);
    long idx = (long)(r - c->recs);
    c->last_unknown = -1;
    r->answers++;
    if (code == GRPC_STATUS_OK) {
        Carbon__V1__TransferResponse *tr = (Carbon__V1__TransferResponse *)resp;
        Carbon__V1__TransferRecord *t = tr->transfer;
        out_t o = t != NULL ? out_of(t->outcome) : OUT_NONE;
        if (t == NULL || strcmp(t->transfer_id, r->tid) != 0) {
            problem("transfer %s: OK answer without the transfer's record", r->tid);
        } else if (replay && kind == K_DIFF) {
            problem("transfer %s: a replay with other content (%" PRIu64 " instead of %" PRIu64
                    " units) answered OK %s instead of ALREADY_EXISTS",
                    r->tid, amount, r->amount, out_name(o));
        } else if (o == OUT_NONE) {
            /* A replay that waited on a leg still held answers what is known. */
            atomic_fetch_add(&n_pending, 1);
            r->pending++;
            c->last_unknown = idx;
            if (!replay) problem("transfer %s: a fresh Transfer answered outcome %d", r->tid, t->outcome);
        } else {
            uint64_t credited = t->quote != NULL ? t->quote->credited_g : 0;
            atomic_fetch_add(o == OUT_COMMITTED ? &n_committed : &n_aborted, 1);
            if (o == OUT_ABORTED && r->outcome == OUT_NONE) count_reason(t->reason ? t->reason : "");
            if (r->dst_acct == NOBODY && o == OUT_COMMITTED)
                problem("transfer %s to an unknown account %s/%s COMMITTED", r->tid,
                        REGION[r->dst], dst_name(r));
            if (r->outcome == OUT_NONE) {
                r->outcome = o;
                r->credited_g = credited;
            } else {
                if (replay) atomic_fetch_add(&n_replays_checked, 1);
                if (r->outcome != o || (o == OUT_COMMITTED && r->credited_g != credited))
                    problem("transfer %s: answered %s (%" PRIu64 " g), earlier %s (%" PRIu64
                            " g): a replay changed the outcome",
                            r->tid, out_name(o), credited, out_name(r->outcome), r->credited_g);
            }
        }
    } else if (code == GRPC_STATUS_UNAVAILABLE || code == GRPC_STATUS_DEADLINE_EXCEEDED) {
        atomic_fetch_add(&n_unknown, 1);
        r->unknown++;
        c->last_unknown = idx;
        /* Drive the channel's reconnection (calls are not wait-for-ready). */
        if (code == GRPC_STATUS_UNAVAILABLE) harness_channel_wait_ready(ch, c->call_ms ? 50 : 300);
    } else if (code == GRPC_STATUS_ALREADY_EXISTS) {
        if (replay && kind == K_DIFF && strcmp(st.reason, "ID_REUSED") == 0)
            atomic_fetch_add(&n_replays_diff_ok, 1);
        else
            problem("transfer %s: ALREADY_EXISTS (%s) for %s", r->tid, st.details,
                    replay ? "a replay with the same content" : "a fresh id");
    } else if (code == GRPC_STATUS_RESOURCE_EXHAUSTED) {
        atomic_fetch_add(&n_busy, 1);
        r->busy++;
    } else if (code == GRPC_STATUS_FAILED_PRECONDITION || code == GRPC_STATUS_INVALID_ARGUMENT) {
        atomic_fetch_add(&n_refused, 1);
        r->refused++;
        if (replay && kind == K_DIFF)
            problem("transfer %s: a replay with other content was refused %s (%s), not "
                    "ALREADY_EXISTS", r->tid, client_status_name(code), st.details);
        else if (r->outcome != OUT_NONE || r->pending > 0)
            problem("transfer %s: known as %s, a replay was refused %s (%s)", r->tid,
                    r->outcome != OUT_NONE ? out_name(r->outcome) : "held", client_status_name(code),
                    st.details);
    } else {
        problem("transfer %s: unexpected %s (%s)", r->tid, client_status_name(code), st.details);
    }
    if (resp != NULL) protobuf_c_message_free_unpacked(resp, NULL);
}

static rec_t *client_new_rec(client_t *c) {
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 1024;
        c->recs = realloc(c->recs, c->cap * sizeof *c->recs);
        if (c->recs == NULL) abort();
    }
    rec_t *r = &c->recs[c->n++];
    memset(r, 0, sizeof *r);
    rc_new_id(r->tid);
    return r;
}

/* Accounts whose credits the end's compensation needs: a coordinator's
 * account once a forced COMMIT of its leg was spent at the destination
 * (episode_spend). The coordinator's presumed abort gives the leg's blocks
 * back to it, and the operator compensates there; a fresh transfer from it
 * could move some on, and then neither side holds what a compensation
 * takes (seen in CI once: both refused INSUFFICIENT_BALANCE). */
static _Atomic int kept_acct[NREG][ACCOUNTS_MAX];

/* The first account of region src from a on that is not kept (a if every
 * one is: then no fresh transfer leaves src, client_fresh). */
static uint8_t acct_not_kept(int src, uint8_t a) {
    for (long k = 0; k < cfg.accounts; k++) {
        uint8_t x = (uint8_t)((a + k) % cfg.accounts);
        if (!atomic_load(&kept_acct[src][x])) return x;
    }
    return a;
}

static void client_fresh(client_t *c) {
    /* Pick everything before growing recs (the array may move). */
    uint8_t src = (uint8_t)rng_below(&c->rng, NREG);
    int only = atomic_load(&episode_src);
    if (only >= 0) src = (uint8_t)only;
    uint8_t dst = (uint8_t)((src + 1 + rng_below(&c->rng, NREG - 1)) % NREG);
    uint8_t src_acct = acct_not_kept(src, (uint8_t)rng_below(&c->rng, (uint64_t)cfg.accounts));
    if (atomic_load(&kept_acct[src][src_acct])) { /* every account of src is kept */
        proc_sleep_ms(5);
        return;
    }
    uint8_t dst_acct = rng_below(&c->rng, 100) < 2 ? NOBODY
                                                   : (uint8_t)rng_below(&c->rng, (uint64_t)cfg.accounts);
    /* Serials of the third region (a credit of origin X moving from S to D,
     * all different) on purpose, else of the source's or the destination's. */
    int third = rng_below(&c->rng, 100) < (uint64_t)cfg.third_pct;
    uint8_t meth = third ? (uint8_t)(NREG - src - dst) : rng_below(&c->rng, 2) ? src : dst;
    uint64_t amount = 1 + rng_below(&c->rng, MAX_TRANSFER_G / UNIT_G[src]);
    rec_t *r = client_new_rec(c);
    r->src = src, r->dst = dst, r->src_acct = src_acct, r->dst_acct = dst_acct, r->meth = meth;
    r->amount = amount;
    if (dst_acct == NOBODY) atomic_fetch_add(&n_nobody, 1);
    if (third) atomic_fetch_add(&n_third, 1);
    atomic_fetch_add(&n_attempts, 1);
    client_send(c, r, amount, 0, K_SAME);
}

/* The grams 100 kWh of electricity saving yield in each region. */
static const uint64_t ISSUE_G[NREG] = {57030, 58100, 59420};

/* Sends one Issue for is (fresh or again). Returns the status code; during
 * verification (verifying set) transient errors are retried. */
static grpc_status_code client_issue(client_t *c, iss_t *is, int verifying) {
    Carbon__V1__IssueRequest req = CARBON__V1__ISSUE_REQUEST__INIT;
    req.issuance_id = is->iid;
    req.account_id = acct_name[is->region][is->acct];
    req.methodology_id = (char *)METH[is->region];
    req.vintage_year = 2026;
    req.quantity_milli = ISSUE_MILLI_KWH;
    req.activity_fingerprint = is->fp;
    grpc_status_code code = GRPC_STATUS_UNKNOWN;
    client_status_t st;
    grpc_channel *ch = verifying ? c->ch[is->region] : client_ch(c, is->region);
    for (int attempt = 0; attempt < (verifying ? 6 : 1); attempt++) {
        ProtobufCMessage *resp = NULL;
        memset(&st, 0, sizeof st);
        code = client_call(ch, "/carbon.v1.Registry/Issue", &req.base,
                           &carbon__v1__issue_response__descriptor, &resp,
                           verifying ? VERIFY_CALL_MS : cfg.call_ms, &st);
        if (!verifying) atomic_fetch_add(&n_issues, 1);
        if (code == GRPC_STATUS_OK) {
            Carbon__V1__IssueResponse *ir = (Carbon__V1__IssueResponse *)resp;
            uint64_t g = ir->amount ? ir->amount->grams : 0;
            uint64_t s0 = ir->block ? ir->block->serial_start : 0;
            if (g != ISSUE_G[is->region])
                problem("issuance %s: %" PRIu64 " g issued, expected %" PRIu64, is->iid, g,
                        ISSUE_G[is->region]);
            if (is->grams != 0 && (is->grams != g || is->serial_start != s0))
                problem("issuance %s: a replay answered %" PRIu64 " g from serial %" PRIu64
                        ", earlier %" PRIu64 " g from %" PRIu64, is->iid, g, s0, is->grams,
                        is->serial_start);
            is->grams = g;
            is->serial_start = s0;
        }
        if (resp != NULL) protobuf_c_message_free_unpacked(resp, NULL);
        if (code != GRPC_STATUS_UNAVAILABLE && code != GRPC_STATUS_DEADLINE_EXCEEDED) break;
        if (!verifying) {
            is->unknown++;
            atomic_fetch_add(&n_issues_unknown, 1);
        }
        harness_channel_wait_ready(ch, verifying ? 2000 : 300);
    }
    c->last_unknown_iss = -1;
    if (code == GRPC_STATUS_UNAVAILABLE || code == GRPC_STATUS_DEADLINE_EXCEEDED) {
        if (!verifying) c->last_unknown_iss = (long)(is - c->iss);
    } else if (code != GRPC_STATUS_OK) {
        problem("issuance %s to %s/%s: %s (%s)", is->iid, REGION[is->region],
                acct_name[is->region][is->acct], client_status_name(code), st.details);
    }
    return code;
}

static void client_issue_fresh(client_t *c) {
    uint8_t region = (uint8_t)rng_below(&c->rng, NREG);
    uint8_t acct = (uint8_t)rng_below(&c->rng, (uint64_t)cfg.accounts);
    if (c->iss_n == c->iss_cap) {
        c->iss_cap = c->iss_cap ? c->iss_cap * 2 : 64;
        c->iss = realloc(c->iss, c->iss_cap * sizeof *c->iss);
        if (c->iss == NULL) abort();
    }
    iss_t *is = &c->iss[c->iss_n++];
    memset(is, 0, sizeof *is);
    rc_new_id(is->iid);
    snprintf(is->fp, sizeof is->fp, "meter-%s", is->iid);
    is->region = region;
    is->acct = acct;
    client_issue(c, is, 0);
}

static void *client_main(void *arg) {
    client_t *c = arg;
    c->last_unknown = -1;
    c->last_unknown_iss = -1;
    while (!atomic_load(&stop_clients)) {
        uint64_t dice = rng_below(&c->rng, 100);
        if (c->last_unknown_iss >= 0 && dice < 50) {
            client_issue(c, &c->iss[c->last_unknown_iss], 0); /* retry, same id and activity */
        } else if (rng_below(&c->rng, 1000) < 8) {
            client_issue_fresh(c);
        } else if (c->last_unknown >= 0 && dice < 50) {
            /* The usual retry after an unknown outcome: the same request again. */
            atomic_fetch_add(&n_replays_same, 1);
            rec_t *r = &c->recs[c->last_unknown];
            client_send(c, r, r->amount, 1, K_SAME);
        } else if (c->n > 0 && dice < 58) {
            atomic_fetch_add(&n_replays_same, 1);
            rec_t *r = &c->recs[rng_below(&c->rng, c->n)];
            client_send(c, r, r->amount, 1, K_SAME);
        } else if (c->n > 0 && dice < 61) {
            /* Other content under an id the gateway knows: some earlier decided one. */
            rec_t *r = NULL;
            for (int tries = 0; tries < 8 && r == NULL; tries++) {
                rec_t *x = &c->recs[rng_below(&c->rng, c->n)];
                if (x->outcome != OUT_NONE) r = x;
            }
            if (r != NULL) {
                atomic_fetch_add(&n_replays_diff, 1);
                client_send(c, r, r->amount + 1, 1, K_DIFF);
            }
        } else {
            client_fresh(c);
        }
        proc_sleep_ms((int)rng_below(&c->rng, 6));
    }
    return NULL;
}

/* ---- verification after recovery --------------------------------------------------------- */

/* GetTransfer with retries over transient errors. */
static grpc_status_code get_transfer(grpc_channel *ch, const char *tid,
                                     Carbon__V1__GetTransferResponse **out, client_status_t *st) {
    grpc_status_code code = GRPC_STATUS_UNKNOWN;
    for (int attempt = 0; attempt < 6; attempt++) {
        Carbon__V1__GetTransferRequest req = CARBON__V1__GET_TRANSFER_REQUEST__INIT;
        req.transfer_id = (char *)tid;
        *out = NULL;
        code = client_call(ch, "/carbon.v1.Registry/GetTransfer", &req.base,
                           &carbon__v1__get_transfer_response__descriptor,
                           (ProtobufCMessage **)out, VERIFY_CALL_MS, st);
        if (code != GRPC_STATUS_UNAVAILABLE && code != GRPC_STATUS_DEADLINE_EXCEEDED) break;
        harness_channel_wait_ready(ch, 2000);
    }
    return code;
}

/* The destination's record of r, final `fin` at its source (record t). */
static void verify_dest(client_t *c, const rec_t *r, const Carbon__V1__TransferRecord *t, out_t fin,
                        const forced_t *fz) {
    Carbon__V1__GetTransferResponse *d = NULL;
    client_status_t st;
    uint64_t credited = t->quote != NULL ? t->quote->credited_g : 0;
    grpc_status_code code = get_transfer(c->ch[r->dst], r->tid, &d, &st);
    if (fz != NULL && fz->comp == COMP_DEST) {
        /* COMMITTED there, ABORTED here, the credited grams cancelled there. */
        c->v_aborted++;
        if (code == GRPC_STATUS_OK && d->transfer->quote != NULL)
            c->v_comp_cancelled_g += d->transfer->quote->credited_g + d->transfer->quote->discount_g;
    } else if (fin == OUT_COMMITTED) {
        c->v_committed++;
        if (r->meth != r->src && r->meth != r->dst) c->v_third_committed++;
        c->v_discount_g += t->quote != NULL ? t->quote->discount_g : 0;
        if (code != GRPC_STATUS_OK)
            problem("transfer %s COMMITTED at %s, but its destination %s answers %s (%s)", r->tid,
                    REGION[r->src], REGION[r->dst], client_status_name(code), st.details);
        else if (!d->transfer->arrival || out_of(d->transfer->outcome) != OUT_COMMITTED)
            problem("transfer %s COMMITTED at %s, at %s: arrival %d outcome %d", r->tid,
                    REGION[r->src], REGION[r->dst], d->transfer->arrival, d->transfer->outcome);
        else if (d->transfer->quote == NULL || d->transfer->quote->credited_g != credited)
            problem("transfer %s: %" PRIu64 " g credited at the source, %" PRIu64
                    " g at the destination", r->tid, credited,
                    d->transfer->quote ? d->transfer->quote->credited_g : 0);
    } else {
        c->v_aborted++;
        if (code == GRPC_STATUS_OK &&
            (!d->transfer->arrival || out_of(d->transfer->outcome) != OUT_ABORTED))
            problem("transfer %s ABORTED at %s, at %s: arrival %d outcome %d", r->tid,
                    REGION[r->src], REGION[r->dst], d->transfer->arrival, d->transfer->outcome);
        else if (code != GRPC_STATUS_OK && code != GRPC_STATUS_NOT_FOUND)
            problem("transfer %s ABORTED at %s, its destination %s answers %s (%s)", r->tid,
                    REGION[r->src], REGION[r->dst], client_status_name(code), st.details);
    }
    if (d != NULL) protobuf_c_message_free_unpacked(&d->base, NULL);
}

static void verify_rec(client_t *c, const rec_t *r) {
    Carbon__V1__GetTransferResponse *s = NULL;
    client_status_t st;
    grpc_status_code code = get_transfer(c->ch[r->src], r->tid, &s, &st);
    int only_refused = r->outcome == OUT_NONE && r->unknown == 0 && r->pending == 0 &&
                       r->busy == 0 && r->refused > 0;
    if (code == GRPC_STATUS_NOT_FOUND) {
        c->v_absent++;
        if (r->outcome != OUT_NONE)
            problem("transfer %s was answered %s, but its source %s has no record of it", r->tid,
                    out_name(r->outcome), REGION[r->src]);
        goto out;
    }
    if (code != GRPC_STATUS_OK) {
        problem("GetTransfer %s at %s: %s (%s)", r->tid, REGION[r->src], client_status_name(code),
                st.details);
        goto out;
    }
    const Carbon__V1__TransferRecord *t = s->transfer;
    out_t fin = out_of(t->outcome);
    if (only_refused)
        problem("transfer %s was only ever refused, yet %s recorded it (%s): a refusal changed "
                "state", r->tid, REGION[r->src], out_name(fin));
    if (t->arrival) problem("transfer %s: its source %s lists it as an arrival", r->tid, REGION[r->src]);
    if (fin == OUT_NONE) {
        problem("transfer %s still in flight at its source %s after recovery (outcome %d)", r->tid,
                REGION[r->src], t->outcome);
        goto out;
    }
    /* An operator's heuristic decision and its compensation may set a final
     * outcome other than the one answered (README "Heuristic decisions"). */
    const forced_t *fz = forced_find(r->tid);
    if (fz != NULL) c->v_heuristic++;
    if (r->outcome != OUT_NONE && r->outcome != fin && (fz == NULL || fz->comp != COMP_SOURCE))
        problem("transfer %s was answered %s but is %s at its source %s", r->tid,
                out_name(r->outcome), out_name(fin), REGION[r->src]);
    if (r->outcome == OUT_NONE) c->v_resolved++;
    uint64_t credited = t->quote != NULL ? t->quote->credited_g : 0;
    if (r->outcome == OUT_COMMITTED && credited != r->credited_g)
        problem("transfer %s: answered %" PRIu64 " g credited, the source records %" PRIu64 " g",
                r->tid, r->credited_g, credited);
    verify_dest(c, r, t, fin, fz);
out:
    if (s != NULL) protobuf_c_message_free_unpacked(&s->base, NULL);
}

static void *verify_main(void *arg) {
    client_t *c = arg;
    for (size_t i = 0; i < c->n; i++) verify_rec(c, &c->recs[i]);
    /* Every issuance once more, same id and activity: it answers what was issued
     * (or issues it now, if no earlier attempt reached the store). */
    for (size_t i = 0; i < c->iss_n; i++)
        if (client_issue(c, &c->iss[i], 1) == GRPC_STATUS_OK) c->v_issued_g += c->iss[i].grams;
    return NULL;
}

/* ---- setup helpers (main thread) ------------------------------------------------------------ */

static grpc_channel *reg(int i) { return rc_registry(fed, i); }

static void open_ok(int region, const char *id) {
    client_status_t st;
    cr_assert_eq(rc_open(reg(region), id, &st), GRPC_STATUS_OK, "open %s/%s: %s", REGION[region],
                 id, st.details);
}

static uint64_t issue_ok(int region, const char *acct, uint64_t milli) {
    char iid[33], fp[64];
    rc_new_id(iid);
    snprintf(fp, sizeof fp, "bank-%s", iid);
    Carbon__V1__IssueResponse *r = NULL;
    client_status_t st;
    cr_assert_eq(rc_issue(reg(region), iid, acct, METH[region], milli, fp, &r, &st), GRPC_STATUS_OK,
                 "issue %s/%s: %s", REGION[region], acct, st.details);
    uint64_t g = r->amount->grams;
    protobuf_c_message_free_unpacked(&r->base, NULL);
    issued_g += g;
    return g;
}

/* Sum of every account's total; checks that nothing is held or pending. */
static uint64_t bank_total_g(void) {
    uint64_t sum = 0;
    for (int r = 0; r < NREG; r++)
        for (int k = 0; k <= cfg.accounts; k++) {
            const char *id = k < cfg.accounts ? acct_name[r][k] : probe_name[r];
            Carbon__V1__GetAccountResponse *a = NULL;
            client_status_t st;
            cr_assert_eq(rc_account(reg(r), id, &a, &st), GRPC_STATUS_OK, "GetAccount %s/%s: %s",
                         REGION[r], id, st.details);
            if (a->held != NULL && a->held->grams != 0)
                problem("account %s/%s still holds %" PRIu64 " g after recovery", REGION[r], id,
                        a->held->grams);
            if (a->pending != NULL && a->pending->grams != 0)
                problem("account %s/%s has %" PRIu64 " g pending after recovery", REGION[r], id,
                        a->pending->grams);
            sum += a->total->grams;
            protobuf_c_message_free_unpacked(&a->base, NULL);
        }
    return sum;
}

/* ---- the nemesis (main thread) ------------------------------------------------------------- */

typedef struct {
    int paused;
    long long resume_at;
    int down;
    long long restart_at;
} gw_state_t;

static gw_state_t gw[NINST_MAX];
static char inst_label[NINST_MAX][16]; /* "CN-TJ", and "CN-TJ/2" for its second gateway */

static int ninst(void) { return NREG * (int)cfg.gateways; }
static int inst_region(int i) { return i % NREG; }
static const char *INAME(int i) { return inst_label[i]; }


static const char *const SANITIZER_NEEDLES[] = {"ERROR: AddressSanitizer", "runtime error:",
                                                "ERROR: LeakSanitizer"};

/* The last sanitizer report in a gateway's log (its first lines, on one line),
 * else the log's tail. malloc'd. */
static char *log_excerpt(int i) {
    char *tail = harness_file_tail(federation_log_path(fed, i), 256 * 1024);
    const char *from = NULL;
    for (size_t k = 0; k < sizeof SANITIZER_NEEDLES / sizeof *SANITIZER_NEEDLES; k++)
        for (const char *p = strstr(tail, SANITIZER_NEEDLES[k]); p != NULL;
             p = strstr(p + 1, SANITIZER_NEEDLES[k]))
            if (from == NULL || p > from) from = p;
    size_t len = strlen(tail);
    if (from == NULL) from = len > 600 ? tail + len - 600 : tail;
    char *out = strndup(from, 600);
    if (out == NULL) abort();
    for (char *p = out; *p; p++)
        if (*p == '\n') *p = '|';
    free(tail);
    return out;
}

static int nemesis_restart(int i) {
    for (int attempt = 0; attempt < 2; attempt++) {
        if (federation_restart(fed, i) == 0) {
            gw[i].down = 0;
            gw[i].paused = 0;
            return 0;
        }
        fprintf(stderr, "test_bank: restart of %s failed: %s\n", INAME(i), federation_last_error());
    }
    problem("gateway %s could not be restarted: %.200s", INAME(i), federation_last_error());
    gw[i].restart_at = proc_now_ms() + 5000;
    return -1;
}

static void nemesis_print_progress(long long t0) {
    fprintf(stderr,
            "test_bank: t=%llds transfers %llu (committed %llu, aborted %llu, refused %llu, "
            "unknown %llu), replays %llu+%llu, faults %lu/%lu/%lu/%lu, episodes %lu/%lu, "
            "problems %d\n",
            (proc_now_ms() - t0) / 1000, (unsigned long long)n_attempts,
            (unsigned long long)n_committed, (unsigned long long)n_aborted,
            (unsigned long long)n_refused, (unsigned long long)n_unknown,
            (unsigned long long)n_replays_same, (unsigned long long)n_replays_diff,
            faults[F_KILL9], faults[F_PAUSE], faults[F_REDIS_RESTART], faults[F_REDIS_KILL9],
            ep.backlogs, ep.forced_episodes, atomic_load(&problems_n));
    if (cfg.ha)
        fprintf(stderr, "test_bank: HA: failovers %lu (primary kill -9 %lu, SIGSTOP %lu), unplanned %lu\n",
                has.failovers, faults[F_HA_KILL9], faults[F_HA_PAUSE], has.unplanned);
}

/* Resumes and restarts the gateways whose time has come; a gateway that
 * died by itself is a finding (and is restarted). */
static void nemesis_tick(void) {
    long long now = proc_now_ms();
    for (int i = 0; i < ninst(); i++) {
        if (gw[i].paused && now >= gw[i].resume_at) {
            if (federation_sigcont(fed, i) != 0) problem("SIGCONT %s: %s", INAME(i), federation_last_error());
            gw[i].paused = 0;
            fprintf(stderr, "test_bank: nemesis: SIGCONT %s\n", INAME(i));
        }
        if (gw[i].down && now >= gw[i].restart_at) {
            fprintf(stderr, "test_bank: nemesis: restart %s\n", INAME(i));
            nemesis_restart(i);
        }
        if (!gw[i].down && !gw[i].paused &&
            (federation_pid(fed, i) == 0 || !proc_alive(federation_pid(fed, i)))) {
            char *tail = log_excerpt(i);
            problem("gateway %s (pid %d) died on its own: %s", INAME(i), (int)federation_pid(fed, i), tail);
            free(tail);
            unexpected_deaths++;
            nemesis_restart(i);
        }
    }
}

/* Every gateway runs again. */
static void nemesis_heal(void) {
    for (int i = 0; i < ninst(); i++) {
        if (gw[i].paused) {
            if (federation_sigcont(fed, i) != 0) problem("SIGCONT %s: %s", INAME(i), federation_last_error());
            gw[i].paused = 0;
        }
        if (gw[i].down) nemesis_restart(i);
    }
}

/* A gateway fault (F_KILL9 or F_PAUSE) on instance i, which runs: 0, or -1
 * (a problem) if it could not be done. */
static int nemesis_gateway(uint64_t *rng, int kind, int i) {
    if (kind == F_KILL9) {
        long long downtime = rng_below(rng, 100) < 35
                                 ? 0
                                 : (long long)rng_below(rng, (uint64_t)cfg.leg_expiry_ms * 3 / 2);
        fprintf(stderr, "test_bank: nemesis: kill -9 %s (down %lld ms)\n", INAME(i), downtime);
        if (federation_kill9(fed, i) != 0) {
            problem("kill -9 %s: %s", INAME(i), federation_last_error());
            return -1;
        }
        gw[i].down = 1;
        gw[i].restart_at = proc_now_ms() + downtime;
        if (downtime == 0) nemesis_restart(i);
        return 0;
    }
    long long pause = cfg.leg_expiry_ms + 100 + (long long)rng_below(rng, 1500);
    fprintf(stderr, "test_bank: nemesis: SIGSTOP %s (%lld ms)\n", INAME(i), pause);
    if (federation_sigstop(fed, i) != 0) {
        problem("SIGSTOP %s: %s", INAME(i), federation_last_error());
        return -1;
    }
    gw[i].paused = 1;
    gw[i].resume_at = proc_now_ms() + pause;
    return 0;
}

/* ---- HA mode (FAULT_HA=1): each region's store is a primary, a replica and three Sentinels ---- */


/* Every region's store: a primary, a replica (AOF always, min-replicas-to-write 1
 * as the shipped production configuration) and three Sentinels. */
static void ha_up(void) {
    static const char *const args[] = {"--min-replicas-to-write", "1", "--min-replicas-max-lag", "10", NULL};
    ha_options_t o = {.down_after_ms = (int)cfg.ha_down_after_ms, .failover_timeout_ms = 2000, .redis_args = args};
    for (int r = 0; r < NREG; r++) {
        ha[r] = ha_store_start(HA_NAME[r], &o);
        cr_assert_not_null(ha[r], "replicated store of %s: %s", REGION[r], ha_last_error());
        ha_primary[r] = 0;
        fprintf(stderr, "test_bank: %s store: primary :%d, replica :%d, Sentinels %s\n", REGION[r],
                ha[r]->redis[0]->port, ha[r]->redis[1]->port, ha[r]->sentinels_text);
    }
}

static void ha_down(void) {
    for (int r = 0; r < NREG; r++) {
        ha_store_stop(ha[r]);
        ha[r] = NULL;
    }
}

/* The primary Sentinel names now, if it is another than the test knew (a
 * failover nobody asked for): counted and followed. */
static void ha_follow(int r) {
    int k = ha_redis_index(ha[r], ha_sentinel_primary_port(ha[r], 0));
    if (k < 0 || k == ha_primary[r]) return;
    fprintf(stderr, "test_bank: nemesis: %s: Sentinel failed over to :%d on its own\n", REGION[r],
            ha[r]->redis[k]->port);
    has.unplanned++;
    ha_primary[r] = k;
    federation_set_redis(fed, r, ha[r]->redis[k]);
}

/* While a store heals: gateways resume and restart on time, and gateway
 * faults go on at the usual pace (the faults overlap). */
static void ha_meanwhile(uint64_t *rng) {
    static long long next_ms;
    nemesis_tick();
    long long now = proc_now_ms();
    if (next_ms == 0) next_ms = now + 200 + (long long)rng_below(rng, 2300);
    if (now < next_ms) return;
    next_ms = now + 200 + (long long)rng_below(rng, 2300);
    int kind = rng_below(rng, 2) ? F_KILL9 : F_PAUSE, i = (int)rng_below(rng, (uint64_t)ninst());
    if (!gw[i].down && !gw[i].paused && nemesis_gateway(rng, kind, i) == 0) faults[kind]++;
}

/* Until Sentinel has promoted a server other than old_port: its index, or -1. */
static int ha_wait_failover_ticking(uint64_t *rng, int r, int old_port) {
    long long until = proc_now_ms() + HA_FAILOVER_TIMEOUT_MS;
    while (proc_now_ms() < until) {
        int k = ha_wait_failover(ha[r], old_port, 100);
        if (k >= 0) return k;
        ha_meanwhile(rng);
    }
    return -1;
}

/* Until ha[r]->redis[k] is a replica with its link up: the ms it took, or -1
 * (a problem). */
static long long ha_wait_replica_ticking(uint64_t *rng, int r, int k, long long since) {
    long long until = proc_now_ms() + HA_REJOIN_TIMEOUT_MS;
    while (proc_now_ms() < until) {
        if (ha_wait_replica(ha[r], k, 100) == 0) return proc_now_ms() - since;
        ha_meanwhile(rng);
    }
    problem("%s: redis :%d not back as a replica %d ms after the fault", REGION[r], ha[r]->redis[k]->port,
            HA_REJOIN_TIMEOUT_MS);
    return -1;
}

/* The primary is lost (kill -9, or SIGSTOP past down-after): Sentinel promotes
 * the replica; then the old primary is restarted or continued and must come
 * back as a replica of the new one. */
static void ha_fault_primary(uint64_t *rng, int r, int pause) {
    int p = ha_primary[r], q = 1 - p, old_port = ha[r]->redis[p]->port;
    fprintf(stderr, "test_bank: nemesis: %s primary :%d of %s\n", pause ? "SIGSTOP" : "kill -9", old_port, REGION[r]);
    long long t0 = proc_now_ms();
    int rc = pause ? proc_signal(ha[r]->redis[p]->pid, SIGSTOP) : redis_kill9(ha[r]->redis[p]);
    if (rc != 0) {
        problem("%s primary of %s: %s", pause ? "SIGSTOP" : "kill -9", REGION[r], redis_last_error());
        return;
    }
    int k = ha_wait_failover_ticking(rng, r, old_port);
    long long window = proc_now_ms() - t0;
    if (k == q) {
        has.failovers++;
        has.window_ms_sum += window;
        if (window > has.window_ms_max) has.window_ms_max = window;
        ha_primary[r] = q;
        federation_set_redis(fed, r, ha[r]->redis[q]);
        fprintf(stderr, "test_bank: nemesis: %s fails over to :%d after %lld ms\n", REGION[r],
                ha[r]->redis[q]->port, window);
    } else {
        problem("%s: no failover from :%d within %d ms: %s", REGION[r], old_port, HA_FAILOVER_TIMEOUT_MS,
                ha_last_error());
    }
    if (pause) { /* a little longer paused, then back */
        long long until = proc_now_ms() + (long long)rng_below(rng, 1500);
        while (proc_now_ms() < until) {
            ha_meanwhile(rng);
            proc_sleep_ms(20);
        }
    }
    long long t1 = proc_now_ms();
    rc = pause ? proc_signal(ha[r]->redis[p]->pid, SIGCONT) : redis_restart(ha[r]->redis[p]);
    if (rc != 0) {
        problem("%s old primary of %s back: %s", pause ? "SIGCONT" : "restart", REGION[r], redis_last_error());
        return;
    }
    long long rejoin = k == q ? ha_wait_replica_ticking(rng, r, p, t1) : -1;
    if (rejoin > has.rejoin_ms_max) has.rejoin_ms_max = rejoin;
    if (rejoin >= 0)
        fprintf(stderr, "test_bank: nemesis: %s old primary :%d is a replica %lld ms after its %s\n", REGION[r],
                old_port, rejoin, pause ? "SIGCONT" : "restart");
    faults[pause ? F_HA_PAUSE : F_HA_KILL9]++;
}

/* The plain store faults in HA mode act on the replica: a restart
 * (graceful) or a kill -9 and a start; it must be a replica again. */
static void ha_fault_replica(uint64_t *rng, int r, int kind) {
    int q = 1 - ha_primary[r];
    redis_harness_t *h = ha[r]->redis[q];
    fprintf(stderr, "test_bank: nemesis: %s replica :%d of %s\n", kind == F_REDIS_KILL9 ? "kill -9" : "restart",
            h->port, REGION[r]);
    long long t0 = proc_now_ms();
    if ((kind == F_REDIS_KILL9 && redis_kill9(h) != 0) || redis_restart(h) != 0) {
        problem("replica of %s: %s", REGION[r], redis_last_error());
        return;
    }
    long long back = ha_wait_replica_ticking(rng, r, q, t0);
    if (back > has.replica_ms_max) has.replica_ms_max = back;
    faults[kind]++;
}

/* A store fault of region r in HA mode: the primary lost (kill -9 or
 * paused) or the replica restarted or killed, at random. */
static void ha_fault(uint64_t *rng, int r, int kind) {
    ha_follow(r);
    uint64_t dice = rng_below(rng, 100);
    if (dice < 35) ha_fault_primary(rng, r, 0);
    else if (dice < 65) ha_fault_primary(rng, r, 1);
    else ha_fault_replica(rng, r, kind);
}

/* One random fault on a random gateway or store. */
static void nemesis_fault(uint64_t *rng) {
    uint64_t dice = rng_below(rng, 100);
    int kind = dice < 35   ? F_KILL9
               : dice < 70 ? F_PAUSE
               : cfg.redis_kill9 && dice < 85 ? F_REDIS_KILL9
                                              : F_REDIS_RESTART;
    int i = (int)rng_below(rng, (uint64_t)ninst());
    if ((kind == F_KILL9 || kind == F_PAUSE) && (gw[i].down || gw[i].paused))
        kind = F_REDIS_RESTART; /* that gateway is already disturbed */
    if (cfg.ha && (kind == F_REDIS_RESTART || kind == F_REDIS_KILL9)) {
        ha_fault(rng, inst_region(i), kind);
        return;
    }
    switch (kind) {
    case F_KILL9:
    case F_PAUSE:
        if (nemesis_gateway(rng, kind, i) != 0) return;
        break;
    case F_REDIS_RESTART:
        fprintf(stderr, "test_bank: nemesis: restart redis of %s\n", REGION[inst_region(i)]);
        if (redis_restart(federation_redis(fed, i)) != 0)
            problem("redis restart %s: %s", REGION[inst_region(i)], redis_last_error());
        break;
    case F_REDIS_KILL9:
        fprintf(stderr, "test_bank: nemesis: kill -9 redis of %s\n", REGION[inst_region(i)]);
        if (redis_kill9(federation_redis(fed, i)) != 0 || redis_restart(federation_redis(fed, i)) != 0)
            problem("redis kill -9 %s: %s", REGION[inst_region(i)], redis_last_error());
        break;
    }
    faults[kind]++;
}

/* ---- episodes: a peer down long enough for a backlog; operators forcing legs ----------------- */

static grpc_channel *op_ch(int region) {
    grpc_channel *ch = federation_channel(fed, region, OP_CERT[region]);
    if (ch == NULL) problem("operator channel to %s: %s", REGION[region], federation_last_error());
    return ch;
}

/* The index of tid among the episode client's records from `first` on, or -1. */
static long episode_rec(const char *tid, size_t first) {
    for (size_t k = first; k < episode_client.n; k++)
        if (strcmp(episode_client.recs[k].tid, tid) == 0) return (long)k;
    return -1;
}

/* Source legs towards peer listed in doubt at every other region: *all of
 * them, and those of the episode client's records from `first` on. -1 if a
 * region did not answer. */
static int episode_backlog_count(int peer, size_t first, int *all) {
    static bank_indoubt_t list[BANK_OPS_LIST_MAX];
    int mine = 0;
    *all = 0;
    for (int s = 0; s < NREG; s++) {
        if (s == peer) continue;
        client_status_t st;
        grpc_channel *ch = op_ch(s);
        int n = ch != NULL ? bank_list_in_doubt(ch, REGION[s], list, BANK_OPS_LIST_MAX, &st) : -1;
        if (n < 0) return -1;
        for (int k = 0; k < n; k++) {
            if (strcmp(list[k].role, "source") != 0 || strcmp(list[k].peer, REGION[peer]) != 0) continue;
            (*all)++;
            if (episode_rec(list[k].tid, first) >= 0) mine++;
        }
    }
    return mine;
}

/* Waits ms while the other gateways' nemesis bookkeeping goes on. */
static void episode_wait(long long ms) {
    long long until = proc_now_ms() + ms;
    while (proc_now_ms() < until) {
        nemesis_tick();
        proc_sleep_ms(50);
    }
}

/* A burst of n transfers of 2 kg-equivalents towards dst from the other
 * regions (src < 0) or from src, each call given up after call_ms: the legs
 * stay held at their sources, the records are verified at the end. */
static void episode_burst(uint64_t *rng, int src, int dst, long n, int call_ms) {
    episode_client.call_ms = call_ms;
    for (long k = 0; k < n; k++) {
        int s = src >= 0 ? src : (dst + 1 + (int)(k % 2)) % NREG;
        rec_t *r = client_new_rec(&episode_client);
        r->src = (uint8_t)s, r->dst = (uint8_t)dst, r->meth = (uint8_t)s;
        r->src_acct = acct_not_kept(s, (uint8_t)rng_below(rng, (uint64_t)cfg.accounts));
        r->dst_acct = (uint8_t)rng_below(rng, (uint64_t)cfg.accounts);
        r->amount = 2000 / UNIT_G[s];
        atomic_fetch_add(&n_attempts, 1);
        client_send(&episode_client, r, r->amount, 0, K_SAME);
    }
    episode_client.call_ms = 0;
}

/* episode_backlog_count, asked again for up to 5 s while a region does
 * not answer (a gateway the heal has just restarted): the legs of the
 * episode's burst, or -1 if a region never answered. */
static int episode_backlog_listed(int peer, size_t first, int *all) {
    int mine = episode_backlog_count(peer, first, all);
    for (int tries = 0; mine < 0 && tries < 20; tries++) {
        episode_wait(250);
        mine = episode_backlog_count(peer, first, all);
    }
    return mine;
}

/* Sends the bursts of transfers towards the down peer p and waits until
 * their holds expire at the sources (whose clocks may run behind), are
 * aborted, and their decisions wait for p. A source the heal has just
 * woken (SIGCONT, restarted, its Redis back) may lose half of a burst to
 * its first slow calls: then a second burst, once. Returns the legs of the
 * bursts listed in doubt (*all: every leg towards p), or -1. */
static int episode_backlog_build(uint64_t *rng, int p, size_t first, int *all) {
    int mine = 0;
    *all = 0;
    for (int round = 1; round <= 2 && mine >= 0 && *all <= 4 * cfg.batch_legs_max; round++) {
        episode_burst(rng, -1, p, cfg.backlog_legs, 150);
        episode_wait(cfg.leg_expiry_ms + cfg.skew_ms + 3000);
        mine = episode_backlog_listed(p, first, all);
        fprintf(stderr, "test_bank: episode: %d legs towards %s listed in doubt at its peers (%d of the "
                        "bursts, round %d)\n", *all, REGION[p], mine, round);
    }
    return mine;
}

/* A peer down long enough that its peers build a backlog of more than
 * 4 x batch_legs_max decided legs to send it (in one burst, or two); it
 * comes back and the backlog must drain (issue 15, item 4: recovery
 * re-sent more than the peer takes). */
static void episode_backlog(uint64_t *rng) {
    int p = (int)rng_below(rng, NREG);
    nemesis_heal();
    ep.backlogs++;
    fprintf(stderr, "test_bank: episode: backlog towards %s: kill -9 its gateways, %ld legs towards it\n",
            REGION[p], cfg.backlog_legs);
    for (int k = 0; k < cfg.gateways; k++) {
        int i = p + NREG * k;
        if (federation_kill9(fed, i) != 0) problem("kill -9 %s: %s", INAME(i), federation_last_error());
        gw[i].down = 1;
        gw[i].restart_at = LLONG_MAX; /* the episode restarts it */
    }
    size_t first = episode_client.n;
    int all = 0, mine = episode_backlog_build(rng, p, first, &all);
    if ((unsigned long)all > ep.backlog_max) ep.backlog_max = (unsigned long)all;
    if (mine < 0)
        problem("backlog towards %s: its peers did not list their legs in doubt", REGION[p]);
    else if (all <= 4 * cfg.batch_legs_max)
        problem("backlog towards %s: %d legs listed, not more than 4 x batch_legs_max (%ld)", REGION[p],
                all, 4 * cfg.batch_legs_max);
    long long back = proc_now_ms(); /* peers re-send as soon as it answers */
    for (int k = 0; k < cfg.gateways; k++) nemesis_restart(p + NREG * k);
    long long up_ms = proc_now_ms() - back;
    while ((mine = episode_backlog_count(p, first, &all)) != 0 && proc_now_ms() < back + BACKLOG_DRAIN_MS)
        episode_wait(250);
    long long drain_ms = proc_now_ms() - back;
    fprintf(stderr, "test_bank: episode: the backlog towards %s drained %lld ms after its restart began "
                    "(restart took %lld ms; %d left)\n", REGION[p], drain_ms, up_ms, mine);
    if (mine < 0)
        problem("backlog towards %s: its peers did not list their legs in doubt %lld ms after it came back",
                REGION[p], drain_ms);
    else if (mine != 0)
        problem("backlog towards %s: %d legs of the burst still undelivered %lld ms after it came back",
                REGION[p], mine, drain_ms);
    if (drain_ms > ep.drain_ms_max) ep.drain_ms_max = drain_ms;
}

/* Records a forced leg. */
static void forced_add(const char *tid, int dest, Carbon__V1__Decision decision) {
    if (forced_n == FORCED_MAX) return;
    forced_t *f = &forced_legs[forced_n++];
    snprintf(f->tid, sizeof f->tid, "%s", tid);
    f->dest = (uint8_t)dest;
    f->decision = (uint8_t)decision;
}

static forced_t *forced_find(const char *tid) {
    for (size_t k = 0; k < forced_n; k++)
        if (strcmp(forced_legs[k].tid, tid) == 0) return &forced_legs[k];
    return NULL;
}

/* The destination legs prepared at the other regions from c and not decided when c froze. */
#define PEND_MAX 256
static struct {
    char tid[33];
    int done;
    int seen; /* still prepared at the last look */
} pend[PEND_MAX];
static int pend_n;

static void pend_done(const char *tid) {
    for (int k = 0; k < pend_n; k++)
        if (strcmp(pend[k].tid, tid) == 0) pend[k].done = 1;
}

static int pend_left(void) {
    int left = 0;
    for (int k = 0; k < pend_n; k++) left += !pend[k].done;
    return left;
}

/* 1 if the store of rc holds leg tid as a destination leg, 0 if not, -1
 * if the store did not answer. A leg held there only as the origin of its
 * serials waits in legs:prepared:SOURCE too, but no operator may force it
 * (the coordinator alone decides it, DESIGN §6): it is not one the
 * episode waits for. */
static int pend_is_destination(redisContext *rc, const char *tid) {
    redisReply *rep = redisCommand(rc, "HGET %s%s%s role", STORE_KEY_LEG_PREFIX, tid, STORE_KEY_LEG_SUFFIX);
    int yes = rep == NULL || rep->type == REDIS_REPLY_ERROR ? -1
              : rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "destination") == 0;
    if (rep != NULL) freeReplyObject(rep);
    return yes;
}

/* Reads into pend[] the destination legs the other regions' stores hold
 * prepared from c (voted yes, no decision yet); with prune, instead marks
 * done those of pend[] no longer there (a Decide c sent just before it
 * froze arrived). -1 if a store did not answer. */
static int pend_read(int c, int prune) {
    int before = pend_n, unanswered = 0;
    if (prune)
        for (int k = 0; k < pend_n; k++) pend[k].seen = 0;
    else
        pend_n = 0;
    for (int d = 0; d < NREG; d++) {
        if (d == c) continue;
        redisContext *rc = redis_connect(federation_redis(fed, d));
        if (rc == NULL) return -1;
        redisReply *rep = redisCommand(rc, "ZRANGE %s%s 0 -1", STORE_KEY_LEGS_PREPARED_PREFIX, REGION[c]);
        for (size_t k = 0; rep != NULL && rep->type == REDIS_REPLY_ARRAY && k < rep->elements; k++)
            if (rep->element[k]->type != REDIS_REPLY_STRING) {
                continue;
            } else if (prune) {
                for (int p = 0; p < before; p++)
                    if (strcmp(pend[p].tid, rep->element[k]->str) == 0) pend[p].seen = 1;
            } else if (pend_n < PEND_MAX) {
                int dest = pend_is_destination(rc, rep->element[k]->str);
                if (dest < 0) unanswered = 1;
                if (dest <= 0) continue;
                snprintf(pend[pend_n].tid, sizeof pend[pend_n].tid, "%s", rep->element[k]->str);
                pend[pend_n++].done = 0;
            }
        int ok = rep != NULL && !unanswered;
        if (rep != NULL) freeReplyObject(rep);
        redisFree(rc);
        if (!ok) return -1;
    }
    if (prune)
        for (int k = 0; k < pend_n; k++)
            if (!pend[k].seen) pend[k].done = 1;
    return pend_n;
}

/* Waits at most ms until another region's store holds a leg prepared from c
 * and not decided (polling each millisecond); 1 if one is there. */
static int episode_wait_prepared(int c, long long ms) {
    redisContext *rc[NREG] = {0};
    int found = 0;
    for (int d = 0; d < NREG; d++)
        if (d != c) rc[d] = redis_connect(federation_redis(fed, d));
    for (long long until = proc_now_ms() + ms; !found && proc_now_ms() < until;) {
        for (int d = 0; d < NREG && !found; d++) {
            if (rc[d] == NULL) continue;
            redisReply *rep = redisCommand(rc[d], "ZCARD %s%s", STORE_KEY_LEGS_PREPARED_PREFIX, REGION[c]);
            found = rep != NULL && rep->type == REDIS_REPLY_INTEGER && rep->integer > 0;
            if (rep != NULL) freeReplyObject(rep);
        }
        if (!found) usleep(500);
    }
    for (int d = 0; d < NREG; d++)
        if (rc[d] != NULL) redisFree(rc[d]);
    return found;
}

static int index_of(const char *const *names, int n, const char *name) {
    for (int k = 0; k < n; k++)
        if (strcmp(names[k], name) == 0) return k;
    return -1;
}

/* Keeps (kept_acct) coordinator c's account of leg tid, read from its
 * destination d. */
static void keep_coordinator_account(int c, int d, const char *tid) {
    Carbon__V1__GetTransferResponse *t = NULL;
    client_status_t st;
    if (rc_get_transfer(reg(d), tid, &t, &st) == GRPC_STATUS_OK && t->transfer != NULL) {
        const char *slash = strchr(t->transfer->from_account, '/');
        for (long k = 0; slash != NULL && k < cfg.accounts; k++)
            if (strcmp(slash + 1, acct_name[c][k]) == 0) atomic_store(&kept_acct[c][k], 1);
    } else {
        problem("GetTransfer %s at %s: %s", tid, REGION[d], st.details);
    }
    if (t != NULL) protobuf_c_message_free_unpacked(&t->base, NULL);
}

/* After a forced COMMIT at d: the account's whole balance of the leg's
 * methodology moves on to the third region (the credits are "spent"), so
 * that the coordinator's ABORT finds them gone: HEURISTIC_MIXED. The
 * coordinator's account is kept for the compensation. */
static void episode_spend(int c, int d, const bank_indoubt_t *l) {
    keep_coordinator_account(c, d, l->tid);
    const char *accts[ACCOUNTS_MAX];
    for (int k = 0; k < cfg.accounts; k++) accts[k] = acct_name[d][k];
    int a = index_of(accts, (int)cfg.accounts, l->account), m = index_of(METH, NREG, l->methodology);
    if (a < 0 || m < 0) return;
    uint64_t g = rc_balance_g(reg(d), l->account, l->methodology);
    if (g == UINT64_MAX || g / UNIT_G[d] == 0) return;
    rec_t *r = client_new_rec(&episode_client);
    r->src = (uint8_t)d, r->dst = (uint8_t)(NREG - c - d), r->meth = (uint8_t)m, r->src_acct = (uint8_t)a;
    r->dst_acct = 0;
    r->amount = g / UNIT_G[d];
    atomic_fetch_add(&n_attempts, 1);
    client_send(&episode_client, r, r->amount, 0, K_SAME);
    ep.spent++;
    fprintf(stderr, "test_bank: episode: spent %s/%s's %" PRIu64 " g of %s (transfer %s to %s: %s)\n",
            REGION[d], l->account, g, l->methodology, r->tid, REGION[r->dst], out_name(r->outcome));
}

/* One pass of the operators of every region but c over the legs prepared
 * there by c and not decided: each is forced (COMMIT and ABORT in turn).
 * Returns the number of legs still waiting (refused as too early). */
static int episode_force_pass(int c) {
    static bank_indoubt_t list[BANK_OPS_LIST_MAX];
    int waiting = 0;
    for (int d = 0; d < NREG; d++) {
        if (d == c) continue;
        client_status_t st;
        grpc_channel *ch = op_ch(d);
        int n = ch != NULL ? bank_list_in_doubt(ch, REGION[d], list, BANK_OPS_LIST_MAX, &st) : -1;
        if (n < 0) {
            problem("ListInDoubt at %s: %s", REGION[d], st.details);
            continue;
        }
        for (int k = 0; k < n; k++) {
            const bank_indoubt_t *l = &list[k];
            if (strcmp(l->role, "destination") != 0 || strcmp(l->state, "PREPARED") != 0 ||
                strcmp(l->peer, REGION[c]) != 0 || l->heuristic[0] != '\0')
                continue;
            /* COMMIT and ABORT in turn, the first a COMMIT */
            Carbon__V1__Decision dec = ep.forced_ok % 2 == 0 ? CARBON__V1__DECISION__DECISION_COMMIT
                                                             : CARBON__V1__DECISION__DECISION_ABORT;
            grpc_status_code code = bank_resolve(ch, l->tid, dec, 0, "bank test: the coordinator is paused", &st);
            if (code == GRPC_STATUS_OK) {
                ep.forced_ok++;
                pend_done(l->tid);
                forced_add(l->tid, d, dec);
                if (dec == CARBON__V1__DECISION__DECISION_COMMIT) {
                    ep.forced_commit++;
                    if (ep.forced_commit % 4 != 0) episode_spend(c, d, l); /* 3 in 4: towards MIXED */
                }
                fprintf(stderr, "test_bank: episode: operator of %s forced %s on %s (coordinator %s paused)\n",
                        REGION[d], dec == CARBON__V1__DECISION__DECISION_COMMIT ? "COMMIT" : "ABORT", l->tid,
                        REGION[c]);
            } else if (strcmp(st.reason, "HEURISTIC_TOO_EARLY") == 0 || strcmp(st.reason, "NOT_EXPIRED") == 0) {
                ep.forced_too_early++;
                waiting++;
            } else if (strcmp(st.reason, "NOT_IN_DOUBT") == 0) { /* decided meanwhile: fine */
                pend_done(l->tid);
            } else if (dec == CARBON__V1__DECISION__DECISION_COMMIT && strcmp(st.reason, "ORIGIN_NOT_CONFIRMED") == 0) {
                /* a third region's serials: a forced COMMIT needs their
                 * origin's commit first (DESIGN §6), refused as it must be;
                 * the coordinator settles the leg when it is back */
                fprintf(stderr, "test_bank: episode: forced COMMIT of %s at %s refused: its origin did not commit\n",
                        l->tid, REGION[d]);
                pend_done(l->tid);
            } else {
                problem("ResolveInDoubt %s at %s (coordinator %s paused): %s (%s)", l->tid, REGION[d],
                        REGION[c], client_status_name(code), st.details);
            }
        }
    }
    return waiting;
}

/* Operators force decisions on legs whose coordinator is paused, once the
 * guard (leg expired, coordinator unreachable for heuristic_after_ms)
 * allows it. The clients send from the coordinator for a moment so that
 * some of its legs are prepared and undecided when it freezes. */
static void episode_forced(uint64_t *rng) {
    int c = (int)rng_below(rng, NREG);
    nemesis_heal();
    ep.forced_episodes++;
    for (int attempt = 0; attempt < FORCE_ATTEMPTS; attempt++) {
        /* Freeze c the moment a peer voted yes on one of its legs. */
        atomic_store(&episode_src, c);
        episode_wait(200);
        episode_wait_prepared(c, 3000);
        for (int k = 0; k < cfg.gateways; k++) {
            int i = c + NREG * k;
            if (federation_sigstop(fed, i) != 0) problem("SIGSTOP %s: %s", INAME(i), federation_last_error());
            gw[i].paused = 1;
            gw[i].resume_at = LLONG_MAX; /* the episode resumes it */
        }
        atomic_store(&episode_src, -1);
        long long t_pause = proc_now_ms();
        int n = pend_read(c, 0);
        fprintf(stderr, "test_bank: episode: SIGSTOP every gateway of %s with %d of its legs prepared at its "
                        "peers; their operators wait for the guard\n", REGION[c], n);
        unsigned long before = ep.forced_ok, spent_before = ep.spent;
        /* Legs surface past their expiry (by the destination's clock); the
         * guard opens after heuristic_after_ms of failed QueryDecision attempts. */
        long long give_up = t_pause + cfg.leg_expiry_ms + cfg.skew_ms + cfg.heuristic_after_ms + FORCE_WAIT_MS;
        while (n > 0 && pend_left() > 0 && proc_now_ms() < give_up) {
            episode_force_pass(c);
            if (pend_read(c, 1) < 0) problem("a store did not answer while %s was frozen", REGION[c]);
            if (pend_left() > 0) episode_wait(300);
        }
        if (n > 0 && pend_left() > 0)
            problem("%d legs prepared from the paused %s could not be forced in %lld ms", pend_left(), REGION[c],
                    proc_now_ms() - t_pause);
        /* Resumed, it commits the legs whose yes votes it holds (the forced
         * ABORTs are reapplied); crashed and restarted, it presumes abort (the
         * forced COMMITs are reversed, or HEURISTIC_MIXED if spent). */
        int crash = ep.spent > spent_before || rng_below(rng, 2) == 0; /* spent: MIXED */
        for (int k = 0; k < cfg.gateways; k++) {
            int i = c + NREG * k;
            if (crash) {
                if (federation_kill9(fed, i) != 0) problem("kill -9 %s: %s", INAME(i), federation_last_error());
                nemesis_restart(i);
            } else if (federation_sigcont(fed, i) != 0) {
                problem("SIGCONT %s: %s", INAME(i), federation_last_error());
            }
            gw[i].paused = 0;
        }
        fprintf(stderr, "test_bank: episode: %s %s after %lld ms: %lu legs forced\n",
                crash ? "kill -9 and restart" : "SIGCONT", REGION[c], proc_now_ms() - t_pause, ep.forced_ok - before);
        if (ep.forced_ok > before) return;
        ep.forced_nothing++;
    }
}

/* ---- the end of the heuristic decisions ---------------------------------------------------- */

static bank_indoubt_t end_list[NREG][BANK_OPS_LIST_MAX];
static int end_n[NREG];

/* Lists every region's legs in doubt into end_list; returns the number that
 * are not HEURISTIC_MIXED, or -1 if a region did not answer. */
static int end_list_all(void) {
    int others = 0;
    for (int r = 0; r < NREG; r++) {
        client_status_t st;
        grpc_channel *ch = op_ch(r);
        end_n[r] = ch != NULL ? bank_list_in_doubt(ch, REGION[r], end_list[r], BANK_OPS_LIST_MAX, &st) : -1;
        if (end_n[r] < 0) return -1;
        for (int k = 0; k < end_n[r]; k++) others += strcmp(end_list[r][k].state, "HEURISTIC_MIXED") != 0;
    }
    return others;
}

static const bank_indoubt_t *end_find(int r, const char *tid, const char *role) {
    for (int k = 0; k < end_n[r]; k++)
        if (strcmp(end_list[r][k].tid, tid) == 0 && strcmp(end_list[r][k].role, role) == 0) return &end_list[r][k];
    return NULL;
}

static int region_index(const char *name) {
    for (int r = 0; r < NREG; r++)
        if (strcmp(REGION[r], name) == 0) return r;
    return -1;
}

/* Every gateway's metric carbon_legs_heuristic_mixed equals the legs its
 * region lists HEURISTIC_MIXED (the gauge is refreshed on a timer: a few
 * seconds allowed), whichever of the region's gateways holds the recovery
 * lease. */
static void end_check_metric(void) {
    for (int i = 0; i < ninst(); i++) {
        int r = inst_region(i);
        long long listed = 0, v = -1;
        for (int k = 0; k < end_n[r]; k++) listed += strcmp(end_list[r][k].state, "HEURISTIC_MIXED") == 0;
        int port = bank_metrics_port(federation_log_path(fed, i));
        for (long long until = proc_now_ms() + 10000; proc_now_ms() < until; proc_sleep_ms(250))
            if ((v = bank_metric(port, "carbon_legs_heuristic_mixed")) == listed) break;
        if (v != listed)
            problem("%s lists %lld HEURISTIC_MIXED legs, the metric carbon_legs_heuristic_mixed of its "
                    "gateway %s says %lld (metrics port %d)", REGION[r], listed, INAME(i), v, port);
    }
}

/* f was compensated at its destination d: its serials (from d's record)
 * stay in two places by design. */
static void forced_comp_dest(forced_t *f, int d) {
    f->comp = COMP_DEST;
    Carbon__V1__GetTransferResponse *t = NULL;
    client_status_t st;
    if (rc_get_transfer(reg(d), f->tid, &t, &st) != GRPC_STATUS_OK || t->transfer == NULL) {
        problem("GetTransfer %s at %s after its compensation: %s", f->tid, REGION[d], st.details);
    } else if (t->transfer->n_blocks > FORCED_BLOCKS_MAX) {
        problem("transfer %s has %zu blocks, more than a leg may (%d)", f->tid, t->transfer->n_blocks,
                FORCED_BLOCKS_MAX);
    } else {
        free(f->blocks);
        f->blocks_n = 0;
        f->blocks = calloc(t->transfer->n_blocks + 1, sizeof *f->blocks);
        if (f->blocks == NULL) abort();
        for (size_t k = 0; k < t->transfer->n_blocks; k++) {
            const Carbon__V1__CreditBlock *b = t->transfer->blocks[k];
            snprintf(f->blocks[f->blocks_n].origin, sizeof f->blocks[0].origin, "%s", b->origin_region);
            f->blocks[f->blocks_n].first = b->serial_start;
            f->blocks[f->blocks_n++].last = b->serial_end;
        }
    }
    if (t != NULL) protobuf_c_message_free_unpacked(&t->base, NULL);
}

/* One HEURISTIC_MIXED leg listed at its destination d: the coordinator lists
 * it too, Reconcile names it, the test forced it; then an operator
 * compensates, at the coordinator if its account still holds the serials,
 * else at the destination. */
static void end_mixed_leg(int d, const bank_indoubt_t *l) {
    int s = region_index(l->peer);
    forced_t *f = forced_find(l->tid);
    ep.mixed++;
    fprintf(stderr, "test_bank: HEURISTIC_MIXED %s: %s -> %s, forced %s at %s\n", l->tid,
            s >= 0 ? REGION[s] : l->peer, REGION[d], l->heuristic, REGION[d]);
    if (f == NULL) problem("transfer %s is HEURISTIC_MIXED at %s, but no operator of the test forced it", l->tid, REGION[d]);
    if (s < 0) {
        problem("transfer %s HEURISTIC_MIXED at %s from an unknown peer '%s'", l->tid, REGION[d], l->peer);
        return;
    }
    if (f != NULL) f->mixed = 1;
    const bank_indoubt_t *at_s = end_find(s, l->tid, "source");
    if (at_s == NULL || strcmp(at_s->state, "HEURISTIC_MIXED") != 0)
        problem("transfer %s HEURISTIC_MIXED at %s is not listed HEURISTIC_MIXED by its coordinator %s", l->tid,
                REGION[d], REGION[s]);
    client_status_t st;
    if (bank_reconcile_names(op_ch(s), REGION[d], l->tid, &st) != 1 &&
        bank_reconcile_names(op_ch(d), REGION[s], l->tid, &st) != 1)
        problem("transfer %s HEURISTIC_MIXED: Reconcile between %s and %s does not name it (%s)", l->tid,
                REGION[s], REGION[d], st.details);
    grpc_status_code code = bank_resolve(op_ch(s), l->tid, CARBON__V1__DECISION__DECISION_COMMIT, 1,
                                         "bank test: compensate at the coordinator", &st);
    if (code == GRPC_STATUS_OK) {
        ep.comp_source++;
        if (f != NULL) f->comp = COMP_SOURCE;
        return;
    }
    if (strcmp(st.reason, "INSUFFICIENT_BALANCE") != 0) {
        problem("compensating %s at its coordinator %s: %s (%s)", l->tid, REGION[s], client_status_name(code),
                st.details);
        return;
    }
    code = bank_resolve(op_ch(d), l->tid, CARBON__V1__DECISION__DECISION_COMMIT, 1,
                        "bank test: compensate at the destination", &st);
    if (code == GRPC_STATUS_OK) {
        ep.comp_dest++;
        if (f != NULL) forced_comp_dest(f, d);
    } else {
        problem("compensating %s at %s (its coordinator %s no longer holds it): %s (%s)", l->tid, REGION[d],
                REGION[s], client_status_name(code), st.details);
    }
}

/* Once every other leg is settled, every HEURISTIC_MIXED leg is reported
 * (ListInDoubt on both sides, Reconcile, the metric) and compensated, before
 * the conservation check. */
static void heuristic_end(void) {
    long long until = proc_now_ms() + SETTLE_TIMEOUT_MS;
    int others;
    while ((others = end_list_all()) != 0 && proc_now_ms() < until) proc_sleep_ms(500);
    if (others != 0) {
        problem("%d legs still in doubt (not HEURISTIC_MIXED) %d s after the faults", others, SETTLE_TIMEOUT_MS / 1000);
        return;
    }
    end_check_metric();
    for (int r = 0; r < NREG; r++)
        for (int k = 0; k < end_n[r]; k++) {
            const bank_indoubt_t *l = &end_list[r][k];
            if (strcmp(l->state, "HEURISTIC_MIXED") != 0) continue;
            if (strcmp(l->role, "destination") == 0) {
                end_mixed_leg(r, l);
            } else {
                int d = region_index(l->peer);
                if (d < 0 || end_find(d, l->tid, "destination") == NULL)
                    problem("transfer %s HEURISTIC_MIXED at its coordinator %s is not listed at %s", l->tid,
                            REGION[r], l->peer);
            }
        }
}

/* A checker violation that a compensation at the destination leaves by
 * design (README "Heuristic decisions": the leg's serials stay in two
 * places and the coordinator's leg stays listed). The origin's map (checker
 * since 2228d7f) sees the same two places: its findings on the leg's serials
 * count as that too. */
static int violation_expected(const char *v) {
    if (ep.comp_dest == 0) return 0;
    char origin[16];
    uint64_t first = 0, last = 0;
    int two = sscanf(v, "%15s serials %" SCNu64 "-%" SCNu64, origin, &first, &last) == 3 &&
              (strstr(v, " are in two places") != NULL || strstr(v, "'s map places them ") != NULL);
    for (size_t k = 0; k < forced_n; k++) {
        const forced_t *f = &forced_legs[k];
        if (f->comp != COMP_DEST) continue;
        if (strstr(v, f->tid) != NULL) return 1;
        for (int b = 0; two && b < f->blocks_n; b++)
            if (strcmp(f->blocks[b].origin, origin) == 0 && first <= f->blocks[b].last && f->blocks[b].first <= last)
                return 1;
    }
    return 0;
}

/* rc_wait_settled, except that violations_expected() ones do not count: the
 * last report, with *expected of its violations expected. */
static checker_report_t *wait_settled(int *expected) {
    long long until = proc_now_ms() + SETTLE_TIMEOUT_MS;
    for (;;) {
        checker_report_t *rep = ep.comp_dest == 0 ? rc_wait_settled(fed, SETTLE_TIMEOUT_MS) : rc_check(fed, 1);
        if (rep == NULL) return NULL;
        *expected = 0;
        for (uint64_t k = 0; k < rep->violations_n && k < CHECKER_VIOLATIONS_MAX; k++)
            *expected += violation_expected(rep->violations[k]);
        if ((uint64_t)*expected == rep->violations_n || ep.comp_dest == 0 || proc_now_ms() >= until) return rep;
        free(rep);
        proc_sleep_ms(500);
    }
}

static void nemesis(uint64_t *rng) {
    /* past end only while fewer than min_faults faults were injected, and
     * never past end_max (the episodes may take most of a short run) */
    long long t0 = proc_now_ms(), end = t0 + cfg.seconds * 1000LL, end_max = end + cfg.seconds * 1000LL;
    long long next_fault = t0 + 500 + (long long)rng_below(rng, 1500);
    long long next_progress = t0 + 10000;
    long episodes = cfg.backlogs + cfg.forced, done = 0, backlogs_left = cfg.backlogs,
         forced_left = cfg.forced;
    unsigned long total = 0;
    for (long long t = proc_now_ms(); t < end || (faults_injected() < (unsigned long)cfg.min_faults && t < end_max);
         t = proc_now_ms()) {
        nemesis_tick();
        long long now = proc_now_ms();
        /* The episodes, evenly spread over the run, alternating. */
        if (done < episodes && now >= t0 + (done + 1) * (cfg.seconds * 1000LL) / (episodes + 1)) {
            int forced = forced_left > 0 && (done % 2 == 0 || backlogs_left == 0);
            if (forced) {
                forced_left--;
                episode_forced(rng);
            } else {
                backlogs_left--;
                episode_backlog(rng);
            }
            done++;
            next_fault = proc_now_ms() + 200 + (long long)rng_below(rng, 2300);
        } else if (now >= next_fault && total < (unsigned long)cfg.max_faults) {
            nemesis_fault(rng);
            total++;
            next_fault = proc_now_ms() + 200 + (long long)rng_below(rng, 2300);
        }
        if (proc_now_ms() >= next_progress) {
            nemesis_print_progress(t0);
            next_progress = proc_now_ms() + 10000;
        }
        proc_sleep_ms(20);
    }
    nemesis_heal();
    for (int r = 0; cfg.ha && r < NREG; r++) ha_follow(r); /* the checker reads each primary */
    nemesis_print_progress(t0);
}

/* ---- the trace check (issue 14 item 5) ----------------------------------------------------- */

/* Every region's whole audit log, read over mutual TLS by gwctl audit
 * model-check (CN-TJ's auditor; Audit.ReadLog, as gwctl audit verify reads
 * it) and checked against the protocol model's transitions
 * (tests/model/README.md): any step the model does not allow is a problem,
 * and so is a step stamped before the step it follows.
 * Prints gwctl's findings and summary (entries, transfers, time). */
static void model_check_logs(void) {
    char cert[512], key[512], ca[512], targets[256];
    snprintf(cert, sizeof cert, "%s/CN-TJ-auditor.crt", harness_pki_dir());
    snprintf(key, sizeof key, "%s/CN-TJ-auditor.key", harness_pki_dir());
    snprintf(ca, sizeof ca, "%s/ca.crt", harness_pki_dir());
    snprintf(targets, sizeof targets, "%s=127.0.0.1:%d,%s=127.0.0.1:%d,%s=127.0.0.1:%d", REGION[0],
             federation_port(fed, 0), REGION[1], federation_port(fed, 1), REGION[2], federation_port(fed, 2));
    /* --max-skew-ms: the regions' clocks differ by at most the skew this
     * run gave them (FAULT_CLOCK_SKEW_MS; 0: one host clock), so a step is
     * never stamped more than that before the step it follows */
    char skew[24];
    snprintf(skew, sizeof skew, "%ld", cfg.skew_ms);
    const char *argv[] = {BINARY_DIR "/gwctl", "audit", "model-check", "--targets", targets, "--cert", cert,
                          "--key", key, "--ca", ca, "--max-skew-ms", skew, NULL};
    int status = -1;
    char *out = NULL, *err = NULL;
    long long t0 = proc_now_ms();
    if (harness_run(argv, 600000, &status, &out, &err) != 0) {
        problem("gwctl audit model-check did not run: %s", federation_last_error());
    } else {
        fprintf(stderr, "test_bank: trace check of every region's log against the model (%.1f s):\n%s%s",
                (proc_now_ms() - t0) / 1000.0, out ? out : "", err ? err : "");
        const char *first = out && strncmp(out, "  ", 2) == 0 ? out + 2 : ""; /* the first finding's line */
        if (status != 0) problem("the trace check (gwctl audit model-check) exited %d; first: %.*s", status,
                                 (int)(strchr(first, '\n') ? strchr(first, '\n') - first : 0), first);
    }
    free(out);
    free(err);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static void stop_and_join_clients(void) {
    atomic_store(&stop_clients, 1);
    for (int k = 0; k < CLIENTS_MAX; k++)
        if (clients[k].started) {
            pthread_join(clients[k].thread, NULL);
            clients[k].started = 0;
        }
    if (episode_client.started) {
        pthread_join(episode_client.thread, NULL);
        episode_client.started = 0;
    }
}

static void client_free(client_t *c) {
    for (int i = 0; i < NINST_MAX; i++)
        if (c->ch[i] != NULL) {
            grpc_channel_destroy(c->ch[i]);
            c->ch[i] = NULL;
        }
    free(c->recs);
    c->recs = NULL;
    free(c->iss);
    c->iss = NULL;
}

/* Channels to every gateway (as the region's registry), ready. */
static void client_connect(client_t *c, int index) {
    c->index = index;
    c->rng = cfg.seed ^ (0x51ed270b27a1f3c5ull * (uint64_t)(index + 1));
    for (int i = 0; i < ninst(); i++) {
        c->ch[i] = harness_channel_to(federation_port(fed, i), REG_CERT[inst_region(i)]);
        cr_assert_not_null(c->ch[i], "%s", federation_last_error());
        harness_channel_wait_ready(c->ch[i], 5000);
    }
}

/* The skewed clocks: one region FAULT_CLOCK_SKEW_MS/2 ahead, another as much
 * behind, the third in between (gatewayd's test hook, settlement/failpoint.h).
 * Before any thread: setenv. */
static void clocks_skew(uint64_t *rng) {
    if (cfg.skew_ms == 0) return;
    long long off[NREG];
    int ahead = (int)rng_below(rng, NREG), behind = (ahead + 1 + (int)rng_below(rng, NREG - 1)) % NREG;
    for (int r = 0; r < NREG; r++)
        off[r] = r == ahead ? cfg.skew_ms / 2 : r == behind ? -(cfg.skew_ms / 2)
                            : (long long)rng_below(rng, (uint64_t)cfg.skew_ms + 1) - cfg.skew_ms / 2;
    char spec[128];
    snprintf(spec, sizeof spec, "%s:%lld,%s:%lld,%s:%lld", REGION[0], off[0], REGION[1], off[1], REGION[2], off[2]);
    fprintf(stderr, "test_bank: clocks skewed: CARBON_TEST_CLOCK_OFFSET_MS=%s\n", spec);
    setenv("CARBON_TEST_HOOKS", "1", 1);
    setenv("CARBON_TEST_CLOCK_OFFSET_MS", spec, 1);
}

/* The federation: every region's first gateway, then FAULT_GATEWAYS - 1 more
 * on the same store; small batches so that a backlog is cheap, a short
 * heuristic guard, metrics on. */
static void federation_up(void) {
    char ini[256];
    snprintf(ini, sizeof ini, "[limits]\nbatch_legs_max = %ld\nheuristic_after_ms = %ld\n"
                              "[metrics]\nlisten = 127.0.0.1:0\n", cfg.batch_legs_max, cfg.heuristic_after_ms);
    federation_options_t o = {.regions_n = NREG, .leg_expiry_ms = (int)cfg.leg_expiry_ms,
                              .recovery_interval_ms = 300, .extra_ini = ini};
    if (cfg.ha) { /* gateways follow Sentinel and WAIT for one replica */
        ha_up();
        o.store_min_replicas = 1;
        for (int r = 0; r < NREG; r++) {
            o.store_sentinels[r] = ha[r]->sentinels_text;
            o.store_master_name[r] = ha[r]->master_name;
            o.store_redis[r] = ha[r]->redis[0];
        }
    }
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
    for (int r = 0; r < NREG; r++) snprintf(inst_label[r], sizeof inst_label[r], "%s", REGION[r]);
    for (int k = 1; k < cfg.gateways; k++)
        for (int r = 0; r < NREG; r++) {
            int i = federation_start_second(fed, r);
            cr_assert_eq(i, r + NREG * k, "second gateway of %s: %d, %s", REGION[r], i, federation_last_error());
            snprintf(inst_label[i], sizeof inst_label[i], "%s/%d", REGION[r], k + 1);
        }
}

static void fini(void) {
    alarm(0);
    stop_and_join_clients();
    for (int k = 0; k < CLIENTS_MAX; k++) client_free(&clients[k]);
    client_free(&episode_client);
    for (size_t k = 0; k < forced_n; k++) {
        free(forced_legs[k].blocks);
        forced_legs[k].blocks = NULL;
    }
    federation_free(fed);
    fed = NULL;
    ha_down();
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

static void print_problems(void) {
    int n = atomic_load(&problems_n);
    for (int i = 0; i < n && i < PROBLEMS_KEPT; i++) fprintf(stderr, "  problem %d: %s\n", i + 1, problems[i]);
    if (n > PROBLEMS_KEPT) fprintf(stderr, "  ... and %d more\n", n - PROBLEMS_KEPT);
}

Test(fault, bank, .fini = fini) {
    cfg_load();
    long long t_start = proc_now_ms();
    fprintf(stderr,
            "test_bank: FAULT_SEED=%" PRIu64 " FAULT_SECONDS=%ld clients %ld, accounts %ld per "
            "region, call deadline %ld ms, leg expiry %ld ms%s\n",
            cfg.seed, cfg.seconds, cfg.clients, cfg.accounts, cfg.call_ms, cfg.leg_expiry_ms,
            cfg.redis_kill9 ? ", redis kill -9 on" : "");
    if (cfg.ha)
        fprintf(stderr, "test_bank: FAULT_HA=1: each store a primary, a replica, 3 Sentinels (down-after %ld ms); "
                "gateways min_replicas 1\n", cfg.ha_down_after_ms);
    /* A watchdog: everything below is bounded; a hang still ends the test (and
     * PR_SET_PDEATHSIG takes the children with it). */
    alarm((unsigned)(cfg.seconds + SETTLE_TIMEOUT_MS / 1000 * 3 + 600));
    uint64_t rng = cfg.seed;
    clocks_skew(&rng);
    grpc_lifetime_begin();
    char warm[33];
    rc_new_id(warm); /* rc_new_id's salt is set here, before any thread */

    federation_up();

    for (int r = 0; r < NREG; r++) {
        for (int k = 0; k < cfg.accounts; k++) {
            snprintf(acct_name[r][k], sizeof acct_name[r][k], "%s-%d", PREFIX[r], k);
            open_ok(r, acct_name[r][k]);
            issue_ok(r, acct_name[r][k], ISSUE_MILLI_KWH);
        }
        snprintf(probe_name[r], sizeof probe_name[r], "%s-probe", PREFIX[r]);
        open_ok(r, probe_name[r]);
    }
    checker_report_t *rep = rc_check(fed, 1);
    cr_assert_not_null(rep);
    cr_assert_eq(rep->violations_n, 0);
    free(rep);

    for (int k = 0; k < cfg.clients; k++) client_connect(&clients[k], k);
    client_connect(&episode_client, CLIENTS_MAX);
    for (int k = 0; k < cfg.clients; k++) {
        cr_assert_eq(pthread_create(&clients[k].thread, NULL, client_main, &clients[k]), 0);
        clients[k].started = 1;
    }

    long long t_faults = proc_now_ms();
    nemesis(&rng);
    stop_and_join_clients();
    long long t_settle = proc_now_ms();
    fprintf(stderr, "test_bank: clients stopped after %.1f s; waiting for recovery\n",
            (t_settle - t_faults) / 1000.0);

    /* Recovery settles everything but the HEURISTIC_MIXED legs, which are
     * reported and compensated; then no leg in flight or in doubt, no
     * violation (but those a compensation at a destination leaves). */
    heuristic_end();
    int expected = 0;
    rep = wait_settled(&expected);
    cr_assert_not_null(rep);
    long long t_settled = proc_now_ms();
    fprintf(stderr, "test_bank: settled in %.1f s\n", (t_settled - t_settle) / 1000.0);
    checker_print(rep, stderr);
    uint64_t violations = rep->violations_n - (uint64_t)expected;
    uint64_t cancelled_g = rep->grams_cancelled;
    if (violations > 0)
        problem("checker: %" PRIu64 " violations after recovery, first: %s", violations,
                rep->violations[0]);
    free(rep);

    /* Every answer against both stores, by the clients' own channels, in parallel. */
    for (int k = 0; k < cfg.clients; k++) {
        for (int r = 0; r < NREG; r++) harness_channel_wait_ready(clients[k].ch[r], 5000);
        cr_assert_eq(pthread_create(&clients[k].thread, NULL, verify_main, &clients[k]), 0);
        clients[k].started = 1;
    }
    cr_assert_eq(pthread_create(&episode_client.thread, NULL, verify_main, &episode_client), 0);
    episode_client.started = 1;
    stop_and_join_clients();
    uint64_t v_committed = 0, v_aborted = 0, v_absent = 0, v_discount = 0, v_resolved = 0;
    uint64_t client_issuances = 0, v_third = 0, v_heuristic = 0, v_comp_cancelled = 0;
    for (int k = 0; k <= cfg.clients; k++) {
        const client_t *c = k < cfg.clients ? &clients[k] : &episode_client;
        issued_g += c->v_issued_g;
        client_issuances += c->iss_n;
        v_committed += c->v_committed;
        v_aborted += c->v_aborted;
        v_absent += c->v_absent;
        v_discount += c->v_discount_g;
        v_resolved += c->v_resolved;
        v_third += c->v_third_committed;
        v_heuristic += c->v_heuristic;
        v_comp_cancelled += c->v_comp_cancelled_g;
    }
    long long t_verified = proc_now_ms();

    /* Bank total before the probes: issued == in accounts + discounts cancelled. */
    uint64_t total_g = bank_total_g();
    if (total_g + v_discount != issued_g)
        problem("bank: issued %" PRIu64 " g, accounts hold %" PRIu64 " g, committed transfers "
                "cancelled %" PRIu64 " g: %" PRId64 " g unaccounted",
                issued_g, total_g, v_discount, (int64_t)(issued_g - total_g - v_discount));
    if (cancelled_g != v_discount + v_comp_cancelled)
        problem("bank: the checker counts %" PRIu64 " g cancelled, the committed transfers' "
                "discounts are %" PRIu64 " g, compensations at destinations %" PRIu64 " g", cancelled_g,
                v_discount, v_comp_cancelled);

    /* Liveness: every region issues and transfers to every other region. */
    for (int s = 0; s < NREG; s++) issue_ok(s, probe_name[s], 10000);
    for (int s = 0; s < NREG; s++)
        for (int d = 0; d < NREG; d++) {
            if (s == d) continue;
            char tid[33];
            rc_new_id(tid);
            Carbon__V1__TransferResponse *tr = NULL;
            client_status_t st;
            grpc_status_code code = rc_transfer(reg(s), tid, probe_name[s], REGION[d], probe_name[d],
                                                METH[s], 2000 / UNIT_G[s], &tr, &st);
            if (code != GRPC_STATUS_OK ||
                out_of(tr->transfer->outcome) != OUT_COMMITTED)
                problem("probe transfer %s -> %s after the faults: %s %s (%s)", REGION[s],
                        REGION[d], client_status_name(code),
                        code == GRPC_STATUS_OK ? out_name(out_of(tr->transfer->outcome)) : "",
                        code == GRPC_STATUS_OK ? tr->transfer->reason : st.details);
            else
                v_discount += tr->transfer->quote->discount_g;
            if (tr != NULL) protobuf_c_message_free_unpacked(&tr->base, NULL);
        }
    rep = wait_settled(&expected);
    cr_assert_not_null(rep);
    if (rep->violations_n > (uint64_t)expected)
        problem("checker after the probes: %" PRIu64 " violations, first: %s", rep->violations_n - (uint64_t)expected,
                rep->violations[0]);
    violations += rep->violations_n - (uint64_t)expected;
    free(rep);
    total_g = bank_total_g();
    if (total_g + v_discount != issued_g)
        problem("bank after the probes: issued %" PRIu64 " g, accounts hold %" PRIu64
                " g, discounts %" PRIu64 " g", issued_g, total_g, v_discount);

    model_check_logs(); /* the trace check (issue 14 item 5) */
    /* Fork alarms of the witnesses (Operations.ListForks): printed, not a
     * failure of this test (known: a stale checkpoint from the other gateway
     * of a region sharing its store is taken for a rollback). */
    int forks[NREG];
    for (int r = 0; r < NREG; r++) {
        client_status_t st;
        forks[r] = bank_forks(op_ch(r), &st);
    }

    /* Every gateway stops cleanly: exit 0, no sanitizer report. */
    int errors_logged[NREG] = {0};
    for (int i = 0; i < ninst(); i++) {
        errors_logged[inst_region(i)] += federation_log_count(fed, i, "\"level\":\"error\"");
        /* Also a gateway that crashed while the harness (re)started it. */
        int reports = 0;
        for (size_t k = 0; k < sizeof SANITIZER_NEEDLES / sizeof *SANITIZER_NEEDLES; k++)
            reports += federation_log_count(fed, i, SANITIZER_NEEDLES[k]);
        if (reports > 0) {
            char *excerpt = log_excerpt(i);
            problem("%d sanitizer reports in %s's log, the last: %s", reports, INAME(i), excerpt);
            free(excerpt);
        }
    }
    if (atomic_load(&problems_n) > 0) setenv("KEEP_TEST_DIRS", "1", 1);
    federation_stop(fed);
    for (int i = 0; i < ninst(); i++)
        if (federation_exit_status(fed, i) != 0)
            problem("gateway %s exited with status %d on SIGTERM", INAME(i),
                    federation_exit_status(fed, i));

    unsigned long faults_total = faults_injected();
    fprintf(stderr,
            "test_bank: ==== summary (FAULT_SEED=%" PRIu64 ") ====\n"
            "  run time                  %.1f s (faults %.1f s, settle %.1f s, verify %.1f s)\n"
            "  transfers attempted       %llu (to unknown accounts %llu)\n"
            "  answers COMMITTED         %llu\n"
            "  answers ABORTED           %llu\n"
            "  answers refused           %llu (resource exhausted %llu)\n"
            "  answers unknown outcome   %llu (pending %llu)\n"
            "  replays, same content     %llu (%llu compared with a known outcome)\n"
            "  replays, other content    %llu (%llu ALREADY_EXISTS)\n"
            "  issuances by clients      %llu (calls %llu, unknown outcome %llu)\n"
            "  final at the sources      committed %" PRIu64 ", aborted %" PRIu64
            ", no record %" PRIu64 " (unknown answers resolved: %" PRIu64 ")\n"
            "  bank                      issued %" PRIu64 " g, in accounts %" PRIu64
            " g, cancelled %" PRIu64 " g\n"
            "  faults                    %lu: %s %lu, %s %lu, %s %lu, %s %lu; "
            "unexpected gateway deaths %lu\n"
            "  error lines in logs       TJ %d, BJ %d, HE %d\n"
            "  checker violations        %" PRIu64 "\n"
            "  problems                  %d\n",
            cfg.seed, (proc_now_ms() - t_start) / 1000.0, (t_settle - t_faults) / 1000.0,
            (t_settled - t_settle) / 1000.0, (t_verified - t_settled) / 1000.0,
            (unsigned long long)n_attempts, (unsigned long long)n_nobody,
            (unsigned long long)n_committed, (unsigned long long)n_aborted,
            (unsigned long long)n_refused, (unsigned long long)n_busy,
            (unsigned long long)n_unknown, (unsigned long long)n_pending,
            (unsigned long long)n_replays_same, (unsigned long long)n_replays_checked,
            (unsigned long long)n_replays_diff, (unsigned long long)n_replays_diff_ok,
            (unsigned long long)client_issuances, (unsigned long long)n_issues,
            (unsigned long long)n_issues_unknown, v_committed,
            v_aborted, v_absent, v_resolved, issued_g, total_g, v_discount, faults_total,
            FAULT_NAME[F_KILL9], faults[F_KILL9], FAULT_NAME[F_PAUSE], faults[F_PAUSE],
            FAULT_NAME[F_REDIS_RESTART], faults[F_REDIS_RESTART], FAULT_NAME[F_REDIS_KILL9],
            faults[F_REDIS_KILL9], unexpected_deaths, errors_logged[0], errors_logged[1],
            errors_logged[2], violations, atomic_load(&problems_n));
    fprintf(stderr,
            "  gateways per region       %ld; clocks skewed by up to %ld ms; leg expiry %ld ms\n"
            "  third-region serials      %llu sent, %" PRIu64 " committed\n"
            "  backlog episodes          %lu: largest backlog %lu legs (batch_legs_max %ld), "
            "longest drain %lld ms (from the restart)\n"
            "  forced-decision episodes  %lu: %lu legs forced (%lu COMMIT), %lu refused as too early, "
            "%lu attempts with no leg in doubt, %lu spent at once; %" PRIu64 " verified\n"
            "  HEURISTIC_MIXED           %lu: compensated at the coordinator %lu, at the destination %lu "
            "(%d checker violations left by design)\n"
            "  fork alarms (witnesses)   TJ %d, BJ %d, HE %d\n",
            cfg.gateways, cfg.skew_ms, cfg.leg_expiry_ms, (unsigned long long)n_third, v_third,
            ep.backlogs, ep.backlog_max, cfg.batch_legs_max, ep.drain_ms_max, ep.forced_episodes, ep.forced_ok,
            ep.forced_commit, ep.forced_too_early, ep.forced_nothing, ep.spent, v_heuristic, ep.mixed, ep.comp_source,
            ep.comp_dest, expected, forks[0], forks[1], forks[2]);
    if (cfg.ha)
        fprintf(stderr,
                "  HA stores                 failovers %lu (primary kill -9 %lu, SIGSTOP %lu), unplanned %lu; "
                "window (fault -> new primary named by every Sentinel, ROLE master) max %lld ms, mean %lld ms; "
                "old primary a replica again within %lld ms; replica restarts %lu + kill -9 %lu, "
                "back within %lld ms\n",
                has.failovers, faults[F_HA_KILL9], faults[F_HA_PAUSE], has.unplanned, has.window_ms_max,
                has.failovers ? has.window_ms_sum / (long long)has.failovers : 0, has.rejoin_ms_max,
                faults[F_REDIS_RESTART], faults[F_REDIS_KILL9], has.replica_ms_max);
    fprintf(stderr, "  reasons of ABORTED        ");
    for (int i = 0; i < REASONS_MAX && reason_name[i][0]; i++)
        fprintf(stderr, "%s%s %lu", i ? ", " : "", reason_name[i], reason_count[i]);
    fprintf(stderr, "\n");
    print_problems();

    cr_assert_eq(atomic_load(&problems_n), 0, "%d problems (seed %" PRIu64 "), first: %s",
                 atomic_load(&problems_n), cfg.seed, problems[0]);
    cr_assert_eq(violations, 0);
    cr_assert_geq(faults_total, (unsigned long)cfg.min_faults,
                  "only %lu faults injected, FAULT_MIN_FAULTS=%ld", faults_total, cfg.min_faults);
    cr_assert_gt(v_committed, 0, "no transfer committed");
    if (cfg.third_pct > 0) cr_assert_gt(v_third, 0, "no transfer of a third region's serials committed");
}
