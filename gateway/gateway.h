/* gateway.h - one region's gateway: configuration, catalogs, the gRPC server
 * and (from the settlement issue on) the settlement engine, wired together. */
#ifndef GATEWAY_GATEWAY_H
#define GATEWAY_GATEWAY_H

#include "gateway/config.h"

#include <stddef.h>

typedef struct gateway gateway_t;

/* Builds everything that can fail on bad input (credentials, catalogs,
 * listening socket) without serving yet. NULL with a one-line reason naming
 * the file or address at fault. cfg is copied. Needs grpc_init(). */
gateway_t *gateway_create(const gateway_config_t *cfg, char *err, size_t errlen);

/* gatewayd --check-config: loads and checks what cfg names (the listen
 * address's form, catalogs, store password file, audit keys, TLS
 * certificate, key, CA and CRLs, peers' credentials) as gateway_create does,
 * but binds no port and connects nowhere, so it works on the configuration
 * of a running gateway. 0, or -1 with a one-line reason. Needs grpc_init(). */
int gateway_check_config(const gateway_config_t *cfg, char *err, size_t errlen);

/* Starts serving. First claims the store for this region (store.h,
 * STORE_REGION_KEY): a store that names another region fails the start,
 * logged as "store_of_another_region" naming the store and both regions.
 * 0, or -1 with the reason. */
int gateway_start(gateway_t *gw, char *err, size_t errlen);

/* SIGHUP: reloads the TLS certificate, key, CA and CRLs, then the catalogs.
 * Whatever does not load is logged and the previous version kept. */
void gateway_reload(gateway_t *gw);

/* Stops accepting calls and finishes the calls in flight. */
void gateway_stop(gateway_t *gw);

/* Frees everything (after gateway_stop, or instead of start). */
void gateway_destroy(gateway_t *gw);

#endif
