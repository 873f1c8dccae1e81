#include "vr_control.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vr_config.h"
#include "vr_control_ops.h"
#include "vr_log.h"
#include "vr_process.h"

/* Bounds: a hostile or stuck client costs one slot and at most this much
 * memory, never the loop. */
#define VR_CONTROL_MAX_CLIENTS 16
#define VR_CONTROL_MAX_LINE (64 * 1024)
/* A listing refills the client's output up to this; a single answer larger
 * than VR_CONTROL_MAX_OUT means the client stopped reading: dropped. */
#define VR_CONTROL_STREAM_CHUNK (64 * 1024)
#define VR_CONTROL_MAX_OUT (4 * 1024 * 1024)
/* Pending output not taken for this long: the client is dropped. */
#define VR_CONTROL_WRITE_TIMEOUT_S 30

struct vr_control_client {
    struct vr_control *ctl;
    struct bufferevent *bev;
    unsigned uid, pid;
    struct vr_control_stream *stream; /* a listing under way: requests wait */
    bool closing;                     /* close once the output is sent */
    struct vr_control_client *next, **pprev;
};

struct vr_control {
    struct vr_daemon *d;
    struct event_base *base;
    int fd;
    struct event *ev;
    char *path; /* the socket file we created */
    gid_t gid;  /* the group let in; (gid_t)-1: root only */
    struct vr_control_client *clients;
    size_t n_clients;
};

/* Refused peers being answered (linger_close); not per server: they may
 * outlive it (a drain frees the server, the loop runs on). */
static size_t n_lingering;

struct vr_daemon *vr_control_daemon(const struct vr_control_client *cl) { return cl->ctl->d; }

const char *vr_control_str(json_object *req, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(req, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

long long vr_control_int(json_object *req, const char *key, long long def)
{
    json_object *v;
    if (!json_object_object_get_ex(req, key, &v) || !json_object_is_type(v, json_type_int))
        return def;
    return (long long)json_object_get_int64(v);
}

static void client_free(struct vr_control_client *cl)
{
    *cl->pprev = cl->next;
    if (cl->next)
        cl->next->pprev = cl->pprev;
    cl->ctl->n_clients--;
    if (cl->stream) {
        free(cl->stream->rows);
        json_object_put(cl->stream->end);
        free(cl->stream);
    }
    bufferevent_free(cl->bev);
    free(cl);
}

static void write_line(struct vr_control_client *cl, json_object *o)
{
    struct evbuffer *out = bufferevent_get_output(cl->bev);
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    evbuffer_add(out, s, strlen(s));
    evbuffer_add(out, "\n", 1);
}

void vr_control_send(struct vr_control_client *cl, json_object *o)
{
    if (!json_object_object_get_ex(o, "ok", NULL))
        json_object_object_add(o, "ok", json_object_new_boolean(1));
    write_line(cl, o);
    json_object_put(o);
    if (evbuffer_get_length(bufferevent_get_output(cl->bev)) > VR_CONTROL_MAX_OUT) {
        vr_warn("control: client uid %u pid %u does not read its answers: dropped", cl->uid, cl->pid);
        cl->closing = true;
        evbuffer_drain(bufferevent_get_output(cl->bev), evbuffer_get_length(bufferevent_get_output(cl->bev)));
    }
}

void vr_control_fail(struct vr_control_client *cl, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "ok", json_object_new_boolean(0));
    json_object_object_add(o, "error", json_object_new_string(msg));
    vr_control_send(cl, o);
}

/* Rows until the output holds a chunk; the rest when it has drained (the
 * write callback). Returns true when the listing is complete. */
static bool stream_fill(struct vr_control_client *cl)
{
    struct vr_control_stream *st = cl->stream;
    struct evbuffer *out = bufferevent_get_output(cl->bev);
    while (st->next < st->n && evbuffer_get_length(out) < VR_CONTROL_STREAM_CHUNK) {
        json_object *row = st->row_json((const char *)st->rows + st->next * st->row_size);
        write_line(cl, row);
        json_object_put(row);
        st->next++;
    }
    if (st->next < st->n)
        return false;
    json_object *end = st->end ? st->end : json_object_new_object();
    json_object_object_add(end, "ok", json_object_new_boolean(1));
    json_object_object_add(end, "end", json_object_new_boolean(1));
    json_object_object_add(end, "count", json_object_new_int64((int64_t)st->n));
    write_line(cl, end);
    json_object_put(end);
    free(st->rows);
    free(st);
    cl->stream = NULL;
    return true;
}

void vr_control_stream(struct vr_control_client *cl, struct vr_control_stream *st)
{
    cl->stream = st;
    stream_fill(cl);
}

static const struct {
    const char *name;
    vr_control_op_fn fn;
} ops[] = {
    {"status", vr_control_op_status},
    {"connections", vr_control_op_connections},
    {"sessions", vr_control_op_sessions},
    {"kill", vr_control_op_kill},
    {"reload", vr_control_op_reload},
    {"explain", vr_control_op_explain},
    {"outbounds", vr_control_op_outbounds},
    {"rules", vr_control_op_rules},
    {"log-level", vr_control_op_log_level},
    {"dns", vr_control_op_dns},
};

static void dispatch(struct vr_control_client *cl, const char *line)
{
    json_tokener *tok = json_tokener_new();
    json_object *req = tok ? json_tokener_parse_ex(tok, line, (int)strlen(line)) : NULL;
    bool complete = tok && json_tokener_get_error(tok) == json_tokener_success;
    json_tokener_free(tok);
    if (req == NULL || !complete || !json_object_is_type(req, json_type_object)) {
        json_object_put(req);
        vr_control_fail(cl, "not a JSON object: send one request per line, like {\"op\":\"status\"}");
        return;
    }
    const char *op = vr_control_str(req, "op");
    if (op == NULL) {
        vr_control_fail(cl, "the request has no \"op\" string");
    } else {
        size_t i;
        for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
            if (strcmp(ops[i].name, op) == 0)
                break;
        if (i == sizeof(ops) / sizeof(ops[0]))
            vr_control_fail(cl, "unknown op \"%s\" (see docs/CONTROL.md)", op);
        else
            ops[i].fn(cl, req);
    }
    json_object_put(req);
}

/* Requests are answered one at a time: while a listing streams, the next
 * request waits in the input buffer. */
static void serve(struct vr_control_client *cl)
{
    struct evbuffer *in = bufferevent_get_input(cl->bev);
    while (!cl->stream && !cl->closing) {
        size_t len;
        char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
        if (line == NULL) {
            if (evbuffer_get_length(in) > VR_CONTROL_MAX_LINE) {
                vr_control_fail(cl, "request longer than %d bytes", VR_CONTROL_MAX_LINE);
                cl->closing = true;
            }
            break;
        }
        if (len > 0)
            dispatch(cl, line);
        free(line);
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct vr_control_client *cl = arg;
    serve(cl);
    if (cl->closing && evbuffer_get_length(bufferevent_get_output(cl->bev)) == 0)
        client_free(cl);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct vr_control_client *cl = arg;
    if (cl->stream && !stream_fill(cl))
        return;
    if (cl->closing) {
        if (evbuffer_get_length(bufferevent_get_output(cl->bev)) == 0)
            client_free(cl);
        return;
    }
    serve(cl); /* requests that waited behind a listing */
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct vr_control_client *cl = arg;
    if (what & BEV_EVENT_TIMEOUT)
        vr_warn("control: client uid %u pid %u took nothing for %d s: dropped", cl->uid, cl->pid,
                VR_CONTROL_WRITE_TIMEOUT_S);
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        client_free(cl);
}

/* root, the daemon's own user (after daemon.user or under systemd's User=:
 * the unit's ExecReload runs as it), or a user whose groups (getgrouplist)
 * include the control group. */
static bool peer_allowed(const struct vr_control *ctl, const struct ucred *cr)
{
    if (cr->uid == 0 || cr->uid == geteuid())
        return true;
    if (ctl->gid == (gid_t)-1)
        return false;
    if (cr->gid == ctl->gid)
        return true;
    struct passwd pw, *pwp = NULL;
    char buf[4096];
    if (getpwuid_r(cr->uid, &pw, buf, sizeof(buf), &pwp) != 0 || pwp == NULL)
        return false;
    gid_t groups[256];
    int n = 256;
    if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
        return false;
    for (int i = 0; i < n; i++)
        if (groups[i] == ctl->gid)
            return true;
    return false;
}

/* A refused peer gets its answer: closing with its request unread would
 * send a RST that can destroy the answer before it is read. So: FIN after
 * the answer, then read and discard until the peer closes, at most 2 s;
 * at most VR_CONTROL_MAX_CLIENTS such sockets at once. */
static void linger_done(evutil_socket_t fd, short what, void *arg)
{
    struct event_base *base = arg;
    char buf[4096];
    ssize_t n = what & EV_READ ? recv(fd, buf, sizeof(buf), MSG_DONTWAIT) : 0;
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) {
        struct timeval tv = {2, 0};
        if (event_base_once(base, fd, EV_READ, linger_done, base, &tv) == 0)
            return;
    }
    close(fd);
    n_lingering--;
}

static void linger_close(struct vr_control *ctl, int fd)
{
    struct timeval tv = {2, 0};
    shutdown(fd, SHUT_WR);
    if (n_lingering >= VR_CONTROL_MAX_CLIENTS ||
        event_base_once(ctl->base, fd, EV_READ, linger_done, ctl->base, &tv) < 0) {
        close(fd);
        return;
    }
    n_lingering++;
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
    (void)what;
    struct vr_control *ctl = arg;
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    struct ucred cr;
    socklen_t crlen = sizeof(cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) < 0) {
        vr_warn("control: refused a client: SO_PEERCRED: %s", strerror(errno));
        close(fd);
        return;
    }
    if (!peer_allowed(ctl, &cr)) {
        static const char denied[] = "{\"ok\":false,\"error\":\"permission denied: neither root nor in the control "
                                     "group (daemon.control.group)\"}\n";
        vr_warn("control: refused uid %u pid %u: neither root nor in the control group", (unsigned)cr.uid,
                (unsigned)cr.pid);
        ssize_t w = write(fd, denied, sizeof(denied) - 1);
        (void)w;
        linger_close(ctl, fd);
        return;
    }
    if (ctl->n_clients >= VR_CONTROL_MAX_CLIENTS) {
        static const char busy[] = "{\"ok\":false,\"error\":\"too many control clients\"}\n";
        vr_warn("control: refused uid %u pid %u: %d clients already connected", (unsigned)cr.uid, (unsigned)cr.pid,
                VR_CONTROL_MAX_CLIENTS);
        ssize_t r = write(fd, busy, sizeof(busy) - 1);
        (void)r;
        linger_close(ctl, fd);
        return;
    }
    struct vr_control_client *cl = calloc(1, sizeof(*cl));
    struct bufferevent *bev = cl ? bufferevent_socket_new(ctl->base, fd, BEV_OPT_CLOSE_ON_FREE) : NULL;
    if (bev == NULL) {
        free(cl);
        close(fd);
        return;
    }
    cl->ctl = ctl;
    cl->bev = bev;
    cl->uid = (unsigned)cr.uid;
    cl->pid = (unsigned)cr.pid;
    cl->next = ctl->clients;
    if (ctl->clients)
        ctl->clients->pprev = &cl->next;
    cl->pprev = &ctl->clients;
    ctl->clients = cl;
    ctl->n_clients++;
    /* Refill a listing when its output is below half a chunk. */
    bufferevent_setwatermark(bev, EV_WRITE, VR_CONTROL_STREAM_CHUNK / 2, 0);
    bufferevent_setwatermark(bev, EV_READ, 0, VR_CONTROL_MAX_LINE + 1);
    struct timeval wt = {VR_CONTROL_WRITE_TIMEOUT_S, 0};
    bufferevent_set_timeouts(bev, NULL, &wt);
    bufferevent_setcb(bev, on_read, on_write, on_event, cl);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    vr_debug("control: client uid %u pid %u connected", cl->uid, cl->pid);
}

static void stop_listening(struct vr_control *ctl)
{
    if (ctl->ev)
        event_free(ctl->ev);
    ctl->ev = NULL;
    if (ctl->fd >= 0)
        close(ctl->fd);
    ctl->fd = -1;
    if (ctl->path) {
        struct stat st;
        if (lstat(ctl->path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(ctl->path);
        free(ctl->path);
        ctl->path = NULL;
    }
}

/* The directory of path: created 0750 when missing; an existing one must be
 * a real directory (lstat: not a symlink). */
static int prepare_dir(const char *path, gid_t gid)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return 0;
    *slash = '\0';
    struct stat st;
    if (lstat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            vr_err("control: %s is not a directory (a symlink is not followed): no control socket", dir);
            return -ENOTDIR;
        }
        return 0;
    }
    if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
        int err = errno;
        vr_err("control: cannot create %s: %s", dir, strerror(err));
        return -err;
    }
    if (gid != (gid_t)-1 && chown(dir, (uid_t)-1, gid) < 0)
        vr_warn("control: cannot give %s to the control group: %s", dir, strerror(errno));
    return 0;
}

/* A stale socket file is replaced; anything else in its place (a symlink,
 * a regular file) is left alone and refused. */
static int clear_stale(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode)) {
        vr_err("control: %s exists and is not a socket (not replaced, a symlink is not followed): no control socket",
               path);
        return -EEXIST;
    }
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        close(probe);
        vr_err("control: %s is in use by another running process: no control socket", path);
        return -EADDRINUSE;
    }
    if (probe >= 0)
        close(probe);
    unlink(path);
    return 0;
}

static int set_owner_mode(const struct vr_control *ctl, const struct vr_daemon_cfg *cfg)
{
    /* Through the directory fd-free path but never following a symlink:
     * the socket was just bound by us, and lstat checks it still is. */
    struct stat st;
    if (lstat(ctl->path, &st) < 0 || !S_ISSOCK(st.st_mode))
        return -ENOENT;
    /* Only what differs: after daemon.user's drop the socket stays root's. */
    if (((st.st_mode & 07777) != (mode_t)cfg->control_mode && chmod(ctl->path, (mode_t)cfg->control_mode) < 0) ||
        (ctl->gid != (gid_t)-1 && st.st_gid != ctl->gid && lchown(ctl->path, (uid_t)-1, ctl->gid) < 0)) {
        int err = errno;
        vr_err("control: cannot set the mode or group of %s: %s", ctl->path, strerror(err));
        return -err;
    }
    return 0;
}

static int start_listening(struct vr_control *ctl, const struct vr_daemon_cfg *cfg)
{
    const char *path = cfg->control_path;
    int r = prepare_dir(path, ctl->gid);
    if (r < 0)
        return r;
    if ((r = clear_stale(path)) < 0)
        return r;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    /* Bound with no permission for anyone until chmod sets the mode. */
    mode_t old = umask(0777);
    r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    int err = errno;
    umask(old);
    if (r < 0 || listen(fd, 16) < 0) {
        err = r < 0 ? err : errno;
        vr_err("control: cannot listen on %s: %s", path, strerror(err));
        close(fd);
        return -err;
    }
    ctl->fd = fd;
    ctl->path = strdup(path);
    ctl->ev = event_new(ctl->base, fd, EV_READ | EV_PERSIST, on_accept, ctl);
    if (ctl->path == NULL || ctl->ev == NULL || event_add(ctl->ev, NULL) < 0 || set_owner_mode(ctl, cfg) < 0) {
        stop_listening(ctl);
        return -ENOMEM;
    }
    vr_info("control: listening on %s (mode 0%o, group %s)", path, (unsigned)cfg->control_mode,
            cfg->control_group ? cfg->control_group : "none: root only");
    return 0;
}

int vr_control_apply(struct vr_control *ctl, const struct vr_daemon_cfg *cfg)
{
    if (!cfg->control) {
        if (ctl->fd >= 0)
            vr_info("control: daemon.control is off: socket %s closed", ctl->path);
        stop_listening(ctl);
        return 0;
    }
    ctl->gid = (gid_t)-1;
    if (cfg->control_group) {
        struct group gr, *grp = NULL;
        char buf[4096];
        if (getgrnam_r(cfg->control_group, &gr, buf, sizeof(buf), &grp) != 0 || grp == NULL)
            vr_warn("control: group \"%s\" does not exist: root only", cfg->control_group);
        else
            ctl->gid = grp->gr_gid;
    }
    if (ctl->fd >= 0 && strcmp(ctl->path, cfg->control_path) == 0)
        return set_owner_mode(ctl, cfg);
    /* A new path: the old socket stays until the new one listens, so a
     * path that cannot be used does not leave the daemon without one. */
    int old_fd = ctl->fd;
    struct event *old_ev = ctl->ev;
    char *old_path = ctl->path;
    ctl->fd = -1;
    ctl->ev = NULL;
    ctl->path = NULL;
    int r = start_listening(ctl, cfg);
    if (r < 0) {
        ctl->fd = old_fd;
        ctl->ev = old_ev;
        ctl->path = old_path;
        if (old_fd >= 0)
            vr_err("control: keeping the socket %s", old_path);
        return r;
    }
    struct vr_control old = {.fd = old_fd, .ev = old_ev, .path = old_path};
    stop_listening(&old);
    return 0;
}

struct vr_control *vr_control_new(struct vr_daemon *d)
{
    struct vr_control *ctl = calloc(1, sizeof(*ctl));
    if (ctl == NULL)
        return NULL;
    ctl->d = d;
    ctl->base = d->base;
    ctl->fd = -1;
    ctl->gid = (gid_t)-1;
    return ctl;
}

void vr_control_free(struct vr_control *ctl)
{
    if (ctl == NULL)
        return;
    while (ctl->clients)
        client_free(ctl->clients);
    stop_listening(ctl);
    free(ctl);
}
