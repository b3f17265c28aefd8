"""The network against torchvision's maskrcnn_resnet50_fpn (0.14.1) with the same weights.

torchvision builds the model with seeded random weights; its BatchNorm statistics are randomised
too, so the frozen BatchNorm is exercised. Our model loads torchvision's state_dict by name and
must produce the same detections: boxes within 1e-2 px, scores within 1e-4, equal labels, mask
probabilities within 1e-6 and thresholded masks with IoU >= 0.999 per instance. (Built the way
torchvision builds it for pretrained weights, with frozen BatchNorm, the two agree bit for bit up
to the mask pasting.)
"""
import json
import os

import numpy as np
import pytest
import torch

import mrcnn
from mrcnn import _C
from mrcnn import model as modellib
from mrcnn.config import Config

torchvision = pytest.importorskip("torchvision")
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor  # noqa: E402
from torchvision.models.detection.mask_rcnn import MaskRCNN as TvMaskRCNN  # noqa: E402
from torchvision.ops.misc import FrozenBatchNorm2d  # noqa: E402


def randomise_batchnorm(model, seed):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, FrozenBatchNorm2d):
            n = m.weight.numel()
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
            m.weight.copy_(torch.rand(n, generator=g) * 0.4 + 0.4)
            m.bias.copy_(torch.randn(n, generator=g) * 0.1)


def torchvision_model(depth="resnet50", num_classes=91, seed=0):
    """torchvision's Mask R-CNN as built for pretrained weights (frozen BatchNorm), random weights."""
    torch.manual_seed(seed)
    body = getattr(torchvision.models, depth)(weights=None, norm_layer=FrozenBatchNorm2d)
    model = TvMaskRCNN(_resnet_fpn_extractor(body, 5), num_classes=num_classes, box_score_thresh=0.0)
    randomise_batchnorm(model, seed + 1)
    return model.eval()


def our_model(tv, depth="resnet50", num_classes=91):
    cfg = json.loads(_C.model.torchvision_config(num_classes))
    # NCHW direct convolutions: the same oneDNN arithmetic as torchvision's, so results match bit for
    # bit (the fast path, channels-last with Winograd convolutions, is compared separately below)
    cfg.update(BACKBONE=depth, BACKBONE_BN_EPS=1e-5, DETECTION_MIN_CONFIDENCE=0.0, CHANNELS_LAST=False,
               FOLD_FROZEN_BN=False, CONV_WINOGRAD=False)
    model = _C.model.MaskRCNN(json.dumps(cfg))
    report = model.load_state_dict(tv.state_dict(), [])
    # BatchNorm's num_batches_tracked is the only thing the frozen model has no place for
    assert all(k.endswith("num_batches_tracked") for k in report["unexpected"]), report["unexpected"][:5]
    assert report["missing"] == [] and report["mismatched"] == []
    model.eval()
    return model


def mask_iou(a, b):
    inter = (a & b).sum().item()
    union = (a | b).sum().item()
    return 1.0 if union == 0 else inter / union


def compare(tv, ours, images):
    with torch.no_grad():
        ref = tv(images)
    got = ours.detect(images, -1.0)
    assert len(got) == len(ref)
    for r, g in zip(ref, got):
        assert g["boxes"].shape == r["boxes"].shape and len(r["boxes"]) == 100
        assert torch.equal(g["labels"], r["labels"])
        torch.testing.assert_close(g["boxes"], r["boxes"], rtol=0, atol=1e-2)
        torch.testing.assert_close(g["scores"], r["scores"], rtol=0, atol=1e-4)
        # Pasting computes ATen's bilinear resize exactly (test_ops), but the 28x28 probabilities
        # it starts from can differ by a few float ulps (seen with ResNet-101 on torch 2.14: 2 of 12M
        # pasted pixels off by 1.07e-6). With random weights many mask probabilities sit within
        # that of 0.5, where thresholding is undecidable: those pixels are left out of the IoU.
        ref_prob = r["masks"][:, 0]
        torch.testing.assert_close(g["masks"], ref_prob, rtol=0, atol=2e-6)
        decided = (ref_prob - 0.5).abs() > 2e-6
        ious = [mask_iou(a & d, b & d) for a, b, d in zip(g["masks"] >= 0.5, ref_prob >= 0.5, decided)]
        assert min(ious) >= 0.999, min(ious)


def test_resnet50_matches_torchvision_on_a_rounding_trap_size():
    tv = torchvision_model()
    ours = our_model(tv)
    image = torch.rand(3, 427, 640, generator=torch.Generator().manual_seed(5))  # resized to 800x1199
    compare(tv, ours, [image])


def test_resnet50_batch_of_two_sizes():
    tv = torchvision_model(num_classes=5, seed=3)
    ours = our_model(tv, num_classes=5)
    g = torch.Generator().manual_seed(6)
    compare(tv, ours, [torch.rand(3, 480, 360, generator=g), torch.rand(3, 333, 500, generator=g)])


def test_resnet101_matches_torchvision():
    tv = torchvision_model("resnet101", num_classes=3, seed=7)
    ours = our_model(tv, "resnet101", num_classes=3)
    compare(tv, ours, [torch.rand(3, 300, 400, generator=torch.Generator().manual_seed(8))])


def test_fast_path_features_match_exact_path():
    """CHANNELS_LAST, FOLD_FROZEN_BN and CONV_WINOGRAD (the defaults) change only the rounding."""
    tv = torchvision_model(num_classes=3, seed=13)
    nchw = our_model(tv, num_classes=3)
    cfg = json.loads(nchw.config_json())
    cfg["CHANNELS_LAST"] = True
    cfg["FOLD_FROZEN_BN"] = True
    cfg["CONV_WINOGRAD"] = True
    cl = _C.model.MaskRCNN(json.dumps(cfg))
    cl.load_state_dict(tv.state_dict(), [])
    cl.eval()
    image = torch.rand(3, 320, 416, generator=torch.Generator().manual_seed(14))
    a, b = nchw.stages([image]), cl.stages([image])
    for fa, fb in zip(a["features"], b["features"]):
        assert fb.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(fb, fa, rtol=1e-4, atol=1e-3 * fa.abs().max().item())
    dets = cl.detect([image], 0.5)[0]
    assert dets["boxes"].shape[1] == 4 and dets["masks"].dtype == torch.bool
    # the fast path computes only each detection's class mask (transposed conv as a 1x1 conv,
    # the class's 1x1 layer as a matrix-vector product): the same probabilities
    exact, fast = nchw.detect([image], -1.0)[0], cl.detect([image], -1.0)[0]
    assert torch.equal(exact["labels"], fast["labels"])
    torch.testing.assert_close(fast["masks"], exact["masks"], rtol=0, atol=1e-4)


def test_old_key_names_and_exclude():
    tv = torchvision_model(num_classes=4, seed=9)
    state = tv.state_dict()
    old = {}
    for k, v in state.items():
        k = k.replace("rpn.head.conv.0.0.", "rpn.head.conv.")
        for i in range(4):
            k = k.replace("roi_heads.mask_head.%d.0." % i, "roi_heads.mask_head.mask_fcn%d." % (i + 1))
            k = k.replace("backbone.fpn.inner_blocks.%d.0." % i, "backbone.fpn.inner_blocks.%d." % i)
            k = k.replace("backbone.fpn.layer_blocks.%d.0." % i, "backbone.fpn.layer_blocks.%d." % i)
        old[k] = v
    cfg = json.loads(_C.model.torchvision_config(7))  # a different class count
    model = _C.model.MaskRCNN(json.dumps(cfg))
    report = model.load_state_dict(old, [r"roi_heads\.(box_predictor|mask_predictor\.mask_fcn_logits)"])
    assert "rpn.head.conv.weight -> rpn.head.conv.0.0.weight" in report["renamed"]
    assert report["mismatched"] == [] and report["missing"] == []
    assert "roi_heads.box_predictor.cls_score.weight" in report["excluded"]
    ours = dict(model.state_dict())
    assert torch.equal(ours["roi_heads.mask_head.2.0.weight"], state["roi_heads.mask_head.2.0.weight"])
    # without exclude, the class-count mismatch is reported and skipped
    report = _C.model.MaskRCNN(json.dumps(cfg)).load_state_dict(old, [])
    assert any(m.startswith("roi_heads.box_predictor.cls_score.weight") for m in report["mismatched"])


def test_bad_config_is_a_clear_error():
    cfg = json.loads(_C.model.default_config())
    cfg["NUM_CLASSES"] = 1
    with pytest.raises(ValueError, match="NUM_CLASSES"):
        _C.model.MaskRCNN(json.dumps(cfg))
    with pytest.raises(ValueError, match="NOT_A_FIELD"):
        _C.model.MaskRCNN(json.dumps({"NOT_A_FIELD": 1}))
    with pytest.raises(ValueError, match="BACKBONE"):
        _C.model.MaskRCNN(json.dumps({"NUM_CLASSES": 2, "BACKBONE": "vgg"}))


def synthetic_targets(images):
    targets = []
    for img in images:
        h, w = img.shape[1:]
        boxes = torch.tensor([[20.0, 30, 150, 200], [100, 50, 260, 180]]) * torch.tensor(
            [w / 400, h / 300, w / 400, h / 300])
        masks = torch.zeros(2, h, w, dtype=torch.uint8)
        for i, b in enumerate(boxes.round().long()):
            masks[i, b[1]:b[3], b[0]:b[2]] = 1
        targets.append(dict(boxes=boxes, labels=torch.tensor([1, 3]), masks=masks))
    return targets


def test_training_losses_and_gradients_match_torchvision():
    """Same weights, images and targets, same seed: the five losses are equal.

    Both sides draw their anchor and RoI samples from torch's default generator in the same order;
    torchvision's transform additionally draws one number per image (its random choice among
    min_size values), which the test draws too before calling ours, so the samples coincide.
    """
    tv = torchvision_model(num_classes=5, seed=11)
    ours = our_model(tv, num_classes=5)
    tv.train()
    ours.train(True)
    training_step_matches(tv, ours, 12, loss_tol=(1e-6, 1e-7), grad_tol=(1e-3, 1e-6))


def training_step_matches(tv, ours, seed, loss_tol, grad_tol):
    """One training step of both on the same images, targets and seed: equal losses and gradients
    within (rtol, atol)."""
    g = torch.Generator().manual_seed(seed)
    images = [torch.rand(3, 300, 400, generator=g), torch.rand(3, 360, 280, generator=g)]
    targets = synthetic_targets(images)
    torch.manual_seed(99)
    ref = tv(images, targets)
    torch.manual_seed(99)
    for _ in images:
        torch.empty(1).uniform_(0.0, 1.0)
    got = ours.losses(images, targets)
    assert sorted(got) == sorted(ref)
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=loss_tol[0], atol=loss_tol[1], msg=k)
    sum(ref.values()).backward()
    sum(got.values()).backward()
    ours_params = dict(ours.named_parameters())
    for name, p in tv.named_parameters():
        if name.startswith(("rpn.", "roi_heads.", "backbone.fpn.", "backbone.body.layer4.2")):
            torch.testing.assert_close(ours_params[name].grad, p.grad, rtol=grad_tol[0], atol=grad_tol[1], msg=name)


def test_imagenet_resnet_weights_load_into_the_backbone():
    torch.manual_seed(15)
    resnet = torchvision.models.resnet101(weights=None)
    cfg = json.loads(_C.model.default_config())
    cfg.update(NUM_CLASSES=3, BACKBONE="resnet101")
    model = _C.model.MaskRCNN(json.dumps(cfg))
    report = model.load_state_dict(resnet.state_dict(), [])
    assert sorted(report["unexpected"]) == sorted(
        ["fc.weight", "fc.bias"] + [k for k in resnet.state_dict() if k.endswith("num_batches_tracked")])
    assert all(not k.startswith("backbone.body.") for k in report["missing"])
    assert any(k.startswith("backbone.fpn.") for k in report["missing"])
    ours = dict(model.state_dict())
    assert torch.equal(ours["backbone.body.layer3.22.conv2.weight"], resnet.state_dict()["layer3.22.conv2.weight"])
    assert torch.equal(ours["backbone.body.bn1.running_var"], resnet.state_dict()["bn1.running_var"])


def test_checkpoints_round_trip_and_read_torch_save_files(tmp_path):
    tv = torchvision_model(num_classes=4, seed=16)
    # a torchvision checkpoint saved with torch.save as a plain dict, read in C++
    tv_path = str(tmp_path / "tv.pth")
    torch.save(dict(tv.state_dict()), tv_path)
    cfg = json.loads(_C.model.torchvision_config(4))
    model = _C.model.MaskRCNN(json.dumps(cfg))
    report = model.load_weights_file(tv_path, [])
    assert report["missing"] == [] and report["mismatched"] == []
    torch.save({"model": dict(tv.state_dict()), "epoch": 3}, str(tmp_path / "wrapped.pth"))
    assert len(_C.model.load_tensor_file(str(tmp_path / "wrapped.pth"))) == len(tv.state_dict())
    # our checkpoint: atomic write, readable by torch.load and by us
    path = str(tmp_path / "mask_rcnn_test_0002.pth")
    momentum = {"roi_heads.box_head.fc6.weight": torch.randn(3, 3)}
    _C.model.save_checkpoint(path, model, ["BG", "a", "b", "c"], 2, momentum, '{"val_loss": 0.5}')
    back = _C.model.load_checkpoint(path)
    assert back["epoch"] == 2 and back["class_names"] == ["BG", "a", "b", "c"]
    assert json.loads(back["config_json"])["NUM_CLASSES"] == 4
    assert torch.equal(back["optimizer"]["roi_heads.box_head.fc6.weight"], momentum["roi_heads.box_head.fc6.weight"])
    assert torch.equal(back["weights"]["rpn.head.cls_logits.weight"], tv.state_dict()["rpn.head.cls_logits.weight"])
    raw = torch.load(path, weights_only=True)  # torch >= 2.6's default: the safe unpickler
    assert raw["epoch"] == 2 and torch.equal(raw["weights"]["backbone.body.conv1.weight"],
                                             tv.state_dict()["backbone.body.conv1.weight"])
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    # a failed write names the file and leaves the previous checkpoint as it was
    before = open(path, "rb").read()
    with pytest.raises(ValueError, match="no_such_dir"):
        _C.model.save_checkpoint(str(tmp_path / "no_such_dir" / "x.pth"), model)
    assert open(path, "rb").read() == before
    with pytest.raises(ValueError, match="not an mrcnn checkpoint"):
        _C.model.load_checkpoint(tv_path)
    torch.save(tv.state_dict(), str(tmp_path / "ordered.pth"))  # OrderedDict with _metadata
    with pytest.raises(ValueError, match="torch.load"):
        _C.model.load_tensor_file(str(tmp_path / "ordered.pth"))
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth"):
        _C.model.load_tensor_file(str(tmp_path / "junk.pth"))
    with pytest.raises(ValueError, match="junk.pth"):
        modellib.read_torch_file(tmp_path / "junk.pth")


class _TypeTagged:
    """Pickles as earlier mrcnn checkpoints did: containers wrapped in torch.jit._pickle's
    restore_type_tag (which returns its argument)."""

    def __init__(self, value, type_str):
        self.value, self.type_str = value, type_str

    def __reduce__(self):
        import torch.jit._pickle
        return torch.jit._pickle.restore_type_tag, (self.value, self.type_str)


def test_checkpoints_of_earlier_versions_load_with_the_safe_unpickler(tmp_path):
    weights = {"rpn.head.cls_logits.weight": torch.randn(3, 256, 1, 1)}
    legacy = {"format": modellib.CHECKPOINT_FORMAT, "weights": _TypeTagged(weights, "Dict[str, Tensor]"),
              "config": "{}", "class_names": _TypeTagged(["BG", "a"], "List[str]"), "epoch": 4,
              "optimizer": _TypeTagged({}, "Dict[str, Tensor]"), "extra": "{}"}
    path = tmp_path / "mask_rcnn_old_0004.pt"
    torch.save(legacy, str(path))
    with pytest.raises(Exception, match="restore_type_tag"):
        torch.load(str(path), weights_only=True)  # what torch >= 2.6 does by default
    back = modellib.read_torch_file(path)
    assert back["epoch"] == 4 and back["class_names"] == ["BG", "a"]
    assert torch.equal(back["weights"]["rpn.head.cls_logits.weight"], weights["rpn.head.cls_logits.weight"])
    # anything else a pickle could call stays refused
    (tmp_path / "evil.pt").write_bytes(b"")
    torch.save({"x": _Evil()}, str(tmp_path / "evil.pt"))
    with pytest.raises(ValueError, match="evil.pt"):
        modellib.read_torch_file(tmp_path / "evil.pt")


class _Evil:
    def __reduce__(self):
        return os.system, ("echo should-not-run",)


def test_bad_training_targets_are_clear_errors():
    cfg = json.loads(_C.model.default_config())
    cfg.update(NUM_CLASSES=3, IMAGE_MIN_DIM=64, IMAGE_MAX_DIM=64)
    model = _C.model.MaskRCNN(json.dumps(cfg))
    model.train(True)
    image = torch.rand(3, 40, 50)
    masks = torch.zeros(1, 40, 50, dtype=torch.uint8)
    good = dict(boxes=torch.tensor([[5.0, 5, 20, 20]]), labels=torch.tensor([1]), masks=masks)
    cases = [
        (dict(good, masks=torch.zeros(1, 30, 50, dtype=torch.uint8)), "masks are 30x50 but image 0 is 40x50"),
        (dict(good, boxes=torch.tensor([[20.0, 5, 5, 20]])), "x2 <= x1"),
        (dict(good, boxes=torch.tensor([[float("nan"), 5, 20, 20]])), "non-finite"),
        (dict(good, labels=torch.tensor([3])), r"labels must be in \[1, 2\]"),
        (dict(good, labels=torch.tensor([0])), r"labels must be in \[1, 2\]"),
        (dict(good, boxes=torch.zeros(1, 3)), r"boxes must have shape \[G, 4\]"),
        ({"boxes": good["boxes"], "labels": good["labels"]}, "has no 'masks'"),
    ]
    for target, match in cases:
        with pytest.raises(ValueError, match=match):
            model.losses([image], [target])
    losses = model.losses([image], [good])
    assert all(torch.isfinite(v) for v in losses.values())
    model.eval()
    with pytest.raises(ValueError, match=r"image 0 must have shape \[3, H, W\]"):
        model.detect([torch.rand(40, 50)], 0.5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_model_matches_torchvision_on_cuda():
    """The whole network on the GPU (CUDA ops, channels-last convolutions) against torchvision's
    on the same GPU: GPU convolution algorithms differ between calls, so tolerances are looser
    than on the CPU and only the confident detections are compared."""
    tv = torchvision_model(num_classes=5, seed=3)
    ours = our_model(tv, num_classes=5)
    tv = tv.cuda()
    ours.to("cuda")
    image = torch.rand(3, 427, 640, generator=torch.Generator().manual_seed(5)).cuda()
    with torch.no_grad():
        ref = tv([image])[0]
    got = ours.detect([image], -1.0)[0]
    assert got["boxes"].is_cuda
    top = 20
    assert torch.equal(got["labels"][:top].cpu(), ref["labels"][:top].cpu())
    torch.testing.assert_close(got["boxes"][:top].cpu(), ref["boxes"][:top].cpu(), rtol=0, atol=0.5)
    torch.testing.assert_close(got["scores"][:top].cpu(), ref["scores"][:top].cpu(), rtol=0, atol=1e-3)


def test_pre_nms_limit_over_all_anchors_or_per_level():
    cfg = json.loads(_C.model.torchvision_config(3))
    cfg.update(BACKBONE="resnet50", IMAGE_MIN_DIM=256, IMAGE_MAX_DIM=256, PRE_NMS_LIMIT=40,
               RPN_NMS_THRESHOLD=1.0, POST_NMS_ROIS_INFERENCE=1000)  # NMS removes nothing
    image = torch.rand(3, 256, 256, generator=torch.Generator().manual_seed(1))
    counts = {}
    for per_level in (True, False):
        cfg["PRE_NMS_PER_LEVEL"] = per_level
        torch.manual_seed(0)
        model = _C.model.MaskRCNN(json.dumps(cfg))
        counts[per_level] = len(model.stages([image])["proposals"][0])
    # torchvision: 40 per FPN level (5 levels); Matterport: 40 over all anchors
    assert counts[False] == 40 and 40 < counts[True] <= 200, counts


def test_python_config_sends_matterport_pre_nms_semantics():

    sent = json.loads(Config().to_model_json())
    assert sent["PRE_NMS_PER_LEVEL"] is False
    assert sent["PRE_NMS_LIMIT"] == sent["PRE_NMS_LIMIT_TRAINING"] == 6000
    assert json.loads(_C.model.torchvision_config(3))["PRE_NMS_PER_LEVEL"] is True


def test_a_checkpoint_write_that_fails_raises_and_the_process_lives(tmp_path):
    """Disk full or a file-size limit while writing: a ValueError naming the file, no temporary file
    left, the previous checkpoint intact, and the process (a notebook's kernel) still running."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import json, os, resource, sys
        import mrcnn
        from mrcnn import _C
        cfg = json.loads(_C.model.torchvision_config(3))
        cfg["BACKBONE"] = "resnet50"
        model = _C.model.MaskRCNN(json.dumps(cfg))
        path = sys.argv[1]
        with open(path, "wb") as f:
            f.write(b"previous")
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))
        try:
            _C.model.save_checkpoint(path, model)
            print("NOT RAISED")
        except ValueError as e:
            print("RAISED", e)
        print("FILES", sorted(os.listdir(os.path.dirname(path))), open(path, "rb").read())
    """)
    path = tmp_path / "mask_rcnn_x_0001.pt"
    out = subprocess.run([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:]
    assert "RAISED %s: writing the checkpoint failed (File too large)" % path in out.stdout, out.stdout[-3000:]
    assert "FILES ['mask_rcnn_x_0001.pt'] b'previous'" in out.stdout


def test_stale_temporaries_of_killed_writes_are_removed_on_the_next_save(tmp_path):
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / ("mask_rcnn_x_0001.pt.tmp-%d" % dead.pid)   # its writer was killed
    running = tmp_path / ("mask_rcnn_x_0002.pt.tmp-%d" % 1)        # a writer that still runs
    other = tmp_path / ("notes.txt.tmp-%d" % dead.pid)             # not a checkpoint's
    for p in (stale, running, other):
        p.write_bytes(b"partial")
    cfg = json.loads(_C.model.torchvision_config(3))
    cfg["BACKBONE"] = "resnet50"
    _C.model.save_checkpoint(str(tmp_path / "mask_rcnn_x_0003.pt"), _C.model.MaskRCNN(json.dumps(cfg)))
    assert not stale.exists() and running.exists() and other.exists()
    assert (tmp_path / "mask_rcnn_x_0003.pt").exists()


class Fruit(Config):  # a Matterport notebook's config: BACKBONE and pixels left at Matterport's
    NAME = "fruit"
    NUM_CLASSES = 3
    IMAGE_MIN_DIM = IMAGE_MAX_DIM = 256


HEADS = ["mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_bbox", "mrcnn_mask"]  # the class-count layers


def saved_state(tmp_path, model, name):
    path = str(tmp_path / name)
    torch.save(model.state_dict(), path)
    return path


def test_loading_torchvision_weights_sets_the_fields_they_depend_on(tmp_path, capsys):
    tv = torchvision_model(num_classes=91, seed=4)
    path = saved_state(tmp_path, tv, "maskrcnn_resnet50_fpn_coco-00000000.pth")
    model = modellib.MaskRCNN("inference", Fruit(), str(tmp_path))
    assert model.config.BACKBONE == "resnet101"
    exclude = HEADS
    model.load_weights(path, by_name=True, exclude=exclude)
    out = capsys.readouterr().out
    assert "torchvision's Mask R-CNN; set BACKBONE=resnet50" in out and "RPN_BBOX_STD_DEV=[1, 1, 1, 1]" in out
    cfg = model.config
    assert cfg.BACKBONE == "resnet50" and cfg.BACKBONE_BN_EPS == 0.0
    assert np.allclose(cfg.MEAN_PIXEL, [123.675, 116.28, 103.53]) and np.allclose(cfg.PIXEL_STD, [58.395, 57.12, 57.375])
    assert json.loads(model.net.config_json())["BACKBONE"] == "resnet50"  # the network was rebuilt
    assert torch.equal(model.net.state_dict()["backbone.body.layer3.5.conv2.weight"],
                       tv.state_dict()["backbone.body.layer3.5.conv2.weight"])

    class OwnPixels(Fruit):  # a field the notebook set itself is kept, with a warning
        PIXEL_STD = np.array([1.0, 1.0, 1.0])
        BACKBONE = "resnet50"

    model = modellib.MaskRCNN("inference", OwnPixels(), str(tmp_path))
    with pytest.warns(UserWarning, match="kept the Config's own PIXEL_STD"):
        model.load_weights(path, by_name=True, exclude=exclude, verbose=False)
    assert np.allclose(model.config.PIXEL_STD, 1.0) and np.allclose(model.config.MEAN_PIXEL, [123.675, 116.28, 103.53])


def _tiny_config(**fields):

    attrs = dict(NAME="tiny", NUM_CLASSES=3, IMAGE_MIN_DIM=128, IMAGE_MAX_DIM=128, BACKBONE="resnet50",
                 DETECTION_MIN_CONFIDENCE=0.0)
    attrs.update(fields)
    return type("Tiny", (Config,), attrs)()


def _proposals(model, seed=0):
    image = torch.rand(3, 128, 128, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return model.net.stages([image])["proposals"][0]


def test_anchor_ratios_are_width_over_height_as_in_matterport(tmp_path):
    """RPN_ANCHOR_RATIOS = [0.25, 1]: the network's anchors are 4x taller than wide, at the centres
    and in the order of Matterport's generate_pyramid_anchors (up to torchvision's rounding)."""
    model = modellib.MaskRCNN("inference", _tiny_config(RPN_ANCHOR_RATIOS=[0.25, 1]), str(tmp_path))
    shapes = modellib.compute_backbone_shapes(model.config, model.config.IMAGE_SHAPE)
    ours = model.net.anchors((128, 128), [(int(h), int(w)) for h, w in shapes]).numpy()
    model.get_anchors(model.config.IMAGE_SHAPE)
    ref = model.anchors[:, [1, 0, 3, 2]]  # Matterport's (y1, x1, y2, x2) in pixels
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=0.5 + 1e-4)
    w, h = ours[:, 2] - ours[:, 0], ours[:, 3] - ours[:, 1]
    np.testing.assert_allclose((w / h)[0::2], 0.25)
    np.testing.assert_allclose((w / h)[1::2], 1.0)


def test_torchvision_weights_load_into_any_order_of_the_same_anchor_shapes(tmp_path):
    """torchvision's RPN head is trained for width/height 2, 1, 0.5 in that order: a Config listing
    Matterport's [0.5, 1, 2] gets the head's channels reordered, and the same proposals."""
    tv = torchvision_model(num_classes=3, seed=21)
    path = str(tmp_path / "tv.pth")
    torch.save(tv.state_dict(), path)
    models = {}
    for ratios in ([2, 1, 0.5], [0.5, 1, 2], [1, 2, 0.5]):
        models[str(ratios)] = m = modellib.MaskRCNN("inference", _tiny_config(RPN_ANCHOR_RATIOS=ratios), str(tmp_path))
        m.load_weights(path, verbose=False)
    tv_logits = tv.state_dict()["rpn.head.cls_logits.weight"]
    assert torch.equal(models["[2, 1, 0.5]"].net.state_dict()["rpn.head.cls_logits.weight"], tv_logits)
    assert torch.equal(models["[0.5, 1, 2]"].net.state_dict()["rpn.head.cls_logits.weight"], tv_logits.flip(0))
    deltas = models["[1, 2, 0.5]"].net.state_dict()["rpn.head.bbox_pred.weight"].view(3, 4, -1)
    assert torch.equal(deltas, tv.state_dict()["rpn.head.bbox_pred.weight"].view(3, 4, -1)[[1, 0, 2]])
    ref = _proposals(models["[2, 1, 0.5]"])
    for key in ("[0.5, 1, 2]", "[1, 2, 0.5]"):
        torch.testing.assert_close(_proposals(models[key]), ref, rtol=0, atol=1e-4)
    # another set of shapes: the head is loaded as it is, with a warning
    other = modellib.MaskRCNN("inference", _tiny_config(RPN_ANCHOR_RATIOS=[0.25, 1, 4]), str(tmp_path))
    with pytest.warns(UserWarning, match="anchor ratios"):
        other.load_weights(path, verbose=False)


def test_checkpoints_of_format_1_keep_their_anchors(tmp_path):
    """Format 1 saved RPN_ANCHOR_RATIOS as height/width: read today, the same anchors come back."""
    model = modellib.MaskRCNN("inference", _tiny_config(RPN_ANCHOR_RATIOS=[2, 1, 0.5]), str(tmp_path))
    new = str(tmp_path / "mask_rcnn_tiny_0001.pt")
    _C.model.save_checkpoint(new, model.net, ["BG", "a", "b"], 1)
    state = modellib.read_torch_file(new)
    assert state["format"] == modellib.CHECKPOINT_FORMAT == "mrcnn-checkpoint-2"
    cfg = json.loads(state["config"])
    cfg["RPN_ANCHOR_RATIOS"] = [0.5, 1.0, 2.0]  # the same anchors in format 1's meaning
    state.update(format="mrcnn-checkpoint-1", config=json.dumps(cfg))
    old = str(tmp_path / "old" / "mask_rcnn_tiny_0001.pt")
    os.makedirs(os.path.dirname(old))
    torch.save(state, old)
    assert json.loads(_C.model.load_checkpoint(old)["config_json"])["RPN_ANCHOR_RATIOS"] == [2.0, 1.0, 0.5]
    assert modellib.checkpoint_config(modellib.read_torch_file(old))["RPN_ANCHOR_RATIOS"] == [2.0, 1.0, 0.5]
    fresh = modellib.MaskRCNN("inference", _tiny_config(), str(tmp_path))  # Matterport's [0.5, 1, 2]
    fresh.load_weights(old, verbose=False)
    torch.testing.assert_close(_proposals(fresh), _proposals(model), rtol=0, atol=1e-4)


def test_a_checkpoint_carries_its_network(tmp_path, capsys):
    """A checkpoint trained with a non-default box head: an inference model built from a Config that
    does not say otherwise takes the head's size from the file; one that insists on another size
    cannot leave the head random (an error, not a report line). Issue: FPN_CLASSIF_FC_LAYERS_SIZE."""
    trained = modellib.MaskRCNN("inference", _tiny_config(FPN_CLASSIF_FC_LAYERS_SIZE=256), str(tmp_path))
    path = str(tmp_path / "mask_rcnn_tiny_0003.pt")
    _C.model.save_checkpoint(path, trained.net, ["BG", "a", "b"], 3)
    model = modellib.MaskRCNN("inference", _tiny_config(), str(tmp_path))
    assert model.config.FPN_CLASSIF_FC_LAYERS_SIZE == 1024
    model.load_weights(path)
    assert "set FPN_CLASSIF_FC_LAYERS_SIZE=256" in capsys.readouterr().out
    image = (np.random.default_rng(0).random((128, 128, 3)) * 255).astype(np.uint8)
    a, b = model.detect([image])[0], trained.detect([image])[0]
    np.testing.assert_allclose(a["scores"], b["scores"], atol=1e-5)
    insisting = modellib.MaskRCNN("inference", _tiny_config(FPN_CLASSIF_FC_LAYERS_SIZE=1024), str(tmp_path))
    with pytest.warns(UserWarning, match="FPN_CLASSIF_FC_LAYERS_SIZE=1024"), \
            pytest.raises(ValueError, match="inference model needs every layer.*box_head"):
        insisting.load_weights(path, verbose=False)
    # a deeper backbone in the file than in the Config the notebook insists on: not run half-loaded
    deep = modellib.MaskRCNN("inference", _tiny_config(BACKBONE="resnet101"), str(tmp_path))
    deep_path = str(tmp_path / "mask_rcnn_tiny_0004.pt")
    _C.model.save_checkpoint(deep_path, deep.net, ["BG", "a", "b"], 4)
    with pytest.warns(UserWarning, match="BACKBONE=resnet50"), \
            pytest.raises(ValueError, match="255 tensors this inference model has no place for .backbone.body.layer3"):
        modellib.MaskRCNN("inference", _tiny_config(), str(tmp_path)).load_weights(deep_path, verbose=False)
    # training may start from partial weights: the report lists what was skipped
    training = modellib.MaskRCNN("training", _tiny_config(FPN_CLASSIF_FC_LAYERS_SIZE=1024), str(tmp_path))
    with pytest.warns(UserWarning):
        report = training.load_weights(path, verbose=False)
    assert any("box_head" in k for k in report["mismatched"])


def test_get_trainable_layers_in_matterports_names(tmp_path):
    model = modellib.MaskRCNN("inference", _tiny_config(), str(tmp_path))
    layers = model.get_trainable_layers()
    names = [layer.name for layer in layers]
    for name in ("conv1", "res2a_branch2a", "res5c_branch2c", "fpn_c5p5", "fpn_p2", "rpn_conv_shared",
                 "rpn_class_raw", "rpn_bbox_pred", "mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_mask_deconv",
                 "mrcnn_mask"):
        assert name in names, name
    assert len(set(names)) == len(names)
    params = dict(model.net.named_parameters())
    assert sum(len(layer.weights) for layer in layers) == len(params)
    deconv = layers[names.index("mrcnn_mask_deconv")]
    for w, value in zip(deconv.weights, deconv.get_weights()):
        assert value.shape == w.shape and np.array_equal(value, params[w.name].detach().numpy())
    # what display_weight_stats reads of each layer, as Matterport's does
    from mrcnn import visualize
    visualize.display_weight_stats(model)


# torchvision's maskrcnn_resnet50_fpn_v2: trainable BatchNorm in the backbone, FPN and heads, two
# RPN convs, a 4-conv + 1-FC box head. Config.ARCHITECTURE = "v2".

V2_SIZES = (320, 512)  # the v2 tests resize to this (min, max) side: a sixth of the default's pixels


def torchvision_v2_model(num_classes=91, seed=0):
    """torchvision's v2 Mask R-CNN with seeded random weights and random BatchNorm statistics."""
    from torchvision.models.detection import maskrcnn_resnet50_fpn_v2

    torch.manual_seed(seed)
    model = maskrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None, num_classes=num_classes,
                                     box_score_thresh=0.0, min_size=V2_SIZES[0], max_size=V2_SIZES[1])
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
                m.weight.copy_(torch.rand(n, generator=g) * 0.4 + 0.4)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)
    return model.eval()


def our_v2_model(tv, num_classes=91, exact=True, **fields):
    cfg = json.loads(_C.model.torchvision_config(num_classes))
    cfg.update(ARCHITECTURE="v2", BACKBONE_BN_EPS=1e-5, DETECTION_MIN_CONFIDENCE=0.0, IMAGE_MIN_DIM=V2_SIZES[0],
               IMAGE_MAX_DIM=V2_SIZES[1], **fields)
    if exact:
        cfg.update(CHANNELS_LAST=False, FOLD_FROZEN_BN=False, CONV_WINOGRAD=False)
    model = _C.model.MaskRCNN(json.dumps(cfg))
    report = model.load_state_dict(tv.state_dict(), [])
    # every tensor has its place, BatchNorm's counters included
    assert report["unexpected"] == [] and report["missing"] == [] and report["mismatched"] == []
    model.eval()
    return model


def test_v2_matches_torchvision_v2():
    tv = torchvision_v2_model(num_classes=5, seed=21)
    ours = our_v2_model(tv, num_classes=5)
    keys = set(ours.state_dict())
    assert {"roi_heads.box_head.0.1.running_var", "roi_heads.box_head.5.weight", "rpn.head.conv.1.0.weight",
            "backbone.fpn.layer_blocks.3.1.weight", "roi_heads.mask_head.3.1.bias"} <= keys
    assert "roi_heads.box_head.fc6.weight" not in keys and "backbone.fpn.inner_blocks.0.0.bias" not in keys
    g = torch.Generator().manual_seed(22)
    compare(tv, ours, [torch.rand(3, 480, 360, generator=g), torch.rand(3, 333, 500, generator=g)])
    # the fast path (channels-last, BatchNorm folded into the convs, Winograd): the same detections
    # up to rounding
    fast = our_v2_model(tv, num_classes=5, exact=False)
    image = torch.rand(3, 320, 416, generator=g)
    a, b = ours.detect([image], -1.0)[0], fast.detect([image], -1.0)[0]
    assert torch.equal(a["labels"][:20], b["labels"][:20])
    torch.testing.assert_close(b["boxes"][:20], a["boxes"][:20], rtol=0, atol=0.05)
    torch.testing.assert_close(b["scores"], a["scores"], rtol=0, atol=1e-3)


def test_v2_training_with_batch_statistics_matches_torchvision():
    """TRAIN_BN = None (batch statistics, torchvision's training): the same losses, gradients and
    updated running statistics."""
    tv = torchvision_v2_model(num_classes=5, seed=23)
    ours = our_v2_model(tv, num_classes=5, TRAIN_BN=True)
    tv.train()
    ours.train(True)
    training_step_matches(tv, ours, 24, loss_tol=(1e-5, 1e-6), grad_tol=(1e-3, 1e-5))
    state = ours.state_dict()
    for name, t in tv.state_dict().items():
        if "running_" in name or name.endswith("num_batches_tracked"):
            torch.testing.assert_close(state[name], t, rtol=1e-4, atol=1e-5, msg=name)
    assert int(state["backbone.body.bn1.num_batches_tracked"]) == 1


def test_v2_training_with_running_statistics_keeps_them():
    """TRAIN_BN = False (Matterport's default): BatchNorm normalises with its running statistics in
    training, as torchvision's v2 with its BatchNorm layers in eval mode; they stay as loaded."""
    tv = torchvision_v2_model(num_classes=5, seed=25)
    ours = our_v2_model(tv, num_classes=5, TRAIN_BN=False)
    before = {k: v.clone() for k, v in ours.state_dict().items() if "running_" in k}
    tv.train()
    for m in tv.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()
    ours.train(True)
    training_step_matches(tv, ours, 26, loss_tol=(1e-5, 1e-6), grad_tol=(1e-3, 1e-5))
    after = ours.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())
    # BatchNorm's affine parameters train
    assert dict(ours.named_parameters())["backbone.body.layer4.0.bn1.weight"].grad is not None


def test_v2_weights_set_the_architecture_and_the_other_architecture_is_refused(tmp_path, capsys):
    tv2 = torchvision_v2_model(num_classes=91, seed=27)
    v2_path = saved_state(tmp_path, tv2, "maskrcnn_resnet50_fpn_v2_coco-00000000.pth")
    model = modellib.MaskRCNN("training", Fruit(), str(tmp_path))
    exclude = HEADS
    report = model.load_weights(v2_path, by_name=True, exclude=exclude)
    out = capsys.readouterr().out
    assert "is torchvision's Mask R-CNN v2; set " in out
    assert "ARCHITECTURE=v2" in out and "BACKBONE_BN_EPS=1e-05" in out
    assert model.config.ARCHITECTURE == "v2" and json.loads(model.net.config_json())["ARCHITECTURE"] == "v2"
    assert report["missing"] == [] and report["mismatched"] == []
    assert torch.equal(model.net.state_dict()["roi_heads.box_head.2.0.weight"],
                       tv2.state_dict()["roi_heads.box_head.2.0.weight"])

    # a v1 file into a Config that asks for v2 (and the reverse): refused before anything loads
    v1_path = saved_state(tmp_path, torchvision_model(num_classes=91, seed=28), "maskrcnn_resnet50_fpn_coco-00000000.pth")

    class FruitV2(Fruit):
        ARCHITECTURE = "v2"

    class FruitV1(Fruit):
        ARCHITECTURE = "v1"

    for config, path, held in [(FruitV2(), v1_path, "'v1'"), (FruitV1(), v2_path, "'v2'")]:
        model = modellib.MaskRCNN("training", config, str(tmp_path))
        before = {k: v.clone() for k, v in model.net.state_dict().items()}
        with pytest.raises(ValueError, match="ARCHITECTURE %s, but the Config sets" % held):
            model.load_weights(path, by_name=True, exclude=exclude)
        assert all(torch.equal(model.net.state_dict()[k], v) for k, v in before.items())

    # a v2 network trains its BatchNorm's affine parameters with the layers Matterport names
    model = modellib.MaskRCNN("training", FruitV2(), str(tmp_path))
    names = {layer.name for layer in model.get_trainable_layers()}
    assert {"res5a_branch2a", "bn5a_branch2a", "fpn_c5p5", "mrcnn_mask_conv1", "mrcnn_mask_bn1"} <= names


class _SmallConfig(Config):
    NAME = "own"
    NUM_CLASSES = 4
    IMAGES_PER_GPU = 1
    IMAGE_MIN_DIM = IMAGE_MAX_DIM = 128
    BACKBONE = "resnet50"
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    PRE_NMS_LIMIT = POST_NMS_ROIS_INFERENCE = 300
    DETECTION_MIN_CONFIDENCE = 0.0


def _image():
    from mrcnn.shapes import ShapesDataset

    ds = ShapesDataset(1)
    ds.load_shapes(1, 128, 128)
    ds.prepare()
    return ds.load_image(0)


def test_a_saved_state_dict_of_our_network_loads_as_ours_not_as_torchvisions(tmp_path):
    import warnings

    torch.manual_seed(0)
    model = modellib.MaskRCNN("inference", _SmallConfig(), str(tmp_path))
    image = _image()
    expected = model.detect([image])[0]
    assert len(expected["scores"]) > 0
    path = str(tmp_path / "own.pt")
    torch.save(model.net.state_dict(), path)  # what the Keras-only hint for keras_model points to
    for source in (path, model.save_weights(str(tmp_path / "saved.pt"))):
        other = modellib.MaskRCNN("inference", _SmallConfig(), str(tmp_path))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # nothing to say: the file names its network
            other.load_weights(source, verbose=False)
        assert np.allclose(other.config.PIXEL_STD, 1.0) and np.allclose(other.config.RPN_BBOX_STD_DEV, [0.1, 0.1, 0.2, 0.2])
        assert np.allclose(other.config.MEAN_PIXEL, [123.7, 116.8, 103.9])
        got = other.detect([image])[0]
        assert np.array_equal(got["class_ids"], expected["class_ids"])
        assert np.allclose(got["scores"], expected["scores"], atol=1e-6)
    # torchvision's own load_state_dict takes the same file (the entry in _metadata is ours alone)
    tv = torchvision_model(num_classes=4)
    tv.load_state_dict(torch.load(path, weights_only=True))
    # a bare dict carries no Config: read as torchvision's layout, but not silently
    bare = str(tmp_path / "bare.pt")
    torch.save(dict(model.net.state_dict()), bare)
    third = modellib.MaskRCNN("inference", _SmallConfig(), str(tmp_path))
    with pytest.warns(UserWarning, match=r"bare.pt.*plain state_dict.*PIXEL_STD.*save_weights"):
        third.load_weights(bare, verbose=False)


def test_a_checkpoint_of_a_format_we_do_not_read_raises_naming_it(tmp_path):
    torch.manual_seed(0)
    model = modellib.MaskRCNN("inference", _SmallConfig(), str(tmp_path))
    path = str(tmp_path / "future.pt")
    model.save_weights(path)
    state = torch.load(path, weights_only=True)
    state["format"] = "mrcnn-checkpoint-999"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"future.pt.*'mrcnn-checkpoint-999'.*'mrcnn-checkpoint-2'"):
        model.load_weights(path, verbose=False)
    with pytest.raises(ValueError, match=r"future.pt.*'mrcnn-checkpoint-999'"):
        _C.model.load_checkpoint(path)
    with pytest.raises(ValueError, match=r"future.pt.*'mrcnn-checkpoint-999'"):
        _C.model.load_tensor_file(path)


@pytest.mark.parametrize("damage", ["nan", "inf", "int64", "bool"])
def test_weights_that_are_not_finite_floats_are_refused_naming_the_tensors(tmp_path, damage):
    torch.manual_seed(0)
    model = modellib.MaskRCNN("inference", _SmallConfig(), str(tmp_path))
    state = dict(model.net.state_dict())
    key = "roi_heads.box_predictor.cls_score.weight"
    if damage == "nan":
        state = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in state.items()}
    elif damage == "inf":
        state[key] = state[key].clone()
        state[key][0, 0] = float("inf")
    else:
        state = {k: v.to(getattr(torch, damage)) for k, v in state.items()}
    path = str(tmp_path / ("%s.pt" % damage))
    torch.save(state, path)
    what = "floating point" if damage in ("int64", "bool") else "NaN or infinite"
    with pytest.raises(ValueError, match=r"%s.pt: .*%s.*(%s|backbone)" % (damage, what, key.replace(".", r"\."))):
        model.load_weights(path, verbose=False)
