"""A stand-in for the ``cupy`` module that runs the CuPy backend on the CPU,
for tests on machines without a GPU.

Arrays are NumPy arrays (every attribute this module does not define is
NumPy's: ``empty``, ``matmul``, ``flatnonzero``, ...).  ``RawModule`` takes
the same CUDA C text CuPy would compile with NVRTC, compiles it with g++
against ``tests/cuda_emulator.h`` (one OS thread per CUDA thread, real
barriers) and launches the named kernels the way CuPy's ``RawKernel`` does:
``kernel(grid, block, args, shared_mem=...)``.

A launch is stricter than CuPy about what would silently go wrong on a GPU:

- each argument's type must match the kernel's parameter exactly (a NumPy
  ``float32`` for a ``float``, an ``int64`` for a ``long long``, a float32
  array for a ``const float*``); Python scalars are refused, since CuPy
  would pass them as 8-byte values whatever the parameter;
- arrays must be C-contiguous (a RawKernel ignores strides) and must not
  overlap one another (the kernels declare their pointers ``__restrict__``);
- grid and block must be valid CUDA launch shapes (no empty grid, at most
  1024 threads, y and z at most 65535) and dynamic shared memory at most
  48 KiB;
- every array is copied into a buffer between guard bands, which are
  checked after the launch: a write out of bounds fails the call, and a read
  out of bounds reads NaN bytes.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
GUARD_BYTES = 256
SHARED_MEMORY_LIMIT = 48 * 1024
CACHE_DIR = Path(os.environ.get("KA_EMULATOR_CACHE", Path(tempfile.gettempdir()) / "kernel-arena-cuda-emulator"))

_DTYPE_CODES = {
    np.dtype(np.float32): "f4",
    np.dtype(np.float64): "f8",
    np.dtype(np.int64): "i8",
    np.dtype(np.int32): "i4",
    np.dtype(np.uint64): "u8",
    np.dtype(np.uint32): "u4",
    np.dtype(np.uint8): "u1",
    np.dtype(np.bool_): "b1",
}
_CTYPES = {
    "f4": ctypes.c_float,
    "f8": ctypes.c_double,
    "i8": ctypes.c_int64,
    "i4": ctypes.c_int32,
    "u8": ctypes.c_uint64,
    "u4": ctypes.c_uint32,
    "u1": ctypes.c_uint8,
    "b1": ctypes.c_bool,
}


def __getattr__(name):  # everything else is NumPy's
    return getattr(np, name)


ndarray = np.ndarray


def asnumpy(array):
    return np.asarray(array)


def argsort(a, axis=-1):
    """cupy.argsort is always stable (NumPy's default is not)."""
    return np.argsort(a, axis=axis, kind="stable")


def _translate(source: str) -> str:
    """CUDA C -> C++ for the emulator: the dynamic shared array becomes a
    pointer into the launch's buffer, static __shared__ variables statics."""
    source = re.sub(
        r"extern\s+__shared__\s+([A-Za-z_][\w ]*?)\s+(\w+)\s*\[\s*\]\s*;",
        r"\1* \2 = reinterpret_cast<\1*>(ka_emu::dynamic_shared);",
        source,
    )
    return re.sub(r"\b__shared__\b", "static", source)


_BUILD_LOCK = threading.Lock()


def _build(source: str, name_expressions: tuple[str, ...]) -> ctypes.CDLL:
    wrappers = [
        "\n#include <string>",
        *(
            f'extern "C" int ka_launch_{i}(const unsigned* grid, const unsigned* block, unsigned long long shared,'
            f" void** args) {{ return ka_emu::launch(&{expr}, grid, block, shared, args); }}\n"
            f'extern "C" const char* ka_signature_{i}() {{ static const std::string codes = '
            f"ka_emu::signature(&{expr}); return codes.c_str(); }}"
            for i, expr in enumerate(name_expressions)
        ),
    ]
    text = '#include "cuda_emulator.h"\n' + _translate(source) + "\n".join(wrappers) + "\n"
    emulator = (HERE / "cuda_emulator.h").read_bytes()
    digest = hashlib.sha256(text.encode() + emulator).hexdigest()[:24]
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    library = CACHE_DIR / f"{digest}.so"
    with _BUILD_LOCK:
        if not library.exists():
            cpp = CACHE_DIR / f"{digest}.cpp"
            cpp.write_text(text)
            partial = CACHE_DIR / f"{digest}.{os.getpid()}.so"
            command = ["g++", "-std=c++17", "-O1", "-g", "-fPIC", "-shared", "-pthread", "-Wall",
                       "-Wno-unknown-pragmas", "-Wno-sign-compare", f"-I{HERE}", str(cpp), "-o", str(partial)]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(f"g++ could not build the emulated kernels:\n{result.stderr}")
            partial.rename(library)
    return ctypes.CDLL(str(library))


class RawModule:
    def __init__(self, code: str, options=(), name_expressions=(), **kwargs):
        self.code = code
        self.options = tuple(options)
        self.name_expressions = tuple(name_expressions)
        self._library = None

    def get_function(self, name: str) -> RawKernel:
        if name not in self.name_expressions:
            raise KeyError(f"{name!r} is not among the module's name expressions {self.name_expressions}")
        if self._library is None:
            self._library = _build(self.code, self.name_expressions)
        return RawKernel(self._library, self.name_expressions.index(name), name)


def _dims(value, what: str) -> tuple[int, int, int]:
    dims = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if not 1 <= len(dims) <= 3 or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in dims):
        raise TypeError(f"{what} must be 1 to 3 ints; got {value!r}")
    dims = tuple(int(d) for d in dims) + (1,) * (3 - len(dims))
    if min(dims) < 1:
        raise ValueError(f"{what} {dims}: every dimension must be >= 1 (CUDA rejects an empty launch)")
    return dims


class RawKernel:
    def __init__(self, library: ctypes.CDLL, index: int, name: str):
        self.name = name
        self._launch = getattr(library, f"ka_launch_{index}")
        self._launch.restype = ctypes.c_int
        self._launch.argtypes = [ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_uint), ctypes.c_ulonglong,
                                 ctypes.POINTER(ctypes.c_void_p)]
        signature = getattr(library, f"ka_signature_{index}")
        signature.restype = ctypes.c_char_p
        self.parameters = signature().decode().rstrip(",").split(",")

    def __call__(self, grid, block, args, shared_mem: int = 0):
        grid, block = _dims(grid, "grid"), _dims(block, "block")
        if block[0] * block[1] * block[2] > 1024 or grid[1] > 65535 or grid[2] > 65535 or grid[0] > 2**31 - 1:
            raise ValueError(f"{self.name}: launch shape grid={grid} block={block} exceeds CUDA's limits")
        if not 0 <= shared_mem <= SHARED_MEMORY_LIMIT:
            raise ValueError(f"{self.name}: {shared_mem} bytes of dynamic shared memory (limit {SHARED_MEMORY_LIMIT})")
        args = tuple(args)
        if len(args) != len(self.parameters):
            raise TypeError(f"{self.name} takes {len(self.parameters)} arguments; got {len(args)}")
        arrays = [a for a in args if isinstance(a, np.ndarray)]
        for i, a in enumerate(arrays):
            for b in arrays[i + 1 :]:
                if a.size and b.size and np.shares_memory(a, b):
                    raise ValueError(f"{self.name}: two array arguments overlap")

        values, guarded = [], []
        for position, (arg, parameter) in enumerate(zip(args, self.parameters)):
            if isinstance(arg, np.ndarray):
                code = "p" + _DTYPE_CODES.get(arg.dtype, "?")
                if code != parameter:
                    raise TypeError(f"{self.name} argument {position}: array of {arg.dtype} for parameter {parameter}")
                if not arg.flags.c_contiguous:
                    raise ValueError(f"{self.name} argument {position}: not C-contiguous (RawKernel ignores strides)")
                buffer = np.full(arg.nbytes + 2 * GUARD_BYTES, 0xFF, dtype=np.uint8)
                interior = buffer[GUARD_BYTES : GUARD_BYTES + arg.nbytes].view(arg.dtype).reshape(arg.shape)
                interior[...] = arg
                guarded.append((position, arg, buffer, interior))
                values.append(ctypes.c_void_p(buffer.ctypes.data + GUARD_BYTES))
            elif isinstance(arg, np.generic):
                code = _DTYPE_CODES.get(arg.dtype, "?")
                if code != parameter:
                    raise TypeError(f"{self.name} argument {position}: {arg.dtype} scalar for parameter {parameter}")
                values.append(_CTYPES[code](arg.item()))
            else:
                raise TypeError(
                    f"{self.name} argument {position}: {type(arg).__name__} for parameter {parameter}; pass NumPy "
                    "scalars, whose size CuPy passes as the kernel expects"
                )
        pointers = (ctypes.c_void_p * max(len(values), 1))(*(ctypes.cast(ctypes.pointer(v), ctypes.c_void_p)
                                                            for v in values))
        status = self._launch((ctypes.c_uint * 3)(*grid), (ctypes.c_uint * 3)(*block), shared_mem, pointers)
        if status == 1:
            raise RuntimeError(f"{self.name}: a __syncthreads() was not reached by every thread of a block")
        if status == 2:
            raise RuntimeError(f"{self.name}: wrote past the end of its {shared_mem} bytes of dynamic shared memory")
        for position, arg, buffer, interior in guarded:
            if (buffer[:GUARD_BYTES] != 0xFF).any() or (buffer[GUARD_BYTES + arg.nbytes :] != 0xFF).any():
                raise RuntimeError(f"{self.name}: wrote out of the bounds of argument {position}")
            if arg.flags.writeable:
                arg[...] = interior
