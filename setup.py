"""Builds mrcnn._C with CMake against the torch that this interpreter imports.

Install with `pip install --no-build-isolation .` so the build sees the installed torch (pip's default
build isolation hides it, and listing torch as a build requirement would make pip fetch another one).
Environment variables:
  MRCNN_CUDA=0/1        force the CUDA kernels off/on (default: on when torch has CUDA and nvcc exists)
  TORCH_CUDA_ARCH_LIST  GPU architectures, torch's format (default "7.5;8.0;8.6;8.9;9.0+PTX")
  MRCNN_DNNL=0/1        force the Winograd convolutions (system oneDNN 2.x) off/on (default: on when found)
  MRCNN_OPENCV=0        build without OpenCV's C++ library (no C++ image decoding, photometric
                        augmentation or mask polygons; for machines without its headers)
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


def check_torch_importable():
    """Stops the build with the fix when this interpreter cannot import torch."""
    try:
        import torch  # noqa: F401
    except ImportError as e:
        isolated = any("pip-build-env" in p for p in sys.path)
        why = ("pip's build isolation hides the torch you installed" if isolated
               else "torch is not installed for %s" % sys.executable)
        raise SystemExit(
            "\nmrcnn: cannot import torch (%s): %s.\n"
            "mrcnn compiles against the PyTorch already installed, so it must be built without pip's build "
            "isolation:\n\n    pip install torch            # if it is not installed yet\n"
            "    pip install --no-build-isolation <this folder or git+https://... URL>\n" % (e, why))


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        check_torch_importable()
        if shutil.which("cmake") is None:
            raise RuntimeError("mrcnn needs CMake >= 3.18 to build (pip install cmake, or apt-get install cmake)")
        out_dir = os.path.dirname(os.path.abspath(self.get_ext_fullpath(ext.name)))
        build_dir = os.environ.get("MRCNN_BUILD_DIR", default_build_dir())
        os.makedirs(build_dir, exist_ok=True)
        cuda = os.environ.get("MRCNN_CUDA", "").strip().lower()
        cuda = {"1": "ON", "on": "ON", "true": "ON", "0": "OFF", "off": "OFF", "false": "OFF"}.get(cuda, "AUTO")
        dnnl = os.environ.get("MRCNN_DNNL", "").strip().lower()
        dnnl = {"1": "ON", "on": "ON", "true": "ON", "0": "OFF", "off": "OFF", "false": "OFF"}.get(dnnl, "AUTO")
        opencv = os.environ.get("MRCNN_OPENCV", "").strip().lower()
        opencv = "OFF" if opencv in ("0", "off", "false") else "ON"
        args = [
            "-DMRCNN_PYTHON_EXECUTABLE=" + sys.executable,
            "-DMRCNN_PYTHON_OUTPUT_DIR=" + out_dir,
            "-DMRCNN_CUDA=" + cuda,
            "-DMRCNN_DNNL=" + dnnl,
            "-DMRCNN_OPENCV=" + opencv,
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
