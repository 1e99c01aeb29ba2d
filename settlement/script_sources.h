/* script_sources.h - the Lua scripts of settlement/scripts, embedded at build
 * time (cmake/embed_scripts.cmake). Each state transition of the store is one
 * of these scripts, run atomically by Redis with EVALSHA. */
#ifndef SETTLEMENT_SCRIPT_SOURCES_H
#define SETTLEMENT_SCRIPT_SOURCES_H
#include <stddef.h>

typedef struct {
    const char *name;   /* file name without .lua, e.g. "transfer_hold" */
    const char *source; /* NUL-terminated Lua source */
} script_source_t;

extern const script_source_t script_sources[];
extern const size_t script_sources_n;

#endif
