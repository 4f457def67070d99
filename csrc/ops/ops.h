// The extension's public ops: torch tensors in and out, on the CPU or a CUDA
// device. Each is defined in ops/<op>.cpp and bound to Python in bindings.cpp.
#pragma once
#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace kernel_arena {

int64_t pooled_output_bytes();  // ops/host_outputs.cpp
at::Tensor box_iou(const at::Tensor& boxes1, const at::Tensor& boxes2);
at::Tensor nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold,
               std::optional<double> score_threshold);
at::Tensor gated_unit(const at::Tensor& x, const std::string& kind);
std::tuple<at::Tensor, at::Tensor> lstm_cell(const at::Tensor& x, const at::Tensor& h, const at::Tensor& c,
                                             const at::Tensor& w_ih, const at::Tensor& w_hh, const at::Tensor& b_ih,
                                             const at::Tensor& b_hh);
std::tuple<at::Tensor, at::Tensor> convlstm_cell(const at::Tensor& x, const at::Tensor& h, const at::Tensor& c,
                                                 const at::Tensor& weight, const at::Tensor& bias);
at::Tensor conv2d(const at::Tensor& x, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                  const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                  const std::vector<int64_t>& dilation, int64_t groups, const std::string& algorithm);
// The FLOPs the CPU conv2d performs for these shapes and arguments, after
// the same checks: fewer than the direct count where it runs Winograd.
double conv2d_cpu_flops(const std::vector<int64_t>& x_shape, const std::vector<int64_t>& weight_shape,
                        const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                        const std::vector<int64_t>& dilation, int64_t groups, bool bias, const std::string& algorithm);
at::Tensor causal_conv1d(const at::Tensor& x, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                         int64_t dilation);
// The FLOPs the CPU causal_conv1d performs for these shapes (dtype "float32"
// or "float64"): fewer than the plain convolution's where it pairs taps.
double causal_conv1d_cpu_flops(int64_t n, int64_t cin, int64_t cout, int64_t k, int64_t length, int64_t dilation,
                               bool bias, const std::string& dtype);
at::Tensor wavenet_stream(const at::Tensor& x, const at::Tensor& weights, const at::Tensor& biases,
                          const std::vector<int64_t>& dilations, int64_t threads);

}  // namespace kernel_arena
