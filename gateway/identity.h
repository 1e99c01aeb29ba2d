/* identity.h - caller identity from a SPIFFE ID, and the role/region table
 * of DESIGN.md §5. Pure functions: no gRPC here, so they are unit-tested alone.
 *
 * A SPIFFE ID is spiffe://TRUST-DOMAIN/REGION/ROLE/NAME with ROLE one of
 * gateway, registry, operator, auditor. */
#ifndef GATEWAY_IDENTITY_H
#define GATEWAY_IDENTITY_H

#include "common/region.h"

#include <stddef.h>

#define IDENTITY_SPIFFE_MAX 256 /* longest SPIFFE ID accepted, bytes */
#define IDENTITY_NAME_MAX 64

typedef enum {
    ROLE_NONE = 0,
    ROLE_GATEWAY,
    ROLE_REGISTRY,
    ROLE_OPERATOR,
    ROLE_AUDITOR,
} identity_role_t;

typedef struct {
    char region[CARBON_REGION_SIZE];
    identity_role_t role;
    char name[IDENTITY_NAME_MAX];
    char spiffe_id[IDENTITY_SPIFFE_MAX];
} identity_t;

/* The service a method belongs to, which decides who may call it. */
typedef enum {
    SERVICE_HEALTH = 0,
    SERVICE_REGISTRY,
    SERVICE_FEDERATION,
    SERVICE_OPERATIONS,
    SERVICE_AUDIT,
} identity_service_t;

/* Parses spiffe_id (NUL-terminated) for trust_domain into out. Returns 0, or
 * -1 with the reason in err: wrong scheme or trust domain, missing or extra
 * path segments, unknown role, bad region code, over-long ID. */
int identity_parse(const char *spiffe_id, const char *trust_domain, identity_t *out, char *err,
                   size_t errlen);

/* Decides whether caller may use service on the gateway of own_region whose
 * peers are peer_regions[0..peers_n). Returns 1 if allowed; 0 with the reason
 * in err otherwise. caller may be NULL (no parsable SPIFFE ID): only
 * SERVICE_HEALTH is allowed then. The table:
 *   HEALTH      anyone with a certificate the TLS layer accepted
 *   REGISTRY    role registry of own_region
 *   FEDERATION  role gateway of a configured peer region (never own_region)
 *   OPERATIONS  role operator of own_region
 *   AUDIT       role auditor of any federation region (read-only), or operator of own_region */
int identity_authorize(const identity_t *caller, identity_service_t service,
                       const char *own_region, const char *const *peer_regions, size_t peers_n,
                       char *err, size_t errlen);

/* "gateway", "registry", ...; "none" for ROLE_NONE. */
const char *identity_role_name(identity_role_t role);

#endif
