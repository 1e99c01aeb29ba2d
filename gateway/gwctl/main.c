/* gwctl - command-line tool for registries, operators and auditors.
 *
 * Exit codes (gwctl.h, the same for every command): 0 done, 1 a finding,
 * 2 bad usage, 3 unreachable, 4 refused by the gateway, 5 bad local
 * credentials. */
#include "gateway/rpc/grpc_lifetime.h"
#include "gateway/gwctl/gwctl.h"
#include "common/carbon_assert.h"
#include "common/version.h"

#include <grpc/grpc.h>
#include <grpc/support/log.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* gRPC's own log lines ("E1130 ... ssl_transport_security.cc ...") are for
 * gRPC's developers: gwctl says what failed and why itself. They are shown
 * only with GWCTL_GRPC_LOG=1, for a bug report. */
static int gwctl_grpc_log_shown;

static void gwctl_grpc_log(gpr_log_func_args *args) {
    CARBON_ASSERT(args != NULL);
    if (!gwctl_grpc_log_shown) return;
    fprintf(stderr, "grpc %s %s:%d %s\n", gpr_log_severity_string(args->severity), args->file,
            args->line, args->message);
}

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
            "'gwctl COMMAND --help' describes a command and its options;\n"
            "'gwctl --version' prints the version gwctl was built from.\n"
            "gRPC's own diagnostics are hidden; GWCTL_GRPC_LOG=1 shows them on stderr.\n"
            "\n" GWCTL_EXIT_HELP);
}

int gwctl_version(int argc, char **argv) {
    CARBON_ASSERT(argc >= 1 && argv != NULL && argv[0] != NULL);
    int json = argc == 2 && strcmp(argv[1], "--json") == 0;
    if (argc > 1 && !json) {
        fprintf(stderr, "usage: gwctl version [--json]   (or gwctl --version [--json])\n");
        return GWCTL_EXIT_USAGE;
    }
    if (json) {
        json_t *doc = json_pack("{s:s}", "version", carbon_build_version());
        if (doc == NULL) abort();
        gwctl_json_emit(doc);
    } else {
        printf("gwctl %s\n", carbon_build_version());
    }
    return GWCTL_EXIT_OK;
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        gwctl_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? GWCTL_EXIT_USAGE : GWCTL_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0)
        return gwctl_version(argc - 1, argv + 1);
    for (size_t i = 0; i < gwctl_commands_n; i++) {
        if (strcmp(argv[1], gwctl_commands[i].name) != 0) continue;
        const char *shown = getenv("GWCTL_GRPC_LOG");
        gwctl_grpc_log_shown = shown != NULL && strcmp(shown, "1") == 0;
        gpr_set_log_function(gwctl_grpc_log);
        grpc_lifetime_begin();
        int rc = gwctl_commands[i].run(argc - 1, argv + 1);
        grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
        return rc;
    }
    fprintf(stderr, "gwctl: unknown command '%s' (try gwctl --help)\n", argv[1]);
    return GWCTL_EXIT_USAGE;
}
