/* kern_build.h -- build-time facts about the kernels library. */
#ifndef DF_KERN_BUILD_H
#define DF_KERN_BUILD_H

/* Space-separated names of the backends compiled in ("cpu" or "cpu cuda"). */
const char *kern_build_backends(void);

#ifdef DITFARM_HAVE_CUDA
/* Number of CUDA devices visible at run time (0 when no driver or GPU). */
int kern_cuda_device_count(void);
#endif

#endif
