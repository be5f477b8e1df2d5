"""Partition-wise extraction on Dask: one model per worker, results in order, writers on the workers.

``transform(vectorizer, collection)`` turns a dask Series / DataFrame (1 column: texts,
2 columns: sentence pairs), a dask Bag of texts or pairs, or a list of files (see
:func:`read_files`) into a dask array (or DataFrame with feature names), one task per
partition. ``to_parquet`` / ``to_npy_shards`` write each partition from the worker that
encoded it and a manifest at the end; ``check_output`` tells whether a folder is complete.

How the model travels: the fitted vectorizer is pickled without its weights (a path and a
fingerprint), put once into the task graph under a key of its own, and every partition
task depends on that key, so the scheduler ships it once to each worker. On the worker,
``bertfeat._models.load_model`` keeps one loaded model per process and setup, so every
partition a worker runs reuses the model it loaded first (``worker_stats`` shows
``load_count`` per worker).

Dask is optional: importing this module without it raises an ImportError with the
``pip install "bertfeat[dask]"`` line.
"""

from __future__ import annotations

import collections
import glob as _glob
import hashlib
import json
import os
import pickle
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

try:
    import dask
    import dask.array as da
    import dask.bag as db
    import dask.dataframe as dd
    import pandas as pd
except ImportError as exc:  # pragma: no cover - exercised where dask is absent
    raise ImportError(
        f'bertfeat.dask needs dask, dask.dataframe and pandas ({exc}): pip install "bertfeat[dask]"'
    ) from exc

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

MANIFEST = "_manifest.json"
FORMATS = {".txt": "txt", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


# -- the worker side ------------------------------------------------------------------
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
        vec.__dict__.update({k: v for k, v in shipped.__dict__.items() if k not in ("_loaded", "_vector_cache")})
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


def _encode_array(part, shipped, token, columns, dim):
    return _vectors(part, shipped, token, columns, dim)


def _encode_frame(part, shipped, token, columns, dim, names):
    vectors = _vectors(part, shipped, token, columns, dim)
    index = part.index if hasattr(part, "index") else pd.RangeIndex(len(vectors))
    return pd.DataFrame(vectors, index=index, columns=names)


def _encode_count(part, shipped, token, columns, dim):
    return len(_vectors(part, shipped, token, columns, dim))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_part(part, shipped, token, columns, dim, names, keep, folder: str, name: str, fmt: str) -> dict:
    """Encode one partition and write it under ``folder/name`` atomically; a small record back."""
    vectors = _vectors(part, shipped, token, columns, dim)
    target = Path(folder) / name
    tmp = Path(folder) / f".tmp-{uuid.uuid4().hex[:12]}-{name}"
    try:
        if fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            arrays = {c: pa.array(part[c].to_numpy(), from_pandas=True) for c in keep}
            arrays.update({n: pa.array(vectors[:, j]) for j, n in enumerate(names)})
            pq.write_table(pa.table(arrays), tmp)
        else:
            with open(tmp, "wb") as handle:
                np.save(handle, vectors)
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return {"file": name, "rows": int(len(vectors)), "bytes": target.stat().st_size, "sha256": _sha256(target)}


def _worker_report() -> dict:
    import bertfeat
    from bertfeat import _models
    from bertfeat._encode import encoding_stats

    return {
        "pid": os.getpid(),
        "load_count": _models.load_count,
        "bertfeat": os.path.dirname(bertfeat.__file__),
        **encoding_stats(),
    }


def _reset_worker_stats() -> None:
    from bertfeat._encode import reset_encoding_stats

    reset_encoding_stats()


# -- the client side ------------------------------------------------------------------
def _client(client=None):
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


def _check_fitted(vectorizer):
    from sklearn.utils.validation import check_is_fitted

    from bertfeat.vectorizer import BertVectorizer

    if not isinstance(vectorizer, BertVectorizer):
        raise TypeError(f"vectorizer must be a BertVectorizer, got {type(vectorizer).__name__}")
    check_is_fitted(vectorizer, "model_fingerprint_")


def _ship(vectorizer):
    """(delayed vectorizer under one graph key, token, n_features_out_)."""
    payload = pickle.dumps(vectorizer, protocol=pickle.HIGHEST_PROTOCOL)
    token = hashlib.sha256(payload).hexdigest()[:20]
    # traverse=False: the estimator is one opaque value; the name makes it one key that
    # every partition task depends on (shipped once per worker, not once per task).
    shipped = dask.delayed(vectorizer, name=f"bertfeat-vectorizer-{token}", traverse=False)
    return shipped, token, int(vectorizer.n_features_out_)


def _is_paths(collection) -> bool:
    if isinstance(collection, Path):
        return True
    return isinstance(collection, (list, tuple)) and bool(collection) and all(isinstance(p, Path) for p in collection)


def _partitions(collection, columns, keep=()):
    """(list of delayed partitions, text columns to select, divisions or None)."""
    if isinstance(collection, str):
        raise TypeError(
            "collection is a single string; pass files as pathlib.Path objects or through "
            "bertfeat.dask.read_files(...), and texts as a dask Series or Bag"
        )
    if _is_paths(collection):
        collection = read_files(collection)
        if columns is None and isinstance(collection, dd.DataFrame):
            columns = "text"
    if isinstance(collection, (list, tuple)):
        raise TypeError(
            "collection is a plain list; for texts in memory call vectorizer.transform, or make a "
            "dask collection (dask.bag.from_sequence(texts, npartitions=8)); files go as pathlib.Path "
            "objects or through bertfeat.dask.read_files"
        )
    if isinstance(collection, db.Bag):
        if columns is not None or keep:
            raise ValueError("columns= and keep_columns= apply to dask DataFrames, not to a Bag")
        return collection.to_delayed(), None, None
    if isinstance(collection, dd.Series):
        if columns is not None or keep:
            raise ValueError("columns= and keep_columns= apply to dask DataFrames, not to a Series")
        return collection.to_delayed(), None, collection.divisions
    if isinstance(collection, dd.DataFrame):
        present = list(collection.columns)
        if columns is None:
            if len(present) not in (1, 2):
                raise ValueError(
                    f"the DataFrame has {len(present)} columns {present}; pass columns='text' (texts) "
                    "or columns=('a', 'b') (sentence pairs)"
                )
            columns = present if len(present) == 2 else present[0]
        wanted = [columns] if isinstance(columns, str) else list(columns)
        if not isinstance(columns, str) and len(wanted) != 2:
            raise ValueError(f"columns={columns!r}: expected one column name (texts) or two (pairs)")
        missing = [c for c in wanted + list(keep) if c not in present]
        if missing:
            raise ValueError(f"column(s) {missing} not in the DataFrame; it has {present}")
        needed = list(dict.fromkeys(wanted + list(keep)))
        columns = columns if isinstance(columns, str) else tuple(columns)
        return collection[needed].to_delayed(), columns, collection.divisions
    raise TypeError(
        f"collection must be a dask Series, DataFrame or Bag, or a list of pathlib.Path files; "
        f"got {type(collection).__name__}"
    )


def _prepare(vectorizer, allow_gpu_sharing: bool, client):
    _check_fitted(vectorizer)
    client = _client(client)
    if client is not None and not allow_gpu_sharing:
        check_gpu_placement(vectorizer, client=client)
    return _ship(vectorizer)


def transform(vectorizer, collection, *, columns=None, as_frame=False, allow_gpu_sharing=False, client=None):
    """Vectors of a dask collection, one task per partition, in order (lazy).

    Parameters
    ----------
    vectorizer : BertVectorizer
        A fitted vectorizer. Workers load its model from ``model_path_`` (the same path
        must be reachable there) or from the files inside the pickle (``store_weights=True``).
    collection : dask Series, dask DataFrame, dask Bag, or list of pathlib.Path
        Texts (a Series, a 1-column DataFrame or ``columns="name"``, a Bag of strings) or
        sentence pairs (a 2-column DataFrame or ``columns=("a", "b")``, a Bag of 2-tuples).
        Files are read on the workers by :func:`read_files` (``columns`` defaults to "text").
    columns : str, pair of str or None
        Text column, or the two columns of a pair, of a DataFrame.
    as_frame : bool, default=False
        Return a dask DataFrame with ``vectorizer.get_feature_names_out()`` as columns
        and the input's index, instead of a float32 dask array.
    allow_gpu_sharing : bool, default=False
        Skip the check that refuses to place two workers' models on one GPU.
    client : distributed.Client or None
        Defaults to the current client, if any.

    Returns
    -------
    dask.array.Array of shape ``(n, n_features_out_)`` (row chunks of unknown size until
    computed: ``.compute_chunk_sizes()`` finds them) or dask.dataframe.DataFrame.

    Examples
    --------
    >>> import dask.dataframe as dd, bertfeat.dask as bd  # doctest: +SKIP
    >>> vec = BertVectorizer(cache_dir="/shared/cache").fit(["x"])  # doctest: +SKIP
    >>> X = bd.transform(vec, dd.read_parquet("corpus/")["text"]).compute()  # doctest: +SKIP
    """
    parts, columns, divisions = _partitions(collection, columns)
    shipped, token, dim = _prepare(vectorizer, allow_gpu_sharing, client)
    if as_frame:
        names = [str(n) for n in vectorizer.get_feature_names_out()]
        meta = pd.DataFrame({n: pd.Series(dtype=np.float32) for n in names})
        frames = [dask.delayed(_encode_frame, pure=True)(p, shipped, token, columns, dim, names) for p in parts]
        if divisions is not None and len(divisions) != len(frames) + 1:
            divisions = None
        return dd.from_delayed(frames, meta=meta, divisions=divisions, verify_meta=False)
    blocks = [
        da.from_delayed(
            dask.delayed(_encode_array, pure=True)(p, shipped, token, columns, dim),
            shape=(np.nan, dim),
            dtype=np.float32,
        )
        for p in parts
    ]
    if not blocks:
        return da.empty((0, dim), dtype=np.float32)
    return da.concatenate(blocks, axis=0)


# -- writers --------------------------------------------------------------------------
class IncompleteOutputError(ValueError):
    """A folder written by to_parquet / to_npy_shards is missing parts, rows or its manifest."""


def _part_names(folder: Path, suffix: str) -> list[str]:
    return sorted(p.name for p in folder.glob(f"part-*{suffix}"))


def _prepare_folder(folder: Path, suffix: str, overwrite: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    old = _part_names(folder, suffix)
    if (folder / MANIFEST).exists() or old:
        if not overwrite:
            raise FileExistsError(
                f"{str(folder)!r} already holds bertfeat output ({len(old)} parts); pass overwrite=True "
                "to replace it, or choose another folder"
            )
        (folder / MANIFEST).unlink(missing_ok=True)  # first: a half-replaced folder is never 'complete'
        for name in old:
            (folder / name).unlink(missing_ok=True)


def _json_safe(value):
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


def _write(vectorizer, collection, folder, fmt, columns, keep, overwrite, allow_gpu_sharing, client) -> dict:
    keep = [keep] if isinstance(keep, str) else list(keep or ())
    parts, columns, _ = _partitions(collection, columns, keep)
    shipped, token, dim = _prepare(vectorizer, allow_gpu_sharing, client)
    names = [str(n) for n in vectorizer.get_feature_names_out()]
    clash = sorted(set(keep) & set(names))
    if clash:
        raise ValueError(f"keep_columns {clash} clash with the vector column names")
    folder = Path(os.path.expanduser(os.fspath(folder))).resolve()
    suffix = ".parquet" if fmt == "parquet" else ".npy"
    _prepare_folder(folder, suffix, overwrite)
    width = max(5, len(str(len(parts))))
    tasks = [
        dask.delayed(_write_part, pure=False)(
            p, shipped, token, columns, dim, names, keep, str(folder), f"part-{i:0{width}d}{suffix}", fmt
        )
        for i, p in enumerate(parts)
    ]
    records = list(dask.compute(*tasks)) if tasks else []
    for leftover in folder.glob(".tmp-*"):  # writers killed mid-write
        leftover.unlink(missing_ok=True)
    manifest = {
        "format": fmt,
        "complete": True,
        "rows": sum(r["rows"] for r in records),
        "n_features": dim,
        "dtype": "float32",
        "feature_names": names if fmt == "parquet" else None,
        "keep_columns": keep,
        "parts": records,
        "model": {"path": vectorizer.model_path_, "fingerprint": vectorizer.model_fingerprint_},
        "vectorizer": {k: _json_safe(v) for k, v in vectorizer.get_params().items()},
        "bertfeat_version": __import__("bertfeat").__version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    tmp = folder / f".tmp-{uuid.uuid4().hex[:8]}{MANIFEST}"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, folder / MANIFEST)
    return manifest


def to_parquet(
    vectorizer, collection, folder, *, columns=None, keep_columns=(), overwrite=False, allow_gpu_sharing=False, client=None
) -> dict:
    """Encode ``collection`` and write one parquet file per partition from the workers.

    Each part (``part-00000.parquet`` ...) holds ``keep_columns`` of the input (ids,
    labels) then one float32 column per feature (``vectorizer.get_feature_names_out()``),
    rows in input order. Parts are written to a temporary name and renamed, so a retried
    task (a lost worker) replaces a part whole. Nothing but a small record per part comes
    back to the client, which writes ``_manifest.json`` (rows, sizes, sha256 per part)
    last: a folder without it is incomplete. Returns the manifest; read the folder back
    with ``dask.dataframe.read_parquet(folder)`` or pandas.
    """
    return _write(vectorizer, collection, folder, "parquet", columns, keep_columns, overwrite, allow_gpu_sharing, client)


def to_npy_shards(vectorizer, collection, folder, *, columns=None, overwrite=False, allow_gpu_sharing=False, client=None) -> dict:
    """Like :func:`to_parquet`, one ``part-00000.npy`` float32 array per partition.

    Read them back, checked and in order, with :func:`read_npy_shards`.
    """
    return _write(vectorizer, collection, folder, "npy", columns, (), overwrite, allow_gpu_sharing, client)


def check_output(folder, *, checksums=True) -> dict:
    """The manifest of a complete output folder; IncompleteOutputError naming what is wrong.

    Checks that the manifest exists, that every part it lists is there with its size,
    row count (and sha256 when ``checksums``), and that no other part files are present.
    """
    folder = Path(os.path.expanduser(os.fspath(folder)))
    path = folder / MANIFEST
    if not path.is_file():
        raise IncompleteOutputError(f"{str(folder)!r} has no {MANIFEST}: the write did not finish")
    manifest = json.loads(path.read_text())
    suffix = ".parquet" if manifest["format"] == "parquet" else ".npy"
    listed = [r["file"] for r in manifest["parts"]]
    extra = sorted(set(_part_names(folder, suffix)) - set(listed))
    if extra:
        raise IncompleteOutputError(f"{str(folder)!r} holds parts the manifest does not list: {extra[:5]}")
    for record in manifest["parts"]:
        part = folder / record["file"]
        if not part.is_file():
            raise IncompleteOutputError(f"{str(part)!r} is missing")
        if part.stat().st_size != record["bytes"]:
            raise IncompleteOutputError(f"{str(part)!r} has {part.stat().st_size} bytes, expected {record['bytes']}")
        if manifest["format"] == "parquet":
            import pyarrow.parquet as pq

            rows = pq.ParquetFile(part).metadata.num_rows
        else:
            rows = np.load(part, mmap_mode="r").shape[0]
        if rows != record["rows"]:
            raise IncompleteOutputError(f"{str(part)!r} has {rows} rows, expected {record['rows']}")
        if checksums and _sha256(part) != record["sha256"]:
            raise IncompleteOutputError(f"{str(part)!r} does not match its sha256 (changed or damaged)")
    if sum(r["rows"] for r in manifest["parts"]) != manifest["rows"]:
        raise IncompleteOutputError(f"{str(path)!r}: part rows do not add up to {manifest['rows']}")
    return manifest


def read_npy_shards(folder, *, checksums=False):
    """The vectors of a complete ``to_npy_shards`` folder as a dask array (memory-mapped parts)."""
    folder = Path(os.path.expanduser(os.fspath(folder)))
    manifest = check_output(folder, checksums=checksums)
    if manifest["format"] != "npy":
        raise ValueError(f"{str(folder)!r} holds {manifest['format']} output; read it with dask.dataframe.read_parquet")
    dim = manifest["n_features"]
    blocks = [
        da.from_delayed(dask.delayed(np.load)(str(folder / r["file"]), mmap_mode="r"), shape=(r["rows"], dim), dtype=np.float32)
        for r in manifest["parts"]
    ]
    return da.concatenate(blocks, axis=0) if blocks else da.empty((0, dim), dtype=np.float32)


# -- files ----------------------------------------------------------------------------
def _expand(paths) -> list[str]:
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    found: list[str] = []
    for item in items:
        text = os.path.expanduser(os.fspath(item))
        if any(ch in text for ch in "*?["):
            matches = sorted(_glob.glob(text))
            if not matches:
                raise FileNotFoundError(f"no file matches {text!r}")
            found += matches
        elif os.path.isdir(text):
            inside = sorted(str(p) for p in Path(text).iterdir() if p.is_file() and p.suffix.lower() in FORMATS)
            if not inside:
                raise FileNotFoundError(f"folder {text!r} holds no {'/'.join(sorted(FORMATS))} file")
            found += inside
        elif os.path.isfile(text):
            found.append(text)
        else:
            raise FileNotFoundError(f"file {text!r} does not exist")
    return [os.path.abspath(p) for p in found]


def read_files(paths, *, blocksize=None):
    """A lazy dask collection over text files, read on the workers, in file order.

    ``.txt``: one text per line (a dask Bag). ``.csv``, ``.jsonl`` (JSON lines) and
    ``.parquet``: a dask DataFrame of all their columns (pick the text with
    ``columns="text"`` in transform/to_parquet; that is the default for paths given
    straight to them). Empty CSV fields stay empty strings; JSON strings are not
    converted to numbers or dates. ``paths``: a file, a folder, a glob or a list of
    these; all of one format. ``blocksize`` (bytes or "64MB") splits big txt/csv/jsonl
    files into several partitions; None is one partition per file (parquet: per row group
    as dask decides).
    """
    files = _expand(paths)
    if not files:
        raise FileNotFoundError("no files given")
    kinds = {FORMATS.get(Path(f).suffix.lower()) for f in files}
    if None in kinds:
        odd = [f for f in files if Path(f).suffix.lower() not in FORMATS][:3]
        raise ValueError(f"unknown file type for {odd}; expected one of {sorted(FORMATS)}")
    if len(kinds) > 1:
        raise ValueError(f"files of several formats {sorted(kinds)}; read each format on its own")
    kind = kinds.pop()
    if kind == "txt":
        return db.read_text(files, blocksize=blocksize).map(_strip_newline)
    if kind == "csv":
        return dd.read_csv(files, blocksize=blocksize, keep_default_na=False, dtype=object)
    if kind == "jsonl":
        return dd.read_json(files, lines=True, blocksize=blocksize, dtype=False, convert_dates=False)
    return dd.read_parquet(files)


def _strip_newline(line: str) -> str:
    return line[:-2] if line.endswith("\r\n") else line[:-1] if line.endswith("\n") else line


# -- grid search support --------------------------------------------------------------
def _vectorizers_in(estimator) -> list:
    from bertfeat.vectorizer import BertVectorizer

    found = [estimator] if isinstance(estimator, BertVectorizer) else []
    if hasattr(estimator, "get_params") and not isinstance(estimator, BertVectorizer):
        found += [v for v in estimator.get_params(deep=True).values() if isinstance(v, BertVectorizer)]
    return found


_NOT_IN_VECTOR = ("batch_size", "token_budget", "progress", "store_weights")


def warm_cache(estimator, X, *, npartitions=None, client=None) -> dict:
    """Encode ``X`` once per distinct vectorizer setup of ``estimator`` across the workers.

    ``estimator``: a BertVectorizer, a Pipeline holding one, or a GridSearchCV over such a
    pipeline (every setup its ``param_grid`` reaches). Each distinct text is encoded once
    per setup and stored in the setups' shared ``cache_dir``; a search run afterwards
    (``with joblib.parallel_backend("dask")``) then finds every vector in the cache, so
    no fold re-encodes a text. Without the warm-up, folds that start at the same moment on
    different workers can encode the same text twice (both miss; nothing is lost).
    Returns ``{"setups": n, "texts": n_distinct}``.
    """
    from sklearn.base import clone
    from sklearn.model_selection import ParameterGrid

    from bertfeat._inputs import check_texts

    base = getattr(estimator, "estimator", estimator)
    grid = getattr(estimator, "param_grid", None)
    candidates = [clone(base).set_params(**params) for params in ParameterGrid(grid)] if grid else [clone(base)]
    setups = {}
    for candidate in candidates:
        for vec in _vectorizers_in(candidate):
            params = {k: v for k, v in vec.get_params().items() if k not in _NOT_IN_VECTOR}
            if params.get("cache_dir") is None:
                raise ValueError("warm_cache needs cache_dir set on every BertVectorizer (a folder all workers share)")
            setups.setdefault(json.dumps(params, sort_keys=True, default=repr), vec)
    items = list(dict.fromkeys(check_texts(X).items))
    client = _client(client)
    n_workers = len(client.scheduler_info()["workers"]) if client is not None else os.cpu_count() or 1
    npartitions = npartitions or max(1, min(len(items), 4 * n_workers))
    tasks = []
    for vec in setups.values():
        fitted = clone(vec).fit(items[:1])
        shipped, token, dim = _prepare(fitted, False, client)
        bag = db.from_sequence(items, npartitions=npartitions)
        tasks += [dask.delayed(_encode_count, pure=True)(p, shipped, token, None, dim) for p in bag.to_delayed()]
    dask.compute(*tasks)
    return {"setups": len(setups), "texts": len(items)}


def worker_stats(client=None, *, reset=False) -> dict:
    """Per worker: pid, ``load_count`` (real model loads in that process) and the
    ``bertfeat.encoding_stats()`` counters.
    ``reset=True`` zeroes the encoding counters after reading them."""
    client = _client(client)
    if client is None:
        raise ValueError("worker_stats needs a distributed Client")
    stats = client.run(_worker_report)
    if reset:
        client.run(_reset_worker_stats)
    return stats


# -- GPUs -----------------------------------------------------------------------------
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
    return {"host": socket.gethostname(), "gpu": gpu, "name": props.name, "visible_gpus": torch.cuda.device_count(), "CUDA_VISIBLE_DEVICES": visible}


def _placement_problems(reports: dict) -> list[str]:
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
    client = _client(client)
    if client is None:
        return {}
    reports = client.run(_gpu_identity, device)
    problems = _placement_problems(reports)
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
