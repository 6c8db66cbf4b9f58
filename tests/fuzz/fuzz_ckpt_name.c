/*
 * fuzz_ckpt_name.c -- libFuzzer target for checkpoint file names
 * (lib/ckpt_dir.c: ckpt_name_parse, the rule deciding which directory
 * entries are checkpoints of which shot and step, and ckpt_file_name).
 * Invariants: a parsed name has a non-empty, valid shot id and a step >= 0,
 * and a final name parses back from ckpt_file_name(shot, step) to the same
 * shot and step.  Seeds: tests/fuzz/corpus/ckpt_name.
 */
#include "ckpt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char name[4097];
    memcpy(name, data, size);
    name[size] = '\0';
    char shot[CKPT_SHOT_ID_CAP];
    int64_t step = -1;
    enum ckpt_name_type t = ckpt_name_parse(name, shot, &step);
    if (t == CKPT_NAME_OTHER)
        return 0;
    if (t != CKPT_NAME_FINAL && t != CKPT_NAME_TEMP)
        abort();
    if (!shot[0] || strlen(shot) >= CKPT_SHOT_ID_CAP || step < 0)
        abort();
    char again[256], shot2[CKPT_SHOT_ID_CAP];
    int64_t step2 = -1;
    struct df_err err = {0};
    if (ckpt_file_name(shot, step, again, sizeof again, &err) == 0 &&
        (ckpt_name_parse(again, shot2, &step2) != CKPT_NAME_FINAL || strcmp(shot, shot2) != 0 ||
         step2 != step))
        abort();
    return 0;
}
