"""Matterport's Keras .h5 weights on our network. The file is built here with h5py in Keras'
layout from the layer names and shapes of Matterport's architecture
(../shared/testdata/matterport/weights_layout.tsv: the shapes sample, ResNet-101, 4 classes), with
random values. Each converted layer is then checked against Keras' own definition of the layer
(HWIO kernels, BatchNorm with epsilon 1e-3, softmax over two RPN logits, (dy, dx, dh, dw) deltas
scaled by the std devs), written out with einsum rather than with the converter's transposes."""
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from standins import matterport_layout
from mrcnn import model as modellib
from mrcnn.config import Config

h5py = pytest.importorskip("h5py")


class ShapesConfig(Config):
    NAME = "shapes"
    NUM_CLASSES = 4
    IMAGES_PER_GPU = 1
    IMAGE_MIN_DIM = 128
    IMAGE_MAX_DIM = 128
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    PRE_NMS_LIMIT = 300
    POST_NMS_ROIS_INFERENCE = 300


def layout():
    return matterport_layout()


def write_keras_h5(path, rows, seed=0, backbone_biases=True):
    """A Keras save_weights file: layer_names on the root, weight_names on each layer group."""
    rng = np.random.RandomState(seed)
    if backbone_biases:  # Matterport builds conv1 and res*_branch* with use_bias=True
        rows = rows + [(n.replace("kernel", "bias"), (s[-1],)) for n, s in rows
                       if n.endswith("/kernel:0") and (n.startswith("res") or n.startswith("conv1"))]
    values = {}
    for name, shape in rows:
        if name.endswith("moving_variance:0"):
            v = rng.uniform(0.5, 2.0, shape)
        elif name.endswith("gamma:0"):
            v = rng.uniform(0.5, 1.5, shape)
        else:
            v = rng.normal(0, 0.05, shape)
        values[name] = v.astype(np.float32)
    layers = []
    for name in values:
        layer = name.split("/")[0]
        if layer not in layers:
            layers.append(layer)
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [l.encode() for l in layers]
        for layer in layers:
            g = f.create_group(layer)
            names = [n for n in values if n.split("/")[0] == layer]
            g.attrs["weight_names"] = [n.encode() for n in names]
            for n in names:
                g.create_dataset(n, data=values[n])
    return values


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("h5") / "mask_rcnn_shapes.h5")
    values = write_keras_h5(path, layout())
    config = ShapesConfig()
    model = modellib.MaskRCNN("inference", config, str(tmp_path_factory.mktemp("logs")))
    report = model.load_weights(path, by_name=True)
    return model, values, report, path


def bn(values, layer):
    return [torch.from_numpy(values["%s/%s:0" % (layer, k)]) for k in ("gamma", "beta", "moving_mean",
                                                                         "moving_variance")]


def keras_bn(x, values, layer):
    """BatchNorm(epsilon=1e-3) in inference over dim 1 (channels) of x."""
    g, b, m, v = bn(values, layer)
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return (x - m.view(shape)) / torch.sqrt(v.view(shape) + 1e-3) * g.view(shape) + b.view(shape)


def test_every_weight_of_the_file_is_used_and_the_network_is_rebuilt(loaded):
    model, values, report, _ = loaded
    keras = report["keras"]
    assert keras["unused"] == []
    assert keras["skipped"] == {}
    state = model.net.state_dict()
    assert set(report["loaded"]) == set(state)
    assert report["config_changes"] == {"STRIDE_IN_1X1": True, "RPN_HEAD_CHANNELS": 512}
    assert model.config.STRIDE_IN_1X1 and model.config.RPN_HEAD_CHANNELS == 512
    assert model.config.BACKBONE == "resnet101"
    assert len(keras["notes"]) >= 2
    r = model.detect([np.random.RandomState(0).randint(0, 255, (100, 120, 3)).astype(np.uint8)])[0]
    assert r["masks"].shape[:2] == (100, 120)


def test_backbone_conv_bias_and_batchnorm_fold_into_our_frozen_batchnorm(loaded):
    model, values, _, _ = loaded
    state = model.net.state_dict()
    eps = model.config.BACKBONE_BN_EPS
    x = torch.randn(1, 256, 5, 5)
    # Keras: 1x1 conv with bias, then BatchNorm(eps=1e-3); HWIO kernel applied with einsum
    k = torch.from_numpy(values["res2b_branch2a/kernel:0"])[0, 0]  # (in, out)
    ref = keras_bn(torch.einsum("co,nchw->nohw", k, x) + torch.from_numpy(values["res2b_branch2a/bias:0"]).view(
        1, -1, 1, 1), values, "bn2b_branch2a")
    p = "backbone.body.layer1.1."
    y = F.conv2d(x, state[p + "conv1.weight"])
    y = (y - state[p + "bn1.running_mean"].view(1, -1, 1, 1)) / torch.sqrt(
        state[p + "bn1.running_var"].view(1, -1, 1, 1) + eps) * state[p + "bn1.weight"].view(1, -1, 1, 1) \
        + state[p + "bn1.bias"].view(1, -1, 1, 1)
    assert torch.allclose(y, ref, atol=1e-4)


def test_box_head_fc6_is_the_7x7_conv_with_its_batchnorm(loaded):
    model, values, _, _ = loaded
    state = model.net.state_dict()
    x = torch.randn(3, 256, 7, 7)
    k = torch.from_numpy(values["mrcnn_class_conv1/kernel:0"])  # (7, 7, 256, 1024)
    ref = keras_bn(torch.einsum("ijco,ncij->no", k, x) + torch.from_numpy(values["mrcnn_class_conv1/bias:0"]),
                   values, "mrcnn_class_bn1")
    ours = F.linear(x.flatten(1), state["roi_heads.box_head.fc6.weight"], state["roi_heads.box_head.fc6.bias"])
    assert torch.allclose(ours, ref, atol=1e-3)


def test_mask_head_convs_and_deconv(loaded):
    model, values, _, _ = loaded
    state = model.net.state_dict()
    x = torch.randn(2, 256, 6, 6)
    k = torch.from_numpy(values["mrcnn_mask_conv1/kernel:0"])  # (3, 3, in, out), 'same' padding
    xp = F.pad(x, (1, 1, 1, 1))
    ref = sum(torch.einsum("co,nchw->nohw", k[i, j], xp[:, :, i:i + 6, j:j + 6]) for i in range(3) for j in range(3))
    ref = keras_bn(ref + torch.from_numpy(values["mrcnn_mask_conv1/bias:0"]).view(1, -1, 1, 1), values,
                   "mrcnn_mask_bn1")
    w = [v for k_, v in state.items() if k_.startswith("roi_heads.mask_head.0") and k_.endswith("weight")][0]
    b = [v for k_, v in state.items() if k_.startswith("roi_heads.mask_head.0") and k_.endswith("bias")][0]
    assert torch.allclose(F.conv2d(x, w, b, padding=1), ref, atol=1e-3)
    # Conv2DTranspose 2x2 stride 2: out[o, 2y+i, 2x+j] = sum_c in[c, y, x] * K[i, j, o, c] + b[o]
    kd = torch.from_numpy(values["mrcnn_mask_deconv/kernel:0"])
    ref = torch.zeros(2, 256, 12, 12)
    for i in range(2):
        for j in range(2):
            ref[:, :, i::2, j::2] = torch.einsum("oc,nchw->nohw", kd[i, j], x)
    ref += torch.from_numpy(values["mrcnn_mask_deconv/bias:0"]).view(1, -1, 1, 1)
    ours = F.conv_transpose2d(x, state["roi_heads.mask_predictor.conv5_mask.weight"],
                              state["roi_heads.mask_predictor.conv5_mask.bias"], stride=2)
    assert torch.allclose(ours, ref, atol=1e-4)


def test_rpn_scores_and_deltas_decode_alike(loaded):
    model, values, _, _ = loaded
    state = model.net.state_dict()
    cfg = model.config
    h = torch.randn(512)
    kc = torch.from_numpy(values["rpn_class_raw/kernel:0"])[0, 0]  # (512, 2A): anchor a -> (bg, fg)
    logits = (h @ kc + torch.from_numpy(values["rpn_class_raw/bias:0"])).view(-1, 2)
    fg = torch.softmax(logits, dim=1)[:, 1]
    kb = torch.from_numpy(values["rpn_bbox_pred/kernel:0"])[0, 0]
    deltas = (h @ kb + torch.from_numpy(values["rpn_bbox_pred/bias:0"])).view(-1, 4) * torch.tensor([0.1, 0.1, 0.2,
                                                                                                        0.2])
    ours_logit = state["rpn.head.cls_logits.weight"][:, :, 0, 0] @ h + state["rpn.head.cls_logits.bias"]
    ours_deltas = (state["rpn.head.bbox_pred.weight"][:, :, 0, 0] @ h + state["rpn.head.bbox_pred.bias"]).view(-1, 4)
    ours_deltas = ours_deltas * torch.tensor(np.asarray(cfg.RPN_BBOX_STD_DEV, np.float32))
    for j, r in enumerate(cfg.RPN_ANCHOR_RATIOS):  # width/height on both sides, Matterport's file in [0.5, 1, 2]
        a = [0.5, 1, 2].index(r)
        assert torch.allclose(torch.sigmoid(ours_logit[j]), fg[a], atol=1e-5)
        dy, dx, dh, dw = deltas[a]
        assert torch.allclose(ours_deltas[j], torch.stack([dx, dy, dw, dh]), atol=1e-5)


def test_rpn_head_follows_the_configs_anchor_order(loaded, tmp_path):
    model, _, _, path = loaded

    class Reversed(ShapesConfig):
        RPN_ANCHOR_RATIOS = [2, 1, 0.5]

    other = modellib.MaskRCNN("inference", Reversed(), str(tmp_path))
    other.load_weights(path, by_name=True, verbose=False)
    a, b = model.net.state_dict(), other.net.state_dict()
    assert torch.equal(b["rpn.head.cls_logits.weight"], a["rpn.head.cls_logits.weight"].flip(0))
    assert torch.equal(b["rpn.head.bbox_pred.weight"].view(3, 4, -1), a["rpn.head.bbox_pred.weight"].view(3, 4, -1).flip(0))


def test_class_logits_and_box_deltas(loaded):
    model, values, _, _ = loaded
    state = model.net.state_dict()
    h = torch.randn(1024)
    logits = h @ torch.from_numpy(values["mrcnn_class_logits/kernel:0"]) + torch.from_numpy(
        values["mrcnn_class_logits/bias:0"])
    ours = F.linear(h, state["roi_heads.box_predictor.cls_score.weight"], state["roi_heads.box_predictor.cls_score.bias"])
    assert torch.allclose(ours, logits, atol=1e-5)
    deltas = (h @ torch.from_numpy(values["mrcnn_bbox_fc/kernel:0"]) + torch.from_numpy(
        values["mrcnn_bbox_fc/bias:0"])).view(-1, 4) * torch.tensor([0.1, 0.1, 0.2, 0.2])
    ours = F.linear(h, state["roi_heads.box_predictor.bbox_pred.weight"],
                    state["roi_heads.box_predictor.bbox_pred.bias"]).view(-1, 4)
    ours = ours * torch.tensor(np.asarray(model.config.BBOX_STD_DEV, np.float32))
    assert torch.allclose(ours, deltas[:, [1, 0, 3, 2]], atol=1e-5)


def test_exclude_with_matterport_names_and_bad_files(loaded, tmp_path):
    _, _, _, path = loaded
    model = modellib.MaskRCNN("training", ShapesConfig(), str(tmp_path))
    before = model.net.state_dict()["roi_heads.box_predictor.cls_score.weight"].clone()
    report = model.load_weights(path, by_name=True, exclude=["mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_bbox",
                                                             "mrcnn_mask"], verbose=False)
    assert set(report["excluded"]) == {"roi_heads.box_predictor.cls_score.weight",
                                       "roi_heads.box_predictor.cls_score.bias",
                                       "roi_heads.box_predictor.bbox_pred.weight",
                                       "roi_heads.box_predictor.bbox_pred.bias",
                                       "roi_heads.mask_predictor.mask_fcn_logits.weight",
                                       "roi_heads.mask_predictor.mask_fcn_logits.bias"}
    # the excluded layers keep the rebuilt network's fresh values, the rest come from the file
    assert model.net.state_dict()["roi_heads.box_predictor.cls_score.weight"].shape == before.shape
    assert len(report["loaded"]) == len(model.net.state_dict()) - 6
    bad = tmp_path / "broken.h5"
    bad.write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match="broken.h5"):
        model.load_weights(str(bad))
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        model.load_weights(str(tmp_path / "missing.h5"))
    assert os.path.exists(path)
