"""convlstm_cell: properties every implementation must have -- a 1x1 kernel
is the LSTM cell at every pixel, the zero padding makes the convolution shift
with the image, saturation stays finite -- beyond the matrix's comparison with
the float64 composite."""

from __future__ import annotations

import numpy as np
import pytest

import impls
from impls.convlstm_cell.spec import random_cell

OP = "convlstm_cell"
CPU_IMPLS = [pytest.param(impl, id=impl.name) for impl in impls.implementations(op=OP, device="cpu")]


def _run(impl, inputs):
    if not impl.available:
        pytest.skip(impl.reason)
    return impl.run(**inputs)


@pytest.mark.parametrize("impl", CPU_IMPLS)
def test_kernel_1_equals_lstm_cell_at_every_pixel(impl):
    batch, in_channels, hidden, height, width = 2, 3, 4, 3, 5
    inputs = random_cell(batch, in_channels, hidden, height, width, 1, "float64", seed=7)
    h_next, c_next = _run(impl, inputs)

    def pixels(a):  # (B, C, H, W) -> (B*H*W, C)
        return a.transpose(0, 2, 3, 1).reshape(-1, a.shape[1])

    weight = inputs["weight"][:, :, 0, 0]
    h_cell, c_cell = impls.spec("lstm_cell").reference(
        x=pixels(inputs["x"]), h=pixels(inputs["h"]), c=pixels(inputs["c"]),
        w_ih=weight[:, :in_channels].copy(), w_hh=weight[:, in_channels:].copy(),
        b_ih=inputs["bias"], b_hh=np.zeros_like(inputs["bias"]))
    np.testing.assert_allclose(pixels(h_next), h_cell, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(pixels(c_next), c_cell, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("impl", CPU_IMPLS)
def test_shifting_the_image_shifts_the_output_away_from_the_border(impl):
    # 'same' zero padding: outputs whose receptive field misses the border
    # move with the input; pixels that can see the border may differ.
    inputs = random_cell(1, 2, 2, 7, 8, 3, "float64", seed=8)
    shifted = dict(inputs)
    for name in ("x", "h", "c"):
        shifted[name] = np.zeros_like(inputs[name])
        shifted[name][..., 1:, 2:] = inputs[name][..., :-1, :-2]
    h_next, c_next = _run(impl, inputs)
    h_shift, c_shift = _run(impl, shifted)
    # Rows 1..5 / columns 1..5 of the original see no padding or cut-off.
    np.testing.assert_allclose(h_shift[..., 2:6, 3:7], h_next[..., 1:5, 1:5], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c_shift[..., 2:6, 3:7], c_next[..., 1:5, 1:5], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("impl", CPU_IMPLS)
def test_saturated_inputs_give_finite_outputs_and_gate_limits(impl):
    # x = +-80 through weights of +-1: every pre-activation is past where exp
    # overflows float32.  With all-ones weights and positive input, every
    # gate saturates high: c' = c + tanh(big) = c + 1 and h' = tanh(c + 1).
    inputs = random_cell(1, 2, 2, 4, 4, 3, "float32", seed=9)
    inputs["x"] = np.full_like(inputs["x"], 80.0)
    inputs["h"] = np.ones_like(inputs["h"])
    inputs["weight"] = np.ones_like(inputs["weight"])
    h_next, c_next = _run(impl, inputs)
    assert np.isfinite(h_next).all() and np.isfinite(c_next).all()
    np.testing.assert_allclose(c_next, inputs["c"] + 1, rtol=1e-6)
    np.testing.assert_allclose(h_next, np.tanh(inputs["c"].astype(np.float64) + 1), rtol=1e-6, atol=1e-7)
    inputs["x"] = -inputs["x"]
    inputs["h"] = -inputs["h"]
    h_next, c_next = _run(impl, inputs)  # all gates closed: i = f = o = 0 (to ~1e-35)
    np.testing.assert_allclose(c_next, 0, atol=1e-30)
    np.testing.assert_allclose(h_next, 0, atol=1e-30)


@pytest.mark.parametrize("impl", CPU_IMPLS)
def test_even_kernel_is_rejected_naming_weight(impl):
    inputs = random_cell(1, 2, 3, 4, 4, 3, "float32")
    inputs["weight"] = np.zeros((12, 5, 4, 4), np.float32)
    with pytest.raises(ValueError, match=r"weight must have an odd kernel size k .*got k = 4"):
        _run(impl, inputs)


def test_numba_bands_of_rows_match_the_whole_image():
    numba_impl = impls.get(OP, "numba")
    if not numba_impl.available:
        pytest.skip(numba_impl.reason)
    from impls.convlstm_cell import numba as convlstm_numba

    # 11 rows of 7 pixels in bands of 2 rows (14 pixels): a short last band,
    # and bands whose k = 5 windows reach into the rows of their neighbours.
    inputs = random_cell(2, 3, 2, 11, 7, 5, "float64", seed=10)
    whole = numba_impl.run(**inputs)
    banded = convlstm_numba.banded_convlstm_cell(**inputs, band_pixels=14)
    for got, expected in zip(banded, whole):
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)


def test_cost_model_counts_the_convolution_gemm_and_every_array_once():
    spec = impls.spec(OP)
    inputs = spec.make_inputs(spec.case("b4-32to64-64x64"), "float32")
    pixels = 4 * 64 * 64
    assert inputs["weight"].shape == (256, 96, 3, 3)
    assert spec.flops(**inputs) == 2 * pixels * 256 * 96 * 9 + pixels * 256 + 15 * pixels * 64
    elements = pixels * 32 + 2 * pixels * 64 + 256 * 96 * 9 + 256 + 2 * pixels * 64
    assert spec.bytes_moved(**inputs) == 4 * elements
    assert np.abs(inputs["weight"]).max() <= 1 / np.sqrt(96 * 9)  # Conv2d's U(-1/sqrt(fan_in), 1/sqrt(fan_in))
