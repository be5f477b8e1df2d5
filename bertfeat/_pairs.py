"""Features of a sentence pair from its two texts encoded separately (``pair_mode="bi"``).

A sentence encoder (all-MiniLM-L6-v2 and the like) was trained on single sentences; its
vectors compare best as ``[u, v, |u - v|, u * v]`` (InferSent / Sentence-BERT's
classification features) rather than as one vector of the joint ``[CLS] a [SEP] b [SEP]``.
Both sides go through the one lookup as single texts, so a text found in many pairs, or
encoded earlier as a single text with the same setup, is encoded once (and cached under
its single-text key).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

PARTS = ("u", "v", "absdiff", "prod")  # the blocks of a bi-encoded pair's features, in order


def bi_features(items: list[tuple[str, str]], text_vectors: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """float32 ``(len(items), 4 * dim)``: ``[u, v, |u - v|, u * v]`` per pair.

    ``text_vectors(texts)`` returns one vector per text, in order (de-duplicating itself).
    """
    n = len(items)
    vectors = text_vectors([a for a, _ in items] + [b for _, b in items])
    u, v = vectors[:n], vectors[n:]
    return np.concatenate([u, v, np.abs(u - v), u * v], axis=1).astype(np.float32, copy=False)


def bi_feature_names(prefix: str, item_suffixes: list[str]) -> np.ndarray:
    """``<prefix>_u<suffix> ..``, then ``_v``, ``_absdiff``, ``_prod``: one block per part,
    each naming the features of one encoded text by ``item_suffixes`` (``0, 1, ..`` or
    ``_t0_d0, ..`` for token features)."""
    return np.asarray([f"{prefix}_{part}{suffix}" for part in PARTS for suffix in item_suffixes], dtype=object)
