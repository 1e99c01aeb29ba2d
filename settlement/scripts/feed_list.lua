-- feed_list: departures and arrivals after a cursor, for registries polling
-- what arrived.
-- ARGV: after_cursor, limit, kind ("" both, "A" arrivals, "D" departures)
-- Reads at most FEED_READ_MAX entries of the feed a call, matching or not:
-- a filter that matches little must not hold Redis for the whole feed.
-- Returns a flat list: the cursor of the last entry read (after_cursor if
-- none), then cursor, tid, kind, repeated. The caller goes on after the
-- first, which passes entries read that did not match.
local FEED_READ_MAX = 10000
local after, limit, kind = ARGV[1], num(ARGV[2]), ARGV[3]
local out, read, last = { after }, 0, after
local function full() return #out - 1 >= limit * 3 end
while not full() and read < FEED_READ_MAX do
  local page = math.min(math.max(limit, 256), FEED_READ_MAX - read)
  local rows = redis.call('ZRANGEBYSCORE', KEY_FEED, '(' .. last, '+inf', 'WITHSCORES', 'LIMIT', 0, page)
  if #rows == 0 then break end
  for i = 1, #rows, 2 do
    if full() then break end
    local k = string.sub(rows[i], 1, 1)
    if kind == '' or kind == k then
      out[#out + 1] = rows[i + 1]
      out[#out + 1] = string.sub(rows[i], 3)
      out[#out + 1] = k
    end
    read, last = read + 1, rows[i + 1]
  end
end
out[1] = last
return out
