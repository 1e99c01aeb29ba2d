/* proc.c - child processes and loopback ports for tests; see proc.h. */
#include "tests/support/proc.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define PROC_PATH_MAX 4096
#define PROC_POLL_MS 5

__attribute__((format(printf, 3, 4)))
static void proc_errf(char *err, size_t errlen, const char *fmt, ...) {
    if (err == NULL || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

long long proc_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void proc_sleep_ms(int ms) {
    assert(ms >= 0 && ms <= PROC_WAIT_MS_MAX);
    struct timespec left = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
}

/* Resolves name against PATH, like execvp, but in the parent (the child may
 * only make async-signal-safe calls). */
static int proc_resolve(const char *name, char out[PROC_PATH_MAX]) {
    if (strchr(name, '/') != NULL) {
        if (strlen(name) >= PROC_PATH_MAX) return -1;
        strcpy(out, name);
        return 0;
    }
    const char *path = getenv("PATH");
    if (path == NULL || *path == '\0') path = "/usr/local/bin:/usr/bin:/bin";
    const char *p = path;
    while (*p != '\0') {
        const char *end = strchr(p, ':');
        size_t dir_len = end != NULL ? (size_t)(end - p) : strlen(p);
        int n = snprintf(out, PROC_PATH_MAX, "%.*s/%s", (int)(dir_len > 0 ? dir_len : 1),
                         dir_len > 0 ? p : ".", name);
        if (n > 0 && n < PROC_PATH_MAX && access(out, X_OK) == 0) return 0;
        if (end == NULL) break;
        p = end + 1;
    }
    return -1;
}

static bool proc_env_overridden(const char *entry, const char *const env_add[]) {
    const char *eq = strchr(entry, '=');
    size_t name_len = eq != NULL ? (size_t)(eq - entry) : strlen(entry);
    for (size_t i = 0; env_add != NULL && env_add[i] != NULL; i++) {
        if (strncmp(env_add[i], entry, name_len) == 0 && env_add[i][name_len] == '=') return true;
    }
    return false;
}

pid_t proc_spawn(const char *const argv[], const char *const env_add[],
                 const char *log_path, char *err, size_t errlen) {
    assert(argv != NULL && argv[0] != NULL);
    size_t argc = 0;
    while (argv[argc] != NULL) {
        if (++argc > PROC_ARGS_MAX) {
            proc_errf(err, errlen, "spawn %s: more than %d arguments", argv[0], PROC_ARGS_MAX);
            return -1;
        }
    }
    char exe[PROC_PATH_MAX];
    if (proc_resolve(argv[0], exe) != 0) {
        proc_errf(err, errlen, "spawn %s: not found in PATH or not executable", argv[0]);
        return -1;
    }

    /* environment, built before fork */
    const char *envp[PROC_ENV_MAX + 1];
    size_t nenv = 0;
    for (size_t i = 0; env_add != NULL && env_add[i] != NULL; i++) {
        if (nenv >= PROC_ENV_MAX) goto env_full;
        envp[nenv++] = env_add[i];
    }
    for (size_t i = 0; environ != NULL && environ[i] != NULL; i++) {
        if (proc_env_overridden(environ[i], env_add)) continue;
        if (nenv >= PROC_ENV_MAX) goto env_full;
        envp[nenv++] = environ[i];
    }
    envp[nenv] = NULL;

    int log_fd = open(log_path != NULL ? log_path : "/dev/null",
                      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        proc_errf(err, errlen, "spawn %s: open log %s: %s", argv[0], log_path, strerror(errno));
        return -1;
    }
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int status_pipe[2];
    if (null_fd < 0 || pipe2(status_pipe, O_CLOEXEC) != 0) {
        proc_errf(err, errlen, "spawn %s: %s", argv[0], strerror(errno));
        close(log_fd);
        if (null_fd >= 0) close(null_fd);
        return -1;
    }
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        proc_errf(err, errlen, "spawn %s: fork: %s", argv[0], strerror(errno));
        close(log_fd);
        close(null_fd);
        close(status_pipe[0]);
        close(status_pipe[1]);
        return -1;
    }
    if (pid == 0) {
        /* child: async-signal-safe calls only */
        int e = 0;
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) e = errno;
        if (e == 0 && getppid() != parent) _exit(127); /* parent already gone */
        if (e == 0 && (dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)) e = errno;
        if (e == 0) {
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, NULL);
            struct sigaction dfl;
            memset(&dfl, 0, sizeof dfl);
            dfl.sa_handler = SIG_DFL;
            sigaction(SIGPIPE, &dfl, NULL); /* SIG_IGN would survive exec */
            execve(exe, (char *const *)argv, (char *const *)envp);
            e = errno;
        }
        ssize_t w = write(status_pipe[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    close(status_pipe[1]);
    close(log_fd);
    close(null_fd);
    int child_errno = 0;
    ssize_t r;
    do {
        r = read(status_pipe[0], &child_errno, sizeof child_errno);
    } while (r < 0 && errno == EINTR);
    close(status_pipe[0]);
    if (r > 0) {
        proc_errf(err, errlen, "spawn %s: exec failed: %s", exe, strerror(child_errno));
        waitpid(pid, NULL, 0);
        return -1;
    }
    return pid;

env_full:
    proc_errf(err, errlen, "spawn %s: more than %d environment entries", argv[0], PROC_ENV_MAX);
    return -1;
}

int proc_wait(pid_t pid, int timeout_ms, int *status_out) {
    assert(pid > 0);
    assert(timeout_ms >= 0 && timeout_ms <= PROC_WAIT_MS_MAX);
    long long deadline = proc_now_ms() + timeout_ms;
    for (;;) {
        int status = 0;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            if (status_out != NULL) *status_out = status;
            return 0;
        }
        if (r < 0 && errno != EINTR) return -1;
        if (proc_now_ms() >= deadline) return 1;
        proc_sleep_ms(PROC_POLL_MS);
    }
}

int proc_signal(pid_t pid, int sig) {
    assert(pid > 0);
    return kill(pid, sig);
}

int proc_kill9(pid_t pid) {
    assert(pid > 0);
    if (kill(pid, SIGKILL) != 0 && errno != ESRCH) return -1;
    return proc_wait(pid, 5000, NULL) == 0 ? 0 : -1;
}

int proc_stop(pid_t pid, int term_timeout_ms, int *status_out) {
    assert(pid > 0);
    if (kill(pid, SIGTERM) != 0 && errno != ESRCH) return -1;
    int r = proc_wait(pid, term_timeout_ms, status_out);
    if (r == 0) return 0;
    if (r < 0) return -1;
    if (kill(pid, SIGKILL) != 0 && errno != ESRCH) return -1;
    return proc_wait(pid, 5000, status_out) == 0 ? 0 : -1;
}

bool proc_alive(pid_t pid) {
    assert(pid > 0);
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0) return false;
    return info.si_pid == 0; /* 0: no state change, still running */
}

int proc_free_tcp_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
        port = ntohs(a.sin_port);
    }
    close(fd);
    return port;
}

int proc_wait_tcp_port(const char *host, int port, int timeout_ms) {
    assert(host != NULL && port > 0 && port <= 65535);
    assert(timeout_ms >= 0 && timeout_ms <= PROC_WAIT_MS_MAX);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) return -1;
    long long deadline = proc_now_ms() + timeout_ms;
    for (;;) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return -1;
        int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok) return 0;
        if (proc_now_ms() >= deadline) return -1;
        proc_sleep_ms(PROC_POLL_MS * 2);
    }
}
