/* log_tree.c - the audit log's Merkle tree in the store (log_tree.h). */
#include "settlement/log_tree.h"
#include "common/carbon_assert.h"
#include "common/hex.h"

#include "settlement/audit.h"
#include "settlement/audit_stored.h"
#include "settlement/failpoint.h"
#include "settlement/ledger.h"
#include "settlement/store_keys.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_TILE_BYTES (LOG_TILE_WIDTH * MERKLE_HASH_BYTES)
#define LOG_TILE_CACHE 8 /* tiles a reader keeps (a proof reads about 2 per level) */
#define LOG_LEVELS 41    /* levels of a tree of at most MERKLE_LEAVES_MAX = 2^40 leaves */

CARBON_STATIC_ASSERT(MERKLE_LEAVES_MAX == (UINT64_C(1) << (LOG_LEVELS - 1)),
                     "LOG_LEVELS covers every level of the largest tree");

/* ---- the head ------------------------------------------------------------------- */

int log_tree_check_format(store_t *st, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && err != NULL);
    const char *argv[2] = {"EXISTS", STORE_KEY_LEGACY_AUDIT_HEAD};
    redisReply *r = NULL;
    if (store_command(st, 2, argv, NULL, &r, err, errlen) != STORE_OK) return LEDGER_ESTORE;
    int legacy = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    if (!legacy) return LEDGER_OK;
    snprintf(err, errlen,
             "the store holds an audit log written as a hash chain (key %s, before format "
             AUDIT_FORMAT "); this gateway writes a transparency log and cannot continue it: "
             "keep that store for its history and start this region on an empty store",
             STORE_KEY_LEGACY_AUDIT_HEAD);
    return LEDGER_EINVAL;
}

int log_tree_head(store_t *st, log_tree_head_t *out, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    merkle_status_t ms = merkle_root(merkle_leaf_array_read, NULL, 0, &out->root);
    CARBON_ASSERT(ms == MERKLE_OK);
    const char *argv[5] = {"HMGET", STORE_KEY_LOG_TREE, "size", "root", "time_ms"};
    redisReply *r = NULL;
    if (store_command(st, 5, argv, NULL, &r, err, errlen) != STORE_OK) return LEDGER_ESTORE;
    int rc = LEDGER_OK;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[0]->type == REDIS_REPLY_STRING) {
        const redisReply *root = r->element[1], *t = r->element[2];
        out->size = strtoull(r->element[0]->str, NULL, 10);
        out->integrated_ms = t->type == REDIS_REPLY_STRING ? strtoull(t->str, NULL, 10) : 0;
        if (out->size > MERKLE_LEAVES_MAX || root->type != REDIS_REPLY_STRING ||
            root->len != 2 * MERKLE_HASH_BYTES ||
            hex_decode(root->str, root->len, out->root.bytes, MERKLE_HASH_BYTES) != MERKLE_HASH_BYTES) {
            snprintf(err, errlen, "the audit log's tree head in the store is malformed");
            rc = LEDGER_ESTORE;
        }
    }
    freeReplyObject(r);
    return rc;
}

/* Reads the time_ms of entry seq, 0 if it is absent or malformed. */
static int log_entry_time(store_t *st, uint64_t seq, uint64_t *time_ms, char *err, size_t errlen) {
    char *bytes = NULL;
    size_t len = 0;
    *time_ms = 0;
    int rc = log_tree_entries(st, seq, 1, &bytes, &len, err, errlen);
    if (rc != LEDGER_OK || bytes == NULL) return rc;
    audit_entry_t e;
    char why[128];
    if (audit_entry_parse(seq, bytes, len, &e, why, sizeof why) == 0) {
        *time_ms = e.time_ms;
        audit_entry_free(&e);
    }
    free(bytes);
    return LEDGER_OK;
}

int log_tree_lag(store_t *st, uint64_t *sequenced, uint64_t *tree_size, uint64_t *oldest_ms,
                 char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && sequenced != NULL && tree_size != NULL && oldest_ms != NULL);
    log_tree_head_t head;
    *oldest_ms = 0;
    int rc = audit_log_size(st, sequenced, err, errlen);
    if (rc == LEDGER_OK) rc = log_tree_head(st, &head, err, errlen);
    if (rc != LEDGER_OK) return rc;
    *tree_size = head.size;
    if (*sequenced <= head.size) return LEDGER_OK;
    return log_entry_time(st, head.size + 1, oldest_ms, err, errlen);
}

int log_tree_entries(store_t *st, uint64_t from_seq, size_t n, char **out, size_t *lens,
                     char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && out != NULL && lens != NULL);
    CARBON_ASSERT(from_seq >= 1 && n >= 1 && n <= AUDIT_READ_MAX);
    int *damaged = calloc(n, sizeof *damaged);
    CARBON_ASSERT(damaged != NULL);
    int rc = audit_stored_read(st, from_seq, n, out, lens, damaged, err, errlen);
    for (size_t i = 0; rc == LEDGER_OK && i < n; i++) {
        if (!damaged[i]) continue;
        /* a packed entry that does not unpack is no leaf: integration stops
         * before it rather than hash bytes a later reader may read otherwise */
        free(out[i]);
        out[i] = NULL;
        lens[i] = 0;
    }
    free(damaged);
    return rc;
}

int log_tree_lease(store_t *st, const char *token, uint64_t ttl_ms, int *held, char *err,
                   size_t errlen) {
    CARBON_ASSERT(token != NULL && token[0] != '\0' && held != NULL);
    return store_lease_take(st, STORE_KEY_LEASE_INTEGRATOR, token, ttl_ms, held, err, errlen) ==
                   STORE_OK
               ? LEDGER_OK
               : LEDGER_ESTORE;
}

/* ---- reading nodes from the tiles ------------------------------------------------- */

typedef struct {
    unsigned level;
    uint64_t index; /* the tile's index at its level */
    size_t len;     /* bytes held */
    uint8_t bytes[LOG_TILE_BYTES];
} log_tile_t;

/* A node reader over the store's tiles (merkle_node_read_fn), with a small
 * cache, and, during integration, the levels being built in memory. */
typedef struct {
    store_t *st;
    log_tile_t *cache; /* LOG_TILE_CACHE of them, malloc'd */
    size_t cached, next;
    const struct log_build *build; /* NULL outside integration */
    char *err;
    size_t errlen;
} log_reader_t;

/* The tile (level, index) from the cache or the store; NULL on a store error. */
static const log_tile_t *log_tile(log_reader_t *r, unsigned level, uint64_t index) {
    for (size_t i = 0; i < r->cached; i++)
        if (r->cache[i].level == level && r->cache[i].index == index) return &r->cache[i];
    char field[48];
    snprintf(field, sizeof field, "%u/%" PRIu64, level, index);
    char key[sizeof STORE_KEY_LOG_TILE_PREFIX + 48];
    snprintf(key, sizeof key, "%s%s", STORE_KEY_LOG_TILE_PREFIX, field);
    const char *argv[2] = {"GET", key};
    redisReply *rep = NULL;
    if (store_command(r->st, 2, argv, NULL, &rep, r->err, r->errlen) != STORE_OK) return NULL;
    log_tile_t *t = &r->cache[r->next];
    r->next = (r->next + 1) % LOG_TILE_CACHE;
    if (r->cached < LOG_TILE_CACHE) r->cached++;
    t->level = level;
    t->index = index;
    t->len = 0;
    if (rep->type == REDIS_REPLY_STRING && rep->len <= LOG_TILE_BYTES &&
        rep->len % MERKLE_HASH_BYTES == 0) {
        memcpy(t->bytes, rep->str, rep->len);
        t->len = rep->len;
    }
    freeReplyObject(rep);
    return t;
}

static int log_reader_init(log_reader_t *r, store_t *st, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    r->st = st;
    r->err = err;
    r->errlen = errlen;
    r->cache = malloc(LOG_TILE_CACHE * sizeof *r->cache);
    CARBON_ASSERT(r->cache != NULL);
    return 0;
}

static void log_reader_free(log_reader_t *r) {
    free(r->cache);
    r->cache = NULL;
}

/* What integration builds: per level, the nodes [base, base + count). */
struct log_build {
    uint64_t base[LOG_LEVELS];
    uint64_t count[LOG_LEVELS];
    uint64_t loaded[LOG_LEVELS]; /* nodes of base's tile that were stored already */
    merkle_hash_t *nodes[LOG_LEVELS];
};

/* merkle_node_read_fn over log_reader_t. */
static int log_node_read(void *ctx, unsigned level, uint64_t index, merkle_hash_t *out) {
    log_reader_t *r = ctx;
    if (level >= LOG_LEVELS) return -1;
    const struct log_build *b = r->build;
    if (b != NULL && index >= b->base[level] && index - b->base[level] < b->count[level]) {
        *out = b->nodes[level][index - b->base[level]];
        return 0;
    }
    const log_tile_t *t = log_tile(r, level, index / LOG_TILE_WIDTH);
    if (t == NULL) return -1;
    size_t off = (size_t)(index % LOG_TILE_WIDTH) * MERKLE_HASH_BYTES;
    if (off + MERKLE_HASH_BYTES > t->len) {
        snprintf(r->err, r->errlen, "the audit log's tile %u/%" PRIu64 " lacks node %" PRIu64,
                 level, index / LOG_TILE_WIDTH, index);
        return -1;
    }
    memcpy(out->bytes, t->bytes + off, MERKLE_HASH_BYTES);
    return 0;
}

/* Maps a merkle status of a generator reading the store to a ledger code. */
static int log_status(merkle_status_t ms, const char *what, char *err, size_t errlen) {
    if (ms == MERKLE_OK) return LEDGER_OK;
    if (ms == MERKLE_ERR_READ) {
        if (err[0] == '\0') snprintf(err, errlen, "%s: the store could not be read", what);
        return LEDGER_ESTORE;
    }
    snprintf(err, errlen, "%s: %s", what, merkle_status_text(ms));
    return LEDGER_EINVAL;
}

/* Checks size against the tree's head: 1 <= size <= head size. */
static int log_size_check(store_t *st, uint64_t size, const char *what, char *err, size_t errlen) {
    log_tree_head_t head;
    int rc = log_tree_head(st, &head, err, errlen);
    if (rc != LEDGER_OK) return rc;
    if (size == 0 || size > head.size) {
        snprintf(err, errlen, "%s: size %" PRIu64 " is not in 1..%" PRIu64 " (the tree's size)", what,
                 size, head.size);
        return LEDGER_EINVAL;
    }
    return LEDGER_OK;
}

int log_tree_root_at(store_t *st, uint64_t size, merkle_hash_t *root, char *err, size_t errlen) {
    CARBON_ASSERT(root != NULL && err != NULL && errlen > 0);
    err[0] = '\0';
    int rc = log_size_check(st, size, "root", err, errlen);
    if (rc != LEDGER_OK) return rc;
    log_reader_t r;
    log_reader_init(&r, st, err, errlen);
    rc = log_status(merkle_root_from_nodes(log_node_read, &r, size, root), "root", err, errlen);
    log_reader_free(&r);
    return rc;
}

int log_tree_inclusion_proof(store_t *st, uint64_t index, uint64_t size,
                             merkle_hash_t proof[MERKLE_PROOF_MAX], size_t *proof_n, char *err,
                             size_t errlen) {
    CARBON_ASSERT(proof != NULL && proof_n != NULL && err != NULL && errlen > 0);
    err[0] = '\0';
    *proof_n = 0;
    int rc = log_size_check(st, size, "inclusion proof", err, errlen);
    if (rc != LEDGER_OK) return rc;
    log_reader_t r;
    log_reader_init(&r, st, err, errlen);
    rc = log_status(merkle_inclusion_proof_from_nodes(log_node_read, &r, index, size, proof, proof_n),
                    "inclusion proof", err, errlen);
    log_reader_free(&r);
    return rc;
}

int log_tree_consistency_proof(store_t *st, uint64_t old_size, uint64_t new_size,
                               merkle_hash_t proof[MERKLE_PROOF_MAX], size_t *proof_n, char *err,
                               size_t errlen) {
    CARBON_ASSERT(proof != NULL && proof_n != NULL && err != NULL && errlen > 0);
    err[0] = '\0';
    *proof_n = 0;
    int rc = log_size_check(st, new_size, "consistency proof", err, errlen);
    if (rc != LEDGER_OK) return rc;
    log_reader_t r;
    log_reader_init(&r, st, err, errlen);
    rc = log_status(merkle_consistency_proof_from_nodes(log_node_read, &r, old_size, new_size, proof,
                                                        proof_n),
                    "consistency proof", err, errlen);
    log_reader_free(&r);
    return rc;
}

/* ---- integration ---------------------------------------------------------------- */

/* Rounds of log_tiles_migrate (128 tiles each) one conversion may take:
 * 128 M tiles, a log of 16 G entries. */
#define LOG_MIGRATE_ROUNDS_MAX 1000000u

static int log_tiles_check(store_t *st, char *err, size_t errlen);

int log_tree_migrate_tiles(store_t *st, uint64_t *converted, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && converted != NULL && err != NULL && errlen > 0);
    *converted = 0;
    int script = store_script_index("log_tiles_migrate");
    CARBON_ASSERT(script >= 0);
    char cursor[32] = "0";
    for (uint32_t round = 0; round < LOG_MIGRATE_ROUNDS_MAX; round++) {
        const char *argv[1] = {cursor};
        size_t argvlen[1] = {strlen(cursor)};
        redisReply *r = NULL;
        if (store_eval(st, script, 0, 1, argv, argvlen, &r, err, errlen) != STORE_OK) return LEDGER_ESTORE;
        int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                 r->element[0]->type == REDIS_REPLY_STRING && r->element[0]->len < sizeof cursor &&
                 r->element[1]->type == REDIS_REPLY_INTEGER;
        if (ok) {
            snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
            *converted += (uint64_t)(r->element[1]->integer > 0 ? r->element[1]->integer : 0);
        }
        freeReplyObject(r);
        if (!ok) {
            snprintf(err, errlen, "log_tiles_migrate: unexpected reply");
            return LEDGER_ESTORE;
        }
        if (strcmp(cursor, "0") == 0 && log_tiles_check(st, err, errlen) == LEDGER_OK) return LEDGER_OK;
    }
    snprintf(err, errlen, "the tiles' conversion did not end in %u rounds", LOG_MIGRATE_ROUNDS_MAX);
    return LEDGER_ESTORE;
}

static void log_build_free(struct log_build *b) {
    for (unsigned l = 0; l < LOG_LEVELS; l++) free(b->nodes[l]);
}

/* Starts level l of b: room for its nodes up to new_count, and the nodes of
 * the tile holding old_count already stored (the first new nodes of the
 * level above pair with them). */
static int log_build_load(log_reader_t *r, struct log_build *b, unsigned l, uint64_t old_count,
                          uint64_t new_count) {
    CARBON_ASSERT(l < LOG_LEVELS && new_count > old_count);
    b->base[l] = old_count / LOG_TILE_WIDTH * LOG_TILE_WIDTH;
    uint64_t have = old_count - b->base[l];
    b->nodes[l] = malloc((size_t)(new_count - b->base[l]) * sizeof *b->nodes[l]);
    CARBON_ASSERT(b->nodes[l] != NULL);
    if (have > 0) {
        const log_tile_t *t = log_tile(r, l, b->base[l] / LOG_TILE_WIDTH);
        if (t == NULL) return LEDGER_ESTORE;
        if (t->len < have * MERKLE_HASH_BYTES) {
            snprintf(r->err, r->errlen, "the audit log's tile %u/%" PRIu64 " holds %zu nodes, %" PRIu64
                     " expected", l, b->base[l] / LOG_TILE_WIDTH, t->len / MERKLE_HASH_BYTES, have);
            return LEDGER_ESTORE;
        }
        memcpy(b->nodes[l], t->bytes, (size_t)have * MERKLE_HASH_BYTES);
    }
    b->count[l] = b->loaded[l] = have;
    return LEDGER_OK;
}

/* Hashes the new leaves and every node they complete, level by level. */
static int log_build_levels(log_reader_t *r, struct log_build *b, uint64_t old_size,
                            uint64_t new_size, char *const *entries, const size_t *lens) {
    for (unsigned l = 0; l < LOG_LEVELS && (new_size >> l) > (old_size >> l); l++) {
        uint64_t old_c = old_size >> l, new_c = new_size >> l;
        int rc = log_build_load(r, b, l, old_c, new_c);
        if (rc != LEDGER_OK) return rc;
        for (uint64_t j = old_c; j < new_c; j++) {
            merkle_hash_t *out = &b->nodes[l][b->count[l]];
            merkle_status_t ms;
            if (l == 0) {
                ms = merkle_leaf_hash(entries[j - old_c], lens[j - old_c], out);
            } else {
                CARBON_ASSERT(2 * j >= b->base[l - 1] && 2 * j + 1 < b->base[l - 1] + b->count[l - 1]);
                const merkle_hash_t *below = b->nodes[l - 1] + (2 * j - b->base[l - 1]);
                ms = merkle_node_hash(&below[0], &below[1], out);
            }
            if (ms != MERKLE_OK) return log_status(ms, "integration", r->err, r->errlen);
            b->count[l]++;
        }
    }
    return LEDGER_OK;
}

/* The most tiles one integration writes: per level, those its new nodes
 * span, at most LOG_INTEGRATE_BATCH_MAX / 2^l / 256 + 2. */
#define LOG_ADVANCE_TILES_MAX (LOG_LEVELS * (LOG_INTEGRATE_BATCH_MAX / LOG_TILE_WIDTH + 2))

/* The log_advance arguments: head, then for each tile the integration adds
 * nodes to, its name, the bytes it holds already and the new nodes' bytes.
 * argv strings point into b and into the caller's buffers (fields, offsets:
 * one per tile); argc is set. */
typedef struct {
    const char **argv;
    size_t *argvlen;
    char (*fields)[48];
    char (*offsets)[24];
    int argc;
} log_args_t;

static void log_args_tiles(log_args_t *a, const struct log_build *b) {
    for (unsigned l = 0; l < LOG_LEVELS; l++) {
        if (b->count[l] == b->loaded[l]) continue;
        uint64_t end = b->base[l] + b->count[l];
        uint64_t from = b->base[l] + b->loaded[l]; /* the first node not stored yet */
        for (uint64_t t = from / LOG_TILE_WIDTH; t * LOG_TILE_WIDTH < end; t++) {
            uint64_t first = t * LOG_TILE_WIDTH > from ? t * LOG_TILE_WIDTH : from;
            uint64_t last = (t + 1) * LOG_TILE_WIDTH < end ? (t + 1) * LOG_TILE_WIDTH : end;
            size_t k = (size_t)(a->argc - 5) / 3;
            CARBON_ASSERT(k < LOG_ADVANCE_TILES_MAX && first < last);
            snprintf(a->fields[k], sizeof a->fields[0], "%u/%" PRIu64, l, t);
            snprintf(a->offsets[k], sizeof a->offsets[0], "%" PRIu64,
                     (first - t * LOG_TILE_WIDTH) * MERKLE_HASH_BYTES);
            a->argv[a->argc] = a->fields[k];
            a->argvlen[a->argc++] = strlen(a->fields[k]);
            a->argv[a->argc] = a->offsets[k];
            a->argvlen[a->argc++] = strlen(a->offsets[k]);
            a->argv[a->argc] = (const char *)b->nodes[l][first - b->base[l]].bytes;
            a->argvlen[a->argc++] = (size_t)(last - first) * MERKLE_HASH_BYTES;
        }
    }
}

/* The refusal to integrate beside tiles in the hash of an older gateway. */
static int log_tiles_unmigrated(char *err, size_t errlen) {
    snprintf(err, errlen, "the store's tiles are still in %s (a gateway of an older version "
             "wrote them): restart this gateway to convert them", STORE_KEY_LOG_TILES_LEGACY);
    return LEDGER_EINVAL;
}

/* LEDGER_OK if the store's tiles are strings, LEDGER_EINVAL (with what to
 * do) while the hash of an older gateway holds them, or LEDGER_ESTORE. */
static int log_tiles_check(store_t *st, char *err, size_t errlen) {
    const char *argv[2] = {"EXISTS", STORE_KEY_LOG_TILES_LEGACY};
    redisReply *r = NULL;
    if (store_command(st, 2, argv, NULL, &r, err, errlen) != STORE_OK) return LEDGER_ESTORE;
    int legacy = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    return legacy ? log_tiles_unmigrated(err, errlen) : LEDGER_OK;
}

/* Integration could not read a tile it needs (rc, err): while the hash of
 * an older gateway still holds the tiles, that is why, and the answer is
 * LEDGER_EINVAL with what to do; otherwise rc and err as they were. Checked
 * only on this failure, not on every pass: log_advance refuses to write
 * beside that hash in any case. */
static int log_build_failed(store_t *st, int rc, char *err, size_t errlen) {
    char why[256];
    if (log_tiles_check(st, why, sizeof why) != LEDGER_EINVAL) return rc;
    snprintf(err, errlen, "%s", why);
    return LEDGER_EINVAL;
}

/* Runs log_advance with the new head and tiles. *applied is 1 if it did. */
static int log_advance(store_t *st, const char *token, uint64_t old_size, uint64_t new_size,
                       const merkle_hash_t *root, uint64_t now_ms, const struct log_build *b,
                       int *applied, char *err, size_t errlen) {
    int script = store_script_index("log_advance");
    CARBON_ASSERT(script >= 0);
    char old_s[24], new_s[24], now_s[24], root_hex[2 * MERKLE_HASH_BYTES + 1];
    snprintf(old_s, sizeof old_s, "%" PRIu64, old_size);
    snprintf(new_s, sizeof new_s, "%" PRIu64, new_size);
    snprintf(now_s, sizeof now_s, "%" PRIu64, now_ms);
    hex_encode(root->bytes, MERKLE_HASH_BYTES, root_hex, sizeof root_hex);
    log_args_t a = {calloc(5 + 3 * LOG_ADVANCE_TILES_MAX, sizeof(char *)),
                    calloc(5 + 3 * LOG_ADVANCE_TILES_MAX, sizeof(size_t)),
                    calloc(LOG_ADVANCE_TILES_MAX, sizeof a.fields[0]),
                    calloc(LOG_ADVANCE_TILES_MAX, sizeof a.offsets[0]), 0};
    CARBON_ASSERT(a.argv != NULL && a.argvlen != NULL && a.fields != NULL && a.offsets != NULL);
    const char *head[5] = {token, old_s, new_s, root_hex, now_s};
    for (; a.argc < 5; a.argc++) {
        a.argv[a.argc] = head[a.argc];
        a.argvlen[a.argc] = strlen(head[a.argc]);
    }
    log_args_tiles(&a, b);
    CARBON_ASSERT(a.argc <= 5 + 3 * LOG_ADVANCE_TILES_MAX);
    redisReply *r = NULL;
    int rc = store_eval(st, script, 0, a.argc, a.argv, a.argvlen, &r, err, errlen);
    free(a.argv);
    free(a.argvlen);
    free(a.fields);
    free(a.offsets);
    if (rc != STORE_OK) return LEDGER_ESTORE;
    const char *outcome = r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
                                  r->element[0]->type == REDIS_REPLY_STRING
                              ? r->element[0]->str
                              : "";
    *applied = strcmp(outcome, "ok") == 0;
    int unmigrated = strcmp(outcome, "tiles_unmigrated") == 0;
    freeReplyObject(r);
    return unmigrated ? log_tiles_unmigrated(err, errlen) : LEDGER_OK;
}

/* Reads the entries (old_size, old_size + n] into entries/lens; *got is how
 * many exist in a row from the first (a missing one ends the run). */
static int log_integrate_read(store_t *st, uint64_t old_size, size_t n, char **entries, size_t *lens,
                              size_t *got, char *err, size_t errlen) {
    int rc = log_tree_entries(st, old_size + 1, n, entries, lens, err, errlen);
    if (rc != LEDGER_OK) return rc;
    *got = 0;
    while (*got < n && entries[*got] != NULL) (*got)++;
    if (*got < n)
        snprintf(err, errlen,
                 "the audit log has no entry %" PRIu64 " below its size, or it is packed and does not unpack",
                 old_size + *got + 1);
    return LEDGER_OK;
}

int log_tree_integrate(store_t *st, const char *token, uint64_t now_ms, uint64_t *advanced,
                       char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && token != NULL && advanced != NULL && err != NULL && errlen > 0);
    *advanced = 0;
    err[0] = '\0';
    log_tree_head_t head;
    uint64_t sequenced = 0;
    int rc = log_tree_head(st, &head, err, errlen);
    if (rc == LEDGER_OK) rc = audit_log_size(st, &sequenced, err, errlen);
    if (rc == LEDGER_OK && sequenced < head.size) {
        snprintf(err, errlen, "the tree (size %" PRIu64 ") is larger than the log (%" PRIu64 " entries): "
                 "the store was changed", head.size, sequenced);
        return LEDGER_EINVAL;
    }
    if (rc != LEDGER_OK || sequenced <= head.size) return rc;
    uint64_t want = sequenced - head.size;
    size_t n = want < LOG_INTEGRATE_BATCH_MAX ? (size_t)want : LOG_INTEGRATE_BATCH_MAX;
    if (head.size + n > MERKLE_LEAVES_MAX) {
        snprintf(err, errlen, "the audit log is full (%" PRIu64 " entries)", head.size);
        return LEDGER_EINVAL;
    }
    char **entries = calloc(n, sizeof *entries);
    size_t *lens = calloc(n, sizeof *lens), got = 0;
    CARBON_ASSERT(entries != NULL && lens != NULL);
    rc = log_integrate_read(st, head.size, n, entries, lens, &got, err, errlen);
    struct log_build *b = calloc(1, sizeof *b);
    CARBON_ASSERT(b != NULL);
    log_reader_t r;
    log_reader_init(&r, st, err, errlen);
    if (rc == LEDGER_OK && got > 0) {
        char missing[160];
        snprintf(missing, sizeof missing, "%s", err); /* a hole found while reading */
        err[0] = '\0';
        rc = log_build_levels(&r, b, head.size, head.size + got, entries, lens);
        if (rc != LEDGER_OK) rc = log_build_failed(st, rc, err, errlen);
        merkle_hash_t root;
        r.build = b;
        if (rc == LEDGER_OK)
            rc = log_status(merkle_root_from_nodes(log_node_read, &r, head.size + got, &root),
                            "integration", err, errlen);
        int applied = 0;
        if (rc == LEDGER_OK) failpoint_hit("integrate"); /* the fault tests' kill -9 */
        if (rc == LEDGER_OK)
            rc = log_advance(st, token, head.size, head.size + got, &root, now_ms, b, &applied, err,
                             errlen);
        if (rc == LEDGER_OK && applied) *advanced = got;
        if (rc == LEDGER_OK && missing[0] != '\0') snprintf(err, errlen, "%s", missing);
    }
    log_reader_free(&r);
    log_build_free(b);
    free(b);
    for (size_t i = 0; i < n; i++) free(entries[i]);
    free(entries);
    free(lens);
    return rc;
}

/* ---- a root recomputed from a trusted checkpoint ---------------------------------- */

/* The compact range of a prefix of the tree: the roots of its perfect
 * subtrees, largest (leftmost) first, one per 1 bit of its size. */
typedef struct {
    uint64_t size;
    size_t n;
    merkle_hash_t node[LOG_LEVELS];
} log_range_t;

/* Appends a leaf hash, merging the equal-sized subtrees it completes. */
static void log_range_append(log_range_t *r, const merkle_hash_t *leaf) {
    CARBON_ASSERT(r->n < LOG_LEVELS && r->size < MERKLE_LEAVES_MAX);
    merkle_hash_t h = *leaf;
    for (uint64_t s = r->size; s & 1; s >>= 1) {
        CARBON_ASSERT(r->n > 0);
        merkle_status_t ms = merkle_node_hash(&r->node[--r->n], &h, &h);
        CARBON_ASSERT(ms == MERKLE_OK);
    }
    r->node[r->n++] = h;
    r->size++;
}

/* The root of the range: its subtrees folded from the right (empty: SHA-256("")). */
static void log_range_root(const log_range_t *r, merkle_hash_t *root) {
    if (r->n == 0) {
        merkle_status_t ms = merkle_root(merkle_leaf_array_read, NULL, 0, root);
        CARBON_ASSERT(ms == MERKLE_OK);
        return;
    }
    *root = r->node[r->n - 1];
    for (size_t i = r->n - 1; i-- > 0;) {
        merkle_status_t ms = merkle_node_hash(&r->node[i], root, root);
        CARBON_ASSERT(ms == MERKLE_OK);
    }
}

/* Loads the stored frontier of size into r and checks it gives *want. */
static int log_range_load(store_t *st, uint64_t size, const merkle_hash_t *want, log_range_t *r,
                          char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    log_reader_t rd;
    log_reader_init(&rd, st, err, errlen);
    int rc = LEDGER_OK;
    for (int b = LOG_LEVELS - 1; b >= 0 && rc == LEDGER_OK; b--) {
        if (!((size >> b) & 1)) continue;
        if (log_node_read(&rd, (unsigned)b, (size >> b) - 1, &r->node[r->n++]) != 0) rc = LEDGER_ESTORE;
    }
    log_reader_free(&rd);
    if (rc != LEDGER_OK) {
        if (err[0] == '\0') snprintf(err, errlen, "the tree's nodes at size %" PRIu64 " could not be read", size);
        return rc;
    }
    r->size = size;
    merkle_hash_t got;
    log_range_root(r, &got);
    if (size > 0 && !merkle_hash_equal(&got, want)) {
        snprintf(err, errlen, "the stored tree's nodes at size %" PRIu64 " do not give the root this "
                 "region signed at that size: the tree in the store was changed", size);
        return LEDGER_CONFLICT;
    }
    return LEDGER_OK;
}

int log_tree_root_verified(store_t *st, uint64_t old_size, const merkle_hash_t *old_root,
                           uint64_t new_size, merkle_hash_t *root, char *err, size_t errlen) {
    CARBON_ASSERT(st != NULL && root != NULL && err != NULL && errlen > 0);
    CARBON_ASSERT(old_root != NULL || old_size == 0);
    CARBON_ASSERT(old_size <= new_size && new_size - old_size <= LOG_VERIFY_GROWTH_MAX &&
                  new_size <= MERKLE_LEAVES_MAX);
    err[0] = '\0';
    log_range_t *r = malloc(sizeof *r);
    CARBON_ASSERT(r != NULL);
    int rc = log_range_load(st, old_size, old_root, r, err, errlen);
    for (uint64_t from = old_size + 1; rc == LEDGER_OK && from <= new_size; from += AUDIT_READ_MAX) {
        size_t n = new_size - from + 1 < AUDIT_READ_MAX ? (size_t)(new_size - from + 1) : AUDIT_READ_MAX;
        char **bytes = calloc(n, sizeof *bytes);
        size_t *lens = calloc(n, sizeof *lens);
        CARBON_ASSERT(bytes != NULL && lens != NULL);
        rc = log_tree_entries(st, from, n, bytes, lens, err, errlen);
        for (size_t i = 0; i < n && rc == LEDGER_OK; i++) {
            merkle_hash_t leaf;
            if (bytes[i] == NULL) {
                snprintf(err, errlen, "the audit log has no entry %" PRIu64, from + i);
                rc = LEDGER_EINVAL;
            } else if (merkle_leaf_hash(bytes[i], lens[i], &leaf) != MERKLE_OK) {
                snprintf(err, errlen, "entry %" PRIu64 " is longer than an entry may be", from + i);
                rc = LEDGER_EINVAL;
            } else {
                log_range_append(r, &leaf);
            }
        }
        for (size_t i = 0; i < n; i++) free(bytes[i]);
        free(bytes);
        free(lens);
    }
    if (rc == LEDGER_OK) log_range_root(r, root);
    free(r);
    return rc;
}
