-- witness_own_add: keeps a new checkpoint of this region's own log (the
-- signed note the checkpointer made), never going back, and drops the oldest
-- beyond own_kept with the cosignatures received for them.
-- ARGV: size, note, own_kept, peer...
-- Returns {"OK"} | {"known"} | {"older", newest_size}
local size = ARGV[1]
if redis.call('HEXISTS', KEY_CHECKPOINT_OWN_NOTES, size) == 1 then return { 'known' } end
local newest = redis.call('ZREVRANGE', KEY_CHECKPOINT_OWN_SIZES, 0, 0)
if newest[1] and num(newest[1]) > num(size) then return { 'older', newest[1] } end
redis.call('ZADD', KEY_CHECKPOINT_OWN_SIZES, size, size)
redis.call('HSET', KEY_CHECKPOINT_OWN_NOTES, size, ARGV[2])
local over = redis.call('ZCARD', KEY_CHECKPOINT_OWN_SIZES) - num(ARGV[3])
if over > 0 then
  local old = redis.call('ZRANGE', KEY_CHECKPOINT_OWN_SIZES, 0, over - 1)
  for _, s in ipairs(old) do
    redis.call('ZREM', KEY_CHECKPOINT_OWN_SIZES, s)
    redis.call('HDEL', KEY_CHECKPOINT_OWN_NOTES, s)
    for i = 4, #ARGV do redis.call('HDEL', KEY_CHECKPOINT_OWN_COSIGS, s .. '|' .. ARGV[i]) end
  end
end
return { 'OK' }
