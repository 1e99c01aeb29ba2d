/* targets.h - the federation an auditor's command reads (gwctl trace, gwctl
 * audit verify): the --targets "REGION=HOST:PORT,..." list, a channel to each
 * gateway, calls to its Audit service, and which regions could not be read. */
#ifndef GATEWAY_GWCTL_TARGETS_H
#define GATEWAY_GWCTL_TARGETS_H

#include "gateway/gwctl/gwctl.h"
#include "gateway/rpc/region_address.h"

#include <jansson.h>
#include <stddef.h>

#define GWCTL_TARGETS_MAX REGION_ADDRESS_LIST_MAX

typedef struct {
    region_address_t where;
    grpc_channel *ch;
    int unread; /* 1: this target could not be read */
} gwctl_target_t;

typedef struct {
    const char *cert, *key, *ca, *keys_dir, *catalog_dir;
    long timeout_ms;
    gwctl_target_t targets[GWCTL_TARGETS_MAX];
    size_t n;
    int read_exit; /* worst exit code of a target not read (0: all read) */
    char keys_dir_buf[512];
} gwctl_fed_t;

/* Parses list ("REGION=HOST:PORT,...", gateway/rpc/region_address.h) into
 * f->targets. 0, or -1 after saying on stderr, for command cmd, what is
 * wrong. Neither pointer may be NULL. */
int gwctl_fed_parse(gwctl_fed_t *f, const char *cmd, const char *list);

/* Sets f->keys_dir, when not given, to the folder of f->ca (the default of
 * --audit-keys). f->ca must be set. */
void gwctl_fed_default_keys_dir(gwctl_fed_t *f);

/* Checks the credentials and opens a channel to every target. 0, or -1 after
 * saying why on stderr (exit GWCTL_EXIT_CREDENTIALS). */
int gwctl_fed_connect(gwctl_fed_t *f);

/* Closes every channel opened (safe on a partly connected f). */
void gwctl_fed_close(gwctl_fed_t *f);

/* Calls /carbon.v1.Audit/METHOD on target i (< f->n, connected). 0 with
 * *resp set (free with protobuf_c_message_free_unpacked), or the exit code
 * of the failure after printing it (gwctl_report_failure). */
int gwctl_fed_call(gwctl_fed_t *f, size_t i, const char *method, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp);

/* Marks target i (< f->n) unread after the failure rc (an exit code, not
 * 0); f->read_exit keeps the worst, GWCTL_EXIT_UNREACHABLE first. */
void gwctl_fed_mark_unread(gwctl_fed_t *f, size_t i, int rc);

/* Names the unread targets on stderr as "gwctl CMD: not read: R (ADDR) ...;
 * CONSEQUENCE"; prints nothing when every target was read. */
void gwctl_fed_print_unread(const gwctl_fed_t *f, const char *cmd, const char *consequence);

/* The regions of the unread targets as a new JSON array of strings. */
json_t *gwctl_fed_json_unread(const gwctl_fed_t *f);

#endif
