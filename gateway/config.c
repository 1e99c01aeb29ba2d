/* config.c - INI configuration for gatewayd (see config.h). */
#include "gateway/config.h"
#include "common/carbon_assert.h"

#include "gateway/rpc/region_address.h"
#include "settlement/store.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

CARBON_STATIC_ASSERT(CONFIG_REGION_SIZE == REGION_ADDRESS_REGION_SIZE &&
                         CONFIG_ADDRESS_MAX == REGION_ADDRESS_ADDRESS_MAX,
                     "a [peers] line fits what the shared parser accepts");

void config_defaults(gateway_config_t *cfg) {
    CARBON_ASSERT(cfg != NULL);
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->trust_domain, sizeof cfg->trust_domain, "jjj.carbon");
    snprintf(cfg->log_level, sizeof cfg->log_level, "info");
    snprintf(cfg->store_host, sizeof cfg->store_host, "127.0.0.1");
    cfg->workers = 4;
    cfg->store_port = 6379;
    cfg->store_connect_timeout_ms = 2000;
    cfg->store_command_timeout_ms = 5000;
    cfg->store_wait_timeout_ms = 1000;
    cfg->max_message_bytes = 4u << 20;
    cfg->batch_legs_max = 256;
    cfg->batch_window_ms = 0;
    cfg->leg_expiry_ms = 30000;
    cfg->peer_timeout_ms = 5000;
    cfg->recovery_interval_ms = 2000;
    cfg->heuristic_after_ms = 600000;
    cfg->peer_legs_in_flight_max = 20000;
    cfg->peer_requests_per_s = 500;
    cfg->checkpoint_interval_ms = 10000;
}

int config_region_valid(const char *s) { return region_code_valid(s); }

int config_metrics_listen_parse(const char *s, struct sockaddr_storage *ss, socklen_t *sslen) {
    CARBON_ASSERT(s != NULL && ss != NULL && sslen != NULL);
    char host[CONFIG_ADDRESS_MAX];
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s || colon[1] == '\0' || strlen(colon + 1) > 5) return -1;
    unsigned long port = 0;
    for (const char *c = colon + 1; *c != '\0'; c++) {
        if (*c < '0' || *c > '9') return -1;
        port = port * 10 + (unsigned long)(*c - '0');
    }
    if (port > 65535) return -1;
    size_t hlen = (size_t)(colon - s);
    if (hlen >= sizeof host) return -1;
    memset(ss, 0, sizeof *ss);
    if (s[0] == '[') {
        if (hlen < 3 || s[hlen - 1] != ']') return -1;
        memcpy(host, s + 1, hlen - 2);
        host[hlen - 2] = '\0';
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1 || !IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr))
            return -1;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *sslen = sizeof *a6;
        return 0;
    }
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1 || (ntohl(a4->sin_addr.s_addr) >> 24) != 127)
        return -1;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *sslen = sizeof *a4;
    return 0;
}

const char *config_peer_address(const gateway_config_t *cfg, const char *region) {
    CARBON_ASSERT(cfg != NULL && region != NULL && cfg->peers_n <= CONFIG_PEERS_MAX);
    for (size_t i = 0; i < cfg->peers_n; i++)
        if (strcmp(cfg->peers[i].region, region) == 0) return cfg->peers[i].address;
    return NULL;
}

typedef struct {
    gateway_config_t *cfg;
    const char *path;
    char base_dir[CONFIG_PATH_MAX];
    char *err;
    size_t errlen;
    int failed;
} config_parse_t;

/* Copies value into dst (size dstlen); fails if it does not fit. */
static int config_copy(config_parse_t *p, char *dst, size_t dstlen, const char *key,
                       const char *value) {
    if (strlen(value) >= dstlen) {
        snprintf(p->err, p->errlen, "value of '%s' is longer than %zu bytes", key, dstlen - 1);
        return 0;
    }
    memcpy(dst, value, strlen(value) + 1);
    return 1;
}

/* Resolves value against the configuration file's folder unless absolute. */
static int config_copy_path(config_parse_t *p, char *dst, const char *key, const char *value) {
    char joined[CONFIG_PATH_MAX * 2];
    if (value[0] == '/' || p->base_dir[0] == '\0')
        snprintf(joined, sizeof joined, "%s", value);
    else
        snprintf(joined, sizeof joined, "%s/%s", p->base_dir, value);
    return config_copy(p, dst, CONFIG_PATH_MAX, key, joined);
}

static int config_uint(config_parse_t *p, const char *key, const char *value, uint64_t min,
                       uint64_t max, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    if (value[0] == '\0' || value[0] == '-' || *end != '\0' || errno != 0 || v < min || v > max) {
        snprintf(p->err, p->errlen, "'%s' must be an integer in %llu..%llu, got '%s'",
                 key, (unsigned long long)min, (unsigned long long)max, value);
        return 0;
    }
    *out = v;
    return 1;
}

#define U32(field, min, max)                                                                    \
    do {                                                                                        \
        uint64_t v_;                                                                            \
        if (!config_uint(p, name, value, min, max, &v_)) return 0;                              \
        cfg->field = (uint32_t)v_;                                                              \
        return 1;                                                                               \
    } while (0)

/* Refuses a key its section does not know. Returns 0. */
static int config_unknown_key(config_parse_t *p, const char *section, const char *name) {
    snprintf(p->err, p->errlen, "unknown key '%s' in [%s]", name, section);
    return 0;
}

/* [gateway]: one key. 1, or 0 with the reason in p->err. */
static int config_on_gateway(config_parse_t *p, const char *name, const char *value) {
    gateway_config_t *cfg = p->cfg;
    uint64_t v;
    if (strcmp(name, "region") == 0) {
        if (!config_region_valid(value)) {
            snprintf(p->err, p->errlen, "region '%s' is not a region code like CN-TJ",
                     value);
            return 0;
        }
        return config_copy(p, cfg->region, sizeof cfg->region, name, value);
    }
    if (strcmp(name, "listen") == 0) return config_copy(p, cfg->listen, sizeof cfg->listen, name, value);
    if (strcmp(name, "catalog_dir") == 0) return config_copy_path(p, cfg->catalog_dir, name, value);
    if (strcmp(name, "activity_secret_file") == 0)
        return config_copy_path(p, cfg->activity_secret_file, name, value);
    if (strcmp(name, "trust_domain") == 0)
        return config_copy(p, cfg->trust_domain, sizeof cfg->trust_domain, name, value);
    if (strcmp(name, "log_level") == 0) {
        if (strcmp(value, "debug") && strcmp(value, "info") && strcmp(value, "warn") &&
            strcmp(value, "error")) {
            snprintf(p->err, p->errlen, "%s", "log_level must be debug, info, warn or error");
            return 0;
        }
        return config_copy(p, cfg->log_level, sizeof cfg->log_level, name, value);
    }
    if (strcmp(name, "workers") == 0) {
        if (!config_uint(p, name, value, 1, CONFIG_WORKERS_MAX, &v)) return 0;
        cfg->workers = (int)v;
        return 1;
    }
    return config_unknown_key(p, "gateway", name);
}

/* [tls]: one key. 1, or 0 with the reason in p->err. */
static int config_on_tls(config_parse_t *p, const char *name, const char *value) {
    gateway_config_t *cfg = p->cfg;
    if (strcmp(name, "cert") == 0) return config_copy_path(p, cfg->cert_path, name, value);
    if (strcmp(name, "key") == 0) return config_copy_path(p, cfg->key_path, name, value);
    if (strcmp(name, "ca") == 0) return config_copy_path(p, cfg->ca_path, name, value);
    if (strcmp(name, "crl_dir") == 0) return config_copy_path(p, cfg->crl_dir, name, value);
    return config_unknown_key(p, "tls", name);
}

/* [store]: the Sentinel and WAIT keys. 1, or 0 with the reason in p->err. */
static int config_on_store_ha(config_parse_t *p, const char *name, const char *value) {
    gateway_config_t *cfg = p->cfg;
    uint64_t v;
    if (strcmp(name, "sentinels") == 0) {
        store_config_t scratch;
        store_config_defaults(&scratch);
        char why[160];
        if (store_config_sentinels(&scratch, value, why, sizeof why) != 0) {
            snprintf(p->err, p->errlen, "%s", why);
            return 0;
        }
        return config_copy(p, cfg->store_sentinels, sizeof cfg->store_sentinels, name, value);
    }
    if (strcmp(name, "master_name") == 0) {
        for (const char *c = value; *c != '\0'; c++) {
            if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.') {
                snprintf(p->err, p->errlen, "master_name must be letters, digits, '-', '_', '.'");
                return 0;
            }
        }
        return config_copy(p, cfg->store_master_name, sizeof cfg->store_master_name, name, value);
    }
    if (strcmp(name, "min_replicas") == 0) {
        if (!config_uint(p, name, value, 0, STORE_REPLICAS_MAX, &v)) return 0;
        cfg->store_min_replicas = (int)v;
        return 1;
    }
    if (strcmp(name, "wait_timeout_ms") == 0) {
        if (!config_uint(p, name, value, 1, 600000, &v)) return 0;
        cfg->store_wait_timeout_ms = (int)v;
        return 1;
    }
    return config_unknown_key(p, "store", name);
}

/* [store]: one key. 1, or 0 with the reason in p->err. */
static int config_on_store(config_parse_t *p, const char *name, const char *value) {
    gateway_config_t *cfg = p->cfg;
    uint64_t v;
    if (strcmp(name, "host") == 0) return config_copy(p, cfg->store_host, sizeof cfg->store_host, name, value);
    if (strcmp(name, "port") == 0) {
        if (!config_uint(p, name, value, 1, 65535, &v)) return 0;
        cfg->store_port = (int)v;
        return 1;
    }
    if (strcmp(name, "user") == 0) return config_copy(p, cfg->store_user, sizeof cfg->store_user, name, value);
    if (strcmp(name, "password_file") == 0) return config_copy_path(p, cfg->store_password_file, name, value);
    if (strcmp(name, "connect_timeout_ms") == 0) {
        if (!config_uint(p, name, value, 10, 60000, &v)) return 0;
        cfg->store_connect_timeout_ms = (int)v;
        return 1;
    }
    if (strcmp(name, "command_timeout_ms") == 0) {
        if (!config_uint(p, name, value, 10, 600000, &v)) return 0;
        cfg->store_command_timeout_ms = (int)v;
        return 1;
    }
    return config_on_store_ha(p, name, value);
}

/* [limits] and [audit]: one key. 1, or 0 with the reason in p->err. */
static int config_on_limits(config_parse_t *p, const char *section, const char *name,
                            const char *value) {
    gateway_config_t *cfg = p->cfg;
    if (strcmp(section, "limits") == 0) {
        if (strcmp(name, "max_message_bytes") == 0) U32(max_message_bytes, 1024, CONFIG_MESSAGE_BYTES_MAX);
        if (strcmp(name, "batch_legs_max") == 0) U32(batch_legs_max, 1, CONFIG_BATCH_LEGS_MAX);
        if (strcmp(name, "batch_window_ms") == 0) U32(batch_window_ms, 0, 1000);
        if (strcmp(name, "leg_expiry_ms") == 0) U32(leg_expiry_ms, 100, CONFIG_LEG_EXPIRY_MS_MAX);
        if (strcmp(name, "peer_timeout_ms") == 0) U32(peer_timeout_ms, 10, 600000);
        if (strcmp(name, "recovery_interval_ms") == 0) U32(recovery_interval_ms, 10, 3600000);
        if (strcmp(name, "heuristic_after_ms") == 0) U32(heuristic_after_ms, 1000, 604800000);
        if (strcmp(name, "peer_legs_in_flight_max") == 0) U32(peer_legs_in_flight_max, 1, 10000000);
        if (strcmp(name, "peer_requests_per_s") == 0) U32(peer_requests_per_s, 1, 1000000);
    } else {
        if (strcmp(name, "signing_key") == 0)
            return config_copy_path(p, cfg->audit_signing_key, name, value);
        if (strcmp(name, "checkpoint_interval_ms") == 0) U32(checkpoint_interval_ms, 10, 86400000);
    }
    return config_unknown_key(p, section, name);
}

/* [metrics]: one key. 1, or 0 with the reason in p->err. */
static int config_on_metrics(config_parse_t *p, const char *name, const char *value) {
    gateway_config_t *cfg = p->cfg;
    if (strcmp(name, "listen") == 0) {
        struct sockaddr_storage ss;
        socklen_t sslen;
        if (value[0] != '\0' && config_metrics_listen_parse(value, &ss, &sslen) != 0) {
            snprintf(p->err, p->errlen,
                     "metrics listen '%.64s' is not a loopback HOST:PORT like 127.0.0.1:9101",
                     value);
            return 0;
        }
        return config_copy(p, cfg->metrics_listen, sizeof cfg->metrics_listen, name, value);
    }
    return config_unknown_key(p, "metrics", name);
}

/* One key = value line of section (inih's callback, through
 * config_ini_handler). 1, or 0 with the reason in p->err. */
static int config_on_key(config_parse_t *p, const char *section, const char *name,
                         const char *value) {
    CARBON_ASSERT(p != NULL && section != NULL && name != NULL && value != NULL);
    gateway_config_t *cfg = p->cfg;
    if (strcmp(section, "gateway") == 0) {
        return config_on_gateway(p, name, value);
    } else if (strcmp(section, "tls") == 0) {
        return config_on_tls(p, name, value);
    } else if (strcmp(section, "store") == 0) {
        return config_on_store(p, name, value);
    } else if (strcmp(section, "peers") == 0) {
        if (!config_region_valid(name)) {
            snprintf(p->err, p->errlen, "peer '%s' is not a region code like CN-BJ", name);
            return 0;
        }
        if (config_peer_address(cfg, name) != NULL) {
            snprintf(p->err, p->errlen, "peer %s is listed twice", name);
            return 0;
        }
        if (cfg->peers_n == CONFIG_PEERS_MAX) {
            snprintf(p->err, p->errlen, "more than %d peers", CONFIG_PEERS_MAX);
            return 0;
        }
        /* The one REGION = HOST:PORT parser, shared with gwctl's --targets. */
        region_address_t ra;
        char why[256];
        if (region_address_set(name, value, &ra, why, sizeof why) != 0) {
            snprintf(p->err, p->errlen, "[peers] %s", why);
            return 0;
        }
        config_peer_t *peer = &cfg->peers[cfg->peers_n];
        if (!config_copy(p, peer->region, sizeof peer->region, name, ra.region) ||
            !config_copy(p, peer->address, sizeof peer->address, name, ra.address))
            return 0;
        cfg->peers_n++;
        return 1;
    } else if (strcmp(section, "limits") == 0 || strcmp(section, "audit") == 0) {
        return config_on_limits(p, section, name, value);
    } else if (strcmp(section, "audit_keys") == 0) {
        for (size_t i = 0; i < cfg->peers_n; i++)
            if (strcmp(cfg->peers[i].region, name) == 0)
                return config_copy_path(p, cfg->audit_keys[i], name, value);
        snprintf(p->err, p->errlen, "[audit_keys] names %s, which is not a peer listed above",
                 name);
        return 0;
    } else if (strcmp(section, "metrics") == 0) {
        return config_on_metrics(p, name, value);
    } else {
        snprintf(p->err, p->errlen, "unknown section [%s]", section);
        return 0;
    }
}

static int config_ini_handler(void *user, const char *section, const char *name,
                              const char *value) {
    config_parse_t *p = user;
    if (p->failed) return 0;
    if (!config_on_key(p, section, name, value)) {
        p->failed = 1;
        return 0;
    }
    return 1;
}

/* Checks that a file can be opened for reading. */
static int config_check_readable(const char *cfg_path, const char *what, const char *path,
                                 int want_dir, char *err, size_t errlen) {
    struct stat st;
    if (path[0] == '\0') {
        snprintf(err, errlen, "%s: missing required key %s", cfg_path, what);
        return 0;
    }
    if (stat(path, &st) != 0 || access(path, R_OK) != 0) {
        snprintf(err, errlen, "%s: %s %s: %s", cfg_path, what, path, strerror(errno));
        return 0;
    }
    if (want_dir && !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: %s %s: not a directory", cfg_path, what, path);
        return 0;
    }
    if (!want_dir && !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: %s %s: not a regular file", cfg_path, what, path);
        return 0;
    }
    return 1;
}

/* inih (Debian's build) reads at most CONFIG_LINE_MAX bytes a line and
 * would misreport a longer one: refuse it first, naming its line. 1 if every
 * line of f fits, or 0 with "PATH:LINE: reason" in err. Reads f to its end. */
static int config_lines_fit(FILE *f, const char *path, char *err, size_t errlen) {
    CARBON_ASSERT(f != NULL && path != NULL);
    char line[CONFIG_LINE_MAX + 2];
    int lineno = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        if (strcspn(line, "\r\n") >= CONFIG_LINE_MAX - 1) {
            snprintf(err, errlen, "%s:%d: line longer than %d bytes", path, lineno,
                     CONFIG_LINE_MAX - 2);
            return 0;
        }
    }
    return 1;
}

/* The [store] keys that depend on each other. 0, or -1 with err. */
static int config_check_store(const char *path, const gateway_config_t *cfg, char *err, size_t errlen) {
    CARBON_ASSERT(path != NULL && cfg != NULL);
    if ((cfg->store_sentinels[0] != '\0') != (cfg->store_master_name[0] != '\0')) {
        snprintf(err, errlen, "%s: [store] sentinels and master_name go together", path);
        return -1;
    }
    if (cfg->store_min_replicas > 0 && cfg->store_wait_timeout_ms >= cfg->store_command_timeout_ms) {
        snprintf(err, errlen, "%s: [store] wait_timeout_ms (%d) must be below command_timeout_ms (%d)",
                 path, cfg->store_wait_timeout_ms, cfg->store_command_timeout_ms);
        return -1;
    }
    return 0;
}

int config_load(const char *path, gateway_config_t *cfg, char *err, size_t errlen) {
    CARBON_ASSERT(path != NULL && cfg != NULL && err != NULL && errlen > 0);
    config_parse_t p = {.cfg = cfg, .path = path, .err = err, .errlen = errlen};
    const char *slash = strrchr(path, '/');
    if (slash != NULL) {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof p.base_dir) n = sizeof p.base_dir - 1;
        memcpy(p.base_dir, path, n);
        p.base_dir[n] = '\0';
    }
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (!config_lines_fit(f, path, err, errlen)) {
        fclose(f);
        return -1;
    }
    rewind(f);
    err[0] = '\0';
    int rc = ini_parse_file(f, config_ini_handler, &p);
    fclose(f);
    if (rc != 0) {
        char reason[512];
        if (p.failed)
            snprintf(reason, sizeof reason, "%s", err);
        else
            snprintf(reason, sizeof reason, "syntax error (expected [section] or key = value)");
        snprintf(err, errlen, "%s:%d: %s", path, rc, reason);
        return -1;
    }
    if (cfg->region[0] == '\0') {
        snprintf(err, errlen, "%s: missing required key region in [gateway]", path);
        return -1;
    }
    if (cfg->listen[0] == '\0') {
        snprintf(err, errlen, "%s: missing required key listen in [gateway]", path);
        return -1;
    }
    if (config_check_store(path, cfg, err, errlen) != 0) return -1;
    if (config_peer_address(cfg, cfg->region) != NULL) {
        snprintf(err, errlen, "%s: [peers] names this gateway's own region %s", path, cfg->region);
        return -1;
    }
    if (!config_check_readable(path, "tls.cert", cfg->cert_path, 0, err, errlen) ||
        !config_check_readable(path, "tls.key", cfg->key_path, 0, err, errlen) ||
        !config_check_readable(path, "tls.ca", cfg->ca_path, 0, err, errlen) ||
        !config_check_readable(path, "tls.crl_dir", cfg->crl_dir, 1, err, errlen) ||
        !config_check_readable(path, "gateway.catalog_dir", cfg->catalog_dir, 1, err, errlen))
        return -1;
    if (cfg->audit_signing_key[0] != '\0' &&
        !config_check_readable(path, "audit.signing_key", cfg->audit_signing_key, 0, err, errlen))
        return -1;
    for (size_t i = 0; i < cfg->peers_n; i++)
        if (cfg->audit_keys[i][0] != '\0' &&
            !config_check_readable(path, "audit_keys", cfg->audit_keys[i], 0, err, errlen))
            return -1;
    if (cfg->store_password_file[0] != '\0' &&
        !config_check_readable(path, "store.password_file", cfg->store_password_file, 0, err, errlen))
        return -1;
    return 0;
}
