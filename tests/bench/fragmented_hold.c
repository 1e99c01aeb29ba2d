/* fragmented_hold.c - the Redis time of a hold on an account of many blocks
 * against a hold on an account of one block (issue 16: at most 1.5x).
 *
 *   fragmented_hold HOST PORT [BLOCKS [HOLDS [GRAMS]]]
 *
 * On the empty Redis at HOST:PORT (it writes accounts and legs there: give
 * it a Redis of its own), opens two accounts of CN-TJ: "one" holds a single
 * block, "frag" BLOCKS (10000) blocks of one gram, both issued by the issue
 * script as gatewayd runs it (ledger_issue), plus HOLDS x GRAMS grams more so
 * that every hold finds BLOCKS blocks or more. Then runs HOLDS (500) holds of
 * GRAMS (3) grams on each account through ledger_hold (the transfer_hold
 * script, as gatewayd), alternating in rounds of 50, and reads Redis's own
 * count of the time it spent in them (INFO commandstats, cmdstat_evalsha,
 * reset before each round). Prints one JSON object, with the median over the
 * rounds of the microseconds per hold on each account (a median, since
 * other work on the machine slows some rounds) and their ratio:
 *   {"blocks":N,"holds":H,"grams":G,"us_per_hold_one_block":"12.3",
 *    "us_per_hold_fragmented":"14.1","ratio":"1.15"}
 * (figures as strings: they are measurements, not amounts). Exit 0, 1 on a
 * store error (reason on stderr), 2 on usage. */
#include "common/carbon_assert.h"
#include "settlement/ledger.h"
#include "settlement/store.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FH_ROUND_HOLDS 50
#define FH_BLOCKS_MAX 1000000
#define FH_HOLDS_MAX 100000

static uint64_t fh_seq;

static uint64_t fh_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A fresh id of n hex digits (n <= 64). */
static void fh_id(char *out, size_t n) {
    CARBON_ASSERT(n <= 64);
    char buf[65];
    snprintf(buf, sizeof buf, "%064" PRIx64, ++fh_seq);
    memcpy(out, buf + 64 - n, n);
    out[n] = '\0';
}

static int fh_issue(store_t *st, const char *acct, uint64_t grams) {
    ledger_issue_t in = {.vintage = 2026, .amount_g = grams};
    fh_id(in.issuance_id, LEDGER_TID_LEN);
    fh_id(in.request_fp, LEDGER_DIGEST_HEX);
    snprintf(in.account, sizeof in.account, "%s", acct);
    snprintf(in.meth, sizeof in.meth, "TJ-GT-01");
    snprintf(in.fingerprint, sizeof in.fingerprint, "bench-%s", in.issuance_id);
    snprintf(in.origin, sizeof in.origin, "CN-TJ");
    ledger_block_t b;
    char other[LEDGER_TID_LEN + 1], err[256];
    int rc = ledger_issue(st, &in, fh_now_ms(), &b, other, err, sizeof err);
    if (rc != LEDGER_OK) fprintf(stderr, "fragmented_hold: issue: %d %s\n", rc, err);
    return rc == LEDGER_OK ? 0 : -1;
}

static int fh_hold(store_t *st, const char *acct, uint64_t grams) {
    ledger_leg_t leg = {.requested_g = grams, .credited_g = grams, .debited_g = grams,
                        .ratio_num = 1, .ratio_den = 1};
    fh_id(leg.tid, LEDGER_TID_LEN);
    snprintf(leg.from, sizeof leg.from, "%s", acct);
    snprintf(leg.to, sizeof leg.to, "CN-BJ/bench");
    snprintf(leg.peer, sizeof leg.peer, "CN-BJ");
    snprintf(leg.dest_meth, sizeof leg.dest_meth, "BJ-GT-02");
    memset(leg.src_digest, '0', LEDGER_DIGEST_HEX);
    memset(leg.dst_digest, '0', LEDGER_DIGEST_HEX);
    uint64_t now = fh_now_ms(), have = 0;
    leg.expiry_ms = now + 3600000u;
    char fp[LEDGER_DIGEST_HEX + 1], err[256];
    fh_id(fp, LEDGER_DIGEST_HEX);
    int rc = ledger_hold(st, &leg, fp, now, &have, err, sizeof err);
    ledger_leg_free(&leg);
    if (rc != LEDGER_OK) fprintf(stderr, "fragmented_hold: hold on %s: %d %s\n", acct, rc, err);
    return rc == LEDGER_OK ? 0 : -1;
}

/* Runs cmd (no arguments with spaces); its reply's text into out (or ""). */
static int fh_cmd(store_t *st, const char *a0, const char *a1, char *out, size_t outlen) {
    const char *argv[2] = {a0, a1};
    size_t argvlen[2] = {strlen(a0), strlen(a1)};
    redisReply *r = NULL;
    char err[256];
    if (store_command(st, 2, argv, argvlen, &r, err, sizeof err) != STORE_OK) {
        fprintf(stderr, "fragmented_hold: %s %s: %s\n", a0, a1, err);
        return -1;
    }
    snprintf(out, outlen, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
    return 0;
}

/* holds holds of grams on acct; *us: Redis's microseconds in EVALSHA. */
static int fh_round(store_t *st, const char *acct, int holds, uint64_t grams, uint64_t *us) {
    char info[8192];
    if (fh_cmd(st, "CONFIG", "RESETSTAT", info, sizeof info) != 0) return -1;
    for (int i = 0; i < holds; i++)
        if (fh_hold(st, acct, grams) != 0) return -1;
    if (fh_cmd(st, "INFO", "commandstats", info, sizeof info) != 0) return -1;
    const char *p = strstr(info, "cmdstat_evalsha:");
    const char *u = p != NULL ? strstr(p, "usec=") : NULL;
    if (u == NULL) {
        fprintf(stderr, "fragmented_hold: no cmdstat_evalsha in INFO commandstats\n");
        return -1;
    }
    *us = strtoull(u + 5, NULL, 10);
    return 0;
}

static int fh_fill(store_t *st, uint64_t blocks, uint64_t extra_g) {
    int created = 0;
    char err[256];
    if (ledger_open_account(st, "one", "personal", fh_now_ms(), &created, err, sizeof err) != LEDGER_OK ||
        ledger_open_account(st, "frag", "personal", fh_now_ms(), &created, err, sizeof err) != LEDGER_OK) {
        fprintf(stderr, "fragmented_hold: open: %s\n", err);
        return -1;
    }
    if (fh_issue(st, "one", blocks + extra_g) != 0) return -1;
    for (uint64_t i = 0; i < blocks + extra_g; i++)
        if (fh_issue(st, "frag", 1) != 0) return -1;
    return 0;
}

static int fh_cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The median of n values (sorts v). */
static uint64_t fh_median(uint64_t *v, size_t n) {
    CARBON_ASSERT(n > 0);
    qsort(v, n, sizeof *v, fh_cmp_u64);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long fh_arg(int argc, char **argv, int i, long dflt, long max) {
    if (argc <= i) return dflt;
    char *end = NULL;
    long v = strtol(argv[i], &end, 10);
    return *end == '\0' && v >= 1 && v <= max ? v : -1;
}

int main(int argc, char **argv) {
    store_config_t cfg;
    store_config_defaults(&cfg);
    long port = fh_arg(argc, argv, 2, -1, 65535), blocks = fh_arg(argc, argv, 3, 10000, FH_BLOCKS_MAX);
    long holds = fh_arg(argc, argv, 4, 500, FH_HOLDS_MAX), grams = fh_arg(argc, argv, 5, 3, 1000);
    if (argc < 3 || argc > 6 || strlen(argv[1]) >= sizeof cfg.host || port < 0 || blocks < 0 || holds < 0 ||
        grams < 0) {
        fprintf(stderr, "usage: fragmented_hold HOST PORT [BLOCKS [HOLDS [GRAMS]]]\n");
        return 2;
    }
    memcpy(cfg.host, argv[1], strlen(argv[1]) + 1);
    cfg.port = (int)port;
    char err[512];
    store_t *st = store_open(&cfg, err, sizeof err);
    if (st == NULL) {
        fprintf(stderr, "fragmented_hold: %s\n", err);
        return 1;
    }
    holds = (holds + FH_ROUND_HOLDS - 1) / FH_ROUND_HOLDS * FH_ROUND_HOLDS; /* whole rounds */
    size_t rounds = (size_t)holds / FH_ROUND_HOLDS, r = 0;
    uint64_t *us_one = calloc(rounds, sizeof *us_one), *us_frag = calloc(rounds, sizeof *us_frag);
    if (us_one == NULL || us_frag == NULL) abort();
    int rc = fh_fill(st, (uint64_t)blocks, (uint64_t)holds * (uint64_t)grams);
    for (; rc == 0 && r < rounds; r++)
        rc = fh_round(st, "one", FH_ROUND_HOLDS, (uint64_t)grams, &us_one[r]) ||
             fh_round(st, "frag", FH_ROUND_HOLDS, (uint64_t)grams, &us_frag[r]);
    store_close(st);
    if (rc == 0) {
        double one = (double)fh_median(us_one, rounds) / FH_ROUND_HOLDS;
        double frag = (double)fh_median(us_frag, rounds) / FH_ROUND_HOLDS;
        printf("{\"blocks\":%ld,\"holds\":%ld,\"grams\":%ld,\"us_per_hold_one_block\":\"%.1f\","
               "\"us_per_hold_fragmented\":\"%.1f\",\"ratio\":\"%.2f\"}\n",
               blocks, holds, grams, one, frag, one > 0 ? frag / one : 0.0);
    }
    free(us_one);
    free(us_frag);
    return rc == 0 ? 0 : 1;
}
