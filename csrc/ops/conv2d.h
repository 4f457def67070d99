// conv2d as im2col + GEMM: the column buffer of one image and group holds, in
// row (c, ki, kj) and column (out_y, out_x), the input pixel that output
// (out_y, out_x) multiplies by weight tap (ki, kj) of channel c -- or 0 where
// that tap falls in the zero padding. GEMM with the group's weights viewed as
// (Cout / groups, Cin / groups * kh * kw) then gives the output.
#pragma once
#include <cstdint>

#include "macros.h"

namespace kernel_arena {

// Everything the im2col element needs to know about the convolution; the
// pairs are (vertical, horizontal), as in PyTorch.
struct Conv2dGeometry {
  int64_t channels;  // input channels of the image (all groups)
  int64_t height, width;
  int64_t kernel_h, kernel_w;
  int64_t stride_h, stride_w;
  int64_t pad_h, pad_w;
  int64_t dilation_h, dilation_w;
  int64_t out_h, out_w;
};

// The input coordinate that output coordinate `out` reads through kernel tap
// `tap` along one axis; outside [0, size) it lies in the zero padding.
KA_HOST_DEVICE int64_t conv_input_coord(int64_t out, int64_t tap, int64_t stride, int64_t pad, int64_t dilation) {
  return out * stride - pad + tap * dilation;
}

// Column-buffer entry (c, ki, kj, out_y, out_x) of one image: `image` points at
// its channel 0, (channels, height, width) contiguous. The load sits under
// the bounds test, so padding taps never touch memory (on the CPU the test
// becomes a vector mask, on the GPU a predicate). One unsigned compare per
// axis tests both ends: a negative coordinate wraps to a huge one (measured
// 1.4-1.7x faster im2col on the CPU than two signed compares).
template <typename T>
KA_HOST_DEVICE T im2col_element(const T* image, const Conv2dGeometry& g, int64_t c, int64_t ki, int64_t kj,
                                int64_t out_y, int64_t out_x) {
  const int64_t in_y = conv_input_coord(out_y, ki, g.stride_h, g.pad_h, g.dilation_h);
  const int64_t in_x = conv_input_coord(out_x, kj, g.stride_w, g.pad_w, g.dilation_w);
  const bool inside = uint64_t(in_y) < uint64_t(g.height) && uint64_t(in_x) < uint64_t(g.width);
  return inside ? image[(c * g.height + in_y) * g.width + in_x] : T(0);
}

// Launchers on raw contiguous pointers: x (n, channels, height, width),
// weight (groups * cout_per_group, channels / groups, kh, kw), bias
// (groups * cout_per_group) or null, y (n, groups * cout_per_group, out_h, out_w).
//
// im2col of output rows [out_y0, out_y1) and channels [c0, c0 + channels) of
// one image into col (channels * kh * kw, (out_y1 - out_y0) * out_w).
template <typename T>
void im2col_cpu(const T* image, const Conv2dGeometry& g, int64_t c0, int64_t channels, int64_t out_y0,
                int64_t out_y1, T* col);

// The CPU's three algorithms (cpu/conv2d_kernel.cpp). kIm2colGemm: per tile
// (image, group, band of output rows) im2col into an L2-sized buffer, then
// ATen's GEMM. kDirect: per tile, im2col with the stride's polyphase taps as
// the kernel (an input-sized, zero-padded copy), in which every kernel tap is
// a shifted window, summed in registers: no kh * kw-fold column buffer; both
// fill their buffers with im2col_element. kWinograd (3 x 3, stride 1, any
// dilation): F(2 x 2, 3 x 3), 16 multiplies per 2 x 2 outputs and channel
// pair instead of 36, in chunks of tiles through L2, or with few channels per
// group a vector of tiles at a time in registers.
enum class Conv2dAlgorithm : int { kIm2colGemm = 0, kDirect = 1, kWinograd = 2 };
// Undilated Winograd with at most this many input channels per group runs
// the small-group schedule (cpu/conv2d_kernel.cpp), the chunked one above.
constexpr int64_t kWinogradSmallChannels = 16;

// The FLOPs conv2d_cpu_launch performs with `algorithm`: Winograd's 16
// multiply-adds per 2 x 2 tile and channel pair and its transforms'
// additions, the others the direct count (2 Cin / groups kh kw per output);
// plus the bias.
double conv2d_cpu_work(const Conv2dGeometry& g, int64_t n, int64_t groups, int64_t cout_per_group, bool bias,
                       Conv2dAlgorithm algorithm);

template <typename T>
void conv2d_cpu_launch(const T* x, int64_t n, const Conv2dGeometry& g, int64_t groups, int64_t cout_per_group,
                       const T* weight, const T* bias, Conv2dAlgorithm algorithm, T* y);

#ifdef WITH_CUDA
// col (images, channels * kh * kw, out_h * out_w) for images [0, images) of x.
template <typename T>
void im2col_cuda_launch(const T* x, int64_t images, const Conv2dGeometry& g, T* col, void* stream);
#endif

}  // namespace kernel_arena
