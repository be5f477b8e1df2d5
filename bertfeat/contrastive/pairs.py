"""Sentence pairs from class labels, for contrastive fine-tuning (SetFit's recipe).

Every example gets ``n_iterations`` positive partners (same class) and
``n_iterations`` negative partners (another class), so the number of pairs is
``2 * n_iterations * n_examples``: linear in the data, never the square of it. A
negative partner's class is drawn uniformly among the other classes, then an example
of it, so that a rare class is as often a negative as a frequent one.
"""

from __future__ import annotations

import numpy as np


def make_pairs(codes: np.ndarray, n_iterations: int, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of row indices and their similarity targets (1.0 same class, 0.0 not).

    Parameters
    ----------
    codes : ndarray of int, shape (n_examples,)
        Class codes ``0..n_classes-1``; at least two classes.
    n_iterations : int
        Positive and negative partners drawn per example.
    rng : numpy RandomState
        The only source of randomness: the same state gives the same pairs.

    Returns
    -------
    pairs : ndarray of int64, shape (2 * n_iterations * n_examples, 2)
    targets : ndarray of float32, shape (2 * n_iterations * n_examples,)
    """
    codes = np.asarray(codes, dtype=np.int64)
    n_classes = int(codes.max()) + 1
    if n_classes < 2:
        raise ValueError("contrastive pairs need at least 2 classes")
    members = [np.flatnonzero(codes == c) for c in range(n_classes)]
    n = len(codes)
    anchors = np.tile(np.arange(n), n_iterations)
    anchor_codes = codes[anchors]
    positives = np.empty_like(anchors)
    negatives = np.empty_like(anchors)
    # A class's examples draw their partners together (vectorised per class).
    for c in range(n_classes):
        rows = np.flatnonzero(anchor_codes == c)
        same = members[c]
        if len(same) == 1:
            positives[rows] = same[0]  # a class of one: its only positive is itself
        else:
            # Any other member: draw among len - 1 and skip over the anchor's own position.
            own = np.searchsorted(same, anchors[rows])
            pick = rng.randint(len(same) - 1, size=len(rows))
            positives[rows] = same[pick + (pick >= own)]
        other = rng.randint(n_classes - 1, size=len(rows))
        other += other >= c
        for o in range(n_classes):
            sel = rows[other == o]
            negatives[sel] = members[o][rng.randint(len(members[o]), size=len(sel))]
    pairs = np.concatenate([np.stack([anchors, positives], 1), np.stack([anchors, negatives], 1)])
    targets = np.concatenate([np.ones(len(anchors), np.float32), np.zeros(len(anchors), np.float32)])
    return pairs.astype(np.int64), targets
