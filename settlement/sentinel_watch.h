/* sentinel_watch.h - following Sentinel's +switch-master announcements, so
 * that a failover moves every store connection of the process to the new
 * primary before any command is sent to the old one (issue 17).
 *
 * One thread keeps one hiredis connection SUBSCRIBEd to the channel
 * "+switch-master" of one of the configured Sentinels (the first that
 * answers, in order; after a loss, the next, with the store's reconnect
 * backoff). It polls that connection with a bound (SENTINEL_WATCH_POLL_MS),
 * so it stops promptly. On a message naming cfg.master_name, and also when a
 * (re)subscription finds that the Sentinel names another primary than the
 * last one known (a switch announced while nobody listened; it also asks
 * every SENTINEL_WATCH_ASK_MS, and moves to the next Sentinel if that one
 * does not answer), it calls
 * store_primary_switched(): each store_t of the process with Sentinels then
 * reconnects before its next command (store.h), through the Sentinels and
 * ROLE as always. An announcement is a hint, never trusted alone.
 *
 * Thread-safe: start and stop from one thread; the callback runs on the
 * watcher's own thread. */
#ifndef SETTLEMENT_SENTINEL_WATCH_H
#define SETTLEMENT_SENTINEL_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include "settlement/store.h"

#define SENTINEL_WATCH_POLL_MS 200          /* longest wait between checks of stop */
#define SENTINEL_WATCH_MESSAGE_MAX 512      /* bytes of one +switch-master payload */
#define SENTINEL_WATCH_BACKOFF_MS_MIN 100   /* between two failed Sentinel connections */
#define SENTINEL_WATCH_ASK_MS 5000          /* the subscribed Sentinel is also asked
                                               this often; no answer: the next one */

typedef struct sentinel_watch sentinel_watch_t;

/* Called on the watcher thread after each switch it saw: the master name,
 * and the old and new primary as "HOST:PORT" (old is "" when not known). */
typedef void (*sentinel_watch_fn)(void *arg, const char *master_name, const char *old_addr,
                                  const char *new_addr);

/* Starts the watcher for cfg's Sentinels (cfg->sentinels_n >= 1; cfg is
 * copied). on_switch may be NULL. Returns it, or NULL with err set (no
 * memory, no thread). An unreachable Sentinel is not an error: the thread
 * goes on trying. */
sentinel_watch_t *sentinel_watch_start(const store_config_t *cfg, sentinel_watch_fn on_switch,
                                       void *arg, char *err, size_t errlen);

/* Stops and joins the thread (within about one poll bound plus one
 * connection timeout) and frees w. NULL: no-op. */
void sentinel_watch_stop(sentinel_watch_t *w);

/* Switches this watcher saw so far. Thread-safe. */
uint64_t sentinel_watch_switches(const sentinel_watch_t *w);

/* Parses a +switch-master payload "NAME OLDHOST OLDPORT NEWHOST NEWPORT"
 * (len bytes, not NUL-terminated). Returns 1 if it is well formed and NAME is
 * master_name, with "OLDHOST:OLDPORT" and "NEWHOST:NEWPORT" written to
 * old_addr and new_addr (addrlen bytes each); 0 if it names another master;
 * -1 if malformed. */
int sentinel_watch_parse(const char *payload, size_t len, const char *master_name,
                         char *old_addr, char *new_addr, size_t addrlen);

#endif
