#include "vr_pipepool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

/* Bigger than the default 64 KiB: fewer splice calls per byte at high rates. */
#define VR_PIPE_SIZE (256 * 1024)

int vr_pipepool_get(struct vr_pipepool *pool, struct vr_pipe *p)
{
    if (pool->n_free > 0) {
        *p = pool->free[--pool->n_free];
        pool->lent++;
        return 0;
    }
    if (pool->lent + pool->n_free >= pool->max_open) {
        pool->refused++;
        return -EMFILE;
    }
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
        pool->refused++;
        return -errno;
    }
    (void)fcntl(fds[1], F_SETPIPE_SZ, VR_PIPE_SIZE); /* best effort: the default size works too */
    p->r = fds[0];
    p->w = fds[1];
    pool->lent++;
    return 0;
}

void vr_pipepool_put(struct vr_pipepool *pool, struct vr_pipe *p)
{
    if (p->r < 0)
        return;
    pool->lent--;
    size_t max_free = pool->max_free ? pool->max_free : VR_PIPE_POOL_MAX;
    if (pool->n_free < max_free && pool->lent + pool->n_free < pool->max_open) {
        if (pool->n_free == pool->cap) {
            size_t cap = pool->cap ? pool->cap * 2 : 16;
            struct vr_pipe *arr = realloc(pool->free, cap * sizeof(*arr));
            if (arr) {
                pool->free = arr;
                pool->cap = cap;
            }
        }
        if (pool->n_free < pool->cap) {
            pool->free[pool->n_free++] = *p;
            p->r = p->w = -1;
            return;
        }
    }
    close(p->r);
    close(p->w);
    p->r = p->w = -1;
}

void vr_pipepool_drop(struct vr_pipepool *pool, struct vr_pipe *p)
{
    if (p->r < 0)
        return;
    pool->lent--;
    close(p->r);
    close(p->w);
    p->r = p->w = -1;
}

void vr_pipepool_clear(struct vr_pipepool *pool)
{
    for (size_t i = 0; i < pool->n_free; i++) {
        close(pool->free[i].r);
        close(pool->free[i].w);
    }
    free(pool->free);
    pool->free = NULL;
    pool->n_free = pool->cap = 0;
}
