/* Secrets in config files: a file that every user may read and that holds
 * a password (a socks5 outbound's, or any block's "password" key) gets a
 * warning naming the file and the fix. A warning, not an error: the
 * daemon keeps working, the operator is told. */
#ifndef VR_SECRETS_H
#define VR_SECRETS_H

struct vr_config;

/* Logs one warning per such file (the config file or an @include). */
void vr_secrets_warn_readable(const struct vr_config *c);

#endif
