"""config.GPU_COUNT > 1 from a notebook: ``model.train(...)`` starts one process per device, trains
in them (see mrcnn.distributed) and brings the result back into the notebook's model.

The notebook's Config and Dataset classes usually live in the notebook itself, which a fresh
process cannot import; they travel by value (cloudpickle), with the model's current weights and
the call's arguments. Rank 0's output (progress bars, the epoch lines) goes to the processes'
standard output, which Jupyter shows in its terminal log rather than in the cell; the cell gets
one line per epoch when the processes are done.
"""
import os
import signal
import socket
import tempfile

import torch


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_in_processes(model, processes, train_dataset, val_dataset, learning_rate, epochs, layers, **kwargs):
    """Runs model.train(...) in `processes` new processes (torch.multiprocessing, spawn), then
    loads the trained weights, epoch and history into `model`. A process that fails stops the
    others; the error names its rank."""
    import cloudpickle
    import torch.multiprocessing as mp

    from .model import TrainResult

    if model.device.type == "cuda" and torch.cuda.device_count() < processes:
        raise ValueError("GPU_COUNT = %d but torch sees %d CUDA devices" % (processes, torch.cuda.device_count()))
    with tempfile.TemporaryDirectory(prefix="mrcnn-launch-") as tmp:
        job = {
            "mode": model.mode, "config": model.config, "model_dir": model.model_dir,
            "device": str(model.device), "weights": {k: v.cpu() for k, v in model.net.state_dict().items()},
            "state": {k: getattr(model, k) for k in ("epoch", "log_dir", "_resume", "class_names",
                                                      "history", "checkpoint_path")},
            "args": (train_dataset, val_dataset, learning_rate, epochs, layers), "kwargs": kwargs,
        }
        with open(os.path.join(tmp, "job.pkl"), "wb") as f:
            cloudpickle.dump(job, f)
        env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": str(processes)}
        if model.device.type == "cpu":
            env["MRCNN_THREADS_PER_PROCESS"] = str(max(1, torch.get_num_threads() // processes))
        context = mp.start_processes(_worker, args=(tmp, env), nprocs=processes, join=False, start_method="spawn")
        interrupted = False
        while True:
            try:
                if context.join():
                    break
            except KeyboardInterrupt:  # the notebook's interrupt: the processes stop together, rank 0 saves
                if interrupted:  # a second interrupt: stop them now
                    for p in context.processes:
                        p.terminate()
                    raise
                interrupted = True
                for p in context.processes:
                    if p.is_alive():
                        os.kill(p.pid, signal.SIGINT)
        out = torch.load(os.path.join(tmp, "result.pt"), weights_only=False)
    model.net.load_state_dict(out["weights"])
    for k, v in out["state"].items():
        setattr(model, k, v)
    model._resume = None
    if kwargs.get("verbose", 1):
        for row in model.history[-len(out["result"]["history"]):] if out["result"]["history"] else []:
            print("epoch %d: %s" % (row["epoch"], ", ".join("%s %.4f" % (k, v) for k, v in sorted(row.items())
                                                            if isinstance(v, float))))
    return TrainResult(out["result"]) if out["result"] is not None else None


def _worker(rank, tmp, env):
    import pickle

    os.environ.update(env, RANK=str(rank), LOCAL_RANK=str(rank))
    threads = int(env.get("MRCNN_THREADS_PER_PROCESS", "0"))
    if threads:  # CPU processes share the cores (torchrun's rule: one thread each unless told)
        torch.set_num_threads(threads)
    with open(os.path.join(tmp, "job.pkl"), "rb") as f:
        job = pickle.load(f)
    from .model import MaskRCNN

    model = MaskRCNN(job["mode"], job["config"], job["model_dir"], device=job["device"])
    model.net.load_state_dict(job["weights"])
    for k, v in job["state"].items():
        setattr(model, k, v)
    result = model.train(*job["args"], **job["kwargs"])
    if rank == 0:
        state = {k: getattr(model, k) for k in ("epoch", "log_dir", "class_names", "history", "checkpoint_path")}
        out = {"weights": {k: v.cpu() for k, v in model.net.state_dict().items()}, "state": state,
               "result": dict(result) if result is not None else None}
        path = os.path.join(tmp, "result.pt")
        torch.save(out, path + ".part")
        os.replace(path + ".part", path)
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()  # rank 0's result is complete before anyone leaves
        dist.destroy_process_group()
