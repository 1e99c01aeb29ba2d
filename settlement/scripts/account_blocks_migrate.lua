-- account_blocks_migrate: converts the account blocks of a store written
-- before they were sorted sets (store_keys.h {a:ID}:blocks, then a hash
-- "origin|meth|vintage|first" -> last) into the two sorted sets
-- (_prelude.lua account_add_block), once. A store converted
-- (meta:blocks-sorted) is left alone, so this is one EXISTS on every later
-- call. An account with a field that is not a block keeps its hash (nothing
-- of it is lost; the checker names it). One script: nothing changes the
-- store meanwhile (a large store is blocked for as long as it takes). Run by
-- a gateway at start, before serial_index_build, which reads the sets.
-- ARGV: none. Returns {accounts converted, accounts left as they were}.
if redis.call('EXISTS', KEY_BLOCKS_SORTED) == 1 then return { 0, 0 } end
local converted, left = 0, 0

-- The blocks of a hash's fields, or nil if one is not a block.
local function hash_blocks(flat)
  local out = {}
  for i = 1, #flat, 2 do
    local p = split(flat[i], '|')
    local b = { origin = p[1], meth = p[2], vintage = tonumber(p[3]), first = tonumber(p[4]),
                last = tonumber(flat[i + 1]) }
    if #p ~= 4 or b.vintage == nil or b.first == nil or b.last == nil or b.vintage < 0 or
       b.vintage > 9999 or b.first < 1 or b.last < b.first or b.last >= 1e16 or
       string.find(b.origin, '^[A-Z0-9-]+$') == nil or b.meth == '' then
      return nil
    end
    out[#out + 1] = b
  end
  return out
end

local cursor = '0'
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', KEY_ACCOUNT_PREFIX .. '*' .. KEY_ACCOUNT_BLOCKS_SUFFIX,
                       'COUNT', 1000)
  cursor = r[1]
  for _, key in ipairs(r[2]) do
    local flat = redis.pcall('HGETALL', key) -- an error: a sorted set already
    if flat.err == nil then
      local blocks = hash_blocks(flat)
      if blocks == nil then
        left = left + 1
      else
        for i = 1, #flat, 2 do redis.call('HDEL', key, flat[i]) end
        local id = string.sub(key, #KEY_ACCOUNT_PREFIX + 1, #key - #KEY_ACCOUNT_BLOCKS_SUFFIX)
        for _, b in ipairs(blocks) do account_add_block(id, b) end
        converted = converted + 1
      end
    end
  end
until cursor == '0'
redis.call('SET', KEY_BLOCKS_SORTED, '1')
return { converted, left }
