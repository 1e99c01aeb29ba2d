/* batch.c - batch records and digests (batch.h). */
#include "settlement/batch.h"
#include "common/carbon_assert.h"
#include "common/hex.h"
#include "common/sha256.h"

#include "settlement/store_keys.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_CANONICAL_MAX (LEDGER_LEG_BLOCKS_MAX * LEDGER_BLOCK_TEXT_MAX + 512)

int batch_leg_canonical(const char *tid, const char *from_account, const char *to_account,
                        const ledger_block_t *blocks, size_t blocks_n, uint64_t debited_g,
                        uint64_t credited_g, uint64_t discount_g, char *buf, size_t buflen) {
    int n = snprintf(buf, buflen, "%s|%s|%s|", tid, from_account, to_account);
    if (n < 0 || (size_t)n >= buflen) return -1;
    size_t used = (size_t)n;
    for (size_t i = 0; i < blocks_n; i++) {
        if (i > 0) {
            if (used + 1 >= buflen) return -1;
            buf[used++] = ',';
        }
        int w = ledger_block_format(&blocks[i], buf + used, buflen - used);
        if (w < 0) return -1;
        used += (size_t)w;
    }
    n = snprintf(buf + used, buflen - used, "|%" PRIu64 "|%" PRIu64 "|%" PRIu64, debited_g,
                 credited_g, discount_g);
    if (n < 0 || (size_t)n >= buflen - used) return -1;
    return (int)(used + (size_t)n);
}

static void batch_totals(const ledger_leg_t *const *legs, size_t n, const char *region,
                         int source_view, batch_totals_t *out) {
    memset(out, 0, sizeof *out);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    const EVP_MD *sha256 = sha256_md();
    if (ctx == NULL || sha256 == NULL || EVP_DigestInit_ex(ctx, sha256, NULL) != 1) abort();
    char *buf = malloc(BATCH_CANONICAL_MAX);
    if (buf == NULL) abort();
    for (size_t i = 0; i < n; i++) {
        const ledger_leg_t *l = legs[i];
        char from[2 * (LEDGER_REGION_MAX + LEDGER_ID_MAX + 2)], to[2 * (LEDGER_REGION_MAX + LEDGER_ID_MAX + 2)];
        if (source_view) {
            snprintf(from, sizeof from, "%s/%s", region, l->from);
            snprintf(to, sizeof to, "%s", l->to);
        } else {
            snprintf(from, sizeof from, "%s", l->from);
            snprintf(to, sizeof to, "%s/%s", region, l->to);
        }
        int len = batch_leg_canonical(l->tid, from, to, l->blocks, l->blocks_n, l->debited_g,
                                      l->credited_g, l->discount_g, buf, BATCH_CANONICAL_MAX - 1);
        CARBON_ASSERT(len > 0);
        buf[len++] = '\n';
        EVP_DigestUpdate(ctx, buf, (size_t)len);
        out->count++;
        out->sum_g += l->debited_g;
    }
    unsigned char md[32];
    EVP_DigestFinal_ex(ctx, md, NULL);
    EVP_MD_CTX_free(ctx);
    free(buf);
    int hex_len = hex_encode(md, sizeof md, out->digest, sizeof out->digest);
    CARBON_ASSERT(hex_len == 64);
}

void batch_totals_source(const char *src_region, const ledger_leg_t *const *legs, size_t n,
                         batch_totals_t *out) {
    batch_totals(legs, n, src_region, 1, out);
}

void batch_totals_destination(const char *dst_region, const ledger_leg_t *const *legs, size_t n,
                              batch_totals_t *out) {
    batch_totals(legs, n, dst_region, 0, out);
}

void batch_record_free(batch_record_t *b) {
    if (b == NULL) return;
    free(b->tids);
    b->tids = NULL;
    b->tids_n = 0;
}

int batch_open(store_t *st, const char *peer, const batch_totals_t *t, const char *const *tids,
               size_t n, uint64_t now_ms, uint64_t *seq, char *err, size_t errlen) {
    CARBON_ASSERT(n >= 1 && n <= BATCH_RECORD_LEGS_MAX);
    size_t argc = 6 + n;
    const char **argv = calloc(argc, sizeof *argv);
    size_t *argvlen = calloc(argc, sizeof *argvlen);
    if (argv == NULL || argvlen == NULL) abort();
    char count[16], sum[24], now[24];
    snprintf(count, sizeof count, "%" PRIu32, t->count);
    snprintf(sum, sizeof sum, "%" PRIu64, t->sum_g);
    snprintf(now, sizeof now, "%" PRIu64, now_ms);
    argv[0] = peer;
    argv[1] = now;
    argv[2] = count;
    argv[3] = sum;
    argv[4] = t->digest;
    argv[5] = "";
    for (size_t i = 0; i < n; i++) argv[6 + i] = tids[i];
    for (size_t i = 0; i < argc; i++) argvlen[i] = strlen(argv[i]);
    redisReply *r = NULL;
    int idx = store_script_index("batch_open");
    CARBON_ASSERT(idx >= 0);
    int rc = store_eval(st, idx, 0, (int)argc, argv, argvlen, &r, err, errlen);
    free(argv);
    free(argvlen);
    if (rc != STORE_OK) return LEDGER_ESTORE;
    if (r->type != REDIS_REPLY_INTEGER || r->integer <= 0) {
        freeReplyObject(r);
        snprintf(err, errlen, "batch_open: unexpected reply");
        return LEDGER_ESTORE;
    }
    *seq = (uint64_t)r->integer;
    freeReplyObject(r);
    return LEDGER_OK;
}

/* Parses "count|sum_g|digest|time_ms|tid,tid,..." into b. */
static int batch_parse(const char *text, batch_record_t *b) {
    char digest[65];
    unsigned long long count, sum, time_ms;
    int off = 0;
    if (sscanf(text, "%llu|%llu|%64[0-9a-f]|%llu|%n", &count, &sum, digest, &time_ms, &off) != 4 ||
        off == 0 || count > BATCH_RECORD_LEGS_MAX)
        return -1;
    b->totals.count = (uint32_t)count;
    b->totals.sum_g = sum;
    snprintf(b->totals.digest, sizeof b->totals.digest, "%s", digest);
    b->time_ms = time_ms;
    const char *p = text + off;
    b->tids = calloc(count > 0 ? count : 1, sizeof *b->tids);
    if (b->tids == NULL) abort();
    b->tids_n = 0;
    while (*p != '\0' && b->tids_n < count) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len != LEDGER_TID_LEN) break;
        memcpy(b->tids[b->tids_n], p, LEDGER_TID_LEN);
        b->tids[b->tids_n][LEDGER_TID_LEN] = '\0';
        b->tids_n++;
        p += len + (comma ? 1 : 0);
    }
    return 0;
}

int batch_list(store_t *st, const char *peer, int outgoing, uint64_t from_seq, uint64_t to_seq,
               batch_record_t **out, size_t *n, char *err, size_t errlen) {
    *out = NULL;
    *n = 0;
    char key[64], seqkey[72];
    snprintf(key, sizeof key, "%s%s", outgoing ? STORE_KEY_BATCH_OUT_PREFIX : STORE_KEY_BATCH_IN_PREFIX, peer);
    snprintf(seqkey, sizeof seqkey, "%s" STORE_KEY_BATCH_SEQ_SUFFIX, key);
    if (to_seq == 0) {
        const char *get[2] = {"GET", seqkey};
        size_t getlen[2] = {3, strlen(seqkey)};
        redisReply *r = NULL;
        if (store_command(st, 2, get, getlen, &r, err, errlen) != STORE_OK) return LEDGER_ESTORE;
        to_seq = r->type == REDIS_REPLY_STRING ? strtoull(r->str, NULL, 10) : 0;
        freeReplyObject(r);
    }
    if (from_seq == 0) from_seq = 1;
    if (to_seq < from_seq) return LEDGER_OK;
    if (to_seq - from_seq + 1 > BATCH_LIST_MAX) to_seq = from_seq + BATCH_LIST_MAX - 1;
    size_t want = (size_t)(to_seq - from_seq + 1);
    const char **argv = calloc(want + 2, sizeof *argv);
    size_t *argvlen = calloc(want + 2, sizeof *argvlen);
    char (*seqs)[24] = calloc(want, sizeof *seqs);
    if (argv == NULL || argvlen == NULL || seqs == NULL) abort();
    argv[0] = "HMGET";
    argv[1] = key;
    for (size_t i = 0; i < want; i++) {
        snprintf(seqs[i], sizeof seqs[i], "%" PRIu64, from_seq + i);
        argv[2 + i] = seqs[i];
    }
    for (size_t i = 0; i < want + 2; i++) argvlen[i] = strlen(argv[i]);
    redisReply *r = NULL;
    int rc = store_command(st, (int)want + 2, argv, argvlen, &r, err, errlen);
    free(argv);
    free(argvlen);
    free(seqs);
    if (rc != STORE_OK) return LEDGER_ESTORE;
    batch_record_t *recs = calloc(want, sizeof *recs);
    if (recs == NULL) abort();
    size_t k = 0;
    for (size_t i = 0; i < r->elements && i < want; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING) continue;
        recs[k].seq = from_seq + i;
        if (batch_parse(r->element[i]->str, &recs[k]) != 0) {
            snprintf(err, errlen, "batch %" PRIu64 ": malformed record", from_seq + i);
            batch_record_free(&recs[k]);
            /* kept as a record with no totals: reconciliation reports it */
            memset(&recs[k], 0, sizeof recs[k]);
            recs[k].seq = from_seq + i;
            snprintf(recs[k].totals.digest, sizeof recs[k].totals.digest, "malformed");
        }
        k++;
    }
    freeReplyObject(r);
    *out = recs;
    *n = k;
    return LEDGER_OK;
}
