-- account_blocks_migrate: folds the account blocks of a store written in an
-- earlier format into the one sorted set per account ({a:ID}:blocks,
-- members "METH|" + block member, _prelude.lua account_add_block), once:
--   * two sorted sets (until 2026-12-02): {a:ID}:blocks of the block
--     members alone, each written again with its methodology in front, and
--     {a:ID}:by-meth, which held the same blocks so, emptied (and so gone);
--   * a hash (before the sorted sets) "origin|meth|vintage|first" -> last:
--     each field becomes a member;
--   * a set of block members alone without a second set: the same.
-- A store converted (meta:blocks-one-set) is left alone, so this is one
-- EXISTS on every later call. An account with a field or member that is not
-- a block keeps it as it was (nothing of it is lost; the checker names it).
-- One script: nothing changes the store meanwhile (a large store is blocked
-- for as long as it takes). Run by a gateway at start, before
-- serial_index_build, which reads the set. Stop every gateway of the region
-- before starting the first that runs this: an older one writes the old
-- format beside it.
-- ARGV: none. Returns {accounts converted, accounts left as they were}.
if redis.call('EXISTS', KEY_BLOCKS_ONE_SET) == 1 then return { 0, 0 } end
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
       string.find(b.origin, '^[A-Z0-9-]+$') == nil or b.meth == '' or not pcall(block_member_check, b) then
      return nil -- (block_member_check refuses what those comparisons let through: NaN)
    end
    out[#out + 1] = b
  end
  return out
end

-- A hash of blocks, or a set of block members without "METH|".
local function convert(key)
  local id = string.sub(key, #KEY_ACCOUNT_PREFIX + 1, #key - #KEY_ACCOUNT_BLOCKS_SUFFIX)
  if redis.call('EXISTS', KEY_ACCOUNT_PREFIX .. id .. KEY_ACCOUNT_BY_METH_SUFFIX) == 1 then return end -- left above
  local flat = redis.pcall('HGETALL', key) -- an error: a sorted set
  if flat.err == nil then
    local blocks = hash_blocks(flat)
    if blocks == nil then left = left + 1 return end
    for i = 1, #flat, 2 do redis.call('HDEL', key, flat[i]) end
    for _, b in ipairs(blocks) do account_add_block(id, b) end
    converted = converted + 1
    return
  end
  local kept, any = false, false
  for _, m in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    if string.find(m, '|', 1, true) == nil then
      -- the block checked against the member format before its old member
      -- goes: one out of it (a hand edit that still parses) stays as it was
      local b = block_from_member(m)
      if b and pcall(block_member_check, b) then
        redis.call('ZREM', key, m)
        account_add_block(id, b)
        any = true
      else
        kept = true
      end
    end
  end
  if kept then left = left + 1 elseif any then converted = converted + 1 end
end

-- Whether the second set (members by-meth) holds exactly the first one's
-- members (bare), each behind its own block's methodology.
local function sets_agree(bare, by_meth)
  if #bare ~= #by_meth then return false end
  local want = {}
  for _, m in ipairs(bare) do want[m] = true end
  for _, m in ipairs(by_meth) do
    local tail = account_member_block(m)
    local b = block_from_member(tail)
    if not want[tail] or b == nil or b.meth .. '|' .. tail ~= m then return false end
    want[tail] = nil
  end
  return true
end

-- Two sets: the second one's members are what the first one's become
-- (convert, below); it goes when the two hold the same blocks.
each_key(KEY_ACCOUNT_PREFIX .. '*' .. KEY_ACCOUNT_BY_METH_SUFFIX, function(key)
  local id = string.sub(key, #KEY_ACCOUNT_PREFIX + 1, #key - #KEY_ACCOUNT_BY_METH_SUFFIX)
  local members = redis.call('ZRANGE', key, 0, -1)
  if #members == 0 then return end -- emptied already (SCAN named it twice)
  if not sets_agree(redis.call('ZRANGE', acct_blocks_key(id), 0, -1), members) then
    left = left + 1 -- the two sets differ (a hand edit): both kept, the checker names them
    return
  end
  for i = 1, #members, 1000 do -- (arguments per command: the Lua C stack)
    redis.call('ZREM', key, unpack(members, i, math.min(i + 999, #members)))
  end
end)
each_key(KEY_ACCOUNT_PREFIX .. '*' .. KEY_ACCOUNT_BLOCKS_SUFFIX, convert)
redis.call('SET', KEY_BLOCKS_ONE_SET, '1')
return { converted, left }
