/* replay.h - rebuilds a region's ledger from its audit entries and compares
 * it with what the store holds (issue 13 item 6; docs/audit-log.md §2 says
 * what each event does to the ledger).
 *
 * The ledger, on either side, is a set of records (docs/audit-log.md §2.2):
 *   account    owner = account id     blocks held; holder kind, held_g, pending_g
 *   hold       owner = transfer id    blocks of a source leg in flight; from, to, debited_g
 *   pending    owner = transfer id    blocks of a destination leg prepared; to, from, credited_g
 *   retired    owner = retirement id  blocks retired; the account
 *   cancelled  owner = transfer id    blocks cancelled by a recognition discount
 *   exported   owner = transfer id    blocks of a committed source leg (the tombstone); from, to
 * The log side is built by replay_entry, entry by entry in seq order; the
 * store side by replay_store_record, from Audit.ReadState's records.
 * replay_compare names every difference. Blocks are compared as serial
 * ranges: adjacent blocks of the same origin, methodology and vintage are
 * merged first on both sides, so only serials that differ are named.
 *
 * Inconsistencies of the log itself (a commit of a hold never made, blocks
 * taken from an account that does not hold them, an account opened twice, an
 * unknown event, ...) are findings with their entry's seq, never asserts; the
 * replay goes on with the next entry.
 *
 * Limits (each side): REPLAY_RECORDS_MAX records, REPLAY_BLOCKS_MAX blocks;
 * past one of them the replay stops adding and reports one finding saying
 * which limit, so the result is "not compared", never a silent partial
 * answer. At most REPLAY_FINDINGS_MAX findings are kept; more are counted.
 * Memory: about 330 bytes per record and 64 per block, so at most about
 * 600 MB per side at the limits. No recursion. Not thread-safe. */
#ifndef SETTLEMENT_REPLAY_H
#define SETTLEMENT_REPLAY_H

#include "settlement/audit.h"
#include "settlement/ledger.h"

#include <stddef.h>
#include <stdint.h>

#define REPLAY_RECORDS_MAX (1u << 20)
#define REPLAY_BLOCKS_MAX (1u << 23)
#define REPLAY_FINDINGS_MAX 10000
#define REPLAY_TEXT_MAX 96 /* an owner or a detail: account ids, "REGION/ID", holder kinds */

typedef enum {
    REPLAY_ACCOUNT,
    REPLAY_HOLD,
    REPLAY_PENDING,
    REPLAY_RETIRED,
    REPLAY_CANCELLED,
    REPLAY_EXPORTED,
    REPLAY_KINDS_N
} replay_kind_t;

/* "account", "hold", ... for k < REPLAY_KINDS_N. */
const char *replay_kind_name(replay_kind_t k);
/* The kind named name; 0, or -1 if none is. */
int replay_kind_parse(const char *name, replay_kind_t *out);

typedef struct replay replay_t;

/* A new, empty replay (both sides). Never NULL (aborts on out of memory). */
replay_t *replay_new(void);
void replay_free(replay_t *r);

/* Applies entry e (the next in seq order) to the log side. Inconsistencies
 * become findings. r and e not NULL. */
void replay_entry(replay_t *r, const audit_entry_t *e);

/* Notes that entry seq could not be read or parsed (a finding). */
void replay_entry_unreadable(replay_t *r, uint64_t seq, const char *why);

/* Adds one record of the store: kind, owner, its blocks and details (the
 * details of each kind as Audit.ReadState sends them, docs/audit-log.md
 * §2.2). Retired and cancelled records of the same owner are merged (their
 * blocks appended: the store keeps one per block); a repeated account, hold,
 * pending or exported record is ignored (SCAN may return a key twice). 0, or
 * -1 if the record is malformed (an unknown kind such as ReadState's
 * "malformed", details missing or not numbers) or a limit was reached: a
 * finding says which. */
int replay_store_record(replay_t *r, const char *kind, const char *owner, const ledger_block_t *blocks,
                        size_t blocks_n, const char *const *detail, size_t detail_n);

/* One difference between the two sides, or one finding about the log. */
typedef struct {
    uint64_t seq;                  /* a finding about entry seq; 0 for a difference */
    const char *kind;              /* "account", ..., or "log" for a finding */
    char owner[REPLAY_TEXT_MAX + 1];
    char block[LEDGER_BLOCK_TEXT_MAX]; /* "origin|meth|vintage|first|last", or "" */
    char what[32];                 /* "record", "blocks", "held_g", "holder", ... or the event */
    char log[128], store[128];     /* what each side says ("" for a finding) */
    char text[512];                /* the whole line, for people */
} replay_diff_t;

typedef void (*replay_emit_fn)(void *ctx, const replay_diff_t *d);

/* Emits every finding about the log (in seq order) then every difference
 * between the sides (by kind, then owner as the store's hash order gives
 * them: not sorted). Returns how many were found, including findings not
 * kept past REPLAY_FINDINGS_MAX (those are counted, not emitted). */
size_t replay_compare(replay_t *r, replay_emit_fn emit, void *ctx);

/* One live record of the log side (pointers into the replay: valid until
 * the next replay_entry or replay_free). a and b are the kind's texts of
 * the table above ("" when the kind has none). */
typedef struct {
    replay_kind_t kind;
    const char *owner, *a, *b;
    const ledger_block_t *blocks;
    size_t blocks_n;
} replay_record_t;

typedef void (*replay_record_fn)(void *ctx, const replay_record_t *rec);

/* Calls fn for every live record of the log side, in no set order. */
void replay_log_each(const replay_t *r, replay_record_fn fn, void *ctx);

/* The log side's live record of kind and owner: 1 with *out set, or 0. */
int replay_log_find(const replay_t *r, replay_kind_t kind, const char *owner, replay_record_t *out);

/* Findings about the log so far (inconsistent or unreadable entries),
 * those kept and those only counted. */
size_t replay_log_findings(const replay_t *r);

/* Entries replayed and records read, for the summary. */
uint64_t replay_entries(const replay_t *r);
size_t replay_records(const replay_t *r, int store_side);

#endif
