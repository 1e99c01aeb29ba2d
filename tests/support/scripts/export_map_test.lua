-- export_map_test: drives own_export_map (the map side of an export's
-- commit, _prelude.lua) and, beside it, the way the map was written before
-- it (blocks_split, then origin_follow for the head and for the tail), for
-- tests/integration/test_export_map.c; the gateway never calls it.
-- ARGV: mode ("merged": own_export_map; "per_part": the former way),
--   credited_g (as tonumber reads it: "nan" too), dest, the leg's blocks as
--   text (blocks_text).
-- Returns the cancelled parts moved, as blocks text.
local mode, credited_g, dest = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local blocks = blocks_parse(ARGV[4])
local cancelled
if mode == 'merged' then
  cancelled = own_export_map(blocks, credited_g, dest)
elseif mode == 'per_part' then
  local head, tail = blocks_split(blocks, credited_g)
  origin_follow(head, home_region(), dest, 'at')
  cancelled = origin_follow(tail, home_region(), dest, 'cancelled')
else
  return redis.error_reply('export_map_test: mode ' .. mode)
end
return blocks_text(cancelled)
