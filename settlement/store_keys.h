/* store_keys.h - the names of the keys of a region's store: the one place
 * they are written (issue 12). C includes this header; the Lua scripts get
 * the same names as constants (KEY_AUDIT = 'cj:audit', ...), generated from
 * the #define lines below by cmake/embed_scripts.cmake and prepended to every
 * script before the prelude. The test store_keys_single_definition
 * (tests/style/check_store_keys.sh) fails when a key literal appears in any
 * other source file, C or Lua.
 *
 * Format (read by the generator, keep to it): one
 *   #define STORE_KEY_NAME "text"
 * per line, a plain string literal without escapes. A name ending in _PREFIX
 * or _SUFFIX is a part: the full key is PREFIX + id + SUFFIX (C:
 * STORE_KEY_LEG_PREFIX "%s" STORE_KEY_LEG_SUFFIX; Lua: KEY_LEG_PREFIX .. tid ..
 * KEY_LEG_SUFFIX). "{...}" is the hash tag a cluster would shard on.
 *
 * The keys (one region's store):
 *   {a:ID}:info      hash   account: kind, created_ms, held_g, pending_g
 *   {a:ID}:blocks    zset   the account's blocks, every score 0, member
 *                           "METH|VVVV ORIGIN FIRST LAST METH" (vintage 4 digits,
 *                           serials 16 digits, inclusive): within a methodology,
 *                           lex order = spending order; a take of any methodology
 *                           merges them (_prelude.lua account_add_block)
 *   {a:ID}:by-meth   zset   only in a store written before 2026-12-02, when
 *                           {a:ID}:blocks held the block members without "METH|"
 *                           and this set the members above
 *                           (account_blocks_migrate.lua converts the first
 *                           set and empties this one)
 *   {t:TID}          hash   a transfer leg (role source or destination)
 *   {i:IID}          hash   an issuance
 *   fingerprints     hash   activity fingerprint (and "k:" + its keyed fingerprint,
 *                           activity_key.h) -> IID (double issuance in the region)
 *   {r:RID}          hash   a retirement
 *   serial:last      string last serial issued in this region (absent: none yet)
 *   feed             zset   cursor -> "D:TID" (departure) / "A:TID" (arrival)
 *   feed:seq         string last cursor
 *   legs:open        zset   source legs not yet acknowledged, by expiry_ms
 *   legs:prepared    zset   destination legs PREPARED, by expiry_ms
 *   legs:heuristic   zset   destination legs an operator decided (ResolveInDoubt)
 *                           whose coordinator has not answered yet, by decided ms
 *   legs:mixed       zset   legs HEURISTIC_MIXED (either role), by the ms it was found:
 *                           listed and alarmed until an operator compensates
 *   legs:held:PEER   zset   source legs HELD towards PEER, by expiry_ms
 *   legs:unacked:PEER zset  source legs to PEER decided, not yet acknowledged, by decided_ms
 *   legs:prepared:SRC zset  destination legs PREPARED from SRC, by expiry_ms
 *                           (the last three: recovery_scan.lua, per peer and state)
 *   retired          list   "RID|block" per retired block
 *   cancelled        list   "TID|block" per cancelled (discount) block
 *   serials:ORIGIN   zset   the ranges of ORIGIN's serials this region holds (in
 *                           an account, a hold, a pending credit, retired or
 *                           cancelled), disjoint: member "FIRST:LAST", score FIRST;
 *                           a range leaves at the commit that exports it
 *                           (_prelude.lua serial_index_*)
 *   origin:map       zset   where this region's own serials are when not at home
 *                           (DESIGN §6 provenance): disjoint ranges, member
 *                           "FIRST:LAST:REGION:STATE", score FIRST, STATE "at"
 *                           (live there), "retired" or "cancelled" (used there);
 *                           a serial issued here with no entry is at home
 *                           (_prelude.lua origin_map_*)
 *   origin:locks     zset   ranges of this region's serials in a leg prepared here
 *                           as their origin and not decided yet: member
 *                           "FIRST:LAST:SOURCE:TID", score FIRST (origin_lock_*)
 *   activities       hash   keyed activity fingerprint (settlement/activity_key.h) ->
 *                           "STATE|REGION|IID|RSV" at its home region: STATE R
 *                           (reserved by REGION's issuance IID, reservation RSV) or
 *                           I (issued); activity_*.lua
 *   activities:reserved:REGION zset  keys REGION holds in state R, by expiry_ms
 *                           (the home's recovery asks each region apart)
 *   activities:pending hash  REGION -> its reservations in state R (a limit per peer)
 *   activities:seq   string last reservation number
 *   activities:abandoned:IID string RSV: the issuer answered that issuance IID under
 *                           reservation RSV never happened, so issue.lua refuses it
 *                           (expires after a day)
 *   reports:out:ORIGIN zset use reports to send to ORIGIN (retirements and
 *                           discount cancellations here of ORIGIN's serials), by the
 *                           ms they are due to be sent (again): member the report id
 *                           (RID or TID); removed once ORIGIN answered APPLIED/ALREADY
 *   {u:ORIGIN:ID}    hash   one use report to ORIGIN: kind ("retired"/"cancelled"),
 *                           purpose, blocks, created_ms, tries, last_reason
 *                           (_prelude.lua use_report_add, use_report_due/ack.lua)
 *   reports:in:REPORTER hash report id -> "KIND|PURPOSE|BLOCKS" of the use reports
 *                           REPORTER made here and this region applied in its map
 *                           (use_report_apply.lua: a re-send is ALREADY)
 *   serial:labels    zset   the methodology and vintage this region issued each of its
 *                           own serials under (DESIGN §6 provenance): disjoint ranges,
 *                           member "FIRST:LAST:VINTAGE:METHODOLOGY", score FIRST,
 *                           adjacent issuances of the same labels in one range;
 *                           written by issue.lua, read where this region's serials
 *                           come back or are reported used (_prelude.lua
 *                           serial_labels_*)
 *   meta:serial-labels string "1" once serial:labels covers every issuance
 *                           (serial_index_build.lua, for stores written before it)
 *   meta:serial-index string "1" once the serial index covers the store
 *                           (serial_index_build.lua, for stores written before it)
 *   meta:blocks-one-set string "1" once every account's blocks are the one sorted
 *                           set above (account_blocks_migrate.lua, for stores
 *                           written with a hash or two sets; such a store may
 *                           also hold meta:blocks-sorted, no longer read)
 *   peer:inflight    hash   SRC -> destination legs PREPARED for SRC (dest_prepare)
 *   peer:refused:SRC:MINUTE string  refusal records kept for SRC in that minute
 *                           (since the epoch; expires after two minutes)
 *   log:size         string entries sequenced: the seq of the newest entry
 *   log:entries      hash   seq -> entry bytes, format carbon-audit/3 (docs/audit-log.md),
 *                           as gateways stored them until 2026-12-01 (and tests that rewrite
 *                           history); read before log:packed
 *   log:packed       hash   seq -> the entry packed by cmsgpack, as scripts store it now
 *                           (settlement/audit_stored.h); a gateway that does not know this key
 *                           finds the entry missing and integrates nothing past it
 *   log:tree         hash   size, root (hex), time_ms: the integrated tree (log_tree.h)
 *   log:tile:LEVEL/INDEX string the tile's node hashes (settlement/log_tree.h),
 *                           appended to, never rewritten (log_advance)
 *   log:tiles        hash   "LEVEL/INDEX" -> node hashes: the tiles of a store
 *                           written before they were strings, converted at a
 *                           gateway's start (log_tiles_migrate.lua)
 *   batch:out:PEER   hash   seq -> "count|sum_g|digest|time_ms|TID,TID,..." (batch_open)
 *   batch:out:PEER:seq  string  last batch seq sent to PEER
 *   batch:in:SRC     hash   seq -> "count|sum_g|digest|time_ms|TID,..." (dest_prepare)
 *   batch:in:SRC:seq    string  highest batch seq received from SRC
 * and, written by the C side only (no script):
 *   meta:region      string the region this store belongs to, set at its first
 *                           use by a gateway (settlement/store.h STORE_REGION_KEY)
 *   meta:wait-barrier  string counted up before each WAIT (store.c
 *                           store_wait_replicas): a write of the waiting
 *                           connection, so that WAIT covers every write
 *                           before it, other connections' too
 *   lease:recovery   string the engine holding the recovery lease (PX expiry)
 *   lease:integrator string the gateway integrating the audit log (PX expiry)
 *   lease:checkpointer string the gateway signing and sending the region's
 *                           checkpoints (PX expiry): one at a time, so that a
 *                           sibling's older checkpoint never reaches a witness
 *                           after a newer one (a false fork alarm)
 *   audit:head       hash   (before carbon-audit/3: the hash chain's head; a
 *                           store holding it is refused, settlement/log_tree.h)
 *   checkpoint:...      everything of checkpoints and witnessing (settlement/witness.h),
 *                       written by gateways on their own timers (the checkpointer, the
 *                       peers' AddCheckpoint); by the scripts witness_*.lua:
 *     checkpoint:own:sizes    zset   this region's checkpoints kept, member = score = size
 *     checkpoint:own:notes    hash   size -> the signed note (WITNESS_OWN_KEPT kept)
 *     checkpoint:own:cosigs   hash   "SIZE|PEER" -> PEER's cosignature line of it
 *     checkpoint:witnessed-by hash   PEER -> the size PEER last cosigned
 *     checkpoint:witness:PEER hash   what this region cosigned for PEER: size, root
 *                                    (hex), note, cosig, time_ms; late_ms: when an
 *                                    unproven smaller checkpoint of PEER first came
 *     checkpoint:witness:PEER:history  list  cosigned notes (note || cosig line),
 *                                    the last WITNESS_HISTORY_KEPT
 *     checkpoint:forks        zset   fork record ids (score = id)
 *     checkpoint:fork:ID      hash   region, cosigned, conflicting, proof,
 *                                    detected_ms, acked, acked_by, ack_reason, acked_ms
 *     checkpoint:forks:seq    string last fork id
 *     checkpoint:forks:seen   hash   SHA-256 hex of a refused note -> its fork id
 *     checkpoint:forks:count  hash   PEER -> fork records kept for PEER
 *     checkpoint:forks:open   hash   PEER -> fork records not acknowledged
 * Rules on use (adapters/rules.h; retire.lua, obligation_*.lua):
 *     rules:obligations       hash   "YEAR|BENEFICIARY" -> obligation_g registered for
 *                                    that compliance year (Operations.RegisterObligation)
 *     rules:offset            hash   "YEAR|BENEFICIARY" -> grams retired for
 *                                    compliance_offset against it
 *     rules:offset-outside    hash   the same, of them serials of other regions
 *     rules:inflow:PEER       hash   UTC day number -> grams credited from PEER that day
 * each under the namespace STORE_KEY_NAMESPACE. */
#ifndef SETTLEMENT_STORE_KEYS_H
#define SETTLEMENT_STORE_KEYS_H

#define STORE_KEY_NAMESPACE "cj:"

#define STORE_KEY_ACCOUNT_PREFIX "cj:{a:"
#define STORE_KEY_ACCOUNT_INFO_SUFFIX "}:info"
#define STORE_KEY_ACCOUNT_BLOCKS_SUFFIX "}:blocks"
#define STORE_KEY_ACCOUNT_BY_METH_SUFFIX "}:by-meth"
#define STORE_KEY_LEG_PREFIX "cj:{t:"
#define STORE_KEY_LEG_SUFFIX "}"
#define STORE_KEY_ISSUANCE_PREFIX "cj:{i:"
#define STORE_KEY_ISSUANCE_SUFFIX "}"
#define STORE_KEY_RETIREMENT_PREFIX "cj:{r:"
#define STORE_KEY_RETIREMENT_SUFFIX "}"
#define STORE_KEY_FINGERPRINTS "cj:fingerprints"
#define STORE_KEY_SERIAL_LAST "cj:serial:last"
#define STORE_KEY_FEED "cj:feed"
#define STORE_KEY_FEED_SEQ "cj:feed:seq"
#define STORE_KEY_LEGS_OPEN "cj:legs:open"
#define STORE_KEY_LEGS_PREPARED "cj:legs:prepared"
#define STORE_KEY_LEGS_HEURISTIC "cj:legs:heuristic"
#define STORE_KEY_LEGS_MIXED "cj:legs:mixed"
#define STORE_KEY_LEGS_HELD_PREFIX "cj:legs:held:"
#define STORE_KEY_LEGS_UNACKED_PREFIX "cj:legs:unacked:"
#define STORE_KEY_LEGS_PREPARED_PREFIX "cj:legs:prepared:"
#define STORE_KEY_RETIRED "cj:retired"
#define STORE_KEY_CANCELLED "cj:cancelled"
#define STORE_KEY_SERIALS_PREFIX "cj:serials:"
#define STORE_KEY_SERIALS_BUILT "cj:meta:serial-index"
#define STORE_KEY_SERIAL_LABELS "cj:serial:labels"
#define STORE_KEY_SERIAL_LABELS_BUILT "cj:meta:serial-labels"
#define STORE_KEY_ORIGIN_MAP "cj:origin:map"
#define STORE_KEY_ORIGIN_LOCKS "cj:origin:locks"
#define STORE_KEY_ACTIVITIES "cj:activities"
#define STORE_KEY_ACTIVITIES_RESERVED_PREFIX "cj:activities:reserved:"
#define STORE_KEY_ACTIVITIES_PENDING "cj:activities:pending"
#define STORE_KEY_ACTIVITIES_SEQ "cj:activities:seq"
#define STORE_KEY_ACTIVITIES_ABANDONED_PREFIX "cj:activities:abandoned:"
#define STORE_KEY_BLOCKS_ONE_SET "cj:meta:blocks-one-set"
#define STORE_KEY_REPORTS_OUT_PREFIX "cj:reports:out:"
#define STORE_KEY_REPORT_OUT_PREFIX "cj:{u:"
#define STORE_KEY_REPORT_OUT_SUFFIX "}"
#define STORE_KEY_REPORTS_IN_PREFIX "cj:reports:in:"
#define STORE_KEY_PEER_INFLIGHT "cj:peer:inflight"
#define STORE_KEY_PEER_REFUSED_PREFIX "cj:peer:refused:"
#define STORE_KEY_LOG_SIZE "cj:log:size"
#define STORE_KEY_LOG_ENTRIES "cj:log:entries"
#define STORE_KEY_LOG_PACKED "cj:log:packed"
#define STORE_KEY_LOG_TREE "cj:log:tree"
#define STORE_KEY_LOG_TILE_PREFIX "cj:log:tile:"
#define STORE_KEY_LOG_TILES_LEGACY "cj:log:tiles"
#define STORE_KEY_LEGACY_AUDIT_HEAD "cj:audit:head"
#define STORE_KEY_BATCH_OUT_PREFIX "cj:batch:out:"
#define STORE_KEY_BATCH_IN_PREFIX "cj:batch:in:"
#define STORE_KEY_BATCH_SEQ_SUFFIX ":seq"
#define STORE_KEY_META_REGION "cj:meta:region"
#define STORE_KEY_META_WAIT_BARRIER "cj:meta:wait-barrier"
#define STORE_KEY_LEASE_PREFIX "cj:lease:"
#define STORE_KEY_LEASE_RECOVERY "cj:lease:recovery"
#define STORE_KEY_LEASE_INTEGRATOR "cj:lease:integrator"
#define STORE_KEY_LEASE_CHECKPOINTER "cj:lease:checkpointer"
#define STORE_KEY_CHECKPOINT_PREFIX "cj:checkpoint:"
/* checkpoints and witnesses (settlement/witness.h): all under STORE_KEY_CHECKPOINT_PREFIX */
#define STORE_KEY_CHECKPOINT_OWN_SIZES "cj:checkpoint:own:sizes"
#define STORE_KEY_CHECKPOINT_OWN_NOTES "cj:checkpoint:own:notes"
#define STORE_KEY_CHECKPOINT_OWN_COSIGS "cj:checkpoint:own:cosigs"
#define STORE_KEY_CHECKPOINT_WITNESSED_BY "cj:checkpoint:witnessed-by"
#define STORE_KEY_CHECKPOINT_WITNESS_PREFIX "cj:checkpoint:witness:"
#define STORE_KEY_CHECKPOINT_HISTORY_SUFFIX ":history"
#define STORE_KEY_CHECKPOINT_FORKS "cj:checkpoint:forks"
#define STORE_KEY_CHECKPOINT_FORK_PREFIX "cj:checkpoint:fork:"
#define STORE_KEY_CHECKPOINT_FORKS_SEQ "cj:checkpoint:forks:seq"
#define STORE_KEY_CHECKPOINT_FORKS_SEEN "cj:checkpoint:forks:seen"
#define STORE_KEY_CHECKPOINT_FORKS_COUNT "cj:checkpoint:forks:count"
#define STORE_KEY_CHECKPOINT_FORKS_OPEN "cj:checkpoint:forks:open"
#define STORE_KEY_RULES_OBLIGATIONS "cj:rules:obligations"
#define STORE_KEY_RULES_OFFSET "cj:rules:offset"
#define STORE_KEY_RULES_OFFSET_OUTSIDE "cj:rules:offset-outside"
#define STORE_KEY_RULES_INFLOW_PREFIX "cj:rules:inflow:"

#endif
