/*
 * ident.h -- the one rule for names that become file names, Slurm job names
 * and shell words: manifest names (written or taken from the file name), shot
 * ids, partitions, accounts, QOS names, checkpoint tags.
 *
 * A valid identifier is 1..63 bytes of [A-Za-z0-9._-], not starting with '.'
 * or '-': it can never be "..", a path with '/', an option ("-x"), a hidden
 * file, or anything a shell or an #SBATCH line reads specially (no quotes,
 * '$', spaces, newlines or control characters).
 *
 *     if (ident_check("manifest name", name, &err) < 0) ... err.msg names the rule ...
 */
#ifndef DF_IDENT_H
#define DF_IDENT_H

#include "err.h"

#define IDENT_MAX_LEN 63
#define IDENT_RULE                                                                                 \
    "letters, digits, '.', '_', '-', not starting with '.' or '-'; at most 63"

/* 1 when s follows the rule, else 0 (NULL is invalid). */
int ident_valid(const char *s);

/* 0, or DF_E_INVAL "invalid WHAT 'S' (rule)" with control characters shown
 * escaped, so a hostile name cannot break the message it appears in. */
int ident_check(const char *what, const char *s, struct df_err *err);

/* Copy s into dst (cap bytes) with every byte outside printable ASCII written
 * as \xNN, cut at cap - 1: for echoing untrusted text in one log line. */
void ident_escape(const char *s, char *dst, size_t cap);

#endif /* DF_IDENT_H */
