-- source_decide: the commit point (DESIGN §6 step 4), for a whole batch.
-- Each HELD leg becomes COMMITTED (its blocks stay as the exported tombstone
-- and leave the serial index: the region no longer holds them; those of
-- this region's own serials are placed at the destination in the origin's
-- map, the discount's as cancelled there: own_export_record)
-- or ABORTED (its blocks return to the account). A leg already decided keeps
-- its decision: replays change nothing. One audit entry per leg decided
-- (commit or abort: the transfer, its account, the hold's blocks), so that a
-- replay of the log knows which blocks each decision concerns. The origins
-- of third-region blocks among them are participants too (origins_record).
-- The audit entries do not name them: the blocks do.
-- ARGV: now_ms, n, then n times: tid, decision ("C" or "A"), reason, only_if_expired ("1"/"0"),
-- detail ("" or, for an abort, the refusal's detail: kept as reason_detail)
-- Returns, per leg in order: "COMMITTED", "ABORTED", "HELD" (not expired, left
-- alone; or, with the reason LEG_DAMAGED and why, a record out of the
-- store's format, or an account or serial index that cannot take the
-- decision's writes, left alone too: held_leg_blocks,
-- held_leg_first_writes) or "UNKNOWN" (no such
-- leg), followed by the recorded reason and the recorded decided_ms ("0"
-- while undecided), then the recorded reason_detail, then "1" if this
-- call made the decision or "0" if it found it made before
-- (by the leg's batch, a presumed abort, or another gateway of the region):
-- recovery tells its own presumed aborts from decisions on their way.
local now_ms, n = num(ARGV[1]), num(ARGV[2])
local checked = checked_functions() -- _prelude.lua
local out = {}
local function answer(state, reason, decided_ms, detail, here)
  local k = #out
  out[k + 1] = state
  out[k + 2] = reason
  out[k + 3] = decided_ms
  out[k + 4] = detail
  out[k + 5] = here
end

-- The origins of a leg's blocks that are neither this region nor the
-- destination dest: each took part in the leg (origin_prepare.lua) and gets
-- the decision too. They are recorded on the leg (origins, and
-- origins_unacked until each acknowledges, source_ack.lua) and wait in
-- legs:unacked:ORIGIN, so recovery re-sends the decision to each.
local function origins_record(key, tid, blocks, dest)
  local home, seen, list = home_region(), {}, {}
  for k = 1, #blocks do
    local b = blocks[k]
    if b.origin ~= home and b.origin ~= dest and not seen[b.origin] then
      seen[b.origin] = true
      list[#list + 1] = b.origin
    end
  end
  if #list == 0 then return end
  local text = table.concat(list, ',')
  redis.call('HSET', key, 'origins', text, 'origins_unacked', text)
  for _, x in ipairs(list) do later('ZADD', KEY_LEGS_UNACKED_PREFIX .. x, fmt_int(now_ms), tid) end
end
-- The blocks of a HELD leg's record, checked with the rest of what the
-- decision ('C' or 'A') writes from it before any write; nil and why if
-- the record is out of the store's format (only an edit of the store
-- outside the gateway makes one). Such a leg is left as it is (HELD,
-- answered with the reason LEG_DAMAGED): written half, its held_g would be
-- taken once per try.
local function held_leg_blocks(leg, decision)
  if (leg[5] or '') == '' or (leg[9] or '') == '' then return nil, 'no account or no peer' end
  local debited_g = tonumber(leg[7])
  if debited_g == nil or debited_g < 0 or debited_g % 1 ~= 0 then
    return nil, 'debited_g is not a count of grams'
  end
  if decision == 'C' and leg[11] then -- own_export_record reads it (absent: its warning)
    local credited_g = tonumber(leg[11])
    if credited_g == nil or credited_g % 1 ~= 0 then return nil, 'credited_g is not a count of grams' end
  end
  return checked.blocks(leg[6])
end

-- The decision's writes that a damaged store could refuse (the account's
-- held_g, the serial index's cuts for a commit, the account's set of blocks
-- for an abort), made first: nil and why if one is refused, and then
-- nothing was written. Returns the serial index's cuts to make (a commit).
local function held_leg_first_writes(leg, decision, blocks)
  local cuts, why = checked.NO_CUTS, nil
  if decision == 'C' then
    cuts, why = checked.serial_cuts_plan(blocks)
    if cuts == nil then return nil, why end
  end
  local back = nil -- an abort gives the blocks back to the account
  if decision ~= 'C' then back = blocks end
  local err = checked.take_and_add(leg[5], 'held_g', num(leg[7]), back)
  if err then return nil, err end
  return cuts
end

local function decide_held(tid, key, leg, decision, reason, detail)
  local blocks, why = held_leg_blocks(leg, decision)
  local cuts = nil
  if blocks ~= nil then cuts, why = held_leg_first_writes(leg, decision, blocks) end
  if cuts == nil then
    answer('HELD', 'LEG_DAMAGED', '0', checked.printable(why), '0')
    return
  end
  later('ZREM', KEY_LEGS_HELD_PREFIX .. leg[9], tid)
  later('ZADD', KEY_LEGS_UNACKED_PREFIX .. leg[9], fmt_int(now_ms), tid)
  origins_record(key, tid, blocks, leg[9])
  if decision == 'C' then
    checked.serial_cuts_apply(cuts)
    redis.call('HSET', key, 'state', 'COMMITTED', 'decided_ms', fmt_int(now_ms))
    audit(now_ms, 'commit', { tid, leg[5] }, blocks, {})
    -- this region's own serials go abroad in its map (DESIGN §6 provenance)
    own_export_record(tid, blocks, tonumber(leg[11]), leg[9], now_ms)
    answer('COMMITTED', '', fmt_int(now_ms), '', '1')
  else
    redis.call('HSET', key, 'state', 'ABORTED', 'reason', reason, 'decided_ms', fmt_int(now_ms))
    if detail ~= '' then redis.call('HSET', key, 'reason_detail', detail) end
    audit(now_ms, 'abort', { tid, leg[5] }, blocks, { reason })
    answer('ABORTED', reason, fmt_int(now_ms), detail, '1')
  end
end

local function decide_one(i)
  local tid, decision, reason, only_expired = ARGV[3 + i * 5], ARGV[4 + i * 5], ARGV[5 + i * 5],
                                               ARGV[6 + i * 5]
  local detail = ARGV[7 + i * 5]
  local key = leg_key(tid)
  local leg = redis.call('HMGET', key, 'role', 'state', 'reason', 'expiry_ms', 'from', 'blocks',
                         'debited_g', 'decided_ms', 'peer', 'reason_detail', 'credited_g')
  local state = leg[2]
  if leg[1] ~= 'source' then
    answer('UNKNOWN', '', '0', '', '0')
  elseif state ~= 'HELD' then
    answer(state, leg[3] or '', leg[8] or '0', leg[10] or '', '0')
  elseif only_expired == '1' and num(leg[4]) > now_ms then
    answer('HELD', '', '0', '', '0')
  else
    decide_held(tid, key, leg, decision, reason, detail)
  end
end
-- The sets of legs and the audit log are written at the end of the batch
-- (with_later, _prelude.lua); decide_one reads neither.
return with_later(function()
  for i = 0, n - 1 do decide_one(i) end
  return out
end)
