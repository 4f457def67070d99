// The one place the extension meets Python: every op of ops/ops.h, bound with
// pybind11 as impls._C.<op>.
#include <torch/extension.h>

#include "ops/ops.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "Kernel Arena's native kernels (C++/OpenMP on the CPU, CUDA on the GPU)";
#ifdef WITH_CUDA
  m.attr("with_cuda") = true;
#else
  m.attr("with_cuda") = false;
#endif
  m.def("pooled_output_bytes", &kernel_arena::pooled_output_bytes,
        "bytes of released large CPU outputs held for reuse by the next output");
  m.def("box_iou", &kernel_arena::box_iou, "IoU of every pair of two box sets", py::arg("boxes1"),
        py::arg("boxes2"));
  m.def("nms", &kernel_arena::nms, "greedy non-maximum suppression: kept indices by decreasing score",
        py::arg("boxes"), py::arg("scores"), py::arg("iou_threshold"), py::arg("score_threshold") = py::none());
  m.def("gated_unit", &kernel_arena::gated_unit, "tanh(a) * sigmoid(b) or a * sigmoid(b) for x = [a | b]",
        py::arg("x"), py::arg("kind"));
  m.def("lstm_cell", &kernel_arena::lstm_cell, "one LSTM cell step -> (h', c'), gates i, f, g, o", py::arg("x"),
        py::arg("h"), py::arg("c"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"), py::arg("b_hh"));
  m.def("convlstm_cell", &kernel_arena::convlstm_cell, "one ConvLSTM cell step -> (h', c')", py::arg("x"),
        py::arg("h"), py::arg("c"), py::arg("weight"), py::arg("bias"));
  m.def("conv2d", &kernel_arena::conv2d,
        "2-D convolution; algorithm 'auto', 'direct' (CPU), 'winograd' (CPU) or 'im2col' (+ GEMM)", py::arg("x"),
        py::arg("weight"), py::arg("bias"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        py::arg("groups"), py::arg("algorithm") = "auto");
  m.def("conv2d_cpu_flops", &kernel_arena::conv2d_cpu_flops,
        "the FLOPs the CPU conv2d performs for these shapes (Winograd's where 'auto' or 'winograd' runs it)",
        py::arg("x_shape"), py::arg("weight_shape"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        py::arg("groups"), py::arg("bias"), py::arg("algorithm") = "auto");
  m.def("causal_conv1d", &kernel_arena::causal_conv1d, "dilated causal 1-D convolution (left zero padding)",
        py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("dilation"));
  m.def("causal_conv1d_cpu_flops", &kernel_arena::causal_conv1d_cpu_flops,
        "the FLOPs the CPU causal_conv1d performs (F(2, 2) tap pairs where it takes them)", py::arg("n"),
        py::arg("cin"), py::arg("cout"), py::arg("k"), py::arg("length"), py::arg("dilation"), py::arg("bias"),
        py::arg("dtype"));
  m.def("wavenet_stream", &kernel_arena::wavenet_stream,
        "a WaveNet residual stack run step by step with per-layer queues; threads 0: chosen by the extension",
        py::arg("x"), py::arg("weights"), py::arg("biases"), py::arg("dilations"), py::arg("threads") = 0);
}
