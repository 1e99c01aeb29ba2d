-- _prelude.lua: shared by every settlement script (prepended at build time by
-- cmake/embed_scripts.cmake). Redis runs each script atomically, so a script
-- is one state transition: it either happens whole, with its audit entry, or
-- not at all.
--
-- Numbers: Lua 5.1 numbers are doubles, exact up to 2^53. The C side refuses
-- any amount or serial at or above 2^50 (LEDGER_AMOUNT_G_MAX), so all
-- arithmetic here is exact. Numbers are written with fmt_int (never
-- tostring, which would print 1e+15), also as redis.call's arguments:
-- Redis formats a Lua number argument with snprintf("%.17g"), about ten
-- times a transfer in the hot paths before they passed texts (issue 16).
--
-- C functions: every call from Lua into C (ipairs' iterator at each step,
-- assert, type, select, tonumber, the string library) goes through Lua's
-- call machinery, several hundred instructions each, which counted by
-- callgrind was more than the Lua code around them (issue 16). So the lists
-- a leg's steps walk are walked by index (for i = 1, #t; every such list is
-- built without holes), the checks on those steps raise with error()
-- instead of assert(), and later() takes its arguments as parameters; cold
-- paths keep ipairs and assert. A plain find and five subs cost more than
-- one string.match: block_parse keeps its pattern.
--
-- Keys: their names are written once, in settlement/store_keys.h (which
-- lists them all with their types); the constants KEY_... used here are
-- generated from it and prepended before this prelude.

-- Lua 5.1 turns a number into text through sprintf, about 0.5 us a time in
-- Redis's Lua, and the scripts write the same few numbers (now_ms, lengths
-- of netstrings, counts) over and over: so each distinct number is
-- formatted once per script call and looked up after that. The table lives
-- only as long as the call (the prelude runs anew with every script), and
-- holds at most INT_TEXTS_MAX numbers (a script that formats many distinct
-- serials, serial_index_build, starts it again rather than grow it).
local INT_TEXTS_MAX = 1024
local int_texts, int_texts_n = {}, 0
local function fmt_int(n)
  local text = int_texts[n]
  if text == nil then
    text = string.format('%d', n)
    if n == n then -- NaN cannot index a table
      if int_texts_n >= INT_TEXTS_MAX then int_texts, int_texts_n = {}, 0 end
      int_texts[n], int_texts_n = text, int_texts_n + 1
    end
  end
  return text
end

-- The number a text holds, 0 if none. tonumber reads the text through
-- strtod, about 1,300 instructions in Redis's Lua, and a batch's legs carry
-- the same few texts over and over (now_ms, expiry_ms, max_blocks, a
-- vintage, an amount): so each distinct text is read once per script call
-- and looked up after that, as fmt_int does (at most NUM_TEXTS_MAX texts).
local NUM_TEXTS_MAX = 1024
local num_texts, num_texts_n = {}, 0
local function num(s)
  local n = num_texts[s]
  if n == nil then
    n = tonumber(s)
    if n == nil then n = 0 end
    if s ~= nil and s == s then -- nil and NaN cannot index a table
      if num_texts_n >= NUM_TEXTS_MAX then num_texts, num_texts_n = {}, 0 end
      num_texts[s], num_texts_n = n, num_texts_n + 1
    end
  end
  return n
end

local function split(s, sep)
  local out = {}
  if s == nil or s == '' then return out end
  local from = 1
  while true do
    local i = string.find(s, sep, from, true)
    if i == nil then
      out[#out + 1] = string.sub(s, from)
      return out
    end
    out[#out + 1] = string.sub(s, from, i - 1)
    from = i + #sep
  end
end

-- Calls fn(key) for every key matching pattern, by SCAN (a store's
-- conversions at a gateway's start). SCAN may name a key twice, or one fn
-- has just removed: fn must change nothing then.
local function each_key(pattern, fn)
  local cursor = '0'
  repeat
    local r = redis.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = r[1]
    for _, key in ipairs(r[2]) do fn(key) end
  until cursor == '0'
end

local function acct_info_key(id) return KEY_ACCOUNT_PREFIX .. id .. KEY_ACCOUNT_INFO_SUFFIX end
local function acct_blocks_key(id) return KEY_ACCOUNT_PREFIX .. id .. KEY_ACCOUNT_BLOCKS_SUFFIX end
local function leg_key(tid) return KEY_LEG_PREFIX .. tid .. KEY_LEG_SUFFIX end

-- A block in text: "origin|meth|vintage|start|end".
local function block_parse(text)
  local origin, meth, vintage, first, last =
    string.match(text, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
  if origin == nil then -- not five fields: as many as there are, the rest empty
    local p = split(text, '|')
    origin, meth, vintage, first, last = p[1], p[2], p[3], p[4], p[5]
  end
  return { origin = origin, meth = meth, vintage = num(vintage), first = num(first),
           last = num(last) }
end

local function block_text(b)
  return b.origin .. '|' .. b.meth .. '|' .. fmt_int(b.vintage) .. '|' .. fmt_int(b.first) ..
         '|' .. fmt_int(b.last)
end

local function block_grams(b) return b.last - b.first + 1 end

-- The serials first..last of block b's origin, methodology and vintage, as a block.
local function block_piece(b, first, last)
  return { origin = b.origin, meth = b.meth, vintage = b.vintage, first = first, last = last }
end

-- The serial index (store_keys.h serials:ORIGIN): the ranges of each origin's
-- serials this region holds anywhere (accounts, holds, pending credits,
-- retired, cancelled), disjoint, member "FIRST:LAST" scored FIRST. Every
-- script that makes the region hold serials it did not hold (issue, a
-- prepared credit) or stop holding them (an export's commit, a dropped
-- pending credit) changes it in the same script; moves inside the region
-- (account -> hold -> account, retire, cancel) leave it as it is, since each
-- block lies within one indexed range. The checker verifies it.
local function serial_index_key(origin) return KEY_SERIALS_PREFIX .. origin end

local function serial_entry_parse(member)
  local colon = string.find(member, ':', 1, true)
  return num(string.sub(member, 1, colon - 1)), num(string.sub(member, colon + 1))
end

-- The indexed range of origin overlapping first..last, as "FIRST:LAST", or
-- nil. One lookup: the ranges are disjoint, so only the last range starting
-- at or before `last` can overlap.
local function serial_overlap(origin, first, last)
  local r = redis.call('ZREVRANGEBYSCORE', serial_index_key(origin), fmt_int(last), '-inf',
                       'LIMIT', '0', '1')
  if #r == 0 then return nil end
  local _, l = serial_entry_parse(r[1])
  if l >= first then return r[1] end
  return nil
end

local function serial_index_add(origin, first, last)
  redis.call('ZADD', serial_index_key(origin), fmt_int(first), fmt_int(first) .. ':' .. fmt_int(last))
end

-- Removes first..last from the index: the range holding it is cut around
-- it. Returns false (and changes nothing) if no one range holds it all.
local function serial_index_remove(origin, first, last)
  local key = serial_index_key(origin)
  local r = redis.call('ZREVRANGEBYSCORE', key, fmt_int(first), '-inf', 'LIMIT', '0', '1')
  if #r == 0 then return false end
  local f, l = serial_entry_parse(r[1])
  if l < last then return false end
  redis.call('ZREM', key, r[1])
  if f < first then serial_index_add(origin, f, first - 1) end
  if l > last then serial_index_add(origin, last + 1, l) end
  return true
end

-- The origin's map (DESIGN §6 provenance; store_keys.h origin:map): where
-- this region's own serials are when they are not at home. Entries are
-- disjoint ranges "FIRST:LAST:REGION:STATE" scored FIRST, STATE "at" (live
-- at REGION), "retired" or "cancelled" (used at REGION). A serial issued here
-- that no entry covers is at home (in an account, a hold, a pending credit
-- coming home, retired or cancelled here: the serial index says which). The
-- map changes in the same script as every move the origin takes part in:
-- an export's commit (source_decide), a homecoming's commit (dest_decide),
-- a third region's move (origin_decide), a use reported from abroad.
-- Read once per script call: no script changes it.
local home_region_text = nil
local function home_region()
  if home_region_text == nil then home_region_text = redis.call('GET', KEY_META_REGION) or '' end
  return home_region_text
end

local function origin_entry_parse(member)
  local p = split(member, ':')
  return { first = num(p[1]), last = num(p[2]), region = p[3] or '', state = p[4] or '',
           member = member }
end

local function origin_entry_add(first, last, region, state)
  redis.call('ZADD', KEY_ORIGIN_MAP, fmt_int(first),
             fmt_int(first) .. ':' .. fmt_int(last) .. ':' .. region .. ':' .. state)
end

-- The entry overlapping first..last that starts last (nil if none): the
-- entries are disjoint, so one lookup finds whether any overlaps.
local function origin_map_overlap(first, last)
  local r = redis.call('ZREVRANGEBYSCORE', KEY_ORIGIN_MAP, fmt_int(last), '-inf', 'LIMIT', '0', '1')
  if #r == 0 then return nil end
  local e = origin_entry_parse(r[1])
  if e.last >= first then return e end
  return nil
end

-- Where first..last is: the region and state of the one entry covering all
-- of it, or home and "at" if no entry touches it; nil if it is split
-- between places (then no single move concerns it).
local function origin_map_where(first, last)
  local e = origin_map_overlap(first, last)
  if e == nil then return home_region(), 'at' end
  if e.first <= first and e.last >= last then return e.region, e.state end
  return nil
end

-- Moves first..last from `from` (live there) to `to` with `state`; a region
-- equal to home means at home. Returns false, changing nothing, unless the
-- map places all of first..last live at `from`.
local function origin_map_move(first, last, from, to, state)
  local home = home_region()
  local e = origin_map_overlap(first, last)
  if from == home then
    if e ~= nil then return false end
  else
    if e == nil or e.first > first or e.last < last or e.region ~= from or e.state ~= 'at' then
      return false
    end
    redis.call('ZREM', KEY_ORIGIN_MAP, e.member)
    if e.first < first then origin_entry_add(e.first, first - 1, e.region, e.state) end
    if e.last > last then origin_entry_add(last + 1, e.last, e.region, e.state) end
  end
  if to ~= home or state ~= 'at' then origin_entry_add(first, last, to, state) end
  return true
end

-- This region's own serials among blocks move in its map from `from` (live
-- there) to `to` with `state`, as origin_map_move: source -> home at a
-- homecoming's commit, home -> source when it is reversed, home -> dest at
-- an export's commit, source -> dest at a third region's. The leg kept them
-- locked or held, so a move fails only if the store was changed behind the
-- scripts' back: it is logged, and the checker reports the map. Returns
-- the blocks moved.
local function origin_follow(blocks, from, to, state)
  local home, moved = home_region(), {}
  for k = 1, #blocks do
    local b = blocks[k]
    if b.origin ~= home then -- not this region's: not in its map
    elseif origin_map_move(b.first, b.last, from, to, state) then
      moved[#moved + 1] = b
    else
      redis.log(redis.LOG_WARNING, 'origin map: ' .. block_text(b) .. ' is not at ' .. from)
    end
  end
  return moved
end

-- Locks of ranges prepared at their origin (store_keys.h origin:locks):
-- disjoint, "FIRST:LAST:SOURCE:TID" scored FIRST. The model found that
-- without them a source could prepare the same serials at the destination
-- and at the origin in two transfers (tests/model/README.md, finding 1).
local function origin_lock_member(first, last, source, tid)
  return fmt_int(first) .. ':' .. fmt_int(last) .. ':' .. source .. ':' .. tid
end

local function origin_locked(first, last)
  local r = redis.call('ZREVRANGEBYSCORE', KEY_ORIGIN_LOCKS, fmt_int(last), '-inf', 'LIMIT', '0', '1')
  if #r == 0 then return false end
  return origin_entry_parse(r[1]).last >= first
end

local function origin_lock(first, last, source, tid)
  redis.call('ZADD', KEY_ORIGIN_LOCKS, fmt_int(first), origin_lock_member(first, last, source, tid))
end

local function origin_unlock(first, last, source, tid)
  redis.call('ZREM', KEY_ORIGIN_LOCKS, origin_lock_member(first, last, source, tid))
end

-- The labels this region issued its own serials under (store_keys.h
-- serial:labels): disjoint ranges "FIRST:LAST:VINTAGE:METHODOLOGY" scored
-- FIRST (the methodology last: it may hold ':'). A serial's methodology and
-- vintage never change, wherever it goes; the map says where it is, this
-- says what it is, so that a peer cannot send serials home (or through a
-- third region) under other labels.
local function serial_label_parse(member)
  local first, last, vintage, meth = string.match(member, '^(%d+):(%d+):(%d+):(.*)$')
  if first == nil then return nil end
  return { first = num(first), last = num(last), vintage = num(vintage), meth = meth,
           member = member }
end

local function serial_label_member(first, last, vintage, meth)
  return fmt_int(first) .. ':' .. fmt_int(last) .. ':' .. fmt_int(vintage) .. ':' .. meth
end

-- Records the labels of block b, newly issued here after every serial the
-- labels hold (serials are issued in order): joined to the last range when
-- that ends just before b with the same labels.
local function serial_labels_add(b)
  local r = redis.call('ZRANGE', KEY_SERIAL_LABELS, '-1', '-1')
  local e = r[1] and serial_label_parse(r[1])
  local first = b.first
  if e and e.last + 1 == b.first and e.vintage == b.vintage and e.meth == b.meth then
    redis.call('ZREM', KEY_SERIAL_LABELS, e.member)
    first = e.first
  end
  redis.call('ZADD', KEY_SERIAL_LABELS, fmt_int(first),
             serial_label_member(first, b.last, b.vintage, b.meth))
end

-- Whether block b of this region's own serials carries the labels they
-- were issued under: false if a range overlaps it and does not cover it
-- all with its methodology and vintage (blocks split, never join, so an
-- honest block lies within one range). A block no range touches is not
-- judged (true): serials issued by an older gateway sharing the store,
-- which writes no labels, or before the labels were built.
local function serial_labels_match(b)
  local r = redis.call('ZREVRANGEBYSCORE', KEY_SERIAL_LABELS, fmt_int(b.last), '-inf',
                       'LIMIT', '0', '1')
  local e = r[1] and serial_label_parse(r[1])
  if not e or e.last < b.first then return true end -- unlabelled
  return e.first <= b.first and e.last >= b.last and e.vintage == b.vintage and e.meth == b.meth
end

-- May `source` send block b of this region's own serials (a homecoming or
-- a third region's transfer)? '' if the map places them all live at source,
-- no other leg prepared here locks them or brings them home, and they carry
-- the labels they were issued under (where the labels know them); else the
-- reason.
local function origin_check(b, source)
  local region, state = origin_map_where(b.first, b.last)
  if region ~= source or state ~= 'at' then return 'SERIALS_NOT_AT_SOURCE' end
  if origin_locked(b.first, b.last) then return 'SERIALS_LOCKED' end
  if serial_overlap(home_region(), b.first, b.last) then return 'SERIALS_LOCKED' end
  if not serial_labels_match(b) then return 'SERIALS_MISLABELLED' end
  return ''
end

-- An account's blocks: one sorted set (store_keys.h {a:ID}:blocks), every
-- score 0, so that Redis orders them by member bytes and ZRANGEBYLEX ...
-- LIMIT reads the next k blocks in O(log n + k). A hold, a retirement or a
-- take-back reads only the blocks it takes (and at most as many again, plus
-- a page per methodology for a take of any methodology: block_cursor),
-- never the whole account.
--   member "METH|VVVV ORIGIN FFFFFFFFFFFFFFFF LLLLLLLLLLLLLLLL METH": the
--            methodology (any bytes but '|' and ','), then the block's
--            member (block_member): vintage in 4 digits (validate.h:
--            2000..2100), the origin (a region code, [A-Z0-9-]), first and
--            last serial in 16 digits (LEDGER_SERIAL_MAX < 10^16), then the
--            methodology again, each after one space. The space sorts below
--            every byte of a region code, so within one methodology the byte
--            order of the members is the spending order: oldest vintage,
--            then origin, then first serial (first is unique within an
--            origin, so what follows it never decides).
--   A take of one methodology (every transfer) is one contiguous range of
--   members sharing the prefix "METH|" (plus "VVVV "). A take of any
--   methodology (a retirement that names none, a take-back) merges the
--   account's methodologies' ranges by the block member, which is the order
--   of a single set of block members.
-- Until 2026-12-02 an account had two sets: {a:ID}:blocks of the block
-- members alone, and {a:ID}:by-meth of the members above. The second one
-- cost a ZADD or ZREM more per block and write: 2.0% of the source's and
-- 2.2% of the destination's Redis instructions per transfer by the replay
-- (docs/performance.md);
-- account_blocks_migrate.lua folds a store written so into the one set.
-- The last serial is in the member, so a block is read from its member
-- alone and account_holds checks an exact block in one ZSCORE.
-- block_member_check raises unless block b fits the member format and is a
-- block: a whole vintage of 4 digits, whole serials 1 <= first <= last <
-- 10^16 (NaN fits none), an origin and a methodology that are not empty and hold no '|' or
-- ',' (the separators of a blocks text, blocks_text). Only a hand edit of
-- the store makes a member that fails: taken, it would be held or retired
-- as blocks that gatewayd cannot read back (a last below its first counts
-- negative grams, and more is taken from the next blocks).
-- block_fields_ok is that check without the one for separators, which a
-- block of blocks_parse passes by construction (its fields are split at
-- them); it does not raise (a missing origin or methodology fails it).
local function block_fields_ok(b)
  local v, f, l, origin, meth = b.vintage, b.first, b.last, b.origin, b.meth
  return v >= 0 and v <= 9999 and v % 1 == 0 and f >= 1 and f % 1 == 0 and l >= f and l < 1e16 and
         l % 1 == 0 and origin ~= nil and origin ~= '' and meth ~= nil and meth ~= ''
end

local function block_member_check(b)
  if not block_fields_ok(b) or string.find(b.origin .. b.meth, '[|,]') then
    error('block out of the member format')
  end
end

local function block_member(b)
  block_member_check(b)
  return string.format('%04d %s %016d %016d %s', b.vintage, b.origin, b.first, b.last, b.meth)
end

-- The block of a member, or nil if m is not one (only a hand edit makes one).
local function block_from_member(m)
  local sp = string.find(m, ' ', 6, true)
  if sp == nil or #m < sp + 35 then return nil end
  return { vintage = num(string.sub(m, 1, 4)), origin = string.sub(m, 6, sp - 1),
           first = num(string.sub(m, sp + 1, sp + 16)), last = num(string.sub(m, sp + 18, sp + 33)),
           meth = string.sub(m, sp + 35) }
end

-- The block member of an account's set member ("METH|" cut off), or the
-- member itself if it has no '|' (only a hand edit makes one).
local function account_member_block(m)
  local bar = string.find(m, '|', 1, true)
  if bar == nil then return m end
  return string.sub(m, bar + 1)
end

-- Block b's member in an account's set: "METH|" and its block member.
-- Raises as block_member does.
local function account_member(b) return b.meth .. '|' .. block_member(b) end

-- Adds a block to an account.
local function account_add_block(id, b)
  redis.call('ZADD', acct_blocks_key(id), '0', account_member(b))
end

-- Removes a block (exactly as held) from an account.
local function account_remove_block(id, b)
  redis.call('ZREM', acct_blocks_key(id), account_member(b))
end

-- 1 if the account holds exactly block b (same first and last), else 0.
local function account_holds(id, b)
  if redis.call('ZSCORE', acct_blocks_key(id), account_member(b)) then return 1 end
  return 0
end

-- Whether text a comes before text b in byte order (Redis's order of
-- members). Lua's < compares texts by the C library's strcoll, and Redis
-- sets its collation from the environment (setlocale at start): under a
-- locale such as en_US.UTF-8 '-' and ' ' may not count.
local function text_before(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- Whether block a is spent before block b: oldest vintage, then origin (in
-- byte order), then first serial; the byte order of their block members
-- (first is unique within an origin, so what follows it never decides).
local function block_before(a, b)
  if a.vintage ~= b.vintage then return a.vintage < b.vintage end
  if a.origin ~= b.origin then return text_before(a.origin, b.origin) end
  return a.first < b.first
end

-- The methodologies of an account's blocks, in the set's order: one
-- ZRANGEBYLEX ... LIMIT 0 1 per methodology, each hop past the range of
-- the one before ("METH|" then digits, all below "METH|\255"). nil if there
-- are more than ACCOUNT_METHS_MAX.
local ACCOUNT_METHS_MAX = 256
local function account_meths(key)
  local out, lo = {}, '-'
  while true do
    local r = redis.call('ZRANGEBYLEX', key, lo, '+', 'LIMIT', '0', '1')
    if #r == 0 then return out end
    if #out == ACCOUNT_METHS_MAX then return nil end
    local bar = string.find(r[1], '|', 1, true)
    if bar == nil then error('account: a member without its methodology') end
    local meth = string.sub(r[1], 1, bar - 1)
    out[#out + 1] = meth
    lo = '(' .. meth .. '|\255'
  end
end

-- The lex range of an account's members of methodology meth and vintage
-- (0 = any).
local function meth_range(meth, vintage)
  local prefix = meth .. '|'
  if vintage ~= 0 then prefix = prefix .. string.format('%04d ', vintage) end
  return '[' .. prefix, '(' .. prefix .. '\255'
end

-- A cursor over the account members in key of methodology meth and vintage
-- (meth_range; skip: the length of "METH|"), read in pages of 4, 8, 16, ...
-- up to page_max members.
local function block_cursor(key, meth, vintage, page_max)
  local lo, hi = meth_range(meth, vintage)
  return { key = key, meth = meth, lo = lo, hi = hi, skip = #meth + 1, page = {}, at = 1, n = 4,
           page_max = page_max, done = false }
end

-- The cursor's next member, without moving past it; nil at its range's end.
local function cursor_peek(c)
  if c.at > #c.page then
    if c.done then return nil end
    local page = redis.call('ZRANGEBYLEX', c.key, c.lo, c.hi, 'LIMIT', '0', fmt_int(c.n))
    c.done = #page < c.n
    if #page == 0 then return nil end
    c.page, c.at, c.lo = page, 1, '(' .. page[#page]
    c.n = math.min(c.n * 2, c.page_max)
  end
  return c.page[c.at]
end

-- The block of member m of cursor c. A member that is not a block of the
-- cursor's methodology (only a hand edit makes one) raises: taken, it
-- would move a block of one methodology as another; so does one out of the
-- member format (block_member_check), before a take or a count uses it.
local function cursor_block(c, m)
  local b = block_from_member(string.sub(m, c.skip + 1))
  if b == nil or b.meth ~= c.meth then error('account: a member that is not a block of its methodology') end
  block_member_check(b)
  return b
end

-- How many members a refused take reads past its blocks, in all its
-- cursors, to tell a balance too small from one too fragmented.
local ACCOUNT_REST_READ_MAX = 4096

-- Reads on past the blocks a take read (cursors_take), at most
-- ACCOUNT_REST_READ_MAX members in all, until have_g reaches want_g.
-- Returns have_g with the grams read, and whether every cursor was read to
-- its end (have_g is then every gram the take could reach).
local function cursors_rest_g(cursors, have_g, want_g)
  local budget = ACCOUNT_REST_READ_MAX
  for k = 1, #cursors do
    local c = cursors[k]
    while have_g < want_g do
      local m = cursor_peek(c)
      if m == nil then break end
      if budget == 0 then return have_g, false end -- a member left unread
      have_g = have_g + block_grams(cursor_block(c, m))
      c.at = c.at + 1
      budget = budget - 1
    end
    if have_g >= want_g then return have_g, false end
  end
  return have_g, true
end

-- The block at the head of cursor c (m: its member), parsed once
-- (cursor_block).
local function cursor_head_block(c, m)
  if c.head_m ~= m then c.head_m, c.head_b = m, cursor_block(c, m) end
  return c.head_b
end

-- Reads blocks in spending order from the cursors (merged by block_before)
-- into blocks, and their set members into members, until they hold want_g
-- grams or there are more than max_blocks of them. Returns the grams in
-- blocks.
local function cursors_take(cursors, want_g, max_blocks, blocks, members)
  local have = 0
  while have < want_g and #blocks <= max_blocks do
    local best, best_m, best_b = nil, nil, nil
    for i = 1, #cursors do
      local c = cursors[i]
      local m = cursor_peek(c)
      if m ~= nil then
        local b = cursor_head_block(c, m)
        if best_b == nil or block_before(b, best_b) then best, best_m, best_b = c, m, b end
      end
    end
    if best == nil then return have end
    best.at = best.at + 1
    blocks[#blocks + 1] = best_b
    members[#blocks] = best_m
    have = have + block_grams(best_b)
  end
  return have
end

-- The account's blocks matching meth ('' = any) and vintage (0 = any), in
-- spending order, all of them (account_get; a take reads with account_take_plan
-- instead).
local function account_blocks(id, meth, vintage)
  local key = acct_blocks_key(id)
  local lo, hi = '-', '+'
  if meth ~= '' then lo, hi = meth_range(meth, vintage) end
  local out = {}
  for _, m in ipairs(redis.call('ZRANGEBYLEX', key, lo, hi)) do
    local b = block_from_member(account_member_block(m))
    if b and (meth ~= '' or vintage == 0 or b.vintage == vintage) then out[#out + 1] = b end
  end
  if meth == '' then table.sort(out, block_before) end
  return out
end

-- What taking want_g grams out of an account (blocks matching meth/vintage,
-- oldest first, the last block split) would take, read and checked before
-- any write: a plan for account_take_apply, and the grams available; or nil
-- and the grams available if the account holds less than want_g; or nil, -1
-- if it would take more than max_blocks blocks (a limit on message size),
-- or of any methodology the account holds blocks of more than
-- ACCOUNT_METHS_MAX methodologies. Raises, having written nothing, on a
-- member a hand edit left out of the format or under another methodology.
-- Reads only the blocks it takes (cursors_take); a refusal for want_g beyond
-- max_blocks blocks reads on to tell the two apart, at most
-- ACCOUNT_REST_READ_MAX members (cursors_rest_g): past them it is nil, -1
-- too (the amount spans more than max_blocks blocks, if the account holds
-- it at all).
local function account_take_plan(id, meth, vintage, want_g, max_blocks)
  local key, cursors = acct_blocks_key(id), {}
  if meth ~= '' then
    cursors[1] = block_cursor(key, meth, vintage, max_blocks + 1)
  else
    local meths = account_meths(key)
    if meths == nil then return nil, -1 end
    for k = 1, #meths do cursors[k] = block_cursor(key, meths[k], vintage, max_blocks + 1) end
  end
  local blocks, members = {}, {}
  local have = cursors_take(cursors, want_g, max_blocks, blocks, members)
  if have < want_g then
    local all
    have, all = cursors_rest_g(cursors, have, want_g)
    if all and have < want_g then return nil, have end
    return nil, -1 -- the grams are there past max_blocks blocks, or too far to tell
  end
  if #blocks > max_blocks then return nil, -1 end
  local taken = {}
  local need = want_g
  for k = 1, #blocks do
    local b = blocks[k]
    if need == 0 then break end
    -- (every block read was checked against the member format by
    -- cursor_block, before account_take_apply removes it by its own text)
    local g = math.min(block_grams(b), need)
    taken[#taken + 1] = { origin = b.origin, meth = b.meth, vintage = b.vintage,
                          first = b.first, last = b.first + g - 1, whole = b }
    need = need - g
  end
  return { key = key, taken = taken, members = members }, have
end

-- Takes what plan (account_take_plan) holds out of account id. Returns the
-- list of taken blocks.
local function account_take_apply(id, plan)
  local taken, members = plan.taken, plan.members
  for k = 1, #taken do
    local t = taken[k]
    local b = t.whole
    t.whole = nil
    -- by the member as read rather than formatted again (a member a hand
    -- edit wrote in another form that still parses leaves the account too,
    -- where block_member's text would miss it)
    redis.call('ZREM', plan.key, members[k])
    if t.last < b.last then
      account_add_block(id, block_piece(b, t.last + 1, b.last))
    end
  end
  return taken
end

-- account_take_plan in protected mode: ok (false if it raised: only a hand
-- edit of the account's blocks makes it), then its results, or the reason
-- as a text of at most 200 bytes. A refusal ACCOUNT_DAMAGED for one call
-- instead of an error for the whole batch of holds around it (a hold, a
-- retirement, an operator's heuristic take-back).
local function account_take_plan_checked(id, meth, vintage, want_g, max_blocks)
  local ok, plan, have = pcall(account_take_plan, id, meth, vintage, want_g, max_blocks)
  if ok then return true, plan, have end
  local why = plan
  if type(why) == 'table' then why = why.err end
  -- without the "user_script:LINE: " that Lua puts before an error's text
  why = string.gsub(tostring(why), '^user_script:%d+: ', '')
  return false, string.sub(why, 1, 200)
end

-- Splits a list of blocks after the first grams: returns head, tail.
local function blocks_split(blocks, grams)
  local head, tail = {}, {}
  local left = grams
  for k = 1, #blocks do
    local b = blocks[k]
    local g = block_grams(b)
    if left >= g then
      head[#head + 1] = b
      left = left - g
    elseif left > 0 then
      head[#head + 1] = block_piece(b, b.first, b.first + left - 1)
      tail[#tail + 1] = block_piece(b, b.first + left, b.last)
      left = 0
    else
      tail[#tail + 1] = b
    end
  end
  return head, tail
end

local function blocks_text(blocks)
  local t = {}
  for i = 1, #blocks do
    local b = blocks[i]
    t[i] = block_text(b)
  end
  return table.concat(t, ',')
end

local function blocks_parse(text)
  local out = {}
  for i, s in ipairs(split(text, ',')) do out[i] = block_parse(s) end
  return out
end

local function blocks_grams(blocks)
  local g = 0
  for k = 1, #blocks do
    local b = blocks[k]
    g = g + block_grams(b)
  end
  return g
end

local function hincr(key, field, delta)
  redis.call('HINCRBY', key, field, fmt_int(delta))
end

-- HINCRBY key field delta, the result kept at least 0.
local function hincr_floor(key, field, delta)
  if redis.call('HINCRBY', key, field, fmt_int(delta)) < 0 then redis.call('HSET', key, field, '0') end
end

-- Writes made at the end of a batch (issue 16). Inside with_later, a batch
-- script gathers its writes to the keys every leg shares (the sets of legs,
-- the change feed, the audit log) and makes them when the batch is done:
-- one command per key and batch instead of one per leg, most of what the
-- Lua side of redis.call costs. Outside with_later each write is made at
-- once, as before. Rules for a script that defers:
--   * every write to a deferred key goes through later (or later_count,
--     later_hincr_floor) while with_later runs, so the writes to one key
--     keep their order: a command other than the pending one first makes
--     what is pending;
--   * it never reads a key it has writes pending on.
-- with_later makes the pending writes also when the batch raises an
-- error, then raises it again: the legs done before the error keep their
-- entries and their places in the sets, as they did when each write was
-- made at once.
local LATER_ARGS_MAX = 1000 -- arguments per command at most (the Lua C stack)
local later_on = false
local later_keys, later_ops = {}, {} -- keys in first-write order; key -> {cmd, args}
local later_counts, later_floors = {}, {} -- key -> value; key -> {field -> delta}

local function later_make(key)
  local op = later_ops[key]
  if op == nil then return end
  later_ops[key] = nil
  if #op.args > 0 then redis.call(op.cmd, key, unpack(op.args)) end
end

-- Writes cmd key a1 [a2] at the end of the batch (at once outside
-- with_later). Every deferred write has one or two arguments after its key
-- (ZADD score member, ZREM member, HSET field value, RPUSH value): taken as
-- parameters, since select() over varargs is a C call per argument.
local function later(cmd, key, a1, a2, a3)
  if a1 == nil or a3 ~= nil then error('later: a write takes one or two arguments') end
  if not later_on then
    if a2 == nil then return redis.call(cmd, key, a1) end
    return redis.call(cmd, key, a1, a2)
  end
  -- (the message is built only on failure: this runs for every deferred write)
  if later_counts[key] ~= nil or later_floors[key] ~= nil then error('later: ' .. key .. ' is deferred otherwise') end
  local op = later_ops[key]
  if op ~= nil and (op.cmd ~= cmd or #op.args >= LATER_ARGS_MAX) then
    later_make(key)
    op = nil
  end
  if op == nil then
    op = { cmd = cmd, args = {} }
    later_ops[key] = op
    later_keys[#later_keys + 1] = key
  end
  local args = op.args
  local n = #args
  args[n + 1] = a1
  if a2 ~= nil then args[n + 2] = a2 end
end

-- cmd key args... at once, after what is pending on key: for a write that
-- cannot be merged with others (LREM, or one whose reply is needed).
local function later_call(cmd, key, ...)
  later_make(key)
  return redis.call(cmd, key, ...)
end

-- INCR key (a counter no one else writes during the script): the new value,
-- stored at the end of the batch inside with_later.
local function later_count(key)
  if not later_on then return redis.call('INCR', key) end
  if later_ops[key] ~= nil or later_floors[key] ~= nil then error('later_count: ' .. key .. ' is deferred otherwise') end
  local n = later_counts[key]
  if n == nil then
    local stored = redis.call('GET', key)
    n = 0
    if stored then -- what INCR takes: a decimal integer, nothing else
      if string.find(stored, '^-?%d+$') == nil or #stored > 16 then error('later_count: ' .. key .. ' is not a counter') end
      n = tonumber(stored)
    end
  end
  later_counts[key] = n + 1
  return n + 1
end

-- HINCRBY key field delta (delta <= 0), kept at least 0: the deltas of a
-- batch are added and made once at its end (a sum of decrements floored
-- once is what flooring after each gives).
local function later_hincr_floor(key, field, delta)
  assert(delta <= 0, 'later_hincr_floor takes decrements')
  if not later_on then return hincr_floor(key, field, delta) end
  if later_ops[key] ~= nil or later_counts[key] ~= nil then
    error('later_hincr_floor: ' .. key .. ' is deferred otherwise')
  end
  local fields = later_floors[key]
  if fields == nil then fields = {} later_floors[key] = fields end
  fields[field] = (fields[field] or 0) + delta
end

-- The counters first: should a later command fail, the numbers handed out
-- are skipped, never handed out again.
local function later_flush()
  local keys, counts, floors = later_keys, later_counts, later_floors
  later_keys, later_counts, later_floors = {}, {}, {}
  for key, n in pairs(counts) do redis.call('SET', key, fmt_int(n)) end
  for k = 1, #keys do
    local key = keys[k]
    later_make(key)
  end
  later_ops = {}
  for key, fields in pairs(floors) do
    for field, delta in pairs(fields) do hincr_floor(key, field, delta) end
  end
end

-- Runs f (a batch's legs) with the writes it defers made at its end, also
-- when f raises an error (raised again after them). Returns what f returns.
-- xpcall, not pcall: Redis 7's pcall hands back only the text of a Redis
-- error, which raised again became "ERR NOREPLICAS ...", and the gateway
-- then took a refusal it retries (NOREPLICAS, READONLY: store.c) for a
-- final answer; xpcall keeps the error as Redis raised it.
local function pass_error(e) return e end
local function with_later(f)
  assert(not later_on, 'with_later does not nest')
  later_on = true
  local ok, result = xpcall(f, pass_error)
  later_on = false
  if ok then
    later_flush()
    return result
  end
  pcall(later_flush) -- what it can; the batch's own error is the one raised
  error(result, 0)
end

-- Appends one entry to the region's audit log, in the same script as the
-- change it records, under the next sequence number. Stored packed by
-- Redis's cmsgpack (C), as settlement/audit_stored.h describes:
--   [3, seq, now_ms, event, ids, blocks as [origin, meth, vintage, first,
--    last], details]
-- Every reader turns it into its canonical bytes, format carbon-audit/3
-- (docs/audit-log.md section 1), before anything else: building those
-- netstrings here in Lua took about a fifth of the scripts' time (README,
-- Benchmark). ids and details are lists of texts. No hash here: a
-- gateway integrates the entries into the log's Merkle tree afterwards
-- (settlement/log_tree.h).
local AUDIT_STORED_VERSION = 3

-- The checks below run for every entry, so they make no call into C (issue
-- 16: type() and ipairs' iterator were a third of a leg's calls into C):
--   * a text: `s .. ''` is s itself only for a text; a number becomes a
--     text, which differs from it, and nil, a table or a boolean cannot be
--     joined (Lua raises that error instead);
--   * an integer (cmsgpack packs any other number as a double, which no
--     reader takes): `n + 0` is n itself only for a number (a text of
--     digits becomes a number, which differs from it; other values cannot
--     be added, Lua's error), and `n % 1` is 0 only for an integer (NaN
--     and the infinities give NaN).

-- The texts of list up to its first hole, as a new array (what cmsgpack
-- packs as an array; the entry's ids and details). Every one must be a text.
local function audit_texts(list)
  local out, i, s = {}, 1, list[1]
  while s ~= nil do
    if s .. '' ~= s then error('audit: ids and details must be texts') end
    out[i] = s
    i = i + 1
    s = list[i]
  end
  return out
end

local function audit(now_ms, event, ids, blocks, details)
  if type(ids) ~= 'table' then error('audit: ids must be a list of texts') end
  if type(details) ~= 'table' then error('audit details must be a list of texts') end
  if event == nil or event .. '' ~= event then error('audit: the event must be a text') end
  if now_ms + 0 ~= now_ms or now_ms % 1 ~= 0 then error('audit: numbers must be integers') end
  local packed_blocks = {} -- every check before the INCR: no seq without its entry
  for i = 1, #blocks do
    local b = blocks[i]
    local origin, meth, vintage, first, last = b.origin, b.meth, b.vintage, b.first, b.last
    if origin == nil or meth == nil or origin .. '' ~= origin or meth .. '' ~= meth then
      error('audit: a block without its origin or methodology')
    end
    if vintage + 0 ~= vintage or vintage % 1 ~= 0 or first + 0 ~= first or first % 1 ~= 0 or
       last + 0 ~= last or last % 1 ~= 0 then
      error('audit: numbers must be integers')
    end
    packed_blocks[i] = { origin, meth, vintage, first, last }
  end
  local packed_ids, packed_details = audit_texts(ids), audit_texts(details)
  local seq = later_count(KEY_LOG_SIZE)
  later('HSET', KEY_LOG_PACKED, fmt_int(seq),
             cmsgpack.pack({ AUDIT_STORED_VERSION, seq, now_ms, event, packed_ids,
                            packed_blocks, packed_details }))
  return seq
end

local function feed_add(kind, tid)
  local cursor = later_count(KEY_FEED_SEQ)
  later('ZADD', KEY_FEED, fmt_int(cursor), kind .. ':' .. tid)
  return cursor
end

-- Use abroad (DESIGN §6 provenance): a retirement or a discount cancellation
-- here of serials another region issued is reported to that region, so that
-- its map is complete. The report is written in the same script as the use
-- (one per origin: reports:out:ORIGIN and {u:ORIGIN:ID}, store_keys.h), with
-- an audit entry 'use-report'; recovery sends it (settlement/use_reports.c)
-- until the origin acknowledges it. kind is 'retired' or 'cancelled'.
-- coordinator (a region, or nil): blocks of its issue are not reported. A
-- leg's discount of serials its coordinator issued is recorded by the
-- coordinator at its commit (own_export_record below), from the same blocks
-- and credited_g as here: no report, no round trip.
local function use_report_add(id, kind, blocks, purpose, now_ms, coordinator)
  local home, by, origins = home_region(), {}, {}
  for k = 1, #blocks do
    local b = blocks[k]
    if b.origin ~= home and b.origin ~= coordinator then
      if by[b.origin] == nil then by[b.origin] = {} origins[#origins + 1] = b.origin end
      table.insert(by[b.origin], b)
    end
  end
  for k = 1, #origins do
    local origin = origins[k]
    redis.call('HSET', KEY_REPORT_OUT_PREFIX .. origin .. ':' .. id .. KEY_REPORT_OUT_SUFFIX,
               'kind', kind, 'purpose', purpose, 'blocks', blocks_text(by[origin]),
               'created_ms', fmt_int(now_ms), 'tries', '0', 'last_reason', '')
    later('ZADD', KEY_REPORTS_OUT_PREFIX .. origin, fmt_int(now_ms), id)
    audit(now_ms, 'use-report', { id, origin }, by[origin], { kind, purpose })
  end
end

-- Withdraws the reports use_report_add wrote for id about blocks (a forced
-- COMMIT reversed: the coordinator aborted, so no origin's map ever placed
-- those serials here and the report could only be refused). Also those of
-- the coordinator's serials: a report written before use_report_add's
-- coordinator existed (dropping one never written changes nothing).
local function use_report_drop(id, blocks)
  local home = home_region()
  for k = 1, #blocks do
    local b = blocks[k]
    if b.origin ~= home then
      redis.call('HDEL', KEY_REPORT_OUT_PREFIX .. b.origin .. ':' .. id .. KEY_REPORT_OUT_SUFFIX,
                 'kind', 'purpose', 'blocks', 'created_ms', 'tries', 'last_reason')
      later('ZREM', KEY_REPORTS_OUT_PREFIX .. b.origin, id)
    end
  end
end

-- The map side of an export of blocks to dest (own_export_record): of each
-- block of this region's own serials, the part among the first credited_g
-- grams of the leg goes to dest live ('at'), the rest 'cancelled' (the
-- parts blocks_split makes, branch for branch). What origin_follow does for
-- each part, with one lookup and one ZADD per block instead of one of each
-- per part (issue 16: an export with a discount is split in two, and these
-- were 4 of the 10 commands a commit made). The parts lie within their
-- block, so no entry overlaps them if none overlaps the block; where one
-- does (only a hand edit makes one), or where dest is this region, each
-- part is moved by origin_follow itself (logged if it cannot be). Returns
-- the cancelled parts moved, in block order.
local function own_export_map(blocks, credited_g, dest)
  local home, cancelled, left_g = home_region(), {}, credited_g
  for k = 1, #blocks do
    local b = blocks[k]
    local g = block_grams(b)
    local parts -- {first, last, state}, never empty
    if left_g >= g then
      parts, left_g = { { b.first, b.last, 'at' } }, left_g - g
    elseif left_g > 0 then
      parts = { { b.first, b.first + left_g - 1, 'at' }, { b.first + left_g, b.last, 'cancelled' } }
      left_g = 0
    else
      parts = { { b.first, b.last, 'cancelled' } }
    end
    if b.origin == home then -- another region's serials are not in this map
      local at_once = dest ~= home and origin_map_overlap(b.first, b.last) == nil
      local args = {}
      for i = 1, #parts do
        local p = parts[i]
        local part = nil -- the part as a block, made only where it is needed
        if at_once then
          args[#args + 1] = fmt_int(p[1])
          args[#args + 1] = fmt_int(p[1]) .. ':' .. fmt_int(p[2]) .. ':' .. dest .. ':' .. p[3]
          if p[3] == 'cancelled' then part = block_piece(b, p[1], p[2]) end
        else
          part = origin_follow({ block_piece(b, p[1], p[2]) }, home, dest, p[3])[1]
        end
        if part ~= nil and p[3] == 'cancelled' then cancelled[#cancelled + 1] = part end
      end
      if at_once then redis.call('ZADD', KEY_ORIGIN_MAP, unpack(args)) end
    end
  end
  return cancelled
end

-- An export of blocks to dest committed (source_decide's commit, or
-- heuristic_compensate converging on it): this region's own serials among
-- them go to dest in its map (DESIGN §6 provenance), live ('at'), except
-- the discount (DESIGN §7: the blocks after the first credited_g grams,
-- which dest cancels when it applies the COMMIT, dest_decide.lua):
-- recorded now as cancelled at dest, with the 'use-reported' entry and the
-- report seen (id tid) that dest's use report would have brought
-- (use_report_apply.lua). The origin is the coordinator here, so its commit
-- is when the cancellation becomes certain; its Prepare told dest so
-- (source_records_own_discount), and dest reports none of these
-- (use_report_add's coordinator). A report sent anyway (a destination
-- before 2026-12-01) finds the report seen: ALREADY.
-- credited_g: the leg's, or nil if its record has none (only a hand edit
-- makes one): then the whole leg goes live, as before the discount was
-- recorded here, and is logged.
local function own_export_record(tid, blocks, credited_g, dest, now_ms)
  local home = home_region()
  local total_g = blocks_grams(blocks)
  if credited_g == nil or credited_g < 0 or credited_g > total_g then
    redis.log(redis.LOG_WARNING, 'leg ' .. tid .. ': credited_g missing or outside its blocks')
    credited_g = total_g
  end
  local cancelled = own_export_map(blocks, credited_g, dest)
  if #cancelled == 0 then return end
  later('HSET', KEY_REPORTS_IN_PREFIX .. dest, tid, 'cancelled||' .. blocks_text(cancelled))
  audit(now_ms, 'use-reported', { tid, dest }, cancelled, { 'cancelled', '' })
end

-- ---- Writes that a store damaged outside the gateway could refuse -------
-- A decision's first writes: planned or tried before the
-- others, so that a damaged store leaves the leg as it was (LEG_DAMAGED)
-- instead of half written and written again at every try. Only an edit of
-- the store outside the gateway makes any of these fail. Made by a call
-- (`local checked = checked_functions()`) in the scripts that use them:
-- made here, their closures would cost every script call (five a settled
-- transfer at the source) about 2,000 Redis instructions; and one table,
-- not a local each, since a script's main function has at most 200 locals
-- and dest_prepare with the prelude is near that.
local function checked_functions()
local checked = {}

-- The blocks of a leg's blocks text, each in the block format
-- (block_fields_ok); nil and why if there are none or one is not.
function checked.blocks(text)
  if not text or text == '' then return nil, 'no blocks' end -- HMGET: false for a field deleted
  local blocks = blocks_parse(text)
  if #blocks == 0 then return nil, 'no blocks' end
  for k = 1, #blocks do
    if not block_fields_ok(blocks[k]) then return nil, 'block ' .. k .. ' is out of the block format' end
  end
  return blocks
end

-- text as printable ASCII ('?' for any other byte), at most 120 bytes: a
-- damage's description, which may quote the store, goes into a transfer's
-- reason_detail (printable ASCII, ledger.h) and into the logs.
function checked.printable(text)
  return (string.gsub(string.sub(text, 1, 120), '[^\32-\126]', '?'))
end

-- The error of r, a reply of redis.pcall, if it is one only a damaged store
-- gives (a key of another type, a field that is not an integer or would
-- overflow); nil if r is no error. Any other error (a replica turned
-- read-only, too few replicas, out of memory) is raised as redis.call
-- would raise it, after undoing HINCRBY undo_key undo_field -undo_delta if
-- undo_key is given (what the leg wrote before it; no closure a leg, which
-- the collector would pay for): the gateway retries those as every store
-- error.
function checked.refusal(r, undo_key, undo_field, undo_delta)
  if type(r) ~= 'table' or not r.err then return nil end
  local e = r.err
  if string.find(e, '^WRONGTYPE') or string.find(e, 'not an integer', 1, true) or
     string.find(e, 'overflow', 1, true) then
    return e
  end
  if undo_key then hincr(undo_key, undo_field, -undo_delta) end
  error(r)
end

-- ZADD key of args (score, member pairs), LATER_ARGS_MAX arguments a
-- command. Returns nil, or the refusal of the first command (then nothing
-- was written: the ones after it write the same key, which it found a set);
-- undo_* as checked.refusal's.
function checked.zadd_pairs(key, args, undo_key, undo_field, undo_delta)
  local n = #args
  for from = 1, n, LATER_ARGS_MAX do
    local upto = math.min(from + LATER_ARGS_MAX - 1, n)
    if from == 1 then
      local err = checked.refusal(redis.pcall('ZADD', key, unpack(args, from, upto)), undo_key, undo_field,
                                  undo_delta)
      if err then return err end
    else
      redis.call('ZADD', key, unpack(args, from, upto))
    end
  end
  return nil
end

-- Takes amount_g from account id's field (held_g or pending_g: what a
-- decided leg no longer holds there) and, if blocks is not nil, adds
-- blocks to its set of blocks (account_add_block for each). nil, or the
-- refusal (checked.refusal) and then neither was written: a field taken
-- before a refused set is given back; a refusal that is no damage is
-- raised, the field given back first.
function checked.take_and_add(id, field, amount_g, blocks)
  local info = acct_info_key(id)
  local err = checked.hincr(info, field, -amount_g)
  if err then return "the account's " .. field .. ': ' .. err end
  if blocks == nil then return nil end
  if #blocks == 1 then -- most legs: no table
    err = checked.refusal(redis.pcall('ZADD', acct_blocks_key(id), '0', account_member(blocks[1])), info, field,
                          -amount_g)
  else
    local args = {}
    for k = 1, #blocks do
      args[#args + 1] = '0'
      args[#args + 1] = account_member(blocks[k])
    end
    err = checked.zadd_pairs(acct_blocks_key(id), args, info, field, -amount_g)
  end
  if err == nil then return nil end
  hincr(info, field, amount_g) -- given back: an integer a moment ago
  return "the account's blocks: " .. err
end

-- The bounds of a serial index member "FIRST:LAST", or nil if it is none.
function checked.serial_entry_bounds(member)
  local colon = string.find(member, ':', 1, true)
  if colon == nil then return nil end
  local f, l = num(string.sub(member, 1, colon - 1)), num(string.sub(member, colon + 1))
  if f < 1 or l < f or f % 1 ~= 0 or l % 1 ~= 0 then return nil end
  return f, l
end

-- No cuts to make (a plan of serial_cuts_plan): one table a script call.
checked.NO_CUTS = {}

-- The cuts of the serial index that taking blocks out of the region makes
-- (what serial_index_remove of each block in turn makes), planned by reads
-- alone: the plan, or nil and why if an entry read is out of the store's
-- format (the index of another type, a member not FIRST:LAST). The plan is
-- one flat list, six values a block: the index's key, the entry read (the
-- last starting at or before the block), the entry's first and last, the
-- block's first and last. One table a leg: a plan of a table per entry and
-- per piece cost CN-TJ's Redis 2.7% more instructions per transfer, most of
-- it in allocating and collecting them (replay, docs/performance.md).
function checked.serial_cuts_plan(blocks)
  local plan = checked.NO_CUTS
  for k = 1, #blocks do
    local b = blocks[k]
    local key = serial_index_key(b.origin)
    local r = redis.pcall('ZREVRANGEBYSCORE', key, fmt_int(b.first), '-inf', 'LIMIT', '0', '1')
    local err = checked.refusal(r)
    if err then return nil, 'the serial index of ' .. b.origin .. ': ' .. err end
    local m = r[1]
    if m ~= nil then
      local f, l = checked.serial_entry_bounds(m)
      if f == nil then return nil, 'serial index entry ' .. m .. ' of ' .. b.origin .. ' is not FIRST:LAST' end
      if plan == checked.NO_CUTS then
        plan = { key, m, f, l, b.first, b.last }
      else
        local n = #plan
        plan[n + 1], plan[n + 2], plan[n + 3], plan[n + 4], plan[n + 5], plan[n + 6] = key, m, f, l, b.first, b.last
      end
    end
  end
  return plan
end

-- Cuts first..last out of the entry m (its bounds f..l) of the index at key
-- if m holds all of it (else nothing): m goes, the pieces left of it come.
-- Returns whether it cut.
function checked.serial_entry_cut(key, m, f, l, first, last)
  if f > first or l < last then return false end
  redis.call('ZREM', key, m)
  if f < first and l > last then
    redis.call('ZADD', key, fmt_int(f), fmt_int(f) .. ':' .. fmt_int(first - 1),
               fmt_int(last + 1), fmt_int(last + 1) .. ':' .. fmt_int(l))
  elseif f < first then
    redis.call('ZADD', key, fmt_int(f), fmt_int(f) .. ':' .. fmt_int(first - 1))
  elseif l > last then
    redis.call('ZADD', key, fmt_int(last + 1), fmt_int(last + 1) .. ':' .. fmt_int(l))
  end
  return true
end

-- Makes the cuts of serial_cuts_plan, block after block, as
-- serial_index_remove of each block in turn would (exactly, wherever every
-- entry is scored by its FIRST, as the scripts write them; an entry scored
-- otherwise, which only an edit makes, may be left uncut). A block of an index that
-- an earlier block of the plan cut reads it again (the cut changed what the
-- lookup finds; an entry out of format found then, which the plan did not
-- read, is left as not holding the block, as serial_index_remove leaves a
-- block no entry holds); the others take the entry the plan read, which no
-- write changed since.
function checked.serial_cuts_apply(plan)
  local cut_keys = nil -- the indexes cut so far (with one block, as most legs have, no table)
  for i = 1, #plan, 6 do
    local key, m, f, l, first, last = plan[i], plan[i + 1], plan[i + 2], plan[i + 3], plan[i + 4], plan[i + 5]
    if cut_keys ~= nil and cut_keys[key] then
      m = redis.call('ZREVRANGEBYSCORE', key, fmt_int(first), '-inf', 'LIMIT', '0', '1')[1]
      f, l = nil, nil
      if m ~= nil then f, l = checked.serial_entry_bounds(m) end
    end
    if f ~= nil and checked.serial_entry_cut(key, m, f, l, first, last) and #plan > 6 then
      cut_keys = cut_keys or {}
      cut_keys[key] = true
    end
  end
end

-- HINCRBY key field delta, or nothing and the refusal (checked.refusal) if
-- the field is not an integer or the key not a hash.
function checked.hincr(key, field, delta)
  return checked.refusal(redis.pcall('HINCRBY', key, field, fmt_int(delta)))
end

return checked
end
