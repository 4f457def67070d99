// convlstm_cell: checks, the convolution through ATen (oneDNN on the CPU,
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
  TORCH_CHECK_VALUE(height >= 1 && width >= 1, "x must have an image of at least 1 x 1 pixels; got shape ", x.sizes());
  TORCH_CHECK_VALUE(h.size(0) == batch && h.size(2) == height && h.size(3) == width,
                    "h must have shape (B, Ch, H, W) = (", batch, ", Ch, ", height, ", ", width, ") to match x; got ",
                    h.sizes());
  TORCH_CHECK_VALUE(c.sizes() == h.sizes(), "c must have the shape of h, ", h.sizes(), "; got ", c.sizes());
  TORCH_CHECK_VALUE(weight.size(0) == 4 * hidden && weight.size(1) == in_channels + hidden,
                    "weight must have shape (4*Ch, Cin + Ch, k, k) = (", 4 * hidden, ", ", in_channels + hidden,
                    ", k, k); got ", weight.sizes());
  TORCH_CHECK_VALUE(weight.size(3) == k && k % 2 == 1,
                    "weight must have a square kernel of odd size k (padding k // 2 keeps H x W); got ",
                    weight.sizes());
  TORCH_CHECK_VALUE(bias.size(0) == 4 * hidden, "bias must have shape (4*Ch,) = (", 4 * hidden, ",); got ",
                    bias.sizes());

  // One convolution over cat(x, h), bias fused by oneDNN/cuDNN. Measured on
  // b4-32to64-64x64 (CPU, 2 threads): two convolutions of x and h, summed
  // afterwards, took 1.15-1.2x as long as one over the concatenation; oneDNN on
  // channels-last input ran 10-25% faster than on NCHW input (which it
  // reorders on the way in and out), and the whole op with the packing and the
  // channels-last gate pass below took 4-7% less time than with at::cat, an
  // NCHW convolution and a planar gate pass. at::_convolution is what
  // at::conv2d calls, with TF32 off: cuDNN's default TF32 (10-bit mantissa)
  // would miss the float32 tolerance.
  const auto convolve = [&](const at::Tensor& input) {
    const auto& ctx = at::globalContext();
    return at::_convolution(input, weight, bias, /*stride=*/{1, 1}, /*padding=*/{k / 2, k / 2}, /*dilation=*/{1, 1},
                            /*transposed=*/false, /*output_padding=*/{0, 0}, /*groups=*/1, ctx.benchmarkCuDNN(),
                            ctx.deterministicCuDNN(), ctx.userEnabledCuDNN(), /*allow_tf32=*/false);
  };
  at::Tensor h_next = empty_output(c.sizes(), c.options());
  at::Tensor c_next = empty_output(c.sizes(), c.options());
  const int64_t channels = in_channels + hidden, pixels = height * width;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "convlstm_cell", [&] {
    const scalar_t* c_ptr = c.data_ptr<scalar_t>();
    scalar_t* h_out = h_next.data_ptr<scalar_t>();
    scalar_t* c_out = c_next.data_ptr<scalar_t>();
    if (x.is_cuda()) {
#ifdef WITH_CUDA
      c10::cuda::CUDAGuard guard(x.device());
      const at::Tensor gates = convolve(at::cat({x, h}, 1)).contiguous();
      convlstm_gates_cuda_launch<scalar_t>(gates.data_ptr<scalar_t>(), c_ptr, batch, hidden, pixels, h_out, c_out,
                                           cuda_stream(x));
#else
      no_cuda_build("convlstm_cell");
#endif
    } else {
      at::Tensor xh =
          at::empty({batch, channels, height, width}, x.options().memory_format(at::MemoryFormat::ChannelsLast));
      concat_channels_last_cpu_launch<scalar_t>(x.data_ptr<scalar_t>(), h.data_ptr<scalar_t>(), batch, in_channels,
                                                hidden, pixels, xh.data_ptr<scalar_t>());
      // Channels-last in gives channels-last out; contiguous() only guards that.
      const at::Tensor gates = convolve(xh).contiguous(at::MemoryFormat::ChannelsLast);
      convlstm_gates_channels_last_cpu_launch<scalar_t>(gates.data_ptr<scalar_t>(), c_ptr, batch, hidden, pixels,
                                                        h_out, c_out);
    }
  });
  return {h_next, c_next};
}

}  // namespace kernel_arena
