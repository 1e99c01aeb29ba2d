/* console_api.c - gwctl console's JSON API (console.h): each answer comes
 * from the gateways' gRPC services, called with the user's certificate; a
 * gateway's error (PERMISSION_DENIED included) is passed on as
 * {"error": {"status", "reason", "message"}}. 64-bit numbers and amounts are
 * strings, as in gwctl's --json. */
#include "gateway/gwctl/console.h"
#include "common/carbon_assert.h"
#include "common/version.h"

#include "adapters/catalog_set.h"
#include "carbon/v1/carbon.pb-c.h"
#include "gateway/rpc/pbjson.h"
#include "grpc/health/v1/health.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One call to target i. NULL with *resp set, or a new error object. */
static json_t *console_call(console_t *c, size_t i, const char *path, const ProtobufCMessage *req,
                            const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp) {
    CARBON_ASSERT(i < c->n && c->targets[i].ch != NULL);
    client_status_t st;
    *resp = NULL;
    if (client_call(c->targets[i].ch, path, req, desc, resp, c->timeout_ms, &st) == GRPC_STATUS_OK) return NULL;
    json_t *e = json_pack("{s:s, s:o, s:o}", "status", client_status_name(st.code), "reason",
                          gwctl_json_text(st.reason), "message", gwctl_json_text(st.details));
    if (e == NULL) abort();
    return e;
}

/* The HTTP status of a gateway's error for an API call about one region. */
static unsigned console_http_of(const json_t *e) {
    const char *s = json_string_value(json_object_get(e, "status"));
    if (s == NULL) return 502;
    if (!strcmp(s, "PERMISSION_DENIED") || !strcmp(s, "UNAUTHENTICATED")) return 403;
    if (!strcmp(s, "NOT_FOUND")) return 404;
    if (!strcmp(s, "INVALID_ARGUMENT")) return 400;
    if (!strcmp(s, "UNAVAILABLE") || !strcmp(s, "DEADLINE_EXCEEDED")) return 504;
    return 409;
}

/* A single-region answer: the message as JSON, or its error. resp is freed. */
static console_reply_t console_answer(json_t *err, ProtobufCMessage *resp) {
    if (err != NULL) return (console_reply_t){console_http_of(err), json_pack("{s:o}", "error", err)};
    json_t *doc = pbjson_message(resp);
    protobuf_c_message_free_unpacked(resp, NULL);
    return (console_reply_t){200, doc};
}

static console_reply_t console_config(console_t *c) {
    json_t *regions = json_array();
    for (size_t i = 0; i < c->n; i++)
        json_array_append_new(regions, json_pack("{s:s, s:s, s:b}", "region", c->targets[i].where.region,
                                                 "address", c->targets[i].where.address, "metrics",
                                                 c->targets[i].metrics[0] != '\0'));
    return (console_reply_t){200, json_pack("{s:o, s:s, s:o, s:I}", "regions", regions, "version",
                                            carbon_build_version(), "identity", console_identity(c),
                                            "pinned_keys", (json_int_t)c->pins.n)};
}

/* Health/Check of target i: {"status": NAME} or {"error": ...}. */
static json_t *console_health(console_t *c, size_t i) {
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = "";
    ProtobufCMessage *resp;
    json_t *e = console_call(c, i, "/grpc.health.v1.Health/Check", &req.base,
                             &grpc__health__v1__health_check_response__descriptor, &resp);
    if (e != NULL) return json_pack("{s:o}", "error", e);
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
        &grpc__health__v1__health_check_response__serving_status__descriptor,
        (int)((Grpc__Health__V1__HealthCheckResponse *)resp)->status);
    json_t *doc = json_pack("{s:s}", "status", v != NULL ? v->name : "UNKNOWN");
    protobuf_c_message_free_unpacked(resp, NULL);
    return doc;
}

/* A checkpoint note of region opened against the pinned keys:
 * {"verified": true, "size", "root", "cosigners": [...]} or
 * {"verified": false, "why"}. */
static json_t *console_checkpoint_json(const console_t *c, const char *region, const ProtobufCBinaryData *note) {
    gwctl_checkpoint_t cp;
    char why[512] = "";
    if (note->len == 0) return json_pack("{s:b, s:s}", "verified", 0, "why", "no checkpoint yet");
    if (gwctl_checkpoint_open(&c->pins, region, note->data, note->len, &cp, why, sizeof why) != 0)
        return json_pack("{s:b, s:o}", "verified", 0, "why", gwctl_json_text(why));
    char root[GWCTL_HASH_B64_SIZE];
    gwctl_hash_b64(&cp.root, root);
    json_t *cos = json_array();
    for (size_t k = 0; k < cp.cosigners_n; k++) json_array_append_new(cos, json_string(cp.cosigners[k]));
    return json_pack("{s:b, s:o, s:s, s:o}", "verified", 1, "size", gwctl_json_u64(cp.body.size), "root", root,
                     "cosigners", cos);
}

/* Audit.GetCheckpoint of target i: its own checkpoint and, per peer, the
 * newest checkpoint of the peer it cosigned. */
static json_t *console_checkpoints(console_t *c, size_t i) {
    Carbon__V1__GetCheckpointRequest req = CARBON__V1__GET_CHECKPOINT_REQUEST__INIT;
    ProtobufCMessage *resp;
    json_t *e = console_call(c, i, "/carbon.v1.Audit/GetCheckpoint", &req.base,
                             &carbon__v1__get_checkpoint_response__descriptor, &resp);
    if (e != NULL) return json_pack("{s:o}", "error", e);
    const Carbon__V1__GetCheckpointResponse *r = (const Carbon__V1__GetCheckpointResponse *)resp;
    json_t *peers = json_array();
    for (size_t k = 0; k < r->n_witnessed; k++) {
        const Carbon__V1__WitnessedCheckpoint *w = r->witnessed[k];
        char region[CARBON_REGION_SIZE];
        snprintf(region, sizeof region, "%s", w->region);
        gwctl_text_clean(region);
        json_array_append_new(peers, json_pack("{s:s, s:o}", "region", region, "cosigned",
                                               console_checkpoint_json(c, region, &w->checkpoint)));
    }
    json_t *doc = json_pack("{s:o, s:o}", "own", console_checkpoint_json(c, c->targets[i].where.region,
                                                                       &r->own_checkpoint), "peers", peers);
    protobuf_c_message_free_unpacked(resp, NULL);
    return doc;
}

/* The value of series in a /metrics object m as a number (0 when absent). */
static uint64_t console_metric_u64(const json_t *m, const char *series) {
    uint64_t v = 0;
    if (gwctl_parse_u64(json_string_value(json_object_get(m, series)), &v) != 0) v = 0;
    return v;
}

/* What target i's own /metrics says, when its API refused this certificate
 * (err, consumed): for "indoubt" {"count", "mixed"}, for "forks" {"open",
 * "forks": []} (the sum over the witnessed regions), with "source":
 * "metrics" and the refusal as "denied". {"error": err} when it has no
 * metrics address or it does not answer. */
static json_t *console_from_metrics(console_t *c, size_t i, const char *what, json_t *err) {
    const char *status = json_string_value(json_object_get(err, "status"));
    char why[256];
    json_t *m = NULL;
    if (c->targets[i].metrics[0] != '\0' && status != NULL && strcmp(status, "PERMISSION_DENIED") == 0)
        m = console_metrics_read(&c->targets[i], why, sizeof why);
    if (m == NULL) return json_pack("{s:o}", "error", err);
    json_t *doc;
    if (strcmp(what, "indoubt") == 0) {
        doc = json_pack("{s:I, s:I}", "count", (json_int_t)console_metric_u64(m, "carbon_legs_in_doubt"), "mixed",
                        (json_int_t)console_metric_u64(m, "carbon_legs_heuristic_mixed"));
    } else {
        uint64_t open = 0;
        const char *key;
        json_t *v;
        json_object_foreach(m, key, v) {
            if (strncmp(key, "carbon_audit_forks_unacknowledged{", 34) == 0) open += console_metric_u64(m, key);
        }
        doc = json_pack("{s:I, s:[]}", "open", (json_int_t)open, "forks");
    }
    json_decref(m);
    json_object_set_new(doc, "source", json_string("metrics"));
    json_object_set_new(doc, "denied", err);
    return doc;
}

/* Audit.ListForks of target i (open ones): {"open": N, "forks": [...]}. */
static json_t *console_forks(console_t *c, size_t i) {
    Carbon__V1__ListForksRequest req = CARBON__V1__LIST_FORKS_REQUEST__INIT;
    ProtobufCMessage *resp;
    json_t *e = console_call(c, i, "/carbon.v1.Audit/ListForks", &req.base,
                             &carbon__v1__list_forks_response__descriptor, &resp);
    if (e != NULL) return console_from_metrics(c, i, "forks", e);
    const Carbon__V1__ListForksResponse *r = (const Carbon__V1__ListForksResponse *)resp;
    json_t *forks = json_array();
    size_t open = 0;
    for (size_t k = 0; k < r->n_forks; k++) {
        const Carbon__V1__Fork *f = r->forks[k];
        open += !f->acknowledged;
        json_array_append_new(forks, json_pack("{s:o, s:o, s:o, s:b}", "id", gwctl_json_text(f->id), "region",
                                               gwctl_json_text(f->region), "detected_unix_ms",
                                               gwctl_json_u64(f->detected_unix_ms), "acknowledged",
                                               f->acknowledged));
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    return json_pack("{s:I, s:o}", "open", (json_int_t)open, "forks", forks);
}

/* Operations.ListInDoubt of target i as JSON, or the error object in *err. */
static json_t *console_indoubt_of(console_t *c, size_t i, json_t **err) {
    Carbon__V1__ListInDoubtRequest req = CARBON__V1__LIST_IN_DOUBT_REQUEST__INIT;
    req.limit = CONSOLE_LIST_LIMIT;
    ProtobufCMessage *resp;
    *err = console_call(c, i, "/carbon.v1.Operations/ListInDoubt", &req.base,
                        &carbon__v1__list_in_doubt_response__descriptor, &resp);
    if (*err != NULL) return NULL;
    json_t *doc = pbjson_message(resp);
    protobuf_c_message_free_unpacked(resp, NULL);
    if (json_object_get(doc, "legs") == NULL) json_object_set_new(doc, "legs", json_array());
    return doc;
}

/* The in-doubt summary of target i: {"count", "mixed"} or {"error"}. */
static json_t *console_indoubt_summary(console_t *c, size_t i) {
    json_t *err, *doc = console_indoubt_of(c, i, &err);
    if (doc == NULL) return console_from_metrics(c, i, "indoubt", err);
    json_t *legs = json_object_get(doc, "legs");
    size_t mixed = 0, k;
    json_t *leg;
    json_array_foreach(legs, k, leg) {
        const char *state = json_string_value(json_object_get(leg, "state"));
        mixed += state != NULL && strcmp(state, "HEURISTIC_MIXED") == 0;
    }
    json_t *s = json_pack("{s:I, s:I}", "count", (json_int_t)json_array_size(legs), "mixed", (json_int_t)mixed);
    json_decref(doc);
    return s;
}

/* The local catalogs (as gwctl catalog): region, version, status, digest. */
static json_t *console_catalogs(const console_t *c) {
    json_t *a = json_array();
    if (c->catalog_dir == NULL) return a;
    catalog_set_t *set = catalog_set_new();
    char err[512];
    if (catalog_set_load_dir(set, c->catalog_dir, err, sizeof err) >= 0) {
        const catalog_t *cats[CATALOG_SET_REGIONS_MAX];
        size_t n = catalog_set_snapshot(set, cats, CATALOG_SET_REGIONS_MAX);
        for (size_t k = 0; k < n && k < CATALOG_SET_REGIONS_MAX; k++)
            json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:s}", "region", cats[k]->region, "version",
                                               cats[k]->version, "status", catalog_status_name(cats[k]->status),
                                               "digest", cats[k]->digest_hex, "unit", cats[k]->display_unit));
    }
    catalog_set_free(set);
    return a;
}

static console_reply_t console_federation(console_t *c) {
    json_t *regions = json_array();
    for (size_t i = 0; i < c->n; i++) {
        json_t *r = json_pack("{s:s, s:s}", "region", c->targets[i].where.region, "address",
                              c->targets[i].where.address);
        json_object_set_new(r, "health", console_health(c, i));
        json_object_set_new(r, "checkpoint", console_checkpoints(c, i));
        json_object_set_new(r, "forks", console_forks(c, i));
        json_object_set_new(r, "indoubt", console_indoubt_summary(c, i));
        json_array_append_new(regions, r);
    }
    return (console_reply_t){200, json_pack("{s:o, s:o}", "regions", regions, "catalogs", console_catalogs(c))};
}

static console_reply_t console_indoubt(console_t *c) {
    json_t *regions = json_array();
    for (size_t i = 0; i < c->n; i++) {
        json_t *err, *doc = console_indoubt_of(c, i, &err);
        if (doc == NULL) doc = json_pack("{s:o}", "error", err);
        json_object_set_new(doc, "region", json_string(c->targets[i].where.region));
        json_array_append_new(regions, doc);
    }
    return (console_reply_t){200, json_pack("{s:o}", "regions", regions)};
}

/* The target named by ?region=, or -1 after filling *bad. */
static int console_region_arg(console_t *c, const char *region, console_reply_t *bad) {
    int i = console_target_of(c, region);
    if (i < 0) *bad = console_error(400, "BAD_REGION", "", "region= must name one of the targets");
    return i;
}

/* The batch number of ?from= (absent: 0, from the first), or -1 after
 * filling *bad: 1..19 decimal digits. */
static int console_from_arg(const char *from, uint64_t *seq, console_reply_t *bad) {
    *seq = 0;
    if (from == NULL) return 0;
    size_t n = strlen(from);
    if (n >= 1 && n <= 18 && strspn(from, "0123456789") == n) {
        *seq = strtoull(from, NULL, 10);
        return 0;
    }
    *bad = console_error(400, "BAD_FROM", "", "from= must be a batch number of 1..18 digits");
    return -1;
}

static console_reply_t console_batches(console_t *c, const char *region, const char *peer, const char *incoming,
                                       const char *from) {
    console_reply_t bad;
    int i = console_region_arg(c, region, &bad);
    if (i < 0) return bad;
    if (peer == NULL || !region_code_valid(peer))
        return console_error(400, "BAD_PEER", "", "peer= must be a region code");
    if (incoming != NULL && strcmp(incoming, "0") != 0 && strcmp(incoming, "1") != 0)
        return console_error(400, "BAD_DIRECTION", "", "incoming= must be 0 or 1");
    Carbon__V1__ListBatchesRequest req = CARBON__V1__LIST_BATCHES_REQUEST__INIT;
    if (console_from_arg(from, &req.from_seq, &bad) != 0) return bad;
    req.peer_region = (char *)peer;
    req.outgoing = !(incoming != NULL && strcmp(incoming, "1") == 0);
    ProtobufCMessage *resp;
    json_t *e = console_call(c, (size_t)i, "/carbon.v1.Operations/ListBatches", &req.base,
                             &carbon__v1__list_batches_response__descriptor, &resp);
    return console_answer(e, resp);
}

static console_reply_t console_reconcile(console_t *c, const char *region, const char *peer, const char *from) {
    console_reply_t bad;
    int i = console_region_arg(c, region, &bad);
    if (i < 0) return bad;
    if (peer == NULL || !region_code_valid(peer))
        return console_error(400, "BAD_PEER", "", "peer= must be a region code");
    Carbon__V1__ReconcileRequest req = CARBON__V1__RECONCILE_REQUEST__INIT;
    if (console_from_arg(from, &req.from_seq, &bad) != 0) return bad;
    req.peer_region = (char *)peer;
    ProtobufCMessage *resp;
    json_t *e = console_call(c, (size_t)i, "/carbon.v1.Operations/Reconcile", &req.base,
                             &carbon__v1__reconcile_response__descriptor, &resp);
    return console_answer(e, resp);
}

/* 1 if s is a trace subject: 32 hex digits, or REGION:DIGITS. */
static int console_subject_valid(const char *s) {
    if (s == NULL || strlen(s) > 40) return 0;
    const char *colon = strchr(s, ':');
    if (colon == NULL) {
        if (strlen(s) != 32) return 0;
        for (const char *p = s; *p; p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
        return 1;
    }
    char region[CARBON_REGION_SIZE];
    if ((size_t)(colon - s) >= sizeof region) return 0;
    snprintf(region, sizeof region, "%.*s", (int)(colon - s), s);
    uint64_t serial;
    return region_code_valid(region) && gwctl_parse_u64(colon + 1, &serial) == 0;
}

static console_reply_t console_trace(console_t *c, const char *subject) {
    if (!console_subject_valid(subject))
        return console_error(400, "BAD_SUBJECT", "", "subject= is a transfer id (32 hex digits) or REGION:SERIAL");
    char why[512];
    json_t *doc = console_trace_run(c, subject, why, sizeof why);
    if (doc == NULL) return console_error(502, "TRACE_FAILED", "", why);
    return (console_reply_t){200, doc};
}

static console_reply_t console_metrics(console_t *c, const char *region) {
    console_reply_t bad;
    int i = console_region_arg(c, region, &bad);
    if (i < 0) return bad;
    if (c->targets[i].metrics[0] == '\0')
        return console_error(404, "NO_METRICS_ADDRESS", "", "no --metrics address for this region");
    char why[256];
    json_t *m = console_metrics_read(&c->targets[i], why, sizeof why);
    if (m == NULL) return console_error(504, "METRICS_UNREACHABLE", "", why);
    return (console_reply_t){200, json_pack("{s:s, s:o}", "region", region, "metrics", m)};
}

console_reply_t console_api_get(console_t *c, const char *path, const char *(*get)(void *cls, const char *name),
                                void *cls) {
    CARBON_ASSERT(c != NULL && path != NULL && get != NULL);
    if (!strcmp(path, "/api/config")) return console_config(c);
    if (!strcmp(path, "/api/federation")) return console_federation(c);
    if (!strcmp(path, "/api/indoubt")) return console_indoubt(c);
    if (!strcmp(path, "/api/batches"))
        return console_batches(c, get(cls, "region"), get(cls, "peer"), get(cls, "incoming"), get(cls, "from"));
    if (!strcmp(path, "/api/reconcile"))
        return console_reconcile(c, get(cls, "region"), get(cls, "peer"), get(cls, "from"));
    if (!strcmp(path, "/api/trace")) return console_trace(c, get(cls, "subject"));
    if (!strcmp(path, "/api/metrics")) return console_metrics(c, get(cls, "region"));
    if (!strcmp(path, "/api/resolve"))
        return console_error(405, "METHOD_NOT_ALLOWED", "", "resolve is a POST with a typed confirmation");
    return console_error(404, "NOT_FOUND", "", "no such API");
}

/* POST /api/resolve {"region", "transfer_id", "action": "commit"|"abort"|
 * "compensate"|"close" (or its older name "close-denied"), "reason",
 * "confirm"}: confirm must repeat
 * transfer_id; the gateway applies gwctl resolve's rules
 * (Operations.ResolveInDoubt). */
static console_reply_t console_resolve(console_t *c, const json_t *body) {
    const char *region = json_string_value(json_object_get(body, "region"));
    const char *tid = json_string_value(json_object_get(body, "transfer_id"));
    const char *action = json_string_value(json_object_get(body, "action"));
    const char *reason = json_string_value(json_object_get(body, "reason"));
    const char *confirm = json_string_value(json_object_get(body, "confirm"));
    console_reply_t bad;
    int i = console_region_arg(c, region, &bad);
    if (i < 0) return bad;
    if (tid == NULL || reason == NULL || action == NULL || strlen(reason) > 512 || strlen(tid) > 64)
        return console_error(400, "BAD_REQUEST", "", "transfer_id, action and reason (at most 512 bytes) are required");
    if (confirm == NULL || strcmp(confirm, tid) != 0)
        return console_error(400, "NOT_CONFIRMED", "", "type the transfer id again to confirm");
    int commit = !strcmp(action, "commit"), abort_ = !strcmp(action, "abort"), comp = !strcmp(action, "compensate");
    int close_ = !strcmp(action, "close") || !strcmp(action, "close-denied");
    if (commit + abort_ + comp + close_ != 1)
        return console_error(400, "BAD_ACTION", "", "action is commit, abort, compensate or close");
    Carbon__V1__ResolveInDoubtRequest req = CARBON__V1__RESOLVE_IN_DOUBT_REQUEST__INIT;
    req.transfer_id = (char *)tid;
    req.decision = commit || comp ? CARBON__V1__DECISION__DECISION_COMMIT : CARBON__V1__DECISION__DECISION_ABORT;
    req.compensate = comp || close_;
    req.reason = (char *)reason;
    ProtobufCMessage *resp;
    json_t *e = console_call(c, (size_t)i, "/carbon.v1.Operations/ResolveInDoubt", &req.base,
                             &carbon__v1__resolve_in_doubt_response__descriptor, &resp);
    return console_answer(e, resp);
}

console_reply_t console_api_post(console_t *c, const char *path, const json_t *body) {
    CARBON_ASSERT(c != NULL && path != NULL && body != NULL);
    if (!strcmp(path, "/api/resolve")) return console_resolve(c, body);
    return console_error(404, "NOT_FOUND", "", "no such action");
}
