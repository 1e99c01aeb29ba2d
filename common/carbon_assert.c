/* carbon_assert.c - the failure path of CARBON_ASSERT (carbon_assert.h). */
#include "common/carbon_assert.h"

#include <stdio.h>
#include <stdlib.h>

_Noreturn void carbon_assert_fail(const char *expr, const char *file, int line, const char *func) {
    /* stderr is unbuffered: the line is out before abort() */
    fprintf(stderr, "assertion failed: %s at %s:%d in %s\n", expr, file, line, func);
    abort();
}
