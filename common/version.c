/* version.c - the build version (version.h). CMakeLists.txt defines
 * CARBON_BUILD_VERSION for this file only. */
#include "common/version.h"

#ifndef CARBON_BUILD_VERSION
#define CARBON_BUILD_VERSION "unknown"
#endif

const char *carbon_build_version(void) { return CARBON_BUILD_VERSION; }
