/* fuzz_safetensors.c -- libFuzzer target for safetensors_open(): any bytes
 * must be rejected with an error or give tensors that lie inside the file
 * (every one is converted to fp32 to prove it).  Seeds:
 * tests/data/bad/safetensors/ and the fixtures under tests/data/wan/. */
#include "safetensors.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The reader takes a path (it mmaps): give it an in-memory file. */
    int fd = memfd_create("fuzz_safetensors", 0);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct safetensors *st = NULL;
    struct df_err err = {0};
    if (safetensors_open(path, &st, &err) == 0) {
        for (int i = 0; i < safetensors_count(st); i++) {
            const struct safetensors_tensor *t = safetensors_at(st, i);
            if (t->numel > (1 << 20))
                continue;
            float *buf = malloc(((size_t)t->numel + 1) * sizeof *buf);
            if (buf)
                (void)safetensors_to_f32(t, buf, (size_t)t->numel, &err);
            free(buf);
            (void)safetensors_find(st, t->name);
        }
        safetensors_close(st);
    }
    close(fd);
    return 0;
}
