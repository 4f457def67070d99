// wavenet_stream: checks, allocation, and the dtype and device dispatch to the
// launchers in cpu/wavenet_stream_kernel.cpp and cuda/wavenet_stream_kernel.cu.
#include "ops/wavenet_stream.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "ops/checks.h"
#include "ops/ops.h"

namespace kernel_arena {

at::Tensor wavenet_stream(const at::Tensor& x, const at::Tensor& weights, const at::Tensor& biases,
                          const std::vector<int64_t>& dilations, int64_t threads) {
  check_float_tensor(x, "x", 3);
  check_float_tensor(weights, "weights", 4);
  check_float_tensor(biases, "biases", 2);
  check_like(weights, "weights", x, "x");
  check_like(biases, "biases", x, "x");
  const int64_t n = x.size(0), channels = x.size(1), steps = x.size(2), layers = weights.size(0);
  // An empty x may claim any C: 2 C is checked before it is compared.
  const int64_t gate_channels = checked_mul(2, channels, "x");
  TORCH_CHECK_VALUE(n >= 1 && channels >= 1, "x must have at least one sample and one channel; got shape ",
                    x.sizes());
  TORCH_CHECK_VALUE(weights.size(1) == gate_channels && weights.size(2) == channels && weights.size(3) == 2,
                    "weights must have shape (layers, 2C, C, 2) = (layers, ", gate_channels, ", ", channels,
                    ", 2) for x with C = ", channels, "; got ", weights.sizes());
  TORCH_CHECK_VALUE(biases.size(0) == layers && biases.size(1) == gate_channels, "biases must have shape (", layers,
                    ", ", gate_channels, "); got ", biases.sizes());
  TORCH_CHECK_VALUE(int64_t(dilations.size()) == layers, "dilations must have one entry per layer: weights has ",
                    layers, " layers, dilations has ", dilations.size());
  for (const int64_t d : dilations) TORCH_CHECK_VALUE(d >= 1, "dilations must all be >= 1; got ", d);
  // OpenMP takes an int; more threads than layers are never started.
  TORCH_CHECK_VALUE(threads >= 0 && threads <= std::numeric_limits<int>::max(),
                    "threads must lie in [0, 2^31 - 1] (0: chosen by the extension); got ", threads);

  at::Tensor y = at::empty_like(x);
  if (steps == 0) return y;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "wavenet_stream", [&] {
    if (x.is_cuda()) {
#ifdef WITH_CUDA
      c10::cuda::CUDAGuard guard(x.device());
      TORCH_CHECK_VALUE(n <= int64_t(0x7fffffff), "x: wavenet_stream on CUDA takes at most 2^31 - 1 samples; got ",
                        n);
      TORCH_CHECK_VALUE(wavenet_stream_cuda_shared_bytes(channels, sizeof(scalar_t)) <=
                            wavenet_stream_cuda_max_shared_bytes(),
                        "x: wavenet_stream on CUDA takes at most ",
                        wavenet_stream_cuda_max_shared_bytes() / (4 * int64_t(sizeof(scalar_t))),
                        " channels in ", x.scalar_type(), "; got C = ", channels);
      int64_t ring_size = 0;
      for (const int64_t d : dilations)
        ring_size = checked_add(ring_size, checked_mul(wavenet_queue_capacity(d, steps), channels, "x"), "x");
      // (layers, 2C inputs, 2C rows): input tap * C + i, rows consecutive for coalesced loads.
      const at::Tensor packed = weights.permute({0, 3, 2, 1}).contiguous();
      const at::Tensor device_dilations =
          at::tensor(dilations, at::TensorOptions().dtype(at::kLong)).to(x.device(), /*non_blocking=*/false);
      at::Tensor rings = at::empty({n, std::max<int64_t>(ring_size, 1)}, x.options());
      wavenet_stream_cuda_launch<scalar_t>(x.data_ptr<scalar_t>(), packed.data_ptr<scalar_t>(),
                                           biases.data_ptr<scalar_t>(), device_dilations.data_ptr<int64_t>(), n,
                                           channels, steps, layers, rings.data_ptr<scalar_t>(), ring_size,
                                           y.data_ptr<scalar_t>(), cuda_stream(x));
#else
      no_cuda_build("wavenet_stream");
#endif
    } else {
      wavenet_stream_cpu_launch<scalar_t>(x.data_ptr<scalar_t>(), weights.data_ptr<scalar_t>(),
                                          biases.data_ptr<scalar_t>(), dilations.data(), n, channels, steps, layers,
                                          threads, y.data_ptr<scalar_t>());
    }
  });
  return y;
}

}  // namespace kernel_arena
