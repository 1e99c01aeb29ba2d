/* audit_stored.h - the audit log's entries as the store keeps them, and
 * their canonical bytes (docs/audit-log.md section 1).
 *
 * A script appends an entry as a MessagePack array, packed by Redis's own
 * cmsgpack (in C) instead of building the netstrings of carbon-audit/3 in
 * Lua, which cost about 50 us of Redis time per settled transfer and side
 * (issue 16):
 *   [3, seq, time_ms, event, [id, ...], [[origin, meth, vintage, first,
 *    last], ...], [detail, ...]]
 * texts as MessagePack str (or bin), numbers as integers. Everything that
 * reads the log (audit_read, log_tree_entries) turns a stored entry into its
 * canonical carbon-audit/3 bytes here first, so the Merkle leaves, the
 * proofs, the checkpoints and what auditors fetch are those bytes, exactly
 * as before. Entries written by an older gateway are stored canonical, and
 * are taken as they are. */
#ifndef SETTLEMENT_AUDIT_STORED_H
#define SETTLEMENT_AUDIT_STORED_H

#include <stddef.h>

#define AUDIT_STORED_VERSION 3 /* the first element: the canonical format it stands for */

/* The canonical bytes of the stored entry stored[0..len), in *out: a
 * malloc'd buffer of *out_len bytes and a NUL after them. A packed entry
 * (it starts as a MessagePack array of seven) gives its canonical encoding;
 * any other bytes (an older gateway's canonical entry, or damage, which the
 * parser then reports) are copied as they are. Returns 0; or -1 if the
 * bytes start as a packed entry but are not a well-formed one (trailing
 * bytes, a wrong type or count, a number that is not an integer, a result
 * beyond AUDIT_ENTRY_BYTES_MAX), with why saying which and *out a copy of
 * the stored bytes, so that a reader shows the entry as malformed. */
int audit_stored_canonical(const char *stored, size_t len, char **out, size_t *out_len,
                           char *why, size_t why_size);

#endif
