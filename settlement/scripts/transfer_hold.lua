-- transfer_hold: step 1 of a transfer at the source, for a batch of
-- transfers in one call (group commit: one script, one fsync per batch).
-- Each hold moves debited_g grams of the account's blocks (methodology,
-- vintage or any, oldest first) into a hold under the transfer id and records
-- the leg HELD with its expiry. The holds run in order, each seeing the ones
-- before it: the same id twice in one batch is a replay (DUP) or ID_REUSED,
-- and a hold that finds the balance taken by an earlier one is refused.
-- ARGV: n, then n times these 21 (HOLD_ARGS):
--       tid, request_fp, from_id, to_account, peer_region, meth, vintage,
--       requested_g, credited_g, debited_g, discount_g, remainder_g,
--       ratio_num, ratio_den, dest_meth, src_digest, dst_digest, now_ms, expiry_ms,
--       max_blocks, hold_token (this attempt's, kept on the leg; "" none)
-- The leg record: the fields the later steps read, each on its own, and the
-- terms of the transfer that only gatewayd reads back (ledger_leg_get), in
-- one field "terms": meth|vintage|requested_g|discount_g|remainder_g|
-- ratio_num|ratio_den|dest_meth|created_ms. Eleven fields fewer to write, to
-- log in the AOF and to scan past in every later HMGET of this record (a
-- listpack while every value has at most 64 bytes: the usual transfer; a
-- longer blocks text, account or terms text makes it a hash table, as a
-- longer blocks text did before): 5% of Redis's instructions per settled
-- transfer at the source (docs/performance.md). reason, decided_ms and acked
-- are written when they change (absent = '', 0, not acked).
-- Returns n replies, in order, each {"OK", state, reason, blocks} for a new
--       hold (or for this attempt's own hold, still HELD: the same
--       hold_token, the gateway running the batch again after its reply was
--       lost) or {"DUP", state, reason, blocks} for a replay with the same
--       content | {"ID_REUSED"} | {"UNKNOWN_ACCOUNT"}
--       | {"INSUFFICIENT_BALANCE", have_g} | {"TOO_FRAGMENTED"}
--       | {"ACCOUNT_DAMAGED", why}: the account's blocks are out of the
--       store's format (a hand edit; account_take_plan_checked), nothing taken
local HOLD_ARGS = 21

local function hold_one(base)
  -- the leg's arguments as locals: a call per argument cost more (issue 16)
  local A = ARGV
  local tid, fp, from_id, to_id, peer = A[base + 1], A[base + 2], A[base + 3], A[base + 4], A[base + 5]
  local meth, vintage, requested_g, credited_g, debited_text = A[base + 6], A[base + 7], A[base + 8],
                                                               A[base + 9], A[base + 10]
  local discount_g, remainder_g, ratio_num, ratio_den, dest_meth = A[base + 11], A[base + 12],
                                                                   A[base + 13], A[base + 14], A[base + 15]
  local src_digest, dst_digest, now_text, expiry_text, max_blocks = A[base + 16], A[base + 17],
                                                                   A[base + 18], A[base + 19], A[base + 20]
  local token = A[base + 21]
  local key = leg_key(tid)
  local rec = redis.call('HMGET', key, 'request_fp', 'state', 'reason', 'blocks', 'role', 'hold_token')
  if rec[1] or rec[5] then
    if rec[1] ~= fp then return { 'ID_REUSED' } end
    local mine = token ~= '' and rec[6] == token and rec[2] == 'HELD'
    return { mine and 'OK' or 'DUP', rec[2], rec[3] or '', rec[4] or '' }
  end
  local debited_g = num(debited_text)
  -- an account a hand edit damaged refuses its own hold, not the batch's
  local ok, plan, have = account_take_plan_checked(from_id, meth, num(vintage), debited_g, num(max_blocks))
  if not ok then return { 'ACCOUNT_DAMAGED', plan } end
  -- An account whose blocks a take found exists: whether it does is asked
  -- only when the take found none (gatewayd never holds 0 g; a direct call
  -- that does is refused for an unknown account as before).
  if plan == nil or #plan.taken == 0 then
    if redis.call('EXISTS', acct_info_key(from_id)) == 0 then return { 'UNKNOWN_ACCOUNT' } end
  end
  if plan == nil and have == -1 then return { 'TOO_FRAGMENTED' } end
  if plan == nil then return { 'INSUFFICIENT_BALANCE', fmt_int(have) } end
  local taken = account_take_apply(from_id, plan)
  local now_ms, expiry_ms = num(now_text), num(expiry_text)
  local text = blocks_text(taken)
  local cursor = feed_add('D', tid)
  -- The fields the later steps read come first: a record this small is a
  -- listpack, where Redis finds a field by scanning from the front.
  redis.call('HSET', key, 'role', 'source', 'state', 'HELD', 'blocks', text,
             'peer', peer, 'from', from_id, 'expiry_ms', fmt_int(expiry_ms), 'debited_g', debited_text,
             'request_fp', fp, 'to', to_id, 'credited_g', credited_g, 'cursor', fmt_int(cursor),
             'terms', meth .. '|' .. vintage .. '|' .. requested_g .. '|' .. discount_g .. '|' .. remainder_g ..
               '|' .. ratio_num .. '|' .. ratio_den .. '|' .. dest_meth .. '|' .. fmt_int(now_ms),
             'src_digest', src_digest, 'dst_digest', dst_digest, 'hold_token', token)
  hincr(acct_info_key(from_id), 'held_g', debited_g)
  later('ZADD', KEY_LEGS_OPEN, fmt_int(expiry_ms), tid)
  later('ZADD', KEY_LEGS_HELD_PREFIX .. peer, fmt_int(expiry_ms), tid)
  audit(now_ms, 'hold', { tid, from_id, to_id }, taken, {})
  return { 'OK', 'HELD', '', text }
end

local n = num(ARGV[1])
if n < 1 or #ARGV ~= 1 + n * HOLD_ARGS then
  return redis.error_reply('transfer_hold: ' .. #ARGV .. ' arguments for ' .. fmt_int(n) .. ' holds')
end
-- The sets of legs, the feed and the audit log are written at the end of
-- the batch (with_later, _prelude.lua); hold_one reads none of them.
return with_later(function()
  local out = {}
  for i = 1, n do out[i] = hold_one(1 + (i - 1) * HOLD_ARGS) end
  return out
end)
