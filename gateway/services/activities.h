/* activities.h - one activity, one issuance in the whole federation (DESIGN
 * §6 "Issuance across regions"; README "One activity, one issuance").
 *
 * Issuer side (Registry.Issue): the activity's keyed fingerprint
 * (settlement/activity_key.h) is reserved at its home region before the
 * issuance is recorded, and the reservation is settled after it (issued or
 * released). Home side: Federation.ReserveActivities and SettleActivities
 * for the other regions, and a thread that asks the issuers about
 * reservations left unsettled past their expiry (Federation.QueryIssuance)
 * and settles them, so none is left behind by a crash. The issuer answers
 * QueryIssuance from its store; a reservation it did not issue under is
 * recorded abandoned first, so the issuance can never happen later.
 *
 * Without [gateway] activity_secret_file, nothing is keyed: an activity is
 * unique within the region only (issue.lua), as before. */
#ifndef GATEWAY_ACTIVITIES_H
#define GATEWAY_ACTIVITIES_H

#include "adapters/catalog.h"
#include "gateway/app.h"
#include "gateway/server.h"
#include "settlement/activity.h"

#include <stddef.h>
#include <stdint.h>

/* What an issuance holds at its activity's home. key "" when not keyed. */
typedef struct {
    char key[ACTIVITY_KEY_HEX + 1];
    char home[LEDGER_REGION_MAX + 1];
    uint64_t rsv;
} activity_claim_t;

/* Loads the secrets (if configured) and starts the home's thread. 0, or -1
 * with err (an unreadable or malformed secrets file). */
int activities_start(struct gateway *gw, char *err, size_t errlen);
/* Stops the thread and frees what activities_start made (idempotent). */
void activities_stop(struct gateway *gw);

/* Reserves the activity of issuance in (methodology m of this region) at
 * its home, unless issue.lua would answer in without recording it (a
 * replay, a reused id, an unknown account, a fingerprint issued here: a
 * refused request changes nothing anywhere). 1 with *claim (key "" when
 * nothing was reserved or keying is off); or 0 after answering the call:
 * ALREADY_EXISTS DUPLICATE_ISSUANCE naming the holder region,
 * UNAVAILABLE ACTIVITY_HOME_UNREACHABLE, RESOURCE_EXHAUSTED ACTIVITY_LIMIT,
 * FAILED_PRECONDITION NO_ACTIVITY_SECRET, UNAVAILABLE STORE_UNAVAILABLE. */
int activities_claim(server_call_t *call, store_t *st, const catalog_methodology_t *m, const ledger_issue_t *in,
                     activity_claim_t *claim);

/* Queues the settlement of the reservation (key, rsv; key "" or rsv 0:
 * nothing) of issuance iid, recorded (issued 1) or refused (issued 0), for
 * the activities' thread to send to the home (batched per home). Never
 * blocks: when the bounded queue is full, the home asks later. */
void activities_settle_later(struct gateway *gw, const char *key, uint64_t rsv, const char *iid, int issued);

/* Federation.ReserveActivities, SettleActivities, QueryIssuance. */
void federation_reserve_activities(server_call_t *call, const ProtobufCMessage *request);
void federation_settle_activities(server_call_t *call, const ProtobufCMessage *request);
void federation_query_issuance(server_call_t *call, const ProtobufCMessage *request);

#endif
