// A CUDA error becomes a C++ exception, which pybind11 turns into a Python
// RuntimeError naming the call, instead of a silent wrong result.
#pragma once
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#define KA_CUDA_CHECK(expr)                                                                      \
  do {                                                                                           \
    cudaError_t ka_err = (expr);                                                                 \
    if (ka_err != cudaSuccess)                                                                   \
      throw std::runtime_error(std::string("CUDA error in ") + #expr + ": " + cudaGetErrorString(ka_err)); \
  } while (0)
