/* pbjson.h - any protobuf-c message as JSON (jansson), following the proto3
 * JSON mapping where it matters to readers: field names as in the .proto,
 * enums by name, 64-bit integers as decimal strings, bytes as hex. */
#ifndef GATEWAY_PBJSON_H
#define GATEWAY_PBJSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#define PBJSON_DEPTH_MAX 16 /* nested messages printed; deeper ones: {"truncated": true} */

/* A new JSON object (caller owns: json_decref). Never NULL. Iterative (an
 * explicit stack of PBJSON_DEPTH_MAX frames), so no message nests it deeper.
 * 64-bit integers (int64, uint64, sint64, fixed64, sfixed64) are always
 * strings of decimal digits, as in the proto3 JSON mapping; 32-bit ones
 * are numbers. */
json_t *pbjson_message(const ProtobufCMessage *msg);

#endif
