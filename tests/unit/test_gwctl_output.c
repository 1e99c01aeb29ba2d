/* test_gwctl_output.c - unit tests of gateway/gwctl/output.h: gwctl's tables
 * for people and its JSON helpers (the catalog document is tested with the
 * catalogs, in test_adapters). */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gwctl/output.h"

/* Runs one table print into a string (caller frees). */
static char *table_text(const gwctl_table_t *t, const char *const *const *rows, size_t n) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    gwctl_table_head(f, t);
    for (size_t i = 0; i < n; i++) gwctl_table_row(f, t, rows[i]);
    cr_assert_eq(fclose(f), 0);
    return buf;
}

Test(gwctl_output, table_pads_aligns_and_leaves_the_last_cell_unpadded) {
    static const gwctl_column_t cols[] = {{"NAME", 6, 0, 0}, {"N", 4, 0, 1}, {"NOTE", 0, 0, 0}};
    const gwctl_table_t t = {cols, 3, "  "};
    const char *const r1[] = {"ab", "7", "x"};
    const char *const r2[] = {"longer-than-six", "12345", NULL};
    const char *const *rows[] = {r1, r2};
    char *out = table_text(&t, rows, 2);
    cr_expect_str_eq(out, "  NAME      N NOTE\n"
                          "  ab        7 x\n"
                          "  longer-than-six 12345 -\n");
    free(out);
}

Test(gwctl_output, table_cuts_at_max_on_a_character_and_neutralizes_control_bytes) {
    static const gwctl_column_t cols[] = {{"ID", 0, 4, 0}};
    const gwctl_table_t t = {cols, 1, NULL};
    const char *const r1[] = {"abcdef"};           /* cut after 4 bytes */
    const char *const r2[] = {"ab\x1b[2Jc"};       /* an escape sequence from a gateway */
    const char *const r3[] = {"a\xe5\x85\xac\xe4\xba\xa4"}; /* "a公交": byte 4 is inside 公 */
    const char *const r4[] = {"abcd"};             /* exactly max: not cut */
    const char *const *rows[] = {r1, r2, r3, r4};
    char *out = table_text(&t, rows, 4);
    cr_expect_str_eq(out, "ID\nabcd...\nab?[...\na\xe5\x85\xac...\nabcd\n");
    free(out);
}

Test(gwctl_output, table_cells_have_a_limit) {
    static const gwctl_column_t cols[] = {{"X", 0, 0, 0}};
    const gwctl_table_t t = {cols, 1, NULL};
    char *big = malloc(4 * GWCTL_CELL_MAX);
    cr_assert_not_null(big);
    memset(big, 'x', 4 * GWCTL_CELL_MAX - 1);
    big[4 * GWCTL_CELL_MAX - 1] = '\0';
    const char *const r1[] = {big};
    const char *const *rows[] = {r1};
    char *out = table_text(&t, rows, 1);
    cr_expect_eq(strlen(out), strlen("X\n") + (GWCTL_CELL_MAX - 1) + strlen("...\n"));
    free(out);
    free(big);
}

Test(gwctl_output, json_helpers) {
    json_t *j = gwctl_json_u64(UINT64_MAX);
    cr_expect_str_eq(json_string_value(j), "18446744073709551615");
    json_decref(j);
    j = gwctl_json_text("ok \xff\xfe end"); /* not UTF-8: kept, with '?' */
    cr_assert_not_null(j);
    cr_expect_str_eq(json_string_value(j), "ok ?? end");
    json_decref(j);
    char buf[AMOUNT_TEXT_MAX];
    cr_expect_str_eq(gwctl_amount_text(buf, sizeof buf, NULL), "-");
    Carbon__V1__Amount a = CARBON__V1__AMOUNT__INIT;
    a.grams = 19950;
    a.unit = "kg";
    a.unit_g = 1000;
    cr_expect_str_eq(gwctl_amount_text(buf, sizeof buf, &a), "19 kg (19950 g)");
}
