/* targets.c - the gateways an auditor's command reads; see targets.h. */
#include "gateway/gwctl/targets.h"
#include "common/carbon_assert.h"

#include <stdio.h>
#include <string.h>

int gwctl_fed_parse(gwctl_fed_t *f, const char *cmd, const char *list) {
    CARBON_ASSERT(f != NULL && cmd != NULL && list != NULL);
    region_address_t parsed[GWCTL_TARGETS_MAX];
    char err[256];
    if (region_address_parse_list(list, parsed, GWCTL_TARGETS_MAX, &f->n, err, sizeof err) != 0) {
        fprintf(stderr, "gwctl %s: --targets: %s\n", cmd, err);
        f->n = 0;
        return -1;
    }
    CARBON_ASSERT(f->n <= GWCTL_TARGETS_MAX);
    for (size_t i = 0; i < f->n; i++) f->targets[i] = (gwctl_target_t){.where = parsed[i]};
    return 0;
}

void gwctl_fed_default_keys_dir(gwctl_fed_t *f) {
    CARBON_ASSERT(f != NULL && f->ca != NULL);
    if (f->keys_dir != NULL) return;
    const char *slash = strrchr(f->ca, '/');
    snprintf(f->keys_dir_buf, sizeof f->keys_dir_buf, "%.*s", slash ? (int)(slash - f->ca) : 1,
             slash ? f->ca : ".");
    f->keys_dir = f->keys_dir_buf;
}

int gwctl_fed_connect(gwctl_fed_t *f) {
    CARBON_ASSERT(f != NULL && f->n <= GWCTL_TARGETS_MAX);
    for (size_t i = 0; i < f->n; i++) {
        gwctl_conn_t c = {.target = f->targets[i].where.address, .cert = f->cert, .key = f->key,
                          .ca = f->ca};
        f->targets[i].ch = gwctl_connect(&c);
        if (f->targets[i].ch == NULL) return -1;
    }
    return 0;
}

void gwctl_fed_close(gwctl_fed_t *f) {
    CARBON_ASSERT(f != NULL && f->n <= GWCTL_TARGETS_MAX);
    for (size_t i = 0; i < f->n; i++) {
        if (f->targets[i].ch != NULL) gwctl_disconnect(f->targets[i].ch);
        f->targets[i].ch = NULL;
    }
}

int gwctl_fed_call(gwctl_fed_t *f, size_t i, const char *method, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp) {
    CARBON_ASSERT(f != NULL && i < f->n && f->targets[i].ch != NULL);
    CARBON_ASSERT(method != NULL && req != NULL && desc != NULL && resp != NULL);
    char path[96];
    snprintf(path, sizeof path, "/carbon.v1.Audit/%s", method);
    client_status_t st;
    if (client_call(f->targets[i].ch, path, req, desc, resp, f->timeout_ms, &st) != GRPC_STATUS_OK)
        return gwctl_report_failure(f->targets[i].where.address, &st);
    return 0;
}

void gwctl_fed_mark_unread(gwctl_fed_t *f, size_t i, int rc) {
    CARBON_ASSERT(f != NULL && i < f->n && rc != 0);
    f->targets[i].unread = 1;
    if (f->read_exit == 0 || rc == GWCTL_EXIT_UNREACHABLE) f->read_exit = rc;
}

void gwctl_fed_print_unread(const gwctl_fed_t *f, const char *cmd, const char *consequence) {
    CARBON_ASSERT(f != NULL && cmd != NULL && consequence != NULL);
    if (f->read_exit == 0) return;
    fprintf(stderr, "gwctl %s: not read:", cmd);
    for (size_t i = 0; i < f->n; i++)
        if (f->targets[i].unread)
            fprintf(stderr, " %s (%s)", f->targets[i].where.region, f->targets[i].where.address);
    fprintf(stderr, "; %s\n", consequence);
}

json_t *gwctl_fed_json_unread(const gwctl_fed_t *f) {
    CARBON_ASSERT(f != NULL);
    json_t *unread = json_array();
    for (size_t i = 0; i < f->n; i++)
        if (f->targets[i].unread) json_array_append_new(unread, json_string(f->targets[i].where.region));
    return unread;
}
