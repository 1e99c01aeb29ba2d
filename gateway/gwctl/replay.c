/* replay.c - gwctl audit verify's replay (replay.h): read the store's state
 * page by page until every page names the same log size, read the log up to
 * that size, replay it, compare. */
#include "gateway/gwctl/replay.h"
#include "gateway/gwctl/gwctl.h"
#include "common/carbon_assert.h"

#include "carbon/v1/carbon.pb-c.h"
#include "settlement/replay.h"
#include "settlement/state_read.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GWCTL_REPLAY_PAGE 1000 /* entries or records asked per call */

/* A wire block into b; -1 if a field does not fit. */
static int gwctl_replay_block(const Carbon__V1__CreditBlock *m, ledger_block_t *b) {
    memset(b, 0, sizeof *b);
    if (strlen(m->origin_region) >= sizeof b->origin || strlen(m->methodology_id) >= sizeof b->meth) return -1;
    snprintf(b->origin, sizeof b->origin, "%s", m->origin_region);
    snprintf(b->meth, sizeof b->meth, "%s", m->methodology_id);
    b->vintage = m->vintage_year;
    b->first = m->serial_start;
    b->last = m->serial_end;
    return 0;
}

/* Adds one ReadState record to r's store side. */
static void gwctl_replay_record(replay_t *r, const Carbon__V1__StateRecord *m) {
    ledger_block_t *blocks = calloc(m->n_blocks ? m->n_blocks : 1, sizeof *blocks);
    if (blocks == NULL) abort();
    size_t n = 0;
    for (size_t i = 0; i < m->n_blocks; i++)
        if (gwctl_replay_block(m->blocks[i], &blocks[n]) == 0) n++;
    if (n != m->n_blocks) /* a finding of the replay: */
        replay_store_record(r, "malformed", m->owner, NULL, 0, (const char *const *)&m->kind, 1);
    else
        replay_store_record(r, m->kind, m->owner, blocks, n, (const char *const *)m->detail, m->n_detail);
    free(blocks);
}

/* Reads every page of the state into r's store side. 0 with *log_size the
 * size all pages named, 1 if pages named different sizes (the log moved:
 * read again), or the exit code of a failed call. */
static int gwctl_replay_state(gwctl_fed_t *f, size_t home, replay_t *r, uint64_t *log_size) {
    char cursor[STATE_CURSOR_MAX] = "";
    int first = 1, moved = 0;
    for (;;) {
        Carbon__V1__ReadStateRequest req = CARBON__V1__READ_STATE_REQUEST__INIT;
        req.cursor = cursor;
        req.limit = GWCTL_REPLAY_PAGE;
        ProtobufCMessage *resp = NULL;
        int rc = gwctl_fed_call(f, home, "ReadState", &req.base, &carbon__v1__read_state_response__descriptor, &resp);
        if (rc != 0) return rc;
        const Carbon__V1__ReadStateResponse *p = (const Carbon__V1__ReadStateResponse *)resp;
        if (!first && p->log_size != *log_size) moved = 1;
        *log_size = p->log_size;
        first = 0;
        for (size_t i = 0; i < p->n_records; i++) gwctl_replay_record(r, p->records[i]);
        int done = p->next_cursor[0] == '\0' || strlen(p->next_cursor) >= sizeof cursor;
        snprintf(cursor, sizeof cursor, "%s", p->next_cursor);
        protobuf_c_message_free_unpacked(resp, NULL);
        if (done) return moved;
    }
}

/* Parses a wire entry (its exact bytes, the Merkle leaf's data) into e.
 * 0, or -1 with why. */
static int gwctl_replay_parse(const Carbon__V1__AuditEntry *m, audit_entry_t *e, char *why, size_t whylen) {
    memset(e, 0, sizeof *e);
    return audit_entry_parse(m->seq, (const char *)m->entry.data, m->entry.len, e, why, whylen);
}

/* One page of ReadLog's entries into sink, from entry *next on (at most
 * log_size): a gap or an entry that does not parse is sink->unreadable. */
static void gwctl_log_page(const Carbon__V1__ReadLogResponse *p, uint64_t *next, uint64_t log_size,
                           const gwctl_log_sink_t *sink) {
    for (size_t i = 0; i < p->n_entries && *next <= log_size; i++) {
        uint64_t seq = p->entries[i]->seq;
        if (seq < *next) continue; /* not asked: ignored */
        for (; *next < seq && *next <= log_size; (*next)++) sink->unreadable(sink->ctx, *next, "missing from the log");
        if (*next > log_size) break;
        audit_entry_t e;
        char why[200] = "", said[240];
        if (gwctl_replay_parse(p->entries[i], &e, why, sizeof why) != 0) {
            snprintf(said, sizeof said, "does not parse: %s", why);
            sink->unreadable(sink->ctx, *next, said);
        } else {
            sink->entry(sink->ctx, &e);
            audit_entry_free(&e);
        }
        (*next)++;
    }
}

int gwctl_log_read(gwctl_fed_t *f, size_t home, uint64_t *log_size, const gwctl_log_sink_t *sink) {
    CARBON_ASSERT(f != NULL && home < f->n && log_size != NULL && sink != NULL);
    CARBON_ASSERT(sink->entry != NULL && sink->unreadable != NULL);
    uint64_t next = 1;
    int to_head = *log_size == 0;
    while (to_head || next <= *log_size) {
        Carbon__V1__ReadLogRequest req = CARBON__V1__READ_LOG_REQUEST__INIT;
        req.from_seq = next;
        uint64_t left = to_head ? GWCTL_REPLAY_PAGE : *log_size - next + 1;
        req.limit = left < GWCTL_REPLAY_PAGE ? (uint32_t)left : GWCTL_REPLAY_PAGE;
        ProtobufCMessage *resp = NULL;
        int rc = gwctl_fed_call(f, home, "ReadLog", &req.base, &carbon__v1__read_log_response__descriptor, &resp);
        if (rc != 0) return rc;
        const Carbon__V1__ReadLogResponse *p = (const Carbon__V1__ReadLogResponse *)resp;
        if (to_head) *log_size = p->head_seq;
        to_head = 0;
        gwctl_log_page(p, &next, *log_size, sink);
        size_t got = p->n_entries;
        protobuf_c_message_free_unpacked(resp, NULL);
        if (got == 0)
            for (; next <= *log_size; next++) sink->unreadable(sink->ctx, next, "missing from the log");
    }
    return 0;
}

static void gwctl_replay_sink_entry(void *ctx, const audit_entry_t *e) { replay_entry(ctx, e); }

static void gwctl_replay_sink_unreadable(void *ctx, uint64_t seq, const char *why) {
    replay_entry_unreadable(ctx, seq, why);
}

/* Replays entries 1..log_size into r. 0, or the exit code of a failed call. */
static int gwctl_replay_log(gwctl_fed_t *f, size_t home, replay_t *r, uint64_t log_size) {
    if (log_size == 0) return 0;
    gwctl_log_sink_t sink = {gwctl_replay_sink_entry, gwctl_replay_sink_unreadable, r};
    return gwctl_log_read(f, home, &log_size, &sink);
}

typedef struct {
    json_t *list; /* NULL: print */
} gwctl_replay_out_t;

static void gwctl_replay_emit(void *ctx, const replay_diff_t *d) {
    gwctl_replay_out_t *o = ctx;
    if (o->list == NULL) {
        char line[sizeof d->text];
        snprintf(line, sizeof line, "%s", d->text);
        gwctl_text_clean(line);
        printf("  %s\n", line);
        return;
    }
    json_t *j = json_pack("{s:s, s:o, s:o, s:o}", "kind", d->kind, "owner", gwctl_json_text(d->owner), "what",
                          gwctl_json_text(d->what), "block", gwctl_json_text(d->block));
    json_object_set_new(j, "log", gwctl_json_text(d->log));
    json_object_set_new(j, "store", gwctl_json_text(d->store));
    if (d->seq > 0) json_object_set_new(j, "seq", gwctl_json_u64(d->seq));
    json_object_set_new(j, "text", gwctl_json_text(d->text));
    json_array_append_new(o->list, j);
}

/* Reads the state (again while the log moves) and the log into a new replay;
 * NULL after marking the target unread. *log_size: the size replayed. */
static replay_t *gwctl_replay_read(gwctl_fed_t *f, size_t home, uint64_t *log_size) {
    for (int attempt = 0; attempt < GWCTL_REPLAY_ATTEMPTS; attempt++) {
        replay_t *r = replay_new();
        int rc = gwctl_replay_state(f, home, r, log_size);
        if (rc == 0) rc = gwctl_replay_log(f, home, r, *log_size);
        if (rc == 0) return r;
        replay_free(r);
        if (rc != 1) {
            gwctl_fed_mark_unread(f, home, rc);
            return NULL;
        }
    }
    fprintf(stderr, "gwctl audit verify: the log kept growing while the state was read (%d times): "
            "not replayed\n", GWCTL_REPLAY_ATTEMPTS);
    gwctl_fed_mark_unread(f, home, GWCTL_EXIT_UNREACHABLE);
    return NULL;
}

long gwctl_replay_verify(gwctl_fed_t *f, size_t home, const char *region, json_t *json) {
    CARBON_ASSERT(f != NULL && home < f->n && region != NULL);
    CARBON_ASSERT(json == NULL || json_is_object(json));
    uint64_t log_size = 0;
    replay_t *r = gwctl_replay_read(f, home, &log_size);
    if (r == NULL) return -1;
    gwctl_replay_out_t o = {.list = json ? json_array() : NULL};
    if (json == NULL) printf("%s: replay of the log against the store:\n", region);
    size_t n = replay_compare(r, gwctl_replay_emit, &o);
    if (json != NULL) {
        json_t *j = json_pack("{s:o, s:I, s:I, s:o, s:o}", "entries", gwctl_json_u64(log_size), "log_records",
                              (json_int_t)replay_records(r, 0), "store_records", (json_int_t)replay_records(r, 1),
                              "differences_n", json_integer((json_int_t)n), "differences", o.list);
        json_object_set_new(json, "replay", j);
    } else if (n == 0) {
        printf("%s: %" PRIu64 " entries replayed: the store holds exactly the ledger they make (%zu records)\n",
               region, log_size, replay_records(r, 1));
    } else {
        printf("%s: REPLAY FOUND %zu DIFFERENCES between the log (%" PRIu64 " entries) and the store\n", region, n,
               log_size);
    }
    replay_free(r);
    return (long)n;
}
