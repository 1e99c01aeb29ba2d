/* test_bad_input.c - every Registry and Federation method of a real gateway
 * refuses bad input with the right status and reason, and changes no store
 * (issue 8 item 3; DESIGN §4 "a rejected request changes no state", §9.4).
 *
 * One 3-region federation per test (a group of rows). Each row takes the
 * method's valid base request, changes one field (a path into the message,
 * e.g. "legs.0.blocks.0.serial_end"), sends it, and checks the gRPC status,
 * the carbon-reason trailing metadata, and federation_store_snapshot() of all
 * three regions before and after. Wire-level rows send raw bytes: junk, every
 * prefix of the valid base (truncated messages), more than max_message_bytes,
 * an empty message. Caller rows send the valid base with a certificate of the
 * wrong role or region.
 *
 * A Prepare leg that is well-formed but unacceptable (unknown digest,
 * methodology or account, numbers that are not the quote, expired) is not a
 * refused request: the destination answers OK with a no vote and records the
 * refusal, so that a replay gets the same vote. For those rows the called
 * region's store may change, the destination account must not, and no other
 * region's store may.
 *
 * The field groups end with their controls: the unchanged base requests are
 * answered as expected and the mutating ones do change the store, so every
 * refusal above was caused by the field that was changed. */
#include "tests/support/gateway_harness.h"
#include "tests/support/proc.h"
#include "tests/support/registry_client.h"

#include "gateway/arena.h"
#include "gateway/rpc/grpc_lifetime.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TJ 0 /* instance (and region) indexes */
#define BJ 1
#define HE 2
#define REGIONS 3
#define CALL_TIMEOUT_MS 10000
#define MAX_MESSAGE_BYTES (1 << 20) /* the harness default */
#define TEST_TIMEOUT_S 180
#ifndef BAD_INPUT_CHECK_EMBEDDED_NUL
#define BAD_INPUT_CHECK_EMBEDDED_NUL 1 /* the server refuses NUL inside strings */
#endif
#ifndef BAD_INPUT_CHECK_UTF8
#define BAD_INPUT_CHECK_UTF8 1 /* the server refuses strings that are not UTF-8 */
#endif
#ifndef BAD_INPUT_CHECK_BLOCK_ORIGIN
#define BAD_INPUT_CHECK_BLOCK_ORIGIN 1 /* Prepare votes no to blocks of another origin */
#endif

static federation_t *fed;

static void suite_fini(void) {
    federation_free(fed);
    fed = NULL;
    grpc_lifetime_end(GRPC_LIFETIME_END_WAIT_MS);
}

TestSuite(bad_input, .init = grpc_lifetime_begin, .fini = suite_fini, .timeout = TEST_TIMEOUT_S);

/* ---- the federation and its accounts ------------------------------------------ */

static const char *const registry_cert[REGIONS] = {"CN-TJ-registry", "CN-BJ-registry",
                                                   "CN-HE-registry"};

static grpc_channel *channel(int i, const char *cert) {
    grpc_channel *ch = federation_channel(fed, i, cert);
    cr_assert_not_null(ch, "federation_channel(%d, %s): %s", i, cert, federation_last_error());
    return ch;
}

/* What the base requests refer to: a Quote by BJ's gateway for a leg BJ -> TJ. */
static struct {
    uint64_t credited_g, debited_g, discount_g;
    char dest_meth[32], src_digest[65], dst_digest[65];
    uint64_t batch_seq;
} leg_ref;

static void start(void) {
    federation_options_t o = {.regions_n = REGIONS, .leg_expiry_ms = 30000};
    fed = federation_start(&o);
    cr_assert_not_null(fed, "federation_start: %s", federation_last_error());
    static const char *const acct[REGIONS] = {"tj-a", "bj-b", "he-c"};
    static const char *const meth[REGIONS] = {"TJ-GT-01", "BJ-EL-01", "HE-RC-01"};
    client_status_t st;
    for (int r = 0; r < REGIONS; r++) {
        cr_assert_eq(rc_open(channel(r, registry_cert[r]), acct[r], &st), GRPC_STATUS_OK,
                     "open %s: %s", acct[r], st.details);
        char iid[33], fp[64];
        rc_new_id(iid);
        snprintf(fp, sizeof fp, "bad-input-setup-%s", iid);
        cr_assert_eq(rc_issue(channel(r, registry_cert[r]), iid, acct[r], meth[r], 100000, fp,
                              NULL, &st),
                     GRPC_STATUS_OK, "issue to %s: %s", acct[r], st.details);
    }
    /* 200 Beijing points of recycling to Tianjin: recognized as TJ-RC-01 at 4/5, whole kg. */
    Carbon__V1__QuoteResponse *q = NULL;
    cr_assert_eq(rc_quote(channel(BJ, registry_cert[BJ]), "bj-b", "CN-TJ", "BJ-RC-01", 200, &q, &st),
                 GRPC_STATUS_OK, "quote: %s", st.details);
    leg_ref.credited_g = q->quote->credited_g;
    leg_ref.debited_g = q->quote->debited_g;
    leg_ref.discount_g = q->quote->discount_g;
    snprintf(leg_ref.dest_meth, sizeof leg_ref.dest_meth, "%s", q->quote->destination_methodology_id);
    snprintf(leg_ref.src_digest, sizeof leg_ref.src_digest, "%s", q->quote->source_catalog_digest);
    snprintf(leg_ref.dst_digest, sizeof leg_ref.dst_digest, "%s",
             q->quote->destination_catalog_digest);
    protobuf_c_message_free_unpacked(&q->base, NULL);
    cr_assert_eq(leg_ref.credited_g, 1000);
    cr_assert_eq(leg_ref.debited_g, 1250);
    leg_ref.batch_seq = 1000;
}

/* ---- store snapshots ------------------------------------------------------------- */

typedef struct {
    char *s[REGIONS];
} snaps_t;

/* federation_store_snapshot() of region r. It reads KEYS, then each key: a
 * key that settlement removes in between (after an accepted transfer) fails
 * that snapshot, so it is taken again. */
static char *snap(int r) {
    char *s = NULL;
    for (int tries = 0; s == NULL && tries < 10; tries++) {
        if (tries > 0) proc_sleep_ms(50);
        s = federation_store_snapshot(fed, r);
    }
    cr_assert_not_null(s, "snapshot of %s: %s", federation_region(fed, r), federation_last_error());
    return s;
}

static snaps_t snap_all(void) {
    snaps_t s;
    for (int r = 0; r < REGIONS; r++) s.s[r] = snap(r);
    return s;
}

/* The snapshot without its first line: "DBSIZE n (without leases k)" comes
 * from two commands (DBSIZE, KEYS) between which a gateway may take or drop
 * its recovery lease, so n can differ while no key the snapshot covers did;
 * the per-key lines that follow describe the store completely. */
static const char *keys_of(const char *snap) {
    const char *nl = strchr(snap, '\n');
    return nl != NULL ? nl + 1 : snap;
}

/* Expects every region's store as it was, except region `except` (-1: none). */
static void expect_unchanged(snaps_t *before, int except, const char *what) {
    snaps_t after = snap_all();
    for (int r = 0; r < REGIONS; r++) {
        if (r != except)
            cr_expect_str_eq(keys_of(after.s[r]), keys_of(before->s[r]),
                             "%s changed the store of %s:\nbefore:\n%s\nafter:\n%s", what,
                             federation_region(fed, r), before->s[r], after.s[r]);
        free(after.s[r]);
        free(before->s[r]);
    }
}

/* ---- setting one field of a message by path --------------------------------------- */

/* A value for a string field: "*N*c" is N copies of c, anything else itself. */
static char *string_value(arena_t *a, const char *v) {
    int n = 0;
    char c = 0;
    if (v[0] == '*' && sscanf(v, "*%d*%c", &n, &c) == 2) {
        char *s = arena_alloc(a, (size_t)n + 1);
        memset(s, c, (size_t)n);
        return s;
    }
    return arena_strdup(a, v);
}

/* Sets the field at `path` ("legs.0.blocks.0.serial_end") of m to value:
 * strings as string_value(), numbers in decimal (enums may be negative),
 * bytes as "len:N" (N zero bytes), a message field "null" unsets it, and a
 * repeated field "#N" gets N elements, copies of its first. */
static void set_path(arena_t *a, ProtobufCMessage *m, const char *path, const char *value) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    char *save = NULL;
    char *tok = strtok_r(buf, ".", &save);
    for (;;) {
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(m->descriptor, tok);
        cr_assert_not_null(f, "no field '%s' in %s", tok, m->descriptor->name);
        void *member = (char *)m + f->offset;
        char *next = strtok_r(NULL, ".", &save);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t *count = (size_t *)((char *)m + f->quantifier_offset);
            void ***array = member;
            if (next == NULL) {
                int n = 0;
                cr_assert(value[0] == '#' && sscanf(value + 1, "%d", &n) == 1 && n >= 0,
                          "repeated %s takes #N", tok);
                cr_assert(*count >= 1 || n == 0, "%s has no element to copy", tok);
                void **copy = arena_alloc(a, ((size_t)n + 1) * sizeof *copy);
                for (int i = 0; i < n; i++) copy[i] = (*array)[0];
                *array = copy;
                *count = (size_t)n;
                return;
            }
            size_t index = strtoul(next, NULL, 10);
            cr_assert_lt(index, *count, "%s has no element %zu", tok, index);
            next = strtok_r(NULL, ".", &save);
            if (next == NULL) {
                cr_assert_eq(f->type, PROTOBUF_C_TYPE_STRING, "element of %s", tok);
                (*array)[index] = string_value(a, value);
                return;
            }
            m = (ProtobufCMessage *)(*array)[index];
            tok = next;
            continue;
        }
        if (next != NULL) {
            cr_assert_eq(f->type, PROTOBUF_C_TYPE_MESSAGE, "%s is not a message", tok);
            m = *(ProtobufCMessage **)member;
            cr_assert_not_null(m, "%s is unset", tok);
            tok = next;
            continue;
        }
        switch (f->type) {
        case PROTOBUF_C_TYPE_STRING: *(char **)member = string_value(a, value); return;
        case PROTOBUF_C_TYPE_UINT64: *(uint64_t *)member = strtoull(value, NULL, 10); return;
        case PROTOBUF_C_TYPE_UINT32: *(uint32_t *)member = (uint32_t)strtoul(value, NULL, 10); return;
        case PROTOBUF_C_TYPE_ENUM: *(int *)member = (int)strtol(value, NULL, 10); return;
        case PROTOBUF_C_TYPE_BOOL: *(protobuf_c_boolean *)member = atoi(value) != 0; return;
        case PROTOBUF_C_TYPE_BYTES: {
            size_t n = strtoul(value + 4, NULL, 10);
            cr_assert(strncmp(value, "len:", 4) == 0, "bytes take len:N");
            ProtobufCBinaryData *b = member;
            b->data = arena_alloc(a, n + 1);
            b->len = n;
            return;
        }
        case PROTOBUF_C_TYPE_MESSAGE:
            cr_assert_str_eq(value, "null", "a message field takes null");
            *(ProtobufCMessage **)member = NULL;
            return;
        default: cr_assert_fail("field %s: type %d not handled", tok, (int)f->type);
        }
    }
}

/* Sets several fields: paths and values separated by ';' ("a;b", "1;2"). */
static void apply(arena_t *a, ProtobufCMessage *m, const char *paths, const char *values) {
    char p[256], v[256];
    snprintf(p, sizeof p, "%s", paths);
    snprintf(v, sizeof v, "%s", values);
    char *ps = NULL, *vs = NULL;
    int several = strchr(values, ';') != NULL; /* else one value, which may be "" */
    char *path = strtok_r(p, ";", &ps);
    char *value = several ? strtok_r(v, ";", &vs) : v;
    while (path != NULL) {
        cr_assert_not_null(value, "row %s: fewer values than fields", paths);
        set_path(a, m, path, value);
        path = strtok_r(NULL, ";", &ps);
        value = several ? strtok_r(NULL, ";", &vs) : NULL;
    }
}

/* ---- the methods and their valid base requests -------------------------------------- */

#define ID_A "0123456789abcdef0123456789abcdef"
#define U64_MAX "18446744073709551615"
#define U32_MAX "4294967295"

static char *fresh_id(arena_t *a) {
    char *id = arena_alloc(a, 33);
    rc_new_id(id);
    return id;
}

static ProtobufCMessage *base_open_account(arena_t *a) {
    Carbon__V1__OpenAccountRequest *m = arena_alloc(a, sizeof *m);
    carbon__v1__open_account_request__init(m);
    m->account_id = arena_printf(a, "tj-new-%s", fresh_id(a));
    m->holder_kind = "household";
    return &m->base;
}

static ProtobufCMessage *base_issue(arena_t *a) {
    Carbon__V1__IssueRequest *m = arena_alloc(a, sizeof *m);
    carbon__v1__issue_request__init(m);
    m->issuance_id = fresh_id(a);
    m->account_id = "tj-a";
    m->methodology_id = "TJ-GT-01";
    m->vintage_year = 2026;
    m->quantity_milli = 20000;
    m->activity_fingerprint = arena_printf(a, "bad-input-%s", m->issuance_id);
    return &m->base;
}

static ProtobufCMessage *base_quote(arena_t *a) {
    Carbon__V1__QuoteRequest *m = arena_alloc(a, sizeof *m);
    carbon__v1__quote_request__init(m);
    m->from_account_id = "tj-a";
    m->to_region = "CN-BJ";
    m->methodology_id = "TJ-GT-01";
    m->amount_units = 1;
    return &m->base;
}

static ProtobufCMessage *base_transfer(arena_t *a) {
    Carbon__V1__TransferRequest *m = arena_alloc(a, sizeof *m);
    carbon__v1__transfer_request__init(m);
    m->transfer_id = fresh_id(a);
    m->from_account_id = "tj-a";
    m->to_region = "CN-BJ";
    m->to_account_id = "bj-b";
    m->methodology_id = "TJ-GT-01";
    m->amount_units = 1;
    return &m->base;
}

static ProtobufCMessage *base_get_transfer(arena_t *a) {
    Carbon__V1__GetTransferRequest *m = arena_alloc(a, sizeof *m);
    carbon__v1__get_transfer_request__init(m);
    m->transfer_id = fresh_id(a);
    return &m->base;
}

static ProtobufCMessage *base_list_transfers(arena_t *a) {
    Carbon__V1__ListTransfersRequest *m = arena_alloc(a, sizeof *m);
    carbon__v1__list_transfers_request__init(m);
    m->limit = 10;
    return &m->base;
}

static ProtobufCMessage *base_get_account(arena_t *a) {
    Carbon__V1__GetAccountRequest *m = arena_alloc(a, sizeof *m);
    carbon__v1__get_account_request__init(m);
    m->account_id = "tj-a";
    return &m->base;
}

static ProtobufCMessage *base_retire(arena_t *a) {
    Carbon__V1__RetireRequest *m = arena_alloc(a, sizeof *m);
    carbon__v1__retire_request__init(m);
    m->retirement_id = fresh_id(a);
    m->account_id = "tj-a";
    m->methodology_id = "TJ-GT-01";
    m->amount_units = 1;
    m->purpose = CARBON__V1__RETIREMENT_PURPOSE__RETIREMENT_PURPOSE_VOLUNTARY_NEUTRALITY;
    m->beneficiary = "bad input test";
    return &m->base;
}

static ProtobufCMessage *base_hello(arena_t *a) {
    Carbon__V1__HelloRequest *m = arena_alloc(a, sizeof *m);
    carbon__v1__hello_request__init(m);
    m->protocol_version = 1;
    m->region = "CN-BJ";
    return &m->base;
}

/* A leg of 1250 g of Beijing recycling credits from bj-b to tj-a, with the
 * numbers and digests of BJ's own quote: Tianjin votes yes to it. */
static ProtobufCMessage *base_prepare(arena_t *a) {
    Carbon__V1__CreditBlock *b = arena_alloc(a, sizeof *b);
    carbon__v1__credit_block__init(b);
    b->origin_region = "CN-BJ";
    b->methodology_id = "BJ-RC-01";
    b->vintage_year = 2026;
    b->serial_start = 1;
    b->serial_end = leg_ref.debited_g;
    Carbon__V1__Leg *l = arena_alloc(a, sizeof *l);
    carbon__v1__leg__init(l);
    l->transfer_id = fresh_id(a);
    l->from_account = "CN-BJ/bj-b";
    l->to_account = "CN-TJ/tj-a";
    l->n_blocks = 1;
    l->blocks = arena_alloc(a, sizeof *l->blocks);
    l->blocks[0] = b;
    l->credited_g = leg_ref.credited_g;
    l->discount_g = leg_ref.discount_g;
    l->destination_methodology_id = leg_ref.dest_meth;
    l->source_catalog_digest = leg_ref.src_digest;
    l->destination_catalog_digest = leg_ref.dst_digest;
    l->expiry_unix_ms = (uint64_t)time(NULL) * 1000 + 60000;
    Carbon__V1__PrepareRequest *m = arena_alloc(a, sizeof *m);
    carbon__v1__prepare_request__init(m);
    m->source_region = "CN-BJ";
    m->batch_seq = ++leg_ref.batch_seq;
    m->n_legs = 1;
    m->legs = arena_alloc(a, sizeof *m->legs);
    m->legs[0] = l;
    return &m->base;
}

static ProtobufCMessage *base_decide(arena_t *a) {
    Carbon__V1__LegDecision *d = arena_alloc(a, sizeof *d);
    carbon__v1__leg_decision__init(d);
    d->transfer_id = fresh_id(a);
    d->decision = CARBON__V1__DECISION__DECISION_COMMIT; /* of a leg never prepared: nothing */
    Carbon__V1__DecideRequest *m = arena_alloc(a, sizeof *m);
    carbon__v1__decide_request__init(m);
    m->source_region = "CN-BJ";
    m->batch_seq = 1;
    m->n_decisions = 1;
    m->decisions = arena_alloc(a, sizeof *m->decisions);
    m->decisions[0] = d;
    return &m->base;
}

static ProtobufCMessage *base_query_decision(arena_t *a) {
    Carbon__V1__QueryDecisionRequest *m = arena_alloc(a, sizeof *m);
    carbon__v1__query_decision_request__init(m);
    m->region = "CN-BJ";
    m->n_transfer_ids = 1;
    m->transfer_ids = arena_alloc(a, sizeof *m->transfer_ids);
    m->transfer_ids[0] = fresh_id(a);
    return &m->base;
}

/* A well-formed signed note of a checkpoint of CN-BJ's log, but signed by an
 * unknown key (key ID 0, signature 0): refused at the signature. */
static ProtobufCMessage *base_add_checkpoint(arena_t *a) {
    static const char note[] =
        "jjj.carbon/CN-BJ/audit\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n"
        "\xe2\x80\x94 jjj.carbon/CN-BJ/audit "
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    Carbon__V1__AddCheckpointRequest *m = arena_alloc(a, sizeof *m);
    carbon__v1__add_checkpoint_request__init(m);
    m->checkpoint.len = sizeof note - 1;
    m->checkpoint.data = arena_alloc(a, sizeof note);
    memcpy(m->checkpoint.data, note, sizeof note);
    return &m->base;
}

static ProtobufCMessage *base_fetch_batches(arena_t *a) {
    Carbon__V1__FetchBatchesRequest *m = arena_alloc(a, sizeof *m);
    carbon__v1__fetch_batches_request__init(m);
    m->region = "CN-BJ";
    m->from_seq = 1;
    m->to_seq = 10;
    return &m->base;
}

/* A use report of TJ serials 1-10, which TJ's map does not place at BJ
 * (they are at home, or were never issued): REFUSED, nothing changes. */
static ProtobufCMessage *base_report_use(arena_t *a) {
    Carbon__V1__CreditBlock *b = arena_alloc(a, sizeof *b);
    carbon__v1__credit_block__init(b);
    b->origin_region = "CN-TJ";
    b->methodology_id = "TJ-GT-01";
    b->vintage_year = 2026;
    b->serial_start = 1;
    b->serial_end = 10;
    Carbon__V1__UseReport *u = arena_alloc(a, sizeof *u);
    carbon__v1__use_report__init(u);
    u->report_id = fresh_id(a);
    u->kind = "retired";
    u->purpose = "voluntary_neutrality";
    u->n_blocks = 1;
    u->blocks = arena_alloc(a, sizeof *u->blocks);
    u->blocks[0] = b;
    Carbon__V1__ReportUseRequest *m = arena_alloc(a, sizeof *m);
    carbon__v1__report_use_request__init(m);
    m->region = "CN-BJ";
    m->n_reports = 1;
    m->reports = arena_alloc(a, sizeof *m->reports);
    m->reports[0] = u;
    return &m->base;
}

/* BJ asks TJ, the origin of TJ serials 1-10, whether it committed a leg
 * CN-HE -> CN-BJ/bj-x of them that TJ never prepared: answered ABORT,
 * nothing changes (a read). */
static ProtobufCMessage *base_confirm_origin(arena_t *a) {
    Carbon__V1__CreditBlock *b = arena_alloc(a, sizeof *b);
    carbon__v1__credit_block__init(b);
    b->origin_region = "CN-TJ";
    b->methodology_id = "TJ-GT-01";
    b->vintage_year = 2026;
    b->serial_start = 1;
    b->serial_end = 10;
    Carbon__V1__OriginQuery *q = arena_alloc(a, sizeof *q);
    carbon__v1__origin_query__init(q);
    q->transfer_id = fresh_id(a);
    q->source_region = "CN-HE";
    q->to_account = "CN-BJ/bj-x";
    q->n_blocks = 1;
    q->blocks = arena_alloc(a, sizeof *q->blocks);
    q->blocks[0] = b;
    Carbon__V1__ConfirmOriginRequest *m = arena_alloc(a, sizeof *m);
    carbon__v1__confirm_origin_request__init(m);
    m->region = "CN-BJ";
    m->n_legs = 1;
    m->legs = arena_alloc(a, sizeof *m->legs);
    m->legs[0] = q;
    return &m->base;
}

typedef struct {
    const char *service;  /* "Registry" or "Federation" */
    const char *name;     /* method */
    ProtobufCMessage *(*base)(arena_t *a);
    int base_changes;     /* the base request, accepted, changes the store */
    grpc_status_code base_code; /* what the unchanged base gets */
} method_t;

static const method_t methods[] = {
    {"Registry", "OpenAccount", base_open_account, 1, GRPC_STATUS_OK},
    {"Registry", "Issue", base_issue, 1, GRPC_STATUS_OK},
    {"Registry", "Quote", base_quote, 0, GRPC_STATUS_OK},
    {"Registry", "Transfer", base_transfer, 1, GRPC_STATUS_OK},
    {"Registry", "GetTransfer", base_get_transfer, 0, GRPC_STATUS_NOT_FOUND},
    {"Registry", "ListTransfers", base_list_transfers, 0, GRPC_STATUS_OK},
    {"Registry", "GetAccount", base_get_account, 0, GRPC_STATUS_OK},
    {"Registry", "Retire", base_retire, 1, GRPC_STATUS_OK},
    {"Federation", "Hello", base_hello, 0, GRPC_STATUS_OK},
    {"Federation", "Prepare", base_prepare, 1, GRPC_STATUS_OK},
    {"Federation", "Decide", base_decide, 0, GRPC_STATUS_OK},
    {"Federation", "QueryDecision", base_query_decision, 0, GRPC_STATUS_OK},
    {"Federation", "AddCheckpoint", base_add_checkpoint, 0, GRPC_STATUS_PERMISSION_DENIED},
    {"Federation", "FetchBatches", base_fetch_batches, 0, GRPC_STATUS_OK},
    {"Federation", "ReportUse", base_report_use, 0, GRPC_STATUS_OK},
    {"Federation", "ConfirmOrigin", base_confirm_origin, 0, GRPC_STATUS_OK},
};
#define METHODS_N (sizeof methods / sizeof methods[0])

static const method_t *method(const char *name) {
    for (size_t i = 0; i < METHODS_N; i++)
        if (strcmp(methods[i].name, name) == 0) return &methods[i];
    cr_assert_fail("no method %s", name);
    return NULL;
}

/* Who calls a method normally: the region's registry on Registry (TJ's, or
 * HE's for rows at HE), BJ's gateway on Federation. */
static const char *good_cert(const method_t *m, int at) {
    if (strcmp(m->service, "Federation") == 0) return at == BJ ? "CN-TJ-gateway" : "CN-BJ-gateway";
    return registry_cert[at];
}

static const ProtobufCMessageDescriptor *response_desc(const method_t *m) {
    const ProtobufCServiceDescriptor *s = strcmp(m->service, "Registry") == 0
                                              ? &carbon__v1__registry__descriptor
                                              : &carbon__v1__federation__descriptor;
    for (unsigned i = 0; i < s->n_methods; i++)
        if (strcmp(s->methods[i].name, m->name) == 0) return s->methods[i].output;
    cr_assert_fail("no %s.%s", m->service, m->name);
    return NULL;
}

static const ProtobufCMessageDescriptor *request_desc(const method_t *m) {
    const ProtobufCServiceDescriptor *s = strcmp(m->service, "Registry") == 0
                                              ? &carbon__v1__registry__descriptor
                                              : &carbon__v1__federation__descriptor;
    for (unsigned i = 0; i < s->n_methods; i++)
        if (strcmp(s->methods[i].name, m->name) == 0) return s->methods[i].input;
    cr_assert_fail("no %s.%s", m->service, m->name);
    return NULL;
}

/* Calls m at instance `at` with cert, msg or (msg NULL) raw bytes. */
static void call(const method_t *m, int at, const char *cert, const ProtobufCMessage *msg,
                 const uint8_t *raw, size_t raw_len, ProtobufCMessage **resp, client_status_t *st) {
    char path[96];
    snprintf(path, sizeof path, "/carbon.v1.%s/%s", m->service, m->name);
    ProtobufCMessage *r = NULL;
    grpc_channel *ch = channel(at, cert);
    if (msg != NULL)
        client_call(ch, path, msg, response_desc(m), &r, CALL_TIMEOUT_MS, st);
    else
        client_call_raw(ch, path, raw, raw_len, response_desc(m), &r, CALL_TIMEOUT_MS, st);
    if (resp != NULL)
        *resp = r;
    else if (r != NULL)
        protobuf_c_message_free_unpacked(r, NULL);
}

static int rows_run;

static void expect_status(const client_status_t *st, grpc_status_code want, const char *reason,
                          const char *what) {
    rows_run++;
    cr_expect_eq(st->code, want, "%s: got %s (%s), want %s", what, client_status_name(st->code),
                 st->details, client_status_name(want));
    if (reason != NULL)
        cr_expect_str_eq(st->reason, reason, "%s: carbon-reason '%s' (%s), want '%s'", what,
                         st->reason, st->details, reason);
}

/* ---- field rows ---------------------------------------------------------------------- */

typedef struct {
    const char *method;
    const char *path;     /* the field changed */
    const char *value;
    grpc_status_code want;
    const char *reason;   /* carbon-reason; NULL: not checked */
    int at;               /* instance called (TJ unless said) */
} row_t;

#define INVALID GRPC_STATUS_INVALID_ARGUMENT
#define DENIED GRPC_STATUS_PERMISSION_DENIED
#define PRECOND GRPC_STATUS_FAILED_PRECONDITION
#define NOTFOUND GRPC_STATUS_NOT_FOUND
#define EXHAUSTED GRPC_STATUS_RESOURCE_EXHAUSTED

/* Bad ids, in every field that carries a 128-bit request id. */
#define BAD_IDS(meth, field, reason)                                                     \
    {meth, field, "", INVALID, reason, TJ},                                              \
    {meth, field, "*31*a", INVALID, reason, TJ},                                         \
    {meth, field, "*33*a", INVALID, reason, TJ},                                         \
    {meth, field, "0123456789ABCDEF0123456789abcdef", INVALID, reason, TJ},              \
    {meth, field, "0123456789abcdeg0123456789abcdef", INVALID, reason, TJ},              \
    {meth, field, "0123456789abcdef-123456789abcdef", INVALID, reason, TJ},              \
    {meth, field, "\xe7\xa2\xb3" "3456789abcdef0123456789abcdef", INVALID, reason, TJ},    \
    {meth, field, "\xff\xfe" "23456789abcdef0123456789abcdef", INVALID, "MALFORMED", TJ}

/* Bad account ids (without region). */
#define BAD_ACCOUNTS(meth, field, reason)                                                \
    {meth, field, "", INVALID, reason, TJ},                                              \
    {meth, field, "*65*a", INVALID, reason, TJ},                                         \
    {meth, field, "CN-TJ/tj-a", INVALID, reason, TJ},                                    \
    {meth, field, "tj a", INVALID, reason, TJ},                                          \
    {meth, field, "tj-\xc3\xa4", INVALID, reason, TJ},                                   \
    {meth, field, "tj-a\n", INVALID, reason, TJ}

static const row_t registry_rows[] = {
    /* OpenAccount */
    BAD_ACCOUNTS("OpenAccount", "account_id", "BAD_ACCOUNT_ID"),
    {"OpenAccount", "holder_kind", "", INVALID, "BAD_HOLDER_KIND", TJ},
    {"OpenAccount", "holder_kind", "robot", INVALID, "BAD_HOLDER_KIND", TJ},
    {"OpenAccount", "holder_kind", "Personal", INVALID, "BAD_HOLDER_KIND", TJ},
    {"OpenAccount", "holder_kind", "*100000*p", INVALID, "BAD_HOLDER_KIND", TJ},
    /* tj-a is open as personal: the base request asks for household */
    {"OpenAccount", "account_id", "tj-a", GRPC_STATUS_ALREADY_EXISTS, "ACCOUNT_EXISTS", TJ},
    /* Issue */
    BAD_IDS("Issue", "issuance_id", "BAD_ID"),
    BAD_ACCOUNTS("Issue", "account_id", "BAD_ACCOUNT_ID"),
    {"Issue", "account_id", "nobody", NOTFOUND, "UNKNOWN_ACCOUNT", TJ},
    {"Issue", "vintage_year", "0", INVALID, "BAD_VINTAGE", TJ},
    {"Issue", "vintage_year", "1999", INVALID, "BAD_VINTAGE", TJ},
    {"Issue", "vintage_year", "2101", INVALID, "BAD_VINTAGE", TJ},
    {"Issue", "vintage_year", U32_MAX, INVALID, "BAD_VINTAGE", TJ},
    {"Issue", "activity_fingerprint", "", INVALID, "BAD_FINGERPRINT", TJ},
    {"Issue", "activity_fingerprint", "*257*f", INVALID, "BAD_FINGERPRINT", TJ},
    {"Issue", "activity_fingerprint", "card\x01", INVALID, "BAD_FINGERPRINT", TJ},
    {"Issue", "activity_fingerprint", "card\xc2\x85", INVALID, "BAD_FINGERPRINT", TJ}, /* C1 */
    {"Issue", "methodology_id", "", INVALID, "UNKNOWN_METHODOLOGY", TJ},
    {"Issue", "methodology_id", "TJ-NOPE-99", INVALID, "UNKNOWN_METHODOLOGY", TJ},
    {"Issue", "methodology_id", "BJ-EL-01", INVALID, "UNKNOWN_METHODOLOGY", TJ}, /* another region's */
    {"Issue", "methodology_id", "*1000*T", INVALID, "UNKNOWN_METHODOLOGY", TJ},
    {"Issue", "catalog_digest", "*64*0", PRECOND, "CATALOG_CHANGED", TJ},
    {"Issue", "catalog_digest", "x", PRECOND, "CATALOG_CHANGED", TJ},
    {"Issue", "quantity_milli", "0", INVALID, "BAD_QUANTITY", TJ},
    {"Issue", "quantity_milli", "1", INVALID, "BAD_QUANTITY", TJ}, /* less than a gram */
    {"Issue", "quantity_milli", U64_MAX, INVALID, "BAD_QUANTITY", TJ},
    {"Issue", "quantity_milli", "23704035094470000", INVALID, "BAD_QUANTITY", TJ}, /* 2^50 g */
    /* Quote */
    BAD_ACCOUNTS("Quote", "from_account_id", "BAD_ACCOUNT_ID"),
    {"Quote", "to_region", "", INVALID, "UNKNOWN_REGION", TJ},
    {"Quote", "to_region", "CN-TJ", INVALID, "UNKNOWN_REGION", TJ}, /* its own */
    {"Quote", "to_region", "CN-XX", INVALID, "UNKNOWN_REGION", TJ},
    {"Quote", "to_region", "cn-bj", INVALID, "UNKNOWN_REGION", TJ},
    {"Quote", "amount_units", "0", INVALID, "BAD_AMOUNT", TJ},
    {"Quote", "amount_units", U64_MAX, INVALID, "BAD_AMOUNT", TJ},
    {"Quote", "amount_units", "1125899906843", INVALID, "BAD_AMOUNT", TJ}, /* > 2^50 g */
    {"Quote", "methodology_id", "", INVALID, "UNKNOWN_METHODOLOGY", TJ},
    {"Quote", "methodology_id", "XX-NOPE-01", INVALID, "UNKNOWN_METHODOLOGY", TJ},
    {"Quote", "methodology_id", "HE-WA-01", PRECOND, "UNRECOGNIZED_METHODOLOGY", TJ},
    {"Quote", "from_account_id;to_region;methodology_id", "he-c;CN-TJ;HE-RC-01", INVALID,
     "AMOUNT_TOO_SMALL", HE},
    /* Transfer */
    BAD_IDS("Transfer", "transfer_id", "BAD_ID"),
    BAD_ACCOUNTS("Transfer", "from_account_id", "BAD_ACCOUNT_ID"),
    BAD_ACCOUNTS("Transfer", "to_account_id", "BAD_ACCOUNT_ID"),
    {"Transfer", "from_account_id", "nobody", NOTFOUND, "UNKNOWN_ACCOUNT", TJ},
    {"Transfer", "vintage_year", "1999", INVALID, "BAD_VINTAGE", TJ},
    {"Transfer", "vintage_year", "2101", INVALID, "BAD_VINTAGE", TJ},
    {"Transfer", "vintage_year", U32_MAX, INVALID, "BAD_VINTAGE", TJ},
    {"Transfer", "vintage_year", "2001", PRECOND, "INSUFFICIENT_BALANCE", TJ},
    {"Transfer", "to_region", "", INVALID, "UNKNOWN_REGION", TJ},
    {"Transfer", "to_region", "CN-TJ", INVALID, "UNKNOWN_REGION", TJ},
    {"Transfer", "to_region", "CN-XX", INVALID, "UNKNOWN_REGION", TJ},
    {"Transfer", "to_region", "*1000*X", INVALID, "UNKNOWN_REGION", TJ},
    {"Transfer", "amount_units", "0", INVALID, "BAD_AMOUNT", TJ},
    {"Transfer", "amount_units", U64_MAX, INVALID, "BAD_AMOUNT", TJ},
    {"Transfer", "amount_units", "1125899906843", INVALID, "BAD_AMOUNT", TJ},
    {"Transfer", "amount_units", "5", PRECOND, "INSUFFICIENT_BALANCE", TJ}, /* holds 4.75 kg */
    {"Transfer", "methodology_id", "XX-NOPE-01", INVALID, "UNKNOWN_METHODOLOGY", TJ},
    {"Transfer", "methodology_id", "*1000*T", INVALID, "UNKNOWN_METHODOLOGY", TJ},
    {"Transfer", "methodology_id", "HE-WA-01", PRECOND, "UNRECOGNIZED_METHODOLOGY", TJ},
    {"Transfer", "methodology_id", "BJ-EL-01", PRECOND, "INSUFFICIENT_BALANCE", TJ},
    {"Transfer", "expected_credited_g", "1", PRECOND, "QUOTE_CHANGED", TJ},
    {"Transfer", "expected_credited_g", U64_MAX, PRECOND, "QUOTE_CHANGED", TJ},
    /* at Hebei: 1 credit (100 g) of HE-RC-01 is not one Tianjin kg at 2/3 */
    {"Transfer", "from_account_id;to_region;to_account_id;methodology_id",
     "he-c;CN-TJ;tj-a;HE-RC-01", INVALID, "AMOUNT_TOO_SMALL", HE},
    /* GetTransfer */
    BAD_IDS("GetTransfer", "transfer_id", "BAD_ID"),
    {"GetTransfer", "transfer_id", ID_A, NOTFOUND, "UNKNOWN_TRANSFER", TJ},
    /* ListTransfers */
    {"ListTransfers", "limit", "1001", INVALID, "BAD_LIMIT", TJ},
    {"ListTransfers", "limit", U32_MAX, INVALID, "BAD_LIMIT", TJ},
    {"ListTransfers", "arrivals_only", "1", GRPC_STATUS_OK, "", TJ},
    {"ListTransfers", "after_cursor", U64_MAX, GRPC_STATUS_OK, "", TJ},
    /* GetAccount */
    BAD_ACCOUNTS("GetAccount", "account_id", "BAD_ACCOUNT_ID"),
    {"GetAccount", "account_id", "nobody", NOTFOUND, "UNKNOWN_ACCOUNT", TJ},
    {"GetAccount", "blocks_limit", "10001", INVALID, "BAD_LIMIT", TJ},
    {"GetAccount", "blocks_limit", U32_MAX, INVALID, "BAD_LIMIT", TJ},
    /* Retire */
    BAD_IDS("Retire", "retirement_id", "BAD_ID"),
    BAD_ACCOUNTS("Retire", "account_id", "BAD_ACCOUNT_ID"),
    {"Retire", "account_id", "nobody", NOTFOUND, "UNKNOWN_ACCOUNT", TJ},
    {"Retire", "purpose", "0", INVALID, "BAD_PURPOSE", TJ},
    {"Retire", "purpose", "6", INVALID, "BAD_PURPOSE", TJ},
    {"Retire", "purpose", "-1", INVALID, "BAD_PURPOSE", TJ},
    {"Retire", "purpose", "2147483647", INVALID, "BAD_PURPOSE", TJ},
    {"Retire", "beneficiary", "", INVALID, "BAD_BENEFICIARY", TJ},
    {"Retire", "beneficiary", "*257*b", INVALID, "BAD_BENEFICIARY", TJ},
    {"Retire", "beneficiary", "a\xc2\x9f", INVALID, "BAD_BENEFICIARY", TJ}, /* C1 */
    {"Retire", "beneficiary", "a\x7f", INVALID, "BAD_BENEFICIARY", TJ},
    {"Retire", "vintage_year", "1999", INVALID, "BAD_SELECTION", TJ},
    {"Retire", "vintage_year", "2101", INVALID, "BAD_SELECTION", TJ},
    {"Retire", "vintage_year", U32_MAX, INVALID, "BAD_SELECTION", TJ},
    {"Retire", "methodology_id", "*32*T", INVALID, "BAD_SELECTION", TJ},
    {"Retire", "methodology_id", "XX-NOPE-01", INVALID, "UNKNOWN_METHODOLOGY", TJ},
    {"Retire", "methodology_id", "HE-WA-01", PRECOND, "INSUFFICIENT_BALANCE", TJ},
    {"Retire", "amount_units", "0", INVALID, "BAD_AMOUNT", TJ},
    {"Retire", "amount_units", U64_MAX, INVALID, "BAD_AMOUNT", TJ},
    {"Retire", "amount_units", "1125899906843", INVALID, "BAD_AMOUNT", TJ},
    {"Retire", "amount_units", "5", PRECOND, "INSUFFICIENT_BALANCE", TJ},
};

static const row_t federation_rows[] = {
    /* Hello */
    {"Hello", "region", "CN-HE", DENIED, "REGION_MISMATCH", TJ},
    {"Hello", "region", "CN-TJ", DENIED, "REGION_MISMATCH", TJ},
    {"Hello", "region", "", DENIED, "REGION_MISMATCH", TJ},
    {"Hello", "region", "CN-XX", DENIED, "REGION_MISMATCH", TJ},
    {"Hello", "protocol_version", "0", PRECOND, "PROTOCOL_VERSION", TJ},
    {"Hello", "protocol_version", "2", PRECOND, "PROTOCOL_VERSION", TJ},
    {"Hello", "protocol_version", U32_MAX, PRECOND, "PROTOCOL_VERSION", TJ},
    /* Prepare: the batch */
    {"Prepare", "source_region", "CN-HE", DENIED, "REGION_MISMATCH", TJ},
    {"Prepare", "source_region", "CN-TJ", DENIED, "REGION_MISMATCH", TJ},
    {"Prepare", "source_region", "", DENIED, "REGION_MISMATCH", TJ},
    {"Prepare", "source_region", "CN-XX", DENIED, "REGION_MISMATCH", TJ},
    {"Prepare", "legs", "#0", INVALID, "BAD_BATCH_SIZE", TJ},
    {"Prepare", "legs", "#257", EXHAUSTED, "BATCH_TOO_LARGE", TJ},
    {"Prepare", "legs", "#2", INVALID, "MALFORMED_LEG", TJ}, /* one transfer twice */
    /* Prepare: a leg */
    BAD_IDS("Prepare", "legs.0.transfer_id", "MALFORMED_LEG"),
    {"Prepare", "legs.0.from_account", "", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.from_account", "bj-b", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.from_account", "CN-BJ/", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.from_account", "CN-BJ/*65*b", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.from_account", "CN-HE/he-c", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.from_account", "CN-XX/bj-b", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.from_account", "CN-BJ-TOO-LONG/bj-b", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.to_account", "", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.to_account", "tj-a", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.to_account", "CN-BJ/tj-a", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.to_account", "CN-TJ/", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.to_account", "CN-TJ/tj a", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.blocks", "#0", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.blocks", "#1025", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.blocks.0.serial_start", "0", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.blocks.0.serial_start", "1251", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.blocks.0.serial_end", "1125899906842624", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.blocks.0.serial_end", U64_MAX, INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.blocks.0.vintage_year", "10000", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.blocks.0.vintage_year", U32_MAX, INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.blocks.0.vintage_year", "0", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.blocks.0.vintage_year", "1999", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.blocks.0.vintage_year", "2101", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.blocks.0.origin_region", "", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.blocks.0.origin_region", "bj", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.blocks.0.methodology_id", "", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.blocks.0.methodology_id", "BJ|RC", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.blocks.0.methodology_id", "BJ,RC", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.blocks.0.methodology_id", "*32*B", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.credited_g", "1251", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.credited_g", U64_MAX, INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.discount_g", "251", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.discount_g", U64_MAX, INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.destination_methodology_id", "*32*T", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.source_catalog_digest", "", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.source_catalog_digest", "*63*a", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.destination_catalog_digest", "*65*a", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.source_catalog_digest", "*64*g", INVALID, "MALFORMED_LEG", TJ},
    {"Prepare", "legs.0.destination_catalog_digest", "*64*A", INVALID, "MALFORMED_LEG", TJ},
    /* Decide */
    {"Decide", "source_region", "CN-HE", DENIED, "REGION_MISMATCH", TJ},
    {"Decide", "source_region", "", DENIED, "REGION_MISMATCH", TJ},
    {"Decide", "decisions", "#0", INVALID, "BAD_BATCH_SIZE", TJ},
    {"Decide", "decisions", "#257", EXHAUSTED, "BATCH_TOO_LARGE", TJ},
    BAD_IDS("Decide", "decisions.0.transfer_id", "MALFORMED_DECISION"),
    {"Decide", "decisions.0.decision", "0", INVALID, "MALFORMED_DECISION", TJ},
    {"Decide", "decisions.0.decision", "3", INVALID, "MALFORMED_DECISION", TJ},
    {"Decide", "decisions.0.decision", "-7", INVALID, "MALFORMED_DECISION", TJ},
    {"Decide", "decisions.0.decision", "99", INVALID, "MALFORMED_DECISION", TJ},
    /* QueryDecision */
    {"QueryDecision", "region", "CN-HE", DENIED, "REGION_MISMATCH", TJ},
    {"QueryDecision", "region", "CN-TJ", DENIED, "REGION_MISMATCH", TJ},
    {"QueryDecision", "transfer_ids", "#0", INVALID, "BAD_BATCH_SIZE", TJ},
    {"QueryDecision", "transfer_ids", "#257", EXHAUSTED, "BATCH_TOO_LARGE", TJ},
    BAD_IDS("QueryDecision", "transfer_ids.0", "BAD_ID"),
    /* AddCheckpoint (signed ones: test_witness.c) */
    {"AddCheckpoint", "checkpoint", "len:0", INVALID, "MALFORMED_CHECKPOINT", TJ},
    {"AddCheckpoint", "checkpoint", "len:3", INVALID, "MALFORMED_CHECKPOINT", TJ},
    /* FetchBatches */
    {"FetchBatches", "region", "CN-HE", DENIED, "REGION_MISMATCH", TJ},
    {"FetchBatches", "region", "", DENIED, "REGION_MISMATCH", TJ},
    {"FetchBatches", "to_seq", "0", GRPC_STATUS_OK, "", TJ}, /* 0: up to the latest */
    {"FetchBatches", "from_seq", "11", INVALID, "BAD_RANGE", TJ},
    {"FetchBatches", "to_seq", "1001", INVALID, "BAD_RANGE", TJ},
    {"FetchBatches", "to_seq", U64_MAX, INVALID, "BAD_RANGE", TJ},
    /* ReportUse (applied and refused reports: test_origin_map.c) */
    {"ReportUse", "region", "CN-HE", DENIED, "REGION_MISMATCH", TJ},
    {"ReportUse", "region", "", DENIED, "REGION_MISMATCH", TJ},
    {"ReportUse", "reports", "#0", INVALID, "BAD_BATCH_SIZE", TJ},
    {"ReportUse", "reports", "#257", EXHAUSTED, "BATCH_TOO_LARGE", TJ},
    BAD_IDS("ReportUse", "reports.0.report_id", "MALFORMED_REPORT"),
    {"ReportUse", "reports.0.kind", "", INVALID, "MALFORMED_REPORT", TJ},
    {"ReportUse", "reports.0.kind", "Retired", INVALID, "MALFORMED_REPORT", TJ},
    {"ReportUse", "reports.0.kind", "cancelled", INVALID, "MALFORMED_REPORT", TJ}, /* with a purpose */
    {"ReportUse", "reports.0.purpose", "", INVALID, "MALFORMED_REPORT", TJ},
    {"ReportUse", "reports.0.purpose", "offset", INVALID, "MALFORMED_REPORT", TJ},
    {"ReportUse", "reports.0.blocks", "#0", INVALID, "MALFORMED_REPORT", TJ},
    {"ReportUse", "reports.0.blocks", "#1025", INVALID, "MALFORMED_REPORT", TJ},
    {"ReportUse", "reports.0.blocks", "#2", INVALID, "MALFORMED_REPORT", TJ}, /* overlapping */
    {"ReportUse", "reports.0.blocks.0.origin_region", "CN-BJ", INVALID, "MALFORMED_REPORT", TJ},
    {"ReportUse", "reports.0.blocks.0.methodology_id", "BJ-GT-01", INVALID, "MALFORMED_REPORT", TJ},
    {"ReportUse", "reports.0.blocks.0.serial_start", "0", INVALID, "MALFORMED_REPORT", TJ},
    {"ReportUse", "reports.0.blocks.0.serial_start", "11", INVALID, "MALFORMED_REPORT", TJ},
    {"ReportUse", "reports.0.blocks.0.serial_end", U64_MAX, INVALID, "MALFORMED_REPORT", TJ},
    /* ConfirmOrigin (answers: test_origin_third.c) */
    {"ConfirmOrigin", "region", "CN-HE", DENIED, "REGION_MISMATCH", TJ},
    {"ConfirmOrigin", "legs", "#0", INVALID, "BAD_BATCH_SIZE", TJ},
    {"ConfirmOrigin", "legs", "#257", EXHAUSTED, "BATCH_TOO_LARGE", TJ},
    BAD_IDS("ConfirmOrigin", "legs.0.transfer_id", "MALFORMED_LEG"),
    {"ConfirmOrigin", "legs.0.source_region", "", INVALID, "MALFORMED_LEG", TJ},
    {"ConfirmOrigin", "legs.0.source_region", "CN-BJ", INVALID, "MALFORMED_LEG", TJ}, /* the caller */
    {"ConfirmOrigin", "legs.0.source_region", "CN-TJ", INVALID, "MALFORMED_LEG", TJ}, /* the origin */
    {"ConfirmOrigin", "legs.0.to_account", "CN-HE/he-c", INVALID, "MALFORMED_LEG", TJ},
    {"ConfirmOrigin", "legs.0.to_account", "bj-x", INVALID, "MALFORMED_LEG", TJ},
    {"ConfirmOrigin", "legs.0.blocks", "#0", INVALID, "MALFORMED_LEG", TJ},
    {"ConfirmOrigin", "legs.0.blocks", "#1025", INVALID, "MALFORMED_LEG", TJ},
    {"ConfirmOrigin", "legs.0.blocks.0.origin_region", "CN-BJ", INVALID, "MALFORMED_LEG", TJ},
    {"ConfirmOrigin", "legs.0.blocks.0.serial_start", "0", INVALID, "MALFORMED_LEG", TJ},
    {"ConfirmOrigin", "legs.0.blocks.0.serial_start", "11", INVALID, "MALFORMED_LEG", TJ},
};

static void label_of(char *buf, size_t n, const method_t *m, const row_t *r, int at) {
    char value[48];
    snprintf(value, sizeof value, "%s", r->value);
    for (char *p = value; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) *p = '?';
    snprintf(buf, n, "%s/%s at %s, %s = '%s'", m->service, m->name, federation_region(fed, at),
             r->path, value);
}

static void run_rows(const row_t *rows, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const row_t *r = &rows[i];
        const method_t *m = method(r->method);
        arena_t a = {0};
        ProtobufCMessage *msg = m->base(&a);
        apply(&a, msg, r->path, r->value);
        char what[256];
        label_of(what, sizeof what, m, r, r->at);
        snaps_t before = snap_all();
        client_status_t st;
        call(m, r->at, good_cert(m, r->at), msg, NULL, 0, NULL, &st);
        expect_status(&st, r->want, r->reason, what);
        expect_unchanged(&before, -1, what);
        arena_free(&a);
    }
}

/* The unchanged base requests: accepted (or refused for the reason the base
 * was built for), and the mutating ones do change a store. The reads first:
 * an accepted Transfer goes on settling after it answered. */
static void run_controls(const char *service) {
    for (size_t k = 0; k < 2 * METHODS_N; k++) {
        const method_t *m = &methods[k % METHODS_N];
        if (strcmp(m->service, service) != 0 || m->base_changes != (k >= METHODS_N)) continue;
        arena_t a = {0};
        ProtobufCMessage *msg = m->base(&a);
        char what[128];
        snprintf(what, sizeof what, "control: the valid base %s/%s", m->service, m->name);
        snaps_t before = snap_all();
        ProtobufCMessage *resp = NULL;
        client_status_t st;
        call(m, TJ, good_cert(m, TJ), msg, NULL, 0, &resp, &st);
        expect_status(&st, m->base_code, NULL, what);
        if (strcmp(m->name, "Prepare") == 0 && resp != NULL) {
            Carbon__V1__PrepareResponse *p = (Carbon__V1__PrepareResponse *)resp;
            cr_expect(p->n_votes == 1 && p->votes[0]->vote == CARBON__V1__VOTE__VOTE_YES,
                      "%s: the valid leg was not voted yes (%s)", what,
                      p->n_votes ? p->votes[0]->reason : "no vote");
        }
        if (resp != NULL) protobuf_c_message_free_unpacked(resp, NULL);
        if (m->base_changes) {
            char *after = snap(TJ);
            cr_expect_str_neq(keys_of(after), keys_of(before.s[TJ]),
                              "%s left the store of CN-TJ as it was", what);
            free(after);
            for (int r = 0; r < REGIONS; r++) free(before.s[r]);
        } else {
            expect_unchanged(&before, -1, what);
        }
        arena_free(&a);
    }
}

/* ---- Prepare legs that are well-formed but voted no ------------------------------------ */

/* The destination records a leg it refuses (REFUSED, with an audit entry),
 * so that a replay gets the same vote: the call is accepted, Tianjin's store
 * changes by design, the account does not, and no other store changes. */
static const row_t vote_no_rows[] = {
    {"Prepare", "legs.0.source_catalog_digest", "*64*0", GRPC_STATUS_OK, "CATALOG_UNKNOWN", TJ},
    {"Prepare", "legs.0.destination_catalog_digest", "*64*0", GRPC_STATUS_OK, "CATALOG_UNKNOWN", TJ},
    {"Prepare", "legs.0.destination_methodology_id", "TJ-GT-01", GRPC_STATUS_OK,
     "RECOGNITION_MISMATCH", TJ},
    {"Prepare", "legs.0.blocks.0.methodology_id", "BJ-ZZ-99", GRPC_STATUS_OK,
     "UNKNOWN_METHODOLOGY", TJ},
    {"Prepare", "legs.0.blocks.0.methodology_id", "HE-WA-01", GRPC_STATUS_OK,
     "ORIGIN_MISMATCH", TJ}, /* Hebei's methodology on Beijing's serials */
    {"Prepare", "legs.0.blocks.0.origin_region;legs.0.blocks.0.methodology_id", "CN-HE;HE-WA-01",
     GRPC_STATUS_OK, "RECOGNITION_MISMATCH", TJ}, /* Tianjin takes it as TJ-WA-01, not TJ-RC-01 */
    {"Prepare", "legs.0.credited_g;legs.0.discount_g", "0;1250", GRPC_STATUS_OK, "QUOTE_MISMATCH",
     TJ},
    {"Prepare", "legs.0.credited_g;legs.0.discount_g", "250;1000", GRPC_STATUS_OK,
     "QUOTE_MISMATCH", TJ}, /* not whole kg */
    {"Prepare", "legs.0.blocks.0.serial_end;legs.0.discount_g", "1251;251", GRPC_STATUS_OK,
     "QUOTE_MISMATCH", TJ}, /* 1251 g is not the least that buys 1000 g at 4/5 */
    {"Prepare", "legs.0.blocks.0.serial_end;legs.0.credited_g;legs.0.discount_g", "2500;1000;1500",
     GRPC_STATUS_OK, "QUOTE_MISMATCH", TJ}, /* 2500 g at 4/5 would buy 2 kg */
    {"Prepare", "legs.0.to_account", "CN-TJ/nobody", GRPC_STATUS_OK, "UNKNOWN_ACCOUNT", TJ},
    {"Prepare", "legs.0.expiry_unix_ms", "0", GRPC_STATUS_OK, "EXPIRED", TJ},
    /* an expiry beyond a day (the longest leg_expiry_ms) and a minute ahead */
    {"Prepare", "legs.0.expiry_unix_ms", U64_MAX, GRPC_STATUS_OK, "EXPIRY_TOO_FAR", TJ},
    {"Prepare", "legs.0.expiry_unix_ms", "9007199254740993", GRPC_STATUS_OK, "EXPIRY_TOO_FAR", TJ},
#if BAD_INPUT_CHECK_BLOCK_ORIGIN
    /* Blocks whose origin is not the region whose catalog defines their
     * methodology (BJ-RC-01 is Beijing's): serials of a region outside the
     * federation, of Tianjin's own serial space, of Hebei's: voted no. */
    {"Prepare", "legs.0.blocks.0.origin_region", "CN-XX", GRPC_STATUS_OK, NULL, TJ},
    {"Prepare", "legs.0.blocks.0.origin_region", "CN-TJ", GRPC_STATUS_OK, NULL, TJ},
    {"Prepare", "legs.0.blocks.0.origin_region", "CN-HE", GRPC_STATUS_OK, NULL, TJ},
#endif
};

static void expect_account_as_before(const Carbon__V1__GetAccountResponse *was, const char *what) {
    Carbon__V1__GetAccountResponse *now = NULL;
    client_status_t st;
    cr_assert_eq(rc_account(channel(TJ, registry_cert[TJ]), "tj-a", &now, &st), GRPC_STATUS_OK);
    cr_expect(now->total->grams == was->total->grams && now->pending->grams == was->pending->grams &&
                  now->held->grams == was->held->grams && now->n_blocks == was->n_blocks,
              "%s: tj-a changed: total %" PRIu64 " -> %" PRIu64 " g, pending %" PRIu64 " -> %" PRIu64
              " g",
              what, was->total->grams, now->total->grams, was->pending->grams, now->pending->grams);
    protobuf_c_message_free_unpacked(&now->base, NULL);
}

static void run_vote_no_rows(void) {
    const method_t *m = method("Prepare");
    for (size_t i = 0; i < sizeof vote_no_rows / sizeof vote_no_rows[0]; i++) {
        const row_t *r = &vote_no_rows[i];
        arena_t a = {0};
        ProtobufCMessage *msg = m->base(&a);
        apply(&a, msg, r->path, r->value);
        char what[256];
        label_of(what, sizeof what, m, r, r->at);
        Carbon__V1__GetAccountResponse *was = NULL;
        client_status_t st;
        cr_assert_eq(rc_account(channel(TJ, registry_cert[TJ]), "tj-a", &was, &st), GRPC_STATUS_OK);
        snaps_t before = snap_all();
        ProtobufCMessage *resp = NULL;
        call(m, r->at, good_cert(m, r->at), msg, NULL, 0, &resp, &st);
        expect_status(&st, GRPC_STATUS_OK, NULL, what);
        Carbon__V1__PrepareResponse *p = (Carbon__V1__PrepareResponse *)resp;
        cr_expect(p != NULL && p->n_votes == 1 && p->votes[0]->vote == CARBON__V1__VOTE__VOTE_NO &&
                      (r->reason == NULL || strcmp(p->votes[0]->reason, r->reason) == 0),
                  "%s: want a no vote for %s, got %s %s", what, r->reason ? r->reason : "any reason",
                  p && p->n_votes ? (p->votes[0]->vote == CARBON__V1__VOTE__VOTE_NO ? "no" : "yes")
                                  : "no vote",
                  p && p->n_votes ? p->votes[0]->reason : "");
        if (resp != NULL) protobuf_c_message_free_unpacked(resp, NULL);
        expect_unchanged(&before, TJ, what);
        expect_account_as_before(was, what);
        protobuf_c_message_free_unpacked(&was->base, NULL);
        arena_free(&a);
    }
}

/* ---- wire-level rows ------------------------------------------------------------------- */

#if BAD_INPUT_CHECK_UTF8
/* Every string field at the top of each method's valid base, one at a time,
 * set to bytes that are not UTF-8 (an overlong NUL, a surrogate, a cut
 * sequence, a lone 0xff), and a string nested in a Prepare's leg: protobuf
 * requires strings to be UTF-8, protobuf-c does not check, so the server
 * refuses them as MALFORMED before any handler runs. */
static void run_not_utf8_rows(const char *service) {
    static const char *const not_utf8[] = {"tj-\xc0\x80", "\xed\xa0\x80", "CN-TJ\xe7\xa2",
                                           "\xff"};
    char what[256];
    for (size_t i = 0; i < METHODS_N; i++) {
        const method_t *m = &methods[i];
        if (strcmp(m->service, service) != 0) continue;
        const ProtobufCMessageDescriptor *d = request_desc(m);
        snaps_t before = snap_all();
        for (unsigned f = 0; f < d->n_fields; f++) {
            const ProtobufCFieldDescriptor *fd = &d->fields[f];
            if (fd->type != PROTOBUF_C_TYPE_STRING || fd->label == PROTOBUF_C_LABEL_REPEATED)
                continue;
            for (size_t k = 0; k < sizeof not_utf8 / sizeof not_utf8[0]; k++) {
                arena_t a = {0};
                ProtobufCMessage *msg = m->base(&a);
                set_path(&a, msg, fd->name, not_utf8[k]);
                snprintf(what, sizeof what, "%s/%s with %s not UTF-8 (form %zu)", m->service,
                         m->name, fd->name, k);
                client_status_t st;
                call(m, TJ, good_cert(m, TJ), msg, NULL, 0, NULL, &st);
                expect_status(&st, GRPC_STATUS_INVALID_ARGUMENT, "MALFORMED", what);
                cr_expect(strstr(st.details, "UTF-8") != NULL, "%s: %s", what, st.details);
                arena_free(&a);
            }
        }
        if (strcmp(m->name, "Prepare") == 0) {
            arena_t a = {0};
            ProtobufCMessage *msg = m->base(&a);
            set_path(&a, msg, "legs.0.blocks.0.methodology_id", "BJ-RC-\xf4\x90\x80\x80");
            client_status_t st;
            call(m, TJ, good_cert(m, TJ), msg, NULL, 0, NULL, &st);
            expect_status(&st, GRPC_STATUS_INVALID_ARGUMENT, "MALFORMED",
                          "Prepare with a block's methodology above U+10FFFF");
            arena_free(&a);
        }
        snprintf(what, sizeof what, "%s/%s strings that are not UTF-8", m->service, m->name);
        expect_unchanged(&before, -1, what);
    }
}
#endif

/* Junk, every proper prefix of the valid base (a message cut short), an empty
 * message and one over max_message_bytes, for each method of service. */
static void run_wire_rows(const char *service) {
    static const uint8_t junk[][4] = {{0xff, 0xff, 0xff, 0xff}, {0x0a, 0x10, 'p', '-'},
                                      {0x08, 0x80, 0x80, 0x80}, {0x0b, 0x00, 0x00, 0x00}};
    for (size_t i = 0; i < METHODS_N; i++) {
        const method_t *m = &methods[i];
        if (strcmp(m->service, service) != 0) continue;
        const char *cert = good_cert(m, TJ);
        char what[256];
        snaps_t before = snap_all();
        client_status_t st;
        for (size_t k = 0; k < sizeof junk / sizeof junk[0]; k++) {
            snprintf(what, sizeof what, "%s/%s: junk %02x %02x %02x %02x", m->service, m->name,
                     junk[k][0], junk[k][1], junk[k][2], junk[k][3]);
            call(m, TJ, cert, NULL, junk[k], sizeof junk[k], NULL, &st);
            expect_status(&st, GRPC_STATUS_INVALID_ARGUMENT, "MALFORMED", what);
        }
        /* too large: the limit is enforced before anything is read */
        size_t big_n = (size_t)MAX_MESSAGE_BYTES + 1;
        uint8_t *big = malloc(big_n);
        cr_assert_not_null(big);
        memset(big, 0x0a, big_n);
        snprintf(what, sizeof what, "%s/%s: %zu bytes", m->service, m->name, big_n);
        call(m, TJ, cert, NULL, big, big_n, NULL, &st);
        expect_status(&st, GRPC_STATUS_RESOURCE_EXHAUSTED, NULL, what);
        free(big);
        /* the valid base cut short at every length: where protobuf-c cannot
         * read the prefix, MALFORMED; where it can (a field boundary), some
         * refusal of the missing fields (reads may answer) - and never a
         * state change */
        arena_t a = {0};
        ProtobufCMessage *msg = m->base(&a);
        size_t n = protobuf_c_message_get_packed_size(msg);
        uint8_t *packed = malloc(n);
        cr_assert_not_null(packed);
        protobuf_c_message_pack(msg, packed);
        for (size_t cut = 0; cut < n; cut++) {
            ProtobufCMessage *local = protobuf_c_message_unpack(request_desc(m), NULL, cut, packed);
            snprintf(what, sizeof what, "%s/%s cut to %zu of %zu bytes", m->service, m->name, cut,
                     n);
            call(m, TJ, cert, NULL, packed, cut, NULL, &st);
            if (local == NULL) {
                expect_status(&st, GRPC_STATUS_INVALID_ARGUMENT, "MALFORMED", what);
            } else {
                rows_run++;
                protobuf_c_message_free_unpacked(local, NULL);
                if (m->base_changes)
                    cr_expect_neq(st.code, GRPC_STATUS_OK, "%s: accepted", what);
                cr_expect(st.code == GRPC_STATUS_OK || st.reason[0] != '\0',
                          "%s: %s without a carbon-reason", what, client_status_name(st.code));
                cr_expect_neq(st.code, GRPC_STATUS_UNAVAILABLE, "%s: %s", what, st.details);
                cr_expect_neq(st.code, GRPC_STATUS_INTERNAL, "%s: %s", what, st.details);
            }
        }
        free(packed);
        arena_free(&a);
        snprintf(what, sizeof what, "malformed, truncated and oversized %s/%s", m->service, m->name);
        expect_unchanged(&before, -1, what);
    }
#if BAD_INPUT_CHECK_EMBEDDED_NUL
    /* protobuf-c accepts a string field with a NUL byte inside and the
     * handlers would read it cut at the NUL ("tj-a\0x" as tj-a): the server
     * refuses it as malformed before any handler runs. */
    if (strcmp(service, "Registry") == 0) {
        static const uint8_t nul_id[] = {0x0a, 6, 't', 'j', '-', 'a', 0, 'x', 0x12, 8,
                                         'p', 'e', 'r', 's', 'o', 'n', 'a', 'l'};
        client_status_t st;
        snaps_t before = snap_all();
        call(method("OpenAccount"), TJ, registry_cert[TJ], NULL, nul_id, sizeof nul_id, NULL, &st);
        expect_status(&st, GRPC_STATUS_INVALID_ARGUMENT, NULL, "OpenAccount of 'tj-a\\0x'");
        call(method("GetAccount"), TJ, registry_cert[TJ], NULL, nul_id, 8, NULL, &st);
        expect_status(&st, GRPC_STATUS_INVALID_ARGUMENT, NULL, "GetAccount of 'tj-a\\0x'");
        expect_unchanged(&before, -1, "strings with a NUL inside");
    }
#endif
#if BAD_INPUT_CHECK_UTF8
    run_not_utf8_rows(service);
#endif
}

/* ---- callers of the wrong role or region --------------------------------------------- */

static void run_wrong_callers(void) {
    static const char *const registry_callers[] = {
        "CN-BJ-registry", "CN-HE-registry", "CN-TJ-gateway", "CN-BJ-gateway",
        "CN-TJ-operator", "CN-TJ-auditor",  "CN-BJ-auditor"};
    static const char *const federation_callers[] = {
        "CN-TJ-registry", "CN-BJ-registry", "CN-TJ-gateway", "CN-TJ-operator",
        "CN-BJ-operator", "CN-TJ-auditor",  "CN-BJ-auditor"};
    for (size_t i = 0; i < METHODS_N; i++) {
        const method_t *m = &methods[i];
        int reg = strcmp(m->service, "Registry") == 0;
        const char *const *callers = reg ? registry_callers : federation_callers;
        size_t callers_n = reg ? sizeof registry_callers / sizeof registry_callers[0]
                               : sizeof federation_callers / sizeof federation_callers[0];
        for (size_t c = 0; c < callers_n; c++) {
            arena_t a = {0};
            ProtobufCMessage *msg = m->base(&a);
            char what[128];
            snprintf(what, sizeof what, "%s/%s at CN-TJ by %s", m->service, m->name, callers[c]);
            snaps_t before = snap_all();
            client_status_t st;
            call(m, TJ, callers[c], msg, NULL, 0, NULL, &st);
            expect_status(&st, GRPC_STATUS_PERMISSION_DENIED, "NOT_AUTHORIZED", what);
            expect_unchanged(&before, -1, what);
            arena_free(&a);
        }
    }
}

/* ---- the tests --------------------------------------------------------------------------- */

static void finish(const char *group) {
    cr_log_info("%s: %d rows", group, rows_run);
    cr_assert_eq(federation_stop(fed), 0, "federation_stop: %s", federation_last_error());
    for (int i = 0; i < federation_instances(fed); i++)
        cr_expect_eq(federation_exit_status(fed, i), 0,
                     "%s ended with status %d after SIGTERM (KEEP_TEST_DIRS=1 keeps its log)",
                     federation_region(fed, i), federation_exit_status(fed, i));
}

Test(bad_input, registry_fields) {
    start();
    run_rows(registry_rows, sizeof registry_rows / sizeof registry_rows[0]);
    run_controls("Registry");
    finish("registry_fields");
}

Test(bad_input, federation_fields) {
    start();
    run_rows(federation_rows, sizeof federation_rows / sizeof federation_rows[0]);
    run_vote_no_rows();
    run_controls("Federation");
    finish("federation_fields");
}

Test(bad_input, wire_and_callers) {
    start();
    run_wire_rows("Registry");
    run_wire_rows("Federation");
    run_wrong_callers();
    finish("wire_and_callers");
}
