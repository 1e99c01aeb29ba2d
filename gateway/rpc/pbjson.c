/* pbjson.c - protobuf-c messages as JSON (pbjson.h). */
#include "gateway/rpc/pbjson.h"
#include "common/carbon_assert.h"
#include "common/hex.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static json_t *pbjson_u64(uint64_t v) {
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return json_string(buf);
}

static json_t *pbjson_value(const ProtobufCFieldDescriptor *f, const void *p) {
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: {
        char buf[24];
        snprintf(buf, sizeof buf, "%" PRId64, *(const int64_t *)p);
        return json_string(buf);
    }
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return pbjson_u64(*(const uint64_t *)p);
    case PROTOBUF_C_TYPE_BOOL: return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
            (const ProtobufCEnumDescriptor *)f->descriptor, *(const int *)p);
        return ev != NULL ? json_string(ev->name) : json_integer(*(const int *)p);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        json_t *j = json_string(s != NULL ? s : "");
        return j != NULL ? j : json_string("(invalid UTF-8)");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        if (b->len > HEX_BYTES_MAX) return json_string("(bytes too long)");
        char *hex = malloc(HEX_ENCODED_SIZE(b->len));
        if (hex == NULL) abort();
        int hex_len = hex_encode(b->data, b->len, hex, HEX_ENCODED_SIZE(b->len));
        CARBON_ASSERT(hex_len >= 0);
        json_t *j = json_string(hex);
        free(hex);
        return j;
    }
    default: return json_null(); /* messages: pbjson_message's stack */
    }
}

static size_t pbjson_size(const ProtobufCFieldDescriptor *f) {
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM: return 4;
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE: return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    }
    return 0;
}

/* One message being printed: the next field (and element) to print. */
typedef struct {
    const ProtobufCMessage *msg;
    json_t *obj;
    unsigned field;
    size_t elem;
} pbjson_frame_t;

/* The next value of frame f, advancing it: *value is set for a scalar, *sub
 * for a message to descend into (its JSON object already placed). Returns 0
 * when f has no fields left. */
static int pbjson_next(pbjson_frame_t *f, const ProtobufCMessage **sub, json_t **sub_obj) {
    const ProtobufCMessageDescriptor *d = f->msg->descriptor;
    const char *base = (const char *)f->msg;
    *sub = NULL;
    for (; f->field < d->n_fields; f->field++, f->elem = 0) {
        const ProtobufCFieldDescriptor *fd = &d->fields[f->field];
        const void *p = base + fd->offset;
        json_t *container = f->obj;
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + fd->quantifier_offset);
            if (f->elem == 0) json_object_set_new(f->obj, fd->name, json_array());
            if (f->elem >= n) continue;
            container = json_object_get(f->obj, fd->name);
            p = *(char *const *)p + f->elem * pbjson_size(fd);
            f->elem++;
        } else {
            if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                *(const uint32_t *)(base + fd->quantifier_offset) != fd->id)
                continue;
            f->field++;
        }
        json_t *v;
        if (fd->type == PROTOBUF_C_TYPE_MESSAGE && *(ProtobufCMessage *const *)p != NULL) {
            *sub = *(ProtobufCMessage *const *)p;
            v = *sub_obj = json_object();
        } else {
            v = pbjson_value(fd, p);
        }
        if (json_is_array(container))
            json_array_append_new(container, v);
        else
            json_object_set_new(container, fd->name, v);
        return 1;
    }
    return 0;
}

json_t *pbjson_message(const ProtobufCMessage *msg) {
    CARBON_ASSERT(msg != NULL);
    pbjson_frame_t stack[PBJSON_DEPTH_MAX];
    size_t depth = 1;
    json_t *root = json_object();
    stack[0] = (pbjson_frame_t){msg, root, 0, 0};
    while (depth > 0) {
        const ProtobufCMessage *sub;
        json_t *sub_obj = NULL;
        if (!pbjson_next(&stack[depth - 1], &sub, &sub_obj)) {
            depth--;
        } else if (sub != NULL && depth < PBJSON_DEPTH_MAX) {
            stack[depth++] = (pbjson_frame_t){sub, sub_obj, 0, 0};
        } else if (sub != NULL) {
            json_object_set_new(sub_obj, "truncated", json_true()); /* deeper than any type */
        }
    }
    return root;
}
