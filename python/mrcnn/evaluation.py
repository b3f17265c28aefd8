"""Matterport's AP helpers and the box / mask geometry they use (also available as
mrcnn.utils.compute_ap, mrcnn.utils.extract_bboxes etc.), same return values.

Boxes are (y1, x1, y2, x2) in pixels; masks [H, W, N]. compute_ap matches predictions to ground
truth by mask IoU, highest score first, within the same class, and integrates the precision
envelope over the recall steps (the VOC-style area), as Matterport does.
"""
import numpy as np

__all__ = ["extract_bboxes", "compute_iou", "compute_overlaps", "compute_overlaps_masks", "trim_zeros", "non_max_suppression",
           "compute_matches", "compute_ap", "compute_ap_range", "compute_recall", "evaluate", "results_to_coco",
           "dataset_to_coco"]


def extract_bboxes(mask):
    """int32 [N, 4] (y1, x1, y2, x2) boxes of masks [H, W, N], y2/x2 exclusive; zeros for empty masks."""
    boxes = np.zeros([mask.shape[-1], 4], dtype=np.int32)
    for i in range(mask.shape[-1]):
        cols = np.where(np.any(mask[:, :, i], axis=0))[0]
        rows = np.where(np.any(mask[:, :, i], axis=1))[0]
        if cols.size:
            boxes[i] = [rows[0], cols[0], rows[-1] + 1, cols[-1] + 1]
    return boxes


def compute_iou(box, boxes, box_area, boxes_area):
    """IoU of one box with each of boxes [N, 4], given their areas."""
    y1 = np.maximum(box[0], boxes[:, 0])
    y2 = np.minimum(box[2], boxes[:, 2])
    x1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[3], boxes[:, 3])
    inter = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    return inter / (box_area + boxes_area - inter)


def _areas(boxes):
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def compute_overlaps(boxes1, boxes2):
    """IoU matrix [N1, N2] of two box sets."""
    boxes1 = np.asarray(boxes1, dtype=np.float64).reshape(-1, 4)
    boxes2 = np.asarray(boxes2, dtype=np.float64).reshape(-1, 4)
    a1, a2 = _areas(boxes1), _areas(boxes2)
    overlaps = np.zeros((boxes1.shape[0], boxes2.shape[0]))
    for j in range(boxes2.shape[0]):
        overlaps[:, j] = compute_iou(boxes2[j], boxes1, a2[j], a1)
    return overlaps


def compute_overlaps_masks(masks1, masks2):
    """IoU matrix [N1, N2] of two mask sets [H, W, N] (values > 0.5 are inside)."""
    if masks1.shape[-1] == 0 or masks2.shape[-1] == 0:
        return np.zeros((masks1.shape[-1], masks2.shape[-1]))
    m1 = np.reshape(masks1 > .5, (-1, masks1.shape[-1])).astype(np.float32)
    m2 = np.reshape(masks2 > .5, (-1, masks2.shape[-1])).astype(np.float32)
    a1, a2 = m1.sum(axis=0), m2.sum(axis=0)
    inter = m1.T @ m2
    union = a1[:, None] + a2[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def trim_zeros(x):
    """Rows of x that are not all zero (Matterport pads box arrays with zero rows)."""
    return x[~np.all(x == 0, axis=1)]


def non_max_suppression(boxes, scores, threshold):
    """Indices (int32) of boxes kept by greedy NMS at IoU threshold, best score first."""
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.shape[0] == 0:
        return np.zeros((0,), dtype=np.int32)
    area = _areas(boxes)
    order = list(np.argsort(scores)[::-1])
    keep = []
    while order:
        i = order.pop(0)
        keep.append(i)
        if not order:
            break
        rest = np.array(order)
        iou = compute_iou(boxes[i], boxes[rest], area[i], area[rest])
        order = [k for k, v in zip(order, iou) if v <= threshold]
    return np.array(keep, dtype=np.int32)


def compute_matches(gt_boxes, gt_class_ids, gt_masks, pred_boxes, pred_class_ids, pred_scores, pred_masks,
                    iou_threshold=0.5, score_threshold=0.0):
    """(gt_match, pred_match, overlaps): for each ground truth the index of its matched
    prediction (or -1), for each prediction (sorted by score) its ground truth (or -1), and the
    mask IoU matrix [predictions, ground truth]."""
    gt_boxes = trim_zeros(np.asarray(gt_boxes))
    gt_masks = gt_masks[..., :gt_boxes.shape[0]]
    pred_boxes = trim_zeros(np.asarray(pred_boxes))
    pred_scores = np.asarray(pred_scores)[:pred_boxes.shape[0]]
    order = np.argsort(pred_scores)[::-1]
    pred_class_ids = np.asarray(pred_class_ids)[order]
    pred_masks = pred_masks[..., order]
    overlaps = compute_overlaps_masks(pred_masks, gt_masks)
    pred_match = -1 * np.ones([pred_boxes.shape[0]])
    gt_match = -1 * np.ones([gt_boxes.shape[0]])
    for i in range(pred_boxes.shape[0]):
        candidates = np.argsort(overlaps[i])[::-1]
        low = np.where(overlaps[i, candidates] < score_threshold)[0]
        if low.size > 0:
            candidates = candidates[:low[0]]
        for j in candidates:
            if gt_match[j] > -1:
                continue
            if overlaps[i, j] < iou_threshold:
                break
            if pred_class_ids[i] == gt_class_ids[j]:
                gt_match[j] = i
                pred_match[i] = j
                break
    return gt_match, pred_match, overlaps


def compute_ap(gt_boxes, gt_class_ids, gt_masks, pred_boxes, pred_class_ids, pred_scores, pred_masks,
               iou_threshold=0.5):
    """(mAP, precisions, recalls, overlaps) at one IoU threshold."""
    gt_match, pred_match, overlaps = compute_matches(gt_boxes, gt_class_ids, gt_masks, pred_boxes, pred_class_ids,
                                                     pred_scores, pred_masks, iou_threshold)
    hits = np.cumsum(pred_match > -1)
    precisions = hits / (np.arange(len(pred_match)) + 1)
    recalls = hits.astype(np.float32) / max(len(gt_match), 1)
    precisions = np.concatenate([[0], precisions, [0]])
    recalls = np.concatenate([[0], recalls, [1]])
    for i in range(len(precisions) - 2, -1, -1):  # precision envelope
        precisions[i] = max(precisions[i], precisions[i + 1])
    steps = np.where(recalls[:-1] != recalls[1:])[0] + 1
    m_ap = np.sum((recalls[steps] - recalls[steps - 1]) * precisions[steps])
    return m_ap, precisions, recalls, overlaps


def compute_ap_range(gt_box, gt_class_id, gt_mask, pred_box, pred_class_id, pred_score, pred_mask,
                     iou_thresholds=None, verbose=1):
    """Mean of compute_ap over IoU thresholds (default 0.5, 0.55, ..., 0.95)."""
    iou_thresholds = np.arange(0.5, 1.0, 0.05) if iou_thresholds is None else iou_thresholds
    aps = []
    for t in iou_thresholds:
        ap = compute_ap(gt_box, gt_class_id, gt_mask, pred_box, pred_class_id, pred_score, pred_mask,
                        iou_threshold=t)[0]
        if verbose:
            print("AP @{:.2f}:\t {:.3f}".format(t, ap))
        aps.append(ap)
    mean = float(np.array(aps).mean())
    if verbose:
        print("AP @{:.2f}-{:.2f}:\t {:.3f}".format(iou_thresholds[0], iou_thresholds[-1], mean))
    return mean


def compute_recall(pred_boxes, gt_boxes, iou):
    """(recall, positive_ids): the fraction of ground-truth boxes that some prediction overlaps
    by >= iou, and the predictions that do."""
    overlaps = compute_overlaps(pred_boxes, gt_boxes)
    best = np.max(overlaps, axis=1)
    best_gt = np.argmax(overlaps, axis=1)
    positive_ids = np.where(best >= iou)[0]
    recall = len(set(best_gt[positive_ids])) / gt_boxes.shape[0]
    return recall, positive_ids


def results_to_coco(results, image_ids, dataset=None, segmentation="rle", polygon_tolerance=0.0, rle=None):
    """COCO detection records (image_id, category_id, bbox x/y/w/h, score, segmentation) of
    detect() results (masks as bool arrays or as RLE lists); category ids are the dataset's
    source ids when a dataset is given. segmentation: "rle" (compressed RLE with string counts),
    "polygon" (outlines, simplified by polygon_tolerance pixels; instances without any outline
    get an empty list) or None (boxes only)."""
    from . import cocomask
    from .codecs import mask_to_polygons

    if rle is not None:  # the older boolean switch
        segmentation = "rle" if rle else None
    if segmentation not in ("rle", "polygon", None):
        raise ValueError("results_to_coco: segmentation must be 'rle', 'polygon' or None, got %r" % (segmentation,))
    if len(results) != len(image_ids):
        raise ValueError("results_to_coco: %d results but %d image ids" % (len(results), len(image_ids)))
    out = []
    for image_id, r in zip(image_ids, results):
        info = dataset.image_info[image_id] if dataset is not None else None
        masks = r["masks"]
        if isinstance(masks, list):  # detect(..., mask_format="rle")
            rles = masks
        elif segmentation is not None and masks.shape[2]:
            rles = cocomask.encode(np.asfortranarray(masks.astype(np.uint8)))
        else:
            rles = []
        for k in range(len(r["class_ids"])):
            y1, x1, y2, x2 = [float(v) for v in r["rois"][k]]
            c = int(r["class_ids"][k])
            if dataset is not None:
                c = dataset.class_info[c]["id"]
            rec = {"image_id": int(image_id) if info is None else _coco_image_id(info, image_id), "category_id": c,
                   "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(r["scores"][k])}
            if segmentation == "rle":
                counts = rles[k]["counts"]
                rec["segmentation"] = {"size": [int(v) for v in rles[k]["size"]],
                                       "counts": counts.decode() if isinstance(counts, bytes) else counts}
            elif segmentation == "polygon":
                mask = cocomask.decode(rles[k]) if isinstance(masks, list) else masks[:, :, k]
                rec["segmentation"] = [[float(v) for v in p] for p in mask_to_polygons(mask, polygon_tolerance)]
            out.append(rec)
    return out


def _coco_image_id(info, image_id):
    return info["id"] if isinstance(info["id"], (int, np.integer)) else int(image_id)


def dataset_to_coco(dataset, image_ids=None):
    """The ground truth of a prepared Dataset as a COCO dict (RLE masks; crowds kept as iscrowd)."""
    from . import cocomask

    image_ids = list(dataset.image_ids if image_ids is None else image_ids)
    images, annotations, used = [], [], set()
    for image_id in image_ids:
        info = dataset.image_info[image_id]
        masks, class_ids = dataset.load_mask(image_id)
        h, w = masks.shape[:2]
        if masks.shape[2] == 0:
            h, w = dataset.load_image(image_id).shape[:2]
        iid = _coco_image_id(info, image_id)
        images.append({"id": iid, "height": int(h), "width": int(w), "file_name": str(info.get("path"))})
        if masks.shape[2] == 0:
            continue
        rles = cocomask.encode(np.asfortranarray(masks.astype(np.uint8)))
        areas, boxes = cocomask.area(rles), cocomask.toBbox(rles)
        for k, c in enumerate(class_ids):
            cls = dataset.class_info[abs(int(c))]
            used.add(abs(int(c)))
            annotations.append({"id": len(annotations) + 1, "image_id": iid, "category_id": cls["id"],
                                "iscrowd": int(c < 0), "area": float(areas[k]), "bbox": [float(v) for v in boxes[k]],
                                "segmentation": {"size": list(rles[k]["size"]), "counts": rles[k]["counts"].decode()}})
    categories = [{"id": c["id"], "name": c["name"]} for i, c in enumerate(dataset.class_info) if i > 0]
    return {"images": images, "annotations": annotations, "categories": categories}


def evaluate(model, dataset, image_ids=None, iou_types=("bbox", "segm"), verbose=True, progress=True,
             on_error="skip"):
    """Runs model.detect over the dataset's images and measures them: COCO AP/AR (C++ COCOeval,
    pycocotools' numbers) for each iou type, per-category AP, and Matterport's mAP@0.5 (mean of
    compute_ap over images). Returns a dict with "bbox"/"segm" results, "mAP50", "per_class",
    "detections" (COCO records), "ground_truth" (COCO dict) and "skipped" (image ids).

    on_error: an image or mask that cannot be loaded is reported naming it and left out of the
    measurement ("skip"), or raises ("raise")."""
    import warnings

    from . import cocoeval

    if on_error not in ("skip", "raise"):
        raise ValueError("evaluate: on_error must be 'skip' or 'raise', got %r" % (on_error,))
    image_ids = list(dataset.image_ids if image_ids is None else image_ids)
    iterator = image_ids
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(image_ids, desc="detect", leave=False)
    results, aps, skipped = [], [], []
    for image_id in iterator:
        try:
            image = dataset.load_image(image_id)
            gt_masks, gt_ids = dataset.load_mask(image_id)
        except (OSError, ValueError, RuntimeError) as e:
            if on_error == "raise":
                raise
            warnings.warn("evaluate: image %s (%s) skipped: %s" % (image_id, dataset.image_reference(image_id), e),
                          stacklevel=2)
            skipped.append(image_id)
            continue
        r = model.detect([image])[0]
        results.append(r)
        keep = gt_ids > 0
        gt_masks, gt_ids = gt_masks[:, :, keep], gt_ids[keep]
        if len(gt_ids):
            aps.append(compute_ap(extract_bboxes(gt_masks), gt_ids, gt_masks, r["rois"], r["class_ids"], r["scores"],
                                  r["masks"])[0])
    image_ids = [i for i in image_ids if i not in set(skipped)]
    gt = dataset_to_coco(dataset, image_ids)
    dt = results_to_coco(results, image_ids, dataset)
    out = {"mAP50": float(np.mean(aps)) if aps else float("nan"), "detections": dt, "ground_truth": gt,
           "skipped": skipped}
    names = {c["id"]: c["name"] for c in gt["categories"]}
    for t in iou_types:
        if not dt:
            out[t] = None
            continue
        res = cocoeval.evaluate(gt, dt, t)
        out[t] = res
        out.setdefault("per_class", {})[t] = {names.get(k, str(k)): float(v) for k, v in res.per_category_ap().items()}
        if verbose:
            print("%s:" % t)
            print(res.summary())
    if verbose:
        print("mAP@0.5 (Matterport's compute_ap, mean over images): %.3f" % out["mAP50"])
    return out
