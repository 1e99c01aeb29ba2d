/* quote.c - transfer quotes and the destination's leg check (quote.h). */
#include "settlement/quote.h"
#include "common/carbon_assert.h"

#include <stdio.h>
#include <string.h>

reason_t quote_rc_reason(int rc) {
    switch (rc) {
    case QUOTE_UNKNOWN_METHODOLOGY: return REASON_UNKNOWN_METHODOLOGY;
    case QUOTE_UNRECOGNIZED: return REASON_UNRECOGNIZED_METHODOLOGY;
    case QUOTE_NO_CATALOG: return REASON_CATALOG_UNKNOWN;
    case QUOTE_TOO_SMALL: return REASON_AMOUNT_TOO_SMALL;
    case QUOTE_OVERFLOW: return REASON_BAD_AMOUNT;
    default: return REASON_COUNT;
    }
}

const char *quote_rc_name(int rc) {
    if (rc == QUOTE_OK) return "OK";
    reason_t r = quote_rc_reason(rc);
    return r < REASON_COUNT ? reason_name(r) : "?";
}

int quote_origin_of(catalog_set_t *set, const char *meth, char origin[CATALOG_REGION_MAX + 1]) {
    const catalog_t *current[CATALOG_SET_REGIONS_MAX];
    size_t n = catalog_set_snapshot(set, current, CATALOG_SET_REGIONS_MAX);
    if (n > CATALOG_SET_REGIONS_MAX) n = CATALOG_SET_REGIONS_MAX;
    for (size_t i = 0; i < n; i++) {
        if (catalog_find_methodology(current[i], meth) != NULL) {
            snprintf(origin, CATALOG_REGION_MAX + 1, "%s", current[i]->region);
            return 0;
        }
    }
    return -1;
}

int quote_compute(catalog_set_t *set, const char *src_region, const char *dst_region,
                  const char *meth, uint64_t amount_units, quote_t *out, char *err,
                  size_t errlen) {
    memset(out, 0, sizeof *out);
    out->src = catalog_set_current(set, src_region);
    out->dst = catalog_set_current(set, dst_region);
    if (out->src == NULL || out->dst == NULL) {
        snprintf(err, errlen, "no catalog loaded for %s", out->src == NULL ? src_region : dst_region);
        return QUOTE_NO_CATALOG;
    }
    if (quote_origin_of(set, meth, out->origin) != 0) {
        snprintf(err, errlen, "no catalog defines methodology '%.40s'", meth);
        return QUOTE_UNKNOWN_METHODOLOGY;
    }
    const catalog_recognition_t *rule = NULL;
    if (strcmp(out->origin, dst_region) == 0) {
        /* Credits coming home: the destination's own methodology, ratio 1. */
        out->ratio_num = out->ratio_den = 1;
        snprintf(out->dest_meth, sizeof out->dest_meth, "%s", meth);
    } else {
        rule = catalog_find_recognition(out->dst, out->origin, meth);
        if (rule == NULL) {
            snprintf(err, errlen, "%s does not recognize %s:%s", dst_region, out->origin, meth);
            return QUOTE_UNRECOGNIZED;
        }
        out->ratio_num = rule->ratio.num;
        out->ratio_den = rule->ratio.den;
        snprintf(out->dest_meth, sizeof out->dest_meth, "%s", rule->local_id);
    }
    uint64_t requested_g;
    if (conv_units_to_g(amount_units, out->src->display_unit_g, &requested_g) != CONV_OK) {
        snprintf(err, errlen, "%llu %s does not fit in grams", (unsigned long long)amount_units,
                 out->src->display_unit);
        return QUOTE_OVERFLOW;
    }
    int rc = conv_quote(requested_g, out->ratio_num, out->ratio_den, out->dst->display_unit_g,
                        &out->q);
    if (rc == CONV_ETOO_SMALL) {
        snprintf(err, errlen, "%llu %s yields less than one %s in %s",
                 (unsigned long long)amount_units, out->src->display_unit,
                 out->dst->display_unit, dst_region);
        return QUOTE_TOO_SMALL;
    }
    if (rc != CONV_OK) {
        snprintf(err, errlen, "cannot quote %llu %s: %s", (unsigned long long)amount_units,
                 out->src->display_unit, conv_strerror(rc));
        return QUOTE_OVERFLOW;
    }
    return QUOTE_OK;
}

const char *quote_check_leg(catalog_set_t *set, const char *own_region,
                            const char *source_region, const char *block_origin, const char *meth,
                            const char *dest_meth, uint64_t credited_g, uint64_t debited_g,
                            const char *src_digest, const char *dst_digest) {
    const catalog_t *dst = catalog_set_by_digest(set, dst_digest);
    const catalog_t *src = catalog_set_by_digest(set, src_digest);
    if (dst == NULL || strcmp(dst->region, own_region) != 0) return REASON(CATALOG_UNKNOWN);
    if (src == NULL || strcmp(src->region, source_region) != 0) return REASON(CATALOG_UNKNOWN);
    char origin[CATALOG_REGION_MAX + 1];
    if (quote_origin_of(set, meth, origin) != 0) return REASON(UNKNOWN_METHODOLOGY);
    /* Serials are numbered by the region whose catalog defines their
     * methodology: blocks claiming another origin are not what they say. */
    if (strcmp(block_origin, origin) != 0) return REASON(ORIGIN_MISMATCH);
    uint64_t num = 1, den = 1;
    if (strcmp(origin, own_region) == 0) {
        if (strcmp(dest_meth, meth) != 0) return REASON(RECOGNITION_MISMATCH);
    } else {
        const catalog_recognition_t *rule = catalog_find_recognition(dst, origin, meth);
        if (rule == NULL) return REASON(UNRECOGNIZED_METHODOLOGY);
        if (strcmp(rule->local_id, dest_meth) != 0) return REASON(RECOGNITION_MISMATCH);
        num = rule->ratio.num;
        den = rule->ratio.den;
    }
    /* credited must be whole destination units, at most debited * r, and
     * debited the least that yields it (the quote identities of DESIGN §7). */
    unsigned __int128 c = credited_g, d = debited_g;
    if (credited_g == 0 || credited_g % dst->display_unit_g != 0) return REASON(QUOTE_MISMATCH);
    if (c * den > d * num) return REASON(QUOTE_MISMATCH);
    if (d == 0 || (d - 1) * num >= c * den) return REASON(QUOTE_MISMATCH);
    return NULL;
}

/* A quote's catalog fields go into a leg's ledger fields: they must fit. */
CARBON_STATIC_ASSERT(CATALOG_ID_MAX <= LEDGER_METH_MAX, "a catalog methodology id fits a leg's meth");
CARBON_STATIC_ASSERT(CATALOG_DIGEST_HEX_LEN == LEDGER_DIGEST_HEX,
                     "a catalog digest is a leg's src_digest / dst_digest");

int quote_fill_leg(const quote_t *q, ledger_leg_t *leg) {
    CARBON_ASSERT(q != NULL && leg != NULL && q->src != NULL && q->dst != NULL);
    leg->requested_g = q->q.requested_g;
    leg->credited_g = q->q.credited_g;
    leg->debited_g = q->q.debited_g;
    leg->discount_g = q->q.discount_g;
    leg->remainder_g = q->q.remainder_g;
    leg->ratio_num = q->ratio_num;
    leg->ratio_den = q->ratio_den;
    int a = snprintf(leg->dest_meth, sizeof leg->dest_meth, "%s", q->dest_meth);
    int b = snprintf(leg->src_digest, sizeof leg->src_digest, "%s", q->src->digest_hex);
    int c = snprintf(leg->dst_digest, sizeof leg->dst_digest, "%s", q->dst->digest_hex);
    return a >= 0 && (size_t)a < sizeof leg->dest_meth && b >= 0 &&
                   (size_t)b < sizeof leg->src_digest && c >= 0 &&
                   (size_t)c < sizeof leg->dst_digest
               ? 0
               : -1;
}
