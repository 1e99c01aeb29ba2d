/* version.c - the build version (version.h), given by CMake as
 * CARBON_BUILD_VERSION. */
#include "gateway/version.h"

#ifndef CARBON_BUILD_VERSION
#define CARBON_BUILD_VERSION "unknown"
#endif

const char *carbon_build_version(void) { return CARBON_BUILD_VERSION; }
