# Embeds every settlement/scripts/*.lua into one C file as string constants,
# so gatewayd carries its Lua scripts and needs no files at run time.
# Inputs: SCRIPT_DIR, KEYS_HEADER, OUTPUT; optional PRELUDE_DIR (default
# SCRIPT_DIR) and ARRAY (default script_sources: the table gatewayd runs; the
# tests embed their own scripts, tests/support/scripts, as test_script_sources
# with the same prelude, so that the daemon carries only the scripts it runs).
# Files whose name starts with "_" are preludes (shared Lua functions): they
# are prepended, in name order, to every script and are not scripts themselves.
# Before them comes the store's key names, generated from KEYS_HEADER
# (settlement/store_keys.h, the one place they are written): each line
#   #define STORE_KEY_NAME "text"
# becomes the Lua constant
#   local KEY_NAME = 'text'
# (letters, digits and :{}_- only). A #define STORE_KEY_ line of any other
# shape stops the build, so that a name cannot silently go missing in Lua.
if(NOT PRELUDE_DIR)
  set(PRELUDE_DIR ${SCRIPT_DIR})
endif()
if(NOT ARRAY)
  set(ARRAY script_sources)
endif()
file(STRINGS ${KEYS_HEADER} key_lines REGEX "^#define STORE_KEY_")
set(prelude "-- generated from settlement/store_keys.h by cmake/embed_scripts.cmake\n")
foreach(line ${key_lines})
  if(NOT line MATCHES "^#define STORE_KEY_([A-Z0-9_]+) \"([A-Za-z0-9:{}_-]*)\"$")
    message(FATAL_ERROR "${KEYS_HEADER}: not a plain key definition: ${line}")
  endif()
  string(APPEND prelude "local KEY_${CMAKE_MATCH_1} = '${CMAKE_MATCH_2}'\n")
endforeach()
string(APPEND prelude "\n")
file(GLOB prelude_lua ${PRELUDE_DIR}/_*.lua)
list(SORT prelude_lua)
foreach(s ${prelude_lua})
  file(READ ${s} text)
  string(APPEND prelude "${text}\n")
endforeach()
file(GLOB all_lua ${SCRIPT_DIR}/*.lua)
list(SORT all_lua)
set(scripts)
foreach(s ${all_lua})
  get_filename_component(fname ${s} NAME)
  if(NOT fname MATCHES "^_")
    list(APPEND scripts ${s})
  endif()
endforeach()
string(HEX "${prelude}" prelude_hex)
set(body "/* generated from ${SCRIPT_DIR} by cmake/embed_scripts.cmake */\n#include \"settlement/script_sources.h\"\n\n")
if(NOT ARRAY STREQUAL "script_sources")
  string(APPEND body "extern const script_source_t ${ARRAY}[];\nextern const size_t ${ARRAY}_n;\n\n")
endif()
set(table "const script_source_t ${ARRAY}[] = {\n")
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
string(APPEND table "};\nconst size_t ${ARRAY}_n = ${n};\n")
file(WRITE ${OUTPUT}.tmp "${body}\n${table}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUTPUT}.tmp ${OUTPUT})
