// The extension's public ops: torch tensors in and out, on the CPU or a CUDA
// device. Each is defined in ops/<op>.cpp and bound to Python in bindings.cpp.
#pragma once
#include <ATen/core/Tensor.h>

#include <optional>
#include <string>

namespace kernel_arena {

at::Tensor box_iou(const at::Tensor& boxes1, const at::Tensor& boxes2);
at::Tensor nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold,
               std::optional<double> score_threshold);
at::Tensor gated_unit(const at::Tensor& x, const std::string& kind);

}  // namespace kernel_arena
