/* failpoint.c - crash points for the fault tests (failpoint.h). */
#include "settlement/failpoint.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char failpoint_armed[96];

void failpoint_init(const char *region) {
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
