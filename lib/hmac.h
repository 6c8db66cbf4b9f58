/*
 * hmac.h -- HMAC-SHA256 (RFC 2104 over FIPS 180-4, lib/sha256.h): how ditfarmd
 * signs its webhooks so a receiver can tell them from forgeries
 * (docs/security.md has the header format and a shell check with openssl).
 *
 *     uint8_t mac[SHA256_DIGEST_LEN];
 *     struct hmac_sha256 h;
 *     hmac_sha256_init(&h, key, key_len);
 *     hmac_sha256_update(&h, "1764900000", 10);
 *     hmac_sha256_update(&h, ".", 1);
 *     hmac_sha256_update(&h, body, body_len);
 *     hmac_sha256_final(&h, mac);
 */
#ifndef DF_HMAC_H
#define DF_HMAC_H

#include "sha256.h"

#include <stddef.h>
#include <stdint.h>

struct hmac_sha256 {
    struct sha256 inner; /* H((K ^ ipad) || message...) */
    struct sha256 outer; /* H((K ^ opad) || inner digest), started at init */
};

/* Start a MAC with `key` (any length: longer than a block is hashed first). */
void hmac_sha256_init(struct hmac_sha256 *h, const void *key, size_t key_len);
/* Feed n bytes of the message. */
void hmac_sha256_update(struct hmac_sha256 *h, const void *data, size_t n);
/* Finish; h must be initialised again to reuse it. */
void hmac_sha256_final(struct hmac_sha256 *h, uint8_t out[SHA256_DIGEST_LEN]);
/* One call for a whole message. */
void hmac_sha256(const void *key, size_t key_len, const void *data, size_t n,
                 uint8_t out[SHA256_DIGEST_LEN]);

/* 1 when the two n-byte strings are equal, in time that does not depend on
 * where they differ (for checking a MAC). */
int hmac_equal(const void *a, const void *b, size_t n);

#endif /* DF_HMAC_H */
