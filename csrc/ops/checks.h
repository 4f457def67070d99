// Input checks for the torch-facing op functions: each message names the
// argument, what was expected and what was given, as torchvision's do. Bad
// input raises ValueError (TORCH_CHECK_VALUE), a wrong dtype or a non-tensor
// TypeError (TORCH_CHECK_TYPE), as the op specs do in Python; RuntimeError is
// left to failures that are not the caller's input (a build without CUDA).
#pragma once
#include <ATen/ATen.h>

#include <algorithm>

#ifdef WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace kernel_arena {

inline void check_float_tensor(const at::Tensor& t, const char* name, int64_t dim) {
  TORCH_CHECK_TYPE(t.defined(), name, " must be a tensor");
  TORCH_CHECK_VALUE(t.dim() == dim, name, " must be ", dim, "-D; got ", t.dim(), "-D with shape ", t.sizes());
  TORCH_CHECK_TYPE(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble, name,
                   " must have dtype float32 or float64; got ", t.scalar_type());
  TORCH_CHECK_VALUE(t.is_contiguous(), name, " must be contiguous");
  TORCH_CHECK_VALUE(t.is_cpu() || t.is_cuda(), name, " must be on the CPU or a CUDA device; got ", t.device());
}

// a + b and a * b in int64, or a ValueError naming `what` where they would
// overflow: every size, extent and byte count the kernels use is formed from
// checked sums and products of the caller's values, so none wraps.
inline int64_t checked_add(int64_t a, int64_t b, const char* what) {
  int64_t sum = 0;
  TORCH_CHECK_VALUE(!__builtin_add_overflow(a, b, &sum), what, " is out of range: ", a, " + ", b,
                    " overflows int64");
  return sum;
}

inline int64_t checked_mul(int64_t a, int64_t b, const char* what) {
  int64_t product = 0;
  TORCH_CHECK_VALUE(!__builtin_mul_overflow(a, b, &product), what, " is out of range: ", a, " * ", b,
                    " overflows int64");
  return product;
}

// The elements of a tensor of `sizes` (each >= 0), whose bytes must also fit
// in int64; a ValueError naming `what` (the arguments that set those sizes)
// otherwise, before anything is allocated or launched.
inline int64_t checked_numel(at::IntArrayRef sizes, int64_t element_size, const char* what) {
  for (const int64_t size : sizes) TORCH_CHECK_VALUE(size >= 0, what, " ask for an output of shape ", sizes);
  if (std::find(sizes.begin(), sizes.end(), 0) != sizes.end()) return 0;
  int64_t numel = 1, bytes = 0;
  bool overflow = false;
  for (const int64_t size : sizes) overflow |= __builtin_mul_overflow(numel, size, &numel);
  overflow |= __builtin_mul_overflow(numel, element_size, &bytes);
  TORCH_CHECK_VALUE(!overflow, what, " ask for an output of shape ", sizes, ", more than 2^63 bytes");
  return numel;
}

inline void check_like(const at::Tensor& t, const char* name, const at::Tensor& ref, const char* ref_name) {
  TORCH_CHECK_TYPE(t.scalar_type() == ref.scalar_type(), name, " must have the dtype of ", ref_name, " (",
                   ref.scalar_type(), "); got ", t.scalar_type());
  TORCH_CHECK_VALUE(t.device() == ref.device(), name, " must be on the device of ", ref_name, " (", ref.device(),
                    "); got ", t.device());
}

#ifdef WITH_CUDA
// The stream the caller is using on t's device: kernels launch there.
inline void* cuda_stream(const at::Tensor& t) {
  return c10::cuda::getCurrentCUDAStream(t.device().index()).stream();
}
#endif

[[noreturn]] inline void no_cuda_build(const char* op) {
  TORCH_CHECK(false, op, ": kernel_arena was built without CUDA (no nvcc at build time); rebuild with a CUDA toolkit");
}

}  // namespace kernel_arena
