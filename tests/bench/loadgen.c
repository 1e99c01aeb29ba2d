/* loadgen.c - closed-loop load generator for gatewayd (issue 7).
 *
 * One process, one completion queue, one thread: N calls are kept in flight
 * over mutual TLS; each completion records its latency and starts the next
 * call, until the measured time is up; then the calls in flight drain.
 * Results are one JSON line on stdout; progress and errors go to stderr.
 *
 *   loadgen health   --target CN-TJ=127.0.0.1:7201 ...     grpc.health.v1.Health/Check
 *   loadgen transfer --target CN-TJ=... --to-region CN-BJ  Registry.Transfer, source pool -> destination pool
 *   loadgen triangle --target CN-TJ=... --target CN-BJ=... --target CN-HE=...
 *                                                          TJ->BJ, BJ->HE, HE->TJ in turn
 *   loadgen setup    --target ... --accounts N             OpenAccount + Issue for PREFIX0..N-1 in each region
 *
 * Accounts are PREFIX<i> (i < --accounts) in every region. Each region has a
 * bench methodology (its own bus/metro travel) and, for the triangle, the
 * smallest amount that credits one display unit at the next region. With
 * --metrics HOST:PORT (repeatable) it scrapes the gateways' Prometheus
 * endpoints before and after and reports store calls per settled transfer.
 * See scripts/run-bench.sh. */
#include "common/region.h"
#include "carbon/v1/carbon.pb-c.h"
#include "gateway/rpc/client.h"
#include "gateway/rpc/tls_client.h"
#include "gateway/rpc/grpc_lifetime.h"
#include "grpc/health/v1/health.pb-c.h"
#include "settlement/engine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LG_TARGETS_MAX 3
#define LG_CHANNELS_MAX 16
#define LG_IN_FLIGHT_MAX 4096
#define LG_TAGS_MAX 16
#define LG_METRICS_MAX 8
#define LG_SAMPLES_MAX (200u * 1000u * 1000u) /* latencies kept (uint32 us each) */
#define LG_SCRAPE_BYTES_MAX (1u << 20)
#define LG_ERRORS_SHOWN 5
#define LG_ID_MAX 64
#define LG_CPU_MAX 12 /* processes whose CPU is reported (--cpu), loadgen included */

/* ---- regions: the bench methodology and the triangle's amount -------------- */

typedef struct {
    const char *region;
    const char *meth;          /* issued at setup, sent by transfers */
    uint64_t triangle_units;   /* smallest amount crediting one display unit next door */
} lg_region_t;

/* Triangle order: each region sends to the next (catalogs in adapters/catalogs). */
static const lg_region_t lg_regions[] = {
    {"CN-TJ", "TJ-GT-01", 1},  /* 1 kg -> CN-BJ at 9/10: 90 points */
    {"CN-BJ", "BJ-GT-01", 10}, /* 10 points = 100 g -> CN-HE at 1/1: 1 credit */
    {"CN-HE", "HE-GT-01", 12}, /* 12 credits = 1200 g -> CN-TJ at 9/10: 1 kg */
};
#define LG_REGIONS_N (sizeof lg_regions / sizeof lg_regions[0])

static int lg_region_index(const char *region) {
    for (size_t i = 0; i < LG_REGIONS_N; i++)
        if (strcmp(lg_regions[i].region, region) == 0) return (int)i;
    return -1;
}

/* ---- options ---------------------------------------------------------------- */

typedef enum { MODE_HEALTH, MODE_TRANSFER, MODE_TRIANGLE, MODE_SETUP } lg_mode_t;
static const char *const lg_mode_names[] = {"health", "transfer", "triangle", "setup"};

enum { M_HEALTH, M_OPEN, M_ISSUE, M_TRANSFER, M_METHODS };
static const char *const lg_paths[M_METHODS] = {
    "/grpc.health.v1.Health/Check", "/carbon.v1.Registry/OpenAccount",
    "/carbon.v1.Registry/Issue", "/carbon.v1.Registry/Transfer"};

typedef struct {
    char region[CARBON_REGION_SIZE];
    char addr[128];
    int def;    /* index in lg_regions, or -1 */
    int peer;   /* transfer/triangle: index of the destination target, or -1 */
    char to_region[CARBON_REGION_SIZE];
    grpc_channel *ch[LG_CHANNELS_MAX];
    void *handle[LG_CHANNELS_MAX][M_METHODS];
    uint64_t next_call; /* transfers: round-robin over the account pools */
    uint64_t next_ch;   /* round-robin over the channels */
} lg_target_t;

typedef struct {
    lg_mode_t mode;
    lg_target_t targets[LG_TARGETS_MAX];
    int targets_n;
    const char *pki;
    int in_flight;
    uint64_t seconds_ms; /* measured time */
    uint64_t warmup_ms;
    uint64_t settle_ms;  /* pause after draining before the last scrape */
    int channels;
    int64_t timeout_ms;
    uint64_t accounts;
    const char *prefix;
    const char *to_region;
    const char *meth;
    uint64_t amount;
    uint64_t quantity_milli;
    const char *metrics[LG_METRICS_MAX];
    int metrics_n;
    double baseline;
    const char *tags[LG_TAGS_MAX];
    int tags_n;
    struct lg_cpu_proc {           /* --cpu NAME=PID, and loadgen itself */
        char name[32];
        int pid;                   /* 0: this process */
        uint64_t ticks0, ticks1;   /* utime + stime at the measured window's ends */
        uint64_t child0, child1;   /* of them, its children's (ended and running) */
    } cpu[LG_CPU_MAX];
    int cpu_n;
} lg_opts_t;

/* ---- calls in flight ----------------------------------------------------------- */

typedef struct {
    int busy;
    int method;
    int target;
    uint64_t account; /* setup: the account being opened and issued */
    grpc_call *call;
    grpc_byte_buffer *req, *resp;
    grpc_metadata_array initial_md, trailing_md;
    grpc_status_code status;
    grpc_slice details;
    uint64_t start_ns;
    char id[33]; /* transfer: its transfer_id, for LOADGEN_SLOW_MS */
} lg_slot_t;

typedef struct {
    uint64_t completed, ok, committed, aborted, errors;
    uint64_t codes[GRPC_STATUS_UNAUTHENTICATED + 2];
    uint32_t *lat_us;
    size_t lat_n, lat_cap;
    int errors_shown;
} lg_stats_t;

typedef struct {
    lg_opts_t *o;
    grpc_completion_queue *cq;
    lg_slot_t *slots;
    uint64_t salt;
    uint64_t id_counter;
    uint64_t setup_next; /* setup: next work item (target x account) */
    uint64_t setup_total;
    uint64_t t0_ns, measure_ns, end_ns;
    lg_stats_t st;
} lg_t;

static uint64_t lg_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void lg_new_id(lg_t *g, char out[33]) {
    snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, g->salt, ++g->id_counter);
}

static void lg_record_latency(lg_stats_t *s, uint64_t ns) {
    if (s->lat_n == s->lat_cap) {
        if (s->lat_cap >= LG_SAMPLES_MAX) return;
        size_t cap = s->lat_cap ? s->lat_cap * 2 : 65536;
        uint32_t *p = realloc(s->lat_us, cap * sizeof *p);
        if (p == NULL) return;
        s->lat_us = p;
        s->lat_cap = cap;
    }
    uint64_t us = ns / 1000u;
    s->lat_us[s->lat_n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static grpc_byte_buffer *lg_pack(const ProtobufCMessage *m) {
    size_t len = protobuf_c_message_get_packed_size(m);
    grpc_slice slice = grpc_slice_malloc(len);
    protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(slice));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    return bb;
}

/* Builds the request of slot s for its method. */
static grpc_byte_buffer *lg_request(lg_t *g, lg_slot_t *s) {
    lg_opts_t *o = g->o;
    lg_target_t *t = &o->targets[s->target];
    char id[33], acct[LG_ID_MAX], to[LG_ID_MAX], fp[96];
    switch (s->method) {
    case M_HEALTH: {
        Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
        req.service = "";
        return lg_pack(&req.base);
    }
    case M_OPEN: {
        Carbon__V1__OpenAccountRequest req = CARBON__V1__OPEN_ACCOUNT_REQUEST__INIT;
        snprintf(acct, sizeof acct, "%s%" PRIu64, o->prefix, s->account);
        req.account_id = acct;
        req.holder_kind = "personal";
        return lg_pack(&req.base);
    }
    case M_ISSUE: {
        Carbon__V1__IssueRequest req = CARBON__V1__ISSUE_REQUEST__INIT;
        lg_new_id(g, id);
        snprintf(acct, sizeof acct, "%s%" PRIu64, o->prefix, s->account);
        snprintf(fp, sizeof fp, "bench-%s-%s", t->region, id);
        req.issuance_id = id;
        req.account_id = acct;
        req.methodology_id = o->meth != NULL ? (char *)o->meth : (char *)lg_regions[t->def].meth;
        req.vintage_year = 2026;
        req.quantity_milli = o->quantity_milli;
        req.activity_fingerprint = fp;
        return lg_pack(&req.base);
    }
    default: {
        Carbon__V1__TransferRequest req = CARBON__V1__TRANSFER_REQUEST__INIT;
        uint64_t k = t->next_call++;
        lg_new_id(g, id);
        memcpy(s->id, id, sizeof s->id);
        /* sources round-robin; destinations offset so that pairs vary */
        snprintf(acct, sizeof acct, "%s%" PRIu64, o->prefix, k % o->accounts);
        snprintf(to, sizeof to, "%s%" PRIu64, o->prefix, (k * 7 + o->accounts / 2) % o->accounts);
        req.transfer_id = id;
        req.from_account_id = acct;
        req.to_region = t->to_region;
        req.to_account_id = to;
        if (o->mode == MODE_TRIANGLE) {
            req.methodology_id = (char *)lg_regions[t->def].meth;
            req.amount_units = lg_regions[t->def].triangle_units;
        } else {
            req.methodology_id = o->meth != NULL ? (char *)o->meth : (char *)lg_regions[t->def].meth;
            req.amount_units = o->amount;
        }
        return lg_pack(&req.base);
    }
    }
}

static void lg_start(lg_t *g, lg_slot_t *s) {
    lg_target_t *t = &g->o->targets[s->target];
    int c = (int)(t->next_ch++ % (uint64_t)g->o->channels);
    s->req = lg_request(g, s);
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                         gpr_time_from_millis(g->o->timeout_ms, GPR_TIMESPAN));
    s->call = grpc_channel_create_registered_call(t->ch[c], NULL, GRPC_PROPAGATE_DEFAULTS, g->cq,
                                                  t->handle[c][s->method], deadline, NULL);
    grpc_metadata_array_init(&s->initial_md);
    grpc_metadata_array_init(&s->trailing_md);
    s->resp = NULL;
    s->status = GRPC_STATUS_UNKNOWN;
    s->details = grpc_empty_slice();
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = s->req;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &s->resp;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &s->trailing_md;
    ops[5].data.recv_status_on_client.status = &s->status;
    ops[5].data.recv_status_on_client.status_details = &s->details;
    s->start_ns = lg_now_ns();
    s->busy = 1;
    grpc_call_error e = grpc_call_start_batch(s->call, ops, 6, s, NULL);
    if (e != GRPC_CALL_OK) {
        fprintf(stderr, "loadgen: grpc_call_start_batch: %d\n", (int)e);
        exit(1);
    }
}

/* Transfer outcome of a response: 'C', 'A' or '?'. */
static char lg_transfer_outcome(grpc_byte_buffer *bb) {
    if (bb == NULL) return '?';
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb)) return '?';
    grpc_slice all = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    Carbon__V1__TransferResponse *resp = carbon__v1__transfer_response__unpack(
        NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
    grpc_slice_unref(all);
    char out = '?';
    if (resp != NULL && resp->transfer != NULL) {
        if (resp->transfer->outcome == CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED)
            out = 'C';
        else if (resp->transfer->outcome == CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_ABORTED)
            out = 'A';
    }
    if (resp != NULL) carbon__v1__transfer_response__free_unpacked(resp, NULL);
    return out;
}

/* With LOADGEN_SLOW_MS set: a call slower than that, on stderr with the
 * wall-clock time it started (to line up with gateway logs). */
static void lg_trace_slow(const lg_slot_t *s, uint64_t now_ns) {
    static long slow_ms = -1;
    if (slow_ms < 0) {
        const char *v = getenv("LOADGEN_SLOW_MS");
        slow_ms = v != NULL ? atol(v) : 0;
    }
    if (slow_ms <= 0 || now_ns - s->start_ns < (uint64_t)slow_ms * 1000000u) return;
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    uint64_t end_us = (uint64_t)rt.tv_sec * 1000000u + (uint64_t)rt.tv_nsec / 1000u;
    uint64_t took_us = (now_ns - s->start_ns) / 1000u;
    fprintf(stderr, "loadgen: slow %s %s start_unix_us %" PRIu64 " took_us %" PRIu64 "\n",
            lg_paths[s->method], s->method == M_TRANSFER ? s->id : "-", end_us - took_us, took_us);
}

/* Accounts for a finished call and frees its resources. */
static void lg_finish(lg_t *g, lg_slot_t *s, uint64_t now_ns) {
    lg_stats_t *st = &g->st;
    int measured = g->o->mode == MODE_SETUP || (now_ns >= g->measure_ns && now_ns < g->end_ns);
    if (measured) {
        st->completed++;
        int code = (int)s->status;
        if (code < 0 || code > GRPC_STATUS_UNAUTHENTICATED) code = GRPC_STATUS_UNAUTHENTICATED + 1;
        st->codes[code]++;
        if (s->status == GRPC_STATUS_OK) {
            st->ok++;
            lg_record_latency(st, now_ns - s->start_ns);
            lg_trace_slow(s, now_ns);
            if (s->method == M_TRANSFER) {
                char out = lg_transfer_outcome(s->resp);
                if (out == 'C')
                    st->committed++;
                else
                    st->aborted++;
            }
        } else {
            st->errors++;
            if (st->errors_shown++ < LG_ERRORS_SHOWN)
                fprintf(stderr, "loadgen: %s %s: %s: %.*s\n", g->o->targets[s->target].region,
                        lg_paths[s->method], client_status_name(s->status),
                        (int)GRPC_SLICE_LENGTH(s->details),
                        (const char *)GRPC_SLICE_START_PTR(s->details));
        }
    }
    if (s->resp != NULL) grpc_byte_buffer_destroy(s->resp);
    grpc_byte_buffer_destroy(s->req);
    grpc_slice_unref(s->details);
    grpc_metadata_array_destroy(&s->initial_md);
    grpc_metadata_array_destroy(&s->trailing_md);
    grpc_call_unref(s->call);
    s->call = NULL;
    s->req = s->resp = NULL;
    s->busy = 0;
}

/* Picks the slot's next call; 0 if it has none (the slot retires). */
static int lg_next(lg_t *g, lg_slot_t *s, uint64_t now_ns, int just_finished_ok) {
    lg_opts_t *o = g->o;
    if (o->mode == MODE_SETUP) {
        if (s->method == M_OPEN && just_finished_ok) {
            s->method = M_ISSUE; /* same account */
            return 1;
        }
        if (g->setup_next >= g->setup_total) return 0;
        uint64_t w = g->setup_next++;
        s->target = (int)(w % (uint64_t)o->targets_n);
        s->account = w / (uint64_t)o->targets_n;
        s->method = M_OPEN;
        return 1;
    }
    if (now_ns >= g->end_ns) return 0;
    if (o->mode == MODE_TRIANGLE) s->target = (s->target + 1) % o->targets_n;
    return 1;
}

/* ---- CPU per process over the measured window (--cpu NAME=PID) -------------------- */

static void lg_json_str(FILE *f, const char *s);

/* The clock ticks in /proc/PID/stat of pid (0: this process): utime +
 * stime, and *reaped (may be NULL) cutime + cstime (the children it has
 * reaped); 0 if unreadable. */
static uint64_t lg_stat_ticks(int pid, uint64_t *reaped) {
    char path[64], buf[1024];
    if (pid == 0)
        snprintf(path, sizeof path, "/proc/self/stat");
    else
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (p == NULL) return 0;
    unsigned long long utime = 0, stime = 0, cutime = 0, cstime = 0;
    /* after ")": state and fields 4..13, then utime (14), stime (15),
     * cutime (16) and cstime (17) */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu", &utime,
               &stime, &cutime, &cstime) != 4)
        return 0;
    if (reaped != NULL) *reaped = cutime + cstime;
    return utime + stime;
}

/* The CPU of pid (0: this process) in clock ticks: its own, its reaped
 * children's, and that of the children it has now (a Redis's AOF rewrite
 * runs in a child: counted while it runs and after it ended, so the
 * difference of two samples is what the process and its children used in
 * between); *children gets the children's part. 0 if unreadable. */
static uint64_t lg_cpu_ticks(int pid, uint64_t *children) {
    uint64_t reaped = 0;
    uint64_t own = lg_stat_ticks(pid, &reaped);
    *children = pid == 0 ? 0 : reaped;
    if (pid == 0 || own == 0) return own + *children;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return own + *children;
    int child = 0;
    for (int i = 0; i < 64 && fscanf(f, "%d", &child) == 1; i++) *children += lg_stat_ticks(child, NULL);
    fclose(f);
    return own + *children;
}

/* Samples every process's CPU: at = 0 the measured window's start, 1 its end. */
static void lg_cpu_sample(lg_opts_t *o, int at) {
    for (int i = 0; i < o->cpu_n; i++) {
        uint64_t children = 0;
        uint64_t t = lg_cpu_ticks(o->cpu[i].pid, &children);
        if (at == 0) {
            o->cpu[i].ticks0 = t;
            o->cpu[i].child0 = children;
        } else {
            o->cpu[i].ticks1 = t;
            o->cpu[i].child1 = children;
        }
    }
}

/* "cpu_us_per_op": {NAME: CPU microseconds per settled transfer (or OK call)},
 * "cpu_children_us_per_op": {NAME: the part of it in the process's
 * children, such as a Redis's AOF rewrite}, "cpu_cores": {NAME: cores busy
 * over the window}. A child that ended before the window began and one
 * started and not yet seen ended count as the kernel counts them. */
static void lg_cpu_report(FILE *f, const lg_opts_t *o, uint64_t good, double secs) {
    long hz = sysconf(_SC_CLK_TCK);
    if (o->cpu_n == 0 || hz <= 0) return;
    static const char *const names[] = {"cpu_us_per_op", "cpu_children_us_per_op", "cpu_cores"};
    for (int pass = 0; pass < 3; pass++) {
        fprintf(f, ",\"%s\":{", names[pass]);
        for (int i = 0; i < o->cpu_n; i++) {
            uint64_t d = pass == 1 ? o->cpu[i].child1 - o->cpu[i].child0 : o->cpu[i].ticks1 - o->cpu[i].ticks0;
            if (pass == 1 && o->cpu[i].child1 < o->cpu[i].child0) d = 0; /* a running child's ticks lost */
            double us = (double)d * 1e6 / (double)hz;
            fprintf(f, "%s", i ? "," : "");
            lg_json_str(f, o->cpu[i].name);
            if (pass < 2)
                fprintf(f, ":%.1f", good ? us / (double)good : 0.0);
            else
                fprintf(f, ":%.3f", secs > 0 ? us / 1e6 / secs : 0.0);
        }
        fputc('}', f);
    }
}

/* Parses --cpu NAME=PID into o. */
static void lg_cpu_option(lg_opts_t *o, const char *v) {
    const char *eq = strchr(v, '=');
    char *end = NULL;
    long pid = eq != NULL ? strtol(eq + 1, &end, 10) : 0;
    if (eq == NULL || eq == v || (size_t)(eq - v) >= sizeof o->cpu[0].name || *end != '\0' ||
        pid < 1 || pid > 4194304 || o->cpu_n == LG_CPU_MAX) {
        fprintf(stderr, "loadgen: --cpu NAME=PID, at most %d\n", LG_CPU_MAX - 1);
        exit(2);
    }
    snprintf(o->cpu[o->cpu_n].name, sizeof o->cpu[0].name, "%.*s", (int)(eq - v), v);
    o->cpu[o->cpu_n++].pid = (int)pid;
}

static void lg_run(lg_t *g) {
    lg_opts_t *o = g->o;
    g->t0_ns = lg_now_ns();
    g->measure_ns = g->t0_ns + o->warmup_ms * 1000000u;
    g->end_ns = g->measure_ns + o->seconds_ms * 1000000u;
    g->setup_total = o->accounts * (uint64_t)o->targets_n;
    int active = 0;
    for (int i = 0; i < o->in_flight; i++) {
        lg_slot_t *s = &g->slots[i];
        s->target = i % o->targets_n;
        s->method = o->mode == MODE_HEALTH ? M_HEALTH : o->mode == MODE_SETUP ? -1 : M_TRANSFER;
        if (o->mode == MODE_SETUP && !lg_next(g, s, 0, 0)) break;
        lg_start(g, s);
        active++;
    }
    uint64_t last_progress = g->t0_ns;
    int cpu_at = o->mode == MODE_SETUP ? 2 : 0; /* next CPU sample: 0 start, 1 end, 2 none */
    while (active > 0) {
        grpc_event ev = grpc_completion_queue_next(
            g->cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(100, GPR_TIMESPAN)),
            NULL);
        uint64_t now = lg_now_ns();
        if (cpu_at < 2 && now >= (cpu_at == 0 ? g->measure_ns : g->end_ns)) lg_cpu_sample(o, cpu_at++);
        if (o->mode == MODE_SETUP && now - last_progress > 5000000000u) {
            fprintf(stderr, "loadgen: setup %" PRIu64 "/%" PRIu64 " accounts\n",
                    g->setup_next, g->setup_total);
            last_progress = now;
        }
        if (ev.type == GRPC_QUEUE_TIMEOUT) continue;
        if (ev.type != GRPC_OP_COMPLETE) break;
        lg_slot_t *s = ev.tag;
        int ok = ev.success && s->status == GRPC_STATUS_OK;
        lg_finish(g, s, now);
        if (lg_next(g, s, now, ok))
            lg_start(g, s);
        else
            active--;
    }
    if (cpu_at == 1) lg_cpu_sample(o, 1);
}

/* ---- metrics endpoints ------------------------------------------------------------- */

typedef struct {
    uint64_t store_calls, committed, aborted, batch_sum, batch_count, peer_rpcs, grpc_calls;
    uint64_t phase_us[ENGINE_PHASES]; /* carbon_batch_phase_microseconds_total */
} lg_snap_t;

/* The value of the first line "name<rest>" (rest: "" matches "name " only). */
static int lg_metric(const char *body, const char *name, const char *labels, uint64_t *out) {
    size_t nlen = strlen(name), llen = strlen(labels);
    for (const char *line = body; line != NULL && *line != '\0';) {
        const char *eol = strchr(line, '\n');
        if (line[0] != '#' && strncmp(line, name, nlen) == 0 &&
            strncmp(line + nlen, labels, llen) == 0 && line[nlen + llen] == ' ') {
            *out = strtoull(line + nlen + llen + 1, NULL, 10);
            return 0;
        }
        line = eol != NULL ? eol + 1 : NULL;
    }
    return -1;
}

/* Sum of every series of a counter (any labels). */
static uint64_t lg_metric_sum(const char *body, const char *name) {
    size_t nlen = strlen(name);
    uint64_t sum = 0;
    for (const char *line = body; line != NULL && *line != '\0';) {
        const char *eol = strchr(line, '\n');
        if (line[0] != '#' && strncmp(line, name, nlen) == 0 &&
            (line[nlen] == '{' || line[nlen] == ' ')) {
            const char *sp = strchr(line, ' ');
            if (sp != NULL && (eol == NULL || sp < eol)) sum += strtoull(sp + 1, NULL, 10);
        }
        line = eol != NULL ? eol + 1 : NULL;
    }
    return sum;
}

/* GET http://addr/metrics (IPv4 HOST:PORT). malloc'd body, or NULL. */
static char *lg_http_get(const char *addr) {
    char host[64];
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || (size_t)(colon - addr) >= sizeof host) return NULL;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) return NULL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return NULL;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char *buf = NULL;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) goto fail;
    char req[160];
    int n = snprintf(req, sizeof req, "GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n", addr);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) goto fail;
    buf = malloc(LG_SCRAPE_BYTES_MAX + 1);
    if (buf == NULL) goto fail;
    size_t len = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + len, LG_SCRAPE_BYTES_MAX - len, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) goto fail;
        if (r == 0) break;
        len += (size_t)r;
        if (len == LG_SCRAPE_BYTES_MAX) goto fail;
    }
    buf[len] = '\0';
    close(fd);
    if (strncmp(buf, "HTTP/1.", 7) != 0 || strncmp(buf + 8, " 200", 4) != 0) {
        free(buf);
        return NULL;
    }
    char *body = strstr(buf, "\r\n\r\n");
    if (body == NULL) {
        free(buf);
        return NULL;
    }
    memmove(buf, body + 4, strlen(body + 4) + 1);
    return buf;
fail:
    free(buf);
    close(fd);
    return NULL;
}

/* Sums the counters of every --metrics endpoint. 0, or -1 if one failed. */
static int lg_scrape(const lg_opts_t *o, lg_snap_t *snap) {
    memset(snap, 0, sizeof *snap);
    for (int i = 0; i < o->metrics_n; i++) {
        char *body = lg_http_get(o->metrics[i]);
        if (body == NULL) {
            fprintf(stderr, "loadgen: cannot scrape http://%s/metrics\n", o->metrics[i]);
            return -1;
        }
        uint64_t v = 0;
        if (lg_metric(body, "carbon_store_calls_total", "", &v) == 0) snap->store_calls += v;
        if (lg_metric(body, "carbon_transfers_total", "{outcome=\"committed\"}", &v) == 0)
            snap->committed += v;
        if (lg_metric(body, "carbon_transfers_total", "{outcome=\"aborted\"}", &v) == 0)
            snap->aborted += v;
        if (lg_metric(body, "carbon_batch_legs_sum", "", &v) == 0) snap->batch_sum += v;
        if (lg_metric(body, "carbon_batch_legs_count", "", &v) == 0) snap->batch_count += v;
        if (lg_metric(body, "carbon_grpc_calls_total", "", &v) == 0) snap->grpc_calls += v;
        snap->peer_rpcs += lg_metric_sum(body, "carbon_peer_rpcs_total");
        for (size_t k = 0; k < ENGINE_PHASES; k++) {
            char label[32];
            snprintf(label, sizeof label, "{phase=\"%s\"}", engine_phase_name((engine_phase_t)k));
            if (lg_metric(body, "carbon_batch_phase_microseconds_total", label, &v) == 0)
                snap->phase_us[k] += v;
        }
        free(body);
    }
    return 0;
}

/* ---- results ------------------------------------------------------------------------ */

static int lg_cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile, p in hundred-thousandths (99900 = p99.9), in ms. */
static double lg_pct_ms(const lg_stats_t *s, uint64_t p) {
    if (s->lat_n == 0) return 0;
    uint64_t rank = ((uint64_t)s->lat_n * p + 99999u) / 100000u;
    if (rank == 0) rank = 1;
    return s->lat_us[rank - 1] / 1000.0;
}

static void lg_json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

/* "batch_phase_ms": milliseconds per batch in each step at the sources
 * between the two scrapes (nothing without batches). */
static void lg_report_phases(FILE *f, const lg_snap_t *before, const lg_snap_t *after,
                             uint64_t batches) {
    if (batches == 0) return;
    fprintf(f, ",\"batch_phase_ms\":{");
    for (size_t k = 0; k < ENGINE_PHASES; k++) {
        uint64_t us = after->phase_us[k] >= before->phase_us[k]
                          ? after->phase_us[k] - before->phase_us[k]
                          : 0;
        fprintf(f, "%s\"%s\":%.3f", k ? "," : "", engine_phase_name((engine_phase_t)k),
                (double)us / 1000.0 / (double)batches);
    }
    fprintf(f, "}");
}

static void lg_report(lg_t *g, const lg_snap_t *before, const lg_snap_t *after, int scraped,
                      double elapsed_s) {
    lg_opts_t *o = g->o;
    lg_stats_t *s = &g->st;
    qsort(s->lat_us, s->lat_n, sizeof *s->lat_us, lg_cmp_u32);
    double secs = o->mode == MODE_SETUP ? elapsed_s : o->seconds_ms / 1000.0;
    uint64_t good = o->mode == MODE_HEALTH || o->mode == MODE_SETUP ? s->ok : s->committed;
    double rate = secs > 0 ? good / secs : 0;
    FILE *f = stdout;
    fprintf(f, "{\"mode\":\"%s\",\"targets\":[", lg_mode_names[o->mode]);
    for (int i = 0; i < o->targets_n; i++) {
        if (i) fputc(',', f);
        lg_json_str(f, o->targets[i].region);
    }
    fprintf(f, "]");
    if (o->mode == MODE_TRANSFER) {
        fprintf(f, ",\"to_region\":");
        lg_json_str(f, o->targets[0].to_region);
    }
    fprintf(f, ",\"in_flight\":%d,\"channels\":%d,\"seconds\":%.3f", o->in_flight, o->channels, secs);
    if (o->mode == MODE_SETUP) fprintf(f, ",\"accounts\":%" PRIu64, o->accounts);
    fprintf(f,
            ",\"completed\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"committed\":%" PRIu64
            ",\"aborted\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"rate\":%.1f",
            s->completed, s->ok, s->committed, s->aborted, s->errors, rate);
    fprintf(f, ",\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f",
            lg_pct_ms(s, 50000), lg_pct_ms(s, 90000), lg_pct_ms(s, 99000), lg_pct_ms(s, 99900),
            lg_pct_ms(s, 100000));
    fprintf(f, ",\"error_codes\":{");
    int first = 1;
    for (int c = 1; c <= GRPC_STATUS_UNAUTHENTICATED + 1; c++) {
        if (s->codes[c] == 0) continue;
        fprintf(f, "%s\"%s\":%" PRIu64, first ? "" : ",",
                c <= GRPC_STATUS_UNAUTHENTICATED ? client_status_name((grpc_status_code)c) : "?",
                s->codes[c]);
        first = 0;
    }
    fprintf(f, "}");
    lg_cpu_report(f, o, good, secs);
    if (scraped) {
        uint64_t calls = after->store_calls - before->store_calls;
        uint64_t settled = after->committed - before->committed;
        uint64_t batches = after->batch_count - before->batch_count;
        uint64_t legs = after->batch_sum - before->batch_sum;
        uint64_t rpcs = after->peer_rpcs - before->peer_rpcs;
        fprintf(f,
                ",\"store_calls\":%" PRIu64 ",\"settled\":%" PRIu64 ",\"aborted_by_metrics\":%" PRIu64
                ",\"batches\":%" PRIu64 ",\"peer_rpcs\":%" PRIu64 ",\"grpc_calls_served\":%" PRIu64,
                calls, settled, after->aborted - before->aborted, batches, rpcs,
                after->grpc_calls - before->grpc_calls);
        fprintf(f, ",\"store_calls_per_transfer\":%.3f,\"legs_per_batch\":%.2f",
                settled ? (double)calls / settled : 0.0, batches ? (double)legs / batches : 0.0);
        lg_report_phases(f, before, after, batches);
    }
    if (o->baseline > 0) fprintf(f, ",\"ratio\":%.4f", rate / o->baseline);
    for (int i = 0; i < o->tags_n; i++) {
        const char *eq = strchr(o->tags[i], '=');
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)(eq - o->tags[i]), o->tags[i]);
        fputc(',', f);
        lg_json_str(f, key);
        fputc(':', f);
        lg_json_str(f, eq + 1);
    }
    fprintf(f, "}\n");
    fflush(f);
}

/* ---- set-up ---------------------------------------------------------------------------- */

static void lg_usage(FILE *f) {
    fprintf(f,
            "usage: loadgen health|transfer|triangle|setup [options]\n"
            "  --target REGION=HOST:PORT  a gateway (repeatable; triangle needs CN-TJ, CN-BJ, CN-HE)\n"
            "  --pki DIR                  ca.crt and REGION-registry.crt/.key (default build/pki)\n"
            "  --in-flight N              calls kept in flight (64; 1..%d)\n"
            "  --seconds S                measured time (10; decimals allowed)\n"
            "  --warmup-ms MS             unmeasured closed loop first (1000)\n"
            "  --channels K               connections per target (1; 1..%d)\n"
            "  --timeout-ms MS            deadline of each call (30000)\n"
            "  --accounts N               accounts PREFIX0..N-1 in every region (1000)\n"
            "  --prefix P                 account id prefix (bench-)\n"
            "  --to-region R              transfer: destination (the next region: TJ->BJ->HE->TJ)\n"
            "  --methodology M            transfer/setup: methodology (the region's bench one)\n"
            "  --amount U                 transfer: display units per transfer (1)\n"
            "  --quantity-milli Q         setup: native quantity issued per account, in\n"
            "                             thousandths (10000000: 10000 km of travel)\n"
            "  --metrics HOST:PORT        a gateway's metrics endpoint to scrape before and after\n"
            "                             (repeatable): store calls per settled transfer\n"
            "  --settle-ms MS             pause before the last scrape (500)\n"
            "  --baseline RATE            report \"ratio\": rate / RATE\n"
            "  --tag KEY=VALUE            add a string field to the JSON line (repeatable)\n"
            "  --cpu NAME=PID             report the CPU of process PID over the measured time\n"
            "                             (repeatable, at most %d; loadgen itself always):\n"
            "                             cpu_us_per_op (per settled transfer or OK call), cpu_cores\n"
            "Prints one JSON line: counts, rate (settled transfers or OK calls per second),\n"
            "p50/p90/p99/p99.9/max latency in ms, error codes. Exit 1 on a setup error.\n"
            "With LOADGEN_SLOW_MS=N in the environment, each measured OK call slower than N ms\n"
            "is printed on stderr with its transfer id and wall-clock start (unix us), to\n"
            "line up with the gateways' logs.\n",
            LG_IN_FLIGHT_MAX, LG_CHANNELS_MAX, LG_CPU_MAX - 1);
}

static uint64_t lg_num(const char *opt, const char *v, uint64_t min, uint64_t max) {
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < min || n > max) {
        fprintf(stderr, "loadgen: %s must be an integer %" PRIu64 "..%" PRIu64 "\n", opt, min, max);
        exit(2);
    }
    return n;
}

static void lg_parse(int argc, char **argv, lg_opts_t *o) {
    memset(o, 0, sizeof *o);
    o->pki = "build/pki";
    o->in_flight = 64;
    o->seconds_ms = 10000;
    o->warmup_ms = 1000;
    o->settle_ms = 500;
    o->channels = 1;
    o->timeout_ms = 30000;
    o->accounts = 1000;
    o->prefix = "bench-";
    o->amount = 1;
    o->quantity_milli = 10000000;
    snprintf(o->cpu[0].name, sizeof o->cpu[0].name, "loadgen");
    o->cpu_n = 1; /* pid 0: this process */
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        lg_usage(argc < 2 ? stderr : stdout);
        exit(argc < 2 ? 2 : 0);
    }
    int mode = -1;
    for (int m = 0; m < 4; m++)
        if (strcmp(argv[1], lg_mode_names[m]) == 0) mode = m;
    if (mode < 0) {
        fprintf(stderr, "loadgen: unknown mode '%s' (try --help)\n", argv[1]);
        exit(2);
    }
    o->mode = (lg_mode_t)mode;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0) {
            lg_usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "loadgen: %s needs a value (try --help)\n", a);
            exit(2);
        }
        const char *v = argv[++i];
        if (strcmp(a, "--target") == 0) {
            const char *eq = strchr(v, '=');
            if (eq == NULL || o->targets_n == LG_TARGETS_MAX || (size_t)(eq - v) >= 16) {
                fprintf(stderr, "loadgen: --target REGION=HOST:PORT, at most %d\n", LG_TARGETS_MAX);
                exit(2);
            }
            lg_target_t *t = &o->targets[o->targets_n++];
            snprintf(t->region, sizeof t->region, "%.*s", (int)(eq - v), v);
            snprintf(t->addr, sizeof t->addr, "%s", eq + 1);
            t->def = lg_region_index(t->region);
            t->peer = -1;
        } else if (strcmp(a, "--pki") == 0) {
            o->pki = v;
        } else if (strcmp(a, "--in-flight") == 0) {
            o->in_flight = (int)lg_num(a, v, 1, LG_IN_FLIGHT_MAX);
        } else if (strcmp(a, "--seconds") == 0) {
            double s = strtod(v, NULL);
            if (!(s > 0 && s <= 86400)) {
                fprintf(stderr, "loadgen: --seconds must be in (0, 86400]\n");
                exit(2);
            }
            o->seconds_ms = (uint64_t)(s * 1000);
        } else if (strcmp(a, "--warmup-ms") == 0) {
            o->warmup_ms = lg_num(a, v, 0, 600000);
        } else if (strcmp(a, "--settle-ms") == 0) {
            o->settle_ms = lg_num(a, v, 0, 600000);
        } else if (strcmp(a, "--channels") == 0) {
            o->channels = (int)lg_num(a, v, 1, LG_CHANNELS_MAX);
        } else if (strcmp(a, "--timeout-ms") == 0) {
            o->timeout_ms = (int64_t)lg_num(a, v, 1, 3600000);
        } else if (strcmp(a, "--accounts") == 0) {
            o->accounts = lg_num(a, v, 1, 100000000);
        } else if (strcmp(a, "--prefix") == 0) {
            o->prefix = v;
        } else if (strcmp(a, "--to-region") == 0) {
            o->to_region = v;
        } else if (strcmp(a, "--methodology") == 0) {
            o->meth = v;
        } else if (strcmp(a, "--amount") == 0) {
            o->amount = lg_num(a, v, 1, UINT32_MAX);
        } else if (strcmp(a, "--quantity-milli") == 0) {
            o->quantity_milli = lg_num(a, v, 1, UINT64_MAX / 2);
        } else if (strcmp(a, "--metrics") == 0) {
            if (o->metrics_n == LG_METRICS_MAX) {
                fprintf(stderr, "loadgen: at most %d --metrics\n", LG_METRICS_MAX);
                exit(2);
            }
            o->metrics[o->metrics_n++] = v;
        } else if (strcmp(a, "--baseline") == 0) {
            o->baseline = strtod(v, NULL);
        } else if (strcmp(a, "--tag") == 0) {
            if (strchr(v, '=') == NULL || o->tags_n == LG_TAGS_MAX) {
                fprintf(stderr, "loadgen: --tag KEY=VALUE, at most %d\n", LG_TAGS_MAX);
                exit(2);
            }
            o->tags[o->tags_n++] = v;
        } else if (strcmp(a, "--cpu") == 0) {
            lg_cpu_option(o, v);
        } else {
            fprintf(stderr, "loadgen: unknown option %s (try --help)\n", a);
            exit(2);
        }
    }
    if (o->targets_n == 0) {
        fprintf(stderr, "loadgen: --target REGION=HOST:PORT is required\n");
        exit(2);
    }
    if (strlen(o->prefix) + 20 >= LG_ID_MAX) {
        fprintf(stderr, "loadgen: --prefix is too long\n");
        exit(2);
    }
    for (int i = 0; i < o->targets_n; i++) {
        lg_target_t *t = &o->targets[i];
        if (o->mode == MODE_HEALTH) continue;
        if (t->def < 0 && (o->mode == MODE_TRIANGLE || o->meth == NULL)) {
            fprintf(stderr, "loadgen: no bench methodology for region %s: give --methodology\n",
                    t->region);
            exit(2);
        }
        if (o->mode == MODE_TRANSFER || o->mode == MODE_TRIANGLE) {
            const char *to = o->mode == MODE_TRANSFER && o->to_region != NULL
                                 ? o->to_region
                                 : lg_regions[(t->def + 1) % (int)LG_REGIONS_N].region;
            snprintf(t->to_region, sizeof t->to_region, "%s", to);
        }
    }
    if (o->mode == MODE_TRANSFER && o->targets_n != 1) {
        fprintf(stderr, "loadgen: transfer takes one --target (the source gateway)\n");
        exit(2);
    }
    if (o->mode == MODE_TRIANGLE) {
        int seen[LG_REGIONS_N] = {0};
        for (int i = 0; i < o->targets_n; i++) seen[o->targets[i].def] = 1;
        if (o->targets_n != (int)LG_REGIONS_N || !seen[0] || !seen[1] || !seen[2]) {
            fprintf(stderr, "loadgen: triangle needs --target for CN-TJ, CN-BJ and CN-HE\n");
            exit(2);
        }
    }
}

static void lg_connect(lg_opts_t *o) {
    for (int i = 0; i < o->targets_n; i++) {
        lg_target_t *t = &o->targets[i];
        char cert[1024], key[1024], ca[1024], err[512];
        snprintf(cert, sizeof cert, "%s/%s-registry.crt", o->pki, t->region);
        snprintf(key, sizeof key, "%s/%s-registry.key", o->pki, t->region);
        snprintf(ca, sizeof ca, "%s/ca.crt", o->pki);
        grpc_channel_credentials *creds = tls_channel_credentials(cert, key, ca, err, sizeof err);
        if (creds == NULL) {
            fprintf(stderr, "loadgen: %s\n", err);
            exit(1);
        }
        for (int c = 0; c < o->channels; c++) {
            grpc_arg args[2];
            args[0].type = GRPC_ARG_INTEGER;
            args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
            args[0].value.integer = 4 << 20;
            args[1].type = GRPC_ARG_INTEGER; /* one connection per channel */
            args[1].key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
            args[1].value.integer = 1;
            grpc_channel_args cargs = {2, args};
            t->ch[c] = grpc_channel_create(t->addr, creds, &cargs);
            for (int m = 0; m < M_METHODS; m++)
                t->handle[c][m] = grpc_channel_register_call(t->ch[c], lg_paths[m], NULL, NULL);
            /* Connect (handshake) before the clock starts. */
            Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
            req.service = "";
            ProtobufCMessage *resp = NULL;
            client_status_t st;
            if (client_call(t->ch[c], lg_paths[M_HEALTH], &req.base,
                            &grpc__health__v1__health_check_response__descriptor, &resp, 10000,
                            &st) != GRPC_STATUS_OK) {
                fprintf(stderr, "loadgen: %s at %s: Health/Check: %s: %s\n", t->region, t->addr,
                        client_status_name(st.code), st.details);
                exit(1);
            }
            protobuf_c_message_free_unpacked(resp, NULL);
        }
        grpc_channel_credentials_release(creds);
    }
}

int main(int argc, char **argv) {
    lg_opts_t o;
    lg_parse(argc, argv, &o);
    grpc_lifetime_begin();
    lg_connect(&o);

    lg_t g;
    memset(&g, 0, sizeof g);
    g.o = &o;
    if (getrandom(&g.salt, sizeof g.salt, 0) != sizeof g.salt)
        g.salt = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid();
    g.cq = grpc_completion_queue_create_for_next(NULL);
    g.slots = calloc((size_t)o.in_flight, sizeof *g.slots);
    if (g.slots == NULL) abort();

    lg_snap_t before, after;
    int scraped = o.metrics_n > 0 && lg_scrape(&o, &before) == 0;
    uint64_t t0 = lg_now_ns();
    lg_run(&g);
    double elapsed_s = (lg_now_ns() - t0) / 1e9;
    if (scraped) {
        struct timespec pause = {(time_t)(o.settle_ms / 1000), (long)(o.settle_ms % 1000) * 1000000L};
        nanosleep(&pause, NULL);
        scraped = lg_scrape(&o, &after) == 0;
    }
    lg_report(&g, &before, &after, scraped, elapsed_s);

    grpc_completion_queue_shutdown(g.cq);
    while (grpc_completion_queue_next(g.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(g.cq);
    for (int i = 0; i < o.targets_n; i++)
        for (int c = 0; c < o.channels; c++) grpc_channel_destroy(o.targets[i].ch[c]);
    free(g.slots);
    free(g.st.lat_us);
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
    return o.mode == MODE_SETUP && g.st.errors > 0 ? 1 : 0;
}
