/* proc.h - child processes and loopback ports for tests.
 *
 * Every child is started with prctl(PR_SET_PDEATHSIG, SIGKILL): when the
 * thread that spawned it dies (a crashed or timed-out test), the child is
 * killed too. Note: the signal follows the spawning *thread*, so spawn from a
 * thread that lives as long as the child (normally the test's main thread).
 *
 * Functions return -1 on error with a message in err (err may be NULL). The
 * child's stdin is /dev/null; its stdout and stderr are appended to log_path.
 * Not thread-safe with respect to one pid (one owner per child).
 */
#ifndef TESTS_SUPPORT_PROC_H
#define TESTS_SUPPORT_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PROC_ARGS_MAX 128   /* argv entries, NULL excluded */
#define PROC_ENV_MAX 512    /* inherited + added environment entries */
#define PROC_WAIT_MS_MAX (10 * 60 * 1000)

/* Starts argv[0] (searched in PATH when it has no '/') with argv, the current
 * environment plus env_add (NULL-terminated "NAME=VALUE" strings, overriding
 * inherited ones; env_add may be NULL), output appended to log_path (NULL:
 * /dev/null). Returns the child's pid, or -1 if it could not be started
 * (including exec failure, which is reported, not left to the log). */
pid_t proc_spawn(const char *const argv[], const char *const env_add[],
                 const char *log_path, char *err, size_t errlen);

/* Waits up to timeout_ms for pid to exit and reaps it. Returns 0 with its
 * wait status in *status_out (may be NULL) if it exited, 1 if it is still
 * running at the timeout, -1 on error (e.g. not our child). */
int proc_wait(pid_t pid, int timeout_ms, int *status_out);

/* Sends sig to pid. Returns 0 or -1 (errno set). */
int proc_signal(pid_t pid, int sig);

/* SIGKILL, then reaps (waits at most 5 s). Returns 0 or -1. */
int proc_kill9(pid_t pid);

/* SIGTERM, waits up to term_timeout_ms, then SIGKILL; reaps it. Returns 0
 * and the wait status in *status_out (may be NULL), or -1. */
int proc_stop(pid_t pid, int term_timeout_ms, int *status_out);

/* True while pid is our child and has not exited (does not reap it). */
bool proc_alive(pid_t pid);

/* A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read
 * it back, close), or -1. Another process may take it before you do. */
int proc_free_tcp_port(void);

/* Waits until host:port (numeric IPv4) accepts a TCP connection. Returns 0,
 * or -1 at the timeout. */
int proc_wait_tcp_port(const char *host, int port, int timeout_ms);

/* Milliseconds on a monotonic clock. */
long long proc_now_ms(void);

/* Sleeps ms milliseconds (restarts on EINTR). */
void proc_sleep_ms(int ms);

#endif
