-- obligation_register: records a beneficiary's obligation for a compliance
-- year (grams), against which compliance offsetting is capped (rules on use,
-- retire.lua). Idempotent: the same obligation again changes nothing and
-- writes no audit entry; a different one replaces it, with an audit entry
-- 'obligation' naming the old and the new value.
-- ARGV: compliance_year, beneficiary, obligation_g, now_ms, operator
-- Returns {"OK"|"DUP"|"REPLACED", obligation_g, previous_g ('' none)}
local field = ARGV[1] .. '|' .. ARGV[2]
local was = redis.call('HGET', KEY_RULES_OBLIGATIONS, field)
if was == ARGV[3] then return { 'DUP', was, was } end
redis.call('HSET', KEY_RULES_OBLIGATIONS, field, ARGV[3])
audit(num(ARGV[4]), 'obligation', {}, {}, { ARGV[1], ARGV[2], ARGV[3], was or '', ARGV[5] })
return { was and 'REPLACED' or 'OK', ARGV[3], was or '' }
