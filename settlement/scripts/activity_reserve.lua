-- activity_reserve: at an activity's home region, reserves keyed activity
-- fingerprints for the issuances of one region (DESIGN §6 "Issuance across
-- regions"; settlement/activity_key.h). A key nobody holds is recorded R
-- (reserved) for (region, issuance id) under a new reservation number, due
-- by its expiry; the same region and issuance again gets the same answer;
-- any other holder is TAKEN. A region may hold at most pending_max keys in
-- state R (a limit per peer: L).
-- ARGV: now_ms, region, pending_max, n, then n times: key, issuance_id, expiry_ms
-- Audit: one 'act-reserve' entry per new reservation (ids: the key, the
-- region, the issuance id; details: the reservation number, expiry_ms).
-- Returns per key: "R|RSV" (reserved for this issuance, new or again),
-- "T|REGION" (taken: REGION reserved or issued it) or "L" (over the limit).
local now_ms, region, pending_max, n = num(ARGV[1]), ARGV[2], num(ARGV[3]), num(ARGV[4])
local pending = num(redis.call('HGET', KEY_ACTIVITIES_PENDING, region))
local out = {}
for i = 0, n - 1 do
  local key, iid, expiry_ms = ARGV[5 + i * 3], ARGV[6 + i * 3], ARGV[7 + i * 3]
  local rec = redis.call('HGET', KEY_ACTIVITIES, key)
  if rec then
    local p = split(rec, '|')
    if p[2] == region and p[3] == iid then out[#out + 1] = 'R|' .. p[4]
    else out[#out + 1] = 'T|' .. p[2] end
  elseif pending >= pending_max then
    out[#out + 1] = 'L'
  else
    local rsv = fmt_int(redis.call('INCR', KEY_ACTIVITIES_SEQ))
    redis.call('HSET', KEY_ACTIVITIES, key, 'R|' .. region .. '|' .. iid .. '|' .. rsv)
    redis.call('ZADD', KEY_ACTIVITIES_RESERVED_PREFIX .. region, expiry_ms, key)
    pending = pending + 1
    audit(now_ms, 'act-reserve', { key, region, iid }, {}, { rsv, expiry_ms })
    out[#out + 1] = 'R|' .. rsv
  end
end
redis.call('HSET', KEY_ACTIVITIES_PENDING, region, fmt_int(pending))
return out
