-- activity_precheck: at the issuing region, before an issuance reserves its
-- activity at the home region: would issue.lua refuse it (or replay it)
-- anyway? Then nothing is reserved, so that a refused request changes
-- nothing anywhere, and a replay is answered from the record alone. Reads
-- only.
-- ARGV: issuance_id, request_fp, account_id, activity_fingerprint
-- Returns "GO" (reserve, then issue) or "SKIP" (issue.lua will answer: a
-- replay, a reused id, an unknown account, or the same fingerprint issued
-- here already).
local iid, fp, acct, activity = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', KEY_ISSUANCE_PREFIX .. iid .. KEY_ISSUANCE_SUFFIX) == 1 then return 'SKIP' end
if redis.call('EXISTS', acct_info_key(acct)) == 0 then return 'SKIP' end
if redis.call('HEXISTS', KEY_FINGERPRINTS, activity) == 1 then return 'SKIP' end
return 'GO'
