// Shared by the CPU and CUDA builds: the per-element math in csrc/ops/<op>.h
// is compiled by g++ for the CPU launchers and by nvcc for the CUDA kernels.
#pragma once

#if defined(__CUDACC__) || defined(__HIPCC__)
#define KA_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define KA_HOST_DEVICE inline
#endif
