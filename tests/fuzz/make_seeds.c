/* make_seeds.c - writes the seed corpora of the fuzz targets,
 * tests/fuzz/corpus/<target>/<name>: the typical messages of the tests
 * (tests/integration/test_settlement.c, test_gateway_tls.c), packed with
 * protobuf-c, a leg and a signed checkpoint as gateways really send them,
 * the shipped catalogs and a few conversions. Deterministic: running it
 * again rewrites the same bytes.
 *
 *   build-fuzz/make_seeds tests/fuzz/corpus */
#include "tests/fuzz/fuzz_common.h"

#include "gateway/arena.h"
#include "gateway/pbconv.h"
#include "settlement/audit.h"
#include "settlement/note.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>

static const char *out_dir;

static void write_file(const char *target, const char *name, const void *data, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", out_dir, target);
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void seed(const char *target, const char *name, const ProtobufCMessage *m) {
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n + 1);
    if (buf == NULL) abort();
    protobuf_c_message_pack(m, buf);
    write_file(target, name, buf, n);
    free(buf);
}

static const char *digest(const char *region) {
    return catalog_set_current(fuzz_catalogs(), region)->digest_hex;
}

/* A leg as gateway `from` sends it to `to` (what registry_transfer holds and
 * peers.c sends), for amount_units of meth; blocks of the origin's serials. */
static Carbon__V1__Leg *make_leg(arena_t *a, const char *tid, const char *from, const char *from_id,
                                 const char *to, const char *to_id, const char *meth,
                                 uint64_t units, int blocks_n) {
    quote_t q;
    char err[256];
    if (quote_compute(fuzz_catalogs(), from, to, meth, units, &q, err, sizeof err) != QUOTE_OK) {
        fprintf(stderr, "make_seeds: %s\n", err);
        exit(1);
    }
    ledger_leg_t leg = {0};
    snprintf(leg.tid, sizeof leg.tid, "%s", tid);
    snprintf(leg.from, sizeof leg.from, "%s", from_id);
    snprintf(leg.to, sizeof leg.to, "%s/%s", to, to_id);
    snprintf(leg.meth, sizeof leg.meth, "%s", meth);
    snprintf(leg.dest_meth, sizeof leg.dest_meth, "%s", q.dest_meth);
    leg.credited_g = q.q.credited_g;
    leg.debited_g = q.q.debited_g;
    leg.discount_g = q.q.discount_g;
    snprintf(leg.src_digest, sizeof leg.src_digest, "%s", q.src->digest_hex);
    snprintf(leg.dst_digest, sizeof leg.dst_digest, "%s", q.dst->digest_hex);
    leg.expiry_ms = 1767225630000ull;
    ledger_block_t blocks[2] = {{.vintage = 2026}, {.vintage = 2025}};
    uint64_t first_n = blocks_n == 2 ? leg.debited_g / 3 : leg.debited_g;
    for (int i = 0; i < 2; i++) {
        snprintf(blocks[i].origin, sizeof blocks[i].origin, "%s", q.origin);
        snprintf(blocks[i].meth, sizeof blocks[i].meth, "%s", meth);
    }
    blocks[0].first = 1001;
    blocks[0].last = 1000 + first_n;
    blocks[1].first = 50001;
    blocks[1].last = 50000 + (leg.debited_g - first_n);
    leg.blocks = blocks;
    leg.blocks_n = (size_t)blocks_n;
    return pbconv_leg(a, &leg, from);
}

static void seed_u64s(const char *name, const uint64_t *v, size_t n) {
    uint8_t buf[9 * 16];
    for (size_t i = 0; i < n; i++) {
        buf[9 * i] = 0; /* shift */
        for (int k = 0; k < 8; k++) buf[9 * i + 1 + k] = (uint8_t)(v[i] >> (8 * k));
    }
    write_file("convert", name, buf, 9 * n);
}

static void seed_file(const char *target, const char *name, const char *path) {
    FILE *f = fopen(path, "rb");
    static char buf[CATALOG_FILE_MAX_BYTES + 1];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f == NULL || ferror(f)) {
        perror(path);
        exit(1);
    }
    fclose(f);
    write_file(target, name, buf, n);
}

#define ID1 "0123456789abcdef0123456789abcdef"
#define ID2 "fedcba9876543210fedcba9876543210"
#define ID3 "00000000000000000000000000000001"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds CORPUS_DIR\n");
        return 2;
    }
    out_dir = argv[1];
    arena_t a = {0};

    /* ---- Registry ---- */
    Carbon__V1__OpenAccountRequest oa = CARBON__V1__OPEN_ACCOUNT_REQUEST__INIT;
    oa.account_id = "tj-a";
    oa.holder_kind = "personal";
    seed("open_account", "personal", &oa.base);
    oa.account_id = "org-7f3a.b_c";
    oa.holder_kind = "firm";
    seed("open_account", "firm", &oa.base);

    Carbon__V1__IssueRequest is = CARBON__V1__ISSUE_REQUEST__INIT;
    is.issuance_id = ID1;
    is.account_id = "tj-a";
    is.methodology_id = "TJ-GT-01";
    is.vintage_year = 2026;
    is.quantity_milli = 420000;
    is.activity_fingerprint = "card-7-2026-11-24";
    seed("issue", "tj-metro", &is.base);
    is.methodology_id = "BJ-EL-01";
    is.quantity_milli = 35500;
    is.catalog_digest = (char *)digest("CN-BJ");
    seed("issue", "bj-electricity-digest", &is.base);
    is.methodology_id = "HE-RC-01";
    is.quantity_milli = 12000;
    is.catalog_digest = "";
    is.vintage_year = 2100;
    seed("issue", "he-recycling", &is.base);

    Carbon__V1__QuoteRequest qr = CARBON__V1__QUOTE_REQUEST__INIT;
    qr.from_account_id = "tj-a";
    qr.to_region = "CN-BJ";
    qr.methodology_id = "TJ-GT-01";
    qr.amount_units = 15;
    seed("quote", "tj-to-bj", &qr.base);
    qr.to_region = "CN-TJ";
    qr.methodology_id = "HE-RC-01";
    qr.amount_units = 50;
    seed("quote", "he-to-tj", &qr.base);
    qr.to_region = "CN-HE";
    qr.methodology_id = "TJ-GT-01";
    qr.amount_units = 1000;
    seed("quote", "bj-to-he-foreign", &qr.base);

    Carbon__V1__TransferRequest tr = CARBON__V1__TRANSFER_REQUEST__INIT;
    tr.transfer_id = ID1;
    tr.from_account_id = "tj-a";
    tr.to_region = "CN-BJ";
    tr.to_account_id = "bj-b";
    tr.methodology_id = "TJ-GT-01";
    tr.amount_units = 15;
    tr.expected_credited_g = 13500;
    seed("transfer", "tj-to-bj-quoted", &tr.base);
    tr.transfer_id = ID2;
    tr.from_account_id = "he-c";
    tr.to_region = "CN-TJ";
    tr.to_account_id = "tj-a";
    tr.methodology_id = "HE-RC-01";
    tr.amount_units = 50;
    tr.expected_credited_g = 0;
    tr.vintage_year = 2026;
    seed("transfer", "he-to-tj-vintage", &tr.base);
    tr.to_region = "CN-HE";
    tr.methodology_id = "TJ-GT-01";
    tr.amount_units = 1000;
    tr.vintage_year = 0;
    seed("transfer", "bj-to-he-foreign", &tr.base);

    Carbon__V1__GetTransferRequest gt = CARBON__V1__GET_TRANSFER_REQUEST__INIT;
    gt.transfer_id = ID1;
    seed("get_transfer", "id", &gt.base);

    Carbon__V1__ListTransfersRequest lt = CARBON__V1__LIST_TRANSFERS_REQUEST__INIT;
    lt.limit = 10;
    lt.arrivals_only = 1;
    seed("list_transfers", "arrivals", &lt.base);
    lt.limit = 0;
    lt.arrivals_only = 0;
    lt.after_cursor = 5;
    seed("list_transfers", "after", &lt.base);

    Carbon__V1__GetAccountRequest ga = CARBON__V1__GET_ACCOUNT_REQUEST__INIT;
    ga.account_id = "tj-a";
    ga.blocks_limit = 100;
    seed("get_account", "limit", &ga.base);

    Carbon__V1__RetireRequest rr = CARBON__V1__RETIRE_REQUEST__INIT;
    rr.retirement_id = ID3;
    rr.account_id = "tj-a";
    rr.methodology_id = "TJ-GT-01";
    rr.vintage_year = 2026;
    rr.amount_units = 1;
    rr.purpose = CARBON__V1__RETIREMENT_PURPOSE__RETIREMENT_PURPOSE_VOLUNTARY_NEUTRALITY;
    rr.beneficiary = "Alice Zhang";
    seed("retire", "voluntary", &rr.base);
    rr.methodology_id = "";
    rr.vintage_year = 0;
    rr.amount_units = 3;
    rr.purpose = CARBON__V1__RETIREMENT_PURPOSE__RETIREMENT_PURPOSE_COMPLIANCE_OFFSET;
    seed("retire", "any-compliance", &rr.base);

    /* ---- Federation ---- */
    Carbon__V1__HelloRequest he = CARBON__V1__HELLO_REQUEST__INIT;
    he.protocol_version = 1;
    he.region = "CN-BJ";
    char *digests[3] = {(char *)digest("CN-BJ"), (char *)digest("CN-HE"), (char *)digest("CN-TJ")};
    he.catalog_digests = digests;
    he.n_catalog_digests = 3;
    seed("hello", "bj", &he.base);

    Carbon__V1__PrepareRequest pr = CARBON__V1__PREPARE_REQUEST__INIT;
    Carbon__V1__Leg *legs[2];
    pr.legs = legs;
    pr.source_region = "CN-TJ";
    pr.batch_seq = 1;
    legs[0] = make_leg(&a, ID1, "CN-TJ", "tj-a", "CN-BJ", "bj-b", "TJ-GT-01", 15, 1);
    pr.n_legs = 1;
    seed("prepare", "tj-to-bj", &pr.base);
    /* the gap reported with FUZZ_CHECK_BLOCK_ORIGIN: serials of a region
     * that is not the methodology's origin are voted yes */
    legs[0]->blocks[0]->origin_region = "CN-XX";
    seed("prepare", "tj-to-bj-origin-gap", &pr.base);
    pr.source_region = "CN-HE";
    pr.batch_seq = 7;
    legs[0] = make_leg(&a, ID1, "CN-HE", "he-c", "CN-TJ", "tj-a", "HE-RC-01", 50, 2);
    legs[1] = make_leg(&a, ID2, "CN-HE", "he-c", "CN-TJ", "tj-a", "TJ-GT-01", 30, 1);
    pr.n_legs = 2;
    seed("prepare", "he-to-tj-two-legs", &pr.base);
    pr.source_region = "CN-BJ";
    pr.batch_seq = 2;
    legs[0] = make_leg(&a, ID3, "CN-BJ", "bj-b", "CN-HE", "he-c", "TJ-GT-01", 1000, 1);
    pr.n_legs = 1;
    seed("prepare", "bj-to-he-foreign", &pr.base);

    Carbon__V1__DecideRequest de = CARBON__V1__DECIDE_REQUEST__INIT;
    Carbon__V1__LegDecision d1 = CARBON__V1__LEG_DECISION__INIT, d2 = CARBON__V1__LEG_DECISION__INIT;
    Carbon__V1__LegDecision *ds[2] = {&d1, &d2};
    d1.transfer_id = ID1;
    d1.decision = CARBON__V1__DECISION__DECISION_COMMIT;
    d2.transfer_id = ID2;
    d2.decision = CARBON__V1__DECISION__DECISION_ABORT;
    de.source_region = "CN-TJ";
    de.batch_seq = 1;
    de.decisions = ds;
    de.n_decisions = 2;
    seed("decide", "commit-abort", &de.base);

    Carbon__V1__QueryDecisionRequest qd = CARBON__V1__QUERY_DECISION_REQUEST__INIT;
    char *ids[2] = {ID1, ID2};
    qd.region = "CN-BJ";
    qd.transfer_ids = ids;
    qd.n_transfer_ids = 2;
    seed("query_decision", "two", &qd.base);

    /* a checkpoint signed with a fixed Ed25519 key (deterministic signature) */
    static const uint8_t sk[32] = {42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
                                   16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk, sizeof sk);
    static const char body[] = "jjj.carbon/CN-BJ/audit\n17\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n";
    char note[NOTE_BYTES_MAX + 1], why[256];
    size_t note_len = 0;
    if (key == NULL || note_sign(body, sizeof body - 1, "jjj.carbon/CN-BJ/audit", key, note,
                                 sizeof note, &note_len, why, sizeof why) != NOTE_OK) {
        fprintf(stderr, "make_seeds: cannot sign a checkpoint: %s\n", why);
        return 1;
    }
    EVP_PKEY_free(key);
    Carbon__V1__AddCheckpointRequest ac = CARBON__V1__ADD_CHECKPOINT_REQUEST__INIT;
    ac.checkpoint.data = (uint8_t *)note;
    ac.checkpoint.len = note_len;
    seed("add_checkpoint", "signed-bj-first", &ac.base);
    static uint8_t h[32];
    ProtobufCBinaryData hashes[2] = {{32, h}, {32, h}};
    ac.old_size = 5;
    ac.consistency_proof = hashes;
    ac.n_consistency_proof = 2;
    seed("add_checkpoint", "signed-bj-proof", &ac.base);

    Carbon__V1__FetchBatchesRequest fb = CARBON__V1__FETCH_BATCHES_REQUEST__INIT;
    fb.region = "CN-BJ";
    fb.from_seq = 1;
    fb.to_seq = 10;
    fb.with_legs = 1;
    seed("fetch_batches", "range", &fb.base);

    /* ---- catalogs and conversions ---- */
    static const char *const regions[3] = {"CN-TJ", "CN-BJ", "CN-HE"};
    for (int i = 0; i < 3; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.catalog", FUZZ_SEED_CATALOG_DIR, regions[i]);
        seed_file("catalog", regions[i], path);
    }
    static const char small[] =
        "\xEF\xBB\xBF# tiny\r\n[catalog]\r\nregion = CN-XX\r\nversion = 1\r\nstatus = published\r\n"
        "display_unit = t\r\ndisplay_unit_g = 1000000\r\n[methodology X-1]\r\nname = \xE5\xA4\xA9  "
        "x\r\nnative_unit = kWh\r\ng_per_unit = 18446744073709551615 / 3\r\n"
        "[recognize CN-TJ:TJ-GT-01]\r\nlocal = X-1\r\nratio = 1/1\r\n";
    write_file("catalog", "small-crlf-bom", small, sizeof small - 1);

    seed_u64s("tj-to-bj", (const uint64_t[]){15000, 9, 10, 10, 13500, 15000, 1500, 0}, 8);
    seed_u64s("he-to-tj", (const uint64_t[]){5000, 2, 3, 1000, 3000, 4500, 1500, 500}, 8);
    seed_u64s("huge", (const uint64_t[]){UINT64_MAX, UINT64_MAX - 1, UINT64_MAX, 1}, 4);
    seed_u64s("issue", (const uint64_t[]){420000, 95, 2, 1000}, 4);

    arena_free(&a);
    catalog_set_free(fuzz_catalogs());
    return 0;
}
