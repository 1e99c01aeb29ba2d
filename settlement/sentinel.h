/* sentinel.h - asking Redis Sentinel where a region's primary is.
 *
 * hiredis 0.14 has no Sentinel support; this is the client side of the
 * Sentinel protocol with plain commands: connect to one Sentinel, send
 * SENTINEL get-master-addr-by-name NAME, read the two-element answer
 * (host, port). The store (store.c) asks each configured Sentinel in turn
 * and confirms the answer with ROLE on the primary itself.
 *
 * Sentinels are asked without AUTH: keep them on loopback or a private link.
 * Thread-safe (no shared state; each call uses its own connection). */
#ifndef SETTLEMENT_SENTINEL_H
#define SETTLEMENT_SENTINEL_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#define SENTINEL_HOST_MAX 64       /* bytes incl. NUL of a primary's host */
#define SENTINEL_TIMEOUT_MS_MAX 600000

/* Asks the Sentinel at host:port for the address of master_name, with
 * timeout_ms for the connection and for the answer. Returns 0 with the
 * primary's host (NUL-terminated, < hostlen) and port, or -1 with the reason
 * in err (unreachable Sentinel, unknown name, an answer that is not an
 * address). */
int sentinel_ask(const char *host, int port, const char *master_name, int timeout_ms,
                 char *host_out, size_t hostlen, int *port_out, char *err, size_t errlen);

/* Reads the answer to ROLE: 1 if it says "master", 0 if another role
 * (written to role, rolelen bytes, NUL-terminated), -1 if r is not a ROLE
 * answer. */
int sentinel_role_reply(const redisReply *r, char *role, size_t rolelen);

#endif
