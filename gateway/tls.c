/* tls.c - mutual-TLS credentials (see tls.h). */
#include "gateway/tls.h"
#include "common/carbon_assert.h"

#include "gateway/rpc/tls_client.h"

#include "gateway/config.h"
#include "gateway/identity.h"
#include "gateway/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grpc/support/string_util.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ==== reloadable server credentials (tls.h) =================================== */

/* One CRL and the CA (from the CA file) whose key verified it. */
typedef struct {
    X509_CRL *crl;
    X509 *ca;
} tls_crl_t;

typedef struct {
    tls_crl_t *v;
    size_t n;
    size_t files;   /* files read */
    size_t revoked; /* entries in the CRLs kept */
} tls_crl_set_t;

/* Shared by the tls_server and gRPC's verifier; freed with the last ref. */
typedef struct {
    pthread_rwlock_t lock; /* guards set: read by handshakes, swapped by reload */
    tls_crl_set_t *set;
    atomic_int refs;
} tls_revocation_t;

/* What grpc_tls_certificate_verifier_external_create points at. On the
 * server it checks revocation; towards a peer (peer_region set) also the host
 * name, with gRPC's own verifier, and that the peer is that region's gateway. */
typedef struct {
    grpc_tls_certificate_verifier_external ext; /* user_data = this struct */
    tls_revocation_t *rev;
    grpc_tls_certificate_verifier *host_name; /* NULL on the server side */
    char peer_region[CONFIG_REGION_SIZE];
    char trust_domain[CONFIG_TRUST_DOMAIN_MAX];
} tls_verifier_t;

struct tls_server {
    char *cert_path, *key_path, *ca_path, *crl_dir;
    int id_fd, ca_fd; /* memfds gRPC's file watcher reads via /proc/self/fd/N */
    unsigned char id_digest[SHA256_DIGEST_LENGTH], ca_digest[SHA256_DIGEST_LENGTH];
    tls_revocation_t *rev;
    grpc_server_credentials *creds;
    /* gRPC's file watcher over the two published files (one thread re-reading
     * them every TLS_REFRESH_INTERVAL_S), shared by the server's credentials
     * and every peer channel's */
    grpc_tls_certificate_provider *provider;
};

static void tls_crl_set_free(tls_crl_set_t *s) {
    if (s == NULL) return;
    for (size_t i = 0; i < s->n; i++) {
        X509_CRL_free(s->v[i].crl);
        X509_free(s->v[i].ca);
    }
    free(s->v);
    free(s);
}

static void tls_revocation_unref(tls_revocation_t *r) {
    if (r == NULL || atomic_fetch_sub(&r->refs, 1) != 1) return;
    tls_crl_set_free(r->set);
    pthread_rwlock_destroy(&r->lock);
    free(r);
}

static const char *tls_name(const X509_NAME *name, char *buf, size_t len) {
    if (X509_NAME_oneline(name, buf, (int)len) == NULL) snprintf(buf, len, "?");
    return buf;
}

/* 1 if a is newer than b (lastUpdate, then CRL number). */
static int tls_crl_newer(const X509_CRL *a, const X509_CRL *b) {
    int c = ASN1_TIME_compare(X509_CRL_get0_lastUpdate(a), X509_CRL_get0_lastUpdate(b));
    if (c != 0) return c > 0;
    ASN1_INTEGER *na = X509_CRL_get_ext_d2i(a, NID_crl_number, NULL, NULL);
    ASN1_INTEGER *nb = X509_CRL_get_ext_d2i(b, NID_crl_number, NULL, NULL);
    int newer = na != NULL && (nb == NULL || ASN1_INTEGER_cmp(na, nb) > 0);
    ASN1_INTEGER_free(na);
    ASN1_INTEGER_free(nb);
    return newer;
}

/* Adds crl (taken) to set, verified against one of cas; keeps the newest CRL
 * per CA. 0, or -1 with a reason (crl freed). */
static int tls_crl_add(tls_crl_set_t *set, X509_CRL *crl, STACK_OF(X509) *cas, const char *path,
                       char *err, size_t errlen) {
    X509 *ca = NULL;
    for (int i = 0; i < sk_X509_num(cas) && ca == NULL; i++) {
        X509 *c = sk_X509_value(cas, i);
        if (X509_NAME_cmp(X509_get_subject_name(c), X509_CRL_get_issuer(crl)) == 0 &&
            X509_CRL_verify(crl, X509_get0_pubkey(c)) == 1)
            ca = c;
    }
    ERR_clear_error();
    char name[256];
    if (ca == NULL) {
        snprintf(err, errlen, "%s: CRL of %s is not signed by a CA of the CA file", path,
                 tls_name(X509_CRL_get_issuer(crl), name, sizeof name));
        X509_CRL_free(crl);
        return -1;
    }
    const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
    if (next != NULL && X509_cmp_current_time(next) < 0)
        log_warn("crl_expired", "{s:s, s:s}", "file", path, "issuer",
                 tls_name(X509_CRL_get_issuer(crl), name, sizeof name));
    for (size_t i = 0; i < set->n; i++) {
        if (X509_cmp(set->v[i].ca, ca) != 0) continue;
        if (tls_crl_newer(crl, set->v[i].crl)) {
            X509_CRL_free(set->v[i].crl);
            set->v[i].crl = crl;
        } else {
            X509_CRL_free(crl);
        }
        return 0;
    }
    tls_crl_t *v = realloc(set->v, (set->n + 1) * sizeof *v);
    if (v == NULL) abort();
    set->v = v;
    X509_up_ref(ca);
    set->v[set->n++] = (tls_crl_t){.crl = crl, .ca = ca};
    return 0;
}

/* Reads one CRL file (PEM, one or more CRLs, or one DER CRL) into set. */
static int tls_crl_file(tls_crl_set_t *set, const char *path, STACK_OF(X509) *cas, char *err,
                        size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    BIO *bio = BIO_new_fp(f, BIO_CLOSE);
    if (bio == NULL) abort();
    /* Bound the size: a CRL directory is not the place for large files. */
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size > (off_t)TLS_CRL_BYTES_MAX) {
        snprintf(err, errlen, "%s: larger than %u bytes", path, TLS_CRL_BYTES_MAX);
        BIO_free(bio);
        return -1;
    }
    int n = 0, rc = 0;
    X509_CRL *crl;
    while (rc == 0 && (crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL) {
        n++;
        rc = tls_crl_add(set, crl, cas, path, err, errlen);
    }
    if (rc == 0 && n == 0) { /* not PEM: one DER CRL? */
        ERR_clear_error();
        (void)BIO_reset(bio);
        crl = d2i_X509_CRL_bio(bio, NULL);
        if (crl == NULL) {
            snprintf(err, errlen, "%s: not a CRL (PEM or DER)", path);
            rc = -1;
        } else {
            rc = tls_crl_add(set, crl, cas, path, err, errlen);
        }
    }
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

/* Files of a CRL directory: HASH.rN (openssl rehash), *.crl, *.pem; never
 * dot files (a writer's temporary files). */
static int tls_crl_name(const char *name) {
    if (name[0] == '.') return 0;
    size_t len = strlen(name);
    if (len > 4 && (strcmp(name + len - 4, ".crl") == 0 || strcmp(name + len - 4, ".pem") == 0))
        return 1;
    const char *dot = strrchr(name, '.');
    if (dot == NULL || dot[1] != 'r' || dot[2] == '\0') return 0;
    for (const char *p = dot + 2; *p; p++)
        if (*p < '0' || *p > '9') return 0;
    return 1;
}

static int tls_strcmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads every CRL file of dir, each verified against cas. NULL with the
 * reason (naming the file) if any file fails: all or nothing. */
static tls_crl_set_t *tls_crl_set_load(const char *dir, STACK_OF(X509) *cas, char *err,
                                       size_t errlen) {
    DIR *d = opendir(dir);
    if (d == NULL) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return NULL;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!tls_crl_name(e->d_name)) continue;
        char **nn = realloc(names, (n + 1) * sizeof *nn);
        if (nn == NULL) abort();
        names = nn;
        if ((names[n++] = strdup(e->d_name)) == NULL) abort();
    }
    closedir(d);
    if (n > 1) qsort(names, n, sizeof *names, tls_strcmp);
    tls_crl_set_t *set = calloc(1, sizeof *set);
    if (set == NULL) abort();
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (rc == 0) {
            rc = tls_crl_file(set, path, cas, err, errlen);
            set->files++;
        }
        free(names[i]);
    }
    free(names);
    if (rc != 0) {
        tls_crl_set_free(set);
        return NULL;
    }
    for (size_t i = 0; i < set->n; i++)
        set->revoked += (size_t)sk_X509_REVOKED_num(X509_CRL_get_REVOKED(set->v[i].crl));
    return set;
}

/* Checks cert against the CRL of its issuer: NULL if not revoked, else a
 * static reason. */
static const char *tls_crl_check(const tls_crl_set_t *set, X509 *cert) {
    for (size_t i = 0; set != NULL && i < set->n; i++) {
        if (X509_check_issued(set->v[i].ca, cert) != X509_V_OK) continue;
        const ASN1_TIME *next = X509_CRL_get0_nextUpdate(set->v[i].crl);
        if (next != NULL && X509_cmp_current_time(next) < 0) return "CRL of its issuer has expired";
        X509_REVOKED *entry = NULL;
        int r = X509_CRL_get0_by_cert(set->v[i].crl, &entry, cert);
        if (r == 1) return "certificate revoked";
        return NULL; /* one CRL per CA: checked */
    }
    return NULL;
}

static void tls_log_refusal(const grpc_tls_custom_verification_check_request *req, X509 *cert,
                            const char *reason) {
    char serial[128] = "?", issuer[256];
    ASN1_INTEGER *sn = X509_get_serialNumber(cert);
    BIGNUM *bn = sn != NULL ? ASN1_INTEGER_to_BN(sn, NULL) : NULL;
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
    if (hex != NULL) snprintf(serial, sizeof serial, "%s", hex);
    OPENSSL_free(hex);
    BN_free(bn);
    const char *who = req->peer_info.san_names.uri_names_size > 0
                          ? req->peer_info.san_names.uri_names[0]
                          : (req->peer_info.common_name != NULL ? req->peer_info.common_name : "");
    log_warn("peer_revoked", "{s:s, s:s, s:s, s:s}", "peer", who, "reason", reason, "serial",
             serial, "issuer", tls_name(X509_get_issuer_name(cert), issuer, sizeof issuer));
}

/* Towards a peer: the certificate names the address it was reached at (gRPC's
 * host-name verifier, which a custom verifier replaces unless it calls it)
 * and carries exactly one SPIFFE ID, that of the gateway of the region the
 * channel is for. Sets *status and *details on refusal. */
static void tls_verify_peer(const tls_verifier_t *v,
                            grpc_tls_custom_verification_check_request *req,
                            grpc_status_code *status, char **details) {
    if (!grpc_tls_certificate_verifier_verify(v->host_name, req, NULL, NULL, status, details)) {
        /* gRPC's host-name verifier is synchronous; anything else is refused */
        *status = GRPC_STATUS_UNAUTHENTICATED;
        *details = gpr_strdup("the host-name check did not complete");
    }
    if (*status != GRPC_STATUS_OK) return;
    char why[256] = "";
    identity_t id;
    if (req->peer_info.san_names.uri_names_size != 1) {
        snprintf(why, sizeof why, "%zu URI names, not one SPIFFE ID",
                 req->peer_info.san_names.uri_names_size);
    } else if (identity_parse(req->peer_info.san_names.uri_names[0], v->trust_domain, &id, why,
                              sizeof why) == 0 &&
               (id.role != ROLE_GATEWAY || strcmp(id.region, v->peer_region) != 0)) {
        snprintf(why, sizeof why, "%.200s is not the gateway of %s", id.spiffe_id, v->peer_region);
    }
    if (why[0] == '\0') return;
    log_warn("peer_identity_refused", "{s:s, s:s, s:s}", "expected", v->peer_region, "peer",
             req->peer_info.san_names.uri_names_size > 0 ? req->peer_info.san_names.uri_names[0]
                                                          : "",
             "reason", why);
    *status = GRPC_STATUS_UNAUTHENTICATED;
    *details = gpr_strdup(why);
}

/* gRPC's external verifier: runs on gRPC's threads after gRPC verified the
 * chain. Synchronous. */
static int tls_verify(void *user_data, grpc_tls_custom_verification_check_request *req,
                      grpc_tls_on_custom_verification_check_done_cb cb, void *cb_arg,
                      grpc_status_code *status, char **details) {
    (void)cb;
    (void)cb_arg;
    tls_verifier_t *v = user_data;
    *status = GRPC_STATUS_OK;
    /* The leaf, then whatever chain the peer sent (it may repeat the leaf). */
    const char *pems[2] = {req->peer_info.peer_cert, req->peer_info.peer_cert_full_chain};
    if (pems[0] == NULL || pems[0][0] == '\0') {
        *status = GRPC_STATUS_UNAUTHENTICATED;
        *details = gpr_strdup("no peer certificate");
        return 1;
    }
    pthread_rwlock_rdlock(&v->rev->lock);
    for (int k = 0; k < 2 && *status == GRPC_STATUS_OK; k++) {
        if (pems[k] == NULL) continue;
        BIO *bio = BIO_new_mem_buf(pems[k], -1);
        if (bio == NULL) abort();
        X509 *cert;
        int n = 0;
        while (*status == GRPC_STATUS_OK &&
               (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
            n++;
            const char *reason = tls_crl_check(v->rev->set, cert);
            if (reason != NULL) {
                tls_log_refusal(req, cert, reason);
                *status = GRPC_STATUS_UNAUTHENTICATED;
                *details = gpr_strdup(reason);
            }
            X509_free(cert);
        }
        BIO_free(bio);
        if (k == 0 && n == 0) {
            *status = GRPC_STATUS_UNAUTHENTICATED;
            *details = gpr_strdup("peer certificate does not parse");
        }
    }
    pthread_rwlock_unlock(&v->rev->lock);
    ERR_clear_error();
    if (*status == GRPC_STATUS_OK && v->host_name != NULL) tls_verify_peer(v, req, status, details);
    return 1;
}

static void tls_verify_cancel(void *user_data, grpc_tls_custom_verification_check_request *req) {
    (void)user_data; /* synchronous: nothing to cancel */
    (void)req;
}

static void tls_verify_destruct(void *user_data) {
    tls_verifier_t *v = user_data;
    tls_revocation_unref(v->rev);
    if (v->host_name != NULL) grpc_tls_certificate_verifier_release(v->host_name);
    free(v);
}

/* Publishes a (and b, if not NULL) in a new sealed memfd that replaces *fd
 * (atomically for a reader opening /proc/self/fd/N). 0 or -1. */
static int tls_publish(int *fd, const char *a, const char *b, char *err, size_t errlen) {
    int nfd = memfd_create("gatewayd-tls", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (nfd < 0) {
        snprintf(err, errlen, "memfd_create: %s", strerror(errno));
        return -1;
    }
    const char *parts[3] = {a, b != NULL ? "\n" : NULL, b};
    for (int i = 0; i < 3; i++) {
        if (parts[i] == NULL) continue;
        size_t len = strlen(parts[i]), off = 0;
        while (off < len) {
            ssize_t w = write(nfd, parts[i] + off, len - off);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                snprintf(err, errlen, "memfd write: %s", strerror(errno));
                close(nfd);
                return -1;
            }
            off += (size_t)w;
        }
    }
    (void)fcntl(nfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
    if (*fd < 0) {
        *fd = nfd;
        return 0;
    }
    int rc = dup3(nfd, *fd, O_CLOEXEC);
    close(nfd);
    if (rc < 0) {
        snprintf(err, errlen, "dup3: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void tls_digest(const char *a, const char *b, unsigned char out[SHA256_DIGEST_LENGTH]) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int len = 0;
    if (ctx == NULL || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(ctx, a, strlen(a)) || (b != NULL && !EVP_DigestUpdate(ctx, b, strlen(b))) ||
        !EVP_DigestFinal_ex(ctx, out, &len))
        abort();
    EVP_MD_CTX_free(ctx);
}

/* Reads and checks cert+key: on success publishes them in t->id_fd unless
 * unchanged; *changed says which. 0 or -1 (nothing published). */
static int tls_load_identity(tls_server_t *t, int *changed, char *err, size_t errlen) {
    char *cert = tls_read_file(t->cert_path, err, errlen);
    char *key = cert != NULL ? tls_read_file(t->key_path, err, errlen) : NULL;
    int rc = -1;
    *changed = 0;
    if (key != NULL && tls_check_pair(t->cert_path, cert, t->key_path, key, err, errlen)) {
        unsigned char d[SHA256_DIGEST_LENGTH];
        tls_digest(key, cert, d);
        if (t->id_fd >= 0 && memcmp(d, t->id_digest, sizeof d) == 0) {
            rc = 0;
        } else if (tls_publish(&t->id_fd, key, cert, err, errlen) == 0) {
            /* Key and chain in one file, the key first: gRPC reads both from
             * it, and one dup3 replaces them together. */
            memcpy(t->id_digest, d, sizeof d);
            *changed = 1;
            rc = 0;
        }
    }
    free(cert);
    tls_free_secret(key);
    return rc;
}

/* Reads and parses the CA file: *cas on success (caller frees); publishes it
 * in t->ca_fd unless unchanged. 0 or -1. */
static int tls_load_ca(tls_server_t *t, STACK_OF(X509) **cas, int *changed, char *err,
                       size_t errlen) {
    *changed = 0;
    *cas = NULL;
    char *ca = tls_read_file(t->ca_path, err, errlen);
    if (ca == NULL) return -1;
    int rc = -1;
    *cas = tls_parse_bundle(t->ca_path, ca, TLS_BUNDLE_CERTS_MAX, err, errlen);
    if (*cas != NULL) {
        unsigned char d[SHA256_DIGEST_LENGTH];
        tls_digest(ca, NULL, d);
        if (t->ca_fd >= 0 && memcmp(d, t->ca_digest, sizeof d) == 0) {
            rc = 0;
        } else if (tls_publish(&t->ca_fd, ca, NULL, err, errlen) == 0) {
            memcpy(t->ca_digest, d, sizeof d);
            *changed = 1;
            rc = 0;
        }
        if (rc != 0) {
            sk_X509_pop_free(*cas, X509_free);
            *cas = NULL;
        }
    }
    free(ca);
    return rc;
}

/* The CA certificates currently published (the ones the CRLs verify
 * against when the CA file fails to reload). */
static STACK_OF(X509) *tls_published_ca(const tls_server_t *t) {
    char path[64], err[256];
    snprintf(path, sizeof path, "/proc/self/fd/%d", t->ca_fd);
    char *ca = tls_read_file(path, err, sizeof err);
    STACK_OF(X509) *cas = ca != NULL ? tls_parse_bundle(path, ca, TLS_BUNDLE_CERTS_MAX, err, sizeof err) : NULL;
    free(ca);
    return cas;
}

static char *tls_strdup(const char *s) {
    char *d = strdup(s);
    if (d == NULL) abort();
    return d;
}

void tls_server_destroy(tls_server_t *t) {
    if (t == NULL) return;
    /* t and every credential made from it hold the file watcher; gRPC joins
     * its thread when the last reference goes, which is before the files are
     * closed here unless a gRPC object still holds them. */
    if (t->creds != NULL) grpc_server_credentials_release(t->creds);
    if (t->provider != NULL) grpc_tls_certificate_provider_release(t->provider);
    tls_revocation_unref(t->rev);
    if (t->id_fd >= 0) close(t->id_fd);
    if (t->ca_fd >= 0) close(t->ca_fd);
    free(t->cert_path);
    free(t->key_path);
    free(t->ca_path);
    free(t->crl_dir);
    free(t);
}

/* The paths under which gRPC's file watchers read what t publishes: key and
 * certificate chain in one file, the CA bundle in the other (64 bytes each). */
static void tls_published_paths(const tls_server_t *t, char *id_path, char *ca_path) {
    snprintf(id_path, 64, "/proc/self/fd/%d", t->id_fd);
    snprintf(ca_path, 64, "/proc/self/fd/%d", t->ca_fd);
}

/* gRPC's verifier over t's revocation set; towards a peer (peer_region not
 * NULL) also checking host name and identity (tls_verify_peer). */
static grpc_tls_certificate_verifier *tls_verifier_create(const tls_server_t *t,
                                                          const char *trust_domain,
                                                          const char *peer_region) {
    tls_verifier_t *v = calloc(1, sizeof *v);
    if (v == NULL) abort();
    v->ext.user_data = v;
    v->ext.verify = tls_verify;
    v->ext.cancel = tls_verify_cancel;
    v->ext.destruct = tls_verify_destruct;
    v->rev = t->rev;
    atomic_fetch_add(&t->rev->refs, 1);
    if (peer_region != NULL) {
        CARBON_ASSERT(trust_domain != NULL);
        v->host_name = grpc_tls_certificate_verifier_host_name_create();
        snprintf(v->peer_region, sizeof v->peer_region, "%s", peer_region);
        snprintf(v->trust_domain, sizeof v->trust_domain, "%s", trust_domain);
    }
    return grpc_tls_certificate_verifier_external_create(&v->ext);
}

/* New TLS options whose identity (key and certificate chain, read from the
 * same file) and trust bundle come from what t publishes, through t's file
 * watcher. The options hold their own reference to it; the caller passes
 * them to a grpc_tls_*_credentials_create, which takes them. */
static grpc_tls_credentials_options *tls_watching_options(const tls_server_t *t) {
    CARBON_ASSERT(t->provider != NULL);
    grpc_tls_credentials_options *opts = grpc_tls_credentials_options_create();
    grpc_tls_credentials_options_set_certificate_provider(opts, t->provider);
    grpc_tls_credentials_options_watch_root_certs(opts);
    grpc_tls_credentials_options_watch_identity_key_cert_pairs(opts);
    return opts;
}

tls_server_t *tls_server_create(const char *cert_path, const char *key_path, const char *ca_path,
                                const char *crl_dir, char *err, size_t errlen) {
    CARBON_ASSERT(cert_path && key_path && ca_path && crl_dir);
    tls_server_t *t = calloc(1, sizeof *t);
    if (t == NULL) abort();
    t->id_fd = t->ca_fd = -1;
    t->cert_path = tls_strdup(cert_path);
    t->key_path = tls_strdup(key_path);
    t->ca_path = tls_strdup(ca_path);
    t->crl_dir = tls_strdup(crl_dir);
    t->rev = calloc(1, sizeof *t->rev);
    if (t->rev == NULL || pthread_rwlock_init(&t->rev->lock, NULL) != 0) abort();
    atomic_init(&t->rev->refs, 1);

    int changed;
    STACK_OF(X509) *cas = NULL;
    if (tls_load_identity(t, &changed, err, errlen) != 0 ||
        tls_load_ca(t, &cas, &changed, err, errlen) != 0) {
        tls_server_destroy(t);
        return NULL;
    }
    t->rev->set = tls_crl_set_load(crl_dir, cas, err, errlen);
    sk_X509_pop_free(cas, X509_free);
    if (t->rev->set == NULL) {
        tls_server_destroy(t);
        return NULL;
    }
    char id_path[64], ca_file[64];
    tls_published_paths(t, id_path, ca_file);
    if (access(id_path, R_OK) != 0 || access(ca_file, R_OK) != 0) {
        snprintf(err, errlen, "%s: %s (gatewayd needs /proc to publish its certificates to gRPC)",
                 id_path, strerror(errno));
        tls_server_destroy(t);
        return NULL;
    }
    t->provider = grpc_tls_certificate_provider_file_watcher_create(id_path, id_path, ca_file,
                                                                    TLS_REFRESH_INTERVAL_S);

    grpc_tls_certificate_verifier *verifier = tls_verifier_create(t, NULL, NULL);

    grpc_tls_credentials_options *opts = tls_watching_options(t);
    grpc_tls_credentials_options_set_cert_request_type(
        opts, GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    grpc_tls_credentials_options_set_crl_directory(opts, crl_dir);
    grpc_tls_credentials_options_set_certificate_verifier(opts, verifier);
    t->creds = grpc_tls_server_credentials_create(opts);
    grpc_tls_certificate_verifier_release(verifier);
    if (t->creds == NULL) {
        snprintf(err, errlen, "%s: gRPC refused the TLS options", cert_path);
        tls_server_destroy(t);
        return NULL;
    }
    log_info("tls_loaded", "{s:i, s:i, s:i, s:i}", "crl_files", (int)t->rev->set->files, "crls",
             (int)t->rev->set->n, "revoked_serials", (int)t->rev->set->revoked,
             "refresh_interval_s", (int)TLS_REFRESH_INTERVAL_S);
    return t;
}

grpc_server_credentials *tls_server_creds(const tls_server_t *t) { return t->creds; }

/* Appends "what: reason" to err. */
static void tls_add_reason(char *err, size_t errlen, const char *what, const char *reason) {
    size_t used = strlen(err);
    if (used + 1 >= errlen) return;
    snprintf(err + used, errlen - used, "%s%s: %s", used > 0 ? "; " : "", what, reason);
}

int tls_server_reload(tls_server_t *t, char *err, size_t errlen) {
    char why[1024];
    err[0] = '\0';
    int id_changed = 0, ca_changed = 0, failed = 0;
    const char *id_state, *ca_state, *crl_state;

    why[0] = '\0';
    if (tls_load_identity(t, &id_changed, why, sizeof why) != 0) {
        tls_add_reason(err, errlen, "certificate", why);
        id_state = "kept";
        failed = 1;
    } else {
        id_state = id_changed ? "updated" : "unchanged";
    }

    STACK_OF(X509) *cas = NULL;
    why[0] = '\0';
    if (tls_load_ca(t, &cas, &ca_changed, why, sizeof why) != 0) {
        tls_add_reason(err, errlen, "ca", why);
        ca_state = "kept";
        failed = 1;
        cas = tls_published_ca(t);
    } else {
        ca_state = ca_changed ? "updated" : "unchanged";
    }

    why[0] = '\0';
    tls_crl_set_t *set = cas != NULL ? tls_crl_set_load(t->crl_dir, cas, why, sizeof why) : NULL;
    if (cas == NULL) snprintf(why, sizeof why, "no CA to verify the CRLs with");
    sk_X509_pop_free(cas, X509_free);
    tls_crl_set_t *old = NULL;
    if (set == NULL) {
        tls_add_reason(err, errlen, "crl", why);
        crl_state = "kept";
        failed = 1;
    } else {
        pthread_rwlock_wrlock(&t->rev->lock);
        old = t->rev->set;
        t->rev->set = set;
        pthread_rwlock_unlock(&t->rev->lock);
        tls_crl_set_free(old); /* no handshake reads it any more */
        crl_state = "loaded";
    }

    pthread_rwlock_rdlock(&t->rev->lock);
    int files = (int)t->rev->set->files, crls = (int)t->rev->set->n;
    int revoked = (int)t->rev->set->revoked;
    pthread_rwlock_unlock(&t->rev->lock);
    if (failed)
        log_error("tls_reload_failed", "{s:s, s:s, s:s, s:i, s:i, s:i, s:s}", "certificate",
                  id_state, "ca", ca_state, "crl", crl_state, "crl_files", files, "crls", crls,
                  "revoked_serials", revoked, "reason", err);
    else
        log_info("tls_reloaded", "{s:s, s:s, s:s, s:i, s:i, s:i, s:i}", "certificate", id_state,
                 "ca", ca_state, "crl", crl_state, "crl_files", files, "crls", crls,
                 "revoked_serials", revoked, "effective_within_s", (int)TLS_REFRESH_INTERVAL_S);
    return failed ? -1 : 0;
}

grpc_channel_credentials *tls_server_peer_credentials(const tls_server_t *t,
                                                      const char *trust_domain,
                                                      const char *peer_region, char *err,
                                                      size_t errlen) {
    CARBON_ASSERT(t != NULL && t->id_fd >= 0 && t->ca_fd >= 0 && trust_domain && peer_region);
    grpc_tls_credentials_options *opts = tls_watching_options(t);
    /* The peer's chain against the CA (gRPC), then tls_verify: revocation,
     * host name, and that it is the gateway of peer_region. */
    grpc_tls_credentials_options_set_verify_server_cert(opts, 1);
    grpc_tls_credentials_options_set_crl_directory(opts, t->crl_dir);
    grpc_tls_certificate_verifier *verifier = tls_verifier_create(t, trust_domain, peer_region);
    grpc_tls_credentials_options_set_certificate_verifier(opts, verifier);
    grpc_channel_credentials *creds = grpc_tls_credentials_create(opts);
    grpc_tls_certificate_verifier_release(verifier);
    if (creds == NULL) snprintf(err, errlen, "%s: gRPC refused the peer TLS options", t->cert_path);
    return creds;
}
