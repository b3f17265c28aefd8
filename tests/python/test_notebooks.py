"""The notebooks in notebooks/ and the Matterport-style example script run from top to bottom at
their small settings (MRCNN_NOTEBOOK_SMALL=1) and leave their pictures and checkpoints behind; the
committed notebooks carry no outputs."""
import ast
import glob
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

import mrcnn
import standins
from conftest import SHARED, shared_path

nbformat = pytest.importorskip("nbformat")

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NOTEBOOK_DIR = os.path.join(ROOT, "notebooks")
EXAMPLE = os.path.join(ROOT, "examples", "python", "matterport_shapes.py")
# the folder holding the mrcnn package this test imports: the kernel must import the same one
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(mrcnn.__file__)))
CELL_TIMEOUT = 600

# train_shapes first: inspect_model, run after it with the same logs folder, loads its last checkpoint
ORDER = ["train_shapes", "inspect_model", "inspect_data", "balloon", "fashion"]
SHARED_LOGS = ("train_shapes", "inspect_model")

# notebook -> (data folder under ../shared/data it needs or None, pictures it must write
# under <logs>/figures/<notebook>/, training run name whose checkpoints it must leave or None).
# Notebooks in DOWNLOADS fetch their data (and weights) as in Colab, here from a local server
# serving stand-ins made from ../shared (see standins.py).
NOTEBOOKS = {
    "train_shapes": (None, ["top_masks_*.png", "losses.png", "ground_truth.png", "detections.png"], "shapes"),
    "fashion": ("fashion", ["class_distribution.png", "top_masks_*.png", "loss_per_epoch.png", "detections_*.png"],
                "fashion"),
    "balloon": ("balloon", ["training_image.png", "losses.png", "detections.png", "splash_*.png"], "balloon"),
    "inspect_data": ("fruits_nuts", ["dataset_stats.png", "samples.png", "top_masks_*.png", "boxes.png",
                                     "resized.png", "mini_masks_expanded.png", "augmented_function.png",
                                     "augmented_loader.png", "anchors.png"], None),
    "inspect_model": (None, ["predictions.png", "differences.png", "precision_recall.png", "overlaps.png",
                             "stage_times.png", "feature_maps.png", "proposals.png"], "shapes"),
}


DOWNLOADS = {
    "balloon": lambda tmp: {"/balloon_dataset.zip": standins.balloon_zip(4, 2),
                            "/mask_rcnn_coco.h5": open(standins.coco_h5(str(tmp / "coco.h5")), "rb").read()},
    "inspect_data": lambda tmp: {"/data.zip": standins.fruits_zip(6)},
}


def _read(name):
    return nbformat.read(os.path.join(NOTEBOOK_DIR, name + ".ipynb"), as_version=4)


def _code(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def _small_env(monkeypatch, tmp_path, logs=None):
    """Environment of the kernel / script: small settings, logs in tmp_path (or `logs`), the
    package and the data of this checkout, and a "python3" kernel that is this interpreter."""
    logs = logs or tmp_path / "logs"
    monkeypatch.setenv("MRCNN_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("MRCNN_LOGS", str(logs))
    monkeypatch.setenv("MRCNN_DATA", os.path.join(SHARED, "data"))
    path = [PACKAGE_DIR] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path))
    # "python3" resolves to the first kernel spec of that name on JUPYTER_PATH: this interpreter,
    # which has the package's dependencies (a system-wide spec may name another Python)
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return logs


def _drop_checkpoints(logs):
    """Training runs leave checkpoints of a few hundred MB each: free the disk once checked."""
    for run in glob.glob(str(logs / "*")):
        if glob.glob(os.path.join(run, "*.pt")):
            shutil.rmtree(run, ignore_errors=True)


@pytest.fixture(scope="module")
def shapes_logs(tmp_path_factory):
    """The logs folder train_shapes and inspect_model share."""
    logs = tmp_path_factory.mktemp("shapes_logs")
    yield logs
    _drop_checkpoints(logs)


def test_every_notebook_is_tested():
    assert sorted(os.path.basename(p)[:-6] for p in glob.glob(os.path.join(NOTEBOOK_DIR, "*.ipynb"))) == \
        sorted(NOTEBOOKS) == sorted(ORDER)


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_committed_notebook_is_clean(name):
    """Valid nbformat 4, no outputs or execution counts, the python3 kernel, small settings read in
    the first code cell, logs (and data) paths from the environment."""
    nb = _read(name)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata.kernelspec.name == "python3"
    code = _code(nb)
    assert code and any(c.cell_type == "markdown" for c in nb.cells)
    for cell in code:
        assert cell.outputs == [], "%s.ipynb: a cell has outputs:\n%s" % (name, cell.source[:200])
        assert cell.execution_count is None, "%s.ipynb: a cell has an execution count" % name
    # Colab: the first cell installs mrcnn unless it is importable; no path into this repository
    assert 'importlib.util.find_spec("mrcnn") is None' in code[0].source and "%pip install" in code[0].source
    assert not any("sys.path" in c.source or "shared" in c.source or "ROOT_DIR" in c.source for c in code)
    assert 'os.environ.get("MRCNN_NOTEBOOK_SMALL"' in code[1].source
    assert 'os.environ.get("MRCNN_LOGS", "logs")' in code[1].source
    if name in DOWNLOADS:
        assert any("download.sample_data(" in c.source for c in code)
    elif NOTEBOOKS[name][0]:
        assert any("download.data_root()" in c.source for c in code)
    assert "import mrcnn.model as modellib" in code[1].source


@pytest.mark.parametrize("name", ORDER)
def test_notebook_runs(name, tmp_path, monkeypatch, shapes_logs):
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    pytest.importorskip("pandas")
    data, pictures, run_name = NOTEBOOKS[name]
    if data:
        shared_path("data", data)
    logs = _small_env(monkeypatch, tmp_path, shapes_logs if name in SHARED_LOGS else None)
    server = None
    if name in DOWNLOADS:  # as in Colab: nothing on disk, everything downloaded (from the stand-in server)
        server = standins.Server()
        for path, body in DOWNLOADS[name](tmp_path).items():
            server.add(path, body)
        monkeypatch.setenv("MRCNN_MIRROR", server.url)
        monkeypatch.setenv("MRCNN_DATA", str(tmp_path / "data"))
        monkeypatch.setenv("MRCNN_OFFLINE", "0")
        monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    had_checkpoint = bool(glob.glob(str(logs / "shapes*" / "*.pt")))
    nb = _read(name)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    start = time.time()
    try:
        client.execute()
    finally:
        # the executed copy, for a look when something failed
        nbformat.write(nb, str(tmp_path / (name + ".ipynb")))
        if server is not None:
            server.httpd.shutdown()
    print("%s.ipynb ran in %.1f s" % (name, time.time() - start))

    for cell in _code(nb):
        assert cell.execution_count is not None
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, "%s" % errors
    figures = logs / "figures" / name
    for pattern in pictures:
        found = glob.glob(str(figures / pattern))
        assert found, "%s.ipynb wrote no %s in %s (it wrote: %s)" % (
            name, pattern, figures, sorted(os.listdir(figures)) if figures.exists() else "nothing")
        for path in found:
            with open(path, "rb") as f:
                assert f.read(8) == b"\x89PNG\r\n\x1a\n", path
    # inline figures came back as PNG outputs
    assert any("image/png" in o.get("data", {}) for c in _code(nb) for o in c.outputs)
    if run_name:
        checkpoints = glob.glob(str(logs / (run_name + "*") / ("mask_rcnn_%s_*.pt" % run_name)))
        assert checkpoints, "no %s checkpoint under %s" % (run_name, logs)
        if name not in SHARED_LOGS:
            _drop_checkpoints(logs)
    text = "".join(o.get("text", "") for c in _code(nb) for o in c.outputs if o.output_type == "stream")
    if server is not None:  # each file fetched once, unpacked where MRCNN_DATA says
        assert all(server.hits.get(p) == 1 for p in server.files), server.hits
        assert os.listdir(tmp_path / "data")
    if name in ("train_shapes", "fashion", "inspect_model"):
        assert "mAP @ IoU 0.5" in text
    if name == "inspect_model":
        # the last checkpoint of train_shapes when there was one, a short training run otherwise
        assert ("training a model briefly" in text) == (not had_checkpoint)


def _imports(path):
    tree = ast.parse(open(path).read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.update("%s.%s" % (node.module, a.name) for a in node.names)
    return names


def test_example_uses_only_matterports_modules():
    mrcnn_imports = {n for n in _imports(EXAMPLE) if n.startswith("mrcnn")}
    assert mrcnn_imports == {"mrcnn.config.Config", "mrcnn.utils", "mrcnn.visualize", "mrcnn.model"}


def test_matterport_example_script_runs(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    logs = _small_env(monkeypatch, tmp_path)
    start = time.time()
    proc = subprocess.run([sys.executable, EXAMPLE], cwd=str(tmp_path), capture_output=True, text=True,
                          timeout=CELL_TIMEOUT)
    print("matterport_shapes.py ran in %.1f s" % (time.time() - start))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    picture = logs / "shapes_detections.png"
    assert picture.exists() and picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert glob.glob(str(logs / "shapes*" / "mask_rcnn_shapes_0002.pt"))
    assert "mAP: " in proc.stdout
    _drop_checkpoints(logs)
