"""Matterport's Keras weight files (mask_rcnn_coco.h5 and checkpoints of Matterport training runs)
mapped onto our network.

    model.load_weights("mask_rcnn_coco.h5", by_name=True,
                       exclude=["mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_bbox", "mrcnn_mask"])

The two networks compute nearly the same function, with different layouts:

- Keras kernels are (h, w, in, out); ours (out, in, h, w). Dense kernels are (in, out); ours (out, in).
  Conv2DTranspose kernels are (h, w, out, in); ours (in, out, h, w).
- Matterport's backbone convs have biases and its BatchNorm uses epsilon 1e-3: both are folded into
  our frozen BatchNorm statistics. The heads' BatchNorm layers (mrcnn_class_bn*, mrcnn_mask_bn*)
  are folded into the preceding layer's weights (they are frozen in Matterport's inference and
  with TRAIN_BN False).
- mrcnn_class_conv1 is a 7x7 'valid' conv over the pooled RoI, i.e. our first fully connected
  layer fc6 over the (channel, y, x)-flattened RoI features.
- The RPN scores each anchor with 2 logits (background, object) through a softmax; ours with one
  logit through a sigmoid: object minus background gives the same probability. The anchors of a
  cell follow RPN_ANCHOR_RATIOS (width / height on both sides); a Config listing Matterport's
  default shapes in another order gets the file's anchors reordered to it. Box deltas
  are (dy, dx, dh, dw) there and (dx, dy, dw, dh) here, and each side divides them by its own
  BBOX_STD_DEV / RPN_BBOX_STD_DEV: rows are reordered and rescaled accordingly.
- Matterport's ResNet puts the stride on the first 1x1 conv of a block and its RPN conv has 512
  channels: loading sets STRIDE_IN_1X1 = True and RPN_HEAD_CHANNELS = 512 on the config and
  rebuilds the network before loading (the report says so).

What the architectures do differently and weights cannot change (reported as notes): TF's 'same'
max pooling after conv1 pads only the bottom/right; Matterport pools RoIs with crop_and_resize
(one sample per bin) where we use RoIAlign (2x2 samples), and rounds the FPN level of a RoI where
torchvision floors it. Detections are therefore close to, not identical with, Matterport's.
"""
import collections

import numpy as np
import torch


__all__ = ["read_keras_h5", "keras_to_state_dict", "MATTERPORT_BN_EPS", "architecture_from_keras"]

MATTERPORT_BN_EPS = 1e-3
MATTERPORT_STD = np.array([0.1, 0.1, 0.2, 0.2])  # (dy, dx, dh, dw) for the RPN and the heads
ARCHITECTURE_NOTES = (
    "max pooling after conv1 pads bottom/right in Keras, both sides here (features shift by one pixel there)",
    "RoI features: Matterport's crop_and_resize (1 sample per bin, level rounded) vs RoIAlign (2x2 samples, "
    "level floored)",
)


def read_keras_h5(path):
    """{"layer/param:0": array} of a Keras weights file (save_weights or a full model save)."""
    try:
        import h5py
    except ImportError:
        raise ImportError("reading Keras .h5 weights needs h5py (apt-get install python3-h5py, or pip install "
                          "h5py)") from None
    out = collections.OrderedDict()
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ValueError("%s is not a readable HDF5 file (%s)" % (path, e)) from None
    with f:
        root = f["model_weights"] if "layer_names" not in f.attrs and "model_weights" in f else f

        def text(v):
            return v.decode() if isinstance(v, bytes) else str(v)

        if "layer_names" in root.attrs:
            for layer in (text(n) for n in root.attrs["layer_names"]):
                g = root[layer]
                for name in (text(n) for n in g.attrs.get("weight_names", [])):
                    out[name] = np.asarray(g[name])
        else:  # no Keras attributes: every dataset by its path below the layer group
            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    parts = name.split("/")
                    out["/".join(parts[-2:]) if len(parts) >= 2 else name] = np.asarray(obj)
            root.visititems(visit)
    if not out:
        raise ValueError("%s holds no Keras weights" % path)
    return out


def architecture_from_keras(weights):
    """Config values the file implies: BACKBONE, RPN_HEAD_CHANNELS, NUM_CLASSES (or None)."""
    arch = {"BACKBONE": "resnet101" if any(k.startswith("res4w_") for k in weights) else "resnet50"}
    if "rpn_conv_shared/kernel:0" in weights:
        arch["RPN_HEAD_CHANNELS"] = int(weights["rpn_conv_shared/kernel:0"].shape[-1])
    if "mrcnn_class_logits/kernel:0" in weights:
        arch["NUM_CLASSES"] = int(weights["mrcnn_class_logits/kernel:0"].shape[-1])
    return arch


def _conv(kernel):
    """Keras (h, w, in, out) -> (out, in, h, w)."""
    return torch.from_numpy(np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1))))


def _fold_bn(weight, bias, bn, eps=MATTERPORT_BN_EPS):
    """weight [out, ...], bias [out] followed by a frozen BatchNorm -> one layer."""
    gamma, beta, mean, var = (torch.from_numpy(np.asarray(bn[k], np.float32)) for k in
                              ("gamma", "beta", "moving_mean", "moving_variance"))
    scale = gamma / torch.sqrt(var + eps)
    w = weight * scale.view(-1, *([1] * (weight.dim() - 1)))
    return w, (bias - mean) * scale + beta


def anchor_order(file_ratios, ratios):
    """For each anchor of a cell under `ratios` (RPN_ANCHOR_RATIOS, width / height), the index of the
    anchor of the same shape under `file_ratios` (what the weights were trained with); None when
    the two are not the same set of shapes."""
    file_ratios = [float(r) for r in np.asarray(file_ratios, np.float64).reshape(-1)]
    ratios = [float(r) for r in np.asarray(ratios, np.float64).reshape(-1)]
    if len(file_ratios) != len(ratios):
        return None
    order = []
    for r in ratios:
        hits = [a for a, m in enumerate(file_ratios) if np.isclose(m, r) and a not in order]
        if not hits:
            return None
        order.append(hits[0])
    return order


MATTERPORT_ANCHOR_RATIOS = [0.5, 1, 2]  # Matterport's default, in the channel order of its released weights


def keras_to_state_dict(weights, our_state, config, layer_name):
    """Our state dict built from Keras weights: (state, report). layer_name(key) is the Keras
    layer of our parameter key ("" for none: the network's matterport_layer_name). report has "mapped" (layout
    changes only), "converted" (folded, combined or reordered), "skipped" ({key: reason}),
    "unused" (Keras weights nothing took) and "notes"."""
    state, mapped, converted, skipped, used = {}, [], [], {}, set()
    std_rpn = np.asarray(config.RPN_BBOX_STD_DEV, np.float64)
    std_box = np.asarray(config.BBOX_STD_DEV, np.float64)
    ours_eps = float(getattr(config, "BACKBONE_BN_EPS", 0.0))

    def get(layer, param):
        name = "%s/%s:0" % (layer, param)
        if name in weights:
            used.add(name)
            return np.asarray(weights[name], np.float32)
        return None

    def bn_params(layer):
        out = {k: get(layer, k) for k in ("gamma", "beta", "moving_mean", "moving_variance")}
        return None if any(v is None for v in out.values()) else out

    def put(key, value, how):
        if tuple(value.shape) != tuple(our_state[key].shape):
            skipped[key] = "shape %s in the file, %s here" % (tuple(value.shape), tuple(our_state[key].shape))
            return
        state[key] = value.to(our_state[key].dtype).contiguous()
        (mapped if how == "mapped" else converted).append(key)

    def box_rows(rows, std_ours, k):
        """Matterport's per-anchor/class (dy, dx, dh, dw) rows -> ours (dx, dy, dw, dh), rescaled
        so that both decode to the same box: ours = theirs * their std / our std."""
        rows = rows.view(k, 4, *rows.shape[1:])
        scale = torch.tensor(MATTERPORT_STD[[1, 0, 3, 2]] / std_ours, dtype=rows.dtype)
        return (rows[:, [1, 0, 3, 2]] * scale.view(1, 4, *([1] * (rows.dim() - 2)))).reshape(k * 4, *rows.shape[2:])

    # the .h5 does not say which anchors its RPN was trained for: Matterport's default when the
    # Config holds those shapes (in any order), else the Config's own (a file trained with them)
    ratios = list(config.RPN_ANCHOR_RATIOS)
    order = anchor_order(MATTERPORT_ANCHOR_RATIOS, ratios)
    if order is None:
        order = list(range(len(ratios)))
    for key in sorted(our_state):
        layer = layer_name(key)
        if not layer:
            skipped[key] = "no Matterport counterpart"
            continue
        param = key.rsplit(".", 1)[1]
        if layer.startswith("bn"):  # backbone BatchNorm (incl. bn_conv1), conv bias folded in
            bn = bn_params(layer)
            if bn is None:
                skipped[key] = "no %s in the file" % layer
                continue
            conv_layer = "conv1" if layer == "bn_conv1" else "res" + layer[2:]
            conv_bias = get(conv_layer, "bias")
            value = {"weight": bn["gamma"], "bias": bn["beta"],
                     "running_mean": bn["moving_mean"] - (conv_bias if conv_bias is not None else 0),
                     "running_var": np.maximum(bn["moving_variance"] + MATTERPORT_BN_EPS - ours_eps, 0)}.get(param)
            if value is None:
                skipped[key] = "no %s in Matterport's BatchNorm" % param
                continue
            put(key, torch.from_numpy(np.asarray(value, np.float32)),
                "converted" if param in ("running_mean", "running_var") else "mapped")
            continue
        kernel, bias = get(layer, "kernel"), get(layer, "bias")
        if kernel is None:
            skipped[key] = "no %s/kernel:0 in the file" % layer
            continue
        if layer in ("mrcnn_class_conv1", "mrcnn_class_conv2") or layer.startswith("mrcnn_mask_conv"):
            bn = bn_params(layer.replace("class_conv", "class_bn").replace("mask_conv", "mask_bn"))
            w = _conv(kernel)
            if layer.startswith("mrcnn_class"):
                w = w.reshape(w.shape[0], -1)  # (out, c, y, x) flattened as our fc layer
            b = torch.from_numpy(bias) if bias is not None else torch.zeros(w.shape[0])
            if bn is not None:
                w, b = _fold_bn(w, b, bn)
            put(key, w if param == "weight" else b, "converted")
        elif layer == "mrcnn_mask_deconv":  # (h, w, out, in) -> (in, out, h, w)
            put(key, _conv(kernel) if param == "weight" else torch.from_numpy(bias), "mapped")
        elif layer in ("mrcnn_class_logits", "mrcnn_bbox_fc"):
            w = torch.from_numpy(np.ascontiguousarray(kernel.T))
            b = torch.from_numpy(bias)
            if layer == "mrcnn_bbox_fc":
                if w.shape[0] % 4:
                    skipped[key] = "mrcnn_bbox_fc has %d outputs, not 4 per class" % w.shape[0]
                    continue
                k = w.shape[0] // 4
                w, b = box_rows(w, std_box, k), box_rows(b, std_box, k)
            put(key, w if param == "weight" else b, "mapped" if layer == "mrcnn_class_logits" else "converted")
        elif layer in ("rpn_class_raw", "rpn_bbox_pred"):
            w, b = _conv(kernel), torch.from_numpy(bias)
            per = 2 if layer == "rpn_class_raw" else 4
            a = w.shape[0] // per
            if a != len(order):
                skipped[key] = "%d anchors per cell in the file, %d here" % (a, len(order))
                continue
            if layer == "rpn_class_raw":  # channel 2a+k, k = (background, object)
                w, b = w.view(a, 2, *w.shape[1:]), b.view(a, 2)
                w, b = (w[:, 1] - w[:, 0])[order], (b[:, 1] - b[:, 0])[order]
            else:
                w = w.view(a, 4, *w.shape[1:])[order].reshape(a * 4, *w.shape[1:])
                b = b.view(a, 4)[order].reshape(-1)
                w, b = box_rows(w, std_rpn, a), box_rows(b, std_rpn, a)
            put(key, w if param == "weight" else b, "converted")
        else:  # backbone conv, FPN, RPN shared conv, mask logits: layout only
            if param == "weight":
                put(key, _conv(kernel), "mapped")
            elif bias is not None:
                put(key, torch.from_numpy(bias), "mapped")
            else:
                skipped[key] = "no %s/bias:0 in the file" % layer
    unused = [k for k in weights if k not in used]
    return state, {"mapped": mapped, "converted": converted, "skipped": skipped, "unused": unused,
                   "notes": list(ARCHITECTURE_NOTES)}


def format_report(report, path):
    """A few lines for the notebook: counts, then each skipped tensor with its reason."""
    lines = ["Keras weights %s: %d tensors mapped, %d converted, %d skipped, %d file weights unused"
             % (path, len(report["mapped"]), len(report["converted"]), len(report["skipped"]), len(report["unused"]))]
    for key, why in sorted(report["skipped"].items()):
        lines.append("  skipped %s: %s" % (key, why))
    for name in report["unused"][:20]:
        lines.append("  unused %s" % name)
    if len(report["unused"]) > 20:
        lines.append("  ... and %d more unused" % (len(report["unused"]) - 20))
    for note in report["notes"]:
        lines.append("  note: %s" % note)
    return "\n".join(lines)
