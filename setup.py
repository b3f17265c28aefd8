"""Builds mrcnn._C with CMake against the torch that this interpreter imports.

Install with `pip install --no-build-isolation .` so the build sees the installed torch.
Environment variables:
  MRCNN_CUDA=0/1        force the CUDA kernels off/on (default: on when torch has CUDA and nvcc exists)
  MRCNN_DNNL=0/1        force the Winograd convolutions (system oneDNN 2.x) off/on (default: on when found)
  MRCNN_BUILD_TESTS=1   also build the GoogleTest suite (run with ctest in MRCNN_BUILD_DIR)
  MRCNN_BUILD_DIR       CMake build directory (default: build/cmake-<python tag>)
  MRCNN_JOBS            parallel compile jobs (default: number of cores)
  MRCNN_BUILD_TYPE      Release (default), RelWithDebInfo or Debug
"""
import os
import shutil
import subprocess
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))


def default_build_dir():
    tag = "cp%d%d" % sys.version_info[:2]
    return os.path.join(ROOT, "build", "cmake-" + tag)


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        if shutil.which("cmake") is None:
            raise RuntimeError("mrcnn needs CMake >= 3.18 to build (apt-get install cmake, or pip install cmake)")
        out_dir = os.path.dirname(os.path.abspath(self.get_ext_fullpath(ext.name)))
        build_dir = os.environ.get("MRCNN_BUILD_DIR", default_build_dir())
        os.makedirs(build_dir, exist_ok=True)
        cuda = os.environ.get("MRCNN_CUDA", "").strip().lower()
        cuda = {"1": "ON", "on": "ON", "true": "ON", "0": "OFF", "off": "OFF", "false": "OFF"}.get(cuda, "AUTO")
        dnnl = os.environ.get("MRCNN_DNNL", "").strip().lower()
        dnnl = {"1": "ON", "on": "ON", "true": "ON", "0": "OFF", "off": "OFF", "false": "OFF"}.get(dnnl, "AUTO")
        args = [
            "-DMRCNN_PYTHON_EXECUTABLE=" + sys.executable,
            "-DMRCNN_PYTHON_OUTPUT_DIR=" + out_dir,
            "-DMRCNN_CUDA=" + cuda,
            "-DMRCNN_DNNL=" + dnnl,
            "-DMRCNN_BUILD_TESTS=" + ("ON" if os.environ.get("MRCNN_BUILD_TESTS") == "1" else "OFF"),
            "-DCMAKE_BUILD_TYPE=" + os.environ.get("MRCNN_BUILD_TYPE", "Release"),
        ]
        if shutil.which("ninja") and not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")):
            args.append("-GNinja")
        subprocess.check_call(["cmake", "-S", ROOT, "-B", build_dir] + args)
        jobs = os.environ.get("MRCNN_JOBS", str(os.cpu_count() or 2))
        subprocess.check_call(["cmake", "--build", build_dir, "--parallel", jobs])


setup(
    ext_modules=[CMakeExtension("mrcnn._C")],
    cmdclass={"build_ext": CMakeBuild},
)
