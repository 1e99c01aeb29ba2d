/* fuzz_note_verify.c - the parsers and the verifier of settlement/note.h
 * (C2SP signed-note, tlog-checkpoint, tlog-cosignature) and common/base64.h
 * on hostile bytes. Each input is tried as a whole as:
 *  - a checkpoint body: accepted means canonical (formats back to the same
 *    bytes), and a witness's cosignature of it opens with its time;
 *  - a vkey: accepted means canonical (formats back to the same bytes);
 *  - a signed note, against the Go reference's PeterNeumann key (type 0x01)
 *    and the same key as a cosigner (type 0x04): accepted means the text is a
 *    prefix of the input, counts within bounds, and the text can be signed
 *    again and opened;
 *  - a cosignature line, and base64 (accepted means canonical). */
#include "tests/fuzz/fuzz_common.h"

#include "common/base64.h"
#include "settlement/note.h"

#include <openssl/evp.h>

#include <string.h>

/* golang.org/x/mod/sumdb/note's test key PeterNeumann (its seed). */
static const unsigned char PETER_SEED[32] = {
    0x81, 0x0a, 0x14, 0x02, 0xd5, 0x14, 0x6c, 0x8d, 0x84, 0xf2, 0x44, 0x33, 0x30, 0xf5, 0x40, 0x80,
    0xeb, 0xf9, 0x8e, 0xe1, 0x7d, 0x9c, 0x74, 0xf6, 0x25, 0x2f, 0xc5, 0xd5, 0xc7, 0x28, 0x31, 0x73};
#define WITNESS "witness.example.com/w1"

static EVP_PKEY *key;
static note_verifier_t verifiers[2];

static void setup(void) {
    if (key != NULL) return;
    key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, PETER_SEED, sizeof PETER_SEED);
    FUZZ_CHECK(key != NULL, "no Ed25519 key");
    FUZZ_CHECK(note_verifier_from_key("PeterNeumann", NOTE_TYPE_ED25519, key, &verifiers[0], NULL, 0) == NOTE_OK,
               "verifier 0");
    FUZZ_CHECK(note_verifier_from_key(WITNESS, NOTE_TYPE_COSIGNATURE_V1, key, &verifiers[1], NULL, 0) == NOTE_OK,
               "verifier 1");
}

static void as_checkpoint(const char *in, size_t size) {
    checkpoint_t cp;
    char why[256] = "";
    if (checkpoint_parse(in, size, &cp, why, sizeof why) != NOTE_OK) {
        FUZZ_CHECK(why[0] != '\0', "a refusal without a reason");
        return;
    }
    static char out[CHECKPOINT_BODY_BYTES_MAX + 1];
    size_t len = 0;
    FUZZ_CHECK(checkpoint_format(&cp, out, sizeof out, &len, why, sizeof why) == NOTE_OK, "%s", why);
    FUZZ_CHECK(len == size && memcmp(out, in, size) == 0, "an accepted checkpoint is not canonical");
    char line[NOTE_OWN_SIG_LINE_SIZE];
    size_t line_len = 0;
    FUZZ_CHECK(note_cosign_line(in, size, WITNESS, key, 1679315147u, line, sizeof line, &line_len, why,
                                sizeof why) == NOTE_OK,
               "cosigning an accepted checkpoint: %s", why);
    static char note[CHECKPOINT_BODY_BYTES_MAX + 1 + NOTE_OWN_SIG_LINE_SIZE];
    memcpy(note, in, size);
    note[size] = '\n';
    memcpy(note + size + 1, line, line_len);
    note_opened_t o;
    FUZZ_CHECK(note_open(note, size + 1 + line_len, verifiers, 2, &o, why, sizeof why) == NOTE_OK,
               "its cosignature does not open: %s", why);
    FUZZ_CHECK(o.verified_n == 1 && o.verified[0].verifier == 1 && o.verified[0].timestamp_s == 1679315147u,
               "wrong cosigner or time");
}

static void as_vkey(const char *in, size_t size) {
    note_verifier_t v;
    if (note_verifier_parse(in, size, &v, NULL, 0) != NOTE_OK) return;
    char out[NOTE_VKEY_SIZE];
    int n = note_verifier_format(&v, out, sizeof out);
    FUZZ_CHECK(n >= 0 && (size_t)n == size && memcmp(out, in, size) == 0, "an accepted vkey is not canonical");
}

/* The text of an opened note signs again, and that note opens. */
static void resign(const note_opened_t *o) {
    static char note[NOTE_BYTES_MAX + NOTE_OWN_SIG_LINE_SIZE + 2];
    size_t len = 0;
    char why[256] = "";
    FUZZ_CHECK(note_sign(o->text, o->text_len, "PeterNeumann", key, note, sizeof note, &len, why, sizeof why) ==
                   NOTE_OK,
               "an accepted text does not sign: %s", why);
    note_opened_t again;
    FUZZ_CHECK(note_open(note, len, verifiers, 1, &again, why, sizeof why) == NOTE_OK, "re-signed: %s", why);
    FUZZ_CHECK(again.text_len == o->text_len, "re-signed text differs");
}

static void as_note(const char *in, size_t size) {
    note_opened_t o;
    char why[256] = "";
    note_status_t s = note_open(in, size, verifiers, 2, &o, why, sizeof why);
    if (s != NOTE_OK) {
        FUZZ_CHECK(why[0] != '\0', "refused (%s) without a reason", note_status_name(s));
        return;
    }
    FUZZ_CHECK(o.text == in && o.text_len < size && in[o.text_len - 1] == '\n' && in[o.text_len] == '\n',
               "the text is not the input's prefix before a blank line");
    FUZZ_CHECK(o.verified_n >= 1 && o.verified_n <= o.sig_lines && o.sig_lines <= NOTE_SIGS_MAX,
               "counts out of bounds");
    for (size_t i = 0; i < o.verified_n; i++)
        FUZZ_CHECK(o.verified[i].verifier < 2 && o.verified[i].timestamp_s <= (uint64_t)NOTE_TIMESTAMP_MAX,
                   "verified entry out of bounds");
    resign(&o);
}

static void as_base64(const char *in, size_t size) {
    static unsigned char bytes[NOTE_BYTES_MAX];
    static char back[NOTE_BYTES_MAX * 2];
    if (size > NOTE_BYTES_MAX) return;
    int n = base64_decode(in, size, bytes, sizeof bytes);
    if (n < 0) return;
    int m = base64_encode(bytes, (size_t)n, back, sizeof back);
    FUZZ_CHECK(m >= 0 && (size_t)m == size && memcmp(back, in, size) == 0, "accepted base64 is not canonical");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    setup();
    const char *in = (const char *)data;
    as_checkpoint(in, size);
    as_vkey(in, size);
    as_note(in, size);
    as_base64(in, size);
    uint64_t t = 0;
    (void)note_cosignature_timestamp(in, size, &t, NULL, 0);
    return 0;
}
