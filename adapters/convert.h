/* convert.h - exact unit conversion between regional units and grams CO2e.
 *
 * DESIGN §7. Every amount inside the federation is an integer number of
 * grams (uint64). The functions here turn a methodology's native quantity
 * into grams at issuance, convert between a region's display unit and grams,
 * and quote a cross-region transfer under a recognition ratio r = num/den.
 *
 * All arithmetic is integer, with unsigned __int128 intermediates: a product
 * of two uint64 values always fits, so only the final narrowing to uint64 can
 * overflow, and that is reported as CONV_EOVERFLOW, never wrapped. No floating
 * point. The functions are pure: no allocation, no global state, thread-safe.
 *
 * Return convention: 0 (CONV_OK) on success, a negative conv_err_t on error.
 * On error the output arguments are left untouched. */
#ifndef ADAPTERS_CONVERT_H
#define ADAPTERS_CONVERT_H

#include <stdint.h>

/* Fixed-point scale of native quantities: a quantity is given in thousandths
 * of the native unit (quantity_milli = 1500 means 1.5 km). */
#define CONV_QUANTITY_SCALE 1000u

typedef enum {
    CONV_OK = 0,
    CONV_EINVAL = -1,     /* argument out of domain (zero, den 0, r > 1, ...) */
    CONV_EOVERFLOW = -2,  /* the result does not fit in uint64 */
    CONV_ETOO_SMALL = -3, /* amount too small to yield one destination unit */
} conv_err_t;

/* A transfer quote (DESIGN §7), all in grams. For a valid quote:
 *   credited_g + discount_g + remainder_g == requested_g
 *   debited_g == credited_g + discount_g,  debited_g <= requested_g
 *   credited_g % unit_g == 0,  credited_g > 0
 *   credited_g * den <= debited_g * num           (debited buys credited)
 *   (debited_g - 1) * num < credited_g * den      (debited is the least)
 *   (credited_g + unit_g) * den > requested_g * num  (credited is the most) */
typedef struct {
    uint64_t requested_g; /* g: what the sender asked to move at most */
    uint64_t credited_g;  /* whole destination units credited at D, in grams */
    uint64_t debited_g;   /* taken from the sender's account at S */
    uint64_t discount_g;  /* debited - credited: cancelled at D, audited */
    uint64_t remainder_g; /* requested - debited: stays in the account */
} conv_quote_t;

/* Static English text for a return code of this module; never NULL.
 * Unknown codes yield "unknown conversion error". */
const char *conv_strerror(int rc);

/* Issuance: grams for quantity_milli thousandths of a native unit worth
 * g_num/g_den grams per unit:
 *     *amount_g = floor(quantity_milli * g_num / (g_den * 1000)).
 * Returns CONV_EINVAL if quantity_milli, g_num or g_den is 0, CONV_EOVERFLOW
 * if the result exceeds UINT64_MAX. A result of 0 grams (a quantity too small
 * to be worth one gram) is returned as success with *amount_g == 0: whether
 * to reject or accumulate it is the caller's decision. amount_g must not be
 * NULL. */
int conv_issue_g(uint64_t quantity_milli, uint64_t g_num, uint64_t g_den,
                 uint64_t *amount_g);

/* Display units to grams: *amount_g = units * unit_g.
 * Returns CONV_EINVAL if unit_g is 0, CONV_EOVERFLOW if the product exceeds
 * UINT64_MAX. units == 0 is valid and yields 0. amount_g must not be NULL. */
int conv_units_to_g(uint64_t units, uint64_t unit_g, uint64_t *amount_g);

/* Grams to display units: *units = amount_g / unit_g and
 * *remainder_g = amount_g % unit_g (so units * unit_g + remainder_g ==
 * amount_g). Returns CONV_EINVAL if unit_g is 0. Outputs must not be NULL. */
int conv_g_to_units(uint64_t amount_g, uint64_t unit_g, uint64_t *units,
                    uint64_t *remainder_g);

/* Transfer quote for up to requested_g grams, recognised at the destination
 * at ratio r = ratio_num/ratio_den, credited in whole destination display
 * units of unit_g grams (DESIGN §7):
 *     credited  = floor(g * r / unit_g) * unit_g
 *     debited   = ceil(credited / r) = ceil(credited * den / num)
 *     discount  = debited - credited
 *     remainder = g - debited
 * Returns CONV_EINVAL if requested_g is 0, unit_g is 0, ratio_num is 0,
 * ratio_den is 0 or ratio_num > ratio_den (r must be in (0, 1]);
 * CONV_ETOO_SMALL if the amount does not yield one whole destination unit
 * (credited would be 0: an impossible request, not a zero transfer).
 * On success fills *out (must not be NULL) with all the invariants above. */
int conv_quote(uint64_t requested_g, uint64_t ratio_num, uint64_t ratio_den,
               uint64_t unit_g, conv_quote_t *out);

/* Checks that q is exactly the quote conv_quote() would produce for the same
 * arguments, via the invariants listed at conv_quote_t (e.g. a destination
 * validating the numbers in a prepared leg). Returns 0 if so, CONV_EINVAL if
 * the arguments or any invariant are violated. q must not be NULL. */
int conv_quote_verify(const conv_quote_t *q, uint64_t ratio_num,
                      uint64_t ratio_den, uint64_t unit_g);

#endif
