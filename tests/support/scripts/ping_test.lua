-- ping_test: a trivial script for the store's own tests; the gateway never
-- calls it. KEYS[1]: a counter key. ARGV[1]: echoed back.
-- ARGV[2] == "error": answer with an error reply instead (no write).
-- Returns {KEYS[1], ARGV[1], the counter after INCR}.
if ARGV[2] == 'error' then
  return redis.error_reply('PINGTEST requested error for ' .. tostring(ARGV[1]))
end
return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}
