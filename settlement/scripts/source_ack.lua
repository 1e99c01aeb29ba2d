-- source_ack: a participant has applied these decisions (DESIGN §6 step 6).
-- The participant is the leg's destination, or the origin of its
-- third-region serials (the leg's `origins`, source_decide.lua). A leg is
-- done, and leaves the recovery set (legs:open), once its destination and
-- every origin acknowledged; each acknowledgement takes the leg out of that
-- participant's legs:unacked:PEER at once, so recovery re-sends only to the
-- participants that have not answered.
-- ARGV: now_ms, peer ("" = the destination of each leg), n, tids...
-- Audit: one 'origin-acked' entry for the legs an origin acknowledged (ids:
-- the transfers; details: the origin region); one 'acked' entry for the legs
-- now done (not for a leg whose destination answered HEURISTIC_MIXED).
-- The time of the 'acked' entry: now_ms is taken by the caller before this
-- call runs, and another thread's acknowledgement of the same leg (the
-- decider's and recovery's) may land in between with a later time. A leg
-- acknowledged by part of its participants keeps the latest time so far
-- (acks_ms), and the 'acked' entry takes the latest of now_ms and its legs'
-- acks_ms: it is never earlier than an acknowledgement it sums up.
-- Returns the number of legs newly done with an 'acked' entry.
local now_ms, peer, n = num(ARGV[1]), ARGV[2], num(ARGV[3])
local ids, by_origin = {}, {}
local done_ms = now_ms -- the time of the 'acked' entry
local function ack_one(i)
  local tid = ARGV[3 + i]
  local key = leg_key(tid)
  local leg = redis.call('HMGET', key, 'role', 'state', 'acked', 'peer', 'origins_unacked',
                         'dest_acked', 'acks_ms')
  if leg[1] == 'source' and (leg[2] == 'COMMITTED' or leg[2] == 'ABORTED') and leg[3] ~= '1' then
    local dest = leg[4] or ''
    local who = peer
    if who == '' then who = dest end
    local dest_acked = leg[6] == '1'
    local pending = split(leg[5] or '', ',')
    local changed = false
    if who == dest then
      if not dest_acked then
        dest_acked, changed = true, true
        later('ZREM', KEY_LEGS_UNACKED_PREFIX .. dest, tid)
      end
    else
      local left = {}
      for k = 1, #pending do
        local x = pending[k]
        if x == who then changed = true else left[#left + 1] = x end
      end
      if changed then
        pending = left
        later('ZREM', KEY_LEGS_UNACKED_PREFIX .. who, tid)
        by_origin[#by_origin + 1] = tid
      end
    end
    local acks_ms, recorded_ms = now_ms, leg[7] and num(leg[7]) -- false: no earlier answer
    if recorded_ms and recorded_ms > now_ms then acks_ms = recorded_ms end
    if changed and dest_acked and #pending == 0 then
      -- (origins_unacked only where it is not '' already: absent reads as '')
      if (leg[5] or '') ~= '' then
        redis.call('HSET', key, 'acked', '1', 'dest_acked', '1', 'origins_unacked', '')
      else
        redis.call('HSET', key, 'acked', '1', 'dest_acked', '1')
      end
      later('ZREM', KEY_LEGS_OPEN, tid)
      -- a destination that answered HEURISTIC_MIXED (source_mixed.lua) holds
      -- the other outcome: its 'heuristic' entry stands for its answer, and
      -- the leg is done without an 'acked' entry, which would say that every
      -- participant applied the decision
      if who == dest or redis.call('HGET', key, 'heuristic_outcome') ~= 'MIXED' then
        ids[#ids + 1] = tid
        if acks_ms > done_ms then done_ms = acks_ms end
      end
    elseif changed then
      redis.call('HSET', key, 'dest_acked', dest_acked and '1' or '0',
                 'origins_unacked', table.concat(pending, ','), 'acks_ms', fmt_int(acks_ms))
    end
  end
end
-- The sets of legs and the audit log are written at the end (with_later,
-- _prelude.lua); ack_one reads neither.
return with_later(function()
  for i = 1, n do ack_one(i) end
  if #by_origin > 0 then audit(now_ms, 'origin-acked', by_origin, {}, { peer }) end
  if #ids > 0 then audit(done_ms, 'acked', ids, {}, {}) end
  return #ids
end)
