/* tls_client.c - files, PEM checks and client credentials for mutual TLS
 * (tls_client.h): what gatewayd's peer channels and gwctl share. */
#include "gateway/rpc/tls_client.h"
#include "common/carbon_assert.h"

#include <errno.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *tls_read_file(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(TLS_PEM_BYTES_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    size_t n = fread(buf, 1, TLS_PEM_BYTES_MAX + 1, f);
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        snprintf(err, errlen, "%s: read error", path);
        return NULL;
    }
    if (n > TLS_PEM_BYTES_MAX) {
        free(buf);
        snprintf(err, errlen, "%s: larger than %u bytes", path, TLS_PEM_BYTES_MAX);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

void tls_free_secret(char *s) {
    if (s == NULL) return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}

X509 *tls_parse_cert(const char *path, const char *pem, char *err, size_t errlen) {
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *cert = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (cert == NULL) snprintf(err, errlen, "%s: not a PEM certificate", path);
    ERR_clear_error();
    return cert;
}

int tls_check_pair(const char *cert_path, const char *cert_pem, const char *key_path,
                   const char *key_pem, char *err, size_t errlen) {
    X509 *cert = tls_parse_cert(cert_path, cert_pem, err, errlen);
    if (cert == NULL) return 0;
    int ok = 1;
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
        snprintf(err, errlen, "%s: certificate has expired", cert_path);
        ok = 0;
    }
    if (ok && key_pem != NULL) {
        BIO *bio = BIO_new_mem_buf(key_pem, -1);
        EVP_PKEY *key = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        if (key == NULL) {
            snprintf(err, errlen, "%s: not a PEM private key", key_path);
            ok = 0;
        } else if (X509_check_private_key(cert, key) != 1) {
            snprintf(err, errlen, "%s: private key does not match certificate %s", key_path,
                     cert_path);
            ok = 0;
        }
        EVP_PKEY_free(key);
    }
    X509_free(cert);
    ERR_clear_error();
    return ok;
}

grpc_channel_credentials *tls_channel_credentials(const char *cert_path, const char *key_path,
                                                  const char *ca_path, char *err, size_t errlen) {
    CARBON_ASSERT(ca_path != NULL);
    CARBON_ASSERT((cert_path == NULL) == (key_path == NULL));
    char *ca = tls_read_file(ca_path, err, errlen);
    if (ca == NULL) return NULL;
    X509 *ca_cert = tls_parse_cert(ca_path, ca, err, errlen);
    if (ca_cert == NULL) {
        free(ca);
        return NULL;
    }
    X509_free(ca_cert);
    grpc_channel_credentials *creds = NULL;
    if (cert_path == NULL) {
        creds = grpc_ssl_credentials_create(ca, NULL, NULL, NULL);
    } else {
        char *cert = tls_read_file(cert_path, err, errlen);
        char *key = cert != NULL ? tls_read_file(key_path, err, errlen) : NULL;
        /* An expired client certificate is still sent: the tests need to show
         * that the server refuses it, so only the key match is checked here. */
        if (key != NULL) {
            X509 *c = tls_parse_cert(cert_path, cert, err, errlen);
            if (c != NULL) {
                X509_free(c);
                grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
                creds = grpc_ssl_credentials_create(ca, &pair, NULL, NULL);
            }
        }
        free(cert);
        tls_free_secret(key);
    }
    free(ca);
    if (creds == NULL && err[0] == '\0') snprintf(err, errlen, "%s: gRPC refused the credentials", ca_path);
    return creds;
}

STACK_OF(X509) *tls_parse_bundle(const char *path, const char *text, size_t certs_max, char *err,
                                 size_t errlen) {
    CARBON_ASSERT(path != NULL && text != NULL && err != NULL && errlen > 0);
    CARBON_ASSERT(certs_max >= 1 && certs_max <= TLS_BUNDLE_CERTS_MAX);
    STACK_OF(X509) *certs = sk_X509_new_null();
    BIO *bio = BIO_new_mem_buf(text, -1);
    if (certs == NULL || bio == NULL) abort();
    X509 *c;
    while ((size_t)sk_X509_num(certs) < certs_max && (c = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
        if (!sk_X509_push(certs, c)) abort();
    BIO_free(bio);
    ERR_clear_error();
    if (sk_X509_num(certs) == 0) {
        snprintf(err, errlen, "%s: not a PEM certificate", path);
        sk_X509_free(certs);
        return NULL;
    }
    return certs;
}
