/* grpc_lifetime.h - the start and end of a program's use of the gRPC library
 * (and of OpenSSL, which gRPC's TLS runs on).
 *
 * grpc_shutdown() only drops the caller's reference. Channels, subchannels
 * and server transports hold references of their own; when the last of them
 * goes on one of gRPC's threads after the caller's grpc_shutdown(), gRPC
 * finishes its clean-up on a detached thread, and the threads of its event
 * engine outlive even that. OpenSSL's default exit handler frees OpenSSL's
 * global state, and with it the key under which every thread's OpenSSL state
 * is freed when the thread ends; run while gRPC's threads still work, it made
 * a TLS handshake crash (SIGSEGV on a freed lock) and left the per-thread
 * state of the threads that ended after it unreferenced (LeakSanitizer). So
 * every program here starts with grpc_lifetime_begin() and ends with
 * grpc_lifetime_end(). */
#ifndef GATEWAY_GRPC_LIFETIME_H
#define GATEWAY_GRPC_LIFETIME_H

/* The longest grpc_lifetime_end() waits: a clean-up that takes longer is a
 * reference left behind (a channel, call or server not destroyed). */
#define GRPC_LIFETIME_END_WAIT_MS 10000

/* Initializes OpenSSL without its exit handler (its global state then stays
 * until the process ends, which the kernel reclaims) and calls grpc_init().
 * Must come before anything else uses OpenSSL or gRPC; aborts if OpenSSL
 * cannot be initialized. */
void grpc_lifetime_begin(void);

/* Calls grpc_shutdown() for the caller's grpc_init() and then waits, at most
 * wait_ms, until gRPC has finished its clean-up (no reference is left).
 * Returns 0 when gRPC is down, -1 when wait_ms passed first (something still
 * holds gRPC; the caller may log it, nothing else is to be done). The
 * caller's own objects (channels, servers, calls) must be destroyed first. */
int grpc_lifetime_end(int wait_ms);

#endif
