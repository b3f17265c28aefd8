"""Installing the way users do, and the messages a broken install gives.

- The Colab cell, reproduced: a fresh virtual environment holding only torch and numpy (pip's CPU
  wheel of torch 2.13, MRCNN_TEST_CPU_TORCH to change it; ./run.sh test itself builds against the
  CUDA wheel in .venv), then `pip install --no-build-isolation git+file://<this repository>` exactly
  as README's Colab cell does with its GitHub URL, `import mrcnn`, one `detect`. Without the flag the
  build stops with a message that names it. This compiles the whole extension a second time
  (about 6 minutes on 2 cores).
- An extension built for another torch gives an ImportError naming both versions.
- CMake's own failures (no torch, no OpenCV C++) name the missing piece and the fix.

pip clones the repository's committed HEAD: uncommitted changes are not part of this test.
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

DETECT_ONCE = textwrap.dedent("""
    import numpy as np, torch, mrcnn
    from mrcnn.config import Config
    from mrcnn import model as modellib
    class C(Config):
        NAME = "colab"; NUM_CLASSES = 3; GPU_COUNT = 1; IMAGES_PER_GPU = 1
        IMAGE_MIN_DIM = 128; IMAGE_MAX_DIM = 128; BACKBONE = "resnet50"
    torch.manual_seed(0)
    model = modellib.MaskRCNN(mode="inference", config=C(), model_dir="logs")
    image = (np.random.default_rng(0).random((96, 120, 3)) * 255).astype(np.uint8)
    r = model.detect([image], verbose=0)[0]
    n = len(r["scores"])
    assert r["rois"].shape == (n, 4) and r["masks"].shape == (96, 120, n), (r["rois"].shape, r["masks"].shape)
    info = mrcnn.build_info()
    print("DETECT-OK", n, torch.__version__, info["torch (compiled against)"], info["cuda kernels"])
""")


def run(cmd, env=None, cwd=None, timeout=1800):
    return subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)


CPU_TORCH = os.environ.get("MRCNN_TEST_CPU_TORCH", "torch==2.13.0")  # pip's CPU wheel (on this disk)


def fresh_venv(path, torch_requirement=CPU_TORCH):
    """A virtual environment with what a Colab runtime has preinstalled: torch, numpy and pip's
    build tools. The torch is pip's CPU wheel (another version than .venv's CUDA build, which
    ./run.sh test builds against): the whole extension is compiled again, against it."""
    assert run([sys.executable, "-m", "venv", str(path)]).returncode == 0
    py = os.path.join(str(path), "bin", "python")
    out = run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", torch_requirement, "numpy",
               "setuptools>=77", "wheel", "cmake"])
    assert out.returncode == 0, out.stdout[-3000:]
    return py


def clean_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MRCNN_", "VIRTUAL_ENV", "PYTHON"))}
    env["MRCNN_JOBS"] = "2"
    return env


@pytest.fixture(scope="module")
def repo_url():
    if shutil.which("git") is None or run(["git", "-C", ROOT, "rev-parse", "HEAD"]).returncode != 0:
        pytest.fail("the Colab-style install test needs git and this checkout as a git repository")
    return "git+file://" + ROOT


def test_colab_style_install_then_detect(tmp_path, repo_url):
    py = fresh_venv(tmp_path / "venv")
    env = clean_env()
    # pip's default build isolation hides torch: the build stops and names the flag
    isolated = run([py, "-m", "pip", "install", "--disable-pip-version-check", repo_url], env=env)
    assert isolated.returncode != 0
    assert "--no-build-isolation" in isolated.stdout, isolated.stdout[-3000:]
    info = install_detect_and_check_the_torch_record(py, tmp_path, repo_url)
    assert "+cpu" in info and info.rstrip().endswith("off")  # pip's CPU wheel: no CUDA kernels


def install_detect_and_check_the_torch_record(py, tmp_path, repo_url):
    env = clean_env()
    # README's Colab cell
    built = run([py, "-m", "pip", "install", "--disable-pip-version-check", "--no-build-isolation", repo_url],
                env=env)
    assert built.returncode == 0, built.stdout[-5000:]
    work = tmp_path / "work"
    work.mkdir()
    detected = run([py, "-c", DETECT_ONCE], env=env, cwd=str(work))
    assert detected.returncode == 0 and "DETECT-OK" in detected.stdout, detected.stdout[-3000:]
    torch_version = run([py, "-c", "import torch; print(torch.__version__)"]).stdout.strip()
    assert torch_version in detected.stdout

    # the same install after a torch change: a clear ImportError naming both versions
    site = run([py, "-c", "import mrcnn, os; print(os.path.dirname(mrcnn.__file__))"], cwd=str(work)).stdout.strip()
    record = os.path.join(site, "_build_torch.json")
    built_for = json.load(open(record))
    assert built_for["torch"] == torch_version
    built_for["torch"] = "2.4.0"
    json.dump(built_for, open(record, "w"))
    mismatch = run([py, "-c", "import mrcnn"], cwd=str(work))
    assert mismatch.returncode != 0
    assert "ImportError" in mismatch.stdout and "built for torch 2.4.0" in mismatch.stdout
    assert torch_version in mismatch.stdout and "--no-build-isolation" in mismatch.stdout
    return detected.stdout


def configure(tmp_path, *args, python=None):
    """Only CMake's configure step (seconds): its messages are what a failed install shows."""
    cmake = shutil.which("cmake", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    return run([cmake, "-S", ROOT, "-B", str(tmp_path / "build"),
                "-DMRCNN_PYTHON_EXECUTABLE=" + (python or sys.executable), "-DMRCNN_CUDA=OFF", *args],
               env=clean_env())


def test_build_without_torch_names_the_fix(tmp_path):
    venv = tmp_path / "bare"
    assert run([sys.executable, "-m", "venv", "--without-pip", str(venv)]).returncode == 0
    out = configure(tmp_path, python=str(venv / "bin" / "python"))
    assert out.returncode != 0
    assert "cannot import torch" in out.stdout and "--no-build-isolation" in out.stdout, out.stdout[-3000:]


def test_build_without_opencv_names_the_package(tmp_path):
    out = configure(tmp_path, "-DCMAKE_DISABLE_FIND_PACKAGE_OpenCV=TRUE")
    assert out.returncode != 0
    assert "libopencv-dev" in out.stdout, out.stdout[-3000:]


def test_extension_records_the_torch_it_was_built_for():
    import torch

    import mrcnn

    record = json.load(open(os.path.join(os.path.dirname(mrcnn.__file__), "_build_torch.json")))
    assert record["torch"] == torch.__version__
    assert record["cxx11_abi"] == int(torch._C._GLIBCXX_USE_CXX11_ABI)
    assert mrcnn.build_info()["torch (compiled against)"] in torch.__version__


def test_cuda_architectures_follow_torch_cuda_arch_list(tmp_path):
    import torch

    if torch.version.cuda is None or shutil.which("nvcc") is None:
        pytest.skip("needs a CUDA build of torch and nvcc")
    env = clean_env()
    env["TORCH_CUDA_ARCH_LIST"] = "7.5 8.6+PTX"
    cmake = shutil.which("cmake", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    args = [cmake, "-S", ROOT, "-B", str(tmp_path / "build"), "-DMRCNN_PYTHON_EXECUTABLE=" + sys.executable,
            "-DMRCNN_CUDA=ON"]
    out = run(args, env=env)
    assert out.returncode == 0, out.stdout[-3000:]
    assert "sm_75;sm_86;compute_86" in out.stdout
    env["TORCH_CUDA_ARCH_LIST"] = "Turing"
    bad = run(args, env=env)
    assert bad.returncode != 0 and "'Turing'" in bad.stdout and "TORCH_CUDA_ARCH_LIST" in bad.stdout


def test_build_info_reports_the_compiled_architectures():
    import torch

    import mrcnn

    info = mrcnn.build_info()
    if torch.version.cuda is None:
        assert info["cuda kernels"] == "off"
        return
    # the test build (./run.sh test) compiles the kernels for the default list
    assert info["cuda kernels"] == "on"
    archs = info["cuda archs"].split()
    if not os.environ.get("TORCH_CUDA_ARCH_LIST"):
        assert archs == ["sm_75", "sm_80", "sm_86", "sm_89", "sm_90", "compute_90"]
    assert archs and all(a.startswith(("sm_", "compute_")) for a in archs)
