/* version.h - the build's version, as `git describe --always --dirty` gave it
 * when CMake configured the tree ("unknown" outside a git checkout). */
#ifndef GATEWAY_VERSION_H
#define GATEWAY_VERSION_H

/* The build version: a static NUL-terminated string, never NULL. */
const char *carbon_build_version(void);

#endif
