/* test_export_map.c - the map side of an export's commit in one lookup and
 * one ZADD per block (own_export_map, settlement/scripts/_prelude.lua;
 * issue 16). For each case it runs the former way (blocks_split, then
 * origin_follow for the head and for the tail) and own_export_map on the
 * same fresh store, and requires the same origin map and the same cancelled
 * parts from both, including when a hand-edited entry overlaps a block (the
 * parts are then moved one by one, as before) and for records only a hand
 * edit makes. It also counts the commands:
 * one ZREVRANGEBYSCORE and one ZADD per block of this region's serials.
 *
 * A real redis-server runs tests/support/scripts/export_map_test.lua, the
 * settlement prelude and a few lines; the state is read back directly. */
#include "common/carbon_assert.h"
#include "settlement/store.h"
#include "settlement/store_keys.h"
#include "tests/support/redis_harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAP_TEXT_MAX 1024

static redis_fixture_t g_fx;
static int g_script;

static void init(void) {
    cr_assert_eq(redis_fixture_start(&g_fx, 1), 0, "%s", redis_last_error());
    g_script = store_script_find(g_fx.store, "export_map_test");
    cr_assert_geq(g_script, 0, "export_map_test.lua is not loaded");
}

static void fini(void) { redis_fixture_stop(&g_fx); }

TestSuite(export_map, .init = init, .fini = fini, .timeout = 60);

static void redis_ok(const char *fmt, const char *a, const char *b) {
    redisReply *r = redisCommand(g_fx.conn, fmt, a, b);
    cr_assert(r != NULL && r->type != REDIS_REPLY_ERROR, "%s: %s", fmt, r != NULL ? r->str : "no reply");
    freeReplyObject(r);
}

/* A fresh store of CN-TJ whose map holds the entries in preset ("FIRST:LAST:REGION:STATE",
 * comma-separated, "" for none), with the command counters reset. */
static void fresh_store(const char *preset) {
    redis_ok("FLUSHALL", NULL, NULL);
    redis_ok("SET %s %s", STORE_KEY_META_REGION, "CN-TJ");
    char copy[MAP_TEXT_MAX];
    snprintf(copy, sizeof copy, "%s", preset);
    for (char *save = NULL, *e = strtok_r(copy, ",", &save); e != NULL; e = strtok_r(NULL, ",", &save)) {
        char score[24];
        snprintf(score, sizeof score, "%lld", atoll(e));
        redisReply *r = redisCommand(g_fx.conn, "ZADD %s %s %s", STORE_KEY_ORIGIN_MAP, score, e);
        cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER);
        freeReplyObject(r);
    }
    redis_ok("CONFIG RESETSTAT", NULL, NULL);
}

/* Runs the script in mode with the leg's credited_g, dest and blocks;
 * *cancelled gets its answer, *map the map's entries in order. */
static void run_export(const char *mode, const char *credited_g, const char *dest, const char *blocks,
                       char *cancelled, char *map) {
    const char *argv[] = {mode, credited_g, dest, blocks};
    redisReply *r = NULL;
    char err[256] = "";
    cr_assert_eq(store_eval(g_fx.store, g_script, 0, 4, argv, NULL, &r, err, sizeof err), STORE_OK, "%s", err);
    cr_assert(r != NULL && r->type == REDIS_REPLY_STRING);
    cr_assert_lt(strlen(r->str), (size_t)MAP_TEXT_MAX);
    snprintf(cancelled, MAP_TEXT_MAX, "%s", r->str);
    freeReplyObject(r);
    r = redisCommand(g_fx.conn, "ZRANGE %s 0 -1", STORE_KEY_ORIGIN_MAP);
    cr_assert(r != NULL && r->type == REDIS_REPLY_ARRAY);
    size_t used = 0;
    map[0] = '\0';
    for (size_t i = 0; i < r->elements; i++) {
        int w = snprintf(map + used, MAP_TEXT_MAX - used, "%s%s", i ? "," : "", r->element[i]->str);
        cr_assert(w >= 0 && (size_t)w < MAP_TEXT_MAX - used, "the map does not fit the test's buffer");
        used += (size_t)w;
    }
    freeReplyObject(r);
}

/* Both ways on the same store (CN-TJ's, exporting to dest): the same map
 * and the same cancelled parts; own_export_map with `lookups`
 * ZREVRANGEBYSCORE and `adds` ZADD. *map gets the map both left. */
static void expect_same_to(const char *dest, const char *preset, const char *credited_g, const char *blocks,
                           long long lookups, long long adds, char *map) {
    char want_cancelled[MAP_TEXT_MAX], want_map[MAP_TEXT_MAX], got_cancelled[MAP_TEXT_MAX];
    fresh_store(preset);
    run_export("per_part", credited_g, dest, blocks, want_cancelled, want_map);
    fresh_store(preset);
    run_export("merged", credited_g, dest, blocks, got_cancelled, map);
    cr_expect_str_eq(map, want_map, "the map after %s g of %s", credited_g, blocks);
    cr_expect_str_eq(got_cancelled, want_cancelled, "the cancelled parts of %s g of %s", credited_g, blocks);
    cr_expect_eq(redis_command_calls(g_fx.conn, "zrevrangebyscore"), lookups, "lookups for %s", blocks);
    cr_expect_eq(redis_command_calls(g_fx.conn, "zadd"), adds, "ZADDs for %s", blocks);
}

/* expect_same_to an export to CN-BJ. */
static void expect_same(const char *preset, const char *credited_g, const char *blocks, long long lookups,
                        long long adds, char *map) {
    expect_same_to("CN-BJ", preset, credited_g, blocks, lookups, adds, map);
}

Test(export_map, a_block_split_by_its_discount_is_one_lookup_and_one_add) {
    char map[MAP_TEXT_MAX];
    expect_same("", "7", "CN-TJ|M|2024|1|10", 1, 1, map);
    cr_expect_str_eq(map, "1:7:CN-BJ:at,8:10:CN-BJ:cancelled");
}

Test(export_map, a_leg_without_discount_or_without_credit_is_one_part) {
    char map[MAP_TEXT_MAX];
    expect_same("", "10", "CN-TJ|M|2024|1|10", 1, 1, map);
    cr_expect_str_eq(map, "1:10:CN-BJ:at");
    expect_same("", "0", "CN-TJ|M|2024|1|10", 1, 1, map);
    cr_expect_str_eq(map, "1:10:CN-BJ:cancelled");
}

Test(export_map, blocks_of_another_origin_are_not_in_the_map) {
    char map[MAP_TEXT_MAX];
    expect_same("", "12", "CN-TJ|M|2024|1|5,CN-HE|M|2024|100|109,CN-TJ|M|2024|20|29", 2, 2, map);
    cr_expect_str_eq(map, "1:5:CN-BJ:at,20:29:CN-BJ:cancelled");
}

Test(export_map, a_split_inside_a_middle_block_cuts_that_block_only) {
    char map[MAP_TEXT_MAX];
    expect_same("", "8", "CN-TJ|M|2024|1|5,CN-TJ|M|2024|20|29,CN-TJ|M|2024|40|41", 3, 3, map);
    cr_expect_str_eq(map, "1:5:CN-BJ:at,20:22:CN-BJ:at,23:29:CN-BJ:cancelled,40:41:CN-BJ:cancelled");
}

Test(export_map, an_entry_overlapping_a_block_moves_its_parts_one_by_one_as_before) {
    char map[MAP_TEXT_MAX];
    /* the entry overlaps the tail only: the head still goes, the tail stays */
    expect_same("9:9:CN-HE:at", "7", "CN-TJ|M|2024|1|10", 3, 1, map);
    cr_expect_str_eq(map, "1:7:CN-BJ:at,9:9:CN-HE:at");
    /* the head only: the tail still goes */
    expect_same("2:3:CN-HE:at", "7", "CN-TJ|M|2024|1|10", 3, 1, map);
    cr_expect_str_eq(map, "2:3:CN-HE:at,8:10:CN-BJ:cancelled");
    /* both parts: neither goes */
    expect_same("7:8:CN-HE:at", "7", "CN-TJ|M|2024|1|10", 3, 0, map);
    cr_expect_str_eq(map, "7:8:CN-HE:at");
    /* the third block of three, wholly in the tail */
    expect_same("25:26:CN-BJ:at", "12", "CN-TJ|M|2024|1|5,CN-HE|M|2024|100|109,CN-TJ|M|2024|20|29", 3, 1,
                map);
    cr_expect_str_eq(map, "1:5:CN-BJ:at,25:26:CN-BJ:at");
}

/* What only a hand edit makes: an export to this region itself, a block
 * whose last serial is below its first, a credit that is not a number. The
 * two ways still agree (and the script does not fail). */
Test(export_map, records_only_a_hand_edit_makes_give_what_they_gave_before) {
    char map[MAP_TEXT_MAX];
    expect_same_to("CN-TJ", "", "7", "CN-TJ|M|2024|1|10", 2, 1, map);
    cr_expect_str_eq(map, "8:10:CN-TJ:cancelled");
    expect_same("", "10", "CN-TJ|M|2024|5|4,CN-TJ|M|2024|11|20", 2, 2, map);
    cr_expect_str_eq(map, "5:4:CN-BJ:at,11:20:CN-BJ:at");
    expect_same("", "nan", "CN-TJ|M|2024|1|10", 1, 1, map);
    cr_expect_str_eq(map, "1:10:CN-BJ:cancelled");
}
