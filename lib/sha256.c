/* sha256.c -- SHA-256 per FIPS 180-4 section 6.2 (see sha256.h). */
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* First 32 bits of the fractional parts of the cube roots of the first 64 primes. */
static const uint32_t k_round[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* One 64-byte block into the state (the compression function). */
static void compress(uint32_t state[8], const uint8_t *blk)
{
    uint32_t w[64];
    for (int t = 0; t < 16; t++)
        w[t] = load_be32(blk + 4 * t);
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (int t = 0; t < 64; t++) {
        uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) +
                      k_round[t] + w[t];
        uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
}

void sha256_init(struct sha256 *h)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(h->state, iv, sizeof(iv));
    h->n_bytes = 0;
    h->n_block = 0;
}

void sha256_update(struct sha256 *h, const void *data, size_t n)
{
    const uint8_t *p = data;
    h->n_bytes += n;
    if (h->n_block > 0) {
        size_t take = 64 - h->n_block < n ? 64 - h->n_block : n;
        memcpy(h->block + h->n_block, p, take);
        h->n_block += take;
        p += take;
        n -= take;
        if (h->n_block < 64)
            return;
        compress(h->state, h->block);
        h->n_block = 0;
    }
    for (; n >= 64; p += 64, n -= 64)
        compress(h->state, p);
    if (n > 0)
        memcpy(h->block, p, n);
    h->n_block = n;
}

void sha256_final(struct sha256 *h, uint8_t out[SHA256_DIGEST_LEN])
{
    uint64_t bits = h->n_bytes * 8;
    /* Padding: 0x80, zeros up to 56 mod 64, then the 64-bit big-endian bit length. */
    h->block[h->n_block++] = 0x80;
    if (h->n_block > 56) {
        memset(h->block + h->n_block, 0, 64 - h->n_block);
        compress(h->state, h->block);
        h->n_block = 0;
    }
    memset(h->block + h->n_block, 0, 56 - h->n_block);
    store_be32(h->block + 56, (uint32_t)(bits >> 32));
    store_be32(h->block + 60, (uint32_t)bits);
    compress(h->state, h->block);
    for (int i = 0; i < 8; i++)
        store_be32(out + 4 * i, h->state[i]);
}

void sha256_hex(const uint8_t digest[SHA256_DIGEST_LEN], char out[SHA256_HEX_LEN + 1])
{
    static const char k_hex[] = "0123456789abcdef";
    for (int i = 0; i < SHA256_DIGEST_LEN; i++) {
        out[2 * i] = k_hex[digest[i] >> 4];
        out[2 * i + 1] = k_hex[digest[i] & 15];
    }
    out[SHA256_HEX_LEN] = '\0';
}

int sha256_update_file(struct sha256 *h, const char *path, uint64_t *n_bytes, struct df_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return df_err_errno(err, DF_E_IO, "checksum: open '%s'", path);
    uint8_t buf[1 << 16];
    uint64_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int rc = df_err_errno(err, DF_E_IO, "checksum: read '%s'", path);
            close(fd);
            return rc;
        }
        if (n == 0)
            break;
        sha256_update(h, buf, (size_t)n);
        total += (uint64_t)n;
    }
    close(fd);
    if (n_bytes)
        *n_bytes = total;
    return 0;
}
