-- origin_placeable: read-only. Whether this region, as the origin of the
-- serials of legs it has no record of, could still vote yes to each
-- (origin_prepare.lua's checks, without locking): asked by a destination
-- before it votes on a Prepare of a third region's serials (ConfirmOrigin
-- at_prepare), so that a source cannot make the destination claim, in its
-- serial index, serials the source does not hold.
-- ARGV: n, then n times (2 fields): source_region, blocks
-- Returns per leg the reason origin_prepare would refuse it for ("": none).
local n = num(ARGV[1])
local home = home_region()
local out = {}
for i = 1, n do
  local source, blocks = ARGV[2 * i], blocks_parse(ARGV[2 * i + 1])
  local reason = ''
  for _, b in ipairs(blocks) do
    if b.origin ~= home then reason = 'MALFORMED_LEG' break end
    reason = origin_check(b, source)
    if reason ~= '' then break end
  end
  out[i] = reason
end
return out
