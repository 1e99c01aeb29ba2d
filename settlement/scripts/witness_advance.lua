-- witness_advance: this region, as a witness, keeps a peer region's newest
-- cosigned checkpoint (settlement/witness.h), with a compare-and-set on its
-- size: applied only if the size held is still the one the caller checked
-- the checkpoint against, and never going back. No hash is computed here:
-- the caller verified the signature and the consistency proof.
-- ARGV: region, expected_size, size, root_hex, note, cosig, time_ms, history_kept
-- Returns {"OK"} | {"changed", held_size}
local key = KEY_CHECKPOINT_WITNESS_PREFIX .. ARGV[1]
local held = num(redis.call('HGET', key, 'size'))
local size = num(ARGV[3])
if held ~= num(ARGV[2]) or size < held then return { 'changed', fmt_int(held) } end
redis.call('HSET', key, 'size', ARGV[3], 'root', ARGV[4], 'note', ARGV[5], 'cosig', ARGV[6],
           'time_ms', ARGV[7])
redis.call('HDEL', key, 'late_ms') -- the log is ahead again: a late one pending is forgotten
local history = key .. KEY_CHECKPOINT_HISTORY_SUFFIX
redis.call('RPUSH', history, ARGV[5] .. ARGV[6])
redis.call('LTRIM', history, -num(ARGV[8]), -1)
return { 'OK' }
