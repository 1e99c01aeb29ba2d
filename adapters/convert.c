/* convert.c - exact unit conversion; see convert.h and DESIGN §7.
 *
 * Why unsigned __int128 is enough everywhere: every product below is of two
 * uint64 values (or one uint64 and 1000), and (2^64 - 1)^2 < 2^128, so no
 * intermediate can wrap. Only narrowing back to uint64 is checked. */
#include "adapters/convert.h"
#include "common/carbon_assert.h"

#include <stddef.h>

typedef unsigned __int128 u128;

const char *conv_strerror(int rc) {
    switch (rc) {
    case CONV_OK: return "ok";
    case CONV_EINVAL: return "invalid argument";
    case CONV_EOVERFLOW: return "result does not fit in 64 bits";
    case CONV_ETOO_SMALL: return "amount too small to yield one destination unit";
    default: return "unknown conversion error";
    }
}

int conv_issue_g(uint64_t quantity_milli, uint64_t g_num, uint64_t g_den,
                 uint64_t *amount_g) {
    CARBON_ASSERT(amount_g != NULL);
    if (quantity_milli == 0 || g_num == 0 || g_den == 0) return CONV_EINVAL;
    u128 grams = ((u128)quantity_milli * g_num) / ((u128)g_den * CONV_QUANTITY_SCALE);
    if (grams > UINT64_MAX) return CONV_EOVERFLOW;
    *amount_g = (uint64_t)grams;
    return CONV_OK;
}

int conv_units_to_g(uint64_t units, uint64_t unit_g, uint64_t *amount_g) {
    CARBON_ASSERT(amount_g != NULL);
    if (unit_g == 0) return CONV_EINVAL;
    u128 grams = (u128)units * unit_g;
    if (grams > UINT64_MAX) return CONV_EOVERFLOW;
    *amount_g = (uint64_t)grams;
    return CONV_OK;
}

int conv_g_to_units(uint64_t amount_g, uint64_t unit_g, uint64_t *units,
                    uint64_t *remainder_g) {
    CARBON_ASSERT(units != NULL && remainder_g != NULL);
    if (unit_g == 0) return CONV_EINVAL;
    *units = amount_g / unit_g;
    *remainder_g = amount_g % unit_g;
    return CONV_OK;
}

static int ratio_valid(uint64_t num, uint64_t den) {
    return num > 0 && den > 0 && num <= den;
}

int conv_quote(uint64_t requested_g, uint64_t ratio_num, uint64_t ratio_den,
               uint64_t unit_g, conv_quote_t *out) {
    CARBON_ASSERT(out != NULL);
    if (requested_g == 0 || unit_g == 0 || !ratio_valid(ratio_num, ratio_den))
        return CONV_EINVAL;

    /* floor(floor(g*num/den) / unit_g) == floor(g*num / (den*unit_g)). */
    u128 units = ((u128)requested_g * ratio_num) / ((u128)ratio_den * unit_g);
    if (units == 0) return CONV_ETOO_SMALL;
    u128 credited = units * unit_g;        /* <= g*r <= g: fits in uint64 */
    CARBON_ASSERT(credited <= requested_g);

    /* Least debited with debited * num >= credited * den. */
    u128 scaled = credited * ratio_den;
    u128 debited = scaled / ratio_num + (scaled % ratio_num != 0);
    /* credited <= g*num/den, so credited*den/num <= g and, g being an
     * integer, the ceiling is <= g as well. Checked anyway, never trusted. */
    if (debited > requested_g) return CONV_EOVERFLOW;

    out->requested_g = requested_g;
    out->credited_g = (uint64_t)credited;
    out->debited_g = (uint64_t)debited;
    out->discount_g = (uint64_t)(debited - credited);
    out->remainder_g = requested_g - (uint64_t)debited;
    return CONV_OK;
}

int conv_quote_verify(const conv_quote_t *q, uint64_t ratio_num,
                      uint64_t ratio_den, uint64_t unit_g) {
    CARBON_ASSERT(q != NULL);
    if (unit_g == 0 || !ratio_valid(ratio_num, ratio_den)) return CONV_EINVAL;
    u128 g = q->requested_g, c = q->credited_g, d = q->debited_g;
    if (g == 0 || c == 0 || d == 0) return CONV_EINVAL;
    if ((u128)q->credited_g + q->discount_g + q->remainder_g != g) return CONV_EINVAL;
    if (c + q->discount_g != d || d > g) return CONV_EINVAL;
    if (q->credited_g % unit_g != 0) return CONV_EINVAL;
    if (c * ratio_den > d * ratio_num) return CONV_EINVAL;          /* buys it */
    if ((d - 1) * ratio_num >= c * ratio_den) return CONV_EINVAL;   /* least */
    /* Most: no further whole unit fits, g*num - c*den < unit_g*den. The
     * subtraction cannot wrap: c*den <= d*num <= g*num by the checks above. */
    if (g * ratio_num - c * ratio_den >= (u128)unit_g * ratio_den) return CONV_EINVAL;
    return CONV_OK;
}
