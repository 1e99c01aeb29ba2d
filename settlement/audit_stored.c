/* audit_stored.c - a stored audit-log entry to its canonical bytes
 * (audit_stored.h). MessagePack is read with msgpack-c; the netstrings are
 * written here, into a buffer that never grows past AUDIT_ENTRY_BYTES_MAX. */
#include "settlement/audit_stored.h"

#include "common/carbon_assert.h"
#include "common/decimal.h"
#include "settlement/audit.h"
#include "settlement/ledger.h"
#include "settlement/store_keys.h"

#include <hiredis/hiredis.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AS_TOP_FIELDS 7   /* version, seq, time, event, ids, blocks, details */
#define AS_BLOCK_FIELDS 5 /* origin, meth, vintage, first, last */

typedef struct {
    char *bytes;
    size_t len;
    size_t cap;
    int overflow; /* set once the result would pass AUDIT_ENTRY_BYTES_MAX */
} as_buf_t;

static void as_append(as_buf_t *b, const char *s, size_t n) {
    if (b->overflow) return;
    if (n > AUDIT_ENTRY_BYTES_MAX - b->len) {
        b->overflow = 1;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap == 0 ? 256 : b->cap;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->bytes, cap);
        CARBON_ASSERT(p != NULL);
        b->bytes = p;
        b->cap = cap;
    }
    if (n > 0) memcpy(b->bytes + b->len, s, n); /* s may be NULL for an empty text */
    b->len += n;
    b->bytes[b->len] = '\0';
}

/* Writes a netstring's head "n:" into head; returns its length. */
static size_t as_head(char head[DECIMAL_SIZE + 1], size_t n) {
    size_t k = decimal_u64(head, n);
    head[k++] = ':';
    return k;
}

/* Appends the netstring of s[0..n). */
static void as_field(as_buf_t *b, const char *s, size_t n) {
    char head[DECIMAL_SIZE + 1];
    as_append(b, head, as_head(head, n));
    as_append(b, s, n);
    as_append(b, ",", 1);
}

/* A field whose content is written straight into b after as_open and
 * closed by as_close(b, at): its head goes in front of the content then
 * (one buffer for the whole entry, none per list or block). */
static size_t as_open(const as_buf_t *b) { return b->len; }

static void as_close(as_buf_t *b, size_t at) {
    if (b->overflow) return;
    CARBON_ASSERT(at <= b->len);
    size_t inner = b->len - at;
    char head[DECIMAL_SIZE + 1];
    size_t k = as_head(head, inner);
    as_append(b, head, k); /* room for the head, at the end for now */
    if (b->overflow) return;
    memmove(b->bytes + at + k, b->bytes + at, inner);
    memcpy(b->bytes + at, head, k);
    as_append(b, ",", 1);
}

/* Appends the netstring of a text (str or bin); -1 if o is neither. */
static int as_text(as_buf_t *b, const msgpack_object *o) {
    if (o->type == MSGPACK_OBJECT_STR) {
        as_field(b, o->via.str.ptr, o->via.str.size);
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_BIN) {
        as_field(b, o->via.bin.ptr, o->via.bin.size);
        return 0;
    }
    return -1;
}

/* Appends the netstring of an integer in decimal, as Lua's fmt_int writes
 * it; -1 if o is not an integer. */
static int as_number(as_buf_t *b, const msgpack_object *o) {
    char digits[DECIMAL_SIZE];
    size_t k;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        k = decimal_u64(digits, o->via.u64);
    else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        k = decimal_i64(digits, o->via.i64);
    else
        return -1;
    as_field(b, digits, k);
    return 0;
}

/* The elements of a list (an array; cmsgpack packs an empty Lua table as an
 * empty array, but an empty map is taken as empty too). -1 if o is neither. */
static int as_list(const msgpack_object *o, const msgpack_object **items, size_t *n) {
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        *items = o->via.array.ptr;
        *n = o->via.array.size;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_MAP && o->via.map.size == 0) {
        *items = NULL;
        *n = 0;
        return 0;
    }
    return -1;
}

/* Appends the field of one block [origin, meth, vintage, first, last]. */
static int as_block(as_buf_t *b, const msgpack_object *o) {
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != AS_BLOCK_FIELDS) return -1;
    const msgpack_object *f = o->via.array.ptr;
    size_t at = as_open(b);
    int rc = as_text(b, &f[0]);
    if (rc == 0) rc = as_text(b, &f[1]);
    for (size_t i = 2; i < AS_BLOCK_FIELDS && rc == 0; i++) rc = as_number(b, &f[i]);
    if (rc == 0) as_close(b, at);
    return rc;
}

/* Appends a field holding the list o, each element written by item
 * (as_text, as_block); -1 if o is not a list or an element is refused. */
static int as_items(as_buf_t *b, const msgpack_object *o,
                    int (*item)(as_buf_t *, const msgpack_object *)) {
    const msgpack_object *items;
    size_t n;
    if (as_list(o, &items, &n) != 0) return -1;
    size_t at = as_open(b);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) rc = item(b, &items[i]);
    if (rc == 0) as_close(b, at);
    return rc;
}

/* Encodes the seven top elements f into b; a reason for the first fault. */
static const char *as_entry(as_buf_t *b, const msgpack_object *f) {
    if (f[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || f[0].via.u64 != AUDIT_STORED_VERSION)
        return "an unknown version";
    as_field(b, AUDIT_FORMAT, strlen(AUDIT_FORMAT));
    if (as_number(b, &f[1]) != 0) return "a sequence number that is not an integer";
    if (as_number(b, &f[2]) != 0) return "a time that is not an integer";
    if (as_text(b, &f[3]) != 0) return "an event that is not a text";
    if (as_items(b, &f[4], as_text) != 0) return "ids that are not a list of texts";
    if (as_items(b, &f[5], as_block) != 0) return "blocks that are not lists of two texts and three integers";
    if (as_items(b, &f[6], as_text) != 0) return "details that are not a list of texts";
    if (b->overflow) return "a canonical entry longer than 1 MiB";
    return NULL;
}

/* True if the bytes start as a MessagePack array of seven: a packed entry.
 * A canonical entry starts with a digit, never with 0x97. */
static int as_is_packed(const char *stored, size_t len) {
    return len > 0 && (unsigned char)stored[0] == (0x90u | AS_TOP_FIELDS);
}

static void as_copy(const char *stored, size_t len, char **out, size_t *out_len) {
    *out = malloc(len + 1);
    CARBON_ASSERT(*out != NULL);
    if (len > 0) memcpy(*out, stored, len);
    (*out)[len] = '\0';
    *out_len = len;
}

int audit_stored_canonical(const char *stored, size_t len, char **out, size_t *out_len,
                           char *why, size_t why_size) {
    CARBON_ASSERT(stored != NULL || len == 0);
    CARBON_ASSERT(out != NULL && out_len != NULL && why != NULL && why_size > 0);
    why[0] = '\0';
    if (!as_is_packed(stored, len)) {
        as_copy(stored, len, out, out_len);
        return 0;
    }
    const char *fault = NULL;
    as_buf_t b = {0};
    msgpack_unpacked top;
    msgpack_unpacked_init(&top);
    size_t off = 0;
    if (len > AUDIT_ENTRY_BYTES_MAX) fault = "a packed entry longer than 1 MiB";
    else if (msgpack_unpack_next(&top, stored, len, &off) != MSGPACK_UNPACK_SUCCESS)
        fault = "not MessagePack";
    else if (off != len) fault = "bytes after the packed entry";
    else if (top.data.type != MSGPACK_OBJECT_ARRAY || top.data.via.array.size != AS_TOP_FIELDS)
        fault = "not an array of seven";
    else fault = as_entry(&b, top.data.via.array.ptr);
    msgpack_unpacked_destroy(&top);
    if (fault != NULL) {
        free(b.bytes);
        snprintf(why, why_size, "packed entry: %s", fault);
        as_copy(stored, len, out, out_len);
        return -1;
    }
    *out = b.bytes;
    *out_len = b.len;
    return 0;
}

/* HMGET key with the n sequence numbers from from_seq: the reply, or NULL
 * with err. */
static redisReply *as_hmget(store_t *st, const char *key, uint64_t from_seq, size_t n, char *err,
                            size_t errlen) {
    const char **argv = calloc(n + 2, sizeof *argv);
    char (*seqs)[DECIMAL_SIZE] = calloc(n, sizeof *seqs);
    CARBON_ASSERT(argv != NULL && seqs != NULL);
    argv[0] = "HMGET";
    argv[1] = key;
    for (size_t i = 0; i < n; i++) {
        decimal_u64(seqs[i], from_seq + i);
        argv[2 + i] = seqs[i];
    }
    redisReply *r = NULL;
    int rc = store_command(st, (int)n + 2, argv, NULL, &r, err, errlen);
    free(argv);
    free(seqs);
    if (rc != STORE_OK) return NULL;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n) {
        snprintf(err, errlen, "HMGET %s: not an array of %zu", key, n);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* Reads [from_seq, from_seq + n) (n <= AUDIT_STORED_STEP_MAX) into out,
 * lens and damaged (NULL or n flags), as audit_stored_read. */
static int as_read_step(store_t *st, uint64_t from_seq, size_t n, char **out, size_t *lens,
                        int *damaged, char *err, size_t errlen) {
    CARBON_ASSERT(n >= 1 && n <= AUDIT_STORED_STEP_MAX);
    redisReply *canonical = as_hmget(st, STORE_KEY_LOG_ENTRIES, from_seq, n, err, errlen);
    if (canonical == NULL) return LEDGER_ESTORE;
    redisReply *packed = as_hmget(st, STORE_KEY_LOG_PACKED, from_seq, n, err, errlen);
    if (packed == NULL) {
        freeReplyObject(canonical);
        return LEDGER_ESTORE;
    }
    for (size_t i = 0; i < n; i++) {
        const redisReply *el = canonical->element[i];
        if (el->type != REDIS_REPLY_STRING) el = packed->element[i];
        if (el->type != REDIS_REPLY_STRING) continue;
        char why[160];
        int bad = audit_stored_canonical(el->str, el->len, &out[i], &lens[i], why, sizeof why);
        if (damaged != NULL) damaged[i] = bad != 0;
    }
    freeReplyObject(canonical);
    freeReplyObject(packed);
    return LEDGER_OK;
}

int audit_stored_read(store_t *st, uint64_t from_seq, size_t n, char **out, size_t *lens,
                      int *damaged, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && out != NULL && lens != NULL && err != NULL);
    CARBON_ASSERT(from_seq >= 1 && n >= 1 && n <= AUDIT_READ_MAX);
    memset(out, 0, n * sizeof *out);
    memset(lens, 0, n * sizeof *lens);
    if (damaged != NULL) memset(damaged, 0, n * sizeof *damaged);
    for (size_t done = 0; done < n; done += AUDIT_STORED_STEP_MAX) {
        size_t step = n - done < AUDIT_STORED_STEP_MAX ? n - done : AUDIT_STORED_STEP_MAX;
        if (as_read_step(st, from_seq + done, step, out + done, lens + done,
                         damaged != NULL ? damaged + done : NULL, err, errlen) == LEDGER_OK)
            continue;
        for (size_t i = 0; i < done; i++) { /* nothing stays allocated on error */
            free(out[i]);
            out[i] = NULL;
            lens[i] = 0;
            if (damaged != NULL) damaged[i] = 0;
        }
        return LEDGER_ESTORE;
    }
    return LEDGER_OK;
}
