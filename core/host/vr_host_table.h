/* The host services table handed to modules (struct vr_host of the ABI). */
#ifndef VR_HOST_TABLE_H
#define VR_HOST_TABLE_H

#include <vrouter/vr_host.h>

extern const struct vr_host vr_host_services;

/* Set by the daemon: socket_open's default mark. */
extern uint32_t vr_host_bypass_mark;

#endif
