/* reflection.c - gRPC server reflection from the embedded descriptor set
 * (reflection.h). */
#include "gateway/services/reflection.h"
#include "common/carbon_assert.h"

#include "gateway/log.h"
#include "grpc/reflection/v1/reflection.pb-c.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef Grpc__Reflection__V1__ServerReflectionRequest refl_request_t;
typedef Grpc__Reflection__V1__ServerReflectionResponse refl_response_t;

/* ---- v1alpha: the v1 messages under the old name ------------------------------ */

static const ProtobufCMethodDescriptor reflection_v1alpha_methods[] = {
    {"ServerReflectionInfo", &grpc__reflection__v1__server_reflection_request__descriptor,
     &grpc__reflection__v1__server_reflection_response__descriptor},
};
static const unsigned reflection_v1alpha_indices[] = {0};
const ProtobufCServiceDescriptor reflection_v1alpha_descriptor = {
    PROTOBUF_C__SERVICE_DESCRIPTOR_MAGIC,
    "grpc.reflection.v1alpha.ServerReflection",
    "ServerReflection",
    "Grpc__Reflection__V1alpha__ServerReflection",
    "grpc.reflection.v1alpha",
    1,
    reflection_v1alpha_methods,
    reflection_v1alpha_indices,
};

/* ---- the index of the descriptor set ------------------------------------------- */

#define REFL_DEPS_MAX 16    /* imports of one file */
#define REFL_PENDING_MAX 256 /* messages waiting to be walked at once */
#define REFL_SCOPE_MAX 256   /* bytes of a fully-qualified name */

typedef struct {
    char name[REFLECTION_NAME_MAX];
    ProtobufCBinaryData bytes; /* the FileDescriptorProto, inside the embedded set */
    char deps[REFL_DEPS_MAX][REFLECTION_NAME_MAX];
    size_t deps_n;
    int dep_index[REFL_DEPS_MAX];
} refl_file_t;

typedef struct {
    char *name;
    int file;
    int is_message;
} refl_symbol_t;

typedef struct {
    refl_file_t files[REFLECTION_FILES_MAX];
    size_t files_n;
    refl_symbol_t *symbols;
    size_t symbols_n;
    char err[2 * REFLECTION_NAME_MAX + 64];
    int rc;
} refl_index_t;

static refl_index_t *refl;
static pthread_once_t refl_once = PTHREAD_ONCE_INIT;

typedef struct {
    const uint8_t *p, *end;
} refl_span_t;

/* Reads a varint at s->p; 0 on success. */
static int refl_varint(refl_span_t *s, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && s->p < s->end; shift += 7) {
        uint8_t b = *s->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* The next field of the message in s: 1 with its number (and, for a
 * length-delimited one, its bytes in sub), 0 at the end, -1 if malformed. */
static int refl_next(refl_span_t *s, uint32_t *field, refl_span_t *sub) {
    if (s->p >= s->end) return 0;
    uint64_t key, n;
    if (refl_varint(s, &key) != 0) return -1;
    *field = (uint32_t)(key >> 3);
    sub->p = sub->end = NULL;
    switch (key & 7) {
    case 0:
        return refl_varint(s, &n) == 0 ? 1 : -1;
    case 1:
    case 5: {
        size_t skip = (key & 7) == 1 ? 8 : 4;
        if ((size_t)(s->end - s->p) < skip) return -1;
        s->p += skip;
        return 1;
    }
    case 2:
        if (refl_varint(s, &n) != 0 || n > (uint64_t)(s->end - s->p)) return -1;
        sub->p = s->p;
        sub->end = s->p + n;
        s->p += n;
        return 1;
    default:
        return -1;
    }
}

/* Copies a string field into out (size outlen); -1 if it does not fit. */
static int refl_copy(const refl_span_t *sub, char *out, size_t outlen) {
    size_t n = (size_t)(sub->end - sub->p);
    if (n >= outlen || memchr(sub->p, 0, n) != NULL) return -1;
    memcpy(out, sub->p, n);
    out[n] = '\0';
    return 0;
}

/* The name (field 1) of a descriptor message into out; -1 if absent. */
static int refl_name_of(refl_span_t msg, char *out, size_t outlen) {
    uint32_t f;
    refl_span_t sub;
    int r;
    while ((r = refl_next(&msg, &f, &sub)) == 1)
        if (f == 1 && sub.p != NULL) return refl_copy(&sub, out, outlen);
    return -1;
}

static int refl_add_symbol(const char *scope, const refl_span_t *named, int file, int is_message,
                           char *full, size_t fulllen) {
    char name[REFL_SCOPE_MAX];
    if (refl_name_of(*named, name, sizeof name) != 0) return -1;
    int n = scope[0] != '\0' ? snprintf(full, fulllen, "%s.%s", scope, name)
                             : snprintf(full, fulllen, "%s", name);
    if (n < 0 || (size_t)n >= fulllen || refl->symbols_n >= REFLECTION_SYMBOLS_MAX) return -1;
    char *copy = strdup(full);
    if (copy == NULL) return -1;
    refl->symbols[refl->symbols_n++] = (refl_symbol_t){copy, file, is_message};
    return 0;
}

/* An enum and its values (which protobuf scopes beside the enum). */
static int refl_add_enum(const char *scope, const refl_span_t *en, int file) {
    char full[REFL_SCOPE_MAX], value[REFL_SCOPE_MAX];
    if (refl_add_symbol(scope, en, file, 0, full, sizeof full) != 0) return -1;
    refl_span_t s = *en, sub;
    uint32_t f;
    int r;
    while ((r = refl_next(&s, &f, &sub)) == 1)
        if (f == 2 && sub.p != NULL && refl_add_symbol(scope, &sub, file, 0, value, sizeof value) != 0)
            return -1;
    return r;
}

/* A service and its methods. */
static int refl_add_service(const char *scope, const refl_span_t *sv, int file) {
    char full[REFL_SCOPE_MAX], method[REFL_SCOPE_MAX];
    if (refl_add_symbol(scope, sv, file, 0, full, sizeof full) != 0) return -1;
    refl_span_t s = *sv, sub;
    uint32_t f;
    int r;
    while ((r = refl_next(&s, &f, &sub)) == 1)
        if (f == 2 && sub.p != NULL && refl_add_symbol(full, &sub, file, 0, method, sizeof method) != 0)
            return -1;
    return r;
}

typedef struct {
    refl_span_t msg;
    char scope[REFL_SCOPE_MAX];
} refl_pending_t;

/* Every message of a file, nested ones included, with their fields, enums
 * and values: an explicit stack, no recursion. top: the file's messages. */
static int refl_add_messages(const char *package, const refl_span_t *top, size_t top_n, int file) {
    refl_pending_t *stack = malloc(REFL_PENDING_MAX * sizeof *stack);
    if (stack == NULL) return -1;
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i < top_n && rc == 0; i++) {
        if (n >= REFL_PENDING_MAX) rc = -1;
        else {
            stack[n].msg = top[i];
            snprintf(stack[n++].scope, REFL_SCOPE_MAX, "%s", package);
        }
    }
    while (n > 0 && rc == 0) {
        refl_pending_t cur = stack[--n];
        char full[REFL_SCOPE_MAX], field[REFL_SCOPE_MAX];
        if (refl_add_symbol(cur.scope, &cur.msg, file, 1, full, sizeof full) != 0) {
            rc = -1;
            break;
        }
        refl_span_t s = cur.msg, sub;
        uint32_t f;
        int r;
        while (rc == 0 && (r = refl_next(&s, &f, &sub)) == 1) {
            if (sub.p == NULL) continue;
            if (f == 2) rc = refl_add_symbol(full, &sub, file, 0, field, sizeof field);
            if (f == 4) rc = refl_add_enum(full, &sub, file);
            if (f == 3 && n >= REFL_PENDING_MAX) rc = -1;
            if (f == 3 && rc == 0) {
                stack[n].msg = sub;
                snprintf(stack[n++].scope, REFL_SCOPE_MAX, "%s", full);
            }
        }
        if (rc == 0 && r < 0) rc = -1;
    }
    free(stack);
    return rc;
}

/* One FileDescriptorProto: its name, imports and symbols. */
static int refl_add_file(refl_span_t fd, int file) {
    refl_file_t *rf = &refl->files[file];
    char package[REFL_SCOPE_MAX] = "";
    refl_span_t msgs[REFLECTION_SYMBOLS_MAX / 16], s = fd, sub;
    size_t msgs_n = 0;
    uint32_t f;
    int r, rc = 0;
    rf->bytes.data = (uint8_t *)fd.p;
    rf->bytes.len = (size_t)(fd.end - fd.p);
    if (refl_name_of(fd, rf->name, sizeof rf->name) != 0) return -1;
    while (rc == 0 && (r = refl_next(&s, &f, &sub)) == 1) {
        if (sub.p == NULL) continue;
        if (f == 2) rc = refl_copy(&sub, package, sizeof package);
        if (f == 3) {
            if (rf->deps_n >= REFL_DEPS_MAX) return -1;
            rc = refl_copy(&sub, rf->deps[rf->deps_n++], REFLECTION_NAME_MAX);
        }
        if (f == 4) {
            if (msgs_n >= sizeof msgs / sizeof msgs[0]) return -1;
            msgs[msgs_n++] = sub;
        }
    }
    if (rc != 0 || r < 0) return -1;
    /* the package is field 2, which may follow messages: enums and services now */
    s = fd;
    while (rc == 0 && (r = refl_next(&s, &f, &sub)) == 1) {
        if (sub.p == NULL) continue;
        if (f == 5) rc = refl_add_enum(package, &sub, file);
        if (f == 6) rc = refl_add_service(package, &sub, file);
    }
    if (rc != 0 || r < 0) return -1;
    return refl_add_messages(package, msgs, msgs_n, file);
}

static int refl_symbol_cmp(const void *a, const void *b) {
    return strcmp(((const refl_symbol_t *)a)->name, ((const refl_symbol_t *)b)->name);
}

static int refl_file_index(const char *name) {
    for (size_t i = 0; i < refl->files_n; i++)
        if (strcmp(refl->files[i].name, name) == 0) return (int)i;
    return -1;
}

/* Resolves imports to indices and sorts the symbols; a missing import or a
 * symbol declared twice is an error. */
static int refl_link(void) {
    for (size_t i = 0; i < refl->files_n; i++) {
        refl_file_t *rf = &refl->files[i];
        for (size_t d = 0; d < rf->deps_n; d++) {
            rf->dep_index[d] = refl_file_index(rf->deps[d]);
            if (rf->dep_index[d] < 0) {
                snprintf(refl->err, sizeof refl->err, "%s imports %s, not in the set", rf->name,
                         rf->deps[d]);
                return -1;
            }
        }
    }
    qsort(refl->symbols, refl->symbols_n, sizeof refl->symbols[0], refl_symbol_cmp);
    for (size_t i = 1; i < refl->symbols_n; i++)
        if (strcmp(refl->symbols[i - 1].name, refl->symbols[i].name) == 0) {
            snprintf(refl->err, sizeof refl->err, "symbol %s declared twice", refl->symbols[i].name);
            return -1;
        }
    return 0;
}

static void refl_build(void) {
    refl = calloc(1, sizeof *refl);
    if (refl == NULL) abort();
    refl->symbols = calloc(REFLECTION_SYMBOLS_MAX, sizeof refl->symbols[0]);
    if (refl->symbols == NULL) abort();
    refl_span_t set = {reflection_descriptor_set,
                       reflection_descriptor_set + reflection_descriptor_set_len};
    refl_span_t sub;
    uint32_t f;
    int r;
    refl->rc = -1;
    while ((r = refl_next(&set, &f, &sub)) == 1) {
        if (f != 1 || sub.p == NULL) continue;
        if (refl->files_n >= REFLECTION_FILES_MAX ||
            refl_add_file(sub, (int)refl->files_n) != 0) {
            snprintf(refl->err, sizeof refl->err,
                     "embedded descriptor set: file %zu malformed or over the limits",
                     refl->files_n + 1);
            return;
        }
        refl->files_n++;
    }
    if (r < 0) {
        snprintf(refl->err, sizeof refl->err, "embedded descriptor set: malformed");
        return;
    }
    if (refl_link() != 0) return;
    refl->rc = 0;
}

/* The services list_services names: set once by reflection_init. */
static const ProtobufCServiceDescriptor *const *refl_services;
static size_t refl_services_n;

int reflection_init(const ProtobufCServiceDescriptor *const *services, size_t services_n, char *err,
                    size_t errlen) {
    CARBON_ASSERT(services != NULL && services_n >= 1 && services_n <= REFLECTION_SERVICES_MAX);
    CARBON_ASSERT(refl_services == NULL || (refl_services == services && refl_services_n == services_n));
    refl_services = services;
    refl_services_n = services_n;
    pthread_once(&refl_once, refl_build);
    if (refl->rc != 0) snprintf(err, errlen, "server reflection: %s", refl->err);
    return refl->rc;
}

static const refl_symbol_t *refl_find_symbol(const char *name) {
    refl_symbol_t key = {(char *)name, 0, 0};
    return bsearch(&key, refl->symbols, refl->symbols_n, sizeof key, refl_symbol_cmp);
}

const char *reflection_file_of_symbol(const char *symbol) {
    CARBON_ASSERT(refl != NULL && refl->rc == 0);
    const refl_symbol_t *s = refl_find_symbol(symbol);
    return s == NULL ? NULL : refl->files[s->file].name;
}

/* ---- answers --------------------------------------------------------------------- */

/* The file and its transitive imports, the file first, each once: a work
 * list, no recursion. Returns how many went into out. */
static size_t refl_closure(int file, ProtobufCBinaryData *out) {
    int order[REFLECTION_FILES_MAX];
    unsigned char seen[REFLECTION_FILES_MAX] = {0};
    size_t n = 0;
    order[n++] = file;
    seen[file] = 1;
    for (size_t i = 0; i < n; i++) {
        const refl_file_t *rf = &refl->files[order[i]];
        for (size_t d = 0; d < rf->deps_n; d++) {
            int dep = rf->dep_index[d];
            if (seen[dep]) continue;
            seen[dep] = 1;
            order[n++] = dep;
        }
    }
    for (size_t i = 0; i < n; i++) out[i] = refl->files[order[i]].bytes;
    return n;
}

static void refl_send_error(server_call_t *call, refl_response_t *resp, grpc_status_code code,
                            const char *fmt, const char *name) {
    char message[REFLECTION_NAME_MAX + 128];
    snprintf(message, sizeof message, fmt, name);
    Grpc__Reflection__V1__ErrorResponse error = GRPC__REFLECTION__V1__ERROR_RESPONSE__INIT;
    error.error_code = (int32_t)code;
    error.error_message = message;
    resp->message_response_case = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
    resp->error_response = &error;
    server_stream_send(call, &resp->base);
}

static void refl_send_files(server_call_t *call, refl_response_t *resp, int file) {
    ProtobufCBinaryData files[REFLECTION_FILES_MAX];
    Grpc__Reflection__V1__FileDescriptorResponse fdr =
        GRPC__REFLECTION__V1__FILE_DESCRIPTOR_RESPONSE__INIT;
    fdr.n_file_descriptor_proto = refl_closure(file, files);
    fdr.file_descriptor_proto = files;
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
    resp->file_descriptor_response = &fdr;
    server_stream_send(call, &resp->base);
}

static void refl_send_services(server_call_t *call, refl_response_t *resp) {
    CARBON_ASSERT(refl_services != NULL && refl_services_n <= REFLECTION_SERVICES_MAX);
    Grpc__Reflection__V1__ServiceResponse items[REFLECTION_SERVICES_MAX];
    Grpc__Reflection__V1__ServiceResponse *ptrs[REFLECTION_SERVICES_MAX];
    for (size_t i = 0; i < refl_services_n; i++) {
        items[i] = (Grpc__Reflection__V1__ServiceResponse)GRPC__REFLECTION__V1__SERVICE_RESPONSE__INIT;
        items[i].name = (char *)refl_services[i]->name;
        ptrs[i] = &items[i];
    }
    Grpc__Reflection__V1__ListServiceResponse list = GRPC__REFLECTION__V1__LIST_SERVICE_RESPONSE__INIT;
    list.n_service = refl_services_n;
    list.service = ptrs;
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
    resp->list_services_response = &list;
    server_stream_send(call, &resp->base);
}

/* all_extension_numbers_of_type: a known message has none (the protos
 * declare no extensions); anything else is NOT_FOUND. */
static void refl_send_extension_numbers(server_call_t *call, refl_response_t *resp,
                                        const char *type) {
    const refl_symbol_t *s = refl_find_symbol(type);
    if (s == NULL || !s->is_message) {
        refl_send_error(call, resp, GRPC_STATUS_NOT_FOUND, "no message type %s", type);
        return;
    }
    Grpc__Reflection__V1__ExtensionNumberResponse numbers =
        GRPC__REFLECTION__V1__EXTENSION_NUMBER_RESPONSE__INIT;
    numbers.base_type_name = (char *)type;
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE;
    resp->all_extension_numbers_response = &numbers;
    server_stream_send(call, &resp->base);
}

/* Answers one request with exactly one response (or ends the call). */
static void refl_answer(server_call_t *call, const refl_request_t *req) {
    refl_response_t resp = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__INIT;
    resp.valid_host = req->host;
    resp.original_request = (refl_request_t *)req;
    const char *name = "";
    switch (req->message_request_case) {
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
        name = req->file_by_filename;
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL:
        name = req->file_containing_symbol;
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE:
        name = req->all_extension_numbers_of_type;
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION:
        name = req->file_containing_extension->containing_type;
        break;
    default:
        break;
    }
    if (strlen(name) >= REFLECTION_NAME_MAX) {
        char limit[16];
        snprintf(limit, sizeof limit, "%d", REFLECTION_NAME_MAX - 1);
        refl_send_error(call, &resp, GRPC_STATUS_INVALID_ARGUMENT, "a name may have at most %s bytes",
                        limit);
        return;
    }
    switch (req->message_request_case) {
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES:
        refl_send_services(call, &resp);
        return;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME: {
        int file = refl_file_index(name);
        if (file < 0)
            refl_send_error(call, &resp, GRPC_STATUS_NOT_FOUND, "no file %s", name);
        else
            refl_send_files(call, &resp, file);
        return;
    }
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL: {
        const refl_symbol_t *s = refl_find_symbol(name);
        if (s == NULL)
            refl_send_error(call, &resp, GRPC_STATUS_NOT_FOUND, "no symbol %s", name);
        else
            refl_send_files(call, &resp, s->file);
        return;
    }
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION:
        refl_send_error(call, &resp, GRPC_STATUS_NOT_FOUND, "no extension of %s (none is declared)",
                        name);
        return;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE:
        refl_send_extension_numbers(call, &resp, name);
        return;
    default:
        refl_send_error(call, &resp, GRPC_STATUS_INVALID_ARGUMENT, "%s",
                        "the request names no question (message_request is not set)");
        return;
    }
}

void reflection_stream(server_call_t *call, server_stream_event_t event,
                       const ProtobufCMessage *request) {
    CARBON_ASSERT(call != NULL);
    switch (event) {
    case SERVER_STREAM_MESSAGE:
        CARBON_ASSERT(request != NULL && refl != NULL && refl->rc == 0);
        if (server_stream_received(call) > REFLECTION_REQUESTS_MAX) {
            server_reply_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, REASON(TOO_MANY_REQUESTS),
                               "a reflection stream may carry at most %d requests; open another",
                               REFLECTION_REQUESTS_MAX);
            return;
        }
        refl_answer(call, (const refl_request_t *)request);
        return;
    case SERVER_STREAM_SENT:
        server_stream_read(call);
        return;
    case SERVER_STREAM_END:
        server_stream_finish(call);
        return;
    }
}
