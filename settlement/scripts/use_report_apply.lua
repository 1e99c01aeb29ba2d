-- use_report_apply: at the origin, use reports from REPORTER (DESIGN §6
-- provenance; Federation.ReportUse): each report's serials, all of this
-- region's issue, must be live at REPORTER in the origin's map and in no leg
-- prepared here (origin:locks, or a homecoming's pending credit), under the
-- labels they were issued with; then they move to 'retired'/'cancelled' at
-- REPORTER, with one 'use-reported' audit entry (ids: the report id, the
-- reporter; details: kind, purpose). A report is all or nothing. Idempotent
-- by (REPORTER, id): the same report again is ALREADY; the same id with
-- other content, ID_REUSED. A refusal writes nothing. The caller checked
-- that the blocks are well formed, of this region, disjoint.
-- ARGV: now_ms, reporter, n, then n times: id, kind, purpose, blocks
-- Returns per report "P" (applied), "D" (already) or "R|REASON".
local now_ms, reporter, n = num(ARGV[1]), ARGV[2], num(ARGV[3])
local in_key = KEY_REPORTS_IN_PREFIX .. reporter

-- '' if every block is live at the reporter, unlocked and under its
-- labels, else the reason: what origin_check asks of a block the reporter
-- sends (a homecoming prepared here holds it as a pending credit: locked).
local function report_check(blocks)
  for _, b in ipairs(blocks) do
    local reason = origin_check(b, reporter)
    if reason == 'SERIALS_NOT_AT_SOURCE' then return 'USE_NOT_AT_REPORTER' end
    if reason ~= '' then return reason end
  end
  return ''
end

local out = {}
local function apply_one(i)
  local id, kind, purpose, text = ARGV[4 + i * 4], ARGV[5 + i * 4], ARGV[6 + i * 4], ARGV[7 + i * 4]
  local fp = kind .. '|' .. purpose .. '|' .. text
  local seen = redis.call('HGET', in_key, id)
  if seen == fp then
    out[#out + 1] = 'D'
  elseif seen then
    out[#out + 1] = 'R|ID_REUSED'
  else
    local blocks = blocks_parse(text)
    local reason = report_check(blocks)
    if reason ~= '' then
      out[#out + 1] = 'R|' .. reason
    else
      for _, b in ipairs(blocks) do origin_map_move(b.first, b.last, reporter, reporter, kind) end
      redis.call('HSET', in_key, id, fp)
      audit(now_ms, 'use-reported', { id, reporter }, blocks, { kind, purpose })
      out[#out + 1] = 'P'
    end
  end
end
-- The audit log is written at the end (with_later, _prelude.lua); the map
-- and the reports seen are written at once, since each report reads them.
return with_later(function()
  for i = 0, n - 1 do apply_one(i) end
  return out
end)
