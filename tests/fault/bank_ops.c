/* bank_ops.c - an operator's calls for the bank test (bank_ops.h). */
#include "tests/fault/bank_ops.h"
#include "tests/support/gateway_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define BANK_SCRAPE_MAX (1 << 20)

static void bank_copy(char *dst, size_t cap, const char *src) {
    snprintf(dst, cap, "%s", src != NULL ? src : "");
}

/* The region of "REGION/ACCOUNT" into out. */
static void bank_region_of(char *out, size_t cap, const char *account) {
    const char *slash = account != NULL ? strchr(account, '/') : NULL;
    if (slash == NULL) {
        bank_copy(out, cap, "");
        return;
    }
    snprintf(out, cap, "%.*s", (int)(slash - account), account);
}

int bank_list_in_doubt(grpc_channel *ch, const char *region, bank_indoubt_t *out, size_t cap,
                       client_status_t *st) {
    Carbon__V1__ListInDoubtRequest req = CARBON__V1__LIST_IN_DOUBT_REQUEST__INIT;
    req.limit = BANK_OPS_LIST_MAX;
    ProtobufCMessage *resp = NULL;
    memset(st, 0, sizeof *st);
    grpc_status_code code = client_call(ch, "/carbon.v1.Operations/ListInDoubt", &req.base,
                                        &carbon__v1__list_in_doubt_response__descriptor, &resp,
                                        BANK_OPS_CALL_MS, st);
    if (code != GRPC_STATUS_OK) return -1;
    const Carbon__V1__ListInDoubtResponse *r = (const Carbon__V1__ListInDoubtResponse *)resp;
    size_t n = 0;
    for (size_t i = 0; i < r->n_legs && n < cap; i++) {
        const Carbon__V1__InDoubtLeg *d = r->legs[i];
        if (d->leg == NULL) continue;
        bank_indoubt_t *o = &out[n++];
        memset(o, 0, sizeof *o);
        bank_copy(o->tid, sizeof o->tid, d->leg->transfer_id);
        bank_copy(o->role, sizeof o->role, d->role);
        bank_copy(o->state, sizeof o->state, d->state);
        bank_copy(o->heuristic, sizeof o->heuristic, d->heuristic);
        bank_copy(o->heuristic_outcome, sizeof o->heuristic_outcome, d->heuristic_outcome);
        char from[16], to[16];
        bank_region_of(from, sizeof from, d->leg->from_account);
        bank_region_of(to, sizeof to, d->leg->to_account);
        /* the peer is the end that is not this region */
        int outgoing = strcmp(from, region) == 0;
        bank_copy(o->peer, sizeof o->peer, outgoing ? to : from);
        const char *mine = outgoing ? d->leg->from_account : d->leg->to_account;
        bank_copy(o->account, sizeof o->account, mine != NULL && strchr(mine, '/') ? strchr(mine, '/') + 1 : "");
        if (d->leg->n_blocks > 0) bank_copy(o->methodology, sizeof o->methodology, d->leg->blocks[0]->methodology_id);
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    return (int)n;
}

grpc_status_code bank_resolve(grpc_channel *ch, const char *tid, Carbon__V1__Decision decision,
                              int compensate, const char *reason, client_status_t *st) {
    Carbon__V1__ResolveInDoubtRequest req = CARBON__V1__RESOLVE_IN_DOUBT_REQUEST__INIT;
    req.transfer_id = (char *)tid;
    req.decision = decision;
    req.reason = (char *)reason;
    req.compensate = compensate != 0;
    ProtobufCMessage *resp = NULL;
    memset(st, 0, sizeof *st);
    grpc_status_code code = client_call(ch, "/carbon.v1.Operations/ResolveInDoubt", &req.base,
                                        &carbon__v1__resolve_in_doubt_response__descriptor, &resp,
                                        BANK_OPS_CALL_MS, st);
    if (resp != NULL) protobuf_c_message_free_unpacked(resp, NULL);
    return code;
}

int bank_reconcile_names(grpc_channel *ch, const char *peer_region, const char *tid,
                         client_status_t *st) {
    Carbon__V1__ReconcileRequest req = CARBON__V1__RECONCILE_REQUEST__INIT;
    req.peer_region = (char *)peer_region;
    int found = 0;
    /* page by page (1000 batches each) until the latest batch */
    for (int page = 0; page < 10000 && !found; page++) {
        ProtobufCMessage *resp = NULL;
        memset(st, 0, sizeof *st);
        grpc_status_code code = client_call(ch, "/carbon.v1.Operations/Reconcile", &req.base,
                                            &carbon__v1__reconcile_response__descriptor, &resp,
                                            BANK_OPS_CALL_MS * 3, st);
        if (code != GRPC_STATUS_OK) return -1;
        const Carbon__V1__ReconcileResponse *r = (const Carbon__V1__ReconcileResponse *)resp;
        for (size_t i = 0; i < r->n_discrepancies && !found; i++) {
            const Carbon__V1__Discrepancy *d = r->discrepancies[i];
            found = d->transfer_id != NULL && strcmp(d->transfer_id, tid) == 0 && d->field != NULL &&
                    strcmp(d->field, "heuristic") == 0;
        }
        uint64_t next = r->next_from_seq;
        protobuf_c_message_free_unpacked(resp, NULL);
        if (next == 0 || next <= req.from_seq) break;
        req.from_seq = next;
    }
    return found;
}

int bank_forks(grpc_channel *ch, client_status_t *st) {
    Carbon__V1__ListForksRequest req = CARBON__V1__LIST_FORKS_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    memset(st, 0, sizeof *st);
    grpc_status_code code = client_call(ch, "/carbon.v1.Operations/ListForks", &req.base,
                                        &carbon__v1__list_forks_response__descriptor, &resp,
                                        BANK_OPS_CALL_MS, st);
    if (code != GRPC_STATUS_OK) return -1;
    int n = (int)((const Carbon__V1__ListForksResponse *)resp)->n_forks;
    protobuf_c_message_free_unpacked(resp, NULL);
    return n;
}

int bank_metrics_port(const char *log_path) {
    char *log = harness_file_tail(log_path, 1 << 22);
    const char *line = NULL;
    for (const char *p = strstr(log, "\"metrics_listening\""); p != NULL;
         p = strstr(p + 1, "\"metrics_listening\""))
        line = p; /* the last start */
    int port = 0;
    if (line != NULL) {
        const char *eol = strchr(line, '\n');
        const char *pp = strstr(line, "\"port\":");
        if (pp != NULL && (eol == NULL || pp < eol)) port = atoi(pp + 7 + (pp[7] == ' '));
    }
    free(log);
    return port;
}

/* GET /metrics at 127.0.0.1:port: the whole response, malloc'd, or NULL. */
static char *bank_scrape(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return NULL;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char *buf = NULL;
    const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) goto fail;
    if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1)) goto fail;
    buf = malloc(BANK_SCRAPE_MAX + 1);
    if (buf == NULL) abort();
    size_t len = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + len, BANK_SCRAPE_MAX - len, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) goto fail;
        if (r == 0 || (len += (size_t)r) == BANK_SCRAPE_MAX) break;
    }
    buf[len] = '\0';
    close(fd);
    return buf;
fail:
    free(buf);
    close(fd);
    return NULL;
}

long long bank_metric(int port, const char *series) {
    if (port <= 0) return -1;
    char *r = bank_scrape(port);
    if (r == NULL) return -1;
    long long v = -1;
    size_t n = strlen(series);
    const char *body = strstr(r, "\r\n\r\n");
    for (const char *line = body != NULL ? body + 4 : NULL; line != NULL && *line != '\0';) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ') {
            v = strtoll(line + n + 1, NULL, 10);
            break;
        }
        const char *eol = strchr(line, '\n');
        line = eol != NULL ? eol + 1 : NULL;
    }
    free(r);
    return v;
}
