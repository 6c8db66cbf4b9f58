/* backend_desc.c -- the table of kernel backends (see backend_desc.h).  A new
 * backend adds its line here and its opener in kernels/kern.c. */
#include "backend_desc.h"

#include <stdio.h>
#include <string.h>

static const struct backend_desc k_backends[] = {
    {.name = "cpu", .device = LAYOUT_DEVICE_CPU, .mem = BACKEND_MEM_HOST, .selects_device = 0,
     .weight_dtypes = BACKEND_DTYPE_F32},
    {.name = "cuda", .device = LAYOUT_DEVICE_GPU, .mem = BACKEND_MEM_DEVICE,
     .selects_device = 1, .weight_dtypes = BACKEND_DTYPE_BF16},
};
#define N_BACKENDS ((int)(sizeof(k_backends) / sizeof(k_backends[0])))

static const char *const k_mem_names[] = {"host", "device"};
_Static_assert(sizeof(k_mem_names) / sizeof(k_mem_names[0]) == BACKEND_MEM_COUNT,
               "every backend_mem needs a name");

const char *backend_mem_name(enum backend_mem m)
{
    return (unsigned)m < BACKEND_MEM_COUNT ? k_mem_names[m] : "?";
}

int backend_desc_count(void)
{
    return N_BACKENDS;
}

const struct backend_desc *backend_desc_at(int i)
{
    return i >= 0 && i < N_BACKENDS ? &k_backends[i] : NULL;
}

const struct backend_desc *backend_desc_find(const char *name)
{
    for (int i = 0; name && i < N_BACKENDS; i++)
        if (strcmp(k_backends[i].name, name) == 0)
            return &k_backends[i];
    return NULL;
}

const char *backend_desc_default(enum layout_device d)
{
    for (int i = 0; i < N_BACKENDS; i++)
        if (k_backends[i].device == d)
            return k_backends[i].name;
    return k_backends[0].name;
}

void backend_desc_names(char *dst, size_t cap)
{
    size_t len = 0;
    if (cap)
        dst[0] = '\0';
    for (int i = 0; i < N_BACKENDS && len < cap; i++)
        len += (size_t)snprintf(dst + len, cap - len, "%s%s", i ? ", " : "", k_backends[i].name);
}
