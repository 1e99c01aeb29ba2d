-- feed_list: departures and arrivals after a cursor, for registries polling
-- what arrived.
-- ARGV: after_cursor, limit, kind ("" both, "A" arrivals, "D" departures)
-- Returns a flat list: cursor, tid, kind, repeated.
local after, limit, kind = ARGV[1], num(ARGV[2]), ARGV[3]
local out = {}
local from = '(' .. after
while #out < limit * 3 do
  local rows = redis.call('ZRANGEBYSCORE', KEY_FEED, from, '+inf', 'WITHSCORES', 'LIMIT', 0, limit)
  if #rows == 0 then break end
  for i = 1, #rows, 2 do
    local k, tid = string.sub(rows[i], 1, 1), string.sub(rows[i], 3)
    if kind == '' or kind == k then
      if #out < limit * 3 then
        out[#out + 1] = rows[i + 1]
        out[#out + 1] = tid
        out[#out + 1] = k
      end
    end
    from = '(' .. rows[i + 1]
  end
end
return out
