/* Readable secrets; see vr_secrets.h. Reads the libconfig tree directly,
 * not through a view, so that looking does not mark "password" as known
 * for blocks whose module never asked for it. */
#include "vr_secrets.h"

#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "vr_config.h"
#include "vr_log.h"

#define MAX_FILES 16 /* files already warned about in one call */

/* The group vrouterd reads its config as after daemon.user's drop. */
static void daemon_group(const struct vr_daemon_cfg *d, char *buf, size_t len)
{
    struct group gr, *grp = NULL;
    char tmp[4096];
    if (d->user && getgrgid_r(d->gid, &gr, tmp, sizeof(tmp), &grp) == 0 && grp)
        snprintf(buf, len, "%s", grp->gr_name);
    else
        snprintf(buf, len, d->user ? "%u" : "root", (unsigned)d->gid);
}

static void check_block(const struct vr_config *c, config_setting_t *block, const char **warned, size_t *n)
{
    config_setting_t *pw = config_setting_get_member(block, "password");
    if (pw == NULL)
        return;
    const char *src = config_setting_source_file(pw) ? config_setting_source_file(pw) : c->path;
    /* An @include is named as written: relative to the config's directory. */
    char file[PATH_MAX];
    if (src[0] != '/' && c->dir && src != c->path)
        snprintf(file, sizeof(file), "%s/%s", c->dir, src);
    else
        snprintf(file, sizeof(file), "%s", src);
    for (size_t i = 0; i < *n; i++)
        if (strcmp(warned[i], src) == 0)
            return;
    struct stat st;
    if (stat(file, &st) < 0 || !(st.st_mode & S_IROTH))
        return;
    if (*n < MAX_FILES)
        warned[(*n)++] = src;
    const char *tag = NULL;
    config_setting_lookup_string(block, "tag", &tag);
    char group[64];
    daemon_group(&c->daemon, group, sizeof(group));
    vr_warn("%s:%d: the password of outbound \"%s\" is in a file every user on this host can read (mode 0%03o); "
            "fix: chmod 0640 %s && chown root:%s %s (readable by root and vrouterd's group only)",
            file, config_setting_source_line(pw), tag ? tag : "?", (unsigned)(st.st_mode & 0777), file, group,
            file);
}

void vr_secrets_warn_readable(const struct vr_config *c)
{
    config_setting_t *list = config_lookup((config_t *)&c->lc, "outbounds");
    if (list == NULL || !config_setting_is_aggregate(list))
        return;
    const char *warned[MAX_FILES];
    size_t n = 0;
    for (int i = 0; i < config_setting_length(list); i++) {
        config_setting_t *block = config_setting_get_elem(list, (unsigned)i);
        if (block && config_setting_is_group(block))
            check_block(c, block, warned, &n);
    }
}
