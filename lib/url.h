/*
 * url.h -- webhook URLs: the one parser that decides what a `notify:` entry
 * may be (checked when the manifest loads, again before each POST), and the
 * redaction used wherever a URL reaches a log line.
 *
 * Accepted: http:// or https://, an optional user:password@, a host name
 * ([A-Za-z0-9.-]) or an IP literal (IPv6 in brackets), an optional port
 * 1..65535, then path, query and fragment; at most URL_MAX_LEN bytes, no
 * blanks, no control characters, nothing outside printable ASCII.
 *
 *     struct url_parts u;
 *     if (url_parse(s, &u, &err) < 0) ... "webhook 'file:///x': only http:// and https://" ...
 *     char shown[URL_MAX_LEN];
 *     url_redact(s, shown, sizeof(shown));   // "https://" "***@hooks.example/p?***"
 */
#ifndef DF_URL_H
#define DF_URL_H

#include "err.h"

#include <stddef.h>

#define URL_MAX_LEN 2048

struct url_parts {
    int https;      /* 1 for https, 0 for http */
    char host[256]; /* host name or IP literal (without brackets) */
    int port;       /* explicit, else 80 / 443 */
    int userinfo;   /* 1 when the URL carries user[:password]@ */
};

/* Parse and check a webhook URL.  Returns 0, or DF_E_INVAL saying what is
 * wrong (the URL is shown redacted). */
int url_parse(const char *url, struct url_parts *out, struct df_err *err);

/* url with credentials, query and fragment replaced by "***" (cut to cap). */
void url_redact(const char *url, char *dst, size_t cap);

#endif /* DF_URL_H */
