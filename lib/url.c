/* url.c -- webhook URL checks and redaction (see url.h). */
#include "url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static size_t scheme_len(const char *u)
{
    if (strncasecmp(u, "http://", 7) == 0)
        return 7;
    if (strncasecmp(u, "https://", 8) == 0)
        return 8;
    return 0;
}

void url_redact(const char *url, char *dst, size_t cap)
{
    if (!cap)
        return;
    size_t s = scheme_len(url);
    if (!s) { /* not a URL we send to: show only its scheme */
        size_t n = strcspn(url, ":/?#@");
        snprintf(dst, cap, "%.*s%s***", (int)(n > 16 ? 16 : n), url,
                 strncmp(url + n, "://", 3) == 0 ? "://" : "");
        return;
    }
    const char *auth = url + s;
    size_t alen = strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < auth + alen; p++)
        if (*p == '@')
            at = p;
    const char *host = at ? at + 1 : auth;
    const char *rest = auth + alen;
    size_t plen = strcspn(rest, "?#");
    snprintf(dst, cap, "%.*s%s%.*s%.*s%s", (int)s, url, at ? "***@" : "",
             (int)(auth + alen - host), host, (int)plen, rest, rest[plen] ? "?***" : "");
}

static int bad(struct df_err *err, const char *url, const char *why)
{
    char shown[256];
    url_redact(url, shown, sizeof(shown));
    /* the redaction keeps only printable text of a URL we accept the form of */
    for (char *c = shown; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
            *c = '?';
    return df_err_set(err, DF_E_INVAL, "webhook '%s': %s", shown, why);
}

static int host_ok(const char *h, size_t n, int bracketed)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-' || (bracketed && (c == ':' || c == '%'));
        if (!ok)
            return 0;
    }
    return 1;
}

int url_parse(const char *url, struct url_parts *out, struct df_err *err)
{
    memset(out, 0, sizeof(*out));
    size_t len = strlen(url);
    if (len > URL_MAX_LEN)
        return bad(err, url, "longer than 2048 bytes");
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= ' ' || *p >= 0x7f)
            return bad(err, url, "holds a blank, a control or a non-ASCII character");
    size_t s = scheme_len(url);
    if (!s)
        return bad(err, url, "only http:// and https:// URLs are allowed");
    out->https = s == 8;
    const char *auth = url + s;
    size_t alen = strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < auth + alen; p++)
        if (*p == '@')
            at = p;
    out->userinfo = at != NULL;
    const char *h = at ? at + 1 : auth, *end = auth + alen;
    const char *port = NULL;
    if (*h == '[') {
        const char *close = memchr(h, ']', (size_t)(end - h));
        if (!close || !host_ok(h + 1, (size_t)(close - h - 1), 1))
            return bad(err, url, "bad IPv6 address");
        snprintf(out->host, sizeof(out->host), "%.*s", (int)(close - h - 1), h + 1);
        if (close + 1 < end && close[1] != ':')
            return bad(err, url, "bad host");
        port = close + 1 < end ? close + 2 : NULL;
    } else {
        const char *colon = memchr(h, ':', (size_t)(end - h));
        size_t hn = (size_t)((colon ? colon : end) - h);
        if (hn >= sizeof(out->host) || !host_ok(h, hn, 0))
            return bad(err, url, "no host, or a host name with characters outside [A-Za-z0-9.-]");
        snprintf(out->host, sizeof(out->host), "%.*s", (int)hn, h);
        port = colon ? colon + 1 : NULL;
    }
    out->port = out->https ? 443 : 80;
    if (port) {
        char digits[8];
        size_t pn = (size_t)(end - port);
        if (pn == 0 || pn > 5 || strspn(port, "0123456789") < pn)
            return bad(err, url, "bad port");
        snprintf(digits, sizeof(digits), "%.*s", (int)pn, port);
        out->port = atoi(digits);
        if (out->port < 1 || out->port > 65535)
            return bad(err, url, "port out of range 1..65535");
    }
    return 0;
}
