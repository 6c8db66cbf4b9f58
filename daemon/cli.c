/* cli.c -- the subcommand table and help text of `ditfarm` (see cli.h). */
#include "cli.h"
#include "df_version.h"
#include "manifest.h"
#include "paths.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cmd_cancel(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_ckpt(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_plan(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_render(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_sbatch(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_status(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_submit(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_token(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_validate(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_version(int argc, char **argv, const struct cli_ctx *ctx);

/* Keep alphabetical: `ditfarm --help` prints them in this order. */
const struct cli_cmd cli_commands[] = {
    {"cancel", "SHOT|MANIFEST", "cancel shots in ditfarmd (scancel their jobs)", cmd_cancel},
    {"ckpt", "inspect|list|synth ...", "inspect, list or write checkpoint files", cmd_ckpt},
    {"plan", "MANIFEST|--model ... [--gpus G]", "pick each shot's cfg x ulysses x ring layout",
     cmd_plan},
    {"render", "[--local] MANIFEST [--ranks P]", "render shots on this machine, print the videos",
     cmd_render},
    {"sbatch", "MANIFEST [--submit]", "write Slurm batch jobs per shot (and submit them)",
     cmd_sbatch},
    {"status", "[--json] [--watch]", "shots in ditfarmd: state, job, progress, ETA", cmd_status},
    {"submit", "MANIFEST [--cpu-ranks P|--gpus G]", "hand a manifest to ditfarmd", cmd_submit},
    {"token", "create NAME [--read-only]|list|revoke NAME", "bearer tokens for ditfarmd's HTTP API",
     cmd_token},
    {"validate", "[--json] FILE...", "check manifests; print shots or every error", cmd_validate},
    {"version", "", "print the version and build features", cmd_version},
    {NULL, NULL, NULL, NULL},
};

const struct cli_cmd *cli_find(const char *name)
{
    for (const struct cli_cmd *c = cli_commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

void cli_print_help(FILE *out)
{
    fprintf(out,
            "ditfarm %s -- turn YAML render manifests into finished videos on Slurm GPU "
            "clusters\n\n"
            "usage: ditfarm [--help] [--version] COMMAND [ARGS]\n\ncommands:\n",
            DITFARM_VERSION);
    int width = 0;
    for (const struct cli_cmd *c = cli_commands; c->name; c++) {
        int n = (int)(strlen(c->name) + 1 + strlen(c->args));
        width = n > width ? n : width;
    }
    for (const struct cli_cmd *c = cli_commands; c->name; c++) {
        char head[128];
        snprintf(head, sizeof(head), "%s %s", c->name, c->args);
        fprintf(out, "  %-*s  %s\n", width, head, c->summary);
    }
    fprintf(out, "\n`ditfarm COMMAND --help` describes one command.  "
                 "DITFARM_LOG=debug|info|warn|error sets the log level.\n");
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "ditfarm%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(try `ditfarm%s%s --help`)\n", cmd ? " " : "", cmd ? cmd : "");
    return CLI_EXIT_USAGE;
}

int cli_load_manifest(const char *cmd, const char *path, const char *configs_opt,
                      char *configs_out, size_t cap, struct manifest **out)
{
    char configs[PATH_MAX];
    struct df_err err = {0};
    struct diag_list dl = {0};
    *out = NULL;
    int rc = paths_configs_dir(configs_opt, configs, sizeof(configs), &err);
    if (rc == 0)
        rc = manifest_load(path, configs, out, &dl, &err);
    if (rc < 0) {
        for (size_t i = 0; i < dl.count; i++) {
            char line[DIAG_LINE_CAP];
            diag_format(&dl.items[i], line, sizeof(line));
            fprintf(stderr, "%s\n", line);
        }
        fprintf(stderr, "ditfarm %s: %s\n", cmd, err.msg);
    } else if (configs_out) {
        snprintf(configs_out, cap, "%s", configs);
    }
    diag_list_clear(&dl);
    return rc < 0 ? -1 : 0;
}
