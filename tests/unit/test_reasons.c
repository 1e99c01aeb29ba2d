/* test_reasons.c - the table of reasons (settlement/reasons.h) against the
 * code: every reason the gateway can send is in the
 * table, with the status the refusal site uses, and every table entry is given
 * somewhere. It reads the sources of gateway/, settlement/ and
 * settlement/scripts/:
 *   - server_reply_error(call, STATUS, REASON, ...): a string literal reason
 *     is refused (write REASON(NAME)); REASON(NAME) with a literal
 *     GRPC_STATUS_X must have the table's status;
 *   - C: a literal assigned to a reason/why/precheck variable or printed into
 *     a .reason field must be in the table, and no literal may spell a
 *     table name (write REASON(NAME));
 *   - Lua: every literal NAME_WITH_UNDERSCORES, the first element of a
 *     `return { 'NAME'` reply (other than OK and DUP) and a literal stored as
 *     a reason must be in the table;
 *   - used: REASON(NAME) / REASON_NAME in C, 'NAME' in Lua.
 * The client side (gateway/gwctl/, gateway/rpc/) only relays reasons and is not read. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settlement/ledger.h"
#include "settlement/reasons.h"

#define SRC_BYTES_MAX (1u << 20)
#define PROBLEMS_MAX 16384

typedef struct {
    char text[PROBLEMS_MAX];
    size_t len;
    int n;
    int used[REASON_COUNT];
    const char *last_at; /* where the last problem was found (reported once) */
} scan_t;

static void problem(scan_t *s, const char *path, const char *text, const char *at,
                    const char *fmt, ...) {
    if (at == s->last_at) return; /* two patterns found the same literal */
    s->last_at = at;
    int line = 1;
    for (const char *p = text; p < at; p++) line += *p == '\n';
    s->n++;
    if (s->len + 256 >= sizeof s->text) return;
    s->len += (size_t)snprintf(s->text + s->len, sizeof s->text - s->len, "%s:%d: ", path, line);
    va_list ap;
    va_start(ap, fmt);
    s->len += (size_t)vsnprintf(s->text + s->len, sizeof s->text - s->len, fmt, ap);
    va_end(ap);
    s->len += (size_t)snprintf(s->text + s->len, sizeof s->text - s->len, "\n");
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s", path);
    char *buf = malloc(SRC_BYTES_MAX + 1);
    cr_assert_not_null(buf);
    size_t n = fread(buf, 1, SRC_BYTES_MAX, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void mark_used(scan_t *s, const char *name, size_t len) {
    char tmp[128];
    if (len >= sizeof tmp) return;
    memcpy(tmp, name, len);
    tmp[len] = '\0';
    const reason_info_t *r = reason_find(tmp);
    if (r != NULL) s->used[r - reason_info((reason_t)0)] = 1;
}

typedef void match_fn(scan_t *, const char *, const char *, const char *, size_t);

/* Calls fn for every match of pattern in text, with its group 1. */
static void each_match(const char *pattern, const char *text, match_fn *fn, scan_t *s,
                       const char *path) {
    regex_t re;
    cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED), 0, "%s", pattern);
    regmatch_t m[2];
    const char *p = text;
    while (regexec(&re, p, 2, m, p == text ? 0 : REG_NOTBOL) == 0) {
        fn(s, path, text, p + m[1].rm_so, (size_t)(m[1].rm_eo - m[1].rm_so));
        p += m[0].rm_eo > 0 ? m[0].rm_eo : 1;
    }
    regfree(&re);
}

static void need_in_table(scan_t *s, const char *path, const char *text, const char *name,
                          size_t len) {
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%.*s", (int)(len < 127 ? len : 127), name);
    if (reason_find(tmp) == NULL)
        problem(s, path, text, name, "reason %s is not in settlement/reasons.h", tmp);
    mark_used(s, name, len);
}

static void use(scan_t *s, const char *path, const char *text, const char *name, size_t len) {
    (void)path;
    (void)text;
    mark_used(s, name, len);
}

/* A literal spelling a table name with an underscore (one-word names such as
 * REFUSED are also leg states: the contexts above check those). */
static void c_literal(scan_t *s, const char *path, const char *text, const char *name, size_t len) {
    if (memchr(name, '_', len) == NULL) return;
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%.*s", (int)(len < 127 ? len : 127), name);
    if (reason_find(tmp) != NULL)
        problem(s, path, text, name, "literal \"%s\": write REASON(%s)", tmp, tmp);
}

/* Copies the trimmed argument [a, b) into out. */
static void arg_copy(const char *a, const char *b, char *out, size_t outlen) {
    while (a < b && (*a == ' ' || *a == '\n' || *a == '\t')) a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\n' || b[-1] == '\t')) b--;
    snprintf(out, outlen, "%.*s", (int)(b - a), a);
}

/* The status and reason arguments of the call whose '(' is at open; 0 if the
 * call has fewer than three arguments. */
static int call_args(const char *open, char *status, char *reason, size_t len) {
    const char *start[4] = {open + 1};
    int depth = 0, k = 0;
    for (const char *p = open + 1; *p != '\0' && k < 3; p++) {
        if (*p == '"') {
            for (p++; *p != '\0' && *p != '"'; p++)
                if (*p == '\\' && p[1] != '\0') p++;
        } else if (*p == '(') {
            depth++;
        } else if (*p == ')') {
            if (depth-- == 0) break;
        } else if (*p == ',' && depth == 0) {
            start[++k] = p + 1;
        }
    }
    if (k < 3) return 0;
    arg_copy(start[1], start[2] - 1, status, len);
    arg_copy(start[2], start[3] - 1, reason, len);
    return 1;
}

static void check_reply_sites(scan_t *s, const char *path, const char *text) {
    static const char call[] = "server_reply_error(";
    for (const char *p = strstr(text, call); p != NULL; p = strstr(p + 1, call)) {
        char status[256], reason[256], name[128];
        if (!call_args(p + sizeof call - 2, status, reason, sizeof status)) continue;
        if (strncmp(status, "grpc_status_code", 16) == 0) continue; /* the definition */
        if (reason[0] == '"') {
            problem(s, path, text, p, "literal reason %s: write REASON(NAME) from the table", reason);
            continue;
        }
        if (sscanf(reason, "REASON(%127[A-Z0-9_])", name) != 1) continue; /* computed */
        const reason_info_t *r = reason_find(name);
        if (r == NULL) {
            problem(s, path, text, p, "reason %s is not in settlement/reasons.h", name);
            continue;
        }
        if (r->where == REASON_WHERE_LEG)
            problem(s, path, text, p, "%s only explains aborted transfers; it cannot refuse a call", name);
        if (strncmp(status, "GRPC_STATUS_", 12) == 0 && strcmp(status + 12, r->status_name) != 0)
            problem(s, path, text, p, "%s is sent with %s but the table says %s", name, status,
                    r->status_name);
    }
}

/* Blanks C comments in text (keeping newlines, so lines still count). */
static void strip_c_comments(char *text) {
    for (char *p = text; *p != '\0'; p++) {
        if (*p == '"' || *p == '\'') {
            char q = *p;
            for (p++; *p != '\0' && *p != q; p++)
                if (*p == '\\' && p[1] != '\0') p++;
            if (*p == '\0') return;
        } else if (p[0] == '/' && p[1] == '*') {
            for (; *p != '\0' && !(p[0] == '*' && p[1] == '/'); p++)
                if (*p != '\n') *p = ' ';
            if (*p == '\0') return;
            p[0] = p[1] = ' ';
            p++;
        } else if (p[0] == '/' && p[1] == '/') {
            for (; *p != '\0' && *p != '\n'; p++) *p = ' ';
            if (*p == '\0') return;
        }
    }
}

static void scan_c(scan_t *s, const char *path, char *text) {
    strip_c_comments(text);
    check_reply_sites(s, path, text);
    each_match("[^A-Za-z0-9_]REASON\\(([A-Z0-9_]+)\\)", text, use, s, path);
    each_match("[^A-Za-z0-9_]REASON_([A-Z][A-Z0-9_]*)", text, use, s, path);
    each_match("reason[ \t]*=[ \t]*\"([A-Z][A-Z0-9_]*)\"", text, need_in_table, s, path);
    each_match("why[ \t]*=[ \t]*\"([A-Z][A-Z0-9_]*)\"", text, need_in_table, s, path);
    each_match("precheck[ \t]*=[ \t]*\"([A-Z][A-Z0-9_]*)\"", text, need_in_table, s, path);
    each_match("reason[ \t]*,[^,;]*,[ \t\n]*\"([A-Z][A-Z0-9_]*)\"", text, need_in_table, s, path);
    each_match("\"([A-Z][A-Z0-9_]*)\"", text, c_literal, s, path);
}

static void not_status(scan_t *s, const char *path, const char *text, const char *name, size_t len) {
    if ((len == 2 && !strncmp(name, "OK", 2)) || (len == 3 && !strncmp(name, "DUP", 3))) return;
    need_in_table(s, path, text, name, len);
}

/* Blanks Lua line comments (the scripts use no block comments). */
static void strip_lua_comments(char *text) {
    for (char *p = text; *p != '\0'; p++) {
        if (*p == '\'' || *p == '"') {
            char q = *p;
            for (p++; *p != '\0' && *p != q && *p != '\n'; p++)
                if (*p == '\\' && p[1] != '\0') p++;
            if (*p == '\0') return;
        } else if (p[0] == '-' && p[1] == '-') {
            for (; *p != '\0' && *p != '\n'; p++) *p = ' ';
            if (*p == '\0') return;
        }
    }
}

static void scan_lua(scan_t *s, const char *path, char *text) {
    strip_lua_comments(text);
    each_match("'([A-Z][A-Z0-9_]*)'", text, use, s, path);
    each_match("'([A-Z][A-Z0-9]*(_[A-Z0-9]+)+)'", text, need_in_table, s, path);
    each_match("return[ \t]*\\{[ \t]*'([A-Z][A-Z0-9_]*)'", text, not_status, s, path);
    each_match("reason[ \t]*=[ \t]*'([A-Z][A-Z0-9_]*)'", text, need_in_table, s, path);
    each_match("'reason',[ \t]*'([A-Z][A-Z0-9_]*)'", text, need_in_table, s, path);
    each_match("leg\\[3\\] or '([A-Z][A-Z0-9_]*)'", text, need_in_table, s, path);
}

static int skipped(const char *name) {
    return strcmp(name, "reasons.c") == 0 || strcmp(name, "reasons.h") == 0;
}

static void scan_dir(scan_t *s, const char *dir, const char *ext) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", SOURCE_DIR, dir);
    DIR *d = opendir(path);
    cr_assert_not_null(d, "cannot open %s", path);
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        size_t n = strlen(e->d_name), x = strlen(ext);
        if (n <= x || strcmp(e->d_name + n - x, ext) != 0 || skipped(e->d_name)) continue;
        char file[1400], rel[1400];
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        snprintf(rel, sizeof rel, "%s/%s", dir, e->d_name);
        char *text = read_all(file);
        if (strcmp(ext, ".lua") == 0)
            scan_lua(s, rel, text);
        else
            scan_c(s, rel, text);
        free(text);
    }
    closedir(d);
}

static scan_t scan;

Test(reasons, code_and_table_agree) {
    scan_dir(&scan, "gateway", ".c");
    scan_dir(&scan, "gateway", ".h");
    scan_dir(&scan, "gateway/services", ".c");
    scan_dir(&scan, "gateway/services", ".h");
    scan_dir(&scan, "settlement", ".c");
    scan_dir(&scan, "settlement", ".h");
    scan_dir(&scan, "settlement/scripts", ".lua");
    for (size_t i = 0; i < REASON_COUNT; i++)
        if (!scan.used[i]) {
            scan.n++;
            scan.len += (size_t)snprintf(scan.text + scan.len, sizeof scan.text - scan.len,
                                         "settlement/reasons.h: %s is in the table but no code "
                                         "gives it\n", reason_name((reason_t)i));
        }
    cr_assert_eq(scan.n, 0, "%d problem(s):\n%s", scan.n, scan.text);
}

Test(reasons, table_is_well_formed) {
    for (size_t i = 0; i < REASON_COUNT; i++) {
        const reason_info_t *r = reason_info((reason_t)i);
        cr_expect_eq(reason_find(r->name), r, "%s", r->name);
        cr_expect(r->meaning[0] != '\0' && r->todo[0] != '\0', "%s", r->name);
        for (const char *p = r->name; *p; p++)
            cr_expect((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_', "%s", r->name);
    }
    cr_expect_null(reason_find("NO_ACCOUNT"), "merged into UNKNOWN_ACCOUNT");
    cr_expect_null(reason_find("PEER_UNREACHABLE"), "merged into PEER_UNAVAILABLE");
}

/* A peer's vote carries a reason and a detail: untrusted text. */
Test(reasons, a_peers_detail_and_reason_are_checked) {
    cr_assert(reason_detail_valid("", LEDGER_DETAIL_MAX));
    cr_assert(reason_detail_valid("inflow CN-TJ: room left 1000 g of 10000 g", LEDGER_DETAIL_MAX));
    cr_assert(!reason_detail_valid("line\nbreak", LEDGER_DETAIL_MAX));
    cr_assert(!reason_detail_valid("\x1b[31mred", LEDGER_DETAIL_MAX));
    cr_assert(!reason_detail_valid("\xe4\xb8\xad", LEDGER_DETAIL_MAX)); /* not ASCII */
    char longest[LEDGER_DETAIL_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[LEDGER_DETAIL_MAX] = '\0';
    cr_assert(reason_detail_valid(longest, LEDGER_DETAIL_MAX));
    longest[LEDGER_DETAIL_MAX] = 'a';
    longest[LEDGER_DETAIL_MAX + 1] = '\0';
    cr_assert(!reason_detail_valid(longest, LEDGER_DETAIL_MAX));
    reason_t r;
    cr_assert(reason_lookup("QUOTA_EXCEEDED", &r));
    cr_assert_eq(r, REASON_QUOTA_EXCEEDED);
    cr_assert(!reason_lookup("quota_exceeded", &r));
    cr_assert(!reason_lookup("NO SUCH REASON", &r));
}
