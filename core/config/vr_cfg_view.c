#include "vr_cfg_view.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vrouter/vr_host.h>

struct vr_cfg {
    config_setting_t *s;
    char *what;
    struct vr_cfg_root *root;
    bool *used;      /* one flag per child setting of s */
    int n_children;  /* config_setting_length(s) */
    char **asked;    /* names looked up, for "known keys" hints */
    size_t n_asked;
    struct vr_cfg **subs; /* views handed out for nested groups */
    size_t n_subs;
    char **strings; /* paths made absolute, owned here */
    size_t n_strings;
};

/* Tracking mutates a logically const view. */
static struct vr_cfg *mut(const struct vr_cfg *cfg) { return (struct vr_cfg *)cfg; }

static void *push(void *arr, size_t *n, size_t elem)
{
    void *p = realloc(arr, (*n + 1) * elem);
    if (p)
        (*n)++;
    return p;
}

struct vr_cfg *vr_cfg_new(config_setting_t *group, const char *what, struct vr_cfg_root *root)
{
    struct vr_cfg *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL)
        return NULL;
    cfg->s = group;
    cfg->what = strdup(what);
    cfg->root = root;
    cfg->n_children = group ? config_setting_length(group) : 0;
    cfg->used = calloc((size_t)cfg->n_children + 1, sizeof(bool));
    if (cfg->what == NULL || cfg->used == NULL) {
        vr_cfg_free(cfg);
        return NULL;
    }
    return cfg;
}

void vr_cfg_free(struct vr_cfg *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->n_subs; i++)
        vr_cfg_free(cfg->subs[i]);
    for (size_t i = 0; i < cfg->n_asked; i++)
        free(cfg->asked[i]);
    for (size_t i = 0; i < cfg->n_strings; i++)
        free(cfg->strings[i]);
    free(cfg->subs);
    free(cfg->asked);
    free(cfg->strings);
    free(cfg->used);
    free(cfg->what);
    free(cfg);
}

static void remember(struct vr_cfg *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->n_asked; i++)
        if (strcmp(cfg->asked[i], key) == 0)
            return;
    char *copy = strdup(key);
    if (copy == NULL)
        return;
    size_t n = cfg->n_asked;
    char **arr = push(cfg->asked, &n, sizeof(char *));
    if (arr == NULL) {
        free(copy);
        return;
    }
    arr[n - 1] = copy;
    cfg->asked = arr;
    cfg->n_asked = n;
}

/* Looks key up and marks it known; NULL when absent. */
static config_setting_t *lookup(const struct vr_cfg *ccfg, const char *key)
{
    struct vr_cfg *cfg = mut(ccfg);
    remember(cfg, key);
    if (cfg->s == NULL)
        return NULL;
    config_setting_t *m = config_setting_get_member(cfg->s, key);
    if (m) {
        int idx = config_setting_index(m);
        if (idx >= 0 && idx < cfg->n_children)
            cfg->used[idx] = true;
    }
    return m;
}

void vr_cfg_known(const struct vr_cfg *cfg, const char *key) { (void)lookup(cfg, key); }

bool vr_cfg_has(const struct vr_cfg *cfg, const char *key)
{
    return cfg->s != NULL && config_setting_get_member(cfg->s, key) != NULL;
}

const char *vr_cfg_what(const struct vr_cfg *cfg) { return cfg->what; }

static const char *file_of(const struct vr_cfg *cfg, const config_setting_t *s)
{
    const char *f = s ? config_setting_source_file(s) : NULL;
    return f ? f : cfg->root->file;
}

const char *vr_cfg_file(const struct vr_cfg *cfg, const char *key)
{
    config_setting_t *m = (key && cfg->s) ? config_setting_get_member(cfg->s, key) : NULL;
    return file_of(cfg, m ? m : cfg->s);
}

int vr_cfg_line(const struct vr_cfg *cfg, const char *key)
{
    config_setting_t *m = (key && cfg->s) ? config_setting_get_member(cfg->s, key) : NULL;
    if (m)
        return (int)config_setting_source_line(m);
    return cfg->s ? (int)config_setting_source_line(cfg->s) : 0;
}

void vr_cfg_verror(const struct vr_cfg *cfg, const char *key, const char *fmt, va_list ap)
{
    char body[1024];
    vsnprintf(body, sizeof(body), fmt, ap);
    config_setting_t *m = (key && cfg->s) ? config_setting_get_member(cfg->s, key) : NULL;
    config_setting_t *at = m ? m : cfg->s;
    int line = vr_cfg_line(cfg, key);
    const char *sep = cfg->what[0] ? ": " : "";
    if (key)
        vr_errors_at(cfg->root->errs, file_of(cfg, at), line, "%s%s%s: %s", cfg->what, sep, key, body);
    else
        vr_errors_at(cfg->root->errs, file_of(cfg, at), line, "%s%s%s", cfg->what, sep, body);
}

void vr_cfg_error(const struct vr_cfg *cfg, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vr_cfg_verror(cfg, key, fmt, ap);
    va_end(ap);
}

static bool is_int(const config_setting_t *s)
{
    int t = config_setting_type(s);
    return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

static bool is_list(const config_setting_t *s)
{
    int t = config_setting_type(s);
    return t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST;
}

static const char *type_name(const config_setting_t *s)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return "an integer";
    case CONFIG_TYPE_FLOAT: return "a number with a fraction";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL: return "a boolean";
    case CONFIG_TYPE_ARRAY: return "an array [...]";
    case CONFIG_TYPE_LIST: return "a list (...)";
    case CONFIG_TYPE_GROUP: return "a group {...}";
    default: return "something else";
    }
}

int vr_cfg_int(const struct vr_cfg *cfg, const char *key, int64_t *out)
{
    config_setting_t *m = lookup(cfg, key);
    if (m == NULL)
        return -ENOENT;
    if (!is_int(m)) {
        vr_cfg_error(cfg, key, "expected an integer, found %s", type_name(m));
        return -EINVAL;
    }
    *out = config_setting_get_int64(m);
    /* libconfig keeps 0x80000000..0xffffffff as a negative 32-bit int; a hex
     * literal means the bits (marks, masks), so read it unsigned. */
    if (config_setting_type(m) == CONFIG_TYPE_INT && config_setting_get_format(m) == CONFIG_FORMAT_HEX && *out < 0)
        *out = (int64_t)(uint32_t)*out;
    return 0;
}

int vr_cfg_bool(const struct vr_cfg *cfg, const char *key, int *out)
{
    config_setting_t *m = lookup(cfg, key);
    if (m == NULL)
        return -ENOENT;
    if (config_setting_type(m) != CONFIG_TYPE_BOOL) {
        vr_cfg_error(cfg, key, "expected true or false, found %s", type_name(m));
        return -EINVAL;
    }
    *out = config_setting_get_bool(m);
    return 0;
}

int vr_cfg_string(const struct vr_cfg *cfg, const char *key, const char **out)
{
    config_setting_t *m = lookup(cfg, key);
    if (m == NULL)
        return -ENOENT;
    if (config_setting_type(m) != CONFIG_TYPE_STRING) {
        vr_cfg_error(cfg, key, "expected a string in double quotes, found %s", type_name(m));
        return -EINVAL;
    }
    *out = config_setting_get_string(m);
    return 0;
}

int vr_cfg_type(const struct vr_cfg *cfg, const char *key)
{
    config_setting_t *m = lookup(cfg, key);
    if (m == NULL)
        return -ENOENT;
    if (is_int(m))
        return VR_CFG_INT;
    if (is_list(m))
        return VR_CFG_LIST;
    switch (config_setting_type(m)) {
    case CONFIG_TYPE_BOOL: return VR_CFG_BOOL;
    case CONFIG_TYPE_STRING: return VR_CFG_STRING;
    case CONFIG_TYPE_FLOAT: return VR_CFG_FLOAT;
    default: return VR_CFG_GROUP;
    }
}

int vr_cfg_list_len(const struct vr_cfg *cfg, const char *key)
{
    config_setting_t *m = lookup(cfg, key);
    if (m == NULL)
        return -ENOENT;
    if (is_list(m))
        return config_setting_length(m);
    if (config_setting_type(m) == CONFIG_TYPE_GROUP) {
        vr_cfg_error(cfg, key, "expected a value or a list of values, found a group {...}");
        return -EINVAL;
    }
    return 1; /* a single scalar is a list of one */
}

/* The idx-th element of a list key, or the scalar itself for idx 0. */
static config_setting_t *element(const struct vr_cfg *cfg, const char *key, int idx)
{
    config_setting_t *m = lookup(cfg, key);
    if (m == NULL)
        return NULL;
    if (is_list(m))
        return config_setting_get_elem(m, (unsigned)idx);
    return idx == 0 ? m : NULL;
}

int vr_cfg_list_int(const struct vr_cfg *cfg, const char *key, int idx, int64_t *out)
{
    config_setting_t *e = element(cfg, key, idx);
    if (e == NULL)
        return -ENOENT;
    if (!is_int(e)) {
        vr_cfg_error(cfg, key, "element %d: expected an integer, found %s", idx + 1, type_name(e));
        return -EINVAL;
    }
    *out = config_setting_get_int64(e);
    return 0;
}

int vr_cfg_list_string(const struct vr_cfg *cfg, const char *key, int idx, const char **out)
{
    config_setting_t *e = element(cfg, key, idx);
    if (e == NULL)
        return -ENOENT;
    if (config_setting_type(e) != CONFIG_TYPE_STRING) {
        vr_cfg_error(cfg, key, "element %d: expected a string, found %s", idx + 1, type_name(e));
        return -EINVAL;
    }
    *out = config_setting_get_string(e);
    return 0;
}

static const struct vr_cfg *sub_view(const struct vr_cfg *ccfg, config_setting_t *g, const char *what)
{
    struct vr_cfg *cfg = mut(ccfg);
    for (size_t i = 0; i < cfg->n_subs; i++)
        if (cfg->subs[i]->s == g)
            return cfg->subs[i];
    struct vr_cfg *sub = vr_cfg_new(g, what, cfg->root);
    if (sub == NULL)
        return NULL;
    size_t n = cfg->n_subs;
    struct vr_cfg **arr = push(cfg->subs, &n, sizeof(*arr));
    if (arr == NULL) {
        vr_cfg_free(sub);
        return NULL;
    }
    arr[n - 1] = sub;
    cfg->subs = arr;
    cfg->n_subs = n;
    return sub;
}

const struct vr_cfg *vr_cfg_group(const struct vr_cfg *cfg, const char *key)
{
    config_setting_t *m = lookup(cfg, key);
    if (m == NULL)
        return NULL;
    if (config_setting_type(m) != CONFIG_TYPE_GROUP) {
        vr_cfg_error(cfg, key, "expected a group { key = value; ... }, found %s", type_name(m));
        return NULL;
    }
    char what[256];
    snprintf(what, sizeof(what), "%s%s%s", cfg->what, cfg->what[0] ? ": " : "", key);
    return sub_view(cfg, m, what);
}

const struct vr_cfg *vr_cfg_list_group(const struct vr_cfg *cfg, const char *key, int idx)
{
    config_setting_t *e = element(cfg, key, idx);
    if (e == NULL)
        return NULL;
    if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
        vr_cfg_error(cfg, key, "element %d: expected a group { ... }, found %s", idx + 1, type_name(e));
        return NULL;
    }
    char what[256];
    snprintf(what, sizeof(what), "%s%s%s[%d]", cfg->what, cfg->what[0] ? ": " : "", key, idx + 1);
    return sub_view(cfg, e, what);
}

const char *vr_cfg_path(const struct vr_cfg *ccfg, const char *path)
{
    struct vr_cfg *cfg = mut(ccfg);
    char *abs = NULL;
    if (path[0] == '/' || cfg->root->dir == NULL)
        abs = strdup(path);
    else if (asprintf(&abs, "%s/%s", cfg->root->dir, path) < 0)
        abs = NULL;
    if (abs == NULL)
        return path;
    size_t n = cfg->n_strings;
    char **arr = push(cfg->strings, &n, sizeof(char *));
    if (arr == NULL) {
        free(abs);
        return path;
    }
    arr[n - 1] = abs;
    cfg->strings = arr;
    cfg->n_strings = n;
    return abs;
}

int vr_cfg_check_unknown(const struct vr_cfg *cfg)
{
    int unknown = 0;
    for (int i = 0; i < cfg->n_children; i++) {
        if (cfg->used[i])
            continue;
        config_setting_t *m = config_setting_get_elem(cfg->s, (unsigned)i);
        const char *name = config_setting_name(m);
        char known[512] = "";
        size_t off = 0;
        for (size_t k = 0; k < cfg->n_asked && off < sizeof(known) - 1; k++) {
            int w = snprintf(known + off, sizeof(known) - off, "%s%s", k ? ", " : "", cfg->asked[k]);
            if (w < 0)
                break;
            off += (size_t)w;
        }
        vr_errors_at(cfg->root->errs, file_of(cfg, m), (int)config_setting_source_line(m),
                     "%s%sunknown key '%s' (known keys here: %s)", cfg->what, cfg->what[0] ? ": " : "",
                     name ? name : "?",
                     known[0] ? known : "none");
        unknown++;
    }
    for (size_t i = 0; i < cfg->n_subs; i++)
        unknown += vr_cfg_check_unknown(cfg->subs[i]);
    return unknown;
}
