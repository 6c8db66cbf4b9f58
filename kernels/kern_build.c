/* kern_build.c -- which backends this build of the kernels library carries. */
#include "kern_build.h"

const char *kern_build_backends(void)
{
#ifdef DITFARM_HAVE_CUDA
    return "cpu cuda";
#else
    return "cpu";
#endif
}
