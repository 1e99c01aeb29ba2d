-- batch_open: numbers and records an outgoing settlement batch before its
-- Prepare is sent (DESIGN §8), so that both sides hold every batch; and
-- marks done the legs of earlier batches to the same peer that it has
-- acknowledged since (acknowledgements travel with the next batch, issue
-- 16: one script, one fsync, where the acknowledgements had their own;
-- source_ack.lua says what an acknowledgement changes and logs).
-- ARGV: peer, now_ms, count, sum_g, digest, k, then k acknowledged tids,
--       then the batch's tids
-- Returns the batch's sequence number for this pair.
local peer, now_ms, k = ARGV[1], num(ARGV[2]), num(ARGV[6])
local acked, tids = {}, {}
for i = 1, k do acked[i] = ARGV[6 + i] end
for i = 7 + k, #ARGV do tids[#tids + 1] = ARGV[i] end
local seq = redis.call('INCR', KEY_BATCH_OUT_PREFIX .. peer .. KEY_BATCH_SEQ_SUFFIX)
redis.call('HSET', KEY_BATCH_OUT_PREFIX .. peer, fmt_int(seq),
           ARGV[3] .. '|' .. ARGV[4] .. '|' .. ARGV[5] .. '|' .. fmt_int(now_ms) .. '|' ..
           table.concat(tids, ','))
audit(now_ms, 'batch', tids, {}, { peer, fmt_int(seq), ARGV[5] })
-- The acknowledgements' deferred writes (sets of legs, audit entries) at
-- the end (with_later); the batch's entry above comes first in the log.
if k > 0 then with_later(function() return source_acks(now_ms, peer, acked) end) end
return seq
