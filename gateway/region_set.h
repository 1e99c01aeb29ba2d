/* region_set.h - every gateway of the federation must be configured with
 * the same regions: an activity's home region is chosen among them
 * (settlement/activity_key.h), and two gateways that count them differently
 * would send one activity to two homes, each of which would issue it.
 *
 * The set is the gateway's own region and its [peers], sorted bytewise. It
 * travels in Hello (both ways) and in every ReserveActivities. A peer whose
 * set is seen to differ is marked, and while any peer is marked this
 * gateway issues no keyed activity (REGIONS_DIFFER); a later Hello with the
 * same set clears the mark. The marks live in memory: a restart's Hello
 * round sets them again. */
#ifndef GATEWAY_REGION_SET_H
#define GATEWAY_REGION_SET_H

#include "gateway/config.h"

#include <stddef.h>

#define REGION_SET_MAX (CONFIG_PEERS_MAX + 1)
/* The set as text: names joined by ',' (for messages and logs). */
#define REGION_SET_TEXT_MAX (REGION_SET_MAX * CONFIG_REGION_SIZE + 1)

struct gateway;

/* The gateway's own set: *n names (pointers into gw->cfg, valid while gw
 * lives), sorted bytewise; n <= REGION_SET_MAX. */
void region_set_own(const struct gateway *gw, const char *out[REGION_SET_MAX], size_t *n);

/* Sorts names[0..n) bytewise, in place: a set as it travels. */
void region_set_sort(const char **names, size_t n);

/* 1 if theirs[0..n) is exactly the gateway's own set in the same order
 * (sorted, no duplicates); else 0. theirs is a peer's message: untrusted. */
int region_set_same(const struct gateway *gw, char *const *theirs, size_t n);

/* Records what peer's message said (same: region_set_same's answer), marking
 * or clearing the peer; logs an error when a peer starts to differ and a
 * notice when it agrees again. A peer not configured here is ignored. */
void region_set_note(struct gateway *gw, const char *peer, int same, char *const *theirs, size_t n);

/* The first peer marked as configured with other regions, or NULL. */
const char *region_set_differing_peer(const struct gateway *gw);

/* text <- names joined by ',', cut to text_size. */
void region_set_text(char *const *names, size_t n, char *text, size_t text_size);

#endif
