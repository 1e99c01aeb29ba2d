/* failpoint.c - crash points for the fault tests (failpoint.h). */
#include "settlement/failpoint.h"
#include "common/carbon_assert.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char failpoint_armed[96];

static void failpoint_pause_init(const char *region);

void failpoint_init(const char *region) {
    failpoint_pause_init(region);
    const char *spec = getenv("CARBON_FAILPOINT");
    failpoint_armed[0] = '\0';
    if (spec == NULL) return;
    size_t rlen = strlen(region);
    if (strncmp(spec, region, rlen) == 0 && spec[rlen] == ':')
        snprintf(failpoint_armed, sizeof failpoint_armed, "%s", spec + rlen + 1);
}

void failpoint_hit(const char *name) {
    if (failpoint_armed[0] == '\0' || strcmp(failpoint_armed, name) != 0) return;
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    char time_text[40];
    size_t n = strftime(time_text, sizeof time_text, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(time_text + n, sizeof time_text - n, ".%03ldZ", now.tv_nsec / 1000000);
    /* the same fields as the gateway's JSON log lines (gateway/log.c) */
    fprintf(stderr, "{\"time\":\"%s\",\"level\":\"warn\",\"event\":\"failpoint\",\"name\":\"%s\"}\n",
            time_text, name);
    kill(getpid(), SIGKILL);
}

/* The armed pause points of this region: name and milliseconds each. */
static struct {
    char name[96];
    long ms;
} failpoint_pauses[FAILPOINT_PAUSES_MAX];
static size_t failpoint_pauses_n;

/* Arms one "REGION:NAME:MS" entry of length len if it is region's; one of
 * region's that is malformed, or past FAILPOINT_PAUSES_MAX, is logged
 * (failpoint_pause_ignored) and left out. Another region's is skipped. */
static void failpoint_pause_entry(const char *e, size_t len, const char *region) {
    CARBON_ASSERT(e != NULL && region != NULL);
    size_t rlen = strlen(region);
    if (len <= rlen || strncmp(e, region, rlen) != 0 || e[rlen] != ':') return;
    char entry[160];
    const char *why = NULL;
    if (len >= sizeof entry) why = "too long";
    else if (failpoint_pauses_n >= FAILPOINT_PAUSES_MAX) why = "too many pause points";
    const char *name = NULL, *colon = NULL;
    long ms = 0;
    if (why == NULL) {
        memcpy(entry, e, len);
        entry[len] = '\0';
        name = entry + rlen + 1;
        colon = strrchr(name, ':');
        char *end = NULL;
        if (colon == NULL || colon == name || (size_t)(colon - name) >= sizeof failpoint_pauses[0].name)
            why = "not REGION:NAME:MS";
        else if ((ms = strtol(colon + 1, &end, 10)) < 1 || ms > FAILPOINT_PAUSE_MS_MAX || *end != '\0')
            why = "MS is not 1..60000";
    }
    if (why != NULL) {
        fprintf(stderr, "{\"level\":\"warn\",\"event\":\"failpoint_pause_ignored\",\"entry\":\"%.*s\",\"why\":\"%s\"}\n",
                (int)(len < 120 ? len : 120), e, why);
        return;
    }
    memcpy(failpoint_pauses[failpoint_pauses_n].name, name, (size_t)(colon - name));
    failpoint_pauses[failpoint_pauses_n].name[colon - name] = '\0';
    failpoint_pauses[failpoint_pauses_n++].ms = ms;
}

/* Arms the pause points of CARBON_FAILPOINT_PAUSE ("REGION:NAME:MS[,...]") for region. */
static void failpoint_pause_init(const char *region) {
    const char *spec = getenv("CARBON_FAILPOINT_PAUSE"), *hooks = getenv("CARBON_TEST_HOOKS");
    failpoint_pauses_n = 0;
    if (spec == NULL || hooks == NULL || strcmp(hooks, "1") != 0) return;
    for (const char *e = spec; *e != '\0';) { /* as failpoint_clock_init walks its list */
        size_t len = strcspn(e, ",");
        failpoint_pause_entry(e, len, region);
        e += len + (e[len] == ',');
    }
}

void failpoint_pause(const char *name) {
    CARBON_ASSERT(failpoint_pauses_n <= FAILPOINT_PAUSES_MAX);
    for (size_t i = 0; i < failpoint_pauses_n; i++) {
        if (strcmp(failpoint_pauses[i].name, name) != 0) continue;
        long ms = failpoint_pauses[i].ms;
        fprintf(stderr, "{\"level\":\"warn\",\"event\":\"failpoint_pause\",\"name\":\"%s\",\"ms\":%ld}\n",
                name, ms);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0) {
        }
        return;
    }
}

bool failpoint_trip(const char *name) {
    CARBON_ASSERT(failpoint_pauses_n <= FAILPOINT_PAUSES_MAX);
    for (size_t i = 0; i < failpoint_pauses_n; i++) {
        if (strcmp(failpoint_pauses[i].name, name) != 0) continue;
        long left = __atomic_load_n(&failpoint_pauses[i].ms, __ATOMIC_ACQUIRE);
        /* bounded: each failed exchange saw another thread take one */
        while (left > 0) {
            if (__atomic_compare_exchange_n(&failpoint_pauses[i].ms, &left, left - 1, false, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE)) {
                fprintf(stderr, "{\"level\":\"warn\",\"event\":\"failpoint_trip\",\"name\":\"%s\",\"left\":%ld}\n",
                        name, left - 1);
                return true;
            }
        }
        return false;
    }
    return false;
}

static long long failpoint_clock_offset;

/* Parses one "REGION:MS" entry of length len; 1 if it is region's (*ms set),
 * 0 if another region's, -1 if malformed. */
static int failpoint_clock_entry(const char *e, size_t len, const char *region, long long *ms) {
    const char *colon = memchr(e, ':', len);
    if (colon == NULL || colon == e) return -1;
    char num[24];
    size_t nlen = len - (size_t)(colon + 1 - e);
    if (nlen == 0 || nlen >= sizeof num) return -1;
    memcpy(num, colon + 1, nlen);
    num[nlen] = '\0';
    char *end = NULL;
    long long v = strtoll(num, &end, 10);
    if (*end != '\0' || v < -FAILPOINT_CLOCK_OFFSET_MS_MAX || v > FAILPOINT_CLOCK_OFFSET_MS_MAX)
        return -1;
    if ((size_t)(colon - e) != strlen(region) || strncmp(e, region, (size_t)(colon - e)) != 0) return 0;
    *ms = v;
    return 1;
}

int failpoint_clock_init(const char *region, char *err, size_t errlen) {
    const char *spec = getenv("CARBON_TEST_CLOCK_OFFSET_MS");
    failpoint_clock_offset = 0;
    if (spec == NULL || *spec == '\0') return 0;
    const char *hooks = getenv("CARBON_TEST_HOOKS");
    if (hooks == NULL || strcmp(hooks, "1") != 0) {
        snprintf(err, errlen, "CARBON_TEST_CLOCK_OFFSET_MS is a test hook: refused without "
                              "CARBON_TEST_HOOKS=1");
        return -1;
    }
    long long ms = 0;
    for (const char *e = spec; *e != '\0';) {
        size_t len = strcspn(e, ",");
        int r = failpoint_clock_entry(e, len, region, &ms);
        if (r < 0) {
            snprintf(err, errlen, "CARBON_TEST_CLOCK_OFFSET_MS: '%.*s' is not REGION:MS with |MS| <= %d",
                     (int)(len > 64 ? 64 : len), e, FAILPOINT_CLOCK_OFFSET_MS_MAX);
            return -1;
        }
        e += len + (e[len] == ',');
    }
    failpoint_clock_offset = ms;
    return 0;
}

long long failpoint_clock_offset_ms(void) { return failpoint_clock_offset; }
