"""GPU placement: one worker per GPU, and a refusal to stack two workers' models on one GPU."""

from __future__ import annotations

import os


def current_client(client=None):
    """The distributed client in use, or None (then dask's local scheduler runs the graph)."""
    if client is not None:
        return client
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def _gpu_identity(device: str):
    """On a worker: which physical GPU a model with ``device`` would go on (None: not a GPU)."""
    if device == "cpu" or device.startswith("mps"):
        return None
    import socket

    import torch

    if not torch.cuda.is_available():
        return None
    index = torch.device("cuda" if device == "auto" else device).index
    index = torch.cuda.current_device() if index is None else index
    props = torch.cuda.get_device_properties(index)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    gpu = str(getattr(props, "uuid", "") or f"{visible}:{index}")
    return {
        "host": socket.gethostname(),
        "gpu": gpu,
        "name": props.name,
        "visible_gpus": torch.cuda.device_count(),
        "CUDA_VISIBLE_DEVICES": visible,
    }


def placement_problems(reports: dict) -> list[str]:
    """Physical GPUs that more than one worker would load a model onto."""
    by_gpu: dict[tuple, list[str]] = {}
    for worker, report in reports.items():
        if report is not None:
            by_gpu.setdefault((report["host"], report["gpu"]), []).append(worker)
    return [
        f"{len(workers)} workers on host {host} would place their models on the same GPU {gpu}: {sorted(workers)}"
        for (host, gpu), workers in sorted(by_gpu.items())
        if len(workers) > 1
    ]


def check_gpu_placement(vectorizer, client=None) -> dict:
    """Refuse (RuntimeError) when two workers would load the model onto one physical GPU.

    Each worker reports the GPU that ``vectorizer.device`` resolves to there (by UUID),
    so a cluster started without per-worker ``CUDA_VISIBLE_DEVICES`` (every worker
    seeing every GPU, each taking ``cuda:0``) is caught before any model is loaded.
    Returns the per-worker reports. transform / to_parquet / to_npy_shards call it.
    """
    device = vectorizer.device if hasattr(vectorizer, "device") else str(vectorizer)
    if device == "cpu" or str(device).startswith("mps"):
        return {}
    client = current_client(client)
    if client is None:
        return {}
    reports = client.run(_gpu_identity, device)
    problems = placement_problems(reports)
    if problems:
        raise RuntimeError(
            "bertfeat refuses to stack models on one GPU: " + "; ".join(problems) + ". Start one worker per GPU "
            "(dask_cuda.LocalCUDACluster, bertfeat.dask.gpu_cluster(), or CUDA_VISIBLE_DEVICES=<i> per "
            "`dask worker`), or pass allow_gpu_sharing=True if you mean it."
        )
    return reports


def _gpu_worker_specs(devices, threads_per_worker: int) -> dict:
    from distributed import Nanny

    return {
        f"gpu-{device}": {
            "cls": Nanny,
            "options": {"nthreads": threads_per_worker, "env": {"CUDA_VISIBLE_DEVICES": str(device)}},
        }
        for device in devices
    }


def gpu_cluster(devices=None, *, threads_per_worker=1, **kwargs):
    """A local cluster with one worker per GPU, each seeing only its own GPU.

    Uses ``dask_cuda.LocalCUDACluster`` where dask-cuda is installed; otherwise a
    ``distributed.SpecCluster`` of nannies whose ``CUDA_VISIBLE_DEVICES`` is one GPU each.
    ``devices``: GPU ids (default: every GPU visible here). In each worker ``device="auto"``
    or ``"cuda"`` is then that worker's own GPU.
    """
    if devices is None:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible:
            devices = [d.strip() for d in visible.split(",") if d.strip()]
        else:
            import torch

            devices = [str(i) for i in range(torch.cuda.device_count())]
    devices = [str(d) for d in devices]
    if not devices:
        raise RuntimeError("no CUDA GPU is visible here; for CPU workers use distributed.LocalCluster")
    try:
        from dask_cuda import LocalCUDACluster
    except ImportError:
        LocalCUDACluster = None
    if LocalCUDACluster is not None:
        return LocalCUDACluster(CUDA_VISIBLE_DEVICES=devices, threads_per_worker=threads_per_worker, **kwargs)
    from distributed import Scheduler, SpecCluster

    scheduler = {"cls": Scheduler, "options": {"dashboard_address": kwargs.pop("dashboard_address", ":0")}}
    return SpecCluster(workers=_gpu_worker_specs(devices, threads_per_worker), scheduler=scheduler, **kwargs)


try:
    from distributed import WorkerPlugin as _WorkerPlugin
except ImportError:  # pragma: no cover
    _WorkerPlugin = object


class TorchThreads(_WorkerPlugin):
    """Worker plugin: ``torch.set_num_threads(n)`` on every worker, restarted ones included.

    Dask's nannies start workers with ``OMP_NUM_THREADS=1``, so torch uses one thread
    per worker process unless told otherwise: ``client.register_plugin(TorchThreads(4))``.
    """

    name = "bertfeat-torch-threads"

    def __init__(self, n: int):
        self.n = int(n)

    def setup(self, worker=None):
        import torch

        torch.set_num_threads(self.n)
