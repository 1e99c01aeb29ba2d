/* identity.c - SPIFFE ID parsing and the authorization table (identity.h). */
#include "gateway/identity.h"
#include "common/carbon_assert.h"

#include "gateway/config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static const char *const role_names[] = {"none", "gateway", "registry", "operator", "auditor"};

const char *identity_role_name(identity_role_t role) {
    CARBON_ASSERT(role >= ROLE_NONE && role <= ROLE_AUDITOR);
    return role_names[role];
}

static int identity_name_valid(const char *s, size_t n) {
    if (n == 0 || n >= IDENTITY_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '-' && c != '_' && c != '.') return 0;
    }
    return 1;
}

int identity_parse(const char *spiffe_id, const char *trust_domain, identity_t *out, char *err,
                   size_t errlen) {
    CARBON_ASSERT(spiffe_id != NULL && trust_domain != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    size_t len = strlen(spiffe_id);
    if (len >= IDENTITY_SPIFFE_MAX) {
        snprintf(err, errlen, "SPIFFE ID longer than %d bytes", IDENTITY_SPIFFE_MAX - 1);
        return -1;
    }
    static const char scheme[] = "spiffe://";
    if (strncmp(spiffe_id, scheme, sizeof scheme - 1) != 0) {
        snprintf(err, errlen, "'%s' is not a spiffe:// URI", spiffe_id);
        return -1;
    }
    const char *p = spiffe_id + sizeof scheme - 1;
    size_t td_len = strlen(trust_domain);
    if (strncmp(p, trust_domain, td_len) != 0 || p[td_len] != '/') {
        snprintf(err, errlen, "'%s' is not in trust domain %s", spiffe_id, trust_domain);
        return -1;
    }
    p += td_len + 1;
    const char *seg[3];
    size_t seg_len[3];
    for (int i = 0; i < 3; i++) {
        const char *slash = strchr(p, '/');
        if (i < 2 && slash == NULL) {
            snprintf(err, errlen, "'%s' lacks REGION/ROLE/NAME", spiffe_id);
            return -1;
        }
        if (i == 2 && slash != NULL) {
            snprintf(err, errlen, "'%s' has more than REGION/ROLE/NAME", spiffe_id);
            return -1;
        }
        seg[i] = p;
        seg_len[i] = slash != NULL ? (size_t)(slash - p) : strlen(p);
        p = slash != NULL ? slash + 1 : p + seg_len[i];
    }
    if (seg_len[0] >= sizeof out->region) {
        snprintf(err, errlen, "'%s': region too long", spiffe_id);
        return -1;
    }
    memcpy(out->region, seg[0], seg_len[0]);
    out->region[seg_len[0]] = '\0';
    if (!config_region_valid(out->region)) {
        snprintf(err, errlen, "'%s': '%s' is not a region code", spiffe_id, out->region);
        return -1;
    }
    out->role = ROLE_NONE;
    for (int r = ROLE_GATEWAY; r <= ROLE_AUDITOR; r++)
        if (strlen(role_names[r]) == seg_len[1] && strncmp(seg[1], role_names[r], seg_len[1]) == 0)
            out->role = (identity_role_t)r;
    if (out->role == ROLE_NONE) {
        snprintf(err, errlen, "'%s': unknown role '%.*s'", spiffe_id, (int)seg_len[1], seg[1]);
        return -1;
    }
    if (!identity_name_valid(seg[2], seg_len[2])) {
        snprintf(err, errlen, "'%s': bad workload name", spiffe_id);
        return -1;
    }
    memcpy(out->name, seg[2], seg_len[2]);
    out->name[seg_len[2]] = '\0';
    memcpy(out->spiffe_id, spiffe_id, len + 1);
    return 0;
}

static int identity_is_peer(const char *region, const char *const *peer_regions, size_t peers_n) {
    for (size_t i = 0; i < peers_n; i++)
        if (strcmp(region, peer_regions[i]) == 0) return 1;
    return 0;
}

int identity_authorize(const identity_t *caller, identity_service_t service,
                       const char *own_region, const char *const *peer_regions, size_t peers_n,
                       char *err, size_t errlen) {
    CARBON_ASSERT(own_region != NULL);
    if (service == SERVICE_HEALTH) return 1;
    if (caller == NULL) {
        snprintf(err, errlen, "the client certificate carries no valid SPIFFE ID");
        return 0;
    }
    int own = strcmp(caller->region, own_region) == 0;
    switch (service) {
    case SERVICE_REGISTRY:
        if (caller->role == ROLE_REGISTRY && own) return 1;
        snprintf(err, errlen, "Registry is for the registry of %s; caller is %s %s", own_region,
                 caller->region, identity_role_name(caller->role));
        return 0;
    case SERVICE_FEDERATION:
        if (caller->role == ROLE_GATEWAY && !own &&
            identity_is_peer(caller->region, peer_regions, peers_n))
            return 1;
        snprintf(err, errlen, "Federation is for peer gateways; caller is %s %s", caller->region,
                 identity_role_name(caller->role));
        return 0;
    case SERVICE_OPERATIONS:
        if (caller->role == ROLE_OPERATOR && own) return 1;
        snprintf(err, errlen, "Operations is for operators of %s; caller is %s %s", own_region,
                 caller->region, identity_role_name(caller->role));
        return 0;
    case SERVICE_AUDIT:
        if (caller->role == ROLE_AUDITOR &&
            (own || identity_is_peer(caller->region, peer_regions, peers_n)))
            return 1;
        if (caller->role == ROLE_OPERATOR && own) return 1;
        snprintf(err, errlen, "Audit is for auditors of the federation; caller is %s %s",
                 caller->region, identity_role_name(caller->role));
        return 0;
    case SERVICE_HEALTH:
        break;
    }
    return 1;
}
