"""Data-parallel training on torch.distributed (Gloo, CPU): processes launched by torchrun and by
model.train itself (config.GPU_COUNT), each run in child processes as a user would start them.

Tolerance: N processes with b images each compute the step of one process with N x b images in
another summation order (gradients summed across processes, loss normalisers summed), so weights
after 3 steps agree to float32 rounding carried through 3 SGD updates: |difference| <= 2e-5 (seen:
6e-7) on weights of magnitude ~0.1.
"""
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

TOLERANCE = 2e-5

JOB = textwrap.dedent(r'''
    import json, os, signal, sys, time
    import torch
    from mrcnn import distributed
    from mrcnn import model as modellib
    from mrcnn.config import Config
    from mrcnn.shapes import ShapesDataset

    out, per_process, epochs, fault = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

    class Tiny(Config):
        NAME = "ddp"
        NUM_CLASSES = 4
        IMAGES_PER_GPU = per_process
        GPU_COUNT = int(os.environ.get("JOB_GPU_COUNT", "1"))
        IMAGE_MIN_DIM = IMAGE_MAX_DIM = 128
        BACKBONE = "resnet50"
        RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
        TRAIN_ROIS_PER_IMAGE = 32
        PRE_NMS_LIMIT = PRE_NMS_LIMIT_TRAINING = 300
        POST_NMS_ROIS_TRAINING = POST_NMS_ROIS_INFERENCE = 300
        STEPS_PER_EPOCH = 3
        VALIDATION_STEPS = 1

    class Shapes(ShapesDataset):  # defined here, as a notebook defines its own
        loads = 0

        def load_image(self, image_id):
            Shapes.loads += 1
            if fault != "none" and os.environ.get("RANK") == "1" and Shapes.loads == 6:
                if fault == "die":
                    os.kill(os.getpid(), signal.SIGKILL)
                time.sleep(3600)  # hang
            return super().load_image(image_id)

    torch.manual_seed(0)  # the same initial weights in every run (rank 0's are broadcast anyway)
    model = modellib.MaskRCNN("training", Tiny(), out)
    if os.environ.get("JOB_RESUME"):
        model.load_weights(model.find_last())
    data = Shapes(3)
    data.load_shapes(8, 128, 128)
    data.prepare()
    lr = float(os.environ.get("JOB_LR", "0.005"))
    try:
        model.train(data, data, lr, epochs, "all", workers=0, seed=5, deterministic=True, verbose=0)
    except FloatingPointError as e:
        with open(os.path.join(out, "stopped_%s.txt" % os.environ.get("RANK")), "w") as f:
            f.write(str(e))
        raise
    if distributed.rank() == 0:
        torch.save(model.net.state_dict(), os.path.join(out, "final.pt"))
        with open(os.path.join(out, "history.json"), "w") as f:
            json.dump(model.history, f)
''')


def run_job(tmp, name, processes, per_process, epochs=1, fault="none", launcher="torchrun", env=None,
            timeout=600, interrupt_after=None):
    out = os.path.join(str(tmp), name)
    os.makedirs(out, exist_ok=True)
    script = os.path.join(str(tmp), "job.py")
    with open(script, "w") as f:
        f.write(JOB)
    args = [script, out, str(per_process), str(epochs), fault]
    if launcher == "torchrun":
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes)] + args
    elif launcher == "notebook":  # no main file, as in a notebook kernel: the code is exec'd
        cmd = [sys.executable, "-c", "import sys; sys.argv = %r; exec(open(%r).read())" % (args, script)]
    else:
        cmd = [sys.executable] + args
    env = dict(os.environ, OMP_NUM_THREADS="1", **(env or {}))
    start = time.time()
    if interrupt_after is None:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                              env=env)
        return out, proc, time.time() - start
    # Ctrl-C in a terminal: SIGINT to the launcher and its processes (their process group)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    while not any(f.endswith("0001.pt") for f in checkpoints(out)) and time.time() - start < timeout:
        time.sleep(0.5)  # the first epoch's checkpoint is there: training is under way
    time.sleep(interrupt_after)
    os.killpg(proc.pid, signal.SIGINT)
    stdout, _ = proc.communicate(timeout=timeout)
    return out, subprocess.CompletedProcess(cmd, proc.returncode, stdout), time.time() - start


def checkpoints(out):
    runs = [os.path.join(out, d) for d in os.listdir(out) if d.startswith("ddp")] if os.path.isdir(out) else []
    return sorted(os.path.join(r, f) for r in runs for f in os.listdir(r) if f.endswith(".pt"))


def max_difference(a, b):
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a if a[k].is_floating_point())


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The reference: one process, 2 images per step, 2 epochs of 3 steps (weights after each)."""
    tmp = tmp_path_factory.mktemp("one")
    out1, proc, _ = run_job(tmp, "epoch1", 1, 2, epochs=1, launcher="plain")
    assert proc.returncode == 0, proc.stdout[-3000:]
    out2, proc, _ = run_job(tmp, "epoch2", 1, 2, epochs=2, launcher="plain")
    assert proc.returncode == 0, proc.stdout[-3000:]
    return {"epoch1": torch.load(os.path.join(out1, "final.pt")), "epoch2": torch.load(os.path.join(out2, "final.pt")),
            "history": json.load(open(os.path.join(out1, "history.json")))}


def test_two_processes_train_like_one_with_the_whole_batch_and_resume_in_one(tmp_path, one_process):
    out, proc, _ = run_job(tmp_path, "two", 2, 1)
    assert proc.returncode == 0, proc.stdout[-3000:]
    two = torch.load(os.path.join(out, "final.pt"))
    assert max_difference(two, one_process["epoch1"]) <= TOLERANCE
    history = json.load(open(os.path.join(out, "history.json")))
    for k in ("loss", "val_loss", "mrcnn_mask_loss", "rpn_class_loss"):  # metrics are the processes' average
        assert history[0][k] == pytest.approx(one_process["history"][0][k], rel=1e-3), k
    # one writer: one checkpoint, one metrics log with 3 steps and 1 epoch line, no temporaries
    written = checkpoints(out)
    assert [os.path.basename(p) for p in written] == ["mask_rcnn_ddp_0001.pt"]
    run = os.path.dirname(written[0])
    assert sorted(os.listdir(run)) == ["loss_curves.png", "mask_rcnn_ddp_0001.pt", "metrics.jsonl"]
    assert len(open(os.path.join(run, "metrics.jsonl")).read().splitlines()) == 4
    # resumed by one process with 2 images per step: epoch 2 as the single-process run has it
    out_resumed, proc, _ = run_job(tmp_path, "two", 1, 2, epochs=2, launcher="plain", env={"JOB_RESUME": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:]
    resumed = torch.load(os.path.join(out_resumed, "final.pt"))
    assert max_difference(resumed, one_process["epoch2"]) <= TOLERANCE
    assert [os.path.basename(p) for p in checkpoints(out)] == ["mask_rcnn_ddp_0001.pt", "mask_rcnn_ddp_0002.pt"]


def test_gpu_count_in_a_notebook_starts_the_processes_itself(tmp_path, one_process):
    out, proc, _ = run_job(tmp_path, "notebook", 1, 1, launcher="notebook", env={"JOB_GPU_COUNT": "2"})
    assert proc.returncode == 0, proc.stdout[-3000:]
    # the notebook's model holds the trained weights and history afterwards
    assert max_difference(torch.load(os.path.join(out, "final.pt")), one_process["epoch1"]) <= TOLERANCE
    assert json.load(open(os.path.join(out, "history.json")))[0]["epoch"] == 1
    assert [os.path.basename(p) for p in checkpoints(out)] == ["mask_rcnn_ddp_0001.pt"]


def _processes_left(tmp_path):
    """The processes of the job that outlive it (their command lines name the job's folder)."""
    left = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                cmd = open("/proc/%s/cmdline" % pid, "rb").read().decode(errors="replace")
            except OSError:
                continue
            if str(tmp_path) in cmd:
                left.append((pid, cmd.replace("\0", " ")))
    return left


@pytest.mark.parametrize("fault", ["die", "hang"])
def test_a_process_that_dies_or_hangs_ends_the_job_naming_its_rank(tmp_path, fault):
    # rank 1 is killed (or stops answering) while loading its batch of epoch 2, step 2 (its sixth image:
    # 3 training steps and 1 validation step in epoch 1)
    out, proc, seconds = run_job(tmp_path, fault, 2, 1, epochs=3, fault=fault, env={"MRCNN_DIST_TIMEOUT": "10"},
                                 timeout=300)
    assert proc.returncode != 0
    if fault == "die":  # torchrun names the process that died
        assert "rank      : 1 (local_rank: 1)" in proc.stdout and "SIGKILL" in proc.stdout, proc.stdout[-3000:]
    else:  # the process that waited names the one that fell behind
        assert "PeerFailure" in proc.stdout, proc.stdout[-3000:]
        assert "rank 1 finished epoch 2 step 1" in proc.stdout, proc.stdout[-3000:]
    assert seconds < 10 + 90  # the timeout, plus start-up and the launcher's grace on a busy machine
    time.sleep(1)
    assert not _processes_left(tmp_path)
    # the last complete checkpoint is intact and loads
    written = checkpoints(out)
    assert [os.path.basename(p) for p in written] == ["mask_rcnn_ddp_0001.pt"]
    from mrcnn import model as modellib
    state = modellib.read_torch_file(written[0])
    assert state


def test_a_non_finite_loss_stops_every_process_at_the_same_step(tmp_path):
    out, proc, _ = run_job(tmp_path, "nan", 2, 1, env={"JOB_LR": "1e6"}, timeout=300)
    assert proc.returncode != 0
    # both raised FloatingPointError (NonFiniteLoss) naming the same step
    stopped = [open(os.path.join(out, "stopped_%d.txt" % r)).read() for r in (0, 1)
               if os.path.exists(os.path.join(out, "stopped_%d.txt" % r))]
    assert len(stopped) == 2, proc.stdout[-3000:]
    step = [m.split(":")[0] for m in stopped]
    assert step[0] == step[1] and step[0].startswith("training stopped at epoch 1, step"), stopped
    assert "PeerFailure" not in proc.stdout


def test_ctrl_c_stops_every_process_together_and_saves_the_state(tmp_path):
    out, proc, _ = run_job(tmp_path, "ctrl_c", 2, 1, epochs=50, interrupt_after=1, timeout=300)
    found = re.search(r"Interrupted: the state is saved in (\S+);", proc.stdout)
    assert found, proc.stdout[-3000:]
    assert "PeerFailure" not in proc.stdout and "Unable to shutdown" not in proc.stdout, proc.stdout[-3000:]
    names = [os.path.basename(p) for p in checkpoints(out)]
    assert "mask_rcnn_ddp_0050.pt" not in names
    # mid-epoch the state goes to the _interrupted file; a Ctrl-C that lands at the end of an epoch
    # leaves that epoch's checkpoint as the last state: the message names the file either way
    saved = found.group(1)
    assert os.path.basename(saved) in names, (saved, names)
    from mrcnn import model as modellib
    assert modellib.read_torch_file(saved)
    time.sleep(1)
    assert not _processes_left(tmp_path)


def test_a_peer_failure_names_the_rank_that_got_no_further_first():
    """Rank 1 stops answering after loading the batch rank 0 also loaded: their marks are equal, and
    rank 0 waits in the step's exchange. The message names rank 1 before rank 0, which waited."""
    from mrcnn import distributed

    class Store:
        def __init__(self, marks):
            self.marks = marks

        def check(self, keys):
            return all(k in self.marks for k in keys)

        def get(self, key):
            return self.marks[key].encode()

    progress = object.__new__(distributed.Progress)
    progress.rank, progress.size, progress.mine = 0, 3, (2, 2, 0)
    progress.store = Store({"mrcnn/progress/1": "2 2 0", "mrcnn/progress/2": "2 2 0"})
    text = str(progress.failure(RuntimeError("Timed out waiting 10000ms for recv")))
    assert text.startswith("data-parallel training: rank 1 loaded the batch of epoch 2 step 2 and got no further; "
                           "rank 2 loaded"), text
    assert "rank 0 of 3 loaded the batch of epoch 2 step 2 and waited in vain" in text
    progress.store = Store({"mrcnn/progress/1": "2 1 1", "mrcnn/progress/2": "2 2 0"})
    text = str(progress.failure(RuntimeError("Timed out")))
    assert text.startswith("data-parallel training: rank 1 finished epoch 2 step 1 (died or stuck there)"), text
