/* version.h - the build version of gatewayd and gwctl. */
#ifndef GATEWAY_VERSION_H
#define GATEWAY_VERSION_H

/* The version this binary was built from: `git describe --always --dirty` of
 * the source tree at configure time (CARBON_BUILD_VERSION in CMakeLists.txt),
 * or "unknown" outside a git checkout. A static string; never NULL. */
const char *carbon_build_version(void);

#endif
