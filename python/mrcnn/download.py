"""Pretrained weights on demand: torchvision's checkpoints into torch's hub cache, Matterport's
mask_rcnn_coco.h5 where the notebook asks for it.

Every download goes through torch.hub's downloader (a temporary ``.partial`` file beside the
destination, moved into place only when complete, with its progress bar and, for torchvision's
files, the SHA-256 prefix in the file name checked), with a time limit on the connection, a check
that the body has the length the server announced, and errors that name the URL and say where to
put the file by hand. A failed download leaves nothing behind.

Sample datasets (SAMPLES): sample_data("balloon") downloads Matterport's balloon release once,
unpacks it, checks it and returns its folder (under $MRCNN_DATA, else ~/.cache/mrcnn/data).

The URLs live in WEIGHTS, SAMPLES (and utils.COCO_MODEL_URL, Matterport's name); tests point them at a
local server. MRCNN_MIRROR=<URL or folder> fetches every file by its name from there instead (a
local copy for offline machines, a test server); MRCNN_OFFLINE=1 makes every download fail at once
with the same message (machines without internet access, and the test suite).
"""
import contextlib
import http.client
import json
import os
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request
import zipfile

import torch

__all__ = ["WEIGHTS", "SAMPLES", "DownloadError", "download", "torchvision_weights", "weights_path", "sample_data",
           "detection_weights"]

# name -> URL of torchvision's checkpoint (its file name carries the SHA-256 prefix torch.hub checks)
WEIGHTS = {
    "coco": "https://download.pytorch.org/models/maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth",
    "coco_v2": "https://download.pytorch.org/models/maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth",
    "imagenet_resnet50": "https://download.pytorch.org/models/resnet50-0676ba61.pth",
    "imagenet_resnet101": "https://download.pytorch.org/models/resnet101-63fe2227.pth",
}


def detection_weights():
    """The names in WEIGHTS of whole Mask R-CNN checkpoints ("coco", "coco_v2"), which load_weights
    and the CLI's --weights take by name; the rest are ImageNet backbones ("imagenet")."""
    return tuple(name for name in WEIGHTS if not name.startswith("imagenet_"))

TIMEOUT = 60.0  # seconds a connection may stall before the download fails


class DownloadError(OSError):
    """A download failed; the message names the URL and where to put the file by hand."""


@contextlib.contextmanager
def _socket_timeout(seconds):
    # torch.hub's downloader opens its connection without a timeout; a stalled server would hang the
    # notebook forever
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _announced_length(url, timeout):
    """Content-Length the server announces for url (None when it does not say)."""
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "mrcnn"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            n = r.headers.get("Content-Length")
            return int(n) if n is not None else None
    except (urllib.error.URLError, OSError, ValueError):
        return None  # no HEAD support: the GET below reports what goes wrong


def download(url, path, hash_prefix=None, progress=True, timeout=None, check=None):
    """Downloads url to path atomically. hash_prefix: the start of the file's SHA-256 hex digest;
    check(path) -> None or raises: validates the downloaded file before it is moved into place
    (e.g. that it is an HDF5 file). Raises DownloadError naming the URL; nothing is left behind."""
    path = os.path.abspath(os.path.expanduser(str(path)))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    url = mirrored(url)
    timeout = TIMEOUT if timeout is None else float(timeout)
    manual = "Offline, download it elsewhere and put it at %s." % path
    if os.environ.get("MRCNN_OFFLINE", "") not in ("", "0"):
        raise DownloadError("%s was not downloaded: MRCNN_OFFLINE is set. %s" % (url, manual))
    staging = path + ".download"
    try:
        expected = _announced_length(url, timeout)
        with _socket_timeout(timeout):
            torch.hub.download_url_to_file(url, staging, hash_prefix=hash_prefix, progress=progress)
        size = os.path.getsize(staging)
        if expected is not None and size != expected:
            raise DownloadError("downloading %s: got %d bytes, the server announced %d (cut short). %s"
                                % (url, size, expected, manual))
        if size == 0:
            raise DownloadError("downloading %s: the server sent an empty file. %s" % (url, manual))
        if check is not None:
            try:
                check(staging)
            except Exception as e:  # noqa: BLE001
                raise DownloadError("downloading %s: the file is not what was expected (%s). %s"
                                    % (url, e, manual)) from None
        os.replace(staging, path)
    except DownloadError:
        raise
    except urllib.error.HTTPError as e:
        raise DownloadError("downloading %s: HTTP %d %s. %s" % (url, e.code, e.reason, manual)) from None
    except urllib.error.URLError as e:
        raise DownloadError("downloading %s: %s. %s" % (url, e.reason, manual)) from None
    except (socket.timeout, TimeoutError):
        raise DownloadError("downloading %s: no data for %.0f s (timed out). %s" % (url, timeout, manual)) from None
    except http.client.IncompleteRead as e:
        raise DownloadError("downloading %s: the connection closed after %d bytes (cut short). %s"
                            % (url, len(e.partial), manual)) from None
    except RuntimeError as e:  # torch.hub: invalid hash value
        raise DownloadError("downloading %s: %s (corrupted or replaced). %s" % (url, e, manual)) from None
    except (OSError, http.client.HTTPException) as e:
        raise DownloadError("downloading %s: %s. %s" % (url, e, manual)) from None
    finally:
        if os.path.exists(staging):
            os.remove(staging)
    return path


def mirrored(url):
    """url, or the file of the same name under $MRCNN_MIRROR (a URL or a local folder) when set."""
    mirror = os.environ.get("MRCNN_MIRROR", "").strip()
    if not mirror:
        return url
    name = os.path.basename(urllib.parse.urlparse(url).path)
    if "://" not in mirror:
        return "file://" + urllib.request.pathname2url(os.path.join(os.path.abspath(mirror), name))
    return mirror.rstrip("/") + "/" + name


def weights_path(name):
    """Where torch's hub cache keeps the checkpoint WEIGHTS[name] (downloaded or not)."""
    url = _url(name)
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url.split("?")[0]))


def _url(name):
    if name not in WEIGHTS:
        raise ValueError("unknown weights %r; known: %s" % (name, ", ".join(sorted(WEIGHTS))))
    return WEIGHTS[name]


def torchvision_weights(name, progress=True):
    """Path of torchvision's checkpoint WEIGHTS[name] in torch's hub cache, downloaded (with the
    SHA-256 prefix in its file name checked) unless it is already there."""
    path = weights_path(name)
    if os.path.exists(path):
        return path
    match = torch.hub.HASH_REGEX.search(os.path.basename(path))
    return download(_url(name), path, hash_prefix=match.group(1) if match else None, progress=progress)


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def check_hdf5(path):
    """Raises unless path is a whole HDF5 file (Keras .h5 weights): the HDF5 signature, then a
    superblock whose end-of-file address (relative to its base address) is within the file, so a
    file cut short, by a server that announced no length or in a mirror folder, is refused.

    The superblock is where the HDF5 format specification puts it: at offset 0, 512, 1024, 2048...
    Versions 0 and 1 give the sizes of offsets at byte 13 and the base and end-of-file addresses
    after 24 (version 0) or 28 (version 1) bytes; versions 2 and 3 give the size at byte 9 and the
    addresses after 12 bytes (base, extension, end of file)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        offset = 0
        while offset < size:
            f.seek(offset)
            head = f.read(48)
            if head[:8] == _HDF5_SIGNATURE:
                break
            offset = 512 if offset == 0 else offset * 2
        else:
            f.seek(0)
            raise ValueError("not an HDF5 file (starts with %r)" % f.read(8))
    version = head[8]
    if version in (0, 1):
        width, first = head[13], 24 if version == 0 else 28
    elif version in (2, 3):
        width, first = head[9], 12
    else:
        raise ValueError("HDF5 superblock version %d is not one of 0-3" % version)
    if width not in (2, 4, 8):
        raise ValueError("HDF5 superblock gives offsets of %d bytes (not 2, 4 or 8)" % width)
    need = first + 3 * width
    if len(head) < need:
        raise ValueError("the file ends inside its HDF5 superblock (%d bytes)" % size)

    def address(k):
        start = first + k * width
        return int.from_bytes(head[start:start + width], "little")

    # base address, then (free-space or superblock-extension address), then end-of-file address
    base, end = address(0), address(2)
    if base + end > size:
        raise ValueError("the file has %d bytes where its HDF5 superblock says %d (cut short)" % (size, base + end))


def check_zip(path):
    """Raises unless path is a whole zip file whose every member reads back with its CRC-32."""
    with zipfile.ZipFile(path) as z:
        bad = z.testzip()
    if bad is not None:
        raise ValueError("zip member %r is corrupt (CRC-32 mismatch)" % bad)


# --- sample datasets ----------------------------------------------------------------------------
def _check_via(folder):
    """Matterport's balloon layout: train/ and val/, each a VIA export via_region_data.json whose
    images are there."""
    for split in ("train", "val"):
        path = os.path.join(folder, split, "via_region_data.json")
        with open(path) as f:
            regions = json.load(f)
        entries = list(regions.values()) if isinstance(regions, dict) else []
        if not entries:
            raise ValueError("%s lists no images" % path)
        missing = [e.get("filename") for e in entries
                   if not os.path.exists(os.path.join(folder, split, str(e.get("filename"))))]
        if missing:
            raise ValueError("%s: %d images missing (%s, ...)" % (path, len(missing), missing[0]))


def _check_coco(folder):
    """A COCO file trainval.json with its images under images/."""
    path = os.path.join(folder, "trainval.json")
    with open(path) as f:
        images = json.load(f).get("images") or []
    if not images:
        raise ValueError("%s lists no images" % path)
    missing = [i.get("file_name") for i in images
               if not os.path.exists(os.path.join(folder, "images", str(i.get("file_name"))))]
    if missing:
        raise ValueError("%s: %d images missing (%s, ...)" % (path, len(missing), missing[0]))


# name -> (URL of a zip, the folder inside it, check(folder) raising when the unpacked data is not right)
SAMPLES = {
    # Matterport's balloon dataset (61 train / 13 val images, VIA polygons), from its v2.1 release
    "balloon": ("https://github.com/matterport/Mask_RCNN/releases/download/v2.1/balloon_dataset.zip", "balloon",
                _check_via),
    # the fruits and nuts set of the detectron2 instance segmentation demo (18 images, COCO JSON)
    "fruits_nuts": ("https://github.com/Tony607/detectron2_instance_segmentation_demo/releases/download/V0.1/data.zip",
                    "data", _check_coco),
}


def data_root():
    """Where sample datasets live: $MRCNN_DATA, else ~/.cache/mrcnn/data."""
    return os.path.abspath(os.path.expanduser(os.environ.get("MRCNN_DATA") or os.path.join("~", ".cache", "mrcnn",
                                                                                           "data")))


def _unzip(archive, dest):
    """Extracts archive into dest, refusing members that would land outside it."""
    root = os.path.realpath(dest)
    with zipfile.ZipFile(archive) as z:
        for member in z.infolist():
            target = os.path.realpath(os.path.join(dest, member.filename))
            if target != root and not target.startswith(root + os.sep):
                raise ValueError("%s: member %r would be written outside the folder" % (archive, member.filename))
        z.extractall(dest)


def sample_data(name, root=None, progress=True):
    """The folder of the sample dataset `name` (see SAMPLES: "balloon", "fruits_nuts"), downloaded
    and unpacked the first time under root (default data_root()), checked, and moved into place
    only when complete. The synthetic shapes (mrcnn.shapes.ShapesDataset) need no download.
    Raises DownloadError naming the URL when the download or the check fails; nothing is left
    behind."""
    if name not in SAMPLES:
        raise ValueError("unknown sample %r; known: %s (the synthetic shapes need no download)"
                         % (name, ", ".join(sorted(SAMPLES))))
    url, inner, check = SAMPLES[name]
    root = os.path.abspath(os.path.expanduser(str(root))) if root else data_root()
    folder = os.path.join(root, name)
    if os.path.isdir(folder):
        try:
            check(folder)
            return folder
        except (OSError, ValueError) as e:
            raise DownloadError("%s exists but is not the %s sample (%s); remove it to download again"
                                % (folder, name, e)) from None
    os.makedirs(root, exist_ok=True)
    staging = os.path.join(root, ".%s.download-%d" % (name, os.getpid()))
    archive = staging + ".zip"
    try:
        download(url, archive, progress=progress, check=check_zip)
        try:
            _unzip(archive, staging)
        except ValueError as e:
            raise DownloadError("%s: %s" % (mirrored(url), e)) from None
        unpacked = os.path.join(staging, inner)
        if not os.path.isdir(unpacked):
            unpacked = staging
        try:
            check(unpacked)
        except (OSError, ValueError) as e:
            raise DownloadError("%s (from %s) is not the %s sample: %s" % (os.path.basename(archive), mirrored(url),
                                                                          name, e)) from None
        os.replace(unpacked, folder)
    except zipfile.BadZipFile as e:
        raise DownloadError("%s: not a readable zip file (%s)" % (mirrored(url), e)) from None
    finally:
        if os.path.exists(archive):
            os.remove(archive)
        shutil.rmtree(staging, ignore_errors=True)
    return folder
