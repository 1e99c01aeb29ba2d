/* test_audit_entry.c - the audit log's entry format carbon-audit/3
 * (settlement/audit.h, docs/audit-log.md section 1): the documented example,
 * every field decoded, and every malformation refused. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settlement/audit.h"

/* The example of docs/audit-log.md section 1, byte for byte. */
static const char doc_example[] =
    "14:carbon-audit/3,1:1,13:1764480000000,4:open,11:8:p-7f3a01,,0:,11:8:personal,,";

Test(audit_entry, the_documented_example_parses) {
    audit_entry_t e;
    char why[160] = "";
    cr_assert_eq(audit_entry_parse(1, doc_example, sizeof doc_example - 1, &e, why, sizeof why), 0, "%s", why);
    cr_assert_eq(e.seq, 1);
    cr_assert_eq(e.time_ms, 1764480000000ull);
    cr_assert_str_eq(e.event, "open");
    cr_assert_eq(e.ids_n, 1);
    cr_assert_str_eq(e.ids[0], "p-7f3a01");
    cr_assert_eq(e.blocks_n, 0);
    cr_assert(e.detail_n == 1 && e.detail_len[0] == 8 && memcmp(e.detail_text[0], "personal", 8) == 0);
    cr_assert(e.entry_len == sizeof doc_example - 1 && memcmp(e.entry, doc_example, e.entry_len) == 0);
    audit_entry_free(&e);
    /* the same bytes are not entry 2 */
    cr_assert_eq(audit_entry_parse(2, doc_example, sizeof doc_example - 1, &e, why, sizeof why), -1);
    cr_assert(strstr(why, "seq") != NULL, "%s", why);
}

Test(audit_entry, blocks_ids_and_free_text_round_trip) {
    /* a retirement: two ids, one block, two details of which one holds ',', '|' and ':' */
    static const char text[] =
        "14:carbon-audit/3,2:42,13:1764480000001,6:retire,"
        "43:32:0123456789abcdef0123456789abcdef,4:tj-a,,"
        "41:37:5:CN-TJ,8:TJ-GT-01,4:2026,1:1,4:1000,,,"
        "43:20:voluntary_neutrality,15:Acme Co.,|:Ltd.,,";
    audit_entry_t e;
    char why[160] = "";
    cr_assert_eq(audit_entry_parse(42, text, sizeof text - 1, &e, why, sizeof why), 0, "%s", why);
    cr_assert_eq(e.ids_n, 2);
    cr_assert_str_eq(e.ids[1], "tj-a");
    cr_assert(audit_entry_has_id(&e, "0123456789abcdef0123456789abcdef") && audit_entry_has_id(&e, "tj-a") &&
              !audit_entry_has_id(&e, "tj-"));
    cr_assert_eq(e.blocks_n, 1);
    cr_assert(!strcmp(e.blocks[0].origin, "CN-TJ") && !strcmp(e.blocks[0].meth, "TJ-GT-01") &&
              e.blocks[0].vintage == 2026 && e.blocks[0].first == 1 && e.blocks[0].last == 1000);
    cr_assert(audit_entry_has_serial(&e, "CN-TJ", 1000) && !audit_entry_has_serial(&e, "CN-TJ", 1001));
    cr_assert(e.detail_n == 2 && e.detail_len[1] == 15 && memcmp(e.detail_text[1], "Acme Co.,|:Ltd.", 15) == 0);
    audit_entry_free(&e);
}

Test(audit_entry, malformations_are_refused_with_a_reason) {
    static const char *const bad[] = {
        "",                                                                       /* nothing */
        "14:carbon-audit/2,1:1,13:1764480000000,4:open,0:,0:,0:,",                /* another format */
        "14:carbon-audit/3,1:1,13:1764480000000,4:open,0:,0:,",                   /* six fields */
        "14:carbon-audit/3,1:1,13:1764480000000,4:open,0:,0:,0:,0:,",             /* eight fields */
        "14:carbon-audit/3,1:1,13:1764480000000,4:open,0:,0:,0:,x",               /* trailing bytes */
        "14:carbon-audit/3,01:1,13:1764480000000,4:open,0:,0:,0:,",               /* leading zero in LEN */
        "14:carbon-audit/3,2:01,13:1764480000000,4:open,0:,0:,0:,",               /* leading zero in seq */
        "14:carbon-audit/3,2:+1,13:1764480000000,4:open,0:,0:,0:,",               /* a sign */
        "14:carbon-audit/3,1:1,13:1764480000000,0:,0:,0:,0:,",                    /* no event */
        "14:carbon-audit/3,1:1,13:1764480000000,4:open,3:1:a,0:,0:,",             /* ids not fields */
        "14:carbon-audit/3,1:1,13:1764480000000,4:open,0:,16:12:5:CN-TJ,1:M,,,0:,", /* a block of two fields */
        "14:carbon-audit/3,1:1,13:1764480000000,4:open,0:,"
        "31:27:5:CN-TJ,1:M,4:2026,1:9,1:1,,,0:,",                                 /* first > last */
        "14:carbon-audit/3,1:1,13:1764480000000,4:open,0:,0:,"
        "36:1:a,1:b,1:c,1:d,1:e,1:f,1:g,1:h,1:i,,",                               /* 9 details */
        "14:carbon-audit/3,1:1,13:1764480000000,4:open,0:,0:,0:",                 /* no final comma */
        "99999999:carbon-audit/3,",                                              /* LEN of 8 digits */
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        audit_entry_t e;
        char why[160] = "";
        cr_expect_eq(audit_entry_parse(1, bad[k], strlen(bad[k]), &e, why, sizeof why), -1, "took '%s'", bad[k]);
        cr_expect(why[0] != '\0', "no reason for '%s'", bad[k]);
        cr_expect(e.entry == NULL && e.ids == NULL && e.blocks == NULL, "left memory for '%s'", bad[k]);
    }
}

Test(audit_entry, a_nul_byte_or_an_oversized_entry_is_refused) {
    static const char with_nul[] = "14:carbon-audit/3,1:1,13:1764480000000,4:op\0n,0:,0:,0:,";
    audit_entry_t e;
    char why[160] = "";
    cr_assert_eq(audit_entry_parse(1, with_nul, sizeof with_nul - 1, &e, why, sizeof why), -1);
    size_t big = AUDIT_ENTRY_BYTES_MAX + 1;
    char *text = malloc(big);
    cr_assert_not_null(text);
    memset(text, '1', big);
    cr_assert_eq(audit_entry_parse(1, text, big, &e, why, sizeof why), -1);
    cr_assert(strstr(why, "longer") != NULL, "%s", why);
    free(text);
}
