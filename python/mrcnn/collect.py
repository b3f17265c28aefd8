"""Collecting images for a dataset: download a list of URLs, import a folder, or copy a subset of
Open Images, into one folder of unique, decodable images.

    from mrcnn import collect
    result = collect.download_images("urls.txt", "data/raw")   # one URL per line
    print(result.summary())
    collect.import_folder("/content/drive/MyDrive/photos", "data/raw")

Images are checked to decode (an HTML error page saved as "cat.jpg" is rejected) and
de-duplicated by content. Each output folder keeps a manifest (``.mrcnn_manifest.json``: source
URL or file -> saved file and SHA-1), so running the same call again after an interruption only
fetches what is missing.
"""
import concurrent.futures
import csv
import dataclasses
import hashlib
import http.client
import io
import json
import logging
import os
import shutil
import socket
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import cv2
import numpy as np

from .datasets import (OpenImagesDataset, _MaskIndex, _read_class_descriptions, _read_segmentation_csv,
                       _select_labels)

__all__ = ["CollectResult", "CollectError", "OpenImagesSubset", "download_images", "import_folder",
           "import_open_images", "MANIFEST_NAME", "IMAGE_EXTENSIONS"]

log = logging.getLogger(__name__)

MANIFEST_NAME = ".mrcnn_manifest.json"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
MAX_BYTES = 64 << 20  # larger responses are not images a notebook wants
USER_AGENT = "Mozilla/5.0 (compatible; mrcnn-collect/1.0)"


class CollectError(RuntimeError):
    """An image could not be collected (``on_error="raise"``); .source is the URL or file, .reason why."""

    def __init__(self, source, reason):
        super().__init__("%s: %s" % (source, reason))
        self.source = source
        self.reason = reason


@dataclasses.dataclass
class CollectResult:
    """What a download_images / import_folder call did.

    downloaded: files written by this call (for import_folder: the copies);
    duplicates: source -> existing file with the same content (not written again);
    failed: source -> reason ("HTTP 404", "timed out", "not an image", ...);
    existing: source -> file saved by an earlier call (found in the manifest, not fetched again).
    """
    out_dir: str
    downloaded: list = dataclasses.field(default_factory=list)
    duplicates: dict = dataclasses.field(default_factory=dict)
    failed: dict = dataclasses.field(default_factory=dict)
    existing: dict = dataclasses.field(default_factory=dict)
    verb: str = dataclasses.field(default="downloaded", repr=False)

    @property
    def files(self):
        """Every file of out_dir that the sources map to: new ones, then earlier ones, in source order."""
        return list(dict.fromkeys(self.downloaded + list(self.existing.values())))

    def summary(self):
        """One line per kind of outcome, with the reasons of the failures counted."""
        lines = ["%d %s to %s" % (len(self.downloaded), self.verb, self.out_dir)]
        if self.existing:
            lines.append("%d already there from an earlier run" % len(self.existing))
        if self.duplicates:
            lines.append("%d duplicate(s) of images already collected, not saved" % len(self.duplicates))
        if self.failed:
            counts = {}
            for reason in self.failed.values():
                key = reason.split(":")[0]
                counts[key] = counts.get(key, 0) + 1
            lines.append("%d failed: %s" % (len(self.failed), ", ".join("%s x%d" % kv for kv in counts.items())))
        return "\n".join(lines)

    def __repr__(self):
        return "CollectResult(%s=%d, duplicates=%d, failed=%d, existing=%d, out_dir=%r)" % (
            self.verb, len(self.downloaded), len(self.duplicates), len(self.failed), len(self.existing),
            self.out_dir)


# --- shared helpers -------------------------------------------------------------------------------

def _progress(total, desc, enabled):
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="img", disable=not enabled)


class _Manifest:
    """out_dir/.mrcnn_manifest.json: {"items": {source: {"file": name, "sha1": hex}}}."""

    def __init__(self, out_dir):
        self.path = os.path.join(out_dir, MANIFEST_NAME)
        self.items = {}
        if os.path.exists(self.path):
            try:
                with open(self.path, encoding="utf-8") as f:
                    items = dict(json.load(f)["items"])
                # entries whose file is gone are dropped, so they are collected again
                self.items = {k: {"file": str(v["file"]), "sha1": str(v["sha1"])} for k, v in items.items()
                              if os.path.isfile(os.path.join(out_dir, v["file"]))}
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError("cannot read the manifest %s (%s); delete it to start over" % (self.path, e)) from None
        self.by_hash = {}
        for v in self.items.values():
            self.by_hash.setdefault(v["sha1"], v["file"])

    def add(self, source, name, sha1):
        self.items[source] = {"file": name, "sha1": sha1}
        self.by_hash.setdefault(sha1, name)

    def save(self):
        _write_atomic(self.path, json.dumps({"version": 1, "items": self.items}, indent=1).encode("utf-8"))


def _write_atomic(path, data):
    """Writes bytes to path through a temporary file in the same folder, so a half-written file
    never has the final name."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _image_format(data):
    """File extension for the image bytes, from their signature; None when unknown."""
    if data[:3] == b"\xff\xd8\xff":
        return ".jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return ".png"
    if data[:2] == b"BM":
        return ".bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return ".tif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return None


def _check_image(data, min_size):
    """None when data decodes as an image at least min_size pixels on its shorter side, else why not."""
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    if image is None or image.ndim < 2 or image.size == 0:
        return "not an image"
    h, w = image.shape[:2]
    if min(h, w) < min_size:
        return "too small (%dx%d < %d pixels)" % (w, h, min_size)
    return None


# --- downloads ------------------------------------------------------------------------------------

def _read_url_list(urls):
    if isinstance(urls, (str, os.PathLike)):
        text = str(urls)
        if text.startswith(("http://", "https://")):
            return [text]
        if not os.path.isfile(text):
            raise FileNotFoundError("URL list not found: %s (give a list of URLs or a text file, one per line)" % text)
        with open(text, encoding="utf-8-sig") as f:
            lines = f.read().splitlines()
    else:
        lines = [str(u) for u in urls]
    out = []
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return list(dict.fromkeys(out))  # each URL once, first occurrence first


def _quote_url(url):
    """Percent-encodes spaces and non-ASCII characters, which urllib refuses."""
    return urllib.parse.quote(url, safe=":/?#[]@!$&'()*+,;=%~")


class _Retry(Exception):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def _fetch_once(url, timeout):
    request = urllib.request.Request(_quote_url(url), headers={"User-Agent": USER_AGENT, "Accept": "image/*,*/*;q=0.8"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as e:
        e.close()
        reason = "HTTP %d" % e.code
        if e.code >= 500 or e.code in (408, 429):
            raise _Retry(reason) from None
        return None, reason
    except urllib.error.URLError as e:
        if isinstance(e.reason, (socket.timeout, TimeoutError)):
            raise _Retry("timed out") from None
        if isinstance(e.reason, OSError):
            raise _Retry("connection error: %s" % (e.reason.strerror or e.reason)) from None
        return None, "bad URL: %s" % (e.reason,)
    except (socket.timeout, TimeoutError):
        raise _Retry("timed out") from None
    except http.client.InvalidURL as e:
        return None, "bad URL: %s" % e
    except (ConnectionError, http.client.HTTPException) as e:
        raise _Retry("connection error: %s" % (e.__class__.__name__ if not str(e) else e)) from None
    except ValueError as e:  # malformed URL
        return None, "bad URL: %s" % e
    if len(data) > MAX_BYTES:
        return None, "too large (over %d MiB)" % (MAX_BYTES >> 20)
    return data, None


def _fetch(url, retries, timeout, backoff, min_size):
    """(url, bytes or None, failure reason or None, sha1)."""
    if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
        return url, None, "bad URL: not http(s)", None
    for attempt in range(retries + 1):
        try:
            data, reason = _fetch_once(url, timeout)
            break
        except _Retry as e:
            data, reason = None, e.reason
            if attempt < retries:
                time.sleep(backoff * 2 ** attempt)
    if data is None:
        return url, None, reason, None
    reason = _check_image(data, min_size)
    if reason:
        return url, None, reason, None
    return url, data, None, hashlib.sha1(data).hexdigest()


def _save_image(out_dir, data, sha1):
    """Writes the image bytes as <first 16 hex digits of the SHA-1>.<format>; returns the name."""
    ext = _image_format(data)
    if ext is None:  # decodable but unusual (PPM, JPEG 2000, ...): stored as PNG
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        ok, buf = cv2.imencode(".png", image)
        if not ok:
            raise ValueError("cannot store this image format as PNG")
        data, ext = buf.tobytes(), ".png"
    name = sha1[:16] + ext
    _write_atomic(os.path.join(out_dir, name), data)
    return name


def download_images(urls, out_dir, threads=8, retries=3, timeout=10.0, min_size=1, progress=True, on_error="skip",
                    backoff=1.0):
    """Downloads images into out_dir; returns a CollectResult.

    urls: a list of URLs, or a text file with one URL per line (blank lines and "#" comments
    ignored). Each response must decode as an image whose shorter side is at least `min_size`
    pixels. Timeouts, HTTP 5xx / 408 / 429 and connection errors are retried `retries` times,
    waiting backoff, 2*backoff, ... seconds; other failures (HTTP 404, an HTML page) are not.
    Images are saved as <hash>.<jpg|png|...>; one identical to an image already collected
    (from another URL) is a duplicate and is not saved again. URLs in out_dir's manifest are
    not fetched again, so a rerun resumes an interrupted download.
    on_error: "skip" (report in .failed) or "raise" (CollectError at the first failure).
    """
    if on_error not in ("skip", "raise"):
        raise ValueError("download_images: on_error must be 'skip' or 'raise', got %r" % (on_error,))
    url_list = _read_url_list(urls)
    out_dir = str(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    manifest = _Manifest(out_dir)
    known_hashes = dict(manifest.by_hash)  # images collected before this call
    result = CollectResult(out_dir)
    todo = []
    for url in url_list:
        if url in manifest.items:
            result.existing[url] = os.path.join(out_dir, manifest.items[url]["file"])
        else:
            todo.append(url)
    fetched = {}  # url -> (file name, sha1)
    failed = {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, int(threads)))
    bar = _progress(len(todo), "download", progress)
    try:
        args = (int(retries), float(timeout), float(backoff), int(min_size))
        futures = [pool.submit(_fetch, url, *args) for url in todo]
        last_save = time.monotonic()
        for future in concurrent.futures.as_completed(futures):
            url, data, reason, sha1 = future.result()
            bar.update(1)
            if reason is None:
                name = manifest.by_hash.get(sha1)
                if name is None:
                    try:
                        name = _save_image(out_dir, data, sha1)
                    except ValueError as e:
                        reason = str(e)
                if reason is None:
                    manifest.add(url, name, sha1)
                    fetched[url] = (name, sha1)
            if reason is not None:
                failed[url] = reason
                bar.set_postfix(failed=len(failed), refresh=False)
                if on_error == "raise":
                    raise CollectError(url, reason)
            if time.monotonic() - last_save > 5.0:
                manifest.save()
                last_save = time.monotonic()
    finally:
        bar.close()
        pool.shutdown(wait=False, cancel_futures=True)
        manifest.save()
    # the first URL (in list order) of new content is the download, later ones are duplicates
    first_of = {}
    for url in todo:
        if url in failed:
            result.failed[url] = failed[url]
            continue
        if url not in fetched:
            continue
        name, sha1 = fetched[url]
        path = os.path.join(out_dir, name)
        if sha1 in known_hashes or sha1 in first_of:
            result.duplicates[url] = path
        else:
            first_of[sha1] = url
            result.downloaded.append(path)
    for url, reason in result.failed.items():
        log.info("download failed: %s: %s", url, reason)
    return result


# --- local folders --------------------------------------------------------------------------------

def _list_images(src_dir, recursive, skip_dir):
    """Image files under src_dir (by extension, any case), sorted; hidden files and folders and
    skip_dir are left out."""
    found = []
    skip_dir = os.path.realpath(skip_dir)
    for top, dirs, files in os.walk(src_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and os.path.realpath(os.path.join(top, d)) != skip_dir) if recursive else []
        for f in sorted(files):
            if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS:
                found.append(os.path.join(top, f))
    return found


def import_folder(src_dir, out_dir, recursive=True, dedupe=True, progress=True):
    """Copies every image file under src_dir (jpg, jpeg, png, bmp, tif, tiff, webp, any case) into
    out_dir; returns a CollectResult whose .downloaded lists the copies.

    Files that do not decode are reported in .failed ("not an image"); with dedupe, a file whose
    content was already collected in out_dir is reported in .duplicates and not copied. Copies
    keep their name; files of subfolders are named <subfolder>_<name>.
    """
    src_dir, out_dir = str(src_dir), str(out_dir)
    if not os.path.isdir(src_dir):
        raise FileNotFoundError("import_folder: source folder not found: %s" % src_dir)
    if os.path.realpath(src_dir) == os.path.realpath(out_dir):
        raise ValueError("import_folder: src_dir and out_dir are the same folder: %s" % src_dir)
    os.makedirs(out_dir, exist_ok=True)
    manifest = _Manifest(out_dir)
    result = CollectResult(out_dir, verb="copied")
    files = _list_images(src_dir, recursive, out_dir)
    bar = _progress(len(files), "import", progress)
    try:
        for path in files:
            bar.update(1)
            source = os.path.abspath(path)
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError as e:
                result.failed[path] = "cannot read: %s" % (e.strerror or e)
                continue
            reason = _check_image(data, 1)
            if reason:
                result.failed[path] = reason
                continue
            sha1 = hashlib.sha1(data).hexdigest()
            entry = manifest.items.get(source)
            if entry is not None and entry["sha1"] == sha1:
                result.existing[path] = os.path.join(out_dir, entry["file"])
                continue
            if dedupe and sha1 in manifest.by_hash:
                result.duplicates[path] = os.path.join(out_dir, manifest.by_hash[sha1])
                continue
            name = os.path.relpath(path, src_dir).replace(os.sep, "_")
            if os.path.exists(os.path.join(out_dir, name)):  # another file of that name: keep both
                stem, ext = os.path.splitext(name)
                name = "%s_%s%s" % (stem, sha1[:8], ext)
            _write_atomic(os.path.join(out_dir, name), data)
            manifest.add(source, name, sha1)
            result.downloaded.append(os.path.join(out_dir, name))
    finally:
        bar.close()
        manifest.save()
    return result


# --- Open Images ------------------------------------------------------------------------------------

@dataclasses.dataclass
class OpenImagesSubset:
    """What import_open_images copied, and where: load it with .dataset()."""
    images: int
    instances: int
    labels: list  # LabelNames, in class-id order
    class_names: list
    skipped_images: int
    skipped_instances: int
    csv_path: str
    images_dir: str
    masks_dir: str
    class_descriptions: str = None

    def dataset(self, **kwargs):
        """An OpenImagesDataset of the copy (keyword arguments go to its constructor)."""
        kwargs.setdefault("classes", self.labels)
        return OpenImagesDataset(self.csv_path, self.images_dir, self.masks_dir, self.class_descriptions, **kwargs)

    def summary(self):
        return ("%d images, %d instances of %d classes copied to %s (%d images, %d instances skipped: files missing)"
                % (self.images, self.instances, len(self.labels), os.path.dirname(self.csv_path),
                   self.skipped_images, self.skipped_instances))


def _copy_if_changed(src, dst):
    if os.path.isfile(dst) and os.path.getsize(dst) == os.path.getsize(src):
        return
    tmp = dst + ".tmp"
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def import_open_images(csv_path, images_dir, masks_dir, out_dir, classes=None, class_descriptions=None, limit=None,
                       progress=True):
    """Copies the images with instances of `classes` (display names or label names; all when None),
    at most `limit` images in CSV order, of an Open Images segmentation download into out_dir:
    out_dir/images/<ImageID>.jpg, out_dir/masks/<MaskPath>, out_dir/segmentation.csv (the rows
    of the copied instances) and the class descriptions file. Images or masks missing from the
    source are left out and counted. Returns an OpenImagesSubset.
    """
    csv_path, images_dir, masks_dir, out_dir = str(csv_path), str(images_dir), str(masks_dir), str(out_dir)
    if limit is not None and int(limit) < 0:
        raise ValueError("import_open_images: limit must be >= 0 or None, got %r" % (limit,))
    descriptions = _read_class_descriptions(str(class_descriptions)) if class_descriptions else {}
    columns, rows = _read_segmentation_csv(csv_path)
    rows = [r for _, r in rows if r["MaskPath"] and r["ImageID"] and r["LabelName"]]
    labels = _select_labels(classes, descriptions, {r["LabelName"] for r in rows}, "import_open_images")
    wanted = set(labels)
    by_image = {}
    for r in rows:
        if r["LabelName"] in wanted:
            by_image.setdefault(r["ImageID"], []).append(r)
    out_images, out_masks = os.path.join(out_dir, "images"), os.path.join(out_dir, "masks")
    os.makedirs(out_images, exist_ok=True)
    os.makedirs(out_masks, exist_ok=True)
    masks = _MaskIndex(masks_dir)
    kept_rows, n_images, skipped_images, skipped_instances = [], 0, 0, 0
    n_total = len(by_image) if limit is None else min(len(by_image), int(limit))
    bar = _progress(n_total, "open images", progress)
    try:
        for image_id, image_rows in by_image.items():
            if n_images == n_total:
                break
            src = os.path.join(images_dir, image_id + ".jpg")
            present = [(r, masks.find(r["MaskPath"])) for r in image_rows]
            present = [(r, f) for r, f in present if os.path.isfile(f)]
            if not os.path.isfile(src) or not present:
                skipped_images += 1
                skipped_instances += len(image_rows)
                continue
            skipped_instances += len(image_rows) - len(present)
            _copy_if_changed(src, os.path.join(out_images, image_id + ".jpg"))
            for r, f in present:
                dst = os.path.join(out_masks, r["MaskPath"])
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                _copy_if_changed(f, dst)
                kept_rows.append(r)
            n_images += 1
            bar.update(1)
        if n_images < n_total:  # some images were skipped
            bar.total = n_images
            bar.refresh()
    finally:
        bar.close()
    out_csv = os.path.join(out_dir, "segmentation.csv")
    _write_csv(out_csv, columns, kept_rows)
    out_descriptions = None
    if class_descriptions:
        out_descriptions = os.path.join(out_dir, os.path.basename(str(class_descriptions)))
        if os.path.abspath(out_descriptions) != os.path.abspath(str(class_descriptions)):
            _copy_if_changed(str(class_descriptions), out_descriptions)
    return OpenImagesSubset(images=n_images, instances=len(kept_rows), labels=labels,
                            class_names=[descriptions.get(label, label) for label in labels],
                            skipped_images=skipped_images, skipped_instances=skipped_instances, csv_path=out_csv,
                            images_dir=out_images, masks_dir=out_masks, class_descriptions=out_descriptions)


def _write_csv(path, columns, rows):
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    _write_atomic(path, text.getvalue().encode("utf-8"))
