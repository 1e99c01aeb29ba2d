/* ledger.h - the region's ledger on the store: accounts, blocks, issuance,
 * holds, both legs of the two-phase commit, retirement, the transfer feed.
 *
 * Each function is one Lua script (settlement/scripts/NAME.lua) run
 * atomically by Redis, so each is one state transition with its audit entry.
 * Every function is safe to replay: a repeated call with the same arguments
 * returns the recorded result and changes nothing.
 *
 * Errors: functions return a ledger_rc_t. LEDGER_OK and LEDGER_REPLAY are
 * successes; the others are refusals that changed nothing
 * (LEDGER_NO_ACCOUNT, ...), or LEDGER_ESTORE when the store could not be
 * reached or answered oddly: then the outcome is unknown and the caller
 * retries the same call (it is idempotent). Details go to err. */
#ifndef SETTLEMENT_LEDGER_H
#define SETTLEMENT_LEDGER_H

#include "settlement/store.h"
#include "common/region.h"
#include "settlement/transfer_state.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Amounts and serials stay below 2^50 grams (about 1.1 million tonnes) so
 * that the store's Lua arithmetic (doubles) is exact. */
#define LEDGER_AMOUNT_G_MAX ((uint64_t)1 << 50)
#define LEDGER_SERIAL_MAX (((uint64_t)1 << 50) - 1)
#define LEDGER_LEG_BLOCKS_MAX 1024      /* blocks one transfer or retirement may take */
#define LEDGER_ACCOUNT_BLOCKS_MAX 10000 /* blocks returned by ledger_account_get */
#define LEDGER_BATCH_LEGS_MAX 1024      /* legs in one batch script call */
#define LEDGER_ID_MAX 64                /* account id characters */
#define LEDGER_TID_LEN 32               /* hex characters of a request id */
#define LEDGER_REGION_MAX CARBON_REGION_MAX /* common/region.h */
#define LEDGER_METH_MAX 31
#define LEDGER_REASON_MAX 63
/* A refusal's detail for people: printable ASCII (reason_detail_valid), e.g.
 * which rule and the room left of a QUOTA_EXCEEDED vote. */
#define LEDGER_DETAIL_MAX 160
#define LEDGER_DIGEST_HEX 64
#define LEDGER_TEXT_MAX 256             /* bytes of a beneficiary or fingerprint (UTF-8) */
#define LEDGER_RULES_LIST_MAX 560       /* " A B " list of rules on use, 16 ids of 31 bytes */
#define LEDGER_BLOCK_TEXT_MAX 96        /* bytes of one block's text and its comma */

typedef enum {
    LEDGER_OK = 0,
    LEDGER_REPLAY = 1,               /* same id, same content: recorded result returned */
    LEDGER_CONFLICT = -1,            /* same id, other content */
    LEDGER_NO_ACCOUNT = -2,
    LEDGER_INSUFFICIENT = -3,        /* balance too low */
    LEDGER_DOUBLE_ISSUANCE = -4,     /* activity fingerprint already issued */
    LEDGER_EXISTS = -5,              /* account exists with another holder kind */
    LEDGER_SERIALS_EXHAUSTED = -6,
    LEDGER_NOT_FOUND = -7,
    LEDGER_ESTORE = -8,              /* store unreachable or odd reply: retry */
    LEDGER_EINVAL = -9,              /* argument out of range: nothing sent */
    LEDGER_TOO_FRAGMENTED = -10,     /* would take more than LEDGER_LEG_BLOCKS_MAX blocks */
    LEDGER_RESERVATION_LOST = -11,   /* the activity's reservation was abandoned (activity.h) */
    LEDGER_PURPOSE_NOT_ALLOWED = -12, /* a block's origin, methodology or vintage (rules on use) */
    LEDGER_QUOTA_EXCEEDED = -13,     /* past a share of the obligation (rules on use) */
    LEDGER_DAMAGED = -14,            /* the account's stored blocks are out of format (a hand edit) */
} ledger_rc_t;

typedef struct {
    char origin[LEDGER_REGION_MAX + 1];
    char meth[LEDGER_METH_MAX + 1];
    uint32_t vintage;
    uint64_t first; /* serials, inclusive */
    uint64_t last;
} ledger_block_t;

/* Parses "origin|meth|vintage|first|last". 0, or -1 if malformed. */
int ledger_block_parse(const char *text, size_t len, ledger_block_t *out);
/* Formats b into buf; returns the length, or -1 if it does not fit. */
int ledger_block_format(const ledger_block_t *b, char *buf, size_t buflen);
/* Parses a comma-separated list into a malloc'd array (*out, caller frees).
 * 0, or -1 if malformed or more than max blocks. An empty text gives 0 blocks. */
int ledger_blocks_parse(const char *text, size_t max, ledger_block_t **out, size_t *n);
/* Sum of grams of blocks. */
uint64_t ledger_blocks_grams(const ledger_block_t *blocks, size_t n);

/* One leg of a transfer, as recorded at either side. */
typedef struct {
    char tid[LEDGER_TID_LEN + 1];
    char role[12];   /* "source", "destination" or "origin" (origin_prepare.lua) */
    transfer_state_t state; /* HELD, COMMITTED, ABORTED (source); PREPARED, COMMITTED, ABORTED, REFUSED (destination) */
    char reason[LEDGER_REASON_MAX + 1];
    char reason_detail[LEDGER_DETAIL_MAX + 1]; /* "" or, with an abort's reason, the refusal's detail */
    char from[LEDGER_REGION_MAX + LEDGER_ID_MAX + 2]; /* source: account id; destination: "REGION/ID" */
    char to[LEDGER_REGION_MAX + LEDGER_ID_MAX + 2];   /* source: "REGION/ID"; destination: account id */
    char peer[LEDGER_REGION_MAX + 1];                 /* the other region */
    char meth[LEDGER_METH_MAX + 1];
    uint32_t vintage;
    char dest_meth[LEDGER_METH_MAX + 1];
    char request_fp[LEDGER_DIGEST_HEX + 1]; /* a source leg: its Transfer request's hash ("" if none) */
    uint64_t requested_g, credited_g, debited_g, discount_g, remainder_g;
    uint64_t ratio_num, ratio_den;
    char src_digest[LEDGER_DIGEST_HEX + 1];
    char dst_digest[LEDGER_DIGEST_HEX + 1];
    uint64_t created_ms, expiry_ms, decided_ms, cursor;
    int acked;
    /* heuristic decisions (settlement/heuristic.h, dest_decide.lua): */
    char heuristic;                /* 0, or the decision an operator forced here: 'C'/'A' */
    char heuristic_outcome[16];    /* "" until the coordinator answered: AGREED, REAPPLIED,
                                      REVERSED, MIXED, COMPENSATED (a source leg: MIXED);
                                      ORIGIN_DENIED (dest_decide.lua) */
    char coordinator_decision;     /* 0, or the coordinator's decision that settled it */
    uint64_t doubt_first_ms, doubt_last_ms, doubt_attempts; /* failed QueryDecision attempts */
    size_t blocks_n;
    ledger_block_t *blocks; /* malloc'd; ledger_leg_free */
} ledger_leg_t;

void ledger_leg_free(ledger_leg_t *leg);

/* Maps a settlement script's refusal (r: an array, element 0 its status,
 * neither "OK" nor "DUP") to its ledger_rc_t, with the reason's text in err
 * where it has one; the second element is the grams held
 * (INSUFFICIENT_BALANCE, into *have_g when not NULL), the earlier id
 * (DOUBLE_ISSUANCE, into other_id when not NULL) or why the account is
 * damaged (ACCOUNT_DAMAGED). An unknown status is LEDGER_ESTORE with the
 * script's name in err. */
int ledger_refusal(const redisReply *r, const char *script, uint64_t *have_g, char *other_id, char *err,
                   size_t errlen);

/* Opens account id with holder kind. *created is 1 if new. LEDGER_EXISTS if
 * it exists with another kind. */
int ledger_open_account(store_t *st, const char *id, const char *kind, uint64_t now_ms,
                        int *created, char *err, size_t errlen);

typedef struct {
    char issuance_id[LEDGER_TID_LEN + 1];
    char request_fp[LEDGER_DIGEST_HEX + 1]; /* hash of the request's content */
    char account[LEDGER_ID_MAX + 1];
    char meth[LEDGER_METH_MAX + 1];
    uint32_t vintage;
    uint64_t amount_g;                      /* 1..LEDGER_AMOUNT_G_MAX */
    char fingerprint[LEDGER_TEXT_MAX + 1];
    char origin[LEDGER_REGION_MAX + 1];
    char activity_key[64 + 1];              /* keyed fingerprint (activity_key.h), or "" */
    uint64_t reservation;                   /* its reservation at its home region, or 0 */
    int answer_only;                        /* 1: keyed, and activity_precheck.lua found nothing to
                                               reserve (a replay or a refusal): issue.lua answers it
                                               and never issues, should the store have changed since */
} ledger_issue_t;

/* The issuance recorded under issuance_id (issue.lua): its request's hash
 * into fp (LEDGER_DIGEST_HEX + 1 bytes) and its block. LEDGER_OK,
 * LEDGER_NOT_FOUND (none), or LEDGER_ESTORE with err (unreachable, or a
 * block out of format). */
int ledger_issuance_get(store_t *st, const char *issuance_id, char *fp, ledger_block_t *block, char *err,
                        size_t errlen);

/* Issues fresh serials. On OK/REPLAY *block is the issued block. On
 * DOUBLE_ISSUANCE other_id (33 bytes) names the earlier issuance. */
int ledger_issue(store_t *st, const ledger_issue_t *in, uint64_t now_ms, ledger_block_t *block,
                 char *other_id, char *err, size_t errlen);

/* Holds leg->debited_g of the account leg->from (source leg, step 1). leg
 * carries everything of the transfer except state/blocks, which are set on
 * OK/REPLAY (state HELD for a new hold; a replay returns the recorded state
 * and reason). On INSUFFICIENT *have_g is what the account holds. */
int ledger_hold(store_t *st, ledger_leg_t *leg, const char *request_fp, uint64_t now_ms,
                uint64_t *have_g, char *err, size_t errlen);

/* One hold of a group-committed batch (ledger_hold_batch). */
#define LEDGER_HOLD_TOKEN_HEX 16
typedef struct {
    ledger_leg_t *leg;      /* in: the leg to hold (as for ledger_hold); out as there */
    const char *request_fp; /* LEDGER_DIGEST_HEX hex */
    uint64_t now_ms;
    /* this hold's attempt ("": ledger_hold_batch draws one at random and
     * keeps it here, so that the same items run again after a call that may
     * have run find their own holds: LEDGER_OK, not LEDGER_REPLAY) */
    char hold_token[LEDGER_HOLD_TOKEN_HEX + 1];
    /* out */
    int rc;                 /* as ledger_hold's */
    uint64_t have_g;        /* on LEDGER_INSUFFICIENT */
    char err[128];
} ledger_hold_item_t;

/* Group commit of holds: holds *items[0..n) in one store call (one script,
 * one fsync), in order, each with its own outcome in items[i].rc exactly as
 * ledger_hold would give it had they run one after another (a later hold
 * sees the earlier ones: the same id twice is LEDGER_REPLAY or
 * LEDGER_CONFLICT, a balance taken by an earlier one LEDGER_INSUFFICIENT).
 * Returns LEDGER_OK when the store answered for every item; otherwise
 * LEDGER_ESTORE with the reason in err, every item's rc set to LEDGER_ESTORE:
 * nothing is known of any of them (some may be held; a retry with the same
 * ids answers their recorded outcome, and the same items run again answer
 * LEDGER_OK for the holds they made: their hold_token). *may_have_run
 * (may be NULL) tells a failure whose call Redis may have run (reply lost,
 * timed out, WAIT short) from one that sent nothing.
 * 1 <= n <= LEDGER_HOLD_BATCH_MAX. */
#define LEDGER_HOLD_BATCH_MAX 256
int ledger_hold_batch(store_t *st, ledger_hold_item_t *const *items, size_t n, bool *may_have_run,
                      char *err, size_t errlen);

/* Decision for one source leg: TRANSFER_DECISION_COMMIT ('C') or _ABORT ('A'). */
typedef struct {
    const char *tid;
    char decision;
    const char *reason;  /* for aborts */
    const char *detail;  /* for aborts: NULL, "" or the vote's detail (LEDGER_DETAIL_MAX, valid) */
    int only_if_expired; /* leave a HELD leg alone unless its expiry passed */
    /* out */
    transfer_state_t state; /* COMMITTED, ABORTED, HELD or UNKNOWN */
    char final_reason[LEDGER_REASON_MAX + 1];
    char final_detail[LEDGER_DETAIL_MAX + 1]; /* the recorded reason_detail */
    uint64_t decided_ms; /* when the recorded decision was made; 0 while undecided */
    int decided_here;    /* 1 if this call made it, 0 if it was recorded before (or none) */
} ledger_source_decision_t;

/* The commit point for a batch (one script). n <= LEDGER_BATCH_LEGS_MAX. */
int ledger_source_decide(store_t *st, ledger_source_decision_t *d, size_t n, uint64_t now_ms,
                         char *err, size_t errlen);

/* Marks decided source legs acknowledged by peer: their destination, or the
 * origin of their third-region serials (source_decide.lua records those as
 * the leg's `origins`). A leg is done (leaves legs:open, acked = 1) once its
 * destination and every origin acknowledged. peer "" counts as the
 * destination of each leg. */
int ledger_source_ack(store_t *st, const char *peer, const char *const *tids, size_t n,
                      uint64_t now_ms, char *err, size_t errlen);

/* A leg arriving at the destination, with the C side's verdict. */
typedef struct {
    const ledger_leg_t *leg; /* from = "REGION/ID" at the source, to = account id here */
    const char *precheck;    /* "" or the reason to refuse (recognition, digest, ...) */
    /* out */
    int vote_yes;
    char reason[LEDGER_REASON_MAX + 1];
    char detail[LEDGER_DETAIL_MAX + 1]; /* "" or, with a no, which rule and the room left */
} ledger_prepare_t;

/* Phase one at the destination for a batch (one script, dest_prepare.lua).
 * batch_totals is this side's "count|sum_g|digest" of the batch, recorded
 * once per batch_seq (0: not a numbered batch) if a leg is voted yes. A leg
 * is voted no (and leaves only a record that expires) if its id is another
 * source's or came with other content (ID_REUSED), its serials overlap what
 * the region holds (SERIALS_OVERLAP) or were never issued here
 * (SERIALS_NOT_ISSUED), or source_region already has inflight_max legs
 * prepared here (PEER_LEGS_LIMIT), or (inflow_max_g > 0, the rules on use's
 * daily inflow limit from source_region) the grams credited from it this UTC
 * day would pass inflow_max_g (QUOTA_EXCEEDED). source_records_own_discount
 * (the Prepare's flag): the source records the discount of its own serials
 * at its commit, so the legs' COMMIT reports no use of those to it
 * (dest_decide.lua, use_report_add's coordinator). */
int ledger_dest_prepare(store_t *st, const char *source_region, uint64_t batch_seq,
                        const char *batch_totals, ledger_prepare_t *p, size_t n,
                        uint32_t inflight_max, uint64_t inflow_max_g, int source_records_own_discount,
                        uint64_t now_ms, char *err, size_t errlen);

/* Phase one at the origin of a leg's serials when the origin is a third
 * region (one script, origin_prepare.lua): p[i].leg->to is the destination
 * account "REGION/ID", from the source's "REGION/ID", every block this
 * region's own. Votes yes and locks the blocks if the origin's map places
 * them live at source_region and nothing locks them; else no
 * (SERIALS_NOT_AT_SOURCE, SERIALS_LOCKED, ID_REUSED, EXPIRED,
 * PEER_LEGS_LIMIT, or p[i].precheck) with only a record that expires. The
 * decision arrives through ledger_dest_decide (the leg's role "origin"). */
int ledger_origin_prepare(store_t *st, const char *source_region, ledger_prepare_t *p, size_t n,
                          uint32_t inflight_max, uint64_t now_ms, char *err, size_t errlen);

/* Read-only: whether this region, as the origin of the serials of n legs it
 * has no record of, could still vote yes to each (ledger_origin_prepare's
 * checks without the lock; origin_placeable.lua). Leg i comes from
 * sources[i] with blocks[i] (blocks_n[i], 1..LEDGER_LEG_BLOCKS_MAX). Sets
 * why[i] to "" (it could) or the reason it would vote no. LEDGER_OK, or
 * LEDGER_ESTORE with the reason in err. */
int ledger_origin_placeable(store_t *st, const char *const *sources, ledger_block_t *const *blocks,
                            const size_t *blocks_n, size_t n, char (*why)[LEDGER_REASON_MAX + 1], char *err,
                            size_t errlen);

typedef struct {
    const char *tid;
    char decision;           /* 'C' or 'A' */
    const char *resolved_by;    /* "", or the operator's SPIFFE ID when forced (ResolveInDoubt) */
    const char *resolve_reason; /* with resolved_by: the operator's reason (free text); NULL = "" */
    /* a COMMIT of a leg holding a third region X's serials is applied only
     * when X confirmed it committed the same leg (engine_confirm_origins):
     * 'C' confirmed, 'A' X denies it (the leg becomes ORIGIN_DENIED), 'U' or
     * 0 not confirmed yet (nothing changes, answered 'U') */
    char origin_confirm;
    /* out */
    char applied;            /* 'C', 'A' or 'U' (unknown leg); 'M': HEURISTIC_MIXED, the
                                destination holds the other outcome (settlement/heuristic.h) */
    char heuristic_outcome[12]; /* "" or, when this call settled a leg an operator had
                                   decided: AGREED, REAPPLIED, REVERSED, MIXED */
    int origin_wait;         /* 1: a COMMIT held back for want of its origin's word
                                (answered 'U', or 'M' if the origin denied it before) */
    /* "" or, for a prepared leg left as it is (answered 'U'), what is wrong:
     * its record is out of the store's format or the store refused its
     * decision's first writes (only an edit of the store outside the gateway) */
    char damaged[LEDGER_DETAIL_MAX + 1];
    transfer_state_t damaged_state; /* with damaged: the state the leg was left in */
} ledger_dest_decision_t;

/* Phase two at the destination for a batch (one script). A COMMIT of a
 * leg holding a third region's serials is applied only with origin_confirm
 * 'C' (see above; dest_decide.lua). */
int ledger_dest_decide(store_t *st, const char *source_region, ledger_dest_decision_t *d,
                       size_t n, uint64_t now_ms, char *err, size_t errlen);

typedef struct {
    char retirement_id[LEDGER_TID_LEN + 1];
    char request_fp[LEDGER_DIGEST_HEX + 1];
    char account[LEDGER_ID_MAX + 1];
    char meth[LEDGER_METH_MAX + 1]; /* "" any */
    uint32_t vintage;               /* 0 any */
    uint64_t amount_g;
    char purpose[32];
    char beneficiary[LEDGER_TEXT_MAX + 1];
    /* rules on use (adapters/rules.h), applied in the retirement's script when
     * rules_on; lists are " A B " or "*"; a share with den 0 is none */
    int rules_on;
    char origins[LEDGER_RULES_LIST_MAX];
    char meths[LEDGER_RULES_LIST_MAX];
    uint32_t vintage_min, vintage_max; /* 0, 0: any */
    uint64_t share_num, share_den, outside_num, outside_den;
    uint32_t compliance_year;          /* 0: not compliance offsetting */
} ledger_retire_t;

/* A refusal by the rules on use (LEDGER_PURPOSE_NOT_ALLOWED, LEDGER_QUOTA_EXCEEDED),
 * from retire.lua: what is refused and the numbers, in grams. */
typedef struct {
    char what[16];  /* origin|methodology|vintage; obligation|share|share_outside */
    char block[LEDGER_BLOCK_TEXT_MAX]; /* PURPOSE_NOT_ALLOWED: the block refused */
    uint64_t room_g, cap_g, used_g;    /* QUOTA_EXCEEDED */
} ledger_rules_refusal_t;

/* Registers (or replaces) beneficiary's obligation_g for compliance_year (one
 * script, audited 'obligation'); *outcome is "OK", "DUP" (the same value was
 * registered: nothing written) or "REPLACED" with *previous_g. Returns
 * LEDGER_OK or LEDGER_ESTORE. */
int ledger_obligation_register(store_t *st, uint32_t compliance_year, const char *beneficiary,
                               uint64_t obligation_g, const char *operator_name, uint64_t now_ms,
                               char outcome[16], uint64_t *previous_g, char *err, size_t errlen);

/* Reads beneficiary's obligation for compliance_year (*registered 0: none)
 * and the grams offset against it, overall and with other regions' serials. */
int ledger_obligation_get(store_t *st, uint32_t compliance_year, const char *beneficiary,
                          int *registered, uint64_t *obligation_g, uint64_t *offset_g,
                          uint64_t *offset_outside_g, char *err, size_t errlen);

/* Retires amount_g; *blocks (malloc'd, caller frees) are the retired blocks. */
int ledger_retire(store_t *st, const ledger_retire_t *in, uint64_t now_ms,
                  ledger_block_t **blocks, size_t *blocks_n, uint64_t *have_g, char *err,
                  size_t errlen);

/* Group commit of Issue and Retire (settlement/group_commit.h): n calls of
 * one kind in one pipeline (one write; Redis runs them in one pass and makes
 * them durable with one fsync), each with its own outcome in items[i]->rc
 * exactly as ledger_issue / ledger_retire would give it, in some order of
 * the n (a later one sees the earlier ones). Returns LEDGER_OK when the store
 * answered; otherwise LEDGER_ESTORE with the reason in err and every item
 * not refused before sending LEDGER_ESTORE: nothing is known of it (it may
 * have run; a retry with the same id answers its recorded outcome).
 * 1 <= n <= LEDGER_GROUP_MAX. */
#define LEDGER_GROUP_MAX 256
typedef struct {
    const ledger_issue_t *in;
    uint64_t now_ms;
    /* out */
    int rc;
    ledger_block_t block;                /* on OK / REPLAY */
    char other_id[LEDGER_TID_LEN + 1];   /* on DOUBLE_ISSUANCE */
    char err[128];
} ledger_issue_item_t;
int ledger_issue_many(store_t *st, ledger_issue_item_t *const *items, size_t n, char *err,
                      size_t errlen);

typedef struct {
    const ledger_retire_t *in;
    uint64_t now_ms;
    /* out */
    int rc;
    ledger_block_t *blocks;  /* on OK / REPLAY: malloc'd, the caller frees */
    size_t blocks_n;
    uint64_t have_g;         /* on INSUFFICIENT */
    ledger_rules_refusal_t rules; /* on PURPOSE_NOT_ALLOWED / QUOTA_EXCEEDED */
    char err[128];
} ledger_retire_item_t;
int ledger_retire_many(store_t *st, ledger_retire_item_t *const *items, size_t n, char *err,
                       size_t errlen);

typedef struct {
    char origin[LEDGER_REGION_MAX + 1];
    char meth[LEDGER_METH_MAX + 1];
    uint32_t vintage;
    uint64_t grams;
} ledger_balance_t;

typedef struct {
    char kind[16];
    uint64_t held_g, pending_g;
    size_t balances_n;
    ledger_balance_t *balances; /* malloc'd: by origin, methodology and vintage, over all blocks */
    size_t blocks_total; /* all blocks, even beyond the limit */
    size_t blocks_n;
    ledger_block_t *blocks; /* malloc'd, oldest first */
} ledger_account_t;

/* Reads an account; LEDGER_NOT_FOUND if there is none. */
int ledger_account_get(store_t *st, const char *id, size_t blocks_limit, ledger_account_t *out,
                       char *err, size_t errlen);
void ledger_account_free(ledger_account_t *a);

/* Reads a leg by transfer id; LEDGER_NOT_FOUND if there is none. */
int ledger_leg_get(store_t *st, const char *tid, ledger_leg_t *out, char *err, size_t errlen);

typedef struct {
    uint64_t cursor;
    char tid[LEDGER_TID_LEN + 1];
    char kind; /* 'A' arrival, 'D' departure */
} ledger_feed_entry_t;

/* Lists feed entries after a cursor; kind 0 both, 'A' or 'D'. out has room
 * for limit. One call reads at most 10,000 entries of the feed (feed_list.lua),
 * matching or not; *read_to gets the cursor of the last one read (after if
 * none): go on after it, past entries that did not match. */
int ledger_feed_list(store_t *st, uint64_t after, size_t limit, char kind, ledger_feed_entry_t *out,
                     size_t *n, uint64_t *read_to, char *err, size_t errlen);

typedef struct {
    char tid[LEDGER_TID_LEN + 1];
    transfer_state_t state;
    char peer[LEDGER_REGION_MAX + 1];
    uint64_t expiry_ms;
    uint64_t decided_ms; /* a source leg's decision time by the deciding gateway's clock; 0: undecided */
} ledger_pending_leg_t;

/* What recovery must look at: unacknowledged source legs that are decided or
 * expired, and expired PREPARED destination legs. Arrays hold up to limit. */
int ledger_recovery_scan(store_t *st, uint64_t now_ms, size_t limit, ledger_pending_leg_t *src,
                         size_t *src_n, ledger_pending_leg_t *dst, size_t *dst_n, char *err,
                         size_t errlen);

/* Converts the account blocks of a store written in an earlier format (a
 * hash, or two sorted sets) into the one sorted set per account (once; a
 * converted store is left alone; run before ledger_serial_index_build):
 * account_blocks_migrate.lua. *converted and *left (may be NULL) get the
 * accounts converted and those left as they were (a field or member not
 * being a block, or two sets that differ). LEDGER_OK or LEDGER_ESTORE. */
int ledger_account_blocks_migrate(store_t *st, uint64_t *converted, uint64_t *left, char *err,
                                  size_t errlen);

/* Builds the serial index and the labels of the region's own serials
 * (serial:labels) of a store written before them (once each; a store that
 * has one is left alone): serial_index_build.lua. *ranges and *labelled
 * (may be NULL) get the ranges indexed and the issuances labelled.
 * LEDGER_OK or LEDGER_ESTORE. */
int ledger_serial_index_build(store_t *st, uint64_t *ranges, uint64_t *labelled, char *err,
                              size_t errlen);

/* The same, with a share of limit for each of the peers (peers_n of them,
 * at most LEDGER_SCAN_PEERS_MAX) and each state (expired holds, decisions
 * not acknowledged, expired prepared legs), so that no backlog hides
 * another; the rest goes to the oldest legs of any peer, as above. */
#define LEDGER_SCAN_PEERS_MAX 16
int ledger_recovery_scan_peers(store_t *st, uint64_t now_ms, size_t limit,
                               const char *const *peers, size_t peers_n,
                               ledger_pending_leg_t *src, size_t *src_n,
                               ledger_pending_leg_t *dst, size_t *dst_n, char *err,
                               size_t errlen);

/* Wall-clock milliseconds since the epoch. */
uint64_t ledger_now_ms(void);

#endif
