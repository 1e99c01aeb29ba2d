-- transfer_hold: step 1 of a transfer at the source. Moves debited_g grams of
-- the account's blocks (methodology, vintage or any, oldest first) into a
-- hold under the transfer id and records the leg HELD with its expiry.
-- ARGV: tid, request_fp, from_id, to_account, peer_region, meth, vintage,
--       requested_g, credited_g, debited_g, discount_g, remainder_g,
--       ratio_num, ratio_den, dest_meth, src_digest, dst_digest, now_ms, expiry_ms,
--       max_blocks
-- Returns {"OK", state, reason, blocks} for a new hold or {"DUP", state, reason, blocks}
--       for a replay with the same content | {"ID_REUSED"} | {"UNKNOWN_ACCOUNT"}
--       | {"INSUFFICIENT_BALANCE", have_g} | {"TOO_FRAGMENTED"}
local tid, fp, from_id = ARGV[1], ARGV[2], ARGV[3]
local key = leg_key(tid)
local rec = redis.call('HMGET', key, 'request_fp', 'state', 'reason', 'blocks', 'role')
if rec[1] or rec[5] then
  if rec[1] == fp then return { 'DUP', rec[2], rec[3] or '', rec[4] or '' } end
  return { 'ID_REUSED' }
end
if redis.call('EXISTS', acct_info_key(from_id)) == 0 then return { 'UNKNOWN_ACCOUNT' } end
local debited_g = num(ARGV[10])
local taken, have = account_take(from_id, ARGV[6], num(ARGV[7]), debited_g, num(ARGV[20]))
if taken == nil and have == -1 then return { 'TOO_FRAGMENTED' } end
if taken == nil then return { 'INSUFFICIENT_BALANCE', fmt_int(have) } end
local now_ms, expiry_ms = num(ARGV[18]), num(ARGV[19])
local text = blocks_text(taken)
local cursor = feed_add('D', tid)
redis.call('HSET', key, 'role', 'source', 'state', 'HELD', 'reason', '', 'request_fp', fp,
           'from', from_id, 'to', ARGV[4], 'peer', ARGV[5], 'meth', ARGV[6], 'vintage', ARGV[7],
           'requested_g', ARGV[8], 'credited_g', ARGV[9], 'debited_g', ARGV[10],
           'discount_g', ARGV[11], 'remainder_g', ARGV[12], 'ratio_num', ARGV[13],
           'ratio_den', ARGV[14], 'dest_meth', ARGV[15], 'src_digest', ARGV[16],
           'dst_digest', ARGV[17], 'created_ms', fmt_int(now_ms), 'expiry_ms', fmt_int(expiry_ms),
           'decided_ms', '0', 'acked', '0', 'blocks', text, 'cursor', fmt_int(cursor))
hincr(acct_info_key(from_id), 'held_g', debited_g)
redis.call('ZADD', KEY_LEGS_OPEN, expiry_ms, tid)
redis.call('ZADD', KEY_LEGS_HELD_PREFIX .. ARGV[5], expiry_ms, tid)
audit(now_ms, 'hold', { tid, from_id, ARGV[4] }, taken, {})
return { 'OK', 'HELD', '', text }
