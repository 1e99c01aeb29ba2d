-- log_advance: advances the audit log's integrated Merkle tree
-- (settlement/log_tree.h), the compare-and-set of integration. The gateway
-- computed every hash; this script only checks and stores: it writes the new
-- node tiles and the new head if, and only if, the caller still holds the
-- integrator lease and the tree's size is still the one the caller read, so a
-- crash or a second integrator can never fork the tree.
-- ARGV: token, old_size, new_size, root_hex, now_ms, then pairs of tile field
--       ("LEVEL/INDEX") and tile bytes.
-- Returns {"ok"} | {"lease_lost"} | {"size_moved", stored size} (internal outcomes, not
-- reasons: nothing here reaches a client)
local token, old_size, new_size = ARGV[1], ARGV[2], ARGV[3]
local root_hex, now_ms = ARGV[4], ARGV[5]
if redis.call('GET', KEY_LEASE_INTEGRATOR) ~= token then return { 'lease_lost' } end
local size = redis.call('HGET', KEY_LOG_TREE, 'size') or '0'
if size ~= old_size then return { 'size_moved', size } end
local sequenced = tonumber(redis.call('GET', KEY_LOG_SIZE) or '0')
if tonumber(new_size) > sequenced or tonumber(new_size) <= tonumber(old_size) then
  return redis.error_reply('log_advance: new size ' .. new_size .. ' not in (' .. old_size ..
                           ', ' .. sequenced .. ']')
end
local n = #ARGV
local i = 6
while i < n do
  redis.call('HSET', KEY_LOG_TILES, ARGV[i], ARGV[i + 1])
  i = i + 2
end
redis.call('HSET', KEY_LOG_TREE, 'size', new_size, 'root', root_hex, 'time_ms', now_ms)
return { 'ok' }
