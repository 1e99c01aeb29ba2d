-- textfield_test: checks the prelude's free-text encoding for the tests
-- (tests/integration/test_free_text.c); the gateway never calls it.
-- ARGV[1] "encode": returns {text_fields(ARGV[2..])}.
-- ARGV[1] "decode": returns the texts of ARGV[2], or {"MALFORMED"}.
if ARGV[1] == 'encode' then
  local list = {}
  for i = 2, #ARGV do list[#list + 1] = ARGV[i] end
  return { text_fields(list) }
end
local texts = text_fields_decode(ARGV[2] or '')
if texts == nil then return { 'MALFORMED' } end
return texts
