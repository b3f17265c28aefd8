#!/usr/bin/env bash
# One entry point for a fresh Debian 12/13 machine (see README.md):
#   ./run.sh demo    install what is missing, build, run the main job (writes out/demo/)
#   ./run.sh test    install what is missing, build with tests, run ctest and pytest
#   ./run.sh build   install what is missing and build only
#   ./run.sh bench   build, then run the benchmarks in benchmarks/
# Python side: a virtual environment .venv with pip's torch and every Python dependency (the
# pyproject.toml extras "test" and "notebooks"). C++ side: Debian's OpenCV, GoogleTest,
# nlohmann-json, oneDNN 2, ccache and ninja (installed as root; otherwise the apt-get line is printed).
# Re-running is fast when nothing changed: ccache and an incremental CMake build.
#
#   MRCNN_TORCH   the torch requirement(s) for .venv (default below: the pip torch and torchvision
#                 that import together on this machine; a CUDA build, which also runs on the CPU)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
MRCNN_TORCH=${MRCNN_TORCH:-"torch==2.14.1 torchvision==0.29.1"}

DEB_PACKAGES="g++ ninja-build ccache libopencv-dev libgtest-dev nlohmann-json3-dev"

install_packages() {
  local packages=$DEB_PACKAGES
  # oneDNN 2.x (Winograd convolutions) where the distribution still has it (Debian 12)
  if apt-cache show libdnnl-dev 2>/dev/null | grep -q "^Version: 2\."; then packages="$packages libdnnl-dev"; fi
  # a Python without venv/ensurepip (Debian's own python3) needs python3-venv
  python3 -c "import ensurepip, venv" 2>/dev/null || packages="$packages python3-venv python3-dev"
  local missing=()
  for p in $packages; do
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
}

make_venv() {
  if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv"
    python3 -m venv .venv
  fi
  PY="$ROOT/.venv/bin/python"
  # the extras' requirements, read from pyproject.toml (one list for run.sh, CI and users)
  local extras
  extras=$("$PY" - <<'EOF'
import tomllib
with open("pyproject.toml", "rb") as f:
    p = tomllib.load(f)["project"]
reqs = list(p["dependencies"]) + [r for k in ("test", "notebooks") for r in p["optional-dependencies"][k]]
print("\n".join(r for r in dict.fromkeys(reqs) if not r.startswith(("torch", "torchvision"))))
EOF
)
  local stamp=.venv/.mrcnn-requirements
  local want
  want=$(printf '%s\n%s\n' "$MRCNN_TORCH" "$extras")
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "== installing Python packages into .venv: $MRCNN_TORCH and the test/notebook extras"
    local t0=$SECONDS
    # shellcheck disable=SC2086
    "$PY" -m pip install -q --disable-pip-version-check $MRCNN_TORCH 2>&1 | grep -v "^WARNING: Location" || true
    # shellcheck disable=SC2086
    "$PY" -m pip install -q --disable-pip-version-check setuptools wheel cmake $extras 2>&1 \
      | grep -v "^WARNING: Location" || true
    "$PY" -c "import torch, torchvision, numpy, cv2, pycocotools" || { echo "Python packages failed to install" >&2; exit 1; }
    echo "$want" > "$stamp"
    echo "== Python packages took $((SECONDS - t0)) s"
  fi
  export PATH="$ROOT/.venv/bin:$PATH"
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
    cd "$ROOT" && "$PY" -m pytest tests/python -q -rs "${@:2}"
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
