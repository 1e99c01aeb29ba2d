/* note.h - signed notes, checkpoints and cosignatures: the C2SP
 * specifications signed-note (c2sp.org/signed-note), tlog-checkpoint
 * (c2sp.org/tlog-checkpoint) and tlog-cosignature (c2sp.org/tlog-cosignature,
 * the Ed25519 "cosignature/v1" type only), with Ed25519 from OpenSSL 3.
 *
 * A signed note is a text ending in a newline, a blank line, and one or
 * more signature lines "— NAME BASE64(key ID || signature)\n" (U+2014 EM
 * DASH, a space). The key ID is the first four bytes, big-endian, of
 * SHA-256(NAME || "\n" || TYPE || 32-byte public key), TYPE 0x01 for a
 * plain Ed25519 signature over the text and 0x04 for a cosignature, whose
 * signature bytes are an 8-byte big-endian POSIX time followed by the
 * Ed25519 signature over "cosignature/v1\ntime T\n" || text. A verifier key
 * (vkey) is written "NAME+HEX(key ID)+BASE64(TYPE || public key)".
 *
 * Every input is hostile: a parser checks every byte and every limit below
 * and returns a status with a reason in a caller's buffer; nothing here
 * asserts on input (CARBON_ASSERT guards only the callers' contracts: NULL
 * pointers, buffer sizes). Base64 is canonical only (common/base64.h).
 * Nothing keeps state; every function is safe to call from any thread.
 *
 * Where the specifications leave a choice, this module is stricter than the
 * Go reference (golang.org/x/mod/sumdb/note, transparency-dev/formats):
 * base64 must be canonical (Go's decoder accepts nonzero padding bits); at
 * most NOTE_SIGS_MAX (16, the spec's minimum; Go: 100) signature lines; vkey
 * key IDs in lowercase hex only; a checkpoint's root hash exactly 32 bytes and
 * no empty extension line (tlog-checkpoint; Go's parser accepts both); a
 * cosignature time over 2^63 - 1 never verifies. A signature by a known key
 * that fails refuses the whole note (the spec's SHOULD, as Go does). */
#ifndef SETTLEMENT_NOTE_H
#define SETTLEMENT_NOTE_H

#include <openssl/evp.h>

#include <stddef.h>
#include <stdint.h>

/* ---- limits ------------------------------------------------------------- */
#define NOTE_BYTES_MAX 16384          /* a whole signed note */
#define NOTE_SIGS_MAX 16              /* signature lines in a note (the spec's minimum) */
#define NOTE_TEXT_LINE_BYTES_MAX 1024 /* one line of the text, without its newline */
#define NOTE_SIG_LINE_BYTES_MAX 4096  /* one signature line (room for ML-DSA ones we ignore) */
#define NOTE_NAME_BYTES_MAX 255       /* a key name; as tlog-cosignature's name<1..2^8-1> */
#define NOTE_HASH_BYTES 32            /* a Merkle tree hash (SHA-256) */
#define NOTE_ED25519_PUBLIC_BYTES 32
#define NOTE_ED25519_SIG_BYTES 64
#define NOTE_KEY_ID_BYTES 4
#define NOTE_TIMESTAMP_MAX INT64_MAX  /* tlog-cosignature: at most 2^63 - 1 */

#define CHECKPOINT_ORIGIN_BYTES_MAX 255     /* as tlog-cosignature's log_origin */
#define CHECKPOINT_EXTENSION_LINES_MAX 8
#define CHECKPOINT_EXTENSIONS_BYTES_MAX 1024 /* all extension lines, newlines included */
/* A checkpoint body at most: origin, 20 digits, 44 base64 chars, extensions. */
#define CHECKPOINT_BODY_BYTES_MAX (CHECKPOINT_ORIGIN_BYTES_MAX + 1 + 20 + 1 + 44 + 1 + \
                                   CHECKPOINT_EXTENSIONS_BYTES_MAX)
/* A signature line at most for a key of ours (type 0x01 or 0x04), with its
 * newline and a NUL: "— " (4 bytes) NAME ' ' base64(4 + 8 + 64) '\n' NUL. */
#define NOTE_OWN_SIG_LINE_SIZE (4 + NOTE_NAME_BYTES_MAX + 1 + 104 + 1 + 1)
/* A vkey at most, with its NUL. */
#define NOTE_VKEY_SIZE (NOTE_NAME_BYTES_MAX + 1 + 8 + 1 + 44 + 1)

/* Signature types (signed-note "Signature types"). */
#define NOTE_TYPE_ED25519 0x01
#define NOTE_TYPE_COSIGNATURE_V1 0x04

/* ---- results ------------------------------------------------------------ */
typedef enum {
    NOTE_OK = 0,
    NOTE_ERR_MALFORMED,     /* not the syntax of the specification */
    NOTE_ERR_TOO_LARGE,     /* a limit above is exceeded */
    NOTE_ERR_BAD_KEY,       /* a vkey or key unusable: syntax, type, key ID mismatch, ambiguous */
    NOTE_ERR_BAD_SIGNATURE, /* a signature by a known key does not verify */
    NOTE_ERR_UNVERIFIED,    /* no signature by a known key */
    NOTE_ERR_NO_SPACE,      /* the caller's output buffer is too small */
    NOTE_ERR_INTERNAL,      /* OpenSSL failed (out of memory) */
} note_status_t;

/* A stable lowercase name of s ("malformed", "bad_signature", ...). */
const char *note_status_name(note_status_t s);

/* ---- keys --------------------------------------------------------------- */
typedef struct {
    char name[NOTE_NAME_BYTES_MAX + 1]; /* NUL-terminated */
    uint32_t key_id;
    uint8_t type; /* NOTE_TYPE_ED25519 or NOTE_TYPE_COSIGNATURE_V1 */
    uint8_t public_key[NOTE_ED25519_PUBLIC_BYTES];
} note_verifier_t;

/* Sets *key_id to SHA-256(name[0..name_len) || "\n" || type || public_key)
 * [:4] read big-endian. Does not check the name. Returns NOTE_OK or
 * NOTE_ERR_INTERNAL. */
note_status_t note_key_id(const char *name, size_t name_len, uint8_t type,
                          const uint8_t public_key[NOTE_ED25519_PUBLIC_BYTES], uint32_t *key_id);

/* Parses the vkey text[0..len) (no NUL needed) into *out: a valid name, '+',
 * exactly 8 lowercase hex digits, '+', canonical base64 of 33 bytes whose
 * first is 0x01 or 0x04; the hex must equal the key ID computed from the
 * rest. Returns NOTE_OK, or NOTE_ERR_BAD_KEY / NOTE_ERR_TOO_LARGE with a
 * reason in why (*out then unspecified). */
note_status_t note_verifier_parse(const char *text, size_t len, note_verifier_t *out, char *why,
                                  size_t why_size);

/* Fills *out for the NUL-terminated name, the signature type and the Ed25519
 * key (private or public; only its public half is used). Returns NOTE_OK, or
 * NOTE_ERR_BAD_KEY (name invalid, type unknown, key not Ed25519) or
 * NOTE_ERR_INTERNAL, with a reason in why. */
note_status_t note_verifier_from_key(const char *name, uint8_t type, EVP_PKEY *key,
                                     note_verifier_t *out, char *why, size_t why_size);

/* Writes the vkey of *v and a NUL into out[0..out_size) (NOTE_VKEY_SIZE is
 * enough). Returns the length written, or -1 if out_size is too small. */
int note_verifier_format(const note_verifier_t *v, char *out, size_t out_size);

/* ---- signing ------------------------------------------------------------ */
/* Writes into line[0..line_size) the signature line "— NAME SIG\n" and a NUL
 * for the note text[0..text_len): an Ed25519 signature (type 0x01) by the
 * private key, named name (NUL-terminated). NOTE_OWN_SIG_LINE_SIZE is enough.
 * The text must be a valid note text (UTF-8, ends in "\n", no control byte
 * but newline, within the limits). Returns NOTE_OK and sets *line_len (without
 * the NUL); or NOTE_ERR_MALFORMED / NOTE_ERR_TOO_LARGE (the text),
 * NOTE_ERR_BAD_KEY (name or key), NOTE_ERR_NO_SPACE, NOTE_ERR_INTERNAL, with a
 * reason in why. */
note_status_t note_sign_line(const char *text, size_t text_len, const char *name, EVP_PKEY *key,
                             char *line, size_t line_size, size_t *line_len, char *why,
                             size_t why_size);

/* As note_sign_line, then the whole note: text, "\n", the line, and a NUL in
 * out[0..out_size). Sets *out_len (without the NUL). */
note_status_t note_sign(const char *text, size_t text_len, const char *name, EVP_PKEY *key,
                        char *out, size_t out_size, size_t *out_len, char *why, size_t why_size);

/* Writes the message a cosignature signs, "cosignature/v1\ntime T\n" ||
 * body[0..body_len), into out[0..out_size) (no NUL). Returns its length, or
 * -1 if out_size is too small or timestamp_s > NOTE_TIMESTAMP_MAX. */
long note_cosignature_message(uint64_t timestamp_s, const char *body, size_t body_len, char *out,
                              size_t out_size);

/* As note_sign_line for a tlog-cosignature/v1 (type 0x04) of the checkpoint
 * body[0..body_len) at timestamp_s: the body must parse as a checkpoint
 * (checkpoint_parse) and timestamp_s be at most NOTE_TIMESTAMP_MAX. */
note_status_t note_cosign_line(const char *body, size_t body_len, const char *name, EVP_PKEY *key,
                               uint64_t timestamp_s, char *line, size_t line_size,
                               size_t *line_len, char *why, size_t why_size);

/* Reads the timestamp of the cosignature line line[0..len) (with or without
 * its final newline) without verifying it: the line must be well formed and
 * carry exactly 4 + 8 + 64 bytes. Returns NOTE_OK and sets *timestamp_s, or
 * NOTE_ERR_MALFORMED with a reason. */
note_status_t note_cosignature_timestamp(const char *line, size_t len, uint64_t *timestamp_s,
                                         char *why, size_t why_size);

/* ---- verifying ---------------------------------------------------------- */
typedef struct {
    size_t verifier;      /* index into the verifiers given to note_open */
    uint64_t timestamp_s; /* a cosignature's time; 0 for type 0x01 */
} note_verified_t;

typedef struct {
    const char *text; /* inside the caller's note, not NUL-terminated */
    size_t text_len;  /* with its final newline, without the blank line */
    size_t sig_lines; /* signature lines in the note */
    size_t verified_n;
    note_verified_t verified[NOTE_SIGS_MAX]; /* one per verifier, in line order */
    const char *first_verified;  /* the first line that verified, inside the note, without its newline */
    size_t first_verified_len;
} note_opened_t;

/* Parses the signed note note[0..len) and verifies it against the n known
 * verifiers (n may be 0; verifiers may then be NULL). A signature line whose
 * (name, key ID) matches no verifier is ignored; one that matches exactly one
 * must verify. Returns NOTE_OK with *out filled (out->text points into note)
 * when at least one known signature verified and none failed; otherwise
 * NOTE_ERR_MALFORMED (syntax, UTF-8, a control byte), NOTE_ERR_TOO_LARGE
 * (note, line or signature count over the limits), NOTE_ERR_BAD_KEY (two
 * verifiers share the name and key ID of a line), NOTE_ERR_BAD_SIGNATURE (a
 * known key's signature fails: the whole note is refused) or
 * NOTE_ERR_UNVERIFIED, with a reason in why (*out then unspecified). */
note_status_t note_open(const char *note, size_t len, const note_verifier_t *verifiers, size_t n,
                        note_opened_t *out, char *why, size_t why_size);

/* ---- checkpoints -------------------------------------------------------- */
typedef struct {
    char origin[CHECKPOINT_ORIGIN_BYTES_MAX + 1]; /* NUL-terminated, non-empty */
    uint64_t size;
    uint8_t root_hash[NOTE_HASH_BYTES];
    size_t extensions_len;                             /* 0: no extension lines */
    char extensions[CHECKPOINT_EXTENSIONS_BYTES_MAX + 1]; /* lines, each ending in "\n"; NUL */
} checkpoint_t;

/* Parses the checkpoint body text[0..len) (a note's text, final newline
 * included) into *out: a non-empty origin, the tree size in decimal without
 * leading zeros (at most 2^64 - 1), the canonical base64 of exactly 32 bytes,
 * then at most CHECKPOINT_EXTENSION_LINES_MAX non-empty extension lines; valid
 * UTF-8 without control bytes but newlines. Returns NOTE_OK, or
 * NOTE_ERR_MALFORMED / NOTE_ERR_TOO_LARGE with a reason (*out unspecified). */
note_status_t checkpoint_parse(const char *text, size_t len, checkpoint_t *out, char *why,
                               size_t why_size);

/* Writes the body of *cp and a NUL into out[0..out_size)
 * (CHECKPOINT_BODY_BYTES_MAX + 1 is enough) and sets *out_len.
 * cp->extensions_len <= CHECKPOINT_EXTENSIONS_BYTES_MAX is the caller's
 * contract (asserted); everything else in *cp is checked. The result
 * must parse back (checkpoint_parse) to *cp: a checkpoint that would not is
 * refused. Returns NOTE_OK, NOTE_ERR_MALFORMED / NOTE_ERR_TOO_LARGE (*cp) or
 * NOTE_ERR_NO_SPACE, with a reason in why. */
note_status_t checkpoint_format(const checkpoint_t *cp, char *out, size_t out_size,
                                size_t *out_len, char *why, size_t why_size);

#endif
