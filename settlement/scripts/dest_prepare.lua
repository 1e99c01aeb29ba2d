-- dest_prepare: phase one at the destination (DESIGN §6 step 3), one call
-- per batch. Each new leg is recorded PREPARED as a pending credit that cannot
-- be spent (vote yes) or REFUSED with its reason (vote no). A leg seen before
-- gets the same vote again: duplicates and reordering change nothing.
-- ARGV: now_ms, source_region, batch_seq, n, then n times (11 fields):
--   tid, from_account, to_id, blocks, debited_g, credited_g, discount_g,
--   dest_meth, src_digest|dst_digest, expiry_ms, precheck (empty, or the
--   reason the C side already refuses it for); then the batch's
--   "count|sum_g|digest" as this side computed it (recorded once per batch_seq)
-- Audit: one 'prepare' entry per leg voted yes (the transfer, the account
-- credited, the source account, the leg's blocks; details: source region,
-- batch seq, credited_g), one 'refuse' entry for the legs voted no.
-- Returns per leg: "Y" or "N", then the reason ("" for yes).
local now_ms, source, batch_seq, n = num(ARGV[1]), ARGV[2], ARGV[3], num(ARGV[4])
local out = {}
local no_ids = {}
for i = 0, n - 1 do
  local base = 5 + i * 11
  local tid, from, to_id, btext = ARGV[base], ARGV[base + 1], ARGV[base + 2], ARGV[base + 3]
  local debited_g, credited_g, discount_g = ARGV[base + 4], ARGV[base + 5], ARGV[base + 6]
  local dest_meth, digests, expiry_ms, precheck = ARGV[base + 7], ARGV[base + 8],
                                                  num(ARGV[base + 9]), ARGV[base + 10]
  local key = leg_key(tid)
  local leg = redis.call('HMGET', key, 'role', 'state', 'reason')
  if leg[1] == 'source' then
    out[#out + 1] = 'N'
    out[#out + 1] = 'ID_REUSED'
  elseif leg[1] == 'destination' then
    if leg[2] == 'PREPARED' or leg[2] == 'COMMITTED' then
      out[#out + 1] = 'Y'
      out[#out + 1] = ''
    else
      out[#out + 1] = 'N'
      out[#out + 1] = leg[3] or 'REFUSED'
    end
  else
    local reason = precheck
    if reason == '' and redis.call('EXISTS', acct_info_key(to_id)) == 0 then
      reason = 'UNKNOWN_ACCOUNT'
    end
    if reason == '' and expiry_ms <= now_ms then reason = 'EXPIRED' end
    local state = 'PREPARED'
    if reason ~= '' then state = 'REFUSED' end
    redis.call('HSET', key, 'role', 'destination', 'state', state, 'reason', reason,
               'from', from, 'to', to_id, 'peer', source, 'blocks', btext,
               'debited_g', debited_g, 'credited_g', credited_g, 'discount_g', discount_g,
               'dest_meth', dest_meth, 'digests', digests, 'expiry_ms', fmt_int(expiry_ms),
               'created_ms', fmt_int(now_ms), 'decided_ms', '0', 'batch_seq', batch_seq)
    if reason == '' then
      hincr(acct_info_key(to_id), 'pending_g', num(credited_g))
      redis.call('ZADD', KEY_LEGS_PREPARED, expiry_ms, tid)
      audit(now_ms, 'prepare', { tid, to_id, from }, blocks_parse(btext),
            { source, batch_seq, credited_g })
      out[#out + 1] = 'Y'
      out[#out + 1] = ''
    else
      no_ids[#no_ids + 1] = tid .. ':' .. reason
      out[#out + 1] = 'N'
      out[#out + 1] = reason
    end
  end
end
local seq = num(batch_seq)
if seq > 0 then
  local all = {}
  for i = 0, n - 1 do all[#all + 1] = ARGV[5 + i * 11] end
  local key = KEY_BATCH_IN_PREFIX .. source
  if redis.call('HSETNX', key, batch_seq, ARGV[5 + n * 11] .. '|' .. fmt_int(now_ms) .. '|' ..
                table.concat(all, ',')) == 1 then
    if num(redis.call('GET', key .. KEY_BATCH_SEQ_SUFFIX)) < seq then redis.call('SET', key .. KEY_BATCH_SEQ_SUFFIX, batch_seq) end
  end
end
if #no_ids > 0 then audit(now_ms, 'refuse', no_ids, {}, { source, batch_seq }) end
return out
