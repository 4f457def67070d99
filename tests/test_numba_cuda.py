"""numba_cuda on inputs shaped to cross every tile, step and loop boundary of
its kernels, which the matrix's small cases (a few dozen outputs) do not:
GEMM tiles in rows, columns and K, im2col steps, several 64-box nms tiles,
box_iou tiles in both directions, wavenet threads looping over channels.

These run wherever numba_cuda runs: on a GPU, and in CI under Numba's CUDA
simulator (nox -s tests runs this file with NUMBA_ENABLE_CUDASIM=1 in a
process of its own).  Elsewhere they skip: no CUDA device.
"""

from __future__ import annotations

import numpy as np
import pytest

import impls
from impls import boxes as box_generators
from impls.convlstm_cell.spec import random_cell as random_convlstm_cell
from impls.lstm_cell.spec import random_cell as random_lstm_cell
from impls.nms.numba_cuda import TILE as NMS_TILE
from impls.numba_cuda_common import GEMM_BK, GEMM_BM, GEMM_BN

pytestmark = pytest.mark.gpu


def _check(op, inputs, **options):
    """Run op's numba_cuda implementation with extra keyword ``options`` and
    compare with the op's reference under the op's own rule."""
    impl = impls.get(op, "numba_cuda", "cuda")
    if not impl.available:
        pytest.skip(impl.reason)
    spec = impl.spec
    checked = spec.validate(**inputs)
    output = impl.call({**impl.prepare(checked), **options})
    impl.synchronize()
    verdict = spec.compare(impl.to_numpy(output, checked), spec.reference(**checked), checked)
    assert verdict.ok, verdict.message


def test_lstm_gemm_crosses_row_column_and_k_tiles():
    # M = B = 66 and N = 4H = 68 exceed one 64 x 64 tile; K = I + H = 27 spans
    # two K steps, and the switch from x/w_ih to h/w_hh (at k = 10) falls inside the first.
    batch, input_size, hidden = GEMM_BM + 2, 10, (GEMM_BN + 4) // 4
    assert input_size + hidden > GEMM_BK
    _check("lstm_cell", random_lstm_cell(batch, input_size, hidden, "float32", seed=3))


def _conv_inputs(dtype, n, cin, cout, hw, k, groups, bias=True, seed=4):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((n, cin, *hw)).astype(dtype),
        "weight": rng.uniform(-0.5, 0.5, (cout, cin // groups, k, k)).astype(dtype),
        "bias": rng.uniform(-0.5, 0.5, cout).astype(dtype) if bias else None,
    }


def test_conv2d_gemm_crosses_row_and_column_tiles():
    # 66 output channels (two row tiles) by 9 x 8 = 72 pixels (two column tiles).
    inputs = _conv_inputs("float64", 1, 2, GEMM_BM + 2, (9, 8), 1, groups=1)
    _check("conv2d", {**inputs, "stride": 1, "padding": 0, "dilation": 1, "groups": 1})


@pytest.mark.parametrize("im2col_step", [1, 2])
def test_conv2d_grouped_strided_dilated_in_im2col_steps(im2col_step):
    # Three images in steps of 1 or 2 (the last step short), two groups, and
    # K = 2 x 3 x 3 = 18 > GEMM_BK per group.
    inputs = _conv_inputs("float32", 3, 4, 6, (9, 11), 3, groups=2)
    _check("conv2d", {**inputs, "stride": (2, 1), "padding": (1, 2), "dilation": (2, 1), "groups": 2},
           im2col_step=im2col_step)


def test_conv2d_without_bias_in_steps():
    inputs = _conv_inputs("float64", 2, 3, 4, (5, 5), 3, groups=1, bias=False)
    _check("conv2d", {**inputs, "stride": 1, "padding": 1, "dilation": 1, "groups": 1}, im2col_step=1)


def test_convlstm_cell_in_im2col_steps():
    # One image per step: the second step's gate pass writes at image offset n0 = 1.
    _check("convlstm_cell", random_convlstm_cell(2, 2, 3, 4, 5, 3, "float32", seed=5), im2col_step=1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_box_iou_crosses_tiles_both_ways(dtype):
    rng = np.random.default_rng(6)
    boxes1, _ = box_generators.detector_boxes(19, rng)  # three 8-row tiles, the last partial
    boxes2, _ = box_generators.detector_boxes(40, rng)  # two 32-column tiles
    boxes2[5] = boxes2[5, [0, 1, 0, 1]]  # a zero-area box
    _check("box_iou", {"boxes1": boxes1.astype(dtype), "boxes2": boxes2.astype(dtype)})


@pytest.mark.parametrize("score_threshold", [None, 0.3])
def test_nms_over_three_tiles(score_threshold):
    # 2 * 64 + 5 boxes: three mask tiles, the last nearly empty; the score
    # threshold removes boxes before the tiling, so the tiles hold other boxes.
    rng = np.random.default_rng(7)
    boxes, scores = box_generators.detector_boxes(2 * NMS_TILE + 5, rng)
    inputs = {"boxes": boxes.astype("float32"), "scores": scores.astype("float32"), "iou_threshold": 0.5,
              "score_threshold": score_threshold}
    _check("nms", inputs)
    kept = impls.get("nms", "numba_cuda", "cuda").run(**inputs)
    assert 0 < len(kept) < len(boxes)  # the case really suppresses, and keeps


@pytest.mark.parametrize("threads", [3, 5])
def test_wavenet_stream_with_fewer_threads_than_channels(threads):
    # C = 4: threads loop over the 2C = 8 gate outputs and the 4 channels.
    rng = np.random.default_rng(8)
    channels, dilations = 4, (1, 3, 2)
    inputs = {
        "x": rng.standard_normal((2, channels, 9)).astype("float32"),
        "weights": (rng.standard_normal((3, 2 * channels, channels, 2)) / np.sqrt(2 * channels)).astype("float32"),
        "biases": (0.1 * rng.standard_normal((3, 2 * channels))).astype("float32"),
        "dilations": dilations,
    }
    _check("wavenet_stream", inputs, threads=threads)
