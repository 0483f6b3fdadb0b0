#ifndef ADJOINT_COPENCL_SHIM_H
#define ADJOINT_COPENCL_SHIM_H
// OpenCL 1.2 API surface: Adjoint runs on any 1.2+ device (PoCL, NVIDIA, AMD, Intel).
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#endif
