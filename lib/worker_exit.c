/* worker_exit.c -- names of the worker exit codes (see worker_exit.h). */
#include "worker_exit.h"

#include <stdio.h>

static const char *const k_names[] = {"done", "failed", "usage", "checkpointed", "retry"};
_Static_assert(sizeof(k_names) / sizeof(k_names[0]) == WORKER_EXIT_COUNT,
               "every worker exit code needs a name");

const char *worker_exit_name(int code)
{
    return code >= 0 && code < WORKER_EXIT_COUNT ? k_names[code] : "unknown";
}

int worker_done_path(const char *ckpt_dir, const char *shot, char *dst, unsigned long cap)
{
    int n = snprintf(dst, cap, "%s/%s" WORKER_DONE_SUFFIX, ckpt_dir, shot);
    return n >= 0 && (unsigned long)n < cap ? 0 : -1;
}
