/* grpc_lifetime.h - the end of a program's use of the gRPC library.
 *
 * grpc_shutdown() only drops the caller's reference. Channels, subchannels
 * and server transports hold references of their own; when the last of them
 * goes on one of gRPC's threads after the caller's grpc_shutdown(), gRPC
 * finishes its clean-up on a detached thread. A program that returns from
 * main meanwhile runs OpenSSL's exit clean-up under that thread: a TLS
 * handshake still in progress then crashes (SIGSEGV on a freed lock) and the
 * per-thread OpenSSL state of the threads being joined is lost (reported by
 * LeakSanitizer). Every program here ends gRPC with grpc_lifetime_end(). */
#ifndef GATEWAY_GRPC_LIFETIME_H
#define GATEWAY_GRPC_LIFETIME_H

/* The longest grpc_lifetime_end() waits: a clean-up that takes longer is a
 * reference left behind (a channel, call or server not destroyed). */
#define GRPC_LIFETIME_END_WAIT_MS 10000

/* Calls grpc_shutdown() for the caller's grpc_init() and then waits, at most
 * wait_ms, until gRPC has finished its clean-up (no reference is left).
 * Returns 0 when gRPC is down, -1 when wait_ms passed first (something still
 * holds gRPC; the caller may log it, nothing else is to be done). The
 * caller's own objects (channels, servers, calls) must be destroyed first. */
int grpc_lifetime_end(int wait_ms);

#endif
