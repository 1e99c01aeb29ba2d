-- obligation_get: a beneficiary's obligation for a compliance year and what
-- it has offset against it (read-only).
-- ARGV: compliance_year, beneficiary
-- Returns {obligation_g ('' none), offset_g, offset_outside_g}
local field = ARGV[1] .. '|' .. ARGV[2]
return { redis.call('HGET', KEY_RULES_OBLIGATIONS, field) or '',
         redis.call('HGET', KEY_RULES_OFFSET, field) or '0',
         redis.call('HGET', KEY_RULES_OFFSET_OUTSIDE, field) or '0' }
