"""Every numba.cuda kernel compiles to PTX, in each dtype, with the argument
types its launcher passes -- no GPU needed, only NVVM.

The simulator run (tests/test_matrix.py under NUMBA_ENABLE_CUDASIM=1) checks
what the kernels compute, but it executes them as Python: a kernel that Numba
cannot type for the GPU (a shared-array shape computed in the kernel, a
mixed-signedness integer op, an unsupported call) would pass there and fail
on the first real launch.  Compiling each one here closes that gap; it caught
the two-argument min/max that Numba 0.66-0.68 cannot compile for CUDA
(numba/numba#10753) and a shared-array shape that was not a constant.
"""

from __future__ import annotations

import types as pytypes

import numba
import numpy as np
import pytest
from numba import types

if numba.config.ENABLE_CUDASIM:
    pytest.skip("compiles for the GPU; the simulator has no compiler", allow_module_level=True)

from numba import cuda  # noqa: E402
from numba.cuda.cudadrv import nvvm  # noqa: E402

from impls import numba_cuda_common as common  # noqa: E402
from impls.box_iou import numba_cuda as box_iou  # noqa: E402
from impls.causal_conv1d import numba_cuda as causal_conv1d  # noqa: E402
from impls.conv2d import numba_cuda as conv2d  # noqa: E402
from impls.convlstm_cell import numba_cuda as convlstm_cell  # noqa: E402
from impls.gated_unit import numba_cuda as gated_unit  # noqa: E402
from impls.lstm_cell import numba_cuda as lstm_cell  # noqa: E402
from impls.nms import numba_cuda as nms  # noqa: E402
from impls.wavenet_stream import numba_cuda as wavenet_stream  # noqa: E402

pytestmark = pytest.mark.skipif(not nvvm.is_available(), reason="NVVM (the CUDA toolkit's compiler library) not found")

I64 = types.int64


def _arr(dtype, ndim):
    """The type of a C-contiguous device array, as numba.typeof gives it."""
    return types.Array(numba.from_dtype(np.dtype(dtype)), ndim, "C")


def _kernels(dtype):
    """(name, kernel, argument types) of every kernel, as the launchers call them."""
    f, scalar = (lambda ndim: _arr(dtype, ndim)), numba.from_dtype(np.dtype(dtype))
    gemm_batched, gemm_nt_pair = common.gemm_kernels(dtype)
    gather, mask, reduce = nms._kernels(dtype)
    pack, stream = wavenet_stream._kernels(dtype)
    return [
        ("gemm_batched", gemm_batched, (f(1), f(1), f(1), f(1)) + (I64,) * 6),
        ("gemm_batched-no-bias", gemm_batched, (f(1), f(1), f(1), types.none) + (I64,) * 6),
        ("gemm_nt_pair", gemm_nt_pair, (f(2), f(2), I64, f(2), f(2), I64, f(2), I64, I64)),
        ("conv2d-im2col", conv2d._im2col_kernel(dtype), (f(4), f(4), f(3)) + (I64,) * 11),
        ("causal_conv1d", causal_conv1d._kernel(dtype), (f(3), f(3), f(1), f(3), I64)),
        ("causal_conv1d-no-bias", causal_conv1d._kernel(dtype), (f(3), f(3), types.none, f(3), I64)),
        ("gated_unit-tanh", gated_unit._kernel(dtype, "tanh"), (f(2), f(2))),
        ("gated_unit-glu", gated_unit._kernel(dtype, "glu"), (f(2), f(2))),
        ("lstm_cell-gates", lstm_cell._gate_kernel(dtype), (f(2), f(1), f(1), f(2), f(2), f(2))),
        ("convlstm_cell-gates", convlstm_cell._gate_kernel(dtype), (f(3), f(3), I64, f(3), f(3))),
        ("box_iou", box_iou._kernel(dtype), (f(2), f(2), f(2))),
        ("nms-gather", gather, (f(2), _arr("int64", 1), f(2))),
        ("nms-mask", mask, (f(2), scalar, _arr("uint64", 2))),
        ("nms-reduce", reduce, (_arr("uint64", 2), I64, _arr("uint64", 1), _arr("uint8", 1))),
        ("wavenet-pack", pack, (f(4), f(1))),
        ("wavenet-stream", stream, (f(3), f(4), f(2), _arr("int64", 2), f(3), f(3))),
    ]


@pytest.fixture(scope="module")
def compute_capability():
    """The GPU's, where there is one; else sm_80 with Numba's device query
    answered for it (compiling a kernel's device functions asks the current
    device for its compute capability, which without a GPU cannot answer)."""
    if cuda.is_available():
        yield cuda.get_current_device().compute_capability
        return
    import numba.cuda.dispatcher as dispatcher

    fake = pytypes.SimpleNamespace(compute_capability=(8, 0))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dispatcher, "get_current_device", lambda: fake)
        yield fake.compute_capability


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", [name for name, *_ in _kernels("float32")])
def test_kernel_compiles_to_ptx(name, dtype, compute_capability):
    _, kernel, signature = next(k for k in _kernels(dtype) if k[0] == name)
    ptx, return_type = cuda.compile_ptx(kernel.py_func, signature, cc=compute_capability)
    assert return_type == types.void
    assert ".entry" in ptx
    if dtype == "float32":
        # No float64 arithmetic crept into a float32 kernel (a bare 1.0 or 0.0 would).
        assert ".f64" not in ptx.replace("cvt.f64.f32", ""), f"{name} computes in float64"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gemm_accumulators_stay_in_registers(dtype, compute_capability):
    """The 4 x 4 register block of each GEMM thread must not fall back to local
    memory (a stack array): that would make every FMA a memory access."""
    for name, kernel, signature in _kernels(dtype)[:3]:
        ptx, _ = cuda.compile_ptx(kernel.py_func, signature, cc=compute_capability)
        assert ".local" not in ptx, f"{name} keeps an array in local memory"
