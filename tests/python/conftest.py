import os

import pytest

# The tests assume the CPU unless they ask for a GPU (device="cuda"): on a machine with one, models
# would otherwise go there by default.
os.environ.setdefault("MRCNN_DEVICE", "cpu")
# No test reaches the internet: downloads fail at once (test_download serves its files locally).
os.environ.setdefault("MRCNN_OFFLINE", "1")

SHARED = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))


def shared_path(*parts):
    """Path under ../shared, or skip the test with the reason when it is absent."""
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        pytest.skip("needs %s (../shared beside the checkout is absent)" % path)
    return path


# In CI (CI=true) every dependency a test needs is installed by ./run.sh test, so a test that skips
# would hide a broken promise: it fails instead. The exceptions, by name: tests that need hardware,
# not software: a GPU (CI machines have none), oneDNN's Winograd kernels, which exist for AVX-512
# CPUs only (on others conv3x3 takes torch's path, which the other tests cover), and bf16 on the
# CPU, which needs AVX-512 or AMX (mrcnn.bf16_autocast_supported).
CI_MAY_SKIP = {
    "test_bf16_mixed_precision_trains_like_float32",
    "test_loss_scaling_skips_overflowing_steps_and_adapts",
    "test_winograd_conv3x3_forward_and_backward_match_torch",
    "test_winograd_conv3x3_frozen_input_and_weight_grads_only",
    "test_nms_cuda_matches_cpu_and_torchvision",
    "test_roi_align_cuda_matches_cpu_and_torchvision",
    "test_paste_masks_cuda_matches_cpu",
    "test_batched_nms_cuda_matches_torchvision",
    "test_mixed_precision_on_cuda",
    "test_cuda_model_matches_torchvision_on_cuda",
}


def _in_ci():
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _in_ci() and item.originalname not in CI_MAY_SKIP:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = ("CI=true: this test may not skip (%s). ./run.sh test must install what it needs."
                           % reason)
