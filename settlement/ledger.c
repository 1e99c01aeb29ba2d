/* ledger.c - typed calls of the ledger's Lua scripts (ledger.h). */
#include "settlement/ledger.h"
#include "settlement/script_args.h"
#include "common/carbon_assert.h"
#include "settlement/failpoint.h"
#include "settlement/reasons.h"
#include "common/hex.h"

#include <hiredis/hiredis.h>
#include <openssl/rand.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t ledger_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* + a test's clock skew (failpoint.h; 0 in production) */
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u +
           (uint64_t)failpoint_clock_offset_ms();
}

/* ---- blocks --------------------------------------------------------------- */

static int ledger_parse_u64(const char *s, size_t len, uint64_t *out) {
    CARBON_ASSERT(s != NULL && out != NULL);
    if (len == 0 || len > 20) return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Splits text (len bytes) at '|' into exactly n parts (their starts and
 * lengths). -1 if it has another number of parts. */
static int ledger_split_bars(const char *text, size_t len, size_t n, const char **part,
                             size_t *part_len) {
    CARBON_ASSERT(text != NULL && part != NULL && part_len != NULL && n >= 1);
    size_t k = 0;
    const char *start = text;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || text[i] == '|') {
            if (k == n) return -1;
            part[k] = start;
            part_len[k] = (size_t)(text + i - start);
            k++;
            start = text + i + 1;
        }
    }
    return k == n ? 0 : -1;
}

int ledger_block_parse(const char *text, size_t len, ledger_block_t *out) {
    CARBON_ASSERT(text != NULL && out != NULL);
    const char *part[5];
    size_t part_len[5];
    if (ledger_split_bars(text, len, 5, part, part_len) != 0) return -1;
    if (part_len[0] == 0 || part_len[0] > LEDGER_REGION_MAX) return -1;
    if (part_len[1] == 0 || part_len[1] > LEDGER_METH_MAX) return -1;
    uint64_t vintage;
    memset(out, 0, sizeof *out);
    memcpy(out->origin, part[0], part_len[0]);
    memcpy(out->meth, part[1], part_len[1]);
    if (ledger_parse_u64(part[2], part_len[2], &vintage) != 0 || vintage > 9999) return -1;
    out->vintage = (uint32_t)vintage;
    if (ledger_parse_u64(part[3], part_len[3], &out->first) != 0) return -1;
    if (ledger_parse_u64(part[4], part_len[4], &out->last) != 0) return -1;
    if (out->first == 0 || out->last < out->first || out->last > LEDGER_SERIAL_MAX) return -1;
    CARBON_ASSERT(out->origin[LEDGER_REGION_MAX] == '\0' && out->meth[LEDGER_METH_MAX] == '\0');
    return 0;
}

int ledger_block_format(const ledger_block_t *b, char *buf, size_t buflen) {
    CARBON_ASSERT(b != NULL && buf != NULL && buflen > 0);
    int n = snprintf(buf, buflen, "%s|%s|%" PRIu32 "|%" PRIu64 "|%" PRIu64, b->origin, b->meth,
                     b->vintage, b->first, b->last);
    if (n < 0 || (size_t)n >= buflen) return -1;
    return n;
}

int ledger_blocks_parse(const char *text, size_t max, ledger_block_t **out, size_t *n) {
    CARBON_ASSERT(text != NULL && out != NULL && n != NULL);
    CARBON_ASSERT(max >= 1);
    *out = NULL;
    *n = 0;
    size_t len = strlen(text);
    if (len == 0) return 0;
    size_t count = 1;
    for (size_t i = 0; i < len; i++)
        if (text[i] == ',') count++;
    if (count > max) return -1;
    ledger_block_t *blocks = calloc(count, sizeof *blocks);
    if (blocks == NULL) return -1;
    const char *start = text;
    size_t k = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || text[i] == ',') {
            if (ledger_block_parse(start, (size_t)(text + i - start), &blocks[k]) != 0) {
                free(blocks);
                return -1;
            }
            k++;
            start = text + i + 1;
        }
    }
    CARBON_ASSERT(k == count);
    *out = blocks;
    *n = count;
    return 0;
}

uint64_t ledger_blocks_grams(const ledger_block_t *blocks, size_t n) {
    CARBON_ASSERT(blocks != NULL || n == 0);
    uint64_t g = 0;
    for (size_t i = 0; i < n; i++) g += blocks[i].last - blocks[i].first + 1;
    return g;
}

/* The longest block text, "origin|meth|vintage|first|last" (vintage <= 9999,
 * serials printed as up to 20 digits), and its comma fit their room; a leg's
 * blocks are one script argument. */
CARBON_STATIC_ASSERT(LEDGER_REGION_MAX + LEDGER_METH_MAX + 4 + 2 * 20 + 4 + 1 <= LEDGER_BLOCK_TEXT_MAX,
                     "one block's text fits LEDGER_BLOCK_TEXT_MAX");
CARBON_STATIC_ASSERT((uint64_t)LEDGER_LEG_BLOCKS_MAX * LEDGER_BLOCK_TEXT_MAX <= STORE_ARG_BYTES_MAX,
                     "a leg's blocks fit one store argument");

/* Formats blocks as the comma-separated text; malloc'd, caller frees. */
static char *ledger_blocks_text(const ledger_block_t *blocks, size_t n) {
    CARBON_ASSERT(blocks != NULL || n == 0);
    CARBON_ASSERT(n <= LEDGER_LEG_BLOCKS_MAX);
    size_t cap = n * LEDGER_BLOCK_TEXT_MAX + 1, used = 0;
    char *buf = malloc(cap);
    if (buf == NULL) abort();
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = ledger_block_format(&blocks[i], buf + used + (i > 0), cap - used - (i > 0));
        CARBON_ASSERT(w > 0);
        if (i > 0) buf[used] = ',';
        used += (size_t)w + (i > 0);
    }
    return buf;
}

void ledger_leg_free(ledger_leg_t *leg) {
    if (leg == NULL) return;
    free(leg->blocks);
    leg->blocks = NULL;
    leg->blocks_n = 0;
}

void ledger_account_free(ledger_account_t *a) {
    if (a == NULL) return;
    free(a->balances);
    a->balances = NULL;
    a->balances_n = 0;
    free(a->blocks);
    a->blocks = NULL;
    a->blocks_n = 0;
}

/* ---- script calls ---------------------------------------------------------- */

/* Runs script name with the arguments (freed); *reply must be an array. */
static int ledger_run(store_t *st, const char *name, script_args_t *a, redisReply **reply,
                      char *err, size_t errlen) {
    return script_args_run(st, name, a, 1, reply, err, errlen) == 0 ? LEDGER_OK : LEDGER_ESTORE;
}


static void ledger_copy(char *dst, size_t dstlen, const char *src) {
    CARBON_ASSERT(dst != NULL && dstlen > 0 && src != NULL);
    snprintf(dst, dstlen, "%s", src);
}

int ledger_refusal(const redisReply *r, const char *script, uint64_t *have_g, char *other_id, char *err,
                   size_t errlen) {
    CARBON_ASSERT(r != NULL && r->type == REDIS_REPLY_ARRAY && script != NULL);
    const char *status = script_reply_str(r, 0);
    CARBON_ASSERT(strcmp(status, "OK") != 0 && strcmp(status, "DUP") != 0); /* not a refusal */
    if (strcmp(status, REASON(ID_REUSED)) == 0) return LEDGER_CONFLICT;
    if (strcmp(status, REASON(UNKNOWN_ACCOUNT)) == 0) {
        if (script_reply_str(r, 1)[0] != '\0') snprintf(err, errlen, "%s", script_reply_str(r, 1));
        return LEDGER_NO_ACCOUNT;
    }
    if (strcmp(status, REASON(SERIALS_EXHAUSTED)) == 0) return LEDGER_SERIALS_EXHAUSTED;
    if (strcmp(status, REASON(INSUFFICIENT_BALANCE)) == 0) {
        if (have_g != NULL) *have_g = script_reply_u64(r, 1);
        return LEDGER_INSUFFICIENT;
    }
    if (strcmp(status, REASON(DOUBLE_ISSUANCE)) == 0) {
        if (other_id != NULL) ledger_copy(other_id, LEDGER_TID_LEN + 1, script_reply_str(r, 1));
        return LEDGER_DOUBLE_ISSUANCE;
    }
    if (strcmp(status, REASON(RESERVATION_LOST)) == 0) return LEDGER_RESERVATION_LOST;
    if (strcmp(status, REASON(ACCOUNT_DAMAGED)) == 0) {
        snprintf(err, errlen, "nothing taken: the account's blocks in the store are out of format (%s)",
                 script_reply_str(r, 1));
        return LEDGER_DAMAGED;
    }
    if (strcmp(status, REASON(TOO_FRAGMENTED)) == 0) {
        snprintf(err, errlen, "the amount spans more than %d blocks; move it in smaller parts",
                 LEDGER_LEG_BLOCKS_MAX);
        return LEDGER_TOO_FRAGMENTED;
    }
    snprintf(err, errlen, "%s: unexpected status '%s'", script, status);
    return LEDGER_ESTORE;
}

/* ---- accounts and issuance --------------------------------------------- */

int ledger_open_account(store_t *st, const char *id, const char *kind, uint64_t now_ms,
                        int *created, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && id != NULL && kind != NULL && created != NULL);
    CARBON_ASSERT(strlen(id) <= LEDGER_ID_MAX);
    script_args_t a = {0};
    script_args_str(&a, id);
    script_args_str(&a, kind);
    script_args_u64(&a, now_ms);
    redisReply *r;
    int rc = ledger_run(st, "account_open", &a, &r, err, errlen);
    if (rc != LEDGER_OK) return rc;
    const char *status = script_reply_str(r, 0);
    *created = strcmp(status, "OK") == 0;
    if (!*created) {
        if (strcmp(status, REASON(ACCOUNT_EXISTS)) == 0 && strcmp(script_reply_str(r, 1), kind) == 0)
            rc = LEDGER_REPLAY;
        else {
            snprintf(err, errlen, "account %s exists as %s", id, script_reply_str(r, 1));
            rc = LEDGER_EXISTS;
        }
    }
    freeReplyObject(r);
    return rc;
}

/* An Issue's arguments (issue.lua), or LEDGER_EINVAL with the reason. */
static int ledger_issue_args(script_args_t *a, const ledger_issue_t *in, uint64_t now_ms,
                             char *err, size_t errlen) {
    CARBON_ASSERT(in->account[0] != '\0' && strlen(in->account) <= LEDGER_ID_MAX);
    if (in->amount_g == 0 || in->amount_g >= LEDGER_AMOUNT_G_MAX) {
        snprintf(err, errlen, "amount %" PRIu64 " g is outside 1..2^50", in->amount_g);
        return LEDGER_EINVAL;
    }
    script_args_str(a, in->issuance_id);
    script_args_str(a, in->request_fp);
    script_args_str(a, in->account);
    script_args_str(a, in->meth);
    script_args_u64(a, in->vintage);
    script_args_u64(a, in->amount_g);
    script_args_str(a, in->fingerprint);
    script_args_str(a, in->origin);
    script_args_u64(a, now_ms);
    script_args_u64(a, LEDGER_SERIAL_MAX);
    script_args_str(a, in->activity_key);
    script_args_u64(a, in->reservation);
    script_args_str(a, in->answer_only ? "1" : "0");
    return LEDGER_OK;
}

/* An Issue's outcome from issue.lua's reply r (an array). */
static int ledger_issue_reply(const redisReply *r, ledger_block_t *block, char *other_id,
                              char *err, size_t errlen) {
    const char *status = script_reply_str(r, 0);
    if (strcmp(status, "OK") != 0 && strcmp(status, "DUP") != 0)
        return ledger_refusal(r, "issue", NULL, other_id, err, errlen);
    const char *text = script_reply_str(r, 1);
    if (ledger_block_parse(text, strlen(text), block) != 0) {
        snprintf(err, errlen, "issue: malformed block '%.96s' in the store", text);
        return LEDGER_ESTORE;
    }
    return status[0] == 'O' ? LEDGER_OK : LEDGER_REPLAY;
}

int ledger_issue(store_t *st, const ledger_issue_t *in, uint64_t now_ms, ledger_block_t *block,
                 char *other_id, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && in != NULL && block != NULL);
    script_args_t a = {0};
    int rc = ledger_issue_args(&a, in, now_ms, err, errlen);
    if (rc != LEDGER_OK) {
        script_args_free(&a);
        return rc;
    }
    redisReply *r;
    rc = ledger_run(st, "issue", &a, &r, err, errlen);
    if (rc != LEDGER_OK) return rc;
    rc = ledger_issue_reply(r, block, other_id, err, errlen);
    freeReplyObject(r);
    return rc;
}

int ledger_issuance_get(store_t *st, const char *issuance_id, char *fp, ledger_block_t *block, char *err,
                        size_t errlen) {
    CARBON_ASSERT(st != NULL && issuance_id != NULL && fp != NULL && block != NULL);
    CARBON_ASSERT(strlen(issuance_id) <= LEDGER_TID_LEN);
    char key[LEDGER_TID_LEN + 16];
    snprintf(key, sizeof key, STORE_KEY_ISSUANCE_PREFIX "%s" STORE_KEY_ISSUANCE_SUFFIX, issuance_id);
    const char *argv[4] = {"HMGET", key, "request_fp", "block"};
    size_t argvlen[4] = {5, strlen(key), 10, 5};
    redisReply *r;
    if (store_command(st, 4, argv, argvlen, &r, err, errlen) != STORE_OK) return LEDGER_ESTORE;
    int rc = LEDGER_NOT_FOUND;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_STRING) {
        ledger_copy(fp, LEDGER_DIGEST_HEX + 1, r->element[0]->str);
        const redisReply *b = r->element[1];
        rc = b->type == REDIS_REPLY_STRING && ledger_block_parse(b->str, b->len, block) == 0 ? LEDGER_OK
                                                                                                : LEDGER_ESTORE;
        if (rc != LEDGER_OK) snprintf(err, errlen, "issuance %s: its block in the store is out of format", issuance_id);
    }
    freeReplyObject(r);
    return rc;
}

/* ---- transfers: source ------------------------------------------------------ */

/* The arguments of one hold, at transfer_hold.lua's stride (HOLD_ARGS). */
#define LEDGER_HOLD_ARGS 21
CARBON_STATIC_ASSERT(1 + LEDGER_HOLD_ARGS * LEDGER_HOLD_BATCH_MAX <= STORE_ARGS_MAX,
                     "a batch of holds fits one store call");

static void ledger_hold_args(script_args_t *a, const ledger_leg_t *leg, const char *request_fp,
                             uint64_t now_ms, const char *hold_token) {
    size_t before = a->n;
    script_args_str(a, leg->tid);
    script_args_str(a, request_fp);
    script_args_str(a, leg->from);
    script_args_str(a, leg->to);
    script_args_str(a, leg->peer);
    script_args_str(a, leg->meth);
    script_args_u64(a, leg->vintage);
    script_args_u64(a, leg->requested_g);
    script_args_u64(a, leg->credited_g);
    script_args_u64(a, leg->debited_g);
    script_args_u64(a, leg->discount_g);
    script_args_u64(a, leg->remainder_g);
    script_args_u64(a, leg->ratio_num);
    script_args_u64(a, leg->ratio_den);
    script_args_str(a, leg->dest_meth);
    script_args_str(a, leg->src_digest);
    script_args_str(a, leg->dst_digest);
    script_args_u64(a, now_ms);
    script_args_u64(a, leg->expiry_ms);
    script_args_u64(a, LEDGER_LEG_BLOCKS_MAX);
    script_args_str(a, hold_token);
    CARBON_ASSERT(a->n - before == LEDGER_HOLD_ARGS);
    (void)before;
}

/* Reads one hold's reply r (an array) into it. */
static void ledger_hold_result(const redisReply *r, ledger_hold_item_t *it) {
    ledger_leg_t *leg = it->leg;
    const char *status = script_reply_str(r, 0);
    if (strcmp(status, "OK") != 0 && strcmp(status, "DUP") != 0) {
        it->rc = ledger_refusal(r, "hold", &it->have_g, NULL, it->err, sizeof it->err);
        return;
    }
    leg->state = transfer_state_from_text(script_reply_str(r, 1));
    ledger_copy(leg->reason, sizeof leg->reason, script_reply_str(r, 2));
    free(leg->blocks);
    leg->blocks = NULL;
    leg->blocks_n = 0;
    if (ledger_blocks_parse(script_reply_str(r, 3), LEDGER_LEG_BLOCKS_MAX, &leg->blocks,
                            &leg->blocks_n) != 0) {
        snprintf(it->err, sizeof it->err, "hold: malformed blocks in the store");
        it->rc = LEDGER_ESTORE;
        return;
    }
    it->rc = status[0] == 'O' ? LEDGER_OK : LEDGER_REPLAY;
    leg->created_ms = it->now_ms;
}

/* Draws it->hold_token if it has none: 16 random hex digits (none if the
 * random source fails: a replay of this attempt is then LEDGER_REPLAY). */
static void ledger_hold_token(ledger_hold_item_t *it) {
    if (it->hold_token[0] != '\0') return;
    unsigned char raw[LEDGER_HOLD_TOKEN_HEX / 2];
    if (RAND_bytes(raw, (int)sizeof raw) != 1) return;
    hex_encode(raw, sizeof raw, it->hold_token, sizeof it->hold_token);
    CARBON_ASSERT(strlen(it->hold_token) == LEDGER_HOLD_TOKEN_HEX);
}

/* Checks one item before anything is sent: 0, or LEDGER_EINVAL in it. */
static int ledger_hold_check(ledger_hold_item_t *it) {
    const ledger_leg_t *leg = it->leg;
    CARBON_ASSERT(it->request_fp != NULL);
    CARBON_ASSERT(strlen(leg->tid) == LEDGER_TID_LEN && leg->peer[0] != '\0');
    it->rc = LEDGER_OK;
    it->have_g = 0;
    it->err[0] = '\0';
    ledger_hold_token(it);
    if (leg->debited_g == 0 || leg->debited_g >= LEDGER_AMOUNT_G_MAX ||
        leg->requested_g >= LEDGER_AMOUNT_G_MAX) {
        snprintf(it->err, sizeof it->err, "amount outside 1..2^50 g");
        it->rc = LEDGER_EINVAL;
    }
    return it->rc;
}

int ledger_hold_batch(store_t *st, ledger_hold_item_t *const *items, size_t n, bool *may_have_run,
                      char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && items != NULL && n >= 1 && n <= LEDGER_HOLD_BATCH_MAX);
    if (may_have_run != NULL) *may_have_run = false;
    size_t sent = 0;
    for (size_t i = 0; i < n; i++) sent += ledger_hold_check(items[i]) == LEDGER_OK;
    if (sent == 0) return LEDGER_OK;
    script_args_t a = {0};
    script_args_u64(&a, sent);
    for (size_t i = 0; i < n; i++)
        if (items[i]->rc == LEDGER_OK)
            ledger_hold_args(&a, items[i]->leg, items[i]->request_fp, items[i]->now_ms, items[i]->hold_token);
    redisReply *r;
    int rc = ledger_run(st, "transfer_hold", &a, &r, err, errlen);
    bool ran = rc != LEDGER_OK && store_last_call_may_have_run(st);
    if (rc == LEDGER_OK && r->elements != sent) {
        snprintf(err, errlen, "transfer_hold: %zu replies for %zu holds", r->elements, sent);
        freeReplyObject(r);
        rc = LEDGER_ESTORE;
    } else if (rc == LEDGER_OK && failpoint_trip("hold.reply_lost")) {
        snprintf(err, errlen, "transfer_hold: the reply was lost (test hook hold.reply_lost); the command may "
                              "have run");
        freeReplyObject(r);
        rc = LEDGER_ESTORE;
        ran = true;
    }
    if (may_have_run != NULL) *may_have_run = ran;
    for (size_t i = 0, k = 0; i < n; i++) {
        if (items[i]->rc == LEDGER_EINVAL) continue;
        if (rc != LEDGER_OK) {
            items[i]->rc = LEDGER_ESTORE;
            snprintf(items[i]->err, sizeof items[i]->err, "%s", err);
        } else if (r->element[k]->type != REDIS_REPLY_ARRAY) {
            items[i]->rc = LEDGER_ESTORE;
            snprintf(items[i]->err, sizeof items[i]->err, "transfer_hold: reply %zu not a list", k);
        } else {
            ledger_hold_result(r->element[k], items[i]);
        }
        k++;
    }
    if (rc == LEDGER_OK) freeReplyObject(r);
    return rc;
}

int ledger_hold(store_t *st, ledger_leg_t *leg, const char *request_fp, uint64_t now_ms,
                uint64_t *have_g, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && leg != NULL && request_fp != NULL);
    ledger_hold_item_t it = {.leg = leg, .request_fp = request_fp, .now_ms = now_ms};
    ledger_hold_item_t *one = &it;
    char batch_err[256] = "";
    (void)ledger_hold_batch(st, &one, 1, NULL, batch_err, sizeof batch_err);
    if (have_g != NULL) *have_g = it.have_g;
    snprintf(err, errlen, "%s", it.err);
    return it.rc;
}

/* Arguments of the batch scripts: a head, then a fixed number per leg, at the
 * strides the scripts read them (source_decide.lua, source_ack.lua,
 * dest_prepare.lua, dest_decide.lua). A full batch is one store call. */
#define LEDGER_SOURCE_DECIDE_ARGS(n) (2 + 5 * (size_t)(n))
#define LEDGER_SOURCE_ACK_ARGS(n) (3 + (size_t)(n))
#define LEDGER_ORIGIN_PREPARE_ARGS(n) (3 + 6 * (size_t)(n) + 1)
#define LEDGER_DEST_PREPARE_ARGS(n) (4 + 11 * (size_t)(n) + 4)
#define LEDGER_DEST_DECIDE_ARGS(n) (3 + 5 * (size_t)(n))
CARBON_STATIC_ASSERT(LEDGER_SOURCE_DECIDE_ARGS(LEDGER_BATCH_LEGS_MAX) <= STORE_ARGS_MAX &&
                         LEDGER_SOURCE_ACK_ARGS(LEDGER_BATCH_LEGS_MAX) <= STORE_ARGS_MAX &&
                         LEDGER_DEST_PREPARE_ARGS(LEDGER_BATCH_LEGS_MAX) <= STORE_ARGS_MAX &&
                         LEDGER_DEST_DECIDE_ARGS(LEDGER_BATCH_LEGS_MAX) <= STORE_ARGS_MAX &&
                         LEDGER_ORIGIN_PREPARE_ARGS(LEDGER_BATCH_LEGS_MAX) <= STORE_ARGS_MAX,
                     "a batch of LEDGER_BATCH_LEGS_MAX legs fits one store call");

int ledger_source_decide(store_t *st, ledger_source_decision_t *d, size_t n, uint64_t now_ms,
                         char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && d != NULL);
    CARBON_ASSERT(n >= 1 && n <= LEDGER_BATCH_LEGS_MAX);
    script_args_t a = {0};
    script_args_u64(&a, now_ms);
    script_args_u64(&a, n);
    for (size_t i = 0; i < n; i++) {
        CARBON_ASSERT(d[i].decision == TRANSFER_DECISION_COMMIT || d[i].decision == TRANSFER_DECISION_ABORT);
        script_args_str(&a, d[i].tid);
        script_args_add(&a, &d[i].decision, 1);
        script_args_str(&a, d[i].reason != NULL ? d[i].reason : "");
        script_args_str(&a, d[i].only_if_expired ? "1" : "0");
        CARBON_ASSERT(d[i].detail == NULL || strlen(d[i].detail) <= LEDGER_DETAIL_MAX);
        script_args_str(&a, d[i].detail != NULL ? d[i].detail : "");
    }
    CARBON_ASSERT(a.n == LEDGER_SOURCE_DECIDE_ARGS(n));
    redisReply *r;
    int rc = ledger_run(st, "source_decide", &a, &r, err, errlen);
    if (rc != LEDGER_OK) return rc;
    enum { REPLY_PER_LEG = 5 }; /* state, reason, decided_ms, detail, decided here */
    if (r->elements != REPLY_PER_LEG * n) {
        snprintf(err, errlen, "source_decide: %zu results for %zu legs", r->elements, n);
        freeReplyObject(r);
        return LEDGER_ESTORE;
    }
    for (size_t i = 0; i < n; i++) {
        size_t at = REPLY_PER_LEG * i;
        d[i].state = transfer_state_from_text(script_reply_str(r, at));
        ledger_copy(d[i].final_reason, sizeof d[i].final_reason, script_reply_str(r, at + 1));
        ledger_copy(d[i].final_detail, sizeof d[i].final_detail, script_reply_str(r, at + 3));
        const char *ms = script_reply_str(r, at + 2);
        d[i].decided_ms = 0;
        ledger_parse_u64(ms, strlen(ms), &d[i].decided_ms);
        d[i].decided_here = strcmp(script_reply_str(r, at + 4), "1") == 0;
    }
    freeReplyObject(r);
    return LEDGER_OK;
}

int ledger_source_ack(store_t *st, const char *peer, const char *const *tids, size_t n,
                      uint64_t now_ms, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && peer != NULL && tids != NULL);
    CARBON_ASSERT(n >= 1 && n <= LEDGER_BATCH_LEGS_MAX);
    script_args_t a = {0};
    script_args_u64(&a, now_ms);
    script_args_str(&a, peer);
    script_args_u64(&a, n);
    for (size_t i = 0; i < n; i++) script_args_str(&a, tids[i]);
    CARBON_ASSERT(a.n == LEDGER_SOURCE_ACK_ARGS(n));
    redisReply *r;
    if (script_args_run(st, "source_ack", &a, 0, &r, err, errlen) != 0) return LEDGER_ESTORE;
    freeReplyObject(r);
    return LEDGER_OK;
}

/* ---- transfers: destination --------------------------------------------------- */

/* Reads a prepare script's answer r (freed here): per leg "Y"/"N", the
 * reason and its detail, into p[0..n). LEDGER_OK, or LEDGER_ESTORE with err
 * when the answer has another shape. */
static int ledger_votes_read(redisReply *r, const char *script, ledger_prepare_t *p, size_t n, char *err,
                             size_t errlen) {
    CARBON_ASSERT(r != NULL && script != NULL && p != NULL);
    if (r->elements != 3 * n) {
        snprintf(err, errlen, "%s: %zu results for %zu legs", script, r->elements, n);
        freeReplyObject(r);
        return LEDGER_ESTORE;
    }
    for (size_t i = 0; i < n; i++) {
        p[i].vote_yes = strcmp(script_reply_str(r, 3 * i), "Y") == 0;
        ledger_copy(p[i].reason, sizeof p[i].reason, script_reply_str(r, 3 * i + 1));
        ledger_copy(p[i].detail, sizeof p[i].detail, script_reply_str(r, 3 * i + 2));
    }
    freeReplyObject(r);
    return LEDGER_OK;
}

int ledger_dest_prepare(store_t *st, const char *source_region, uint64_t batch_seq,
                        const char *batch_totals, ledger_prepare_t *p, size_t n,
                        uint32_t inflight_max, uint64_t inflow_max_g, int source_records_own_discount,
                        uint64_t now_ms, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && source_region != NULL && batch_totals != NULL && p != NULL);
    CARBON_ASSERT(n >= 1 && n <= LEDGER_BATCH_LEGS_MAX);
    script_args_t a = {0};
    script_args_u64(&a, now_ms);
    script_args_str(&a, source_region);
    script_args_u64(&a, batch_seq);
    script_args_u64(&a, n);
    for (size_t i = 0; i < n; i++) {
        const ledger_leg_t *leg = p[i].leg;
        script_args_str(&a, leg->tid);
        script_args_str(&a, leg->from);
        script_args_str(&a, leg->to);
        char *text = ledger_blocks_text(leg->blocks, leg->blocks_n);
        script_args_str(&a, text);
        free(text);
        script_args_u64(&a, leg->debited_g);
        script_args_u64(&a, leg->credited_g);
        script_args_u64(&a, leg->discount_g);
        script_args_str(&a, leg->dest_meth);
        char digests[2 * LEDGER_DIGEST_HEX + 2];
        snprintf(digests, sizeof digests, "%s|%s", leg->src_digest, leg->dst_digest);
        script_args_str(&a, digests);
        script_args_u64(&a, leg->expiry_ms);
        script_args_str(&a, p[i].precheck != NULL ? p[i].precheck : "");
    }
    script_args_str(&a, batch_totals);
    script_args_u64(&a, inflight_max);
    script_args_u64(&a, inflow_max_g);
    script_args_str(&a, source_records_own_discount ? "1" : "0");
    CARBON_ASSERT(a.n == LEDGER_DEST_PREPARE_ARGS(n));
    redisReply *r;
    int rc = ledger_run(st, "dest_prepare", &a, &r, err, errlen);
    if (rc != LEDGER_OK) return rc;
    return ledger_votes_read(r, "dest_prepare", p, n, err, errlen);
}

int ledger_origin_prepare(store_t *st, const char *source_region, ledger_prepare_t *p, size_t n,
                          uint32_t inflight_max, uint64_t now_ms, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && source_region != NULL && p != NULL);
    CARBON_ASSERT(n >= 1 && n <= LEDGER_BATCH_LEGS_MAX);
    script_args_t a = {0};
    script_args_u64(&a, now_ms);
    script_args_str(&a, source_region);
    script_args_u64(&a, n);
    for (size_t i = 0; i < n; i++) {
        const ledger_leg_t *leg = p[i].leg;
        CARBON_ASSERT(leg != NULL && leg->blocks_n >= 1 && leg->blocks_n <= LEDGER_LEG_BLOCKS_MAX);
        script_args_str(&a, leg->tid);
        script_args_str(&a, leg->from);
        script_args_str(&a, leg->to);
        char *text = ledger_blocks_text(leg->blocks, leg->blocks_n);
        script_args_str(&a, text);
        free(text);
        script_args_u64(&a, leg->expiry_ms);
        script_args_str(&a, p[i].precheck != NULL ? p[i].precheck : "");
    }
    script_args_u64(&a, inflight_max);
    CARBON_ASSERT(a.n == LEDGER_ORIGIN_PREPARE_ARGS(n));
    redisReply *r;
    int rc = ledger_run(st, "origin_prepare", &a, &r, err, errlen);
    if (rc != LEDGER_OK) return rc;
    return ledger_votes_read(r, "origin_prepare", p, n, err, errlen);
}

int ledger_origin_placeable(store_t *st, const char *const *sources, ledger_block_t *const *blocks,
                            const size_t *blocks_n, size_t n, char (*why)[LEDGER_REASON_MAX + 1], char *err,
                            size_t errlen) {
    CARBON_ASSERT(st != NULL && sources != NULL && blocks != NULL && blocks_n != NULL && why != NULL);
    CARBON_ASSERT(n >= 1 && n <= LEDGER_BATCH_LEGS_MAX);
    script_args_t a = {0};
    script_args_u64(&a, n);
    for (size_t i = 0; i < n; i++) {
        CARBON_ASSERT(sources[i] != NULL && blocks[i] != NULL);
        CARBON_ASSERT(blocks_n[i] >= 1 && blocks_n[i] <= LEDGER_LEG_BLOCKS_MAX);
        script_args_str(&a, sources[i]);
        char *text = ledger_blocks_text(blocks[i], blocks_n[i]);
        script_args_str(&a, text);
        free(text);
    }
    redisReply *r;
    int rc = ledger_run(st, "origin_placeable", &a, &r, err, errlen);
    if (rc != LEDGER_OK) return rc;
    size_t strings = 0;
    for (size_t i = 0; i < r->elements; i++) strings += r->element[i]->type == REDIS_REPLY_STRING;
    if (r->elements != n || strings != n) {
        snprintf(err, errlen, "origin_placeable: %zu answers (%zu texts) for %zu legs", r->elements, strings, n);
        freeReplyObject(r);
        return LEDGER_ESTORE;
    }
    for (size_t i = 0; i < n; i++) ledger_copy(why[i], sizeof why[i], r->element[i]->str);
    freeReplyObject(r);
    return LEDGER_OK;
}

/* Reads dest_decide's "DAMAGED|STATE|why" after a leg's answer letter into
 * d->damaged (why) and d->damaged_state (NONE if STATE names none); 1 if
 * outcome is one, else 0 with d->damaged "". */
static int ledger_damage_read(const char *outcome, ledger_dest_decision_t *d) {
    CARBON_ASSERT(outcome != NULL && d != NULL);
    d->damaged[0] = '\0';
    d->damaged_state = TRANSFER_STATE_NONE;
    if (strncmp(outcome, "DAMAGED|", 8) != 0) return 0;
    const char *state = outcome + 8, *bar = strchr(state, '|');
    const char *why = state;
    if (bar != NULL && transfer_state_parse(state, (size_t)(bar - state), &d->damaged_state) == 0) why = bar + 1;
    else d->damaged_state = TRANSFER_STATE_NONE;
    ledger_copy(d->damaged, sizeof d->damaged, why[0] != '\0' ? why : "(no reason given)");
    return 1;
}

int ledger_dest_decide(store_t *st, const char *source_region, ledger_dest_decision_t *d,
                       size_t n, uint64_t now_ms, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && source_region != NULL && d != NULL);
    CARBON_ASSERT(n >= 1 && n <= LEDGER_BATCH_LEGS_MAX);
    script_args_t a = {0};
    script_args_u64(&a, now_ms);
    script_args_str(&a, source_region);
    script_args_u64(&a, n);
    for (size_t i = 0; i < n; i++) {
        CARBON_ASSERT(d[i].decision == TRANSFER_DECISION_COMMIT || d[i].decision == TRANSFER_DECISION_ABORT);
        script_args_str(&a, d[i].tid);
        script_args_add(&a, &d[i].decision, 1);
        script_args_str(&a, d[i].resolved_by != NULL ? d[i].resolved_by : "");
        script_args_str(&a, d[i].resolve_reason != NULL ? d[i].resolve_reason : "");
        char confirm = d[i].origin_confirm != 0 ? d[i].origin_confirm : 'U';
        script_args_add(&a, &confirm, 1);
    }
    CARBON_ASSERT(a.n == LEDGER_DEST_DECIDE_ARGS(n));
    redisReply *r;
    int rc = ledger_run(st, "dest_decide", &a, &r, err, errlen);
    if (rc != LEDGER_OK) return rc;
    if (r->elements != n) {
        snprintf(err, errlen, "dest_decide: %zu results for %zu legs", r->elements, n);
        freeReplyObject(r);
        return LEDGER_ESTORE;
    }
    for (size_t i = 0; i < n; i++) {
        const char *a = script_reply_str(r, i);
        d[i].applied = a[0];
        const char *outcome = a[0] != '\0' && a[1] == '|' ? a + 2 : "";
        d[i].origin_wait = strcmp(outcome, "ORIGIN") == 0;
        int damaged = ledger_damage_read(outcome, &d[i]);
        ledger_copy(d[i].heuristic_outcome, sizeof d[i].heuristic_outcome,
                    d[i].origin_wait || damaged ? "" : outcome);
    }
    freeReplyObject(r);
    return LEDGER_OK;
}

/* ---- retirement, reads ------------------------------------------------------ */

/* A Retire's arguments (retire.lua), or LEDGER_EINVAL with the reason. */
static int ledger_retire_args(script_args_t *a, const ledger_retire_t *in, uint64_t now_ms,
                              char *err, size_t errlen) {
    CARBON_ASSERT(in->account[0] != '\0' && strlen(in->account) <= LEDGER_ID_MAX);
    if (in->amount_g == 0 || in->amount_g >= LEDGER_AMOUNT_G_MAX) {
        snprintf(err, errlen, "amount outside 1..2^50 g");
        return LEDGER_EINVAL;
    }
    script_args_str(a, in->retirement_id);
    script_args_str(a, in->request_fp);
    script_args_str(a, in->account);
    script_args_str(a, in->meth);
    script_args_u64(a, in->vintage);
    script_args_u64(a, in->amount_g);
    script_args_str(a, in->purpose);
    script_args_str(a, in->beneficiary);
    script_args_u64(a, now_ms);
    script_args_u64(a, LEDGER_LEG_BLOCKS_MAX);
    script_args_str(a, in->rules_on ? "1" : "0");
    script_args_str(a, in->rules_on ? in->origins : "*");
    script_args_str(a, in->rules_on ? in->meths : "*");
    script_args_u64(a, in->vintage_min);
    script_args_u64(a, in->vintage_max);
    script_args_u64(a, in->share_num);
    script_args_u64(a, in->share_den);
    script_args_u64(a, in->outside_num);
    script_args_u64(a, in->outside_den);
    script_args_u64(a, in->compliance_year);
    return LEDGER_OK;
}

/* A refusal by the rules on use in retire.lua's reply r, into *out; the
 * ledger rc, or 0 when r is not one. */
static int ledger_rules_refusal(const redisReply *r, ledger_rules_refusal_t *out) {
    const char *status = script_reply_str(r, 0);
    int rc = strcmp(status, REASON(PURPOSE_NOT_ALLOWED)) == 0 ? LEDGER_PURPOSE_NOT_ALLOWED
             : strcmp(status, REASON(QUOTA_EXCEEDED)) == 0    ? LEDGER_QUOTA_EXCEEDED
                                                              : 0;
    if (rc == 0 || out == NULL) return rc;
    memset(out, 0, sizeof *out);
    ledger_copy(out->what, sizeof out->what, script_reply_str(r, 1));
    if (rc == LEDGER_PURPOSE_NOT_ALLOWED) {
        ledger_copy(out->block, sizeof out->block, script_reply_str(r, 2));
    } else {
        out->room_g = script_reply_u64(r, 2);
        out->cap_g = script_reply_u64(r, 3);
        out->used_g = script_reply_u64(r, 4);
    }
    return rc;
}

/* A Retire's outcome from retire.lua's reply r (an array). */
static int ledger_retire_reply(const redisReply *r, ledger_block_t **blocks, size_t *blocks_n,
                               uint64_t *have_g, ledger_rules_refusal_t *rules, char *err,
                               size_t errlen) {
    const char *status = script_reply_str(r, 0);
    int refused = ledger_rules_refusal(r, rules);
    if (refused != 0) return refused;
    if (strcmp(status, "OK") != 0 && strcmp(status, "DUP") != 0)
        return ledger_refusal(r, "retire", have_g, NULL, err, errlen);
    if (ledger_blocks_parse(script_reply_str(r, 1), LEDGER_LEG_BLOCKS_MAX, blocks, blocks_n) != 0) {
        snprintf(err, errlen, "retire: malformed blocks in the store");
        return LEDGER_ESTORE;
    }
    return status[0] == 'O' ? LEDGER_OK : LEDGER_REPLAY;
}

int ledger_retire(store_t *st, const ledger_retire_t *in, uint64_t now_ms,
                  ledger_block_t **blocks, size_t *blocks_n, uint64_t *have_g, char *err,
                  size_t errlen) {
    CARBON_ASSERT(st != NULL && in != NULL && blocks != NULL && blocks_n != NULL);
    *blocks = NULL;
    *blocks_n = 0;
    script_args_t a = {0};
    int rc = ledger_retire_args(&a, in, now_ms, err, errlen);
    if (rc != LEDGER_OK) {
        script_args_free(&a);
        return rc;
    }
    redisReply *r;
    rc = ledger_run(st, "retire", &a, &r, err, errlen);
    if (rc != LEDGER_OK) return rc;
    rc = ledger_retire_reply(r, blocks, blocks_n, have_g, NULL, err, errlen);
    freeReplyObject(r);
    return rc;
}

/* ---- group commit of Issue and Retire: one pipeline, one fsync ---------------- */

/* Runs the n scripts of args[0..n) (each LEDGER_OK-checked; none: skipped)
 * in one pipeline; replies[i] NULL for a skipped one. Returns the store's rc
 * (STORE_OK or STORE_ESCRIPT: replies set; else none set). */
static int ledger_pipeline(store_t *st, const char *name, script_args_t *args, size_t n,
                           redisReply **replies, char *err, size_t errlen) {
    int idx = store_script_index(name);
    CARBON_ASSERT(idx >= 0 && n <= LEDGER_GROUP_MAX);
    store_call_t calls[LEDGER_GROUP_MAX];
    size_t map[LEDGER_GROUP_MAX], sent = 0;
    for (size_t i = 0; i < n; i++) {
        replies[i] = NULL;
        if (args[i].n == 0) continue;
        calls[sent] = (store_call_t){.script_index = idx, .nkeys = 0, .argc = (int)args[i].n,
                                     .argv = script_args_argv(&args[i]), .argvlen = args[i].len};
        map[sent++] = i;
    }
    if (sent == 0) return STORE_OK;
    redisReply *got[LEDGER_GROUP_MAX];
    int rc = store_pipeline_eval(st, sent, calls, got, err, errlen);
    for (size_t k = 0; k < sent; k++) free((void *)calls[k].argv);
    if (rc == STORE_OK || rc == STORE_ESCRIPT)
        for (size_t k = 0; k < sent; k++) replies[map[k]] = got[k];
    return rc;
}

/* The reply r of one call of a pipeline as an array, or NULL with the reason. */
static const redisReply *ledger_pipeline_reply(const redisReply *r, const char *name, char *err,
                                               size_t errlen, const char *batch_err) {
    if (r == NULL) {
        snprintf(err, errlen, "%.120s", batch_err);
        return NULL;
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "%s: %.100s", name, r->type == REDIS_REPLY_ERROR ? r->str : "not a list");
        return NULL;
    }
    return r;
}

int ledger_issue_many(store_t *st, ledger_issue_item_t *const *items, size_t n, char *err,
                      size_t errlen) {
    CARBON_ASSERT(st != NULL && items != NULL && n >= 1 && n <= LEDGER_GROUP_MAX);
    script_args_t args[LEDGER_GROUP_MAX];
    memset(args, 0, n * sizeof args[0]);
    for (size_t i = 0; i < n; i++) {
        ledger_issue_item_t *it = items[i];
        it->err[0] = '\0';
        it->other_id[0] = '\0';
        it->rc = ledger_issue_args(&args[i], it->in, it->now_ms, it->err, sizeof it->err);
    }
    redisReply *replies[LEDGER_GROUP_MAX];
    int src = ledger_pipeline(st, "issue", args, n, replies, err, errlen);
    for (size_t i = 0; i < n; i++) {
        ledger_issue_item_t *it = items[i];
        if (it->rc == LEDGER_OK) {
            const redisReply *r = ledger_pipeline_reply(replies[i], "issue", it->err, sizeof it->err,
                                                        err);
            it->rc = r == NULL ? LEDGER_ESTORE
                               : ledger_issue_reply(r, &it->block, it->other_id, it->err,
                                                    sizeof it->err);
        }
        if (replies[i] != NULL) freeReplyObject(replies[i]);
        script_args_free(&args[i]);
    }
    return src == STORE_OK || src == STORE_ESCRIPT ? LEDGER_OK : LEDGER_ESTORE;
}

int ledger_retire_many(store_t *st, ledger_retire_item_t *const *items, size_t n, char *err,
                       size_t errlen) {
    CARBON_ASSERT(st != NULL && items != NULL && n >= 1 && n <= LEDGER_GROUP_MAX);
    script_args_t args[LEDGER_GROUP_MAX];
    memset(args, 0, n * sizeof args[0]);
    for (size_t i = 0; i < n; i++) {
        ledger_retire_item_t *it = items[i];
        it->err[0] = '\0';
        it->blocks = NULL;
        it->blocks_n = 0;
        it->have_g = 0;
        it->rc = ledger_retire_args(&args[i], it->in, it->now_ms, it->err, sizeof it->err);
    }
    redisReply *replies[LEDGER_GROUP_MAX];
    int src = ledger_pipeline(st, "retire", args, n, replies, err, errlen);
    for (size_t i = 0; i < n; i++) {
        ledger_retire_item_t *it = items[i];
        if (it->rc == LEDGER_OK) {
            const redisReply *r = ledger_pipeline_reply(replies[i], "retire", it->err, sizeof it->err,
                                                        err);
            it->rc = r == NULL ? LEDGER_ESTORE
                               : ledger_retire_reply(r, &it->blocks, &it->blocks_n, &it->have_g,
                                                     &it->rules, it->err, sizeof it->err);
        }
        if (replies[i] != NULL) freeReplyObject(replies[i]);
        script_args_free(&args[i]);
    }
    return src == STORE_OK || src == STORE_ESCRIPT ? LEDGER_OK : LEDGER_ESTORE;
}

int ledger_account_get(store_t *st, const char *id, size_t blocks_limit, ledger_account_t *out,
                       char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && id != NULL && out != NULL);
    CARBON_ASSERT(strlen(id) <= LEDGER_ID_MAX);
    memset(out, 0, sizeof *out);
    if (blocks_limit > LEDGER_ACCOUNT_BLOCKS_MAX) blocks_limit = LEDGER_ACCOUNT_BLOCKS_MAX;
    script_args_t a = {0};
    script_args_str(&a, id);
    script_args_u64(&a, blocks_limit);
    redisReply *r;
    int rc = ledger_run(st, "account_get", &a, &r, err, errlen);
    if (rc != LEDGER_OK) return rc;
    if (strcmp(script_reply_str(r, 0), "OK") != 0) {
        freeReplyObject(r);
        return LEDGER_NOT_FOUND;
    }
    ledger_copy(out->kind, sizeof out->kind, script_reply_str(r, 1));
    out->held_g = script_reply_u64(r, 2);
    out->pending_g = script_reply_u64(r, 3);
    out->blocks_total = (size_t)script_reply_u64(r, 4);
    size_t nb = (size_t)script_reply_u64(r, 5);
    if (6 + nb > r->elements) {
        snprintf(err, errlen, "account %s: short reply", id);
        freeReplyObject(r);
        return LEDGER_ESTORE;
    }
    out->balances = calloc(nb > 0 ? nb : 1, sizeof *out->balances);
    if (out->balances == NULL) abort();
    for (size_t i = 0; i < nb; i++) {
        /* "origin|meth|vintage|grams" */
        const char *text = script_reply_str(r, 6 + i);
        ledger_balance_t *bal = &out->balances[i];
        size_t len = strlen(text);
        const char *bar = strrchr(text, '|');
        const char *p1 = strchr(text, '|');
        const char *p2 = p1 ? strchr(p1 + 1, '|') : NULL;
        uint64_t vintage = 0;
        if (p1 == NULL || p2 == NULL || bar == NULL || bar <= p2 ||
            (size_t)(p1 - text) > LEDGER_REGION_MAX || (size_t)(p2 - p1 - 1) > LEDGER_METH_MAX ||
            ledger_parse_u64(p2 + 1, (size_t)(bar - p2 - 1), &vintage) != 0 ||
            ledger_parse_u64(bar + 1, len - (size_t)(bar + 1 - text), &bal->grams) != 0) {
            snprintf(err, errlen, "account %s: malformed balance '%s'", id, text);
            freeReplyObject(r);
            ledger_account_free(out);
            return LEDGER_ESTORE;
        }
        memcpy(bal->origin, text, (size_t)(p1 - text));
        memcpy(bal->meth, p1 + 1, (size_t)(p2 - p1 - 1));
        bal->vintage = (uint32_t)vintage;
    }
    out->balances_n = nb;
    size_t n = r->elements - 6 - nb;
    out->blocks = calloc(n > 0 ? n : 1, sizeof *out->blocks);
    if (out->blocks == NULL) abort();
    for (size_t i = 0; i < n; i++) {
        const char *text = script_reply_str(r, 6 + nb + i);
        if (ledger_block_parse(text, strlen(text), &out->blocks[i]) != 0) {
            snprintf(err, errlen, "account %s: malformed block '%s' in the store", id, text);
            freeReplyObject(r);
            ledger_account_free(out);
            return LEDGER_ESTORE;
        }
    }
    out->blocks_n = n;
    freeReplyObject(r);
    return LEDGER_OK;
}

/* The parts of a source leg's "terms" field (transfer_hold.lua), in order. */
enum {
    LEG_TERM_METH, LEG_TERM_VINTAGE, LEG_TERM_REQUESTED, LEG_TERM_DISCOUNT, LEG_TERM_REMAINDER,
    LEG_TERM_RATIO_NUM, LEG_TERM_RATIO_DEN, LEG_TERM_DEST_METH, LEG_TERM_CREATED, LEG_TERMS_N
};

/* Reads a source leg's terms, "meth|vintage|requested_g|discount_g|
 * remainder_g|ratio_num|ratio_den|dest_meth|created_ms" (transfer_hold.lua
 * writes them in one field since 2026-12-01; a leg held before has them as
 * fields of their own, which ledger_leg_get reads too), into out. 0, or -1
 * (out's terms partly written) if v is not nine such parts. */
static int ledger_leg_terms_parse(const char *v, ledger_leg_t *out) {
    CARBON_ASSERT(v != NULL && out != NULL);
    const char *part[LEG_TERMS_N];
    size_t len[LEG_TERMS_N];
    uint64_t u[LEG_TERMS_N] = {0};
    if (ledger_split_bars(v, strlen(v), LEG_TERMS_N, part, len) != 0) return -1;
    if (len[LEG_TERM_METH] >= sizeof out->meth || len[LEG_TERM_DEST_METH] >= sizeof out->dest_meth)
        return -1;
    for (size_t i = LEG_TERM_VINTAGE; i <= LEG_TERM_CREATED; i++) {
        if (i != LEG_TERM_DEST_METH && ledger_parse_u64(part[i], len[i], &u[i]) != 0) return -1;
    }
    if (u[LEG_TERM_VINTAGE] > 9999) return -1;
    memcpy(out->meth, part[LEG_TERM_METH], len[LEG_TERM_METH]);
    out->meth[len[LEG_TERM_METH]] = '\0';
    memcpy(out->dest_meth, part[LEG_TERM_DEST_METH], len[LEG_TERM_DEST_METH]);
    out->dest_meth[len[LEG_TERM_DEST_METH]] = '\0';
    out->vintage = (uint32_t)u[LEG_TERM_VINTAGE];
    out->requested_g = u[LEG_TERM_REQUESTED];
    out->discount_g = u[LEG_TERM_DISCOUNT];
    out->remainder_g = u[LEG_TERM_REMAINDER];
    out->ratio_num = u[LEG_TERM_RATIO_NUM];
    out->ratio_den = u[LEG_TERM_RATIO_DEN];
    out->created_ms = u[LEG_TERM_CREATED];
    return 0;
}

/* Sets the member of out that the leg record's field f (value v) holds; a
 * field it does not know is left alone. NULL, or the name of a field whose
 * value is malformed (terms, blocks). */
static const char *ledger_leg_field(ledger_leg_t *out, const char *f, const char *v) {
    CARBON_ASSERT(out != NULL && f != NULL && v != NULL);
    uint64_t u = 0;
    ledger_parse_u64(v, strlen(v), &u);
    if (!strcmp(f, "role")) ledger_copy(out->role, sizeof out->role, v);
    else if (!strcmp(f, "state")) out->state = transfer_state_from_text(v);
    else if (!strcmp(f, "reason")) ledger_copy(out->reason, sizeof out->reason, v);
    else if (!strcmp(f, "reason_detail")) ledger_copy(out->reason_detail, sizeof out->reason_detail, v);
    else if (!strcmp(f, "from")) ledger_copy(out->from, sizeof out->from, v);
    else if (!strcmp(f, "to")) ledger_copy(out->to, sizeof out->to, v);
    else if (!strcmp(f, "peer")) ledger_copy(out->peer, sizeof out->peer, v);
    else if (!strcmp(f, "meth")) ledger_copy(out->meth, sizeof out->meth, v);
    else if (!strcmp(f, "dest_meth")) ledger_copy(out->dest_meth, sizeof out->dest_meth, v);
    else if (!strcmp(f, "request_fp")) ledger_copy(out->request_fp, sizeof out->request_fp, v);
    else if (!strcmp(f, "src_digest")) ledger_copy(out->src_digest, sizeof out->src_digest, v);
    else if (!strcmp(f, "dst_digest")) ledger_copy(out->dst_digest, sizeof out->dst_digest, v);
    else if (!strcmp(f, "digests")) {
        const char *bar = strchr(v, '|');
        if (bar != NULL) {
            snprintf(out->src_digest, sizeof out->src_digest, "%.*s", (int)(bar - v), v);
            ledger_copy(out->dst_digest, sizeof out->dst_digest, bar + 1);
        }
    }
    else if (!strcmp(f, "vintage")) out->vintage = (uint32_t)u;
    else if (!strcmp(f, "requested_g")) out->requested_g = u;
    else if (!strcmp(f, "credited_g")) out->credited_g = u;
    else if (!strcmp(f, "debited_g")) out->debited_g = u;
    else if (!strcmp(f, "discount_g")) out->discount_g = u;
    else if (!strcmp(f, "remainder_g")) out->remainder_g = u;
    else if (!strcmp(f, "ratio_num")) out->ratio_num = u;
    else if (!strcmp(f, "ratio_den")) out->ratio_den = u;
    else if (!strcmp(f, "created_ms")) out->created_ms = u;
    else if (!strcmp(f, "expiry_ms")) out->expiry_ms = u;
    else if (!strcmp(f, "decided_ms")) out->decided_ms = u;
    else if (!strcmp(f, "cursor")) out->cursor = u;
    else if (!strcmp(f, "acked")) out->acked = u == 1;
    else if (!strcmp(f, "heuristic")) out->heuristic = v[0];
    else if (!strcmp(f, "coordinator_decision")) out->coordinator_decision = v[0];
    else if (!strcmp(f, "heuristic_outcome")) ledger_copy(out->heuristic_outcome, sizeof out->heuristic_outcome, v);
    else if (!strcmp(f, "doubt_first_ms")) out->doubt_first_ms = u;
    else if (!strcmp(f, "doubt_last_ms")) out->doubt_last_ms = u;
    else if (!strcmp(f, "doubt_attempts")) out->doubt_attempts = u;
    else if (!strcmp(f, "terms")) {
        if (ledger_leg_terms_parse(v, out) != 0) return "terms";
    }
    else if (!strcmp(f, "blocks")) {
        if (ledger_blocks_parse(v, LEDGER_LEG_BLOCKS_MAX, &out->blocks, &out->blocks_n) != 0)
            return "blocks";
    }
    return NULL;
}

int ledger_leg_get(store_t *st, const char *tid, ledger_leg_t *out, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && tid != NULL && out != NULL);
    CARBON_ASSERT(strlen(tid) <= LEDGER_TID_LEN);
    memset(out, 0, sizeof *out);
    char key[LEDGER_TID_LEN + 16];
    snprintf(key, sizeof key, STORE_KEY_LEG_PREFIX "%s" STORE_KEY_LEG_SUFFIX, tid);
    const char *argv[2] = {"HGETALL", key};
    size_t argvlen[2] = {7, strlen(key)};
    redisReply *r;
    if (store_command(st, 2, argv, argvlen, &r, err, errlen) != STORE_OK) return LEDGER_ESTORE;
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        freeReplyObject(r);
        return LEDGER_NOT_FOUND;
    }
    ledger_copy(out->tid, sizeof out->tid, tid);
    int rc = LEDGER_OK;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *f = script_reply_str(r, i), *v = script_reply_str(r, i + 1);
        const char *bad = ledger_leg_field(out, f, v);
        if (bad != NULL) {
            snprintf(err, errlen, "leg %s: malformed %s in the store", tid, bad);
            rc = LEDGER_ESTORE;
        }
    }
    freeReplyObject(r);
    if (rc != LEDGER_OK) ledger_leg_free(out);
    return rc;
}

int ledger_feed_list(store_t *st, uint64_t after, size_t limit, char kind, ledger_feed_entry_t *out,
                     size_t *n, uint64_t *read_to, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && out != NULL && n != NULL && read_to != NULL && limit >= 1);
    CARBON_ASSERT(kind == 0 || kind == 'A' || kind == 'D');
    *n = 0;
    *read_to = after;
    script_args_t a = {0};
    script_args_u64(&a, after);
    script_args_u64(&a, limit);
    script_args_add(&a, &kind, kind != 0 ? 1 : 0);
    redisReply *r;
    int rc = ledger_run(st, "feed_list", &a, &r, err, errlen);
    if (rc != LEDGER_OK) return rc;
    const char *last = script_reply_str(r, 0);
    if (r->elements < 1 || ledger_parse_u64(last, strlen(last), read_to) != 0 || *read_to < after) {
        snprintf(err, errlen, "feed_list: malformed answer from the store");
        freeReplyObject(r);
        return LEDGER_ESTORE;
    }
    for (size_t i = 1; i + 2 < r->elements && *n < limit; i += 3) {
        ledger_feed_entry_t *e = &out[(*n)++];
        const char *cursor = script_reply_str(r, i);
        e->cursor = 0;
        ledger_parse_u64(cursor, strlen(cursor), &e->cursor);
        ledger_copy(e->tid, sizeof e->tid, script_reply_str(r, i + 1));
        e->kind = script_reply_str(r, i + 2)[0];
        CARBON_ASSERT(*read_to >= e->cursor || e->cursor == 0);
    }
    freeReplyObject(r);
    return LEDGER_OK;
}

int ledger_account_blocks_migrate(store_t *st, uint64_t *converted, uint64_t *left, char *err,
                                  size_t errlen) {
    CARBON_ASSERT(st != NULL);
    script_args_t a = {0};
    redisReply *r;
    int rc = ledger_run(st, "account_blocks_migrate", &a, &r, err, errlen);
    if (rc != LEDGER_OK) return rc;
    int ok = r->elements == 2 && r->element[0]->type == REDIS_REPLY_INTEGER &&
             r->element[1]->type == REDIS_REPLY_INTEGER;
    if (converted != NULL) *converted = ok ? (uint64_t)r->element[0]->integer : 0;
    if (left != NULL) *left = ok ? (uint64_t)r->element[1]->integer : 0;
    freeReplyObject(r);
    return LEDGER_OK;
}

int ledger_serial_index_build(store_t *st, uint64_t *ranges, uint64_t *labelled, char *err,
                              size_t errlen) {
    CARBON_ASSERT(st != NULL);
    script_args_t a = {0};
    redisReply *r;
    int rc = ledger_run(st, "serial_index_build", &a, &r, err, errlen);
    if (rc != LEDGER_OK) return rc;
    int ok = r->elements == 2 && r->element[0]->type == REDIS_REPLY_INTEGER &&
             r->element[1]->type == REDIS_REPLY_INTEGER;
    if (ranges != NULL) *ranges = ok ? (uint64_t)r->element[0]->integer : 0;
    if (labelled != NULL) *labelled = ok ? (uint64_t)r->element[1]->integer : 0;
    freeReplyObject(r);
    return LEDGER_OK;
}

int ledger_recovery_scan(store_t *st, uint64_t now_ms, size_t limit, ledger_pending_leg_t *src,
                         size_t *src_n, ledger_pending_leg_t *dst, size_t *dst_n, char *err,
                         size_t errlen) {
    return ledger_recovery_scan_peers(st, now_ms, limit, NULL, 0, src, src_n, dst, dst_n, err,
                                      errlen);
}

int ledger_recovery_scan_peers(store_t *st, uint64_t now_ms, size_t limit,
                               const char *const *peers, size_t peers_n,
                               ledger_pending_leg_t *src, size_t *src_n,
                               ledger_pending_leg_t *dst, size_t *dst_n, char *err,
                               size_t errlen) {
    CARBON_ASSERT(st != NULL && src != NULL && dst != NULL && src_n != NULL && dst_n != NULL);
    CARBON_ASSERT(limit >= 1 && peers_n <= LEDGER_SCAN_PEERS_MAX && (peers != NULL || peers_n == 0));
    *src_n = *dst_n = 0;
    script_args_t a = {0};
    script_args_u64(&a, now_ms);
    script_args_u64(&a, limit);
    script_args_u64(&a, peers_n);
    for (size_t i = 0; i < peers_n; i++) script_args_str(&a, peers[i]);
    redisReply *r;
    int rc = ledger_run(st, "recovery_scan", &a, &r, err, errlen);
    if (rc != LEDGER_OK) return rc;
    if (r->elements != 2 || r->element[0]->type != REDIS_REPLY_ARRAY ||
        r->element[1]->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        snprintf(err, errlen, "recovery_scan: unexpected reply");
        return LEDGER_ESTORE;
    }
    const redisReply *s = r->element[0], *d = r->element[1];
    for (size_t i = 0; i + 4 < s->elements && *src_n < limit; i += 5) {
        ledger_pending_leg_t *p = &src[(*src_n)++];
        ledger_copy(p->tid, sizeof p->tid, script_reply_str(s, i));
        p->state = transfer_state_from_text(script_reply_str(s, i + 1));
        ledger_copy(p->peer, sizeof p->peer, script_reply_str(s, i + 2));
        p->expiry_ms = script_reply_u64(s, i + 3);
        p->decided_ms = script_reply_u64(s, i + 4);
    }
    for (size_t i = 0; i + 2 < d->elements && *dst_n < limit; i += 3) {
        ledger_pending_leg_t *p = &dst[(*dst_n)++];
        ledger_copy(p->tid, sizeof p->tid, script_reply_str(d, i));
        p->state = TRANSFER_STATE_PREPARED;
        ledger_copy(p->peer, sizeof p->peer, script_reply_str(d, i + 1));
        p->expiry_ms = script_reply_u64(d, i + 2);
        p->decided_ms = 0;
    }
    freeReplyObject(r);
    return LEDGER_OK;
}

/* ---- obligations (rules on use) ---------------------------------------------- */

int ledger_obligation_register(store_t *st, uint32_t compliance_year, const char *beneficiary,
                               uint64_t obligation_g, const char *operator_name, uint64_t now_ms,
                               char outcome[16], uint64_t *previous_g, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && beneficiary != NULL && operator_name != NULL && outcome != NULL);
    CARBON_ASSERT(previous_g != NULL && obligation_g > 0 && obligation_g < LEDGER_AMOUNT_G_MAX);
    script_args_t a = {0};
    script_args_u64(&a, compliance_year);
    script_args_str(&a, beneficiary);
    script_args_u64(&a, obligation_g);
    script_args_u64(&a, now_ms);
    script_args_str(&a, operator_name);
    redisReply *r;
    int rc = ledger_run(st, "obligation_register", &a, &r, err, errlen);
    if (rc != LEDGER_OK) return rc;
    ledger_copy(outcome, 16, script_reply_str(r, 0));
    *previous_g = script_reply_u64(r, 2);
    freeReplyObject(r);
    return LEDGER_OK;
}

int ledger_obligation_get(store_t *st, uint32_t compliance_year, const char *beneficiary,
                          int *registered, uint64_t *obligation_g, uint64_t *offset_g,
                          uint64_t *offset_outside_g, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && beneficiary != NULL && registered != NULL && obligation_g != NULL);
    CARBON_ASSERT(offset_g != NULL && offset_outside_g != NULL);
    script_args_t a = {0};
    script_args_u64(&a, compliance_year);
    script_args_str(&a, beneficiary);
    redisReply *r;
    int rc = ledger_run(st, "obligation_get", &a, &r, err, errlen);
    if (rc != LEDGER_OK) return rc;
    *registered = script_reply_str(r, 0)[0] != '\0';
    *obligation_g = script_reply_u64(r, 0);
    *offset_g = script_reply_u64(r, 1);
    *offset_outside_g = script_reply_u64(r, 2);
    freeReplyObject(r);
    return LEDGER_OK;
}
