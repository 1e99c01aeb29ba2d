-- account_open: opens an account; idempotent.
-- ARGV: account_id, holder_kind, now_ms
-- Returns {"OK"} when created, {"ACCOUNT_EXISTS", kind} when it already was.
local id, kind, now_ms = ARGV[1], ARGV[2], num(ARGV[3])
local info = acct_info_key(id)
local existing = redis.call('HGET', info, 'kind')
if existing then return { 'ACCOUNT_EXISTS', existing } end
redis.call('HSET', info, 'kind', kind, 'created_ms', fmt_int(now_ms), 'held_g', '0',
           'pending_g', '0')
audit(now_ms, 'open', { id }, {}, { kind })
return { 'OK' }
