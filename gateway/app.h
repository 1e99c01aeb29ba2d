/* app.h - the state a gateway's handlers share (gateway.c builds it). */
#ifndef GATEWAY_APP_H
#define GATEWAY_APP_H

#include "adapters/catalog_set.h"
#include "gateway/config.h"
#include "gateway/server.h"
#include "settlement/engine.h"
#include "settlement/note.h"
#include "settlement/store.h"

#include <grpc/grpc.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>

typedef struct peers peers_t;

struct gateway {
    gateway_config_t cfg;
    const char *peer_regions[CONFIG_PEERS_MAX];
    grpc_server_credentials *creds; /* owned by tls */
    struct tls_server *tls;         /* gateway/tls.h: reloaded on SIGHUP */
    server_t *server;
    catalog_set_t *catalogs;
    store_config_t store_cfg;
    peers_t *peers;
    engine_t *engine;
    struct use_reports *use_reports; /* settlement/use_reports.h: reports of use abroad */
    struct group_commit *group; /* settlement/group_commit.h: Transfer holds, Issue, Retire */
    struct peer_rate *peer_rate; /* gateway/peer_rate.h: Federation calls per peer per second */
    /* calls to a serials' origin that one source's Prepares and Decides may
     * make this region send, per second (a quarter of peer_requests_per_s):
     * a source must not spend this region's budget at that origin */
    struct peer_rate *origin_asks;
    struct metrics *metrics; /* gateway/metrics.h */
    int started;
    /* audit checkpoints and witnessing (settlement/witness.h, services/checkpointer.c) */
    EVP_PKEY *audit_key;                       /* NULL: this gateway signs and cosigns nothing */
    note_verifier_t peer_log_vkeys[CONFIG_PEERS_MAX];     /* jjj.carbon/PEER/audit, type 0x01 */
    note_verifier_t peer_witness_vkeys[CONFIG_PEERS_MAX]; /* jjj.carbon/PEER/witness, type 0x04 */
    pthread_t checkpointer;
    int checkpointer_started;
    pthread_mutex_t checkpointer_lock;
    pthread_cond_t checkpointer_wake;
    int checkpointer_stop;
    struct integrator *integrator; /* gateway/integrator.h: the audit log's tree */
    struct activities *activities; /* services/activities.h; NULL: activities not keyed */
    char lease_owner[64];          /* this gateway's name for leases: host:pid:nonce */
    _Atomic int regions_differ[CONFIG_PEERS_MAX]; /* gateway/region_set.h: 1 = peer i counts
                                                     other regions */
    struct sentinel_watch *sentinel_watch; /* settlement/sentinel_watch.h; NULL without Sentinels */
};

/* Per server thread: its own store connection (hiredis is not thread-safe). */
typedef struct {
    store_t *store; /* NULL while the store is unreachable; reopened on demand */
    int index;
} gateway_worker_t;

/* The worker's store, (re)opened if needed; NULL if unreachable. */
store_t *gateway_worker_store(struct gateway *gw, gateway_worker_t *w);

/* The store of the thread serving call; when it is unreachable, answers the
 * call UNAVAILABLE (STORE_UNAVAILABLE) and returns NULL. */
store_t *gateway_call_store(server_call_t *call);

/* Request-field checks shared by the handlers: 1 if valid; else the call is
 * answered INVALID_ARGUMENT (BAD_ID / BAD_ACCOUNT_ID, naming field) and 0. */
int gateway_require_request_id(server_call_t *call, const char *id, const char *field);
int gateway_require_account_id(server_call_t *call, const char *id, const char *field);

#endif
