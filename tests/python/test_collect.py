"""Collecting images: downloads from a local HTTP server (retries, timeouts, junk, duplicates,
resume), folder imports, and the Open Images layout (loader and subset copy)."""
import hashlib
import http.server
import json
import os
import re
import shutil
import socket
import threading

import cv2
import numpy as np
import pytest

from mrcnn import collect
from mrcnn.datasets import OpenImagesDataset


def _png(h, w, seed):
    return cv2.imencode(".png", np.random.RandomState(seed).randint(0, 255, (h, w, 3), dtype=np.uint8))[1].tobytes()


def _jpg(h, w, seed):
    return cv2.imencode(".jpg", np.random.RandomState(seed).randint(0, 255, (h, w, 3), dtype=np.uint8))[1].tobytes()


def _name(data, ext):
    return hashlib.sha1(data).hexdigest()[:16] + ext


class _Server:
    """A local HTTP server with one behaviour per path; counts the requests of each path."""

    def __init__(self):
        self.images = {"/a.png": _png(12, 16, 1), "/b.jpg": _jpg(20, 10, 2), "/c.png": _png(9, 9, 3),
                       "/flaky.png": _png(7, 11, 4), "/slow.jpg": _jpg(8, 8, 5), "/tiny.png": _png(2, 3, 6)}
        self.images["/same-as-a.png"] = self.images["/a.png"]
        self.requests = {}
        self.stop = threading.Event()
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                with server.lock:
                    n = server.requests[self.path] = server.requests.get(self.path, 0) + 1
                try:
                    if self.path == "/slow.jpg":
                        server.stop.wait(3.0)  # far past the client's timeout
                    if self.path == "/flaky.png" and n == 1:
                        return self.send_error(503)
                    if self.path == "/page.html":
                        return self._send(b"<html><body>Not found, but 200 OK</body></html>", "text/html")
                    if self.path in server.images:
                        return self._send(server.images[self.path], "image/png")
                    self.send_error(404)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _send(self, body, content_type):
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.base = "http://127.0.0.1:%d" % self.httpd.server_address[1]

    def url(self, path):
        return self.base + path

    def close(self):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_images_checks_retries_dedupes_and_resumes(server, tmp_path):
    u = server.url
    refused = "http://127.0.0.1:%d/x.png" % _closed_port()
    url_file = tmp_path / "urls.txt"
    url_file.write_text("# photos\n%s\n\n%s\n%s\n%s\n  %s  \n%s\n%s\n%s\n%s\n" % (
        u("/a.png"), u("/b.jpg"), u("/same-as-a.png"), u("/missing.png"), u("/page.html"), u("/flaky.png"),
        u("/tiny.png"), refused, u("/a.png")))
    out = tmp_path / "raw"
    result = collect.download_images(str(url_file), str(out), threads=4, retries=2, min_size=3, progress=False,
                                     backoff=0.01)
    images = server.images
    path_a = str(out / _name(images["/a.png"], ".png"))
    assert result.downloaded == [path_a, str(out / _name(images["/b.jpg"], ".jpg")),
                                 str(out / _name(images["/flaky.png"], ".png"))]
    assert result.duplicates == {u("/same-as-a.png"): path_a}
    assert result.existing == {}
    assert list(result.failed) == [u("/missing.png"), u("/page.html"), u("/tiny.png"), refused]
    assert result.failed[u("/missing.png")] == "HTTP 404"
    assert result.failed[u("/page.html")] == "not an image"
    assert result.failed[u("/tiny.png")] == "too small (3x2 < 3 pixels)"
    assert result.failed[refused].startswith("connection error")
    # a response slower than the timeout: tried 1 + retries times
    slow = collect.download_images([u("/slow.jpg")], out, retries=1, timeout=0.5, progress=False, backoff=0.01)
    assert slow.failed == {u("/slow.jpg"): "timed out"} and slow.downloaded == []
    # retried: 503 once then served, the timeout; not retried: 404, HTML; each URL once
    assert server.requests == {"/a.png": 1, "/b.jpg": 1, "/same-as-a.png": 1, "/missing.png": 1, "/slow.jpg": 2,
                               "/page.html": 1, "/flaky.png": 2, "/tiny.png": 1}
    # the files are the served bytes, and decode
    assert sorted(os.listdir(out)) == sorted([os.path.basename(p) for p in result.downloaded]
                                             + [collect.MANIFEST_NAME])
    for path, key in zip(result.downloaded, ["/a.png", "/b.jpg", "/flaky.png"]):
        assert open(path, "rb").read() == images[key]
        assert cv2.imread(path) is not None
    manifest = json.load(open(out / collect.MANIFEST_NAME))["items"]
    assert set(manifest) == {u("/a.png"), u("/b.jpg"), u("/same-as-a.png"), u("/flaky.png")}
    assert manifest[u("/same-as-a.png")] == {"file": os.path.basename(path_a),
                                             "sha1": hashlib.sha1(images["/a.png"]).hexdigest()}
    assert "3 downloaded" in result.summary() and "4 failed" in result.summary() and "HTTP 404 x1" in result.summary()
    assert "downloaded=3" in repr(result) and "failed=4" in repr(result)

    # a rerun fetches nothing it already has; a new URL is fetched, and a copy of a saved image is a duplicate
    before = dict(server.requests)
    again = collect.download_images([u("/a.png"), u("/same-as-a.png"), u("/b.jpg"), u("/flaky.png")], out,
                                    progress=False)
    assert server.requests == before
    assert again.downloaded == [] and again.failed == {} and again.duplicates == {}
    assert again.existing == {u("/a.png"): path_a, u("/same-as-a.png"): path_a,
                              u("/b.jpg"): result.downloaded[1], u("/flaky.png"): result.downloaded[2]}
    images["/a-again.png"] = images["/a.png"]
    third = collect.download_images([u("/c.png"), u("/b.jpg"), u("/a-again.png")], out, progress=False)
    assert third.downloaded == [str(out / _name(images["/c.png"], ".png"))]
    assert third.duplicates == {u("/a-again.png"): path_a}
    assert server.requests["/c.png"] == 1 and server.requests["/b.jpg"] == 1
    assert len(os.listdir(out)) == 5


def test_download_images_raise_and_bad_arguments(server, tmp_path):
    u = server.url
    with pytest.raises(collect.CollectError, match=re.escape(u("/missing.png")) + ": HTTP 404") as info:
        collect.download_images([u("/a.png"), u("/missing.png"), u("/b.jpg")], tmp_path / "out", threads=1,
                                progress=False, on_error="raise")
    assert info.value.source == u("/missing.png") and info.value.reason == "HTTP 404"
    # what was saved before the failure is in the manifest
    assert list(json.load(open(tmp_path / "out" / collect.MANIFEST_NAME))["items"]) == [u("/a.png")]
    with pytest.raises(collect.CollectError, match="not an image"):
        collect.download_images([u("/page.html")], tmp_path / "out", progress=False, on_error="raise")
    result = collect.download_images(["ftp://example.com/a.png"], tmp_path / "out", progress=False)
    assert result.failed == {"ftp://example.com/a.png": "bad URL: not http(s)"}
    with pytest.raises(FileNotFoundError, match="nowhere.txt"):
        collect.download_images(str(tmp_path / "nowhere.txt"), tmp_path / "out", progress=False)
    with pytest.raises(ValueError, match="on_error"):
        collect.download_images([], tmp_path / "out", on_error="ignore")


def test_import_folder_skips_junk_and_duplicates(tmp_path):
    src = tmp_path / "photos"
    (src / "day2").mkdir(parents=True)
    (src / ".ipynb_checkpoints").mkdir()
    a, b, c = _png(10, 12, 1), _jpg(16, 8, 2), _png(5, 6, 3)
    (src / "a.png").write_bytes(a)
    (src / "b.JPG").write_bytes(b)
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (src / "notes.txt").write_text("not an image")
    (src / ".hidden.png").write_bytes(c)
    (src / ".ipynb_checkpoints" / "x.png").write_bytes(c)
    (src / "day2" / "a_copy.png").write_bytes(a)
    (src / "day2" / "c.png").write_bytes(c)
    out = src / "collected"  # inside the source folder: not imported into itself
    result = collect.import_folder(src, out, progress=False)
    assert result.downloaded == [str(out / "a.png"), str(out / "b.JPG"), str(out / "day2_c.png")]
    assert result.failed == {str(src / "broken.jpg"): "not an image"}
    assert result.duplicates == {str(src / "day2" / "a_copy.png"): str(out / "a.png")}
    for path, data in zip(result.downloaded, [a, b, c]):
        assert open(path, "rb").read() == data and cv2.imread(path) is not None
    assert "3 copied" in result.summary()

    again = collect.import_folder(src, out, progress=False)
    assert again.downloaded == [] and list(again.existing.values()) == result.downloaded
    assert again.duplicates == result.duplicates and again.failed == result.failed

    shutil.rmtree(out)
    flat = collect.import_folder(src, tmp_path / "all", recursive=False, dedupe=False, progress=False)
    assert [os.path.basename(p) for p in flat.downloaded] == ["a.png", "b.JPG"]
    every = collect.import_folder(src, tmp_path / "all", dedupe=False, progress=False)
    assert [os.path.basename(p) for p in every.downloaded] == ["day2_a_copy.png", "day2_c.png"]
    assert len(every.existing) == 2
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        collect.import_folder(tmp_path / "nothing-here", out)


# --- Open Images ------------------------------------------------------------------------------

HEADER = "MaskPath,ImageID,LabelName,BoxID,BoxXMin,BoxXMax,BoxYMin,BoxYMax,PredictedIoU,Clicks\n"


def _mask(h, w, seed):
    return (np.random.RandomState(seed).rand(h, w) > 0.5).astype(np.uint8) * 255


def _open_images_layout(root):
    """img1 (8x10): a Tortoise with a 4x5 mask in a subfolder, a Sea turtle with an 8x10 mask;
    img2 (6x6): an unnamed label /m/03 with a 4x4 mask; img3: no image file."""
    (root / "images").mkdir(parents=True)
    (root / "masks" / "train-masks-0").mkdir(parents=True)
    cv2.imwrite(str(root / "images" / "img1.jpg"), np.full((8, 10, 3), 128, np.uint8))
    cv2.imwrite(str(root / "images" / "img2.jpg"), np.full((6, 6, 3), 128, np.uint8))
    masks = {"img1_m01_a.png": _mask(4, 5, 1), "img1_m02_b.png": _mask(8, 10, 2), "img2_m03_c.png": _mask(4, 4, 3),
             "img3_m01_d.png": _mask(5, 5, 4)}
    cv2.imwrite(str(root / "masks" / "train-masks-0" / "img1_m01_a.png"), masks["img1_m01_a.png"])
    for name in ("img1_m02_b.png", "img2_m03_c.png", "img3_m01_d.png"):
        cv2.imwrite(str(root / "masks" / name), masks[name])
    (root / "seg.csv").write_text(HEADER + "img1_m01_a.png,img1,/m/01,a,0.1,0.5,0.2,0.6,0.9,\n"
                                  "img1_m02_b.png,img1,/m/02,b,0,1,0,1,0.8,\n"
                                  "img2_m03_c.png,img2,/m/03,c,0,1,0,1,0.7,\n"
                                  "img3_m01_d.png,img3,/m/01,d,0,1,0,1,0.7,\n")
    (root / "classes.csv").write_text("/m/01,Tortoise\n/m/02,Sea turtle\n/m/04,Sea lion\n")
    return masks


def _dataset(root, **kwargs):
    return OpenImagesDataset(root / "seg.csv", root / "images", root / "masks", root / "classes.csv", **kwargs)


def test_open_images_loader_resizes_masks_and_names_classes(tmp_path):
    masks = _open_images_layout(tmp_path)
    ds = _dataset(tmp_path)
    ds.prepare()
    assert ds.class_names == ["BG", "/m/03", "Sea turtle", "Tortoise"]
    assert [info["id"] for info in ds.image_info] == ["img1", "img2"]
    assert len(ds.warnings) == 2
    assert "/m/03 is not in" in ds.warnings[0] and "img3.jpg" in ds.warnings[1]
    assert ds.image_info[0]["boxes"][0] == (0.1, 0.2, 0.5, 0.6) and ds.image_info[0]["labels"][0] == "/m/01"
    assert ds.instances(0)[0]["mask_file"].endswith("img1_m01_a.png")
    m, ids = ds.load_mask(0)
    assert m.shape == (8, 10, 2) and m.dtype == bool and list(ids) == [3, 2] and ids.dtype == np.int32
    assert np.array_equal(m[:, :, 0], np.repeat(np.repeat(masks["img1_m01_a.png"], 2, 0), 2, 1) > 0)
    assert np.array_equal(m[:, :, 1], masks["img1_m02_b.png"] > 0)
    m, ids = ds.load_mask(1)
    assert m.shape == (6, 6, 1) and list(ids) == [1]
    expected = cv2.resize(masks["img2_m03_c.png"], (6, 6), interpolation=cv2.INTER_NEAREST) > 0
    assert np.array_equal(m[:, :, 0], expected)
    assert ds.load_image(1).shape == (6, 6, 3)

    # chosen classes, by display name (any case) or label, keep their order
    ds = _dataset(tmp_path, classes=["tortoise", "/m/03", "Sea lion"])
    ds.prepare()
    assert ds.class_names == ["BG", "Tortoise", "/m/03", "Sea lion"]
    assert ds.num_images == 2 and list(ds.load_mask(0)[1]) == [1] and list(ds.load_mask(1)[1]) == [2]
    assert any("Sea lion" in w and "no instances" in w for w in ds.warnings)
    with pytest.raises(ValueError, match="'Turtle'"):
        _dataset(tmp_path, classes=["Turtle"])
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "images" / "img3.jpg"))):
        _dataset(tmp_path, bad_data="raise")
    with pytest.raises(ValueError, match="bad_data"):
        _dataset(tmp_path, bad_data="ignore")


def test_open_images_bad_masks_and_files(tmp_path):
    _open_images_layout(tmp_path)
    (tmp_path / "masks" / "img2_m03_c.png").write_bytes(b"\x89PNG broken")
    os.remove(tmp_path / "masks" / "img1_m02_b.png")
    ds = _dataset(tmp_path)
    ds.prepare()
    with pytest.raises(ValueError, match="mask file not found: .*img1_m02_b.png"):
        ds.load_mask(0)
    with pytest.raises(ValueError, match="cannot decode mask file .*img2_m03_c.png"):
        ds.load_mask(1)
    (tmp_path / "boxes.csv").write_text("ImageID,LabelName\nimg1,/m/01\n")
    with pytest.raises(ValueError, match="boxes.csv.*MaskPath"):
        OpenImagesDataset(tmp_path / "boxes.csv", tmp_path / "images", tmp_path / "masks")
    with pytest.raises(FileNotFoundError, match="nothing.csv"):
        OpenImagesDataset(tmp_path / "nothing.csv")
    # without class descriptions, classes are named by their labels
    ds = OpenImagesDataset(tmp_path / "seg.csv", tmp_path / "images", tmp_path / "masks")
    ds.prepare()
    assert ds.class_names == ["BG", "/m/01", "/m/02", "/m/03"] and len(ds.warnings) == 1


def test_import_open_images_copies_a_loadable_subset(tmp_path):
    src = tmp_path / "oi"
    _open_images_layout(src)
    original = _dataset(src)
    original.prepare()
    out = tmp_path / "subset"
    subset = collect.import_open_images(src / "seg.csv", src / "images", src / "masks", out, classes=["Tortoise"],
                                        class_descriptions=src / "classes.csv", progress=False)
    assert (subset.images, subset.instances, subset.skipped_images, subset.skipped_instances) == (1, 1, 1, 1)
    assert subset.labels == ["/m/01"] and subset.class_names == ["Tortoise"]
    assert sorted(os.listdir(out)) == ["classes.csv", "images", "masks", "segmentation.csv"]
    assert os.listdir(out / "images") == ["img1.jpg"] and os.listdir(out / "masks") == ["img1_m01_a.png"]
    lines = (out / "segmentation.csv").read_text().splitlines()
    assert lines == [HEADER.strip(), "img1_m01_a.png,img1,/m/01,a,0.1,0.5,0.2,0.6,0.9,"]
    assert "1 images, 1 instances of 1 classes" in subset.summary()
    ds = subset.dataset()
    ds.prepare()
    assert ds.class_names == ["BG", "Tortoise"] and ds.warnings == []
    m, ids = ds.load_mask(0)
    assert np.array_equal(m[:, :, 0], original.load_mask(0)[0][:, :, 0]) and list(ids) == [1]
    assert np.array_equal(ds.load_image(0), original.load_image(0))

    every = collect.import_open_images(src / "seg.csv", src / "images", src / "masks", tmp_path / "first",
                                       limit=1, progress=False)
    assert (every.images, every.instances, every.labels) == (1, 2, ["/m/01", "/m/02", "/m/03"])
    ds = OpenImagesDataset(every.csv_path, every.images_dir, every.masks_dir)
    ds.prepare()
    assert ds.num_images == 1 and np.array_equal(ds.load_mask(0)[0], original.load_mask(0)[0])
    with pytest.raises(ValueError, match="limit"):
        collect.import_open_images(src / "seg.csv", src / "images", src / "masks", out, limit=-1)
