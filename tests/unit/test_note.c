/* test_note.c - signed notes, checkpoints and cosignatures (settlement/note.h)
 * and the canonical base64 under them (common/base64.h).
 *
 * Known answers come from:
 *  [SN]  C2SP signed-note, "Verifier keys / Example" (github.com/C2SP/C2SP,
 *        signed-note.md): the vkey example.com/foo and its signed note.
 *  [GO]  golang.org/x/mod/sumdb/note/note_test.go (github.com/golang/mod):
 *        TestNewVerifier, TestSign, TestOpen (the PeterNeumann and EnochRoot
 *        keys, the PeterNeumann private key seed, exact signed bytes).
 *  [CP]  C2SP tlog-checkpoint.md: the example.com/behind-the-sofa body.
 *  [CS]  C2SP tlog-cosignature.md: the cosigned message for that body at
 *        time 1679315147, and the witness.example.com/w1 line's timestamp.
 *  [TF]  github.com/transparency-dev/formats note/note_cosigv1_test.go:
 *        TestCoSigV1Timestamp and TestCoSigV1NewVerifier vkeys (type 0x04
 *        remora.n621.de, type 0x01 TEST with '+' in its base64).
 *  [PY]  the cosignature line of [CS]'s message by the [GO] seed, computed
 *        independently with Python's hashlib and cryptography (Ed25519 is
 *        deterministic): no public vector carries a known cosigner key. */
#include <criterion/criterion.h>

#include <openssl/evp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "settlement/note.h"

/* ---- fixtures ---------------------------------------------------------------- */

#define SN_VKEY "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
#define SN_NOTE                                                                                    \
    "This is an example message.\n\n— example.com/foo "                                           \
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"

#define PETER_VKEY "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define ENOCH_VKEY "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
/* The seed inside [GO]'s "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALV..." */
static const unsigned char PETER_SEED[32] = {
    0x81, 0x0a, 0x14, 0x02, 0xd5, 0x14, 0x6c, 0x8d, 0x84, 0xf2, 0x44, 0x33, 0x30, 0xf5, 0x40, 0x80,
    0xeb, 0xf9, 0x8e, 0xe1, 0x7d, 0x9c, 0x74, 0xf6, 0x25, 0x2f, 0xc5, 0xd5, 0xc7, 0x28, 0x31, 0x73};
#define GO_TEXT                                                                                    \
    "If you think cryptography is the answer to your problem,\nthen you don't know what your "     \
    "problem is.\n"
#define PETER_SIG                                                                                  \
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6" \
    "KE6RyyBwJnAM=\n"
#define ENOCH_SIG                                                                                  \
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WW" \
    "d1RvMc+QQ=\n"

#define CP_BODY "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
#define CS_TIME 1679315147u
#define CS_WITNESS_LINE                                                                            \
    "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2o" \
    "yin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
#define PY_COSIG_VKEY "witness.example.com/w1+d46a2b1b+BBpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define PY_COSIG_LINE                                                                              \
    "— witness.example.com/w1 1GorGwAAAABkGFDLJeR//pqzhnEKVvEm2wWbh2RJ6oru5+cUUfm5X9NnlaGr8aSH9QE5R" \
    "VZD4QGlxl2F5UpVIIi94p178KLfqPPsAA==\n"

static EVP_PKEY *peter_key(void) {
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, PETER_SEED, sizeof PETER_SEED);
    cr_assert_not_null(k);
    return k;
}

static EVP_PKEY *fresh_key(void) {
    EVP_PKEY *k = NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    cr_assert(c != NULL && EVP_PKEY_keygen_init(c) == 1 && EVP_PKEY_keygen(c, &k) == 1);
    EVP_PKEY_CTX_free(c);
    return k;
}

static note_verifier_t vkey(const char *text) {
    note_verifier_t v;
    char why[256] = "";
    note_status_t s = note_verifier_parse(text, strlen(text), &v, why, sizeof why);
    cr_assert_eq(s, NOTE_OK, "%s: %s", text, why);
    return v;
}

static note_status_t open_str(const char *note, const note_verifier_t *vs, size_t n, note_opened_t *o,
                              char *why, size_t why_size) {
    return note_open(note, strlen(note), vs, n, o, why, why_size);
}

/* ---- base64 ------------------------------------------------------------------ */

Test(base64, rfc4648_vectors_and_canonical_only) {
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) { /* RFC 4648 section 10 */
        char out[16];
        unsigned char back[8];
        cr_assert_eq(base64_encode(plain[i], strlen(plain[i]), out, sizeof out), (int)strlen(enc[i]));
        cr_assert_str_eq(out, enc[i]);
        cr_assert_eq(base64_decode(enc[i], strlen(enc[i]), back, sizeof back), (int)strlen(plain[i]));
        cr_assert_eq(memcmp(back, plain[i], strlen(plain[i])), 0);
    }
    const char *bad[] = {"Zg", "Zh==", "Zm9=", "Zg=a", "Z===", "=Zg=", "Zm 9", "Zm9v\n", "Zg==Zg==", "Zm-_"};
    unsigned char b[16];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(base64_decode(bad[i], strlen(bad[i]), b, sizeof b), -1, "%s", bad[i]);
    cr_assert_eq(base64_decode("Zm9vYmFy", 8, b, 5), -1, "output too small");
}

/* ---- keys ---------------------------------------------------------------------- */

Test(note_keys, vkeys_of_the_references_parse) {
    note_verifier_t v = vkey(PETER_VKEY); /* [GO] */
    cr_assert_str_eq(v.name, "PeterNeumann");
    cr_assert_eq(v.key_id, 0xc74f20a3u);
    cr_assert_eq(v.type, NOTE_TYPE_ED25519);
    v = vkey(SN_VKEY); /* [SN] */
    cr_assert_eq(v.key_id, 0x530d903au);
    v = vkey("remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"); /* [TF] */
    cr_assert_eq(v.type, NOTE_TYPE_COSIGNATURE_V1);
    v = vkey("TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"); /* [TF], '+' in base64 */
    cr_assert_eq(v.key_id, 0x7997405cu);
    char out[NOTE_VKEY_SIZE];
    v = vkey(PETER_VKEY);
    cr_assert_eq(note_verifier_format(&v, out, sizeof out), (int)strlen(PETER_VKEY));
    cr_assert_str_eq(out, PETER_VKEY);
    cr_assert_eq(note_verifier_format(&v, out, strlen(PETER_VKEY)), -1, "no room for the NUL");
}

/* [GO] TestNewVerifier: every proper substring and every byte changed by one
 * is refused, as are a wrong key length and an unknown type. */
Test(note_keys, every_mangled_vkey_is_refused) {
    char b[] = PETER_VKEY;
    size_t n = strlen(b);
    note_verifier_t v;
    for (size_t i = 0; i <= n; i++)
        for (size_t j = i + 1; j <= n; j++)
            if (i != 0 || j != n)
                cr_assert_neq(note_verifier_parse(b + i, j - i, &v, NULL, 0), NOTE_OK, "%.*s", (int)(j - i),
                              b + i);
    for (size_t i = 0; i < n; i++) {
        b[i]++;
        cr_assert_neq(note_verifier_parse(b, n, &v, NULL, 0), NOTE_OK, "%s", b);
        b[i]--;
    }
    const char *bad[] = {
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==", /* [GO] */
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",         /* [GO] */
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /* uppercase hex */
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW ", /* trailing space */
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "rekor.sigstore.dev+12345678+AwEB", /* [TF] invalid algorithm */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_neq(note_verifier_parse(bad[i], strlen(bad[i]), &v, NULL, 0), NOTE_OK, "%s", bad[i]);
    char why[128] = "";
    cr_assert_eq(note_verifier_parse(bad[2] + 0, strlen(bad[2]), &v, why, sizeof why), NOTE_ERR_BAD_KEY);
    cr_assert(strstr(why, "hex") != NULL, "%s", why);
}

Test(note_keys, verifier_from_private_key_matches_the_published_vkey) {
    EVP_PKEY *k = peter_key();
    note_verifier_t v;
    char out[NOTE_VKEY_SIZE], why[128] = "";
    cr_assert_eq(note_verifier_from_key("PeterNeumann", NOTE_TYPE_ED25519, k, &v, why, sizeof why), NOTE_OK,
                 "%s", why);
    note_verifier_format(&v, out, sizeof out);
    cr_assert_str_eq(out, PETER_VKEY);
    cr_assert_eq(note_verifier_from_key("witness.example.com/w1", NOTE_TYPE_COSIGNATURE_V1, k, &v, NULL, 0),
                 NOTE_OK);
    note_verifier_format(&v, out, sizeof out);
    cr_assert_str_eq(out, PY_COSIG_VKEY);
    cr_assert_eq(note_verifier_from_key("a+b", NOTE_TYPE_ED25519, k, &v, NULL, 0), NOTE_ERR_BAD_KEY);
    cr_assert_eq(note_verifier_from_key("a", 0x02, k, &v, NULL, 0), NOTE_ERR_BAD_KEY);
    EVP_PKEY_free(k);
}

/* ---- signing ------------------------------------------------------------------- */

Test(note_sign, go_reference_signature_exactly) { /* [GO] TestSign */
    EVP_PKEY *k = peter_key();
    char out[1024], why[128] = "";
    size_t len = 0;
    cr_assert_eq(note_sign(GO_TEXT, strlen(GO_TEXT), "PeterNeumann", k, out, sizeof out, &len, why, sizeof why),
                 NOTE_OK, "%s", why);
    cr_assert_str_eq(out, GO_TEXT "\n" PETER_SIG);
    cr_assert_eq(len, strlen(GO_TEXT "\n" PETER_SIG));
    cr_assert_eq(note_sign("abc", 3, "PeterNeumann", k, out, sizeof out, &len, NULL, 0), NOTE_ERR_MALFORMED,
                 "[GO] short text without a newline");
    cr_assert_eq(note_sign(GO_TEXT, strlen(GO_TEXT), "bad name", k, out, sizeof out, &len, NULL, 0),
                 NOTE_ERR_BAD_KEY);
    cr_assert_eq(note_sign(GO_TEXT, strlen(GO_TEXT), "PeterNeumann", k, out, 100, &len, NULL, 0),
                 NOTE_ERR_NO_SPACE);
    cr_assert_eq(note_sign("a\x01\n", 3, "PeterNeumann", k, out, sizeof out, &len, NULL, 0), NOTE_ERR_MALFORMED);
    EVP_PKEY_free(k);
}

Test(note_sign, a_public_key_cannot_sign) {
    note_verifier_t v = vkey(PETER_VKEY);
    EVP_PKEY *pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, v.public_key, 32);
    char line[NOTE_OWN_SIG_LINE_SIZE], why[128] = "";
    size_t len = 0;
    cr_assert_eq(note_sign_line("x\n", 2, "PeterNeumann", pub, line, sizeof line, &len, why, sizeof why),
                 NOTE_ERR_BAD_KEY);
    cr_assert(strstr(why, "cannot sign") != NULL, "%s", why);
    EVP_PKEY_free(pub);
}

Test(note_sign, round_trip_with_a_fresh_key) {
    EVP_PKEY *k = fresh_key();
    note_verifier_t v;
    cr_assert_eq(note_verifier_from_key("carbon.example/CN-TJ", NOTE_TYPE_ED25519, k, &v, NULL, 0), NOTE_OK);
    const char *text = "carbon.example/CN-TJ\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
    char out[1024], why[128] = "";
    size_t len = 0;
    cr_assert_eq(note_sign(text, strlen(text), v.name, k, out, sizeof out, &len, why, sizeof why), NOTE_OK);
    note_opened_t o;
    cr_assert_eq(note_open(out, len, &v, 1, &o, why, sizeof why), NOTE_OK, "%s", why);
    cr_assert_eq(o.text_len, strlen(text));
    cr_assert_eq(memcmp(o.text, text, o.text_len), 0);
    cr_assert_eq(o.verified_n, 1);
    /* DEL and non-ASCII are not "ASCII control characters (below U+0020)". */
    const char *odd = "del \x7f, em dash \xe2\x80\x94, \xf0\x9f\x8c\xb3\n\n";
    cr_assert_eq(note_sign(odd, strlen(odd), v.name, k, out, sizeof out, &len, why, sizeof why), NOTE_OK, "%s", why);
    cr_assert_eq(note_open(out, len, &v, 1, &o, why, sizeof why), NOTE_OK, "%s", why);
    cr_assert_eq(o.text_len, strlen(odd), "a text may end in an empty line");
    EVP_PKEY_free(k);
}

/* ---- opening ------------------------------------------------------------------- */

Test(note_open, signed_note_spec_example) { /* [SN] */
    note_verifier_t v = vkey(SN_VKEY);
    note_opened_t o;
    char why[128] = "";
    cr_assert_eq(open_str(SN_NOTE, &v, 1, &o, why, sizeof why), NOTE_OK, "%s", why);
    cr_assert_eq(o.text_len, strlen("This is an example message.\n"));
    cr_assert_eq(o.sig_lines, 1);
}

Test(note_open, go_reference_known_and_unknown_keys) { /* [GO] TestOpen */
    note_verifier_t both[2] = {vkey(PETER_VKEY), vkey(ENOCH_VKEY)};
    note_opened_t o;
    char why[128] = "";
    const char *note = GO_TEXT "\n" PETER_SIG ENOCH_SIG;
    cr_assert_eq(open_str(note, both, 1, &o, why, sizeof why), NOTE_OK, "%s", why);
    cr_assert_eq(o.text_len, strlen(GO_TEXT));
    cr_assert_eq(o.sig_lines, 2);
    cr_assert_eq(o.verified_n, 1, "Enoch's signature is ignored, not refused");
    cr_assert_eq(open_str(note, both, 2, &o, why, sizeof why), NOTE_OK, "%s", why);
    cr_assert_eq(o.verified_n, 2);
    cr_assert_eq(o.verified[0].verifier, 0);
    cr_assert_eq(o.verified[1].verifier, 1);
    cr_assert_eq(open_str(note, NULL, 0, &o, why, sizeof why), NOTE_ERR_UNVERIFIED);
    cr_assert_str_eq(why, "note has no verifiable signatures");
    note_verifier_t dup[3] = {both[1], both[0], both[1]};
    cr_assert_eq(open_str(GO_TEXT "\n" ENOCH_SIG, dup, 3, &o, why, sizeof why), NOTE_ERR_BAD_KEY);
    cr_assert_str_eq(why, "ambiguous key EnochRoot+af0cfe78");
    cr_assert_eq(open_str(GO_TEXT "\n" PETER_SIG, dup, 3, &o, NULL, 0), NOTE_OK, "unused duplicate");
    cr_assert_eq(open_str(GO_TEXT "\n" PETER_SIG PETER_SIG, both, 1, &o, NULL, 0), NOTE_OK);
    cr_assert_eq(o.verified_n, 1, "one key counted once");
}

Test(note_open, too_many_signatures) {
    note_verifier_t v = vkey(PETER_VKEY);
    note_opened_t o;
    char note[8192], why[128] = "";
    size_t len = (size_t)snprintf(note, sizeof note, "%s\n", GO_TEXT);
    for (int i = 0; i < NOTE_SIGS_MAX; i++) len += (size_t)snprintf(note + len, sizeof note - len, PETER_SIG);
    cr_assert_eq(note_open(note, len, &v, 1, &o, why, sizeof why), NOTE_OK, "%d signatures: %s", NOTE_SIGS_MAX,
                 why);
    len += (size_t)snprintf(note + len, sizeof note - len, PETER_SIG);
    cr_assert_eq(note_open(note, len, &v, 1, &o, why, sizeof why), NOTE_ERR_TOO_LARGE);
    cr_assert(strstr(why, "17 signatures") != NULL, "%s", why);
    cr_assert_eq(note_open(note, len, NULL, 0, &o, NULL, 0), NOTE_ERR_TOO_LARGE, "[GO] with no verifiers too");
}

Test(note_open, invalid_signature_by_a_known_key_refuses_the_note) {
    note_verifier_t v = vkey(PETER_VKEY);
    note_opened_t o;
    char note[512], why[128] = "";
    /* [GO] "ABCD" inserted into the base64: still base64, 3 bytes longer. */
    const char *sig = PETER_SIG;
    snprintf(note, sizeof note, "%s\n%.60sABCD%s", GO_TEXT, sig, sig + 60);
    cr_assert_eq(open_str(note, &v, 1, &o, why, sizeof why), NOTE_ERR_BAD_SIGNATURE);
    /* One bit of the signature flipped: the same length. */
    snprintf(note, sizeof note, "%s\n%s", GO_TEXT, PETER_SIG);
    char *c = strstr(note, "x08go/") + 40;
    *c = *c == 'A' ? 'B' : 'A';
    cr_assert_eq(open_str(note, &v, 1, &o, why, sizeof why), NOTE_ERR_BAD_SIGNATURE);
    cr_assert_str_eq(why, "invalid signature for key PeterNeumann+c74f20a3");
    /* Even with another, valid, known signature beside it. */
    note_verifier_t both[2] = {v, vkey(ENOCH_VKEY)};
    strcat(note, ENOCH_SIG);
    cr_assert_eq(open_str(note, both, 2, &o, NULL, 0), NOTE_ERR_BAD_SIGNATURE);
}

Test(note_open, tampered_text_is_refused) {
    note_verifier_t v = vkey(PETER_VKEY);
    note_opened_t o;
    char note[512];
    snprintf(note, sizeof note, "%s\n%s", GO_TEXT, PETER_SIG);
    note[3] ^= 0x20;
    cr_assert_eq(open_str(note, &v, 1, &o, NULL, 0), NOTE_ERR_BAD_SIGNATURE);
}

Test(note_open, signature_by_another_key_under_the_same_name) {
    /* Another key's signature under Peter's name: with its own key ID it is
     * an unknown line; with Peter's key ID it is Peter's line, and wrong. */
    EVP_PKEY *other = fresh_key();
    note_verifier_t v = vkey(PETER_VKEY);
    char line[NOTE_OWN_SIG_LINE_SIZE], note[512];
    size_t len = 0;
    cr_assert_eq(note_sign_line(GO_TEXT, strlen(GO_TEXT), "PeterNeumann", other, line, sizeof line, &len, NULL, 0),
                 NOTE_OK);
    note_opened_t o;
    snprintf(note, sizeof note, "%s\n%s", GO_TEXT, line);
    cr_assert_eq(open_str(note, &v, 1, &o, NULL, 0), NOTE_ERR_UNVERIFIED, "another key ID: ignored");
    /* Put Peter's key ID on it: now it is Peter's line, and wrong. */
    unsigned char raw[68];
    char *b64 = strchr(line + 4, ' ') + 1;
    cr_assert_eq(base64_decode(b64, strlen(b64) - 1, raw, sizeof raw), 68);
    raw[0] = 0xc7, raw[1] = 0x4f, raw[2] = 0x20, raw[3] = 0xa3;
    char enc[96];
    base64_encode(raw, sizeof raw, enc, sizeof enc);
    snprintf(note, sizeof note, "%s\n— PeterNeumann %s\n", GO_TEXT, enc);
    cr_assert_eq(open_str(note, &v, 1, &o, NULL, 0), NOTE_ERR_BAD_SIGNATURE);
    EVP_PKEY_free(other);
}

Test(note_open, wrong_key_hash_or_name_is_ignored_not_trusted) {
    note_verifier_t v = vkey(PETER_VKEY);
    note_opened_t o;
    /* [GO] "x08g" -> "xxxx": the key ID changes, so the line is unknown. */
    cr_assert_eq(open_str(GO_TEXT "\n— PeterNeumann xxxxo/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ"
                                  "SNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
                          &v, 1, &o, NULL, 0),
                 NOTE_ERR_UNVERIFIED);
    cr_assert_eq(open_str(GO_TEXT "\n— CarmenSandiego x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2"
                                  "pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
                          &v, 1, &o, NULL, 0),
                 NOTE_ERR_UNVERIFIED);
}

Test(note_open, malformed_notes) {
    note_verifier_t v = vkey(PETER_VKEY);
    const char *sig = PETER_SIG;
    char chopped[256];
    snprintf(chopped, sizeof chopped, "%s\n%.*s", GO_TEXT, (int)strlen(sig) - 1, sig);
    const char *bad[] = {
        GO_TEXT,                                       /* [GO] no signatures */
        GO_TEXT "\n",                                  /* [GO] blank line, no signatures */
        chopped,                                       /* [GO] missing final newline */
        "\x01" GO_TEXT "\n" PETER_SIG,                 /* [GO] control byte */
        "\xff" GO_TEXT "\n" PETER_SIG,                 /* [GO] not UTF-8 */
        GO_TEXT "\n" PETER_SIG "Unexpected line.\n",   /* [GO] */
        GO_TEXT "\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6K"
                "E6RyyBwJnAM=\n",                      /* [GO] a space in the name */
        GO_TEXT "\n—  PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotp"
                "RZb6KE6RyyBwJnAM=\n",                 /* two spaces after the dash */
        GO_TEXT "\n— PeterNeumann  x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotp"
                "RZb6KE6RyyBwJnAM=\n",                 /* two spaces before the signature */
        GO_TEXT "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpR"
                "Zb6KE6RyyBwJnAM= \n",                 /* a trailing space */
        GO_TEXT "\n- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZ"
                "b6KE6RyyBwJnAM=\n",                   /* a hyphen, not an em dash */
        GO_TEXT "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZ"
                "b6KE6RyyBwJnAM\n",                    /* base64 without its padding */
        GO_TEXT "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZ"
                "b6KE6RyyBwJnAN=\n",                   /* padding bits not zero */
        GO_TEXT "\n— PeterNeumann x08g\n",            /* only a key ID */
        GO_TEXT "\n" PETER_SIG "\n" PETER_SIG,         /* a blank line among signatures: text ends later */
        GO_TEXT "\n— Peter\xc2\xa0Neumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfq"
                "dngotpRZb6KE6RyyBwJnAM=\n",           /* U+00A0 in the name */
        "a\r\n\n" PETER_SIG,                           /* CR */
        GO_TEXT "\n\xe2\x80" PETER_SIG,                /* a truncated UTF-8 sequence */
        "\xc0\xaf\n\n" PETER_SIG,                      /* an overlong encoding */
        "\xed\xa0\x80\n\n" PETER_SIG,                  /* a surrogate */
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        note_opened_t o;
        char why[128] = "";
        note_status_t s = open_str(bad[i], &v, 1, &o, why, sizeof why);
        cr_assert(s == NOTE_ERR_MALFORMED || (i == 14 && s == NOTE_ERR_BAD_SIGNATURE), "case %zu: %s (%s)", i,
                  note_status_name(s), why);
        cr_assert_neq(why[0], '\0', "case %zu has a reason", i);
    }
}

Test(note_open, oversized_note_and_lines) {
    note_verifier_t v = vkey(PETER_VKEY);
    note_opened_t o;
    char why[128] = "";
    size_t cap = NOTE_BYTES_MAX + 512;
    char *note = malloc(cap);
    /* A text line one byte over the limit. */
    memset(note, 'a', NOTE_TEXT_LINE_BYTES_MAX + 1);
    size_t len = NOTE_TEXT_LINE_BYTES_MAX + 1;
    len += (size_t)snprintf(note + len, cap - len, "\n\n%s", PETER_SIG);
    cr_assert_eq(note_open(note, len, &v, 1, &o, why, sizeof why), NOTE_ERR_TOO_LARGE);
    cr_assert(strstr(why, "line 1") != NULL, "%s", why);
    /* A note over NOTE_BYTES_MAX made of short lines. */
    len = 0;
    while (len < NOTE_BYTES_MAX) len += (size_t)snprintf(note + len, cap - len, "0123456789\n");
    len += (size_t)snprintf(note + len, cap - len, "\n%s", PETER_SIG);
    cr_assert_eq(note_open(note, len, &v, 1, &o, why, sizeof why), NOTE_ERR_TOO_LARGE);
    cr_assert(strstr(why, "note is") != NULL, "%s", why);
    /* A signature line over its limit. */
    len = (size_t)snprintf(note, cap, "%s\n— PeterNeumann ", GO_TEXT);
    memset(note + len, 'A', NOTE_SIG_LINE_BYTES_MAX);
    len += NOTE_SIG_LINE_BYTES_MAX;
    note[len++] = '\n';
    cr_assert_eq(note_open(note, len, &v, 1, &o, why, sizeof why), NOTE_ERR_TOO_LARGE);
    free(note);
}

/* ---- checkpoints --------------------------------------------------------------- */

Test(checkpoint, spec_example_parses_and_formats_back) { /* [CP] */
    checkpoint_t cp;
    char why[128] = "", out[CHECKPOINT_BODY_BYTES_MAX + 1];
    cr_assert_eq(checkpoint_parse(CP_BODY, strlen(CP_BODY), &cp, why, sizeof why), NOTE_OK, "%s", why);
    cr_assert_str_eq(cp.origin, "example.com/behind-the-sofa");
    cr_assert_eq(cp.size, 20852163u);
    cr_assert_eq(cp.root_hash[0], 0x0a);
    cr_assert_eq(cp.root_hash[31], 0x62);
    cr_assert_eq(cp.extensions_len, 0);
    size_t len = 0;
    cr_assert_eq(checkpoint_format(&cp, out, sizeof out, &len, why, sizeof why), NOTE_OK, "%s", why);
    cr_assert_str_eq(out, CP_BODY);
    cr_assert_eq(len, strlen(CP_BODY));
    cr_assert_eq(checkpoint_format(&cp, out, strlen(CP_BODY), &len, NULL, 0), NOTE_ERR_NO_SPACE);
}

Test(checkpoint, extensions_zero_and_max_size) {
    const char *ok[] = {
        "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
        "o\n18446744073709551615\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
        "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\next one\next two ü\n",
        "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n1\n2\n3\n4\n5\n6\n7\n8\n",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        checkpoint_t cp;
        char why[128] = "", out[CHECKPOINT_BODY_BYTES_MAX + 1];
        size_t len = 0;
        cr_assert_eq(checkpoint_parse(ok[i], strlen(ok[i]), &cp, why, sizeof why), NOTE_OK, "%zu: %s", i, why);
        cr_assert_eq(checkpoint_format(&cp, out, sizeof out, &len, why, sizeof why), NOTE_OK, "%s", why);
        cr_assert_str_eq(out, ok[i]);
    }
}

Test(checkpoint, every_refusal) {
    char long_origin[400], long_ext[1200];
    snprintf(long_origin, sizeof long_origin, "%0256d\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n", 0);
    int n = snprintf(long_ext, sizeof long_ext, "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n");
    memset(long_ext + n, 'x', 1030);
    long_ext[n + 1030] = '\n', long_ext[n + 1031] = '\0';
    const char *bad[] = {
        "Head\n9944\n",                                                            /* [TF] too few lines */
        "\n9944\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",                   /* [TF] empty origin */
        "o\n123\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",                     /* [TF] no final newline */
        "o\nbananas\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",               /* [TF] */
        "o\n-34\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",                   /* [TF] */
        "o\n3438945738945739845734895735\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n", /* [TF] */
        "o\n123\nThisIsn'tBase64\n",                                                /* [TF] */
        "Log\n123\nYmFuYW5hcw==\n",                                                 /* [TF] 7 bytes, not 32 */
        "o\n18446744073709551616\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",   /* 2^64 */
        "o\n012\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",                   /* leading zero */
        "o\n+12\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
        "o\n 12\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
        "o\n\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
        "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=\n",                     /* padding bits */
        "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuA==\n",                     /* 31 bytes */
        "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFUA\n",                     /* 33 bytes */
        "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU= \n",                    /* trailing space */
        "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n",                   /* [TF accepts] empty ext */
        "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\na\n\nb\n",
        "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n1\n2\n3\n4\n5\n6\n7\n8\n9\n", /* 9 ext lines */
        "\xff\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",                  /* not UTF-8 */
        "o\t\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",                   /* control */
        long_origin,                                                               /* 256-byte origin */
        long_ext,                                                                  /* 1031-byte ext line */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        checkpoint_t cp;
        char why[128] = "";
        note_status_t s = checkpoint_parse(bad[i], strlen(bad[i]), &cp, why, sizeof why);
        cr_assert(s == NOTE_ERR_MALFORMED || s == NOTE_ERR_TOO_LARGE, "case %zu: %s", i, note_status_name(s));
        cr_assert_neq(why[0], '\0', "case %zu has a reason", i);
    }
}

Test(checkpoint, format_refuses_what_would_not_read_back) {
    checkpoint_t cp;
    cr_assert_eq(checkpoint_parse(CP_BODY, strlen(CP_BODY), &cp, NULL, 0), NOTE_OK);
    char out[CHECKPOINT_BODY_BYTES_MAX + 1], why[128] = "";
    size_t len = 0;
    checkpoint_t bad = cp;
    bad.origin[0] = '\0';
    cr_assert_eq(checkpoint_format(&bad, out, sizeof out, &len, why, sizeof why), NOTE_ERR_MALFORMED);
    bad = cp;
    snprintf(bad.origin, sizeof bad.origin, "log\n5");
    cr_assert_eq(checkpoint_format(&bad, out, sizeof out, &len, why, sizeof why), NOTE_ERR_MALFORMED, "%s", why);
    bad = cp;
    memcpy(bad.extensions, "x", 2);
    bad.extensions_len = 1; /* no final newline */
    cr_assert_eq(checkpoint_format(&bad, out, sizeof out, &len, why, sizeof why), NOTE_ERR_MALFORMED);
}

/* ---- cosignatures -------------------------------------------------------------- */

Test(cosignature, message_of_the_spec) { /* [CS] */
    char msg[256];
    long n = note_cosignature_message(CS_TIME, CP_BODY, strlen(CP_BODY), msg, sizeof msg);
    const char *want = "cosignature/v1\ntime 1679315147\n" CP_BODY;
    cr_assert_eq(n, (long)strlen(want));
    cr_assert_eq(memcmp(msg, want, (size_t)n), 0);
    cr_assert_eq(note_cosignature_message(0, CP_BODY, strlen(CP_BODY), msg, sizeof msg),
                 (long)strlen("cosignature/v1\ntime 0\n" CP_BODY));
    cr_assert_eq(note_cosignature_message((uint64_t)INT64_MAX + 1, CP_BODY, strlen(CP_BODY), msg, sizeof msg), -1);
    cr_assert_eq(note_cosignature_message(CS_TIME, CP_BODY, strlen(CP_BODY), msg, 50), -1);
}

Test(cosignature, timestamps_of_published_lines) {
    uint64_t t = 0;
    char why[128] = "";
    cr_assert_eq(note_cosignature_timestamp(CS_WITNESS_LINE, strlen(CS_WITNESS_LINE), &t, why, sizeof why),
                 NOTE_OK, "%s", why);
    cr_assert_eq(t, CS_TIME, "[CS] the example line carries the example's time");
    const char *tf = "— w ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==";
    cr_assert_eq(note_cosignature_timestamp(tf, strlen(tf), &t, NULL, 0), NOTE_OK);
    cr_assert_eq(t, 1727964367u, "[TF] works");
    const char *plain = "— w eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY=";
    cr_assert_eq(note_cosignature_timestamp(plain, strlen(plain), &t, NULL, 0), NOTE_ERR_MALFORMED,
                 "[TF] wrong type of signature");
    cr_assert_eq(note_cosignature_timestamp("— w 5%/$!\n 2", strlen("— w 5%/$!\n 2"), &t, NULL, 0), NOTE_ERR_MALFORMED, "[TF] gibberish");
}

Test(cosignature, independent_known_answer) { /* [PY] */
    EVP_PKEY *k = peter_key();
    char line[NOTE_OWN_SIG_LINE_SIZE], why[128] = "";
    size_t len = 0;
    cr_assert_eq(note_cosign_line(CP_BODY, strlen(CP_BODY), "witness.example.com/w1", k, CS_TIME, line, sizeof line,
                                  &len, why, sizeof why),
                 NOTE_OK, "%s", why);
    cr_assert_str_eq(line, PY_COSIG_LINE);
    note_verifier_t v = vkey(PY_COSIG_VKEY);
    note_opened_t o;
    cr_assert_eq(open_str(CP_BODY "\n" PY_COSIG_LINE, &v, 1, &o, why, sizeof why), NOTE_OK, "%s", why);
    cr_assert_eq(o.verified[0].timestamp_s, CS_TIME);
    EVP_PKEY_free(k);
}

Test(cosignature, log_signature_and_cosignatures_verify_together) {
    EVP_PKEY *log = fresh_key(), *w1 = fresh_key(), *w2 = fresh_key();
    note_verifier_t vs[3];
    cr_assert_eq(note_verifier_from_key("log.example/CN-TJ", NOTE_TYPE_ED25519, log, &vs[0], NULL, 0), NOTE_OK);
    cr_assert_eq(note_verifier_from_key("w.example/CN-BJ", NOTE_TYPE_COSIGNATURE_V1, w1, &vs[1], NULL, 0), NOTE_OK);
    cr_assert_eq(note_verifier_from_key("w.example/CN-HE", NOTE_TYPE_COSIGNATURE_V1, w2, &vs[2], NULL, 0), NOTE_OK);
    char note[2048], line[NOTE_OWN_SIG_LINE_SIZE], why[128] = "";
    size_t len = 0, l = 0;
    cr_assert_eq(note_sign(CP_BODY, strlen(CP_BODY), vs[0].name, log, note, sizeof note, &len, why, sizeof why), NOTE_OK);
    cr_assert_eq(note_cosign_line(CP_BODY, strlen(CP_BODY), vs[1].name, w1, 1700000000u, line, sizeof line, &l, NULL, 0),
                 NOTE_OK);
    strcat(note, line);
    cr_assert_eq(note_cosign_line(CP_BODY, strlen(CP_BODY), vs[2].name, w2, 1700000001u, line, sizeof line, &l, NULL, 0),
                 NOTE_OK);
    strcat(note, line);
    note_opened_t o;
    cr_assert_eq(open_str(note, vs, 3, &o, why, sizeof why), NOTE_OK, "%s", why);
    cr_assert_eq(o.verified_n, 3);
    cr_assert_eq(o.verified[0].timestamp_s, 0);
    cr_assert_eq(o.verified[1].timestamp_s, 1700000000u);
    cr_assert_eq(o.verified[2].timestamp_s, 1700000001u);
    /* A cosignature is not a plain signature: the same key as type 0x01 has
     * another key ID, so the line is ignored. */
    note_verifier_t plain;
    cr_assert_eq(note_verifier_from_key(vs[1].name, NOTE_TYPE_ED25519, w1, &plain, NULL, 0), NOTE_OK);
    cr_assert_neq(plain.key_id, vs[1].key_id);
    cr_assert_eq(open_str(note, &plain, 1, &o, NULL, 0), NOTE_ERR_UNVERIFIED);
    EVP_PKEY_free(log), EVP_PKEY_free(w1), EVP_PKEY_free(w2);
}

Test(cosignature, refusals) {
    EVP_PKEY *w = fresh_key();
    note_verifier_t v;
    cr_assert_eq(note_verifier_from_key("w", NOTE_TYPE_COSIGNATURE_V1, w, &v, NULL, 0), NOTE_OK);
    char line[NOTE_OWN_SIG_LINE_SIZE], note[1024], why[128] = "";
    size_t l = 0;
    cr_assert_eq(note_cosign_line("not a checkpoint\n", 17, "w", w, 1, line, sizeof line, &l, why, sizeof why),
                 NOTE_ERR_MALFORMED, "only checkpoints are cosigned");
    cr_assert_eq(note_cosign_line(CP_BODY, strlen(CP_BODY), "w", w, (uint64_t)INT64_MAX + 1, line, sizeof line, &l,
                                  NULL, 0),
                 NOTE_ERR_MALFORMED, "timestamp over 2^63 - 1");
    cr_assert_eq(note_cosign_line(CP_BODY, strlen(CP_BODY), "w", w, 1234, line, sizeof line, &l, NULL, 0), NOTE_OK);
    note_opened_t o;
    /* Tampered body. */
    snprintf(note, sizeof note, "%s\n%s", CP_BODY, line);
    note[30] = '9';
    cr_assert_eq(open_str(note, &v, 1, &o, NULL, 0), NOTE_ERR_BAD_SIGNATURE);
    /* Tampered timestamp: the signed message changes with it. */
    unsigned char raw[80];
    char *b64 = strchr(line + 4, ' ') + 1, enc[112];
    cr_assert_eq(base64_decode(b64, strlen(b64) - 1, raw, sizeof raw), 76);
    raw[11] ^= 1;
    base64_encode(raw, 76, enc, sizeof enc);
    snprintf(note, sizeof note, "%s\n— w %s\n", CP_BODY, enc);
    cr_assert_eq(open_str(note, &v, 1, &o, why, sizeof why), NOTE_ERR_BAD_SIGNATURE);
    /* A timestamp over 2^63 - 1 on a known key's line. */
    raw[4] = 0x80;
    base64_encode(raw, 76, enc, sizeof enc);
    snprintf(note, sizeof note, "%s\n— w %s\n", CP_BODY, enc);
    cr_assert_eq(open_str(note, &v, 1, &o, NULL, 0), NOTE_ERR_BAD_SIGNATURE);
    EVP_PKEY_free(w);
}
