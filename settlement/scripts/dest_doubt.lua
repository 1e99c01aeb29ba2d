-- dest_doubt: the coordinator was asked about prepared destination legs
-- (recovery's QueryDecision, or ResolveInDoubt's own question) and gave no
-- decision: unreachable, timed out, or it has no record. Each such attempt is
-- recorded on the leg, so that an operator may force a decision only after
-- the coordinator has failed for heuristic_after_ms of recorded attempts
-- (DESIGN §6, heuristic decisions), never after one timeout.
-- ARGV: now_ms, source_region, n, then n tids
-- No audit entry: nothing moves and nothing is decided.
-- Returns per leg: first failed attempt ms, last failed attempt ms, attempts
-- ("0", "0", "0" for a leg that is not a PREPARED leg from source_region).
local now_ms, source, n = num(ARGV[1]), ARGV[2], num(ARGV[3])
local out = {}
for i = 1, n do
  local key = leg_key(ARGV[3 + i])
  local leg = redis.call('HMGET', key, 'role', 'state', 'peer', 'doubt_first_ms')
  if leg[1] == 'destination' and leg[2] == 'PREPARED' and leg[3] == source then
    local first = num(leg[4])
    if first == 0 then
      first = now_ms
      redis.call('HSET', key, 'doubt_first_ms', fmt_int(now_ms))
    end
    redis.call('HSET', key, 'doubt_last_ms', fmt_int(now_ms))
    local attempts = redis.call('HINCRBY', key, 'doubt_attempts', 1)
    out[#out + 1] = fmt_int(first)
    out[#out + 1] = fmt_int(now_ms)
    out[#out + 1] = fmt_int(attempts)
  else
    out[#out + 1] = '0'
    out[#out + 1] = '0'
    out[#out + 1] = '0'
  end
end
return out
