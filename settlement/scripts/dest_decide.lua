-- dest_decide: phase two at the destination (DESIGN §6 step 5), one call per
-- batch. COMMIT: the first credited_g grams of the pending blocks go to the
-- account, the rest (recognition discount) is cancelled. ABORT: the pending
-- credit is dropped (its serials leave the serial index). An ABORT for a leg
-- never seen leaves nothing (answered "A"): a Prepare of it arriving late is
-- refused as EXPIRED, or prepared and then aborted by recovery's
-- QueryDecision, since the source has the ABORT recorded. Replays change
-- nothing.
-- ARGV: now_ms, source_region, n, then n times: tid, decision ("C"/"A"), resolved_by,
--   resolve_reason (both empty, or, when forced by ResolveInDoubt, the
--   operator's SPIFFE ID and reason: free text, kept byte for byte)
-- Audit: per leg committed, one 'apply' entry (the transfer, the account, the
-- blocks credited) and, when there is a discount, one 'cancel' entry (the
-- blocks cancelled); one 'drop' entry for the legs aborted; one 'resolve'
-- entry per leg an operator forced.
-- Returns per leg what the destination now holds: "C", "A" or "U" (unknown).
local now_ms, source, n = num(ARGV[1]), ARGV[2], num(ARGV[3])
local out = {}
local dropped_ids = {}
local resolutions = {}
for i = 0, n - 1 do
  local tid, decision = ARGV[4 + i * 4], ARGV[5 + i * 4]
  local resolved, why = ARGV[6 + i * 4], ARGV[7 + i * 4]
  local key = leg_key(tid)
  local leg = redis.call('HMGET', key, 'role', 'state', 'to', 'blocks', 'credited_g', 'peer')
  if not leg[1] then
    if decision == 'A' then
      out[#out + 1] = 'A' -- nothing to drop, nothing kept (a late Prepare: see above)
    else
      out[#out + 1] = 'U'
    end
  elseif leg[1] ~= 'destination' or leg[6] ~= source then
    -- the id is another source's (or this region's own) leg: this source's
    -- leg is unknown here, so its ABORT is done and its COMMIT unknown
    if decision == 'A' then out[#out + 1] = 'A' else out[#out + 1] = 'U' end
  elseif leg[2] == 'PREPARED' then
    if resolved ~= '' then
      resolutions[#resolutions + 1] = { tid = tid, details = { decision, resolved, why } }
    end
    local credited_g = num(leg[5])
    hincr(acct_info_key(leg[3]), 'pending_g', -credited_g)
    redis.call('ZREM', KEY_LEGS_PREPARED, tid)
    redis.call('ZREM', KEY_LEGS_PREPARED_PREFIX .. source, tid)
    if redis.call('HINCRBY', KEY_PEER_INFLIGHT, source, -1) < 0 then
      redis.call('HSET', KEY_PEER_INFLIGHT, source, '0')
    end
    if decision == 'C' then
      local head, tail = blocks_split(blocks_parse(leg[4]), credited_g)
      for _, b in ipairs(head) do account_add_block(leg[3], b) end
      for _, b in ipairs(tail) do redis.call('RPUSH', KEY_CANCELLED, tid .. '|' .. block_text(b)) end
      audit(now_ms, 'apply', { tid, leg[3] }, head, { source })
      if #tail > 0 then audit(now_ms, 'cancel', { tid, leg[3] }, tail, { source }) end
      local cursor = feed_add('A', tid)
      redis.call('HSET', key, 'state', 'COMMITTED', 'decided_ms', fmt_int(now_ms),
                 'cursor', fmt_int(cursor), 'resolved_by', resolved, 'resolve_reason', why)
      out[#out + 1] = 'C'
    else
      for _, b in ipairs(blocks_parse(leg[4])) do serial_index_remove(b.origin, b.first, b.last) end
      redis.call('HSET', key, 'state', 'ABORTED', 'reason', 'ABORTED_BY_SOURCE',
                 'decided_ms', fmt_int(now_ms), 'resolved_by', resolved, 'resolve_reason', why)
      dropped_ids[#dropped_ids + 1] = tid
      out[#out + 1] = 'A'
    end
  elseif leg[2] == 'COMMITTED' then
    out[#out + 1] = 'C'
  else
    out[#out + 1] = 'A'
  end
end
if #dropped_ids > 0 then audit(now_ms, 'drop', dropped_ids, {}, { source }) end
for _, r in ipairs(resolutions) do audit(now_ms, 'resolve', { r.tid }, {}, r.details) end
return out
