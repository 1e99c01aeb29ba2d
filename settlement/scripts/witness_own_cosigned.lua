-- witness_own_cosigned: keeps a peer's cosignature line of this region's
-- checkpoint of the given size (verified by the caller against the peer's
-- pinned key), and the size that peer last cosigned, which never goes back.
-- ARGV: size, peer, cosig
-- Returns {"OK"} | {"gone"} (that checkpoint is no longer kept)
if redis.call('HEXISTS', KEY_CHECKPOINT_OWN_NOTES, ARGV[1]) == 0 then return { 'gone' } end
redis.call('HSET', KEY_CHECKPOINT_OWN_COSIGS, ARGV[1] .. '|' .. ARGV[2], ARGV[3])
if num(ARGV[1]) > num(redis.call('HGET', KEY_CHECKPOINT_WITNESSED_BY, ARGV[2])) then
  redis.call('HSET', KEY_CHECKPOINT_WITNESSED_BY, ARGV[2], ARGV[1])
end
return { 'OK' }
