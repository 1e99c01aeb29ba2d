/* audit.h - the entries of the region's audit log (DESIGN §8). Checkpoints
 * and cosignatures are settlement/witness.h.
 *
 * Every state-changing script appends an entry in the same script
 * (settlement/scripts/_prelude.lua, function audit), format carbon-audit/3,
 * specified in docs/audit-log.md section 1: seven netstring fields
 *   F("carbon-audit/3") F(seq) F(time_ms) F(event) F(ids) F(blocks) F(details)
 * with ids, blocks and details lists of fields and each block the fields
 * origin, methodology, vintage, first, last. The store keeps an entry packed
 * (settlement/audit_stored.h); audit_read turns it into these canonical
 * bytes first. They are the Merkle leaf's data (settlement/log_tree.h); this
 * module only parses them.
 * What the details are depends on the event (docs/audit-log.md section 2). */
#ifndef SETTLEMENT_AUDIT_H
#define SETTLEMENT_AUDIT_H

#include "settlement/ledger.h"
#include "settlement/store.h"

#include <stddef.h>
#include <stdint.h>

#define AUDIT_READ_MAX 10000        /* entries per read */
#define AUDIT_HASH_HEX 64
#define AUDIT_DETAIL_FIELDS_MAX 8   /* text fields of one entry's detail */
#define AUDIT_IDS_MAX 4096          /* ids of one entry */
#define AUDIT_BLOCKS_MAX (LEDGER_BATCH_LEGS_MAX * LEDGER_LEG_BLOCKS_MAX) /* blocks of one entry */
#define AUDIT_ENTRY_BYTES_MAX (1u << 20) /* docs/audit-log.md: an entry is at most 1 MiB */
#define AUDIT_FORMAT "carbon-audit/3"

typedef struct {
    uint64_t seq;
    uint64_t time_ms;
    char event[16];
    char *entry;           /* malloc'd: the exact entry bytes (NUL after them) */
    size_t entry_len;
    size_t ids_n;
    char **ids;            /* malloc'd: ids_n NUL-terminated copies */
    size_t detail_n;       /* the detail's texts: */
    const char *detail_text[AUDIT_DETAIL_FIELDS_MAX]; /* into entry, not NUL-terminated */
    size_t detail_len[AUDIT_DETAIL_FIELDS_MAX];
    size_t blocks_n;
    ledger_block_t *blocks; /* malloc'd */
} audit_entry_t;

/* Frees what e owns and zeroes those pointers (e itself is the caller's). */
void audit_entry_free(audit_entry_t *e);

/* Parses the entry bytes text[0..len) (any bytes; no NUL needed) that must
 * be entry seq. 0 with *out filled (the caller then calls audit_entry_free),
 * or -1 if they are not a well-formed carbon-audit/3 entry numbered seq, with
 * a reason in why (*out then holds nothing to free). Checks every limit:
 * AUDIT_ENTRY_BYTES_MAX, AUDIT_IDS_MAX, AUDIT_BLOCKS_MAX,
 * AUDIT_DETAIL_FIELDS_MAX, decimal numbers without leading zeros, blocks as
 * ledger_block_valid. */
int audit_entry_parse(uint64_t seq, const char *text, size_t len, audit_entry_t *out, char *why,
                      size_t why_size);

/* Reads entries [from_seq, from_seq+limit) that exist (limit <= AUDIT_READ_MAX).
 * *out malloc'd (audit_entry_free each, then free). A stored entry that does
 * not parse is returned with event "malformed", its bytes and no fields. */
int audit_read(store_t *st, uint64_t from_seq, size_t limit, audit_entry_t **out, size_t *n,
               char *err, size_t errlen);

/* The seq of the newest entry sequenced (0: none). */
int audit_log_size(store_t *st, uint64_t *size, char *err, size_t errlen);

/* True if the entry names id among its ids (or as "id:..." for refusals). */
int audit_entry_has_id(const audit_entry_t *e, const char *id);
/* True if one of the entry's blocks holds serial of origin. */
int audit_entry_has_serial(const audit_entry_t *e, const char *origin, uint64_t serial);

#endif
