"""Pictures of images, masks and boxes with Matterport's visualize functions and signatures
(``from mrcnn import visualize``). In notebooks they draw inline; every function that makes a
figure also takes ``path=`` to write it as a PNG (for scripts and reports).
"""
import colorsys
import os
import random

import numpy as np

from . import utils

__all__ = ["random_colors", "apply_mask", "display_instances", "display_images", "display_top_masks",
           "display_differences", "draw_rois", "draw_box", "draw_boxes", "display_table", "plot_precision_recall",
           "plot_overlaps", "display_weight_stats", "weight_stats", "table_html"]


def _plt():
    import matplotlib
    if not os.environ.get("DISPLAY") and "inline" not in matplotlib.get_backend() \
            and "ipykernel" not in matplotlib.get_backend():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def random_colors(N, bright=True):
    """N visually distinct RGB colours in [0, 1], evenly spaced in hue, in random order."""
    brightness = 1.0 if bright else 0.7
    colors = [colorsys.hsv_to_rgb(i / max(N, 1), 1, brightness) for i in range(N)]
    random.shuffle(colors)
    return colors


def apply_mask(image, mask, color, alpha=0.5):
    """Tints image [H, W, 3] where mask is set with color (RGB in [0, 1]), in place; returns it."""
    for c in range(3):
        image[:, :, c] = np.where(mask == 1, image[:, :, c] * (1 - alpha) + alpha * color[c] * 255, image[:, :, c])
    return image


def _save(fig, path):
    if path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fig.savefig(path, bbox_inches="tight", dpi=fig.dpi)


def _finish(fig, path, created):
    """Writes the figure to path when given; otherwise shows it if this call created it. The
    drawing functions return None, as Matterport's do, so that a notebook cell ending with one
    prints nothing after the picture; the figure stays reachable as matplotlib's current one
    (plt.gcf()) or through the ax= the caller passed."""
    _save(fig, path)
    if created and path is None:
        _plt().show()
        return True
    return False


def _outline(ax, mask, color):
    """Adds the outer contours of a binary mask [H, W] to ax as unfilled polygons."""
    import cv2
    from matplotlib.patches import Polygon
    contours, _ = cv2.findContours(np.ascontiguousarray(mask, dtype=np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_NONE)
    for c in contours:
        ax.add_patch(Polygon(c[:, 0, :].astype(float), facecolor="none", edgecolor=color))


def display_instances(image, boxes, masks, class_ids, class_names, scores=None, title="", figsize=(16, 16), ax=None,
                      show_mask=True, show_bbox=True, colors=None, captions=None, path=None):
    """Draws instances on image: tinted masks with outlines, dashed boxes, captions.

    boxes: [N, 4] (y1, x1, y2, x2) pixels; masks: [H, W, N]; class_ids: [N]; scores: [N] or None;
    captions: N strings replacing "class score". Returns the matplotlib axes.
    """
    plt = _plt()
    from matplotlib import patches
    boxes = np.asarray(boxes)
    n = boxes.shape[0]
    if not n:
        print("\n*** No instances to display *** \n")
    elif not (n == masks.shape[-1] == len(class_ids)):
        raise ValueError("display_instances: %d boxes, %d masks and %d class ids must agree"
                         % (n, masks.shape[-1], len(class_ids)))
    elif np.ndim(masks) != 3 or tuple(masks.shape[:2]) != tuple(np.shape(image)[:2]):
        raise ValueError("display_instances: masks must be [H, W, N] with the image's H x W %s, got %s"
                         % (tuple(np.shape(image)[:2]), tuple(np.shape(masks))))
    elif not captions:
        outside = [int(c) for c in np.asarray(class_ids).reshape(-1) if not abs(int(c)) < len(class_names)]
        if outside:
            raise ValueError("display_instances: class id %d has no name: class_names lists %d classes (ids 0..%d); "
                             "give the dataset's class_names" % (outside[0], len(class_names), len(class_names) - 1))
    auto_show = ax is None
    if auto_show:
        fig, ax = plt.subplots(1, figsize=figsize)
    colors = colors or random_colors(n)
    height, width = image.shape[:2]
    ax.set_ylim(height + 10, -10)
    ax.set_xlim(-10, width + 10)
    ax.axis("off")
    ax.set_title(title)
    masked = image.astype(np.uint32).copy()
    for i in range(n):
        color = colors[i]
        if not np.any(boxes[i]):
            continue  # zero-padded slot
        y1, x1, y2, x2 = boxes[i]
        if show_bbox:
            ax.add_patch(patches.Rectangle((x1, y1), x2 - x1, y2 - y1, linewidth=2, alpha=0.7, linestyle="dashed",
                                           edgecolor=color, facecolor="none"))
        if captions:
            caption = captions[i]
        else:
            label = class_names[abs(int(class_ids[i]))]
            caption = "{} {:.3f}".format(label, scores[i]) if scores is not None else label
        ax.text(x1, y1 + 8, caption, color="w", size=11, backgroundcolor="none")
        mask = masks[:, :, i]
        if show_mask:
            masked = apply_mask(masked, mask, color)
        _outline(ax, mask, color)
    ax.imshow(masked.astype(np.uint8))
    _save(ax.figure, path)
    if auto_show and path is None:
        plt.show()


def display_images(images, titles=None, cols=4, cmap=None, norm=None, interpolation=None, path=None):
    """Shows images side by side in a grid with optional titles."""
    plt = _plt()
    titles = titles if titles is not None else [""] * len(images)
    rows = max(1, -(-len(images) // cols))
    fig = plt.figure(figsize=(14, max(14 * rows // cols, 2)))
    for i, (image, title) in enumerate(zip(images, titles), start=1):
        plt.subplot(rows, cols, i)
        plt.title(title, fontsize=9)
        plt.axis("off")
        plt.imshow(np.asarray(image).astype(np.uint8), cmap=cmap, norm=norm, interpolation=interpolation)
    _finish(fig, path, True)


def display_top_masks(image, mask, class_ids, class_names, limit=4, path=None):
    """Shows the image next to its `limit` classes with the largest total mask area, largest
    first: each panel is the image kept where that class's masks are and dimmed elsewhere,
    titled with the class name. mask: [H, W, N]; class_ids: [N]."""
    image = np.asarray(image)
    mask = np.asarray(mask)
    class_ids = np.asarray(class_ids).reshape(-1)
    panels = [image]
    titles = ["H x W={}x{}".format(image.shape[0], image.shape[1])]
    unique = np.unique(class_ids)
    areas = np.array([mask[:, :, class_ids == c].sum() for c in unique], dtype=np.float64)
    order = np.argsort(-areas, kind="stable")  # ties keep the smaller class id first
    for c in unique[order][:limit]:
        inside = mask[:, :, class_ids == c].any(axis=-1)
        shown = image.astype(np.float32) * np.where(inside, 1.0, 0.2)[..., None]
        panels.append(shown.astype(np.uint8))
        titles.append(class_names[int(c)] if c >= 0 else "-")
    display_images(panels, titles=titles, cols=len(panels), path=path)


def display_differences(image, gt_box, gt_class_id, gt_mask, pred_box, pred_class_id, pred_score, pred_mask,
                        class_names, title="", ax=None, show_mask=True, show_box=True, iou_threshold=0.5,
                        score_threshold=0.5, path=None):
    """Ground truth and predictions on one image, matched with utils.compute_matches: matched
    ground truth and predictions are green, false positives and missed ground truth red.
    Predictions are captioned "score / IoU" (IoU with the matched ground truth, or the best
    overlap for a false positive); missed ground truth "<class> missed"."""
    gt_box = np.asarray(gt_box).reshape(-1, 4)
    pred_box = np.asarray(pred_box).reshape(-1, 4)
    n_gt = utils.trim_zeros(gt_box).shape[0]
    n_pred = utils.trim_zeros(pred_box).shape[0]
    gt_box, gt_class_id, gt_mask = gt_box[:n_gt], np.asarray(gt_class_id)[:n_gt], np.asarray(gt_mask)[..., :n_gt]
    pred_box, pred_class_id = pred_box[:n_pred], np.asarray(pred_class_id)[:n_pred]
    pred_score, pred_mask = np.asarray(pred_score)[:n_pred], np.asarray(pred_mask)[..., :n_pred]
    gt_match, pred_match, overlaps = utils.compute_matches(
        gt_box, gt_class_id, gt_mask, pred_box, pred_class_id, pred_score, pred_mask,
        iou_threshold=iou_threshold, score_threshold=score_threshold)
    # compute_matches works on predictions sorted by score (this same ordering); follow it
    order = np.argsort(pred_score)[::-1]
    pred_box, pred_class_id = pred_box[order], pred_class_id[order]
    pred_score, pred_mask = pred_score[order], pred_mask[..., order]
    green, red = (0.0, 1.0, 0.0), (1.0, 0.0, 0.0)
    colors = [green if m > -1 else red for m in gt_match] + [green if m > -1 else red for m in pred_match]
    captions = ["" if m > -1 else "{} missed".format(class_names[int(gt_class_id[j])])
                for j, m in enumerate(gt_match)]
    for i, m in enumerate(pred_match):
        if m > -1:
            iou = overlaps[i, int(m)]
        else:
            iou = overlaps[i].max() if overlaps.shape[1] else 0.0
        captions.append("{:.2f} / {:.2f}".format(pred_score[i], iou))
    boxes = np.concatenate([gt_box, pred_box]).reshape(-1, 4)
    masks = np.concatenate([gt_mask.reshape(image.shape[:2] + (n_gt,)),
                            pred_mask.reshape(image.shape[:2] + (n_pred,))], axis=-1)
    class_ids = np.concatenate([gt_class_id, pred_class_id]).astype(np.int64)
    scores = np.concatenate([np.zeros(n_gt), pred_score])
    title = title or ("Ground truth and detections: matched green, false positive / missed red\n"
                      "captions: score / IoU")
    display_instances(image, boxes, masks, class_ids, class_names, scores, title=title, ax=ax,
                      show_mask=show_mask, show_bbox=show_box, colors=colors, captions=captions, path=path)


def draw_rois(image, rois, refined_rois, mask, class_ids, class_names, limit=10, path=None):
    """Detection targets for training: up to `limit` ROIs (a random sample when there are more).
    Background ROIs are grey dashed boxes; positive ones a dashed box in their colour, the
    refined box solid with a line joining the corners, the class name, and the ROI's mask
    (mask[i] is [h, w] in ROI coordinates, or [h, w, classes] of which the class's channel is
    used) pasted into the ROI."""
    plt = _plt()
    from matplotlib import lines, patches
    rois = np.asarray(rois).reshape(-1, 4)
    refined_rois = np.asarray(refined_rois).reshape(-1, 4)
    class_ids = np.asarray(class_ids).reshape(-1)
    ids = np.arange(rois.shape[0])
    if ids.size > limit:
        ids = np.sort(np.random.choice(ids, limit, replace=False))
    fig, ax = plt.subplots(1, figsize=(12, 12))
    height, width = image.shape[:2]
    margin = max(height, width) // 10
    ax.set_ylim(height + margin, -margin)
    ax.set_xlim(-margin, width + margin)
    ax.axis("off")
    n_pos, n_neg = int((class_ids > 0).sum()), int((class_ids == 0).sum())
    ax.set_title("ROIs: {} positive, {} negative (showing {})".format(n_pos, n_neg, ids.size))
    masked = np.asarray(image).astype(np.uint32).copy()
    colors = random_colors(ids.size)
    for color, i in zip(colors, ids):
        class_id = int(class_ids[i])
        y1, x1, y2, x2 = rois[i]
        ax.add_patch(patches.Rectangle((x1, y1), x2 - x1, y2 - y1, linewidth=2, linestyle="dashed",
                                       edgecolor=color if class_id else "gray", facecolor="none"))
        if not class_id:
            continue
        ry1, rx1, ry2, rx2 = refined_rois[i]
        ax.add_patch(patches.Rectangle((rx1, ry1), rx2 - rx1, ry2 - ry1, linewidth=2, edgecolor=color,
                                       facecolor="none"))
        ax.add_line(lines.Line2D([x1, rx1], [y1, ry1], color=color))
        ax.text(rx1, ry1 + 8, class_names[class_id], color="w", size=11, backgroundcolor="none")
        if mask is None:
            continue
        m = np.asarray(mask[i])
        if m.ndim == 3:
            m = m[..., class_id]
        full = utils.unmold_mask(m, np.round(rois[i]).astype(np.int32), image.shape)
        masked = apply_mask(masked, full, color)
    ax.imshow(masked.astype(np.uint8))
    total = max(class_ids.size, 1)
    print("Positive ROIs: {}, negative ROIs: {}, positive ratio: {:.2f}".format(n_pos, n_neg, n_pos / total))
    _finish(fig, path, True)


def draw_box(image, box, color):
    """Draws the outline of box (y1, x1, y2, x2 pixels, y2 and x2 exclusive), 2 pixels wide along
    the inside of the box and clipped to the image, on image in place; returns the image."""
    h, w = image.shape[:2]
    y1, x1, y2, x2 = (int(round(float(v))) for v in box)
    y1, y2 = max(y1, 0), min(y2, h)
    x1, x2 = max(x1, 0), min(x2, w)
    if y2 <= y1 or x2 <= x1:
        return image
    t = 2
    image[y1:min(y1 + t, y2), x1:x2] = color
    image[max(y2 - t, y1):y2, x1:x2] = color
    image[y1:y2, x1:min(x1 + t, x2)] = color
    image[y1:y2, max(x2 - t, x1):x2] = color
    return image


def draw_boxes(image, boxes=None, refined_boxes=None, masks=None, captions=None, visibilities=None, title="",
               ax=None, path=None):
    """Draws boxes and/or refined boxes (with a line joining their top-left corners), masks
    [H, W, N] and captions on image. visibilities[i]: 0 faint grey dotted, 1 dotted (default),
    2 solid."""
    plt = _plt()
    from matplotlib import lines, patches
    if boxes is not None:
        boxes = np.asarray(boxes).reshape(-1, 4)
        n = boxes.shape[0]
    elif refined_boxes is not None:
        n = np.asarray(refined_boxes).reshape(-1, 4).shape[0]
    elif masks is not None:
        n = np.asarray(masks).shape[-1]
    else:
        raise ValueError("draw_boxes: give boxes, refined_boxes or masks")
    if refined_boxes is not None:
        refined_boxes = np.asarray(refined_boxes).reshape(-1, 4)
        if refined_boxes.shape[0] != n:
            raise ValueError("draw_boxes: %d boxes but %d refined boxes" % (n, refined_boxes.shape[0]))
    created = ax is None
    if created:
        _, ax = plt.subplots(1, figsize=(12, 12))
    colors = random_colors(n)
    height, width = image.shape[:2]
    margin = max(height, width) // 10
    ax.set_ylim(height + margin, -margin)
    ax.set_xlim(-margin, width + margin)
    ax.axis("off")
    ax.set_title(title)
    masked = np.asarray(image).astype(np.uint32).copy()
    for i in range(n):
        visibility = visibilities[i] if visibilities is not None else 1
        if visibility == 0:
            color, style, alpha = "gray", "dotted", 0.5
        elif visibility == 1:
            color, style, alpha = colors[i], "dotted", 1.0
        else:
            color, style, alpha = colors[i], "solid", 1.0
        corner = None
        if boxes is not None and np.any(boxes[i]):
            y1, x1, y2, x2 = boxes[i]
            ax.add_patch(patches.Rectangle((x1, y1), x2 - x1, y2 - y1, linewidth=2, alpha=alpha, linestyle=style,
                                           edgecolor=color, facecolor="none"))
            corner = (x1, y1)
        if refined_boxes is not None and visibility > 0 and np.any(refined_boxes[i]):
            ry1, rx1, ry2, rx2 = refined_boxes[i]
            ax.add_patch(patches.Rectangle((rx1, ry1), rx2 - rx1, ry2 - ry1, linewidth=2, edgecolor=color,
                                           facecolor="none"))
            if corner is not None:
                ax.add_line(lines.Line2D([corner[0], rx1], [corner[1], ry1], color=color))
            corner = (rx1, ry1)
        if captions is not None and captions[i]:
            if corner is None and masks is not None:
                ys, xs = np.nonzero(np.asarray(masks)[:, :, i])
                corner = (xs.min(), ys.min()) if ys.size else None
            if corner is not None:
                ax.text(corner[0], corner[1], captions[i], size=11, verticalalignment="top", color="w",
                        backgroundcolor="none", bbox={"facecolor": color, "alpha": 0.5, "pad": 2, "edgecolor": "none"})
        if masks is not None:
            mask = np.asarray(masks)[:, :, i]
            masked = apply_mask(masked, mask, color if visibility else (0.5, 0.5, 0.5))
            _outline(ax, mask, color)
    ax.imshow(masked.astype(np.uint8))
    _finish(ax.figure, path, created)


def _in_notebook():
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def table_html(table):
    """The HTML display_table shows for a table (a list of rows, the first one the header)."""
    out = ["<table>"]
    for r, row in enumerate(table):
        tag = "th" if r == 0 else "td"
        out.append("<tr>" + "".join("<{0} style='text-align:left'>{1}</{0}>".format(tag, c) for c in row) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def display_table(table):
    """Shows a table (a list of rows, the first one the header; cells may hold HTML markup) as
    HTML in a notebook, as aligned plain text otherwise (table_html(table) gives the HTML)."""
    rows = [[str(c) for c in row] for row in table]
    page = table_html(rows)
    if _in_notebook():
        from IPython.display import HTML, display
        display(HTML(page))
    else:
        import re
        plain = [[re.sub(r"<[^>]+>", "", c) for c in row] for row in rows]
        widths = [max(len(row[k]) for row in plain if k < len(row)) for k in range(max(map(len, plain), default=0))]
        for row in plain:
            print("  ".join(c.ljust(widths[k]) for k, c in enumerate(row)).rstrip())


def plot_precision_recall(AP, precisions, recalls, path=None):
    """Plots the precision-recall curve (e.g. from utils.compute_ap) titled with its AP@50.
   """
    plt = _plt()
    fig, ax = plt.subplots(1)
    ax.set_title("Precision-recall curve, AP@50 = {:.3f}".format(float(AP)))
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.1)
    ax.set_ylim(0, 1.1)
    ax.plot(np.asarray(recalls), np.asarray(precisions))
    _finish(fig, path, True)


def plot_overlaps(gt_class_ids, pred_class_ids, pred_scores, overlaps, class_names, threshold=0.5, path=None):
    """The IoU matrix overlaps [predictions, ground truth] (as utils.compute_ap returns it, rows
    in descending score order) as a picture: ground-truth classes along x, predictions
    ("class (score)") along y, each cell's IoU written in it. Cells above threshold are outlined:
    green where the classes agree (a match), red where they differ. Class id 0 entries
    (padding) are left out."""
    plt = _plt()
    from matplotlib import patches
    gt_class_ids = np.asarray(gt_class_ids).reshape(-1)
    pred_class_ids = np.asarray(pred_class_ids).reshape(-1)
    pred_scores = np.asarray(pred_scores).reshape(-1)
    overlaps = np.asarray(overlaps, dtype=np.float64)
    if overlaps.size == 0:
        overlaps = overlaps.reshape(pred_class_ids.size, gt_class_ids.size)
    if overlaps.shape != (pred_class_ids.size, gt_class_ids.size):
        raise ValueError("plot_overlaps: overlaps is %s but there are %d predictions and %d ground truth"
                         % (overlaps.shape, pred_class_ids.size, gt_class_ids.size))
    keep_gt, keep_pred = gt_class_ids != 0, pred_class_ids != 0
    gt_class_ids, overlaps = gt_class_ids[keep_gt], overlaps[keep_pred][:, keep_gt]
    pred_class_ids, pred_scores = pred_class_ids[keep_pred], pred_scores[keep_pred]
    n_pred, n_gt = overlaps.shape
    fig, ax = plt.subplots(1, figsize=(max(5.0, 1.0 * n_gt + 3), max(4.0, 0.6 * n_pred + 2)))
    ax.set_title("Ground truth / prediction IoU (outlined: IoU > {:.2f}; green same class, red other)"
                 .format(threshold), fontsize=10)
    if n_pred and n_gt:
        ax.imshow(overlaps, interpolation="nearest", cmap=plt.cm.Blues, vmin=0, vmax=1)
    else:
        ax.set_xlim(-0.5, max(n_gt, 1) - 0.5)
        ax.set_ylim(max(n_pred, 1) - 0.5, -0.5)
    ax.set_yticks(np.arange(n_pred))
    ax.set_yticklabels(["{} ({:.2f})".format(class_names[int(c)], s) for c, s in zip(pred_class_ids, pred_scores)])
    ax.set_xticks(np.arange(n_gt))
    ax.set_xticklabels([class_names[int(c)] for c in gt_class_ids], rotation=90)
    ax.set_xlabel("ground truth")
    ax.set_ylabel("predictions")
    for i in range(n_pred):
        for j in range(n_gt):
            v = overlaps[i, j]
            hit = v > threshold
            same = pred_class_ids[i] == gt_class_ids[j]
            ax.text(j, i, "{:.2f}".format(v), ha="center", va="center", fontsize=9,
                    color="white" if v > 0.6 else "black", fontweight="bold" if hit and same else "normal")
            if hit:
                ax.add_patch(patches.Rectangle((j - 0.45, i - 0.45), 0.9, 0.9, fill=False, linewidth=2.5,
                                               edgecolor="limegreen" if same else "red"))
    fig.tight_layout()
    _finish(fig, path, True)


def _named_weights(model):
    """(name, numpy array) of a model's weights: MaskRCNN (model.net), or anything with
    named_parameters() or state_dict()."""
    source = getattr(model, "net", model)
    if hasattr(source, "named_parameters"):
        items = list(source.named_parameters())
    elif hasattr(source, "state_dict"):
        items = list(source.state_dict().items())
    else:
        raise TypeError("display_weight_stats: %r has neither named_parameters() nor state_dict()" % type(model))
    out = []
    for name, w in items:
        if hasattr(w, "detach"):
            w = w.detach().float().cpu().numpy()
        out.append((name, np.asarray(w)))
    return out


def display_weight_stats(model):
    """A table of the model's weights: name, shape, min, max and standard deviation, with a red
    note on constant tensors ("dead?"), values beyond +-1000 ("overflow?") and NaN/inf, shown with
    display_table (weight_stats(model) returns the rows)."""
    display_table(weight_stats(model))


def weight_stats(model):
    """display_weight_stats' rows (header first)."""
    table = [["WEIGHT NAME", "SHAPE", "MIN", "MAX", "STD"]]
    for name, w in _named_weights(model):
        flat = w.astype(np.float64).reshape(-1)
        notes = []
        if flat.size and not np.all(np.isfinite(flat)):
            notes.append("NaN/inf")
            finite = flat[np.isfinite(flat)]
        else:
            finite = flat
        lo, hi = (finite.min(), finite.max()) if finite.size else (float("nan"), float("nan"))
        std = finite.std() if finite.size else float("nan")
        if finite.size > 1 and lo == hi:
            notes.append("dead?")
        if finite.size and max(abs(lo), abs(hi)) > 1000:
            notes.append("overflow?")
        alert = "".join(" <span style='color:red'>*** {}</span>".format(n) for n in notes)
        table.append([name + alert, str(tuple(w.shape)), "{:+.4f}".format(lo), "{:+.4f}".format(hi),
                      "{:+.4f}".format(std)])
    return table
