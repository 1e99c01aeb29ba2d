-- source_ack: a participant has applied these decisions (DESIGN §6 step 6).
-- The participant is the leg's destination, or the origin of its
-- third-region serials (the leg's `origins`, source_decide.lua). A leg is
-- done, and leaves the recovery set (legs:open), once its destination and
-- every origin acknowledged; each acknowledgement takes the leg out of that
-- participant's legs:unacked:PEER at once, so recovery re-sends only to the
-- participants that have not answered.
-- ARGV: now_ms, peer ("" = the destination of each leg), n, tids...
-- Audit: one 'origin-acked' entry for the legs an origin acknowledged (ids:
-- the transfers; details: the origin region); one 'acked' entry for the legs
-- now done (not for a leg whose destination answered HEURISTIC_MIXED).
-- The time of the 'acked' entry: now_ms is taken by the caller before this
-- call runs, and another thread's acknowledgement of the same leg (the
-- decider's and recovery's) may land in between with a later time. A leg
-- acknowledged by part of its participants keeps the latest time so far
-- (acks_ms), and the 'acked' entry takes the latest of now_ms and its legs'
-- acks_ms: it is never earlier than an acknowledgement it sums up.
-- Returns the number of legs newly done with an 'acked' entry.
local now_ms, peer, n = num(ARGV[1]), ARGV[2], num(ARGV[3])
local tids = {}
for i = 1, n do tids[i] = ARGV[3 + i] end
-- The sets of legs and the audit log are written at the end (with_later,
-- _prelude.lua); source_acks reads neither.
return with_later(function() return source_acks(now_ms, peer, tids) end)
