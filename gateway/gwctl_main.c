/* gwctl - command-line tool for registries, operators and auditors.
 *
 * Exit codes: 0 success, 1 the gateway answered with an error or a check
 * found a problem, 2 bad usage or unreadable files, 3 gateway unreachable. */
#include "gateway/grpc_lifetime.h"
#include "gateway/gwctl.h"

#include <grpc/grpc.h>
#include <stdio.h>
#include <string.h>

static void gwctl_usage(FILE *out) {
    fprintf(out,
            "usage: gwctl COMMAND [OPTIONS]\n"
            "\n"
            "Talks to carbon-inclusion settlement gateways over mutual TLS.\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < gwctl_commands_n; i++)
        fprintf(out, "  %-16s %s\n", gwctl_commands[i].name, gwctl_commands[i].summary);
    fprintf(out,
            "\n"
            "'gwctl COMMAND --help' describes a command and its options.\n"
            "Exit codes: 0 success, 1 error answer or failed check, 2 bad usage,\n"
            "3 gateway unreachable.\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        gwctl_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < gwctl_commands_n; i++) {
        if (strcmp(argv[1], gwctl_commands[i].name) != 0) continue;
        grpc_lifetime_begin();
        int rc = gwctl_commands[i].run(argc - 1, argv + 1);
        grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
        return rc;
    }
    fprintf(stderr, "gwctl: unknown command '%s' (try gwctl --help)\n", argv[1]);
    return 2;
}
