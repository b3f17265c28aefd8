"""Detection ops with torchvision.ops-style signatures, running mrcnn's C++/CUDA kernels.

The kernels are registered as ``torch.ops.mrcnn.*``; these wrappers accept the same argument
forms as torchvision (box lists, output sizes as ints or pairs).
"""
import numpy as np
import torch

from . import _C  # noqa: F401  (registers torch.ops.mrcnn)

__all__ = ["roi_align", "multiscale_roi_align", "nms", "batched_nms", "paste_masks", "encode_boxes",
           "decode_boxes", "box_iou", "clip_boxes", "remove_small_boxes", "cell_anchors", "grid_anchors",
           "fpn_levels"]


def _pair(size, name="output_size"):
    """(h, w) from an int or a pair of ints, as torchvision's ops take output_size."""
    values = [size, size] if isinstance(size, (int, np.integer)) else size
    if not isinstance(values, (list, tuple, torch.Size, np.ndarray)) or len(values) != 2 or \
            not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise ValueError("%s must be an int or a pair of ints (height, width), got %r" % (name, size))
    return int(values[0]), int(values[1])


def _rois(boxes):
    """[K, 5] rois from a [K, 5] tensor or array, or a list of per-image [K_i, 4] boxes."""
    if isinstance(boxes, np.ndarray):
        boxes = torch.from_numpy(boxes)
    if isinstance(boxes, torch.Tensor):
        return boxes
    if not isinstance(boxes, (list, tuple)):
        raise ValueError("boxes must be a [K, 5] tensor (batch index, x1, y1, x2, y2) or a list of [K_i, 4] "
                         "tensors, got %s" % type(boxes).__name__)
    boxes = [torch.as_tensor(b) for b in boxes]
    return torch.cat([torch.cat([torch.full_like(b[:, :1], i), b], 1) for i, b in enumerate(boxes)], 0)


def roi_align(input, boxes, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False):
    """input [N, C, H, W]; boxes [K, 5] (batch index, x1, y1, x2, y2) or a list of [K_i, 4]."""
    h, w = _pair(output_size)
    return torch.ops.mrcnn.roi_align(input, _rois(boxes).to(input.dtype), float(spatial_scale), h, w,
                                     int(sampling_ratio), bool(aligned))


def multiscale_roi_align(features, boxes, image_sizes=None, output_size=7, sampling_ratio=2, spatial_scales=None):
    """FPN RoIAlign: features per level (finest first), boxes per image [K_i, 4] (x1, y1, x2, y2).

    spatial_scales: per level, 1 / the level's stride (what the model uses: its backbone's strides).
    Without it, each level's scale is inferred from its height and the tallest of image_sizes
    [(h, w), ...], as torchvision's MultiScaleRoIAlign does: right only when the batch is padded to
    less than sqrt(2) times its tallest image."""
    h, w = _pair(output_size)
    if spatial_scales is not None:
        if image_sizes is not None:
            raise ValueError("multiscale_roi_align: give image_sizes or spatial_scales, not both")
        return torch.ops.mrcnn.multiscale_roi_align.scales(list(features), list(boxes),
                                                           [float(s) for s in spatial_scales], h, w,
                                                           int(sampling_ratio))
    if image_sizes is None:
        raise ValueError("multiscale_roi_align: give image_sizes (torchvision's inferred scales) or spatial_scales")
    max_h = max(int(s[0]) for s in image_sizes)
    max_w = max(int(s[1]) for s in image_sizes)
    return torch.ops.mrcnn.multiscale_roi_align(list(features), list(boxes), [max_h, max_w], h, w,
                                                int(sampling_ratio))


def nms(boxes, scores, iou_threshold):
    return torch.ops.mrcnn.nms(boxes, scores, float(iou_threshold))


def batched_nms(boxes, scores, idxs, iou_threshold, max_keep=None):
    """NMS within each category of idxs; max_keep returns only the best survivors (faster on CPU)."""
    return torch.ops.mrcnn.batched_nms(boxes, scores, idxs, float(iou_threshold), -1 if max_keep is None else int(max_keep))


def paste_masks(masks, boxes, image_shape, padding=1, threshold=None):
    """masks [N, M, M] or [N, 1, M, M] -> [N, H, W] probabilities, or bool where >= threshold."""
    h, w = image_shape
    return torch.ops.mrcnn.paste_masks(masks, boxes, int(h), int(w), int(padding),
                                       -1.0 if threshold is None else float(threshold))


def encode_boxes(gt, proposals, weights=(1.0, 1.0, 1.0, 1.0)):
    return torch.ops.mrcnn.encode_boxes(gt, proposals, [float(v) for v in weights])


def decode_boxes(deltas, boxes, weights=(1.0, 1.0, 1.0, 1.0), clip=None):
    weights = [float(v) for v in weights]
    if clip is None:
        return torch.ops.mrcnn.decode_boxes(deltas, boxes, weights)
    return torch.ops.mrcnn.decode_boxes(deltas, boxes, weights, float(clip))


def box_iou(a, b):
    return torch.ops.mrcnn.box_iou(a, b)


def clip_boxes(boxes, image_shape):
    return torch.ops.mrcnn.clip_boxes(boxes, int(image_shape[0]), int(image_shape[1]))


def remove_small_boxes(boxes, min_size):
    return torch.ops.mrcnn.remove_small_boxes(boxes, float(min_size))


def cell_anchors(sizes, aspect_ratios):
    return torch.ops.mrcnn.cell_anchors([float(s) for s in sizes], [float(r) for r in aspect_ratios])


def grid_anchors(cell, grid_size, stride):
    return torch.ops.mrcnn.grid_anchors(cell, int(grid_size[0]), int(grid_size[1]), int(stride[0]), int(stride[1]))


def fpn_levels(boxes, k_min=2, k_max=5, canonical_scale=224, canonical_level=4, eps=1e-6):
    return torch.ops.mrcnn.fpn_levels(boxes, int(k_min), int(k_max), int(canonical_scale), int(canonical_level),
                                      float(eps))
