/*
 * log.h -- leveled, timestamped log lines for the programs (CLI, daemon, worker).
 *
 * A logger is a plain struct owned by main() and passed down; there is no
 * process-wide logger.  Library modules do not log: they return df_err.
 * The level comes from DITFARM_LOG (error|warn|info|debug), default info.
 *
 *     struct df_log log;
 *     df_log_init(&log, "worker", stderr);
 *     df_log_set_rank(&log, rank);
 *     DF_INFO(&log, "step %d/%d", i, n);
 *
 * Each line: "2026-11-23T13:01:59.123Z INFO worker[host r3] file.c:42 message".
 */
#ifndef DF_LOG_H
#define DF_LOG_H

#include <stdio.h>

enum df_log_level {
    DF_LOG_LEVEL_ERROR,
    DF_LOG_LEVEL_WARN,
    DF_LOG_LEVEL_INFO,
    DF_LOG_LEVEL_DEBUG,
    DF_LOG_LEVEL_COUNT
};

struct df_log {
    enum df_log_level level; /* lines above this level are dropped */
    FILE *out;               /* where lines go; not owned */
    char prog[32];           /* "ditfarm", "ditfarmd", "worker" */
    char host[64];           /* short host name */
    int rank;                /* worker rank, -1 when not a rank */
};

const char *df_log_level_name(enum df_log_level level);
/* Parse "error|warn|info|debug"; returns 0 or DF_E_INVAL. */
int df_log_level_from_name(const char *name, enum df_log_level *out);

/* Fill `log` for program `prog`; reads DITFARM_LOG.  Never fails: an unknown
 * level in DITFARM_LOG falls back to info and says so once on `out`. */
void df_log_init(struct df_log *log, const char *prog, FILE *out);
void df_log_set_rank(struct df_log *log, int rank);

void df_log_write(const struct df_log *log, enum df_log_level level, const char *file, int line,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define DF_LOG_(log, lvl, ...) df_log_write((log), (lvl), __FILE__, __LINE__, __VA_ARGS__)
#define DF_ERROR(log, ...) DF_LOG_(log, DF_LOG_LEVEL_ERROR, __VA_ARGS__)
#define DF_WARN(log, ...) DF_LOG_(log, DF_LOG_LEVEL_WARN, __VA_ARGS__)
#define DF_INFO(log, ...) DF_LOG_(log, DF_LOG_LEVEL_INFO, __VA_ARGS__)
#define DF_DEBUG(log, ...) DF_LOG_(log, DF_LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif /* DF_LOG_H */
