/* test_gwctl_proofs.c - what gwctl trace and audit verify check in a
 * region's transparency log (gateway/gwctl/proofs.h): pinned keys from a
 * folder, a checkpoint and its cosignatures, an entry's inclusion proof, and
 * the tree recomputed leaf by leaf against merkle_root. */
#include <criterion/criterion.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/gwctl/proofs.h"

static const char *const regions[] = {"CN-BJ", "CN-HE", "CN-TJ"};
#define BJ 0
#define HE 1
#define TJ 2
static EVP_PKEY *keys[3];
static char dir[64];

static void write_pub(const char *folder, const char *name, EVP_PKEY *key) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", folder, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(PEM_write_PUBKEY(f, key), 1);
    fclose(f);
}

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/gwctl-proofs-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    for (int i = 0; i < 3; i++) {
        keys[i] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        cr_assert_not_null(keys[i]);
        char name[64];
        snprintf(name, sizeof name, "%s-audit-signing.pub", regions[i]);
        write_pub(dir, name, keys[i]);
    }
    char path[256];
    snprintf(path, sizeof path, "%s/README", dir); /* not a key file: skipped */
    FILE *f = fopen(path, "w");
    fputs("pinned keys\n", f);
    fclose(f);
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    for (int i = 0; i < 3; i++) EVP_PKEY_free(keys[i]);
}

TestSuite(gwctl_proofs, .init = setup, .fini = teardown);

/* The entries e0, e1, ... and their leaf hashes. */
static void leaves(merkle_hash_t *out, size_t n, char entries[][16]) {
    for (size_t i = 0; i < n; i++) {
        snprintf(entries[i], 16, "entry-%u", (unsigned)(i % 100000));
        cr_assert_eq(merkle_leaf_hash(entries[i], strlen(entries[i]), &out[i]), MERKLE_OK);
    }
}

/* A signed checkpoint of region r at size n with root, then cosignature lines of each region in cos[]. */
static size_t make_note(char *out, size_t out_size, int r, const char *origin_region, uint64_t n,
                        const merkle_hash_t *root, const int *cos, size_t cos_n, int log_key) {
    checkpoint_t cp = {0};
    snprintf(cp.origin, sizeof cp.origin, "jjj.carbon/%s/audit", origin_region);
    cp.size = n;
    memcpy(cp.root_hash, root->bytes, 32);
    char body[CHECKPOINT_BODY_BYTES_MAX + 1], why[256], name[128];
    size_t body_len = 0, len = 0;
    cr_assert_eq(checkpoint_format(&cp, body, sizeof body, &body_len, why, sizeof why), NOTE_OK, "%s", why);
    snprintf(name, sizeof name, "jjj.carbon/%s/audit", regions[r]);
    cr_assert_eq(note_sign(body, body_len, name, keys[log_key], out, out_size, &len, why, sizeof why), NOTE_OK,
                 "%s", why);
    for (size_t k = 0; k < cos_n; k++) {
        char line[NOTE_OWN_SIG_LINE_SIZE];
        size_t line_len = 0;
        snprintf(name, sizeof name, "jjj.carbon/%s/witness", regions[cos[k]]);
        cr_assert_eq(note_cosign_line(body, body_len, name, keys[cos[k]], 1764480000u + k, line, sizeof line,
                                      &line_len, why, sizeof why),
                     NOTE_OK, "%s", why);
        cr_assert_lt(len + line_len, out_size);
        memcpy(out + len, line, line_len + 1);
        len += line_len;
    }
    return len;
}

Test(gwctl_proofs, the_tree_grown_leaf_by_leaf_has_merkle_roots_root_at_every_size) {
    enum { N = 300 };
    static merkle_hash_t hs[N];
    static char entries[N][16];
    leaves(hs, N, entries);
    gwctl_tree_t t = {0};
    for (size_t n = 0; n <= N; n++) {
        merkle_hash_t want, got;
        cr_assert_eq(merkle_root(merkle_leaf_array_read, &(merkle_leaf_array_t){hs, n}, n, &want), MERKLE_OK);
        cr_assert_eq(gwctl_tree_root(&t, &got), MERKLE_OK);
        cr_assert(merkle_hash_equal(&want, &got), "size %zu", n);
        cr_assert_leq(t.depth, 9u, "one subtree per bit of the size");
        if (n < N) cr_assert_eq(gwctl_tree_append(&t, &hs[n]), MERKLE_OK);
    }
}

Test(gwctl_proofs, pins_come_from_the_folder_sorted_and_a_bad_key_file_is_refused) {
    gwctl_pins_t p;
    char why[256] = "";
    cr_assert_eq(gwctl_pins_load(&p, dir, why, sizeof why), 0, "%s", why);
    cr_assert_eq(p.n, 3);
    cr_assert_str_eq(p.pins[0].region, "CN-BJ");
    cr_assert_str_eq(p.pins[2].region, "CN-TJ");
    cr_assert_str_eq(p.pins[2].log.name, "jjj.carbon/CN-TJ/audit");
    cr_assert_str_eq(p.pins[2].witness.name, "jjj.carbon/CN-TJ/witness");
    cr_assert_eq(p.pins[2].witness.type, NOTE_TYPE_COSIGNATURE_V1);
    cr_assert_not_null(gwctl_pin_of(&p, "CN-HE"));
    cr_assert_null(gwctl_pin_of(&p, "CN-SH"));
    cr_assert_eq(gwctl_pins_load(&p, NULL, why, sizeof why), 0);
    cr_assert_eq(p.n, 0);
    char path[256];
    snprintf(path, sizeof path, "%s/CN-SH-audit-signing.pub", dir);
    FILE *f = fopen(path, "w");
    fputs("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n", f);
    fclose(f);
    cr_assert_eq(gwctl_pins_load(&p, dir, why, sizeof why), -1);
    cr_assert(strstr(why, "CN-SH-audit-signing.pub: not an Ed25519 public key") != NULL, "%s", why);
}

Test(gwctl_proofs, a_checkpoint_verifies_with_its_cosigners_named) {
    gwctl_pins_t p;
    char why[256] = "", note[4096];
    cr_assert_eq(gwctl_pins_load(&p, dir, why, sizeof why), 0, "%s", why);
    merkle_hash_t root = {{1, 2, 3}};
    int cos[] = {HE, BJ};
    size_t len = make_note(note, sizeof note, TJ, "CN-TJ", 12, &root, cos, 2, TJ);
    gwctl_checkpoint_t cp;
    cr_assert_eq(gwctl_checkpoint_open(&p, "CN-TJ", note, len, &cp, why, sizeof why), 0, "%s", why);
    cr_assert_eq(cp.body.size, 12);
    cr_assert(merkle_hash_equal(&cp.root, &root));
    cr_assert_eq(cp.cosigners_n, 2);
    cr_assert_str_eq(cp.cosigners[0], "CN-HE"); /* in line order */
    cr_assert_str_eq(cp.cosigners[1], "CN-BJ");
    cr_assert_eq(cp.cosigned_s[1], 1764480001u);
    /* none cosigned: still a checkpoint, with no cosigners */
    len = make_note(note, sizeof note, TJ, "CN-TJ", 12, &root, NULL, 0, TJ);
    cr_assert_eq(gwctl_checkpoint_open(&p, "CN-TJ", note, len, &cp, why, sizeof why), 0, "%s", why);
    cr_assert_eq(cp.cosigners_n, 0);
}

Test(gwctl_proofs, a_bad_cosignature_a_foreign_signer_or_a_wrong_origin_is_refused_or_not_counted) {
    gwctl_pins_t p;
    char why[256] = "", note[4096];
    cr_assert_eq(gwctl_pins_load(&p, dir, why, sizeof why), 0, "%s", why);
    merkle_hash_t root = {{9}};
    int cos[] = {BJ};
    gwctl_checkpoint_t cp;
    /* a cosignature byte changed: the whole note is refused */
    size_t len = make_note(note, sizeof note, TJ, "CN-TJ", 5, &root, cos, 1, TJ);
    char *last = strrchr(note, '=') != NULL ? strrchr(note, '=') - 3 : note + len - 4;
    *last = *last == 'A' ? 'B' : 'A';
    cr_assert_eq(gwctl_checkpoint_open(&p, "CN-TJ", note, len, &cp, why, sizeof why), -1);
    cr_assert(strstr(why, "does not verify") != NULL, "%s", why);
    /* CN-TJ's own witness key cosigning its own checkpoint is not a peer's */
    int self[] = {TJ};
    len = make_note(note, sizeof note, TJ, "CN-TJ", 5, &root, self, 1, TJ);
    cr_assert_eq(gwctl_checkpoint_open(&p, "CN-TJ", note, len, &cp, why, sizeof why), 0, "%s", why);
    cr_assert_eq(cp.cosigners_n, 0);
    /* signed by CN-BJ's key under CN-TJ's name: not CN-TJ's checkpoint */
    len = make_note(note, sizeof note, TJ, "CN-TJ", 5, &root, cos, 1, BJ);
    cr_assert_eq(gwctl_checkpoint_open(&p, "CN-TJ", note, len, &cp, why, sizeof why), -1);
    cr_assert(strstr(why, "CN-TJ") != NULL, "%s", why);
    /* CN-TJ's key, but the origin is another log */
    len = make_note(note, sizeof note, TJ, "CN-BJ", 5, &root, NULL, 0, TJ);
    cr_assert_eq(gwctl_checkpoint_open(&p, "CN-TJ", note, len, &cp, why, sizeof why), -1);
    cr_assert(strstr(why, "names the log \"jjj.carbon/CN-BJ/audit\"") != NULL, "%s", why);
    /* a region without a pinned key, and an empty note */
    cr_assert_eq(gwctl_checkpoint_open(&p, "CN-SH", note, len, &cp, why, sizeof why), -1);
    cr_assert(strstr(why, "no pinned key for CN-SH") != NULL, "%s", why);
    cr_assert_eq(gwctl_checkpoint_open(&p, "CN-TJ", "", 0, &cp, why, sizeof why), -1);
    cr_assert(strstr(why, "has no checkpoint") != NULL, "%s", why);
}

Test(gwctl_proofs, an_inclusion_proof_checks_the_entry_bytes_the_leaf_and_the_size) {
    enum { N = 7 };
    merkle_hash_t hs[N];
    char entries[N][16];
    leaves(hs, N, entries);
    merkle_leaf_array_t arr = {hs, N};
    gwctl_checkpoint_t cp = {0};
    cp.body.size = N;
    cr_assert_eq(merkle_root(merkle_leaf_array_read, &arr, N, &cp.root), MERKLE_OK);
    merkle_hash_t proof[MERKLE_PROOF_MAX];
    size_t proof_n = 0;
    cr_assert_eq(merkle_inclusion_proof(merkle_leaf_array_read, &arr, 4, N, proof, &proof_n), MERKLE_OK);
    ProtobufCBinaryData h[MERKLE_PROOF_MAX];
    for (size_t k = 0; k < proof_n; k++) h[k] = (ProtobufCBinaryData){32, proof[k].bytes};
    char why[256] = "";
    const char *e = entries[4];
    cr_assert_eq(gwctl_inclusion_check(&cp, 5, e, strlen(e), 4, N, h, proof_n, why, sizeof why), 0, "%s", why);
    char tampered[16];
    memcpy(tampered, e, sizeof tampered);
    tampered[0] ^= 1;
    cr_assert_eq(gwctl_inclusion_check(&cp, 5, tampered, strlen(e), 4, N, h, proof_n, why, sizeof why), -1);
    cr_assert(strstr(why, "entry 5 is not in the checkpoint's tree of size 7") != NULL, "%s", why);
    cr_assert_eq(gwctl_inclusion_check(&cp, 5, e, strlen(e), 3, N, h, proof_n, why, sizeof why), -1);
    cr_assert_eq(gwctl_inclusion_check(&cp, 5, e, strlen(e), 4, N - 1, h, proof_n, why, sizeof why), -1);
    cr_assert(strstr(why, "the checkpoint's is 7") != NULL, "%s", why);
    cr_assert_eq(gwctl_inclusion_check(&cp, 5, e, strlen(e), 4, N, h, proof_n - 1, why, sizeof why), -1);
    h[0].len = 31;
    cr_assert_eq(gwctl_inclusion_check(&cp, 5, e, strlen(e), 4, N, h, proof_n, why, sizeof why), -1);
    cr_assert(strstr(why, "31 bytes") != NULL, "%s", why);
    cr_assert_eq(gwctl_inclusion_check(&cp, 0, e, strlen(e), 4, N, h, proof_n, why, sizeof why), -1);
}

/* A retirement entry (docs/audit-log.md) and the fields an honest gateway decodes from it. */
static const char retire_entry[] =
    "14:carbon-audit/3,2:42,13:1764480000001,6:retire,"
    "43:32:0123456789abcdef0123456789abcdef,4:tj-a,,"
    "41:37:5:CN-TJ,8:TJ-GT-01,4:2026,1:1,4:1000,,,"
    "43:20:voluntary_neutrality,15:Acme Co.,|:Ltd.,,";

Test(gwctl_proofs, the_gateways_decoded_fields_must_be_what_the_entry_says) {
    audit_entry_t d;
    char why[160] = "";
    cr_assert_eq(audit_entry_parse(42, retire_entry, sizeof retire_entry - 1, &d, why, sizeof why), 0, "%s", why);
    char *ids[] = {"0123456789abcdef0123456789abcdef", "tj-a"};
    char *detail[] = {"voluntary_neutrality", "Acme Co.,|:Ltd."};
    Carbon__V1__CreditBlock b = CARBON__V1__CREDIT_BLOCK__INIT, *bp = &b;
    b.origin_region = "CN-TJ";
    b.methodology_id = "TJ-GT-01";
    b.vintage_year = 2026;
    b.serial_start = 1;
    b.serial_end = 1000;
    Carbon__V1__AuditEntry m = CARBON__V1__AUDIT_ENTRY__INIT;
    m.seq = 42;
    m.time_unix_ms = 1764480000001u;
    m.event = "retire";
    m.n_ids = 2;
    m.ids = ids;
    m.n_blocks = 1;
    m.blocks = &bp;
    m.n_detail = 2;
    m.detail = detail;
    cr_assert_eq(gwctl_entry_fields_match(&m, &d), 1);
    /* each field a gateway could misreport */
    b.serial_end = 999;
    cr_assert_eq(gwctl_entry_fields_match(&m, &d), 0);
    b.serial_end = 1000;
    ids[1] = "tj-b";
    cr_assert_eq(gwctl_entry_fields_match(&m, &d), 0);
    ids[1] = "tj-a";
    detail[1] = "Acme Co.";
    cr_assert_eq(gwctl_entry_fields_match(&m, &d), 0);
    detail[1] = "Acme Co.,|:Ltd.";
    m.event = "issue";
    cr_assert_eq(gwctl_entry_fields_match(&m, &d), 0);
    m.event = "retire";
    m.time_unix_ms++;
    cr_assert_eq(gwctl_entry_fields_match(&m, &d), 0);
    m.time_unix_ms--;
    m.n_ids = 1;
    cr_assert_eq(gwctl_entry_fields_match(&m, &d), 0);
    m.n_ids = 2;
    cr_assert_eq(gwctl_entry_fields_match(&m, &d), 1);
    audit_entry_free(&d);
}
