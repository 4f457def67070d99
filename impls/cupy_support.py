"""CuPy plumbing shared by the ``impls/<op>/cupy.py`` files.

Each op keeps its CUDA C source beside its ``cupy.py`` (``cupy_kernels.cu``)
and declares it once as a :class:`CudaSource`: the file and the kernels Python
launches from it, as NVRTC name expressions in which ``{T}`` stands for the
element type (``"box_iou_kernel<{T}>"``).  That one declaration serves both
sides of the contract:

- at run time, ``CudaSource.function(kernel, dtype)`` compiles the source
  with the name expressions of that dtype (``cupy.RawModule``), on the first
  call only, and caches the module and the kernel;
- in CI, ``tests/test_cupy_kernels.py`` compiles every source with NVRTC for
  sm_80 and sm_90 with the name expressions of every dtype, so each kernel
  Python can launch is known to compile, without a GPU.

cupy itself is imported on first use, never when ``impls`` is imported: a
machine without a GPU (or without cupy) still lists the cupy implementations,
as unavailable with the backend's reason.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np

# CuPy adds the device's -arch and -ftz=true itself; C++17 is its default
# from v14 on, stated here so older releases compile the same language.
NVRTC_OPTIONS = ("--std=c++17",)
CTYPES = {"float32": "float", "float64": "double"}

# Threads per block of the elementwise and grid-stride kernels: 8 warps, a
# size at which every kernel here reaches full occupancy on sm_80/sm_90.
THREADS = 256
# Grid-stride kernels launch at most this many blocks along a grid dimension
# (the rest of the work loops): far more than the ~130 SMs x 8 resident blocks
# of an H100, and within the 65535 limit of grid y and z. Read at call time,
# so the emulator tests can lower it to exercise the loops.
MAX_BLOCKS = 65535
# Shared memory a block may use without opting in to more (all CUDA GPUs),
# and the part of it a kernel launched with dynamic shared memory may ask
# for: the rest is left to its static __shared__ variables (the NVRTC check
# in tests/test_cupy_kernels.py holds those kernels to this reserve).
SHARED_MEMORY_BYTES = 48 * 1024
STATIC_SHARED_RESERVE = 1024
DYNAMIC_SHARED_BYTES = SHARED_MEMORY_BYTES - STATIC_SHARED_RESERVE

_cupy = None


def cupy():
    """The cupy module, imported on first use."""
    global _cupy
    if _cupy is None:
        import cupy as module

        _cupy = module
    return _cupy


def blocks(total: int, threads: int = THREADS) -> int:
    """Blocks of a 1-D grid-stride launch over ``total`` items (at least one)."""
    return max(1, min((total + threads - 1) // threads, MAX_BLOCKS))


def i64(*values) -> tuple:
    """Integers as the ``long long`` kernel arguments they must be: CuPy passes
    each argument by the size of its (NumPy) type, so the types are explicit."""
    return tuple(np.int64(v) for v in values)


_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]+"([^"]+)"[ \t]*$', re.MULTILINE)


def expand_includes(path: Path, _seen: set | None = None) -> str:
    """The text of ``path`` with each ``#include "file"`` (relative to the
    including file) replaced by that file's text, once per file.

    CuPy's on-disk kernel cache keys on the source text it is given, not on
    the headers that text includes: inlining them makes an edit of a shared
    header recompile every kernel that uses it.  ``#line`` directives keep
    NVRTC's messages pointing at the original files and lines.
    """
    path = Path(path).resolve()
    seen = set() if _seen is None else _seen
    seen.add(path)
    text = path.read_text()
    pieces, last = [], 0
    for match in _INCLUDE.finditer(text):
        pieces.append(text[last : match.start()])
        included = (path.parent / match.group(1)).resolve()
        if not included.is_file():
            raise FileNotFoundError(f"{path.name}: #include \"{match.group(1)}\" not found at {included}")
        if included not in seen:
            line_after = text.count("\n", 0, match.end()) + 2
            pieces.append(f'#line 1 "{included.name}"\n')
            pieces.append(expand_includes(included, seen).rstrip("\n") + "\n")
            pieces.append(f'#line {line_after} "{path.name}"')
        last = match.end()
    pieces.append(text[last:])
    return "".join(pieces)


SOURCES: list[CudaSource] = []  # every declared source, for the NVRTC check and the emulator tests


class CudaSource:
    """One CUDA C file and the kernels Python launches from it."""

    def __init__(self, path, kernels: tuple[str, ...], dtypes: tuple[str, ...] = ("float32", "float64")):
        self.path = Path(path)
        self.kernels = tuple(kernels)
        self.dtypes = tuple(dtypes)
        self._text: str | None = None
        self._modules: dict = {}
        self._functions: dict = {}
        self._lock = threading.Lock()
        SOURCES.append(self)

    def source(self) -> str:
        """The text NVRTC compiles (includes inlined)."""
        if self._text is None:
            self._text = expand_includes(self.path)
        return self._text

    def name_expressions(self, dtype: str) -> tuple[str, ...]:
        """The kernels of one dtype, as NVRTC name expressions (deduplicated:
        a kernel without ``{T}`` is the same in every dtype)."""
        ctype = CTYPES[dtype]
        return tuple(dict.fromkeys(kernel.format(T=ctype) for kernel in self.kernels))

    def all_name_expressions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e for dtype in self.dtypes for e in self.name_expressions(dtype)))

    def function(self, kernel: str, dtype):
        """The compiled kernel ``kernel`` (one of ``self.kernels``) for ``dtype``;
        compiled on the first call for that dtype, then cached."""
        dtype = np.dtype(dtype).name
        key = (kernel, dtype)
        function = self._functions.get(key)
        if function is not None:
            return function
        if kernel not in self.kernels:
            raise KeyError(f"{kernel!r} is not declared in {self.path.name}'s kernels {self.kernels}")
        if dtype not in self.dtypes:
            raise TypeError(f"{self.path.name} has no {dtype} kernels; dtypes: {', '.join(self.dtypes)}")
        with self._lock:
            module = self._modules.get(dtype)
            if module is None:
                module = cupy().RawModule(
                    code=self.source(), options=NVRTC_OPTIONS, name_expressions=self.name_expressions(dtype)
                )
                self._modules[dtype] = module
            function = module.get_function(kernel.format(T=CTYPES[dtype]))
            self._functions[key] = function
        return function

    def clear(self) -> None:
        """Forget compiled modules (tests swap the cupy module underneath)."""
        with self._lock:
            self._modules.clear()
            self._functions.clear()
