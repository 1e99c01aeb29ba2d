/* script_shas.c - which script each EVALSHA runs, for the benchmark (issue 13).
 *
 *   script_shas HOST PORT
 *
 * Opens the store at HOST:PORT as gatewayd does (store_open: SCRIPT LOAD of
 * every embedded script, each SHA1 checked against Redis's answer) and prints
 * one JSON object on stdout mapping the SHA1 that gatewayd sends with EVALSHA
 * (store_script_sha) to the script's name (settlement/scripts/NAME.lua):
 *   {"<40 hex>":"transfer_hold",...}
 * scripts/run-bench.sh uses it to attribute the Redis slow log's EVALSHA
 * entries to scripts. Exit 0, or 1 with a reason on stderr. */
#include "settlement/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: script_shas HOST PORT\n");
        return 2;
    }
    store_config_t cfg;
    store_config_defaults(&cfg);
    char *end = NULL;
    long port = strtol(argv[2], &end, 10);
    if (strlen(argv[1]) >= sizeof cfg.host || *end != '\0' || port < 1 || port > 65535) {
        fprintf(stderr, "script_shas: bad HOST or PORT\n");
        return 2;
    }
    memcpy(cfg.host, argv[1], strlen(argv[1]) + 1);
    cfg.port = (int)port;
    char err[512];
    store_t *s = store_open(&cfg, err, sizeof err);
    if (s == NULL) {
        fprintf(stderr, "script_shas: %s\n", err);
        return 1;
    }
    printf("{");
    for (size_t i = 0; i < script_sources_n; i++)
        printf("%s\"%s\":\"%s\"", i ? "," : "", store_script_sha(s, (int)i), script_sources[i].name);
    printf("}\n");
    store_close(s);
    return 0;
}
