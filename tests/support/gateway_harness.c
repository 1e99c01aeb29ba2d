/* gateway_harness.c - a real federation of gatewayd processes; see gateway_harness.h. */
#include "tests/support/gateway_harness.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "gateway/rpc/client.h"
#include "gateway/rpc/tls_client.h"
#include "gateway/tls.h"
#include "grpc/health/v1/health.pb-c.h"
#include "tests/support/proc.h"
#include "settlement/store_keys.h"

#ifndef SOURCE_DIR
#error "SOURCE_DIR must be defined (the repository root)"
#endif
#ifndef BINARY_DIR
#error "BINARY_DIR must be defined (the build dir)"
#endif

#define H_ERR_MAX 8192
#define H_LOG_TAIL_BYTES 2000
#define H_STOP_LOG_TAIL_BYTES 12000 /* a sanitizer report with its stacks */
#define H_CHANNELS_MAX 64
#define H_CERT_BASE_MAX 64
#define H_START_ATTEMPTS 3        /* a port taken between choice and bind: start again */
#define H_PROBE_TIMEOUT_MS 500    /* one Health/Check while waiting */
#define H_PROBE_PAUSE_MS 30
#define H_HELLO_WAIT_MS 3000     /* every gateway says Hello to its peers after serving */
#define H_RECV_MAX (64 << 20)
#define H_CHECKPOINT_INTERVAL_MS 300 /* audit checkpoints signed and shared */

static const char *const h_regions[FEDERATION_REGIONS_MAX] = {"CN-TJ", "CN-BJ", "CN-HE"};

typedef struct {
    int region;                   /* index into h_regions */
    int port;
    pid_t pid;                    /* 0 when not running */
    bool frozen;                  /* SIGSTOP sent, no SIGCONT yet */
    int exit_status;              /* -1: running or never reaped */
    char config_path[PATH_MAX];
    char log_path[PATH_MAX];
} h_instance_t;

typedef struct {
    int instance;
    char cert_base[H_CERT_BASE_MAX];
    grpc_channel *channel;
} h_channel_t;

struct federation {
    federation_options_t opts;    /* defaults filled; extra_ini points to our copy */
    char *extra_ini;
    char dir[256];                /* short, so that every path under it fits PATH_MAX */
    redis_harness_t *redis[FEDERATION_REGIONS_MAX];
    bool redis_borrowed[FEDERATION_REGIONS_MAX]; /* opts.store_redis: not ours to stop */
    h_instance_t inst[FEDERATION_INSTANCES_MAX];
    int inst_n;
    h_channel_t channels[H_CHANNELS_MAX];
    int channels_n;
    bool grpc_ref;                /* our grpc_init() reference */
    bool stopped;
};

static char h_err[H_ERR_MAX];

const char *federation_last_error(void) { return h_err; }

__attribute__((format(printf, 1, 2))) static void h_errf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h_err, sizeof h_err, fmt, ap);
    va_end(ap);
}

static void h_err_append(const char *text) {
    size_t used = strlen(h_err);
    snprintf(h_err + used, sizeof h_err - used, "%s", text);
}

const char *harness_pki_dir(void) { return BINARY_DIR "/pki"; }

/* GATEWAY_WRAPPER (environment): words put before the gatewayd command, split
 * at blanks (no quoting), e.g. "valgrind --leak-check=full --error-exitcode=99"
 * (scripts/run-valgrind.sh). With a wrapper, the start, probe and stop
 * timeouts are multiplied by GATEWAY_TIMEOUT_SCALE (default 10). */
#define H_WRAPPER_WORDS_MAX 32
#define H_WRAPPER_SCALE_DEFAULT 10

static int h_timeout_scale(void) {
    const char *w = getenv("GATEWAY_WRAPPER");
    if (w == NULL || w[strspn(w, " \t")] == '\0') return 1;
    const char *s = getenv("GATEWAY_TIMEOUT_SCALE");
    int scale = s != NULL ? atoi(s) : H_WRAPPER_SCALE_DEFAULT;
    return scale >= 1 && scale <= 100 ? scale : H_WRAPPER_SCALE_DEFAULT;
}

static int h_health_timeout_ms(void) { return FEDERATION_HEALTH_TIMEOUT_MS * h_timeout_scale(); }
static int h_stop_timeout_ms(void) { return FEDERATION_STOP_TIMEOUT_MS * h_timeout_scale(); }

char *harness_file_tail(const char *path, size_t bytes) {
    char *out = calloc(1, bytes + 1);
    if (out == NULL) abort();
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return out;
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > (off_t)bytes ? size - (off_t)bytes : 0;
    ssize_t n = pread(fd, out, bytes, from);
    close(fd);
    out[n > 0 ? n : 0] = '\0';
    return out;
}

/* Reads a whole (small) file; "" if unreadable. */
static char *h_read_all(const char *path) {
    struct stat st;
    size_t size = stat(path, &st) == 0 && st.st_size > 0 ? (size_t)st.st_size : 0;
    return harness_file_tail(path, size);
}

/* A gateway that did not stop cleanly: its log's end goes to stderr now,
 * before the test directory is removed, so the cause (a sanitizer report, an
 * assertion) is in the test's output. */
static void h_print_stop_log(const h_instance_t *in) {
    char *tail = harness_file_tail(in->log_path, H_STOP_LOG_TAIL_BYTES);
    fprintf(stderr, "gateway_harness: %s exited with status %d at stop; tail of %s:\n%s\n",
            h_regions[in->region], in->exit_status, in->log_path, tail);
    free(tail);
}

static void h_err_add_log(const h_instance_t *in) {
    char *tail = harness_file_tail(in->log_path, H_LOG_TAIL_BYTES);
    h_err_append("\n--- tail of ");
    h_err_append(in->log_path);
    h_err_append(" ---\n");
    h_err_append(tail);
    free(tail);
}

static int h_status_code(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

/* ---- channels ---------------------------------------------------------------- */

static grpc_channel *h_channel_create(int port, grpc_channel_credentials *creds) {
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", port);
    /* Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: it is also the connect (and TLS
     * handshake) timeout, and a short one fails handshakes under ASan. */
    grpc_arg args[5];
    memset(args, 0, sizeof args);
    const struct {
        const char *key;
        int value;
    } ints[5] = {
        {GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, H_RECV_MAX},
        {GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, -1},
        {GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100},
        {GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000},
        {GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1}, /* no connection shared between channels */
    };
    for (int i = 0; i < 5; i++) {
        args[i].type = GRPC_ARG_INTEGER;
        args[i].key = (char *)ints[i].key;
        args[i].value.integer = ints[i].value;
    }
    grpc_channel_args cargs = {5, args};
    return grpc_channel_create(target, creds, &cargs);
}

grpc_channel *harness_channel_to(int port, const char *cert_base) {
    char cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX], err[1024] = "";
    snprintf(ca, sizeof ca, "%s/ca.crt", harness_pki_dir());
    if (cert_base != NULL) {
        snprintf(cert, sizeof cert, "%s/%s.crt", harness_pki_dir(), cert_base);
        snprintf(key, sizeof key, "%s/%s.key", harness_pki_dir(), cert_base);
    }
    grpc_channel_credentials *creds = tls_channel_credentials(
        cert_base != NULL ? cert : NULL, cert_base != NULL ? key : NULL, ca, err, sizeof err);
    if (creds == NULL) {
        h_errf("harness_channel_to %d (%s): %s", port, cert_base ? cert_base : "no cert", err);
        return NULL;
    }
    grpc_channel *ch = h_channel_create(port, creds);
    grpc_channel_credentials_release(creds);
    return ch;
}

grpc_channel *harness_insecure_channel_to(int port) {
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    grpc_channel *ch = h_channel_create(port, creds);
    grpc_channel_credentials_release(creds);
    return ch;
}

int harness_channel_wait_ready(grpc_channel *ch, int timeout_ms) {
    grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
    long long deadline = proc_now_ms() + timeout_ms;
    int rc = -1;
    for (;;) {
        grpc_connectivity_state state = grpc_channel_check_connectivity_state(ch, 1);
        if (state == GRPC_CHANNEL_READY) {
            rc = 0;
            break;
        }
        long long left = deadline - proc_now_ms();
        if (left <= 0) break;
        if (state == GRPC_CHANNEL_SHUTDOWN) break;
        /* The watch puts cq's pollset among the channel's interested
         * parties, so next() below drives the connection attempt. */
        gpr_timespec until = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                          gpr_time_from_millis(left < 100 ? left : 100, GPR_TIMESPAN));
        grpc_channel_watch_connectivity_state(ch, state, until, cq, NULL);
        grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    }
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
    return rc;
}

grpc_status_code harness_health(grpc_channel *ch, int64_t timeout_ms, int *serving) {
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    client_status_t st;
    grpc_status_code code =
        client_call(ch, "/grpc.health.v1.Health/Check", &req.base,
                    &grpc__health__v1__health_check_response__descriptor, &resp, timeout_ms, &st);
    if (serving != NULL) *serving = -1;
    if (code == GRPC_STATUS_OK && resp != NULL) {
        if (serving != NULL)
            *serving = (int)((Grpc__Health__V1__HealthCheckResponse *)resp)->status;
    }
    if (resp != NULL) protobuf_c_message_free_unpacked(resp, NULL);
    return code;
}

grpc_channel *federation_channel(federation_t *f, int i, const char *cert_base) {
    assert(f != NULL && cert_base != NULL);
    if (i < 0 || i >= f->inst_n) {
        h_errf("federation_channel: no instance %d", i);
        return NULL;
    }
    if (strlen(cert_base) >= H_CERT_BASE_MAX) {
        h_errf("federation_channel: certificate name too long");
        return NULL;
    }
    for (int c = 0; c < f->channels_n; c++)
        if (f->channels[c].instance == i && strcmp(f->channels[c].cert_base, cert_base) == 0)
            return f->channels[c].channel;
    if (f->channels_n == H_CHANNELS_MAX) {
        h_errf("federation_channel: more than %d cached channels", H_CHANNELS_MAX);
        return NULL;
    }
    grpc_channel *ch = harness_channel_to(f->inst[i].port, cert_base);
    if (ch == NULL) return NULL;
    h_channel_t *slot = &f->channels[f->channels_n++];
    slot->instance = i;
    snprintf(slot->cert_base, sizeof slot->cert_base, "%s", cert_base);
    slot->channel = ch;
    return ch;
}

/* ---- configuration and processes ------------------------------------------ */

static int h_write_config(const federation_t *f, const h_instance_t *in) {
    FILE *c = fopen(in->config_path, "w");
    if (c == NULL) {
        h_errf("cannot write %s: %s", in->config_path, strerror(errno));
        return -1;
    }
    const char *region = h_regions[in->region];
    const char *pki = harness_pki_dir();
    if (pki == NULL) { /* no PKI: nothing to configure TLS with */
        fclose(c);
        h_errf("no test PKI (harness_pki_dir)");
        return -1;
    }
    fprintf(c,
            "; written by tests/support/gateway_harness.c\n"
            "[gateway]\n"
            "region = %s\n"
            "listen = 127.0.0.1:%d\n"
            "catalog_dir = %s/adapters/catalogs\n"
            "activity_secret_file = %s/federation-activity.secret\n"
            "workers = %d\n"
            "log_level = info\n"
            "\n[tls]\n"
            "cert = %s/%s-gateway.crt\n"
            "key = %s/%s-gateway.key\n"
            "ca = %s/ca.crt\n"
            "crl_dir = %s/crl\n"
            "\n[store]\n"
            "host = %s\n"
            "port = %d\n",
            region, in->port, SOURCE_DIR, pki, f->opts.workers, pki, region, pki, region, pki, pki,
            f->redis[in->region]->host, f->redis[in->region]->port);
    if (f->opts.store_sentinels[in->region] != NULL)
        fprintf(c, "sentinels = %s\nmaster_name = %s\nmin_replicas = %d\n",
                f->opts.store_sentinels[in->region], f->opts.store_master_name[in->region],
                f->opts.store_min_replicas);
    fprintf(c, "\n[peers]\n");
    for (int r = 0; r < f->opts.regions_n && r < FEDERATION_REGIONS_MAX; r++)
        if (r != in->region) fprintf(c, "%s = 127.0.0.1:%d\n", h_regions[r], f->inst[r].port);
    fprintf(c,
            "\n[limits]\n"
            "max_message_bytes = %d\n"
            "batch_window_ms = %d\n"
            "leg_expiry_ms = %d\n"
            "peer_timeout_ms = %d\n"
            "recovery_interval_ms = %d\n",
            f->opts.region_max_message_bytes[in->region] > 0 ? f->opts.region_max_message_bytes[in->region]
                                                              : f->opts.max_message_bytes,
            f->opts.batch_window_ms, f->opts.leg_expiry_ms,
            f->opts.peer_timeout_ms, f->opts.recovery_interval_ms);
    /* Audit checkpoints: each region signs with its own key; peers' keys pinned. */
    fprintf(c, "\n[audit]\nsigning_key = %s/%s-audit-signing.key\ncheckpoint_interval_ms = %d\n",
            pki, region, H_CHECKPOINT_INTERVAL_MS);
    fprintf(c, "\n[audit_keys]\n");
    for (int r = 0; r < f->opts.regions_n && r < FEDERATION_REGIONS_MAX; r++)
        if (r != in->region) fprintf(c, "%s = %s/%s-audit-signing.pub\n", h_regions[r], pki, h_regions[r]);
    if (f->extra_ini != NULL) fprintf(c, "\n%s\n", f->extra_ini);
    if (fclose(c) != 0) {
        h_errf("cannot write %s: %s", in->config_path, strerror(errno));
        return -1;
    }
    return 0;
}

static int h_spawn(h_instance_t *in) {
    assert(in->pid == 0);
    const char *argv[H_WRAPPER_WORDS_MAX + 4];
    size_t argc = 0;
    char wrapper[1024] = "";
    const char *w = getenv("GATEWAY_WRAPPER");
    if (w != NULL) snprintf(wrapper, sizeof wrapper, "%s", w);
    char *save = NULL;
    for (char *word = strtok_r(wrapper, " \t", &save); word != NULL;
         word = strtok_r(NULL, " \t", &save)) {
        if (argc == H_WRAPPER_WORDS_MAX) {
            h_errf("GATEWAY_WRAPPER has more than %d words", H_WRAPPER_WORDS_MAX);
            return -1;
        }
        argv[argc++] = word;
    }
    argv[argc++] = BINARY_DIR "/gatewayd";
    argv[argc++] = "--config";
    argv[argc++] = in->config_path;
    argv[argc] = NULL;
    char err[1024] = "";
    FILE *log = fopen(in->log_path, "a");
    if (log != NULL) {
        fprintf(log, "--- harness: starting %s on port %d ---\n", h_regions[in->region], in->port);
        fclose(log);
    }
    pid_t pid = proc_spawn(argv, NULL, in->log_path, err, sizeof err);
    if (pid < 0) {
        h_errf("%s", err);
        return -1;
    }
    in->pid = pid;
    in->frozen = false;
    in->exit_status = -1;
    return 0;
}

/* Reaps instance i if it exited; true if it is gone. */
static bool h_reap_if_exited(h_instance_t *in) {
    if (in->pid == 0) return true;
    int status = 0;
    if (proc_wait(in->pid, 0, &status) == 0) {
        in->exit_status = h_status_code(status);
        in->pid = 0;
        return true;
    }
    return false;
}

/* Waits until instance answers Health SERVING over mutual TLS. 0, -1, or -2
 * when the process exited because its port was taken (the caller may retry). */
static int h_wait_serving(h_instance_t *in, int timeout_ms) {
    long long deadline = proc_now_ms() + timeout_ms;
    char cert_base[32];
    snprintf(cert_base, sizeof cert_base, "%s-gateway", h_regions[in->region]);
    grpc_channel *ch = harness_channel_to(in->port, cert_base);
    if (ch == NULL) return -1;
    grpc_status_code last = GRPC_STATUS_UNKNOWN;
    int serving = -1;
    int rc = -1;
    for (;;) {
        if (h_reap_if_exited(in)) {
            char *tail = harness_file_tail(in->log_path, H_LOG_TAIL_BYTES);
            bool taken = strstr(tail, "cannot listen") != NULL;
            free(tail);
            h_errf("gatewayd %s (port %d) exited with status %d before serving",
                   h_regions[in->region], in->port, in->exit_status);
            h_err_add_log(in);
            rc = taken ? -2 : -1;
            break;
        }
        long long left = deadline - proc_now_ms();
        if (left <= 0) {
            h_errf("gatewayd %s (port %d) not SERVING after %d ms (last Health/Check: %s, "
                   "status %d)",
                   h_regions[in->region], in->port, timeout_ms, client_status_name(last), serving);
            h_err_add_log(in);
            break;
        }
        int probe_max_ms = H_PROBE_TIMEOUT_MS * h_timeout_scale();
        int probe_ms = left < probe_max_ms ? (int)left : probe_max_ms;
        if (harness_channel_wait_ready(ch, probe_ms) != 0) {
            last = GRPC_STATUS_UNAVAILABLE;
            continue;
        }
        last = harness_health(ch, probe_ms, &serving);
        if (last == GRPC_STATUS_OK &&
            serving == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING) {
            rc = 0;
            break;
        }
        proc_sleep_ms(H_PROBE_PAUSE_MS);
    }
    grpc_channel_destroy(ch);
    return rc;
}

/* Stops a running instance: SIGCONT if frozen, SIGTERM, wait, SIGKILL. */
static int h_stop_instance(h_instance_t *in) {
    if (in->pid == 0) return 0;
    if (in->frozen) {
        proc_signal(in->pid, SIGCONT);
        in->frozen = false;
    }
    int status = 0;
    if (proc_stop(in->pid, h_stop_timeout_ms(), &status) != 0) {
        h_errf("could not stop gatewayd pid %d", (int)in->pid);
        return -1;
    }
    in->exit_status = h_status_code(status);
    in->pid = 0;
    return 0;
}

static int h_pick_port(const federation_t *f) {
    for (int tries = 0; tries < 50; tries++) {
        int port = proc_free_tcp_port();
        if (port < 0) continue;
        bool used = false;
        for (int i = 0; i < f->inst_n; i++) used = used || f->inst[i].port == port;
        for (int r = 0; r < FEDERATION_REGIONS_MAX; r++)
            used = used || (f->redis[r] != NULL && f->redis[r]->port == port);
        if (!used) return port;
    }
    h_errf("no free TCP port on 127.0.0.1");
    return -1;
}

static int h_init_instance(federation_t *f, int index, int region) {
    h_instance_t *in = &f->inst[index];
    memset(in, 0, sizeof *in);
    in->region = region;
    in->exit_status = -1;
    in->port = h_pick_port(f);
    if (in->port < 0) return -1;
    const char *suffix = index < f->opts.regions_n ? "" : "-second";
    char n[16];
    snprintf(n, sizeof n, "%s%d", suffix[0] ? "-" : "", index);
    snprintf(in->config_path, sizeof in->config_path, "%s/%s%s%s.ini", f->dir, h_regions[region],
             suffix, suffix[0] ? n : "");
    snprintf(in->log_path, sizeof in->log_path, "%s/%s%s%s.log", f->dir, h_regions[region],
             suffix, suffix[0] ? n : "");
    FILE *log = fopen(in->log_path, "w"); /* a fresh log (a retried start reuses names) */
    if (log != NULL) fclose(log);
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------------ */

static int h_rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

static void h_kill_all_now(federation_t *f) {
    for (int i = 0; i < f->inst_n; i++) {
        h_instance_t *in = &f->inst[i];
        if (in->pid == 0) continue;
        if (proc_kill9(in->pid) == 0) in->exit_status = 128 + SIGKILL; /* kills and reaps */
        in->pid = 0;
    }
}

/* Waits (at most H_HELLO_WAIT_MS) until every gateway has said Hello to each
 * of its peers (logged peer_hello, peer_hello_failed or peer_lacks_catalog): a gateway serves
 * before its Hello round, and a peer's channel left in reconnect backoff by a
 * failed Hello is reset when that peer's own Hello arrives. Then a test's
 * first call does not meet a channel still waiting out a backoff. */
static void h_wait_hello_round(const federation_t *f) {
    long long deadline = proc_now_ms() + (long long)H_HELLO_WAIT_MS * h_timeout_scale();
    for (int r = 0; r < f->inst_n; r++)
        while (federation_log_count(f, r, "\"peer_hello") + federation_log_count(f, r, "\"peer_lacks_catalog") <
                   f->opts.regions_n - 1 &&
               proc_now_ms() < deadline)
            proc_sleep_ms(H_PROBE_PAUSE_MS);
}

/* One attempt at starting the gateways (Redis already runs). 0, -1, -2 (port taken). */
static int h_start_gateways(federation_t *f) {
    f->inst_n = 0;
    for (int r = 0; r < f->opts.regions_n; r++) {
        if (h_init_instance(f, r, r) != 0) return -1;
        f->inst_n++;
    }
    for (int r = 0; r < f->opts.regions_n; r++)
        if (h_write_config(f, &f->inst[r]) != 0) return -1;
    for (int r = 0; r < f->opts.regions_n; r++)
        if (h_spawn(&f->inst[r]) != 0) return -1;
    long long deadline = proc_now_ms() + h_health_timeout_ms();
    for (int r = 0; r < f->opts.regions_n; r++) {
        long long left = deadline - proc_now_ms();
        int rc = h_wait_serving(&f->inst[r], left > 0 ? (int)left : 1);
        if (rc != 0) return rc;
    }
    h_wait_hello_round(f);
    return 0;
}

federation_t *federation_start(const federation_options_t *opts) {
    h_err[0] = '\0';
    federation_options_t o = {0};
    if (opts != NULL) o = *opts;
    if (o.regions_n == 0) o.regions_n = 1;
    if (o.regions_n < 1 || o.regions_n > FEDERATION_REGIONS_MAX) {
        h_errf("federation_start: regions_n must be 1..%d, not %d", FEDERATION_REGIONS_MAX,
               o.regions_n);
        return NULL;
    }
#define H_DEFAULT(field, value) o.field = o.field == 0 ? (value) : o.field == FEDERATION_ZERO ? 0 : o.field
    H_DEFAULT(leg_expiry_ms, 5000);
    H_DEFAULT(batch_window_ms, 2);
    H_DEFAULT(recovery_interval_ms, 500);
    H_DEFAULT(peer_timeout_ms, 2000);
    H_DEFAULT(workers, 2);
    H_DEFAULT(max_message_bytes, 1 << 20);
#undef H_DEFAULT
    federation_t *f = calloc(1, sizeof *f);
    if (f == NULL) abort();
    f->opts = o;
    if (o.extra_ini != NULL) {
        f->extra_ini = strdup(o.extra_ini);
        if (f->extra_ini == NULL) abort();
    }
    f->opts.extra_ini = f->extra_ini;
    grpc_init();
    f->grpc_ref = true;

    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || *tmp == '\0') tmp = "/tmp";
    int dn = snprintf(f->dir, sizeof f->dir, "%s/federation-XXXXXX", tmp);
    if (dn < 0 || (size_t)dn >= sizeof f->dir || mkdtemp(f->dir) == NULL) {
        h_errf("federation_start: mkdtemp in %s: %s", tmp, strerror(errno));
        f->dir[0] = '\0';
        goto fail;
    }
    for (int r = 0; r < o.regions_n; r++) {
        char rdir[PATH_MAX];
        if (o.store_sentinels[r] != NULL) { /* the caller's replicated store */
            if (o.store_redis[r] == NULL || o.store_master_name[r] == NULL) {
                h_errf("federation_start: %s: store_sentinels without store_redis or master name",
                       h_regions[r]);
                goto fail;
            }
            f->redis[r] = o.store_redis[r];
            f->redis_borrowed[r] = true;
            continue;
        }
        snprintf(rdir, sizeof rdir, "%s/%s-redis", f->dir, h_regions[r]);
        f->redis[r] = redis_start(rdir);
        if (f->redis[r] == NULL) {
            h_errf("federation_start: redis for %s: %s", h_regions[r], redis_last_error());
            goto fail;
        }
    }
    for (int attempt = 1;; attempt++) {
        int rc = h_start_gateways(f);
        if (rc == 0) break;
        h_kill_all_now(f);
        if (rc != -2 || attempt == H_START_ATTEMPTS) goto fail;
    }
    return f;
fail:;
    char saved[H_ERR_MAX];
    snprintf(saved, sizeof saved, "%s", h_err);
    federation_free(f);
    snprintf(h_err, sizeof h_err, "%s", saved);
    return NULL;
}

int federation_stop(federation_t *f) {
    if (f == NULL || f->stopped) return 0;
    f->stopped = true;
    int rc = 0;
    for (int c = 0; c < f->channels_n; c++) grpc_channel_destroy(f->channels[c].channel);
    f->channels_n = 0;
    /* SIGTERM all first so they stop in parallel, then collect. */
    for (int i = 0; i < f->inst_n; i++) {
        h_instance_t *in = &f->inst[i];
        if (in->pid == 0) continue;
        if (in->frozen) {
            proc_signal(in->pid, SIGCONT);
            in->frozen = false;
        }
        proc_signal(in->pid, SIGTERM);
    }
    long long deadline = proc_now_ms() + h_stop_timeout_ms();
    for (int i = 0; i < f->inst_n; i++) {
        h_instance_t *in = &f->inst[i];
        if (in->pid == 0) continue;
        long long left = deadline - proc_now_ms();
        int status = 0;
        int w = proc_wait(in->pid, left > 0 ? (int)left : 0, &status);
        if (w == 1) {
            fprintf(stderr, "gateway_harness: %s pid %d ignored SIGTERM for %d ms: SIGKILL\n",
                    h_regions[in->region], (int)in->pid, h_stop_timeout_ms());
            proc_signal(in->pid, SIGKILL);
            w = proc_wait(in->pid, 5000, &status);
        }
        if (w == 0) {
            in->exit_status = h_status_code(status);
            if (in->exit_status != 0) h_print_stop_log(in);
        } else {
            h_errf("federation_stop: could not reap gatewayd pid %d", (int)in->pid);
            rc = -1;
        }
        in->pid = 0;
    }
    for (int r = 0; r < FEDERATION_REGIONS_MAX; r++) {
        if (f->redis[r] == NULL) continue;
        if (f->redis_borrowed[r]) {
            f->redis[r] = NULL;
            continue;
        }
        if (redis_stop(f->redis[r]) != 0) {
            h_errf("federation_stop: %s", redis_last_error());
            rc = -1;
        }
        f->redis[r] = NULL;
    }
    if (f->dir[0] != '\0') {
        if (getenv("KEEP_TEST_DIRS") != NULL) {
            fprintf(stderr, "gateway_harness: kept %s\n", f->dir);
        } else if (nftw(f->dir, h_rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
            h_errf("federation_stop: could not remove %s: %s", f->dir, strerror(errno));
            rc = -1;
        }
    }
    if (f->grpc_ref) {
        grpc_shutdown();
        f->grpc_ref = false;
    }
    return rc;
}

void federation_free(federation_t *f) {
    if (f == NULL) return;
    federation_stop(f);
    free(f->extra_ini);
    free(f);
}

/* ---- per-instance control -------------------------------------------------------- */

static h_instance_t *h_instance(const federation_t *f, int i, const char *what) {
    if (f == NULL || i < 0 || i >= f->inst_n) {
        h_errf("%s: no instance %d", what, i);
        return NULL;
    }
    return (h_instance_t *)&f->inst[i];
}

int federation_exit_status(const federation_t *f, int i) {
    const h_instance_t *in = h_instance(f, i, "federation_exit_status");
    return in != NULL ? in->exit_status : -1;
}

int federation_kill9(federation_t *f, int i) {
    h_instance_t *in = h_instance(f, i, "federation_kill9");
    if (in == NULL) return -1;
    if (in->pid == 0) {
        h_errf("federation_kill9: instance %d is not running", i);
        return -1;
    }
    if (proc_kill9(in->pid) != 0) {
        h_errf("federation_kill9: pid %d: %s", (int)in->pid, strerror(errno));
        return -1;
    }
    in->exit_status = 128 + SIGKILL;
    in->pid = 0;
    in->frozen = false;
    return 0;
}

int federation_restart(federation_t *f, int i) {
    h_instance_t *in = h_instance(f, i, "federation_restart");
    if (in == NULL) return -1;
    if (h_stop_instance(in) != 0) return -1;
    if (h_spawn(in) != 0) return -1;
    if (h_wait_serving(in, h_health_timeout_ms()) != 0) return -1;
    /* Cached channels saw the old process die: reconnect them now, so that
     * the test's next call does not fail fast on a channel in backoff. */
    for (int c = 0; c < f->channels_n; c++)
        if (f->channels[c].instance == i) harness_channel_wait_ready(f->channels[c].channel, 5000);
    return 0;
}

/* Sends SIGSTOP or SIGCONT and waits (WUNTRACED / WCONTINUED) until every
 * thread of the child has stopped or resumed: kill() returns before that, and
 * a gateway may still answer a call in the meantime. */
static int h_signal(federation_t *f, int i, int sig, const char *what) {
    h_instance_t *in = h_instance(f, i, what);
    if (in == NULL) return -1;
    if (in->pid == 0) {
        h_errf("%s: instance %d is not running", what, i);
        return -1;
    }
    if (proc_signal(in->pid, sig) != 0) {
        h_errf("%s: pid %d: %s", what, (int)in->pid, strerror(errno));
        return -1;
    }
    long long deadline = proc_now_ms() + 5000;
    for (;;) {
        int status = 0;
        pid_t r = waitpid(in->pid, &status, WNOHANG | (sig == SIGSTOP ? WUNTRACED : WCONTINUED));
        if (r == in->pid) {
            if (sig == SIGSTOP && WIFSTOPPED(status)) break;
            if (sig == SIGCONT && WIFCONTINUED(status)) break;
            if (WIFEXITED(status) || WIFSIGNALED(status)) {
                in->exit_status = h_status_code(status);
                in->pid = 0;
                in->frozen = false;
                h_errf("%s: instance %d exited with status %d", what, i, in->exit_status);
                return -1;
            }
        } else if (r < 0 && errno != EINTR) {
            h_errf("%s: waitpid %d: %s", what, (int)in->pid, strerror(errno));
            return -1;
        }
        if (proc_now_ms() >= deadline) {
            h_errf("%s: pid %d did not %s within 5 s", what, (int)in->pid,
                   sig == SIGSTOP ? "stop" : "continue");
            return -1;
        }
        proc_sleep_ms(1);
    }
    in->frozen = sig == SIGSTOP;
    return 0;
}

int federation_sigstop(federation_t *f, int i) { return h_signal(f, i, SIGSTOP, "federation_sigstop"); }
int federation_sigcont(federation_t *f, int i) { return h_signal(f, i, SIGCONT, "federation_sigcont"); }

int federation_start_second(federation_t *f, int region) {
    if (f == NULL || region < 0 || region >= f->opts.regions_n) {
        h_errf("federation_start_second: no region %d", region);
        return -1;
    }
    if (f->inst_n == FEDERATION_INSTANCES_MAX) {
        h_errf("federation_start_second: at most %d instances", FEDERATION_INSTANCES_MAX);
        return -1;
    }
    for (int attempt = 1;; attempt++) {
        int index = f->inst_n;
        if (h_init_instance(f, index, region) != 0) return -1;
        h_instance_t *in = &f->inst[index];
        if (h_write_config(f, in) != 0 || h_spawn(in) != 0) return -1;
        f->inst_n++;
        int rc = h_wait_serving(in, h_health_timeout_ms());
        if (rc == 0) return index;
        if (in->pid != 0) proc_kill9(in->pid);
        in->pid = 0;
        if (rc != -2 || attempt == H_START_ATTEMPTS) return -1;
        f->inst_n--; /* the port was taken: try another */
    }
}

int federation_regions(const federation_t *f) { return f->opts.regions_n; }
int federation_instances(const federation_t *f) { return f->inst_n; }

int federation_set_redis(federation_t *f, int region, redis_harness_t *primary) {
    assert(f != NULL && primary != NULL);
    if (region < 0 || region >= f->opts.regions_n || !f->redis_borrowed[region]) {
        h_errf("federation_set_redis: region %d's store is not the caller's", region);
        return -1;
    }
    f->redis[region] = primary;
    return 0;
}

redis_harness_t *federation_redis(const federation_t *f, int i) {
    const h_instance_t *in = h_instance(f, i, "federation_redis");
    return in != NULL ? f->redis[in->region] : NULL;
}
int federation_port(const federation_t *f, int i) {
    const h_instance_t *in = h_instance(f, i, "federation_port");
    return in != NULL ? in->port : -1;
}
pid_t federation_pid(const federation_t *f, int i) {
    const h_instance_t *in = h_instance(f, i, "federation_pid");
    return in != NULL ? in->pid : 0;
}
const char *federation_region(const federation_t *f, int i) {
    const h_instance_t *in = h_instance(f, i, "federation_region");
    return in != NULL ? h_regions[in->region] : NULL;
}
const char *federation_log_path(const federation_t *f, int i) {
    const h_instance_t *in = h_instance(f, i, "federation_log_path");
    return in != NULL ? in->log_path : NULL;
}
const char *federation_config_path(const federation_t *f, int i) {
    const h_instance_t *in = h_instance(f, i, "federation_config_path");
    return in != NULL ? in->config_path : NULL;
}
const char *federation_dir(const federation_t *f) { return f->dir; }

#define H_CONFIG_BYTES_MAX (64 * 1024)

int federation_config_edit(const federation_t *f, int i, const char *line_prefix, const char *from,
                           const char *to) {
    const h_instance_t *in = h_instance(f, i, "federation_config_edit");
    if (in == NULL) return -1;
    FILE *file = fopen(in->config_path, "r");
    if (file == NULL) {
        h_errf("%s: %s", in->config_path, strerror(errno));
        return -1;
    }
    char *text = calloc(1, H_CONFIG_BYTES_MAX), line[4096];
    if (text == NULL) abort();
    size_t used = 0, pl = strlen(line_prefix), fl = strlen(from), tl = strlen(to);
    int changed = 0;
    while (fgets(line, sizeof line, file) != NULL) {
        size_t ll = strlen(line);
        char *at = strncmp(line, line_prefix, pl) == 0 ? strstr(line + pl, from) : NULL;
        size_t need = at != NULL ? ll - fl + tl : ll;
        if (used + need >= H_CONFIG_BYTES_MAX) {
            h_errf("%s: over %d bytes", in->config_path, H_CONFIG_BYTES_MAX);
            fclose(file);
            free(text);
            return -1;
        }
        if (at == NULL) {
            memcpy(text + used, line, ll);
        } else {
            size_t head = (size_t)(at - line);
            memcpy(text + used, line, head);
            memcpy(text + used + head, to, tl);
            memcpy(text + used + head + tl, at + fl, ll - head - fl);
            changed++;
        }
        used += need;
    }
    fclose(file);
    file = fopen(in->config_path, "w");
    if (file == NULL || fwrite(text, 1, used, file) != used) {
        h_errf("%s: %s", in->config_path, strerror(errno));
        if (file != NULL) fclose(file);
        free(text);
        return -1;
    }
    free(text);
    if (fclose(file) != 0) {
        h_errf("%s: %s", in->config_path, strerror(errno));
        return -1;
    }
    return changed;
}

/* ---- observations ----------------------------------------------------------------- */

static int h_str_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static uint64_t h_fnv64(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int h_item_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A hash of a reply's content. step 2: field/value pairs (a hash); sorted
 * when unordered (hashes, sets), so Redis's return order does not matter. */
static uint64_t h_snapshot_hash(const redisReply *r, size_t step, int unordered) {
    if (r->type != REDIS_REPLY_ARRAY) return h_fnv64(r->str ? r->str : "", r->str ? r->len : 0);
    size_t n = r->elements / step;
    char **items = calloc(n + 1, sizeof *items);
    if (items == NULL) abort();
    for (size_t i = 0; i < n; i++) {
        const char *a = r->element[i * step]->str ? r->element[i * step]->str : "";
        const char *b = step == 2 && r->element[i * 2 + 1]->str ? r->element[i * 2 + 1]->str : "";
        size_t len = strlen(a) + strlen(b) + 2;
        items[i] = malloc(len);
        if (items[i] == NULL) abort();
        snprintf(items[i], len, "%s\x1f%s", a, b);
    }
    if (unordered) qsort(items, n, sizeof *items, h_item_cmp);
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= h_fnv64(items[i], strlen(items[i]));
        h *= 1099511628211ull;
        free(items[i]);
    }
    free(items);
    return h;
}

/* Waits (at most 5 s) until no activity reservation in c's store is still
 * unsettled: an issuer settles its reservations at their homes just after
 * it answers (gateway/services/activities.h), so a snapshot taken right
 * after an Issue would otherwise race with that settlement. */
static void h_wait_activities_settled(redisContext *c) {
    for (int tries = 0; tries < 100; tries++) {
        redisReply *v = redisCommand(c, "HVALS " STORE_KEY_ACTIVITIES);
        int pending = 0;
        for (size_t k = 0; v != NULL && v->type == REDIS_REPLY_ARRAY && k < v->elements; k++)
            pending += v->element[k]->type == REDIS_REPLY_STRING && v->element[k]->str[0] == 'R';
        freeReplyObject(v);
        if (pending == 0) return;
        proc_sleep_ms(50);
    }
}

/* 1 if a snapshot describes key: not the log's tree, a lease or a
 * checkpoint (gateways write them on their own timers), nor a key that
 * starts with one of the NULL-terminated prefixes (at most 16). */
static int h_snapshot_keeps(const char *key, const char *const *prefixes) {
    if (strcmp(key, STORE_KEY_LOG_TREE) == 0 ||
        strncmp(key, STORE_KEY_LOG_TILE_PREFIX, strlen(STORE_KEY_LOG_TILE_PREFIX)) == 0 ||
        strncmp(key, STORE_KEY_LEASE_PREFIX, strlen(STORE_KEY_LEASE_PREFIX)) == 0 ||
        strncmp(key, STORE_KEY_CHECKPOINT_PREFIX, strlen(STORE_KEY_CHECKPOINT_PREFIX)) == 0)
        return 0;
    for (size_t k = 0; prefixes != NULL && prefixes[k] != NULL; k++) {
        if (k >= 16) abort(); /* the contract: at most 16 */
        if (strncmp(key, prefixes[k], strlen(prefixes[k])) == 0) return 0;
    }
    return 1;
}

char *federation_store_snapshot(const federation_t *f, int i) { return federation_store_snapshot_except(f, i, NULL); }

char *federation_store_snapshot_except(const federation_t *f, int i, const char *const *prefixes) {
    redis_harness_t *rh = federation_redis(f, i);
    if (rh == NULL) return NULL;
    redisContext *c = redis_connect(rh);
    if (c == NULL) {
        h_errf("federation_store_snapshot: %s", redis_last_error());
        return NULL;
    }
    h_wait_activities_settled(c);
    char *out = NULL;
    size_t out_len = 0;
    FILE *m = open_memstream(&out, &out_len);
    if (m == NULL) abort();
    redisReply *size = redisCommand(c, "DBSIZE");
    redisReply *keys = redisCommand(c, "KEYS *");
    int ok = size != NULL && size->type == REDIS_REPLY_INTEGER && keys != NULL &&
             keys->type == REDIS_REPLY_ARRAY;
    if (ok) {
        size_t n = keys->elements;
        char **names = calloc(n + 1, sizeof *names);
        if (names == NULL) abort();
        size_t kept = 0;
        for (size_t k = 0; k < n; k++) {
            /* the tree is derived from the log's entries, by the integrator, at any time */
            if (h_snapshot_keeps(keys->element[k]->str, prefixes)) names[kept++] = keys->element[k]->str;
        }
        qsort(names, kept, sizeof *names, h_str_cmp);
        /* Counted from the one KEYS reply: a lease key may come or go between
         * DBSIZE and KEYS, so DBSIZE itself is not part of the description. */
        fprintf(m, "KEYS %zu (without leases, checkpoints and the log's tree)\n", kept);
        for (size_t k = 0; k < kept; k++) {
            /* The content, read in a canonical order: DUMP is not canonical
             * (a hash table's order changes with incremental rehashing). */
            redisReply *type = redisCommand(c, "TYPE %s", names[k]);
            const char *t = type != NULL && type->type == REDIS_REPLY_STATUS ? type->str : "?";
            redisReply *content = NULL;
            if (!strcmp(t, "string")) content = redisCommand(c, "GET %s", names[k]);
            else if (!strcmp(t, "hash")) content = redisCommand(c, "HGETALL %s", names[k]);
            else if (!strcmp(t, "list")) content = redisCommand(c, "LRANGE %s 0 -1", names[k]);
            else if (!strcmp(t, "zset")) content = redisCommand(c, "ZRANGE %s 0 -1 WITHSCORES", names[k]);
            else if (!strcmp(t, "set")) content = redisCommand(c, "SMEMBERS %s", names[k]);
            if (type == NULL || content == NULL) {
                ok = 0;
            } else {
                int is_hash = !strcmp(t, "hash");
                uint64_t h = h_snapshot_hash(content, is_hash ? 2 : 1, is_hash || !strcmp(t, "set"));
                fprintf(m, "%s %s %zu %016llx\n", names[k], t,
                        content->type == REDIS_REPLY_ARRAY ? content->elements : content->len,
                        (unsigned long long)h);
            }
            if (type != NULL) freeReplyObject(type);
            if (content != NULL) freeReplyObject(content);
        }
        free(names);
    }
    if (size != NULL) freeReplyObject(size);
    if (keys != NULL) freeReplyObject(keys);
    fclose(m);
    if (!ok) {
        h_errf("federation_store_snapshot: %s", c->err ? c->errstr : "unexpected reply");
        free(out);
        out = NULL;
    }
    redisFree(c);
    return out;
}

int federation_log_count(const federation_t *f, int i, const char *needle) {
    const char *path = federation_log_path(f, i);
    if (path == NULL) return -1;
    FILE *fp = fopen(path, "r");
    if (fp == NULL) return -1;
    char *line = NULL;
    size_t cap = 0;
    int count = 0;
    while (getline(&line, &cap, fp) >= 0)
        if (strstr(line, needle) != NULL) count++;
    free(line);
    fclose(fp);
    return count;
}

/* ---- running a command to completion ------------------------------------------------ */

int harness_run(const char *const argv[], int timeout_ms, int *status_out, char **out,
                char **err) {
    assert(argv != NULL && argv[0] != NULL);
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || *tmp == '\0') tmp = "/tmp";
    char out_path[PATH_MAX], err_path[PATH_MAX];
    snprintf(out_path, sizeof out_path, "%s/harness-run-out-XXXXXX", tmp);
    snprintf(err_path, sizeof err_path, "%s/harness-run-err-XXXXXX", tmp);
    int out_fd = mkostemp(out_path, O_CLOEXEC);
    int err_fd = out_fd >= 0 ? mkostemp(err_path, O_CLOEXEC) : -1;
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out_fd < 0 || err_fd < 0 || null_fd < 0) {
        h_errf("harness_run: temp files in %s: %s", tmp, strerror(errno));
        if (out_fd >= 0) close(out_fd), unlink(out_path);
        if (err_fd >= 0) close(err_fd), unlink(err_path);
        if (null_fd >= 0) close(null_fd);
        return -1;
    }
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(126);
        if (dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) _exit(126);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(out_fd);
    close(err_fd);
    close(null_fd);
    int rc = 0;
    if (pid < 0) {
        h_errf("harness_run: fork: %s", strerror(errno));
        rc = -1;
    } else {
        int status = 0;
        int w = proc_wait(pid, timeout_ms, &status);
        if (w == 1) {
            h_errf("harness_run: %s still running after %d ms: killed", argv[0], timeout_ms);
            proc_kill9(pid);
            rc = -1;
        } else if (w != 0) {
            h_errf("harness_run: waitpid %d failed", (int)pid);
            rc = -1;
        } else if (status_out != NULL) {
            *status_out = h_status_code(status);
        }
    }
    if (out != NULL) *out = h_read_all(out_path);
    if (err != NULL) *err = h_read_all(err_path);
    unlink(out_path);
    unlink(err_path);
    return rc;
}
