/* test_carbon_assert.c - CARBON_ASSERT checks its contract even in a build
 * with NDEBUG (this file is compiled with -DNDEBUG by CMakeLists.txt). */
#include "common/carbon_assert.h"

#include <criterion/criterion.h>
#include <signal.h>

#ifndef NDEBUG
#error "this test must be compiled with NDEBUG to prove CARBON_ASSERT ignores it"
#endif

static int checked(int v) {
    CARBON_ASSERT(v < 10);
    return v * 2;
}

Test(carbon_assert, a_kept_contract_passes_and_evaluates_once) {
    int calls = 0;
    CARBON_ASSERT(++calls == 1);
    cr_assert_eq(calls, 1);
    cr_assert_eq(checked(4), 8);
}

Test(carbon_assert, a_broken_contract_aborts_even_with_NDEBUG, .signal = SIGABRT) {
    checked(11);
}

CARBON_STATIC_ASSERT(sizeof(int) >= 4, "the limits of this code assume a 32-bit int");
