"""The client side: collections to partitions, the vectorizer shipped once, graphs of partition tasks."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

import dask
import dask.array as da
import dask.bag as db
import dask.dataframe as dd
import numpy as np
import pandas as pd

from bertfeat._inputs import check_texts
from bertfeat.dask._files import read_files
from bertfeat.dask._gpu import check_gpu_placement, current_client
from bertfeat.dask._worker import encode_array, encode_count, encode_frame, reset_worker_stats, worker_report
from bertfeat.vectorizer import BertVectorizer


def check_fitted(vectorizer):
    from sklearn.utils.validation import check_is_fitted

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


def partitions(collection, columns, keep=()):
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


def prepare(vectorizer, allow_gpu_sharing: bool, client):
    check_fitted(vectorizer)
    client = current_client(client)
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
    parts, columns, divisions = partitions(collection, columns)
    shipped, token, dim = prepare(vectorizer, allow_gpu_sharing, client)
    if as_frame:
        names = [str(n) for n in vectorizer.get_feature_names_out()]
        meta = pd.DataFrame({n: pd.Series(dtype=np.float32) for n in names})
        frames = [dask.delayed(encode_frame, pure=True)(p, shipped, token, columns, dim, names) for p in parts]
        if divisions is not None and len(divisions) != len(frames) + 1:
            divisions = None
        return dd.from_delayed(frames, meta=meta, divisions=divisions, verify_meta=False)
    blocks = [
        da.from_delayed(
            dask.delayed(encode_array, pure=True)(p, shipped, token, columns, dim),
            shape=(np.nan, dim),
            dtype=np.float32,
        )
        for p in parts
    ]
    if not blocks:
        return da.empty((0, dim), dtype=np.float32)
    return da.concatenate(blocks, axis=0)



# -- grid search support --------------------------------------------------------------
def _vectorizers_in(estimator) -> list:
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
    client = current_client(client)
    n_workers = len(client.scheduler_info()["workers"]) if client is not None else os.cpu_count() or 1
    npartitions = npartitions or max(1, min(len(items), 4 * n_workers))
    tasks = []
    for vec in setups.values():
        fitted = clone(vec).fit(items[:1])
        shipped, token, dim = prepare(fitted, False, client)
        bag = db.from_sequence(items, npartitions=npartitions)
        tasks += [dask.delayed(encode_count, pure=True)(p, shipped, token, None, dim) for p in bag.to_delayed()]
    dask.compute(*tasks)
    return {"setups": len(setups), "texts": len(items)}


def worker_stats(client=None, *, reset=False) -> dict:
    """Per worker: pid, ``load_count`` (real model loads in that process) and the
    ``bertfeat.encoding_stats()`` counters.
    ``reset=True`` zeroes the encoding counters after reading them."""
    client = current_client(client)
    if client is None:
        raise ValueError("worker_stats needs a distributed Client")
    stats = client.run(worker_report)
    if reset:
        client.run(reset_worker_stats)
    return stats


