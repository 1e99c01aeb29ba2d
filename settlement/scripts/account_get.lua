-- account_get: a consistent snapshot of an account.
-- ARGV: account_id, blocks_limit
-- Returns {"OK", kind, held_g, pending_g, blocks_total, balances_n,
--          "origin|meth|vintage|grams" x balances_n, block x min(limit, total)}
--       (blocks oldest first) | {"UNKNOWN_ACCOUNT"}
local id, limit = ARGV[1], num(ARGV[2])
local info = redis.call('HMGET', acct_info_key(id), 'kind', 'held_g', 'pending_g')
if not info[1] then return { 'UNKNOWN_ACCOUNT' } end
local blocks = account_blocks(id, '', 0)
local sums, order = {}, {}
for _, b in ipairs(blocks) do
  local k = b.origin .. '|' .. b.meth .. '|' .. fmt_int(b.vintage)
  if sums[k] == nil then
    sums[k] = 0
    order[#order + 1] = k
  end
  sums[k] = sums[k] + block_grams(b)
end
local out = { 'OK', info[1], info[2] or '0', info[3] or '0', #blocks, #order }
for _, k in ipairs(order) do out[#out + 1] = k .. '|' .. fmt_int(sums[k]) end
for i, b in ipairs(blocks) do
  if i > limit then break end
  out[#out + 1] = block_text(b)
end
return out
