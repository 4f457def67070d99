"""causal_conv1d in the project's extension (csrc/ops/causal_conv1d*).

CPU: a direct convolution per tile (sample, band of times): the band's input
is copied once, with the causal zeros in place, so that every tap is a
shifted window of the copy, and a register block of 8 output channels x 48
times sums the taps in registers -- no padded input, no k-fold column buffer,
no GEMM call. Where the dilation is at least a SIMD vector and the sequence
at least 8 dilations (WaveNet's layers), outputs go in pairs (t, t + d), each
pair of taps taking Winograd's F(2, 2): 3 products instead of 4. CUDA: an
implicit GEMM, the taps staged in shared memory straight from x.
"""

from impls.backends.ext import ext_module
from impls.registry import register

_C = ext_module()


def _cpu_work(x, weight, bias, dilation):
    """The FLOPs of the CPU kernel, F(2, 2) pairs included (the extension says)."""
    (n, cin, length), (cout, _, k) = x.shape, weight.shape
    return _C.causal_conv1d_cpu_flops(n, cin, cout, k, length, int(dilation), bias is not None, x.dtype.name)


@register("causal_conv1d", backend="ext", device="cuda")
@register("causal_conv1d", backend="ext", device="cpu", work=_cpu_work)
def causal_conv1d(x, weight, bias, dilation):
    return _C.causal_conv1d(x, weight, bias, dilation)
