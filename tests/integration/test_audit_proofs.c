/* test_audit_proofs.c - the auditor's side of the transparency log (issue
 * 13, item 6): gwctl trace verifies every hop with its inclusion proof to a
 * checkpoint signed by the region's pinned key and cosigned by its peers,
 * and fails on a missing or bad cosignature or a changed entry byte;
 * Audit.GetConsistencyProof proves one size against another; gwctl audit
 * verify recomputes the tree and names the fork after a history rewritten
 * in Redis with its tree rebuilt. Real federation, real Redis, real mutual
 * TLS, real gwctl processes. */
#include "gateway/rpc/client.h"
#include "gateway/rpc/grpc_lifetime.h"
#include "tests/support/gateway_harness.h"
#include "tests/support/proc.h"
#include "tests/support/registry_client.h"

#include "settlement/merkle.h"
#include "settlement/store_keys.h"

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TJ 0
#define BJ 1
#define HE 2
#define ARGS_MAX 40

static federation_t *fed;

static void start3(void) {
    grpc_lifetime_begin();
    federation_options_t o = {.regions_n = 3, .leg_expiry_ms = 10000, .recovery_interval_ms = 300};
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
}

static void stop_all(void) {
    federation_free(fed);
    fed = NULL;
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

static grpc_channel *reg(int i) { return rc_registry(fed, i); }

static grpc_channel *auditor(int i) {
    static const char *const certs[] = {"CN-TJ-auditor", "CN-BJ-auditor", "CN-HE-auditor"};
    return federation_channel(fed, i, certs[i]);
}

/* Runs gwctl as CN-BJ's auditor with the NULL-terminated arguments, then
 * --targets of every region and the credentials. Returns the exit status;
 * *out and *err (malloc'd; may be NULL) are its stdout and stderr. */
static int gwctl(char **out, char **err, ...) {
    static char cert[512], key[512], ca[512], targets[256];
    snprintf(cert, sizeof cert, "%s/CN-BJ-auditor.crt", harness_pki_dir());
    snprintf(key, sizeof key, "%s/CN-BJ-auditor.key", harness_pki_dir());
    snprintf(ca, sizeof ca, "%s/ca.crt", harness_pki_dir());
    snprintf(targets, sizeof targets, "CN-TJ=127.0.0.1:%d,CN-BJ=127.0.0.1:%d,CN-HE=127.0.0.1:%d",
             federation_port(fed, TJ), federation_port(fed, BJ), federation_port(fed, HE));
    const char *argv[ARGS_MAX];
    int n = 0;
    argv[n++] = BINARY_DIR "/gwctl";
    va_list ap;
    va_start(ap, err);
    for (const char *a = va_arg(ap, const char *); a != NULL && n < ARGS_MAX - 12; a = va_arg(ap, const char *))
        argv[n++] = a;
    va_end(ap);
    const char *tail[] = {"--targets", targets, "--cert", cert, "--key", key, "--ca", ca,
                          "--catalog-dir", SOURCE_DIR "/adapters/catalogs"};
    int tail_n = strcmp(argv[1], "trace") == 0 ? 10 : 8;
    for (int k = 0; k < tail_n; k++) argv[n++] = tail[k];
    argv[n] = NULL;
    int status = -1;
    char *o = NULL, *e = NULL;
    cr_assert_eq(harness_run(argv, 60000, &status, &o, &e), 0, "gwctl did not run");
    if (out != NULL) *out = o;
    else free(o);
    if (err != NULL) *err = e;
    else free(e);
    return status;
}

static void open_issue(int region, const char *acct, const char *meth, uint64_t milli) {
    client_status_t st;
    cr_assert_eq(rc_open(reg(region), acct, &st), GRPC_STATUS_OK, "%s", st.details);
    char iid[33], fp[64];
    rc_new_id(iid);
    snprintf(fp, sizeof fp, "fp-%s", iid);
    cr_assert_eq(rc_issue(reg(region), iid, acct, meth, milli, fp, NULL, &st), GRPC_STATUS_OK, "%s", st.details);
}

/* CN-TJ issues to tj-a and transfers 15 kg to CN-BJ's bj-b: tid. */
static void cross_region_transfer(char tid[33]) {
    open_issue(TJ, "tj-a", "TJ-GT-01", 420000);
    client_status_t st;
    cr_assert_eq(rc_open(reg(BJ), "bj-b", &st), GRPC_STATUS_OK, "%s", st.details);
    rc_new_id(tid);
    Carbon__V1__TransferResponse *r = NULL;
    cr_assert_eq(rc_transfer(reg(TJ), tid, "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 15, &r, &st), GRPC_STATUS_OK, "%s",
                 st.details);
    cr_assert_eq(r->transfer->outcome, CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED, "%s",
                 r->transfer->reason);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    cr_assert_eq(rc_wait_arrival(reg(BJ), tid, 10000), 0, "never arrived");
    checker_report_t *rep = rc_wait_settled(fed, 30000);
    cr_assert_eq(rep->violations_n, 0, "%s", rep->violations[0]);
    free(rep);
}

/* Runs gwctl trace SUBJECT until every hop is proved against checkpoints
 * both peers cosigned (at most 20 s); returns its stdout (malloc'd). */
static char *trace_until_cosigned(const char *subject) {
    char *out = NULL, *err = NULL;
    for (int k = 0; k < 80; k++) {
        free(out);
        free(err);
        int status = gwctl(&out, &err, "trace", subject, NULL);
        if (status == 0 && strstr(out, "pending") == NULL) {
            free(err);
            return out;
        }
        proc_sleep_ms(250);
    }
    cr_assert_fail("trace never verified:\n%s\n%s", out, err);
    return NULL;
}

/* Audit.Trace of tid at CN-TJ (min_cosignatures 2). */
static Carbon__V1__TraceResponse *trace_rpc(const char *tid) {
    Carbon__V1__TraceRequest req = CARBON__V1__TRACE_REQUEST__INIT;
    req.subject_case = CARBON__V1__TRACE_REQUEST__SUBJECT_TRANSFER_ID;
    req.transfer_id = (char *)tid;
    req.min_cosignatures = 2;
    ProtobufCMessage *resp = NULL;
    client_status_t st;
    cr_assert_eq(client_call(auditor(TJ), "/carbon.v1.Audit/Trace", &req.base, &carbon__v1__trace_response__descriptor,
                             &resp, 10000, &st),
                 GRPC_STATUS_OK, "%s", st.details);
    return (Carbon__V1__TraceResponse *)resp;
}

static grpc_status_code consistency(uint64_t old_size, uint64_t new_size, Carbon__V1__GetConsistencyProofResponse **r,
                                    client_status_t *st) {
    Carbon__V1__GetConsistencyProofRequest req = CARBON__V1__GET_CONSISTENCY_PROOF_REQUEST__INIT;
    req.old_size = old_size;
    req.new_size = new_size;
    *r = NULL;
    return client_call(auditor(TJ), "/carbon.v1.Audit/GetConsistencyProof", &req.base,
                       &carbon__v1__get_consistency_proof_response__descriptor, (ProtobufCMessage **)r, 10000, st);
}

/* The size and root of a checkpoint's body "ORIGIN\nSIZE\nROOT\n...". */
static void checkpoint_size_root(const ProtobufCBinaryData *note, uint64_t *size, merkle_hash_t *root) {
    char text[4096];
    cr_assert_lt(note->len, sizeof text);
    memcpy(text, note->data, note->len);
    text[note->len] = '\0';
    char *l2 = strchr(text, '\n');
    cr_assert_not_null(l2);
    *size = strtoull(l2 + 1, NULL, 10);
    char *l3 = strchr(l2 + 1, '\n');
    cr_assert_not_null(l3);
    unsigned char buf[64];
    cr_assert_eq(EVP_DecodeBlock(buf, (const unsigned char *)l3 + 1, 44), 33); /* 32 bytes and the pad's 0 */
    memcpy(root->bytes, buf, 32);
}

Test(audit_proofs, trace_proves_every_hop_names_the_cosigners_and_requires_enough, .timeout = 240) {
    start3();
    char tid[33];
    cross_region_transfer(tid);
    char *out = trace_until_cosigned(tid);
    cr_assert(strstr(out, "proof to ") != NULL, "%s", out);
    cr_assert(strstr(out, "0 verification failures") != NULL, "%s", out);
    const char *tj = strstr(out, "CN-TJ: checkpoint size ");
    cr_assert_not_null(tj, "%s", out);
    const char *eol = strchr(tj, '\n');
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)(eol - tj), tj);
    cr_assert(strstr(line, "signed with CN-TJ's pinned key; cosigned by ") != NULL, "%s", line);
    cr_assert(strstr(line, "CN-BJ") != NULL && strstr(line, "CN-HE") != NULL && strstr(line, "(2 of 2 required)"),
              "%s", line);
    cr_assert(strstr(out, "CN-BJ: checkpoint size ") != NULL, "%s", out);
    free(out);
    /* --json: the checkpoints and their cosigners */
    cr_assert_eq(gwctl(&out, NULL, "trace", tid, "--json", NULL), 0);
    cr_assert(strstr(out, "\"cosigners_required\": 2") != NULL, "%s", out);
    cr_assert(strstr(out, "\"cosigners\": [") != NULL && strstr(out, "\"verified\": true") != NULL, "%s", out);
    free(out);
    cr_assert_eq(gwctl(&out, NULL, "trace", tid, "--dot", NULL), 0);
    cr_assert(strstr(out, "digraph trace") != NULL, "%s", out);
    free(out);
    /* more cosigners than there are peers: no checkpoint can satisfy it */
    char *err = NULL;
    cr_assert_eq(gwctl(&out, &err, "trace", tid, "--cosigners", "3", NULL), 1, "%s", out);
    cr_assert(strstr(err, "CN-TJ: its checkpoint at size ") != NULL && strstr(err, " peer cosignatures, 3 required"),
              "%s", err);
    cr_assert(strstr(out, ": TOO FEW") != NULL, "%s", out);
    free(out);
    free(err);
    cr_assert_eq(gwctl(&out, NULL, "trace", tid, "--cosigners", "0", NULL), 0, "%s", out);
    free(out);
    cr_assert_eq(gwctl(&out, NULL, "trace", tid, "--cosigners", "x", NULL), 2);
    free(out);

    /* The server's side: one proof per entry, to the checkpoint's size. */
    Carbon__V1__TraceResponse *tr = trace_rpc(tid);
    cr_assert_gt(tr->n_entries, 0);
    cr_assert_eq(tr->n_proofs, tr->n_entries);
    uint64_t size = 0;
    merkle_hash_t root;
    checkpoint_size_root(&tr->checkpoint, &size, &root);
    for (size_t k = 0; k < tr->n_entries; k++) {
        cr_assert_eq(tr->proofs[k]->leaf_index, tr->entries[k]->seq - 1);
        cr_assert_eq(tr->proofs[k]->tree_size, size);
        merkle_hash_t leaf, proof[MERKLE_PROOF_MAX];
        cr_assert_leq(tr->proofs[k]->n_hashes, MERKLE_PROOF_MAX);
        for (size_t j = 0; j < tr->proofs[k]->n_hashes; j++)
            cr_assert_eq(merkle_hash_from_bytes(tr->proofs[k]->hashes[j].data, tr->proofs[k]->hashes[j].len, &proof[j]),
                         MERKLE_OK);
        cr_assert_eq(merkle_leaf_hash(tr->entries[k]->entry.data, tr->entries[k]->entry.len, &leaf), MERKLE_OK);
        cr_assert_eq(merkle_verify_inclusion(tr->proofs[k]->leaf_index, size, &leaf, proof, tr->proofs[k]->n_hashes,
                                             &root),
                     MERKLE_OK);
    }
    /* A consistency proof from size 1 (entry 1's leaf) to the checkpoint's. */
    Carbon__V1__ReadLogRequest lreq = CARBON__V1__READ_LOG_REQUEST__INIT;
    lreq.from_seq = 1;
    lreq.limit = 1;
    Carbon__V1__ReadLogResponse *lr = NULL;
    client_status_t st;
    cr_assert_eq(client_call(auditor(TJ), "/carbon.v1.Audit/ReadLog", &lreq.base,
                             &carbon__v1__read_log_response__descriptor, (ProtobufCMessage **)&lr, 10000, &st),
                 GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(lr->n_entries, 1);
    cr_assert_geq(lr->tree_size, size);
    cr_assert_leq(lr->tree_size, lr->head_seq);
    merkle_hash_t root1, proof[MERKLE_PROOF_MAX];
    cr_assert_eq(merkle_leaf_hash(lr->entries[0]->entry.data, lr->entries[0]->entry.len, &root1), MERKLE_OK);
    Carbon__V1__GetConsistencyProofResponse *cr = NULL;
    cr_assert_eq(consistency(1, size, &cr, &st), GRPC_STATUS_OK, "%s", st.details);
    cr_assert_leq(cr->n_hashes, MERKLE_PROOF_MAX);
    for (size_t j = 0; j < cr->n_hashes; j++)
        cr_assert_eq(merkle_hash_from_bytes(cr->hashes[j].data, cr->hashes[j].len, &proof[j]), MERKLE_OK);
    cr_assert_eq(merkle_verify_consistency(1, size, &root1, &root, proof, cr->n_hashes), MERKLE_OK);
    protobuf_c_message_free_unpacked(&cr->base, NULL);
    /* Sizes out of range are refused, and the store does not change. */
    char *before = federation_store_snapshot(fed, TJ);
    uint64_t bad[][2] = {{0, size}, {2, 1}, {1, lr->tree_size + 1000}, {1, (UINT64_C(1) << 40) + 1}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        cr_assert_eq(consistency(bad[k][0], bad[k][1], &cr, &st), GRPC_STATUS_INVALID_ARGUMENT, "%zu", k);
        cr_assert_str_eq(st.reason, "OUT_OF_RANGE");
    }
    char *after = federation_store_snapshot(fed, TJ);
    cr_assert_str_eq(before, after);
    free(before);
    free(after);
    protobuf_c_message_free_unpacked(&lr->base, NULL);
    protobuf_c_message_free_unpacked(&tr->base, NULL);
    stop_all();
}

/* A copy of the pinned keys in DIR/keys-NAME, with region `replace`'s key
 * (if >= 0) replaced by a fresh one and region `drop`'s (if >= 0) left out. */
static const char *keys_copy(const char *name, int replace, int drop) {
    static char dir[1024];
    snprintf(dir, sizeof dir, "%s/keys-%s", federation_dir(fed), name);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/*-audit-signing.pub %s/", dir, harness_pki_dir(), dir);
    cr_assert_eq(system(cmd), 0);
    const char *regions[] = {"CN-TJ", "CN-BJ", "CN-HE"};
    char path[1100];
    if (drop >= 0) {
        snprintf(path, sizeof path, "%s/%s-audit-signing.pub", dir, regions[drop]);
        cr_assert_eq(unlink(path), 0);
    }
    if (replace >= 0) {
        EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        snprintf(path, sizeof path, "%s/%s-audit-signing.pub", dir, regions[replace]);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        cr_assert_eq(PEM_write_PUBKEY(f, k), 1);
        fclose(f);
        EVP_PKEY_free(k);
    }
    return dir;
}

static redisContext *redis_of(int i) {
    redisContext *c = redis_connect(federation_redis(fed, i));
    cr_assert_not_null(c);
    return c;
}

Test(audit_proofs, a_missing_or_bad_cosignature_and_a_changed_entry_byte_fail_the_trace, .timeout = 240) {
    start3();
    char tid[33];
    cross_region_transfer(tid);
    free(trace_until_cosigned(tid));
    char *out = NULL, *err = NULL;
    /* CN-HE's pinned key is another: its cosignature is no longer counted */
    const char *dir = keys_copy("other-he", HE, -1);
    cr_assert_eq(gwctl(&out, &err, "trace", tid, "--audit-keys", dir, NULL), 1, "%s", out);
    cr_assert(strstr(err, "CN-TJ: its checkpoint at size ") != NULL && strstr(err, "has 1 peer cosignatures, 2 required"),
              "%s", err);
    free(out);
    free(err);
    /* CN-HE's key not pinned: by default one cosigner (CN-BJ) is required... */
    dir = keys_copy("no-he", -1, HE);
    cr_assert_eq(gwctl(&out, &err, "trace", tid, "--audit-keys", dir, NULL), 0, "%s\n%s", out, err);
    cr_assert(strstr(out, "(1 of 1 required)") != NULL, "%s", out);
    free(out);
    free(err);
    /* ... unless --cosigners asks for more */
    cr_assert_eq(gwctl(&out, &err, "trace", tid, "--audit-keys", dir, "--cosigners", "2", NULL), 1, "%s", out);
    cr_assert(strstr(err, "1 peer cosignatures, 2 required") != NULL, "%s", err);
    free(out);
    free(err);
    /* CN-TJ's own key not pinned: nothing of CN-TJ verifies */
    dir = keys_copy("no-tj", -1, TJ);
    cr_assert_eq(gwctl(&out, &err, "trace", tid, "--audit-keys", dir, NULL), 1, "%s", out);
    cr_assert(strstr(err, "CN-TJ: no pinned key for CN-TJ") != NULL, "%s", err);
    free(out);
    free(err);

    /* CN-BJ's cosignature of CN-TJ's newest checkpoint changed in CN-TJ's
     * store: a signature by a pinned key that fails refuses the checkpoint. */
    redisContext *r = redis_of(TJ);
    redisReply *z = redisCommand(r, "ZREVRANGE " STORE_KEY_CHECKPOINT_OWN_SIZES " 0 0");
    cr_assert(z->type == REDIS_REPLY_ARRAY && z->elements == 1);
    char field[64];
    snprintf(field, sizeof field, "%s|CN-BJ", z->element[0]->str);
    freeReplyObject(z);
    redisReply *c = redisCommand(r, "HGET " STORE_KEY_CHECKPOINT_OWN_COSIGS " %s", field);
    cr_assert_eq(c->type, REDIS_REPLY_STRING, "no cosignature %s", field);
    char *line = strndup(c->str, c->len), *bad = strndup(c->str, c->len);
    size_t line_len = c->len;
    freeReplyObject(c);
    bad[line_len - 12] = bad[line_len - 12] == 'A' ? 'B' : 'A'; /* inside the signature's base64 */
    freeReplyObject(redisCommand(r, "HSET " STORE_KEY_CHECKPOINT_OWN_COSIGS " %s %b", field, bad, line_len));
    cr_assert_eq(gwctl(&out, &err, "trace", tid, NULL), 1, "%s", out);
    cr_assert(strstr(err, "CN-TJ: CN-TJ's checkpoint does not verify: ") != NULL, "%s", err);
    cr_assert(strstr(out, "CN-TJ: checkpoint DOES NOT VERIFY") != NULL && strstr(out, "NO CHECKPOINT") != NULL, "%s",
              out);
    free(out);
    free(err);
    freeReplyObject(redisCommand(r, "HSET " STORE_KEY_CHECKPOINT_OWN_COSIGS " %s %b", field, line, line_len));
    free(line);
    free(bad);
    cr_assert_eq(gwctl(&out, NULL, "trace", tid, NULL), 0, "%s", out);
    free(out);

    /* One byte of an integrated entry changed in Redis: its time, still a
     * well-formed entry, no longer the leaf in the tree. */
    Carbon__V1__TraceResponse *tr = trace_rpc(tid);
    cr_assert_gt(tr->n_entries, 0);
    uint64_t seq = tr->entries[0]->seq;
    protobuf_c_message_free_unpacked(&tr->base, NULL);
    size_t len = 0;
    char *bytes = redis_log_entry(r, seq, &len);
    cr_assert_not_null(bytes);
    /* fields: "14:carbon-audit/3," "N:SEQ," "13:TIME," */
    char *p = strchr(bytes, ',') + 1; /* past the format */
    p = strchr(p, ',') + 1;            /* past seq */
    char *time_end = strchr(p, ',');
    cr_assert_not_null(time_end);
    time_end[-1] = time_end[-1] == '9' ? '8' : (char)(time_end[-1] + 1);
    freeReplyObject(redisCommand(r, "HSET " STORE_KEY_LOG_ENTRIES " %llu %b", (unsigned long long)seq, bytes, len));
    free(bytes);
    cr_assert_eq(gwctl(&out, &err, "trace", tid, NULL), 1, "%s", out);
    char want[160];
    snprintf(want, sizeof want, "CN-TJ entry %llu: entry %llu is not in the checkpoint's tree of size",
             (unsigned long long)seq, (unsigned long long)seq);
    cr_assert(strstr(err, want) != NULL, "%s", err);
    cr_assert(strstr(out, "BAD PROOF") != NULL, "%s", out);
    free(out);
    free(err);
    redisFree(r);
    stop_all();
}

/* The size of CN-TJ's tree and log (ReadLog). */
static void log_sizes(uint64_t *tree_size, uint64_t *head) {
    Carbon__V1__ReadLogRequest req = CARBON__V1__READ_LOG_REQUEST__INIT;
    req.from_seq = 1;
    req.limit = 1;
    Carbon__V1__ReadLogResponse *lr = NULL;
    client_status_t st;
    cr_assert_eq(client_call(auditor(TJ), "/carbon.v1.Audit/ReadLog", &req.base,
                             &carbon__v1__read_log_response__descriptor, (ProtobufCMessage **)&lr, 10000, &st),
                 GRPC_STATUS_OK, "%s", st.details);
    *tree_size = lr->tree_size;
    *head = lr->head_seq;
    protobuf_c_message_free_unpacked(&lr->base, NULL);
}

Test(audit_proofs, audit_verify_recomputes_the_tree_and_names_the_fork_after_a_rewrite, .timeout = 240) {
    start3();
    char tid[33];
    cross_region_transfer(tid);
    free(trace_until_cosigned(tid)); /* both peers hold cosigned checkpoints of CN-TJ */
    char *out = NULL, *err = NULL;
    cr_assert_eq(gwctl(&out, &err, "audit", "verify", "--region", "CN-TJ", NULL), 0, "%s\n%s", out, err);
    cr_assert(strstr(out, "CN-TJ: ") != NULL && strstr(out, " entries verified, tree root ") != NULL, "%s", out);
    cr_assert(strstr(out, "3 checkpoints verified (") != NULL && strstr(out, "CN-BJ at ") != NULL &&
                  strstr(out, "CN-HE at ") != NULL,
              "%s", out);
    free(out);
    free(err);
    cr_assert_eq(gwctl(&out, NULL, "audit", "verify", "--region", "CN-TJ", "--json", NULL), 0, "%s", out);
    cr_assert(strstr(out, "\"log_read\": true") != NULL && strstr(out, "\"first_bad_entry\": \"0\"") != NULL, "%s",
              out);
    free(out);

    /* History rewritten: entry 2 (the issuance) gets another time, and the
     * tree is rebuilt from the entries as they now are. */
    redisContext *r = redis_of(TJ);
    size_t len = 0;
    char *bytes = redis_log_entry(r, 2, &len);
    cr_assert_not_null(bytes);
    char *p = strchr(strchr(bytes, ',') + 1, ',') + 1;
    char *time_end = strchr(p, ',');
    time_end[-1] = time_end[-1] == '9' ? '8' : (char)(time_end[-1] + 1);
    freeReplyObject(redisCommand(r, "HSET " STORE_KEY_LOG_ENTRIES " 2 %b", bytes, len));
    free(bytes);
    cr_assert_eq(redis_delete_log_tree(r), 0);
    uint64_t tree_size = 0, head = 0;
    for (int k = 0; k < 100; k++) { /* the integrator hashes everything again */
        log_sizes(&tree_size, &head);
        if (tree_size == head && head > 0) break;
        proc_sleep_ms(100);
    }
    cr_assert_eq(tree_size, head);
    cr_assert_eq(gwctl(&out, &err, "audit", "verify", "--region", "CN-TJ", NULL), 1, "%s", out);
    cr_assert(strstr(out, "VERIFICATION FAILED: ") != NULL, "%s", out);
    cr_assert(strstr(out, " cosigned CN-TJ at size ") != NULL && strstr(out, "; the log gives root ") != NULL &&
                  strstr(out, ": the history was rewritten at or before entry ") != NULL,
              "%s", out);
    cr_assert(strstr(err, "CN-BJ cosigned CN-TJ at size ") != NULL && strstr(err, "CN-HE cosigned CN-TJ at size "),
              "%s", err);
    free(out);
    free(err);
    cr_assert_eq(gwctl(&out, NULL, "audit", "verify", "--region", "CN-TJ", "--json", NULL), 1, "%s", out);
    cr_assert(strstr(out, "\"first_bad_entry\": \"0\"") == NULL, "%s", out);
    free(out);
    /* An entry deleted: the log has a gap, named. */
    freeReplyObject(redisCommand(r, "HDEL " STORE_KEY_LOG_ENTRIES " 3"));
    freeReplyObject(redisCommand(r, "HDEL " STORE_KEY_LOG_PACKED " 3"));
    cr_assert_eq(gwctl(&out, &err, "audit", "verify", "--region", "CN-TJ", NULL), 1, "%s", out);
    cr_assert(strstr(out, "VERIFICATION FAILED: entry 3 is missing") != NULL, "%s", out);
    free(out);
    free(err);
    redisFree(r);
    stop_all();
}
