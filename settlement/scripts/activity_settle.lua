-- activity_settle: at an activity's home region, settles reservations of one
-- region's issuances: issued (state I, kept for ever: the activity is
-- credited once in the federation) or released (the issuance never happened:
-- the key is free again). Only a reservation in state R held by this region,
-- issuance and reservation number changes; anything else (a replay, a stale
-- or foreign reservation) changes nothing.
-- ARGV: now_ms, region, n, then n times: key, issuance_id, rsv, issued ("1"/"0")
-- Audit: 'act-issued' or 'act-release' per reservation settled
-- (ids: the key, the region, the issuance id; details: the reservation number).
-- Returns the number of reservations settled.
local now_ms, region, n = num(ARGV[1]), ARGV[2], num(ARGV[3])
local settled = 0
for i = 0, n - 1 do
  local key, iid, rsv, issued = ARGV[4 + i * 4], ARGV[5 + i * 4], ARGV[6 + i * 4], ARGV[7 + i * 4]
  if redis.call('HGET', KEY_ACTIVITIES, key) == 'R|' .. region .. '|' .. iid .. '|' .. rsv then
    if issued == '1' then
      redis.call('HSET', KEY_ACTIVITIES, key, 'I|' .. region .. '|' .. iid .. '|' .. rsv)
      audit(now_ms, 'act-issued', { key, region, iid }, {}, { rsv })
    else
      redis.call('HDEL', KEY_ACTIVITIES, key)
      audit(now_ms, 'act-release', { key, region, iid }, {}, { rsv })
    end
    redis.call('ZREM', KEY_ACTIVITIES_RESERVED_PREFIX .. region, key)
    if redis.call('HINCRBY', KEY_ACTIVITIES_PENDING, region, -1) < 0 then
      redis.call('HSET', KEY_ACTIVITIES_PENDING, region, '0')
    end
    settled = settled + 1
  end
end
return settled
