/* region_set.c - see region_set.h. */
#include "gateway/region_set.h"
#include "common/carbon_assert.h"
#include "gateway/app.h"
#include "gateway/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int region_set_cmp(const void *x, const void *y) {
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

void region_set_sort(const char **names, size_t n) {
    CARBON_ASSERT(names != NULL || n == 0);
    if (n > 1) qsort(names, n, sizeof names[0], region_set_cmp);
}

void region_set_own(const struct gateway *gw, const char *out[REGION_SET_MAX], size_t *n) {
    CARBON_ASSERT(gw != NULL && out != NULL && n != NULL && gw->cfg.peers_n < REGION_SET_MAX);
    size_t k = 0;
    out[k++] = gw->cfg.region;
    for (size_t i = 0; i < gw->cfg.peers_n; i++) out[k++] = gw->cfg.peers[i].region;
    region_set_sort(out, k);
    *n = k;
}

int region_set_same(const struct gateway *gw, char *const *theirs, size_t n) {
    CARBON_ASSERT(gw != NULL && (theirs != NULL || n == 0));
    const char *own[REGION_SET_MAX];
    size_t own_n = 0;
    region_set_own(gw, own, &own_n);
    if (n != own_n) return 0;
    for (size_t i = 0; i < n; i++)
        if (theirs[i] == NULL || strcmp(theirs[i], own[i]) != 0) return 0;
    return 1;
}

void region_set_text(char *const *names, size_t n, char *text, size_t text_size) {
    CARBON_ASSERT(text != NULL && text_size >= 1 && (names != NULL || n == 0));
    size_t used = 0;
    text[0] = '\0';
    for (size_t i = 0; i < n && used + 1 < text_size; i++) {
        int w = snprintf(text + used, text_size - used, "%s%.*s", i > 0 ? "," : "",
                         CONFIG_REGION_SIZE - 1, names[i] != NULL ? names[i] : "");
        if (w < 0) break;
        used += (size_t)w < text_size - used ? (size_t)w : text_size - used - 1;
    }
}

void region_set_note(struct gateway *gw, const char *peer, int same, char *const *theirs, size_t n) {
    CARBON_ASSERT(gw != NULL && peer != NULL && (same == 0 || same == 1));
    for (size_t i = 0; i < gw->cfg.peers_n; i++) {
        if (strcmp(gw->cfg.peers[i].region, peer) != 0) continue;
        int was = atomic_exchange(&gw->regions_differ[i], !same);
        if (was == !same) return;
        const char *own[REGION_SET_MAX];
        size_t own_n = 0;
        region_set_own(gw, own, &own_n);
        char here[REGION_SET_TEXT_MAX], there[REGION_SET_TEXT_MAX];
        region_set_text((char *const *)own, own_n, here, sizeof here);
        region_set_text(theirs, n > REGION_SET_MAX ? REGION_SET_MAX : n, there, sizeof there);
        if (!same)
            log_error("peer_regions_differ", "{s:s, s:s, s:s, s:s}", "peer", peer, "regions_here", here,
                      "regions_there", there, "consequence",
                      "no keyed activity is issued here until every gateway counts the same regions");
        else
            log_info("peer_regions_agree", "{s:s, s:s}", "peer", peer, "regions", here);
        return;
    }
}

const char *region_set_differing_peer(const struct gateway *gw) {
    CARBON_ASSERT(gw != NULL);
    for (size_t i = 0; i < gw->cfg.peers_n; i++)
        if (atomic_load(&gw->regions_differ[i])) return gw->cfg.peers[i].region;
    return NULL;
}
