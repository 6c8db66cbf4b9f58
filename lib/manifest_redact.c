/* manifest_redact.c -- diagnostics safe to send to someone who may not read
 * the files a manifest names (see manifest.h: manifest_diags_redact). */
#include "manifest.h"

#include <stdio.h>
#include <string.h>

/* Keys whose value names a file the loader opens: a problem found there is
 * told in that file's own words (an excerpt of its text, its keys). */
static const char *const k_file_keys[] = {"model",  "prompt_embeds", "negative_prompt_embeds",
                                          "audio",  "include",       NULL};

/* The last component of a key path ("shots[3].output.audio" -> "audio"),
 * without an index ("include[1]" -> "include"). */
static void last_key(const char *path, char *dst, size_t cap)
{
    const char *dot = strrchr(path, '.');
    const char *k = dot ? dot + 1 : path;
    snprintf(dst, cap, "%.*s", (int)strcspn(k, "["), k);
}

void manifest_diags_redact(struct diag_list *dl, const char *own_file)
{
    for (size_t i = 0; dl && i < dl->count; i++) {
        struct diag *d = &dl->items[i];
        if (d->file[0] && own_file && strcmp(d->file, own_file) != 0) {
            /* found in another file (an `include:`): its text is its own */
            snprintf(d->msg, sizeof(d->msg),
                     "this file cannot be used as a manifest (its text is not repeated here)");
            d->path[0] = '\0';
            continue;
        }
        char key[64];
        last_key(d->path, key, sizeof(key));
        int file_key = 0;
        for (int k = 0; k_file_keys[k] && !file_key; k++)
            file_key = strcmp(key, k_file_keys[k]) == 0;
        if (file_key)
            snprintf(d->msg, sizeof(d->msg),
                     "the file this names cannot be used (its text is not repeated here: check "
                     "it with `ditfarm validate` where you can read it)");
    }
}
