/* proofs.c - an auditor's checks of a transparency log; see proofs.h. */
#include "gateway/gwctl/proofs.h"

#include "common/carbon_assert.h"
#include "gateway/rpc/region_address.h"

#include <openssl/pem.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PIN_SUFFIX "-audit-signing.pub"

static int fail(char *why, size_t why_size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
    return -1;
}

/* Fills pin with region and the two verifiers of the key in path. */
static int pin_read(gwctl_pin_t *pin, const char *region, const char *path, char *why, size_t why_size) {
    CARBON_ASSERT(pin != NULL && region != NULL && path != NULL);
    FILE *f = fopen(path, "r");
    if (f == NULL) return fail(why, why_size, "%s: %s", path, strerror(errno));
    EVP_PKEY *key = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (key == NULL || EVP_PKEY_id(key) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(key);
        return fail(why, why_size, "%s: not an Ed25519 public key (PEM)", path);
    }
    char name[NOTE_NAME_BYTES_MAX + 1], reason[256] = "";
    snprintf(pin->region, sizeof pin->region, "%s", region);
    snprintf(name, sizeof name, GWCTL_LOG_NAME_FMT, region);
    note_status_t s = note_verifier_from_key(name, NOTE_TYPE_ED25519, key, &pin->log, reason, sizeof reason);
    snprintf(name, sizeof name, GWCTL_WITNESS_NAME_FMT, region);
    if (s == NOTE_OK)
        s = note_verifier_from_key(name, NOTE_TYPE_COSIGNATURE_V1, key, &pin->witness, reason, sizeof reason);
    EVP_PKEY_free(key);
    return s == NOTE_OK ? 0 : fail(why, why_size, "%s: %s", path, reason);
}

static int pin_cmp(const void *a, const void *b) {
    return strcmp(((const gwctl_pin_t *)a)->region, ((const gwctl_pin_t *)b)->region);
}

int gwctl_pins_load(gwctl_pins_t *p, const char *dir, char *why, size_t why_size) {
    CARBON_ASSERT(p != NULL && why != NULL && why_size > 0);
    p->n = 0;
    if (dir == NULL) return 0;
    DIR *d = opendir(dir);
    if (d == NULL) return fail(why, why_size, "%s: %s", dir, strerror(errno));
    int rc = 0;
    for (struct dirent *de = readdir(d); de != NULL && rc == 0; de = readdir(d)) {
        size_t len = strlen(de->d_name), suffix = strlen(PIN_SUFFIX);
        if (len <= suffix || strcmp(de->d_name + len - suffix, PIN_SUFFIX) != 0) continue;
        char region[CARBON_REGION_SIZE], path[4096];
        if (len - suffix > CARBON_REGION_MAX) continue;
        snprintf(region, sizeof region, "%.*s", (int)(len - suffix), de->d_name);
        if (!region_code_valid(region)) continue;
        if (p->n == GWCTL_PINS_MAX) {
            rc = fail(why, why_size, "%s: more than %d pinned keys", dir, GWCTL_PINS_MAX);
            break;
        }
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        rc = pin_read(&p->pins[p->n], region, path, why, why_size);
        if (rc == 0) p->n++;
    }
    closedir(d);
    qsort(p->pins, p->n, sizeof p->pins[0], pin_cmp);
    return rc;
}

const gwctl_pin_t *gwctl_pin_of(const gwctl_pins_t *p, const char *region) {
    CARBON_ASSERT(p != NULL && region != NULL && p->n <= GWCTL_PINS_MAX);
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->pins[i].region, region) == 0) return &p->pins[i];
    return NULL;
}

/* The verifiers note_open gets: region's log key first, then the witness
 * key of every other pinned region; owner[k] the pin of verifier k. */
static size_t checkpoint_verifiers(const gwctl_pins_t *p, const gwctl_pin_t *own,
                                   note_verifier_t v[GWCTL_PINS_MAX + 1],
                                   const gwctl_pin_t *owner[GWCTL_PINS_MAX + 1]) {
    size_t n = 0;
    owner[n] = own;
    v[n++] = own->log;
    for (size_t i = 0; i < p->n; i++) {
        if (&p->pins[i] == own) continue;
        owner[n] = &p->pins[i];
        v[n++] = p->pins[i].witness;
    }
    return n;
}

int gwctl_checkpoint_open(const gwctl_pins_t *p, const char *region, const void *note, size_t len,
                          gwctl_checkpoint_t *out, char *why, size_t why_size) {
    CARBON_ASSERT(p != NULL && region != NULL && out != NULL && why != NULL && why_size > 0);
    CARBON_ASSERT(note != NULL || len == 0);
    memset(out, 0, sizeof *out);
    const gwctl_pin_t *own = gwctl_pin_of(p, region);
    if (own == NULL) return fail(why, why_size, "no pinned key for %s (%s%s)", region, region, PIN_SUFFIX);
    if (len == 0) return fail(why, why_size, "%s has no checkpoint", region);
    note_verifier_t v[GWCTL_PINS_MAX + 1];
    const gwctl_pin_t *owner[GWCTL_PINS_MAX + 1];
    size_t vn = checkpoint_verifiers(p, own, v, owner);
    note_opened_t opened;
    char reason[256] = "";
    note_status_t s = note_open(note, len, v, vn, &opened, reason, sizeof reason);
    if (s != NOTE_OK) return fail(why, why_size, "%s's checkpoint does not verify: %s", region, reason);
    int signed_by_log = 0;
    for (size_t k = 0; k < opened.verified_n; k++) {
        size_t i = opened.verified[k].verifier;
        CARBON_ASSERT(i < vn);
        if (i == 0) {
            signed_by_log = 1;
        } else if (out->cosigners_n < GWCTL_PINS_MAX) {
            snprintf(out->cosigners[out->cosigners_n], sizeof out->cosigners[0], "%s", owner[i]->region);
            out->cosigned_s[out->cosigners_n++] = opened.verified[k].timestamp_s;
        }
    }
    if (!signed_by_log)
        return fail(why, why_size, "%s's checkpoint is not signed by %s's pinned key", region, region);
    if (checkpoint_parse(opened.text, opened.text_len, &out->body, reason, sizeof reason) != NOTE_OK)
        return fail(why, why_size, "%s's checkpoint: %s", region, reason);
    if (out->body.extensions_len > 0)
        return fail(why, why_size, "%s's checkpoint has extension lines, which this federation's have not "
                    "(docs/audit-log.md section 4)", region);
    char origin[NOTE_NAME_BYTES_MAX + 1];
    snprintf(origin, sizeof origin, GWCTL_LOG_NAME_FMT, region);
    if (strcmp(out->body.origin, origin) != 0)
        return fail(why, why_size, "%s's checkpoint names the log \"%s\", not \"%s\"", region, out->body.origin,
                    origin);
    memcpy(out->root.bytes, out->body.root_hash, MERKLE_HASH_BYTES);
    return 0;
}

int gwctl_inclusion_check(const gwctl_checkpoint_t *cp, uint64_t seq, const void *entry,
                          size_t entry_len, uint64_t leaf_index, uint64_t tree_size,
                          const ProtobufCBinaryData *hashes, size_t hashes_n, char *why,
                          size_t why_size) {
    CARBON_ASSERT(cp != NULL && why != NULL && why_size > 0);
    CARBON_ASSERT((entry != NULL || entry_len == 0) && (hashes != NULL || hashes_n == 0));
    if (seq == 0 || leaf_index != seq - 1)
        return fail(why, why_size, "the proof is of leaf %" PRIu64 ", entry %" PRIu64 " is leaf %" PRIu64,
                    leaf_index, seq, seq - 1);
    if (tree_size != cp->body.size)
        return fail(why, why_size, "the proof is to size %" PRIu64 ", the checkpoint's is %" PRIu64, tree_size,
                    cp->body.size);
    if (hashes_n > MERKLE_PROOF_MAX)
        return fail(why, why_size, "a proof of %zu hashes (at most %d)", hashes_n, MERKLE_PROOF_MAX);
    merkle_hash_t proof[MERKLE_PROOF_MAX], leaf;
    for (size_t k = 0; k < hashes_n; k++)
        if (merkle_hash_from_bytes(hashes[k].data, hashes[k].len, &proof[k]) != MERKLE_OK)
            return fail(why, why_size, "hash %zu of the proof is %zu bytes, not %d", k, hashes[k].len,
                        MERKLE_HASH_BYTES);
    merkle_status_t s = merkle_leaf_hash(entry, entry_len, &leaf);
    if (s == MERKLE_OK) s = merkle_verify_inclusion(leaf_index, tree_size, &leaf, proof, hashes_n, &cp->root);
    if (s != MERKLE_OK)
        return fail(why, why_size, "entry %" PRIu64 " is not in the checkpoint's tree of size %" PRIu64 ": %s", seq,
                    tree_size, merkle_status_text(s));
    return 0;
}

int gwctl_entry_fields_match(const Carbon__V1__AuditEntry *m, const audit_entry_t *d) {
    CARBON_ASSERT(m != NULL && d != NULL);
    if (m->seq != d->seq || m->time_unix_ms != d->time_ms || strcmp(m->event, d->event) != 0 ||
        m->n_ids != d->ids_n || m->n_blocks != d->blocks_n || m->n_detail != d->detail_n)
        return 0;
    for (size_t j = 0; j < d->ids_n; j++)
        if (strcmp(m->ids[j], d->ids[j]) != 0) return 0;
    for (size_t j = 0; j < d->blocks_n; j++) {
        const Carbon__V1__CreditBlock *b = m->blocks[j];
        const ledger_block_t *x = &d->blocks[j];
        if (b == NULL || strcmp(b->origin_region, x->origin) != 0 || strcmp(b->methodology_id, x->meth) != 0 ||
            b->vintage_year != x->vintage || b->serial_start != x->first || b->serial_end != x->last)
            return 0;
    }
    for (size_t j = 0; j < d->detail_n; j++)
        if (strlen(m->detail[j]) != d->detail_len[j] || memcmp(m->detail[j], d->detail_text[j], d->detail_len[j]) != 0)
            return 0;
    return 1;
}

merkle_status_t gwctl_tree_append(gwctl_tree_t *t, const merkle_hash_t *leaf) {
    CARBON_ASSERT(t != NULL && leaf != NULL && t->depth < MERKLE_LEVELS_MAX);
    if (t->size >= MERKLE_LEAVES_MAX) return MERKLE_ERR_TREE_SIZE;
    t->stack[t->depth++] = *leaf;
    t->size++;
    /* one merge per trailing zero bit of the new size: the stack then holds
     * one complete subtree per one bit of size, the largest first */
    for (uint64_t s = t->size; (s & 1) == 0; s >>= 1) {
        CARBON_ASSERT(t->depth >= 2);
        merkle_status_t rc = merkle_node_hash(&t->stack[t->depth - 2], &t->stack[t->depth - 1],
                                              &t->stack[t->depth - 2]);
        if (rc != MERKLE_OK) return rc;
        t->depth--;
    }
    return MERKLE_OK;
}

merkle_status_t gwctl_tree_root(const gwctl_tree_t *t, merkle_hash_t *root) {
    CARBON_ASSERT(t != NULL && root != NULL && t->depth <= MERKLE_LEVELS_MAX);
    if (t->depth == 0) return merkle_root(merkle_leaf_array_read, &(merkle_leaf_array_t){NULL, 0}, 0, root);
    /* MTH folds from the right: the smallest subtree is the right child of
     * the next larger one, and so on up to the largest (RFC 9162 §2.1.1) */
    merkle_hash_t h = t->stack[t->depth - 1];
    for (size_t k = t->depth - 1; k > 0; k--) {
        merkle_status_t rc = merkle_node_hash(&t->stack[k - 1], &h, &h);
        if (rc != MERKLE_OK) return rc;
    }
    *root = h;
    return MERKLE_OK;
}

void gwctl_hash_b64(const merkle_hash_t *h, char out[GWCTL_HASH_B64_SIZE]) {
    CARBON_ASSERT(h != NULL && out != NULL);
    int rc = base64_encode(h->bytes, MERKLE_HASH_BYTES, out, GWCTL_HASH_B64_SIZE);
    CARBON_ASSERT(rc >= 0);
    (void)rc;
}
