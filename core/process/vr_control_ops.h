/* Between the control server (vr_control.c) and its operations
 * (vr_control_ops.c: status, reload, explain, rules, outbounds, log-level;
 * vr_control_flows.c: connections, sessions, kill). */
#ifndef VR_CONTROL_OPS_H
#define VR_CONTROL_OPS_H

#include <json-c/json.h>
#include <stddef.h>

struct vr_control_client;
struct vr_daemon;

struct vr_daemon *vr_control_daemon(const struct vr_control_client *cl);
/* Sends o as one line ({"ok":true} is added unless o has "ok"); takes o. */
void vr_control_send(struct vr_control_client *cl, json_object *o);
/* Sends {"ok":false,"error":...}. */
void vr_control_fail(struct vr_control_client *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A listing sent one row per line as the client reads, then end (with
 * "ok":true,"end":true and "count" added). The server owns it from here. */
struct vr_control_stream {
    void *rows;
    size_t n, next, row_size;
    json_object *(*row_json)(const void *row);
    json_object *end;
};
void vr_control_stream(struct vr_control_client *cl, struct vr_control_stream *st);

typedef void (*vr_control_op_fn)(struct vr_control_client *cl, json_object *req);
void vr_control_op_status(struct vr_control_client *cl, json_object *req);
void vr_control_op_reload(struct vr_control_client *cl, json_object *req);
void vr_control_op_explain(struct vr_control_client *cl, json_object *req);
void vr_control_op_rules(struct vr_control_client *cl, json_object *req);
void vr_control_op_outbounds(struct vr_control_client *cl, json_object *req);
void vr_control_op_log_level(struct vr_control_client *cl, json_object *req);
/* The resolver's counters: totals, cache, per upstream (core/dns/vr_dns_stats.h). */
void vr_control_op_dns(struct vr_control_client *cl, json_object *req);
void vr_control_op_connections(struct vr_control_client *cl, json_object *req);
void vr_control_op_sessions(struct vr_control_client *cl, json_object *req);
void vr_control_op_kill(struct vr_control_client *cl, json_object *req);

/* Request fields: NULL / def when absent or of another type. */
const char *vr_control_str(json_object *req, const char *key);
long long vr_control_int(json_object *req, const char *key, long long def);

#endif
