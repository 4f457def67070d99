// lstm_cell: checks, the GEMMs through ATen's operators (oneDNN or MKL on the
// CPU, cuBLAS on the GPU), and the dtype and device dispatch of the fused
// gate pass.
#include "ops/lstm_cell.h"

#include <ATen/core/dispatch/Dispatcher.h>

#include <optional>
#include <string_view>
#include <tuple>

#include "ops/checks.h"
#include "ops/ops.h"

namespace kernel_arena {

// Batches up to this size take the fused GEMV path on the CPU. Measured at
// I = H = 256 on 2 threads against the GEMM path (oneDNN, see below): under
// half its time at B = 1 to 4, and still ahead at B = 8 (140 us, ~18 us a
// row, against 210-235 us for the GEMM path at B = 9 to 16).
constexpr int64_t kGemvMaxBatch = 8;

// torch's oneDNN linear (the operator torch.compile's CPU backend emits), or
// nullopt where this torch build lacks it.
using OnednnLinear = at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
                                std::string_view, c10::List<std::optional<at::Scalar>>, std::optional<std::string_view>);
static const std::optional<c10::TypedOperatorHandle<OnednnLinear>>& onednn_linear() {
  static const std::optional<c10::TypedOperatorHandle<OnednnLinear>> op =
      []() -> std::optional<c10::TypedOperatorHandle<OnednnLinear>> {
    const auto handle = c10::Dispatcher::singleton().findSchema({"mkldnn::_linear_pointwise", ""});
    if (!handle) return std::nullopt;
    try {
      return handle->typed<OnednnLinear>();
    } catch (const c10::Error&) {  // a later torch changed its signature
      return std::nullopt;
    }
  }();
  return op;
}

// a @ weight^T, (rows, k) x (n, k) -> (rows, n). float32 on the CPU goes to
// oneDNN's matmul where torch has it: measured here, both GEMMs of B256 took
// 21-23 ms through it against 31 ms through at::mm (MKL, ~140 GFLOP/s on this
// AMD CPU), and B64 1.5-1.7 ms against 2.1 ms. Everything else (float64, CUDA,
// torch.backends.mkldnn disabled, empty operands, which oneDNN rejects) takes
// at::mm.
static at::Tensor matmul_transposed(const at::Tensor& a, const at::Tensor& weight) {
  if (a.is_cpu() && a.scalar_type() == at::kFloat && a.numel() > 0 && weight.numel() > 0 &&
      at::globalContext().userEnabledMkldnn() && onednn_linear()) {
    return onednn_linear()
        ->call(a, weight, std::nullopt, "none", c10::List<std::optional<at::Scalar>>(), std::nullopt)
        .contiguous();
  }
  return at::mm(a, weight.t());
}

std::tuple<at::Tensor, at::Tensor> lstm_cell(const at::Tensor& x, const at::Tensor& h, const at::Tensor& c,
                                             const at::Tensor& w_ih, const at::Tensor& w_hh, const at::Tensor& b_ih,
                                             const at::Tensor& b_hh) {
  check_float_tensor(x, "x", 2);
  check_float_tensor(h, "h", 2);
  check_float_tensor(c, "c", 2);
  check_float_tensor(w_ih, "w_ih", 2);
  check_float_tensor(w_hh, "w_hh", 2);
  check_float_tensor(b_ih, "b_ih", 1);
  check_float_tensor(b_hh, "b_hh", 1);
  check_like(h, "h", x, "x");
  check_like(c, "c", x, "x");
  check_like(w_ih, "w_ih", x, "x");
  check_like(w_hh, "w_hh", x, "x");
  check_like(b_ih, "b_ih", x, "x");
  check_like(b_hh, "b_hh", x, "x");
  const int64_t batch = x.size(0), input_size = x.size(1), hidden = h.size(1);
  // An empty h may claim any H: 4 H is checked before it is compared.
  const int64_t gate_rows = checked_mul(4, hidden, "h");
  TORCH_CHECK_VALUE(h.size(0) == batch, "h must have the batch of x (B = ", batch, "); got shape ", h.sizes());
  TORCH_CHECK_VALUE(c.sizes() == h.sizes(), "c must have the shape of h, ", h.sizes(), "; got ", c.sizes());
  TORCH_CHECK_VALUE(w_ih.size(0) == gate_rows && w_ih.size(1) == input_size, "w_ih must have shape (4*H, I) = (",
                    gate_rows, ", ", input_size, "); got ", w_ih.sizes());
  TORCH_CHECK_VALUE(w_hh.size(0) == gate_rows && w_hh.size(1) == hidden, "w_hh must have shape (4*H, H) = (",
                    gate_rows, ", ", hidden, "); got ", w_hh.sizes());
  TORCH_CHECK_VALUE(b_ih.size(0) == gate_rows, "b_ih must have shape (4*H,) = (", gate_rows, ",); got ",
                    b_ih.sizes());
  TORCH_CHECK_VALUE(b_hh.size(0) == gate_rows, "b_hh must have shape (4*H,) = (", gate_rows, ",); got ",
                    b_hh.sizes());

  at::Tensor h_next = at::empty({batch, hidden}, x.options());
  at::Tensor c_next = at::empty({batch, hidden}, x.options());
  const bool fused_gemv = x.is_cpu() && batch <= kGemvMaxBatch;
  at::Tensor gates_x, gates_h;
  if (!fused_gemv) {
    // Two GEMMs rather than one on a packed [W_ih | W_hh]: packing copies
    // every weight on every call.
    gates_x = matmul_transposed(x, w_ih);
    gates_h = matmul_transposed(h, w_hh);
  }
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstm_cell", [&] {
    const scalar_t* c_ptr = c.data_ptr<scalar_t>();
    const scalar_t* b_ih_ptr = b_ih.data_ptr<scalar_t>();
    const scalar_t* b_hh_ptr = b_hh.data_ptr<scalar_t>();
    scalar_t* h_out = h_next.data_ptr<scalar_t>();
    scalar_t* c_out = c_next.data_ptr<scalar_t>();
    if (x.is_cuda()) {
#ifdef WITH_CUDA
      c10::cuda::CUDAGuard guard(x.device());
      lstm_gates_cuda_launch<scalar_t>(gates_x.data_ptr<scalar_t>(), gates_h.data_ptr<scalar_t>(), b_ih_ptr, b_hh_ptr,
                                       c_ptr, batch, hidden, h_out, c_out, cuda_stream(x));
#else
      no_cuda_build("lstm_cell");
#endif
    } else if (fused_gemv) {
      lstm_cell_gemv_cpu_launch<scalar_t>(x.data_ptr<scalar_t>(), h.data_ptr<scalar_t>(), c_ptr,
                                          w_ih.data_ptr<scalar_t>(), w_hh.data_ptr<scalar_t>(), b_ih_ptr, b_hh_ptr,
                                          batch, input_size, hidden, h_out, c_out);
    } else {
      lstm_gates_cpu_launch<scalar_t>(gates_x.data_ptr<scalar_t>(), gates_h.data_ptr<scalar_t>(), b_ih_ptr, b_hh_ptr,
                                      c_ptr, batch, hidden, h_out, c_out);
    }
  });
  return {h_next, c_next};
}

}  // namespace kernel_arena
