/* bulk_accounts.c - opens and credits many accounts straight in a region's
 * store, for the benchmark's scaling point (issue 16); never part of a
 * gateway.
 *
 *   bulk_accounts HOST PORT REGION PREFIX FIRST COUNT [METHODOLOGY AMOUNT_G]
 *
 * Opens accounts PREFIX<FIRST> .. PREFIX<FIRST+COUNT-1> (holder kind
 * personal) with the account_open script, and, given METHODOLOGY and
 * AMOUNT_G, issues AMOUNT_G grams of it to each with the issue script (the
 * region as origin, vintage 2026): the same scripts, through the same store
 * layer, that gatewayd runs for Registry.OpenAccount and Registry.Issue,
 * only without the gateway in between, BULK_PIPELINE calls per round trip.
 * An account that exists already is left as it is (the script says so); an
 * issuance id is derived from the account, so a second run issues nothing
 * twice. Prints one JSON line {"opened", "issued", "existing", "seconds",
 * "rate"} and exits 0, or 1 with the reason on stderr. */
#include "settlement/ledger.h"
#include "settlement/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BULK_PIPELINE 512
#define BULK_ARGS_MAX 10

typedef struct {
    char v[BULK_ARGS_MAX][96];
    const char *argv[BULK_ARGS_MAX];
} bulk_call_args_t;

static uint64_t bulk_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t bulk_num(const char *s) {
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end != '\0') {
        fprintf(stderr, "bulk_accounts: '%s' is not a number\n", s);
        exit(2);
    }
    return v;
}

/* Runs n prepared calls of script idx in one pipeline; counts the replies
 * whose first element is "OK" in *ok, the others in *other. */
static void bulk_run(store_t *st, int idx, bulk_call_args_t *a, int argc, size_t n, uint64_t *ok,
                     uint64_t *other) {
    store_call_t calls[BULK_PIPELINE];
    redisReply *replies[BULK_PIPELINE];
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < argc; k++) a[i].argv[k] = a[i].v[k];
        calls[i] = (store_call_t){.script_index = idx, .nkeys = 0, .argc = argc,
                                  .argv = a[i].argv, .argvlen = NULL};
    }
    char err[512];
    int rc = store_pipeline_eval(st, n, calls, replies, err, sizeof err);
    if (rc != STORE_OK) {
        fprintf(stderr, "bulk_accounts: %s\n", err);
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        const redisReply *r = replies[i];
        int is_ok = r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
                    r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "OK") == 0;
        (*(is_ok ? ok : other))++;
        freeReplyObject(replies[i]);
    }
}

int main(int argc, char **argv) {
    if (argc != 7 && argc != 9) {
        fprintf(stderr, "usage: bulk_accounts HOST PORT REGION PREFIX FIRST COUNT [METHODOLOGY AMOUNT_G]\n");
        return 2;
    }
    store_config_t cfg;
    store_config_defaults(&cfg);
    if (strlen(argv[1]) >= sizeof cfg.host || strlen(argv[4]) > 40) {
        fprintf(stderr, "bulk_accounts: HOST or PREFIX too long\n");
        return 2;
    }
    snprintf(cfg.host, sizeof cfg.host, "%s", argv[1]);
    cfg.port = (int)bulk_num(argv[2]);
    const char *region = argv[3], *prefix = argv[4];
    uint64_t first = bulk_num(argv[5]), count = bulk_num(argv[6]);
    const char *meth = argc == 9 ? argv[7] : NULL;
    uint64_t amount_g = argc == 9 ? bulk_num(argv[8]) : 0;
    char err[512];
    store_t *st = store_open(&cfg, err, sizeof err);
    if (st == NULL) {
        fprintf(stderr, "bulk_accounts: %s\n", err);
        return 1;
    }
    int open_idx = store_script_index("account_open"), issue_idx = store_script_index("issue");
    static bulk_call_args_t a[BULK_PIPELINE];
    uint64_t opened = 0, existing = 0, issued = 0, not_issued = 0, t0 = bulk_now_ms();
    for (uint64_t at = first; at < first + count; at += BULK_PIPELINE) {
        size_t n = first + count - at < BULK_PIPELINE ? (size_t)(first + count - at) : BULK_PIPELINE;
        uint64_t now = bulk_now_ms();
        for (size_t i = 0; i < n; i++) {
            snprintf(a[i].v[0], sizeof a[i].v[0], "%s%" PRIu64, prefix, at + i);
            snprintf(a[i].v[1], sizeof a[i].v[1], "personal");
            snprintf(a[i].v[2], sizeof a[i].v[2], "%" PRIu64, now);
        }
        bulk_run(st, open_idx, a, 3, n, &opened, &existing);
        if (meth == NULL) continue;
        for (size_t i = 0; i < n; i++) {
            snprintf(a[i].v[0], sizeof a[i].v[0], "b%015" PRIx64 "%016" PRIx64, (uint64_t)0xb01c, at + i);
            snprintf(a[i].v[1], sizeof a[i].v[1], "%064" PRIx64, at + i); /* request fingerprint */
            snprintf(a[i].v[2], sizeof a[i].v[2], "%s%" PRIu64, prefix, at + i);
            snprintf(a[i].v[3], sizeof a[i].v[3], "%s", meth);
            snprintf(a[i].v[4], sizeof a[i].v[4], "2026");
            snprintf(a[i].v[5], sizeof a[i].v[5], "%" PRIu64, amount_g);
            snprintf(a[i].v[6], sizeof a[i].v[6], "bulk-%s-%s%" PRIu64, region, prefix, at + i);
            snprintf(a[i].v[7], sizeof a[i].v[7], "%s", region);
            snprintf(a[i].v[8], sizeof a[i].v[8], "%" PRIu64, now);
            snprintf(a[i].v[9], sizeof a[i].v[9], "%" PRIu64, (uint64_t)LEDGER_SERIAL_MAX);
        }
        bulk_run(st, issue_idx, a, 10, n, &issued, &not_issued);
    }
    double secs = (double)(bulk_now_ms() - t0) / 1000.0;
    printf("{\"region\":\"%s\",\"opened\":%" PRIu64 ",\"existing\":%" PRIu64 ",\"issued\":%" PRIu64
           ",\"not_issued\":%" PRIu64 ",\"seconds\":%.3f,\"rate\":%.1f}\n",
           region, opened, existing, issued, not_issued, secs, secs > 0 ? (double)count / secs : 0.0);
    store_close(st);
    return 0;
}
