"""python -m mrcnn train / detect / evaluate / inspect on the datasets in ../shared/data, at tiny
settings: each command finishes and writes what it promises."""
import glob
import json
import os
import shutil

import cv2
import pytest

from conftest import shared_path
from mrcnn import cli


def test_inspect_via_folder(tmp_path):
    folder = shared_path("data", "balloon", "val")
    out = str(tmp_path / "inspect")
    cli.main(["inspect", "--dataset", folder, "--format", "via", "--default-class", "balloon", "--out", out,
              "--samples", "4"])
    stats = json.load(open(os.path.join(out, "dataset_stats.json")))
    assert stats["images"] > 0 and stats["class_counts"]["balloon"] == stats["instances"] > 0
    for name in ("dataset_stats.png", "samples.png"):
        assert cv2.imread(os.path.join(out, name)) is not None


def test_train_detect_evaluate_coco(tmp_path, capsys):
    coco = shared_path("data", "fruits_nuts", "trainval.json")
    logs = str(tmp_path / "logs")
    small = ["--min-dim", "128", "--max-dim", "128", "--batch", "1"]
    cli.main(["train", "--dataset", coco, "--format", "coco", "--weights", "none", "--logs", logs, "--name", "fruits",
              "--heads-epochs", "1", "--epochs", "2", "--steps", "2", "--val-steps", "1", "--workers", "1",
              "--lr", "0.001"] + small)
    checkpoints = sorted(glob.glob(os.path.join(logs, "fruits*", "mask_rcnn_fruits_*.pt")))
    assert [os.path.basename(c) for c in checkpoints] == ["mask_rcnn_fruits_0001.pt", "mask_rcnn_fruits_0002.pt"]
    # "last" continues the run: nothing left to do when the epochs are reached
    cli.main(["train", "--dataset", coco, "--format", "coco", "--weights", "last", "--logs", logs, "--name", "fruits",
              "--heads-epochs", "1", "--epochs", "2", "--steps", "2"] + small)
    assert len(glob.glob(os.path.join(logs, "fruits*", "mask_rcnn_fruits_*.pt"))) == 2
    # --val-fraction 0: every image trains, nothing validates
    capsys.readouterr()
    cli.main(["train", "--dataset", coco, "--format", "coco", "--weights", "none", "--logs", logs, "--name", "noval",
              "--heads-epochs", "1", "--epochs", "1", "--steps", "1", "--workers", "1", "--val-fraction", "0"] + small)
    assert "training and 0 validation images" in capsys.readouterr().out
    assert glob.glob(os.path.join(logs, "noval*", "mask_rcnn_noval_0001.pt"))

    images = tmp_path / "images"
    images.mkdir()
    source = sorted(glob.glob(os.path.join(os.path.dirname(coco), "images", "*")))[:2]
    for f in source:
        shutil.copy(f, images)
    (images / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    out = str(tmp_path / "detect")
    cli.main(["detect", "--weights", checkpoints[-1], "--image", str(images), "--out", out, "--min-confidence", "0",
              "--segmentation", "polygon"])
    assert "skipped" in capsys.readouterr().out  # the broken file is reported, the others processed
    pictures = sorted(glob.glob(os.path.join(out, "*_detections.png")))
    assert len(pictures) == 2
    records = json.load(open(os.path.join(out, "detections.json")))
    assert {r["file_name"] for r in records} <= {os.path.basename(f) for f in source}
    assert all(isinstance(r["segmentation"], list) for r in records)

    cli.main(["evaluate", "--weights", checkpoints[-1], "--dataset", coco, "--format", "coco", "--limit", "2",
              "--out", out] + small)
    summary = json.load(open(os.path.join(out, "evaluation.json")))
    assert "mAP50" in summary and (summary["segm"] is None or len(summary["segm"]) == 12)


def test_missing_inputs_give_clear_errors(tmp_path):
    with pytest.raises(SystemExit, match="does not exist"):
        cli.main(["inspect", "--dataset", str(tmp_path / "nope.json"), "--format", "coco"])
    with pytest.raises(SystemExit, match="no such file"):
        cli.main(["detect", "--weights", str(tmp_path / "nope.pt"), "--image", str(tmp_path)])


def test_detect_builds_the_network_its_checkpoint_describes(tmp_path):
    """A checkpoint trained with a non-default box head (FPN_CLASSIF_FC_LAYERS_SIZE = 256): detect
    builds that head and loads it, so two runs give the same detections (a random head would not)."""
    import numpy as np

    from mrcnn import _C
    from mrcnn import model as modellib
    from mrcnn.config import Config

    class Small(Config):
        NAME = "small"
        NUM_CLASSES = 3
        IMAGE_MIN_DIM = IMAGE_MAX_DIM = 128
        BACKBONE = "resnet50"
        FPN_CLASSIF_FC_LAYERS_SIZE = 256
        DETECTION_MIN_CONFIDENCE = 0.0

    import torch

    # random weights whose box head does not rank the background first in every region (each region
    # keeps its best class only): the same weights on every run
    torch.manual_seed(0)
    model = modellib.MaskRCNN("inference", Small(), str(tmp_path))
    weights = str(tmp_path / "mask_rcnn_small_0001.pt")
    _C.model.save_checkpoint(weights, model.net, ["BG", "a", "b"], 1)
    image = str(tmp_path / "image.png")
    cv2.imwrite(image, (np.random.default_rng(1).random((96, 120, 3)) * 255).astype(np.uint8))
    runs = []
    for k in range(2):
        out = str(tmp_path / ("detect%d" % k))
        cli.main(["detect", "--weights", weights, "--image", image, "--out", out, "--min-confidence", "0"])
        runs.append(json.load(open(os.path.join(out, "detections.json"))))
    assert runs[0] and runs[0] == runs[1]
    ref = model.detect([cv2.cvtColor(cv2.imread(image), cv2.COLOR_BGR2RGB)])[0]
    assert len(runs[0]) == len(ref["scores"])
    assert np.allclose(sorted(r["score"] for r in runs[0]), sorted(ref["scores"]), atol=1e-4)


@pytest.mark.parametrize("argv, flag", [
    (["train", "--dataset", "x.json", "--format", "coco", "--steps", "-1"], "--steps"),
    (["train", "--dataset", "x.json", "--format", "coco", "--lr", "nan"], "--lr"),
    (["train", "--dataset", "x.json", "--format", "coco", "--val-fraction", "1"], "--val-fraction"),
    (["train", "--dataset", "x.json", "--format", "coco", "--batch", "0"], "--batch"),
    (["detect", "--weights", "w.pt", "--image", "i.jpg", "--min-confidence", "1.5"], "--min-confidence"),
    (["inspect", "--dataset", "x.json", "--format", "coco", "--samples", "two"], "--samples"),
])
def test_numeric_arguments_are_checked(argv, flag, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2 and flag in capsys.readouterr().err


def test_evaluate_and_inspect_report_a_broken_image_and_go_on(tmp_path, capsys):
    """One corrupt image in the evaluated set is reported naming the file and left out; inspect
    draws the others."""
    import numpy as np

    from mrcnn import _C
    from mrcnn import model as modellib
    from mrcnn.config import Config

    folder = tmp_path / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "good.png"), np.full((64, 64, 3), 90, np.uint8))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    doc = {"images": [{"id": 1, "file_name": "good.png", "height": 64, "width": 64},
                      {"id": 2, "file_name": "broken.png", "height": 64, "width": 64}],
           "categories": [{"id": 1, "name": "thing"}],
           "annotations": [{"id": k, "image_id": k, "category_id": 1, "segmentation": [[5, 5, 40, 5, 40, 40]]}
                           for k in (1, 2)]}
    (tmp_path / "ann.json").write_text(json.dumps(doc))

    class Small(Config):
        NAME = "small"
        NUM_CLASSES = 2
        IMAGE_MIN_DIM = IMAGE_MAX_DIM = 64
        BACKBONE = "resnet50"

    weights = str(tmp_path / "mask_rcnn_small_0001.pt")
    _C.model.save_checkpoint(weights, modellib.MaskRCNN("inference", Small(), str(tmp_path)).net, ["BG", "thing"], 1)
    out = str(tmp_path / "eval")
    with pytest.warns(UserWarning, match="broken.png"):
        cli.main(["evaluate", "--weights", weights, "--dataset", str(tmp_path / "ann.json"), "--format", "coco",
                  "--out", out, "--min-confidence", "0"])
    assert os.path.exists(os.path.join(out, "evaluation.json"))
    with pytest.warns(UserWarning, match="broken.png"):
        cli.main(["inspect", "--dataset", str(tmp_path / "ann.json"), "--format", "coco", "--out", out,
                  "--samples", "2"])
    assert cv2.imread(os.path.join(out, "samples.png")) is not None


def test_under_torchrun_the_cli_says_the_whole_batch_once(monkeypatch, capsys):
    from mrcnn import model as modellib

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):  # the step after the message: no process group is needed to test it
        raise Stop

    coco = shared_path("data", "fruits_nuts", "trainval.json")
    monkeypatch.setattr(modellib, "MaskRCNN", stop)
    monkeypatch.setenv("WORLD_SIZE", "4")
    for rank, said in (("0", True), ("1", False)):
        monkeypatch.setenv("RANK", rank)
        with pytest.raises(Stop):
            cli.main(["train", "--dataset", coco, "--format", "coco", "--batch", "2", "--lr", "0.02"])
        out = capsys.readouterr().out
        assert ("== 4 processes train one model: 2 images each per step, 8 per step in all (learning rate 0.02 "
                "for that whole batch)" in out) is said, out
