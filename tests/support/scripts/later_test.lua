-- later_test: drives the prelude's deferred writes (with_later, later,
-- later_call, later_count, later_hincr_floor, and audit and feed_add through
-- them) for tests/integration/test_later_writes.c; the gateway never calls it.
-- KEYS[1]: a sorted set, KEYS[2]: a list, KEYS[3]: a hash.
-- ARGV[1] "legs": ARGV[2] legs, each adds its number to KEYS[1] (score and
--   member), appends it to KEYS[2], takes 1 from field f of KEYS[3] (kept
--   at least 0), writes a feed entry and an audit entry 'later-test' (ids:
--   the number). Returns {audit seq of each leg...}.
-- ARGV[1] "order": in one batch ZADD a, ZREM a, ZADD b on KEYS[1]; RPUSH x,
--   LREM x (later_call), RPUSH y on KEYS[2]. Returns {}.
-- ARGV[1] "fail": as "legs", then raises an error after ARGV[3] legs.
-- ARGV[1] "fail_call": as "legs", but leg ARGV[3] + 1, after adding itself
--   to KEYS[1], runs a command Redis refuses (INCR of the hash KEYS[3], which
--   the caller created).
-- ARGV[1] "nested": with_later inside with_later (an assertion).
local set, list, hash = KEYS[1], KEYS[2], KEYS[3]

local function leg(i, fail)
  local text = fmt_int(i)
  later('ZADD', set, text, text)
  if fail then redis.call('INCR', hash) end
  later('RPUSH', list, text)
  later_hincr_floor(hash, 'f', -1)
  feed_add('T', text)
  return audit(1, 'later-test', { text }, {}, {})
end

local mode = ARGV[1]
if mode == 'order' then
  return with_later(function()
    later('ZADD', set, '1', 'a')
    later('ZREM', set, 'a')
    later('ZADD', set, '2', 'b')
    later('RPUSH', list, 'x')
    later_call('LREM', list, 1, 'x')
    later('RPUSH', list, 'y')
    return {}
  end)
end
if mode == 'nested' then
  return with_later(function() return with_later(function() return {} end) end)
end
local n, fail_after = num(ARGV[2]), num(ARGV[3])
return with_later(function()
  local seqs = {}
  for i = 1, n do
    if mode == 'fail' and i > fail_after then error('later_test: failing after leg ' .. fmt_int(fail_after)) end
    seqs[i] = leg(i, mode == 'fail_call' and i > fail_after)
  end
  return seqs
end)
