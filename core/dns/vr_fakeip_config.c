#include "vr_fakeip_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "vr_addr.h"
#include "vr_config.h"

/* range / range6: a CIDR of the right family with room for addresses once
 * the network and broadcast addresses are left out. */
static int parse_range(const struct vr_cfg *v, const char *key, int family, struct vr_fakeip_range *out)
{
    const char *text;
    int r = vr_cfg_string(v, key, &text);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    struct vr_cidr c;
    if (vr_cidr_parse(text, &c) < 0) {
        vr_cfg_error(v, key, "\"%s\" is not a CIDR (expected e.g. \"%s\", host bits zero)", text,
                     family == AF_INET ? "198.51.100.0/24" : "2001:db8:fa::/64");
        return -EINVAL;
    }
    if (c.family != family) {
        vr_cfg_error(v, key, "\"%s\" is not an %s prefix (%s)", text, family == AF_INET ? "IPv4" : "IPv6",
                     family == AF_INET ? "IPv6 goes into range6" : "IPv4 goes into range");
        return -EINVAL;
    }
    int max_prefix = family == AF_INET ? 28 : 124;
    int min_prefix = family == AF_INET ? 8 : 32;
    if (c.prefix > max_prefix || c.prefix < min_prefix) {
        vr_cfg_error(v, key, "/%u is out of range (expected a prefix of /%d to /%d: at least 14 addresses to hand out)",
                     c.prefix, min_prefix, max_prefix);
        return -EINVAL;
    }
    out->family = family;
    out->prefix = c.prefix;
    memcpy(out->base, c.addr, family == AF_INET ? 4 : 16);
    return 0;
}

static int parse_u32(const struct vr_cfg *v, const char *key, int64_t lo, int64_t hi, const char *unit, uint32_t *out)
{
    int64_t n;
    int r = vr_cfg_int(v, key, &n);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    if (n < lo || n > hi) {
        vr_cfg_error(v, key, "%lld is out of range (expected %lld to %lld %s)", (long long)n, (long long)lo,
                     (long long)hi, unit);
        return -EINVAL;
    }
    *out = (uint32_t)n;
    return 0;
}

void vr_fakeip_config_parse(struct vr_config *cfg)
{
    if (cfg->top == NULL || !vr_cfg_has(cfg->top, "dns"))
        return;
    const struct vr_cfg *dns = vr_cfg_group(cfg->top, "dns");
    if (dns == NULL || !vr_cfg_has(dns, "fakeip"))
        return;
    const struct vr_cfg *v = vr_cfg_group(dns, "fakeip");
    if (v == NULL)
        return;
    struct vr_fakeip_cfg *fc = calloc(1, sizeof(*fc));
    if (fc == NULL) {
        vr_errors_add(&cfg->errs, "out of memory");
        return;
    }
    fc->file = vr_cfg_file(v, NULL);
    fc->line = vr_cfg_line(v, NULL);
    fc->ttl = 1;
    fc->max_mappings = VR_FAKEIP_DEFAULT_MAX;
    fc->persist_interval_s = 10;
    int bad = 0;
    bad |= parse_range(v, "range", AF_INET, &fc->range4) < 0;
    bad |= parse_range(v, "range6", AF_INET6, &fc->range6) < 0;
    if (!bad && fc->range4.family == 0 && fc->range6.family == 0) {
        vr_cfg_error(v, NULL, "neither 'range' nor 'range6' is set: FakeIP has no addresses to hand out (add range = "
                              "\"198.51.100.0/24\"; or remove the fakeip group)");
        bad = 1;
    }
    bad |= parse_u32(v, "ttl", 0, 86400, "seconds", &fc->ttl) < 0;
    bad |= parse_u32(v, "max_mappings", 16, VR_FAKEIP_MAX_MAX, "mappings per family", &fc->max_mappings) < 0;
    bad |= parse_u32(v, "persist_interval_s", 1, 3600, "seconds", &fc->persist_interval_s) < 0;
    const char *s;
    int r = vr_cfg_string(v, "persist", &s);
    if (r == 0) {
        if (s[0] == '\0') {
            vr_cfg_error(v, "persist", "an empty path (name a file, e.g. \"fakeip.db\", or leave persist out)");
            bad = 1;
        } else {
            const char *abs = vr_cfg_path(v, s);
            fc->persist = abs ? strdup(abs) : NULL;
        }
    } else if (r != -ENOENT)
        bad = 1;
    (void)bad; /* the errors are recorded: the config is unusable */
    cfg->fakeip = fc;
}

void vr_fakeip_config_free(struct vr_fakeip_cfg *fc)
{
    if (fc == NULL)
        return;
    free(fc->persist);
    free(fc);
}
