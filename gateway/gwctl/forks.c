/* forks.c - gwctl forks list|ack: the fork alarm of a witness
 * (Operations.ListForks, Operations.AcknowledgeFork; docs/audit-log.md §4). */
#include "gateway/gwctl/gwctl.h"
#include "common/carbon_assert.h"

#include "carbon/v1/carbon.pb-c.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FORKS_ARGS_MAX 64

static const char forks_usage[] =
    "usage: gwctl forks list [--all] [connection options]\n"
    "       gwctl forks ack ID --reason TEXT [connection options]\n"
    "\n"
    "The fork alarm of this gateway as the witness of its peers' audit logs. A\n"
    "fork is a checkpoint of a peer region, validly signed by that region's\n"
    "audit key, that is not consistent with the checkpoint this gateway had\n"
    "cosigned for it (same size and another root, or a consistency proof that\n"
    "fails): the region's history was rewritten. The witness refused it and keeps\n"
    "both signed checkpoints (and the proof) as evidence.\n"
    "\n"
    "  list          the forks not acknowledged yet (--all: acknowledged ones too),\n"
    "                with both checkpoints' sizes and roots\n"
    "  ack ID        acknowledges fork ID: the alarm goes down once none is left;\n"
    "                who, when and why are recorded (and written in this region's\n"
    "                audit log as an ack-fork entry), the evidence is kept\n"
    "  --reason TEXT why (10..512 bytes of UTF-8), e.g. an incident number\n"
    "\n" GWCTL_CONN_HELP
    "The certificate must be an operator certificate of the gateway's region.\n" GWCTL_EXIT_HELP
    "forks list: 0 no unacknowledged fork, 1 at least one (the alarm is up).\n";

/* "size SIZE, root ROOT" of a checkpoint note (its 2nd and 3rd lines), for people. */
static void forks_head(const ProtobufCBinaryData *note, char *out, size_t out_size) {
    CARBON_ASSERT(note != NULL && out != NULL && out_size > 0);
    const char *p = (const char *)note->data, *end = p + note->len;
    const char *nl = note->len > 0 ? memchr(p, '\n', note->len) : NULL;
    snprintf(out, out_size, "?");
    if (nl == NULL) return;
    const char *size = nl + 1;
    const char *nl2 = memchr(size, '\n', (size_t)(end - size));
    if (nl2 == NULL) return;
    const char *root = nl2 + 1;
    const char *nl3 = memchr(root, '\n', (size_t)(end - root));
    if (nl3 == NULL) return;
    snprintf(out, out_size, "size %.*s, root %.*s", (int)(nl2 - size) > 20 ? 20 : (int)(nl2 - size), size,
             (int)(nl3 - root) > 44 ? 44 : (int)(nl3 - root), root);
}

static void forks_print_one(const Carbon__V1__Fork *f) {
    char cosigned[96], conflicting[96];
    forks_head(&f->cosigned_checkpoint, cosigned, sizeof cosigned);
    forks_head(&f->conflicting_checkpoint, conflicting, sizeof conflicting);
    char when[32] = "?";
    time_t t = (time_t)(f->detected_unix_ms / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) != NULL) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("fork %s of %s, detected %s%s\n", f->id, f->region, when,
           f->acknowledged ? "" : "  UNACKNOWLEDGED");
    printf("  cosigned:    %s\n", cosigned);
    printf("  conflicting: %s\n", conflicting);
    printf("  proof:       %zu hashes\n", f->n_consistency_proof);
    if (f->acknowledged)
        printf("  acknowledged by %s: %s\n", f->acknowledged_by, f->acknowledge_reason);
}

static int verdict_forks(const ProtobufCMessage *m) {
    const Carbon__V1__ListForksResponse *r = (const Carbon__V1__ListForksResponse *)m;
    for (size_t i = 0; i < r->n_forks; i++)
        if (!r->forks[i]->acknowledged) return GWCTL_EXIT_FINDING;
    return GWCTL_EXIT_OK;
}

static int print_forks(const ProtobufCMessage *m) {
    const Carbon__V1__ListForksResponse *r = (const Carbon__V1__ListForksResponse *)m;
    size_t open = 0;
    for (size_t i = 0; i < r->n_forks; i++) {
        forks_print_one(r->forks[i]);
        open += !r->forks[i]->acknowledged;
    }
    printf("%zu forks unacknowledged%s\n", open, open > 0 ? ": ALARM" : "");
    return verdict_forks(m);
}

static int print_ack(const ProtobufCMessage *m) {
    const Carbon__V1__AcknowledgeForkResponse *r = (const Carbon__V1__AcknowledgeForkResponse *)m;
    if (r->fork != NULL) forks_print_one(r->fork);
    return GWCTL_EXIT_OK;
}

static int forks_list(int argc, char **argv) {
    int all = 0;
    gwctl_conn_t conn;
    const gwctl_opt_t opts[] = {{"all", 0, NULL, &all}, {0}};
    int rc = gwctl_parse(argc, argv, opts, &conn, forks_usage);
    if (rc != 0) return rc > 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_USAGE;
    Carbon__V1__ListForksRequest req = CARBON__V1__LIST_FORKS_REQUEST__INIT;
    req.include_acknowledged = all;
    const gwctl_reply_t reply = {.print = print_forks, .verdict = verdict_forks};
    return gwctl_service_call(&conn, "Operations", "ListForks", &req.base,
                              &carbon__v1__list_forks_response__descriptor, &reply, NULL);
}

static int forks_ack(int argc, char **argv) {
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(forks_usage, stdout); /* as gwctl_parse answers --help after the ID */
        return GWCTL_EXIT_OK;
    }
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "gwctl forks ack: the fork ID comes first (gwctl forks ack ID --reason TEXT)\n");
        return GWCTL_EXIT_USAGE;
    }
    const char *id = argv[1], *reason = NULL;
    char *rest[FORKS_ARGS_MAX];
    int n = 0;
    rest[n++] = "forks ack";
    for (int i = 2; i < argc && n < FORKS_ARGS_MAX; i++) rest[n++] = argv[i];
    gwctl_conn_t conn;
    const gwctl_opt_t opts[] = {{"reason", 1, &reason, NULL}, {0}};
    int rc = gwctl_parse(n, rest, opts, &conn, forks_usage);
    if (rc != 0) return rc > 0 ? GWCTL_EXIT_OK : GWCTL_EXIT_USAGE;
    if (reason == NULL) {
        fprintf(stderr, "gwctl forks ack: --reason is required\n");
        return GWCTL_EXIT_USAGE;
    }
    Carbon__V1__AcknowledgeForkRequest req = CARBON__V1__ACKNOWLEDGE_FORK_REQUEST__INIT;
    req.id = (char *)id;
    req.reason = (char *)reason;
    const gwctl_reply_t reply = {.print = print_ack};
    return gwctl_service_call(&conn, "Operations", "AcknowledgeFork", &req.base,
                              &carbon__v1__acknowledge_fork_response__descriptor, &reply, NULL);
}

int gwctl_forks(int argc, char **argv) {
    CARBON_ASSERT(argc >= 1 && argv != NULL && argv[0] != NULL);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(forks_usage, stdout);
        return GWCTL_EXIT_OK;
    }
    if (argc >= 2 && strcmp(argv[1], "list") == 0) return forks_list(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "ack") == 0) return forks_ack(argc - 1, argv + 1);
    fprintf(stderr, "gwctl forks: give list or ack\n\n%s", forks_usage);
    return GWCTL_EXIT_USAGE;
}
