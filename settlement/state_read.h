/* state_read.h - one page of a region's ledger as records (Audit.ReadState;
 * docs/audit-log.md §2.2): accounts, holds, pending credits, retired,
 * cancelled and exported blocks, read by the script state_read.lua together
 * with the log size at the same instant.
 *
 * Consistency: each page is one script, so a page and its log_size are one
 * instant of the store. Every change of the ledger's records is made by a
 * script that appends an audit entry (_prelude.lua), so when every page of a
 * read reports the same log_size, no entry was appended in between and the
 * pages together are one instant too: the ledger after exactly log_size
 * entries. A reader that sees log_size move starts again (gwctl does, a few
 * times). Accounts and legs are walked with SCAN, which never misses a key
 * present throughout but may return one twice: a reader keeps the first
 * record of an account, hold, pending credit or exported leg (a repeat is
 * the same record, nothing changed) and merges the one-block records of
 * retired and cancelled blocks by owner.
 *
 * A record whose blocks do not parse (the store holds what no script
 * writes) is sent with kind "malformed", its owner, and one detail saying
 * which record and what it holds, so that the reader names it.
 *
 * Limits: a page holds at most `limit` records (<= STATE_READ_LIMIT_MAX)
 * and stops adding records once STATE_PAGE_BLOCKS blocks are in it; an
 * account holding more than STATE_ACCOUNT_BLOCKS_MAX blocks cannot be read
 * (LEDGER_EINVAL naming it). */
#ifndef SETTLEMENT_STATE_READ_H
#define SETTLEMENT_STATE_READ_H

#include "settlement/ledger.h"
#include "settlement/store.h"

#include <stddef.h>
#include <stdint.h>

#define STATE_READ_LIMIT_MAX 10000
#define STATE_READ_LIMIT_DEFAULT 1000
#define STATE_PAGE_BLOCKS 5000
#define STATE_ACCOUNT_BLOCKS_MAX 20000
#define STATE_DETAILS_MAX 3
#define STATE_TEXT_MAX 96   /* an owner or a detail */
#define STATE_CURSOR_MAX (2 * STATE_TEXT_MAX + 26) /* "P:POSITION:HEX-OF-ID" */

typedef struct {
    char kind[12];
    char owner[STATE_TEXT_MAX + 1];
    ledger_block_t *blocks; /* malloc'd */
    size_t blocks_n;
    size_t detail_n;
    char detail[STATE_DETAILS_MAX][STATE_TEXT_MAX + 1];
} state_record_t;

typedef struct {
    uint64_t log_size;
    char next_cursor[STATE_CURSOR_MAX]; /* "" when done */
    state_record_t *records;            /* malloc'd */
    size_t n;
} state_page_t;

/* 1 if cursor is "" or one state_read_page returned. */
int state_cursor_valid(const char *cursor);

/* Reads the page at cursor (state_cursor_valid) of at most limit records
 * (1..STATE_READ_LIMIT_MAX). LEDGER_OK with *out filled (state_page_free),
 * LEDGER_ESTORE (store down or an odd reply: err says), or LEDGER_EINVAL (an account over STATE_ACCOUNT_BLOCKS_MAX: err). */
int state_read_page(store_t *st, const char *cursor, size_t limit, state_page_t *out, char *err, size_t errlen);

void state_page_free(state_page_t *p);

#endif
