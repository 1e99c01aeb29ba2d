-- activity_due: at an activity's home region, the reservations still R
-- (reserved, not settled) whose expiry has passed: the home then asks their
-- issuers (QueryIssuance) and settles them (activity_settle.lua).
-- One region's at a time, so that an issuer that does not answer hides no
-- other's.
-- ARGV: now_ms, region, limit
-- Returns a flat list: key, region, issuance_id, rsv per reservation, oldest first.
local now_ms, region, limit = ARGV[1], ARGV[2], num(ARGV[3])
local due = KEY_ACTIVITIES_RESERVED_PREFIX .. region
local keys = redis.call('ZRANGEBYSCORE', due, '-inf', now_ms, 'LIMIT', 0, limit)
local out = {}
for _, key in ipairs(keys) do
  local rec = redis.call('HGET', KEY_ACTIVITIES, key)
  local p = split(rec or '', '|')
  if p[1] == 'R' and p[2] == region then
    out[#out + 1] = key
    out[#out + 1] = p[2]
    out[#out + 1] = p[3]
    out[#out + 1] = p[4]
  else
    redis.call('ZREM', due, key) -- settled already: not due
  end
end
return out
