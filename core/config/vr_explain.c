#include "vr_explain.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vrouter/vr_flow.h>

#include "vr_addr.h"
#include "vr_dns_explain.h"
#include "vr_fakeip_config.h"
#include "vr_fakeip_explain.h"
#include "vr_generation.h"
#include "vr_offload.h"

/* "1.2.3.4:443" or "[2001:db8::1]:443" */
static int parse_endpoint(const char *text, struct sockaddr_storage *out)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - text - 1) >= sizeof(host))
            return -EINVAL;
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL || (size_t)(colon - text) >= sizeof(host))
            return -EINVAL;
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return -EINVAL;
    return vr_sockaddr_parse(host, (uint16_t)port, out, NULL);
}

static bool looks_like_endpoint(const char *w) { return w[0] == '[' || (strchr(w, ':') && strchr(w, '.')); }

int vr_explain(const struct vr_generation *g, const char *spec, FILE *out, FILE *err)
{
    if (strncmp(spec, "query ", 6) == 0) /* a DNS query: the dns rules (core/dns) */
        return vr_dns_explain(g->cfg, spec + 6, out, err);
    char *copy = strdup(spec);
    if (copy == NULL)
        return -ENOMEM;
    struct sockaddr_storage src, dst;
    vr_sockaddr_parse("0.0.0.0", 0, &src, NULL);
    bool have_dst = false;
    const char *protocol = NULL, *domain = NULL, *inbound = NULL;
    uint32_t network = VR_NET_TCP;
    int rc = 0;
    char *save = NULL;
    for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        if (strcmp(w, "tcp") == 0)
            network = VR_NET_TCP;
        else if (strcmp(w, "udp") == 0)
            network = VR_NET_UDP;
        else if (strcmp(w, "from") == 0 || strcmp(w, "inbound") == 0) {
            char *v = strtok_r(NULL, " \t", &save);
            if (v == NULL || (w[0] == 'f' && parse_endpoint(v, &src) < 0)) {
                fprintf(err, "--explain: '%s' needs %s\n", w, w[0] == 'f' ? "SRC_IP:PORT" : "a listener tag");
                rc = -EINVAL;
                break;
            }
            if (w[0] == 'i')
                inbound = v;
        } else if (looks_like_endpoint(w)) {
            if (parse_endpoint(w, &dst) < 0) {
                fprintf(err, "--explain: \"%s\" is not IP:PORT (IPv6 as [2001:db8::1]:443)\n", w);
                rc = -EINVAL;
                break;
            }
            have_dst = true;
        } else if (protocol == NULL && domain == NULL && !strchr(w, '.'))
            protocol = w;
        else if (domain == NULL)
            domain = w;
        else {
            fprintf(err, "--explain: unexpected \"%s\"\n", w);
            rc = -EINVAL;
            break;
        }
    }
    if (rc == 0 && !have_dst) {
        fprintf(err, "--explain: no destination; expected e.g. \"tls example.com 203.0.113.5:443 from "
                     "198.18.1.2:40000\"\n");
        rc = -EINVAL;
    }
    /* A FakeIP destination stands for a name: routed by it, never by address. */
    char fake_name[256];
    const char *fake_source = NULL;
    enum vr_fakeip_explain fake = VR_FAKEIP_EXPLAIN_NOT_FAKE;
    if (rc == 0)
        fake = vr_fakeip_explain_dst(g->cfg, (const struct sockaddr *)&dst, domain, fake_name, sizeof(fake_name),
                                     &fake_source);
    if (fake == VR_FAKEIP_EXPLAIN_NAMED)
        domain = fake_name;
    if (rc == 0) {
        if (inbound == NULL && g->cfg->n_listeners > 0)
            inbound = g->cfg->listeners[0].tag;
        struct vr_match_input in = {
            .network = network,
            .src = (const struct sockaddr *)&src,
            .dst = (const struct sockaddr *)&dst,
            .inbound = inbound,
            .domain = domain,
            .protocol = protocol,
            .dst_fake = fake != VR_FAKEIP_EXPLAIN_NOT_FAKE,
        };
        const struct vr_rule *r;
        int idx = vr_rules_route(&g->cfg->rules, &in, &r);
        char s[VR_ADDRSTRLEN], d[VR_ADDRSTRLEN];
        fprintf(out, "flow: %s %s -> %s inbound=%s domain=%s protocol=%s\n", network == VR_NET_TCP ? "tcp" : "udp",
                vr_sockaddr_str((const struct sockaddr *)&src, s, sizeof(s)),
                vr_sockaddr_str((const struct sockaddr *)&dst, d, sizeof(d)), inbound ? inbound : "-",
                domain ? domain : "-", protocol ? protocol : "-");
        if (fake == VR_FAKEIP_EXPLAIN_NAMED)
            fprintf(out, "fakeip: %s is a FakeIP address standing for %s (%s): routed by that name, connected to "
                         "by name, never to the address\n",
                    d, fake_name, fake_source);
        if (fake == VR_FAKEIP_EXPLAIN_UNKNOWN) {
            fprintf(out, "fakeip: %s is in dns.fakeip's range but maps to no name known here (the running daemon's "
                         "pool%s): the daemon routes it by the name its pool holds, and refuses it when none; "
                         "name the domain to see its route (--explain \"%s NAME\")\n",
                    d, g->cfg->fakeip->persist ? " may be newer than the persist file" : " is not persisted", d);
            free(copy);
            return 0;
        }
        if (r)
            fprintf(out, "match: %s (%s:%d)\n", r->name, g->cfg->path, r->line);
        else
            fprintf(out, "match: no rule; final\n");
        if (idx < 0)
            fprintf(out, "action: %s (%s)\n", vr_rule_action_name(r->action),
                     r->action == VR_ACTION_REJECT
                         ? (network == VR_NET_TCP ? "the client's connection is reset" : "its datagrams are dropped")
                         : r->action == VR_ACTION_DNS ? "its DNS queries are answered by vrouterd's resolver"
                                                      : "the client gets nothing");
        else
            fprintf(out, "outbound: %s (module %s)\n", g->cfg->outbounds[idx].tag, g->cfg->outbounds[idx].module);
        if (fake != VR_FAKEIP_EXPLAIN_NOT_FAKE && g->cfg->daemon.offload)
            fprintf(out, "kernel fast path: no: dns.fakeip's ranges are captured before any rule (routed by the "
                         "name in vrouterd)\n");
        else
            vr_offload_explain(g->cfg, &in, out);
    }
    free(copy);
    return rc;
}
