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
-- ---- Writes that a store damaged outside the gateway could refuse -------
-- A decision's first writes: planned or tried before the
-- others, so that a damaged store leaves the leg as it was (LEG_DAMAGED)
-- instead of half written and written again at every try. Only an edit of
-- the store outside the gateway makes any of these fail.

-- ZADD key of args (score, member pairs), LATER_ARGS_MAX arguments a
-- command. Returns nil, or the error of the first command (then nothing was
-- written: the ones after it write the same key, which it found a set).
local function zadd_pairs_checked(key, args)
  local n = #args
  for from = 1, n, LATER_ARGS_MAX do
    local upto = math.min(from + LATER_ARGS_MAX - 1, n)
    if from == 1 then
      local r = redis.pcall('ZADD', key, unpack(args, from, upto))
      if type(r) == 'table' and r.err then return r.err end
    else
      redis.call('ZADD', key, unpack(args, from, upto))
    end
  end
  return nil
end

-- Adds blocks to an account (account_add_block for each), or nothing and
-- the error if its set of blocks cannot take them.
local function account_add_blocks_checked(id, blocks)
  local args = {}
  for k = 1, #blocks do
    args[#args + 1] = '0'
    args[#args + 1] = account_member(blocks[k])
  end
  return zadd_pairs_checked(acct_blocks_key(id), args)
end

-- The bounds of a serial index member "FIRST:LAST", or nil if it is none.
local function serial_entry_bounds(member)
  local colon = string.find(member, ':', 1, true)
  if colon == nil then return nil end
  local f, l = num(string.sub(member, 1, colon - 1)), num(string.sub(member, colon + 1))
  if f < 1 or l < f or f % 1 ~= 0 or l % 1 ~= 0 then return nil end
  return f, l
end

-- Cuts first..last out of the one piece of pieces ({first, last} each) that
-- holds all of it; false (and no change) if none does.
local function pieces_cut(pieces, first, last)
  for i = 1, #pieces do
    local p = pieces[i]
    if p[1] <= first and p[2] >= last then
      table.remove(pieces, i)
      if p[1] < first then pieces[#pieces + 1] = { p[1], first - 1 } end
      if p[2] > last then pieces[#pieces + 1] = { last + 1, p[2] } end
      return true
    end
  end
  return false
end

-- The cuts of the serial index that taking blocks out of the region makes
-- (what serial_index_remove of each block in turn makes), planned by reads
-- alone: the plan, or nil and why if an entry read is out of the store's
-- format (the index of another type, a member not FIRST:LAST). A block that
-- no one range holds is left out, as serial_index_remove leaves it. Each
-- range cut is one entry of the plan: {key, member, the pieces left}.
local function serial_cuts_plan(blocks)
  local plan, by_entry = {}, {}
  for k = 1, #blocks do
    local b = blocks[k]
    local key = serial_index_key(b.origin)
    local r = redis.pcall('ZREVRANGEBYSCORE', key, fmt_int(b.first), '-inf', 'LIMIT', '0', '1')
    if r.err then return nil, 'the serial index of ' .. b.origin .. ': ' .. r.err end
    if #r > 0 then
      local id = key .. ' ' .. r[1]
      local cut = by_entry[id]
      if cut == nil then
        local f, l = serial_entry_bounds(r[1])
        if f == nil then return nil, 'serial index entry ' .. r[1] .. ' of ' .. b.origin .. ' is not FIRST:LAST' end
        cut = { key = key, member = r[1], pieces = { { f, l } }, cut = false }
        by_entry[id] = cut
      end
      if pieces_cut(cut.pieces, b.first, b.last) and not cut.cut then
        cut.cut = true
        plan[#plan + 1] = cut
      end
    end
  end
  return plan
end

-- Makes the cuts of serial_cuts_plan: each range it cut is replaced by the
-- pieces left of it.
local function serial_cuts_apply(plan)
  for k = 1, #plan do
    local cut = plan[k]
    redis.call('ZREM', cut.key, cut.member)
    local args = {}
    for i = 1, #cut.pieces do
      local p = cut.pieces[i]
      args[#args + 1] = fmt_int(p[1])
      args[#args + 1] = fmt_int(p[1]) .. ':' .. fmt_int(p[2])
    end
    local err = #args > 0 and zadd_pairs_checked(cut.key, args)
    if err then error(err) end -- not a set: it was one a moment ago
  end
end

-- HINCRBY key field delta, or nothing and the error if the field is not an
-- integer or the key not a hash.
local function hincr_checked(key, field, delta)
  local r = redis.pcall('HINCRBY', key, field, fmt_int(delta))
  if type(r) == 'table' and r.err then return r.err end
  return nil
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
  local blocks = blocks_parse(leg[6])
  if #blocks == 0 then return nil, 'no blocks' end
  for k = 1, #blocks do
    if not block_fields_ok(blocks[k]) then
      return nil, 'block ' .. k .. ' is out of the block format'
    end
  end
  return blocks
end

-- The decision's writes that a damaged store could refuse (the account's
-- held_g, the serial index's cuts for a commit, the account's set of blocks
-- for an abort), made first: nil and why if one is refused, and then
-- nothing was written. Returns the serial index's cuts to make (a commit).
local function held_leg_first_writes(leg, decision, blocks)
  local cuts, why = {}, nil
  if decision == 'C' then
    cuts, why = serial_cuts_plan(blocks)
    if cuts == nil then return nil, why end
  end
  local err = hincr_checked(acct_info_key(leg[5]), 'held_g', -num(leg[7]))
  if err then return nil, "the account's held_g: " .. err end
  if decision ~= 'C' then
    err = account_add_blocks_checked(leg[5], blocks)
    if err then
      hincr(acct_info_key(leg[5]), 'held_g', num(leg[7])) -- taken back: an integer a moment ago
      return nil, "the account's blocks: " .. err
    end
  end
  return cuts
end

local function decide_held(tid, key, leg, decision, reason, detail)
  local blocks, why = held_leg_blocks(leg, decision)
  local cuts = nil
  if blocks ~= nil then cuts, why = held_leg_first_writes(leg, decision, blocks) end
  if cuts == nil then
    answer('HELD', 'LEG_DAMAGED', '0', why, '0')
    return
  end
  later('ZREM', KEY_LEGS_HELD_PREFIX .. leg[9], tid)
  later('ZADD', KEY_LEGS_UNACKED_PREFIX .. leg[9], fmt_int(now_ms), tid)
  origins_record(key, tid, blocks, leg[9])
  if decision == 'C' then
    serial_cuts_apply(cuts)
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
