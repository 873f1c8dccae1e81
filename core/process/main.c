/* vrouterd: transparent-proxy router daemon.
 *   vrouterd -f FILE            run in the foreground (stderr log, -s: syslog)
 *   vrouterd -t -f FILE         check the config, print FILE:LINE errors, exit 0/1
 *   vrouterd -f FILE --explain "[tcp|udp] [PROTOCOL] [DOMAIN] DST:PORT [from SRC:PORT] [inbound TAG]"
 *   vrouterd -f FILE --plan     print what the installers would change
 */
#include <event2/event.h>
#include <errno.h>
#include <getopt.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vr_process.h"
#include "vr_explain.h"
#include "vr_generation.h"
#include "vr_log.h"
#include "vr_secrets.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: vrouterd -f FILE [-s] [-d]\n"
            "       vrouterd -t -f FILE\n"
            "       vrouterd -f FILE --explain \"[tcp|udp] [PROTOCOL] [DOMAIN] DST:PORT [from SRC:PORT] [inbound TAG]\"\n"
            "       vrouterd -f FILE --explain \"query NAME [TYPE] [from IP]\"   (the dns rules)\n"
            "       vrouterd -f FILE --plan\n"
            "       vrouterd -f FILE --check [--fix]   (what the host lacks for this config; runs vrouter-check)\n"
            "  -f FILE   config file (libconfig syntax)\n"
            "  -t        check the config (loads modules, creates every instance) and exit\n"
            "  -s        log to syslog instead of stderr\n"
            "  -d        debug logging (overrides daemon.log_level)\n"
            "  -w N      run N workers (event loop threads; overrides daemon.workers)\n"
            "  -V        print the version and plugin ABI\n"
            "signals: SIGHUP reloads, SIGTERM/SIGINT drain and exit, SIGUSR1 logs statistics\n");
}

static void print_plan_line(void *arg, const char *line)
{
    (void)arg;
    printf("%s\n", line);
}

/* Builds the generation without starting anything; prints errors. */
static struct vr_generation *check(const char *path, struct event_base *base)
{
    struct vr_errors errs = {0};
    struct vr_generation *g = vr_generation_build(path, base, 1, &errs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.msgs[i]);
    vr_errors_clear(&errs);
    return g;
}

int main(int argc, char **argv)
{
    const char *path = NULL, *explain = NULL;
    bool test = false, plan = false, debug = false, host_check = false, fix = false;
    unsigned workers = 0;
    static const struct option opts[] = {
        {"explain", required_argument, NULL, 'e'},
        {"plan", no_argument, NULL, 'p'},
        {"check", no_argument, NULL, 'c'},
        {"fix", no_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "f:tsdw:Vh", opts, NULL)) != -1) {
        switch (ch) {
        case 'f': path = optarg; break;
        case 't': test = true; break;
        case 's': vr_log_use_syslog(true); break;
        case 'd': debug = true; break;
        case 'w': {
            char *end;
            unsigned long n = strtoul(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || n < 1 || n > VR_MAX_WORKERS) {
                fprintf(stderr, "vrouterd: -w %s: expected a number of workers from 1 to %d\n", optarg, VR_MAX_WORKERS);
                return 2;
            }
            workers = (unsigned)n;
            break;
        }
        case 'e': explain = optarg; break;
        case 'p': plan = true; break;
        case 'c': host_check = true; break;
        case 'x': fix = true; break;
        case 'V':
            printf("vrouterd %s, plugin ABI %d.%d\n", VR_VERSION, VR_ABI_MAJOR, VR_ABI_MINOR);
            return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (path == NULL || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (debug)
        vr_log_level = VR_LOG_DEBUG;
    if (host_check) {
        /* The host check is its own tool; run the installed one (or the one
         * next to a build tree's daemon). */
        char *args[] = {"vrouter-check", "-f", (char *)path, fix ? "--fix" : NULL, NULL};
        execv(VR_BINDIR "/vrouter-check", args);
        execvp("vrouter-check", args);
        fprintf(stderr, "vrouterd --check: cannot run vrouter-check (%s/vrouter-check or PATH): %s\n", VR_BINDIR,
                strerror(errno));
        return 2;
    }
    if (!(test || explain || plan))
        return vr_process_run(path, workers);

    int status = 1;
    struct event_base *base = event_base_new();
    struct vr_generation *g = base ? check(path, base) : NULL;
    if (g) {
        if (test) {
            vr_secrets_warn_readable(g->cfg);
            printf("%s: configuration OK (%zu listeners, %zu outbounds, %zu rules, %zu installers)\n", path,
                   g->cfg->n_listeners, g->cfg->n_outbounds, g->cfg->rules.n, g->cfg->n_installers);
            status = 0;
        } else if (explain) {
            status = vr_explain(g, explain, stdout, stderr) == 0 ? 0 : 1;
        } else {
            status = 0;
            for (size_t i = 0; i < g->cfg->n_installers; i++) {
                struct vr_instance *inst = g->installers[i];
                const struct vr_installer_ops *ops = vr_instance_installer(inst);
                printf("# installer %s\n", inst->tag);
                if (ops->plan == NULL)
                    printf("# (module %s cannot describe its changes)\n", inst->module->name);
                else if (ops->plan(inst->state, NULL, print_plan_line, NULL) < 0)
                    status = 1;
            }
        }
        vr_generation_unref(g);
        vr_generation_release_all();
    }
    if (base)
        event_base_free(base);
    return status;
}
