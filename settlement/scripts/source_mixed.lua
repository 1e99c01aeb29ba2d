-- source_mixed: the destination answered a decision of this region (the
-- coordinator) with HEURISTIC_MIXED: an operator there had forced the other
-- outcome, and the credits could no longer be brought back to this
-- decision. The destination has recorded this decision and alarms until an
-- operator there compensates. Re-sending cannot change anything, so the leg
-- counts as acknowledged (it leaves legs:open: no more re-sends) and is kept
-- in legs:mixed, listed by ListInDoubt and counted by the metrics here too,
-- until an operator closes it (ResolveInDoubt with compensate).
-- ARGV: now_ms, n, then n tids
-- Audit: one 'heuristic' entry per leg newly marked (ids: the transfer, its
-- account; no blocks; details: peer, "MIXED", this region's decision "C"/"A",
-- "0") (docs/audit-log.md §2).
-- Returns the number of legs newly marked.
local now_ms, n = num(ARGV[1]), num(ARGV[2])
local marked = 0
for i = 1, n do
  local tid = ARGV[2 + i]
  local key = leg_key(tid)
  local leg = redis.call('HMGET', key, 'role', 'state', 'heuristic_outcome', 'from', 'peer',
                         'origins_unacked')
  if leg[1] == 'source' and (leg[2] == 'COMMITTED' or leg[2] == 'ABORTED') and not leg[3] then
    local decision = 'A'
    if leg[2] == 'COMMITTED' then decision = 'C' end
    -- the destination is answered for: no more re-sends to it (its
    -- legs:unacked set too, or recovery would send it the decision forever);
    -- origins still owed the decision keep the leg open for them
    redis.call('ZREM', KEY_LEGS_UNACKED_PREFIX .. (leg[5] or ''), tid)
    redis.call('HSET', key, 'dest_acked', '1', 'heuristic_outcome', 'MIXED',
               'heuristic_settled_ms', fmt_int(now_ms))
    if (leg[6] or '') == '' then
      redis.call('HSET', key, 'acked', '1')
      redis.call('ZREM', KEY_LEGS_OPEN, tid)
    end
    redis.call('ZADD', KEY_LEGS_MIXED, now_ms, tid)
    audit(now_ms, 'heuristic', { tid, leg[4] }, {}, { leg[5], 'MIXED', decision, '0' })
    marked = marked + 1
  end
end
return marked
