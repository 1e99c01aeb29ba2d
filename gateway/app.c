/* app.c - what every service handler asks of the gateway it runs in
 * (app.h): its worker's store connection and the common id checks. */
#include "gateway/app.h"

#include "gateway/log.h"
#include "gateway/validate.h"
#include "settlement/reasons.h"

#include <stdio.h>

store_t *gateway_worker_store(struct gateway *gw, gateway_worker_t *w) {
    if (w->store == NULL) {
        char err[256];
        w->store = store_open(&gw->store_cfg, err, sizeof err);
        if (w->store == NULL)
            log_warn("store_unreachable", "{s:i, s:s}", "worker", w->index, "reason", err);
    }
    return w->store;
}

store_t *gateway_call_store(server_call_t *call) {
    store_t *st = gateway_worker_store(server_call_app(call), server_call_worker(call));
    if (st == NULL)
        server_reply_error(call, GRPC_STATUS_UNAVAILABLE, REASON(STORE_UNAVAILABLE),
                           "the region's store cannot be reached; retry");
    return st;
}

int gateway_require_request_id(server_call_t *call, const char *id, const char *field) {
    if (validate_request_id(id)) return 1;
    server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_ID),
                       "%s must be 32 lowercase hex digits", field);
    return 0;
}

int gateway_require_account_id(server_call_t *call, const char *id, const char *field) {
    if (validate_account_id(id)) return 1;
    server_reply_error(call, GRPC_STATUS_INVALID_ARGUMENT, REASON(BAD_ACCOUNT_ID),
                       "%s must be 1..64 of [A-Za-z0-9._-]", field);
    return 0;
}
