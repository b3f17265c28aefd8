#!/usr/bin/env bash
# The GPU check, as one command on the lent GPU machine (one H100/H200, 16 cores, no network):
# what the machine has, the build, correctness on the device against torchvision, and throughput
# side by side with torchvision. Everything goes into OUT: gpu_check.log, environment.json,
# correctness.xml (JUnit), speed.json and summary.json (each step's status and every figure).
#
#   benchmarks/gpu_check.sh OUT                      on the GPU machine (about 8 minutes)
#   benchmarks/gpu_check.sh OUT --cpu --small        the same pipeline on the CPU, small (CI runs it)
#   options: --no-build (use the mrcnn already installed), --python PY
#
# A step that cannot run (a missing tool or module, a failed build) is recorded with the reason in
# summary.json and the log, and the later steps that need it are skipped: the first run on a new
# machine reports everything that is missing at once.
set -uo pipefail

OUT=${1:?usage: benchmarks/gpu_check.sh OUT [--cpu] [--small] [--no-build] [--python PY]}
shift
DEVICE=cuda SMALL="" BUILD=1 PY=${PYTHON:-python3}
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) DEVICE=cpu ;;
    --small) SMALL=--small ;;
    --no-build) BUILD=0 ;;
    --python) PY=$2; shift ;;
    *) echo "gpu_check: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
exec > >(tee "$OUT/gpu_check.log") 2>&1
cd "$ROOT"
START=$SECONDS
declare -A STATUS

step() {  # step NAME SECONDS COMMAND...: runs it with a time limit, records ok / failed (rc)
  local name=$1 limit=$2
  shift 2
  echo "== $name ($(date +%H:%M:%S), limit ${limit}s)"
  local t0=$SECONDS
  timeout "$limit" "$@"
  local rc=$?
  STATUS[$name]=$([ $rc -eq 0 ] && echo ok || echo "failed (exit $rc)")
  echo "== $name: ${STATUS[$name]} in $((SECONDS - t0)) s"
  return $rc
}

# 1. What the machine has (written whatever else happens).
step environment 60 "$PY" - "$OUT/environment.json" "$DEVICE" <<'EOF'
import importlib, json, shutil, subprocess, sys
out, device = sys.argv[1], sys.argv[2]
env = {"python": sys.version.split()[0], "missing": []}
for tool in ("cmake", "ninja", "nvcc", "g++", "ccache"):
    env[tool] = shutil.which(tool)
for module in ("torch", "torchvision", "numpy", "cv2", "pytest", "pycocotools", "tqdm", "matplotlib"):
    try:
        env[module] = getattr(importlib.import_module(module), "__version__", "present")
    except Exception as e:
        env[module] = None
        env["missing"].append("python module %s (%s)" % (module, type(e).__name__))
try:
    out_cv = subprocess.run(["pkg-config", "--modversion", "opencv4"], capture_output=True, text=True)
    env["opencv_cxx"] = out_cv.stdout.strip() or None
except OSError:
    env["opencv_cxx"] = None
if not env["opencv_cxx"]:
    import glob
    env["opencv_cxx"] = (glob.glob("/usr/include/opencv4/opencv2/core.hpp") + glob.glob("/usr/local/include/opencv4/opencv2/core.hpp") or [None])[0]
if not env["opencv_cxx"]:
    env["missing"].append("OpenCV C++ headers and libraries (built without: MRCNN_OPENCV=0; images are then "
                          "decoded in Python, photometric augmentation and mask polygons are off)")
if device == "cuda":
    import torch
    env["cuda_available"] = torch.cuda.is_available()
    env["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    env["torch_cuda"] = torch.version.cuda
    if not env["nvcc"]:
        env["missing"].append("nvcc (the CUDA kernels)")
    if not torch.cuda.is_available():
        env["missing"].append("a CUDA device visible to torch")
for tool in ("cmake", "g++"):
    if not env[tool]:
        env["missing"].append(tool)
json.dump(env, open(out, "w"), indent=1)
print(json.dumps(env, indent=1))
EOF

# 2. The build (pip install of this checkout against the torch that is there).
if [ "$BUILD" = 1 ]; then
  # OpenCV's C++ library where the machine has it, else the build without it (MRCNN_OPENCV=0)
  OPENCV=$("$PY" -c "import json; print(0 if json.load(open('$OUT/environment.json')).get('opencv_cxx') is None else 1)" \
           2>/dev/null || echo 1)
  [ "$OPENCV" = 0 ] && echo "== no OpenCV C++ here: building with MRCNN_OPENCV=0"
  MRCNN_OPENCV=$OPENCV MRCNN_JOBS=$(nproc) step build 420 "$PY" -m pip install --no-build-isolation --no-deps -q . || true
else
  STATUS[build]="skipped (--no-build)"
fi
if "$PY" -c "import mrcnn" 2>/dev/null; then
  "$PY" -c "import json, mrcnn; print(json.dumps(dict(mrcnn.build_info()), indent=1))" > "$OUT/build_info.json"
  BUILT=1
else
  BUILT=0
  echo "== mrcnn does not import: correctness and speed are skipped"
fi

# 3. Correctness on the device against torchvision (the tests' device cases).
if [ "$BUILT" = 1 ] && "$PY" -c "import pytest, torchvision" 2>/dev/null; then
  if [ "$DEVICE" = cuda ]; then
    SELECT=(tests/python/test_ops.py tests/python/test_model.py tests/python/test_train.py -k cuda)
  else
    SELECT=(tests/python/test_ops.py -k "torchvision and not cuda")
  fi
  MRCNN_DEVICE=$DEVICE step correctness 240 "$PY" -m pytest -q -p no:cacheprovider -rs "${SELECT[@]}" \
    --junitxml="$OUT/correctness.xml" || true
else
  STATUS[correctness]="skipped (mrcnn, pytest or torchvision missing)"
fi

# 4. Throughput side by side with torchvision.
if [ "$BUILT" = 1 ] && "$PY" -c "import torchvision" 2>/dev/null; then
  step speed 300 "$PY" benchmarks/gpu_speed.py --device "$DEVICE" $SMALL --json "$OUT/speed.json" || true
else
  STATUS[speed]="skipped (mrcnn or torchvision missing)"
fi

# 5. Summary.
STATUS_LINES=""
for k in "${!STATUS[@]}"; do STATUS_LINES+="$k=${STATUS[$k]}"$'\n'; done
"$PY" - "$OUT" "$((SECONDS - START))" "$STATUS_LINES" <<'EOF'
import json, os, sys, xml.etree.ElementTree as ET
out, seconds, lines = sys.argv[1], int(sys.argv[2]), sys.argv[3]
summary = {"seconds": seconds, "steps": dict(l.split("=", 1) for l in lines.splitlines() if l)}
for name in ("environment", "build_info", "speed"):
    path = os.path.join(out, name + ".json")
    if os.path.exists(path):
        summary[name] = json.load(open(path))
xml = os.path.join(out, "correctness.xml")
if os.path.exists(xml):
    suite = ET.parse(xml).getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    summary["correctness"] = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    summary["correctness"]["failed"] = [c.get("name") for c in suite.iter("testcase")
                                        if c.find("failure") is not None or c.find("error") is not None]
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=1)
print("== summary (%d s): %s" % (seconds, json.dumps(summary["steps"])))
if summary.get("environment", {}).get("missing"):
    print("== missing on this machine: " + "; ".join(summary["environment"]["missing"]))
EOF
for k in "${!STATUS[@]}"; do
  case "${STATUS[$k]}" in failed*) exit 1 ;; esac
done
exit 0
