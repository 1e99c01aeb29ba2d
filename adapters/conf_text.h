/* conf_text.h - the line/section text format shared by catalogs and rules.
 *
 * Catalogs (adapters/catalog.h) and rules on use (adapters/rules.h) are
 * reviewed data files in one format: UTF-8 lines, '#' comments, blank lines,
 * "[kind arg]" section headers and "key = value" lines. This module walks
 * such a file line by line (BOM, CRLF, line and file limits, control
 * characters, UTF-8) and holds the small validators both parsers use, so
 * that the two formats are checked by one piece of code. No allocation. */
#ifndef ADAPTERS_CONF_TEXT_H
#define ADAPTERS_CONF_TEXT_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    CONF_NUM_OK = 0,
    CONF_NUM_MALFORMED,
    CONF_NUM_RANGE,
    CONF_NUM_NOT_POSITIVE,
} conf_num_rc_t;

/* Called for each line that is neither blank nor a comment: [s, s+n) is the
 * line without its end and without blanks at either end (n >= 1). Returns 0
 * to go on, non-zero to stop (the callback wrote its own error). */
typedef int (*conf_line_fn)(void *ctx, uint32_t line, const char *s, size_t n);

/* Walks len bytes of data (need not be NUL-terminated) as lines of at most
 * line_max bytes, a file of at most file_max bytes. A leading UTF-8 BOM is
 * skipped, CRLF accepted. Returns 0 after every line was handed to fn, with
 * the number of the last line in *last_line; -1 when fn stopped (err as fn
 * left it) or a line is bad ("NAME:LINE: reason" in err). */
int conf_text_walk(const char *name, const char *data, size_t len, size_t file_max,
                   size_t line_max, conf_line_fn fn, void *ctx, uint32_t *last_line,
                   char *err, size_t errlen);

/* Trims blanks (space, tab) on both ends of [*s, *s + *n). */
void conf_trim(const char **s, size_t *n);

/* 1 if s is a token [A-Za-z0-9][A-Za-z0-9._-]* of 1..max bytes. */
int conf_valid_token(const char *s, size_t max);

/* 1 if s is an ISO 3166-2 code: two capitals, '-', one to three capitals/digits. */
int conf_valid_region(const char *s);

/* 1 if [s, s+n) is well-formed UTF-8. */
int conf_valid_utf8(const unsigned char *s, size_t n);

/* Parses [s, s+n) as a positive decimal integer without leading zeros. */
conf_num_rc_t conf_parse_positive(const char *s, size_t n, uint64_t *out);

#endif
