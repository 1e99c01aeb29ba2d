/* chain.h - checks of a region's audit chain read through its gateway,
 * shared by gwctl trace and gwctl audit verify: the SHA-256 links of a run
 * of entries, and a checkpoint's signature against the pinned key. */
#ifndef GATEWAY_GWCTL_CHAIN_H
#define GATEWAY_GWCTL_CHAIN_H

#include "gateway/gwctl/targets.h"

#include "carbon/v1/carbon.pb-c.h"
#include "settlement/audit.h"

#include <stddef.h>
#include <stdint.h>

/* What gwctl_walk reports back. */
typedef struct {
    char last_hash[AUDIT_HASH_HEX + 1]; /* hash of entry `to` when all verify */
    int progress;                       /* print progress on stderr */
    char *why;                          /* the first problem, one sentence */
    size_t whylen;
} gwctl_walk_t;

/* Walks target i's chain over [from, to] (from >= 1, from <= to) checking
 * every link; the entry before `from` must have hash prev (the genesis when
 * from is 1). Returns the seq of the first bad entry (why says what), 0 if
 * all verify (w->last_hash set), UINT64_MAX if the log could not be read. */
uint64_t gwctl_walk(gwctl_fed_t *f, size_t i, uint64_t from, uint64_t to, const char *prev,
                    gwctl_walk_t *w);

/* The pinned public key of region: f->keys_dir/REGION-audit-signing.pub.
 * 0, or -1 when there is none (no folder, no file, not a key). */
int gwctl_pinned_key(const gwctl_fed_t *f, const char *region, uint8_t out[32]);

/* A checkpoint message into cp (strings cut to fit; a key or signature of
 * the wrong length is left zero, so it fails verification). */
void gwctl_cp_from_pb(const Carbon__V1__Checkpoint *m, audit_checkpoint_t *cp);

#endif
