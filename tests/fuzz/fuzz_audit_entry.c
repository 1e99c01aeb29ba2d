/* fuzz_audit_entry.c - the audit log's entry parser (settlement/audit.h,
 * audit_entry_parse; format carbon-audit/3, docs/audit-log.md section 1) on
 * arbitrary bytes. An auditor's verifier and gwctl decode entries a region
 * sent, so every byte is hostile.
 *
 * The seq the parser is asked for is read from the input's second field when
 * it is a decimal number (so that well-formed entries get past the seq check),
 * else 1. Whatever the input, the parser must not crash, leak or overrun; when
 * it accepts, every decoded value must be within its documented limit, and
 * the entry encoded again from the decoded values must be exactly the input
 * (one encoding per entry: what is hashed is what is shown). */
#include "tests/fuzz/fuzz_common.h"

#include "settlement/audit.h"
#include "settlement/textfield.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An output buffer the re-encoding grows. */
typedef struct {
    char *buf;
    size_t len, cap;
} out_t;

static void put(out_t *o, const char *p, size_t n) {
    if (o->len + n + 1 > o->cap) {
        o->cap = (o->len + n + 1) * 2;
        o->buf = realloc(o->buf, o->cap);
        FUZZ_CHECK(o->buf != NULL, "out of memory");
    }
    if (n > 0) memcpy(o->buf + o->len, p, n);
    o->len += n;
}

/* Appends the field of p[0..n): "LEN:BYTES,". */
static void field(out_t *o, const char *p, size_t n) {
    char len[24];
    int w = snprintf(len, sizeof len, "%zu:", n);
    put(o, len, (size_t)w);
    put(o, p, n);
    put(o, ",", 1);
}

static void field_u64(out_t *o, uint64_t v) {
    char s[24];
    int w = snprintf(s, sizeof s, "%" PRIu64, v);
    field(o, s, (size_t)w);
}

/* The entry of e, encoded again. */
static out_t reencode(const audit_entry_t *e) {
    out_t o = {0}, ids = {0}, blocks = {0}, details = {0};
    field(&o, AUDIT_FORMAT, strlen(AUDIT_FORMAT));
    field_u64(&o, e->seq);
    field_u64(&o, e->time_ms);
    field(&o, e->event, strlen(e->event));
    for (size_t i = 0; i < e->ids_n; i++) field(&ids, e->ids[i], strlen(e->ids[i]));
    field(&o, ids.buf != NULL ? ids.buf : "", ids.len);
    for (size_t i = 0; i < e->blocks_n; i++) {
        out_t b = {0};
        const ledger_block_t *k = &e->blocks[i];
        field(&b, k->origin, strlen(k->origin));
        field(&b, k->meth, strlen(k->meth));
        field_u64(&b, k->vintage);
        field_u64(&b, k->first);
        field_u64(&b, k->last);
        field(&blocks, b.buf, b.len);
        free(b.buf);
    }
    field(&o, blocks.buf != NULL ? blocks.buf : "", blocks.len);
    for (size_t i = 0; i < e->detail_n; i++) field(&details, e->detail_text[i], e->detail_len[i]);
    field(&o, details.buf != NULL ? details.buf : "", details.len);
    free(ids.buf);
    free(blocks.buf);
    free(details.buf);
    return o;
}

/* The seq the input says it is (its second field), or 1. */
static uint64_t claimed_seq(const char *s, size_t len) {
    size_t pos = 0, n = 0;
    const char *f = NULL;
    if (textfield_next_within(s, len, &pos, &f, &n, TEXTFIELD_WITHIN_MAX) != 0 ||
        textfield_next_within(s, len, &pos, &f, &n, TEXTFIELD_WITHIN_MAX) != 0 || n == 0 || n > 19)
        return 1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (f[i] < '0' || f[i] > '9') return 1;
        v = v * 10 + (uint64_t)(f[i] - '0');
    }
    return v;
}

static void check_limits(const audit_entry_t *e, size_t size) {
    FUZZ_CHECK(e->entry_len == size, "entry_len %zu for %zu bytes", e->entry_len, size);
    FUZZ_CHECK(e->ids_n <= AUDIT_IDS_MAX && e->blocks_n <= AUDIT_BLOCKS_MAX &&
                   e->detail_n <= AUDIT_DETAIL_FIELDS_MAX,
               "%zu ids, %zu blocks, %zu details", e->ids_n, e->blocks_n, e->detail_n);
    FUZZ_CHECK(e->event[0] != '\0', "an empty event was accepted");
    for (size_t i = 0; i < e->blocks_n; i++)
        FUZZ_CHECK(e->blocks[i].first <= e->blocks[i].last && e->blocks[i].last <= LEDGER_SERIAL_MAX,
                   "block %zu: %" PRIu64 "-%" PRIu64, i, e->blocks[i].first, e->blocks[i].last);
    for (size_t i = 0; i < e->detail_n; i++)
        FUZZ_CHECK(e->detail_text[i] >= e->entry && e->detail_text[i] + e->detail_len[i] <= e->entry + size,
                   "detail %zu points outside the entry", i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    uint64_t seq = claimed_seq(s, size);
    audit_entry_t e;
    char why[160] = "";
    if (audit_entry_parse(seq, s, size, &e, why, sizeof why) != 0) {
        FUZZ_CHECK(why[0] != '\0', "refused without a reason");
        FUZZ_CHECK(e.entry == NULL && e.ids == NULL && e.blocks == NULL, "a refusal kept memory");
        return 0;
    }
    check_limits(&e, size);
    out_t o = reencode(&e);
    FUZZ_CHECK(o.len == size && memcmp(o.buf, data, size) == 0,
               "accepted bytes are not the one encoding of what they decode to (%zu vs %zu bytes)",
               o.len, size);
    free(o.buf);
    audit_entry_free(&e);
    return 0;
}
