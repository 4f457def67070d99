"""lstm_cell: properties every implementation must have (gate order, the
limits of saturated gates, independence of batch rows) beyond the matrix's
comparison with torch.lstm_cell."""

from __future__ import annotations

import numpy as np
import pytest

import impls
from impls.lstm_cell.spec import random_cell

OP = "lstm_cell"
CPU_IMPLS = [pytest.param(impl, id=impl.name) for impl in impls.implementations(op=OP, device="cpu")]
GATES = ("i", "f", "g", "o")


def _run(impl, inputs):
    if not impl.available:
        pytest.skip(impl.reason)
    return impl.run(**inputs)


def _with_gate_biases(inputs, **bias_per_gate):
    """Zero weights; b_ih set per gate block (i, f, g, o), b_hh zero."""
    hidden = inputs["h"].shape[1]
    dtype = inputs["x"].dtype
    out = dict(inputs)
    out["w_ih"] = np.zeros_like(inputs["w_ih"])
    out["w_hh"] = np.zeros_like(inputs["w_hh"])
    out["b_ih"] = np.repeat(np.array([bias_per_gate.get(g, 0.0) for g in GATES], dtype), hidden)
    out["b_hh"] = np.zeros_like(inputs["b_hh"])
    return out


@pytest.mark.parametrize("impl", CPU_IMPLS)
def test_zero_weights_and_biases_give_half_the_cell(impl):
    # Every pre-activation is 0: i = f = o = 1/2, g = 0, so c' = c / 2 and
    # h' = tanh(c / 2) / 2.
    inputs = _with_gate_biases(random_cell(3, 4, 5, "float64", seed=2))
    h_next, c_next = _run(impl, inputs)
    c = inputs["c"]
    np.testing.assert_allclose(c_next, c / 2, rtol=1e-15, atol=0)
    np.testing.assert_allclose(h_next, np.tanh(c / 2) / 2, rtol=4e-15, atol=0)


@pytest.mark.parametrize("impl", CPU_IMPLS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_open_forget_gate_and_closed_input_gate_keep_the_cell_exactly(impl, dtype):
    # f = sigmoid(80) rounds to 1 and i = sigmoid(-80) to ~1e-35: c' = c.
    inputs = _with_gate_biases(random_cell(2, 3, 4, dtype, seed=3), i=-80.0, f=80.0, g=5.0, o=80.0)
    h_next, c_next = _run(impl, inputs)
    np.testing.assert_array_equal(c_next, inputs["c"])
    np.testing.assert_allclose(h_next, np.tanh(inputs["c"].astype(np.float64)), rtol=1e-6 if dtype == "float32"
                               else 1e-14)


@pytest.mark.parametrize("impl", CPU_IMPLS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_each_gate_block_drives_its_own_gate_in_order_i_f_g_o(impl, dtype):
    # Saturate every gate to a different limit: i = 1, f = 0, g = -1, o = 1
    # gives c' = -1 and h' = tanh(-1) whatever c was; any other block order
    # gives something else.
    inputs = _with_gate_biases(random_cell(2, 3, 4, dtype, seed=4), i=80.0, f=-80.0, g=-80.0, o=80.0)
    h_next, c_next = _run(impl, inputs)
    assert np.isfinite(h_next).all() and np.isfinite(c_next).all()
    np.testing.assert_allclose(c_next, -1.0, rtol=0, atol=1e-30)
    np.testing.assert_allclose(h_next, np.tanh(-1.0), rtol=1e-6 if dtype == "float32" else 1e-15)


@pytest.mark.parametrize("impl", CPU_IMPLS)
def test_saturated_inputs_give_finite_outputs_in_float32(impl):
    # x = +-80 through unit weights: pre-activations of +-80 (I + H), far past
    # where exp overflows float32.
    inputs = random_cell(2, 6, 3, "float32", seed=5)
    inputs["x"] = np.where(np.arange(12).reshape(2, 6) % 2, 80.0, -80.0).astype(np.float32) * 100
    inputs["w_ih"] = np.ones_like(inputs["w_ih"])
    h_next, c_next = _run(impl, inputs)
    assert np.isfinite(h_next).all() and np.isfinite(c_next).all()
    assert (np.abs(h_next) <= 1).all()


@pytest.mark.parametrize("impl", CPU_IMPLS)
def test_batch_rows_are_independent(impl):
    inputs = random_cell(3, 5, 4, "float64", seed=6)
    h_all, c_all = _run(impl, inputs)
    for row in range(3):
        one = {k: v[row : row + 1] if k in ("x", "h", "c") else v for k, v in inputs.items()}
        h_one, c_one = _run(impl, one)
        np.testing.assert_allclose(h_one, h_all[row : row + 1], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(c_one, c_all[row : row + 1], rtol=1e-13, atol=1e-15)


def test_reference_matches_torch_nn_lstmcell_module():
    torch = pytest.importorskip("torch")
    cell = torch.nn.LSTMCell(5, 4).double()
    x, h, c = torch.randn(3, 5, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64), torch.randn(
        3, 4, dtype=torch.float64)
    with torch.no_grad():
        h_expected, c_expected = cell(x, (h, c))
    params = {"w_ih": cell.weight_ih, "w_hh": cell.weight_hh, "b_ih": cell.bias_ih, "b_hh": cell.bias_hh}
    h_ref, c_ref = impls.spec(OP).reference(x=x.numpy(), h=h.numpy(), c=c.numpy(),
                                            **{k: v.detach().numpy() for k, v in params.items()})
    np.testing.assert_allclose(h_ref, h_expected.numpy(), rtol=1e-14)
    np.testing.assert_allclose(c_ref, c_expected.numpy(), rtol=1e-14)


def test_make_inputs_initialises_weights_as_pytorch():
    spec = impls.spec(OP)
    inputs = spec.make_inputs(spec.case("B64"), "float32", seed=0)
    bound = 1 / np.sqrt(512)
    assert inputs["w_ih"].shape == (2048, 256) and inputs["w_hh"].shape == (2048, 512)
    for name in ("w_ih", "w_hh", "b_ih", "b_hh"):
        assert np.abs(inputs[name]).max() <= bound
    assert {c.name: (c.params["batch"], c.params["input_size"], c.params["hidden_size"]) for c in spec.cases} == {
        "small": (3, 5, 4), "B1": (1, 256, 256), "B64": (64, 256, 512), "B256": (256, 1024, 1024)}


def test_cost_model_counts_both_gemms_and_every_array_once():
    spec = impls.spec(OP)
    inputs = random_cell(64, 256, 512, "float32")
    assert spec.flops(**inputs) == 2 * 64 * 2048 * (256 + 512) + 2 * 64 * 2048 + 15 * 64 * 512
    elements = 64 * 256 + 2 * 64 * 512 + 2048 * 256 + 2048 * 512 + 2 * 2048 + 2 * 64 * 512
    assert spec.bytes_moved(**inputs) == 4 * elements
