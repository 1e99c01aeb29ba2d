# Embeds the FileDescriptorSet made by protoc-c --descriptor_set_out into one
# C file as a byte array, so gatewayd serves reflection from no file at run
# time (gateway/services/reflection.h declares the symbols).
# Inputs: INPUT (the descriptor set), OUTPUT (the C file).
file(READ ${INPUT} hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR n "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
file(WRITE ${OUTPUT}.tmp
  "/* generated from proto/ by cmake/embed_descriptor_set.cmake */\n"
  "#include \"gateway/services/reflection.h\"\n\n"
  "const unsigned char reflection_descriptor_set[] = {${hex}};\n"
  "const size_t reflection_descriptor_set_len = ${n};\n")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUTPUT}.tmp ${OUTPUT})
