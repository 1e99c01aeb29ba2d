-- heuristic_compensate: an operator closes a HEURISTIC_MIXED leg with a
-- compensating action that keeps conservation (DESIGN §6, README
-- "Heuristic decisions"). A leg is HEURISTIC_MIXED only after an operator
-- forced COMMIT at the destination, the coordinator (source) decided ABORT,
-- and the credits had moved on at the destination: the same serials are then
-- back in the source account and credited at the destination.
--   source leg (ABORTED): if the account still holds every block of the leg,
--     they leave it again as the exported tombstone: the source converges on
--     the destination's outcome (state COMMITTED, not acknowledged, back in
--     legs:open), so recovery sends Decide COMMIT, which closes the
--     destination's leg (it now agrees). Serials exact, nothing duplicated.
--   source leg COMMITTED (the same case seen from the coordinator: its
--     destination answered HEURISTIC_MIXED): the serials left at the
--     commit; nothing moves, the leg is closed.
--   destination leg ABORTED (an operator's forced ABORT that the
--     coordinator committed, not re-applied because this region holds the
--     serials again: dest_decide.lua reapply_conflict): it credited
--     nothing; the leg is closed, nothing taken.
--   destination leg (COMMITTED): the serials cannot be taken back, so the
--     leg's credited_g grams are taken from the account (any blocks, oldest
--     first) and cancelled under the transfer: the region's grams in
--     circulation are what the coordinator's ABORT leaves. The serials of the
--     leg stay in two places, which the checker keeps reporting; do this only
--     when the source can no longer give its copy back.
-- An ORIGIN_DENIED destination leg (dest_decide.lua origin_deny: the
-- source sent COMMIT, the serials' origin X did not commit the leg) is
-- closed instead, with decision "A": nothing was credited, so the pending
-- credit is dropped as an ABORT drops it (the account's pending grams, the
-- source's legs in flight, the serial index) and the leg ends ABORTED,
-- reason ORIGIN_DENIED, heuristic_outcome CLOSED: final, no longer listed.
-- X's map never placed the serials here (it did not commit), so the map
-- and the holdings agree; a later Decide from the source is answered with
-- what the leg holds (ABORT; HEURISTIC_MIXED to a COMMIT). A denied leg
-- an operator had forced to ABORT before (ABORTED: its pending credit was
-- dropped then) is closed the same way, and drops nothing again.
-- Closed with decision "A", a source leg ABORTED and HEURISTIC_MIXED
-- (its destination compensated there: it cancelled the leg's grams) moves
-- nothing: it holds ABORT, and is no longer listed. Its serials came back
-- at the abort; whether they are still in the account or spent, the
-- destination's cancellation already made the grams in circulation what
-- the ABORT leaves, and a give-back here ("C") would cancel them twice.
-- ARGV: now_ms, tid, operator SPIFFE ID, reason (free text, byte for byte),
--   decision the leg is to hold ("C" for a MIXED leg, "A" for an
--   ORIGIN_DENIED one or to close a source's ABORTED MIXED leg as it is),
--   report_id (32 hex digits, fresh: the use report of a destination's
--   cancellation to the origins of other regions' serials it took)
-- Audit: one 'heuristic' entry (ids: the transfer, the account, and at the
-- source the destination account "REGION/ID"; blocks: those moved, or for
-- CLOSED the pending blocks dropped; details: peer, "COMPENSATED" or
-- "CLOSED", the decision the leg now holds, "0", operator, reason).
-- Returns {"OK", the decision the leg now holds ("C" or "A"), the outcome
-- recorded ("COMPENSATED" or "CLOSED": an ORIGIN_DENIED leg)}, {"NOT_MIXED"},
-- {"BAD_DECISION", the decision needed},
-- {"INSUFFICIENT_BALANCE", grams available}, {"TOO_FRAGMENTED"} (more than
-- 1,024 blocks) or {"ACCOUNT_DAMAGED", why} (the destination account's
-- blocks out of the store's format), and changes nothing then.
local now_ms, tid, operator, why, decision = num(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local report_id = ARGV[6]
assert(#report_id == 32, 'heuristic_compensate: a report id of 32 hex digits')

-- The parts of blocks outside every block of `of` (the same origin and
-- overlapping serials): at most #blocks + #of pieces (each block of `of`
-- cuts at most one piece in two; bounded by the 1,024 blocks of a take and
-- of a leg).
local function blocks_outside(blocks, of)
  local parts = {}
  for _, b in ipairs(blocks) do parts[#parts + 1] = b end
  for _, o in ipairs(of) do
    local kept = {}
    for _, p in ipairs(parts) do
      if p.origin ~= o.origin or p.last < o.first or p.first > o.last then
        kept[#kept + 1] = p
      else
        if p.first < o.first then kept[#kept + 1] = block_piece(p, p.first, o.first - 1) end
        if p.last > o.last then kept[#kept + 1] = block_piece(p, o.last + 1, p.last) end
      end
    end
    parts = kept
  end
  return parts
end
local key = leg_key(tid)
local leg = redis.call('HMGET', key, 'role', 'state', 'heuristic_outcome', 'from', 'to', 'peer',
                       'blocks', 'credited_g', 'expiry_ms')
local function closed_as_it_is(outcome, ids)
  redis.call('HSET', key, 'heuristic_outcome', outcome, 'compensated_by', operator, 'compensate_reason', why,
             'compensated_ms', fmt_int(now_ms))
  redis.call('ZREM', KEY_LEGS_MIXED, tid)
  audit(now_ms, 'heuristic', ids, {}, { leg[6], outcome, 'A', '0', operator, why })
  return { 'OK', 'A', outcome }
end
if leg[3] == 'ORIGIN_DENIED' and leg[1] == 'destination' and leg[2] == 'ABORTED' then
  -- forced ABORT here before the origin denied the source's COMMIT: the
  -- abort dropped the pending credit, nothing is left to drop
  if decision ~= 'A' then return { 'BAD_DECISION', 'A' } end
  return closed_as_it_is('CLOSED', { tid, leg[5] })
end
if leg[3] == 'ORIGIN_DENIED' and leg[1] == 'destination' and leg[2] == 'PREPARED' then
  if decision ~= 'A' then return { 'BAD_DECISION', 'A' } end
  local blocks = blocks_parse(leg[7])
  hincr(acct_info_key(leg[5]), 'pending_g', -num(leg[8]))
  redis.call('ZREM', KEY_LEGS_PREPARED, tid)
  redis.call('ZREM', KEY_LEGS_PREPARED_PREFIX .. leg[6], tid)
  if redis.call('HINCRBY', KEY_PEER_INFLIGHT, leg[6], -1) < 0 then
    redis.call('HSET', KEY_PEER_INFLIGHT, leg[6], '0')
  end
  for _, b in ipairs(blocks) do serial_index_remove(b.origin, b.first, b.last) end
  redis.call('HSET', key, 'state', 'ABORTED', 'reason', 'ORIGIN_DENIED', 'decided_ms', fmt_int(now_ms),
             'heuristic_outcome', 'CLOSED', 'compensated_by', operator, 'compensate_reason', why,
             'compensated_ms', fmt_int(now_ms))
  redis.call('ZREM', KEY_LEGS_MIXED, tid)
  audit(now_ms, 'heuristic', { tid, leg[5] }, blocks, { leg[6], 'CLOSED', 'A', '0', operator, why })
  return { 'OK', 'A', 'CLOSED' }
end
if leg[3] ~= 'MIXED' then return { 'NOT_MIXED' } end
if decision == 'A' and leg[1] == 'source' and leg[2] == 'ABORTED' then
  return closed_as_it_is('COMPENSATED', { tid, leg[4] }) -- its destination compensated
end
if decision ~= 'C' then return { 'BAD_DECISION', 'C' } end
local moved, ids, holds = {}, { tid }, 'C'
if leg[1] == 'source' and leg[2] == 'COMMITTED' then
  -- the coordinator's side of a forced ABORT its destination did not
  -- re-apply (dest_decide.lua reapply_conflict): the serials left here at
  -- the commit, and the destination holds them through another leg;
  -- nothing moves, the leg is closed
  ids = { tid, leg[4] }
elseif leg[1] == 'source' then
  moved = blocks_parse(leg[7])
  for _, b in ipairs(moved) do
    if account_holds(leg[4], b) == 0 then return { 'INSUFFICIENT_BALANCE', '0' } end
  end
  for _, b in ipairs(moved) do account_remove_block(leg[4], b) end
  -- exported, as at a commit: the region no longer holds them (serial index)
  for _, b in ipairs(moved) do serial_index_remove(b.origin, b.first, b.last) end
  own_export_record(tid, moved, tonumber(leg[8]), leg[6], now_ms) -- the map, as at a commit
  redis.call('HSET', key, 'state', 'COMMITTED', 'reason', '', 'acked', '0', 'dest_acked', '0')
  redis.call('HDEL', key, 'acks_ms') -- the acknowledgements of the ABORT (source_ack.lua)
  redis.call('ZADD', KEY_LEGS_OPEN, num(leg[9]), tid)
  -- recovery sends the COMMIT to the destination again (source_mixed took
  -- the leg out of its legs:unacked set)
  redis.call('ZADD', KEY_LEGS_UNACKED_PREFIX .. leg[6], now_ms, tid)
  ids = { tid, leg[4], leg[5] }
elseif leg[2] == 'ABORTED' then
  -- a forced ABORT the coordinator committed, not re-applied because this
  -- region holds its serials again (dest_decide.lua reapply_conflict): the
  -- leg credited nothing, so nothing is taken; the leg is closed, and
  -- holds ABORT
  ids, holds = { tid, leg[5] }, 'A'
else
  -- an account a hand edit damaged refuses the take-back, as it refuses a
  -- hold (account_take_plan_checked): nothing is written before the refusal
  local ok, plan, have = account_take_plan_checked(leg[5], '', 0, num(leg[8]), 1024)
  if not ok then return { 'ACCOUNT_DAMAGED', plan } end
  if plan == nil and have == -1 then return { 'TOO_FRAGMENTED' } end
  if plan == nil then return { 'INSUFFICIENT_BALANCE', fmt_int(have) } end
  local taken = account_take_apply(leg[5], plan)
  for _, b in ipairs(taken) do redis.call('RPUSH', KEY_CANCELLED, tid .. '|' .. block_text(b)) end
  -- other regions' serials among them are reported to their origin under
  -- report_id, as a retirement's are (their maps place them here); not the
  -- leg's own, which their origin's map holds where the coordinator's ABORT
  -- put them (the two places the checker keeps reporting)
  use_report_add(report_id, 'cancelled', blocks_outside(taken, blocks_parse(leg[7])), '', now_ms)
  moved = taken
  ids = { tid, leg[5] }
end
redis.call('HSET', key, 'heuristic_outcome', 'COMPENSATED', 'compensated_by', operator,
           'compensate_reason', why, 'compensated_ms', fmt_int(now_ms))
redis.call('ZREM', KEY_LEGS_MIXED, tid)
audit(now_ms, 'heuristic', ids, moved, { leg[6], 'COMPENSATED', holds, '0', operator, why })
return { 'OK', holds, 'COMPENSATED' }
