-- state_read: one page of the region's ledger as records, with the log size
-- at the same instant (Audit.ReadState, docs/audit-log.md §2.2). Reads only.
-- The ledger is read in four phases, each resumable from a cursor:
--   a  accounts      SCAN of the account keys (info, and blocks without info)
--   t  transfer legs SCAN of the leg keys: HELD source legs are holds,
--                    COMMITTED source legs exported tombstones, PREPARED
--                    destination legs pending credits; others are skipped
--   r  retired       the retired list, by index
--   c  cancelled     the cancelled list, by index
-- ARGV: phase, position (SCAN cursor or list index), after (hex of the last
--   key of that SCAN step already returned, without the phase's key prefix;
--   "" for none), limit
--   (records), blocks_budget, account_blocks_max
-- Returns {log_size, next_phase ("" when done), next_position, next_after,
--   then per record: kind, owner, blocks ("b,b,..." as block_text), n, n details}
-- or {"too_many_blocks", account} (an internal outcome, sent as STATE_TOO_LARGE) when an account holds more than
-- account_blocks_max blocks.
local phase, pos, after = ARGV[1], ARGV[2], ARGV[3]
local limit, budget, account_max = num(ARGV[4]), num(ARGV[5]), num(ARGV[6])
local out = { fmt_int(num(redis.call('GET', KEY_LOG_SIZE))), '', '0', '' }
local records, blocks_n = 0, 0

local function record(kind, owner, btext, nblocks, details)
  out[#out + 1] = kind
  out[#out + 1] = owner
  out[#out + 1] = btext
  out[#out + 1] = fmt_int(#details)
  for _, d in ipairs(details) do out[#out + 1] = d end
  records = records + 1
  blocks_n = blocks_n + nblocks
end

local function full() return records >= limit or blocks_n >= budget end

local function ends_with(s, suffix) return string.sub(s, -#suffix) == suffix end

-- The record of the account whose info or blocks key is key (blocks without
-- info: an account no script opened, sent with an empty holder kind); true
-- and nothing for a blocks key of an account with info; false if the
-- account holds too many blocks.
local function account_record(key)
  local id
  if ends_with(key, KEY_ACCOUNT_INFO_SUFFIX) then
    id = string.sub(key, #KEY_ACCOUNT_PREFIX + 1, #key - #KEY_ACCOUNT_INFO_SUFFIX)
  elseif ends_with(key, KEY_ACCOUNT_BLOCKS_SUFFIX) then
    id = string.sub(key, #KEY_ACCOUNT_PREFIX + 1, #key - #KEY_ACCOUNT_BLOCKS_SUFFIX)
    if redis.call('EXISTS', acct_info_key(id)) == 1 then return true end
  else
    return true
  end
  if redis.call('ZCARD', acct_blocks_key(id)) > account_max then return false, id end
  local info = redis.call('HMGET', acct_info_key(id), 'kind', 'held_g', 'pending_g')
  -- the blocks in the spending order of all methodologies, as the record
  -- always had them, then any member that is not a block (named by the
  -- reader)
  local blocks, bad, t = {}, {}, {}
  for _, m in ipairs(redis.call('ZRANGE', acct_blocks_key(id), 0, -1)) do
    local b = block_from_member(account_member_block(m))
    if b then blocks[#blocks + 1] = b else bad[#bad + 1] = m end
  end
  table.sort(blocks, block_before)
  for i, b in ipairs(blocks) do t[i] = block_text(b) end
  for _, m in ipairs(bad) do t[#t + 1] = account_member_block(m) end
  record('account', id, table.concat(t, ','), #t, { info[1] or '', info[2] or '0', info[3] or '0' })
  return true
end

local function leg_record(key)
  if not ends_with(key, KEY_LEG_SUFFIX) then return true end
  local tid = string.sub(key, #KEY_LEG_PREFIX + 1, #key - #KEY_LEG_SUFFIX)
  local leg = redis.call('HMGET', key, 'role', 'state', 'from', 'to', 'blocks', 'debited_g', 'credited_g')
  local btext = leg[5] or ''
  local n = 0
  if btext ~= '' then n = #split(btext, ',') end
  if leg[1] == 'source' and leg[2] == 'HELD' then
    record('hold', tid, btext, n, { leg[3] or '', leg[4] or '', leg[6] or '0' })
  elseif leg[1] == 'source' and leg[2] == 'COMMITTED' then
    record('exported', tid, btext, n, { leg[3] or '', leg[4] or '' })
  elseif leg[1] == 'destination' and leg[2] == 'PREPARED' then
    record('pending', tid, btext, n, { leg[4] or '', leg[3] or '', leg[7] or '0' })
  end
  return true
end

local NEXT = { a = 't', t = 'r', r = 'c', c = '' }

local function hex(id) return (string.gsub(id, '.', function(c) return string.format('%02x', string.byte(c)) end)) end
local function unhex(h) return (string.gsub(h, '..', function(c) return string.char(tonumber(c, 16)) end)) end

-- Keys phase (a or t): SCAN steps until the page is full. A page cut inside
-- a step resumes at the same SCAN cursor after the last key returned, by
-- name (the step's keys are sorted): a key is never skipped, even when the
-- step returns fewer keys the second time (a rehash finished in between;
-- the keys it no longer returns come at later cursors).
local function scan_phase(prefix, each)
  local steps, last = 0, nil
  if after ~= '' then last = prefix .. unhex(after) end
  while not full() and steps < 16 do
    local res = redis.call('SCAN', pos, 'MATCH', prefix .. '*', 'COUNT', math.max(limit, 10))
    local keys = res[2]
    table.sort(keys)
    for i = 1, #keys do
      if last == nil or keys[i] > last then
        if full() then
          out[2], out[3], out[4] = phase, pos, hex(string.sub(last, #prefix + 1))
          return true
        end
        local ok, id = each(keys[i])
        if not ok then return false, id end
        last = keys[i]
      end
    end
    pos, last, steps = res[1], nil, steps + 1
    if pos == '0' then
      out[2], out[3], out[4] = NEXT[phase], '0', ''
      return true
    end
  end
  out[2], out[3], out[4] = phase, pos, ''
  return true
end

-- List phase (r or c): elements "OWNER|block" from index pos.
local function list_phase(key, kind)
  local from = num(pos)
  local items = redis.call('LRANGE', key, from, from + limit - 1)
  local accounts = {}
  for _, item in ipairs(items) do
    local bar = string.find(item, '|', 1, true)
    local owner, btext = string.sub(item, 1, bar - 1), string.sub(item, bar + 1)
    local details = {}
    if kind == 'retired' then
      if accounts[owner] == nil then
        accounts[owner] = redis.call('HGET', KEY_RETIREMENT_PREFIX .. owner .. KEY_RETIREMENT_SUFFIX, 'account') or ''
      end
      details = { accounts[owner] }
    end
    record(kind, owner, btext, 1, details)
  end
  if #items < limit then
    out[2], out[3], out[4] = NEXT[phase], '0', ''
  else
    out[2], out[3], out[4] = phase, fmt_int(from + #items), ''
  end
  return true
end

local ok, id = true, nil
if phase == 'a' then
  ok, id = scan_phase(KEY_ACCOUNT_PREFIX, account_record)
elseif phase == 't' then
  ok, id = scan_phase(KEY_LEG_PREFIX, leg_record)
elseif phase == 'r' then
  list_phase(KEY_RETIRED, 'retired')
elseif phase == 'c' then
  list_phase(KEY_CANCELLED, 'cancelled')
end
if not ok then return { 'too_many_blocks', id } end
return out
