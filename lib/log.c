/* log.c -- see log.h. */
#include "log.h"
#include "err.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *const k_level_names[] = {"error", "warn", "info", "debug"};
_Static_assert(sizeof(k_level_names) / sizeof(k_level_names[0]) == DF_LOG_LEVEL_COUNT,
               "every log level needs a name");

const char *df_log_level_name(enum df_log_level level)
{
    return (unsigned)level < DF_LOG_LEVEL_COUNT ? k_level_names[level] : "?";
}

int df_log_level_from_name(const char *name, enum df_log_level *out)
{
    for (int i = 0; i < DF_LOG_LEVEL_COUNT; i++) {
        if (strcasecmp(name, k_level_names[i]) == 0) {
            *out = (enum df_log_level)i;
            return 0;
        }
    }
    return DF_E_INVAL;
}

void df_log_init(struct df_log *log, const char *prog, FILE *out)
{
    memset(log, 0, sizeof(*log));
    log->level = DF_LOG_LEVEL_INFO;
    log->out = out;
    log->rank = -1;
    snprintf(log->prog, sizeof(log->prog), "%s", prog);
    if (gethostname(log->host, sizeof(log->host)) != 0)
        snprintf(log->host, sizeof(log->host), "?");
    log->host[sizeof(log->host) - 1] = '\0';
    char *dot = strchr(log->host, '.');
    if (dot)
        *dot = '\0';
    const char *env = getenv("DITFARM_LOG");
    if (env && *env && df_log_level_from_name(env, &log->level) < 0)
        fprintf(out, "%s: DITFARM_LOG=%s is not one of error|warn|info|debug; using info\n",
                prog, env);
}

void df_log_set_rank(struct df_log *log, int rank)
{
    log->rank = rank;
}

void df_log_write(const struct df_log *log, enum df_log_level level, const char *file, int line,
                  const char *fmt, ...)
{
    if (!log || level > log->level || !log->out)
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[32];
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;

    /* Build the whole line first so concurrent ranks sharing a file do not interleave. */
    char buf[2048];
    int n;
    if (log->rank >= 0)
        n = snprintf(buf, sizeof(buf), "%s.%03dZ %-5s %s[%s r%d] %s:%d ", ts,
                     (int)(tv.tv_usec / 1000), df_log_level_name(level), log->prog, log->host,
                     log->rank, base, line);
    else
        n = snprintf(buf, sizeof(buf), "%s.%03dZ %-5s %s %s:%d ", ts, (int)(tv.tv_usec / 1000),
                     df_log_level_name(level), log->prog, base, line);
    if (n < 0 || (size_t)n >= sizeof(buf))
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m > 0 ? (size_t)m : 0);
    if (len > sizeof(buf) - 2)
        len = sizeof(buf) - 2;
    buf[len++] = '\n';
    fwrite(buf, 1, len, log->out);
    fflush(log->out);
}
