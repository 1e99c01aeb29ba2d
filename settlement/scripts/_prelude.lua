-- _prelude.lua: shared by every settlement script (prepended at build time by
-- cmake/embed_scripts.cmake). Redis runs each script atomically, so a script
-- is one state transition: it either happens whole, with its audit entry, or
-- not at all.
--
-- Numbers: Lua 5.1 numbers are doubles, exact up to 2^53. The C side refuses
-- any amount or serial at or above 2^50 (LEDGER_AMOUNT_G_MAX), so all
-- arithmetic here is exact. Numbers are written with fmt_int (never
-- tostring, which would print 1e+15).
--
-- Keys: their names are written once, in settlement/store_keys.h (which
-- lists them all with their types); the constants KEY_... used here are
-- generated from it and prepended before this prelude.

local function fmt_int(n)
  return string.format('%d', n)
end

local function num(s)
  local n = tonumber(s)
  if n == nil then return 0 end
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

local function acct_info_key(id) return KEY_ACCOUNT_PREFIX .. id .. KEY_ACCOUNT_INFO_SUFFIX end
local function acct_blocks_key(id) return KEY_ACCOUNT_PREFIX .. id .. KEY_ACCOUNT_BLOCKS_SUFFIX end
local function leg_key(tid) return KEY_LEG_PREFIX .. tid .. KEY_LEG_SUFFIX end

-- A block in text: "origin|meth|vintage|start|end".
local function block_parse(text)
  local p = split(text, '|')
  return { origin = p[1], meth = p[2], vintage = num(p[3]), first = num(p[4]), last = num(p[5]) }
end

local function block_text(b)
  return b.origin .. '|' .. b.meth .. '|' .. fmt_int(b.vintage) .. '|' .. fmt_int(b.first) ..
         '|' .. fmt_int(b.last)
end

local function block_field(b)
  return b.origin .. '|' .. b.meth .. '|' .. fmt_int(b.vintage) .. '|' .. fmt_int(b.first)
end

local function block_grams(b) return b.last - b.first + 1 end

-- Adds a block to an account.
local function account_add_block(id, b)
  redis.call('HSET', acct_blocks_key(id), block_field(b), fmt_int(b.last))
end

-- The account's blocks matching meth ('' = any) and vintage (0 = any),
-- oldest vintage first, then origin, then serial.
local function account_blocks(id, meth, vintage)
  local flat = redis.call('HGETALL', acct_blocks_key(id))
  local out = {}
  for i = 1, #flat, 2 do
    local p = split(flat[i], '|')
    local b = { origin = p[1], meth = p[2], vintage = num(p[3]), first = num(p[4]),
                last = num(flat[i + 1]) }
    if (meth == '' or b.meth == meth) and (vintage == 0 or b.vintage == vintage) then
      out[#out + 1] = b
    end
  end
  table.sort(out, function(x, y)
    if x.vintage ~= y.vintage then return x.vintage < y.vintage end
    if x.origin ~= y.origin then return x.origin < y.origin end
    return x.first < y.first
  end)
  return out
end

-- Takes want_g grams out of an account (blocks matching meth/vintage, oldest
-- first), splitting the last block. Returns the list of taken blocks; or nil
-- and the grams available if the account holds less than want_g; or nil, -1
-- if it would take more than max_blocks blocks (a limit on message size).
local function account_take(id, meth, vintage, want_g, max_blocks)
  local blocks = account_blocks(id, meth, vintage)
  local have, count = 0, 0
  for _, b in ipairs(blocks) do
    have = have + block_grams(b)
    count = count + 1
    if have >= want_g then break end
  end
  if have < want_g then return nil, have end
  if count > max_blocks then return nil, -1 end
  local taken = {}
  local need = want_g
  local key = acct_blocks_key(id)
  for _, b in ipairs(blocks) do
    if need == 0 then break end
    local g = block_grams(b)
    redis.call('HDEL', key, block_field(b))
    if g <= need then
      taken[#taken + 1] = b
      need = need - g
    else
      taken[#taken + 1] = { origin = b.origin, meth = b.meth, vintage = b.vintage,
                            first = b.first, last = b.first + need - 1 }
      account_add_block(id, { origin = b.origin, meth = b.meth, vintage = b.vintage,
                              first = b.first + need, last = b.last })
      need = 0
    end
  end
  return taken, have
end

-- Splits a list of blocks after the first grams: returns head, tail.
local function blocks_split(blocks, grams)
  local head, tail = {}, {}
  local left = grams
  for _, b in ipairs(blocks) do
    local g = block_grams(b)
    if left >= g then
      head[#head + 1] = b
      left = left - g
    elseif left > 0 then
      head[#head + 1] = { origin = b.origin, meth = b.meth, vintage = b.vintage,
                          first = b.first, last = b.first + left - 1 }
      tail[#tail + 1] = { origin = b.origin, meth = b.meth, vintage = b.vintage,
                          first = b.first + left, last = b.last }
      left = 0
    else
      tail[#tail + 1] = b
    end
  end
  return head, tail
end

local function blocks_text(blocks)
  local t = {}
  for i, b in ipairs(blocks) do t[i] = block_text(b) end
  return table.concat(t, ',')
end

local function blocks_parse(text)
  local out = {}
  for i, s in ipairs(split(text, ',')) do out[i] = block_parse(s) end
  return out
end

local function blocks_grams(blocks)
  local g = 0
  for _, b in ipairs(blocks) do g = g + block_grams(b) end
  return g
end

-- Free text (beneficiaries, activity fingerprints, operators' reasons) in a
-- record: one netstring per text, "LEN:BYTES," with LEN its length in bytes
-- in decimal, no leading zeros. The bytes are taken as they are, never
-- searched for a separator. The same encoding as settlement/textfield.c.
local function text_field(s)
  return fmt_int(#s) .. ':' .. s .. ','
end

local function text_fields(list)
  local t = {}
  for i, s in ipairs(list) do t[i] = text_field(s) end
  return table.concat(t)
end

-- The list of texts in s (a concatenation of fields), or nil if s is not one.
local function text_fields_decode(s)
  local out, pos = {}, 1
  while pos <= #s do
    local colon = string.find(s, ':', pos, true)
    if colon == nil or colon == pos or colon - pos > 4 then return nil end
    local digits = string.sub(s, pos, colon - 1)
    if string.find(digits, '^[0-9]+$') == nil or (#digits > 1 and string.sub(digits, 1, 1) == '0') then
      return nil
    end
    local n = tonumber(digits)
    if n > 4096 or string.sub(s, colon + n + 1, colon + n + 1) ~= ',' then return nil end
    out[#out + 1] = string.sub(s, colon + 1, colon + n)
    pos = colon + n + 2
  end
  return out
end

local function hincr(key, field, delta)
  redis.call('HINCRBY', key, field, fmt_int(delta))
end

-- SHA-256 (FIPS 180-4) over a Lua string, lowercase hex. Redis's Lua offers
-- only SHA-1, and the audit chain is specified with SHA-256.
local SHA256_K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

-- SHA-256 of msg in lowercase hex, on the bit library (32-bit operations on
-- doubles). Every call of a C function costs, so the rounds use the cheapest
-- forms: Ch(e,f,g) = g ^ (e & (f ^ g)) and Maj(a,b,c) = b ^ ((a ^ b) & (b ^ c)),
-- where b ^ c is the previous round's a ^ b. Sums of up to five 32-bit
-- words stay exact in a double; tobit brings a and e back to 32 bits.
local function sha256_hex(msg)
  local band, bxor, ror, rshift, tobit = bit.band, bit.bxor, bit.ror, bit.rshift, bit.tobit
  local K, byte = SHA256_K, string.byte
  local len = #msg
  local bits = len * 8
  local hi = math.floor(bits / 4294967296)
  local lo = bits % 4294967296
  msg = msg .. '\128' .. string.rep('\0', (55 - len) % 64) ..
        string.char(math.floor(hi / 16777216) % 256, math.floor(hi / 65536) % 256,
                    math.floor(hi / 256) % 256, hi % 256,
                    math.floor(lo / 16777216) % 256, math.floor(lo / 65536) % 256,
                    math.floor(lo / 256) % 256, lo % 256)
  local h1, h2, h3, h4 = tobit(0x6a09e667), tobit(0xbb67ae85), tobit(0x3c6ef372), tobit(0xa54ff53a)
  local h5, h6, h7, h8 = tobit(0x510e527f), tobit(0x9b05688c), tobit(0x1f83d9ab), tobit(0x5be0cd19)
  local w = {}
  for chunk = 1, #msg, 64 do
    for i = 0, 15 do
      local p = chunk + i * 4
      local b1, b2, b3, b4 = byte(msg, p, p + 3)
      w[i] = tobit(b1 * 16777216 + b2 * 65536 + b3 * 256 + b4)
    end
    for i = 16, 63 do
      local x, y = w[i - 15], w[i - 2]
      w[i] = tobit(w[i - 16] + bxor(ror(x, 7), ror(x, 18), rshift(x, 3)) + w[i - 7] +
                   bxor(ror(y, 17), ror(y, 19), rshift(y, 10)))
    end
    local a, b, c, d, e, f, g, hh = h1, h2, h3, h4, h5, h6, h7, h8
    local bc = bxor(b, c)
    for i = 0, 63 do
      local t1 = hh + bxor(ror(e, 6), ror(e, 11), ror(e, 25)) + bxor(g, band(e, bxor(f, g))) +
                 K[i + 1] + w[i]
      local ab = bxor(a, b)
      local t2 = bxor(ror(a, 2), ror(a, 13), ror(a, 22)) + bxor(b, band(ab, bc))
      bc = ab
      hh = g; g = f; f = e; e = tobit(d + t1); d = c; c = b; b = a; a = tobit(t1 + t2)
    end
    h1, h2, h3, h4 = tobit(h1 + a), tobit(h2 + b), tobit(h3 + c), tobit(h4 + d)
    h5, h6, h7, h8 = tobit(h5 + e), tobit(h6 + f), tobit(h7 + g), tobit(h8 + hh)
  end
  local tohex = bit.tohex
  return tohex(h1, 8) .. tohex(h2, 8) .. tohex(h3, 8) .. tohex(h4, 8) .. tohex(h5, 8) ..
         tohex(h6, 8) .. tohex(h7, 8) .. tohex(h8, 8)
end

-- Appends one entry to the region's audit hash chain, in the same script as
-- the change it records (format version 2, settlement/audit.h):
--   canonical = v2|seq|time_ms|event|id,id,...|block,block,...|detail
--   detail    = the texts of the list `details`, each a text_field
--   hash      = SHA-256(prev_hash .. canonical)
-- Ids and blocks are structured (validated, no separators inside); all free
-- text goes into details.
local AUDIT_GENESIS = string.rep('0', 64)

local function audit(now_ms, event, ids, blocks, details)
  assert(type(details) == 'table', 'audit details must be a list of texts')
  local head = redis.call('HMGET', KEY_AUDIT_HEAD, 'seq', 'hash')
  local seq = num(head[1]) + 1
  local prev = head[2] or AUDIT_GENESIS
  local canonical = 'v2|' .. fmt_int(seq) .. '|' .. fmt_int(now_ms) .. '|' .. event .. '|' ..
                    table.concat(ids, ',') .. '|' .. blocks_text(blocks) .. '|' ..
                    text_fields(details)
  local hash = sha256_hex(prev .. canonical)
  redis.call('HSET', KEY_AUDIT, fmt_int(seq), prev .. ' ' .. hash .. ' ' .. canonical)
  redis.call('HSET', KEY_AUDIT_HEAD, 'seq', fmt_int(seq), 'hash', hash)
  return seq
end

local function feed_add(kind, tid)
  local cursor = redis.call('INCR', KEY_FEED_SEQ)
  redis.call('ZADD', KEY_FEED, cursor, kind .. ':' .. tid)
  return cursor
end
