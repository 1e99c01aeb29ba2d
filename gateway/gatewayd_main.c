/* gatewayd - the settlement gateway of one region.
 *
 * Exit codes: 0 after a clean stop (SIGTERM/SIGINT), 1 on a runtime failure
 * (including a store that belongs to another region), 2 on a bad command
 * line, configuration, certificate or catalog (--check-config too: 0 valid,
 * 2 not valid). */
#include "gateway/config.h"
#include "gateway/gateway.h"
#include "gateway/rpc/grpc_lifetime.h"
#include "gateway/grpc_log.h"
#include "gateway/log.h"
#include "common/version.h"
#include "settlement/store_keys.h"

#include <grpc/grpc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static void gatewayd_usage(FILE *out) {
    fprintf(out,
            "usage: gatewayd --config FILE [--check-config]\n"
            "       gatewayd --version | --help\n"
            "\n"
            "Runs the carbon-inclusion settlement gateway of one region: serves the\n"
            "carbon.v1 Registry, Federation, Operations and Audit services and the\n"
            "gRPC health check over mutual TLS only, on the address in the configuration.\n"
            "At start it claims its store for its region (key " STORE_KEY_META_REGION ") and\n"
            "refuses to start (exit 1) on a store that names another region.\n"
            "\n"
            "  --config FILE    INI configuration (see deploy/ and the README)\n"
            "  --check-config   check the configuration, the certificate, key, CA and\n"
            "                   CRL files and the catalogs without binding the port or\n"
            "                   connecting anywhere (safe next to the running gateway,\n"
            "                   before a SIGHUP); print \"ok\" and exit 0, or the\n"
            "                   reason on stderr and exit 2 (a busy port is found\n"
            "                   only at start)\n"
            "  --version        print the build version and exit\n"
            "  --help           this text\n"
            "\n"
            "Signals: SIGTERM or SIGINT stop accepting calls, finish the calls in\n"
            "flight and exit 0; SIGHUP reloads the TLS certificate, key, CA and\n"
            "CRLs (a bad set is refused, the old one kept), for the server and the\n"
            "connections to peers alike, and the catalogs. Other settings are read\n"
            "only at start.\n"
            "Logs: JSON lines on stderr, gRPC's own messages included (a bad command\n"
            "line or configuration is one plain \"gatewayd: ...\" line instead).\n"
            "Exit codes: 0 clean stop (or a valid --check-config), 1 runtime failure\n"
            "(a store of another region included), 2 bad usage or configuration.\n");
}

/* --check-config: 0 valid ("ok" on stdout), 2 not (the reason on stderr). */
static int gatewayd_check_config(const char *config_path) {
    grpc_lifetime_begin();
    log_set_level(LOG_LEVEL_WARN); /* only what is wrong, not "tls_loaded" */
    gateway_config_t cfg;
    config_defaults(&cfg);
    char err[1024];
    int rc = config_load(config_path, &cfg, err, sizeof err);
    if (rc == 0) rc = gateway_check_config(&cfg, err, sizeof err);
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
    if (rc != 0) {
        fprintf(stderr, "gatewayd: %s\n", err);
        return 2;
    }
    printf("ok\n");
    return 0;
}

/* Reads the command line into *config_path and *check_only. -1 to go on, or
 * the exit code (0 after --help or --version, 2 on a bad command line). */
static int gatewayd_parse_args(int argc, char **argv, const char **config_path, int *check_only) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            gatewayd_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("gatewayd %s\n", carbon_build_version());
            return 0;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            *config_path = argv[++i];
        } else if (strcmp(argv[i], "--check-config") == 0) {
            *check_only = 1;
        } else {
            fprintf(stderr, "gatewayd: unknown argument '%s' (try --help)\n", argv[i]);
            return 2;
        }
    }
    if (*config_path == NULL) {
        fprintf(stderr, "gatewayd: --config FILE is required (try --help)\n");
        return 2;
    }
    return -1;
}

/* Serves until SIGTERM or SIGINT (blocked in signals); SIGHUP reloads. */
static void gatewayd_wait_for_stop(gateway_t *gw, const sigset_t *signals) {
    for (;;) {
        int sig = 0;
        if (sigwait(signals, &sig) != 0) continue;
        if (sig == SIGHUP) {
            gateway_reload(gw);
            continue;
        }
        log_info("stopping", "{s:s}", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    }
}

/* Loads the configuration, starts the gateway, serves until a stop signal
 * (taken from signals, blocked in every thread) and stops. The exit code. */
static int gatewayd_run(const char *config_path, const sigset_t *signals) {
    grpc_lifetime_begin(); /* before anything touches OpenSSL */
    gateway_config_t cfg;
    config_defaults(&cfg);
    char err[1024];
    if (config_load(config_path, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "gatewayd: %s\n", err);
        grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
        return 2;
    }
    log_set_level((log_level_t)log_level_parse(cfg.log_level));

    gateway_t *gw = gateway_create(&cfg, err, sizeof err);
    if (gw == NULL) {
        fprintf(stderr, "gatewayd: %s\n", err);
        grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
        return 2;
    }
    if (gateway_start(gw, err, sizeof err) != 0) {
        log_error("start_failed", "{s:s}", "reason", err);
        gateway_destroy(gw);
        grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
        return 1;
    }
    gatewayd_wait_for_stop(gw, signals);
    gateway_stop(gw);
    gateway_destroy(gw);
    if (grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS) != 0)
        log_warn("grpc_cleanup_unfinished", "{s:i}", "waited_ms", GRPC_LIFETIME_END_WAIT_MS);
    log_info("stopped", NULL);
    return 0;
}

int main(int argc, char **argv) {
    const char *config_path = NULL;
    int check_only = 0;
    int rc = gatewayd_parse_args(argc, argv, &config_path, &check_only);
    if (rc >= 0) return rc;
    grpc_log_route(); /* gRPC's messages as JSON lines, from the first one */
    if (check_only) return gatewayd_check_config(config_path);
    /* Signals are taken by sigwait in this thread only: blocked before
     * any thread is started, so every thread inherits the mask. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    return gatewayd_run(config_path, &signals);
}
