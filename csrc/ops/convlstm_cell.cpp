// convlstm_cell: checks, the convolution (the extension's conv2d on the CPU,
// cuDNN on the GPU), and the dtype and device dispatch of the passes around it.
#include "ops/convlstm_cell.h"

#include <tuple>

#include "ops/checks.h"
#include "ops/host_outputs.h"
#include "ops/ops.h"

namespace kernel_arena {

std::tuple<at::Tensor, at::Tensor> convlstm_cell(const at::Tensor& x, const at::Tensor& h, const at::Tensor& c,
                                                 const at::Tensor& weight, const at::Tensor& bias) {
  check_float_tensor(x, "x", 4);
  check_float_tensor(h, "h", 4);
  check_float_tensor(c, "c", 4);
  check_float_tensor(weight, "weight", 4);
  check_float_tensor(bias, "bias", 1);
  check_like(h, "h", x, "x");
  check_like(c, "c", x, "x");
  check_like(weight, "weight", x, "x");
  check_like(bias, "bias", x, "x");
  const int64_t batch = x.size(0), in_channels = x.size(1), height = x.size(2), width = x.size(3);
  const int64_t hidden = h.size(1), k = weight.size(2);
  // Shapes of empty tensors are free: sums and products of them are checked.
  const int64_t gate_channels = checked_mul(4, hidden, "h"), channels = checked_add(in_channels, hidden, "h");
  const int64_t pixels = checked_mul(height, width, "x");
  TORCH_CHECK_VALUE(height >= 1 && width >= 1, "x must have an image of at least 1 x 1 pixels; got shape ", x.sizes());
  TORCH_CHECK_VALUE(h.size(0) == batch && h.size(2) == height && h.size(3) == width,
                    "h must have shape (B, Ch, H, W) = (", batch, ", Ch, ", height, ", ", width, ") to match x; got ",
                    h.sizes());
  TORCH_CHECK_VALUE(c.sizes() == h.sizes(), "c must have the shape of h, ", h.sizes(), "; got ", c.sizes());
  TORCH_CHECK_VALUE(weight.size(0) == gate_channels && weight.size(1) == channels,
                    "weight must have shape (4*Ch, Cin + Ch, k, k) = (", gate_channels, ", ", channels,
                    ", k, k); got ", weight.sizes());
  TORCH_CHECK_VALUE(weight.size(3) == k && k % 2 == 1,
                    "weight must have a square kernel of odd size k (padding k // 2 keeps H x W); got ",
                    weight.sizes());
  TORCH_CHECK_VALUE(bias.size(0) == gate_channels, "bias must have shape (4*Ch,) = (", gate_channels, ",); got ",
                    bias.sizes());

  // One convolution over cat(x, h), bias fused: on the CPU the extension's
  // own conv2d ("auto": Winograd F(2 x 2, 3 x 3) for the 3 x 3 kernels of
  // the benchmark, the direct kernel otherwise), on the GPU cuDNN through
  // at::_convolution with TF32 off (its default 10-bit mantissa would miss
  // the float32 tolerance). Two convolutions of x and h, summed afterwards,
  // measured 1.15-1.2x as long as one over the concatenation (oneDNN).
  at::Tensor h_next = empty_output(c.sizes(), c.options(), "c");
  at::Tensor c_next = empty_output(c.sizes(), c.options(), "c");
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "convlstm_cell", [&] {
    const scalar_t* c_ptr = c.data_ptr<scalar_t>();
    scalar_t* h_out = h_next.data_ptr<scalar_t>();
    scalar_t* c_out = c_next.data_ptr<scalar_t>();
    if (x.is_cuda()) {
#ifdef WITH_CUDA
      c10::cuda::CUDAGuard guard(x.device());
      const auto& ctx = at::globalContext();
      const at::Tensor gates =
          at::_convolution(at::cat({x, h}, 1), weight, bias, /*stride=*/{1, 1}, /*padding=*/{k / 2, k / 2},
                           /*dilation=*/{1, 1}, /*transposed=*/false, /*output_padding=*/{0, 0}, /*groups=*/1,
                           ctx.benchmarkCuDNN(), ctx.deterministicCuDNN(), ctx.userEnabledCuDNN(),
                           /*allow_tf32=*/false)
              .contiguous();
      convlstm_gates_cuda_launch<scalar_t>(gates.data_ptr<scalar_t>(), c_ptr, batch, hidden, pixels, h_out, c_out,
                                           cuda_stream(x));
#else
      no_cuda_build("convlstm_cell");
#endif
    } else {
      at::Tensor xh = empty_output({batch, channels, height, width}, x.options(), "x and h");
      concat_channels_cpu_launch<scalar_t>(x.data_ptr<scalar_t>(), h.data_ptr<scalar_t>(), batch,
                                           in_channels * pixels, hidden * pixels, xh.data_ptr<scalar_t>());
      const at::Tensor gates = conv2d(xh, weight, bias, {1, 1}, {k / 2, k / 2}, {1, 1}, 1, "auto");
      convlstm_gates_cpu_launch<scalar_t>(gates.data_ptr<scalar_t>(), c_ptr, batch, hidden, pixels, h_out, c_out);
    }
  });
  return {h_next, c_next};
}

}  // namespace kernel_arena
