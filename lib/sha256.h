/*
 * sha256.h -- SHA-256 (FIPS 180-4), streaming, for output checksums that users
 * can check with `sha256sum`.  Our own small implementation: the project wants
 * no OpenSSL dependency for one hash.
 *
 *     struct sha256 h;
 *     sha256_init(&h);
 *     sha256_update(&h, buf, n);          // any number of times
 *     uint8_t d[SHA256_DIGEST_LEN];
 *     sha256_final(&h, d);
 *     char hex[SHA256_HEX_LEN + 1];
 *     sha256_hex(d, hex);
 *
 * sha256_file() hashes a whole file, reading it in blocks.
 */
#ifndef DF_SHA256_H
#define DF_SHA256_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_HEX_LEN 64

struct sha256 {
    uint32_t state[8]; /* running hash H0..H7 */
    uint64_t n_bytes;  /* message length so far */
    uint8_t block[64]; /* pending partial block */
    size_t n_block;    /* bytes used in `block` */
};

/* Start a new hash. */
void sha256_init(struct sha256 *h);
/* Feed `n` bytes (n may be 0, data may then be NULL). */
void sha256_update(struct sha256 *h, const void *data, size_t n);
/* Finish and write the 32-byte digest; `h` must be re-initialised to reuse it. */
void sha256_final(struct sha256 *h, uint8_t out[SHA256_DIGEST_LEN]);
/* Lower-case hex of a digest into out[65] (NUL-terminated). */
void sha256_hex(const uint8_t digest[SHA256_DIGEST_LEN], char out[SHA256_HEX_LEN + 1]);

/* Feed the whole content of `path` into `h` (not initialised or finished here,
 * so several files can go into one hash).  Returns 0, or DF_E_IO naming the
 * path and the errno text.  *n_bytes (may be NULL) gets the file size. */
int sha256_update_file(struct sha256 *h, const char *path, uint64_t *n_bytes, struct df_err *err);

#endif /* DF_SHA256_H */
