/* use_rules.h - the region's rules on use (adapters/rules.h) at the API:
 * a retirement checked and armed with its rule, its refusals worded, and
 * Operations.RegisterObligation / GetObligation. The counters live in the
 * store and are checked in the retirement's own script (retire.lua). */
#ifndef GATEWAY_SERVICES_USE_RULES_H
#define GATEWAY_SERVICES_USE_RULES_H

#include "adapters/rules.h"
#include "gateway/server.h"
#include "settlement/ledger.h"

struct gateway;

/* Fills in's rules fields from the region's current rules for in->purpose
 * (in->purpose and compliance_year set). Returns the rules (NULL: the region
 * has none, nothing restricted), or answers the call FAILED_PRECONDITION
 * PURPOSE_NOT_ALLOWED when the rules do not name the purpose, and sets
 * *refused. */
const rules_t *use_rules_arm(server_call_t *call, ledger_retire_t *in, int *refused);

/* Answers call with a refusal of the rules (rc LEDGER_PURPOSE_NOT_ALLOWED or
 * LEDGER_QUOTA_EXCEEDED) of retirement in under rules r, naming the rule and
 * the room left in grams and in cat's units. */
void use_rules_reply_refusal(server_call_t *call, int rc, const ledger_rules_refusal_t *why,
                             const ledger_retire_t *in, const rules_t *r, const catalog_t *cat);

/* The daily inflow limit (grams per UTC day) of the region's current rules
 * for legs from peer, or 0 when there is none (dest_prepare.lua). */
uint64_t use_rules_inflow_g(struct gateway *gw, const char *peer);

/* Operations.RegisterObligation and Operations.GetObligation. */
void ops_register_obligation(server_call_t *call, const ProtobufCMessage *request);
void ops_get_obligation(server_call_t *call, const ProtobufCMessage *request);

#endif
