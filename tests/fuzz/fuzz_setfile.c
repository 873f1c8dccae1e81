/* libFuzzer harness for the rule-set file parsers (vr_setfile_parse_*), and
 * through them vr_domain_normalize, vr_cidr_parse and both sets.
 *
 * The first input byte picks the parser (even: CIDRs, odd: domains); the rest
 * is the file. After parsing, the input's lines are also looked up in the set,
 * so lookups see arbitrary bytes too. Checked invariants: an error always
 * comes with a "fuzz:" message, success never does, and a loaded name or
 * prefix is found again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vr_setfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_message(int r, const char *err)
{
    if (r < 0 && strncmp(err, "fuzz:", 5) != 0)
        abort();
    if (r >= 0 && err[0] != '\0')
        abort();
}

static void fuzz_domains(const char *buf, size_t len)
{
    struct vr_domainset *set = vr_domainset_new();
    if (set == NULL)
        return;
    char err[512] = "";
    int r = vr_setfile_parse_domains(buf, len, "fuzz", set, err, sizeof(err));
    check_message(r, err);
    /* every line, as given, as a name to match; on a clean load each entry
     * line (a valid suffix) must match itself */
    size_t pos = 0;
    while (pos < len) {
        const char *line = buf + pos;
        const char *eol = memchr(line, '\n', len - pos);
        size_t n = eol ? (size_t)(eol - line) : len - pos;
        pos += n + (eol != NULL);
        char name[300];
        if (n >= sizeof(name) || memchr(line, '\0', n) != NULL)
            continue;
        memcpy(name, line, n);
        name[n] = '\0';
        bool hit = vr_domainset_match(set, name);
        char norm[VR_DOMAIN_MAX + 1];
        if (r >= 0 && !hit && vr_domain_normalize(line, n, norm, NULL) >= 0)
            abort();
    }
    vr_domainset_free(set);
}

static void fuzz_cidrs(const char *buf, size_t len)
{
    struct vr_ipset *set = vr_ipset_new();
    if (set == NULL)
        return;
    char err[512] = "";
    int r = vr_setfile_parse_cidrs(buf, len, "fuzz", set, err, sizeof(err));
    check_message(r, err);
    vr_ipset_build(set);
    /* every parsable line's network address is in the set after a clean load */
    size_t pos = 0;
    while (pos < len) {
        const char *line = buf + pos;
        const char *eol = memchr(line, '\n', len - pos);
        size_t n = eol ? (size_t)(eol - line) : len - pos;
        pos += n + (eol != NULL);
        char text[64];
        struct vr_cidr c;
        if (n >= sizeof(text))
            continue;
        memcpy(text, line, n);
        text[n] = '\0';
        if (vr_cidr_parse(text, &c) == 0 && r >= 0 && !vr_ipset_contains(set, c.family, c.addr))
            abort();
    }
    /* raw input bytes as addresses */
    for (size_t i = 0; i + 16 <= len; i += 16) {
        vr_ipset_contains(set, AF_INET, (const uint8_t *)buf + i);
        vr_ipset_contains(set, AF_INET6, (const uint8_t *)buf + i);
    }
    vr_ipset_free(set);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    /* copy so that reads past the end are caught by ASan even when the
     * fuzzer's buffer is larger */
    char *buf = malloc(size - 1 ? size - 1 : 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data + 1, size - 1);
    if (data[0] & 1)
        fuzz_domains(buf, size - 1);
    else
        fuzz_cidrs(buf, size - 1);
    free(buf);
    return 0;
}
