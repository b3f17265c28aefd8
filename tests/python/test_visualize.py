"""visualize.display_instances on a fashion image with its known masks: the PNG has the figure's
size, mask pixels are tinted, and the captions are drawn."""
import os

import cv2
import numpy as np

from conftest import shared_path
from mrcnn import utils, visualize
from mrcnn.datasets import RleCsvDataset


def drawn_figure(result):
    """The figure a drawing function drew: it returns None, as Matterport's do; the figure is
    matplotlib's current one."""
    import matplotlib.pyplot as plt

    assert result is None
    return plt.gcf()


def drawn_axes(result):
    """The axes a drawing function drew on (see drawn_figure)."""
    return drawn_figure(result).axes[0]


def test_display_instances_writes_a_tinted_png(tmp_path):
    root = shared_path("data", "fashion")
    ds = RleCsvDataset(os.path.join(root, "train.csv"), os.path.join(root, "images"),
                       os.path.join(root, "label_descriptions.json"), source="fashion")
    ds.prepare()
    image = ds.load_image(0)
    masks, class_ids = ds.load_mask(0)
    boxes = utils.extract_bboxes(masks)
    path = str(tmp_path / "instances.png")
    ax = drawn_axes(visualize.display_instances(image, boxes, masks, class_ids, ds.class_names,
                                     scores=np.linspace(0.99, 0.5, len(class_ids)), figsize=(6, 8), path=path))
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == len(class_ids)
    assert texts[0] == "%s 0.990" % ds.class_names[class_ids[0]]
    saved = cv2.imread(path)
    assert saved is not None and saved.shape[0] > 300 and saved.shape[1] > 200
    # the drawn image is the photo with each mask tinted half-way to its colour
    drawn = ax.images[0].get_array()
    inside = masks.any(axis=2)
    assert np.abs(drawn[inside].astype(int) - image[inside].astype(int)).mean() > 10
    assert np.array_equal(drawn[~inside], image[~inside])


def test_apply_mask_and_colors():
    image = np.full((4, 4, 3), 100.0)
    mask = np.zeros((4, 4), np.uint8)
    mask[0, 0] = 1
    out = visualize.apply_mask(image, mask, (1.0, 0.0, 0.0), alpha=0.5)
    assert out[0, 0].tolist() == [177.5, 50.0, 50.0] and out[1, 1].tolist() == [100.0, 100.0, 100.0]
    colors = visualize.random_colors(5)
    assert len(set(colors)) == 5 and all(0 <= v <= 1 for c in colors for v in c)


# ---- the rest of Matterport's visualize functions, on small synthetic images ----

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib import colors as mcolors  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _png_ok(path, min_side=50):
    saved = cv2.imread(str(path))
    assert saved is not None and min(saved.shape[:2]) >= min_side, path
    return saved


def _box_mask(shape, box):
    m = np.zeros(shape, bool)
    y1, x1, y2, x2 = box
    m[y1:y2, x1:x2] = True
    return m


def _rects(ax):
    return [p for p in ax.patches if isinstance(p, Rectangle)]


NAMES = ["BG", "cat", "dog", "bird"]


def test_display_top_masks_orders_classes_by_area(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(60, 255, (32, 40, 3), dtype=np.uint8)
    boxes = [(0, 0, 5, 10), (10, 10, 20, 20), (20, 20, 30, 30), (0, 20, 10, 30)]  # areas 50, 100, 100, 100
    masks = np.stack([_box_mask((32, 40), b) for b in boxes], axis=-1)
    class_ids = np.array([1, 2, 2, 3])  # total areas: cat 50, dog 200, bird 100
    path = tmp_path / "top.png"
    fig = drawn_figure(visualize.display_top_masks(image, masks, class_ids, NAMES, limit=2, path=str(path)))
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["H x W=32x40", "dog", "bird"]
    _png_ok(path, 20)
    # the dog panel keeps the image under the dog masks and dims the rest
    panel = fig.axes[1].images[0].get_array()
    dog = masks[:, :, 1] | masks[:, :, 2]
    assert np.array_equal(panel[dog], image[dog])
    assert np.all(panel[~dog] < image[~dog])


def _differences_case():
    shape = (64, 64)
    gt_box = np.array([[5, 5, 25, 25], [35, 35, 55, 55]])
    gt_class = np.array([1, 2])
    gt_mask = np.stack([_box_mask(shape, b) for b in gt_box], axis=-1)
    # unsorted on purpose: the false positive (a cat on the dog, IoU 1) comes first with the lower score
    pred_box = np.array([[35, 35, 55, 55], [5, 5, 25, 27]])
    pred_class = np.array([1, 1])
    pred_score = np.array([0.8, 0.9])
    pred_mask = np.stack([_box_mask(shape, b) for b in pred_box], axis=-1)
    image = np.full(shape + (3,), 90, np.uint8)
    return image, gt_box, gt_class, gt_mask, pred_box, pred_class, pred_score, pred_mask


def test_display_differences_colours_matches_and_misses(tmp_path):
    path = tmp_path / "diff.png"
    ax = drawn_axes(visualize.display_differences(*_differences_case(), NAMES, path=str(path)))
    _png_ok(path)
    # instances: gt cat (matched), gt dog (missed), pred cat 0.9 (match, IoU 400/440), pred cat 0.8 (false positive)
    assert [t.get_text() for t in ax.texts] == ["", "dog missed", "0.90 / 0.91", "0.80 / 1.00"]
    green, red = (0.0, 1.0, 0.0), (1.0, 0.0, 0.0)
    edges = [tuple(np.round(mcolors.to_rgb(r.get_edgecolor()), 3)) for r in _rects(ax)]
    assert edges == [green, red, green, red]
    assert "score / IoU" in ax.get_title()


def test_display_differences_hides_boxes_on_request():
    ax = drawn_axes(visualize.display_differences(*_differences_case(), NAMES, show_box=False, title="t", path=os.devnull))
    assert _rects(ax) == [] and ax.get_title() == "t"


def test_draw_rois_marks_positive_rois(tmp_path, capsys):
    image = np.full((64, 64, 3), 100, np.uint8)
    rois = np.array([[2, 2, 20, 20], [30, 30, 60, 60], [5, 40, 15, 60]], np.float32)
    refined = rois + np.array([1, 1, -1, -1], np.float32)
    class_ids = np.array([0, 2, 3])
    mask = np.ones((3, 8, 8), np.float32)
    path = tmp_path / "rois.png"
    ax = drawn_axes(visualize.draw_rois(image, rois, refined, mask, class_ids, NAMES, path=str(path)))
    _png_ok(path)
    assert [t.get_text() for t in ax.texts] == ["dog", "bird"]
    assert "2 positive, 1 negative" in ax.get_title()
    assert "ratio: 0.67" in capsys.readouterr().out
    # a dashed box per ROI and a solid refined box per positive one
    assert [r.get_linestyle() for r in _rects(ax)] == ["dashed", "dashed", "solid", "dashed", "solid"]
    drawn = ax.images[0].get_array()
    assert np.any(drawn[40, 40] != 100) and np.all(drawn[10, 10] == 100)  # only positive ROIs get masks


def test_draw_rois_samples_at_most_limit():
    rois = np.array([[i, i, i + 5, i + 5] for i in range(0, 40, 2)], np.float32)
    ax = drawn_axes(visualize.draw_rois(np.zeros((50, 50, 3), np.uint8), rois, rois, np.ones((20, 4, 4)),
                             np.ones(20, int), NAMES, limit=5, path=os.devnull))
    assert len(ax.texts) == 5


def test_draw_box_draws_the_border_in_place():
    image = np.zeros((10, 12, 3), np.uint8)
    out = visualize.draw_box(image, (2, 3, 8, 10), (255, 0, 0))
    assert out is image
    expected = np.zeros((10, 12), bool)
    expected[2:8, 3:10] = True
    expected[4:6, 5:8] = False  # 2-pixel border inside the box
    assert np.array_equal(image[..., 0] == 255, expected)
    assert np.all(image[expected] == [255, 0, 0]) and np.all(image[~expected] == 0)
    # clipped at the image edge; an empty box draws nothing
    visualize.draw_box(image, (-5, -5, 1, 1), 7)
    assert np.all(image[0, 0] == 7) and np.all(image[0, 1] == 0) and np.all(image[1, 0] == 0)
    before = image.copy()
    visualize.draw_box(image, (5, 5, 5, 9), 9)
    assert np.array_equal(image, before)


def test_draw_boxes_styles_and_captions(tmp_path):
    image = np.full((60, 80, 3), 120, np.uint8)
    boxes = np.array([[5, 5, 20, 30], [30, 40, 55, 75], [10, 50, 25, 70]])
    refined = boxes + 2
    masks = np.stack([_box_mask((60, 80), b) for b in refined], axis=-1)
    path = tmp_path / "boxes.png"
    ax = drawn_axes(visualize.draw_boxes(image, boxes=boxes, refined_boxes=refined, masks=masks,
                              captions=["a", "b", ""], visibilities=[0, 1, 2], title="boxes", path=str(path)))
    _png_ok(path)
    assert ax.get_title() == "boxes"
    assert [t.get_text() for t in ax.texts] == ["a", "b"]
    # box 0 is hidden (grey, dotted, no refined box), 1 dotted with its refined box, 2 solid with its refined box
    styles = [r.get_linestyle() for r in _rects(ax)]
    assert styles == ["dotted", "dotted", "solid", "solid", "solid"]
    assert mcolors.to_rgb(_rects(ax)[0].get_edgecolor()) == mcolors.to_rgb("gray")
    assert len(ax.lines) == 2  # corner-to-corner lines of the refined boxes
    drawn = ax.images[0].get_array()
    assert np.any(drawn[40, 50] != 120) and np.all(drawn[0, 0] == 120)


def test_draw_boxes_with_refined_boxes_only():
    ax = drawn_axes(visualize.draw_boxes(np.zeros((30, 30, 3), np.uint8), refined_boxes=[[2, 2, 10, 10]], captions=["x"],
                              path=os.devnull))
    assert [t.get_text() for t in ax.texts] == ["x"] and len(_rects(ax)) == 1


def test_display_table_prints_aligned_text(capsys):
    table = [["NAME", "VALUE"], ["alpha", "1"], ["b <span style='color:red'>!</span>", 22]]
    assert visualize.display_table(table) is None
    page = visualize.table_html(table)
    out = capsys.readouterr().out.splitlines()
    assert out == ["NAME   VALUE", "alpha  1", "b !    22"]
    assert page.count("<th") == 2 and page.count("<td") == 4 and "<span style='color:red'>" in page


def test_plot_precision_recall(tmp_path):
    precisions = np.array([1.0, 1.0, 0.667, 0.5, 0.0])
    recalls = np.array([0.0, 0.5, 0.5, 1.0, 1.0])
    path = tmp_path / "pr.png"
    ax = drawn_axes(visualize.plot_precision_recall(2 / 3, precisions, recalls, path=str(path)))
    _png_ok(path)
    assert "AP@50 = 0.667" in ax.get_title()
    (line,) = ax.lines
    assert np.array_equal(line.get_xdata(), recalls) and np.array_equal(line.get_ydata(), precisions)


def test_plot_precision_recall_from_compute_ap():
    _, gt_box, gt_class, gt_mask, pred_box, pred_class, pred_score, pred_mask = _differences_case()
    ap, precisions, recalls, _ = utils.compute_ap(gt_box, gt_class, gt_mask, pred_box, pred_class, pred_score,
                                                  pred_mask)
    ax = drawn_axes(visualize.plot_precision_recall(ap, precisions, recalls, path=os.devnull))
    assert ax.get_title().endswith("{:.3f}".format(ap)) and abs(ap - 0.5) < 1e-6


def test_plot_overlaps_cells_and_highlights(tmp_path):
    gt_class_ids = np.array([1, 2, 3])
    pred_class_ids = np.array([1, 3])
    pred_scores = np.array([0.95, 0.7])
    overlaps = np.array([[0.834, 0.1, 0.0], [0.0, 0.61, 0.456]])
    path = tmp_path / "overlaps.png"
    ax = drawn_axes(visualize.plot_overlaps(gt_class_ids, pred_class_ids, pred_scores, overlaps, NAMES, path=str(path)))
    _png_ok(path)
    assert [t.get_text() for t in ax.texts] == ["0.83", "0.10", "0.00", "0.00", "0.61", "0.46"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "bird"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat (0.95)", "bird (0.70)"]
    # outlined: (0, 0) same class, a match; (1, 1) above threshold but dog vs bird
    outlined = {(round(r.get_y() + 0.45), round(r.get_x() + 0.45)): mcolors.to_rgb(r.get_edgecolor())
                for r in _rects(ax)}
    assert outlined == {(0, 0): mcolors.to_rgb("limegreen"), (1, 1): mcolors.to_rgb("red")}
    assert np.allclose(ax.images[0].get_array(), overlaps)


def test_plot_overlaps_from_compute_ap_drops_padding():
    _, gt_box, gt_class, gt_mask, pred_box, pred_class, pred_score, pred_mask = _differences_case()
    _, _, _, overlaps = utils.compute_ap(gt_box, gt_class, gt_mask, pred_box, pred_class, pred_score, pred_mask)
    order = np.argsort(pred_score)[::-1]
    ax = drawn_axes(visualize.plot_overlaps(np.append(gt_class, 0), pred_class[order], pred_score[order],
                                 np.hstack([overlaps, np.zeros((2, 1))]), NAMES, path=os.devnull))
    assert [t.get_text() for t in ax.texts] == ["0.91", "0.00", "0.00", "1.00"]
    with pytest.raises(ValueError):
        visualize.plot_overlaps(gt_class, pred_class, pred_score, overlaps[:1], NAMES)


def test_display_weight_stats_flags_suspicious_weights(capsys):
    import torch

    class Net:
        def named_parameters(self):
            return [("conv.weight", torch.arange(6, dtype=torch.float32).reshape(2, 3)),
                    ("dead.bias", torch.zeros(4)),
                    ("big.weight", torch.tensor([1.0, 5000.0]))]

    class Model:
        net = Net()

    assert visualize.display_weight_stats(Model()) is None
    table = visualize.weight_stats(Model())
    assert table[0] == ["WEIGHT NAME", "SHAPE", "MIN", "MAX", "STD"]
    assert [row[1] for row in table[1:]] == ["(2, 3)", "(4,)", "(2,)"]
    assert float(table[1][2]) == 0 and float(table[1][3]) == 5 and abs(float(table[1][4]) - np.std(range(6))) < 1e-4
    assert "dead?" not in table[1][0] and "dead?" in table[2][0] and "overflow?" in table[3][0]
    assert "conv.weight" in capsys.readouterr().out


def test_display_instances_names_a_class_id_without_a_name_and_masks_of_another_size():
    image = np.zeros((20, 30, 3), np.uint8)
    boxes = np.array([[2, 2, 10, 10]])
    masks = np.zeros((20, 30, 1), bool)
    with pytest.raises(ValueError, match="class id 5 has no name: class_names lists 2 classes"):
        visualize.display_instances(image, boxes, masks, np.array([5]), ["BG", "balloon"])
    with pytest.raises(ValueError, match=r"masks must be \[H, W, N\] with the image's H x W \(20, 30\), got \(30, 20, 1\)"):
        visualize.display_instances(image, boxes, np.zeros((30, 20, 1), bool), np.array([1]), ["BG", "balloon"])
    plt.close("all")
