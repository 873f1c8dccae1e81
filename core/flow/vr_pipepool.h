/* Pipes for splice(2), lent to a relay direction only while bytes move, so an
 * idle connection holds none. A pipe goes back to the pool empty. The pool
 * never holds more than max_open pipes (lent and pooled), the part of the
 * fd budget the connections' sockets leave (set by the worker); past it
 * get says -EMFILE and the relay copies through userspace instead. */
#ifndef VR_PIPEPOOL_H
#define VR_PIPEPOOL_H

#include <stddef.h>
#include <stdint.h>

/* Pipes kept ready by the process (shared out over the workers' pools);
 * more than this are closed on return. */
#define VR_PIPE_POOL_MAX 256

struct vr_pipe {
    int r, w;
};

struct vr_pipepool {
    struct vr_pipe *free;
    size_t n_free, cap;
    size_t lent;
    size_t max_open;   /* lent + pooled never grows past this */
    size_t max_free;   /* pooled pipes kept at most (0: VR_PIPE_POOL_MAX); each worker has its share */
    uint64_t refused;  /* gets refused at max_open or by the kernel */
    uint64_t unstuck;  /* pipes emptied into a buffer and given back: their reader stalled */
};

/* 0 and a pipe in *p, or a negative errno (EMFILE/ENFILE: out of fds). */
int vr_pipepool_get(struct vr_pipepool *pool, struct vr_pipe *p);
/* Back to the pool; the pipe must be empty. */
void vr_pipepool_put(struct vr_pipepool *pool, struct vr_pipe *p);
/* Close it (it may hold bytes that belong to nobody now). */
void vr_pipepool_drop(struct vr_pipepool *pool, struct vr_pipe *p);
void vr_pipepool_clear(struct vr_pipepool *pool);

#endif
