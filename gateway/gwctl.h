/* gwctl.h - the commands of gwctl, one function each (gwctl_*.c). */
#ifndef GATEWAY_GWCTL_H
#define GATEWAY_GWCTL_H

#include "gateway/client.h"

#include <stddef.h>

#define GWCTL_EXIT_OK 0
#define GWCTL_EXIT_FAILED 1
#define GWCTL_EXIT_USAGE 2
#define GWCTL_EXIT_UNREACHABLE 3

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
} gwctl_command_t;

extern const gwctl_command_t gwctl_commands[];
extern const size_t gwctl_commands_n;

/* Connection options shared by every command that calls a gateway. */
typedef struct {
    const char *target;  /* HOST:PORT */
    const char *cert;
    const char *key;
    const char *ca;
    long timeout_ms;
    int json;
} gwctl_conn_t;

/* Opens a channel from conn; NULL with a message on stderr (exit code 2). */
grpc_channel *gwctl_connect(const gwctl_conn_t *conn);

/* Maps a failed call's status to an exit code and prints it on stderr. */
int gwctl_report_failure(const char *what, const client_status_t *st);

#endif
