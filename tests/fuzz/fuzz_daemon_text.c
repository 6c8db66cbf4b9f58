/*
 * fuzz_daemon_text.c -- libFuzzer target for the text the daemon reads from
 * other programs: the first byte picks the reader, the rest is its input.
 *   0: squeue/sinfo answers (slurmq_parse), with exit status 0 and 1;
 *   1: a worker's progress.json (progress_file_parse);
 *   2: sbatch's answer (jobspec_submit_parse);
 *   3: a config line set (config_set on "key value" lines, no file).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "jobspec.h"
#include "progress_file.h"
#include "slurmq.h"

static void config_lines(char *text)
{
    struct config c;
    config_defaults(&c);
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *val = line + strcspn(line, " ");
        if (*val)
            *val++ = '\0';
        config_set(&c, line, val, NULL);
    }
    if (c.tick_ms < 10 || c.tick_ms > 10000)
        abort(); /* bounds must hold whatever was set */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20))
        return 0;
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    struct df_err err = {0};
    switch (data[0] % 4) {
    case 0: {
        struct slurmq_item *items = NULL;
        size_t n = 0;
        char *copy = strdup(text);
        if (slurmq_parse(SLURMQ_NODES_CMD, 0, text, &items, &n, &err) == 0 && n)
            (void)slurmq_lookup(items, n, items[n - 1].name);
        free(items);
        if (slurmq_parse(SLURMQ_JOBS_CMD, 1, copy, &items, &n, &err) == 0)
            abort(); /* a failed command never yields items */
        free(copy);
        break;
    }
    case 1: {
        struct progress_file p;
        if (progress_file_parse("progress.json", (const char *)data + 1, size - 1, &p, &err) ==
                0 &&
            (p.step > p.steps || p.steps < 0))
            abort();
        break;
    }
    case 2: {
        char id[32];
        if (jobspec_submit_parse("job.sbatch", 0, 0, text, id, sizeof(id), &err) == 0 && !id[0])
            abort();
        break;
    }
    default:
        config_lines(text);
        break;
    }
    free(text);
    return 0;
}
