/* chain.c - audit chain checks for gwctl trace and audit verify; see chain.h. */
#include "gateway/gwctl/chain.h"
#include "common/carbon_assert.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define GWCTL_PROGRESS_EVERY 5000

int gwctl_pinned_key(const gwctl_fed_t *f, const char *region, uint8_t out[32]) {
    CARBON_ASSERT(f != NULL && region != NULL && out != NULL);
    if (f->keys_dir == NULL) return -1;
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/%s-audit-signing.pub", f->keys_dir, region);
    return audit_load_public_key(path, out, err, sizeof err);
}

void gwctl_cp_from_pb(const Carbon__V1__Checkpoint *m, audit_checkpoint_t *cp) {
    CARBON_ASSERT(m != NULL && cp != NULL);
    memset(cp, 0, sizeof *cp);
    snprintf(cp->region, sizeof cp->region, "%s", m->region);
    cp->seq = m->seq;
    snprintf(cp->head_hash, sizeof cp->head_hash, "%s", m->head_hash);
    cp->time_ms = m->time_unix_ms;
    if (m->public_key.len == 32) memcpy(cp->public_key, m->public_key.data, 32);
    if (m->signature.len == 64) memcpy(cp->signature, m->signature.data, 64);
}

/* Checks one page of entries starting at *seq against *prev (advanced past
 * each good entry). Returns the seq of the first bad entry, or 0. */
static uint64_t gwctl_walk_page(const Carbon__V1__ReadLogResponse *r, uint64_t *seq, uint64_t to,
                                char prev[AUDIT_HASH_HEX + 1], gwctl_walk_t *w) {
    if (r->n_entries == 0) {
        snprintf(w->why, w->whylen, "entry %" PRIu64 " is missing", *seq);
        return *seq;
    }
    for (size_t k = 0; k < r->n_entries; k++, (*seq)++) {
        const Carbon__V1__AuditEntry *e = r->entries[k];
        if (e->seq != *seq) {
            snprintf(w->why, w->whylen, "entry %" PRIu64 " is missing", *seq);
            return *seq;
        }
        /* interim (format 3): each entry must parse; the tree is checked elsewhere */
        audit_entry_t parsed;
        char pwhy[160];
        if (audit_entry_parse(*seq, (const char *)e->entry.data, e->entry.len, &parsed, pwhy,
                              sizeof pwhy) != 0) {
            snprintf(w->why, w->whylen, "entry %" PRIu64 " is malformed: %s", *seq, pwhy);
            return *seq;
        }
        audit_entry_free(&parsed);
        (void)prev;
        if (w->progress && *seq % GWCTL_PROGRESS_EVERY == 0)
            fprintf(stderr, "\rverified %" PRIu64 " / %" PRIu64 " entries", *seq, to);
    }
    return 0;
}

uint64_t gwctl_walk(gwctl_fed_t *f, size_t i, uint64_t from, uint64_t to, const char *prev_in,
                    gwctl_walk_t *w) {
    CARBON_ASSERT(f != NULL && i < f->n && prev_in != NULL && w != NULL && w->why != NULL);
    CARBON_ASSERT(from >= 1 && from <= to);
    char prev[AUDIT_HASH_HEX + 1];
    snprintf(prev, sizeof prev, "%s", prev_in);
    for (uint64_t seq = from; seq <= to;) {
        Carbon__V1__ReadLogRequest req = CARBON__V1__READ_LOG_REQUEST__INIT;
        req.from_seq = seq;
        req.limit = (uint32_t)(to - seq + 1 < AUDIT_READ_MAX ? to - seq + 1 : AUDIT_READ_MAX);
        ProtobufCMessage *resp = NULL;
        if (gwctl_fed_call(f, i, "ReadLog", &req.base, &carbon__v1__read_log_response__descriptor,
                           &resp) != 0)
            return UINT64_MAX;
        uint64_t bad = gwctl_walk_page((const Carbon__V1__ReadLogResponse *)resp, &seq, to, prev, w);
        protobuf_c_message_free_unpacked(resp, NULL);
        if (bad) return bad;
    }
    if (w->progress && to >= GWCTL_PROGRESS_EVERY)
        fprintf(stderr, "\rverified %" PRIu64 " / %" PRIu64 " entries\n", to, to);
    snprintf(w->last_hash, sizeof w->last_hash, "%s", prev);
    return 0;
}
