-- activity_query: at the issuing region, answers its activities' home: did
-- issuance IID happen under reservation RSV? If not, it never will: the
-- reservation is recorded abandoned (issue.lua refuses an issuance under an
-- abandoned reservation; the record expires after a day, far past any call's
-- deadline), so the home may release the key.
-- ARGV: n, then n times: iid, rsv
-- Returns per query "1" (issued under rsv) or "0" (not, and never will be).
local n = num(ARGV[1])
local out = {}
for i = 0, n - 1 do
  local iid, rsv = ARGV[2 + i * 2], ARGV[3 + i * 2]
  local key = KEY_ISSUANCE_PREFIX .. iid .. KEY_ISSUANCE_SUFFIX
  if redis.call('HGET', key, 'reservation') == rsv then
    out[#out + 1] = '1'
  else
    redis.call('SET', KEY_ACTIVITIES_ABANDONED_PREFIX .. iid, rsv, 'PX', '86400000')
    out[#out + 1] = '0'
  end
end
return out
