/* test_region_address.c - unit tests of gateway/rpc/region_address.h: the
 * one "REGION=HOST:PORT" parser of gatewayd's [peers] and gwctl's --targets
 * and --stores, at its boundaries. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/rpc/region_address.h"

/* A malloc'd string of n copies of c (caller frees). */
static char *repeat(char c, size_t n) {
    char *s = malloc(n + 1);
    cr_assert_not_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

Test(region_address, region_codes) {
    static const char *const good[] = {"CN-TJ", "CN-BJ", "CN-HE", "CN-X", "CN-ABC", "US-1",
                                       "CN-A1B"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_expect(region_code_valid(good[i]), "'%s' refused", good[i]);
    static const char *const bad[] = {"",       "CN",      "CN-",     "cn-tj",  "CN-tj",
                                      "CNTJ",   "C-TJ",    "CN_TJ",   "CN-ABCD", "CN-T J",
                                      "1N-TJ",  "CN-TJ\n", "CN-T-J",  "CN-TJ "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_not(region_code_valid(bad[i]), "'%s' accepted", bad[i]);
}

Test(region_address, good_items) {
    region_address_t a;
    char err[256];
    cr_assert_eq(region_address_parse("CN-TJ=127.0.0.1:7001", &a, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(a.region, "CN-TJ");
    cr_expect_str_eq(a.address, "127.0.0.1:7001");
    cr_expect_str_eq(a.host, "127.0.0.1");
    cr_expect_eq(a.port, 7001);
    cr_assert_eq(region_address_parse("CN-BJ=gw.bj.example_1-a:1", &a, err, sizeof err), 0);
    cr_expect_str_eq(a.host, "gw.bj.example_1-a");
    cr_expect_eq(a.port, 1);
    cr_assert_eq(region_address_parse("CN-HE=[::1]:65535", &a, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(a.address, "[::1]:65535", "the gRPC target keeps its brackets");
    cr_expect_str_eq(a.host, "::1", "the host loses them");
    cr_expect_eq(a.port, 65535);
    cr_assert_eq(region_address_parse("CN-HE=[fe80::1:2]:443", &a, err, sizeof err), 0);
    cr_expect_str_eq(a.host, "fe80::1:2");
}

Test(region_address, bad_items) {
    static const char *const bad[] = {
        "",                    /* nothing */
        "CN-TJ",               /* no '=' */
        "CN-TJ=",              /* no address */
        "CN-TJ=127.0.0.1",     /* no port */
        "CN-TJ=:7001",         /* empty host */
        "CN-TJ=127.0.0.1:",    /* empty port */
        "CN-TJ=127.0.0.1:0",   /* port 0 */
        "CN-TJ=127.0.0.1:65536", /* port over 65535 */
        "CN-TJ=127.0.0.1:99999999999999999999", /* a port that wraps */
        "CN-TJ=127.0.0.1:+80", "CN-TJ=127.0.0.1:-1", "CN-TJ=127.0.0.1:80x",
        "CN-TJ=127.0.0.1: 80",
        "CN-TJ=host name:80",  /* space in the host */
        "CN-TJ=h,x:80",        /* not reachable through a list, but as one item */
        "CN-TJ=::1:7001",      /* IPv6 without brackets */
        "CN-TJ=[::1]",         /* IPv6 without a port */
        "CN-TJ=[]:7001",       /* empty IPv6 */
        "CN-TJ=[::1:7001",     /* unclosed bracket */
        "CN-TJ=[g::1]:7001",   /* not hex */
        "cn-tj=127.0.0.1:7001", /* region syntax */
        "=127.0.0.1:7001",     /* empty region */
        "CN-TJXXXXXXXXXXXXXXXXXXX=127.0.0.1:7001", /* region longer than the field */
        "CN-TJ=127.0.0.1:7001\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        region_address_t a;
        char err[256] = "";
        cr_expect_eq(region_address_parse(bad[i], &a, err, sizeof err), -1, "'%s' accepted", bad[i]);
        cr_expect_neq(err[0], '\0', "'%s' refused without a reason", bad[i]);
    }
}

Test(region_address, address_length_limit) {
    char err[256];
    region_address_t a;
    /* HOST:PORT of exactly REGION_ADDRESS_ADDRESS_MAX - 1 bytes fits ... */
    char *host = repeat('h', REGION_ADDRESS_ADDRESS_MAX - 1 - strlen(":7001"));
    char addr[REGION_ADDRESS_ADDRESS_MAX + 8];
    snprintf(addr, sizeof addr, "%s:7001", host);
    cr_expect_eq(region_address_set("CN-TJ", addr, &a, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(a.address, addr);
    /* ... one more byte does not. */
    snprintf(addr, sizeof addr, "%sh:7001", host);
    cr_expect_eq(region_address_set("CN-TJ", addr, &a, err, sizeof err), -1);
    cr_expect(strstr(err, "longer than") != NULL, "%s", err);
    free(host);
}

Test(region_address, messages_name_the_problem) {
    char err[256];
    region_address_t a;
    cr_assert_eq(region_address_set("cn-bj", "127.0.0.1:7001", &a, err, sizeof err), -1);
    cr_expect_str_eq(err, "'cn-bj' is not a region code like CN-TJ");
    cr_assert_eq(region_address_set("CN-BJ", "127.0.0.1:0", &a, err, sizeof err), -1);
    cr_expect_str_eq(err, "the address of CN-BJ, '127.0.0.1:0', is not HOST:PORT: the port must "
                          "be a number in 1..65535");
    cr_assert_eq(region_address_set("CN-BJ", ":7001", &a, err, sizeof err), -1);
    cr_expect(strstr(err, "the host is empty") != NULL, "%s", err);
}

Test(region_address, lists) {
    region_address_t out[REGION_ADDRESS_LIST_MAX];
    size_t n = 99;
    char err[256];
    cr_assert_eq(region_address_parse_list("CN-TJ=127.0.0.1:1,CN-BJ=[::1]:2,CN-HE=h:3", out,
                                           REGION_ADDRESS_LIST_MAX, &n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(n, 3);
    cr_expect_str_eq(out[1].region, "CN-BJ");
    cr_expect_str_eq(out[1].host, "::1");
    cr_expect_eq(out[2].port, 3);
    static const char *const bad[] = {"", ",", "CN-TJ=h:1,", ",CN-TJ=h:1", "CN-TJ=h:1,,CN-BJ=h:2",
                                      "CN-TJ=h:1,CN-TJ=h:2", "CN-TJ=h:1;CN-BJ=h:2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(region_address_parse_list(bad[i], out, REGION_ADDRESS_LIST_MAX, &n, err,
                                               sizeof err), -1, "'%s' accepted", bad[i]);
    cr_expect_eq(region_address_parse_list("CN-TJ=h:1,CN-BJ=h:2", out, 1, &n, err, sizeof err), -1,
                 "more items than max");
    cr_expect(strstr(err, "more than 1") != NULL, "%s", err);
}

Test(region_address, list_length_limit) {
    region_address_t out[REGION_ADDRESS_LIST_MAX];
    size_t n;
    char err[256];
    char *huge = repeat('A', REGION_ADDRESS_LIST_BYTES_MAX);
    cr_expect_eq(region_address_parse_list(huge, out, REGION_ADDRESS_LIST_MAX, &n, err, sizeof err), -1);
    cr_expect(strstr(err, "longer than") != NULL, "%s", err);
    free(huge);
}
