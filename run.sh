#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine (see README.md):
#   ./run.sh demo    install what is missing, build, run the main job (writes out/demo/)
#   ./run.sh test    install what is missing, build with tests, run ctest and pytest
#   ./run.sh build   install what is missing and build only
#   ./run.sh bench   build, then run the benchmarks in benchmarks/
# Re-running is fast when nothing changed: ccache and an incremental CMake build.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)

DEB_PACKAGES="cmake ninja-build ccache g++ python3-dev python3-venv python3-pip python3-setuptools
  python3-wheel python3-numpy python3-pytest libtorch-dev python3-torch python3-torchvision
  libopencv-dev python3-opencv pybind11-dev python3-pybind11 libopenblas0-openmp libgtest-dev
  nlohmann-json3-dev libdnnl-dev python3-matplotlib python3-tqdm python3-pandas python3-h5py"
OPENBLAS_OPENMP=/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3

install_packages() {
  local missing=()
  for p in $DEB_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "Missing Debian packages. Run as root:" >&2
      echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
      exit 1
    fi
    echo "== installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # torch's CPU kernels call the system BLAS: the OpenMP build of OpenBLAS is ~8x faster than the
  # reference BLAS and, unlike the pthread build, shares torch's OpenMP threads.
  if [ "$(id -u)" -eq 0 ] && [ -e "$OPENBLAS_OPENMP" ]; then
    update-alternatives --set libblas.so.3-x86_64-linux-gnu "$OPENBLAS_OPENMP" >/dev/null 2>&1 || true
  fi
}

make_venv() {
  if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv (sees Debian's torch through --system-site-packages)"
    /usr/bin/python3 -m venv --system-site-packages .venv
  fi
  PY="$ROOT/.venv/bin/python"
}

build() {
  echo "== building mrcnn (pip install --no-build-isolation .)"
  local t0=$SECONDS
  MRCNN_BUILD_TESTS=${MRCNN_BUILD_TESTS:-0} "$PY" -m pip install --no-build-isolation --no-deps --no-index \
    --disable-pip-version-check -q . 2>&1 | grep -v "^\s*$" || true
  "$PY" -c "import mrcnn" || { echo "build failed" >&2; exit 1; }
  echo "== build took $((SECONDS - t0)) s"
  BUILD_DIR="$ROOT/build/cmake-$("$PY" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')"
}

cmd=${1:-}
case "$cmd" in
  demo)
    install_packages; make_venv; build
    "$PY" -c "import mrcnn; print(mrcnn.build_info())"
    "$PY" -m mrcnn demo --out "$ROOT/out/demo" "${@:2}"
    ;;
  test)
    install_packages; make_venv; MRCNN_BUILD_TESTS=1 build
    "$PY" -c "import mrcnn; print(mrcnn.build_info())"
    echo "== C++ tests (ctest)"
    ctest --test-dir "$BUILD_DIR" --output-on-failure -j2
    echo "== Python tests (pytest)"
    cd "$ROOT" && "$PY" -m pytest tests/python -q "${@:2}"
    ;;
  build)
    install_packages; make_venv; build
    ;;
  bench)
    install_packages; make_venv; build
    for b in benchmarks/bench_*.py; do "$PY" "$b" "${@:2}"; done
    ;;
  *)
    echo "usage: ./run.sh demo|test|build|bench" >&2
    exit 2
    ;;
esac
