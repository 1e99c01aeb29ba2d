-- dest_prepare: phase one at the destination (DESIGN §6 step 3), one call
-- per batch. Each new leg is recorded PREPARED as a pending credit that cannot
-- be spent (vote yes) or REFUSED with its reason (vote no). A refusal keeps
-- only a small record (no blocks) that expires after the leg's expiry, at
-- most REFUSED_KEPT_MAX_MS + REFUSED_GRACE_MS from now, and at most
-- REFUSED_PER_MINUTE of them per source and minute (beyond that the vote is
-- still no, and nothing is kept): refusals leave nothing lasting, and what
-- they keep for a while is bounded per peer. A replay after the record is
-- gone is judged again: a yes then prepares a leg the source has aborted,
-- which recovery's QueryDecision drops. A leg is the source's: a leg seen
-- before from the same source with the same content gets the same vote
-- again (duplicates and reordering change nothing); the same id from another
-- source, or with other content, or held here in another role (source, or
-- origin: origin_prepare.lua), is voted no (ID_REUSED) and changes nothing.
-- A leg's blocks must not overlap any serials the region holds (the serial
-- index, _prelude.lua), nor each other (SERIALS_OVERLAP); blocks of this
-- region's own serials must have been issued (SERIALS_NOT_ISSUED), and the
-- origin's map must place them at the source, in no other leg prepared here,
-- under the labels they were issued with (SERIALS_NOT_AT_SOURCE,
-- SERIALS_LOCKED, SERIALS_MISLABELLED: _prelude.lua origin_check); a source
-- may have at most inflight_max legs PREPARED here (PEER_LEGS_LIMIT).
-- ARGV: now_ms, source_region, batch_seq, n, then n times (11 fields):
--   tid, from_account, to_id, blocks, debited_g, credited_g, discount_g,
--   dest_meth, src_digest|dst_digest, expiry_ms, precheck (empty, or the
--   reason the C side already refuses it for); then the batch's
--   "count|sum_g|digest" as this side computed it (recorded once per
--   batch_seq, and only if a leg is newly prepared); then inflight_max; then
--   inflow_max_g: the rules on use's daily inflow limit from source (grams
--   credited per UTC day, counted in rules:inflow:SOURCE when a leg is voted
--   yes; 0: none), past which a leg is voted no (QUOTA_EXCEEDED); then
--   "1" if the source records the discount of its own serials at its commit
--   (the Prepare's source_records_own_discount), else "0": kept on each leg
--   as own_recorded, which dest_decide reads
-- Audit: one 'prepare' entry per leg voted yes (the transfer, the account
-- credited, the source account, the leg's blocks; details: source region,
-- batch seq, credited_g). Legs voted no change nothing and are not logged
-- (the source logs its abort with the reason).
-- Returns per leg: "Y" or "N", then the reason ("" for yes), then its detail
-- for people ("" but for a daily inflow refusal: the rule and the room left).
local REFUSED_KEPT_MAX_MS, REFUSED_GRACE_MS, REFUSED_PER_MINUTE = 60000, 60000, 10000
local now_ms, source, batch_seq, n = num(ARGV[1]), ARGV[2], ARGV[3], num(ARGV[4])
local inflight_max = num(ARGV[6 + n * 11])
local home = home_region()
local serial_last = num(redis.call('GET', KEY_SERIAL_LAST))
local inflight = num(redis.call('HGET', KEY_PEER_INFLIGHT, source))
local inflow_max, inflow_key = num(ARGV[7 + n * 11]), KEY_RULES_INFLOW_PREFIX .. source
local inflow_day = fmt_int(math.floor(now_ms / 86400000))
local inflow = inflow_max > 0 and num(redis.call('HGET', inflow_key, inflow_day)) or 0
local own_recorded = ARGV[8 + n * 11] == '1' and '1' or '0'
local out = {}
local any_new = false -- a leg prepared by this call (not a replay)

-- Indexes the blocks one by one (so that they may not overlap each other
-- either); on a refusal takes back what it added. Returns the reason or ''.
local function blocks_claim(blocks)
  local added = {}
  local reason = ''
  for k = 1, #blocks do
    local b = blocks[k]
    if b.origin == home and b.last > serial_last then reason = 'SERIALS_NOT_ISSUED' break end
    if serial_overlap(b.origin, b.first, b.last) then reason = 'SERIALS_OVERLAP' break end
    if b.origin == home then
      reason = origin_check(b, source) -- coming home: the map must place them at source
      if reason ~= '' then break end
    end
    serial_index_add(b.origin, b.first, b.last)
    added[#added + 1] = b
  end
  if reason ~= '' then
    for k = 1, #added do
      local b = added[k]
      redis.call('ZREM', serial_index_key(b.origin), fmt_int(b.first) .. ':' .. fmt_int(b.last))
    end
  end
  return reason
end

local function vote(yes, reason, detail)
  out[#out + 1] = yes and 'Y' or 'N'
  out[#out + 1] = reason
  out[#out + 1] = detail or ''
end

-- The detail of a daily inflow refusal: the rule, the room left, what was asked.
local function inflow_detail(credited_g)
  local room = inflow_max > inflow and inflow_max - inflow or 0
  return 'inflow ' .. source .. ': room left ' .. fmt_int(room) .. ' g of ' .. fmt_int(inflow_max) ..
         ' g on UTC day ' .. inflow_day .. ', asked ' .. credited_g .. ' g'
end

local function prepare_one(i)
  local base = 5 + i * 11
  local tid, from, to_id, btext = ARGV[base], ARGV[base + 1], ARGV[base + 2], ARGV[base + 3]
  local debited_g, credited_g, discount_g = ARGV[base + 4], ARGV[base + 5], ARGV[base + 6]
  local dest_meth, digests, expiry_ms, precheck = ARGV[base + 7], ARGV[base + 8],
                                                  num(ARGV[base + 9]), ARGV[base + 10]
  local key = leg_key(tid)
  local leg = redis.call('HMGET', key, 'role', 'state', 'reason', 'peer', 'blocks', 'to',
                         'credited_g', 'reason_detail')
  if leg[1] == 'source' or leg[1] == 'origin' then
    vote(false, 'ID_REUSED') -- this region's own leg, or one where it is the serials' origin
  elseif leg[1] == 'destination' then
    local other = leg[4] ~= source or (leg[5] and leg[5] ~= btext) or
                  (leg[6] and (leg[6] ~= to_id or leg[7] ~= credited_g))
    if other then
      vote(false, 'ID_REUSED')
    elseif leg[2] == 'PREPARED' or leg[2] == 'COMMITTED' then
      vote(true, '')
    else
      vote(false, leg[3] or 'REFUSED', leg[8])
    end
  else
    local reason = precheck
    if reason == '' and redis.call('EXISTS', acct_info_key(to_id)) == 0 then
      reason = 'UNKNOWN_ACCOUNT'
    end
    if reason == '' and expiry_ms <= now_ms then reason = 'EXPIRED' end
    if reason == '' and inflight >= inflight_max then reason = 'PEER_LEGS_LIMIT' end
    local detail = ''
    if reason == '' and inflow_max > 0 and inflow + num(credited_g) > inflow_max then
      reason, detail = 'QUOTA_EXCEEDED', inflow_detail(credited_g)
    end
    local blocks = blocks_parse(btext)
    if reason == '' then reason = blocks_claim(blocks) end
    if reason == '' then
      -- the fields the later steps read first (a listpack is scanned from the front)
      redis.call('HSET', key, 'role', 'destination', 'state', 'PREPARED', 'reason', '',
                 'peer', source, 'blocks', btext, 'to', to_id, 'credited_g', credited_g,
                 'own_recorded', own_recorded, 'from', from, 'debited_g', debited_g, 'discount_g', discount_g,
                 'dest_meth', dest_meth, 'digests', digests, 'expiry_ms', fmt_int(expiry_ms),
                 'created_ms', fmt_int(now_ms), 'decided_ms', '0', 'batch_seq', batch_seq)
      inflight = inflight + 1
      later('HSET', KEY_PEER_INFLIGHT, source, fmt_int(inflight))
      if inflow_max > 0 then inflow = inflow + num(credited_g) later('HSET', inflow_key, inflow_day, fmt_int(inflow)) end
      hincr(acct_info_key(to_id), 'pending_g', num(credited_g))
      later('ZADD', KEY_LEGS_PREPARED, fmt_int(expiry_ms), tid)
      later('ZADD', KEY_LEGS_PREPARED_PREFIX .. source, fmt_int(expiry_ms), tid)
      audit(now_ms, 'prepare', { tid, to_id, from }, blocks,
            { source, batch_seq, credited_g })
      any_new = true
      vote(true, '')
    else
      local minute = KEY_PEER_REFUSED_PREFIX .. source .. ':' .. fmt_int(math.floor(now_ms / 60000))
      if redis.call('INCR', minute) <= REFUSED_PER_MINUTE then
        redis.call('PEXPIRE', minute, '120000')
        redis.call('HSET', key, 'role', 'destination', 'state', 'REFUSED', 'reason', reason,
                   'from', from, 'to', to_id, 'peer', source, 'credited_g', credited_g,
                   'expiry_ms', fmt_int(expiry_ms), 'created_ms', fmt_int(now_ms),
                   'decided_ms', '0', 'reason_detail', detail)
        local kept_ms = math.min(math.max(expiry_ms - now_ms, 0), REFUSED_KEPT_MAX_MS)
        redis.call('PEXPIRE', key, fmt_int(kept_ms + REFUSED_GRACE_MS))
      end
      vote(false, reason, detail)
    end
  end
end
-- The sets of legs, the peer's count of legs in flight, its daily inflow
-- and the audit log are written at the end of the legs (with_later,
-- _prelude.lua); prepare_one reads none of them (both counts were read
-- above and are kept here).
with_later(function()
  for i = 0, n - 1 do prepare_one(i) end
end)
-- The batch is recorded (for Reconcile) once, and only if this call
-- prepared a leg of it: a batch refused whole, or one of legs prepared
-- before (a replay, under whatever batch number), leaves nothing.
local seq = num(batch_seq)
if seq > 0 and any_new then
  local all = {}
  for i = 0, n - 1 do all[#all + 1] = ARGV[5 + i * 11] end
  local key = KEY_BATCH_IN_PREFIX .. source
  if redis.call('HSETNX', key, batch_seq, ARGV[5 + n * 11] .. '|' .. fmt_int(now_ms) .. '|' ..
                table.concat(all, ',')) == 1 then
    if num(redis.call('GET', key .. KEY_BATCH_SEQ_SUFFIX)) < seq then redis.call('SET', key .. KEY_BATCH_SEQ_SUFFIX, batch_seq) end
  end
end
return out
