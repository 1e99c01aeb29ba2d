/* reasons.h - every machine-readable reason the gateway sends: the contract.
 *
 * A refused call carries its reason as the start of the status message
 * ("REASON: sentence") and in the trailing metadata "carbon-reason"; an
 * ABORTED transfer (TransferRecord.reason) and a peer's NO vote
 * (LegVote.reason) carry one too. REASONS_TABLE below is the only list of
 * them: docs/reasons.md is generated from it (reasons_doc, tests/tools) and
 * the test test_reasons fails when code and table differ.
 *
 * Adding a reason is one line in REASONS_TABLE, then REASON(NAME) at the
 * refusal site and `reasons_doc docs/reasons.md` (see docs/reasons.md).
 * No gRPC here: statuses are gRPC's numeric codes (tied to grpc's enum by
 * _Static_assert in gateway/server.c). */
#ifndef SETTLEMENT_REASONS_H
#define SETTLEMENT_REASONS_H

#include <stddef.h>

/* gRPC status codes (numbers of grpc_status_code, checked at the gateway). */
typedef enum {
    REASON_STATUS_OK = 0,
    REASON_STATUS_INVALID_ARGUMENT = 3,
    REASON_STATUS_DEADLINE_EXCEEDED = 4,
    REASON_STATUS_NOT_FOUND = 5,
    REASON_STATUS_ALREADY_EXISTS = 6,
    REASON_STATUS_PERMISSION_DENIED = 7,
    REASON_STATUS_RESOURCE_EXHAUSTED = 8,
    REASON_STATUS_FAILED_PRECONDITION = 9,
    REASON_STATUS_UNIMPLEMENTED = 12,
    REASON_STATUS_UNAVAILABLE = 14,
    REASON_STATUS_DATA_LOSS = 15,
} reason_status_t;

/* Where a reason appears: refusing a call (with its status), as the reason of
 * an ABORTED transfer or NO vote (the call itself is OK), or both. */
typedef enum { REASON_WHERE_CALL = 1, REASON_WHERE_LEG = 2, REASON_WHERE_BOTH = 3 } reason_where_t;

/* Whether sending the same request again can succeed: NO (change the
 * request), YES (as it is, same id), LATER (once something else changed:
 * a balance, a catalog, an expiry). */
typedef enum { REASON_RETRY_NO, REASON_RETRY_YES, REASON_RETRY_LATER } reason_retry_t;

/* X(NAME, STATUS, WHERE, RETRY, meaning, what the caller should do).
 * STATUS is the gRPC status of a refused call (OK for reasons that only ever
 * explain an ABORTED transfer or a NO vote). One line per entry, so that
 * reasons added in parallel merge as separate lines. */
#define REASONS_TABLE(X) \
    X(MALFORMED, INVALID_ARGUMENT, CALL, NO, "The request message could not be decoded, or a string field holds a NUL byte or is not UTF-8.", "Fix the client: send a valid protobuf message of the method's request type.") \
    X(TOO_MANY_STREAMS, RESOURCE_EXHAUSTED, CALL, LATER, "The gateway has its maximum of open streams (server reflection).", "Close idle reflection streams, retry later.") \
    X(STREAM_TOO_LONG, DEADLINE_EXCEEDED, CALL, YES, "A stream (server reflection) stayed open longer than the gateway allows, and was cancelled.", "Open a new stream for further questions.") \
    X(TOO_MANY_REQUESTS, RESOURCE_EXHAUSTED, CALL, YES, "A stream (server reflection) carried more requests than the gateway allows on one stream.", "Open a new stream for further questions.") \
    X(RESPONSE_TOO_LARGE, RESOURCE_EXHAUSTED, CALL, NO, "The answer would exceed the gateway's max_message_bytes.", "Ask for less (e.g. one file rather than a symbol with many dependencies).") \
    X(NO_MESSAGE, INVALID_ARGUMENT, CALL, NO, "The call carried no request message.", "Send exactly one request message.") \
    X(UNKNOWN_METHOD, UNIMPLEMENTED, CALL, NO, "No such method on this gateway.", "Check the method path against proto/carbon/v1/carbon.proto.") \
    X(NOT_IMPLEMENTED, UNIMPLEMENTED, CALL, NO, "The method is declared but this version does not serve it (e.g. Health/Watch).", "Use another method (e.g. Health/Check).") \
    X(NOT_AUTHORIZED, PERMISSION_DENIED, CALL, NO, "The caller's certificate (SPIFFE role or region) may not call this service.", "Call with a certificate of a role allowed for the service (DESIGN.md section 5).") \
    X(DEADLINE_EXCEEDED, DEADLINE_EXCEEDED, CALL, YES, "The call's deadline had passed before the gateway served it.", "Retry with a longer deadline; requests with an id are idempotent.") \
    X(UNKNOWN_SERVICE, NOT_FOUND, CALL, NO, "Health/Check named a service this gateway does not serve.", "Ask for \"\" or a carbon.v1 service name.") \
    X(STORE_UNAVAILABLE, UNAVAILABLE, CALL, YES, "The region's Redis store did not answer: nothing was changed, or (a call whose reply was lost) it may have been; a Transfer's outcome is then not recorded yet.", "Retry; a request with an id (Issue, Transfer, Retire) with the same id, which is idempotent; or read the result (GetTransfer) later.") \
    X(PEER_UNAVAILABLE, UNAVAILABLE, BOTH, YES, "A peer gateway did not answer (Reconcile), or did not answer before the leg expired, or the serials' third-region origin did not answer the destination before it voted (the transfer ABORTED, nothing moved).", "Retry later; for an ABORTED transfer send a new transfer (new id) once the peer is back.") \
    X(BAD_ID, INVALID_ARGUMENT, CALL, NO, "A request or transfer id is not 32 lowercase hex digits.", "Send 32 lowercase hex characters (128 random bits).") \
    X(BAD_ACCOUNT_ID, INVALID_ARGUMENT, CALL, NO, "An account id is not 1..64 characters of [A-Za-z0-9._-].", "Fix the account id.") \
    X(ID_REUSED, ALREADY_EXISTS, BOTH, NO, "The id was used before with other content (or, on a transfer, the destination already holds a leg of that id).", "Use a new id; resend an id only with exactly the same content.") \
    X(UNKNOWN_ACCOUNT, NOT_FOUND, BOTH, LATER, "No such account in the region (for a transfer: the destination account does not exist; the transfer ABORTED).", "Open the account (OpenAccount) or fix the account name, then send again.") \
    X(ACCOUNT_EXISTS, ALREADY_EXISTS, CALL, NO, "An account of that id exists already with another holder kind.", "Pick another account id, or use the existing account.") \
    X(SERIALS_EXHAUSTED, RESOURCE_EXHAUSTED, CALL, NO, "The region's serial space (2^50 grams) is used up.", "Contact the operators; nothing more can be issued.") \
    X(OUT_OF_RANGE, INVALID_ARGUMENT, CALL, NO, "A value is outside the range the store accepts.", "Send values within the documented limits.") \
    X(TOO_FRAGMENTED, RESOURCE_EXHAUSTED, CALL, NO, "The amount spans more blocks of serials than one leg may carry.", "Move or retire the amount in smaller parts.") \
    X(ACCOUNT_DAMAGED, DATA_LOSS, CALL, LATER, "The account's blocks in the region's store are not in the store's format (only an edit of the store outside the gateway makes them): nothing was taken from the account; other accounts are not affected.", "The region's operator repairs the account in the store (gwctl check names what is wrong); then send again with the same id.") \
    X(BAD_HOLDER_KIND, INVALID_ARGUMENT, CALL, NO, "holder_kind is not personal, household, firm or public.", "Send one of the holder kinds.") \
    X(BAD_VINTAGE, INVALID_ARGUMENT, CALL, NO, "vintage_year is outside the accepted years (0 means any where allowed).", "Send a vintage in the documented range.") \
    X(BAD_FINGERPRINT, INVALID_ARGUMENT, CALL, NO, "activity_fingerprint is empty, too long or holds characters not allowed.", "Send a fingerprint within the documented length and characters.") \
    X(UNKNOWN_METHODOLOGY, INVALID_ARGUMENT, BOTH, NO, "No loaded catalog defines the methodology (on a leg: the destination knows no catalog defining it).", "Fix the methodology id; list them in the catalogs (catalog/).") \
    X(UNRECOGNIZED_METHODOLOGY, FAILED_PRECONDITION, BOTH, LATER, "The destination region's catalog does not recognize the methodology.", "Transfer credits of a recognized methodology, or wait for a catalog that recognizes it.") \
    X(CATALOG_UNKNOWN, FAILED_PRECONDITION, BOTH, LATER, "A region's catalog (or the catalog version a leg was quoted under) is not loaded here.", "Deploy the same catalogs on every gateway, then send again.") \
    X(CATALOG_CHANGED, FAILED_PRECONDITION, CALL, NO, "The catalog version given with the request is no longer the current one.", "Read the current catalog, check the request against it, and send it with that version.") \
    X(BAD_QUANTITY, INVALID_ARGUMENT, CALL, NO, "The quantity yields no whole gram, or more than the limit, in the methodology's unit.", "Send a quantity within the limits.") \
    X(DOUBLE_ISSUANCE, ALREADY_EXISTS, CALL, NO, "The activity fingerprint was issued already by another issuance (the message names it).", "Do not issue twice; look up the earlier issuance.") \
    X(DUPLICATE_ISSUANCE, ALREADY_EXISTS, CALL, NO, "The same activity (same catalog activity class, the same fingerprint after normalisation) was reserved or issued by the region the message names: one activity is credited once in the federation.", "Do not issue it again; if the other region's issuance is wrong, its operators must correct it.") \
    X(ACTIVITY_HOME_UNREACHABLE, UNAVAILABLE, CALL, YES, "The activity's home region (by its keyed fingerprint) could not reserve it: unreachable or its store did not answer. Nothing was issued.", "Retry with the same issuance id.") \
    X(ACTIVITY_LIMIT, RESOURCE_EXHAUSTED, CALL, YES, "This region holds too many unsettled activity reservations at the activity's home region.", "Retry later; the home settles reservations as their issuers answer.") \
    X(RESERVATION_LOST, UNAVAILABLE, CALL, YES, "The activity's reservation expired and its home region was told it never issued, before this issuance was recorded. Nothing was issued.", "Retry with the same issuance id: a new reservation is made.") \
    X(NO_ACTIVITY_SECRET, FAILED_PRECONDITION, CALL, NO, "The federation secret file has no secret for this vintage, so the activity cannot be keyed.", "Add the vintage's secret to the federation secret file (the same in every region).") \
    X(REGIONS_DIFFER, FAILED_PRECONDITION, BOTH, LATER, "A gateway of the federation is configured with other regions than this one (Hello or ReserveActivities named them): an activity's home would differ between them, so no keyed activity is issued or reserved until they agree (gateway/region_set.h).", "Configure every gateway with the same regions ([peers]) and restart the one that differs; its Hello clears the refusal.") \
    X(NOT_ACTIVITY_HOME, FAILED_PRECONDITION, CALL, NO, "The keyed fingerprint's home is another region (activity_key.h): this region does not reserve it (a reservation's result REFUSED), or the asking region may not ask about it (QueryIssuance).", "Fix the peer: every gateway must have the same regions configured.") \
    X(MALFORMED_ACTIVITY, INVALID_ARGUMENT, CALL, NO, "An activity reservation, settlement or query is not well formed: activity_key must be 64 and issuance_id 32 lowercase hex digits, an expiry within 10 minutes.", "Fix the peer; the call is refused whole.") \
    X(UNKNOWN_REGION, INVALID_ARGUMENT, CALL, NO, "The region is not another region of the federation (or not a peer of this gateway).", "Use a region code of the federation: CN-TJ, CN-BJ or CN-HE.") \
    X(BAD_AMOUNT, INVALID_ARGUMENT, CALL, NO, "The amount is 0, or 2^50 grams or more.", "Send an amount of at least one unit and under 2^50 grams.") \
    X(AMOUNT_TOO_SMALL, INVALID_ARGUMENT, CALL, NO, "The amount yields less than one display unit in the destination region.", "Send a larger amount (Quote shows what it yields).") \
    X(QUOTE_CHANGED, FAILED_PRECONDITION, CALL, NO, "expected_credited_g differs from what the transfer would credit now (a catalog changed).", "Ask Quote again and confirm the new amount.") \
    X(QUEUE_FULL, RESOURCE_EXHAUSTED, CALL, YES, "Too many transfers to that region are in flight.", "Retry later with the same transfer_id.") \
    X(PURPOSE_NOT_ALLOWED, FAILED_PRECONDITION, CALL, NO, "The region's rules on use do not allow this purpose, or not for a credit of this origin, methodology or vintage (the message names the rule and the credit).", "Retire other credits (select a methodology or vintage), or for another purpose.") \
    X(QUOTA_EXCEEDED, FAILED_PRECONDITION, BOTH, LATER, "Past a limit of the region's rules on use: a share of the beneficiary's registered obligation for the compliance year (overall or from outside the region), or a peer's daily inflow (the message names the rule and the room left).", "Retire at most the room left (or with the region's own credits), register the obligation, or transfer again the next day.") \
    X(INSUFFICIENT_BALANCE, FAILED_PRECONDITION, CALL, LATER, "The account holds less than asked of the selection (the message says how much).", "Send a smaller amount, or wait for credits to arrive.") \
    X(TOO_MANY_WAITERS, RESOURCE_EXHAUSTED, CALL, YES, "The transfer was accepted but too many callers are waiting for outcomes.", "Read the outcome with GetTransfer later (same transfer_id).") \
    X(UNKNOWN_TRANSFER, NOT_FOUND, CALL, NO, "No transfer of that id in this region.", "Check the id and the region asked.") \
    X(BAD_LIMIT, INVALID_ARGUMENT, CALL, NO, "A limit (or a combination of list filters) is outside what the method accepts.", "Send a limit within the documented range.") \
    X(BAD_PURPOSE, INVALID_ARGUMENT, CALL, NO, "The retirement purpose is not one of the defined purposes, or a compliance year is missing (compliance offset) or given (another purpose).", "Send compliance offset (with its compliance year), rights redemption, voluntary neutrality, voluntary cancellation or ecological compensation.") \
    X(BAD_BENEFICIARY, INVALID_ARGUMENT, CALL, NO, "The beneficiary text is empty, too long or not allowed.", "Send a beneficiary within the documented length.") \
    X(BAD_SELECTION, INVALID_ARGUMENT, CALL, NO, "The retirement's selection (vintage, methodology id) is not valid.", "Fix the vintage (0 or a year) or the methodology id.") \
    X(BAD_YEAR, INVALID_ARGUMENT, CALL, NO, "A report's year is outside 2000..2999, or an obligation's compliance year outside 2000..2100.", "Ask for a year in that range.") \
    X(REPORT_TOO_LARGE, RESOURCE_EXHAUSTED, CALL, NO, "The yearly report would have more rows (or read more entries) than the gateway's limit.", "Ask the region's operators: the limit (year_report.h YEAR_REPORT_ROWS_MAX, reporting.c REPORT_ENTRIES_MAX) must be raised for this log.") \
    X(BAD_RANGE, INVALID_ARGUMENT, CALL, NO, "from_seq..to_seq is empty or spans too many batches.", "Ask for a smaller range of batches.") \
    X(REGION_MISMATCH, PERMISSION_DENIED, CALL, NO, "The message names a region other than the caller's certificate region.", "A gateway may speak only for its own region; fix the peer's configuration.") \
    X(BAD_DECISION, INVALID_ARGUMENT, CALL, NO, "The decision is neither COMMIT nor ABORT, or not one a compensation takes (COMMIT for a HEURISTIC_MIXED leg, or ABORT at the coordinator to close its ABORTED one as it is; ABORT to close an ORIGIN_DENIED one).", "Send COMMIT or ABORT (gwctl resolve --compensate or --close).") \
    X(BAD_REASON, INVALID_ARGUMENT, CALL, NO, "The operator's reason text is too short, too long or not allowed.", "Give a reason within the documented length (e.g. an incident number).") \
    X(NOT_IN_DOUBT, FAILED_PRECONDITION, CALL, NO, "The transfer is not a prepared leg waiting here for a decision.", "Nothing to resolve; check ListInDoubt.") \
    X(NOT_EXPIRED, FAILED_PRECONDITION, CALL, LATER, "The leg has not expired yet: its coordinator still decides.", "Wait until the leg expires (the message says when) and resolve only if still in doubt.") \
    X(COORDINATOR_ANSWERS, FAILED_PRECONDITION, CALL, NO, "The coordinator answers with its decision for this transfer; recovery applies it.", "Do not force it; recovery settles the leg.") \
    X(HEURISTIC_TOO_EARLY, FAILED_PRECONDITION, CALL, LATER, "The coordinator has not yet failed QueryDecision attempts (recovery's and the resolve's own, recorded on the leg) for heuristic_after_ms: one timeout is not enough to force a decision.", "Wait (the message says how long remains), check the coordinator, and resolve only if it is still unreachable.") \
    X(ORIGIN_NOT_CONFIRMED, FAILED_PRECONDITION, CALL, LATER, "A COMMIT of a leg holding a third region's serials needs that origin's confirmation that it committed the same leg, and the origin has not given it (not decided yet, unreachable, or it denies it).", "Wait for the origin and the coordinator; gwctl indoubt lists the leg (ORIGIN_DENIED when the origin denies it: investigate the source).") \
    X(NOT_MIXED, FAILED_PRECONDITION, CALL, NO, "A compensation (or close) was asked for a leg that is neither HEURISTIC_MIXED nor ORIGIN_DENIED here.", "List the legs with gwctl indoubt; compensate or close only a leg shown HEURISTIC_MIXED.") \
    X(NO_SUBJECT, INVALID_ARGUMENT, CALL, NO, "The audit query names neither a transfer_id nor a serial.", "Give a transfer_id or a serial.") \
    X(BAD_SERIAL, INVALID_ARGUMENT, CALL, NO, "The serial is not REGION:NUMBER.", "Send a serial like CN-TJ:1042.") \
    X(MALFORMED_CHECKPOINT, INVALID_ARGUMENT, CALL, NO, "The checkpoint is not a signed note with a tlog-checkpoint body (docs/audit-log.md section 4).", "Fix the peer: send its checkpoint as a signed note.") \
    X(CHECKPOINT_TOO_LARGE, INVALID_ARGUMENT, CALL, NO, "The checkpoint's tree size is over 2^40 entries, the most a witness accepts.", "Fix the peer; this may be an attempt to freeze what witnesses hold.") \
    X(BAD_PROOF, INVALID_ARGUMENT, CALL, NO, "The consistency proof sent with a checkpoint has hashes that are not 32 bytes, or not the number the two sizes need.", "Send the proof RFC 9162 gives from old_size to the checkpoint's size.") \
    X(NOT_SIGNED_BY_REGION, PERMISSION_DENIED, CALL, NO, "The checkpoint carries no valid signature by the pinned audit key of the caller's region (self-signed, signed by another region's key, or a signature that fails).", "Check the region's audit key and the witness's [audit_keys]; this may be an attack.") \
    X(WRONG_ORIGIN, PERMISSION_DENIED, CALL, NO, "The checkpoint's origin is not the log of the caller's region (jjj.carbon/REGION/audit).", "A gateway may send only its own region's checkpoints.") \
    X(CHECKPOINT_REPLAYED, FAILED_PRECONDITION, CALL, NO, "The checkpoint is one this witness cosigned before for that region, older than the one it holds: a replay; nothing changed (an older one it never cosigned is answered OLD_SIZE_MISMATCH: a late checkpoint).", "Send the region's newest checkpoint.") \
    X(CHECKPOINT_FORK, FAILED_PRECONDITION, CALL, NO, "The checkpoint is not consistent with the one this witness cosigned for that region (same size and another root, or a consistency proof to or from it fails): a fork of the log, kept as evidence and alarmed on.", "Investigate the region's log: its history was rewritten. Operators list the fork with gwctl forks list.") \
    X(NO_WITNESS_KEY, FAILED_PRECONDITION, CALL, LATER, "This gateway has no audit signing key, so it cannot cosign checkpoints.", "Configure [audit] signing_key on the witness.") \
    X(LOG_INCONSISTENT, DATA_LOSS, CALL, LATER, "The region's stored tree cannot prove the checkpoint it signed (the tree is smaller than the checkpoint, or its nodes were changed): the store lost or changed what was signed.", "Treat the region's log as failed verification; its operator must find what changed in the store (gwctl audit verify names it).") \
    X(UNKNOWN_FORK, NOT_FOUND, CALL, NO, "No fork record of that id on this gateway.", "List the forks (gwctl forks list --all) and use one of their ids.") \
    X(BAD_CURSOR, INVALID_ARGUMENT, CALL, NO, "The cursor is neither empty nor one the method returned.", "Start with an empty cursor and send back each next_cursor as it came.") \
    X(STATE_TOO_LARGE, FAILED_PRECONDITION, CALL, NO, "An account holds more blocks than one ReadState page may carry (the message names it).", "Verify that account by other means; the limit is documented in docs/audit-log.md.") \
    X(BAD_BATCH_SIZE, INVALID_ARGUMENT, CALL, NO, "A federation batch holds no legs, decisions or ids.", "Send 1..batch_legs_max items.") \
    X(BATCH_TOO_LARGE, RESOURCE_EXHAUSTED, CALL, NO, "A federation batch holds more than batch_legs_max items.", "Split the batch; make batch_legs_max equal on all gateways.") \
    X(PROTOCOL_VERSION, FAILED_PRECONDITION, CALL, NO, "The peer speaks another federation protocol version.", "Run the same gateway version in every region.") \
    X(MALFORMED_LEG, INVALID_ARGUMENT, CALL, NO, "A prepared leg is not well formed (the message says which field).", "Fix the peer; the batch is refused whole.") \
    X(MALFORMED_DECISION, INVALID_ARGUMENT, CALL, NO, "A decision lacks a valid transfer_id or COMMIT/ABORT, or names a transfer another decision of the same Decide names.", "Fix the peer; the batch is refused whole.") \
    X(LEG_DAMAGED, DATA_LOSS, BOTH, LATER, "A transfer's record in the store is not in the store's format, or the store refuses its decision's first writes (its account's held_g or pending_g not an integer, its account's blocks or a serial index entry of its serials out of format): only an edit of the store outside the gateway makes either. At the source the transfer is left HELD (its caller gets PENDING with this reason), at the destination PREPARED (the source sends its decision again); undecided and unwritten either way, and the transfers batched or recovered with it are decided as usual. An operator's ResolveInDoubt of such a leg is refused with it.", "The operator of the region that logs leg_damaged (with the transfer and what is wrong) repairs the record, account or index entry in the store. At the source, once past its expiry, recovery then aborts the transfer as any expired hold; at the destination, the source's next sending of the decision applies it.") \
    X(EXPIRED, OK, LEG, NO, "The leg expired before it could be settled: the transfer ABORTED, nothing moved.", "Send a new transfer (new id) if still wanted.") \
    X(EXPIRY_TOO_FAR, OK, LEG, NO, "The destination refused a leg whose expiry is further away than it allows.", "Make leg_expiry_ms equal across gateways; send a new transfer.") \
    X(ORIGIN_MISMATCH, OK, LEG, NO, "The leg's serials claim an origin other than the region whose catalog defines the methodology.", "Investigate the source gateway; the transfer ABORTED.") \
    X(RECOGNITION_MISMATCH, OK, LEG, LATER, "The leg's destination methodology is not what the destination's catalog recognizes.", "Deploy the same catalogs everywhere, then send a new transfer.") \
    X(QUOTE_MISMATCH, OK, LEG, LATER, "The leg's credited or debited grams are not what the destination's catalog rule yields.", "Deploy the same catalogs everywhere, then send a new transfer.") \
    X(ABORTED_BY_SOURCE, OK, LEG, NO, "The destination's prepared leg was aborted by the source's decision.", "Read the source's transfer for its reason; send a new transfer if still wanted.") \
    X(ORIGIN_DENIED, OK, LEG, NO, "The source sent COMMIT for a leg of a third region's serials, but that origin answers that it did not commit the same leg: the destination does not credit it; the pending credit stays, not spendable, and the leg is listed.", "Investigate the source (and the origin): the source and the serials' origin disagree. A later ABORT from the source drops the pending credit.") \
    X(HEURISTIC_REVERSED, OK, LEG, NO, "An operator forced COMMIT of this leg; its coordinator then decided ABORT, and the credit, still in the account, was taken back.", "Nothing moved in the end; send a new transfer if still wanted.") \
    X(PRESUMED_ABORT, OK, LEG, NO, "The destination asked the source about a leg the source had not decided yet: the source aborted it (presumed abort).", "Send a new transfer (new id) if still wanted.") \
    X(SERIALS_OVERLAP, OK, LEG, NO, "The leg's blocks overlap serials the destination already holds (in an account, a hold, a pending credit, retired or cancelled), or each other: refused, never overwritten.", "Investigate the source gateway: it sent serials that are elsewhere; the transfer ABORTED.") \
    X(SERIALS_NOT_ISSUED, OK, LEG, NO, "The leg carries serials of the destination's own region that the destination never issued.", "Investigate the source gateway: it sent serials that do not exist; the transfer ABORTED.") \
    X(SERIALS_NOT_AT_SOURCE, OK, LEG, NO, "The origin's map (DESIGN §6 provenance) does not place the leg's serials of that origin at the sending region: it never received them, or sent them on.", "Investigate the source gateway: it sent serials it does not hold; the transfer ABORTED.") \
    X(SERIALS_MISLABELLED, OK, LEG, NO, "Blocks of the origin's own serials carry a methodology or vintage other than the one the origin issued those serials under (DESIGN §6 provenance: the origin's record of its issuance, serial:labels).", "Investigate the sender: it altered the credits' labels; the transfer ABORTED (a use report is refused and re-sent).") \
    X(SERIALS_LOCKED, OK, LEG, LATER, "The leg's serials are in another transfer prepared at their origin and not yet decided.", "Send a new transfer once the other one is settled; if it repeats, investigate the source gateway.") \
    X(MALFORMED_REPORT, INVALID_ARGUMENT, CALL, NO, "A use report (Federation.ReportUse) is not well formed: its id is not 32 hex digits, its kind not retired or cancelled, its purpose not one for its kind, or its blocks not 1..1024 disjoint blocks of the receiver's own issue and methodologies (the message says which).", "Fix the peer; the message is refused whole.") \
    X(USE_NOT_AT_REPORTER, OK, LEG, LATER, "A use report names serials the origin's map (DESIGN §6 provenance) does not place live at the reporting region: never received there, sent on, or already used under another report id.", "The reporter re-sends with backoff and keeps the reason; if it lasts, compare the two regions' records (gwctl check).") \
    X(PEER_LEGS_LIMIT, OK, LEG, LATER, "The source already has peer_legs_in_flight_max legs prepared at the destination and not yet decided.", "Send a new transfer once earlier ones are settled; raise the destination's limit if honest traffic needs it.") \
    X(PEER_RATE_LIMITED, RESOURCE_EXHAUSTED, CALL, YES, "The calling peer sent more Federation requests per second than peer_requests_per_s allows.", "Retry with backoff; the engine does so by itself.") \
    X(REFUSED, OK, LEG, NO, "The destination voted NO without giving a reason.", "Ask the destination's operators; send a new transfer if still wanted.")

typedef enum {
#define REASON_ENUM_(name, status, where, retry, meaning, todo) REASON_##name,
    REASONS_TABLE(REASON_ENUM_)
#undef REASON_ENUM_
    REASON_COUNT
} reason_t;

typedef struct {
    const char *name;          /* "INSUFFICIENT_BALANCE" */
    reason_status_t status;    /* gRPC status of a refused call */
    const char *status_name;   /* "FAILED_PRECONDITION" */
    reason_where_t where;
    reason_retry_t retry;
    const char *meaning;       /* one sentence */
    const char *todo;          /* what the caller should do */
} reason_info_t;

/* The table's entry of r (r < REASON_COUNT). */
const reason_info_t *reason_info(reason_t r);

/* The wire name of r, e.g. "INSUFFICIENT_BALANCE" (r < REASON_COUNT). */
const char *reason_name(reason_t r);

/* The entry named name, or NULL if the table has no such reason. */
const reason_info_t *reason_find(const char *name);

/* The reason named name into *out: 1, or 0 if the table has no such reason. */
int reason_lookup(const char *name, reason_t *out);

/* 1 if detail may travel and be kept as a refusal's detail for people: at
 * most max bytes, each printable ASCII (0x20..0x7e); else 0. A peer's vote
 * carries one, and a peer's message is untrusted. */
int reason_detail_valid(const char *detail, size_t max);

/* A reason as it is spelled at a refusal site: REASON(INSUFFICIENT_BALANCE)
 * is its wire name, and a misspelt name does not compile. */
#define REASON(name) reason_name(REASON_##name)

#endif
