/* fuzz_common.c - see fuzz_common.h. */
#include "tests/fuzz/fuzz_common.h"

#include <stdarg.h>
#include <string.h>

#ifndef FUZZ_CATALOG_DIR
#error "FUZZ_CATALOG_DIR must name adapters/catalogs"
#endif

const char *const fuzz_regions[FUZZ_REGIONS_N] = {"CN-TJ", "CN-BJ", "CN-HE"};

static catalog_set_t *fuzz_set;

catalog_set_t *fuzz_catalogs(void) {
    if (fuzz_set != NULL) return fuzz_set;
    const char *dir = getenv("FUZZ_CATALOG_DIR");
    if (dir == NULL || dir[0] == '\0') dir = FUZZ_CATALOG_DIR;
    catalog_set_t *set = catalog_set_new();
    char err[512];
    if (set == NULL || catalog_set_load_dir(set, dir, err, sizeof err) < 0) {
        fprintf(stderr, "fuzz: cannot load the catalogs of %s: %s\n", dir,
                set == NULL ? "out of memory" : err);
        abort();
    }
    for (int i = 0; i < FUZZ_REGIONS_N; i++)
        if (catalog_set_current(set, fuzz_regions[i]) == NULL) {
            fprintf(stderr, "fuzz: %s has no catalog of %s\n", dir, fuzz_regions[i]);
            abort();
        }
    fuzz_set = set;
    return set;
}

int fuzz_is_peer(const char *own, const char *region) {
    if (strcmp(own, region) == 0) return 0;
    for (int i = 0; i < FUZZ_REGIONS_N; i++)
        if (strcmp(fuzz_regions[i], region) == 0) return 1;
    return 0;
}

int fuzz_terminated(const char *s, size_t cap) { return memchr(s, '\0', cap) != NULL; }

ProtobufCMessage *fuzz_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                              size_t size) {
    if (size > FUZZ_MAX_MESSAGE_BYTES) return NULL;
    return protobuf_c_message_unpack(desc, NULL, size, data);
}

ProtobufCMessage *fuzz_roundtrip(const ProtobufCMessage *m) {
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL) abort();
    size_t w = protobuf_c_message_pack(m, buf);
    FUZZ_CHECK(w == n, "%s packed %zu bytes, sized %zu", m->descriptor->name, w, n);
    ProtobufCMessage *copy = protobuf_c_message_unpack(m->descriptor, NULL, n, buf);
    free(buf);
    FUZZ_CHECK(copy != NULL, "a %s the gateway built does not unpack", m->descriptor->name);
    return copy;
}

void fuzz_check_request_fp(const char *fmt, ...) {
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    FUZZ_CHECK(n > 0 && (size_t)n < sizeof text,
               "registry_request_fp would assert: canonical request of %d bytes", n);
}

#include "settlement/textfield.h"

void fuzz_check_text_field(const char *text) {
    char field[TEXTFIELD_ENCODED_MAX(LEDGER_TEXT_MAX) + 1];
    size_t n = strlen(text), pos = 0, got_len = 0;
    const char *got = NULL;
    int w = textfield_encode(text, n, field, sizeof field);
    FUZZ_CHECK(w > 0 && textfield_next(field, (size_t)w, &pos, &got, &got_len) == 0 &&
                   pos == (size_t)w && got_len == n && memcmp(got, text, n) == 0,
               "a text of %zu bytes does not survive its field encoding", n);
}

/* ---- shared validation paths --------------------------------------------------- */

#include "adapters/convert.h"
#include "gateway/validate.h"

typedef unsigned __int128 u128;

#ifndef FUZZ_CHECK_BLOCK_ORIGIN
#define FUZZ_CHECK_BLOCK_ORIGIN 1 /* Prepare votes no to blocks of another origin */
#endif

int fuzz_registry_quote(const char *own, const char *to_region, const char *meth,
                        uint64_t amount_units, quote_t *q) {
    catalog_set_t *set = fuzz_catalogs();
    /* registry_quote: another configured region, at least one unit */
    if (strcmp(to_region, own) == 0 || !fuzz_is_peer(own, to_region)) return -1;
    if (amount_units == 0) return -1;
    char err[256] = "";
    int rc = quote_compute(set, own, to_region, meth, amount_units, q, err, sizeof err);
    if (rc == QUOTE_OK && q->q.debited_g >= LEDGER_AMOUNT_G_MAX) {
        rc = QUOTE_OVERFLOW;
        snprintf(err, sizeof err, "more than 2^50 grams in one transfer");
    }
    FUZZ_CHECK(strcmp(quote_rc_name(rc), "?") != 0, "quote_compute returned %d", rc);
    if (rc != QUOTE_OK) {
        FUZZ_CHECK(fuzz_terminated(err, sizeof err) && err[0] != '\0',
                   "quote refusal %d without a reason", rc);
        return -1;
    }
    FUZZ_CHECK(q->src != NULL && q->dst != NULL && strcmp(q->src->region, own) == 0 &&
                   strcmp(q->dst->region, to_region) == 0,
               "quote from %s to %s used the wrong catalogs", own, to_region);
    FUZZ_CHECK((u128)amount_units * q->src->display_unit_g == q->q.requested_g,
               "requested %llu g for %llu units of %llu g", (unsigned long long)q->q.requested_g,
               (unsigned long long)amount_units, (unsigned long long)q->src->display_unit_g);
    FUZZ_CHECK(conv_quote_verify(&q->q, q->ratio_num, q->ratio_den, q->dst->display_unit_g) ==
                   CONV_OK,
               "quote %llu/%llu/%llu/%llu/%llu at %llu/%llu breaks DESIGN §7",
               (unsigned long long)q->q.requested_g, (unsigned long long)q->q.credited_g,
               (unsigned long long)q->q.debited_g, (unsigned long long)q->q.discount_g,
               (unsigned long long)q->q.remainder_g, (unsigned long long)q->ratio_num,
               (unsigned long long)q->ratio_den);
    FUZZ_CHECK(q->q.debited_g > 0 && q->q.debited_g < LEDGER_AMOUNT_G_MAX, "debited out of range");
    FUZZ_CHECK(fuzz_terminated(q->dest_meth, sizeof q->dest_meth) &&
                   catalog_find_methodology(q->dst, q->dest_meth) != NULL,
               "destination methodology '%s' is not in %s's catalog", q->dest_meth, to_region);
    FUZZ_CHECK(fuzz_terminated(q->origin, sizeof q->origin), "origin not terminated");
    /* What the source quotes, the destination accepts. */
    const char *why = quote_check_leg(set, to_region, own, q->origin, meth, q->dest_meth,
                                      q->q.credited_g, q->q.debited_g, q->src->digest_hex,
                                      q->dst->digest_hex);
    FUZZ_CHECK(why == NULL, "%s quotes %s -> %s but %s would vote no: %s", own, meth,
               q->dest_meth, to_region, why);
    return 0;
}

const char *fuzz_dest_verdict(const char *own, const char *source, const ledger_leg_t *leg) {
    catalog_set_t *set = fuzz_catalogs();
    const char *why = quote_check_leg(set, own, source, leg->blocks_n > 0 ? leg->blocks[0].origin : "",
                                      leg->meth, leg->dest_meth, leg->credited_g, leg->debited_g,
                                      leg->src_digest, leg->dst_digest);
    if (why != NULL) {
        FUZZ_CHECK(why[0] != '\0' && strlen(why) <= LEDGER_REASON_MAX,
                   "a no vote's reason '%s' does not fit the ledger", why);
        return why;
    }
    /* Accepted: recompute the rule independently of quote_check_leg. */
    const catalog_t *dst = catalog_set_by_digest(set, leg->dst_digest);
    FUZZ_CHECK(dst != NULL && strcmp(dst->region, own) == 0, "accepted under a foreign digest");
    char origin[CATALOG_REGION_MAX + 1];
    FUZZ_CHECK(quote_origin_of(set, leg->meth, origin) == 0, "accepted an unknown methodology");
#if FUZZ_CHECK_BLOCK_ORIGIN
    /* Found by this target and closed in quote_check_leg: the serials must
     * be of the region whose catalog defines their methodology. */
    FUZZ_CHECK(strcmp(leg->blocks[0].origin, origin) == 0,
               "accepted blocks of origin %s for %s, a methodology of %s", leg->blocks[0].origin,
               leg->meth, origin);
#endif
    uint64_t num = 1, den = 1;
    if (strcmp(origin, own) != 0) {
        const catalog_recognition_t *r = catalog_find_recognition(dst, origin, leg->meth);
        FUZZ_CHECK(r != NULL && strcmp(r->local_id, leg->dest_meth) == 0,
                   "accepted %s:%s as %s without that rule", origin, leg->meth, leg->dest_meth);
        num = r->ratio.num;
        den = r->ratio.den;
    } else {
        FUZZ_CHECK(strcmp(leg->dest_meth, leg->meth) == 0, "home credits renamed");
    }
    /* debited is the least that buys credited, credited whole units: then
     * conv_quote(debited) yields exactly these numbers, nothing remains. */
    conv_quote_t q;
    int rc = conv_quote(leg->debited_g, num, den, dst->display_unit_g, &q);
    FUZZ_CHECK(rc == CONV_OK && q.credited_g == leg->credited_g && q.debited_g == leg->debited_g &&
                   q.remainder_g == 0,
               "accepted credited %llu / debited %llu at %llu/%llu in %llu g units, but "
               "conv_quote(debited) gives rc %d credited %llu debited %llu",
               (unsigned long long)leg->credited_g, (unsigned long long)leg->debited_g,
               (unsigned long long)num, (unsigned long long)den,
               (unsigned long long)dst->display_unit_g, rc, (unsigned long long)q.credited_g,
               (unsigned long long)q.debited_g);
    return NULL;
}

void fuzz_check_leg_in(const ledger_leg_t *leg, const char *own) {
    FUZZ_CHECK(validate_request_id(leg->tid), "tid '%s'", leg->tid);
    FUZZ_CHECK(strcmp(leg->role, "destination") == 0, "role '%s'", leg->role);
    char region[CARBON_REGION_SIZE], id[VALIDATE_ACCOUNT_MAX + 1];
    FUZZ_CHECK(fuzz_terminated(leg->from, sizeof leg->from) &&
                   validate_account_name(leg->from, region, id) && strcmp(region, leg->peer) == 0,
               "from '%s' peer '%s'", leg->from, leg->peer);
    FUZZ_CHECK(fuzz_terminated(leg->to, sizeof leg->to) && validate_account_id(leg->to),
               "to '%s'", leg->to);
    (void)own; /* the to account's region was checked against own by pbconv_leg_in */
    FUZZ_CHECK(fuzz_terminated(leg->meth, sizeof leg->meth) && leg->meth[0] != '\0', "meth");
    FUZZ_CHECK(fuzz_terminated(leg->dest_meth, sizeof leg->dest_meth), "dest_meth");
    FUZZ_CHECK(validate_hex(leg->src_digest, LEDGER_DIGEST_HEX) &&
                   validate_hex(leg->dst_digest, LEDGER_DIGEST_HEX),
               "digests '%s' '%s'", leg->src_digest, leg->dst_digest);
    FUZZ_CHECK(leg->blocks_n >= 1 && leg->blocks_n <= LEDGER_LEG_BLOCKS_MAX && leg->blocks != NULL,
               "%zu blocks", leg->blocks_n);
    u128 sum = 0;
    for (size_t i = 0; i < leg->blocks_n; i++) {
        const ledger_block_t *b = &leg->blocks[i];
        FUZZ_CHECK(b->first >= 1 && b->first <= b->last && b->last <= LEDGER_SERIAL_MAX,
                   "block %zu serials %llu-%llu", i, (unsigned long long)b->first,
                   (unsigned long long)b->last);
        FUZZ_CHECK(strcmp(b->meth, leg->meth) == 0 && strcmp(b->origin, leg->blocks[0].origin) == 0,
                   "block %zu of another methodology", i);
        FUZZ_CHECK(validate_vintage(b->vintage, 0), "block %zu of vintage %u", i,
                   (unsigned)b->vintage);
        char text[128];
        FUZZ_CHECK(ledger_block_format(b, text, sizeof text) > 0, "block %zu does not format", i);
        sum += b->last - b->first + 1;
    }
    FUZZ_CHECK(sum == leg->debited_g && leg->debited_g < LEDGER_AMOUNT_G_MAX,
               "debited %llu, blocks hold %llu", (unsigned long long)leg->debited_g,
               (unsigned long long)sum);
    FUZZ_CHECK((u128)leg->credited_g + leg->discount_g == leg->debited_g,
               "credited %llu + discount %llu != debited %llu", (unsigned long long)leg->credited_g,
               (unsigned long long)leg->discount_g, (unsigned long long)leg->debited_g);
}
