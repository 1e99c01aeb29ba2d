-- origin_prepare: phase one at the origin of a leg's serials when the origin
-- is a third region (DESIGN §6 provenance: neither the source nor the
-- destination), one call per Prepare of origin_only legs. The origin is a
-- second participant beside the destination: it votes yes only if its map
-- places every block live at the source, no other leg prepared here locks
-- it or brings it home, and it carries the methodology and vintage it was
-- issued under (_prelude.lua origin_check), and then locks the
-- blocks (origin:locks) until the decision (dest_decide.lua, role origin).
-- A leg is recorded role "origin", keyed by (source, tid) like a destination
-- leg: the same id from another source, or with other content, or an id this
-- region holds in another role, is voted no (ID_REUSED) and changes nothing;
-- the same leg again gets the same vote. Legs voted no keep only the bounded
-- REFUSED record of dest_prepare.lua (it expires; REFUSED_PER_MINUTE per
-- source). Origin legs count in peer:inflight with the destination legs of
-- the same source (PEER_LEGS_LIMIT), and wait in legs:prepared:SOURCE so
-- that recovery asks the source (QueryDecision) when no decision comes.
-- ARGV: now_ms, source_region, n, then n times (6 fields): tid,
--   from_account ("REGION/ID" at the source), to_account ("REGION/ID" at the
--   destination), blocks, expiry_ms, precheck (empty, or the reason the C side
--   already refuses it for); then inflight_max
-- Audit: one 'origin-prepare' entry per leg voted yes (ids: the transfer, the
-- destination account "REGION/ID", the source account "REGION/ID"; blocks:
-- the blocks locked; details: source region). Legs voted no leave no entry.
-- Returns per leg: "Y" or "N", then the reason ("" for yes), then its detail
-- ("": as dest_prepare.lua answers, so that one parser reads both).
local REFUSED_KEPT_MAX_MS, REFUSED_GRACE_MS, REFUSED_PER_MINUTE = 60000, 60000, 10000
local now_ms, source, n = num(ARGV[1]), ARGV[2], num(ARGV[3])
local inflight_max = num(ARGV[4 + n * 6])
local home = home_region()
local inflight = num(redis.call('HGET', KEY_PEER_INFLIGHT, source))
local out = {}

local function vote(yes, reason)
  out[#out + 1] = yes and 'Y' or 'N'
  out[#out + 1] = reason
  out[#out + 1] = ''
end

-- Checks and locks the blocks one by one (so that two blocks of the leg
-- cannot take the same serials either); on a refusal unlocks what it locked.
-- Returns the reason or ''.
local function blocks_lock(blocks, tid)
  local locked = {}
  local reason = ''
  for _, b in ipairs(blocks) do
    if b.origin ~= home then reason = 'MALFORMED_LEG' break end
    reason = origin_check(b, source)
    if reason ~= '' then break end
    origin_lock(b.first, b.last, source, tid)
    locked[#locked + 1] = b
  end
  if reason ~= '' then
    for _, b in ipairs(locked) do origin_unlock(b.first, b.last, source, tid) end
  end
  return reason
end

-- A refusal: a small record (no blocks) that expires, bounded per minute.
local function refuse(key, tid, from, to, expiry_ms, reason)
  local minute = KEY_PEER_REFUSED_PREFIX .. source .. ':' .. fmt_int(math.floor(now_ms / 60000))
  if redis.call('INCR', minute) <= REFUSED_PER_MINUTE then
    redis.call('PEXPIRE', minute, '120000')
    redis.call('HSET', key, 'role', 'origin', 'state', 'REFUSED', 'reason', reason, 'from', from,
               'to', to, 'peer', source, 'expiry_ms', fmt_int(expiry_ms),
               'created_ms', fmt_int(now_ms), 'decided_ms', '0')
    local kept_ms = math.min(math.max(expiry_ms - now_ms, 0), REFUSED_KEPT_MAX_MS)
    redis.call('PEXPIRE', key, fmt_int(kept_ms + REFUSED_GRACE_MS))
  end
  vote(false, reason)
end

for i = 0, n - 1 do
  local base = 4 + i * 6
  local tid, from, to, btext = ARGV[base], ARGV[base + 1], ARGV[base + 2], ARGV[base + 3]
  local expiry_ms, precheck = num(ARGV[base + 4]), ARGV[base + 5]
  local key = leg_key(tid)
  local leg = redis.call('HMGET', key, 'role', 'state', 'reason', 'peer', 'blocks', 'to')
  if leg[1] and leg[1] ~= 'origin' then
    vote(false, 'ID_REUSED')
  elseif leg[1] == 'origin' then
    if leg[4] ~= source or (leg[5] and leg[5] ~= btext) or leg[6] ~= to then
      vote(false, 'ID_REUSED')
    elseif leg[2] == 'PREPARED' or leg[2] == 'COMMITTED' then
      vote(true, '')
    else
      vote(false, leg[3] or 'REFUSED')
    end
  else
    local reason = precheck
    if reason == '' and expiry_ms <= now_ms then reason = 'EXPIRED' end
    if reason == '' and inflight >= inflight_max then reason = 'PEER_LEGS_LIMIT' end
    local blocks = blocks_parse(btext)
    if reason == '' then reason = blocks_lock(blocks, tid) end
    if reason == '' then
      redis.call('HSET', key, 'role', 'origin', 'state', 'PREPARED', 'reason', '', 'from', from,
                 'to', to, 'peer', source, 'blocks', btext, 'expiry_ms', fmt_int(expiry_ms),
                 'created_ms', fmt_int(now_ms), 'decided_ms', '0')
      inflight = inflight + 1
      redis.call('HSET', KEY_PEER_INFLIGHT, source, fmt_int(inflight))
      redis.call('ZADD', KEY_LEGS_PREPARED, expiry_ms, tid)
      redis.call('ZADD', KEY_LEGS_PREPARED_PREFIX .. source, expiry_ms, tid)
      audit(now_ms, 'origin-prepare', { tid, to, from }, blocks, { source })
      vote(true, '')
    else
      refuse(key, tid, from, to, expiry_ms, reason)
    end
  end
end
return out
