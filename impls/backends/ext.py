"""The project's own C++/CUDA extension (impls._C, from csrc/); its arrays
are torch tensors, its kernels launch on torch's current stream."""

import functools

from impls.backends import register
from impls.backends.torch import TorchBackend

_ext_error = ""


@functools.cache
def ext_module():
    """impls._C, or None if it is not built (the reason goes to ext's availability)."""
    global _ext_error
    try:
        import torch  # noqa: F401  (loads libtorch, which impls._C links against)

        from impls import _C
    except ImportError as exc:
        _ext_error = str(exc)
        return None
    return _C


class ExtBackend(TorchBackend):
    name = "ext"
    order = 5

    def unavailable_reason(self, device):
        if ext_module() is None:
            return f"the extension impls._C is not built ({_ext_error}); reinstall: pip install -e ."
        return super().unavailable_reason(device)

    def cuda_reason(self):
        if not ext_module().with_cuda:
            return "the extension was built without CUDA (no nvcc at build time)"
        return super().cuda_reason()


register(ExtBackend())
