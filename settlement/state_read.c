/* state_read.c - pages of a region's ledger as records (state_read.h). */
#include "settlement/state_read.h"
#include "common/carbon_assert.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "P:DIGITS:HEX" with P one of the phases a, t, r, c, DIGITS a SCAN cursor
 * or list index, HEX (possibly empty) the lowercase hex of an id. */
int state_cursor_valid(const char *cursor) {
    CARBON_ASSERT(cursor != NULL);
    if (cursor[0] == '\0') return 1;
    if (strchr("atrc", cursor[0]) == NULL || cursor[1] != ':') return 0;
    const char *p = cursor + 2;
    size_t n = strspn(p, "0123456789");
    if (n == 0 || n > 20 || p[n] != ':') return 0;
    p += n + 1;
    size_t h = strspn(p, "0123456789abcdef");
    return p[h] == '\0' && h % 2 == 0 && h <= 2 * STATE_TEXT_MAX;
}

void state_page_free(state_page_t *p) {
    if (p == NULL) return;
    for (size_t i = 0; i < p->n; i++) free(p->records[i].blocks);
    free(p->records);
    memset(p, 0, sizeof *p);
}

static const char *state_str(const redisReply *r, size_t i) {
    if (i >= r->elements) return NULL;
    const redisReply *e = r->element[i];
    return e->type == REDIS_REPLY_STRING ? e->str : NULL;
}

/* The first block of text ("b,b,...") that does not parse (text itself if
 * none is found). */
static const char *state_first_bad_block(const char *text) {
    for (const char *p = text; *p != '\0';) {
        size_t len = strcspn(p, ",");
        ledger_block_t b;
        if (ledger_block_parse(p, len, &b) != 0) return p;
        p += len + (p[len] == ',');
    }
    return text;
}

/* Parses the record at element *i of r into rec, advancing *i. 0, or -1
 * with err naming what is malformed. */
static int state_record(const redisReply *r, size_t *i, state_record_t *rec, char *err, size_t errlen) {
    const char *kind = state_str(r, *i), *owner = state_str(r, *i + 1), *btext = state_str(r, *i + 2),
               *nd = state_str(r, *i + 3);
    if (kind == NULL || owner == NULL || btext == NULL || nd == NULL || strlen(kind) >= sizeof rec->kind) {
        snprintf(err, errlen, "state_read: short reply");
        return -1;
    }
    snprintf(rec->kind, sizeof rec->kind, "%s", kind);
    size_t n = strtoul(nd, NULL, 10);
    if (strlen(owner) > STATE_TEXT_MAX || n > STATE_DETAILS_MAX) {
        snprintf(err, errlen, "%s %.64s: malformed record in the store", kind, owner);
        return -1;
    }
    snprintf(rec->owner, sizeof rec->owner, "%s", owner);
    for (size_t k = 0; k < n; k++) {
        const char *d = state_str(r, *i + 4 + k);
        if (d == NULL || strlen(d) > STATE_TEXT_MAX) {
            snprintf(err, errlen, "%s %s: malformed detail in the store", kind, owner);
            return -1;
        }
        snprintf(rec->detail[k], sizeof rec->detail[k], "%s", d);
    }
    rec->detail_n = n;
    *i += 4 + n;
    if (ledger_blocks_parse(btext, STATE_ACCOUNT_BLOCKS_MAX, &rec->blocks, &rec->blocks_n) != 0) {
        /* the store holds what no script writes: sent as such, for the auditor to see */
        const char *bad = state_first_bad_block(btext);
        snprintf(rec->detail[0], sizeof rec->detail[0], "%.11s block '%.*s'", kind,
                 (int)(strcspn(bad, ",") < 76 ? strcspn(bad, ",") : 76), bad);
        snprintf(rec->kind, sizeof rec->kind, "malformed");
        rec->detail_n = 1;
    }
    return 0;
}

/* Fills out from the script's reply r. 0, or -1 with err. */
static int state_page_from(const redisReply *r, state_page_t *out, char *err, size_t errlen) {
    const char *size = state_str(r, 0), *phase = state_str(r, 1), *pos = state_str(r, 2), *after = state_str(r, 3);
    if (size == NULL || phase == NULL || pos == NULL || after == NULL || strlen(after) > 2 * STATE_TEXT_MAX) {
        snprintf(err, errlen, "state_read: short reply");
        return -1;
    }
    out->log_size = strtoull(size, NULL, 10);
    if (phase[0] != '\0')
        snprintf(out->next_cursor, sizeof out->next_cursor, "%.1s:%.20s:%s", phase, pos, after);
    out->records = calloc(r->elements / 4 + 1, sizeof *out->records);
    if (out->records == NULL) abort();
    for (size_t i = 4; i < r->elements;) {
        if (state_record(r, &i, &out->records[out->n], err, errlen) != 0) {
            out->n++; /* freed with the page */
            return -1;
        }
        out->n++;
    }
    return 0;
}

int state_read_page(store_t *st, const char *cursor, size_t limit, state_page_t *out, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && cursor != NULL && out != NULL && state_cursor_valid(cursor));
    CARBON_ASSERT(limit >= 1 && limit <= STATE_READ_LIMIT_MAX);
    memset(out, 0, sizeof *out);
    char phase[2] = "a", pos[24] = "0", after[2 * STATE_TEXT_MAX + 1] = "", lim[24], budget[24], amax[24];
    if (cursor[0] != '\0') {
        phase[0] = cursor[0];
        const char *colon = strchr(cursor + 2, ':');
        snprintf(pos, sizeof pos, "%.*s", (int)(colon - cursor - 2), cursor + 2);
        snprintf(after, sizeof after, "%s", colon + 1);
    }
    snprintf(lim, sizeof lim, "%zu", limit);
    snprintf(budget, sizeof budget, "%d", STATE_PAGE_BLOCKS);
    snprintf(amax, sizeof amax, "%d", STATE_ACCOUNT_BLOCKS_MAX);
    const char *argv[] = {phase, pos, after, lim, budget, amax};
    redisReply *r = NULL;
    int idx = store_script_index("state_read");
    CARBON_ASSERT(idx >= 0);
    if (store_eval(st, idx, 0, 6, argv, NULL, &r, err, errlen) != STORE_OK) return LEDGER_ESTORE;
    int rc = LEDGER_OK;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
        snprintf(err, errlen, "state_read: unexpected reply");
        rc = LEDGER_ESTORE;
    } else if (state_str(r, 0) != NULL && strcmp(state_str(r, 0), "too_many_blocks") == 0) {
        snprintf(err, errlen, "account %.64s holds more than %d blocks: its state cannot be read",
                 state_str(r, 1) ? state_str(r, 1) : "?", STATE_ACCOUNT_BLOCKS_MAX);
        rc = LEDGER_EINVAL;
    } else if (state_page_from(r, out, err, errlen) != 0) {
        rc = LEDGER_ESTORE;
    }
    freeReplyObject(r);
    if (rc != LEDGER_OK) state_page_free(out);
    return rc;
}
