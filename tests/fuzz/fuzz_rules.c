/* fuzz_rules.c - the rules-on-use parser (adapters/rules.h,
 * rules_parse_buffer) on arbitrary bytes. Rules it accepts must keep their
 * documented contract (known purposes, sorted lists within limits, shares
 * 0 < num <= den <= RULES_SHARE_DEN_MAX on compliance_offset only with
 * share_outside <= share, ascending vintages, positive inflows under 2^50,
 * a hex digest, lookups that find every section) and survive a round trip:
 * written back in another order, they parse to the same digest. */
#include "tests/fuzz/fuzz_common.h"

#include "adapters/rules.h"

#include <string.h>

#define NAME "fuzz.rules"

static void check_purpose(const rules_t *r, uint32_t i) {
    const rules_purpose_t *u = &r->purposes[i];
    FUZZ_CHECK(fuzz_terminated(u->name, sizeof u->name) && rules_find_purpose(r, u->name) == u, "purpose %u", i);
    FUZZ_CHECK(i == 0 || strcmp(r->purposes[i - 1].name, u->name) < 0, "purposes not sorted at %s", u->name);
    FUZZ_CHECK(u->origins_n <= RULES_LIST_MAX && u->methodologies_n <= RULES_LIST_MAX, "lists of %s", u->name);
    for (uint32_t k = 1; k < u->origins_n; k++)
        FUZZ_CHECK(strcmp(u->origins[k - 1], u->origins[k]) < 0, "origins of %s not sorted", u->name);
    for (uint32_t k = 1; k < u->methodologies_n; k++)
        FUZZ_CHECK(strcmp(u->methodologies[k - 1], u->methodologies[k]) < 0, "methodologies of %s", u->name);
    FUZZ_CHECK(u->vintage_min <= u->vintage_max && (u->vintage_min == 0) == (u->vintage_max == 0), "vintages");
    int compliance = strcmp(u->name, "compliance_offset") == 0;
    FUZZ_CHECK(compliance == (u->share.den != 0) && compliance == (u->share_outside.den != 0), "shares of %s",
               u->name);
    if (compliance)
        FUZZ_CHECK(u->share.num > 0 && u->share.num <= u->share.den && u->share.den <= RULES_SHARE_DEN_MAX &&
                       u->share_outside.num > 0 && u->share_outside.num <= u->share_outside.den &&
                       u->share_outside.den <= RULES_SHARE_DEN_MAX &&
                       u->share_outside.num * u->share.den <= u->share.num * u->share_outside.den,
                   "share %llu/%llu outside %llu/%llu", (unsigned long long)u->share.num,
                   (unsigned long long)u->share.den, (unsigned long long)u->share_outside.num,
                   (unsigned long long)u->share_outside.den);
}

/* The rules as a file, sections and lists in reverse order. */
static size_t write_back(const rules_t *r, char *buf, size_t cap) {
    FILE *f = fmemopen(buf, cap, "w");
    FUZZ_CHECK(f != NULL, "fmemopen");
    for (uint32_t i = r->inflows_n; i-- > 0;)
        fprintf(f, "[inflow %s]\ndaily_g = %llu\n", r->inflows[i].peer, (unsigned long long)r->inflows[i].daily_g);
    for (uint32_t i = r->purposes_n; i-- > 0;) {
        const rules_purpose_t *u = &r->purposes[i];
        fprintf(f, "[purpose %s]\norigins =", u->name);
        for (uint32_t k = u->origins_n; k-- > 0;) fprintf(f, " %s", u->origins[k]);
        fprintf(f, "%s\nmethodologies =", u->origins_n ? "" : " *");
        for (uint32_t k = u->methodologies_n; k-- > 0;) fprintf(f, " %s", u->methodologies[k]);
        fprintf(f, "%s\n", u->methodologies_n ? "" : " *");
        if (u->vintage_min == 0) fprintf(f, "vintages = *\n");
        else fprintf(f, "vintages = %u-%u\n", u->vintage_min, u->vintage_max);
        if (u->share.den != 0)
            fprintf(f, "share = %llu/%llu\nshare_outside = %llu/%llu\n", (unsigned long long)u->share.num,
                    (unsigned long long)u->share.den, (unsigned long long)u->share_outside.num,
                    (unsigned long long)u->share_outside.den);
    }
    fprintf(f, "[rules]\nstatus = %s\nversion = %s\nregion = %s\n", catalog_status_name(r->status), r->version,
            r->region);
    long n = ftell(f);
    FUZZ_CHECK(fclose(f) == 0 && n > 0 && (size_t)n < cap, "write-back of %ld bytes", n);
    return (size_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static rules_t r, again;
    static char text[RULES_FILE_MAX_BYTES * 2];
    char err[512];
    if (rules_parse_buffer(NAME, (const char *)data, size, &r, err, sizeof err) != 0) {
        FUZZ_CHECK(fuzz_terminated(err, sizeof err) && strncmp(err, NAME ":", strlen(NAME ":")) == 0,
                   "error '%s' does not start with the name", err);
        return 0;
    }
    FUZZ_CHECK(strlen(r.digest_hex) == CATALOG_DIGEST_HEX_LEN, "digest '%s'", r.digest_hex);
    FUZZ_CHECK(r.purposes_n <= RULES_PURPOSES_MAX && r.inflows_n <= RULES_INFLOWS_MAX, "counts");
    for (uint32_t i = 0; i < r.purposes_n; i++) check_purpose(&r, i);
    for (uint32_t i = 0; i < r.inflows_n; i++) {
        const rules_inflow_t *f = &r.inflows[i];
        FUZZ_CHECK(f->daily_g > 0 && f->daily_g < RULES_DAILY_G_MAX && strcmp(f->peer, r.region) != 0 &&
                       rules_find_inflow(&r, f->peer) == f,
                   "inflow %u", i);
    }
    size_t n = write_back(&r, text, sizeof text);
    int rc = rules_parse_buffer("again", text, n, &again, err, sizeof err);
    FUZZ_CHECK(rc == 0, "the rules written back do not parse: %s\n%.*s", err, (int)n, text);
    FUZZ_CHECK(strcmp(again.digest_hex, r.digest_hex) == 0, "digest changed on the round trip:\n%.*s", (int)n,
               text);
    return 0;
}
