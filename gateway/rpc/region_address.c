/* region_address.c - "REGION=HOST:PORT" for gatewayd and gwctl; see
 * region_address.h. */
#include "gateway/rpc/region_address.h"
#include "common/carbon_assert.h"

#include <stdio.h>
#include <string.h>

#define REGION_CODE_LEN_MIN 4 /* "CN-X" */
#define REGION_CODE_LEN_MAX 6 /* "CN-ABC" */
#define PORT_DIGITS_MAX 5

CARBON_STATIC_ASSERT(REGION_CODE_LEN_MAX < REGION_ADDRESS_REGION_SIZE,
                     "a region code and its NUL fit in region_address_t.region");

static int is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

int region_code_valid(const char *s) {
    CARBON_ASSERT(s != NULL);
    size_t n = strnlen(s, REGION_CODE_LEN_MAX + 1);
    if (n < REGION_CODE_LEN_MIN || n > REGION_CODE_LEN_MAX) return 0;
    if (!is_upper(s[0]) || !is_upper(s[1]) || s[2] != '-') return 0;
    for (size_t i = 3; i < n; i++)
        if (!is_upper(s[i]) && !is_digit(s[i])) return 0;
    return 1;
}

/* 1 if c may appear in a DNS name or an IPv4 address. */
static int host_char(char c) {
    return is_upper(c) || (c >= 'a' && c <= 'z') || is_digit(c) || c == '.' || c == '-' || c == '_';
}

/* 1 if c may appear inside the brackets of an IPv6 address. */
static int ipv6_char(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}

/* Checks the host text [p, p+n) (brackets included for IPv6) and copies it
 * without brackets into host[REGION_ADDRESS_ADDRESS_MAX]. 0, or -1 with err. */
static int parse_host(const char *p, size_t n, char *host, char *err, size_t errlen) {
    CARBON_ASSERT(n < REGION_ADDRESS_ADDRESS_MAX);
    if (n == 0) {
        snprintf(err, errlen, "the host is empty");
        return -1;
    }
    int (*ok)(char) = host_char;
    if (p[0] == '[') {
        if (n < 3 || p[n - 1] != ']') {
            snprintf(err, errlen, "an IPv6 host is written [ADDRESS], e.g. [::1]:7001");
            return -1;
        }
        p++;
        n -= 2;
        ok = ipv6_char;
    }
    for (size_t i = 0; i < n; i++)
        if (!ok(p[i])) {
            snprintf(err, errlen, "the host has a character that is not allowed there ('%c')",
                     (unsigned char)p[i] >= 0x20 && p[i] != 0x7f ? p[i] : '?');
            return -1;
        }
    memcpy(host, p, n);
    host[n] = '\0';
    return 0;
}

/* The decimal port text s into *port (1..65535). 0, or -1 with err. */
static int parse_port(const char *s, uint16_t *port, char *err, size_t errlen) {
    size_t n = strlen(s);
    uint32_t v = 0;
    for (size_t i = 0; i < n && i <= PORT_DIGITS_MAX; i++) {
        if (!is_digit(s[i])) break;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (n == 0 || n > PORT_DIGITS_MAX || strspn(s, "0123456789") != n || v < 1 || v > 65535) {
        snprintf(err, errlen, "the port must be a number in 1..65535");
        return -1;
    }
    *port = (uint16_t)v;
    return 0;
}

int region_address_set(const char *region, const char *hostport, region_address_t *out,
                       char *err, size_t errlen) {
    CARBON_ASSERT(region != NULL && hostport != NULL && out != NULL);
    CARBON_ASSERT(err != NULL && errlen > 0);
    memset(out, 0, sizeof *out);
    if (!region_code_valid(region)) {
        snprintf(err, errlen, "'%.32s' is not a region code like CN-TJ", region);
        return -1;
    }
    size_t n = strnlen(hostport, REGION_ADDRESS_ADDRESS_MAX);
    if (n == REGION_ADDRESS_ADDRESS_MAX) {
        snprintf(err, errlen, "the address of %s is longer than %d bytes", region,
                 REGION_ADDRESS_ADDRESS_MAX - 1);
        return -1;
    }
    const char *colon = strrchr(hostport, ':');
    const char *bracket = strrchr(hostport, ']');
    char why[96];
    if (colon == NULL || (bracket != NULL && colon < bracket)) {
        snprintf(err, errlen, "the address of %s, '%s', is not HOST:PORT", region, hostport);
        return -1;
    }
    if (parse_host(hostport, (size_t)(colon - hostport), out->host, why, sizeof why) != 0 ||
        parse_port(colon + 1, &out->port, why, sizeof why) != 0) {
        snprintf(err, errlen, "the address of %s, '%s', is not HOST:PORT: %s", region, hostport,
                 why);
        return -1;
    }
    memcpy(out->region, region, strlen(region) + 1);
    memcpy(out->address, hostport, n + 1);
    return 0;
}

int region_address_parse(const char *item, region_address_t *out, char *err, size_t errlen) {
    CARBON_ASSERT(item != NULL && out != NULL && err != NULL && errlen > 0);
    const char *eq = strchr(item, '=');
    if (eq == NULL || (size_t)(eq - item) >= REGION_ADDRESS_REGION_SIZE) {
        snprintf(err, errlen, "'%.160s' is not REGION=HOST:PORT", item);
        return -1;
    }
    char region[REGION_ADDRESS_REGION_SIZE];
    memcpy(region, item, (size_t)(eq - item));
    region[eq - item] = '\0';
    return region_address_set(region, eq + 1, out, err, errlen);
}

int region_address_parse_list(const char *list, region_address_t *out, size_t max, size_t *n,
                              char *err, size_t errlen) {
    CARBON_ASSERT(list != NULL && out != NULL && n != NULL && err != NULL && errlen > 0);
    CARBON_ASSERT(max > 0 && max <= REGION_ADDRESS_LIST_MAX);
    *n = 0;
    char buf[REGION_ADDRESS_LIST_BYTES_MAX];
    if (strnlen(list, sizeof buf) == sizeof buf) {
        snprintf(err, errlen, "the list is longer than %zu bytes", sizeof buf - 1);
        return -1;
    }
    snprintf(buf, sizeof buf, "%s", list);
    for (char *item = buf, *next; item != NULL; item = next) {
        next = strchr(item, ',');
        if (next != NULL) *next++ = '\0';
        if (*n == max) {
            snprintf(err, errlen, "more than %zu items", max);
            return -1;
        }
        if (region_address_parse(item, &out[*n], err, errlen) != 0) return -1;
        for (size_t k = 0; k < *n; k++)
            if (strcmp(out[k].region, out[*n].region) == 0) {
                snprintf(err, errlen, "%s is listed twice", out[k].region);
                return -1;
            }
        (*n)++;
    }
    return 0;
}
