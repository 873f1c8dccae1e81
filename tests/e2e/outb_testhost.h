/*
 * A small host for testing outbound modules without the daemon: loads a
 * module .so with dlopen, implements struct vr_host over poll(2), and lets
 * a test build config blocks, instances and other outbounds (for ecmp).
 * Single-threaded, like one worker of the daemon.
 */
#ifndef OUTB_TESTHOST_H
#define OUTB_TESTHOST_H

#include <stdint.h>

#include <vrouter/vr_plugin.h>

struct th_cfg;

/* Config blocks: build with th_cfg_new, then add keys. */
struct th_cfg *th_cfg_new(const char *block_name);
void th_cfg_int(struct th_cfg *c, const char *key, int64_t v);
void th_cfg_bool(struct th_cfg *c, const char *key, int v);
void th_cfg_str(struct th_cfg *c, const char *key, const char *v);
void th_cfg_list_int(struct th_cfg *c, const char *key, int n, const int64_t *v);
void th_cfg_list_str(struct th_cfg *c, const char *key, int n, const char *const *v);
void th_cfg_group(struct th_cfg *c, const char *key, struct th_cfg *group); /* takes ownership */
void th_cfg_free(struct th_cfg *c);
/* 1 if create read every key of the block (the host would report the rest). */
int th_cfg_all_read(const struct th_cfg *c);

/* The last config error recorded, "" if none; cleared by th_cfg_clear_error. */
const char *th_cfg_last_error(void);
void th_cfg_clear_error(void);

/* Loads <path> and returns its outbound ops, or NULL (message on stderr). */
const struct vr_outbound_ops *th_load_outbound(const char *path);

/* An instance with a tag and a config block (not owned). */
struct vr_instance *th_instance_new(const char *tag, struct th_cfg *cfg);
/* Cancels the instance's watches and timers and frees it. */
void th_instance_free(struct vr_instance *inst);
int th_instance_healthy(const struct vr_instance *inst);
int64_t th_counter_get(const struct vr_instance *inst, const char *name);

/* Registers an outbound other instances may find (for composites). */
void th_outbound_register(const char *tag, struct vr_instance *inst,
                          const struct vr_outbound_ops *ops, void *state);
void th_outbound_clear(void);

const struct vr_host *th_host(void);

/* The reason a module last gave through host->connect_fail_reason for the
 * flow with this id (NULL if none since th_connect_reason_clear). */
const char *th_connect_reason(uint64_t flow_id);
void th_connect_reason_clear(void);
/* What a composite outbound last reported of member through
 * host->member_health (NULL: nothing); *up set when found. */
const char *th_member_health(struct vr_instance *inst, const char *member, int *up);

/* Makes the nth timer_add from now fail (returns NULL), as under memory
 * pressure; 0 turns that off. */
void th_timer_add_fail_at(int nth);

/* Runs the loop until *done becomes non-zero or ms pass; returns *done. */
int th_run_until(const int *done, uint32_t ms);
/* Runs the loop for ms. */
void th_run_for(uint32_t ms);

/* 1 if a log line containing needle was logged since th_log_clear. */
int th_log_contains(const char *needle);
void th_log_clear(void);

/* Moves the process into a new network namespace with lo up and
 * 198.18.255.1/32 on it (needs root). Returns 0 or -errno. */
int th_netns_private(void);

#endif
