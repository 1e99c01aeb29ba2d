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
/* Stops the thread, answering the claims still queued; later claims are
 * refused (activities_claim_submit returns -1). Idempotent. */
void activities_stop(struct gateway *gw);
/* Stops (if needed) and frees what activities_start made (idempotent). */
void activities_destroy(struct gateway *gw);

/* The outcome of a claim (activities_claim_submit): reason < 0 and *claim
 * (key "" when nothing was reserved), or the reason (reasons.h) it was
 * refused for and why (for the caller's answer; claim may then be NULL). */
typedef void (*activities_claimed_fn)(void *ctx, const activity_claim_t *claim, int reason, const char *why);

/* Hands the claim of issuance in (methodology m of this region) to the
 * activities' thread, which reserves it at its home, batched per home, the
 * same way as activities_claim, and then calls done(ctx, ...) from that
 * thread (never from this one). No server worker waits for the home. 0
 * when queued; 1 when activities are not keyed (done is not called: go on
 * without a claim); -1 when the bounded queue is full (done is not called). */
int activities_claim_submit(struct gateway *gw, const ledger_issue_t *in, const catalog_methodology_t *m,
                            activities_claimed_fn done, void *ctx);


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
