"""Hostile input to the public Python API, in a child process: random and adversarial values for the
codecs, the COCO mask API, the annotation parsers, COCOeval, the checkpoint reader, detect, and the
native functions under them (mrcnn._C) called directly. Every
case must end in a result or a Python exception within a time bound: never a signal (a crash of the
notebook's kernel), a hang or an uncaught C++ exception. The child prints each case before running
it, so a crash names the case."""
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import shared_path

CASES_PER_TARGET = 60
CASE_SECONDS = 10.0  # a bound no case needs (most take milliseconds): beyond it, a hang is reported

CHILD = textwrap.dedent(r'''
    import io, json, os, random, string, sys, tempfile, time
    import numpy as np
    import torch
    from mrcnn import cocomask, cocoeval, codecs, datasets
    from mrcnn import model as modellib
    from mrcnn.config import Config

    N, LIMIT, FRUITS = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    rng = random.Random(1234)
    nrng = np.random.default_rng(1234)
    tmp = tempfile.mkdtemp()

    FINITE = [False]  # JSON targets: no NaN / inf (not JSON; the parser's refusal is tested elsewhere)

    def junk_number():
        values = [0, -1, 1, 2 ** 31, 2 ** 63 - 1, -2 ** 40, 1e308, -0.0, 3.5, rng.randint(-5, 50), rng.random() * 100]
        return rng.choice(values + ([] if FINITE[0] else [float("nan"), float("inf")]))

    def junk_text(n=None):
        n = rng.randint(0, 40) if n is None else n
        return "".join(rng.choice(string.printable + "\x00\xff\u2603") for _ in range(n))

    def junk_value(depth=0):
        kinds = ["num", "text", "none", "bool"] + (["list", "dict"] if depth < 2 else [])
        k = rng.choice(kinds)
        if k == "num":
            return junk_number()
        if k == "text":
            return junk_text()
        if k == "none":
            return None
        if k == "bool":
            return rng.random() < 0.5
        if k == "list":
            return [junk_value(depth + 1) for _ in range(rng.randint(0, 4))]
        return {junk_text(5): junk_value(depth + 1) for _ in range(rng.randint(0, 3))}

    def mutate(obj, rate=0.05):
        """A copy of a JSON-like object with some values replaced, dropped or retyped."""
        if isinstance(obj, dict):
            out = {}
            for k, v in obj.items():
                r = rng.random()
                if r < rate:
                    continue
                out[k] = junk_value() if r < 2 * rate else mutate(v, rate)
            return out
        if isinstance(obj, list):
            return [junk_value() if rng.random() < rate else mutate(v, rate) for v in obj if rng.random() >= rate]
        return obj

    def small_dims():
        return rng.choice([0, 1, 2, 7, 31, 64, -1, 2 ** 31, 2 ** 33])

    def t_kaggle():
        s = " ".join(str(junk_number() if rng.random() < 0.2 else rng.randint(-3, 80)) for _ in range(rng.randint(0, 9)))
        if rng.random() < 0.3:
            s = junk_text()
        codecs.kaggle_rle_decode(s, small_dims(), small_dims())
        codecs.kaggle_rle_to_coco(rng.choice([s, junk_value(), float("nan"), [s]]), small_dims(), small_dims())

    def t_polygons():
        m = nrng.random((rng.randint(0, 60), rng.randint(0, 60))) < rng.random()
        codecs.mask_to_polygons(m, tolerance=rng.choice([0.0, 0.5, 2.0, -1.0, float("nan")]))

    def t_via():
        shape = rng.choice([{"name": "polygon", "all_points_x": [junk_number() for _ in range(rng.randint(0, 6))],
                             "all_points_y": [junk_number() for _ in range(rng.randint(0, 6))]},
                            {"name": "rect", "x": junk_number(), "y": junk_number(), "width": junk_number(),
                             "height": junk_number()},
                            {"name": "circle", "cx": junk_number(), "cy": junk_number(), "r": junk_number()},
                            {"name": "ellipse", "cx": 5, "cy": 5, "rx": junk_number(), "ry": junk_number()},
                            {"name": junk_text(6)}, junk_value()])
        codecs.via_shape_to_mask(shape, rng.choice([0, 1, 20, 64]), rng.choice([0, 1, 20, 64]))

    def t_cocomask():
        h, w = rng.choice([0, 1, 5, 40, 2.5, -1]), rng.choice([0, 1, 5, 40, 7.0, -3])
        objs = rng.choice([
            [[junk_number() for _ in range(rng.randint(0, 10))]],
            [{"size": [h, w], "counts": junk_text()}],
            [{"size": [h, w], "counts": [rng.randint(-5, 60) for _ in range(rng.randint(0, 8))]}],
            [{"size": junk_value(), "counts": junk_value()}],
            np.asarray([[junk_number() for _ in range(4)]], dtype=np.float64),
            junk_value(),
        ])
        rles = cocomask.frPyObjects(objs, h, w)
        if isinstance(rles, dict):
            rles = [rles]
        cocomask.decode(rles)
        cocomask.area(rles)
        cocomask.toBbox(rles)
        cocomask.merge(rles, intersect=rng.random() < 0.5)
        cocomask.iou(rles, rles, [0] * len(rles))

    with open(FRUITS) as f:
        fruits = json.load(f)

    def t_coco_parser():
        path = os.path.join(tmp, "ann.json")
        FINITE[0] = True
        doc = mutate(fruits, rate=rng.choice([0.005, 0.02, 0.1]))
        FINITE[0] = False
        text = json.dumps(doc)
        if rng.random() < 0.1:
            text = text[:rng.randint(0, len(text))]
        with open(path, "w") as f:
            f.write(text)
        datasets.CocoDataset(path, os.path.join(os.path.dirname(FRUITS), "images"),
                             bad_data=rng.choice(["skip", "raise"])).prepare()

    def t_cocoeval():
        gt = {"images": fruits["images"][:3], "categories": fruits["categories"],
              "annotations": [a for a in fruits["annotations"] if a["image_id"] in {i["id"] for i in fruits["images"][:3]}]}
        dt = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": rng.random(),
               "segmentation": a["segmentation"]} for a in gt["annotations"]]
        FINITE[0] = True
        gt, dt = mutate(gt, rng.choice([0.002, 0.01, 0.05])), mutate(dt, rng.choice([0.01, 0.05]))
        FINITE[0] = False
        cocoeval.evaluate(gt, dt, rng.choice(["bbox", "segm", "segm", "bbox", "keypoints"]))

    good = os.path.join(tmp, "good.pt")
    torch.save({"format": "mrcnn-checkpoint-2", "weights": {"a": torch.zeros(3)}, "config": "{}"}, good)
    good_bytes = open(good, "rb").read()

    def t_checkpoint():
        path = os.path.join(tmp, "x.pt")
        data = rng.choice([good_bytes[:rng.randint(0, len(good_bytes))], bytes(rng.getrandbits(8) for _ in range(200)),
                           bytearray(good_bytes)])
        if isinstance(data, bytearray):
            for _ in range(5):
                data[rng.randrange(len(data))] = rng.getrandbits(8)
        with open(path, "wb") as f:
            f.write(bytes(data))
        state = modellib.read_torch_file(path)
        modellib.checkpoint_config(state)

    def t_weights():  # load_weights on checkpoints and state_dicts with junk formats, dtypes and values
        path = os.path.join(tmp, "w.pt")
        weights = {k: v.clone() for k, v in detector.net.state_dict().items()}
        key = rng.choice(sorted(weights))
        weights[key] = rng.choice([weights[key].to(torch.int64), weights[key].bool(), weights[key] * float("nan"),
                                   torch.zeros(3), weights[key]])
        state = rng.choice([{"format": rng.choice([junk_text(), "mrcnn-checkpoint-999", "mrcnn-checkpoint-2"]),
                             "weights": weights, "config": rng.choice(["{}", junk_text(), "[]"])}, weights])
        torch.save(state, path)
        detector.load_weights(path, verbose=False)

    class Tiny(Config):
        NAME = "fuzz"
        NUM_CLASSES = 2
        IMAGE_MIN_DIM = IMAGE_MAX_DIM = 64
        BACKBONE = "resnet50"
        DETECTION_MIN_CONFIDENCE = 0.0

    detector = modellib.MaskRCNN("inference", Tiny(), tmp)

    def t_detect():
        shape = rng.choice([(32, 48, 3), (1, 1, 3), (0, 5, 3), (20, 20), (20, 20, 2), (9, 9, 4), (3,), (10, 10, 3, 1)])
        dtype = rng.choice([np.uint8, np.uint16, np.float32, np.float64, np.int64, np.bool_, np.complex64])
        image = (nrng.random(shape) * rng.choice([1, 255, 1e6, -3])).astype(dtype)
        if rng.random() < 0.2 and image.size and np.issubdtype(dtype, np.floating):
            image.flat[0] = rng.choice([np.nan, np.inf])
        detector.detect([image])
        if image.ndim == 3 and image.shape[2] == 3 and image.size:
            molded = (image.astype(np.float32) - np.asarray(Tiny.MEAN_PIXEL, np.float32))[None]
            detector.detect_molded(molded, modellib.compose_image_meta(0, image.shape, image.shape,
                                                                       (0, 0) + image.shape[:2], 1.0,
                                                                       np.zeros(2))[None])

    from mrcnn import ops

    def t_ops():  # torchvision-style op arguments: sizes, box forms, dtypes
        x = torch.rand(1, 2, 8, 8).to(rng.choice([torch.float32, torch.float16, torch.bfloat16, torch.float64]))
        boxes = rng.choice([np.array([[0, 1, 1, 5, 5]], np.float32), torch.tensor([[0.0, 1, 1, 5, 5]]),
                            [torch.tensor([[1.0, 1, 5, 5]])], junk_value(), "boxes", np.zeros((2, 3))])
        ops.roi_align(x, boxes, rng.choice([2, (2, 3), "seven", 2.5, None, (0, 1), [-1, 2]]),
                      rng.choice([1.0, 0.5, float("nan")]), rng.choice([-1, 0, 2]))
        b = torch.rand(5, 4).to(x.dtype) * 10
        b[:, 2:] += b[:, :2]
        ops.nms(b, torch.rand(5).to(x.dtype), rng.random())

    # The native layer under the API (mrcnn._C), called directly with wrong types and junk values: a
    # Python exception of a fitting kind (pybind11's TypeError lists the signature), never
    # RuntimeError's "Unable to cast" or a C++ library's own message.
    from mrcnn import _C
    NATIVE = []
    for sub in (_C.codecs, _C.model, _C.data, _C.eval, _C.train):
        for name in dir(sub):
            if not name.startswith("_") and callable(getattr(sub, name)) and name not in ("set_threads",):
                NATIVE.append(getattr(sub, name))
    FITTING = (TypeError, ValueError, OverflowError, OSError, IndexError, KeyError, FloatingPointError)
    os.chdir(tmp)  # a junk path names a file here

    def native_arg():
        return rng.choice([junk_value(), junk_text(3), nrng.random((2, 3)), np.zeros((2, 2), np.uint8),
                           torch.rand(2, 4), [torch.rand(1, 4)], object(), b"\x00\xff"])

    def t_native():
        f = rng.choice(NATIVE)
        try:
            f(*[native_arg() for _ in range(rng.randint(0, 4))])
        except FITTING:
            raise
        except Exception as e:
            print("KIND", getattr(f, "__name__", f), type(e).__name__, str(e)[:200], flush=True)

    targets = [t_kaggle, t_polygons, t_via, t_cocomask, t_coco_parser, t_cocoeval, t_checkpoint, t_ops, t_native]
    for target in targets + [t_detect, t_weights]:
        count = N if target not in (t_detect, t_weights) else max(4, N // 6)
        for k in range(count):
            print("CASE", target.__name__, k, flush=True)
            start = time.time()
            try:
                target()
            except Exception as e:  # a Python exception: fine, if it says what went wrong
                text = str(e)
                if "Error::Error" in text or "frame #" in text:
                    print("BACKTRACE", target.__name__, k, text[:300], flush=True)
                if ("incompatible function arguments" in text and target is not t_native) or "Unable to cast" in text:
                    print("CAST", target.__name__, k, text[:300], flush=True)
                if target is t_coco_parser and "ann.json" not in text:
                    print("UNNAMED", target.__name__, k, text[:300], flush=True)
            seconds = time.time() - start
            if seconds > LIMIT:
                print("SLOW", target.__name__, k, "%.1f s" % seconds, flush=True)
    print("DONE", flush=True)
''')


def test_hostile_input_gives_results_or_python_exceptions():
    out = subprocess.run([sys.executable, "-c", CHILD, str(CASES_PER_TARGET), str(CASE_SECONDS),
                          shared_path("data", "fruits_nuts", "trainval.json")],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900,
                         env=dict(os.environ, MRCNN_OFFLINE="1"))
    last = [line for line in out.stdout.splitlines() if line.startswith("CASE")][-1:]
    assert out.returncode == 0, "the child died (%d) at %s:\n%s" % (out.returncode, last, out.stdout[-2000:])
    assert "DONE" in out.stdout, "the child stopped at %s:\n%s" % (last, out.stdout[-2000:])
    problems = [line for line in out.stdout.splitlines()
                if line.startswith(("SLOW", "BACKTRACE", "CAST", "UNNAMED", "KIND"))]
    assert not problems, problems
