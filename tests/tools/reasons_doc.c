/* reasons_doc.c - writes docs/reasons.md from the table of reasons
 * (settlement/reasons.h), or checks that the committed file is current.
 *
 *   reasons_doc FILE           writes FILE
 *   reasons_doc --check FILE   exit 0 if FILE is what would be written, else 1
 *
 * The ctest test reasons_doc_current runs the second form. */
#include "settlement/reasons.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REASONS_DOC_BYTES_MAX (1u << 20)

static const char *const where_text[] = {"", "call", "transfer", "call, transfer"};
static const char *const retry_text[] = {"no", "yes", "later"};

static void doc_head(FILE *f) {
    fputs("# Reasons\n\n"
          "<!-- Generated from settlement/reasons.h by tests/tools/reasons_doc.c: do not edit.\n"
          "     Regenerate with: cmake --build build-asan --target reasons_md -->\n\n"
          "Every refusal and every aborted transfer carries a machine-readable reason.\n"
          "This table is the contract: the code spells each reason from it, and the test\n"
          "`test_reasons` fails if the code names a reason the table lacks, or the table\n"
          "lists one the code never gives.\n\n"
          "- **call**: the call fails with the gRPC status shown. The status message is\n"
          "  `REASON: sentence` and the trailing metadata `carbon-reason` holds `REASON`.\n"
          "  A refused call changes no state.\n"
          "- **transfer**: the call itself succeeds; the transfer ended `ABORTED` (nothing\n"
          "  moved) and `TransferRecord.reason` holds the reason (between gateways,\n"
          "  `LegVote.reason` of a NO vote). A transfer an operator aborted with\n"
          "  `ResolveInDoubt` carries the operator's SPIFFE ID and text instead.\n"
          "- **Retry**: *yes* the same request (same id) can succeed as it is; *later*\n"
          "  it can once something else changed (a balance, a catalog, an expiry);\n"
          "  *no* it fails again: change the request.\n\n",
          f);
}

static void doc_tail(FILE *f) {
    fputs("\n## Merged names\n\n"
          "Names that meant the same thing were merged; the old names are no longer sent:\n"
          "`NO_ACCOUNT` is `UNKNOWN_ACCOUNT`; `PEER_UNREACHABLE` is `PEER_UNAVAILABLE`;\n"
          "`TRANSFER_ID_IN_USE` (a NO vote) is `ID_REUSED`; `NO_CATALOG` is\n"
          "`CATALOG_UNKNOWN`; `AMOUNT_TOO_LARGE` is `BAD_AMOUNT`. `BAD_BATCH_SIZE` now\n"
          "means an empty batch only; an oversized one is `BATCH_TOO_LARGE`.\n\n"
          "## Adding a reason\n\n"
          "One line in `REASONS_TABLE` (settlement/reasons.h), `REASON(NAME)` (or\n"
          "`server_refuse(call, REASON_NAME, ...)`) at the refusal site, the name as a\n"
          "literal in a Lua script's reply, then regenerate this file.\n",
          f);
}

/* Writes the whole document to f. */
static void doc_write(FILE *f) {
    doc_head(f);
    fputs("| Reason | gRPC status | Where | Retry | Meaning | What to do |\n"
          "|---|---|---|---|---|---|\n",
          f);
    for (size_t i = 0; i < REASON_COUNT; i++) {
        const reason_info_t *r = reason_info((reason_t)i);
        assert(strchr(r->meaning, '|') == NULL && strchr(r->todo, '|') == NULL);
        fprintf(f, "| `%s` | %s | %s | %s | %s | %s |\n", r->name,
                r->where == REASON_WHERE_LEG ? "none (OK)" : r->status_name, where_text[r->where],
                retry_text[r->retry], r->meaning, r->todo);
    }
    doc_tail(f);
}

/* The file's bytes (at most REASONS_DOC_BYTES_MAX) in a malloc'd buffer, NULL if unreadable. */
static char *doc_read(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    char *buf = malloc(REASONS_DOC_BYTES_MAX);
    if (buf == NULL) abort();
    *len = fread(buf, 1, REASONS_DOC_BYTES_MAX, f);
    fclose(f);
    return buf;
}

int main(int argc, char **argv) {
    int check = argc == 3 && strcmp(argv[1], "--check") == 0;
    if (argc != 2 + check) {
        fprintf(stderr, "usage: reasons_doc [--check] FILE\n");
        return 2;
    }
    const char *path = argv[1 + check];
    if (!check) {
        FILE *f = fopen(path, "w");
        if (f == NULL) {
            perror(path);
            return 1;
        }
        doc_write(f);
        return fclose(f) == 0 ? 0 : 1;
    }
    char *want = NULL;
    size_t want_len = 0;
    FILE *m = open_memstream(&want, &want_len);
    if (m == NULL) abort();
    doc_write(m);
    fclose(m);
    size_t have_len = 0;
    char *have = doc_read(path, &have_len);
    int same = have != NULL && have_len == want_len && memcmp(have, want, want_len) == 0;
    if (!same)
        fprintf(stderr, "%s is not what settlement/reasons.h generates: run "
                        "`cmake --build build-asan --target reasons_md` and commit it\n", path);
    free(have);
    free(want);
    return same ? 0 : 1;
}
