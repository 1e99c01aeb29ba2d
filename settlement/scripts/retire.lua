-- retire: takes amount_g grams of an account's blocks out of circulation for
-- a purpose and a beneficiary. Idempotent on the retirement id. Serials of
-- other regions among them are reported to their origin (use_report_add).
-- ARGV: rid, request_fp, account_id, meth ('' any), vintage (0 any), amount_g,
--       purpose, beneficiary, now_ms, max_blocks
-- Returns {"OK", blocks} | {"DUP", blocks} | {"ID_REUSED"} | {"UNKNOWN_ACCOUNT"}
--       | {"INSUFFICIENT_BALANCE", have_g} | {"TOO_FRAGMENTED"}
local rid, fp, acct = ARGV[1], ARGV[2], ARGV[3]
local key = KEY_RETIREMENT_PREFIX .. rid .. KEY_RETIREMENT_SUFFIX
local rec = redis.call('HMGET', key, 'request_fp', 'blocks')
if rec[1] then
  if rec[1] == fp then return { 'DUP', rec[2] } end
  return { 'ID_REUSED' }
end
if redis.call('EXISTS', acct_info_key(acct)) == 0 then return { 'UNKNOWN_ACCOUNT' } end
local taken, have = account_take(acct, ARGV[4], num(ARGV[5]), num(ARGV[6]), num(ARGV[10]))
if taken == nil and have == -1 then return { 'TOO_FRAGMENTED' } end
if taken == nil then return { 'INSUFFICIENT_BALANCE', fmt_int(have) } end
local now_ms = num(ARGV[9])
local text = blocks_text(taken)
redis.call('HSET', key, 'request_fp', fp, 'account', acct, 'blocks', text, 'purpose', ARGV[7],
           'beneficiary', ARGV[8], 'created_ms', fmt_int(now_ms))
for _, b in ipairs(taken) do redis.call('RPUSH', KEY_RETIRED, rid .. '|' .. block_text(b)) end
audit(now_ms, 'retire', { rid, acct }, taken, { ARGV[7], ARGV[8] })
use_report_add(rid, 'retired', taken, ARGV[7], now_ms) -- other regions' serials: to their origin
return { 'OK', text }
