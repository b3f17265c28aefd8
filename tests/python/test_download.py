"""Downloads against a local HTTP server on 127.0.0.1 serving small files the tests make:
Matterport's utils.download_trained_weights / COCO_MODEL_URL, torchvision's weights into torch's hub
cache (load_weights("coco"), get_imagenet_weights), and every way a download fails: 404, a body
cut short, a stalled server, the wrong hash, a file that is not HDF5. Each failure names the URL and
leaves nothing behind."""
import hashlib
import io
import os
import time

import numpy as np
import pytest
import torch

from mrcnn import download, utils
from standins import Server
from mrcnn import model as modellib
from mrcnn.config import Config

def _h5_bytes():
    """A small real HDF5 file (h5py's), as Keras weights files are."""
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.create_dataset("conv1/kernel", data=np.arange(10000, dtype=np.float32))
    return buffer.getvalue()


H5_BYTES = _h5_bytes()


@pytest.fixture
def server(monkeypatch):
    monkeypatch.delenv("MRCNN_OFFLINE", raising=False)
    s = Server()
    yield s
    s.httpd.shutdown()


@pytest.fixture
def hub_dir(tmp_path):
    before = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield tmp_path / "hub"
    torch.hub.set_dir(before)


def leftovers(folder):
    return [p for p in os.listdir(folder) if "partial" in p or p.endswith(".download")]


def test_download_trained_weights_reads_the_url_when_called(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(utils, "COCO_MODEL_URL", server.add("/v2.0/mask_rcnn_coco.h5", H5_BYTES))
    path = tmp_path / "mask_rcnn_coco.h5"
    utils.download_trained_weights(str(path))
    assert path.read_bytes() == H5_BYTES
    out = capsys.readouterr().out
    assert "Downloading pretrained model to " + str(path) in out and "done downloading" in out
    assert leftovers(tmp_path) == []
    utils.download_trained_weights(str(tmp_path / "quiet.h5"), verbose=0)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("case, match", [
    ("missing", "HTTP 404"),
    ("short", "cut short"),
    ("stalled", "timed out"),
    ("not_h5", "not an HDF5 file"),
    ("unannounced_short", r"has \d+ bytes where its HDF5 superblock says \d+ \(cut short\)"),
])
def test_failed_downloads_name_the_url_and_leave_nothing(server, tmp_path, monkeypatch, case, match):
    if case == "missing":
        url = server.url + "/nothing.h5"
    elif case == "short":
        url = server.add("/short.h5", H5_BYTES, cut_at=100)
    elif case == "stalled":
        url = server.add("/stalled.h5", H5_BYTES, delay=3.0)
        monkeypatch.setattr(download, "TIMEOUT", 0.5)
    elif case == "unannounced_short":  # no Content-Length, and the body ends early
        url = server.add("/unannounced.h5", H5_BYTES[:len(H5_BYTES) // 2], announce=False)
    else:
        url = server.add("/not_h5.h5", b"<html>a login page</html>")
    monkeypatch.setattr(utils, "COCO_MODEL_URL", url)
    path = tmp_path / "mask_rcnn_coco.h5"
    path_before = tmp_path / "keep.h5"
    path_before.write_bytes(b"old")
    t0 = time.monotonic()
    with pytest.raises(download.DownloadError, match=match) as e:
        utils.download_trained_weights(str(path), verbose=0)
    assert url in str(e.value) and str(path) in str(e.value)  # the URL, and where to put the file by hand
    assert time.monotonic() - t0 < 10
    assert not path.exists() and leftovers(tmp_path) == [] and path_before.read_bytes() == b"old"


def _torchvision_file(tensors):
    buffer = io.BytesIO()
    torch.save(tensors, buffer)
    data = buffer.getvalue()
    return data, hashlib.sha256(data).hexdigest()


def test_torchvision_weights_go_to_the_hub_cache_once(server, hub_dir, monkeypatch):
    data, digest = _torchvision_file({"backbone.body.conv1.weight": torch.randn(64, 3, 7, 7)})
    name = "maskrcnn_resnet50_fpn_coco-%s.pth" % digest[:8]
    monkeypatch.setitem(download.WEIGHTS, "coco", server.add("/models/" + name, data))
    path = download.torchvision_weights("coco", progress=False)
    assert path == str(hub_dir / "checkpoints" / name) and open(path, "rb").read() == data
    assert download.torchvision_weights("coco", progress=False) == path
    assert server.hits["/models/" + name] == 1  # the second call reuses the cache

    # a file whose content does not match the hash in its name is refused and removed
    bad = "resnet50-%s.pth" % ("0" * 8)
    monkeypatch.setitem(download.WEIGHTS, "imagenet_resnet50", server.add("/models/" + bad, data))
    with pytest.raises(download.DownloadError, match="invalid hash") as e:
        download.torchvision_weights("imagenet_resnet50", progress=False)
    assert server.url in str(e.value)
    assert os.listdir(hub_dir / "checkpoints") == [name]
    with pytest.raises(ValueError, match="unknown weights"):
        download.torchvision_weights("cocoa")


class TinyConfig(Config):
    NAME = "dl"
    NUM_CLASSES = 3
    BACKBONE = "resnet50"
    IMAGES_PER_GPU = 1
    IMAGE_MIN_DIM = IMAGE_MAX_DIM = 128


def test_load_weights_coco_and_imagenet_download_by_name(server, hub_dir, monkeypatch):
    torch.manual_seed(0)
    # a training model: the files served here hold one tensor (an inference model needs them all)
    model = modellib.MaskRCNN("training", TinyConfig(), str(hub_dir / "logs"))
    conv1 = torch.randn(64, 3, 7, 7)
    data, digest = _torchvision_file({"backbone.body.conv1.weight": conv1})
    monkeypatch.setitem(download.WEIGHTS, "coco",
                        server.add("/maskrcnn_resnet50_fpn_coco-%s.pth" % digest[:8], data))
    report = model.load_weights("coco", by_name=True, verbose=False)
    assert torch.equal(model.net.state_dict()["backbone.body.conv1.weight"], conv1)
    assert "backbone.body.conv1.weight" in report["loaded"]
    # ImageNet ResNets: the file for this BACKBONE
    data, digest = _torchvision_file({"conv1.weight": conv1 * 2})
    monkeypatch.setitem(download.WEIGHTS, "imagenet_resnet50",
                        server.add("/resnet50-%s.pth" % digest[:8], data))
    path = model.get_imagenet_weights()
    assert os.path.basename(path) == "resnet50-%s.pth" % digest[:8] and os.path.exists(path)
    # offline: a clear error that names the URL and the place for the file
    monkeypatch.setitem(download.WEIGHTS, "coco", server.url + "/gone/maskrcnn_resnet50_fpn_coco-12345678.pth")
    with pytest.raises(download.DownloadError, match="HTTP 404"):
        model.load_weights("coco")
    assert np.isfinite(model.net.state_dict()["backbone.body.conv1.weight"].numpy()).all()


def test_offline_fails_at_once_saying_where_the_file_goes(tmp_path, monkeypatch):
    monkeypatch.setenv("MRCNN_OFFLINE", "1")
    with pytest.raises(download.DownloadError, match="MRCNN_OFFLINE") as e:
        utils.download_trained_weights(str(tmp_path / "mask_rcnn_coco.h5"), verbose=0)
    assert utils.COCO_MODEL_URL in str(e.value) and str(tmp_path / "mask_rcnn_coco.h5") in str(e.value)
    assert os.listdir(tmp_path) == []


def test_sample_data_downloads_unpacks_checks_and_reuses(server, tmp_path, monkeypatch):
    from standins import balloon_zip

    monkeypatch.setitem(download.SAMPLES, "balloon",
                        (server.add("/v2.1/balloon_dataset.zip", balloon_zip(3, 2)),) + download.SAMPLES["balloon"][1:])
    monkeypatch.setenv("MRCNN_DATA", str(tmp_path / "data"))
    folder = download.sample_data("balloon", progress=False)
    assert folder == str(tmp_path / "data" / "balloon")
    assert sorted(os.listdir(folder)) == ["train", "val"] and len(os.listdir(os.path.join(folder, "val"))) == 3
    assert os.listdir(tmp_path / "data") == ["balloon"]  # no archive or staging folder left
    # the notebook's own reader takes it
    from mrcnn.datasets import ViaDataset
    ds = ViaDataset(os.path.join(folder, "train"), default_class="balloon")
    ds.prepare()
    assert len(ds.image_ids) == 3
    assert download.sample_data("balloon") == folder and server.hits["/v2.1/balloon_dataset.zip"] == 1
    with pytest.raises(ValueError, match="unknown sample 'nuclei'.*balloon"):
        download.sample_data("nuclei")


@pytest.mark.parametrize("case, match", [
    ("not_zip", "not what was expected"),
    ("incomplete", "images missing"),
    ("escape", "outside the folder"),
])
def test_a_bad_sample_archive_is_an_error_naming_the_url_and_leaves_nothing(server, tmp_path, monkeypatch, case,
                                                                            match):
    from standins import _zip

    body = {"not_zip": b"<html>rate limited</html>",
            "incomplete": _zip({"data/trainval.json": b'{"images": [{"id": 1, "file_name": "a.jpg"}]}'}),
            "escape": _zip({"../evil.txt": b"x"})}[case]
    url = server.add("/V0.1/data.zip", body)
    monkeypatch.setitem(download.SAMPLES, "fruits_nuts", (url,) + download.SAMPLES["fruits_nuts"][1:])
    with pytest.raises(download.DownloadError, match=match) as e:
        download.sample_data("fruits_nuts", root=str(tmp_path / "data"), progress=False)
    assert "data.zip" in str(e.value)
    assert os.listdir(tmp_path / "data") == [] and not (tmp_path / "evil.txt").exists()


def test_mirror_serves_every_file_by_its_name(tmp_path, monkeypatch):
    """MRCNN_MIRROR: a folder (or URL) holding the files by name, for offline machines."""
    from standins import fruits_zip

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "data.zip").write_bytes(fruits_zip(2))
    (mirror / "mask_rcnn_coco.h5").write_bytes(H5_BYTES)
    monkeypatch.delenv("MRCNN_OFFLINE", raising=False)
    monkeypatch.setenv("MRCNN_MIRROR", str(mirror))
    folder = download.sample_data("fruits_nuts", root=str(tmp_path / "data"), progress=False)
    assert len(os.listdir(os.path.join(folder, "images"))) == 2
    utils.download_trained_weights(str(tmp_path / "w.h5"), verbose=0)
    assert (tmp_path / "w.h5").read_bytes() == H5_BYTES
    assert download.mirrored("https://example.org/a/b/resnet50-0676ba61.pth").endswith("/mirror/resnet50-0676ba61.pth")


def test_a_truncated_or_corrupt_file_in_the_mirror_is_refused(tmp_path, monkeypatch):
    """A mirror folder's copy cut short has the length its file system announces: the HDF5 superblock's
    end-of-file address and the zip's CRCs tell."""
    from standins import fruits_zip

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "mask_rcnn_coco.h5").write_bytes(H5_BYTES[:len(H5_BYTES) - 1000])
    archive = bytearray(fruits_zip(2))
    member = archive.index(b"\xff\xd8\xff")  # inside the first JPEG: the zip's directory still reads
    archive[member + 200] ^= 0xFF
    (mirror / "data.zip").write_bytes(bytes(archive))
    monkeypatch.delenv("MRCNN_OFFLINE", raising=False)
    monkeypatch.setenv("MRCNN_MIRROR", str(mirror))
    with pytest.raises(download.DownloadError, match="cut short"):
        utils.download_trained_weights(str(tmp_path / "w.h5"), verbose=0)
    assert not (tmp_path / "w.h5").exists()
    with pytest.raises(download.DownloadError, match="CRC-32"):
        download.sample_data("fruits_nuts", root=str(tmp_path / "data"), progress=False)
    assert os.listdir(tmp_path / "data") == []
    download.check_hdf5(_write(tmp_path / "whole.h5", H5_BYTES))  # the whole file passes


def _write(path, data):
    path.write_bytes(data)
    return str(path)
