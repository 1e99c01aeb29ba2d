/* registry.c - gwctl commands of a region's registry (carbon.v1.Registry):
 * open-account, issue, quote, transfer, get-transfer, transfers, account, retire. */
#include "gateway/gwctl/gwctl.h"
#include "common/carbon_assert.h"

#include "carbon/v1/carbon.pb-c.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define GWCTL_REGISTRY_CERT_NOTE \
    "The certificate must be the registry certificate of the gateway's region.\n" GWCTL_EXIT_HELP

static void gwctl_block_text(char *buf, size_t len, const Carbon__V1__CreditBlock *b) {
    snprintf(buf, len, "%s:%s:%u:%" PRIu64 "-%" PRIu64, b->origin_region, b->methodology_id,
             b->vintage_year, b->serial_start, b->serial_end);
}

/* Chooses a request id when the command line gave none and prints it on
 * stderr before any call, so that a lost answer can be asked for again. */
static const char *gwctl_request_id(const char *given, const char *what, char rid[33]) {
    if (given != NULL) return given;
    gwctl_random_id(rid);
    fprintf(stderr, "gwctl: %s id %s (if the answer is lost, repeat the command with --id %s)\n",
            what, rid, rid);
    fflush(stderr);
    return rid;
}

static int gwctl_usage_error(const char *cmd, const char *what, const char *usage) {
    fprintf(stderr, "gwctl %s: %s\n\n", cmd, what);
    fputs(usage, stderr);
    return GWCTL_EXIT_USAGE;
}

/* ---- open-account --------------------------------------------------------------- */

static const char open_usage[] =
    "usage: gwctl open-account --id ACCOUNT-ID [--kind personal|household|firm|public]\n"
    "                          [connection options]\n"
    "\n"
    "Opens an account in the gateway's region (idempotent: opening an open account\n"
    "with the same kind succeeds). Accounts must be open before credits are issued\n"
    "to them or arrive from another region.\n"
    "\n"
    "  --id ACCOUNT-ID     1..64 of [A-Za-z0-9._-]\n"
    "  --kind KIND         holder kind (default personal)\n" GWCTL_CONN_HELP
    GWCTL_REGISTRY_CERT_NOTE;

static int print_open(const ProtobufCMessage *m) {
    const Carbon__V1__OpenAccountResponse *r = (const Carbon__V1__OpenAccountResponse *)m;
    printf("%s %s\n", r->account, r->created ? "opened" : "was already open");
    return GWCTL_EXIT_OK;
}

int gwctl_open_account(int argc, char **argv) {
    CARBON_ASSERT(argc >= 1 && argv != NULL && argv[0] != NULL);
    const char *id = NULL, *kind = "personal";
    gwctl_conn_t conn;
    const gwctl_opt_t opts[] = {{"id", 1, &id, NULL}, {"kind", 1, &kind, NULL}, {0}};
    int rc = gwctl_parse(argc, argv, opts, &conn, open_usage);
    if (rc != 0) return rc > 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_USAGE;
    if (id == NULL) return gwctl_usage_error(argv[0], "--id is required", open_usage);
    Carbon__V1__OpenAccountRequest req = CARBON__V1__OPEN_ACCOUNT_REQUEST__INIT;
    req.account_id = (char *)id;
    req.holder_kind = (char *)kind;
    const gwctl_reply_t reply = {.print = print_open};
    return gwctl_service_call(&conn, "Registry", "OpenAccount", &req.base,
                              &carbon__v1__open_account_response__descriptor, &reply, NULL);
}

/* ---- issue ------------------------------------------------------------------------ */

static const char issue_usage[] =
    "usage: gwctl issue --account ID --methodology METH --vintage YEAR --quantity Q\n"
    "                   --fingerprint TEXT [--id HEX32] [--catalog-digest HEX]\n"
    "                   [connection options]\n"
    "\n"
    "Issues credits for a measured activity: Q native units of the methodology\n"
    "(e.g. 12.5 km, up to 3 decimals) become floor(Q x grams-per-unit) grams of\n"
    "fresh serials in the account. The fingerprint names the activity; the same\n"
    "fingerprint is never issued twice in a region (double issuance). The id makes\n"
    "the call idempotent: a random one is chosen if not given and printed on\n"
    "stderr before the call, so that a lost answer can be asked for again with\n"
    "--id; the answer shows it too (\"issuance_id\" with --json).\n"
    "\n"
    "  --account ID        account in the gateway's region\n"
    "  --methodology METH  a methodology of the region's catalog (gwctl catalog show)\n"
    "  --vintage YEAR      2000..2100\n"
    "  --quantity Q        native quantity, decimal with at most 3 fraction digits\n"
    "  --fingerprint TEXT  the registry's unique id of the activity\n"
    "  --id HEX32          issuance id (32 lowercase hex digits)\n"
    "  --catalog-digest H  refuse if the catalog is no longer H\n" GWCTL_CONN_HELP
    GWCTL_REGISTRY_CERT_NOTE;

static const char *gwctl_issue_id = ""; /* the request's, for print_issue */

static int print_issue(const ProtobufCMessage *m) {
    const Carbon__V1__IssueResponse *r = (const Carbon__V1__IssueResponse *)m;
    char amount[AMOUNT_TEXT_MAX], block[160];
    gwctl_amount_text(amount, sizeof amount, r->amount);
    gwctl_block_text(block, sizeof block, r->block);
    printf("issued %s as block %s (issuance %s)\n", amount, block, gwctl_issue_id);
    return GWCTL_EXIT_OK;
}

int gwctl_issue(int argc, char **argv) {
    CARBON_ASSERT(argc >= 1 && argv != NULL && argv[0] != NULL);
    const char *account = NULL, *meth = NULL, *vintage = NULL, *quantity = NULL, *fp = NULL,
               *id = NULL, *digest = "";
    gwctl_conn_t conn;
    const gwctl_opt_t opts[] = {{"account", 1, &account, NULL},   {"methodology", 1, &meth, NULL},
                                {"vintage", 1, &vintage, NULL},   {"quantity", 1, &quantity, NULL},
                                {"fingerprint", 1, &fp, NULL},    {"id", 1, &id, NULL},
                                {"catalog-digest", 1, &digest, NULL}, {0}};
    int rc = gwctl_parse(argc, argv, opts, &conn, issue_usage);
    if (rc != 0) return rc > 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_USAGE;
    if (!account || !meth || !vintage || !quantity || !fp)
        return gwctl_usage_error(argv[0],
                                 "--account, --methodology, --vintage, --quantity and "
                                 "--fingerprint are required",
                                 issue_usage);
    uint64_t v, q;
    if (gwctl_parse_u64(vintage, &v) != 0 || v > 9999)
        return gwctl_usage_error(argv[0], "--vintage must be a year", issue_usage);
    if (gwctl_parse_milli(quantity, &q) != 0)
        return gwctl_usage_error(argv[0], "--quantity must be a decimal like 12.5", issue_usage);
    char rid[33];
    id = gwctl_request_id(id, "issuance", rid);
    gwctl_issue_id = id;
    Carbon__V1__IssueRequest req = CARBON__V1__ISSUE_REQUEST__INIT;
    req.issuance_id = (char *)id;
    req.account_id = (char *)account;
    req.methodology_id = (char *)meth;
    req.vintage_year = (uint32_t)v;
    req.quantity_milli = q;
    req.activity_fingerprint = (char *)fp;
    req.catalog_digest = (char *)digest;
    const gwctl_reply_t reply = {.print = print_issue, .id_key = "issuance_id", .id = id};
    return gwctl_service_call(&conn, "Registry", "Issue", &req.base,
                              &carbon__v1__issue_response__descriptor, &reply, NULL);
}

/* ---- quote, transfer, get-transfer, transfers ------------------------------------------ */

static void print_quote_lines(const Carbon__V1__TransferQuote *q) {
    char credited[AMOUNT_TEXT_MAX], debited[AMOUNT_TEXT_MAX];
    gwctl_amount_text(credited, sizeof credited, q->credited);
    gwctl_amount_text(debited, sizeof debited, q->debited);
    printf("  requested  %" PRIu64 " g\n", q->requested_g);
    printf("  debited    %s at the source\n", debited);
    printf("  credited   %s at the destination, as %s\n", credited,
           q->destination_methodology_id);
    printf("  discount   %" PRIu64 " g cancelled (recognition ratio %" PRIu64 "/%" PRIu64 ")\n",
           q->discount_g, q->ratio_num, q->ratio_den);
    printf("  remainder  %" PRIu64 " g stays in the account\n", q->remainder_g);
}

static const char quote_usage[] =
    "usage: gwctl quote --from ID --to-region REGION --methodology METH --amount N\n"
    "                   [connection options]\n"
    "\n"
    "Shows what moving N display units of credits of a methodology to another\n"
    "region would do: grams debited here, whole units credited there under its\n"
    "recognition rule, the discount cancelled, what stays. Changes nothing.\n"
    "\n"
    "  --from ID             account in the gateway's region\n"
    "  --to-region REGION    destination region, e.g. CN-BJ\n"
    "  --methodology METH    origin methodology of the credits, e.g. TJ-GT-01\n"
    "  --amount N            whole display units of this region (e.g. kg)\n" GWCTL_CONN_HELP
    GWCTL_REGISTRY_CERT_NOTE;

static int print_quote(const ProtobufCMessage *m) {
    const Carbon__V1__QuoteResponse *r = (const Carbon__V1__QuoteResponse *)m;
    printf("quote\n");
    print_quote_lines(r->quote);
    return GWCTL_EXIT_OK;
}

int gwctl_quote(int argc, char **argv) {
    CARBON_ASSERT(argc >= 1 && argv != NULL && argv[0] != NULL);
    const char *from = NULL, *to_region = NULL, *meth = NULL, *amount = NULL;
    gwctl_conn_t conn;
    const gwctl_opt_t opts[] = {{"from", 1, &from, NULL},        {"to-region", 1, &to_region, NULL},
                                {"methodology", 1, &meth, NULL}, {"amount", 1, &amount, NULL},
                                {0}};
    int rc = gwctl_parse(argc, argv, opts, &conn, quote_usage);
    if (rc != 0) return rc > 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_USAGE;
    uint64_t n;
    if (!from || !to_region || !meth || !amount || gwctl_parse_u64(amount, &n) != 0)
        return gwctl_usage_error(argv[0], "--from, --to-region, --methodology and a whole --amount are required", quote_usage);
    Carbon__V1__QuoteRequest req = CARBON__V1__QUOTE_REQUEST__INIT;
    req.from_account_id = (char *)from;
    req.to_region = (char *)to_region;
    req.methodology_id = (char *)meth;
    req.amount_units = n;
    const gwctl_reply_t reply = {.print = print_quote};
    return gwctl_service_call(&conn, "Registry", "Quote", &req.base,
                              &carbon__v1__quote_response__descriptor, &reply, NULL);
}

static const char *outcome_name(Carbon__V1__TransferOutcome o) {
    switch (o) {
    case CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED: return "COMMITTED";
    case CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_ABORTED: return "ABORTED";
    case CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_PENDING: return "PENDING";
    default: return "UNSPECIFIED";
    }
}

static void print_record(const Carbon__V1__TransferRecord *t) {
    printf("transfer %s %s%s%s\n", t->transfer_id, outcome_name(t->outcome),
           t->reason[0] ? " reason " : "", t->reason);
    if (t->reason_detail[0] != '\0') printf("  (%s)\n", t->reason_detail);
    printf("  from %s to %s%s\n", t->from_account, t->to_account, t->arrival ? " (arrival)" : "");
    if (t->quote != NULL) print_quote_lines(t->quote);
    for (size_t i = 0; i < t->n_blocks; i++) {
        char block[160];
        gwctl_block_text(block, sizeof block, t->blocks[i]);
        printf("  block %s\n", block);
    }
}

/* 0 COMMITTED, 1 ABORTED, 3 no outcome yet (PENDING), with or without --json. */
static int verdict_transfer(const ProtobufCMessage *m) {
    const Carbon__V1__TransferResponse *r = (const Carbon__V1__TransferResponse *)m;
    if (r->transfer == NULL) return GWCTL_EXIT_REFUSED;
    switch (r->transfer->outcome) {
    case CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_COMMITTED: return GWCTL_EXIT_OK;
    case CARBON__V1__TRANSFER_OUTCOME__TRANSFER_OUTCOME_ABORTED: return GWCTL_EXIT_FINDING;
    default: return GWCTL_EXIT_UNREACHABLE;
    }
}

static int print_transfer(const ProtobufCMessage *m) {
    const Carbon__V1__TransferResponse *r = (const Carbon__V1__TransferResponse *)m;
    if (r->transfer != NULL) print_record(r->transfer);
    return verdict_transfer(m);
}

/* Writes s to f, in single quotes when the shell would split or expand it. */
static void gwctl_shell_word(FILE *f, const char *s) {
    if (s[0] != '\0' && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                  "0123456789-_./:=@,+%") == strlen(s)) {
        fputs(s, f);
        return;
    }
    fputc('\'', f);
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            fputs("'\\''", f);
        else
            fputc(*p, f);
    }
    fputc('\'', f);
}

/* After a transfer with no outcome: it may still settle; how to ask later. */
static void gwctl_transfer_pending_hint(const gwctl_conn_t *conn, const char *id) {
    fprintf(stderr, "gwctl: transfer %s has no outcome yet: it may still be pending and settle\n"
                    "  (COMMITTED or ABORTED) on its own. Ask for its outcome later with:\n    ",
            id);
    const char *words[] = {"gwctl", "get-transfer", "--id",   id,        "--target", conn->target,
                           "--cert", conn->cert,     "--key", conn->key, "--ca",     conn->ca};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (i > 0) fputc(' ', stderr);
        gwctl_shell_word(stderr, words[i]);
    }
    fputs("\n", stderr);
}

static const char transfer_usage[] =
    "usage: gwctl transfer --from ID --to-region REGION --to ID --methodology METH\n"
    "                      --amount N [--vintage YEAR] [--id HEX32]\n"
    "                      [--expect-credited-g G] [connection options]\n"
    "\n"
    "Moves credits to an account in another region by two-phase commit and prints\n"
    "the outcome once it is durable: COMMITTED (the credits are at the destination)\n"
    "or ABORTED with the reason (the hold went back to the account). The id is the\n"
    "idempotency key: repeat the same command with the same --id to learn the\n"
    "outcome after a lost answer; a random id is chosen if not given and printed\n"
    "on stderr before the call (\"transfer_id\" with --json).\n"
    "\n"
    "  --from ID               account in the gateway's region\n"
    "  --to-region REGION      destination region\n"
    "  --to ID                 account in the destination region (must be open)\n"
    "  --methodology METH      origin methodology of the credits to move\n"
    "  --amount N              whole display units of this region\n"
    "  --vintage YEAR          only credits of this vintage (default: any, oldest first)\n"
    "  --id HEX32              transfer id (32 lowercase hex digits)\n"
    "  --expect-credited-g G   refuse if the quote no longer credits G grams\n" GWCTL_CONN_HELP_TLS
    "  --timeout-ms N      give up after N ms (default 86460000 ms: the longest\n"
    "                      leg_expiry_ms a gateway accepts, a day, + 60 s; the gateway\n"
    "                      answers once the leg is decided, at the latest when it\n"
    "                      expires: 30 s after the hold with the default configuration)\n"
    GWCTL_JSON_HELP
    GWCTL_REGISTRY_CERT_NOTE
    "transfer: 0 COMMITTED, 1 ABORTED (also with --json), 3 no outcome yet (deadline\n"
    "exceeded, or still PENDING): the transfer may still settle; gwctl prints the\n"
    "get-transfer command that asks for it later.\n";

int gwctl_transfer(int argc, char **argv) {
    CARBON_ASSERT(argc >= 1 && argv != NULL && argv[0] != NULL);
    const char *from = NULL, *to_region = NULL, *to = NULL, *meth = NULL, *amount = NULL,
               *vintage = "0", *id = NULL, *expect = "0";
    gwctl_conn_t conn;
    const gwctl_opt_t opts[] = {{"from", 1, &from, NULL},      {"to-region", 1, &to_region, NULL},
                                {"to", 1, &to, NULL},          {"methodology", 1, &meth, NULL},
                                {"amount", 1, &amount, NULL},  {"vintage", 1, &vintage, NULL},
                                {"id", 1, &id, NULL},          {"expect-credited-g", 1, &expect, NULL},
                                {0}};
    int rc = gwctl_parse(argc, argv, opts, &conn, transfer_usage);
    if (rc != 0) return rc > 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_USAGE;
    uint64_t n, v, e;
    if (!from || !to_region || !to || !meth || !amount || gwctl_parse_u64(amount, &n) != 0 ||
        gwctl_parse_u64(vintage, &v) != 0 || v > 9999 || gwctl_parse_u64(expect, &e) != 0)
        return gwctl_usage_error(argv[0], "--from, --to-region, --to, --methodology and a whole --amount are required", transfer_usage);
    if (!conn.timeout_given) conn.timeout_ms = GWCTL_TRANSFER_TIMEOUT_MS_DEFAULT;
    char rid[33];
    id = gwctl_request_id(id, "transfer", rid);
    Carbon__V1__TransferRequest req = CARBON__V1__TRANSFER_REQUEST__INIT;
    req.transfer_id = (char *)id;
    req.from_account_id = (char *)from;
    req.to_region = (char *)to_region;
    req.to_account_id = (char *)to;
    req.methodology_id = (char *)meth;
    req.vintage_year = (uint32_t)v;
    req.amount_units = n;
    req.expected_credited_g = e;
    const gwctl_reply_t reply = {.print = print_transfer, .verdict = verdict_transfer,
                                 .id_key = "transfer_id", .id = id};
    grpc_status_code code;
    int exit_code = gwctl_service_call(&conn, "Registry", "Transfer", &req.base,
                                       &carbon__v1__transfer_response__descriptor, &reply, &code);
    if (code == GRPC_STATUS_DEADLINE_EXCEEDED || (code == GRPC_STATUS_OK && exit_code == GWCTL_EXIT_UNREACHABLE))
        gwctl_transfer_pending_hint(&conn, id);
    return exit_code;
}

static const char get_transfer_usage[] =
    "usage: gwctl get-transfer --id HEX32 [connection options]\n"
    "\n"
    "Prints one transfer as this region records it (as source or destination),\n"
    "with its outcome, quote and blocks.\n"
    "\n" GWCTL_CONN_HELP GWCTL_REGISTRY_CERT_NOTE;

static int print_get_transfer(const ProtobufCMessage *m) {
    print_record(((const Carbon__V1__GetTransferResponse *)m)->transfer);
    return GWCTL_EXIT_OK;
}

int gwctl_get_transfer(int argc, char **argv) {
    CARBON_ASSERT(argc >= 1 && argv != NULL && argv[0] != NULL);
    const char *id = NULL;
    gwctl_conn_t conn;
    const gwctl_opt_t opts[] = {{"id", 1, &id, NULL}, {0}};
    int rc = gwctl_parse(argc, argv, opts, &conn, get_transfer_usage);
    if (rc != 0) return rc > 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_USAGE;
    if (id == NULL) return gwctl_usage_error(argv[0], "--id is required", get_transfer_usage);
    Carbon__V1__GetTransferRequest req = CARBON__V1__GET_TRANSFER_REQUEST__INIT;
    req.transfer_id = (char *)id;
    const gwctl_reply_t reply = {.print = print_get_transfer};
    return gwctl_service_call(&conn, "Registry", "GetTransfer", &req.base,
                              &carbon__v1__get_transfer_response__descriptor, &reply, NULL);
}

static const char transfers_usage[] =
    "usage: gwctl transfers [--after CURSOR] [--limit N] [--arrivals|--departures]\n"
    "                       [connection options]\n"
    "\n"
    "Lists the region's transfer feed after a cursor: departures (recorded when\n"
    "held) and arrivals (recorded when committed here). Pass the printed next\n"
    "cursor as --after to poll for what arrived since.\n"
    "\n"
    "  --after CURSOR      start after this cursor (default 0)\n"
    "  --limit N           at most N entries, 1..1000 (default 100)\n"
    "  --arrivals          only arrivals\n"
    "  --departures        only departures\n" GWCTL_CONN_HELP GWCTL_REGISTRY_CERT_NOTE;

static int print_transfers(const ProtobufCMessage *m) {
    const Carbon__V1__ListTransfersResponse *r = (const Carbon__V1__ListTransfersResponse *)m;
    static const gwctl_column_t cols[] = {{"CURSOR", 7, 0, 0},  {"KIND", 9, 0, 0}, {"TRANSFER", 32, 0, 0},
                                          {"OUTCOME", 10, 0, 0}, {"FROM", 26, 0, 0}, {"TO", 26, 0, 0},
                                          {"CREDITED", 0, 0, 0}};
    const gwctl_table_t table = {cols, sizeof cols / sizeof cols[0], NULL};
    gwctl_table_head(stdout, &table);
    for (size_t i = 0; i < r->n_transfers; i++) {
        const Carbon__V1__TransferRecord *t = r->transfers[i];
        char credited[AMOUNT_TEXT_MAX] = "-", cursor[GWCTL_U64_TEXT];
        if (t->quote != NULL) gwctl_amount_text(credited, sizeof credited, t->quote->credited);
        const char *cells[] = {gwctl_u64_text(cursor, t->cursor), t->arrival ? "arrival" : "departure",
                               t->transfer_id, outcome_name(t->outcome), t->from_account, t->to_account,
                               credited};
        gwctl_table_row(stdout, &table, cells);
    }
    printf("next cursor %" PRIu64 "\n", r->next_cursor);
    return GWCTL_EXIT_OK;
}

int gwctl_transfers(int argc, char **argv) {
    CARBON_ASSERT(argc >= 1 && argv != NULL && argv[0] != NULL);
    const char *after = "0", *limit = "0";
    int arrivals = 0, departures = 0;
    gwctl_conn_t conn;
    const gwctl_opt_t opts[] = {{"after", 1, &after, NULL}, {"limit", 1, &limit, NULL},
                                {"arrivals", 0, NULL, &arrivals},
                                {"departures", 0, NULL, &departures}, {0}};
    int rc = gwctl_parse(argc, argv, opts, &conn, transfers_usage);
    if (rc != 0) return rc > 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_USAGE;
    uint64_t a, l;
    if (gwctl_parse_u64(after, &a) != 0 || gwctl_parse_u64(limit, &l) != 0 || l > 1000)
        return gwctl_usage_error(argv[0], "--after and --limit take whole numbers (limit <= 1000)", transfers_usage);
    Carbon__V1__ListTransfersRequest req = CARBON__V1__LIST_TRANSFERS_REQUEST__INIT;
    req.after_cursor = a;
    req.limit = (uint32_t)l;
    req.arrivals_only = arrivals;
    req.departures_only = departures;
    const gwctl_reply_t reply = {.print = print_transfers};
    return gwctl_service_call(&conn, "Registry", "ListTransfers", &req.base,
                              &carbon__v1__list_transfers_response__descriptor, &reply, NULL);
}

/* ---- account --------------------------------------------------------------------- */

static const char account_usage[] =
    "usage: gwctl account --id ID [--blocks N] [connection options]\n"
    "\n"
    "Prints an account: total, held (outgoing in flight) and pending (incoming,\n"
    "not yet decided) in the region's display unit and grams, the balance by\n"
    "origin methodology and vintage, and up to N blocks of serials (default 20).\n"
    "\n" GWCTL_CONN_HELP GWCTL_REGISTRY_CERT_NOTE;

static unsigned gwctl_blocks_shown = 20;

static int print_account(const ProtobufCMessage *m) {
    const Carbon__V1__GetAccountResponse *r = (const Carbon__V1__GetAccountResponse *)m;
    char total[AMOUNT_TEXT_MAX], held[AMOUNT_TEXT_MAX], pending[AMOUNT_TEXT_MAX];
    gwctl_amount_text(total, sizeof total, r->total);
    gwctl_amount_text(held, sizeof held, r->held);
    gwctl_amount_text(pending, sizeof pending, r->pending);
    printf("account %s (%s)\n  total    %s\n  held     %s\n  pending  %s\n", r->account,
           r->holder_kind, total, held, pending);
    static const gwctl_column_t cols[] = {{"ORIGIN", 8, 0, 0}, {"METHOD", 10, 0, 0}, {"VINTAGE", 7, 0, 0},
                                          {"BALANCE", 0, 0, 0}};
    const gwctl_table_t table = {cols, sizeof cols / sizeof cols[0], "  "};
    if (r->n_balances > 0) gwctl_table_head(stdout, &table);
    for (size_t i = 0; i < r->n_balances; i++) {
        char amount[AMOUNT_TEXT_MAX], vintage[GWCTL_U64_TEXT];
        gwctl_amount_text(amount, sizeof amount, r->balances[i]->amount);
        const char *cells[] = {r->balances[i]->origin_region, r->balances[i]->methodology_id,
                               gwctl_u64_text(vintage, r->balances[i]->vintage_year), amount};
        gwctl_table_row(stdout, &table, cells);
    }
    for (size_t i = 0; i < r->n_blocks && i < gwctl_blocks_shown; i++) {
        char block[160];
        gwctl_block_text(block, sizeof block, r->blocks[i]);
        printf("  block %s\n", block);
    }
    if (r->n_blocks > gwctl_blocks_shown || r->blocks_truncated)
        printf("  (more blocks not shown)\n");
    return GWCTL_EXIT_OK;
}

int gwctl_account(int argc, char **argv) {
    CARBON_ASSERT(argc >= 1 && argv != NULL && argv[0] != NULL);
    const char *id = NULL, *blocks = "20";
    gwctl_conn_t conn;
    const gwctl_opt_t opts[] = {{"id", 1, &id, NULL}, {"blocks", 1, &blocks, NULL}, {0}};
    int rc = gwctl_parse(argc, argv, opts, &conn, account_usage);
    if (rc != 0) return rc > 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_USAGE;
    uint64_t nb;
    if (id == NULL || gwctl_parse_u64(blocks, &nb) != 0 || nb > 10000)
        return gwctl_usage_error(argv[0], "--id is required; --blocks is 0..10000", account_usage);
    gwctl_blocks_shown = (unsigned)nb;
    Carbon__V1__GetAccountRequest req = CARBON__V1__GET_ACCOUNT_REQUEST__INIT;
    req.account_id = (char *)id;
    req.blocks_limit = nb > 0 ? (uint32_t)nb : 1;
    const gwctl_reply_t reply = {.print = print_account};
    return gwctl_service_call(&conn, "Registry", "GetAccount", &req.base,
                              &carbon__v1__get_account_response__descriptor, &reply, NULL);
}

/* ---- retire ---------------------------------------------------------------------- */

static const char retire_usage[] =
    "usage: gwctl retire --account ID --amount N --purpose PURPOSE --beneficiary TEXT\n"
    "                    [--methodology METH] [--vintage YEAR] [--compliance-year YEAR]\n"
    "                    [--id HEX32]\n"
    "                    [connection options]\n"
    "\n"
    "Retires N display units of an account's credits (oldest vintage first) for a\n"
    "purpose, on behalf of a beneficiary. Retired serials never move again.\n"
    "\n"
    "  --account ID        the account whose credits are retired (this region's)\n"
    "  --amount N          how many whole display units of the region (kg, point, credit)\n"
    "  --purpose PURPOSE   compliance_offset (offsetting a key emitter's allowance\n"
    "                      surrender), voluntary_neutrality (carbon neutrality of\n"
    "                      organisations and large events), voluntary_cancellation,\n"
    "                      ecological_compensation or rights_redemption; the region's\n"
    "                      rules on use say which credits each accepts\n"
    "  --compliance-year YEAR  compliance_offset only (required): the year of the\n"
    "                      beneficiary's registered obligation it offsets\n"
    "  --beneficiary TEXT  on whose behalf (1..256 bytes of UTF-8, any text)\n"
    "  --methodology METH  only credits of this origin methodology (default any)\n"
    "  --vintage YEAR      only this vintage (default any)\n"
    "  --id HEX32          retirement id (idempotency key); a random one is chosen if\n"
    "                      not given and printed on stderr before the call\n" GWCTL_CONN_HELP
    GWCTL_REGISTRY_CERT_NOTE;

static int print_retire(const ProtobufCMessage *m) {
    const Carbon__V1__RetireResponse *r = (const Carbon__V1__RetireResponse *)m;
    char amount[AMOUNT_TEXT_MAX];
    gwctl_amount_text(amount, sizeof amount, r->amount);
    printf("retired %s (retirement %s)\n", amount, r->retirement_id);
    for (size_t i = 0; i < r->n_blocks; i++) {
        char block[160];
        gwctl_block_text(block, sizeof block, r->blocks[i]);
        printf("  block %s\n", block);
    }
    return GWCTL_EXIT_OK;
}

int gwctl_retire(int argc, char **argv) {
    CARBON_ASSERT(argc >= 1 && argv != NULL && argv[0] != NULL);
    const char *account = NULL, *amount = NULL, *purpose = NULL, *beneficiary = NULL,
               *meth = "", *vintage = "0", *id = NULL, *cyear = "0";
    gwctl_conn_t conn;
    const gwctl_opt_t opts[] = {{"account", 1, &account, NULL},     {"amount", 1, &amount, NULL},
                                {"purpose", 1, &purpose, NULL},     {"beneficiary", 1, &beneficiary, NULL},
                                {"methodology", 1, &meth, NULL},    {"vintage", 1, &vintage, NULL},
                                {"id", 1, &id, NULL},               {"compliance-year", 1, &cyear, NULL},
                                {0}};
    int rc = gwctl_parse(argc, argv, opts, &conn, retire_usage);
    if (rc != 0) return rc > 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_USAGE;
    uint64_t n, v, cy;
    if (!account || !amount || !purpose || !beneficiary || gwctl_parse_u64(amount, &n) != 0 ||
        gwctl_parse_u64(vintage, &v) != 0 || v > 9999 || gwctl_parse_u64(cyear, &cy) != 0 || cy > 9999)
        return gwctl_usage_error(argv[0], "--account, a whole --amount, --purpose and --beneficiary are required", retire_usage);
    Carbon__V1__RetirementPurpose p;
    if (!strcmp(purpose, "compliance_offset"))
        p = CARBON__V1__RETIREMENT_PURPOSE__RETIREMENT_PURPOSE_COMPLIANCE_OFFSET;
    else if (!strcmp(purpose, "rights_redemption"))
        p = CARBON__V1__RETIREMENT_PURPOSE__RETIREMENT_PURPOSE_RIGHTS_REDEMPTION;
    else if (!strcmp(purpose, "voluntary_neutrality"))
        p = CARBON__V1__RETIREMENT_PURPOSE__RETIREMENT_PURPOSE_VOLUNTARY_NEUTRALITY;
    else if (!strcmp(purpose, "voluntary_cancellation"))
        p = CARBON__V1__RETIREMENT_PURPOSE__RETIREMENT_PURPOSE_VOLUNTARY_CANCELLATION;
    else if (!strcmp(purpose, "ecological_compensation"))
        p = CARBON__V1__RETIREMENT_PURPOSE__RETIREMENT_PURPOSE_ECOLOGICAL_COMPENSATION;
    else
        return gwctl_usage_error(argv[0], "unknown --purpose", retire_usage);
    char rid[33];
    id = gwctl_request_id(id, "retirement", rid);
    Carbon__V1__RetireRequest req = CARBON__V1__RETIRE_REQUEST__INIT;
    req.retirement_id = (char *)id;
    req.account_id = (char *)account;
    req.methodology_id = (char *)meth;
    req.vintage_year = (uint32_t)v;
    req.amount_units = n;
    req.purpose = p;
    req.beneficiary = (char *)beneficiary;
    req.compliance_year = (uint32_t)cy;
    const gwctl_reply_t reply = {.print = print_retire, .id_key = "retirement_id", .id = id};
    return gwctl_service_call(&conn, "Registry", "Retire", &req.base,
                              &carbon__v1__retire_response__descriptor, &reply, NULL);
}
