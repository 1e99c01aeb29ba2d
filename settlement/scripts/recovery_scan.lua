-- recovery_scan: what recovery has to look at (DESIGN §6).
-- ARGV: now_ms, limit, npeers, then npeers peer regions
-- Returns {source_legs, dest_legs}: source_legs is a flat list of
--   tid, state, peer, expiry_ms, decided_ms ("0" while undecided) for
--   unacknowledged source legs whose expiry has passed or which are decided
--   (recovery leaves one decided too recently alone: the batch's own Decide
--   may still be in flight, engine.c), once per participant that has not
--   acknowledged: peer is the destination or an origin of the leg's
--   third-region serials (source_decide.lua origins); dest_legs is tid, peer,
--   expiry_ms for PREPARED legs past their expiry, destination or origin
--   (origin_prepare.lua), peer their source. At most limit of each.
-- Per peer and per state (legs:held:PEER, legs:unacked:PEER,
-- legs:prepared:PEER), each gets an equal share of limit, so that a backlog
-- to one peer, or of one kind, hides no other; then, with what is left, the
-- oldest of the region-wide sets (legs:open, legs:prepared), which also hold
-- legs recorded before the per-peer sets existed. No leg is listed twice
-- for one participant.
local now_ms, limit, npeers = num(ARGV[1]), num(ARGV[2]), num(ARGV[3])
local src, dst, seen = {}, {}, {}

-- A source leg towards participant `to` (its destination, or an origin of
-- its third-region serials; nil: the leg's destination).
local function add_src(tid, to)
  if #src >= 5 * limit then return end
  local leg = redis.call('HMGET', leg_key(tid), 'state', 'peer', 'expiry_ms', 'decided_ms')
  to = to or leg[2] or ''
  if seen[tid .. '|' .. to] then return end
  if leg[1] ~= 'HELD' or num(leg[3]) <= now_ms then
    seen[tid .. '|' .. to] = true
    src[#src + 1] = tid
    src[#src + 1] = leg[1] or 'UNKNOWN'
    src[#src + 1] = to
    src[#src + 1] = leg[3] or '0'
    src[#src + 1] = leg[4] or '0'
  end
end

-- A leg of legs:open: towards each participant that has not acknowledged.
local function add_open(tid)
  local leg = redis.call('HMGET', leg_key(tid), 'dest_acked', 'origins_unacked')
  if leg[1] ~= '1' then add_src(tid, nil) end
  for _, x in ipairs(split(leg[2] or '', ',')) do add_src(tid, x) end
end

local function add_dst(tid)
  if seen[tid] or #dst >= 3 * limit then return end
  seen[tid] = true
  local leg = redis.call('HMGET', leg_key(tid), 'peer', 'expiry_ms')
  dst[#dst + 1] = tid
  dst[#dst + 1] = leg[1] or ''
  dst[#dst + 1] = leg[2] or '0'
end

local share = math.floor(limit / (npeers + 1))
for i = 1, npeers do
  local peer = ARGV[3 + i]
  local half = math.max(math.floor(share / 2), 1)
  for _, tid in ipairs(redis.call('ZRANGEBYSCORE', KEY_LEGS_HELD_PREFIX .. peer, '-inf',
                                  fmt_int(now_ms), 'LIMIT', 0, half)) do add_src(tid, peer) end
  for _, tid in ipairs(redis.call('ZRANGE', KEY_LEGS_UNACKED_PREFIX .. peer, 0, half - 1)) do
    add_src(tid, peer)
  end
  for _, tid in ipairs(redis.call('ZRANGEBYSCORE', KEY_LEGS_PREPARED_PREFIX .. peer, '-inf',
                                  fmt_int(now_ms), 'LIMIT', 0, math.max(share, 1))) do
    add_dst(tid)
  end
end
for _, tid in ipairs(redis.call('ZRANGE', KEY_LEGS_OPEN, 0, limit - 1)) do add_open(tid) end
local prepared = redis.call('ZRANGEBYSCORE', KEY_LEGS_PREPARED, '-inf', fmt_int(now_ms), 'LIMIT', 0,
                            limit)
for _, tid in ipairs(prepared) do add_dst(tid) end
return { src, dst }
