/* script_args.h - the arguments of one call of a store script (the scripts
 * of settlement/scripts/, embedded in the store), and the readers of its
 * array reply. One list, grown as needed up to STORE_ARGS_MAX, each
 * argument a copy with its length (binary safe). Shared by every module
 * that runs scripts (ledger, activity, heuristic, use_reports). */
#ifndef SETTLEMENT_SCRIPT_ARGS_H
#define SETTLEMENT_SCRIPT_ARGS_H

#include "settlement/store.h"

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

/* The bytes of all the arguments of one call, at most (a limit on
 * everything: the largest call, a batch of 1,024 legs of 1,024 blocks,
 * takes about 96 MiB). */
#define SCRIPT_ARGS_BYTES_MAX (256u << 20)

typedef struct {
    size_t n, cap;
    size_t *off;          /* argument i is bytes[off[i] .. off[i] + len[i]), NUL after */
    size_t *len;
    char *bytes;          /* one buffer for them all: no allocation per argument */
    size_t used, bytes_cap;
} script_args_t; /* = {0} to start; script_args_free or script_args_run frees */

/* Appends len bytes of s (s may hold NULs). At most STORE_ARGS_MAX
 * arguments and SCRIPT_ARGS_BYTES_MAX bytes in all. */
void script_args_add(script_args_t *a, const char *s, size_t len);

/* Appends the string s. */
void script_args_str(script_args_t *a, const char *s);

/* Appends v in decimal. */
void script_args_u64(script_args_t *a, uint64_t v);

/* The arguments as an argv array into a's buffer (malloc'd: the caller
 * frees it, before a changes). */
const char **script_args_argv(const script_args_t *a);

/* Frees the arguments; a may be appended to again. */
void script_args_free(script_args_t *a);

/* Runs the embedded script name with a's arguments, then frees them.
 * Returns 0 with *reply (the caller frees it) when the store answered and,
 * if want_array, the answer is an array; else -1 with err and *reply NULL. */
int script_args_run(store_t *st, const char *name, script_args_t *a, int want_array, redisReply **reply,
                    char *err, size_t errlen);

/* The i-th element of array reply r as a string: "" if absent, nil or not a
 * string or status. */
const char *script_reply_str(const redisReply *r, size_t i);

/* The i-th element of array reply r as a number: an integer (negative: 0) or
 * a decimal string; 0 if absent or not a number. */
uint64_t script_reply_u64(const redisReply *r, size_t i);

#endif
