/* carbon_assert.h - assertions that stay on in every build (DESIGN §12).
 *
 * CARBON_ASSERT(cond) checks a contract: an argument, a lock held, a limit.
 * Unlike assert(3) it is not compiled out by NDEBUG: the builds people run
 * (the run command's Release build, the benchmark) check every contract, and
 * a broken one stops the process at once with the expression and its place
 * rather than letting it write a wrong state to the store. Side effects in
 * cond are allowed (it is always evaluated exactly once), but keep them out.
 * CARBON_STATIC_ASSERT(cond, why) is _Static_assert, named alike. */
#ifndef COMMON_CARBON_ASSERT_H
#define COMMON_CARBON_ASSERT_H

/* Prints "assertion failed: EXPR at FILE:LINE in FUNC" on stderr and aborts.
 * Never returns. */
_Noreturn void carbon_assert_fail(const char *expr, const char *file, int line, const char *func);

#define CARBON_ASSERT(cond)                                                                 \
    ((cond) ? (void)0 : carbon_assert_fail(#cond, __FILE__, __LINE__, __func__))

#define CARBON_STATIC_ASSERT(cond, why) _Static_assert(cond, why)

#endif
