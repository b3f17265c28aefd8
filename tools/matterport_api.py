"""Conformance of mrcnn's Python API with Matterport's Mask_RCNN, name by name.

Reads the table of Matterport's public names (module, name, kind, signature or default; see
../shared/testdata/matterport/api_signatures.tsv) and compares each with ours:

  same        same parameters in the same order with the same defaults (or the same value)
  extended    Matterport's parameters first and unchanged, then new ones with defaults
  different   documented in DIFFERENCES below, with the reason
  keras-only  Matterport's Keras/TensorFlow code: ours raises an error that says what to use
  missing     not there (a conformance failure unless listed in PENDING with the issue)

    python tools/matterport_api.py [--table PATH] [--write docs/matterport_api.md]

tests/python/test_api_conformance.py runs the same comparison, so a drift fails CI.
"""
import argparse
import ast
import importlib
import inspect
import os
import sys

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DEFAULT_TABLE = os.path.join(ROOT, "..", "shared", "testdata", "matterport", "api_signatures.tsv")

# Where ours knowingly differs from Matterport, and why.
DIFFERENCES = {
    "utils.resize": "keeps the input's dtype and value range (OpenCV) instead of returning skimage's float "
                    "output; the skimage-only parameters (mode, cval, clip, preserve_range, anti_aliasing) "
                    "are not taken",
    "utils.mold_mask": "an empty stub upstream (a TODO that returns None); not provided",
    "utils.batch_slice": "slices TensorFlow tensors: raises NotImplementedError saying to loop in numpy/torch",
    "model.parse_image_meta_graph": "works here, on numpy arrays (the same as parse_image_meta)",
    "utils.Dataset.image_ids": "a property, as in Matterport (the table lists its getter)",
    "model.data_generator": "Keras generator: raises with guidance (batches come from mrcnn.model.make_loader)",
    "visualize.ROOT_DIR": "Matterport's repository path; not meaningful for an installed package",
}
# Behaviour that differs although the signature is the same: the decision and why.
BEHAVIOUR = [
    ("utils.resize_image", "as Matterport (scale up to min_dim, min_scale, the square mode's cap, Python's "
                           "rounding; centred padding; random crops); the scale and size come from the rule the "
                           "network and the training loader use (C++ resize_plan), so load_image_gt shows the size "
                           "the network trains at. A side that would round to 0 is kept at one pixel"),
    ("utils.minimize_mask / expand_mask", "as Matterport: resized masks are rounded, so exactly 0.5 becomes 0"),
    ("utils.resize", "ours keeps dtype and value range (uint8 stays uint8 0-255, bool stays bool); Matterport "
                     "returns skimage's float output. Every caller in the library expects the input's type"),
    ("model.mold_image", "float32 as Matterport; also divides by PIXEL_STD, a field of ours that is 1 by default, "
                         "so Matterport configs give Matterport's values"),
    ("model.compose_image_meta", "a float64 array, as Matterport's np.array of its values is"),
    ("utils.compute_overlaps_masks", "ours gives 0 where both masks are empty; Matterport divides 0 by 0 (NaN "
                                     "and a RuntimeWarning), which then sorts unpredictably in compute_matches"),
    ("MaskRCNN.find_last", "ours returns the newest checkpoint of the newest run that has one; Matterport only "
                           "looks in the newest run folder and fails when a run stopped before its first "
                           "checkpoint"),
    ("visualize.draw_box", "ours draws the 2-pixel outline inside the box and clips to the image; Matterport's "
                           "bottom and right lines fall outside the box (y2:y2+2, x2:x2+2)"),
    ("visualize drawing functions", "return None, as Matterport's, so a cell ending in one prints nothing after "
                                    "the picture; the figure is plt.gcf() or the ax= passed in. "
                                    "visualize.weight_stats and table_html give display_weight_stats' rows and "
                                    "display_table's HTML"),
    ("Config.PRE_NMS_LIMIT", "as Matterport: over all anchors of an image, then one NMS (the field of ours "
                             "PRE_NMS_PER_LEVEL = True gives torchvision's per-level limit and NMS; "
                             "PRE_NMS_LIMIT_TRAINING, also ours, defaults to PRE_NMS_LIMIT)"),
    ("Config.RPN_ANCHOR_RATIOS", "as Matterport: width / height, anchors of a cell in the list's order. "
                                 "torchvision's checkpoints (trained for width/height 2, 1, 0.5) load into any "
                                 "order of the same shapes (the RPN head's channels are reordered); checkpoints "
                                 "of format 1, which stored height / width, are read in today's meaning"),
    ("Config.TRAIN_BN", "BatchNorm is frozen (Matterport's default, False); another value warns, as fine-tuning "
                        "with small batches is what frozen statistics are for"),
    ("Config.RPN_ANCHOR_STRIDE / BACKBONE_STRIDES / USE_RPN_ROIS", "the network's values (1; 4, 8, 16, 32, 64; "
                                                                   "True); another value raises naming the field"),
    ("Config.MAX_GT_INSTANCES", "no limit is needed (targets are not padded to a fixed count); another value "
                                "warns"),
    ("MaskRCNN.detect", "as Matterport's refine_detections: each region keeps its highest-scoring class only (none "
                        "when that is the background), with that class's box, then per-class NMS and the top "
                        "DETECTION_MAX_INSTANCES. The field of ours DETECTION_ALL_CLASSES = True gives "
                        "torchvision's rule (every class of a region above DETECTION_MIN_CONFIDENCE is a "
                        "detection), which the C++ Config::torchvision() sets"),
    ("MaskRCNN.get_trainable_layers", "the layers with weights in Matterport's names, each with name, weights "
                                      "and get_weights() as display_weight_stats reads them (no Keras objects)"),
    ("checkpoint loading", "our checkpoints carry their network's Config: loading one sets the fields its "
                           "weights depend on (WEIGHT_DEPENDENT_FIELDS) unless the notebook set them, and an "
                           "inference model that would keep a randomly initialised layer raises instead"),
]
# Names not there yet, and the issue that adds them.
PENDING = {}
KERAS_KINDS = ("keras", "keras-class")


def read_table(path):
    rows = []
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            module, name, kind, sig = line.rstrip("\n").split("\t")
            if module == "module":
                continue
            rows.append((module, name, kind, sig))
    return rows


def _parse_signature(sig):
    """[(name, kind, default-source or None)] of a signature written as '(a, b=1, *args, **kw)'."""
    fn = ast.parse("def f%s: pass" % sig).body[0].args
    out = []
    positional = fn.posonlyargs + fn.args
    defaults = [None] * (len(positional) - len(fn.defaults)) + [ast.unparse(d) for d in fn.defaults]
    for a, d in zip(positional, defaults):
        out.append((a.arg, "positional", d))
    if fn.vararg:
        out.append((fn.vararg.arg, "var_positional", None))
    for a, d in zip(fn.kwonlyargs, fn.kw_defaults):
        out.append((a.arg, "keyword", None if d is None else ast.unparse(d)))
    if fn.kwarg:
        out.append((fn.kwarg.arg, "var_keyword", None))
    return out


def _value(source):
    """The value of a default as written in Matterport's source (literals and np.array)."""
    try:
        return ast.literal_eval(source)
    except (ValueError, SyntaxError):
        return eval(source, {"np": np, "__builtins__": {}})  # noqa: S307 (the project's own table)


def _equal(a, b):
    if isinstance(a, (list, tuple, np.ndarray)) or isinstance(b, (list, tuple, np.ndarray)):
        try:
            return np.asarray(a, dtype=float).shape == np.asarray(b, dtype=float).shape and \
                np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
        except (TypeError, ValueError):
            return False
    return a == b


def _ours(module, name):
    mod = importlib.import_module("mrcnn." + module)
    obj = mod
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def compare_signature(theirs, obj):
    """'same', 'extended: ...' or 'different: ...' for a callable."""
    try:
        ours = list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        return "different: no inspectable signature"
    theirs = _parse_signature(theirs)
    if theirs and theirs[0][0] == "self" and (not ours or ours[0].name != "self"):
        theirs = theirs[1:]  # an unbound method's self is not in a bound signature
    kinds = {"positional": (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD),
             "keyword": (inspect.Parameter.KEYWORD_ONLY,), "var_positional": (inspect.Parameter.VAR_POSITIONAL,),
             "var_keyword": (inspect.Parameter.VAR_KEYWORD,)}
    theirs_plain = [t for t in theirs if t[1] != "var_keyword"]
    ours_plain = [p for p in ours if p.kind != inspect.Parameter.VAR_KEYWORD]
    for i, (name, kind, default) in enumerate(theirs_plain):
        if i >= len(ours_plain):
            return "different: lacks %s" % name
        p = ours_plain[i]
        if p.name != name or p.kind not in kinds[kind]:
            return "different: parameter %d is %s, Matterport's is %s" % (i + 1, p.name, name)
        if default is None:
            if p.default is not inspect.Parameter.empty:
                return "different: %s has a default (%r), Matterport's has none" % (name, p.default)
        elif p.default is inspect.Parameter.empty or not _equal(p.default, _value(default)):
            return "different: %s=%r, Matterport's %s=%s" % (name, p.default, name, default)
    if any(t[1] == "var_keyword" for t in theirs) and not any(p.kind == inspect.Parameter.VAR_KEYWORD for p in ours):
        return "different: takes no **kwargs"
    extra = [p for p in ours_plain[len(theirs_plain):]]
    if any(p.default is inspect.Parameter.empty and p.kind != inspect.Parameter.VAR_POSITIONAL for p in extra):
        return "different: new parameters without defaults: %s" % ", ".join(p.name for p in extra)
    if extra:
        return "extended: " + ", ".join(p.name for p in extra)
    return "same"


def compare_row(module, name, kind, sig):
    if module == "model" and name.startswith("MaskRCNN.") and name.split(".")[1] in _ours("model", "MaskRCNN")._KERAS_ONLY:
        return "keras-only: raises AttributeError with guidance"
    try:
        obj = _ours(module, name)
    except NotImplementedError as e:
        return ("keras-only: raises NotImplementedError" if kind in KERAS_KINDS
                else "different: raises NotImplementedError (%s)" % e)
    except AttributeError as e:
        if "use instead" in str(e):
            return "keras-only: raises AttributeError with guidance"
        return "missing"
    if kind in KERAS_KINDS:
        if callable(obj):
            try:
                required = [p for p in inspect.signature(obj).parameters.values()
                            if p.default is inspect.Parameter.empty
                            and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
                obj(*([None] * len(required)))
            except NotImplementedError:
                return "keras-only: raises NotImplementedError with guidance"
            except Exception:  # noqa: BLE001
                pass
        return "different: Keras-only name exists without raising"
    if kind in ("class",):
        return "same" if inspect.isclass(obj) else "different: not a class"
    if kind in ("attribute", "constant"):
        try:
            value = _value(sig[2:].strip()) if sig.startswith("=") else None
        except Exception:  # noqa: BLE001 (a default we cannot evaluate here, e.g. a path expression)
            return "same (exists)"
        return "same" if _equal(obj, value) else "different: %r, Matterport's %s" % (obj, sig[2:].strip())
    if kind in ("function", "method"):
        if name.endswith("__init__") and not callable(obj):
            return "missing"
        return compare_signature(sig, obj)
    return "same (exists)"


def conformance(table=DEFAULT_TABLE):
    """[(module, name, kind, matterport signature, status, reason)] for every row of the table."""
    out = []
    for module, name, kind, sig in read_table(table):
        key = "%s.%s" % (module, name)
        status = compare_row(module, name, kind, sig)
        reason = DIFFERENCES.get(key, "") or (PENDING.get(key, "") if status == "missing" else "")
        out.append((module, name, kind, sig, status, reason))
    return out


def problems(rows):
    """Rows that break conformance: missing or different without a documented reason."""
    bad = []
    for module, name, kind, sig, status, reason in rows:
        key = "%s.%s" % (module, name)
        if status == "missing" and key not in PENDING and not DIFFERENCES.get(key):
            bad.append((key, status))
        elif status.startswith("different") and not DIFFERENCES.get(key):
            bad.append((key, status))
    return bad


def markdown(rows):
    lines = ["# Matterport's API and ours", "",
             "Every public name of Matterport's `config`, `utils`, `model` and `visualize` modules (upstream "
             "commit 3deaec5), its parameters and defaults, and how mrcnn's compares. Generated by "
             "`python tools/matterport_api.py --write docs/matterport_api.md`; "
             "`tests/python/test_api_conformance.py` fails when ours drifts from this.", "",
             "| module | name | Matterport | ours | why |", "|---|---|---|---|---|"]
    for module, name, kind, sig, status, reason in rows:
        shown = sig if len(sig) <= 90 else sig[:87] + "..."
        lines.append("| %s | `%s` | %s `%s` | %s | %s |" % (module, name, kind, shown.replace("|", "\\|"),
                                                        status.replace("|", "\\|"), reason.replace("|", "\\|")))
    lines += ["", "## Behaviour behind the same signature", "", "| name | decision |", "|---|---|"]
    lines += ["| `%s` | %s |" % (name, why) for name, why in BEHAVIOUR]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", default=DEFAULT_TABLE)
    parser.add_argument("--write", default=None, help="write the markdown table here")
    args = parser.parse_args(argv)
    rows = conformance(args.table)
    if args.write:
        with open(args.write, "w") as f:
            f.write(markdown(rows))
    for row in rows:
        if row[4] != "same":
            print("%-9s %-40s %s %s" % (row[0], row[1], row[4], ("(" + row[5] + ")") if row[5] else ""))
    bad = problems(rows)
    print("%d names, %d same, %d not conforming" % (len(rows), sum(r[4] == "same" for r in rows), len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
