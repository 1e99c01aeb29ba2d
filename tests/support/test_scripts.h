/* test_scripts.h - the tests' own Lua scripts (tests/support/scripts),
 * embedded into test_support with the settlement prelude by
 * cmake/embed_scripts.cmake, never into gatewayd. A test loads them through
 * the store's script API: set store_config_t.extra_scripts (test_scripts_use)
 * and find one with store_script_find. */
#ifndef TESTS_SUPPORT_TEST_SCRIPTS_H
#define TESTS_SUPPORT_TEST_SCRIPTS_H

#include "settlement/store.h"

extern const script_source_t test_script_sources[];
extern const size_t test_script_sources_n;

/* Adds the tests' scripts to cfg (extra_scripts). */
static inline void test_scripts_use(store_config_t *cfg) {
    cfg->extra_scripts = test_script_sources;
    cfg->extra_scripts_n = test_script_sources_n;
}

#endif
