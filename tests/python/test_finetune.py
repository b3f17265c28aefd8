"""The fine-tune path of the notebooks, at small settings: torchvision's COCO Mask R-CNN downloaded by
name (a stand-in with the real layer names and shapes, random values, served on 127.0.0.1), the
heads excluded, the heads trained, then all layers, the last checkpoint reloaded for inference,
detection and a picture."""
import hashlib
import io
import os

import numpy as np
import pytest
import torch

from mrcnn import download, visualize
from mrcnn import model as modellib
from mrcnn.config import Config
from mrcnn.shapes import ShapesDataset
from standins import Server

torchvision = pytest.importorskip("torchvision")


class ShapesConfig(Config):
    NAME = "finetune"
    NUM_CLASSES = 1 + 3
    IMAGES_PER_GPU = 1
    IMAGE_MIN_DIM = IMAGE_MAX_DIM = 128
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    TRAIN_ROIS_PER_IMAGE = 32
    PRE_NMS_LIMIT = POST_NMS_ROIS_TRAINING = POST_NMS_ROIS_INFERENCE = 300
    STEPS_PER_EPOCH = 2
    VALIDATION_STEPS = 1


def _coco_standin():
    """torchvision's maskrcnn_resnet50_fpn state_dict (random weights) as torch.save bytes, and the
    file name torchvision gives it (with the SHA-256 prefix torch.hub checks)."""
    torch.manual_seed(0)
    tv = torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None)
    buf = io.BytesIO()
    torch.save(tv.state_dict(), buf)
    data = buf.getvalue()
    return data, "maskrcnn_resnet50_fpn_coco-%s.pth" % hashlib.sha256(data).hexdigest()[:8]


def _shapes(count, seed):
    ds = ShapesDataset(seed)
    ds.load_shapes(count, 128, 128)
    ds.prepare()
    return ds


def test_coco_weights_heads_then_all_layers_then_detect(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MRCNN_OFFLINE", raising=False)
    before = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    server = Server()
    try:
        data, name = _coco_standin()
        monkeypatch.setitem(download.WEIGHTS, "coco", server.add("/models/" + name, data))
        model = modellib.MaskRCNN("training", ShapesConfig(), str(tmp_path / "logs"))
        report = model.load_weights("coco", by_name=True,
                                    exclude=["mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_bbox", "mrcnn_mask"])
        out = capsys.readouterr().out
        assert "is torchvision's Mask R-CNN; set BACKBONE=resnet50" in out
        assert not report["missing"] and not report["mismatched"] and len(report["excluded"]) == 6
        state = torch.load(os.path.join(str(tmp_path / "hub"), "checkpoints", name), weights_only=True)
        assert torch.equal(model.net.state_dict()["backbone.body.layer2.0.conv1.weight"],
                           state["backbone.body.layer2.0.conv1.weight"])
        # torchvision's RPN head (anchors width/height 2, 1, 0.5) in Matterport's order [0.5, 1, 2]
        assert torch.equal(model.net.state_dict()["rpn.head.cls_logits.weight"],
                           state["rpn.head.cls_logits.weight"].flip(0))
        train, val = _shapes(4, 0), _shapes(2, 1)
        backbone_before = model.net.state_dict()["backbone.body.layer3.0.conv2.weight"].clone()
        model.train(train, val, learning_rate=0.001, epochs=1, layers="heads", verbose=0)
        assert torch.equal(model.net.state_dict()["backbone.body.layer3.0.conv2.weight"], backbone_before)
        model.train(train, val, learning_rate=0.0005, epochs=2, layers="all", verbose=0)
        assert not torch.equal(model.net.state_dict()["backbone.body.layer3.0.conv2.weight"], backbone_before)
        assert server.hits["/models/" + name] == 1  # the hub cache is used from then on

        class InferenceConfig(ShapesConfig):
            DETECTION_MIN_CONFIDENCE = 0.0

        inference = modellib.MaskRCNN("inference", InferenceConfig(), str(tmp_path / "logs"))
        last = inference.find_last()
        assert last.endswith("mask_rcnn_finetune_0002.pt")
        inference.load_weights(last, by_name=True)
        # the checkpoint carries what the COCO weights set: the inference Config follows it
        assert inference.config.BACKBONE == "resnet50" and inference.config.BACKBONE_BN_EPS == 0.0
        image = val.load_image(val.image_ids[0])
        r = inference.detect([image])[0]
        assert r["masks"].shape[:2] == image.shape[:2] and len(r["scores"]) == r["masks"].shape[2]
        picture = str(tmp_path / "detections.png")
        visualize.display_instances(image, r["rois"], r["masks"], r["class_ids"], val.class_names, r["scores"],
                                    path=picture)
        assert open(picture, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
        assert np.isfinite(r["scores"]).all()
    finally:
        server.httpd.shutdown()
        torch.hub.set_dir(before)
