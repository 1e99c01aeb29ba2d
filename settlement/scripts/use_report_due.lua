-- use_report_due: the use reports to ORIGIN due to be sent (again) at now_ms,
-- oldest due first (settlement/use_reports.c; _prelude.lua use_report_add).
-- Reads only (but drops an id whose report body is gone: nothing to send).
-- ARGV: now_ms, origin, max (1..1024)
-- Returns { pending, id1, kind1, purpose1, blocks1, id2, ... }: pending is
-- the number of reports to ORIGIN not yet acknowledged (due or not).
local now_ms, origin, max = num(ARGV[1]), ARGV[2], num(ARGV[3])
local zkey = KEY_REPORTS_OUT_PREFIX .. origin
local out = { redis.call('ZCARD', zkey) }
for _, id in ipairs(redis.call('ZRANGEBYSCORE', zkey, '-inf', fmt_int(now_ms), 'LIMIT', 0, max)) do
  local r = redis.call('HMGET', KEY_REPORT_OUT_PREFIX .. origin .. ':' .. id .. KEY_REPORT_OUT_SUFFIX,
                       'kind', 'purpose', 'blocks')
  if r[1] then
    out[#out + 1] = id
    out[#out + 1] = r[1]
    out[#out + 1] = r[2] or ''
    out[#out + 1] = r[3] or ''
  else
    redis.call('ZREM', zkey, id) -- no body: nothing to send (a store edited by hand)
  end
end
return out
