// gated_unit: checks, allocation, dtype and device dispatch.
#include "ops/gated_unit.h"

#include <string>

#include "ops/checks.h"
#include "ops/host_outputs.h"
#include "ops/ops.h"

namespace kernel_arena {

at::Tensor gated_unit(const at::Tensor& x, const std::string& kind) {
  check_float_tensor(x, "x", 3);
  TORCH_CHECK_VALUE(x.size(1) % 2 == 0, "x must have an even number of channels (2C); got ", x.size(1));
  TORCH_CHECK_VALUE(kind == "tanh" || kind == "glu", "kind must be 'tanh' or 'glu'; got '", kind, "'");
  const GateKind gate_kind = kind == "tanh" ? GateKind::kTanh : GateKind::kGlu;
  const int64_t n = x.size(0), c = x.size(1) / 2, l = x.size(2);
  at::Tensor out = empty_output({n, c, l}, x.options(), "x");
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gated_unit", [&] {
    if (x.is_cuda()) {
#ifdef WITH_CUDA
      c10::cuda::CUDAGuard guard(x.device());
      gated_unit_cuda_launch<scalar_t>(x.data_ptr<scalar_t>(), n, c, l, gate_kind, out.data_ptr<scalar_t>(),
                                       cuda_stream(x));
#else
      no_cuda_build("gated_unit");
#endif
    } else {
      gated_unit_cpu_launch<scalar_t>(x.data_ptr<scalar_t>(), n, c, l, gate_kind, out.data_ptr<scalar_t>());
    }
  });
  return out;
}

}  // namespace kernel_arena
