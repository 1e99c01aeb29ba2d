-- witness_fork_ack: an operator acknowledges a fork record: who, when and
-- why are added to it (the evidence stays), the region's count of forks not
-- acknowledged goes down, and the acknowledgement is an entry of this
-- region's own audit log (event "ack-fork").
-- ARGV: id, operator, reason, now_ms
-- Returns {"OK"} | {"already"} | {"not_found"}
local key = KEY_CHECKPOINT_FORK_PREFIX .. ARGV[1]
local f = redis.call('HMGET', key, 'region', 'acked')
if not f[1] then return { 'not_found' } end
if f[2] == '1' then return { 'already' } end
local now_ms = num(ARGV[4])
redis.call('HSET', key, 'acked', '1', 'acked_by', ARGV[2], 'ack_reason', ARGV[3], 'acked_ms',
           fmt_int(now_ms))
redis.call('HINCRBY', KEY_CHECKPOINT_FORKS_OPEN, f[1], -1)
audit(now_ms, 'ack-fork', { ARGV[1] }, {}, { f[1], ARGV[2], ARGV[3] })
return { 'OK' }
