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
