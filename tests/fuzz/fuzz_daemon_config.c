/*
 * fuzz_daemon_config.c -- libFuzzer target for the daemon's config file
 * (daemon/config.c: config_load_file: comments, keys, values, bounds).  A
 * loaded config keeps every bound and writes back out (config_write).
 * Seeds: tests/fuzz/corpus/daemon_config, configs/ditfarmd.conf.
 */
#include "fuzz_util.h"

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    char path[300];
    fuzz_path(path, sizeof path, "ditfarmd.conf");
    fuzz_write(path, data, size);
    struct config c;
    config_defaults(&c);
    struct df_err err = {0};
    if (config_load_file(&c, path, &err) == 0) {
        if (c.tick_ms < 10 || c.tick_ms > 10000)
            abort();
        FILE *devnull = fopen("/dev/null", "w");
        if (!devnull)
            abort();
        (void)config_write(&c, devnull, &err);
        fclose(devnull);
    }
    return 0;
}
