"""Builds the native extension ``impls._C`` from csrc/.

The CPU kernels are always built.  The CUDA kernels are built whenever a CUDA
toolkit (nvcc) is found -- with or without a GPU on this machine -- for the
architectures in TORCH_CUDA_ARCH_LIST (default sm_80 and sm_90), and a CUDA
compile error fails the install.  KERNEL_ARENA_CUDA=0 builds CPU-only.
"""

import os
import shutil
import sys
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).parent
CSRC = ROOT / "csrc"


def find_cuda_home() -> str | None:
    """The toolkit folder holding bin/nvcc and include/cuda_runtime.h.

    nvcc on PATH may be a wrapper script (as /usr/local/bin/nvcc is on our CI
    machines), so look for the headers beside each candidate."""
    candidates = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH")]
    nvcc = shutil.which("nvcc")
    if nvcc:
        candidates.append(str(Path(os.path.realpath(nvcc)).parent.parent))
    candidates.append("/usr/local/cuda")
    for home in filter(None, candidates):
        if (Path(home) / "bin" / "nvcc").exists() and (Path(home) / "include" / "cuda_runtime.h").exists():
            return home
    return None


def extensions():
    cuda_home = find_cuda_home() if os.environ.get("KERNEL_ARENA_CUDA", "1") != "0" else None
    if cuda_home:
        os.environ["CUDA_HOME"] = cuda_home  # read by torch.utils.cpp_extension at import
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "8.0;9.0")
    from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension

    sources = sorted(str(p.relative_to(ROOT)) for p in CSRC.rglob("*.cpp"))
    # -march=native: the extension is built on the machine that runs it (each nox environment builds its own).
    cxx = ["-O3", "-fopenmp", "-march=native"]
    if cuda_home:
        sources += sorted(str(p.relative_to(ROOT)) for p in CSRC.rglob("*.cu"))
        print(
            f"kernel-arena: building the CUDA kernels with {cuda_home}/bin/nvcc for "
            f"TORCH_CUDA_ARCH_LIST={os.environ['TORCH_CUDA_ARCH_LIST']}",
            file=sys.stderr,
        )
        ext = CUDAExtension(
            "impls._C",
            sources,
            include_dirs=[str(CSRC)],
            define_macros=[("WITH_CUDA", None)],
            extra_compile_args={"cxx": cxx, "nvcc": ["-O3", "-lineinfo"]},
            extra_link_args=["-fopenmp"],
        )
    else:
        print("kernel-arena: no CUDA toolkit (nvcc) found: building the extension CPU-only", file=sys.stderr)
        ext = CppExtension(
            "impls._C", sources, include_dirs=[str(CSRC)], extra_compile_args={"cxx": cxx}, extra_link_args=["-fopenmp"]
        )

    class BuildExt(BuildExtension.with_options(use_ninja=True)):
        def finalize_options(self):
            super().finalize_options()
            # A fixed build folder (pip would use a fresh temporary one): ninja
            # then recompiles only the sources that changed since the last build.
            self.build_temp = str(ROOT / "build" / "ext")

    return [ext], {"build_ext": BuildExt}


ext_modules, cmdclass = extensions()
setup(ext_modules=ext_modules, cmdclass=cmdclass)
