/* test_model_check.c - gwctl audit model-check (issue 14 item 5) against a
 * real three-region federation over real mutual TLS: the logs of a
 * committed and an aborted transfer are steps of the protocol model; entries
 * that are not (a second commit at the source, an apply of a leg never
 * prepared), written into the stores' logs as a script would, are named
 * with their region, entry, transfer and the model's transition, exit 1; a
 * region that cannot be read exits 3 after checking the others. Real gwctl
 * processes. */
#include "gateway/rpc/client.h"
#include "gateway/rpc/grpc_lifetime.h"
#include "tests/support/gateway_harness.h"
#include "tests/support/proc.h"
#include "tests/support/registry_client.h"

#include "settlement/store_keys.h"

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TJ 0
#define BJ 1
#define HE 2
#define ARGS_MAX 24

static federation_t *fed;

static grpc_channel *reg(int i) { return rc_registry(fed, i); }

/* Runs gwctl audit model-check as CN-HE's auditor against targets (NULL: every
 * region) with the NULL-terminated extra arguments. Returns the exit status;
 * *out (malloc'd) its stdout. */
static int model_check(char **out, const char *targets, ...) {
    char cert[512], key[512], ca[512], all[256];
    snprintf(cert, sizeof cert, "%s/CN-HE-auditor.crt", harness_pki_dir());
    snprintf(key, sizeof key, "%s/CN-HE-auditor.key", harness_pki_dir());
    snprintf(ca, sizeof ca, "%s/ca.crt", harness_pki_dir());
    snprintf(all, sizeof all, "CN-TJ=127.0.0.1:%d,CN-BJ=127.0.0.1:%d,CN-HE=127.0.0.1:%d", federation_port(fed, TJ),
             federation_port(fed, BJ), federation_port(fed, HE));
    const char *argv[ARGS_MAX] = {BINARY_DIR "/gwctl", "audit", "model-check", "--targets", targets ? targets : all,
                                  "--cert", cert, "--key", key, "--ca", ca};
    int n = 11;
    va_list ap;
    va_start(ap, targets);
    for (const char *a = va_arg(ap, const char *); a != NULL && n < ARGS_MAX - 1; a = va_arg(ap, const char *))
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    int status = -1;
    char *err = NULL;
    cr_assert_eq(harness_run(argv, 60000, &status, out, &err), 0, "gwctl did not run");
    fprintf(stderr, "%s", err);
    free(err);
    return status;
}

/* A transfer of 2 kg from tj-a to CN-BJ account `to`; returns its outcome. */
static Carbon__V1__TransferOutcome transfer(char tid[33], const char *to) {
    client_status_t st;
    rc_new_id(tid);
    Carbon__V1__TransferResponse *r = NULL;
    cr_assert_eq(rc_transfer(reg(TJ), tid, "tj-a", "CN-BJ", to, "TJ-GT-01", 2, &r, &st), GRPC_STATUS_OK, "%s",
                 st.details);
    Carbon__V1__TransferOutcome o = r->transfer->outcome;
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return o;
}

/* Appends the netstring of text to buf (at *len, room for cap). */
static void field(char *buf, size_t cap, size_t *len, const char *text, size_t n) {
    int w = snprintf(buf + *len, cap - *len, "%zu:", n);
    cr_assert(w > 0 && *len + (size_t)w + n + 2 < cap);
    *len += (size_t)w;
    memcpy(buf + *len, text, n);
    *len += n;
    buf[(*len)++] = ',';
    buf[*len] = '\0';
}

/* Appends to region i's log, as the scripts' audit() does, an entry of event
 * with ids id0, id1, one block and one detail. Returns its seq. */
static long long append_entry(int i, const char *event, const char *id0, const char *id1, const char *detail) {
    redisContext *c = redis_connect(federation_redis(fed, i));
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, "INCR " STORE_KEY_LOG_SIZE);
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER);
    long long seq = r->integer;
    freeReplyObject(r);
    char entry[2048] = "", ids[256] = "", block[256] = "", blocks[256] = "", details[256] = "", num[32];
    size_t len = 0, il = 0, bl = 0, bsl = 0, dl = 0;
    field(ids, sizeof ids, &il, id0, strlen(id0));
    field(ids, sizeof ids, &il, id1, strlen(id1));
    const char *b[] = {"CN-TJ", "TJ-GT-01", "2026", "1", "10"};
    for (int k = 0; k < 5; k++) field(block, sizeof block, &bl, b[k], strlen(b[k]));
    field(blocks, sizeof blocks, &bsl, block, bl);
    field(details, sizeof details, &dl, detail, strlen(detail));
    field(entry, sizeof entry, &len, "carbon-audit/3", 14);
    snprintf(num, sizeof num, "%lld", seq);
    field(entry, sizeof entry, &len, num, strlen(num));
    snprintf(num, sizeof num, "%lld", proc_now_ms() - 60000); /* old enough to be judged */
    field(entry, sizeof entry, &len, num, strlen(num));
    field(entry, sizeof entry, &len, event, strlen(event));
    field(entry, sizeof entry, &len, ids, il);
    field(entry, sizeof entry, &len, blocks, bsl);
    field(entry, sizeof entry, &len, details, dl);
    r = redisCommand(c, "HSET " STORE_KEY_LOG_ENTRIES " %lld %b", seq, entry, len);
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    redisFree(c);
    return seq;
}

/* Appends to region i's log an 'acked' entry of n fresh transfer ids (as a
 * batch of n legs acknowledged at once writes it). */
static void append_big_acked(redisContext *c, size_t n) {
    redisReply *r = redisCommand(c, "INCR " STORE_KEY_LOG_SIZE);
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER);
    long long seq = r->integer;
    freeReplyObject(r);
    size_t cap = n * 40 + 256, len = 0, il = 0;
    char *ids = malloc(cap), *entry = malloc(cap + 64), num[32], tid[33];
    cr_assert(ids != NULL && entry != NULL);
    ids[0] = entry[0] = '\0';
    for (size_t k = 0; k < n; k++) {
        rc_new_id(tid);
        field(ids, cap, &il, tid, 32);
    }
    field(entry, cap + 64, &len, "carbon-audit/3", 14);
    snprintf(num, sizeof num, "%lld", seq);
    field(entry, cap + 64, &len, num, strlen(num));
    snprintf(num, sizeof num, "%lld", proc_now_ms());
    field(entry, cap + 64, &len, num, strlen(num));
    field(entry, cap + 64, &len, "acked", 5);
    field(entry, cap + 64, &len, ids, il);
    field(entry, cap + 64, &len, "", 0);
    field(entry, cap + 64, &len, "", 0);
    r = redisCommand(c, "HSET " STORE_KEY_LOG_ENTRIES " %lld %b", seq, entry, len);
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    free(ids);
    free(entry);
}

/* ReadLog of entries too large for one message together answers those that
 * fit (at least one), and the reader gets every one by asking again: before,
 * the whole page was refused (RESOURCE_EXHAUSTED, "Sent message larger than
 * max"), which made the bank test's logs unreadable for gwctl. */
Test(model_check, read_log_answers_what_fits_in_one_message, .timeout = 120) {
    grpc_lifetime_begin();
    federation_options_t o = {.regions_n = 1};
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
    redisContext *c = redis_connect(federation_redis(fed, TJ));
    cr_assert_not_null(c);
    for (int k = 0; k < 8; k++) append_big_acked(c, 4000); /* about 300 kB each in a ReadLogResponse */
    redisFree(c);
    grpc_channel *ch = federation_channel(fed, TJ, "CN-TJ-auditor");
    uint64_t next = 1, head = 0;
    int calls = 0;
    do {
        Carbon__V1__ReadLogRequest req = CARBON__V1__READ_LOG_REQUEST__INIT;
        req.from_seq = next;
        Carbon__V1__ReadLogResponse *lr = NULL;
        client_status_t st;
        cr_assert_eq(client_call(ch, "/carbon.v1.Audit/ReadLog", &req.base, &carbon__v1__read_log_response__descriptor,
                                 (ProtobufCMessage **)&lr, 10000, &st),
                     GRPC_STATUS_OK, "from %llu: %s %s", (unsigned long long)next, st.reason, st.details);
        cr_assert_geq(lr->n_entries, 1);
        cr_assert_eq(lr->entries[0]->seq, next);
        head = lr->head_seq;
        next += lr->n_entries;
        calls++;
        protobuf_c_message_free_unpacked(&lr->base, NULL);
    } while (next <= head);
    cr_assert_eq(head, 8);
    cr_assert_geq(calls, 3, "%d calls", calls); /* 1 MiB (the harness's max_message_bytes) holds at most 3 */
    federation_free(fed);
    fed = NULL;
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

Test(model_check, the_logs_of_a_run_are_model_steps_and_forged_steps_are_named, .timeout = 240) {
    grpc_lifetime_begin();
    federation_options_t o = {.regions_n = 3, .leg_expiry_ms = 10000, .recovery_interval_ms = 300};
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
    client_status_t st;
    char iid[33], tid[33], tid2[33], fresh[33];
    rc_new_id(iid);
    cr_assert_eq(rc_open(reg(TJ), "tj-a", &st), GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(rc_issue(reg(TJ), iid, "tj-a", "TJ-GT-01", 420000, "fp-model-check", NULL, &st), GRPC_STATUS_OK, "%s",
                 st.details);
    cr_assert_eq(rc_open(reg(BJ), "bj-b", &st), GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(transfer(tid, "bj-b"), CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED);
    cr_assert_eq(transfer(tid2, "bj-nobody"), CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_ABORTED);
    checker_report_t *rep = rc_wait_settled(fed, 30000);
    cr_assert_eq(rep->violations_n, 0, "%s", rep->violations[0]);
    free(rep);

    char *out = NULL;
    cr_assert_eq(model_check(&out, NULL, NULL), 0, "%s", out);
    cr_assert(strstr(out, "of 3 regions, 2 transfers (3 legs) checked") != NULL, "%s", out);
    cr_assert(strstr(out, "model check: every step is a step of the model") != NULL, "%s", out);
    free(out);
    cr_assert_eq(model_check(&out, NULL, "--json", NULL), 0, "%s", out);
    cr_assert(strstr(out, "\"transfers\": 2,") != NULL && strstr(out, "\"findings_n\": 0,") != NULL, "%s", out);
    free(out);

    /* A region that does not answer: exit 3, the others are still checked. */
    char targets[256];
    snprintf(targets, sizeof targets, "CN-TJ=127.0.0.1:%d,CN-BJ=127.0.0.1:%d,CN-HE=127.0.0.1:1",
             federation_port(fed, TJ), federation_port(fed, BJ));
    cr_assert_eq(model_check(&out, targets, "--timeout-ms", "2000", NULL), 3, "%s", out);
    cr_assert(strstr(out, "of 3 regions, 2 transfers (3 legs) checked") != NULL &&
                  strstr(out, "every step is a step of the model") != NULL, "%s", out);
    free(out);
    cr_assert_eq(model_check(&out, targets, "--max-skew-ms", "-1", NULL), 2, "%s", out);
    free(out);

    /* Steps no transition of the model takes: a second commit at the source,
     * an apply at the destination of a leg it never prepared. */
    rc_new_id(fresh);
    long long s1 = append_entry(TJ, "commit", tid, "tj-a", "");
    long long s2 = append_entry(BJ, "apply", fresh, "bj-b", "CN-TJ");
    cr_assert_eq(model_check(&out, NULL, NULL), 1, "%s", out);
    char want[256];
    snprintf(want, sizeof want, "CN-TJ entry %lld (commit) transfer %s, leg COMMITTED: not a step of the model: "
             "OPT_COMMIT_POINT", s1, tid);
    cr_assert(strstr(out, want) != NULL && strstr(out, "allowed only from HELD") != NULL, "%s\nnot in\n%s", want, out);
    snprintf(want, sizeof want, "CN-BJ entry %lld (apply) transfer %s, leg NONE", s2, fresh);
    cr_assert(strstr(out, want) != NULL && strstr(out, "allowed only from PREPARED") != NULL, "%s\nnot in\n%s", want,
              out);
    cr_assert(strstr(out, "MODEL CHECK FOUND 2 STEPS THE MODEL DOES NOT ALLOW") != NULL, "%s", out);
    free(out);

    /* ... and with a region unreachable, what the others' logs show is still named */
    cr_assert_eq(model_check(&out, targets, "--timeout-ms", "2000", NULL), 1, "%s", out);
    cr_assert(strstr(out, "MODEL CHECK FOUND 2 STEPS") != NULL, "%s", out);
    free(out);
    federation_free(fed);
    fed = NULL;
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}
