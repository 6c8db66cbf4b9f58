/* main_worker.c -- `ditfarm-worker`: one rank of a shot's render, plus the
 * hidden helper subcommands the tests use.  The table below names them; each
 * lives in worker/cmd_<name>.c. */
#include "df_version.h"
#include "kern_build.h"
#include "log.h"
#include "render_cmd.h"
#include "worker_cmd.h"
#include "worker_exit.h"

#include <libavutil/log.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

/* Add a declaration and a row per subcommand (alphabetical). */
int cmd_cache_plan(int argc, char **argv, struct df_log *log);
int cmd_calibrate(int argc, char **argv, struct df_log *log);
int cmd_encode_pattern(int argc, char **argv, struct df_log *log);
int cmd_forward(int argc, char **argv, struct df_log *log);
int cmd_latent_diff(int argc, char **argv, struct df_log *log);

/* The one piece of process-wide state: set by SIGUSR1/SIGTERM so the render
 * loop checkpoints at the next step boundary (Slurm's warning before a time
 * limit, preemption, scancel). */
static volatile sig_atomic_t g_stop_requested;

static void on_stop_signal(int sig)
{
    g_stop_requested = sig;
}

static int run_render(int argc, char **argv, struct df_log *log)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return render_cmd_run(argc, argv, log, &g_stop_requested);
}
int cmd_selftest_comm(int argc, char **argv, struct df_log *log);
int cmd_make_tiny(int argc, char **argv, struct df_log *log);
int cmd_sample(int argc, char **argv, struct df_log *log);
int cmd_vae_decode(int argc, char **argv, struct df_log *log);
int cmd_encode_prompt(int argc, char **argv, struct df_log *log);
static const struct worker_cmd k_cmds[] = {
    {"cache-plan", "print a shot's step-cache decisions and predicted speed-up", cmd_cache_plan},
    {"calibrate", "fit a model's step-cache calibration for a sampler and step count",
     cmd_calibrate},
    {"encode-prompt", "prompts -> token ids and umT5/T5 prompt_embeds, as the pipeline makes them",
     cmd_encode_prompt},
    {"encode-test-pattern", "(test) encode a moving test pattern, write its sidecar",
     cmd_encode_pattern},
    {"forward", "one DiT forward (any family) on diffusers-named inputs, optional parity check",
     cmd_forward},
    {"latent-diff", "(test) relative L2 distance of two latent files", cmd_latent_diff},
    {"make-tiny", "write the demo model's synthetic weights (transformer and VAE)", cmd_make_tiny},
    {"render", "render one shot of a manifest on this rank", run_render},
    {"sample", "replay a pipeline's guided denoising loop from given tensors (any family)",
     cmd_sample},
    {"selftest-comm", "(test) run every collective on the world and the layout groups",
     cmd_selftest_comm},
    {"vae-decode", "(test) tiled VAE decode of a latent over the job's ranks", cmd_vae_decode},
    {"wan-forward", "(alias of forward)", cmd_forward},
    {NULL, NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: ditfarm-worker [--help] [--version] COMMAND [ARGS]\n\ncommands:\n");
    for (const struct worker_cmd *c = k_cmds; c->name; c++)
        fprintf(out, "  %-22s %s\n", c->name, c->summary);
}

int main(int argc, char **argv)
{
    struct df_log log;
    df_log_init(&log, "worker", stderr);
    /* libav* print through av_log; keep their chatter for DITFARM_LOG=debug. */
    av_log_set_level(log.level >= DF_LOG_LEVEL_DEBUG ? AV_LOG_INFO : AV_LOG_ERROR);
    if (argc < 2) {
        usage(stderr);
        return WORKER_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("ditfarm-worker %s (backends: %s)\n", DITFARM_VERSION, kern_build_backends());
        return WORKER_EXIT_DONE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return WORKER_EXIT_DONE;
    }
    for (const struct worker_cmd *c = k_cmds; c->name; c++)
        if (strcmp(c->name, argv[1]) == 0)
            return c->run(argc - 1, argv + 1, &log);
    fprintf(stderr, "ditfarm-worker: unknown %s '%s' (try --help)\n",
            argv[1][0] == '-' ? "option" : "command", argv[1]);
    return WORKER_EXIT_USAGE;
}
