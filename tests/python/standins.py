"""Stand-ins for what the library downloads, made by the tests from ../shared: a local HTTP server,
sample dataset zips with a few of the real images, and a small Matterport weights file with real
layer names and shapes."""
import http.server
import io
import json
import os
import threading
import time
import zipfile

import numpy as np

from conftest import shared_path


class Server:
    """A threaded HTTP server with a table path -> (body, delay_s, cut_at, announce_length)."""

    def __init__(self):
        self.files, self.hits = {}, {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, with_body):
                server.hits[self.path] = server.hits.get(self.path, 0) + (1 if with_body else 0)
                entry = server.files.get(self.path)
                if entry is None:
                    self.send_error(404, "Not Found")
                    return
                body, delay, cut_at, announce = entry
                self.send_response(200)
                if announce:
                    self.send_header("Content-Length", str(len(body)))
                else:  # the body ends when the connection closes
                    self.close_connection = True
                self.end_headers()
                if not with_body:
                    return
                if delay:
                    time.sleep(delay)
                self.wfile.write(body[:cut_at] if cut_at is not None else body)
                self.wfile.flush()
                if cut_at is not None:
                    self.close_connection = True

            def do_HEAD(self):
                self._reply(False)

            def do_GET(self):
                self._reply(True)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def add(self, path, body, delay=0.0, cut_at=None, announce=True):
        """Serves body at path; cut_at: send only that many bytes; announce=False: no Content-Length."""
        self.files[path] = (body, delay, cut_at, announce)
        return self.url + path


def _zip(files):
    """Zip bytes of {name in the archive: bytes}."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def balloon_zip(train=3, val=2):
    """Matterport's balloon_dataset.zip layout (balloon/{train,val}/via_region_data.json and the
    images) with the first images of each split of ../shared/data/balloon."""
    files = {}
    for split, count in (("train", train), ("val", val)):
        folder = shared_path("data", "balloon", split)
        with open(os.path.join(folder, "via_region_data.json")) as f:
            regions = json.load(f)
        kept = dict(list(regions.items())[:count])
        files["balloon/%s/via_region_data.json" % split] = json.dumps(kept).encode()
        for entry in kept.values():
            with open(os.path.join(folder, entry["filename"]), "rb") as f:
                files["balloon/%s/%s" % (split, entry["filename"])] = f.read()
    return _zip(files)


def fruits_zip(count=4):
    """The fruits and nuts demo's data.zip layout (data/trainval.json, data/images/) with the first
    images of ../shared/data/fruits_nuts."""
    folder = shared_path("data", "fruits_nuts")
    with open(os.path.join(folder, "trainval.json")) as f:
        coco = json.load(f)
    images = coco["images"][:count]
    ids = {i["id"] for i in images}
    coco = dict(coco, images=images, annotations=[a for a in coco["annotations"] if a["image_id"] in ids])
    files = {"data/trainval.json": json.dumps(coco).encode()}
    for i in images:
        with open(os.path.join(folder, "images", i["file_name"]), "rb") as f:
            files["data/images/" + i["file_name"]] = f.read()
    return _zip(files)


def matterport_layout():
    """[(weight name, shape)] of Matterport's mask_rcnn_coco.h5 (../shared/testdata/matterport)."""
    rows = []
    with open(shared_path("testdata", "matterport", "weights_layout.tsv")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, shape = line.rstrip("\n").split("\t")
            rows.append((name, tuple(int(v) for v in shape.strip("()").split(",") if v.strip())))
    return rows


def coco_h5(path, layers=("conv1", "bn_conv1", "res4w_branch2c", "bn4w_branch2c", "rpn_conv_shared")):
    """A Keras weights file with a few of mask_rcnn_coco.h5's layers (real names and shapes,
    random values): small, and enough for by_name loading and the architecture it implies."""
    import h5py

    rows = [(name, shape) for name, shape in matterport_layout() if name.split("/")[0] in layers]
    rng = np.random.RandomState(0)
    with h5py.File(path, "w") as f:
        names = [layer for layer in layers if any(n.split("/")[0] == layer for n, _ in rows)]
        f.attrs["layer_names"] = [n.encode() for n in names]
        for layer in names:
            g = f.create_group(layer)
            weights = [(n, s) for n, s in rows if n.split("/")[0] == layer]
            g.attrs["weight_names"] = [n.encode() for n, _ in weights]
            for n, shape in weights:
                value = rng.uniform(0.5, 1.5, shape) if n.endswith(("moving_variance:0", "gamma:0")) else \
                    rng.normal(0, 0.05, shape)
                g.create_dataset(n, data=value.astype(np.float32))
    return path
