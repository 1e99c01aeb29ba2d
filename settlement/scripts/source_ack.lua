-- source_ack: the destination has applied these decisions (DESIGN §6 step 6):
-- the legs are done and leave the recovery set.
-- ARGV: now_ms, n, tids...
-- Returns the number of legs newly marked acknowledged.
local now_ms, n = num(ARGV[1]), num(ARGV[2])
local ids = {}
for i = 1, n do
  local tid = ARGV[2 + i]
  local key = leg_key(tid)
  local leg = redis.call('HMGET', key, 'role', 'state', 'acked', 'peer')
  if leg[1] == 'source' and (leg[2] == 'COMMITTED' or leg[2] == 'ABORTED') and leg[3] ~= '1' then
    redis.call('HSET', key, 'acked', '1')
    redis.call('ZREM', KEY_LEGS_OPEN, tid)
    redis.call('ZREM', KEY_LEGS_UNACKED_PREFIX .. (leg[4] or ''), tid)
    ids[#ids + 1] = tid
  end
end
if #ids > 0 then audit(now_ms, 'acked', ids, {}, {}) end
return #ids
