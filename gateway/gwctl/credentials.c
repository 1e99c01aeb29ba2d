/* credentials.c - gwctl checks its own certificate, key and CA before it
 * dials, and tells "nothing listens" from "the handshake was refused" after a
 * call fails (gwctl.h). */
#include "gateway/gwctl/gwctl.h"
#include "common/carbon_assert.h"

#include "gateway/rpc/tls_client.h"

#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <errno.h>

#define GWCTL_CHAIN_CERTS_MAX 16 /* certificates read from one PEM file */

/* Every certificate of a PEM text (at most GWCTL_CHAIN_CERTS_MAX), or NULL
 * with "PATH: reason" when there is none. */
static STACK_OF(X509) *gwctl_read_certs(const char *path, char *err, size_t errlen) {
    CARBON_ASSERT(path != NULL && err != NULL);
    char *pem = tls_read_file(path, err, errlen);
    if (pem == NULL) return NULL;
    STACK_OF(X509) *certs = tls_parse_bundle(path, pem, GWCTL_CHAIN_CERTS_MAX, err, errlen);
    free(pem);
    return certs;
}

/* The private key of a PEM file, or NULL with "PATH: reason". Its text is
 * wiped before it is freed. */
static EVP_PKEY *gwctl_read_key(const char *path, char *err, size_t errlen) {
    char *pem = tls_read_file(path, err, errlen);
    if (pem == NULL) return NULL;
    BIO *bio = BIO_new_mem_buf(pem, -1);
    if (bio == NULL) abort();
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    OPENSSL_cleanse(pem, strlen(pem));
    free(pem);
    ERR_clear_error();
    if (key == NULL) snprintf(err, errlen, "%s: not a PEM private key (or one with a passphrase)", path);
    return key;
}

/* "2026-11-30 10:00:00 UTC" style text of an ASN.1 time. */
static void gwctl_time_text(const ASN1_TIME *t, char *buf, size_t len) {
    struct tm tm;
    if (ASN1_TIME_to_tm(t, &tm) != 1) {
        snprintf(buf, len, "an unreadable date");
        return;
    }
    strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* 0 if leaf is valid now, else -1 with the reason. */
static int gwctl_check_dates(const char *path, X509 *leaf, char *err, size_t errlen) {
    char when[64];
    if (X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0) {
        gwctl_time_text(X509_get0_notAfter(leaf), when, sizeof when);
        snprintf(err, errlen, "%s: the certificate expired on %s; ask your CA for a new one", path,
                 when);
        return -1;
    }
    if (X509_cmp_current_time(X509_get0_notBefore(leaf)) >= 0) {
        gwctl_time_text(X509_get0_notBefore(leaf), when, sizeof when);
        snprintf(err, errlen, "%s: the certificate is not valid before %s (check this machine's clock)",
                 path, when);
        return -1;
    }
    return 0;
}

/* 0 if leaf (with the rest of its file as intermediates) chains to a
 * certificate of cas, else -1 with OpenSSL's reason. */
static int gwctl_check_chain(const char *cert_path, const char *ca_path, STACK_OF(X509) *certs,
                             STACK_OF(X509) *cas, char *err, size_t errlen) {
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (store == NULL || ctx == NULL) abort();
    for (int i = 0; i < sk_X509_num(cas); i++) X509_STORE_add_cert(store, sk_X509_value(cas, i));
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    if (untrusted == NULL) abort();
    for (int i = 1; i < sk_X509_num(certs); i++) sk_X509_push(untrusted, sk_X509_value(certs, i));
    int ok = X509_STORE_CTX_init(ctx, store, sk_X509_value(certs, 0), untrusted) == 1 &&
             X509_verify_cert(ctx) == 1;
    if (!ok)
        snprintf(err, errlen, "%s: the certificate does not verify against the CA %s (%s): "
                              "it was issued by another CA, or --ca is the wrong file",
                 cert_path, ca_path, X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    sk_X509_free(untrusted);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    ERR_clear_error();
    return ok ? 0 : -1;
}

int gwctl_check_credentials(const char *cert_path, const char *key_path, const char *ca_path,
                            char *err, size_t errlen) {
    CARBON_ASSERT(cert_path != NULL && key_path != NULL && ca_path != NULL && err != NULL);
    err[0] = '\0';
    STACK_OF(X509) *cas = gwctl_read_certs(ca_path, err, errlen);
    if (cas == NULL) return -1;
    STACK_OF(X509) *certs = gwctl_read_certs(cert_path, err, errlen);
    EVP_PKEY *key = certs != NULL ? gwctl_read_key(key_path, err, errlen) : NULL;
    int rc = -1;
    if (key != NULL) {
        X509 *leaf = sk_X509_value(certs, 0);
        if (X509_check_private_key(leaf, key) != 1)
            snprintf(err, errlen, "%s: this private key does not belong to the certificate %s "
                                  "(give the key made with that certificate)", key_path, cert_path);
        else if (gwctl_check_dates(cert_path, leaf, err, errlen) == 0 &&
                 gwctl_check_chain(cert_path, ca_path, certs, cas, err, errlen) == 0)
            rc = 0;
    }
    ERR_clear_error();
    EVP_PKEY_free(key);
    if (certs != NULL) sk_X509_pop_free(certs, X509_free);
    sk_X509_pop_free(cas, X509_free);
    return rc;
}

/* Splits "HOST:PORT" (or "[V6]:PORT", or a "dns:"/"ipv4:"/"ipv6:" prefixed
 * target) into host and port. 0 or -1. */
static int gwctl_split_target(const char *target, char *host, size_t hostlen, char *port,
                              size_t portlen) {
    const char *t = target;
    static const char *const schemes[] = {"dns:///", "dns:", "ipv4:", "ipv6:"};
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (strncmp(t, schemes[i], strlen(schemes[i])) == 0) {
            t += strlen(schemes[i]);
            break;
        }
    const char *colon = strrchr(t, ':');
    if (colon == NULL || colon == t || strlen(colon + 1) == 0 || strlen(colon + 1) >= portlen)
        return -1;
    size_t hl = (size_t)(colon - t);
    if (t[0] == '[' && hl >= 2 && t[hl - 1] == ']') {
        t++;
        hl -= 2;
    }
    if (hl == 0 || hl >= hostlen) return -1;
    memcpy(host, t, hl);
    host[hl] = '\0';
    snprintf(port, portlen, "%s", colon + 1);
    return 0;
}

/* 1 if a TCP connection to addr completes within timeout_ms, else 0. */
static int gwctl_tcp_connects(const struct addrinfo *ai, int timeout_ms) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) return 0;
    int ok = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        ok = 1;
    } else if (errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (poll(&p, 1, timeout_ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
            soerr == 0)
            ok = 1;
    }
    close(fd);
    return ok;
}

int gwctl_target_listens(const char *target, int timeout_ms) {
    CARBON_ASSERT(target != NULL && timeout_ms > 0);
    char host[256], port[16];
    if (gwctl_split_target(target, host, sizeof host, port, sizeof port) != 0) return -1;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0) return -1;
    int listens = 0;
    for (const struct addrinfo *ai = res; ai != NULL && !listens; ai = ai->ai_next)
        listens = gwctl_tcp_connects(ai, timeout_ms);
    freeaddrinfo(res);
    return listens;
}
