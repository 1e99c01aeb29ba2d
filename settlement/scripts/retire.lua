-- retire: takes amount_g grams of an account's blocks out of circulation for
-- a purpose and a beneficiary. Idempotent on the retirement id. Serials of
-- other regions among them are reported to their origin (use_report_add).
-- Rules on use (adapters/rules.h; README "Rules on use"), when rules_on is
-- '1', are checked on the blocks about to be taken before anything is
-- written: each block's origin, methodology and vintage must be accepted by
-- the purpose's rule; with a share (compliance offsetting), the beneficiary's
-- offsets for the compliance year, overall and with other regions' serials,
-- stay within the share of its registered obligation (rules:obligations),
-- counted in rules:offset and rules:offset-outside in the same script.
-- ARGV: rid, request_fp, account_id, meth ('' any), vintage (0 any), amount_g,
--       purpose, beneficiary, now_ms, max_blocks,
--       rules_on ('0'|'1'), origins (' A B ' or '*'), methodologies (same),
--       vintage_min, vintage_max (0 0: any), share_num, share_den (0: none),
--       outside_num, outside_den, compliance_year
-- Returns {"OK", blocks} | {"DUP", blocks} | {"ID_REUSED"} | {"UNKNOWN_ACCOUNT"}
--       | {"INSUFFICIENT_BALANCE", have_g} | {"TOO_FRAGMENTED"}
--       | {"PURPOSE_NOT_ALLOWED", what ('origin'|'methodology'|'vintage'), block}
--       | {"QUOTA_EXCEEDED", which ('obligation'|'share'|'share_outside'), room_g, cap_g, used_g}
--       | {"ACCOUNT_DAMAGED", why} (transfer_hold.lua)
local rid, fp, acct = ARGV[1], ARGV[2], ARGV[3]
local key = KEY_RETIREMENT_PREFIX .. rid .. KEY_RETIREMENT_SUFFIX
local rec = redis.call('HMGET', key, 'request_fp', 'blocks')
if rec[1] then
  if rec[1] == fp then return { 'DUP', rec[2] } end
  return { 'ID_REUSED' }
end
if redis.call('EXISTS', acct_info_key(acct)) == 0 then return { 'UNKNOWN_ACCOUNT' } end
local amount_g, home = num(ARGV[6]), home_region()
local origins, meths, vmin, vmax = ARGV[12], ARGV[13], num(ARGV[14]), num(ARGV[15])
local field = ARGV[20] .. '|' .. ARGV[8] -- "YEAR|BENEFICIARY"
local outside_g = 0

-- floor(a * n / d) exactly for a < 2^50, n <= d <= 10^6 (rules.h)
local function share_of(a, n, d)
  local r = math.fmod(a, d)
  local rn = r * n
  local r2 = math.fmod(rn, d)
  return ((a - r) / d) * n + (rn - r2) / d
end

local function listed(list, item) return list == '*' or string.find(list, ' ' .. item .. ' ', 1, true) ~= nil end

-- {which, room, cap, used} when want grams more would pass cap of key, else nil
local function over(which, key_used, obligation, n, d, want)
  local cap = share_of(obligation, n, d)
  local used = num(redis.call('HGET', key_used, field))
  local room = math.max(cap - used, 0)
  if want > room then return { 'QUOTA_EXCEEDED', which, fmt_int(room), fmt_int(cap), fmt_int(used) } end
  return nil
end

local function check(taken)
  for _, b in ipairs(taken) do
    if not listed(origins, b.origin) then return { 'PURPOSE_NOT_ALLOWED', 'origin', block_text(b) } end
    if not listed(meths, b.meth) then return { 'PURPOSE_NOT_ALLOWED', 'methodology', block_text(b) } end
    if vmin > 0 and (b.vintage < vmin or b.vintage > vmax) then
      return { 'PURPOSE_NOT_ALLOWED', 'vintage', block_text(b) }
    end
    if b.origin ~= home then outside_g = outside_g + block_grams(b) end
  end
  if num(ARGV[17]) == 0 then return nil end
  local obligation = redis.call('HGET', KEY_RULES_OBLIGATIONS, field)
  if not obligation then return { 'QUOTA_EXCEEDED', 'obligation', '0', '0', '0' } end
  return over('share', KEY_RULES_OFFSET, num(obligation), num(ARGV[16]), num(ARGV[17]), amount_g)
      or (outside_g > 0 and over('share_outside', KEY_RULES_OFFSET_OUTSIDE, num(obligation),
                                 num(ARGV[18]), num(ARGV[19]), outside_g))
      or nil
end

local ok, plan, have = account_take_plan_checked(acct, ARGV[4], num(ARGV[5]), amount_g, num(ARGV[10]))
if not ok then return { 'ACCOUNT_DAMAGED', plan } end
if plan == nil and have == -1 then return { 'TOO_FRAGMENTED' } end
if plan == nil then return { 'INSUFFICIENT_BALANCE', fmt_int(have) } end
local refusal = ARGV[11] == '1' and check(plan.taken) or nil
if refusal then return refusal end
local taken = account_take_apply(acct, plan)
if ARGV[11] == '1' and num(ARGV[17]) > 0 then
  hincr(KEY_RULES_OFFSET, field, amount_g)
  if outside_g > 0 then hincr(KEY_RULES_OFFSET_OUTSIDE, field, outside_g) end
end
local now_ms = num(ARGV[9])
local text = blocks_text(taken)
redis.call('HSET', key, 'request_fp', fp, 'account', acct, 'blocks', text, 'purpose', ARGV[7],
           'beneficiary', ARGV[8], 'created_ms', fmt_int(now_ms))
if num(ARGV[20]) > 0 then redis.call('HSET', key, 'compliance_year', ARGV[20]) end
for _, b in ipairs(taken) do redis.call('RPUSH', KEY_RETIRED, rid .. '|' .. block_text(b)) end
audit(now_ms, 'retire', { rid, acct }, taken, { ARGV[7], ARGV[8] })
use_report_add(rid, 'retired', taken, ARGV[7], now_ms) -- other regions' serials: to their origin
return { 'OK', text }
