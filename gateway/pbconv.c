/* pbconv.c - protobuf <-> settlement structs (pbconv.h). */
#include "gateway/pbconv.h"
#include "common/carbon_assert.h"

#include "gateway/config.h"
#include "gateway/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Carbon__V1__CreditBlock *pbconv_block(arena_t *a, const ledger_block_t *b) {
    CARBON_ASSERT(a != NULL && b != NULL);
    CARBON_ASSERT(memchr(b->origin, '\0', sizeof b->origin) != NULL &&
                  memchr(b->meth, '\0', sizeof b->meth) != NULL);
    Carbon__V1__CreditBlock *m = arena_alloc(a, sizeof *m);
    CARBON_ASSERT(m != NULL);
    carbon__v1__credit_block__init(m);
    m->origin_region = arena_strdup(a, b->origin);
    m->methodology_id = arena_strdup(a, b->meth);
    m->vintage_year = b->vintage;
    m->serial_start = b->first;
    m->serial_end = b->last;
    return m;
}

Carbon__V1__Amount *pbconv_amount(arena_t *a, uint64_t grams, const catalog_t *c) {
    CARBON_ASSERT(a != NULL);
    Carbon__V1__Amount *m = arena_alloc(a, sizeof *m);
    CARBON_ASSERT(m != NULL);
    carbon__v1__amount__init(m);
    uint64_t unit_g = c != NULL ? c->display_unit_g : 1;
    CARBON_ASSERT(unit_g >= 1); /* a catalog's display unit is at least a gram */
    m->grams = grams;
    m->unit_g = unit_g;
    m->units = grams / unit_g;
    m->remainder_g = grams % unit_g;
    m->unit = arena_strdup(a, c != NULL ? c->display_unit : "g");
    return m;
}

Carbon__V1__Leg *pbconv_leg(arena_t *a, const ledger_leg_t *leg, const char *own_region) {
    CARBON_ASSERT(a != NULL && leg != NULL && own_region != NULL);
    CARBON_ASSERT(leg->blocks_n <= LEDGER_LEG_BLOCKS_MAX && (leg->blocks != NULL || leg->blocks_n == 0));
    Carbon__V1__Leg *m = arena_alloc(a, sizeof *m);
    carbon__v1__leg__init(m);
    m->transfer_id = arena_strdup(a, leg->tid);
    m->from_account = arena_printf(a, "%s/%s", own_region, leg->from);
    m->to_account = arena_strdup(a, leg->to);
    m->n_blocks = leg->blocks_n;
    m->blocks = arena_alloc(a, leg->blocks_n * sizeof *m->blocks);
    CARBON_ASSERT(m->blocks != NULL);
    for (size_t i = 0; i < leg->blocks_n; i++) m->blocks[i] = pbconv_block(a, &leg->blocks[i]);
    m->credited_g = leg->credited_g;
    m->discount_g = leg->discount_g;
    m->destination_methodology_id = arena_strdup(a, leg->dest_meth);
    m->source_catalog_digest = arena_strdup(a, leg->src_digest);
    m->destination_catalog_digest = arena_strdup(a, leg->dst_digest);
    m->expiry_unix_ms = leg->expiry_ms;
    return m;
}

int pbconv_blocks_in(Carbon__V1__CreditBlock *const *in, size_t n, ledger_block_t **out,
                     char *err, size_t errlen) {
    CARBON_ASSERT((in != NULL || n == 0) && out != NULL && err != NULL && errlen > 0);
    *out = NULL;
    if (n == 0 || n > LEDGER_LEG_BLOCKS_MAX) {
        snprintf(err, errlen, "a leg carries 1..%d blocks, not %zu", LEDGER_LEG_BLOCKS_MAX, n);
        return -1;
    }
    CARBON_ASSERT(in != NULL && n >= 1 && n <= LEDGER_LEG_BLOCKS_MAX); /* before filling blocks[] */
    ledger_block_t *blocks = calloc(n, sizeof *blocks);
    if (blocks == NULL) abort();
    for (size_t i = 0; i < n; i++) {
        const Carbon__V1__CreditBlock *b = in[i];
        if (!config_region_valid(b->origin_region) || strlen(b->methodology_id) == 0 ||
            strlen(b->methodology_id) > LEDGER_METH_MAX || strchr(b->methodology_id, '|') ||
            strchr(b->methodology_id, ',') || !validate_vintage(b->vintage_year, 0) ||
            b->serial_start == 0 ||
            b->serial_end < b->serial_start || b->serial_end > LEDGER_SERIAL_MAX) {
            snprintf(err, errlen, "block %zu is malformed", i);
            free(blocks);
            return -1;
        }
        snprintf(blocks[i].origin, sizeof blocks[i].origin, "%s", b->origin_region);
        snprintf(blocks[i].meth, sizeof blocks[i].meth, "%s", b->methodology_id);
        blocks[i].vintage = b->vintage_year;
        blocks[i].first = b->serial_start;
        blocks[i].last = b->serial_end;
    }
    CARBON_ASSERT(blocks[0].first >= 1 && blocks[n - 1].last <= LEDGER_SERIAL_MAX);
    *out = blocks;
    return 0;
}

int pbconv_leg_in(const Carbon__V1__Leg *in, const char *own_region, ledger_leg_t *out, char *err,
                  size_t errlen) {
    CARBON_ASSERT(in != NULL && own_region != NULL && out != NULL && err != NULL && errlen > 0);
    memset(out, 0, sizeof *out);
    if (!validate_request_id(in->transfer_id)) {
        snprintf(err, errlen, "transfer_id must be 32 lowercase hex digits");
        return -1;
    }
    char region[CARBON_REGION_SIZE], id[VALIDATE_ACCOUNT_MAX + 1];
    if (!validate_account_name(in->from_account, region, id)) {
        snprintf(err, errlen, "leg %s: from_account '%.80s' is not REGION/ID", in->transfer_id,
                 in->from_account);
        return -1;
    }
    if (!validate_account_name(in->to_account, region, id) || strcmp(region, own_region) != 0) {
        snprintf(err, errlen, "leg %s: to_account '%.80s' is not an account of %s",
                 in->transfer_id, in->to_account, own_region);
        return -1;
    }
    if (strlen(in->destination_methodology_id) > LEDGER_METH_MAX ||
        !validate_hex(in->source_catalog_digest, LEDGER_DIGEST_HEX) ||
        !validate_hex(in->destination_catalog_digest, LEDGER_DIGEST_HEX)) {
        snprintf(err, errlen, "leg %s: methodology or catalog digest malformed", in->transfer_id);
        return -1;
    }
    if (pbconv_blocks_in(in->blocks, in->n_blocks, &out->blocks, err, errlen) != 0) return -1;
    out->blocks_n = in->n_blocks;
    CARBON_ASSERT(out->blocks != NULL && out->blocks_n >= 1 && out->blocks_n <= LEDGER_LEG_BLOCKS_MAX);
    uint64_t grams = ledger_blocks_grams(out->blocks, out->blocks_n);
    for (size_t i = 1; i < out->blocks_n; i++) {
        if (strcmp(out->blocks[i].meth, out->blocks[0].meth) != 0 ||
            strcmp(out->blocks[i].origin, out->blocks[0].origin) != 0) {
            snprintf(err, errlen, "leg %s: blocks of more than one methodology", in->transfer_id);
            ledger_leg_free(out);
            return -1;
        }
    }
    if (in->credited_g > grams || grams - in->credited_g != in->discount_g ||
        grams >= LEDGER_AMOUNT_G_MAX) {
        snprintf(err, errlen, "leg %s: credited %llu + discount %llu != %llu g of blocks",
                 in->transfer_id, (unsigned long long)in->credited_g,
                 (unsigned long long)in->discount_g, (unsigned long long)grams);
        ledger_leg_free(out);
        return -1;
    }
    snprintf(out->tid, sizeof out->tid, "%s", in->transfer_id);
    snprintf(out->role, sizeof out->role, "destination");
    snprintf(out->from, sizeof out->from, "%s", in->from_account);
    snprintf(out->to, sizeof out->to, "%s", id);
    validate_account_name(in->from_account, out->peer, id);
    snprintf(out->meth, sizeof out->meth, "%s", out->blocks[0].meth);
    snprintf(out->dest_meth, sizeof out->dest_meth, "%s", in->destination_methodology_id);
    snprintf(out->src_digest, sizeof out->src_digest, "%s", in->source_catalog_digest);
    snprintf(out->dst_digest, sizeof out->dst_digest, "%s", in->destination_catalog_digest);
    out->credited_g = in->credited_g;
    out->discount_g = in->discount_g;
    out->debited_g = grams;
    out->expiry_ms = in->expiry_unix_ms;
    CARBON_ASSERT(out->credited_g + out->discount_g == out->debited_g &&
                  out->debited_g < LEDGER_AMOUNT_G_MAX);
    return 0;
}

Carbon__V1__Decision pbconv_decision(char letter) {
    return letter == TRANSFER_DECISION_COMMIT  ? CARBON__V1__DECISION__DECISION_COMMIT
           : letter == TRANSFER_DECISION_ABORT ? CARBON__V1__DECISION__DECISION_ABORT
                                               : CARBON__V1__DECISION__DECISION_UNKNOWN;
}

char pbconv_decision_in(Carbon__V1__Decision d) {
    return d == CARBON__V1__DECISION__DECISION_COMMIT  ? TRANSFER_DECISION_COMMIT
           : d == CARBON__V1__DECISION__DECISION_ABORT ? TRANSFER_DECISION_ABORT
                                                       : TRANSFER_DECISION_UNKNOWN;
}

size_t pbconv_decisions_in(Carbon__V1__LegDecision *const *decisions, size_t n,
                           ledger_dest_decision_t *d, const char **why) {
    CARBON_ASSERT(decisions != NULL && d != NULL && why != NULL);
    *why = NULL;
    for (size_t i = 0; i < n; i++) {
        const Carbon__V1__LegDecision *ld = decisions[i];
        if (!validate_request_id(ld->transfer_id) ||
            (ld->decision != CARBON__V1__DECISION__DECISION_COMMIT &&
             ld->decision != CARBON__V1__DECISION__DECISION_ABORT))
            *why = "needs a 32-hex transfer_id and COMMIT or ABORT";
        for (size_t j = 0; *why == NULL && j < i; j++)
            if (strcmp(d[j].tid, ld->transfer_id) == 0) *why = "names a transfer already in the Decide";
        if (*why != NULL) return i;
        memset(&d[i], 0, sizeof d[i]);
        d[i].tid = ld->transfer_id;
        d[i].decision = pbconv_decision_in(ld->decision); /* COMMIT or ABORT, checked above */
        d[i].resolved_by = "";
    }
    return n;
}
