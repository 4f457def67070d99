// causal_conv1d: checks, allocation, and the dtype and device dispatch to the
// launchers in cpu/causal_conv1d_kernel.cpp and cuda/causal_conv1d_kernel.cu.
//
// Why an own kernel rather than ATen's GEMMs: y[n] = bias + sum_j W_j @ x[n]
// shifted by (k-1-j) * dilation is k GEMMs per sample on strided views of x
// and y, with no copy. Measured on wavenet-d64 (2 threads, one process,
// interleaved): at::addmm on those views (MKL) took 35 ms per call, and
// 25 ms even into an output allocated once, against 33 ms for torch's
// F.pad + F.conv1d in that process -- MKL's sgemm reaches only ~85 GFLOP/s on
// these (128 x 64) x (64 x 16 000) products on this AMD CPU. The CPU kernel
// (cpu/causal_conv1d_kernel.cpp) runs its register block at one core's FMA
// peak; on wavenet-d64, with both cores free, the direct path took 11.6 ms
// and the paired (F(2, 2)) path, which the launcher takes there, 9.4-10 ms
// (torch: 15.8 ms in the suite's quiet run, 33-46 ms in these processes).
#include "ops/causal_conv1d.h"

#include <cstdint>
#include <limits>
#include <optional>

#include "ops/checks.h"
#include "ops/ops.h"

namespace kernel_arena {

at::Tensor causal_conv1d(const at::Tensor& x, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                         int64_t dilation) {
  check_float_tensor(x, "x", 3);
  check_float_tensor(weight, "weight", 3);
  check_like(weight, "weight", x, "x");
  const int64_t n = x.size(0), cin = x.size(1), length = x.size(2);
  const int64_t cout = weight.size(0), k = weight.size(2);
  TORCH_CHECK_VALUE(n >= 1 && cin >= 1, "x must have at least one sample and one channel; got shape ", x.sizes());
  TORCH_CHECK_VALUE(weight.size(1) == cin, "weight must have shape (Cout, Cin, k) with Cin = ", cin,
                    " (x's channels); got ", weight.sizes());
  TORCH_CHECK_VALUE(cout >= 1 && k >= 1, "weight must have Cout >= 1 and k >= 1; got shape ", weight.sizes());
  if (bias) {
    check_float_tensor(*bias, "bias", 1);
    check_like(*bias, "bias", x, "x");
    TORCH_CHECK_VALUE(bias->size(0) == cout, "bias must have shape (", cout, "); got ", bias->sizes());
  }
  TORCH_CHECK_VALUE(dilation >= 1, "dilation must be >= 1; got ", dilation);
  // The kernels compute times t - (k-1) * dilation in int64.
  TORCH_CHECK_VALUE(k == 1 || dilation <= (std::numeric_limits<int64_t>::max() / 4) / (k - 1),
                    "dilation must keep (k-1) * dilation below 2^61; got dilation ", dilation, " with k = ", k);

  checked_numel({n, cout, length}, x.element_size(), "x and weight");
  at::Tensor y = at::empty({n, cout, length}, x.options());
  if (length == 0) return y;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "causal_conv1d", [&] {
    const scalar_t* bias_ptr = bias ? bias->data_ptr<scalar_t>() : nullptr;
    if (x.is_cuda()) {
#ifdef WITH_CUDA
      c10::cuda::CUDAGuard guard(x.device());
      causal_conv1d_cuda_launch<scalar_t>(x.data_ptr<scalar_t>(), weight.data_ptr<scalar_t>(), bias_ptr, n, cin, cout,
                                          k, length, dilation, y.data_ptr<scalar_t>(), cuda_stream(x));
#else
      no_cuda_build("causal_conv1d");
#endif
    } else {
      causal_conv1d_cpu_launch<scalar_t>(x.data_ptr<scalar_t>(), weight.data_ptr<scalar_t>(), bias_ptr, n, cin, cout,
                                         k, length, dilation, y.data_ptr<scalar_t>());
    }
  });
  return y;
}

double causal_conv1d_cpu_flops(int64_t n, int64_t cin, int64_t cout, int64_t k, int64_t length, int64_t dilation,
                               bool bias, const std::string& dtype) {
  TORCH_CHECK_VALUE(dtype == "float32" || dtype == "float64", "dtype must be 'float32' or 'float64'; got '", dtype,
                    "'");
  TORCH_CHECK_VALUE(n >= 0 && cin >= 0 && cout >= 0 && k >= 1 && length >= 0,
                    "n, cin, cout and length must be >= 0 and k >= 1; got ", n, ", ", cin, ", ", cout, ", ", length,
                    " and ", k);
  TORCH_CHECK_VALUE(dilation >= 1, "dilation must be >= 1; got ", dilation);
  return dtype == "float32" ? causal_conv1d_cpu_flops<float>(n, cin, cout, k, length, dilation, bias)
                            : causal_conv1d_cpu_flops<double>(n, cin, cout, k, length, dilation, bias);
}

}  // namespace kernel_arena
