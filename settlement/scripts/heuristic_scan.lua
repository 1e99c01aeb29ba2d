-- heuristic_scan: what recovery asks coordinators about after an operator's
-- heuristic decision (DESIGN §6), and what stays alarmed.
-- ARGV: limit
-- Returns {legs, mixed_n, mixed}: legs is a flat list of tid, peer for the
-- oldest `limit` destination legs decided by an operator whose coordinator
-- has not answered yet (legs:heuristic); mixed_n the number of
-- HEURISTIC_MIXED legs kept here (legs:mixed), of either role; mixed the
-- oldest `limit` of their tids.
local limit = num(ARGV[1])
local legs = {}
for _, tid in ipairs(redis.call('ZRANGE', KEY_LEGS_HEURISTIC, 0, limit - 1)) do
  legs[#legs + 1] = tid
  legs[#legs + 1] = redis.call('HGET', leg_key(tid), 'peer') or ''
end
return { legs, redis.call('ZCARD', KEY_LEGS_MIXED), redis.call('ZRANGE', KEY_LEGS_MIXED, 0, limit - 1) }
