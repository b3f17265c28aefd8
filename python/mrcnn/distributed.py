"""Data-parallel training on torch.distributed.

Two ways in, one training loop:

* ``torchrun --nproc_per_node N -m mrcnn train ...`` (or any script calling ``model.train``): torchrun
  starts N processes and sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; ``train``
  sees them, joins the process group (NCCL on CUDA, Gloo on the CPU) and trains its share. Several
  machines: torchrun's usual ``--nnodes``, ``--node_rank`` and ``--rdzv_*`` flags.
* ``config.GPU_COUNT = N`` in a notebook: ``model.train(...)`` starts the N processes itself and
  waits for them; afterwards the notebook's model holds the trained weights, as with one process.

Each process loads IMAGES_PER_GPU images per step (BATCH_SIZE = IMAGES_PER_GPU x processes, as in
Matterport), and the step computes what one process would compute on the whole batch: gradients are
averaged over the processes and the losses normalised by the whole batch's counts (see
``mrcnn._C.train.Trainer.distribute``). The learning rate therefore goes with the whole batch: the
common rule is to scale it linearly with BATCH_SIZE (e.g. 0.02 for 16 images in detectron2's and
torchvision's COCO recipes, 0.001 x BATCH_SIZE / 2 from Matterport's default).

A process that dies ends the job: torchrun (or the notebook's launcher) stops the others and names
the rank; a process that hangs makes the others fail after MRCNN_DIST_TIMEOUT seconds (default 600)
naming the collective that timed out. Only rank 0 writes checkpoints, metrics.jsonl, TensorBoard
logs, pictures and progress bars.
"""
import datetime
import os

import torch

DEFAULT_TIMEOUT = 600.0  # seconds a collective may wait for a silent process


def timeout():
    """How long a process waits for the others in one collective (MRCNN_DIST_TIMEOUT seconds)."""
    value = os.environ.get("MRCNN_DIST_TIMEOUT", "")
    try:
        seconds = float(value) if value else DEFAULT_TIMEOUT
    except ValueError:
        raise ValueError("MRCNN_DIST_TIMEOUT must be a number of seconds, got %r" % value) from None
    if not seconds > 0:
        raise ValueError("MRCNN_DIST_TIMEOUT must be positive, got %r" % value)
    return datetime.timedelta(seconds=seconds)


def launched():
    """True when this process is one of several started by torchrun (or the notebook launcher)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        raise ValueError("WORLD_SIZE must be an integer, got %r" % os.environ["WORLD_SIZE"]) from None


def local_device(device):
    """The device this process trains on: cuda:LOCAL_RANK when training on CUDA, else `device`."""
    device = torch.device(device)
    if device.type == "cuda" and launched():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return device


def process_group(device):
    """torch.distributed's default group, joined from torchrun's environment on first use (NCCL
    for CUDA, Gloo for the CPU); None for a single process."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.group.WORLD if dist.get_world_size() > 1 else None
    if not launched():
        return None
    if not dist.is_available():
        raise RuntimeError("this torch build has no torch.distributed")
    backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
    dist.init_process_group(backend, timeout=timeout())
    return dist.group.WORLD


def rank():
    """This process's rank (0 when training alone)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0")) if launched() else 0


def broadcast_objects(group, values):
    """Rank 0's values (picklable Python objects) on every process."""
    import torch.distributed as dist

    values = list(values)
    dist.broadcast_object_list(values, src=0, group=group)
    return values


def broadcast_seed(group):
    """A seed drawn on rank 0 and given to every process (one sample stream for all)."""
    import numpy as np
    import torch.distributed as dist

    seed = torch.tensor([int(np.random.SeedSequence().entropy % (2 ** 62))], dtype=torch.int64)
    if dist.get_backend(group) == "nccl":
        seed = seed.cuda()
    dist.broadcast(seed, 0, group=group)
    return int(seed.item())


class PeerFailure(RuntimeError):
    """Another process of a data-parallel job died or stopped answering."""


class Progress:
    """Each process notes where it is (a batch loaded, a step finished) in the job's store
    (torch.distributed's rendezvous store), so that a process that waits in vain for the others
    can name those that fell behind it."""

    def __init__(self, group):
        import torch.distributed as dist

        self.rank, self.size = dist.get_rank(group), dist.get_world_size(group)
        try:
            self.store = dist.distributed_c10d._get_default_store()
        except Exception:  # a store is a convenience for the message, not a need
            self.store = None
        self.mine = (0, 0, 0)

    @staticmethod
    def _text(mark):
        epoch, step, phase = mark
        if not epoch:
            return "had not started training"
        return "%s epoch %d step %d" % ("loaded the batch of" if phase == 0 else "finished", epoch, step)

    def _note(self, mark):
        self.mine = mark
        if self.store is not None:
            self.store.set("mrcnn/progress/%d" % self.rank, "%d %d %d" % mark)

    def loaded(self, epoch, step):
        self._note((epoch, step, 0))

    def finished(self, epoch, step):
        self._note((epoch, step, 1))

    def failure(self, error):
        """A PeerFailure for `error` (a timed-out or broken collective) that names first the ranks
        that did not get as far as this one (behind it, or at the same mark without reaching the
        exchange this process waits in: with all others past it, the step's collective would have
        completed), then this one, which waited."""
        behind, level = [], []
        if self.store is not None:
            for r in range(self.size):
                if r == self.rank:
                    continue
                key = "mrcnn/progress/%d" % r
                try:
                    theirs = (tuple(int(x) for x in self.store.get(key).decode().split())
                              if self.store.check([key]) else (0, 0, 0))
                except Exception:  # the store went with the failed process
                    continue
                if theirs < self.mine:
                    behind.append("rank %d %s" % (r, self._text(theirs)))
                elif theirs == self.mine:
                    level.append("rank %d %s and got no further" % (r, self._text(theirs)))
        suspects = behind or level
        who = ("; ".join(suspects) + " (died or stuck there): ") if suspects else ""
        return PeerFailure(
            "data-parallel training: %srank %d of %d %s and waited in vain for the others (%s). The job "
            "stops; the last complete checkpoint is in the log directory (rank 0 writes them). "
            "MRCNN_DIST_TIMEOUT sets how long a process waits (now %d s)."
            % (who, self.rank, self.size, self._text(self.mine), str(error).strip().splitlines()[-1][:200],
               timeout().total_seconds()))


def is_peer_failure(error):
    """True for the errors c10d raises when a collective times out or a peer's connection breaks."""
    text = str(error)
    return any(s in text for s in ("Timed out", "timed out", "Connection closed by peer", "Connection reset",
                                   "NCCL communicator was aborted", "Socket Timeout"))
