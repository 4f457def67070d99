"""The CuPy backend's CUDA C sources compile with NVRTC -- no GPU needed.

Every ``impls/**/*.cu`` file belongs to one op's ``CudaSource`` (its
``cupy.py``), which names the kernels Python launches from it.  Each source
is compiled here as CuPy compiles it (includes inlined, ``--std=c++17``,
``-ftz=true``, ``-arch=sm_XX``) for sm_80 (A100) and sm_90 (H100), with the
name expressions of every dtype registered, and each of them must resolve to
a kernel in the result.  A compile error fails the test with NVRTC's log.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cuda.bindings import nvrtc  # cuda-python: a test dependency (pyproject.toml), so no skip

import impls
from impls import cupy_support

ROOT = Path(__file__).resolve().parent.parent
ARCHES = ("sm_80", "sm_90")
# As CuPy compiles a RawModule: its NVRTC_OPTIONS plus what CuPy adds itself;
# and ptxas's resource report (registers, spills, shared memory) in the log.
OPTIONS = (*cupy_support.NVRTC_OPTIONS, "-ftz=true", "--ptxas-options=-v")
# Kernels launched with dynamic shared memory: their static __shared__ must fit
# the reserve the Python side leaves beside it.
DYNAMIC_SHARED_KERNELS = ("nms_reduce_kernel", "wavenet_stream_kernel<float>", "wavenet_stream_kernel<double>")


def _sources() -> list[cupy_support.CudaSource]:
    impls.ops()  # imports every impls/<op>/cupy.py, which declares its source
    return list(cupy_support.SOURCES)


def _check(result, what: str) -> None:
    error = result[0]
    if error != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        raise RuntimeError(f"{what}: {error}")


def compile_with_nvrtc(source: str, name: str, arch: str, name_expressions=()) -> tuple[bool, str, dict, bytes]:
    """(compiled?, NVRTC's log, name expression -> lowered name, cubin)."""
    program = nvrtc.nvrtcCreateProgram(source.encode(), name.encode(), 0, [], [])
    _check(program, "nvrtcCreateProgram")
    program = program[1]
    try:
        for expression in name_expressions:
            _check(nvrtc.nvrtcAddNameExpression(program, expression.encode()), f"nvrtcAddNameExpression({expression})")
        options = [o.encode() for o in (*OPTIONS, f"-arch={arch}")]
        (status,) = nvrtc.nvrtcCompileProgram(program, len(options), options)
        size = nvrtc.nvrtcGetProgramLogSize(program)
        _check(size, "nvrtcGetProgramLogSize")
        log = b" " * size[1]
        _check(nvrtc.nvrtcGetProgramLog(program, log), "nvrtcGetProgramLog")
        log = log.rstrip(b"\x00 ").decode(errors="replace")
        if status != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            return False, log, {}, b""
        lowered = {}
        for expression in name_expressions:
            result = nvrtc.nvrtcGetLoweredName(program, expression.encode())
            if result[0] == nvrtc.nvrtcResult.NVRTC_SUCCESS:
                lowered[expression] = result[1].decode() if isinstance(result[1], bytes) else str(result[1])
        size = nvrtc.nvrtcGetCUBINSize(program)
        _check(size, "nvrtcGetCUBINSize")
        cubin = b" " * size[1]
        _check(nvrtc.nvrtcGetCUBIN(program, cubin), "nvrtcGetCUBIN")
        return True, log, lowered, cubin
    finally:
        nvrtc.nvrtcDestroyProgram(program)


def ptxas_resources(log: str) -> dict[str, dict[str, int]]:
    """Per mangled kernel name: registers, spill stores and static shared
    memory bytes, from ptxas's -v report."""
    resources: dict[str, dict[str, int]] = {}
    current = None
    for line in log.splitlines():
        if match := re.search(r"Function properties for (\S+)", line):
            current = resources.setdefault(match.group(1), {"registers": 0, "spill_stores": 0, "smem": 0})
        elif current is not None and (match := re.search(r"(\d+) bytes spill stores", line)):
            current["spill_stores"] = int(match.group(1))
        elif current is not None and (match := re.search(r"Used (\d+) registers", line)):
            current["registers"] = int(match.group(1))
            if smem := re.search(r"(\d+) bytes smem", line):
                current["smem"] = int(smem.group(1))
    return resources


def test_every_cu_file_belongs_to_a_cupy_source():
    """No CUDA C file escapes the check: each is some op's CudaSource."""
    declared = {source.path.resolve() for source in _sources()}
    on_disk = {path.resolve() for path in (ROOT / "impls").rglob("*.cu")}
    assert on_disk, "no .cu files found under impls/"
    assert on_disk == declared, (
        f"not declared by any impls/<op>/cupy.py: {sorted(map(str, on_disk - declared))}; "
        f"declared but missing: {sorted(map(str, declared - on_disk))}"
    )


def test_every_op_has_a_cupy_implementation_with_its_kernels_declared():
    ops_with_cupy = {impl.op for impl in impls.implementations(backend="cupy", device="cuda")}
    assert ops_with_cupy == set(impls.ops())
    for source in _sources():
        assert source.kernels, source.path
        assert set(source.dtypes) == {"float32", "float64"}, source.path
    every_expression = {e for source in _sources() for e in source.all_name_expressions()}
    assert set(DYNAMIC_SHARED_KERNELS) <= every_expression


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("source", _sources(), ids=lambda s: s.path.parent.name)
def test_cupy_source_compiles_with_nvrtc(source, arch):
    expressions = source.all_name_expressions()
    ok, log, lowered, cubin = compile_with_nvrtc(source.source(), source.path.name, arch, expressions)
    assert ok, f"NVRTC failed to compile {source.path} for {arch}:\n{log}"
    missing = [e for e in expressions if e not in lowered]
    assert not missing, f"{source.path}: no kernel for name expressions {missing}\n{log}"
    assert cubin, f"{source.path}: NVRTC produced no cubin for {arch}"
    # Distinct instantiations are distinct kernels.
    assert len(set(lowered.values())) == len(expressions), lowered
    resources = ptxas_resources(log)
    for expression, mangled in lowered.items():
        used = resources.get(mangled)
        assert used is not None, f"no ptxas report for {expression} ({mangled}):\n{log}"
        assert used["spill_stores"] == 0, f"{expression} spills registers on {arch}: {used}"
        assert used["smem"] <= cupy_support.SHARED_MEMORY_BYTES, f"{expression}: {used}"
        if expression in DYNAMIC_SHARED_KERNELS:
            assert used["smem"] <= cupy_support.STATIC_SHARED_RESERVE, f"{expression}: {used}"


def test_nvrtc_check_fails_on_a_broken_kernel():
    """The check can fail: an undeclared identifier is a compile error, and the log says which."""
    broken = "template <typename T> __global__ void broken_kernel(T* out) { out[0] = undeclared_value; }\n"
    ok, log, _, _ = compile_with_nvrtc(broken, "broken.cu", "sm_90", ("broken_kernel<float>",))
    assert not ok
    assert "undeclared_value" in log


def test_nvrtc_check_fails_on_an_undeclared_instantiation():
    """A name expression the source cannot instantiate fails the compile too."""
    source = "template <typename T> __global__ void scale_kernel(T* out) { out[0] *= T(2); }\n"
    ok, log, lowered, _ = compile_with_nvrtc(source, "scale.cu", "sm_80", ("scale_kernel<float>",))
    assert ok and set(lowered) == {"scale_kernel<float>"}, log
    ok, log, _, _ = compile_with_nvrtc(source, "scale.cu", "sm_80", ("missing_kernel<float>",))
    assert not ok, log


def test_includes_are_inlined_once_with_line_markers(tmp_path):
    (tmp_path / "common.cuh").write_text("#define COMMON 1\n")
    (tmp_path / "sub").mkdir()
    main = tmp_path / "sub" / "main.cu"
    main.write_text('#include "../common.cuh"\n#include "../common.cuh"\nint after;\n')
    text = cupy_support.expand_includes(main)
    assert text.count("#define COMMON 1") == 1
    assert "#include" not in text
    assert '#line 1 "common.cuh"' in text and '#line 2 "main.cu"' in text
    missing = tmp_path / "missing.cu"
    missing.write_text('#include "nowhere.cuh"\n')
    with pytest.raises(FileNotFoundError, match="nowhere.cuh"):
        cupy_support.expand_includes(missing)


def test_cupy_is_registered_for_every_op_and_unavailable_without_a_gpu():
    """cupy appears for all ops; on a machine without a GPU it says so."""
    for impl in impls.implementations(backend="cupy"):
        assert impl.device == "cuda"
        if not impl.available:
            assert impl.reason, impl.key
    try:
        import cupy

        has_gpu = cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        has_gpu = False
    if not has_gpu:
        reasons = {impl.reason for impl in impls.implementations(backend="cupy")}
        assert len(reasons) == 1 and (reasons == {"no CUDA device"} or "not installed" in reasons.pop())
