/* latent_shard.c -- canonical <-> token-major latent (latent_shard.h). */
#include "latent_shard.h"

#include <string.h>

int64_t latent_row_size(const struct latent_dims *d)
{
    return (int64_t)d->C * d->pt * d->ph * d->pw;
}

int64_t latent_tokens(const struct latent_dims *d)
{
    return d->text + (int64_t)(d->T / d->pt) * (d->H / d->ph) * (d->W / d->pw);
}

/* Visit every (row element, canonical index) pair of a token range. */
#define FOR_EACH_TOKEN_ELEMENT(d, begin, count, BODY)                                              \
    do {                                                                                           \
        const int Hp_ = (d)->H / (d)->ph, Wp_ = (d)->W / (d)->pw;                                  \
        const int64_t row_ = latent_row_size(d);                                                   \
        for (int64_t j_ = 0; j_ < (count); j_++) {                                                 \
            int64_t tok_ = (begin) + j_ - (d)->text;                                               \
            if (tok_ < 0)                                                                          \
                continue; /* a text token: no latent */                                            \
            int f_ = (int)(tok_ / ((int64_t)Hp_ * Wp_));                                           \
            int y_ = (int)(tok_ / Wp_ % Hp_), x_ = (int)(tok_ % Wp_);                              \
            int64_t e_ = j_ * row_;                                                                \
            for (int c_ = 0; c_ < (d)->C; c_++)                                                    \
                for (int kt_ = 0; kt_ < (d)->pt; kt_++)                                            \
                    for (int kh_ = 0; kh_ < (d)->ph; kh_++)                                        \
                        for (int kw_ = 0; kw_ < (d)->pw; kw_++, e_++) {                            \
                            const int64_t t_ = f_ * (d)->pt + kt_;                                 \
                            const int64_t plane_ = (d)->layout ? t_ * (d)->C + c_                  \
                                                               : (int64_t)c_ * (d)->T + t_;        \
                            int64_t idx_ = (plane_ * (d)->H + y_ * (d)->ph + kh_) * (d)->W +       \
                                           x_ * (d)->pw + kw_;                                     \
                            BODY;                                                                  \
                        }                                                                          \
        }                                                                                          \
    } while (0)

void latent_to_rows(const struct latent_dims *d, const float *latent, int64_t begin, int64_t count,
                    float *rows)
{
    const int64_t text_rows = begin < d->text ? (d->text - begin < count ? d->text - begin : count) : 0;
    memset(rows, 0, (size_t)(text_rows * latent_row_size(d)) * sizeof(*rows));
    FOR_EACH_TOKEN_ELEMENT(d, begin, count, rows[e_] = latent[idx_]);
}

void latent_from_rows(const struct latent_dims *d, const float *rows, int64_t begin, int64_t count,
                      float *latent)
{
    FOR_EACH_TOKEN_ELEMENT(d, begin, count, latent[idx_] = rows[e_]);
}
