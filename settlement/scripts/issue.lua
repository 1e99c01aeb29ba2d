-- issue: registers newly issued credits as a block of fresh serials.
-- The activity fingerprint must be new in the region, byte for byte and, when
-- keyed, by its keyed fingerprint too (fingerprints "k:KEY").
-- ARGV: issuance_id, request_fp, account_id, methodology_id, vintage, amount_g,
--       activity_fingerprint, origin_region, now_ms, serial_max, activity_key,
--       reservation (the activity's reservation at its home region,
--       activity_reserve.lua; recorded with the issuance so that the home's
--       question, activity_query.lua, has an answer), answer_only ("1": the
--       issuance is keyed and activity_precheck.lua found nothing to reserve,
--       since this script would answer it without issuing; should the store
--       have changed since, e.g. the account opened meanwhile, it is refused
--       as the precheck saw it, never issued without its reservation)
-- Returns {"OK", block} | {"DUP", block} (same id, same content: recorded result)
--       | {"ID_REUSED"} (same id, other content) | {"UNKNOWN_ACCOUNT"}
--       | {"DOUBLE_ISSUANCE", other_issuance_id} | {"SERIALS_EXHAUSTED"}
--       | {"RESERVATION_LOST"} (the home was told this reservation never issued)
local iid, fp, acct, meth = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local vintage, amount_g = num(ARGV[5]), num(ARGV[6])
local activity, origin, now_ms, serial_max = ARGV[7], ARGV[8], num(ARGV[9]), num(ARGV[10])
local key = KEY_ISSUANCE_PREFIX .. iid .. KEY_ISSUANCE_SUFFIX
local rec = redis.call('HMGET', key, 'request_fp', 'block')
if rec[1] then
  if rec[1] == fp then return { 'DUP', rec[2] } end
  return { 'ID_REUSED' }
end
if redis.call('EXISTS', acct_info_key(acct)) == 0 then return { 'UNKNOWN_ACCOUNT' } end
local akey, rsv = ARGV[11] or '', ARGV[12] or '0'
if redis.call('GET', KEY_ACTIVITIES_ABANDONED_PREFIX .. iid) == rsv then return { 'RESERVATION_LOST' } end
local other = redis.call('HGET', KEY_FINGERPRINTS, activity)
if not other and akey ~= '' then other = redis.call('HGET', KEY_FINGERPRINTS, 'k:' .. akey) end
if other then return { 'DOUBLE_ISSUANCE', other } end
-- keyed, without a reservation: the home said another issuance of this
-- region holds the activity, not recorded yet (in flight): refused too
if akey ~= '' and rsv == '0' then return { 'DOUBLE_ISSUANCE', '' } end
-- the precheck saw no account (the only one of its reasons the store can
-- undo): the account opened since; the client retries and reserves then
if ARGV[13] == '1' then
  return { 'UNKNOWN_ACCOUNT', 'account ' .. acct .. ' did not exist when this issuance was checked; ' ..
           'it exists now: send the issuance again' }
end
local last_before = num(redis.call('GET', KEY_SERIAL_LAST))
if last_before + amount_g > serial_max then return { 'SERIALS_EXHAUSTED' } end
local b = { origin = origin, meth = meth, vintage = vintage, first = last_before + 1,
            last = last_before + amount_g }
redis.call('SET', KEY_SERIAL_LAST, fmt_int(b.last))
account_add_block(acct, b)
serial_index_add(origin, b.first, b.last)
if origin == home_region() then serial_labels_add(b) end -- what these serials are, for good
local text = block_text(b)
redis.call('HSET', key, 'request_fp', fp, 'block', text, 'account', acct, 'activity', activity,
           'created_ms', fmt_int(now_ms), 'activity_key', akey, 'reservation', rsv)
redis.call('HSET', KEY_FINGERPRINTS, activity, iid)
if akey ~= '' then redis.call('HSET', KEY_FINGERPRINTS, 'k:' .. akey, iid) end
audit(now_ms, 'issue', { iid, acct }, { b }, { activity })
return { 'OK', text }
