/* test_transfer_state.c - transfer states and decision letters
 * (settlement/transfer_state.h): the name table, the bounded conversion from
 * the store's text, and agreement with the texts the Lua scripts write. */
#include <criterion/criterion.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settlement/transfer_state.h"
#include "tests/support/gateway_harness.h"

#define SCRIPT_BYTES_MAX (1u << 20)

Test(transfer_state, names_round_trip) {
    for (int s = TRANSFER_STATE_NONE; s < TRANSFER_STATE_INVALID; s++) {
        const char *name = transfer_state_name((transfer_state_t)s);
        transfer_state_t back = TRANSFER_STATE_INVALID;
        cr_assert_eq(transfer_state_parse(name, strlen(name), &back), 0, "'%s'", name);
        cr_assert_eq(back, (transfer_state_t)s, "'%s'", name);
        cr_assert_eq(transfer_state_from_text(name), (transfer_state_t)s, "'%s'", name);
        cr_assert_leq(strlen(name), TRANSFER_STATE_TEXT_MAX);
    }
    cr_assert_str_eq(transfer_state_name(TRANSFER_STATE_NONE), "");
    cr_assert_str_eq(transfer_state_name(TRANSFER_STATE_HELD), "HELD");
    cr_assert_str_eq(transfer_state_name(TRANSFER_STATE_COMMITTED), "COMMITTED");
}

Test(transfer_state, bad_texts_are_invalid) {
    const char *bad[] = {"held", "Held", "HELD ", " HELD", "HELDX", "COMMIT", "COMMITTEDX",
                         "ABORTED\n", "(not a state)", "PREPAREDPREPAREDPREPARED", "-"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        transfer_state_t s = TRANSFER_STATE_HELD;
        cr_assert_eq(transfer_state_parse(bad[i], strlen(bad[i]), &s), -1, "'%s'", bad[i]);
        cr_assert_eq(s, TRANSFER_STATE_INVALID, "'%s'", bad[i]);
        cr_assert_eq(transfer_state_from_text(bad[i]), TRANSFER_STATE_INVALID, "'%s'", bad[i]);
    }
    transfer_state_t s;
    cr_assert_eq(transfer_state_parse("HELD\0", 5, &s), -1, "a NUL inside is not part of a name");
    cr_assert_eq(transfer_state_parse("HELDING", 4, &s), 0, "reads only len bytes");
    cr_assert_eq(s, TRANSFER_STATE_HELD);
}

Test(transfer_state, from_text_reads_a_bounded_prefix) {
    /* Not NUL-terminated within the first TRANSFER_STATE_TEXT_MAX + 1 bytes:
     * the conversion must stop there (ASan checks the bound). */
    char *p = malloc(TRANSFER_STATE_TEXT_MAX + 1);
    cr_assert_not_null(p);
    memset(p, 'A', TRANSFER_STATE_TEXT_MAX + 1);
    cr_assert_eq(transfer_state_from_text(p), TRANSFER_STATE_INVALID);
    free(p);
}

Test(transfer_state, decisions) {
    cr_assert_eq(transfer_decision_of(TRANSFER_STATE_COMMITTED), 'C');
    cr_assert_eq(transfer_decision_of(TRANSFER_STATE_ABORTED), 'A');
    cr_assert_eq(transfer_decision_of(TRANSFER_STATE_HELD), 'U');
    cr_assert_eq(transfer_decision_of(TRANSFER_STATE_REFUSED), 'U',
                 "a refused prepare is not a decision of the source");
    cr_assert_eq(transfer_state_of_decision(TRANSFER_DECISION_COMMIT), TRANSFER_STATE_COMMITTED);
    cr_assert_eq(transfer_state_of_decision(TRANSFER_DECISION_ABORT), TRANSFER_STATE_ABORTED);
    cr_assert_eq(transfer_state_of_decision(TRANSFER_DECISION_UNKNOWN), TRANSFER_STATE_NONE);
    cr_assert_eq(transfer_state_of_decision('c'), TRANSFER_STATE_NONE);
    for (int s = TRANSFER_STATE_NONE; s <= TRANSFER_STATE_INVALID; s++)
        cr_assert_eq(transfer_state_decided((transfer_state_t)s),
                     s == TRANSFER_STATE_COMMITTED || s == TRANSFER_STATE_ABORTED);
}

/* The whole script (harness_file_tail of more bytes than any script has). */
static char *read_script(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/settlement/scripts/%s", SOURCE_DIR, name);
    char *text = harness_file_tail(path, SCRIPT_BYTES_MAX);
    cr_assert(text != NULL && text[0] != '\0', "cannot read %s", path);
    return text;
}

/* Every state text pattern matches in the script parses, and is marked seen. */
static void check_matches(const char *pattern, const char *script, int seen[]) {
    char *text = read_script(script);
    regex_t re;
    cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED), 0, "%s", pattern);
    regmatch_t m[2];
    for (const char *p = text; regexec(&re, p, 2, m, p == text ? 0 : REG_NOTBOL) == 0;
         p += m[0].rm_eo) {
        transfer_state_t s;
        size_t len = (size_t)(m[1].rm_eo - m[1].rm_so);
        cr_assert_eq(transfer_state_parse(p + m[1].rm_so, len, &s), 0,
                     "%s writes state '%.*s', which settlement/transfer_state.c does not name",
                     script, (int)len, p + m[1].rm_so);
        seen[s] = 1;
    }
    regfree(&re);
    free(text);
}

Test(transfer_state, the_scripts_write_the_names_of_the_table) {
    static const char *const scripts[] = {"transfer_hold.lua", "source_decide.lua",
                                          "dest_prepare.lua", "dest_decide.lua",
                                          "recovery_scan.lua", "source_ack.lua",
                                          "origin_prepare.lua"};
    int seen[TRANSFER_STATE_COUNT_] = {0};
    for (size_t i = 0; i < sizeof scripts / sizeof scripts[0]; i++) {
        check_matches("'state',[ \t]*'([A-Z]+)'", scripts[i], seen);
        check_matches("state[ \t]*[~=]?=[ \t]*'([A-Z]+)'", scripts[i], seen);
    }
    /* source_decide answers a state per leg (its answer() helper), UNKNOWN
     * for no such leg */
    check_matches("answer\\('([A-Z]+)'", "source_decide.lua", seen);
    for (int s = TRANSFER_STATE_HELD; s < TRANSFER_STATE_INVALID; s++)
        cr_assert(seen[s], "no script writes %s", transfer_state_name((transfer_state_t)s));
}
