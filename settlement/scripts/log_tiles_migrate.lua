-- log_tiles_migrate: converts the audit log's tiles of a store written when
-- they were fields of one hash (store_keys.h log:tiles, rewritten whole at
-- every integration) into one string per tile (log:tile:LEVEL/INDEX,
-- appended to by log_advance.lua), once: a store without the hash is left
-- alone, so this is one EXISTS on every later call. Where a tile already
-- has its string (a gateway of this version integrated, then one of an
-- older version wrote the hash again), the longer of the two is kept: a
-- tile only ever grows, and both hold the same leading hashes. One script:
-- nothing changes the store meanwhile (a large store is blocked for as long
-- as it takes: about 8 KB per 128 entries of the log). Run by a gateway at
-- start, before its integrator; log_advance refuses to write while the hash
-- exists.
-- ARGV: none. Returns the number of tiles converted.
if redis.call('EXISTS', KEY_LOG_TILES_LEGACY) == 0 then return 0 end
local flat = redis.call('HGETALL', KEY_LOG_TILES_LEGACY)
local converted = 0
for i = 1, #flat, 2 do
  local key = KEY_LOG_TILE_PREFIX .. flat[i]
  if redis.call('STRLEN', key) < #flat[i + 1] then redis.call('SET', key, flat[i + 1]) end
  redis.call('HDEL', KEY_LOG_TILES_LEGACY, flat[i]) -- the last field gone, the hash is too
  converted = converted + 1
end
return converted
