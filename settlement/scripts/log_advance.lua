-- log_advance: advances the audit log's integrated Merkle tree
-- (settlement/log_tree.h), the compare-and-set of integration. The gateway
-- computed every hash; this script only checks and stores: it appends the
-- new node hashes to their tiles and writes the new head if, and only if,
-- the caller still holds the integrator lease, the tree's size is still the
-- one the caller read, and every tile holds at least the bytes the caller
-- counted on (its offset), so a crash or a second integrator can never fork
-- the tree. A tile is appended to: an integration writes the new hashes
-- only (before, it rewrote every partial tile, up to 8 KB at each level, for
-- every integration). A tile holding more than its offset is what a tree
-- deleted without its tiles leaves (an operator's rebuild): it is cut to its
-- offset before the new hashes, as a rewrite did.
-- ARGV: token, old_size, new_size, root_hex, now_ms, then triples of tile
--       ("LEVEL/INDEX"), offset (the bytes the tile holds before) and the
--       new bytes.
-- Returns {"ok"} | {"lease_lost"} | {"size_moved", stored size}
--       | {"tiles_unmigrated"} (the store still has its tiles in the hash of
--       an older gateway: log_tiles_migrate.lua has to run first) | an
--       error for a tile that holds other than its offset (internal
--       outcomes, not reasons: nothing here reaches a client)
local token, old_size, new_size = ARGV[1], ARGV[2], ARGV[3]
local root_hex, now_ms = ARGV[4], ARGV[5]
if redis.call('GET', KEY_LEASE_INTEGRATOR) ~= token then return { 'lease_lost' } end
local size = redis.call('HGET', KEY_LOG_TREE, 'size') or '0'
if size ~= old_size then return { 'size_moved', size } end
if redis.call('EXISTS', KEY_LOG_TILES_LEGACY) == 1 then return { 'tiles_unmigrated' } end
local sequenced = tonumber(redis.call('GET', KEY_LOG_SIZE) or '0')
if tonumber(new_size) > sequenced or tonumber(new_size) <= tonumber(old_size) then
  return redis.error_reply('log_advance: new size ' .. new_size .. ' not in (' .. old_size ..
                           ', ' .. sequenced .. ']')
end
local n = #ARGV
if (n - 5) % 3 ~= 0 then return redis.error_reply('log_advance: ' .. n .. ' arguments') end
local held = {}
for i = 6, n, 3 do -- every check before any write
  held[i] = redis.call('STRLEN', KEY_LOG_TILE_PREFIX .. ARGV[i])
  if held[i] < tonumber(ARGV[i + 1]) then
    return redis.error_reply('log_advance: tile ' .. ARGV[i] .. ' holds ' .. held[i] ..
                             ' bytes, the integrator counted on ' .. ARGV[i + 1])
  end
end
for i = 6, n, 3 do
  local key, offset = KEY_LOG_TILE_PREFIX .. ARGV[i], tonumber(ARGV[i + 1])
  if held[i] == offset then
    redis.call('APPEND', key, ARGV[i + 2])
  elseif offset == 0 then
    redis.call('SET', key, ARGV[i + 2])
  else
    redis.call('SET', key, redis.call('GETRANGE', key, 0, offset - 1) .. ARGV[i + 2])
  end
end
redis.call('HSET', KEY_LOG_TREE, 'size', new_size, 'root', root_hex, 'time_ms', now_ms)
return { 'ok' }
