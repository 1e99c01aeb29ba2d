/* config.h - gatewayd configuration, read from an INI file with libinih.
 *
 *   [gateway]  region, listen (HOST:PORT), catalog_dir, trust_domain, log_level,
 *              workers (server threads, each with its own store connection),
 *              activity_secret_file (the federation secret that keys activity
 *              fingerprints, settlement/activity_key.h, the same file in every
 *              region; empty: an activity is unique within this region only)
 *   [tls]      cert, key, ca (PEM files), crl_dir (hashed CRL files, `openssl rehash`)
 *   [store]    host, port, user, password_file, connect_timeout_ms, command_timeout_ms,
 *              sentinels (HOST:PORT,... : follow the primary through Redis Sentinel;
 *              host/port are then unused), master_name (the Sentinels' name of this
 *              region's primary), min_replicas (WAIT for that many replicas after
 *              every commit point before answering; 0 = no WAIT), wait_timeout_ms
 *   [peers]    REGION = HOST:PORT, one line per other region
 *   [limits]   max_message_bytes, batch_legs_max, batch_window_ms, leg_expiry_ms,
 *              peer_timeout_ms, recovery_interval_ms, heuristic_after_ms (how long
 *              a coordinator must have failed recovery's QueryDecision attempts
 *              before an operator may force a decision: ResolveInDoubt),
 *              peer_legs_in_flight_max (legs one peer may have prepared here,
 *              undecided), peer_requests_per_s (Federation calls one peer may
 *              make per second, a burst of as many)
 *   [audit]    signing_key (Ed25519 PEM, separate from the TLS key; empty: no
 *              checkpoints), checkpoint_interval_ms
 *   [audit_keys] REGION = PATH of a peer's Ed25519 public key (PEM): checkpoints
 *              received from that peer must verify with it
 *   [metrics]  listen: loopback HOST:PORT (127.0.0.0/8 or [::1]) of the Prometheus
 *              endpoint (gateway/metrics.h); port 0 picks one; empty: no endpoint
 *
 * Relative paths are taken relative to the configuration file's folder. */
#ifndef GATEWAY_CONFIG_H
#define GATEWAY_CONFIG_H

#include "common/carbon_assert.h"
#include "settlement/engine.h"
#include "settlement/ledger.h"
#include "common/region.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CONFIG_REGION_SIZE CARBON_REGION_SIZE /* bytes including NUL (common/region.h) */
#define CONFIG_PATH_MAX 512
#define CONFIG_LINE_MAX 200           /* inih's line buffer (Debian build), newline included */
#define CONFIG_ADDRESS_MAX 128
#define CONFIG_TRUST_DOMAIN_MAX 64    /* bytes including NUL: "jjj.carbon" */
#define CONFIG_PEERS_MAX ENGINE_PEERS_MAX /* every peer gets a batcher of the engine */
#define CONFIG_WORKERS_MAX 64
#define CONFIG_MESSAGE_BYTES_MAX (64u << 20)
#define CONFIG_BATCH_LEGS_MAX LEDGER_BATCH_LEGS_MAX /* a batch is one script call */
#define CONFIG_LEG_EXPIRY_MS_MAX 86400000u /* a day: the longest a leg may wait for its decision */

/* gateway_create copies [peers] into engine_config_t.peers and batch_legs_max
 * into the engine, whose batches are single ledger script calls. */
CARBON_STATIC_ASSERT(CONFIG_PEERS_MAX <= ENGINE_PEERS_MAX, "every configured peer fits the engine");
CARBON_STATIC_ASSERT(CONFIG_BATCH_LEGS_MAX <= LEDGER_BATCH_LEGS_MAX,
                     "a batch of batch_legs_max legs fits one ledger script call");

typedef struct {
    char region[CONFIG_REGION_SIZE];
    char address[CONFIG_ADDRESS_MAX];
} config_peer_t;

typedef struct {
    /* [gateway] */
    char region[CONFIG_REGION_SIZE];
    char listen[CONFIG_ADDRESS_MAX];
    char catalog_dir[CONFIG_PATH_MAX];
    char activity_secret_file[CONFIG_PATH_MAX]; /* settlement/activity_key.h; "": activities
                                                  unique within this region only */
    char trust_domain[CONFIG_TRUST_DOMAIN_MAX];
    char log_level[16];
    int workers;
    /* [tls] */
    char cert_path[CONFIG_PATH_MAX];
    char key_path[CONFIG_PATH_MAX];
    char ca_path[CONFIG_PATH_MAX];
    char crl_dir[CONFIG_PATH_MAX];
    /* [store] */
    char store_host[64];
    int store_port;
    char store_user[64];
    char store_password_file[CONFIG_PATH_MAX];
    int store_connect_timeout_ms;
    int store_command_timeout_ms;
    char store_sentinels[CONFIG_LINE_MAX]; /* "" = one Redis at store_host:store_port */
    char store_master_name[64];
    int store_min_replicas;                /* 0..16, default 0 */
    int store_wait_timeout_ms;             /* 1..600000, default 1000, < command_timeout_ms */
    /* [peers] */
    config_peer_t peers[CONFIG_PEERS_MAX];
    size_t peers_n;
    /* [limits] */
    uint32_t max_message_bytes;
    uint32_t batch_legs_max;
    uint32_t batch_window_ms;
    uint32_t leg_expiry_ms;
    uint32_t peer_timeout_ms;
    uint32_t recovery_interval_ms;
    uint32_t heuristic_after_ms; /* 1000..604800000, default 600000 (10 min) */
    uint32_t peer_legs_in_flight_max;
    uint32_t peer_requests_per_s;
    /* [audit] */
    char audit_signing_key[CONFIG_PATH_MAX];
    uint32_t checkpoint_interval_ms;
    char audit_keys[CONFIG_PEERS_MAX][CONFIG_PATH_MAX]; /* by index of peers[] */
    /* [metrics] */
    char metrics_listen[CONFIG_ADDRESS_MAX]; /* empty: no metrics endpoint */
} gateway_config_t;

/* Fills defaults (everything optional gets a value; required fields empty). */
void config_defaults(gateway_config_t *cfg);

/* Loads path into cfg (after config_defaults). Returns 0, or -1 with a
 * one-line message "PATH:LINE: reason" (or "PATH: reason") in err. Checks
 * required keys, ranges, region codes, that peers do not name our region,
 * and that the certificate, key, CA files and CRL folder are readable. */
int config_load(const char *path, gateway_config_t *cfg, char *err, size_t errlen);

/* Returns the peer's address for a region, or NULL if it is not a peer. */
const char *config_peer_address(const gateway_config_t *cfg, const char *region);

/* True if s is a region code: "CN-" followed by two upper-case letters, or
 * more generally 2 letters, '-', 1..3 alphanumerics (ISO 3166-2). */
int config_region_valid(const char *s);

/* The [metrics] listen address: "A.B.C.D:PORT" (127.0.0.0/8) or
 * "[::1]:PORT", PORT 0..65535 (0: the system picks one). 0 with the socket
 * address in *ss and its length in *sslen (what gateway/metrics.c binds),
 * or -1 if s is not such an address. */
int config_metrics_listen_parse(const char *s, struct sockaddr_storage *ss, socklen_t *sslen);

#endif
