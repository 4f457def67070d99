// lstm_cell: checks, the GEMMs through ATen (MKL on the CPU, cuBLAS on the
// GPU), and the dtype and device dispatch of the fused gate pass.
#include "ops/lstm_cell.h"

#include <tuple>

#include "ops/checks.h"
#include "ops/ops.h"

namespace kernel_arena {

// Batches up to this size take the fused GEMV path on the CPU. Measured at
// I = H = 256 on 2 threads: the GEMV path took 0.3-0.4x the time of ATen's
// GEMMs plus the gate pass at B = 1, 0.6x at B = 4, and broke even at B = 8,
// where each weight row loaded serves enough rows for MKL's blocking to win.
constexpr int64_t kGemvMaxBatch = 4;

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
  TORCH_CHECK(h.size(0) == batch, "h must have the batch of x (B = ", batch, "); got shape ", h.sizes());
  TORCH_CHECK(c.sizes() == h.sizes(), "c must have the shape of h, ", h.sizes(), "; got ", c.sizes());
  TORCH_CHECK(w_ih.size(0) == 4 * hidden && w_ih.size(1) == input_size, "w_ih must have shape (4*H, I) = (",
              4 * hidden, ", ", input_size, "); got ", w_ih.sizes());
  TORCH_CHECK(w_hh.size(0) == 4 * hidden && w_hh.size(1) == hidden, "w_hh must have shape (4*H, H) = (", 4 * hidden,
              ", ", hidden, "); got ", w_hh.sizes());
  TORCH_CHECK(b_ih.size(0) == 4 * hidden, "b_ih must have shape (4*H,) = (", 4 * hidden, ",); got ", b_ih.sizes());
  TORCH_CHECK(b_hh.size(0) == 4 * hidden, "b_hh must have shape (4*H,) = (", 4 * hidden, ",); got ", b_hh.sizes());

  at::Tensor h_next = at::empty({batch, hidden}, x.options());
  at::Tensor c_next = at::empty({batch, hidden}, x.options());
  const bool fused_gemv = x.is_cpu() && batch <= kGemvMaxBatch;
  at::Tensor gates;
  if (!fused_gemv) {
    // Two GEMMs into one buffer (beta = 1 on the second) rather than one on a
    // packed [W_ih | W_hh]: packing copies every weight on every call.
    gates = at::mm(x, w_ih.t());
    gates.addmm_(h, w_hh.t());
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
      lstm_gates_cuda_launch<scalar_t>(gates.data_ptr<scalar_t>(), b_ih_ptr, b_hh_ptr, c_ptr, batch, hidden, h_out,
                                       c_out, cuda_stream(x));
#else
      no_cuda_build("lstm_cell");
#endif
    } else if (fused_gemv) {
      lstm_cell_gemv_cpu_launch<scalar_t>(x.data_ptr<scalar_t>(), h.data_ptr<scalar_t>(), c_ptr,
                                          w_ih.data_ptr<scalar_t>(), w_hh.data_ptr<scalar_t>(), b_ih_ptr, b_hh_ptr,
                                          batch, input_size, hidden, h_out, c_out);
    } else {
      lstm_gates_cpu_launch<scalar_t>(gates.data_ptr<scalar_t>(), b_ih_ptr, b_hh_ptr, c_ptr, batch, hidden, h_out,
                                      c_out);
    }
  });
  return {h_next, c_next};
}

}  // namespace kernel_arena
