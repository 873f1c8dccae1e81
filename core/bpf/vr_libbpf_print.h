/* libbpf's own messages (verifier logs, missing kernel features) into
 * vrouterd's log instead of stderr. */
#ifndef VR_LIBBPF_PRINT_H
#define VR_LIBBPF_PRINT_H

/* Idempotent; call before the first libbpf call of a loader. */
void vr_libbpf_print_init(void);

#endif
