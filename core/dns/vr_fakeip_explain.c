#include "vr_fakeip_explain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vr_addr.h"
#include "vr_config.h"
#include "vr_fakeip_config.h"

static bool in_range(const struct vr_fakeip_range *r, int family, const uint8_t *bytes)
{
    if (r->family != family)
        return false;
    struct vr_cidr c = {.family = r->family, .prefix = (uint8_t)r->prefix};
    memcpy(c.addr, r->base, sizeof(c.addr));
    return vr_cidr_contains(&c, family, bytes);
}

/* The name the persist file maps dst to, if any. Lines the file's loader
 * would refuse are skipped here: explain only reads. */
static bool persisted_name(const char *path, const struct sockaddr *dst, char *name, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return false;
    const uint8_t *want;
    int family = vr_sockaddr_bytes(dst, &want);
    size_t want_len = family == AF_INET ? 4 : 16;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t n;
    bool found = false;
    while (!found && (n = getline(&line, &lcap, f)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        char *sp = strchr(line, ' ');
        if (line[0] == '#' || sp == NULL)
            continue;
        *sp = '\0';
        struct sockaddr_storage ss;
        const uint8_t *got;
        if (vr_sockaddr_parse(line, 0, &ss, NULL) < 0 ||
            vr_sockaddr_bytes((const struct sockaddr *)&ss, &got) != family || memcmp(got, want, want_len) != 0)
            continue;
        if (strlen(sp + 1) < cap) {
            snprintf(name, cap, "%s", sp + 1);
            found = true;
        }
    }
    free(line);
    fclose(f);
    return found;
}

enum vr_fakeip_explain vr_fakeip_explain_dst(const struct vr_config *cfg, const struct sockaddr *dst,
                                             const char *given, char *name, size_t cap, const char **source)
{
    const struct vr_fakeip_cfg *fc = cfg->fakeip;
    if (fc == NULL)
        return VR_FAKEIP_EXPLAIN_NOT_FAKE;
    const uint8_t *bytes;
    int family = vr_sockaddr_bytes(dst, &bytes);
    if (!in_range(&fc->range4, family, bytes) && !in_range(&fc->range6, family, bytes))
        return VR_FAKEIP_EXPLAIN_NOT_FAKE;
    if (given != NULL) {
        snprintf(name, cap, "%s", given);
        *source = "the name given here";
        return VR_FAKEIP_EXPLAIN_NAMED;
    }
    if (fc->persist != NULL && persisted_name(fc->persist, dst, name, cap)) {
        *source = fc->persist;
        return VR_FAKEIP_EXPLAIN_NAMED;
    }
    return VR_FAKEIP_EXPLAIN_UNKNOWN;
}
