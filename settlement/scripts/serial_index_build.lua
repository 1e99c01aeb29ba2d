-- serial_index_build: builds, once each, what a store written before them
-- lacks: the serial index (store_keys.h serials:ORIGIN, _prelude.lua) and
-- the labels of this region's own serials (serial:labels).
--   The index: every block the region holds (accounts, HELD source legs,
--   PREPARED destination legs, retired and cancelled) becomes a range.
--   The labels: every issuance record of this region's serials ({i:IID}
--   'block'), in serial order; what serial:labels held is replaced.
-- A store that has one (meta:serial-index, meta:serial-labels) keeps it, so
-- this is two EXISTS on every later call. One script: nothing changes the
-- store meanwhile. Run by a gateway at start and by recovery, before it
-- could miss an overlap or a relabelled block.
-- ARGV: none. Returns {ranges indexed, issuances labelled} (0, 0 when both
-- were built already).
local n, labelled = 0, 0
local function build_index()
  local function add(origin, first, last)
    serial_index_add(origin, first, last)
    n = n + 1
  end
  each_key(KEY_ACCOUNT_PREFIX .. '*' .. KEY_ACCOUNT_BLOCKS_SUFFIX, function(key)
    for _, m in ipairs(redis.call('ZRANGE', key, 0, -1)) do
      local b = block_from_member(account_member_block(m))
      if b then add(b.origin, b.first, b.last) end
    end
  end)
  each_key(KEY_LEG_PREFIX .. '*' .. KEY_LEG_SUFFIX, function(key)
    local leg = redis.call('HMGET', key, 'role', 'state', 'blocks')
    if (leg[1] == 'source' and leg[2] == 'HELD') or
       (leg[1] == 'destination' and leg[2] == 'PREPARED') then
      for _, b in ipairs(blocks_parse(leg[3] or '')) do add(b.origin, b.first, b.last) end
    end
  end)
  for _, list in ipairs({ KEY_RETIRED, KEY_CANCELLED }) do
    for _, e in ipairs(redis.call('LRANGE', list, 0, -1)) do
      local bar = string.find(e, '|', 1, true)
      if bar then
        local b = block_parse(string.sub(e, bar + 1))
        add(b.origin, b.first, b.last)
      end
    end
  end
  redis.call('SET', KEY_SERIALS_BUILT, '1')
end

local function build_labels()
  local home, blocks = home_region(), {}
  each_key(KEY_ISSUANCE_PREFIX .. '*' .. KEY_ISSUANCE_SUFFIX, function(key)
    local text = redis.call('HGET', key, 'block')
    local b = text and block_parse(text)
    if b and b.origin == home and b.first >= 1 and b.last >= b.first then blocks[#blocks + 1] = b end
  end)
  table.sort(blocks, function(x, y) return x.first < y.first end)
  local once = {} -- SCAN may name a key twice: one issuance per first serial
  for _, b in ipairs(blocks) do
    if #once == 0 or once[#once].first ~= b.first then once[#once + 1] = b end
  end
  blocks = once
  local old = redis.call('ZRANGE', KEY_SERIAL_LABELS, 0, -1) -- issue.lua's since the last start
  for i = 1, #old, 1000 do
    redis.call('ZREM', KEY_SERIAL_LABELS, unpack(old, i, math.min(i + 999, #old)))
  end
  for _, b in ipairs(blocks) do serial_labels_add(b) end
  labelled = #blocks
  redis.call('SET', KEY_SERIAL_LABELS_BUILT, '1')
end

if redis.call('EXISTS', KEY_SERIALS_BUILT) == 0 then build_index() end
if redis.call('EXISTS', KEY_SERIAL_LABELS_BUILT) == 0 then build_labels() end
return { n, labelled }
