/* test_failpoint_clock.c - the fault tests' clock skew hook (settlement/failpoint.h):
 * honoured only with CARBON_TEST_HOOKS=1, only for this region's entry, bounded. */
#include "settlement/failpoint.h"
#include "settlement/ledger.h"

#include <criterion/criterion.h>
#include <stdlib.h>

static void clear(void) {
    unsetenv("CARBON_TEST_HOOKS");
    unsetenv("CARBON_TEST_CLOCK_OFFSET_MS");
}

TestSuite(failpoint_clock, .init = clear, .fini = clear);

Test(failpoint_clock, unset_is_no_offset) {
    char err[256] = "";
    cr_assert_eq(failpoint_clock_init("CN-TJ", err, sizeof err), 0);
    cr_assert_eq(failpoint_clock_offset_ms(), 0);
}

Test(failpoint_clock, refused_without_the_test_switch) {
    char err[256] = "";
    setenv("CARBON_TEST_CLOCK_OFFSET_MS", "CN-TJ:3000", 1);
    cr_assert_eq(failpoint_clock_init("CN-TJ", err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "CARBON_TEST_HOOKS=1"), "%s", err);
    cr_assert_eq(failpoint_clock_offset_ms(), 0);
    setenv("CARBON_TEST_HOOKS", "yes", 1); /* only "1" */
    cr_assert_eq(failpoint_clock_init("CN-TJ", err, sizeof err), -1);
}

Test(failpoint_clock, this_regions_entry_shifts_the_ledger_clock) {
    char err[256] = "";
    setenv("CARBON_TEST_HOOKS", "1", 1);
    setenv("CARBON_TEST_CLOCK_OFFSET_MS", "CN-TJ:-2500,CN-BJ:4000,CN-HE:0", 1);
    cr_assert_eq(failpoint_clock_init("CN-BJ", err, sizeof err), 0, "%s", err);
    cr_assert_eq(failpoint_clock_offset_ms(), 4000);
    uint64_t skewed = ledger_now_ms();
    cr_assert_eq(failpoint_clock_init("CN-TJ", err, sizeof err), 0, "%s", err);
    cr_assert_eq(failpoint_clock_offset_ms(), -2500);
    uint64_t behind = ledger_now_ms();
    cr_assert(skewed > behind + 6000 && skewed < behind + 7000, "%llu vs %llu", (unsigned long long)skewed,
              (unsigned long long)behind);
    cr_assert_eq(failpoint_clock_init("CN-XX", err, sizeof err), 0, "%s", err); /* no entry: no skew */
    cr_assert_eq(failpoint_clock_offset_ms(), 0);
}

Test(failpoint_clock, malformed_or_too_large_is_refused) {
    static const char *const bad[] = {"CN-TJ", "CN-TJ:", ":5", "CN-TJ:5x", "CN-TJ:60001", "CN-TJ:-60001",
                                      "CN-TJ:1,,CN-BJ:2", "CN-TJ:99999999999999999999"};
    setenv("CARBON_TEST_HOOKS", "1", 1);
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char err[256] = "";
        setenv("CARBON_TEST_CLOCK_OFFSET_MS", bad[k], 1);
        cr_assert_eq(failpoint_clock_init("CN-TJ", err, sizeof err), -1, "'%s' accepted", bad[k]);
        cr_assert_eq(failpoint_clock_offset_ms(), 0);
    }
    setenv("CARBON_TEST_CLOCK_OFFSET_MS", "CN-TJ:60000", 1);
    char err[256] = "";
    cr_assert_eq(failpoint_clock_init("CN-TJ", err, sizeof err), 0, "%s", err);
}
