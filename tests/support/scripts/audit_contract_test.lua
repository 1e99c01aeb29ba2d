-- audit_contract_test: calls the prelude's audit() inside with_later, as
-- the batch scripts do, with the arguments (now_ms, event, ids, blocks,
-- details) that the Lua expression list ARGV[1] gives, for
-- tests/integration/test_audit_contract.c; the gateway never calls it.
-- Returns the entry's seq, or the error audit raised.
local args = loadstring('return ' .. ARGV[1])
if args == nil then return redis.error_reply('audit_contract_test: not an expression list') end
return with_later(function() return audit(args()) end)
