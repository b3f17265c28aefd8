"""Command line: python -m mrcnn <command> (see --help)."""
import argparse
import json
import os
import sys
import time


def _demo(args):
    import numpy as np

    from . import build_info, cocomask, codecs, render, shapes

    os.makedirs(args.out, exist_ok=True)
    print("== synthetic shapes: %d images of %dx%d (seed %d)" % (args.images, args.size, args.size, args.seed))
    samples = shapes.generate(args.images, args.size, args.size, seed=args.seed)
    n_inst = sum(s[1].shape[2] for s in samples)
    counts = np.bincount(np.concatenate([s[2] for s in samples]), minlength=len(shapes.CLASS_NAMES))
    print("   %d instances: %s" % (n_inst, ", ".join("%s %d" % (c, counts[i])
                                                     for i, c in enumerate(shapes.CLASS_NAMES) if i)))

    print("== ground truth as COCO JSON (RLE and polygons, C++ codecs)")
    t0 = time.perf_counter()
    images, annotations = [], []
    poly_ious = []
    for image_id, (img, masks, class_ids) in enumerate(samples, start=1):
        h, w = img.shape[:2]
        images.append({"id": image_id, "width": w, "height": h, "file_name": "shapes_%04d.png" % image_id})
        rles = cocomask.encode(masks)
        boxes = cocomask.toBbox(rles)
        areas = cocomask.area(rles)
        assert (cocomask.decode(rles).astype(bool) == masks).all(), "RLE round trip changed a mask"
        for k, rle in enumerate(rles):
            polygons = codecs.mask_to_polygons(masks[:, :, k])
            back = cocomask.merge(cocomask.frPyObjects(polygons, h, w))
            poly_ious.append(float(cocomask.iou([back], [rle], [0])[0, 0]))
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": int(class_ids[k]),
                "iscrowd": 0, "area": int(areas[k]), "bbox": [float(v) for v in boxes[k]],
                "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()},
                "polygons": polygons,
            })
    coco = {"images": images, "annotations": annotations,
            "categories": [{"id": i, "name": c} for i, c in enumerate(shapes.CLASS_NAMES) if i]}
    path = os.path.join(args.out, "shapes_coco.json")
    with open(path, "w") as f:
        json.dump(coco, f)
    print("   %s (%.2f s); polygon vs RLE mask IoU: mean %.4f, min %.4f"
          % (path, time.perf_counter() - t0, np.mean(poly_ious), np.min(poly_ious)))

    print("== pictures")
    tiles = [render.draw_instances(img, masks, ids, shapes.CLASS_NAMES) for img, masks, ids in samples[:16]]
    print("   " + render.save_png(os.path.join(args.out, "shapes_ground_truth.png"), render.grid(tiles)))
    summary = {"images": args.images, "instances": n_inst, "polygon_iou_mean": float(np.mean(poly_ious)),
               "build": dict(build_info())}
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print("== done: %s" % args.out)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m mrcnn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="the main job on the built-in synthetic shapes dataset")
    demo.add_argument("--out", default="out/demo", help="folder for pictures and results")
    demo.add_argument("--images", type=int, default=64)
    demo.add_argument("--size", type=int, default=128)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)
    sub.add_parser("info", help="print build information").set_defaults(
        func=lambda a: print(__import__("mrcnn").build_info()))
    args = parser.parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
