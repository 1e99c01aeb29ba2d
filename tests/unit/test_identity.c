/* test_identity.c - unit tests of gateway/identity.h: SPIFFE ID parsing and
 * the role/region authorization table of DESIGN.md §5. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/identity.h"

#define TD "jjj.carbon"
#define ERR_LEN 512

/* ---- identity_parse: accepted ------------------------------------------------------ */

static identity_t parse_ok(const char *id, const char *trust_domain) {
    identity_t out;
    char err[ERR_LEN] = "";
    int rc = identity_parse(id, trust_domain, &out, err, sizeof err);
    cr_assert_eq(rc, 0, "'%s' in %s refused: %s", id, trust_domain, err);
    cr_expect_str_eq(out.spiffe_id, id);
    return out;
}

Test(identity_parse, every_role) {
    static const struct {
        const char *id;
        identity_role_t role;
        const char *region, *name;
    } cases[] = {
        {"spiffe://" TD "/CN-TJ/gateway/gw1", ROLE_GATEWAY, "CN-TJ", "gw1"},
        {"spiffe://" TD "/CN-BJ/registry/reg1", ROLE_REGISTRY, "CN-BJ", "reg1"},
        {"spiffe://" TD "/CN-HE/operator/op1", ROLE_OPERATOR, "CN-HE", "op1"},
        {"spiffe://" TD "/CN-TJ/auditor/aud1", ROLE_AUDITOR, "CN-TJ", "aud1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        identity_t id = parse_ok(cases[i].id, TD);
        cr_expect_eq(id.role, cases[i].role, "%s: role %d", cases[i].id, id.role);
        cr_expect_str_eq(id.region, cases[i].region);
        cr_expect_str_eq(id.name, cases[i].name);
    }
}

Test(identity_parse, region_codes_and_name_characters) {
    identity_t id = parse_ok("spiffe://" TD "/US-CA/registry/a.b_c-D9", TD);
    cr_expect_str_eq(id.region, "US-CA");
    cr_expect_str_eq(id.name, "a.b_c-D9");
    id = parse_ok("spiffe://" TD "/FR-75C/auditor/x", TD); /* 3 alphanumerics after '-' */
    cr_expect_str_eq(id.region, "FR-75C");
    id = parse_ok("spiffe://" TD "/CN-T/operator/x", TD); /* 1 after '-' */
    cr_expect_str_eq(id.region, "CN-T");
    id = parse_ok("spiffe://" TD "/CN-TJ/gateway/0", TD); /* one-character name */
    cr_expect_str_eq(id.name, "0");
}

Test(identity_parse, other_trust_domain_when_configured) {
    identity_t id = parse_ok("spiffe://other.domain/CN-TJ/registry/x", "other.domain");
    cr_expect_eq(id.role, ROLE_REGISTRY);
}

Test(identity_parse, longest_name_and_id) {
    char name[IDENTITY_NAME_MAX];
    memset(name, 'n', IDENTITY_NAME_MAX - 1);
    name[IDENTITY_NAME_MAX - 1] = '\0';
    char id[IDENTITY_SPIFFE_MAX + 64];
    snprintf(id, sizeof id, "spiffe://" TD "/CN-TJ/registry/%s", name);
    identity_t out = parse_ok(id, TD);
    cr_expect_eq(strlen(out.name), IDENTITY_NAME_MAX - 1);

    /* an ID of exactly IDENTITY_SPIFFE_MAX - 1 bytes, with a long trust domain:
     * 9 + td + 1 + 5 + 1 + 8 + 1 + name */
    size_t name_len = 30;
    size_t td_len = (IDENTITY_SPIFFE_MAX - 1) - 25 - name_len;
    char *td = malloc(td_len + 1);
    cr_assert_not_null(td);
    memset(td, 'd', td_len);
    td[td_len] = '\0';
    snprintf(id, sizeof id, "spiffe://%s/CN-TJ/registry/%.*s", td, (int)name_len, name);
    cr_assert_eq(strlen(id), IDENTITY_SPIFFE_MAX - 1);
    parse_ok(id, td);
    free(td);
}

/* ---- identity_parse: refused -------------------------------------------------------- */

static void parse_bad(const char *id, const char *why) {
    identity_t out;
    char err[ERR_LEN] = "";
    int rc = identity_parse(id, TD, &out, err, sizeof err);
    cr_expect_eq(rc, -1, "'%s' (%s) was accepted: region %s role %d name %s", id, why, out.region,
                 out.role, out.name);
    if (rc == -1) cr_expect_neq(err[0], '\0', "'%s': refused without a reason", id);
}

Test(identity_parse, bad_scheme) {
    parse_bad("", "empty");
    parse_bad("http://" TD "/CN-TJ/registry/reg1", "http");
    parse_bad("SPIFFE://" TD "/CN-TJ/registry/reg1", "upper-case scheme");
    parse_bad("spiffe:/" TD "/CN-TJ/registry/reg1", "one slash");
    parse_bad("spiffe:" TD "/CN-TJ/registry/reg1", "no slashes");
    parse_bad(" spiffe://" TD "/CN-TJ/registry/reg1", "leading space");
    parse_bad("CN-TJ/registry/reg1", "no scheme");
}

Test(identity_parse, bad_trust_domain) {
    parse_bad("spiffe://other.domain/CN-TJ/registry/reg1", "other domain");
    parse_bad("spiffe://" TD ".evil/CN-TJ/registry/reg1", "domain with a suffix");
    parse_bad("spiffe://evil." TD "/CN-TJ/registry/reg1", "domain with a prefix");
    parse_bad("spiffe://jjj.carbo/CN-TJ/registry/reg1", "domain cut short");
    parse_bad("spiffe://JJJ.CARBON/CN-TJ/registry/reg1", "upper-case domain");
    parse_bad("spiffe://" TD, "domain only");
    parse_bad("spiffe://" TD ":443/CN-TJ/registry/reg1", "with a port");
    parse_bad("spiffe://user@" TD "/CN-TJ/registry/reg1", "with user info");
    parse_bad("spiffe:///CN-TJ/registry/reg1", "empty domain");
}

Test(identity_parse, bad_segment_count) {
    parse_bad("spiffe://" TD "/", "no path");
    parse_bad("spiffe://" TD "/CN-TJ", "region only");
    parse_bad("spiffe://" TD "/CN-TJ/registry", "no name");
    parse_bad("spiffe://" TD "/CN-TJ/registry/", "empty name");
    parse_bad("spiffe://" TD "/CN-TJ/registry/reg1/extra", "four segments");
    parse_bad("spiffe://" TD "/CN-TJ/registry/reg1/", "trailing slash");
    parse_bad("spiffe://" TD "//CN-TJ/registry/reg1", "empty first segment");
    parse_bad("spiffe://" TD "/CN-TJ//registry/reg1", "empty role, four segments");
    parse_bad("spiffe://" TD "/CN-TJ/registry//reg1", "empty name, four segments");
}

Test(identity_parse, bad_role) {
    parse_bad("spiffe://" TD "/CN-TJ/admin/x", "unknown role");
    parse_bad("spiffe://" TD "/CN-TJ/Registry/x", "capitalised");
    parse_bad("spiffe://" TD "/CN-TJ/registr/x", "prefix of a role");
    parse_bad("spiffe://" TD "/CN-TJ/registryx/x", "role with a suffix");
    parse_bad("spiffe://" TD "/CN-TJ/none/x", "the name of ROLE_NONE");
    parse_bad("spiffe://" TD "/CN-TJ//x", "empty role");
    parse_bad("spiffe://" TD "/CN-TJ/gateway /x", "role with a space");
}

Test(identity_parse, bad_region) {
    parse_bad("spiffe://" TD "/cn-tj/registry/x", "lower case");
    parse_bad("spiffe://" TD "/CN_TJ/registry/x", "underscore");
    parse_bad("spiffe://" TD "/CNTJ/registry/x", "no dash");
    parse_bad("spiffe://" TD "/C-TJ/registry/x", "one-letter country");
    parse_bad("spiffe://" TD "/CN-/registry/x", "no subdivision");
    parse_bad("spiffe://" TD "/CN-TJKL/registry/x", "subdivision of 4");
    parse_bad("spiffe://" TD "/CN-tj/registry/x", "lower-case subdivision");
    parse_bad("spiffe://" TD "/12-TJ/registry/x", "digits for a country");
    parse_bad("spiffe://" TD "/CN-TJ-TOO-LONG-REGION/registry/x", "longer than 15 bytes");
    parse_bad("spiffe://" TD "/CN-TIANJIN/registry/x", "long subdivision");
}

Test(identity_parse, bad_name) {
    parse_bad("spiffe://" TD "/CN-TJ/registry/reg 1", "space");
    parse_bad("spiffe://" TD "/CN-TJ/registry/reg@1", "at sign");
    parse_bad("spiffe://" TD "/CN-TJ/registry/reg%41", "percent escape");
    parse_bad("spiffe://" TD "/CN-TJ/registry/reg:1", "colon");
    parse_bad("spiffe://" TD "/CN-TJ/registry/reg1?x=1", "query");
    parse_bad("spiffe://" TD "/CN-TJ/registry/reg1#f", "fragment");
    parse_bad("spiffe://" TD "/CN-TJ/registry/r\xc3\xa9g", "non-ASCII");
    parse_bad("spiffe://" TD "/CN-TJ/registry/reg\n", "newline");
    char name[IDENTITY_NAME_MAX + 1];
    memset(name, 'n', IDENTITY_NAME_MAX);
    name[IDENTITY_NAME_MAX] = '\0';
    char id[IDENTITY_SPIFFE_MAX];
    snprintf(id, sizeof id, "spiffe://" TD "/CN-TJ/registry/%s", name);
    parse_bad(id, "name of IDENTITY_NAME_MAX bytes");
}

Test(identity_parse, over_long_id) {
    /* IDENTITY_SPIFFE_MAX bytes: one too many, even with a valid shape */
    size_t name_len = 31;
    size_t td_len = IDENTITY_SPIFFE_MAX - 25 - name_len;
    char *td = malloc(td_len + 1);
    cr_assert_not_null(td);
    memset(td, 'd', td_len);
    td[td_len] = '\0';
    char id[IDENTITY_SPIFFE_MAX + 64];
    snprintf(id, sizeof id, "spiffe://%s/CN-TJ/registry/%0*d", td, (int)name_len, 7);
    cr_assert_eq(strlen(id), IDENTITY_SPIFFE_MAX);
    identity_t out;
    char err[ERR_LEN] = "";
    cr_expect_eq(identity_parse(id, td, &out, err, sizeof err), -1, "%zu-byte ID accepted",
                 strlen(id));
    cr_expect(strstr(err, "longer") != NULL, "reason: %s", err);
    /* and much longer: no overflow of the fixed buffers (ASan watches) */
    size_t big = 4096;
    char *huge = malloc(big + 1);
    cr_assert_not_null(huge);
    snprintf(huge, big + 1, "spiffe://" TD "/CN-TJ/registry/");
    size_t used = strlen(huge);
    memset(huge + used, 'n', big - used);
    huge[big] = '\0';
    cr_expect_eq(identity_parse(huge, TD, &out, err, sizeof err), -1);
    free(huge);
    free(td);
}

/* ---- identity_authorize ------------------------------------------------------------- */

#define OWN "CN-TJ"
static const char *const g_peers[] = {"CN-BJ", "CN-HE"};
#define PEERS_N 2

static const identity_service_t g_services[] = {SERVICE_HEALTH, SERVICE_REGISTRY,
                                                SERVICE_FEDERATION, SERVICE_OPERATIONS,
                                                SERVICE_AUDIT};
static const char *const g_service_names[] = {"Health", "Registry", "Federation", "Operations",
                                              "Audit"};
static const identity_role_t g_roles[] = {ROLE_GATEWAY, ROLE_REGISTRY, ROLE_OPERATOR,
                                          ROLE_AUDITOR};
/* caller regions: this gateway's, a configured peer's, a region of no one */
static const char *const g_regions[] = {OWN, "CN-BJ", "CN-SH"};

/* DESIGN.md §5, written out: [service][role] → allowed for own, peer, other. */
static const char *const g_table[5][4] = {
    /*              gateway registry operator auditor */
    /* Health     */ {"111", "111", "111", "111"},
    /* Registry   */ {"000", "100", "000", "000"},
    /* Federation */ {"010", "000", "000", "000"},
    /* Operations */ {"000", "000", "100", "000"},
    /* Audit      */ {"000", "000", "100", "110"},
};

static identity_t caller(const char *region, identity_role_t role) {
    identity_t c;
    memset(&c, 0, sizeof c);
    snprintf(c.region, sizeof c.region, "%s", region);
    c.role = role;
    snprintf(c.name, sizeof c.name, "x");
    snprintf(c.spiffe_id, sizeof c.spiffe_id, "spiffe://" TD "/%s/%s/x", region,
             identity_role_name(role));
    return c;
}

Test(identity_authorize, the_whole_table) {
    for (size_t s = 0; s < 5; s++)
        for (size_t r = 0; r < 4; r++)
            for (size_t g = 0; g < 3; g++) {
                identity_t c = caller(g_regions[g], g_roles[r]);
                char err[ERR_LEN] = "";
                int got = identity_authorize(&c, g_services[s], OWN, g_peers, PEERS_N, err,
                                             sizeof err);
                int want = g_table[s][r][g] == '1';
                cr_expect_eq(got, want, "%s by %s %s on %s: got %d, want %d (%s)",
                             g_service_names[s], g_regions[g], identity_role_name(g_roles[r]),
                             OWN, got, want, err);
                if (!got) cr_expect_neq(err[0], '\0', "refused without a reason");
            }
}

Test(identity_authorize, the_other_peer_region_too) {
    /* CN-HE is the second configured peer: same answers as CN-BJ */
    identity_t gw = caller("CN-HE", ROLE_GATEWAY);
    identity_t aud = caller("CN-HE", ROLE_AUDITOR);
    char err[ERR_LEN];
    cr_expect_eq(identity_authorize(&gw, SERVICE_FEDERATION, OWN, g_peers, PEERS_N, err, sizeof err), 1);
    cr_expect_eq(identity_authorize(&aud, SERVICE_AUDIT, OWN, g_peers, PEERS_N, err, sizeof err), 1);
    cr_expect_eq(identity_authorize(&gw, SERVICE_REGISTRY, OWN, g_peers, PEERS_N, err, sizeof err), 0);
}

Test(identity_authorize, no_identity_gets_health_only) {
    for (size_t s = 0; s < 5; s++) {
        char err[ERR_LEN] = "";
        int got = identity_authorize(NULL, g_services[s], OWN, g_peers, PEERS_N, err, sizeof err);
        cr_expect_eq(got, g_services[s] == SERVICE_HEALTH, "%s without an identity: %d (%s)",
                     g_service_names[s], got, err);
        if (!got) cr_expect_neq(err[0], '\0');
    }
    /* ROLE_NONE cannot come out of identity_parse, but is refused all the same */
    identity_t none = caller(OWN, ROLE_NONE);
    for (size_t s = 1; s < 5; s++) {
        char err[ERR_LEN] = "";
        cr_expect_eq(identity_authorize(&none, g_services[s], OWN, g_peers, PEERS_N, err,
                                        sizeof err),
                     0, "%s by ROLE_NONE allowed", g_service_names[s]);
    }
}

Test(identity_authorize, federation_needs_configured_peers) {
    identity_t gw = caller("CN-BJ", ROLE_GATEWAY);
    char err[ERR_LEN] = "";
    cr_expect_eq(identity_authorize(&gw, SERVICE_FEDERATION, OWN, NULL, 0, err, sizeof err), 0,
                 "a gateway was let in with no peers configured");
    /* an own-region gateway stays refused even if the peer list names us */
    static const char *const bad_peers[] = {"CN-BJ", OWN};
    identity_t own = caller(OWN, ROLE_GATEWAY);
    cr_expect_eq(identity_authorize(&own, SERVICE_FEDERATION, OWN, bad_peers, 2, err, sizeof err),
                 0, "own-region gateway on Federation");
    /* region comparison is exact, not a prefix match */
    identity_t prefix = caller("CN-B", ROLE_GATEWAY);
    cr_expect_eq(identity_authorize(&prefix, SERVICE_FEDERATION, OWN, g_peers, PEERS_N, err,
                                    sizeof err),
                 0, "CN-B taken for CN-BJ");
    identity_t reg = caller("CN-T", ROLE_REGISTRY);
    cr_expect_eq(identity_authorize(&reg, SERVICE_REGISTRY, OWN, g_peers, PEERS_N, err,
                                    sizeof err),
                 0, "CN-T taken for CN-TJ");
}

Test(identity_authorize, refusal_names_the_caller) {
    identity_t c = caller("CN-BJ", ROLE_REGISTRY);
    char err[ERR_LEN] = "";
    cr_assert_eq(identity_authorize(&c, SERVICE_REGISTRY, OWN, g_peers, PEERS_N, err, sizeof err), 0);
    cr_expect(strstr(err, "CN-BJ") != NULL && strstr(err, "registry") != NULL, "reason: %s", err);
}

Test(identity_role_name, names) {
    cr_expect_str_eq(identity_role_name(ROLE_NONE), "none");
    cr_expect_str_eq(identity_role_name(ROLE_GATEWAY), "gateway");
    cr_expect_str_eq(identity_role_name(ROLE_REGISTRY), "registry");
    cr_expect_str_eq(identity_role_name(ROLE_OPERATOR), "operator");
    cr_expect_str_eq(identity_role_name(ROLE_AUDITOR), "auditor");
}
