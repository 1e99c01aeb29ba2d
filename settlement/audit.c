/* audit.c - audit log entries, format carbon-audit/3 (audit.h). */
#include "settlement/audit.h"
#include "common/carbon_assert.h"
#include "common/hex.h"

#include "settlement/audit_stored.h"
#include "settlement/textfield.h"
#include "settlement/store_keys.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void audit_entry_free(audit_entry_t *e) {
    if (e == NULL) return;
    free(e->entry);
    free(e->blocks);
    if (e->ids != NULL)
        for (size_t i = 0; i < e->ids_n; i++) free(e->ids[i]);
    free(e->ids);
    e->entry = NULL;
    e->blocks = NULL;
    e->ids = NULL;
    e->ids_n = e->blocks_n = 0;
}

/* A field of the entry being parsed: its bytes within the entry. */
typedef struct {
    const char *p;
    size_t len;
} audit_field_t;

/* Reads the fields of s[0..len) into f[0..*n), at most max of them, each of
 * at most max_bytes. 0, or -1 (reason in why) if malformed or too many. */
static int audit_fields(const char *s, size_t len, audit_field_t *f, size_t max, size_t *n,
                        size_t max_bytes, const char *what, char *why, size_t why_size) {
    size_t pos = 0;
    *n = 0;
    while (pos < len) {
        if (*n == max) {
            snprintf(why, why_size, "%s: more than %zu fields", what, max);
            return -1;
        }
        if (textfield_next_within(s, len, &pos, &f[*n].p, &f[*n].len, max_bytes) != 0) {
            snprintf(why, why_size, "%s: field %zu is not LEN:BYTES, within %zu bytes", what,
                     *n + 1, max_bytes);
            return -1;
        }
        (*n)++;
    }
    return 0;
}

/* Parses a decimal number without sign or leading zero, at most max. */
static int audit_decimal(const audit_field_t *f, uint64_t max, uint64_t *out) {
    if (f->len == 0 || f->len > 20 || (f->len > 1 && f->p[0] == '0')) return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < f->len; i++) {
        if (f->p[i] < '0' || f->p[i] > '9') return -1;
        uint64_t d = (uint64_t)(f->p[i] - '0');
        if (v > (max - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Copies a field into a NUL-terminated buffer of cap bytes: -1 if it does
 * not fit or holds a NUL. */
static int audit_copy(const audit_field_t *f, char *buf, size_t cap) {
    if (f->len >= cap || memchr(f->p, '\0', f->len) != NULL) return -1;
    memcpy(buf, f->p, f->len);
    buf[f->len] = '\0';
    return 0;
}

/* One block: five fields, checked as the ledger checks blocks. */
static int audit_block(const audit_field_t *blk, ledger_block_t *b) {
    audit_field_t f[5];
    size_t n = 0;
    char why[160]; /* audit_fields wants room for its reason, unused here */
    uint64_t vintage = 0;
    if (audit_fields(blk->p, blk->len, f, 5, &n, LEDGER_BLOCK_TEXT_MAX, "block", why, sizeof why) != 0 ||
        n != 5 || audit_copy(&f[0], b->origin, sizeof b->origin) != 0 ||
        audit_copy(&f[1], b->meth, sizeof b->meth) != 0 || audit_decimal(&f[2], 9999, &vintage) != 0 ||
        audit_decimal(&f[3], LEDGER_SERIAL_MAX, &b->first) != 0 ||
        audit_decimal(&f[4], LEDGER_SERIAL_MAX, &b->last) != 0 || b->first > b->last)
        return -1;
    b->vintage = (uint32_t)vintage;
    return 0;
}

/* Room for the fields of list, at most max: each field takes at least 3
 * bytes ("0:,"), so list holds at most len / 3 of them. */
static size_t audit_fields_cap(const audit_field_t *list, size_t max) {
    size_t cap = list->len / 3 + 1;
    return cap < max ? cap : max;
}

/* The ids list into out->ids (NUL-terminated copies). */
static int audit_ids(const audit_field_t *list, audit_entry_t *out, char *why, size_t why_size) {
    size_t cap = audit_fields_cap(list, AUDIT_IDS_MAX);
    audit_field_t *f = malloc(cap * sizeof *f);
    CARBON_ASSERT(f != NULL);
    size_t n = 0;
    int rc = audit_fields(list->p, list->len, f, cap, &n, 256, "ids", why, why_size);
    if (rc == 0 && n > 0) {
        out->ids = calloc(n, sizeof *out->ids);
        CARBON_ASSERT(out->ids != NULL);
        for (size_t i = 0; i < n && rc == 0; i++) {
            out->ids[i] = malloc(f[i].len + 1);
            CARBON_ASSERT(out->ids[i] != NULL);
            out->ids_n = i + 1;
            if (audit_copy(&f[i], out->ids[i], f[i].len + 1) != 0) {
                snprintf(why, why_size, "ids: id %zu holds a NUL byte", i + 1);
                rc = -1;
            }
        }
    }
    free(f);
    return rc;
}

/* The blocks list into out->blocks. */
static int audit_blocks(const audit_field_t *list, audit_entry_t *out, char *why, size_t why_size) {
    size_t cap = audit_fields_cap(list, AUDIT_BLOCKS_MAX);
    audit_field_t *f = malloc(cap * sizeof *f);
    CARBON_ASSERT(f != NULL);
    size_t n = 0;
    int rc = audit_fields(list->p, list->len, f, cap, &n, LEDGER_BLOCK_TEXT_MAX,
                          "blocks", why, why_size);
    if (rc == 0 && n > 0) {
        out->blocks = calloc(n, sizeof *out->blocks);
        CARBON_ASSERT(out->blocks != NULL);
        out->blocks_n = n;
        for (size_t i = 0; i < n && rc == 0; i++)
            if (audit_block(&f[i], &out->blocks[i]) != 0) {
                snprintf(why, why_size, "blocks: block %zu is not origin, methodology, vintage, "
                         "first <= last", i + 1);
                rc = -1;
            }
    }
    free(f);
    return rc;
}

/* The seven top-level fields, checked and decoded into out. */
static int audit_entry_decode(uint64_t seq, const audit_field_t top[7], audit_entry_t *out,
                              char *why, size_t why_size) {
    uint64_t got_seq = 0;
    if (top[0].len != strlen(AUDIT_FORMAT) || memcmp(top[0].p, AUDIT_FORMAT, top[0].len) != 0) {
        snprintf(why, why_size, "not format " AUDIT_FORMAT);
        return -1;
    }
    if (audit_decimal(&top[1], UINT64_MAX, &got_seq) != 0 || got_seq != seq) {
        snprintf(why, why_size, "its seq is not %" PRIu64, seq);
        return -1;
    }
    if (audit_decimal(&top[2], UINT64_MAX, &out->time_ms) != 0 ||
        audit_copy(&top[3], out->event, sizeof out->event) != 0 || top[3].len == 0) {
        snprintf(why, why_size, "time_ms or event malformed");
        return -1;
    }
    audit_field_t d[AUDIT_DETAIL_FIELDS_MAX];
    if (audit_fields(top[6].p, top[6].len, d, AUDIT_DETAIL_FIELDS_MAX, &out->detail_n,
                     TEXTFIELD_BYTES_MAX, "details", why, why_size) != 0)
        return -1;
    for (size_t i = 0; i < out->detail_n; i++) {
        out->detail_text[i] = d[i].p;
        out->detail_len[i] = d[i].len;
    }
    if (audit_ids(&top[4], out, why, why_size) != 0) return -1;
    return audit_blocks(&top[5], out, why, why_size);
}

int audit_entry_parse(uint64_t seq, const char *text, size_t len, audit_entry_t *out, char *why,
                      size_t why_size) {
    CARBON_ASSERT(text != NULL || len == 0);
    CARBON_ASSERT(out != NULL && why != NULL && why_size > 0);
    memset(out, 0, sizeof *out);
    out->seq = seq;
    if (len > AUDIT_ENTRY_BYTES_MAX) {
        snprintf(why, why_size, "longer than %u bytes", AUDIT_ENTRY_BYTES_MAX);
        return -1;
    }
    out->entry = malloc(len + 1);
    CARBON_ASSERT(out->entry != NULL);
    if (len > 0) memcpy(out->entry, text, len);
    out->entry[len] = '\0';
    out->entry_len = len;
    audit_field_t top[8];
    size_t n = 0;
    int rc = audit_fields(out->entry, len, top, 8, &n, AUDIT_ENTRY_BYTES_MAX, "entry", why, why_size);
    if (rc == 0 && n != 7) {
        snprintf(why, why_size, "%zu fields, not 7", n);
        rc = -1;
    }
    if (rc == 0) rc = audit_entry_decode(seq, top, out, why, why_size);
    if (rc != 0) {
        audit_entry_free(out);
        memset(out, 0, sizeof *out);
        out->seq = seq;
    }
    return rc;
}

int audit_log_size(store_t *st, uint64_t *size, char *err, size_t errlen) {
    const char *argv[2] = {"GET", STORE_KEY_LOG_SIZE};
    size_t argvlen[2] = {3, sizeof STORE_KEY_LOG_SIZE - 1};
    redisReply *r = NULL;
    if (store_command(st, 2, argv, argvlen, &r, err, errlen) != STORE_OK) return LEDGER_ESTORE;
    *size = r->type == REDIS_REPLY_STRING ? strtoull(r->str, NULL, 10) : 0;
    freeReplyObject(r);
    return LEDGER_OK;
}

/* Fills e as the malformed entry seq whose stored bytes are text[0..len). */
static void audit_entry_malformed(uint64_t seq, const char *text, size_t len, audit_entry_t *e) {
    memset(e, 0, sizeof *e);
    e->seq = seq;
    snprintf(e->event, sizeof e->event, "malformed");
    e->entry = malloc(len + 1);
    CARBON_ASSERT(e->entry != NULL);
    if (len > 0) memcpy(e->entry, text, len);
    e->entry[len] = '\0';
    e->entry_len = len;
}

int audit_read(store_t *st, uint64_t from_seq, size_t limit, audit_entry_t **out, size_t *n,
               char *err, size_t errlen) {
    *out = NULL;
    *n = 0;
    if (limit == 0) return LEDGER_OK;
    CARBON_ASSERT(limit <= AUDIT_READ_MAX);
    if (from_seq == 0) from_seq = 1;
    char **texts = calloc(limit, sizeof *texts);
    size_t *lens = calloc(limit, sizeof *lens);
    CARBON_ASSERT(texts != NULL && lens != NULL);
    if (audit_stored_read(st, from_seq, limit, texts, lens, NULL, err, errlen) != LEDGER_OK) {
        free(texts); /* nothing in them: audit_stored_read allocates nothing on error */
        free(lens);
        return LEDGER_ESTORE;
    }
    audit_entry_t *entries = calloc(limit, sizeof *entries);
    CARBON_ASSERT(entries != NULL);
    size_t k = 0;
    char why[160];
    for (size_t i = 0; i < limit; i++) {
        if (texts[i] == NULL) continue;
        if (audit_entry_parse(from_seq + i, texts[i], lens[i], &entries[k], why, sizeof why) != 0)
            audit_entry_malformed(from_seq + i, texts[i], lens[i], &entries[k]);
        k++;
    }
    for (size_t i = 0; i < limit; i++) free(texts[i]);
    free(texts);
    free(lens);
    *out = entries;
    *n = k;
    return LEDGER_OK;
}

int audit_entry_has_id(const audit_entry_t *e, const char *id) {
    size_t idlen = strlen(id);
    for (size_t i = 0; i < e->ids_n; i++) {
        const char *p = e->ids[i];
        if (strncmp(p, id, idlen) == 0 && (p[idlen] == '\0' || p[idlen] == ':')) return 1;
    }
    return 0;
}

int audit_entry_has_serial(const audit_entry_t *e, const char *origin, uint64_t serial) {
    for (size_t i = 0; i < e->blocks_n; i++)
        if (strcmp(e->blocks[i].origin, origin) == 0 && e->blocks[i].first <= serial &&
            serial <= e->blocks[i].last)
            return 1;
    return 0;
}
