/* audit_stored.h - the audit log's entries as the store keeps them, and
 * their canonical bytes (docs/audit-log.md section 1).
 *
 * A script appends an entry as a MessagePack array, packed by Redis's own
 * cmsgpack (in C) instead of building the netstrings of carbon-audit/3 in
 * Lua, which took about a fifth of the scripts' time (issue 16;
 * docs/performance.md, "Audit entries packed"):
 *   [3, seq, time_ms, event, [id, ...], [[origin, meth, vintage, first,
 *    last], ...], [detail, ...]]
 * texts as MessagePack str (or bin), numbers as integers, in the hash
 * log:packed (settlement/store_keys.h). Everything that reads the log
 * (audit_read, log_tree_entries) reads it through audit_stored_read, which
 * turns each entry into its canonical carbon-audit/3 bytes, so the Merkle
 * leaves, the proofs, the checkpoints and what auditors fetch are those
 * bytes, exactly as before. Entries written by an older gateway are stored
 * canonical in log:entries and are taken as they are. An older gateway
 * does not read log:packed: to it a packed entry is missing, so it
 * integrates nothing past it instead of hashing packed bytes. */
#ifndef SETTLEMENT_AUDIT_STORED_H
#define SETTLEMENT_AUDIT_STORED_H

#include "settlement/store.h"

#include <stddef.h>
#include <stdint.h>

#define AUDIT_STORED_VERSION 3 /* the first element: the canonical format it stands for */
#define AUDIT_STORED_STEP_MAX 256 /* entries a store command reads (about 0.4 ms of Redis) */

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

/* Reads entries [from_seq, from_seq + n) (1 <= n <= AUDIT_READ_MAX): out[i]
 * their canonical bytes (malloc'd, NUL after lens[i] bytes; the caller frees
 * each), or NULL if entry from_seq + i is not stored. An entry in
 * log:entries is taken first, else the one in log:packed. damaged (NULL or
 * n flags) gets 1 for a packed entry that is not well-formed: out[i] then
 * holds its stored bytes (audit_stored_canonical). LEDGER_OK, or
 * LEDGER_ESTORE with err; on error nothing is allocated, and every out[i]
 * is NULL, lens[i] 0 and damaged[i] 0.
 * Reads AUDIT_STORED_STEP_MAX entries a command, one command after another:
 * a Redis runs one command at a time, and one HMGET of thousands of entries
 * (the checkpointer's and the integrator's reads) held every settlement
 * step of the region behind it for 5 to 35 ms, every 2 s (issue 16,
 * docs/performance.md). */
int audit_stored_read(store_t *st, uint64_t from_seq, size_t n, char **out, size_t *lens,
                      int *damaged, char *err, size_t errlen);

#endif
