-- serial_index_build: builds the serial index (store_keys.h serials:ORIGIN,
-- _prelude.lua) of a store written before it existed, once: every block the
-- region holds (accounts, HELD source legs, PREPARED destination legs,
-- retired and cancelled) becomes a range. A store that has the index
-- (meta:serial-index) is left alone, so this is one GET on every later call.
-- One script: nothing changes the store meanwhile. Run by a gateway at
-- start and by recovery, before it could miss an overlap.
-- ARGV: none. Returns {number of ranges added} (0 when already built).
if redis.call('EXISTS', KEY_SERIALS_BUILT) == 1 then return { 0 } end
local n = 0
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
return { n }
