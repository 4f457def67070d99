"""Op specs and the implementation registry.

An *op spec* (``impls/<op>/spec.py``) is the contract of one operation: it
validates inputs, computes the float64 reference, generates seeded inputs for
its benchmark cases, knows the cost model and decides whether an output
matches.  An *implementation* is one function registered against an op, a
backend and a device.  The harness (``bench/``) sees only this module.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from impls import backends as _backends

# Built-in ops, in the order reports list them.
OPS = (
    "conv2d",
    "causal_conv1d",
    "wavenet_stream",
    "gated_unit",
    "lstm_cell",
    "convlstm_cell",
    "nms",
    "box_iou",
)
DEVICES = ("cpu", "cuda")


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark problem of an op.

    ``params`` feed the op's input generator; ``size`` is the problem size the
    plots put on their x axis (and the order in which an implementation that
    went over budget skips larger cases); ``small`` cases are the ones the
    pure-Python backend and ``--quick`` runs take.
    """

    name: str
    params: dict
    size: float
    small: bool = False
    family: str = ""  # cases of one family share a plot line (e.g. "detector" vs "uniform")


@dataclasses.dataclass
class Comparison:
    """Outcome of checking an output against the reference."""

    ok: bool
    message: str = ""
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    rms_err: float | None = None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class OpSpec:
    """Base of every op's contract; ``impls/<op>/spec.py`` subclasses it.

    Subclasses set ``name``, ``inputs`` (argument names in call order),
    ``cases``, ``dtypes`` and implement ``validate``, ``reference``,
    ``make_inputs``, ``flops``, ``bytes_moved`` and ``compare``.
    """

    name: str = ""
    inputs: tuple[str, ...] = ()
    cases: tuple[Case, ...] = ()
    headline: tuple[str, ...] = ()  # the case names `python -m bench headline` compares (float32)
    dtypes: tuple[str, ...] = ("float32", "float64")
    # False where flops() is a yardstick rather than work every implementation
    # must do (nms: the textbook loop's pair tests, which smarter algorithms
    # skip); fraction of peak then uses bandwidth only.
    flops_are_work: bool = True
    # Per-dtype (rtol, atol) for float outputs.
    tolerances: dict = {"float16": (1e-2, 1e-3), "float32": (1e-4, 1e-5), "float64": (1e-10, 1e-12)}

    def __init__(self):
        self.doc = (type(self).__doc__ or "").strip()

    # -- contract -----------------------------------------------------------
    def validate(self, **inputs) -> dict:
        """Return the inputs, checked; raise ValueError/TypeError naming the argument."""
        raise NotImplementedError

    def reference(self, **inputs):
        """The exact answer, computed in float64 (NumPy arrays out)."""
        raise NotImplementedError

    def make_inputs(self, case: Case, dtype: str = "float32", seed: int = 0) -> dict:
        raise NotImplementedError

    def flops(self, **inputs) -> float:
        raise NotImplementedError

    def bytes_moved(self, **inputs) -> float:
        """Minimum bytes an implementation must read and write."""
        raise NotImplementedError

    def throughput(self, **inputs) -> tuple[float, str] | None:
        """Optional op-specific rate: (items per call, unit), e.g. (T, "steps")
        for streaming ops; reports show items / median time as "<unit>/s"."""
        return None

    def compare(self, output, expected, inputs: dict) -> Comparison:
        return compare_allclose(output, expected, self.tolerance(inputs))

    def edge_cases(self, dtype: str) -> list[tuple[str, dict]]:
        """(id, inputs) pairs of degenerate but valid input (empty arrays, one
        element, ties, thresholds at their limits); every implementation must
        match the reference on each."""
        return []

    def bad_inputs(self) -> list[tuple[str, dict, type, str]]:
        """(id, inputs, exception type, regex the message must match): input
        every implementation must reject with that clear error."""
        return []

    # -- helpers ------------------------------------------------------------
    def case(self, name: str) -> Case:
        for case in self.cases:
            if case.name == name:
                return case
        known = ", ".join(c.name for c in self.cases)
        raise KeyError(f"op {self.name!r} has no case {name!r}; its cases are: {known}")

    def tolerance(self, inputs: dict) -> tuple[float, float]:
        dtypes = [v.dtype.name for v in inputs.values() if isinstance(v, np.ndarray) and v.dtype.kind == "f"]
        return self.tolerances[dtypes[0] if dtypes else "float64"]

    def output_dtype(self, inputs: dict):
        """dtype outputs come back in (the float inputs' dtype unless overridden)."""
        for value in inputs.values():
            if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                return value.dtype
        return np.dtype("float64")


def compare_allclose(output, expected, tol: tuple[float, float]) -> Comparison:
    """allclose per output array, with the error norms recorded."""
    outputs = output if isinstance(output, tuple) else (output,)
    expecteds = expected if isinstance(expected, tuple) else (expected,)
    if len(outputs) != len(expecteds):
        return Comparison(False, f"expected {len(expecteds)} outputs, got {len(outputs)}")
    rtol, atol = tol
    max_abs = max_rel = 0.0
    sq_sum, count = 0.0, 0
    for i, (out, ref) in enumerate(zip(outputs, expecteds)):
        out = np.asarray(out)
        if out.shape != ref.shape:
            return Comparison(False, f"output {i}: shape {out.shape}, expected {ref.shape}")
        if out.size == 0:
            continue
        diff = np.abs(out.astype(np.float64) - ref)
        if not np.isfinite(diff).all():
            return Comparison(False, f"output {i}: non-finite values where the reference is finite")
        max_abs = max(max_abs, float(diff.max()))
        max_rel = max(max_rel, float((diff / np.maximum(np.abs(ref), atol)).max()))
        sq_sum += float((diff**2).sum())
        count += diff.size
        if not (diff <= atol + rtol * np.abs(ref)).all():
            worst = np.unravel_index(int(np.argmax(diff - rtol * np.abs(ref))), diff.shape)
            return Comparison(
                False,
                f"output {i}: {int((diff > atol + rtol * np.abs(ref)).sum())} elements outside "
                f"rtol={rtol:g}, atol={atol:g}; worst at {tuple(int(j) for j in worst)}: "
                f"{float(out[worst]):.9g} vs {float(ref[worst]):.9g}",
                max_abs,
                max_rel,
                (sq_sum / max(count, 1)) ** 0.5,
            )
    rms = (sq_sum / count) ** 0.5 if count else 0.0
    return Comparison(True, "", max_abs, max_rel, rms)


@dataclasses.dataclass
class Implementation:
    """One registered implementation of an op on one backend and device."""

    op: str
    backend: str
    device: str
    name: str
    fn: Callable
    dtypes: tuple[str, ...] | None = None  # None: every dtype the op has
    source: str = ""  # the file it came from (a plugin path for user code)
    small_only: bool = False  # True: only the op's small cases (pure Python)
    work: Callable | None = None  # work(**inputs): FLOPs its algorithm performs (see register)

    @property
    def key(self) -> str:
        return f"{self.op}/{self.name}/{self.device}"

    @property
    def spec(self) -> OpSpec:
        return spec(self.op)

    @property
    def available(self) -> bool:
        return self.reason == ""

    @property
    def reason(self) -> str:
        """Why this implementation cannot run here ('' when it can)."""
        return _backends.get(self.backend).unavailable_reason(self.device)

    def supports(self, dtype: str) -> bool:
        return self.dtypes is None or dtype in self.dtypes

    def work_flops(self, inputs: dict) -> float | None:
        """The FLOPs this implementation performs on validated ``inputs``, where
        it declared them (None: the op's cost model counts its work)."""
        flops = None if self.work is None else self.work(**inputs)
        return None if flops is None else float(flops)

    # -- running --------------------------------------------------------------
    def prepare(self, inputs: dict) -> dict:
        """Validated NumPy inputs -> the backend's native arrays on the device."""
        backend = _backends.get(self.backend)
        return {k: backend.to_native(v, self.device) for k, v in inputs.items()}

    def call(self, native: dict):
        """The timed region: the implementation alone, on prepared inputs."""
        return self.fn(**native)

    def synchronize(self) -> None:
        _backends.get(self.backend).synchronize(self.device)

    def to_numpy(self, output, inputs: dict):
        backend = _backends.get(self.backend)
        dtype = self.spec.output_dtype(inputs)
        if isinstance(output, tuple):
            return tuple(backend.to_numpy(o, dtype) for o in output)
        return backend.to_numpy(output, dtype)

    def run(self, **inputs):
        """Validate, convert, call, convert back: NumPy in, NumPy out."""
        if not self.available:
            raise RuntimeError(f"{self.key} is not available here: {self.reason}")
        checked = self.spec.validate(**inputs)
        if self.dtypes is not None:
            float_dtypes = {v.dtype.name for v in checked.values() if isinstance(v, np.ndarray) and v.dtype.kind == "f"}
            unsupported = float_dtypes - set(self.dtypes)
            if unsupported:
                raise TypeError(
                    f"{self.key} supports dtypes {', '.join(self.dtypes)}; got {', '.join(sorted(unsupported))}"
                )
        output = self.call(self.prepare(checked))
        self.synchronize()
        return self.to_numpy(output, checked)


_SPECS: dict[str, OpSpec] = {}
_IMPLS: dict[str, Implementation] = {}
_LOADED = False


def register_spec(op_spec: OpSpec) -> OpSpec:
    if not op_spec.name:
        raise ValueError("an op spec needs a name")
    _SPECS[op_spec.name] = op_spec
    return op_spec


def register(
    op: str,
    backend: str,
    device: str | Iterable[str] = "cpu",
    name: str | None = None,
    dtypes: Iterable[str] | None = None,
    small_only: bool | None = None,
    work: Callable | None = None,
):
    """Decorator: register ``fn`` as an implementation of ``op``.

    ``device`` may be one device or several; ``name`` defaults to
    ``<backend>`` (one implementation per backend) and must be unique per op
    and device. ``small_only`` defaults to True for the pure-Python backend.
    ``work(**inputs)``, for an algorithm that does less arithmetic than the
    op's cost model counts (Winograd's minimal filtering), gives the FLOPs it
    does perform: the fraction of peak is taken against those, so it says how
    close the kernel comes to the machine for the work it does, while GFLOP/s
    stays the op's count, one yardstick for every implementation.
    """
    devices = (device,) if isinstance(device, str) else tuple(device)
    if backend not in _backends.names():
        raise ValueError(f"backend must be one of {', '.join(_backends.names())}; got {backend!r}")
    for dev in devices:
        if dev not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}; got {dev!r}")

    def decorator(fn: Callable) -> Callable:
        impl_name = name or backend
        source = getattr(sys.modules.get(fn.__module__), "__file__", "") or ""
        for dev in devices:
            impl = Implementation(
                op=op,
                backend=backend,
                device=dev,
                name=impl_name,
                fn=fn,
                dtypes=tuple(dtypes) if dtypes is not None else None,
                source=source,
                small_only=(backend == "python") if small_only is None else small_only,
                work=work,
            )
            existing = _IMPLS.get(impl.key)
            if existing is not None and existing.fn is not fn and existing.source != source:
                raise ValueError(
                    f"an implementation named {impl_name!r} of {op!r} on {dev} is already registered "
                    f"(from {existing.source}); choose another name"
                )
            _IMPLS[impl.key] = impl
        return fn

    return decorator


def _load_builtin() -> None:
    """Import every op's spec and backend files (registration happens on import)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    root = Path(__file__).parent
    for op in OPS:
        if not (root / op / "spec.py").exists():
            continue
        importlib.import_module(f"impls.{op}.spec")
        for backend in _backends.names():
            if (root / op / f"{backend}.py").exists():
                importlib.import_module(f"impls.{op}.{backend}")


def load_plugin(path: str | Path) -> list[Implementation]:
    """Import a user's Python file; its ``@impls.register`` functions join the registry."""
    _load_builtin()
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"plugin file not found: {path}")
    before = set(_IMPLS)
    module_name = f"kernel_arena_plugin_{path.stem}_{abs(hash(str(path))) & 0xFFFFFF:x}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    module_spec.loader.exec_module(module)
    return [_IMPLS[k] for k in _IMPLS if k not in before or _IMPLS[k].source == str(path)]


def ops() -> list[str]:
    _load_builtin()
    return [op for op in OPS if op in _SPECS] + sorted(op for op in _SPECS if op not in OPS)


def spec(op: str) -> OpSpec:
    _load_builtin()
    try:
        return _SPECS[op]
    except KeyError:
        raise KeyError(f"unknown op {op!r}; known ops: {', '.join(ops())}") from None


def implementations(
    op: str | None = None, backend: str | None = None, device: str | None = None
) -> list[Implementation]:
    """Registered implementations (runnable here or not), filtered."""
    _load_builtin()
    if op is not None and op not in _SPECS:
        raise KeyError(f"unknown op {op!r}; known ops: {', '.join(ops())}")
    order = {b: i for i, b in enumerate(_backends.names())}
    found = [
        impl
        for impl in _IMPLS.values()
        if (op is None or impl.op == op)
        and (backend is None or impl.backend == backend)
        and (device is None or impl.device == device)
    ]
    op_order = {o: i for i, o in enumerate(ops())}
    return sorted(found, key=lambda i: (op_order.get(i.op, 99), DEVICES.index(i.device), order[i.backend], i.name))


def get(op: str, name: str, device: str = "cpu") -> Implementation:
    _load_builtin()
    key = f"{op}/{name}/{device}"
    try:
        return _IMPLS[key]
    except KeyError:
        raise KeyError(f"no implementation {name!r} of {op!r} on {device}") from None
