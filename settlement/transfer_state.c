/* transfer_state.c - transfer states and decision letters (transfer_state.h). */
#include "settlement/transfer_state.h"
#include "common/carbon_assert.h"

#include <string.h>

/* The one name table: the texts the Lua scripts write (settlement/scripts). */
static const char *const transfer_state_names[TRANSFER_STATE_COUNT_] = {
    [TRANSFER_STATE_NONE] = "",
    [TRANSFER_STATE_HELD] = "HELD",
    [TRANSFER_STATE_PREPARED] = "PREPARED",
    [TRANSFER_STATE_COMMITTED] = "COMMITTED",
    [TRANSFER_STATE_ABORTED] = "ABORTED",
    [TRANSFER_STATE_REFUSED] = "REFUSED",
    [TRANSFER_STATE_UNKNOWN] = "UNKNOWN",
    [TRANSFER_STATE_INVALID] = "(not a state)",
};

CARBON_STATIC_ASSERT(sizeof "COMMITTED" - 1 == TRANSFER_STATE_TEXT_MAX,
                     "TRANSFER_STATE_TEXT_MAX is the longest name");

const char *transfer_state_name(transfer_state_t s) {
    CARBON_ASSERT((unsigned)s < TRANSFER_STATE_COUNT_);
    CARBON_ASSERT(transfer_state_names[s] != NULL);
    return transfer_state_names[s];
}

int transfer_state_parse(const char *text, size_t len, transfer_state_t *out) {
    CARBON_ASSERT(out != NULL);
    CARBON_ASSERT(text != NULL || len == 0);
    *out = TRANSFER_STATE_INVALID;
    if (len > TRANSFER_STATE_TEXT_MAX) return -1;
    for (unsigned s = 0; s < TRANSFER_STATE_INVALID; s++) {
        const char *name = transfer_state_names[s];
        if (strlen(name) == len && memcmp(name, text, len) == 0) {
            *out = (transfer_state_t)s;
            return 0;
        }
    }
    return -1;
}

transfer_state_t transfer_state_from_text(const char *text) {
    CARBON_ASSERT(text != NULL);
    size_t len = 0;
    while (len <= TRANSFER_STATE_TEXT_MAX && text[len] != '\0') len++;
    transfer_state_t s;
    transfer_state_parse(text, len, &s); /* INVALID when it fails */
    return s;
}

int transfer_state_decided(transfer_state_t s) {
    CARBON_ASSERT((unsigned)s < TRANSFER_STATE_COUNT_);
    return s == TRANSFER_STATE_COMMITTED || s == TRANSFER_STATE_ABORTED;
}

char transfer_decision_of(transfer_state_t s) {
    CARBON_ASSERT((unsigned)s < TRANSFER_STATE_COUNT_);
    return s == TRANSFER_STATE_COMMITTED ? (char)TRANSFER_DECISION_COMMIT
           : s == TRANSFER_STATE_ABORTED ? (char)TRANSFER_DECISION_ABORT
                                         : (char)TRANSFER_DECISION_UNKNOWN;
}

transfer_state_t transfer_state_of_decision(char decision) {
    return decision == TRANSFER_DECISION_COMMIT  ? TRANSFER_STATE_COMMITTED
           : decision == TRANSFER_DECISION_ABORT ? TRANSFER_STATE_ABORTED
                                                 : TRANSFER_STATE_NONE;
}
