/* hmac.c -- HMAC-SHA256 (see hmac.h). */
#include "hmac.h"

#include <string.h>

#define BLOCK 64 /* SHA-256 block size: the HMAC key is padded to it */

void hmac_sha256_init(struct hmac_sha256 *h, const void *key, size_t key_len)
{
    uint8_t k[BLOCK] = {0}, pad[BLOCK];
    if (key_len > BLOCK) {
        struct sha256 kh;
        sha256_init(&kh);
        sha256_update(&kh, key, key_len);
        sha256_final(&kh, k);
    } else if (key_len) {
        memcpy(k, key, key_len);
    }
    for (int i = 0; i < BLOCK; i++)
        pad[i] = k[i] ^ 0x36;
    sha256_init(&h->inner);
    sha256_update(&h->inner, pad, BLOCK);
    for (int i = 0; i < BLOCK; i++)
        pad[i] = k[i] ^ 0x5c;
    sha256_init(&h->outer);
    sha256_update(&h->outer, pad, BLOCK);
    memset(k, 0, sizeof(k));
    memset(pad, 0, sizeof(pad));
}

void hmac_sha256_update(struct hmac_sha256 *h, const void *data, size_t n)
{
    sha256_update(&h->inner, data, n);
}

void hmac_sha256_final(struct hmac_sha256 *h, uint8_t out[SHA256_DIGEST_LEN])
{
    uint8_t in[SHA256_DIGEST_LEN];
    sha256_final(&h->inner, in);
    sha256_update(&h->outer, in, sizeof(in));
    sha256_final(&h->outer, out);
}

void hmac_sha256(const void *key, size_t key_len, const void *data, size_t n,
                 uint8_t out[SHA256_DIGEST_LEN])
{
    struct hmac_sha256 h;
    hmac_sha256_init(&h, key, key_len);
    hmac_sha256_update(&h, data, n);
    hmac_sha256_final(&h, out);
}

int hmac_equal(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *x = a, *y = b;
    uint8_t diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= x[i] ^ y[i];
    return diff == 0;
}
