#include "vr_dns_explain.h"

#include <arpa/inet.h>
#include <string.h>

#include "vr_addr.h"
#include "vr_config.h"
#include "vr_dns_config.h"
#include "vr_dns_msg.h"
#include "vr_fakeip_config.h"

static void explain_upstreams(const struct vr_config *cfg, const int *ups, size_t n, FILE *out)
{
    for (size_t i = 0; i < n; i++) {
        const struct vr_dns_upstream *u = &cfg->dns->upstreams[ups[i]];
        fprintf(out, "%s %s (%s), through outbound %s%s\n", i == 0 ? "upstream:" : "  then:", u->tag, u->address,
                cfg->outbounds[u->outbound].tag,
                u->transport == VR_DNS_TLS ? ", TLS name checked" : "");
    }
}

/* What a fakeip rule answers for this type: A/AAAA an address of their
 * range when there is one, every other type no records. */
static void explain_fake(const struct vr_config *cfg, int type, FILE *out)
{
    const struct vr_fakeip_cfg *fc = cfg->fakeip;
    const struct vr_fakeip_range *r = NULL;
    if (fc && type == VR_DNS_T_A)
        r = &fc->range4;
    else if (fc && type == VR_DNS_T_AAAA)
        r = &fc->range6;
    if (r && r->family) {
        char a[INET6_ADDRSTRLEN];
        inet_ntop(r->family, r->base, a, sizeof(a));
        fprintf(out, "answer: an address of the FakeIP range %s/%d (TTL %u), the name's mapping in the running "
                     "daemon's pool\n", a, r->prefix, fc->ttl);
    } else if (type == VR_DNS_T_A || type == VR_DNS_T_AAAA)
        fprintf(out, "answer: NOERROR with no records (dns.fakeip has no %s)\n", type == VR_DNS_T_A ? "range" : "range6");
    else
        fprintf(out, "answer: NOERROR with no records (a FakeIP name's other types: no real address leaks)\n");
}

int vr_dns_explain(const struct vr_config *cfg, const char *spec, FILE *out, FILE *err)
{
    const struct vr_dns_config *d = cfg->dns;
    if (d == NULL) {
        fprintf(err, "explain: the config has no dns block\n");
        return -1;
    }
    char copy[512], name[VR_DNS_NAME_MAX + 1];
    snprintf(copy, sizeof(copy), "%s", spec);
    char *save = NULL, *w = strtok_r(copy, " \t", &save);
    if (w == NULL || vr_domain_normalize(w, strlen(w), name, NULL) < 0) {
        fprintf(err, "explain: expected \"query NAME [TYPE] [from IP]\", e.g. \"query www.example.com AAAA\"\n");
        return -1;
    }
    int type = VR_DNS_T_A;
    struct sockaddr_storage client;
    vr_sockaddr_parse("0.0.0.0", 0, &client, NULL);
    while ((w = strtok_r(NULL, " \t", &save)) != NULL) {
        if (strcmp(w, "from") == 0) {
            char *v = strtok_r(NULL, " \t", &save);
            if (v == NULL || vr_sockaddr_parse(v, 0, &client, NULL) < 0) {
                fprintf(err, "explain: \"from\" takes a client address\n");
                return -1;
            }
        } else if ((type = vr_dns_type_parse(w)) < 0) {
            fprintf(err, "explain: \"%s\" is not a query type (e.g. A, AAAA, HTTPS, TYPE99)\n", w);
            return -1;
        }
    }
    char tbuf[16], cbuf[64];
    fprintf(out, "query: %s %s from %s\n", name, vr_dns_type_name((uint16_t)type, tbuf, sizeof(tbuf)),
            vr_sockaddr_str((const struct sockaddr *)&client, cbuf, sizeof(cbuf)));
    const struct vr_dns_rule *r = vr_dns_rules_match(d, name, (uint16_t)type, (const struct sockaddr *)&client);
    if (r == NULL) {
        fprintf(out, "match: no dns rule; final\n");
        explain_upstreams(cfg, d->final, d->n_final, out);
        return 0;
    }
    fprintf(out, "match: %s (%s:%d)\n", r->name, r->file ? r->file : cfg->path, r->line);
    switch (r->action) {
    case VR_DNS_RULE_UPSTREAM: explain_upstreams(cfg, r->upstreams, r->n_upstreams, out); break;
    case VR_DNS_RULE_REJECT: fprintf(out, "answer: NXDOMAIN (reject)\n"); break;
    case VR_DNS_RULE_EMPTY: fprintf(out, "answer: NOERROR with no records (reject = \"empty\")\n"); break;
    case VR_DNS_RULE_ADDRESS: {
        char a[INET6_ADDRSTRLEN];
        inet_ntop(r->addr_family, r->addr, a, sizeof(a));
        bool hit = type == (r->addr_family == AF_INET ? VR_DNS_T_A : VR_DNS_T_AAAA);
        fprintf(out, "answer: %s%s\n", hit ? a : "NOERROR with no records (the fixed address is ", hit ? " (fixed, TTL 60)" : ")");
        if (!hit)
            fprintf(out, "  fixed address: %s\n", a);
        break;
    }
    case VR_DNS_RULE_FAKEIP: explain_fake(cfg, type, out); break;
    }
    return 0;
}
