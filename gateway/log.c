/* log.c - JSON-lines logging on stderr (see log.h). */
#include "gateway/log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static log_level_t log_min_level = LOG_LEVEL_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(log_level_t level) { log_min_level = level; }

int log_level_parse(const char *name) {
    for (int i = 0; i < 4; i++)
        if (strcmp(name, log_level_names[i]) == 0) return i;
    return -1;
}

void log_event(log_level_t level, const char *event, const char *fields_fmt, ...) {
    if (level < log_min_level) return;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    char time_text[40];
    size_t n = strftime(time_text, sizeof time_text, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(time_text + n, sizeof time_text - n, ".%03ldZ", now.tv_nsec / 1000000);

    json_t *line = json_pack("{s:s, s:s, s:s}", "time", time_text, "level",
                             log_level_names[level], "event", event);
    if (line == NULL) return;
    if (fields_fmt != NULL) {
        json_error_t jerr;
        va_list ap;
        va_start(ap, fields_fmt);
        json_t *fields = json_vpack_ex(&jerr, 0, fields_fmt, ap);
        va_end(ap);
        if (fields != NULL && json_is_object(fields))
            json_object_update(line, fields);
        else
            json_object_set_new(line, "log_error", json_string(jerr.text));
        json_decref(fields);
    }
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(line);
    if (text == NULL) return;
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "%s\n", text);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
    free(text);
}
