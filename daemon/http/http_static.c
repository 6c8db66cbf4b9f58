/* http_static.c -- the page's files, compiled in from www/ (daemon/http/CMakeLists.txt). */
#include "http_int.h"

#include <string.h>

struct http_www_file {
    const char *path, *type;
    const unsigned char *data;
    size_t len;
};
extern const struct http_www_file http_www_files[];

int http_static_find(const char *path, const char **type, const char **data, size_t *len)
{
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    for (const struct http_www_file *f = http_www_files; f->path; f++)
        if (strcmp(f->path, path) == 0) {
            *type = f->type;
            *data = (const char *)f->data;
            *len = f->len;
            return 1;
        }
    return 0;
}
