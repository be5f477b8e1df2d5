"""Vectors for a list of inputs: each distinct input once, from the disk cache where it
has it, from the model otherwise, stored back per chunk.

This is the step of the one path that sits between the checked inputs and the model
(docs/architecture.md); it knows keys, the cache and the order of rows, not models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from bertfeat._cache import text_key

# encode(missing_items) yields (start, vectors): rows start..start+len(vectors) of its input
Encoder = Callable[[list], Iterator[tuple[int, np.ndarray]]]


def cached_vectors(items: list, dim: int, cache, encode: Encoder) -> np.ndarray:
    """float32 ``(len(items), dim)`` in input order.

    Identical inputs in one call are encoded once. ``cache`` is a ``VectorCache`` or
    None; ``encode`` is called only when something is missing, so cached inputs need no
    model at all.
    """
    out = np.empty((len(items), dim), dtype=np.float32)
    if not items:
        return out
    first_of: dict[bytes, int] = {}
    slot = np.empty(len(items), dtype=np.int64)
    unique_items, unique_keys = [], []
    for i, item in enumerate(items):
        k = text_key(item)
        j = first_of.get(k)
        if j is None:
            j = first_of[k] = len(unique_items)
            unique_items.append(item)
            unique_keys.append(k)
        slot[i] = j
    # Without duplicates (the usual case) vectors go straight into ``out``: one copy of
    # the result in memory, not two.
    distinct = len(unique_items) == len(items)
    unique = out if distinct else np.empty((len(unique_items), dim), dtype=np.float32)
    todo = np.arange(len(unique_items))
    if cache is not None:
        found, vectors = cache.get(unique_keys)
        unique[found] = vectors
        todo = np.flatnonzero(~found)
    if len(todo):
        for start, vectors in encode([unique_items[i] for i in todo]):
            rows = todo[start : start + len(vectors)]
            unique[rows] = vectors
            if cache is not None:  # stored per chunk: a killed run keeps what it finished
                cache.put([unique_keys[i] for i in rows], vectors)
        if cache is not None:  # visible to other processes from now on
            cache.flush()
    if not distinct:
        np.take(unique, slot, axis=0, out=out)
    return out
