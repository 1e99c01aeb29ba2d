/* test_failpoint_clock.c - the fault tests' clock skew hook (settlement/failpoint.h):
 * honoured only with CARBON_TEST_HOOKS=1, only for this region's entry, bounded. */
#include "settlement/failpoint.h"
#include "settlement/ledger.h"
#include "tests/support/proc.h"

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

/* ---- pause points (CARBON_FAILPOINT_PAUSE) ---------------------------------- */

/* How long failpoint_pause(name) kept this thread, in ms. */
static long long paused_ms(const char *name) {
    long long t0 = proc_now_ms();
    failpoint_pause(name);
    return proc_now_ms() - t0;
}

static void clear_pauses(void) {
    clear();
    unsetenv("CARBON_FAILPOINT_PAUSE");
    unsetenv("CARBON_FAILPOINT");
}

TestSuite(failpoint_pause, .init = clear_pauses, .fini = clear_pauses);

Test(failpoint_pause, a_list_arms_this_regions_points_each_time) {
    setenv("CARBON_TEST_HOOKS", "1", 1);
    setenv("CARBON_FAILPOINT_PAUSE", "CN-BJ:a:5000,CN-TJ:p1:30,,CN-TJ:bad,CN-TJ:p2:40,CN-TJ:p3:0,", 1);
    failpoint_init("CN-TJ");
    cr_assert_geq(paused_ms("p1"), 30);
    cr_assert_geq(paused_ms("p1"), 30, "a pause point pauses each time");
    cr_assert_geq(paused_ms("p2"), 40);
    cr_assert_lt(paused_ms("a"), 2500, "another region's point paused this one");
    cr_assert_lt(paused_ms("bad"), 2500);
    cr_assert_lt(paused_ms("p3"), 2500, "MS 0 is out of range: ignored");
}

Test(failpoint_pause, at_most_four_per_region_and_only_with_the_test_switch) {
    setenv("CARBON_FAILPOINT_PAUSE", "CN-TJ:p1:30", 1);
    failpoint_init("CN-TJ");
    cr_assert_lt(paused_ms("p1"), 25, "paused without CARBON_TEST_HOOKS=1");
    setenv("CARBON_TEST_HOOKS", "1", 1);
    setenv("CARBON_FAILPOINT_PAUSE",
           "CN-TJ:p1:1,CN-TJ:p2:1,CN-TJ:p3:1,CN-TJ:p4:1,CN-TJ:p5:3000", 1);
    failpoint_init("CN-TJ");
    cr_assert_lt(paused_ms("p5"), 2500, "a fifth point of the region was armed");
    cr_assert_geq(paused_ms("p4"), 1);
}
