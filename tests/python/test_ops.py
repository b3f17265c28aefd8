"""Detection ops registered as torch.ops.mrcnn.*, against torchvision.ops on the same inputs."""
import pytest
import torch

import mrcnn  # noqa: F401  (loads the library that registers torch.ops.mrcnn)

torchvision = pytest.importorskip("torchvision")
from torchvision import ops as tvops  # noqa: E402

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def random_boxes(n, seed, size=200.0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * size
    wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * size / 4 + 1
    return torch.cat([xy, xy + wh], dim=1).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n, threshold", [(1, 0.5), (50, 0.5), (1000, 0.7), (3000, 0.3)])
def test_nms_matches_torchvision(n, threshold, dtype):
    boxes = random_boxes(n, seed=n, dtype=dtype)
    scores = torch.rand(n, generator=torch.Generator().manual_seed(n + 1), dtype=dtype)
    ours = torch.ops.mrcnn.nms(boxes, scores, threshold)
    assert ours.dtype == torch.int64
    assert torch.equal(ours, tvops.nms(boxes, scores, threshold))


def test_nms_score_ties_broken_like_torchvision():
    boxes = random_boxes(400, seed=3)
    scores = (torch.rand(400, generator=torch.Generator().manual_seed(4)) * 5).floor() / 5  # 5 values
    assert torch.equal(torch.ops.mrcnn.nms(boxes, scores, 0.5), tvops.nms(boxes, scores, 0.5))
    # identical boxes with identical scores: the first one wins
    same = torch.tensor([[0.0, 0, 10, 10]] * 4)
    assert torch.ops.mrcnn.nms(same, torch.ones(4), 0.5).tolist() == [0]


def test_nms_non_contiguous_and_empty():
    big = random_boxes(600, seed=5)
    boxes = big[::2]
    scores = torch.rand(600)[::2]
    assert not boxes.is_contiguous() and not scores.is_contiguous()
    assert torch.equal(torch.ops.mrcnn.nms(boxes, scores, 0.5), tvops.nms(boxes, scores, 0.5))
    empty = torch.ops.mrcnn.nms(torch.zeros(0, 4), torch.zeros(0), 0.5)
    assert empty.shape == (0,) and empty.dtype == torch.int64


def test_nms_hand_worked():
    # Box 1 overlaps box 0 with IoU 81/119 = 0.68; box 2 is apart.
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]])
    scores = torch.tensor([0.9, 0.95, 0.1])
    assert torch.ops.mrcnn.nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert torch.ops.mrcnn.nms(boxes, scores, 0.7).tolist() == [1, 0, 2]


@pytest.mark.parametrize("boxes, scores, err, match", [
    (torch.zeros(5, 3), torch.zeros(5), ValueError, r"shape \[N, 4\]"),
    (torch.zeros(5, 4), torch.zeros(4), ValueError, "5 rows but scores has 4"),
    (torch.zeros(5, 4), torch.zeros(5, 1), ValueError, r"shape \[N\]"),
    (torch.zeros(5, 4, dtype=torch.int32), torch.zeros(5, dtype=torch.int32), TypeError, "floating point"),
    (torch.zeros(5, 4), torch.zeros(5, dtype=torch.float64), TypeError, "dtype of boxes"),
])
def test_nms_bad_input(boxes, scores, err, match):
    with pytest.raises(err, match=match):
        torch.ops.mrcnn.nms(boxes, scores, 0.5)


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_nms_cuda_matches_cpu_and_torchvision(dtype):
    boxes = random_boxes(5000, seed=7)
    scores = torch.rand(5000, generator=torch.Generator().manual_seed(8))
    cpu = torch.ops.mrcnn.nms(boxes, scores, 0.5)
    gpu = torch.ops.mrcnn.nms(boxes.cuda().to(dtype), scores.cuda().to(dtype), 0.5).cpu()
    if dtype == torch.float32:
        assert torch.equal(gpu, cpu)
        assert torch.equal(gpu, tvops.nms(boxes.cuda(), scores.cuda(), 0.5).cpu())
    else:  # half precision rounds boxes: compare as sets with a small tolerance
        a, b = set(gpu.tolist()), set(cpu.tolist())
        assert len(a ^ b) <= 0.02 * len(b)
    assert torch.ops.mrcnn.nms(torch.zeros(0, 4, device="cuda"), torch.zeros(0, device="cuda"), 0.5).numel() == 0


# ---------------------------------------------------------------------------------------------
# roi_align
# ---------------------------------------------------------------------------------------------

def random_rois(k, batch, size, seed, dtype=torch.float32, outside=False):
    g = torch.Generator().manual_seed(seed)
    lo = -0.3 * size if outside else 0.0
    xy = torch.rand(k, 2, generator=g, dtype=torch.float64) * (size * (1.3 if outside else 1.0) - lo) + lo
    wh = torch.rand(k, 2, generator=g, dtype=torch.float64) * size / 3
    wh[: k // 10] *= 0.01  # some tiny boxes
    idx = torch.randint(0, batch, (k, 1), generator=g).to(torch.float64)
    return torch.cat([idx, xy, xy + wh], dim=1).to(dtype)


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [2, 0, -1, 3])
@pytest.mark.parametrize("out", [(7, 7), (14, 14), (5, 3)])
def test_roi_align_matches_torchvision(aligned, sampling_ratio, out):
    x = torch.randn(2, 8, 37, 53, generator=torch.Generator().manual_seed(1))
    rois = random_rois(200, 2, 420, seed=2, outside=True)
    ours = torch.ops.mrcnn.roi_align(x, rois, 0.125, out[0], out[1], sampling_ratio, aligned)
    ref = tvops.roi_align(x, rois, out, 0.125, sampling_ratio, aligned)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-5)


def test_roi_align_hand_worked():
    # A 4x4 ramp x[r, c] = 4r + c. The box (0, 0)-(2, 2) at scale 1 with one bin and one sample per
    # side (sampling_ratio=1) samples its centre (1, 1) -> 5; aligned=True shifts by half a pixel
    # to (0.5, 0.5) -> bilinear mean of 0, 1, 4, 5 = 2.5.
    x = torch.arange(16.0).view(1, 1, 4, 4)
    rois = torch.tensor([[0.0, 0, 0, 2, 2]])
    assert torch.ops.mrcnn.roi_align(x, rois, 1.0, 1, 1, 1, False).item() == 5.0
    assert torch.ops.mrcnn.roi_align(x, rois, 1.0, 1, 1, 1, True).item() == 2.5
    # 2x2 bins of the box (0, 0)-(4, 4), one sample each at (1, 1), (1, 3), (3, 1), (3, 3)
    got = torch.ops.mrcnn.roi_align(x, torch.tensor([[0.0, 0, 0, 4, 4]]), 1.0, 2, 2, 1, False)
    assert got.flatten().tolist() == [5.0, 7.0, 13.0, 15.0]


def test_roi_align_backward_matches_torchvision():
    x = torch.randn(2, 6, 21, 30, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    rois = random_rois(60, 2, 240, seed=4, dtype=torch.float64, outside=True)
    grad = torch.randn(60, 6, 7, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    xa = x.clone().requires_grad_()
    xb = x.clone().requires_grad_()
    torch.ops.mrcnn.roi_align(xa, rois, 0.125, 7, 7, 2, False).backward(grad)
    tvops.roi_align(xb, rois, (7, 7), 0.125, 2, False).backward(grad)
    torch.testing.assert_close(xa.grad, xb.grad, rtol=0, atol=1e-12)


@pytest.mark.parametrize("aligned", [False, True])
def test_roi_align_gradcheck(aligned):
    x = torch.randn(1, 2, 9, 11, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor([[0, 0.5, 1.3, 60.2, 50.0], [0, 10.0, 10.0, 30.0, 30.0], [0, -8.0, -8.0, 20.0, 90.0]],
                        dtype=torch.float64)
    torch.autograd.gradcheck(
        lambda t: torch.ops.mrcnn.roi_align(t, rois, 0.125, 3, 4, 2, aligned), (x,), eps=1e-6, atol=1e-5)


def test_roi_align_non_contiguous_channels_last_and_empty():
    x = torch.randn(2, 5, 30, 40)
    rois = random_rois(50, 2, 300, seed=6)
    ref = tvops.roi_align(x, rois, (7, 7), 0.125, 2, False)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(torch.ops.mrcnn.roi_align(x_cl, rois, 0.125, 7, 7, 2, False), ref, rtol=0, atol=1e-6)
    x_nc = torch.randn(2, 5, 40, 30).transpose(2, 3)  # non-contiguous
    rois_nc = torch.cat([rois, rois], 1)[:, ::2].contiguous()[:, :5]
    rois_nc = torch.stack([rois[:, i] for i in range(5)], 1)
    ref_nc = tvops.roi_align(x_nc.contiguous(), rois_nc, (7, 7), 0.125, 2, False)
    torch.testing.assert_close(torch.ops.mrcnn.roi_align(x_nc, rois_nc, 0.125, 7, 7, 2, False), ref_nc, rtol=0,
                               atol=1e-6)
    empty = torch.ops.mrcnn.roi_align(x, torch.zeros(0, 5), 0.125, 7, 7, 2, False)
    assert empty.shape == (0, 5, 7, 7)
    xg = x.clone().requires_grad_()
    torch.ops.mrcnn.roi_align(xg, torch.zeros(0, 5), 0.125, 7, 7, 2, False).sum().backward()
    assert xg.grad.abs().sum().item() == 0


@pytest.mark.parametrize("rois, err, match", [
    (torch.zeros(3, 4), ValueError, r"rois must have shape \[K, 5\]"),
    (torch.zeros(3, 5, dtype=torch.float64), TypeError, "dtype of input"),
    (torch.tensor([[2.0, 0, 0, 5, 5]]), IndexError, r"batch indices in \[0, 2\)"),
])
def test_roi_align_bad_input(rois, err, match):
    with pytest.raises(err, match=match):
        torch.ops.mrcnn.roi_align(torch.zeros(2, 3, 8, 8), rois, 1.0, 2, 2, 2, False)


def test_roi_align_bad_sizes():
    with pytest.raises(ValueError, match="output size must be positive"):
        torch.ops.mrcnn.roi_align(torch.zeros(1, 3, 8, 8), torch.zeros(1, 5), 1.0, 0, 2, 2, False)
    with pytest.raises(ValueError, match="spatial_scale must be positive"):
        torch.ops.mrcnn.roi_align(torch.zeros(1, 3, 8, 8), torch.zeros(1, 5), -1.0, 2, 2, 2, False)
    with pytest.raises(ValueError, match=r"input must have shape \[N, C, H, W\]"):
        torch.ops.mrcnn.roi_align(torch.zeros(3, 8, 8), torch.zeros(1, 5), 1.0, 2, 2, 2, False)


# ---------------------------------------------------------------------------------------------
# multi-scale RoIAlign and FPN level mapping
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("image_sizes", [[(800, 1067)], [(800, 1199), (736, 1333)], [(512, 512)]])
def test_multiscale_roi_align_matches_torchvision(image_sizes):
    g = torch.Generator().manual_seed(7)
    max_h = max(s[0] for s in image_sizes)
    max_w = max(s[1] for s in image_sizes)
    pad_h, pad_w = (max_h + 31) // 32 * 32, (max_w + 31) // 32 * 32
    feats = {str(i): torch.randn(len(image_sizes), 4, pad_h // 2 ** (i + 2), pad_w // 2 ** (i + 2), generator=g)
             for i in range(4)}
    boxes = []
    for h, w in image_sizes:
        xy = torch.rand(150, 2, generator=g) * torch.tensor([w, h])
        wh = torch.rand(150, 2, generator=g) ** 2 * torch.tensor([w, h]) * 0.8 + 1
        boxes.append(torch.cat([xy, torch.minimum(xy + wh, torch.tensor([w, h]))], 1))
    for out, sr in [((7, 7), 2), ((14, 14), 2)]:
        pooler = torchvision.ops.MultiScaleRoIAlign(["0", "1", "2", "3"], out, sr)
        ref = pooler(feats, boxes, image_sizes)
        ours = torch.ops.mrcnn.multiscale_roi_align([feats[str(i)] for i in range(4)], boxes, [max_h, max_w],
                                                    out[0], out[1], sr)
        torch.testing.assert_close(ours, ref, rtol=0, atol=1e-5)


def test_fpn_levels_match_torchvision():
    from torchvision.ops.poolers import initLevelMapper
    g = torch.Generator().manual_seed(8)
    xy = torch.rand(2000, 2, generator=g) * 800
    wh = torch.rand(2000, 2, generator=g) ** 3 * 900 + 0.01
    boxes = torch.cat([xy, xy + wh], 1)
    # boxes whose sqrt(area) sits exactly on a level boundary (112, 224, 448)
    exact = torch.tensor([[0.0, 0, 112, 112], [10, 10, 234, 234], [0, 0, 448, 448], [0, 0, 56, 224]])
    boxes = torch.cat([boxes, exact])
    ref = initLevelMapper(2, 5)([boxes])
    assert torch.equal(torch.ops.mrcnn.fpn_levels(boxes, 2, 5), ref)


# ---------------------------------------------------------------------------------------------
# batched_nms
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n, classes", [(100, 3), (900, 5), (1001, 2), (5000, 80), (20000, 90)])
def test_batched_nms_matches_torchvision(n, classes):
    boxes = random_boxes(n, seed=n)
    scores = torch.rand(n, generator=torch.Generator().manual_seed(n + 2))
    idxs = torch.randint(0, classes, (n,), generator=torch.Generator().manual_seed(n + 3))
    ours = torch.ops.mrcnn.batched_nms(boxes, scores, idxs, 0.5)
    assert torch.equal(ours, tvops.batched_nms(boxes, scores, idxs, 0.5))


@pytest.mark.parametrize("n, classes, max_keep", [(20000, 90, 100), (6000, 5, 1000), (20000, 90, 0), (3000, 4, 50)])
def test_batched_nms_max_keep_is_a_prefix_of_the_full_result(n, classes, max_keep):
    boxes = random_boxes(n, seed=n + classes)
    scores = torch.rand(n, generator=torch.Generator().manual_seed(n + 5)).double().float()
    idxs = torch.randint(0, classes, (n,), generator=torch.Generator().manual_seed(n + 6))
    full = tvops.batched_nms(boxes, scores, idxs, 0.5)
    top = torch.ops.mrcnn.batched_nms(boxes, scores, idxs, 0.5, max_keep)
    assert torch.equal(top, full[:max_keep])


def test_batched_nms_empty_and_bad_input():
    assert torch.ops.mrcnn.batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.int64),
                                       0.5).numel() == 0
    with pytest.raises(ValueError, match=r"idxs must have shape \[3\]"):
        torch.ops.mrcnn.batched_nms(torch.zeros(3, 4), torch.zeros(3), torch.zeros(2, dtype=torch.int64), 0.5)
    with pytest.raises(TypeError, match="integer category ids"):
        torch.ops.mrcnn.batched_nms(torch.zeros(3, 4), torch.zeros(3), torch.zeros(3), 0.5)


# ---------------------------------------------------------------------------------------------
# box coding
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)])
def test_box_coder_matches_torchvision(weights):
    from torchvision.models.detection._utils import BoxCoder
    coder = BoxCoder(weights)
    proposals = random_boxes(500, seed=10)
    gt = random_boxes(500, seed=11)
    ref = coder.encode_single(gt, proposals)
    assert torch.equal(torch.ops.mrcnn.encode_boxes(gt, proposals, list(weights)), ref)
    deltas = torch.randn(500, 91 * 4, generator=torch.Generator().manual_seed(12)) * 2
    deltas[:5, 2] = 50.0  # beyond the clip
    ref = coder.decode(deltas, [proposals[:200], proposals[200:]])
    assert torch.equal(torch.ops.mrcnn.decode_boxes(deltas, proposals, list(weights)), ref)


def test_box_utilities_match_torchvision():
    boxes = random_boxes(300, seed=13, size=900) - 50
    assert torch.equal(torch.ops.mrcnn.clip_boxes(boxes, 600, 800), tvops.clip_boxes_to_image(boxes, (600, 800)))
    assert torch.equal(torch.ops.mrcnn.remove_small_boxes(boxes, 30.0), tvops.remove_small_boxes(boxes, 30.0))
    other = random_boxes(77, seed=14, size=900)
    assert torch.equal(torch.ops.mrcnn.box_iou(boxes, other), tvops.box_iou(boxes, other))


# ---------------------------------------------------------------------------------------------
# anchors
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("image_size", [(800, 1088), (512, 512), (800, 1216)])
def test_anchors_match_torchvision(image_size):
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.image_list import ImageList
    sizes = ((32,), (64,), (128,), (256,), (512,))
    ratios = ((0.5, 1.0, 2.0),) * 5
    gen = AnchorGenerator(sizes, ratios)
    h, w = image_size
    feats = [torch.zeros(1, 1, h // s, w // s) for s in (4, 8, 16, 32)]
    feats.append(torch.zeros(1, 1, (h // 32 + 1) // 2, (w // 32 + 1) // 2))  # P6 by max-pool stride 2
    ref = gen(ImageList(torch.zeros(1, 3, h, w), [image_size]), feats)[0]
    ours = []
    for (sz, ra, f) in zip(sizes, ratios, feats):
        cell = torch.ops.mrcnn.cell_anchors(list(map(float, sz)), list(ra))
        gh, gw = f.shape[-2:]
        ours.append(torch.ops.mrcnn.grid_anchors(cell, gh, gw, h // gh, w // gw))
    assert torch.equal(torch.cat(ours), ref)


# ---------------------------------------------------------------------------------------------
# paste_masks
# ---------------------------------------------------------------------------------------------

def paste_reference(masks, boxes, h, w):
    from torchvision.models.detection.roi_heads import paste_masks_in_image
    return paste_masks_in_image(masks[:, None], boxes, (h, w))[:, 0]


@pytest.mark.parametrize("h, w", [(800, 1066), (427, 640), (60, 50)])
def test_paste_masks_matches_torchvision(h, w):
    g = torch.Generator().manual_seed(h)
    masks = torch.rand(40, 28, 28, generator=g)
    xy = torch.rand(40, 2, generator=g) * torch.tensor([w, h])
    wh = torch.rand(40, 2, generator=g) * torch.tensor([w, h]) * 0.6
    boxes = torch.cat([xy, torch.minimum(xy + wh, torch.tensor([w, h]) - 1)], 1)
    boxes[0] = torch.tensor([0.0, 0.0, w - 1.0, h - 1.0])  # whole image
    boxes[1] = torch.tensor([3.2, 4.7, 3.4, 4.9])            # under one pixel
    ref = paste_reference(masks, boxes, h, w)
    ours = torch.ops.mrcnn.paste_masks(masks, boxes, h, w, 1, -1.0)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-6)
    binary = torch.ops.mrcnn.paste_masks(masks[:, None], boxes, h, w, 1, 0.5)
    assert binary.dtype == torch.bool
    assert torch.equal(binary, ref >= 0.5)


def test_paste_masks_empty_and_bad_input():
    out = torch.ops.mrcnn.paste_masks(torch.zeros(0, 28, 28), torch.zeros(0, 4), 30, 40, 1, -1.0)
    assert out.shape == (0, 30, 40)
    with pytest.raises(ValueError, match=r"boxes must have shape \[2, 4\]"):
        torch.ops.mrcnn.paste_masks(torch.zeros(2, 28, 28), torch.zeros(3, 4), 30, 40, 1, -1.0)
    with pytest.raises(ValueError, match="masks must have shape"):
        torch.ops.mrcnn.paste_masks(torch.zeros(2, 3, 28, 28), torch.zeros(2, 4), 30, 40, 1, -1.0)
    with pytest.raises(ValueError, match="padding must be non-negative"):
        torch.ops.mrcnn.paste_masks(torch.zeros(2, 28, 28), torch.zeros(2, 4), 30, 40, -1, -1.0)


# ---------------------------------------------------------------------------------------------
# CUDA kernels against the CPU ones and torchvision's CUDA ops
# ---------------------------------------------------------------------------------------------

@needs_cuda
@pytest.mark.parametrize("aligned", [False, True])
def test_roi_align_cuda_matches_cpu_and_torchvision(aligned):
    x = torch.randn(2, 16, 50, 64)
    rois = random_rois(500, 2, 400, seed=20, outside=True)
    cpu = torch.ops.mrcnn.roi_align(x, rois, 0.125, 7, 7, 2, aligned)
    gpu = torch.ops.mrcnn.roi_align(x.cuda(), rois.cuda(), 0.125, 7, 7, 2, aligned)
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-5)
    torch.testing.assert_close(gpu, tvops.roi_align(x.cuda(), rois.cuda(), (7, 7), 0.125, 2, aligned), rtol=0, atol=1e-5)
    grad = torch.randn_like(cpu)
    xa = x.clone().requires_grad_()
    torch.ops.mrcnn.roi_align(xa, rois, 0.125, 7, 7, 2, aligned).backward(grad)
    xb = x.cuda().requires_grad_()
    torch.ops.mrcnn.roi_align(xb, rois.cuda(), 0.125, 7, 7, 2, aligned).backward(grad.cuda())
    torch.testing.assert_close(xb.grad.cpu(), xa.grad, rtol=1e-4, atol=1e-4)
    for dtype in (torch.float16, torch.bfloat16):
        low = torch.ops.mrcnn.roi_align(x.cuda().to(dtype), rois.cuda().to(dtype), 0.125, 7, 7, 2, aligned)
        assert low.dtype == dtype
        torch.testing.assert_close(low.float().cpu(), cpu, rtol=0, atol=0.1)
    assert torch.ops.mrcnn.roi_align(x.cuda(), torch.zeros(0, 5, device="cuda"), 0.125, 7, 7, 2, False).shape == (0, 16, 7, 7)


@needs_cuda
def test_paste_masks_cuda_matches_cpu():
    g = torch.Generator().manual_seed(21)
    masks = torch.rand(50, 28, 28, generator=g)
    xy = torch.rand(50, 2, generator=g) * 700
    boxes = torch.cat([xy, xy + torch.rand(50, 2, generator=g) * 300], 1)
    cpu = torch.ops.mrcnn.paste_masks(masks, boxes, 800, 1066, 1, -1.0)
    gpu = torch.ops.mrcnn.paste_masks(masks.cuda(), boxes.cuda(), 800, 1066, 1, -1.0)
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-6)
    assert torch.equal(torch.ops.mrcnn.paste_masks(masks.cuda(), boxes.cuda(), 800, 1066, 1, 0.5).cpu(), cpu >= 0.5)


@needs_cuda
def test_batched_nms_cuda_matches_torchvision():
    boxes = random_boxes(8000, seed=22)
    scores = torch.rand(8000, generator=torch.Generator().manual_seed(23))
    idxs = torch.randint(0, 20, (8000,), generator=torch.Generator().manual_seed(24))
    ours = torch.ops.mrcnn.batched_nms(boxes.cuda(), scores.cuda(), idxs.cuda(), 0.5)
    assert torch.equal(ours, tvops.batched_nms(boxes.cuda(), scores.cuda(), idxs.cuda(), 0.5))


def test_python_wrappers_take_torchvision_arguments():
    from mrcnn import ops
    x = torch.randn(2, 4, 20, 30)
    boxes = [random_boxes(10, seed=30, size=150), random_boxes(7, seed=31, size=150)]
    torch.testing.assert_close(ops.roi_align(x, boxes, 5, 0.125, 2), tvops.roi_align(x, boxes, 5, 0.125, 2),
                               rtol=0, atol=1e-6)
    masks = torch.rand(3, 1, 28, 28)
    b = random_boxes(3, seed=32, size=40)
    assert ops.paste_masks(masks, b, (50, 60), threshold=0.5).dtype == torch.bool
    assert ops.paste_masks(masks, b, (50, 60)).shape == (3, 50, 60)


def test_caching_cpu_allocator_is_on_and_reuses_memory():
    assert mrcnn.build_info()["cpu allocator"].startswith("caching")
    before = mrcnn.cpu_cache_stats()["hits"]
    for _ in range(3):
        torch.ones(8 << 20).sum()
    assert mrcnn.cpu_cache_stats()["hits"] > before


def test_caching_cpu_allocator_keeps_the_latest_buffers_when_full():
    """A full cache makes room by dropping the blocks freed longest ago, not the block just freed:
    the buffers of the current work stay cached whatever their size."""
    limit = mrcnn.cpu_cache_stats()["limit_bytes"]
    try:
        mrcnn.set_cpu_cache(True, limit_mb=64)
        old = [torch.empty(10 << 18) for _ in range(6)]  # six 10 MB blocks, freed together
        del old
        assert mrcnn.cpu_cache_stats()["cached_bytes"] >= 50 << 20
        torch.ones(8 << 20).sum()  # 32 MB: cached, evicting old 10 MB blocks
        before = mrcnn.cpu_cache_stats()["hits"]
        for _ in range(3):
            torch.ones(8 << 20).sum()
        assert mrcnn.cpu_cache_stats()["hits"] >= before + 3
        assert mrcnn.cpu_cache_stats()["cached_bytes"] <= 64 << 20
    finally:
        mrcnn.set_cpu_cache(True, limit_mb=limit >> 20)


# ---- oneDNN kernels: Winograd 3x3 convolutions and matmuls (the model's fast path on CPU) ----

from mrcnn import _C  # noqa: E402

winograd = _C.model.winograd_status().startswith("oneDNN")
needs_winograd = pytest.mark.skipif(not winograd, reason="Winograd convolutions: " + _C.model.winograd_status())


def close_to_reference(ours, ref, rel=2e-5):
    # Winograd's and the matmul's sums round differently from the direct ones: compare relative to
    # the result's scale (the measured differences are ~2e-6)
    assert ours.shape == ref.shape and ours.dtype == ref.dtype
    assert (ours - ref).abs().max().item() <= rel * ref.abs().max().item()


def check_layer_against_torch(ours_fn, ref_fn, inputs, node, g):
    """ours_fn(*inputs) against ref_fn(*inputs): the output, every input's gradient, and the
    output again without autograd; `node` names our autograd function (the oneDNN path ran)."""
    ours = [None if t is None else t.clone().requires_grad_() for t in inputs]
    ref = [None if t is None else t.clone().requires_grad_() for t in inputs]
    y, y_ref = ours_fn(*ours), ref_fn(*ref)
    assert node in y.grad_fn.name()
    close_to_reference(y, y_ref)
    grad = torch.randn(y_ref.shape, generator=g)
    (y * grad).sum().backward()
    (y_ref * grad).sum().backward()
    for a, r in zip(ours, ref):
        if a is not None:
            close_to_reference(a.grad, r.grad)
    with torch.no_grad():  # inference: no autograd node, same numbers
        close_to_reference(ours_fn(*inputs), y_ref.detach())
    return y


@needs_winograd
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("shape", [(2, 32, 17, 23, 48), (1, 64, 40, 9, 16), (3, 16, 1, 1, 32)])
def test_winograd_conv3x3_forward_and_backward_match_torch(channels_last, bias, shape):
    n, c, h, w, o = shape
    g = torch.Generator().manual_seed(h * w + c)
    x = torch.randn(n, c, h, w, generator=g)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weight = torch.randn(o, c, 3, 3, generator=g) * 0.1
    b = torch.randn(o, generator=g) if bias else None
    y = check_layer_against_torch(lambda x, w, b: _C.model.conv3x3(x, w, b, True),
                                  lambda x, w, b: torch.conv2d(x, w, b, padding=1), [x, weight, b], "WinogradConv", g)
    assert y.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


@needs_winograd
def test_winograd_conv3x3_frozen_input_and_weight_grads_only():
    x = torch.rand(1, 32, 12, 12)  # a frozen layer's output: no gradient wanted
    weight = (torch.randn(32, 32, 3, 3) * 0.1).requires_grad_()
    b = torch.zeros(32)  # a buffer (folded BatchNorm shift)
    y = _C.model.conv3x3(x, weight, b, True)
    y.sum().backward()
    ref = weight.detach().clone().requires_grad_()
    torch.conv2d(x, ref, b, padding=1).sum().backward()
    close_to_reference(weight.grad, ref.grad)


def test_conv3x3_falls_back_to_torch_where_winograd_does_not_apply():
    g = torch.Generator().manual_seed(3)
    cases = [
        (torch.randn(1, 3, 9, 9, generator=g), torch.randn(8, 3, 3, 3, generator=g)),  # channels not x16
        (torch.randn(1, 16, 9, 9, generator=g).double(), torch.randn(16, 16, 3, 3, generator=g).double()),
        (torch.randn(0, 16, 9, 9), torch.randn(16, 16, 3, 3)),  # empty batch
    ]
    for x, weight in cases:
        assert torch.equal(_C.model.conv3x3(x, weight, None, True), torch.conv2d(x, weight, padding=1))
    x, weight = torch.randn(1, 16, 9, 9, generator=g), torch.randn(16, 16, 3, 3, generator=g)
    assert torch.equal(_C.model.conv3x3(x, weight, None, False), torch.conv2d(x, weight, padding=1))
    if mrcnn.bf16_autocast_supported():
        with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast decides the precision, as for torch
            assert _C.model.conv3x3(x, weight, None, True).dtype == torch.bfloat16


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_onednn_linear_forward_and_backward_match_torch(transposed, bias):
    """Through oneDNN's matmul where this build and CPU run it, else torch's product: the same."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(300, 37, generator=g).t() if transposed else torch.randn(37, 300, generator=g)
    weight = torch.randn(64, 300, generator=g) * 0.05
    b = torch.randn(64, generator=g) if bias else None
    # oneDNN's matmul where this CPU runs it (probed once), else torch's product
    node = "OneDnnLinear" if _C.model.onednn_matmul_available() else "Backward"
    check_layer_against_torch(lambda x, w, b: _C.model.linear(x, w, b, True), torch.nn.functional.linear,
                              [x, weight, b], node, g)
    empty = torch.zeros(0, 300)
    assert _C.model.linear(empty, weight, b, True).shape == (0, 64)


def test_roi_align_on_infinite_or_huge_boxes_is_quick_and_finite():
    """Adaptive sampling (sampling_ratio=-1) on absurd boxes: bounded work, a defined result (zeros
    where every sample falls outside the map or the box is not finite), forward and backward."""
    import math
    import time

    from mrcnn import ops

    x = torch.rand(1, 4, 16, 16, requires_grad=True)
    for box in ([0, 0, math.inf, 1e30], [0, 0, 1e9, 1e9], [0, math.nan, 5, 5], [-math.inf, 0, 4, 4]):
        t0 = time.monotonic()
        out = ops.roi_align(x, [torch.tensor([box])], 7)
        out.sum().backward()
        assert time.monotonic() - t0 < 5, box
        assert out.shape == (1, 4, 7, 7) and torch.isfinite(out).all() and torch.isfinite(x.grad).all(), box
    # a box covering the map exactly still samples as torchvision does
    box = [torch.tensor([[0.0, 0.0, 15.0, 15.0]])]
    torch.testing.assert_close(ops.roi_align(x, box, 7), torchvision.ops.roi_align(x, box, 7), rtol=0, atol=1e-6)


def test_box_arrays_output_sizes_and_half_precision_on_the_cpu():
    import numpy as np

    from mrcnn import ops

    torch.manual_seed(0)
    x = torch.rand(1, 4, 16, 16)
    rois = np.array([[0, 1, 1, 9, 7], [0, 3.5, 2, 14, 15]], np.float32)
    assert torch.equal(ops.roi_align(x, rois, 3), ops.roi_align(x, torch.from_numpy(rois), 3))
    for bad in ("seven", (3,), 2.5):
        with pytest.raises(ValueError, match="output_size must be an int or a pair of ints"):
            ops.roi_align(x, rois, bad)
    with pytest.raises(ValueError, match="boxes must be a"):
        ops.roi_align(x, "boxes", 3)
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8, 0.7])
    masks = torch.rand(3, 28, 28)
    for dtype in (torch.float16, torch.bfloat16):  # computed in float32 on the rounded values, as torchvision
        xr, rr = x.to(dtype), torch.from_numpy(rois).to(dtype)
        got = ops.roi_align(xr, rr, 3, 1.0, 2)
        assert got.dtype == dtype
        torch.testing.assert_close(got, ops.roi_align(xr.float(), rr.float(), 3, 1.0, 2).to(dtype))
        xg = xr.clone().requires_grad_()
        ops.roi_align(xg, rr, 3, 1.0, 2).sum().backward()
        assert xg.grad.dtype == dtype and float(xg.grad.float().sum()) > 0
        keep = ops.nms(boxes.to(dtype), scores.to(dtype), 0.5)
        assert keep.tolist() == tvops.nms(boxes, scores, 0.5).tolist()
        idx = torch.tensor([0, 0, 1])
        assert ops.batched_nms(boxes.to(dtype), scores.to(dtype), idx, 0.5).tolist() == [0, 2]
        pasted = ops.paste_masks(masks.to(dtype), boxes.to(dtype), (32, 32))
        assert pasted.dtype == dtype
        torch.testing.assert_close(pasted, ops.paste_masks(masks.to(dtype).float(), boxes, (32, 32)).to(dtype))
        assert ops.paste_masks(masks.to(dtype), boxes.to(dtype), (32, 32), threshold=0.5).dtype == torch.bool
