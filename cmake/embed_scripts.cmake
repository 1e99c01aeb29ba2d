# Embeds every settlement/scripts/*.lua into one C file as string constants,
# so gatewayd carries its Lua scripts and needs no files at run time.
# Inputs: SCRIPT_DIR, KEYS_HEADER, OUTPUT.
# Files whose name starts with "_" are preludes (shared Lua functions): they
# are prepended, in name order, to every script and are not scripts themselves.
# Before them comes the store's key names, generated from KEYS_HEADER
# (settlement/store_keys.h, the one place they are written): each line
#   #define STORE_KEY_NAME "text"
# becomes the Lua constant
#   local KEY_NAME = 'text'
# (letters, digits and :{}_- only). A #define STORE_KEY_ line of any other
# shape stops the build, so that a name cannot silently go missing in Lua.
file(STRINGS ${KEYS_HEADER} key_lines REGEX "^#define STORE_KEY_")
set(prelude "-- generated from settlement/store_keys.h by cmake/embed_scripts.cmake\n")
foreach(line ${key_lines})
  if(NOT line MATCHES "^#define STORE_KEY_([A-Z0-9_]+) \"([A-Za-z0-9:{}_-]*)\"$")
    message(FATAL_ERROR "${KEYS_HEADER}: not a plain key definition: ${line}")
  endif()
  string(APPEND prelude "local KEY_${CMAKE_MATCH_1} = '${CMAKE_MATCH_2}'\n")
endforeach()
string(APPEND prelude "\n")
file(GLOB all_lua ${SCRIPT_DIR}/*.lua)
list(SORT all_lua)
set(scripts)
foreach(s ${all_lua})
  get_filename_component(fname ${s} NAME)
  if(fname MATCHES "^_")
    file(READ ${s} text)
    string(APPEND prelude "${text}\n")
  else()
    list(APPEND scripts ${s})
  endif()
endforeach()
string(HEX "${prelude}" prelude_hex)
set(body "/* generated from settlement/scripts by cmake/embed_scripts.cmake */\n#include \"settlement/script_sources.h\"\n\n")
set(table "const script_source_t script_sources[] = {\n")
set(n 0)
foreach(s ${scripts})
  get_filename_component(name ${s} NAME_WE)
  file(READ ${s} hex HEX)
  set(hex "${prelude_hex}${hex}")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(APPEND body "static const char src_${name}[] = {${hex}0x00};\n")
  string(APPEND table "  {\"${name}\", src_${name}},\n")
  math(EXPR n "${n} + 1")
endforeach()
string(APPEND table "};\nconst size_t script_sources_n = ${n};\n")
file(WRITE ${OUTPUT}.tmp "${body}\n${table}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUTPUT}.tmp ${OUTPUT})
