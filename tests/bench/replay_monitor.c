/* replay_monitor.c - replays what a region's Redis received during a
 * benchmark run (its MONITOR output) into another Redis, with the scripts of
 * another build, for scripts/run-replay.sh (issue 16); never part of a
 * gateway.
 *
 *   replay_monitor MONITOR_FILE HOST PORT RECORDED_SHAS TARGET_SHAS TRIGGER LEGS_ARG
 *
 * MONITOR_FILE: `redis-cli MONITOR` of the recorded region from its start.
 * RECORDED_SHAS, TARGET_SHAS: what script_shas printed for the recorded
 * build and for the build whose scripts the target Redis holds (loaded by
 * that script_shas before this runs): each EVALSHA is sent under the target
 * build's SHA1 of the same script. Commands scripts ran inside (" lua] "),
 * and those of administration (MONITOR, INFO, CONFIG, SCRIPT, CLIENT, ...)
 * are not sent; everything else is, in order, in pipelines of
 * REPLAY_PIPELINE. When the first EVALSHA of the script TRIGGER comes,
 * everything before it has been answered, the statistics are reset (CONFIG
 * RESETSTAT) and, if REPLAY_CALLGRIND_PID is set, `callgrind_control -i on`
 * that process, so that a count covers the transfers only; at the end
 * `callgrind_control -i off`. LEGS_ARG: the argument of TRIGGER's EVALSHA
 * (counted from 0 = "EVALSHA") that holds its number of legs; their sum is
 * the number of transfers replayed.
 * Prints one JSON line {"legs", "commands", "errors", "first_error"} and
 * exits 0; 1 with the reason on stderr if it cannot run. */
#include <hiredis/hiredis.h>
#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLAY_ARGS_MAX 65536    /* arguments of one command */
#define REPLAY_PIPELINE 200      /* commands per round trip */
#define REPLAY_SHA_HEX 40
#define REPLAY_ERROR_KEPT 200    /* bytes of the first error reply kept */

typedef struct {
    char **argv;
    size_t *lens;
    size_t argc;
} replay_cmd_t;

static const char *const REPLAY_SKIPPED[] = {"MONITOR", "INFO", "CONFIG", "SLOWLOG", "SCRIPT", "CLIENT", "HELLO",
                                             "AUTH", "PING", "COMMAND", "SELECT", "ACL", "DEBUG", "LATENCY",
                                             "MEMORY", "SHUTDOWN", "BGREWRITEAOF", "WAIT", "ROLE"};

/* The value of escape character c after a backslash (sdscatrepr's set). */
static int replay_unescape(char c) {
    switch (c) {
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'a': return '\a';
    case 'b': return '\b';
    default: return c; /* \\ and \" */
    }
}

static int replay_hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Parses one quoted argument at *p (just after its opening quote) into out
 * (at least as long as the line); returns its length and moves *p past the
 * closing quote, or -1 if the line ends first. */
static long replay_parse_arg(const char **p, const char *end, char *out) {
    const char *s = *p;
    size_t n = 0;
    while (s < end && *s != '"') {
        if (*s == '\\' && s + 1 < end) {
            if (s[1] == 'x' && s + 3 < end && replay_hex(s[2]) >= 0 && replay_hex(s[3]) >= 0) {
                out[n++] = (char)(replay_hex(s[2]) * 16 + replay_hex(s[3]));
                s += 4;
                continue;
            }
            out[n++] = (char)replay_unescape(s[1]);
            s += 2;
            continue;
        }
        out[n++] = *s++;
    }
    if (s >= end) return -1;
    *p = s + 1;
    return (long)n;
}

/* Splits a MONITOR line into cmd (its buffers reused); 0, or -1 for a line
 * that is not a client's command (a script's own, or no arguments). */
static int replay_parse_line(const char *line, size_t len, replay_cmd_t *cmd, char *buf) {
    const char *end = line + len;
    const char *p = strstr(line, "] \"");
    if (p == NULL) return -1;
    /* the header "TIME [DB CLIENT]": a script's own commands say "lua" there */
    if (p - line >= 4 && memcmp(p - 4, " lua", 4) == 0) return -1;
    p += 2;
    cmd->argc = 0;
    size_t used = 0;
    while (p < end && cmd->argc < REPLAY_ARGS_MAX) {
        if (*p != '"') {
            p++;
            continue;
        }
        p++;
        long n = replay_parse_arg(&p, end, buf + used);
        if (n < 0) return -1;
        cmd->argv[cmd->argc] = buf + used;
        cmd->lens[cmd->argc] = (size_t)n;
        cmd->argc++;
        used += (size_t)n;
    }
    if (p < end && memchr(p, '"', (size_t)(end - p)) != NULL) {
        fprintf(stderr, "replay_monitor: a command of more than %d arguments\n", REPLAY_ARGS_MAX);
        exit(1);
    }
    return cmd->argc > 0 ? 0 : -1;
}

static int replay_skipped(const replay_cmd_t *cmd) {
    for (size_t i = 0; i < sizeof REPLAY_SKIPPED / sizeof REPLAY_SKIPPED[0]; i++)
        if (cmd->lens[0] == strlen(REPLAY_SKIPPED[i]) &&
            strncasecmp(cmd->argv[0], REPLAY_SKIPPED[i], cmd->lens[0]) == 0)
            return 1;
    return 0;
}

/* The SHA1 under which shas (script_shas's map) holds the script name, or NULL. */
static const char *replay_sha_of(json_t *shas, const char *name) {
    const char *key;
    json_t *value;
    json_object_foreach(shas, key, value) {
        if (json_is_string(value) && strcmp(json_string_value(value), name) == 0) return key;
    }
    return NULL;
}

/* The SHA1 the target build gives the script recorded under sha, or NULL. */
static const char *replay_target_sha(json_t *recorded, json_t *target, const char *sha) {
    const char *name = json_string_value(json_object_get(recorded, sha));
    return name == NULL ? NULL : replay_sha_of(target, name);
}

typedef struct {
    redisContext *c;
    size_t pending;
    long long commands, errors;
    char first_error[REPLAY_ERROR_KEPT];
} replay_conn_t;

/* Reads every pending reply; 0, or -1 if the connection failed. */
static int replay_drain(replay_conn_t *r) {
    for (; r->pending > 0; r->pending--) {
        redisReply *reply = NULL;
        if (redisGetReply(r->c, (void **)&reply) != REDIS_OK) return -1;
        if (reply->type == REDIS_REPLY_ERROR) {
            if (r->errors++ == 0) snprintf(r->first_error, sizeof r->first_error, "%s", reply->str);
        }
        freeReplyObject(reply);
    }
    return 0;
}

static int replay_send(replay_conn_t *r, const replay_cmd_t *cmd) {
    if (redisAppendCommandArgv(r->c, (int)cmd->argc, (const char **)cmd->argv, cmd->lens) != REDIS_OK) return -1;
    r->pending++;
    r->commands++;
    return r->pending >= REPLAY_PIPELINE ? replay_drain(r) : 0;
}

/* At the trigger: everything before answered, statistics reset, callgrind on. */
static int replay_at_trigger(replay_conn_t *r) {
    if (replay_drain(r) != 0) return -1;
    redisReply *reply = redisCommand(r->c, "CONFIG RESETSTAT");
    if (reply == NULL) return -1;
    freeReplyObject(reply);
    const char *pid = getenv("REPLAY_CALLGRIND_PID");
    if (pid != NULL && *pid != '\0') {
        char command[128];
        snprintf(command, sizeof command, "callgrind_control -i on %d >/dev/null 2>&1", atoi(pid));
        if (system(command) != 0) fprintf(stderr, "replay_monitor: %s failed\n", command);
    }
    return 0;
}

typedef struct {
    json_t *recorded, *target;
    const char *trigger_sha;
    long legs_arg;
    int started;
    long long legs;
} replay_plan_t;

/* Sends one parsed command (its EVALSHA SHA1 mapped); 0 or -1. */
static int replay_one(replay_conn_t *r, replay_plan_t *plan, replay_cmd_t *cmd) {
    if (replay_skipped(cmd)) return 0;
    if (cmd->lens[0] == 7 && strncasecmp(cmd->argv[0], "EVALSHA", 7) == 0 && cmd->argc >= 3 &&
        cmd->lens[1] == REPLAY_SHA_HEX) {
        char sha[REPLAY_SHA_HEX + 1];
        memcpy(sha, cmd->argv[1], REPLAY_SHA_HEX);
        sha[REPLAY_SHA_HEX] = '\0';
        const char *mapped = replay_target_sha(plan->recorded, plan->target, sha);
        if (mapped != NULL) memcpy(cmd->argv[1], mapped, REPLAY_SHA_HEX);
        if (mapped != NULL && strcmp(mapped, plan->trigger_sha) == 0) {
            if (!plan->started && replay_at_trigger(r) != 0) return -1;
            plan->started = 1;
            if ((size_t)plan->legs_arg < cmd->argc && cmd->lens[plan->legs_arg] < 20) {
                char legs[20]; /* arguments are not NUL-terminated */
                memcpy(legs, cmd->argv[plan->legs_arg], cmd->lens[plan->legs_arg]);
                legs[cmd->lens[plan->legs_arg]] = '\0';
                plan->legs += atoll(legs);
            }
        }
    }
    return replay_send(r, cmd);
}

static int replay_file(FILE *in, replay_conn_t *r, replay_plan_t *plan) {
    replay_cmd_t cmd = {malloc(REPLAY_ARGS_MAX * sizeof(char *)), malloc(REPLAY_ARGS_MAX * sizeof(size_t)), 0};
    char *line = NULL, *buf = NULL;
    size_t cap = 0, buf_cap = 0;
    ssize_t n;
    int rc = cmd.argv != NULL && cmd.lens != NULL ? 0 : -1;
    while (rc == 0 && (n = getline(&line, &cap, in)) > 0) {
        if ((size_t)n + 1 > buf_cap) {
            free(buf);
            buf_cap = (size_t)n + 1;
            buf = malloc(buf_cap);
            if (buf == NULL) rc = -1;
        }
        if (rc == 0 && replay_parse_line(line, (size_t)n, &cmd, buf) == 0) rc = replay_one(r, plan, &cmd);
    }
    if (rc == 0) rc = replay_drain(r);
    free(line);
    free(buf);
    free(cmd.argv);
    free(cmd.lens);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: replay_monitor MONITOR_FILE HOST PORT RECORDED_SHAS TARGET_SHAS TRIGGER LEGS_ARG\n");
        return 2;
    }
    json_error_t jerr;
    replay_plan_t plan = {json_load_file(argv[4], 0, &jerr), json_load_file(argv[5], 0, &jerr), NULL,
                          atol(argv[7]), 0, 0};
    if (plan.recorded == NULL || plan.target == NULL) {
        fprintf(stderr, "replay_monitor: %s\n", jerr.text);
        return 1;
    }
    plan.trigger_sha = replay_sha_of(plan.target, argv[6]);
    FILE *in = fopen(argv[1], "r");
    replay_conn_t r = {redisConnect(argv[2], atoi(argv[3])), 0, 0, 0, ""};
    if (plan.trigger_sha == NULL || in == NULL || r.c == NULL || r.c->err) {
        fprintf(stderr, "replay_monitor: no script %s in %s, or %s unreadable, or no Redis at %s:%s\n", argv[6],
                argv[5], argv[1], argv[2], argv[3]);
        return 1;
    }
    int rc = replay_file(in, &r, &plan);
    const char *pid = getenv("REPLAY_CALLGRIND_PID");
    if (pid != NULL && *pid != '\0') {
        char command[128];
        snprintf(command, sizeof command, "callgrind_control -i off %d >/dev/null 2>&1", atoi(pid));
        if (system(command) != 0) fprintf(stderr, "replay_monitor: %s failed\n", command);
    }
    fclose(in);
    if (rc != 0) {
        fprintf(stderr, "replay_monitor: Redis: %s\n", r.c->errstr);
        return 1;
    }
    json_t *out = json_pack("{s:I,s:I,s:I,s:s}", "legs", (json_int_t)plan.legs, "commands",
                            (json_int_t)r.commands, "errors", (json_int_t)r.errors, "first_error", r.first_error);
    char *text = json_dumps(out, JSON_COMPACT);
    printf("%s\n", text);
    free(text);
    json_decref(out);
    json_decref(plan.recorded);
    json_decref(plan.target);
    redisFree(r.c);
    return 0;
}
