/* obligation.c - gwctl obligation register|show: a key emitter's obligation
 * for a compliance year, against which compliance offsetting is capped by
 * the region's rules on use (Operations.RegisterObligation / GetObligation;
 * README "Rules on use"). */
#include "gateway/gwctl/gwctl.h"
#include "common/carbon_assert.h"

#include "carbon/v1/carbon.pb-c.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char obligation_usage[] =
    "usage: gwctl obligation register --beneficiary TEXT --year YEAR --obligation-g N\n"
    "                                 [connection options]\n"
    "       gwctl obligation show --beneficiary TEXT --year YEAR [connection options]\n"
    "\n"
    "A key emitter's obligation (grams CO2e to surrender) for a compliance year.\n"
    "Retirements for compliance_offset with that beneficiary and compliance year\n"
    "are capped at the shares of it the region's rules on use allow, overall and\n"
    "with credits from outside the region.\n"
    "\n"
    "  register      records it; the same value again changes nothing, another\n"
    "                value replaces it (both audited as an 'obligation' entry)\n"
    "  show          the obligation, what was offset against it and the room left\n"
    "  --beneficiary TEXT  as retirements name it (1..256 bytes of UTF-8)\n"
    "  --year YEAR         the compliance year, 2000..2100\n"
    "  --obligation-g N    grams, 1 .. 2^50-1\n"
    "\n" GWCTL_CONN_HELP
    "The certificate must be an operator certificate of the gateway's region.\n" GWCTL_EXIT_HELP;

static int print_obligation(const ProtobufCMessage *m) {
    const Carbon__V1__ObligationResponse *r = (const Carbon__V1__ObligationResponse *)m;
    if (r->outcome[0] != '\0') printf("%s\n", r->outcome);
    if (!r->registered) {
        printf("no obligation of '%s' for %u is registered\n", r->beneficiary, r->compliance_year);
        return GWCTL_EXIT_OK;
    }
    printf("obligation of '%s' for %u: %" PRIu64 " g\n", r->beneficiary, r->compliance_year,
           r->obligation_g);
    printf("  offset %" PRIu64 " g, of which from outside the region %" PRIu64 " g\n", r->offset_g,
           r->offset_outside_g);
    printf("  room left %" PRIu64 " g, from outside the region %" PRIu64 " g\n", r->room_g, r->room_outside_g);
    return GWCTL_EXIT_OK;
}

int gwctl_obligation(int argc, char **argv) {
    CARBON_ASSERT(argc >= 1 && argv != NULL && argv[0] != NULL);
    if (argc < 2 || (strcmp(argv[1], "register") != 0 && strcmp(argv[1], "show") != 0)) {
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            fputs(obligation_usage, stdout);
            return GWCTL_EXIT_OK;
        }
        fputs(obligation_usage, stderr);
        return GWCTL_EXIT_USAGE;
    }
    int reg = strcmp(argv[1], "register") == 0;
    const char *beneficiary = NULL, *year = NULL, *grams = NULL;
    gwctl_conn_t conn;
    const gwctl_opt_t opts[] = {{"beneficiary", 1, &beneficiary, NULL}, {"year", 1, &year, NULL},
                                {"obligation-g", 1, &grams, NULL}, {0}};
    int rc = gwctl_parse(argc - 1, argv + 1, opts, &conn, obligation_usage);
    if (rc != 0) return rc > 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_USAGE;
    uint64_t y = 0, g = 0;
    if (beneficiary == NULL || year == NULL || gwctl_parse_u64(year, &y) != 0 || y > 9999 ||
        (reg && (grams == NULL || gwctl_parse_u64(grams, &g) != 0)) || (!reg && grams != NULL)) {
        fprintf(stderr, "gwctl obligation %s: --beneficiary, --year%s are required\n", argv[1],
                reg ? " and a whole --obligation-g" : "");
        return GWCTL_EXIT_USAGE;
    }
    const gwctl_reply_t reply = {.print = print_obligation};
    if (reg) {
        Carbon__V1__RegisterObligationRequest req = CARBON__V1__REGISTER_OBLIGATION_REQUEST__INIT;
        req.beneficiary = (char *)beneficiary;
        req.compliance_year = (uint32_t)y;
        req.obligation_g = g;
        return gwctl_service_call(&conn, "Operations", "RegisterObligation", &req.base,
                                  &carbon__v1__obligation_response__descriptor, &reply, NULL);
    }
    Carbon__V1__GetObligationRequest req = CARBON__V1__GET_OBLIGATION_REQUEST__INIT;
    req.beneficiary = (char *)beneficiary;
    req.compliance_year = (uint32_t)y;
    return gwctl_service_call(&conn, "Operations", "GetObligation", &req.base,
                              &carbon__v1__obligation_response__descriptor, &reply, NULL);
}
