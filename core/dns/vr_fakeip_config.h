/*
 * dns.fakeip = { range; range6; ttl; persist; persist_interval_s;
 * max_mappings; }: parsed with the rest of the config, applied to the
 * process's pool by vr_fakeip_service.c. The resolver's parser of the dns
 * group leaves the fakeip group to this one.
 */
#ifndef VR_FAKEIP_CONFIG_H
#define VR_FAKEIP_CONFIG_H

#include <stdint.h>

#include "vr_fakeip_pool.h"

struct vr_config;

struct vr_fakeip_cfg {
    struct vr_fakeip_range range4, range6; /* family 0: not set */
    uint32_t ttl;                          /* seconds on fake answers */
    uint32_t max_mappings;                 /* per family */
    char *persist;                         /* absolute path, or NULL */
    uint32_t persist_interval_s;           /* how often a changed pool is saved */
    const char *file;                      /* where the group stands */
    int line;
};

/* Parses dns.fakeip into cfg->fakeip (left NULL when absent); errors are
 * recorded with FILE:LINE in cfg's error list. */
void vr_fakeip_config_parse(struct vr_config *cfg);
void vr_fakeip_config_free(struct vr_fakeip_cfg *fc);

#endif
