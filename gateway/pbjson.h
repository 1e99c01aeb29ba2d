/* pbjson.h - any protobuf-c message as JSON (jansson), following the proto3
 * JSON mapping where it matters to readers: field names as in the .proto,
 * enums by name, 64-bit integers as decimal strings, bytes as hex. */
#ifndef GATEWAY_PBJSON_H
#define GATEWAY_PBJSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* A new JSON object (caller owns: json_decref). Never NULL. Nesting is
 * bounded by the message types, which are not recursive. */
json_t *pbjson_message(const ProtobufCMessage *msg);

#endif
