// box_iou: checks, allocation, and the dtype and device dispatch to the
// launchers in cpu/box_iou_kernel.cpp and cuda/box_iou_kernel.cu.
#include "ops/box_iou.h"

#include "ops/checks.h"
#include "ops/host_outputs.h"
#include "ops/ops.h"

namespace kernel_arena {

at::Tensor box_iou(const at::Tensor& boxes1, const at::Tensor& boxes2) {
  check_float_tensor(boxes1, "boxes1", 2);
  check_float_tensor(boxes2, "boxes2", 2);
  TORCH_CHECK_VALUE(boxes1.size(1) == 4, "boxes1 must have shape (N, 4); got ", boxes1.sizes());
  TORCH_CHECK_VALUE(boxes2.size(1) == 4, "boxes2 must have shape (M, 4); got ", boxes2.sizes());
  check_like(boxes2, "boxes2", boxes1, "boxes1");
  const int64_t n = boxes1.size(0), m = boxes2.size(0);
  at::Tensor out = empty_output({n, m}, boxes1.options(), "boxes1 and boxes2");
  AT_DISPATCH_FLOATING_TYPES(boxes1.scalar_type(), "box_iou", [&] {
    const scalar_t* a = boxes1.data_ptr<scalar_t>();
    const scalar_t* b = boxes2.data_ptr<scalar_t>();
    if (boxes1.is_cuda()) {
#ifdef WITH_CUDA
      c10::cuda::CUDAGuard guard(boxes1.device());
      box_iou_cuda_launch<scalar_t>(a, n, b, m, out.data_ptr<scalar_t>(), cuda_stream(boxes1));
#else
      no_cuda_build("box_iou");
#endif
    } else {
      box_iou_cpu_launch<scalar_t>(a, n, b, m, out.data_ptr<scalar_t>());
    }
  });
  return out;
}

}  // namespace kernel_arena
