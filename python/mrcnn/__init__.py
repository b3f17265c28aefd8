"""mrcnn: Mask R-CNN instance segmentation with a C++ core on LibTorch.

The Python API follows Matterport's Mask_RCNN (``from mrcnn.config import Config``,
``from mrcnn import utils, visualize``, ``import mrcnn.model as modellib``).
"""
import functools as _functools
import json as _json
import os as _os

import torch as _torch  # loads libtorch before the extension that links against it

_REBUILD = ("Rebuild mrcnn against the torch installed now: pip install --no-build-isolation "
            "--force-reinstall --no-deps <this package's source folder or git URL>")


def _check_torch_matches_build():
    """ImportError naming both torches when the extension was built against another one.

    A C++ extension links torch's libraries by symbol; a torch upgrade (common in Colab) makes
    importing it fail with an unexplained undefined symbol, or worse, crash. The build records
    what it was built against in _build_torch.json beside _C.
    """
    path = _os.path.join(_os.path.dirname(__file__), "_build_torch.json")
    try:
        with open(path) as f:
            built = _json.load(f)
    except (OSError, ValueError):
        return  # a build that predates the record; the import below reports what it can
    now_abi = int(getattr(_torch._C, "_GLIBCXX_USE_CXX11_ABI", 1))
    problems = []
    if built.get("torch") != _torch.__version__:
        problems.append("it was built for torch %s, this Python has torch %s" % (built.get("torch"),
                                                                               _torch.__version__))
    elif int(built.get("cxx11_abi", now_abi)) != now_abi:
        problems.append("it was built for a torch with _GLIBCXX_USE_CXX11_ABI=%s, this torch has %d"
                        % (built.get("cxx11_abi"), now_abi))
    if problems:
        raise ImportError("mrcnn's C++ extension does not match the installed PyTorch: %s. %s"
                          % ("; ".join(problems), _REBUILD))


_check_torch_matches_build()
try:
    from . import _C
except ImportError as _e:
    if "undefined symbol" in str(_e) or "cannot open shared object" in str(_e):
        raise ImportError("mrcnn's C++ extension cannot be loaded with torch %s (%s). %s"
                          % (_torch.__version__, _e, _REBUILD)) from _e
    raise

__version__ = "0.1.0"

__all__ = ["build_info", "bf16_autocast_supported", "set_num_threads", "get_num_threads", "set_cpu_cache",
           "release_cpu_cache", "cpu_cache_stats", "__version__"]


def _available_cores():
    try:
        return len(_os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return _os.cpu_count() or 1


def set_num_threads(n=None):
    """Threads for torch's intra-op pool, OpenCV and mrcnn's own parallel loops.

    n=None or n <= 0 means every core this process may use.
    """
    _C.set_num_threads(0 if n is None else int(n))


def get_num_threads():
    return _C.get_num_threads()


# torch may start with a single thread (Debian's build does): use every core unless the user
# chose a count through OMP_NUM_THREADS or MRCNN_NUM_THREADS.
if "MRCNN_NUM_THREADS" in _os.environ:
    set_num_threads(int(_os.environ["MRCNN_NUM_THREADS"]))
elif "OMP_NUM_THREADS" not in _os.environ:
    set_num_threads(None)


def set_cpu_cache(enabled=True, limit_mb=None):
    """Turns mrcnn's caching allocator for torch's CPU tensors on or off.

    Large freed buffers are kept and reused instead of being returned to the system and faulted
    in again on the next forward pass; new ones ask for transparent huge pages. On virtual
    machines, where page faults are slow, this alone makes Mask R-CNN inference several times
    faster. It applies to every CPU tensor of the process, torchvision's included. limit_mb caps
    the memory kept cached (default: a quarter of RAM, at most 8 GiB). Importing mrcnn turns it
    on unless the environment sets MRCNN_CPU_CACHE=0.
    """
    _C.set_caching_cpu_allocator(bool(enabled))
    if limit_mb is not None:
        _C.set_cpu_cache_limit(int(limit_mb) << 20)


def release_cpu_cache():
    """Returns the CPU memory the caching allocator keeps for reuse to the system."""
    _C.release_cpu_cache()


def cpu_cache_stats():
    """dict: cached_bytes, allocated_bytes, hits, misses, limit_bytes of the CPU caching allocator."""
    return _C.cpu_cache_stats()


if _os.environ.get("MRCNN_CPU_CACHE", "1") not in ("0", "false", "off"):
    set_cpu_cache(True)


class BuildInfo(dict):
    """build_info()'s result: a dict that prints as aligned ``key: value`` lines."""

    def __str__(self):
        width = max(len(k) for k in self)
        return "\n".join("%-*s  %s" % (width + 1, k + ":", v) for k, v in self.items())

    __repr__ = __str__


def _blas_in_use():
    """Which BLAS library the process has loaded (torch's CPU matmuls go through it)."""
    found = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if "/" in line else ""
                name = _os.path.basename(path)
                if any(k in name for k in ("blas", "mkl_rt", "mkl_core", "blis", "atlas")):
                    real = _os.path.realpath(path)
                    if real not in found:
                        found.append(real)
    except OSError:
        pass
    if not found:
        cfg = _torch.__config__.show()
        return "MKL (static)" if "USE_MKL=ON" in cfg or "MKL" in cfg.split("BLAS_INFO=")[-1][:20] else "unknown"
    return ", ".join(found)


@_functools.lru_cache(maxsize=None)
def bf16_autocast_supported():
    """Whether this CPU and torch build run convolutions under bf16 autocast at speed
    (MIXED_PRECISION = "bf16" on the CPU): torch's bf16 kernels need AVX-512 or AMX; on other CPUs
    (AVX2) torch emulates bf16 some 10x slower than float32, which is no use."""
    fast = getattr(getattr(_torch.ops, "mkldnn", None), "_is_mkldnn_bf16_supported", None)
    try:
        if fast is not None and not fast():
            return False
        with _torch.autocast("cpu", dtype=_torch.bfloat16):
            return _torch.nn.Conv2d(3, 4, 3)(_torch.randn(1, 3, 8, 8)).dtype == _torch.bfloat16
    except Exception:  # noqa: BLE001 - a CPU or torch build without bf16 convolutions
        return False


def build_info():
    """What this build was compiled with and runs on: torch, CUDA, OpenCV, compiler, BLAS, threads."""
    info = BuildInfo(_C.build_info())
    info["torch (runtime)"] = _torch.__version__
    info["torch cuda"] = str(_torch.version.cuda) if _torch.version.cuda else "none"
    info["cuda device"] = _torch.cuda.get_device_name(0) if _torch.cuda.is_available() else "none"
    info["blas"] = _blas_in_use()
    return info
