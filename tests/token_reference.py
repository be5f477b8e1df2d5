"""An independent reference for word-level outputs: the tokenizer's own ids and
``word_ids``, windows cut by hand, and a direct transformers forward pass per window."""

from __future__ import annotations

import numpy as np


def reference_windows(n_content: int, room: int, stride: int) -> list[int]:
    """Window starts written plainly: room-long slices stepping room - stride, the last
    one flush with the end."""
    if n_content <= room:
        return [0]
    starts, start = [], 0
    while start + room < n_content:
        starts.append(start)
        start += room - stride
    return starts + [n_content - room]


def context(first: int, start: int, room: int, n: int) -> int:
    """Sub-tokens between ``first`` and the nearest cut edge of the window at ``start``
    (-1 when outside it; a sentence's own start or end is no cut)."""
    end = min(start + room, n)
    if not start <= first < end:
        return -1
    left = first - start if start > 0 else n
    right = end - 1 - first if end < n else n
    return min(left, right)


def reference_word_outputs(model, tokenizer, words, max_length, stride, read):
    """``read(output, positions)`` for each word of one sentence, from the window of
    ``max_length`` tokens where the word's first sub-token has the most context;
    ``positions`` are the word's sub-tokens in that window (first one first)."""
    import torch

    enc = tokenizer(words, is_split_into_words=True)
    ids, word_ids = enc["input_ids"], enc.word_ids()
    cls_id, content, sep_id, content_words = ids[0], ids[1:-1], ids[-1], word_ids[1:-1]
    room = max_length - 2
    starts = reference_windows(len(content), room, stride)
    rows, outputs = [], {}
    for w in range(len(words)):
        first = content_words.index(w)
        start = max(starts, key=lambda s: (context(first, s, room, len(content)), -s))
        if start not in outputs:
            window = [cls_id, *content[start : start + room], sep_id]
            with torch.no_grad():
                outputs[start] = model(input_ids=torch.tensor([window]), token_type_ids=torch.zeros((1, len(window)), dtype=torch.long))
        positions = [1 + j - start for j, v in enumerate(content_words) if v == w and start <= j < start + room]
        rows.append(read(outputs[start], positions))
    return np.stack(rows)


FIRST_NAMES = ["ann", "bob", "carla", "dmitri", "eve"]
LAST_NAMES = ["smith", "jones", "okafor"]
PLACES = ["rome", "oslo", "paris", "reykjavík"]
TEMPLATES = [["yesterday", "{PER}", "went", "to", "{LOC}", "again"], ["we", "met", "{PER}", "in", "{LOC}"], ["{LOC}", "is", "far"]]


def toy_ner(n: int, seed: int = 0):
    """Sentences with person names (one or two words) and places, IOB2-tagged: distinct
    words per type, so that a learning model must tag the training set perfectly."""
    rng = np.random.RandomState(seed)
    X, y = [], []
    for i in range(n):
        words, tags = [], []
        for slot in TEMPLATES[i % len(TEMPLATES)]:
            if slot == "{PER}":
                name = [rng.choice(FIRST_NAMES)] + ([rng.choice(LAST_NAMES)] if rng.rand() < 0.5 else [])
                words += name
                tags += ["B-PER"] + ["I-PER"] * (len(name) - 1)
            elif slot == "{LOC}":
                words.append(rng.choice(PLACES))
                tags.append("B-LOC")
            else:
                words.append(slot)
                tags.append("O")
        X.append([str(w) for w in words])
        y.append(tags)
    return X, y
