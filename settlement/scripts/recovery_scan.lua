-- recovery_scan: what recovery has to look at (DESIGN §6).
-- ARGV: now_ms, limit
-- Returns {source_legs, dest_legs}: source_legs is a flat list of
--   tid, state, peer, expiry_ms for unacknowledged source legs whose expiry
--   has passed or which are decided; dest_legs is tid, peer, expiry_ms for
--   PREPARED destination legs past their expiry.
local now_ms, limit = num(ARGV[1]), num(ARGV[2])
local src = {}
local ids = redis.call('ZRANGE', KEY_LEGS_OPEN, 0, limit - 1)
for _, tid in ipairs(ids) do
  local leg = redis.call('HMGET', leg_key(tid), 'state', 'peer', 'expiry_ms')
  if leg[1] ~= 'HELD' or num(leg[3]) <= now_ms then
    src[#src + 1] = tid
    src[#src + 1] = leg[1] or 'UNKNOWN'
    src[#src + 1] = leg[2] or ''
    src[#src + 1] = leg[3] or '0'
  end
end
local dst = {}
local prepared = redis.call('ZRANGEBYSCORE', KEY_LEGS_PREPARED, '-inf', fmt_int(now_ms), 'LIMIT', 0,
                            limit)
for _, tid in ipairs(prepared) do
  local leg = redis.call('HMGET', leg_key(tid), 'peer', 'expiry_ms')
  dst[#dst + 1] = tid
  dst[#dst + 1] = leg[1] or ''
  dst[#dst + 1] = leg[2] or '0'
end
return { src, dst }
