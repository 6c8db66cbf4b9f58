/*
 * backend_desc.h -- the kernel backends ditfarm knows, by name, and what
 * they are: the one table behind kernels/kern.c's registry (which adds how
 * to open each one compiled in) and behind the controller's choices (the CLI
 * and the daemon never link the kernels): the planner's device profile, the
 * memory space of a backend's buffers, whether a rank picks its device, the
 * storage of linear weights.  Nothing else compares backend names.
 *
 *     const struct backend_desc *d = backend_desc_find("cuda");
 *     if (d && d->mem == BACKEND_MEM_HOST) ... // the CPU reads its buffers
 */
#ifndef DF_BACKEND_DESC_H
#define DF_BACKEND_DESC_H

#include "layout.h"

#include <stddef.h>

enum backend_mem {
    BACKEND_MEM_HOST,   /* buffers are host memory: MPI and memcpy can use them as they are */
    BACKEND_MEM_DEVICE, /* buffers live on a device: copy through host staging (or NCCL) */
    BACKEND_MEM_COUNT
};
/* "host", "device"; "?" out of range. */
const char *backend_mem_name(enum backend_mem m);

/* Storage of linear-layer weights (bit mask). */
enum { BACKEND_DTYPE_F32 = 1u, BACKEND_DTYPE_BF16 = 2u };

struct backend_desc {
    const char *name;          /* "cpu", "cuda": --backend, job.json, logs */
    enum layout_device device; /* the planner's device profile */
    enum backend_mem mem;      /* where kern_alloc buffers live */
    int selects_device;        /* 1: kern_backend_create_on's device index picks a GPU */
    unsigned weight_dtypes;    /* BACKEND_DTYPE_* the linear GEMM runs its operands in */
};

/* The known backends, in registry order (compiled in or not). */
int backend_desc_count(void);
const struct backend_desc *backend_desc_at(int i);
/* The backend called `name`, or NULL. */
const struct backend_desc *backend_desc_find(const char *name);
/* The backend the controller picks for a device profile when none is
 * named: the first of that profile ("cuda" for gpu, "cpu" for cpu). */
const char *backend_desc_default(enum layout_device d);
/* "cpu, cuda" into dst[cap], for messages. */
void backend_desc_names(char *dst, size_t cap);

#endif /* DF_BACKEND_DESC_H */
