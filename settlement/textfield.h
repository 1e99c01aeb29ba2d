/* textfield.h - the one encoding of free text (beneficiaries, activity
 * fingerprints, operators' reasons) inside stored records and audit entries.
 *
 * A field is a netstring: "LEN:BYTES," where LEN is the number of bytes in
 * decimal ASCII without leading zeros ("0:," is the empty text). The bytes
 * are taken as they are, so a text may hold '|', ',', ':' or anything else;
 * a reader never searches for a separator inside it. Every text has exactly
 * one encoding, so equal texts give equal records and equal hashes.
 *
 * No gateway script writes this encoding: audit entries are stored packed
 * and turned into it by settlement/audit_stored.c. The Lua version of it
 * lives in tests/support/scripts/textfield_test.lua, and test_free_text
 * checks that both agree. */
#ifndef SETTLEMENT_TEXTFIELD_H
#define SETTLEMENT_TEXTFIELD_H

#include <stddef.h>

#define TEXTFIELD_BYTES_MAX 4096 /* longest text one field carries */
#define TEXTFIELD_LEN_DIGITS_MAX 4
/* Bytes of the encoding of a text of n bytes, at most. */
#define TEXTFIELD_ENCODED_MAX(n) ((n) + TEXTFIELD_LEN_DIGITS_MAX + 2)

/* Writes the field of the n bytes at text into buf (cap bytes) and a NUL
 * after it. Returns the length written without the NUL, or -1 (buf
 * untouched) if n > TEXTFIELD_BYTES_MAX or the field does not fit. */
int textfield_encode(const char *text, size_t n, char *buf, size_t cap);

/* Reads the field starting at s[*pos], within s[0..len). On success points
 * *field at its first byte (inside s, not NUL-terminated), sets *field_len,
 * moves *pos past the field and returns 0. Returns -1 (nothing changed) if
 * the field is malformed: no digits, a leading zero, more than
 * TEXTFIELD_BYTES_MAX bytes, no ':', fewer than LEN bytes left, or no ','
 * after them. */
int textfield_next(const char *s, size_t len, size_t *pos, const char **field, size_t *field_len);

/* As textfield_next, for a field of at most max_bytes bytes (<=
 * TEXTFIELD_WITHIN_MAX): the containers of the audit log's entries
 * (docs/audit-log.md), whose fields hold lists of fields. */
#define TEXTFIELD_WITHIN_MAX 9999999u /* 7 digits */
int textfield_next_within(const char *s, size_t len, size_t *pos, const char **field,
                          size_t *field_len, size_t max_bytes);

#endif
