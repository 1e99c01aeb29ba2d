/* log.h - structured logs: one JSON object per line on stderr.
 *
 * Each line has "time" (RFC 3339 UTC, milliseconds), "level", "event" and the
 * fields given as a jansson json_pack() format, e.g.
 *   log_info("listening", "{s:s, s:i}", "address", addr, "port", port);
 * Never pass a key, password or other secret as a field. Thread-safe: a line
 * is written with one fwrite under a lock. */
#ifndef GATEWAY_LOG_H
#define GATEWAY_LOG_H

typedef enum { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR } log_level_t;

/* Lines below this level are dropped. Default LOG_LEVEL_INFO. */
void log_set_level(log_level_t level);

/* Parses "debug", "info", "warn", "error"; returns -1 if unknown. */
int log_level_parse(const char *name);

/* Writes one line. fields_fmt may be NULL (no fields). A field format that
 * jansson rejects is logged as a field "log_error" rather than dropped. */
void log_event(log_level_t level, const char *event, const char *fields_fmt, ...);

#define log_debug(ev, ...) log_event(LOG_LEVEL_DEBUG, ev, __VA_ARGS__)
#define log_info(ev, ...)  log_event(LOG_LEVEL_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...)  log_event(LOG_LEVEL_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...) log_event(LOG_LEVEL_ERROR, ev, __VA_ARGS__)

#endif
