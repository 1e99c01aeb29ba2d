/* reflection.h - gRPC server reflection: grpc.reflection.v1 and v1alpha
 * ServerReflection/ServerReflectionInfo, a bidirectional stream, answered
 * from the FileDescriptorSet of proto/ and the reflection protos that the
 * build embeds (cmake/embed_descriptor_set.cmake).
 *
 * Answers list_services (the services of services.h), file_by_filename and
 * file_containing_symbol (services, methods, messages, fields, enums, enum
 * values; the file and its transitive dependencies), and an error_response
 * NOT_FOUND for unknown names and for extensions (the protos define none).
 * Limits: REFLECTION_REQUESTS_MAX requests per stream (then
 * RESOURCE_EXHAUSTED), names of at most REFLECTION_NAME_MAX bytes, the
 * server's max_message_bytes per message and SERVER_STREAM_MS_MAX per stream.
 * Who may call it: anyone with a certificate the TLS layer accepted, like
 * Health (services.c gives it that authorization class). */
#ifndef GATEWAY_REFLECTION_H
#define GATEWAY_REFLECTION_H

#include "gateway/server.h"

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#define REFLECTION_REQUESTS_MAX 256 /* requests on one stream */
#define REFLECTION_NAME_MAX 256     /* bytes of a file or symbol name asked for */
#define REFLECTION_FILES_MAX 32     /* files in the embedded descriptor set */
#define REFLECTION_SYMBOLS_MAX 4096 /* symbols in it */

/* The embedded FileDescriptorSet (generated at build time). */
extern const unsigned char reflection_descriptor_set[];
extern const size_t reflection_descriptor_set_len;

/* grpc.reflection.v1alpha.ServerReflection: the v1 messages under the
 * v1alpha name (the two are the same on the wire). Static data. */
extern const ProtobufCServiceDescriptor reflection_v1alpha_descriptor;

/* The most services list_services names. */
#define REFLECTION_SERVICES_MAX 16

/* Indexes the embedded descriptor set (once per process; later calls return
 * the first result) and keeps services[0..services_n) (static data the
 * caller owns, 1..REFLECTION_SERVICES_MAX, the same table at every call) as
 * what list_services names. Returns 0, or -1 with the reason in err if the
 * set is malformed or over the limits above: a build fault, so the gateway
 * must not start. Thread-safe. */
int reflection_init(const ProtobufCServiceDescriptor *const *services, size_t services_n, char *err,
                    size_t errlen);

/* The name of the file that declares a fully-qualified symbol (e.g.
 * "carbon.v1.Registry.GetAccount"), or NULL. After reflection_init() == 0. */
const char *reflection_file_of_symbol(const char *symbol);

/* The stream handler of both ServerReflectionInfo methods (server.h's
 * server_stream_fn): one response per request until the client half-closes. */
void reflection_stream(server_call_t *call, server_stream_event_t event,
                       const ProtobufCMessage *request);

#endif
