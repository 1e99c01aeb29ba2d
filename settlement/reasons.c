/* reasons.c - the table of reasons (reasons.h) as data. */
#include "settlement/reasons.h"
#include "common/carbon_assert.h"

#include <string.h>

static const reason_info_t reasons_v[REASON_COUNT] = {
#define REASON_INFO_(name, status, where, retry, meaning, todo)                                   \
    {#name, REASON_STATUS_##status, #status, REASON_WHERE_##where, REASON_RETRY_##retry, meaning, \
     todo},
    REASONS_TABLE(REASON_INFO_)
#undef REASON_INFO_
};

/* A call is refused with an error status; only leg-only reasons have OK. */
#define REASON_CHECK_(name, status, where, retry, meaning, todo)                          \
    _Static_assert((REASON_STATUS_##status == REASON_STATUS_OK) ==                        \
                       (REASON_WHERE_##where == REASON_WHERE_LEG),                        \
                   #name ": a reason that refuses calls needs an error status, and only " \
                         "a leg-only reason has OK");
REASONS_TABLE(REASON_CHECK_)
#undef REASON_CHECK_

const reason_info_t *reason_info(reason_t r) {
    CARBON_ASSERT((unsigned)r < REASON_COUNT);
    return &reasons_v[r];
}

const char *reason_name(reason_t r) {
    CARBON_ASSERT((unsigned)r < REASON_COUNT);
    return reasons_v[r].name;
}

const reason_info_t *reason_find(const char *name) {
    CARBON_ASSERT(name != NULL);
    for (size_t i = 0; i < REASON_COUNT; i++)
        if (strcmp(reasons_v[i].name, name) == 0) return &reasons_v[i];
    return NULL;
}

int reason_lookup(const char *name, reason_t *out) {
    CARBON_ASSERT(name != NULL && out != NULL);
    const reason_info_t *info = reason_find(name);
    if (info == NULL) return 0;
    *out = (reason_t)(info - reasons_v);
    return 1;
}

int reason_detail_valid(const char *detail, size_t max) {
    CARBON_ASSERT(detail != NULL);
    size_t n = 0;
    for (; detail[n] != '\0'; n++)
        if (n >= max || detail[n] < 0x20 || detail[n] > 0x7e) return 0;
    return 1;
}
