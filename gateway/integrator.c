/* integrator.c - the audit log's integrator thread (integrator.h). */
#include "gateway/integrator.h"
#include "common/carbon_assert.h"
#include "gateway/log.h"
#include "settlement/ledger.h"
#include "settlement/log_tree.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct integrator {
    store_config_t cfg;
    char owner[64];
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop;
    _Atomic uint64_t unintegrated, age_ms, tree_size, integrated_total, errors_total, lag_max_ms;
    _Atomic int lease_held;
    char last_error[256]; /* logged once until the next success (thread-only) */
};

/* Logs a failed pass, once per distinct reason. */
static void integrator_failed(integrator_t *it, const char *why) {
    atomic_fetch_add(&it->errors_total, 1);
    if (strcmp(it->last_error, why) == 0) return;
    snprintf(it->last_error, sizeof it->last_error, "%s", why);
    log_error("audit_integration_failed", "{s:s}", "reason", why);
}

/* One pass: lease, integrate while full batches come, measure the lag. */
static void integrator_pass(integrator_t *it, store_t *st) {
    char err[256] = "";
    int held = 0;
    if (log_tree_lease(st, it->owner, INTEGRATOR_LEASE_MS, &held, err, sizeof err) != LEDGER_OK) {
        integrator_failed(it, err);
        return;
    }
    atomic_store(&it->lease_held, held);
    uint64_t sequenced = 0, size = 0, oldest_ms = 0, integrated = 0;
    if (held && log_tree_lag(st, &sequenced, &size, &oldest_ms, err, sizeof err) != LEDGER_OK) return;
    for (int round = 0; held && round < 64; round++) {
        uint64_t advanced = 0;
        err[0] = '\0';
        int rc = log_tree_integrate(st, it->owner, ledger_now_ms(), &advanced, err, sizeof err);
        if (rc != LEDGER_OK || err[0] != '\0') {
            integrator_failed(it, err[0] ? err : "integration failed");
            if (rc != LEDGER_OK) return;
        } else if (it->last_error[0] != '\0') {
            log_info("audit_integration_resumed", "{s:s}", "after", it->last_error);
            it->last_error[0] = '\0';
        }
        atomic_fetch_add(&it->integrated_total, advanced);
        integrated += advanced;
        if (advanced < LOG_INTEGRATE_BATCH_MAX) break;
    }
    uint64_t now = ledger_now_ms();
    if (integrated > 0 && oldest_ms != 0 && now > oldest_ms && now - oldest_ms > atomic_load(&it->lag_max_ms))
        atomic_store(&it->lag_max_ms, now - oldest_ms); /* only this thread writes it */
    if (log_tree_lag(st, &sequenced, &size, &oldest_ms, err, sizeof err) != LEDGER_OK) return;
    now = ledger_now_ms();
    atomic_store(&it->tree_size, size);
    atomic_store(&it->unintegrated, sequenced > size ? sequenced - size : 0);
    atomic_store(&it->age_ms, oldest_ms != 0 && now > oldest_ms ? now - oldest_ms : 0);
}

/* Waits INTEGRATOR_INTERVAL_MS or until stopped; 1 if stopped. */
static int integrator_wait(integrator_t *it) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)INTEGRATOR_INTERVAL_MS * 1000000u;
    ts.tv_sec += (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    pthread_mutex_lock(&it->lock);
    if (!it->stop) pthread_cond_timedwait(&it->wake, &it->lock, &ts);
    int stop = it->stop;
    pthread_mutex_unlock(&it->lock);
    return stop;
}

static void *integrator_main(void *arg) {
    integrator_t *it = arg;
    store_t *st = NULL;
    char err[256];
    do {
        if (st == NULL) st = store_open(&it->cfg, err, sizeof err);
        if (st == NULL) {
            integrator_failed(it, err);
            continue;
        }
        integrator_pass(it, st);
    } while (!integrator_wait(it));
    store_close(st);
    return NULL;
}

integrator_t *integrator_start(const store_config_t *cfg, const char *owner, char *err,
                               size_t errlen) {
    CARBON_ASSERT(cfg != NULL && owner != NULL && owner[0] != '\0' && err != NULL);
    integrator_t *it = calloc(1, sizeof *it);
    CARBON_ASSERT(it != NULL);
    it->cfg = *cfg;
    snprintf(it->owner, sizeof it->owner, "%s", owner);
    pthread_mutex_init(&it->lock, NULL);
    pthread_cond_init(&it->wake, NULL);
    if (pthread_create(&it->thread, NULL, integrator_main, it) != 0) {
        snprintf(err, errlen, "the audit log integrator thread did not start");
        pthread_mutex_destroy(&it->lock);
        pthread_cond_destroy(&it->wake);
        free(it);
        return NULL;
    }
    return it;
}

void integrator_stop(integrator_t *it) {
    if (it == NULL) return;
    pthread_mutex_lock(&it->lock);
    it->stop = 1;
    pthread_cond_signal(&it->wake);
    pthread_mutex_unlock(&it->lock);
    pthread_join(it->thread, NULL);
    pthread_mutex_destroy(&it->lock);
    pthread_cond_destroy(&it->wake);
    free(it);
}

void integrator_get_stats(const integrator_t *it, integrator_stats_t *out) {
    CARBON_ASSERT(out != NULL);
    memset(out, 0, sizeof *out);
    if (it == NULL) return;
    integrator_t *m = (integrator_t *)it; /* atomics are read, never written, here */
    out->unintegrated = atomic_load(&m->unintegrated);
    out->unintegrated_age_ms = atomic_load(&m->age_ms);
    out->tree_size = atomic_load(&m->tree_size);
    out->integrated_total = atomic_load(&m->integrated_total);
    out->errors_total = atomic_load(&m->errors_total);
    out->lease_held = atomic_load(&m->lease_held);
    out->lag_max_ms = atomic_load(&m->lag_max_ms);
}
