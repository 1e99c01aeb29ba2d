/* audit.c - audit chain entries and signed checkpoints (audit.h). */
#include "settlement/audit.h"
#include "common/carbon_assert.h"
#include "common/hex.h"

#include "settlement/textfield.h"
#include "settlement/store_keys.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char audit_genesis[AUDIT_HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

void audit_hash(const char *prev, const char *canonical, size_t len, char out[AUDIT_HASH_HEX + 1]) {
    /* callers check text from outside first: prev is exactly one hash */
    CARBON_ASSERT(prev != NULL && strnlen(prev, AUDIT_HASH_HEX + 1) == AUDIT_HASH_HEX);
    CARBON_ASSERT(canonical != NULL && out != NULL);
    unsigned char md[32];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, prev, AUDIT_HASH_HEX) != 1 ||
        EVP_DigestUpdate(ctx, canonical, len) != 1 || EVP_DigestFinal_ex(ctx, md, NULL) != 1)
        abort();
    EVP_MD_CTX_free(ctx);
    int hex_len = hex_encode(md, sizeof md, out, AUDIT_HASH_HEX + 1);
    CARBON_ASSERT(hex_len == AUDIT_HASH_HEX);
}

void audit_entry_free(audit_entry_t *e) {
    if (e == NULL) return;
    free(e->canonical);
    free(e->blocks);
    e->canonical = NULL;
    e->blocks = NULL;
}

/* The end of the blocks field that starts at p: the '|' after the last
 * block's fifth field (each block is origin|meth|vintage|first|last, blocks
 * are separated by ','). NULL if malformed. */
static const char *audit_blocks_end(const char *p) {
    if (*p == '|') return p; /* no blocks */
    for (;;) {
        for (int bars = 0; bars < 4; bars++) {
            p = strchr(p, '|');
            if (p == NULL) return NULL;
            p++;
        }
        p += strcspn(p, ",|");
        if (*p == ',') {
            p++;
            continue;
        }
        return *p == '|' ? p : NULL;
    }
}

/* Decodes e->detail (up to the end of canonical) into e's detail fields. */
static int audit_detail_decode(audit_entry_t *e, size_t canonical_len) {
    size_t len = canonical_len - (size_t)(e->detail - e->canonical);
    e->detail_n = 0;
    if (e->version == 1) { /* raw text: one field */
        if (len > 0) {
            e->detail_text[0] = e->detail;
            e->detail_len[0] = len;
            e->detail_n = 1;
        }
        return 0;
    }
    size_t pos = 0;
    while (pos < len) {
        if (e->detail_n == AUDIT_DETAIL_FIELDS_MAX) return -1;
        if (textfield_next(e->detail, len, &pos, &e->detail_text[e->detail_n],
                           &e->detail_len[e->detail_n]) != 0)
            return -1;
        e->detail_n++;
    }
    return 0;
}

int audit_entry_parse(uint64_t seq, const char *text, size_t len, audit_entry_t *out) {
    memset(out, 0, sizeof *out);
    out->seq = seq;
    if (len < 2 * AUDIT_HASH_HEX + 2 || text[AUDIT_HASH_HEX] != ' ' ||
        text[2 * AUDIT_HASH_HEX + 1] != ' ' || !hex_is_lower(text, AUDIT_HASH_HEX) ||
        !hex_is_lower(text + AUDIT_HASH_HEX + 1, AUDIT_HASH_HEX))
        return -1;
    memcpy(out->prev_hash, text, AUDIT_HASH_HEX);
    memcpy(out->hash, text + AUDIT_HASH_HEX + 1, AUDIT_HASH_HEX);
    size_t clen = len - 2 * AUDIT_HASH_HEX - 2;
    out->canonical = malloc(clen + 1);
    if (out->canonical == NULL) abort();
    memcpy(out->canonical, text + 2 * AUDIT_HASH_HEX + 2, clen);
    out->canonical[clen] = '\0';
    if (strlen(out->canonical) != clen) return -1; /* a NUL inside */
    /* [v2|]seq|time|event|ids|blocks|detail */
    out->version = strncmp(out->canonical, "v2|", 3) == 0 ? 2 : 1;
    char *f[5];
    f[0] = out->canonical + (out->version == 2 ? 3 : 0);
    for (int i = 1; i < 5; i++) {
        char *bar = strchr(f[i - 1], '|');
        if (bar == NULL) return -1;
        f[i] = bar + 1;
    }
    char seqtext[24];
    snprintf(seqtext, sizeof seqtext, "%" PRIu64 "|", seq);
    if (strncmp(f[0], seqtext, strlen(seqtext)) != 0) return -1;
    out->time_ms = strtoull(f[1], NULL, 10);
    size_t elen = (size_t)(f[3] - f[2] - 1);
    if (elen >= sizeof out->event) return -1;
    memcpy(out->event, f[2], elen);
    out->ids = f[3];
    out->ids_len = (size_t)(f[4] - f[3] - 1);
    const char *p = audit_blocks_end(f[4]);
    if (p == NULL) return -1;
    out->detail = p + 1;
    if (audit_detail_decode(out, clen) != 0) return -1;
    size_t blen = (size_t)(p - f[4]);
    char *blocks = malloc(blen + 1);
    if (blocks == NULL) abort();
    memcpy(blocks, f[4], blen);
    blocks[blen] = '\0';
    int rc = ledger_blocks_parse(blocks, LEDGER_BATCH_LEGS_MAX * LEDGER_LEG_BLOCKS_MAX, &out->blocks,
                                 &out->blocks_n);
    free(blocks);
    return rc;
}

int audit_entry_verify(const audit_entry_t *e, const char *prev) {
    if (e->canonical == NULL || strcmp(e->prev_hash, prev) != 0) return 0;
    char h[AUDIT_HASH_HEX + 1];
    audit_hash(prev, e->canonical, strlen(e->canonical), h);
    return strcmp(h, e->hash) == 0;
}

int audit_head(store_t *st, uint64_t *seq, char hash[AUDIT_HASH_HEX + 1], char *err, size_t errlen) {
    const char *argv[4] = {"HMGET", STORE_KEY_AUDIT_HEAD, "seq", "hash"};
    size_t argvlen[4] = {5, sizeof STORE_KEY_AUDIT_HEAD - 1, 3, 4};
    redisReply *r = NULL;
    if (store_command(st, 4, argv, argvlen, &r, err, errlen) != STORE_OK) return LEDGER_ESTORE;
    *seq = 0;
    memcpy(hash, audit_genesis, sizeof audit_genesis);
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING) {
        *seq = strtoull(r->element[0]->str, NULL, 10);
        snprintf(hash, AUDIT_HASH_HEX + 1, "%s", r->element[1]->str);
    }
    freeReplyObject(r);
    return LEDGER_OK;
}

int audit_read(store_t *st, uint64_t from_seq, size_t limit, audit_entry_t **out, size_t *n,
               char *err, size_t errlen) {
    *out = NULL;
    *n = 0;
    if (limit == 0) return LEDGER_OK;
    CARBON_ASSERT(limit <= AUDIT_READ_MAX);
    if (from_seq == 0) from_seq = 1;
    const char **argv = calloc(limit + 2, sizeof *argv);
    size_t *argvlen = calloc(limit + 2, sizeof *argvlen);
    char (*seqs)[24] = calloc(limit, sizeof *seqs);
    if (argv == NULL || argvlen == NULL || seqs == NULL) abort();
    argv[0] = "HMGET";
    argv[1] = STORE_KEY_AUDIT;
    for (size_t i = 0; i < limit; i++) {
        snprintf(seqs[i], sizeof seqs[i], "%" PRIu64, from_seq + i);
        argv[2 + i] = seqs[i];
    }
    for (size_t i = 0; i < limit + 2; i++) argvlen[i] = strlen(argv[i]);
    redisReply *r = NULL;
    int rc = store_command(st, (int)limit + 2, argv, argvlen, &r, err, errlen);
    free(argv);
    free(argvlen);
    free(seqs);
    if (rc != STORE_OK) return LEDGER_ESTORE;
    audit_entry_t *entries = calloc(limit, sizeof *entries);
    if (entries == NULL) abort();
    size_t k = 0;
    for (size_t i = 0; i < r->elements && i < limit; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING) continue;
        if (audit_entry_parse(from_seq + i, r->element[i]->str, r->element[i]->len, &entries[k]) != 0) {
            audit_entry_free(&entries[k]);
            memset(&entries[k], 0, sizeof entries[k]);
            entries[k].seq = from_seq + i;
            snprintf(entries[k].event, sizeof entries[k].event, "malformed");
            entries[k].canonical = calloc(1, 1);
            if (entries[k].canonical == NULL) abort();
            entries[k].ids = entries[k].detail = entries[k].canonical;
        }
        k++;
    }
    freeReplyObject(r);
    *out = entries;
    *n = k;
    return LEDGER_OK;
}

int audit_entry_has_id(const audit_entry_t *e, const char *id) {
    size_t idlen = strlen(id);
    const char *p = e->ids, *end = e->ids + e->ids_len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        size_t len = (size_t)(stop - p);
        if ((len == idlen || (len > idlen && p[idlen] == ':')) && memcmp(p, id, idlen) == 0)
            return 1;
        p = stop + 1;
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

/* ---- checkpoints ---------------------------------------------------------------- */

int audit_checkpoint_message(const audit_checkpoint_t *cp, char *buf, size_t buflen) {
    int n = snprintf(buf, buflen, "carbon.v1.checkpoint|%s|%" PRIu64 "|%s|%" PRIu64, cp->region,
                     cp->seq, cp->head_hash, cp->time_ms);
    return n > 0 && (size_t)n < buflen ? n : -1;
}

EVP_PKEY *audit_load_signing_key(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (key == NULL || EVP_PKEY_id(key) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(key);
        snprintf(err, errlen, "%s: not an Ed25519 private key (PEM)", path);
        return NULL;
    }
    return key;
}

int audit_load_public_key(const char *path, uint8_t out[32], char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    EVP_PKEY *key = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    size_t len = 32;
    int ok = key != NULL && EVP_PKEY_id(key) == EVP_PKEY_ED25519 &&
             EVP_PKEY_get_raw_public_key(key, out, &len) == 1 && len == 32;
    EVP_PKEY_free(key);
    if (!ok) snprintf(err, errlen, "%s: not an Ed25519 public key (PEM)", path);
    return ok ? 0 : -1;
}

int audit_checkpoint_sign(audit_checkpoint_t *cp, EVP_PKEY *key) {
    size_t len = 32;
    if (EVP_PKEY_get_raw_public_key(key, cp->public_key, &len) != 1 || len != 32) return -1;
    char msg[256];
    int mlen = audit_checkpoint_message(cp, msg, sizeof msg);
    if (mlen < 0) return -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t siglen = 64;
    int ok = ctx != NULL && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestSign(ctx, cp->signature, &siglen, (const unsigned char *)msg, (size_t)mlen) == 1 &&
             siglen == 64;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

int audit_checkpoint_verify(const audit_checkpoint_t *cp, const uint8_t *pinned) {
    if (pinned != NULL && memcmp(pinned, cp->public_key, 32) != 0) return 0;
    EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, cp->public_key, 32);
    if (key == NULL) return 0;
    char msg[256];
    int mlen = audit_checkpoint_message(cp, msg, sizeof msg);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = mlen > 0 && ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestVerify(ctx, cp->signature, 64, (const unsigned char *)msg, (size_t)mlen) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return ok;
}

int audit_checkpoint_store(store_t *st, const char *owner, const audit_checkpoint_t *cp,
                           char *err, size_t errlen) {
    char text[512], pub[65], sig[129];
    int hex_len = hex_encode(cp->public_key, sizeof cp->public_key, pub, sizeof pub);
    CARBON_ASSERT(hex_len == 64);
    int sig_hex_len = hex_encode(cp->signature, sizeof cp->signature, sig, sizeof sig);
    CARBON_ASSERT(sig_hex_len == 128);
    snprintf(text, sizeof text, "%s|%" PRIu64 "|%s|%" PRIu64 "|%s|%s", cp->region, cp->seq,
             cp->head_hash, cp->time_ms, pub, sig);
    char latest[64], history[64], keep[16];
    snprintf(latest, sizeof latest, STORE_KEY_CHECKPOINT_PREFIX "%s", owner);
    snprintf(history, sizeof history, STORE_KEY_CHECKPOINTS_PREFIX "%s", owner);
    snprintf(keep, sizeof keep, "-%d", AUDIT_CHECKPOINTS_KEPT);
    const char *set[3] = {"SET", latest, text};
    size_t setlen[3] = {3, strlen(latest), strlen(text)};
    const char *push[3] = {"RPUSH", history, text};
    size_t pushlen[3] = {5, strlen(history), strlen(text)};
    const char *trim[4] = {"LTRIM", history, keep, "-1"};
    size_t trimlen[4] = {5, strlen(history), strlen(keep), 2};
    redisReply *r = NULL;
    if (store_command(st, 3, set, setlen, &r, err, errlen) != STORE_OK) return LEDGER_ESTORE;
    freeReplyObject(r);
    if (store_command(st, 3, push, pushlen, &r, err, errlen) != STORE_OK) return LEDGER_ESTORE;
    freeReplyObject(r);
    if (store_command(st, 4, trim, trimlen, &r, err, errlen) != STORE_OK) return LEDGER_ESTORE;
    freeReplyObject(r);
    return LEDGER_OK;
}

int audit_checkpoint_load(store_t *st, const char *owner, audit_checkpoint_t *cp, char *err,
                          size_t errlen) {
    char latest[64];
    snprintf(latest, sizeof latest, STORE_KEY_CHECKPOINT_PREFIX "%s", owner);
    const char *get[2] = {"GET", latest};
    size_t getlen[2] = {3, strlen(latest)};
    redisReply *r = NULL;
    if (store_command(st, 2, get, getlen, &r, err, errlen) != STORE_OK) return LEDGER_ESTORE;
    if (r->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return LEDGER_NOT_FOUND;
    }
    memset(cp, 0, sizeof *cp);
    char region[CARBON_REGION_SIZE], hash[65], pub[65], sig[129];
    unsigned long long seq, t;
    CARBON_STATIC_ASSERT(CARBON_REGION_MAX == 15, "%15[^|] below reads at most CARBON_REGION_MAX");
    int ok = sscanf(r->str, "%15[^|]|%llu|%64[0-9a-f]|%llu|%64[0-9a-f]|%128[0-9a-f]", region, &seq,
                    hash, &t, pub, sig) == 6 &&
             strlen(pub) == 64 && strlen(sig) == 128;
    freeReplyObject(r);
    if (!ok || hex_decode(pub, 64, cp->public_key, sizeof cp->public_key) != 32 ||
        hex_decode(sig, 128, cp->signature, sizeof cp->signature) != 64) {
        snprintf(err, errlen, "checkpoint of %s: malformed record", owner);
        return LEDGER_ESTORE;
    }
    snprintf(cp->region, sizeof cp->region, "%s", region);
    snprintf(cp->head_hash, sizeof cp->head_hash, "%s", hash);
    cp->seq = seq;
    cp->time_ms = t;
    return LEDGER_OK;
}
