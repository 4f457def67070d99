"""The extension's pool of large CPU outputs (csrc/ops/host_outputs.cpp): memory
is reused only after the tensor that held it is freed, never while it lives."""

import numpy as np
import pytest

from impls.backends.ext import ext_module

_C = ext_module()
pytestmark = pytest.mark.skipif(_C is None, reason="the extension impls._C is not built")


def _boxes(n, seed):
    import torch

    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (n, 2))
    wh = rng.uniform(1, 30, (n, 2))
    return torch.from_numpy(np.concatenate([xy, xy + wh], axis=1).astype(np.float32))


def test_live_output_is_never_handed_out_again():
    a, b = _boxes(1100, 0), _boxes(1100, 1)  # 4.8 MB output: pooled
    first = _C.box_iou(a, b)
    kept = first.clone()
    second = _C.box_iou(b, a)
    assert first.data_ptr() != second.data_ptr()
    assert np.array_equal(first.numpy(), kept.numpy())  # the second call did not write into the first


def test_freed_output_memory_is_reused_with_correct_values():
    a, b = _boxes(1200, 2), _boxes(1200, 3)
    expected = _C.box_iou(a, b).clone()
    out = _C.box_iou(a, b)
    before = _C.pooled_output_bytes()
    del out
    assert _C.pooled_output_bytes() > before  # the block went back to the pool
    again = _C.box_iou(a, b)
    assert _C.pooled_output_bytes() == before  # ... and the next output took a block back
    assert np.array_equal(again.numpy(), expected.numpy())


def test_small_outputs_bypass_the_pool():
    before = _C.pooled_output_bytes()
    out = _C.box_iou(_boxes(10, 4), _boxes(10, 5))
    del out
    assert _C.pooled_output_bytes() == before
