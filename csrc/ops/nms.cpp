// nms: checks, the score threshold and the stable sort by decreasing score
// (equal scores: lower index first), then the device's launcher.
#include "ops/nms.h"

#include <cmath>
#include <limits>
#include <optional>

#include "ops/checks.h"
#include "ops/ops.h"

namespace kernel_arena {

at::Tensor nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold,
               std::optional<double> score_threshold) {
  check_float_tensor(boxes, "boxes", 2);
  check_float_tensor(scores, "scores", 1);
  TORCH_CHECK_VALUE(boxes.size(1) == 4, "boxes must have shape (N, 4); got ", boxes.sizes());
  check_like(scores, "scores", boxes, "boxes");
  TORCH_CHECK_VALUE(scores.size(0) == boxes.size(0), "scores must have one entry per box: boxes has ", boxes.size(0),
                    ", scores has ", scores.size(0));
  // The CPU grid is exact only for thresholds >= 0 (see cpu/nms_kernel.cpp).
  TORCH_CHECK_VALUE(std::isfinite(iou_threshold) && iou_threshold >= 0 && iou_threshold <= 1,
                    "iou_threshold must lie in [0, 1]; got ", iou_threshold);

  at::Tensor candidates, b = boxes, s = scores;
  if (score_threshold) {
    TORCH_CHECK_VALUE(std::isfinite(*score_threshold), "score_threshold must be finite; got ", *score_threshold);
    candidates = at::nonzero(scores > *score_threshold).flatten();
    b = boxes.index_select(0, candidates);
    s = scores.index_select(0, candidates);
  }
  const at::Tensor order = std::get<1>(s.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  const int64_t n = b.size(0);
  at::Tensor kept;
  AT_DISPATCH_FLOATING_TYPES(b.scalar_type(), "nms", [&] {
    const auto threshold = static_cast<scalar_t>(iou_threshold);
    if (b.is_cuda()) {
#ifdef WITH_CUDA
      c10::cuda::CUDAGuard guard(b.device());
      TORCH_CHECK_VALUE(n <= nms_cuda_max_boxes(), "boxes: nms on CUDA takes at most ", nms_cuda_max_boxes(),
                        " boxes; got ", n);
      const at::Tensor sorted = b.index_select(0, order).contiguous();
      const int64_t words = n * ((n + 63) / 64);
      at::Tensor mask = at::empty({words}, b.options().dtype(at::kLong));
      at::Tensor keep = at::empty({n}, b.options().dtype(at::kByte));
      nms_cuda_launch<scalar_t>(sorted.data_ptr<scalar_t>(), n, threshold,
                                reinterpret_cast<uint64_t*>(mask.data_ptr<int64_t>()), keep.data_ptr<uint8_t>(),
                                cuda_stream(b));
      kept = order.index_select(0, at::nonzero(keep).flatten());
#else
      no_cuda_build("nms");
#endif
    } else {
      // The CPU sweep numbers kept boxes with int32 slots (its grid's lists).
      TORCH_CHECK_VALUE(n <= std::numeric_limits<int32_t>::max(), "boxes: nms on the CPU takes at most 2^31 - 1 "
                        "boxes; got ", n);
      at::Tensor slots = at::empty({n}, order.options());
      const int64_t count = nms_cpu_launch<scalar_t>(b.data_ptr<scalar_t>(), order.data_ptr<int64_t>(), n,
                                                     threshold, slots.data_ptr<int64_t>());
      kept = slots.narrow(0, 0, count);
    }
  });
  return score_threshold ? candidates.index_select(0, kept) : kept;
}

}  // namespace kernel_arena
