/* test_witness.c - peers are witnesses of each other's audit logs (issue 13
 * items 5 and 7; docs/audit-log.md §4), against real gateways over mutual
 * TLS with real Redis stores.
 *
 * witness_refusals: the test plays CN-BJ's log towards CN-TJ's witness, with
 * a certificate of CN-BJ's gateway and a tree of its own (settlement/merkle.h
 * over entries it makes up), signing with CN-BJ's audit key from the dev PKI.
 * After two checkpoints are cosigned, every bad one is refused with its
 * status and reason and the witness's state does not change: a huge size, a
 * self-signed note, a note signed with another region's key, another
 * region's origin, an old checkpoint replayed, a proof of the wrong length;
 * an old_size that is not the one held gets OLD_SIZE_MISMATCH. Then a
 * rewritten history (same size another root; a larger size whose proof
 * fails) is refused as a fork: both notes kept, the alarm raised (metric,
 * error log, ListForks, `gwctl forks list` exit 1), and an acknowledgement
 * (reason checked) clears it while the evidence stays.
 *
 * witness_rewritten_history: the real thing end to end, with three regions'
 * checkpointers and witnesses (see the test). */
#include "gateway/rpc/grpc_lifetime.h"
#include "settlement/merkle.h"
#include "settlement/note.h"
#include "settlement/store_keys.h"
#include "settlement/witness.h"
#include "tests/support/gateway_harness.h"
#include "tests/support/proc.h"
#include "tests/support/registry_client.h"

#include "carbon/v1/carbon.pb-c.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TJ 0
#define BJ 1
#define HE 2
#define CALL_TIMEOUT_MS 10000
#define ENTRIES_MAX 64
#define SCRAPE_BYTES_MAX (1 << 20)

static federation_t *fed;

static void stop_all(void) {
    federation_free(fed);
    fed = NULL;
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

TestSuite(witness, .fini = stop_all, .timeout = 240);

static void start(int regions_n) {
    grpc_lifetime_begin();
    federation_options_t o = {.regions_n = regions_n,
                              .extra_ini = "[metrics]\nlisten = 127.0.0.1:0\n"};
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation: %s", federation_last_error());
}

/* ---- a log of the test's own: entries, roots, proofs, signed notes ------------- */

typedef struct {
    merkle_hash_t leaves[ENTRIES_MAX];
    size_t n;
} fake_log_t;

/* Entries "entry-K" (K = 0..n-1), entry `rewritten` (if < n) "rewritten-K". */
static void fake_log(fake_log_t *l, size_t n, size_t rewritten) {
    cr_assert(n <= ENTRIES_MAX);
    l->n = n;
    for (size_t k = 0; k < n; k++) {
        char e[32];
        int len = snprintf(e, sizeof e, "%s-%zu", k == rewritten ? "rewritten" : "entry", k);
        cr_assert_eq(merkle_leaf_hash(e, (size_t)len, &l->leaves[k]), MERKLE_OK);
    }
}

static merkle_hash_t fake_root(const fake_log_t *l, size_t size) {
    merkle_leaf_array_t arr = {l->leaves, l->n};
    merkle_hash_t root;
    cr_assert_eq(merkle_root(merkle_leaf_array_read, &arr, size, &root), MERKLE_OK);
    return root;
}

static size_t fake_proof(const fake_log_t *l, size_t m, size_t n, merkle_hash_t *proof) {
    merkle_leaf_array_t arr = {l->leaves, l->n};
    size_t proof_n = 0;
    cr_assert_eq(merkle_consistency_proof(merkle_leaf_array_read, &arr, m, n, proof, &proof_n),
                 MERKLE_OK);
    return proof_n;
}

static EVP_PKEY *pki_key(const char *region, int private_key) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s-audit-signing.%s", harness_pki_dir(), region,
             private_key ? "key" : "pub");
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    EVP_PKEY *k = private_key ? PEM_read_PrivateKey(f, NULL, NULL, NULL)
                              : PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    cr_assert_not_null(k, "%s", path);
    return k;
}

/* A signed note of the checkpoint (origin, size, root) by key as key_name. */
static char *signed_note(const char *origin, uint64_t size, const merkle_hash_t *root,
                         const char *key_name, EVP_PKEY *key, size_t *len) {
    checkpoint_t cp;
    memset(&cp, 0, sizeof cp);
    snprintf(cp.origin, sizeof cp.origin, "%s", origin);
    cp.size = size;
    memcpy(cp.root_hash, root->bytes, 32);
    char body[CHECKPOINT_BODY_BYTES_MAX + 1], why[256];
    size_t body_len = 0;
    cr_assert_eq(checkpoint_format(&cp, body, sizeof body, &body_len, why, sizeof why), NOTE_OK, "%s", why);
    char *note = malloc(NOTE_BYTES_MAX + 1);
    cr_assert_eq(note_sign(body, body_len, key_name, key, note, NOTE_BYTES_MAX + 1, len, why,
                           sizeof why), NOTE_OK, "%s", why);
    return note;
}

/* CN-BJ's checkpoint of the fake log at size, signed with CN-BJ's key. */
static char *bj_note(const fake_log_t *l, uint64_t size, size_t *len) {
    static EVP_PKEY *bj;
    if (bj == NULL) bj = pki_key("CN-BJ", 1);
    merkle_hash_t root = fake_root(l, size);
    return signed_note("jjj.carbon/CN-BJ/audit", size, &root, "jjj.carbon/CN-BJ/audit", bj, len);
}

/* note (malloc'd, NOTE_BYTES_MAX + 1 bytes) with one more signature line, of
 * its text by key as name: a line a witness cannot check. Returns note. */
static char *with_line_of(char *note, const char *name, EVP_PKEY *key) {
    const char *blank = strstr(note, "\n\n");
    cr_assert_not_null(blank);
    char line[NOTE_OWN_SIG_LINE_SIZE], why[256];
    size_t line_len = 0;
    cr_assert_eq(note_sign_line(note, (size_t)(blank - note) + 1, name, key, line, sizeof line, &line_len, why,
                                sizeof why),
                 NOTE_OK, "%s", why);
    cr_assert_lt(strlen(note) + line_len, NOTE_BYTES_MAX);
    strcat(note, line);
    return note;
}

/* ---- calls ----------------------------------------------------------------------- */

/* AddCheckpoint to instance at as CN-BJ's gateway. Returns the status; *resp
 * (may be NULL) the answer on OK. */
static grpc_status_code add(int at, uint64_t old_size, const char *note, size_t note_len,
                            const merkle_hash_t *proof, size_t proof_n,
                            Carbon__V1__AddCheckpointResponse **resp, client_status_t *st) {
    ProtobufCBinaryData hashes[MERKLE_PROOF_MAX + 2];
    cr_assert(proof_n <= MERKLE_PROOF_MAX + 2);
    for (size_t i = 0; i < proof_n; i++) hashes[i] = (ProtobufCBinaryData){32, (uint8_t *)proof[i].bytes};
    Carbon__V1__AddCheckpointRequest req = CARBON__V1__ADD_CHECKPOINT_REQUEST__INIT;
    req.old_size = old_size;
    req.consistency_proof = hashes;
    req.n_consistency_proof = proof_n;
    req.checkpoint = (ProtobufCBinaryData){note_len, (uint8_t *)note};
    grpc_channel *ch = federation_channel(fed, at, "CN-BJ-gateway");
    cr_assert_not_null(ch);
    ProtobufCMessage *r = NULL;
    grpc_status_code c = client_call(ch, "/carbon.v1.Federation/AddCheckpoint", &req.base,
                                     &carbon__v1__add_checkpoint_response__descriptor, &r,
                                     CALL_TIMEOUT_MS, st);
    if (resp != NULL) *resp = (Carbon__V1__AddCheckpointResponse *)r;
    else if (r != NULL) protobuf_c_message_free_unpacked(r, NULL);
    return c;
}

static void expect_refused(grpc_status_code got, const client_status_t *st, grpc_status_code want,
                           const char *reason, const char *what) {
    cr_expect_eq(got, want, "%s: got %s (%s)", what, client_status_name(got), st->details);
    cr_expect_str_eq(st->reason, reason, "%s: reason %s (%s)", what, st->reason, st->details);
}

/* What a witness holds in its store (the keys of settlement/witness.h), as text. */
static char *witness_state(int i) {
    redisContext *c = redis_connect(federation_redis(fed, i));
    cr_assert_not_null(c);
    static const char *const cmds[][3] = {
        {"HGETALL", STORE_KEY_CHECKPOINT_WITNESS_PREFIX "CN-BJ", NULL},
        {"LRANGE", STORE_KEY_CHECKPOINT_WITNESS_PREFIX "CN-BJ" STORE_KEY_CHECKPOINT_HISTORY_SUFFIX, "*"},
        {"ZRANGE", STORE_KEY_CHECKPOINT_FORKS, "*"},
        {"HGETALL", STORE_KEY_CHECKPOINT_FORKS_OPEN, NULL},
        {"HGETALL", STORE_KEY_CHECKPOINT_FORKS_SEEN, NULL},
        {"HGETALL", STORE_KEY_CHECKPOINT_FORK_PREFIX "1", NULL},
        {"HGETALL", STORE_KEY_CHECKPOINT_FORK_PREFIX "2", NULL},
    };
    size_t cap = 1 << 20, len = 0;
    char *out = malloc(cap);
    out[0] = '\0';
    for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++) {
        redisReply *r = cmds[k][2] != NULL ? redisCommand(c, "%s %s 0 -1", cmds[k][0], cmds[k][1])
                                           : redisCommand(c, "%s %s", cmds[k][0], cmds[k][1]);
        cr_assert_not_null(r);
        len += (size_t)snprintf(out + len, cap - len, "%s %s:", cmds[k][0], cmds[k][1]);
        for (size_t e = 0; r->type == REDIS_REPLY_ARRAY && e < r->elements; e++)
            len += (size_t)snprintf(out + len, cap - len, " [%.*s]", (int)r->element[e]->len,
                                    r->element[e]->str);
        len += (size_t)snprintf(out + len, cap - len, "\n");
        freeReplyObject(r);
    }
    redisFree(c);
    return out;
}

/* ---- the alarm: metrics, ListForks, gwctl ------------------------------------------ */

static char *http_get_metrics(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0, "metrics port %d", port);
    const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    cr_assert_eq(send(fd, req, sizeof req - 1, MSG_NOSIGNAL), (ssize_t)(sizeof req - 1));
    char *buf = malloc(SCRAPE_BYTES_MAX + 1);
    size_t len = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + len, SCRAPE_BYTES_MAX - len, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0 || (len += (size_t)r) == SCRAPE_BYTES_MAX) break;
    }
    buf[len] = '\0';
    close(fd);
    return buf;
}

static int metrics_port(int i) {
    long long until = proc_now_ms() + 5000;
    for (;;) {
        char *log = harness_file_tail(federation_log_path(fed, i), 1 << 20);
        const char *line = strstr(log, "\"metrics_listening\"");
        int port = 0;
        const char *pp = line != NULL ? strstr(line, "\"port\":") : NULL;
        if (pp != NULL) port = atoi(pp + 7 + (pp[7] == ' '));
        free(log);
        if (port > 0) return port;
        cr_assert(proc_now_ms() < until, "instance %d logged no metrics_listening", i);
        proc_sleep_ms(100);
    }
}

/* carbon_audit_forks_unacknowledged{region="region"} of instance i. */
static long forks_metric(int i, const char *region) {
    char *b = http_get_metrics(metrics_port(i));
    char series[96];
    snprintf(series, sizeof series, "carbon_audit_forks_unacknowledged{region=\"%s\"} ", region);
    const char *p = strstr(b, series);
    long v = p != NULL ? strtol(p + strlen(series), NULL, 10) : -1;
    free(b);
    return v;
}

static Carbon__V1__ListForksResponse *list_forks(int i, int all) {
    char cert[32];
    snprintf(cert, sizeof cert, "%s-operator", federation_region(fed, i));
    Carbon__V1__ListForksRequest req = CARBON__V1__LIST_FORKS_REQUEST__INIT;
    req.include_acknowledged = all;
    ProtobufCMessage *r = NULL;
    client_status_t st;
    cr_assert_eq(client_call(federation_channel(fed, i, cert), "/carbon.v1.Operations/ListForks",
                             &req.base, &carbon__v1__list_forks_response__descriptor, &r,
                             CALL_TIMEOUT_MS, &st),
                 GRPC_STATUS_OK, "ListForks: %s", st.details);
    return (Carbon__V1__ListForksResponse *)r;
}

/* Runs gwctl ARGS... --target instance i with region i's operator
 * certificate; returns the exit status, *out its stdout (malloc'd). */
static int gwctl(int i, char **out, const char *a0, const char *a1, const char *a2, const char *a3,
                 const char *a4) {
    char target[64], cert[512], key[512], ca[512];
    snprintf(target, sizeof target, "127.0.0.1:%d", federation_port(fed, i));
    snprintf(cert, sizeof cert, "%s/%s-operator.crt", harness_pki_dir(), federation_region(fed, i));
    snprintf(key, sizeof key, "%s/%s-operator.key", harness_pki_dir(), federation_region(fed, i));
    snprintf(ca, sizeof ca, "%s/ca.crt", harness_pki_dir());
    const char *argv[20];
    int n = 0;
    argv[n++] = BINARY_DIR "/gwctl";
    const char *args[5] = {a0, a1, a2, a3, a4};
    for (int k = 0; k < 5 && args[k] != NULL; k++) argv[n++] = args[k];
    const char *conn[] = {"--target", target, "--cert", cert, "--key", key, "--ca", ca};
    for (size_t k = 0; k < sizeof conn / sizeof conn[0]; k++) argv[n++] = conn[k];
    argv[n] = NULL;
    int status = -1;
    char *err = NULL;
    cr_assert_eq(harness_run(argv, 60000, &status, out, &err), 0, "gwctl did not run");
    free(err);
    return status;
}

/* ---- the refusals ------------------------------------------------------------------ */

/* The note TJ keeps as the witness of CN-BJ (malloc'd). */
static char *witness_kept_note(void) {
    redisContext *c = redis_connect(federation_redis(fed, TJ));
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, "HGET %s note", STORE_KEY_CHECKPOINT_WITNESS_PREFIX "CN-BJ");
    cr_assert(r != NULL && r->type == REDIS_REPLY_STRING);
    char *note = strdup(r->str);
    freeReplyObject(r);
    redisFree(c);
    return note;
}

/* Checkpoints 4 then 8 of the fake log, cosigned by TJ; the cosignature
 * lines verify with TJ's witness key. The second carries one more line,
 * under a name TJ does not know: TJ keeps (and would serve to auditors)
 * the note with CN-BJ's line only. Before, it kept the note as it came. */
static void cosign_two(const fake_log_t *log) {
    EVP_PKEY *tj_pub = pki_key("CN-TJ", 0);
    note_verifier_t tj_witness;
    char why[256];
    cr_assert_eq(note_verifier_from_key("jjj.carbon/CN-TJ/witness", NOTE_TYPE_COSIGNATURE_V1,
                                        tj_pub, &tj_witness, why, sizeof why), NOTE_OK);
    EVP_PKEY_free(tj_pub);
    merkle_hash_t proof[MERKLE_PROOF_MAX];
    uint64_t sizes[2] = {4, 8};
    for (int k = 0; k < 2; k++) {
        size_t len = 0, proof_n = k == 0 ? 0 : fake_proof(log, 4, 8, proof);
        char *note = bj_note(log, sizes[k], &len);
        if (k == 1) {
            EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
            cr_assert_not_null(other);
            note = with_line_of(note, "jjj.carbon/CN-BJ/other", other);
            len = strlen(note);
            EVP_PKEY_free(other);
        }
        Carbon__V1__AddCheckpointResponse *r = NULL;
        client_status_t st;
        cr_assert_eq(add(TJ, k == 0 ? 0 : 4, note, len, proof, proof_n, &r, &st), GRPC_STATUS_OK,
                     "checkpoint %" PRIu64 ": %s", sizes[k], st.details);
        cr_assert_eq(r->outcome, CARBON__V1__ADD_CHECKPOINT_RESPONSE__OUTCOME__COSIGNED);
        cr_assert_eq(r->witnessed_size, sizes[k]);
        char both[NOTE_BYTES_MAX];
        cr_assert(len + r->cosignature.len < sizeof both);
        memcpy(both, note, len);
        memcpy(both + len, r->cosignature.data, r->cosignature.len);
        note_opened_t opened;
        cr_assert_eq(note_open(both, len + r->cosignature.len, &tj_witness, 1, &opened, why,
                               sizeof why), NOTE_OK, "TJ's cosignature: %s", why);
        protobuf_c_message_free_unpacked(&r->base, NULL);
        free(note);
    }
    size_t plain_len = 0;
    char *plain = bj_note(log, 8, &plain_len), *kept = witness_kept_note();
    cr_assert_str_eq(kept, plain, "TJ kept a line it did not check");
    free(plain);
    free(kept);
}

/* Each bad checkpoint (the witness holds size 8 of log): refused, nothing changed. */
static void refuse_bad_ones(const fake_log_t *log) {
    char *before = witness_state(TJ), *snap_before = federation_store_snapshot(fed, TJ);
    client_status_t st;
    size_t len = 0;
    merkle_hash_t root = fake_root(log, 8), proof[MERKLE_PROOF_MAX + 2];
    EVP_PKEY *bj = pki_key("CN-BJ", 1), *he = pki_key("CN-HE", 1);
    EVP_PKEY *self = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    cr_assert_not_null(self);
    const char *bj_log = "jjj.carbon/CN-BJ/audit";
    struct {
        const char *what;
        char *note;
        uint64_t old_size;
        grpc_status_code want;
        const char *reason;
    } bad[] = {
        {"size 2^64-1", signed_note(bj_log, UINT64_MAX, &root, bj_log, bj, &len), 8,
         GRPC_STATUS_INVALID_ARGUMENT, "CHECKPOINT_TOO_LARGE"},
        {"size 2^40+1", signed_note(bj_log, (UINT64_C(1) << 40) + 1, &root, bj_log, bj, &len), 8,
         GRPC_STATUS_INVALID_ARGUMENT, "CHECKPOINT_TOO_LARGE"},
        {"self-signed", signed_note(bj_log, 9, &root, bj_log, self, &len), 8,
         GRPC_STATUS_PERMISSION_DENIED, "NOT_SIGNED_BY_REGION"},
        {"CN-HE's key, CN-BJ's name", signed_note(bj_log, 9, &root, bj_log, he, &len), 8,
         GRPC_STATUS_PERMISSION_DENIED, "NOT_SIGNED_BY_REGION"},
        {"CN-HE's key and name", signed_note(bj_log, 9, &root, "jjj.carbon/CN-HE/audit", he, &len), 8,
         GRPC_STATUS_PERMISSION_DENIED, "NOT_SIGNED_BY_REGION"},
        {"CN-HE's origin", signed_note("jjj.carbon/CN-HE/audit", 9, &root, bj_log, bj, &len), 8,
         GRPC_STATUS_PERMISSION_DENIED, "WRONG_ORIGIN"},
        {"old one replayed", bj_note(log, 4, &len), 0, GRPC_STATUS_FAILED_PRECONDITION,
         "CHECKPOINT_REPLAYED"},
        {"old one replayed, old_size 8", bj_note(log, 4, &len), 8, GRPC_STATUS_FAILED_PRECONDITION,
         "CHECKPOINT_REPLAYED"},
        {"no proof from 8 to 10", bj_note(log, 10, &len), 8, GRPC_STATUS_INVALID_ARGUMENT, "BAD_PROOF"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        grpc_status_code c = add(TJ, bad[k].old_size, bad[k].note, strlen(bad[k].note), NULL, 0, NULL, &st);
        expect_refused(c, &st, bad[k].want, bad[k].reason, bad[k].what);
        free(bad[k].note);
    }
    /* a proof of 65 hashes, and one whose hash is 31 bytes: BAD_PROOF */
    char *note = bj_note(log, 10, &len);
    memset(proof, 7, sizeof proof);
    expect_refused(add(TJ, 8, note, len, proof, MERKLE_PROOF_MAX + 1, NULL, &st), &st,
                   GRPC_STATUS_INVALID_ARGUMENT, "BAD_PROOF", "65 hashes");
    /* the checkpoint held, sent again: the same cosignature, nothing changed */
    size_t held_len = 0;
    char *held = bj_note(log, 8, &held_len);
    Carbon__V1__AddCheckpointResponse *again[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(add(TJ, 8, held, held_len, NULL, 0, &again[k], &st), GRPC_STATUS_OK, "%s",
                     st.details);
        cr_expect_eq(again[k]->outcome, CARBON__V1__ADD_CHECKPOINT_RESPONSE__OUTCOME__COSIGNED);
    }
    cr_expect(again[0]->cosignature.len > 0 && again[0]->cosignature.len == again[1]->cosignature.len &&
                  memcmp(again[0]->cosignature.data, again[1]->cosignature.data,
                         again[0]->cosignature.len) == 0,
              "the same checkpoint got another cosignature");
    protobuf_c_message_free_unpacked(&again[0]->base, NULL);
    protobuf_c_message_free_unpacked(&again[1]->base, NULL);
    free(held);
    /* an old_size that is not the one held: answered, nothing changed */
    Carbon__V1__AddCheckpointResponse *r = NULL;
    size_t proof_n = fake_proof(log, 4, 10, proof);
    cr_assert_eq(add(TJ, 4, note, len, proof, proof_n, &r, &st), GRPC_STATUS_OK, "%s", st.details);
    cr_expect_eq(r->outcome, CARBON__V1__ADD_CHECKPOINT_RESPONSE__OUTCOME__OLD_SIZE_MISMATCH);
    cr_expect_eq(r->witnessed_size, 8);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    free(note);
    char *after = witness_state(TJ), *snap_after = federation_store_snapshot(fed, TJ);
    cr_expect_str_eq(after, before, "the witness's state changed");
    cr_expect_str_eq(snap_after, snap_before, "TJ's store changed");
    free(before), free(after), free(snap_before), free(snap_after);
    EVP_PKEY_free(bj), EVP_PKEY_free(he), EVP_PKEY_free(self);
    cr_expect_eq(forks_metric(TJ, "CN-BJ"), 0, "no alarm for refusals that are not forks");
}

/* Rewritten histories: refused as forks, kept as evidence, alarmed on. */
static void refuse_forks(const fake_log_t *log) {
    fake_log_t rewritten;
    fake_log(&rewritten, 12, 2);
    char *before = witness_state(TJ);
    client_status_t st;
    size_t len = 0;
    merkle_hash_t proof[MERKLE_PROOF_MAX];
    char *same_size = bj_note(&rewritten, 8, &len);
    expect_refused(add(TJ, 8, same_size, len, NULL, 0, NULL, &st), &st,
                   GRPC_STATUS_FAILED_PRECONDITION, "CHECKPOINT_FORK", "size 8, another root");
    char *larger = bj_note(&rewritten, 12, &len);
    size_t proof_n = fake_proof(&rewritten, 8, 12, proof);
    expect_refused(add(TJ, 8, larger, len, proof, proof_n, NULL, &st), &st,
                   GRPC_STATUS_FAILED_PRECONDITION, "CHECKPOINT_FORK", "size 12, proof from another tree");
    /* the same again: the same record, not a new one */
    expect_refused(add(TJ, 8, larger, len, proof, proof_n, NULL, &st), &st,
                   GRPC_STATUS_FAILED_PRECONDITION, "CHECKPOINT_FORK", "size 12 again");
    cr_expect_geq(federation_log_count(fed, TJ, "\"audit_fork\""), 2, "no error log of the forks");
    cr_expect_eq(forks_metric(TJ, "CN-BJ"), 2, "the alarm metric");
    Carbon__V1__ListForksResponse *l = list_forks(TJ, 0);
    cr_assert_eq(l->n_forks, 2, "ListForks: %zu forks", l->n_forks);
    size_t held_len = 0;
    char *held = bj_note(log, 8, &held_len);
    cr_expect_str_eq(l->forks[0]->region, "CN-BJ");
    cr_expect(l->forks[1]->cosigned_checkpoint.len == held_len &&
                  memcmp(l->forks[1]->cosigned_checkpoint.data, held, held_len) == 0,
              "the cosigned note kept");
    cr_expect(l->forks[1]->conflicting_checkpoint.len == len &&
                  memcmp(l->forks[1]->conflicting_checkpoint.data, larger, len) == 0,
              "the conflicting note kept");
    cr_expect_eq(l->forks[1]->n_consistency_proof, proof_n, "the proof kept");
    protobuf_c_message_free_unpacked(&l->base, NULL);
    /* what the witness cosigned did not change */
    char *after = witness_state(TJ);
    const char *cosigned = strstr(after, "LRANGE");
    cr_expect(cosigned != NULL && strncmp(after, before, (size_t)(cosigned - after)) == 0,
              "the checkpoint held changed:\n%s\n%s", before, after);
    free(before), free(after), free(same_size), free(larger), free(held);
}

/* The newest entry of instance i's log (ReadLog as its auditor); the caller frees it. */
static Carbon__V1__ReadLogResponse *read_log(int i) {
    char cert[32];
    snprintf(cert, sizeof cert, "%s-auditor", federation_region(fed, i));
    Carbon__V1__ReadLogRequest req = CARBON__V1__READ_LOG_REQUEST__INIT;
    req.from_seq = 1;
    ProtobufCMessage *m = NULL;
    client_status_t st;
    cr_assert_eq(client_call(federation_channel(fed, i, cert), "/carbon.v1.Audit/ReadLog", &req.base,
                             &carbon__v1__read_log_response__descriptor, &m, CALL_TIMEOUT_MS, &st),
                 GRPC_STATUS_OK, "ReadLog: %s", st.details);
    return (Carbon__V1__ReadLogResponse *)m;
}

static void acknowledge(void) {
    char *out = NULL;
    cr_expect_eq(gwctl(TJ, &out, "forks", "list", NULL, NULL, NULL), 1, "forks list: %s", out);
    cr_expect(out != NULL && strstr(out, "fork 1 of CN-BJ") != NULL, "%s", out);
    free(out);
    cr_expect_eq(gwctl(TJ, &out, "forks", "list", "--json", NULL, NULL), 1, "forks list --json: %s", out);
    json_error_t jerr;
    json_t *doc = out != NULL ? json_loads(out, 0, &jerr) : NULL;
    cr_expect(doc != NULL && json_array_size(json_object_get(doc, "forks")) == 2, "%s", out);
    json_decref(doc);
    free(out);
    cr_expect_eq(gwctl(TJ, &out, "forks", "ack", "1", "--reason", "short"), 4, "a short reason");
    free(out);
    cr_expect_eq(gwctl(TJ, &out, "forks", "ack", "99", "--reason", "incident 4711: checked"), 4,
                 "an unknown fork");
    free(out);
    cr_expect_eq(gwctl(TJ, &out, "forks", "ack", "1", "--reason", "incident 4711: CN-BJ's store restored"),
                 0, "%s", out);
    free(out);
    cr_expect_eq(forks_metric(TJ, "CN-BJ"), 1, "one fork left");
    cr_expect_eq(gwctl(TJ, &out, "forks", "ack", "2", "--reason", "incident 4711: CN-BJ's store restored"),
                 0, "%s", out);
    free(out);
    cr_expect_eq(forks_metric(TJ, "CN-BJ"), 0, "the alarm is down");
    cr_expect_eq(gwctl(TJ, &out, "forks", "list", NULL, NULL, NULL), 0, "forks list: %s", out);
    free(out);
    Carbon__V1__ListForksResponse *l = list_forks(TJ, 1);
    cr_assert_eq(l->n_forks, 2, "the evidence stays");
    cr_expect(l->forks[0]->acknowledged && strstr(l->forks[0]->acknowledged_by, "CN-TJ/operator") != NULL,
              "acknowledged by %s", l->forks[0]->acknowledged_by);
    cr_expect_str_eq(l->forks[0]->acknowledge_reason, "incident 4711: CN-BJ's store restored");
    cr_expect_gt(l->forks[0]->acknowledged_unix_ms, 0);
    protobuf_c_message_free_unpacked(&l->base, NULL);
    /* each acknowledgement is an entry of TJ's own log */
    Carbon__V1__ReadLogResponse *r = read_log(TJ);
    cr_assert_geq(r->n_entries, 2);
    const Carbon__V1__AuditEntry *e = r->entries[r->n_entries - 1];
    cr_expect_str_eq(e->event, "ack-fork");
    cr_expect(e->n_ids == 1 && strcmp(e->ids[0], "2") == 0, "ids of the ack-fork entry");
    cr_expect(e->n_detail == 3 && strcmp(e->detail[0], "CN-BJ") == 0 &&
                  strstr(e->detail[1], "CN-TJ/operator") != NULL &&
                  strcmp(e->detail[2], "incident 4711: CN-BJ's store restored") == 0,
              "details of the ack-fork entry");
    cr_expect_str_eq(r->entries[r->n_entries - 2]->event, "ack-fork");
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

Test(witness, witness_refusals) {
    start(2);
    fake_log_t log;
    fake_log(&log, 12, ENTRIES_MAX);
    char *held = witness_state(TJ);
    cr_assert(strstr(held, "HGETALL " STORE_KEY_CHECKPOINT_WITNESS_PREFIX "CN-BJ:\n") != NULL,
              "TJ holds something of CN-BJ already:\n%s", held);
    free(held);
    cosign_two(&log);
    refuse_bad_ones(&log);
    refuse_forks(&log);
    acknowledge();
}

/* ---- end to end: a history rewritten in a region's store ---------------------------- */

/* The newest own checkpoint of instance i (its signed note with the peers'
 * cosignature lines): its size and how many of the given witnesses' lines
 * verify (their pinned keys from the dev PKI). */
static uint64_t own_checkpoint(int i, const char *const *witnesses, size_t n, size_t *cosigned) {
    char cert[32];
    snprintf(cert, sizeof cert, "%s-auditor", federation_region(fed, i));
    Carbon__V1__GetCheckpointRequest req = CARBON__V1__GET_CHECKPOINT_REQUEST__INIT;
    ProtobufCMessage *m = NULL;
    client_status_t st;
    cr_assert_eq(client_call(federation_channel(fed, i, cert), "/carbon.v1.Audit/GetCheckpoint",
                             &req.base, &carbon__v1__get_checkpoint_response__descriptor, &m,
                             CALL_TIMEOUT_MS, &st),
                 GRPC_STATUS_OK, "GetCheckpoint: %s", st.details);
    Carbon__V1__GetCheckpointResponse *r = (Carbon__V1__GetCheckpointResponse *)m;
    uint64_t size = 0;
    *cosigned = 0;
    note_opened_t opened;
    checkpoint_t cp;
    char why[256];
    for (size_t k = 0; k < n && r->own_checkpoint.len > 0; k++) {
        char name[WITNESS_NAME_SIZE];
        witness_key_name(witnesses[k], name);
        EVP_PKEY *pub = pki_key(witnesses[k], 0);
        note_verifier_t v;
        cr_assert_eq(note_verifier_from_key(name, NOTE_TYPE_COSIGNATURE_V1, pub, &v, why, sizeof why), NOTE_OK);
        EVP_PKEY_free(pub);
        if (note_open((const char *)r->own_checkpoint.data, r->own_checkpoint.len, &v, 1, &opened,
                      why, sizeof why) == NOTE_OK) {
            (*cosigned)++;
            cr_assert_eq(checkpoint_parse(opened.text, opened.text_len, &cp, why, sizeof why), NOTE_OK);
            size = cp.size;
        }
    }
    protobuf_c_message_free_unpacked(m, NULL);
    return size;
}

/* Waits until instance i's log holds needle at least n times (at most timeout_ms). */
static void wait_log(int i, const char *needle, int n, int timeout_ms) {
    long long until = proc_now_ms() + timeout_ms;
    while (federation_log_count(fed, i, needle) < n) {
        cr_assert(proc_now_ms() < until, "%s's log: no %s after %d ms", federation_region(fed, i), needle,
                  timeout_ms);
        proc_sleep_ms(50);
    }
}

/* The number of entries of instance i's log (ReadLog's head_seq). */
static uint64_t log_size(int i) {
    char cert[32];
    snprintf(cert, sizeof cert, "%s-auditor", federation_region(fed, i));
    Carbon__V1__ReadLogRequest req = CARBON__V1__READ_LOG_REQUEST__INIT;
    req.from_seq = 1;
    req.limit = 1;
    ProtobufCMessage *m = NULL;
    client_status_t st;
    cr_assert_eq(client_call(federation_channel(fed, i, cert), "/carbon.v1.Audit/ReadLog", &req.base,
                             &carbon__v1__read_log_response__descriptor, &m, CALL_TIMEOUT_MS, &st),
                 GRPC_STATUS_OK, "ReadLog: %s", st.details);
    uint64_t n = ((Carbon__V1__ReadLogResponse *)m)->head_seq;
    protobuf_c_message_free_unpacked(m, NULL);
    return n;
}

static void open_account(int i, const char *id) {
    static const char *const certs[] = {"CN-TJ-registry", "CN-BJ-registry", "CN-HE-registry"};
    client_status_t st;
    cr_assert_eq(rc_open(federation_channel(fed, i, certs[i]), id, &st), GRPC_STATUS_OK, "%s", st.details);
}

/* Rewrites entry seq of instance i's log in Redis (one byte of its id list
 * changed, the length kept) and deletes the tree, so that the integrator
 * rebuilds a tree that agrees with the rewritten entries. */
static void rewrite_history(int i, const char *seq, const char *from, const char *to) {
    redisContext *c = redis_connect(federation_redis(fed, i));
    cr_assert_not_null(c);
    size_t len = 0;
    char *entry = redis_log_entry(c, strtoull(seq, NULL, 10), &len);
    cr_assert_not_null(entry, "no entry %s", seq);
    char *at = strstr(entry, from);
    cr_assert_not_null(at, "entry %s has no '%s': %s", seq, from, entry);
    cr_assert_eq(strlen(from), strlen(to));
    memcpy(at, to, strlen(to));
    redisReply *r = redisCommand(c, "HSET %s %s %b", STORE_KEY_LOG_ENTRIES, seq, entry, len);
    cr_assert_not_null(r);
    freeReplyObject(r);
    cr_assert_eq(redis_delete_log_tree(c), 0);
    free(entry);
    redisFree(c);
}

/* Instance i's GetCheckpoint names, among what it witnessed, region's
 * checkpoint of size with its own cosignature line, which verifies. */
static void expect_witnessed(int i, const char *region, uint64_t size) {
    char cert[32], name[WITNESS_NAME_SIZE], why[256];
    snprintf(cert, sizeof cert, "%s-auditor", federation_region(fed, i));
    Carbon__V1__GetCheckpointRequest req = CARBON__V1__GET_CHECKPOINT_REQUEST__INIT;
    ProtobufCMessage *m = NULL;
    client_status_t st;
    cr_assert_eq(client_call(federation_channel(fed, i, cert), "/carbon.v1.Audit/GetCheckpoint",
                             &req.base, &carbon__v1__get_checkpoint_response__descriptor, &m,
                             CALL_TIMEOUT_MS, &st), GRPC_STATUS_OK, "%s", st.details);
    Carbon__V1__GetCheckpointResponse *r = (Carbon__V1__GetCheckpointResponse *)m;
    const Carbon__V1__WitnessedCheckpoint *w = NULL;
    for (size_t k = 0; k < r->n_witnessed; k++)
        if (strcmp(r->witnessed[k]->region, region) == 0) w = r->witnessed[k];
    cr_assert_not_null(w, "%s witnessed nothing of %s", federation_region(fed, i), region);
    witness_key_name(federation_region(fed, i), name);
    EVP_PKEY *pub = pki_key(federation_region(fed, i), 0);
    note_verifier_t v;
    cr_assert_eq(note_verifier_from_key(name, NOTE_TYPE_COSIGNATURE_V1, pub, &v, why, sizeof why), NOTE_OK);
    EVP_PKEY_free(pub);
    char both[2 * NOTE_BYTES_MAX];
    cr_assert(w->checkpoint.len + w->cosignature.len <= sizeof both);
    memcpy(both, w->checkpoint.data, w->checkpoint.len);
    memcpy(both + w->checkpoint.len, w->cosignature.data, w->cosignature.len);
    note_opened_t opened;
    checkpoint_t cp;
    cr_assert_eq(note_open(both, w->checkpoint.len + w->cosignature.len, &v, 1, &opened, why, sizeof why),
                 NOTE_OK, "the witnessed cosignature: %s", why);
    cr_assert_eq(checkpoint_parse(opened.text, opened.text_len, &cp, why, sizeof why), NOTE_OK);
    cr_expect_eq(cp.size, size);
    protobuf_c_message_free_unpacked(m, NULL);
}

/* Three regions, real checkpointers and witnesses: once CN-BJ and CN-HE have
 * cosigned CN-TJ's log, an account id in entry 1 of CN-TJ's log is changed
 * in Redis and the tree deleted, so that CN-TJ's integrator rebuilds a tree
 * that agrees with the rewritten entries (as an attacker with the store
 * would); one more account is opened. At CN-TJ's next checkpoint both peers
 * refuse it as a fork and raise the alarm within one checkpoint interval
 * (harness: 300 ms) of it: metric, ListForks, `gwctl forks list` exit 1.
 * Acknowledging clears the alarm. */
Test(witness, witness_rewritten_history) {
    start(3);
    open_account(TJ, "tj-alice");
    open_account(TJ, "tj-bob");
    static const char *const peers[] = {"CN-BJ", "CN-HE"};
    long long until = proc_now_ms() + 20000;
    size_t cosigned = 0;
    uint64_t size = 0, want = log_size(TJ);
    while ((size = own_checkpoint(TJ, peers, 2, &cosigned)) != want || cosigned != 2) {
        cr_assert(proc_now_ms() < until, "CN-TJ's checkpoint of size %" PRIu64 " cosigned by %zu "
                  "peers, not size %" PRIu64 " by 2", size, cosigned, want);
        proc_sleep_ms(50);
    }
    cr_assert_eq(forks_metric(BJ, "CN-TJ"), 0);
    expect_witnessed(BJ, "CN-TJ", size);
    rewrite_history(TJ, "1", "tj-alice", "tj-malle");
    open_account(TJ, "tj-carol");
    long long rewritten_ms = proc_now_ms();
    until = rewritten_ms + 10000;
    while (forks_metric(BJ, "CN-TJ") < 1 || forks_metric(HE, "CN-TJ") < 1) {
        cr_assert(proc_now_ms() < until, "no fork alarm at CN-BJ and CN-HE after 10 s");
        proc_sleep_ms(20);
    }
    long long alarm_ms = proc_now_ms() - rewritten_ms;
    fprintf(stderr, "witness_rewritten_history: alarm at both peers %lld ms after the rewrite\n", alarm_ms);
    cr_expect_lt(alarm_ms, 2000, "the alarm took %lld ms", alarm_ms);
    for (int w = BJ; w <= HE; w++) {
        Carbon__V1__ListForksResponse *l = list_forks(w, 0);
        cr_assert_eq(l->n_forks, 1, "%s lists %zu forks", federation_region(fed, w), l->n_forks);
        cr_expect_str_eq(l->forks[0]->region, "CN-TJ");
        protobuf_c_message_free_unpacked(&l->base, NULL);
        char *out = NULL;
        cr_expect_eq(gwctl(w, &out, "forks", "list", NULL, NULL, NULL), 1, "%s", out);
        cr_expect(out != NULL && strstr(out, "of CN-TJ") != NULL, "%s", out);
        free(out);
        cr_expect_geq(federation_log_count(fed, w, "\"audit_fork\""), 1);
        cr_expect_eq(gwctl(w, &out, "forks", "ack", "1", "--reason", "incident 13: CN-TJ rewrote entry 1"),
                     0, "%s", out);
        free(out);
        cr_expect_eq(forks_metric(w, "CN-TJ"), 0, "the alarm is down");
        cr_expect_eq(gwctl(w, &out, "forks", "list", NULL, NULL, NULL), 0, "%s", out);
        free(out);
    }
    cr_expect_geq(federation_log_count(fed, TJ, "\"checkpoint_refused_by_peer\""), 2);
}

/* Waits (20 s at most) until CN-BJ has cosigned CN-TJ's whole log; its size. */
static uint64_t tj_log_cosigned_by_bj(void) {
    static const char *const peers[] = {"CN-BJ"};
    long long until = proc_now_ms() + 20000;
    size_t cosigned = 0;
    uint64_t want = log_size(TJ);
    while (own_checkpoint(TJ, peers, 1, &cosigned) != want || cosigned != 1) {
        cr_assert(proc_now_ms() < until, "CN-TJ's checkpoint of size %" PRIu64 " was not cosigned", want);
        proc_sleep_ms(50);
    }
    return want;
}

/* The size of instance i's newest own checkpoint, from its store (0: none). */
static uint64_t newest_signed(int i) {
    redisContext *c = redis_connect(federation_redis(fed, i));
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, "ZREVRANGE %s 0 0", STORE_KEY_CHECKPOINT_OWN_SIZES);
    cr_assert(r != NULL && r->type == REDIS_REPLY_ARRAY);
    uint64_t size = r->elements == 1 ? strtoull(r->element[0]->str, NULL, 10) : 0;
    freeReplyObject(r);
    redisFree(c);
    return size;
}

/* An attacker with CN-TJ's Redis (and no key) sets its tree's head to 2^40
 * entries with a made-up root, to have CN-TJ sign it and freeze its
 * witnesses there. CN-TJ signs only what it recomputes from its last signed
 * checkpoint and the entries after it: the made-up tree is never signed, the
 * witnesses keep the honest size, and CN-TJ says why, once. (Before, its
 * checkpointer signed whatever head the store held.) */
Test(witness, an_inflated_tree_in_the_store_is_never_signed) {
    start(2);
    open_account(TJ, "tj-alice");
    open_account(TJ, "tj-bob");
    char iid[33];
    rc_new_id(iid);
    client_status_t ist;
    cr_assert_eq(rc_issue(federation_channel(fed, TJ, "CN-TJ-registry"), iid, "tj-alice", "TJ-GT-01", 100000,
                          "activity-inflated", NULL, &ist),
                 GRPC_STATUS_OK, "%s", ist.details); /* serial CN-TJ:1, for the trace below */
    uint64_t want = tj_log_cosigned_by_bj();
    redisContext *c = redis_connect(federation_redis(fed, TJ));
    cr_assert_not_null(c);
    freeReplyObject(redisCommand(c, "HSET %s size 1099511627776 root %s", STORE_KEY_LOG_TREE,
                                 "abababababababababababababababababababababababababababababababab"));
    redisFree(c);
    wait_log(TJ, "\"audit_tree_not_signed\"", 1, 10000);
    proc_sleep_ms(4 * 300); /* four checkpoint intervals of the harness (gateway_harness.c) */
    cr_assert_eq(newest_signed(TJ), want, "CN-TJ signed the made-up tree");
    expect_witnessed(BJ, "CN-TJ", want);
    cr_assert_eq(federation_log_count(fed, TJ, "\"audit_tree_not_signed\""), 1, "said once, not at every tick");
    cr_assert_geq(federation_log_count(fed, TJ, "\"audit_integration_failed\""), 1);
    /* The tree cut below the signed checkpoint: a trace cannot be proved,
     * and the gateway says its data failed (DATA_LOSS), not "unavailable". */
    c = redis_connect(federation_redis(fed, TJ));
    cr_assert_not_null(c);
    /* no gateway may integrate meanwhile (it would grow the cut tree back
     * before the Trace below): the integrator's lease is someone else's */
    freeReplyObject(redisCommand(c, "SET %s someone-else PX 60000", STORE_KEY_LEASE_INTEGRATOR));
    proc_sleep_ms(300); /* a pass already under way ends */
    freeReplyObject(redisCommand(c, "HSET %s size 1", STORE_KEY_LOG_TREE));
    redisFree(c);
    Carbon__V1__TraceRequest tr = CARBON__V1__TRACE_REQUEST__INIT;
    tr.subject_case = CARBON__V1__TRACE_REQUEST__SUBJECT_SERIAL;
    tr.serial = "CN-TJ:1";
    ProtobufCMessage *m = NULL;
    client_status_t st;
    grpc_status_code code = client_call(federation_channel(fed, TJ, "CN-TJ-auditor"), "/carbon.v1.Audit/Trace",
                                        &tr.base, &carbon__v1__trace_response__descriptor, &m, CALL_TIMEOUT_MS, &st);
    if (m != NULL) protobuf_c_message_free_unpacked(m, NULL);
    cr_assert_eq(code, GRPC_STATUS_DATA_LOSS, "got %s: %s", client_status_name(code), st.details);
    cr_assert_str_eq(st.reason, "LOG_INCONSISTENT", "%s", st.details);
}

/* AddCheckpoint from old_size with proof[0..proof_n): OK and
 * OLD_SIZE_MISMATCH with witnessed_size 8 (a conflict), as C2SP tlog-witness
 * answers a checkpoint older than the one it holds. */
static void expect_stale(uint64_t old_size, const char *note, size_t len, const merkle_hash_t *proof,
                         size_t proof_n, const char *what) {
    Carbon__V1__AddCheckpointResponse *r = NULL;
    client_status_t st;
    cr_assert_eq(add(TJ, old_size, note, len, proof, proof_n, &r, &st), GRPC_STATUS_OK, "%s: %s (%s)", what,
                 client_status_name(st.code), st.details);
    cr_expect_eq(r->outcome, CARBON__V1__ADD_CHECKPOINT_RESPONSE__OUTCOME__OLD_SIZE_MISMATCH, "%s", what);
    cr_expect_eq(r->witnessed_size, 8, "%s", what);
    cr_expect_eq(r->cosignature.len, 0, "%s: cosigned", what);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* Two gateways of CN-BJ share its store and take turns with the
 * checkpointer lease: gateway A signs size 6 and pauses before sending it;
 * its lease expires, gateway B signs size 8 and the witness cosigns it;
 * then A's size 6 arrives (with A's proof from 4, the size it read before).
 * A consistent older checkpoint is late, not a fork (C2SP tlog-witness: a
 * conflict carrying the size held): answered OLD_SIZE_MISMATCH with 8, no
 * alarm, nothing kept; sent again with PROOF(6, 8) it is proved a prefix
 * and answered the same. (Before, it was kept and alarmed as a fork.) A
 * real fork still alarms: a rewritten size 6 with its PROOF(6, 8), and a
 * rewritten size 4 (this witness cosigned another root at 4). */
Test(witness, a_late_checkpoint_of_a_sibling_gateway_is_stale_not_a_fork) {
    start(2);
    fake_log_t log, rewritten;
    fake_log(&log, 12, ENTRIES_MAX);
    fake_log(&rewritten, 12, 1);
    cosign_two(&log); /* A had 4 cosigned; B: 8 from 4 */
    char *before = witness_state(TJ);
    client_status_t st;
    size_t len = 0;
    merkle_hash_t proof[MERKLE_PROOF_MAX];
    char *late = bj_note(&log, 6, &len);
    size_t proof_n = fake_proof(&log, 4, 6, proof);
    expect_stale(4, late, len, proof, proof_n, "A's size 6 from 4, late");
    /* a late checkpoint of long ago that never got its proof (its sender
     * killed) left its time: this one is a new first arrival, not a fork */
    redisContext *tj_store = redis_connect(federation_redis(fed, TJ));
    cr_assert_not_null(tj_store);
    freeReplyObject(redisCommand(tj_store, "HSET %s late_ms 1", STORE_KEY_CHECKPOINT_WITNESS_PREFIX "CN-BJ"));
    redisFree(tj_store);
    expect_stale(8, late, len, NULL, 0, "A's size 6 from 8, no proof");
    proof_n = fake_proof(&log, 6, 8, proof);
    expect_stale(8, late, len, proof, proof_n, "A's size 6 proved a prefix of 8");
    expect_refused(add(TJ, 8, late, len, proof, proof_n - 1, NULL, &st), &st, GRPC_STATUS_INVALID_ARGUMENT,
                   "BAD_PROOF", "a prefix proof one hash short");
    free(late);
    char *old = bj_note(&log, 4, &len);
    expect_refused(add(TJ, 8, old, len, NULL, 0, NULL, &st), &st, GRPC_STATUS_FAILED_PRECONDITION,
                   "CHECKPOINT_REPLAYED", "size 4 as cosigned: a replay");
    free(old);
    cr_assert_eq(forks_metric(TJ, "CN-BJ"), 0, "a late checkpoint raised the fork alarm");
    Carbon__V1__ListForksResponse *l0 = list_forks(TJ, 1);
    cr_assert_eq(l0->n_forks, 0, "ListForks: %zu records", l0->n_forks);
    protobuf_c_message_free_unpacked(&l0->base, NULL);
    char *after = witness_state(TJ);
    cr_expect_str_eq(after, before, "the witness's state changed");
    free(before);
    free(after);
    /* a real fork still alarms */
    char *other6 = bj_note(&rewritten, 6, &len);
    proof_n = fake_proof(&rewritten, 6, 8, proof);
    expect_refused(add(TJ, 8, other6, len, proof, proof_n, NULL, &st), &st, GRPC_STATUS_FAILED_PRECONDITION,
                   "CHECKPOINT_FORK", "a rewritten size 6 is no prefix of the 8 cosigned");
    free(other6);
    char *other4 = bj_note(&rewritten, 4, &len);
    expect_refused(add(TJ, 8, other4, len, NULL, 0, NULL, &st), &st, GRPC_STATUS_FAILED_PRECONDITION,
                   "CHECKPOINT_FORK", "size 4, another root than the one cosigned");
    free(other4);
    cr_assert_eq(forks_metric(TJ, "CN-BJ"), 2, "the alarm is up for both");
    /* and a checkpoint with an extension line (none of ours has one) is
     * malformed, whatever its size: the reviewer's "ext: split view" */
    merkle_hash_t root = fake_root(&log, 12);
    checkpoint_t cp;
    memset(&cp, 0, sizeof cp);
    snprintf(cp.origin, sizeof cp.origin, "jjj.carbon/CN-BJ/audit");
    cp.size = 12;
    memcpy(cp.root_hash, root.bytes, 32);
    snprintf(cp.extensions, sizeof cp.extensions, "ext: split view\n");
    cp.extensions_len = strlen(cp.extensions);
    char body[CHECKPOINT_BODY_BYTES_MAX + 1], note[NOTE_BYTES_MAX + 1], why[256];
    size_t body_len = 0, note_len = 0;
    cr_assert_eq(checkpoint_format(&cp, body, sizeof body, &body_len, why, sizeof why), NOTE_OK, "%s", why);
    EVP_PKEY *bj = pki_key("CN-BJ", 1);
    cr_assert_eq(note_sign(body, body_len, "jjj.carbon/CN-BJ/audit", bj, note, sizeof note, &note_len, why,
                           sizeof why), NOTE_OK, "%s", why);
    EVP_PKEY_free(bj);
    proof_n = fake_proof(&log, 8, 12, proof);
    expect_refused(add(TJ, 8, note, note_len, proof, proof_n, NULL, &st), &st, GRPC_STATUS_INVALID_ARGUMENT,
                   "MALFORMED_CHECKPOINT", "an extension line");
    Carbon__V1__ListForksResponse *l = list_forks(TJ, 0);
    cr_assert_eq(l->n_forks, 2, "ListForks: %zu forks", l->n_forks);
    protobuf_c_message_free_unpacked(&l->base, NULL);
    /* the evidence is readable by an auditor of another region too (Audit.ListForks) */
    Carbon__V1__ListForksRequest lr = CARBON__V1__LIST_FORKS_REQUEST__INIT;
    ProtobufCMessage *m = NULL;
    cr_assert_eq(client_call(federation_channel(fed, TJ, "CN-BJ-auditor"), "/carbon.v1.Audit/ListForks", &lr.base,
                             &carbon__v1__list_forks_response__descriptor, &m, CALL_TIMEOUT_MS, &st),
                 GRPC_STATUS_OK, "%s", st.details);
    cr_assert_eq(((Carbon__V1__ListForksResponse *)m)->n_forks, 2);
    protobuf_c_message_free_unpacked(m, NULL);
    redisContext *c = redis_connect(federation_redis(fed, TJ));
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, "HGET %s%s size", STORE_KEY_CHECKPOINT_WITNESS_PREFIX, "CN-BJ");
    cr_assert(r != NULL && r->type == REDIS_REPLY_STRING && strcmp(r->str, "8") == 0, "the size held moved");
    freeReplyObject(r);
    redisFree(c);
}

/* The real race, with two gateways of CN-BJ on its store: the first (A)
 * holds the checkpointer lease, signs its checkpoint and stalls just before
 * sending it (test hook CARBON_FAILPOINT_PAUSE, 6 s: past its 3 s lease);
 * the second (B), started meanwhile, takes the lease and sends a larger
 * checkpoint, which CN-TJ cosigns; then A's older one arrives. CN-TJ answers
 * it as late (checkpoint_stale; A proves it a prefix: checkpoint_late) and
 * raises no fork alarm. (Before, CN-TJ kept it as a fork: "none this
 * witness cosigned: the log went back".) */
Test(witness, a_stalled_lease_holders_old_checkpoint_is_no_fork, .timeout = 120) {
    setenv("CARBON_TEST_HOOKS", "1", 1);
    setenv("CARBON_FAILPOINT_PAUSE", "CN-BJ:checkpoint_send:6000", 1);
    start(2);
    unsetenv("CARBON_FAILPOINT_PAUSE");
    open_account(BJ, "bj-a1");
    wait_log(BJ, "\"failpoint_pause\"", 1, 10000); /* A signed and stalls */
    int b = federation_start_second(fed, BJ);
    cr_assert_geq(b, 2, "a second CN-BJ gateway: %s", federation_last_error());
    open_account(BJ, "bj-a2");
    open_account(BJ, "bj-a3");
    long long until = proc_now_ms() + 20000; /* A's old checkpoint reaches CN-TJ */
    while (federation_log_count(fed, TJ, "\"checkpoint_stale\"") < 1 &&
           federation_log_count(fed, TJ, "\"audit_fork\"") < 1) {
        cr_assert(proc_now_ms() < until, "CN-TJ never got A's late checkpoint");
        proc_sleep_ms(50);
    }
    cr_assert_eq(federation_log_count(fed, TJ, "\"audit_fork\""), 0, "CN-TJ took the late checkpoint for a fork");
    wait_log(BJ, "\"checkpoint_late\"", 1, 5000);
    wait_log(TJ, "\"checkpoint_stale\"", 2, 5000); /* A's prefix proof, answered */
    cr_assert_eq(forks_metric(TJ, "CN-BJ"), 0, "the late checkpoint raised the fork alarm");
    Carbon__V1__ListForksResponse *l = list_forks(TJ, 1);
    cr_assert_eq(l->n_forks, 0, "ListForks: %zu records", l->n_forks);
    protobuf_c_message_free_unpacked(&l->base, NULL);
    cr_expect_eq(federation_log_count(fed, TJ, "\"audit_fork\""), 0);
    cr_expect_eq(federation_log_count(fed, BJ, "\"witness_ahead_of_log\""), 0);
    unsetenv("CARBON_TEST_HOOKS");
}

/* CN-TJ loses its store (FLUSHALL: an operator's mistake, a restore from an
 * old backup, or an attacker hiding entries) after CN-BJ cosigned its log,
 * and its new log stays smaller than the size cosigned. Its checkpoints are
 * below what CN-BJ holds and can never be proven a prefix of it: CN-BJ first
 * answers one as late (as it would a paused sibling's) and, when the log
 * still has proven nothing a grace later (3 checkpoint intervals, at least
 * 1 s), raises the fork alarm with both signed checkpoints kept. (Before, it
 * answered every one as late, forever, and no witness alarmed until the new
 * log grew past the size cosigned.) */
Test(witness, a_log_that_went_back_and_stays_smaller_raises_the_alarm, .timeout = 120) {
    start(2);
    open_account(TJ, "tj-alice");
    open_account(TJ, "tj-bob");
    open_account(TJ, "tj-carol");
    uint64_t want = tj_log_cosigned_by_bj();
    expect_witnessed(BJ, "CN-TJ", want);
    redisContext *c = redis_connect(federation_redis(fed, TJ));
    cr_assert_not_null(c);
    freeReplyObject(redisCommand(c, "FLUSHALL"));
    redisFree(c);
    open_account(TJ, "tj-new");
    cr_assert_lt(log_size(TJ), want, "the new log is not smaller");
    long long lost_ms = proc_now_ms();
    long long until = lost_ms + 15000;
    while (forks_metric(BJ, "CN-TJ") < 1) {
        cr_assert(proc_now_ms() < until, "no fork alarm at CN-BJ 15 s after CN-TJ's log went back");
        proc_sleep_ms(50);
    }
    fprintf(stderr, "a_log_that_went_back: alarm at CN-BJ %lld ms after the store was lost\n", proc_now_ms() - lost_ms);
    /* The new log's first checkpoint is answered as late, unless CN-BJ
     * cosigned an old one of the very same size: then its other root is a
     * fork at once (witnessing_smaller), which raced this test before. */
    int stale = federation_log_count(fed, BJ, "\"checkpoint_stale\""),
        same_size = federation_log_count(fed, BJ, "is not the checkpoint of that size cosigned (another root)");
    fprintf(stderr, "a_log_that_went_back: %d answered as late, %d forks at a cosigned size\n", stale, same_size);
    cr_expect(stale >= 1 || same_size >= 1, "the first was neither answered as late nor a fork at a cosigned size");
    Carbon__V1__ListForksResponse *l = list_forks(BJ, 0);
    cr_assert_eq(l->n_forks, 1, "ListForks: %zu records", l->n_forks);
    cr_expect_str_eq(l->forks[0]->region, "CN-TJ");
    protobuf_c_message_free_unpacked(&l->base, NULL);
    expect_witnessed(BJ, "CN-TJ", want); /* the witness never goes back */
}
