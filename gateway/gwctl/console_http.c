/* console_http.c - gwctl console's HTTP side (console.h): every request is
 * checked before anything else (Host, Origin, Sec-Fetch-Site, the token,
 * the method, the body size), then routed to an embedded file or the JSON
 * API. */
#include "gateway/gwctl/console.h"
#include "common/carbon_assert.h"

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#define CONSOLE_TOKEN_HEADER "X-Console-Token"
#define CONSOLE_TOKEN_PLACEHOLDER "__CONSOLE_TOKEN__"
#define CONSOLE_CSP                                                                              \
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' " \
    "data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* A request's state between MHD's calls: its POST body so far. */
typedef struct {
    char body[CONSOLE_BODY_BYTES_MAX + 1];
    size_t len;
    int too_big;
} console_req_t;

/* Queues body[0..len) (copied) with status and the security headers. */
static enum MHD_Result console_send(struct MHD_Connection *conn, unsigned status, const char *type,
                                    const void *body, size_t len) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Content-Security-Policy", CONSOLE_CSP);
    enum MHD_Result ok = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ok;
}

/* Queues reply (its body consumed) as JSON; an answer over the limit
 * becomes a 502 that says so. */
static enum MHD_Result console_send_json(struct MHD_Connection *conn, console_reply_t reply) {
    CARBON_ASSERT(reply.body != NULL);
    char *text = json_dumps(reply.body, JSON_COMPACT);
    json_decref(reply.body);
    if (text == NULL) abort();
    size_t len = strlen(text);
    if (len > CONSOLE_RESPONSE_BYTES_MAX) {
        free(text);
        reply = console_error(502, "RESPONSE_TOO_LARGE", "", "the answer is over the console's limit");
        text = json_dumps(reply.body, JSON_COMPACT);
        json_decref(reply.body);
        if (text == NULL) abort();
        len = strlen(text);
    }
    enum MHD_Result ok = console_send(conn, reply.status, "application/json", text, len);
    free(text);
    return ok;
}

console_reply_t console_error(unsigned http, const char *status, const char *reason, const char *message) {
    CARBON_ASSERT(status != NULL && reason != NULL && message != NULL);
    json_t *e = json_pack("{s:s, s:o, s:o}", "status", status, "reason", gwctl_json_text(reason), "message",
                          gwctl_json_text(message));
    if (e == NULL) abort();
    return (console_reply_t){http, json_pack("{s:o}", "error", e)};
}

/* 1 if a equals one of b1, b2 (constant time for the token's sake). */
static int console_same(const char *a, const char *b1, const char *b2) {
    if (a == NULL) return 0;
    size_t n = strlen(a);
    int same = 0;
    if (n == strlen(b1)) same |= CRYPTO_memcmp(a, b1, n) == 0;
    if (b2 != NULL && n == strlen(b2)) same |= CRYPTO_memcmp(a, b2, n) == 0;
    return same;
}

/* Who may ask: NULL when the request passes, else the refusal. */
static const char *console_refusal(const console_t *c, struct MHD_Connection *conn, int post, unsigned *http) {
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    const char *site = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
    const char *th = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, CONSOLE_TOKEN_HEADER);
    const char *tq = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token");
    *http = 403;
    if (!console_same(host, c->host, c->host2)) return "HOST_REFUSED: the Host header is not this console";
    if (origin != NULL && !console_same(origin, c->origin, c->origin2))
        return "ORIGIN_REFUSED: a page of another origin may not use this console";
    if (site != NULL && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0)
        return "ORIGIN_REFUSED: a request from another site";
    const char *token = post ? th : th != NULL ? th : tq;
    if (token == NULL) {
        *http = 401;
        return post ? "TOKEN_MISSING: a POST carries the token in the X-Console-Token header"
                    : "TOKEN_MISSING: open the URL gwctl console printed (it carries the token)";
    }
    if (!console_same(token, c->token, NULL)) return "TOKEN_WRONG: not this run's token";
    if (post) {
        const char *type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
        if (type == NULL || strncmp(type, "application/json", 16) != 0) {
            *http = 415;
            return "BAD_CONTENT_TYPE: a POST body is application/json";
        }
    }
    return NULL;
}

/* Queues a refusal "STATUS: message" as JSON. */
static enum MHD_Result console_refuse(struct MHD_Connection *conn, unsigned http, const char *refusal) {
    const char *colon = strchr(refusal, ':');
    char status[48];
    snprintf(status, sizeof status, "%.*s", colon ? (int)(colon - refusal) : 0, refusal);
    return console_send_json(conn, console_error(http, status, "", colon ? colon + 2 : refusal));
}

/* The embedded file at url ("/" is /index.html), the token written into
 * index.html for its script and style links. */
static enum MHD_Result console_static(const console_t *c, struct MHD_Connection *conn, const char *url) {
    if (strcmp(url, "/") == 0) url = "/index.html";
    for (size_t i = 0; i < console_assets_n; i++) {
        const console_asset_t *a = &console_assets[i];
        if (strcmp(a->path, url) != 0) continue;
        if (strcmp(a->path, "/index.html") != 0) return console_send(conn, 200, a->content_type, a->data, a->len);
        char *page = malloc(a->len + 1), *out = malloc(a->len + 16 * sizeof c->token + 1);
        if (page == NULL || out == NULL) abort();
        memcpy(page, a->data, a->len);
        page[a->len] = '\0';
        size_t o = 0, ph = strlen(CONSOLE_TOKEN_PLACEHOLDER);
        for (char *p = page, *hit; *p != '\0'; p = hit + ph) {
            hit = strstr(p, CONSOLE_TOKEN_PLACEHOLDER);
            size_t keep = hit ? (size_t)(hit - p) : strlen(p);
            memcpy(out + o, p, keep);
            o += keep;
            if (hit == NULL) break;
            CARBON_ASSERT(o + strlen(c->token) <= a->len + 15 * sizeof c->token);
            memcpy(out + o, c->token, strlen(c->token));
            o += strlen(c->token);
        }
        enum MHD_Result ok = console_send(conn, 200, a->content_type, out, o);
        free(page);
        free(out);
        return ok;
    }
    return console_send_json(conn, console_error(404, "NOT_FOUND", "", "no such page"));
}

static const char *console_query(void *cls, const char *name) {
    return MHD_lookup_connection_value((struct MHD_Connection *)cls, MHD_GET_ARGUMENT_KIND, name);
}

/* A complete POST: its body parsed and answered. */
static enum MHD_Result console_post(console_t *c, struct MHD_Connection *conn, const char *url,
                                    const console_req_t *req) {
    if (req->too_big)
        return console_send_json(conn, console_error(413, "BODY_TOO_LARGE", "", "the body is over 8 KiB"));
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->len, JSON_REJECT_DUPLICATES, &jerr);
    if (body == NULL || !json_is_object(body)) {
        json_decref(body);
        return console_send_json(conn, console_error(400, "BAD_JSON", "", "the body is not a JSON object"));
    }
    console_reply_t reply = console_api_post(c, url, body);
    json_decref(body);
    return console_send_json(conn, reply);
}

static enum MHD_Result console_on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                          const char *method, const char *version, const char *upload,
                                          size_t *upload_size, void **state) {
    (void)version;
    console_t *c = cls;
    int post = strcmp(method, "POST") == 0;
    if (*state == NULL) { /* the headers are in: check them before any body is read */
        if (!post && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
            return console_send_json(conn, console_error(405, "METHOD_NOT_ALLOWED", "", "GET or POST only"));
        unsigned http;
        const char *refusal = console_refusal(c, conn, post, &http);
        if (refusal != NULL) return console_refuse(conn, http, refusal);
        console_req_t *req = calloc(1, sizeof *req);
        if (req == NULL) abort();
        *state = req;
        if (post) return MHD_YES;
    }
    console_req_t *req = *state;
    if (post && *upload_size > 0) {
        if (req->len + *upload_size > CONSOLE_BODY_BYTES_MAX) {
            req->too_big = 1;
        } else {
            memcpy(req->body + req->len, upload, *upload_size);
            req->len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (post) return console_post(c, conn, url, req);
    if (strncmp(url, "/api/", 5) == 0)
        return console_send_json(conn, console_api_get(c, url, console_query, conn));
    return console_static(c, conn, url);
}

static void console_on_completed(void *cls, struct MHD_Connection *conn, void **state,
                                 enum MHD_RequestTerminationCode code) {
    (void)cls, (void)conn, (void)code;
    free(*state);
    *state = NULL;
}

static void console_mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    fprintf(stderr, "gwctl console: http: ");
    vfprintf(stderr, fmt, ap);
}

struct MHD_Daemon *console_http_start(console_t *c, int fd) {
    CARBON_ASSERT(c != NULL && fd >= 0);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, console_on_request, c,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)CONSOLE_THREADS,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONSOLE_CONNECTIONS_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)CONSOLE_CONNECTION_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
        MHD_OPTION_NOTIFY_COMPLETED, console_on_completed, NULL, MHD_OPTION_EXTERNAL_LOGGER,
        console_mhd_log, NULL, MHD_OPTION_END);
    if (d == NULL) fprintf(stderr, "gwctl console: libmicrohttpd did not start\n");
    return d;
}
