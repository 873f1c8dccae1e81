#include "vr_config.h"

#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vrouter/vr_flow.h>

#include "vr_addr.h"
#include "vr_conffile.h"
#include "vr_fakeip_config.h"
#include "vr_dns_config.h"
#include "vr_log.h"


/* daemon.metrics = { address = "127.0.0.1"; port = 9477; } */
static void parse_metrics(const struct vr_cfg *dv, struct vr_daemon_cfg *d)
{
    const struct vr_cfg *v = vr_cfg_group(dv, "metrics");
    if (v == NULL)
        return; /* absent: off; not a group: reported */
    const char *s = "127.0.0.1";
    int64_t n = 9477;
    d->metrics.file = vr_cfg_file(v, NULL);
    d->metrics.line = vr_cfg_line(dv, "metrics");
    if (vr_cfg_string(v, "address", &s) == 0 && strlen(s) >= sizeof(d->metrics.address)) {
        vr_cfg_error(v, "address", "\"%s\" is too long for an address", s);
        return;
    }
    if (vr_cfg_int(v, "port", &n) == -EINVAL)
        return; /* reported */
    if (n < 1 || n > 65535) {
        vr_cfg_error(v, "port", "%lld is not a port (expected 1 to 65535)", (long long)n);
        return;
    }
    if (vr_sockaddr_parse(s, (uint16_t)n, &d->metrics.addr, &d->metrics.addrlen) < 0) {
        vr_cfg_error(v, "address", "\"%s\" is not a numeric IPv4 or IPv6 address (e.g. \"127.0.0.1\"; "
                     "\"::\" serves every address)", s);
        return;
    }
    snprintf(d->metrics.address, sizeof(d->metrics.address), "%s", s);
    d->metrics.port = (uint16_t)n;
    d->metrics.enabled = true;
}

/* daemon.control = { path; mode; group; } or true / false. */
static void parse_control(const struct vr_cfg *v, struct vr_daemon_cfg *d)
{
    int type = vr_cfg_type(v, "control");
    if (type == -ENOENT)
        return;
    if (type == VR_CFG_BOOL) {
        int on = 0;
        vr_cfg_bool(v, "control", &on);
        d->control = on != 0;
        return;
    }
    const struct vr_cfg *cv = vr_cfg_group(v, "control"); /* records the error for any other type */
    if (cv == NULL)
        return;
    d->control = true;
    const char *s;
    int64_t n;
    if (vr_cfg_string(cv, "path", &s) == 0) {
        if (s[0] != '/' || strlen(s) >= 108)
            vr_cfg_error(cv, "path", "\"%s\" is not usable: a control socket path is absolute and shorter than 108 "
                                     "bytes", s);
        else {
            free(d->control_path);
            d->control_path = strdup(s);
        }
    }
    /* libconfig reads 0660 as the decimal 660: its digits are taken as the
     * octal mode they were written as. A string "0660" works too. */
    int mtype = vr_cfg_type(cv, "mode");
    if (mtype == VR_CFG_INT || mtype == VR_CFG_STRING) {
        char digits[32] = "";
        if (mtype == VR_CFG_INT && vr_cfg_int(cv, "mode", &n) == 0)
            snprintf(digits, sizeof(digits), "%lld", (long long)n);
        else if (mtype == VR_CFG_STRING && vr_cfg_string(cv, "mode", &s) == 0)
            snprintf(digits, sizeof(digits), "%s", s);
        char *end = NULL;
        long m = digits[0] && digits[strspn(digits, "01234567")] == '\0' ? strtol(digits, &end, 8) : -1;
        if (m < 0 || m > 0777 || (m & 0600) != 0600)
            vr_cfg_error(cv, "mode", "%s%s is not a usable socket mode (expected octal digits 0600 to 0777 with "
                                     "owner read and write, like 0660 to let the group in)",
                         digits[0] == '0' ? "" : "0", digits);
        else
            d->control_mode = (uint32_t)m;
    } else if (mtype != -ENOENT) {
        int64_t ignored;
        vr_cfg_int(cv, "mode", &ignored); /* records the type error */
    }
    if (vr_cfg_string(cv, "group", &s) == 0) {
        if (s[0] == '\0')
            vr_cfg_error(cv, "group", "an empty group name (leave the key out for root only)");
        else
            d->control_group = strdup(s);
    }
}

/* daemon.user and daemon.group, resolved now so that -t and a reload name
 * a missing one with its FILE:LINE. */
static void parse_user(const struct vr_cfg *v, struct vr_daemon_cfg *d)
{
    const char *s;
    char buf[4096];
    if (vr_cfg_string(v, "user", &s) == 0) {
        struct passwd pw, *pwp = NULL;
        if (s[0] == '\0')
            vr_cfg_error(v, "user", "an empty user name (leave the key out to keep running as the starting user)");
        else if (getpwnam_r(s, &pw, buf, sizeof(buf), &pwp) != 0 || pwp == NULL)
            vr_cfg_error(v, "user", "no user \"%s\" on this system (create a system user, e.g. useradd --system "
                                    "--no-create-home --shell /usr/sbin/nologin %s)", s, s);
        else {
            d->user = strdup(s);
            d->uid = pw.pw_uid;
            d->gid = pw.pw_gid;
            d->user_file = vr_cfg_file(v, "user");
            d->user_line = vr_cfg_line(v, "user");
        }
    }
    if (vr_cfg_string(v, "group", &s) == 0) {
        struct group gr, *grp = NULL;
        if (!vr_cfg_has(v, "user"))
            vr_cfg_error(v, "group", "daemon.group without daemon.user (the group is the one vrouterd drops to)");
        else if (getgrnam_r(s, &gr, buf, sizeof(buf), &grp) != 0 || grp == NULL)
            vr_cfg_error(v, "group", "no group \"%s\" on this system (create it, or leave the key out for the "
                                     "user's primary group)", s);
        else {
            d->group = strdup(s);
            d->gid = gr.gr_gid;
        }
    }
}

static void module_path_free(struct vr_module_path *mp)
{
    for (size_t i = 0; i < mp->n; i++)
        free(mp->dirs[i]);
    free(mp->dirs);
    mp->dirs = NULL;
    mp->n = 0;
}

static int module_path_add(struct vr_module_path *mp, const char *dir)
{
    char **dirs = realloc(mp->dirs, (mp->n + 1) * sizeof(*dirs));
    if (dirs == NULL)
        return -ENOMEM;
    mp->dirs = dirs;
    if ((dirs[mp->n] = strdup(dir)) == NULL)
        return -ENOMEM;
    mp->n++;
    return 0;
}

/* module_path = "/dir" or ["/etc/vrouter/modules.d", "/usr/lib/.../modules"]:
 * relative entries resolve against the config file's directory. */
static void parse_module_path(const struct vr_cfg *v, struct vr_daemon_cfg *d)
{
    int n = vr_cfg_list_len(v, "module_path");
    if (n < 0)
        return; /* absent (the default stays), or a group: reported */
    if (n == 0) {
        vr_cfg_error(v, "module_path", "an empty list (name at least one directory, e.g. \"%s\")",
                     VR_DEFAULT_MODULE_DIR);
        return;
    }
    struct vr_module_path mp = {0};
    for (int i = 0; i < n; i++) {
        const char *s;
        if (vr_cfg_list_string(v, "module_path", i, &s) < 0) {
            module_path_free(&mp);
            return; /* reported */
        }
        if (s[0] == '\0') {
            vr_cfg_error(v, "module_path", "element %d is an empty string (expected a directory)", i + 1);
            module_path_free(&mp);
            return;
        }
        if (module_path_add(&mp, vr_cfg_path(v, s)) < 0) {
            vr_cfg_error(v, "module_path", "out of memory");
            module_path_free(&mp);
            return;
        }
    }
    module_path_free(&d->module_path);
    d->module_path = mp;
}

/* daemon.relay = "splice" | "sockmap" | "auto" */
static void parse_relay(const struct vr_cfg *v, struct vr_daemon_cfg *d)
{
    const char *s;
    if (vr_cfg_string(v, "relay", &s) != 0)
        return;
    d->relay_file = vr_cfg_file(v, "relay");
    d->relay_line = vr_cfg_line(v, "relay");
    if (strcmp(s, "splice") == 0)
        d->relay = VR_RELAY_SPLICE;
    else if (strcmp(s, "auto") == 0)
        d->relay = VR_RELAY_AUTO;
    else if (strcmp(s, "sockmap") == 0) {
#ifdef VR_HAVE_BPF
        d->relay = VR_RELAY_SOCKMAP;
#else
        vr_cfg_error(v, "relay", "\"sockmap\" needs the eBPF data path, and this vrouterd was built without it "
                                 "(VR_BPF=OFF, or clang, bpftool or libbpf missing at build time): use \"splice\", or "
                                 "\"auto\" to take sockmap wherever a build has it");
#endif
    } else
        vr_cfg_error(v, "relay", "\"%s\" is not a relay (expected \"splice\", \"sockmap\" or \"auto\")", s);
}

static void parse_daemon(struct vr_config *c)
{
    struct vr_daemon_cfg *d = &c->daemon;
    /* VROUTER_MODULE_PATH: run from a build tree without installing. */
    const char *env = getenv("VROUTER_MODULE_PATH");
    module_path_add(&d->module_path, env && env[0] ? env : VR_DEFAULT_MODULE_DIR);
    d->log_level = VR_LOG_INFO;
    d->bypass_mark = 0xff;
    d->max_connections = 65536;
    d->client_prefix_v6 = 64;
    d->tcp_idle_timeout_s = 600;
    d->drain_timeout_s = 30;
    d->relay = VR_RELAY_DEFAULT;
    d->control_path = strdup(VR_CONTROL_DEFAULT_PATH);
    d->control_mode = 0660;
    const struct vr_cfg *v = vr_cfg_group(c->top, "daemon");
    if (v == NULL)
        return;
    const char *s;
    int64_t n;
    parse_module_path(v, d);
    if (vr_cfg_string(v, "log_level", &s) == 0) {
        d->log_level = vr_log_level_parse(s);
        if (d->log_level < 0) {
            vr_cfg_error(v, "log_level", "\"%s\" is not a level (expected \"error\", \"warn\", \"info\" or \"debug\")", s);
            d->log_level = VR_LOG_INFO;
        }
    }
    if (vr_cfg_int(v, "bypass_mark", &n) == 0) {
        if (n <= 0 || n > 0xffffffffLL)
            vr_cfg_error(v, "bypass_mark", "%lld is not a usable firewall mark (expected 1 to 0xffffffff)", (long long)n);
        else
            d->bypass_mark = (uint32_t)n;
    }
    if (vr_cfg_int(v, "max_connections", &n) == 0) {
        if (n < 1 || n > 10000000)
            vr_cfg_error(v, "max_connections", "%lld is out of range (expected 1 to 10000000)", (long long)n);
        else
            d->max_connections = (uint32_t)n;
    }
    if (vr_cfg_int(v, "max_connections_per_client", &n) == 0) {
        if (n < 0 || n > 10000000)
            vr_cfg_error(v, "max_connections_per_client",
                         "%lld is out of range (expected 0 for no cap, or 1 to 10000000)", (long long)n);
        else {
            d->max_connections_per_client = (uint32_t)n;
            d->max_connections_per_client_set = true;
        }
    }
    if (vr_cfg_int(v, "client_prefix_v6", &n) == 0) {
        if (n < 1 || n > 128)
            vr_cfg_error(v, "client_prefix_v6",
                         "%lld is not an IPv6 prefix length (expected 1 to 128; 64 counts each /64 as one client)",
                         (long long)n);
        else
            d->client_prefix_v6 = (uint8_t)n;
    }
    if (vr_cfg_int(v, "tcp_idle_timeout_s", &n) == 0) {
        if (n < 1 || n > 86400 * 7)
            vr_cfg_error(v, "tcp_idle_timeout_s", "%lld is out of range (expected 1 to 604800 seconds)", (long long)n);
        else
            d->tcp_idle_timeout_s = (uint32_t)n;
    }
    if (vr_cfg_int(v, "drain_timeout_s", &n) == 0) {
        if (n < 0 || n > 3600)
            vr_cfg_error(v, "drain_timeout_s", "%lld is out of range (expected 0 to 3600 seconds)", (long long)n);
        else
            d->drain_timeout_s = (uint32_t)n;
    }
    if (vr_cfg_int(v, "workers", &n) == 0) {
        if (n < 0 || n > VR_MAX_WORKERS)
            vr_cfg_error(v, "workers", "%lld is out of range (expected 1 to %d, or 0 for one per online CPU)",
                         (long long)n, VR_MAX_WORKERS);
        else
            d->workers = (uint32_t)n;
    }
    if (vr_cfg_int(v, "retire_timeout_s", &n) == 0) {
        if (n < 0 || n > 86400 * 30)
            vr_cfg_error(v, "retire_timeout_s", "%lld is out of range (expected 0, no limit, to 2592000 seconds)",
                         (long long)n);
        else
            d->retire_timeout_s = (uint32_t)n;
    }
    int offload = 0; /* opt-in: an offloaded flow no longer shows in vrouterd's log and counters */
    vr_cfg_bool(v, "offload", &offload);
    d->offload = offload != 0;
    int log_offloaded = 0; /* a conntrack event listener, only when asked */
    vr_cfg_bool(v, "log_offloaded", &log_offloaded);
    d->log_offloaded = log_offloaded != 0;
    parse_metrics(v, d);
    parse_control(v, d);
    parse_user(v, d);
    parse_relay(v, d);
}

/* udp = { nat; idle_timeout_s; dns_idle_timeout_s; max_sessions; max_sessions_per_client; } */
static int parse_udp(const struct vr_cfg *lv, struct vr_listener_cfg *l)
{
    struct vr_udp_cfg *u = &l->udp;
    u->nat = VR_UDP_NAT_ENDPOINT_INDEPENDENT;
    u->idle_timeout_s = 60;
    u->dns_idle_timeout_s = 10;
    u->max_sessions = 16384;
    u->max_sessions_per_client = 0; /* derived below */
    int bad = 0;
    const struct vr_cfg *v = vr_cfg_group(lv, "udp");
    if (v == NULL && vr_cfg_has(lv, "udp"))
        return -EINVAL; /* wrong type: reported by the view */
    if (v != NULL) {
        if (!(l->networks & VR_NET_UDP)) {
            vr_cfg_error(lv, "udp", "UDP settings on a listener that does not take UDP (add network = [\"tcp\", "
                                    "\"udp\"])");
            bad = 1;
        }
        const char *s;
        int64_t n;
        if (vr_cfg_string(v, "nat", &s) == 0) {
            if (strcmp(s, "endpoint-independent") == 0)
                u->nat = VR_UDP_NAT_ENDPOINT_INDEPENDENT;
            else if (strcmp(s, "address-dependent") == 0)
                u->nat = VR_UDP_NAT_ADDRESS_DEPENDENT;
            else if (strcmp(s, "address-and-port-dependent") == 0)
                u->nat = VR_UDP_NAT_PORT_DEPENDENT;
            else {
                vr_cfg_error(v, "nat", "\"%s\" is not a NAT mode (expected \"endpoint-independent\", "
                                       "\"address-dependent\" or \"address-and-port-dependent\")", s);
                bad = 1;
            }
        } else if (vr_cfg_has(v, "nat"))
            bad = 1;
        struct {
            const char *key;
            uint32_t *val;
            int64_t lo, hi;
            const char *unit;
        } ints[] = {
            {"idle_timeout_s", &u->idle_timeout_s, 1, 86400, "seconds"},
            {"dns_idle_timeout_s", &u->dns_idle_timeout_s, 1, 86400, "seconds"},
            {"max_sessions", &u->max_sessions, 1, 4000000, "sessions"},
            {"max_sessions_per_client", &u->max_sessions_per_client, 1, 4000000, "sessions"},
        };
        for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
            if (vr_cfg_int(v, ints[i].key, &n) == 0) {
                if (n < ints[i].lo || n > ints[i].hi) {
                    vr_cfg_error(v, ints[i].key, "%lld is out of range (expected %lld to %lld %s)", (long long)n,
                                 (long long)ints[i].lo, (long long)ints[i].hi, ints[i].unit);
                    bad = 1;
                } else
                    *ints[i].val = (uint32_t)n;
            } else if (vr_cfg_has(v, ints[i].key))
                bad = 1;
        }
    }
    /* One client may hold at most a quarter of the table unless told
     * otherwise, so a flood from one host cannot evict everyone else. */
    if (u->max_sessions_per_client == 0)
        u->max_sessions_per_client = u->max_sessions / 4 > 16 ? u->max_sessions / 4 : u->max_sessions;
    if (u->max_sessions_per_client > u->max_sessions)
        u->max_sessions_per_client = u->max_sessions;
    return bad ? -EINVAL : 0;
}

static int parse_listener(struct vr_config *c, const struct vr_cfg *v, struct vr_listener_cfg *l)
{
    const char *s;
    int64_t n;
    int bad = 0;
    l->line = vr_cfg_line(v, NULL);
    l->file = vr_cfg_file(v, NULL);
    if (vr_cfg_string(v, "tag", &s) == 0)
        l->tag = strdup(s);
    else {
        vr_cfg_error(v, NULL, "missing 'tag' (a name for this listener, used by rules' 'inbound')");
        bad = 1;
    }
    l->mode = VR_MODE_TPROXY;
    if (vr_cfg_string(v, "mode", &s) == 0) {
        if (strcmp(s, "tproxy") == 0)
            l->mode = VR_MODE_TPROXY;
        else if (strcmp(s, "redirect") == 0)
            l->mode = VR_MODE_REDIRECT;
        else {
            vr_cfg_error(v, "mode", "\"%s\" is not a mode (expected \"tproxy\" or \"redirect\")", s);
            bad = 1;
        }
    }
    l->address = strdup("::");
    if (vr_cfg_string(v, "address", &s) == 0) {
        free(l->address);
        l->address = strdup(s);
    }
    if (vr_cfg_int(v, "port", &n) == 0) {
        if (n < 1 || n > 65535) {
            vr_cfg_error(v, "port", "%lld is out of range (expected 1-65535)", (long long)n);
            bad = 1;
        }
        l->port = (uint16_t)n;
    } else if (!vr_cfg_has(v, "port")) {
        vr_cfg_error(v, NULL, "missing 'port' (the port the capture rule sends traffic to)");
        bad = 1;
    } else
        bad = 1;
    if (l->address && l->port && vr_sockaddr_parse(l->address, l->port, &l->addr, &l->addrlen) < 0) {
        vr_cfg_error(v, "address", "\"%s\" is not a numeric IPv4 or IPv6 address (use \"::\" for all)", l->address);
        bad = 1;
    }
    l->networks = VR_NET_TCP;
    int len = vr_cfg_list_len(v, "network");
    if (len >= 0) {
        l->networks = 0;
        for (int i = 0; i < len; i++) {
            if (vr_cfg_list_string(v, "network", i, &s) < 0) {
                bad = 1;
                continue;
            }
            if (strcmp(s, "tcp") == 0)
                l->networks |= VR_NET_TCP;
            else if (strcmp(s, "udp") == 0) {
                if (l->mode != VR_MODE_TPROXY) {
                    vr_cfg_error(v, "network", "\"udp\" needs mode = \"tproxy\" (REDIRECT cannot recover a UDP "
                                               "datagram's original destination)");
                    bad = 1;
                }
                l->networks |= VR_NET_UDP;
            } else {
                vr_cfg_error(v, "network", "\"%s\" is not a network (expected \"tcp\" or \"udp\")", s);
                bad = 1;
            }
        }
    } else if (len != -ENOENT)
        bad = 1;
    len = vr_cfg_list_len(v, "sniff");
    if (len > VR_MAX_SNIFFERS) {
        vr_cfg_error(v, "sniff", "at most %d sniffers per listener", VR_MAX_SNIFFERS);
        bad = 1;
    } else if (len > 0) {
        for (int i = 0; i < len; i++) {
            if (vr_cfg_list_string(v, "sniff", i, &s) < 0) {
                bad = 1;
                continue;
            }
            l->sniff[l->n_sniff++] = strdup(s);
        }
    } else if (len != -ENOENT && len != 0)
        bad = 1;
    l->sniff_timeout_ms = 300;
    if (vr_cfg_int(v, "sniff_timeout_ms", &n) == 0) {
        if (n < 1 || n > 60000) {
            vr_cfg_error(v, "sniff_timeout_ms", "%lld is out of range (expected 1 to 60000)", (long long)n);
            bad = 1;
        } else
            l->sniff_timeout_ms = (uint32_t)n;
    }
    /* Protocols where the server speaks first (FTP, SSH, SMTP, POP3, IMAP,
     * submission, MySQL): the client sends nothing until it hears the
     * server, so waiting for its first bytes would only add the timeout. */
    static const uint16_t server_first[] = {21, 22, 25, 110, 143, 587, 3306};
    len = vr_cfg_list_len(v, "sniff_skip_ports");
    if (len == -ENOENT) {
        l->sniff_skip_ports = malloc(sizeof(server_first));
        if (l->sniff_skip_ports) {
            memcpy(l->sniff_skip_ports, server_first, sizeof(server_first));
            l->n_sniff_skip_ports = (int)(sizeof(server_first) / sizeof(server_first[0]));
        }
    } else if (len >= 0) {
        l->sniff_skip_ports = calloc((size_t)len + 1, sizeof(uint16_t));
        for (int i = 0; i < len && l->sniff_skip_ports; i++) {
            if (vr_cfg_list_int(v, "sniff_skip_ports", i, &n) < 0) {
                bad = 1;
                break;
            }
            if (n < 1 || n > 65535) {
                vr_cfg_error(v, "sniff_skip_ports", "%lld is out of range (expected 1-65535)", (long long)n);
                bad = 1;
                break;
            }
            l->sniff_skip_ports[l->n_sniff_skip_ports++] = (uint16_t)n;
        }
    } else
        bad = 1;
    if (parse_udp(v, l) < 0)
        bad = 1;
    int override = 0;
    if (vr_cfg_bool(v, "sniff_override", &override) == -EINVAL)
        bad = 1;
    l->sniff_override = override != 0;
    (void)c;
    return bad ? -EINVAL : 0;
}

static void parse_listeners(struct vr_config *c)
{
    int n = vr_cfg_list_len(c->top, "listeners");
    if (n == -ENOENT) {
        vr_errors_at(&c->errs, c->path, 0, "no 'listeners' list: nothing would be captured (add "
                                           "listeners = ( { tag = \"tp\"; mode = \"tproxy\"; port = 7893; } );)");
        return;
    }
    if (n == 0)
        vr_cfg_error(c->top, "listeners", "the list is empty: nothing would be captured (add "
                                          "{ tag = \"tp\"; mode = \"tproxy\"; port = 7893; })");
    if (n <= 0)
        return;
    c->listeners = calloc((size_t)n, sizeof(*c->listeners));
    if (c->listeners == NULL)
        return;
    c->n_listeners = (size_t)n;
    for (int i = 0; i < n; i++) {
        const struct vr_cfg *v = vr_cfg_list_group(c->top, "listeners", i);
        if (v == NULL)
            continue;
        struct vr_listener_cfg *l = &c->listeners[i];
        if (parse_listener(c, v, l) < 0)
            continue;
        for (int k = 0; k < i; k++) {
            struct vr_listener_cfg *o = &c->listeners[k];
            if (o->tag && strcmp(o->tag, l->tag) == 0)
                vr_cfg_error(v, "tag", "\"%s\" is already the tag of the listener at line %d", l->tag, o->line);
            else if (o->port == l->port && o->address && strcmp(o->address, l->address) == 0)
                vr_cfg_error(v, "port", "%s port %u is already used by listener \"%s\" at line %d", l->address,
                             l->port, o->tag ? o->tag : "?", o->line);
        }
    }
}

/* outbounds = ( { tag; module; ... } ) and installers = ( { module; ... } ) */
static void parse_blocks(struct vr_config *c, const char *key, const char *kind, bool need_tag,
                         struct vr_block_cfg **out, size_t *n_out)
{
    int n = vr_cfg_list_len(c->top, key);
    if (n <= 0)
        return;
    *out = calloc((size_t)n, sizeof(**out));
    if (*out == NULL)
        return;
    *n_out = (size_t)n;
    for (int i = 0; i < n; i++) {
        const struct vr_cfg *v = vr_cfg_list_group(c->top, key, i);
        if (v == NULL)
            continue;
        struct vr_block_cfg *b = &(*out)[i];
        b->line = vr_cfg_line(v, NULL);
        b->file = vr_cfg_file(v, NULL);
        b->view = (struct vr_cfg *)v;
        const char *s;
        if (vr_cfg_string(v, "module", &s) == 0)
            b->module = strdup(s);
        else if (!vr_cfg_has(v, "module"))
            vr_cfg_error(v, NULL, "missing 'module' (the name of the %s module, e.g. \"%s\")", kind,
                         need_tag ? "direct" : "policy-routing");
        if (vr_cfg_string(v, "tag", &s) == 0)
            b->tag = strdup(s);
        else if (need_tag && !vr_cfg_has(v, "tag"))
            vr_cfg_error(v, NULL, "missing 'tag' (the name rules use to pick this %s)", kind);
        if (b->tag == NULL && b->module)
            b->tag = strdup(b->module);
        if (need_tag && b->tag)
            for (int k = 0; k < i; k++)
                if ((*out)[k].tag && strcmp((*out)[k].tag, b->tag) == 0)
                    vr_cfg_error(v, "tag", "\"%s\" is already the tag of the %s at line %d", b->tag, kind,
                                 (*out)[k].line);
    }
}

static int lookup_outbound(void *arg, const char *tag)
{
    return vr_config_outbound_index(arg, tag);
}

int vr_config_outbound_index(const struct vr_config *cfg, const char *tag)
{
    for (size_t i = 0; i < cfg->n_outbounds; i++)
        if (cfg->outbounds[i].tag && strcmp(cfg->outbounds[i].tag, tag) == 0)
            return (int)i;
    return -1;
}

const struct vr_listener_cfg *vr_config_listener(const struct vr_config *cfg, const char *tag)
{
    for (size_t i = 0; i < cfg->n_listeners; i++)
        if (cfg->listeners[i].tag && strcmp(cfg->listeners[i].tag, tag) == 0)
            return &cfg->listeners[i];
    return NULL;
}

struct vr_config *vr_config_load(const char *path)
{
    struct vr_config *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    char *absolute = realpath(path, NULL);
    c->path = strdup(path);
    char *tmp = strdup(absolute ? absolute : path);
    c->dir = tmp ? strdup(dirname(tmp)) : NULL;
    free(tmp);
    free(absolute);
    c->root.errs = &c->errs;
    c->root.file = c->path;
    c->root.dir = c->dir;
    config_init(&c->lc);
    config_set_include_dir(&c->lc, c->dir);
    if (vr_conffile_check(path, c->dir, &c->errs) < 0) /* untrusted file or @include: not read */
        return c;
    if (config_read_file(&c->lc, path) != CONFIG_TRUE) {
        if (config_error_type(&c->lc) == CONFIG_ERR_FILE_IO)
            vr_errors_at(&c->errs, path, 0, "cannot read the file: %s", strerror(errno ? errno : ENOENT));
        else
            vr_errors_at(&c->errs, config_error_file(&c->lc) ? config_error_file(&c->lc) : path,
                         config_error_line(&c->lc), "%s (libconfig syntax: key = value; lists ( ), arrays [ ], "
                         "groups { })", config_error_text(&c->lc));
        return c;
    }
    c->top = vr_cfg_new(config_root_setting(&c->lc), "", &c->root);
    if (c->top == NULL) {
        vr_errors_add(&c->errs, "out of memory");
        return c;
    }
    parse_daemon(c);
    parse_listeners(c);
    parse_blocks(c, "outbounds", "outbound", true, &c->outbounds, &c->n_outbounds);
    parse_blocks(c, "installers", "installer", false, &c->installers, &c->n_installers);
    vr_fakeip_config_parse(c);
    vr_xdp_config_parse(c->top, &c->xdp);
    vr_capture_config_parse(c->top, &c->capture);
    vr_dns_config_parse(c);
    const struct vr_cfg *route = vr_cfg_group(c->top, "route");
    if (route || !vr_cfg_has(c->top, "route"))
        vr_rules_compile(&c->rules, route, lookup_outbound, c);
    for (size_t i = 0; i < c->rules.n && c->dns == NULL; i++)
        if (c->rules.rules[i].action == VR_ACTION_DNS)
            vr_errors_at(&c->errs, c->rules.rules[i].file, c->rules.rules[i].line, "action = \"dns\" needs a dns "
                         "block (add dns = { upstreams = ( { tag = \"lan\"; address = \"udp://IP:53\"; } ); };)");
    if (route == NULL && c->rules.final_outbound < 0)
        vr_errors_at(&c->errs, c->path, 0, "no 'route' group and no outbound tagged \"direct\": flows would have "
                                           "nowhere to go (add route = { final = \"<tag>\"; };)");
    return c;
}

int vr_config_check_unknown(struct vr_config *c)
{
    return c->top ? vr_cfg_check_unknown(c->top) : 0;
}

static void free_blocks(struct vr_block_cfg *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(b[i].tag);
        free(b[i].module);
    }
    free(b);
}

void vr_config_free(struct vr_config *c)
{
    if (c == NULL)
        return;
    vr_rules_free(&c->rules);
    vr_fakeip_config_free(c->fakeip);
    vr_xdp_config_free(&c->xdp);
    vr_capture_config_free(&c->capture);
    vr_dns_config_free(c->dns);
    for (size_t i = 0; i < c->n_listeners; i++) {
        struct vr_listener_cfg *l = &c->listeners[i];
        free(l->tag);
        free(l->address);
        for (int k = 0; k < l->n_sniff; k++)
            free(l->sniff[k]);
        free(l->sniff_skip_ports);
    }
    free(c->listeners);
    free_blocks(c->outbounds, c->n_outbounds);
    free_blocks(c->installers, c->n_installers);
    module_path_free(&c->daemon.module_path);
    free(c->daemon.control_path);
    free(c->daemon.control_group);
    free(c->daemon.user);
    free(c->daemon.group);
    vr_cfg_free(c->top);
    config_destroy(&c->lc);
    vr_errors_clear(&c->errs);
    free(c->path);
    free(c->dir);
    free(c);
}

uint64_t vr_config_open_files(const struct vr_config *cfg, uint64_t *udp_files)
{
    *udp_files = 0;
    for (size_t i = 0; i < cfg->n_listeners; i++)
        if (cfg->listeners[i].networks & VR_NET_UDP)
            *udp_files += (uint64_t)cfg->listeners[i].udp.max_sessions + VR_UDP_REPLY_SOCKETS;
    uint64_t conns = cfg->daemon.max_connections;
    return conns * 2 + vr_config_pipe_reserve(conns) * 2 + *udp_files + VR_FD_RESERVE;
}

uint64_t vr_config_pipe_reserve(uint64_t conns)
{
    uint64_t p = conns / 32;
    return p < 16 ? 16 : p > 1024 ? 1024 : p;
}
