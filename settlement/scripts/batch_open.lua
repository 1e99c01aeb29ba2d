-- batch_open: numbers and records an outgoing settlement batch before its
-- Prepare is sent (DESIGN §8), so that both sides hold every batch.
-- ARGV: peer, now_ms, count, sum_g, digest, (unused), tid...
-- Returns the batch's sequence number for this pair.
local peer, now_ms = ARGV[1], num(ARGV[2])
local seq = redis.call('INCR', KEY_BATCH_OUT_PREFIX .. peer .. KEY_BATCH_SEQ_SUFFIX)
local tids = {}
for i = 7, #ARGV do tids[#tids + 1] = ARGV[i] end
redis.call('HSET', KEY_BATCH_OUT_PREFIX .. peer, fmt_int(seq),
           ARGV[3] .. '|' .. ARGV[4] .. '|' .. ARGV[5] .. '|' .. fmt_int(now_ms) .. '|' ..
           table.concat(tids, ','))
audit(now_ms, 'batch', tids, {}, { peer, fmt_int(seq), ARGV[5] })
return seq
