/*
 * preview.c -- previews of the predicted clean video (see preview.h).
 */
#include "preview.h"

#include "render_int.h"

#include "clock.h"
#include "sampler.h"
#include "vae.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIT_SAMPLES 4 /* random latents of FIT_HW x FIT_HW for the fit */
#define FIT_HW 8

/* ---- PNG ---------------------------------------------------------------------- */

static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
        table[i] = c;
    }
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
    return p + 4;
}

/* One chunk: length, type, data, CRC of type + data. */
static uint8_t *chunk(uint8_t *p, const char *type, const uint8_t *data, size_t n)
{
    p = put32(p, (uint32_t)n);
    memcpy(p, type, 4);
    if (n)
        memcpy(p + 4, data, n);
    uint32_t crc = crc32_update(0, p, 4 + n);
    return put32(p + 4 + n, crc);
}

int preview_png(const uint8_t *rgb, int width, int height, uint8_t **png, size_t *len,
                struct df_err *err)
{
    /* zlib stream of stored (uncompressed) deflate blocks: the previews are
     * small, and this keeps the worker free of a zlib dependency */
    size_t raw = (size_t)height * (size_t)(1 + 3 * width);
    size_t blocks = raw / 65535 + 1;
    size_t zlen = 2 + raw + 5 * blocks + 4;
    uint8_t *z = malloc(zlen), *out = malloc(zlen + 64);
    if (!z || !out) {
        free(z);
        free(out);
        return df_err_set(err, DF_E_NOMEM, "out of memory for a %dx%d preview", width, height);
    }
    uint8_t *p = z;
    *p++ = 0x78, *p++ = 0x01; /* deflate, 32K window, no dictionary */
    uint32_t a = 1, b = 0;    /* Adler-32 of the raw scanlines */
    size_t left = raw, row = 0, col = 0;
    while (left || p == z + 2) {
        size_t n = left < 65535 ? left : 65535;
        *p++ = left == n ? 1 : 0; /* BFINAL, BTYPE 00 */
        *p++ = (uint8_t)n, *p++ = (uint8_t)(n >> 8);
        *p++ = (uint8_t)~n, *p++ = (uint8_t)(~n >> 8);
        for (size_t i = 0; i < n; i++) {
            /* scanline: filter byte 0, then the row's RGB */
            uint8_t v = col == 0 ? 0 : rgb[(row * (size_t)width) * 3 + col - 1];
            if (++col == (size_t)(1 + 3 * width))
                col = 0, row++;
            *p++ = v;
            a += v, b += a;
            if ((i & 4095) == 4095) /* well before b could overflow */
                a %= 65521, b %= 65521;
        }
        a %= 65521, b %= 65521;
        left -= n;
        if (!n)
            break;
    }
    p = put32(p, (b << 16) | a);
    uint8_t hdr[13], *o = out;
    put32(hdr, (uint32_t)width);
    put32(hdr + 4, (uint32_t)height);
    hdr[8] = 8, hdr[9] = 2, hdr[10] = hdr[11] = hdr[12] = 0; /* 8-bit RGB */
    memcpy(o, "\x89PNG\r\n\x1a\n", 8);
    o = chunk(o + 8, "IHDR", hdr, sizeof(hdr));
    o = chunk(o, "IDAT", z, (size_t)(p - z));
    o = chunk(o, "IEND", NULL, 0);
    free(z);
    *png = out;
    *len = (size_t)(o - out);
    return 0;
}

/* ---- the fit -------------------------------------------------------------------- */

struct fit_acc {
    int z_dim;
    const float *latent; /* [z_dim, 1, FIT_HW, FIT_HW], normalized */
    double xtx[PREVIEW_MAX_Z + 1][PREVIEW_MAX_Z + 1];
    double xty[PREVIEW_MAX_Z + 1][3];
};

/* The decoder's first frame: average each 8x8 block, pair it with the latent
 * pixel under it. */
static int fit_frame(void *user, int index, const float *rgb, int height, int width,
                     struct df_err *err)
{
    (void)err;
    struct fit_acc *f = user;
    if (index != 0)
        return 0;
    int sy = height / FIT_HW, sx = width / FIT_HW, n = f->z_dim + 1;
    for (int y = 0; y < FIT_HW; y++)
        for (int x = 0; x < FIT_HW; x++) {
            double v[PREVIEW_MAX_Z + 1], c[3] = {0, 0, 0};
            for (int z = 0; z < f->z_dim; z++)
                v[z] = f->latent[(size_t)z * FIT_HW * FIT_HW + (size_t)y * FIT_HW + x];
            v[f->z_dim] = 1;
            for (int k = 0; k < 3; k++) {
                for (int yy = 0; yy < sy; yy++)
                    for (int xx = 0; xx < sx; xx++)
                        c[k] += rgb[((size_t)k * height + (size_t)(y * sy + yy)) * width +
                                    (size_t)(x * sx + xx)];
                c[k] /= sy * sx;
            }
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < n; j++)
                    f->xtx[i][j] += v[i] * v[j];
                for (int k = 0; k < 3; k++)
                    f->xty[i][k] += v[i] * c[k];
            }
        }
    return 0;
}

/* Solve (XtX + ridge) B = XtY by Gauss-Jordan with partial pivoting. */
static int solve(struct fit_acc *f, struct preview_map *m, struct df_err *err)
{
    int n = f->z_dim + 1;
    for (int i = 0; i < n; i++)
        f->xtx[i][i] += 1e-3;
    for (int c = 0; c < n; c++) {
        int piv = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(f->xtx[r][c]) > fabs(f->xtx[piv][c]))
                piv = r;
        if (fabs(f->xtx[piv][c]) < 1e-12)
            return df_err_set(err, DF_E_INVAL, "preview fit: singular system");
        for (int j = 0; j < n; j++) {
            double t = f->xtx[c][j];
            f->xtx[c][j] = f->xtx[piv][j], f->xtx[piv][j] = t;
        }
        for (int k = 0; k < 3; k++) {
            double t = f->xty[c][k];
            f->xty[c][k] = f->xty[piv][k], f->xty[piv][k] = t;
        }
        for (int r = 0; r < n; r++) {
            if (r == c)
                continue;
            double q = f->xtx[r][c] / f->xtx[c][c];
            for (int j = 0; j < n; j++)
                f->xtx[r][j] -= q * f->xtx[c][j];
            for (int k = 0; k < 3; k++)
                f->xty[r][k] -= q * f->xty[c][k];
        }
    }
    memset(m, 0, sizeof(*m));
    m->z_dim = f->z_dim;
    for (int k = 0; k < 3; k++) {
        for (int z = 0; z < f->z_dim; z++)
            m->w[k][z] = (float)(f->xty[z][k] / f->xtx[z][z]);
        m->bias[k] = (float)(f->xty[f->z_dim][k] / f->xtx[f->z_dim][f->z_dim]);
    }
    return 0;
}

/* Standard normal draws from a fixed seed: the fit is the same every run. */
static float gauss(uint64_t *s)
{
    double u[2];
    for (int i = 0; i < 2; i++) {
        *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
        u[i] = ((double)(*s >> 11) + 0.5) / 9007199254740992.0;
    }
    return (float)(sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]));
}

int preview_map_fit(struct vae *vae, struct preview_map *m, struct df_err *err)
{
    int z_dim = vae_get_info(vae)->z_dim;
    DF_FAIL_IF(z_dim <= 0 || z_dim > PREVIEW_MAX_Z, err, DF_E_UNSUPPORTED,
               "preview: a VAE with %d latent channels (at most %d)", z_dim, PREVIEW_MAX_Z);
    struct fit_acc *f = calloc(1, sizeof(*f));
    size_t n = (size_t)z_dim * FIT_HW * FIT_HW;
    float *norm = malloc(n * sizeof(float)), *lat = malloc(n * sizeof(float));
    int rc = f && norm && lat ? 0 : df_err_set(err, DF_E_NOMEM, "out of memory");
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (int s = 0; rc == 0 && s < FIT_SAMPLES; s++) {
        for (size_t i = 0; i < n; i++)
            norm[i] = gauss(&seed);
        memcpy(lat, norm, n * sizeof(float));
        vae_denormalize(vae, lat, 1, FIT_HW, FIT_HW);
        f->z_dim = z_dim;
        f->latent = norm;
        rc = vae_decode(vae, lat, 1, FIT_HW, FIT_HW, fit_frame, f, err);
    }
    if (rc == 0)
        rc = solve(f, m, err);
    free(f);
    free(norm);
    free(lat);
    return rc;
}

/* ---- one preview ------------------------------------------------------------------ */

static uint8_t to_byte(float v)
{
    float x = (v + 1) * 127.5f;
    return (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x + 0.5f);
}

int preview_write(const struct preview_map *m, const struct latent_dims *d, const float *rows,
                  int64_t begin, int64_t count, float a, float b, const float *vel,
                  const char *path, struct df_err *err)
{
    DF_FAIL_IF(m->z_dim != d->C, err, DF_E_INVAL, "preview: map for %d channels, latent has %d",
               m->z_dim, d->C);
    int64_t row = latent_row_size(d), per_frame = (int64_t)(d->H / d->ph) * (d->W / d->pw);
    /* patch frames whose tokens this rank holds entirely */
    int64_t f0 = (begin + per_frame - 1) / per_frame, f1 = (begin + count) / per_frame;
    DF_FAIL_IF(f1 <= f0, err, DF_E_INVAL, "preview: tokens %lld..%lld hold no whole frame",
               (long long)begin, (long long)(begin + count));
    int frames[PREVIEW_MAX_FRAMES], nf = 0;
    int64_t have = (f1 - f0) * d->pt;
    for (int k = 0; k < PREVIEW_MAX_FRAMES && k < have; k++) {
        int64_t pick = have <= PREVIEW_MAX_FRAMES ? k : k * (have - 1) / (PREVIEW_MAX_FRAMES - 1);
        frames[nf++] = (int)(f0 * d->pt + pick);
    }
    /* x0 = a x - b v straight from this rank's token rows, only for the
     * pixels shown: latent (c, t, y, x) is column (c, t%pt, y%ph, x%pw) of
     * token (t/pt, y/ph, x/pw) (latent_shard.h) */
    int scale = d->H >= 32 ? 1 : (64 + d->H - 1) / d->H;
    int fw = d->W * scale, fh = d->H * scale, width = fw * nf;
    int gh = d->H / d->ph, gw = d->W / d->pw, kk = d->pt * d->ph * d->pw;
    uint8_t *rgb = malloc((size_t)width * fh * 3);
    DF_FAIL_IF(!rgb, err, DF_E_NOMEM, "out of memory for a preview");
    for (int k = 0; k < nf; k++)
        for (int y = 0; y < d->H; y++)
            for (int x = 0; x < d->W; x++) {
                int t = frames[k];
                int64_t tok = ((int64_t)(t / d->pt) * gh + y / d->ph) * gw + x / d->pw - begin;
                size_t base = (size_t)(tok * row) + (size_t)((t % d->pt) * d->ph * d->pw +
                                                             (y % d->ph) * d->pw + x % d->pw);
                float v[3] = {m->bias[0], m->bias[1], m->bias[2]};
                for (int ch = 0; ch < d->C; ch++) {
                    size_t i = base + (size_t)ch * kk;
                    float z = a * rows[i] - (b != 0 ? b * vel[i] : 0);
                    v[0] += m->w[0][ch] * z, v[1] += m->w[1][ch] * z, v[2] += m->w[2][ch] * z;
                }
                uint8_t px[3] = {to_byte(v[0]), to_byte(v[1]), to_byte(v[2])};
                for (int yy = 0; yy < scale; yy++)
                    for (int xx = 0; xx < scale; xx++)
                        memcpy(rgb + (((size_t)(y * scale + yy) * width) + (size_t)k * fw +
                                      (size_t)(x * scale + xx)) *
                                         3,
                               px, 3);
            }
    uint8_t *png = NULL;
    size_t len = 0;
    int rc = preview_png(rgb, width, fh, &png, &len, err);
    free(rgb);
    if (rc < 0)
        return rc;
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    rc = f && fwrite(png, 1, len, f) == len ? 0 : -1;
    if (f && fclose(f) != 0)
        rc = -1;
    free(png);
    if (rc < 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return df_err_errno(err, DF_E_IO, "cannot write %s", path);
    }
    return 0;
}

/* ---- the render's hook -------------------------------------------------------------- */

struct preview_state {
    int every;  /* steps between previews, 0: off */
    int failed; /* a problem was logged: no more previews */
    int fitted;
    struct preview_map map;
    char path[PATH_MAX]; /* <job_dir>/preview.png */
    int written;
    double t_fit, t_write; /* seconds */
};

void preview_free(struct preview_state *p)
{
    free(p);
}

/* Set up on the first call: where and how often. */
static struct preview_state *state(struct render *r)
{
    struct preview_state *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    const char *env = getenv("DITFARM_PREVIEW_EVERY");
    int steps = r->shot->steps;
    p->every = env && *env ? atoi(env) : (steps / 10 > 1 ? steps / 10 : 1);
    const char *slash = strrchr(r->progress_path, '/');
    if (p->every <= 0 || !r->progress_path[0] || !slash) {
        p->every = 0;
        return p;
    }
    snprintf(p->path, sizeof(p->path), "%.*s/preview.png", (int)(slash - r->progress_path),
             r->progress_path);
    return p;
}

/* Fit the map to the render's VAE (loaded at set-up; each decode starts
 * from clean feature caches, so the final decode is unaffected). */
static int fit(struct render *r, struct preview_state *p, struct df_err *err)
{
    char dir[PATH_MAX + 8];
    snprintf(dir, sizeof(dir), "%s/vae", r->md->dir);
    struct vae *vae = r->md->vae;
    double t0 = df_clock_s();
    if (!vae)
        DF_TRY(vae_load(r->md->be, dir, &vae, err));
    int rc = preview_map_fit(vae, &p->map, err);
    if (vae != r->md->vae)
        vae_free(vae);
    p->t_fit = df_clock_s() - t0;
    p->fitted = rc == 0;
    return rc;
}

void preview_step(struct render *r, int step, const float *vel)
{
    if (!render_is_root(r))
        return;
    if (!r->preview && !(r->preview = state(r)))
        return;
    struct preview_state *p = r->preview;
    int steps = r->shot->steps;
    if (!p->every || p->failed || (step % p->every != 0 && step != steps))
        return;
    struct df_err err = {0};
    if (!p->fitted && fit(r, p, &err) < 0) {
        DF_WARN(r->log, "shot %s: no previews: %s", r->shot->id, err.msg);
        p->failed = 1;
        return;
    }
    double t0 = df_clock_s();
    float sigma = sampler_sigma(r->smp, step);
    enum sampler_kind kind = sampler_get_config(r->smp)->kind;
    int flow = kind == SAMPLER_KIND_EULER || kind == SAMPLER_KIND_UNIPC;
    float a = flow ? 1.0f : 1.0f / sqrtf(1.0f + sigma * sigma), b = flow ? sigma : 0.0f;
    if (!isfinite(a) || !isfinite(b))
        a = 1, b = 0;
    if (preview_write(&p->map, &r->lat->dims, r->lat->shard, r->par.tok_begin, r->par.tok_count, a,
                      b, vel, p->path, &err) < 0) {
        DF_WARN(r->log, "shot %s: no previews: %s", r->shot->id, err.msg);
        p->failed = 1;
        return;
    }
    p->t_write += df_clock_s() - t0;
    p->written++;
    if (step == steps)
        DF_INFO(r->log, "shot %s: %d previews, %.2f ms each (map fitted to the VAE in %.0f ms)",
                r->shot->id, p->written, 1e3 * p->t_write / p->written, 1e3 * p->t_fit);
}
