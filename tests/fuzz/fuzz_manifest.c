/* fuzz_manifest.c -- libFuzzer target for the manifest parser: any bytes must
 * give a manifest or diagnostics, never a crash, a hang or a leak.  On success
 * the normalized JSON, the hash and the output paths are exercised too. */
#include "diag.h"
#include "manifest.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct manifest *m = NULL;
    struct diag_list dl = {0};
    struct df_err err = {0};
    /* Relative includes and files resolve against the current directory. */
    if (manifest_load_buffer("fuzz.yaml", (const char *)data, size, DITFARM_FUZZ_CONFIGS, &m, &dl,
                             &err) == 0) {
        cJSON *j = manifest_to_json(m);
        char *text = j ? cJSON_PrintUnformatted(j) : NULL;
        cJSON_free(text);
        cJSON_Delete(j);
        for (size_t i = 0; i < m->n_shots; i++) {
            char path[256];
            (void)manifest_shot_hash(&m->shots[i]);
            (void)manifest_output_path(m, &m->shots[i], "2026-01-01", path, sizeof(path), NULL);
        }
    }
    for (size_t i = 0; i < dl.count; i++) {
        char line[DIAG_LINE_CAP];
        diag_format(&dl.items[i], line, sizeof(line));
    }
    manifest_free(m);
    diag_list_clear(&dl);
    return 0;
}
