/* validate.h - checks of request fields at the edge, before anything is
 * converted or stored. Pure functions. Each returns 1 if valid. */
#ifndef GATEWAY_VALIDATE_H
#define GATEWAY_VALIDATE_H

#include "settlement/ledger.h"

#include <stddef.h>
#include <stdint.h>

/* What passes these checks fits the ledger's fields: the limits are its own. */
#define VALIDATE_ID_HEX_LEN LEDGER_TID_LEN  /* request ids: 128 bits in lowercase hex */
#define VALIDATE_ACCOUNT_MAX LEDGER_ID_MAX
#define VALIDATE_TEXT_MAX LEDGER_TEXT_MAX   /* bytes of a fingerprint or beneficiary (UTF-8) */
#define VALIDATE_VINTAGE_MIN 2000
#define VALIDATE_VINTAGE_MAX 2100

/* Exactly len lowercase hex digits (ids, hashes, digests). */
int validate_hex(const char *s, size_t len);
/* Exactly 32 lowercase hex digits. */
int validate_request_id(const char *s);
/* 1..64 of [A-Za-z0-9._-]. */
int validate_account_id(const char *s);
/* "REGION/ACCOUNT-ID"; on success copies the parts (region CARBON_REGION_SIZE bytes, id 65). */
int validate_account_name(const char *s, char *region, char *id);
/* Free text: min_bytes..max_bytes bytes of well-formed UTF-8 with no
 * control character (C0 U+0000..U+001F, DEL U+007F, C1 U+0080..U+009F);
 * anything else, ',', '|', ':' and quotes included, is allowed: it is stored
 * length-prefixed (settlement/textfield.h). Lengths count bytes. */
int validate_free_text(const char *s, size_t min_bytes, size_t max_bytes);
/* A fingerprint or beneficiary: free text of 1..VALIDATE_TEXT_MAX bytes. */
int validate_text(const char *s);
/* personal, household, firm, public */
int validate_holder_kind(const char *s);
/* VALIDATE_VINTAGE_MIN..MAX, or 0 when any_allowed. */
int validate_vintage(uint32_t v, int any_allowed);
/* The n bytes at p are well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), as protobuf requires of a string. */
int validate_utf8(const uint8_t *p, size_t n);

#endif
