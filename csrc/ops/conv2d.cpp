// conv2d: checks, the output allocation, and the device dispatch. On the CPU
// (cpu/conv2d_kernel.cpp) algorithm "auto" runs Winograd F(2 x 2, 3 x 3) on
// 3 x 3 stride-1 convolutions with enough channels (rule below), else the
// direct polyphase kernel, which beat im2col + GEMM on every benchmark case;
// "direct", "winograd" and "im2col" (+ GEMM tiles) ask for one. On CUDA
// ("auto" or "im2col") the im2col kernel (cuda/conv2d_kernel.cu) fills a
// column buffer for a chunk of images and ATen's batched GEMM (cuBLAS)
// multiplies every (image, group) at once.
#include "ops/conv2d.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "ops/checks.h"
#include "ops/host_outputs.h"
#include "ops/ops.h"

namespace kernel_arena {

namespace {

// CUDA column buffer per chunk of images (mmcv's im2col_step): large enough
// that each batched GEMM fills the GPU, small next to its memory.
constexpr int64_t kCudaColumnBudgetBytes = int64_t(256) << 20;
// CPU "auto" takes Winograd F(2 x 2, 3 x 3) for 3 x 3 stride-1 convolutions
// with at least this many input and output channels per group and output
// pixels in all. The chunked schedule's transforms cost per channel what its
// GEMMs save per pair of channels: measured on 8 x 256 x 56 x 56 (2 threads)
// against the direct kernel, 8 channels per group 1.5-1.7x slower, 16 even,
// 32 1.33x faster, 64 (ResNet) 1.5x; and 1.9x slower on one 64-channel 8 x 8
// image. Undilated, the small-group schedule (kWinogradSmallChannels) beat
// the direct kernel from 4 channels per group (1.1x) to 16 (1.5x; 8, ResNeXt:
// 1.4x), and lost 2.2x on depthwise (1).
constexpr int64_t kWinogradMinChannels = 32;
constexpr int64_t kWinogradSmallMinChannels = 4;
constexpr int64_t kWinogradMinPixels = 1024;
// Padded input sizes (H + 2 ph, W + 2 pw) stay below this, as the spec says.
constexpr int64_t kMaxPaddedSize = int64_t(1) << 62;

std::pair<int64_t, int64_t> check_pair(const std::vector<int64_t>& value, const char* name, int64_t minimum) {
  TORCH_CHECK_VALUE(value.size() == 2, name, " must be a pair (h, w); got ", value.size(), " values");
  TORCH_CHECK_VALUE(value[0] >= minimum && value[1] >= minimum, name, " must be >= ", minimum, "; got (", value[0],
                    ", ", value[1], ")");
  return {value[0], value[1]};
}

// What conv2d computes and how, from the shapes alone: the checks that
// need no tensor, the geometry, and the CPU algorithm.
struct Conv2dPlan {
  int64_t n, cout, groups;
  Conv2dGeometry geometry;
  Conv2dAlgorithm cpu_algorithm;
};

Conv2dPlan plan_conv2d(at::IntArrayRef x_sizes, at::IntArrayRef weight_sizes, const std::vector<int64_t>& stride,
                       const std::vector<int64_t>& padding, const std::vector<int64_t>& dilation, int64_t groups,
                       const std::string& algorithm, int64_t element_size) {
  TORCH_CHECK_VALUE(x_sizes.size() == 4, "x must be 4-D; got shape ", x_sizes);
  TORCH_CHECK_VALUE(weight_sizes.size() == 4, "weight must be 4-D; got shape ", weight_sizes);
  const auto [stride_h, stride_w] = check_pair(stride, "stride", 1);
  const auto [pad_h, pad_w] = check_pair(padding, "padding", 0);
  const auto [dilation_h, dilation_w] = check_pair(dilation, "dilation", 1);
  TORCH_CHECK_VALUE(groups >= 1, "groups must be >= 1; got ", groups);
  TORCH_CHECK_VALUE(algorithm == "auto" || algorithm == "direct" || algorithm == "im2col" || algorithm == "winograd",
                    "algorithm must be 'auto', 'direct', 'im2col' or 'winograd'; got '", algorithm, "'");

  const int64_t n = x_sizes[0], cin = x_sizes[1], height = x_sizes[2], width = x_sizes[3];
  const int64_t cout = weight_sizes[0], cin_per_group = weight_sizes[1];
  const int64_t kernel_h = weight_sizes[2], kernel_w = weight_sizes[3];
  TORCH_CHECK_VALUE(n >= 1 && cin >= 1 && height >= 1 && width >= 1, "x must have N, Cin, H, W >= 1; got shape ",
                    x_sizes);
  TORCH_CHECK_VALUE(cout >= 1 && cin_per_group >= 1 && kernel_h >= 1 && kernel_w >= 1,
                    "weight must have Cout, Cin / groups, kh, kw >= 1; got shape ", weight_sizes);
  TORCH_CHECK_VALUE(cin % groups == 0, "groups must divide the input channels: x has Cin = ", cin,
                    ", groups = ", groups);
  TORCH_CHECK_VALUE(cout % groups == 0, "groups must divide the output channels: weight has Cout = ", cout,
                    ", groups = ", groups);
  TORCH_CHECK_VALUE(cin_per_group * groups == cin, "weight must have Cin / groups = ", cin / groups,
                    " input channels (x has Cin = ", cin, ", groups = ", groups, "); got weight of shape ",
                    weight_sizes);
  // Every extent the kernels form is a sum of at most two of the padded
  // size, a stride no larger (see below) and products bounded by them, so a
  // padded size below 2^62 keeps all of them in int64.
  const int64_t padded_h = checked_add(height, checked_mul(2, pad_h, "padding"), "padding");
  const int64_t padded_w = checked_add(width, checked_mul(2, pad_w, "padding"), "padding");
  TORCH_CHECK_VALUE(padded_h < kMaxPaddedSize && padded_w < kMaxPaddedSize,
                    "padding must keep the padded input x below 2^62; got ", padded_h, " x ", padded_w,
                    " (padding (", pad_h, ", ", pad_w, "))");
  // The dilated extent d (k - 1) + 1 is formed only once it is known to fit
  // the padded size (a dilation near 2^63 would wrap it negative).
  const auto extent_fits = [](int64_t dilation, int64_t kernel, int64_t padded) {
    return kernel == 1 || dilation <= (padded - 1) / (kernel - 1);
  };
  TORCH_CHECK_VALUE(extent_fits(dilation_h, kernel_h, padded_h) && extent_fits(dilation_w, kernel_w, padded_w),
                    "weight's kernel (dilated extent ", double(dilation_h) * double(kernel_h - 1) + 1, " x ",
                    double(dilation_w) * double(kernel_w - 1) + 1, ") is larger than the padded input x (", padded_h,
                    " x ", padded_w, "); increase padding or shrink the kernel or its dilation");
  const int64_t extent_h = dilation_h * (kernel_h - 1) + 1, extent_w = dilation_w * (kernel_w - 1) + 1;

  // A stride past the padded input leaves one output row (column) whose taps
  // do not depend on it: the geometry takes the smallest stride that gives
  // the same output, so no kernel multiplies or sizes buffers by a stride of
  // 2^62 (the direct kernel's polyphase copy has stride_h * stride_w planes).
  // Likewise a one-tap axis reads nothing at its dilation: 1 gives the same.
  const int64_t step_h = std::min(stride_h, padded_h - extent_h + 1);
  const int64_t step_w = std::min(stride_w, padded_w - extent_w + 1);
  const Conv2dGeometry g{cin,    height, width,  kernel_h,   kernel_w,
                         step_h, step_w, pad_h,  pad_w,      kernel_h == 1 ? 1 : dilation_h,
                         kernel_w == 1 ? 1 : dilation_w, (padded_h - extent_h) / step_h + 1,
                         (padded_w - extent_w) / step_w + 1};
  checked_numel({n, cout, g.out_h, g.out_w}, element_size, "padding and stride");

  // The direct kernel copies each tile's input as step_h * step_w polyphase
  // planes; with more phases than kernel taps that copy outgrows im2col's
  // column buffer (a stride past the kernel skips input the copy still
  // holds), so "auto" takes im2col there. None of the benchmark cases has
  // such a stride. An explicit "direct" is refused where the copy of the
  // padded input alone would pass 2^40 bytes rather than fail mid-call.
  if (algorithm == "direct") {
    const double copy_bytes =
        double(cin_per_group) * double(padded_h + step_h) * double(padded_w + step_w) * double(element_size);
    TORCH_CHECK_VALUE(copy_bytes < 0x1p40, "padding (", pad_h, ", ", pad_w, ") and stride (", stride_h, ", ",
                      stride_w, ") ask algorithm 'direct' for a polyphase copy of ", copy_bytes,
                      " bytes; use 'auto' or 'im2col'");
  }
  // Winograd copies each image as 2 dh x 2 dw polyphase planes of 2 x 2
  // tiles: with at least two tiles per phase each way (out >= 4 d) that is
  // at most ~2.25x the output; "auto" asks for that, and an explicit
  // "winograd" is refused, like "direct", past 2^40 bytes.
  const bool winograd_shape = kernel_h == 3 && kernel_w == 3 && stride_h == 1 && stride_w == 1;
  if (algorithm == "winograd") {
    TORCH_CHECK_VALUE(winograd_shape, "algorithm 'winograd' needs a 3 x 3 kernel at stride 1; got kernel ", kernel_h,
                      " x ", kernel_w, ", stride (", stride_h, ", ", stride_w, ")");
    const double tiles_h = std::ceil(double(g.out_h) / double(2 * dilation_h)) + 1;
    const double tiles_w = std::ceil(double(g.out_w) / double(2 * dilation_w)) + 1;
    const double copy_bytes = double(cin_per_group) * 4.0 * double(dilation_h) * double(dilation_w) * tiles_h *
                              tiles_w * double(element_size);
    TORCH_CHECK_VALUE(copy_bytes < 0x1p40, "dilation (", dilation_h, ", ", dilation_w,
                      ") asks algorithm 'winograd' for a polyphase copy of ", copy_bytes,
                      " bytes; use 'auto' or 'direct'");
  }
  const int64_t cout_per_group = cout / groups;
  const bool winograd_channels =
      (cin_per_group >= kWinogradMinChannels && cout_per_group >= kWinogradMinChannels) ||
      (dilation_h == 1 && dilation_w == 1 && cin_per_group >= kWinogradSmallMinChannels &&
       cin_per_group <= kWinogradSmallChannels && cout_per_group >= kWinogradSmallMinChannels);
  const bool winograd =
      algorithm == "winograd" ||
      (algorithm == "auto" && winograd_shape && winograd_channels && n * g.out_h * g.out_w >= kWinogradMinPixels &&
       g.out_h >= 4 * dilation_h && g.out_w >= 4 * dilation_w);
  const double phases = double(step_h) * double(step_w), taps = double(kernel_h) * double(kernel_w);
  const bool direct = algorithm == "direct" || (algorithm == "auto" && phases <= taps);
  return {n, cout, groups, g,
          winograd ? Conv2dAlgorithm::kWinograd : direct ? Conv2dAlgorithm::kDirect : Conv2dAlgorithm::kIm2colGemm};
}

}  // namespace

double conv2d_cpu_flops(const std::vector<int64_t>& x_shape, const std::vector<int64_t>& weight_shape,
                        const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                        const std::vector<int64_t>& dilation, int64_t groups, bool bias, const std::string& algorithm) {
  const Conv2dPlan plan =
      plan_conv2d(x_shape, weight_shape, stride, padding, dilation, groups, algorithm, sizeof(float));
  return conv2d_cpu_work(plan.geometry, plan.n, plan.groups, plan.cout / plan.groups, bias, plan.cpu_algorithm);
}

at::Tensor conv2d(const at::Tensor& x, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                  const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                  const std::vector<int64_t>& dilation, int64_t groups, const std::string& algorithm) {
  check_float_tensor(x, "x", 4);
  check_float_tensor(weight, "weight", 4);
  check_like(weight, "weight", x, "x");
  const bool has_bias = bias.has_value() && bias->defined();
  if (has_bias) {
    check_float_tensor(*bias, "bias", 1);
    check_like(*bias, "bias", x, "x");
  }
  const Conv2dPlan plan =
      plan_conv2d(x.sizes(), weight.sizes(), stride, padding, dilation, groups, algorithm, x.element_size());
  const int64_t n = plan.n, cout = plan.cout;
  const Conv2dGeometry& geometry = plan.geometry;
  if (has_bias)
    TORCH_CHECK_VALUE(bias->size(0) == cout, "bias must have shape (", cout, "); got ", bias->sizes());
  const int64_t out_pixels = geometry.out_h * geometry.out_w;
  const int64_t cout_per_group = cout / groups;
  at::Tensor y = empty_output({n, cout, geometry.out_h, geometry.out_w}, x.options(), "padding and stride");

  if (x.is_cuda()) {
#ifdef WITH_CUDA
    TORCH_CHECK_VALUE(algorithm == "auto" || algorithm == "im2col", "algorithm '", algorithm,
                      "' runs on the CPU only; CUDA uses im2col");
    c10::cuda::CUDAGuard guard(x.device());
    const int64_t cin = geometry.channels, patch = weight.size(1) * geometry.kernel_h * geometry.kernel_w;
    const int64_t image_col_bytes =
        checked_numel({cin * geometry.kernel_h * geometry.kernel_w, out_pixels}, x.element_size(),
                      "padding and stride (the im2col buffer)") *
        x.element_size();
    const int64_t step = std::clamp<int64_t>(kCudaColumnBudgetBytes / image_col_bytes, 1, n);
    at::Tensor col = empty_output({step * groups, patch, out_pixels}, x.options(), "padding and stride");
    // Batch entry (image, group) multiplies by group's weights: the (groups,
    // Cout / groups, K) weights repeated per image of the chunk (a small copy).
    const at::Tensor weights = weight.view({1, groups, cout_per_group, patch})
                                   .expand({step, groups, cout_per_group, patch})
                                   .reshape({step * groups, cout_per_group, patch});
    for (int64_t n0 = 0; n0 < n; n0 += step) {
      const int64_t images = std::min(step, n - n0);
      AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "conv2d", [&] {
        im2col_cuda_launch<scalar_t>(x.data_ptr<scalar_t>() + n0 * cin * geometry.height * geometry.width, images,
                                     geometry, col.data_ptr<scalar_t>(), cuda_stream(x));
      });
      // Column rows are (c, ki, kj) with c = group * Cin / groups + ci: each
      // image's buffer is its groups' (K, Ho * Wo) blocks one after another.
      at::Tensor y_chunk = y.narrow(0, n0, images).view({images * groups, cout_per_group, out_pixels});
      at::bmm_out(y_chunk, weights.narrow(0, 0, images * groups), col.narrow(0, 0, images * groups));
    }
    if (has_bias) y.add_(bias->view({1, cout, 1, 1}));
#else
    no_cuda_build("conv2d");
#endif
  } else {
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "conv2d", [&] {
      conv2d_cpu_launch<scalar_t>(x.data_ptr<scalar_t>(), n, geometry, groups, cout_per_group,
                                  weight.data_ptr<scalar_t>(), has_bias ? bias->data_ptr<scalar_t>() : nullptr,
                                  plan.cpu_algorithm, y.data_ptr<scalar_t>());
    });
  }
  return y;
}

}  // namespace kernel_arena
