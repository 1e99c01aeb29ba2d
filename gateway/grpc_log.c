/* grpc_log.c - gRPC's log messages as JSON lines (grpc_log.h). */
#include "gateway/grpc_log.h"

#include "gateway/log.h"

#include <grpc/support/log.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

/* gRPC 1.51 (src/core/tsi/ssl_transport_security.cc) says, for every TLS
 * handshake it fails: "Handshake failed with fatal error SSL_ERROR_...: ...". */
static const char grpc_log_tsi_file[] = "ssl_transport_security.cc";
static const char grpc_log_refused_prefix[] = "Handshake failed with fatal error";
/* ... and just before it, in the same thread, when it was the certificate
 * verification that failed: "Certificate verify failed with code N" (N an
 * X509_V_ERR_* code). Kept here and told with the refusal. */
static const char grpc_log_verify_prefix[] = "Certificate verify failed with code ";
static _Thread_local int grpc_log_verify_code = -1;

static const char *grpc_log_basename(const char *file) {
    if (file == NULL) return "";
    const char *slash = strrchr(file, '/');
    return slash != NULL ? slash + 1 : file;
}

/* Copies message into text (GRPC_LOG_MESSAGE_MAX + 1 bytes): cut, not
 * dropped, as a gRPC message has no bound of its own; bytes outside printable
 * ASCII become '?', so that the JSON encoder never refuses the line. */
static void grpc_log_text(const char *message, char *text) {
    size_t n = 0;
    for (; message != NULL && message[n] != '\0' && n < GRPC_LOG_MESSAGE_MAX; n++) {
        unsigned char c = (unsigned char)message[n];
        text[n] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    text[n] = '\0';
}

void grpc_log_one(const char *file, int line, int severity, const char *message) {
    char text[GRPC_LOG_MESSAGE_MAX + 1];
    grpc_log_text(message, text);
    const char *base = grpc_log_basename(file);
    log_level_t level = severity == GPR_LOG_SEVERITY_ERROR  ? LOG_LEVEL_ERROR
                        : severity == GPR_LOG_SEVERITY_INFO ? LOG_LEVEL_INFO
                                                            : LOG_LEVEL_DEBUG;
    if (strcmp(base, grpc_log_tsi_file) == 0 &&
        strncmp(text, grpc_log_verify_prefix, sizeof grpc_log_verify_prefix - 1) == 0) {
        int code = atoi(text + sizeof grpc_log_verify_prefix - 1);
        grpc_log_verify_code = code > 0 && code < 1000 ? code : -1;
        level = LOG_LEVEL_DEBUG; /* told with the refusal that follows */
    } else if (strcmp(base, grpc_log_tsi_file) == 0 &&
               strncmp(text, grpc_log_refused_prefix, sizeof grpc_log_refused_prefix - 1) == 0) {
        if (grpc_log_verify_code > 0)
            log_warn("tls_handshake_refused", "{s:s, s:s}", "reason", text, "verify_error",
                     X509_verify_cert_error_string(grpc_log_verify_code));
        else
            log_warn("tls_handshake_refused", "{s:s}", "reason", text);
        grpc_log_verify_code = -1;
        return;
    }
    log_event(level, "grpc", "{s:s, s:i, s:s}", "grpc_file", base, "grpc_line", line, "message",
              text);
}

static void grpc_log_function(gpr_log_func_args *args) {
    grpc_log_one(args->file, args->line, (int)args->severity, args->message);
}

void grpc_log_route(void) { gpr_set_log_function(grpc_log_function); }
