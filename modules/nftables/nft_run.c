/* nftables installer: talking to the kernel through libnftables. */
#include "nft_conf.h"

#include <errno.h>
#include <malloc.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *nftm_strdup_trim(const char *s)
{
    char *d = strdup(s ? s : "");
    if (d == NULL)
        return NULL;
    size_t n = strlen(d);
    while (n > 0 && (d[n - 1] == '\n' || d[n - 1] == ' '))
        d[--n] = '\0';
    /* one line for the log: nft's caret diagnostics become " | " */
    for (char *p = d; *p; p++)
        if (*p == '\n')
            *p = '|';
    return d;
}

int nftm_run(const char *buf, char **out, char **err)
{
    return nftm_run_output(buf, 0, out, err);
}

int nftm_run_output(const char *buf, unsigned int output_flags, char **out, char **err)
{
    if (out != NULL)
        *out = NULL;
    *err = NULL;
    struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    if (ctx == NULL) {
        *err = strdup("libnftables: cannot create a context");
        return -ENOMEM;
    }
    nft_ctx_buffer_output(ctx);
    nft_ctx_buffer_error(ctx);
    if (output_flags)
        nft_ctx_output_set_flags(ctx, nft_ctx_output_get_flags(ctx) | output_flags);
    int rc = nft_run_cmd_from_buffer(ctx, buf);
    if (out != NULL)
        *out = strdup(nft_ctx_get_output_buffer(ctx));
    if (rc != 0)
        *err = nftm_strdup_trim(nft_ctx_get_error_buffer(ctx));
    nft_ctx_free(ctx);
    /* A transaction with a large fast path set (an ip_set of 100,000s of
     * CIDRs) makes libnftables allocate hundreds of MB, freed by now; give
     * the pages back rather than keep them in the heap for the next one. */
    malloc_trim(0);
    return rc == 0 ? 0 : -EIO;
}

int nftm_table_owner(const char *table, char **err)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "list table inet %s", table);
    char *out = NULL;
    int e = nftm_run(cmd, &out, err);
    if (e < 0) {
        /* absent is the common case and not an error */
        int absent = *err != NULL && strstr(*err, "No such file or directory") != NULL;
        if (absent) {
            free(*err);
            *err = NULL;
        }
        free(out);
        return absent ? 0 : e;
    }
    int ours = out != NULL && strstr(out, "comment \"" NFTM_OWNER_COMMENT "\"") != NULL;
    free(out);
    return ours ? 1 : -EEXIST;
}
