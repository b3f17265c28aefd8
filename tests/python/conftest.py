import os

import pytest

# The tests assume the CPU unless they ask for a GPU (device="cuda"): on a machine with one, models
# would otherwise go there by default.
os.environ.setdefault("MRCNN_DEVICE", "cpu")

SHARED = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))


def shared_path(*parts):
    """Path under ../shared, or skip the test with the reason when it is absent."""
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        pytest.skip("needs %s (../shared beside the checkout is absent)" % path)
    return path
