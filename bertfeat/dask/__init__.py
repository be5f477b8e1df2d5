"""Extraction on Dask: one model per worker, results in order, writers on the workers.

``transform(vectorizer, collection)`` turns a dask Series / DataFrame (1 column: texts,
2 columns or ``columns=("a", "b")``: sentence pairs), a dask Bag of texts or pairs, or a
list of files (see :func:`read_files`) into a dask array (or a DataFrame with feature
names), one task per partition, rows in input order. ``to_parquet`` / ``to_npy_shards``
write each partition from the worker that encoded it, then a manifest; ``check_output``
tells whether a folder is complete. ``warm_cache`` encodes a grid search's texts once per
setup across the workers, so that ``GridSearchCV`` under ``joblib.parallel_backend("dask")``
only reads the shared cache.

How the model travels: the fitted vectorizer is pickled without its weights (a path and
a fingerprint), put once into the task graph under a key of its own, and every partition
task depends on that key, so the scheduler ships it once to each worker. On the worker,
the model store (``bertfeat._store.load_model``) shares one loaded model per process and setup: every
partition a worker runs reuses the model it loaded first (``worker_stats`` shows
``load_count`` per worker).

Rooms: ``_extract`` (client side: collections, graphs), ``_worker`` (what runs on the
workers), ``_output`` (writers, manifest), ``_files`` (readers), ``_gpu`` (one model per GPU).
"""

from __future__ import annotations

try:
    import dask  # noqa: F401
    import dask.array  # noqa: F401
    import dask.bag  # noqa: F401
    import dask.dataframe  # noqa: F401
    import pandas  # noqa: F401
except ImportError as exc:  # exercised in tests/test_dask.py with dask hidden
    raise ImportError(f'bertfeat.dask needs dask, dask.dataframe and pandas ({exc}): pip install "bertfeat[dask]"') from exc

from bertfeat.dask._extract import transform, warm_cache, worker_stats
from bertfeat.dask._files import read_files
from bertfeat.dask._gpu import TorchThreads, check_gpu_placement, gpu_cluster
from bertfeat.dask._output import IncompleteOutputError, check_output, read_npy_shards, to_npy_shards, to_parquet

__all__ = [
    "transform",
    "to_parquet",
    "to_npy_shards",
    "check_output",
    "read_npy_shards",
    "read_files",
    "warm_cache",
    "worker_stats",
    "check_gpu_placement",
    "gpu_cluster",
    "TorchThreads",
    "IncompleteOutputError",
]
