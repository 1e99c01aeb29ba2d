-- textfield_test: the Lua side of the free-text encoding, for the agreement
-- check in tests/integration/test_free_text.c; the gateway never calls it.
-- ARGV[1] "encode": returns {text_fields(ARGV[2..])}.
-- ARGV[1] "decode": returns the texts of ARGV[2], or {"MALFORMED"}.
-- Free text (beneficiaries, activity fingerprints, operators' reasons) in a
-- record: one netstring per text, "LEN:BYTES," with LEN its length in bytes
-- in decimal, no leading zeros. The bytes are taken as they are, never
-- searched for a separator. The same encoding as settlement/textfield.c.
-- No gateway script builds netstrings any more (audit entries are stored
-- packed, settlement/audit_stored.c); this is the Lua side of the agreement
-- check, kept here so the production prelude does not carry it.
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

if ARGV[1] == 'encode' then
  local list = {}
  for i = 2, #ARGV do list[#list + 1] = ARGV[i] end
  return { text_fields(list) }
end
local texts = text_fields_decode(ARGV[2] or '')
if texts == nil then return { 'MALFORMED' } end
return texts
