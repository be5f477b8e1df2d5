"""The worker side: one vectorizer copy per (job, thread), vectors of one partition, part writers.

Everything here runs inside Dask workers; the client only builds graphs that call it.
"""

from __future__ import annotations

import collections
import os
import threading
from pathlib import Path

import numpy as np
import pandas as pd

import bertfeat
from bertfeat._atomic import atomic_file
from bertfeat._encode import encoding_stats, reset_encoding_stats
from bertfeat._store import file_sha256, store_stats

_memo: "collections.OrderedDict[tuple, object]" = collections.OrderedDict()
_memo_lock = threading.Lock()
_MEMO_SIZE = 16


def _worker_vectorizer(shipped, token: str):
    """This thread's copy of the shipped vectorizer, made once per (token, thread).

    The copy shares the loaded model (the process registry) but has its own cache index,
    so that threads of one worker never mutate one index at once. Kept across partitions
    so that the cache index is read once, then refreshed incrementally.
    """
    key = (token, threading.get_ident())
    with _memo_lock:
        vec = _memo.get(key)
        if vec is not None:
            _memo.move_to_end(key)
            return vec
        vec = object.__new__(type(shipped))
        own = ("_loaded", "_fast_loaded", "_vector_cache")  # per copy; the model itself comes from the store
        vec.__dict__.update({k: v for k, v in shipped.__dict__.items() if k not in own})
        _memo[key] = vec
        while len(_memo) > _MEMO_SIZE:
            _memo.popitem(last=False)
        return vec


def _select(part, columns):
    if columns is None:
        return part
    if isinstance(columns, str):
        return part[columns]
    return part[list(columns)]


def _vectors(part, shipped, token: str, columns, dim: int) -> np.ndarray:
    """Vectors of one partition (pandas object or list), in its row order."""
    data = _select(part, columns)
    if len(data) == 0:
        return np.empty((0, dim), dtype=np.float32)
    if isinstance(data, list):
        data = [tuple(x) if isinstance(x, list) else x for x in data]
    return _worker_vectorizer(shipped, token).transform(data)


def encode_array(part, shipped, token, columns, dim):
    return _vectors(part, shipped, token, columns, dim)


def encode_frame(part, shipped, token, columns, dim, names):
    vectors = _vectors(part, shipped, token, columns, dim)
    index = part.index if hasattr(part, "index") else pd.RangeIndex(len(vectors))
    return pd.DataFrame(vectors, index=index, columns=names)


def encode_count(part, shipped, token, columns, dim):
    return len(_vectors(part, shipped, token, columns, dim))


def write_part(part, shipped, token, columns, dim, names, keep, folder: str, name: str, fmt: str) -> dict:
    """Encode one partition and write it under ``folder/name`` atomically; a small record back."""
    vectors = _vectors(part, shipped, token, columns, dim)
    target = Path(folder) / name
    with atomic_file(target) as handle:
        if fmt == "parquet":
            import pyarrow as pa  # optional (bertfeat[dask]); only parquet output needs it
            import pyarrow.parquet as pq

            arrays = {c: pa.array(part[c].to_numpy(), from_pandas=True) for c in keep}
            arrays.update({n: pa.array(vectors[:, j]) for j, n in enumerate(names)})
            pq.write_table(pa.table(arrays), handle)
        else:
            np.save(handle, vectors)
    return {"file": name, "rows": int(len(vectors)), "bytes": target.stat().st_size, "sha256": file_sha256(target)}


def worker_report() -> dict:
    return {
        "pid": os.getpid(),
        "load_count": store_stats()["loads"],
        "bertfeat": os.path.dirname(bertfeat.__file__),
        **encoding_stats(),
    }


def reset_worker_stats() -> None:
    reset_encoding_stats()


