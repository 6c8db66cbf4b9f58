/*
 * model_id.h -- a cheap, stable fingerprint of a model folder's weights, so a
 * checkpoint written with one set of weights is never resumed with another.
 *
 * Hashing every byte of a 28 GB model at each start costs minutes of I/O, so
 * the fingerprint covers what changes when weights change: config.json in
 * full, and for every *.safetensors / *.index.json file (sorted by name) its
 * name, its size, its safetensors header (which lists every tensor's name,
 * dtype, shape and offsets) and its first and last 1 MiB.  64-bit FNV-1a.
 */
#ifndef DF_MODEL_ID_H
#define DF_MODEL_ID_H

#include "err.h"

#include <stdint.h>

/* Fingerprint of folder `dir` (a diffusers `transformer/`).  Returns 0 and
 * *out, or DF_E_IO / DF_E_NOTFOUND naming the file that could not be read. */
int model_id_weights(const char *dir, uint64_t *out, struct df_err *err);

#endif
