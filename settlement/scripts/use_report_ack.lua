-- use_report_ack: what ORIGIN answered to use reports sent to it
-- (settlement/use_reports.c). APPLIED or ALREADY: the report is done and
-- leaves the outbox. REFUSED, or no answer (the call failed): it stays, due
-- again after a backoff that doubles per try from backoff_min_ms up to
-- backoff_max_ms, with the refusal's reason kept for the operator.
-- ARGV: now_ms, origin, backoff_min_ms, backoff_max_ms, n, then n times:
--   id, outcome ("P" applied, "D" already, "R" refused, "U" unanswered), reason
-- Returns { pending, done }: reports to ORIGIN still waiting, and how many
-- this call removed.
local now_ms, origin = num(ARGV[1]), ARGV[2]
local bmin, bmax, n = num(ARGV[3]), num(ARGV[4]), num(ARGV[5])
local zkey = KEY_REPORTS_OUT_PREFIX .. origin
local done = 0
local function ack_one(i)
  local id, outcome, reason = ARGV[6 + i * 3], ARGV[7 + i * 3], ARGV[8 + i * 3]
  local key = KEY_REPORT_OUT_PREFIX .. origin .. ':' .. id .. KEY_REPORT_OUT_SUFFIX
  if redis.call('EXISTS', key) == 1 then
    if outcome == 'P' or outcome == 'D' then
      redis.call('HDEL', key, 'kind', 'purpose', 'blocks', 'created_ms', 'tries', 'last_reason')
      later('ZREM', zkey, id)
      done = done + 1
    else
      local tries = redis.call('HINCRBY', key, 'tries', 1)
      local wait = bmin
      for _ = 2, math.min(tries, 30) do
        wait = wait * 2
        if wait >= bmax then wait = bmax break end
      end
      if outcome == 'R' then redis.call('HSET', key, 'last_reason', reason) end
      later('ZADD', zkey, fmt_int(now_ms + wait), id)
    end
  end
end
-- The outbox's queue is written at the end (with_later, _prelude.lua),
-- before it is counted.
with_later(function()
  for i = 0, n - 1 do ack_one(i) end
end)
return { redis.call('ZCARD', zkey), done }
