-- dest_decide: phase two at the destination (DESIGN §6 step 5), one call per
-- batch. COMMIT: the first credited_g grams of the pending blocks go to the
-- account, the rest (recognition discount) is cancelled; this region's own
-- serials among them come home in its map (origin_follow). ABORT: the pending
-- credit is dropped (its serials leave the serial index). An ABORT for a leg
-- never seen leaves nothing (answered "A"): a Prepare of it arriving late is
-- refused as EXPIRED, or prepared and then aborted by recovery's
-- QueryDecision, since the source has the ABORT recorded. Replays change
-- nothing. A leg recorded here as the origin of its serials (role origin,
-- origin_prepare.lua) is decided by origin_decide below.
-- Third-region serials (DESIGN §6 provenance): a COMMIT of a leg whose
-- blocks are of a region X that is neither the source nor this region is
-- applied only if X confirmed that it committed the same leg (origin_confirm
-- "C", asked by the caller: engine_confirm_origins). Not confirmed yet ("U":
-- not asked, X undecided or unreachable): nothing changes, answered
-- "U|ORIGIN" (the caller asks X about these legs and calls again), so the
-- source re-sends and recovery asks again. Denied ("A": X aborted it, never
-- prepared it, or holds other content): the leg stays PREPARED, its pending
-- credit unspendable, marked heuristic_outcome ORIGIN_DENIED (origin_denied
-- = X) and listed in legs:mixed (ListInDoubt, the metric) instead of
-- waiting for the source; answered "M" (HEURISTIC_MIXED at the source); one
-- 'origin-denied' entry (ids: the transfer, the account; blocks; details:
-- source, X). A later ABORT drops it, a later confirmed COMMIT applies it.
-- ARGV: now_ms, source_region, n, then n times: tid, decision ("C"/"A"), resolved_by,
--   resolve_reason (both empty, or, when forced by ResolveInDoubt, the
--   operator's SPIFFE ID and reason: free text, kept byte for byte),
--   origin_confirm ("C", "A" or "U", see above)
-- Audit: per leg committed, one 'apply' entry (the transfer, the account, the
-- blocks credited) and, when there is a discount, one 'cancel' entry (the
-- blocks cancelled); one 'drop' entry for the legs aborted; one 'resolve'
-- entry per leg an operator forced.
-- Heuristic decisions (DESIGN §6): a decision forced by an operator is
-- recorded as heuristic (fields heuristic = "C"/"A", heuristic_ms; the leg
-- waits in legs:heuristic). The coordinator's decision arriving later
-- (its Decide, or recovery's QueryDecision answer) settles it, once, with a
-- 'heuristic' entry (ids: the transfer, the account; details: source,
-- outcome, the coordinator's decision, the number of leading blocks that
-- are account blocks, the rest being discount blocks):
--   AGREED     same decision: the leg closes, nothing moves;
--   REAPPLIED  forced ABORT, coordinator COMMIT: the serials left the source
--              (its tombstone) and the pending credit was dropped here, so
--              nobody holds them: credited now (account and discount);
--   REVERSED   forced COMMIT, coordinator ABORT, and the account still holds
--              every block credited: taken back (and the discount
--              un-cancelled); the leg is ABORTED, reason HEURISTIC_REVERSED;
--   MIXED      forced COMMIT, coordinator ABORT, credits no longer all there:
--              the leg stays COMMITTED, heuristic_outcome MIXED, in
--              legs:mixed until an operator compensates (heuristic_compensate);
--              a later COMMIT from the coordinator (its operator compensated
--              there) closes it as AGREED; or
--              forced ABORT, coordinator COMMIT, and re-applying would hold
--              a serial twice (reapply_conflict: the region holds it again,
--              or its own serial is no longer at the source in its map): the
--              leg stays ABORTED, MIXED, in legs:mixed; nothing is credited.
-- Returns per leg what the destination now holds: "C", "A" or "U" (unknown),
-- or "M": it holds the other outcome than the decision sent, HEURISTIC_MIXED
-- (the decision is recorded; sending it again changes nothing); followed by
-- "|OUTCOME" when this call settled a forced leg ("C|AGREED", "M|MIXED"),
-- or by "|ORIGIN" when a COMMIT waits for its origin's word (origin_gate),
-- or "U|DAMAGED|STATE|why" for a leg left as it is (in STATE) because its
-- record is out of the store's format or the store refuses its decision's
-- first writes (prepared_first_writes, heuristic_settle: only an edit of the
-- store outside the gateway makes either).
local now_ms, source, n = num(ARGV[1]), ARGV[2], num(ARGV[3])
local checked = checked_functions() -- _prelude.lua

-- The region whose serials a COMMIT of leg (the HMGET below) reports no
-- use of: the source, when its Prepare said it records the discount of its
-- own serials at its commit (own_recorded, dest_prepare.lua); else nil
-- (a source before 2026-12-01: reported as every other origin's).
local function coordinator_of(leg)
  if leg[9] == '1' then return source end
  return nil
end

-- The blocks of leg (the HMGET below: leg[4] their text), parsed once per
-- leg however many steps read them (a COMMIT's gate and its application
-- each did: a fifth of the script's string matching). Read-only: no step
-- changes the list or its blocks.
local function leg_blocks(leg)
  local blocks = leg.parsed_blocks
  if blocks == nil then
    blocks = blocks_parse(leg[4])
    leg.parsed_blocks = blocks
  end
  return blocks
end

-- leg_blocks, checked (checked.blocks): nil and why if the text is out of
-- the store's format (only an edit of the store makes one). Kept as
-- leg_blocks keeps them once they pass.
local function leg_blocks_checked(leg)
  local blocks = leg.parsed_blocks
  if blocks == nil then
    local why
    blocks, why = checked.blocks(leg[4])
    if blocks == nil then return nil, why end
    leg.parsed_blocks = blocks
  end
  return blocks
end

-- The third region whose serials the leg's blocks are (neither the source
-- nor this region), or nil.
local function third_origin(blocks)
  local home = home_region()
  for k = 1, #blocks do
    local b = blocks[k]
    if b.origin ~= home and b.origin ~= source then return b.origin end
  end
  return nil
end

-- The origin x denies the COMMIT of destination leg tid (leg: the HMGET
-- below): it stays as it is (a prepared leg keeps its pending credit, not
-- spendable, and still counts in the source's legs in flight, so a source
-- cannot pile up denied legs beyond its limit), marked ORIGIN_DENIED and
-- listed in legs:mixed, no longer waiting for its source. Returns "M".
local function origin_deny(tid, key, leg, x)
  if leg[2] == 'PREPARED' then
    later('ZREM', KEY_LEGS_PREPARED, tid)
    later('ZREM', KEY_LEGS_PREPARED_PREFIX .. source, tid)
  end
  redis.call('ZREM', KEY_LEGS_HEURISTIC, tid)
  redis.call('ZADD', KEY_LEGS_MIXED, now_ms, tid)
  redis.call('HSET', key, 'heuristic_outcome', 'ORIGIN_DENIED', 'origin_denied', x,
             'heuristic_settled_ms', fmt_int(now_ms))
  audit(now_ms, 'origin-denied', { tid, leg[3] }, leg_blocks(leg), { source, x })
  redis.log(redis.LOG_WARNING, 'origin ' .. x .. ' denies the COMMIT of ' .. tid .. ' from ' .. source)
  return 'M'
end

-- The gate of a COMMIT of leg tid: nil when it may be applied (no
-- third-region serials, or their origin confirmed), else the answer
-- letter ("U" waiting, "M" denied) after origin_deny. Held back for want
-- of the origin's word (confirm "U": not asked, or no answer), the letter
-- carries "|ORIGIN", so that the caller asks the origin about these legs
-- alone (engine_dest_decide), not about every leg answered "U". A denial
-- is final: the origin denies only a leg it aborted, refused, holds with
-- other content or never prepared, and an honest source commits only
-- after its origin's yes. So a COMMIT sent again for a denied leg is
-- answered "M" without asking the origin again (a source re-sending it
-- would otherwise make this region ask the origin once per Decide).
local function origin_gate(tid, key, leg, confirm)
  local blocks = leg_blocks_checked(leg)
  if blocks == nil then return nil end -- out of format: prepared_first_writes says so
  local x = third_origin(blocks)
  if x == nil then return nil end
  if leg[8] == 'ORIGIN_DENIED' then return 'M' end
  if confirm == 'C' then return nil end
  if confirm == 'A' then return origin_deny(tid, key, leg, x) end
  return 'U|ORIGIN'
end

-- Forced COMMIT, coordinator ABORT: takes the credited blocks head (and the
-- discount tail) back if the account still holds every one. 1 if done.
local function heuristic_take_back(tid, account, head, tail)
  for _, b in ipairs(head) do
    if account_holds(account, b) == 0 then return 0 end
  end
  for _, b in ipairs(head) do account_remove_block(account, b) end
  for _, b in ipairs(tail) do later_call('LREM', KEY_CANCELLED, 1, tid .. '|' .. block_text(b)) end
  use_report_drop(tid, tail) -- the cancellation's report, never to be applied
  -- the region no longer holds these serials (the serial index, above)
  for _, b in ipairs(head) do serial_index_remove(b.origin, b.first, b.last) end
  for _, b in ipairs(tail) do serial_index_remove(b.origin, b.first, b.last) end
  return 1
end

-- Whether re-applying blocks (an operator's forced ABORT that the
-- coordinator committed) would hold a serial twice: one this region holds
-- again (its serial index: a later leg brought it, which only a
-- coordinator that sent the same serials twice can make), or one of its own
-- serials that its map no longer places at the source, or that another leg
-- has locked. Returns the first such block, or nil.
local function reapply_conflict(blocks)
  local home = home_region()
  for _, b in ipairs(blocks) do
    if b.origin == home then
      if origin_check(b, source) ~= '' then return b end -- the map, the locks, the index, the labels
    elseif serial_overlap(b.origin, b.first, b.last) then
      return b
    end
  end
  return nil
end

-- The coordinator's decision for a leg an operator decided (leg: the HMGET
-- below). Returns the answer letter. A forced ABORT the coordinator
-- committed is re-applied (REAPPLIED) unless that would hold a serial twice
-- (reapply_conflict): the leg then stays ABORTED and is MIXED, listed for
-- the operators, and nothing is credited.
local function heuristic_settle(tid, key, leg, decision, confirm)
  local forced, account = leg[7], leg[3]
  if decision ~= forced then -- blocks move (below): out of format, the leg is left as it is
    local sound, damage = leg_blocks_checked(leg)
    if sound == nil then return 'U|DAMAGED|' .. checked.printable(leg[2] or '') .. '|' .. checked.printable(damage) end
  end
  if decision == 'C' and forced == 'A' then -- re-applying needs the origin's word too
    local gate = origin_gate(tid, key, leg, confirm)
    if gate ~= nil then return gate end
  end
  local blocks = leg_blocks(leg)
  local head, tail = blocks_split(blocks, num(leg[5]))
  local both = {} -- head then tail, as the entry lists them
  for _, b in ipairs(head) do both[#both + 1] = b end
  for _, b in ipairs(tail) do both[#both + 1] = b end
  local outcome, moved = 'AGREED', {}
  local reapply = decision ~= forced and forced == 'A'
  local conflict = reapply and reapply_conflict(both)
  if conflict then
    redis.log(redis.LOG_WARNING, 'heuristic: ' .. tid .. ' not re-applied: ' .. block_text(conflict) ..
              ' is held here again or not at ' .. source .. ' (a coordinator that sent it twice)')
    outcome = 'MIXED'
    redis.call('ZADD', KEY_LEGS_MIXED, now_ms, tid)
  elseif reapply then
    for _, b in ipairs(head) do account_add_block(account, b) end
    for _, b in ipairs(tail) do later('RPUSH', KEY_CANCELLED, tid .. '|' .. block_text(b)) end
    use_report_add(tid, 'cancelled', tail, '', now_ms, coordinator_of(leg)) -- other regions' serials: to their origin
    -- held here again (the forced ABORT's drop took them out of the index)
    for _, b in ipairs(both) do serial_index_add(b.origin, b.first, b.last) end
    origin_follow(both, source, home_region(), 'at')
    local cursor = feed_add('A', tid)
    redis.call('HSET', key, 'state', 'COMMITTED', 'reason', '', 'cursor', fmt_int(cursor))
    outcome, moved = 'REAPPLIED', both
  elseif decision ~= forced then
    if heuristic_take_back(tid, account, head, tail) == 1 then
      origin_follow(both, home_region(), source, 'at')
      redis.call('HSET', key, 'state', 'ABORTED', 'reason', 'HEURISTIC_REVERSED')
      outcome, moved = 'REVERSED', both
    else
      outcome = 'MIXED'
      redis.call('ZADD', KEY_LEGS_MIXED, now_ms, tid)
    end
  end
  -- now_ms was taken before this call; an operator's decision that landed
  -- after it is not settled before it was made
  local settled_ms = now_ms
  local forced_ms = num(redis.call('HGET', key, 'heuristic_ms'))
  if forced_ms > settled_ms then settled_ms = forced_ms end
  redis.call('HSET', key, 'heuristic_outcome', outcome, 'coordinator_decision', decision,
             'heuristic_settled_ms', fmt_int(settled_ms))
  redis.call('ZREM', KEY_LEGS_HEURISTIC, tid)
  audit(settled_ms, 'heuristic', { tid, account }, moved, { source, outcome, decision, fmt_int(#head) })
  if outcome == 'MIXED' then return 'M|MIXED' end
  return decision .. '|' .. outcome
end

-- A leg prepared here as the origin of its serials (origin_prepare.lua; leg:
-- the HMGET below, leg[3] the destination account "REGION/ID"): COMMIT moves
-- the blocks in the map from the source to the destination and unlocks
-- them, ABORT unlocks them; one 'origin-commit' / 'origin-abort' entry (ids:
-- the transfer, the destination account; blocks; details: source region).
-- No operator decides such a leg (ResolveInDoubt refuses it): resolved_by
-- set changes nothing and answers "U". Returns the answer letter.
local function origin_decide(tid, key, leg, decision, resolved)
  if leg[2] ~= 'PREPARED' then return leg[2] == 'COMMITTED' and 'C' or 'A' end
  if resolved ~= '' then return 'U' end
  local blocks = leg_blocks(leg)
  local dest = split(leg[3] or '', '/')[1] or ''
  for k = 1, #blocks do
    local b = blocks[k]
    origin_unlock(b.first, b.last, source, tid)
  end
  later('ZREM', KEY_LEGS_PREPARED, tid)
  later('ZREM', KEY_LEGS_PREPARED_PREFIX .. source, tid)
  later_hincr_floor(KEY_PEER_INFLIGHT, source, -1)
  if decision == 'C' then
    origin_follow(blocks, source, dest, 'at') -- every block is this region's (origin_prepare.lua)
    redis.call('HSET', key, 'state', 'COMMITTED', 'decided_ms', fmt_int(now_ms))
    audit(now_ms, 'origin-commit', { tid, leg[3] }, blocks, { source })
    return 'C'
  end
  redis.call('HSET', key, 'state', 'ABORTED', 'reason', 'ABORTED_BY_SOURCE',
             'decided_ms', fmt_int(now_ms))
  audit(now_ms, 'origin-abort', { tid, leg[3] }, blocks, { source })
  return 'A'
end

local out = {}
local dropped_ids = {}
local resolutions = {}
-- The writes of a prepared leg's decision that a damaged store could refuse
-- (checked, _prelude.lua), made first, after the checks of its record: the
-- account's pending_g, and for a COMMIT the credit into the account's
-- blocks, for an ABORT the serial index's cuts (planned). nil and why if
-- one is refused or the record is out of the store's format, and then
-- nothing was written; else the blocks, credited_g, the cuts to make, and
-- for a COMMIT the blocks credited (head, now in the account) and the
-- discount (tail) as blocks_split cuts them.
local function prepared_first_writes(leg, decision)
  local account, credited_g = leg[3] or '', num(leg[5])
  if account == '' then return nil, 'no account' end
  if credited_g < 0 or credited_g % 1 ~= 0 or (credited_g == 0 and leg[5] ~= '0') then
    return nil, 'credited_g is not a count of grams'
  end
  local blocks, why = leg_blocks_checked(leg)
  if blocks == nil then return nil, why end
  local cuts = checked.NO_CUTS
  if decision ~= 'C' then
    cuts, why = checked.serial_cuts_plan(blocks)
    if cuts == nil then return nil, why end
  end
  local head, tail = nil, nil -- a commit credits head to the account
  if decision == 'C' then head, tail = blocks_split(blocks, credited_g) end
  local err = checked.take_and_add(account, 'pending_g', credited_g, head)
  if err then return nil, err end
  return blocks, credited_g, cuts, head, tail
end

-- A leg PREPARED here from source (leg: the HMGET below) that may be
-- decided now: COMMIT credits the account (and cancels the discount), ABORT
-- drops the pending credit. Returns the answer letter.
local function prepared_decide(tid, key, leg, decision, resolved, why)
  local blocks, credited_g, cuts, head, tail = prepared_first_writes(leg, decision)
  if blocks == nil then return 'U|DAMAGED|PREPARED|' .. checked.printable(credited_g) end -- sent again
  if leg[8] == 'ORIGIN_DENIED' then -- the source and the origin agree now
    redis.call('ZREM', KEY_LEGS_MIXED, tid)
    redis.call('HDEL', key, 'heuristic_outcome')
  end
  if resolved ~= '' then
    resolutions[#resolutions + 1] = { tid = tid, details = { decision, resolved, why } }
    redis.call('HSET', key, 'heuristic', decision, 'heuristic_ms', fmt_int(now_ms))
    redis.call('ZADD', KEY_LEGS_HEURISTIC, now_ms, tid)
  end
  later('ZREM', KEY_LEGS_PREPARED, tid)
  later('ZREM', KEY_LEGS_PREPARED_PREFIX .. source, tid)
  later_hincr_floor(KEY_PEER_INFLIGHT, source, -1)
  if decision == 'C' then
    origin_follow(blocks, source, home_region(), 'at')
    for k = 1, #tail do
      local b = tail[k]
      later('RPUSH', KEY_CANCELLED, tid .. '|' .. block_text(b))
    end
    audit(now_ms, 'apply', { tid, leg[3] }, head, { source })
    if #tail > 0 then audit(now_ms, 'cancel', { tid, leg[3] }, tail, { source }) end
    use_report_add(tid, 'cancelled', tail, '', now_ms, coordinator_of(leg)) -- other regions' serials: to their origin
    local cursor = feed_add('A', tid)
    redis.call('HSET', key, 'state', 'COMMITTED', 'decided_ms', fmt_int(now_ms),
               'cursor', fmt_int(cursor), 'resolved_by', resolved, 'resolve_reason', why)
    return 'C'
  else
    checked.serial_cuts_apply(cuts)
    redis.call('HSET', key, 'state', 'ABORTED', 'reason', 'ABORTED_BY_SOURCE',
               'decided_ms', fmt_int(now_ms), 'resolved_by', resolved, 'resolve_reason', why)
    dropped_ids[#dropped_ids + 1] = tid
    return 'A'
  end
end

local function decide_one(i)
  local tid, decision = ARGV[4 + i * 5], ARGV[5 + i * 5]
  local resolved, why, confirm = ARGV[6 + i * 5], ARGV[7 + i * 5], ARGV[8 + i * 5]
  local key = leg_key(tid)
  local leg = redis.call('HMGET', key, 'role', 'state', 'to', 'blocks', 'credited_g', 'peer',
                         'heuristic', 'heuristic_outcome', 'own_recorded')
  local gate = nil -- a COMMIT of a prepared leg of third-region serials: their origin's word
  if leg[1] == 'destination' and leg[6] == source and leg[2] == 'PREPARED' and decision == 'C' then
    gate = origin_gate(tid, key, leg, confirm)
    if gate ~= nil and gate ~= 'M' and resolved == '' then
      -- the coordinator answered; its COMMIT waits for the origin: the
      -- failures recorded before (dest_doubt.lua) no longer count towards
      -- an operator's forced decision, which needs heuristic_after_ms of
      -- them from now on (a forced ABORT after that is heuristic: the
      -- coordinator's COMMIT, sent again, re-applies it)
      redis.call('HDEL', key, 'doubt_first_ms', 'doubt_last_ms', 'doubt_attempts')
    end
  end
  if not leg[1] then
    if decision == 'A' then
      out[#out + 1] = 'A' -- nothing to drop, nothing kept (a late Prepare: see above)
    else
      out[#out + 1] = 'U'
    end
  elseif leg[1] == 'origin' and leg[6] == source then
    out[#out + 1] = origin_decide(tid, key, leg, decision, resolved)
  elseif leg[1] ~= 'destination' or leg[6] ~= source then
    -- the id is another source's (or this region's own) leg: this source's
    -- leg is unknown here, so its ABORT is done and its COMMIT unknown
    if decision == 'A' then out[#out + 1] = 'A' else out[#out + 1] = 'U' end
  elseif gate ~= nil then
    out[#out + 1] = gate -- waiting for, or denied by, the serials' origin
  elseif leg[2] == 'PREPARED' then
    out[#out + 1] = prepared_decide(tid, key, leg, decision, resolved, why)
  elseif leg[7] and not leg[8] and resolved == '' then
    out[#out + 1] = heuristic_settle(tid, key, leg, decision, confirm)
  elseif leg[8] == 'ORIGIN_DENIED' and decision == 'C' then
    out[#out + 1] = 'M' -- forced ABORT here, the origin denies the COMMIT: stays listed
  elseif leg[8] == 'MIXED' and decision == leg[7] and resolved == '' then
    -- the coordinator now holds this leg's outcome (its operator compensated
    -- there, heuristic_compensate): the leg closes
    redis.call('HSET', key, 'heuristic_outcome', 'AGREED', 'coordinator_decision', decision,
               'heuristic_settled_ms', fmt_int(now_ms))
    redis.call('ZREM', KEY_LEGS_MIXED, tid)
    audit(now_ms, 'heuristic', { tid, leg[3] }, {}, { source, 'AGREED', decision, '0' })
    out[#out + 1] = decision .. '|AGREED'
  elseif (leg[8] == 'MIXED' or leg[8] == 'COMPENSATED') and decision ~= leg[7] then
    out[#out + 1] = 'M'
  elseif leg[8] == 'CLOSED' and decision == 'C' then
    out[#out + 1] = 'M' -- ORIGIN_DENIED, closed ABORTED by an operator (heuristic_compensate)
  elseif leg[2] == 'COMMITTED' then
    out[#out + 1] = 'C'
  else
    out[#out + 1] = 'A'
  end
end
-- The sets of prepared legs, the peer's count of legs in flight, the
-- cancelled blocks, the use reports' queues, the feed and the audit log are
-- written at the end of the batch (with_later, _prelude.lua); decide_one
-- reads none of them.
return with_later(function()
  for i = 0, n - 1 do decide_one(i) end
  if #dropped_ids > 0 then audit(now_ms, 'drop', dropped_ids, {}, { source }) end
  for _, r in ipairs(resolutions) do audit(now_ms, 'resolve', { r.tid }, {}, r.details) end
  return out
end)
