/* console.c - gwctl console: its options, the loopback listen address, the
 * per-run token, and the run until SIGINT or SIGTERM (console.h). */
#include "gateway/gwctl/console.h"
#include "common/carbon_assert.h"
#include "common/hex.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char console_usage[] =
    "usage: gwctl console [--listen 127.0.0.1:PORT] --targets REGION=HOST:PORT,...\n"
    "                     --cert FILE --key FILE --ca FILE [--metrics REGION=HOST:PORT,...]\n"
    "                     [--audit-keys DIR] [--catalog-dir DIR] [--timeout-ms N]\n"
    "\n"
    "Serves a web console on a loopback address and calls the gateways' gRPC\n"
    "services on the user's behalf with the user's own certificate, like\n"
    "kubectl proxy: the console can do exactly what the certificate may (an\n"
    "auditor reads Audit of every region, an operator Operations and Audit of\n"
    "its own region); a gateway's refusal (PERMISSION_DENIED) is shown as such.\n"
    "Pages: Federation (health, checkpoints and cosigners, peers' cosigned sizes,\n"
    "catalogs, in-doubt legs and open alarms: forks and HEURISTIC_MIXED legs,\n"
    "counted from a gateway's /metrics where its API refuses the certificate;\n"
    "polled every 5 s), Batches and reconciliation, In doubt (with resolve, the\n"
    "rules of gwctl resolve), Trace (gwctl trace --json drawn as SVG), Metrics\n"
    "(each gateway's /metrics polled, when --metrics names its address).\n"
    "\n"
    "It prints the URL to open, with a random token made for this run; every\n"
    "request must carry it (query ?token= or header X-Console-Token), and its\n"
    "Host must be this address (and its Origin, when sent). Actions that change\n"
    "anything are POST only, with the token in the header and a typed\n"
    "confirmation. It runs until SIGINT (Ctrl-C) or SIGTERM.\n"
    "\n"
    "  --listen ADDR:PORT  where to listen: an IPv4 loopback address (127.0.0.0/8)\n"
    "                      or localhost; any other address is refused. PORT 0 picks\n"
    "                      a free port (default 127.0.0.1:0)\n"
    "  --targets LIST      every gateway (or $GWCTL_TARGETS)\n"
    "  --metrics LIST      REGION=HOST:PORT of each gateway's loopback metrics\n"
    "                      endpoint (or $GWCTL_METRICS; plain HTTP; HOST an IPv4\n"
    "                      loopback address (127.0.0.0/8) or localhost)\n"
    "  --cert, --key FILE  the user's certificate and key, PEM (or $GWCTL_CERT, $GWCTL_KEY)\n"
    "  --ca FILE           the CA of the gateways' certificates (or $GWCTL_CA)\n"
    "  --audit-keys DIR    pinned audit keys (default: the folder of --ca), as gwctl trace\n"
    "  --catalog-dir DIR   catalogs, as gwctl trace\n"
    "  --timeout-ms N      each call to a gateway (default 5000)\n"
    "\n" GWCTL_EXIT_HELP
    "console: 0 after SIGINT or SIGTERM.\n";

static volatile sig_atomic_t console_stop;

static void console_on_signal(int sig) {
    (void)sig;
    console_stop = 1;
}

/* Parses --listen into *sa: an IPv4 loopback address (or localhost) and a
 * port. 0, or -1 with the reason in why. */
static int console_listen_parse(const char *s, struct sockaddr_in *sa, char *why, size_t why_size) {
    const char *colon = strrchr(s, ':');
    char host[64];
    if (colon == NULL || colon == s || (size_t)(colon - s) >= sizeof host) {
        snprintf(why, why_size, "--listen %s: give ADDRESS:PORT, e.g. 127.0.0.1:8088", s);
        return -1;
    }
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    uint64_t port;
    if (gwctl_parse_u64(colon + 1, &port) != 0 || port > 65535) {
        snprintf(why, why_size, "--listen %s: the port is 0..65535", s);
        return -1;
    }
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0) snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1 || (ntohl(sa->sin_addr.s_addr) >> 24) != 127) {
        snprintf(why, why_size, "--listen %s: not a loopback address; the console listens on "
                                "127.0.0.0/8 only (it holds your certificate)", s);
        return -1;
    }
    return 0;
}

/* Binds and listens on sa; sets c->port, c->host and the origins. The
 * socket, or -1 with why. */
static int console_bind(console_t *c, const struct sockaddr_in *sa, char *why, size_t why_size) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (const struct sockaddr *)sa, sizeof *sa) != 0 || listen(fd, 64) != 0) {
        snprintf(why, why_size, "--listen: %s", strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    struct sockaddr_in got;
    socklen_t len = sizeof got;
    if (getsockname(fd, (struct sockaddr *)&got, &len) != 0) {
        snprintf(why, why_size, "--listen: getsockname: %s", strerror(errno));
        close(fd);
        return -1;
    }
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &got.sin_addr, ip, sizeof ip);
    c->port = ntohs(got.sin_port);
    snprintf(c->host, sizeof c->host, "%s:%d", ip, c->port);
    snprintf(c->host2, sizeof c->host2, "localhost:%d", c->port);
    snprintf(c->origin, sizeof c->origin, "http://%s", c->host);
    snprintf(c->origin2, sizeof c->origin2, "http://%s", c->host2);
    return fd;
}

/* --metrics LIST into the targets' metrics addresses: each region must be a
 * target and each address a loopback IPv4 one or localhost (kept as
 * 127.0.0.1, where the gateway's [metrics] listen takes it). 0 or -1 after
 * saying why. */
static int console_metrics_parse(console_t *c, const char *list) {
    region_address_t m[GWCTL_TARGETS_MAX];
    size_t n = 0;
    char err[256];
    if (region_address_parse_list(list, m, GWCTL_TARGETS_MAX, &n, err, sizeof err) != 0) {
        fprintf(stderr, "gwctl console: --metrics: %s\n", err);
        return -1;
    }
    for (size_t k = 0; k < n; k++) {
        int i = console_target_of(c, m[k].region);
        const char *host = strcmp(m[k].host, "localhost") == 0 ? "127.0.0.1" : m[k].host;
        struct in_addr a;
        if (i < 0 || inet_pton(AF_INET, host, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127) {
            fprintf(stderr, "gwctl console: --metrics %s=%s: the region must be a target and the "
                            "address an IPv4 loopback one\n", m[k].region, m[k].address);
            return -1;
        }
        int w = snprintf(c->targets[i].metrics, sizeof c->targets[i].metrics, "%s:%u", host,
                         (unsigned)m[k].port);
        CARBON_ASSERT(w > 0 && (size_t)w < sizeof c->targets[i].metrics); /* an IPv4 address and a port */
    }
    return 0;
}

int console_target_of(const console_t *c, const char *region) {
    CARBON_ASSERT(c != NULL);
    for (size_t i = 0; region != NULL && i < c->n; i++)
        if (strcmp(c->targets[i].where.region, region) == 0) return (int)i;
    return -1;
}

/* The token: CONSOLE_TOKEN_BYTES from OpenSSL's generator, in hex. 0 or -1. */
static int console_token(console_t *c) {
    unsigned char raw[CONSOLE_TOKEN_BYTES];
    if (RAND_bytes(raw, sizeof raw) != 1) return -1;
    int n = hex_encode(raw, sizeof raw, c->token, sizeof c->token);
    CARBON_ASSERT(n == 2 * CONSOLE_TOKEN_BYTES);
    return 0;
}

/* Parses the options into c. 0, or the exit code to return. */
static int console_args(int argc, char **argv, console_t *c, const char **listen, const char **metrics) {
    const char *timeout = NULL;
    c->targets_list = getenv("GWCTL_TARGETS");
    const gwctl_opt_t opts[] = {{"listen", 1, listen, NULL},     {"targets", 1, &c->targets_list, NULL},
                                {"metrics", 1, metrics, NULL},   {"cert", 1, &c->cert, NULL},
                                {"key", 1, &c->key, NULL},       {"ca", 1, &c->ca, NULL},
                                {"audit-keys", 1, &c->keys_dir, NULL}, {"catalog-dir", 1, &c->catalog_dir, NULL},
                                {"timeout-ms", 1, &timeout, NULL}, {0}};
    int rc = gwctl_parse(argc, argv, opts, NULL, console_usage);
    if (rc != 0) return rc > 0 ? -1 : GWCTL_EXIT_USAGE;
    uint64_t ms = CONSOLE_TIMEOUT_MS_DEFAULT;
    if (c->targets_list == NULL || c->cert == NULL || c->key == NULL || c->ca == NULL ||
        (timeout != NULL && (gwctl_parse_u64(timeout, &ms) != 0 || ms == 0 || ms > 600000))) {
        fprintf(stderr, "gwctl console: --targets, --cert, --key and --ca are required (or GWCTL_TARGETS, "
                        "GWCTL_CERT, GWCTL_KEY, GWCTL_CA); --timeout-ms is 1..600000\n\n%s", console_usage);
        return GWCTL_EXIT_USAGE;
    }
    c->timeout_ms = (long)ms;
    region_address_t parsed[GWCTL_TARGETS_MAX];
    char err[256];
    if (region_address_parse_list(c->targets_list, parsed, GWCTL_TARGETS_MAX, &c->n, err, sizeof err) != 0) {
        fprintf(stderr, "gwctl console: --targets: %s\n", err);
        return GWCTL_EXIT_USAGE;
    }
    for (size_t i = 0; i < c->n; i++) c->targets[i] = (console_target_t){.where = parsed[i]};
    if (*metrics != NULL && console_metrics_parse(c, *metrics) != 0) return GWCTL_EXIT_USAGE;
    return 0;
}

/* Checks the credentials, opens a channel to every target, loads the pinned
 * keys and finds this binary. 0, or the exit code to return. */
static int console_prepare(console_t *c) {
    char err[768];
    if (gwctl_check_credentials(c->cert, c->key, c->ca, err, sizeof err) != 0) {
        fprintf(stderr, "gwctl console: bad local credentials: %s\n", err);
        return GWCTL_EXIT_CREDENTIALS;
    }
    for (size_t i = 0; i < c->n; i++) {
        gwctl_conn_t conn = {.target = c->targets[i].where.address, .cert = c->cert, .key = c->key, .ca = c->ca};
        c->targets[i].ch = gwctl_connect(&conn);
        if (c->targets[i].ch == NULL) return GWCTL_EXIT_CREDENTIALS;
    }
    if (c->keys_dir == NULL) {
        const char *slash = strrchr(c->ca, '/');
        snprintf(c->keys_dir_buf, sizeof c->keys_dir_buf, "%.*s", slash ? (int)(slash - c->ca) : 1,
                 slash ? c->ca : ".");
        c->keys_dir = c->keys_dir_buf;
    }
    if (gwctl_pins_load(&c->pins, c->keys_dir, err, sizeof err) != 0) {
        fprintf(stderr, "gwctl console: --audit-keys: %s (checkpoints are shown unverified)\n", err);
        c->pins.n = 0;
    }
    c->catalog_dir = gwctl_catalog_dir(c->catalog_dir, c->catalog_buf, sizeof c->catalog_buf);
    ssize_t n = readlink("/proc/self/exe", c->self_exe, sizeof c->self_exe - 1);
    if (n <= 0) return GWCTL_EXIT_USAGE;
    c->self_exe[n] = '\0';
    return 0;
}

/* Closes every channel. */
static void console_close(console_t *c) {
    for (size_t i = 0; i < c->n; i++) gwctl_disconnect(c->targets[i].ch);
}

/* Serves on fd until SIGINT or SIGTERM. */
static int console_serve(console_t *c, int fd) {
    struct MHD_Daemon *d = console_http_start(c, fd);
    if (d == NULL) return GWCTL_EXIT_USAGE;
    struct sigaction sa = {.sa_handler = console_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("gwctl console: open http://%s/?token=%s\n", c->host, c->token);
    printf("gwctl console: calling %zu gateways as the owner of %s; Ctrl-C stops it\n", c->n, c->cert);
    fflush(stdout);
    while (!console_stop) usleep(100 * 1000);
    MHD_stop_daemon(d);
    fprintf(stderr, "gwctl console: stopped\n");
    return GWCTL_EXIT_OK;
}

int gwctl_console(int argc, char **argv) {
    CARBON_ASSERT(argc >= 1 && argv != NULL && argv[0] != NULL);
    static console_t c; /* large (paths, pins); one console per process */
    memset(&c, 0, sizeof c);
    c.cert = getenv("GWCTL_CERT");
    c.key = getenv("GWCTL_KEY");
    c.ca = getenv("GWCTL_CA");
    const char *listen_addr = "127.0.0.1:0", *metrics = getenv("GWCTL_METRICS");
    int rc = console_args(argc, argv, &c, &listen_addr, &metrics);
    if (rc != 0) return rc < 0 ? GWCTL_EXIT_OK : rc;
    struct sockaddr_in sa;
    char why[256];
    if (console_listen_parse(listen_addr, &sa, why, sizeof why) != 0) {
        fprintf(stderr, "gwctl console: %s\n", why);
        return GWCTL_EXIT_USAGE;
    }
    if (console_token(&c) != 0) {
        fprintf(stderr, "gwctl console: no random token (RAND_bytes failed)\n");
        return GWCTL_EXIT_USAGE;
    }
    rc = console_prepare(&c);
    int fd = rc == 0 ? console_bind(&c, &sa, why, sizeof why) : -1;
    if (rc == 0 && fd < 0) {
        fprintf(stderr, "gwctl console: %s\n", why);
        rc = GWCTL_EXIT_USAGE;
    }
    if (rc == 0) rc = console_serve(&c, fd);
    console_close(&c);
    return rc;
}
