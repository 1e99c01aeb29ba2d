/* region_address.h - the one parser of "REGION=HOST:PORT": gatewayd's
 * `[peers] REGION = HOST:PORT` lines and gwctl's --targets, GWCTL_TARGETS and
 * --stores lists "REGION=HOST:PORT,...". Both follow the same rules:
 *
 *   REGION  two upper-case letters, '-', then 1 to 3 upper-case letters or
 *           digits (ISO 3166-2 style: CN-TJ, CN-BJ, CN-HE)
 *   HOST    a DNS name or IPv4 address (letters, digits, '.', '-', '_'), or
 *           an IPv6 address in brackets ("[::1]"); never empty
 *   PORT    decimal digits, 1..65535
 *
 * with the whole HOST:PORT under REGION_ADDRESS_ADDRESS_MAX bytes. */
#ifndef GATEWAY_RPC_REGION_ADDRESS_H
#define GATEWAY_RPC_REGION_ADDRESS_H

#include "common/region.h"

#include <stddef.h>
#include <stdint.h>

#define REGION_ADDRESS_REGION_SIZE CARBON_REGION_SIZE /* bytes including NUL: "CN-TJ" */
#define REGION_ADDRESS_ADDRESS_MAX 128 /* bytes including NUL: "HOST:PORT" */
#define REGION_ADDRESS_LIST_MAX 16     /* items in one "REGION=HOST:PORT,..." list */
#define REGION_ADDRESS_LIST_BYTES_MAX (REGION_ADDRESS_LIST_MAX * \
                                       (REGION_ADDRESS_REGION_SIZE + REGION_ADDRESS_ADDRESS_MAX))

typedef struct {
    char region[REGION_ADDRESS_REGION_SIZE];
    char address[REGION_ADDRESS_ADDRESS_MAX]; /* HOST:PORT as given: a gRPC target */
    char host[REGION_ADDRESS_ADDRESS_MAX];    /* HOST without the brackets of IPv6 */
    uint16_t port;                            /* 1..65535 */
} region_address_t;

/* 1 if s is a region code (REGION above), else 0. s must not be NULL. */
int region_code_valid(const char *s);

/* Checks region and hostport ("HOST:PORT") and fills out. 0, or -1 with one
 * sentence in err naming what is wrong (out is then unspecified). No
 * argument may be NULL; errlen > 0. */
int region_address_set(const char *region, const char *hostport, region_address_t *out,
                       char *err, size_t errlen);

/* Parses one item "REGION=HOST:PORT" into out. 0, or -1 with the reason in
 * err. No argument may be NULL; errlen > 0. */
int region_address_parse(const char *item, region_address_t *out, char *err, size_t errlen);

/* Parses "REGION=HOST:PORT,REGION=HOST:PORT,..." into out[0..*n): at least
 * one item, at most max (<= REGION_ADDRESS_LIST_MAX), each region once, the
 * whole list under REGION_ADDRESS_LIST_BYTES_MAX bytes. 0, or -1 with the
 * reason (naming the bad item) in err. No argument may be NULL. */
int region_address_parse_list(const char *list, region_address_t *out, size_t max, size_t *n,
                              char *err, size_t errlen);

#endif
