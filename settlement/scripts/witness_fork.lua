-- witness_fork: keeps the evidence of a fork of a peer region's log: the
-- signed note this region had cosigned, the conflicting signed note refused,
-- and the proof sent with it (settlement/witness.h). One record per
-- conflicting note (seen_id, the SHA-256 the caller computed of it), at most
-- forks_kept per region; a record is never deleted.
-- ARGV: region, seen_id, cosigned_note, conflicting_note, proof, detected_ms, forks_kept
-- Returns {"new", id} | {"known", id} | {"full"}
local seen = redis.call('HGET', KEY_CHECKPOINT_FORKS_SEEN, ARGV[2])
if seen then return { 'known', seen } end
if num(redis.call('HGET', KEY_CHECKPOINT_FORKS_COUNT, ARGV[1])) >= num(ARGV[7]) then
  return { 'full' }
end
local id = fmt_int(redis.call('INCR', KEY_CHECKPOINT_FORKS_SEQ))
redis.call('HSET', KEY_CHECKPOINT_FORK_PREFIX .. id, 'region', ARGV[1], 'cosigned', ARGV[3],
           'conflicting', ARGV[4], 'proof', ARGV[5], 'detected_ms', ARGV[6], 'acked', '0')
redis.call('ZADD', KEY_CHECKPOINT_FORKS, id, id)
redis.call('HSET', KEY_CHECKPOINT_FORKS_SEEN, ARGV[2], id)
redis.call('HINCRBY', KEY_CHECKPOINT_FORKS_COUNT, ARGV[1], 1)
redis.call('HINCRBY', KEY_CHECKPOINT_FORKS_OPEN, ARGV[1], 1)
return { 'new', id }
