/* failpoint.c - crash points for the fault tests (failpoint.h). */
#include "settlement/failpoint.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    fprintf(stderr, "{\"level\":\"warn\",\"event\":\"failpoint\",\"name\":\"%s\"}\n", name);
    kill(getpid(), SIGKILL);
}
