/* main_daemon.c -- `ditfarmd`: the controller daemon (daemon.h, loop.c). */
#include "config.h"
#include "ctl.h"
#include "daemon.h"
#include "df_version.h"
#include "log.h"

#include <curl/curl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The one piece of process-wide state: what the signal handler may touch. */
static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: ditfarmd [--state-dir DIR] [--config FILE] [--set KEY=VALUE]...\n"
                 "                [--print-config] [--help] [--version]\n\n"
                 "The ditfarm controller daemon: accepts manifests from `ditfarm submit`, submits\n"
                 "their shots to Slurm when their dependencies are done, follows the jobs,\n"
                 "resubmits a shot whose job ended unfinished with a checkpoint, retries sbatch\n"
                 "while Slurm is unreachable, and sends webhooks.  Runs in the foreground and\n"
                 "logs to stderr; SIGTERM/SIGINT stop it cleanly.\n\n"
                 "  --state-dir DIR   store, control socket and job directories (default\n"
                 "                    $DITFARM_STATE_DIR, else ~/.local/state/ditfarm)\n"
                 "  --config FILE     directives (see configs/ditfarmd.conf)\n"
                 "  --set KEY=VALUE   one directive, after the file\n"
                 "  --print-config    print the configuration in effect and exit\n");
}

int main(int argc, char **argv)
{
    struct df_log log;
    df_log_init(&log, "ditfarmd", stderr);
    struct config cfg;
    config_defaults(&cfg);
    struct df_err err = {0};
    enum { O_STATE = 256, O_CONFIG, O_SET, O_PRINT, O_HELP, O_VERSION };
    static const struct option longs[] = {
        {"state-dir", required_argument, 0, O_STATE},
        {"config", required_argument, 0, O_CONFIG},
        {"set", required_argument, 0, O_SET},
        {"print-config", no_argument, 0, O_PRINT},
        {"help", no_argument, 0, O_HELP},
        {"version", no_argument, 0, O_VERSION},
        {0, 0, 0, 0},
    };
    const char *state_dir = NULL, *sets[64];
    int n_sets = 0, print = 0, ch;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (ch) {
        case O_STATE:
            state_dir = optarg;
            break;
        case O_CONFIG:
            if (config_load_file(&cfg, optarg, &err) < 0) {
                fprintf(stderr, "ditfarmd: %s\n", err.msg);
                return 2;
            }
            break;
        case O_SET:
            if (n_sets == 64) {
                fprintf(stderr, "ditfarmd: too many --set options\n");
                return 2;
            }
            sets[n_sets++] = optarg;
            break;
        case O_PRINT:
            print = 1;
            break;
        case 'h':
        case O_HELP:
            usage(stdout);
            return 0;
        case O_VERSION:
            printf("ditfarmd %s\n", DITFARM_VERSION);
            return 0;
        default:
            fprintf(stderr, "ditfarmd: try --help\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ditfarmd: unexpected argument '%s' (try --help)\n", argv[optind]);
        return 2;
    }
    for (int i = 0; i < n_sets; i++) {
        char key[128];
        const char *eq = strchr(sets[i], '=');
        if (!eq || (size_t)(eq - sets[i]) >= sizeof(key)) {
            fprintf(stderr, "ditfarmd: --set wants KEY=VALUE, got '%s'\n", sets[i]);
            return 2;
        }
        snprintf(key, sizeof(key), "%.*s", (int)(eq - sets[i]), sets[i]);
        if (config_set(&cfg, key, eq + 1, &err) < 0) {
            fprintf(stderr, "ditfarmd: --set: %s\n", err.msg);
            return 2;
        }
    }
    char dir[PATH_MAX];
    if (ctl_state_dir(state_dir ? state_dir : cfg.state_dir, dir, sizeof(dir), &err) < 0) {
        fprintf(stderr, "ditfarmd: %s\n", err.msg);
        return 2;
    }
    snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s", dir);
    if (print)
        return config_write(&cfg, stdout, &err) < 0 ? 1 : 0;

    /* everything the daemon creates is private to its user: the store holds
     * prompts and webhook URLs (docs/security.md) */
    umask(077);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client that hangs up must not kill the daemon */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct daemon d;
    if (daemon_open(&d, &cfg, &log, &err) < 0) {
        DF_ERROR(&log, "%s", err.msg);
        curl_global_cleanup();
        return 1;
    }
    DF_INFO(&log, "ditfarmd %s started (pid %d)", DITFARM_VERSION, (int)getpid());
    daemon_run(&d, &stop_flag);
    daemon_close(&d);
    curl_global_cleanup();
    return 0;
}
