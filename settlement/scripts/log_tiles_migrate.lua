-- log_tiles_migrate: converts the audit log's tiles of a store written when
-- they were fields of one hash (store_keys.h log:tiles, rewritten whole at
-- every integration) into one string per tile (log:tile:LEVEL/INDEX,
-- appended to by log_advance.lua), a chunk per call: the fields one HSCAN
-- step returns from cursor (128 asked for), each moved to its string and
-- deleted from the hash (the last field gone, the hash is too). The caller
-- (log_tree_migrate_tiles, at a gateway's start, before its integrator)
-- calls again with the cursor returned until it is "0" and the hash is
-- gone; a store without the hash costs one EXISTS. Where a tile already
-- has its string (a gateway of this version integrated, then one of an
-- older version wrote the hash again), the longer of the two is kept: a
-- tile only ever grows, and both hold the same leading hashes.
-- log_advance refuses to write while the hash exists.
-- ARGV: cursor ("0" to begin). Returns {next cursor, tiles converted}.
if redis.call('EXISTS', KEY_LOG_TILES_LEGACY) == 0 then return { '0', 0 } end
local step = redis.call('HSCAN', KEY_LOG_TILES_LEGACY, ARGV[1], 'COUNT', 128)
local flat = step[2]
local converted = 0
for i = 1, #flat, 2 do
  local key = KEY_LOG_TILE_PREFIX .. flat[i]
  if redis.call('STRLEN', key) < #flat[i + 1] then redis.call('SET', key, flat[i + 1]) end
  redis.call('HDEL', KEY_LOG_TILES_LEGACY, flat[i])
  converted = converted + 1
end
return { step[1], converted }
