"""Pretrained weights on demand: torchvision's checkpoints into torch's hub cache, Matterport's
mask_rcnn_coco.h5 where the notebook asks for it.

Every download goes through torch.hub's downloader (a temporary ``.partial`` file beside the
destination, moved into place only when complete, with its progress bar and, for torchvision's
files, the SHA-256 prefix in the file name checked), with a time limit on the connection, a check
that the body has the length the server announced, and errors that name the URL and say where to
put the file by hand. A failed download leaves nothing behind.

The URLs live in WEIGHTS (and utils.COCO_MODEL_URL, Matterport's name); tests point them at a
local server. MRCNN_OFFLINE=1 makes every download fail at once with the same message (machines
without internet access, and the test suite).
"""
import contextlib
import os
import http.client
import socket
import urllib.error
import urllib.request

import torch

__all__ = ["WEIGHTS", "DownloadError", "download", "torchvision_weights", "weights_path"]

# name -> URL of torchvision's checkpoint (its file name carries the SHA-256 prefix torch.hub checks)
WEIGHTS = {
    "coco": "https://download.pytorch.org/models/maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth",
    "imagenet_resnet50": "https://download.pytorch.org/models/resnet50-0676ba61.pth",
    "imagenet_resnet101": "https://download.pytorch.org/models/resnet101-63fe2227.pth",
}

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


def check_hdf5(path):
    """Raises unless path starts with the HDF5 signature (Keras .h5 weights)."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head != b"\x89HDF\r\n\x1a\n":
        raise ValueError("not an HDF5 file (starts with %r)" % head)
