/* test_gateway_config.c - gatewayd refuses a bad configuration at start: exit
 * status 2 within a few seconds and one line on stderr naming the file at
 * fault and the problem. Also the --help texts of gatewayd and gwctl.
 *
 * Each test writes its configuration into its own temp dir (removed by
 * .fini unless KEEP_TEST_DIRS is set). No Redis is needed: every check here
 * happens before gatewayd opens its store. A good configuration is checked
 * first (--check-config prints "ok"), so each bad one differs from a working
 * one by exactly the fault under test. */
#include <criterion/criterion.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/gateway_harness.h"
#include "tests/support/proc.h"

#define TEST_TIMEOUT_S 60
#define RUN_TIMEOUT_MS 10000
#define EXIT_WITHIN_MS 5000
#define GATEWAYD BINARY_DIR "/gatewayd"
#define GWCTL BINARY_DIR "/gwctl"
#define PKI BINARY_DIR "/pki"

static char g_dir[256];

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

static void suite_init(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/gateway-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    cr_assert_not_null(mkdtemp(g_dir), "mkdtemp: %s", strerror(errno));
}

static void suite_fini(void) {
    if (g_dir[0] == '\0') return;
    if (getenv("KEEP_TEST_DIRS") != NULL)
        fprintf(stderr, "test_gateway_config: kept %s\n", g_dir);
    else
        nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(gateway_config, .init = suite_init, .fini = suite_fini, .timeout = TEST_TIMEOUT_S);

/* ---- helpers ------------------------------------------------------------------- */

typedef struct {
    int status;
    long long ms;
    char *out;
    char *err;
} run_t;

static run_t run(const char *const argv[]) {
    run_t r = {0};
    long long t0 = proc_now_ms();
    int rc = harness_run(argv, RUN_TIMEOUT_MS, &r.status, &r.out, &r.err);
    r.ms = proc_now_ms() - t0;
    cr_assert_eq(rc, 0, "%s: %s", argv[0], federation_last_error());
    return r;
}

static void run_free(run_t *r) {
    free(r->out);
    free(r->err);
}

static const char *path_in_dir(char *buf, size_t len, const char *name) {
    snprintf(buf, len, "%s/%s", g_dir, name);
    return buf;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s: %s", path, strerror(errno));
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

/* A complete configuration with `replace` lines substituted: each entry is
 * "key=value" replacing the line starting "key = ", or "-key" dropping it,
 * or "+text" appending a line at the end. NULL-terminated. */
static void write_config(const char *path, const char *const replace[]) {
    const char *lines[] = {
        "[gateway]",
        "region = CN-TJ",
        "listen = 127.0.0.1:0",
        "catalog_dir = " SOURCE_DIR "/adapters/catalogs",
        "workers = 1",
        "log_level = info",
        "[tls]",
        "cert = " PKI "/CN-TJ-gateway.crt",
        "key = " PKI "/CN-TJ-gateway.key",
        "ca = " PKI "/ca.crt",
        "crl_dir = " PKI "/crl",
        "[store]",
        "host = 127.0.0.1",
        "port = 1",
        "[peers]",
        "CN-BJ = 127.0.0.1:1",
        "[limits]",
        "max_message_bytes = 1048576",
        "[audit_keys]",
        "CN-BJ = " PKI "/CN-BJ-audit-signing.pub",
        NULL,
    };
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s: %s", path, strerror(errno));
    for (size_t i = 0; lines[i] != NULL; i++) {
        const char *line = lines[i];
        char buf[1024];
        int dropped = 0;
        for (size_t k = 0; replace != NULL && replace[k] != NULL; k++) {
            const char *rk = replace[k];
            if (rk[0] == '+') continue;
            const char *name = rk[0] == '-' ? rk + 1 : rk;
            const char *eq = strchr(name, '=');
            size_t n = eq != NULL ? (size_t)(eq - name) : strlen(name);
            if (strncmp(line, name, n) != 0 || strncmp(line + n, " = ", 3) != 0) continue;
            if (rk[0] == '-') {
                dropped = 1;
            } else {
                snprintf(buf, sizeof buf, "%.*s = %s", (int)n, name, eq + 1);
                line = buf;
            }
        }
        if (!dropped) fprintf(f, "%s\n", line);
    }
    for (size_t k = 0; replace != NULL && replace[k] != NULL; k++)
        if (replace[k][0] == '+') fprintf(f, "%s\n", replace[k] + 1);
    cr_assert_eq(fclose(f), 0);
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Runs gatewayd --config path and expects exit 2, quickly, with one line on
 * stderr that holds every needle (NULL-terminated). */
static void expect_refused(const char *config_path, const char *const needles[]) {
    const char *argv[] = {GATEWAYD, "--config", config_path, NULL};
    run_t r = run(argv);
    cr_expect_eq(r.status, 2, "gatewayd exited with %d, want 2; stderr:\n%s", r.status, r.err);
    cr_expect_lt(r.ms, EXIT_WITHIN_MS, "gatewayd took %lld ms to refuse", r.ms);
    cr_expect_eq(count_lines(r.err), 1, "stderr is not one line:\n%s", r.err);
    cr_expect_eq(strncmp(r.err, "gatewayd: ", 10), 0, "stderr does not start 'gatewayd: ': %s",
                 r.err);
    for (size_t k = 0; needles[k] != NULL; k++)
        cr_expect(strstr(r.err, needles[k]) != NULL, "stderr lacks '%s':\n%s", needles[k], r.err);
    cr_expect_eq(strstr(r.out, "listening"), NULL, "gatewayd started listening:\n%s", r.out);
    run_free(&r);
}

/* ---- a good configuration ------------------------------------------------------------ */

Test(gateway_config, good_configuration_passes_check_config) {
    char cfg[PATH_MAX];
    path_in_dir(cfg, sizeof cfg, "good.ini");
    write_config(cfg, NULL);
    const char *argv[] = {GATEWAYD, "--config", cfg, "--check-config", NULL};
    run_t r = run(argv);
    cr_expect_eq(r.status, 0, "--check-config of a good file: %d\n%s", r.status, r.err);
    cr_expect_str_eq(r.out, "ok\n");
    run_free(&r);
}

Test(gateway_config, relative_paths_are_taken_from_the_config_folder) {
    char link[PATH_MAX], cfg[PATH_MAX];
    cr_assert_eq(symlink(PKI, path_in_dir(link, sizeof link, "pki")), 0, "%s", strerror(errno));
    path_in_dir(cfg, sizeof cfg, "relative.ini");
    const char *const rel[] = {"cert=pki/CN-TJ-gateway.crt", "key=pki/CN-TJ-gateway.key",
                               "ca=pki/ca.crt", "crl_dir=pki/crl", NULL};
    write_config(cfg, rel);
    /* run from another folder, so only the config's folder can resolve them */
    const char *argv[] = {GATEWAYD, "--config", cfg, "--check-config", NULL};
    char cwd[PATH_MAX];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    cr_assert_eq(chdir("/"), 0);
    run_t r = run(argv);
    cr_assert_eq(chdir(cwd), 0);
    cr_expect_eq(r.status, 0, "relative paths: %d\n%s", r.status, r.err);
    run_free(&r);
}

/* ---- refused ---------------------------------------------------------------------------- */

Test(gateway_config, missing_config_file) {
    char cfg[PATH_MAX];
    path_in_dir(cfg, sizeof cfg, "does-not-exist.ini");
    const char *const needles[] = {cfg, "cannot open", "No such file", NULL};
    expect_refused(cfg, needles);
}

Test(gateway_config, config_without_region) {
    char cfg[PATH_MAX];
    path_in_dir(cfg, sizeof cfg, "no-region.ini");
    const char *const rep[] = {"-region", NULL};
    write_config(cfg, rep);
    const char *const needles[] = {cfg, "region", "[gateway]", "missing", NULL};
    expect_refused(cfg, needles);
}

Test(gateway_config, unknown_key) {
    char cfg[PATH_MAX];
    path_in_dir(cfg, sizeof cfg, "unknown-key.ini");
    const char *const rep[] = {"+[gateway]", "+colour = blue", NULL};
    write_config(cfg, rep);
    /* "PATH:LINE: ..." with the line of the key (the file has 20 lines, then these) */
    char where[PATH_MAX + 8];
    snprintf(where, sizeof where, "%s:22:", cfg);
    const char *const needles[] = {where, "unknown key 'colour'", "[gateway]", NULL};
    expect_refused(cfg, needles);
}

/* Every peer needs its pinned audit key: without it, its checkpoints could
 * not be witnessed (docs/audit-log.md section 4). */
Test(gateway_config, peer_without_pinned_audit_key) {
    char cfg[PATH_MAX];
    path_in_dir(cfg, sizeof cfg, "no-audit-key.ini");
    const char *const rep[] = {"-CN-BJ", "+[peers]", "+CN-BJ = 127.0.0.1:1", NULL};
    write_config(cfg, rep);
    const char *const needles[] = {"[audit_keys]", "no key for the peer CN-BJ", "pinned audit key",
                                   NULL};
    expect_refused(cfg, needles);
}

/* [peers] lines follow the one REGION=HOST:PORT parser (gateway/rpc/
 * region_address.h): a bad address is refused at start, naming the line. */
Test(gateway_config, peer_address_not_host_port) {
    static const char *const bad[] = {"CN-BJ=127.0.0.1:0", "CN-BJ=127.0.0.1:65536",
                                      "CN-BJ=:7001", "CN-BJ=127.0.0.1", "CN-BJ=::1:7001"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char cfg[PATH_MAX];
        path_in_dir(cfg, sizeof cfg, "bad-peer.ini");
        const char *const rep[] = {bad[i], NULL};
        write_config(cfg, rep);
        char where[PATH_MAX + 8];
        snprintf(where, sizeof where, "%s:16:", cfg);
        const char *const needles[] = {where, "[peers]", "CN-BJ", "is not HOST:PORT", NULL};
        expect_refused(cfg, needles);
    }
}

Test(gateway_config, unknown_section) {
    char cfg[PATH_MAX];
    path_in_dir(cfg, sizeof cfg, "unknown-section.ini");
    const char *const rep[] = {"+[storage]", "+port = 6379", NULL};
    write_config(cfg, rep);
    const char *const needles[] = {cfg, "unknown section [storage]", NULL};
    expect_refused(cfg, needles);
}

Test(gateway_config, missing_certificate_file) {
    char cfg[PATH_MAX], cert[PATH_MAX], rep0[PATH_MAX + 8];
    path_in_dir(cfg, sizeof cfg, "bad-cert-path.ini");
    path_in_dir(cert, sizeof cert, "nowhere/gateway.crt");
    snprintf(rep0, sizeof rep0, "cert=%s", cert);
    const char *const rep[] = {rep0, NULL};
    write_config(cfg, rep);
    const char *const needles[] = {cert, "tls.cert", "No such file", NULL};
    expect_refused(cfg, needles);
}

Test(gateway_config, garbage_certificate_file) {
    char cfg[PATH_MAX], cert[PATH_MAX], rep0[PATH_MAX + 8];
    path_in_dir(cfg, sizeof cfg, "garbage-cert.ini");
    path_in_dir(cert, sizeof cert, "garbage.crt");
    write_file(cert, "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n"
                     "\x01\x02 junk\n");
    snprintf(rep0, sizeof rep0, "cert=%s", cert);
    const char *const rep[] = {rep0, NULL};
    write_config(cfg, rep);
    const char *const needles[] = {cert, "not a PEM certificate", NULL};
    expect_refused(cfg, needles);
}

Test(gateway_config, unreadable_certificate_file) {
    if (geteuid() == 0) {
        suite_fini(); /* Criterion skips .fini after cr_skip_test */
        cr_skip_test("root reads files whatever their mode");
    }
    char cfg[PATH_MAX], cert[PATH_MAX], rep0[PATH_MAX + 8];
    path_in_dir(cfg, sizeof cfg, "unreadable-cert.ini");
    path_in_dir(cert, sizeof cert, "unreadable.crt");
    write_file(cert, "whatever\n");
    cr_assert_eq(chmod(cert, 0), 0);
    snprintf(rep0, sizeof rep0, "cert=%s", cert);
    const char *const rep[] = {rep0, NULL};
    write_config(cfg, rep);
    const char *const needles[] = {cert, "Permission denied", NULL};
    expect_refused(cfg, needles);
}

Test(gateway_config, certificate_path_is_a_directory) {
    char cfg[PATH_MAX], rep0[PATH_MAX + 8];
    path_in_dir(cfg, sizeof cfg, "cert-is-dir.ini");
    snprintf(rep0, sizeof rep0, "cert=%s", g_dir);
    const char *const rep[] = {rep0, NULL};
    write_config(cfg, rep);
    const char *const needles[] = {g_dir, "tls.cert", "not a regular file", NULL};
    expect_refused(cfg, needles);
}

Test(gateway_config, garbage_key_file) {
    char cfg[PATH_MAX], key[PATH_MAX], rep0[PATH_MAX + 8];
    path_in_dir(cfg, sizeof cfg, "garbage-key.ini");
    path_in_dir(key, sizeof key, "garbage.key");
    write_file(key, "this is no private key\n");
    snprintf(rep0, sizeof rep0, "key=%s", key);
    const char *const rep[] = {rep0, NULL};
    write_config(cfg, rep);
    const char *const needles[] = {key, "not a PEM private key", NULL};
    expect_refused(cfg, needles);
}

Test(gateway_config, key_not_matching_certificate) {
    char cfg[PATH_MAX];
    path_in_dir(cfg, sizeof cfg, "key-mismatch.ini");
    const char *const rep[] = {"key=" PKI "/CN-BJ-gateway.key", NULL};
    write_config(cfg, rep);
    const char *const needles[] = {PKI "/CN-BJ-gateway.key", "does not match",
                                   PKI "/CN-TJ-gateway.crt", NULL};
    expect_refused(cfg, needles);
}

Test(gateway_config, missing_catalog_dir) {
    char cfg[PATH_MAX], dir[PATH_MAX], rep0[PATH_MAX + 16];
    path_in_dir(cfg, sizeof cfg, "bad-catalog-dir.ini");
    path_in_dir(dir, sizeof dir, "no-catalogs-here");
    snprintf(rep0, sizeof rep0, "catalog_dir=%s", dir);
    const char *const rep[] = {rep0, NULL};
    write_config(cfg, rep);
    const char *const needles[] = {dir, "catalog_dir", "No such file", NULL};
    expect_refused(cfg, needles);
}

Test(gateway_config, catalog_dir_without_catalogs) {
    char cfg[PATH_MAX], dir[PATH_MAX], rep0[PATH_MAX + 16];
    path_in_dir(cfg, sizeof cfg, "empty-catalog-dir.ini");
    path_in_dir(dir, sizeof dir, "empty-catalogs");
    cr_assert_eq(mkdir(dir, 0700), 0);
    snprintf(rep0, sizeof rep0, "catalog_dir=%s", dir);
    const char *const rep[] = {rep0, NULL};
    write_config(cfg, rep);
    const char *const needles[] = {dir, "catalog", NULL};
    expect_refused(cfg, needles);
}

Test(gateway_config, catalog_dir_without_this_region) {
    char cfg[PATH_MAX], dir[PATH_MAX], link[PATH_MAX + 32], rep0[PATH_MAX + 16];
    path_in_dir(cfg, sizeof cfg, "other-catalogs.ini");
    path_in_dir(dir, sizeof dir, "other-catalogs");
    cr_assert_eq(mkdir(dir, 0700), 0);
    snprintf(link, sizeof link, "%s/CN-BJ.catalog", dir);
    cr_assert_eq(symlink(SOURCE_DIR "/adapters/catalogs/CN-BJ.catalog", link), 0);
    snprintf(rep0, sizeof rep0, "catalog_dir=%s", dir);
    const char *const rep[] = {rep0, NULL};
    write_config(cfg, rep);
    const char *const needles[] = {dir, "no catalog", "CN-TJ", NULL};
    expect_refused(cfg, needles);
}

/* ---- command lines --------------------------------------------------------------------- */

Test(gateway_config, gatewayd_help) {
    const char *argv[] = {GATEWAYD, "--help", NULL};
    run_t r = run(argv);
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "--config") != NULL, "--help does not mention --config:\n%s", r.out);
    cr_expect_str_eq(r.err, "");
    run_free(&r);
}

Test(gateway_config, gatewayd_bad_command_lines) {
    const char *none[] = {GATEWAYD, NULL};
    run_t r = run(none);
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "--config") != NULL, "no hint at --config:\n%s", r.err);
    cr_expect_eq(count_lines(r.err), 1, "%s", r.err);
    run_free(&r);
    const char *unknown[] = {GATEWAYD, "--colour", NULL};
    r = run(unknown);
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "--colour") != NULL, "the bad argument is not named:\n%s", r.err);
    run_free(&r);
}

Test(gateway_config, gwctl_help) {
    const char *argv[] = {GWCTL, "--help", NULL};
    run_t r = run(argv);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "health") != NULL, "gwctl --help does not list health:\n%s", r.out);
    run_free(&r);
    const char *health[] = {GWCTL, "health", "--help", NULL};
    r = run(health);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "--target") != NULL, "gwctl health --help:\n%s", r.out);
    run_free(&r);
}

/* [store] sentinels and master_name (issue 17): a bad list, one without the
 * other, and a WAIT timeout not below the command timeout are refused; a
 * good Sentinel configuration passes --check-config. */
Test(gateway_config, store_sentinels_checked) {
    char cfg[PATH_MAX];
    path_in_dir(cfg, sizeof cfg, "sentinels-bad.ini");
    const char *const bad_list[] = {"+[store]", "+sentinels = 127.0.0.1:26379,nope", "+master_name = tj", NULL};
    write_config(cfg, bad_list);
    const char *const n1[] = {"entry 2 is not HOST:PORT", NULL};
    expect_refused(cfg, n1);
    const char *const alone[] = {"+[store]", "+sentinels = 127.0.0.1:26379", NULL};
    write_config(cfg, alone);
    const char *const n2[] = {"sentinels and master_name go together", NULL};
    expect_refused(cfg, n2);
    const char *const wait[] = {"+[store]", "+min_replicas = 1", "+wait_timeout_ms = 5000", NULL};
    write_config(cfg, wait);
    const char *const n3[] = {"wait_timeout_ms (5000) must be below command_timeout_ms (5000)", NULL};
    expect_refused(cfg, n3);
    const char *const many[] = {"+[store]", "+min_replicas = 17", NULL};
    write_config(cfg, many);
    const char *const n4[] = {"'min_replicas' must be an integer in 0..16", NULL};
    expect_refused(cfg, n4);
    const char *const good[] = {"+[store]", "+sentinels = 127.0.0.1:26379, 127.0.0.1:26380",
                                "+master_name = cn-tj", "+min_replicas = 1", "+wait_timeout_ms = 500", NULL};
    write_config(cfg, good);
    const char *argv[] = {GATEWAYD, "--check-config", "--config", cfg, NULL};
    run_t r = run(argv);
    cr_expect_eq(r.status, 0, "--check-config refused a good Sentinel configuration:\n%s", r.err);
    run_free(&r);
}
